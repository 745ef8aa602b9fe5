#!/bin/bash
# run_programs.sh - run real programs with and without LD_PRELOAD=libbuddyslab.so
# and check that they behave the same (stdout and exit status of every step).
#
# Environment:
#   BUDDYSLAB_LIB    library to preload (default: first existing of
#                    <repo>/build/.libs/libbuddyslab.so, <repo>/.libs/libbuddyslab.so)
#   SKIP_OWNS_PROBE  =1: skip the buddyslab_owns() probe (to run the script
#                    against another malloc, e.g. libjemalloc.so.2)
#   KEEP_TMP         =1: keep the work directory (its path is printed)
#   PROGRAMS_VERBOSE =1: print per-case timings to stderr
#   PROGRAMS_TIME_BUDGET  seconds the whole script may take (default 270, under
#                    make check's TEST_TIMEOUT of 300): each run gets at most
#                    what is left; a case that cannot start in time fails
#
# Output: one "PASS name", "FAIL name (reason)" or "SKIP name (why)" line per
# case, then "N passed, N failed". Exit status 1 if any case failed.
# On a failure, the diff and the tail of the preloaded run's stderr are
# written to stderr.
set -u

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)

if [ -z "${BUDDYSLAB_LIB:-}" ]; then
	for c in "$REPO_ROOT/build/.libs/libbuddyslab.so" "$REPO_ROOT/.libs/libbuddyslab.so"; do
		if [ -e "$c" ]; then BUDDYSLAB_LIB=$c; break; fi
	done
fi
LIB=${BUDDYSLAB_LIB:-$REPO_ROOT/build/.libs/libbuddyslab.so}
case $LIB in /*) ;; *) LIB=$PWD/$LIB ;; esac

# Library diagnostics on stderr of a preloaded run make the case fail (the
# library must be silent by default). Only when BUDDYSLAB_OPTIONS is unset.
case $(basename "$LIB") in
*jemalloc*) DIAG_RE='<jemalloc>' ;;
*) DIAG_RE='buddyslab' ;;
esac

PASSED=0
FAILED=0
export LC_ALL=C
unset LD_PRELOAD

TMP=$(mktemp -d "${TMPDIR:-/tmp}/buddyslab-programs.XXXXXX") || { echo "FAIL setup (mktemp -d failed)"; echo "0 passed, 1 failed"; exit 1; }
cleanup() {
	if [ "${KEEP_TMP:-0}" = 1 ]; then
		echo "# work directory kept: $TMP" >&2
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# the user's home, for finding a rustup toolchain (case_rust)
REAL_HOME=${HOME:-/root}
mkdir -p "$TMP/home"
export HOME=$TMP/home TMPDIR=$TMP
export GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME='Buddy Slab' GIT_AUTHOR_EMAIL='buddy@example.org'
export GIT_COMMITTER_NAME='Buddy Slab' GIT_COMMITTER_EMAIL='buddy@example.org'
export GIT_AUTHOR_DATE='2020-01-01T00:00:00Z' GIT_COMMITTER_DATE='2020-01-01T00:00:00Z'
export TZ=UTC

note() { if [ "${PROGRAMS_VERBOSE:-0}" = 1 ]; then echo "# $*" >&2; fi; }
pass() { echo "PASS $1"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL $1 ($2)"; FAILED=$((FAILED + 1)); }
skip() { echo "SKIP $1 ($2)"; }
finish() {
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
	exit $?
}

# describe an exit status: "139 (SIGSEGV)"
rcdesc() {
	local rc=$1
	if [ "$rc" = 124 ]; then
		echo "124 (timed out)"
	elif [ "$rc" -gt 128 ] 2>/dev/null && [ "$rc" -lt 160 ]; then
		echo "$rc (SIG$(kill -l $((rc - 128)) 2>/dev/null || echo ?))"
	else
		echo "$rc"
	fi
}

# ---------------------------------------------------------------------------
# Check that the library really gets preloaded.

probe_fail() {
	fail preload "$1"
	finish
}

if [ ! -f "$LIB" ]; then
	probe_fail "library not found: $LIB (build it or set BUDDYSLAB_LIB)"
fi
# Preload a snapshot, so that a rebuild of the library while the script runs
# cannot mix two versions in one run.
mkdir -p "$TMP/lib" && cp "$LIB" "$TMP/lib/$(basename "$LIB")" || probe_fail "cannot copy $LIB"
LIB_ORIG=$LIB
LIB=$TMP/lib/$(basename "$LIB")
REAL_LIB=$(readlink -f "$LIB")
if ! LD_PRELOAD=$LIB cat /proc/self/maps >"$TMP/maps" 2>"$TMP/maps.err"; then
	probe_fail "LD_PRELOAD=$LIB cat /proc/self/maps failed: $(head -c 300 "$TMP/maps.err")"
fi
if ! grep -qF "$REAL_LIB" "$TMP/maps"; then
	probe_fail "$REAL_LIB not mapped into a preloaded process: $(head -c 300 "$TMP/maps.err")"
fi
if [ "${SKIP_OWNS_PROBE:-0}" != 1 ]; then
	if [ -x /usr/bin/python3 ]; then
		# malloc() found through the global scope must be the library's, and
		# buddyslab_owns() must recognise the blocks it returned.
		out=$(LD_PRELOAD=$LIB /usr/bin/python3 "$SCRIPT_DIR/owns_probe.py" "$REAL_LIB" 2>&1)
		if [ "$out" != "mapped owns 1 1" ]; then
			probe_fail "buddyslab_owns probe: expected 'mapped owns 1 1', got: $(printf %s "$out" | tail -n 3 | tr '\n' ' ' | head -c 400)"
		fi
	else
		note "no /usr/bin/python3: buddyslab_owns probe skipped"
	fi
fi
note "library: $LIB_ORIG (snapshot $LIB)"

# ---------------------------------------------------------------------------
# Case runner.
#
# A case is a shell function run twice by bash under timeout(1), in its own
# directory: $TMP/<name>/base without the preload, $TMP/<name>/pre with
# LD_PRELOAD=$LIB exported (so every program of the case inherits it). Each
# step of a case prints its output (or a digest of it) and a marker line
# "@rc <label> <status...>" to stdout; the two stdouts must be identical, and
# the baseline must have all-zero statuses.

export LIB TMP

# rc LABEL: print the statuses of the last pipeline (call right after it).
# Usage: cmd | md5sum; rc label "${PIPESTATUS[@]}"
rc() {
	local label=$1
	shift
	echo "@rc $label $*"
}
export -f rc

# run one side of a case; $1=name $2=function $3=base|pre $4=timeout
run_side() {
	local name=$1 fn=$2 mode=$3 limit dir=$TMP/$1 status t0
	limit=$(cap "$4")
	mkdir -p "$dir/$mode"
	t0=$SECONDS
	if [ "$mode" = pre ]; then
		timeout -k 10 "$limit" env LD_PRELOAD="$LIB" bash -c 'set -u; cd "$1" && '"$fn" _ "$dir/$mode" \
			>"$dir/$mode.out" 2>"$dir/$mode.err" </dev/null
	else
		timeout -k 10 "$limit" bash -c 'set -u; cd "$1" && '"$fn" _ "$dir/$mode" \
			>"$dir/$mode.out" 2>"$dir/$mode.err" </dev/null
	fi
	status=$?
	echo "$status" >"$dir/$mode.rc"
	note "$name $mode: $((SECONDS - t0))s, exit $status"
}

# show details of a failure on stderr
details() {
	local dir=$1
	{
		echo "---- $(basename "$dir"): diff of stdout (without preload vs with)"
		diff "$dir/base.out" "$dir/pre.out" | head -n 30
		echo "---- $(basename "$dir"): tail of stderr with preload"
		tail -n 15 "$dir/pre.err"
		echo "----"
	} >&2
}

# first @rc line whose statuses are not all 0
first_bad_rc() {
	awk '$1 == "@rc" { for (i = 3; i <= NF; i++) if ($i != 0) { print; exit } }' "$1"
}

diag_lines() {
	[ -z "${BUDDYSLAB_OPTIONS:-}" ] || return 1
	grep -m 3 -e "$DIAG_RE" "$1"
}

# compare the two sides of case $1
judge() {
	local name=$1 dir=$TMP/$1 rb rp bad d
	rb=$(cat "$dir/base.rc")
	rp=$(cat "$dir/pre.rc")
	if [ "$rb" != 0 ] || [ -n "$(first_bad_rc "$dir/base.out")" ]; then
		bad=$(first_bad_rc "$dir/base.out")
		fail "$name" "run without preload failed: exit $(rcdesc "$rb") ${bad:+, $bad}; $(tail -n 2 "$dir/base.err" | tr '\n' ' ' | head -c 200)"
		details "$dir"
		return
	fi
	if [ "$rp" != 0 ]; then
		bad=$(first_bad_rc "$dir/pre.out")
		fail "$name" "exit status with preload $(rcdesc "$rp")${bad:+, first failing step: $bad}; stderr: $(head -n 2 "$dir/pre.err" | tr '\n' ' ' | head -c 300)"
		details "$dir"
		return
	fi
	if ! cmp -s "$dir/base.out" "$dir/pre.out"; then
		bad=$(first_bad_rc "$dir/pre.out")
		if [ -n "$bad" ]; then
			set -- $bad
			shift 2
			local s descs=""
			for s in "$@"; do descs="$descs $(rcdesc "$s")"; done
			fail "$name" "step '$(echo "$bad" | awk '{print $2}')' failed with preload: status$descs; stderr: $(head -n 2 "$dir/pre.err" | tr '\n' ' ' | head -c 300)"
		else
			d=$(diff "$dir/base.out" "$dir/pre.out" | grep '^[<>]' | head -n 4 | tr '\n' ' ' | head -c 300)
			fail "$name" "stdout differs: $d"
		fi
		details "$dir"
		return
	fi
	if d=$(diag_lines "$dir/pre.err"); then
		fail "$name" "library diagnostics on stderr: $(echo "$d" | tr '\n' ' ' | head -c 300)"
		details "$dir"
		return
	fi
	pass "$name"
}

# run_case name function timeout [setup-function]
run_case() {
	local name=$1 fn=$2 limit=$3 setup=${4:-} t0=$SECONDS
	out_of_time "$name" && return
	mkdir -p "$TMP/$name"
	if [ -n "$setup" ]; then
		if ! (cd "$TMP/$name" && "$setup") >"$TMP/$name/setup.log" 2>&1; then
			fail "$name" "setup failed without preload: $(tail -n 3 "$TMP/$name/setup.log" | tr '\n' ' ' | head -c 300)"
			return
		fi
	fi
	run_side "$name" "$fn" base "$limit"
	run_side "$name" "$fn" pre "$limit"
	judge "$name"
	note "$name: $((SECONDS - t0))s total"
}

have() { command -v "$1" >/dev/null 2>&1; }
export -f have

# seconds left of the time budget
DEADLINE=$((SECONDS + ${PROGRAMS_TIME_BUDGET:-270}))
# cap LIMIT: the time a run may take: LIMIT or what is left if less (>= 5)
cap() {
	local left=$((DEADLINE - SECONDS))
	if [ "$left" -lt 5 ]; then left=5; fi # (timeout 0 would mean no limit)
	if [ "$left" -lt "$1" ]; then echo "$left"; else echo "$1"; fi
}
# keep_for_python NAME: skip the optional case NAME (java, rust, tools,
# postgres: they run after the six core cases) if less than PY_RESERVE
# seconds are left: on a machine so loaded that the core cases took most of
# the budget, CPython's suite keeps the time it needs for PY_MIN_MODULES
PY_RESERVE=150
keep_for_python() {
	if [ $((DEADLINE - SECONDS)) -lt "$PY_RESERVE" ]; then
		skip "$1" "$((DEADLINE - SECONDS)) s of the time budget left, kept for CPython's suite"
		return 0
	fi
	return 1
}
# out_of_time NAME: fail NAME if less than 10 s are left
out_of_time() {
	if [ $((DEADLINE - SECONDS)) -lt 10 ]; then
		fail "$1" "time budget of ${PROGRAMS_TIME_BUDGET:-270}s exhausted before the case could run"
		return 0
	fi
	return 1
}

# ---------------------------------------------------------------------------
# 1. CPython's own test suite, in one process, with PYTHONMALLOC=malloc so
#    that every object allocation goes through malloc (not pymalloc).
#    Run with the preload first; the run without preload is only needed to
#    compare per-test results when the preloaded run does not succeed.

# On a machine too slow for all of them in the time budget, at least
# PY_MIN_MODULES must finish, and pass, for the case to pass.
PY_MIN_MODULES=12
PY_TESTS="test_dict test_list test_set test_json test_re test_string test_unicode
test_bytes test_collections test_itertools test_functools test_sort test_heapq
test_bisect test_struct test_math test_decimal test_fractions test_threading
test_queue test_pickle test_copy test_enum test_dataclasses test_textwrap
test_difflib test_csv test_base64 test_hashlib test_zlib test_sqlite3
test_gc test_weakref test_array test_tuple test_memoryview test_long
test_ordered_dict test_deque test_thread test_threading_local test_threadsignals"

py_summary() {
	# the result block after "== Tests result", without timings
	sed -n '/^== Tests result/,$p' "$1" | grep -v -i -e 'duration' -e 'load avg'
}

case_python() {
	local name=python-testsuite dir=$TMP/python-testsuite t0=$SECONDS mods=() m rb rp last why
	if [ ! -x /usr/bin/python3 ]; then
		skip $name "/usr/bin/python3 not installed"
		return
	fi
	if ! /usr/bin/python3 -c 'import test.test_dict, test.libregrtest' >/dev/null 2>&1; then
		skip $name "python3 test package not installed (libpython3.11-testsuite)"
		return
	fi
	# Keep the modules this Python has (Debian's testsuite package has no
	# test_sqlite3, for instance): one interpreter looks them all up.
	read -r -a mods < <(/usr/bin/python3 -c '
import importlib.util as u, sys
print(" ".join(m for m in sys.argv[1:] if u.find_spec("test." + m) is not None))' $PY_TESTS 2>/dev/null)
	for m in $PY_TESTS; do
		[[ " ${mods[*]} " == *" $m "* ]] || note "$name: test.$m not available, left out"
	done
	out_of_time $name && return
	mkdir -p "$dir/pre" "$dir/base"
	# the last case: what is left of the budget, at most 150 s (a slow
	# machine's run that ends early is judged on the modules it finished)
	local limit=$((DEADLINE - SECONDS))
	if [ "$limit" -gt 150 ]; then limit=150; fi
	if [ "$limit" -lt 30 ]; then limit=30; fi
	(cd "$dir/pre" && PYTHONMALLOC=malloc PYTHONUNBUFFERED=1 timeout -k 10 "$limit" env LD_PRELOAD="$LIB" \
		/usr/bin/python3 -m test -w "${mods[@]}") >"$dir/pre.out" 2>&1 </dev/null
	rp=$?
	note "$name pre: $((SECONDS - t0))s, exit $rp, ${#mods[@]} modules"
	if [ "$rp" = 124 ] || [ "$rp" = 137 ]; then
		# out of time (a slow machine): judge the modules that finished
		# (all but the one that was running); no run without the preload
		local started done failed
		started=$(grep -c '^[0-9:]* .*\[ *[0-9]*/[0-9]*[^]]*\] test_' "$dir/pre.out")
		done=$((started > 0 ? started - 1 : 0))
		failed=$(grep -E -c '^(test_[a-z0-9_]+ failed|(FAIL|ERROR): )' "$dir/pre.out")
		if [ "$done" -ge "$PY_MIN_MODULES" ] && [ "$failed" = 0 ]; then
			echo "# $name: out of time after ${limit}s, $done of ${#mods[@]} modules done, all passed" >&2
			pass $name
		else
			fail $name "out of time after ${limit}s with $done of ${#mods[@]} modules done (at least $PY_MIN_MODULES wanted), $failed failures"
			tail -n 30 "$dir/pre.out" >&2
		fi
		return
	fi
	# -w runs a failed module again, alone: CPython's tests of timing
	# (test_threadsignals asserts a wait under 3 s) can fail on a loaded
	# machine with any malloc; what fails twice fails the case
	if [ "$rp" = 0 ] && grep -q -E '^Tests result: (FAILURE then )?SUCCESS' "$dir/pre.out"; then
		if d=$(diag_lines "$dir/pre.out"); then
			fail $name "library diagnostics on stderr: $(echo "$d" | tr '\n' ' ' | head -c 300)"
			return
		fi
		if grep -q '^Tests result: FAILURE then SUCCESS' "$dir/pre.out"; then
			echo "# $name: passed when re-run: $(sed -n '/re-run tests\?:$/,/^$/p' "$dir/pre.out" | tail -n +2 | tr -s ' \n' ' ')" >&2
		fi
		pass $name
		return
	fi
	(cd "$dir/base" && PYTHONMALLOC=malloc PYTHONUNBUFFERED=1 timeout -k 10 "$(cap 150)" \
		/usr/bin/python3 -m test "${mods[@]}") >"$dir/base.out" 2>&1 </dev/null
	rb=$?
	note "$name base: exit $rb"
	if [ "$rp" = "$rb" ] && [ "$(py_summary "$dir/pre.out")" = "$(py_summary "$dir/base.out")" ]; then
		pass $name
		return
	fi
	last=$(grep -o '\[ *[0-9]*/[0-9]*[^]]*\] test_[a-z0-9_]*' "$dir/pre.out" | tail -n 1 | sed 's/.* //')
	if grep -q '^Tests result' "$dir/pre.out"; then
		why="results with preload: $(py_summary "$dir/pre.out" | grep -v '^$' | tr '\n' ' ' | head -c 300)"
	else
		why="no result; first error lines: $(grep -m 3 -i -e 'fatal' -e 'error' -e 'segmentation' -e 'abort' "$dir/pre.out" | tr '\n' ' ' | head -c 300)"
	fi
	fail $name "exit status $(rcdesc "$rp") with preload, $(rcdesc "$rb") without${last:+, last test started: $last}; $why"
	{
		echo "---- $name: result block without preload:"
		py_summary "$dir/base.out"
		echo "---- $name: last lines with preload:"
		tail -n 30 "$dir/pre.out"
		echo "----"
	} >&2
}

# ---------------------------------------------------------------------------
# 2. perl

perl_body() {
	cat >work.pl <<'EOF'
use strict; use warnings;
use Digest::MD5 qw(md5_hex);
my $n = 200000;
my (%h, @a, %byword);
for my $i (1 .. $n) {
    my $k = sprintf("key-%06d-%x", $i, ($i * 2654435761) % 4294967296);
    my $v = join(",", map { $_ * $i % 9973 } 1 .. ($i % 7 + 1));
    $h{$k} = $v;
    push @a, [$k, length($v), $i % 1000];
    my $w = ($i % 3 == 0 ? "alpha" : $i % 3 == 1 ? "beta" : "gamma") . ($i % 97);
    push @{ $byword{$w} }, $i;
}
my $ctx = Digest::MD5->new;
for my $k (sort keys %h) { $ctx->add("$k=$h{$k}\n") }
print "hash ", scalar(keys %h), " ", $ctx->hexdigest, "\n";
my @s = sort { $a->[2] <=> $b->[2] or $b->[1] <=> $a->[1] or $a->[0] cmp $b->[0] } @a;
print "sorted ", md5_hex(join("|", map { $_->[0] } @s)), "\n";
my ($m, $t) = (0, "");
for my $k (keys %h) {
    if ($k =~ /^key-(\d+)-([0-9a-f]*?)(a+|ff)([0-9a-f]*)$/) { $m++; $t .= "$1:$3;" }
}
print "regex $m ", length($t), "\n";
(my $txt = join(" ", map { $_->[0] } @a[0 .. 49999])) =~ s/key-0*(\d+)-([0-9a-f]+)/K$1<\U$2\E>/g;
print "subst ", md5_hex($txt), "\n";
my @parts = split /[<> ]+/, $txt;
print "split ", scalar(@parts), "\n";
my %cnt; $cnt{scalar @{ $byword{$_} }}++ for keys %byword;
print "words ", join(",", map { "$_:$cnt{$_}" } sort { $a <=> $b } keys %cnt), "\n";
delete $h{$_} for grep { /[02468]-/ } keys %h;
print "left ", scalar(keys %h), "\n";
my $big = ""; $big .= sprintf("%08.3f %-12s %+d\n", $_ / 7, "x" x ($_ % 13), -$_) for 1 .. 100000;
print "big ", length($big), " ", md5_hex($big), "\n";
EOF
	perl work.pl
	rc work.pl $?
	perl -MList::Util=sum,max,min,shuffle,reduce -e '
		srand(42); my @x = map { int(rand(1e6)) } 1 .. 300000;
		print sum(@x), " ", max(@x), " ", min(@x), "\n";
		my @y = sort { $a <=> $b } @x; print "$y[150000]\n";
		my $r = reduce { ($a * 31 + $b) % 1000003 } @y; print "$r\n";
		my %u; @u{@x} = (); print scalar(keys %u), "\n";'
	rc list-util $?
}
export -f perl_body

case_perl() {
	if ! have perl; then skip perl "perl not installed"; return; fi
	run_case perl perl_body 90
}

# ---------------------------------------------------------------------------
# 3. git: a generated repository of 200 commits (fast-import), then on a
#    copy of it on each side: log/rev-list/diff/blame, 30 new commits and a
#    merge made under the preload (fixed dates: the same hashes on both
#    sides), gc, fsck.

git_setup() {
	/usr/bin/env perl -e '
		my $t = 1577836800; my %files;
		for my $c (1 .. 200) {
			print "commit refs/heads/main\nmark :$c\n";
			my $ts = $t + $c * 3600;
			print "author A U Thor <author\@example.org> $ts +0000\n";
			print "committer C O Mitter <committer\@example.org> $ts +0000\n";
			my $msg = "commit $c: change " . join(" ", map { "f" . (($c * 7 + $_) % 40) } 1 .. 3) . "\n";
			print "data ", length($msg), "\n$msg";
			print "from :", $c - 1, "\n" if $c > 1;
			for my $j (1 .. 3 + $c % 5) {
				my $f = "dir" . (($c + $j) % 6) . "/f" . (($c * 7 + $j) % 40) . ".txt";
				my @l = split /\n/, ($files{$f} // "");
				my $pos = ($c * 13 + $j) % (@l + 1);
				splice @l, $pos, ($c % 3 == 0 && @l > 3) ? 2 : 0,
					map { "line c$c j$j n$_ " . ("abcdefgh" x (($c + $_) % 9)) } 1 .. 5 + ($c + $j) % 20;
				$files{$f} = join("\n", @l) . "\n";
				print "M 100644 inline $f\ndata ", length($files{$f}), "\n$files{$f}";
			}
			print "D dir5/f", $c % 40, ".txt\n" if $c % 17 == 0;
			print "\n";
		}' >stream
	git init -q -b main repo && (cd repo && git fast-import --quiet <../stream && git checkout -q main)
}

git_body() {
	cp -a ../repo . && cd repo || { rc copy 1; return; }
	git log --stat | md5sum; rc log-stat "${PIPESTATUS[@]}"
	git log -p --reverse | md5sum; rc log-p "${PIPESTATUS[@]}"
	git rev-list --count HEAD; rc rev-list $?
	git diff HEAD~50 HEAD | md5sum; rc diff "${PIPESTATUS[@]}"
	git diff --stat HEAD~150 HEAD~3 | tail -n 1; rc diff-stat "${PIPESTATUS[@]}"
	local f
	f=$(git log --format= --name-only | sort | uniq -c | sort -rn | awk 'NR==1{print $2}')
	echo "blame $f"
	git blame "$f" | md5sum; rc blame "${PIPESTATUS[@]}"
	# history made under the preload: commits (edits, new files, a removal),
	# a side branch and a merge
	local i n
	for i in $(seq 1 30); do
		n=$((i % 6))
		printf 'preloaded line %d %s\n' "$i" "$(printf 'abc%.0s' $(seq 1 $((i % 13 + 1))))" >>"dir$n/p$((i % 4)).txt"
		sed -i "1s/^/edited $i: /" "dir$((i % 5))/$(ls "dir$((i % 5))" | head -n 1)"
		if [ $((i % 10)) = 0 ]; then rm -f "dir$n/p$((i % 4)).txt"; fi
		git add -A && git commit -q -m "commit $i made under the preload" || { rc commit-$i 1; break; }
		if [ "$i" = 20 ]; then git branch side HEAD~5; fi
	done
	rc commits 0
	git checkout -q side && echo side >side.txt && git add side.txt && git commit -q -m side &&
		git checkout -q main && git merge -q --no-edit side; rc merge $?
	git rev-parse HEAD; rc rev-parse $?
	git log --stat --format='%H %s' -n 40 | md5sum; rc log-new "${PIPESTATUS[@]}"
	git gc --aggressive -q; rc gc $?
	git fsck --full --strict --no-progress; rc fsck $?
	git count-objects -v | grep -e '^count' -e '^in-pack' -e '^packs'; rc count-objects "${PIPESTATUS[@]}"
	git log --stat | md5sum; rc log-stat-after-gc "${PIPESTATUS[@]}"
	git archive --format=tar HEAD | tar tf - | wc -l; rc archive "${PIPESTATUS[@]}"
	git grep -c 'abcdefgh' HEAD~20 | md5sum; rc grep "${PIPESTATUS[@]}"
}
export -f git_body

case_git() {
	if ! have git; then skip git "git not installed"; return; fi
	if ! have perl; then skip git "perl (used to generate the repository) not installed"; return; fi
	run_case git git_body 90 git_setup
}

# ---------------------------------------------------------------------------
# 4. sqlite3

sqlite_body() {
	cat >work.sql <<'EOF'
PRAGMA page_size = 4096;
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, val REAL, blob BLOB);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 100000)
INSERT INTO t SELECT i, i % 97, printf('name-%06d-%s', i, hex(i * 2654435761 % 4294967296)),
	(i * 7919 % 10007) / 3.0, zeroblob(i % 300) FROM c;
CREATE INDEX t_grp ON t(grp, val);
CREATE INDEX t_name ON t(name);
SELECT count(*), sum(grp), round(sum(val), 3), sum(length(name)), sum(length(blob)) FROM t;
SELECT grp, count(*), round(avg(val), 4), min(name), max(name) FROM t GROUP BY grp ORDER BY grp LIMIT 10;
SELECT grp, group_concat(id, ',') FROM (SELECT grp, id FROM t WHERE val < 5 ORDER BY id) GROUP BY grp ORDER BY 2 LIMIT 5;
SELECT count(DISTINCT substr(name, 13)) FROM t;
SELECT a.grp, count(*) FROM t a JOIN t b ON a.id = b.id + 1000 AND a.grp = (b.grp + 1000) % 97 GROUP BY a.grp ORDER BY 2 DESC, 1 LIMIT 5;
UPDATE t SET name = upper(name), val = val * 2 WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
SELECT count(*), round(sum(val), 3), sum(name GLOB 'NAME*') FROM t;
PRAGMA integrity_check;
VACUUM;
PRAGMA integrity_check;
SELECT name FROM t WHERE name LIKE 'name-0999%' ORDER BY name;
SELECT count(*) FROM t WHERE grp BETWEEN 10 AND 20 AND val > 1000;
EOF
	sqlite3 db.sqlite <work.sql | md5sum; rc sql "${PIPESTATUS[@]}"
	sqlite3 db.sqlite 'PRAGMA integrity_check; SELECT count(*) FROM t;'; rc reopen $?
	sqlite3 db.sqlite .dump | md5sum; rc dump "${PIPESTATUS[@]}"
	sqlite3 db.sqlite .dump | sqlite3 copy.sqlite; rc restore "${PIPESTATUS[@]}"
	sqlite3 copy.sqlite 'SELECT count(*), sum(length(name)), round(sum(val), 3) FROM t;'; rc copy $?
}
export -f sqlite_body

case_sqlite() {
	if ! have sqlite3; then skip sqlite3 "sqlite3 not installed"; return; fi
	run_case sqlite3 sqlite_body 90
}

# ---------------------------------------------------------------------------
# 5. gcc and make: compile a multi-file C program with gcc -O2 (cc1, as and
#    collect2/ld inherit the preload), then a generated project with make -j2.

gcc_body() {
	cat >prog.h <<'EOF'
#include <stddef.h>
#include <stdint.h>
struct entry { char *key; long value; struct entry *next; };
struct table { struct entry **buckets; size_t nbuckets, count; };
void table_init(struct table *t, size_t n);
long *table_get(struct table *t, const char *key, int create);
void table_free(struct table *t);
struct entry **table_sorted(struct table *t);
uint64_t hash_str(const char *s);
void msort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));
EOF
	cat >table.c <<'EOF'
#include <stdlib.h>
#include <string.h>
#include "prog.h"
uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	while (*s) { h ^= (unsigned char)*s++; h *= 1099511628211ULL; }
	return h;
}
void table_init(struct table *t, size_t n)
{
	t->buckets = calloc(n, sizeof *t->buckets);
	t->nbuckets = n;
	t->count = 0;
}
static void grow(struct table *t)
{
	struct table n;
	table_init(&n, t->nbuckets * 2);
	for (size_t i = 0; i < t->nbuckets; i++)
		for (struct entry *e = t->buckets[i], *nx; e; e = nx) {
			nx = e->next;
			size_t b = hash_str(e->key) % n.nbuckets;
			e->next = n.buckets[b];
			n.buckets[b] = e;
		}
	free(t->buckets);
	t->buckets = n.buckets;
	t->nbuckets = n.nbuckets;
}
long *table_get(struct table *t, const char *key, int create)
{
	size_t b = hash_str(key) % t->nbuckets;
	for (struct entry *e = t->buckets[b]; e; e = e->next)
		if (!strcmp(e->key, key))
			return &e->value;
	if (!create)
		return NULL;
	if (t->count >= t->nbuckets) {
		grow(t);
		b = hash_str(key) % t->nbuckets;
	}
	struct entry *e = malloc(sizeof *e);
	e->key = strdup(key);
	e->value = 0;
	e->next = t->buckets[b];
	t->buckets[b] = e;
	t->count++;
	return &e->value;
}
struct entry **table_sorted(struct table *t)
{
	struct entry **v = malloc(t->count * sizeof *v);
	size_t k = 0;
	for (size_t i = 0; i < t->nbuckets; i++)
		for (struct entry *e = t->buckets[i]; e; e = e->next)
			v[k++] = e;
	return v;
}
void table_free(struct table *t)
{
	for (size_t i = 0; i < t->nbuckets; i++)
		for (struct entry *e = t->buckets[i], *nx; e; e = nx) {
			nx = e->next;
			free(e->key);
			free(e);
		}
	free(t->buckets);
}
EOF
	cat >sort.c <<'EOF'
#include <stdlib.h>
#include <string.h>
#include "prog.h"
static void merge(char *a, char *tmp, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n < 2)
		return;
	size_t h = n / 2;
	merge(a, tmp, h, size, cmp);
	merge(a + h * size, tmp, n - h, size, cmp);
	size_t i = 0, j = h, k = 0;
	while (i < h && j < n) {
		if (cmp(a + j * size, a + i * size) < 0)
			memcpy(tmp + k++ * size, a + j++ * size, size);
		else
			memcpy(tmp + k++ * size, a + i++ * size, size);
	}
	while (i < h) memcpy(tmp + k++ * size, a + i++ * size, size);
	while (j < n) memcpy(tmp + k++ * size, a + j++ * size, size);
	memcpy(a, tmp, n * size);
}
void msort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	char *tmp = malloc(n * size + 1);
	merge(base, tmp, n, size, cmp);
	free(tmp);
}
EOF
	cat >main.c <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "prog.h"
static int by_value(const void *a, const void *b)
{
	const struct entry *x = *(struct entry *const *)a, *y = *(struct entry *const *)b;
	if (x->value != y->value)
		return x->value < y->value ? 1 : -1;
	return strcmp(x->key, y->key);
}
static int by_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}
int main(void)
{
	struct table t;
	char key[64];
	uint64_t s = 12345;
	table_init(&t, 16);
	for (int i = 0; i < 300000; i++) {
		s = s * 6364136223846793005ULL + 1442695040888963407ULL;
		snprintf(key, sizeof key, "w%lu", (unsigned long)(s >> 33) % 50000);
		(*table_get(&t, key, 1)) += i % 7 + 1;
	}
	struct entry **v = table_sorted(&t);
	msort(v, t.count, sizeof *v, by_value);
	printf("distinct %zu\n", t.count);
	for (int i = 0; i < 5; i++)
		printf("%s %ld\n", v[i]->key, v[i]->value);
	long *vals = malloc(t.count * sizeof *vals);
	uint64_t h = 0;
	for (size_t i = 0; i < t.count; i++) {
		vals[i] = v[i]->value;
		h = h * 31 + hash_str(v[i]->key);
	}
	msort(vals, t.count, sizeof *vals, by_long);
	printf("median %ld min %ld max %ld hash %016llx\n", vals[t.count / 2], vals[0],
	       vals[t.count - 1], (unsigned long long)h);
	long *w = table_get(&t, "w42", 0);
	printf("w42 %ld\n", w ? *w : -1L);
	free(vals);
	free(v);
	table_free(&t);
	return 0;
}
EOF
	gcc -O2 -Wall -Wextra -o prog main.c table.c sort.c; rc gcc $?
	./prog; rc prog $?
	gcc -O2 -g -c table.c -o t.o && gcc -O0 -c sort.c -o s.o && gcc -O2 -flto -c main.c -o m.o && gcc -o prog2 m.o t.o s.o; rc gcc-steps $?
	./prog2 | md5sum; rc prog2 "${PIPESTATUS[@]}"
	g++ --version >/dev/null 2>&1 && {
		cat >x.cc <<'EOF'
#include <iostream>
#include <map>
#include <string>
#include <vector>
#include <algorithm>
#include <memory>
int main()
{
	std::map<std::string, std::vector<int>> m;
	for (int i = 0; i < 200000; i++)
		m["k" + std::to_string(i * 7919 % 5003)].push_back(i);
	std::vector<std::unique_ptr<std::string>> v;
	for (auto &p : m)
		v.push_back(std::make_unique<std::string>(p.first + ":" + std::to_string(p.second.size())));
	std::sort(v.begin(), v.end(), [](auto &a, auto &b) { return *a > *b; });
	std::cout << m.size() << " " << *v.front() << " " << *v.back() << "\n";
}
EOF
		g++ -O2 -std=c++17 -o x x.cc; rc g++ $?
		./x; rc x $?
	}
	# a generated project built with make -j2
	mkdir -p proj && cd proj || return
	local i
	for i in $(seq 1 16); do
		{
			echo "#include <stdio.h>"
			echo "#include <stdlib.h>"
			echo "#include <string.h>"
			echo "struct s$i { int a[$i]; char name[32]; struct s$i *next; };"
			echo "static int cmp$i(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }"
			echo "long f$i(int n) {"
			echo "  struct s$i *head = 0; long sum = 0;"
			echo "  for (int k = 0; k < n; k++) { struct s$i *e = malloc(sizeof *e); memset(e, 0, sizeof *e);"
			echo "    e->a[0] = k * $i; snprintf(e->name, sizeof e->name, \"n%d\", k); e->next = head; head = e; }"
			echo "  int *arr = malloc(n * sizeof *arr); int j = 0;"
			echo "  while (head) { struct s$i *nx = head->next; arr[j++] = (head->a[0] * 7919) % 1009 + (int)strlen(head->name); free(head); head = nx; }"
			echo "  qsort(arr, n, sizeof *arr, cmp$i);"
			echo "  for (int k = 0; k < n; k += 97) sum += arr[k] * (long)k;"
			echo "  free(arr); return sum; }"
		} >f$i.c
	done
	{
		echo "#include <stdio.h>"
		for i in $(seq 1 16); do echo "long f$i(int);"; done
		echo "int main(void) { long t = 0;"
		for i in $(seq 1 16); do echo "  t += f$i(${i}000); printf(\"f$i %ld\\n\", f$i(${i}000));"; done
		echo "  printf(\"total %ld\\n\", t); return 0; }"
	} >main.c
	{
		printf 'CC = gcc\nCFLAGS = -O2 -Wall\nOBJS = main.o'
		for i in $(seq 1 16); do printf ' f%d.o' "$i"; done
		printf '\n\nall: app\n\napp: $(OBJS)\n\t$(CC) -o $@ $(OBJS)\n\n%%.o: %%.c\n\t$(CC) $(CFLAGS) -c $< -o $@\n\nclean:\n\trm -f app *.o\n'
	} >Makefile
	make -s -j2 >make.log 2>&1; rc make $?
	./app; rc app $?
}
export -f gcc_body

case_gcc() {
	if ! have gcc; then skip gcc "gcc not installed"; return; fi
	if ! have make; then skip gcc "make not installed"; return; fi
	run_case gcc gcc_body 120
}

# ---------------------------------------------------------------------------
# 6. node

node_body() {
	cat >work.js <<'EOF'
const crypto = require('crypto');
const zlib = require('zlib');
const h = crypto.createHash('sha256');
const objs = [];
const m = new Map();
for (let i = 0; i < 200000; i++) {
  const o = { id: i, name: 'item' + i, tags: [i % 3, i % 5, i % 7].map(String), nested: { v: (i * 2654435761) % 4294967296 } };
  objs.push(o);
  const k = 'g' + (i % 1000);
  if (!m.has(k)) m.set(k, []);
  m.get(k).push(i);
}
const json = JSON.stringify(objs);
h.update(json);
const back = JSON.parse(json);
let s = 0;
for (const o of back) s = (s + o.nested.v + o.tags.length) % 1000000007;
console.log('objects', back.length, 'json', json.length, 'sum', s);
const sorted = back.slice().sort((a, b) => (a.nested.v - b.nested.v) || (a.id - b.id));
console.log('first', sorted[0].id, 'last', sorted[sorted.length - 1].id);
console.log('groups', m.size, [...m.values()].reduce((a, v) => a + v.length, 0));
const bufs = [];
for (let i = 0; i < 2000; i++) bufs.push(Buffer.alloc(1000 + i * 37, i & 255));
const big = Buffer.concat(bufs);
const z = zlib.gzipSync(big);
console.log('buffers', big.length, zlib.gunzipSync(z).equals(big));
const strs = [];
for (let i = 0; i < 100000; i++) strs.push(('x' + i).repeat(1 + i % 10));
h.update(strs.join('|'));
console.log('sha256', h.digest('hex'));
const u8 = new Uint8Array(1 << 24); for (let i = 0; i < u8.length; i += 4096) u8[i] = i >> 12;
console.log('typed', crypto.createHash('md5').update(u8).digest('hex'));
EOF
	node work.js; rc node $?
}
export -f node_body

case_node() {
	if ! have node; then skip node "node not installed"; return; fi
	run_case node node_body 90
}

# ---------------------------------------------------------------------------
# 7. coreutils and tar

coreutils_setup() {
	# a private copy of part of /usr/include, so that listings cannot change
	# between the two runs if packages get installed meanwhile
	mkdir tree && cp -a /usr/include/linux /usr/include/x86_64-linux-gnu tree/ 2>/dev/null ||
		cp -a /usr/include/linux tree/
}

coreutils_body() {
	ls -laR /usr/include >/dev/null; rc ls $?
	ls -lAR --time-style=+ ../tree | md5sum; rc ls-md5 "${PIPESTATUS[@]}"
	# a big generated file (~700k lines)
	awk 'BEGIN { s = 1; for (i = 0; i < 700000; i++) { s = (s * 1103515245 + 12345) % 2147483648;
		printf "%d %s%x line%d\n", s % 100000, (i % 3 ? "b" : "a"), s, i } }' >big.txt
	rc awk $?
	md5sum <big.txt; rc big.txt $?
	sort big.txt | md5sum; rc sort "${PIPESTATUS[@]}"
	sort -n -k1,1 -s big.txt | md5sum; rc sort-n "${PIPESTATUS[@]}"
	sort --parallel=2 -S 8M -u -k2 big.txt | md5sum; rc sort-u "${PIPESTATUS[@]}"
	cut -d' ' -f1 big.txt | sort | uniq -c | sort -rn | sed -n 1,3p; rc uniq "${PIPESTATUS[@]}"
	cp -a ../tree tree && cp big.txt tree/; rc copy $?
	tar czf t.tgz tree; rc tar-cz $?
	tar tzf t.tgz | wc -l; rc tar-tz "${PIPESTATUS[@]}"
	tar cf - tree | tar tf - | sort | md5sum; rc tar-pipe "${PIPESTATUS[@]}"
	mkdir x && tar xzf t.tgz -C x && diff -r tree x/tree; rc tar-x $?
}
export -f coreutils_body

case_coreutils() {
	run_case coreutils coreutils_body 90 coreutils_setup
}

# ---------------------------------------------------------------------------
# 8. java: the JVM (HotSpot) allocates its own native memory with malloc --
#    the JIT's arenas, symbol tables, thread stacks' bookkeeping -- from
#    many threads, and java.util.zip and direct ByteBuffers malloc and free
#    from Java code. One source file run by the launcher (javac in memory):
#    a thread pool filling hash maps, Deflater/Inflater round trips, direct
#    buffers.

java_body() {
	cat >Churn.java <<'EOF'
import java.nio.ByteBuffer;
import java.util.*;
import java.util.concurrent.*;
import java.util.zip.*;

public class Churn {
	static long work(int seed) throws Exception {
		long h = seed;
		Map<String, List<Integer>> m = new HashMap<>();
		for (int i = 0; i < 150000; i++)
			m.computeIfAbsent("k" + (i * 31L + seed) % 20011, k -> new ArrayList<>()).add(i);
		for (Map.Entry<String, List<Integer>> e : new TreeMap<>(m).entrySet())
			h = h * 1000003 + e.getKey().hashCode() + e.getValue().size();
		byte[] text = new byte[1 << 20];
		for (int i = 0; i < text.length; i++)
			text[i] = (byte) ("abcdefgh".charAt((i * 7 + seed) % 8) + (i % 61 == 0 ? 1 : 0));
		for (int round = 0; round < 6; round++) {
			Deflater d = new Deflater(round % 9 + 1);
			d.setInput(text);
			d.finish();
			byte[] out = new byte[text.length];
			int n = d.deflate(out);
			d.end();
			Inflater inf = new Inflater();
			inf.setInput(out, 0, n);
			byte[] back = new byte[text.length];
			int got = inf.inflate(back);
			inf.end();
			if (got != text.length || !Arrays.equals(text, back))
				throw new IllegalStateException("zip round trip");
			h = h * 31 + n;
			ByteBuffer b = ByteBuffer.allocateDirect(256 << 10);
			for (int i = 0; i < b.capacity(); i += 8)
				b.putLong(i, i * 2654435761L + seed);
			h += b.getLong((seed * 8 + round * 64) % b.capacity());
		}
		return h;
	}

	public static void main(String[] args) throws Exception {
		ExecutorService pool = Executors.newFixedThreadPool(4);
		List<Future<Long>> parts = new ArrayList<>();
		for (int t = 0; t < 8; t++) {
			final int seed = t;
			parts.add(pool.submit(() -> work(seed)));
		}
		long h = 0;
		for (Future<Long> f : parts)
			h = h * 17 + f.get();
		pool.shutdown();
		System.out.println("java " + h);
	}
}
EOF
	java -Xmx256m Churn.java; rc java $?
}
export -f java_body

case_java() {
	if ! have java; then skip java "java not installed"; return; fi
	keep_for_python java && return
	# running a source file compiles it in memory: a JDK, not only a JRE
	if ! java --list-modules 2>/dev/null | grep -q '^jdk\.compiler@'; then
		skip java "no jdk.compiler module (a JRE without the JDK)"
		return
	fi
	run_case java java_body 90
}

# ---------------------------------------------------------------------------
# 9. rust: rustc builds a program whose Vec growth is realloc, whose HashMap
#    and BTreeMap are malloc and free (Rust's std allocates with the C
#    library's malloc), and whose threads hand their results to the main
#    thread over a channel, so that the receiver frees what the senders
#    allocated. The compiler runs preloaded too, but the rustc that rustup
#    installs carries its own jemalloc: there the program is the test.

rust_body() {
	cat >churn.rs <<'EOF'
use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc;
use std::thread;

fn main() {
    let (tx, rx) = mpsc::channel::<Vec<String>>();
    let mut workers = Vec::new();
    for t in 0..4u64 {
        let tx = tx.clone();
        workers.push(thread::spawn(move || {
            let mut m: HashMap<u64, Vec<u64>> = HashMap::new();
            for i in 0..200_000u64 {
                m.entry((i * 7919 + t) % 10007).or_default().push(i);
            }
            for chunk in 0..50u64 {
                let batch: Vec<String> = (0..2000u64)
                    .map(|i| format!("{}-{}-{}", t, chunk, m[&((i * 31 + chunk) % 10007)].len()))
                    .collect();
                tx.send(batch).unwrap();
            }
        }));
    }
    drop(tx);
    let mut counts: BTreeMap<usize, u64> = BTreeMap::new();
    let mut total = 0u64;
    for batch in rx {
        for s in batch {
            *counts.entry(s.len()).or_default() += 1;
            // a sum: the batches of the four threads arrive in any order
            total = total.wrapping_add(s.bytes().fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))));
        }
    }
    for w in workers {
        w.join().unwrap();
    }
    let mut v: Vec<u64> = Vec::new();
    for i in 0..1_000_000u64 {
        v.push(i * i % 7919);
    }
    v.sort_unstable();
    println!("rust {:?} {} {}", counts, total, v[500_000]);
}
EOF
	"$RUSTC" -O -o churn churn.rs; rc rustc $?
	./churn; rc churn $?
}
export -f rust_body

case_rust() {
	if ! have rustc; then skip rust "rustc not installed"; return; fi
	keep_for_python rust && return
	# the compiler itself: rustc may be rustup's proxy, which needs the
	# user's home (the runs have their own)
	local sysroot
	if ! sysroot=$(HOME=$REAL_HOME rustc --print sysroot 2>/dev/null) || [ -z "$sysroot" ] ||
		[ ! -x "$sysroot/bin/rustc" ]; then
		skip rust "rustc --print sysroot names no compiler"
		return
	fi
	if ! have cc; then skip rust "no cc to link with"; return; fi
	RUSTC=$sysroot/bin/rustc
	export RUSTC
	run_case rust rust_body 120
}

# ---------------------------------------------------------------------------
# 10. tools: openssl (a digest, an encryption round trip, an RSA key made
#     and checked: bignums in malloc'd words), vim's script engine (a dict
#     of 30,000 strings, sorted), gdb stopping a program at a breakpoint (its
#     symbol tables), ImageMagick's convert (a drawing blurred, resized and
#     rotated by OpenMP threads) and xz -T2 (512 KiB blocks, so that its
#     threads compress them: buffers of 1-8 MiB, the mapped path, from
#     several threads), each with a digest of what it made. A tool that is
#     not installed is left out of both runs, and the case's name lists
#     the ones that ran. Left out: tools that hardly call malloc (counted
#     with a preloaded counter: bzip2 13 calls, zstd 110, gpg 392, tclsh 975
#     (Tcl has an allocator of its own)).

# imagemagick: convert is ImageMagick's (not GraphicsMagick's, nor a stand-in)
imagemagick() { have convert && convert -version 2>/dev/null | grep -q '^Version: ImageMagick'; }
# tool_runs TOOL: TOOL is in TOOLS_RUN, the tools that case_tools found once
# for both runs (and named the case after)
tool_runs() { case " $TOOLS_RUN " in *" $1 "*) return 0 ;; esac; return 1; }
export -f tool_runs

tools_setup() {
	# 4 MB of compressible but not trivial data, the same in both runs
	awk 'BEGIN { s = 7; for (i = 0; i < 100000; i++) { s = (s * 1103515245 + 12345) % 2147483648;
		printf "%08x record %d value %d\n", s, i, s % 1000 } }' >data.txt
}

tools_body() {
	local d=../data.txt
	if tool_runs openssl; then
		openssl dgst -sha512 <$d; rc openssl-dgst $?
		openssl enc -aes-256-cbc -pbkdf2 -iter 1000 -pass pass:buddy -in $d |
			openssl enc -d -aes-256-cbc -pbkdf2 -iter 1000 -pass pass:buddy | md5sum
		rc openssl-enc "${PIPESTATUS[@]}"
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out key.pem 2>/dev/null &&
			openssl pkey -in key.pem -check -noout; rc openssl-rsa $?
	fi
	if tool_runs vim; then
		vim -u NONE -i NONE -N -es -c 'let d = {}' \
			-c 'for i in range(100000) | let d["k" . (i * 7919 % 30011)] = repeat("x", i % 50) | endfor' \
			-c 'let l = sort(map(items(d), {_, v -> v[0] . len(v[1])}))' \
			-c 'call writefile([len(d) . " " . l[0] . " " . l[-1]], "vim.out")' -c 'qa!'
		rc vim $?
		cat vim.out
	fi
	if tool_runs gdb; then
		printf '#include <stdlib.h>\nint f(int n) { return n < 2 ? n : f(n - 1) + f(n - 2); }\nint main(void) { char *p = malloc(64); p[0] = 1; return f(20) & 1 ? p[0] : 0; }\n' >g.c &&
			gcc -g -O0 -o g g.c &&
			gdb -q -nx -batch -ex 'break f if n == 3' -ex run -ex bt -ex 'info locals' -ex 'p n * 7' \
				-ex kill ./g 2>&1 | grep -v -e '^\[' -e 'libthread_db' -e '^Using host' -e 'process [0-9]* killed' -e '^Breakpoint 1 at' |
				sed 's/0x[0-9a-f]*/ADDR/g' | md5sum
		rc gdb "${PIPESTATUS[@]}"
	fi
	if tool_runs convert; then
		convert -size 700x500 xc:white -fill navy -draw 'circle 350,250 350,60' \
			-fill orange -draw 'rectangle 40,40 300,200' -blur 0x4 -resize 150% -rotate 17 \
			-colors 64 txt:- | md5sum
		rc convert "${PIPESTATUS[@]}"
	fi
	if tool_runs xz; then
		xz -T2 --block-size=512KiB -3 -c $d | xz -dc -T2 | md5sum
		rc xz "${PIPESTATUS[@]}"
	fi
}
export -f tools_body

case_tools() {
	TOOLS_RUN=""
	have openssl && TOOLS_RUN="$TOOLS_RUN openssl"
	have vim && TOOLS_RUN="$TOOLS_RUN vim"
	have gdb && have gcc && TOOLS_RUN="$TOOLS_RUN gdb"
	imagemagick && TOOLS_RUN="$TOOLS_RUN convert"
	if [ -z "$TOOLS_RUN" ]; then skip tools "none of openssl, vim, gdb (with gcc), ImageMagick installed"; return; fi
	keep_for_python tools && return
	have xz && TOOLS_RUN="$TOOLS_RUN xz"
	export TOOLS_RUN
	local name=tools${TOOLS_RUN// /-}
	run_case "$name" tools_body 90 tools_setup
}

# ---------------------------------------------------------------------------
# 11. postgres: a PostgreSQL cluster made by initdb (the bootstrap backend),
#     its server started, and SQL through psql and pgbench, all preloaded.
#     The postmaster forks a backend per connection without exec, so every
#     backend runs on the heap state the fork handlers left it (several at
#     once under pgbench); a backend's memory contexts take their blocks
#     from malloc (8 KiB up to sorts and hash tables of many MiB, in
#     work_mem), and free them at the end of each query. The server's log
#     is checked for a backend that died. initdb and postgres refuse to run
#     as root: as root the case runs as the user "postgres" (runuser).

pg_bin() {
	local d i
	i=$(command -v initdb 2>/dev/null) && i=$(readlink -f "$i")
	for d in ${i:+"$(dirname "$i")"} $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/psql" ] && [ -x "$d/pgbench" ]; then
			echo "$d"
			return
		fi
	done
}

postgres_body() {
	# as root: the directory becomes the user's, then this body runs again as him
	if [ "$(id -u)" = 0 ]; then
		chown "$PG_USER" . || { rc chown 1; return; }
		runuser -u "$PG_USER" -- bash -c 'set -u; postgres_body'
		rc runuser $?
		return
	fi
	export HOME=$PWD TMPDIR=$PWD PGHOST=$PWD PGPORT=5499 PGUSER=postgres
	local B=$PG_BIN
	"$B/initdb" -D data -A trust -U postgres >initdb.log 2>&1; rc initdb $?
	"$B/pg_ctl" -D data -l server.log -w -t 60 \
		-o "-k $PWD -p 5499 -c listen_addresses= -c shared_buffers=32MB -c fsync=off" start >/dev/null
	rc start $?
	"$B/psql" -X -q -A -t -v ON_ERROR_STOP=1 postgres <<'SQL' | md5sum
SET work_mem = '64MB';
CREATE TABLE t AS SELECT g AS id, md5(g::text) AS h, g % 1000 AS k, repeat('x', g % 300) AS pad
	FROM generate_series(1, 300000) g;
CREATE INDEX ON t (h);
CREATE TABLE u AS SELECT g AS k, 'name' || g AS name FROM generate_series(0, 999) g;
SELECT count(*), sum(length(pad)) FROM t;
SELECT k, count(*), max(h) FROM t GROUP BY k ORDER BY k LIMIT 5;
SELECT u.name, count(*) FROM t JOIN u USING (k) GROUP BY u.name ORDER BY 2 DESC, 1 LIMIT 5;
SELECT h FROM t ORDER BY h DESC LIMIT 3;
SELECT md5(string_agg(h, ',' ORDER BY id)) FROM t WHERE id % 7 = 0;
SELECT jsonb_agg(jsonb_build_object('id', id, 'h', h, 'arr', ARRAY[id, k])) -> 2 FROM t WHERE id < 20000;
SELECT count(DISTINCT substr(h, 1, 5)) FROM t;
WITH RECURSIVE r(n, s) AS (SELECT 1, ''::text UNION ALL SELECT n + 1, s || chr(65 + n % 26) FROM r WHERE n < 3000)
	SELECT md5(max(s)) FROM r;
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY id) FROM t;
SELECT md5(array_agg(x ORDER BY x)::text)
	FROM (SELECT regexp_replace(h, '[0-9]+', '#', 'g') AS x FROM t WHERE id < 50000) s;
DROP TABLE t, u;
SQL
	rc psql "${PIPESTATUS[@]}"
	"$B/pgbench" -q -i -s 2 postgres >pgbench-init.log 2>&1; rc pgbench-init $?
	# four clients at once, each in a backend of its own; the random
	# transactions change the balances, so what is compared is the count
	# and that every balance adds up to the history
	"$B/pgbench" -n -c 4 -j 2 -t 250 postgres 2>&1 | grep -e 'actually processed' -e 'failed'
	rc pgbench "${PIPESTATUS[@]}"
	"$B/psql" -X -q -A -t -v ON_ERROR_STOP=1 postgres <<'SQL'
SELECT sum(abalance) = (SELECT sum(delta) FROM pgbench_history) FROM pgbench_accounts;
SELECT sum(tbalance) = (SELECT sum(delta) FROM pgbench_history) FROM pgbench_tellers;
SELECT sum(bbalance) = (SELECT sum(delta) FROM pgbench_history) FROM pgbench_branches;
SELECT count(*) FROM pgbench_history;
SQL
	rc check $?
	"$B/pg_ctl" -D data -m fast -w -t 60 stop >/dev/null; rc stop $?
	echo "server log: $(grep -c -e 'terminated by signal' -e 'PANIC' -e 'buddyslab: ' server.log) crashes or diagnostics"
}
export -f postgres_body

# postgres_stop_left - a server a timed-out run left behind: stopped
postgres_stop_left() {
	local pidfile pid
	for pidfile in "$TMP"/postgres/*/data/postmaster.pid; do
		[ -f "$pidfile" ] || continue
		pid=$(head -n 1 "$pidfile")
		kill -QUIT "$pid" 2>/dev/null && sleep 1
		kill -KILL "$pid" 2>/dev/null
	done
}

case_postgres() {
	PG_BIN=$(pg_bin)
	if [ -z "$PG_BIN" ]; then skip postgres "PostgreSQL's initdb, pg_ctl, psql and pgbench not found"; return; fi
	PG_USER=$(id -un)
	if [ "$(id -u)" = 0 ]; then
		if ! id postgres >/dev/null 2>&1 || ! have runuser; then
			skip postgres "running as root, and no user postgres (or no runuser) to run the server as"
			return
		fi
		PG_USER=postgres
		# the user's way to the work directory and to the library's snapshot
		chmod 711 "$TMP" "$TMP/lib" && chmod 755 "$LIB" || { fail postgres "cannot open $TMP to $PG_USER"; return; }
		# a TMPDIR under a directory closed to the user (/root/...)
		if ! runuser -u "$PG_USER" -- test -r "$LIB" -a -x "$TMP"; then
			skip postgres "$TMP is not reachable for the user $PG_USER (TMPDIR under a closed directory)"
			return
		fi
	fi
	keep_for_python postgres && return
	export PG_BIN PG_USER
	run_case postgres postgres_body 90
	postgres_stop_left
}

# ---------------------------------------------------------------------------

T0=$SECONDS
# python last: its run adapts to the time left, the others have fixed
# limits (on a loaded machine python's took 139 s, the six others 70 s)
for c in perl git sqlite gcc node coreutils java rust tools postgres python; do
	t=$SECONDS
	"case_$c"
	note "case $c: $((SECONDS - t))s"
done
note "total: $((SECONDS - T0))s"
finish
