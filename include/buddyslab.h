/*
 * buddyslab.h - the native, kernel-style API of buddyslab.
 *
 * buddyslab is a malloc replacement built like the Linux kernel's memory
 * manager: a buddy page allocator, per-thread page caches (the kernel's
 * per_cpu_pages), kmem_cache slab caches and a vmalloc-like mapped path.
 * The standard malloc API is interposed by the library itself; this header
 * exposes the layers underneath to programs that link with -lbuddyslab.
 *
 * Differences from the kernel, where user space calls for them:
 *  - alloc_pages() returns the address of the block, not a struct page *
 *    (the kernel's __get_free_pages() does the same; both names exist here).
 *  - There is one zone. GFP flags only carry the modifiers below.
 *
 * All functions are thread-safe. None of them may be called from a signal
 * handler that interrupted the allocator.
 */
#ifndef BUDDYSLAB_H
#define BUDDYSLAB_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libbuddyslab even though it is built -fvisibility=hidden. */
#pragma GCC visibility push(default)

/* ---- GFP flags -------------------------------------------------------- */
typedef unsigned int gfp_t;

#define GFP_KERNEL     0x00u /* default: may reclaim, may fail (alloc_pages then warns) */
#define __GFP_ZERO     0x01u /* return zeroed memory */
#define __GFP_NORETRY  0x02u /* fail fast: no reclaim when the OS refuses memory */
#define __GFP_NOFAIL   0x04u /* keep reclaiming and retrying (2 s); report and abort
                                rather than fail */
#define __GFP_NOWARN   0x08u /* alloc_pages: no warning when it fails (the others
                                never warn) */
#define __GFP_HIGH     0x10u /* may dip into the zone's emergency reserve (min watermark) */

#define BUDDYSLAB_PAGE_SHIFT 12
#define BUDDYSLAB_PAGE_SIZE  (1UL << BUDDYSLAB_PAGE_SHIFT)
#define BUDDYSLAB_MAX_ORDER  11 /* orders 0 .. MAX_ORDER-1: 4 KiB .. 4 MiB */

/* ---- page allocator ----------------------------------------------------- */

/*
 * alloc_pages - allocate 2^order contiguous pages, aligned to their size.
 * Returns the address of the first page, or NULL (errno ENOMEM) when the
 * memory cannot be had, or errno EINVAL when order >= BUDDYSLAB_MAX_ORDER.
 * Orders 0..3 come from the calling thread's page cache without a lock.
 */
void *alloc_pages(gfp_t gfp_mask, unsigned int order);
/* __get_free_pages - the same as alloc_pages(), under the kernel's other name. */
void *__get_free_pages(gfp_t gfp_mask, unsigned int order);
/*
 * __free_pages - give back a block from alloc_pages(). The order must be the
 * one it was allocated with; a wrong order or an address that is not the
 * start of a page block is reported and the program aborts.
 */
void __free_pages(void *addr, unsigned int order);
/* free_pages - the same as __free_pages(). */
void free_pages(void *addr, unsigned int order);

/* ---- slab caches -------------------------------------------------------- */

struct kmem_cache;

/* kmem_cache_create flags */
#define SLAB_HWCACHE_ALIGN 0x2000UL /* align objects to the 64-byte cache line */
#define SLAB_PANIC         0x40000UL /* abort instead of returning NULL on failure */

/*
 * kmem_cache_create - create a cache of objects of @size bytes.
 * @name:  shown in slabinfo (copied; at most 31 characters are kept)
 * @size:  object size, 1 .. 1 MiB
 * @align: required alignment (0 or a power of two up to 4096)
 * @flags: SLAB_HWCACHE_ALIGN, SLAB_PANIC
 * @ctor:  optional constructor, called once for each object when its slab is
 *         created (not on every allocation, as in the kernel): objects must be
 *         returned to the cache in their constructed state.
 * A free object holds a free pointer and a double-free key: in its first 16
 * bytes (objects are 16 bytes at least), or, with a ctor, in 16 bytes after
 * it. A second free of an object is reported and aborts, as free()'s.
 * Returns NULL (errno EINVAL or ENOMEM) on failure. At most 474 caches
 * exist at once (ENOMEM beyond; kmem_cache_destroy frees a place).
 */
struct kmem_cache *kmem_cache_create(const char *name, size_t size, size_t align,
                                     unsigned long flags, void (*ctor)(void *));
/* kmem_cache_alloc - one object; __GFP_ZERO zeroes it. NULL + ENOMEM on failure. */
void *kmem_cache_alloc(struct kmem_cache *cachep, gfp_t flags);
/*
 * kmem_cache_free - give an object back to the cache it came from. Any thread
 * may free any object. An object of another cache is reported and aborts.
 */
void kmem_cache_free(struct kmem_cache *cachep, void *objp);
/*
 * kmem_cache_destroy - destroy a cache whose objects have all been freed.
 * As in the kernel, objects still allocated are reported on stderr and leaked
 * with their slabs: at once, or, for objects in slabs of another live thread,
 * when that thread lets the cache go. Slabs cached by other live threads are
 * released by those threads the next time they refill any cache. Freeing a
 * leaked object afterwards is reported ("object of a destroyed cache") and
 * aborts.
 */
void kmem_cache_destroy(struct kmem_cache *cachep);
/* kmem_cache_size - the usable size of each object of the cache. */
size_t kmem_cache_size(struct kmem_cache *cachep);

/* ---- large, separately mapped blocks ------------------------------------ */

/* vmalloc - a block with its own mapping (any size; page-aligned). */
void *vmalloc(size_t size);
/* vzalloc - vmalloc, zeroed. */
void *vzalloc(size_t size);
/* vfree - free a block from vmalloc() (or any pointer from malloc()). */
void vfree(const void *addr);

/* ---- reports ------------------------------------------------------------ */

#define BUDDYSLAB_REPORT_BUDDYINFO 0x01u /* like /proc/buddyinfo */
#define BUDDYSLAB_REPORT_SLABINFO  0x02u /* like /proc/slabinfo */
#define BUDDYSLAB_REPORT_ZONEINFO  0x04u /* watermarks, mapped bytes, RSS */
#define BUDDYSLAB_REPORT_PCP       0x08u /* per-thread page caches */
#define BUDDYSLAB_REPORT_ALL       0x0fu

/* buddyslab_report - write the chosen reports to file descriptor @fd. */
void buddyslab_report(int fd, unsigned int what);

/* buddyslab_owns - 1 if @ptr is the start of a live block that buddyslab
 * handed out (malloc, kmem_cache_alloc, alloc_pages, vmalloc), else 0. Never
 * aborts: use it to test a pointer before freeing it. */
int buddyslab_owns(const void *ptr);

/* buddyslab_drain - give back the calling thread's cached pages and empty
 * slabs, collect what other threads freed into them, and return free memory
 * above the watermarks to the OS (what malloc_trim(0) does, for all threads'
 * abandoned caches too). */
void buddyslab_drain(void);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* BUDDYSLAB_H */
