#!/bin/bash
# xfail_bad_call_names.sh - pending, in XFAIL_TESTS: kmem_cache_free and vfree
# report bad calls under the name free().
# Expected to fail until the library handles it; when it passes (XPASS),
# move the case out of XFAIL_TESTS (see tests/README.md).
exec "${BUDDYSLAB_BUILDDIR:-.}/tests/faults/test_bad_calls" kmem_cache_free-double vfree-stack
