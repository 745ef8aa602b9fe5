/*
 * test_vmalloc.c - unit tests of the large paths: blocks with a mapping of
 * their own (src/vmalloc.c) and page-granular blocks from the buddy
 * allocator (large_alloc in src/malloc.c), and bs_aligned's huge alignments.
 *
 * Pagemap entries cover whole 4 MiB granules: the granule that holds the
 * end of a mapping belongs to it; the granule after it may belong to another
 * chunk or mapping that starts exactly there (mmap places new mappings next
 * to old ones), never to this one. The tests check exactly that.
 *
 * Freed mappings of CHUNK_SIZE alignment may be kept in vmalloc.c's cache
 * for reuse (out of the pagemap): test_vm_cache covers it, and "unmapped"
 * is checked only where the cache may not keep a mapping.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"

#define MiB (1UL << 20)
#define KiB (1UL << 10)

static uintptr_t granule_up(uintptr_t a)
{
	return (a + CHUNK_SIZE - 1) & ~(CHUNK_SIZE - 1);
}

static struct vm_area *vm_of(const void *p)
{
	uintptr_t e = pagemap_lookup((uintptr_t)p);
	return e ? entry_vm(e) : NULL;
}

/* owner_base - where the owner of @e, the pagemap entry of address @p,
 * starts (0 for none). */
static uintptr_t owner_base(uintptr_t e, uintptr_t p)
{
	if (!e)
		return 0;
	if (entry_vm(e))
		return entry_vm(e)->addr;
	return entry_chunk(e, p)->base;
}

/* covered - every granule of [addr, addr+size) maps to @vm; the granule
 * after the range does not (it is empty or another owner's first). */
static bool covered(struct vm_area *vm, uintptr_t addr, size_t size, char *why, size_t len)
{
	uintptr_t want = (uintptr_t)vm;
	for (uintptr_t a = addr; a < addr + size; a += CHUNK_SIZE / 2) {
		if (pagemap_lookup(a) != want) {
			snprintf(why, len, "offset %#lx not mapped to the area", (unsigned long)(a - addr));
			return false;
		}
	}
	if (pagemap_lookup(addr + size - 1) != want) {
		snprintf(why, len, "last byte not mapped to the area");
		return false;
	}
	uintptr_t end = granule_up(addr + size);
	if (pagemap_lookup(end - 1) != want) {
		snprintf(why, len, "rest of the last granule not mapped to the area");
		return false;
	}
	uintptr_t after = pagemap_lookup(end);
	if (after == want || (after && owner_base(after, end) != end)) {
		snprintf(why, len, "granule after the end: entry %#lx", (unsigned long)after);
		return false;
	}
	return true;
}

/* cleared - no granule of [addr, addr+size) maps to @vm any more. */
static bool cleared(struct vm_area *vm, uintptr_t addr, size_t size)
{
	uintptr_t want = (uintptr_t)vm;
	for (uintptr_t a = addr & ~(CHUNK_SIZE - 1); a < addr + size; a += CHUNK_SIZE)
		if (pagemap_lookup(a) == want)
			return false;
	return true;
}

/* one word per page: a mapping's contents without touching all of it */
static void stamp_pages(uintptr_t addr, size_t size, uint64_t seed)
{
	for (size_t off = 0; off + sizeof(uint64_t) <= size; off += PAGE_SIZE)
		*(uint64_t *)(addr + off) = seed ^ off;
}

static bool stamps_ok(uintptr_t addr, size_t size, uint64_t seed)
{
	for (size_t off = 0; off + sizeof(uint64_t) <= size; off += PAGE_SIZE)
		if (*(uint64_t *)(addr + off) != (seed ^ off))
			return false;
	return true;
}

/* place_blocker - map a page at @at, so that a block that ends there cannot
 * grow in place; NULL if the address is taken (or the kernel took
 * MAP_FIXED_NOREPLACE as a hint). */
static void *place_blocker(void *at)
{
	void *b = mmap(at, PAGE_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (b == at)
		return b;
	if (b != MAP_FAILED)
		munmap(b, PAGE_SIZE);
	return NULL;
}

/* ---- vmalloc_node / vfree_area ----------------------------------------------- */

static void test_vmalloc_sizes(void)
{
	char why[256];
	static const size_t sizes[] = {
		5 * MiB,      5 * MiB + 1,  6 * MiB,      8 * MiB,        8 * MiB + 4096,
		12 * MiB - 1, 16 * MiB,     33 * MiB + 5, 64 * MiB - 4095, 64 * MiB,
	};
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		size_t size = sizes[i];
		size_t mapsize = (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
		unsigned long areas = atomic_load(&vm_nr_areas), bytes = atomic_load(&vm_bytes);
		void *p = vmalloc_node(size, PAGE_SIZE, 0);
		REQUIRE("vm-alloc", p != NULL);
		uintptr_t a = (uintptr_t)p;
		CHECKF("vm-aligned", a % CHUNK_SIZE == 0, "size %zu at %p", size, p);
		uintptr_t e = pagemap_lookup(a);
		struct vm_area *vm = vm_of(p);
		CHECKF("vm-tagged", e == (uintptr_t)vm && vm != NULL && !entry_chunk(e, a), "size %zu entry %#lx", size,
		       (unsigned long)e);
		if (!vm)
			continue;
		CHECK("vm-descriptor", vm->addr == a && vm->size == mapsize && vm->magic == VM_MAGIC &&
					       vm->align == CHUNK_SIZE);
		CHECKF("vm-covered", covered(vm, a, mapsize, why, sizeof(why)), "size %zu: %s", size, why);
		CHECK("vm-inside", vm_of((char *)p + size / 2) == vm && vm_of((char *)p + size - 1) == vm);
		CHECK("vm-not-buddy", virt_to_page(a) == NULL);
		CHECK("vm-counters", atomic_load(&vm_nr_areas) == areas + 1 &&
					     atomic_load(&vm_bytes) == bytes + mapsize);
		stamp_pages(a, size, 0x1234 + i);
		((volatile char *)p)[size - 1] = 'z'; /* the last byte is usable */
		CHECK("vm-usable", stamps_ok(a, size - 1, 0x1234 + i) &&
					   ((volatile char *)p)[size - 1] == 'z');
		if (i % 2) {
			bs_free(p); /* free() of a mapped block ends in vfree_area */
		} else {
			vfree_area(vm);
		}
		CHECKF("vm-freed-pagemap", cleared(vm, a, mapsize) && pagemap_lookup(a) == 0,
		       "size %zu", size);
		CHECK("vm-freed-counters", atomic_load(&vm_nr_areas) == areas &&
						   atomic_load(&vm_bytes) == bytes);
	}
}

/* ---- vrealloc_area --------------------------------------------------------- */

static void test_vrealloc(void)
{
	char why[256];

	/* grow, moving or in place, whichever the address space allows */
	void *p = vmalloc_node(5 * MiB, PAGE_SIZE, 0);
	REQUIRE("vre-alloc", p != NULL);
	struct vm_area *vm = vm_of(p);
	REQUIRE("vre-vm", vm != NULL);
	stamp_pages((uintptr_t)p, 5 * MiB, 77);
	static const size_t grow[] = { 9 * MiB, 20 * MiB + 123, 64 * MiB };
	size_t cur = 5 * MiB;
	for (size_t i = 0; i < ARRAY_SIZE(grow); i++) {
		uintptr_t old = vm->addr;
		size_t newsize = (grow[i] + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
		void *q = vrealloc_area(vm, grow[i]);
		REQUIRE("vre-grow", q != NULL);
		CHECK("vre-grow-desc", vm->addr == (uintptr_t)q && vm->size == newsize &&
					       (uintptr_t)q % CHUNK_SIZE == 0);
		CHECKF("vre-grow-kept", stamps_ok((uintptr_t)q, cur, 77), "grow to %zu", grow[i]);
		CHECKF("vre-grow-covered", covered(vm, (uintptr_t)q, newsize, why, sizeof(why)),
		       "grow to %zu: %s", grow[i], why);
		if ((uintptr_t)q != old)
			CHECKF("vre-grow-old-cleared", cleared(vm, old, cur), "grow to %zu moved", grow[i]);
		stamp_pages((uintptr_t)q, newsize, 77);
		cur = newsize;
	}

	/* shrink: always in place; granules past the new end are cleared */
	uintptr_t a = vm->addr;
	unsigned long bytes = atomic_load(&vm_bytes);
	void *q = vrealloc_area(vm, 21 * MiB);
	CHECK("vre-shrink-in-place", q == (void *)a && vm->size == 21 * MiB);
	CHECKF("vre-shrink-covered", covered(vm, a, 21 * MiB, why, sizeof(why)), "%s", why);
	CHECK("vre-shrink-tail-cleared", cleared(vm, a + 24 * MiB, 40 * MiB) &&
						 pagemap_lookup(a + 24 * MiB) == 0 &&
						 pagemap_lookup(a + 63 * MiB) == 0);
	CHECK("vre-shrink-kept", stamps_ok(a, 21 * MiB, 77));
	CHECK("vre-shrink-bytes", atomic_load(&vm_bytes) == bytes - 43 * MiB);
	/* the tail really is unmapped */
	CHECK("vre-shrink-unmapped", msync((void *)(a + 32 * MiB), PAGE_SIZE, MS_ASYNC) == -1 &&
					     errno == ENOMEM);

	/* grow in place: the space just given back is free */
	q = vrealloc_area(vm, 40 * MiB);
	CHECK("vre-grow-in-place", q == (void *)a && vm->size == 40 * MiB);
	CHECKF("vre-in-place-covered", covered(vm, a, 40 * MiB, why, sizeof(why)), "%s", why);
	CHECK("vre-in-place-kept", stamps_ok(a, 21 * MiB, 77));
	stamp_pages(a, 40 * MiB, 78);

	/* grow with the next page taken: the block must move */
	void *blocker = place_blocker((void *)(a + 40 * MiB));
	bool own_blocker = blocker != NULL;
	CHECKF("vre-blocker", own_blocker || errno == EEXIST, "mmap at %#lx: %p",
	       (unsigned long)(a + 40 * MiB), blocker);
	q = vrealloc_area(vm, 48 * MiB);
	REQUIRE("vre-move", q != NULL);
	CHECK("vre-moved", q != (void *)a && vm->addr == (uintptr_t)q && vm->size == 48 * MiB &&
				   (uintptr_t)q % CHUNK_SIZE == 0);
	CHECK("vre-moved-kept", stamps_ok((uintptr_t)q, 40 * MiB, 78));
	CHECKF("vre-moved-covered", covered(vm, (uintptr_t)q, 48 * MiB, why, sizeof(why)), "%s", why);
	CHECK("vre-moved-old-cleared", cleared(vm, a, 40 * MiB));
	if (own_blocker)
		munmap(blocker, PAGE_SIZE);

	/* same size: nothing happens */
	CHECK("vre-same", vrealloc_area(vm, 48 * MiB - 100) == q && vm->size == 48 * MiB);

	uintptr_t last = vm->addr;
	size_t lastsize = vm->size;
	vfree_area(vm);
	CHECK("vre-freed", cleared(vm, last, lastsize) && pagemap_lookup(last) == 0);
}

/* ---- huge alignments --------------------------------------------------------- */

static void test_aligned(void)
{
	static const size_t aligns[] = { 8 * MiB, 32 * MiB, 64 * MiB };
	static const size_t sizes[] = { 1, 100 * KiB, 4 * MiB, 5 * MiB, 10 * MiB };
	for (size_t i = 0; i < ARRAY_SIZE(aligns); i++) {
		for (size_t j = 0; j < ARRAY_SIZE(sizes); j++) {
			size_t align = aligns[i], size = sizes[j];
			unsigned long areas = atomic_load(&vm_nr_areas);
			void *p = bs_aligned(align, size, "test");
			REQUIRE("align-alloc", p != NULL);
			struct vm_area *vm = vm_of(p);
			CHECKF("align-honoured", (uintptr_t)p % align == 0, "align %zu size %zu: %p",
			       align, size, p);
			CHECKF("align-vm", vm && vm->addr == (uintptr_t)p && vm->align == align &&
						   vm->size >= size,
			       "align %zu size %zu", align, size);
			memset(p, 0x5c, size);
			bs_free(p);
			CHECK("align-freed", atomic_load(&vm_nr_areas) == areas && pagemap_lookup((uintptr_t)p) == 0);
		}
	}

	/* a moving realloc keeps the alignment */
	void *p = bs_aligned(32 * MiB, 5 * MiB, "test");
	REQUIRE("align-realloc-alloc", p != NULL);
	struct vm_area *vm = vm_of(p);
	REQUIRE("align-realloc-vm", vm != NULL);
	stamp_pages((uintptr_t)p, 5 * MiB, 99);
	void *blocker = place_blocker((char *)p + 5 * MiB);
	bool own_blocker = blocker != NULL;
	void *q = vrealloc_area(vm, 40 * MiB);
	REQUIRE("align-realloc", q != NULL);
	CHECKF("align-realloc-moved-aligned", q != p && (uintptr_t)q % (32 * MiB) == 0, "%p -> %p", p, q);
	CHECK("align-realloc-kept", stamps_ok((uintptr_t)q, 5 * MiB, 99));
	if (own_blocker)
		munmap(blocker, PAGE_SIZE);
	bs_free(q);

	/* alignments the buddy allocator gives by itself: a block of the
	 * alignment's order, of which the size's whole block stays (100
	 * bytes: one page; 40 KiB: the 16 pages of order 4), the rest given
	 * back */
	static const struct {
		size_t align, size;
		unsigned long pages;
	} buddy_aligned[] = {
		{ 8 * KiB, 100, 1 },        { 64 * KiB, 100, 1 },       { 1 * MiB, 100, 1 },
		{ 4 * MiB, 100, 1 },        { 64 * KiB, 40 * KiB, 16 }, { 1 * MiB, 40 * KiB, 16 },
		{ 4 * MiB, 40 * KiB, 16 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(buddy_aligned); i++) {
		size_t align = buddy_aligned[i].align, size = buddy_aligned[i].size;
		unsigned long block = buddy_aligned[i].pages;
		unsigned long used = used_pages();
		void *b = bs_aligned(align, size, "test");
		REQUIRE("align-buddy-alloc", b != NULL);
		struct page *page = virt_to_page((uintptr_t)b);
		CHECKF("align-buddy", (uintptr_t)b % align == 0 && page && page->type == PAGE_LARGE &&
					      page->nr_pages == block,
		       "align %zu size %zu: %p, %u pages", align, size, b, page ? page->nr_pages : 0);
		CHECKF("align-buddy-trimmed", used_pages() == used + block,
		       "align %zu size %zu: used %lu -> %lu", align, size, used, used_pages());
		unit_fill(b, size, 11);
		CHECK("align-buddy-contents", unit_verify(b, size, 11));
		bs_free(b);
		CHECK("align-buddy-freed", used_pages() == used);
	}
}

/* ---- the cache of freed mappings ------------------------------------------ */

static bool is_mapped(const void *p)
{
	return msync((void *)((uintptr_t)p & ~(PAGE_SIZE - 1)), PAGE_SIZE, MS_ASYNC) == 0;
}

/* nr_mapped - how many of the @n blocks (NULL: none) are still mapped */
static int nr_mapped(void *const *blocks, int n)
{
	int mapped = 0;
	for (int i = 0; i < n; i++)
		mapped += blocks[i] && is_mapped(blocks[i]);
	return mapped;
}

static bool all_zero_pages(const void *p, size_t size)
{
	for (size_t off = 0; off < size; off += PAGE_SIZE / 4)
		if (((const volatile char *)p)[off] != 0)
			return false;
	return ((const volatile char *)p)[size - 1] == 0;
}

/* pieces_ok - @vm's pieces add up to its size, each a whole number of
 * pages */
static bool pieces_ok(const struct vm_area *vm)
{
	size_t sum = 0;
	if (vm->pieces.nr < 1 || vm->pieces.nr > VM_MAX_PIECES)
		return false;
	for (unsigned int i = 0; i < vm->pieces.nr; i++) {
		if (vm->pieces.size[i] == 0 || vm->pieces.size[i] % PAGE_SIZE)
			return false;
		sum += vm->pieces.size[i];
	}
	return sum == vm->size;
}

/* set_purge_ms - the zone's purge_ms becomes @ms; returns the old value
 * (a test that must not see blocks age sets it long, then puts it back) */
static unsigned long set_purge_ms(unsigned long ms)
{
	zone_lock();
	unsigned long old = zone.purge_ms;
	zone.purge_ms = ms;
	zone_unlock();
	return old;
}

/* resident - pages of [p, p+size) in memory (mincore) */
static size_t resident(const void *p, size_t size)
{
	static unsigned char vec[64 * MiB / PAGE_SIZE];
	if (size > sizeof(vec) * PAGE_SIZE || mincore((void *)p, size, vec) != 0)
		return 0;
	size_t n = 0;
	for (size_t i = 0; i < size / PAGE_SIZE; i++)
		n += vec[i] & 1;
	return n;
}

/*
 * A block bigger than every cached mapping is made of several of them,
 * moved side by side with mremap (their pages come along, resident), the
 * rest fresh pages; such a block is several VMAs, and realloc moves,
 * grows and shrinks it piece by piece. Caller keeps purge_ms long.
 */
static void test_vm_cache_gather(void)
{
	vm_cache_drain();
	void *a = vmalloc_node(6 * MiB, PAGE_SIZE, 0);
	void *b = vmalloc_node(5 * MiB, PAGE_SIZE, 0);
	REQUIRE("gather-alloc", a && b);
	stamp_pages((uintptr_t)a, 6 * MiB, 21);
	stamp_pages((uintptr_t)b, 5 * MiB, 22);
	vfree_area(vm_of(a));
	vfree_area(vm_of(b));
	void *q = vmalloc_node(13 * MiB, PAGE_SIZE, 0);
	REQUIRE("gather-take", q != NULL);
	struct vm_area *vm = vm_of(q);
	REQUIRE("gather-vm", vm != NULL);
	CHECKF("gather-pieces", pieces_ok(vm) && vm->pieces.nr >= 2, "%u pieces", vm->pieces.nr);
	CHECK("gather-aligned", ((uintptr_t)q & (CHUNK_SIZE - 1)) == 0);
	/* largest first: a's pages, then b's, then 2 MiB of fresh pages */
	CHECK("gather-first-pages", stamps_ok((uintptr_t)q, 6 * MiB, 21));
	CHECK("gather-second-pages", stamps_ok((uintptr_t)q + 6 * MiB, 5 * MiB, 22));
	CHECK("gather-resident", resident(q, 11 * MiB) == 11 * MiB / PAGE_SIZE);
	CHECK("gather-rest-zero", all_zero_pages((char *)q + 11 * MiB, 2 * MiB));
	/* a's and b's old places are given up (unless q is there) */
	bool in_q_a = (char *)a >= (char *)q && (char *)a < (char *)q + 13 * MiB;
	bool in_q_b = (char *)b >= (char *)q && (char *)b < (char *)q + 13 * MiB;
	CHECK("gather-cache-empty", (in_q_a || !is_mapped(a)) && (in_q_b || !is_mapped(b)));
	char why[256];
	CHECKF("gather-covered", covered(vm, (uintptr_t)q, vm->size, why, sizeof(why)), "%s", why);
	stamp_pages((uintptr_t)q, 13 * MiB, 23);

	/* grow by moving: every piece goes, the last one first, growing */
	void *blocker = place_blocker((char *)q + 13 * MiB);
	bool own_blocker = blocker != NULL;
	unsigned int nr = vm->pieces.nr;
	void *r = vrealloc_area(vm, 30 * MiB);
	REQUIRE("gather-move", r != NULL);
	CHECK("gather-move-kept", stamps_ok((uintptr_t)r, 13 * MiB, 23));
	CHECK("gather-move-tail-zero", all_zero_pages((char *)r + 13 * MiB, 17 * MiB));
	CHECKF("gather-move-pieces", pieces_ok(vm) && vm->pieces.nr == nr, "%u pieces, was %u",
	       vm->pieces.nr, nr); /* the last one grew into the reservation's rest */
	CHECKF("gather-move-covered", covered(vm, (uintptr_t)r, vm->size, why, sizeof(why)), "%s", why);
	if (own_blocker) {
		CHECK("gather-moved", r != q && !is_mapped(q));
		munmap(blocker, PAGE_SIZE);
	}
	stamp_pages((uintptr_t)r, 30 * MiB, 24);

	/* shrink across pieces: what is left still moves */
	r = vrealloc_area(vm, 7 * MiB);
	REQUIRE("gather-shrink", r != NULL);
	CHECK("gather-shrink-pieces", pieces_ok(vm) && vm->size == 7 * MiB);
	CHECK("gather-shrink-kept", stamps_ok((uintptr_t)r, 7 * MiB, 24));
	CHECK("gather-shrink-unmapped", !is_mapped((char *)r + 7 * MiB));

	/* freed, the whole block is one cached mapping, reused in place */
	vfree_area(vm);
	q = vmalloc_node(7 * MiB, PAGE_SIZE, __GFP_ZERO);
	REQUIRE("gather-reuse", q != NULL);
	CHECK("gather-reuse-in-place", q == r && pieces_ok(vm_of(q)));
	CHECK("gather-reuse-zeroed", all_zero_pages(q, 7 * MiB));
	stamp_pages((uintptr_t)q, 7 * MiB, 25);

	/* the program splits a piece into VMAs (madvise on one page): the
	 * kernel will not grow or move it with mremap (nor, before Linux 6.17,
	 * move it), so realloc copies it, as glibc does; freed and cached, it
	 * serves in place, but a block that would move it gives it up */
	CHECK("split-madvise", madvise((char *)q + 6 * MiB + PAGE_SIZE, PAGE_SIZE, MADV_DONTFORK) == 0);
	blocker = place_blocker((char *)q + 7 * MiB);
	own_blocker = blocker != NULL;
	vm = vm_of(q);
	CHECK("split-not-movable", vm && vrealloc_area(vm, 9 * MiB) == NULL && vm->addr == (uintptr_t)q &&
					   vm->size == 7 * MiB && stamps_ok((uintptr_t)q, 7 * MiB, 25));
	void *s = bs_realloc(q, 9 * MiB);
	REQUIRE("split-realloc", s != NULL);
	CHECK("split-realloc-copied", s != q && stamps_ok((uintptr_t)s, 7 * MiB, 25));
	if (own_blocker)
		munmap(blocker, PAGE_SIZE);
	bs_free(s); /* cached beside q's old mapping */
	void *t = vmalloc_node(20 * MiB, PAGE_SIZE, 0); /* would move both */
	REQUIRE("split-gather", t != NULL);
	bool q_gone = !is_mapped(q) || ((char *)q >= (char *)t && (char *)q < (char *)t + 20 * MiB);
	CHECK("split-gather-gives-up", q_gone && pieces_ok(vm_of(t)) && vm_of(t)->pieces.nr == 1 &&
					       all_zero_pages(t, 20 * MiB));
	vfree(t);
	vm_cache_drain();
	CHECK("gather-drained", !is_mapped(r) && !is_mapped((char *)r + 7 * MiB - PAGE_SIZE));
	CHECKF("gather-pieces-counted", atomic_load(&vm_pieces_live) == (long)atomic_load(&vm_nr_areas),
	       "%ld pieces live, %lu mapped blocks", atomic_load(&vm_pieces_live),
	       (unsigned long)atomic_load(&vm_nr_areas));
}

/*
 * A block cut from a cached mapping (the mapping's rest cached right after
 * it) grows into that rest: its pages join the block, in place, as part of
 * the block's last piece (one VMA), and the rest of the rest stays cached.
 * Growing by small steps, the block stays one piece. A rest too small, and
 * the block grows as before. Caller keeps purge_ms long.
 */
static void test_vm_grow_into_cached(void)
{
	char why[256];
	vm_cache_drain();
	long pieces_before_test = atomic_load(&vm_pieces_live);
	void *p = vmalloc_node(8 * MiB, PAGE_SIZE, 0);
	REQUIRE("after-alloc", p != NULL);
	stamp_pages((uintptr_t)p, 2 * MiB, 31);
	stamp_pages((uintptr_t)p + 2 * MiB, 4 * MiB, 34);
	stamp_pages((uintptr_t)p + 6 * MiB, 2 * MiB, 35);
	vfree_area(vm_of(p));
	void *q = vmalloc_node(2 * MiB, PAGE_SIZE, 0);
	REQUIRE("after-cut", q == p); /* the 8 MiB mapping, cut: 6 MiB cached after it */
	stamp_pages((uintptr_t)q, 2 * MiB, 32);
	struct vm_area *vm = vm_of(q);
	void *r = vrealloc_area(vm, 5 * MiB);
	CHECK("after-in-place", r == q);
	CHECKF("after-pieces", pieces_ok(vm) && vm->pieces.nr == 1 && vm->size == 5 * MiB,
	       "%u pieces, %zu bytes", vm->pieces.nr, vm->size);
	CHECK("after-kept", stamps_ok((uintptr_t)q, 2 * MiB, 32));
	/* the old pages are there, resident: no zeroing, no page fault */
	CHECK("after-old-pages", stamps_ok((uintptr_t)q + 2 * MiB, 3 * MiB, 34) &&
					 resident((char *)q + 2 * MiB, 3 * MiB) == 3 * MiB / PAGE_SIZE);
	CHECKF("after-covered", covered(vm, (uintptr_t)q, vm->size, why, sizeof(why)), "%s", why);
	/* by small steps, 64 of them (as many as a block may have pieces) */
	for (int i = 1; i <= 64; i++)
		r = vrealloc_area(vm, 5 * MiB + (size_t)i * 16 * KiB);
	CHECKF("after-steps", r == q && pieces_ok(vm) && vm->pieces.nr == 1 && vm->size == 6 * MiB,
	       "%u pieces, %zu bytes", vm->pieces.nr, vm->size);
	CHECK("after-steps-kept", stamps_ok((uintptr_t)q, 2 * MiB, 32) &&
					  stamps_ok((uintptr_t)q + 2 * MiB, 4 * MiB, 34));
	/* the rest of the rest (2 MiB) is still cached: a block of it moves
	 * (it is not on a chunk boundary), with its pages */
	void *t = vmalloc_node(2 * MiB, PAGE_SIZE, 0);
	REQUIRE("after-rest-alloc", t != NULL);
	CHECK("after-rest-reused", stamps_ok((uintptr_t)t, 2 * MiB, 35));
	vfree(t);

	/* a rest smaller than the growth: not taken, the block grows as
	 * before (here by moving: the rest is in the way) */
	vm_cache_drain();
	stamp_pages((uintptr_t)q, 6 * MiB, 33);
	vfree_area(vm);
	q = vmalloc_node(4 * MiB, PAGE_SIZE, 0); /* 2 MiB cached after it */
	REQUIRE("after-small-cut", q == p);
	vm = vm_of(q);
	r = vrealloc_area(vm, 7 * MiB);
	REQUIRE("after-small-grow", r != NULL);
	CHECK("after-small-kept", stamps_ok((uintptr_t)r, 4 * MiB, 33) && vm->size == 7 * MiB &&
					  pieces_ok(vm));
	CHECKF("after-small-covered", covered(vm, (uintptr_t)r, vm->size, why, sizeof(why)), "%s", why);
	vfree(r);
	vm_cache_drain();
	CHECKF("after-pieces-counted", atomic_load(&vm_pieces_live) == pieces_before_test,
	       "%ld pieces live, %ld before", atomic_load(&vm_pieces_live), pieces_before_test);
}

/*
 * The cache of freed mappings keeps up to the peak of the live mapped
 * blocks: a program that allocates and frees its large blocks in batches
 * reuses them all. When the zone finds the program freeing four times more
 * than it takes back (zone_is_shrinking), and no mapped block was asked
 * for in purge_ms, the cache keeps at most 4 MiB (VM_CACHE_FIT_FLOOR):
 * otherwise only age trims it (test_vm_cache_expiry).
 */
static void test_vm_cache_shrinking(void)
{
	/* SMALL blocks of 200 KiB (64 pages each) stay below the high
	 * watermark (4096 pages), whose purge would start the counts anew */
	enum { N = 12, SMALL = 48 };
	void *blocks[N], *small[SMALL];
	/* a slow (sanitized) run does not age them */
	unsigned long saved_purge_ms = set_purge_ms(600000);
	vm_cache_drain();
	zone_purge(0, true, 0); /* the zone's counts start from nothing */

	/* batches: all of the last one is reused */
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < N; i++) {
			blocks[i] = large_alloc(3 * MiB, PAGE_SIZE, 0);
			REQUIRE("batch-alloc", blocks[i] != NULL && vm_of(blocks[i]) != NULL);
			memset(blocks[i], 0x3c, 3 * MiB);
		}
		for (int i = 0; i < N; i++)
			bs_free(blocks[i]);
	}
	int mapped = nr_mapped(blocks, N);
	CHECKF("batch-kept", mapped == N, "%d of %d freed mappings kept", mapped, N);

	/* shrinking: the zone takes back many more pages than it gives, and
	 * no mapped block was asked for in purge_ms */
	for (int i = 0; i < N; i++)
		blocks[i] = large_alloc(3 * MiB, PAGE_SIZE, 0);
	void *hot = vmalloc_node(2 * MiB, PAGE_SIZE, 0);
	REQUIRE("shrinking-hot-alloc", hot != NULL);
	memset(hot, 0x3d, 2 * MiB);
	vfree_area(vm_of(hot));
	CHECK("shrinking-hot-parked", vm_of(hot) && vm_area_is_hot(vm_of(hot)));
	for (int i = 0; i < SMALL; i++)
		small[i] = large_alloc(200 * KiB, PAGE_SIZE, 0);
	for (int i = 0; i < SMALL; i++)
		bs_free(small[i]);
	CHECK("zone-shrinking", zone_is_shrinking());
	set_purge_ms(saved_purge_ms);
	usleep((useconds_t)(2 * saved_purge_ms * 1000));
	/* what the zone calls when it finds the program shrinking
	 * (zone_maybe_purge): the hot mapping goes too */
	vm_cache_fit_budget();
	CHECK("shrinking-hot-given-back", pagemap_lookup((uintptr_t)hot) == 0 && !is_mapped(hot));
	for (int i = 0; i < N; i++)
		bs_free(blocks[i]);
	mapped = nr_mapped(blocks, N);
	CHECKF("shrinking-let-go", mapped <= 1, "%d of %d freed mappings still mapped", mapped, N);
	vm_cache_drain();
}

/* small_churn - malloc and free enough small blocks that their bins go to
 * their slow paths (refills and flushes) a few hundred times */
static void small_churn(void)
{
	enum { N = 4096 };
	static void *objs[N];
	for (int round = 0; round < 32; round++) {
		for (int i = 0; i < N; i++) {
			objs[i] = bs_malloc(48 + (size_t)(i % 4) * 16);
			REQUIRE("churn-alloc", objs[i] != NULL);
		}
		for (int i = 0; i < N; i++)
			bs_free(objs[i]);
	}
}

/*
 * A program that freed its large blocks and goes on with small ones gets
 * the cached mappings back once they are purge_ms old, by the small
 * blocks' slow paths (vm_cache_expire from heap_bin_gc): no vm call needs
 * to come. Young ones stay.
 */
static void test_vm_cache_expiry(void)
{
	enum { N = 4 };
	void *old[N], *young[N];
	unsigned long saved_purge_ms = set_purge_ms(600000);
	vm_cache_drain();
	for (int i = 0; i < N; i++) {
		old[i] = vmalloc_node(3 * MiB, PAGE_SIZE, 0);
		REQUIRE("expiry-alloc", old[i] != NULL);
		memset(old[i], 0x5a, 3 * MiB);
	}
	for (int i = 0; i < N; i++)
		vfree_area(vm_of(old[i]));
	small_churn();
	int mapped = nr_mapped(old, N);
	CHECKF("expiry-long-purge-kept", mapped == N, "%d of %d cached mappings left", mapped, N);

	/* @old are 600 ms old when @young are freed; purge_ms is 500 */
	set_purge_ms(500);
	usleep(600 * 1000);
	for (int i = 0; i < N; i++) {
		young[i] = vmalloc_node(3 * MiB, PAGE_SIZE, 0);
		REQUIRE("expiry-alloc-young", young[i] != NULL);
	}
	/* (the old ones went first: a take trims the cache) */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < N; i++)
		vfree_area(vm_of(young[i]));
	small_churn();
	mapped = nr_mapped(young, N);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long young_ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	/* judged only if they were young all along (a stalled test's were not:
	 * the zone clock ticks in 4 ms steps) */
	if (young_ms < 500 - 10)
		CHECKF("expiry-young-kept", mapped == N, "%d of %d young mappings left", mapped, N);
	else
		printf("note: expiry-young-kept not judged: the young mappings' window took %ld ms\n",
		       young_ms);
	usleep(600 * 1000);
	small_churn();
	mapped = nr_mapped(young, N);
	CHECKF("expiry-old-unmapped", mapped == 0, "%d of %d old mappings still mapped", mapped, N);

	/* the oldest mapping taken out for a block, the next oldest is the
	 * one that expires */
	set_purge_ms(600000);
	void *first = vmalloc_node(3 * MiB, PAGE_SIZE, 0), *second = vmalloc_node(6 * MiB, PAGE_SIZE, 0);
	REQUIRE("expiry-alloc-two", first != NULL && second != NULL);
	vfree_area(vm_of(first));
	usleep(20 * 1000);
	vfree_area(vm_of(second));
	void *reuse = vmalloc_node(3 * MiB, PAGE_SIZE, 0); /* the smallest that holds it */
	CHECK("expiry-reused-first", reuse == first);
	set_purge_ms(500);
	usleep(600 * 1000);
	small_churn();
	CHECK("expiry-next-oldest-unmapped", !is_mapped(second));
	vfree(reuse);
	set_purge_ms(saved_purge_ms);
	vm_cache_drain();
}

/*
 * The zone about to map a chunk takes a chunk's worth of cached mappings
 * back, young as they are (vm_cache_shrink_for_growth; the oldest first):
 * a program that freed 120 MiB of big blocks and then made 120 MiB of
 * 256 KiB ones had both resident, twice glibc's peak.
 */
static void test_vm_cache_zone_growth(void)
{
	/* each chunk mapped gives back one 6 MiB mapping at least */
	enum { N = 3, BLOCKS = 64 };
	void *big[N], *mid[BLOCKS];
	unsigned long saved_purge_ms = set_purge_ms(600000);
	vm_cache_drain();
	for (int i = 0; i < N; i++) {
		big[i] = vmalloc_node(6 * MiB, PAGE_SIZE, 0);
		REQUIRE("growth-alloc-big", big[i] != NULL);
		memset(big[i], 0x6b, 6 * MiB);
	}
	for (int i = 0; i < N; i++) {
		vfree_area(vm_of(big[i]));
		usleep(5000); /* stamps in order: big[0] the oldest */
	}
	int mapped = nr_mapped(big, N);
	REQUIRE("growth-cached", mapped == N);
	zone_purge(0, true, 0); /* no free chunk left: the blocks below grow the zone */
	unsigned long chunks = zone.nr_chunks;
	for (int i = 0; i < BLOCKS; i++) {
		mid[i] = large_alloc(256 * KiB, PAGE_SIZE, 0);
		REQUIRE("growth-alloc-mid", mid[i] != NULL);
		memset(mid[i], 0x6c, 256 * KiB);
	}
	unsigned long grown = zone.nr_chunks - chunks;
	/* counted in the cache, not by is_mapped: without the direct map
	 * (ASan), a new chunk may be mapped where a cached mapping was */
	unsigned int cached = 0;
	size_t cached_bytes = 0;
	bool hot;
	REQUIRE("growth-counts", vm_cache_counts(&cached, &cached_bytes, &hot));
	unsigned long want = grown >= N ? 0 : N - grown;
	CHECKF("growth-cache-given-back", grown > 0 && cached <= want,
	       "the zone grew by %lu chunks; %u of %d cached mappings left", grown, cached, N);
	for (int i = 0; i < BLOCKS; i++)
		bs_free(mid[i]);
	set_purge_ms(saved_purge_ms);
	vm_cache_drain();
}

static void test_vm_cache(void)
{
	char why[256];
	/* cached mappings live purge_ms: keep them for the whole test */
	unsigned long saved_purge_ms = set_purge_ms(600000);
	vm_cache_drain();

	/* a freed mapping stays mapped, out of the pagemap, and the next
	 * block it holds reuses it in place; the rest stays cached */
	void *p = vmalloc_node(6 * MiB, PAGE_SIZE, 0);
	REQUIRE("cache-alloc", p != NULL);
	stamp_pages((uintptr_t)p, 6 * MiB, 5);
	vfree_area(vm_of(p));
	CHECK("cache-freed-not-in-pagemap", pagemap_lookup((uintptr_t)p) == 0);
	CHECK("cache-freed-still-mapped", is_mapped(p));
	void *q = vmalloc_node(5 * MiB + 1, PAGE_SIZE, 0);
	REQUIRE("cache-realloc", q != NULL);
	struct vm_area *vm = vm_of(q);
	CHECKF("cache-reused", q == p, "%p, freed %p", q, p);
	CHECK("cache-reused-size", vm && vm->size == 5 * MiB + PAGE_SIZE);
	CHECKF("cache-reused-covered", vm && covered(vm, (uintptr_t)q, vm->size, why, sizeof(why)), "%s",
	       vm ? why : "no vm");
	CHECK("cache-reused-pieces", vm && pieces_ok(vm) && vm->pieces.nr == 1);
	CHECK("cache-rest-kept", is_mapped((char *)q + 5 * MiB + PAGE_SIZE) &&
					 is_mapped((char *)q + 6 * MiB - PAGE_SIZE));
	if (vm)
		vfree_area(vm);

	/* a reused mapping is zeroed for __GFP_ZERO (calloc) and vzalloc */
	p = vmalloc_node(6 * MiB, PAGE_SIZE, 0);
	REQUIRE("cache-alloc-2", p != NULL);
	memset(p, 0xab, 6 * MiB);
	vfree_area(vm_of(p));
	q = vmalloc_node(6 * MiB, PAGE_SIZE, __GFP_ZERO);
	REQUIRE("cache-zero-alloc", q != NULL);
	CHECKF("cache-zero-reused", q == p, "%p, freed %p", q, p);
	CHECK("cache-gfp-zero", all_zero_pages(q, 6 * MiB));
	memset(q, 0xcd, 6 * MiB);
	vfree_area(vm_of(q));
	q = vzalloc(6 * MiB);
	REQUIRE("cache-vzalloc", q != NULL);
	CHECKF("cache-vzalloc-reused", q == p, "%p, freed %p", q, p);
	CHECK("cache-vzalloc-zero", all_zero_pages(q, 6 * MiB));
	vfree(q);

	/* a much bigger mapping serves too: cut, its rest cached for the next */
	vm_cache_drain();
	CHECK("cache-drained", !is_mapped(p));
	p = vmalloc_node(20 * MiB, PAGE_SIZE, 0);
	REQUIRE("cache-alloc-3", p != NULL);
	vfree_area(vm_of(p));
	q = vmalloc_node(5 * MiB, PAGE_SIZE, 0);
	REQUIRE("cache-alloc-4", q != NULL);
	CHECK("cache-big-cut", q == p && vm_of(q)->size == 5 * MiB && is_mapped((char *)p + 19 * MiB));
	vfree_area(vm_of(q));
	vm_cache_drain();
	CHECK("cache-drain-unmaps", !is_mapped(p) && !is_mapped((char *)p + 19 * MiB));

	test_vm_cache_gather();
	test_vm_grow_into_cached();

	/* a block bigger than every cached mapping grows the largest one
	 * (mremap, in place or moved): its pages come along, the rest reads
	 * as zero, and calloc's zeroing covers the old pages */
	p = vmalloc_node(5 * MiB, PAGE_SIZE, 0);
	REQUIRE("cache-alloc-5", p != NULL);
	stamp_pages((uintptr_t)p, 5 * MiB, 9);
	vfree_area(vm_of(p));
	q = vmalloc_node(9 * MiB, PAGE_SIZE, 0);
	REQUIRE("cache-grow", q != NULL);
	vm = vm_of(q);
	CHECK("cache-grow-size", vm && vm->size == 9 * MiB);
	CHECKF("cache-grow-covered", vm && covered(vm, (uintptr_t)q, vm->size, why, sizeof(why)), "%s",
	       vm ? why : "no vm");
	CHECK("cache-grow-aligned", ((uintptr_t)q & (CHUNK_SIZE - 1)) == 0);
	CHECK("cache-grow-pages-kept", stamps_ok((uintptr_t)q, 5 * MiB, 9));
	CHECK("cache-grow-tail-zero", all_zero_pages((char *)q + 5 * MiB, 4 * MiB));
	if (q != p)
		CHECK("cache-grow-moved-unmapped", !is_mapped(p));
	stamp_pages((uintptr_t)q, 9 * MiB, 10);
	vfree_area(vm);
	p = vmalloc_node(12 * MiB, PAGE_SIZE, __GFP_ZERO);
	REQUIRE("cache-grow-zero", p != NULL);
	CHECK("cache-grow-zeroed", all_zero_pages(p, 12 * MiB));
	vfree(p);
	vm_cache_drain();

	/* blocks with their own alignment are never cached; nor are mappings
	 * bigger than half the cache (128 MiB by default) */
	p = bs_aligned(8 * MiB, 5 * MiB, "test");
	REQUIRE("cache-aligned", p != NULL);
	bs_free(p);
	CHECK("cache-aligned-unmapped", !is_mapped(p));
	if (!getenv("BUDDYSLAB_OPTIONS")) {
		p = vmalloc_node(72 * MiB, PAGE_SIZE, 0);
		REQUIRE("cache-big", p != NULL);
		vfree_area(vm_of(p));
		CHECK("cache-big-unmapped", !is_mapped(p));
		/* ... but one of 40 MiB is kept */
		p = vmalloc_node(40 * MiB, PAGE_SIZE, 0);
		REQUIRE("cache-40", p != NULL);
		vfree_area(vm_of(p));
		CHECK("cache-40-kept", is_mapped(p));
		vm_cache_drain();
		CHECK("cache-40-drained", !is_mapped(p));
	}

	set_purge_ms(saved_purge_ms);
	vm_cache_drain();
}

/*
 * The hot mapping: the last freed block of at most 4 MiB stays whole, its
 * pagemap entries naming its descriptor, for the next block that it holds
 * with at most an eighth to spare. One that does not fit, or that a newer
 * block displaces, goes to the cache; none stays after a drain, past
 * purge_ms, or for blocks above 4 MiB or with their own alignment.
 */
static void test_vm_hot(void)
{
	char why[256];
	unsigned long saved_purge_ms = set_purge_ms(600000);
	vm_cache_drain();

	/* parked whole, and the next block of its size takes it */
	void *p = vmalloc_node(2 * MiB, PAGE_SIZE, 0);
	REQUIRE("hot-alloc", p != NULL);
	struct vm_area *vm = vm_of(p);
	REQUIRE("hot-area", vm != NULL);
	unsigned long areas = atomic_load(&vm_nr_areas), bytes = atomic_load(&vm_bytes);
	stamp_pages((uintptr_t)p, 2 * MiB, 21);
	vfree_area(vm);
	CHECK("hot-parked-in-pagemap", vm_of(p) == vm && vm_area_is_hot(vm));
	CHECK("hot-not-counted", atomic_load(&vm_nr_areas) == areas - 1 &&
					 atomic_load(&vm_bytes) == bytes - 2 * MiB);
	CHECK("hot-not-owned", !buddyslab_owns(p));
	void *q = vmalloc_node(2 * MiB, PAGE_SIZE, 0);
	CHECKF("hot-reused", q == p && vm_of(q) == vm, "%p, freed %p", q, p);
	CHECK("hot-reused-live", vm_of(q) && !vm_area_is_hot(vm_of(q)) && buddyslab_owns(q));
	CHECK("hot-reused-counted", atomic_load(&vm_nr_areas) == areas &&
					    atomic_load(&vm_bytes) == bytes);
	CHECK("hot-reused-contents", stamps_ok((uintptr_t)q, 2 * MiB, 21));
	CHECKF("hot-reused-covered", covered(vm, (uintptr_t)q, 2 * MiB, why, sizeof(why)), "%s", why);

	/* a block up to an eighth smaller takes it whole; calloc's is zeroed */
	memset(q, 0xab, 2 * MiB);
	vfree_area(vm_of(q));
	q = vmalloc_node(2 * MiB - 200 * KiB, PAGE_SIZE, __GFP_ZERO);
	CHECKF("hot-slack-reused", q == p && vm_of(q) == vm && vm->size == 2 * MiB, "%p, freed %p",
	       q, p);
	CHECK("hot-slack-zeroed", q && all_zero_pages(q, 2 * MiB - 200 * KiB));

	/* a smaller one goes through the cache, which cuts the mapping */
	vfree_area(vm_of(q));
	q = vmalloc_node(MiB + 100 * KiB, PAGE_SIZE, 0);
	REQUIRE("hot-small", q != NULL);
	CHECKF("hot-small-cut", q == p && vm_of(q) != NULL && vm_of(q)->size == MiB + 100 * KiB,
	       "%p, freed %p, size %zu", q, p, vm_of(q) ? vm_of(q)->size : 0);
	CHECK("hot-small-rest-cached", is_mapped((char *)p + 2 * MiB - PAGE_SIZE));
	vfree_area(vm_of(q));

	/* a newer block displaces it to the cache: out of the pagemap,
	 * still mapped */
	vm_cache_drain();
	void *a = vmalloc_node(3 * MiB, PAGE_SIZE, 0), *b = vmalloc_node(2 * MiB, PAGE_SIZE, 0);
	REQUIRE("hot-two", a != NULL && b != NULL);
	struct vm_area *vb = vm_of(b);
	vfree_area(vm_of(a));
	vfree_area(vb);
	CHECK("hot-displaced-cached", pagemap_lookup((uintptr_t)a) == 0 && is_mapped(a));
	CHECK("hot-newest-parked", vm_of(b) == vb && vm_area_is_hot(vb));
	/* a bigger block sends it to the cache too, and is made there */
	void *c = vmalloc_node(3 * MiB, PAGE_SIZE, 0);
	CHECK("hot-misfit-cached", c == a && pagemap_lookup((uintptr_t)b) == 0 && is_mapped(b));
	vfree(c);
	CHECK("hot-parked-again", vm_of(c) && vm_area_is_hot(vm_of(c)));

	/* a drain gives it back */
	vm_cache_drain();
	CHECK("hot-drained", pagemap_lookup((uintptr_t)a) == 0 && !is_mapped(a) && !is_mapped(b));

	/* not for blocks above 4 MiB, nor with their own alignment */
	p = vmalloc_node(4 * MiB + PAGE_SIZE, PAGE_SIZE, 0);
	REQUIRE("hot-big", p != NULL);
	vfree_area(vm_of(p));
	CHECK("hot-big-cached", pagemap_lookup((uintptr_t)p) == 0 && is_mapped(p));
	vm_cache_drain();
	p = bs_aligned(8 * MiB, 2 * MiB, "test");
	REQUIRE("hot-aligned", p != NULL);
	bs_free(p);
	CHECK("hot-aligned-unmapped", pagemap_lookup((uintptr_t)p) == 0 && !is_mapped(p));

	/* a program that reuses its hot mapping alone, with no cache call and
	 * few slow paths of small blocks, still ages the cache: each park
	 * looks (with it, 8 freed mappings of 30 MiB stayed for good) */
	void *keep = vmalloc_node(2 * MiB, PAGE_SIZE, 0), *big[3];
	REQUIRE("hot-keep", keep != NULL);
	for (int i = 0; i < 3; i++) {
		big[i] = vmalloc_node(6 * MiB, PAGE_SIZE, 0);
		REQUIRE("hot-big-alloc", big[i] != NULL);
		memset(big[i], 0x77, 6 * MiB);
	}
	for (int i = 0; i < 3; i++)
		vfree_area(vm_of(big[i]));
	CHECK("hot-big-cached-all", is_mapped(big[0]) && is_mapped(big[1]) && is_mapped(big[2]));
	zone_purge(0, true, 0); /* the zone's counts from nothing: not shrinking */
	set_purge_ms(100);
	struct vm_area *keep_vm = vm_of(keep);
	int still = 3, rounds = 0, reused = 0;
	for (; still && rounds < 2000; rounds++) {
		vfree_area(vm_of(keep));
		keep = vmalloc_node(2 * MiB, PAGE_SIZE, 0);
		REQUIRE("hot-keep-again", keep != NULL);
		reused += vm_of(keep) == keep_vm;
		still = is_mapped(big[0]) + is_mapped(big[1]) + is_mapped(big[2]);
		usleep(1000);
	}
	CHECKF("hot-reuse-alone", reused == rounds, "%d of %d rounds took the hot mapping", reused,
	       rounds);
	CHECKF("hot-reuse-ages-cache", still == 0, "%d of 3 cached mappings still mapped", still);
	vfree(keep);
	set_purge_ms(600000);

	/* past purge_ms, the small blocks' slow paths give it back */
	p = vmalloc_node(2 * MiB, PAGE_SIZE, 0);
	REQUIRE("hot-expiry-alloc", p != NULL);
	memset(p, 0x11, 2 * MiB);
	vfree_area(vm_of(p));
	small_churn();
	CHECK("hot-young-kept", vm_of(p) && vm_area_is_hot(vm_of(p)));
	set_purge_ms(100);
	usleep(200 * 1000);
	small_churn();
	CHECK("hot-expired", pagemap_lookup((uintptr_t)p) == 0 && !is_mapped(p));

	set_purge_ms(saved_purge_ms);
	vm_cache_drain();
}

/* ---- large_alloc: whole pages from the buddy allocator -------------------- */

static unsigned int order_for(unsigned long pages)
{
	unsigned int order = 0;
	while ((1UL << order) < pages)
		order++;
	return order;
}

/* block_pages - the pages large_alloc() keeps for @pages: the whole buddy
 * block up to LARGE_WHOLE_MAX_ORDER, else just the pages */
static unsigned long block_pages(unsigned long pages)
{
	unsigned int order = order_for(pages);
	return order <= LARGE_WHOLE_MAX_ORDER ? 1UL << order : pages;
}

static void test_large_alloc(void)
{
	static const size_t sizes[] = {
		12 * KiB,  12 * KiB + 1, 16 * KiB,  20 * KiB,      28 * KiB,  32 * KiB,
		36 * KiB,  100 * KiB,    1 * MiB - 4096, 1 * MiB,  1 * MiB + 1, 3 * MiB,
		4 * MiB - 1, 4 * MiB,
	};
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		size_t size = sizes[i];
		unsigned long pages = block_pages((size + PAGE_SIZE - 1) / PAGE_SIZE);
		unsigned int order = order_for(pages);
		/* above VMALLOC_MIN_SIZE a block is mapped, unless VM_AREAS_MAX
		 * mapped blocks are live: counted so here, to test both */
		bool mapped_size = size > VMALLOC_MIN_SIZE;
		if (mapped_size) {
			void *m = large_alloc(size, PAGE_SIZE, 0);
			REQUIRE("large-mapped-alloc", m != NULL);
			struct vm_area *vm = vm_of(m);
			CHECKF("large-mapped", vm && vm->addr == (uintptr_t)m && vm->size == pages * PAGE_SIZE,
			       "size %zu", size);
			bs_free(m);
			atomic_fetch_add(&vm_nr_areas, VM_AREAS_MAX);
		}
		unsigned long used = used_pages();
		void *p = large_alloc(size, PAGE_SIZE, 0);
		if (mapped_size)
			atomic_fetch_sub(&vm_nr_areas, VM_AREAS_MAX);
		REQUIRE("large-alloc", p != NULL);
		struct page *page = virt_to_page((uintptr_t)p);
		REQUIRE("large-page", page != NULL);
		CHECKF("large-head", page->type == PAGE_LARGE && page->nr_pages == pages,
		       "size %zu: type %u nr_pages %u want %lu", size, page->type, page->nr_pages, pages);
		CHECKF("large-block-aligned", (uintptr_t)p % (PAGE_SIZE << order) == 0, "size %zu: %p",
		       size, p);
		/* the tail past nr_pages went back: exactly nr_pages are in use */
		CHECKF("large-tail-returned", used_pages() == used + pages, "size %zu: used %lu -> %lu",
		       size, used, used_pages());
		bool tail_free = true;
		unsigned long idx = page_idx(page);
		struct chunk *c = page_chunk(page);
		for (unsigned long j = pages; j < (1UL << order); j++) {
			uint8_t t = c->mem_map[idx + j].type;
			if (t != PAGE_NONE && t != PAGE_BUDDY && t != PAGE_PCP)
				tail_free = false;
		}
		CHECKF("large-tail-free", tail_free, "size %zu", size);
		bool interior = true;
		for (unsigned long j = 1; j < pages; j++)
			if (page[j].type != PAGE_NONE)
				interior = false;
		CHECK("large-interior", interior);
		CHECK("large-zone-valid", zone_is_valid() && pcp_is_valid(&heap_current()->pcp));
		memset(p, 0xab, size);
		bs_free(p);
		CHECKF("large-freed", used_pages() == used, "size %zu: used %lu -> %lu", size, used,
		       used_pages());
		CHECK("large-freed-valid", zone_is_valid() && pcp_is_valid(&heap_current()->pcp));
	}

	/* __GFP_ZERO on reused (dirty) pages still gives zeroes (mapped or
	 * buddy pages, by size) */
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		size_t size = sizes[i];
		void *p = large_alloc(size, PAGE_SIZE, 0);
		REQUIRE("zero-alloc-1", p != NULL);
		memset(p, 0xcd, size);
		bs_free(p);
		p = large_alloc(size, PAGE_SIZE, __GFP_ZERO);
		REQUIRE("zero-alloc-2", p != NULL);
		const unsigned char *b = p;
		size_t full = (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
		bool zero = true;
		for (size_t j = 0; j < full; j++)
			if (b[j]) {
				zero = false;
				break;
			}
		CHECKF("zero-gfp-zero", zero, "size %zu", size);
		bs_free(p);
	}

	/* many live large blocks at once: none overlaps another */
	enum { LIVE = 64 };
	void *live[LIVE];
	size_t lsize[LIVE];
	struct unit_rng rng;
	unit_rng_seed(&rng, 4242);
	unsigned long used0 = used_pages();
	unsigned long want = 0;
	for (int i = 0; i < LIVE; i++) {
		lsize[i] = 12 * KiB + unit_rng_below(&rng, 300 * KiB);
		live[i] = large_alloc(lsize[i], PAGE_SIZE, 0);
		REQUIRE("live-alloc", live[i] != NULL);
		unit_fill(live[i], lsize[i], (uint64_t)i);
		want += block_pages((lsize[i] + PAGE_SIZE - 1) / PAGE_SIZE);
	}
	CHECKF("live-used", used_pages() == used0 + want, "used %lu, want %lu", used_pages() - used0, want);
	bool ok = true;
	for (int i = 0; i < LIVE; i++)
		if (!unit_verify(live[i], lsize[i], (uint64_t)i))
			ok = false;
	CHECK("live-contents", ok);
	for (int i = 0; i < LIVE; i += 2)
		bs_free(live[i]);
	for (int i = 1; i < LIVE; i += 2)
		bs_free(live[i]);
	CHECK("live-freed", used_pages() == used0 && zone_is_valid());
}

/* block_before_free - a 36 KiB page block (16 pages, order 4) from
 * large_alloc at a page index of @residue modulo 32, where a free block of
 * order 4 or more starts right after it (in the zone, or on this thread's
 * page cache, where a refill of more than one block leaves it): blocks are
 * allocated until one is, at most @tries (<= 64), the others freed
 * afterwards. NULL if none was. */
static void *block_before_free(unsigned long residue, int tries)
{
	void *tried[64], *found = NULL;
	int n = 0;
	while (!found && n < tries && n < 64) {
		void *p = large_alloc(36 * KiB, PAGE_SIZE, 0);
		if (!p)
			break;
		struct page *page = virt_to_page((uintptr_t)p);
		unsigned long idx = page_idx(page);
		struct page *next = &page_chunk(page)->mem_map[idx + 16];
		if ((idx & 31) == residue && idx + 32 <= CHUNK_PAGES && next->order >= 4 &&
		    (next->type == PAGE_BUDDY ||
		     (next->type == PAGE_PCP && next->pcp_owner == heap_current())))
			found = p;
		else
			tried[n++] = p;
	}
	while (n > 0)
		bs_free(tried[--n]);
	return found;
}

/* realloc of a page-level block grows it in place when the pages after it
 * are free (on this thread's page cache or in the zone), page by page; a
 * whole block of the page cache's orders grows and shrinks within itself. */
static void test_grow_in_place(void)
{
	/* 20 KiB: a whole order-3 block; realloc within it keeps it whole;
	 * shrunk to half or less, it gives back the pages past the whole
	 * block of the smaller order */
	unsigned long used = used_pages();
	void *w = large_alloc(20 * KiB, PAGE_SIZE, 0);
	REQUIRE("whole-alloc", w != NULL);
	struct page *wpage = virt_to_page((uintptr_t)w);
	CHECKF("whole-block", wpage->type == PAGE_LARGE && wpage->nr_pages == 8 &&
				      wpage->used_pages == 5 && used_pages() == used + 8,
	       "nr_pages %u used_pages %u", wpage->nr_pages, wpage->used_pages);
	unit_fill(w, 20 * KiB, 78);
	CHECK("whole-realloc-grow", bs_realloc(w, 32 * KiB) == w && wpage->nr_pages == 8 &&
					    wpage->used_pages == 8);
	CHECK("whole-realloc-shrink", bs_realloc(w, 16 * KiB + 1) == w && wpage->nr_pages == 8 &&
					      wpage->used_pages == 5);
	CHECK("whole-realloc-half", bs_realloc(w, 12 * KiB) == w && wpage->nr_pages == 4 &&
					    used_pages() == used + 4 && unit_verify(w, 12 * KiB, 78));
	bs_free(w);
	CHECK("whole-freed", used_pages() == used && zone_is_valid());

	/* 36 KiB: order 4, whole; grown past it, to the whole 32 pages of
	 * order 5, in place when the block is a lower buddy whose buddy is
	 * free */
	void *p = block_before_free(0, 16);
	REQUIRE("grow-lower-buddy", p != NULL);
	struct page *page = virt_to_page((uintptr_t)p);
	unit_fill(p, 36 * KiB, 77);
	CHECK("grow-whole", page->type == PAGE_LARGE && page->nr_pages == 16 &&
				    used_pages() == used + 16);
	void *q = bs_realloc(p, 60 * KiB);
	CHECK("grow-within", q == p && page->nr_pages == 16);
	q = bs_realloc(p, 68 * KiB);
	CHECKF("grow-into-buddy", q == p && page->nr_pages == 32, "%p -> %p", p, q);
	CHECK("grow-used", used_pages() == used + 32);
	CHECK("grow-contents", unit_verify(q, 36 * KiB, 77));
	CHECK("grow-valid", zone_is_valid() && pcp_is_valid(&heap_current()->pcp));
	/* page by page up to 256 KiB: mostly in place, contents always kept */
	size_t size = 68 * KiB;
	unsigned int moved = 0;
	for (size_t next = 72 * KiB; next <= 256 * KiB; next += 4 * KiB) {
		void *r = bs_realloc(q, next);
		REQUIRE("grow-step", r != NULL);
		if (r != q)
			moved++;
		CHECK("grow-step-contents", unit_verify(r, 36 * KiB, 77));
		q = r;
		size = next;
	}
	CHECKF("grow-mostly-in-place", moved <= 3, "moved %u times in 47 steps", moved);
	CHECK("grow-final-valid", zone_is_valid() && pcp_is_valid(&heap_current()->pcp));
	(void)size;
	bs_free(q);
	CHECKF("grow-freed", used_pages() == used, "used %lu -> %lu", used, used_pages());

	/* an upper buddy of order 4 grown in place into the 16 free pages
	 * after it: 32 pages, a page cache order, not aligned to 32 pages.
	 * free() must not put it on the page cache as one order-5 block
	 * (free_page_block), but give it back as the blocks that tile it */
	p = block_before_free(16, 64);
	REQUIRE("unaligned-upper-buddy", p != NULL);
	page = virt_to_page((uintptr_t)p);
	q = bs_realloc(p, 68 * KiB);
	CHECKF("unaligned-grown", q == p && page->nr_pages == 32 &&
				       ((uintptr_t)q & (32 * PAGE_SIZE - 1)) != 0,
	       "%p -> %p, %u pages", p, q, page->nr_pages);
	bs_free(q);
	CHECK("unaligned-freed-valid", zone_is_valid() && pcp_is_valid(&heap_current()->pcp));
	CHECKF("unaligned-freed", used_pages() == used, "used %lu -> %lu", used, used_pages());
}

/*
 * Blocks of 32 KiB-1 MiB replaced at random in a live set, as a program
 * keeps buffers: the zone must serve the new ones from the memory the old
 * ones left, purging next to nothing: under one page per replacement.
 * (When large_alloc trimmed blocks to their pages, the trimmed pieces kept
 * whole blocks from forming again: 60 pages purged per replacement, 1.2
 * million in all; now 4096-5120, a purge or two above the high watermark.)
 */
static void test_large_churn(void)
{
	enum { LIVE = 200, WARM = 2000, OPS = 20000 };
	static void *live[LIVE];
	static size_t live_size[LIVE];
	struct unit_rng rng;
	unit_rng_seed(&rng, 12345);
	unsigned long saved_purge_ms = set_purge_ms(600000); /* no block ages in the test */
	unsigned long purged = 0;
	bool intact = true;
	for (int i = 0; i < WARM + OPS; i++) {
		if (i == WARM)
			purged = zone.nr_purged;
		size_t k = unit_rng_below(&rng, LIVE);
		if (live[k]) {
			char *b = live[k];
			size_t n = live_size[k];
			intact &= unit_verify(b, 64, k) && unit_verify(b + n - 64, 64, k);
			bs_free(b);
		}
		/* 32 KiB-1 MiB, about log-uniform */
		size_t size = (32 * KiB) << unit_rng_below(&rng, 5);
		size += unit_rng_below(&rng, size);
		char *b = bs_malloc(size);
		if (!b)
			REQUIRE("churn-alloc", b != NULL);
		live[k] = b;
		live_size[k] = size;
		unit_fill(b, 64, k);
		unit_fill(b + size - 64, 64, k);
	}
	purged = zone.nr_purged - purged;
	CHECK("churn-contents", intact);
	CHECKF("churn-purges-little", purged < OPS, "%lu pages purged in %d replacements", purged,
	       (int)OPS);
	for (int k = 0; k < LIVE; k++)
		bs_free(live[k]);
	set_purge_ms(saved_purge_ms);
	CHECK("churn-valid", zone_is_valid() && pcp_is_valid(&heap_current()->pcp));
}

/* Blocks of 32-128 KiB (orders 4 and 5) come from and go back to the
 * thread's page cache (from an empty cache, unless pcp_high is set below
 * the block); 256 KiB (order 6) to the zone. */
static void test_large_via_pcp(void)
{
	static const struct {
		size_t size;
		unsigned int pages;
		bool cached;
	} cases[] = { { 40 * KiB, 16, true }, { 100 * KiB, 32, true }, { 200 * KiB, 64, false } };
	struct per_cpu_pages *pcp = &heap_current()->pcp;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		pcp_drain(pcp, 0);
		void *p = bs_malloc(cases[i].size);
		REQUIRE("via-pcp-alloc", p != NULL);
		struct page *page = virt_to_page((uintptr_t)p);
		bs_free(p);
		bool in_pcp = page->type == PAGE_PCP && page->pcp_owner == heap_current();
		bool expect = cases[i].cached && cases[i].pages <= (unsigned int)pcp->high;
		CHECKF("via-pcp", in_pcp == expect, "%zu bytes: type %u", cases[i].size, page->type);
	}
	CHECK("via-pcp-valid", pcp_is_valid(&heap_current()->pcp) && zone_is_valid());
}

/* A block moved by realloc brings the pages asked for, not its whole
 * buddy block: 520 KiB (130 pages of a 256-page block) grown to 5 MiB (a
 * fresh mapping: past the largest buddy block, so not in place) copies
 * 130 pages. */
static void test_realloc_copies_used(void)
{
	vm_cache_drain(); /* the new mapping is fresh: only what is copied is resident */
	char *p = bs_malloc(520 * KiB);
	REQUIRE("copy-alloc", p != NULL);
	struct page *page = virt_to_page((uintptr_t)p);
	CHECKF("copy-block", page->type == PAGE_LARGE && page->nr_pages == 256 &&
				     page->used_pages == 130,
	       "nr_pages %u used_pages %u", page->nr_pages, page->used_pages);
	unit_fill(p, 520 * KiB, 31);
	char *q = bs_realloc(p, 5 * MiB);
	REQUIRE("copy-realloc", q != NULL);
	CHECK("copy-moved-to-mapping", q != p && vm_of(q) != NULL);
	CHECK("copy-contents", unit_verify(q, 520 * KiB, 31));
	size_t in = resident(q, 5 * MiB);
	CHECKF("copy-used-pages-only", in >= 130 && in <= 131, "%zu pages of the new block resident",
	       in);
	bs_free(q);
}

/*
 * realloc shrinking a page block of the page caches' orders to a quarter or
 * less moves it (shrink_moves), so that the block goes back whole, for the
 * next block of its size; other shrinks stay in place, their tails given
 * back. (A ring of 64 KiB blocks shrunk to 9-12 KiB kept their tails free
 * between the heads: the zone purged them and faulted them in again.)
 */
static void test_realloc_shrink_moves(void)
{
	char *p = bs_malloc(64 * KiB);
	REQUIRE("shrink-alloc", p != NULL);
	unit_fill(p, 64 * KiB, 41);
	char *q = bs_realloc(p, 10 * KiB);
	REQUIRE("shrink-realloc", q != NULL);
	CHECK("shrink-quarter-moves", q != p && unit_verify(q, 10 * KiB, 41));
	char *again = bs_malloc(64 * KiB);
	CHECK("shrink-block-back-whole", again == p);
	bs_free(again);
	bs_free(q);

	p = bs_malloc(64 * KiB);
	REQUIRE("shrink-alloc-2", p != NULL);
	unit_fill(p, 64 * KiB, 42);
	q = bs_realloc(p, 20 * KiB); /* keeps 8 of 16 pages */
	struct page *page = virt_to_page((uintptr_t)q);
	CHECKF("shrink-half-in-place", q == p && unit_verify(q, 20 * KiB, 42) && page->nr_pages == 8,
	       "moved %d, nr_pages %u", q != p, page->nr_pages);
	bs_free(q);

	p = bs_malloc(1 * MiB);
	REQUIRE("shrink-alloc-3", p != NULL);
	unit_fill(p, 100 * KiB, 43);
	q = bs_realloc(p, 100 * KiB); /* above the page caches' orders */
	page = virt_to_page((uintptr_t)q);
	CHECKF("shrink-big-in-place", q == p && unit_verify(q, 100 * KiB, 43) && page->nr_pages == 32,
	       "moved %d, nr_pages %u", q != p, page->nr_pages);
	bs_free(q);
}

/* realloc of a small block with a huge alignment (a mapping of its own)
 * into the page route: the grow-in-place path must not take the block's
 * vm_area for a chunk (found by the fuzzer) */
static void test_realloc_aligned_vm(void)
{
	void *p = bs_aligned(8 * MiB, 100, "test");
	REQUIRE("aligned-vm", p != NULL && ((uintptr_t)p & (8 * MiB - 1)) == 0);
	CHECK("aligned-vm-is-vm", vm_of(p) != NULL);
	unit_fill(p, 100, 5);
	void *q = bs_realloc(p, 100 * KiB);
	REQUIRE("aligned-vm-realloc", q != NULL);
	CHECK("aligned-vm-contents", unit_verify(q, 100, 5));
	CHECK("aligned-vm-now-pages", entry_chunk(pagemap_lookup((uintptr_t)q), (uintptr_t)q) != NULL);
	CHECK("aligned-vm-valid", zone_is_valid());
	bs_free(q);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	buddyslab_init();
	struct heap *heap = heap_get();
	REQUIRE("heap", heap != NULL && heap_current() == heap);

	test_vmalloc_sizes();
	test_vrealloc();
	test_aligned();
	test_vm_cache();
	test_vm_cache_shrinking();
	test_vm_cache_expiry();
	test_vm_cache_zone_growth();
	test_vm_hot();
	test_large_alloc();
	test_grow_in_place();
	test_large_churn();
	test_realloc_copies_used();
	test_realloc_shrink_moves();
	test_large_via_pcp();
	test_realloc_aligned_vm();

	CHECK("no-areas-left", atomic_load(&vm_nr_areas) == 0 && atomic_load(&vm_bytes) == 0);
	CHECK("final-zone-valid", zone_is_valid());
	return UNIT_DONE();
}
