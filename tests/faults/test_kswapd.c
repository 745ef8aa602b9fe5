/*
 * test_kswapd.c - the background thread (BUDDYSLAB_OPTIONS background=1,
 * src/kswapd.c), which no other test turns on.
 *
 *   - An idle program's free memory goes back: blocks freed below the high
 *     watermark, which no free() purges, are purged once purge_ms old.
 *   - The hot mapping (vmalloc.c: the last freed mapped block of at most
 *     4 MiB, kept whole) is given back once purge_ms old, and the thread
 *     that gives it back, kswapd, frees its descriptor without getting a
 *     heap: a heap of its own would never exit, and would hold what it
 *     frees in bins that no one drains. (It got one after 64 such frees.)
 *   - Blocks another thread allocated, freed by main while that thread
 *     sits idle, go back: kswapd collects them from the idle thread's
 *     slabs (heap_reclaim_live), whose owner alone did before, when it
 *     allocated again.
 *
 *   - Blocks threads that have exited allocated, freed by main, go back
 *     too (heap_reclaim_abandoned from kswapd).
 *   - A program whose main ends in pthread_exit ends when its last thread
 *     does (status 0, its atexit handlers run): the background thread,
 *     which blocks every signal, kept it alive for ever before
 *     (kswapd_alone). The test runs itself as that program, three ways:
 *     as it is; without /proc (a tmpfs mounted over it in a mount
 *     namespace of its own, as root; skipped otherwise), where the thread
 *     looked at /proc only and the program never ended; and with
 *     purge_ms=600000,shm_ms=600000, whose tick the thread slept through before it
 *     looked (ten minutes).
 *
 * The test runs itself again with the options if they are not set
 * (check_run_with_options). Waits are polls with generous deadlines, so a
 * loaded machine only makes it slower. Prints "N passed, N failed".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/wait.h>
#include <signal.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sched.h>
#include <unistd.h>

#include "../api/check.h"
#include "buddyslab.h"

#define KiB (1UL << 10)
#define MiB (1UL << 20)
#define OPTIONS "background=1,purge_ms=5"

/* rss_kib - the process's resident memory, from /proc/self/statm */
static long rss_kib(void)
{
	long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* rss_idle_kib - the RSS once it is @limit KiB or less, polled every 10 ms
 * for at most 10 s (kswapd works while the test idles); above @limit if
 * it never got there */
static long rss_idle_kib(long limit)
{
	double deadline = check_now_s() + 10;
	while (rss_kib() > limit && check_now_s() < deadline)
		usleep(10 * 1000);
	return rss_kib();
}

/* expect_given_back - main has just freed the blocks of @whose (@blocks),
 * RSS @peak KiB with them: while the program idles, kswapd must bring RSS
 * at least @drop KiB below the peak (what main freed into their slabs
 * stayed there before). */
static void expect_given_back(const char *name, const char *whose, const char *blocks,
			      long peak, long drop)
{
	long after = rss_kib();
	long idle_rss = rss_idle_kib(peak - drop);
	printf("%s: RSS %ld KiB with %s of blocks, %ld after main freed them, %ld while it idles\n",
	       whose, peak, blocks, after, idle_rss);
	CHECKF(name, idle_rss <= peak - drop,
	       "RSS %ld KiB, %ld with the blocks: what main freed stayed in the slabs of the %s",
	       idle_rss, peak, whose);
}

static int is_mapped(const void *p)
{
	return msync((void *)((uintptr_t)p & ~(uintptr_t)4095), 4096, MS_ASYNC) == 0 ||
	       errno != ENOMEM;
}

/* report - the reports @what into a buffer (static; NUL-terminated) */
static const char *report(unsigned int what)
{
	static char text[1 << 16];
	FILE *f = tmpfile();
	if (!f)
		return "";
	buddyslab_report(fileno(f), what);
	rewind(f);
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

/* other_heaps - heaps in the pcp report of a thread other than @tid */
static int other_heaps(pid_t tid)
{
	const char *s = report(BUDDYSLAB_REPORT_PCP);
	int n = 0;
	while ((s = strstr(s, " tid ")) != NULL) {
		s += 5;
		if (atoi(s) != (int)tid)
			n++;
	}
	return n;
}

static void test_idle_purge(void)
{
	enum { N = 160 }; /* 64 KiB each: 10 MiB, below the high watermark */
	static void *blocks[N];
	for (int i = 0; i < N; i++) {
		blocks[i] = malloc(64 * KiB);
		if (blocks[i])
			memset(blocks[i], 0x5a, 64 * KiB);
	}
	long peak = rss_kib();
	for (int i = 0; i < N; i++)
		free(blocks[i]);
	long after = rss_kib();
	long idle = rss_idle_kib(peak - 4 * 1024);
	printf("idle purge: RSS %ld KiB at the peak, %ld after the frees, %ld idle\n", peak, after,
	       idle);
	CHECKF("kswapd-idle-purge", idle <= peak - 4 * 1024,
	       "RSS %ld KiB idle, %ld at the peak: the 10 MiB freed stayed", idle, peak);
}

static void test_hot_mapping(void)
{
	pid_t self = gettid();
	int before = other_heaps(self), flushed = 0, rounds = 0;
	/* more rounds than the 64 heapless frees that give a thread a heap;
	 * about 1 s in all, at most 60 (under TEST_TIMEOUT) on a stalled
	 * machine, where the rounds left undone fail kswapd-hot-rounds */
	double end = check_now_s() + 60;
	for (; rounds < 80 && check_now_s() < end; rounds++) {
		char *p = malloc(2 * MiB);
		if (!p)
			break;
		memset(p, rounds, 2 * MiB);
		free(p);
		double deadline = check_now_s() + 5;
		while (is_mapped(p) && check_now_s() < deadline && check_now_s() < end)
			usleep(1000);
		flushed += !is_mapped(p);
	}
	int after = other_heaps(self);
	printf("hot mapping: %d rounds, %d given back by kswapd; heaps of other threads %d before, "
	       "%d after\n", rounds, flushed, before, after);
	CHECK("kswapd-hot-rounds", rounds == 80);
	CHECKF("kswapd-hot-given-back", flushed == rounds, "%d of %d hot mappings stayed mapped",
	       rounds - flushed, rounds);
	/* main and kswapd are the only threads */
	CHECKF("kswapd-no-heap", before == 0 && after == 0,
	       "%d heaps of other threads after kswapd freed %d descriptors (%d before)", after,
	       flushed, before);
}

/* an owner thread allocates, waits while main frees, then allocates again */
enum { IDLE_BLOCK = 256, IDLE_BLOCKS = 48 * MiB / IDLE_BLOCK };
static struct check_idle_owner_job idle = CHECK_IDLE_OWNER_JOB(IDLE_BLOCK, IDLE_BLOCKS);

static void test_idle_thread_frees(void)
{
	pthread_t t;
	if (!CHECK("kswapd-idle-thread-allocated", check_idle_owner_start(&idle, &t)))
		return;
	long peak = rss_kib();
	check_idle_owner_free(&idle);
	expect_given_back("kswapd-idle-thread-frees", "idle thread", "its 48 MiB", peak, 24 * 1024);
	CHECK("kswapd-idle-thread-works-after", check_idle_owner_end(&idle, t));
}

/* threads allocate and exit; main frees their blocks and idles: what it
 * freed into the exited threads' heaps goes back (heap_reclaim_abandoned
 * from kswapd; it waited for a refill, malloc_trim or reclaim before) */
enum { EXITED_THREADS = 4, EXITED_BLOCKS = 16 * MiB / 1016 }; /* 16-2015 B: 16 MiB a thread */
static void *exited_blocks[EXITED_THREADS][EXITED_BLOCKS];

static void *allocate_and_exit(void *arg)
{
	void **blocks = arg;
	uint64_t seed = (uintptr_t)arg;
	for (unsigned int i = 0; i < EXITED_BLOCKS; i++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		size_t size = 16 + (size_t)(seed >> 33) % 2000;
		blocks[i] = malloc(size);
		if (blocks[i])
			memset(blocks[i], 0x5a, size);
	}
	return NULL;
}

static void test_exited_thread_frees(void)
{
	pthread_t t[EXITED_THREADS];
	for (int i = 0; i < EXITED_THREADS; i++)
		if (!CHECK("kswapd-exited-thread", pthread_create(&t[i], NULL, allocate_and_exit,
								  exited_blocks[i]) == 0))
			return;
	for (int i = 0; i < EXITED_THREADS; i++)
		pthread_join(t[i], NULL);
	long peak = rss_kib();
	for (int i = 0; i < EXITED_THREADS; i++)
		for (unsigned int j = 0; j < EXITED_BLOCKS; j++)
			free(exited_blocks[i][j]);
	expect_given_back("kswapd-exited-thread-frees", "exited threads", "their 64 MiB", peak,
			  32 * 1024);
}

/* ---- main ends in pthread_exit ---------------------------------------------- */

static void said_bye(void)
{
	static const char bye[] = "atexit handler ran\n";
	if (write(1, bye, sizeof(bye) - 1) < 0)
		_exit(3);
}

static void *short_worker(void *arg)
{
	(void)arg;
	free(malloc(100));
	return NULL;
}

/* pthread_exit_program - what `test_kswapd pthread-exit` runs */
static _Noreturn void pthread_exit_program(void)
{
	atexit(said_bye);
	free(malloc(64)); /* a heap, and the background thread */
	pthread_t t;
	if (pthread_create(&t, NULL, short_worker, NULL) != 0)
		_exit(2);
	pthread_exit(NULL);
}

enum pthread_exit_way { EXIT_AS_IS, EXIT_NO_PROC, EXIT_LONG_TICK };

/* no_proc - hide /proc from this process and its children: a tmpfs over
 * it in a mount namespace of their own. False if that is not allowed. */
static bool no_proc(void)
{
	return unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
	       mount("none", "/proc", "tmpfs", 0, NULL) == 0;
}

static void test_pthread_exit(enum pthread_exit_way way)
{
	static const char *const names[] = { "pthread-exit", "pthread-exit-no-proc",
					     "pthread-exit-long-tick" };
	const char *name = names[way];
	char exe[4096];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int out[2];
	if (!CHECK(name, len > 0 && pipe(out) == 0))
		return;
	exe[len] = '\0';
	pid_t pid = fork();
	if (!CHECK(name, pid >= 0))
		return;
	if (pid == 0) {
		dup2(out[1], 1);
		close(out[0]);
		if (way == EXIT_NO_PROC && !no_proc())
			_exit(77);
		if (way == EXIT_LONG_TICK)
			setenv("BUDDYSLAB_OPTIONS", "background=1,purge_ms=600000,shm_ms=600000", 1);
		char *args[] = { exe, (char *)"pthread-exit", NULL };
		execv(exe, args);
		_exit(99);
	}
	close(out[1]);
	int status = 0;
	pid_t done = 0;
	for (double end = check_now_s() + 30; !done && check_now_s() < end;) {
		done = waitpid(pid, &status, WNOHANG);
		if (!done)
			usleep(20000);
	}
	if (!done) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	char buf[128] = "";
	ssize_t n = read(out[0], buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(out[0]);
	if (done == pid && WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		printf("skip %s: no mount namespace (not root?)\n", name);
		return;
	}
	CHECKF(name, done == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s",
	       !done ? "still running after 30 s (killed)" : "exited otherwise");
	CHECKF(name, strstr(buf, "atexit handler ran") != NULL, "its atexit handler: it printed \"%s\"",
	       buf);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* with the options its parent gave it */
	if (argc > 1 && strcmp(argv[1], "pthread-exit") == 0)
		pthread_exit_program();
	check_run_with_options(argv, OPTIONS);
	CHECK_REQUIRE_BUDDYSLAB();

	test_idle_purge();
	test_hot_mapping();
	test_idle_thread_frees();
	test_exited_thread_frees();
	test_pthread_exit(EXIT_AS_IS);
	test_pthread_exit(EXIT_NO_PROC);
	test_pthread_exit(EXIT_LONG_TICK);

	return CHECK_DONE();
}
