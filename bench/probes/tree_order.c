/*
 * tree_order - in what address order does an allocator hand out the nodes
 * of a tree that a program builds, drops and builds again (symbolic's
 * trees)? Side-by-side nodes share cache lines and let the hardware
 * prefetcher run ahead; scattered ones miss one by one.
 *
 * One tree of depth 18 lives throughout; trees of depth 4..16 of 24-byte
 * nodes are built (preorder) and dropped (in order), six rounds. In the
 * last round, for the trees of depth 10 and 16, it prints the share of
 * allocations whose block starts right after or before the previous one
 * (24 or 32 bytes away), in the same 64-byte line, and within 4 KiB.
 *
 *     cc -O2 -o /tmp/tree_order bench/probes/tree_order.c
 *     LD_PRELOAD=LIB /tmp/tree_order
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct node {
	struct node *l, *r;
	long val;
};

static uintptr_t *trace;
static size_t traced;

static struct node *tree(int depth)
{
	struct node *n = malloc(sizeof(*n));
	if (!n)
		abort();
	trace[traced++] = (uintptr_t)n;
	n->val = depth;
	n->l = depth > 0 ? tree(depth - 1) : NULL;
	n->r = depth > 0 ? tree(depth - 1) : NULL;
	return n;
}

static void drop(struct node *n)
{
	while (n) {
		struct node *r = n->r;
		drop(n->l);
		free(n);
		n = r;
	}
}

static void report(int depth)
{
	size_t adjacent = 0, same_line = 0, near = 0;
	for (size_t i = 1; i < traced; i++) {
		intptr_t d = (intptr_t)(trace[i] - trace[i - 1]);
		if (d == 24 || d == 32 || d == -24 || d == -32)
			adjacent++;
		if (trace[i] >> 6 == trace[i - 1] >> 6)
			same_line++;
		if (d > -4096 && d < 4096)
			near++;
	}
	printf("depth %2d: %6zu allocations, side by side %5.1f %%, same line %5.1f %%, "
	       "within 4 KiB %5.1f %%\n",
	       depth, traced, 100.0 * adjacent / traced, 100.0 * same_line / traced,
	       100.0 * near / traced);
}

int main(void)
{
	trace = malloc(sizeof(*trace) << 19);
	if (!trace)
		abort();
	struct node *old = tree(18);
	for (int round = 0; round < 6; round++)
		for (int depth = 4; depth <= 16; depth++) {
			traced = 0;
			struct node *t = tree(depth);
			if (round == 5 && (depth == 10 || depth == 16))
				report(depth);
			drop(t);
		}
	drop(old);
	free(trace);
	return 0;
}
