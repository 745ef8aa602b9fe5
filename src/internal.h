/*
 * internal.h - every type and cross-file prototype of buddyslab, one heading
 * per file that defines them (the layout of DESIGN.md, top to bottom).
 *
 * Memory picture of one chunk (the unit the buddy allocator gets from the OS):
 *
 *   chunk->base (aligned to 4 MiB)                            base + 4 MiB
 *   |-- page 0 --|-- page 1 --| ......................... |-- page 1023 --|
 *
 *   struct chunk (mapped separately, never inside the chunk, so that a whole
 *   order-10 block is allocatable):
 *   | base | lists | mem_map[0] mem_map[1] ... mem_map[1023] |
 *
 * pagemap (pagemap.c) maps every 4 MiB granule of the address space to the
 * struct chunk or struct vm_area that owns it, in one load (a flat table;
 * a radix tree of two where the table cannot be had).
 *
 * Page descriptor invariants (checked by page_is_valid and the unit tests):
 *  - A descriptor whose type is a "head" type (PAGE_BUDDY, PAGE_PCP,
 *    PAGE_SLAB, PAGE_LARGE, PAGE_INTERNAL) is the first page of a block of
 *    that kind; every other page of that block is PAGE_NONE, except the pages
 *    of a multi-page slab, which are PAGE_SLAB_TAIL and point to their head.
 *  - page->head is NULL except on PAGE_SLAB_TAIL pages.
 */
#ifndef BUDDYSLAB_INTERNAL_H
#define BUDDYSLAB_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/types.h>
#if defined(__has_include)
#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h> /* glibc 2.32 and later: __libc_single_threaded */
#define HAVE_SINGLE_THREADED 1
#endif
#endif

#include "buddyslab.h"

/* ---- compiler helpers ---------------------------------------------------- */
#define likely(x)    __builtin_expect(!!(x), 1)
#define unlikely(x)  __builtin_expect(!!(x), 0)
#define noinline     __attribute__((noinline))
#define cold         __attribute__((cold))
#define hidden       __attribute__((visibility("hidden")))
#define always_inline inline __attribute__((always_inline))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

/* DEBUG_CHECK - an internal consistency check of a slow path, compiled in
 * only with BUDDYSLAB_DEBUG (the library the unit tests link). */
#ifdef BUDDYSLAB_DEBUG
#define DEBUG_CHECK(cond, what, ptr) \
	do { if (unlikely(!(cond))) bs_fatal(__func__, "internal check failed: " what, ptr); } while (0)
#else
#define DEBUG_CHECK(cond, what, ptr) do { } while (0)
#endif

/* Relaxed loads and stores of fields that the owner thread writes and the
 * report code reads from another thread: plain moves on x86, race-free for
 * the C memory model and ThreadSanitizer. */
#define READ_ONCE(x)     __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/*
 * Compares that read memory themselves. gcc never folds an atomic load
 * into the instruction that uses it: READ_ONCE(x) == v is a load, then a
 * compare. On x86-64 (with asm flag outputs) the compare instruction reads
 * x instead, one instruction less on free()'s fast path, in inline asm: an
 * aligned load, outside the C memory model as the kernel's READ_ONCE is.
 * Under ThreadSanitizer, which must see the loads, and elsewhere: atomic
 * loads and a compare.
 *
 * once_eq16(x, v) - READ_ONCE(*x) == v: a relaxed load, ordered with
 * nothing (its address comes from the loads before it).
 * below_then_load(i, limit, ptrp, out) - i < *limit, with acquire order:
 * *out = *ptrp is loaded after *limit (one asm statement, whose two loads
 * x86 keeps in order), so a pointer published before the limit (a release
 * store) is seen with it.
 */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BS_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define BS_TSAN 1
#endif
/* BS_SANITIZED - built with ASan or TSan (the unit tests' sanitizer
 * builds), whose runtimes own the address space's layout */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BS_ASAN 1
#endif
#endif
#if defined(BS_TSAN) || defined(BS_ASAN) || defined(__SANITIZE_ADDRESS__)
#define BS_SANITIZED 1
#endif
#if defined(__x86_64__) && defined(__LP64__) && defined(__GCC_ASM_FLAG_OUTPUTS__) && \
	!defined(BS_TSAN)
static always_inline int once_eq16(const uint16_t *x, uint16_t v)
{
	int eq;
	__asm__("cmpw %[v], %[x]" : "=@cce"(eq) : [x] "m"(*x), [v] "ri"(v));
	return eq;
}
static always_inline int below_then_load(uintptr_t i, const uintptr_t *limit,
					 uintptr_t *const *ptrp, uintptr_t **out)
{
	int below;
	__asm__("cmpq %[limit], %[i]\n\tmovq %[ptr], %[out]"
		: "=@ccb"(below), [out] "=r"(*out)
		: [limit] "m"(*limit), [ptr] "m"(*ptrp), [i] "r"(i));
	return below;
}
#else
static always_inline int once_eq16(const uint16_t *x, uint16_t v)
{
	return __atomic_load_n(x, __ATOMIC_RELAXED) == v;
}
static always_inline int below_then_load(uintptr_t i, const uintptr_t *limit,
					 uintptr_t *const *ptrp, uintptr_t **out)
{
	int below = i < __atomic_load_n(limit, __ATOMIC_ACQUIRE);
	*out = __atomic_load_n(ptrp, __ATOMIC_RELAXED);
	return below;
}
#endif

/* ---- geometry ------------------------------------------------------------ */
#define PAGE_SHIFT        BUDDYSLAB_PAGE_SHIFT
#define PAGE_SIZE         (1UL << PAGE_SHIFT)
#define MAX_ORDER         BUDDYSLAB_MAX_ORDER        /* orders 0..10 */
#define CHUNK_ORDER       (MAX_ORDER - 1)
#define CHUNK_PAGES       (1UL << CHUNK_ORDER)       /* 1024 */
#define CHUNK_SHIFT       (PAGE_SHIFT + CHUNK_ORDER) /* 22: 4 MiB */
#define CHUNK_SIZE        (1UL << CHUNK_SHIFT)
#define MAX_BLOCK_SIZE    CHUNK_SIZE                 /* largest buddy block */
/*
 * Blocks bigger than VMALLOC_MIN_SIZE get a mapping of their own (vmalloc.c),
 * as do all blocks bigger than MAX_BLOCK_SIZE; between the two, only while
 * fewer than VM_AREAS_MAX mapped blocks are live (each is at least one of
 * the kernel's VMAs, of which a process has 65530), else a buddy block.
 * Why 1 MiB: blocks of 1-4 MiB are orders 9 and 10, half and whole chunks,
 * which a few smaller live blocks keep from being free; the zone then purged
 * and faulted back what it could not place. largeblock with max=4194304
 * (64 KiB-4 MiB) made 260k page faults (jemalloc 11k) and ran 0.41 s
 * (jemalloc 0.02); with them mapped (and their mappings reused from the
 * cache), 16k and 0.06 s. Whole largeblock 0.53 -> 0.28 s, realloc 0.75 ->
 * 0.67 s; peak RSS 191 -> 187 and 195 -> 209 MiB (jemalloc 208 and 265).
 */
#define VMALLOC_MIN_SIZE  (1UL << 20)
#define VM_AREAS_MAX      8192
/*
 * Page blocks malloc hands out up to this order (VMALLOC_MIN_SIZE's) stay
 * whole buddy blocks, as the kernel's kmalloc_large keeps them: a 9-page
 * block is the 16 of order 4. Trimmed to its pages (alloc_pages_exact),
 * the tail went back as blocks of smaller orders, which other blocks took;
 * freed, the 9 pages went back as 8 + 1. The order-4 blocks did not form
 * again, every new one came from memory purged before, and the pieces
 * piled up until purged in their turn: random 32 KiB-1 MiB blocks replaced
 * in a live set of 2000 ran 20-150 times slower than tcmalloc, purging and
 * faulting back a block's pages per malloc. Bigger blocks (fewer than
 * VM_AREAS_MAX mapped) still give their tail back.
 */
#define LARGE_WHOLE_MAX_ORDER 8
_Static_assert((PAGE_SIZE << LARGE_WHOLE_MAX_ORDER) == VMALLOC_MIN_SIZE,
	       "whole page blocks end where mapped blocks begin");

/* Sizes above SLAB_MAX_SIZE are served by whole pages (kmalloc_large);
 * 8 KiB, like the kernel's KMALLOC_MAX_CACHE_SIZE of two pages: above it a
 * page-granular block wastes under a third, and slabs of bigger objects
 * would need orders whose refill costs more than a page allocation. */
#define SLAB_MAX_SIZE     8192UL
/* Alignment of every malloc() block. */
#define MALLOC_ALIGN      16UL

/* The kernel's PAGE_ALLOC_COSTLY_ORDER: kmalloc caches' slabs stay at or
 * below it (slab.c). */
#define PAGE_ALLOC_COSTLY_ORDER 3
/*
 * Orders served by the per-thread page cache. The kernel's pcp lists stop
 * at PAGE_ALLOC_COSTLY_ORDER (plus the THP order); here malloc's whole
 * blocks of 32-128 KiB (orders 4 and 5, LARGE_WHOLE_MAX_ORDER) come from it
 * too: from the zone, each took its lock twice, and with two threads
 * replacing such blocks the lock held the time (32-64 KiB in a live set of
 * 2 x 2000: 0.229 -> 0.083 s, 64-128 KiB 0.255 -> 0.123 s; tcmalloc
 * 0.02-0.04; bench/probes/midblock_churn.c).
 * Orders 6-8 gain less (128-256 KiB 0.32 -> 0.20 s) and would need a
 * higher pcp->high: each block is 64-256 pages. The zone keeps one hot
 * block of each of them instead (HOT_MIN_ORDER).
 */
#define PCP_MAX_ORDER     5
#define NR_PCP_LISTS      (PCP_MAX_ORDER + 1)
/*
 * Orders above the page caches' that the zone keeps its last freed block
 * of whole, off the free lists (zone->hot, page_alloc.c): malloc's whole
 * blocks of 256 KiB-1 MiB. A block freed and allocated again in turn
 * would otherwise be merged with its free buddies up to the chunk and
 * split back down every time (583 instructions a malloc+free pair at 256
 * KiB in bench/fastpath.txt, 278 now). At most 1.75 MiB, counted as
 * resident free memory for the watermarks; a purge to below what they
 * hold lists them first.
 */
#define HOT_MIN_ORDER     (PCP_MAX_ORDER + 1)
#define HOT_MAX_ORDER     LARGE_WHOLE_MAX_ORDER
#define NR_HOT_ORDERS     (HOT_MAX_ORDER - HOT_MIN_ORDER + 1)

/* ---- lists ---------------------------------------------------------------- */
struct list_head {
	struct list_head *next, *prev;
};

static inline void INIT_LIST_HEAD(struct list_head *list)
{
	list->next = list;
	list->prev = list;
}
static inline bool list_empty(const struct list_head *head)
{
	return head->next == head;
}
static inline void __list_add(struct list_head *entry, struct list_head *prev,
			      struct list_head *next)
{
	next->prev = entry;
	entry->next = next;
	entry->prev = prev;
	prev->next = entry;
}
/* list_add - insert at the head (hot end). */
static inline void list_add(struct list_head *entry, struct list_head *head)
{
	__list_add(entry, head, head->next);
}
/* list_add_tail - insert at the tail (cold end). */
static inline void list_add_tail(struct list_head *entry, struct list_head *head)
{
	__list_add(entry, head->prev, head);
}
/* __list_del_entry - unlink @entry and leave its pointers as they were
 * (stale: for an entry whose pointers no one reads until it is on a list
 * again) */
static inline void __list_del_entry(struct list_head *entry)
{
	entry->next->prev = entry->prev;
	entry->prev->next = entry->next;
}
static inline void list_del(struct list_head *entry)
{
	__list_del_entry(entry);
	entry->next = entry->prev = NULL;
}
#define list_entry(ptr, type, member) container_of(ptr, type, member)
#define list_first_entry(head, type, member) list_entry((head)->next, type, member)
#define list_last_entry(head, type, member) list_entry((head)->prev, type, member)
#define list_for_each(pos, head) \
	for (pos = (head)->next; pos != (head); pos = pos->next)

/* ---- types.h part: struct page, chunk, zone ------------------------------ */

enum page_type {
	PAGE_NONE = 0,    /* interior page of a block, or never used */
	PAGE_BUDDY,       /* head of a free block on zone->free_area[order] */
	PAGE_PCP,         /* head of a free block on a thread's pcp list */
	PAGE_SLAB,        /* head of a slab */
	PAGE_SLAB_TAIL,   /* other page of a slab; ->head is the slab */
	PAGE_LARGE,       /* head of a malloc block of nr_pages whole pages */
	PAGE_PAGES,       /* head of a block from the native alloc_pages() */
	PAGE_INTERNAL,    /* head of a block used by buddyslab itself */
};

/* page->flags */
#define PG_clean      0x01u /* PAGE_BUDDY, PAGE_PCP: contents given back (madvise) or never used */
#define PG_isolated   0x02u /* PAGE_BUDDY: off the free lists (being purged, or zone->hot) */
/* slab list state, in the low bits of ->flags on PAGE_SLAB */
#define SLAB_ACTIVE   0x10u /* the owner's kmem_cache_cpu->slab */
#define SLAB_PARTIAL  0x20u
#define SLAB_FULL     0x40u
#define SLAB_EMPTY    0x80u
#define SLAB_STATE    0xf0u
/* the free pointer is not at offset 0 (a cache with a constructor) */
#define SLAB_FREEPTR_OFFSET 0x04u

/* slab->vacated: a bit per free object that is off the freelist because a
 * page it overlaps was given back; and the top bit, set by slab_vacate()
 * and cleared when an object comes back to the slab. Zero on every slab
 * never vacated. */
#define VACATED_OBJECTS 0x7fu
#define VACATED_CLEAN   0x80u
/* page->type_vacated of a slab's head page with nothing vacated */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "type is the low byte");
#define PAGE_SLAB_CLEAN ((uint16_t)PAGE_SLAB)

/* Low bit of a slab's remote free list (struct slab_remote): the slab is on
 * its owner's remote_slabs stack (or being collected from it). Set by the
 * remote free that makes the list non-empty, cleared only by the owner when
 * it pops the slab. */
#define REMOTE_NOTIFIED 1UL
/* The top 16 bits of the word count the objects on the list (user-space
 * pointers have them clear; a slab holds at most 65535 objects), so the
 * owner takes a list without walking it to count. */
#define REMOTE_COUNT_SHIFT 48
#define REMOTE_PTR_MASK (((1UL << REMOTE_COUNT_SHIFT) - 1) & ~REMOTE_NOTIFIED)
static inline void *remote_list_head(uintptr_t word)
{
	return (void *)(word & REMOTE_PTR_MASK);
}
static inline unsigned int remote_list_count(uintptr_t word)
{
	return (unsigned int)(word >> REMOTE_COUNT_SHIFT);
}

struct heap;

/*
 * struct page - one descriptor per 4 KiB page of a chunk, 64 bytes, one cache
 * line: everything the slow paths need is in the slab's head descriptor
 * (free()'s fast path reads the chunk's slab_class[] map instead).
 *
 * Slab invariant (owner's view): inuse == objects - |freelist| - (objects
 * in vacated); objects on the remote free list are still counted in inuse
 * until the owner collects them. type and vacated share a 16-bit word that
 * kmem_cache_free() compares with PAGE_SLAB_CLEAN: a slab's head page with
 * nothing vacated, in one test. The fields other threads write (the remote free
 * list) are not here but in the chunk's remote[] array (struct slab_remote): a remote free's
 * compare-and-swap must not take away the cache line that the owner's
 * malloc and free write.
 *
 * obj_magic, obj_limit (set when the slab is made, constant after): p is the
 * start of an object iff ((p & slab_mask(slab)) * obj_magic) mod 2^64 <
 * obj_limit. obj_magic = ceil(2^64 / size) turns "offset is a multiple of
 * size" into "offset * obj_magic mod 2^64 < obj_magic" for offsets and sizes
 * below 2^32; a multiple j * size gives j * e, e = size * obj_magic - 2^64 <
 * size, so obj_limit = objects * e (or 1 when e = 0, size a power of two
 * that divides the slab) also bounds j below objects. One multiply and one
 * compare in free(); test_slab checks it against division for every offset.
 */
struct page {
	struct page *head;          /* PAGE_SLAB_TAIL: the slab's head page */
	union {
		struct {
			uint8_t type;       /* enum page_type */
			uint8_t vacated;    /* PAGE_SLAB: VACATED_* (slab_vacate);
					     * written by the owner, read by all */
		};
		uint16_t type_vacated;      /* both: kmem_cache_free()'s test */
	};
	uint8_t order;              /* order of the block this page heads */
	uint8_t flags;              /* PG_* or SLAB_* state */
	union {
		uint32_t nr_pages;  /* PAGE_LARGE: pages in the block */
		struct {
			uint16_t inuse;     /* PAGE_SLAB: objects handed out */
			uint16_t cache_id;  /* PAGE_SLAB: index in kmem_caches[] */
		};
	};
	union {
		struct {
			struct list_head lru; /* PAGE_BUDDY on free_area, PAGE_PCP on pcp list */
			union {
				uint64_t free_stamp;     /* PAGE_BUDDY: zone_clock_ms() when freed */
				struct heap *pcp_owner;  /* PAGE_PCP: whose list it is on */
			};
		};
		/* PAGE_LARGE: the pages asked for, <= nr_pages (the block's):
		 * what usable_size reports and realloc copies */
		uint32_t used_pages;
		struct {
			void *freelist;            /* owner-local free objects */
			struct heap *owner;        /* heap that allocates from it */
			struct list_head slab_list; /* partial / full / empty list */
			uint64_t obj_magic;        /* see above: the object start test */
			uint64_t obj_limit;
		};
	};
};
#define PAGE_DESC_SHIFT 6 /* log2 of sizeof(struct page) */
_Static_assert(sizeof(struct page) == 1 << PAGE_DESC_SHIFT, "struct page is one cache line");

/*
 * struct slab_remote - the part of a slab that other threads write: objects
 * they freed (chained through the objects' free pointers, REMOTE_NOTIFIED in
 * the low bit) and the link on the owner's remote_slabs stack. Kept apart
 * from the struct page line, in the chunk's remote[].
 */
struct slab_remote {
	_Atomic uintptr_t list;
	struct page *next;
};

/*
 * struct chunk - one max-order block of memory from the OS and its mem_map.
 * Invariant: base is CHUNK_SIZE aligned; pagemap maps base's granule here.
 */
struct chunk {
	uintptr_t base;             /* first byte of the chunk's memory */
	struct list_head list;      /* on zone->chunks */
	uint64_t magic;             /* CHUNK_MAGIC: validated by pagemap users */
	char pad[64 - 8 - 16 - 8];
	/* free()'s map of its pages (slab_class_set): a page of a kmalloc
	 * slab with no vacated object holds its free class (struct heap's
	 * free_bin[]), every other page 0. A byte a page, so that free()
	 * finds an object's class and bin in 1 KiB per chunk, without
	 * reading the 64-byte descriptor, a cache miss when a program frees
	 * all over a big heap (server, 9 runs each: 0.45 -> 0.33 s, where
	 * tcmalloc, whose free reads a byte a page, takes 0.29). */
	uint8_t slab_class[CHUNK_PAGES];
	struct page mem_map[CHUNK_PAGES];
	struct slab_remote remote[CHUNK_PAGES]; /* of the slab headed by mem_map[i] */
};
#define CHUNK_MAGIC 0x6b6e7568637962ULL /* "bychunk" */
/* struct chunk is mapped aligned to this, so page_chunk() is a mask. */
#define CHUNK_DESC_ALIGN (128UL * 1024)
_Static_assert(sizeof(struct chunk) <= CHUNK_DESC_ALIGN, "chunk descriptor fits its alignment");

/* Dirty (resident) free blocks and clean (purged) ones are kept apart:
 * allocation takes dirty ones first, so memory that is already resident
 * is reused; purging takes the oldest dirty ones from the tail. */
struct free_area {
	struct list_head free_list;  /* dirty blocks, most recently freed first */
	struct list_head clean_list; /* PG_clean blocks */
	unsigned long nr_free;       /* == length of both lists */
};

/*
 * struct zone - the process-wide page pool (one zone: user space has no DMA
 * or HIGHMEM). All fields are protected by ->lock.
 *
 * Watermarks count "dirty" free pages, free pages whose memory is still
 * resident. Above ->watermark_high, a free purges (madvise) the dirty
 * blocks that have been free for at least ->purge_ms, oldest first, until
 * dirty pages fall to ->watermark_low; whole free chunks among them are
 * unmapped. Above twice ->watermark_high it purges regardless of age. Young
 * blocks are spared so that a program that frees and allocates again does
 * not fault its memory back in. But when the zone is shrinking (since the
 * last purge, fewer than a quarter of the dirty pages freed into it were
 * taken again), that memory serves nobody: the purge takes young blocks
 * too. (Below ->watermark_high nothing is purged, shrinking or not: a
 * program that frees a few MiB and grows again, as realloc'd vectors do,
 * keeps them.) ->watermark_min: dirty pages that purging always leaves (a
 * warm reserve for the next burst); malloc_trim ignores it.
 */
struct zone {
	_Atomic int lock;               /* zone_lock(): 0 free, 1 held, 2 held, waiters */
	struct free_area free_area[MAX_ORDER];
	struct list_head chunks;        /* every chunk mapped */
	unsigned long nr_chunks;
	unsigned long nr_free_pages;    /* pages on free_area lists */
	unsigned long nr_dirty_free;    /* of those, not PG_clean */
	struct page *hot[NR_HOT_ORDERS]; /* the last block freed of each hot order */
	unsigned long nr_hot_pages;     /* pages in them */
	unsigned long nr_hot_dirty;     /* of those, not PG_clean */
	unsigned long nr_isolated_pages; /* free blocks zone_purge took off the
					  * lists to purge, the lock dropped */
	unsigned long watermark_min;
	unsigned long watermark_low;
	unsigned long watermark_high;
	unsigned long purge_ms;         /* age before a free block is purged */
	uint64_t last_purge_ms;         /* when a purge last ran */
	uint64_t grow_ms;               /* when a chunk was last mapped */
	unsigned long recent_freed;     /* dirty pages freed into the zone, */
	unsigned long recent_reused;    /* and taken from it, since that purge */
	/* statistics */
	unsigned long nr_purged;        /* pages given back by madvise, total */
	unsigned long nr_chunks_unmapped;
	unsigned long nr_reclaims;
};

/* ---- pcp.c: the per-thread page cache ------------------------------------ */

/*
 * struct per_cpu_pages - like the kernel's, but per thread. Owner-only.
 * Invariant: count == sum over lists of (blocks << order); count <= high
 * after every free; lists[k] holds PAGE_PCP blocks of order k.
 */
#define PCP_HIGH_MAX      4096 /* pages (16 MiB): the most high is raised to */
#define PCP_DECAY_MS      1000 /* a raised high comes down an eighth this often */
struct per_cpu_pages {
	int count;                      /* pages on all lists */
	int high;                       /* drain above this: high_min + raised */
	int batch;                      /* pages moved per zone lock hold */
	int drain_rr;                   /* next list to drain from */
	int high_min;                   /* high when not raised (pcp_high) */
	int drained;                    /* pages drained over high, not yet raised for */
	uint64_t decay_ms;              /* when high was last raised from high_min or lowered */
	struct list_head lists[NR_PCP_LISTS];
};

/* ---- slab.c: kmem_cache -------------------------------------------------- */

/*
 * struct kmem_cache - one size class of malloc ("kmalloc-N") or a cache
 * made with kmem_cache_create(). Read-only after creation except the
 * atomics at the end.
 *
 * Object layout in a slab of 2^order pages (base aligned to the slab size):
 *   | obj 0 | obj 1 | ... | obj objects-1 | waste |
 *   each obj is ->size bytes; its free pointer is at ->offset (0 unless a
 *   constructor must keep the object intact, then after the object).
 */
struct kmem_cache {
	uint32_t size;             /* stride between objects */
	uint32_t object_size;      /* bytes the user may use */
	uint32_t offset;           /* free pointer offset in a free object */
	uint32_t used_bytes;       /* objects * size */
	uint64_t obj_magic;        /* struct page's object start test: */
	uint32_t obj_limit;        /* copied into every slab */
	uint32_t objects;          /* objects per slab */
	uint16_t id;               /* index in kmem_caches[] */
	uint8_t order;             /* slab order */
	uint8_t is_kmalloc;        /* a malloc size class */
	uint16_t align;
	uint8_t vacatable;         /* slab_vacate() applies: a kmalloc class of
				    * multi-page slabs (<= 7 objects, 8 pages) */
	unsigned long flags;
	void (*ctor)(void *);
	char name[32];
	/* The counters below change when any thread makes or frees a slab;
	 * they get a cache line of their own, so that every free()'s reads
	 * of the fields above never miss on them (false sharing). */
	_Alignas(64) _Atomic int dead; /* kmem_cache_destroy() was called */
	_Atomic int refs;          /* heaps holding a kmem_cache_cpu for it, +1
				    * for the creator until kmem_cache_destroy */
	_Atomic long nr_slabs;     /* slabs of this cache in all heaps */
};
_Static_assert(offsetof(struct kmem_cache, ctor) < 64 &&
		       offsetof(struct kmem_cache, dead) % 64 == 0,
	       "free()'s fields in the first line, the counters in their own");


/* Cache ids: the kmalloc classes first, then kmem_cache_create's (474 of
 * them at most). */
#define MAX_CACHES 512

/*
 * struct kmem_cache_cpu - a heap's (thread's) part of one kmem_cache: the
 * active slab it allocates from with no lock, and its slab lists.
 * Owner-only. Every slab of this heap and cache is either ->slab or on
 * exactly one of the three lists, and its SLAB_* state says which.
 */
struct kmem_cache_cpu {
	struct page *slab;              /* active slab, or &empty_slab */
	struct kmem_cache *cache;
	struct list_head slabs_partial; /* some objects free */
	struct list_head slabs_full;    /* no free object known to the owner */
	struct list_head slabs_empty;   /* all free, kept as a reserve */
	uint32_t nr_partial, nr_full, nr_empty;
	uint32_t nr_slabs;              /* all slabs, active included */
	/* kmalloc classes: the bin's traffic with the slabs (bin_flush_full) */
	uint16_t window_flushes;        /* bin flushes in this window */
	uint16_t window_refills;        /* bin refills in this window */
	bool shrinking;                 /* the last window was mostly flushes */
	bool bin_refilled;              /* the bin was refilled since it was last
					 * full (bin_flush_full: it grows) */
	uint32_t gc_count;              /* the bin's count at heap_bin_gc's last look
					 * (UINT32_MAX: that look emptied it) */
	uint64_t last_sweep_ms;         /* when slab_vacate last swept the partials */
};
/* Bin flushes per window of a class's traffic (bin_flush_full). */
#define BIN_SHRINK_WINDOW 16
/* Pages of partial slabs a shrinking class must hold before it vacates
 * (4 MiB): below that, what it would give back is not worth the system
 * calls and the faults when the class grows again (a thread pool's heap
 * passed from thread to thread holds about 1 MiB of a class, say). */
#define VACATE_MIN_PARTIAL 1024UL

/* ---- thread.c: heaps ------------------------------------------------------ */

enum heap_state {
	HEAP_ACTIVE,    /* owned by a live thread */
	HEAP_ABANDONED, /* its thread exited; in the pool for adoption */
	HEAP_DEAD,      /* its thread vanished in fork(): never used again */
};

/*
 * struct kmalloc_bin - a heap's cache of free objects of one kmalloc class,
 * a stack of pointers (the kernel's per-CPU "sheaf" in SLUB, a magazine):
 * malloc pops, free pushes, and neither touches a slab. Objects in a bin
 * are free for the program (the double-free key is set in those that
 * free() put there, not in those a refill brought: malloc clears it
 * either way) and still counted in their slab's inuse, so their slabs
 * stay. An empty bin is refilled from the class's active slab, up to half
 * its capacity, in one go (bin_refill; or with a sheaf of the class's
 * barn); a full one gives its older half back to the slabs (bin_flush),
 * the owner's own with plain stores, other heaps' as remote frees (or,
 * when they are other heaps', to the barn: slab.c). Owner-only.
 *
 * capacity: objects worth BIN_BYTES, 4 to BIN_MAX_SLOTS, so a bin holds
 * about as many bytes whatever its class: 2048 16-byte objects, 8 of 4
 * KiB. A program that frees a list of a thousand small cells and builds
 * the next one cycles them through its bin alone (64 slots, the old fixed
 * size, sent each of them through a flush and a refill: symbolic ran 15 %
 * longer). A bin that is found full after a refill since it was last full
 * (the thread cycles more objects through it than it holds: a batch of 64
 * blocks of 1 KiB, allocated then freed, took each of them through the
 * slabs, 2.5 times the instructions) grows to twice its capacity, up to
 * BIN_GROWTH times (and two barn sheaves), from kmalloc-80 up; it is back
 * to its first capacity once the bins' garbage collection finds it left
 * alone, its class shrinks, or the heap's bins are emptied (slab.c). The
 * slots follow the header; the bins of a heap sit after it, in its block
 * (heap_setup), each as long as its largest capacity. 0 for the shared
 * empty_bin, which is always both empty and full, so that heapless
 * threads and kmem_cache objects take the slow paths; and 0, the whole
 * header zero, for a heap's bin of a class the thread has not used yet:
 * its first malloc (bin_refill) or free (free_slab_slow) sets it up
 * (bin_setup). A heap's bins span 100 KiB of its block, a header on most
 * of its pages: set up at once, they made every thread 107 KiB resident
 * before it allocated anything (1000 threads with one 64-byte block each:
 * 118 MB, against glibc's 10.5 and jemalloc's 33).
 */
#define BIN_MAX_SLOTS 2048
#define BIN_BYTES (32 * 1024)
#define BIN_GROWTH 4
struct kmalloc_bin {
	uint64_t count;     /* 64 bits: an index without a zero extension */
	uint32_t capacity;
	uint32_t cls;       /* index of its class in kmalloc_caches[] */
	/* the class's slab_object_start() test, for free(), which knows
	 * the bin and not the slab: the offset in the slab is p & obj_mask
	 * (slabs are aligned to their size) */
	uint64_t obj_mask;
	uint64_t obj_magic;
	uint64_t obj_limit;
	void *objects[];
};
#define NR_KMALLOC_CLASSES 38 /* slab.c's kmalloc_sizes[] */

/*
 * struct remote_bin - objects under a cache line (the kmalloc classes below
 * KMALLOC_LINE_SIZE) of other heaps' slabs that this heap freed, on their
 * way home. They do not go to the freeing thread's bins: handing such a
 * block straight back to the thread that freed it, beside blocks its owner
 * still uses, would put two threads' objects in one cache line (false
 * sharing). Bigger objects do go to the freeing thread's bin (their reuse
 * there is what makes cross-thread frees cheap; bench/README.md has the
 * trade-off). Full, the remote bin is flushed as bin_flush does: a run of
 * one slab's objects goes home with one CAS. Owner-only.
 */
#define KMALLOC_LINE_SIZE 64
#define NR_LINE_SHARING_CLASSES 3 /* kmalloc-16, -32, -48: cache ids 0..2 */

/*
 * Free classes: the values of a chunk's slab_class[] map, by which free()
 * finds the bin of an object (heap->free_bin[]) without reading the slab's
 * descriptor. 0: not a page of a kmalloc slab with nothing vacated;
 * free_bin[0] is the capacity-0 empty_bin, so free() takes its slow path
 * (free_by_page), which reads the descriptor. A class from
 * NR_LINE_SHARING_CLASSES up: cls + 1, whichever heap owns the slab (its
 * objects go to the freeing thread's bin). A class under a cache line: one
 * free class per class and owner tag (heap->line_tag), and each heap's
 * free_bin[] sends only its own tag's to its bins, so that another heap's
 * object goes home (goes_home) without a look at the slab's owner. Two
 * heaps with one tag (more than NR_LINE_TAGS threads) keep each other's
 * objects of those classes, as every heap does with bigger ones.
 */
#define NR_FREE_CLASSES 256
#define FREE_CLASS_LINE_BASE 40
#define NR_LINE_TAGS ((NR_FREE_CLASSES - FREE_CLASS_LINE_BASE) / NR_LINE_SHARING_CLASSES)
static inline unsigned int free_class(unsigned int cls, unsigned int line_tag)
{
	if (cls < NR_LINE_SHARING_CLASSES)
		return FREE_CLASS_LINE_BASE + line_tag * NR_LINE_SHARING_CLASSES + cls;
	return cls + 1;
}
/* free_class_cls - the kmalloc class of free class @fc (not 0) */
static inline unsigned int free_class_cls(unsigned int fc)
{
	if (fc < FREE_CLASS_LINE_BASE)
		return fc - 1;
	return (fc - FREE_CLASS_LINE_BASE) % NR_LINE_SHARING_CLASSES;
}
_Static_assert(NR_KMALLOC_CLASSES + 1 <= FREE_CLASS_LINE_BASE && NR_LINE_TAGS >= 8,
	       "free classes: one a class, then a class under a cache line and a tag, in a byte");

#define REMOTE_BIN_SLOTS 64
struct remote_bin {
	uint32_t count;
	void *objects[REMOTE_BIN_SLOTS];
};

/*
 * struct heap - all that one thread allocates from without a lock. Heaps are
 * never freed: when a thread exits its heap is abandoned, keeps owning its
 * slabs (other threads may still free into them) and is adopted by the next
 * new thread. So slab->owner always points to a valid heap.
 */
/* heap->direct[(size + 7) >> 3] is the bin of size's class, for sizes up to
 * KMALLOC_DIRECT_MAX: malloc's fast path is one load from it (mimalloc's
 * pages_free_direct). */
#define KMALLOC_DIRECT_MAX 2048
#define NR_DIRECT (KMALLOC_DIRECT_MAX / 8 + 1)
/* heap->direct_big[(size - 1) >> 8] for KMALLOC_DIRECT_MAX < size <=
 * SLAB_MAX_SIZE: the classes there are multiples of 256 (entries up to
 * KMALLOC_DIRECT_MAX / 256 are not used). */
#define NR_DIRECT_BIG (8192 / 256)

/* Heaps are 2^HEAP_ORDER pages from the zone, marked PAGE_INTERNAL: the
 * struct heap, then its bins (about 118 KiB in all, with the slots of
 * grown bins; pages no bin reaches are never touched). */
#define HEAP_ORDER 5

struct heap {
	struct kmalloc_bin *direct[NR_DIRECT];         /* by (size + 7) >> 3, hot */
	struct kmalloc_bin *direct_big[NR_DIRECT_BIG]; /* by (size - 1) >> 8 */
	struct kmalloc_bin *bin_of[MAX_CACHES];        /* by slab->cache_id, for free();
							* &empty_bin but for kmalloc */
	struct kmalloc_bin *free_bin[NR_FREE_CLASSES]; /* by free class (slab_class[]),
							* for free(); &empty_bin but
							* for its classes */
	struct kmalloc_bin *bins[NR_KMALLOC_CLASSES];  /* in the heap's block, after it */
	uint64_t bins_set_up;                          /* bit cls: bins[cls] is set up
							* (bin_setup); the others are all zero */
	struct remote_bin remote_bin;
	struct kmem_cache_cpu kmalloc[40];      /* malloc size classes */
	struct kmem_cache_cpu *cpu[MAX_CACHES]; /* by cache id; kmalloc ones point above */
	struct per_cpu_pages pcp;
	_Atomic(struct page *) remote_slabs;    /* slabs with remote frees to collect */
	/* who is in the heap's slab state (its caches' kmem_cache_cpu, the
	 * remote stack): 0, or the holder's thread_tag() + its nesting depth;
	 * see heap_slabs_lock */
	_Atomic uintptr_t slabs_holder;
	unsigned int slabs_taken;               /* heap_slabs_lock's takes, under it */
	unsigned int slabs_taken_seen;          /* ... at the last look of a collector
						 * after idle heaps, under it */
	_Atomic int state;                      /* enum heap_state */
	unsigned int destroy_seen;              /* kmem_cache_destroy generation handled */
	unsigned int gc_cursor;                 /* the bin heap_bin_gc looks at next */
	uint32_t gc_remote_count;               /* remote_bin.count at its last look */
	struct heap *next_all;                  /* heap_list, under heap_lock */
	struct heap *next_pool;                 /* abandoned pool, under heap_lock */
	pid_t tid;
	bool late;                              /* taken after its thread's heap_thread_exit
						 * (thread.c), under heap_lock */
	unsigned int line_tag;                  /* < NR_LINE_TAGS: see free_class() */
	/* statistics, owner-written, read by reports */
	unsigned long stat_remote_frees;
	unsigned long stat_collected;
};
/* where a heap's bins start in its block: after it, on a cache line */
#define HEAP_BINS_OFFSET ((sizeof(struct heap) + 63) & ~(size_t)63)

/* ---- os.c ------------------------------------------------------------------ */
hidden void *os_map(size_t size, size_t align);
hidden void *os_map_at(uintptr_t addr, size_t size, bool *occupied);
hidden bool os_unmap(void *addr, size_t size);
hidden bool os_single_mapping(void *addr, size_t size);
hidden void os_unmap_refused(void *addr, size_t size);
hidden void *os_reserve(size_t size);
hidden bool os_commit(void *addr, size_t size);
hidden bool os_purge(void *addr, size_t size);
hidden bool os_purge_zeroes(void);
hidden bool os_resident(void *addr, size_t size, unsigned char *vec);
hidden bool os_swap_configured(void);
hidden void *os_remap(void *old, size_t old_size, size_t new_size, void *fixed_at);
hidden bool os_grow_in_place(void *addr, size_t old_size, size_t new_size);
hidden size_t os_read_file(const char *path, char *buf, size_t size);
hidden unsigned long os_parse_ulong(const char **s);
hidden size_t os_rss(void);
hidden unsigned long os_mapped_bytes(void);

/* ---- libc.c: no-allocation helpers ---------------------------------------- */
/* A fixed buffer formatter: %s %d %u %ld %lu %zu %x %lx %p %c %%, widths. */
struct fmtbuf {
	char buf[512];
	size_t len;
	int fd;
};
hidden void fmt_init(struct fmtbuf *fb, int fd);
hidden void fmt_printf(struct fmtbuf *fb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
hidden void fmt_flush(struct fmtbuf *fb);
hidden void bs_printf(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
hidden const char *bs_getenv(const char *name);
hidden size_t fsize_limit(void);
hidden _Noreturn cold void bs_fatal(const char *call, const char *what, const void *ptr);
/* bs_fatal_tail - bs_fatal() not declared _Noreturn (and defined in another
 * file), so that a fast path can tail-call it: gcc never tail-calls a
 * _Noreturn function, and a call would need a stack frame on the path. */
hidden cold void bs_fatal_tail(const char *call, const char *what, const void *ptr);
hidden cold void bs_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
hidden _Noreturn cold void bs_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- pagemap.c ------------------------------------------------------------ */
/* Entry values: 0 (not buddyslab's), a chunk's entry with bit 0 set
 * (PAGEMAP_CHUNK: free()'s common case is one bit test; chunk_entry), or
 * a struct vm_area *. */
#define PAGEMAP_CHUNK 1UL
hidden bool pagemap_set_range(uintptr_t start, size_t size, uintptr_t value);
hidden void pagemap_clear_range(uintptr_t start, size_t size);
/* The flat table (pagemap.c): entries for granules below limit (0 while
 * there is no table); read-mostly, on a line of its own. */
struct pagemap {
	_Alignas(64) uintptr_t *table;
	uintptr_t limit;
};
extern struct pagemap pagemap hidden;
#define PAGEMAP_BITS 48 /* the address space the pagemap covers */
/* the flat table covers [0, PAGEMAP_TABLE_TOP): 2^21 entries, 16 MiB; the
 * tree the rest. Chunks are mapped below it (the direct map, page_alloc.c),
 * somewhere in [DIRECT_MAP_LOW, PAGEMAP_TABLE_TOP) */
#define PAGEMAP_TABLE_BITS 43
#define PAGEMAP_TABLE_TOP (1UL << PAGEMAP_TABLE_BITS)
#define DIRECT_MAP_LOW (256UL << 30)
#define DIRECT_MAP_SIZE (256UL << 30) /* 65536 chunks */
hidden uintptr_t direct_map_base(void);
#define PAGEMAP_LEAF_BITS 13
#define PAGEMAP_ROOT_BITS (PAGEMAP_BITS - CHUNK_SHIFT - PAGEMAP_LEAF_BITS)
hidden uintptr_t pagemap_lookup_tree(uintptr_t p);
hidden const char *pagemap_kind_name(void);

/* pagemap_in_table - does the flat table hold p's entry? (There is a
 * table, and p is not above the user address space it covers.) The table
 * in *table, read after the limit that published it. */
static always_inline bool pagemap_in_table(uintptr_t p, uintptr_t **table)
{
	return below_then_load(p >> CHUNK_SHIFT, &pagemap.limit, &pagemap.table, table);
}
/* pagemap_table_entry - p's entry in @table, when pagemap_in_table(p) */
static always_inline uintptr_t pagemap_table_entry(uintptr_t *table, uintptr_t p)
{
	return __atomic_load_n(&table[p >> CHUNK_SHIFT], __ATOMIC_ACQUIRE);
}
/* pagemap_lookup - the owner entry of address p, or 0: one load from the
 * flat table (the tree's two, out of line, without one). */
static always_inline uintptr_t pagemap_lookup(uintptr_t p)
{
	uintptr_t *table;
	if (unlikely(!pagemap_in_table(p, &table)))
		return pagemap_lookup_tree(p);
	return pagemap_table_entry(table, p);
}

/*
 * chunk_entry - the pagemap entry of chunk @c: its descriptor's address
 * less the page frame number of its first page (base >> PAGE_SHIFT, a
 * multiple of CHUNK_PAGES, so bit 0 stays free for the tag), as the
 * kernel's vmemmap is mem_map less the first pfn: entry + (p >>
 * PAGE_SHIFT) is then c plus p's page index, with no mask
 * (entry_class_byte: one instruction fewer in free()). Taking the chunk
 * back needs an address in it (entry_chunk).
 */
static inline uintptr_t chunk_entry(struct chunk *c)
{
	return ((uintptr_t)c - (c->base >> PAGE_SHIFT)) | PAGEMAP_CHUNK;
}
/* chunk_of_entry - the chunk that p's entry, known to be PAGEMAP_CHUNK,
 * names: the bias (p's chunk's first pfn) added back. */
static always_inline struct chunk *chunk_of_entry(uintptr_t entry, uintptr_t p)
{
	return (struct chunk *)(entry - PAGEMAP_CHUNK + ((p >> PAGE_SHIFT) & ~(CHUNK_PAGES - 1)));
}
/* entry_chunk, entry_vm - what the pagemap entry of address p names, or
 * NULL. */
static always_inline struct chunk *entry_chunk(uintptr_t entry, uintptr_t p)
{
	return (entry & PAGEMAP_CHUNK) ? chunk_of_entry(entry, p) : NULL;
}
static inline struct vm_area *entry_vm(uintptr_t entry)
{
	return (entry & PAGEMAP_CHUNK) ? NULL : (struct vm_area *)entry;
}

/* chunk_page - descriptor of the page holding p, in chunk c: the index's
 * shift, mask and scale folded into one shift and one mask
 * (chunk_page_addr is its inverse). */
static always_inline struct page *chunk_page(struct chunk *c, uintptr_t p)
{
	uintptr_t offset = (p >> (PAGE_SHIFT - PAGE_DESC_SHIFT)) & ((CHUNK_PAGES - 1) << PAGE_DESC_SHIFT);
	return (struct page *)((uintptr_t)c->mem_map + offset);
}
/* entry_page - chunk_page() from p's entry, known to be PAGEMAP_CHUNK. */
static always_inline struct page *entry_page(uintptr_t entry, uintptr_t p)
{
	return chunk_page(chunk_of_entry(entry, p), p);
}
static inline uintptr_t chunk_page_addr(struct chunk *c, struct page *page)
{
	/* the descriptor's byte offset scaled, not its index: no shift
	 * right before the shift left */
	return c->base + (((uintptr_t)page - (uintptr_t)c->mem_map) << (PAGE_SHIFT - PAGE_DESC_SHIFT));
}
/* page_chunk - the chunk a descriptor belongs to: every struct chunk is
 * mapped aligned to CHUNK_DESC_ALIGN (it is smaller than that), so this is
 * a mask. */
static always_inline struct chunk *page_chunk(struct page *page)
{
	return (struct chunk *)((uintptr_t)page & ~(CHUNK_DESC_ALIGN - 1));
}
/* slab_remote - the remote free list of the slab headed by @slab. */
static always_inline struct slab_remote *slab_remote(struct page *slab)
{
	struct chunk *c = page_chunk(slab);
	return &c->remote[slab - c->mem_map];
}
/* page_address - the first byte of the page @page describes */
static always_inline uintptr_t page_address(struct page *page)
{
	return chunk_page_addr(page_chunk(page), page);
}
/* entry_class_byte - the byte of p's page in its chunk's slab_class[]
 * map, from p's entry, known to be PAGEMAP_CHUNK: the array's offset and
 * the tag in one displacement, and p's page frame number added whole
 * (chunk_entry's bias takes the chunk's first one off). */
static always_inline const uint8_t *entry_class_byte(uintptr_t entry, uintptr_t p)
{
	return (const uint8_t *)(entry + (offsetof(struct chunk, slab_class) - PAGEMAP_CHUNK)) +
	       (p >> PAGE_SHIFT);
}
/* entry_slab_class - the free class of the page holding p (struct chunk's
 * slab_class[]), from its entry. A relaxed load: the slab's owner may be
 * vacating it as we read. */
static always_inline unsigned int entry_slab_class(uintptr_t entry, uintptr_t p)
{
	return __atomic_load_n(entry_class_byte(entry, p), __ATOMIC_RELAXED);
}
/*
 * obj_key - the double-free key of a free object at @obj of @slab, in the
 * object's second word: the address of the byte of free()'s map
 * (slab_class[]) for the page the object starts in, an address in
 * buddyslab's metadata that no program stores; every allocation clears
 * the word. free() has that address at hand: it read the page's free class
 * there (entry_key: one lea, where the page's descriptor took four). A key
 * per page, not one per chunk (the chunk's entry itself): bytes a program
 * never wrote, which realloc copies from a block into the next, may hold a
 * key of the page's earlier life (stress found it), and only this page's
 * key makes a live object there look free.
 */
static always_inline void *obj_key(const struct page *slab, const void *obj)
{
	struct chunk *c = page_chunk((struct page *)slab);
	return &c->slab_class[((uintptr_t)obj >> PAGE_SHIFT) & (CHUNK_PAGES - 1)];
}
/* entry_key - obj_key() of an object at p, from p's entry (PAGEMAP_CHUNK) */
static always_inline void *entry_key(uintptr_t entry, uintptr_t p)
{
	return (void *)entry_class_byte(entry, p);
}
hidden struct page *virt_to_page(uintptr_t p);

/* ---- page_alloc.c: the buddy allocator ------------------------------------- */
extern struct zone zone hidden;
hidden struct page *__alloc_pages_zone(gfp_t gfp, unsigned int order);
hidden void __free_pages_zone(struct page *page, unsigned int order);
hidden void free_pages_range(struct page *page, unsigned long nr_pages, uint8_t flags);
hidden bool grow_block_in_place(struct page *page, unsigned long old_pages, unsigned long new_pages);
hidden int rmqueue_bulk(unsigned int order, int count, struct list_head *list, gfp_t gfp,
			struct heap *owner);
hidden void __free_one_page(struct page *page, unsigned int order);
hidden void zone_maybe_purge(void);
hidden bool zone_is_shrinking(void);
/* zone_dirty_pages - resident free pages: on the free lists and hot. */
static inline unsigned long zone_dirty_pages(void)
{
	return READ_ONCE(zone.nr_dirty_free) + READ_ONCE(zone.nr_hot_dirty);
}
/* zone_should_purge - after a free into the zone (zone->lock held): is
 * there resident free memory to give back? (See struct zone.) */
static inline bool zone_should_purge(void)
{
	return zone_dirty_pages() > zone.watermark_high;
}
hidden void zone_purge(unsigned long target_dirty, bool unmap_free_chunks, uint64_t min_age_ms);
extern _Atomic int zone_purge_lock hidden; /* mutex_lock(); zone_purge */
hidden uint64_t zone_clock_ms(void);
/* how long a __GFP_NOFAIL allocation retries when the OS refuses memory,
 * before its caller reports and aborts (__alloc_pages_zone,
 * kmem_cache_alloc) */
#define NOFAIL_RETRY_MS 2000
hidden bool zone_reclaim(gfp_t gfp, bool unmap_free_chunks);
hidden bool zone_is_valid(void);
hidden void zone_flush_hot(void);
/* mutex.c: the futex mutex of the zone's and the vm cache's locks (an int,
 * 0 when free; the comment at the top of mutex.c). Lock and unlock are
 * inline, their waits out of line. */
hidden void mutex_lock_wait(_Atomic int *lock, int seen);
hidden void mutex_wake(_Atomic int *lock);
static always_inline bool process_single_threaded(void)
{
#ifdef HAVE_SINGLE_THREADED
	return __libc_single_threaded;
#else
	return false;
#endif
}
/*
 * fork_locked, fork_locker: a fork is between its handlers, and this thread
 * is the one that forks (thread.c, "fork"). fork_prepare takes every lock
 * of the allocator and fork_parent / fork_child let go of them, but the
 * handlers other libraries registered before buddyslab's run inside that
 * span (glibc runs prepare handlers newest first, the others oldest
 * first), and may allocate and free: the forking thread's own lock calls
 * then return at once -- it holds them all, no other thread is inside, and
 * neither is it. Every other thread waits for the locks as usual. A
 * compare with memory and a branch in each unlock; in a lock only when the
 * lock is busy (mutex_lock_wait).
 */
extern _Atomic bool fork_locked hidden;
extern __thread bool fork_locker hidden __attribute__((tls_model("initial-exec")));
static always_inline bool fork_holds_locks(void)
{
	return unlikely(atomic_load_explicit(&fork_locked, memory_order_relaxed)) && fork_locker;
}
static always_inline void mutex_lock(_Atomic int *lock)
{
	/* a lock the forking thread holds is busy: mutex_lock_wait returns
	 * at once for it (fork_holds_locks), and the fast path pays nothing
	 * (alone in the process, the store of 1 finds 1) */
	if (process_single_threaded()) {
		atomic_store_explicit(lock, 1, memory_order_relaxed);
		return;
	}
	int seen = 0;
	if (unlikely(!atomic_compare_exchange_strong_explicit(lock, &seen, 1, memory_order_acquire,
							      memory_order_relaxed)))
		mutex_lock_wait(lock, seen);
}
/* mutex_trylock - take @lock if it is free; false if it is not. */
static always_inline bool mutex_trylock(_Atomic int *lock)
{
	int seen = 0;
	return atomic_compare_exchange_strong_explicit(lock, &seen, 1, memory_order_acquire,
						       memory_order_relaxed) ||
	       fork_holds_locks();
}

static always_inline void mutex_unlock(_Atomic int *lock)
{
	if (fork_holds_locks()) /* not ours to let go: fork_parent's */
		return;
	if (process_single_threaded()) {
		atomic_store_explicit(lock, 0, memory_order_relaxed);
		return;
	}
	if (unlikely(atomic_exchange_explicit(lock, 0, memory_order_release) == 2))
		mutex_wake(lock);
}
/* The zone lock. No thread is created with it held (kswapd_start_wanted
 * runs after zone_unlock). */
static always_inline void zone_lock(void)
{
	mutex_lock(&zone.lock);
}
static always_inline void zone_unlock(void)
{
	mutex_unlock(&zone.lock);
}
hidden void zone_init_watermarks(void);

/* ---- pcp.c ----------------------------------------------------------------- */
hidden void pcp_init(struct per_cpu_pages *pcp);
hidden struct page *pcp_alloc(struct heap *heap, unsigned int order, gfp_t gfp);
hidden void pcp_free(struct heap *heap, struct page *page, unsigned int order);
hidden void pcp_drain(struct per_cpu_pages *pcp, int keep);
hidden void pcp_decay(struct per_cpu_pages *pcp);
hidden void pcp_set_high(struct per_cpu_pages *pcp, int high);
hidden long pcp_raised_pages(void);
hidden void pcp_fork_child(struct heap *self);
hidden bool pcp_is_valid(struct per_cpu_pages *pcp);

/* pcp_take_first - unlink the newest block on the thread's non-empty list
 * of @order. It keeps its PAGE_PCP fields, stale, for the caller to give it
 * another type: lru and pcp_owner are read only of PAGE_PCP and PAGE_BUDDY
 * pages (and slab_setup overwrites them). */
static always_inline struct page *pcp_take_first(struct per_cpu_pages *pcp, unsigned int order)
{
	struct page *page = list_first_entry(&pcp->lists[order], struct page, lru);
	__list_del_entry(&page->lru);
	WRITE_ONCE(pcp->count, pcp->count - (int)(1UL << order));
	return page;
}

/* pcp_take - the same, or NULL when the list is empty (pcp_alloc then
 * refills it from the zone) */
static always_inline struct page *pcp_take(struct per_cpu_pages *pcp, unsigned int order)
{
	if (unlikely(list_empty(&pcp->lists[order])))
		return NULL;
	return pcp_take_first(pcp, order);
}

/* Page-level allocation used by the layers above: pcp for small orders when
 * the thread has a heap, the zone otherwise. */
hidden struct page *alloc_pages_node(gfp_t gfp, unsigned int order);
hidden void free_pages_node(struct page *page, unsigned int order);

/* ---- slab.c ----------------------------------------------------------------- */
extern struct kmem_cache *kmem_caches[MAX_CACHES] hidden;
extern struct kmem_cache kmalloc_caches[] hidden;
extern unsigned int nr_kmalloc_caches hidden;
extern uint8_t kmalloc_index_small[] hidden; /* (size+7)>>3 -> class, size <= KMALLOC_DIRECT_MAX */
extern struct page empty_slab hidden;
extern struct kmalloc_bin empty_bin hidden;
hidden void *bin_refill(struct heap *heap, unsigned int cls);
hidden void *kmalloc_cpu_alloc(struct heap *heap, unsigned int cls, const char *call);
hidden void bin_flush(struct heap *heap, struct kmalloc_bin *bin, uint32_t keep);
hidden void bin_flush_full(struct heap *heap, struct kmalloc_bin *bin);
extern _Atomic unsigned long slab_vacated_pages hidden;
hidden void heap_flush_bins(struct heap *heap);
/* the barn (slab.c's header): sheaves of free kmalloc objects shared by heaps */
hidden void barn_expire(struct heap *heap, uint64_t age_ms);
hidden unsigned long barn_objects(unsigned int cls);
hidden void barn_lock_all(void);
hidden void barn_unlock_all(void);
hidden void barn_fork_child(void);
hidden void remote_bin_flush(struct heap *heap);
hidden size_t bin_bytes(unsigned int cls);
hidden void heap_bins_reset(struct heap *heap);
hidden void heap_pool_trim(void);
/* A heap pooled while this many others are keeps its bins' pages (the
 * next thread, often soon, uses them again); past it, heap_bins_reset
 * gives them back. 64 such heaps hold at most about 7 MiB of bins.
 * Resetting every pooled heap's bins cost threadchurn (8000 threads, 4 at
 * a time, each using many classes) 2.5 times its time: 324k page faults
 * instead of 5k. */
#define HEAP_POOL_WARM 64
extern _Atomic unsigned int heap_pool_size hidden;
extern _Atomic unsigned long heap_bins_purged hidden;
hidden void bin_setup(struct heap *heap, unsigned int cls);
hidden unsigned int kmalloc_index(size_t size);
hidden unsigned int kmalloc_index_aligned(size_t size, size_t align);
hidden void slab_init(void);
hidden void kmem_cache_cpu_init(struct kmem_cache_cpu *c, struct kmem_cache *cache);
hidden void *slab_alloc_slow(struct heap *heap, struct kmem_cache_cpu *c, gfp_t gfp,
			     struct kmalloc_bin *bin);
hidden void slab_free_slow(struct heap *heap, struct page *slab);
hidden void slab_free_remote(struct page *slab, void *obj);
hidden void slab_free_remote_chain(struct page *slab, void *head, void *tail, unsigned int n);
hidden void slab_free(struct page *slab, struct kmem_cache *cache, void *obj, const char *call);
hidden bool slab_object_is_freed(struct page *slab, struct kmem_cache *cache, void *obj);
hidden void heap_collect_remote(struct heap *heap);
hidden bool heap_collect_live(struct heap *heap, bool idle_only, struct list_head *released);
hidden void free_released_slabs(struct list_head *released);
/* objects that heap_collect_live took from live heaps' remote stacks */
extern _Atomic unsigned long heap_live_collected hidden;
hidden void heap_release_slabs(struct heap *heap, bool keep_reserve);
hidden void heap_vacate_slabs(struct heap *heap);
hidden void free_vacated_check(struct page *slab, void *obj);
hidden void heap_flush_dead_caches(struct heap *heap);
hidden bool slab_is_valid(struct page *slab);
hidden void *kmalloc_obj(size_t size, gfp_t gfp);
hidden struct kmem_cache_cpu *heap_cache_cpu(struct heap *heap, struct kmem_cache *cache);
extern _Atomic unsigned int kmem_cache_destroy_gen hidden;
/* heap_caches_destroyed - was a kmem_cache destroyed since @heap last let
 * the destroyed ones go (heap_flush_dead_caches)? */
static inline bool heap_caches_destroyed(const struct heap *heap)
{
	return heap->destroy_seen !=
	       atomic_load_explicit(&kmem_cache_destroy_gen, memory_order_acquire);
}

/* page_slab - the slab (head descriptor) that @page is part of, or NULL if
 * it is not a slab page. A slab's head page is the common case: one test. */
static always_inline struct page *page_slab(struct page *page)
{
	if (likely(page->type == PAGE_SLAB))
		return page;
	if (READ_ONCE(page->type) != PAGE_SLAB_TAIL) /* a second load: the first is a compare */
		return NULL;
	struct page *head = page->head;
	return head && head->type == PAGE_SLAB ? head : NULL;
}

/* slab_mask - the offset of an address in @slab is its low bits under this
 * mask: slabs are aligned to their size. */
static always_inline uintptr_t slab_mask(const struct page *slab)
{
	return (PAGE_SIZE << slab->order) - 1;
}
/* cache_slab_mask - slab_mask() of @cache's slabs */
static always_inline uintptr_t cache_slab_mask(const struct kmem_cache *cache)
{
	return (PAGE_SIZE << cache->order) - 1;
}

/* object_start - does @offset, in a slab, start an object of the geometry
 * @magic, @limit (a slab's, a cache's, or its copy in a kmalloc bin)? The
 * test is explained at struct page. */
static always_inline bool object_start(uint64_t offset, uint64_t magic, uint64_t limit)
{
	return offset * magic < limit;
}

/* slab_object_start - is @p the start of one of @slab's objects? */
static always_inline bool slab_object_start(const struct page *slab, uintptr_t p)
{
	return object_start(p & slab_mask(slab), slab->obj_magic, slab->obj_limit);
}

/* slab_head_object_start - slab_object_start() for an address in the
 * slab's first page (kmem_cache_free's fast path, which found @slab as the
 * descriptor of p's own page): the offset is p's offset in its page, a
 * constant mask. */
static always_inline bool slab_head_object_start(const struct page *slab, uintptr_t p)
{
	return object_start(p & (PAGE_SIZE - 1), slab->obj_magic, slab->obj_limit);
}

/* object_slab - for @page, the descriptor of address @p: the slab holding
 * @p if it is a slab page (else NULL), its cache in *cachep, and in *valid
 * whether @p is the start of one of its objects. */
static always_inline struct page *object_slab(struct page *page, uintptr_t p,
					      struct kmem_cache **cachep, bool *valid)
{
	struct page *slab = page_slab(page);
	if (unlikely(!slab))
		return NULL;
	*valid = slab_object_start(slab, p);
	*cachep = kmem_caches[slab->cache_id];
	return slab;
}

/* ---- vmalloc.c ------------------------------------------------------------- */
/*
 * struct vm_area - one large block with its own mapping. The mapping starts
 * at addr, aligned to at least CHUNK_SIZE, so that no 4 MiB granule is shared
 * with anything else; pagemap maps its granules to it (untagged).
 *
 * A block made of cached mappings (vm_cache_take), or grown into the one
 * after it (vm_cache_take_after), is several of the kernel's mappings
 * (VMAs) side by side, and mremap moves or resizes only
 * within one: pieces says where they lie, so that a move takes them one by
 * one. Invariant: the pieces' sizes add up to size, and each piece
 * lies within one VMA (a piece may span several only if the program split
 * its block itself, with mprotect for instance: a move then copies it).
 *
 * VM_MAX_PIECES: blocks made of cached mappings are made of more pieces
 * each time they go round the cache. At 32, largeblock's takes stopped at
 * the limit with 30 MiB still cached on average and faulted fresh pages
 * instead: 64 cut its page faults 124k -> 94k (4-32 MiB blocks: 253k ->
 * 166k), 0.28 -> 0.25 s, peak RSS unchanged (181.6 MiB; with 4-32 MiB
 * blocks lower: 255 -> 244 MiB). 128 faulted a little less for no more
 * speed (every piece is a move).
 */
#define VM_MAX_PIECES 64
struct vm_pieces {
	unsigned int nr;               /* >= 1 */
	size_t size[VM_MAX_PIECES];    /* in address order, multiples of PAGE_SIZE */
};
struct vm_area {
	uintptr_t addr;         /* start of mapping == the user's pointer */
	size_t size;            /* mapped bytes, a multiple of PAGE_SIZE */
	uint64_t magic;
	size_t align;           /* the alignment the block was asked with */
	struct vm_area *next_dead; /* on vmalloc.c's vm_dead, to be freed */
	struct vm_pieces pieces;
};
#define VM_MAGIC 0x6165726d76796221ULL
/* the magic of the hot mapping (vmalloc.c's vm_hot): a freed block whose
 * pagemap entries still name its descriptor */
#define VM_HOT_MAGIC 0x746f68766d627321ULL
static inline bool vm_area_is_hot(const struct vm_area *vm)
{
	return READ_ONCE(vm->magic) == VM_HOT_MAGIC;
}
hidden void *vmalloc_node(size_t size, size_t align, gfp_t gfp);
hidden void vfree_area(struct vm_area *vm);
hidden void *vrealloc_area(struct vm_area *vm, size_t size);
hidden void vm_cache_shrink_for_growth(void);
hidden void vm_cache_drain(void);
hidden void vm_cache_trim(uint64_t max_age_ms);
hidden void vm_cache_expire(void);
hidden void vm_cache_fit_budget(void);
hidden bool vm_cache_counts(unsigned int *nr, size_t *bytes, bool *hot);
hidden void vm_dead_free(void);
extern _Atomic unsigned long vm_nr_areas hidden;
extern _Atomic unsigned long vm_bytes hidden;
extern _Atomic long vm_pieces_live hidden;

/* ---- thread.c ---------------------------------------------------------------- */
/* thread_heap - the calling thread's heap; &empty_heap (whose direct[]
 * entries are all &empty_slab) until it has one, so that the malloc fast
 * path needs no NULL test. heap_current() gives NULL instead. */
extern __thread struct heap *thread_heap hidden __attribute__((tls_model("initial-exec")));
extern struct heap empty_heap hidden;
static always_inline struct heap *heap_current(void)
{
	struct heap *heap = thread_heap;
	return heap == &empty_heap ? NULL : heap;
}
hidden struct heap *heap_get_slow(void);
/* heapless_frees - the slab objects and page blocks this thread freed while
 * it had no heap. A thread gets a heap on its first allocation, and on its
 * HEAP_AFTER_FREES-th such free (heap_for_free): a thread that only frees
 * (the end of a pipeline) then frees into bins, whose runs go home with one
 * CAS each, instead of one remote free (a CAS, and a walk of the slab's
 * remote list for the double-free check) per object. A thread that frees a
 * few blocks and exits gets none. heap_thread_exit sets it to
 * HEAP_AFTER_FREES, so that frees after the heap was given back at exit
 * never make another (kswapd sets it too): it counts no further then, and
 * cannot wrap round to it. The free that would make it does so only where
 * that is safe (heap_get_on_free), else a later one tries again. */
#define HEAP_AFTER_FREES 64
extern __thread unsigned int heapless_frees hidden __attribute__((tls_model("initial-exec")));
hidden struct heap *heap_get_on_free(void);
static always_inline struct heap *heap_for_free(void)
{
	struct heap *heap = heap_current();
	if (likely(heap) || heapless_frees >= HEAP_AFTER_FREES ||
	    ++heapless_frees != HEAP_AFTER_FREES)
		return heap;
	return heap_get_on_free();
}
hidden void heap_reclaim_abandoned(void);
hidden bool heaps_all_abandoned(void);
hidden void heap_for_each(void (*fn)(struct heap *, void *), void *arg);
/* pmutex_lock, pmutex_trylock (true: taken), pmutex_unlock - the pthread
 * mutexes below (heap_lock, cache_lock, pagemap_lock, report_lock,
 * shm_lock), with the fork's exception of mutex_lock (fork_holds_locks). */
static inline void pmutex_lock(pthread_mutex_t *lock)
{
	if (!fork_holds_locks())
		pthread_mutex_lock(lock);
}
static inline bool pmutex_trylock(pthread_mutex_t *lock)
{
	return fork_holds_locks() || pthread_mutex_trylock(lock) == 0;
}
static inline void pmutex_unlock(pthread_mutex_t *lock)
{
	if (!fork_holds_locks())
		pthread_mutex_unlock(lock);
}
extern pthread_mutex_t heap_lock hidden;
extern pthread_mutex_t cache_lock hidden;
extern pthread_mutex_t pagemap_lock hidden;
extern _Atomic int vm_cache_lock hidden; /* mutex_lock() */
extern pthread_mutex_t report_lock hidden;
extern pthread_mutex_t shm_lock hidden;
extern _Atomic unsigned long abandoned_pending hidden;
extern _Atomic bool leader_exited hidden;
extern _Atomic unsigned long nr_active_heaps hidden;
hidden void buddyslab_init(void);
extern _Atomic int buddyslab_initialized hidden;

static always_inline struct heap *heap_get(void)
{
	struct heap *heap = thread_heap;
	if (likely(heap != &empty_heap))
		return heap;
	return heap_get_slow();
}

/*
 * The heap's slab lock. A heap's slabs are its thread's: their lists and
 * freelists are written with plain stores. But a thread that sits idle
 * while others free what it allocated keeps those objects on its slabs'
 * remote lists, which only it collected: memory nobody could use or give
 * back until it allocated again (test_enomem threads-alive ran out of
 * memory with 64 MiB of them). So another thread may now collect them
 * (heap_reclaim_live: direct reclaim, malloc_trim), and each touch of a
 * heap's slab state is bracketed by heap_slabs_lock/unlock:
 *  - the owner's slow paths that reach its kmalloc caches' slabs or its
 *    remote stack take it (class_alloc_empty, free_slab_slow, slab_free,
 *    slab_alloc_slow, the drains, thread exit); nested, only a count.
 *    One compare-and-swap and one store a slow path (a refill or flush of
 *    a bin's half): the fast paths, which touch bins only, take nothing;
 *  - kmem_cache_alloc's and kmem_cache_free's fast paths write the active
 *    and own slabs of kmem_cache_create() caches without it: the
 *    collector leaves those caches alone (it pushes their slabs back onto
 *    the remote stack);
 *  - a collector only tries it (heap_slabs_trylock), under heap_lock,
 *    and meanwhile takes no lock and makes no system call (the slabs it
 *    empties are given back after heap_slabs_unlock): an owner that waits
 *    for it may hold any lock. kswapd collects a heap only once the owner
 *    took no slow path (slabs_taken) for one of its ticks: an idle one;
 *  - a pooled heap is taken the same way, under heap_lock.
 * The word holds the holder's thread_tag() (the address of its
 * thread_heap, shifted) plus its nesting depth, in one word, so that a
 * signal handler whose malloc nests in its thread's slow path never sees
 * the one updated without the other (with the depth apart, a handler
 * between the CAS and the depth's store released the lock for the outer
 * call). Only the holder writes a held word.
 */
#define SLABS_DEPTH_BITS 16
#define SLABS_DEPTH_MASK ((1UL << SLABS_DEPTH_BITS) - 1)
static always_inline uintptr_t thread_tag(void)
{
	return (uintptr_t)&thread_heap << SLABS_DEPTH_BITS; /* user addresses: 47 bits */
}
static always_inline bool heap_slabs_trylock(struct heap *heap)
{
	uintptr_t free_word = 0;
	return atomic_compare_exchange_strong_explicit(&heap->slabs_holder, &free_word,
						       thread_tag() + 1, memory_order_acquire,
						       memory_order_relaxed);
}
hidden void heap_slabs_wait(struct heap *heap);
static always_inline void heap_slabs_lock(struct heap *heap)
{
	uintptr_t word = atomic_load_explicit(&heap->slabs_holder, memory_order_relaxed);
	if ((word & ~SLABS_DEPTH_MASK) == thread_tag()) { /* nested */
		atomic_store_explicit(&heap->slabs_holder, word + 1, memory_order_relaxed);
		return;
	}
	if (unlikely(!heap_slabs_trylock(heap)))
		heap_slabs_wait(heap);
	heap->slabs_taken++;
}
static always_inline void heap_slabs_unlock(struct heap *heap)
{
	uintptr_t word = atomic_load_explicit(&heap->slabs_holder, memory_order_relaxed);
	atomic_store_explicit(&heap->slabs_holder, (word & SLABS_DEPTH_MASK) == 1 ? 0 : word - 1,
			      memory_order_release);
}
static always_inline bool heap_slabs_held(const struct heap *heap)
{
	uintptr_t word = atomic_load_explicit(&((struct heap *)heap)->slabs_holder,
					      memory_order_relaxed);
	return (word & ~SLABS_DEPTH_MASK) == thread_tag();
}
enum live_reclaim { LIVE_RECLAIM_DRAIN, LIVE_RECLAIM_TRY, LIVE_RECLAIM_IDLE };
hidden void heap_reclaim_live(enum live_reclaim how);
hidden void heap_look_idle(struct heap *heap);

/* ---- malloc.c ------------------------------------------------------------------ */
hidden void *bs_malloc(size_t size);
hidden void *bs_cxx_malloc(size_t size);
hidden void bs_free(void *ptr);
hidden void bs_free_call(void *ptr, const char *call);
hidden void *bs_realloc(void *ptr, size_t size);
hidden void *bs_aligned(size_t align, size_t size, const char *call);
hidden void *large_alloc(size_t size, size_t align, gfp_t gfp);
hidden void *bs_operator_new(size_t size);
hidden void bs_operator_delete(void *ptr);

/* ---- operator_new.c --------------------------------------------------------------- */
hidden void *cxx_new_failed(size_t size, size_t align, bool nothrow, const void *caller);

/* ---- stats.c ------------------------------------------------------------------- */
hidden void report_write(int fd, unsigned int what);
hidden void stats_at_exit(void);
hidden void shm_update(void);
hidden void shm_fork_child(void);

/* ---- kswapd.c -------------------------------------------------------------------- */
hidden void kswapd_maybe_start(void);
hidden void kswapd_want(void);
extern _Atomic bool kswapd_wanted hidden;
/* kswapd_start_wanted - start the thread kswapd_want asked for, at the end
 * of an allocation's slow path, where nothing is half done */
static inline void kswapd_start_wanted(void)
{
	if (unlikely(atomic_load_explicit(&kswapd_wanted, memory_order_relaxed)))
		kswapd_maybe_start();
}
hidden void kswapd_fork_child(void);

/* ---- options.c -------------------------------------------------------------- */
/* The options' defaults (struct options' initializer in options.c; a
 * value of 0 given for any of them is taken as it is). */
#define PCP_DEFAULT_HIGH  96
#define PCP_DEFAULT_BATCH 16
/* 20 ms (mimalloc purges after 10 ms): long enough that a loop which frees
 * and allocates again reuses resident memory, short enough that a program
 * which shrank gets its memory back at its next free. 250 ms cost the demo
 * workload a quarter more peak RSS than 10-20 ms for no speed gain. */
#define DEFAULT_PURGE_MS    20
/* The zone's watermarks, MiB of resident free memory. Below high nothing
 * is purged, so a program that frees and allocates again in bursts does
 * not fault its memory back in; above it, blocks free for purge_ms are
 * purged down to low. Measured with scripts/demo: 64/16 MiB kept peak RSS
 * 30% above glibc's for no speed gain. 8/4 MiB (scripts/bench --quick)
 * cut frag's final RSS by 4 MiB but cost the server workload 50% more
 * page faults and 10-20% of its speed. */
#define DEFAULT_WMARK_HIGH_MB 16
#define DEFAULT_WMARK_LOW_MB  4
/* vm_cache_mb: a mapping is cached if it is at most half the limit, so 128
 * MiB caches blocks of up to 64 MiB, and two of 32. With 64, largeblock (8
 * live blocks of 64 KiB-32 MiB, replaced at random) mapped and faulted in
 * most of its big blocks afresh: 1.67 -> 1.05 s, 1.03M -> 0.63M faults,
 * peak RSS 183 -> 191 MiB (jemalloc 208), side by side. A cached mapping
 * stays at most purge_ms, so the memory it holds is brief. */
#define VM_CACHE_DEFAULT_MB 128

/* The options in force; defaults and meanings in options.c's table. */
struct options {
	int stats;              /* print reports at exit */
	char stats_file[256];   /* ... to this file instead of stderr */
	int pcp_high;           /* pages */
	int pcp_batch;          /* pages */
	int slab_max;           /* empty slabs kept per cache and heap */
	int purge_ms;           /* age of free memory before it is purged */
	int madvise_free;       /* MADV_FREE instead of MADV_DONTNEED */
	int vm_cache_mb;        /* large mappings kept for reuse, MiB */
	int background;         /* background purge thread */
	int shm;                /* publish the statistics page */
	int shm_ms;             /* its refresh interval */
	int wmark_high_mb;      /* zone high watermark, MiB of resident free memory */
	int wmark_low_mb;       /* zone low watermark */
	int pagemap_tree;       /* the radix tree, not the flat table */
	int poison;             /* slub_debug=P: poison free kmalloc objects */
	int verbose;
};
extern struct options options hidden;
hidden void options_init(void);

#endif /* BUDDYSLAB_INTERNAL_H */
