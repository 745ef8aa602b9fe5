/*
 * test_bad_calls.c - bad input, beyond tests/api/test_bad_input.c.
 *
 * Death tests (tests/api/death.h): each bad call runs in a child, which
 * must die of SIGABRT after a message that names the call and the address,
 * e.g. "buddyslab: free(): invalid pointer 0x7f..." (or, where two wordings
 * are both right, one of them: a double free of a block whose memory was
 * merged away cannot be told from a pointer that was never handed out).
 * Covered: free of a global, of the unused tail of a slab, of an
 * alloc_pages() block, of the middle of a constructed object; double frees
 * of medium (page) and large (mapped) blocks, before and after malloc_trim;
 * realloc of a freed block, of the middle of a large block, of mmap memory;
 * malloc_usable_size of foreign pointers and freed blocks; the native API's
 * frees of the wrong kind of block, double frees in caches with a ctor and
 * of 8-byte objects, frees of objects a kmem_cache_destroy leaked, and
 * __GFP_NOFAIL allocations the OS cannot serve (2 s each).
 *
 * Then the bad arguments that are not fatal: posix_memalign, aligned_alloc
 * and memalign with bad alignments (EINVAL, *memptr untouched); sizes near
 * SIZE_MAX and impossible ones for every function, also for realloc and
 * reallocarray of existing small, medium and large blocks (NULL + ENOMEM,
 * the old block intact); kmem_cache_create, alloc_pages, vmalloc limits.
 *
 * Usage: test_bad_calls [CASE...]
 * Without arguments: every case that is not pending. With arguments: the
 * death cases named (pending ones included) and nothing else. Pending cases
 * are bad calls the library does not catch yet (marked 1 in the table);
 * each is run by a tests/faults/xfail_*.sh script listed in XFAIL_TESTS, so
 * that `make check` says XPASS (a failure) the day it is caught, and the
 * case moves out of XFAIL_TESTS.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "check.h"
#include "death.h"

#define KiB (1UL << 10)
#define MiB (1UL << 20)
#define PAGE 4096UL

static char global_buf[256];

/* ---- the bad calls (run in the child) ---------------------------------------- */

static void free_global(void)
{
	char *p = opaque_ptr(global_buf + 32);
	expect(p);
	free(p);
}

/* 48-byte objects: 85 in a 4 KiB slab, the last 16 bytes unused. A pointer
 * there is at an object boundary but past the last object. */
static void free_slab_tail(void)
{
	char *p = malloc(48);
	char *tail = opaque_ptr((char *)((uintptr_t)p & ~(PAGE - 1)) + 85 * 48);
	expect(tail);
	free(tail);
}

static void free_alloc_pages_block(void)
{
	void *p = alloc_pages(0, 1);
	expect(p);
	free(p);
}

static void ctor(void *p)
{
	memset(p, 0, 100);
}

static void ctor_64(void *p)
{
	memset(p, 0x5a, 64);
}

static void free_ctor_object_middle(void)
{
	struct kmem_cache *c = kmem_cache_create("bad-ctor", 100, 0, 0, ctor);
	char *obj = kmem_cache_alloc(c, 0);
	char *bad = opaque_ptr(obj + 8);
	expect(bad);
	free(bad);
}

static void double_free_medium(void)
{
	void *p = malloc(100000);
	void *again = opaque_ptr(p);
	expect(p);
	free(p);
	free(again);
}

static void double_free_medium_after_trim(void)
{
	void *p = malloc(100000);
	void *again = opaque_ptr(p);
	expect(p);
	free(p);
	malloc_trim(0);
	free(again);
}

static void double_free_large(void)
{
	void *p = malloc(16 * MiB);
	void *again = opaque_ptr(p);
	expect(p);
	free(p);
	free(again);
}

static void double_free_large_after_trim(void)
{
	void *p = malloc(16 * MiB);
	void *again = opaque_ptr(p);
	expect(p);
	free(p);
	malloc_trim(0);
	free(again);
}

static void double_free_large_aligned(void)
{
	void *p = NULL;
	if (posix_memalign(&p, 8 * MiB, 5 * MiB) != 0)
		_exit(4);
	void *again = opaque_ptr(p);
	expect(p);
	free(p);
	free(again);
}

static void realloc_freed_medium(void)
{
	void *p = malloc(100000);
	void *again = opaque_ptr(p);
	expect(p);
	free(p);
	void *r = realloc(again, 200000);
	escape(r);
}

static void realloc_freed_large(void)
{
	void *p = malloc(16 * MiB);
	void *again = opaque_ptr(p);
	expect(p);
	free(p);
	void *r = realloc(again, 100);
	escape(r);
}

static void realloc_large_middle(void)
{
	char *p = malloc(16 * MiB);
	char *bad = opaque_ptr(p + 8 * MiB);
	expect(bad);
	void *r = realloc(bad, 100);
	escape(r);
}

static void realloc_mmap(void)
{
	void *page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	expect(page);
	void *r = realloc(page, 100);
	escape(r);
}

static void usable_size_of(void *p)
{
	expect(p);
	size_t n = malloc_usable_size(p);
	escape(&n);
}

static void usable_size_mmap(void)
{
	usable_size_of(mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
}

static void usable_size_global(void)
{
	usable_size_of(opaque_ptr(global_buf));
}

static void usable_size_small_middle(void)
{
	usable_size_of(opaque_ptr((char *)malloc(64) + 16));
}

static void usable_size_medium_middle(void)
{
	usable_size_of(opaque_ptr((char *)malloc(100000) + 8192));
}

static void usable_size_large_middle(void)
{
	usable_size_of(opaque_ptr((char *)malloc(16 * MiB) + 4096));
}

static void usable_size_freed_medium(void)
{
	void *p = malloc(100000);
	free(p);
	usable_size_of(opaque_ptr(p));
}

static void usable_size_freed_large(void)
{
	void *p = malloc(16 * MiB);
	free(p);
	usable_size_of(opaque_ptr(p));
}

static void cache_free_stack(void)
{
	struct kmem_cache *c = kmem_cache_create("bad-stack", 64, 0, 0, NULL);
	volatile char buf[128];
	buf[0] = 1;
	char *p = opaque_ptr((char *)buf + 64);
	expect(p);
	kmem_cache_free(c, p);
}

static void cache_free_malloced(void)
{
	struct kmem_cache *c = kmem_cache_create("bad-malloced", 200, 0, 0, NULL);
	void *p = malloc(200);
	expect(p);
	kmem_cache_free(c, p);
}

static void free_pages_malloced(void)
{
	void *p = malloc(100000);
	expect(p);
	__free_pages(p, 5);
}

static void free_pages_double(void)
{
	void *p = alloc_pages(0, 2);
	void *again = opaque_ptr(p);
	expect(p);
	__free_pages(p, 2);
	__free_pages(again, 2);
}

static void free_pages_stack(void)
{
	volatile char buf[64];
	buf[0] = 1;
	char *p = opaque_ptr((char *)buf);
	expect(p);
	__free_pages(p, 0);
}

static void cache_create_panic(void)
{
	struct kmem_cache *c = kmem_cache_create("bad-panic", opaque(SIZE_MAX), 0, SLAB_PANIC, NULL);
	escape(c);
}

/* The double free of a small block that is not the most recently freed
 * object of its slab. */
static void double_free_small_abab(void)
{
	void *p = malloc(32), *q = malloc(32);
	void *again = opaque_ptr(p);
	expect(p);
	free(p);
	free(q);
	free(again);
}

/* Another thread than the owner frees the same small block twice (before
 * 0ae83cb the block went twice onto the slab's remote-free list, a cycle
 * that the owner's next collection walked for ever). */
static void *free_twice(void *p)
{
	free(p);
	free(opaque_ptr(p));
	return NULL;
}

static void double_free_small_remote(void)
{
	void *p = malloc(32);
	expect(p);
	pthread_t t;
	pthread_create(&t, NULL, free_twice, p);
	pthread_join(t, NULL);
	/* the owner collects the remote frees on its next refill */
	for (int i = 0; i < 10000; i++)
		escape(malloc(32));
}

/* The owner frees it, then another thread frees it again. */
static void *free_once(void *p)
{
	free(p);
	return NULL;
}

static void double_free_small_owner_then_remote(void)
{
	void *p = malloc(32), *q = malloc(32);
	expect(p);
	free(p);
	free(q);
	pthread_t t;
	pthread_create(&t, NULL, free_once, p);
	pthread_join(t, NULL);
	for (int i = 0; i < 10000; i++)
		escape(malloc(32));
}

/* realloc of a freed small block that is not the slab's latest free (once
 * handed back as if it were live). */
static void realloc_freed_small(void)
{
	void *p = malloc(32), *q = malloc(32);
	void *again = opaque_ptr(p);
	expect(p);
	free(p);
	free(q);
	void *r = realloc(again, 24);
	escape(r);
}

/* The message names the call (it said "free()" before 0ae83cb). */
static void cache_double_free(void)
{
	struct kmem_cache *c = kmem_cache_create("bad-double", 64, 0, 0, NULL);
	void *obj = kmem_cache_alloc(c, 0);
	expect(obj);
	kmem_cache_free(c, obj);
	kmem_cache_free(c, opaque_ptr(obj));
}

/* Every cache keeps the double-free key in a free object (until
 * 2026-11-28 only caches without a ctor and of 16 bytes or more did: in
 * the others a free of a free object not at the head of its slab's
 * freelist put it there twice, and it was handed out twice). */
static void cache_double_free_aba(const char *name, size_t size, void (*ctor)(void *))
{
	struct kmem_cache *c = kmem_cache_create(name, size, 0, 0, ctor);
	void *a = kmem_cache_alloc(c, 0), *b = kmem_cache_alloc(c, 0);
	expect(a);
	kmem_cache_free(c, a);
	kmem_cache_free(c, b);
	kmem_cache_free(c, opaque_ptr(a));
}

static void cache_double_free_ctor(void)
{
	cache_double_free_aba("bad-double-ctor", 64, ctor_64);
}

static void cache_double_free_tiny(void)
{
	cache_double_free_aba("bad-double-tiny", 8, NULL);
}

static void *free_in_thread(void *arg)
{
	void **job = arg;
	kmem_cache_free(job[0], job[1]);
	return NULL;
}

/* freed by its owner, then by another thread (which cannot look at the
 * owner's freelist: only the key tells) */
static void cache_double_free_ctor_remote(void)
{
	struct kmem_cache *c = kmem_cache_create("bad-double-remote", 64, 0, 0, ctor_64);
	void *a = kmem_cache_alloc(c, 0), *b = kmem_cache_alloc(c, 0);
	expect(a);
	kmem_cache_free(c, a);
	kmem_cache_free(c, b);
	void *job[2] = { c, opaque_ptr(a) };
	pthread_t t;
	if (pthread_create(&t, NULL, free_in_thread, job) == 0)
		pthread_join(t, NULL);
}

/* an object that was never handed out is free: its free is a double free
 * (the one after the freelist's head: not the head, which the owner's
 * check of the head caught before the key) */
static void cache_free_never_allocated_ctor(void)
{
	struct kmem_cache *c = kmem_cache_create("bad-never", 64, 0, 0, ctor_64);
	char *a = kmem_cache_alloc(c, 0), *b = kmem_cache_alloc(c, 0);
	char *next = opaque_ptr(b + 2 * (b - a));
	expect(next);
	kmem_cache_free(c, next);
}

/* objects kmem_cache_destroy reported as leaked, freed afterwards (a
 * SIGSEGV in slab_refile until 2026-11-28, at the first slab to empty) */
static void cache_free_after_destroy(void)
{
	struct kmem_cache *c = kmem_cache_create("bad-destroyed", 64, 0, 0, NULL);
	void *a = kmem_cache_alloc(c, 0), *b = kmem_cache_alloc(c, 0);
	escape(b);
	kmem_cache_destroy(c);
	expect(a);
	kmem_cache_free(c, a);
}

static void free_after_destroy(void)
{
	struct kmem_cache *c = kmem_cache_create("bad-destroyed-free", 64, 0, 0, NULL);
	void *a = kmem_cache_alloc(c, 0);
	kmem_cache_destroy(c);
	expect(a);
	free(a);
}

/* __GFP_NOFAIL where the OS has no memory left to give: retried for 2 s,
 * then a report and abort (it retried forever until 2026-11-28) */
static void limit_address_space(void)
{
	struct rlimit as;
	getrlimit(RLIMIT_AS, &as);
	as.rlim_cur = 64 * MiB; /* less than the process has mapped already */
	setrlimit(RLIMIT_AS, &as);
}

static void alloc_pages_nofail(void)
{
	limit_address_space();
	for (int i = 0; i < 1000; i++)
		escape(alloc_pages(__GFP_NOFAIL, 10));
}

static void cache_alloc_nofail(void)
{
	struct kmem_cache *c = kmem_cache_create("nofail", 512 * 1024, 0, 0, NULL);
	limit_address_space();
	for (int i = 0; i < 1000; i++)
		escape(kmem_cache_alloc(c, __GFP_NOFAIL));
}

/* __GFP_NOFAIL in a thread whose first allocation it is (its heap cannot
 * be made): it returned NULL at once until 2026-11-28 (found by a review) */
static pthread_barrier_t nofail_barrier;
static struct kmem_cache *nofail_cache;

static void *nofail_first_alloc(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&nofail_barrier);
	escape(kmem_cache_alloc(nofail_cache, __GFP_NOFAIL));
	static const char survived[] = "kmem_cache_alloc(__GFP_NOFAIL) returned\n";
	if (write(2, survived, sizeof(survived) - 1) < 0)
		_exit(2);
	_exit(0);
}

static void cache_alloc_nofail_new_thread(void)
{
	nofail_cache = kmem_cache_create("nofail-new-thread", 64, 0, 0, NULL);
	pthread_barrier_init(&nofail_barrier, NULL, 2);
	pthread_t t;
	if (pthread_create(&t, NULL, nofail_first_alloc, NULL) != 0)
		return;
	limit_address_space();
	for (int order = 10; order >= 0; order--) /* every block the zone has */
		while (alloc_pages(__GFP_NORETRY | __GFP_NOWARN, (unsigned int)order))
			;
	pthread_barrier_wait(&nofail_barrier);
	pthread_join(t, NULL);
}

static void vfree_stack(void)
{
	volatile char buf[64];
	buf[0] = 1;
	char *p = opaque_ptr((char *)buf + 8);
	expect(p);
	vfree(p);
}

/* ---- the table ------------------------------------------------------------------ */

#define INVALID(call) "buddyslab: " call "(): invalid pointer 0x"
#define DOUBLE(call) "buddyslab: " call "(): double free detected 0x"
#define UAF(call) "buddyslab: " call "(): use after free of 0x"

struct death_case {
	const char *name;
	void (*fn)(void);
	const char *wants[4]; /* NULL-terminated */
	int pending;
};

static const struct death_case cases[] = {
	{ "free-global", free_global, { INVALID("free") }, 0 },
	{ "free-slab-tail", free_slab_tail, { INVALID("free") }, 0 },
	{ "free-alloc_pages-block", free_alloc_pages_block, { INVALID("free") }, 0 },
	{ "free-ctor-object-middle", free_ctor_object_middle, { INVALID("free") }, 0 },
	{ "double-free-medium", double_free_medium, { DOUBLE("free"), INVALID("free") }, 0 },
	{ "double-free-medium-after-trim", double_free_medium_after_trim,
	  { DOUBLE("free"), INVALID("free") }, 0 },
	/* a freed large block's mapping is unmapped or parked unmapped from the
	 * pagemap: its address is foreign memory now */
	{ "double-free-large", double_free_large, { INVALID("free") }, 0 },
	{ "double-free-large-after-trim", double_free_large_after_trim, { INVALID("free") }, 0 },
	{ "double-free-large-aligned", double_free_large_aligned, { INVALID("free") }, 0 },
	{ "realloc-freed-medium", realloc_freed_medium, { UAF("realloc"), INVALID("realloc") }, 0 },
	{ "realloc-freed-large", realloc_freed_large, { INVALID("realloc") }, 0 },
	{ "realloc-large-middle", realloc_large_middle, { INVALID("realloc") }, 0 },
	{ "realloc-mmap", realloc_mmap, { INVALID("realloc") }, 0 },
	{ "malloc_usable_size-mmap", usable_size_mmap, { INVALID("malloc_usable_size") }, 0 },
	{ "malloc_usable_size-global", usable_size_global, { INVALID("malloc_usable_size") }, 0 },
	{ "malloc_usable_size-small-middle", usable_size_small_middle,
	  { INVALID("malloc_usable_size") }, 0 },
	{ "malloc_usable_size-medium-middle", usable_size_medium_middle,
	  { INVALID("malloc_usable_size") }, 0 },
	{ "malloc_usable_size-large-middle", usable_size_large_middle,
	  { INVALID("malloc_usable_size") }, 0 },
	{ "malloc_usable_size-freed-medium", usable_size_freed_medium,
	  { UAF("malloc_usable_size"), INVALID("malloc_usable_size") }, 0 },
	{ "malloc_usable_size-freed-large", usable_size_freed_large,
	  { INVALID("malloc_usable_size") }, 0 },
	{ "kmem_cache_free-stack", cache_free_stack, { INVALID("kmem_cache_free") }, 0 },
	{ "kmem_cache_free-malloced", cache_free_malloced,
	  { "buddyslab: kmem_cache_free(): object from another cache 0x" }, 0 },
	{ "__free_pages-malloced", free_pages_malloced,
	  { "buddyslab: __free_pages(): not a page block 0x" }, 0 },
	{ "__free_pages-double", free_pages_double, { DOUBLE("__free_pages") }, 0 },
	{ "__free_pages-stack", free_pages_stack, { INVALID("__free_pages") }, 0 },
	{ "kmem_cache_create-panic", cache_create_panic, { "buddyslab: kmem_cache_create(): " }, 0 },

	/* caught by the freed-object key since 785bfc2 */
	{ "double-free-small-abab", double_free_small_abab, { DOUBLE("free") }, 0 },

	/* caught since 0ae83cb */
	{ "double-free-small-remote", double_free_small_remote, { DOUBLE("free") }, 0 },
	{ "double-free-small-owner-then-remote", double_free_small_owner_then_remote,
	  { DOUBLE("free") }, 0 },
	{ "realloc-freed-small", realloc_freed_small,
	  { DOUBLE("realloc"), UAF("realloc"), INVALID("realloc") }, 0 },
	{ "kmem_cache_free-double", cache_double_free, { DOUBLE("kmem_cache_free") }, 0 },
	{ "vfree-stack", vfree_stack, { INVALID("vfree") }, 0 },

	/* caught since 2026-11-28 */
	{ "kmem_cache_free-double-ctor", cache_double_free_ctor, { DOUBLE("kmem_cache_free") }, 0 },
	{ "kmem_cache_free-double-tiny", cache_double_free_tiny, { DOUBLE("kmem_cache_free") }, 0 },
	{ "kmem_cache_free-double-ctor-remote", cache_double_free_ctor_remote,
	  { DOUBLE("kmem_cache_free") }, 0 },
	{ "kmem_cache_free-never-allocated", cache_free_never_allocated_ctor,
	  { DOUBLE("kmem_cache_free") }, 0 },
	{ "kmem_cache_free-after-destroy", cache_free_after_destroy,
	  { "buddyslab: kmem_cache_free(): object of a destroyed cache 0x" }, 0 },
	{ "free-after-destroy", free_after_destroy,
	  { "buddyslab: free(): object of a destroyed cache 0x" }, 0 },
	{ "alloc_pages-nofail", alloc_pages_nofail,
	  { "buddyslab: alloc_pages(): out of memory (__GFP_NOFAIL) for order 10" }, 0 },
	{ "kmem_cache_alloc-nofail", cache_alloc_nofail,
	  { "buddyslab: kmem_cache_alloc(): out of memory (__GFP_NOFAIL) in cache nofail" }, 0 },
	{ "kmem_cache_alloc-nofail-new-thread", cache_alloc_nofail_new_thread,
	  { "buddyslab: kmem_cache_alloc(): out of memory (__GFP_NOFAIL) in cache nofail-new-thread" },
	  0 },

	/* pending: none at the moment */
};
#define NR_CASES (sizeof(cases) / sizeof(cases[0]))

/* ---- bad arguments that are not fatal -------------------------------------------- */

static void test_bad_alignments(void)
{
	static const size_t bad[] = { 0, 1, 2, 4, 3, 12, 24, 48, 100, 4097, 3 * MiB,
				      SIZE_MAX, SIZE_MAX / 2 + 2, ((size_t)1 << 63) + 8 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		void *sentinel = (void *)0x5678, *p = sentinel;
		errno = 1234;
		int ret = posix_memalign(&p, opaque(bad[i]), 64);
		CHECKF("posix_memalign-bad-alignment", ret == EINVAL && p == sentinel &&
		       errno_now() == 1234, "posix_memalign(%#zx, 64) = %d, *memptr %p, errno %d",
		       bad[i], ret, p, errno_now());
		if (bad[i] == 0 || (bad[i] & (bad[i] - 1))) {
			errno = 0;
			void *q = aligned_alloc(opaque(bad[i]), 64);
			CHECKF("aligned_alloc-bad-alignment", q == NULL && errno_now() == EINVAL,
			       "aligned_alloc(%#zx, 64) = %p, errno %d", bad[i], q, errno_now());
			free(q);
		}
	}
	/* powers of two that no block can have: ENOMEM */
	void *sentinel = (void *)0x5678, *p = sentinel;
	int ret = posix_memalign(&p, opaque((size_t)1 << 63), 1);
	CHECKF("posix_memalign-2^63", ret == ENOMEM && p == sentinel, "ret %d", ret);
	errno = 0;
	void *q = aligned_alloc(opaque((size_t)1 << 63), 1);
	CHECK("aligned_alloc-2^63", q == NULL && errno_now() == ENOMEM);
	errno = 0;
	q = memalign(opaque((size_t)1 << 63), 1);
	CHECK("memalign-2^63", q == NULL && errno_now() == ENOMEM);
	errno = 0;
	q = memalign(opaque(SIZE_MAX), 1);
	CHECK("memalign-SIZE_MAX-align", q == NULL && errno_now() == EINVAL);
	errno = 0;
	q = memalign(opaque(((size_t)1 << 62) + 1), 1); /* rounds up to 2^63 */
	CHECK("memalign-2^62+1", q == NULL && (errno_now() == ENOMEM || errno_now() == EINVAL));
}

#define IMPOSSIBLE(name, expr)                                                       \
	do {                                                                         \
		errno = 0;                                                           \
		void *r_ = (expr);                                                   \
		int e_ = errno_now();                                                \
		CHECKF(name, r_ == NULL && e_ == ENOMEM, "%s with size %#zx = %p, errno %d", \
		       #expr, sz, r_, e_);                                           \
		free(r_);                                                            \
	} while (0)

/* Sizes no allocator can serve: near SIZE_MAX, just over PTRDIFF_MAX, and
 * sizes that are in range but that no machine has (128 TiB). */
static const size_t huge[] = {
	SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 15, SIZE_MAX - 4095, SIZE_MAX - 4096,
	(size_t)PTRDIFF_MAX + 1, (size_t)PTRDIFF_MAX, (size_t)PTRDIFF_MAX - 4095,
	(size_t)PTRDIFF_MAX - (4 << 20), (size_t)1 << 47,
};

static void test_huge_sizes(void)
{
	for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
		size_t sz = opaque(huge[i]);
		IMPOSSIBLE("huge-malloc", malloc(sz));
		IMPOSSIBLE("huge-calloc", calloc(1, sz));
		IMPOSSIBLE("huge-calloc-product", calloc(sz / 16 + 1, 16));
		IMPOSSIBLE("huge-realloc-null", realloc(NULL, sz));
		IMPOSSIBLE("huge-reallocarray-null", reallocarray(NULL, 1, sz));
		IMPOSSIBLE("huge-reallocarray-product", reallocarray(NULL, sz / 8 + 1, 8));
		IMPOSSIBLE("huge-memalign", memalign(4096, sz));
		IMPOSSIBLE("huge-memalign-big", memalign(16 * MiB, sz));
		IMPOSSIBLE("huge-aligned_alloc", aligned_alloc(32, sz));
		IMPOSSIBLE("huge-valloc", valloc(sz));
		IMPOSSIBLE("huge-pvalloc", pvalloc(sz));
		IMPOSSIBLE("huge-vmalloc", vmalloc(sz));
		IMPOSSIBLE("huge-vzalloc", vzalloc(sz));
		void *sentinel = (void *)0x4321, *p = sentinel;
		int ret = posix_memalign(&p, 256, sz);
		CHECKF("huge-posix_memalign", ret == ENOMEM && p == sentinel,
		       "posix_memalign(256, %#zx) = %d", sz, ret);

		/* realloc and reallocarray of live blocks: NULL, ENOMEM, old intact */
		static const size_t live_sizes[] = { 100, 100000, 6 * MiB };
		for (size_t k = 0; k < 3; k++) {
			size_t n = live_sizes[k];
			char *old = malloc(n);
			if (!CHECK("huge-setup", old != NULL))
				continue;
			pattern_fill(old, n);
			errno = 0;
			/* (through opaque_ptr: gcc's -Wuse-after-free does not know
			 * that a failed realloc keeps the block) */
			void *r = realloc(opaque_ptr(old), sz);
			int e = errno_now();
			CHECKF("huge-realloc-live", r == NULL && e == ENOMEM && pattern_check(old, n),
			       "realloc(%zu-byte block, %#zx) = %p, errno %d", n, sz, r, e);
			errno = 0;
			r = reallocarray(opaque_ptr(old), 2, sz / 2 + 1);
			e = errno_now();
			CHECKF("huge-reallocarray-live", r == NULL && e == ENOMEM &&
			       pattern_check(old, n), "reallocarray(%zu-byte block, 2, %#zx) = %p, "
			       "errno %d", n, sz / 2 + 1, r, e);
			CHECK("huge-live-still-owned", buddyslab_owns(old) == 1 &&
			      malloc_usable_size(old) >= n);
			free(old);
		}
	}
	/* reallocarray overflow with a live block */
	char *old = malloc(64);
	pattern_fill(old, 64);
	errno = 0;
	void *r = reallocarray(opaque_ptr(old), opaque(SIZE_MAX / 2 + 1), 2);
	CHECK("reallocarray-live-overflow", r == NULL && errno_now() == ENOMEM &&
	      pattern_check(old, 64));
	free(old);
}

static void test_native_limits(void)
{
	static const size_t bad_sizes[] = { 0, (1UL << 20) + 1, SIZE_MAX, (size_t)PTRDIFF_MAX };
	for (size_t i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
		errno = 0;
		struct kmem_cache *c = kmem_cache_create("bad-size", opaque(bad_sizes[i]), 0, 0, NULL);
		CHECKF("kmem_cache_create-bad-size", c == NULL && errno_now() == EINVAL,
		       "size %#zx: %p, errno %d", bad_sizes[i], (void *)c, errno_now());
	}
	static const size_t bad_aligns[] = { 3, 24, 8192, SIZE_MAX };
	for (size_t i = 0; i < sizeof(bad_aligns) / sizeof(bad_aligns[0]); i++) {
		errno = 0;
		struct kmem_cache *c = kmem_cache_create("bad-align", 64, opaque(bad_aligns[i]), 0, NULL);
		CHECKF("kmem_cache_create-bad-align", c == NULL && errno_now() == EINVAL,
		       "align %#zx: %p, errno %d", bad_aligns[i], (void *)c, errno_now());
	}
	static const unsigned bad_orders[] = { 11, 12, 63, 64, UINT_MAX };
	for (size_t i = 0; i < sizeof(bad_orders) / sizeof(bad_orders[0]); i++) {
		errno = 0;
		void *p = alloc_pages(__GFP_NOWARN, (unsigned)opaque(bad_orders[i]));
		CHECKF("alloc_pages-bad-order", p == NULL && errno_now() == EINVAL,
		       "order %u: %p, errno %d", bad_orders[i], p, errno_now());
	}
	/* zero-size requests of the native API */
	void *v = vmalloc(0);
	CHECK("vmalloc-zero", v == NULL || buddyslab_owns(v) == 1);
	vfree(v);
	vfree(NULL);
	__free_pages(NULL, 0);
	CHECK("native-null-frees", 1);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_REQUIRE_BUDDYSLAB();
	if (argc > 1) {
		/* the named death cases only */
		for (int a = 1; a < argc; a++) {
			size_t i;
			for (i = 0; i < NR_CASES; i++)
				if (!strcmp(argv[a], cases[i].name))
					break;
			if (i == NR_CASES) {
				fprintf(stderr, "%s: no case %s\n", argv[0], argv[a]);
				return 2;
			}
			death(cases[i].name, cases[i].fn, cases[i].wants);
		}
		return CHECK_DONE();
	}
	int pending = 0;
	for (size_t i = 0; i < NR_CASES; i++) {
		if (cases[i].pending) {
			pending++;
			continue;
		}
		death(cases[i].name, cases[i].fn, cases[i].wants);
	}
	if (pending)
		printf("(%d pending cases not run: see the xfail_*.sh scripts)\n", pending);
	test_bad_alignments();
	test_huge_sizes();
	test_native_limits();
	return CHECK_DONE();
}
