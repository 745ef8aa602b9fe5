/*
 * test_buddy.c - unit tests of the buddy allocator (src/page_alloc.c).
 *
 * This program never gives its thread a heap (no heap_get, no bs_malloc), so
 * heap_current() stays NULL and every free below goes straight to the zone:
 * no per-thread page cache hides blocks. Blocks are taken with
 * __alloc_pages_zone and given back with __free_pages_zone, which expects
 * the caller to set the block's PG_clean flag (zfree() below clears it: the
 * tests write to their blocks).
 *
 * Every test starts from an empty zone (reset_zone: zone_purge(0, true, 0)
 * unmaps whole free chunks, and the previous test gave everything back), so
 * the next allocation maps a fresh chunk and block positions are known.
 * zone_purge's age limit is 0 (everything qualifies) except where a test
 * is about ages.
 */
#include <limits.h>
#include <sys/mman.h>

#include "unit.h"

static struct page *zalloc(unsigned int order)
{
	return __alloc_pages_zone(0, order);
}

/* zfree_hot - give back a block whose memory was (or may have been)
 * written; a block of a hot order stays hot (test_hot_blocks). */
static void zfree_hot(struct page *page, unsigned int order)
{
	page->flags = 0;
	__free_pages_zone(page, order);
}

/* zfree - the same, then every hot block onto the free lists: the tests
 * of the buddy lists see every free block there. */
static void zfree(struct page *page, unsigned int order)
{
	zfree_hot(page, order);
	zone_flush_hot();
}

static bool zone_ok(char *why, size_t len)
{
	if (!zone_is_valid()) {
		snprintf(why, len, "zone_is_valid() false");
		return false;
	}
	return free_lists_consistent(why, len);
}

/* reset_zone - every earlier block was freed: all free memory is whole
 * chunks, and purging with unmapping leaves the zone empty. */
/* zone_not_shrinking - make the zone look as if its free memory were being
 * reused, so that only the watermarks and the purge age decide (the
 * shrinking rule of struct zone has a test of its own). Lasts until the
 * next purge. */
static void zone_not_shrinking(void)
{
	zone_lock();
	WRITE_ONCE(zone.recent_reused, ULONG_MAX / 8);
	zone_unlock();
}

static void reset_zone(const char *test)
{
	zone_purge(0, true, 0);
	zone_not_shrinking();
	struct zone_snap s = zone_snap();
	CHECKF("reset-zone-empty", s.nr_chunks == 0 && s.nr_free_pages == 0 && s.nr_dirty_free == 0,
	       "before %s: nr_chunks %lu nr_free_pages %lu nr_dirty_free %lu", test, s.nr_chunks,
	       s.nr_free_pages, s.nr_dirty_free);
}

/* ---- every order: alignment, descriptor, validity ----------------------- */

static void test_every_order(void)
{
	char why[256];
	struct page *blocks[MAX_ORDER];
	reset_zone("every-order");

	for (unsigned int order = 0; order < MAX_ORDER; order++) {
		struct page *p = zalloc(order);
		REQUIRE("order-alloc", p != NULL);
		blocks[order] = p;
		uintptr_t addr = page_address(p);
		size_t size = PAGE_SIZE << order;
		CHECKF("order-aligned", addr % size == 0, "order %u addr %#lx", order,
		       (unsigned long)addr);
		CHECKF("order-head", p->type == PAGE_PAGES && p->order == order,
		       "order %u: type %u order %u", order, p->type, p->order);
		CHECKF("order-index-aligned", page_idx(p) % (1UL << order) == 0, "order %u idx %lu",
		       order, page_idx(p));
		CHECK("order-virt-to-page-first", virt_to_page(addr) == p);
		CHECK("order-virt-to-page-last", virt_to_page(addr + size - 1) == &p[(1UL << order) - 1]);
		/* fresh chunks: clean, and the memory reads as zero */
		CHECKF("order-fresh-clean", p->flags & PG_clean, "order %u flags %#x", order, p->flags);
		const unsigned char *m = (const unsigned char *)addr;
		CHECK("order-fresh-zero", m[0] == 0 && m[size / 2] == 0 && m[size - 1] == 0);
		memset((void *)addr, 0xa5, size);
		CHECKF("order-zone-valid", zone_ok(why, sizeof(why)), "after order %u: %s", order, why);
	}
	/* orders 0..9 fit in the first chunk (1 + 2 + ... + 512 pages): the
	 * order-10 block needed a second one */
	struct zone_snap s = zone_snap();
	CHECKF("order-chunks", s.nr_chunks == 2, "nr_chunks %lu", s.nr_chunks);
	CHECKF("order-free-pages", s.nr_free_pages == 1024 - 1023, "nr_free_pages %lu",
	       s.nr_free_pages);
	CHECK("order-distinct-chunks", page_chunk(blocks[MAX_ORDER - 1]) != page_chunk(blocks[0]));

	for (int order = MAX_ORDER - 1; order >= 0; order--) {
		zfree(blocks[order], (unsigned int)order);
		CHECKF("order-free-valid", zone_ok(why, sizeof(why)), "after freeing order %d: %s",
		       order, why);
	}
	s = zone_snap();
	CHECKF("order-merged-back", s.nr_free[MAX_ORDER - 1] == 2 && s.nr_free_pages == 2048,
	       "nr_free[10] %lu nr_free_pages %lu", s.nr_free[MAX_ORDER - 1], s.nr_free_pages);
	for (unsigned int k = 0; k < MAX_ORDER - 1; k++)
		CHECKF("order-no-small-blocks", s.nr_free[k] == 0, "nr_free[%u] = %lu", k, s.nr_free[k]);
	/* every block was written: the merged chunks are dirty */
	CHECKF("order-dirty", s.nr_dirty_free == 2048, "nr_dirty_free %lu", s.nr_dirty_free);

	/* a block from dirty memory does not claim to be clean */
	struct page *p = zalloc(3);
	REQUIRE("order-realloc", p != NULL);
	CHECK("order-realloc-dirty", !(p->flags & PG_clean));
	zfree(p, 3);
}

/* ---- a whole chunk of order-0 pages, freed in random order ---------------- */

static void test_random_free(uint64_t seed)
{
	char why[256];
	static struct page *pages[CHUNK_PAGES];
	static size_t perm[CHUNK_PAGES];
	static unsigned char seen[CHUNK_PAGES];
	reset_zone("random-free");

	for (size_t i = 0; i < CHUNK_PAGES; i++) {
		pages[i] = zalloc(0);
		REQUIRE("rand-alloc", pages[i] != NULL);
	}
	struct chunk *c = page_chunk(pages[0]);
	bool same = true, distinct = true;
	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < CHUNK_PAGES; i++) {
		if (page_chunk(pages[i]) != c)
			same = false;
		unsigned long idx = page_idx(pages[i]);
		if (seen[idx]++)
			distinct = false;
	}
	CHECK("rand-one-chunk", same);
	CHECK("rand-every-page-once", distinct);
	struct zone_snap s0 = zone_snap();
	CHECKF("rand-zone-exhausted", s0.nr_free_pages == 0 && s0.nr_chunks == 1,
	       "nr_free_pages %lu nr_chunks %lu", s0.nr_free_pages, s0.nr_chunks);

	struct unit_rng rng;
	unit_rng_seed(&rng, seed);
	for (size_t i = 0; i < CHUNK_PAGES; i++)
		perm[i] = i;
	unit_shuffle(&rng, perm, CHUNK_PAGES);

	bool ok = true;
	for (size_t i = 0; i < CHUNK_PAGES && ok; i++) {
		zfree(pages[perm[i]], 0);
		if (!zone_ok(why, sizeof(why))) {
			printf("      seed %llu, free #%zu (page %lu): %s\n", (unsigned long long)seed, i,
			       page_idx(pages[perm[i]]), why);
			ok = false;
		}
		struct zone_snap s = zone_snap();
		if (s.nr_free_pages != i + 1) {
			printf("      seed %llu, free #%zu: nr_free_pages %lu\n",
			       (unsigned long long)seed, i, s.nr_free_pages);
			ok = false;
		}
	}
	CHECK("rand-valid-after-every-free", ok);
	struct zone_snap s = zone_snap();
	CHECKF("rand-one-max-block", s.nr_free[MAX_ORDER - 1] == s0.nr_free[MAX_ORDER - 1] + 1,
	       "nr_free[10] %lu before %lu", s.nr_free[MAX_ORDER - 1], s0.nr_free[MAX_ORDER - 1]);
	bool small_empty = true;
	for (unsigned int k = 0; k < MAX_ORDER - 1; k++)
		if (s.nr_free[k])
			small_empty = false;
	CHECK("rand-no-small-blocks", small_empty);
	CHECK("rand-free-pages", s.nr_free_pages == CHUNK_PAGES && s.nr_dirty_free == CHUNK_PAGES);
	CHECK("rand-head", c->mem_map[0].type == PAGE_BUDDY && c->mem_map[0].order == MAX_ORDER - 1);
	CHECK("rand-head-on-list", on_free_list(&c->mem_map[0], MAX_ORDER - 1));
}

/* ---- expand: the split of a fresh chunk ----------------------------------- */

static void test_expand(void)
{
	char why[256];
	reset_zone("expand");
	struct page *p = zalloc(0);
	REQUIRE("expand-alloc", p != NULL);
	struct chunk *c = page_chunk(p);
	CHECK("expand-lowest-page", page_idx(p) == 0);
	struct zone_snap s = zone_snap();
	for (unsigned int k = 0; k < MAX_ORDER - 1; k++) {
		CHECKF("expand-one-per-order", s.nr_free[k] == 1, "nr_free[%u] = %lu", k, s.nr_free[k]);
		/* the upper half of each split: order k at page 2^k */
		struct page *half = &c->mem_map[1UL << k];
		CHECKF("expand-half", half->type == PAGE_BUDDY && half->order == k,
		       "page %lu type %u order %u", 1UL << k, half->type, half->order);
		CHECK("expand-half-on-list", on_free_list(half, k));
		CHECK("expand-half-clean", half->flags & PG_clean);
	}
	CHECK("expand-no-max-block", s.nr_free[MAX_ORDER - 1] == 0);
	CHECK("expand-free-pages", s.nr_free_pages == CHUNK_PAGES - 1 && s.nr_dirty_free == 0);
	CHECKF("expand-valid", zone_ok(why, sizeof(why)), "%s", why);

	/* a never-written page goes back clean: the chunk merges clean */
	__free_pages_zone(p, 0); /* flags still PG_clean from the allocation */
	s = zone_snap();
	CHECK("expand-merged", s.nr_free[MAX_ORDER - 1] == 1 && s.nr_free_pages == CHUNK_PAGES);
	CHECKF("expand-merged-clean", s.nr_dirty_free == 0 && (c->mem_map[0].flags & PG_clean),
	       "nr_dirty_free %lu flags %#x", s.nr_dirty_free, c->mem_map[0].flags);

	/* a written page makes the merged block dirty: clean only if both halves */
	p = zalloc(0);
	REQUIRE("expand-alloc-2", p != NULL);
	zfree(p, 0);
	s = zone_snap();
	CHECKF("expand-merged-dirty", s.nr_dirty_free == CHUNK_PAGES && !(c->mem_map[0].flags & PG_clean),
	       "nr_dirty_free %lu", s.nr_dirty_free);
	CHECKF("expand-valid-2", zone_ok(why, sizeof(why)), "%s", why);
}

/* ---- buddy merge: i ^ (1 << k) -------------------------------------------- */

static void test_merge(void)
{
	char why[256];
	for (unsigned int k = 0; k < MAX_ORDER - 1; k++) {
		for (int upper_first = 0; upper_first <= 1; upper_first++) {
			reset_zone("merge");
			struct page *a = zalloc(k);
			struct page *b = zalloc(k);
			/* a third block of order k+1 stops the merge one level up */
			struct page *guard = k + 1 < MAX_ORDER - 1 ? zalloc(k + 1) : NULL;
			REQUIRE("merge-alloc", a && b && (guard || k + 1 == MAX_ORDER - 1));
			struct chunk *c = page_chunk(a);
			unsigned long ia = page_idx(a), ib = page_idx(b);
			CHECKF("merge-buddies", ia == 0 && ib == (ia ^ (1UL << k)), "k %u: idx %lu, %lu",
			       k, ia, ib);
			if (guard)
				CHECKF("merge-guard", page_idx(guard) == (1UL << (k + 1)),
				       "k %u guard idx %lu", k, page_idx(guard));

			struct page *first = upper_first ? b : a;
			struct page *second = upper_first ? a : b;
			zfree(first, k);
			CHECKF("merge-first-stays", first->type == PAGE_BUDDY && first->order == k &&
							    on_free_list(first, k),
			       "k %u upper_first %d: type %u order %u", k, upper_first, first->type,
			       first->order);
			CHECKF("merge-first-valid", zone_ok(why, sizeof(why)), "k %u: %s", k, why);

			zfree(second, k);
			struct page *merged = &c->mem_map[ia & ~(1UL << k)];
			CHECKF("merge-merged", merged->type == PAGE_BUDDY && merged->order == k + 1 &&
						       on_free_list(merged, k + 1),
			       "k %u upper_first %d: head type %u order %u", k, upper_first,
			       merged->type, merged->order);
			CHECKF("merge-other-interior", c->mem_map[ib].type == PAGE_NONE,
			       "k %u: page %lu type %u", k, ib, c->mem_map[ib].type);
			CHECK("merge-order-k-empty", zone_snap().nr_free[k] == 0);
			CHECKF("merge-second-valid", zone_ok(why, sizeof(why)), "k %u: %s", k, why);

			if (guard)
				zfree(guard, k + 1);
			struct zone_snap s = zone_snap();
			CHECKF("merge-whole-chunk",
			       s.nr_free[MAX_ORDER - 1] == 1 && s.nr_free_pages == CHUNK_PAGES,
			       "k %u: nr_free[10] %lu nr_free_pages %lu", k, s.nr_free[MAX_ORDER - 1],
			       s.nr_free_pages);
		}
	}
}

/* ---- free_pages_range: odd page counts ----------------------------------- */

struct range {
	unsigned long start, n;
};

/* order of the largest naturally aligned block at @idx that fits in @left */
static unsigned int tile_order(unsigned long idx, unsigned long left)
{
	unsigned int order = MAX_ORDER - 1;
	while (order > 0 && ((idx & ((1UL << order) - 1)) || (1UL << order) > left))
		order--;
	return order;
}

static void test_free_pages_range(void)
{
	char why[256];
	static const struct range ranges[] = {
		{ 1, 3 },    { 5, 5 },     { 11, 7 },    { 19, 13 },  { 35, 3 },
		{ 41, 5 },   { 49, 7 },    { 59, 13 },   { 77, 13 },  { 96, 32 },
		{ 129, 255 }, { 387, 125 }, { 1013, 11 },
	};
	static unsigned char freed[CHUNK_PAGES];
	reset_zone("free-pages-range");

	/* one whole chunk as one block: its interior pages are not free, so
	 * nothing a range frees can merge outside the range */
	struct page *x = zalloc(MAX_ORDER - 1);
	REQUIRE("range-alloc", x != NULL);
	struct chunk *c = page_chunk(x);
	CHECK("range-whole-chunk", page_idx(x) == 0);
	memset(freed, 0, sizeof(freed));

	for (size_t r = 0; r < ARRAY_SIZE(ranges); r++) {
		unsigned long s = ranges[r].start, n = ranges[r].n;
		uint8_t flags = (r & 1) ? PG_clean : 0;
		struct zone_snap before = zone_snap();
		free_pages_range(&c->mem_map[s], n, flags);
		struct zone_snap after = zone_snap();
		CHECKF("range-free-pages", after.nr_free_pages == before.nr_free_pages + n,
		       "range %lu+%lu: %lu -> %lu", s, n, before.nr_free_pages, after.nr_free_pages);
		CHECKF("range-dirty", after.nr_dirty_free == before.nr_dirty_free + (flags ? 0 : n),
		       "range %lu+%lu flags %#x: dirty %lu -> %lu", s, n, flags,
		       before.nr_dirty_free, after.nr_dirty_free);
		/* the blocks are exactly the greedy aligned tiling */
		bool ok = true;
		for (unsigned long i = s; i < s + n;) {
			unsigned int o = tile_order(i, s + n - i);
			struct page *b = &c->mem_map[i];
			if (b->type != PAGE_BUDDY || b->order != o || !on_free_list(b, o) ||
			    (b->flags & PG_clean) != flags) {
				printf("      range %lu+%lu: block at %lu: type %u order %u (want %u) flags %#x\n",
				       s, n, i, b->type, b->order, o, b->flags);
				ok = false;
			}
			for (unsigned long j = 1; j < (1UL << o); j++)
				if (b[j].type != PAGE_NONE)
					ok = false;
			i += 1UL << o;
		}
		CHECKF("range-tiling", ok, "range %lu+%lu", s, n);
		CHECKF("range-valid", zone_ok(why, sizeof(why)), "range %lu+%lu: %s", s, n, why);
		for (unsigned long i = s; i < s + n; i++)
			freed[i] = 1;
	}

	/* give back the gaps (page 0, the block's head, among them): all merges
	 * back into the chunk */
	for (unsigned long i = 0; i < CHUNK_PAGES;) {
		if (freed[i]) {
			i++;
			continue;
		}
		unsigned long j = i;
		while (j < CHUNK_PAGES && !freed[j])
			j++;
		free_pages_range(&c->mem_map[i], j - i, 0);
		i = j;
	}
	struct zone_snap s = zone_snap();
	CHECKF("range-merged-back", s.nr_free[MAX_ORDER - 1] == 1 && s.nr_free_pages == CHUNK_PAGES,
	       "nr_free[10] %lu nr_free_pages %lu", s.nr_free[MAX_ORDER - 1], s.nr_free_pages);
	CHECK("range-merged-head", c->mem_map[0].type == PAGE_BUDDY &&
					   c->mem_map[0].order == MAX_ORDER - 1);
	CHECKF("range-final-valid", zone_ok(why, sizeof(why)), "%s", why);
}

/* ---- hot blocks: the last block freed of orders 6-8 ---------------------- */

/* is_hot - is @page the hot block of @order, off the free lists? */
static bool is_hot(struct page *page, unsigned int order)
{
	zone_lock();
	bool hot = zone.hot[order - HOT_MIN_ORDER] == page;
	zone_unlock();
	return hot && page->type == PAGE_BUDDY && page->order == order &&
	       (page->flags & PG_isolated) && !on_free_list(page, order);
}

static void test_hot_blocks(void)
{
	char why[256];
	for (unsigned int order = HOT_MIN_ORDER; order <= HOT_MAX_ORDER; order++) {
		reset_zone("hot");
		struct page *a = zalloc(order), *b = zalloc(order);
		REQUIRE("hot-alloc", a && b);
		struct zone_snap before = zone_snap();
		zfree_hot(a, order);
		struct zone_snap s = zone_snap();
		CHECKF("hot-parked", is_hot(a, order), "order %u", order);
		CHECKF("hot-counted", s.nr_hot_pages == 1UL << order &&
					       s.nr_free_pages == before.nr_free_pages,
		       "order %u: hot %lu free %lu -> %lu", order, s.nr_hot_pages,
		       before.nr_free_pages, s.nr_free_pages);
		CHECKF("hot-valid", zone_ok(why, sizeof(why)), "order %u: %s", order, why);
		/* its buddy (b) frees: they do not merge while a is hot */
		zfree_hot(b, order);
		CHECKF("hot-newest-parked", is_hot(b, order), "order %u", order);
		CHECKF("hot-older-listed", a->type == PAGE_BUDDY && !(a->flags & PG_isolated) &&
						   zone_snap().nr_hot_pages == 1UL << order,
		       "order %u: type %u flags %#x", order, a->type, a->flags);
		CHECKF("hot-valid-two", zone_ok(why, sizeof(why)), "order %u: %s", order, why);
		/* the next block of the order is the hot one, not split anew */
		struct page *again = zalloc(order);
		CHECKF("hot-taken", again == b && again->type == PAGE_PAGES &&
					    !(again->flags & PG_isolated) && zone_snap().nr_hot_pages == 0,
		       "order %u", order);
		CHECKF("hot-valid-taken", zone_ok(why, sizeof(why)), "order %u: %s", order, why);
		zfree_hot(again, order);
		/* a purge to fewer resident free pages than it holds (malloc_trim's)
		 * puts it on the lists, where everything merges back */
		zone_purge(0, false, 0);
		s = zone_snap();
		CHECKF("hot-purge-flushes", s.nr_hot_pages == 0 && s.nr_free[MAX_ORDER - 1] == 1 &&
						    s.nr_free_pages == CHUNK_PAGES,
		       "order %u: hot %lu nr_free[10] %lu free %lu", order, s.nr_hot_pages,
		       s.nr_free[MAX_ORDER - 1], s.nr_free_pages);
		CHECKF("hot-valid-purged", zone_ok(why, sizeof(why)), "order %u: %s", order, why);
	}

	/* a full chunk with one hot block: a smaller request takes its pages
	 * rather than a new chunk */
	reset_zone("hot-before-growth");
	struct page *big = zalloc(MAX_ORDER - 2), *o8 = zalloc(8), *o7 = zalloc(7);
	struct page *o6 = zalloc(6), *last = zalloc(6);
	REQUIRE("hot-fill", big && o8 && o7 && o6 && last);
	CHECK("hot-fill-one-chunk", zone_snap().nr_chunks == 1 && zone_snap().nr_free_pages == 0);
	zfree_hot(last, 6);
	struct page *small = zalloc(5);
	struct zone_snap s = zone_snap();
	CHECKF("hot-split-not-grown", small == last && s.nr_chunks == 1 && s.nr_hot_pages == 0,
	       "chunks %lu hot %lu", s.nr_chunks, s.nr_hot_pages);
	CHECKF("hot-valid-split", zone_ok(why, sizeof(why)), "%s", why);
	zfree(small, 5);
	zfree(o6, 6);
	zfree(o7, 7);
	zfree(o8, 8);
	zfree(big, MAX_ORDER - 2);
	CHECKF("hot-final-valid", zone_ok(why, sizeof(why)), "%s", why);

	/* a clean hot block (never written) does not keep its chunk mapped
	 * through malloc_trim's purge */
	reset_zone("hot-clean");
	struct page *clean = zalloc(HOT_MIN_ORDER);
	REQUIRE("hot-clean-alloc", clean != NULL && (clean->flags & PG_clean));
	__free_pages_zone(clean, HOT_MIN_ORDER); /* PG_clean kept */
	CHECK("hot-clean-parked", is_hot(clean, HOT_MIN_ORDER) && zone_snap().nr_chunks == 1);
	zone_purge(0, true, 0);
	s = zone_snap();
	CHECKF("hot-clean-trimmed", s.nr_hot_pages == 0 && s.nr_chunks == 0,
	       "hot %lu chunks %lu", s.nr_hot_pages, s.nr_chunks);
}

/* ---- zone_purge: unmapping chunks, purging blocks -------------------------- */

static void test_purge(void)
{
	char why[256];
	reset_zone("purge");

	/* whole free chunks are unmapped */
	uintptr_t bases[3];
	struct page *big[3];
	for (int i = 0; i < 3; i++) {
		big[i] = zalloc(MAX_ORDER - 1);
		REQUIRE("purge-alloc-chunk", big[i] != NULL);
		bases[i] = page_address(big[i]);
		memset((void *)bases[i], 0x11, PAGE_SIZE);
	}
	for (int i = 0; i < 3; i++)
		zfree(big[i], MAX_ORDER - 1);
	struct zone_snap s0 = zone_snap();
	CHECK("purge-three-free-chunks", s0.nr_chunks == 3 && s0.nr_free[MAX_ORDER - 1] == 3);
	zone_purge(0, true, 0);
	struct zone_snap s1 = zone_snap();
	CHECKF("purge-chunks-unmapped", s1.nr_chunks == s0.nr_chunks - 3 &&
						s1.nr_chunks_unmapped == s0.nr_chunks_unmapped + 3,
	       "nr_chunks %lu -> %lu, unmapped %lu -> %lu", s0.nr_chunks, s1.nr_chunks,
	       s0.nr_chunks_unmapped, s1.nr_chunks_unmapped);
	CHECK("purge-chunks-gone", s1.nr_free_pages == 0 && s1.nr_dirty_free == 0 &&
					  s1.nr_free[MAX_ORDER - 1] == 0);
	for (int i = 0; i < 3; i++)
		CHECKF("purge-pagemap-cleared", pagemap_lookup(bases[i]) == 0, "chunk %d at %#lx", i,
		       (unsigned long)bases[i]);
	CHECKF("purge-valid-1", zone_ok(why, sizeof(why)), "%s", why);

	/* a dirty chunk split by an order-0 allocation: blocks of order 0..9,
	 * all dirty (expand gives the halves the parent's flag) */
	struct page *x = zalloc(MAX_ORDER - 1);
	REQUIRE("purge-alloc-x", x != NULL);
	struct chunk *c = page_chunk(x);
	char *base = (char *)page_address(x);
	memset(base, 0x5a, CHUNK_SIZE);
	zfree(x, MAX_ORDER - 1);
	struct page *a = zalloc(0);
	REQUIRE("purge-alloc-a", a == &c->mem_map[0]);
	s0 = zone_snap();
	CHECKF("purge-all-dirty", s0.nr_dirty_free == CHUNK_PAGES - 1 && s0.nr_free_pages == CHUNK_PAGES - 1,
	       "nr_dirty_free %lu nr_free_pages %lu", s0.nr_dirty_free, s0.nr_free_pages);
	for (unsigned int k = 0; k < MAX_ORDER - 1; k++)
		CHECK("purge-split-dirty", !(c->mem_map[1UL << k].flags & PG_clean));

	/* purge down to 300 dirty pages, largest blocks first: the order-9 and
	 * order-8 blocks (768 pages) are enough */
	zone_purge(300, false, 0);
	s1 = zone_snap();
	CHECKF("purge-target", s1.nr_dirty_free <= 300, "nr_dirty_free %lu", s1.nr_dirty_free);
	CHECKF("purge-largest-first", s1.nr_dirty_free == CHUNK_PAGES - 1 - 768,
	       "nr_dirty_free %lu", s1.nr_dirty_free);
	CHECKF("purge-counted", s1.nr_purged == s0.nr_purged + 768, "nr_purged %lu -> %lu",
	       s0.nr_purged, s1.nr_purged);
	CHECK("purge-free-pages-kept", s1.nr_free_pages == s0.nr_free_pages && s1.nr_chunks == s0.nr_chunks);
	CHECK("purge-o9-clean", c->mem_map[512].type == PAGE_BUDDY && c->mem_map[512].order == 9 &&
					(c->mem_map[512].flags & PG_clean));
	CHECK("purge-o8-clean", c->mem_map[256].type == PAGE_BUDDY && (c->mem_map[256].flags & PG_clean));
	CHECK("purge-o7-dirty", !(c->mem_map[128].flags & PG_clean));
	CHECK("purge-not-isolated", !(c->mem_map[512].flags & PG_isolated) &&
					    on_free_list(&c->mem_map[512], 9));
	/* purged memory was given back: it reads as zero; unpurged keeps data */
	CHECK("purge-memory-zero", base[512 * PAGE_SIZE] == 0 && base[CHUNK_SIZE - 1] == 0 &&
					   base[256 * PAGE_SIZE + 5] == 0);
	CHECK("purge-memory-kept", base[128 * PAGE_SIZE] == 0x5a && base[PAGE_SIZE] == 0x5a);
	CHECKF("purge-valid-2", zone_ok(why, sizeof(why)), "%s", why);

	/* purge everything: every free block is clean, none counts as dirty */
	zone_purge(0, false, 0);
	struct zone_snap s2 = zone_snap();
	CHECKF("purge-zero-dirty", s2.nr_dirty_free == 0, "nr_dirty_free %lu", s2.nr_dirty_free);
	CHECK("purge-zero-counted", s2.nr_purged == s1.nr_purged + s1.nr_dirty_free);
	for (unsigned int k = 0; k < MAX_ORDER - 1; k++)
		CHECKF("purge-block-clean", c->mem_map[1UL << k].flags & PG_clean, "order %u flags %#x",
		       k, c->mem_map[1UL << k].flags);
	CHECK("purge-memory-zero-2", base[PAGE_SIZE] == 0 && base[128 * PAGE_SIZE] == 0);
	CHECK("purge-chunk-kept", s2.nr_chunks == s1.nr_chunks); /* not unmapped: one page in use */
	CHECKF("purge-valid-3", zone_ok(why, sizeof(why)), "%s", why);

	/* one dirty page makes the merged chunk dirty again, all of it */
	zfree(a, 0);
	struct zone_snap s3 = zone_snap();
	CHECKF("purge-remerge-dirty", s3.nr_dirty_free == CHUNK_PAGES && s3.nr_free[MAX_ORDER - 1] == 1,
	       "nr_dirty_free %lu", s3.nr_dirty_free);
	zone_purge(0, true, 0);
	struct zone_snap s4 = zone_snap();
	CHECK("purge-final-unmapped", s4.nr_chunks == 0 && s4.nr_chunks_unmapped == s3.nr_chunks_unmapped + 1);
}

/* ---- purge by age ------------------------------------------------------------ */

/* two_dirty_blocks - a fresh chunk as four written order-8 blocks @q, of
 * which 0 and 512 are freed (not buddies of each other: both stay order 8,
 * 512 dirty free pages) and 256 and 768 stay allocated. Its chunk. */
static struct chunk *two_dirty_blocks(struct page **q)
{
	for (int i = 0; i < 4; i++) {
		q[i] = zalloc(8);
		REQUIRE("two-blocks-alloc", q[i] != NULL);
		memset((void *)page_address(q[i]), 0x31, PAGE_SIZE << 8);
	}
	struct chunk *c = page_chunk(q[0]);
	CHECK("two-blocks-layout", page_idx(q[0]) == 0 && page_idx(q[1]) == 256 &&
					   page_idx(q[2]) == 512 && page_idx(q[3]) == 768 &&
					   page_chunk(q[3]) == c);
	zfree(q[0], 8);
	zfree(q[2], 8);
	return c;
}

static void test_purge_age(void)
{
	char why[256];
	reset_zone("purge-age");
	struct page *q[4];
	struct chunk *c = two_dirty_blocks(q);
	struct zone_snap s0 = zone_snap();
	CHECK("age-dirty", s0.nr_dirty_free == 512 && s0.nr_free[8] == 2);

	/* both were freed just now: a purge that wants an age spares them */
	zone_purge(0, false, 60000);
	struct zone_snap s1 = zone_snap();
	CHECKF("age-young-spared", s1.nr_dirty_free == 512 && s1.nr_purged == s0.nr_purged,
	       "nr_dirty_free %lu", s1.nr_dirty_free);

	/* make the one freed first (the oldest, at the cold end of its list)
	 * a minute old: only it qualifies */
	zone_lock();
	uint64_t now = zone_clock_ms();
	c->mem_map[0].free_stamp = now > 120000 ? now - 120000 : 0;
	zone_unlock();
	zone_purge(0, false, 60000);
	struct zone_snap s2 = zone_snap();
	CHECKF("age-old-purged", s2.nr_dirty_free == 256 && s2.nr_purged == s1.nr_purged + 256,
	       "nr_dirty_free %lu purged %lu", s2.nr_dirty_free, s2.nr_purged - s1.nr_purged);
	CHECK("age-old-clean", (c->mem_map[0].flags & PG_clean) && on_free_list(&c->mem_map[0], 8));
	CHECK("age-young-dirty", !(c->mem_map[512].flags & PG_clean) && on_free_list(&c->mem_map[512], 8));
	CHECKF("age-valid", zone_ok(why, sizeof(why)), "%s", why);

	/* no age limit: the young one goes too */
	zone_purge(0, false, 0);
	CHECK("age-none-left", zone_snap().nr_dirty_free == 0 && (c->mem_map[512].flags & PG_clean));

	/* a clean free chunk is unmapped by any purge that may unmap, whatever
	 * the target and the age limit: it holds no resident memory */
	struct page *fresh = zalloc(MAX_ORDER - 1); /* a second, never written chunk */
	REQUIRE("age-fresh", fresh != NULL && page_chunk(fresh) != c && (fresh->flags & PG_clean));
	zfree(q[1], 8);
	zfree(q[3], 8); /* chunk c is whole again, and dirty */
	__free_pages_zone(fresh, MAX_ORDER - 1); /* PG_clean kept: goes back clean */
	struct zone_snap s3 = zone_snap();
	CHECK("age-two-chunks", s3.nr_chunks == 2 && s3.nr_free[MAX_ORDER - 1] == 2);
	zone_purge(1UL << 20, true, 60000);
	struct zone_snap s4 = zone_snap();
	CHECKF("age-clean-chunk-unmapped", s4.nr_chunks == 1 && s4.nr_chunks_unmapped == s3.nr_chunks_unmapped + 1,
	       "nr_chunks %lu", s4.nr_chunks);
	CHECKF("age-dirty-chunk-kept", s4.nr_dirty_free == s3.nr_dirty_free && s4.nr_free[MAX_ORDER - 1] == 1,
	       "nr_dirty_free %lu -> %lu", s3.nr_dirty_free, s4.nr_dirty_free);
	CHECKF("age-valid-2", zone_ok(why, sizeof(why)), "%s", why);
}

/* ---- purge before growth --------------------------------------------------------- */

/* The zone must map a chunk for a request none of its free blocks can
 * serve: the free blocks free for purge_ms go back first, younger ones stay
 * (they are likely to be taken again soon). */
static void test_purge_before_growth(void)
{
	char why[256];
	reset_zone("growth");
	zone_lock();
	unsigned long min = zone.watermark_min, purge_ms = zone.purge_ms;
	zone.watermark_min = 0;
	zone.purge_ms = 60000;
	zone_unlock();

	struct page *q[4];
	struct chunk *c = two_dirty_blocks(q);
	zone_lock();
	uint64_t now = zone_clock_ms();
	c->mem_map[0].free_stamp = now > 120000 ? now - 120000 : 0; /* q[0] old */
	zone_unlock();
	struct zone_snap s0 = zone_snap();
	REQUIRE("growth-dirty", s0.nr_dirty_free == 512 && s0.nr_chunks == 1);

	struct page *big = zalloc(MAX_ORDER - 1); /* no free block that large: growth */
	REQUIRE("growth-big", big != NULL && page_chunk(big) != c);
	struct zone_snap s1 = zone_snap();
	CHECKF("growth-old-purged", (c->mem_map[0].flags & PG_clean) && on_free_list(&c->mem_map[0], 8),
	       "flags %#x", c->mem_map[0].flags);
	CHECKF("growth-young-kept", !(c->mem_map[512].flags & PG_clean) && on_free_list(&c->mem_map[512], 8) &&
					    s1.nr_dirty_free == 256 && s1.nr_purged == s0.nr_purged + 256,
	       "flags %#x dirty %lu purged %lu", c->mem_map[512].flags, s1.nr_dirty_free,
	       s1.nr_purged - s0.nr_purged);
	CHECKF("growth-valid", zone_ok(why, sizeof(why)), "%s", why);

	zfree(big, MAX_ORDER - 1);
	zfree(q[1], 8);
	zfree(q[3], 8);
	zone_lock();
	zone.watermark_min = min;
	zone.purge_ms = purge_ms;
	zone_unlock();
}

/* ---- watermarks ---------------------------------------------------------------- */

struct wmarks {
	unsigned long high, low, min, purge_ms;
};

static struct wmarks set_wmarks(struct wmarks w)
{
	zone_lock();
	struct wmarks old = { zone.watermark_high, zone.watermark_low, zone.watermark_min,
			      zone.purge_ms };
	zone.watermark_high = w.high;
	zone.watermark_low = w.low;
	zone.watermark_min = w.min;
	zone.purge_ms = w.purge_ms;
	zone_unlock();
	return old;
}

enum { WM_ORDER = 4, WM_BLOCKS = CHUNK_PAGES >> WM_ORDER };

/* alloc_chunk_blocks - one fresh chunk as WM_BLOCKS written order-4 blocks */
static void alloc_chunk_blocks(struct page **blocks)
{
	for (int i = 0; i < WM_BLOCKS; i++) {
		blocks[i] = zalloc(WM_ORDER);
		REQUIRE("wmark-alloc", blocks[i] != NULL);
		memset((void *)page_address(blocks[i]), 0x77, PAGE_SIZE << WM_ORDER);
	}
	struct zone_snap s = zone_snap();
	CHECK("wmark-one-chunk", s.nr_chunks == 1 && s.nr_free_pages == 0);
}

/* hot blocks are resident free memory for the watermarks: a free that
 * takes the lists and the hot blocks together above high purges, and a
 * purge to below what the hot blocks hold lists them first */
static void test_hot_watermarks(void)
{
	char why[256];
	reset_zone("hot-watermarks");
	struct page *hot = zalloc(HOT_MIN_ORDER);
	REQUIRE("hot-wmark-alloc", hot != NULL);
	memset((void *)page_address(hot), 0x5d, PAGE_SIZE << HOT_MIN_ORDER);
	enum { N = (CHUNK_PAGES - (1 << HOT_MIN_ORDER)) >> WM_ORDER };
	struct page *rest[N];
	for (int i = 0; i < N; i++) {
		rest[i] = zalloc(WM_ORDER);
		REQUIRE("hot-wmark-alloc", rest[i] != NULL);
		memset((void *)page_address(rest[i]), 0x5e, PAGE_SIZE << WM_ORDER);
	}
	struct zone_snap s = zone_snap();
	CHECK("hot-wmark-one-chunk", s.nr_chunks == 1 && s.nr_free_pages == 0);
	/* high 96 pages: the hot block (64) and two blocks of 16 fit under it */
	struct wmarks saved = set_wmarks((struct wmarks){ 96, 48, 0, 0 });
	zfree_hot(hot, HOT_MIN_ORDER);
	int first_purge = -1;
	for (int i = 0; i < 3; i++) {
		unsigned long purged = zone_snap().nr_purged;
		zfree_hot(rest[i], WM_ORDER);
		if (first_purge < 0 && zone_snap().nr_purged != purged)
			first_purge = i + 1;
	}
	s = zone_snap();
	CHECKF("hot-wmark-counted", first_purge == 3, "first purge at free #%d", first_purge);
	CHECKF("hot-wmark-to-low", s.nr_hot_pages == 0 && s.nr_dirty_free <= 48,
	       "hot %lu dirty %lu", s.nr_hot_pages, s.nr_dirty_free);
	CHECKF("hot-wmark-valid", zone_ok(why, sizeof(why)), "%s", why);
	set_wmarks(saved);
	for (int i = 3; i < N; i++)
		zfree(rest[i], WM_ORDER);
}

static void test_watermarks(void)
{
	char why[256];
	const unsigned long high = 256, low = 64;
	struct page *blocks[WM_BLOCKS];
	struct zone_snap s;

	/* purge_ms 0: every free block is old enough, so passing high purges
	 * down to low at once */
	reset_zone("watermarks");
	alloc_chunk_blocks(blocks);
	struct wmarks saved = set_wmarks((struct wmarks){ high, low, 0, 0 });

	/* free all but block 0 (which keeps the chunk from becoming whole) */
	int first_purge = -1;
	bool below_high = true, to_low = true, valid = true;
	for (int i = 1; i < WM_BLOCKS; i++) {
		unsigned long purged = zone_snap().nr_purged;
		zfree(blocks[i], WM_ORDER);
		s = zone_snap();
		if (s.nr_purged != purged) {
			if (first_purge < 0)
				first_purge = i;
			if (s.nr_dirty_free > low) {
				printf("      free #%d purged, nr_dirty_free %lu > low %lu\n", i,
				       s.nr_dirty_free, low);
				to_low = false;
			}
		} else if (s.nr_dirty_free > high) {
			printf("      free #%d: nr_dirty_free %lu > high %lu, no purge\n", i,
			       s.nr_dirty_free, high);
			below_high = false;
		}
		if (!zone_ok(why, sizeof(why))) {
			printf("      free #%d: %s\n", i, why);
			valid = false;
		}
	}
	/* before the first purge every free block was dirty: 16 pages each,
	 * so the 17th free is the first to pass 256 */
	CHECKF("wmark-first-purge", first_purge == (int)(high >> WM_ORDER) + 1,
	       "first purge at free #%d", first_purge);
	CHECK("wmark-purge-to-low", to_low);
	CHECK("wmark-never-above-high", below_high);
	CHECK("wmark-valid", valid);
	CHECK("wmark-no-unmap-yet", zone_snap().nr_chunks == 1);

	/* the last block makes the chunk whole and dirty, far above high: the
	 * whole free chunk is unmapped */
	struct zone_snap before = zone_snap();
	zfree(blocks[0], WM_ORDER);
	s = zone_snap();
	CHECKF("wmark-chunk-unmapped",
	       s.nr_chunks == 0 && s.nr_chunks_unmapped == before.nr_chunks_unmapped + 1,
	       "nr_chunks %lu", s.nr_chunks);
	CHECK("wmark-final-dirty", s.nr_dirty_free <= low);

	/* watermark_min is left resident even when low is below it */
	reset_zone("watermarks-min");
	alloc_chunk_blocks(blocks);
	set_wmarks((struct wmarks){ high, 16, 100, 0 });
	for (int i = 1; i <= (int)(high >> WM_ORDER) + 1; i++)
		zfree(blocks[i], WM_ORDER);
	s = zone_snap();
	/* purging goes by whole blocks, largest first, so it may end below
	 * the target; but it stops at min (100), long before low (16) */
	CHECKF("wmark-min-kept", s.nr_purged > before.nr_purged && s.nr_dirty_free <= 100 &&
					 s.nr_dirty_free > 16,
	       "nr_dirty_free %lu", s.nr_dirty_free);
	for (int i = (int)(high >> WM_ORDER) + 2; i < WM_BLOCKS; i++)
		zfree(blocks[i], WM_ORDER);
	zfree(blocks[0], WM_ORDER);

	/* a minute's purge age: young free memory between high and twice
	 * high stays resident; past twice high it is purged regardless of
	 * age, down to high */
	reset_zone("watermarks-age");
	alloc_chunk_blocks(blocks);
	set_wmarks((struct wmarks){ high, low, 0, 60000 });
	unsigned long purged0 = zone_snap().nr_purged;
	int i = 1;
	for (; i < WM_BLOCKS && zone_snap().nr_dirty_free + (1UL << WM_ORDER) <= 2 * high; i++)
		zfree(blocks[i], WM_ORDER);
	s = zone_snap();
	CHECKF("wmark-young-kept", s.nr_purged == purged0 && s.nr_dirty_free > high,
	       "nr_dirty_free %lu purged %lu", s.nr_dirty_free, s.nr_purged - purged0);
	zfree(blocks[i++], WM_ORDER); /* now past twice high */
	s = zone_snap();
	CHECKF("wmark-far-above-purged", s.nr_purged > purged0 && s.nr_dirty_free <= high,
	       "nr_dirty_free %lu purged %lu", s.nr_dirty_free, s.nr_purged - purged0);
	for (; i < WM_BLOCKS; i++)
		zfree(blocks[i], WM_ORDER);
	zfree(blocks[0], WM_ORDER);
	CHECKF("wmark-age-valid", zone_ok(why, sizeof(why)), "%s", why);

	set_wmarks(saved);
}

/* a shrinking zone (frees only) purges young free memory too once it is
 * above high, down to low; one whose memory is reused keeps it up to high
 * (and past it, while it is young) */
static void test_shrinking(void)
{
	char why[256];
	const unsigned long high = 512, low = 64;
	struct page *blocks[WM_BLOCKS];
	struct zone_snap s;
	reset_zone("shrinking");
	alloc_chunk_blocks(blocks);
	struct wmarks saved = set_wmarks((struct wmarks){ high, low, 0, 60000 });
	zone_lock();
	WRITE_ONCE(zone.recent_freed, 0);
	WRITE_ONCE(zone.recent_reused, 0);
	zone_unlock();

	/* every block is young (a minute's purge age), all below high */
	int first_purge = -1, i = 1;
	unsigned long dirty_after = 0;
	for (; i < WM_BLOCKS - 1 && first_purge < 0; i++) {
		unsigned long purged = zone_snap().nr_purged;
		zfree(blocks[i], WM_ORDER);
		s = zone_snap();
		if (s.nr_purged != purged) {
			first_purge = i;
			dirty_after = s.nr_dirty_free;
		}
	}
	CHECKF("shrink-purges-young", first_purge == (int)(high >> WM_ORDER) + 1,
	       "first purge at free #%d", first_purge);
	CHECKF("shrink-to-low", dirty_after <= low, "nr_dirty_free %lu", dirty_after);

	/* reused memory: the same frees keep it (young, below high) */
	zone_not_shrinking();
	unsigned long purged0 = zone_snap().nr_purged;
	int kept = 0;
	for (; i < WM_BLOCKS && zone_snap().nr_dirty_free + (1UL << WM_ORDER) <= high; i++, kept++)
		zfree(blocks[i], WM_ORDER);
	s = zone_snap();
	CHECKF("reused-kept", kept > 20 && s.nr_purged == purged0 &&
				      s.nr_dirty_free > high - (1UL << WM_ORDER),
	       "kept %d nr_dirty_free %lu purged %lu", kept, s.nr_dirty_free, s.nr_purged - purged0);
	for (; i < WM_BLOCKS; i++)
		zfree(blocks[i], WM_ORDER);
	zfree(blocks[0], WM_ORDER);
	CHECKF("shrink-valid", zone_ok(why, sizeof(why)), "%s", why);
	set_wmarks(saved);
}

/* ---- the direct map: where chunks are mapped ------------------------------ */

static bool in_direct_map(uintptr_t a)
{
	return a >= direct_map_base() && a < direct_map_base() + DIRECT_MAP_SIZE;
}

/* slot_of - the direct map's slot of chunk memory at @a */
static unsigned long slot_of(uintptr_t a)
{
	return (unsigned long)((a - direct_map_base()) >> CHUNK_SHIFT);
}

static void test_direct_map(void)
{
	char why[256];
	reset_zone("direct-map");

	/* chunks go side by side into the direct map, from its lowest free
	 * slot, inside the pagemap's table */
	struct page *big[3];
	uintptr_t base[3];
	for (int i = 0; i < 3; i++) {
		big[i] = zalloc(MAX_ORDER - 1);
		REQUIRE("direct-map-alloc", big[i] != NULL);
		base[i] = page_address(big[i]);
		CHECKF("direct-map-entry", pagemap_lookup(base[i]) == chunk_entry(page_chunk(big[i])),
		       "chunk %d at %#lx", i, (unsigned long)base[i]);
	}
	uintptr_t start = direct_map_base();
	CHECKF("direct-map-start", start >= DIRECT_MAP_LOW && start % CHUNK_SIZE == 0 &&
					   start + DIRECT_MAP_SIZE <= PAGEMAP_TABLE_TOP,
	       "start %#lx", (unsigned long)start);
	if (!in_direct_map(base[0])) {
		/* an ASan or TSan build: their shadow covers the region, and
		 * chunk_map leaves it alone (BS_SANITIZED) */
		printf("note: the direct map at %#lx is in the way (ASan, TSan?), chunk at %#lx: "
		       "its placement checks skipped\n", (unsigned long)start, (unsigned long)base[0]);
		for (int i = 0; i < 3; i++)
			zfree(big[i], MAX_ORDER - 1);
		zone_purge(0, true, 0);
		return;
	}
	for (int i = 0; i < 3; i++)
		CHECKF("direct-map-inside-table", in_direct_map(base[i]) && (base[i] >> CHUNK_SHIFT) < pagemap.limit,
		       "chunk %d at %#lx, map at %#lx, limit %#lx", i, (unsigned long)base[i],
		       (unsigned long)start, (unsigned long)pagemap.limit);
	CHECKF("direct-map-side-by-side", base[1] == base[0] + CHUNK_SIZE && base[2] == base[1] + CHUNK_SIZE,
	       "%#lx %#lx %#lx", (unsigned long)base[0], (unsigned long)base[1], (unsigned long)base[2]);
	unsigned long first = slot_of(base[0]);

	/* unmapped, their slots are free again: the next chunk takes the lowest */
	for (int i = 0; i < 3; i++)
		zfree(big[i], MAX_ORDER - 1);
	zone_purge(0, true, 0);
	struct page *again = zalloc(MAX_ORDER - 1);
	REQUIRE("direct-map-again", again != NULL);
	CHECKF("direct-map-slot-reused", page_address(again) == base[0], "%#lx, not %#lx",
	       (unsigned long)page_address(again), (unsigned long)base[0]);
	zfree(again, MAX_ORDER - 1);
	zone_purge(0, true, 0);

	/* a mapping of someone else's in the lowest free slot: the chunk
	 * takes the next, and the slot stays taken after that mapping is gone */
	void *mine = mmap((void *)base[0], PAGE_SIZE, PROT_READ,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	REQUIRE("direct-map-foreign", mine == (void *)base[0]);
	struct page *next = zalloc(MAX_ORDER - 1);
	REQUIRE("direct-map-next", next != NULL);
	CHECKF("direct-map-skips-foreign", page_address(next) == base[1], "%#lx, not %#lx",
	       (unsigned long)page_address(next), (unsigned long)base[1]);
	munmap(mine, PAGE_SIZE);
	zfree(next, MAX_ORDER - 1);
	zone_purge(0, true, 0);
	next = zalloc(MAX_ORDER - 1);
	REQUIRE("direct-map-next-2", next != NULL);
	CHECKF("direct-map-foreign-slot-stays-taken", page_address(next) == base[1], "%#lx, not %#lx",
	       (unsigned long)page_address(next), (unsigned long)base[1]);
	zfree(next, MAX_ORDER - 1);
	zone_purge(0, true, 0);

	/* a wall of 16 slots from the lowest free one (first + 1): the
	 * search gallops past it, trying first + 2, 4, 8, 16 (all in the
	 * wall, and taken for good) and then first + 32 */
	size_t wall = 16 * CHUNK_SIZE;
	mine = mmap((void *)base[1], wall, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
		    -1, 0);
	REQUIRE("direct-map-wall", mine == (void *)base[1]);
	struct page *past = zalloc(MAX_ORDER - 1);
	REQUIRE("direct-map-past", past != NULL);
	CHECKF("direct-map-gallops-past-the-wall", slot_of(page_address(past)) == first + 32,
	       "slot %lu, not %lu", slot_of(page_address(past)), first + 32);
	memset((void *)page_address(past), 0x33, CHUNK_SIZE);
	zfree(past, MAX_ORDER - 1);
	zone_purge(0, true, 0);
	munmap(mine, wall);

	/* a wall from the lowest free slot (first + 3) to the region's end,
	 * as ASan's shadow is: the gallop runs off the end and the direct
	 * map is given up; the chunk goes where the kernel puts it (into the
	 * tree if above the table), works, and goes back as any other; so
	 * do the next ones, the wall gone (last test: given up for good) */
	uintptr_t from = start + ((first + 3) << CHUNK_SHIFT);
	wall = start + DIRECT_MAP_SIZE - from;
	mine = mmap((void *)from, wall, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	REQUIRE("direct-map-wall-to-end", mine == (void *)from);
	struct page *far = zalloc(MAX_ORDER - 1);
	REQUIRE("direct-map-far", far != NULL);
	uintptr_t fa = page_address(far);
	uintptr_t entry = chunk_entry(page_chunk(far));
	CHECKF("direct-map-given-up", !in_direct_map(fa), "chunk at %#lx", (unsigned long)fa);
	CHECKF("direct-map-far-found", pagemap_lookup(fa) == entry &&
					       ((fa >> CHUNK_SHIFT) < pagemap.limit ||
						pagemap_lookup_tree(fa) == entry),
	       "chunk at %#lx, entry %#lx", (unsigned long)fa, (unsigned long)pagemap_lookup(fa));
	memset((void *)fa, 0x33, CHUNK_SIZE);
	CHECKF("direct-map-far-valid", zone_ok(why, sizeof(why)), "%s", why);
	munmap(mine, wall);
	struct page *after = zalloc(MAX_ORDER - 1);
	REQUIRE("direct-map-after", after != NULL);
	CHECKF("direct-map-given-up-for-good", !in_direct_map(page_address(after)), "chunk at %#lx",
	       (unsigned long)page_address(after));
	zfree(far, MAX_ORDER - 1);
	zfree(after, MAX_ORDER - 1);
	zone_purge(0, true, 0);
	CHECKF("direct-map-far-cleared", pagemap_lookup(fa) == 0, "entry %#lx",
	       (unsigned long)pagemap_lookup(fa));
	CHECKF("direct-map-valid", zone_ok(why, sizeof(why)), "%s", why);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	buddyslab_init();
	CHECK("no-heap", heap_current() == NULL);

	test_every_order();
	test_random_free(1);
	test_random_free(0x5eed);
	test_random_free(20240601);
	test_expand();
	test_merge();
	test_free_pages_range();
	test_hot_blocks();
	test_purge();
	test_purge_age();
	test_purge_before_growth();
	test_watermarks();
	test_hot_watermarks();
	test_shrinking();
	test_direct_map(); /* last: it gives the direct map up */

	CHECK("still-no-heap", heap_current() == NULL);
	reset_zone("exit");
	return UNIT_DONE();
}
