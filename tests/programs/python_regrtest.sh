#!/bin/bash
# python_regrtest.sh - CPython's own regression suite (python3 -m test) under
# glibc's malloc and under buddyslab, side by side, with PYTHONMALLOC=malloc
# in both runs so that every allocation of the interpreter goes to malloc
# (not pymalloc's arenas). A test whose outcome is worse under buddyslab is a
# failure of this script (the rules below); a test that fails the same way
# under both is the machine's (no network, a sandbox's sockets...) and is
# reported, not counted.
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
# name (...)" for one whose outcome under buddyslab is worse than under
# glibc (failed, skipped or ran no tests where glibc passed; crashed, timed
# out or more failures where glibc failed too; no outcome at all), "SKIP
# name (...)" for one that failed under both the same way, then "N passed,
# N failed"; exit status 1 on any FAIL. The library must be seen in a
# preloaded process (its mapping and buddyslab_owns()), both runs must reach
# regrtest's summary, and at least one test file must pass.
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
unset LD_PRELOAD
if ! "$PYTHON" -c 'import test.test_grammar' 2>/dev/null; then
	ver=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) ||
		die "no interpreter at $PYTHON"
	# Debian's package is the suite of Debian's interpreter only
	case $(readlink -f "$PYTHON") in
	/usr/bin/python3*)
		if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
			apt-get install -y -q "libpython$ver-testsuite" >/dev/null 2>&1 ||
				{ apt-get update -q >/dev/null 2>&1 &&
				  apt-get install -y -q "libpython$ver-testsuite" >/dev/null 2>&1; }
		fi
		"$PYTHON" -c 'import test.test_grammar' 2>/dev/null ||
			die "$PYTHON has no test suite: apt-get install libpython$ver-testsuite" ;;
	*) die "$PYTHON has no test suite (its module test.test_grammar)" ;;
	esac
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/buddyslab-regrtest.XXXXXX") || die "mktemp -d failed"
cleanup() { if [ "${KEEP_TMP:-0}" = 1 ]; then echo "# logs kept in $TMP" >&2; else rm -rf "$TMP"; fi; }
trap cleanup EXIT
# a snapshot of the library: a rebuild during the run cannot mix two versions
cp "$LIB" "$TMP/libbuddyslab.so" || die "cannot copy $LIB"
SNAP=$TMP/libbuddyslab.so
# readable by every user: test_subprocess runs children as another user,
# which ld.so could not preload from mktemp's private directory
chmod 755 "$TMP" && chmod 644 "$SNAP" || die "cannot open $TMP to other users"

# the snapshot must be loaded, and its malloc be the one the interpreter
# finds: a library that ld.so refuses ("cannot be preloaded ... ignored")
# would leave both runs on glibc's
probe=$(cd "$TMP" && env PYTHONMALLOC=malloc LD_PRELOAD="$SNAP" \
	"$PYTHON" "$SCRIPT_DIR/owns_probe.py" "$(readlink -f "$SNAP")" 2>&1)
[ "$probe" = "mapped owns 1 1" ] ||
	die "the library is not preloaded: expected 'mapped owns 1 1', got: $(printf %s "$probe" | tail -n 3 | tr '\n' ' ' | head -c 400)"

args=(-m test -j "$JOBS" --timeout "$TIMEOUT")
[ -n "$IGNORE" ] && args+=(-i "$IGNORE")
args+=("${TESTS[@]}")
# each run in a directory of its own (tests write files in the current one)
run() { # run NAME [LD_PRELOAD value]
	mkdir -p "$TMP/$1"
	if [ -n "${2:-}" ]; then
		(cd "$TMP/$1" && env PYTHONMALLOC=malloc LD_PRELOAD="$2" \
			"$PYTHON" "${args[@]}" >"$TMP/$1.log" 2>&1)
	else
		(cd "$TMP/$1" && env -u BUDDYSLAB_OPTIONS PYTHONMALLOC=malloc \
			"$PYTHON" "${args[@]}" >"$TMP/$1.log" 2>&1)
	fi
	echo $? >"$TMP/$1.rc"
}
run glibc
run buddyslab "$SNAP"

# regrtest's progress lines give each test file's outcome: "0:01:41 load
# avg: 1.42 [ 93/462/1] test_x failed (1 failure) -- running: ...", with
# "passed", "skipped (resource denied)", "ran no tests", "crashed (Exit
# code -6)", "worker non-zero exit code (Exit code 1)", "timed out",
# "failed (env changed)"... Only lines with the progress prefix count (a
# failing test's output may hold inner regrtest runs' lines), and the first
# outcome of a name (a re-run with -w comes later). regrtest exits 0 (all
# passed) or 2 (some failed) after its "Tests result:" line.
"$PYTHON" - "$TMP/glibc.log" "$TMP/buddyslab.log" "$(cat "$TMP/glibc.rc")" "$(cat "$TMP/buddyslab.rc")" <<'PY'
import re, sys
PROGRESS = re.compile(r"^\d+:\d\d:\d\d (?:load avg: \S+ )?\[ *\d+/(\d+)(?:/\d+)?\] (test\S*) (.*)$")
DURATION = re.compile(r" \((?:\d+ min )?\d+(?:\.\d+)? (?:sec|ms)\)|\(\d+ min\)")
def outcomes(path):
    res, total, complete, refused = {}, None, False, False
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        if line.startswith("Tests result:") or line.startswith("== Tests result:"):
            complete = True
        if "cannot be preloaded" in line:
            refused = True
        m = PROGRESS.match(line)
        if not m:
            continue
        total = int(m.group(1))
        rest = DURATION.sub("", m.group(3).split(" -- running")[0]).strip()
        word = re.match(r"(passed|skipped|ran no tests|failed|crashed|timed out|interrupted|"
                        r"worker non-zero exit code|worker bug|\S+)", rest).group(1)
        res.setdefault(m.group(2), (word, rest))
    return res, total, complete, refused
(base, btotal, bdone, _), (pre, ptotal, pdone, refused) = outcomes(sys.argv[1]), outcomes(sys.argv[2])
passed = failed = 0
def fail(msg):
    global failed
    print("FAIL " + msg)
    failed += 1
for name in sorted(set(base) | set(pre)):
    b, p = base.get(name), pre.get(name)
    if p is None:
        fail("%s (no outcome under buddyslab; glibc: %s)" % (name, b[1] if b else "none"))
    elif p[0] == "passed":
        print("PASS %s" % name)
        passed += 1
    elif b is not None and p[0] in ("skipped", "ran no tests") and p[1] == b[1]:
        pass  # not run under either (resources, platforms): nothing to compare
    elif b is None:
        fail("%s (buddyslab: %s; no outcome under glibc)" % (name, p[1]))
    elif b[0] == "passed":
        fail("%s (buddyslab: %s; glibc: passed)" % (name, p[1]))
    elif p[1] == b[1]:
        print("SKIP %s (the same under glibc: %s)" % (name, p[1]))
    else:
        fail("%s (buddyslab: %s; glibc: %s)" % (name, p[1], b[1]))
for label, done, rc, total, res in (("glibc", bdone, sys.argv[3], btotal, base),
                                    ("buddyslab", pdone, sys.argv[4], ptotal, pre)):
    if not done or rc not in ("0", "2"):
        fail("%s-run (it did not end with regrtest's summary: exit status %s)" % (label, rc))
    elif total is not None and len(res) != total:
        fail("%s-run (%d outcomes for %d test files)" % (label, len(res), total))
if refused:
    fail("buddyslab-run (ld.so refused to preload the library)")
if passed == 0:
    fail("no-test-passed (a selection that tests nothing proves nothing)")
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
PY
status=$?
if [ $status -ne 0 ]; then
	echo "# tail of the buddyslab run's log:" >&2
	tail -n 40 "$TMP/buddyslab.log" >&2
fi
exit $status
