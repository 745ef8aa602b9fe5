/*
 * pcp.c - per-thread page caches, the kernel's per_cpu_pages brought to
 * threads: blocks of orders 0..PCP_MAX_ORDER are allocated and freed from a
 * list that only the owning thread touches, with no lock and no atomic.
 *
 *   pcp_alloc: list empty -> rmqueue_bulk: `batch` pages worth of blocks from
 *              the zone under one lock hold.
 *   pcp_free:  count > high -> free_pcppages_bulk: `batch` pages back to the
 *              zone under one lock hold, coldest (tail) blocks first.
 *
 * Invariants (pcp_is_valid): count == sum of 2^order over all listed blocks;
 * every listed block is PAGE_PCP of its list's order, with PG_clean if it
 * was never used since the zone purged it; count <= high after every
 * pcp_free, and count <= high + batch always (a refill of an empty list may
 * overshoot high by one batch until the next free drains it; past high +
 * batch, pcp_alloc drains to high); high_min <= high <= the larger of
 * high_min and PCP_HIGH_MAX. pcp_raised == the sum of high - high_min over
 * the heaps of live threads (pooled heaps are at high_min). Everything goes
 * back to the zone when the thread exits (pcp_drain from thread.c).
 *
 * Defaults: high_min 96 pages (384 KiB) and batch 16 pages per thread: a
 * slab refill of order 3 costs one lock hold in two, and the cache of a
 * thread that does not cycle more pages than that stays under half a
 * megabyte.
 *
 * Adaptive high (the kernel's auto-tuned pcp->high, 6.7, in spirit): a
 * thread whose cache drains and then refills cycles more pages than high,
 * each of them through the zone and back -- merged with its buddies on
 * the way in, split off again on the way out, about 290 instructions a
 * page (callgrind of batches of 10,000 blocks of 1 KiB, 2,500 one-page
 * slabs made and given back each time). So each refill raises high by a
 * batch (pcp_raise), as the kernel's does, as long as there are pages
 * drained since the last decay to account for (->drained, spent by the
 * raises): a thread that only frees, and refills once in a while, earns a
 * batch per refill, not the pages it gave away. Up to PCP_HIGH_MAX, out of
 * a budget that all threads share: the pages raised, all threads
 * together, plus the zone's resident free pages stay under the zone's
 * high watermark, so the pages a raise keeps are, roughly, pages that
 * would have sat resident in the zone anyway; and not within
 * PCP_DECAY_MS of the zone mapping a chunk (a growing program needs its
 * free pages in the zone, where every thread and order can use them:
 * raises while frag grew cost it 10 MiB of peak RSS), when a refill gives
 * a raise back instead (pcp_adapt). pcp_decay, from the
 * owner's slow paths (refills, drains, heap_bin_gc's round), lowers a
 * raised high by an eighth of the raise (at least a batch) every
 * PCP_DECAY_MS and drains down to it, as the kernel's decay_pcp_high does
 * each second; pcp_drain(pcp, 0) (thread exit, malloc_trim, reclaim)
 * lowers it to high_min at once. An idle thread keeps its raise: all of
 * them together hold at most the budget.
 */
#include "internal.h"

/* pages of high above high_min, all threads together (pcp_raise) */
static _Atomic long pcp_raised;

long pcp_raised_pages(void)
{
	return atomic_load_explicit(&pcp_raised, memory_order_relaxed);
}

/* pcp_fork_child - in a fork child, only the forking thread's heap (@self,
 * or none) is alive: the raises of the others, which keep their pages in
 * the child, no longer count. (Pooled heaps were drained, raise and all.) */
void pcp_fork_child(struct heap *self)
{
	atomic_store_explicit(&pcp_raised, self ? self->pcp.high - self->pcp.high_min : 0,
			      memory_order_relaxed);
}

/*
 * pcp_share - a cache's high_min now: pcp_high, unless the live threads'
 * caches at that would hold more than the zone's high watermark together;
 * then an equal share of it, at least a batch (the kernel divides its pcp
 * high among the CPUs that share a zone: zone_highsize). An idle thread
 * keeps its cache (only its owner touches it): a pool of 128 threads that
 * used 64-128 KiB buffers and went idle kept 38 MiB, 96 pages each, where
 * glibc kept 9 and jemalloc 11 (a subagent's test, 2026-11-28). Up to 42
 * live threads under the defaults, nothing changes.
 */
static int pcp_share(const struct per_cpu_pages *pcp)
{
	int high = options.pcp_high;
	unsigned long budget = READ_ONCE(zone.watermark_high);
	unsigned long live = atomic_load_explicit(&nr_active_heaps, memory_order_relaxed);
	if (budget && live > 1 && (unsigned long)high * live > budget) {
		unsigned long share = budget / live;
		high = share < (unsigned long)pcp->batch ? pcp->batch : (int)share;
	}
	return high;
}

static void pcp_trim(struct per_cpu_pages *pcp, int keep);

/* pcp_rescale - high_min to the current share (pcp_share), the raise kept
 * (the shared budget is unchanged) as far as PCP_HIGH_MAX, the cache
 * trimmed to the new high. From the owner's refills and drains. */
static void pcp_rescale(struct per_cpu_pages *pcp)
{
	int share = pcp_share(pcp);
	if (likely(share == pcp->high_min))
		return;
	int raise = pcp->high - pcp->high_min, room = PCP_HIGH_MAX - share;
	if (raise > room) { /* high stays within PCP_HIGH_MAX (a review's finding) */
		long cut = raise - (room > 0 ? room : 0);
		atomic_fetch_sub_explicit(&pcp_raised, cut, memory_order_relaxed);
		raise -= (int)cut;
	}
	pcp->high_min = share;
	WRITE_ONCE(pcp->high, share + raise);
	pcp_trim(pcp, pcp->high);
}

void pcp_init(struct per_cpu_pages *pcp)
{
	pcp->count = 0;
	pcp->batch = options.pcp_batch; /* at most pcp_high (options_init) */
	pcp->high_min = pcp_share(pcp);
	pcp->high = pcp->high_min;
	pcp->drain_rr = 0;
	pcp->drained = 0;
	pcp->decay_ms = 0;
	for (int k = 0; k < NR_PCP_LISTS; k++)
		INIT_LIST_HEAD(&pcp->lists[k]);
}

static void free_pcppages_bulk(struct per_cpu_pages *pcp, int count);

/* pcp_set_high - @high for @pcp, and the shared budget moved by as much. */
void pcp_set_high(struct per_cpu_pages *pcp, int high)
{
	atomic_fetch_add_explicit(&pcp_raised, high - pcp->high, memory_order_relaxed);
	WRITE_ONCE(pcp->high, high);
}

/* pcp_raise - a refill with drained pages to account for (see the top of
 * the file): lift high by a batch of them, as far as PCP_HIGH_MAX and the
 * shared budget allow. */
static void pcp_raise(struct per_cpu_pages *pcp, uint64_t now)
{
	long want = pcp->drained < pcp->batch ? pcp->drained : pcp->batch;
	if (want > PCP_HIGH_MAX - pcp->high)
		want = PCP_HIGH_MAX - pcp->high;
	long raised = atomic_load_explicit(&pcp_raised, memory_order_relaxed);
	long room;
	do {
		room = (long)zone.watermark_high - (long)zone_dirty_pages() - raised;
		if (want > room)
			want = room;
		if (want <= 0)
			return;
	} while (!atomic_compare_exchange_weak_explicit(&pcp_raised, &raised, raised + want,
							memory_order_relaxed, memory_order_relaxed));
	if (pcp->high == pcp->high_min)
		pcp->decay_ms = now;
	pcp->drained -= (int)want;
	WRITE_ONCE(pcp->high, pcp->high + (int)want);
}

/* pcp_trim - give back the oldest pages over @keep (pcp_drain's, and
 * pcp_lower's to the new high) */
static void pcp_trim(struct per_cpu_pages *pcp, int keep)
{
	if (pcp->count > keep)
		free_pcppages_bulk(pcp, pcp->count - keep);
}

/* pcp_lower - high down to @high (the budget follows), the cache drained
 * to it; raises start again from drains after this (pcp_decay, and
 * pcp_unraise: to high_min). */
static void pcp_lower(struct per_cpu_pages *pcp, int high)
{
	pcp_set_high(pcp, high);
	pcp_trim(pcp, pcp->high);
	pcp->drained = 0;
}

static void pcp_unraise(struct per_cpu_pages *pcp)
{
	pcp_lower(pcp, pcp->high_min);
}

/* pcp_decay - from the owner's slow paths: every PCP_DECAY_MS, a raised
 * high comes down by an eighth of its raise (at least a batch), and the
 * cache drains to it. pcp_decay_at - the same with the clock read. */
static void pcp_decay_at(struct per_cpu_pages *pcp, uint64_t now)
{
	if (pcp->high == pcp->high_min)
		return;
	if (now - pcp->decay_ms < PCP_DECAY_MS && pcp->decay_ms <= now)
		return;
	pcp->decay_ms = now;
	int raise = pcp->high - pcp->high_min, cut = raise / 8;
	if (cut < pcp->batch)
		cut = raise < pcp->batch ? raise : pcp->batch;
	pcp_lower(pcp, pcp->high - cut);
}

void pcp_decay(struct per_cpu_pages *pcp)
{
	if (pcp->high != pcp->high_min)
		pcp_decay_at(pcp, zone_clock_ms());
}

/* pcp_adapt - at a refill of a cache that drained or is raised: while the
 * zone grows (it mapped a chunk within PCP_DECAY_MS), a raise goes back
 * at once, its pages to the zone, where every thread and order can use
 * them (`git repack`'s peak RSS: 1.2 of the 1.9 MiB the raises had added);
 * otherwise drained pages earn a raise, and a raise decays. */
static noinline void pcp_adapt(struct per_cpu_pages *pcp)
{
	uint64_t now = zone_clock_ms();
	uint64_t grown = READ_ONCE(zone.grow_ms);
	if (grown > now || now - grown < PCP_DECAY_MS) {
		if (pcp->high != pcp->high_min)
			pcp_unraise(pcp);
		return;
	}
	if (pcp->drained)
		pcp_raise(pcp, now);
	pcp_decay_at(pcp, now);
}

/* pcp_refill - the list of @order is empty: the share and the raise
 * looked at, a batch of blocks from the zone, the first one taken. Out of
 * line: inside pcp_alloc, its calls cost every call a register saved and
 * restored (objdump: five pushes where there were four; two now). */
static noinline struct page *pcp_refill(struct heap *heap, unsigned int order, gfp_t gfp)
{
	struct per_cpu_pages *pcp = &heap->pcp;
	pcp_rescale(pcp);
	if (pcp->drained || pcp->high != pcp->high_min)
		pcp_adapt(pcp);
	int blocks = pcp->batch >> order;
	if (blocks < 1)
		blocks = 1;
	int n = rmqueue_bulk(order, blocks, &pcp->lists[order], gfp, heap);
	if (n == 0)
		return NULL;
	WRITE_ONCE(pcp->count, pcp->count + (n << order));
	return pcp_take_first(pcp, order);
}

/* pcp_alloc - a block of @order (<= PCP_MAX_ORDER) from the thread's cache,
 * refilled from the zone when empty. NULL (ENOMEM) when the zone fails. */
struct page *pcp_alloc(struct heap *heap, unsigned int order, gfp_t gfp)
{
	struct per_cpu_pages *pcp = &heap->pcp;
	struct page *page = pcp_take(pcp, order);

	if (unlikely(!page)) {
		page = pcp_refill(heap, order, gfp);
		if (!page)
			return NULL;
	}
	WRITE_ONCE(page->type, PAGE_PAGES);
	page->order = (uint8_t)order;
	page->flags &= PG_clean; /* as the zone's: never used since purged */
	/* refills of several orders in a row, with no free between them to
	 * drain, would add up past high + batch */
	if (unlikely(pcp->count > pcp->high + pcp->batch))
		free_pcppages_bulk(pcp, pcp->count - pcp->high);
	return page;
}

/*
 * free_pcppages_bulk - give @count pages back to the zone under one lock
 * hold, coldest (tail) blocks first, from the lists in turn: each turn
 * takes as many blocks from the next non-empty list as lists it looked
 * at, so that lists are drained evenly without a lap over the empty ones
 * for every block (the kernel's batch_free); the only non-empty list
 * gives all of them. Leaves the round-robin position for next time.
 */
static void free_pcppages_bulk(struct per_cpu_pages *pcp, int count)
{
	bool over;
	zone_lock();
	while (count > 0 && pcp->count > 0) {
		struct list_head *list;
		int looked = 0;
		do {
			list = &pcp->lists[pcp->drain_rr];
			if (++pcp->drain_rr == NR_PCP_LISTS)
				pcp->drain_rr = 0;
			looked++;
		} while (list_empty(list));
		if (looked == NR_PCP_LISTS)
			looked = count;
		do {
			struct page *page = list_last_entry(list, struct page, lru);
			unsigned int order = page->order;
			list_del(&page->lru);
			WRITE_ONCE(pcp->count, pcp->count - (1 << order));
			count -= 1 << order;
			page->flags &= PG_clean;
			__free_one_page(page, order);
		} while (count > 0 && --looked > 0 && !list_empty(list));
	}
	over = zone_should_purge();
	zone_unlock();
	if (over)
		zone_maybe_purge();
}

/* pcp_free_drain - pcp_free took the cache to @count pages, over high:
 * drain to a batch below it, count the pages for a raise, decay. Out of
 * line, and tail-called: with its two calls inside pcp_free, pcp_free
 * saved registers on every free (a page block's pair 153 -> 158
 * instructions, bench/fastpath.txt). */
static noinline void pcp_free_drain(struct per_cpu_pages *pcp, int count)
{
	if (pcp->drained < PCP_HIGH_MAX) /* no raise needs more */
		pcp->drained += count - pcp->high + pcp->batch;
	free_pcppages_bulk(pcp, count - pcp->high + pcp->batch);
	pcp_decay(pcp);
	pcp_rescale(pcp);
	DEBUG_CHECK(pcp_is_valid(pcp), "pcp after drain", pcp);
}

/* pcp_free - put a block back in the thread's cache; drain a batch to the
 * zone when the cache is over its high mark. */
void pcp_free(struct heap *heap, struct page *page, unsigned int order)
{
	struct per_cpu_pages *pcp = &heap->pcp;
	WRITE_ONCE(page->type, PAGE_PCP);
	page->order = (uint8_t)order;
	page->flags = 0;
	page->head = NULL;
	WRITE_ONCE(page->pcp_owner, heap);
	list_add(&page->lru, &pcp->lists[order]);
	int count = pcp->count + (1 << order);
	WRITE_ONCE(pcp->count, count);
	if (unlikely(count > pcp->high))
		pcp_free_drain(pcp, count);
}

/* pcp_drain - give back all but @keep pages; with @keep 0, everything,
 * and high back to high_min. */
void pcp_drain(struct per_cpu_pages *pcp, int keep)
{
	pcp_trim(pcp, keep);
	if (keep == 0)
		pcp_unraise(pcp);
}

bool pcp_is_valid(struct per_cpu_pages *pcp)
{
	int count = 0;
	for (unsigned int k = 0; k < NR_PCP_LISTS; k++) {
		struct list_head *pos;
		list_for_each(pos, &pcp->lists[k]) {
			struct page *page = list_entry(pos, struct page, lru);
			if (page->type != PAGE_PCP || page->order != k)
				return false;
			count += 1 << k;
		}
	}
	int high_max = pcp->high_min > PCP_HIGH_MAX ? pcp->high_min : PCP_HIGH_MAX;
	return count == pcp->count && count <= pcp->high + pcp->batch &&
	       pcp->high >= pcp->high_min && pcp->high <= high_max;
}

/* alloc_pages_node - the page allocator entry for the layers above: the
 * thread's cache for small orders, the zone for the rest (and for threads
 * that have no heap yet). */
struct page *alloc_pages_node(gfp_t gfp, unsigned int order)
{
	struct heap *heap = heap_current();
	if (likely(heap != NULL && order <= PCP_MAX_ORDER))
		return pcp_alloc(heap, order, gfp);
	return __alloc_pages_zone(gfp, order);
}

void free_pages_node(struct page *page, unsigned int order)
{
	struct heap *heap = heap_current();
	if (likely(heap != NULL && order <= PCP_MAX_ORDER &&
		   atomic_load_explicit(&heap->state, memory_order_relaxed) == HEAP_ACTIVE))
		pcp_free(heap, page, order);
	else
		__free_pages_zone(page, order);
}
