/*
 * slab.c - kmem_cache: slab caches for malloc's small sizes ("kmalloc-N")
 * and for the public kmem_cache_create() API.
 *
 * A slab is a block of 2^order pages from the page allocator, cut into
 * objects of cache->size bytes. Free objects are chained through a pointer
 * stored in the object at cache->offset (0 for kmalloc caches), as in SLUB.
 * The slab's metadata is its head page's struct page.
 *
 * Ownership. Every slab belongs to one heap (slab->owner), i.e. one thread:
 *  - the owner allocates from its active slab (kmem_cache_cpu->slab) and
 *    frees into any of its slabs with plain loads and stores;
 *  - any other thread frees with one compare-and-swap onto the slab's
 *    remote free list, slab_remote(slab)->list, which lives in the chunk's
 *    remote[] array, off the cache line of the owner's fields.
 *    The free that makes that list non-empty also sets REMOTE_NOTIFIED and
 *    pushes the slab onto owner->remote_slabs, so the owner finds it in its
 *    slow path (heap_collect_remote) without scanning. The owner never
 *    releases a slab while REMOTE_NOTIFIED is set: the notifier may still
 *    be about to push it.
 *  - the owner's slow paths hold the heap's slab lock (heap_slabs_lock,
 *    internal.h): one compare-and-swap a refill or a flush, so that
 *    another thread may collect the remote frees of a live heap whose
 *    owner sits idle, and give back the slabs they empty
 *    (heap_collect_live: the threads that free into it, heap_look_idle;
 *    direct reclaim, malloc_trim, kswapd). A collector leaves
 *    the bins alone, and the slabs of kmem_cache_create() caches, which
 *    the owner's kmem_cache_alloc and kmem_cache_free fast paths write
 *    without the lock.
 *  - a heap outlives its thread (thread.c): owner pointers stay valid.
 *
 * Slab lists per heap and cache (struct kmem_cache_cpu): the active slab,
 * slabs_partial, slabs_full, slabs_empty. The state bits in slab->flags say
 * which one a slab is on. A slab moves
 *   active -> full      when its freelist runs dry (slab_alloc_slow)
 *   full -> partial     when the owner frees into it or collects remote frees
 *   partial -> empty    when its last object comes back; beyond
 *                       SLAB_EMPTY_RESERVE empty slabs per cache, its pages
 *                       go back to the page allocator.
 *   partial/empty -> active  when the active slab runs dry.
 *
 * kmalloc bins (struct kmalloc_bin, the kernel's percpu sheaves): in front
 * of the kmalloc caches, each heap keeps a stack of free objects per class.
 * malloc() pops it and free() pushes onto it (malloc.c), whichever heap owns
 * the object's slab -- but another heap's objects under a cache line go to
 * the remote bin (struct remote_bin), not to be handed out again here. An
 * empty bin is refilled from the active slab, half its capacity in one go
 * (bin_refill; or from the barn, below); a full one gives its older half
 * back to the slabs (bin_flush; or to the barn): the heap's own with plain
 * stores, other heaps' in chains,
 * one CAS per run of one slab (slab_free_remote_chain), as the remote bin
 * does when it is full. Objects in bins count in their slab's inuse.
 *
 * The barn (struct barn, the kernel's node_barn of full sheaves): when a
 * full bin's older half are other heaps' objects (the oldest one says), the
 * half goes as one sheaf into its class's barn, shared by all heaps, instead
 * of home object by object; an empty bin is refilled from a barn sheaf
 * before its slabs. A thread that frees what others allocated (a pipeline's
 * consumer) so hands whole sheaves to the threads that allocate, a memcpy
 * each way under the barn's lock, which is only ever tried on those paths
 * (busy: the old way). Up to BARN_SHEAVES sheaves per class; sheaves older
 * than purge_ms go home (barn_expire, from the bins' garbage collection, a
 * thread's exit and kswapd), and all of them on buddyslab_drain and direct
 * reclaim. Objects
 * in the barn keep their double-free keys and count in their slabs' inuse,
 * as in a bin. Classes under a cache line have no barn (the remote bin).
 *
 * Every refill and full flush also takes one step of the bins' garbage
 * collection (heap_bin_gc): a bin the thread left alone gives back half
 * its objects at each look, and once it stays empty, its class's empty
 * slabs go back too.
 *
 * Vacated objects (slab_vacate). A partial slab of a big class (multi-page
 * slabs, 2 KiB and up) may hold whole pages that only free objects
 * cover. While a heap's bin of that class keeps giving objects back and
 * taking none (the program is shrinking that class), those pages go back
 * to the OS. A free object that overlaps a page that went leaves the
 * freelist (its free pointer may have gone with it) for the slab->vacated
 * bitmap; it is handed out when the freelist is empty. Invariant: free
 * objects = freelist + vacated objects, disjoint; inuse + both = objects.
 *
 * Fast paths: malloc.c's bin pop and push; kmem_cache_alloc pops
 * slab->freelist, inuse++. Slow paths here: bin_refill, bin_flush,
 * slab_alloc_slow, slab_free_slow, slab_free_remote.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* Empty slabs each heap keeps per cache before giving pages back: one (the
 * slab_max option) is enough to absorb an alloc/free cycle at a slab
 * boundary (the kernel's min_partial plays this part). */
#define SLAB_EMPTY_RESERVE ((uint32_t)options.slab_max)

/* The barn (struct barn): sheaves per class, and the objects a sheaf
 * holds, a full bin's older half (capacity - capacity / 2) of the classes
 * from a cache line up (checked by slab_init) */
#define BARN_SHEAVES 8
#define BARN_SLOTS (BIN_BYTES / KMALLOC_LINE_SIZE / 2)
#define NR_BARNS (NR_KMALLOC_CLASSES - NR_LINE_SHARING_CLASSES)

struct kmem_cache *kmem_caches[MAX_CACHES];
pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
_Atomic unsigned int kmem_cache_destroy_gen;
/* every cache id ever handed out is below it (raised under cache_lock,
 * never lowered): the walks of a heap's cpu[] stop there, not at
 * MAX_CACHES (heap_release_slabs ran 512 steps for 38 kmalloc caches, at
 * every thread exit and for every pooled heap at every reclaim) */
static _Atomic unsigned int cache_id_limit;

/* The sentinel active slab: no free object, so the fast path falls through
 * to the slow path without a NULL test of its own. */
struct page empty_slab = { .type = PAGE_SLAB, .flags = SLAB_ACTIVE };

/* ---- kmalloc size classes ------------------------------------------------ */

/* Steps of 16 to 128, then four classes per power of two up to
 * SLAB_MAX_SIZE, and one an eighth above each power of two from 128 (144,
 * 288 ... 4608): a power of two and a small header took the class a
 * quarter above it, a fifth of it wasted -- sqlite's blocks carry an
 * 8-byte size (1032, 4104) and its page cache entries are 4096 + 272. With
 * them (side by side, 3 runs each) sqlite3 on an in-memory database of
 * 320k rows (scripts/bench --programs) peaked at 107.6 MiB, not 124.6
 * (glibc 97.0), perl at 33.0 MiB, not 36.9; the workloads did not move.
 * Every class is a multiple of 16, so every block is 16-byte aligned as
 * glibc's are (programs rely on it even for tiny blocks); above
 * KMALLOC_DIRECT_MAX every class is a multiple of 256. */
static const uint32_t kmalloc_sizes[] = {
	16, 32, 48, 64, 80, 96, 112, 128,
	144, 160, 192, 224, 256, 288, 320, 384, 448, 512,
	576, 640, 768, 896, 1024, 1152, 1280, 1536, 1792, 2048,
	2304, 2560, 3072, 3584, 4096, 4608, 5120, 6144, 7168, 8192,
};
#define NR_KMALLOC ARRAY_SIZE(kmalloc_sizes)
_Static_assert(NR_KMALLOC <= ARRAY_SIZE(((struct heap *)0)->kmalloc), "heap->kmalloc[] holds every class");
_Static_assert(NR_KMALLOC == NR_KMALLOC_CLASSES, "a bin per class");
_Static_assert(NR_LINE_SHARING_CLASSES < NR_KMALLOC, "classes below a cache line");

struct kmem_cache kmalloc_caches[NR_KMALLOC];
unsigned int nr_kmalloc_caches = NR_KMALLOC;
/* size classes by (size + 7) >> 3 up to KMALLOC_DIRECT_MAX, and by
 * (size - 1) >> 8 above it (every class there is a multiple of 256):
 * filled by slab_init */
uint8_t kmalloc_index_small[KMALLOC_DIRECT_MAX / 8 + 1];
static uint8_t kmalloc_index_big[SLAB_MAX_SIZE / 256];

/* kmalloc_index - size class of a request of @size bytes (<= SLAB_MAX_SIZE). */
unsigned int kmalloc_index(size_t size)
{
	if (size <= KMALLOC_DIRECT_MAX)
		return kmalloc_index_small[(size + 7) >> 3];
	return kmalloc_index_big[(size - 1) >> 8];
}

/* kmalloc_index_aligned - a class whose objects are all aligned to @align
 * (<= PAGE_SIZE) and hold @size bytes; NR_KMALLOC if none. Objects sit at
 * multiples of the class size from a page-aligned base, so a class size
 * that is a multiple of @align is aligned. */
unsigned int kmalloc_index_aligned(size_t size, size_t align)
{
	size_t rounded = (size + align - 1) & ~(align - 1);
	if (rounded > SLAB_MAX_SIZE)
		return NR_KMALLOC;
	for (unsigned int i = kmalloc_index(rounded); i < NR_KMALLOC; i++)
		if ((kmalloc_sizes[i] & (align - 1)) == 0)
			return i;
	return NR_KMALLOC;
}

/* calculate_order - the smallest slab order (0..max_order) that holds at
 * least 4 objects with at most 1/8 of the slab wasted; else the least
 * wasteful. kmalloc caches stop at order 3 (PAGE_ALLOC_COSTLY_ORDER, as
 * the kernel's do); kmem_cache_create() caches of big objects may use
 * up to the largest order. */
#define SLAB_MIN_OBJECTS 4
static unsigned int calculate_order(uint32_t size, unsigned int max_order)
{
	unsigned int best = max_order;
	unsigned long best_waste_ppm = ~0UL;
	for (unsigned int order = 0; order <= max_order; order++) {
		unsigned long bytes = PAGE_SIZE << order;
		unsigned long objects = bytes / size;
		if (objects == 0)
			continue;
		unsigned long waste = bytes - objects * size;
		if (objects >= SLAB_MIN_OBJECTS && waste * 8 <= bytes)
			return order;
		unsigned long ppm = waste * 1000000 / bytes;
		if (ppm < best_waste_ppm) {
			best_waste_ppm = ppm;
			best = order;
		}
	}
	return best;
}

static void cache_setup(struct kmem_cache *cache, const char *name, uint32_t object_size,
			uint32_t align, uint32_t offset, uint32_t size, void (*ctor)(void *),
			unsigned int max_order)
{
	cache->object_size = object_size;
	cache->size = size;
	cache->offset = offset;
	cache->align = (uint16_t)align;
	cache->ctor = ctor;
	cache->order = (uint8_t)calculate_order(size, max_order);
	unsigned long bytes = PAGE_SIZE << cache->order;
	cache->objects = (uint16_t)(bytes / size);
	cache->used_bytes = cache->objects * size;
	cache->vacatable = 0;
	/* free()'s object start test (struct page): e = size * magic - 2^64 */
	cache->obj_magic = UINT64_MAX / size + 1;
	uint64_t e = cache->obj_magic * size;
	cache->obj_limit = e ? (uint32_t)(cache->objects * e) : 1;
	size_t n = strlen(name);
	if (n >= sizeof(cache->name))
		n = sizeof(cache->name) - 1;
	memcpy(cache->name, name, n);
	cache->name[n] = '\0';
	atomic_store(&cache->dead, 0);
	atomic_store(&cache->refs, 1);
	atomic_store(&cache->nr_slabs, 0);
}

/* bin_capacity - the objects a bin of @object_size holds: BIN_BYTES worth,
 * 4 to BIN_MAX_SLOTS. */
static uint32_t bin_capacity(uint32_t object_size)
{
	uint32_t capacity = BIN_BYTES / object_size;
	if (capacity < 4)
		capacity = 4;
	if (capacity > BIN_MAX_SLOTS)
		capacity = BIN_MAX_SLOTS;
	return capacity;
}

/* bin_capacity_max - the objects a bin of @object_size may hold once
 * grown (bin_flush_full): BIN_GROWTH times its first capacity, at most two
 * barn sheaves, so that its older half still fits one. Classes under a
 * cache line keep theirs (they hold BIN_BYTES in 682 objects and up). */
static uint32_t bin_capacity_max(uint32_t object_size)
{
	uint32_t capacity = bin_capacity(object_size);
	if (object_size < KMALLOC_LINE_SIZE || capacity >= 2 * BARN_SLOTS)
		return capacity;
	capacity *= BIN_GROWTH;
	return capacity < 2 * BARN_SLOTS ? capacity : 2 * BARN_SLOTS;
}

/* bin_bytes - the bytes a bin of kmalloc class @cls takes in its heap's
 * block, slots for its largest capacity included, rounded up to a cache
 * line. */
size_t bin_bytes(unsigned int cls)
{
	size_t bytes = sizeof(struct kmalloc_bin) + bin_capacity_max(kmalloc_sizes[cls]) * sizeof(void *);
	return (bytes + 63) & ~(size_t)63;
}

/* heap_bins_fit - do a heap and all its bins fit its block? (Checked once,
 * by slab_init: the bins' sizes follow from kmalloc_sizes[].) */
static bool heap_bins_fit(void)
{
	size_t bytes = HEAP_BINS_OFFSET;
	for (unsigned int i = 0; i < NR_KMALLOC; i++)
		bytes += bin_bytes(i);
	return bytes <= (PAGE_SIZE << HEAP_ORDER);
}

void slab_init(void)
{
	unsigned int cls = 0;
	for (unsigned int i = 0; i <= KMALLOC_DIRECT_MAX / 8; i++) {
		size_t size = (size_t)i * 8;
		while (kmalloc_sizes[cls] < size)
			cls++;
		kmalloc_index_small[i] = (uint8_t)cls;
	}
	cls = 0;
	for (unsigned int i = 0; i < SLAB_MAX_SIZE / 256; i++) {
		size_t size = (size_t)i * 256 + 256; /* the largest with this index */
		while (kmalloc_sizes[cls] < size)
			cls++;
		kmalloc_index_big[i] = (uint8_t)cls;
	}
	for (unsigned int i = 0; i < NR_KMALLOC; i++) {
		struct kmem_cache *cache = &kmalloc_caches[i];
		char name[32] = "kmalloc-";
		/* name: kmalloc-N, or kmalloc-Nk for whole kibibytes */
		uint32_t sz = kmalloc_sizes[i];
		char num[16];
		int n = 0;
		uint32_t v = (sz >= 1024 && sz % 1024 == 0) ? sz / 1024 : sz;
		do {
			num[n++] = (char)('0' + v % 10);
			v /= 10;
		} while (v);
		size_t len = 8;
		while (n)
			name[len++] = num[--n];
		if (sz >= 1024 && sz % 1024 == 0)
			name[len++] = 'k';
		name[len] = '\0';
		cache_setup(cache, name, sz, 16, 0, sz, NULL, PAGE_ALLOC_COSTLY_ORDER);
		cache->id = (uint16_t)i;
		cache->is_kmalloc = 1;
		/* slab_vacate's bitmaps: a bit per object and per page */
		cache->vacatable = cache->order >= 1 && cache->order <= 3 && cache->objects <= 7 &&
				   cache->size >= PAGE_SIZE / 2 && !options.poison;
		kmem_caches[i] = cache;
	}
	atomic_store_explicit(&cache_id_limit, NR_KMALLOC, memory_order_release);
	if (!heap_bins_fit())
		bs_fatal("init", "heap block too small for the bins: raise HEAP_ORDER", NULL);
	/* half a bin fits a barn sheaf: bin_capacity_max is at most two
	 * sheaves, and barn_put refuses more than one */
}

/* ---- heap-side helpers ------------------------------------------------- */

void kmem_cache_cpu_init(struct kmem_cache_cpu *c, struct kmem_cache *cache)
{
	c->slab = &empty_slab;
	c->cache = cache;
	INIT_LIST_HEAD(&c->slabs_partial);
	INIT_LIST_HEAD(&c->slabs_full);
	INIT_LIST_HEAD(&c->slabs_empty);
	c->nr_partial = c->nr_full = c->nr_empty = 0;
	c->nr_slabs = 0;
	c->window_flushes = c->window_refills = 0;
	c->shrinking = false;
	c->bin_refilled = false;
	c->last_sweep_ms = 0;
}

/* key_slot - where a free object of @cache holds its double-free key
 * (obj_key()): the word after its free pointer. That is the object's
 * second word where the free pointer is at 0 (every kmalloc cache, every
 * cache without a ctor: kmem_cache_create gives their objects two words at
 * least), and the word after the object and its free pointer for a cache
 * with a ctor, whose objects keep their constructed state while free. */
static inline void **key_slot(const struct kmem_cache *cache, void *obj)
{
	return (void **)((char *)obj + cache->offset + sizeof(void *));
}

static inline void *get_freepointer(struct kmem_cache *cache, void *obj)
{
	return *(void **)((char *)obj + cache->offset);
}

static inline void set_freepointer(struct kmem_cache *cache, void *obj, void *next)
{
	*(void **)((char *)obj + cache->offset) = next;
}

/* page_stop - where the objects that start in @obj's page end, before
 * @end: the next page's start, or @end. Loops that set the double-free
 * key (obj_key, one a page) run page by page up to it. */
static inline char *page_stop(char *obj, char *end)
{
	char *next = (char *)(((uintptr_t)obj | (PAGE_SIZE - 1)) + 1);
	return next < end ? next : end;
}

static inline uintptr_t slab_base(struct page *slab)
{
	return page_address(slab);
}

static inline bool cache_poisoned(const struct kmem_cache *cache)
{
	return unlikely(options.poison) && cache->is_kmalloc;
}

/* slab_class_set - @slab's pages in free()'s map (struct chunk's
 * slab_class[]): @free_class, or 0 to send free() to the descriptor.
 * Owner only. */
static void slab_class_set(struct page *slab, unsigned int free_class)
{
	struct chunk *c = page_chunk(slab);
	uint8_t *map = &c->slab_class[slab - c->mem_map];
	for (unsigned long i = 0; i < (1UL << slab->order); i++)
		__atomic_store_n(&map[i], (uint8_t)free_class, __ATOMIC_RELAXED);
}

/* slab_free_class - the free class of @slab's pages while none of its
 * objects is vacated: a kmalloc class's (free_class()); 0 for other
 * caches, and with poison=1, whose frees all take the slow paths. */
static unsigned int slab_free_class(struct page *slab, struct kmem_cache *cache)
{
	if (!cache->is_kmalloc || cache_poisoned(cache))
		return 0;
	return free_class(cache->id, slab->owner->line_tag);
}

/* set_vacated - the owner's store to slab->vacated, which other threads
 * read (free's slow path, object_is_freed); free()'s map follows (a slab
 * with a vacated object is 0 there), cleared before the first vacated
 * object and set after the last. */
static inline void set_vacated(struct page *slab, unsigned int vacated)
{
	bool was_clean = !(slab->vacated & VACATED_OBJECTS), clean = !(vacated & VACATED_OBJECTS);
	if (was_clean && !clean)
		slab_class_set(slab, 0);
	__atomic_store_n(&slab->vacated, (uint8_t)vacated, __ATOMIC_RELAXED);
	if (!was_clean && clean)
		slab_class_set(slab, slab_free_class(slab, kmem_caches[slab->cache_id]));
}

/* slab_has_free - does the owner see a free object in @slab? */
static inline bool slab_has_free(struct page *slab)
{
	return slab->freelist || (slab->vacated & VACATED_OBJECTS);
}

/* vacated_count - how many objects of @slab are vacated */
static inline unsigned int vacated_count(struct page *slab)
{
	unsigned int v = slab->vacated & VACATED_OBJECTS, n = 0;
	for (; v; v &= v - 1)
		n++;
	return n;
}

static inline unsigned int object_index(struct kmem_cache *cache, struct page *slab, void *obj)
{
	return (unsigned int)(((uintptr_t)obj - slab_base(slab)) / cache->size);
}

/* ---- poisoning (options.poison: the kernel's slub_debug=P) ------------------
 *
 * With poison=1 a free kmalloc object holds its free pointer (word 0), its
 * double-free key (word 1, obj_key()), and POISON_FREE in every
 * byte after; an object handed out must still hold all three, and is then
 * filled with POISON_INUSE. A program that wrote into a block after freeing
 * it is reported when the block is next handed out (or, for its free
 * pointer, before the allocator follows it), and one that reads a new block
 * before writing it reads 0x5a bytes, not old data or zeros.
 * Invariants in that mode:
 *  - no bins: heap_setup points every class at empty_bin, so every small
 *    malloc reaches malloc_slow and every free free_slab_slow, which
 *    allocate with kmalloc_cpu_alloc (poison_alloc) and free with slab_free;
 *  - slab_free poisons and sets the key after its double-free check and
 *    before the object is pushed where another thread could take it (a
 *    remote list); new_slab poisons and keys every object;
 *  - a free pointer is checked (poison_link_ok) before it is followed: by
 *    poison_alloc or slab_alloc_slow for the object they take (with its
 *    key, poison_check_head), by slab_merge_remote on its walk
 *    (of every remote list, in this mode). It must point to a free object
 *    of the slab (its key), or be NULL exactly where the slab's count of
 *    free objects says the list ends: a pointer overwritten with NULL, with
 *    garbage, or with a live block's address is caught; one overwritten
 *    with the address of another free object of its slab cuts the list,
 *    which is caught where the list ends too early, naming another block;
 *  - slabs are never vacated (slab_init): a page given back comes back
 *    zeroed.
 * kmem_cache_create() caches are not poisoned (their constructors' state
 * must survive), nor blocks above SLAB_MAX_SIZE.
 */
#define POISON_INUSE 0x5a /* include/linux/poison.h's names and values */
#define POISON_FREE 0x6b
#define POISON_SKIP (2 * sizeof(void *)) /* free pointer, double-free key */

/* poison_free - @obj of @cache is free: poison it */
static void poison_free(struct kmem_cache *cache, void *obj)
{
	memset((char *)obj + POISON_SKIP, POISON_FREE, cache->size - POISON_SKIP);
}

/* poison_report - @obj of @cache, free, was written: say where and abort.
 * @what is "byte", "free pointer" or "double-free key"; @offset its place
 * in the block, @value what it holds; @call the API call that found it,
 * NULL where that is not known (a walk of a remote list). */
static _Noreturn cold void poison_report(const char *call, struct kmem_cache *cache, const void *obj,
					 const char *what, size_t offset, unsigned long value)
{
	struct fmtbuf fb;
	fmt_init(&fb, STDERR_FILENO);
	if (call)
		fmt_printf(&fb, "buddyslab: %s(): ", call);
	else
		fmt_printf(&fb, "buddyslab: ");
	fmt_printf(&fb, "block %p (%s) was written after it was freed: %s at +%zu is 0x%lx", obj,
		   cache->name, what, offset, value);
	if (what[0] == 'b')
		fmt_printf(&fb, ", not 0x%x\n", POISON_FREE);
	else
		fmt_printf(&fb, "\n");
	fmt_flush(&fb);
	abort();
}

/* poison_link_ok - may @next, the free pointer of a free object of @slab
 * followed by @after more free objects on its list, be followed? NULL
 * where the list ends, else an object of @slab (slab_object_start) that is
 * free (its key). */
static bool poison_link_ok(struct page *slab, const void *next, unsigned int after)
{
	if (!next || !after)
		return !next && !after;
	uintptr_t p = (uintptr_t)next;
	return p - slab_base(slab) <= slab_mask(slab) && slab_object_start(slab, p) &&
	       ((void *const *)next)[1] == obj_key(slab, next);
}

/* poison_check_head - @head, the first object on @slab's freelist, is
 * about to be taken: its free pointer (which the pop follows) and its key
 * must be intact. @call as for poison_report. */
static void poison_check_head(struct kmem_cache *cache, struct page *slab, void **head,
			      const char *call)
{
	/* freelist + inuse = objects (no vacating in this mode) */
	unsigned int after = cache->objects - slab->inuse - 1u;
	if (unlikely(!poison_link_ok(slab, head[0], after)))
		poison_report(call, cache, head, "free pointer", 0, (unsigned long)head[0]);
	if (unlikely(head[1] != obj_key(slab, head)))
		poison_report(call, cache, head, "double-free key", sizeof(void *), (unsigned long)head[1]);
}

/* poison_check - @obj of @cache is about to be handed out: it must still
 * hold POISON_FREE past its first two words (else the program wrote into
 * it after freeing it: reported, abort); then POISON_INUSE throughout. */
static void poison_check(struct kmem_cache *cache, void *obj, const char *call)
{
	const uint64_t poison = 0x0101010101010101ULL * POISON_FREE;
	const unsigned char *bytes = obj;
	for (size_t i = POISON_SKIP; i < cache->size; i += sizeof(uint64_t)) {
		uint64_t word;
		memcpy(&word, bytes + i, sizeof(word));
		if (likely(word == poison))
			continue;
		while (bytes[i] == POISON_FREE)
			i++;
		poison_report(call, cache, obj, "byte", i, bytes[i]);
	}
	memset(obj, POISON_INUSE, cache->size);
}

/* slab_setup - @slab, 2^order fresh pages, made into a slab of @cache
 * owned by @heap, every object from the @held-th on its freelist in
 * address order (and constructed, with a ctor); the first @held are the
 * caller's (in inuse): bin_refill's, which a fresh slab's chain would only
 * have been written and walked for (carve_new_slab). new_slab - the same,
 * pages and all, every object on the freelist. */
static struct page *slab_setup(struct heap *heap, struct kmem_cache *cache, struct page *slab,
			       unsigned int held)
{
	unsigned long pages = 1UL << cache->order;
	for (unsigned long i = 1; i < pages; i++) {
		WRITE_ONCE(slab[i].type, PAGE_SLAB_TAIL);
		slab[i].head = slab;
	}
	/* ctors first, then the chain in one tight loop (a store and an add
	 * per object, where the chain built back to front with its tests of
	 * ctor and offset took 13 instructions: symbolic, which makes and
	 * drops slabs by the hundred thousand, spent 3 % of its time here) */
	char *base = (char *)slab_base(slab);
	size_t size = cache->size, offset = cache->offset;
	char *last = base + (size_t)(cache->objects - 1) * size;
	if (unlikely(cache->ctor))
		for (char *obj = base; obj <= last; obj += size)
			cache->ctor(obj);
	/* poisoned: kmalloc caches, keyed with the chain below (and no
	 * carving: held is 0) */
	if (cache_poisoned(cache))
		memset(base, POISON_FREE, (size_t)cache->objects * size);
	char *first = base + (size_t)held * size;
	/* the key too (key_slot): a free of an object that was never handed
	 * out is a free of a free object, and must be caught as one, or the
	 * object would be on the freelist (or in a bin) twice and handed out
	 * twice; its word shares the free pointer's line. One key a page
	 * (page_stop): two stores and an add an object. */
	for (char *obj = first, *end = last + size; obj < end;) {
		void *key = obj_key(slab, obj);
		for (char *stop = page_stop(obj, end); obj < stop; obj += size) {
			void **word = (void **)(obj + offset);
			word[0] = obj + size;
			word[1] = key;
		}
	}
	if (first <= last)
		*(void **)(last + offset) = NULL;
	slab->head = NULL;
	slab->order = cache->order;
	slab->cache_id = cache->id;
	slab->inuse = (uint16_t)held;
	__atomic_store_n(&slab->vacated, 0, __ATOMIC_RELAXED);
	slab->freelist = first <= last ? first : NULL;
	slab->owner = heap;
	slab->obj_magic = cache->obj_magic;
	slab->obj_limit = cache->obj_limit;
	struct slab_remote *remote = slab_remote(slab);
	atomic_store_explicit(&remote->list, 0, memory_order_relaxed);
	remote->next = NULL;
	slab->flags = cache->offset ? SLAB_FREEPTR_OFFSET : 0;
	/* publish the type last: a report walking mem_map reads it first */
	__atomic_store_n(&slab->type, PAGE_SLAB, __ATOMIC_RELEASE);
	slab_class_set(slab, slab_free_class(slab, cache));
	atomic_fetch_add_explicit(&cache->nr_slabs, 1, memory_order_relaxed);
	return slab;
}

static struct page *new_slab(struct heap *heap, struct kmem_cache *cache, gfp_t gfp)
{
	struct page *slab = alloc_pages_node(gfp, cache->order);
	return slab ? slab_setup(heap, cache, slab, 0) : NULL;
}

/* Slabs a collector emptied in another thread's heap (heap_reclaim_live),
 * chained through slab_list: their pages go back after it lets the heap
 * go, since it may take no lock while it holds it. NULL: at once. */
static __thread struct list_head *slab_release_deferred;

/* slab_release - give an empty slab's pages back to the page allocator
 * (or onto slab_release_deferred, detached from its heap). */
static void slab_release(struct kmem_cache_cpu *c, struct page *slab)
{
	struct kmem_cache *cache = kmem_caches[slab->cache_id];
	unsigned long pages = 1UL << slab->order;
	slab_class_set(slab, 0);
	for (unsigned long i = 1; i < pages; i++) {
		WRITE_ONCE(slab[i].type, PAGE_NONE);
		slab[i].head = NULL;
	}
	c->nr_slabs--;
	slab->owner = NULL;
	slab->freelist = NULL;
	__atomic_store_n(&slab->vacated, 0, __ATOMIC_RELAXED);
	slab->flags = 0;
	atomic_fetch_sub_explicit(&cache->nr_slabs, 1, memory_order_relaxed);
	if (unlikely(slab_release_deferred))
		list_add(&slab->slab_list, slab_release_deferred);
	else
		free_pages_node(slab, slab->order);
}

#ifdef BUDDYSLAB_DEBUG
/* slab_touch_ok - may the calling thread change @c's slab lists? Its
 * heap's slabs must be held (heap_slabs_lock), but for a
 * kmem_cache_create() cache, whose owner's fast paths take nothing. For
 * DEBUG_CHECK. */
static inline bool slab_touch_ok(const struct kmem_cache_cpu *c, const struct page *slab)
{
	return !c->cache->is_kmalloc || !slab->owner || heap_slabs_held(slab->owner);
}
#endif

static void slab_list_del(struct kmem_cache_cpu *c, struct page *slab)
{
	DEBUG_CHECK(slab_touch_ok(c, slab), "slab list changed without heap_slabs_lock", slab);
	switch (slab->flags & SLAB_STATE) {
	case SLAB_PARTIAL:
		c->nr_partial--;
		break;
	case SLAB_FULL:
		c->nr_full--;
		break;
	case SLAB_EMPTY:
		c->nr_empty--;
		break;
	default:
		return; /* the active slab is on no list */
	}
	list_del(&slab->slab_list);
}

static void slab_list_add(struct kmem_cache_cpu *c, struct page *slab, uint8_t state)
{
	DEBUG_CHECK(slab_touch_ok(c, slab), "slab list changed without heap_slabs_lock", slab);
	slab->flags = (uint8_t)((slab->flags & ~SLAB_STATE) | state);
	switch (state) {
	case SLAB_PARTIAL:
		list_add_tail(&slab->slab_list, &c->slabs_partial);
		c->nr_partial++;
		break;
	case SLAB_FULL:
		list_add(&slab->slab_list, &c->slabs_full);
		c->nr_full++;
		break;
	case SLAB_EMPTY:
		list_add(&slab->slab_list, &c->slabs_empty);
		c->nr_empty++;
		break;
	}
}

static inline bool slab_notified(struct page *slab)
{
	return atomic_load_explicit(&slab_remote(slab)->list, memory_order_acquire) & REMOTE_NOTIFIED;
}

/* slab_put_empty - an inactive slab has no object in use: keep it as the
 * reserve or give it back. A slab still on the remote stack is kept until
 * the owner pops it. */
static void slab_put_empty(struct kmem_cache_cpu *c, struct page *slab)
{
	if (c->nr_empty < SLAB_EMPTY_RESERVE || slab_notified(slab))
		slab_list_add(c, slab, SLAB_EMPTY);
	else
		slab_release(c, slab);
}

/* slab_refile - after the owner's view of an inactive slab changed (it got
 * objects back), move it to the list that matches. */
static void slab_refile(struct kmem_cache_cpu *c, struct page *slab)
{
	uint8_t state = slab->flags & SLAB_STATE;
	if (state == SLAB_ACTIVE)
		return;
	if (slab->inuse == 0) {
		if (state == SLAB_EMPTY) {
			if (c->nr_empty > SLAB_EMPTY_RESERVE && !slab_notified(slab)) {
				slab_list_del(c, slab);
				slab_release(c, slab);
			}
			return;
		}
		slab_list_del(c, slab);
		slab_put_empty(c, slab);
	} else if (state == SLAB_FULL && slab_has_free(slab)) {
		slab_list_del(c, slab);
		slab_list_add(c, slab, SLAB_PARTIAL);
	}
}

/* slab_object_vacated - is @obj a vacated (so free) object of @slab? Any
 * thread. */
static inline bool slab_object_vacated(struct kmem_cache *cache, struct page *slab, void *obj)
{
	unsigned int vacated = __atomic_load_n(&slab->vacated, __ATOMIC_RELAXED);
	return vacated & VACATED_OBJECTS & (1u << object_index(cache, slab, obj));
}

/* free_vacated_check - free() of @obj, in a slab of a vacatable class that
 * has vacated objects: it must not be one of them. */
void free_vacated_check(struct page *slab, void *obj)
{
	struct kmem_cache *cache = kmem_caches[slab->cache_id];
	if (slab_object_start(slab, (uintptr_t)obj) && slab_object_vacated(cache, slab, obj))
		bs_fatal("free", "double free detected", obj);
}

/* slab_take_vacated - hand out @slab's vacated object of the lowest index
 * (its bit cleared). Owner only; the slab has one. */
static void *slab_take_vacated(struct kmem_cache *cache, struct page *slab)
{
	unsigned int i = (unsigned int)__builtin_ctz(slab->vacated & VACATED_OBJECTS);
	set_vacated(slab, slab->vacated & ~(1u << i));
	return (char *)slab_base(slab) + (size_t)i * cache->size;
}

/* slab_unvacate - @n objects chained from @head come back to @slab, which
 * slab_vacate() ran on: the slab is no longer clean, and none of them may
 * be free already. A vacated object lost its double-free key with its
 * page, so free() took its second free for a first one; it is caught here,
 * when the object reaches its slab. */
static noinline void slab_unvacate(struct kmem_cache *cache, struct page *slab, void *head,
				   unsigned int n)
{
	for (void *obj = head; n--; obj = get_freepointer(cache, obj))
		if (slab_object_vacated(cache, slab, obj))
			bs_fatal("free", "double free detected", obj);
	set_vacated(slab, slab->vacated & ~VACATED_CLEAN);
}

/* slab_list_corrupt - a remote list of @slab goes on past the count its
 * word holds: @obj's free pointer, @next, was written after it was freed
 * (a loop would hang the walk). Report and abort. */
static _Noreturn cold void slab_list_corrupt(struct kmem_cache *cache, struct page *slab, void *obj,
					     void *next)
{
	bs_printf(STDERR_FILENO,
		  "buddyslab: corrupted free list in a slab of %s at %p: block %p points to %p "
		  "(written after it was freed, or freed twice?)\n",
		  cache->name, (void *)slab_base(slab), obj, next);
	abort();
}

/* Prepend a remote-freed list (a remote list word) to the slab's freelist;
 * returns its length. Walks the list only when the freelist is not empty
 * (to find the list's tail), or with poison=1 (to check it). */
static unsigned int slab_merge_remote(struct kmem_cache *cache, struct page *slab, uintptr_t word)
{
	void *list = remote_list_head(word);
	unsigned int n = remote_list_count(word);
	if (!list)
		return 0;
	if (unlikely(slab->vacated))
		slab_unvacate(cache, slab, list, n);
	if (slab->freelist || cache_poisoned(cache)) {
		/* to the tail, @n objects: a longer list (a loop) is corrupt */
		void *tail = list;
		unsigned int seen = 1;
		for (void *next = get_freepointer(cache, tail);; seen++) {
			if (cache_poisoned(cache) && !poison_link_ok(slab, next, n - seen))
				poison_report(NULL, cache, tail, "free pointer", 0, (unsigned long)next);
			if (!next)
				break;
			if (unlikely(seen >= n))
				slab_list_corrupt(cache, slab, tail, next);
			tail = next;
			next = get_freepointer(cache, tail);
		}
		if (slab->freelist)
			set_freepointer(cache, tail, slab->freelist);
	}
	slab->freelist = list;
	slab->inuse = (uint16_t)(slab->inuse - n);
	return n;
}

/* slab_collect_direct - the owner takes the slab's remote frees without
 * popping it from the remote stack (REMOTE_NOTIFIED stays as it is). */
static unsigned int slab_collect_direct(struct kmem_cache *cache, struct page *slab)
{
	struct slab_remote *remote = slab_remote(slab);
	uintptr_t old = atomic_load_explicit(&remote->list, memory_order_relaxed);
	while (old & ~REMOTE_NOTIFIED) {
		if (atomic_compare_exchange_weak_explicit(&remote->list, &old,
							  old & REMOTE_NOTIFIED,
							  memory_order_acquire,
							  memory_order_relaxed))
			return slab_merge_remote(cache, slab, old);
	}
	return 0;
}

/* collect_remote_stack - pop every slab of @heap's remote stack and merge
 * its remote frees into its freelist, refiled; with @kmalloc_only (a
 * collector's), the slabs of kmem_cache_create() caches go back onto the
 * stack untouched (still notified: no free pushes them meanwhile). The
 * number of objects collected. */
static unsigned long collect_remote_stack(struct heap *heap, bool kmalloc_only)
{
	struct page *slab = atomic_exchange(&heap->remote_slabs, NULL);
	struct page *kept = NULL, *kept_last = NULL;
	unsigned long collected = 0;
	while (slab) {
		struct slab_remote *remote = slab_remote(slab);
		struct page *next = remote->next;
		struct kmem_cache *cache = kmem_caches[slab->cache_id];
		if (kmalloc_only && !cache->is_kmalloc) {
			remote->next = kept;
			if (!kept)
				kept_last = slab;
			kept = slab;
		} else {
			uintptr_t list = atomic_exchange_explicit(&remote->list, 0,
								  memory_order_acq_rel);
			collected += slab_merge_remote(cache, slab, list);
			struct kmem_cache_cpu *c = heap->cpu[slab->cache_id];
			if (c)
				slab_refile(c, slab);
		}
		slab = next;
	}
	if (kept) {
		struct page *top = atomic_load_explicit(&heap->remote_slabs, memory_order_relaxed);
		do {
			slab_remote(kept_last)->next = top;
		} while (!atomic_compare_exchange_weak_explicit(&heap->remote_slabs, &top, kept,
								memory_order_release,
								memory_order_relaxed));
	}
	heap->stat_collected += collected;
	return collected;
}

/* heap_collect_remote - pop every slab that other threads freed into and
 * merge their frees into the owner's freelists. The owner only, or
 * heap_reclaim_abandoned for a pooled heap, under heap_lock; the heap's
 * slab lock held. */
void heap_collect_remote(struct heap *heap)
{
	DEBUG_CHECK(heap_slabs_held(heap), "remote stack popped without heap_slabs_lock", heap);
	/* seq_cst, for heap_reclaim_abandoned (see heap_abandon); on x86 the
	 * same instructions as acquire */
	if (atomic_load(&heap->remote_slabs) == NULL)
		return;
	collect_remote_stack(heap, false);
}

/* ---- the slow paths ------------------------------------------------------- */

/* carve_new_slab - @c needs a new slab for bin_refill, whose bin is @bin:
 * the slab's first object for the caller, as many more as the bin's half
 * has room for straight into the bin (top down, so they go out in address
 * order), only the rest chained. A fresh slab's chain was written into
 * every object in one tight loop and walked again by bin_refill at once:
 * symbolic, which makes and drops slabs by the hundred thousand, took half
 * its D1 write misses in that loop (cachegrind). They now come one by one
 * in malloc, which clears the key, among the program's work: 0.97 ->
 * 0.91 s. Each carved object gets its double-free key (one store), so that
 * a free of one never handed out is caught: symbolic at BENCH_SCALE=0.2
 * 3,549M -> 3,595M instructions, D1 misses 28.26M -> 28.27M (cachegrind),
 * wall time unchanged. Not for ctor or poison caches, whose objects
 * new_slab writes anyway. */
static void *carve_new_slab(struct heap *heap, struct kmem_cache_cpu *c, struct kmalloc_bin *bin,
			    gfp_t gfp)
{
	struct kmem_cache *cache = c->cache;
	struct page *slab = alloc_pages_node(gfp, cache->order);
	if (!slab)
		return NULL;
	/* measured now: the page allocator's reclaim (zone_reclaim) may have
	 * emptied the bin, or freed dead caches' descriptors into it */
	uint32_t half = bin->capacity / 2;
	uint32_t room = bin->count < half ? half - (uint32_t)bin->count : 0;
	if (room > cache->objects - 1)
		room = cache->objects - 1;
	slab_setup(heap, cache, slab, room + 1);
	c->nr_slabs++;
	slab->flags = (uint8_t)((slab->flags & ~SLAB_STATE) | SLAB_ACTIVE);
	c->slab = slab;
	char *base = (char *)slab_base(slab);
	size_t size = cache->size;
	void **slot = bin->objects + bin->count + room; /* object 1 goes out first */
	/* free objects carry the key (slab_setup), these too; a bin's cache
	 * is a kmalloc one, whose objects all have room for it. One key a
	 * page, as slab_setup: six instructions an object, where the key
	 * worked out for each took fourteen (symbolic's trees carve a slab
	 * in every refill: 3.5 % of their instructions). */
	DEBUG_CHECK(!cache->offset, "carved cache with its key past the second word", cache);
	for (char *obj = base + size, *end = base + (size_t)(room + 1) * size; obj < end;) {
		void *key = obj_key(slab, obj);
		for (char *stop = page_stop(obj, end); obj < stop; obj += size) {
			((void **)obj)[1] = key;
			*--slot = obj;
		}
	}
	bin->count += room;
	DEBUG_CHECK(slab_is_valid(slab), "carved slab", slab);
	((void **)base)[1] = NULL; /* the double-free key */
	return base;
}

/*
 * slab_alloc_slow - the active slab of @c has no free object. In order:
 *  1. take the remote frees of the active slab;
 *  2. retire it to the full list, collect remote frees of every slab;
 *  3. take a partial slab, else an empty one, else a new slab;
 * then pop one object -- but a new slab for bin_refill (@bin not NULL) is
 * carved into its bin instead (carve_new_slab), which gives the object.
 * NULL (ENOMEM) only if the page allocator failed.
 */
static void *slab_alloc_slow_locked(struct heap *heap, struct kmem_cache_cpu *c, gfp_t gfp,
				    struct kmalloc_bin *bin)
{
	struct kmem_cache *cache = c->cache;
	struct page *slab = c->slab;

	if (unlikely(heap_caches_destroyed(heap))) {
		heap_flush_dead_caches(heap);
		if (slab->freelist)
			goto pop; /* the flush freed into the active slab */
	}

	if (slab->vacated & VACATED_OBJECTS)
		goto pop;
	if (slab != &empty_slab) {
		if (slab_collect_direct(cache, slab))
			goto pop;
		slab_list_add(c, slab, SLAB_FULL);
		c->slab = &empty_slab;
	}
	heap_collect_remote(heap);

	if (!list_empty(&c->slabs_partial)) {
		slab = list_first_entry(&c->slabs_partial, struct page, slab_list);
	} else if (!list_empty(&c->slabs_empty)) {
		slab = list_first_entry(&c->slabs_empty, struct page, slab_list);
	} else {
		if (atomic_load_explicit(&abandoned_pending, memory_order_relaxed))
			heap_reclaim_abandoned();
		if (bin && !cache->ctor && !cache_poisoned(cache))
			return carve_new_slab(heap, c, bin, gfp);
		slab = new_slab(heap, cache, gfp);
		if (!slab)
			return NULL;
		c->nr_slabs++;
		goto activate;
	}
	slab_list_del(c, slab);
activate:
	slab->flags = (uint8_t)((slab->flags & ~SLAB_STATE) | SLAB_ACTIVE);
	c->slab = slab;
	if (!slab->freelist)
		slab_collect_direct(cache, slab);
	DEBUG_CHECK(slab->owner == heap && slab_is_valid(slab), "active slab", slab);
pop:;
	void *obj = slab->freelist;
	if (obj) {
		if (cache_poisoned(cache))
			poison_check_head(cache, slab, obj, NULL);
		slab->freelist = get_freepointer(cache, obj);
	} else /* the pages of it that went come back (zeroed, with
	      * MADV_DONTNEED) when it is written */
		obj = slab_take_vacated(cache, slab);
	*key_slot(cache, obj) = NULL; /* the double-free key */
	slab->inuse++;
	return obj;
}

void *slab_alloc_slow(struct heap *heap, struct kmem_cache_cpu *c, gfp_t gfp,
		      struct kmalloc_bin *bin)
{
	heap_slabs_lock(heap); /* it collects the remote stack */
	void *obj = slab_alloc_slow_locked(heap, c, gfp, bin);
	heap_slabs_unlock(heap);
	return obj;
}

/* slab_free_slow - the owner's free left an inactive slab empty, or freed
 * into a full one: refile it. */
void slab_free_slow(struct heap *heap, struct page *slab)
{
	struct kmem_cache_cpu *c = heap->cpu[slab->cache_id];
	DEBUG_CHECK(slab_is_valid(slab), "freed-into slab", slab);
	heap_slabs_lock(heap); /* kmem_cache_free's fast path comes without it */
	slab_refile(c, slab);
	heap_slabs_unlock(heap);
}

/* slab_free_local - the owner (@heap) puts @n objects of @slab, chained
 * @head to @tail through their free pointers (their double-free keys
 * already set), back on its freelist and refiles the slab if it became
 * empty or was full. False if the slab may have been released. */
static always_inline bool slab_free_local(struct heap *heap, struct kmem_cache *cache,
					  struct page *slab, void *head, void *tail, unsigned int n)
{
	if (unlikely(slab->vacated))
		slab_unvacate(cache, slab, head, n);
	set_freepointer(cache, tail, slab->freelist);
	slab->freelist = head;
	slab->inuse = (uint16_t)(slab->inuse - n);
	if (likely(!((slab->inuse == 0 && !(slab->flags & SLAB_ACTIVE)) || (slab->flags & SLAB_FULL))))
		return true;
	slab_free_slow(heap, slab);
	return false;
}

/* Slabs this thread pushed onto live heaps' remote stacks: every
 * IDLE_LOOK_PUSHES-th push looks at the owner of that one (heap_look_idle),
 * which collects it if the owner took no slow path since the last look.
 * Per thread, not per heap: the pushes cost no shared write, and the
 * heaps that get the most pushes get the most looks. */
#define IDLE_LOOK_PUSHES 64
static __thread unsigned int remote_pushes;

/*
 * slab_free_remote_chain - @n objects of @slab, chained head to tail
 * through their free pointers, freed by a thread that does not own the
 * slab (or has no heap). Lock-free: one CAS, plus a second onto the owner's
 * remote stack for the first remote free since the owner last looked.
 */
void slab_free_remote_chain(struct page *slab, void *head, void *tail, unsigned int n)
{
	struct kmem_cache *cache = kmem_caches[slab->cache_id];
	struct slab_remote *remote = slab_remote(slab);
	uintptr_t old = atomic_load_explicit(&remote->list, memory_order_relaxed);
	uintptr_t word;
	do {
		set_freepointer(cache, tail, remote_list_head(old));
		word = (uintptr_t)head | REMOTE_NOTIFIED |
		       ((uintptr_t)(remote_list_count(old) + n) << REMOTE_COUNT_SHIFT);
	} while (!atomic_compare_exchange_weak_explicit(&remote->list, &old, word,
							memory_order_acq_rel,
							memory_order_relaxed));
	struct heap *self = heap_current();
	if (self)
		self->stat_remote_frees += n;
	if (old & REMOTE_NOTIFIED)
		return;
	/* we set REMOTE_NOTIFIED: the slab cannot be released until its owner
	 * pops it from the stack we push it on now. The acquire above orders
	 * our write of remote->next after the owner's read of it when it last
	 * popped the slab (its exchange of remote->list is a release). */
	struct heap *owner = slab->owner;
	struct page *top = atomic_load_explicit(&owner->remote_slabs, memory_order_relaxed);
	do {
		remote->next = top;
	} while (!atomic_compare_exchange_weak_explicit(&owner->remote_slabs, &top, slab,
							memory_order_seq_cst,
							memory_order_relaxed));
	/* an owner no longer active collects nothing itself: tell the
	 * reclaim. The push, this load, and heap_abandon's store of the
	 * state and look at the stack are seq_cst (heap_abandon says why) */
	if (atomic_load(&owner->state) != HEAP_ACTIVE)
		atomic_fetch_add(&abandoned_pending, 1);
	else if (unlikely(++remote_pushes % IDLE_LOOK_PUSHES == 0))
		heap_look_idle(owner); /* the slab may be gone after it */
}

void slab_free_remote(struct page *slab, void *obj)
{
	slab_free_remote_chain(slab, obj, obj, 1);
}

/*
 * slab_holds_free - is @obj on the slab's freelist or on its remote-free
 * chain? Owner only (the local freelist is the owner's). O(objects): only
 * called when a freed object's double-free key matched.
 */
static bool slab_holds_free(struct page *slab, struct kmem_cache *cache, void *obj)
{
	unsigned int n = 0;
	for (void *free = slab->freelist; free && n <= cache->objects;
	     free = get_freepointer(cache, free), n++)
		if (free == obj)
			return true;
	uintptr_t remote = atomic_load_explicit(&slab_remote(slab)->list, memory_order_acquire);
	n = 0;
	for (void *free = remote_list_head(remote); free && n <= cache->objects;
	     free = get_freepointer(cache, free), n++)
		if (free == obj)
			return true;
	return false;
}

/* object_is_freed - is @obj free: vacated (a vacated object lost its key
 * with its page), or, by the double-free key, free? A free object holds
 * obj_key() in its key_slot(); no live object does (allocation clears it,
 * and no program holds the address of buddyslab's map). The owner of a
 * kmem_cache_create() slab confirms on its lists; other threads, and
 * kmalloc objects, which may sit in any heap's bin, take the key's word. */
static bool object_is_freed(struct page *slab, struct kmem_cache *cache, void *obj,
			    bool owner)
{
	if (unlikely(cache->vacatable) && slab_object_vacated(cache, slab, obj))
		return true; /* its key went with its page */
	if (*key_slot(cache, obj) != obj_key(slab, obj))
		return false;
	/* a kmalloc object may be free in any thread's bin: the key's word */
	return !owner || cache->is_kmalloc || slab_holds_free(slab, cache, obj);
}

bool slab_object_is_freed(struct page *slab, struct kmem_cache *cache, void *obj)
{
	return object_is_freed(slab, cache, obj, slab->owner == heap_current());
}

/* slab_free - free @obj of @slab from any thread: the generic path, for
 * kmem_cache_free's slow path, full slabs and other threads' slabs. @call
 * names the API call in error reports. */
void slab_free(struct page *slab, struct kmem_cache *cache, void *obj, const char *call)
{
	struct heap *heap = heap_current();
	bool owner = heap && slab->owner == heap;
	/* a leaked object (kmem_cache_destroy): its slab has no owner, and
	 * the program used the cache after destroying it */
	if (unlikely(atomic_load_explicit(&cache->dead, memory_order_relaxed)))
		bs_fatal(call, "object of a destroyed cache", obj);
	if (owner) /* for slab_free_local: with poison=1, kmalloc objects too */
		heap_slabs_lock(heap);
	if (unlikely(object_is_freed(slab, cache, obj, owner)))
		bs_fatal(call, "double free detected", obj);
	if (cache_poisoned(cache))
		poison_free(cache, obj);
	*key_slot(cache, obj) = obj_key(slab, obj); /* the double-free key */
	if (owner) {
		slab_free_local(heap, cache, slab, obj, obj, 1);
		heap_slabs_unlock(heap);
	} else {
		slab_free_remote(slab, obj);
	}
}

/* cpu_alloc - one object from @c's active slab, by slab_alloc_slow when
 * its freelist is empty; the double-free key cleared. NULL only if the page
 * allocator failed. The fast path of kmem_cache_alloc, and what bin_refill
 * and aligned kmalloc take an object with. */
static always_inline void *cpu_alloc(struct heap *heap, struct kmem_cache_cpu *c, gfp_t gfp,
				     struct kmalloc_bin *bin)
{
	struct kmem_cache *cache = c->cache;
	struct page *slab = c->slab;
	void *obj = slab->freelist;
	if (unlikely(!obj))
		return slab_alloc_slow(heap, c, gfp, bin);
	slab->freelist = get_freepointer(cache, obj);
	*key_slot(cache, obj) = NULL; /* the double-free key */
	slab->inuse++;
	return obj;
}

/* cpu_note_alloc - the class of @c took objects from its slabs (a bin
 * refill, an aligned allocation): it is not shrinking (bin_flush_full). */
static inline void cpu_note_alloc(struct kmem_cache_cpu *c)
{
	if (c->window_refills < UINT16_MAX)
		c->window_refills++;
	c->shrinking = false;
}

/* poison_alloc - cpu_alloc in poison mode: the object's free pointer and
 * key are checked before the pop follows the pointer, its poison after. */
static noinline void *poison_alloc(struct heap *heap, struct kmem_cache_cpu *c, const char *call)
{
	struct kmem_cache *cache = c->cache;
	struct page *slab = c->slab;
	void **head = slab->freelist;
	if (head)
		poison_check_head(cache, slab, head, call);
	/* else slab_alloc_slow checks the head it takes */
	void *obj = cpu_alloc(heap, c, 0, NULL);
	if (!obj)
		return NULL;
	poison_check(cache, obj, call);
	return obj;
}

/* kmalloc_cpu_alloc - an object of kmalloc class @cls straight from the
 * heap's active slab, past its bin (every small allocation with poison=1,
 * checked: @call names the API call in its reports). */
void *kmalloc_cpu_alloc(struct heap *heap, unsigned int cls, const char *call)
{
	struct kmem_cache_cpu *c = &heap->kmalloc[cls];
	cpu_note_alloc(c);
	if (unlikely(options.poison))
		return poison_alloc(heap, c, call);
	return cpu_alloc(heap, c, 0, NULL);
}

/* ---- vacating free pages of big-object slabs -------------------------------- */

/* Pages given back by slab_vacate, in all heaps (statistics). */
_Atomic unsigned long slab_vacated_pages;

/* object_span - bitmap of bits @first..@last */
static inline unsigned int object_span(unsigned int first, unsigned int last)
{
	return ((2u << last) - 1) & ~((1u << first) - 1);
}

/* pages_of_object - bitmap of the pages of its slab that object @i overlaps */
static inline unsigned int pages_of_object(struct kmem_cache *cache, unsigned int i)
{
	return object_span((unsigned int)((size_t)i * cache->size / PAGE_SIZE),
			   (unsigned int)(((size_t)i + 1) * cache->size - 1) / PAGE_SIZE);
}

/*
 * slab_vacate - give back the pages of @slab that free objects alone cover
 * (see "Vacated objects" above). Every free object that overlaps one of
 * them moves from the freelist to slab->vacated. So a page that vacated
 * objects alone cover went back when the last of them was vacated, and is
 * not purged again. Owner only; @slab is a partial slab of a vacatable
 * cache.
 */
static void slab_vacate(struct kmem_cache *cache, struct page *slab)
{
	uintptr_t base = slab_base(slab);
	unsigned int was_vacated = slab->vacated & VACATED_OBJECTS, free = was_vacated;
	unsigned int n = 0;
	for (void **obj = slab->freelist; obj; obj = obj[0]) {
		if (++n > cache->objects)
			return; /* a cycle: a double free went unnoticed; leave it be */
		free |= 1u << object_index(cache, slab, obj);
	}
	/* the pages objects overlap (a page of the unused tail alone was never
	 * written), those a live object overlaps, those an object not vacated
	 * overlaps */
	unsigned int used = 0, live = 0, unvacated = 0;
	for (unsigned int i = 0; i < cache->objects; i++) {
		unsigned int pages = pages_of_object(cache, i);
		used |= pages;
		if (!(free & (1u << i)))
			live |= pages;
		if (!(was_vacated & (1u << i)))
			unvacated |= pages;
	}
	unsigned int covered = used & ~live, was_covered = used & ~unvacated;
	set_vacated(slab, slab->vacated | VACATED_CLEAN);
	unsigned int purge = covered & ~was_covered;
	if (!purge)
		return;
	/* free objects on the pages that go leave the freelist */
	void *kept = NULL, **link = &kept;
	for (void **obj = slab->freelist, **next; obj; obj = next) {
		next = obj[0];
		unsigned int i = object_index(cache, slab, obj);
		if (covered & pages_of_object(cache, i)) {
			set_vacated(slab, slab->vacated | (1u << i));
		} else {
			*link = obj;
			link = obj;
		}
	}
	*link = NULL;
	slab->freelist = kept;
	while (purge) {
		unsigned int start = (unsigned int)__builtin_ctz(purge), end = start;
		while (purge & (1u << end))
			end++;
		/* refused (mlock'd pages), the pages stay: the vacated
		 * objects' contents are never relied on, only the count */
		if (os_purge((void *)(base + start * PAGE_SIZE), (end - start) * PAGE_SIZE))
			atomic_fetch_add_explicit(&slab_vacated_pages, end - start, memory_order_relaxed);
		purge &= ~object_span(start, end - 1);
	}
}

/* How often a shrinking class may walk its partial list: the walk touches
 * every partial slab's descriptor. */
#define VACATE_SWEEP_MS 100

/* cpu_vacate_partial - slab_vacate every partial slab of @c that changed
 * since it was last vacated. */
static void cpu_vacate_partial(struct kmem_cache_cpu *c)
{
	for (struct list_head *pos = c->slabs_partial.next; pos != &c->slabs_partial;
	     pos = pos->next) {
		struct page *slab = list_entry(pos, struct page, slab_list);
		if (!(slab->vacated & VACATED_CLEAN))
			slab_vacate(c->cache, slab);
	}
}

/* ---- kmalloc bins ------------------------------------------------------------ */

/* The bin of a thread without a heap and of every non-kmalloc cache id:
 * capacity 0, so it is both empty (malloc) and full (free). Never written. */
struct kmalloc_bin empty_bin;

/* bin_setup - @heap's bin of kmalloc class @cls, all zero until now
 * (capacity 0), set up empty: on the class's first malloc or free in the
 * heap. Its slots are not touched. */
_Static_assert(NR_KMALLOC_CLASSES <= 64, "heap->bins_set_up has a bit per class");
void bin_setup(struct heap *heap, unsigned int cls)
{
	struct kmalloc_bin *bin = heap->bins[cls];
	DEBUG_CHECK(!(heap->bins_set_up & (1ULL << cls)) && bin->capacity == 0 && bin->count == 0,
		    "bin set up", bin);
	heap->bins_set_up |= 1ULL << cls;
	bin->cls = cls;
	bin->obj_mask = cache_slab_mask(&kmalloc_caches[cls]);
	bin->obj_magic = kmalloc_caches[cls].obj_magic;
	bin->obj_limit = kmalloc_caches[cls].obj_limit;
	/* the capacity last: a free() of the class in a signal handler
	 * that interrupts this sees either a bin for the slow path or a
	 * whole one */
	atomic_signal_fence(memory_order_seq_cst);
	bin->capacity = bin_capacity(kmalloc_sizes[cls]);
}

/*
 * heap_bins_reset - @heap, about to be pooled with every bin empty
 * (heap_release_slabs flushed them), gets its bins back to a new heap's
 * state: all zero, none set up; and their whole pages go back to the OS.
 * A pooled heap then keeps only its header resident, and the thread that
 * adopts it faults in the bins of the classes it uses, as in a new heap.
 * Before, every adopter that used classes the heap's earlier threads had
 * not made more of the block resident, up to all 128 KiB: waves of 1000
 * threads holding one block each, of a size that changed from wave to
 * wave, grew from 77 to 93 MB over 100 waves (glibc flat at 9.6), and
 * malloc_trim did not touch it (58 MB now, flat; 33 after malloc_trim).
 * A refused purge (mlock) leaves the pages resident, the headers zeroed
 * here. By the owner, signals blocked (heap_abandon, once HEAP_POOL_WARM
 * heaps are pooled), or for a pooled heap under heap_lock
 * (heap_pool_trim).
 */
void heap_bins_reset(struct heap *heap)
{
	if (!heap->bins_set_up)
		return; /* all zero, and no page of them touched since */
	for (uint64_t set_up = heap->bins_set_up; set_up; set_up &= set_up - 1) {
		struct kmalloc_bin *bin = heap->bins[__builtin_ctzll(set_up)];
		DEBUG_CHECK(bin->count == 0, "a pooled heap's bin is empty", bin);
		memset(bin, 0, sizeof(*bin));
	}
	heap->bins_set_up = 0;
	uintptr_t start = ((uintptr_t)heap + HEAP_BINS_OFFSET + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	uintptr_t end = (uintptr_t)heap + (PAGE_SIZE << HEAP_ORDER);
	if (os_purge((void *)start, end - start))
		atomic_fetch_add_explicit(&heap_bins_purged, 1, memory_order_relaxed);
}

_Atomic unsigned long heap_bins_purged; /* heap_bins_reset's purges, for malloc_trim */

/* bin_take_vacated - @n vacated objects of @slab into @objects, the lowest
 * index on top (the bin hands them out in address order, after the
 * freelist's objects above them); their double-free keys are set, as free
 * objects' in a bin are. */
static noinline void bin_take_vacated(struct kmem_cache *cache, struct page *slab, void **objects,
				      uint32_t n)
{
	for (uint32_t i = n; i-- > 0;) {
		void **obj = slab_take_vacated(cache, slab);
		obj[1] = obj_key(slab, obj);
		objects[i] = obj;
	}
}

static void heap_bin_gc(struct heap *heap, unsigned int cls);
static void cpu_release_idle(struct kmem_cache_cpu *c);

/* ---- the barn: sheaves of free objects that heaps hand each other ---------- */

/*
 * struct barn - one per kmalloc class from NR_LINE_SHARING_CLASSES up: up to
 * BARN_SHEAVES sheaves (a full bin's older half, at most BARN_SLOTS
 * objects), a ring in the order they came (the oldest at first), each with
 * the time it came: barn_put adds at the end, barn_take takes the newest,
 * barn_expire the oldest. nr_full is read without the lock (a hint),
 * written under it. Locks are tried by barn_put and barn_take (a busy barn
 * sends them the old way) and taken by barn_expire, barn_objects (reports)
 * and fork_prepare (barn_lock_all); nothing is called under one.
 */
struct barn {
	_Atomic int lock; /* mutex_lock() */
	_Atomic uint32_t nr_full;
	uint32_t first; /* the oldest sheaf's slot */
	uint32_t count[BARN_SHEAVES];
	uint64_t stamp[BARN_SHEAVES]; /* zone_clock_ms() when it came */
	void *objects[BARN_SHEAVES][BARN_SLOTS];
};

/* barn_slot - the slot of the sheaf @i places after the oldest */
static inline uint32_t barn_slot(const struct barn *b, uint32_t i)
{
	return (b->first + i) % BARN_SHEAVES;
}
static struct barn barns[NR_BARNS];

static inline struct barn *class_barn(unsigned int cls)
{
	return cls >= NR_LINE_SHARING_CLASSES ? &barns[cls - NR_LINE_SHARING_CLASSES] : NULL;
}

/* barn_put - @n objects (a full bin's older half) into @b as a sheaf; false
 * if the barn is full or busy, or @n is more than a sheaf holds. */
static bool barn_put(struct barn *b, void **objects, uint32_t n)
{
	/* more than a sheaf: a grown bin whose capacity went back
	 * (bin_capacity_reset) before its objects did */
	if (n > BARN_SLOTS || atomic_load_explicit(&b->nr_full, memory_order_relaxed) >= BARN_SHEAVES ||
	    !mutex_trylock(&b->lock))
		return false;
	uint32_t full = atomic_load_explicit(&b->nr_full, memory_order_relaxed);
	bool put = full < BARN_SHEAVES;
	if (put) {
		uint32_t i = barn_slot(b, full);
		memcpy(b->objects[i], objects, n * sizeof(void *));
		b->count[i] = n;
		b->stamp[i] = zone_clock_ms();
		atomic_store_explicit(&b->nr_full, full + 1, memory_order_relaxed);
	}
	mutex_unlock(&b->lock);
	return put;
}

/* barn_take - the newest sheaf of @b into @objects; its count, 0 if the
 * barn is empty or busy. */
static uint32_t barn_take(struct barn *b, void **objects)
{
	if (!mutex_trylock(&b->lock))
		return 0;
	uint32_t full = atomic_load_explicit(&b->nr_full, memory_order_relaxed), n = 0;
	if (full) {
		uint32_t i = barn_slot(b, full - 1);
		n = b->count[i];
		memcpy(objects, b->objects[i], n * sizeof(void *));
		atomic_store_explicit(&b->nr_full, full - 1, memory_order_relaxed);
	}
	mutex_unlock(&b->lock);
	return n;
}

static void flush_objects(struct heap *heap, void **objects, uint32_t n, bool vacate);

/* barn_expire - send home, as bin_flush does, every sheaf that has been in
 * a barn for @age_ms or more (0: all). @heap is the caller's, or NULL
 * (kswapd): objects go home by remote frees then. */
void barn_expire(struct heap *heap, uint64_t age_ms)
{
	void *sheaf[BARN_SLOTS];
	uint64_t now = zone_clock_ms();
	for (unsigned int k = 0; k < NR_BARNS; k++) {
		struct barn *b = &barns[k];
		while (atomic_load_explicit(&b->nr_full, memory_order_relaxed)) {
			uint32_t n = 0;
			mutex_lock(&b->lock);
			uint32_t full = atomic_load_explicit(&b->nr_full, memory_order_relaxed);
			uint32_t i = b->first;
			/* a sheaf put after now was read is young */
			if (full && b->stamp[i] <= now && now - b->stamp[i] >= age_ms) {
				n = b->count[i];
				memcpy(sheaf, b->objects[i], n * sizeof(void *));
				b->first = barn_slot(b, 1);
				atomic_store_explicit(&b->nr_full, full - 1, memory_order_relaxed);
			}
			mutex_unlock(&b->lock);
			if (!n)
				break;
			if (heap) /* its own objects go onto its slabs */
				heap_slabs_lock(heap);
			flush_objects(heap, sheaf, n, false);
			if (heap)
				heap_slabs_unlock(heap);
		}
	}
}

/* barn_objects - the free objects in kmalloc class @cls's barn (reports) */
unsigned long barn_objects(unsigned int cls)
{
	struct barn *b = class_barn(cls);
	unsigned long n = 0;
	if (!b || !atomic_load_explicit(&b->nr_full, memory_order_relaxed))
		return 0;
	mutex_lock(&b->lock);
	for (uint32_t i = 0; i < atomic_load_explicit(&b->nr_full, memory_order_relaxed); i++)
		n += b->count[barn_slot(b, i)];
	mutex_unlock(&b->lock);
	return n;
}

/* fork: the prepare handler takes every barn's lock (after the vm cache's,
 * before the zone's: thread.c's lock order), the parent releases them, the
 * child starts them unlocked */
void barn_lock_all(void)
{
	for (unsigned int k = 0; k < NR_BARNS; k++)
		mutex_lock(&barns[k].lock);
}

void barn_unlock_all(void)
{
	for (unsigned int k = 0; k < NR_BARNS; k++)
		mutex_unlock(&barns[k].lock);
}

void barn_fork_child(void)
{
	for (unsigned int k = 0; k < NR_BARNS; k++)
		atomic_store_explicit(&barns[k].lock, 0, memory_order_relaxed);
}

/* bin_object_slab - the slab of kmalloc object @p (one in a bin: known to
 * be in a slab) */
static inline struct page *bin_object_slab(uintptr_t p)
{
	return page_slab(entry_page(pagemap_lookup(p), p));
}

/* object_foreign - is free object @obj (in a bin) of another heap's slab? */
static inline bool object_foreign(struct heap *heap, void *obj)
{
	return bin_object_slab((uintptr_t)obj)->owner != heap;
}

/* bin_refill_from_barn - an empty @bin refilled with a sheaf of @b; the
 * caller's object, with its key cleared, or NULL if the barn had none. */
static void *bin_refill_from_barn(struct barn *b, struct kmalloc_bin *bin)
{
	uint32_t n = barn_take(b, bin->objects);
	if (!n)
		return NULL;
	bin->count = n - 1;
	void **obj = bin->objects[n - 1];
	obj[1] = NULL; /* the double-free key, as malloc clears it */
	return obj;
}

/*
 * bin_refill - malloc found the bin of class @cls empty: one object for the
 * caller, and the rest of a sheaf from the class's barn if it has one, else
 * up to half the bin's capacity more from the active slab
 * (taking a new active slab, by slab_alloc_slow, only for the caller's; a
 * new slab is carved straight into the bin, only its rest chained).
 * The bin is filled top down, so objects go out in freelist (address)
 * order, then the slab's vacated objects. NULL only if the page allocator failed.
 */
void *bin_refill(struct heap *heap, unsigned int cls)
{
	struct kmalloc_bin *bin = heap->bins[cls];
	struct kmem_cache_cpu *c = &heap->kmalloc[cls];
	struct barn *b = class_barn(cls);
	void *obj;
	DEBUG_CHECK(heap_slabs_held(heap), "bin refilled without heap_slabs_lock", heap);
	if (unlikely(!bin->capacity))
		bin_setup(heap, cls); /* the class's first malloc in this heap */
	if (b && atomic_load_explicit(&b->nr_full, memory_order_relaxed) && bin->count == 0 &&
	    (obj = bin_refill_from_barn(b, bin)))
		goto refilled;
	obj = cpu_alloc(heap, c, 0, bin);
	if (!obj)
		return NULL;
	struct page *slab = c->slab;
	/* slab_alloc_slow may have freed into this very bin (it drops the
	 * heap's parts of destroyed caches, whose descriptors are kmalloc
	 * objects): the bin need not be empty now */
	uint32_t free = c->cache->objects - slab->inuse; /* freelist and vacated */
	uint32_t half = bin->capacity / 2;
	uint32_t n = bin->count < half ? half - bin->count : 0;
	if (n > free)
		n = free;
	uint32_t listed = n; /* from the freelist, the rest vacated objects */
	if (unlikely(slab->vacated & VACATED_OBJECTS)) {
		uint32_t on_list = free - vacated_count(slab);
		if (listed > on_list)
			listed = on_list;
	}
	void **next = slab->freelist;
	uint32_t top = bin->count + n;
	for (uint32_t i = top; i-- > top - listed;) {
		bin->objects[i] = next;
		next = next[0];
	}
	slab->freelist = next;
	if (unlikely(listed < n))
		bin_take_vacated(c->cache, slab, bin->objects + bin->count, n - listed);
	slab->inuse = (uint16_t)(slab->inuse + n);
	bin->count += n;
refilled:
	c->bin_refilled = true;
	cpu_note_alloc(c);
	heap_bin_gc(heap, cls);
	return obj;
}

/* flush_run - @n objects of @slab, chained @head to @tail, go back: onto
 * the freelist if @heap owns the slab (then vacated, with @vacate, if it
 * is partial), else onto its remote list. */
static void flush_run(struct heap *heap, struct page *slab, void *head, void *tail,
		      unsigned int n, bool vacate)
{
	if (slab->owner != heap) {
		slab_free_remote_chain(slab, head, tail, n);
		return;
	}
	struct kmem_cache *cache = kmem_caches[slab->cache_id];
	if (slab_free_local(heap, cache, slab, head, tail, n) && vacate &&
	    (slab->flags & SLAB_PARTIAL))
		slab_vacate(cache, slab);
}

/* flush_objects - give @n free kmalloc objects (their keys set, their
 * inuse counts held) back to their slabs. Objects of one slab tend to sit
 * side by side (they were handed out in a run): while the addresses stay
 * in the previous object's slab, they are chained without a pagemap
 * lookup, and each run goes back in one piece (flush_run): one push for
 * the heap's own slab, one CAS for another heap's. With @vacate, the
 * heap's own slabs that runs went into are vacated. */
static void flush_objects(struct heap *heap, void **objects, uint32_t n, bool vacate)
{
	struct page *slab = NULL;
	/* the run's slab is where p & base_mask == base (no address matches
	 * base 1); the loop's length is the run's index, not a count: a store,
	 * a move and the test of the slab an object, ten instructions */
	uintptr_t base = 1, base_mask = ~(uintptr_t)0;
	void **chain = NULL, **chain_tail = NULL; /* the run, newest first */
	uint32_t run_start = 0;
	for (uint32_t i = 0; i < n; i++) {
		void **obj = objects[i];
		if (((uintptr_t)obj & base_mask) != base) {
			if (i > run_start)
				flush_run(heap, slab, chain, chain_tail, i - run_start, vacate);
			uintptr_t p = (uintptr_t)obj;
			slab = bin_object_slab(p);
			base_mask = ~slab_mask(slab);
			base = p & base_mask;
			chain = NULL;
			chain_tail = obj;
			run_start = i;
		}
		obj[0] = chain; /* kmalloc caches: free pointer at 0 */
		chain = obj;
	}
	if (n > run_start)
		flush_run(heap, slab, chain, chain_tail, n - run_start, vacate);
}

/* bin_grow - @bin, full, refilled since it was last full: the objects the
 * thread cycles through it do not fit, and each cycle takes them through
 * the slabs (a flush, a refill, often a slab set up and given back). Twice
 * the room, up to bin_capacity_max. False if it is there already. */
static bool bin_grow(struct kmalloc_bin *bin)
{
	uint32_t max = bin_capacity_max(kmalloc_sizes[bin->cls]);
	if (bin->capacity >= max)
		return false;
	bin->capacity = bin->capacity * 2 < max ? bin->capacity * 2 : max;
	return true;
}

/* bin_capacity_reset - @bin, of @c's class, back to its first capacity and
 * not refilled (the program stopped cycling that many objects, or a new
 * owner comes). Objects above it stay until the next free finds the bin
 * full and flushes them. */
static void bin_capacity_reset(struct kmem_cache_cpu *c, struct kmalloc_bin *bin)
{
	/* its callers reach only bins set up (heap->bins_set_up) */
	DEBUG_CHECK(bin->capacity != 0, "capacity reset of a bin never set up", bin);
	bin->capacity = bin_capacity(kmalloc_sizes[bin->cls]);
	c->bin_refilled = false;
}

/* bin_flush_vacating - give the bin's oldest objects back to their slabs
 * until @keep are left, vacating the slabs they go into with @vacate.
 * Owner only. bin_flush() without vacating. */
static void bin_flush_vacating(struct heap *heap, struct kmalloc_bin *bin, uint32_t keep,
			       bool vacate)
{
	if (bin->count <= keep)
		return;
	uint32_t n = bin->count - keep;
	flush_objects(heap, bin->objects, n, vacate);
	memmove(bin->objects, bin->objects + n, keep * sizeof(bin->objects[0]));
	bin->count = keep;
}

void bin_flush(struct heap *heap, struct kmalloc_bin *bin, uint32_t keep)
{
	heap_slabs_lock(heap);
	bin_flush_vacating(heap, bin, keep, false);
	heap_slabs_unlock(heap);
}

/*
 * bin_flush_full - free() found @bin full: give its older half back, to
 * the class's barn as a sheaf when they are other heaps' objects (the oldest
 * one's slab says) and the barn takes it, else to the slabs. The
 * class's traffic is counted in windows of BIN_SHRINK_WINDOW flushes: a
 * window in which refills took back less than a quarter of it says the
 * program is shrinking the class (and any refill says it is not). While
 * it shrinks, a vacatable class with at least VACATE_MIN_PARTIAL pages of
 * partial slabs vacates the slabs it flushes into, and once per
 * VACATE_SWEEP_MS every partial slab that changed.
 */
void bin_flush_full(struct heap *heap, struct kmalloc_bin *bin)
{
	struct kmem_cache_cpu *c = &heap->kmalloc[bin->cls];
	bool refilled = c->bin_refilled;
	c->bin_refilled = false;
	if (refilled && bin->count >= bin->capacity && bin_grow(bin))
		return;
	bool sweep = false;
	if (++c->window_flushes >= BIN_SHRINK_WINDOW) {
		c->shrinking = c->window_refills * 4 < c->window_flushes;
		c->window_flushes = c->window_refills = 0;
		sweep = true;
		if (c->shrinking)
			bin_capacity_reset(c, bin);
	}
	bool vacate = c->shrinking && c->cache->vacatable &&
		      ((unsigned long)c->nr_partial << c->cache->order) >= VACATE_MIN_PARTIAL;
	if (vacate && sweep) {
		uint64_t now = zone_clock_ms();
		if (now - c->last_sweep_ms >= VACATE_SWEEP_MS) {
			c->last_sweep_ms = now;
			cpu_vacate_partial(c);
		}
	}
	/* not always full: free_slab_slow comes here for a heap that
	 * heap_for_free just made */
	uint32_t keep = bin->capacity / 2, n = (uint32_t)bin->count - keep;
	struct barn *b = class_barn(bin->cls);
	if (b && !vacate && bin->count > keep && object_foreign(heap, bin->objects[0]) &&
	    barn_put(b, bin->objects, n)) {
		memmove(bin->objects, bin->objects + n, keep * sizeof(bin->objects[0]));
		bin->count = keep;
	} else {
		bin_flush_vacating(heap, bin, keep, vacate);
	}
	heap_bin_gc(heap, bin->cls);
}

/*
 * heap_bin_gc - one step of the bins' garbage collection, from a slow path
 * of class @cls (a refill or a flush: the thread is at work). Without it,
 * objects of a class the thread stopped asking for would sit in its bin
 * (up to BIN_BYTES, 32 KiB, four times that grown) until it exits, and
 * keep their slabs from going back. Each step looks at the next bin, round
 * robin over the classes and the remote bin, and compares its count with
 * its count at the last look, NR_KMALLOC_CLASSES + 1 slow paths ago:
 * unchanged, the thread has not touched it since (or took out as many as
 * it put in, and then half is enough), and its older half goes back to
 * the slabs, its capacity to the first (a grown bin that the thread
 * cycles whole batches through looks the same, and grows again on its
 * next batches); a remote bin left alone goes home whole. A bin left
 * alone is empty after about log2(capacity) looks, and once it is empty
 * at two looks in a row, its class gives back its empty slabs
 * (cpu_release_idle), so that a class the thread left keeps none of its
 * pages. Once a round, the look at the
 * remote bin also expires old cached large mappings (vm_cache_expire) and
 * old barn sheaves (barn_expire).
 * The fast paths do nothing for it: jemalloc's tcache GC, which plays the
 * same part, keeps a low-water mark, a compare and a store in every
 * malloc.
 */
#define GC_FLUSHED UINT32_MAX /* gc_count: the look emptied the bin */
static void heap_bin_gc(struct heap *heap, unsigned int cls)
{
	unsigned int look = heap->gc_cursor;
	heap->gc_cursor = look >= NR_KMALLOC_CLASSES ? 0 : look + 1;
	if (look == NR_KMALLOC_CLASSES) {
		vm_cache_expire();
		barn_expire(heap, zone.purge_ms);
		pcp_decay(&heap->pcp);
		uint32_t n = heap->remote_bin.count;
		if (n && n == heap->gc_remote_count)
			remote_bin_flush(heap);
		heap->gc_remote_count = heap->remote_bin.count;
		return;
	}
	if (look == cls || !(heap->bins_set_up & (1ULL << look)))
		return;
	struct kmalloc_bin *bin = heap->bins[look];
	struct kmem_cache_cpu *c = &heap->kmalloc[look];
	uint32_t n = (uint32_t)bin->count;
	if (n && n == c->gc_count) {
		/* left alone: it needs no more than its first room */
		bin_capacity_reset(c, bin);
		bin_flush(heap, bin, n / 2);
		/* emptied now: not yet empty at two looks */
		c->gc_count = bin->count ? (uint32_t)bin->count : GC_FLUSHED;
		return;
	}
	if (n == 0 && c->gc_count == 0)
		cpu_release_idle(c);
	c->gc_count = n;
}

/* remote_bin_flush - send every object of the remote bin home. */
void remote_bin_flush(struct heap *heap)
{
	flush_objects(heap, heap->remote_bin.objects, heap->remote_bin.count, false);
	heap->remote_bin.count = 0;
}

/* heap_flush_bins - empty every bin of @heap into the slabs (those set up:
 * the others' pages are not even read). Owner only. */
void heap_flush_bins(struct heap *heap)
{
	heap_slabs_lock(heap);
	for (uint64_t set = heap->bins_set_up; set; set &= set - 1) {
		unsigned int cls = (unsigned int)__builtin_ctzll(set);
		bin_flush(heap, heap->bins[cls], 0);
		bin_capacity_reset(&heap->kmalloc[cls], heap->bins[cls]); /* a heap adopted next starts afresh */
	}
	remote_bin_flush(heap);
	heap_slabs_unlock(heap);
}

/* ---- whole-heap maintenance ------------------------------------------------ */

static void cpu_release_slabs(struct kmem_cache_cpu *c, bool keep_reserve, bool deactivate)
{
	struct kmem_cache *cache = c->cache;
	struct page *slab = c->slab;
	if (deactivate && slab != &empty_slab) {
		slab_collect_direct(cache, slab);
		c->slab = &empty_slab;
		if (slab->inuse == 0)
			slab_put_empty(c, slab);
		else
			slab_list_add(c, slab, slab_has_free(slab) ? SLAB_PARTIAL : SLAB_FULL);
	}
	struct list_head *pos, *next;
	for (pos = c->slabs_empty.next; pos != &c->slabs_empty; pos = next) {
		next = pos->next;
		if (keep_reserve && c->nr_empty <= SLAB_EMPTY_RESERVE)
			break;
		slab = list_entry(pos, struct page, slab_list);
		if (slab_notified(slab))
			continue;
		slab_list_del(c, slab);
		slab_release(c, slab);
	}
}

/* cpu_release_idle - heap_bin_gc found the bin of @c's class empty at two
 * looks in a row: give back the class's empty slabs, the active one too
 * if nothing in it is in use (a class the thread left keeps none of its
 * pages; a class in use keeps its active slab). */
static void cpu_release_idle(struct kmem_cache_cpu *c)
{
	struct page *slab = c->slab;
	bool active_empty = slab != &empty_slab && slab->inuse == 0;
	if (active_empty || c->nr_empty)
		cpu_release_slabs(c, false, active_empty);
}

/* heap_release_slabs - give back every empty slab of the heap (all but the
 * reserve with @keep_reserve). Without it, active slabs are retired too:
 * the heap is being abandoned or trimmed hard. The owner only, or
 * heap_reclaim_abandoned for a pooled heap, under heap_lock. */
void heap_release_slabs(struct heap *heap, bool keep_reserve)
{
	heap_slabs_lock(heap);
	heap_flush_bins(heap);
	heap_collect_remote(heap);
	unsigned int limit = atomic_load_explicit(&cache_id_limit, memory_order_acquire);
	for (unsigned int id = 0; id < limit; id++) {
		struct kmem_cache_cpu *c = heap->cpu[id];
		if (c)
			cpu_release_slabs(c, keep_reserve, !keep_reserve);
	}
	heap_slabs_unlock(heap);
}

/*
 * heap_collect_live - another thread's collection of @heap, a live
 * thread's (heap_reclaim_live, under heap_lock): the frees on its remote
 * stack merged into its kmalloc caches' slabs, and every empty slab of
 * those given back, the active ones too if empty. The slabs of
 * kmem_cache_create() caches go back on the stack for the owner: its
 * kmem_cache_alloc and kmem_cache_free write them without the lock. The
 * bins are the owner's (its fast paths). False if the owner was in its
 * slow path (it collects itself then). While the heap is held, no lock
 * is taken and no system call made (see heap_slabs_lock): the emptied
 * slabs go onto @released, for the caller to give them to the zone after
 * (free_released_slabs). With
 * @idle_only, only if the owner took no slow path since the last such
 * look (kswapd's, heap_look_idle's).
 */
_Atomic unsigned long heap_live_collected;

bool heap_collect_live(struct heap *heap, bool idle_only, struct list_head *released)
{
	if (!heap_slabs_trylock(heap))
		return false;
	if (idle_only && heap->slabs_taken != heap->slabs_taken_seen) {
		heap->slabs_taken_seen = heap->slabs_taken;
		heap_slabs_unlock(heap);
		return false;
	}
	slab_release_deferred = released;
	unsigned long collected = collect_remote_stack(heap, true);
	for (unsigned int cls = 0; cls < NR_KMALLOC_CLASSES; cls++)
		cpu_release_slabs(&heap->kmalloc[cls], false, true);
	slab_release_deferred = NULL;
	heap_slabs_unlock(heap);
	atomic_fetch_add_explicit(&heap_live_collected, collected, memory_order_relaxed);
	return true;
}

/* free_released_slabs - the slabs heap_collect_live emptied, to the zone:
 * not the caller's page cache, where neither malloc_trim's purge nor a
 * failing allocation would find them (a second malloc_trim gave back
 * 336-432 KiB more) */
void free_released_slabs(struct list_head *released)
{
	while (!list_empty(released)) {
		struct page *slab = list_first_entry(released, struct page, slab_list);
		list_del(&slab->slab_list);
		__free_pages_zone(slab, slab->order);
	}
}

/* heap_vacate_slabs - give back the free pages in every partial slab of
 * @heap's vacatable classes (buddyslab_drain, malloc_trim). Owner only. */
void heap_vacate_slabs(struct heap *heap)
{
	heap_slabs_lock(heap);
	for (unsigned int cls = 0; cls < NR_KMALLOC_CLASSES; cls++)
		if (heap->kmalloc[cls].cache->vacatable)
			cpu_vacate_partial(&heap->kmalloc[cls]);
	heap_slabs_unlock(heap);
}

/* heap_cache_cpu - the heap's kmem_cache_cpu for a kmem_cache_create()
 * cache, made on first use. */
struct kmem_cache_cpu *heap_cache_cpu(struct heap *heap, struct kmem_cache *cache)
{
	struct kmem_cache_cpu *c = heap->cpu[cache->id];
	if (c)
		return c;
	c = kmalloc_obj(sizeof(*c), 0);
	if (!c)
		return NULL;
	kmem_cache_cpu_init(c, cache);
	atomic_fetch_add_explicit(&cache->refs, 1, memory_order_relaxed);
	heap->cpu[cache->id] = c;
	return c;
}

/* cache_put - drop one reference to a destroyed cache; the last one frees
 * the descriptor and its id, unless slabs with leaked objects remain (they
 * keep using the descriptor: reported here, by whichever thread let the
 * cache go last, kmem_cache_destroy's caller or a thread that still had
 * slabs of it). */
static void cache_put(struct kmem_cache *cache)
{
	if (atomic_fetch_sub_explicit(&cache->refs, 1, memory_order_acq_rel) != 1)
		return;
	long leaked = atomic_load_explicit(&cache->nr_slabs, memory_order_acquire);
	if (leaked) {
		bs_warn("kmem_cache_destroy(%s): slab cache still has objects (%ld slabs leaked)",
			cache->name, leaked);
		return;
	}
	pmutex_lock(&cache_lock);
	kmem_caches[cache->id] = NULL;
	pmutex_unlock(&cache_lock);
	bs_free(cache);
}

/* slab_list_disown - the slabs on @list belong to no heap any more. */
static void slab_list_disown(struct list_head *list)
{
	for (struct list_head *pos = list->next; pos != list; pos = pos->next)
		list_entry(pos, struct page, slab_list)->owner = NULL;
}

/* Drop a heap's part of a destroyed cache. Slabs still holding objects are
 * leaked (they keep nr_slabs above zero and the descriptor alive), and
 * disowned: a later free of one of their objects must not reach @c, freed
 * here, but slab_free, which reports it. */
static void heap_drop_cache(struct heap *heap, struct kmem_cache_cpu *c)
{
	struct kmem_cache *cache = c->cache;
	cpu_release_slabs(c, false, true);
	slab_list_disown(&c->slabs_partial);
	slab_list_disown(&c->slabs_full);
	heap->cpu[cache->id] = NULL;
	bs_free(c);
	cache_put(cache);
}

/* heap_flush_dead_caches - release this heap's part of every destroyed
 * cache. Owner only (or whoever holds an abandoned heap). */
void heap_flush_dead_caches(struct heap *heap)
{
	heap_slabs_lock(heap);
	heap->destroy_seen = atomic_load_explicit(&kmem_cache_destroy_gen, memory_order_acquire);
	heap_collect_remote(heap);
	unsigned int limit = atomic_load_explicit(&cache_id_limit, memory_order_acquire);
	for (unsigned int id = NR_KMALLOC; id < limit; id++) {
		struct kmem_cache_cpu *c = heap->cpu[id];
		if (c && atomic_load_explicit(&c->cache->dead, memory_order_acquire))
			heap_drop_cache(heap, c);
	}
	heap_slabs_unlock(heap);
}

/* slab_is_valid - internal consistency of one slab (tests, debug). */
bool slab_is_valid(struct page *slab)
{
	if (slab->type != PAGE_SLAB || slab->cache_id >= MAX_CACHES)
		return false;
	struct kmem_cache *cache = kmem_caches[slab->cache_id];
	if (!cache || slab->order != cache->order)
		return false;
	uintptr_t base = slab_base(slab);
	unsigned int free = 0;
	for (void *obj = slab->freelist; obj; obj = get_freepointer(cache, obj)) {
		uintptr_t off = (uintptr_t)obj - base;
		if ((uintptr_t)obj < base || off >= cache->used_bytes || off % cache->size)
			return false;
		if (++free > cache->objects)
			return false; /* cycle */
	}
	uintptr_t remote = atomic_load(&slab_remote(slab)->list);
	unsigned int nr_remote = 0;
	for (void *obj = remote_list_head(remote); obj; obj = get_freepointer(cache, obj))
		if (++nr_remote > cache->objects)
			return false;
	if (nr_remote != remote_list_count(remote))
		return false;
	unsigned int vacated = slab->vacated & VACATED_OBJECTS;
	if (vacated && (!cache->vacatable || vacated >> cache->objects))
		return false;
	for (void *obj = slab->freelist; vacated && obj; obj = get_freepointer(cache, obj))
		if (vacated & (1u << object_index(cache, slab, obj)))
			return false; /* on the freelist and vacated */
	if (slab->inuse + free + vacated_count(slab) != cache->objects ||
	    nr_remote > slab->inuse)
		return false;
	for (unsigned long i = 1; i < (1UL << slab->order); i++)
		if (slab[i].type != PAGE_SLAB_TAIL || slab[i].head != slab)
			return false;
	return true;
}

/* ---- the public kmem_cache API ---------------------------------------------- */

struct kmem_cache *kmem_cache_create(const char *name, size_t size, size_t align,
				     unsigned long flags, void (*ctor)(void *))
{
	buddyslab_init();
	if (size == 0 || size > (1UL << 20) || (align & (align - 1)) || align > PAGE_SIZE) {
		if (flags & SLAB_PANIC)
			bs_panic("kmem_cache_create(): invalid size %zu or alignment %zu for %s", size,
				 align, name ? name : "(unnamed)");
		errno = EINVAL;
		return NULL;
	}
	if (align < sizeof(void *))
		align = sizeof(void *);
	if ((flags & SLAB_HWCACHE_ALIGN) && align < 64)
		align = 64;
	uint32_t object_size = (uint32_t)size;
	uint32_t offset = 0;
	size_t stride = (size + sizeof(void *) - 1) & ~(sizeof(void *) - 1);
	if (ctor) {
		/* the free pointer and the double-free key (key_slot) must not
		 * overwrite constructed state: after the object */
		offset = (uint32_t)stride;
		stride += 2 * sizeof(void *);
	} else if (stride < 2 * sizeof(void *)) {
		stride = 2 * sizeof(void *); /* room for the key */
	}
	stride = (stride + align - 1) & ~(align - 1);
	struct kmem_cache *cache = kmalloc_obj(sizeof(*cache), __GFP_ZERO);
	if (!cache)
		goto nomem;
	cache_setup(cache, name ? name : "(unnamed)", object_size, (uint32_t)align, offset,
		    (uint32_t)stride, ctor, MAX_ORDER - 1);
	cache->flags = flags;
	pmutex_lock(&cache_lock);
	unsigned int id;
	for (id = NR_KMALLOC; id < MAX_CACHES; id++)
		if (!kmem_caches[id])
			break;
	if (id == MAX_CACHES) {
		pmutex_unlock(&cache_lock);
		bs_free(cache);
		goto nomem;
	}
	cache->id = (uint16_t)id;
	kmem_caches[id] = cache;
	if (id >= atomic_load_explicit(&cache_id_limit, memory_order_relaxed))
		atomic_store_explicit(&cache_id_limit, id + 1, memory_order_release);
	pmutex_unlock(&cache_lock);
	return cache;
nomem:
	if (flags & SLAB_PANIC)
		bs_panic("kmem_cache_create(): out of memory creating %s", name ? name : "(unnamed)");
	errno = ENOMEM;
	return NULL;
}

/* cache_is_live - is @cache one that kmem_cache_create returned and
 * kmem_cache_destroy was not called on? Looked up among the registered
 * caches, not read first: a destroyed cache's descriptor may be freed.
 * (kmem_cache_destroy twice was silent, and kmem_cache_alloc on a
 * destroyed cache handed out an object; a subagent's test, 2026-11-28.
 * A new cache given the same descriptor and id in between is the old
 * one's double, as in the kernel.) For the slow paths only. */
static bool cache_is_live(const struct kmem_cache *cache)
{
	unsigned int limit = atomic_load_explicit(&cache_id_limit, memory_order_acquire);
	for (unsigned int id = 0; id < limit && id < MAX_CACHES; id++)
		if (READ_ONCE(kmem_caches[id]) == cache)
			return !atomic_load_explicit(&cache->dead, memory_order_acquire);
	return false;
}

/* kmem_cache_alloc_retry - kmem_cache_alloc had no heap, no part of
 * @cache in it, or no object: NULL + ENOMEM, but with __GFP_NOFAIL it
 * tries again, every millisecond, for NOFAIL_RETRY_MS (an object's pages
 * were retried that long already by the page allocator), then reports
 * and aborts. (Only the object's failure did that: a thread's first
 * allocation, which makes its heap, returned NULL at once.) */
static noinline void *kmem_cache_alloc_retry(struct kmem_cache *cache, gfp_t flags)
{
	if (unlikely(!cache_is_live(cache)))
		bs_fatal("kmem_cache_alloc", "destroyed or invalid cache", cache);
	uint64_t since = zone_clock_ms();
	for (;;) {
		struct heap *heap = heap_get();
		struct kmem_cache_cpu *c = heap ? heap_cache_cpu(heap, cache) : NULL;
		void *obj = c ? cpu_alloc(heap, c, flags, NULL) : NULL;
		if (obj)
			return obj;
		if (!(flags & __GFP_NOFAIL)) {
			errno = ENOMEM;
			return NULL;
		}
		if (zone_clock_ms() - since >= NOFAIL_RETRY_MS)
			bs_panic("kmem_cache_alloc(): out of memory (__GFP_NOFAIL) in cache %s",
				 cache->name);
		usleep(1000);
	}
}

void *kmem_cache_alloc(struct kmem_cache *cache, gfp_t flags)
{
	struct heap *heap = heap_get();
	struct kmem_cache_cpu *c = likely(heap) ? heap->cpu[cache->id] : NULL;
	void *obj = likely(c) ? cpu_alloc(heap, c, flags, NULL) : NULL;
	if (unlikely(!obj)) {
		obj = kmem_cache_alloc_retry(cache, flags);
		if (!obj)
			return NULL;
	}
	kswapd_start_wanted();
	if (flags & __GFP_ZERO)
		memset(obj, 0, cache->object_size);
	return obj;
}

/* slab_of_object - the slab that holds @obj, if @obj is the start of an
 * object of a live slab; NULL otherwise. */
static struct page *slab_of_object(const void *obj, struct kmem_cache **cachep)
{
	uintptr_t p = (uintptr_t)obj;
	struct chunk *c = entry_chunk(pagemap_lookup(p), p);
	if (!c)
		return NULL;
	bool valid;
	struct page *slab = object_slab(chunk_page(c, p), p, cachep, &valid);
	return slab && valid ? slab : NULL;
}

/* kmem_cache_free_slow - kmem_cache_free() with every check: NULL, bad
 * pointers, another cache's objects, double frees, other heaps' slabs,
 * vacated slabs, caches without a key. */
static noinline void kmem_cache_free_slow(struct kmem_cache *cachep, void *objp)
{
	if (!objp)
		return;
	struct kmem_cache *cache;
	struct page *slab = slab_of_object(objp, &cache);
	if (!slab)
		bs_fatal("kmem_cache_free", "invalid pointer", objp);
	if (cache != cachep)
		bs_fatal("kmem_cache_free", "object from another cache", objp);
	slab_free(slab, cache, objp, "kmem_cache_free");
}

/*
 * kmem_cache_free - the common case inline, as free()'s: the object starts
 * an object of a head page of a slab of @cachep that the calling thread
 * owns, with nothing vacated, and its double-free key (key_slot) is not
 * set. Then it goes straight onto the slab's
 * freelist. Anything else takes kmem_cache_free_slow.
 */
void kmem_cache_free(struct kmem_cache *cachep, void *objp)
{
	uintptr_t p = (uintptr_t)objp;
	/* the flat table only: the tree's lookup, a call, would cost this
	 * path its registers (3 instructions); without a table, the slow path */
	uintptr_t *table;
	uintptr_t entry = pagemap_in_table(p, &table) ? pagemap_table_entry(table, p) : 0;
	if (likely(entry & PAGEMAP_CHUNK)) {
		struct page *slab = entry_page(entry, p);
		struct heap *heap = thread_heap;
		/* as free()'s fast path: a clean head page, so p is in the
		 * slab's first page */
		if (likely(once_eq16(&slab->type_vacated, PAGE_SLAB_CLEAN) && slab->owner == heap &&
			   kmem_caches[slab->cache_id] == cachep && slab_head_object_start(slab, p) &&
			   *key_slot(cachep, objp) != obj_key(slab, objp))) {
			*key_slot(cachep, objp) = obj_key(slab, objp); /* the double-free key */
			slab_free_local(heap, cachep, slab, objp, objp, 1);
			return;
		}
	}
	kmem_cache_free_slow(cachep, objp);
}

void kmem_cache_destroy(struct kmem_cache *cache)
{
	if (!cache)
		return;
	if (!cache_is_live(cache))
		bs_fatal("kmem_cache_destroy", "destroyed or invalid cache", cache);
	if (cache->is_kmalloc)
		bs_fatal("kmem_cache_destroy", "cannot destroy a kmalloc cache", cache);
	atomic_store_explicit(&cache->dead, 1, memory_order_release);
	atomic_fetch_add_explicit(&kmem_cache_destroy_gen, 1, memory_order_acq_rel);
	/* release our own and the abandoned heaps' slabs now; live threads
	 * release theirs at their next slab refill */
	struct heap *heap = heap_current();
	if (heap)
		heap_flush_dead_caches(heap);
	heap_reclaim_abandoned();
	cache_put(cache);
}

size_t kmem_cache_size(struct kmem_cache *cache)
{
	return cache->object_size;
}
