/*
 * test_fork.c - fork() while other threads allocate.
 *
 * BUSY threads loop malloc/free of assorted sizes until told to stop; the
 * main thread forks FORKS times meanwhile. Each child mallocs and frees a
 * few thousand blocks (1 MiB and 8 MiB among them), verifying payloads,
 * starts a thread that allocates too, and _exit(0)s. A child that is still
 * running after 60 s is deadlocked (a lock held by a parent thread at fork
 * time): the parent kills it and counts a failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define MiB (1UL << 20)
#ifndef BUSY
#define BUSY 4
#endif
#define FORKS 50
#define CHILD_TIMEOUT_MS 60000 /* a child takes 35-200 ms, under load too */

static atomic_int stop;
static atomic_ulong busy_ops;
static atomic_ulong busy_bad;

/* Payload bytes written and checked: the start of big blocks is enough to see
 * corruption, and keeps 50 children in a few seconds. */
static inline size_t head(size_t size)
{
	return size < 65536 ? size : 65536;
}

static size_t assorted_size(uint64_t *rng)
{
	static const size_t sizes[] = { 8, 24, 100, 500, 1000, 3000, 8192, 12000, 40000,
					100000, 300000, MiB, 5 * MiB };
	unsigned k = (unsigned)(xorshift64(rng) % 100);
	/* mostly small: the slab path's locks are the hot ones */
	size_t base = k < 70 ? sizes[k % 5] : k < 97 ? sizes[5 + k % 6] : sizes[11 + k % 2];
	return base + (size_t)(xorshift64(rng) % 64);
}

/* A parent thread: malloc/free (some kept a while) until stop. */
static void *busy_main(void *arg)
{
	uint64_t rng = (uintptr_t)arg * 0x9e3779b97f4a7c15ULL + 1;
	void *keep[64] = { 0 };
	size_t keep_size[64] = { 0 };
	unsigned long ops = 0, bad = 0;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		size_t size = assorted_size(&rng);
		unsigned slot = (unsigned)(xorshift64(&rng) % 64);
		char *p = malloc(size);
		if (!p) {
			bad++;
			continue;
		}
		pattern_fill(p, head(size));
		if (keep[slot]) {
			if (!pattern_check(keep[slot], head(keep_size[slot])))
				bad++;
			free(keep[slot]);
		}
		keep[slot] = p;
		keep_size[slot] = size;
		ops++;
	}
	for (int i = 0; i < 64; i++)
		free(keep[i]);
	atomic_fetch_add(&busy_ops, ops);
	atomic_fetch_add(&busy_bad, bad);
	return NULL;
}

/* ---- the child ---------------------------------------------------------------- */

static void *child_thread_main(void *arg)
{
	uint64_t rng = (uintptr_t)arg | 1;
	for (int i = 0; i < 1000; i++) {
		size_t size = assorted_size(&rng);
		char *p = malloc(size);
		if (!p)
			return (void *)1;
		pattern_fill(p, head(size));
		if (!pattern_check(p, head(size)))
			return (void *)1;
		free(p);
	}
	return NULL;
}

/* Child exit codes: 0 ok, 1 NULL from malloc, 2 corrupted payload, 3 thread. */
static int child_main(unsigned n)
{
	uint64_t rng = 0x1234567ULL * (n + 1) | 1;
	enum { LIVE = 256 };
	char *live[LIVE] = { 0 };
	size_t live_size[LIVE] = { 0 };

	for (int i = 0; i < 3000; i++) {
		size_t size = assorted_size(&rng);
		if (i % 500 == 0)
			size = 8 * MiB;
		else if (i % 100 == 0)
			size = MiB;
		unsigned slot = (unsigned)(xorshift64(&rng) % LIVE);
		if (live[slot]) {
			if (!pattern_check(live[slot], head(live_size[slot])))
				return 2;
			free(live[slot]);
		}
		live[slot] = malloc(size);
		if (!live[slot])
			return 1;
		live_size[slot] = size;
		pattern_fill(live[slot], head(size));
	}
	pthread_t t;
	void *ret = (void *)1;
	if (pthread_create(&t, NULL, child_thread_main, (void *)(uintptr_t)(n + 77)) != 0)
		return 3;
	/* Allocate alongside the child's thread. */
	for (int i = 0; i < 500; i++) {
		void *p = calloc(1, assorted_size(&rng));
		if (!p)
			return 1;
		free(p);
	}
	pthread_join(t, &ret);
	if (ret != NULL)
		return 3;
	for (int i = 0; i < LIVE; i++) {
		if (live[i] && !pattern_check(live[i], head(live_size[i])))
			return 2;
		free(live[i]);
	}
	return 0;
}

/* ---- the parent ---------------------------------------------------------------- */

static long elapsed_ms(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* wait_child - its status, or -1 if it did not exit within the timeout. */
static int wait_child(pid_t pid, int *status)
{
	struct timespec t0, nap = { 0, 1000000 };
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -2;
		if (elapsed_ms(&t0) > CHILD_TIMEOUT_MS) {
			kill(pid, SIGKILL);
			waitpid(pid, status, 0);
			return -1;
		}
		nanosleep(&nap, NULL);
	}
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_REQUIRE_BUDDYSLAB();

	pthread_t busy[BUSY];
	int created = 1;
	for (uintptr_t i = 0; i < BUSY; i++)
		if (pthread_create(&busy[i], NULL, busy_main, (void *)(i + 1)) != 0)
			created = 0;
	CHECK("fork-busy-threads-created", created);

	int ok_fork = 1, exited0 = 0, deadlocked = 0, failed = 0;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned n = 0; n < FORKS; n++) {
		/* The parent allocates around each fork as well. */
		void *around = malloc(100 + n);
		fflush(stdout);
		pid_t pid = fork();
		if (pid < 0) {
			ok_fork = 0;
			free(around);
			continue;
		}
		if (pid == 0) {
			free(around); /* the parent's block, in the child */
			_exit(child_main(n));
		}
		free(around);
		int status = 0;
		int r = wait_child(pid, &status);
		if (r == -1) {
			deadlocked++;
			printf("      child %u (pid %d) did not exit in %d ms: deadlock?\n", n,
			       (int)pid, CHILD_TIMEOUT_MS);
			break; /* one is a failure; more would outlast the test's timeout */
		} else if (r < 0) {
			failed++;
		} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			exited0++;
		} else {
			failed++;
			if (WIFSIGNALED(status))
				printf("      child %u killed by signal %d\n", n, WTERMSIG(status));
			else
				printf("      child %u exited with %d (1 NULL, 2 corrupt, 3 thread)\n",
				       n, WEXITSTATUS(status));
		}
	}
	long fork_ms = elapsed_ms(&t0);

	atomic_store(&stop, 1);
	for (int i = 0; i < BUSY; i++)
		pthread_join(busy[i], NULL);

	printf("%d forks: %d exited 0, %d failed, %d deadlocked; %lu parent-thread ops "
	       "meanwhile; %ld ms\n", FORKS, exited0, failed, deadlocked,
	       (unsigned long)busy_ops, fork_ms);
	CHECK("fork-fork", ok_fork);
	CHECK("fork-children-exit-0", exited0 == FORKS);
	CHECK("fork-no-deadlock", deadlocked == 0);
	CHECKF("fork-parent-threads-ok", busy_bad == 0, "%lu NULL or corrupted in parent threads",
	       (unsigned long)busy_bad);
	CHECK("fork-parent-threads-ran", busy_ops > 0);

	void *p = malloc(5000);
	CHECK("fork-parent-after", p != NULL && buddyslab_owns(p) == 1);
	free(p);
	return CHECK_DONE();
}
