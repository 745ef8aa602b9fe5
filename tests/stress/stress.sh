#!/bin/bash
# stress.sh - the bounded run of tests/stress/stress in make check: 8 threads
# for STRESS_SECONDS (default 15) seconds, through libbuddyslab.so.
# scripts/stress runs the same program for longer.
#: until the race of tests/faults/test_vm_remap_race is
# fixed (see tests/README.md).
exec "${BUDDYSLAB_BUILDDIR:-.}/tests/stress/stress" --seconds "${STRESS_SECONDS:-15}" \
	--threads 8 --quiet "$@"
