/*
 * symbolic - single-threaded churn of many small, short-lived objects, the
 * shape of symbolic computation (a Lisp, a computer algebra system, a
 * compiler's IR): trees, cons lists and bignums, built, walked and dropped.
 *
 *   trees:   binary trees of 24-byte nodes. One tree of depth `keep` lives for
 *            the whole run (an old generation); then many trees of depth 4..`depth`
 *            are built, checked (node count and value sum) and freed.
 *   lists:   cons lists of 16-byte cells: build 1..`len`, map (3x+1) into a new
 *            list, filter it, reverse it, fold, free each list when the next is
 *            built; the fold is checked against the same sum computed without
 *            allocating.
 *   bignums: Fibonacci numbers up to F(`fib`) and factorials up to `fact`! with
 *            immutable bignums (every add or multiply mallocs a fresh number of
 *            the right size and the operand that is no longer needed is freed):
 *            sizes grow from 16 bytes to a few KiB. The lowest 64-bit limb is
 *            checked against the same recurrence done in uint64_t.
 *
 * This is the case where a fast, lock-free, compact small-object path is all
 * that matters: no threads, no large blocks.
 *
 * Parameters: keep=18 depth=16 trees=100 len=1000 lists=24000 fib=3000 fibreps=1500
 * fact=1000 factreps=1500 (trees, lists, fibreps and factreps scale with BENCH_SCALE).
 * Prints allocations/s, the time of each part and the peak RSS.
 */
#include "wl.h"

static unsigned long long nallocs;

/* ---- trees ---------------------------------------------------------------- */

struct node {
	struct node *l, *r;
	long val;
};

static struct node *tree(int depth, long val)
{
	struct node *n = wl_xmalloc(sizeof(*n));
	nallocs++;
	n->val = val;
	if (depth > 0) {
		n->l = tree(depth - 1, 2 * val);
		n->r = tree(depth - 1, 2 * val + 1);
	} else {
		n->l = n->r = NULL;
	}
	return n;
}

static void walk(const struct node *n, long *count, long *sum)
{
	for (; n; n = n->r) {
		(*count)++;
		*sum += n->val;
		walk(n->l, count, sum);
	}
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

static void check_tree(const struct node *t, int depth, long root)
{
	long count = 0, sum = 0;
	walk(t, &count, &sum);
	/* values of level k are root*2^k .. root*2^k + 2^k - 1 */
	long want_count = 0, want_sum = 0;
	for (int k = 0; k <= depth; k++) {
		long w = 1L << k, first = root << k;
		want_count += w;
		want_sum += w * first + w * (w - 1) / 2;
	}
	if (count != want_count || sum != want_sum)
		wl_die("tree of depth %d: %ld nodes sum %ld, want %ld sum %ld", depth, count, sum,
		       want_count, want_sum);
}

/* ---- lists ---------------------------------------------------------------- */

struct cons {
	long car;
	struct cons *cdr;
};

static struct cons *cons(long car, struct cons *cdr)
{
	struct cons *c = wl_xmalloc(sizeof(*c));
	nallocs++;
	c->car = car;
	c->cdr = cdr;
	return c;
}

static void drop_list(struct cons *c)
{
	while (c) {
		struct cons *n = c->cdr;
		free(c);
		c = n;
	}
}

static long list_round(long len, long salt)
{
	struct cons *l = NULL, *m = NULL, *f = NULL, *r = NULL, **tail;
	for (long i = len; i >= 1; i--)
		l = cons(i + salt, l);
	tail = &m; /* map, keeping order */
	for (struct cons *c = l; c; c = c->cdr) {
		*tail = cons(3 * c->car + 1, NULL);
		tail = &(*tail)->cdr;
	}
	drop_list(l);
	tail = &f; /* filter: keep multiples of 4 */
	for (struct cons *c = m; c; c = c->cdr)
		if (c->car % 4 == 0) {
			*tail = cons(c->car, NULL);
			tail = &(*tail)->cdr;
		}
	drop_list(m);
	for (struct cons *c = f; c; c = c->cdr) /* reverse */
		r = cons(c->car, r);
	drop_list(f);
	long sum = 0, prev = -1;
	for (struct cons *c = r; c; c = c->cdr) {
		if (prev >= 0 && c->car >= prev)
			wl_die("reversed list out of order");
		prev = c->car;
		sum += c->car;
	}
	drop_list(r);
	return sum;
}

static long list_expect(long len, long salt)
{
	long sum = 0;
	for (long i = 1; i <= len; i++) {
		long v = 3 * (i + salt) + 1;
		if (v % 4 == 0)
			sum += v;
	}
	return sum;
}

/* ---- bignums -------------------------------------------------------------- */

__extension__ typedef unsigned __int128 u128;

struct big {
	size_t n; /* limbs in use */
	uint64_t limb[];
};

static struct big *big_new(size_t n)
{
	struct big *b = wl_xmalloc(sizeof(*b) + n * sizeof(uint64_t));
	nallocs++;
	b->n = n;
	return b;
}

static struct big *big_small(uint64_t v)
{
	struct big *b = big_new(1);
	b->limb[0] = v;
	return b;
}

static struct big *big_add(const struct big *a, const struct big *b)
{
	if (a->n < b->n) {
		const struct big *t = a;
		a = b;
		b = t;
	}
	struct big *c = big_new(a->n + 1);
	u128 carry = 0;
	for (size_t i = 0; i < a->n; i++) {
		carry += a->limb[i];
		if (i < b->n)
			carry += b->limb[i];
		c->limb[i] = (uint64_t)carry;
		carry >>= 64;
	}
	c->limb[a->n] = (uint64_t)carry;
	if (!carry)
		c->n--;
	return c;
}

static struct big *big_mul_small(const struct big *a, uint64_t m)
{
	struct big *c = big_new(a->n + 1);
	u128 carry = 0;
	for (size_t i = 0; i < a->n; i++) {
		carry += (u128)a->limb[i] * m;
		c->limb[i] = (uint64_t)carry;
		carry >>= 64;
	}
	c->limb[a->n] = (uint64_t)carry;
	if (!carry)
		c->n--;
	return c;
}

static void fib_run(long n)
{
	struct big *a = big_small(0), *b = big_small(1);
	uint64_t x = 0, y = 1;
	for (long i = 0; i < n; i++) {
		struct big *c = big_add(a, b);
		free(a);
		a = b;
		b = c;
		uint64_t z = x + y;
		x = y;
		y = z;
		if (a->limb[0] != x)
			wl_die("F(%ld): low limb %llx, want %llx", i + 1,
			       (unsigned long long)a->limb[0], (unsigned long long)x);
	}
	free(a);
	free(b);
}

static void fact_run(long n)
{
	struct big *f = big_small(1);
	uint64_t x = 1;
	for (long i = 2; i <= n; i++) {
		struct big *g = big_mul_small(f, (uint64_t)i);
		free(f);
		f = g;
		x *= (uint64_t)i;
		if (f->limb[0] != x)
			wl_die("%ld!: low limb wrong", i);
	}
	free(f);
}

int main(int argc, char **argv)
{
	wl_args(argc, argv);
	int keep = (int)wl_param("keep", 18), depth = (int)wl_param("depth", 16);
	long ntrees = wl_count("trees", 100), len = wl_param("len", 1000);
	long nlists = wl_count("lists", 24000), fib = wl_param("fib", 3000);
	long fibreps = wl_count("fibreps", 1500), fact = wl_param("fact", 1000);
	long factreps = wl_count("factreps", 1500);

	double t0 = wl_now();
	struct node *old = tree(keep, 1);
	for (long i = 0; i < ntrees; i++)
		for (int d = 4; d <= depth; d += 2) {
			/* as many nodes per depth: 2^(depth-d) trees of depth d */
			for (long k = 0; k < (1L << (depth - d)); k++) {
				struct node *t = tree(d, 1);
				check_tree(t, d, 1);
				drop(t);
			}
		}
	check_tree(old, keep, 1);
	drop(old);
	double t1 = wl_now();

	for (long i = 0; i < nlists; i++) {
		long salt = i % 7;
		if (list_round(len, salt) != list_expect(len, salt))
			wl_die("list round %ld: wrong sum", i);
	}
	double t2 = wl_now();

	for (long i = 0; i < fibreps; i++)
		fib_run(fib);
	for (long i = 0; i < factreps; i++)
		fact_run(fact);
	double t3 = wl_now();

	printf("symbolic allocs=%llu secs=%.3f mallocs_per_s=%.0f trees_s=%.3f lists_s=%.3f "
	       "bignums_s=%.3f hwm_mib=%.1f\n",
	       nallocs, t3 - t0, nallocs / (t3 - t0), t1 - t0, t2 - t1, t3 - t2,
	       wl_hwm_kib() / 1024.0);
	return 0;
}
