/*
 * server - a server-like mix: many threads, random sizes and lifetimes, and
 * blocks freed by threads other than the one that allocated them (the shape
 * of the classic "larson" test).
 *
 * The live set is `threads` groups of `slots` blocks (think: connections
 * and their buffers). In each round every thread takes one group and, `ops`
 * times, replaces a random block of it: check the old block's pattern, free
 * it, malloc a new block of a random size, stamp it. Lifetimes are therefore
 * random (geometric). After each round the threads meet at a barrier and
 * the groups rotate (thread t takes group t+round), so almost every block is
 * freed by a different thread from the one that allocated it, as when a
 * request is handed from one worker to another.
 *
 * Sizes: 80 % 16..256 bytes, 18 % 257..4096, 2 % 4 KiB..32 KiB (log-uniform in each).
 *
 * Parameters: threads=4 slots=4000 rounds=150 ops=50000 (rounds scales
 * with BENCH_SCALE). Prints ops/s, the live bytes at the end, RSS and peak RSS.
 */
#include "wl.h"
#include <pthread.h>

struct blk {
	void *p;
	size_t n;
	uint64_t key;
};

static long nthreads, nslots, nrounds, nops;
static struct blk **groups;
static pthread_barrier_t barrier;

static size_t pick_size(wl_rng *r)
{
	uint64_t k = wl_range(r, 0, 99);
	if (k < 80)
		return wl_logsize(r, 16, 256);
	if (k < 98)
		return wl_logsize(r, 257, 4096);
	return wl_logsize(r, 4097, 32768);
}

static void *worker(void *arg)
{
	long t = (long)arg;
	wl_rng r;
	wl_seed(&r, 1000 + t);
	for (long round = 0; round < nrounds; round++) {
		struct blk *g = groups[(t + round) % nthreads];
		for (long i = 0; i < nops; i++) {
			struct blk *b = &g[wl_range(&r, 0, nslots - 1)];
			wl_check(b->p, b->n, b->key);
			free(b->p);
			b->n = pick_size(&r);
			b->key = wl_next(&r);
			b->p = wl_xmalloc(b->n);
			wl_fill(b->p, b->n, b->key);
		}
		pthread_barrier_wait(&barrier);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	wl_args(argc, argv);
	nthreads = wl_param("threads", 4);
	nslots = wl_param("slots", 4000);
	nrounds = wl_count("rounds", 150);
	nops = wl_param("ops", 50000);
	if (nthreads < 1 || nslots < 1)
		wl_die("threads and slots must be >= 1");

	wl_rng r;
	wl_seed(&r, 1);
	groups = wl_xmalloc(nthreads * sizeof(*groups));
	for (long t = 0; t < nthreads; t++) {
		groups[t] = wl_xmalloc(nslots * sizeof(struct blk));
		for (long i = 0; i < nslots; i++) {
			struct blk *b = &groups[t][i];
			b->n = pick_size(&r);
			b->key = wl_next(&r);
			b->p = wl_xmalloc(b->n);
			wl_fill(b->p, b->n, b->key);
		}
	}

	pthread_barrier_init(&barrier, NULL, (unsigned)nthreads);
	pthread_t *tid = wl_xmalloc(nthreads * sizeof(*tid));
	double t0 = wl_now();
	for (long t = 0; t < nthreads; t++)
		if (pthread_create(&tid[t], NULL, worker, (void *)t))
			wl_die("pthread_create failed");
	for (long t = 0; t < nthreads; t++)
		pthread_join(tid[t], NULL);
	double dt = wl_now() - t0;

	size_t live = 0;
	for (long t = 0; t < nthreads; t++)
		for (long i = 0; i < nslots; i++)
			live += groups[t][i].n;
	long rss = wl_rss_kib(), hwm = wl_hwm_kib();
	for (long t = 0; t < nthreads; t++) {
		for (long i = 0; i < nslots; i++) {
			struct blk *b = &groups[t][i];
			wl_check(b->p, b->n, b->key);
			free(b->p);
		}
		free(groups[t]);
	}
	free(groups);
	free(tid);
	pthread_barrier_destroy(&barrier);

	double ops = (double)nthreads * nrounds * nops;
	printf("server threads=%ld ops=%.0f secs=%.3f mops_per_s=%.3f live_mib=%.1f rss_mib=%.1f "
	       "hwm_mib=%.1f\n",
	       nthreads, ops, dt, ops / dt / 1e6, wl_mib(live), rss / 1024.0, hwm / 1024.0);
	return 0;
}
