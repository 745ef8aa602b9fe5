/*
 * fuzz_api.c - a differential fuzz target: random sequences of the whole
 * API, checked against a shadow model.
 *
 * The input is a program: each operation is one byte (the opcode) and a few
 * argument bytes. The model keeps NSLOTS slots; a slot holds a live block,
 * how it was allocated, its length and the seed of its contents. Every
 * block is filled with pattern_fill_seed() (byte i depends on the seed and
 * i only), so the model never copies memory: a block is right if it holds
 * its seed's first len bytes (all of the first 64 KiB, then the first and
 * last 64 bytes of every page: see pattern_pass). The checks:
 *   - every allocation: owned by buddyslab, aligned (16, or the alignment
 *     asked for, or its size for alloc_pages), calloc/vzalloc/__GFP_ZERO
 *     memory zeroed, kmem_cache objects in their constructed state;
 *   - every free, realloc and verify: the contents; after realloc, the
 *     prefix min(old, new); malloc_usable_size >= the length, and the whole
 *     usable size is writable and kept by realloc;
 *   - impossible sizes and bad alignments: NULL with ENOMEM or EINVAL,
 *     posix_memalign's result and untouched *memptr, a failed realloc keeps
 *     the old block.
 * An operation may also run the next few operations in a new thread (then
 * joined): frees from another thread, heaps of exited threads.
 * Each input starts and ends with no block live (everything left is checked
 * and freed), so inputs are independent.
 *
 * Built two ways (tests/README.md):
 *   scripts/fuzz        with clang -fsanitize=fuzzer: libFuzzer drives it
 *   tests/fuzz/fuzz_replay   (make check) fuzz_main.c's main(): replays
 *                       tests/fuzz/regressions/ and a bounded run of
 *                       random inputs
 * Both link the interposing library: the calls below are buddyslab's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

#define KiB (1UL << 10)
#define MiB (1UL << 20)
#define PAGE 4096UL
#define NSLOTS 32
#define NCACHES 4
#define LIVE_BUDGET (48 * MiB)
#define MAX_THREAD_OPS 16

enum kind { K_MALLOC, K_ALIGNED, K_CACHE, K_PAGES, K_VMALLOC };

struct slot {
	unsigned char *p;
	size_t len;       /* bytes of the pattern the block must hold */
	uint64_t seed;
	int kind;
	unsigned aux;     /* cache index, page order, log2 alignment */
};

struct cache_model {
	struct kmem_cache *cache;
	size_t size;
	int ctor;
	unsigned live;
};

struct model {
	struct slot slot[NSLOTS];
	struct cache_model cache[NCACHES];
	size_t live_bytes;
	uint64_t seed_counter;
	const uint8_t *data;
	size_t size, pos;
	int depth;
};

/* ---- failures ------------------------------------------------------------------ */

static void fail(const char *what, const void *p, size_t a, size_t b)
{
	fprintf(stderr, "fuzz_api: FAILED: %s (pointer %p, %zu, %zu)\n", what, p, a, b);
	fflush(stderr);
	abort();
}

#define REQUIRE(cond, what, p, a, b)                  \
	do {                                          \
		if (!(cond))                          \
			fail(what, (p), (a), (b));    \
	} while (0)

/* ---- input ---------------------------------------------------------------------- */

static int more(struct model *m)
{
	return m->pos < m->size;
}

static unsigned byte(struct model *m)
{
	return m->pos < m->size ? m->data[m->pos++] : 0;
}

static unsigned u16(struct model *m)
{
	unsigned lo = byte(m);
	return lo | byte(m) << 8;
}

/* a size on one of the routes, from the next bytes: mostly small (the
 * fast paths), page-route sizes log-uniform, mapped ones rare */
static size_t size_arg(struct model *m)
{
	unsigned r = byte(m);
	switch (r % 32) {
	case 0:
		return 0;
	case 1: case 2: case 3: case 4: case 5: case 6: case 7: case 8:
	case 9: case 10: case 11: case 12: case 13: case 14: case 15: case 16:
		return 1 + u16(m) % 1024;                      /* slab, small */
	case 17: case 18: case 19: case 20: case 21: case 22:
		return 1025 + u16(m) % (8 * KiB);              /* slab up to 8 KiB and just over */
	case 23: case 24: case 25: case 26: case 27: {
		unsigned bits = 13 + byte(m) % 10;             /* pages: 8 KiB .. 4 MiB */
		size_t base = (size_t)1 << bits;
		return base + (((size_t)u16(m) << 8) % base);
	}
	case 28: case 29:
		return PAGE * (1 + byte(m) % 64) + (byte(m) % 3) - 1; /* page boundaries */
	case 30:
		return 4 * MiB - 2 + byte(m) % 5;              /* the page/mapped edge */
	default:
		return 4 * MiB + ((size_t)u16(m) << 7);         /* mapped, up to 12 MiB */
	}
}

static size_t huge_arg(struct model *m)
{
	static const size_t huge[] = {
		SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 4095, SIZE_MAX - 4096, SIZE_MAX / 2,
		SIZE_MAX / 2 + 1, (size_t)PTRDIFF_MAX - 4095, (size_t)1 << 47,
	};
	return huge[byte(m) % (sizeof(huge) / sizeof(huge[0]))];
}

static unsigned slot_arg(struct model *m)
{
	return byte(m) % NSLOTS;
}

/* ---- block checks ------------------------------------------------------------------ */

/* Which bytes of a block hold (and are checked for) its pattern: all of the
 * first 64 KiB, then the first and last 64 bytes of every page, where a
 * block that shares a page with another, or lost one, shows. The rule
 * depends on the offset only, so that any prefix of a block (what realloc
 * keeps) follows it too; big blocks cost a few stores per page, not a
 * memset. */
#define FULL_BYTES (64 * KiB)
#define EDGE 64

/* span - write (@write) or check the pattern of bytes [a, a + n) (a % 8 == 0):
 * byte i of a pattern is a function of the seed and i only */
static void span(struct slot *s, size_t a, size_t n, int write, const char *when)
{
	const uint64_t K = 0x0101010101010101ULL;
	if (write) {
		pattern_fill_seed(s->p + a, n, s->seed + a * K);
		return;
	}
	size_t at = pattern_check_seed(s->p + a, n, s->seed + a * K);
	if (at != n) {
		fprintf(stderr, "fuzz_api: block %p of %zu bytes (kind %d) differs at byte %zu, %s\n",
			s->p, s->len, s->kind, a + at, when);
		fail("contents", s->p, s->len, a + at);
	}
}

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* pattern_pass - write or check the pattern over [0, len) by the rule above */
static void pattern_pass(struct slot *s, size_t len, int write, const char *when)
{
	span(s, 0, min_size(len, FULL_BYTES), write, when);
	for (size_t a = FULL_BYTES; a < len; a += PAGE) {
		span(s, a, min_size(EDGE, len - a), write, when);
		if (a + PAGE - EDGE < len)
			span(s, a + PAGE - EDGE, min_size(EDGE, len - (a + PAGE - EDGE)), write, when);
	}
}

static void fill(struct model *m, struct slot *s)
{
	s->seed = 0x9e3779b97f4a7c15ULL * ++m->seed_counter;
	pattern_pass(s, s->len, 1, NULL);
}

static void verify(struct slot *s, const char *when)
{
	pattern_pass(s, s->len, 0, when);
}

static void check_new(struct slot *s, size_t align)
{
	REQUIRE(((uintptr_t)s->p & (align - 1)) == 0, "alignment", s->p, align, s->len);
	REQUIRE(buddyslab_owns(s->p) == 1, "buddyslab_owns of a live block", s->p, s->len, 0);
	if (s->kind == K_MALLOC || s->kind == K_ALIGNED)
		REQUIRE(malloc_usable_size(s->p) >= s->len, "malloc_usable_size < size", s->p,
			malloc_usable_size(s->p), s->len);
}

static void check_zero(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i += i < 65536 ? 1 : 4093)
		REQUIRE(p[i] == 0, "zeroed memory is not zero", p, i, len);
}

/* put - a new block into a slot: check it, fill it, count it */
static void put(struct model *m, unsigned i, void *p, size_t len, int kind, unsigned aux,
		size_t align)
{
	struct slot *s = &m->slot[i];
	s->p = p;
	s->len = len;
	s->kind = kind;
	s->aux = aux;
	check_new(s, align);
	fill(m, s);
	m->live_bytes += len;
}

static void release(struct model *m, unsigned i)
{
	struct slot *s = &m->slot[i];
	if (!s->p)
		return;
	verify(s, "before free");
	switch (s->kind) {
	case K_MALLOC:
	case K_ALIGNED:
		free(s->p);
		break;
	case K_CACHE: {
		struct cache_model *c = &m->cache[s->aux];
		if (c->ctor)
			memset(s->p, 0xa5, c->size); /* back to the constructed state */
		kmem_cache_free(c->cache, s->p);
		c->live--;
		break;
	}
	case K_PAGES:
		__free_pages(s->p, s->aux);
		break;
	case K_VMALLOC:
		vfree(s->p);
		break;
	}
	m->live_bytes -= s->len;
	memset(s, 0, sizeof(*s));
}

/* take a slot for a new block: free what is there */
static unsigned take(struct model *m)
{
	unsigned i = slot_arg(m);
	release(m, i);
	return i;
}

static int over_budget(struct model *m, size_t size)
{
	return size > LIVE_BUDGET || m->live_bytes + size > LIVE_BUDGET;
}

/* EXPECT_FAIL - an allocation that must fail: NULL, errno @want (the call
 * is made before errno is read: arguments have no evaluation order) */
#define EXPECT_FAIL(call, want, what, a)                              \
	do {                                                          \
		void *r_ = (call);                                    \
		int e_ = errno_now();                                 \
		expect_fail(r_, e_, (want), (what), (a));             \
	} while (0)

static void expect_fail(void *p, int err, int want, const char *what, size_t a)
{
	if (p != NULL) {
		fprintf(stderr, "fuzz_api: %s(%#zx) succeeded: %p\n", what, a, p);
		fail("an impossible allocation succeeded", p, a, 0);
	}
	if (err != want) {
		fprintf(stderr, "fuzz_api: %s(%#zx): errno %d, wanted %d\n", what, a, err, want);
		fail("wrong errno", p, a, (size_t)err);
	}
}

/* ---- the operations ------------------------------------------------------------ */

static void cache_ctor(void *obj)
{
	/* every cache object is at least 8 bytes; constructed state: 0xa5 */
	memset(obj, 0xa5, 8);
}

static void op_cache_create(struct model *m)
{
	unsigned c = byte(m) % NCACHES;
	struct cache_model *cm = &m->cache[c];
	if (cm->cache) {
		if (cm->live) /* destroy only empty caches (a full one is reported) */
			return;
		kmem_cache_destroy(cm->cache);
		cm->cache = NULL;
		return;
	}
	size_t size = 8 + u16(m) % (byte(m) % 4 ? 600 : 20000);
	size_t align = byte(m) % 3 ? 0 : (size_t)8 << (byte(m) % 10);
	unsigned long flags = byte(m) % 4 == 0 ? SLAB_HWCACHE_ALIGN : 0;
	int ctor = byte(m) % 2;
	cm->cache = kmem_cache_create("fuzz", size, align, flags, ctor ? cache_ctor : NULL);
	REQUIRE(cm->cache != NULL, "kmem_cache_create failed", NULL, size, align);
	REQUIRE(kmem_cache_size(cm->cache) >= size, "kmem_cache_size", NULL,
		kmem_cache_size(cm->cache), size);
	cm->size = size;
	cm->ctor = ctor;
	cm->live = 0;
}

static void op_cache_alloc(struct model *m)
{
	unsigned c = byte(m) % NCACHES;
	struct cache_model *cm = &m->cache[c];
	gfp_t gfp = byte(m) % 4 == 0 ? __GFP_ZERO : 0;
	if (!cm->cache)
		return;
	unsigned i = take(m);
	unsigned char *p = kmem_cache_alloc(cm->cache, gfp);
	REQUIRE(p != NULL, "kmem_cache_alloc failed", NULL, cm->size, 0);
	if (gfp)
		check_zero(p, cm->size);
	else if (cm->ctor)
		for (size_t k = 0; k < 8; k++)
			REQUIRE(p[k] == 0xa5, "kmem_cache object not in its constructed state", p, k,
				cm->size);
	cm->live++;
	put(m, i, p, cm->size, K_CACHE, c, 8);
}

static void run_ops(struct model *m, size_t limit);

struct thread_arg {
	struct model *m;
	size_t ops;
};

static void *thread_main(void *arg)
{
	struct thread_arg *t = arg;
	run_ops(t->m, t->ops);
	return NULL;
}

static void op_thread(struct model *m)
{
	size_t n = 1 + byte(m) % MAX_THREAD_OPS;
	if (m->depth > 0)
		return;
	struct thread_arg t = { m, n };
	pthread_t th;
	m->depth++;
	if (pthread_create(&th, NULL, thread_main, &t) == 0)
		pthread_join(th, NULL);
	else
		run_ops(m, n);
	m->depth--;
}

static void op_realloc(struct model *m, int array)
{
	unsigned i = slot_arg(m);
	struct slot *s = &m->slot[i];
	if (s->p && s->kind != K_MALLOC && s->kind != K_ALIGNED)
		return;
	size_t size, n = 1, each;
	if (array) {
		n = 1 + byte(m) % 64;
		each = size_arg(m) / n + 1;
		size = n * each;
	} else {
		size = size_arg(m);
		each = size;
	}
	if (over_budget(m, size))
		return;
	if (s->p)
		verify(s, "before realloc");
	errno = 0;
	unsigned char *q = array ? reallocarray(s->p, n, each) : realloc(s->p, size);
	int e = errno_now();
	if (size == 0 && s->p) {
		/* realloc(p, 0) frees p and returns NULL, as glibc's */
		REQUIRE(q == NULL, "realloc(p, 0) did not return NULL", q, 0, 0);
		m->live_bytes -= s->len;
		memset(s, 0, sizeof(*s));
		return;
	}
	REQUIRE(q != NULL, "realloc failed", s->p, size, (size_t)e);
	size_t keep = s->len < size ? s->len : size;
	if (s->p) {
		struct slot moved = *s;
		moved.p = q;
		moved.len = keep;
		verify(&moved, "after realloc (the kept prefix)");
		m->live_bytes -= s->len;
	}
	uint64_t seed = s->p ? s->seed : 0;
	s->p = q;
	s->len = size;
	s->kind = K_MALLOC;
	check_new(s, 16);
	m->live_bytes += size;
	if (seed) {
		/* the prefix is the old seed's; continue the same seed after it */
		s->seed = seed;
		pattern_pass(s, size, 1, NULL);
	} else {
		fill(m, s);
	}
}

static void op_usable(struct model *m)
{
	struct slot *s = &m->slot[slot_arg(m)];
	if (!s->p || (s->kind != K_MALLOC && s->kind != K_ALIGNED))
		return;
	size_t u = malloc_usable_size(s->p);
	REQUIRE(u >= s->len, "malloc_usable_size < size", s->p, u, s->len);
	if (over_budget(m, u - s->len))
		return;
	verify(s, "before writing the usable tail");
	/* the whole usable size is the program's: write it, keep it */
	m->live_bytes += u - s->len;
	s->len = u;
	pattern_pass(s, u, 1, NULL);
}

/* Called through pointers: glibc declares them alloc_align, and clang's
 * -fsanitize=alignment would check that assumption for the alignments that
 * must fail or that memalign rounds up. */
static void *(*volatile aligned_alloc_fn)(size_t, size_t) = aligned_alloc;
static void *(*volatile memalign_fn)(size_t, size_t) = memalign;

static void op_aligned(struct model *m, unsigned which)
{
	unsigned a = byte(m);
	size_t align;
	if (a % 8 == 0) {
		static const size_t odd[] = { 0, 1, 2, 3, 4, 12, 24, 100, 4097, 3 * MiB,
					      SIZE_MAX, SIZE_MAX / 2 + 2 };
		align = odd[(a / 8) % (sizeof(odd) / sizeof(odd[0]))];
	} else {
		align = (size_t)1 << (3 + a % 21); /* 8 .. 8 MiB */
	}
	size_t size = size_arg(m);
	if (over_budget(m, size + (align < 64 * MiB ? align : 0)))
		return;
	unsigned i = take(m);
	void *p = NULL;
	errno = 0;
	switch (which) {
	case 0: {
		void *sentinel = (void *)0x1234;
		p = sentinel;
		int e = errno;
		int r = posix_memalign(&p, align, size);
		if (align < sizeof(void *) || (align & (align - 1))) {
			REQUIRE(r == EINVAL && p == sentinel && errno == e,
				"posix_memalign with a bad alignment", p, align, (size_t)r);
			return;
		}
		REQUIRE(r == 0, "posix_memalign failed", NULL, align, size);
		break;
	}
	case 1:
		p = aligned_alloc_fn(align, size);
		if (align == 0 || (align & (align - 1))) {
			EXPECT_FAIL(p, EINVAL, "aligned_alloc(bad alignment)", align);
			return;
		}
		break;
	default:
		p = memalign_fn(align, size);
		if (align & (align - 1)) {
			if (align > (SIZE_MAX >> 1) + 1) {
				EXPECT_FAIL(p, EINVAL, "memalign(bad alignment)", align);
				return;
			}
			/* glibc rounds up to the next power of two */
			size_t next = 1;
			while (next < align)
				next <<= 1;
			align = next;
			if (align > ((size_t)1 << 62)) {
				free(p);
				return;
			}
		}
		if (align == 0)
			align = 16;
		break;
	}
	REQUIRE(p != NULL, "aligned allocation failed", NULL, align, size);
	unsigned lg = 0;
	while (((size_t)1 << lg) < align)
		lg++;
	put(m, i, p, size, K_ALIGNED, lg, align < 16 ? 16 : align);
}

static void op_huge(struct model *m)
{
	size_t sz = huge_arg(m);
	unsigned which = byte(m) % 12;
	void *p = NULL;
	errno = 0;
	switch (which) {
	case 0:
		EXPECT_FAIL(malloc(sz), ENOMEM, "malloc", sz);
		break;
	case 1:
		EXPECT_FAIL(calloc(1, sz), ENOMEM, "calloc(1, n)", sz);
		break;
	case 2:
		EXPECT_FAIL(calloc(sz / 2 + 1, 2), ENOMEM, "calloc(n/2+1, 2)", sz);
		break;
	case 3: {
		/* realloc of a live block: fails, the block is kept */
		unsigned i = slot_arg(m);
		struct slot *s = &m->slot[i];
		if (!s->p || (s->kind != K_MALLOC && s->kind != K_ALIGNED))
			break;
		p = realloc(opaque_ptr(s->p), sz);
		EXPECT_FAIL(p, ENOMEM, "realloc(live block)", sz);
		verify(s, "after a failed realloc");
		break;
	}
	case 4: {
		unsigned i = slot_arg(m);
		struct slot *s = &m->slot[i];
		if (!s->p || (s->kind != K_MALLOC && s->kind != K_ALIGNED))
			break;
		p = reallocarray(opaque_ptr(s->p), 3, sz / 2);
		EXPECT_FAIL(p, ENOMEM, "reallocarray(live block, 3, n/2)", sz);
		verify(s, "after a failed reallocarray");
		break;
	}
	case 5: {
		void *sentinel = (void *)0x4321, *q = sentinel;
		int r = posix_memalign(&q, 64, sz);
		REQUIRE(r == ENOMEM && q == sentinel, "posix_memalign(huge)", q, sz, (size_t)r);
		break;
	}
	case 6:
		EXPECT_FAIL(aligned_alloc(4096, sz), ENOMEM, "aligned_alloc", sz);
		break;
	case 7:
		EXPECT_FAIL(memalign(64, sz), ENOMEM, "memalign", sz);
		break;
	case 8:
		EXPECT_FAIL(valloc(sz), ENOMEM, "valloc", sz);
		break;
	case 9:
		EXPECT_FAIL(pvalloc(sz), ENOMEM, "pvalloc", sz);
		break;
	case 10:
		EXPECT_FAIL(vmalloc(sz), ENOMEM, "vmalloc", sz);
		break;
	default:
		EXPECT_FAIL(reallocarray(NULL, sz, 2 + byte(m) % 7), ENOMEM,
			    "reallocarray(NULL, n, k)", sz);
		break;
	}
}

static void op_one(struct model *m)
{
	unsigned op = byte(m) % 24;
	switch (op) {
	case 0: case 1: case 2: case 3: {
		size_t size = size_arg(m);
		if (over_budget(m, size))
			break;
		unsigned i = take(m);
		void *p = malloc(size);
		REQUIRE(p != NULL, "malloc failed", NULL, size, 0);
		put(m, i, p, size, K_MALLOC, 0, 16);
		break;
	}
	case 4: {
		size_t n = 1 + byte(m) % 32, size = size_arg(m) / n;
		if (over_budget(m, n * size))
			break;
		unsigned i = take(m);
		unsigned char *p = calloc(n, size);
		REQUIRE(p != NULL, "calloc failed", NULL, n, size);
		check_zero(p, n * size);
		put(m, i, p, n * size, K_MALLOC, 0, 16);
		break;
	}
	case 5: case 6: case 7:
		op_realloc(m, 0);
		break;
	case 8:
		op_realloc(m, 1);
		break;
	case 9: case 10: case 11:
		release(m, slot_arg(m));
		break;
	case 12:
		op_aligned(m, byte(m) % 3);
		break;
	case 13: {
		size_t size = size_arg(m);
		int pv = byte(m) % 2;
		size_t len = pv ? (size + PAGE - 1) / PAGE * PAGE : size;
		if (pv && len == 0)
			len = PAGE;
		if (over_budget(m, len))
			break;
		unsigned i = take(m);
		void *p = pv ? pvalloc(size) : valloc(size);
		REQUIRE(p != NULL, "valloc/pvalloc failed", NULL, size, (size_t)pv);
		put(m, i, p, len, K_ALIGNED, 12, PAGE);
		break;
	}
	case 14:
		op_usable(m);
		break;
	case 15:
		op_cache_alloc(m);
		break;
	case 16:
		op_cache_create(m);
		break;
	case 17: {
		unsigned order = byte(m) % 11;
		gfp_t gfp = byte(m) % 3 == 0 ? __GFP_ZERO : 0;
		if (over_budget(m, PAGE << order))
			break;
		unsigned i = take(m);
		unsigned char *p = alloc_pages(gfp, order);
		REQUIRE(p != NULL, "alloc_pages failed", NULL, order, 0);
		if (gfp)
			check_zero(p, PAGE << order);
		put(m, i, p, PAGE << order, K_PAGES, order, PAGE << order);
		break;
	}
	case 18: {
		size_t size = size_arg(m);
		int z = byte(m) % 2;
		if (over_budget(m, size))
			break;
		unsigned i = take(m);
		unsigned char *p = z ? vzalloc(size) : vmalloc(size);
		if (size == 0 && p == NULL)
			break;
		REQUIRE(p != NULL, "vmalloc failed", NULL, size, 0);
		if (z)
			check_zero(p, size);
		put(m, i, p, size, K_VMALLOC, 0, PAGE);
		break;
	}
	case 19:
		if (byte(m) % 2)
			malloc_trim(0);
		else
			buddyslab_drain();
		break;
	case 20:
		op_huge(m);
		break;
	case 21:
		op_thread(m);
		break;
	case 22:
		for (unsigned i = 0; i < NSLOTS; i++)
			if (m->slot[i].p)
				verify(&m->slot[i], "in a full check");
		break;
	default: {
		/* swap two slots: frees and reallocs come in another order */
		unsigned a = slot_arg(m), b = slot_arg(m);
		struct slot t = m->slot[a];
		m->slot[a] = m->slot[b];
		m->slot[b] = t;
		break;
	}
	}
}

static void run_ops(struct model *m, size_t limit)
{
	for (size_t n = 0; n < limit && more(m); n++)
		op_one(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct model model;
	struct model *m = &model;
	memset(m, 0, sizeof(*m));
	m->data = data;
	m->size = size;
	run_ops(m, SIZE_MAX);
	for (unsigned i = 0; i < NSLOTS; i++)
		release(m, i);
	for (unsigned c = 0; c < NCACHES; c++)
		if (m->cache[c].cache)
			kmem_cache_destroy(m->cache[c].cache);
	REQUIRE(m->live_bytes == 0, "model accounting", NULL, m->live_bytes, 0);
	return 0;
}
