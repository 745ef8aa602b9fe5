/*
 * threadchurn - thousands of short-lived threads that allocate, as a server
 * that spawns a thread per request or a program with a thread pool that
 * grows and shrinks does.
 *
 * `threads` threads in all, at most `concurrent` alive at a time (a new one
 * starts as soon as one finishes). Each thread mallocs `objs` blocks of
 * random sizes (16 B..4 KiB, and one of 64 KiB), writes them, frees most
 * of them itself and hands one in ten to the main thread, which checks and
 * frees them after the thread has exited: memory of a dead thread freed by
 * a live one. An allocator with per-thread caches must set a cache up and
 * tear it down (or recycle it) for every thread, and must not lose what a
 * dead thread still held: RSS that grows with the number of threads is a
 * leak.
 *
 * Parameters: threads=8000 (scales with BENCH_SCALE) concurrent=4 objs=1000.
 * Prints threads/s, RSS and peak RSS.
 */
#include "wl.h"
#include <pthread.h>

struct handed {
	struct handed *next;
	size_t n;
	uint64_t key;
};

static long nthreads, nconc, nobjs;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static struct handed *handed_list;
static long finished;

static void *worker(void *arg)
{
	uint64_t id = (uint64_t)(uintptr_t)arg;
	wl_rng r;
	wl_seed(&r, 77 + id);
	void **p = wl_xmalloc(nobjs * sizeof(*p));
	size_t *n = wl_xmalloc(nobjs * sizeof(*n));
	struct handed *mine = NULL;
	for (long i = 0; i < nobjs; i++) {
		n[i] = i == 0 ? 65536 : wl_logsize(&r, 16, 4096);
		if (n[i] < sizeof(struct handed))
			n[i] = sizeof(struct handed);
		p[i] = wl_xmalloc(n[i]);
		wl_fill(p[i], n[i], id * 1000003 + i);
	}
	for (long i = 0; i < nobjs; i++) {
		wl_check(p[i], n[i], id * 1000003 + i);
		if (i % 10 == 5) {
			struct handed *h = p[i];
			h->n = n[i];
			h->key = wl_next(&r);
			wl_fill((char *)p[i] + sizeof(*h), n[i] - sizeof(*h), h->key);
			h->next = mine;
			mine = h;
		} else {
			free(p[i]);
		}
	}
	free(p);
	free(n);
	pthread_mutex_lock(&lock);
	if (mine) {
		struct handed *last = mine;
		while (last->next)
			last = last->next;
		last->next = handed_list;
		handed_list = mine;
	}
	finished++;
	pthread_cond_signal(&done_cv);
	pthread_mutex_unlock(&lock);
	return NULL;
}

static long drain(void)
{
	pthread_mutex_lock(&lock);
	struct handed *h = handed_list;
	handed_list = NULL;
	pthread_mutex_unlock(&lock);
	long k = 0;
	while (h) {
		struct handed *next = h->next;
		wl_check((char *)h + sizeof(*h), h->n - sizeof(*h), h->key);
		free(h);
		h = next;
		k++;
	}
	return k;
}

int main(int argc, char **argv)
{
	wl_args(argc, argv);
	nthreads = wl_count("threads", 8000);
	nconc = wl_param("concurrent", 4);
	nobjs = wl_param("objs", 1000);
	if (nconc < 1 || nobjs < 1)
		wl_die("need concurrent >= 1, objs >= 1");

	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	long started = 0, freed = 0;
	long rss_mid = 0;
	double t0 = wl_now();
	while (started < nthreads) {
		pthread_mutex_lock(&lock);
		while (started - finished >= nconc)
			pthread_cond_wait(&done_cv, &lock);
		pthread_mutex_unlock(&lock);
		pthread_t t;
		if (pthread_create(&t, &attr, worker, (void *)(uintptr_t)started))
			wl_die("pthread_create failed after %ld threads", started);
		started++;
		if (started % 64 == 0)
			freed += drain();
		if (started == nthreads / 2)
			rss_mid = wl_rss_kib();
	}
	pthread_mutex_lock(&lock);
	while (finished < nthreads)
		pthread_cond_wait(&done_cv, &lock);
	pthread_mutex_unlock(&lock);
	freed += drain();
	double dt = wl_now() - t0;
	pthread_attr_destroy(&attr);

	long want = 0;
	for (long i = 0; i < nobjs; i++)
		want += i % 10 == 5;
	if (freed != want * nthreads)
		wl_die("received %ld blocks from the threads, want %ld", freed, want * nthreads);
	/* a detached thread may still be unwinding: its stack is the libc's,
	 * not the allocator's, so the RSS below is read after the last one
	 * signalled, not after it vanished */
	printf("threadchurn threads=%ld concurrent=%ld secs=%.3f threads_per_s=%.0f "
	       "rss_mid_mib=%.1f rss_end_mib=%.1f hwm_mib=%.1f\n",
	       nthreads, nconc, dt, nthreads / dt, rss_mid / 1024.0, wl_rss_kib() / 1024.0,
	       wl_hwm_kib() / 1024.0);
	return 0;
}
