/*
 * test_signal.c - signal handlers that run while the interrupted thread is
 * inside malloc.
 *
 * WORKERS threads allocate, free, realloc, memalign, calloc and trim in a
 * loop over every route (slab, pages, mapped, kmem_cache, alloc_pages), so
 * that they are often inside the allocator holding one of its locks (zone,
 * heap list, vm cache, caches). A signaller thread sends them SIGUSR1 and
 * SIGUSR2 with pthread_kill() as fast as it can; a timer sends SIGALRM
 * (ITIMER_REAL, to the process) too. The handlers use only their own
 * memory: a thread-local buffer, a block the thread allocated before the run
 * (written and checked through a thread-local pointer), and an alternate
 * signal stack the thread mapped itself. They count how often they
 * interrupted a thread that was inside an allocator call (a thread-local
 * flag the worker sets around each call), and preserve errno.
 *
 * Passes when every worker finishes its operations within the deadline (no
 * deadlock), no payload was corrupted, and signals did land inside the
 * allocator. The handlers run without SA_RESTART, so the allocator's own
 * system calls see EINTR where the kernel gives it.
 *
 * Usage: test_signal [OPS_PER_WORKER]   (default 60000)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define KiB (1UL << 10)
#define MiB (1UL << 20)
#define WORKERS 3
#define DEADLINE_S 120

static int ops_per_worker = 60000;

static __thread volatile sig_atomic_t in_alloc;
static __thread unsigned char handler_buf[2048];
static __thread unsigned char *handler_block; /* allocated before the run */
static __thread unsigned long handler_runs, handler_inside;
static atomic_ulong total_runs, total_inside, handler_bad, worker_bad, worker_null;
static atomic_int workers_done, stop_signals;

static void handler(int sig)
{
	int saved = errno;
	handler_runs++;
	if (in_alloc)
		handler_inside++;
	/* the handler's own memory only */
	unsigned char v = (unsigned char)(sig + handler_runs);
	memset(handler_buf, v, sizeof(handler_buf));
	for (size_t i = 0; i < sizeof(handler_buf); i += 61)
		if (handler_buf[i] != v)
			atomic_fetch_add(&handler_bad, 1);
	if (handler_block) {
		unsigned char base = (unsigned char)handler_runs;
		for (size_t i = 0; i < 4096; i++)
			handler_block[i] = (unsigned char)(base + i);
	}
	errno = saved;
}

static size_t any_size(uint64_t *rng)
{
	unsigned k = (unsigned)(xorshift64(rng) % 1000);
	if (k < 700)
		return 1 + xorshift64(rng) % 1024;
	if (k < 900)
		return 1025 + xorshift64(rng) % (8 * KiB);
	if (k < 995)
		return 8 * KiB + xorshift64(rng) % (3 * MiB);
	return 4 * MiB + 1 + xorshift64(rng) % (4 * MiB);
}

static inline size_t head(size_t size)
{
	return size < 4096 ? size : 4096;
}

#define IN_ALLOC(expr) (in_alloc = 1, __extension__({ __typeof__(expr) r_ = (expr); in_alloc = 0; r_; }))
#define IN_ALLOC_VOID(stmt) do { in_alloc = 1; stmt; in_alloc = 0; } while (0)

static struct kmem_cache *cache;

static void *worker(void *arg)
{
	uint64_t rng = (uintptr_t)arg * 0x9e3779b97f4a7c15ULL + 3;
	/* the handler's own memory: a block and an alternate stack */
	handler_block = malloc(4096);
	for (size_t i = 0; i < 4096; i++)
		handler_block[i] = (unsigned char)i;
	stack_t ss = { .ss_size = 64 * KiB, .ss_flags = 0 };
	ss.ss_sp = mmap(NULL, ss.ss_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ss.ss_sp != MAP_FAILED && (uintptr_t)arg % 2)
		sigaltstack(&ss, NULL);

	enum { LIVE = 64 };
	char *live[LIVE] = { 0 };
	size_t live_size[LIVE] = { 0 };
	unsigned long bad = 0, nulls = 0;
	for (int op = 0; op < ops_per_worker; op++) {
		unsigned slot = (unsigned)(xorshift64(&rng) % LIVE);
		if (live[slot]) {
			if (!pattern_check(live[slot], head(live_size[slot])))
				bad++;
			if (xorshift64(&rng) % 4 == 0) {
				size_t ns = any_size(&rng);
				size_t keep = head(ns < live_size[slot] ? ns : live_size[slot]);
				uint64_t seed = pattern_seed(live[slot], head(live_size[slot]));
				char *q = IN_ALLOC(realloc(live[slot], ns));
				if (!q) {
					nulls++;
					continue;
				}
				if (pattern_check_seed(q, keep, seed) != keep)
					bad++;
				live[slot] = q;
				live_size[slot] = ns;
				pattern_fill(q, head(ns));
				continue;
			}
			IN_ALLOC_VOID(free(live[slot]));
			live[slot] = NULL;
		}
		size_t size = any_size(&rng);
		char *p;
		switch (xorshift64(&rng) % 10) {
		case 0:
			p = IN_ALLOC(calloc(1, size));
			break;
		case 1:
			p = IN_ALLOC(memalign((size_t)32 << (xorshift64(&rng) % 8), size));
			break;
		case 2: {
			void *obj = IN_ALLOC(kmem_cache_alloc(cache, 0));
			if (!obj) {
				nulls++;
				continue;
			}
			memset(obj, 0x3c, 500);
			IN_ALLOC_VOID(kmem_cache_free(cache, obj));
			void *pg = IN_ALLOC(alloc_pages(0, (unsigned)(op % 6)));
			if (!pg) {
				nulls++;
				continue;
			}
			IN_ALLOC_VOID(__free_pages(pg, (unsigned)(op % 6)));
			continue;
		}
		case 3:
			if (op % 500 == 0)
				IN_ALLOC_VOID(malloc_trim(0));
			/* fall through */
		default:
			p = IN_ALLOC(malloc(size));
		}
		if (!p) {
			nulls++;
			continue;
		}
		pattern_fill(p, head(size));
		live[slot] = p;
		live_size[slot] = size;
	}
	for (int i = 0; i < LIVE; i++) {
		if (live[i] && !pattern_check(live[i], head(live_size[i])))
			bad++;
		IN_ALLOC_VOID(free(live[i]));
	}
	/* stop using the handler's memory before freeing it */
	sigset_t set, old;
	sigfillset(&set);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	free(handler_block);
	handler_block = NULL;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	atomic_fetch_add(&total_runs, handler_runs);
	atomic_fetch_add(&total_inside, handler_inside);
	atomic_fetch_add(&worker_bad, bad);
	atomic_fetch_add(&worker_null, nulls);
	atomic_fetch_add(&workers_done, 1);
	return NULL;
}

static pthread_t workers[WORKERS];

static void *signaller(void *arg)
{
	(void)arg;
	unsigned long n = 0;
	while (!atomic_load(&stop_signals)) {
		for (int i = 0; i < WORKERS; i++)
			pthread_kill(workers[i], (n + (unsigned long)i) % 2 ? SIGUSR1 : SIGUSR2);
		n++;
		if (n % 8 == 0) {
			struct timespec nap = { 0, 20 * 1000 };
			nanosleep(&nap, NULL);
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_REQUIRE_BUDDYSLAB();
	if (argc > 1)
		ops_per_worker = atoi(argv[1]);
	cache = kmem_cache_create("signal-cache", 500, 0, 0, NULL);
	if (!CHECK("signal-cache-created", cache != NULL))
		return CHECK_DONE();

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sa.sa_flags = SA_ONSTACK; /* no SA_RESTART */
	sigemptyset(&sa.sa_mask);  /* handlers do not nest: they share handler_buf */
	sigaddset(&sa.sa_mask, SIGUSR1);
	sigaddset(&sa.sa_mask, SIGUSR2);
	sigaddset(&sa.sa_mask, SIGALRM);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);

	/* main takes no timer signals: the workers get them */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int created = 1;
	for (uintptr_t i = 0; i < WORKERS; i++) {
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
		created &= pthread_create(&workers[i], NULL, worker, (void *)(i + 1)) == 0;
		pthread_sigmask(SIG_BLOCK, &set, NULL);
	}
	pthread_t sig_thread;
	created &= pthread_create(&sig_thread, NULL, signaller, NULL) == 0;
	struct itimerval it = { { 0, 200 }, { 0, 200 } };
	setitimer(ITIMER_REAL, &it, NULL);

	/* wait, with a deadline: a deadlocked worker never finishes */
	int hung = 0;
	for (;;) {
		if (atomic_load(&workers_done) == WORKERS)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (t1.tv_sec - t0.tv_sec > DEADLINE_S) {
			hung = 1;
			break;
		}
		struct timespec nap = { 0, 10 * 1000 * 1000 };
		nanosleep(&nap, NULL);
	}
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	atomic_store(&stop_signals, 1);
	if (hung) {
		printf("FAIL signal-no-deadlock: %d of %d workers still running after %d s\n",
		       WORKERS - (int)workers_done, WORKERS, DEADLINE_S);
		fflush(stdout);
		_exit(1); /* the hung threads cannot be joined */
	}
	pthread_join(sig_thread, NULL);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(workers[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	kmem_cache_destroy(cache);

	printf("signals: %d workers x %d ops in %.1f s; %lu handler runs, %lu of them "
	       "interrupted an allocator call\n", WORKERS, ops_per_worker, secs,
	       (unsigned long)total_runs, (unsigned long)total_inside);
	CHECK("signal-threads-created", created);
	CHECK("signal-no-deadlock", 1);
	CHECKF("signal-payload-intact", worker_bad == 0, "%lu corrupted blocks",
	       (unsigned long)worker_bad);
	CHECKF("signal-no-null", worker_null == 0, "%lu NULL", (unsigned long)worker_null);
	CHECK("signal-handler-memory-intact", handler_bad == 0);
	CHECKF("signal-landed-inside-allocator", total_inside > 100,
	       "only %lu signals interrupted an allocator call", (unsigned long)total_inside);
	void *p = malloc(100);
	CHECK("signal-after", p != NULL && buddyslab_owns(p) == 1);
	free(p);
	return CHECK_DONE();
}
