/*
 * vmalloc.c - blocks larger than the largest buddy block (4 MiB), each in a
 * mapping of its own, like the kernel's vmalloc.
 *
 * The mapping starts on a 4 MiB boundary (or the block's alignment if that
 * is larger) so that its 4 MiB granules are its alone; pagemap maps each of
 * them to the block's struct vm_area, which lets free()
 * tell the block's start from its middle or from foreign memory. There is no
 * header in the mapping: the user pointer is the mapping's start.
 *
 * realloc resizes with mremap: in place when the address space after the
 * block is free, else by moving the pages (no copy) to a fresh aligned
 * reservation with MREMAP_FIXED. free unmaps.
 *
 * Freed mappings are kept in a small cache (vm_cache, under vm_cache_lock)
 * for reuse by the next mapped block, so that a program that churns large
 * blocks does not map, fault and unmap each of them: at most VM_CACHE_SLOTS
 * mappings and vm_cache_mb MiB, each for at most purge_ms before it is
 * unmapped. The next block takes the smallest cached mapping that holds it
 * and is at most twice its size (shrunk to it), else the largest smaller
 * one, grown with mremap: a cached mapping's resident pages then serve the
 * new block rather than sit beside a fresh mapping, which would count both
 * in the peak RSS. Cached mappings are not in the pagemap: freeing a block
 * twice is still reported.
 *
 * Descriptors are kmalloc-32 objects. Besides the cache, no lock: a block is
 * only resized or freed by the one thread that owns the pointer.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

_Atomic unsigned long vm_nr_areas;
_Atomic unsigned long vm_bytes;

static size_t vm_align(size_t align)
{
	return align > CHUNK_SIZE ? align : CHUNK_SIZE;
}

/* ---- the cache of freed mappings ----------------------------------------- */

#define VM_CACHE_SLOTS 16
/* vm_cache_mb's default: a mapping is cached if it is at most half the
 * limit, so 128 MiB caches blocks of up to 64 MiB, and two of 32. With 64,
 * largeblock (8 live blocks of 64 KiB-32 MiB, replaced at random) mapped
 * and faulted in most of its big blocks afresh: 1.67 -> 1.05 s, 1.03M ->
 * 0.63M faults, peak RSS 183 -> 191 MiB (jemalloc 208), side by side. A
 * cached mapping stays at most purge_ms, so the memory it holds is brief. */
#define VM_CACHE_DEFAULT_MB 128

struct vm_cached {
	uintptr_t addr;   /* 0: slot unused */
	size_t size;
	uint64_t stamp;   /* zone_clock_ms() when freed */
};

pthread_mutex_t vm_cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vm_cached vm_cache[VM_CACHE_SLOTS];
static size_t vm_cache_bytes;

static size_t vm_cache_limit(void)
{
	return (size_t)(options.vm_cache_mb > 0 ? options.vm_cache_mb : VM_CACHE_DEFAULT_MB) << 20;
}

/* vm_cache_trim - unmap cached mappings older than @max_age_ms (0: all).
 * Caller holds vm_cache_lock. */
static void vm_cache_trim_locked(uint64_t max_age_ms)
{
	uint64_t now = zone_clock_ms();
	for (int i = 0; i < VM_CACHE_SLOTS; i++) {
		struct vm_cached *slot = &vm_cache[i];
		if (slot->addr && (max_age_ms == 0 || now - slot->stamp >= max_age_ms)) {
			os_unmap((void *)slot->addr, slot->size);
			vm_cache_bytes -= slot->size;
			slot->addr = 0;
		}
	}
}

void vm_cache_drain(void)
{
	vm_cache_trim(0);
}

/* vm_cache_trim - unmap cached mappings unused for @max_age_ms (0: all). */
void vm_cache_trim(uint64_t max_age_ms)
{
	pthread_mutex_lock(&vm_cache_lock);
	vm_cache_trim_locked(max_age_ms);
	pthread_mutex_unlock(&vm_cache_lock);
}

/* vm_cache_take - a cached mapping resized to @size, *@dirty set to how
 * many of its first bytes may hold old contents; NULL if none is at most
 * twice @size. The smallest one that holds @size and is at most twice that is
 * shrunk to it (its tail goes back to the OS); if none does, the largest
 * smaller one is grown with mremap, in place or moved (pages, not bytes) to
 * a fresh aligned reservation. */
static void *vm_cache_take(size_t size, size_t *dirty)
{
	struct vm_cached best = { 0, 0, 0 };
	pthread_mutex_lock(&vm_cache_lock);
	int best_index = -1;
	for (int i = 0; i < VM_CACHE_SLOTS; i++) {
		struct vm_cached *slot = &vm_cache[i];
		if (!slot->addr || slot->size / 2 > size)
			continue;
		if (best_index < 0) {
			best_index = i;
			continue;
		}
		size_t cur = vm_cache[best_index].size;
		if (cur >= size ? slot->size >= size && slot->size < cur : slot->size > cur)
			best_index = i;
	}
	if (best_index >= 0) {
		best = vm_cache[best_index];
		vm_cache[best_index].addr = 0;
		vm_cache_bytes -= best.size;
	}
	vm_cache_trim_locked(zone.purge_ms);
	pthread_mutex_unlock(&vm_cache_lock);
	if (!best.addr)
		return NULL;
	*dirty = best.size < size ? best.size : size;
	if (best.size > size && !os_remap((void *)best.addr, best.size, size, NULL)) {
		os_unmap((void *)best.addr, best.size);
		return NULL;
	}
	if (best.size < size && !os_grow_in_place((void *)best.addr, best.size, size)) {
		void *target = os_map(size, CHUNK_SIZE);
		void *moved = target ? os_remap((void *)best.addr, best.size, size, target) : NULL;
		if (!moved) {
			if (target)
				os_unmap(target, size);
			os_unmap((void *)best.addr, best.size);
			return NULL;
		}
		return moved;
	}
	return (void *)best.addr;
}

/* vm_cache_put - keep a freed mapping for reuse; false if it does not fit
 * (the caller unmaps it). The oldest entry makes room. */
static bool vm_cache_put(uintptr_t addr, size_t size)
{
	size_t limit = vm_cache_limit();
	if (size > limit / 2)
		return false;
	pthread_mutex_lock(&vm_cache_lock);
	vm_cache_trim_locked(zone.purge_ms);
	int slot_index = -1;
	for (;;) {
		int oldest = -1;
		for (int i = 0; i < VM_CACHE_SLOTS; i++) {
			if (!vm_cache[i].addr) {
				if (slot_index < 0)
					slot_index = i;
			} else if (oldest < 0 || vm_cache[i].stamp < vm_cache[oldest].stamp) {
				oldest = i;
			}
		}
		if (slot_index >= 0 && vm_cache_bytes + size <= limit)
			break;
		/* evict the oldest to make room */
		os_unmap((void *)vm_cache[oldest].addr, vm_cache[oldest].size);
		vm_cache_bytes -= vm_cache[oldest].size;
		vm_cache[oldest].addr = 0;
		slot_index = -1;
	}
	vm_cache[slot_index] = (struct vm_cached){ addr, size, zone_clock_ms() };
	vm_cache_bytes += size;
	pthread_mutex_unlock(&vm_cache_lock);
	return true;
}

static void *vm_map(size_t size, size_t align, gfp_t gfp)
{
	void *p = os_map(size, align);
	if (!p && !(gfp & __GFP_NORETRY)) {
		/* direct reclaim: free chunks and cached mappings give their
		 * address space back */
		vm_cache_drain();
		zone_reclaim(gfp, true);
		p = os_map(size, align);
	}
	return p;
}

void *vmalloc_node(size_t size, size_t align, gfp_t gfp)
{
	if (size > PTRDIFF_MAX - CHUNK_SIZE || align > PTRDIFF_MAX / 2) {
		errno = ENOMEM;
		return NULL;
	}
	size_t mapsize = (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	if (mapsize == 0)
		mapsize = PAGE_SIZE;
	struct vm_area *vm = kmalloc_obj(sizeof(*vm), 0);
	if (!vm)
		return NULL;
	void *p = NULL;
	if (vm_align(align) == CHUNK_SIZE) {
		size_t dirty;
		p = vm_cache_take(mapsize, &dirty);
		if (p && (gfp & __GFP_ZERO))
			memset(p, 0, dirty);
	}
	if (!p)
		p = vm_map(mapsize, vm_align(align), gfp);
	if (!p) {
		bs_free(vm);
		errno = ENOMEM;
		return NULL;
	}
	vm->addr = (uintptr_t)p;
	vm->size = mapsize;
	vm->align = vm_align(align);
	vm->magic = VM_MAGIC;
	if (!pagemap_set_range(vm->addr, mapsize, (uintptr_t)vm)) {
		os_unmap(p, mapsize);
		bs_free(vm);
		errno = ENOMEM;
		return NULL;
	}
	atomic_fetch_add_explicit(&vm_nr_areas, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&vm_bytes, mapsize, memory_order_relaxed);
	return p;
}

void vfree_area(struct vm_area *vm)
{
	pagemap_clear_range(vm->addr, vm->size);
	if (vm->align != CHUNK_SIZE || !vm_cache_put(vm->addr, vm->size))
		os_unmap((void *)vm->addr, vm->size);
	atomic_fetch_sub_explicit(&vm_nr_areas, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&vm_bytes, vm->size, memory_order_relaxed);
	vm->magic = 0;
	bs_free(vm);
}

/* granule_end - the end of the last 4 MiB granule that [addr, addr+size)
 * touches: pagemap entries cover whole granules. */
static uintptr_t granule_end(uintptr_t addr, size_t size)
{
	return (addr + size + CHUNK_SIZE - 1) & ~(CHUNK_SIZE - 1);
}

/* vrealloc_area - resize to @size (> MAX_BLOCK_SIZE). The contents move
 * with the pages. NULL (old block intact) when the OS refuses. */
void *vrealloc_area(struct vm_area *vm, size_t size)
{
	if (size > PTRDIFF_MAX - CHUNK_SIZE) {
		errno = ENOMEM;
		return NULL;
	}
	size_t newsize = (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	size_t oldsize = vm->size;
	if (newsize == oldsize)
		return (void *)vm->addr;
	if (newsize < oldsize) {
		/* the pagemap lets go of the granules first: once the kernel has
		 * the range back, another thread may map a chunk there and set
		 * them itself */
		uintptr_t keep = granule_end(vm->addr, newsize);
		uintptr_t old_end = granule_end(vm->addr, oldsize);
		if (old_end > keep)
			pagemap_clear_range(keep, old_end - keep);
		if (!os_remap((void *)vm->addr, oldsize, newsize, NULL)) {
			if (old_end > keep)
				pagemap_set_range(keep, old_end - keep, (uintptr_t)vm);
			return (void *)vm->addr; /* keep the bigger mapping */
		}
		vm->size = newsize;
		atomic_fetch_sub_explicit(&vm_bytes, oldsize - newsize, memory_order_relaxed);
		return (void *)vm->addr;
	}
	/* grow: in place if the address space after it is free */
	if (os_grow_in_place((void *)vm->addr, oldsize, newsize)) {
		/* only the granules it grows into: a failure (a page of the
		 * pagemap's table not made writable) must not clear the
		 * entries of the block that stays */
		uintptr_t old_end = granule_end(vm->addr, oldsize);
		uintptr_t new_end = granule_end(vm->addr, newsize);
		if (new_end > old_end &&
		    !pagemap_set_range(old_end, new_end - old_end, (uintptr_t)vm)) {
			os_remap((void *)vm->addr, newsize, oldsize, NULL);
			errno = ENOMEM;
			return NULL;
		}
		vm->size = newsize;
		atomic_fetch_add_explicit(&vm_bytes, newsize - oldsize, memory_order_relaxed);
		return (void *)vm->addr;
	}
	/* move: reserve an aligned place, then move the pages there */
	void *target = vm_map(newsize, vm->align, 0);
	if (!target) {
		errno = ENOMEM;
		return NULL;
	}
	if (!pagemap_set_range((uintptr_t)target, newsize, (uintptr_t)vm)) {
		os_unmap(target, newsize);
		errno = ENOMEM;
		return NULL;
	}
	/* as for a shrink: the old range's granules go before the range does */
	pagemap_clear_range(vm->addr, oldsize);
	void *moved = os_remap((void *)vm->addr, oldsize, newsize, target);
	if (!moved) {
		pagemap_set_range(vm->addr, oldsize, (uintptr_t)vm);
		pagemap_clear_range((uintptr_t)target, newsize);
		os_unmap(target, newsize);
		errno = ENOMEM;
		return NULL;
	}
	vm->addr = (uintptr_t)moved;
	vm->size = newsize;
	atomic_fetch_add_explicit(&vm_bytes, newsize - oldsize, memory_order_relaxed);
	return moved;
}

/* ---- the public vmalloc API --------------------------------------------- */

void *vmalloc(size_t size)
{
	buddyslab_init();
	return vmalloc_node(size, PAGE_SIZE, 0);
}

void *vzalloc(size_t size)
{
	buddyslab_init();
	return vmalloc_node(size, PAGE_SIZE, __GFP_ZERO);
}

void vfree(const void *addr)
{
	bs_free_call((void *)addr, "vfree");
}
