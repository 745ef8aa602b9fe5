/*
 * largeblock - churn of large blocks, 64 KiB to 32 MiB: image and column
 * buffers, decompression windows, per-request arenas. A window of `live`
 * blocks; each step frees a random one (after checking its stamps) and
 * mallocs a new one of a log-uniform random size, which is then written
 * once per 4 KiB page, as a program that uses its buffer would.
 *
 * What it measures is mostly the cost of getting pages: an allocator that
 * unmaps every freed block and maps the next one pays a page fault and a
 * zeroed page per 4 KiB; one that keeps freed large blocks for reuse saves
 * those but holds more memory. Both the time and the peak RSS tell.
 *
 * Parameters: live=8 steps=1500 (scales with BENCH_SCALE) min=65536
 * max=33554432. Prints steps/s, the bytes written, RSS and peak RSS.
 */
#include "wl.h"

struct blk {
	unsigned char *p;
	size_t n;
	uint64_t key;
};

static void touch(struct blk *b)
{
	for (size_t off = 0; off < b->n; off += 4096)
		b->p[off] = (unsigned char)(b->key >> (off / 4096 % 8 * 8));
	wl_fill(b->p, b->n, b->key);
}

static void check(const struct blk *b)
{
	wl_check(b->p, b->n, b->key);
	for (size_t off = 4096; off + 8 < b->n; off += 4096 * 61) /* a sample of pages */
		if (b->p[off] != (unsigned char)(b->key >> (off / 4096 % 8 * 8)))
			wl_die("block %p of %zu bytes: page at +%zu was overwritten", (void *)b->p,
			       b->n, off);
}

int main(int argc, char **argv)
{
	wl_args(argc, argv);
	long live = wl_param("live", 8), steps = wl_count("steps", 1500);
	size_t lo = (size_t)wl_param("min", 65536), hi = (size_t)wl_param("max", 33554432);
	if (live < 1 || lo < 4096 || hi < lo)
		wl_die("need live >= 1, 4096 <= min <= max");

	wl_rng r;
	wl_seed(&r, 7);
	struct blk *w = calloc(live, sizeof(*w));
	if (!w)
		wl_die("out of memory");
	double written = 0;
	double t0 = wl_now();
	for (long i = 0; i < live; i++) {
		w[i].n = wl_logsize(&r, lo, hi);
		w[i].key = wl_next(&r);
		w[i].p = wl_xmalloc(w[i].n);
		touch(&w[i]);
		written += w[i].n;
	}
	for (long s = 0; s < steps; s++) {
		struct blk *b = &w[wl_range(&r, 0, live - 1)];
		check(b);
		free(b->p);
		b->n = wl_logsize(&r, lo, hi);
		b->key = wl_next(&r);
		b->p = wl_xmalloc(b->n);
		touch(b);
		written += b->n;
	}
	double dt = wl_now() - t0;
	long rss = wl_rss_kib();
	for (long i = 0; i < live; i++) {
		check(&w[i]);
		free(w[i].p);
	}
	free(w);
	printf("largeblock live=%ld steps=%ld secs=%.3f steps_per_s=%.0f gib_allocated=%.2f "
	       "rss_mib=%.1f hwm_mib=%.1f\n",
	       live, steps, dt, steps / dt, written / (1 << 30), rss / 1024.0, wl_hwm_kib() / 1024.0);
	return 0;
}
