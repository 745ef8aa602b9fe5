/*
 * falseshare - false-sharing probes: small objects handed between threads
 * and written by them. If the allocator places objects that different
 * threads write in the same 64-byte cache line, every write bounces the
 * line between cores and the run slows down (about 1.5-3x in a two-thread
 * test on the 2-core virtual machine where this was written).
 *
 * Three phases, each `rounds` rounds of `threads` workers; the object size
 * changes every round (16, 24, 32, 48 bytes):
 *
 *   active:  the main thread mallocs one object per worker, one after the
 *            other (an allocator that packs them shares lines between the
 *            workers) and hands them out; each worker increments its
 *            object `writes` times (atomically, as a reference count would
 *            be), checks the count and frees it.
 *   passive: the main thread mallocs one object per worker as before; each
 *            worker frees the object it was handed at once, mallocs one of
 *            the same size for itself, increments it `writes` times, checks
 *            and frees it. An allocator that gives the freed block (or its
 *            neighbour) straight back to the worker reintroduces the sharing.
 *   handoff: each worker mallocs an object, increments it `writes`/2 times,
 *            passes it to the next worker (a ring), receives one from the
 *            previous worker, increments that one `writes`/2 times (so every
 *            object is written by two threads), checks the total and frees
 *            it: the blocks are freed by the thread that did not allocate them,
 *            and the next round's objects come from what those frees left.
 *
 * Parameters: threads=2 rounds=40 (scales with BENCH_SCALE) writes=2000000.
 * Prints the seconds of each phase and the nanoseconds per write.
 */
#include "wl.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

static long nthreads, nrounds, nwrites;
static pthread_barrier_t bar;
static void *volatile *handed;            /* main -> worker t */
static _Atomic(void *) *mailbox;         /* worker t-1 -> worker t */
static const size_t sizes[4] = {16, 24, 32, 48};

/* An atomic increment needs the cache line in the exclusive state each time, as
 * a reference count or a statistics counter in a shared object does; a plain
 * store loop would be absorbed by the store buffer and hide the sharing. */
static void bump(void *obj, long n)
{
	_Atomic uint64_t *c = obj;
	for (long i = 0; i < n; i++)
		atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static void *worker(void *arg)
{
	long t = (long)arg;
	/* active */
	for (long r = 0; r < nrounds; r++) {
		pthread_barrier_wait(&bar);
		void *o = handed[t];
		bump(o, nwrites);
		if (*(uint64_t *)o != (uint64_t)nwrites)
			wl_die("active: object %p holds %llu, want %ld", o,
			       (unsigned long long)*(uint64_t *)o, nwrites);
		free(o);
		pthread_barrier_wait(&bar);
	}
	/* passive */
	for (long r = 0; r < nrounds; r++) {
		size_t sz = sizes[r % 4];
		pthread_barrier_wait(&bar);
		free(handed[t]);
		uint64_t *o = wl_xmalloc(sz);
		*o = 0;
		bump(o, nwrites);
		if (*o != (uint64_t)nwrites)
			wl_die("passive: object %p holds %llu, want %ld", (void *)o,
			       (unsigned long long)*o, nwrites);
		free(o);
		pthread_barrier_wait(&bar);
	}
	/* handoff */
	for (long r = 0; r < nrounds; r++) {
		size_t sz = sizes[r % 4];
		pthread_barrier_wait(&bar);
		uint64_t *o = wl_xmalloc(sz);
		*o = 0;
		bump(o, nwrites / 2);
		atomic_store_explicit(&mailbox[(t + 1) % nthreads], o, memory_order_release);
		void *in;
		while (!(in = atomic_exchange_explicit(&mailbox[t], NULL, memory_order_acquire)))
			sched_yield();
		bump(in, nwrites / 2);
		if (*(uint64_t *)in != (uint64_t)(nwrites / 2) * 2)
			wl_die("handoff: object %p holds %llu", in,
			       (unsigned long long)*(uint64_t *)in);
		free(in);
		pthread_barrier_wait(&bar);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	wl_args(argc, argv);
	nthreads = wl_param("threads", 2);
	nrounds = wl_count("rounds", 40);
	nwrites = wl_param("writes", 2000000);
	if (nthreads < 1 || nwrites < 2)
		wl_die("need threads >= 1, writes >= 2");

	handed = wl_xmalloc(nthreads * sizeof(*handed));
	mailbox = wl_xmalloc(nthreads * sizeof(*mailbox));
	for (long t = 0; t < nthreads; t++)
		atomic_init(&mailbox[t], NULL);
	pthread_barrier_init(&bar, NULL, (unsigned)nthreads + 1);
	pthread_t *tid = wl_xmalloc(nthreads * sizeof(*tid));
	for (long t = 0; t < nthreads; t++)
		if (pthread_create(&tid[t], NULL, worker, (void *)t))
			wl_die("pthread_create failed");

	double ts[4];
	ts[0] = wl_now();
	for (int phase = 0; phase < 3; phase++) {
		for (long r = 0; r < nrounds; r++) {
			if (phase < 2)
				for (long t = 0; t < nthreads; t++) {
					uint64_t *o = wl_xmalloc(sizes[r % 4]);
					*o = 0;
					handed[t] = o;
				}
			pthread_barrier_wait(&bar); /* go */
			pthread_barrier_wait(&bar); /* done */
		}
		ts[phase + 1] = wl_now();
	}
	for (long t = 0; t < nthreads; t++)
		pthread_join(tid[t], NULL);
	pthread_barrier_destroy(&bar);
	free(tid);
	free((void *)handed);
	free(mailbox);

	double per = (double)nthreads * nrounds * nwrites;
	printf("falseshare threads=%ld rounds=%ld writes=%ld secs=%.3f active_s=%.3f passive_s=%.3f "
	       "handoff_s=%.3f ns_per_write=%.2f\n",
	       nthreads, nrounds, nwrites, ts[3] - ts[0], ts[1] - ts[0], ts[2] - ts[1],
	       ts[3] - ts[2], (ts[3] - ts[0]) * 1e9 / (3 * per));
	return 0;
}
