/*
 * wl.h - small helpers shared by the workloads in bench/workloads/.
 *
 * Each workload is one C11 file that includes this header and uses only the
 * standard malloc API (malloc, free, calloc, realloc) and pthreads: nothing in
 * here knows which allocator is loaded. The helpers are
 *
 *   - wl_args():      parameters as key=value arguments, e.g. `larson threads=8`;
 *                     every count parameter is multiplied by BENCH_SCALE (env,
 *                     default 1) so that scripts/bench --quick can shrink a run;
 *   - wl_rng:         a deterministic 64-bit generator (splitmix64 seeding,
 *                     xorshift64* steps), one per thread, fixed seeds;
 *   - wl_now():       monotonic seconds;
 *   - wl_rss_kib(), wl_hwm_kib(): resident set now (/proc/self/statm) and its
 *                     high-water mark (VmHWM in /proc/self/status);
 *   - wl_fill()/wl_check(): a cheap pattern in the first and last 8 bytes of a
 *                     block, checked before the block is freed, so that an
 *                     allocator that hands out overlapping or corrupt memory
 *                     makes the workload fail (exit status 2) instead of
 *                     reporting a figure;
 *   - wl_die():       message on stderr, exit 2.
 *
 * Output convention: one line on stdout, `name key=value key=value ...`.
 */
#ifndef WL_H
#define WL_H

#define _GNU_SOURCE
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WL_UNUSED __attribute__((unused))

static WL_UNUSED void wl_die(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fputs("workload error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static WL_UNUSED void *wl_xmalloc(size_t n)
{
	void *p = malloc(n);
	if (!p)
		wl_die("malloc(%zu) returned NULL", n);
	return p;
}

/* ---- parameters ---------------------------------------------------------- */

static int wl_argc;
static char **wl_argv;

static WL_UNUSED void wl_args(int argc, char **argv)
{
	wl_argc = argc;
	wl_argv = argv;
	for (int i = 1; i < argc; i++)
		if (!strchr(argv[i], '=') || !strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			wl_die("usage: %s [key=value ...] (see the header comment of the source)", argv[0]);
}

/* Raw parameter, not scaled. */
static WL_UNUSED long wl_param(const char *key, long def)
{
	size_t k = strlen(key);
	for (int i = 1; i < wl_argc; i++)
		if (!strncmp(wl_argv[i], key, k) && wl_argv[i][k] == '=')
			return strtol(wl_argv[i] + k + 1, NULL, 0);
	return def;
}

static WL_UNUSED double wl_scale(void)
{
	const char *s = getenv("BENCH_SCALE");
	double f = s ? strtod(s, NULL) : 1.0;
	return f > 0 ? f : 1.0;
}

/* A count parameter: the default is multiplied by BENCH_SCALE (at least 1);
 * a value given on the command line is taken as is. */
static WL_UNUSED long wl_count(const char *key, long def)
{
	long v = wl_param(key, -1);
	if (v >= 0)
		return v;
	double s = def * wl_scale();
	return s < 1 ? 1 : (long)s;
}

/* ---- random numbers -------------------------------------------------------- */

typedef struct {
	uint64_t s;
} wl_rng;

static WL_UNUSED void wl_seed(wl_rng *r, uint64_t seed)
{
	/* splitmix64 of the seed, never zero */
	uint64_t z = seed + 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	r->s = z ? z : 1;
}

static inline uint64_t wl_next(wl_rng *r)
{
	uint64_t x = r->s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* uniform in [lo, hi] */
static inline uint64_t wl_range(wl_rng *r, uint64_t lo, uint64_t hi)
{
	return lo + (wl_next(r) >> 11) % (hi - lo + 1);
}

/* roughly log-uniform in [lo, hi]: small sizes are as likely per octave as big ones */
static inline size_t wl_logsize(wl_rng *r, size_t lo, size_t hi)
{
	int a = 63 - __builtin_clzll(lo), b = 63 - __builtin_clzll(hi);
	int e = (int)wl_range(r, (uint64_t)a, (uint64_t)b);
	size_t base = (size_t)1 << e;
	size_t s = base + (size_t)wl_range(r, 0, base - 1);
	return s < lo ? lo : s > hi ? hi : s;
}

/* ---- time and memory -------------------------------------------------------- */

static WL_UNUSED double wl_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Sleep for `s` seconds; returns the time actually slept (measured). */
static WL_UNUSED double wl_sleep(double s)
{
	double t0 = wl_now();
	struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
	while (nanosleep(&ts, &ts))
		;
	return wl_now() - t0;
}

/* Resident set size now, KiB (second field of /proc/self/statm). */
static WL_UNUSED long wl_rss_kib(void)
{
	long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &res) != 2)
		res = -1;
	fclose(f);
	return res < 0 ? -1 : res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Peak resident set size so far, KiB (VmHWM). */
static WL_UNUSED long wl_hwm_kib(void)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmHWM:", 6)) {
			v = strtol(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static WL_UNUSED double wl_mib(double bytes)
{
	return bytes / (1024.0 * 1024.0);
}

/* ---- payload checks --------------------------------------------------------- */

/* Stamp `key` (mixed with the size) into the first and last bytes of a block. */
static inline void wl_fill(void *p, size_t n, uint64_t key)
{
	uint64_t v = key ^ (n * 0x9e3779b97f4a7c15ull);
	unsigned char *c = p;
	if (n >= 16) {
		memcpy(c, &v, 8);
		memcpy(c + n - 8, &v, 8);
	} else {
		for (size_t i = 0; i < n; i++)
			c[i] = (unsigned char)(v >> (8 * (i & 7)));
	}
}

static inline int wl_ok(const void *p, size_t n, uint64_t key)
{
	uint64_t v = key ^ (n * 0x9e3779b97f4a7c15ull), a, b;
	const unsigned char *c = p;
	if (n >= 16) {
		memcpy(&a, c, 8);
		memcpy(&b, c + n - 8, 8);
		return a == v && b == v;
	}
	for (size_t i = 0; i < n; i++)
		if (c[i] != (unsigned char)(v >> (8 * (i & 7))))
			return 0;
	return 1;
}

#define wl_check(p, n, key)                                                              \
	do {                                                                             \
		if (!wl_ok((p), (n), (key)))                                             \
			wl_die("%s:%d: block %p of %zu bytes was overwritten", __FILE__, \
			       __LINE__, (void *)(p), (size_t)(n));                      \
	} while (0)

#endif
