/*
 * test_vm_remap_race.c - large blocks resized while other threads map
 * memory must not take the others' memory with them.
 *
 * Two threads resize large (> 4 MiB, separately mapped) blocks with realloc,
 * which gives address space back to the kernel (a shrink unmaps the tail, a
 * move leaves the old range). Meanwhile the main thread allocates whole
 * 4 MiB chunks (alloc_pages order 10), checks that buddyslab still owns each
 * of them, frees them and trims, so that the next chunks are mapped anew,
 * often right where a resized block just was.
 *
 * A block that buddyslab no longer recognises as its own means that the
 * resizing thread cleared the address map (pagemap) of a range after giving
 * it back to the kernel, when the range already belonged to a new chunk. The
 * chunk's blocks are then "invalid pointer"s to free() and realloc().
 *
 * Runs until the first lost block or SECONDS seconds. Failed (within a
 * second) until 0ae83cb, where vrealloc_area() clears the pagemap before
 * the mremap that gives the range back.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"

#define MiB (1UL << 20)
#define SECONDS 5
#define RESIZERS 2
#define CHUNKS 16

static atomic_int stop;
static atomic_ulong resizes, resize_bad;

static void *resizer(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		char *p = malloc(6 * MiB);
		char *q = p ? realloc(p, 29 * MiB) : NULL; /* grows in place or moves */
		char *r = q ? realloc(q, 5 * MiB) : NULL;  /* shrinks */
		if (!r) {
			atomic_fetch_add(&resize_bad, 1);
			free(q ? q : p);
			continue;
		}
		free(r);
		atomic_fetch_add(&resizes, 1);
	}
	return NULL;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_REQUIRE_BUDDYSLAB();
	pthread_t t[RESIZERS];
	for (int i = 0; i < RESIZERS; i++)
		pthread_create(&t[i], NULL, resizer, NULL);
	unsigned long lost = 0, rounds = 0;
	time_t t0 = time(NULL);
	while (time(NULL) - t0 < SECONDS && lost == 0) {
		void *chunk[CHUNKS];
		for (int i = 0; i < CHUNKS; i++)
			chunk[i] = alloc_pages(0, 10);
		for (int i = 0; i < CHUNKS; i++) {
			if (chunk[i] && buddyslab_owns(chunk[i]) != 1) {
				if (lost++ == 0)
					printf("      alloc_pages(0, 10) block %p is no longer buddyslab's "
					       "(round %lu)\n", chunk[i], rounds);
				chunk[i] = NULL; /* freeing it would abort */
			}
		}
		for (int i = 0; i < CHUNKS; i++)
			if (chunk[i])
				__free_pages(chunk[i], 10);
		malloc_trim(0); /* unmap the free chunks */
		rounds++;
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < RESIZERS; i++)
		pthread_join(t[i], NULL);
	printf("%lu rounds of %d chunks, %lu resize chains meanwhile\n", rounds, CHUNKS,
	       (unsigned long)resizes);
	CHECKF("vm-remap-race-no-lost-block", lost == 0,
	       "%lu chunk blocks lost to a concurrent realloc of a large block", lost);
	CHECK("vm-remap-race-resizes-ok", resize_bad == 0 && resizes > 0);
	return CHECK_DONE();
}
