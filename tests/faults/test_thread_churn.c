/*
 * test_thread_churn.c - many short-lived threads that allocate and leave
 * their objects for others to free: RSS must stay flat.
 *
 * THREADS threads in all (default 20,000), at most CONCURRENT alive at a
 * time. Each allocates a few dozen objects of assorted sizes (slab and page
 * routes, now and then a mapped one), frees some itself, and swaps others
 * into a shared table of SLOTS atomic slots: what it takes out was allocated
 * by an earlier thread, most often one that has exited, and it verifies and
 * frees it. Every payload is checked before its free. So the live set is
 * bounded by the table, and every heap (thread cache) the library makes must
 * be reused by the next threads once its thread has gone.
 *
 * RSS is sampled every 250 threads, after malloc_trim(0): what the library
 * keeps free on purpose (resident free pages under the watermarks, freed
 * large mappings cached for reuse, up to tens of MiB that come and go with
 * timing) is then not counted, only the live set, fragmentation and what
 * leaks. The live set is bounded but its size varies with the few large
 * blocks in it, so windows are compared: the highest RSS of the last quarter
 * of the run may exceed the highest of the warm-up (threads WARMUP/2 ..
 * WARMUP) by at most RSS_SLACK_MB, which a leak of a kilobyte per thread
 * would exceed. The number of heaps (one line each
 * in the per-thread-cache report) must stay bounded by the threads alive.
 *
 * Usage: test_thread_churn [THREADS]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define KiB (1UL << 10)
#define MiB (1UL << 20)
#define CONCURRENT 8
#define SLOTS 4096
#define WARMUP 2000
#define RSS_SLACK_MB 16

struct blk {
	void *p;
	size_t size;
	unsigned born;
};

static _Atomic(struct blk *) slots[SLOTS];
static atomic_ulong st_allocs, st_cross, st_corrupt, st_null, st_local;
static int nthreads = 20000;

static inline uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static size_t churn_size(uint64_t *rng)
{
	unsigned k = (unsigned)(splitmix64(rng) % 1000);
	if (k < 800)
		return 1 + splitmix64(rng) % 512;
	if (k < 960)
		return 513 + splitmix64(rng) % (8 * KiB);
	if (k < 999)
		return 8 * KiB + splitmix64(rng) % (256 * KiB);
	return 4 * MiB + 1 + splitmix64(rng) % MiB;
}

static int blk_release(struct blk *b, unsigned me)
{
	int ok = pattern_check(b->p, b->size);
	if (!ok)
		atomic_fetch_add(&st_corrupt, 1);
	if (b->born != me)
		atomic_fetch_add(&st_cross, 1);
	free(b->p);
	free(b);
	return ok;
}

static void *churn_thread(void *arg)
{
	unsigned me = (unsigned)(uintptr_t)arg;
	uint64_t rng = 0xc0ffeeULL ^ ((uint64_t)me << 20);
	void *mine[16];
	size_t mine_size[16];
	unsigned n_mine = 0;
	unsigned n = 16 + (unsigned)(splitmix64(&rng) % 48);
	for (unsigned i = 0; i < n; i++) {
		size_t size = churn_size(&rng);
		char *p = malloc(size);
		struct blk *b = malloc(sizeof(*b));
		if (!p || !b) {
			atomic_fetch_add(&st_null, 1);
			free(p);
			free(b);
			continue;
		}
		atomic_fetch_add_explicit(&st_allocs, 2, memory_order_relaxed);
		pattern_fill(p, size);
		if (splitmix64(&rng) % 4 == 0 && n_mine < 16) {
			/* freed by this thread before it exits */
			mine[n_mine] = p;
			mine_size[n_mine++] = size;
			free(b);
			continue;
		}
		*b = (struct blk){ p, size, me };
		struct blk *old = atomic_exchange(&slots[splitmix64(&rng) % SLOTS], b);
		if (old)
			blk_release(old, me);
	}
	for (unsigned i = 0; i < n_mine; i++) {
		if (!pattern_check(mine[i], mine_size[i]))
			atomic_fetch_add(&st_corrupt, 1);
		free(mine[i]);
		atomic_fetch_add_explicit(&st_local, 1, memory_order_relaxed);
	}
	return NULL;
}

/* heap_count - heaps in the per-thread cache report (one "  heap " line each). */
static unsigned heap_count(void)
{
	int fd = memfd_create("churn-report", 0);
	if (fd < 0)
		return 0;
	buddyslab_report(fd, BUDDYSLAB_REPORT_PCP);
	off_t len = lseek(fd, 0, SEEK_END);
	unsigned n = 0;
	if (len > 0) {
		char *text = mmap(NULL, (size_t)len + 1, PROT_READ, MAP_PRIVATE, fd, 0);
		if (text != MAP_FAILED) {
			for (const char *s = text; (s = strstr(s, "\n  heap ")) != NULL; s++)
				n++;
			munmap(text, (size_t)len + 1);
		}
	}
	close(fd);
	return n;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_REQUIRE_BUDDYSLAB();
	if (argc > 1)
		nthreads = atoi(argv[1]);
	if (nthreads < WARMUP * 2) {
		fprintf(stderr, "usage: %s [THREADS >= %d]\n", argv[0], WARMUP * 2);
		return 2;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_t running[CONCURRENT];
	int created_all = 1;
	size_t rss_warm = 0, rss_late = 0, rss_max = 0;
	unsigned heaps_warm = 0, heaps_max = 0;
	int started = 0;
	while (started < nthreads) {
		int batch = 0;
		for (; batch < CONCURRENT && started < nthreads; batch++, started++)
			if (pthread_create(&running[batch], NULL, churn_thread,
					   (void *)(uintptr_t)(started + 1)) != 0) {
				created_all = 0;
				break;
			}
		for (int i = 0; i < batch; i++)
			pthread_join(running[i], NULL);
		if (!created_all)
			break;
		if (started % 250 < CONCURRENT || started >= nthreads) {
			unsigned heaps = heap_count();
			malloc_trim(0);
			size_t rss = proc_rss_bytes();
			if (started >= WARMUP / 2 && started < WARMUP + CONCURRENT) {
				if (rss > rss_warm)
					rss_warm = rss;
				if (heaps > heaps_warm)
					heaps_warm = heaps;
			}
			if (started >= nthreads - nthreads / 4 && rss > rss_late)
				rss_late = rss;
			if (rss > rss_max)
				rss_max = rss;
			if (heaps > heaps_max)
				heaps_max = heaps;
			if (started % 5000 < CONCURRENT || started >= nthreads)
				printf("  %6d threads: RSS %.1f MiB, %u heaps\n", started,
				       (double)rss / MiB, heaps);
		}
	}
	size_t rss_end = proc_rss_bytes();
	unsigned long left = 0;
	for (unsigned s = 0; s < SLOTS; s++) {
		struct blk *b = atomic_exchange(&slots[s], NULL);
		if (b) {
			blk_release(b, 0);
			left++;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("thread churn: %d threads (%d at a time) in %.1f s, %lu allocations, %lu freed "
	       "by another thread than their own, %lu by their own, %lu left at the end; RSS "
	       "at most %.1f MiB in the warm-up, %.1f MiB in the last quarter, %.1f MiB overall, "
	       "%.1f MiB at the end; heaps %u in the warm-up, %u at most\n", started, CONCURRENT,
	       secs, (unsigned long)st_allocs, (unsigned long)st_cross, (unsigned long)st_local,
	       left, (double)rss_warm / MiB, (double)rss_late / MiB, (double)rss_max / MiB,
	       (double)rss_end / MiB, heaps_warm, heaps_max);
	CHECK("churn-threads-created", created_all && started == nthreads);
	CHECKF("churn-no-null", st_null == 0, "%lu NULL", (unsigned long)st_null);
	CHECKF("churn-payload-intact", st_corrupt == 0, "%lu corrupted", (unsigned long)st_corrupt);
	CHECK("churn-cross-thread-frees", st_cross > (unsigned long)nthreads);
	CHECKF("churn-rss-flat", rss_late <= rss_warm + RSS_SLACK_MB * MiB,
	       "RSS grew from at most %.1f MiB in the warm-up to %.1f MiB in the last quarter",
	       (double)rss_warm / MiB, (double)rss_late / MiB);
	CHECKF("churn-heaps-reused", heaps_max <= heaps_warm + CONCURRENT,
	       "heaps grew from %u to %u", heaps_warm, heaps_max);
	return CHECK_DONE();
}
