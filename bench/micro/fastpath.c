/*
 * fastpath.c - instructions per malloc+free pair on the fast path, counted by
 * callgrind. Run by `scripts/perf-profile --callgrind`, which builds it and
 * writes bench/fastpath.txt; it is meant to run under
 *
 *   LD_PRELOAD=<allocator.so> valgrind --tool=callgrind --collect-atstart=no ...
 *       fastpath [-n N] [-w W] [-k K] SIZE...
 *
 * For each SIZE, collection is switched on (CALLGRIND_TOGGLE_COLLECT) only
 * around two loops of N iterations, each followed by a dump of its own
 * (CALLGRIND_DUMP_STATS_AT):
 *
 *   "empty SIZE"  fastpath_empty(): the loop with no call in it
 *   "pairs SIZE"  fastpath_pairs(): p = malloc(SIZE); free(p); N times
 *
 * so that (Ir of "pairs" - Ir of "empty") / N is what one pair costs: the
 * allocator's instructions plus the two calls and their argument moves. The
 * two call sites in fastpath_pairs() give the inclusive cost of malloc and of
 * free separately (the malloc call comes first in the code).
 *
 * Before each size, W pairs of that size run with collection off, so the
 * allocator's thread cache / active slab for that size exists and the loop
 * measures the steady state. Then K blocks of the size are allocated and
 * kept until both loops are done: with K = 0 (the default) nothing else is
 * live in the size class, and each free gives back the only object in use
 * (an allocator may take a slower path for a slab that becomes empty); with
 * K = 1 the slab or run the pairs come from always holds another block, as
 * in a program that has live data.
 *
 * Built with -O2 -fno-plt -fno-builtin (calls go straight through the GOT:
 * no PLT stub is counted) and -fno-inline, so that the loops stay as
 * written. Outside callgrind the client requests do nothing and the program
 * just runs the loops.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <valgrind/callgrind.h>

#define NOINLINE __attribute__((noinline, noclone))

/* The measured loop. The empty asm makes p escape, so that the pair cannot
 * be elided even by a compiler that knows malloc. */
NOINLINE void fastpath_pairs(size_t size, long n)
{
	for (long i = 0; i < n; i++) {
		void *p = malloc(size);
		__asm__ volatile("" : : "r"(p) : "memory");
		free(p);
	}
}

/* The same loop without the calls: its cost is subtracted. */
NOINLINE void fastpath_empty(size_t size, long n)
{
	for (long i = 0; i < n; i++)
		__asm__ volatile("" : : "r"(size) : "memory");
}

static void usage(void)
{
	fprintf(stderr, "usage: fastpath [-n PAIRS] [-w WARMUP] [-k KEEP] SIZE...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	long n = 100000, warm = 1000, keep = 0;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-n") && i + 1 < argc)
			n = atol(argv[++i]);
		else if (!strcmp(argv[i], "-w") && i + 1 < argc)
			warm = atol(argv[++i]);
		else if (!strcmp(argv[i], "-k") && i + 1 < argc)
			keep = atol(argv[++i]);
		else
			usage();
	}
	if (i == argc || n <= 0 || warm < 0 || keep < 0 || keep > 64)
		usage();

	char label[64];
	void *kept[64];
	for (; i < argc; i++) {
		size_t size = strtoul(argv[i], NULL, 0);
		if (size == 0)
			usage();
		fastpath_pairs(size, warm);
		for (long k = 0; k < keep; k++)
			kept[k] = malloc(size);

		CALLGRIND_TOGGLE_COLLECT;
		fastpath_empty(size, n);
		CALLGRIND_TOGGLE_COLLECT;
		snprintf(label, sizeof(label), "empty %zu", size);
		CALLGRIND_DUMP_STATS_AT(label);

		CALLGRIND_TOGGLE_COLLECT;
		fastpath_pairs(size, n);
		CALLGRIND_TOGGLE_COLLECT;
		snprintf(label, sizeof(label), "pairs %zu", size);
		CALLGRIND_DUMP_STATS_AT(label);

		for (long k = keep; k-- > 0;)
			free(kept[k]);
	}
	return 0;
}
