/*
 * many_threads - what each live thread costs in memory.
 *
 * THREADS threads (default 3000, 64 KiB stacks) start together; thread i
 * allocates one block of 100 + i % 5000 bytes, which it returns, and 64
 * blocks of sizes from i % 20000 + 1 up (37 bytes apart), writes them
 * all, and waits at a barrier until every thread has; then it frees the
 * 64 and exits. Main joins them in order and frees the returned blocks
 * (frees into the heaps of exited threads), then runs 20 rounds of 500
 * short threads that only strdup (thread churn). A probe run by hand, not
 * a workload of scripts/bench:
 *
 *   cc -O2 -pthread -o /tmp/many_threads bench/probes/many_threads.c
 *   /usr/bin/time -f "%e s %M KB" env LD_PRELOAD=build/.libs/libbuddyslab.so /tmp/many_threads
 *
 * (and with the other allocators' libraries, or none for glibc). Peak RSS
 * minus the live bytes (about 160 KiB a thread at i = 3000) is what the
 * allocator keeps per thread: its per-thread caches, slabs or pages of
 * its own. From a program of a subagent's review (2026-11-28).
 *
 * Usage: many_threads [THREADS]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { BLOCKS = 64, CHURN_ROUNDS = 20, CHURN_THREADS = 500 };
static pthread_barrier_t all_allocated;

static void *holder(void *arg)
{
	long i = (long)arg;
	size_t keep_size = 100 + (size_t)(i % 5000);
	char *keep = malloc(keep_size);
	if (!keep)
		abort();
	memset(keep, 1, keep_size);
	void *block[BLOCKS];
	for (int k = 0; k < BLOCKS; k++) {
		size_t size = (size_t)((k * 37 + i) % 20000) + 1;
		block[k] = malloc(size);
		if (!block[k])
			abort();
		memset(block[k], 2, size);
	}
	pthread_barrier_wait(&all_allocated);
	for (int k = 0; k < BLOCKS; k++)
		free(block[k]);
	return keep;
}

static void *copier(void *arg)
{
	return strdup(arg);
}

int main(int argc, char **argv)
{
	long threads = argc > 1 ? atol(argv[1]) : 3000;
	if (threads < 1)
		threads = 1;
	pthread_t *t = calloc((size_t)(threads > CHURN_THREADS ? threads : CHURN_THREADS), sizeof(*t));
	if (!t)
		return 1;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	pthread_barrier_init(&all_allocated, NULL, (unsigned int)threads);
	for (long i = 0; i < threads; i++)
		if (pthread_create(&t[i], &attr, holder, (void *)i) != 0) {
			fprintf(stderr, "pthread_create failed at thread %ld\n", i);
			return 1;
		}
	long sum = 0;
	for (long i = 0; i < threads; i++) {
		char *keep;
		pthread_join(t[i], (void **)&keep);
		sum += keep[50];
		free(keep);
	}
	for (int r = 0; r < CHURN_ROUNDS; r++) {
		for (int i = 0; i < CHURN_THREADS; i++)
			if (pthread_create(&t[i], NULL, copier, "abcdefghijk") != 0)
				return 1;
		for (int i = 0; i < CHURN_THREADS; i++) {
			char *copy;
			pthread_join(t[i], (void **)&copy);
			sum += copy[0];
			free(copy);
		}
	}
	printf("many_threads: %ld threads, checksum %ld\n", threads, sum);
	free(t);
	return 0;
}
