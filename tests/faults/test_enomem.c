/*
 * test_enomem.c - allocation under ulimit -v until it fails.
 *
 * Each case runs in a child process whose address space is limited with
 * setrlimit(RLIMIT_AS) to its current size + HEADROOM. The child allocates
 * with one function and one size until the call fails, then:
 *   - the failure must be clean: NULL (or ENOMEM from posix_memalign) with
 *     errno ENOMEM, never a crash or an abort; a failed realloc leaves the
 *     old block intact;
 *   - every block allocated so far must still hold its payload;
 *   - after everything is freed, a large block (HEADROOM / 2) and blocks of
 *     another size class (HEADROOM / 2 in all) must succeed: the allocator
 *     drains its thread caches and gives empty slabs and free chunks back
 *     before it fails, as the kernel does direct reclaim before it gives up.
 * The parent checks that the child exited 0 (not killed by a signal).
 *
 * Cases that involve other threads: blocks allocated by threads that have
 * exited and freed by main; and blocks allocated by a thread that is still
 * alive (idle, not allocating) and freed by main: the memory those remote
 * frees gave back must be usable by main.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define KiB (1UL << 10)
#define MiB (1UL << 20)
#define HEADROOM (128 * MiB)

/* ---- the child's side ------------------------------------------------------- */

static int child_failures;

/* say - a line on stdout without stdio buffering surprises after fork. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(1, buf, (size_t)n) < 0)
		_exit(100);
}

#define EXPECT(cond, ...)                                                     \
	do {                                                                  \
		if (!(cond)) {                                                \
			child_failures++;                                     \
			say("      child: FAIL " __VA_ARGS__);                    \
		}                                                             \
	} while (0)

static void limit_address_space(void)
{
	struct rlimit rl;
	rl.rlim_cur = rl.rlim_max = proc_vm_bytes() + HEADROOM;
	if (setrlimit(RLIMIT_AS, &rl) != 0) {
		say("      child: setrlimit(RLIMIT_AS) failed: %s", strerror(errno));
		_exit(99);
	}
}

/* A filler allocates one block; blocks are chained through their first
 * word, so the child needs no memory of its own to remember them. */
struct filler {
	const char *name;
	size_t size;                     /* payload bytes checked (>= 16) */
	void *(*alloc)(size_t size);     /* NULL + errno on failure */
	void (*release)(void *p, size_t size);
};

struct chain {
	void *head;
	unsigned long n;
	size_t bytes;
};

static void chain_push(struct chain *c, void *p, size_t size)
{
	pattern_fill((char *)p + 8, size - 8);
	memcpy(p, &c->head, sizeof(void *));
	c->head = p;
	c->n++;
	c->bytes += size;
}

/* chain_free - verify and free every block; returns the corrupted count. */
static unsigned long chain_free(struct chain *c, size_t size, void (*release)(void *, size_t))
{
	unsigned long bad = 0;
	while (c->head) {
		void *p = c->head, *next;
		memcpy(&next, p, sizeof(void *));
		if (!pattern_check((char *)p + 8, size - 8))
			bad++;
		release(p, size);
		c->head = next;
	}
	c->n = 0;
	c->bytes = 0;
	return bad;
}

/* fill_until_failure - allocate until the filler fails; the failure must
 * be NULL + ENOMEM. At most @cap bytes (0: no cap). */
static void fill_until_failure(const struct filler *f, struct chain *c, size_t cap)
{
	for (;;) {
		if (cap && c->bytes >= cap)
			return;
		errno = 0;
		void *p = f->alloc(f->size);
		int e = errno_now();
		if (!p) {
			EXPECT(e == ENOMEM, "%s(%zu) failed with errno %d (%s), not ENOMEM", f->name,
			       f->size, e, strerror(e));
			return;
		}
		chain_push(c, p, f->size);
		/* near the limit a call may fail to map, reclaim and retry:
		 * when it then succeeds, errno is as it was (reported once) */
		if (e != 0) {
			EXPECT(e == 0, "%s(%zu) succeeded but set errno %d (%s)", f->name, f->size,
			       e, strerror(e));
			return;
		}
	}
}

static void free_plain(void *p, size_t size)
{
	(void)size;
	free(p);
}

static void *f_malloc(size_t n) { return malloc(n); }
static void *f_calloc(size_t n) { return calloc(n / 16, 16); }
static void *f_realloc_null(size_t n) { return realloc(NULL, n); }
static void *f_reallocarray(size_t n) { return reallocarray(NULL, n / 8, 8); }
static void *f_memalign(size_t n) { return memalign(256, n); }
static void *f_aligned_alloc(size_t n) { return aligned_alloc(4096, n); }
static void *f_valloc(size_t n) { return valloc(n); }
static void *f_pvalloc(size_t n) { return pvalloc(n - 100); }
static void *f_posix_memalign(size_t n)
{
	void *p = (void *)0x1, *sentinel = p;
	int saved = errno;
	int r = posix_memalign(&p, 64, n);
	if (r != 0) {
		if (p != sentinel)
			say("      child: FAIL posix_memalign wrote *memptr on failure"), child_failures++;
		if (errno != saved)
			say("      child: note: posix_memalign changed errno on failure");
		errno = r; /* the function's result is its error */
		return NULL;
	}
	return p;
}
static void *f_posix_memalign_big(size_t n)
{
	void *p;
	int r = posix_memalign(&p, 8 * MiB, n);
	if (r != 0) {
		errno = r;
		return NULL;
	}
	return p;
}

static struct kmem_cache *test_cache;
static void *f_cache(size_t n)
{
	(void)n;
	return kmem_cache_alloc(test_cache, __GFP_NOWARN);
}
static void free_cache(void *p, size_t n)
{
	(void)n;
	kmem_cache_free(test_cache, p);
}
static void *f_pages0(size_t n)
{
	(void)n;
	return alloc_pages(__GFP_NOWARN, 0);
}
static void free_pages0(void *p, size_t n)
{
	(void)n;
	__free_pages(p, 0);
}
static void *f_pages10(size_t n)
{
	(void)n;
	return alloc_pages(__GFP_NOWARN, 10);
}
static void free_pages10(void *p, size_t n)
{
	(void)n;
	__free_pages(p, 10);
}
static void *f_vmalloc(size_t n) { return vmalloc(n); }
static void free_vmalloc(void *p, size_t n)
{
	(void)n;
	vfree(p);
}

static const struct filler fillers[] = {
	{ "malloc", 48, f_malloc, free_plain },
	{ "malloc", 4000, f_malloc, free_plain },
	{ "malloc", 8192, f_malloc, free_plain },
	{ "malloc", 100 * KiB, f_malloc, free_plain },
	{ "malloc", 3 * MiB, f_malloc, free_plain },
	{ "malloc", 16 * MiB, f_malloc, free_plain },
	{ "calloc", 160, f_calloc, free_plain },
	{ "calloc", 2 * MiB, f_calloc, free_plain },
	{ "realloc(NULL)", 640, f_realloc_null, free_plain },
	{ "reallocarray(NULL)", 40 * KiB, f_reallocarray, free_plain },
	{ "memalign(256)", 300, f_memalign, free_plain },
	{ "aligned_alloc(4096)", 5000, f_aligned_alloc, free_plain },
	{ "posix_memalign(64)", 200, f_posix_memalign, free_plain },
	{ "posix_memalign(8M)", 5 * MiB, f_posix_memalign_big, free_plain },
	{ "valloc", 20000, f_valloc, free_plain },
	{ "pvalloc", 4096, f_pvalloc, free_plain }, /* pvalloc(4096 - 100) */
	{ "kmem_cache_alloc", 200, f_cache, free_cache },
	{ "alloc_pages(0)", 4096, f_pages0, free_pages0 },
	{ "alloc_pages(10)", 4 * MiB, f_pages10, free_pages10 },
	{ "vmalloc", 6 * MiB, f_vmalloc, free_vmalloc },
};
#define NR_FILLERS (sizeof(fillers) / sizeof(fillers[0]))

static const struct filler small_64 = { "malloc", 64, f_malloc, free_plain };
static const struct filler small_2000 = { "malloc", 2000, f_malloc, free_plain };

/* after_free - with everything freed: a large block, then blocks of
 * another size class than @used, HEADROOM / 2 of each, must succeed. */
static void after_free(size_t used)
{
	size_t big = HEADROOM / 2;
	errno = 0;
	char *p = malloc(big);
	int e = errno_now();
	EXPECT(p != NULL, "after freeing everything, malloc(%zu MiB) failed (errno %d)",
	       big / MiB, e);
	/* it may have found no room at first and reclaimed (the freed chunks
	 * and cached mappings hold the address space): a success that took a
	 * retry still leaves errno alone */
	EXPECT(!p || e == 0, "after freeing everything, malloc(%zu MiB) succeeded but set errno %d (%s)",
	       big / MiB, e, strerror(e));
	if (p) {
		memset(p, 0x5a, big);
		free(p);
	}
	const struct filler *other = used == 64 ? &small_2000 : &small_64;
	struct chain c = { NULL, 0, 0 };
	fill_until_failure(other, &c, HEADROOM / 2);
	EXPECT(c.bytes >= HEADROOM / 2,
	       "after freeing everything, only %lu MiB of malloc(%zu) blocks (wanted %lu MiB)",
	       (unsigned long)(c.bytes / MiB), other->size, (unsigned long)(HEADROOM / 2 / MiB));
	EXPECT(chain_free(&c, other->size, free_plain) == 0, "corrupted blocks after refill");
}

/* One filler until failure, free, after_free. */
static void case_filler(const struct filler *f)
{
	if (f->alloc == f_cache) {
		test_cache = kmem_cache_create("enomem-200", 200, 0, 0, NULL);
		if (!test_cache)
			_exit(98);
	}
	limit_address_space();
	struct chain c = { NULL, 0, 0 };
	fill_until_failure(f, &c, 0);
	say("      child: %s(%zu): %lu blocks, %lu MiB before ENOMEM", f->name, f->size, c.n,
	    (unsigned long)(c.bytes / MiB));
	EXPECT(c.n > 0 && c.bytes >= HEADROOM / 4,
	       "%s(%zu) failed after only %lu MiB of %lu MiB headroom", f->name, f->size,
	       (unsigned long)(c.bytes / MiB), (unsigned long)(HEADROOM / MiB));
	/* every function fails cleanly now (they may also succeed: other
	 * size classes can still have room) */
	void *q = malloc(HEADROOM);
	EXPECT(q == NULL && errno_now() == ENOMEM, "malloc(HEADROOM) after exhaustion");
	free(q);
	unsigned long bad = chain_free(&c, f->size, f->release);
	EXPECT(bad == 0, "%lu blocks corrupted", bad);
	after_free(f->size);
}

/* realloc growing one block until it fails: NULL + ENOMEM, old block kept. */
static void case_realloc_grow(void)
{
	limit_address_space();
	size_t size = 64;
	char *p = malloc(size);
	uint64_t seed = 0x1234abcdULL;
	pattern_fill_seed(p, size, seed);
	for (;;) {
		size_t next = size + size / 2 + 4096;
		errno = 0;
		char *q = realloc(p, next);
		int e = errno_now();
		if (!q) {
			EXPECT(e == ENOMEM, "realloc(%zu -> %zu) failed with errno %d", size, next, e);
			EXPECT(pattern_check_seed(p, size, seed) == size,
			       "old block of %zu bytes not intact after a failed realloc", size);
			break;
		}
		EXPECT(pattern_check_seed(q, size, seed) == size, "realloc lost contents");
		p = q;
		pattern_fill_seed(p + size, next - size, seed + size * 0x0101010101010101ULL);
		pattern_fill_seed(p, next, seed);
		size = next;
	}
	say("      child: realloc grew to %zu MiB before ENOMEM", size / MiB);
	/* a move maps the new place before the old one goes: old + new must
	 * fit, so the block stops growing at about 2/5 of the headroom */
	EXPECT(size >= HEADROOM / 8, "realloc failed at %zu MiB", size / MiB);
	/* reallocarray of the same block, also failing cleanly */
	errno = 0;
	void *r = reallocarray(p, 2, size);
	if (!r) {
		EXPECT(errno_now() == ENOMEM, "reallocarray failure errno");
		EXPECT(pattern_check_seed(p, size, seed) == size, "old block after reallocarray");
	} else {
		p = r;
	}
	free(p);
	after_free(0);
}

/* Threads that allocate until failure, exit, and leave their blocks to
 * main; or stay alive, idle, while main frees their blocks. */
struct thread_fill {
	struct chain chain;
	size_t size;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int go, filled, release;
};

static void *fill_thread(void *arg)
{
	struct thread_fill *t = arg;
	struct filler f = { "malloc", t->size, f_malloc, free_plain };
	pthread_mutex_lock(&t->lock);
	while (!t->go)
		pthread_cond_wait(&t->cond, &t->lock);
	pthread_mutex_unlock(&t->lock);
	fill_until_failure(&f, &t->chain, HEADROOM / 4);
	pthread_mutex_lock(&t->lock);
	t->filled = 1;
	pthread_cond_broadcast(&t->cond);
	while (t->release == 0) /* 1: exit, 2: (live case) stay until told */
		pthread_cond_wait(&t->cond, &t->lock);
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

static void case_threads(int stay_alive)
{
	enum { N = 3 };
	static const size_t sizes[N] = { 48, 700, 30000 };
	struct thread_fill t[N];
	pthread_t th[N];
	/* thread stacks before the limit: the limit is for the heap */
	for (int i = 0; i < N; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		t[i].size = sizes[i];
		pthread_mutex_init(&t[i].lock, NULL);
		pthread_cond_init(&t[i].cond, NULL);
	}
	for (int i = 0; i < N; i++) {
		if (pthread_create(&th[i], NULL, fill_thread, &t[i]) != 0) {
			say("      child: pthread_create failed");
			_exit(97);
		}
	}
	limit_address_space();
	for (int i = 0; i < N; i++) {
		/* one at a time: each takes a quarter of the headroom */
		pthread_mutex_lock(&t[i].lock);
		t[i].go = 1;
		pthread_cond_broadcast(&t[i].cond);
		while (!t[i].filled)
			pthread_cond_wait(&t[i].cond, &t[i].lock);
		if (!stay_alive) {
			t[i].release = 1;
			pthread_cond_broadcast(&t[i].cond);
		}
		pthread_mutex_unlock(&t[i].lock);
	}
	if (!stay_alive)
		for (int i = 0; i < N; i++)
			pthread_join(th[i], NULL);
	unsigned long total = 0;
	for (int i = 0; i < N; i++) {
		total += t[i].chain.bytes;
		unsigned long bad = chain_free(&t[i].chain, t[i].size, free_plain);
		EXPECT(bad == 0, "%lu corrupted blocks of thread %d", bad, i);
	}
	say("      child: %d threads (%s) allocated %lu MiB; main freed it all", N,
	    stay_alive ? "alive, idle" : "exited", total / MiB);
	after_free(64);
	if (stay_alive) {
		for (int i = 0; i < N; i++) {
			pthread_mutex_lock(&t[i].lock);
			t[i].release = 1;
			pthread_cond_broadcast(&t[i].cond);
			pthread_mutex_unlock(&t[i].lock);
			pthread_join(th[i], NULL);
		}
	}
}

/*
 * case_absolute_limit - a program that caps its own address space at an
 * absolute size after start-up (Python's resource.setrlimit idiom), which
 * a glibc program of this size could fill nearly to the cap: what
 * buddyslab reserved ahead counts against it. The pagemap's table reserved
 * 256 MiB until 2026-11-28 (16 MiB now): this process was then above a
 * 256 MiB cap before allocating anything.
 */
#define ABSOLUTE_LIMIT (256 * MiB)
static void case_absolute_limit(void)
{
	free(malloc(64)); /* the pagemap chose its table before the limit */
	size_t vm = proc_vm_bytes();
	EXPECT(vm < ABSOLUTE_LIMIT / 2, "%lu MiB of address space before allocating",
	       (unsigned long)(vm / MiB));
	struct rlimit rl = { ABSOLUTE_LIMIT, ABSOLUTE_LIMIT };
	if (setrlimit(RLIMIT_AS, &rl) != 0) {
		say("      child: setrlimit(RLIMIT_AS) failed: %s", strerror(errno));
		_exit(99);
	}
	/* half the cap in small blocks, then a mapped block of an eighth */
	const struct filler f = { "malloc", 1000, f_malloc, free_plain };
	struct chain c = { NULL, 0, 0 };
	while (c.bytes < ABSOLUTE_LIMIT / 2) {
		void *p = f.alloc(f.size);
		if (!p)
			break;
		chain_push(&c, p, f.size);
	}
	EXPECT(c.bytes >= ABSOLUTE_LIMIT / 2, "small blocks failed at %lu MiB of %lu",
	       (unsigned long)(c.bytes / MiB), (unsigned long)(ABSOLUTE_LIMIT / 2 / MiB));
	void *big = malloc(ABSOLUTE_LIMIT / 8);
	EXPECT(big != NULL, "malloc(%lu MiB) failed", (unsigned long)(ABSOLUTE_LIMIT / 8 / MiB));
	free(big);
	EXPECT(chain_free(&c, f.size, f.release) == 0, "blocks corrupted");
}

/* realloc shrinking a page block once memory is exhausted: a shrink
 * needs no memory, so it succeeds, contents kept. A 64 KiB block shrunk to
 * a quarter moves (shrink_moves in malloc.c) and returned NULL when the
 * move found no memory (a review's finding, 2026-11-28). The blocks are
 * chained through their first word (no memory of the child's own). */
static void case_realloc_shrink(void)
{
	limit_address_space();
	struct chain c = { NULL, 0, 0 };
	void *p;
	while ((p = malloc(64 * 1024)) != NULL)
		chain_push(&c, p, 64 * 1024);
	for (size_t size = 32 * 1024; size >= 9 * 1024; size -= 1024)
		while ((p = malloc(size)) != NULL)
			chain_push(&c, p, size);
	EXPECT(c.n > 0, "no block before exhaustion");
	/* the newest 64 KiB block: the last one pushed before the smaller ones */
	char *big = NULL;
	for (char *b = c.head; b; memcpy(&b, b, sizeof(void *)))
		if (malloc_usable_size(b) == 64 * 1024) {
			big = b;
			break;
		}
	if (!big)
		return;
	char saved[16 * 1024];
	memcpy(saved, big, sizeof(saved));
	errno = 0;
	char *q = realloc(big, 16 * 1024);
	EXPECT(q != NULL, "realloc(64 KiB -> 16 KiB) failed with errno %d once memory was exhausted",
	       errno_now());
	EXPECT(!q || memcmp(q, saved, sizeof(saved)) == 0, "realloc shrink lost contents");
	_exit(child_failures);
}

/* ---- the parent's side -------------------------------------------------------- */

static void run_case(const char *name, void (*fn)(const void *), const void *arg)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };
		setrlimit(RLIMIT_CORE, &no_core);
		alarm(60);
		fn(arg);
		_exit(child_failures > 90 ? 90 : child_failures);
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	char label[160];
	snprintf(label, sizeof(label), "enomem-%s", name);
	if (WIFSIGNALED(status))
		CHECKF(label, 0, "child killed by signal %d (%s)", WTERMSIG(status),
		       strsignal(WTERMSIG(status)));
	else
		CHECKF(label, WEXITSTATUS(status) == 0, "child exited %d (%s)", WEXITSTATUS(status),
		       WEXITSTATUS(status) >= 97 ? "setup failed" : "failed checks");
}

static void run_filler(const void *arg)
{
	case_filler(arg);
}
static void run_realloc(const void *arg)
{
	(void)arg;
	case_realloc_grow();
}
static void run_realloc_shrink(const void *arg)
{
	(void)arg;
	case_realloc_shrink();
}
static void run_threads_exited(const void *arg)
{
	(void)arg;
	case_threads(0);
}
static void run_threads_alive(const void *arg)
{
	(void)arg;
	case_threads(1);
}
static void run_absolute_limit(const void *arg)
{
	(void)arg;
	case_absolute_limit();
}

/*
 * Usage: test_enomem [NAME...]  - without arguments, every case but the
 * pending ones (none now); with arguments, the cases whose names contain
 * one of them. threads-alive was pending until the library collected
 * the remote frees of a live, idle thread's heap in direct reclaim
 * (heap_reclaim_live): the blocks main freed stayed in that thread's
 * slabs, and after freeing 96 MiB a 64 MiB malloc failed.
 */
static int selected(int argc, char **argv, const char *name, int pending)
{
	if (argc <= 1)
		return !pending;
	for (int i = 1; i < argc; i++)
		if (strstr(name, argv[i]))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_REQUIRE_BUDDYSLAB();
	for (size_t i = 0; i < NR_FILLERS; i++) {
		char name[96];
		snprintf(name, sizeof(name), "%s-%zu", fillers[i].name, fillers[i].size);
		if (selected(argc, argv, name, 0))
			run_case(name, run_filler, &fillers[i]);
	}
	if (selected(argc, argv, "realloc-grow", 0))
		run_case("realloc-grow", run_realloc, NULL);
	if (selected(argc, argv, "realloc-shrink", 0))
		run_case("realloc-shrink", run_realloc_shrink, NULL);
	if (selected(argc, argv, "threads-exited", 0))
		run_case("threads-exited", run_threads_exited, NULL);
	if (selected(argc, argv, "threads-alive", 0))
		run_case("threads-alive", run_threads_alive, NULL);
	if (selected(argc, argv, "absolute-limit", 0))
		run_case("absolute-limit", run_absolute_limit, NULL);
	return CHECK_DONE();
}
