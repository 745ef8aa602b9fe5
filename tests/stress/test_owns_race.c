/*
 * test_owns_race.c - buddyslab_owns() of a block of another thread, while
 * that thread allocates and frees in the same slab.
 *
 * buddyslab.h says every function is thread-safe, and a program may well
 * test a pointer it received from another thread. The owner thread pops and
 * pushes the slab's freelist with plain loads and stores; buddyslab_owns()
 * must not read that freelist from another thread (a data race in the C
 * memory model, reported by ThreadSanitizer).
 *
 * Reaches the allocator by its own names (libbuddyslab_test): for the
 * ThreadSanitizer build of scripts/check (make check-threads, through
 * tsan_owns_race.sh). TSan reported the race until 19887ab, where
 * buddyslab_owns() looks at the freelist only as the slab's owner. Without
 * TSan it passes: the answers are right.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "internal.h"
#include "unit.h"

#define ROUNDS 200000

static _Atomic(void *) shared;
static atomic_int stop;
static atomic_ulong owner_rounds; /* relaxed: no synchronisation for TSan */

static void *owner(void *arg)
{
	(void)arg;
	void *keep = bs_malloc(48);
	atomic_store(&shared, keep); /* stays live: the other thread asks about it */
	while (!atomic_load(&stop)) {
		void *p[8];
		for (int i = 0; i < 8; i++)
			p[i] = bs_malloc(48); /* the same slab as keep */
		for (int i = 0; i < 8; i++)
			bs_free(p[i]);
		atomic_fetch_add_explicit(&owner_rounds, 1, memory_order_relaxed);
	}
	return keep;
}

int main(void)
{
	pthread_t t;
	pthread_create(&t, NULL, owner, NULL);
	void *p;
	while ((p = atomic_load(&shared)) == NULL)
		;
	/* ask while the owner works: for a second, and until it has done
	 * ROUNDS rounds of its own meanwhile */
	int wrong = 0;
	unsigned long start = atomic_load_explicit(&owner_rounds, memory_order_relaxed);
	time_t t0 = time(NULL);
	while (time(NULL) - t0 < 2 ||
	       atomic_load_explicit(&owner_rounds, memory_order_relaxed) - start < ROUNDS)
		wrong += buddyslab_owns(p) != 1;
	atomic_store(&stop, 1);
	void *keep;
	pthread_join(t, &keep);
	bs_free(keep);
	CHECKF("owns-live-block-of-other-thread", wrong == 0, "%d of %d wrong answers", wrong, ROUNDS);
	return UNIT_DONE();
}
