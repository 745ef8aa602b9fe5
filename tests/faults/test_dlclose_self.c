/*
 * test_dlclose_self.c - libbuddyslab.so loaded with dlopen (a plugin linked
 * with -lbuddyslab, a program that loads an allocator itself) and then
 * dlclose'd. The library must stay mapped: blocks it handed out outlive
 * the handle, a thread that used it runs its pthread key destructor at
 * exit, and the background thread (background=1, shm=1) runs its code.
 * Before the library was linked -z nodelete, dlclose unmapped it and all
 * three cases died of SIGSEGV (found by a review, 3 of 3 runs).
 *
 * This program is not linked with buddyslab: glibc's malloc is the
 * process's; the library is only reached through dlsym.
 *
 * Library: $BUDDYSLAB_LIB (set by make check), else ../../.libs/libbuddyslab.so
 * from this program's directory.
 *
 * Usage: test_dlclose_self
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int passed, failed;
static char lib[PATH_MAX];

static void check(const char *name, int ok, const char *detail)
{
	if (ok) {
		passed++;
		return;
	}
	failed++;
	printf("FAIL %s: %s\n", name, detail);
	fflush(stdout);
}

/* run_child - run @fn in a child process; describe how it ended */
static int run_child(void (*fn)(void), char *why, size_t len)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(why, len, "fork: %s", strerror(errno));
		return 0;
	}
	if (pid == 0) {
		alarm(60); /* a hang ends as SIGALRM */
		fn();
		_exit(0);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status)) {
		snprintf(why, len, "child killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
		return 0;
	}
	snprintf(why, len, "child exited %d", WEXITSTATUS(status));
	return WEXITSTATUS(status) == 0;
}

static void *open_lib(void)
{
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		printf("      child: dlopen %s: %s\n", lib, dlerror());
		_exit(97);
	}
	return h;
}

/* A thread allocates with the library, which gives the thread a heap and
 * registers its exit destructor; the handle is closed; the thread exits. */
static void *(*lib_malloc)(size_t);
static void (*lib_free)(void *);
static atomic_int closed, allocated;

static void *user_thread(void *arg)
{
	(void)arg;
	void *p = lib_malloc(100), *q = lib_malloc(5000);
	lib_free(p);
	atomic_store(&allocated, 1);
	while (!atomic_load(&closed))
		usleep(1000);
	lib_free(q); /* its block outlives the handle too */
	return NULL;
}

static void case_thread_exit(void)
{
	void *h = open_lib();
	lib_malloc = (void *(*)(size_t))dlsym(h, "malloc");
	lib_free = (void (*)(void *))dlsym(h, "free");
	if (!lib_malloc || !lib_free)
		_exit(97);
	pthread_t t;
	if (pthread_create(&t, NULL, user_thread, NULL) != 0)
		_exit(97);
	while (!atomic_load(&allocated))
		usleep(1000);
	if (dlclose(h) != 0)
		_exit(2);
	atomic_store(&closed, 1);
	pthread_join(t, NULL); /* the key destructor runs here */
}

/* With the background thread (background=1; shm=1 starts it too): open
 * and close the library, then give the thread time to run. */
static void open_close_wait(const char *options)
{
	setenv("BUDDYSLAB_OPTIONS", options, 1);
	for (int i = 0; i < 20; i++) {
		void *h = open_lib();
		void *(*m)(size_t) = (void *(*)(size_t))dlsym(h, "malloc");
		void (*f)(void *) = (void (*)(void *))dlsym(h, "free");
		if (!m || !f)
			_exit(97);
		f(m(64));
		if (dlclose(h) != 0)
			_exit(2);
	}
	usleep(300 * 1000);
}

static void case_background(void)
{
	open_close_wait("background=1,purge_ms=1");
}

static void case_shm(void)
{
	open_close_wait("shm=1,shm_ms=10");
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *env = getenv("BUDDYSLAB_LIB");
	if (env && *env) {
		snprintf(lib, sizeof(lib), "%s", env);
	} else {
		char self[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n <= 0)
			return 1;
		self[n] = '\0';
		snprintf(lib, sizeof(lib), "%s/../../.libs/libbuddyslab.so", dirname(self));
	}
	if (access(lib, R_OK) != 0) {
		printf("FAIL setup: no library at %s\n0 passed, 1 failed\n", lib);
		return 1;
	}
	/* preloaded, dlclose would have nothing to unmap: the cases could
	 * not fail */
	void *loaded = dlopen(lib, RTLD_NOW | RTLD_NOLOAD);
	if (loaded) {
		printf("FAIL setup: %s is already loaded (LD_PRELOAD?)\n0 passed, 1 failed\n", lib);
		return 1;
	}
	static const struct {
		const char *name;
		void (*fn)(void);
	} cases[] = {
		{ "dlclose-then-thread-exit", case_thread_exit },
		{ "dlclose-with-background-thread", case_background },
		{ "dlclose-with-shm-stats", case_shm },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char why[160];
		int ok = run_child(cases[i].fn, why, sizeof(why));
		check(cases[i].name, ok, why);
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
