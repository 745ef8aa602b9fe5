#!/bin/bash
# stress_native.sh - the bounded run of tests/stress/stress_native in make
# check: the same stress through the bs_* entry points of libbuddyslab_test
# (internal checks on), 6 threads for STRESS_SECONDS (default 10) seconds.
# scripts/check runs it under ThreadSanitizer too (build-tsan/, make
# check-threads); $STRESS_EXTRA adds arguments.
# shellcheck disable=SC2086
exec "${BUDDYSLAB_BUILDDIR:-.}/tests/stress/stress_native" --seconds "${STRESS_SECONDS:-10}" \
	--threads 6 --quiet ${STRESS_EXTRA:-} "$@"
