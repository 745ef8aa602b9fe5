/*
 * midblock_churn - blocks of one size range replaced at random in a live
 * set, as a program keeps buffers: each of `threads` threads holds `slots`
 * blocks and replaces a random one `ops` times (check its first and last
 * byte, free it, malloc a new one of a random size, log-uniform in
 * [lo, hi], and mark its first and last byte). Prints the wall time.
 *
 * It found the pathology of buddyslab's trimmed page blocks (bench/README.md,
 * "Probes"): 32 KiB-1 MiB ran 20-150 times slower than tcmalloc.
 *
 *     cc -O2 -pthread -o /tmp/midblock_churn bench/probes/midblock_churn.c -lm
 *     LD_PRELOAD=LIB /usr/bin/time -f '%e s %M KiB' \
 *         /tmp/midblock_churn LO HI SLOTS OPS THREADS
 *     e.g. /tmp/midblock_churn 32768 65536 2000 300000 2
 *
 * Only two bytes of each block are written, so its peak RSS measures which
 * pages an allocator hands out again, not the blocks' sizes.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static size_t lo, hi;
static long slots, ops;

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *worker(void *arg)
{
	uint64_t seed = 88172645463325252ull + (uintptr_t)arg * 7919;
	char **block = calloc((size_t)slots, sizeof(*block));
	size_t *size = calloc((size_t)slots, sizeof(*size));
	if (!block || !size)
		abort();
	double log_lo = log((double)lo), log_hi = log((double)hi);
	for (long i = 0; i < ops; i++) {
		long k = (long)(xorshift(&seed) % (uint64_t)slots);
		if (block[k]) {
			char mark = (char)size[k];
			if (block[k][0] != mark || block[k][size[k] - 1] != mark) {
				fprintf(stderr, "block %p of %zu bytes was overwritten\n",
					(void *)block[k], size[k]);
				exit(2);
			}
			free(block[k]);
		}
		double u = (double)(xorshift(&seed) % 1000000) / 1e6;
		size[k] = (size_t)exp(log_lo + (log_hi - log_lo) * u);
		block[k] = malloc(size[k]);
		if (!block[k]) {
			fprintf(stderr, "malloc(%zu) failed\n", size[k]);
			exit(2);
		}
		block[k][0] = block[k][size[k] - 1] = (char)size[k];
	}
	for (long k = 0; k < slots; k++)
		free(block[k]);
	free(block);
	free(size);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: %s LO HI SLOTS OPS THREADS\n", argv[0]);
		return 2;
	}
	lo = strtoul(argv[1], NULL, 0);
	hi = strtoul(argv[2], NULL, 0);
	slots = strtol(argv[3], NULL, 0);
	ops = strtol(argv[4], NULL, 0);
	long nthreads = strtol(argv[5], NULL, 0);
	if (lo < 1 || hi < lo || slots < 1 || ops < 0 || nthreads < 1 || nthreads > 256) {
		fprintf(stderr, "need 1 <= LO <= HI, SLOTS >= 1, OPS >= 0, 1 <= THREADS <= 256\n");
		return 2;
	}
	pthread_t tid[256];
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long t = 0; t < nthreads; t++)
		if (pthread_create(&tid[t], NULL, worker, (void *)t))
			return 2;
	for (long t = 0; t < nthreads; t++)
		pthread_join(tid[t], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%.3f\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
