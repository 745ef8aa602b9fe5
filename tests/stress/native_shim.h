/*
 * native_shim.h - compile a test written against the malloc API so that it
 * calls buddyslab's internal entry points instead (bs_malloc, bs_free,
 * bs_realloc, buddyslab_drain for malloc_trim), for the ThreadSanitizer build: TSan owns malloc itself, so
 * the allocator must be reached by its own names from a program linked with
 * libbuddyslab_test (no interposition).
 *
 * Used with -include (tests/stress/test_threads_native is
 * tests/api/test_threads.c built so). The system headers come first, then
 * the names are redirected: the test's own #includes of them are no-ops.
 */
#ifndef BUDDYSLAB_TESTS_NATIVE_SHIM_H
#define BUDDYSLAB_TESTS_NATIVE_SHIM_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static inline __attribute__((unused)) void *native_calloc(size_t n, size_t m)
{
	size_t total;
	if (__builtin_mul_overflow(n, m, &total))
		return NULL;
	void *p = bs_malloc(total);
	if (p)
		memset(p, 0, total);
	return p;
}

#define malloc(n) bs_malloc(n)
#define free(p) bs_free(p)
#define realloc(p, n) bs_realloc((p), (n))
/* malloc_trim: what buddyslab's does */
static inline __attribute__((unused)) int native_malloc_trim(size_t pad)
{
	(void)pad;
	buddyslab_drain();
	return 1;
}

#define calloc(n, m) native_calloc((n), (m))
#define malloc_trim(pad) native_malloc_trim(pad)

#endif /* BUDDYSLAB_TESTS_NATIVE_SHIM_H */
