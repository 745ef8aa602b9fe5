/*
 * buddyslab_shm.h - the live statistics page that a process running
 * buddyslab publishes for `buddyslab top` and `buddyslab plot`.
 *
 * With BUDDYSLAB_OPTIONS=shm=1 the allocator creates /dev/shm/buddyslab.PID
 * (mode 0600), maps it shared, and its background thread (the kswapd of
 * buddyslab) rewrites it every `shm_ms` milliseconds (default 1000) from the
 * same data as the reports; the malloc and free fast paths never touch it.
 * The file is removed at exit; after _exit() or a crash it stays until the
 * next process that creates a page removes it: a page whose process is gone
 * and that was not rewritten for 10 s plus twice its interval_ms. Readers
 * treat a page whose pid is gone as stale. A fork child publishes no page.
 *
 * Readers use the sequence counter like a seqlock: read seq (even), copy the
 * page, read seq again; if it changed or was odd, retry. All counts are
 * snapshots, like /proc/slabinfo's.
 */
#ifndef BUDDYSLAB_SHM_H
#define BUDDYSLAB_SHM_H

#include <stdint.h>

#define BUDDYSLAB_SHM_MAGIC   0x6d68736273796262ULL /* "bbysbshm" */
#define BUDDYSLAB_SHM_VERSION 4 /* 2: hot_pages and the vmalloc cache; 3: all_*; 4: purging_pages */
#define BUDDYSLAB_SHM_ORDERS  11
#define BUDDYSLAB_SHM_CACHES  256 /* the first 256 live caches by id: every kmalloc class, then kmem_cache_create's */
#define BUDDYSLAB_SHM_HEAPS   128
#define BUDDYSLAB_SHM_PATH_FMT "/dev/shm/buddyslab.%d"

struct buddyslab_shm_cache {
	char name[32];
	uint32_t objsize;       /* bytes per object (stride) */
	uint32_t objperslab;
	uint32_t pagesperslab;
	uint32_t reserved;
	uint64_t active_objs;
	uint64_t num_objs;
	uint64_t active_slabs;
	uint64_t num_slabs;
};

struct buddyslab_shm_heap {
	int32_t tid;
	int32_t state;          /* 0 active, 1 abandoned, 2 dead (fork) */
	int32_t pcp_count;      /* pages in its page cache */
	int32_t pcp_high;
	uint64_t remote_frees;  /* frees it made into other threads' slabs */
	uint64_t collected;     /* other threads' frees it collected */
};

struct buddyslab_shm {
	uint64_t magic;         /* BUDDYSLAB_SHM_MAGIC */
	uint32_t version;       /* BUDDYSLAB_SHM_VERSION */
	uint32_t size;          /* sizeof(struct buddyslab_shm) */
	uint64_t seq;           /* odd while being written */
	uint64_t updates;       /* how many times it was written */
	uint64_t time_ms;       /* CLOCK_REALTIME of the last update, ms */
	int32_t pid;
	uint32_t page_size;
	/* zone */
	uint64_t nr_free[BUDDYSLAB_SHM_ORDERS]; /* free blocks per order (buddyinfo) */
	uint64_t free_pages;
	uint64_t dirty_free_pages;
	uint64_t wmark_min, wmark_low, wmark_high;
	uint64_t chunks;
	uint64_t slab_pages, large_pages, pcp_pages, internal_pages;
	uint64_t purged_pages;  /* given back to the OS so far */
	uint64_t vm_areas, vm_bytes;
	uint64_t mapped_bytes;
	uint64_t rss_bytes;
	uint64_t hot_pages;       /* the zone's hot blocks (free, kept whole) */
	uint64_t vm_cached;       /* freed mappings kept for reuse */
	uint64_t vm_cached_bytes;
	uint64_t vm_hot;          /* 1 if a freed mapped block is kept whole */
	/* caches and heaps */
	uint32_t nr_caches;
	uint32_t nr_heaps;
	struct buddyslab_shm_cache caches[BUDDYSLAB_SHM_CACHES];
	struct buddyslab_shm_heap heaps[BUDDYSLAB_SHM_HEAPS];
	/* how many there are, of which caches[] and heaps[] hold the first
	 * nr_caches and nr_heaps */
	uint32_t all_caches;
	uint32_t all_heaps;
	uint32_t all_heaps_active;
	uint32_t interval_ms;   /* shm_ms: how often the page is rewritten */
	/* free blocks a purge has taken off the free lists while the kernel
	 * takes their pages: free memory, in none of the counts above. The
	 * zone's pages (chunks * 1024) are free_pages + hot_pages +
	 * purging_pages + slab_pages + large_pages + pcp_pages +
	 * internal_pages, but for blocks on their way between a thread and
	 * the zone at the moment of the snapshot */
	uint64_t purging_pages;
};

#endif /* BUDDYSLAB_SHM_H */
