#!/bin/bash
# test_pagemap_tree.sh - the pagemap's fallback, the radix tree, serves a
# whole process: the API tests (every route, bad pointers, double frees,
# threads, fork) pass with BUDDYSLAB_OPTIONS=pagemap_tree=1, and the report
# says the tree was used; under ulimit -v it is used unasked; otherwise the
# flat table is.
# Prints "N passed, N failed".
set -u
build=${BUDDYSLAB_BUILDDIR:-.}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1${2:+ ($2)}"; failed=$((failed + 1)); }

for t in test_api test_bad_input test_threads test_fork; do
	report=$tmp/$t.report
	if BUDDYSLAB_OPTIONS="pagemap_tree=1,stats=1,stats_file=$report" \
		"$build/tests/api/$t" >"$tmp/$t.out" 2>&1; then
		pass "$t with the tree"
	else
		fail "$t with the tree" "$(tail -n 3 "$tmp/$t.out" | tr '\n' ' ')"
	fi
	if grep -q "^  pagemap        tree (pagemap_tree=1)" "$report" 2>/dev/null &&
		! grep "^  pagemap  " "$report" | grep -vq "tree (pagemap_tree=1)"; then
		pass "$t reports the tree"
	else
		fail "$t reports the tree" "$(grep -m1 '^  pagemap  ' "$report" 2>/dev/null)"
	fi
done

# under ulimit -v, the table's reservation would count against the limit:
# the tree, without being asked
report=$tmp/ulimit.report
if (ulimit -v 16777216 && BUDDYSLAB_OPTIONS="stats=1,stats_file=$report" \
	"$build/tests/api/test_api" >"$tmp/ulimit.out" 2>&1); then
	pass "test_api under ulimit -v"
else
	fail "test_api under ulimit -v" "$(tail -n 3 "$tmp/ulimit.out" | tr '\n' ' ')"
fi
if grep -q "^  pagemap        tree (ulimit -v)" "$report" 2>/dev/null; then
	pass "ulimit -v gives the tree"
else
	fail "ulimit -v gives the tree" "$(grep -m1 '^  pagemap  ' "$report" 2>/dev/null)"
fi

report=$tmp/default.report
BUDDYSLAB_OPTIONS="stats=1,stats_file=$report" "$build/tests/api/test_api" >/dev/null 2>&1
if grep -q "^  pagemap        table" "$report" 2>/dev/null; then
	pass "the flat table by default"
else
	fail "the flat table by default" "$(grep -m1 '^  pagemap  ' "$report" 2>/dev/null)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
