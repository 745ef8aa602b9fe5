/*
 * pipeline - producer/consumer pipelines in which every block is freed by a
 * thread other than the one that allocated it.
 *
 * `pipes` independent pipelines of `stages` threads each. Stage 0 allocates
 * messages of random sizes (log-uniform 32 B..4 KiB, one in 32 up to 16 KiB),
 * writes a header (sequence number, size, stage) and a stamp, and sends them
 * downstream in batches of `batch` messages; the batch itself is a malloc'd
 * array. Each middle stage checks every message, allocates a transformed copy
 * of another size, and frees the message it received (so the message was
 * allocated by the stage before it). The last stage checks and frees the
 * messages and the batch. Queues between stages are single-producer
 * single-consumer rings of `depth` batches; a full or empty ring yields the
 * CPU. Messages must arrive complete and in order, or the run fails.
 *
 * This is the shape of a staged server or a logging/IO thread fed by
 * workers: an allocator whose thread caches never see their blocks come back
 * must move memory between threads cheaply, or it hoards it.
 *
 * Parameters: pipes=2 stages=3 msgs=3000000 (per pipeline, scales with
 * BENCH_SCALE) batch=32 depth=64. Prints messages/s, RSS and peak RSS.
 */
#include "wl.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

struct msg {
	uint64_t seq;
	uint32_t size;
	uint32_t stage;
	/* payload follows; the last 8 bytes hold the stamp */
};

struct batch {
	long count;
	struct msg *m[];
};

struct ring {
	_Atomic unsigned long head; /* next slot the consumer reads */
	char pad1[64 - sizeof(unsigned long)];
	_Atomic unsigned long tail; /* next slot the producer writes */
	char pad2[64 - sizeof(unsigned long)];
	struct batch **slot;
};

struct stage {
	int pipe, index;
	struct ring *in, *out;
	pthread_t tid;
	long delivered;
};

static long npipes, nstages, nmsgs, nbatch, depth;

static void ring_push(struct ring *r, struct batch *b)
{
	unsigned long t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	while (t - atomic_load_explicit(&r->head, memory_order_acquire) >= (unsigned long)depth)
		sched_yield();
	r->slot[t % depth] = b;
	atomic_store_explicit(&r->tail, t + 1, memory_order_release);
}

static struct batch *ring_pop(struct ring *r)
{
	unsigned long h = atomic_load_explicit(&r->head, memory_order_relaxed);
	while (atomic_load_explicit(&r->tail, memory_order_acquire) == h)
		sched_yield();
	struct batch *b = r->slot[h % depth];
	atomic_store_explicit(&r->head, h + 1, memory_order_release);
	return b;
}

static uint64_t stamp(int pipe, uint64_t seq, uint32_t stage)
{
	return ((uint64_t)pipe << 56) ^ (seq * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)stage << 40);
}

static struct msg *make_msg(int pipe, uint64_t seq, uint32_t size, uint32_t stage)
{
	struct msg *m = wl_xmalloc(size);
	m->seq = seq;
	m->size = size;
	m->stage = stage;
	uint64_t s = stamp(pipe, seq, stage);
	memcpy((char *)m + size - 8, &s, 8);
	return m;
}

static void check_msg(const struct msg *m, int pipe, uint64_t seq, uint32_t stage)
{
	uint64_t s;
	if (m->seq != seq || m->stage != stage || m->size < sizeof(*m) + 8)
		wl_die("pipe %d: expected message %llu from stage %u, got %llu from stage %u",
		       pipe, (unsigned long long)seq, stage, (unsigned long long)m->seq, m->stage);
	memcpy(&s, (const char *)m + m->size - 8, 8);
	if (s != stamp(pipe, seq, stage))
		wl_die("pipe %d: message %llu (%u bytes) was overwritten", pipe,
		       (unsigned long long)seq, m->size);
}

static void *run_stage(void *arg)
{
	struct stage *st = arg;
	wl_rng r;
	wl_seed(&r, (uint64_t)st->pipe * 100 + st->index);
	uint64_t seq = 0;

	if (st->index == 0) {
		while (seq < (uint64_t)nmsgs) {
			long n = nmsgs - (long)seq < nbatch ? nmsgs - (long)seq : nbatch;
			struct batch *b = wl_xmalloc(sizeof(*b) + n * sizeof(b->m[0]));
			b->count = n;
			for (long i = 0; i < n; i++) {
				size_t sz = wl_range(&r, 0, 31) ? wl_logsize(&r, 32, 4096)
								 : wl_logsize(&r, 4097, 16384);
				b->m[i] = make_msg(st->pipe, seq++, (uint32_t)sz, 0);
			}
			ring_push(st->out, b);
		}
		ring_push(st->out, NULL);
		return NULL;
	}

	for (;;) {
		struct batch *b = ring_pop(st->in);
		if (!b)
			break;
		for (long i = 0; i < b->count; i++) {
			struct msg *m = b->m[i];
			check_msg(m, st->pipe, seq, (uint32_t)st->index - 1);
			if (st->out) {
				/* transform: a copy of another size */
				uint32_t sz = 32 + (uint32_t)((m->size * 5u / 3u + 64u * st->index) % 6000u);
				struct msg *c = make_msg(st->pipe, seq, sz, (uint32_t)st->index);
				b->m[i] = c;
			}
			free(m);
			seq++;
		}
		if (st->out) {
			ring_push(st->out, b);
		} else {
			free(b);
		}
	}
	if (st->out)
		ring_push(st->out, NULL);
	st->delivered = (long)seq;
	return NULL;
}

int main(int argc, char **argv)
{
	wl_args(argc, argv);
	npipes = wl_param("pipes", 2);
	nstages = wl_param("stages", 3);
	nmsgs = wl_count("msgs", 3000000);
	nbatch = wl_param("batch", 32);
	depth = wl_param("depth", 64);
	if (npipes < 1 || nstages < 2 || nbatch < 1 || depth < 1)
		wl_die("need pipes >= 1, stages >= 2, batch >= 1, depth >= 1");

	struct stage *st = calloc(npipes * nstages, sizeof(*st));
	struct ring *rings = calloc(npipes * (nstages - 1), sizeof(*rings));
	if (!st || !rings)
		wl_die("out of memory");
	for (long i = 0; i < npipes * (nstages - 1); i++)
		rings[i].slot = wl_xmalloc(depth * sizeof(struct batch *));

	double t0 = wl_now();
	for (long p = 0; p < npipes; p++)
		for (long s = 0; s < nstages; s++) {
			struct stage *x = &st[p * nstages + s];
			x->pipe = (int)p;
			x->index = (int)s;
			x->in = s ? &rings[p * (nstages - 1) + s - 1] : NULL;
			x->out = s < nstages - 1 ? &rings[p * (nstages - 1) + s] : NULL;
			if (pthread_create(&x->tid, NULL, run_stage, x))
				wl_die("pthread_create failed");
		}
	for (long i = 0; i < npipes * nstages; i++)
		pthread_join(st[i].tid, NULL);
	double dt = wl_now() - t0;

	for (long p = 0; p < npipes; p++)
		if (st[p * nstages + nstages - 1].delivered != nmsgs)
			wl_die("pipe %ld delivered %ld of %ld messages", p,
			       st[p * nstages + nstages - 1].delivered, nmsgs);
	long rss = wl_rss_kib(), hwm = wl_hwm_kib();
	for (long i = 0; i < npipes * (nstages - 1); i++)
		free(rings[i].slot);
	free(rings);
	free(st);

	double total = (double)npipes * nmsgs;
	printf("pipeline pipes=%ld stages=%ld msgs=%.0f secs=%.3f mmsgs_per_s=%.3f rss_mib=%.1f "
	       "hwm_mib=%.1f\n",
	       npipes, nstages, total, dt, total / dt / 1e6, rss / 1024.0, hwm / 1024.0);
	return 0;
}
