/*
 * test_threads.c - many threads allocating, sharing and freeing.
 *
 * THREADS threads (more than the cores) run in ROUNDS rounds; each thread
 * allocates OPS blocks of seeded random sizes (8 B .. 1 MiB, a few 8 MiB),
 * fills each with a payload derived from its address and size, keeps half
 * and hands the other half to a shared mutex-protected queue, from which
 * every thread takes blocks to free: cross-thread frees. A thread's blocks
 * still live when it exits go to the queue too, so objects outlive the
 * threads that allocated them and are freed by the next round's threads (or
 * by main at the end). Every payload is verified before its free.
 *
 * Then threads whose exit destructors allocate, after the library's own
 * thread-exit work ran; threads that only free (the end of a pipeline),
 * which get a heap of their own after HEAP_AFTER_FREES frees (64), and
 * none for a few frees; and a thread that sits idle while main frees the
 * 32 MiB it allocated, which malloc_trim gives back.
 *
 * Usage: test_threads [THREADS [ROUNDS [OPS]]]  (defaults 8 4 20000)
 * Not a benchmark.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define MiB (1UL << 20)
#define LOCAL_SLOTS 512
#define QUEUE_CAP (1u << 15)

struct item {
	void *p;
	size_t size;
	unsigned serial; /* round * threads + index of the allocating thread */
};

/* The shared queue: a ring under one mutex. */
static struct {
	pthread_mutex_t lock;
	struct item ring[QUEUE_CAP];
	unsigned head, count;
} queue = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int nthreads = 8, nrounds = 4, nops = 20000;

/* Totals, summed from the threads. */
static _Atomic unsigned long st_allocs, st_bytes, st_nulls, st_unowned, st_corrupt,
	st_local_frees, st_cross_frees, st_own_queue_frees, st_outlived, st_big, st_reallocs;

static int queue_push(const struct item *it)
{
	int ok = 0;
	pthread_mutex_lock(&queue.lock);
	if (queue.count < QUEUE_CAP) {
		queue.ring[(queue.head + queue.count) % QUEUE_CAP] = *it;
		queue.count++;
		ok = 1;
	}
	pthread_mutex_unlock(&queue.lock);
	return ok;
}

static int queue_pop(struct item *it)
{
	int ok = 0;
	pthread_mutex_lock(&queue.lock);
	if (queue.count > 0) {
		*it = queue.ring[queue.head];
		queue.head = (queue.head + 1) % QUEUE_CAP;
		queue.count--;
		ok = 1;
	}
	pthread_mutex_unlock(&queue.lock);
	return ok;
}

/* A size between lo and hi, log-uniform (many small, few large). */
static size_t log_uniform(uint64_t *rng, size_t lo, size_t hi)
{
	unsigned lo_bits = 63 - (unsigned)__builtin_clzl(lo);
	unsigned hi_bits = 63 - (unsigned)__builtin_clzl(hi);
	unsigned bits = lo_bits + (unsigned)(xorshift64(rng) % (hi_bits - lo_bits + 1));
	size_t base = (size_t)1 << bits;
	size_t size = base + (size_t)(xorshift64(rng) % base);
	return size < lo ? lo : size > hi ? hi : size;
}

struct worker {
	pthread_t thread;
	unsigned serial;
	unsigned round;
	uint64_t rng;
};

static void verify_and_free(const struct item *it, unsigned my_serial)
{
	if (!pattern_check(it->p, it->size)) {
		atomic_fetch_add(&st_corrupt, 1);
		printf("      corrupted block %p size %zu (allocated by thread #%u, freed by #%u)\n",
		       it->p, it->size, it->serial, my_serial);
	}
	free(it->p);
	if (it->serial != my_serial)
		atomic_fetch_add(&st_cross_frees, 1);
	else
		atomic_fetch_add(&st_own_queue_frees, 1);
	if (it->serial / (unsigned)nthreads != my_serial / (unsigned)nthreads)
		atomic_fetch_add(&st_outlived, 1);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct item local[LOCAL_SLOTS];
	unsigned long allocs = 0, bytes = 0, nulls = 0, unowned = 0, local_frees = 0,
		      corrupt = 0, big = 0, reallocs = 0;

	memset(local, 0, sizeof(local));
	for (int op = 0; op < nops; op++) {
		size_t size;
		unsigned kind = (unsigned)(xorshift64(&w->rng) % 1000);
		if (op % 10000 == 9999) {
			size = 8 * MiB + (size_t)(xorshift64(&w->rng) % 4096);
			big++;
		} else if (kind < 850) {
			size = log_uniform(&w->rng, 8, 512);
		} else if (kind < 995) {
			size = log_uniform(&w->rng, 513, 64 * 1024);
		} else {
			size = log_uniform(&w->rng, 64 * 1024, MiB);
		}

		char *p = malloc(size);
		allocs++;
		if (!p) {
			nulls++;
			continue;
		}
		if (buddyslab_owns(p) != 1)
			unowned++;
		bytes += size;
		pattern_fill(p, size);
		struct item it = { p, size, w->serial };

		if ((xorshift64(&w->rng) & 1) && queue_push(&it)) {
			/* handed to whichever thread pops it */
		} else {
			struct item *slot = &local[xorshift64(&w->rng) % LOCAL_SLOTS];
			if (slot->p) {
				if (xorshift64(&w->rng) % 32 == 0) {
					/* realloc the old block instead of freeing it */
					size_t keep = slot->size < size ? slot->size : size;
					uint64_t seed = pattern_seed(slot->p, slot->size);
					char *q = realloc(slot->p, size);
					if (q && pattern_check_seed(q, keep, seed) != keep)
						corrupt++;
					if (q) {
						pattern_fill(q, size);
						struct item moved = { q, size, w->serial };
						if (!queue_push(&moved)) {
							free(q);
							local_frees++;
						}
						reallocs++;
					} else {
						nulls++;
					}
				} else {
					if (!pattern_check(slot->p, slot->size)) {
						corrupt++;
						printf("      corrupted local block %p size %zu\n",
						       slot->p, slot->size);
					}
					free(slot->p);
					local_frees++;
				}
			}
			*slot = it;
		}

		/* Free some of what others handed over. */
		if (op % 4 == 0) {
			struct item got;
			for (int k = 0; k < 2 && queue_pop(&got); k++)
				verify_and_free(&got, w->serial);
		}
	}
	/* What is still live outlives this thread. */
	for (int i = 0; i < LOCAL_SLOTS; i++) {
		if (!local[i].p)
			continue;
		if (!queue_push(&local[i])) {
			if (!pattern_check(local[i].p, local[i].size))
				corrupt++;
			free(local[i].p);
			local_frees++;
		}
	}
	atomic_fetch_add(&st_allocs, allocs);
	atomic_fetch_add(&st_bytes, bytes);
	atomic_fetch_add(&st_nulls, nulls);
	atomic_fetch_add(&st_unowned, unowned);
	atomic_fetch_add(&st_local_frees, local_frees);
	atomic_fetch_add(&st_corrupt, corrupt);
	atomic_fetch_add(&st_big, big);
	atomic_fetch_add(&st_reallocs, reallocs);
	return NULL;
}

/* ---- allocation in thread-exit destructors ----------------------------------
 * A pthread key destructor that runs after the library's own thread-exit
 * work (it re-arms itself, so it also runs in later destructor passes) still
 * allocates, frees, and hands blocks to main. */

#define DTOR_THREADS 50
#define DTOR_PASSES 3
static pthread_key_t dtor_key;
static struct item dtor_blocks[DTOR_THREADS][DTOR_PASSES];
static _Atomic unsigned long dtor_bad, dtor_runs;

/* The key's value: never NULL (a NULL value runs no destructor). */
static void *dtor_value(unsigned pass, unsigned idx)
{
	return (void *)(uintptr_t)((1u << 24) | (pass << 16) | idx);
}

static void exit_dtor(void *arg)
{
	unsigned pass = (unsigned)((uintptr_t)arg >> 16) & 0xff;
	unsigned idx = (unsigned)((uintptr_t)arg & 0xffff);
	atomic_fetch_add(&dtor_runs, 1);
	static const size_t sizes[] = { 16, 200, 3000, 20000, 300000, 5 * MiB };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *p = malloc(sizes[i]);
		if (!p || buddyslab_owns(p) != 1) {
			atomic_fetch_add(&dtor_bad, 1);
			continue;
		}
		pattern_fill(p, sizes[i]);
		if (!pattern_check(p, sizes[i]))
			atomic_fetch_add(&dtor_bad, 1);
		free(p);
	}
	size_t size = 64 + (size_t)idx * 37 + pass * 1000;
	void *keep = malloc(size);
	if (keep)
		pattern_fill(keep, size);
	else
		atomic_fetch_add(&dtor_bad, 1);
	dtor_blocks[idx][pass] = (struct item){ keep, size, idx };
	if (pass + 1 < DTOR_PASSES)
		pthread_setspecific(dtor_key, dtor_value(pass + 1, idx));
}

static void *dtor_thread(void *arg)
{
	/* Allocate first, so that the library's per-thread state exists. */
	void *p = malloc(100);
	free(p);
	pthread_setspecific(dtor_key, dtor_value(0, (unsigned)(uintptr_t)arg));
	return NULL;
}

static void test_exit_destructors(void)
{
	pthread_key_create(&dtor_key, exit_dtor);
	for (unsigned i = 0; i < DTOR_THREADS; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, dtor_thread, (void *)(uintptr_t)i) != 0) {
			atomic_fetch_add(&dtor_bad, 1);
			continue;
		}
		pthread_join(t, NULL);
	}
	unsigned long bad_kept = 0;
	for (unsigned i = 0; i < DTOR_THREADS; i++)
		for (unsigned k = 0; k < DTOR_PASSES; k++) {
			struct item *it = &dtor_blocks[i][k];
			if (!it->p)
				continue;
			if (!pattern_check(it->p, it->size) || buddyslab_owns(it->p) != 1)
				bad_kept++;
			free(it->p);
		}
	CHECKF("threads-exit-destructor-runs", dtor_runs == DTOR_THREADS * DTOR_PASSES,
	       "%lu destructor runs", (unsigned long)dtor_runs);
	CHECKF("threads-exit-destructor-allocates", dtor_bad == 0,
	       "%lu failed allocations in thread-exit destructors", (unsigned long)dtor_bad);
	CHECKF("threads-exit-destructor-blocks-intact", bad_kept == 0,
	       "%lu blocks allocated in destructors were corrupted or lost", bad_kept);
}

/* ---- allocation in the last round of key destructors ---------------------
 * glibc runs key destructors in up to four rounds. One that allocates in
 * every round, after buddyslab's own destructor gave the thread's heap up
 * (buddyslab's key is older: its destructor runs first in each round),
 * gets a heap again; after the fourth round nothing gives it up. Such a
 * late heap must serve a later thread once its own is gone: before, each
 * thread left one behind (about 130 KiB; 100 threads, 13 MiB in use). */

#define LAST_ROUND_THREADS 100
static pthread_key_t last_round_key;
static _Atomic unsigned long last_round_allocs;

static void last_round_dtor(void *arg)
{
	unsigned long round = (unsigned long)(uintptr_t)arg;
	char *volatile p = malloc(64);
	if (p) {
		p[0] = 1;
		atomic_fetch_add(&last_round_allocs, 1);
	}
	free(p);
	if (round < 4) /* PTHREAD_DESTRUCTOR_ITERATIONS: the fourth is the last */
		pthread_setspecific(last_round_key, (void *)(uintptr_t)(round + 1));
}

static void *last_round_thread(void *arg)
{
	(void)arg;
	free(malloc(100));
	pthread_setspecific(last_round_key, (void *)(uintptr_t)1);
	return NULL;
}

static void test_last_round_destructors(void)
{
	pthread_key_create(&last_round_key, last_round_dtor);
	size_t before = 0;
	for (unsigned i = 0; i < LAST_ROUND_THREADS; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, last_round_thread, NULL) != 0)
			break;
		pthread_join(t, NULL);
		if (i == 9)
			before = mallinfo2().uordblks; /* ten threads in: steady */
	}
	size_t after = mallinfo2().uordblks;
	CHECKF("threads-last-round-destructor-allocates",
	       last_round_allocs == 4 * LAST_ROUND_THREADS, "%lu allocations in %u threads' 4 rounds",
	       (unsigned long)last_round_allocs, LAST_ROUND_THREADS);
	CHECKF("threads-last-round-heaps-reused", after < before + 2 * MiB,
	       "in use %zu KiB after 10 threads, %zu KiB after %u", before >> 10, after >> 10,
	       LAST_ROUND_THREADS);
	pthread_key_delete(last_round_key);
}

/* ---- threads that make only blocks of 256 KiB-1 MiB, or 1-4 MiB --------------
 * malloc takes the first from the zone whether or not the thread has a
 * heap, so these threads never make one. Each is a whole buddy block:
 * aligned to the power of two of its size. The second are mapped blocks,
 * aligned to 4 MiB, which the threads pass to each other through the hot
 * mapping and the cache of freed mappings (vmalloc.c). Half of each
 * thread's last blocks are freed by main. The threads contend for the zone
 * lock or the cache's: a malloc or free that succeeds must leave errno
 * alone even when it waited for the lock. */

#define ZONE_THREADS 4
#define ZONE_ROUNDS 3000
#define ZONE_LIVE 8
static struct item zone_left[ZONE_THREADS][ZONE_LIVE];
static _Atomic unsigned long zone_bad, zone_errno_changed;
/* the sizes of this run: zone_min + [0, zone_span); mapped ones are aligned
 * to 4 MiB rather than to their power of two */
static size_t zone_min, zone_span;
static int zone_mapped;

static int zone_block_ok(char *p, size_t size, unsigned tag)
{
	return p[0] == (char)tag && p[size / 2] == (char)(tag + 1) && p[size - 1] == (char)(tag + 2);
}

static void *zone_block_thread(void *arg)
{
	unsigned idx = (unsigned)(uintptr_t)arg;
	uint64_t rng = 0x9e3779b97f4a7c15ULL * (idx + 1) | 1;
	struct item *live = zone_left[idx];
	unsigned long bad = 0, errno_changed = 0;
	for (unsigned r = 0; r < ZONE_ROUNDS; r++) {
		struct item *it = &live[r % ZONE_LIVE];
		if (it->p) {
			bad += !zone_block_ok(it->p, it->size, it->serial);
			errno = 0;
			free(it->p);
			errno_changed += errno != 0;
		}
		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		size_t size = zone_min + (size_t)(rng >> 33) % zone_span;
		size_t block = 1;
		while (block < size)
			block <<= 1;
		if (zone_mapped)
			block = 4 * MiB;
		errno = 0;
		char *p = malloc(size);
		errno_changed += p && errno != 0;
		if (!p || ((uintptr_t)p & (block - 1)) != 0 || buddyslab_owns(p) != 1) {
			bad++;
			*it = (struct item){ 0 };
			continue;
		}
		p[0] = (char)r;
		p[size / 2] = (char)(r + 1);
		p[size - 1] = (char)(r + 2);
		*it = (struct item){ p, size, r };
	}
	/* keep the even slots for main */
	for (unsigned k = 1; k < ZONE_LIVE; k += 2) {
		struct item *it = &live[k];
		if (it->p) {
			bad += !zone_block_ok(it->p, it->size, it->serial);
			free(it->p);
			it->p = NULL;
		}
	}
	atomic_fetch_add(&zone_bad, bad);
	atomic_fetch_add(&zone_errno_changed, errno_changed);
	return NULL;
}

static void test_block_threads(const char *what, size_t min, size_t span, int mapped)
{
	zone_min = min;
	zone_span = span;
	zone_mapped = mapped;
	zone_bad = 0;
	zone_errno_changed = 0;
	memset(zone_left, 0, sizeof(zone_left));
	pthread_t t[ZONE_THREADS];
	int ran[ZONE_THREADS], created = 1;
	for (unsigned i = 0; i < ZONE_THREADS; i++) {
		ran[i] = pthread_create(&t[i], NULL, zone_block_thread, (void *)(uintptr_t)i) == 0;
		created &= ran[i];
	}
	for (unsigned i = 0; i < ZONE_THREADS; i++)
		if (ran[i])
			pthread_join(t[i], NULL);
	unsigned long freed_by_main = 0;
	for (unsigned i = 0; i < ZONE_THREADS && created; i++)
		for (unsigned k = 0; k < ZONE_LIVE; k++) {
			struct item *it = &zone_left[i][k];
			if (!it->p)
				continue;
			if (!zone_block_ok(it->p, it->size, it->serial))
				zone_bad++;
			free(it->p);
			freed_by_main++;
		}
	char name[80];
	snprintf(name, sizeof(name), "threads-%s-created", what);
	CHECK(name, created);
	snprintf(name, sizeof(name), "threads-%s-whole-and-intact", what);
	CHECKF(name, zone_bad == 0,
	       "%lu blocks of %zu-%zu bytes NULL, misaligned, not owned or corrupted",
	       (unsigned long)zone_bad, min, min + span - 1);
	snprintf(name, sizeof(name), "threads-%s-errno-kept", what);
	CHECKF(name, zone_errno_changed == 0, "%lu successful mallocs or frees changed errno",
	       (unsigned long)zone_errno_changed);
	snprintf(name, sizeof(name), "threads-%s-freed-by-main", what);
	CHECKF(name, freed_by_main == ZONE_THREADS * ZONE_LIVE / 2, "main freed %lu",
	       freed_by_main);
}

/* ---- threads that only free ------------------------------------------------
 * Main allocates blocks (objects of 200 B and 16 KiB page blocks) and
 * threads that never allocate free them. One frees thousands: it must have
 * a heap of its own by the end (the per-thread page caches report lists it
 * as active, under its tid), so that its frees went into bins and runs of
 * them home, not one remote free each. One frees 16, below the 64 after
 * which a thread gets a heap: it must have none. Every payload is checked
 * before its free, and after the threads exit and a drain, the class of
 * the 200-byte objects holds as many objects in use as before. */

#define HEAP_FREES_BEFORE 64 /* src/internal.h HEAP_AFTER_FREES */
#define FREE_ONLY_OBJS 4000
#define FREE_ONLY_BLOCKS 64
#define FREE_ONLY_FEW 16
static struct item free_only_objs[FREE_ONLY_OBJS], free_only_blocks[FREE_ONLY_BLOCKS];
static _Atomic unsigned long free_only_bad;
static _Atomic int free_only_heap_many = -1, free_only_heap_few = -1;

/* report_has_heap - does the per-thread page cache report list an active
 * heap of thread @tid? -1 if the report could not be read. */
static int report_has_heap(pid_t tid)
{
	static char buf[1 << 16];
	if (!report_read(BUDDYSLAB_REPORT_PCP, buf, sizeof(buf)))
		return -1;
	char want[64];
	snprintf(want, sizeof(want), " tid %-7d active ", (int)tid);
	return strstr(buf, want) != NULL;
}

/* free_only_make - @n blocks of @size into @items, their ends stamped as
 * free_only_one checks them; 0 if a malloc failed */
static int free_only_make(struct item *items, unsigned n, size_t size)
{
	int made = 1;
	for (unsigned i = 0; i < n; i++) {
		unsigned char *p = malloc(size);
		made &= p != NULL;
		if (p) {
			p[0] = (unsigned char)i;
			p[size - 1] = (unsigned char)(i + 1);
		}
		items[i] = (struct item){ p, size, i };
	}
	return made;
}

static void free_only_one(struct item *it)
{
	unsigned char *p = it->p;
	if (p[0] != (unsigned char)it->serial || p[it->size - 1] != (unsigned char)(it->serial + 1))
		free_only_bad++;
	free(p);
}

static void *free_only_many(void *arg)
{
	(void)arg;
	for (unsigned i = FREE_ONLY_FEW; i < FREE_ONLY_OBJS; i++)
		free_only_one(&free_only_objs[i]);
	for (unsigned i = 0; i < FREE_ONLY_BLOCKS; i++)
		free_only_one(&free_only_blocks[i]);
	free_only_heap_many = report_has_heap((pid_t)syscall(SYS_gettid));
	return NULL;
}

static void *free_only_few(void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < FREE_ONLY_FEW; i++)
		free_only_one(&free_only_objs[i]);
	free_only_heap_few = report_has_heap((pid_t)syscall(SYS_gettid));
	return NULL;
}

/* in_use_200 - the objects in use of the kmalloc class that holds 200
 * bytes (slabinfo's active_objs of the smallest class of 200 bytes or
 * more), or -1 */
static long in_use_200(void)
{
	static char buf[1 << 16];
	if (!report_read(BUDDYSLAB_REPORT_SLABINFO, buf, sizeof(buf)))
		return -1;
	long best_size = -1, best_active = -1; /* the smallest class of 200 B or more */
	for (char *line = buf; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		char name[64];
		long active, total, size;
		if (sscanf(line, "%63s %ld %ld %ld", name, &active, &total, &size) == 4 &&
		    strncmp(name, "kmalloc-", 8) == 0 && size >= 200 &&
		    (best_size < 0 || size < best_size)) {
			best_size = size;
			best_active = active;
		}
	}
	return best_active;
}

/* A thread without a heap whose 64th free comes from inside buddyslab,
 * under heap_lock: kmem_cache_destroy frees the cache's descriptor in an
 * abandoned heap while it holds that lock (heap_reclaim_abandoned). The
 * free must not try to make the thread a heap then (it would wait for the
 * lock it holds): it must return, and the thread finish. */
static struct kmem_cache *destroy_cache;
static void *destroy_objs[HEAP_FREES_BEFORE - 1];
static _Atomic int destroy_done;

static void *destroy_user(void *arg)
{
	(void)arg;
	kmem_cache_free(destroy_cache, kmem_cache_alloc(destroy_cache, 0));
	return NULL;
}

static void *destroy_freer(void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < HEAP_FREES_BEFORE - 1; i++)
		free(destroy_objs[i]);
	kmem_cache_destroy(destroy_cache); /* frees the abandoned heap's descriptor */
	destroy_done = 1;
	return NULL;
}

static void test_free_in_destroy(void)
{
	destroy_cache = kmem_cache_create("free-in-destroy", 100, 0, 0, NULL);
	pthread_t t;
	if (!CHECK("threads-destroy-create", destroy_cache && pthread_create(&t, NULL, destroy_user,
									    NULL) == 0))
		return;
	pthread_join(t, NULL); /* its heap, with the cache's descriptor, is abandoned */
	for (unsigned i = 0; i < HEAP_FREES_BEFORE - 1; i++)
		destroy_objs[i] = malloc(200);
	if (!CHECK("threads-destroy-freer", pthread_create(&t, NULL, destroy_freer, NULL) == 0))
		return;
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 30;
	int joined = pthread_timedjoin_np(t, NULL, &deadline) == 0;
	CHECKF("threads-free-under-heap-lock-returns", joined && destroy_done,
	       "the freer is still in kmem_cache_destroy after 30 s");
	if (!joined) {
		printf("%d passed, %d failed\n", check_passed, check_failed);
		_exit(1); /* it cannot be joined */
	}
}

static void test_free_only_threads(void)
{
	buddyslab_drain();
	long before = in_use_200();
	int made = free_only_make(free_only_objs, FREE_ONLY_OBJS, 200) &
		   free_only_make(free_only_blocks, FREE_ONLY_BLOCKS, 16384);
	if (!CHECK("threads-free-only-allocated", made))
		return;
	pthread_t few, many;
	int ran_few = pthread_create(&few, NULL, free_only_few, NULL) == 0;
	if (ran_few)
		pthread_join(few, NULL);
	int ran_many = pthread_create(&many, NULL, free_only_many, NULL) == 0;
	if (ran_many)
		pthread_join(many, NULL);
	CHECK("threads-free-only-created", ran_few && ran_many);
	CHECKF("threads-free-only-payload", free_only_bad == 0, "%lu blocks corrupted",
	       (unsigned long)free_only_bad);
	CHECKF("threads-free-only-many-has-heap", free_only_heap_many == 1,
	       "a thread that freed %d blocks and allocated none: report_has_heap %d",
	       FREE_ONLY_OBJS - FREE_ONLY_FEW + FREE_ONLY_BLOCKS, (int)free_only_heap_many);
	CHECKF("threads-free-only-few-has-none", free_only_heap_few == 0,
	       "a thread that freed %d blocks: report_has_heap %d", FREE_ONLY_FEW,
	       (int)free_only_heap_few);
	buddyslab_drain();
	long after = in_use_200();
	CHECKF("threads-free-only-nothing-lost", before >= 0 && after == before,
	       "objects in use in the 200-byte class: %ld before, %ld after", before, after);
}

/* An owner allocates 32 MiB of small blocks and waits; main frees them
 * and calls malloc_trim(0): the blocks sat on the idle owner's remote
 * stack, which only the owner collected, so the trim gave back nothing
 * of them. Now the trim collects them (heap_reclaim_live). */
enum { TRIM_BLOCK = 200, TRIM_BLOCKS = (int)(32 * MiB / TRIM_BLOCK) };
static struct check_idle_owner_job trim = CHECK_IDLE_OWNER_JOB(TRIM_BLOCK, TRIM_BLOCKS);

static void test_trim_idle_owner(void)
{
	malloc_trim(0);
	pthread_t t;
	if (!CHECK("threads-trim-idle-allocated", check_idle_owner_start(&trim, &t)))
		return;
	size_t peak = proc_rss_bytes();
	check_idle_owner_free(&trim);
	malloc_trim(0);
	size_t trimmed = proc_rss_bytes();
	malloc_trim(0);
	size_t again = proc_rss_bytes();
	printf("      idle owner: RSS %zu KiB with its 32 MiB of blocks, %zu after main freed "
	       "them and trimmed, %zu after a second trim\n", peak >> 10, trimmed >> 10,
	       again >> 10);
	CHECKF("threads-trim-idle-owner", trimmed + 16 * MiB <= peak,
	       "RSS %zu KiB after malloc_trim, %zu KiB with the blocks: they stayed in the idle "
	       "thread's slabs", trimmed >> 10, peak >> 10);
	/* the collected slabs' pages go to the zone, which the trim purges,
	 * not to main's page cache (the second trim gave back 336-432 KiB) */
	CHECKF("threads-trim-idle-all-at-once", again + 128 * 1024 >= trimmed,
	       "a second malloc_trim gave back %zu KiB more", (trimmed - again) >> 10);
	CHECK("threads-trim-idle-works-after", check_idle_owner_end(&trim, t));
}

/* The same without malloc_trim: main's frees alone give the idle owner's
 * slabs back to the page allocator. Every 64th slab main pushes onto the
 * owner's remote stack is a look at the owner (heap_look_idle); from the
 * second look on, the owner has taken no slow path since the last one, and
 * main collects its slabs. Before, the 32 MiB stayed in the owner's slabs
 * until it allocated again (or malloc_trim, or kswapd with background=1).
 * Measured by the zone's pages in use (mallinfo2's uordblks), not the
 * RSS: free pages stay resident up to the zone's high watermark (16 MiB)
 * until a purge. 1 KiB blocks go through main's bin and its flushes,
 * 48-byte ones through its remote bin (classes under a cache line go home
 * at once). */
enum { IDLE_BIG = 1024, IDLE_SMALL = 48 };
static struct check_idle_owner_job idle_big = CHECK_IDLE_OWNER_JOB(IDLE_BIG, 32 * MiB / IDLE_BIG);
static struct check_idle_owner_job idle_small =
	CHECK_IDLE_OWNER_JOB(IDLE_SMALL, 32 * MiB / IDLE_SMALL);

/* zone_bytes_in_use - the zone's pages that are not free (neither on its
 * lists, hot, being purged, nor in a page cache), from buddyslab_report's
 * zoneinfo: what mallinfo2's uordblks counts, in the native build too */
static size_t zone_bytes_in_use(void)
{
	static char text[1 << 16];
	unsigned long spanned = 0, free_pages = 0, pcp = 0, hot = 0, purging = 0;
	if (!report_read(BUDDYSLAB_REPORT_ZONEINFO, text, sizeof(text)))
		return 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		sscanf(line, " pages free %lu", &free_pages);
		sscanf(line, " spanned %lu", &spanned);
		sscanf(line, " pcp %lu", &pcp);
		sscanf(line, " hot %lu", &hot);
		sscanf(line, " purging %lu", &purging);
	}
	return (size_t)(spanned - free_pages - pcp - hot - purging) * 4096;
}

static void test_idle_owner_freed(const char *name, struct check_idle_owner_job *job)
{
	char label[64];
	malloc_trim(0);
	pthread_t t;
	snprintf(label, sizeof(label), "threads-idle-%s-allocated", name);
	if (!CHECK(label, check_idle_owner_start(job, &t)))
		return;
	size_t peak = zone_bytes_in_use(), peak_rss = proc_rss_bytes();
	check_idle_owner_free(job);
	size_t freed = zone_bytes_in_use(), freed_rss = proc_rss_bytes();
	printf("      idle owner, %zu-byte blocks: pages in use %zu KiB (RSS %zu) with its 32 MiB "
	       "of blocks, %zu (%zu) after main freed them\n", job->size, peak >> 10,
	       peak_rss >> 10, freed >> 10, freed_rss >> 10);
	snprintf(label, sizeof(label), "threads-idle-%s-given-back", name);
	CHECKF(label, freed + 16 * MiB <= peak,
	       "%zu KiB of pages in use after main freed the blocks, %zu KiB with them: they "
	       "stayed in the idle thread's slabs", freed >> 10, peak >> 10);
	snprintf(label, sizeof(label), "threads-idle-%s-works-after", name);
	CHECK(label, check_idle_owner_end(job, t));
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_REQUIRE_BUDDYSLAB();
	if (argc > 1)
		nthreads = atoi(argv[1]);
	if (argc > 2)
		nrounds = atoi(argv[2]);
	if (argc > 3)
		nops = atoi(argv[3]);
	if (nthreads < 1 || nthreads > 256 || nrounds < 1 || nops < 1) {
		fprintf(stderr, "usage: %s [THREADS [ROUNDS [OPS]]]\n", argv[0]);
		return 2;
	}

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct worker *workers = calloc((size_t)nthreads, sizeof(*workers));
	int created = 1;
	size_t queued_after_round = 0;
	for (int round = 0; round < nrounds; round++) {
		for (int i = 0; i < nthreads; i++) {
			workers[i].serial = (unsigned)(round * nthreads + i);
			workers[i].round = (unsigned)round;
			workers[i].rng = 0x9e3779b97f4a7c15ULL * (workers[i].serial + 1) | 1;
			if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0)
				created = 0;
		}
		for (int i = 0; i < nthreads; i++)
			pthread_join(workers[i].thread, NULL);
		pthread_mutex_lock(&queue.lock);
		queued_after_round = queue.count;
		pthread_mutex_unlock(&queue.lock);
		/* Between rounds: main frees a few of the orphans too. */
		struct item got;
		for (int k = 0; k < 100 && queue_pop(&got); k++)
			verify_and_free(&got, (unsigned)-1);
		if (round == nrounds / 2)
			buddyslab_drain();
	}
	/* Everything left was allocated by threads that have exited. */
	struct item got;
	unsigned long left = 0;
	while (queue_pop(&got)) {
		verify_and_free(&got, (unsigned)-1);
		left++;
	}
	free(workers);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

	printf("threads %d x rounds %d x ops %d: %lu allocs (%lu MiB, %lu of 8 MiB), "
	       "%lu reallocs, %lu local frees, %lu cross-thread frees, %lu own-queue frees, "
	       "%lu freed after their thread exited (%lu by main at the end), %.2f s\n",
	       nthreads, nrounds, nops, (unsigned long)st_allocs,
	       (unsigned long)st_bytes / MiB, (unsigned long)st_big, (unsigned long)st_reallocs,
	       (unsigned long)st_local_frees, (unsigned long)st_cross_frees,
	       (unsigned long)st_own_queue_frees, (unsigned long)st_outlived, left, secs);

	CHECK("threads-created", created);
	CHECKF("threads-no-null", st_nulls == 0, "%lu NULL results", (unsigned long)st_nulls);
	CHECKF("threads-owned", st_unowned == 0, "%lu blocks not owned by buddyslab",
	       (unsigned long)st_unowned);
	CHECKF("threads-payload-intact", st_corrupt == 0, "%lu corrupted blocks",
	       (unsigned long)st_corrupt);
	CHECK("threads-cross-frees-happened", st_cross_frees > 0);
	CHECK("threads-objects-outlived-threads", st_outlived > 0 && queued_after_round > 0);
	CHECK("threads-all-allocated", st_allocs == (unsigned long)nthreads * (unsigned long)nrounds *
						       (unsigned long)nops);

	test_exit_destructors();
	test_last_round_destructors();
	test_block_threads("zone-blocks", 256 * 1024 + 1, 768 * 1024, 0);
	test_block_threads("mapped-blocks", MiB + 1, 3 * MiB, 1);
	test_trim_idle_owner();
	test_idle_owner_freed("1k", &idle_big);
	test_idle_owner_freed("48", &idle_small);
	test_free_only_threads();
	test_free_in_destroy();

	/* The allocator still works for the main thread after all that. */
	void *p = malloc(1000), *q = malloc(3 * MiB);
	CHECK("threads-main-after", p && q && buddyslab_owns(p) == 1 && buddyslab_owns(q) == 1);
	free(p);
	free(q);
	return CHECK_DONE();
}
