/*
 * test_poison.c - BUDDYSLAB_OPTIONS=poison=1 (slab.c, "poisoning"): free
 * small blocks hold 0x6b past their first 16 bytes, new ones are handed out
 * full of 0x5a, and a block written after it was freed is reported when it
 * is handed out again, whichever thread freed it and whichever call takes
 * it; so is a write into its first 16 bytes (free pointer, double-free
 * key), before the allocator follows the pointer: NULL, a live block, a
 * loop on a remote list. Also: no false report from vacated pages (none are
 * vacated), cross-thread frees, or ordinary churn; double frees still
 * caught.
 *
 * Run: linked with -lbuddyslab. The options are read once, at start-up, so
 * the test runs itself again with BUDDYSLAB_OPTIONS=poison=1 when that is
 * not what it was started with.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "death.h"

static void test_fill(void)
{
	unsigned char *p = malloc(opaque(100));
	CHECKF("new-block-0x5a", p && all_bytes(p, malloc_usable_size(p), 0x5a),
	       "first bytes %02x %02x %02x", p ? p[0] : 0, p ? p[1] : 0, p ? p[50] : 0);
	memset(p, 1, 100);
	free(p);
	/* free poisons past the free pointer and the key */
	CHECK("freed-block-0x6b", all_bytes(p + 16, 112 - 16, 0x6b));
	unsigned char *q = malloc(opaque(100));
	CHECK("same-block-again", q == p);
	CHECK("again-0x5a", all_bytes(q, 100, 0x5a));
	free(q);

	unsigned char *z = calloc(opaque(25), 4);
	CHECK("calloc-zero", z && all_bytes(z, 100, 0));
	memset(z, 7, 100);
	unsigned char *r = realloc(z, opaque(1000));
	CHECK("realloc-kept", r && all_bytes(r, 100, 7));
	free(r);

	void *a = NULL;
	CHECK("posix_memalign", posix_memalign(&a, 64, opaque(200)) == 0 && ((uintptr_t)a & 63) == 0 &&
					all_bytes(a, 200, 0x5a));
	free(a);
}

/* ---- writes after free, reported at the next allocation ------------------- */

/* hand_out - malloc @n blocks of @size, kept: enough for a freed block of
 * the class to be handed out again (and, in a death test, reported) */
static void hand_out(size_t size, int n)
{
	for (int i = 0; i < n; i++)
		escape(malloc(opaque(size)));
}

static void write_after_free(void)
{
	unsigned char *p = malloc(opaque(100));
	free(p);
	expect(p);
	p[40] = 1;
	hand_out(100, 100000);
}

static void write_after_free_last_byte(void)
{
	unsigned char *p = malloc(opaque(2000)); /* class 2048 */
	free(p);
	expect(p);
	p[2047] = 0;
	hand_out(2000, 10000);
}

static void write_after_free_aligned(void)
{
	unsigned char *p = malloc(opaque(120)); /* class 128: aligned to 64 */
	free(p);
	expect(p);
	p[100] = 0x6a;
	for (int i = 0; i < 100000; i++) {
		void *a;
		if (posix_memalign(&a, 64, opaque(120)) != 0)
			_exit(4);
		escape(a);
	}
}

/* the first 16 bytes: the free pointer (checked before the allocator
 * follows it) and the double-free key */
static void write_free_pointer_after_free(void)
{
	long *p = malloc(opaque(96));
	free(p);
	expect(p);
	p[0] = 1; /* a refcount, say */
	hand_out(96, 100000);
}

static void write_key_after_free(void)
{
	long *p = malloc(opaque(96));
	free(p);
	expect(p);
	p[1] = 7;
	hand_out(96, 100000);
}

/* p->next = NULL: the list would end early, losing the free blocks after */
static void write_null_free_pointer_after_free(void)
{
	void **blocks[8];
	for (int i = 0; i < 8; i++)
		blocks[i] = malloc(opaque(96));
	for (int i = 0; i < 8; i++)
		free(blocks[i]);
	expect(blocks[7]); /* the list's head: the last freed */
	blocks[7][0] = NULL;
	hand_out(96, 100000);
}

/* p->next = a live block: the allocator would hand that block out twice */
static void write_live_pointer_after_free(void)
{
	void **live = malloc(opaque(96));
	void **p = malloc(opaque(96));
	void **q = malloc(opaque(96));
	free(q);
	free(p);
	expect(p);
	p[0] = live;
	hand_out(96, 100000);
}

static void **remote_a, **remote_b;

static void *free_both(void *arg)
{
	(void)arg;
	free(remote_a);
	free(remote_b); /* the remote list: b -> a */
	return NULL;
}

/* a->next = b on another thread's remote list makes a loop */
static void write_loop_on_remote_list(void)
{
	remote_a = malloc(opaque(96));
	remote_b = malloc(opaque(96));
	free(malloc(opaque(96))); /* the owner's freelist is not empty */
	pthread_t t;
	if (pthread_create(&t, NULL, free_both, NULL) != 0 || pthread_join(t, NULL) != 0)
		_exit(4);
	expect(remote_a);
	remote_a[0] = remote_b;
	hand_out(96, 100000);
}

static void *free_it(void *p)
{
	free(p);
	return NULL;
}

static void write_after_remote_free(void)
{
	unsigned char *p = malloc(opaque(300));
	pthread_t t;
	if (pthread_create(&t, NULL, free_it, p) != 0 || pthread_join(t, NULL) != 0)
		_exit(4);
	expect(p);
	p[299] = 0;
	/* the owner takes the block back when its active slab runs dry */
	hand_out(300, 200000);
}

static void double_free(void)
{
	void *p = malloc(opaque(64));
	free(p);
	expect(p);
	free(p);
}

static void test_reports(void)
{
	static const char *const uaf[] = { "buddyslab: malloc(): block 0x", NULL };
	death("write-after-free", write_after_free, uaf);
	death("write-after-free-last-byte", write_after_free_last_byte, uaf);
	static const char *const uaf_aligned[] = { "buddyslab: posix_memalign(): block 0x", NULL };
	death("write-after-free-aligned", write_after_free_aligned, uaf_aligned);
	death("write-after-remote-free", write_after_remote_free, uaf);
	death("write-free-pointer-after-free", write_free_pointer_after_free, uaf);
	death("write-key-after-free", write_key_after_free, uaf);
	death("write-null-free-pointer", write_null_free_pointer_after_free, uaf);
	death("write-live-pointer", write_live_pointer_after_free, uaf);
	static const char *const loop[] = { "buddyslab: block 0x", NULL };
	death("write-loop-on-remote-list", write_loop_on_remote_list, loop);
	static const char *const dbl[] = { "buddyslab: free(): double free detected 0x", NULL };
	death("double-free", double_free, dbl);
}

/* ---- no false reports -------------------------------------------------------- */

/* Partly used slabs of a big class, then malloc_trim: without poison their
 * free pages would be vacated and come back zeroed. */
static void test_trim_big_class(void)
{
	enum { N = 2000 };
	static unsigned char *blocks[N];
	for (int i = 0; i < N; i++)
		blocks[i] = malloc(opaque(3000));
	for (int i = 0; i < N; i += 2) {
		free(blocks[i]);
		blocks[i] = NULL;
	}
	malloc_trim(0);
	int ok = 1;
	for (int i = 0; i < N; i += 2) {
		blocks[i] = malloc(opaque(3000));
		ok &= blocks[i] && all_bytes(blocks[i], 3000, 0x5a);
	}
	CHECK("trim-then-reuse-poisoned", ok);
	for (int i = 0; i < N; i++)
		free(blocks[i]);
}

enum { THREADS = 4, ROUNDS = 200, PER_ROUND = 500 };
static void *_Atomic mailbox[THREADS][PER_ROUND];

/* each thread allocates, stamps and posts blocks, and frees (after
 * checking) the ones its neighbour posted */
static void *churn(void *arg)
{
	long t = (long)arg;
	long bad = 0;
	for (int round = 0; round < ROUNDS; round++) {
		for (int i = 0; i < PER_ROUND; i++) {
			size_t n = 16 + (size_t)((i * 37 + round) % 1500);
			unsigned char *p = malloc(n);
			if (!p || !all_bytes(p, n, 0x5a))
				bad++;
			memset(p, (int)t + 1, n);
			unsigned char *old = atomic_exchange(&mailbox[t][i], p);
			if (old)
				free(old); /* our own, not taken */
		}
		long from = (t + 1) % THREADS;
		for (int i = 0; i < PER_ROUND; i++) {
			unsigned char *p = atomic_exchange(&mailbox[from][i], NULL);
			if (p) {
				if (p[0] != from + 1)
					bad++;
				free(p);
			}
		}
	}
	return (void *)bad;
}

static void test_threads(void)
{
	pthread_t th[THREADS];
	long bad = 0;
	for (long t = 0; t < THREADS; t++)
		pthread_create(&th[t], NULL, churn, (void *)t);
	for (int t = 0; t < THREADS; t++) {
		void *r;
		pthread_join(th[t], &r);
		bad += (long)r;
	}
	CHECKF("threads-cross-frees", bad == 0, "%ld blocks not 0x5a or not stamped", bad);
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < PER_ROUND; i++)
			free(atomic_exchange(&mailbox[t][i], NULL));
}

int main(int argc, char **argv)
{
	(void)argc;
	check_run_with_options(argv, "poison=1");
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_REQUIRE_BUDDYSLAB();

	test_fill();
	test_reports();
	test_trim_big_class();
	test_threads();
	return CHECK_DONE();
}
