/*
 * unit.h - the named-check helper of the unit tests (tests/unit/), and the
 * few inspection helpers they share.
 *
 * The unit tests link the internal library built with BUDDYSLAB_NO_INTERPOSE
 * (malloc stays glibc's, so stdio and ASan/UBSan are safe to use here) and
 * BUDDYSLAB_DEBUG, include "internal.h" and call internal functions directly.
 *
 *   CHECK("buddy-aligned", addr % size == 0);   counts a pass or a failure; a
 *                                               failure prints
 *                                               "FAIL name: cond (file:line)"
 *   CHECKF("name", cond, "fmt", ...);           the same, plus a detail line
 *   REQUIRE("name", cond);                      a CHECK that ends the program
 *                                               (after the summary) on failure:
 *                                               for results later steps use
 *   return UNIT_DONE();                         prints "N passed, N failed",
 *                                               exit status 1 on any failure
 *
 * Helpers read allocator state the way a test needs it: under the zone lock,
 * and independently of the library's own *_is_valid() functions where they
 * recount something (free_lists_consistent, list_len).
 *
 * Header-only: each test is one .c file with main().
 */
#ifndef BUDDYSLAB_TESTS_UNIT_H
#define BUDDYSLAB_TESTS_UNIT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define UNIT_UNUSED __attribute__((unused))

static int unit_passed;
static int unit_failed;

static inline UNIT_UNUSED int unit_check(const char *name, int ok, const char *cond,
					 const char *file, int line)
{
	if (ok) {
		unit_passed++;
		return 1;
	}
	unit_failed++;
	printf("FAIL %s: %s (%s:%d)\n", name, cond, file, line);
	fflush(stdout);
	return 0;
}

static inline UNIT_UNUSED int unit_done(void)
{
	printf("%d passed, %d failed\n", unit_passed, unit_failed);
	fflush(stdout);
	return unit_failed ? 1 : 0;
}

#define CHECK(name, cond) unit_check((name), !!(cond), #cond, __FILE__, __LINE__)

#define CHECKF(name, cond, ...)                                                \
	do {                                                                   \
		if (!unit_check((name), !!(cond), #cond, __FILE__, __LINE__)) { \
			printf("      ");                                      \
			printf(__VA_ARGS__);                                   \
			printf("\n");                                          \
			fflush(stdout);                                        \
		}                                                              \
	} while (0)

#define REQUIRE(name, cond)                                                    \
	do {                                                                   \
		if (!unit_check((name), !!(cond), #cond, __FILE__, __LINE__)) { \
			printf("      required check failed: stopping\n");     \
			unit_done();                                           \
			exit(1);                                               \
		}                                                              \
	} while (0)

#define UNIT_DONE() unit_done()

/* ---- deterministic randomness ------------------------------------------- */

struct unit_rng {
	uint64_t s;
};

static inline UNIT_UNUSED void unit_rng_seed(struct unit_rng *r, uint64_t seed)
{
	r->s = seed ? seed : 0x9e3779b97f4a7c15ULL;
}

/* xorshift64* */
static inline UNIT_UNUSED uint64_t unit_rng_next(struct unit_rng *r)
{
	uint64_t x = r->s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* unit_rng_below - uniform enough in [0, n) for n > 0. */
static inline UNIT_UNUSED size_t unit_rng_below(struct unit_rng *r, size_t n)
{
	return (size_t)(unit_rng_next(r) % n);
}

/* unit_shuffle - Fisher-Yates over an array of @n indices. */
static inline UNIT_UNUSED void unit_shuffle(struct unit_rng *r, size_t *a, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = unit_rng_below(r, i);
		size_t t = a[i - 1];
		a[i - 1] = a[j];
		a[j] = t;
	}
}

/* ---- payload patterns ----------------------------------------------------- */

static inline UNIT_UNUSED unsigned char unit_pattern_byte(uint64_t seed, size_t i)
{
	uint64_t x = seed + i * 0x9e3779b97f4a7c15ULL;
	x ^= x >> 31;
	return (unsigned char)(x ^ (x >> 17));
}

static inline UNIT_UNUSED void unit_fill(void *p, size_t len, uint64_t seed)
{
	unsigned char *b = p;
	for (size_t i = 0; i < len; i++)
		b[i] = unit_pattern_byte(seed, i);
}

/* unit_verify - true if [0, len) holds the pattern of @seed. */
static inline UNIT_UNUSED bool unit_verify(const void *p, size_t len, uint64_t seed)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < len; i++)
		if (b[i] != unit_pattern_byte(seed, i))
			return false;
	return true;
}

/* ---- allocator state ------------------------------------------------------- */

static inline UNIT_UNUSED unsigned long list_len(const struct list_head *head)
{
	unsigned long n = 0;
	for (const struct list_head *pos = head->next; pos != head; pos = pos->next)
		n++;
	return n;
}

static inline UNIT_UNUSED bool list_contains(const struct list_head *head,
					      const struct list_head *entry)
{
	for (const struct list_head *pos = head->next; pos != head; pos = pos->next)
		if (pos == entry)
			return true;
	return false;
}

/* A consistent copy of the zone's counters. */
struct zone_snap {
	unsigned long nr_free[MAX_ORDER];
	unsigned long nr_chunks;
	unsigned long nr_free_pages;
	unsigned long nr_dirty_free;
	unsigned long nr_purged;
	unsigned long nr_chunks_unmapped;
	unsigned long nr_hot_pages;
};

static inline UNIT_UNUSED struct zone_snap zone_snap(void)
{
	struct zone_snap s;
	zone_lock();
	for (unsigned int k = 0; k < MAX_ORDER; k++)
		s.nr_free[k] = zone.free_area[k].nr_free;
	s.nr_chunks = zone.nr_chunks;
	s.nr_free_pages = zone.nr_free_pages;
	s.nr_dirty_free = zone.nr_dirty_free;
	s.nr_purged = zone.nr_purged;
	s.nr_chunks_unmapped = zone.nr_chunks_unmapped;
	s.nr_hot_pages = zone.nr_hot_pages;
	zone_unlock();
	return s;
}

/* page_index_in_chunk - the page's index in its chunk's mem_map. */
static inline UNIT_UNUSED unsigned long page_idx(struct page *page)
{
	return (unsigned long)(page - page_chunk(page)->mem_map);
}

/* on_free_list - is @page on zone->free_area[order], on the list of its
 * kind (free_list for dirty blocks, clean_list for PG_clean ones)? */
static inline UNIT_UNUSED bool on_free_list(struct page *page, unsigned int order)
{
	zone_lock();
	struct free_area *area = &zone.free_area[order];
	bool found = list_contains((page->flags & PG_clean) ? &area->clean_list : &area->free_list,
				   &page->lru);
	zone_unlock();
	return found;
}

/*
 * free_lists_consistent - an independent recount of the zone: every entry
 * of free_list (dirty) and clean_list (PG_clean) is a PAGE_BUDDY head of
 * the area's order at an aligned index and of the list's kind, nr_free is
 * the length of both lists, nr_free_pages and nr_dirty_free are the sums.
 * Writes the first problem found to @why.
 */
static inline UNIT_UNUSED bool free_lists_consistent(char *why, size_t whylen)
{
	bool ok = true;
	unsigned long pages = 0, dirty = 0;
	why[0] = '\0';
	zone_lock();
	for (unsigned int k = 0; k < MAX_ORDER && ok; k++) {
		unsigned long n = 0;
		for (int clean = 0; clean <= 1 && ok; clean++) {
			struct list_head *head = clean ? &zone.free_area[k].clean_list
						       : &zone.free_area[k].free_list;
			struct list_head *pos;
			list_for_each(pos, head) {
				struct page *page = list_entry(pos, struct page, lru);
				unsigned long idx = page_idx(page);
				if (page->type != PAGE_BUDDY || page->order != k ||
				    (idx & ((1UL << k) - 1)) || !(page->flags & PG_clean) != !clean) {
					snprintf(why, whylen,
						 "order %u %s list: idx %lu type %u order %u flags %#x", k,
						 clean ? "clean" : "dirty", idx, page->type, page->order,
						 page->flags);
					ok = false;
					break;
				}
				n++;
				pages += 1UL << k;
				if (!clean)
					dirty += 1UL << k;
			}
		}
		if (ok && n != zone.free_area[k].nr_free) {
			snprintf(why, whylen, "order %u: nr_free %lu, list lengths %lu", k,
				 zone.free_area[k].nr_free, n);
			ok = false;
		}
	}
	if (ok && (pages != zone.nr_free_pages || dirty != zone.nr_dirty_free)) {
		snprintf(why, whylen, "nr_free_pages %lu (counted %lu), nr_dirty_free %lu (counted %lu)",
			 zone.nr_free_pages, pages, zone.nr_dirty_free, dirty);
		ok = false;
	}
	zone_unlock();
	return ok;
}

static inline UNIT_UNUSED void unit_sum_pcp(struct heap *heap, void *arg)
{
	*(unsigned long *)arg += (unsigned long)READ_ONCE(heap->pcp.count);
}

/*
 * used_pages - pages of the mapped chunks that are neither free in the zone
 * nor cached in any heap's page cache. Exact while no other thread runs:
 * page blocks handed out change it by their size, moves between the zone
 * and the page caches and mapping or unmapping free chunks do not.
 */
static inline UNIT_UNUSED unsigned long used_pages(void)
{
	unsigned long cached = 0;
	heap_for_each(unit_sum_pcp, &cached);
	zone_lock();
	unsigned long used = zone.nr_chunks * CHUNK_PAGES - zone.nr_free_pages - zone.nr_hot_pages;
	zone_unlock();
	return used - cached;
}

/* slab_of - the slab holding object @p (NULL if @p is not in a slab). */
static inline UNIT_UNUSED struct page *slab_of(const void *p)
{
	struct page *page = virt_to_page((uintptr_t)p);
	if (!page)
		return NULL;
	struct page *slab = page->head ? page->head : page;
	return slab->type == PAGE_SLAB ? slab : NULL;
}

/* all_slabs_valid - slab_is_valid() on every slab of every chunk; the number
 * of slabs seen goes to *nr (may be NULL). */
static inline UNIT_UNUSED bool all_slabs_valid(unsigned long *nr)
{
	bool ok = true;
	unsigned long n = 0;
	zone_lock();
	struct list_head *pos;
	list_for_each(pos, &zone.chunks) {
		struct chunk *c = list_entry(pos, struct chunk, list);
		for (unsigned long i = 0; i < CHUNK_PAGES; i++) {
			struct page *page = &c->mem_map[i];
			if (page->type != PAGE_SLAB)
				continue;
			n++;
			if (!slab_is_valid(page))
				ok = false;
		}
	}
	zone_unlock();
	if (nr)
		*nr = n;
	return ok;
}

#endif /* BUDDYSLAB_TESTS_UNIT_H */
