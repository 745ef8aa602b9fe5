/*
 * test_pcp.c - unit tests of the per-thread page cache (src/pcp.c).
 *
 * The main thread takes a heap (heap_get) and drives its per_cpu_pages
 * directly with pcp_alloc/pcp_free/pcp_drain, comparing the cache's count
 * with what the zone lost or gained. Then threads that allocate pages
 * through alloc_pages_node exit, and their caches must be back in the zone.
 *
 * The zone's high watermark (16 MiB of dirty free pages by default) is far
 * above what these tests free, so no purge changes nr_free_pages under them
 * (test_adaptive_high sets it as it needs).
 */
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"

static unsigned long zone_free(void)
{
	zone_lock();
	unsigned long n = zone.nr_free_pages;
	zone_unlock();
	return n;
}

/* lists_ok - every listed block is PAGE_PCP of its list's order and count is
 * the sum: an independent recount next to pcp_is_valid(). */
static bool lists_ok(struct per_cpu_pages *pcp)
{
	int count = 0;
	for (unsigned int k = 0; k < NR_PCP_LISTS; k++) {
		struct list_head *pos;
		list_for_each(pos, &pcp->lists[k]) {
			struct page *page = list_entry(pos, struct page, lru);
			if (page->type != PAGE_PCP || page->order != k ||
			    page_idx(page) % (1UL << k) != 0)
				return false;
			count += 1 << k;
		}
	}
	return count == pcp->count && pcp_is_valid(pcp);
}

static int blocks_for(struct per_cpu_pages *pcp, unsigned int order)
{
	int blocks = pcp->batch >> order;
	return blocks < 1 ? 1 : blocks;
}

/* ---- refill in batches ---------------------------------------------------- */

static void test_refill(struct heap *heap)
{
	struct per_cpu_pages *pcp = &heap->pcp;
	pcp_drain(pcp, 0);
	CHECK("refill-empty", pcp->count == 0 && lists_ok(pcp));

	/* order 0: one zone lock hold brings `batch` pages, one is handed out */
	unsigned long zfree0 = zone_free();
	struct page *p = pcp_alloc(heap, 0, 0);
	REQUIRE("refill-alloc", p != NULL);
	CHECKF("refill-count", pcp->count == pcp->batch - 1, "count %d batch %d", pcp->count,
	       pcp->batch);
	CHECKF("refill-zone", zone_free() == zfree0 - (unsigned long)pcp->batch,
	       "zone free %lu -> %lu", zfree0, zone_free());
	CHECK("refill-list-len", list_len(&pcp->lists[0]) == (unsigned long)pcp->batch - 1);
	CHECK("refill-page", p->type == PAGE_PAGES && p->order == 0 && (p->flags & ~PG_clean) == 0);
	CHECK("refill-lists-ok", lists_ok(pcp));

	/* the rest of the batch comes without the zone */
	struct page **held = calloc((size_t)pcp->batch + 2, sizeof(*held));
	REQUIRE("refill-held", held != NULL);
	int nheld = 0;
	held[nheld++] = p;
	unsigned long zfree1 = zone_free();
	bool ok = true;
	for (int i = 0; i < pcp->batch - 1; i++) {
		int before = pcp->count;
		struct page *q = pcp_alloc(heap, 0, 0);
		if (!q || pcp->count != before - 1 || !lists_ok(pcp))
			ok = false;
		held[nheld++] = q;
	}
	CHECK("refill-from-cache", ok && zone_free() == zfree1 && pcp->count == 0);
	/* empty again: the next allocation refills a batch */
	p = pcp_alloc(heap, 0, 0);
	REQUIRE("refill-alloc-2", p != NULL);
	held[nheld++] = p;
	CHECKF("refill-again", pcp->count == pcp->batch - 1 &&
				       zone_free() == zfree1 - (unsigned long)pcp->batch,
	       "count %d", pcp->count);

	/* small orders: batch pages worth of blocks of that order */
	for (unsigned int order = 1; order <= PCP_MAX_ORDER; order++) {
		int before = pcp->count;
		unsigned long zf = zone_free();
		struct page *b = pcp_alloc(heap, order, 0);
		REQUIRE("refill-order-alloc", b != NULL);
		int blocks = blocks_for(pcp, order);
		CHECKF("refill-order-count", pcp->count == before + ((blocks - 1) << order),
		       "order %u: count %d -> %d", order, before, pcp->count);
		CHECKF("refill-order-zone", zone_free() == zf - ((unsigned long)blocks << order),
		       "order %u: zone %lu -> %lu", order, zf, zone_free());
		CHECK("refill-order-list", list_len(&pcp->lists[order]) == (unsigned long)blocks - 1);
		CHECK("refill-order-block", b->type == PAGE_PAGES && b->order == order);
		CHECKF("refill-order-aligned", page_address(b) % (PAGE_SIZE << order) == 0, "order %u",
		       order);
		CHECK("refill-order-lists-ok", lists_ok(pcp));
		pcp_free(heap, b, order);
		CHECK("refill-order-freed", b->type == PAGE_PCP && lists_ok(pcp));
	}
	for (int i = 0; i < nheld; i++)
		pcp_free(heap, held[i], 0);
	free(held);
	CHECK("refill-end-valid", lists_ok(pcp) && pcp->count <= pcp->high);
}

/* ---- drain above high ---------------------------------------------------------- */

static void test_drain_high(struct heap *heap)
{
	struct per_cpu_pages *pcp = &heap->pcp;
	enum { N = 400 };
	static struct page *pages[N];
	pcp_drain(pcp, 0);

	for (int i = 0; i < N; i++) {
		pages[i] = pcp_alloc(heap, 0, 0);
		REQUIRE("drain-alloc", pages[i] != NULL);
	}
	/* a few blocks of the other orders in the cache too, so that the
	 * round-robin drain meets every list */
	for (unsigned int order = 1; order <= PCP_MAX_ORDER; order++) {
		struct page *b = pcp_alloc(heap, order, 0);
		REQUIRE("drain-alloc-order", b != NULL);
		pcp_free(heap, b, order);
	}
	CHECK("drain-mixed-valid", lists_ok(pcp));

	int drains = 0;
	bool ok = true;
	for (int i = 0; i < N; i++) {
		int before = pcp->count;
		unsigned long zf = zone_free();
		pcp_free(heap, pages[i], 0);
		int after = pcp->count;
		unsigned long zgain = zone_free() - zf;
		if (!lists_ok(pcp) || after > pcp->high) {
			printf("      free #%d: count %d high %d valid %d\n", i, after, pcp->high,
			       lists_ok(pcp));
			ok = false;
		}
		if (before + 1 > pcp->high) {
			/* drained: at least count - high + batch pages, the
			 * coldest blocks (an order-3 block may overshoot by 7) */
			int want = before + 1 - pcp->high + pcp->batch;
			int drained = before + 1 - after;
			drains++;
			if (drained < want || drained >= want + (1 << PCP_MAX_ORDER) ||
			    zgain != (unsigned long)drained || after > pcp->high - pcp->batch) {
				printf("      free #%d: before %d after %d drained %d want %d zone +%lu\n",
				       i, before, after, drained, want, zgain);
				ok = false;
			}
			/* the block just freed is the hottest: it stays */
			if (pages[i]->type != PAGE_PCP) {
				printf("      free #%d: the hot block was drained\n", i);
				ok = false;
			}
		} else if (after != before + 1 || zgain != 0) {
			printf("      free #%d: before %d after %d zone +%lu without drain\n", i,
			       before, after, zgain);
			ok = false;
		}
	}
	CHECK("drain-count-le-high", ok);
	CHECKF("drain-happened", drains >= (N - pcp->high) / (pcp->batch + 1), "%d drains", drains);

	/* pcp_drain(keep): with order-0 blocks only, exactly @keep stay */
	pcp_drain(pcp, 0);
	for (int i = 0; i < 40; i++)
		pages[i] = pcp_alloc(heap, 0, 0);
	for (int i = 0; i < 40; i++)
		pcp_free(heap, pages[i], 0);
	int before = pcp->count;
	unsigned long zf = zone_free();
	pcp_drain(pcp, 5);
	CHECKF("drain-keep", pcp->count == 5 && zone_free() == zf + (unsigned long)(before - 5),
	       "count %d -> %d", before, pcp->count);

	/* pcp_drain(0) empties it, every page back in the zone */
	before = pcp->count;
	zf = zone_free();
	pcp_drain(pcp, 0);
	CHECKF("drain-all", pcp->count == 0 && zone_free() == zf + (unsigned long)before,
	       "count %d zone %lu -> %lu", pcp->count, zf, zone_free());
	bool empty = true;
	for (unsigned int k = 0; k < NR_PCP_LISTS; k++)
		if (!list_empty(&pcp->lists[k]))
			empty = false;
	CHECK("drain-all-lists-empty", empty && lists_ok(pcp));
	CHECK("drain-zone-valid", zone_is_valid());
}

/* ---- alloc_pages_node: the cache for small orders, the zone above ------------ */

static void test_alloc_pages_node(struct heap *heap)
{
	struct per_cpu_pages *pcp = &heap->pcp;
	pcp_drain(pcp, 0);
	for (unsigned int order = 0; order <= PCP_MAX_ORDER + 2; order++) {
		unsigned long used = used_pages();
		pcp_drain(pcp, 0);
		struct page *p = alloc_pages_node(0, order);
		REQUIRE("node-alloc", p != NULL);
		bool cached = order <= PCP_MAX_ORDER;
		/* from an empty cache: a refill for small orders, the zone above */
		CHECKF("node-via-pcp",
		       pcp->count == (cached ? (blocks_for(pcp, order) - 1) << order : 0),
		       "order %u count %d", order, pcp->count);
		CHECKF("node-used", used_pages() == used + (1UL << order), "order %u", order);
		CHECK("node-aligned", page_address(p) % (PAGE_SIZE << order) == 0);
		memset((void *)page_address(p), 0x3c, PAGE_SIZE << order);
		p->flags = 0;
		int before = pcp->count;
		free_pages_node(p, order);
		if (cached)
			CHECKF("node-free-to-pcp", p->type == PAGE_PCP && pcp->count == before + (1 << order),
			       "order %u", order);
		else
			CHECKF("node-free-to-zone", pcp->count == before, "order %u", order);
		CHECKF("node-used-back", used_pages() == used, "order %u", order);
		CHECK("node-valid", lists_ok(pcp) && zone_is_valid());
	}
	pcp_drain(pcp, 0);
}

/* ---- thread exit gives the cache back ----------------------------------------- */

struct thread_result {
	struct heap *heap;
	pid_t tid;
	int count_at_exit;
	unsigned long zone_free_at_exit;
	bool valid;
	bool active;
	bool ok;
};

static void *pcp_thread(void *arg)
{
	struct thread_result *r = arg;
	struct heap *heap = heap_get();
	r->heap = heap;
	r->tid = (pid_t)syscall(SYS_gettid);
	r->active = heap && atomic_load(&heap->state) == HEAP_ACTIVE && heap->tid == r->tid &&
		    heap_current() == heap;
	if (!heap)
		return NULL;
	struct page *pages[48];
	unsigned int orders[48];
	r->ok = true;
	for (int i = 0; i < 48; i++) {
		orders[i] = (i % 4 == 3) ? 2 : (i % 7 == 5 ? 5 : 0);
		pages[i] = alloc_pages_node(0, orders[i]);
		if (!pages[i])
			r->ok = false;
	}
	for (int i = 0; i < 48 && r->ok; i++) {
		memset((void *)page_address(pages[i]), i, PAGE_SIZE << orders[i]);
		pages[i]->flags = 0;
		free_pages_node(pages[i], orders[i]);
	}
	r->count_at_exit = heap->pcp.count;
	r->valid = pcp_is_valid(&heap->pcp);
	r->zone_free_at_exit = zone_free();
	return NULL;
}

struct find_heap {
	struct heap *heap;
	bool found;
	int state;
	int count;
	bool lists_empty;
};

static void find_heap_fn(struct heap *heap, void *arg)
{
	struct find_heap *f = arg;
	if (heap != f->heap)
		return;
	f->found = true;
	f->state = atomic_load(&heap->state);
	f->count = heap->pcp.count;
	f->lists_empty = true;
	for (unsigned int k = 0; k < NR_PCP_LISTS; k++)
		if (!list_empty(&heap->pcp.lists[k]))
			f->lists_empty = false;
}

static void test_thread_exit(struct heap *main_heap)
{
	pcp_drain(&main_heap->pcp, 0);
	unsigned long used0 = used_pages();

	struct thread_result r1 = { 0 };
	pthread_t t;
	REQUIRE("exit-create", pthread_create(&t, NULL, pcp_thread, &r1) == 0);
	pthread_join(t, NULL);
	REQUIRE("exit-thread-heap", r1.heap != NULL);
	CHECK("exit-thread-own-heap", r1.heap != main_heap && r1.active);
	CHECK("exit-thread-allocs", r1.ok && r1.valid);
	CHECKF("exit-had-cache", r1.count_at_exit > 0, "count %d", r1.count_at_exit);
	/* the cache went back: the zone grew by exactly what the cache held */
	CHECKF("exit-zone-got-pages", zone_free() == r1.zone_free_at_exit + (unsigned long)r1.count_at_exit,
	       "zone free at exit %lu + cache %d, now %lu", r1.zone_free_at_exit, r1.count_at_exit,
	       zone_free());
	struct find_heap f = { .heap = r1.heap };
	heap_for_each(find_heap_fn, &f);
	CHECK("exit-heap-listed", f.found);
	CHECKF("exit-heap-abandoned", f.state == HEAP_ABANDONED, "state %d", f.state);
	CHECKF("exit-heap-pcp-empty", f.count == 0 && f.lists_empty, "count %d", f.count);
	/* nothing leaked: only the new heap's own block (2^HEAP_ORDER pages)
	 * stays in use, or none if it adopted an abandoned heap */
	unsigned long used1 = used_pages();
	CHECKF("exit-no-pages-lost", used1 == used0 + (1UL << HEAP_ORDER) || used1 == used0,
	       "used pages %lu -> %lu", used0, used1);
	CHECK("exit-zone-valid", zone_is_valid());

	/* the next thread adopts the abandoned heap, and gives it back again */
	struct thread_result r2 = { 0 };
	REQUIRE("exit-create-2", pthread_create(&t, NULL, pcp_thread, &r2) == 0);
	pthread_join(t, NULL);
	CHECK("exit-adopted", r2.heap == r1.heap && r2.active);
	CHECK("exit-adopted-allocs", r2.ok && r2.valid);
	CHECK("exit-adopted-zone", zone_free() == r2.zone_free_at_exit + (unsigned long)r2.count_at_exit);
	f = (struct find_heap){ .heap = r2.heap };
	heap_for_each(find_heap_fn, &f);
	CHECK("exit-adopted-abandoned", f.found && f.state == HEAP_ABANDONED && f.count == 0 &&
						f.lists_empty);
	CHECKF("exit-adopted-no-pages-lost", used_pages() == used1, "used pages %lu -> %lu", used1,
	       used_pages());

	/* two threads at once get two heaps */
	struct thread_result ra = { 0 }, rb = { 0 };
	pthread_t ta, tb;
	REQUIRE("exit-create-3", pthread_create(&ta, NULL, pcp_thread, &ra) == 0);
	REQUIRE("exit-create-4", pthread_create(&tb, NULL, pcp_thread, &rb) == 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	CHECK("exit-two-threads", ra.ok && rb.ok && ra.heap && rb.heap && ra.valid && rb.valid);
	/* they may have run one after the other and shared the abandoned heap;
	 * either way nothing is cached any more */
	struct find_heap fa = { .heap = ra.heap }, fb = { .heap = rb.heap };
	heap_for_each(find_heap_fn, &fa);
	heap_for_each(find_heap_fn, &fb);
	CHECK("exit-two-abandoned", fa.state == HEAP_ABANDONED && fb.state == HEAP_ABANDONED &&
					    fa.count == 0 && fb.count == 0);
	CHECK("exit-final-zone-valid", zone_is_valid());
}

/* ---- refills of several orders in a row ---------------------------------- */

/* With the cache near high, refills of one order after another (no free
 * between them to drain) must not pile up past high + batch: pcp_alloc
 * drains back to high. */
static void test_refills_in_a_row(struct heap *heap)
{
	struct per_cpu_pages *pcp = &heap->pcp;
	enum { BIG = 16 };
	struct page *big[BIG], *small[PCP_MAX_ORDER + 1];
	pcp_drain(pcp, 0);
	/* fill it to high with blocks of the top order */
	int nbig = 0;
	while (nbig < BIG && pcp->count + (1 << PCP_MAX_ORDER) <= pcp->high) {
		big[nbig] = pcp_alloc(heap, PCP_MAX_ORDER, 0);
		REQUIRE("rows-big-alloc", big[nbig] != NULL);
		nbig++;
	}
	for (int i = 0; i < nbig; i++)
		pcp_free(heap, big[i], PCP_MAX_ORDER);
	bool ok = pcp_is_valid(pcp) && lists_ok(pcp);
	for (unsigned int order = 0; order <= PCP_MAX_ORDER; order++) {
		small[order] = pcp_alloc(heap, order, 0);
		REQUIRE("rows-alloc", small[order] != NULL);
		if (!pcp_is_valid(pcp) || !lists_ok(pcp) || pcp->count > pcp->high + pcp->batch) {
			printf("      order %u: count %d high %d batch %d\n", order, pcp->count,
			       pcp->high, pcp->batch);
			ok = false;
		}
	}
	CHECK("rows-within-high-plus-batch", ok);
	for (unsigned int order = 0; order <= PCP_MAX_ORDER; order++)
		pcp_free(heap, small[order], order);
	CHECK("rows-valid", pcp_is_valid(pcp) && lists_ok(pcp) && zone_is_valid());
}

/* ---- clean blocks stay clean through the cache ---------------------------- */

/* A block the zone purged (PG_clean: it reads as zero) keeps the flag on
 * its way through the cache, so that calloc need not clear it; a block the
 * program freed is dirty. */
static void test_clean_through_pcp(struct heap *heap)
{
	struct per_cpu_pages *pcp = &heap->pcp;
	for (unsigned int order = 0; order <= PCP_MAX_ORDER; order++) {
		pcp_drain(pcp, 0);
		zone_purge(0, false, 0); /* every free block in the zone clean */
		struct page *p = alloc_pages_node(0, order);
		REQUIRE("clean-alloc", p != NULL);
		CHECKF("clean-from-cache", p->flags & PG_clean, "order %u flags %#x", order, p->flags);
		CHECKF("clean-refill-listed", list_empty(&pcp->lists[order]) ||
						     (list_first_entry(&pcp->lists[order], struct page, lru)->flags & PG_clean),
		       "order %u", order);
		memset((void *)page_address(p), 0x5a, PAGE_SIZE << order);
		pcp_free(heap, p, order);
		struct page *again = pcp_alloc(heap, order, 0);
		CHECKF("dirty-after-free", again == p && !(again->flags & PG_clean), "order %u", order);
		pcp_free(heap, again, order);
	}
	/* drained: the dirty blocks count as dirty in the zone, the clean
	 * ones as clean (zone_is_valid recounts both) */
	pcp_drain(pcp, 0);
	CHECK("clean-drained-valid", zone_is_valid());
}


/* ---- adaptive high --------------------------------------------------------- */

enum { CYCLE = 600, BIG_CYCLE = PCP_HIGH_MAX + 600 };
static struct page *cycle_pages[BIG_CYCLE];

/* take - @n order-0 pages from the cache into cycle_pages; false if one
 * could not be had. */
static bool take(struct heap *heap, int n)
{
	for (int i = 0; i < n; i++)
		if (!(cycle_pages[i] = pcp_alloc(heap, 0, 0)))
			return false;
	return true;
}

/* give_back - the first @n pages of cycle_pages back to the cache. */
static void give_back(struct heap *heap, int n)
{
	for (int i = 0; i < n; i++)
		pcp_free(heap, cycle_pages[i], 0);
}

/* cycle - @n order-0 pages taken from the cache, then all given back: a
 * thread that cycles more pages than high. */
static bool cycle(struct heap *heap, int n)
{
	if (!take(heap, n))
		return false;
	give_back(heap, n);
	return lists_ok(&heap->pcp);
}

/* take_through_refill - every page on the order-0 list and one more, whose
 * pcp_alloc refills: the checks that follow see the refill's work. The
 * pages go to cycle_pages; how many, 0 if one could not be had. */
static int take_through_refill(struct heap *heap)
{
	int n = (int)list_len(&heap->pcp.lists[0]) + 1;
	return n <= BIG_CYCLE && take(heap, n) ? n : 0;
}

/* growth_past - as if the zone had last mapped a chunk long ago (a cycle
 * that made it map one would otherwise hold the next raises off) */
static bool growth_past(void)
{
	WRITE_ONCE(zone.grow_ms, 0);
	return true;
}

/* growth_now - as if the zone were mapping chunks: a stamp in the future
 * counts as growth however long the test then takes */
static void growth_now(void)
{
	WRITE_ONCE(zone.grow_ms, zone_clock_ms() + 100 * PCP_DECAY_MS);
}

/* cycles_until_settled - cycles of @n pages until one takes nothing from
 * the zone and gives nothing back (at most @max): true if one did. */
static bool cycles_until_settled(struct heap *heap, int n, int max)
{
	for (int i = 0; i < max; i++) {
		unsigned long zf = zone_free();
		growth_past();
		if (!cycle(heap, n))
			return false;
		if (zone_free() == zf)
			return true;
	}
	return false;
}

static pthread_barrier_t raised_barrier;

static void *raise_thread(void *arg)
{
	struct heap *heap = heap_get();
	int *high = arg;
	/* (growth_past: heap_get may have made the zone map a chunk) */
	if (heap && growth_past() && cycle(heap, CYCLE) && growth_past() && cycle(heap, CYCLE))
		*high = heap->pcp.high;
	return NULL;
}

/* the same, alive with its raise until the main thread has forked */
static void *raise_thread_waits(void *arg)
{
	raise_thread(arg);
	pthread_barrier_wait(&raised_barrier);
	pthread_barrier_wait(&raised_barrier);
	return NULL;
}

/* Each refill with drained pages to account for lifts high by a batch of
 * them, within PCP_HIGH_MAX and the budget shared by all threads (the
 * zone's high watermark less its resident free pages and every raise),
 * not while the zone grows; pcp_decay brings it down by an eighth of the
 * raise; pcp_drain(pcp, 0), thread exit and fork give raises back. */
static void test_adaptive_high(struct heap *heap)
{
	struct per_cpu_pages *pcp = &heap->pcp;
	pcp_drain(pcp, 0);
	long raised0 = pcp_raised_pages();
	int min = pcp->high_min;
	if (2 * min > CYCLE || zone.watermark_high < 4 * CYCLE) {
		printf("      adaptive high not tested: pcp_high %d, high watermark %lu pages\n", min,
		       zone.watermark_high);
		return;
	}
	CHECKF("adapt-starts-at-min", pcp->high == min && pcp->drained == 0 && raised0 == 0,
	       "high %d min %d raised %ld", pcp->high, min, raised0);

	/* the zone just grew: no raise for a while. The cycle leaves pages
	 * on the list; take them all and one more, which refills. */
	growth_now();
	REQUIRE("adapt-cycle-growing", cycle(heap, CYCLE));
	int drained = pcp->drained;
	CHECKF("adapt-drains-counted", drained >= pcp->batch, "drained %d", drained);
	REQUIRE("adapt-refill-fits", (int)list_len(&pcp->lists[0]) + 1 <= CYCLE);
	int n = take_through_refill(heap);
	REQUIRE("adapt-refill-alloc", n > 0);
	CHECKF("adapt-no-raise-while-growing", pcp->high == min && pcp_raised_pages() == raised0 &&
	       pcp->drained == drained, "high %d raised %ld drained %d -> %d", pcp->high,
	       pcp_raised_pages() - raised0, drained, pcp->drained);
	/* the same refill with the growth long past raises by one batch */
	give_back(heap, n);
	growth_past();
	drained = pcp->drained;
	n = take_through_refill(heap);
	REQUIRE("adapt-refill-alloc-2", n > 0);
	CHECKF("adapt-refill-raises-a-batch", pcp->high == min + pcp->batch &&
	       pcp_raised_pages() - raised0 == pcp->batch && pcp->drained == drained - pcp->batch,
	       "high %d raised %ld drained %d -> %d", pcp->high, pcp_raised_pages() - raised0,
	       drained, pcp->drained);
	give_back(heap, n);

	/* a cycle that drains does not raise by the pages it drained but by a
	 * batch a refill; cycles of the same size settle in the cache */
	pcp_drain(pcp, 0);
	growth_past();
	REQUIRE("adapt-cycle-1", cycle(heap, CYCLE));
	drained = pcp->drained;
	CHECKF("adapt-frees-alone-raise-nothing", pcp->high == min && drained > 0, "high %d", pcp->high);
	CHECKF("adapt-cycles-settle", cycles_until_settled(heap, CYCLE, 8) && pcp->high >= CYCLE - pcp->batch &&
	       pcp->high <= CYCLE + 4 * pcp->batch && pcp_raised_pages() - raised0 == pcp->high - min,
	       "high %d raised %ld", pcp->high, pcp_raised_pages() - raised0);

	/* the pcp report says how much is raised */
	FILE *f = tmpfile();
	REQUIRE("adapt-report-file", f != NULL);
	report_write(fileno(f), BUDDYSLAB_REPORT_PCP);
	char text[8192] = "", want_line[128];
	rewind(f);
	size_t got = fread(text, 1, sizeof(text) - 1, f);
	text[got] = '\0';
	fclose(f);
	snprintf(want_line, sizeof(want_line), "raised above pcp_high: %ld pages in all",
		 pcp_raised_pages());
	CHECKF("adapt-report", strstr(text, want_line) != NULL, "no \"%s\" in:\n%s", want_line, text);

	/* decay: an eighth of the raise (at least a batch) each time, down to
	 * high_min, draining to the new high; the budget follows */
	int before = pcp->high;
	pcp->decay_ms = 0;
	pcp_decay(pcp);
	int cut = (before - min) / 8 > pcp->batch ? (before - min) / 8 : pcp->batch;
	CHECKF("adapt-decay-eighth", pcp->high == before - cut && pcp->count <= pcp->high &&
	       pcp_raised_pages() - raised0 == pcp->high - min && lists_ok(pcp),
	       "high %d -> %d count %d", before, pcp->high, pcp->count);
	before = pcp->high;
	pcp_decay(pcp);
	CHECK("adapt-decay-waits", pcp->high == before);
	/* a raise under a batch goes whole */
	pcp_set_high(pcp, min + pcp->batch / 2);
	pcp->decay_ms = 0;
	pcp_decay(pcp);
	CHECKF("adapt-decay-to-min", pcp->high == min && pcp_raised_pages() == raised0 &&
	       lists_ok(pcp), "high %d", pcp->high);

	/* the budget: the zone's high watermark less its resident free pages
	 * and the raises, at the refill (whose pages then leave the zone) */
	unsigned long wmark = zone.watermark_high;
	pcp_drain(pcp, 0);
	REQUIRE("adapt-cycle-5", cycle(heap, CYCLE));
	zone.watermark_high = zone_dirty_pages() + (unsigned long)raised0 + 5;
	growth_past();
	n = take_through_refill(heap);
	REQUIRE("adapt-budget-alloc", n > 0);
	CHECKF("adapt-budget", pcp->high == min + 5 && pcp_raised_pages() - raised0 == 5,
	       "high %d", pcp->high);
	give_back(heap, n);
	/* and PCP_HIGH_MAX, whatever the budget */
	pcp_drain(pcp, 0);
	zone.watermark_high = 1UL << 30;
	growth_past();
	REQUIRE("adapt-big-cycle", cycle(heap, BIG_CYCLE));
	cycles_until_settled(heap, BIG_CYCLE, 3);
	CHECKF("adapt-high-max", pcp->high == PCP_HIGH_MAX && lists_ok(pcp), "high %d", pcp->high);
	/* a refill while the zone grows gives the raise back at once */
	growth_now();
	n = take_through_refill(heap);
	REQUIRE("adapt-growing-alloc", n > 0);
	CHECKF("adapt-growing-gives-back", pcp->high == min && pcp_raised_pages() == raised0 &&
	       pcp->count <= min + pcp->batch && pcp->drained == 0 && lists_ok(pcp),
	       "high %d count %d raised %ld", pcp->high, pcp->count, pcp_raised_pages() - raised0);
	give_back(heap, n);
	zone.watermark_high = wmark;
	pcp_drain(pcp, 0);
	zone_purge(0, false, 0); /* its pages resident in the zone would leave no budget */

	/* pcp_drain(pcp, 0) gives the raise back at once */
	pcp_drain(pcp, 0);
	CHECKF("adapt-drain-resets", pcp->high == min && pcp_raised_pages() == raised0 &&
	       pcp->count == 0 && pcp->drained == 0, "high %d raised %ld", pcp->high,
	       pcp_raised_pages() - raised0);

	/* so does a thread's exit */
	int thread_high = 0;
	pthread_t t;
	REQUIRE("adapt-thread", pthread_create(&t, NULL, raise_thread, &thread_high) == 0);
	pthread_join(t, NULL);
	CHECKF("adapt-thread-raised", thread_high > min, "high %d", thread_high);
	CHECKF("adapt-thread-exit-gives-back", pcp_raised_pages() == raised0, "raised %ld",
	       pcp_raised_pages() - raised0);

	/* in a fork child, only the forking thread's raise counts (the other
	 * threads' heaps are dead there) */
	thread_high = 0;
	growth_past();
	REQUIRE("adapt-fork-raise", cycle(heap, CYCLE) && cycle(heap, CYCLE) && pcp->high > min);
	long own = pcp->high - min;
	pthread_barrier_init(&raised_barrier, NULL, 2);
	REQUIRE("adapt-fork-thread", pthread_create(&t, NULL, raise_thread_waits, &thread_high) == 0);
	pthread_barrier_wait(&raised_barrier);
	long raised_parent = pcp_raised_pages();
	pid_t child = fork();
	if (child == 0)
		_exit(pcp_raised_pages() == own ? 0 : 1);
	int status = -1;
	waitpid(child, &status, 0);
	pthread_barrier_wait(&raised_barrier);
	pthread_join(t, NULL);
	pthread_barrier_destroy(&raised_barrier);
	CHECKF("adapt-fork-child-budget", thread_high > min && raised_parent > own &&
	       WIFEXITED(status) && WEXITSTATUS(status) == 0, "thread high %d raised %ld own %ld status %#x",
	       thread_high, raised_parent, own, status);
	CHECK("adapt-fork-parent-budget", pcp_raised_pages() == own);
	pcp_drain(pcp, 0);
	CHECK("adapt-zone-valid", zone_is_valid() && pcp_raised_pages() == 0);
}

/*
 * With more live threads than the zone's high watermark holds caches of
 * pcp_high, each cache's high_min is an equal share of it (pcp_share),
 * taken at the owner's next refill or drain, the cache trimmed to it; and
 * back to pcp_high when the threads are gone. (128 idle threads kept 96
 * pages each.) The count of live heaps is set by hand here.
 */
static void test_share(struct heap *heap)
{
	struct per_cpu_pages *pcp = &heap->pcp;
	enum { N = 200 };
	static struct page *pages[N];
	pcp_drain(pcp, 0);
	int was = pcp->high_min;
	for (int i = 0; i < N; i++) {
		pages[i] = pcp_alloc(heap, 0, 0);
		REQUIRE("share-alloc", pages[i] != NULL);
	}
	for (int i = 0; i < N / 2; i++)
		pcp_free(heap, pages[i], 0);
	CHECKF("share-full-before", pcp->count > 64, "count %d", pcp->count);
	unsigned long live = atomic_load(&nr_active_heaps);
	atomic_store(&nr_active_heaps, 128);
	int want = (int)(zone.watermark_high / 128);
	if (want < pcp->batch)
		want = pcp->batch;
	for (int i = N / 2; i < N; i++)
		pcp_free(heap, pages[i], 0); /* drains: the share is taken */
	CHECKF("share-taken", pcp->high_min == want && pcp->count <= pcp->high && lists_ok(pcp) &&
				      pcp_is_valid(pcp),
	       "high_min %d (want %d), high %d, count %d", pcp->high_min, want, pcp->high, pcp->count);
	atomic_store(&nr_active_heaps, live);
	pcp_drain(pcp, 0);
	struct page *p = pcp_alloc(heap, 0, 0); /* a refill: the share is pcp_high again */
	REQUIRE("share-alloc-again", p != NULL);
	CHECKF("share-given-back", pcp->high_min == was && pcp_is_valid(pcp), "high_min %d (want %d)",
	       pcp->high_min, was);
	pcp_free(heap, p, 0);
	pcp_drain(pcp, 0);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	buddyslab_init();
	struct heap *heap = heap_get();
	REQUIRE("heap", heap != NULL && heap_current() == heap);
	CHECK("heap-active", atomic_load(&heap->state) == HEAP_ACTIVE);
	struct per_cpu_pages *pcp = &heap->pcp;
	CHECK("pcp-initially-empty", pcp->count == 0 && lists_ok(pcp));
	CHECK("pcp-params", pcp->batch > 0 && pcp->batch <= pcp->high);
	if (!getenv("BUDDYSLAB_OPTIONS"))
		CHECKF("pcp-defaults", pcp->high == 96 && pcp->batch == 16, "high %d batch %d",
		       pcp->high, pcp->batch);

	test_refill(heap);
	test_drain_high(heap);
	test_alloc_pages_node(heap);
	test_refills_in_a_row(heap);
	test_clean_through_pcp(heap);
	test_adaptive_high(heap);
	test_share(heap);
	test_thread_exit(heap);

	CHECK("final-zone-valid", zone_is_valid());
	return UNIT_DONE();
}
