#!/bin/bash
# test_bench.sh - scripts/bench, end to end, at a tiny size: the workloads
# and the real programs run under glibc and buddyslab, the tables, CSV and
# environment record are written, a run that fails (here: times out) shows
# as FAIL with exit status 1, git repacks a copy of its input, and a program
# whose checksum differs from glibc's (or the majority's) is counted as
# failed.
#
# Needs python3; the programs part runs only the programs installed here
# (scripts/bench skips the others and says so). No package is installed
# (--no-install). Everything goes to a temporary directory (--work, --out).
#
# Environment: BUDDYSLAB_LIB (the library, default build/.libs/), BUDDYSLAB_SRCDIR.
# Output: a line per check, then "N passed, N failed"; exit 1 if any failed.
set -u
SRC=${BUDDYSLAB_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
LIB=${BUDDYSLAB_LIB:-$SRC/build/.libs/libbuddyslab.so}
BENCH=$SRC/scripts/bench
PASSED=0
FAILED=0
check() { # check NAME CONDITION-STATUS [DETAIL]
	if [ "$2" = 0 ]; then
		echo "PASS $1"; PASSED=$((PASSED + 1))
	else
		echo "FAIL $1${3:+ ($3)}"; FAILED=$((FAILED + 1))
	fi
}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/buddyslab-bench.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
unset LD_PRELOAD BUDDYSLAB_OPTIONS
COMMON=(--no-install --reps 1 --allocators glibc,buddyslab --lib "$LIB" --work "$TMP/work")

python3 "$BENCH" --list > "$TMP/list" 2>&1
grep -q '^workloads: .*server' "$TMP/list" && grep -q '^programs (--programs): python perl sqlite' "$TMP/list"
check list $?

# two workloads at 2 % of their size
python3 "$BENCH" "${COMMON[@]}" --scale 0.02 --only symbolic,threadchurn --out "$TMP/w" \
	> "$TMP/w.log" 2>&1
check workloads-exit $? "$(tail -3 "$TMP/w.log")"
for f in results.csv table.txt table.md env.txt; do
	[ -s "$TMP/w/$f" ]
	check "workloads-wrote-$f" $?
done
n=$(grep -c '^run,\(symbolic\|threadchurn\),\(glibc\|buddyslab\),1,.,ok,' "$TMP/w/results.csv")
[ "$n" = 4 ]
check workloads-four-runs-ok $? "$n of 4"
grep -q '^geomean buddyslab  *2/2' "$TMP/w/table.txt"
check workloads-geomean-row $?
grep -q "^buddyslab: .*libbuddyslab.so built .*sha256" "$TMP/w/env.txt"
check workloads-env-names-library $?

# a run with neither glibc nor jemalloc takes its ratios to its first allocator
python3 "$BENCH" --no-install --reps 1 --allocators buddyslab --lib "$LIB" --work "$TMP/work" \
	--scale 0.02 --only symbolic --out "$TMP/b" > "$TMP/b.log" 2>&1
grep -q '^workload .* wall/buddyslab  *CPU/buddyslab  *RSS/buddyslab$' "$TMP/b/table.txt" &&
	grep -q '^geomean buddyslab  *1/1  *1\.00  *1\.00  *1\.00$' "$TMP/b/table.txt"
check ratios-without-glibc-or-jemalloc $? "$(grep -m1 '^geomean' "$TMP/b/table.txt")"

# a run that times out is a failure: FAIL in the table, exit status 1
python3 "$BENCH" "${COMMON[@]}" --scale 0.02 --only symbolic --timeout 0.001 --out "$TMP/t" \
	> "$TMP/t.log" 2>&1
[ $? = 1 ] && grep -q '^symbolic  *buddyslab  *FAIL 1/1' "$TMP/t/table.txt" &&
	ls "$TMP/t"/fail-symbolic-buddyslab-1.log > /dev/null
check timeout-is-failure $? "$(tail -3 "$TMP/t.log")"

# real programs: the quick ones, at a small size, the same checksum under both
python3 "$BENCH" "${COMMON[@]}" --programs --scale 0.05 --only python,perl,sqlite,gcc,git,jq \
	--out "$TMP/p" > "$TMP/p.log" 2>&1
check programs-exit $? "$(tail -3 "$TMP/p.log")"
ran=$(grep -c '^run,[a-z]*,\(glibc\|buddyslab\),1,.,ok,' "$TMP/p/results.csv")
skipped=$(grep -c '^skipped program' "$TMP/p/table.txt")
[ $((ran + 2 * skipped)) = 12 ] && [ "$ran" -ge 2 ]
check programs-ran-or-skipped $? "$ran runs ok, $skipped programs skipped"
# git repacks a copy of its input, made before each run; the input stays
# the pinned history (and git never reaches the checkout's own repository)
if grep -q '^run,git,' "$TMP/p/results.csv"; then
	input=$TMP/work/programs/git-input.git
	pinned=$(sed -n 's/^GIT_INPUT_COMMIT = "\(.*\)"/\1/p' "$BENCH")
	[ "$(git --git-dir="$input" rev-parse -q --verify refs/heads/main)" = "$pinned" ] &&
		[ -d "$TMP/work/programs/git-work.git" ] &&
		git --git-dir="$input" fsck --no-progress > /dev/null 2>&1
	check programs-git-input-kept $?
fi
for prog in python perl sqlite jq; do
	sums=$(grep "^run,$prog," "$TMP/p/results.csv" | grep -o 'checksum=[0-9.e+-]*' | sort -u | wc -l)
	if grep -q "^run,$prog," "$TMP/p/results.csv"; then
		[ "$sums" = 1 ]
		check "programs-$prog-same-checksum" $? "$sums different checksums"
	fi
done

# check_checksums: a run whose checksum is not the usual one fails
python3 - "$BENCH" > "$TMP/c.log" 2>&1 <<'PY'
import importlib.machinery, importlib.util, sys
sys.dont_write_bytecode = True  # nothing written next to scripts/bench
loader = importlib.machinery.SourceFileLoader("bench", sys.argv[1])
spec = importlib.util.spec_from_loader("bench", loader)
bench = importlib.util.module_from_spec(spec)
loader.exec_module(bench)
def failed(*runs):
    runs = [{"workload": "perl", "allocator": a, "status": "ok", "error": "",
             "figures": {} if c is None else {"checksum": c}} for a, c in runs]
    returned = [r["allocator"] for r in bench.check_checksums(runs)]
    bad = [r["allocator"] for r in runs if r["status"] != "ok"]
    assert returned == bad, (returned, bad)  # the runs it failed, for their logs
    return bad, runs

bad, runs = failed(("glibc", 7.0), ("jemalloc", 7.0), ("buddyslab", 8.0), ("tcmalloc", 7.0))
assert bad == ["buddyslab"], bad
assert "checksum 8, glibc printed 7" in runs[2]["error"], runs[2]["error"]
# glibc is the reference even when it ran second and there is no majority
bad, runs = failed(("buddyslab", 8.0), ("glibc", 7.0))
assert bad == ["buddyslab"], bad
# without glibc and without a majority, every run that disagrees fails
bad, runs = failed(("jemalloc", 7.0), ("buddyslab", 8.0))
assert bad == ["jemalloc", "buddyslab"], bad
# without glibc, the majority
bad, runs = failed(("jemalloc", 7.0), ("buddyslab", 8.0), ("tcmalloc", 7.0))
assert bad == ["buddyslab"], bad
# a run that printed no checksum fails; big checksums are compared whole
bad, runs = failed(("glibc", 2466906103903541.0), ("buddyslab", None),
                   ("jemalloc", 2466906103903541.0), ("mimalloc", 2466906103903542.0))
assert bad == ["buddyslab", "mimalloc"], bad
assert "2466906103903542, glibc printed 2466906103903541" in runs[3]["error"], runs[3]["error"]
print("ok")
PY
check checksum-mismatch-is-failure $? "$(tail -2 "$TMP/c.log")"

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
