#!/bin/bash
# valgrind_programs.sh - real programs on buddyslab under valgrind's
# memcheck (make check-valgrind only; scripts/check runs it). memcheck is
# told that malloc lives in no library of this process
# (--soname-synonyms=somalloc=NONE-SUCH), so it does not swap in its own:
# buddyslab's code runs under it, and a read of uninitialised memory, an
# access outside any mapping or a bad system call argument in buddyslab
# fails the case (--error-exitcode). Each case must also print what it
# prints without buddyslab.
#
# Also a C program whose large blocks realloc moves with mremap (case
# remap). Last, a C++ program and a C program under plain memcheck (its own
# malloc) with buddyslab preloaded: no error.
#
# Output: "PASS name" / "FAIL name (why)" per case, then "N passed, N
# failed"; exit status 1 on any failure.
set -u
SRC=${BUDDYSLAB_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
LIB=${BUDDYSLAB_LIB:-$SRC/build/.libs/libbuddyslab.so}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/buddyslab-vg.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
export LC_ALL=C
unset LD_PRELOAD

passed=0
failed=0
VG=(valgrind -q --error-exitcode=99 --soname-synonyms=somalloc=NONE-SUCH --trace-children=no)

# run_case NAME PROGRAM ARGS... - the program alone, then on buddyslab
# under memcheck; same stdout and status 0 wanted.
run_case() {
	local name=$1
	shift
	if ! command -v "$1" >/dev/null; then
		echo "FAIL $name ($1 not installed)"
		failed=$((failed + 1))
		return
	fi
	"$@" >"$TMP/$name.want" 2>/dev/null
	LD_PRELOAD=$LIB BUDDYSLAB_OPTIONS=stats=1,stats_file=$TMP/$name.stats \
		"${VG[@]}" "$@" >"$TMP/$name.got" 2>"$TMP/$name.err"
	local rc=$?
	if ((rc != 0)); then
		echo "FAIL $name (exit status $rc under memcheck)"
		head -n 60 "$TMP/$name.err"
		failed=$((failed + 1))
	elif ! cmp -s "$TMP/$name.want" "$TMP/$name.got"; then
		echo "FAIL $name (output differs)"
		diff "$TMP/$name.want" "$TMP/$name.got" | head -n 20
		failed=$((failed + 1))
	elif ! grep -q "kmalloc-" "$TMP/$name.stats" 2>/dev/null; then
		echo "FAIL $name (no buddyslab report: was buddyslab the allocator?)"
		failed=$((failed + 1))
	else
		echo "PASS $name"
		passed=$((passed + 1))
	fi
}

# /usr/bin/python3: not a shim that valgrind would run instead
run_case python3 /usr/bin/python3 -c '
import json, re, threading
d = {str(i): [i] * (i % 20) for i in range(20000)}
s = json.dumps(d)
e = json.loads(s)
print(len(e), sum(len(v) for v in e.values()), len(re.findall(r"\d+", s)))
big = bytearray(20 << 20)
big2 = bytes(big) + b"x" * 3000000          # large blocks, mremap
print(len(big2))
out = []
def work(k):
    out.append(sum(len(str(i) * (i % 7)) for i in range(k, k + 30000)))
ts = [threading.Thread(target=work, args=(k * 1000,)) for k in range(4)]
[t.start() for t in ts]
[t.join() for t in ts]
print(sorted(out))
'
run_case perl /usr/bin/perl -e 'my %h; $h{$_} = "x" x ($_ % 300) for 1 .. 100000;
my @k = sort keys %h; delete $h{$_} for @k[0 .. 49999]; print scalar(keys %h), "\n"'
run_case sqlite3 /usr/bin/sqlite3 :memory: 'create table t(a, b);
with recursive c(x) as (select 1 union all select x + 1 from c limit 50000)
insert into t select x, hex(zeroblob(x % 200)) from c;
create index i on t(b); delete from t where a % 3 = 0; vacuum; select count(*), sum(length(b)) from t;'

# build_case NAME COMPILER SOURCE - build SOURCE into $TMP/NAME; if that
# fails, the case fails (false).
build_case() {
	local name=$1 compiler=$2 source=$3
	if ! $compiler -O1 -o "$TMP/$name" "$source" 2>"$TMP/$name.cc.log"; then
		echo "FAIL $name ($compiler failed)"
		cat "$TMP/$name.cc.log"
		failed=$((failed + 1))
		return 1
	fi
}

# Large blocks that realloc must move (a mapping sits right after each, so
# it cannot grow in place): mremap moves their pages to a fresh place and
# grows them there, and memcheck must see the whole block as mapped and
# defined (it took what such a move grew for inaccessible, os.c); then a
# block made of freed blocks' cached mappings, moved side by side.
cat >"$TMP/remap.c" <<'C'
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
static unsigned long sum(const unsigned char *p, size_t n)
{
	unsigned long s = 0;
	for (size_t i = 0; i < n; i += 512)
		s += p[i];
	return s;
}
int main(void)
{
	unsigned long total = 0;
	size_t size = 5 << 20;
	unsigned char *p = malloc(size);
	if (!p)
		return 1;
	memset(p, 1, size);
	for (int i = 0; i < 4; i++) {
		/* a page right after the block (if that place is free) */
		void *blocker = mmap(p + size, 4096, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		size_t bigger = size * 2 + 12345;
		unsigned char *q = realloc(p, bigger);
		if (!q)
			return 1;
		total += sum(q, size);          /* the moved part */
		memset(q + size, 2, bigger - size); /* the grown part */
		total += sum(q, bigger);
		if (blocker != MAP_FAILED)
			munmap(blocker, 4096);
		p = q;
		size = bigger;
	}
	free(p);
	unsigned char *a = malloc(6 << 20), *b = malloc(7 << 20);
	if (!a || !b)
		return 1;
	memset(a, 3, 6 << 20);
	memset(b, 4, 7 << 20);
	free(a);
	free(b);
	unsigned char *c = malloc(12 << 20); /* from the two cached mappings */
	if (!c)
		return 1;
	memset(c, 5, 12 << 20);
	total += sum(c, 12 << 20);
	free(c);
	printf("%lu\n", total);
	return 0;
}
C
build_case remap "${CC:-gcc}" "$TMP/remap.c" && run_case remap "$TMP/remap"

# plain_memcheck_case NAME COMPILER SOURCE WANT - build SOURCE, run it on
# buddyslab under memcheck without the synonym (memcheck's own malloc and
# free); no error, and stdout WANT.
plain_memcheck_case() {
	local name=$1 compiler=$2 source=$3 want=$4 rc
	build_case "$name" "$compiler" "$source" || return
	LD_PRELOAD=$LIB valgrind -q --error-exitcode=99 "$TMP/$name" >"$TMP/$name.got" 2>"$TMP/$name.err"
	rc=$?
	if ((rc == 0)) && [ "$(cat "$TMP/$name.got")" = "$want" ]; then
		echo "PASS $name"
		passed=$((passed + 1))
	else
		echo "FAIL $name (exit status $rc)"
		head -n 30 "$TMP/$name.err"
		failed=$((failed + 1))
	fi
}

# A C++ program under memcheck as a user runs it, without the synonym: then
# memcheck replaces buddyslab's malloc and free with its own, but not its
# operator new, so buddyslab's operator delete must not be free's code at
# free's address, or each delete reaches memcheck's free ("Invalid free").
cat >"$TMP/cxx.cpp" <<'CXX'
#include <cstdio>
#include <new>
#include <string>
#include <vector>
struct alignas(64) Wide { char c[64]; };
int main()
{
	std::vector<std::string> v;
	for (int i = 0; i < 100; i++)
		v.push_back(std::string(50, 'a' + i % 26));
	int *p = new int[10];
	delete[] p;
	int *q = new int;
	delete q;
	Wide *w = new Wide;
	delete w;
	Wide *ws = new Wide[2];
	delete[] ws;
	void *n = ::operator new(10, std::nothrow);
	::operator delete(n, std::nothrow);
	std::printf("%zu\n", v.size());
}
CXX
plain_memcheck_case cxx-memcheck-default "${CXX:-g++}" "$TMP/cxx.cpp" 100

# And a C program calling the whole API under plain memcheck: every call
# must reach memcheck's heap or buddyslab's whole, never one with the
# other's block (reallocarray, which memcheck 3.19 lacks, goes through
# realloc's address). pvalloc is left out: memcheck has no pvalloc either,
# and its blocks would be buddyslab's, freed into memcheck's free.
cat >"$TMP/capi.c" <<'CAPI'
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void)
{
	char *p = malloc(10);
	p = reallocarray(p, 2, 10);
	p = realloc(p, 5000);
	memset(p, 1, 5000);
	void *c = calloc(10, 10);
	void *a = aligned_alloc(64, 128);
	void *m = memalign(64, 100);
	void *v = valloc(100);
	void *pm = NULL;
	if (posix_memalign(&pm, 64, 10) != 0)
		return 1;
	printf("%d\n", malloc_usable_size(p) >= 5000);
	free(c);
	free(a);
	free(m);
	free(v);
	free(pm);
	malloc_trim(0);
	free(p);
	return 0;
}
CAPI
plain_memcheck_case c-api-memcheck-default "${CC:-gcc}" "$TMP/capi.c" 1

echo "$passed passed, $failed failed"
((failed == 0))
