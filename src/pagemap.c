/*
 * pagemap.c - from any address to the chunk or vm_area that owns it, in O(1).
 *
 * A two-level radix tree over the 48-bit address space at 4 MiB granules:
 *   root[addr >> 35]  ->  leaf[(addr >> 22) & 8191]  ->  entry
 * The root (64 KiB) is in .bss; leaves (64 KiB each) are mapped on first use
 * and never unmapped, so a lock-free reader never sees a leaf disappear. An
 * entry is a struct chunk * | PAGEMAP_CHUNK, or a struct vm_area *, or 0 for
 * memory that buddyslab does not own (stack, other mappings, freed chunks).
 *
 * Writers hold pagemap_lock (only to install leaves); entries are published
 * with release stores after the owner is fully initialised.
 */
#include "internal.h"

#define LEAF_ENTRIES (1UL << PAGEMAP_LEAF_BITS)

_Atomic(uintptr_t *) pagemap_root[1UL << PAGEMAP_ROOT_BITS];
pthread_mutex_t pagemap_lock = PTHREAD_MUTEX_INITIALIZER;

static uintptr_t *pagemap_leaf(uintptr_t addr, bool create)
{
	uintptr_t root_index = addr >> (CHUNK_SHIFT + PAGEMAP_LEAF_BITS);
	if (root_index >= (1UL << PAGEMAP_ROOT_BITS))
		return NULL;
	uintptr_t *leaf = atomic_load_explicit(&pagemap_root[root_index], memory_order_acquire);
	if (leaf || !create)
		return leaf;
	pthread_mutex_lock(&pagemap_lock);
	leaf = atomic_load_explicit(&pagemap_root[root_index], memory_order_relaxed);
	if (!leaf) {
		leaf = os_map(LEAF_ENTRIES * sizeof(uintptr_t), PAGE_SIZE);
		if (leaf)
			atomic_store_explicit(&pagemap_root[root_index], leaf, memory_order_release);
	}
	pthread_mutex_unlock(&pagemap_lock);
	return leaf;
}

/* pagemap_set_range - map every granule of [start, start+size) to @value.
 * start is CHUNK_SIZE aligned. Fails (false) only if a leaf cannot be mapped;
 * then nothing is left set. */
bool pagemap_set_range(uintptr_t start, size_t size, uintptr_t value)
{
	for (uintptr_t a = start; a < start + size; a += CHUNK_SIZE) {
		uintptr_t *leaf = pagemap_leaf(a, true);
		if (!leaf) {
			pagemap_clear_range(start, a - start);
			return false;
		}
		__atomic_store_n(&leaf[(a >> CHUNK_SHIFT) & (LEAF_ENTRIES - 1)], value,
				 __ATOMIC_RELEASE);
	}
	return true;
}

void pagemap_clear_range(uintptr_t start, size_t size)
{
	for (uintptr_t a = start; a < start + size; a += CHUNK_SIZE) {
		uintptr_t *leaf = pagemap_leaf(a, false);
		if (leaf)
			__atomic_store_n(&leaf[(a >> CHUNK_SHIFT) & (LEAF_ENTRIES - 1)], 0,
					 __ATOMIC_RELEASE);
	}
}

uintptr_t page_address(struct page *page)
{
	struct chunk *c = page_chunk(page);
	return chunk_page_addr(c, page);
}

/* virt_to_page - the descriptor of the page at @p, or NULL if buddyslab's
 * buddy allocator does not own @p. */
struct page *virt_to_page(uintptr_t p)
{
	struct chunk *c = entry_chunk(pagemap_lookup(p));
	return c ? chunk_page(c, p) : NULL;
}
