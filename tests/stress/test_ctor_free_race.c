/*
 * test_ctor_free_race.c - kmem_cache_free() by another thread of objects of
 * a cache with a constructor, while the owner allocates and frees in the
 * same slab.
 *
 * The double-free check of slab_free() for caches whose free pointer is not
 * at offset 0 (constructors) compares the object with the slab's freelist;
 * a thread that does not own the slab must not read that freelist: the
 * owner pops and pushes it with plain loads and stores (a data race in the
 * C memory model, reported by ThreadSanitizer).
 *
 * Reaches the allocator by its own names (libbuddyslab_test): for the
 * ThreadSanitizer build of scripts/check (make check-threads, through
 * tsan_ctor_free_race.sh). TSan reported the race until 19887ab, where
 * the owner test comes first. Without TSan it passes.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "unit.h"

#define BOX 256
#define ROUNDS 200000

static struct kmem_cache *cache;
static _Atomic(void *) box[BOX];
static atomic_int stop;

static void ctor(void *obj)
{
	memset(obj, 0x5c, 64);
}

/* the owner: allocates (handing objects over) and frees its own */
static void *owner(void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < ROUNDS; i++) {
		void *p = kmem_cache_alloc(cache, 0);
		void *q = kmem_cache_alloc(cache, 0);
		kmem_cache_free(cache, q);
		void *old = atomic_exchange(&box[i % BOX], p);
		if (old)
			kmem_cache_free(cache, old);
	}
	atomic_store(&stop, 1);
	return NULL;
}

int main(void)
{
	cache = kmem_cache_create("ctor-race", 64, 0, 0, ctor);
	pthread_t t;
	pthread_create(&t, NULL, owner, NULL);
	unsigned long freed = 0, bad = 0;
	for (unsigned i = 0; !atomic_load(&stop); i++) {
		unsigned char *p = atomic_exchange(&box[i % BOX], NULL);
		if (!p)
			continue;
		bad += p[0] != 0x5c; /* constructed */
		kmem_cache_free(cache, p); /* another thread's slab */
		freed++;
	}
	pthread_join(t, NULL);
	for (unsigned i = 0; i < BOX; i++) {
		void *p = atomic_exchange(&box[i], NULL);
		if (p)
			kmem_cache_free(cache, p);
	}
	kmem_cache_destroy(cache);
	printf("%lu objects freed by the other thread\n", freed);
	CHECK("ctor-free-race-constructed", bad == 0);
	CHECK("ctor-free-race-remote-frees", freed > 0);
	return UNIT_DONE();
}
