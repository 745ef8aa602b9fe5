/*
 * frag - fragmentation under mixed lifetimes: how much RSS does the
 * allocator need for the bytes the program actually holds, at the peak and
 * at the end?
 *
 * `allocs` allocations in `phases` phases. Each phase draws sizes from its
 * own range (small, then larger, then small again: 16-64, 64-256, 24-96,
 * 256-1024, 16-128, 1-4 KiB, 48-192, 128-2048 bytes, and one allocation in
 * 200 of 4-64 KiB), as a program's data changes shape from one stage to the
 * next. Every block gets a lifetime counted in allocations: 80 % short
 * (1..2000), 17 % medium (1..500000), 3 % long (to the end of the run).
 * Blocks die in order of their death time (a heap), so the live set is a
 * mixture of all phases' sizes. At the end, everything but the long-lived
 * blocks is freed; the RSS is read right away and after one second idle.
 *
 * The long-lived blocks of each phase are spread over pages that the
 * short-lived ones shared: an allocator that segregates sizes and cannot
 * reuse a page for another size class, or that does not give back the
 * pages that emptied, ends with an RSS far above the live bytes.
 *
 * Parameters: allocs=4000000 (scales with BENCH_SCALE) phases=8. Prints the
 * peak live bytes and the peak RSS (VmHWM), the final live bytes and RSS
 * (now and after 1 s), their ratios, and sleep_s (the measured sleep, which
 * scripts/bench subtracts from the wall time).
 */
#include "wl.h"

struct blk {
	void *p;
	size_t n;
	uint64_t death; /* UINT64_MAX: long-lived */
};

struct ent {
	uint64_t death;
	size_t idx;
};

static struct ent *heap;
static size_t nheap, capheap;

static void heap_push(uint64_t death, size_t idx)
{
	if (nheap == capheap) {
		capheap = capheap ? capheap * 2 : 4096;
		heap = realloc(heap, capheap * sizeof(*heap));
		if (!heap)
			wl_die("out of memory");
	}
	size_t i = nheap++;
	while (i && heap[(i - 1) / 2].death > death) {
		heap[i] = heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	heap[i] = (struct ent){death, idx};
}

static struct ent heap_pop(void)
{
	struct ent top = heap[0], last = heap[--nheap];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= nheap)
			break;
		if (c + 1 < nheap && heap[c + 1].death < heap[c].death)
			c++;
		if (heap[c].death >= last.death)
			break;
		heap[i] = heap[c];
		i = c;
	}
	if (nheap)
		heap[i] = last;
	return top;
}

static const size_t ranges[8][2] = {{16, 64},	{64, 256},  {24, 96},  {256, 1024},
				    {16, 128}, {1024, 4096}, {48, 192}, {128, 2048}};

int main(int argc, char **argv)
{
	wl_args(argc, argv);
	long allocs = wl_count("allocs", 4000000), phases = wl_param("phases", 8);
	if (phases < 1)
		wl_die("phases must be >= 1");

	wl_rng r;
	wl_seed(&r, 3);
	size_t cap = 1 << 16, n = 0, nfree = 0;
	struct blk *b = wl_xmalloc(cap * sizeof(*b));
	size_t *freeidx = wl_xmalloc(cap * sizeof(*freeidx));
	size_t live = 0, peak_live = 0, nlong = 0;
	long per_phase = allocs / phases + 1;
	double t0 = wl_now();

	for (long a = 0; a < allocs; a++) {
		uint64_t now = (uint64_t)a;
		while (nheap && heap[0].death <= now) {
			struct ent e = heap_pop();
			struct blk *d = &b[e.idx];
			wl_check(d->p, d->n, e.idx ^ d->death);
			free(d->p);
			live -= d->n;
			d->p = NULL;
			freeidx[nfree++] = e.idx;
		}
		const size_t *rg = ranges[(a / per_phase) % 8];
		size_t sz = wl_range(&r, 0, 199) ? wl_logsize(&r, rg[0], rg[1])
						 : wl_logsize(&r, 4096, 65536);
		uint64_t k = wl_range(&r, 0, 99), death;
		if (k < 80)
			death = now + wl_range(&r, 1, 2000);
		else if (k < 97)
			death = now + wl_range(&r, 1, 500000);
		else
			death = UINT64_MAX;
		size_t idx;
		if (nfree) {
			idx = freeidx[--nfree];
		} else {
			if (n == cap) {
				cap *= 2;
				b = realloc(b, cap * sizeof(*b));
				freeidx = realloc(freeidx, cap * sizeof(*freeidx));
				if (!b || !freeidx)
					wl_die("out of memory");
			}
			idx = n++;
		}
		b[idx] = (struct blk){wl_xmalloc(sz), sz, death};
		memset(b[idx].p, 0x5a, sz < 256 ? sz : 256);
		wl_fill(b[idx].p, sz, idx ^ death);
		live += sz;
		if (live > peak_live)
			peak_live = live;
		if (death == UINT64_MAX)
			nlong++;
		else
			heap_push(death, idx);
	}
	long hwm = wl_hwm_kib();
	/* the end of the run: everything that is not long-lived goes */
	while (nheap) {
		struct ent e = heap_pop();
		struct blk *d = &b[e.idx];
		wl_check(d->p, d->n, e.idx ^ d->death);
		free(d->p);
		live -= d->n;
		d->p = NULL;
	}
	free(heap);
	heap = NULL;
	double t1 = wl_now();
	long rss_now = wl_rss_kib();
	double slept = wl_sleep(1.0);
	long rss_1s = wl_rss_kib();

	size_t final_live = live;
	for (size_t i = 0; i < n; i++)
		if (b[i].p) {
			if (b[i].death != UINT64_MAX)
				wl_die("block %zu should have died", i);
			wl_check(b[i].p, b[i].n, i ^ b[i].death);
			free(b[i].p);
			live -= b[i].n;
		}
	if (live != 0)
		wl_die("live byte count off by %zu", live);
	free(b);
	free(freeidx);

	printf("frag allocs=%ld work_s=%.3f long_blocks=%zu peak_live_mib=%.1f hwm_mib=%.1f "
	       "peak_ratio=%.2f final_live_mib=%.1f rss_now_mib=%.1f rss_1s_mib=%.1f "
	       "final_ratio_now=%.2f final_ratio_1s=%.2f sleep_s=%.3f\n",
	       allocs, t1 - t0, nlong, wl_mib(peak_live), hwm / 1024.0,
	       hwm / 1024.0 / wl_mib(peak_live), wl_mib(final_live), rss_now / 1024.0,
	       rss_1s / 1024.0, rss_now / 1024.0 / wl_mib(final_live),
	       rss_1s / 1024.0 / wl_mib(final_live), slept);
	return 0;
}
