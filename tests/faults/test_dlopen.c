/*
 * test_dlopen.c - dlopen/dlclose of a library that allocates in its
 * constructor and frees in its destructor (tests/faults/dlalloc.c: every
 * malloc function, every route, dynamic TLS that glibc allocates with our
 * malloc, a pthread key, a thread of its own).
 *
 * ROUNDS times: dlopen (RTLD_LOCAL and RTLD_GLOBAL in turn), call into the
 * module, which hands back a block, dlclose, then check and free the block
 * (memory that outlives the code that allocated it). A background thread
 * allocates and frees all the while. The module counts its failures in
 * dlalloc_failures, which it finds in this program (linked -export-dynamic).
 *
 * Module path: $DLALLOC_MODULE, else .libs/libdlalloc.so next to this
 * program (where libtool puts it).
 *
 * Usage: test_dlopen [ROUNDS]   (default 300)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

#define MiB (1UL << 20)

/* Written by the module (see dlalloc.c); exported. */
__attribute__((visibility("default"))) int dlalloc_failures;
__attribute__((visibility("default"))) int dlalloc_ctor_runs;
__attribute__((visibility("default"))) int dlalloc_dtor_runs;

static atomic_int stop;
static atomic_ulong bg_ops, bg_bad;

static void *background(void *arg)
{
	(void)arg;
	uint64_t x = 88172645463325252ULL;
	void *keep[32] = { 0 };
	size_t keep_size[32] = { 0 };
	while (!atomic_load(&stop)) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		unsigned slot = (unsigned)(x % 32);
		if (keep[slot]) {
			if (!pattern_check(keep[slot], keep_size[slot]))
				atomic_fetch_add(&bg_bad, 1);
			free(keep[slot]);
		}
		keep_size[slot] = 1 + (size_t)(x >> 40) % 20000;
		keep[slot] = malloc(keep_size[slot]);
		if (!keep[slot]) {
			atomic_fetch_add(&bg_bad, 1);
			continue;
		}
		pattern_fill(keep[slot], keep_size[slot]);
		atomic_fetch_add(&bg_ops, 1);
	}
	for (int i = 0; i < 32; i++)
		free(keep[i]);
	return NULL;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_REQUIRE_BUDDYSLAB();
	int rounds = argc > 1 ? atoi(argv[1]) : 300;

	char path[PATH_MAX];
	const char *env = getenv("DLALLOC_MODULE");
	if (env) {
		snprintf(path, sizeof(path), "%s", env);
	} else {
		char self[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n <= 0) {
			CHECK("dlopen-find-module", 0);
			return CHECK_DONE();
		}
		self[n] = '\0';
		snprintf(path, sizeof(path), "%s/.libs/libdlalloc.so", dirname(self));
	}

	pthread_t bg;
	int created = pthread_create(&bg, NULL, background, NULL) == 0;
	int open_fail = 0, sym_fail = 0, close_fail = 0, handed_bad = 0;
	size_t rss_early = 0, rss_late = 0;
	for (int i = 0; i < rounds; i++) {
		void *h = dlopen(path, RTLD_NOW | (i % 2 ? RTLD_GLOBAL : RTLD_LOCAL));
		if (!h) {
			if (open_fail++ == 0)
				printf("      dlopen(%s): %s\n", path, dlerror());
			continue;
		}
		void *(*use)(unsigned) = (void *(*)(unsigned))dlsym(h, "dlalloc_use");
		void *handed = NULL;
		if (!use)
			sym_fail++;
		else
			handed = use((unsigned)i);
		if (dlclose(h) != 0)
			close_fail++;
		/* the module is gone; its block lives on */
		size_t len = 64 + (unsigned)i % 5000;
		if (!handed || !all_bytes(handed, len, 0x42) || buddyslab_owns(handed) != 1)
			handed_bad++;
		free(handed);
		/* the peak of an early window against the peak of the last
		 * one: free memory the allocator keeps (up to its high
		 * watermark) makes single samples swing by more than a leak
		 * of the test's size would add */
		if (i >= rounds / 10 && i < rounds / 5) {
			size_t r = proc_rss_bytes();
			if (r > rss_early)
				rss_early = r;
		}
		if (i >= rounds - rounds / 10) {
			size_t r = proc_rss_bytes();
			if (r > rss_late)
				rss_late = r;
		}
	}
	atomic_store(&stop, 1);
	if (created)
		pthread_join(bg, NULL);

	printf("dlopen: %d rounds: constructor ran %d times, destructor %d times, %d module "
	       "failures; %lu background ops; RSS at most %.1f MiB in rounds %d-%d, at most %.1f MiB "
	       "in the last %d\n", rounds, dlalloc_ctor_runs, dlalloc_dtor_runs, dlalloc_failures,
	       (unsigned long)bg_ops, (double)rss_early / MiB, rounds / 10, rounds / 5 - 1,
	       (double)rss_late / MiB, rounds / 10);
	CHECK("dlopen-background-thread", created);
	CHECK("dlopen-open", open_fail == 0);
	CHECK("dlopen-dlsym", sym_fail == 0);
	CHECK("dlopen-dlclose", close_fail == 0);
	CHECK("dlopen-constructor-ran", dlalloc_ctor_runs == rounds);
	CHECKF("dlopen-unloaded", dlalloc_dtor_runs == rounds,
	       "destructor ran %d times for %d loads", dlalloc_dtor_runs, rounds);
	CHECKF("dlopen-module-ok", dlalloc_failures == 0, "%d failures in the module",
	       dlalloc_failures);
	CHECK("dlopen-handed-blocks-intact", handed_bad == 0);
	CHECK("dlopen-background-ok", bg_bad == 0 && bg_ops > 0);
	CHECKF("dlopen-rss-flat", rss_late <= rss_early + 16 * MiB,
	       "RSS grew from %.1f to %.1f MiB", (double)rss_early / MiB, (double)rss_late / MiB);
	return CHECK_DONE();
}
