#!/bin/bash
# test_cxx.sh - C++ programs on buddyslab's operator new and delete
# (src/malloc.c): builds tests/cxx/test_operator_new.cpp and
# test_replaced_new.cpp with $CXX (default g++) and runs each with
# LD_PRELOAD=$BUDDYSLAB_LIB, as a user would load buddyslab under a C++
# program. Each prints "N passed, N failed"; this script sums them and
# prints the same line. Exit status 1 on any failure (a missing C++
# compiler is a failure: scripts/deps installs g++).
set -u
SRC=${BUDDYSLAB_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
LIB=${BUDDYSLAB_LIB:-$SRC/build/.libs/libbuddyslab.so}
CXX=${CXX:-g++}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/buddyslab-cxx.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

passed=0
failed=0
for t in test_operator_new test_replaced_new; do
	if ! $CXX -std=c++17 -O2 -pthread -Wall -Wextra -o "$TMP/$t" "$SRC/tests/cxx/$t.cpp" -ldl \
		>"$TMP/$t.cc.log" 2>&1; then
		echo "FAIL $t: $CXX could not build it:"
		cat "$TMP/$t.cc.log"
		failed=$((failed + 1))
		continue
	fi
	LD_PRELOAD=$LIB "$TMP/$t" >"$TMP/$t.out" 2>&1
	status=$?
	cat "$TMP/$t.out"
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$TMP/$t.out" | tail -1)
	if [ -z "$line" ] || [ $status -ne 0 ]; then
		echo "FAIL $t: exit status $status"
		failed=$((failed + 1))
	fi
	if [ -n "$line" ]; then
		set -- $line
		passed=$((passed + $1))
		failed=$((failed + $3))
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
