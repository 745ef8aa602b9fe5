/*
 * vmalloc.c - blocks larger than VMALLOC_MIN_SIZE (1 MiB), each in a
 * mapping of its own, like the kernel's vmalloc.
 *
 * The mapping starts on a 4 MiB boundary (or the block's alignment if that
 * is larger) so that its 4 MiB granules are its alone; pagemap maps each of
 * them to the block's struct vm_area, which lets free()
 * tell the block's start from its middle or from foreign memory. There is no
 * header in the mapping: the user pointer is the mapping's start.
 *
 * realloc grows a block into the cached mapping right after it if there
 * is one (its pages join the block as a piece, without a system call),
 * else with mremap: in place when the address space after the block is
 * free, else by moving the pages (no copy) to a fresh aligned reservation
 * with MREMAP_FIXED; it shrinks with munmap. free unmaps, caches, or
 * keeps the block whole as the hot mapping (at most 4 MiB, the last one
 * freed: "the hot mapping" below), which the next block of about its size
 * takes without a lock.
 *
 * Freed mappings are kept in a small cache (vm_cache, under vm_cache_lock)
 * for reuse by the next mapped block, so that a program that churns large
 * blocks does not map, fault and unmap each of them: at most VM_CACHE_SLOTS
 * mappings, as many bytes as the live mapped blocks at their peak (at
 * least 16 MiB, at most vm_cache_mb; 4 MiB once the program frees without
 * allocating), each for at most purge_ms before it is unmapped (by the next
 * large block, by a slow path of small blocks: vm_cache_expire, or by
 * kswapd). The next block takes the smallest cached mapping that holds it
 * (cut to it; the rest stays cached), else the largest ones moved side by
 * side with mremap, plus fresh pages for what they do not cover: cached
 * pages, already resident, serve the new block rather than sit beside a
 * fresh mapping, which would count both in the peak RSS. The zone about to
 * map a chunk takes a chunk's worth of the cache back, oldest first
 * (vm_cache_shrink_for_growth). calloc of a block made of cached pages
 * zeroes those that are resident and leaves the rest, which read as zero
 * (vm_zero). Cached mappings
 * are not in the pagemap: freeing a block twice is still reported (the hot
 * mapping is, with its own magic: reported too).
 *
 * A block made that way, or grown into the cached mapping after it
 * (vm_cache_take_after), is several of the kernel's mappings (VMAs), and
 * mremap resizes or moves only within one (before Linux 6.17, moves too):
 * struct vm_area's pieces record them, realloc moves them one by one, and
 * all pieces together stay under VM_PIECES_BUDGET (a growth into the
 * cached mapping after the block maps nothing: no new VMA). A piece the
 * program split into more VMAs (mprotect, madvise, mlock on part of a
 * block) is found by os_single_mapping before a move: realloc then copies
 * the block, and a new block is not made of it by moving it (in place, a
 * cached mapping serves as it is, split or not).
 *
 * Descriptors are kmalloc objects (552 bytes, most of it the pieces'
 * sizes). Besides the cache, no lock (the hot mapping's slot is one atomic
 * exchange): a block is only resized or freed by the one thread that owns
 * the pointer.
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

/* ---- the cache of freed mappings: limits and state ----------------------- */

#define VM_CACHE_SLOTS 32
/* Pieces smaller than this are unmapped rather than cached: a slot would
 * hold little, and a block made of them would need many mremap calls. */
#define VM_PIECE_MIN (256UL << 10)
#define VM_CACHE_MIN_BUDGET (16UL << 20)
#define VM_CACHE_FIT_FLOOR  (4UL << 20)
/* Each piece of a block is a VMA of the kernel's. Blocks made of several
 * pieces are made only while all blocks and cached mappings together are
 * fewer than this many pieces: far from vm.max_map_count (65530 by
 * default), past which every mmap, buddyslab's and the program's, fails. */
#define VM_PIECES_BUDGET 4096

struct vm_cached {
	uintptr_t addr;
	size_t size;
	uint64_t stamp;   /* zone_clock_ms() when freed */
	struct vm_pieces pieces;
};

_Atomic int vm_cache_lock; /* a futex mutex (mutex.c) */
static struct vm_cached vm_cache[VM_CACHE_SLOTS]; /* [0, vm_cache_nr) in use */
static unsigned int vm_cache_nr;
static size_t vm_cache_bytes;
/* the stamp of the oldest cached mapping, UINT64_MAX with none: written
 * under vm_cache_lock, read without it by vm_cache_expire */
static _Atomic uint64_t vm_cache_oldest_ms = UINT64_MAX;
_Atomic long vm_pieces_live; /* in blocks and in the cache */
/* the hot mapping and when it was parked (below, "the hot mapping"), and
 * the descriptors of those given back, to free (vm_dead_free) */
static _Atomic(struct vm_area *) vm_hot;
static _Atomic uint64_t vm_hot_ms;
static _Atomic(struct vm_area *) vm_dead;
static void vm_hot_flush(uint64_t max_age_ms, uint64_t now);

static void vm_pieces_count(long delta)
{
	if (delta)
		atomic_fetch_add_explicit(&vm_pieces_live, delta, memory_order_relaxed);
}

static size_t vm_cache_limit(void)
{
	return (size_t)options.vm_cache_mb << 20; /* VM_CACHE_DEFAULT_MB */
}

/* ---- pieces: the VMAs a block or a cached mapping is made of ------------- */

/* pieces_cut - cut the mapping that @p describes at @offset (inside it, a
 * multiple of PAGE_SIZE): @p keeps what lies before, @rest gets the rest. */
static void pieces_cut(struct vm_pieces *p, size_t offset, struct vm_pieces *rest)
{
	unsigned int i = 0;
	size_t start = 0;
	while (start + p->size[i] <= offset)
		start += p->size[i++];
	unsigned int front = i; /* piece i holds offset */
	rest->nr = 0;
	if (offset > start) {
		rest->size[rest->nr++] = start + p->size[i] - offset;
		p->size[i] = offset - start;
		front = ++i;
	}
	for (; i < p->nr; i++)
		rest->size[rest->nr++] = p->size[i];
	p->nr = front;
}

/* pieces_copy - @dst, @src's pieces. (A struct copy moves all 520 bytes of
 * the sizes for the one or few in use: the copies in and out of the cache
 * made a third of a 2 MiB block's pair.) */
static void pieces_copy(struct vm_pieces *dst, const struct vm_pieces *src)
{
	dst->nr = src->nr;
	memcpy(dst->size, src->size, src->nr * sizeof(src->size[0]));
}

/* pieces_append - add @src's pieces after @dst's. */
static void pieces_append(struct vm_pieces *dst, const struct vm_pieces *src)
{
	for (unsigned int i = 0; i < src->nr; i++)
		dst->size[dst->nr++] = src->size[i];
}

/* pieces_single - do the @nr pieces of sizes @size, side by side from
 * @addr, each lie within one VMA (os_single_mapping)? */
static bool pieces_single(const size_t *size, unsigned int nr, uintptr_t addr)
{
	for (unsigned int i = 0; i < nr; addr += size[i++])
		if (!os_single_mapping((void *)addr, size[i]))
			return false;
	return true;
}

/*
 * move_pieces - move the mapping at @from made of the @nr pieces of sizes
 * @size to @to (where the caller reserved room), one mremap per piece,
 * none resized (a growing move may be refused for RLIMIT_AS or
 * RLIMIT_MEMLOCK, and since Linux 6.17 counts the reservation it replaces
 * against them). Returns the bytes
 * moved: all of them, or, if the kernel refused a piece (at
 * vm.max_map_count), those before it; *@refused is then the length of the
 * refused piece (see os_unmap_refused).
 */
static size_t move_pieces(const size_t *size, unsigned int nr, uintptr_t from, uintptr_t to,
			  size_t *refused)
{
	size_t offset = 0;
	for (unsigned int i = 0; i < nr; i++) {
		size_t len = size[i];
		if (!os_remap((void *)(from + offset), len, len, (void *)(to + offset))) {
			*refused = len;
			return offset;
		}
		offset += len;
	}
	return offset;
}

/* unmap_pieces - unmap the mapping [@addr, @addr+@size) of @nr pieces
 * (munmap takes them all) and stop counting them. */
static void unmap_pieces(uintptr_t addr, size_t size, unsigned int nr)
{
	os_unmap((void *)addr, size);
	vm_pieces_count(-(long)nr);
}

/* unmap_after_refusal - give back the reservation [base, base+size) after
 * a move into it was refused at @offset, @refused bytes long: the rest is
 * the caller's, that part may be a hole (os_unmap_refused). */
static void unmap_after_refusal(uintptr_t base, size_t size, size_t offset, size_t refused)
{
	if (offset)
		os_unmap((void *)base, offset);
	os_unmap_refused((void *)(base + offset), refused);
	if (offset + refused < size)
		os_unmap((void *)(base + offset + refused), size - offset - refused);
}

/* ---- the cache of freed mappings ----------------------------------------- */

/* cached_copy - *@dst = *@src, copying only the pieces in use. */
static void cached_copy(struct vm_cached *dst, const struct vm_cached *src)
{
	dst->addr = src->addr;
	dst->size = src->size;
	dst->stamp = src->stamp;
	pieces_copy(&dst->pieces, &src->pieces);
}

/* vm_cache_remove_locked - take entry @i out of the cache into @entry (if
 * not NULL); the last entry fills its place. */
static void vm_cache_remove_locked(unsigned int i, struct vm_cached *entry)
{
	uint64_t stamp = vm_cache[i].stamp;
	if (entry)
		cached_copy(entry, &vm_cache[i]);
	vm_cache_bytes -= vm_cache[i].size;
	if (i != --vm_cache_nr)
		cached_copy(&vm_cache[i], &vm_cache[vm_cache_nr]);
	if (stamp != atomic_load_explicit(&vm_cache_oldest_ms, memory_order_relaxed))
		return;
	uint64_t oldest = UINT64_MAX;
	for (unsigned int k = 0; k < vm_cache_nr; k++)
		if (vm_cache[k].stamp < oldest)
			oldest = vm_cache[k].stamp;
	atomic_store_explicit(&vm_cache_oldest_ms, oldest, memory_order_relaxed);
}

/* vm_cache_unmap_locked - unmap entry @i and drop it. */
static void vm_cache_unmap_locked(unsigned int i)
{
	unmap_pieces(vm_cache[i].addr, vm_cache[i].size, vm_cache[i].pieces.nr);
	vm_cache_remove_locked(i, NULL);
}

/* vm_cache_trim_locked - unmap cached mappings older than @max_age_ms (0:
 * all) at @now (zone_clock_ms(), read once by each caller: four reads made
 * 88 of the 1231 instructions of a pair of 2 MiB). @now is read before the
 * lock, so a mapping cached meanwhile may be stamped later: it is young.
 * Caller holds vm_cache_lock. */
static void vm_cache_trim_locked(uint64_t max_age_ms, uint64_t now)
{
	for (unsigned int i = 0; i < vm_cache_nr;) {
		if (max_age_ms == 0 ||
		    (vm_cache[i].stamp <= now && now - vm_cache[i].stamp >= max_age_ms))
			vm_cache_unmap_locked(i); /* the last one moves to i */
		else
			i++;
	}
}

/* vm_cache_expire_at - unmap the cached mappings older than purge_ms at
 * @now, if the oldest is; the lock is not waited for. */
static void vm_cache_expire_at(uint64_t now)
{
	uint64_t oldest = atomic_load_explicit(&vm_cache_oldest_ms, memory_order_relaxed);
	if (oldest == UINT64_MAX || oldest > now || now - oldest < zone.purge_ms)
		return;
	if (!mutex_trylock(&vm_cache_lock))
		return;
	vm_cache_trim_locked(zone.purge_ms, now);
	mutex_unlock(&vm_cache_lock);
}

/*
 * vm_cache_expire - unmap the cached mappings older than purge_ms, if there
 * are any, and the hot mapping if it is, from the slow paths of small
 * blocks (heap_bin_gc, once per round of its looks). Only the vm calls
 * trimmed the cache before: a
 * program that freed its large blocks and went on with small ones kept up
 * to vm_cache_mb of them for good (8 blocks of 30 MiB freed, then 1 s of
 * small blocks: 121 MiB resident, 1 MiB with glibc or mimalloc, 3 with
 * jemalloc). Two relaxed loads when the cache is empty and there is no
 * hot mapping; the clock when there is either; the lock only when a
 * cached mapping is old enough, and not waited for: a busy lock skips a
 * round, the next round looks again. (vm_hot_park looks too: a program
 * that reuses its hot mapping alone takes neither the cache's calls, which
 * trim it, nor many slow paths of small blocks.)
 */
void vm_cache_expire(void)
{
	if (likely(atomic_load_explicit(&vm_cache_oldest_ms, memory_order_relaxed) == UINT64_MAX) &&
	    likely(!atomic_load_explicit(&vm_hot, memory_order_relaxed)))
		return;
	uint64_t now = zone_clock_ms();
	vm_hot_flush(zone.purge_ms, now);
	vm_cache_expire_at(now);
}

/*
 * vm_cache_shrink_for_growth - the zone is about to map a chunk
 * (zone_purge_before_growth): give back as much of the cache, the oldest
 * mappings first, as the reclaim before an allocation shrinks the
 * kernel's caches. Cached pages are resident and serve none of the zone's
 * blocks: a program that freed 4 blocks of 30 MiB and then made 120 MiB
 * of 256 KiB blocks peaked at 243 MiB (glibc 121, jemalloc 126; python3
 * and perl doing the same 277 and 269 against 153 and 145), the cache
 * expiring only on the calls of mapped blocks and of small blocks' slow
 * paths. The lock is not waited for: another thread is at the cache.
 */
void vm_cache_shrink_for_growth(void)
{
	if (atomic_load_explicit(&vm_cache_oldest_ms, memory_order_relaxed) == UINT64_MAX ||
	    !mutex_trylock(&vm_cache_lock))
		return;
	for (size_t released = 0; vm_cache_nr && released < CHUNK_SIZE;) {
		unsigned int oldest = 0;
		for (unsigned int k = 1; k < vm_cache_nr; k++)
			if (vm_cache[k].stamp < vm_cache[oldest].stamp)
				oldest = k;
		released += vm_cache[oldest].size;
		vm_cache_unmap_locked(oldest);
	}
	mutex_unlock(&vm_cache_lock);
}

void vm_cache_drain(void)
{
	vm_cache_trim(0);
}

/* vm_cache_trim - unmap cached mappings unused for @max_age_ms (0: all). */
void vm_cache_trim(uint64_t max_age_ms)
{
	uint64_t now = zone_clock_ms();
	vm_hot_flush(max_age_ms, now);
	mutex_lock(&vm_cache_lock);
	vm_cache_trim_locked(max_age_ms, now);
	mutex_unlock(&vm_cache_lock);
}

/* vm_cache_counts - the cache's mappings and bytes, and whether there is a
 * hot mapping, for the reports; false if the cache's lock is busy (a
 * report does not wait: it may come from a fatal error's path). */
bool vm_cache_counts(unsigned int *nr, size_t *bytes, bool *hot)
{
	if (!mutex_trylock(&vm_cache_lock))
		return false;
	*nr = vm_cache_nr;
	*bytes = vm_cache_bytes;
	mutex_unlock(&vm_cache_lock);
	*hot = atomic_load_explicit(&vm_hot, memory_order_relaxed) != NULL;
	return true;
}

/* The most bytes of mapped blocks live at once since the zone last found
 * the program shrinking (vm_cache_fit_budget), and when a mapped block was
 * last asked for. Under vm_cache_lock. */
static size_t vm_peak_bytes;
static uint64_t vm_last_take_ms; /* also read without it: READ_ONCE */

/* vm_cache_shrinking - is the program freeing without allocating: the
 * zone takes back four times more than it hands out (zone_is_shrinking),
 * and no mapped block was asked for in purge_ms? (The zone's count alone
 * wiped the cache in the middle of largeblock's churn: 0.29 -> 0.39 s.)
 * (Reuses of the hot mapping are not counted as asked-for blocks: a program
 * that churns it alone is refused the slot once the zone finds it
 * shrinking, and its next block, through the cache, counts.) */
static bool vm_cache_shrinking(uint64_t now)
{
	uint64_t last = READ_ONCE(vm_last_take_ms);
	return last <= now && now - last >= zone.purge_ms && zone_is_shrinking();
}

/* vm_cache_budget_locked - how many bytes the cache may hold while the
 * program is not shrinking: the peak of the live mapped blocks, at least
 * VM_CACHE_MIN_BUDGET, at most vm_cache_mb. */
static size_t vm_cache_budget_locked(void)
{
	size_t budget = vm_peak_bytes > VM_CACHE_MIN_BUDGET ? vm_peak_bytes : VM_CACHE_MIN_BUDGET;
	return budget < vm_cache_limit() ? budget : vm_cache_limit();
}

static unsigned int vm_cache_oldest_locked(void)
{
	unsigned int oldest = 0;
	for (unsigned int i = 1; i < vm_cache_nr; i++)
		if (vm_cache[i].stamp < vm_cache[oldest].stamp)
			oldest = i;
	return oldest;
}

/* vm_cache_fit_budget - called when the zone finds the program freeing
 * more than it takes (zone_maybe_purge), and by vm_cache_put: if the
 * program is shrinking (vm_cache_shrinking), the cache keeps no
 * more than VM_CACHE_FIT_FLOOR, the oldest mappings going first, and the
 * peak starts again from the mapped blocks still live. Returns whether it
 * is shrinking. */
static bool vm_cache_fit_budget_locked(uint64_t now)
{
	if (!vm_cache_shrinking(now))
		return false;
	while (vm_cache_nr && vm_cache_bytes > VM_CACHE_FIT_FLOOR)
		vm_cache_unmap_locked(vm_cache_oldest_locked());
	vm_peak_bytes = atomic_load_explicit(&vm_bytes, memory_order_relaxed);
	return true;
}

void vm_cache_fit_budget(void)
{
	if (!zone_is_shrinking()) /* most calls: no lock taken */
		return;
	uint64_t now = zone_clock_ms();
	mutex_lock(&vm_cache_lock);
	bool shrinking = vm_cache_fit_budget_locked(now);
	mutex_unlock(&vm_cache_lock);
	if (shrinking) /* the hot mapping too: the floor is all the cache keeps */
		vm_hot_flush(0, now);
}

/*
 * vm_cache_insert_locked - keep @entry; false if it is too small or too
 * big for the cache (the caller unmaps it). The oldest entries make room.
 * The cache holds at most the peak of the live mapped blocks (at least
 * VM_CACHE_MIN_BUDGET, at most vm_cache_mb): a program that churns its
 * large blocks, or allocates and frees them in batches, reuses them all;
 * one that shrinks keeps little, as the zone then tells the cache
 * (vm_cache_fit_budget; otherwise only age trims it: the next large
 * block, a slow path of small ones (vm_cache_expire), or kswapd). With
 * vm_cache_mb alone, shrink kept 101.6 MiB after freeing 99 % of its
 * blocks (67.9 before blocks of 1-4 MiB were mapped) and test_dlopen's
 * steady RSS was 85 MiB (19 with a cache of 8 MiB).
 * Caller holds vm_cache_lock.
 */
static bool vm_cache_insert_locked(const struct vm_cached *entry, bool shrinking)
{
	size_t limit = vm_cache_limit();
	if (entry->size < VM_PIECE_MIN || entry->size > limit / 2)
		return false;
	size_t budget = shrinking ? VM_CACHE_FIT_FLOOR : vm_cache_budget_locked();
	if (entry->size > budget)
		return false;
	while (vm_cache_nr == VM_CACHE_SLOTS || vm_cache_bytes + entry->size > budget)
		vm_cache_unmap_locked(vm_cache_oldest_locked());
	cached_copy(&vm_cache[vm_cache_nr++], entry);
	vm_cache_bytes += entry->size;
	if (entry->stamp < atomic_load_explicit(&vm_cache_oldest_ms, memory_order_relaxed))
		atomic_store_explicit(&vm_cache_oldest_ms, entry->stamp, memory_order_relaxed);
	return true;
}

/* A cached mapping taken out to make a block; its pieces follow the
 * previous one's in the block's struct vm_pieces. */
struct vm_taken {
	uintptr_t addr;
	size_t size;
	unsigned int nr_pieces;
};

/* vm_cache_cut_locked - @entry, just taken out of the cache, keeps its
 * first @keep bytes (less than its size); its rest goes back into the
 * cache, or to *@unmap when too small to keep (the caller unmaps it after
 * the lock, with os_unmap: its pieces are not counted). Returns how many
 * pieces went back into the cache. Caller holds vm_cache_lock. */
static unsigned int vm_cache_cut_locked(struct vm_cached *entry, size_t keep,
					struct vm_cached *unmap)
{
	struct vm_cached rest;
	rest.addr = entry->addr + keep;
	rest.size = entry->size - keep;
	rest.stamp = entry->stamp;
	pieces_cut(&entry->pieces, keep, &rest.pieces);
	entry->size = keep;
	if (vm_cache_insert_locked(&rest, false))
		return rest.pieces.nr;
	unmap->addr = rest.addr;
	unmap->size = rest.size;
	return 0;
}

/* vm_cache_note_take_locked - a block of @size bytes is made of cached
 * mappings at @now: the peak of the live mapped blocks and the time of the
 * last take (vm_cache_shrinking) follow. Caller holds vm_cache_lock. */
static void vm_cache_note_take_locked(size_t size, uint64_t now)
{
	size_t live = atomic_load_explicit(&vm_bytes, memory_order_relaxed) + size;
	if (live > vm_peak_bytes)
		vm_peak_bytes = live;
	WRITE_ONCE(vm_last_take_ms, now);
}

/*
 * vm_cache_pick - take out the cached mappings that will make one of
 * @size: the smallest one that holds it, else the largest ones, while
 * their pieces leave one of VM_MAX_PIECES for the fresh rest and the
 * process has fewer than VM_PIECES_BUDGET, until they add up to @size;
 * their pieces go to @pieces, in order. The last one is cut to what is
 * needed; its rest stays cached, or is put in *@unmap when too small to
 * keep. Returns how many were taken, with the pieces change to count in
 * *@pieces_delta (what the caller does not keep is taken off). Caller
 * holds vm_cache_lock.
 */
static int vm_cache_pick(size_t size, struct vm_taken *taken, struct vm_pieces *pieces,
			 struct vm_cached *unmap, long *pieces_delta)
{
	int fit = -1;
	for (unsigned int i = 0; i < vm_cache_nr; i++)
		if (vm_cache[i].size >= size && (fit < 0 || vm_cache[i].size < vm_cache[fit].size))
			fit = (int)i;
	int n = 0;
	size_t total = 0;
	pieces->nr = 0;
	*pieces_delta = 0;
	unmap->addr = 0;
	unmap->size = 0;
	while (total < size) {
		int pick = fit; /* first, the smallest that holds @size */
		fit = -1;
		if (pick < 0) {
			if (n > 0 && atomic_load_explicit(&vm_pieces_live, memory_order_relaxed) >=
					     VM_PIECES_BUDGET)
				break;
			for (unsigned int i = 0; i < vm_cache_nr; i++)
				if (pieces->nr + vm_cache[i].pieces.nr < VM_MAX_PIECES &&
				    (pick < 0 || vm_cache[i].size > vm_cache[pick].size))
					pick = (int)i;
			if (pick < 0)
				break;
		}
		struct vm_cached entry;
		vm_cache_remove_locked((unsigned int)pick, &entry);
		*pieces_delta -= (long)entry.pieces.nr;
		if (total + entry.size > size)
			*pieces_delta += (long)vm_cache_cut_locked(&entry, size - total, unmap);
		taken[n++] = (struct vm_taken){ entry.addr, entry.size, entry.pieces.nr };
		pieces_append(pieces, &entry.pieces);
		total += entry.size;
	}
	return n;
}

/* taken_single - does each piece of taken[@from .. @n) (their sizes in
 * @pieces, in order from taken[0]'s) lie within one VMA? */
static bool taken_single(const struct vm_taken *taken, int from, int n,
			 const struct vm_pieces *pieces)
{
	unsigned int piece = 0;
	for (int i = 0; i < n; piece += taken[i++].nr_pieces)
		if (i >= from && !pieces_single(pieces->size + piece, taken[i].nr_pieces, taken[i].addr))
			return false;
	return true;
}

/*
 * vm_cache_take - a mapping of @size bytes aligned to CHUNK_SIZE made of
 * cached mappings, its pieces recorded in @vm; *@dirty set to how many of
 * its first bytes may hold old contents: the cached mappings', whose pages
 * are resident (no page fault, no zeroing by the kernel). NULL if the cache
 * is empty or the OS refuses a step.
 *
 * A cached mapping that holds @size and starts on a chunk boundary (a
 * freed block's does) serves in place, cut to @size. Otherwise the cached
 * mappings move into one (their pages, not their bytes: mremap): into the
 * first one, grown in place when it is aligned and the address space after
 * it is free, else into a fresh aligned reservation; what they do not cover
 * is fresh pages. largeblock with min=4194305 (4-32 MiB blocks), which took
 * the smallest cached mapping of at most twice its size (unmapping the
 * rest), else grew the largest smaller one with fresh pages: 1.65 -> 0.53 s,
 * 1.02M -> 0.12M page faults (tcmalloc 0.09M), peak RSS 277 -> 250 MiB.
 * The pieces that move are checked first (taken_single), so a move is
 * refused only at vm.max_map_count.
 */
static void *vm_cache_take(size_t size, size_t *dirty, struct vm_area *vm)
{
	struct vm_taken taken[VM_CACHE_SLOTS]; /* each one leaves the cache */
	struct vm_pieces pieces;
	struct vm_cached rest;
	long pieces_delta;
	uint64_t now = zone_clock_ms();
	mutex_lock(&vm_cache_lock);
	vm_cache_note_take_locked(size, now);
	vm_cache_trim_locked(zone.purge_ms, now);
	int n = vm_cache_pick(size, taken, &pieces, &rest, &pieces_delta);
	mutex_unlock(&vm_cache_lock);
	if (rest.addr)
		os_unmap((void *)rest.addr, rest.size);
	if (n == 0)
		return NULL;

	/* the first one in place, grown by its last piece if need be, or all
	 * of them moved to a reservation; those that move must be one VMA a
	 * piece (the program may have split a block it freed), else they all
	 * go back to the OS */
	uintptr_t base = taken[0].addr;
	int placed = 1; /* taken[0 .. placed) are where they belong */
	unsigned int piece = taken[0].nr_pieces; /* pieces.size[0 .. piece) too */
	size_t covered = taken[0].size;
	size_t last_piece = pieces.size[piece - 1];
	bool single = taken_single(taken, 1, n, &pieces);
	if (!single) {
		base = 0;
	} else if ((base & (CHUNK_SIZE - 1)) ||
		   (covered < size && !os_grow_in_place((void *)(base + covered - last_piece),
							last_piece, last_piece + size - covered))) {
		base = taken_single(taken, 0, 1, &pieces) ? (uintptr_t)os_map(size, CHUNK_SIZE) : 0;
		placed = 0;
		piece = 0;
		covered = 0;
	}
	bool grown = placed == 1 && covered < size;
	for (; base && placed < n; placed++) {
		struct vm_taken *entry = &taken[placed];
		size_t refused = 0;
		size_t moved = move_pieces(pieces.size + piece, entry->nr_pieces, entry->addr,
					   base + covered, &refused);
		if (moved < entry->size) {
			unmap_after_refusal(base, size, covered + moved, refused);
			os_unmap((void *)(entry->addr + moved), entry->size - moved);
			while (++placed < n)
				os_unmap((void *)taken[placed].addr, taken[placed].size);
			vm_pieces_count(pieces_delta);
			return NULL;
		}
		covered += entry->size;
		piece += entry->nr_pieces;
	}
	if (!base) { /* a piece across VMAs, or no reservation: all go back */
		for (int i = 0; i < n; i++)
			os_unmap((void *)taken[i].addr, taken[i].size);
		vm_pieces_count(pieces_delta);
		return NULL;
	}
	*dirty = covered;
	pieces_copy(&vm->pieces, &pieces);
	if (grown && n == 1)
		vm->pieces.size[vm->pieces.nr - 1] += size - covered; /* one VMA */
	else if (covered < size)
		vm->pieces.size[vm->pieces.nr++] = size - covered; /* the fresh rest */
	vm_pieces_count(pieces_delta + (long)vm->pieces.nr);
	return (void *)base;
}

/* pieces_before - how many of @p's pieces start before @offset. */
static unsigned int pieces_before(const struct vm_pieces *p, size_t offset)
{
	unsigned int i = 0;
	for (size_t start = 0; i < p->nr && start < offset; start += p->size[i++])
		;
	return i;
}

/*
 * vm_cache_take_after - take the first @grow bytes of the cached mapping
 * that starts at @addr, right after a block that grows, for the block:
 * their pieces go to @front as they are, without a system call; the
 * mapping's rest stays cached. False if no cached mapping starts there,
 * it is smaller than @grow, or the block would have more than @room pieces
 * more. The mapping there is typically the rest of the one the block was
 * cut from (vm_cache_pick): a buffer that doubles after a bigger one was
 * freed found its own rest in the way of growing in place, and moved to a
 * fresh reservation and faulted pages there instead (16 B doubled to 4
 * MiB, freed, again: 206 us and 116 page faults a round, jemalloc 54 us;
 * taking the rest, 24 us and 0.7 faults).
 */
static bool vm_cache_take_after(uintptr_t addr, size_t grow, unsigned int room,
				struct vm_pieces *front)
{
	struct vm_cached rest;
	rest.addr = 0;
	rest.size = 0;
	bool taken = false;
	uint64_t now = zone_clock_ms();
	mutex_lock(&vm_cache_lock);
	for (unsigned int i = 0; i < vm_cache_nr; i++) {
		if (vm_cache[i].addr != addr)
			continue;
		if (vm_cache[i].size >= grow && pieces_before(&vm_cache[i].pieces, grow) <= room) {
			struct vm_cached entry;
			vm_cache_remove_locked(i, &entry);
			if (entry.size > grow) {
				unsigned int nr = entry.pieces.nr;
				unsigned int kept = vm_cache_cut_locked(&entry, grow, &rest);
				vm_pieces_count((long)(entry.pieces.nr + kept) - (long)nr);
			}
			vm_cache_note_take_locked(grow, now);
			pieces_copy(front, &entry.pieces);
			taken = true;
		}
		break;
	}
	mutex_unlock(&vm_cache_lock);
	if (rest.addr) /* too small to keep */
		os_unmap((void *)rest.addr, rest.size);
	return taken;
}

/* vm_cache_put - keep a freed block's mapping for reuse, else unmap it; it
 * was freed at @stamp (0: now). (What the program set on it with mprotect,
 * madvise or mlock stays, as in any allocator that reuses memory: a
 * program must undo it before free.) */
static void vm_cache_put(const struct vm_area *vm, uint64_t stamp)
{
	uint64_t now = zone_clock_ms();
	if (stamp && stamp <= now && now - stamp >= zone.purge_ms) {
		/* a hot mapping that sat past purge_ms: expired already, it
		 * would only push younger mappings out */
		unmap_pieces(vm->addr, vm->size, vm->pieces.nr);
		return;
	}
	struct vm_cached entry;
	entry.addr = vm->addr;
	entry.size = vm->size;
	entry.stamp = stamp && stamp <= now ? stamp : now;
	pieces_copy(&entry.pieces, &vm->pieces);
	mutex_lock(&vm_cache_lock);
	vm_cache_trim_locked(zone.purge_ms, now);
	bool shrinking = vm_cache_fit_budget_locked(now);
	bool kept = vm_cache_insert_locked(&entry, shrinking);
	mutex_unlock(&vm_cache_lock);
	if (!kept)
		unmap_pieces(vm->addr, vm->size, vm->pieces.nr);
}

/* vm_give_back - a freed block's mapping out of the pagemap, to the
 * cache (with @cache, if it takes it; freed at @stamp, 0: now) or to the
 * OS; its descriptor is left for the caller to free. Its counts
 * (vm_nr_areas, vm_bytes) were taken off when it was freed. */
static void vm_give_back(struct vm_area *vm, bool cache, uint64_t stamp)
{
	pagemap_clear_range(vm->addr, vm->size);
	if (cache && vm->align == CHUNK_SIZE)
		vm_cache_put(vm, stamp);
	else
		unmap_pieces(vm->addr, vm->size, vm->pieces.nr);
	WRITE_ONCE(vm->magic, 0);
}

/* vm_release - vm_give_back to the cache, and the descriptor freed: from
 * the entry points of mapped blocks only (vm_hot_flush says why). */
static void vm_release(struct vm_area *vm, uint64_t stamp)
{
	vm_give_back(vm, true, stamp);
	bs_free(vm);
}

/* ---- the hot mapping ----------------------------------------------------- */

/*
 * vm_hot - the block of at most VM_HOT_MAX freed last, kept whole: its
 * mapping, its descriptor (magic VM_HOT_MAGIC) and its pagemap entries.
 * The next mapped block that it holds with at most an eighth to spare
 * takes it with one exchange, as a free parks the next with another: no
 * lock, no cache, no pagemap stores, no descriptor freed and made again.
 * Through the cache, a block of 2 MiB freed and asked for again took 1231
 * instructions a pair (807 after the cache's own costs were cut: its
 * copies, its clock reads, the pagemap's lock), 293 ns against glibc's 50,
 * which keeps such blocks in its heap. This is the zone's hot blocks
 * (page_alloc.c) one level up, and as there a free still finds the block
 * through its pagemap entries and reports it as a double free.
 *
 * The block that a newer one displaces, or that a block of another size
 * finds there, goes to the cache as it would have, stamped with the time
 * it was parked (vm_hot_ms), or to the OS if that was purge_ms ago. The
 * slot holds at most VM_HOT_MAX of resident memory: for about purge_ms
 * past its last use when the program goes on (vm_cache_expire from the
 * small blocks' slow paths, kswapd's vm_cache_trim; a program that stops
 * allocating altogether keeps it, as it keeps the cache), none after
 * malloc_trim or reclaim (vm_cache_drain), and none once the zone finds
 * the program shrinking (vm_cache_fit_budget flushes it, vm_hot_park
 * refuses), when the cache itself keeps VM_CACHE_FIT_FLOOR. A park also
 * expires the cache's old mappings (vm_cache_expire_at): a program that
 * freed big blocks and then reused one hot block alone kept them (8 of 30
 * MiB: 127.7 MB resident after 1 s, 3.9 MB with the look). The parker's
 * stamp is stored after its exchange, so an expiry may read the stamp of
 * the block before: it then gives a young block to the OS, early and
 * harmlessly.
 */
#define VM_HOT_MAX VM_CACHE_FIT_FLOOR

/* vm_hot_take - the hot mapping, if it holds @mapsize bytes with at most
 * an eighth to spare; one that does not goes to the cache, where
 * vm_cache_take may cut it. */
static struct vm_area *vm_hot_take(size_t mapsize)
{
	if (likely(!atomic_load_explicit(&vm_hot, memory_order_relaxed)))
		return NULL;
	struct vm_area *vm = atomic_exchange_explicit(&vm_hot, NULL, memory_order_acquire);
	if (!vm)
		return NULL;
	if (vm->size >= mapsize && vm->size - mapsize <= mapsize / 8)
		return vm;
	vm_release(vm, atomic_load_explicit(&vm_hot_ms, memory_order_relaxed));
	return NULL;
}

/* vm_hot_park - keep @vm, just freed, as the hot mapping if it may be one;
 * false if not (the caller releases it). */
static bool vm_hot_park(struct vm_area *vm)
{
	if (vm->size > VM_HOT_MAX || vm->size > vm_cache_limit() || vm->align != CHUNK_SIZE)
		return false; /* vm_cache_mb=0 (or 1-3) keeps no hot mapping either */
	uint64_t now = zone_clock_ms();
	if (vm_cache_shrinking(now))
		return false;
	vm_cache_expire_at(now); /* the cache's calls, which trim it, are skipped */
	WRITE_ONCE(vm->magic, VM_HOT_MAGIC);
	struct vm_area *old = atomic_exchange_explicit(&vm_hot, vm, memory_order_acq_rel);
	uint64_t parked = atomic_exchange_explicit(&vm_hot_ms, now, memory_order_relaxed);
	if (old)
		vm_release(old, parked);
	return true;
}

/*
 * vm_hot_flush - give the hot mapping to the OS if it was parked
 * @max_age_ms ago at @now, or whatever its age with 0. Its descriptor is
 * not freed here but put on vm_dead, for vm_dead_free at the next mapped
 * block's malloc or free: the callers include the zone's purge
 * (vm_cache_fit_budget from zone_maybe_purge) and direct reclaim
 * (vm_cache_drain from zone_reclaim), which run inside the slab layer's
 * own refills and flushes, where a free of the descriptor into its bin
 * would meet that bin half updated (a full bin flushed twice: a crash with
 * 60,000 blocks of 560 bytes freed after a hot mapping of 2 MiB).
 */
static void vm_hot_flush(uint64_t max_age_ms, uint64_t now)
{
	if (likely(!atomic_load_explicit(&vm_hot, memory_order_relaxed)))
		return;
	uint64_t parked = atomic_load_explicit(&vm_hot_ms, memory_order_relaxed);
	if (max_age_ms && (parked > now || now - parked < max_age_ms))
		return;
	struct vm_area *vm = atomic_exchange_explicit(&vm_hot, NULL, memory_order_acquire);
	if (!vm)
		return;
	vm_give_back(vm, false, 0);
	vm->next_dead = atomic_load_explicit(&vm_dead, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(&vm_dead, &vm->next_dead, vm,
						      memory_order_release, memory_order_relaxed))
		;
}

/* vm_dead_free - free the descriptors that vm_hot_flush left, from the
 * entry points of mapped blocks (vmalloc_node, vfree_area), which no
 * allocator path calls halfway through its work, and buddyslab_drain
 * and kswapd. One relaxed load when there are none. (The whole list is
 * taken with one exchange: no pop of one node, so no ABA.) */
void vm_dead_free(void)
{
	if (likely(!atomic_load_explicit(&vm_dead, memory_order_relaxed)))
		return;
	struct vm_area *vm = atomic_exchange_explicit(&vm_dead, NULL, memory_order_acquire);
	while (vm) {
		struct vm_area *next = vm->next_dead;
		bs_free(vm);
		vm = next;
	}
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

/*
 * vm_zero - zero @len bytes of a reused mapping at @p, for calloc: its
 * resident pages by memset (no page fault), the rest by giving them back
 * (a page not resident reads as zero unless it is in swap; MADV_DONTNEED
 * drops that too). A memset of all of it made every page resident: a
 * 40 MiB table used sparsely, calloc'd again and again, kept 42 MiB where
 * glibc (a fresh mapping each time) had 2 and jemalloc (which purges) 4,
 * and node's Buffer.alloc(40 MiB) 202 MiB against 43 (a subagent's test,
 * 2026-11-28); giving it all back made a table used densely fault every
 * page in again, 5x slower. Without swap a page not resident reads as
 * zero already: left alone. Up to CHUNK_SIZE, and where pages cannot be
 * looked at, given back (mlock'd) or would not read as zero
 * (madvise=free): memset. Runs of fewer than VM_ZERO_RUN pages not
 * resident are memset too (a system call each would cost more).
 */
#define VM_ZERO_RUN 16

static void vm_zero(void *p, size_t len)
{
	unsigned char resident[1024]; /* one look per 4 MiB */
	uintptr_t addr = (uintptr_t)p, end = addr + len;
	if (len <= CHUNK_SIZE || !os_purge_zeroes() || (addr & (PAGE_SIZE - 1))) {
		memset(p, 0, len);
		return;
	}
	while (addr < end) {
		size_t span = end - addr < sizeof(resident) * PAGE_SIZE ? end - addr
									 : sizeof(resident) * PAGE_SIZE;
		size_t pages = (span + PAGE_SIZE - 1) >> PAGE_SHIFT;
		/* swap looked at before and after the pages: a page swapped out
		 * after a single look before them all was taken for zero (a
		 * review's finding, with swapon under way) */
		bool swap = os_swap_configured();
		if (!os_resident((void *)addr, span, resident)) {
			memset((void *)addr, 0, end - addr);
			return;
		}
		swap = swap || os_swap_configured();
		for (size_t i = 0, j; i < pages; i = j) {
			bool in = resident[i] & 1;
			for (j = i + 1; j < pages && (resident[j] & 1) == in; j++)
				;
			void *run = (void *)(addr + (i << PAGE_SHIFT));
			size_t run_len = ((j - i) << PAGE_SHIFT);
			if (run_len > span - (i << PAGE_SHIFT))
				run_len = span - (i << PAGE_SHIFT);
			if (!in && !swap)
				continue;
			if (in || j - i < VM_ZERO_RUN || run_len & (PAGE_SIZE - 1) || !os_purge(run, run_len))
				memset(run, 0, run_len);
		}
		addr += span;
	}
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
	vm_dead_free();
	struct vm_area *vm;
	if (vm_align(align) == CHUNK_SIZE && (vm = vm_hot_take(mapsize))) {
		if (gfp & __GFP_ZERO)
			vm_zero((void *)vm->addr, mapsize);
		WRITE_ONCE(vm->magic, VM_MAGIC);
		atomic_fetch_add_explicit(&vm_nr_areas, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&vm_bytes, vm->size, memory_order_relaxed);
		return (void *)vm->addr;
	}
	vm = kmalloc_obj(sizeof(*vm), 0);
	if (!vm)
		return NULL;
	void *p = NULL;
	vm->pieces.nr = 1;
	vm->pieces.size[0] = mapsize;
	if (vm_align(align) == CHUNK_SIZE) {
		size_t dirty;
		p = vm_cache_take(mapsize, &dirty, vm);
		if (p && (gfp & __GFP_ZERO))
			vm_zero(p, dirty);
	}
	if (!p) {
		p = vm_map(mapsize, vm_align(align), gfp);
		if (p)
			vm_pieces_count(1);
	}
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
		unmap_pieces((uintptr_t)p, mapsize, vm->pieces.nr);
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
	vm_dead_free();
	atomic_fetch_sub_explicit(&vm_nr_areas, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&vm_bytes, vm->size, memory_order_relaxed);
	if (!vm_hot_park(vm))
		vm_release(vm, 0);
}

/* granule_end - the end of the last 4 MiB granule that [addr, addr+size)
 * touches: pagemap entries cover whole granules. */
static uintptr_t granule_end(uintptr_t addr, size_t size)
{
	return (addr + size + CHUNK_SIZE - 1) & ~(CHUNK_SIZE - 1);
}

/*
 * vm_finish_refused_move - after the kernel moved @vm's last piece (grown
 * to end the block at @target + @newsize) and the pieces before @moved, and
 * refused the next one (at vm.max_map_count; @refused its length): the
 * block is in two places. Copy it to a fresh mapping, which becomes the
 * block, one piece. False if there is none to be had.
 */
static bool vm_finish_refused_move(struct vm_area *vm, uintptr_t target, size_t newsize,
				   size_t moved, size_t refused)
{
	size_t last = vm->pieces.size[vm->pieces.nr - 1];
	size_t front = vm->size - last; /* the pieces before the last */
	void *fresh = os_map(newsize, vm->align);
	if (!fresh || !pagemap_set_range((uintptr_t)fresh, newsize, (uintptr_t)vm)) {
		if (fresh)
			os_unmap(fresh, newsize);
		return false;
	}
	memcpy(fresh, (void *)target, moved);
	memcpy((char *)fresh + moved, (void *)(vm->addr + moved), front - moved);
	memcpy((char *)fresh + front, (void *)(target + front), last);
	pagemap_clear_range(target, newsize);
	unmap_after_refusal(target, front, moved, refused);
	os_unmap((void *)(target + front), newsize - front);
	os_unmap((void *)(vm->addr + moved), front - moved);
	vm_pieces_count(1 - (long)vm->pieces.nr);
	vm->addr = (uintptr_t)fresh;
	vm->pieces.nr = 1;
	vm->pieces.size[0] = newsize;
	return true;
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
		/* munmap, not mremap: the tail may span several pieces */
		if (!os_unmap((void *)(vm->addr + newsize), oldsize - newsize)) {
			if (old_end > keep)
				pagemap_set_range(keep, old_end - keep, (uintptr_t)vm);
			return (void *)vm->addr; /* keep the bigger mapping */
		}
		struct vm_pieces cut;
		unsigned int nr = vm->pieces.nr;
		pieces_cut(&vm->pieces, newsize, &cut);
		vm_pieces_count((long)vm->pieces.nr - (long)nr);
		vm->size = newsize;
		atomic_fetch_sub_explicit(&vm_bytes, oldsize - newsize, memory_order_relaxed);
		return (void *)vm->addr;
	}
	/* grow: into the cached mapping right after the block, if there is
	 * one; else the last piece in place if the address space after it is
	 * free */
	size_t grow = newsize - oldsize;
	uintptr_t old_end = granule_end(vm->addr, oldsize);
	uintptr_t new_end = granule_end(vm->addr, newsize);
	struct vm_pieces after;
	if (vm_cache_take_after(vm->addr + oldsize, grow, VM_MAX_PIECES - vm->pieces.nr, &after)) {
		if (new_end > old_end &&
		    !pagemap_set_range(old_end, new_end - old_end, (uintptr_t)vm)) {
			unmap_pieces(vm->addr + oldsize, grow, after.nr);
			errno = ENOMEM;
			return NULL;
		}
		/* cut from the mapping the block was cut from, the first piece
		 * continues the block's last VMA: one piece, else a block
		 * that grows by small steps would pile up pieces until it
		 * could only move (the kernel says: one system call) */
		size_t last = vm->pieces.size[vm->pieces.nr - 1];
		if (os_single_mapping((void *)(vm->addr + oldsize - last), last + after.size[0])) {
			vm->pieces.size[vm->pieces.nr - 1] += after.size[0];
			for (unsigned int i = 1; i < after.nr; i++)
				after.size[i - 1] = after.size[i];
			after.nr--;
			vm_pieces_count(-1);
		}
		pieces_append(&vm->pieces, &after);
		vm->size = newsize;
		atomic_fetch_add_explicit(&vm_bytes, grow, memory_order_relaxed);
		return (void *)vm->addr;
	}
	size_t last = vm->pieces.size[vm->pieces.nr - 1];
	void *last_addr = (void *)(vm->addr + oldsize - last);
	if (os_grow_in_place(last_addr, last, last + grow)) {
		/* only the granules it grows into: a failure (a page of the
		 * pagemap's table not made writable) must not clear the
		 * entries of the block that stays */
		if (new_end > old_end &&
		    !pagemap_set_range(old_end, new_end - old_end, (uintptr_t)vm)) {
			os_remap(last_addr, last + grow, last, NULL);
			errno = ENOMEM;
			return NULL;
		}
		vm->size = newsize;
		vm->pieces.size[vm->pieces.nr - 1] += grow;
		atomic_fetch_add_explicit(&vm_bytes, grow, memory_order_relaxed);
		return (void *)vm->addr;
	}
	/* move: reserve an aligned place, then move the pages there, piece by
	 * piece: the last one first, growing into the reservation's rest (one
	 * VMA: a block keeps its number of pieces), so that a refusal of the
	 * growth (RLIMIT_AS, RLIMIT_MEMLOCK) leaves the block where it was;
	 * then the others, at their size -- unless the program split a piece
	 * into VMAs: the caller copies the block then */
	if (!pieces_single(vm->pieces.size, vm->pieces.nr, vm->addr)) {
		errno = ENOMEM;
		return NULL;
	}
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
	size_t front = oldsize - last;
	if (!os_remap((void *)(vm->addr + front), last, last + grow, (void *)((uintptr_t)target + front))) {
		/* refused: nothing moved, the block stays */
		pagemap_set_range(vm->addr, oldsize, (uintptr_t)vm);
		pagemap_clear_range((uintptr_t)target, newsize);
		unmap_after_refusal((uintptr_t)target, newsize, front, last + grow);
		errno = ENOMEM;
		return NULL;
	}
	size_t refused = 0; /* the pieces before the last */
	size_t moved = move_pieces(vm->pieces.size, vm->pieces.nr - 1, vm->addr, (uintptr_t)target,
				   &refused);
	if (moved < front) {
		if (!vm_finish_refused_move(vm, (uintptr_t)target, newsize, moved, refused))
			bs_fatal("realloc", "cannot move a mapped block (vm.max_map_count?), half moved:",
				 (void *)vm->addr);
	} else {
		vm->addr = (uintptr_t)target;
		vm->pieces.size[vm->pieces.nr - 1] += grow;
	}
	vm->size = newsize;
	atomic_fetch_add_explicit(&vm_bytes, grow, memory_order_relaxed);
	return (void *)vm->addr; /* target, or the copy vm_finish_refused_move made */
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
