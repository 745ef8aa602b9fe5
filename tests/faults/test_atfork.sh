#!/bin/bash
# test_atfork.sh - fork in a program whose library registered fork handlers
# before buddyslab did, handlers that allocate and free (atfork_lib.c,
# atfork_main.c; built here with $CC): the prepare handler runs while
# buddyslab's fork_prepare holds every lock, the parent and child handlers
# before fork_parent and fork_child let go. Until 2026-11-28 each of them
# hung the fork (the thread waited for a lock it held itself). Run with
# LD_PRELOAD=$BUDDYSLAB_LIB, as a user loads buddyslab, one thread and
# two, each handler alone, under a timeout.
# Prints "N passed, N failed".
set -u
SRC=${BUDDYSLAB_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
LIB=${BUDDYSLAB_LIB:-$SRC/build/.libs/libbuddyslab.so}
CC=${CC:-gcc}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/buddyslab-atfork.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1${2:+ ($2)}"; failed=$((failed + 1)); }

if ! $CC -O1 -g -shared -fPIC -o "$TMP/libatfork.so" "$SRC/tests/faults/atfork_lib.c" -pthread ||
	! $CC -O1 -g -o "$TMP/atfork_main" "$SRC/tests/faults/atfork_main.c" \
		-L"$TMP" -Wl,--no-as-needed -latfork -Wl,-rpath,"$TMP" -pthread; then
	fail build "$CC could not build atfork_lib.c and atfork_main.c"
	echo "$passed passed, $failed failed"
	exit 1
fi

for handlers in prepare parent child prepare,parent,child; do
	for mode in one threads; do
		name="${handlers//,/-}-allocating-$mode"
		want="forks 20 prepare $([[ $handlers == *prepare* ]] && echo 20 || echo 0)"
		want="$want parent $([[ $handlers == *parent* ]] && echo 20 || echo 0)"
		out=$(ATFORK_HANDLERS=$handlers LD_PRELOAD=$LIB timeout -k 5 30 "$TMP/atfork_main" $mode 2>&1)
		status=$?
		if [ $status -eq 124 ] || [ $status -eq 137 ]; then
			fail "$name" "hung: killed after 30 s"
		elif [ $status -ne 0 ]; then
			fail "$name" "exit status $status: $(echo "$out" | tail -n 2 | tr '\n' ' ')"
		elif [ "$out" != "$want" ]; then
			fail "$name" "printed '$out', not '$want'"
		else
			pass "$name"
		fi
	done
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
