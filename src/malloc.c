/*
 * malloc.c - the interposed malloc API, a thin layer over the allocators:
 *
 *   size <= 8 KiB (SLAB_MAX_SIZE)       kmalloc-N slab caches (slab.c)
 *   8 KiB < size <= 1 MiB               a whole buddy block of 2-256 pages
 *                                       (kmalloc_large); up to 128 KiB from
 *                                       the thread's page cache
 *   size > 1 MiB (VMALLOC_MIN_SIZE)     a mapping of its own (vmalloc.c); up
 *                                       to 4 MiB, buddy pages trimmed to the
 *                                       page when VM_AREAS_MAX mapped blocks
 *                                       are live
 *
 * Fast paths: bs_malloc pops the calling thread's bin of the size class
 * (struct kmalloc_bin); bs_free finds the bin through the pagemap and the
 * chunk's map of free classes, checks that the pointer is an object start
 * and not already free, and pushes it onto the bin. Everything else is out
 * of line.
 *
 * Errors: impossible sizes give NULL + ENOMEM, bad alignments EINVAL, a
 * failed realloc keeps the old block. A pointer buddyslab did not hand out
 * (or handed out and took back) is reported and the process aborts:
 *   buddyslab: free(): invalid pointer 0x...
 *   buddyslab: free(): double free detected 0x...
 *
 * With BUDDYSLAB_NO_INTERPOSE (the unit-test library) only the bs_* names
 * exist, so tests can run under sanitizers that own malloc.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"


void *large_alloc(size_t size, size_t align, gfp_t gfp);
static void large_free(struct page *page);

/* ---- allocation -------------------------------------------------------- */

/* pages_for_size - the pages that hold @size bytes */
static inline unsigned long pages_for_size(size_t size)
{
	return (size + PAGE_SIZE - 1) >> PAGE_SHIFT;
}

static inline unsigned int order_for_pages(unsigned long pages)
{
	return pages <= 1 ? 0 : 64 - (unsigned int)__builtin_clzl(pages - 1);
}

/* whole_block_pages - the pages a page block of @pages keeps: its whole
 * buddy block up to LARGE_WHOLE_MAX_ORDER, else just the pages */
static inline unsigned long whole_block_pages(unsigned long pages)
{
	unsigned int order = order_for_pages(pages);
	return order <= LARGE_WHOLE_MAX_ORDER ? 1UL << order : pages;
}

/* large_block_set - make @page the head of a page block of @kept pages,
 * @pages of them asked for (what usable_size reports and realloc copies),
 * as free() and realloc read it; its address. The block's word 1 is
 * cleared, as malloc clears a slab object's: on a page that a slab held
 * before, it may hold the double-free key of the object that sat there,
 * which realloc would copy, never written by the program, into the key
 * slot of the next block; once that block is realloc'd onto a slab on
 * the same page again, its key is that page's, and free() took the live
 * block for a freed one ("double free detected"; realloc: "use after
 * free"). Not a page whose contents went back (PG_clean: it reads as
 * zero, and the store would fault it in). */
static inline void *large_block_set(struct page *page, unsigned long kept, unsigned long pages)
{
	void **addr = (void **)page_address(page);
	if (!(page->flags & PG_clean) || options.madvise_free)
		addr[1] = NULL;
	WRITE_ONCE(page->type, PAGE_LARGE);
	page->flags = 0;
	page->head = NULL;
	page->nr_pages = (uint32_t)kept;
	page->used_pages = (uint32_t)pages;
	return addr;
}

/* malloc_pages hands out whole blocks up to VMALLOC_MIN_SIZE, as
 * large_alloc keeps them */
_Static_assert(PCP_MAX_ORDER <= LARGE_WHOLE_MAX_ORDER &&
	       (PAGE_SIZE << LARGE_WHOLE_MAX_ORDER) == VMALLOC_MIN_SIZE,
	       "page blocks of malloc_pages are whole blocks");

/* class_alloc_empty - an object of kmalloc class @cls for @call (malloc,
 * posix_memalign...) when its bin is empty: the bin refilled, or with
 * poison=1, whose bins stay empty, one checked object past them (slab.c,
 * "poisoning"). NULL with ENOMEM when the page allocator fails. */
static inline void *class_alloc_empty(struct heap *heap, unsigned int cls, const char *call)
{
	void *obj;
	heap_slabs_lock(heap);
	if (unlikely(options.poison))
		obj = kmalloc_cpu_alloc(heap, cls, call);
	else
		obj = bin_refill(heap, cls);
	heap_slabs_unlock(heap);
	if (unlikely(!obj))
		errno = ENOMEM;
	return obj;
}

static noinline void *malloc_slow(size_t size)
{
	struct heap *heap = heap_get();
	if (unlikely(!heap)) {
		errno = ENOMEM;
		return NULL;
	}
	void *p = class_alloc_empty(heap, kmalloc_index(size), "malloc");
	kswapd_start_wanted();
	return p;
}

/* malloc_pages - malloc() above SLAB_MAX_SIZE. A whole block of up to
 * 1 MiB is taken here, without large_alloc's cases (mapped blocks,
 * alignment, tails, zeroing): up to 128 KiB popped from the thread's page
 * cache when it holds one, above that from the zone (malloc_pages_zone, in
 * a thread with or without a heap). free() gives it back by free_by_page
 * and free_page_block. Instructions a malloc+free pair (callgrind,
 * bench/micro/fastpath.c -k 1): 16-128 KiB 337 -> 164, 256 KiB-1 MiB
 * 655 -> 361 (with the futex zone lock); 153 and 368 since b855103, 143
 * and 271 since 89053ec (bench/fastpath.txt). bench/probes/midblock_churn.c,
 * 3 million replacements: 8-16 KiB 0.20 -> 0.12 s, 64-128 KiB 0.35 ->
 * 0.28 s. */
static noinline void *malloc_pages_zone(unsigned long pages, unsigned int order)
{
	buddyslab_init(); /* the zone needs no heap: this may be the first malloc */
	struct page *page = __alloc_pages_zone(0, order);
	if (unlikely(!page)) {
		errno = ENOMEM;
		return NULL;
	}
	kswapd_start_wanted();
	return large_block_set(page, 1UL << order, pages);
}

static noinline void *malloc_pages(size_t size)
{
	if (likely(size <= VMALLOC_MIN_SIZE)) {
		unsigned long pages = pages_for_size(size);
		unsigned int order = order_for_pages(pages);
		if (order > PCP_MAX_ORDER) /* out of line: no frame here */
			return malloc_pages_zone(pages, order);
		struct heap *heap = thread_heap;
		struct page *page;
		if (likely(heap != &empty_heap) && likely(page = pcp_take(&heap->pcp, order)))
			return large_block_set(page, 1UL << order, pages);
	}
	return large_alloc(size, PAGE_SIZE, 0);
}

/*
 * bs_malloc - the fast path: the bin of size's class is one load from
 * heap->direct[] (thread_heap is &empty_heap, whose entries are the
 * capacity-0 empty_bin, until the thread has a heap), then pop it. obj[1]
 * holds the double-free key of a free object (bs_free): cleared. 14
 * instructions (bench/fastpath.txt): heap 2, size test 2, class 2, bin 1,
 * count and its test 3 (the borrow of count - 1 is the test), pop 2, key
 * 1, ret.
 */
static always_inline void *malloc_inline(size_t size)
{
	struct heap *heap = thread_heap;
	struct kmalloc_bin *bin;
	if (likely(size <= KMALLOC_DIRECT_MAX))
		bin = heap->direct[(size + 7) >> 3];
	else if (size <= SLAB_MAX_SIZE)
		bin = heap->direct_big[(size - 1) >> 8];
	else
		return malloc_pages(size);
	uint64_t n; /* count - 1: the borrow of the subtraction is the test */
	if (likely(!__builtin_sub_overflow(bin->count, 1, &n))) {
		bin->count = n;
		void **obj = bin->objects[n];
		obj[1] = NULL;
		return obj;
	}
	return malloc_slow(size);
}

void *bs_malloc(size_t size)
{
	return malloc_inline(size);
}

/* malloc's fast path at an address of its own, for C++'s operator new
 * (operator_new.c): valgrind, run on a program with buddyslab preloaded,
 * redirects malloc's address (and free's, realloc's...) to its own, but
 * not operator new's or delete's, whose blocks must stay in one heap.
 * (noipa: gcc would fold the twin functions into one; clang does not.) */
#if defined(__GNUC__) && !defined(__clang__)
#define NO_FOLDING __attribute__((noipa))
#else
#define NO_FOLDING noinline
#endif
NO_FOLDING void *bs_cxx_malloc(size_t size)
{
	return malloc_inline(size);
}

void *kmalloc_obj(size_t size, gfp_t gfp)
{
	void *p = bs_malloc(size);
	if (p && (gfp & __GFP_ZERO))
		memset(p, 0, size);
	return p;
}

/*
 * large_alloc - @size bytes of whole pages aligned to @align (a power of two
 * >= PAGE_SIZE): a buddy block of the next order, kept whole up to
 * LARGE_WHOLE_MAX_ORDER (see there why; the kernel's kmalloc_large). An
 * alignment above the size takes a block of the alignment's order and
 * keeps the size's whole block at its start: the rest is that block's
 * buddies, which go back (a 4 KiB block aligned to 1 MiB keeps 1 page, not
 * 256). Up to
 * PCP_MAX_ORDER it comes from and goes back to the thread's page cache as
 * one block of one order: server (2 % of its blocks 4-32 KiB, freed by
 * other threads) ran 0.52 -> 0.41 s whole rather than trimmed, with 27k ->
 * 8k page faults and 46 -> 34 MiB peak RSS. Bigger blocks (only while
 * mapped blocks are at VM_AREAS_MAX) give their unused tail pages back
 * (the kernel's alloc_pages_exact). Above VMALLOC_MIN_SIZE (see there
 * why), a mapping of its own. __GFP_ZERO skips the memset for never-used
 * pages.
 */
void *large_alloc(size_t size, size_t align, gfp_t gfp)
{
	buddyslab_init();
	if (unlikely(size > PTRDIFF_MAX)) {
		errno = ENOMEM;
		return NULL;
	}
	if (size > MAX_BLOCK_SIZE || align > MAX_BLOCK_SIZE ||
	    (size > VMALLOC_MIN_SIZE &&
	     atomic_load_explicit(&vm_nr_areas, memory_order_relaxed) < VM_AREAS_MAX))
		return vmalloc_node(size, align, gfp);
	unsigned long pages = pages_for_size(size);
	if (pages == 0)
		pages = 1;
	unsigned int order = order_for_pages(pages);
	unsigned int align_order = order_for_pages(align >> PAGE_SHIFT);
	if (align_order > order)
		order = align_order;
	if (heap_current() == NULL && order <= PCP_MAX_ORDER)
		heap_get();
	struct page *page = alloc_pages_node(gfp, order);
	if (unlikely(!page)) {
		errno = ENOMEM;
		return NULL;
	}
	uint8_t clean = page->flags & PG_clean;
	/* the size's whole block; past it (an alignment above the size, or
	 * a block above LARGE_WHOLE_MAX_ORDER), the tail goes back */
	unsigned long kept = whole_block_pages(pages);
	if (kept < (1UL << order))
		free_pages_range(page + kept, (1UL << order) - kept, clean);
	void *addr = large_block_set(page, kept, pages);
	kswapd_start_wanted();
	/* the pages asked for: a whole block's tail need not be zero */
	if ((gfp & __GFP_ZERO) && !(clean && os_purge_zeroes()))
		memset(addr, 0, pages << PAGE_SHIFT);
	return addr;
}

static void large_free(struct page *page)
{
	unsigned long pages = page->nr_pages;
	WRITE_ONCE(page->type, PAGE_NONE);
	free_pages_range(page, pages, 0);
}

/* pcp_block - is the block of @pages at @p one that a page cache takes? */
static always_inline bool pcp_block(unsigned long pages, uintptr_t p)
{
	return (pages & (pages - 1)) == 0 && pages <= (1UL << PCP_MAX_ORDER) &&
	       (p & ((pages << PAGE_SHIFT) - 1)) == 0;
}

/* free_page_block_heapless - free_page_block of a page cache's block by a
 * thread without a heap: into the page cache of the heap it may get now
 * (heap_for_free), else by large_free. */
static noinline void free_page_block_heapless(struct page *page)
{
	unsigned long pages = page->nr_pages;
	struct heap *heap = heap_for_free();
	if (heap)
		return pcp_free(heap, page, (unsigned int)__builtin_ctzl(pages));
	large_free(page);
}

/* free_page_block - free() of the page block that @page heads, at @p: a
 * naturally aligned block of a page cache order, freed by a thread with a
 * heap, goes straight onto its page cache, as large_free ->
 * free_pages_range -> free_pages_node -> pcp_free would take it, without
 * those three calls (a pair of 12-128 KiB 168 -> 153 instructions, of 256
 * KiB-1 MiB 3 more, for these tests); anything else by large_free. (A
 * block grown in place need not be aligned to its size.) */
static noinline void free_page_block(struct page *page, uintptr_t p)
{
	unsigned long pages = page->nr_pages;
	struct heap *heap = thread_heap;
	if (likely(pcp_block(pages, p) && heap != &empty_heap &&
		   atomic_load_explicit(&heap->state, memory_order_relaxed) == HEAP_ACTIVE)) {
		return pcp_free(heap, page, (unsigned int)__builtin_ctzl(pages));
	}
	if (unlikely(heap == &empty_heap) && pcp_block(pages, p))
		return free_page_block_heapless(page);
	large_free(page);
}

/* ---- free ------------------------------------------------------------------ */

/* live_mapped_block - the mapped block that pagemap @entry maps @ptr
 * into, NULL if it maps no mapped block; a @ptr that is not the block's
 * start is reported as invalid, and one of the hot mapping (a block freed
 * already, kept whole) with @freed, both under the name of @call. */
static struct vm_area *live_mapped_block(void *ptr, uintptr_t entry, const char *call,
					 const char *freed)
{
	struct vm_area *vm = entry_vm(entry);
	if (vm) {
		if (vm->addr != (uintptr_t)ptr)
			bs_fatal(call, "invalid pointer", ptr);
		if (unlikely(vm_area_is_hot(vm)))
			bs_fatal(call, freed, ptr);
	}
	return vm;
}

/*
 * free_slow - everything that is not a slab object: NULL, page blocks,
 * mapped blocks, and the pointers that buddyslab never handed out.
 */
static noinline void free_slow(void *ptr, uintptr_t entry, const char *call)
{
	uintptr_t p = (uintptr_t)ptr;
	if (!ptr)
		return;
	if (!entry)
		bs_fatal(call, "invalid pointer", ptr);
	struct vm_area *vm = live_mapped_block(ptr, entry, call, "double free detected");
	if (vm) {
		vfree_area(vm);
		return;
	}
	struct page *page = entry_page(entry, p);
	if ((p & (PAGE_SIZE - 1)) == 0) {
		switch (page->type) {
		case PAGE_LARGE:
			large_free(page);
			return;
		case PAGE_BUDDY:
		case PAGE_PCP:
			bs_fatal(call, "double free detected", ptr);
		default:
			break;
		}
	}
	bs_fatal(call, "invalid pointer", ptr);
}

/* goes_home - does free() send @slab's object to the remote bin rather
 * than the calling heap's bin? Another heap's objects under a cache line
 * (or any object, for a thread without a heap). */
static always_inline bool goes_home(struct page *slab, struct heap *heap)
{
	return unlikely(slab->owner != heap) && slab->cache_id < NR_LINE_SHARING_CLASSES;
}

/* free_slab_slow - free()'s slow path for a slab object: into the remote
 * bin (flushed first when full), or into a full bin (its older half given
 * back first); without a heap (heap_for_free: until the thread's
 * HEAP_AFTER_FREES-th free), or for a kmem_cache object, the generic
 * slab_free. */
static noinline void free_slab_slow(struct page *slab, void **obj)
{
	struct heap *heap = heap_for_free();
	struct kmem_cache *cache = kmem_caches[slab->cache_id];
	if (!heap || !cache->is_kmalloc || unlikely(options.poison))
		return slab_free(slab, cache, obj, "free");
	if (unlikely(obj[1] == obj_key(slab, obj)))
		bs_fatal("free", "double free detected", obj);
	obj[1] = obj_key(slab, obj);
	heap_slabs_lock(heap);
	if (goes_home(slab, heap)) {
		if (heap->remote_bin.count >= REMOTE_BIN_SLOTS)
			remote_bin_flush(heap);
		heap->remote_bin.objects[heap->remote_bin.count++] = obj;
	} else {
		struct kmalloc_bin *bin = heap->bin_of[slab->cache_id];
		if (unlikely(!bin->capacity)) /* the class's first free in this heap */
			bin_setup(heap, (unsigned int)(cache - kmalloc_caches));
		else
			bin_flush_full(heap, bin);
		bin->objects[bin->count++] = obj;
	}
	heap_slabs_unlock(heap);
}

/* bs_free_call - free() for the other entry points (vfree), reporting bad
 * pointers under their name. */
void bs_free_call(void *ptr, const char *call)
{
	uintptr_t p = (uintptr_t)ptr;
	uintptr_t entry = pagemap_lookup(p);
	struct chunk *c = entry_chunk(entry, p);
	if (!c)
		return free_slow(ptr, entry, call);
	struct kmem_cache *cache;
	bool valid;
	struct page *slab = object_slab(chunk_page(c, p), p, &cache, &valid);
	if (!slab)
		return free_slow(ptr, entry, call);
	if (!valid)
		bs_fatal(call, "invalid pointer", ptr);
	slab_free(slab, cache, ptr, call);
}

/* free_into_bin - the end of free() into a bin, @bin, which holds @n
 * objects and has room: @obj, whose double-free key is @key, must not be
 * free already; its key set, it goes on top. (A tail call on a fast path,
 * as its callers' last statement.) */
static always_inline void free_into_bin(struct kmalloc_bin *bin, uint64_t n, void **obj, void *key)
{
	if (unlikely(obj[1] == key))
		return bs_fatal_tail("free", "double free detected", obj);
	obj[1] = key;
	bin->objects[n] = obj;
	bin->count = n + 1;
}

/* free_to_slab - the rest of free_by_page once @slab is known and ptr
 * checked to start one of its objects: push it onto the bin. */
static always_inline void free_to_slab(struct page *slab, void *ptr)
{
	struct heap *heap = thread_heap;
	void **obj = ptr;
	/* tail calls: no registers to save */
	if (goes_home(slab, heap))
		return free_slab_slow(slab, obj);
	struct kmalloc_bin *bin = heap->bin_of[slab->cache_id];
	uint64_t n = bin->count;
	if (unlikely((uint32_t)n >= bin->capacity)) /* a compare with memory */
		return free_slab_slow(slab, obj);
	free_into_bin(bin, n, obj, obj_key(slab, obj));
}

/* free_by_slab - free_by_page of anything but a page block: an object of
 * a slab with vacated objects (whose keys went with their pages: the
 * vacated bitmap says if ptr is free), of a kmem_cache, into a full bin, of
 * another heap under a cache line, from a thread without a heap; or
 * anything else (free_slow). @page is ptr's page's descriptor. */
static noinline void free_by_slab(void *ptr, uintptr_t entry, struct page *page)
{
	struct page *slab = page_slab(page);
	if (unlikely(!slab))
		return free_slow(ptr, entry, "free");
	if (unlikely(!slab_object_start(slab, (uintptr_t)ptr)))
		return bs_fatal_tail("free", "invalid pointer", ptr);
	if (unlikely(__atomic_load_n(&slab->vacated, __ATOMIC_RELAXED) & VACATED_OBJECTS))
		free_vacated_check(slab, ptr);
	free_to_slab(slab, ptr);
}

/* free_by_page - free() of a pointer in a chunk that its fast path did not
 * take, by the page's descriptor: a page block (its head page, at its first
 * byte) goes to free_page_block (to the thread's page cache for the pcp
 * orders), the rest to free_by_slab. Only tail calls, so that a page block
 * does not pay for the registers that free_by_slab saves: a 16 KiB free 88
 * -> 85 instructions (bench/micro/fastpath.c). */
static noinline void free_by_page(void *ptr, uintptr_t entry)
{
	struct page *page = entry_page(entry, (uintptr_t)ptr);
	if (page->type == PAGE_LARGE && ((uintptr_t)ptr & (PAGE_SIZE - 1)) == 0)
		return free_page_block(page, (uintptr_t)ptr);
	free_by_slab(ptr, entry, page);
}

/*
 * bs_free - the fast path: owner lookup in the pagemap, the page's free
 * class in its chunk's map (slab_class[]), a push onto the calling
 * thread's bin of that class after a check that ptr starts an object:
 * neither the slab nor its descriptor is read. The object goes to the
 * freeing thread's bin whichever heap owns the slab (bin_flush takes it
 * home later) -- but another heap's object under a cache line goes home
 * through the remote bin (struct remote_bin): its free class, which holds
 * the owner's tag, names empty_bin in every other heap's free_bin[] (see
 * free_class). Everything else (page blocks, mapped blocks, foreign
 * pointers, full bins, kmem_cache objects, slabs with vacated objects,
 * threads without a heap) is out of line: free_bin[] names the
 * capacity-0 empty_bin for them, so the capacity test that a full bin
 * fails sends them to free_by_page too.
 *
 * Double frees: a free object holds obj_key() in its second word (the
 * address of its page's byte in the map, no program's data; every
 * allocation clears it, every free and a new slab's setup set it, so an
 * object never handed out has it too). A free whose key is set is a
 * double free. Cost on
 * the fast path: the key's address 1 (the lea whose byte the free class is
 * loaded from), one load and compare in free, one store in free and malloc.
 *
 * Count per free (bench/fastpath.txt, 30): pagemap 6 (its limit compared
 * in memory, below_then_load) and its chunk test 2, heap 2, free class 4
 * (its byte's address, a lea from the entry and p's page frame number:
 * chunk_entry's bias; the load), bin 1, count and capacity 3, object
 * start test 5 (the bin's copy of the class's geometry), double-free key 3,
 * push 3 (a 64-bit count indexes without a zero extension), ret. One fewer
 * than through the descriptor; the gain is in memory: the map is 1 KiB per
 * 4 MiB chunk where descriptors are 64 KiB, so it stays in cache when
 * objects are freed all over a big heap, and the descriptor's line is not
 * read. (The key was the page's descriptor until 2026-11-27: 4
 * instructions for its address, 34 a free.)
 * A pointer past the pagemap's flat table (or any, in a process without
 * the table) takes free_untabled, out of line, so that the fast path
 * saves no register.
 */
static always_inline void free_entry(void *ptr, uintptr_t entry)
{
	uintptr_t p = (uintptr_t)ptr;
	if (unlikely(!(entry & PAGEMAP_CHUNK)))
		return free_slow(ptr, entry, "free");
	struct kmalloc_bin *bin = thread_heap->free_bin[entry_slab_class(entry, p)];
	uint64_t n = bin->count;
	if (unlikely((uint32_t)n >= bin->capacity)) /* a compare with memory */
		return free_by_page(ptr, entry);
	if (unlikely(!object_start(p & bin->obj_mask, bin->obj_magic, bin->obj_limit)))
		return bs_fatal_tail("free", "invalid pointer", ptr);
	free_into_bin(bin, n, ptr, entry_key(entry, p));
}

static noinline void free_untabled(void *ptr)
{
	free_entry(ptr, pagemap_lookup_tree((uintptr_t)ptr));
}

static always_inline void free_inline(void *ptr)
{
	uintptr_t p = (uintptr_t)ptr;
	uintptr_t *table;
	if (unlikely(!pagemap_in_table(p, &table)))
		return free_untabled(ptr);
	free_entry(ptr, pagemap_table_entry(table, p)); /* 0 for NULL: nothing maps granule 0 */
}

void bs_free(void *ptr)
{
	free_inline(ptr);
}

/* usable_size - bytes usable at @ptr, which must be a live block's start;
 * otherwise reported under the name of @call. */
static size_t usable_size(void *ptr, const char *call)
{
	uintptr_t p = (uintptr_t)ptr;
	uintptr_t entry = pagemap_lookup(p);
	if (!entry)
		bs_fatal(call, "invalid pointer", ptr);
	struct vm_area *vm = live_mapped_block(ptr, entry, call, "use after free of");
	if (vm)
		return vm->size;
	struct page *page = entry_page(entry, p);
	struct kmem_cache *cache;
	bool valid;
	struct page *slab = object_slab(page, p, &cache, &valid);
	if (slab) {
		if (!valid)
			bs_fatal(call, "invalid pointer", ptr);
		if (unlikely(slab_object_is_freed(slab, cache, ptr)))
			bs_fatal(call, "use after free of", ptr);
		return cache->object_size;
	}
	if (page->type == PAGE_LARGE && (p & (PAGE_SIZE - 1)) == 0)
		return (size_t)page->used_pages << PAGE_SHIFT;
	if ((p & (PAGE_SIZE - 1)) == 0 && (page->type == PAGE_BUDDY || page->type == PAGE_PCP))
		bs_fatal(call, "use after free of", ptr);
	bs_fatal(call, "invalid pointer", ptr);
}

/* ---- aligned allocation ------------------------------------------------------ */

/* bs_aligned - @size bytes aligned to @align (a power of two). Small blocks
 * come from a size class whose objects are all aligned; larger ones from
 * buddy blocks, which are aligned to their size; huge alignments from an
 * aligned mapping. */
void *bs_aligned(size_t align, size_t size, const char *call)
{
	if (align <= MALLOC_ALIGN)
		return malloc_inline(size); /* not malloc's address: see bs_cxx_malloc */
	if (unlikely(size > PTRDIFF_MAX || align > PTRDIFF_MAX)) {
		errno = ENOMEM;
		return NULL;
	}
	if (align <= PAGE_SIZE && size <= SLAB_MAX_SIZE) {
		unsigned int cls = kmalloc_index_aligned(size ? size : 1, align);
		if (cls < nr_kmalloc_caches) {
			struct heap *heap = heap_get();
			if (unlikely(!heap)) {
				errno = ENOMEM;
				return NULL;
			}
			/* every object of the class is aligned, those in its
			 * bin too: popped as malloc does, not taken past the
			 * bin from the active slab (bench/micro: posix_memalign
			 * of 64-4096 B 8.4-15.6 -> 6.4-7.4 ns a pair) */
			struct kmalloc_bin *bin = heap->bins[cls];
			if (likely(bin->count)) {
				void **obj = bin->objects[--bin->count];
				obj[1] = NULL;
				return obj;
			}
			return class_alloc_empty(heap, cls, call);
		}
	}
	return large_alloc(size, align < PAGE_SIZE ? PAGE_SIZE : align, 0);
}

/* ---- realloc -------------------------------------------------------------- */

/*
 * realloc_growth_size - a block that realloc must move to grow gets room to
 * grow further: its page count rounded up to a quarter of its power of two
 * (4 steps per doubling, as jemalloc's size classes). A string or vector
 * grown page by page is then copied O(log n) times instead of n times, for
 * at most a quarter more memory on blocks that are growing anyway.
 */
static size_t realloc_growth_size(size_t size)
{
	unsigned long pages = pages_for_size(size);
	unsigned int order = order_for_pages(pages);
	unsigned long step = order >= 2 ? 1UL << (order - 2) : 1;
	pages = (pages + step - 1) & ~(step - 1);
	return pages << PAGE_SHIFT;
}

/* realloc_object_size - the size of @ptr's class if it is a live kmalloc
 * object (an object start, its key not set) in a page that free()'s map
 * names, found as free() finds it, without the slab's descriptor (realloc:
 * its load was 60 % of bs_realloc's samples); else 0, for usable_size to
 * judge. */
static always_inline size_t realloc_object_size(void *ptr, uintptr_t entry)
{
	uintptr_t p = (uintptr_t)ptr;
	unsigned int fc = entry_slab_class(entry, p);
	if (!fc)
		return 0;
	const struct kmem_cache *cache = &kmalloc_caches[free_class_cls(fc)];
	if (!object_start(p & cache_slab_mask(cache), cache->obj_magic, cache->obj_limit) ||
	    ((void **)ptr)[1] == entry_key(entry, p))
		return 0;
	return cache->object_size;
}

/* keeps_class - does a slab object of @old bytes keep its class when
 * realloc'd to @size <= @old? Unless that would waste half of it. */
static inline bool keeps_class(size_t size, size_t old)
{
	return size > old / 2 || old <= 16;
}

/*
 * shrink_moves - does a page block of @nr_pages, shrunk to @pages, move to
 * a block of its new size (a copy of at most a quarter of it) rather than
 * give its tail back in place? When it is one of the page caches' orders
 * and keeps a quarter or less. Its tail, given back, split the block:
 * the block came whole from the cache and went back to the zone in
 * pieces, which merged again only when the head was freed. A ring of 4000
 * messages, each calloc'd at 64 KiB and realloc'd to its 9-12 KiB, kept
 * 187 MiB of tails free between the heads, which the zone purged and the
 * next callocs faulted in again: 200,000 madvise calls, 6.5 s (glibc 0.7,
 * jemalloc 2.0; a subagent's test, 2026-11-28). Moved, the 64 KiB block
 * goes back to the cache whole, for the next message.
 */
static inline bool shrink_moves(unsigned long nr_pages, unsigned long pages)
{
	return nr_pages <= (1UL << PCP_MAX_ORDER) && pages * 4 <= nr_pages;
}

void *bs_realloc(void *ptr, size_t size)
{
	/* the common case first: a live kmalloc object, which keeps its
	 * class unless that would waste half of it */
	uintptr_t p = (uintptr_t)ptr;
	uintptr_t entry = pagemap_lookup(p);
	size_t old = 0;
	if (likely(entry & PAGEMAP_CHUNK) && size != 0) {
		old = realloc_object_size(ptr, entry);
		if (old && size <= old && keeps_class(size, old))
			return ptr;
	}
	if (!ptr)
		return bs_malloc(size);
	if (size == 0) {
		/* glibc frees and returns NULL */
		bs_free(ptr);
		return NULL;
	}
	if (!old)
		old = usable_size(ptr, "realloc");
	if (unlikely(size > PTRDIFF_MAX)) {
		errno = ENOMEM;
		return NULL;
	}
	struct chunk *chunk = entry_chunk(entry, p);
	if (!chunk) {
		/* a mapped block stays one while it is big enough; if the
		 * kernel will not resize or move it (the program split it into
		 * VMAs, or the process is at vm.max_map_count), it is copied,
		 * as glibc does */
		if (size > VMALLOC_MIN_SIZE) {
			int saved = errno;
			void *resized = vrealloc_area(entry_vm(entry), size);
			if (resized)
				return resized;
			errno = saved;
		}
	} else if (size <= old) {
		struct page *page = chunk_page(chunk, (uintptr_t)ptr);
		unsigned long used = pages_for_size(size);
		unsigned long pages = whole_block_pages(used);
		if (size > SLAB_MAX_SIZE && page->type == PAGE_LARGE &&
		    shrink_moves(page->nr_pages, pages)) {
			/* a shrink needs no memory: if the move finds none,
			 * in place (a review's finding: realloc returned NULL) */
			int saved = errno;
			void *moved = large_alloc(size, PAGE_SIZE, __GFP_NORETRY);
			if (moved) {
				memcpy(moved, ptr, size);
				bs_free(ptr);
				return moved;
			}
			errno = saved;
		}
		if (size > SLAB_MAX_SIZE && page->type == PAGE_LARGE) {
			/* shrink in place: give the tail pages back -- those
			 * past the whole block of the new size's order, up to
			 * LARGE_WHOLE_MAX_ORDER (large_alloc), so that the
			 * block and its tail stay buddy blocks */
			if (pages < page->nr_pages) {
				free_pages_range(page + pages, page->nr_pages - pages, 0);
				page->nr_pages = (uint32_t)pages;
			}
			page->used_pages = (uint32_t)used;
			return ptr;
		}
		if (keeps_class(size, old))
			return ptr;
	}
	void *fresh;
	if (size > old && size > SLAB_MAX_SIZE && size <= MAX_BLOCK_SIZE) {
		/* a page-level block (never a mapped one: entry is then a
		 * vm_area, not a chunk) grows within its block, or into the
		 * free pages after it, to a whole block's pages
		 * (LARGE_WHOLE_MAX_ORDER) */
		if (chunk) {
			struct page *page = chunk_page(chunk, (uintptr_t)ptr);
			unsigned long used = pages_for_size(size);
			unsigned long pages = whole_block_pages(used);
			if (page->type == PAGE_LARGE &&
			    (used <= page->nr_pages ||
			     grow_block_in_place(page, page->nr_pages, pages))) {
				if (used > page->nr_pages)
					page->nr_pages = (uint32_t)pages;
				page->used_pages = (uint32_t)used;
				return ptr;
			}
		}
		fresh = large_alloc(realloc_growth_size(size), PAGE_SIZE, 0);
	} else {
		fresh = bs_malloc(size);
	}
	if (!fresh)
		return NULL;
	memcpy(fresh, ptr, size < old ? size : old);
	bs_free(ptr);
	return fresh;
}

/* ---- statistics entry points ------------------------------------------------ */

void buddyslab_drain(void)
{
	buddyslab_init();
	vm_cache_drain();
	vm_dead_free(); /* first: the hot mapping's descriptor goes to the bins */
	struct heap *heap = heap_current();
	barn_expire(heap, 0);
	if (heap) {
		heap_release_slabs(heap, false);
		heap_vacate_slabs(heap);
		pcp_drain(&heap->pcp, 0);
	}
	heap_reclaim_abandoned();
	heap_reclaim_live(LIVE_RECLAIM_DRAIN);
	heap_pool_trim();
	zone_purge(0, true, 0);
}

int buddyslab_owns(const void *ptr)
{
	uintptr_t p = (uintptr_t)ptr;
	uintptr_t entry = pagemap_lookup(p);
	if (!ptr || !entry)
		return 0;
	struct vm_area *vm = entry_vm(entry);
	if (vm)
		return vm->addr == p && !vm_area_is_hot(vm);
	struct page *page = entry_page(entry, p);
	struct kmem_cache *cache;
	bool valid;
	struct page *slab = object_slab(page, p, &cache, &valid);
	if (slab) {
		if (!valid)
			return 0;
		return !slab_object_is_freed(slab, cache, (void *)ptr);
	}
	return (p & (PAGE_SIZE - 1)) == 0 &&
	       (page->type == PAGE_LARGE || page->type == PAGE_PAGES);
}

/* ---- the native page API ------------------------------------------------------ */

void *alloc_pages(gfp_t gfp, unsigned int order)
{
	buddyslab_init();
	if (order >= MAX_ORDER) {
		errno = EINVAL;
		return NULL;
	}
	if (heap_current() == NULL)
		heap_get();
	struct page *page = alloc_pages_node(gfp, order);
	kswapd_start_wanted();
	if (!page) {
		if (gfp & __GFP_NOFAIL)
			bs_panic("alloc_pages(): out of memory (__GFP_NOFAIL) for order %u", order);
		if (!(gfp & __GFP_NOWARN))
			bs_warn("alloc_pages: order %u allocation failed", order);
		errno = ENOMEM;
		return NULL;
	}
	uint8_t clean = page->flags & PG_clean;
	WRITE_ONCE(page->type, PAGE_PAGES);
	page->flags = 0;
	page->order = (uint8_t)order;
	void *addr = (void *)page_address(page);
	if ((gfp & __GFP_ZERO) && !(clean && os_purge_zeroes()))
		memset(addr, 0, PAGE_SIZE << order);
	return addr;
}

void *__get_free_pages(gfp_t gfp, unsigned int order)
{
	return alloc_pages(gfp, order);
}

void __free_pages(void *addr, unsigned int order)
{
	uintptr_t p = (uintptr_t)addr;
	if (!addr)
		return;
	struct page *page = virt_to_page(p);
	if (!page || (p & (PAGE_SIZE - 1)))
		bs_fatal("__free_pages", "invalid pointer", addr);
	if (page->type == PAGE_BUDDY || page->type == PAGE_PCP)
		bs_fatal("__free_pages", "double free detected", addr);
	if (page->type != PAGE_PAGES)
		bs_fatal("__free_pages", "not a page block", addr);
	if (page->order != order)
		bs_fatal("__free_pages", "wrong order for", addr);
	page->flags = 0;
	free_pages_node(page, order);
}

void free_pages(void *addr, unsigned int order)
{
	__free_pages(addr, order);
}

/* ---- the interposed API ---------------------------------------------------------- */
#ifndef BUDDYSLAB_NO_INTERPOSE

#define PUBLIC __attribute__((visibility("default")))

/* bs_trim - malloc_trim(): 1 if memory went back to the OS. */
static int bs_trim(void)
{
	unsigned long mapped_before = os_mapped_bytes();
	unsigned long purged_before = READ_ONCE(zone.nr_purged);
	unsigned long vacated_before = atomic_load(&slab_vacated_pages);
	unsigned long bins_before = atomic_load(&heap_bins_purged);
	buddyslab_drain();
	return os_mapped_bytes() != mapped_before || READ_ONCE(zone.nr_purged) != purged_before ||
	       atomic_load(&slab_vacated_pages) != vacated_before ||
	       atomic_load(&heap_bins_purged) != bins_before;
}

/* malloc and free are the fast paths themselves, not wrappers (a jump
 * each): aliases, with the visibility the interposition needs. */
PUBLIC void *malloc(size_t size) __attribute__((alias("bs_malloc")));
PUBLIC void free(void *ptr) __attribute__((alias("bs_free")));

PUBLIC void *calloc(size_t nmemb, size_t size)
{
	size_t total;
	if (unlikely(__builtin_mul_overflow(nmemb, size, &total) || total > PTRDIFF_MAX)) {
		errno = ENOMEM;
		return NULL;
	}
	if (total > SLAB_MAX_SIZE)
		return large_alloc(total, PAGE_SIZE, __GFP_ZERO);
	void *p = malloc_inline(total); /* not malloc's address: see bs_cxx_malloc */
	if (unlikely(!p))
		return NULL;
	return memset(p, 0, total); /* a tail call */
}

/* noinline: reallocarray calls it at its own address, see there */
PUBLIC noinline void *realloc(void *ptr, size_t size)
{
	return bs_realloc(ptr, size);
}

/* reallocarray - through realloc's address, not bs_realloc: valgrind (3.19),
 * run on a program with buddyslab preloaded, puts its own malloc, free and
 * realloc at their addresses, but has no reallocarray, and buddyslab's
 * would meet blocks of valgrind's heap. */
PUBLIC void *reallocarray(void *ptr, size_t nmemb, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(nmemb, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(ptr, total);
}

PUBLIC int posix_memalign(void **memptr, size_t alignment, size_t size)
{
	if (alignment < sizeof(void *) || (alignment & (alignment - 1)))
		return EINVAL;
	int saved = errno;
	void *p = bs_aligned(alignment, size, "posix_memalign");
	if (!p) {
		errno = saved;
		return ENOMEM;
	}
	*memptr = p;
	return 0;
}

PUBLIC void *aligned_alloc(size_t alignment, size_t size)
{
	if (alignment == 0 || (alignment & (alignment - 1))) {
		errno = EINVAL;
		return NULL;
	}
	return bs_aligned(alignment, size, "aligned_alloc");
}

PUBLIC void *memalign(size_t alignment, size_t size)
{
	/* glibc rounds a non-power-of-two alignment up */
	if (alignment & (alignment - 1)) {
		if (alignment > (SIZE_MAX >> 1) + 1) {
			errno = EINVAL;
			return NULL;
		}
		alignment = 1UL << (64 - __builtin_clzl(alignment));
	}
	return bs_aligned(alignment, size, "memalign");
}

PUBLIC void *valloc(size_t size)
{
	return bs_aligned(PAGE_SIZE, size, "valloc");
}

PUBLIC void *pvalloc(size_t size)
{
	if (size > PTRDIFF_MAX) {
		errno = ENOMEM;
		return NULL;
	}
	size_t rounded = (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	return bs_aligned(PAGE_SIZE, rounded ? rounded : PAGE_SIZE, "pvalloc");
}

/* malloc_usable_size - a live small block's size as realloc finds it
 * (realloc_object_size: the free class in the chunk's map, the object
 * start and the double-free key), without the slab's descriptor and its
 * bitmap of vacated objects, unless it is not one: 81 -> 49 instructions a
 * call with its caller's loop (callgrind, a subagent's `pat usable`: 2.6
 * times glibc's time, now 1.15; node and Redis-like code call it on every
 * allocation). Anything else, freed blocks and slabs with vacated objects
 * (their free class is 0) included, is judged by usable_size. */
PUBLIC size_t malloc_usable_size(void *ptr)
{
	if (!ptr)
		return 0;
	uintptr_t entry = pagemap_lookup((uintptr_t)ptr);
	if (likely(entry & PAGEMAP_CHUNK)) {
		size_t size = realloc_object_size(ptr, entry);
		if (likely(size))
			return size;
	}
	return usable_size(ptr, "malloc_usable_size");
}

PUBLIC int malloc_trim(size_t pad)
{
	(void)pad;
	return bs_trim();
}

/*
 * mallopt - buddyslab has none of glibc's fastbins, arenas, mmap threshold
 * or trim threshold: its tunables are in BUDDYSLAB_OPTIONS, read at start-up.
 * It answers as glibc 2.36 does, which refuses (0) only an M_MXFAST past
 * its largest fastbin size (80 * sizeof(size_t) / 4, 160 bytes; a negative
 * value too, as a size_t) and accepts (1) every other parameter and value,
 * unknown ones included: a program that checks the answer takes the same
 * branch as under glibc.
 */
PUBLIC int mallopt(int param, int value)
{
	if (param == M_MXFAST && (size_t)value > 80 * sizeof(size_t) / 4)
		return 0;
	return 1;
}

/*
 * glibc's own names for its allocator, exported beside malloc & co. A
 * program or a preloaded tool that calls __libc_malloc as "the real
 * malloc" (a malloc wrapper, a leak tracer) and frees with free -- or the
 * other way round -- would otherwise mix glibc's heap with buddyslab's,
 * and free() would report the other's blocks as invalid. cfree is the old
 * name of free (a compatibility symbol in glibc, for binaries linked
 * before 2.26). mimalloc and tcmalloc define these too.
 */
#if defined(__GNUC__) && !defined(__clang__)
#define ALIAS_OF(f) __attribute__((alias(#f), copy(f))) /* f's malloc, alloc_size... */
#else
#define ALIAS_OF(f) __attribute__((alias(#f)))
#endif
PUBLIC void *__libc_malloc(size_t size) __attribute__((alias("bs_malloc")));
PUBLIC void __libc_free(void *ptr) __attribute__((alias("bs_free")));
/* weak: profilers (perf) name an address by its non-weak symbol first,
 * then by its longest name, and free would show as cfree */
PUBLIC void cfree(void *ptr) __attribute__((weak, alias("bs_free")));
PUBLIC void *__libc_calloc(size_t nmemb, size_t size) ALIAS_OF(calloc);
PUBLIC void *__libc_realloc(void *ptr, size_t size) ALIAS_OF(realloc);
PUBLIC void *__libc_memalign(size_t alignment, size_t size) ALIAS_OF(memalign);
PUBLIC void *__libc_valloc(size_t size) ALIAS_OF(valloc);
PUBLIC void *__libc_pvalloc(size_t size) ALIAS_OF(pvalloc);
PUBLIC int __libc_mallopt(int param, int value) ALIAS_OF(mallopt);

/*
 * C23's free_sized and free_aligned_sized (glibc 2.43 has them; Debian 12's
 * 2.36 does not): free, the size and the alignment unused, as in glibc. A
 * program built against a C library that has them would otherwise hand
 * buddyslab's blocks to that library's free. Declared here: the headers
 * of an older C library do not.
 */
PUBLIC void free_sized(void *ptr, size_t size);
PUBLIC void free_aligned_sized(void *ptr, size_t alignment, size_t size);
void free_sized(void *ptr, size_t size)
{
	(void)size;
	bs_free(ptr);
}
void free_aligned_sized(void *ptr, size_t alignment, size_t size)
{
	(void)alignment;
	(void)size;
	bs_free(ptr);
}

/*
 * C++'s operator new(size_t) and operator delete(void *), the two hot ones:
 * malloc's and free's fast paths (operator_new.c has the other eighteen
 * forms and the rules all twenty follow). Weak: see operator_new.c.
 */
void *bs_operator_new(size_t size)
{
	void *p = malloc_inline(size);
	if (likely(p))
		return p;
	return cxx_new_failed(size, 0, false, __builtin_return_address(0));
}

PUBLIC void *_Znwm(size_t size) __attribute__((weak, alias("bs_operator_new")));

/* free's fast path, but not at free's address, nor jumping to it (see
 * bs_cxx_malloc) */
NO_FOLDING void bs_operator_delete(void *ptr)
{
	free_inline(ptr);
}
PUBLIC void _ZdlPv(void *ptr) __attribute__((weak, alias("bs_operator_delete")));

#endif /* BUDDYSLAB_NO_INTERPOSE */
