/*
 * test_slab.c - unit tests of the slab caches (src/slab.c) and of the
 * small-object side of malloc (bs_malloc/bs_free in src/malloc.c).
 *
 * The slab-list tests use size classes that buddyslab itself does not use
 * for its own objects (vm_area descriptors are kmalloc-32, kmem_cache_cpu
 * kmalloc-80, kmem_cache descriptors about kmalloc-128), so that the main
 * thread's kmem_cache_cpu of that class holds only the test's slabs.
 */
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include "unit.h"

static struct heap *heap;

static unsigned int class_of_size(size_t size)
{
	unsigned int cls = kmalloc_index(size);
	REQUIRE("class-of-size", cls < nr_kmalloc_caches && kmalloc_caches[cls].size == size);
	return cls;
}

static unsigned int slab_state(struct page *slab)
{
	return slab->flags & SLAB_STATE;
}

static unsigned long remote_chain_len(struct page *slab, struct kmem_cache *cache)
{
	unsigned long n = 0;
	uintptr_t list = (uintptr_t)remote_list_head(atomic_load(&slab_remote(slab)->list));
	for (void *obj = (void *)list; obj && n <= cache->objects; n++)
		obj = *(void **)((char *)obj + cache->offset);
	return n;
}

/* slab_class_map_ok - free()'s map (struct chunk's slab_class[]) agrees
 * with the descriptors on every page of every chunk: a page of a kmalloc
 * slab with no vacated object holds the slab's free class (its class and
 * owner's tag), every other page 0. */
static bool slab_class_map_ok(char *why, size_t len)
{
	struct list_head *pos;
	list_for_each(pos, &zone.chunks) {
		struct chunk *c = list_entry(pos, struct chunk, list);
		for (unsigned long i = 0; i < CHUNK_PAGES; i++) {
			struct page *page = &c->mem_map[i];
			struct page *slab = page->type == PAGE_SLAB ? page
					    : page->type == PAGE_SLAB_TAIL ? page->head : NULL;
			unsigned int want = 0;
			if (slab && kmem_caches[slab->cache_id]->is_kmalloc && !options.poison &&
			    !(slab->vacated & VACATED_OBJECTS))
				want = free_class(slab->cache_id, slab->owner->line_tag);
			if (c->slab_class[i] != want) {
				snprintf(why, len, "page %lu of chunk %p (type %u): map %u, want %u", i,
					 (void *)c->base, page->type, c->slab_class[i], want);
				return false;
			}
		}
	}
	return true;
}

/* test_free_classes - free_class() gives each class and tag a free class
 * of its own, which free_class_cls() maps back to the class, and the heap's
 * free_bin[] names its bins by its own tag only */
static void test_free_classes(void)
{
	bool distinct = true, bins = true;
	static bool seen[NR_FREE_CLASSES];
	for (unsigned int tag = 0; tag < NR_LINE_TAGS; tag++)
		for (unsigned int cls = 0; cls < nr_kmalloc_caches; cls++) {
			unsigned int fc = free_class(cls, tag);
			if (fc == 0 || fc >= NR_FREE_CLASSES || free_class_cls(fc) != cls)
				distinct = false;
			else if (cls < NR_LINE_SHARING_CLASSES || tag == 0) {
				distinct &= !seen[fc];
				seen[fc] = true;
			}
			struct kmalloc_bin *want = tag == heap->line_tag || cls >= NR_LINE_SHARING_CLASSES
							   ? heap->bins[cls]
							   : &empty_bin;
			if (fc < NR_FREE_CLASSES && heap->free_bin[fc] != want)
				bins = false;
		}
	CHECK("free-classes-distinct", distinct);
	CHECK("free-classes-bins", bins && heap->free_bin[0] == &empty_bin && heap->line_tag < NR_LINE_TAGS);
	char why[256];
	CHECKF("free-classes-map", slab_class_map_ok(why, sizeof(why)), "%s", why);
}

/* test_stale_key - a page that held free objects (their double-free keys
 * written) becomes a page block; the bytes of it that the program never
 * wrote still hold those keys, and realloc copies them into the next
 * block. That block is live: its free must not be taken for a double
 * free (the keys are the page's, not the chunk's: obj_key). */
static void test_stale_key(void)
{
	/* kmalloc-3072: slabs of 4 pages, as a 16 KiB page block */
	heap_release_slabs(heap, false);
	unsigned int cls = class_of_size(3072);
	struct kmem_cache *cache = &kmalloc_caches[cls];
	REQUIRE("stale-key-order", cache->order == 2);
	void **objs = calloc(cache->objects, sizeof(*objs));
	REQUIRE("stale-key-calloc", objs != NULL);
	for (unsigned int i = 0; i < cache->objects; i++)
		objs[i] = bs_malloc(3072);
	uintptr_t base = page_address(slab_of(objs[0]));
	void *key = obj_key(slab_of(objs[0]), (void *)base); /* the first object's */
	for (unsigned int i = 0; i < cache->objects; i++)
		bs_free(objs[i]);
	free(objs);
	heap_release_slabs(heap, false); /* the empty slab to the page cache */
	void **blk = bs_malloc(16000); /* that block, from the cache */
	REQUIRE("stale-key-block-reused", (uintptr_t)blk == base);
	/* malloc cleared word 1 (it held the first object's key): realloc
	 * would copy it into the next block's key slot, and a slab on this
	 * page again would find its own key there. The program writes
	 * only byte 0 (the agent-found case of 2026-11-28) */
	CHECK("stale-key-cleared", blk[1] == NULL);
	*(char *)blk = 'a';
	void **q = bs_realloc(blk, 16); /* 16 bytes copied, word 1 too; blk's pages go back */
	REQUIRE("stale-key-realloc-small", q != NULL && slab_of(q) != NULL);
	void **r = bs_realloc(q, 3000); /* a kmalloc-3072 slab on base again */
	REQUIRE("stale-key-realloc-back", r != NULL && slab_of(r) != NULL);
	CHECKF("stale-key-same-page", page_address(slab_of(r)) == base, "%#lx, not %#lx",
	       (unsigned long)page_address(slab_of(r)), (unsigned long)base);
	CHECK("stale-key-not-copied", r[1] != obj_key(slab_of(r), r));
	bs_free(r); /* aborted with "double free detected" before the fix */
	CHECK("stale-key-freed", r[1] == obj_key(slab_of(r), r));
	(void)key;
	heap_release_slabs(heap, false);
}

/* cpu_ok - the kmem_cache_cpu's lists, counters and slab states agree, and
 * every slab on them is valid and owned by @heap. */
/* cpu_ok_of - @c's lists agree with its counts and its slabs' states, and
 * every slab is @owner's */
static bool cpu_ok_of(struct kmem_cache_cpu *c, struct heap *owner, char *why, size_t len)
{
	struct {
		struct list_head *head;
		uint32_t nr;
		unsigned int state;
		const char *name;
	} lists[] = {
		{ &c->slabs_partial, c->nr_partial, SLAB_PARTIAL, "partial" },
		{ &c->slabs_full, c->nr_full, SLAB_FULL, "full" },
		{ &c->slabs_empty, c->nr_empty, SLAB_EMPTY, "empty" },
	};
	uint32_t total = c->slab != &empty_slab;
	if (c->slab != &empty_slab && (slab_state(c->slab) != SLAB_ACTIVE || !slab_is_valid(c->slab))) {
		snprintf(why, len, "active slab: state %#x valid %d", slab_state(c->slab),
			 slab_is_valid(c->slab));
		return false;
	}
	for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
		uint32_t n = 0;
		struct list_head *pos;
		list_for_each(pos, lists[i].head) {
			struct page *slab = list_entry(pos, struct page, slab_list);
			n++;
			if (slab_state(slab) != lists[i].state || !slab_is_valid(slab) ||
			    slab->owner != owner || slab->cache_id != c->cache->id) {
				snprintf(why, len, "%s list: slab state %#x valid %d", lists[i].name,
					 slab_state(slab), slab_is_valid(slab));
				return false;
			}
			if (lists[i].state == SLAB_EMPTY && slab->inuse != 0) {
				snprintf(why, len, "empty slab with inuse %u", slab->inuse);
				return false;
			}
			if (lists[i].state == SLAB_FULL &&
			    (slab->freelist != NULL || (slab->vacated & VACATED_OBJECTS))) {
				snprintf(why, len, "full slab with free objects");
				return false;
			}
		}
		if (n != lists[i].nr) {
			snprintf(why, len, "%s: nr %u, list length %u", lists[i].name, lists[i].nr, n);
			return false;
		}
		total += n;
	}
	if (total != c->nr_slabs) {
		snprintf(why, len, "nr_slabs %u, counted %u", c->nr_slabs, total);
		return false;
	}
	return true;
}

static bool cpu_ok(struct kmem_cache_cpu *c, char *why, size_t len)
{
	return cpu_ok_of(c, heap, why, len);
}

/* ---- size classes ----------------------------------------------------------- */

static void test_classes(void)
{
	bool ok = true;
	for (unsigned int i = 0; i < nr_kmalloc_caches; i++) {
		struct kmem_cache *k = &kmalloc_caches[i];
		if (k->id != i || kmem_caches[i] != k || !k->is_kmalloc || k->object_size != k->size ||
		    k->offset != 0 || k->objects == 0 ||
		    (unsigned long)k->objects * k->size > (PAGE_SIZE << k->order) ||
		    k->order > 3 /* PAGE_ALLOC_COSTLY_ORDER, as the kernel's */ ||
		    (i > 0 && k->size <= kmalloc_caches[i - 1].size)) {
			printf("      class %u (%s): size %u objects %u order %u\n", i, k->name, k->size,
			       k->objects, k->order);
			ok = false;
		}
	}
	CHECK("classes-table", ok);
	CHECK("classes-range", kmalloc_caches[0].size >= sizeof(void *) &&
				       kmalloc_caches[nr_kmalloc_caches - 1].size == SLAB_MAX_SIZE);
	/* every malloc() block is MALLOC_ALIGN-aligned: every class size is a
	 * multiple of it (slabs start page-aligned) */
	ok = true;
	for (unsigned int i = 0; i < nr_kmalloc_caches; i++)
		if (kmalloc_caches[i].size % MALLOC_ALIGN)
			ok = false;
	CHECK("classes-malloc-align", ok);

	/* kmalloc_index: the smallest class that holds the size */
	ok = true;
	for (size_t size = 0; size <= SLAB_MAX_SIZE; size++) {
		unsigned int cls = kmalloc_index(size);
		if (cls >= nr_kmalloc_caches || kmalloc_caches[cls].size < size ||
		    (cls > 0 && kmalloc_caches[cls - 1].size >= size)) {
			printf("      kmalloc_index(%zu) = %u\n", size, cls);
			ok = false;
			break;
		}
	}
	CHECK("kmalloc-index-smallest-class", ok);
	/* a power of two and a small header (2^k + 8: sqlite's blocks carry
	 * their size; its page cache entries are 4096 + 272) waste at most an
	 * eighth, not the fifth of the class a quarter above */
	ok = kmalloc_caches[kmalloc_index(4368)].size * 8 <= 4368 * 9;
	for (size_t size = 128 + 8; size <= 4096 + 8; size = (size - 8) * 2 + 8)
		if (kmalloc_caches[kmalloc_index(size)].size * 8 > size * 9) {
			printf("      kmalloc_index(%zu): kmalloc-%u\n", size,
			       kmalloc_caches[kmalloc_index(size)].size);
			ok = false;
		}
	CHECK("power-of-two-plus-header-classes", ok);

	/* kmalloc_index_aligned: the smallest class of a multiple of align
	 * that holds the size; none (nr_kmalloc_caches) if there is none */
	ok = true;
	for (size_t align = 8; align <= PAGE_SIZE && ok; align <<= 1) {
		for (size_t size = 0; size <= SLAB_MAX_SIZE; size++) {
			unsigned int want = nr_kmalloc_caches;
			for (unsigned int i = 0; i < nr_kmalloc_caches; i++)
				if (kmalloc_caches[i].size >= size && kmalloc_caches[i].size % align == 0) {
					want = i;
					break;
				}
			unsigned int got = kmalloc_index_aligned(size, align);
			if (got != want) {
				printf("      kmalloc_index_aligned(%zu, %zu) = %u, want %u\n", size,
				       align, got, want);
				ok = false;
				break;
			}
		}
	}
	CHECK("kmalloc-index-aligned", ok);

	/* and bs_aligned's small blocks really are aligned */
	ok = true;
	for (size_t align = 32; align <= PAGE_SIZE; align <<= 1) {
		static const size_t sizes[] = { 1, 24, 100, 1000, 3000, 5000 };
		for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
			void *p[3];
			for (int j = 0; j < 3; j++) {
				p[j] = bs_aligned(align, sizes[i], "test");
				struct page *slab = p[j] ? slab_of(p[j]) : NULL;
				if (!p[j] || (uintptr_t)p[j] % align || !slab ||
				    slab->cache_id != kmalloc_index_aligned(sizes[i], align)) {
					printf("      bs_aligned(%zu, %zu) = %p\n", align, sizes[i], p[j]);
					ok = false;
				} else {
					memset(p[j], 0xee, sizes[i]);
				}
			}
			for (int j = 0; j < 3; j++)
				if (p[j])
					bs_free(p[j]);
		}
	}
	CHECK("bs-aligned-small", ok);

	/* posix_memalign(16, n) with n <= 8 must be 16-aligned too, although
	 * plain malloc(n <= 8) may be 8-aligned (kmalloc-8). kmalloc-8 is
	 * otherwise unused here, so its objects come in address order and four
	 * in a row cover both alignments. */
	ok = true;
	for (size_t size = 0; size <= 8; size += 4) {
		void *p[4];
		for (int j = 0; j < 4; j++) {
			p[j] = bs_aligned(16, size, "posix_memalign");
			if (!p[j] || (uintptr_t)p[j] % 16) {
				printf("      bs_aligned(16, %zu) = %p\n", size, p[j]);
				ok = false;
			}
		}
		for (int j = 0; j < 4; j++)
			if (p[j])
				bs_free(p[j]);
	}
	CHECK("bs-aligned-16-tiny", ok);
}

/* ---- slab list moves ------------------------------------------------------- */

/* Through kmem_cache_alloc/kmem_cache_free on the kmalloc cache: the slab
 * layer alone, without the heap's bins in front (test_bins tests those). */

static void test_slab_lists(size_t class_size)
{
	char why[256];
	unsigned int cls = class_of_size(class_size);
	struct kmem_cache *cache = &kmalloc_caches[cls];
	struct kmem_cache_cpu *c = &heap->kmalloc[cls];
	REQUIRE("lists-fresh-class", c->nr_slabs == 0 && c->slab == &empty_slab &&
					     heap->cpu[cls] == c && c->cache == cache);
	const unsigned int n = cache->objects;
	const unsigned int total = 3 * n + 1;
	const unsigned long used0 = used_pages();
	const long cache_slabs0 = atomic_load(&cache->nr_slabs);
	void **obj = calloc(total + n, sizeof(*obj));
	REQUIRE("lists-calloc", obj != NULL);

	for (unsigned int i = 0; i < total; i++) {
		obj[i] = kmem_cache_alloc(cache, 0);
		REQUIRE("lists-alloc", obj[i] != NULL);
		memset(obj[i], 0x42, class_size);
	}
	struct page *s[4];
	for (int j = 0; j < 4; j++)
		s[j] = slab_of(obj[j * n]);
	bool placed = true;
	for (unsigned int i = 0; i < total; i++) {
		struct page *slab = s[i / n];
		/* a new slab's freelist is in address order */
		if (slab_of(obj[i]) != slab ||
		    (uintptr_t)obj[i] != page_address(slab) + (uintptr_t)(i % n) * cache->size)
			placed = false;
	}
	CHECK("lists-objects-in-order", placed);
	CHECK("lists-distinct-slabs", s[0] != s[1] && s[1] != s[2] && s[2] != s[3] && s[0] != s[3]);
	CHECKF("lists-counts", c->nr_full == 3 && c->nr_partial == 0 && c->nr_empty == 0 && c->nr_slabs == 4,
	       "full %u partial %u empty %u slabs %u", c->nr_full, c->nr_partial, c->nr_empty,
	       c->nr_slabs);
	CHECK("lists-cache-nr-slabs", atomic_load(&cache->nr_slabs) == cache_slabs0 + 4);
	for (int j = 0; j < 3; j++)
		CHECKF("lists-full", slab_state(s[j]) == SLAB_FULL && s[j]->inuse == n &&
					     s[j]->freelist == NULL &&
					     list_contains(&c->slabs_full, &s[j]->slab_list),
		       "slab %d state %#x inuse %u", j, slab_state(s[j]), s[j]->inuse);
	CHECK("lists-active", c->slab == s[3] && slab_state(s[3]) == SLAB_ACTIVE && s[3]->inuse == 1);
	CHECK("lists-owner", s[0]->owner == heap && s[3]->owner == heap && s[0]->cache_id == cls);
	CHECKF("lists-valid-1", cpu_ok(c, why, sizeof(why)), "%s", why);
	for (int j = 0; j < 4; j++)
		CHECK("lists-slab-valid", slab_is_valid(s[j]));
	CHECKF("lists-used-pages", used_pages() == used0 + (4UL << cache->order), "used %lu -> %lu",
	       used0, used_pages());

	/* full -> partial on the first free */
	kmem_cache_free(cache, obj[0]);
	CHECKF("lists-full-to-partial", slab_state(s[0]) == SLAB_PARTIAL && c->nr_full == 2 &&
						 c->nr_partial == 1 && s[0]->inuse == n - 1 &&
						 s[0]->freelist == obj[0],
	       "state %#x full %u partial %u", slab_state(s[0]), c->nr_full, c->nr_partial);
	CHECKF("lists-valid-2", cpu_ok(c, why, sizeof(why)), "%s", why);

	/* partial -> empty on the last free, kept as the reserve */
	bool stays_partial = true;
	for (unsigned int i = 1; i < n; i++) {
		kmem_cache_free(cache, obj[i]);
		if (i < n - 1 && slab_state(s[0]) != SLAB_PARTIAL)
			stays_partial = false;
	}
	CHECK("lists-stays-partial", stays_partial);
	CHECKF("lists-partial-to-empty", slab_state(s[0]) == SLAB_EMPTY && s[0]->inuse == 0 &&
						 c->nr_partial == 0 && c->nr_empty == 1 && c->nr_slabs == 4,
	       "state %#x partial %u empty %u", slab_state(s[0]), c->nr_partial, c->nr_empty);
	CHECK("lists-reserve-kept", atomic_load(&cache->nr_slabs) == cache_slabs0 + 4);
	CHECKF("lists-valid-3", cpu_ok(c, why, sizeof(why)), "%s", why);

	/* a second empty slab is beyond the reserve: its pages go back */
	uintptr_t s1_addr = page_address(s[1]);
	for (unsigned int i = n; i < 2 * n; i++)
		kmem_cache_free(cache, obj[i]);
	struct page *head = virt_to_page(s1_addr);
	CHECKF("lists-released", c->nr_slabs == 3 && c->nr_empty == 1 && c->nr_full == 1 &&
					 atomic_load(&cache->nr_slabs) == cache_slabs0 + 3,
	       "slabs %u empty %u full %u", c->nr_slabs, c->nr_empty, c->nr_full);
	CHECKF("lists-released-pages", head->type == PAGE_PCP || head->type == PAGE_BUDDY,
	       "head type %u", head->type);
	bool tails = true;
	for (unsigned long i = 1; i < (1UL << cache->order); i++)
		if (head[i].type == PAGE_SLAB_TAIL || head[i].head != NULL)
			tails = false;
	CHECK("lists-released-tails", tails);
	CHECKF("lists-used-after-release", used_pages() == used0 + (3UL << cache->order),
	       "used %lu -> %lu", used0, used_pages());
	CHECKF("lists-valid-4", cpu_ok(c, why, sizeof(why)), "%s", why);

	/* the active slab runs dry: it goes to full, and the reserve slab (no
	 * partial one is left) becomes active */
	bool from_active = true;
	for (unsigned int i = total; i < total + n - 1; i++) {
		obj[i] = kmem_cache_alloc(cache, 0);
		if (slab_of(obj[i]) != s[3])
			from_active = false;
	}
	CHECK("lists-fill-active", from_active && c->slab == s[3] && s[3]->inuse == n &&
					   s[3]->freelist == NULL);
	void *extra = kmem_cache_alloc(cache, 0);
	CHECK("lists-reserve-reused", slab_of(extra) == s[0] && c->slab == s[0] &&
					      slab_state(s[0]) == SLAB_ACTIVE && s[0]->inuse == 1);
	CHECKF("lists-active-to-full", slab_state(s[3]) == SLAB_FULL && c->nr_full == 2 &&
					       c->nr_empty == 0 && c->nr_slabs == 3,
	       "full %u empty %u", c->nr_full, c->nr_empty);
	CHECKF("lists-valid-5", cpu_ok(c, why, sizeof(why)), "%s", why);

	/* give everything back, then release: no slab and no page left over */
	kmem_cache_free(cache, extra);
	for (unsigned int i = 2 * n; i < total + n - 1; i++)
		kmem_cache_free(cache, obj[i]);
	CHECKF("lists-valid-6", cpu_ok(c, why, sizeof(why)), "%s", why);
	heap_release_slabs(heap, false);
	CHECKF("lists-all-released", c->nr_slabs == 0 && c->slab == &empty_slab &&
					     atomic_load(&cache->nr_slabs) == cache_slabs0,
	       "slabs %u", c->nr_slabs);
	CHECKF("lists-no-pages-lost", used_pages() == used0, "used %lu -> %lu", used0, used_pages());
	free(obj);
}

/* ---- the heap's bins ---------------------------------------------------------- */

/* bin_max_capacity - what a bin of class @cls with first capacity @cap
 * may grow to: BIN_GROWTH times, at most two barn sheaves (the classes
 * under a cache line, and those already at two sheaves, do not grow) */
static uint32_t bin_max_capacity(unsigned int cls, uint32_t cap)
{
	uint32_t sheaves = BIN_BYTES / KMALLOC_LINE_SIZE;
	if (kmalloc_caches[cls].size < KMALLOC_LINE_SIZE || cap >= sheaves)
		return cap;
	return BIN_GROWTH * cap < sheaves ? BIN_GROWTH * cap : sheaves;
}

/* bin_first_capacity - a bin's capacity when set up: BIN_BYTES of
 * objects, 4 to BIN_MAX_SLOTS */
static uint32_t bin_first_capacity(unsigned int cls)
{
	uint32_t cap = BIN_BYTES / kmalloc_caches[cls].size;
	return cap < 4 ? 4 : cap > BIN_MAX_SLOTS ? BIN_MAX_SLOTS : cap;
}

/* bin_grown_capacity - what a bin of class @cls with capacity @cap grows
 * to: twice, up to bin_max_capacity */
static uint32_t bin_grown_capacity(unsigned int cls, uint32_t cap)
{
	uint32_t max = bin_max_capacity(cls, cap);
	return 2 * cap < max ? 2 * cap : max;
}

/* the bins lie after the heap, in its block, one after another without
 * overlapping, each with the slots of its largest capacity (bins start at
 * their first) */
/*
 * A new heap's bins are all zero and set up on their class's first use:
 * set up at once, their headers (one on most of the 25 pages of bins) made
 * every thread 107 KiB resident before it allocated (1000 threads, one
 * 64-byte block each: 118 MB, glibc 10.5). LAZY_THREADS threads that each
 * used one class stay alive: in each heap every other bin is still zero,
 * and the process grew by less than LAZY_MAX_KIB a thread (heap, stack
 * and all; 115 before). Run first, while the zone's pages are fresh, so
 * the heaps' blocks are zero and heap_setup does not clear them.
 */
#define LAZY_THREADS 32
#define LAZY_MAX_KIB 64
static struct heap *lazy_heaps[LAZY_THREADS];
static _Atomic int lazy_ready, lazy_go;

static long rss_kib(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * (long)(sysconf(_SC_PAGESIZE) / 1024);
}

/* rss_counts_heaps - does the process's RSS measure the heaps? Not under
 * a sanitizer (shadow memory, per-thread state) or valgrind, nor where
 * transparent huge pages are always on (a first touch may bring in 2 MiB). */
static bool rss_counts_heaps(void)
{
	char thp[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	if (f) {
		if (!fgets(thp, sizeof(thp), f))
			thp[0] = '\0';
		fclose(f);
	}
	if (strstr(thp, "[always]"))
		return false;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	return false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
	return false;
#endif
#endif
	const char *preload = getenv("LD_PRELOAD");
	return !(preload && strstr(preload, "vgpreload"));
}

static void *lazy_bins_thread(void *arg)
{
	struct heap **slot = arg;
	*slot = heap_get();
	void *p = bs_malloc(64);
	bs_free(p);
	atomic_fetch_add(&lazy_ready, 1);
	while (!atomic_load(&lazy_go))
		usleep(1000);
	return NULL;
}

static void test_bins_lazy(void)
{
	pthread_t t[LAZY_THREADS];
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	long before = rss_kib();
	for (int i = 0; i < LAZY_THREADS; i++)
		REQUIRE("bins-lazy-thread", pthread_create(&t[i], &attr, lazy_bins_thread, &lazy_heaps[i]) == 0);
	while (atomic_load(&lazy_ready) < LAZY_THREADS)
		usleep(1000);
	long grown = rss_kib() - before;
	unsigned int used = kmalloc_index(64), set_up = 0, zero = 0;
	for (int i = 0; i < LAZY_THREADS; i++) {
		struct heap *h = lazy_heaps[i];
		REQUIRE("bins-lazy-heap", h != NULL && h != heap);
		for (unsigned int cls = 0; cls < NR_KMALLOC_CLASSES; cls++) {
			struct kmalloc_bin *bin = h->bins[cls];
			if (cls == used)
				set_up += bin->capacity != 0 && bin->cls == cls &&
					  h->bins_set_up == 1ULL << cls;
			else
				zero += bin->capacity == 0 && bin->count == 0 && bin->cls == 0 &&
					bin->obj_mask == 0 && bin->obj_magic == 0 && bin->obj_limit == 0;
		}
	}
	atomic_store(&lazy_go, 1);
	for (int i = 0; i < LAZY_THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_attr_destroy(&attr);
	CHECKF("bins-lazy-used-set-up", set_up == LAZY_THREADS, "%u of %d", set_up, LAZY_THREADS);
	CHECKF("bins-lazy-others-zero", zero == LAZY_THREADS * (NR_KMALLOC_CLASSES - 1),
	       "%u of %d unused bins zero", zero, LAZY_THREADS * (NR_KMALLOC_CLASSES - 1));
	if (rss_counts_heaps())
		CHECKF("bins-lazy-rss", grown < (long)LAZY_THREADS * LAZY_MAX_KIB,
		       "%d threads grew the RSS by %ld KiB, %ld a thread", LAZY_THREADS, grown,
		       grown / LAZY_THREADS);
}

/* Heaps pooled while HEAP_POOL_WARM others are give their bins back
 * (heap_bins_reset): all zero, none set up, no page resident; the first
 * ones keep theirs. buddyslab_drain (malloc_trim) resets every pooled
 * heap's. Before, a pooled heap kept every bin any of its threads had
 * used resident, and malloc_trim did not touch them. */
#define POOL_THREADS 100
static struct heap *pool_heaps[POOL_THREADS];
static _Atomic int pool_ready, pool_go;

static void *pool_bins_thread(void *arg)
{
	struct heap **slot = arg;
	*slot = heap_get();
	bs_free(bs_malloc(64));
	bs_free(bs_malloc(16 + (size_t)(slot - pool_heaps) * 40)); /* up to 4 KiB */
	atomic_fetch_add(&pool_ready, 1);
	while (!atomic_load(&pool_go))
		usleep(1000);
	return NULL;
}

/* pooled_bins_clear - @h's bins all zero, none set up, and (where the
 * kernel gave the pages back: not under madvise=free) none of their whole
 * pages resident: looked at first, as reading a header maps a page (the
 * zero page, which mincore counts) */
static bool pooled_bins_clear(struct heap *h)
{
	uintptr_t start = ((uintptr_t)h + HEAP_BINS_OFFSET + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	uintptr_t end = (uintptr_t)h + (PAGE_SIZE << HEAP_ORDER);
	unsigned char vec[PAGE_SIZE << HEAP_ORDER >> PAGE_SHIFT];
	if (os_purge_zeroes()) {
		if (mincore((void *)start, end - start, vec) != 0)
			return false;
		for (size_t i = 0; i < (end - start) >> PAGE_SHIFT; i++)
			if (vec[i] & 1)
				return false;
	}
	if (h->bins_set_up)
		return false;
	for (unsigned int cls = 0; cls < NR_KMALLOC_CLASSES; cls++) {
		struct kmalloc_bin *bin = h->bins[cls];
		if (bin->capacity || bin->count || bin->cls || bin->obj_mask)
			return false;
	}
	return true;
}

static void test_pool_bins(void)
{
	pthread_t t[POOL_THREADS];
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	unsigned int pooled_before = atomic_load(&heap_pool_size);
	for (int i = 0; i < POOL_THREADS; i++)
		REQUIRE("pool-bins-thread",
			pthread_create(&t[i], &attr, pool_bins_thread, &pool_heaps[i]) == 0);
	while (atomic_load(&pool_ready) < POOL_THREADS)
		usleep(1000);
	atomic_store(&pool_go, 1);
	for (int i = 0; i < POOL_THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_attr_destroy(&attr);
	unsigned int cleared = 0, kept = 0, pooled = 0;
	bool was_cleared[POOL_THREADS];
	for (int i = 0; i < POOL_THREADS; i++) {
		struct heap *h = pool_heaps[i];
		pooled += atomic_load(&h->state) == HEAP_ABANDONED;
		was_cleared[i] = pooled_bins_clear(h);
		if (was_cleared[i])
			cleared++;
		else
			kept += h->bins_set_up != 0;
	}
	/* every heap pooled while HEAP_POOL_WARM were gives its bins back;
	 * the threads adopted the heaps pooled before them first */
	unsigned int left = pooled_before > POOL_THREADS ? pooled_before - POOL_THREADS : 0;
	unsigned int warm = left < HEAP_POOL_WARM ? HEAP_POOL_WARM - left : 0;
	CHECKF("pool-bins-pooled", pooled == POOL_THREADS, "%u of %d", pooled, POOL_THREADS);
	CHECKF("pool-bins-reset", cleared >= POOL_THREADS - warm && cleared + kept == POOL_THREADS,
	       "%u of %d heaps cleared, %u kept their bins (%u pooled before)", cleared,
	       POOL_THREADS, kept, pooled_before);
	CHECKF("pool-bins-warm-kept", kept == (warm < POOL_THREADS ? warm : POOL_THREADS),
	       "%u kept, %u expected", kept, warm);
	buddyslab_drain();
	cleared = 0;
	for (int i = 0; i < POOL_THREADS; i++) /* the test read the others' bins */
		cleared += was_cleared[i] ? !pool_heaps[i]->bins_set_up : pooled_bins_clear(pool_heaps[i]);
	CHECKF("pool-bins-drain", cleared == POOL_THREADS, "%u of %d cleared after buddyslab_drain",
	       cleared, POOL_THREADS);
	/* a thread that adopts a cleared heap sets its bins up and works in
	 * them; pooled again (past HEAP_POOL_WARM) it gives them back again */
	atomic_store(&pool_ready, 0);
	atomic_store(&pool_go, 1);
	struct heap *adopted = NULL;
	pthread_t again;
	REQUIRE("pool-bins-adopt", pthread_create(&again, NULL, pool_bins_thread, &adopted) == 0);
	pthread_join(again, NULL);
	bool reused = false;
	for (int i = 0; i < POOL_THREADS; i++)
		reused |= pool_heaps[i] == adopted;
	CHECK("pool-bins-adopted", reused && !adopted->bins_set_up &&
				     adopted->bins[kmalloc_index(64)]->capacity == 0);
}

static void test_bins_layout(void)
{
	char *block = (char *)heap, *end = block + (PAGE_SIZE << HEAP_ORDER);
	char *next = block + sizeof(*heap);
	bool ok = true;
	unsigned int bad = 0;
	for (unsigned int cls = 0; cls < NR_KMALLOC_CLASSES; cls++) {
		struct kmalloc_bin *bin = heap->bins[cls];
		char *slots_end = (char *)&bin->objects[bin_max_capacity(cls, bin_first_capacity(cls))];
		/* a bin is set up on its class's first use, all zero before */
		bool set_up = bin->capacity >= 4 && bin->capacity <= BIN_MAX_SLOTS && bin->cls == cls;
		bool zero = bin->capacity == 0 && bin->count == 0 && bin->cls == 0;
		if ((char *)bin < next || slots_end > end || ((uintptr_t)bin & 63) || !(set_up || zero)) {
			ok = false;
			bad = cls;
			break;
		}
		next = slots_end;
	}
	CHECKF("bins-layout", ok, "class %u: bin %p, heap %p", bad, (void *)heap->bins[bad], (void *)heap);
	/* a bin of a small class holds BIN_BYTES, not a fixed number of slots */
	CHECKF("bins-small-class-bytes", heap->bins[0]->capacity == BIN_BYTES / kmalloc_caches[0].size ||
					      heap->bins[0]->capacity == BIN_MAX_SLOTS,
	       "kmalloc-%u: capacity %u", kmalloc_caches[0].size, heap->bins[0]->capacity);
}

static void test_bins(size_t class_size)
{
	char why[256];
	unsigned int cls = class_of_size(class_size);
	struct kmem_cache *cache = &kmalloc_caches[cls];
	struct kmem_cache_cpu *c = &heap->kmalloc[cls];
	struct kmalloc_bin *bin = heap->bins[cls];
	heap_release_slabs(heap, false);
	struct kmalloc_bin *direct = class_size <= KMALLOC_DIRECT_MAX ? heap->direct[(class_size + 7) >> 3]
								      : heap->direct_big[(class_size - 1) >> 8];
	REQUIRE("bins-fresh", bin->count == 0 && c->nr_slabs == 0 && heap->bin_of[cache->id] == bin &&
				      direct == bin);
	/* its first capacity (a bin not yet used is all zero; the first
	 * malloc sets it up) */
	const uint32_t cap = bin_first_capacity(cls);
	CHECKF("bins-capacity", bin->capacity == 0 || (bin->capacity == cap && bin->cls == cls),
	       "capacity %u for size %u", bin->capacity, cache->size);

	/* the first malloc refills the bin with half its capacity (the slab
	 * permitting), and the objects go out in address order. The new
	 * slab's pages are the ones just freed (the page cache gives back its
	 * last first), stamped: the objects carved into the bin are not
	 * written (carve_new_slab), the chained ones are */
	uint32_t want = cap / 2 < cache->objects - 1 ? cap / 2 : cache->objects - 1;
	size_t slab_bytes = PAGE_SIZE << cache->order;
	void *stamped = __get_free_pages(0, cache->order);
	REQUIRE("bins-stamp-pages", stamped != NULL);
	memset(stamped, 0xa5, slab_bytes);
	free_pages(stamped, cache->order);
	void *p0 = bs_malloc(class_size);
	struct page *slab = slab_of(p0);
	REQUIRE("bins-stamped-slab", p0 == stamped);
	unsigned int untouched = 0;
	for (uint32_t i = 1; i <= want; i++) {
		const unsigned char *word = (const unsigned char *)p0 + i * cache->size;
		untouched += word[0] == 0xa5 && word[sizeof(void *) - 1] == 0xa5;
	}
	CHECKF("bins-carved-unwritten", untouched == want, "%u of %u carved objects unwritten", untouched,
	       want);
	CHECKF("bins-refill", bin->count == want && c->slab == slab && slab->inuse == 1 + want &&
				      bin->capacity == cap && bin->cls == cls,
	       "bin %u (want %u) inuse %u capacity %u", (unsigned int)bin->count, want, slab->inuse,
	       bin->capacity);
	/* a new slab is carved: the caller's object and the bin's are the
	 * first ones, the rest chained after them in address order */
	bool chained = ((uintptr_t)p0 & slab_mask(slab)) == 0;
	unsigned int listed = 0;
	char *expect = (char *)p0 + (size_t)(1 + want) * cache->size;
	for (void **o = slab->freelist; o && listed <= cache->objects; o = *o, listed++, expect += cache->size)
		if ((char *)o != expect)
			chained = false;
	CHECKF("bins-carved", chained && listed == cache->objects - 1 - want,
	       "%u chained of %u objects, %u in the bin", listed, cache->objects, want);
	bool ordered = true;
	void *prev = p0;
	void **p = calloc(2 * cap + 2, sizeof(*p));
	REQUIRE("bins-calloc", p != NULL);
	for (uint32_t i = 0; i < want; i++) {
		p[i] = bs_malloc(class_size);
		if ((uintptr_t)p[i] != (uintptr_t)prev + cache->size)
			ordered = false;
		prev = p[i];
	}
	CHECK("bins-address-order", ordered && bin->count == 0 && slab->inuse == 1 + want);

	/* free pushes onto the bin and sets the key; the slab is not touched */
	bs_free(p0);
	CHECK("bins-push", bin->count == 1 && bin->objects[0] == p0 && ((void **)p0)[1] == obj_key(slab, p0) &&
				   slab->inuse == 1 + want && slab->freelist != p0);
	CHECK("bins-pop-same", bs_malloc(class_size) == p0 && ((void **)p0)[1] == NULL && bin->count == 0);

	/* fill the bin from more objects. The free that finds it full, and
	 * refilled since it was last full (the mallocs above), grows it:
	 * twice the room, up to its largest, and nothing goes back */
	const uint32_t grown = bin_grown_capacity(cls, cap);
	uint32_t n = want;
	while (n < grown + 1)
		p[n++] = bs_malloc(class_size);
	bin_flush(heap, bin, 0); /* what the refills left */
	for (uint32_t i = 0; i < cap; i++)
		bs_free(p[i]);
	CHECK("bins-full", bin->count == cap);
	if (grown > cap) {
		uint16_t inuse = slab->inuse;
		bs_free(p[cap]);
		CHECKF("bins-grow", bin->capacity == grown && bin->count == cap + 1 && slab->inuse == inuse &&
					    !c->bin_refilled,
		       "capacity %u -> %u (want %u), count %u", cap, bin->capacity, grown,
		       (unsigned int)bin->count);
		for (uint32_t i = cap + 1; i < grown; i++)
			bs_free(p[i]);
		CHECK("bins-grown-full", bin->count == grown);
	}
	/* full again with no refill in between: the free gives the older
	 * half back to the slabs first */
	unsigned long inuse_before = 0;
	const uint32_t flushed = grown - grown / 2; /* the free keeps grown / 2 */
	for (uint32_t i = 0; i < flushed; i++)
		if (slab_of(p[i]) == slab)
			inuse_before++;
	uint16_t slab_inuse = slab->inuse;
	bs_free(p[grown]);
	CHECKF("bins-flush-half", bin->count == grown / 2 + 1 && bin->objects[bin->count - 1] == p[grown] &&
					  bin->objects[0] == p[flushed] && bin->capacity == grown,
	       "count %u capacity %u", (unsigned int)bin->count, bin->capacity);
	CHECKF("bins-flushed-to-slab", slab->inuse == slab_inuse - inuse_before, "inuse %u -> %u (-%lu)",
	       slab_inuse, slab->inuse, inuse_before);
	CHECKF("bins-valid", cpu_ok(c, why, sizeof(why)), "%s", why);
	CHECKF("bins-map", slab_class_map_ok(why, sizeof(why)), "%s", why);

	/* everything back: releasing the heap's slabs empties the bins first,
	 * and the bins are back to their first capacity */
	bs_free(p0);
	for (uint32_t i = grown + 1; i < n; i++)
		bs_free(p[i]);
	heap_release_slabs(heap, false);
	bs_free(bs_malloc(class_size)); /* a refill: a heap adopted after this starts without it */
	heap_release_slabs(heap, false);
	CHECKF("bins-released", bin->count == 0 && c->nr_slabs == 0 && bin->capacity == cap && !c->bin_refilled,
	       "bin %u slabs %u capacity %u refilled %d", (unsigned int)bin->count, c->nr_slabs, bin->capacity,
	       c->bin_refilled);
	free(p);
}

/* test_bin_growth_idle - a bin that grew goes back to its first capacity
 * once the thread leaves it alone: the bins' garbage collection, which
 * steps on other classes' slow paths, finds its count unchanged */
static void test_bin_growth_idle(void)
{
	unsigned int cls = class_of_size(1024);
	struct kmalloc_bin *bin = heap->bins[cls];
	heap_release_slabs(heap, false);
	const uint32_t cap = bin->capacity;
	void *p[4 * 32 + 1], *q[600];
	REQUIRE("grow-idle-room", 2 * cap + 1 <= ARRAY_SIZE(p));
	/* a batch bigger than the bin, twice: the frees of the first find it
	 * full after the mallocs' refills, and grow it */
	bool got = true;
	for (int round = 0; round < 2; round++) {
		for (uint32_t i = 0; i < 2 * cap + 1; i++)
			got &= (p[i] = bs_malloc(1024)) != NULL;
		REQUIRE("grow-idle-malloc", got);
		for (uint32_t i = 0; i < 2 * cap + 1; i++)
			bs_free(p[i]);
	}
	CHECKF("grow-idle-grown", bin->capacity > cap, "capacity %u, first %u", bin->capacity, cap);
	/* traffic in another class only: kmalloc-64's batches refill and
	 * flush its bin, each a step of the collection */
	unsigned int steps = 0;
	while ((bin->capacity > cap || bin->count > cap / 2) && steps++ < 200) {
		for (unsigned int i = 0; i < ARRAY_SIZE(q); i++)
			got &= (q[i] = bs_malloc(64)) != NULL;
		REQUIRE("grow-idle-other", got);
		for (unsigned int i = 0; i < ARRAY_SIZE(q); i++)
			bs_free(q[i]);
	}
	/* and its objects went back, half at each look */
	CHECKF("grow-idle-reset", bin->capacity == cap && bin->count <= cap / 2,
	       "capacity %u count %u after %u batches", bin->capacity, (unsigned int)bin->count, steps);
	heap_release_slabs(heap, false);
}

/* ---- vacating free pages of big-object slabs ----------------------------------- */

/* resident - is the page holding @addr in memory? */
static bool resident(uintptr_t addr)
{
	unsigned char vec = 0;
	REQUIRE("mincore", mincore((void *)(addr & ~(PAGE_SIZE - 1)), PAGE_SIZE, &vec) == 0);
	return vec & 1;
}

static unsigned int index_in_slab(struct kmem_cache *cache, struct page *slab, const void *obj)
{
	return (unsigned int)(((uintptr_t)obj - page_address(slab)) / cache->size);
}

/* vacated_as_expected - @slab, whose objects in @live are in use and the
 * rest free, was vacated: the pages that only free objects overlap are
 * out of memory, the others in; a free object on a page that went is off
 * the freelist and in slab->vacated, the others are on the freelist.
 * Adds the pages that went to *@gone. */
static bool vacated_as_expected(struct kmem_cache *cache, struct page *slab, unsigned int live,
				unsigned long *gone, char *why, size_t len)
{
	uintptr_t base = page_address(slab);
	unsigned int covered = 0;
	for (unsigned int pg = 0; pg < (1u << slab->order); pg++) {
		unsigned int first = (unsigned int)(pg * PAGE_SIZE / cache->size);
		unsigned int last = (unsigned int)(((pg + 1) * PAGE_SIZE - 1) / cache->size);
		if (last >= cache->objects)
			last = cache->objects - 1;
		if (first > last)
			continue;
		bool free_only = true;
		for (unsigned int i = first; i <= last; i++)
			if (live & (1u << i))
				free_only = false;
		if (free_only)
			covered |= 1u << pg;
		/* with madvise=free, given-back pages stay resident for a while */
		if (os_purge_zeroes() && resident(base + pg * PAGE_SIZE) == free_only) {
			snprintf(why, len, "page %u of %u: resident %d, only free objects %d", pg,
				 1u << slab->order, !free_only, free_only);
			return false;
		}
	}
	*gone += (unsigned long)__builtin_popcount(covered);
	unsigned int on_freelist = 0;
	for (void **obj = slab->freelist; obj; obj = obj[0])
		on_freelist |= 1u << index_in_slab(cache, slab, obj);
	for (unsigned int i = 0; i < cache->objects; i++) {
		if (live & (1u << i))
			continue;
		unsigned int first = (unsigned int)(i * cache->size / PAGE_SIZE);
		unsigned int last = (unsigned int)(((i + 1) * cache->size - 1) / PAGE_SIZE);
		bool page_gone = false;
		for (unsigned int pg = first; pg <= last; pg++)
			if (covered & (1u << pg))
				page_gone = true;
		bool vacated = slab->vacated & (1u << i);
		if (vacated != page_gone || !!(on_freelist & (1u << i)) == vacated) {
			snprintf(why, len, "object %u: a page gone %d, vacated %d, on freelist %d", i,
				 page_gone, vacated, !!(on_freelist & (1u << i)));
			return false;
		}
	}
	return slab_is_valid(slab);
}

/* partials_vacated_as_expected - vacated_as_expected() for every partial
 * slab of @c, the live objects being the non-NULL ones of @p[@n]. */
static bool partials_vacated_as_expected(struct kmem_cache_cpu *c, void **p, unsigned int n,
					 unsigned long *gone, char *why, size_t len)
{
	struct list_head *pos;
	if (c->nr_partial == 0) {
		snprintf(why, len, "no partial slab");
		return false;
	}
	list_for_each(pos, &c->slabs_partial) {
		struct page *slab = list_entry(pos, struct page, slab_list);
		unsigned int live = 0;
		for (unsigned int i = 0; i < n; i++)
			if (p[i] && slab_of(p[i]) == slab)
				live |= 1u << index_in_slab(c->cache, slab, p[i]);
		if (!vacated_as_expected(c->cache, slab, live, gone, why, len))
			return false;
	}
	return true;
}

/*
 * test_vacate - a partial slab gives back the pages that only free objects
 * cover (heap_vacate_slabs, as malloc_trim does), again when more objects
 * come back, and hands every free object out again, the vacated ones last
 * and reading zero.
 */
static void test_vacate(size_t class_size)
{
	char why[256];
	unsigned int cls = class_of_size(class_size);
	struct kmem_cache *cache = &kmalloc_caches[cls];
	struct kmem_cache_cpu *c = &heap->kmalloc[cls];
	REQUIRE("vacate-vacatable", cache->vacatable && cache->objects <= 7);
	heap_release_slabs(heap, false);
	REQUIRE("vacate-fresh", c->nr_slabs == 0);

	/* 8 slabs' worth; in each slab, object 0 stays in use, and object 2
	 * for a while where objects are a page or more: some pages keep a
	 * live object, others do not */
	const unsigned int n = 8 * cache->objects;
	void **p = calloc(n, sizeof(*p));
	REQUIRE("vacate-calloc", p != NULL);
	for (unsigned int i = 0; i < n; i++) {
		p[i] = bs_malloc(class_size);
		REQUIRE("vacate-malloc", p[i] != NULL);
		memset(p[i], 0xa5, class_size);
	}
	const unsigned int keep = cache->size >= PAGE_SIZE ? 1u << 0 | 1u << 2 : 1u << 0;
	for (unsigned int i = 0; i < n; i++) {
		if (!(keep & (1u << index_in_slab(cache, slab_of(p[i]), p[i])))) {
			bs_free(p[i]);
			p[i] = NULL;
		}
	}
	heap_flush_bins(heap); /* into the slabs, not vacating */
	unsigned long before = atomic_load(&slab_vacated_pages);
	bool none = true;
	struct list_head *pos;
	list_for_each(pos, &c->slabs_partial)
		if (list_entry(pos, struct page, slab_list)->vacated)
			none = false;
	CHECK("vacate-not-by-flush", none && atomic_load(&slab_vacated_pages) == before);

	heap_vacate_slabs(heap);
	unsigned long gone = 0;
	CHECKF("vacate-pages", partials_vacated_as_expected(c, p, n, &gone, why, sizeof(why)),
	       "%s: %s", cache->name, why);
	CHECKF("vacate-counted", atomic_load(&slab_vacated_pages) - before == gone && gone > 0,
	       "%s: counter +%lu, pages gone %lu", cache->name,
	       atomic_load(&slab_vacated_pages) - before, gone);
	CHECKF("vacate-lists", cpu_ok(c, why, sizeof(why)), "%s", why);
	CHECKF("vacate-map", slab_class_map_ok(why, sizeof(why)), "%s", why);
	before = atomic_load(&slab_vacated_pages);
	heap_vacate_slabs(heap);
	CHECK("vacate-twice-purges-nothing", atomic_load(&slab_vacated_pages) == before);

	/* objects that come back to a vacated slab are vacated next time */
	if (keep & (1u << 2)) {
		for (unsigned int i = 0; i < n; i++) {
			if (p[i] && index_in_slab(cache, slab_of(p[i]), p[i]) == 2) {
				bs_free(p[i]);
				p[i] = NULL;
			}
		}
		heap_flush_bins(heap);
		heap_vacate_slabs(heap);
		unsigned long more = 0;
		CHECKF("vacate-again", partials_vacated_as_expected(c, p, n, &more, why, sizeof(why)),
		       "%s: %s", cache->name, why);
		CHECKF("vacate-again-counted", atomic_load(&slab_vacated_pages) - before == more - gone,
		       "%s: counter +%lu, pages gone %lu -> %lu", cache->name,
		       atomic_load(&slab_vacated_pages) - before, gone, more);
	}

	/* every free object comes back once, the vacated ones after the
	 * others of their slab and zeroed on the pages that went (the
	 * allocator clears the key in their second word); the partial slabs
	 * and the active one hold every free object */
	struct vacated_slab {
		struct page *slab;
		unsigned int vacated, handed_out_vacated;
	} vs[16];
	unsigned int nr_vs = 0, nr_free = 0;
	list_for_each(pos, &c->slabs_partial) {
		struct page *slab = list_entry(pos, struct page, slab_list);
		nr_free += cache->objects - slab->inuse;
		REQUIRE("vacate-few-slabs", nr_vs < ARRAY_SIZE(vs));
		vs[nr_vs++] = (struct vacated_slab){ slab, slab->vacated & VACATED_OBJECTS, 0 };
	}
	if (c->slab != &empty_slab)
		nr_free += cache->objects - c->slab->inuse;
	void **q = calloc(nr_free, sizeof(*q));
	REQUIRE("vacate-calloc-2", q != NULL);
	bool distinct = true, zeroed = true, not_live = true, vacated_last = true;
	for (unsigned int j = 0; j < nr_free; j++) {
		q[j] = bs_malloc(class_size);
		REQUIRE("vacate-malloc-again", q[j] != NULL);
		struct page *slab = slab_of(q[j]);
		unsigned int i = index_in_slab(cache, slab, q[j]);
		for (unsigned int k = 0; k < nr_vs; k++) {
			if (vs[k].slab != slab)
				continue;
			if (!(vs[k].vacated & (1u << i))) {
				if (vs[k].handed_out_vacated)
					vacated_last = false;
				continue;
			}
			vs[k].handed_out_vacated |= 1u << i;
			/* its pages that went: the ones vacated objects alone cover */
			uintptr_t base = page_address(slab), obj = (uintptr_t)q[j];
			for (uintptr_t pg = obj & ~(PAGE_SIZE - 1); pg < obj + cache->size; pg += PAGE_SIZE) {
				uintptr_t lo = pg > obj + 16 ? pg : obj + 16;
				unsigned int first = (unsigned int)((pg - base) / cache->size);
				unsigned int last = (unsigned int)((pg + PAGE_SIZE - 1 - base) / cache->size);
				bool gone = true;
				for (unsigned int o = first; o <= last && o < cache->objects; o++)
					if (!(vs[k].vacated & (1u << o)))
						gone = false;
				for (uintptr_t b = lo; gone && os_purge_zeroes() && b < lo + 64; b++)
					if (*(const char *)b)
						zeroed = false;
			}
		}
		for (unsigned int k = 0; k < j; k++)
			if (q[k] == q[j])
				distinct = false;
		for (unsigned int m = 0; m < n; m++)
			if (p[m] == q[j])
				not_live = false;
		memset(q[j], 0x5a, class_size);
	}
	bool drained = true;
	list_for_each(pos, &c->slabs_partial)
		drained = false;
	list_for_each(pos, &c->slabs_full)
		if (list_entry(pos, struct page, slab_list)->vacated & VACATED_OBJECTS)
			drained = false;
	CHECK("vacate-all-handed-out", distinct && not_live && drained);
	CHECK("vacate-vacated-last", vacated_last);
	CHECK("vacate-handed-out-zeroed", zeroed);
	CHECKF("vacate-lists-after", cpu_ok(c, why, sizeof(why)), "%s", why);
	CHECKF("vacate-map-after", slab_class_map_ok(why, sizeof(why)), "%s", why);

	for (unsigned int j = 0; j < nr_free; j++)
		bs_free(q[j]);
	for (unsigned int i = 0; i < n; i++)
		bs_free(p[i]);
	heap_release_slabs(heap, false);
	CHECKF("vacate-released", c->nr_slabs == 0, "slabs %u", c->nr_slabs);
	free(q);
	free(p);
}

/* steady_traffic - 2000 times: 40 random live 4 KiB objects of @p[@n]
 * freed (into any slab), as many allocated in their place (with 64-byte
 * alignment if @aligned: past the bin). More than a bin holds, grown or
 * not (32), so the bin flushes and refills. False if an allocation failed
 * or left the class. */
static bool steady_traffic(struct unit_rng *rng, void **p, unsigned int n, bool aligned)
{
	for (unsigned int round = 0; round < 2000; round++) {
		unsigned int slot[40]; /* more than a grown bin holds (32) */
		for (unsigned int j = 0; j < ARRAY_SIZE(slot); j++) {
			do
				slot[j] = (unsigned int)unit_rng_below(rng, n);
			while (!p[slot[j]]);
			bs_free(p[slot[j]]);
			p[slot[j]] = NULL;
		}
		for (unsigned int j = 0; j < ARRAY_SIZE(slot); j++) {
			p[slot[j]] = aligned ? bs_aligned(64, 4096, "test") : bs_malloc(4096);
			if (!p[slot[j]] || slab_of(p[slot[j]])->cache_id != kmalloc_index(4096))
				return false;
		}
	}
	return true;
}

/*
 * test_vacate_shrinking - free() vacates only while a class shrinks: steady
 * traffic over many partial slabs gives nothing back; freeing three objects
 * of four (no allocation) gives back most of their pages.
 */
static void test_vacate_shrinking(void)
{
	unsigned int cls = class_of_size(4096);
	struct kmem_cache *cache = &kmalloc_caches[cls];
	struct kmem_cache_cpu *c = &heap->kmalloc[cls];
	heap_release_slabs(heap, false);
	/* four times the partial slabs vacating needs */
	const unsigned int nr_slabs = (unsigned int)(4 * VACATE_MIN_PARTIAL >> cache->order);
	const unsigned int n = nr_slabs * cache->objects;
	void **p = calloc(n, sizeof(*p));
	REQUIRE("shrink-calloc", p != NULL);
	for (unsigned int i = 0; i < n; i++) {
		p[i] = bs_malloc(4096);
		REQUIRE("shrink-malloc", p[i] != NULL);
		memset(p[i], 0xa5, 4096);
	}
	/* make every slab partial, then steady traffic: more random objects
	 * than a bin holds freed (into any slab), as many allocated in their
	 * place, many times: the bin flushes and refills */
	for (unsigned int i = 0; i < n; i++) {
		if (index_in_slab(cache, slab_of(p[i]), p[i]) % 2) {
			bs_free(p[i]);
			p[i] = NULL;
		}
	}
	heap_flush_bins(heap);
	bs_free(bs_malloc(4096)); /* a refill: that shrink is over */
	REQUIRE("shrink-partial", (unsigned long)c->nr_partial << cache->order >= VACATE_MIN_PARTIAL);
	unsigned long before = atomic_load(&slab_vacated_pages);
	struct unit_rng rng;
	unit_rng_seed(&rng, 42);
	const uint32_t first_capacity = heap->bins[cls]->capacity;
	REQUIRE("shrink-steady-malloc", steady_traffic(&rng, p, n, false));
	CHECKF("shrink-steady-keeps", atomic_load(&slab_vacated_pages) == before && !c->shrinking,
	       "vacated %lu pages, shrinking %d", atomic_load(&slab_vacated_pages) - before,
	       c->shrinking);
	/* the bin was found full after refills: it grew */
	CHECKF("shrink-steady-grown", heap->bins[cls]->capacity > first_capacity, "capacity %u, first %u",
	       heap->bins[cls]->capacity, first_capacity);

	/* the same with aligned allocations, which take objects from the
	 * slabs past the bin: they count as the class's allocations too */
	REQUIRE("shrink-steady-aligned", steady_traffic(&rng, p, n, true));
		CHECKF("shrink-steady-aligned-keeps", atomic_load(&slab_vacated_pages) == before,
	       "vacated %lu pages", atomic_load(&slab_vacated_pages) - before);

	/* shrinking: objects 2 and 3 of every slab go, nothing is allocated
	 * (after the random traffic, that is about a quarter of the objects) */
	unsigned long freed_pages = 0;
	for (unsigned int i = 0; i < n; i++) {
		if (p[i] && index_in_slab(cache, slab_of(p[i]), p[i]) >= 2) {
			bs_free(p[i]);
			p[i] = NULL;
			freed_pages++;
		}
	}
	unsigned long vacated = atomic_load(&slab_vacated_pages) - before;
	CHECKF("shrink-vacates", c->shrinking && vacated >= freed_pages / 2 && vacated <= 2 * freed_pages,
	       "shrinking %d, %lu pages vacated of %lu freed", c->shrinking, vacated, freed_pages);
	/* a shrinking class's bin is back to its first capacity */
	CHECKF("shrink-bin-capacity", heap->bins[cls]->capacity == first_capacity, "capacity %u, first %u",
	       heap->bins[cls]->capacity, first_capacity);
	bool lists = true;
	char why[256] = "";
	lists = cpu_ok(c, why, sizeof(why));
	CHECKF("shrink-lists", lists, "%s", why);

	for (unsigned int i = 0; i < n; i++)
		bs_free(p[i]);
	heap_release_slabs(heap, false);
	CHECKF("shrink-released", c->nr_slabs == 0, "slabs %u", c->nr_slabs);
	free(p);
}

/* ---- frees from another thread ------------------------------------------------ */

struct remote_job {
	void **objs;
	unsigned int nr;
	bool with_heap;
	struct heap *heap;
	bool heapless;
	unsigned long remote_frees;
};

static void *remote_free_thread(void *arg)
{
	struct remote_job *job = arg;
	if (job->with_heap)
		job->heap = heap_get();
	for (unsigned int i = 0; i < job->nr; i++)
		bs_free(job->objs[i]);
	job->heapless = heap_current() == NULL;
	if (job->heap) {
		/* free() put them in this thread's bins; the flush sends them
		 * home (thread exit would do it too) */
		heap_flush_bins(job->heap);
		job->remote_frees = job->heap->stat_remote_frees;
	}
	return NULL;
}

static bool on_remote_stack(struct page *slab)
{
	for (struct page *p = atomic_load(&heap->remote_slabs); p; p = slab_remote(p)->next)
		if (p == slab)
			return true;
	return false;
}

static unsigned long remote_stack_len(void)
{
	unsigned long n = 0;
	for (struct page *p = atomic_load(&heap->remote_slabs); p && n < 1000; p = slab_remote(p)->next)
		n++;
	return n;
}

/* The owner allocates and frees through the slab layer (kmem_cache_alloc
 * and kmem_cache_free on the kmalloc cache); the other thread calls free(). */
static void test_remote_free(size_t class_size, bool with_heap)
{
	char why[256];
	unsigned int cls = class_of_size(class_size);
	struct kmem_cache *cache = &kmalloc_caches[cls];
	struct kmem_cache_cpu *c = &heap->kmalloc[cls];
	REQUIRE("remote-fresh-class", c->nr_slabs == 0 && c->slab == &empty_slab);
	REQUIRE("remote-no-pending", atomic_load(&heap->remote_slabs) == NULL);
	const unsigned int n = cache->objects, k = n > 2 ? 3 : 1;
	const unsigned int total = 2 * n + 1;
	void **obj = calloc(total + n + 1, sizeof(*obj));
	void **theirs = calloc(k + n + 1, sizeof(*theirs));
	REQUIRE("remote-calloc", obj && theirs);

	for (unsigned int i = 0; i < total; i++) {
		obj[i] = kmem_cache_alloc(cache, 0);
		REQUIRE("remote-alloc", obj[i] != NULL);
	}
	struct page *s0 = slab_of(obj[0]), *s1 = slab_of(obj[n]), *s2 = slab_of(obj[2 * n]);
	CHECK("remote-setup", slab_state(s0) == SLAB_FULL && slab_state(s1) == SLAB_FULL &&
				      c->slab == s2 && s2->inuse == 1);

	/* thread B frees k objects of s0, all of s1 and the one of s2 */
	unsigned int nr = 0;
	for (unsigned int i = 0; i < k; i++)
		theirs[nr++] = obj[i];
	for (unsigned int i = n; i < 2 * n; i++)
		theirs[nr++] = obj[i];
	theirs[nr++] = obj[2 * n];
	unsigned long collected0 = heap->stat_collected;
	struct remote_job job = { .objs = theirs, .nr = nr, .with_heap = with_heap };
	pthread_t t;
	REQUIRE("remote-create", pthread_create(&t, NULL, remote_free_thread, &job) == 0);
	pthread_join(t, NULL);
	if (with_heap)
		CHECKF("remote-thread-heap", job.heap && job.heap != heap && job.remote_frees >= nr,
		       "remote frees counted %lu", job.remote_frees);
	else
		CHECK("remote-thread-heapless", job.heapless);

	/* the objects wait on each slab's remote list, still counted in inuse */
	CHECK("remote-notified", (atomic_load(&slab_remote(s0)->list) & REMOTE_NOTIFIED) &&
					 (atomic_load(&slab_remote(s1)->list) & REMOTE_NOTIFIED) &&
					 (atomic_load(&slab_remote(s2)->list) & REMOTE_NOTIFIED));
	CHECKF("remote-chains", remote_chain_len(s0, cache) == k && remote_chain_len(s1, cache) == n &&
					remote_chain_len(s2, cache) == 1,
	       "%lu %lu %lu", remote_chain_len(s0, cache), remote_chain_len(s1, cache),
	       remote_chain_len(s2, cache));
	CHECK("remote-inuse-unchanged", s0->inuse == n && s1->inuse == n && s2->inuse == 1);
	CHECK("remote-states-unchanged", slab_state(s0) == SLAB_FULL && slab_state(s1) == SLAB_FULL &&
						 s0->freelist == NULL && s1->freelist == NULL);
	CHECK("remote-on-owner-stack", on_remote_stack(s0) && on_remote_stack(s1) && on_remote_stack(s2) &&
					       remote_stack_len() == 3);
	CHECKF("remote-valid-1", cpu_ok(c, why, sizeof(why)), "%s", why);

	/* the active slab runs dry: its own remote free is taken directly */
	bool from_s2 = true;
	for (unsigned int i = total; i < total + n - 1; i++) {
		obj[i] = kmem_cache_alloc(cache, 0);
		if (slab_of(obj[i]) != s2)
			from_s2 = false;
	}
	CHECK("remote-fill-active", from_s2 && s2->freelist == NULL);
	obj[total + n - 1] = kmem_cache_alloc(cache, 0);
	CHECK("remote-direct-collect", obj[total + n - 1] == obj[2 * n] && c->slab == s2 && s2->inuse == n);
	CHECK("remote-others-still-pending", remote_chain_len(s0, cache) == k &&
						     remote_chain_len(s1, cache) == n && s0->inuse == n);

	/* the next slow path collects the rest: s1 comes back empty (the
	 * reserve), s0 partial and then active */
	void *next = kmem_cache_alloc(cache, 0);
	CHECK("remote-stack-popped", atomic_load(&heap->remote_slabs) == NULL);
	CHECK("remote-lists-cleared", atomic_load(&slab_remote(s0)->list) == 0 &&
					      atomic_load(&slab_remote(s1)->list) == 0 &&
					      atomic_load(&slab_remote(s2)->list) == 0);
	CHECKF("remote-s1-empty", slab_state(s1) == SLAB_EMPTY && s1->inuse == 0, "state %#x inuse %u",
	       slab_state(s1), s1->inuse);
	CHECKF("remote-s0-active", c->slab == s0 && slab_of(next) == s0 && s0->inuse == n - k + 1,
	       "inuse %u", s0->inuse);
	CHECK("remote-s2-full", slab_state(s2) == SLAB_FULL);
	CHECK("remote-collected-stat", heap->stat_collected >= collected0 + k + n);
	CHECKF("remote-valid-2", cpu_ok(c, why, sizeof(why)), "%s", why);

	/* clean up */
	kmem_cache_free(cache, next);
	for (unsigned int i = k; i < n; i++)
		kmem_cache_free(cache, obj[i]);
	for (unsigned int i = total; i < total + n; i++)
		kmem_cache_free(cache, obj[i]);
	heap_release_slabs(heap, false);
	CHECKF("remote-all-released", c->nr_slabs == 0, "slabs %u", c->nr_slabs);
	free(obj);
	free(theirs);
}

/* ---- another thread collects a live, idle heap (heap_reclaim_live) --------- */

/* The owner allocates blocks of two kmalloc classes (48: home through the
 * remote bin; 768: through the barn) and objects of a kmem_cache_create()
 * cache, then waits while main frees them all; then it allocates again. */
enum { IDLE_SMALL = 48, IDLE_BIG = 768, IDLE_EACH = 3000, IDLE_NATIVE = 200 };
struct idle_owner {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stage; /* 1: allocated, main frees; 2: main is done; 3: owner done */
	struct heap *heap;
	struct kmem_cache *native;
	void *objs[2 * IDLE_EACH], *natives[IDLE_NATIVE];
	bool ok_after;
	char why[256];
};

static void idle_stage(struct idle_owner *o, int stage)
{
	pthread_mutex_lock(&o->lock);
	o->stage = stage;
	pthread_cond_broadcast(&o->cond);
	pthread_mutex_unlock(&o->lock);
}

static void idle_wait(struct idle_owner *o, int stage)
{
	pthread_mutex_lock(&o->lock);
	while (o->stage < stage)
		pthread_cond_wait(&o->cond, &o->lock);
	pthread_mutex_unlock(&o->lock);
}

static void *idle_owner_thread(void *arg)
{
	struct idle_owner *o = arg;
	o->heap = heap_get();
	for (unsigned int i = 0; i < 2 * IDLE_EACH; i++) {
		size_t size = i % 2 ? IDLE_BIG : IDLE_SMALL;
		o->objs[i] = bs_malloc(size);
		if (o->objs[i])
			memset(o->objs[i], 0x17, size);
	}
	for (unsigned int i = 0; i < IDLE_NATIVE; i++)
		o->natives[i] = kmem_cache_alloc(o->native, 0);
	idle_stage(o, 1);
	idle_wait(o, 2);
	/* the heap works on: blocks handed out once each, written, read */
	bool ok = o->heap == heap_current();
	void **again = calloc(2 * IDLE_EACH, sizeof(void *));
	ok = ok && again;
	for (unsigned int i = 0; ok && i < 2 * IDLE_EACH; i++) {
		size_t size = i % 2 ? IDLE_BIG : IDLE_SMALL;
		again[i] = bs_malloc(size);
		if (!again[i])
			ok = false;
		else
			memset(again[i], (int)(i & 0xff), size);
	}
	for (unsigned int i = 0; ok && i < 2 * IDLE_EACH; i++)
		if (((unsigned char *)again[i])[i % 2 ? IDLE_BIG - 1 : IDLE_SMALL - 1] != (i & 0xff))
			ok = false;
	for (unsigned int i = 0; again && i < 2 * IDLE_EACH; i++)
		bs_free(again[i]);
	free(again);
	void *n = kmem_cache_alloc(o->native, 0);
	ok = ok && n;
	kmem_cache_free(o->native, n);
	heap_flush_bins(o->heap);
	unsigned int cls[2] = { kmalloc_index(IDLE_SMALL), kmalloc_index(IDLE_BIG) };
	for (int k = 0; ok && k < 2; k++)
		ok = cpu_ok_of(&o->heap->kmalloc[cls[k]], o->heap, o->why, sizeof(o->why));
	o->ok_after = ok;
	idle_stage(o, 3);
	return NULL;
}

static bool native_slab_pending(struct heap *h, struct kmem_cache *cache, unsigned long *objects)
{
	bool found = false;
	*objects = 0;
	for (struct page *p = atomic_load(&h->remote_slabs); p; p = slab_remote(p)->next) {
		if (kmem_caches[p->cache_id] != cache)
			return false; /* a kmalloc slab left behind */
		found = true;
		*objects += remote_chain_len(p, cache);
	}
	return found;
}

/* bin_objects_only - the only objects in use in @h's slabs of class @cls
 * are those in its bin (the owner's: a collector leaves them), and so
 * every slab holds one of them */
static bool bin_objects_only(struct heap *h, unsigned int cls, char *why, size_t len)
{
	struct kmem_cache_cpu *c = &h->kmalloc[cls];
	uint32_t in_bin = h->bins[cls] ? h->bins[cls]->count : 0;
	unsigned long inuse = c->slab != &empty_slab ? c->slab->inuse : 0;
	struct list_head *lists[] = { &c->slabs_partial, &c->slabs_full, &c->slabs_empty };
	for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
		struct list_head *pos;
		list_for_each(pos, lists[i])
			inuse += list_entry(pos, struct page, slab_list)->inuse;
	}
	snprintf(why, len, "%s: %u slabs, %lu objects in use, %u in the owner's bin", c->cache->name,
		 c->nr_slabs, inuse, in_bin);
	return inuse == in_bin && c->nr_slabs <= in_bin;
}

static void test_live_collect(void)
{
	struct idle_owner *o = calloc(1, sizeof(*o));
	REQUIRE("live-calloc", o != NULL);
	pthread_mutex_init(&o->lock, NULL);
	pthread_cond_init(&o->cond, NULL);
	o->native = kmem_cache_create("live-native", 200, 0, 0, NULL);
	REQUIRE("live-cache", o->native != NULL);
	pthread_t t;
	REQUIRE("live-thread", pthread_create(&t, NULL, idle_owner_thread, o) == 0);
	idle_wait(o, 1);
	bool all = o->heap != NULL;
	for (unsigned int i = 0; i < 2 * IDLE_EACH; i++)
		all = all && o->objs[i];
	for (unsigned int i = 0; i < IDLE_NATIVE; i++)
		all = all && o->natives[i];
	REQUIRE("live-owner-allocated", all);
	struct heap *h = o->heap;
	struct kmem_cache_cpu *small = &h->kmalloc[kmalloc_index(IDLE_SMALL)];
	struct kmem_cache_cpu *big = &h->kmalloc[kmalloc_index(IDLE_BIG)];
	uint32_t slabs0 = small->nr_slabs + big->nr_slabs;
	CHECKF("live-owner-slabs", small->nr_slabs >= 2 && big->nr_slabs >= 2, "%u and %u slabs",
	       small->nr_slabs, big->nr_slabs);

	/* main frees everything; its bins, remote bin and the barn send the
	 * blocks home, onto the owner's remote stack (and main's looks at
	 * the idle owner, heap_look_idle, may collect some of it already;
	 * the native cache's slab stays on the stack) */
	for (unsigned int i = 0; i < 2 * IDLE_EACH; i++)
		bs_free(o->objs[i]);
	for (unsigned int i = 0; i < IDLE_NATIVE; i++)
		kmem_cache_free(o->native, o->natives[i]);

	/* while the owner is in its slow path (its slabs held), a drain
	 * leaves its heap alone: its flushes' looks too */
	REQUIRE("live-hold", heap_slabs_trylock(h));
	uint32_t slabs1 = small->nr_slabs + big->nr_slabs;
	struct page *stack1 = atomic_load(&h->remote_slabs);
	buddyslab_drain();
	CHECKF("live-busy-left-alone", small->nr_slabs + big->nr_slabs == slabs1 &&
					       atomic_load(&h->remote_slabs) != NULL &&
					       stack1 != NULL,
	       "%u slabs, were %u (%u before main freed)", small->nr_slabs + big->nr_slabs,
	       slabs1, slabs0);
	heap_slabs_unlock(h);
	CHECK("live-hold-released", atomic_load(&h->slabs_holder) == 0);

	/* idle: the drain collects the kmalloc frees and gives back every
	 * slab of the two classes; the native cache's slabs wait on the
	 * stack for the owner, their frees untouched */
	unsigned long used0 = used_pages();
	buddyslab_drain();
	char why[256];
	CHECKF("live-collected-small", bin_objects_only(h, kmalloc_index(IDLE_SMALL), why, sizeof(why)),
	       "%s", why);
	CHECKF("live-collected-big", bin_objects_only(h, kmalloc_index(IDLE_BIG), why, sizeof(why)),
	       "%s", why);
	CHECKF("live-pages-back", used_pages() < used0, "used pages %lu -> %lu", used0, used_pages());
	unsigned long pending = 0;
	CHECKF("live-native-left", native_slab_pending(h, o->native, &pending) &&
					   pending == IDLE_NATIVE,
	       "native frees pending %lu of %u", pending, (unsigned)IDLE_NATIVE);
	CHECK("live-unheld", atomic_load(&h->slabs_holder) == 0);
	CHECKF("live-small-valid", cpu_ok_of(small, h, why, sizeof(why)), "%s", why);
	CHECKF("live-big-valid", cpu_ok_of(big, h, why, sizeof(why)), "%s", why);

	idle_stage(o, 2);
	idle_wait(o, 3);
	pthread_join(t, NULL);
	CHECKF("live-owner-works-after", o->ok_after, "%s", o->why);
	kmem_cache_destroy(o->native);
	CHECK("live-zone-valid", zone_is_valid());
	pthread_cond_destroy(&o->cond);
	pthread_mutex_destroy(&o->lock);
	free(o);
}

/* Two threads pass blocks of random kmalloc sizes and native objects to
 * each other (every free a cross-thread one) while main collects their
 * heaps as fast as it can: every block must come back intact, once. */
enum { RACE_BATCH = 64, RACE_ROUNDS = 2000 };
struct race_side {
	pthread_mutex_t lock;
	void *blocks[RACE_BATCH]; /* from this side for the other */
	size_t sizes[RACE_BATCH];
	void *natives[4];
	bool full;
};
struct race_box {
	struct race_side side[2];
	struct kmem_cache *native;
	_Atomic int running;
	_Atomic unsigned long bad, passed;
};
struct race_arg {
	struct race_box *box;
	int me;
};

static unsigned char race_byte(const void *p, size_t size)
{
	return (unsigned char)(((uintptr_t)p >> 4) ^ size);
}

/* race_take - free what the other side left for @me, checking it */
static void race_take(struct race_box *box, int me)
{
	struct race_side *other = &box->side[!me];
	void *blocks[RACE_BATCH], *natives[4];
	size_t sizes[RACE_BATCH];
	pthread_mutex_lock(&other->lock);
	bool full = other->full;
	if (full) {
		memcpy(blocks, other->blocks, sizeof(blocks));
		memcpy(sizes, other->sizes, sizeof(sizes));
		memcpy(natives, other->natives, sizeof(natives));
		other->full = false;
	}
	pthread_mutex_unlock(&other->lock);
	if (!full)
		return;
	for (int i = 0; i < RACE_BATCH; i++) {
		unsigned char *b = blocks[i];
		if (!b)
			continue;
		if (b[0] != race_byte(b, sizes[i]) || b[sizes[i] - 1] != race_byte(b, sizes[i]))
			atomic_fetch_add(&box->bad, 1);
		bs_free(b);
	}
	for (int i = 0; i < 4; i++)
		kmem_cache_free(box->native, natives[i]);
	atomic_fetch_add(&box->passed, 1);
}

static void *race_thread(void *arg)
{
	struct race_arg *a = arg;
	struct race_box *box = a->box;
	struct race_side *mine = &box->side[a->me];
	unsigned int seed = 12345u + (unsigned int)a->me;
	for (int round = 0; round < RACE_ROUNDS; round++) {
		void *blocks[RACE_BATCH], *natives[4];
		size_t sizes[RACE_BATCH];
		for (int i = 0; i < RACE_BATCH; i++) {
			sizes[i] = 8 + (size_t)(rand_r(&seed) % 4096);
			blocks[i] = bs_malloc(sizes[i]);
			if (!blocks[i]) {
				atomic_fetch_add(&box->bad, 1);
				sizes[i] = 0;
				continue;
			}
			memset(blocks[i], race_byte(blocks[i], sizes[i]), sizes[i]);
		}
		for (int i = 0; i < 4; i++)
			natives[i] = kmem_cache_alloc(box->native, 0);
		for (;;) { /* until the other side took the last batch */
			pthread_mutex_lock(&mine->lock);
			bool room = !mine->full;
			if (room) {
				memcpy(mine->blocks, blocks, sizeof(blocks));
				memcpy(mine->sizes, sizes, sizeof(sizes));
				memcpy(mine->natives, natives, sizeof(natives));
				mine->full = true;
			}
			pthread_mutex_unlock(&mine->lock);
			if (room)
				break;
			race_take(box, a->me);
			sched_yield();
		}
		race_take(box, a->me);
	}
	atomic_fetch_sub(&box->running, 1);
	while (atomic_load(&box->running)) { /* the other side's last batches */
		race_take(box, a->me);
		sched_yield();
	}
	race_take(box, a->me);
	return NULL;
}

static void test_live_collect_race(void)
{
	struct race_box *box = calloc(1, sizeof(*box));
	REQUIRE("race-calloc", box != NULL);
	box->native = kmem_cache_create("race-native", 96, 0, 0, NULL);
	REQUIRE("race-cache", box->native != NULL);
	pthread_mutex_init(&box->side[0].lock, NULL);
	pthread_mutex_init(&box->side[1].lock, NULL);
	atomic_store(&box->running, 2);
	unsigned long collected0 = atomic_load(&heap_live_collected);
	struct race_arg args[2] = { { box, 0 }, { box, 1 } };
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		REQUIRE("race-thread", pthread_create(&t[i], NULL, race_thread, &args[i]) == 0);
	unsigned long sweeps = 0;
	while (atomic_load(&box->running)) {
		heap_reclaim_live(LIVE_RECLAIM_DRAIN);
		sweeps++;
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	unsigned long collected = atomic_load(&heap_live_collected) - collected0;
	printf("      race: %lu sweeps, %lu objects collected by main, %lu batches passed\n", sweeps,
	       collected, atomic_load(&box->passed));
	CHECKF("race-intact", atomic_load(&box->bad) == 0, "%lu bad blocks", atomic_load(&box->bad));
	CHECKF("race-all-passed", atomic_load(&box->passed) == 2 * RACE_ROUNDS, "%lu batches of %d",
	       atomic_load(&box->passed), 2 * RACE_ROUNDS);
	CHECK("race-collector-worked", collected > 0);
	kmem_cache_destroy(box->native);
	CHECK("race-zone-valid", zone_is_valid());
	pthread_mutex_destroy(&box->side[0].lock);
	pthread_mutex_destroy(&box->side[1].lock);
	free(box);
}

/* ---- the remote bin: other heaps' objects under a cache line ------------------ */

struct remote_bin_job {
	void **objs;
	unsigned int nr;
	unsigned int small_cls, big_cls;
	uint32_t remote_bin_count, small_bin_count, big_bin_count;
	uint32_t after_flush;
	bool big_in_bin;
};

static void *remote_bin_thread(void *arg)
{
	struct remote_bin_job *job = arg;
	struct heap *self = heap_get();
	if (!self)
		return NULL;
	/* objs[0 .. nr-1) are 32-byte blocks of the main heap, objs[nr-1] a
	 * 384-byte one */
	for (unsigned int i = 0; i + 1 < job->nr; i++)
		bs_free(job->objs[i]);
	bs_free(job->objs[job->nr - 1]);
	job->remote_bin_count = self->remote_bin.count;
	job->small_bin_count = self->bins[job->small_cls]->count;
	job->big_bin_count = self->bins[job->big_cls]->count;
	job->big_in_bin = job->big_bin_count &&
			  self->bins[job->big_cls]->objects[job->big_bin_count - 1] == job->objs[job->nr - 1];
	heap_flush_bins(self);
	job->after_flush = self->remote_bin.count;
	return NULL;
}

static void test_remote_bin(void)
{
	unsigned int small = class_of_size(32), big = class_of_size(384);
	REQUIRE("remote-bin-small-class", small < NR_LINE_SHARING_CLASSES && big >= NR_LINE_SHARING_CLASSES);
	/* the first NR_LINE_SHARING_CLASSES classes (cache ids 0..) are exactly
	 * the ones below a cache line */
	CHECK("remote-bin-line-classes",
	      kmalloc_caches[NR_LINE_SHARING_CLASSES - 1].size < KMALLOC_LINE_SIZE &&
		      kmalloc_caches[NR_LINE_SHARING_CLASSES].size >= KMALLOC_LINE_SIZE &&
		      kmalloc_caches[NR_LINE_SHARING_CLASSES - 1].id == NR_LINE_SHARING_CLASSES - 1);
	enum { N = 40 };
	void *objs[N + 1];
	for (unsigned int i = 0; i < N; i++)
		objs[i] = bs_malloc(32);
	objs[N] = bs_malloc(384);
	struct page *slab0 = slab_of(objs[0]);
	REQUIRE("remote-bin-alloc", slab0 != NULL && slab0->owner == heap);
	struct remote_bin_job job = { .objs = objs, .nr = N + 1, .small_cls = small, .big_cls = big };
	pthread_t t;
	REQUIRE("remote-bin-create", pthread_create(&t, NULL, remote_bin_thread, &job) == 0);
	pthread_join(t, NULL);
	CHECKF("remote-bin-small-held", job.remote_bin_count == N && job.small_bin_count == 0,
	       "remote bin %u, bin %u", job.remote_bin_count, job.small_bin_count);
	CHECK("remote-bin-big-in-bin", job.big_in_bin);
	CHECK("remote-bin-flushed", job.after_flush == 0);
	/* home: on the owner's remote lists, collected by the next slow path */
	struct page *slabs[N];
	unsigned int nr_slabs = 0;
	unsigned long pending = 0;
	for (unsigned int i = 0; i < N; i++) {
		struct page *slab = slab_of(objs[i]);
		unsigned int j = 0;
		while (j < nr_slabs && slabs[j] != slab)
			j++;
		if (j == nr_slabs) {
			slabs[nr_slabs++] = slab;
			pending += remote_chain_len(slab, &kmalloc_caches[small]);
		}
	}
	CHECKF("remote-bin-home", pending >= N, "%lu of %u on remote lists", pending, N);
	heap_release_slabs(heap, false);
}

/* ---- the barn: sheaves of free objects between heaps (slab.c) ---------------- */

struct barn_job {
	void **objs;
	unsigned int nr, cls;
	unsigned long barn_after;
	uint64_t bin_after;
};

/* frees the main heap's objects in a heap of its own, then exits (its bin
 * goes home, the barn stays) */
static void *barn_free_thread(void *arg)
{
	struct barn_job *job = arg;
	struct heap *self = heap_get();
	if (!self)
		return NULL;
	for (unsigned int i = 0; i < job->nr; i++)
		bs_free(job->objs[i]);
	job->bin_after = self->bins[job->cls]->count;
	job->barn_after = barn_objects(job->cls);
	return NULL;
}

static bool barn_run(struct barn_job *job)
{
	pthread_t t;
	if (pthread_create(&t, NULL, barn_free_thread, job) != 0)
		return false;
	pthread_join(t, NULL);
	return true;
}

/*
 * test_barn - a thread that frees a bin's worth of another heap's objects
 * and one more sends the older half to the barn as a sheaf (still counted
 * in their slabs' inuse, keys set); the next refill of the owner's empty
 * bin takes the sheaf instead of its slabs; a heap's own objects never go
 * there; barn_expire leaves young sheaves and sends old ones home.
 */
static void test_barn(void)
{
	char why[256];
	unsigned int cls = class_of_size(512);
	REQUIRE("barn-class", cls >= NR_LINE_SHARING_CLASSES);
	struct kmalloc_bin *bin = heap->bins[cls];
	struct kmem_cache_cpu *c = &heap->kmalloc[cls];
	unsigned long saved_purge_ms = zone.purge_ms;
	zone.purge_ms = 1000000; /* no sheaf expires by age during the test */
	heap_release_slabs(heap, false);
	barn_expire(heap, 0);
	REQUIRE("barn-empty-at-start", barn_objects(cls) == 0);
	/* a full bin keeps cap / 2 and gives the rest, a sheaf */
	uint32_t cap = bin->capacity, keep = cap / 2, half = cap - keep;
	unsigned int nr = cap + 1;
	void **objs = calloc(nr, sizeof(*objs));
	REQUIRE("barn-calloc", objs != NULL);
	for (unsigned int i = 0; i < nr; i++)
		REQUIRE("barn-alloc", (objs[i] = bs_malloc(512)) != NULL);
	struct page *s0 = slab_of(objs[0]);
	unsigned int inuse0 = s0->inuse;

	struct barn_job job = { .objs = objs, .nr = nr, .cls = cls };
	REQUIRE("barn-thread", barn_run(&job));
	CHECKF("barn-sheaf-put", job.barn_after == half && job.bin_after == keep + 1,
	       "barn %lu (want %u), bin %lu", job.barn_after, half, (unsigned long)job.bin_after);
	CHECKF("barn-still-counted", s0->inuse == inuse0, "inuse %u, was %u", s0->inuse, inuse0);

	/* the owner's empty bin is refilled from the sheaf: the older half,
	 * keys set but the caller's */
	bin_flush(heap, bin, 0);
	void **o = bs_malloc(512);
	bool from_sheaf = false;
	for (unsigned int i = 0; i < half; i++)
		from_sheaf |= o == objs[i];
	CHECKF("barn-refill-takes-sheaf", from_sheaf && bin->count == half - 1 && barn_objects(cls) == 0,
	       "from sheaf %d, bin %lu, barn %lu", from_sheaf, (unsigned long)bin->count,
	       barn_objects(cls));
	CHECK("barn-caller-key-cleared", o && o[1] == NULL);
	bool keys = true, ours = true;
	for (uint64_t i = 0; i < bin->count; i++) {
		void **b = bin->objects[i];
		keys &= b[1] == obj_key(slab_of(b), b);
		bool in = false;
		for (unsigned int k = 0; k < half; k++)
			in |= (void *)b == objs[k];
		ours &= in;
	}
	CHECK("barn-bin-keys-set", keys);
	CHECK("barn-bin-is-the-sheaf", ours);

	/* a heap's own objects go back to its slabs, not to the barn */
	void **mine = calloc(2 * nr, sizeof(*mine));
	REQUIRE("barn-calloc-2", mine != NULL);
	for (unsigned int i = 0; i < 2 * nr; i++)
		mine[i] = bs_malloc(512);
	for (unsigned int i = 0; i < 2 * nr; i++)
		bs_free(mine[i]);
	CHECKF("barn-own-objects-not-shared", barn_objects(cls) == 0, "barn %lu", barn_objects(cls));

	/* expiry: a young sheaf stays, an old one goes home (here: the
	 * owner's own slabs, by plain frees) */
	for (unsigned int i = 0; i < nr; i++)
		objs[i] = bs_malloc(512);
	REQUIRE("barn-thread-2", barn_run(&job));
	CHECKF("barn-sheaf-put-2", job.barn_after == half, "barn %lu", job.barn_after);
	barn_expire(heap, 1000000);
	CHECKF("barn-young-stays", barn_objects(cls) == half, "barn %lu", barn_objects(cls));
	barn_expire(heap, 0);
	CHECKF("barn-old-goes", barn_objects(cls) == 0, "barn %lu", barn_objects(cls));
	CHECKF("barn-valid", cpu_ok(c, why, sizeof(why)), "%s", why);

	/* clean up: the thread's bins went home at its exit */
	bs_free(o);
	heap_release_slabs(heap, false);
	CHECKF("barn-all-released", c->nr_slabs == 0, "slabs %u", c->nr_slabs);
	zone.purge_ms = saved_purge_ms;
	free(mine);
	free(objs);
}

/* ---- the bins' garbage collection (heap_bin_gc) --------------------------------- */

enum { GC_REMOTE = 40 };
static void *gc_alloc_thread(void *arg)
{
	void **objs = arg;
	for (unsigned int i = 0; i < GC_REMOTE; i++)
		objs[i] = bs_malloc(32);
	return NULL;
}

/*
 * test_bin_gc - while the thread works in one class, the bin of a class it
 * stopped using empties (its objects back on their slabs, the slabs given
 * back, the active one included), and the remote bin it stopped filling
 * goes home; the class in use is left alone.
 */
static void test_bin_gc(void)
{
	unsigned int idle = class_of_size(112), busy = class_of_size(48);
	struct kmalloc_bin *ibin = heap->bins[idle], *bbin = heap->bins[busy];
	struct kmem_cache_cpu *ic = &heap->kmalloc[idle];
	heap_release_slabs(heap, false);
	enum { N = 600, BURST = 4096 };
	void *p[N];
	for (unsigned int i = 0; i < N; i++)
		p[i] = bs_malloc(112);
	for (unsigned int i = 0; i < N; i++)
		bs_free(p[i]);
	uint32_t held = (uint32_t)ibin->count;
	/* another heap's small objects, freed here: the remote bin */
	void *remote[GC_REMOTE];
	pthread_t t;
	REQUIRE("bin-gc-thread", pthread_create(&t, NULL, gc_alloc_thread, remote) == 0);
	pthread_join(t, NULL);
	for (unsigned int i = 0; i < GC_REMOTE; i++)
		bs_free(remote[i]);
	uint32_t remote_held = heap->remote_bin.count;
	/* Two heaps with one line tag (more than NR_LINE_TAGS heaps made
	 * before: how many depends on how the earlier tests' threads
	 * overlapped, and the thread may adopt any pooled heap) keep each
	 * other's small objects: the remote bin then stays empty, and only
	 * the rest is tested (a run of CI hit it; internal.h, free classes) */
	bool same_tag = slab_of(remote[0])->owner->line_tag == heap->line_tag;
	if (same_tag)
		printf("note: the other thread's heap has this heap's line tag %u: no remote bin\n",
		       heap->line_tag);
	REQUIRE("bin-gc-held",
		held > 0 && ic->nr_slabs > 2 && remote_held == (same_tag ? 0 : GC_REMOTE));

	void **q = calloc(BURST, sizeof(*q));
	REQUIRE("bin-gc-calloc", q != NULL);
	unsigned int bursts = 0;
	for (; bursts < 200 && (ibin->count || heap->remote_bin.count || ic->nr_slabs); bursts++) {
		for (unsigned int i = 0; i < BURST; i++)
			q[i] = bs_malloc(48);
		for (unsigned int i = 0; i < BURST; i++)
			bs_free(q[i]);
	}
	CHECKF("bin-gc-emptied", ibin->count == 0, "kmalloc-112's bin holds %u of %u after %u bursts",
	       (unsigned int)ibin->count, held, bursts);
	CHECKF("bin-gc-remote-home", heap->remote_bin.count == 0, "remote bin holds %u of %u",
	       heap->remote_bin.count, remote_held);
	/* the slabs that only the bin kept: back, and once the bin stayed
	 * empty for two looks, the active slab and the reserve too */
	CHECKF("bin-gc-slabs-back", ic->nr_slabs == 0 && ic->slab == &empty_slab, "%u slabs",
	       ic->nr_slabs);
	CHECKF("bin-gc-busy-kept", bbin->count > 0 && heap->kmalloc[busy].slab != &empty_slab,
	       "kmalloc-48's bin %u", (unsigned int)bbin->count);
	CHECK("bin-gc-slabs-valid", all_slabs_valid(NULL));
	free(q);
	heap_release_slabs(heap, false);
}

/* ---- kmem_cache_create with a constructor ------------------------------------ */

struct ctor_obj {
	uint64_t magic;
	void *self;
	char data[24];
};
#define CTOR_MAGIC 0x636f6e7374727563ULL
static unsigned long ctor_calls;

static void test_ctor(void *p)
{
	struct ctor_obj *o = p;
	o->magic = CTOR_MAGIC;
	o->self = p;
	memset(o->data, 'c', sizeof(o->data));
	ctor_calls++;
}

static bool constructed(const struct ctor_obj *o)
{
	if (o->magic != CTOR_MAGIC || o->self != o)
		return false;
	for (size_t i = 0; i < sizeof(o->data); i++)
		if (o->data[i] != 'c')
			return false;
	return true;
}

static void test_kmem_cache_ctor(void)
{
	char why[256];
	ctor_calls = 0;
	struct kmem_cache *cache = kmem_cache_create("test-ctor", sizeof(struct ctor_obj), 0, 0, test_ctor);
	REQUIRE("ctor-create", cache != NULL);
	CHECK("ctor-registered", cache->id >= nr_kmalloc_caches && kmem_caches[cache->id] == cache);
	CHECKF("ctor-offset", cache->offset >= sizeof(struct ctor_obj) &&
				      cache->size >= cache->offset + sizeof(void *),
	       "offset %u size %u", cache->offset, cache->size);
	CHECK("ctor-size", kmem_cache_size(cache) == sizeof(struct ctor_obj));
	CHECK("ctor-not-yet", ctor_calls == 0);
	const unsigned int n = cache->objects;

	struct ctor_obj **o = calloc(2 * n + 2, sizeof(*o));
	REQUIRE("ctor-calloc", o != NULL);
	o[0] = kmem_cache_alloc(cache, 0);
	REQUIRE("ctor-alloc", o[0] != NULL);
	struct page *slab = slab_of(o[0]);
	REQUIRE("ctor-slab", slab != NULL);
	CHECKF("ctor-once-per-object", ctor_calls == n, "ctor calls %lu objects %u", ctor_calls, n);
	/* every object of the new slab, the free ones too (their free pointer
	 * sits after the object), is constructed */
	bool all = true;
	for (unsigned int i = 0; i < n; i++)
		if (!constructed((struct ctor_obj *)(page_address(slab) + (uintptr_t)i * cache->size)))
			all = false;
	CHECK("ctor-every-object", all);

	for (unsigned int i = 1; i < n; i++)
		o[i] = kmem_cache_alloc(cache, 0);
	all = true;
	for (unsigned int i = 0; i < n; i++)
		if (!o[i] || slab_of(o[i]) != slab || !constructed(o[i]))
			all = false;
	CHECK("ctor-slab-used-up", all && ctor_calls == n);
	/* one more: a second slab, constructed in one go */
	o[n] = kmem_cache_alloc(cache, 0);
	REQUIRE("ctor-alloc-2", o[n] != NULL);
	struct page *slab2 = slab_of(o[n]);
	CHECKF("ctor-second-slab", slab2 != slab && ctor_calls == 2UL * n && constructed(o[n]),
	       "ctor calls %lu", ctor_calls);

	/* free keeps the object intact */
	struct ctor_obj *f1 = o[5 % n], *f2 = o[7 % n];
	kmem_cache_free(cache, f1);
	CHECK("ctor-intact-after-free", constructed(f1));
	bs_free(f2); /* free() of a typed-cache object takes the same path */
	CHECK("ctor-intact-after-bs-free", constructed(f2));
	CHECK("ctor-first-slab-partial", slab_state(slab) == SLAB_PARTIAL && slab->inuse == n - 2);
	/* use up the second slab, then the partial first one serves the two
	 * freed objects (last freed first) without constructing anything */
	for (unsigned int i = n + 1; i < 2 * n; i++)
		o[i] = kmem_cache_alloc(cache, 0);
	CHECK("ctor-second-used-up", slab2->freelist == NULL && slab2->inuse == n);
	struct ctor_obj *again = kmem_cache_alloc(cache, 0);
	struct ctor_obj *again2 = kmem_cache_alloc(cache, 0);
	CHECKF("ctor-reuse", again == f2 && again2 == f1, "got %p %p, freed %p %p", (void *)again,
	       (void *)again2, (void *)f2, (void *)f1);
	CHECK("ctor-reuse-constructed", again && again2 && constructed(again) && constructed(again2));
	CHECKF("ctor-no-new-construct", ctor_calls == 2UL * n, "ctor calls %lu", ctor_calls);
	struct kmem_cache_cpu *c = heap->cpu[cache->id];
	CHECKF("ctor-cpu-valid", c && cpu_ok(c, why, sizeof(why)), "%s", c ? why : "no cpu");

	/* every object back; __GFP_ZERO zeroes (the caller must construct) */
	for (unsigned int i = 0; i < 2 * n; i++)
		kmem_cache_free(cache, o[i]);
	struct ctor_obj *z = kmem_cache_alloc(cache, __GFP_ZERO);
	CHECK("ctor-gfp-zero", z && z->magic == 0 && z->self == NULL);
	test_ctor(z); /* objects go back constructed */
	kmem_cache_free(cache, z);
	CHECKF("ctor-cpu-valid-2", c && cpu_ok(c, why, sizeof(why)), "%s", c ? why : "no cpu");

	/* destroy gives the id back */
	unsigned int id = cache->id;
	long slabs = atomic_load(&cache->nr_slabs);
	CHECKF("ctor-slabs-before-destroy", slabs >= 1, "nr_slabs %ld", slabs);
	unsigned long used0 = used_pages();
	kmem_cache_destroy(cache);
	CHECK("destroy-id-free", kmem_caches[id] == NULL);
	CHECK("destroy-cpu-dropped", heap->cpu[id] == NULL);
	CHECKF("destroy-pages-back", used_pages() < used0, "used %lu -> %lu", used0, used_pages());
	struct kmem_cache *again_cache = kmem_cache_create("test-plain", 24, 0, 0, NULL);
	REQUIRE("destroy-create-again", again_cache != NULL);
	CHECKF("destroy-same-id", again_cache->id == id, "id %u, was %u", again_cache->id, id);
	CHECK("plain-offset-zero", again_cache->offset == 0 && again_cache->ctor == NULL);
	void *p = kmem_cache_alloc(again_cache, 0);
	CHECK("plain-alloc", p && slab_of(p) && slab_of(p)->cache_id == id);
	kmem_cache_free(again_cache, p);
	kmem_cache_destroy(again_cache);
	CHECK("plain-destroyed", kmem_caches[id] == NULL);

	/* big objects (up to 1 MiB): slabs of orders above the page cache's */
	static const size_t big_sizes[] = { 40000, 100000, 1UL << 20 };
	for (size_t i = 0; i < ARRAY_SIZE(big_sizes); i++) {
		size_t size = big_sizes[i];
		struct kmem_cache *big = kmem_cache_create("test-big", size, 0, 0, NULL);
		CHECKF("big-create", big != NULL, "size %zu", size);
		if (!big)
			continue;
		CHECKF("big-geometry", big->objects >= 1 && big->order < MAX_ORDER &&
					       (unsigned long)big->objects * big->size <= (PAGE_SIZE << big->order) &&
					       big->size >= size,
		       "size %zu: objects %u order %u", size, (unsigned int)big->objects, big->order);
		unsigned int nb = big->objects + 1; /* two slabs */
		void **bp = calloc(nb, sizeof(*bp));
		REQUIRE("big-calloc", bp != NULL);
		bool good = true;
		for (unsigned int j = 0; j < nb; j++) {
			bp[j] = kmem_cache_alloc(big, 0);
			struct page *bs = bp[j] ? slab_of(bp[j]) : NULL;
			if (!bs || bs->cache_id != big->id || !slab_is_valid(bs)) {
				good = false;
				continue;
			}
			unit_fill(bp[j], size, size + j);
		}
		for (unsigned int j = 0; j < nb; j++)
			if (bp[j] && !unit_verify(bp[j], size, size + j))
				good = false;
		CHECKF("big-objects", good, "size %zu", size);
		for (unsigned int j = 0; j < nb; j++)
			if (bp[j])
				kmem_cache_free(big, bp[j]);
		unsigned int bid = big->id;
		kmem_cache_destroy(big);
		CHECKF("big-destroyed", kmem_caches[bid] == NULL, "size %zu", size);
		free(bp);
	}
	CHECK("big-zone-valid", zone_is_valid());

	/* alignment and SLAB_HWCACHE_ALIGN */
	struct kmem_cache *al = kmem_cache_create("test-align", 40, 256, 0, NULL);
	struct kmem_cache *hw = kmem_cache_create("test-hwalign", 40, 0, SLAB_HWCACHE_ALIGN, NULL);
	REQUIRE("align-create", al && hw);
	bool aligned = true;
	void *ap[20], *hp[20];
	for (int i = 0; i < 20; i++) {
		ap[i] = kmem_cache_alloc(al, 0);
		hp[i] = kmem_cache_alloc(hw, 0);
		if (!ap[i] || !hp[i] || (uintptr_t)ap[i] % 256 || (uintptr_t)hp[i] % 64)
			aligned = false;
	}
	CHECK("align-honoured", aligned);
	for (int i = 0; i < 20; i++) {
		kmem_cache_free(al, ap[i]);
		kmem_cache_free(hw, hp[i]);
	}
	kmem_cache_destroy(al);
	kmem_cache_destroy(hw);
	free(o);
}

/* ---- a remote free racing its slab owner's exit ------------------------------ */

/*
 * The exiting owner's heap_abandon gives back what it can, collecting its
 * remote stack, then marks the heap abandoned. A thread that frees one of
 * its objects in between pushes the slab onto the stack of a heap it sees
 * active, and so raises no abandoned_pending: the slab (and every object
 * freed into it after) stayed there until some unrelated reclaim or an
 * adoption. Each round: an owner thread allocates one object and exits,
 * this thread frees the object after a varying delay, so the free lands
 * before, inside and after the owner's heap_abandon; then an abandoned
 * heap with a non-empty remote stack must have abandoned_pending set.
 */
static inline void spin_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

struct exit_race {
	struct kmem_cache *cache;
	void *obj;
	_Atomic int ready;
};

static void *exit_race_owner(void *arg)
{
	struct exit_race *race = arg;
	race->obj = kmem_cache_alloc(race->cache, 0);
	atomic_store(&race->ready, 1);
	return NULL; /* the heap is abandoned in the key destructor */
}

static void count_unnoticed(struct heap *h, void *arg)
{
	if (atomic_load(&h->state) == HEAP_ABANDONED && atomic_load(&h->remote_slabs) != NULL &&
	    !atomic_load(&abandoned_pending))
		++*(unsigned int *)arg;
}

static void test_remote_free_at_exit(void)
{
	struct kmem_cache *cache = kmem_cache_create("exit-race", 200, 0, 0, NULL);
	REQUIRE("exit-race-cache", cache != NULL);
	const unsigned int rounds = 3000;
	unsigned int unnoticed = 0, freed_late = 0;
	uint32_t rng = 12345;
	for (unsigned int i = 0; i < rounds; i++) {
		heap_reclaim_abandoned(); /* no pending notice, no pooled heap's stack */
		struct exit_race race = { .cache = cache };
		pthread_t t;
		REQUIRE("exit-race-create", pthread_create(&t, NULL, exit_race_owner, &race) == 0);
		while (!atomic_load(&race.ready))
			sched_yield(); /* not a spin: valgrind runs one thread at a time */
		rng = rng * 1103515245u + 12345u;
		for (unsigned int spin = (rng >> 16) % 2048; spin; spin--)
			spin_pause();
		REQUIRE("exit-race-alloc", race.obj != NULL);
		kmem_cache_free(cache, race.obj);
		pthread_join(t, NULL);
		unsigned int n = 0;
		heap_for_each(count_unnoticed, &n);
		unnoticed += n != 0;
		freed_late += atomic_load(&abandoned_pending) != 0;
	}
	CHECKF("exit-race-noticed", unnoticed == 0,
	       "%u of %u rounds left a slab on an abandoned heap's remote stack, unnoticed "
	       "(%u noticed)", unnoticed, rounds, freed_late);
	heap_reclaim_abandoned();
	kmem_cache_destroy(cache);
}

/*
 * kmem_cache_destroy while another thread holds heap_lock (a stats walk,
 * a thread's exit): its heap_reclaim_abandoned's trylock failed and nothing
 * remembered it, so pooled heaps kept their kmem_cache_cpu of the dead
 * cache, an empty slab and a reference on its descriptor until some
 * unrelated reclaim (found by a review). Now a failed trylock leaves
 * abandoned_pending set, for the next slab refill.
 */
static struct kmem_cache *destroy_cache;
static _Atomic int walk_holding, walk_release;

static void *destroy_cache_user(void *arg)
{
	(void)arg;
	void *p[64];
	for (int i = 0; i < 64; i++)
		p[i] = kmem_cache_alloc(destroy_cache, 0);
	for (int i = 0; i < 64; i++)
		kmem_cache_free(destroy_cache, p[i]);
	return NULL; /* the heap, with its reserve slab, is pooled at exit */
}

static void slow_walk(struct heap *h, void *arg)
{
	(void)h;
	(void)arg;
	atomic_store(&walk_holding, 1);
	while (!atomic_load(&walk_release))
		sched_yield();
}

static void *heap_walker(void *arg)
{
	(void)arg;
	heap_for_each(slow_walk, NULL); /* under heap_lock, as the stats do */
	return NULL;
}

static void test_destroy_while_heap_lock_held(void)
{
	destroy_cache = kmem_cache_create("destroy-locked", 200, 0, 0, NULL);
	REQUIRE("destroy-locked-cache", destroy_cache != NULL);
	pthread_t t, w;
	REQUIRE("destroy-locked-user", pthread_create(&t, NULL, destroy_cache_user, NULL) == 0);
	pthread_join(t, NULL);
	heap_reclaim_abandoned(); /* nothing pending now */
	CHECK("destroy-locked-pooled-ref", atomic_load(&destroy_cache->refs) > 1);
	REQUIRE("destroy-locked-walker", pthread_create(&w, NULL, heap_walker, NULL) == 0);
	while (!atomic_load(&walk_holding))
		sched_yield();
	kmem_cache_destroy(destroy_cache); /* its reclaim's trylock fails */
	CHECK("destroy-locked-reclaim-pending", atomic_load(&abandoned_pending) != 0);
	atomic_store(&walk_release, 1);
	pthread_join(w, NULL);
	heap_reclaim_abandoned(); /* what the next slab refill does */
	CHECK("destroy-locked-nothing-pending", atomic_load(&abandoned_pending) == 0);
}

/* ---- bs_malloc / bs_free round trip ------------------------------------------- */

static void test_round_trip(void)
{
	enum { N = SLAB_MAX_SIZE };
	void **p = calloc(N + 1, sizeof(*p));
	size_t *perm = calloc(N, sizeof(*perm));
	REQUIRE("trip-calloc", p && perm);
	bool ok = true;
	for (size_t size = 1; size <= N; size++) {
		void *q = bs_malloc(size);
		p[size] = q;
		struct page *slab = q ? slab_of(q) : NULL;
		unsigned int cls = kmalloc_index(size);
		size_t align = MALLOC_ALIGN;
		if (!q || !slab || slab->cache_id != cls || (uintptr_t)q % align ||
		    ((uintptr_t)q - page_address(slab)) % kmalloc_caches[cls].size) {
			printf("      bs_malloc(%zu) = %p, slab %p\n", size, q, (void *)slab);
			ok = false;
			break;
		}
		unit_fill(q, size, size);
	}
	CHECK("trip-alloc-all-sizes", ok);
	if (!ok)
		return;
	ok = true;
	for (size_t size = 1; size <= N; size++)
		if (!unit_verify(p[size], size, size)) {
			printf("      size %zu: contents changed\n", size);
			ok = false;
			break;
		}
	CHECK("trip-contents", ok);
	unsigned long nslabs = 0;
	CHECK("trip-slabs-valid", all_slabs_valid(&nslabs) && nslabs > 0);

	struct unit_rng rng;
	unit_rng_seed(&rng, 0xb0dd1e5);
	for (size_t i = 0; i < N; i++)
		perm[i] = i + 1;
	unit_shuffle(&rng, perm, N);
	ok = true;
	for (size_t i = 0; i < N; i++) {
		size_t size = perm[i];
		if (!unit_verify(p[size], size, size)) {
			printf("      size %zu: contents changed before free #%zu\n", size, i);
			ok = false;
		}
		bs_free(p[size]);
	}
	CHECK("trip-contents-until-free", ok);
	CHECK("trip-slabs-valid-after", all_slabs_valid(NULL));

	/* realloc-like churn: many small blocks of mixed sizes, freed in
	 * random order, reallocated, checked */
	enum { LIVE = 4096 };
	size_t sz[LIVE];
	memset(sz, 0, sizeof(sz));
	ok = true;
	for (int round = 0; round < 40000; round++) {
		size_t i = unit_rng_below(&rng, LIVE);
		if (sz[i]) {
			if (!unit_verify(p[i + 1], sz[i], (uint64_t)i * 7919 + sz[i]))
				ok = false;
			bs_free(p[i + 1]);
			sz[i] = 0;
		} else {
			size_t size = 1 + unit_rng_below(&rng, unit_rng_below(&rng, 8) ? 256 : N);
			p[i + 1] = bs_malloc(size);
			if (!p[i + 1]) {
				ok = false;
				break;
			}
			sz[i] = size;
			unit_fill(p[i + 1], size, (uint64_t)i * 7919 + size);
		}
	}
	for (size_t i = 0; i < LIVE; i++)
		if (sz[i]) {
			if (!unit_verify(p[i + 1], sz[i], (uint64_t)i * 7919 + sz[i]))
				ok = false;
			bs_free(p[i + 1]);
		}
	CHECK("trip-churn", ok);
	CHECK("trip-churn-slabs-valid", all_slabs_valid(NULL));
	free(p);
	free(perm);
}

/* ---- free()'s object start test ---------------------------------------------- */

/* every offset of a slab of @cache: slab_object_start() agrees with the
 * division it replaces (a multiple of size, below objects * size) */
static bool object_start_exact(struct kmem_cache *cache)
{
	struct page slab = { .type = PAGE_SLAB };
	slab.order = cache->order;
	slab.obj_magic = cache->obj_magic;
	slab.obj_limit = cache->obj_limit;
	uintptr_t base = (uintptr_t)16 << 30; /* any slab-aligned address */
	const uintptr_t slab_bytes = PAGE_SIZE << cache->order;
	if (slab_mask(&slab) != slab_bytes - 1 || cache->used_bytes > slab_bytes) {
		printf("      %s: slab_mask %#lx for a slab of %#lx bytes, %u used\n", cache->name,
		       (unsigned long)slab_mask(&slab), (unsigned long)slab_bytes, cache->used_bytes);
		return false;
	}
	for (uintptr_t off = 0; off < slab_bytes; off++) {
		bool want = off % cache->size == 0 && off < cache->used_bytes;
		/* free()'s fast path tests addresses of the first page only */
		bool head = off < PAGE_SIZE;
		if (slab_object_start(&slab, base + off) != want ||
		    (head && slab_head_object_start(&slab, base + off) != want)) {
			printf("      %s: size %u offset %lu: %d, want %d\n", cache->name, cache->size,
			       (unsigned long)off, !want, want);
			return false;
		}
	}
	return true;
}

static void test_object_start(void)
{
	bool ok = true;
	for (unsigned int i = 0; i < nr_kmalloc_caches; i++)
		ok &= object_start_exact(&kmalloc_caches[i]);
	CHECK("object-start-kmalloc", ok);
	/* kmem_cache_create sizes: odd strides, slabs with tail waste,
	 * multi-page and the largest orders */
	static const size_t sizes[] = { 8, 24, 40, 72, 100, 1000, 3000, 4095, 5000,
					12345, 65536, 100000, 1 << 20 };
	ok = true;
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		struct kmem_cache *cache = kmem_cache_create("test-start", sizes[i], 0, 0, NULL);
		REQUIRE("object-start-cache", cache != NULL);
		ok &= object_start_exact(cache);
		kmem_cache_destroy(cache);
	}
	CHECK("object-start-kmem_cache", ok);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	buddyslab_init();
	heap = heap_get();
	REQUIRE("heap", heap != NULL && heap_current() == heap);

	test_bins_lazy();
	test_pool_bins();
	test_classes();
	test_free_classes();
	test_stale_key();
	test_object_start();
	heap_release_slabs(heap, false);
	test_slab_lists(512);  /* order-0 slabs */
	test_slab_lists(3072); /* multi-page slabs */
	test_bins_layout();
	test_bins(16);   /* BIN_MAX_SLOTS, more than a slab's objects */
	test_bins(384);
	test_bins(6144);
	test_bin_growth_idle();
	test_vacate(2048);
	test_vacate(4096);
	test_vacate(6144);
	test_vacate_shrinking();
	test_remote_bin();
	test_barn();
	test_bin_gc();
	test_remote_free(512, false);
	test_remote_free(3072, true);
	test_kmem_cache_ctor();
	test_remote_free_at_exit();
	test_live_collect();
	test_live_collect_race();
	test_destroy_while_heap_lock_held();
	test_round_trip();

	/* everything was freed: releasing the empty slabs leaves none */
	heap_release_slabs(heap, false);
	heap_reclaim_abandoned();
	bool none = true;
	for (unsigned int i = 0; i < nr_kmalloc_caches; i++) {
		long n = atomic_load(&kmalloc_caches[i].nr_slabs);
		if (n) {
			printf("      %s: %ld slabs left\n", kmalloc_caches[i].name, n);
			none = false;
		}
	}
	CHECK("no-slabs-left", none);
	char why[256];
	CHECKF("final-map-valid", slab_class_map_ok(why, sizeof(why)), "%s", why);
	CHECK("final-zone-valid", zone_is_valid());
	CHECK("final-pcp-valid", pcp_is_valid(&heap->pcp));
	return UNIT_DONE();
}
