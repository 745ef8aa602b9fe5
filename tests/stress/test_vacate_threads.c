/*
 * test_vacate_threads.c - vacated slabs under threads: the big size classes
 * (2 KiB and up, whose slabs give back the pages that only free objects
 * cover, src/slab.c "Vacated objects") grown and shrunk by several threads
 * at once, with most frees done by another thread than the allocating one.
 *
 * Each of THREADS workers, for ROUNDS rounds:
 *   - grows: allocates blocks of three of the big classes (the workers'
 *     overlap) until it holds GROW_MB, stamping each block (its size, then
 *     every 256th and the last word);
 *   - shrinks: frees three blocks in four -- half itself, half through a
 *     shared mailbox that the other workers empty (remote frees into slabs
 *     that may be vacated while the frees are in flight) -- allocating
 *     nothing, so that its classes shrink and vacate;
 *   - checks its own slabs, under its heap's slab lock (slab_is_valid:
 *     freelist, vacated bitmap and inuse agree; a full slab has no free
 *     object) and every stamp before a block is freed.
 * Then everything is freed and drained: no slab of those classes may be
 * left, and pages must have been vacated (else the test tested nothing).
 *
 * Links libbuddyslab_test (bs_* entry points, internal checks on), so that
 * it also runs under ThreadSanitizer (make check-threads).
 */
#include <pthread.h>

#include "unit.h"

#define THREADS 4
#define ROUNDS 6
#define GROW_MB 16
#define SIZES_PER_THREAD 3 /* about 5 MiB per class: vacating needs 4 */
#define MAILBOX 1024

static const size_t sizes[] = { 2048, 2500, 3072, 3500, 4096, 5000, 6144, 7000, 8192 };

static _Atomic(void *) mailbox[MAILBOX];
static _Atomic unsigned long errors, remote_frees;

static uint64_t stamp_of(const void *p, size_t size)
{
	return (uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ULL ^ size;
}

/* the block's size is in its second word, the stamp every 256 bytes and
 * in the last word */
static void stamp(void *p, size_t size)
{
	uint64_t v = stamp_of(p, size);
	memcpy((char *)p + 8, &size, sizeof(size));
	for (size_t off = 256; off + 8 <= size; off += 256)
		memcpy((char *)p + off, &v, 8);
	memcpy((char *)p + size - 8, &v, 8);
}

static void check_and_free(void *p)
{
	size_t size;
	memcpy(&size, (char *)p + 8, sizeof(size));
	bool ok = size >= 2048 && size <= 8192;
	uint64_t v = ok ? stamp_of(p, size) : 0, w;
	for (size_t off = 256; ok && off + 8 <= size; off += 256) {
		memcpy(&w, (char *)p + off, 8);
		ok = w == v;
	}
	if (ok) {
		memcpy(&w, (char *)p + size - 8, 8);
		ok = w == v;
	}
	if (!ok && atomic_fetch_add(&errors, 1) < 5)
		printf("      block %p: stamp overwritten\n", p);
	bs_free(p);
}

/* empty some mailbox slots: other workers' blocks, freed here */
static void collect(struct unit_rng *r, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		void *p = atomic_exchange(&mailbox[unit_rng_below(r, MAILBOX)], NULL);
		if (p) {
			check_and_free(p);
			atomic_fetch_add(&remote_frees, 1);
		}
	}
}

/* under the heap's slab lock: a thread that frees into this heap's slabs
 * may collect them while it does not hold it (heap_look_idle) */
static void check_own_slabs(void)
{
	struct heap *heap = heap_current();
	if (!heap)
		return;
	heap_slabs_lock(heap);
	for (unsigned int cls = 0; cls < NR_KMALLOC_CLASSES; cls++) {
		struct kmem_cache_cpu *c = &heap->kmalloc[cls];
		if (!c->cache->vacatable)
			continue;
		struct list_head *pos;
		list_for_each(pos, &c->slabs_partial) {
			struct page *slab = list_entry(pos, struct page, slab_list);
			if (!slab_is_valid(slab) || slab->inuse == 0)
				atomic_fetch_add(&errors, 1);
		}
		list_for_each(pos, &c->slabs_full) {
			struct page *slab = list_entry(pos, struct page, slab_list);
			if (!slab_is_valid(slab) || slab->freelist || (slab->vacated & VACATED_OBJECTS))
				atomic_fetch_add(&errors, 1);
		}
		if (c->slab != &empty_slab && !slab_is_valid(c->slab))
			atomic_fetch_add(&errors, 1);
	}
	heap_slabs_unlock(heap);
}

static void *worker(void *arg)
{
	struct unit_rng r;
	unit_rng_seed(&r, 1000 + (uintptr_t)arg);
	const size_t cap = (size_t)GROW_MB << 20 >> 11; /* blocks of 2 KiB at least */
	void **held = calloc(cap, sizeof(*held));
	if (!held) {
		atomic_fetch_add(&errors, 1);
		return NULL;
	}
	size_t n = 0;
	for (unsigned int round = 0; round < ROUNDS; round++) {
		size_t bytes = 0;
		while (bytes < (size_t)GROW_MB << 20 && n < cap) {
			size_t pick = (uintptr_t)arg * 2 + unit_rng_below(&r, SIZES_PER_THREAD);
			size_t size = sizes[pick % ARRAY_SIZE(sizes)];
			void *p = bs_malloc(size);
			if (!p) {
				atomic_fetch_add(&errors, 1);
				break;
			}
			stamp(p, size);
			held[n++] = p;
			bytes += size;
			if ((n & 63) == 0)
				collect(&r, 8);
		}
		/* shrink: keep one block in four */
		size_t kept = 0;
		for (size_t i = 0; i < n; i++) {
			if (i % 4 == 0) {
				held[kept++] = held[i];
			} else if (i % 2) {
				check_and_free(held[i]);
			} else {
				void *old = atomic_exchange(&mailbox[unit_rng_below(&r, MAILBOX)], held[i]);
				if (old) {
					check_and_free(old);
					atomic_fetch_add(&remote_frees, 1);
				}
			}
		}
		n = kept;
		collect(&r, MAILBOX / THREADS);
		check_own_slabs();
	}
	for (size_t i = 0; i < n; i++)
		check_and_free(held[i]);
	free(held);
	return NULL;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	buddyslab_init();
	unsigned long vacated_before = atomic_load(&slab_vacated_pages);
	pthread_t t[THREADS];
	for (uintptr_t i = 0; i < THREADS; i++)
		REQUIRE("thread-create", pthread_create(&t[i], NULL, worker, (void *)i) == 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	for (unsigned int i = 0; i < MAILBOX; i++) {
		void *p = atomic_exchange(&mailbox[i], NULL);
		if (p)
			check_and_free(p);
	}
	unsigned long vacated = atomic_load(&slab_vacated_pages) - vacated_before;
	CHECKF("vacate-threads-intact", atomic_load(&errors) == 0, "%lu errors",
	       atomic_load(&errors));
	CHECKF("vacate-threads-vacated", vacated > 0 && atomic_load(&remote_frees) > 0,
	       "%lu pages vacated, %lu remote frees", vacated, atomic_load(&remote_frees));

	/* all freed: once drained, no slab of the big classes is left */
	buddyslab_drain();
	bool none = true;
	for (unsigned int i = 0; i < nr_kmalloc_caches; i++) {
		long slabs = atomic_load(&kmalloc_caches[i].nr_slabs);
		if (kmalloc_caches[i].vacatable && slabs) {
			printf("      %s: %ld slabs left\n", kmalloc_caches[i].name, slabs);
			none = false;
		}
	}
	CHECK("vacate-threads-nothing-left", none);
	CHECK("vacate-threads-zone-valid", zone_is_valid());
	printf("      %lu pages vacated, %lu remote frees\n", vacated, atomic_load(&remote_frees));
	return UNIT_DONE();
}
