/*
 * test_report_locks.c - a report that blocks in write(2) must hold up
 * nobody else: neither fork() children nor other threads' allocations.
 *
 * Case "fork": fork() while another thread is writing a report.
 *
 * buddyslab_report() (also behind malloc_stats() and the stats=1 report at
 * exit) holds a lock of its own while it writes. A thread is made to block
 * inside it, deterministically: it reports into a pipe that is already full.
 * A second thread starts draining the pipe DRAIN_DELAY_MS later. Meanwhile
 * the main thread forks; the child writes a report to /dev/null, calls
 * malloc_stats() and exits.
 *
 * If the fork handlers take the report lock, fork() waits for the report to
 * finish (the pipe drains) and the child runs. If they do not, the child
 * inherits the lock held by a thread that does not exist in it and hangs:
 * after CHILD_TIMEOUT_MS it is killed and the test fails.
 *
 * Case "alloc": while the reporter is blocked, the main thread allocates
 * blocks that need the zone (2 MiB, fresh pages) and a large block. They
 * must not wait for the report: a report must not hold the allocator's
 * locks (zone, heap list) across write(2). Here the drainer waits for the
 * allocations to return before it drains (up to ALLOC_WAIT_MS): allocations
 * held up by the report return only once it gives up, so the check does
 * not depend on how fast the machine is.
 *
 * Usage: test_report_locks [fork|alloc]   (default: both)
 * Both failed until 0ae83cb (the fork handlers did not take the report lock;
 * the report wrote with the zone lock held).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define ROUNDS 3
#define DRAIN_DELAY_MS 300
#define CHILD_TIMEOUT_MS 30000
#define ALLOC_WAIT_MS 10000

static int pipe_fds[2];
/* case alloc: the drainer waits for the allocations (alloc_done) instead
 * of DRAIN_DELAY_MS, up to ALLOC_WAIT_MS, and says if it gave up
 * (drain_forced): allocations that wait for the report finish only after
 * the drain, however fast or slow the machine */
static int alloc_case;
static _Atomic int alloc_done, drain_forced, reporter_done;

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&t, &t) != 0 && errno == EINTR)
		;
}

static long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* What the blocked reporter reports: the slab report alone is written after
 * the zone lock is released, with only the report's own lock held (case
 * fork); the whole report starts writing with the zone lock held (alloc). */
static unsigned report_what = BUDDYSLAB_REPORT_ALL;

static void *reporter(void *arg)
{
	(void)arg;
	buddyslab_report(pipe_fds[1], report_what); /* blocks: the pipe is full */
	reporter_done = 1;
	return NULL;
}

static void *drainer(void *arg)
{
	(void)arg;
	char buf[65536];
	if (alloc_case) {
		long t0 = now_ms();
		while (!alloc_done && now_ms() - t0 < ALLOC_WAIT_MS)
			sleep_ms(1);
		drain_forced = !alloc_done;
	} else {
		sleep_ms(DRAIN_DELAY_MS);
	}
	/* until the report has returned and the pipe is empty */
	int fl = fcntl(pipe_fds[0], F_GETFL);
	fcntl(pipe_fds[0], F_SETFL, fl | O_NONBLOCK);
	for (;;) {
		int done = reporter_done;
		if (read(pipe_fds[0], buf, sizeof(buf)) > 0)
			continue;
		if (done)
			break;
		sleep_ms(1);
	}
	return NULL;
}

static void start_blocked_report(pthread_t *rep, pthread_t *dr);
static void stop_blocked_report(pthread_t rep, pthread_t dr);

static int one_round(int round)
{
	pthread_t rep, dr;
	start_blocked_report(&rep, &dr);

	long t0 = now_ms();
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		alarm(CHILD_TIMEOUT_MS / 1000 + 5);
		int devnull = open("/dev/null", O_WRONLY);
		buddyslab_report(devnull, BUDDYSLAB_REPORT_ALL);
		dup2(devnull, 2);
		malloc_stats();
		void *p = malloc(1000);
		free(p);
		_exit(0);
	}
	long fork_ms = now_ms() - t0;
	int status = 0, hung = 0;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			break;
		if (now_ms() - t0 > CHILD_TIMEOUT_MS) {
			hung = 1;
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			break;
		}
		sleep_ms(2);
	}
	stop_blocked_report(rep, dr);
	printf("round %d: fork() returned after %ld ms; child %s\n", round, fork_ms,
	       hung ? "hung in buddyslab_report() and was killed" :
	       WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "exited 0" : "failed");
	return !hung && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* start_blocked_report - a reporter blocked in write() on a full pipe, and
 * a drainer that frees it DRAIN_DELAY_MS later (case alloc: once the
 * allocations returned). */
static void start_blocked_report(pthread_t *rep, pthread_t *dr)
{
	if (pipe(pipe_fds) != 0) {
		perror("pipe");
		exit(1);
	}
	int fl = fcntl(pipe_fds[1], F_GETFL);
	fcntl(pipe_fds[1], F_SETFL, fl | O_NONBLOCK);
	char junk[4096];
	memset(junk, 'x', sizeof(junk));
	while (write(pipe_fds[1], junk, sizeof(junk)) > 0)
		;
	fcntl(pipe_fds[1], F_SETFL, fl);
	reporter_done = alloc_done = drain_forced = 0;
	pthread_create(rep, NULL, reporter, NULL);
	sleep_ms(50); /* the reporter is now blocked in write(), inside the report */
	pthread_create(dr, NULL, drainer, NULL);
}

static void stop_blocked_report(pthread_t rep, pthread_t dr)
{
	pthread_join(rep, NULL);
	pthread_join(dr, NULL);
	close(pipe_fds[0]);
	close(pipe_fds[1]);
}

static void case_alloc(void)
{
	int slow = 0;
	alloc_case = 1;
	for (int round = 0; round < ROUNDS; round++) {
		pthread_t rep, dr;
		start_blocked_report(&rep, &dr);
		long t0 = now_ms();
		/* blocks that the thread's caches cannot serve: the zone */
		char *a = malloc(2UL << 20);
		char *b = malloc(3UL << 20);
		long t_alloc = now_ms() - t0;
		alloc_done = 1;
		free(a);
		free(b);
		stop_blocked_report(rep, dr);
		printf("round %d: malloc(2 MiB) + malloc(3 MiB) took %ld ms while another thread "
		       "was blocked writing a report%s\n", round, t_alloc,
		       drain_forced ? " (until the pipe was drained)" : "");
		if (drain_forced)
			slow++;
	}
	alloc_case = 0;
	CHECKF("report-blocked-alloc-not-held", slow == 0,
	       "%d of %d times, allocations waited for a report blocked in write(2): the "
	       "report holds an allocator lock (the zone lock) across the write", slow, ROUNDS);
}

static void case_fork(void)
{
	int ok = 0;
	for (int i = 0; i < ROUNDS; i++)
		ok += one_round(i);
	CHECKF("fork-during-report-child-reports", ok == ROUNDS,
	       "%d of %d children hung in buddyslab_report(): the report lock was held at "
	       "fork() by a thread that does not exist in the child", ROUNDS - ok, ROUNDS);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_REQUIRE_BUDDYSLAB();
	struct rlimit no_core = { 0, 0 };
	setrlimit(RLIMIT_CORE, &no_core);
	int all = argc == 1;
	if (argc > 2 || (argc == 2 && strcmp(argv[1], "fork") && strcmp(argv[1], "alloc"))) {
		fprintf(stderr, "usage: %s [fork|alloc]\n", argv[0]);
		return 2;
	}
	if (all || !strcmp(argv[1], "alloc")) {
		report_what = BUDDYSLAB_REPORT_ALL;
		case_alloc();
	}
	if (all || !strcmp(argv[1], "fork")) {
		report_what = BUDDYSLAB_REPORT_SLABINFO;
		case_fork();
	}
	return CHECK_DONE();
}
