/*
 * test_signal_exit.c - signal handlers that allocate, landing on threads
 * that are exiting.
 *
 * Waves of THREADS threads: each allocates and frees some blocks with
 * SIGUSR1 blocked, then unblocks it just before it returns, so that the
 * signals the main thread keeps sending it land in its exit: in glibc's
 * thread teardown and in the pthread key destructors, buddyslab's among
 * them, which empties the thread's heap and pools it. The handler mallocs
 * blocks of 16 B to 300 KB, stamps them, swaps them into a shared array and
 * frees what it took out after checking its stamp.
 *
 * POSIX does not make malloc async-signal-safe, but a handler that runs
 * while its thread is outside the allocator must find it usable: until
 * 2026-11-28 a handler that landed inside buddyslab's thread-exit work used
 * the heap that was being emptied (a crash, or a double free reported that
 * was none) or waited for the heap lock its own thread held (a hang).
 * glibc hangs here too (tcache_thread_shutdown holds the arena lock).
 *
 * Passes when every wave finishes before the deadline, every block taken
 * out of the array still holds its stamp, and the handlers ran.
 *
 * Usage: test_signal_exit [WAVES]   (default 1500)
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
#include <time.h>
#include <unistd.h>

#include "check.h"

#define THREADS 8
#define SLOTS 256
#define DEADLINE_S 60

struct stamped {
	size_t size;
	uint64_t stamp;
};

static void *_Atomic handoff[SLOTS];
static atomic_ulong handler_runs, bad_blocks, null_blocks;
static atomic_int finished;
static __thread unsigned int seed;

static uint64_t stamp_of(const void *p, size_t size)
{
	return ((uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ULL) ^ size;
}

/* check_and_free - @p, taken out of handoff[]: its stamp at both ends */
static void check_and_free(void *p)
{
	if (!p)
		return;
	struct stamped *s = p;
	size_t size = s->size;
	uint64_t tail;
	if (size < sizeof(*s) + sizeof(tail) || size > 300000 || s->stamp != stamp_of(p, size)) {
		atomic_fetch_add(&bad_blocks, 1);
		return; /* not ours to free any more */
	}
	memcpy(&tail, (char *)p + size - sizeof(tail), sizeof(tail));
	if (tail != ~s->stamp)
		atomic_fetch_add(&bad_blocks, 1);
	free(p);
}

static void *stamped_block(size_t size)
{
	struct stamped *s = malloc(size);
	if (!s)
		return NULL;
	memset(s, 0x5a, size);
	s->size = size;
	s->stamp = stamp_of(s, size);
	uint64_t tail = ~s->stamp;
	memcpy((char *)s + size - sizeof(tail), &tail, sizeof(tail));
	return s;
}

static void handler(int sig)
{
	(void)sig;
	static const size_t sizes[] = { 24, 40, 200, 1500, 5000, 20000, 300000 };
	int saved = errno;
	for (int i = 0; i < 4; i++) {
		void *p = stamped_block(sizes[rand_r(&seed) % 7]);
		if (!p) {
			atomic_fetch_add(&null_blocks, 1);
			continue;
		}
		check_and_free(atomic_exchange(&handoff[rand_r(&seed) % SLOTS], p));
	}
	atomic_fetch_add(&handler_runs, 1);
	errno = saved;
}

static void *exiting_thread(void *arg)
{
	seed = (unsigned int)(uintptr_t)arg;
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	void *p[64];
	for (int i = 0; i < 64; i++)
		p[i] = stamped_block(24 + (size_t)i * 37);
	for (int i = 0; i < 64; i += 2)
		check_and_free(p[i]);
	for (int i = 1; i < 64; i += 2)
		check_and_free(atomic_exchange(&handoff[(i * 7 + (uintptr_t)arg) % SLOTS], p[i]));
	pthread_sigmask(SIG_UNBLOCK, &usr1, NULL); /* from here on, into its exit */
	return NULL;
}

static void *watchdog(void *arg)
{
	(void)arg;
	for (int s = 0; s < DEADLINE_S * 10; s++) {
		if (atomic_load(&finished))
			return NULL;
		struct timespec nap = { 0, 100 * 1000 * 1000 };
		nanosleep(&nap, NULL);
	}
	/* no stdio: it may allocate, and the allocator may be what hangs */
	static const char msg[] = "FAIL signal-exit-no-deadlock: the waves did not finish in time\n";
	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(1);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_REQUIRE_BUDDYSLAB();
	int waves = argc > 1 ? atoi(argv[1]) : 1500;

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	/* threads start with it blocked (they inherit main's mask); main,
	 * which sends it, never takes it */
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);

	pthread_t dog;
	CHECK("signal-exit-watchdog", pthread_create(&dog, NULL, watchdog, NULL) == 0);
	int created = 1;
	for (int w = 0; w < waves; w++) {
		pthread_t t[THREADS];
		for (int i = 0; i < THREADS; i++)
			created &= pthread_create(&t[i], NULL, exiting_thread,
						  (void *)(uintptr_t)(w * THREADS + i + 1)) == 0;
		for (int k = 0; k < 20; k++)
			for (int i = 0; i < THREADS; i++)
				pthread_kill(t[i], SIGUSR1); /* joinable: valid until joined */
		for (int i = 0; i < THREADS; i++)
			pthread_join(t[i], NULL);
	}
	atomic_store(&finished, 1);
	pthread_join(dog, NULL);
	for (int i = 0; i < SLOTS; i++)
		check_and_free(atomic_exchange(&handoff[i], NULL));

	printf("signal-exit: %d waves of %d threads, %lu handler runs\n", waves, THREADS,
	       (unsigned long)handler_runs);
	CHECK("signal-exit-threads-created", created);
	CHECK("signal-exit-no-deadlock", 1);
	CHECKF("signal-exit-blocks-intact", bad_blocks == 0, "%lu blocks lost their stamp",
	       (unsigned long)bad_blocks);
	CHECKF("signal-exit-no-null", null_blocks == 0, "%lu mallocs failed",
	       (unsigned long)null_blocks);
	CHECKF("signal-exit-handlers-ran", handler_runs > 0, "%lu", (unsigned long)handler_runs);
	return CHECK_DONE();
}
