/*
 * realloc - realloc-heavy growth of strings and vectors, interleaved so that
 * a block rarely has free space behind it by luck.
 *
 *   strings: `strings` string builders grow at random, a few bytes at a time
 *            (1..48), each append a realloc to the exact new length + 1, as
 *            naive string concatenation does (C code, scripting-language
 *            runtimes). A string that reaches its target length (log-uniform
 *            64 B..64 KiB) is checked byte by byte and freed; a new one
 *            takes its place.
 *   vectors: `vectors` growable arrays of 8-byte elements push batches of
 *            1..64 elements and double their capacity with realloc when full
 *            (std::vector, Rust Vec, Go slices). At its target length
 *            (log-uniform 16..1M elements) a vector is checked, then
 *            shrunk by halves with realloc down to 16 elements (checking
 *            the prefix each time) and freed.
 *
 * An allocator that can grow in place (or, for big blocks, remap pages
 * instead of copying) wins here; one that copies on every realloc loses.
 *
 * Parameters: strings=2000 appends=5000000 vectors=64 pushes=40000000
 * (appends and pushes scale with BENCH_SCALE). Prints reallocs/s, the time
 * of each part, the strings and vectors completed, and the peak RSS.
 */
#include "wl.h"

static unsigned long long nreallocs;

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);
	if (!q)
		wl_die("realloc(%p, %zu) returned NULL", p, n);
	nreallocs++;
	return q;
}

/* ---- strings ---------------------------------------------------------------- */

struct str {
	char *s;
	size_t len, target;
	uint64_t id;
};

static char str_char(uint64_t id, size_t pos)
{
	return (char)('a' + (id * 31 + pos * 7 + (pos >> 9)) % 26);
}

static void str_check(const struct str *s)
{
	for (size_t i = 0; i < s->len; i++)
		if (s->s[i] != str_char(s->id, i))
			wl_die("string %llu: byte %zu of %zu is wrong", (unsigned long long)s->id, i,
			       s->len);
	if (s->s[s->len])
		wl_die("string %llu: terminator overwritten", (unsigned long long)s->id);
}

static void str_new(struct str *s, wl_rng *r, uint64_t id)
{
	s->id = id;
	s->len = 0;
	s->target = wl_logsize(r, 64, 65536);
	s->s = wl_xmalloc(1);
	s->s[0] = 0;
}

/* ---- vectors ---------------------------------------------------------------- */

struct vec {
	uint64_t *v;
	size_t len, cap, target;
	uint64_t id;
};

static uint64_t vec_val(uint64_t id, size_t i)
{
	return id * 0x9e3779b97f4a7c15ull + i;
}

static void vec_check(const struct vec *v, size_t upto)
{
	for (size_t i = 0; i < upto; i++)
		if (v->v[i] != vec_val(v->id, i))
			wl_die("vector %llu: element %zu of %zu is wrong", (unsigned long long)v->id, i,
			       v->len);
}

static void vec_new(struct vec *v, wl_rng *r, uint64_t id)
{
	v->id = id;
	v->len = 0;
	v->cap = 4;
	v->target = wl_logsize(r, 16, 1 << 20);
	v->v = wl_xmalloc(v->cap * sizeof(uint64_t));
}

static void vec_retire(struct vec *v)
{
	vec_check(v, v->len);
	size_t n = v->len;
	while (n > 16) {
		n /= 2;
		v->v = xrealloc(v->v, n * sizeof(uint64_t));
		vec_check(v, n < 64 ? n : 64);
		if (v->v[n - 1] != vec_val(v->id, n - 1))
			wl_die("vector %llu: last element wrong after shrinking",
			       (unsigned long long)v->id);
	}
	free(v->v);
}

int main(int argc, char **argv)
{
	wl_args(argc, argv);
	long nstr = wl_param("strings", 2000), appends = wl_count("appends", 5000000);
	long nvec = wl_param("vectors", 64), pushes = wl_count("pushes", 40000000);
	if (nstr < 1 || nvec < 1)
		wl_die("need strings >= 1 and vectors >= 1");

	wl_rng r;
	wl_seed(&r, 11);
	uint64_t ids = 0;
	long strings_done = 0, vectors_done = 0;
	double t0 = wl_now();

	struct str *ss = wl_xmalloc(nstr * sizeof(*ss));
	for (long i = 0; i < nstr; i++)
		str_new(&ss[i], &r, ids++);
	for (long a = 0; a < appends; a++) {
		struct str *s = &ss[wl_range(&r, 0, nstr - 1)];
		size_t k = wl_range(&r, 1, 48);
		s->s = xrealloc(s->s, s->len + k + 1);
		for (size_t j = 0; j < k; j++)
			s->s[s->len + j] = str_char(s->id, s->len + j);
		s->len += k;
		s->s[s->len] = 0;
		if (s->len >= s->target) {
			str_check(s);
			free(s->s);
			str_new(s, &r, ids++);
			strings_done++;
		}
	}
	for (long i = 0; i < nstr; i++) {
		str_check(&ss[i]);
		free(ss[i].s);
	}
	free(ss);
	double t1 = wl_now();

	struct vec *vs = wl_xmalloc(nvec * sizeof(*vs));
	for (long i = 0; i < nvec; i++)
		vec_new(&vs[i], &r, ids++);
	for (long pushed = 0; pushed < pushes;) {
		struct vec *v = &vs[wl_range(&r, 0, nvec - 1)];
		size_t k = wl_range(&r, 1, 64);
		for (size_t j = 0; j < k; j++) {
			if (v->len == v->cap) {
				v->cap *= 2;
				v->v = xrealloc(v->v, v->cap * sizeof(uint64_t));
			}
			v->v[v->len] = vec_val(v->id, v->len);
			v->len++;
		}
		pushed += (long)k;
		if (v->len >= v->target) {
			vec_retire(v);
			vec_new(v, &r, ids++);
			vectors_done++;
		}
	}
	for (long i = 0; i < nvec; i++)
		vec_retire(&vs[i]);
	free(vs);
	double t2 = wl_now();

	printf("realloc reallocs=%llu secs=%.3f mreallocs_per_s=%.3f strings_s=%.3f vectors_s=%.3f "
	       "strings_done=%ld vectors_done=%ld hwm_mib=%.1f\n",
	       nreallocs, t2 - t0, nreallocs / (t2 - t0) / 1e6, t1 - t0, t2 - t1, strings_done,
	       vectors_done, wl_hwm_kib() / 1024.0);
	return 0;
}
