/*
 * atfork_lib.c - a library, linked to atfork_main, whose constructor
 * registers fork handlers that allocate and free, as libraries do (a
 * library linked to the program is initialised before a preloaded
 * buddyslab, so its handlers are older than buddyslab's: glibc runs its
 * prepare handler after buddyslab's took every lock, and its parent and
 * child handlers before buddyslab's let go of them).
 *
 * ATFORK_HANDLERS names the handlers that allocate: any of "prepare",
 * "parent", "child" (default all three). Each allocates blocks of every
 * route -- 4096 small ones, a page block of 300 KiB, a mapped block of
 * 2 MiB -- writes them and frees them.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static int use_prepare, use_parent, use_child;
/* the handlers that ran and allocated, read by atfork_main */
int atfork_calls_prepare, atfork_calls_parent, atfork_calls_child;

static void churn(void)
{
	static char *small[4096];
	for (int i = 0; i < 4096; i++) {
		small[i] = malloc(64);
		if (small[i])
			memset(small[i], i, 64);
	}
	char *page = malloc(300 << 10), *mapped = malloc(2 << 20);
	if (page)
		memset(page, 1, 300 << 10);
	if (mapped)
		memset(mapped, 2, 2 << 20);
	free(mapped);
	free(page);
	for (int i = 0; i < 4096; i++)
		free(small[i]);
}

static void on_prepare(void)
{
	if (use_prepare) {
		churn();
		atfork_calls_prepare++;
	}
}
static void on_parent(void)
{
	if (use_parent) {
		churn();
		atfork_calls_parent++;
	}
}
static void on_child(void)
{
	if (use_child) {
		churn();
		atfork_calls_child++;
	}
}

__attribute__((constructor)) static void atfork_lib_init(void)
{
	const char *which = getenv("ATFORK_HANDLERS");
	if (!which)
		which = "prepare,parent,child";
	use_prepare = strstr(which, "prepare") != NULL;
	use_parent = strstr(which, "parent") != NULL;
	use_child = strstr(which, "child") != NULL;
	pthread_atfork(on_prepare, on_parent, on_child);
}
