#!/bin/bash
# python_regrtest.sh - CPython's own regression suite (python3 -m test) under
# glibc's malloc and under buddyslab, side by side, with PYTHONMALLOC=malloc
# in both runs so that every allocation of the interpreter goes to malloc
# (not pymalloc's arenas). A test that fails under buddyslab and passes under
# glibc is a failure of this script; a test that fails under both is the
# machine's (no network, a sandbox's sockets...) and is reported, not counted.
#
# Not part of make check or CI: the two runs take some 30 minutes on 2 cores.
# The last run and its result are in tests/README.md.
#
# Usage: tests/programs/python_regrtest.sh [-j N] [--timeout S] [TEST ...]
#   -j N         worker processes of each run (default 2)
#   --timeout S  regrtest's limit per test file (default 600)
#   TEST ...     test files to run (default: the whole suite)
# Environment:
#   BUDDYSLAB_LIB  library to preload (default <repo>/build/.libs/libbuddyslab.so)
#   PYTHON         interpreter (default /usr/bin/python3; its suite is Debian's
#                  libpython3.11-testsuite, installed here when missing and root)
#   REGRTEST_IGNORE  test name patterns to leave out (default '*VSOCK*': their
#                  server waits forever where the host has no vsock loopback)
#   KEEP_TMP=1     keep the two logs (the directory is printed)
#
# Prints "PASS name" for every test file that passed under buddyslab, "FAIL
# name (...)" for one that failed only there, "SKIP name (...)" for one that
# failed under both, then "N passed, N failed"; exit status 1 on any FAIL.
set -u
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
LIB=${BUDDYSLAB_LIB:-$REPO_ROOT/build/.libs/libbuddyslab.so}
PYTHON=${PYTHON:-/usr/bin/python3}
IGNORE=${REGRTEST_IGNORE-'*VSOCK*'}
JOBS=2
TIMEOUT=600
TESTS=()
while [ $# -gt 0 ]; do
	case $1 in
	-j) JOBS=$2; shift 2 ;;
	--timeout) TIMEOUT=$2; shift 2 ;;
	-h|--help) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;/^set -u/d'; exit 0 ;;
	*) TESTS+=("$1"); shift ;;
	esac
done

die() { echo "FAIL setup ($*)"; echo "0 passed, 1 failed"; exit 1; }
[ -f "$LIB" ] || die "library not found: $LIB (build it or set BUDDYSLAB_LIB)"
case $LIB in /*) ;; *) LIB=$PWD/$LIB ;; esac
if ! "$PYTHON" -c 'import test.test_grammar' 2>/dev/null; then
	ver=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) ||
		die "no interpreter at $PYTHON"
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		apt-get install -y -q "libpython$ver-testsuite" >/dev/null 2>&1 ||
			{ apt-get update -q >/dev/null 2>&1 &&
			  apt-get install -y -q "libpython$ver-testsuite" >/dev/null 2>&1; }
	fi
	"$PYTHON" -c 'import test.test_grammar' 2>/dev/null ||
		die "$PYTHON has no test suite: apt-get install libpython$ver-testsuite"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/buddyslab-regrtest.XXXXXX") || die "mktemp -d failed"
cleanup() { if [ "${KEEP_TMP:-0}" = 1 ]; then echo "# logs kept in $TMP" >&2; else rm -rf "$TMP"; fi; }
trap cleanup EXIT
# a snapshot of the library: a rebuild during the run cannot mix two versions
cp "$LIB" "$TMP/libbuddyslab.so" || die "cannot copy $LIB"

args=(-m test -j "$JOBS" --timeout "$TIMEOUT")
[ -n "$IGNORE" ] && args+=(-i "$IGNORE")
args+=("${TESTS[@]}")
# each run in a directory of its own (tests write files in the current one)
run() { # run NAME [LD_PRELOAD value]
	mkdir -p "$TMP/$1"
	(cd "$TMP/$1" && env PYTHONMALLOC=malloc ${2:+LD_PRELOAD=$2} \
		"$PYTHON" "${args[@]}" >"$TMP/$1.log" 2>&1)
	echo $? >"$TMP/$1.rc"
}
run glibc
run buddyslab "$TMP/libbuddyslab.so"

# regrtest's summary and its per-test lines ("[ 12/431] test_x passed",
# "... test_y failed (2 failures)", "... worker non-zero exit code",
# "... crashed", "timed out") give each test file's outcome
"$PYTHON" - "$TMP/glibc.log" "$TMP/buddyslab.log" "$(cat "$TMP/glibc.rc")" "$(cat "$TMP/buddyslab.rc")" <<'PY'
import re, sys
def outcomes(path):
    res = {}
    pat = re.compile(r"\] (test[\w.]*) (passed|failed|skipped|crashed|resource denied|"
                     r"worker non-zero exit code|timed out|run no tests|env changed)(.*)")
    for line in open(path, errors="replace"):
        m = pat.search(line)
        if m:
            detail = m.group(3).split(" -- running")[0].strip()
            res[m.group(1)] = (m.group(2), detail)
    return res
base, pre = outcomes(sys.argv[1]), outcomes(sys.argv[2])
passed = failed = 0
ok = {"passed", "skipped", "resource denied", "run no tests"}
for name in sorted(set(base) | set(pre)):
    b, p = base.get(name), pre.get(name)
    if p is None:
        print("FAIL %s (no outcome under buddyslab; glibc: %s)" % (name, b[0] if b else "none"))
        failed += 1
    elif p[0] in ok:
        if p[0] == "passed":
            print("PASS %s" % name)
            passed += 1
    elif b is not None and b[0] not in ok:
        print("SKIP %s (fails under glibc too: %s %s / buddyslab: %s %s)" % (name, b[0], b[1], p[0], p[1]))
    else:
        print("FAIL %s (buddyslab: %s %s; glibc: %s)" % (name, p[0], p[1], b[0] if b else "none"))
        failed += 1
if not pre:
    print("FAIL buddyslab-run (no test outcome in its log; exit status %s)" % sys.argv[4])
    failed += 1
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
PY
status=$?
if [ $status -ne 0 ]; then
	echo "# tail of the buddyslab run's log:" >&2
	tail -n 40 "$TMP/buddyslab.log" >&2
fi
exit $status
