/*
 * test_bad_input.c - misuse of the API. Death tests: each case forks, the
 * child sends its stderr down a pipe and does the bad thing; the parent
 * checks that the child died of SIGABRT and said what buddyslab says
 * ("buddyslab: free(): invalid pointer 0x...") with the right address. Then
 * the non-fatal bad arguments (alignments) that must fail with EINVAL.
 *
 * A child first writes "EXPECT <address>" on its stderr, so that the parent
 * knows which address the report must name.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "death.h"

#define MiB (1UL << 20)

/* ---- the bad things, run in the child ------------------------------------- */

static void free_stack(void)
{
	volatile char buf[64];
	buf[0] = 1;
	char *p = opaque_ptr((char *)buf + 16);
	expect(p);
	free(p);
}

static void free_small_middle(void)
{
	char *p = malloc(64);
	char *bad = opaque_ptr(p + 8);
	expect(bad);
	free(bad);
}

static void free_medium_middle(void)
{
	char *p = malloc(100000);
	char *bad = opaque_ptr(p + 4096);
	expect(bad);
	free(bad);
}

/* a pointer inside the first page of a block that malloc took straight
 * from the thread's page cache (malloc_pages; the first block of the size
 * went back there): its page does head a page block, but ptr is not the
 * block's start */
static void free_medium_cached_offset(void)
{
	free(opaque_ptr(malloc(100000)));
	char *p = malloc(100000);
	char *bad = opaque_ptr(p + 64);
	expect(bad);
	free(bad);
}

static void free_mmap_page(void)
{
	void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		_exit(4);
	expect(page);
	free(page);
}

/* A foreign mapping at a 4 MiB boundary looks like the start of a chunk. */
static void free_mmap_chunk_aligned(void)
{
	char *map = mmap(NULL, 8 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			 0);
	if (map == MAP_FAILED)
		_exit(4);
	char *p = (char *)(((uintptr_t)map + 4 * MiB - 1) & ~(4 * MiB - 1));
	p[0] = 1;
	expect(p);
	free(p);
}

static void free_large_middle(void)
{
	char *p = malloc(16 * MiB);
	char *bad = opaque_ptr(p + 4096);
	expect(bad);
	free(bad);
}

static void free_misaligned(void)
{
	char *p = malloc(64);
	char *bad = opaque_ptr(p + 1);
	expect(bad);
	free(bad);
}

static void free_low_garbage(void)
{
	void *bad = opaque_ptr((void *)0x1000);
	expect(bad);
	free(bad);
}

static void free_high_garbage(void)
{
	void *bad = opaque_ptr((void *)0x7ff0deadbee0UL);
	expect(bad);
	free(bad);
}

static void free_noncanonical(void)
{
	void *bad = opaque_ptr((void *)0xffff800000001000UL);
	expect(bad);
	free(bad);
}

static void double_free_small(void)
{
	void *p = malloc(32);
	void *again = opaque_ptr(p);
	expect(p);
	free(p);
	free(again);
}

/* an object that a new slab put straight into the thread's bin
 * (carve_new_slab) and that was never handed out: freeing it is freeing a
 * free object, caught by the key every free object carries. Before, the
 * free passed, the object was in the bin twice, and malloc handed it out
 * twice. 2049-2304 B is a class this test's parent never uses: p is a new
 * slab's first object (at a page's start), q its second. */
static char *never_handed_out(void)
{
	char *p = malloc(2200);
	if (!p || ((uintptr_t)p & 4095) != 0)
		_exit(3); /* the class was used before */
	return opaque_ptr(p + malloc_usable_size(p));
}

static void free_never_handed_out(void)
{
	char *q = never_handed_out();
	expect(q);
	free(q);
}

/* the same for objects that start in a later page of the slab: the key
 * is the page's own (one a page), and the loops that set it go page by
 * page. 2304-byte objects, seven to a 16 KiB slab, all but the first
 * carved into the bin: the fourth starts in the second page, the seventh
 * in the fourth. */
static void free_never_handed_out_later_page(void)
{
	char *p = never_handed_out() - 2304; /* the slab's first object */
	char *q = opaque_ptr(p + 3 * 2304);
	expect(q);
	free(q);
}

static void free_never_handed_out_last(void)
{
	char *p = never_handed_out() - 2304;
	char *q = opaque_ptr(p + 6 * 2304);
	expect(q);
	free(q);
}

static void realloc_never_handed_out(void)
{
	char *q = never_handed_out();
	expect(q);
	escape(realloc(q, 100));
}

/* the same for an object on a new slab's freelist (slab_setup's chain):
 * a new kmem_cache of @size-byte objects hands out its first object (at a
 * page's start); the one @index objects on is chained, never handed out */
static void cache_free_chained(const char *name, size_t size, unsigned int index)
{
	struct kmem_cache *c = kmem_cache_create(name, size, 0, 0, NULL);
	if (!c)
		_exit(4);
	char *obj = kmem_cache_alloc(c, 0);
	if (!obj || ((uintptr_t)obj & 4095) != 0)
		_exit(3);
	char *q = opaque_ptr(obj + index * size);
	expect(q);
	kmem_cache_free(c, q);
}

/* 64-byte objects: the eleventh, in the first page */
static void cache_free_never_handed_out(void)
{
	cache_free_chained("never", 64, 10);
}

/* ... and on a later page of a multi-page slab's chain: 3000-byte objects
 * (five to a 16 KiB slab); the fifth starts in the third page */
static void cache_free_never_handed_out_later_page(void)
{
	cache_free_chained("never-3000", 3000, 4);
}

/* an object that another thread's frees put in the barn (slab.c): that
 * thread frees a bin's worth of 512-byte blocks of this one and more, so
 * the oldest half goes there as a sheaf, keys set; then the first is freed
 * again here */
enum { BARN_BLOCKS = 80 };
static void *barn_blocks[BARN_BLOCKS];
static pthread_barrier_t barn_freed;
static void *barn_free_all(void *arg)
{
	(void)arg;
	free(malloc(16)); /* a heap of its own from the start */
	for (unsigned int i = 0; i < BARN_BLOCKS; i++)
		free(barn_blocks[i]);
	/* stay alive: a thread's exit sends its heap's sheaves older than
	 * purge_ms (20 ms) home (heap_abandon), and under valgrind on a
	 * loaded machine the exit took that long (the child then exited 5) */
	pthread_barrier_wait(&barn_freed);
	pause();
	return NULL;
}

/* barn_512 - slabinfo's sharedavail of kmalloc-512: the objects in its
 * barn (-1 if unreadable) */
static long barn_512(void)
{
	static char buf[1 << 16];
	if (!report_read(BUDDYSLAB_REPORT_SLABINFO, buf, sizeof(buf)))
		return -1;
	char *line = strstr(buf, "\nkmalloc-512 ");
	char *end = line ? strchr(line + 1, '\n') : NULL;
	if (!end)
		return -1;
	*end = 0;
	char *last = strrchr(line, ' ');
	return last ? atol(last + 1) : -1;
}

static void double_free_in_barn(void)
{
	for (unsigned int i = 0; i < BARN_BLOCKS; i++)
		barn_blocks[i] = malloc(512);
	void *again = opaque_ptr(barn_blocks[0]);
	pthread_t t;
	pthread_barrier_init(&barn_freed, NULL, 2);
	if (pthread_create(&t, NULL, barn_free_all, NULL) != 0)
		_exit(4);
	pthread_barrier_wait(&barn_freed); /* the child dies with the thread alive */
	if (barn_512() <= 0)
		_exit(5); /* not in the barn: the test would not test it */
	expect(again);
	free(again);
}

/* an object of a multi-page slab (kmalloc-6144: 32 KiB, 5 objects) that
 * does not start on the slab's first page: free() finds its class in the
 * chunk's map, page by page, and must still check the object's start
 * against the whole slab */
static char *big_class_tail_object(void)
{
	for (int i = 0; i < 64; i++) {
		char *p = malloc(6000);
		if (p && ((uintptr_t)p & (32 * 1024 - 1)) > 4096 && ((uintptr_t)p & 4095))
			return p;
	}
	_exit(4);
}

static void free_big_class_middle(void)
{
	char *bad = opaque_ptr(big_class_tail_object() + 16);
	expect(bad);
	free(bad);
}

/* the start of a page inside the object (its page maps to its class) */
static void free_big_class_page_start(void)
{
	char *p = big_class_tail_object();
	char *bad = opaque_ptr(p + (4096 - ((uintptr_t)p & 4095)));
	expect(bad);
	free(bad);
}

static void double_free_big_class(void)
{
	void *p = big_class_tail_object();
	void *again = opaque_ptr(p);
	expect(p);
	free(p);
	free(again);
}

static void double_free_medium(void)
{
	void *p = malloc(100000);
	void *again = opaque_ptr(p);
	expect(p);
	free(p);
	free(again);
}

static void double_free_medium_cached(void)
{
	free(opaque_ptr(malloc(20000)));
	void *p = malloc(20000);
	void *again = opaque_ptr(p);
	free(p);
	expect(again); /* only now: the first free must not be the one that dies */
	free(again);
}

/* a block of 256 KiB-1 MiB: the zone keeps the last one freed of its
 * order whole (a hot block, page_alloc.c), off the free lists */
static void double_free_hot(void)
{
	void *p = malloc(300 * 1024);
	void *again = opaque_ptr(p);
	expect(p);
	free(p);
	free(again);
}

/* a mapped block of 2 MiB, freed, is the hot mapping: whole, its pagemap
 * entries still naming it (vmalloc.c) */
static void double_free_mapped_hot(void)
{
	void *p = malloc(2 * MiB);
	void *again = opaque_ptr(p);
	expect(p);
	free(p);
	free(again);
}

static void realloc_mapped_hot(void)
{
	void *p = malloc(3 * MiB);
	void *again = opaque_ptr(p);
	expect(p);
	free(p);
	void *q = realloc(again, 4 * MiB);
	escape(&q);
	_exit(4);
}

static void double_free_large(void)
{
	void *p = malloc(16 * MiB);
	void *again = opaque_ptr(p);
	expect(p);
	free(p);
	free(again);
}

/* vacated_block - a freed 4 KiB block whose page buddyslab gave back while
 * it was free: a big size class the program is shrinking (three blocks in
 * four freed, nothing allocated) has its slabs' free pages vacated. The
 * block's free-time key went with its page; buddyslab's bitmap of vacated
 * blocks must still say it is free. */
static void *vacated_block(void)
{
	enum { N = 4096 }; /* 16 MiB of 4 KiB blocks */
	static void *p[N];
	for (int i = 0; i < N; i++) {
		p[i] = malloc(4096);
		memset(p[i], 1, 4096);
	}
	for (int i = 0; i < N; i++)
		if (i % 4)
			free(p[i]);
	for (int i = N - 1; i >= 0; i--) {
		unsigned char in_memory;
		if (i % 4 && mincore(p[i], 4096, &in_memory) == 0 && !(in_memory & 1))
			return p[i];
	}
	_exit(3); /* nothing was given back */
}

static void double_free_vacated(void)
{
	void *victim = vacated_block();
	expect(victim);
	free(opaque_ptr(victim));
	_exit(4);
}

static void usable_size_vacated(void)
{
	void *victim = vacated_block();
	if (buddyslab_owns(victim))
		_exit(5); /* a freed block is not owned */
	expect(victim);
	size_t n = malloc_usable_size(opaque_ptr(victim));
	escape(&n);
	_exit(4);
}

static void realloc_stack(void)
{
	volatile char buf[64];
	buf[0] = 1;
	char *p = opaque_ptr((char *)buf + 16);
	expect(p);
	void *r = realloc(p, 100);
	escape(r);
}

static void realloc_small_middle(void)
{
	char *p = malloc(64);
	char *bad = opaque_ptr(p + 16);
	expect(bad);
	void *r = realloc(bad, 200);
	escape(r);
}

static void usable_size_stack(void)
{
	volatile char buf[64];
	buf[0] = 1;
	char *p = opaque_ptr((char *)buf + 16);
	expect(p);
	size_t n = malloc_usable_size(p);
	escape(&n);
}

static void cache_free_wrong_cache(void)
{
	struct kmem_cache *a = kmem_cache_create("bad-a", 64, 0, 0, NULL);
	struct kmem_cache *b = kmem_cache_create("bad-b", 64, 0, 0, NULL);
	if (!a || !b)
		_exit(4);
	void *obj = kmem_cache_alloc(a, 0);
	expect(obj);
	kmem_cache_free(b, obj);
}

/* a cache destroyed twice, and one allocated from after its destroy:
 * silent before (a subagent's test, 2026-11-28) */
static void cache_destroy_twice(void)
{
	struct kmem_cache *c = kmem_cache_create("bad-twice", 64, 0, 0, NULL);
	if (!c)
		_exit(4);
	kmem_cache_destroy(c);
	expect(c);
	kmem_cache_destroy(opaque_ptr(c));
}

static void cache_alloc_destroyed(void)
{
	struct kmem_cache *c = kmem_cache_create("bad-alloc", 64, 0, 0, NULL);
	if (!c)
		_exit(4);
	kmem_cache_destroy(c);
	expect(c);
	void *obj = kmem_cache_alloc(opaque_ptr(c), 0);
	escape(obj);
}

static void free_pages_wrong_order(void)
{
	void *p = alloc_pages(0, 2);
	if (!p)
		_exit(4);
	expect(p);
	__free_pages(p, 3);
}

static void free_pages_not_start(void)
{
	char *p = alloc_pages(0, 2);
	if (!p)
		_exit(4);
	char *bad = opaque_ptr(p + 4096);
	expect(bad);
	__free_pages(bad, 0);
}

/* ---- the parent's side ----------------------------------------------------- */

/* die_with - death() wanting @want, or @alt when it is not NULL. */
static void die_with(const char *name, void (*bad)(void), const char *want, const char *alt)
{
	const char *const wants[] = { want, alt, NULL };
	death(name, bad, wants);
}

#define INVALID(call) "buddyslab: " call "(): invalid pointer 0x"
#define DOUBLE(call) "buddyslab: " call "(): double free detected 0x"

static void test_deaths(void)
{
	die_with("free-stack", free_stack, INVALID("free"), NULL);
	die_with("free-small-middle", free_small_middle, INVALID("free"), NULL);
	die_with("free-medium-middle", free_medium_middle, INVALID("free"), NULL);
	die_with("free-medium-cached-offset", free_medium_cached_offset, INVALID("free"), NULL);
	die_with("free-mmap-page", free_mmap_page, INVALID("free"), NULL);
	die_with("free-mmap-4M-aligned", free_mmap_chunk_aligned, INVALID("free"), NULL);
	die_with("free-large-middle", free_large_middle, INVALID("free"), NULL);
	die_with("free-misaligned", free_misaligned, INVALID("free"), NULL);
	die_with("free-low-garbage", free_low_garbage, INVALID("free"), NULL);
	die_with("free-high-garbage", free_high_garbage, INVALID("free"), NULL);
	die_with("free-noncanonical", free_noncanonical, INVALID("free"), NULL);
	die_with("double-free-small", double_free_small, DOUBLE("free"), NULL);
	die_with("double-free-in-barn", double_free_in_barn, DOUBLE("free"), NULL);
	die_with("free-never-handed-out", free_never_handed_out, DOUBLE("free"), NULL);
	die_with("realloc-never-handed-out", realloc_never_handed_out,
		 "buddyslab: realloc(): use after free of 0x", NULL);
	die_with("kmem_cache_free-never-handed-out", cache_free_never_handed_out,
		 DOUBLE("kmem_cache_free"), NULL);
	die_with("free-never-handed-out-later-page", free_never_handed_out_later_page, DOUBLE("free"),
		 NULL);
	die_with("free-never-handed-out-last", free_never_handed_out_last, DOUBLE("free"), NULL);
	die_with("kmem_cache_free-never-handed-out-later-page", cache_free_never_handed_out_later_page,
		 DOUBLE("kmem_cache_free"), NULL);
	die_with("free-big-class-middle", free_big_class_middle, INVALID("free"), NULL);
	die_with("free-big-class-page-start", free_big_class_page_start, INVALID("free"), NULL);
	die_with("double-free-big-class", double_free_big_class, DOUBLE("free"), NULL);
	die_with("double-free-medium", double_free_medium, DOUBLE("free"), NULL);
	die_with("double-free-medium-cached", double_free_medium_cached, DOUBLE("free"), NULL);
	die_with("double-free-hot", double_free_hot, DOUBLE("free"), NULL);
	die_with("double-free-mapped-hot", double_free_mapped_hot, DOUBLE("free"), NULL);
	die_with("realloc-mapped-hot", realloc_mapped_hot,
		 "buddyslab: realloc(): use after free of 0x", NULL);
	die_with("double-free-large", double_free_large, DOUBLE("free"), INVALID("free"));
	die_with("double-free-vacated", double_free_vacated, DOUBLE("free"), NULL);
	die_with("malloc_usable_size-vacated", usable_size_vacated,
		 "buddyslab: malloc_usable_size(): use after free of 0x", NULL);
	die_with("realloc-stack", realloc_stack, INVALID("realloc"), NULL);
	die_with("realloc-small-middle", realloc_small_middle, INVALID("realloc"), NULL);
	die_with("malloc_usable_size-stack", usable_size_stack, INVALID("malloc_usable_size"),
	      NULL);
	/* Native API misuse: reported and aborted; the wording is free. */
	die_with("kmem_cache_free-wrong-cache", cache_free_wrong_cache, "buddyslab: ", NULL);
	die_with("kmem_cache_destroy-twice", cache_destroy_twice,
		 "buddyslab: kmem_cache_destroy(): destroyed or invalid cache 0x", NULL);
	die_with("kmem_cache_alloc-destroyed", cache_alloc_destroyed,
		 "buddyslab: kmem_cache_alloc(): destroyed or invalid cache 0x", NULL);
	die_with("__free_pages-wrong-order", free_pages_wrong_order, "buddyslab: ", NULL);
	die_with("__free_pages-not-block-start", free_pages_not_start, "buddyslab: ", NULL);
}

/* ---- bad arguments that are not fatal ----------------------------------------- */

static void test_bad_alignments(void)
{
	void *sentinel = (void *)0x1234, *p = sentinel;
	int ret = posix_memalign(&p, opaque(24), 8);
	CHECK("posix_memalign-24-einval", ret == EINVAL);
	CHECK("posix_memalign-24-untouched", p == sentinel);

	static const size_t bad_aligned[] = { 3, 24, 100, 4097 };
	for (size_t i = 0; i < sizeof(bad_aligned) / sizeof(bad_aligned[0]); i++) {
		errno = 0;
		void *q = aligned_alloc(opaque(bad_aligned[i]), 8);
		int e = errno_now();
		CHECKF("aligned_alloc-bad-align", q == NULL && e == EINVAL,
		       "aligned_alloc(%zu, 8) = %p, errno %d", bad_aligned[i], q, e);
		free(q);
	}

	/* memalign with a non-power of two: NULL/EINVAL, or glibc's rounding
	 * up to the next power of two. */
	static const size_t odd[] = { 3, 24, 100, 4097, 100000, 3 * MiB };
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		size_t next = 1;
		while (next < odd[i])
			next <<= 1;
		errno = 0;
		char *q = memalign(opaque(odd[i]), 40);
		int e = errno_now();
		int ok = q ? is_aligned(q, next) && malloc_usable_size(q) >= 40 : e == EINVAL;
		CHECKF("memalign-odd-align", ok, "memalign(%zu, 40) = %p, errno %d", odd[i],
		       (void *)q, e);
		if (q)
			memset(q, 1, 40);
		free(q);
	}
	/* memalign(0, n) is malloc(n) in glibc; EINVAL is also fair. */
	errno = 0;
	void *z = memalign(opaque(0), 40);
	int e = errno_now();
	CHECK("memalign-zero-align", z != NULL || e == EINVAL);
	free(z);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_REQUIRE_BUDDYSLAB();

	test_deaths();
	test_bad_alignments();

	return CHECK_DONE();
}
