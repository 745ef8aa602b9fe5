#!/bin/bash
# fuzz_replay.sh - the fuzz target in make check, without libFuzzer: every
# input of tests/fuzz/regressions/, then FUZZ_SECONDS (default 10) seconds
# of random inputs. scripts/fuzz runs the coverage-guided libFuzzer build.
exec "${BUDDYSLAB_BUILDDIR:-.}/tests/fuzz/fuzz_replay" --seconds "${FUZZ_SECONDS:-10}" "$@"
