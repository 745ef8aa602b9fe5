/*
 * test_report_cancel.c - a thread cancelled while malloc_stats() writes
 * its report (stderr a pipe that is full for a moment, so the report's
 * write(2), a cancellation point, blocks) must not leave the report lock
 * held: fork() takes that lock (fork_prepare), and every later fork, and
 * every later report, waited for it for ever. Reports run with
 * cancellation disabled, as glibc's malloc_stats cannot be cancelled
 * either (src/stats.c, report_lock; found by a subagent's lifecycle test,
 * 2026-11-28).
 *
 * Steps: stderr becomes a pipe, filled but for 4 KiB; a thread calls
 * malloc_stats() and blocks in write(2); it is cancelled; a drainer then
 * empties the pipe; the thread is joined (with cancellation disabled it
 * finishes its report); then fork() and malloc_stats() must return, with a
 * watchdog (alarm) that kills the process if they hang. Prints "N passed,
 * N failed".
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../api/check.h"

static sem_t drain_go;
static int pipe_fd[2];

static void *parked(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static void *report_thread(void *arg)
{
	(void)arg;
	malloc_stats();
	return NULL;
}

static void *drainer(void *arg)
{
	(void)arg;
	char buf[65536];
	sem_wait(&drain_go);
	while (read(pipe_fd[0], buf, sizeof(buf)) > 0)
		;
	return NULL;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_REQUIRE_BUDDYSLAB();
	/* glibc's first pthread_cancel loads libgcc_s: not during the test */
	pthread_t w;
	pthread_create(&w, NULL, parked, NULL);
	pthread_cancel(w);
	pthread_join(w, NULL);

	if (!CHECK("pipe", pipe(pipe_fd) == 0))
		return CHECK_DONE();
	sem_init(&drain_go, 0, 0);
	pthread_t d;
	pthread_create(&d, NULL, drainer, NULL);
	int saved_stderr = dup(STDERR_FILENO);
	dup2(pipe_fd[1], STDERR_FILENO);
	char junk[4096];
	memset(junk, 'x', sizeof(junk));
	fcntl(pipe_fd[1], F_SETFL, O_NONBLOCK);
	while (write(pipe_fd[1], junk, sizeof(junk)) > 0)
		;
	fcntl(pipe_fd[1], F_SETFL, 0);
	/* room for the report's first lines: then its write blocks */
	CHECK("pipe-room", read(pipe_fd[0], junk, sizeof(junk)) == (ssize_t)sizeof(junk));

	pthread_t t;
	pthread_create(&t, NULL, report_thread, NULL);
	usleep(300000); /* t waits in write(2) now */
	pthread_cancel(t);
	sem_post(&drain_go);
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 30;
	CHECK("report-thread-joined", pthread_timedjoin_np(t, NULL, &deadline) == 0);

	alarm(60); /* SIGALRM ends the test if fork or a report hangs */
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	int status = -1;
	CHECK("fork-after-cancelled-report", pid > 0 && waitpid(pid, &status, 0) == pid && status == 0);
	malloc_stats(); /* the report lock is free: it returns */
	CHECK("report-after-cancelled-report", 1);
	alarm(0);
	dup2(saved_stderr, STDERR_FILENO);
	return CHECK_DONE();
}
