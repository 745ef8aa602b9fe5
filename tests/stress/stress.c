/*
 * stress.c - seeded multi-threaded stress of the whole allocator.
 *
 * Worker threads (more than the cores) run for a random number of
 * operations each, then exit; the main thread replaces every worker that
 * exits with a new one until the time is up. Each worker keeps a table of
 * live objects and, at random:
 *   - allocates: malloc, calloc, realloc(NULL), reallocarray, memalign,
 *     posix_memalign, aligned_alloc, valloc, pvalloc, kmem_cache_alloc (of
 *     shared caches with and without constructors), alloc_pages, vmalloc;
 *     sizes across the slab (<= 8 KiB), page (<= 4 MiB) and mapped (> 4 MiB)
 *     routes;
 *   - fills every object with a payload derived from its address and size
 *     (tests/api/check.h), and verifies it before the object is freed,
 *     reallocated or handed on;
 *   - frees objects, or trades them through a shared table of atomic slots
 *     with the other threads, so that most objects are freed by another
 *     thread than the one that allocated them;
 *   - grows and shrinks objects with realloc across the three routes
 *     (realloc chains: the same object is resized many times);
 *   - when it exits, leaves its live objects in an orphanage that the next
 *     workers adopt: objects outlive the threads that allocated them, and
 *     are freed or reallocated by threads that did not exist then.
 * Live bytes are held near a soft bound (--budget-mb): above it, new
 * malloc-family blocks and reallocs are small (page and vmalloc blocks are
 * not held to it, so a run goes some 50 % over).
 *
 * Meanwhile the main thread calls buddyslab_drain() (what malloc_trim(0)
 * does) every --trim-ms: it collects the remote frees of the workers'
 * live heaps (heap_reclaim_live), under their feet.
 *
 * At the end everything is verified and freed, buddyslab_drain() runs, and
 * the slab, large-page and vmalloc counts of buddyslab's reports must be
 * back where they were before the run: nothing lost.
 *
 * Two builds of this file:
 *   tests/stress/stress         links libbuddyslab.so: the interposed malloc
 *                               API, as a program sees it.
 *   tests/stress/stress_native  -DSTRESS_NATIVE, links libbuddyslab_test
 *                               (no interposition, internal checks on): the
 *                               malloc calls are the library's bs_* entry
 *                               points. This is the build that runs under
 *                               ThreadSanitizer (scripts/check), which must
 *                               own malloc itself.
 *
 * Usage: stress [--seconds N] [--threads N] [--seed N] [--budget-mb N]
 *               [--max-ops N] [--trim-ms N] [--avoid-known-races] [--quiet]
 * Defaults: 10 s, a drain every 25 ms (0: none), 8 threads, seed from the clock (printed, so that a run
 * can be repeated: per-thread sequences are a function of the seed and the
 * thread's serial number; the interleaving is not reproducible).
 * --avoid-known-races: no buddyslab_owns(), no caches with constructors:
 * the calls in which ThreadSanitizer found the data races that
 * tests/stress/test_owns_race and test_ctor_free_race show (fixed in
 * 19887ab). Kept for bisecting with TSan across older commits.
 * Exit status 0 when every check passed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#ifdef STRESS_NATIVE
#include "internal.h"
#define API_NAME "native (bs_* entry points, libbuddyslab_test)"
static void *a_malloc(size_t n) { return bs_malloc(n); }
static void a_free(void *p) { bs_free(p); }
static void *a_realloc(void *p, size_t n) { return bs_realloc(p, n); }
static void *a_calloc(size_t n, size_t m)
{
	size_t total;
	if (__builtin_mul_overflow(n, m, &total))
		return NULL;
	void *p = bs_malloc(total);
	if (p)
		memset(p, 0, total);
	return p;
}
static void *a_aligned(size_t align, size_t n) { return bs_aligned(align, n, "stress"); }
#define HAVE_FULL_API 0
#else
#define API_NAME "interposed (libbuddyslab.so)"
static void *a_malloc(size_t n) { return malloc(n); }
static void a_free(void *p) { free(p); }
static void *a_realloc(void *p, size_t n) { return realloc(p, n); }
static void *a_calloc(size_t n, size_t m) { return calloc(n, m); }
#define HAVE_FULL_API 1
#endif

#define KiB (1UL << 10)
#define MiB (1UL << 20)
#define PAGE 4096UL

/* ---- options -------------------------------------------------------------- */

static double opt_seconds = 10;
static int opt_threads = 8;
static uint64_t opt_seed;
static size_t opt_budget = 256 * MiB;
static unsigned long opt_max_ops; /* per worker lifetime cap; 0: random */
static int opt_quiet;
static double opt_trim_ms = 25;
static int opt_avoid_races;

/* ---- objects ----------------------------------------------------------------- */

enum kind {
	K_MALLOC,   /* malloc / calloc / realloc / reallocarray: may be realloc'ed */
	K_ALIGNED,  /* memalign & co.: aux = log2(alignment) */
	K_CACHE,    /* kmem_cache_alloc: aux = index in caches[] */
	K_PAGES,    /* alloc_pages: aux = order */
	K_VMALLOC,  /* vmalloc */
	NR_KINDS
};
static const char *const kind_names[NR_KINDS] = { "malloc", "aligned", "kmem_cache", "pages",
						  "vmalloc" };

/* One live object. Descriptors are themselves allocated with a_malloc and
 * travel (and are freed) with their object. */
struct item {
	void *p;
	size_t size;
	uint32_t kind;
	uint32_t aux;
	uint32_t born;      /* serial of the allocating thread */
	uint32_t reallocs;  /* length of its realloc chain so far */
};

/* Shared kmem_caches. */
#define CTOR_BYTE 0xc7
static void ctor_fill(void *obj);
static struct {
	const char *name;
	size_t size;
	unsigned long flags;
	int ctor;
	struct kmem_cache *cache;
} caches[] = {
	{ "stress-24", 24, 0, 0, NULL },
	{ "stress-ctor-200", 200, 0, 1, NULL },
	{ "stress-ctor-3000-hw", 3000, SLAB_HWCACHE_ALIGN, 1, NULL },
	{ "stress-70000", 70000, 0, 0, NULL },
};
#define NR_CACHES (sizeof(caches) / sizeof(caches[0]))
static size_t ctor_size_of(void *obj);

/* ---- shared state ---------------------------------------------------------- */

#define XCHG_SLOTS 1024
static _Atomic(struct item *) xchg[XCHG_SLOTS];

#define ORPHANS_MAX 8192
static pthread_mutex_t orphan_lock = PTHREAD_MUTEX_INITIALIZER;
static struct item *orphans[ORPHANS_MAX];
static unsigned nr_orphans;

#define MAX_SERIALS (1u << 20)
static _Atomic unsigned char thread_gone[MAX_SERIALS];

static atomic_int stop;
static int warming_up;
static _Atomic long live_bytes;

/* Totals. */
static _Atomic unsigned long st_ops, st_allocs[NR_KINDS], st_frees, st_cross_frees,
	st_outlived, st_reallocs, st_realloc_moves, st_trades, st_adopted, st_threads,
	st_cache_churn, st_max_chain, st_bytes, st_big;
/* Failures. */
static _Atomic unsigned long st_null, st_corrupt, st_unowned, st_misaligned, st_usable,
	st_notzero, st_ctor_bad, st_budget_waits;

static void note_corrupt(const struct item *it, const char *when, size_t at)
{
	atomic_fetch_add(&st_corrupt, 1);
	if (atomic_load(&st_corrupt) <= 10)
		printf("      corrupted %s object %p size %zu (born in thread #%u) at byte %zu, %s\n",
		       kind_names[it->kind], it->p, it->size, it->born, at, when);
}

/* ---- randomness --------------------------------------------------------------- */

static inline uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline size_t below(uint64_t *rng, size_t n)
{
	return (size_t)(splitmix64(rng) % n);
}

/* log-uniform in [lo, hi] */
static size_t log_uniform(uint64_t *rng, size_t lo, size_t hi)
{
	unsigned lo_bits = 63 - (unsigned)__builtin_clzl(lo);
	unsigned hi_bits = 63 - (unsigned)__builtin_clzl(hi);
	unsigned bits = lo_bits + (unsigned)below(rng, hi_bits - lo_bits + 1);
	size_t base = (size_t)1 << bits;
	size_t size = base + below(rng, base);
	return size < lo ? lo : size > hi ? hi : size;
}

/* A size on one of the three routes: slab (70 %: 1 B .. 1 KiB, 15 %: to 8
 * KiB), page (13 %: 8 KiB .. 4 MiB, mostly small), mapped (2 %: 4 .. 12 MiB). */
static size_t random_size(uint64_t *rng)
{
	unsigned k = (unsigned)below(rng, 1000);
	if (k < 700)
		return log_uniform(rng, 1, 1024);
	if (k < 850)
		return log_uniform(rng, 1025, 8 * KiB);
	if (k < 980)
		return log_uniform(rng, 8 * KiB + 1, 4 * MiB);
	return 4 * MiB + 1 + below(rng, 8 * MiB);
}

/* ---- object life ------------------------------------------------------------- */

static void ctor_fill(void *obj)
{
	/* the constructor cannot know its cache: both ctor caches' objects
	 * are at least 200 bytes; fill the first 200, then the rest below */
	memset(obj, CTOR_BYTE, 200);
}

static size_t ctor_size_of(void *obj)
{
	(void)obj;
	return 200;
}

static void constructed_restore(struct item *it)
{
	memset(it->p, CTOR_BYTE, ctor_size_of(it->p));
}

static int is_big(size_t size)
{
	return size > 4 * MiB;
}

/* fill - the payload of a fresh object (over its requested size). */
static void fill(struct item *it)
{
	pattern_fill(it->p, it->size);
}

/* verify - the payload is intact; counts and reports a corruption. */
static int verify(struct item *it, const char *when)
{
	size_t at = pattern_check_seed(it->p, it->size, pattern_seed(it->p, it->size));
	if (at != it->size) {
		note_corrupt(it, when, at);
		return 0;
	}
	return 1;
}

static void count_free(struct item *it, unsigned me)
{
	atomic_fetch_add_explicit(&st_frees, 1, memory_order_relaxed);
	if (it->born != me)
		atomic_fetch_add_explicit(&st_cross_frees, 1, memory_order_relaxed);
	if (it->born < MAX_SERIALS && atomic_load_explicit(&thread_gone[it->born], memory_order_relaxed))
		atomic_fetch_add_explicit(&st_outlived, 1, memory_order_relaxed);
}

/* release - verify, then free an object the way it was allocated, and its
 * descriptor. */
static void release(struct item *it, unsigned me)
{
	verify(it, "before free");
	if (!opt_avoid_races && buddyslab_owns(it->p) != 1)
		atomic_fetch_add(&st_unowned, 1);
	atomic_fetch_sub_explicit(&live_bytes, (long)it->size, memory_order_relaxed);
	count_free(it, me);
	switch (it->kind) {
	case K_MALLOC:
	case K_ALIGNED:
		a_free(it->p);
		break;
	case K_CACHE:
		if (caches[it->aux].ctor)
			constructed_restore(it);
		kmem_cache_free(caches[it->aux].cache, it->p);
		break;
	case K_PAGES:
		__free_pages(it->p, it->aux);
		break;
	case K_VMALLOC:
		vfree(it->p);
		break;
	}
	a_free(it);
}

static void check_usable(struct item *it)
{
#if HAVE_FULL_API
	if (it->kind == K_MALLOC || it->kind == K_ALIGNED) {
		size_t u = malloc_usable_size(it->p);
		if (u < it->size)
			atomic_fetch_add(&st_usable, 1);
	}
#else
	(void)it;
#endif
}

/* new_object - allocate one object of a random kind and route. NULL if the
 * allocation failed (counted) or the budget is spent. */
static struct item *new_object(uint64_t *rng, unsigned me)
{
	struct item *it = a_malloc(sizeof(*it));
	if (!it) {
		atomic_fetch_add(&st_null, 1);
		return NULL;
	}
	memset(it, 0, sizeof(*it));
	it->born = me;
	unsigned k = (unsigned)below(rng, 100);
	size_t size = random_size(rng);
	if (atomic_load_explicit(&live_bytes, memory_order_relaxed) + (long)size > (long)opt_budget) {
		size = log_uniform(rng, 1, 4096); /* over budget: small ones only */
		atomic_fetch_add_explicit(&st_budget_waits, 1, memory_order_relaxed);
	}
	void *p = NULL;
	if (k < 50) {
		it->kind = K_MALLOC;
		p = a_malloc(size);
	} else if (k < 60) {
		it->kind = K_MALLOC;
		size_t n = 1 + below(rng, 16), m = (size + n - 1) / n;
		size = n * m;
		p = a_calloc(n, m);
		if (p) {
			const unsigned char *b = p;
			for (size_t i = 0; i < size; i += (i < 4096 ? 1 : 509))
				if (b[i]) {
					atomic_fetch_add(&st_notzero, 1);
					break;
				}
		}
	} else if (k < 66) {
		it->kind = K_MALLOC;
#if HAVE_FULL_API
		p = below(rng, 2) ? realloc(NULL, size) : reallocarray(NULL, 1, size);
#else
		p = a_realloc(NULL, size);
#endif
	} else if (k < 80) {
		/* aligned: 2^4 .. 2^16, sometimes 2^21 or 2^23 (mapped route) */
		unsigned lg = 4 + (unsigned)below(rng, 13);
		if (below(rng, 50) == 0)
			lg = below(rng, 2) ? 21 : 23;
		size_t align = (size_t)1 << lg;
		it->kind = K_ALIGNED;
		it->aux = lg;
#if HAVE_FULL_API
		switch (below(rng, 5)) {
		case 0:
			p = memalign(align, size);
			break;
		case 1:
			if (posix_memalign(&p, align, size) != 0)
				p = NULL;
			break;
		case 2:
			p = aligned_alloc(align, size);
			break;
		case 3:
			p = valloc(size);
			it->aux = 12;
			break;
		default:
			p = pvalloc(size);
			size = (size + PAGE - 1) & ~(PAGE - 1);
			it->aux = 12;
			break;
		}
#else
		p = a_aligned(align, size);
#endif
	} else if (k < 92 && !warming_up) {
		unsigned c = (unsigned)below(rng, NR_CACHES);
		if (opt_avoid_races && caches[c].ctor)
			c = below(rng, 2) ? 0 : 3; /* the caches without constructors */
		it->kind = K_CACHE;
		it->aux = c;
		size = caches[c].size;
		gfp_t gfp = below(rng, 4) == 0 ? __GFP_ZERO : 0;
		p = kmem_cache_alloc(caches[c].cache, gfp);
		if (p && (caches[c].ctor || gfp)) {
			/* zeroed, or else in its constructed state */
			const unsigned char *b = p;
			size_t n = gfp ? size : ctor_size_of(p);
			unsigned char want = gfp ? 0 : CTOR_BYTE;
			for (size_t i = 0; i < n; i++)
				if (b[i] != want) {
					atomic_fetch_add(&st_ctor_bad, 1);
					break;
				}
		}
	} else if (k < 97) {
		unsigned order = (unsigned)below(rng, 6);
		it->kind = K_PAGES;
		it->aux = order;
		size = PAGE << order;
		p = alloc_pages(below(rng, 4) == 0 ? __GFP_ZERO : 0, order);
		if (p && ((uintptr_t)p & (size - 1)))
			atomic_fetch_add(&st_misaligned, 1);
	} else {
		it->kind = K_VMALLOC;
		size = log_uniform(rng, 1, 6 * MiB);
		p = below(rng, 2) ? vmalloc(size) : vzalloc(size);
	}
	if (!p) {
		atomic_fetch_add(&st_null, 1);
		if (atomic_load(&st_null) <= 5)
			printf("      %s of %zu bytes returned NULL (errno %d)\n",
			       kind_names[it->kind], size, errno);
		a_free(it);
		return NULL;
	}
	it->p = p;
	it->size = size;
	if (it->kind == K_ALIGNED && ((uintptr_t)p & (((size_t)1 << it->aux) - 1)))
		atomic_fetch_add(&st_misaligned, 1);
	if (((uintptr_t)p & 15) && it->kind != K_CACHE)
		atomic_fetch_add(&st_misaligned, 1);
	if (!opt_avoid_races && buddyslab_owns(p) != 1)
		atomic_fetch_add(&st_unowned, 1);
	check_usable(it);
	fill(it);
	atomic_fetch_add_explicit(&live_bytes, (long)size, memory_order_relaxed);
	atomic_fetch_add_explicit(&st_allocs[it->kind], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&st_bytes, size, memory_order_relaxed);
	if (is_big(size))
		atomic_fetch_add_explicit(&st_big, 1, memory_order_relaxed);
	return it;
}

static int resize_once(struct item *it, uint64_t *rng);

/* resize - realloc a malloc-kind object to a random size on any route;
 * the kept prefix must survive. Other kinds are verified and kept. */
static void resize(struct item *it, uint64_t *rng)
{
	if (it->kind != K_MALLOC && it->kind != K_ALIGNED) {
		verify(it, "check in place");
		return;
	}
	/* a chain: several reallocs in a row, each checked */
	for (unsigned n = 1 + (unsigned)below(rng, 6); n > 0; n--)
		if (!resize_once(it, rng))
			return;
}

static int resize_once(struct item *it, uint64_t *rng)
{
	if (!verify(it, "before realloc"))
		return 0;
	size_t size;
	unsigned k = (unsigned)below(rng, 10);
	if (k < 4)
		size = it->size + 1 + below(rng, it->size + 64); /* grow */
	else if (k < 7)
		size = it->size / 2 + 1;                          /* shrink */
	else
		size = random_size(rng);                          /* jump routes */
	if (atomic_load_explicit(&live_bytes, memory_order_relaxed) + (long)size > (long)opt_budget)
		size = it->size / 2 + 1;
	uint64_t seed = pattern_seed(it->p, it->size);
	size_t keep = size < it->size ? size : it->size;
	void *q;
#if HAVE_FULL_API
	if (below(rng, 4) == 0)
		q = reallocarray(it->p, 1, size);
	else
#endif
		q = a_realloc(it->p, size);
	if (!q) {
		atomic_fetch_add(&st_null, 1);
		if (atomic_load(&st_null) <= 5)
			printf("      realloc(%p, %zu) from %zu returned NULL (errno %d)\n", it->p,
			       size, it->size, errno);
		return 0; /* the old block is intact */
	}
	size_t at = pattern_check_seed(q, keep, seed);
	if (at != keep) {
		struct item moved = *it;
		moved.p = q;
		note_corrupt(&moved, "after realloc (kept prefix)", at);
	}
	if (q != it->p)
		atomic_fetch_add_explicit(&st_realloc_moves, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&live_bytes, (long)size - (long)it->size, memory_order_relaxed);
	it->p = q;
	it->size = size;
	it->kind = K_MALLOC; /* alignment is not kept by realloc */
	it->reallocs++;
	unsigned long chain = it->reallocs, max = atomic_load(&st_max_chain);
	while (chain > max && !atomic_compare_exchange_weak(&st_max_chain, &max, chain))
		;
	if (!opt_avoid_races && buddyslab_owns(q) != 1)
		atomic_fetch_add(&st_unowned, 1);
	check_usable(it);
	fill(it);
	atomic_fetch_add_explicit(&st_reallocs, 1, memory_order_relaxed);
	return 1;
}

/* cache_churn - a private kmem_cache made, used and destroyed while the
 * other threads use theirs (kmem_cache_destroy's generation flush). */
static void cache_churn(uint64_t *rng)
{
	size_t size = 8 + below(rng, 600);
	struct kmem_cache *c = kmem_cache_create("stress-churn", size, 0, 0, NULL);
	if (!c) {
		atomic_fetch_add(&st_null, 1);
		return;
	}
	void *objs[64];
	unsigned n = 1 + (unsigned)below(rng, 64);
	for (unsigned i = 0; i < n; i++) {
		objs[i] = kmem_cache_alloc(c, 0);
		if (!objs[i]) {
			atomic_fetch_add(&st_null, 1);
			n = i;
			break;
		}
		pattern_fill(objs[i], size);
	}
	for (unsigned i = 0; i < n; i++) {
		if (!pattern_check(objs[i], size))
			atomic_fetch_add(&st_corrupt, 1);
		kmem_cache_free(c, objs[i]);
	}
	kmem_cache_destroy(c);
	atomic_fetch_add(&st_cache_churn, 1);
}

/* ---- workers ---------------------------------------------------------------- */

#define LOCAL_SLOTS 128

struct worker {
	pthread_t thread;
	unsigned serial;
	atomic_int done;
	int running;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	unsigned me = w->serial;
	uint64_t rng = opt_seed ^ ((uint64_t)me * 0xd1342543de82ef95ULL);
	struct item *local[LOCAL_SLOTS];
	memset(local, 0, sizeof(local));
	unsigned long life = opt_max_ops ? opt_max_ops : 100 + below(&rng, 8000);
	/*
	 * The first worker lives short, so that a thread is replaced (and its
	 * objects orphaned) however slow the machine: under ThreadSanitizer on
	 * a loaded machine six workers have made as few as 2,300 operations
	 * each in 10 s, and none of the first generation had ended.
	 */
	if (me == 0 && !opt_max_ops)
		life = 100 + below(&rng, 300);
	if (warming_up)
		life = 300;
	unsigned long ops = 0;

	/* adopt some orphans: objects of threads that have exited */
	pthread_mutex_lock(&orphan_lock);
	for (unsigned i = 0; i < LOCAL_SLOTS / 2 && nr_orphans > 0; i++) {
		unsigned slot = (unsigned)below(&rng, LOCAL_SLOTS);
		if (local[slot])
			continue;
		local[slot] = orphans[--nr_orphans];
		atomic_fetch_add_explicit(&st_adopted, 1, memory_order_relaxed);
	}
	pthread_mutex_unlock(&orphan_lock);

	while (ops < life && !atomic_load_explicit(&stop, memory_order_relaxed)) {
		ops++;
		unsigned op = (unsigned)below(&rng, 1000);
		unsigned slot = (unsigned)below(&rng, LOCAL_SLOTS);
		struct item *it = local[slot];
		if (op < 380) {
			/* allocate into a slot; what was there is freed */
			if (it) {
				release(it, me);
				local[slot] = NULL;
			}
			local[slot] = new_object(&rng, me);
		} else if (op < 580) {
			/* trade with the other threads */
			if (it && !verify(it, "before trade")) {
				local[slot] = NULL; /* leak it: already reported */
				continue;
			}
			struct item *got = atomic_exchange_explicit(&xchg[below(&rng, XCHG_SLOTS)], it,
								    memory_order_acq_rel);
			local[slot] = got;
			if (got)
				atomic_fetch_add_explicit(&st_trades, 1, memory_order_relaxed);
		} else if (op < 760) {
			if (it) {
				release(it, me);
				local[slot] = NULL;
			}
		} else if (op < 880) {
			if (it)
				resize(it, &rng);
		} else if (op < 940) {
			if (it)
				verify(it, "check in place");
		} else if (op < 999) {
			/* a burst of small same-size objects: the fast paths */
			size_t size = log_uniform(&rng, 1, 512);
			void *burst[32];
			unsigned n = 1 + (unsigned)below(&rng, 32);
			for (unsigned i = 0; i < n; i++) {
				burst[i] = a_malloc(size);
				if (!burst[i]) {
					atomic_fetch_add(&st_null, 1);
					n = i;
					break;
				}
				pattern_fill(burst[i], size);
			}
			for (unsigned i = n; i-- > 0;) {
				if (!pattern_check(burst[i], size))
					atomic_fetch_add(&st_corrupt, 1);
				a_free(burst[i]);
			}
			atomic_fetch_add_explicit(&st_allocs[K_MALLOC], n, memory_order_relaxed);
			atomic_fetch_add_explicit(&st_frees, n, memory_order_relaxed);
		} else {
			cache_churn(&rng);
		}
	}
	atomic_fetch_add_explicit(&st_ops, ops, memory_order_relaxed);

	/* leave: live objects go to the orphanage (or are freed if it is full) */
	pthread_mutex_lock(&orphan_lock);
	for (unsigned i = 0; i < LOCAL_SLOTS; i++) {
		if (local[i] && nr_orphans < ORPHANS_MAX) {
			orphans[nr_orphans++] = local[i];
			local[i] = NULL;
		}
	}
	pthread_mutex_unlock(&orphan_lock);
	for (unsigned i = 0; i < LOCAL_SLOTS; i++)
		if (local[i])
			release(local[i], me);
	if (me < MAX_SERIALS)
		atomic_store(&thread_gone[me], 1);
	atomic_store(&w->done, 1);
	return NULL;
}

/* ---- nothing lost: the library's own counts -------------------------------------- */

struct counts {
	unsigned long slab_objs;   /* active objects of every cache */
	unsigned long large_pages; /* zoneinfo "large": PAGE_LARGE + alloc_pages blocks */
	unsigned long vm_areas;    /* vmalloc areas */
	unsigned long live_collected; /* zoneinfo: objects collected from live heaps */
	int ok;
};

static unsigned long field_after(const char *text, const char *key)
{
	const char *s = strstr(text, key);
	return s ? strtoul(s + strlen(key), NULL, 10) : ~0UL;
}

static struct counts library_counts(void)
{
	struct counts c = { 0, 0, 0, 0, 0 };
	int fd = memfd_create("stress-report", 0);
	if (fd < 0)
		return c;
	buddyslab_report(fd, BUDDYSLAB_REPORT_SLABINFO | BUDDYSLAB_REPORT_ZONEINFO);
	off_t len = lseek(fd, 0, SEEK_END);
	char *text = mmap(NULL, (size_t)len + 1, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (text == MAP_FAILED)
		return c;
	/* slabinfo lines: name active_objs num_objs ... */
	const char *line = strstr(text, "slabinfo - version");
	while (line && (line = strchr(line, '\n')) != NULL) {
		line++;
		if (*line == '#' || *line == '\0')
			continue;
		const char *s = line;
		while (*s && *s != ' ')
			s++;
		c.slab_objs += strtoul(s, NULL, 10);
	}
	c.large_pages = field_after(text, "        large    ");
	c.vm_areas = field_after(text, "  vmalloc areas  ");
	c.live_collected = field_after(text, "  live collected ");
	c.ok = c.large_pages != ~0UL && c.vm_areas != ~0UL;
	munmap(text, (size_t)len + 1);
	return c;
}

/* ---- main ------------------------------------------------------------------------ */

static void usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [--seconds N] [--threads N] [--seed N] [--budget-mb N] "
			"[--max-ops N] [--trim-ms N] [--avoid-known-races] [--quiet]\n", argv0);
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	opt_seed = (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid();
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--quiet")) {
			opt_quiet = 1;
			continue;
		}
		if (!strcmp(a, "--avoid-known-races")) {
			opt_avoid_races = 1;
			continue;
		}
		if (!v)
			usage(argv[0]);
		if (!strcmp(a, "--seconds"))
			opt_seconds = atof(v);
		else if (!strcmp(a, "--threads"))
			opt_threads = atoi(v);
		else if (!strcmp(a, "--seed"))
			opt_seed = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--budget-mb"))
			opt_budget = (size_t)strtoul(v, NULL, 0) * MiB;
		else if (!strcmp(a, "--max-ops"))
			opt_max_ops = strtoul(v, NULL, 0);
		else if (!strcmp(a, "--trim-ms"))
			opt_trim_ms = atof(v);
		else
			usage(argv[0]);
		i++;
	}
	if (opt_threads < 1 || opt_threads > 1024 || opt_seconds <= 0 || opt_budget < 16 * MiB)
		usage(argv[0]);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	parse_args(argc, argv);
#ifndef STRESS_NATIVE
	CHECK_REQUIRE_BUDDYSLAB();
#endif
	printf("stress: %s, seed %#llx, %d threads (%ld cores), %.0f s, budget %zu MiB\n",
	       API_NAME, (unsigned long long)opt_seed, opt_threads, sysconf(_SC_NPROCESSORS_ONLN),
	       opt_seconds, opt_budget / MiB);

	/* warm up: as many threads at once as the run will have, so that
	 * glibc's thread-stack cache (whose stacks keep their TLS blocks) is
	 * as full before the baseline of the library's counts as after */
	struct worker *workers = calloc((size_t)opt_threads, sizeof(*workers));
	warming_up = 1;
	for (int i = 0; i < opt_threads; i++) {
		workers[i].serial = MAX_SERIALS - 1 - (unsigned)i;
		workers[i].running = pthread_create(&workers[i].thread, NULL, worker_main,
						    &workers[i]) == 0;
	}
	for (int i = 0; i < opt_threads; i++)
		if (workers[i].running)
			pthread_join(workers[i].thread, NULL);
	memset(workers, 0, (size_t)opt_threads * sizeof(*workers));
	/* the warm-up's objects are orphans: free them, then count */
	pthread_mutex_lock(&orphan_lock);
	while (nr_orphans)
		release(orphans[--nr_orphans], UINT_MAX);
	pthread_mutex_unlock(&orphan_lock);
	for (unsigned i = 0; i < XCHG_SLOTS; i++) {
		struct item *it = atomic_exchange(&xchg[i], NULL);
		if (it)
			release(it, UINT_MAX);
	}
	warming_up = 0;
	/* the run's totals start here: the warm-up's threads ended and main
	 * freed their objects, which would satisfy the checks on cross-thread
	 * frees and objects outliving their thread by themselves */
	st_ops = st_frees = st_cross_frees = st_outlived = st_reallocs = 0;
	st_realloc_moves = st_trades = st_adopted = st_cache_churn = st_max_chain = 0;
	st_bytes = st_big = 0;
	for (size_t k = 0; k < NR_KINDS; k++)
		st_allocs[k] = 0;
	/* baseline: before the shared caches exist (their descriptors and each
	 * heap's kmem_cache_cpu for them are slab objects too) */
	buddyslab_drain();
	struct counts before = library_counts();
	for (size_t c = 0; c < NR_CACHES; c++) {
		caches[c].cache = kmem_cache_create(caches[c].name, caches[c].size, 0, caches[c].flags,
						    caches[c].ctor ? ctor_fill : NULL);
		if (!caches[c].cache) {
			printf("FAIL kmem_cache_create(%s)\n", caches[c].name);
			return 1;
		}
	}

	double t0 = check_now_s(), deadline = t0 + opt_seconds, last_report = t0, last_trim = t0;
	unsigned long trims = 0;
	unsigned serial = 0;
	int create_failed = 0;
	for (int i = 0; i < opt_threads; i++) {
		workers[i].serial = serial++;
		atomic_store(&workers[i].done, 0);
		if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0)
			create_failed++;
		else
			workers[i].running = 1;
		atomic_fetch_add(&st_threads, 1);
	}
	/* past the deadline until the first worker (whose life is short) has
	 * been replaced, so that the run always has a second generation */
	while (check_now_s() < deadline ||
	       (st_threads == (unsigned long)opt_threads && !create_failed)) {
		int replaced = 0;
		for (int i = 0; i < opt_threads; i++) {
			if (!workers[i].running || !atomic_load(&workers[i].done))
				continue;
			pthread_join(workers[i].thread, NULL);
			workers[i].serial = serial++;
			atomic_store(&workers[i].done, 0);
			workers[i].running = 0;
			if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0)
				create_failed++;
			else
				workers[i].running = 1;
			atomic_fetch_add(&st_threads, 1);
			replaced = 1;
		}
		if (!replaced) {
			struct timespec nap = { 0, 2 * 1000 * 1000 };
			nanosleep(&nap, NULL);
		}
		if (opt_trim_ms > 0 && (check_now_s() - last_trim) * 1000 >= opt_trim_ms) {
			buddyslab_drain(); /* collects the workers' live heaps */
			trims++;
			last_trim = check_now_s();
		}
		if (!opt_quiet && check_now_s() - last_report >= 10) {
			last_report = check_now_s();
			printf("  %4.0f s: %lu ops, %lu threads, %lu cross-thread frees, live %ld MiB\n",
			       last_report - t0, (unsigned long)st_ops, (unsigned long)st_threads,
			       (unsigned long)st_cross_frees, (long)live_bytes / (long)MiB);
		}
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < opt_threads; i++)
		if (workers[i].running)
			pthread_join(workers[i].thread, NULL);
	double secs = check_now_s() - t0;
	/* what the workers did: main's frees below count as cross-thread
	 * frees of objects that outlived their threads, every one */
	unsigned long worker_cross_frees = st_cross_frees, worker_outlived = st_outlived;

	/* everything left: orphans and traded objects, freed by main */
	unsigned long left = 0;
	pthread_mutex_lock(&orphan_lock);
	while (nr_orphans) {
		release(orphans[--nr_orphans], UINT_MAX);
		left++;
	}
	pthread_mutex_unlock(&orphan_lock);
	for (unsigned i = 0; i < XCHG_SLOTS; i++) {
		struct item *it = atomic_exchange(&xchg[i], NULL);
		if (it) {
			release(it, UINT_MAX);
			left++;
		}
	}
	for (size_t c = 0; c < NR_CACHES; c++)
		kmem_cache_destroy(caches[c].cache);
	buddyslab_drain();
	struct counts after = library_counts();

	unsigned long allocs = 0;
	for (int k = 0; k < NR_KINDS; k++)
		allocs += st_allocs[k];
	printf("stress: %.1f s, %lu threads created, %lu worker ops, %lu allocations (%lu MiB; "
	       "malloc %lu, aligned %lu, kmem_cache %lu, pages %lu, vmalloc %lu; %lu > 4 MiB), "
	       "%lu frees, %lu cross-thread frees, %lu freed after their thread exited, "
	       "%lu trades, %lu adopted orphans, %lu reallocs (%lu moved, longest chain %lu), "
	       "%lu cache create/destroy, %lu freed by main at the end\n",
	       secs, (unsigned long)st_threads, (unsigned long)st_ops, allocs,
	       (unsigned long)st_bytes / MiB, (unsigned long)st_allocs[K_MALLOC],
	       (unsigned long)st_allocs[K_ALIGNED], (unsigned long)st_allocs[K_CACHE],
	       (unsigned long)st_allocs[K_PAGES], (unsigned long)st_allocs[K_VMALLOC],
	       (unsigned long)st_big, (unsigned long)st_frees, (unsigned long)st_cross_frees,
	       (unsigned long)st_outlived, (unsigned long)st_trades, (unsigned long)st_adopted,
	       (unsigned long)st_reallocs, (unsigned long)st_realloc_moves,
	       (unsigned long)st_max_chain, (unsigned long)st_cache_churn, left);
	printf("stress: %lu drains by main while the workers ran, %lu objects collected from "
	       "live heaps\n", trims, after.live_collected - before.live_collected);
	printf("stress: library counts before/after: slab objects %lu/%lu, large pages %lu/%lu, "
	       "vmalloc areas %lu/%lu\n", before.slab_objs, after.slab_objs, before.large_pages,
	       after.large_pages, before.vm_areas, after.vm_areas);

	CHECK("stress-threads-created", create_failed == 0);
	CHECKF("stress-no-null", st_null == 0, "%lu allocations returned NULL",
	       (unsigned long)st_null);
	CHECKF("stress-payload-intact", st_corrupt == 0, "%lu corrupted objects",
	       (unsigned long)st_corrupt);
	CHECKF("stress-owned", st_unowned == 0, "%lu live objects not owned by buddyslab",
	       (unsigned long)st_unowned);
	CHECKF("stress-aligned", st_misaligned == 0, "%lu misaligned objects",
	       (unsigned long)st_misaligned);
	CHECKF("stress-usable-size", st_usable == 0, "%lu usable sizes below the request",
	       (unsigned long)st_usable);
	CHECKF("stress-calloc-zero", st_notzero == 0, "%lu calloc blocks not zeroed",
	       (unsigned long)st_notzero);
	CHECKF("stress-ctor-state", st_ctor_bad == 0,
	       "%lu kmem_cache objects not in their constructed state",
	       (unsigned long)st_ctor_bad);
	CHECKF("stress-cross-thread-frees", worker_cross_frees > 0, "no worker freed another's object");
	CHECKF("stress-objects-outlived-threads", worker_outlived > 0,
	       "no worker freed an object of a thread that had exited");
	CHECK("stress-threads-recreated", st_threads > (unsigned long)opt_threads);
	CHECK("stress-realloc-chains", st_reallocs > 0);
	CHECK("stress-all-routes", st_big > 0 || secs < 2);
	CHECK("stress-report-parsed", before.ok && after.ok);
	CHECKF("stress-nothing-lost-slab", after.slab_objs <= before.slab_objs,
	       "slab objects in use: %lu before, %lu after freeing everything",
	       before.slab_objs, after.slab_objs);
	CHECKF("stress-nothing-lost-pages", after.large_pages <= before.large_pages,
	       "large pages in use: %lu before, %lu after", before.large_pages, after.large_pages);
	CHECKF("stress-nothing-lost-vmalloc", after.vm_areas <= before.vm_areas,
	       "vmalloc areas: %lu before, %lu after", before.vm_areas, after.vm_areas);
	free(workers);
	return CHECK_DONE();
}
