/*
 * pagemap.c - from any address to the chunk or vm_area that owns it, in O(1).
 *
 * The flat table: one entry per 4 MiB granule of the lowest 8 TiB of the
 * address space (PAGEMAP_TABLE_TOP),
 *   table[addr >> 22]  ->  entry
 * 2^21 entries, 16 MiB of address space reserved read-only on the first
 * chunk or mapping (reads of entries never written find zeroes); the pages
 * of the table that receive entries are made writable then (one page
 * covers 2 GiB of addresses: a process uses a handful). A lookup is one
 * load -- free() follows a chain of dependent loads, and the radix tree
 * that was here made it one longer: symbolic ran 10 % longer with it (1.08
 * s against 0.97, 9 runs each, side by side). Every chunk is mapped there
 * (page_alloc.c's direct map) unless that region is full or in the way;
 * the kernel puts other mappings near the top of the address space, out of
 * its reach. (Until 2026-11-28 the table covered the whole 47 bits: 256 MiB
 * of address space, which counted against a RLIMIT_AS that the program set
 * itself.)
 *
 * The radix tree holds the entries of granules above the table, mapped
 * blocks' mostly, and all of them for a process under ulimit -v (the
 * reservation would count against its limit) or whose address space has no
 * room for the table: two levels,
 *   root[addr >> 35]  ->  leaf[(addr >> 22) & 8191]  ->  entry
 * with the root (64 KiB) in .bss and leaves (64 KiB each) mapped on first
 * use (and with the option pagemap_tree=1, which the tests use to run
 * through it). pagemap.limit stays 0 without a table, and every lookup
 * takes the tree's path. Which of the two holds a granule's entry depends
 * only on its address (below the table's limit: the table), so an entry is
 * never in both.
 *
 * An entry is a chunk's (chunk_entry: tagged PAGEMAP_CHUNK), or a struct vm_area *, or 0
 * for memory that buddyslab does not own (stack, other mappings, freed
 * chunks). Table pages and leaves are never unmapped, so a lock-free reader
 * never sees one disappear. Entries are published with release stores
 * after the owner is fully initialised, and the table (pagemap.table, then
 * pagemap.limit) before any entry. pagemap_lock serialises the making of
 * the table, of its writable pages and of the tree's leaves; an entry is
 * written only by the owner of its granule, so where the table's pages
 * are writable already (table_writable bits are only ever set), or the
 * tree's leaves mapped, set and clear store without the lock: a mapped
 * block of 2 MiB took 241 of its
 * pair's 1231 instructions in pagemap_set_range and pagemap_clear_range,
 * most of them pthread_mutex_lock and unlock. (A fork() child may then see
 * a range half written by a thread that the fork left behind: that
 * thread's block, which no one in the child can free, is all it affects.)
 */
#include <sys/resource.h>

#include "internal.h"

#define LEAF_ENTRIES (1UL << PAGEMAP_LEAF_BITS)
#define FLAT_ENTRIES (PAGEMAP_TABLE_TOP >> CHUNK_SHIFT)
#define FLAT_PAGES (FLAT_ENTRIES * sizeof(uintptr_t) / PAGE_SIZE)
_Static_assert(PAGEMAP_TABLE_BITS < PAGEMAP_BITS && DIRECT_MAP_LOW + DIRECT_MAP_SIZE < PAGEMAP_TABLE_TOP,
	       "the table covers the direct map, and the tree what is above the table");

struct pagemap pagemap;
pthread_mutex_t pagemap_lock = PTHREAD_MUTEX_INITIALIZER;

/* the tree, when the table could not be reserved */
static _Atomic(uintptr_t *) pagemap_root[1UL << PAGEMAP_ROOT_BITS];
/* which pages of the table are writable: bits set under pagemap_lock,
 * after the page was made writable (release), never cleared; read without
 * it (acquire) */
static _Atomic uint64_t table_writable[FLAT_PAGES / 64];
/* which pagemap the process has, for the reports; NULL until the first
 * pagemap_set_range chose (under pagemap_lock). The table is there iff
 * pagemap.table is set. */
static const char *_Atomic pagemap_kind;

/* address_space_limited - does the process run under ulimit -v? Its
 * reservation would count against the limit, read-only or not: a program
 * given 1 GiB would lose half of it to the table. */
static bool address_space_limited(void)
{
	struct rlimit rl;
	return getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY;
}

/* pagemap_choose - reserve the table on first use, unless told not to or
 * the address space is limited; else (or if the reservation fails) settle
 * for the tree. Caller holds pagemap_lock. */
static void pagemap_choose(void)
{
	if (atomic_load_explicit(&pagemap_kind, memory_order_relaxed))
		return;
	const char *kind = "table (below 8 TiB; a tree above)";
	uintptr_t *table = NULL;
	if (options.pagemap_tree)
		kind = "tree (pagemap_tree=1)";
	else if (address_space_limited())
		kind = "tree (ulimit -v)";
	else if (!(table = os_reserve(FLAT_ENTRIES * sizeof(uintptr_t))))
		kind = "tree (no room for the table)";
	if (table) {
		pagemap.table = table;
		__atomic_store_n(&pagemap.limit, FLAT_ENTRIES, __ATOMIC_RELEASE);
	}
	atomic_store_explicit(&pagemap_kind, kind, memory_order_release);
}

/* table_page_writable - is the table's page holding entry @i writable? */
static bool table_page_writable(uintptr_t i)
{
	uintptr_t page = i * sizeof(uintptr_t) / PAGE_SIZE;
	return atomic_load_explicit(&table_writable[page / 64], memory_order_acquire) &
	       (1ULL << (page % 64));
}

/* table_make_writable - the table's page that holds entry @i, writable.
 * Caller holds pagemap_lock. */
static bool table_make_writable(uintptr_t i)
{
	if (table_page_writable(i))
		return true;
	uintptr_t page = i * sizeof(uintptr_t) / PAGE_SIZE;
	if (!os_commit((char *)pagemap.table + page * PAGE_SIZE, PAGE_SIZE))
		return false;
	atomic_fetch_or_explicit(&table_writable[page / 64], 1ULL << (page % 64),
				 memory_order_release);
	return true;
}

static uintptr_t *pagemap_leaf(uintptr_t addr, bool create)
{
	uintptr_t root_index = addr >> (CHUNK_SHIFT + PAGEMAP_LEAF_BITS);
	if (root_index >= (1UL << PAGEMAP_ROOT_BITS))
		return NULL;
	uintptr_t *leaf = atomic_load_explicit(&pagemap_root[root_index], memory_order_acquire);
	if (leaf || !create)
		return leaf;
	leaf = os_map(LEAF_ENTRIES * sizeof(uintptr_t), PAGE_SIZE);
	if (leaf)
		atomic_store_explicit(&pagemap_root[root_index], leaf, memory_order_release);
	return leaf;
}

/* pagemap_lookup_tree - pagemap_lookup() past the table (or without one):
 * the tree's entry; 0 above the address space the tree covers. */
uintptr_t pagemap_lookup_tree(uintptr_t p)
{
	uintptr_t *leaf = pagemap_leaf(p, false);
	if (!leaf)
		return 0;
	return __atomic_load_n(&leaf[(p >> CHUNK_SHIFT) & (LEAF_ENTRIES - 1)], __ATOMIC_ACQUIRE);
}

/* pagemap_slot - where the entry of granule @a lives, made writable (or
 * its leaf mapped) with @create; NULL if that failed or, without @create,
 * if it was never written. With @create, the caller holds pagemap_lock;
 * without, after the pagemap was chosen, it need not (range_ready). */
static uintptr_t *pagemap_slot(uintptr_t a, bool create)
{
	uintptr_t i = a >> CHUNK_SHIFT;
	if (pagemap.table && i < FLAT_ENTRIES) {
		if (!(create ? table_make_writable(i) : table_page_writable(i)))
			return NULL;
		return &pagemap.table[i];
	}
	uintptr_t *leaf = pagemap_leaf(a, create);
	return leaf ? &leaf[i & (LEAF_ENTRIES - 1)] : NULL;
}

static void pagemap_clear_locked(uintptr_t start, size_t size)
{
	for (uintptr_t a = start; a < start + size; a += CHUNK_SIZE) {
		uintptr_t *slot = pagemap_slot(a, false);
		if (slot)
			__atomic_store_n(slot, 0, __ATOMIC_RELEASE);
	}
}

/* pagemap_kind_name - which pagemap the process has (reports) */
const char *pagemap_kind_name(void)
{
	const char *kind = atomic_load_explicit(&pagemap_kind, memory_order_relaxed);
	return kind ? kind : "none yet";
}

/* range_ready - has every granule of [start, start+size) its slot
 * already: a writable page of the table, or a leaf of the tree? Then the
 * entries can be written without pagemap_lock (see the top). Not before
 * the pagemap was chosen: pagemap_kind, published after the table. */
static bool range_ready(uintptr_t start, size_t size)
{
	if (!atomic_load_explicit(&pagemap_kind, memory_order_acquire))
		return false;
	for (uintptr_t a = start; a < start + size; a += CHUNK_SIZE)
		if (!pagemap_slot(a, false))
			return false;
	return true;
}

/* store_range - every entry of [start, start+size) to @value; their slots
 * are there (range_ready). */
static void store_range(uintptr_t start, size_t size, uintptr_t value)
{
	for (uintptr_t a = start; a < start + size; a += CHUNK_SIZE)
		__atomic_store_n(pagemap_slot(a, false), value, __ATOMIC_RELEASE);
}

/* pagemap_set_range - map every granule of [start, start+size) to @value.
 * start is CHUNK_SIZE aligned. Fails (false) only if the table's page or a
 * leaf cannot be had; then nothing is left set. */
bool pagemap_set_range(uintptr_t start, size_t size, uintptr_t value)
{
	if (likely(range_ready(start, size))) {
		store_range(start, size, value);
		return true;
	}
	pmutex_lock(&pagemap_lock);
	pagemap_choose();
	for (uintptr_t a = start; a < start + size; a += CHUNK_SIZE) {
		uintptr_t *slot = pagemap_slot(a, true);
		if (!slot) {
			pagemap_clear_locked(start, a - start);
			pmutex_unlock(&pagemap_lock);
			return false;
		}
		__atomic_store_n(slot, value, __ATOMIC_RELEASE);
	}
	pmutex_unlock(&pagemap_lock);
	return true;
}

void pagemap_clear_range(uintptr_t start, size_t size)
{
	if (likely(range_ready(start, size))) {
		store_range(start, size, 0);
		return;
	}
	pmutex_lock(&pagemap_lock);
	pagemap_clear_locked(start, size);
	pmutex_unlock(&pagemap_lock);
}

/* virt_to_page - the descriptor of the page at @p, or NULL if buddyslab's
 * buddy allocator does not own @p. */
struct page *virt_to_page(uintptr_t p)
{
	struct chunk *c = entry_chunk(pagemap_lookup(p), p);
	return c ? chunk_page(c, p) : NULL;
}
