/*
 * page_alloc.c - the buddy allocator: one zone of 4 KiB pages, grown one
 * max-order chunk (4 MiB, aligned to 4 MiB) at a time from the OS.
 *
 * The buddy system (Knowlton 1965, as in the kernel's mm/page_alloc.c): a free
 * block of order k is 2^k pages starting at a page index that is a multiple
 * of 2^k. Its buddy is the block of the same order at index i ^ (1 << k);
 * together they form the block of order k+1 at index i & ~(1 << k). Freeing a
 * block merges it with its buddy while the buddy is free and of the same
 * order (__free_one_page); allocating takes the smallest free block that is
 * large enough and gives the unused halves back (expand).
 *
 * Entry points: __alloc_pages_zone, __free_pages_zone (take the zone lock),
 * rmqueue_bulk (pcp refill), __free_one_page (caller holds it), zone_purge,
 * zone_reclaim, zone_is_valid.
 *
 * Free memory goes back to the OS when a free takes resident free memory
 * above the high watermark (zone_maybe_purge) and when the zone is about to
 * map a chunk while resident free blocks sit too small to serve
 * (zone_purge_before_growth): both points where it would add to the RSS.
 *
 * Lock order: report_lock -> shm_lock -> heap_lock -> cache_lock ->
 * vm_cache_lock -> zone_purge_lock -> zone->lock -> pagemap_lock.
 * zone->lock is never held across a system call except munmap of a chunk
 * already taken out of the zone.
 *
 * Hot blocks (zone->hot): the zone keeps the last block freed of each of
 * the orders HOT_MIN_ORDER..HOT_MAX_ORDER (malloc's whole blocks of 256
 * KiB-1 MiB, above the page caches' orders) whole and off the free lists,
 * and hands it out first: a program that frees and allocates such a block
 * in turn no longer has it merged up to the chunk and split back down each
 * time (the merges and splits undo each other; a lazy buddy system's
 * deferred coalescing, one block deep). A new free of the order puts the
 * older one on the lists; a zone about to grow, and a purge to fewer
 * resident free pages than they hold (malloc_trim's, reclaim's), put them
 * all there first. They count as resident free memory for the watermarks
 * (zone_dirty_pages), and a purge takes other blocks first. The tiles of a
 * trimmed tail go to the lists, not to the hot slots.
 *
 * Invariants (zone_is_valid checks all of them):
 *  - every block on free_area[k] is PAGE_BUDDY, order k, at an index that is
 *    a multiple of 2^k, and not PG_isolated; nr_free[k] == list length;
 *  - no two free buddies of the same order are both on lists (they merge);
 *  - nr_free_pages == sum of 2^k * nr_free[k] (isolated blocks, being
 *    purged or hot, are counted in neither);
 *  - nr_dirty_free == the same sum over blocks without PG_clean;
 *  - hot[i] is NULL or a PAGE_BUDDY, PG_isolated block of order
 *    HOT_MIN_ORDER + i at an index that is a multiple of its size;
 *    nr_hot_pages is their size, nr_hot_dirty that of those without
 *    PG_clean.
 */
#include <errno.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

struct zone zone = {
	.lock = 0,
};
static bool zone_ready;

/* Watermarks in pages of resident free memory: high and low from the
 * options (DEFAULT_WMARK_HIGH_MB and _LOW_MB, internal.h, say why 16 and
 * 4 MiB); min, below which the zone's growth purges first: */
#define DEFAULT_WMARK_MIN   (256UL << 10 >> PAGE_SHIFT)

/* zone_clock_ms - a coarse monotonic clock (vDSO, no system call). */
uint64_t zone_clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void zone_init_locked(void)
{
	if (zone_ready)
		return;
	for (unsigned int k = 0; k < MAX_ORDER; k++) {
		INIT_LIST_HEAD(&zone.free_area[k].free_list);
		INIT_LIST_HEAD(&zone.free_area[k].clean_list);
		zone.free_area[k].nr_free = 0;
	}
	zone.purge_ms = (unsigned long)options.purge_ms; /* 0: at once */
	INIT_LIST_HEAD(&zone.chunks);
	if (!zone.watermark_high) {
		zone.watermark_high = (unsigned long)options.wmark_high_mb << (20 - PAGE_SHIFT);
		/* low at most high (options_init) */
		zone.watermark_low = (unsigned long)options.wmark_low_mb << (20 - PAGE_SHIFT);
		zone.watermark_min = DEFAULT_WMARK_MIN;
	}
	zone_ready = true;
}

void zone_init_watermarks(void)
{
	zone_lock();
	zone_init_locked();
	zone_unlock();
}

static inline unsigned long page_index(struct chunk *c, struct page *page)
{
	return (unsigned long)(page - c->mem_map);
}

/* Free-list bookkeeping: dirty blocks at the head of free_list, stamped
 * with the time they were freed; clean ones on clean_list. */
static void add_to_free_list(struct page *page, unsigned int order, uint64_t stamp)
{
	struct free_area *area = &zone.free_area[order];
	WRITE_ONCE(page->type, PAGE_BUDDY);
	page->order = (uint8_t)order;
	page->head = NULL;
	page->free_stamp = stamp;
	if (page->flags & PG_clean) {
		list_add(&page->lru, &area->clean_list);
	} else {
		list_add(&page->lru, &area->free_list);
		WRITE_ONCE(zone.nr_dirty_free, zone.nr_dirty_free + (1UL << order));
	}
	area->nr_free++;
	zone.nr_free_pages += 1UL << order;
}

static void del_from_free_list(struct page *page, unsigned int order)
{
	list_del(&page->lru);
	zone.free_area[order].nr_free--;
	zone.nr_free_pages -= 1UL << order;
	if (!(page->flags & PG_clean))
		WRITE_ONCE(zone.nr_dirty_free, zone.nr_dirty_free - (1UL << order));
}

/* page_is_buddy - may @buddy merge with a block of @order? As in the kernel:
 * (a) it is the head of a free block, (b) on a free list, not isolated,
 * (c) of the same order. (d) same zone holds trivially: same chunk. */
static inline bool page_is_buddy(struct page *buddy, unsigned int order)
{
	return READ_ONCE(buddy->type) == PAGE_BUDDY && !(buddy->flags & PG_isolated) &&
	       buddy->order == order;
}

/*
 * free_one_page_listed - __free_one_page without counting the block in
 * recent_freed (it was counted when it was freed, into a hot slot). A
 * dirty block is stamped now: free_list stays ordered by age, newest at
 * its head, where zone_purge's walk from the tail relies on it.
 */
static void free_one_page_listed(struct page *page, unsigned int order)
{
	struct chunk *c = page_chunk(page);
	unsigned long idx = page_index(c, page);
	uint8_t clean = page->flags & PG_clean;
	uint64_t stamp = clean ? 0 : zone_clock_ms();

	while (order < MAX_ORDER - 1) {
		unsigned long buddy_idx = idx ^ (1UL << order);
		struct page *buddy = &c->mem_map[buddy_idx];
		if (!page_is_buddy(buddy, order))
			break;
		del_from_free_list(buddy, order);
		clean &= buddy->flags & PG_clean;
		if (!(buddy->flags & PG_clean) && buddy->free_stamp > stamp)
			stamp = buddy->free_stamp; /* the merged block is as young as its youngest part */
		/* whichever head is not the merged block's becomes interior */
		WRITE_ONCE(buddy->type, PAGE_NONE);
		buddy->flags = 0;
		WRITE_ONCE(c->mem_map[idx].type, PAGE_NONE);
		c->mem_map[idx].flags = 0;
		idx &= buddy_idx;
		order++;
	}
	page = &c->mem_map[idx];
	page->flags = clean;
	add_to_free_list(page, order, stamp);
}

/*
 * __free_one_page - give a block of 2^order pages back to the zone, merging
 * it with its buddy as long as the buddy is free and whole. The merged
 * block is clean only if both halves were. Caller holds zone->lock; @page's
 * PG_clean says whether its own contents are already given back.
 */
void __free_one_page(struct page *page, unsigned int order)
{
	if (!(page->flags & PG_clean))
		WRITE_ONCE(zone.recent_freed, zone.recent_freed + (1UL << order));
	free_one_page_listed(page, order);
}

/* is_hot_order - does the zone keep a hot block of @order? */
static inline bool is_hot_order(unsigned int order)
{
	return order >= HOT_MIN_ORDER && order <= HOT_MAX_ORDER;
}

/* hot_unslot - the hot block of @order out of its slot, PG_isolated
 * cleared; NULL if there is none (zone lock held). */
static struct page *hot_unslot(unsigned int order)
{
	struct page **slot = &zone.hot[order - HOT_MIN_ORDER];
	struct page *page = *slot;
	if (!page)
		return NULL;
	*slot = NULL;
	zone.nr_hot_pages -= 1UL << order;
	if (!(page->flags & PG_clean))
		WRITE_ONCE(zone.nr_hot_dirty, zone.nr_hot_dirty - (1UL << order));
	page->flags &= PG_clean;
	return page;
}

/* hot_park - freed @page of hot @order into its slot (zone lock held); the
 * block it displaces goes on the free lists. */
static void hot_park(struct page *page, unsigned int order)
{
	struct page *old = hot_unslot(order);
	if (unlikely(old == page)) {
		/* two threads freed the block at once: both found it live */
		zone_unlock();
		bs_fatal("free", "double free detected", (void *)page_address(page));
	}
	if (!(page->flags & PG_clean)) {
		WRITE_ONCE(zone.recent_freed, zone.recent_freed + (1UL << order));
		WRITE_ONCE(zone.nr_hot_dirty, zone.nr_hot_dirty + (1UL << order));
	}
	WRITE_ONCE(page->type, PAGE_BUDDY);
	page->order = (uint8_t)order;
	page->flags |= PG_isolated; /* no merge with it */
	zone.hot[order - HOT_MIN_ORDER] = page;
	zone.nr_hot_pages += 1UL << order;
	if (old)
		free_one_page_listed(old, order);
}

/* hot_take - the hot block of @order for an allocation, or NULL (zone lock
 * held). */
static struct page *hot_take(unsigned int order)
{
	struct page *page = hot_unslot(order);
	if (!page)
		return NULL;
	if (!(page->flags & PG_clean))
		WRITE_ONCE(zone.recent_reused, zone.recent_reused + (1UL << order));
	WRITE_ONCE(page->type, PAGE_PAGES);
	return page;
}

/* hot_flush - every hot block onto the free lists (zone lock held), where
 * it merges. */
static void hot_flush(void)
{
	for (unsigned int order = HOT_MIN_ORDER; order <= HOT_MAX_ORDER; order++) {
		struct page *page = hot_unslot(order);
		if (page)
			free_one_page_listed(page, order);
	}
}

/* zone_flush_hot - hot_flush under the zone lock (for tests: the buddy
 * lists as if no block were hot). */
void zone_flush_hot(void)
{
	zone_lock();
	hot_flush();
	zone_unlock();
}

/*
 * expand - split a block of order @high at @page down to order @low: the
 * upper halves go back on the free lists, the lower 2^low pages are the
 * caller's. Halves inherit PG_clean.
 */
static void expand(struct page *page, unsigned int low, unsigned int high)
{
	uint8_t clean = page->flags & PG_clean;
	uint64_t stamp = page->free_stamp;
	unsigned long size = 1UL << high;

	while (high > low) {
		high--;
		size >>= 1;
		struct page *half = &page[size];
		half->flags = clean;
		add_to_free_list(half, high, stamp);
	}
}

/* __rmqueue_smallest - take the smallest free block of order >= @order and
 * split it. Caller holds zone->lock. NULL if the zone has nothing to give. */
static struct page *__rmqueue_smallest(unsigned int order)
{
	for (unsigned int current = order; current < MAX_ORDER; current++) {
		struct free_area *area = &zone.free_area[current];
		struct list_head *list = &area->free_list;
		if (list_empty(list)) {
			list = &area->clean_list;
			if (list_empty(list))
				continue;
		}
		struct page *page = list_first_entry(list, struct page, lru);
		if (list == &area->free_list)
			WRITE_ONCE(zone.recent_reused, zone.recent_reused + (1UL << order));
		del_from_free_list(page, current);
		expand(page, order, current);
		WRITE_ONCE(page->type, PAGE_PAGES);
		page->order = (uint8_t)order;
		return page;
	}
	return NULL;
}

/*
 * The direct map: the chunks' memory is mapped side by side in one region
 * of the address space, [direct_map_start, + DIRECT_MAP_SIZE), as the
 * kernel maps all of RAM at one place (its direct map at PAGE_OFFSET). The
 * region lies below PAGEMAP_TABLE_TOP, so that the pagemap's flat table,
 * which covers only that far, holds every chunk's entry and stays small (16
 * MiB of address space instead of 256: a program that sets RLIMIT_AS
 * itself keeps its limit for its blocks). Its start is chosen at random,
 * once, on a 4 MiB boundary between DIRECT_MAP_LOW and the table's top (21
 * bits, about as many 4 MiB positions as the kernel's mmap randomisation
 * gives a 4 MiB-aligned mapping): heap addresses stay unpredictable, unless
 * the process runs with ADDR_NO_RANDOMIZE (gdb's default), where it is
 * DIRECT_MAP_LOW and they repeat from run to run.
 *
 * A chunk takes the lowest free slot (mmap with MAP_FIXED_NOREPLACE, never
 * over anything). A slot where someone else mapped first (a Go heap, a
 * sanitizer's shadow, an emulator's guest) stays marked taken for good, and
 * the search gallops past that mapping (the next try 1, 2, 4, ... slots
 * further on), so that a wall of n slots costs log2(n) failed mmaps in one
 * chunk_map, and each of its slots one failed mmap in the life of the
 * process. A gallop that runs off the region's end finds the region in the
 * way up to there (as all of it is under ASan's shadow): the direct map is
 * given up, and every chunk goes where the kernel puts it (os_map), its
 * entry into the pagemap's tree if that is above the table: slower frees,
 * nothing else. Slots are claimed and released with atomic bit operations
 * (chunk_map runs without a lock). Not in a build with ASan or TSan (the
 * unit tests'), whose shadow covers the region: TSan's mmap even moves the
 * address asked for to 0, where root may map.
 */
#define DIRECT_MAP_CHUNKS (DIRECT_MAP_SIZE >> CHUNK_SHIFT)
static _Atomic uint64_t direct_map_taken[DIRECT_MAP_CHUNKS / 64];
static _Atomic uintptr_t direct_map_start;
static _Atomic bool direct_map_given_up;

/* direct_map_base - the region's start, chosen on first use */
uintptr_t direct_map_base(void)
{
	uintptr_t base = atomic_load_explicit(&direct_map_start, memory_order_relaxed);
	if (likely(base))
		return base;
	int saved = errno;
	uint64_t r = 0;
	int persona = personality(0xffffffff);
	if (persona != -1 && (persona & ADDR_NO_RANDOMIZE))
		r = 0;
	else if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = ((uintptr_t)&r ^ zone_clock_ms() ^ (uint64_t)getpid() << 32) * 0x9e3779b97f4a7c15ULL;
	errno = saved;
	uintptr_t slots = (PAGEMAP_TABLE_TOP - DIRECT_MAP_SIZE - DIRECT_MAP_LOW) >> CHUNK_SHIFT;
	base = DIRECT_MAP_LOW + ((uintptr_t)(r % slots) << CHUNK_SHIFT);
	uintptr_t none = 0;
	if (!atomic_compare_exchange_strong_explicit(&direct_map_start, &none, base,
						     memory_order_relaxed, memory_order_relaxed))
		base = none; /* another thread chose first */
	return base;
}

/* direct_map_claim - claim the first free slot from @from on; its index,
 * or DIRECT_MAP_CHUNKS if there is none */
static size_t direct_map_claim(size_t from)
{
	for (size_t w = from / 64; w < DIRECT_MAP_CHUNKS / 64; w++) {
		uint64_t below = w == from / 64 ? (1ULL << (from % 64)) - 1 : 0;
		uint64_t taken = atomic_load_explicit(&direct_map_taken[w], memory_order_relaxed) | below;
		while (~taken) {
			uint64_t bit = 1ULL << __builtin_ctzll(~taken);
			if (!(atomic_fetch_or_explicit(&direct_map_taken[w], bit, memory_order_relaxed) & bit))
				return w * 64 + (size_t)__builtin_ctzll(bit);
			taken |= bit; /* another thread's */
		}
	}
	return DIRECT_MAP_CHUNKS;
}

/* direct_map_put - slot @slot is free again */
static void direct_map_put(size_t slot)
{
	atomic_fetch_and_explicit(&direct_map_taken[slot / 64], ~(1ULL << (slot % 64)),
				  memory_order_relaxed);
}

/* direct_map_chunk - CHUNK_SIZE bytes at the direct map's lowest free
 * slot, or NULL (the kernel refused, or the direct map is given up) */
static void *direct_map_chunk(void)
{
#ifdef BS_SANITIZED
	return NULL;
#endif
	if (atomic_load_explicit(&direct_map_given_up, memory_order_relaxed))
		return NULL;
	uintptr_t base = direct_map_base();
	size_t step = 1;
	for (size_t slot = direct_map_claim(0); slot < DIRECT_MAP_CHUNKS;
	     slot = direct_map_claim(slot + step), step *= 2) {
		bool occupied;
		void *mem = os_map_at(base + ((uintptr_t)slot << CHUNK_SHIFT), CHUNK_SIZE, &occupied);
		if (mem)
			return mem;
		if (!occupied) { /* out of memory: the slot is free again */
			direct_map_put(slot);
			return NULL;
		}
		/* someone else's mapping: the slot stays taken */
		if (slot + step >= DIRECT_MAP_CHUNKS) { /* ... up to the region's end */
			atomic_store_explicit(&direct_map_given_up, true, memory_order_relaxed);
			return NULL;
		}
	}
	return NULL; /* full of chunks: the kernel places this one */
}

/* direct_map_release - the slot of chunk memory @mem, unmapped, is free */
static void direct_map_release(uintptr_t mem)
{
	uintptr_t base = atomic_load_explicit(&direct_map_start, memory_order_relaxed);
	if (!base || mem < base || mem >= base + DIRECT_MAP_SIZE)
		return; /* one the kernel placed */
	direct_map_put((mem - base) >> CHUNK_SHIFT);
}

/* chunk_mem_unmap - give a chunk's memory back, and its slot (if the
 * kernel refused, which it may when that splits the direct map's mapping at
 * vm.max_map_count, the next chunk_map finds the slot in the way) */
static void chunk_mem_unmap(uintptr_t mem)
{
	os_unmap((void *)mem, CHUNK_SIZE);
	direct_map_release(mem);
}

/* chunk_map - a new chunk from the OS, not yet in the zone. Its whole memory
 * is one free, clean block of the maximum order, in the direct map if it
 * has room. */
static struct chunk *chunk_map(void)
{
	void *mem = direct_map_chunk();
	if (!mem)
		mem = os_map(CHUNK_SIZE, CHUNK_SIZE);
	if (!mem)
		return NULL;
	size_t desc_size = (sizeof(struct chunk) + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	struct chunk *c = os_map(desc_size, CHUNK_DESC_ALIGN);
	if (!c) {
		chunk_mem_unmap((uintptr_t)mem);
		return NULL;
	}
	c->base = (uintptr_t)mem;
	c->magic = CHUNK_MAGIC;
	INIT_LIST_HEAD(&c->list);
	if (!pagemap_set_range(c->base, CHUNK_SIZE, chunk_entry(c))) {
		os_unmap(c, desc_size);
		chunk_mem_unmap((uintptr_t)mem);
		return NULL;
	}
	c->mem_map[0].flags = PG_clean;
	return c;
}

static void chunk_unmap(struct chunk *c)
{
	size_t desc_size = (sizeof(struct chunk) + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	pagemap_clear_range(c->base, CHUNK_SIZE);
	chunk_mem_unmap(c->base);
	os_unmap(c, desc_size);
}

/* Caller holds zone->lock. */
static void zone_add_chunk(struct chunk *c)
{
	list_add(&c->list, &zone.chunks);
	zone.nr_chunks++;
	WRITE_ONCE(zone.grow_ms, zone_clock_ms());
	add_to_free_list(&c->mem_map[0], MAX_ORDER - 1, 0);
}

/*
 * zone_purge_before_growth - the zone is about to map a chunk: none of its
 * free blocks is large enough for the request, and the footprint grows by
 * one chunk. Resident free blocks then count in the peak RSS without
 * serving this request: purge those free for purge_ms down to the min
 * watermark, at most once per chunk mapped. Younger ones are spared, as
 * zone_maybe_purge spares them: a steady program takes them again soon
 * (purging them too made server purge and fault back 10 % more pages and
 * run 4 % longer; frag's peak is 0.1-0.2 MiB lower with them purged).
 * The cache of freed mappings gives back a chunk's worth, young or old
 * (vm_cache_shrink_for_growth).
 */
static void zone_purge_before_growth(void)
{
	vm_cache_shrink_for_growth(); /* the freed mappings' pages too */
	if (zone_dirty_pages() > zone.watermark_min)
		zone_purge(zone.watermark_min, false, zone.purge_ms);
}

/*
 * __alloc_pages_zone - a block of 2^order pages from the zone; the head page
 * is returned as PAGE_PAGES with PG_clean telling whether it is all zero.
 * When the zone is empty it maps a chunk; when the OS refuses, it reclaims
 * (drains this thread's caches, collects abandoned heaps) and retries,
 * unless __GFP_NORETRY; __GFP_NOFAIL retries, every millisecond, for
 * NOFAIL_RETRY_MS (other threads may free memory meanwhile; the kernel
 * would wait for its OOM killer, which a process has no equivalent of),
 * and its caller then aborts.
 * NULL with errno ENOMEM when neither the zone nor the OS has it.
 */
struct page *__alloc_pages_zone(gfp_t gfp, unsigned int order)
{
	struct page *page;
	uint64_t nofail_since = 0;

	if (unlikely(order >= MAX_ORDER)) {
		errno = EINVAL;
		return NULL;
	}
	zone_lock();
	zone_init_locked();
	if (is_hot_order(order) && (page = hot_take(order))) {
		zone_unlock();
		return page;
	}
	for (unsigned int attempt = 0;; attempt++) {
		page = __rmqueue_smallest(order);
		if (!page && zone.nr_hot_pages) { /* before the zone grows */
			hot_flush();
			page = __rmqueue_smallest(order);
		}
		if (page)
			break;
		zone_unlock();
		kswapd_want(); /* a fork child that grows restarts it (kswapd.c) */
		zone_purge_before_growth();
		struct chunk *c = chunk_map();
		if (!c) {
			if (attempt == 2)
				nofail_since = zone_clock_ms();
			if ((gfp & __GFP_NORETRY) ||
			    (attempt >= 2 && (!(gfp & __GFP_NOFAIL) ||
					      zone_clock_ms() - nofail_since >= NOFAIL_RETRY_MS))) {
				errno = ENOMEM;
				return NULL;
			}
			if (attempt >= 2)
				usleep(1000);
			zone_reclaim(gfp, false);
		}
		zone_lock();
		if (c)
			zone_add_chunk(c);
	}
	zone_unlock();
	return page;
}

/*
 * rmqueue_bulk - the pcp refill: up to @count blocks of @order onto @list
 * (as PAGE_PCP) under one hold of the zone lock. Grows the zone (with
 * reclaim) only if it has no block at all. Returns the number taken.
 */
int rmqueue_bulk(unsigned int order, int count, struct list_head *list, gfp_t gfp,
		 struct heap *owner)
{
	int n = 0;
	zone_lock();
	zone_init_locked();
	while (n < count) {
		struct page *page = __rmqueue_smallest(order);
		if (!page) {
			if (n > 0)
				break;
			zone_unlock();
			page = __alloc_pages_zone(gfp, order);
			if (!page)
				return 0;
			zone_lock();
		}
		WRITE_ONCE(page->type, PAGE_PCP);
		page->flags &= PG_clean; /* a clean block stays so in the cache */
		WRITE_ONCE(page->pcp_owner, owner);
		list_add_tail(&page->lru, list);
		n++;
	}
	zone_unlock();
	return n;
}

/* free_pages_zone - give a block back to the zone (into the hot slot of
 * its order with @may_park), then purge if resident free memory passed the
 * high watermark. */
static void free_pages_zone(struct page *page, unsigned int order, bool may_park)
{
	page->flags &= PG_clean;
	page->head = NULL;
	zone_lock();
	if (may_park && is_hot_order(order))
		hot_park(page, order);
	else
		__free_one_page(page, order);
	bool over = zone_should_purge();
	zone_unlock();
	if (unlikely(over))
		zone_maybe_purge();
}

void __free_pages_zone(struct page *page, unsigned int order)
{
	free_pages_zone(page, order, true);
}

/* tile_order - the order of the largest naturally aligned block that
 * starts at page @from and ends by page @to: the step of tiling a page range
 * with buddy blocks. */
static unsigned int tile_order(unsigned long from, unsigned long to)
{
	/* the alignment of @from (a chunk's first page is aligned to all),
	 * and the largest power of two that fits in the range: no loop */
	unsigned int align = from ? (unsigned int)__builtin_ctzl(from) : MAX_ORDER - 1;
	unsigned int fit = 63 - (unsigned int)__builtin_clzl(to - from);
	unsigned int order = align < fit ? align : fit;
	return order < MAX_ORDER - 1 ? order : MAX_ORDER - 1;
}

/* free_pages_tiles - free_pages_range's loop, out of line */
static noinline void free_pages_tiles(struct chunk *c, unsigned long idx, unsigned long end,
				      uint8_t flags)
{
	while (idx < end) {
		unsigned int order = tile_order(idx, end);
		struct page *block = &c->mem_map[idx];
		block->flags = flags;
		/* a trimmed tail's tiles are not blocks a program freed: they
		 * do not displace the hot ones */
		if (order > PCP_MAX_ORDER)
			free_pages_zone(block, order, false);
		else
			free_pages_node(block, order);
		idx += 1UL << order;
	}
}

/*
 * free_pages_range - give back @nr_pages pages starting at @page, as the
 * largest naturally aligned blocks that tile the range (the inverse of an
 * alloc_pages_exact trim). Blocks of pcp orders go to the thread's cache.
 */
void free_pages_range(struct page *page, unsigned long nr_pages, uint8_t flags)
{
	struct chunk *c = page_chunk(page);
	unsigned long idx = page_index(c, page);

	/* one naturally aligned block (a whole page block freed): no loop,
	 * a tail call */
	if ((nr_pages & (nr_pages - 1)) == 0 && (idx & (nr_pages - 1)) == 0 &&
	    nr_pages != 0 && nr_pages <= 1UL << (MAX_ORDER - 1)) {
		page->flags = flags;
		return free_pages_node(page, (unsigned int)__builtin_ctzl(nr_pages));
	}
	free_pages_tiles(c, idx, idx + nr_pages, flags);
}

/* Caller holds zone->lock: give [from, to) of chunk @c to the free lists,
 * as the largest aligned blocks that tile it. */
static void __free_range_locked(struct chunk *c, unsigned long from, unsigned long to,
				uint8_t flags)
{
	while (from < to) {
		unsigned int order = tile_order(from, to);
		c->mem_map[from].flags = flags;
		__free_one_page(&c->mem_map[from], order);
		from += 1UL << order;
	}
}

/* is_hot_block - is @page, PAGE_BUDDY, the hot block of its order? (zone
 * lock held) */
static bool is_hot_block(struct page *page)
{
	return is_hot_order(page->order) && zone.hot[page->order - HOT_MIN_ORDER] == page;
}

/* The free block that starts at page @index, if the caller may take it: a
 * zone block (on a list, or hot), or a block on the calling heap's own
 * page cache. */
static struct page *takeable_block(struct chunk *c, unsigned long index, struct heap *heap)
{
	struct page *page = &c->mem_map[index];
	uint8_t type = READ_ONCE(page->type);
	if (type == PAGE_BUDDY && (!(page->flags & PG_isolated) || is_hot_block(page)))
		return page;
	if (type == PAGE_PCP && heap && READ_ONCE(page->pcp_owner) == heap)
		return page;
	return NULL;
}

/*
 * grow_block_in_place - extend the block at @page from @old_pages to
 * @new_pages by taking the free blocks that follow it (from the zone, or
 * from the caller's page cache), giving back what lies beyond. False, with
 * nothing changed, if a page in the way is not free. Used by realloc.
 */
bool grow_block_in_place(struct page *page, unsigned long old_pages, unsigned long new_pages)
{
	struct chunk *c = page_chunk(page);
	unsigned long start = page_index(c, page);
	unsigned long end = start + old_pages, new_end = start + new_pages;
	struct heap *heap = heap_current();

	if (new_end > CHUNK_PAGES)
		return false;
	zone_lock();
	for (unsigned long j = end; j < new_end;) {
		struct page *block = takeable_block(c, j, heap);
		if (!block) {
			zone_unlock();
			return false;
		}
		j += 1UL << block->order;
	}
	for (unsigned long j = end; j < new_end;) {
		struct page *block = &c->mem_map[j];
		unsigned int order = block->order;
		uint8_t flags = block->flags & PG_clean;
		if (block->type == PAGE_BUDDY && is_hot_block(block)) {
			hot_unslot(order);
		} else if (block->type == PAGE_BUDDY) {
			del_from_free_list(block, order);
		} else {
			list_del(&block->lru);
			WRITE_ONCE(heap->pcp.count, heap->pcp.count - (1 << order));
		}
		WRITE_ONCE(block->type, PAGE_NONE);
		block->flags = 0;
		unsigned long block_end = j + (1UL << order);
		if (block_end > new_end)
			__free_range_locked(c, new_end, block_end, flags);
		j = block_end;
	}
	zone_unlock();
	return true;
}

/* ---- giving memory back: purge and reclaim ---------------------------- */

#define PURGE_BATCH 32

/* Caller holds zone->lock. Unmap one free chunk whose block is @page. */
static void zone_unmap_free_chunk(struct page *page)
{
	del_from_free_list(page, MAX_ORDER - 1);
	struct chunk *c = page_chunk(page);
	list_del(&c->list);
	zone.nr_chunks--;
	zone.nr_chunks_unmapped++;
	zone_unlock();
	chunk_unmap(c);
	zone_lock();
}

/* One purge at a time (zone_purge): a purge isolates blocks and drops the
 * zone lock while the kernel takes their pages, so another purge walking
 * the lists then would not see them. Taken before the zone lock; fork
 * takes it too (a child would inherit the blocks isolated, for ever). */
_Atomic int zone_purge_lock;

/* when the kernel last refused to purge a block (zone_purge) */
static uint64_t purge_refused_ms;

/*
 * zone_purge - give resident free memory back to the OS until no more than
 * @target_dirty free pages are resident, taking only blocks free for at
 * least @min_age_ms, oldest first, largest orders first. Whole free chunks
 * are unmapped when @unmap_free_chunks (address space back too; clean free
 * chunks go first); other blocks are taken off their lists (PG_isolated),
 * purged with the lock dropped, and freed again as clean. A block the
 * kernel refuses to purge (pages the program mlock'd and freed: EINVAL)
 * keeps its contents: it stays isolated, out of the walk, its pages added
 * to the target, and goes back dirty at the end; zone_maybe_purge then
 * waits purge_ms before it purges again (under mlockall every free tried
 * 36 refused purges: 22 us a 512 KiB malloc+free pair, 0.06 since).
 *
 * A purge to nothing (@target_dirty 0: malloc_trim, direct reclaim) waits
 * for one under way (zone_purge_lock); any other skips then, the other
 * doing its work. malloc_trim returned while kswapd was still giving back
 * the blocks it had isolated: the RSS went on dropping after it, by up to
 * 12 MiB (test_threads with background=1,purge_ms=0, 1 run in 40). (A
 * signal handler that trims, or whose allocation finds the OS out of
 * memory, while its thread purges would wait for ever: the allocator is
 * not async-signal-safe, as glibc's is not.)
 */
void zone_purge(unsigned long target_dirty, bool unmap_free_chunks, uint64_t min_age_ms)
{
	if (target_dirty == 0)
		mutex_lock(&zone_purge_lock);
	else if (!mutex_trylock(&zone_purge_lock))
		return;
	struct page *isolated[PURGE_BATCH];
	unsigned int isolated_order[PURGE_BATCH];
	uint64_t now = zone_clock_ms();
	struct list_head refused; /* kept isolated until the end: not picked again */
	unsigned long refused_pages = 0;
	INIT_LIST_HEAD(&refused);

	zone_lock();
	zone_init_locked();
	WRITE_ONCE(zone.last_purge_ms, now);
	WRITE_ONCE(zone.recent_freed, 0);
	WRITE_ONCE(zone.recent_reused, 0);
	/* hot blocks stay hot unless the target is below what they hold, or
	 * nothing (malloc_trim: clean ones would keep their chunks mapped) */
	if (zone.nr_hot_pages && (target_dirty == 0 || zone.nr_hot_dirty > target_dirty))
		hot_flush();
	for (;;) {
		unsigned long dirty = zone_dirty_pages();
		if (dirty <= target_dirty + refused_pages)
			break;
		/* isolate the oldest dirty blocks, largest first */
		unsigned int n = 0;
		unsigned long want = dirty - target_dirty - refused_pages;
		for (int order = MAX_ORDER - 1; order >= 0 && n < PURGE_BATCH && want; order--) {
			struct list_head *list = &zone.free_area[order].free_list;
			while (!list_empty(list) && n < PURGE_BATCH && want) {
				struct page *page = list_last_entry(list, struct page, lru);
				if (now - page->free_stamp < min_age_ms && page->free_stamp <= now)
					break; /* the rest of the list is younger */
				if (unmap_free_chunks && order == MAX_ORDER - 1) {
					zone_unmap_free_chunk(page);
					want = want > CHUNK_PAGES ? want - CHUNK_PAGES : 0;
					continue;
				}
				del_from_free_list(page, (unsigned int)order);
				page->flags |= PG_isolated;
				zone.nr_isolated_pages += 1UL << order;
				isolated[n] = page;
				isolated_order[n] = (unsigned int)order;
				n++;
				want = (1UL << order) >= want ? 0 : want - (1UL << order);
			}
		}
		if (n == 0)
			break;
		bool purged[PURGE_BATCH], failed = false;
		zone_unlock();
		for (unsigned int i = 0; i < n; i++)
			purged[i] = os_purge((void *)page_address(isolated[i]), PAGE_SIZE << isolated_order[i]);
		zone_lock();
		for (unsigned int i = 0; i < n; i++) {
			/* a purge the kernel refused (mlock'd pages: EINVAL)
			 * leaves the contents: the block stays dirty, not
			 * known zero */
			if (!purged[i]) {
				failed = true;
				isolated[i]->order = (uint8_t)isolated_order[i];
				list_add(&isolated[i]->lru, &refused);
				refused_pages += 1UL << isolated_order[i];
				continue;
			}
			WRITE_ONCE(zone.nr_purged, zone.nr_purged + (1UL << isolated_order[i]));
			zone.nr_isolated_pages -= 1UL << isolated_order[i];
			isolated[i]->flags = PG_clean;
			__free_one_page(isolated[i], isolated_order[i]);
		}
		if (failed)
			WRITE_ONCE(purge_refused_ms, now);
	}
	/* whole clean chunks, unmapped after the walk, not before it: blocks
	 * purged in it may have merged into more (they stayed mapped, with
	 * their descriptors, 73 KiB each resident, until the next purge: a
	 * second malloc_trim gave back 6 chunks) */
	if (unmap_free_chunks) {
		struct free_area *top = &zone.free_area[MAX_ORDER - 1];
		while (!list_empty(&top->clean_list))
			zone_unmap_free_chunk(list_first_entry(&top->clean_list, struct page, lru));
	}
	/* back dirty, stamped now (the youngest), and not counted as freed
	 * again: zone_is_shrinking would stay true */
	while (!list_empty(&refused)) {
		struct page *page = list_first_entry(&refused, struct page, lru);
		list_del(&page->lru);
		page->flags = 0;
		zone.nr_isolated_pages -= 1UL << page->order;
		free_one_page_listed(page, page->order);
	}
	zone_unlock();
	mutex_unlock(&zone_purge_lock);
}

/* zone_is_shrinking - has the program freed four times more pages into
 * the zone than it took back since the last purge? */
bool zone_is_shrinking(void)
{
	return READ_ONCE(zone.recent_reused) * 4 < READ_ONCE(zone.recent_freed);
}

/* zone_maybe_purge - called after a free took resident free memory above
 * the high watermark (kswapd's wake-up, served by the freeing thread).
 * Purges blocks older than purge_ms down to the low watermark, at most
 * every purge_ms/4; far above the high watermark, regardless of age. */
void zone_maybe_purge(void)
{
	DEBUG_CHECK(zone_is_valid(), "zone before purge", &zone);
	vm_cache_fit_budget();
	uint64_t now = zone_clock_ms();
	unsigned long dirty = zone_dirty_pages();
	uint64_t refused = READ_ONCE(purge_refused_ms);
	if (refused && now - refused < zone.purge_ms)
		return; /* mlock'd memory: not every free again */
	if (dirty > 2 * zone.watermark_high) {
		zone_purge(zone.watermark_high, true, 0);
		return;
	}
	unsigned long target = zone.watermark_low > zone.watermark_min ? zone.watermark_low
								       : zone.watermark_min;
	if (zone_is_shrinking()) {
		zone_purge(target, true, 0); /* shrinking: young blocks too */
		return;
	}
	if (now - READ_ONCE(zone.last_purge_ms) < zone.purge_ms / 4)
		return;
	zone_purge(target, true, zone.purge_ms);
}

/*
 * zone_reclaim - direct reclaim, when the OS refused memory: give the
 * calling thread's cached pages and empty slabs back to the zone, and
 * collect what was freed into abandoned heaps and into other threads'
 * (heap_reclaim_live). With @unmap_free_chunks (for a large mapping,
 * which needs address space rather than pages) also unmap every free
 * chunk and purge.
 * True if anything was given back.
 */
bool zone_reclaim(gfp_t gfp, bool unmap_free_chunks)
{
	(void)gfp;
	unsigned long before_free, before_chunks;
	zone_lock();
	zone_init_locked();
	zone.nr_reclaims++;
	before_free = zone.nr_free_pages;
	before_chunks = zone.nr_chunks_unmapped;
	zone_unlock();

	vm_cache_drain(); /* the hot mapping's descriptor waits (vm_hot_flush) */
	struct heap *heap = heap_current();
	barn_expire(heap, 0);
	if (heap) {
		heap_release_slabs(heap, false); /* it collects the remote stack */
		pcp_drain(&heap->pcp, 0);
	}
	heap_reclaim_abandoned();
	heap_reclaim_live(LIVE_RECLAIM_TRY);
	if (unmap_free_chunks)
		zone_purge(0, true, 0);

	zone_lock();
	bool progress = zone.nr_free_pages != before_free ||
			zone.nr_chunks_unmapped != before_chunks;
	zone_unlock();
	return progress;
}

/* ---- validation ------------------------------------------------------- */

/* free_block_shape_ok - @page heads a free block of @order: PAGE_BUDDY of
 * that order, at an index that is a multiple of its size, its other pages
 * PAGE_NONE. */
static bool free_block_shape_ok(struct page *page, unsigned int order)
{
	if (page->type != PAGE_BUDDY || page->order != order ||
	    (page_index(page_chunk(page), page) & ((1UL << order) - 1)))
		return false;
	for (unsigned long i = 1; i < (1UL << order); i++)
		if (page[i].type != PAGE_NONE)
			return false;
	return true;
}

/* zone_is_valid - check every invariant in this file's header comment.
 * Takes the lock; O(pages mapped). For tests and the debug build. */
bool zone_is_valid(void)
{
	bool ok = true;
	unsigned long free_pages = 0, dirty = 0;

	zone_lock();
	zone_init_locked();
	for (unsigned int k = 0; k < MAX_ORDER; k++) {
		unsigned long n = 0;
		struct list_head *pos;
		for (int which = 0; which < 2; which++)
		list_for_each(pos, which ? &zone.free_area[k].clean_list : &zone.free_area[k].free_list) {
			struct page *page = list_entry(pos, struct page, lru);
			if (!(page->flags & PG_clean) != !which)
				ok = false; /* on the list of the other kind */
			struct chunk *c = page_chunk(page);
			unsigned long idx = page_index(c, page);
			if (!free_block_shape_ok(page, k) || (page->flags & PG_isolated))
				ok = false;
			if (k < MAX_ORDER - 1) {
				struct page *buddy = &c->mem_map[idx ^ (1UL << k)];
				if (page_is_buddy(buddy, k))
					ok = false; /* two free buddies not merged */
			}
			n++;
			free_pages += 1UL << k;
			if (!(page->flags & PG_clean))
				dirty += 1UL << k;
		}
		if (n != zone.free_area[k].nr_free)
			ok = false;
	}
	if (free_pages != zone.nr_free_pages || dirty != zone.nr_dirty_free)
		ok = false;
	unsigned long hot_pages = 0, hot_dirty = 0;
	for (unsigned int i = 0; i < NR_HOT_ORDERS; i++) {
		struct page *page = zone.hot[i];
		if (!page)
			continue;
		unsigned int order = HOT_MIN_ORDER + i;
		if (!free_block_shape_ok(page, order) || !(page->flags & PG_isolated))
			ok = false;
		hot_pages += 1UL << order;
		if (!(page->flags & PG_clean))
			hot_dirty += 1UL << order;
	}
	if (hot_pages != zone.nr_hot_pages || hot_dirty != zone.nr_hot_dirty)
		ok = false;
	zone_unlock();
	return ok;
}
