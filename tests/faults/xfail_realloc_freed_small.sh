#!/bin/bash
# xfail_realloc_freed_small.sh - pending, in XFAIL_TESTS: realloc of a freed
# small block is not caught.
# Expected to fail until the library handles it; when it passes (XPASS),
# move the case out of XFAIL_TESTS (see tests/README.md).
exec "${BUDDYSLAB_BUILDDIR:-.}/tests/faults/test_bad_calls" realloc-freed-small
