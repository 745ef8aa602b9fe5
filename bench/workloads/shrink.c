/*
 * shrink - grow, then shrink: how much memory does the allocator give back
 * to the system when the program frees most of what it allocated, right
 * away and after a second of idleness?
 *
 * Grow: allocate `mib` MiB in three equal byte shares, interleaved: small
 * blocks (16..512 B), medium (513 B..64 KiB) and large (64 KiB..4 MiB),
 * each written in full (so every page is resident). Shrink: free every block
 * but one in `keep` (the survivors are spread evenly through the heap, as
 * long-lived objects are: a cache entry here, a session there). Then read
 * the RSS at once, sleep one second without touching the allocator, reading
 * it every 100 ms (rss_t100_mib .. rss_t1000_mib: the RSS over time).
 *
 * A long-running service goes through this after every load peak; a
 * compiler or a batch job after every phase. An allocator that keeps freed
 * memory forever looks fast elsewhere and costs RAM here. Survivors pin the
 * pages they sit on, so no allocator can give back everything.
 *
 * Parameters: mib=384 (scales with BENCH_SCALE) keep=50. Prints the RSS
 * after growing, right after the frees and after the second; the share of
 * the freed bytes that had left the RSS at those two points; and sleep_s,
 * the measured length of the sleep (scripts/bench subtracts it from the
 * wall time).
 */
#include "wl.h"

struct blk {
	void *p;
	size_t n;
};

int main(int argc, char **argv)
{
	wl_args(argc, argv);
	size_t target = (size_t)wl_count("mib", 384) << 20;
	long keep = wl_param("keep", 50);
	if (keep < 1)
		wl_die("keep must be >= 1");

	wl_rng r;
	wl_seed(&r, 5);
	long base = wl_rss_kib();
	size_t cap = 1 << 16, n = 0, total = 0, share[3] = {0, 0, 0};
	struct blk *b = wl_xmalloc(cap * sizeof(*b));
	double t0 = wl_now();
	while (total < target) {
		int c = share[0] <= share[1] && share[0] <= share[2] ? 0 : share[1] <= share[2] ? 1 : 2;
		size_t sz = c == 0 ? wl_logsize(&r, 16, 512)
			  : c == 1 ? wl_logsize(&r, 513, 65536)
				   : wl_logsize(&r, 65537, 4 << 20);
		if (n == cap) {
			cap *= 2;
			b = realloc(b, cap * sizeof(*b));
			if (!b)
				wl_die("out of memory");
		}
		b[n].n = sz;
		b[n].p = wl_xmalloc(sz);
		memset(b[n].p, (int)(n & 0xff), sz);
		wl_fill(b[n].p, sz, n);
		share[c] += sz;
		total += sz;
		n++;
	}
	long rss_grown = wl_rss_kib();

	size_t freed = 0, live = 0;
	for (size_t i = 0; i < n; i++) {
		wl_check(b[i].p, b[i].n, i);
		if (i % keep == 0) {
			live += b[i].n;
			continue;
		}
		freed += b[i].n;
		free(b[i].p);
		b[i].p = NULL;
	}
	double t1 = wl_now();
	long rss_now = wl_rss_kib();
	/* RSS over the idle second, every 100 ms (rss_t100_mib .. rss_t1000_mib) */
	long rss_t[10];
	double slept = 0;
	for (int k = 0; k < 10; k++) {
		slept += wl_sleep(0.1);
		rss_t[k] = wl_rss_kib();
	}
	long rss_1s = rss_t[9];

	for (size_t i = 0; i < n; i += keep) {
		wl_check(b[i].p, b[i].n, i);
		free(b[i].p);
	}
	free(b);

	double fk = freed / 1024.0;
	printf("shrink blocks=%zu grown_mib=%.1f live_mib=%.1f work_s=%.3f rss_base_mib=%.1f "
	       "rss_grown_mib=%.1f rss_now_mib=%.1f rss_1s_mib=%.1f returned_now_pct=%.1f "
	       "returned_1s_pct=%.1f sleep_s=%.3f",
	       n, wl_mib(total), wl_mib(live), t1 - t0, base / 1024.0, rss_grown / 1024.0,
	       rss_now / 1024.0, rss_1s / 1024.0, 100.0 * (rss_grown - rss_now) / fk,
	       100.0 * (rss_grown - rss_1s) / fk, slept);
	for (int k = 0; k < 10; k++)
		printf(" rss_t%d_mib=%.1f", (k + 1) * 100, rss_t[k] / 1024.0);
	printf("\n");
	return 0;
}
