/*
 * atfork_main.c - forks while atfork_lib's older handlers allocate (see
 * atfork_lib.c), from a process with one thread or with a second one
 * allocating and freeing all along ("threads" as argv[1]), so that the
 * allocator's locks are the real futex and pthread ones. Each child
 * allocates too and checks that its child handler ran (if it was asked
 * to: exit 7 if not); prints "forks N prepare N parent N" (the handlers
 * that ran and allocated) and exits 0, or hangs: test_atfork.sh runs it
 * under timeout.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern int atfork_calls_prepare, atfork_calls_parent, atfork_calls_child;
static volatile int stop;

static void *spin(void *arg)
{
	(void)arg;
	while (!stop) {
		void *volatile p = malloc(100), *volatile q = malloc(5000);
		free(p);
		free(q);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t;
	int threads = argc > 1 && strcmp(argv[1], "threads") == 0;
	if (threads && pthread_create(&t, NULL, spin, NULL) != 0)
		return 3;
	const char *which = getenv("ATFORK_HANDLERS");
	int want_child = !which || strstr(which, "child");
	int forks = 0;
	for (int i = 0; i < 20; i++) {
		pid_t pid = fork();
		if (pid < 0)
			return 4;
		if (pid == 0) {
			if (atfork_calls_child != want_child)
				_exit(7);
			char *p = malloc(1000);
			if (!p)
				_exit(5);
			memset(p, 3, 1000);
			free(p);
			_exit(0);
		}
		int status;
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "child %d: status %#x (7: its child handler did not run)\n", i,
				status);
			return 6;
		}
		forks++;
	}
	if (threads) {
		stop = 1;
		pthread_join(t, NULL);
	}
	printf("forks %d prepare %d parent %d\n", forks, atfork_calls_prepare, atfork_calls_parent);
	return 0;
}
