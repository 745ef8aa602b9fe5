/*
 * idle_bins - what threads keep of size classes they stopped using.
 *
 * 16 threads each pass through every kmalloc class of buddyslab once (256 KiB
 * of blocks of the class, at most 4096 blocks, written, then all freed), then work in one class
 * only (2000 rounds of 1000 blocks of 40 bytes, allocated then freed), and
 * stay alive. The main thread then prints the process's RSS, and again 2 s
 * later. A probe run by hand, not a workload of scripts/bench:
 *
 *   cc -O2 -pthread -o /tmp/idle_bins bench/probes/idle_bins.c
 *   LD_PRELOAD=build/.libs/libbuddyslab.so /tmp/idle_bins
 *
 * (and with the other allocators' libraries, or none for glibc). What an
 * allocator keeps here is caches of classes nobody asks for any more.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { THREADS = 16 };
static const int sizes[] = { 16,   32,   48,   64,   80,   96,   112,  128,  160,  192,  224,
			     256,  320,  384,  448,  512,  640,  768,  896,  1024, 1280, 1536,
			     1792, 2048, 2560, 3072, 3584, 4096, 5120, 6144, 7168, 8192 };
static pthread_barrier_t barrier;

static long rss_kib(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f || fscanf(f, "%ld %ld", &pages, &resident) != 2)
		exit(1);
	fclose(f);
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void *worker(void *arg)
{
	(void)arg;
	static __thread void *p[4096];
	for (unsigned int k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		int n = 256 * 1024 / sizes[k];
		if (n > 4096)
			n = 4096;
		for (int i = 0; i < n; i++) {
			if (!(p[i] = malloc((size_t)sizes[k])))
				exit(1);
			memset(p[i], 1, (size_t)sizes[k]);
		}
		for (int i = 0; i < n; i++)
			free(p[i]);
	}
	for (int r = 0; r < 2000; r++) {
		for (int i = 0; i < 1000; i++)
			if (!(p[i] = malloc(40)))
				exit(1);
		for (int i = 0; i < 1000; i++)
			free(p[i]);
	}
	pthread_barrier_wait(&barrier); /* done working */
	pthread_barrier_wait(&barrier); /* measured: exit */
	return NULL;
}

int main(void)
{
	pthread_t t[THREADS];
	pthread_barrier_init(&barrier, NULL, THREADS + 1);
	for (int i = 0; i < THREADS; i++)
		if (pthread_create(&t[i], NULL, worker, NULL))
			return 1;
	pthread_barrier_wait(&barrier);
	long now = rss_kib();
	sleep(2);
	printf("idle_bins threads=%d rss_kib=%ld rss_2s_kib=%ld\n", THREADS, now, rss_kib());
	pthread_barrier_wait(&barrier);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	return 0;
}
