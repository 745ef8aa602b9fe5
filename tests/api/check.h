/*
 * check.h - the tiny named-check helper of the API tests (tests/api/).
 *
 *   CHECK("malloc-zero", p != NULL);    counts a pass or a failure; a failure
 *                                       prints "FAIL name: cond (file:line)"
 *   CHECK_REQUIRE_BUDDYSLAB();          fail loudly and exit unless buddyslab
 *                                       is the malloc in use (call first)
 *   return CHECK_DONE();                prints "N passed, N failed" and gives
 *                                       the exit status (1 on any failure)
 *
 * Plus helpers every test needs: opaque() and escape() hide values from the
 * optimiser (so that malloc(SIZE_MAX) is really called and a memset before
 * free is not deleted), and pattern_fill()/pattern_check() write and verify a
 * payload derived from a block's address and size, and proc_vm_bytes() /
 * proc_rss_bytes() read the process's size and RSS from /proc/self/statm,
 * report_read() gives buddyslab_report()'s text, and check_idle_owner() is
 * a thread that allocates, sits idle while main frees its blocks, then
 * allocates again.
 *
 * Header-only: each test is one .c file with main(), linked with -lbuddyslab.
 */
#ifndef BUDDYSLAB_TESTS_CHECK_H
#define BUDDYSLAB_TESTS_CHECK_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "buddyslab.h"

static int check_passed;
static int check_failed;

#define CHECK(name, cond) check_report((name), !!(cond), #cond, __FILE__, __LINE__)

/* CHECKF - CHECK with a printf-style detail line shown on failure. */
#define CHECKF(name, cond, ...)                                                \
	do {                                                                   \
		if (!check_report((name), !!(cond), #cond, __FILE__, __LINE__)) { \
			printf("      ");                                      \
			printf(__VA_ARGS__);                                   \
			printf("\n");                                          \
			fflush(stdout);                                        \
		}                                                              \
	} while (0)

static inline __attribute__((unused)) int check_report(const char *name, int ok, const char *cond,
							const char *file, int line)
{
	if (ok) {
		check_passed++;
		return 1;
	}
	check_failed++;
	printf("FAIL %s: %s (%s:%d)\n", name, cond, file, line);
	fflush(stdout);
	return 0;
}

static inline __attribute__((unused)) int check_done(void)
{
	printf("%d passed, %d failed\n", check_passed, check_failed);
	fflush(stdout);
	return check_failed ? 1 : 0;
}
#define CHECK_DONE() check_done()

/* Every test first makes sure that it is testing buddyslab, not glibc. */
#define CHECK_REQUIRE_BUDDYSLAB() check_require_buddyslab(__FILE__, __LINE__)
static inline __attribute__((unused)) void check_require_buddyslab(const char *file, int line)
{
	void *p = malloc(100);
	int owns = buddyslab_owns(p);
	free(p);
	if (CHECK("buddyslab-active", owns == 1))
		return;
	fprintf(stderr, "%s:%d: FATAL: buddyslab is not the active allocator "
		"(buddyslab_owns(malloc(100)) == %d); is the test linked with "
		"-lbuddyslab?\n", file, line, owns);
	check_done();
	exit(1);
}

/* check_run_with_options - make sure the test runs with BUDDYSLAB_OPTIONS
 * set to @opts (read once, when the library starts): if it is not, run
 * this executable again with it, with the same arguments. */
static inline __attribute__((unused)) void check_run_with_options(char **argv, const char *opts)
{
	const char *now = getenv("BUDDYSLAB_OPTIONS");
	if (now && strcmp(now, opts) == 0)
		return;
	setenv("BUDDYSLAB_OPTIONS", opts, 1);
	execv("/proc/self/exe", argv);
	perror("execv /proc/self/exe");
	exit(1);
}

/* check_now_s - CLOCK_MONOTONIC in seconds, for the tests' deadlines. */
static inline __attribute__((unused)) double check_now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* opaque - the same value, unknown to the compiler. */
static inline __attribute__((unused)) size_t opaque(size_t x)
{
	__asm__ volatile("" : "+r"(x));
	return x;
}
static inline __attribute__((unused)) void *opaque_ptr(void *p)
{
	__asm__ volatile("" : "+r"(p));
	return p;
}
/* escape - p (and all memory) may be read by someone the compiler can't see. */
static inline __attribute__((unused)) void escape(const void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

/* errno_now - errno, read for certain after the allocation call before it:
 * clang assumes malloc & co. touch no memory but their own and would
 * otherwise reuse the value of errno from before the call. */
static inline __attribute__((unused)) int errno_now(void)
{
	__asm__ volatile("" : : : "memory");
	return errno;
}

static inline __attribute__((unused)) int is_aligned(const void *p, size_t align)
{
	return ((uintptr_t)p & (align - 1)) == 0;
}

/* ---- payload patterns ------------------------------------------------------ */

static inline uint64_t pattern_seed(const void *p, size_t size)
{
	uint64_t x = (uint64_t)(uintptr_t)p ^ ((uint64_t)size * 0x9e3779b97f4a7c15ULL);
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ULL;
	return x ^ (x >> 32);
}

/* pattern_fill_seed - write the payload of @seed over [0, len). Byte i of
 * the payload depends on seed and i only, not on len, so a prefix of a longer
 * payload checks as the shorter one (what realloc keeps). */
static inline __attribute__((unused)) void pattern_fill_seed(void *p, size_t len, uint64_t seed)
{
	unsigned char *b = p;
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t w = seed + i * 0x0101010101010101ULL;
		memcpy(b + i, &w, 8);
	}
	if (i < len) {
		uint64_t w = seed + i * 0x0101010101010101ULL;
		memcpy(b + i, &w, len - i);
	}
	escape(p);
}

/* pattern_check_seed - index of the first wrong byte in [0, len), or len if intact. */
static inline __attribute__((unused)) size_t pattern_check_seed(const void *p, size_t len,
								uint64_t seed)
{
	const unsigned char *b = p;
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t w = seed + i * 0x0101010101010101ULL, got;
		memcpy(&got, b + i, 8);
		if (got != w) {
			for (size_t j = 0; j < 8; j++)
				if (b[i + j] != ((const unsigned char *)&w)[j])
					return i + j;
		}
	}
	if (i < len) {
		uint64_t w = seed + i * 0x0101010101010101ULL;
		for (size_t j = 0; i + j < len; j++)
			if (b[i + j] != ((const unsigned char *)&w)[j])
				return i + j;
	}
	return len;
}

static inline __attribute__((unused)) void pattern_fill(void *p, size_t size)
{
	pattern_fill_seed(p, size, pattern_seed(p, size));
}
/* pattern_check - 1 if (p, size) still holds the payload pattern_fill() wrote. */
static inline __attribute__((unused)) int pattern_check(const void *p, size_t size)
{
	return pattern_check_seed(p, size, pattern_seed(p, size)) == size;
}

/* all_bytes - 1 if every byte of [p, p+len) equals c. */
static inline __attribute__((unused)) int all_bytes(const void *p, size_t len, unsigned char c)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < len; i++)
		if (b[i] != c)
			return 0;
	return 1;
}

/* proc_statm_bytes - field @field of /proc/self/statm (0: the virtual size,
 * 1: the resident set) in bytes, 0 if it cannot be read. open/read, no
 * stdio: nothing here allocates. */
static inline __attribute__((unused)) size_t proc_statm_bytes(int field)
{
	char buf[128];
	unsigned long value[2] = { 0, 0 };
	int fd = open("/proc/self/statm", O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (sscanf(buf, "%lu %lu", &value[0], &value[1]) != 2)
		return 0;
	return value[field] * (size_t)sysconf(_SC_PAGESIZE);
}
static inline __attribute__((unused)) size_t proc_vm_bytes(void)
{
	return proc_statm_bytes(0);
}
static inline __attribute__((unused)) size_t proc_rss_bytes(void)
{
	return proc_statm_bytes(1);
}

/* xorshift64 - the tests' pseudo-random numbers (Marsaglia's xorshift). */
static inline __attribute__((unused)) uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* report_read - buddyslab_report(@what)'s text, in a buffer of @buf's
 * @len bytes, through a memfd; NULL if it could not be read. */
static inline __attribute__((unused)) char *report_read(unsigned int what, char *buf, size_t len)
{
	int fd = memfd_create("buddyslab-report", 0);
	if (fd < 0)
		return NULL;
	buddyslab_report(fd, what);
	ssize_t n = pread(fd, buf, len - 1, 0);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = 0;
	return buf;
}

/*
 * check_idle_owner - a thread (pthread_create(..., check_idle_owner, job))
 * that mallocs job->count blocks of job->size bytes into job->blocks,
 * writes them, says stage 1, and sits idle until main says stage 2
 * (main frees the blocks meanwhile: they go home to this thread's slabs);
 * then it allocates, checks and frees as many again, and sets
 * job->ok_after if every one came and held its bytes: its heap works on
 * after another thread collected it.
 */
struct check_idle_owner_job {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stage;
	size_t size, count;
	void **blocks;
	int ok_after;
};
#define CHECK_IDLE_OWNER_JOB(size, count) \
	{ PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, (size), (count), NULL, 0 }

static inline __attribute__((unused)) void check_stage_set(struct check_idle_owner_job *j, int stage)
{
	pthread_mutex_lock(&j->lock);
	j->stage = stage;
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->lock);
}

static inline __attribute__((unused)) void check_stage_wait(struct check_idle_owner_job *j, int stage)
{
	pthread_mutex_lock(&j->lock);
	while (j->stage < stage)
		pthread_cond_wait(&j->cond, &j->lock);
	pthread_mutex_unlock(&j->lock);
}

static inline __attribute__((unused)) void *check_idle_owner(void *arg)
{
	struct check_idle_owner_job *j = arg;
	for (size_t i = 0; i < j->count; i++) {
		j->blocks[i] = malloc(j->size);
		if (j->blocks[i])
			memset(j->blocks[i], 0x44, j->size);
	}
	check_stage_set(j, 1);
	check_stage_wait(j, 2);
	int ok = 1;
	unsigned char **again = calloc(j->count, sizeof(*again));
	for (size_t i = 0; again && i < j->count; i++) {
		if (!(again[i] = malloc(j->size))) {
			ok = 0;
			break;
		}
		memset(again[i], (int)(i & 0xff), j->size);
	}
	for (size_t i = 0; again && i < j->count && again[i]; i++) {
		ok &= again[i][j->size - 1] == (unsigned char)(i & 0xff);
		free(again[i]);
	}
	j->ok_after = ok && again;
	free(again);
	return NULL;
}

/* check_idle_owner_start - start @j's thread (*@t) and wait until it has
 * allocated: 1 if it started and got every block, 0 otherwise (then
 * nothing is left running when it could not start) */
static inline __attribute__((unused)) int check_idle_owner_start(struct check_idle_owner_job *j,
								 pthread_t *t)
{
	j->blocks = calloc(j->count, sizeof(void *));
	if (!j->blocks || pthread_create(t, NULL, check_idle_owner, j) != 0)
		return 0;
	check_stage_wait(j, 1);
	int all = 1;
	for (size_t i = 0; i < j->count; i++)
		all &= j->blocks[i] != NULL;
	return all;
}

/* check_idle_owner_free - this thread frees @j's blocks */
static inline __attribute__((unused)) void check_idle_owner_free(struct check_idle_owner_job *j)
{
	for (size_t i = 0; i < j->count; i++)
		free(j->blocks[i]);
}

/* check_idle_owner_end - let @j's thread go on, join it, 1 if its heap
 * worked after (ok_after) */
static inline __attribute__((unused)) int check_idle_owner_end(struct check_idle_owner_job *j,
							       pthread_t t)
{
	check_stage_set(j, 2);
	pthread_join(t, NULL);
	free(j->blocks);
	return j->ok_after;
}

#endif /* BUDDYSLAB_TESTS_CHECK_H */
