/*
 * test_api.c - every function of the interposed malloc API, with its edge
 * cases, on all three routes: slab (small), whole buddy pages (medium) and
 * separately mapped blocks (large). Each group is a set of named checks.
 *
 * Run: linked with -lbuddyslab (the library interposes malloc & co.).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define KiB (1UL << 10)
#define MiB (1UL << 20)
#define PAGE 4096UL

/* Sizes that no allocator can serve. */
static const size_t huge_sizes[] = {
	SIZE_MAX,
	SIZE_MAX - 4095,
	SIZE_MAX / 2,
	(size_t)PTRDIFF_MAX,
	(size_t)PTRDIFF_MAX + 1,
};
#define NR_HUGE (sizeof(huge_sizes) / sizeof(huge_sizes[0]))

/* ---- malloc -------------------------------------------------------------- */

static void test_malloc_zero(void)
{
	void *a = malloc(opaque(0));
	void *b = malloc(opaque(0));
	CHECK("malloc-zero-nonnull", a != NULL && b != NULL);
	CHECK("malloc-zero-unique", a != b);
	CHECK("malloc-zero-owned", buddyslab_owns(a) == 1 && buddyslab_owns(b) == 1);
	CHECK("malloc-zero-aligned", is_aligned(a, 16) && is_aligned(b, 16));
	free(a);
	free(b);
	/* Many in a row stay unique while live. */
	void *many[256];
	int unique = 1;
	for (int i = 0; i < 256; i++) {
		many[i] = malloc(opaque(0));
		for (int j = 0; j < i; j++)
			if (many[j] == many[i])
				unique = 0;
	}
	CHECK("malloc-zero-many-unique", unique);
	for (int i = 0; i < 256; i++)
		free(many[i]);
	free(NULL);
	CHECK("free-null", 1);
}

struct block {
	void *p;
	size_t size;
	size_t usable;
};

/*
 * alloc_group - allocate every size of @sizes, all live at once, fill each to
 * its full usable size, then verify them all (an overlap between two live
 * blocks, or a usable size that reaches into a neighbour, breaks a pattern).
 */
static void alloc_group(const char *name, const size_t *sizes, size_t n)
{
	struct block *blocks = calloc(n, sizeof(*blocks));
	size_t bad_null = 0, bad_align = 0, bad_owns = 0, bad_usable = 0, bad_data = 0;
	size_t first_null = 0, first_align = 0, first_owns = 0, first_usable = 0, first_data = 0;
	char label[96];

	if (!CHECK("alloc-group-table", blocks != NULL))
		return;
	for (size_t i = 0; i < n; i++) {
		size_t size = sizes[i];
		void *p = malloc(opaque(size));
		blocks[i].p = p;
		blocks[i].size = size;
		if (p == NULL) {
			if (!bad_null++)
				first_null = size;
			continue;
		}
		if (!is_aligned(p, 16) && !bad_align++)
			first_align = size;
		if (buddyslab_owns(p) != 1 && !bad_owns++)
			first_owns = size;
		size_t usable = malloc_usable_size(p);
		if (usable < size) {
			if (!bad_usable++)
				first_usable = size;
			usable = size;
		}
		blocks[i].usable = usable;
		pattern_fill(p, usable);
	}
	for (size_t i = 0; i < n; i++) {
		if (blocks[i].p && !pattern_check(blocks[i].p, blocks[i].usable) && !bad_data++)
			first_data = blocks[i].size;
	}
	/* Free in an interleaved order: odd indexes first, then even. */
	for (size_t i = 1; i < n; i += 2)
		free(blocks[i].p);
	for (size_t i = 0; i < n; i += 2)
		if (blocks[i].p && !pattern_check(blocks[i].p, blocks[i].usable) && !bad_data++)
			first_data = blocks[i].size;
	for (size_t i = 0; i < n; i += 2)
		free(blocks[i].p);
	free(blocks);

	snprintf(label, sizeof(label), "%s-nonnull", name);
	CHECKF(label, bad_null == 0, "%zu NULL results, first for size %zu", bad_null, first_null);
	snprintf(label, sizeof(label), "%s-align16", name);
	CHECKF(label, bad_align == 0, "%zu blocks not 16-aligned, first of size %zu", bad_align,
	       first_align);
	snprintf(label, sizeof(label), "%s-owned", name);
	CHECKF(label, bad_owns == 0, "%zu blocks not owned, first of size %zu", bad_owns, first_owns);
	snprintf(label, sizeof(label), "%s-usable-size", name);
	CHECKF(label, bad_usable == 0, "%zu usable sizes too small, first for size %zu", bad_usable,
	       first_usable);
	snprintf(label, sizeof(label), "%s-contents", name);
	CHECKF(label, bad_data == 0, "%zu blocks corrupted, first of size %zu", bad_data, first_data);
}

static void test_malloc_sizes(void)
{
	static size_t sizes[4096];
	size_t n;

	/* Every small size. */
	n = 0;
	for (size_t s = 1; s <= 1024; s++)
		sizes[n++] = s;
	alloc_group("malloc-1..1024", sizes, n);

	/* 1 KiB .. 64 KiB with an odd step: slab classes and whole pages. */
	n = 0;
	for (size_t s = 1025; s <= 64 * KiB; s += 61)
		sizes[n++] = s;
	alloc_group("malloc-1K..64K", sizes, n);

	/* Around every power of two up to 64 MiB: every route and boundary. */
	n = 0;
	for (unsigned k = 3; k <= 26; k++) {
		size_t s = 1UL << k;
		sizes[n++] = s - 1;
		sizes[n++] = s;
		sizes[n++] = s + 1;
		if (k < 26)
			sizes[n++] = s + s / 2;
	}
	alloc_group("malloc-pow2", sizes, n);

	/* The same small size many times: several slabs of one class. */
	n = 0;
	for (size_t i = 0; i < 4096; i++)
		sizes[n++] = 48;
	alloc_group("malloc-48x4096", sizes, n);
}

static void test_usable_size(void)
{
	CHECK("usable-size-null", malloc_usable_size(NULL) == 0);

	static const size_t sizes[] = { 1, 13, 100, 1000, 4000, 8192, 8193, 20000, 100000,
					MiB, 4 * MiB - 1, 4 * MiB + 1, 9 * MiB + 5 };
	int ok_ge = 1, ok_write = 1;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		/* Two neighbours of the same size, both written to the end. */
		char *a = malloc(sizes[i]);
		char *b = malloc(sizes[i]);
		if (!a || !b) {
			ok_ge = 0;
			free(a);
			free(b);
			continue;
		}
		size_t ua = malloc_usable_size(a), ub = malloc_usable_size(b);
		if (ua < sizes[i] || ub < sizes[i]) {
			ok_ge = 0;
			printf("      usable size %zu / %zu for %zu\n", ua, ub, sizes[i]);
		}
		memset(a, 0x11, ua);
		memset(b, 0x22, ub);
		escape(a);
		escape(b);
		if (!all_bytes(a, ua, 0x11) || !all_bytes(b, ub, 0x22)) {
			ok_write = 0;
			printf("      writing the usable size of %zu clobbered a neighbour\n", sizes[i]);
		}
		free(a);
		free(b);
	}
	CHECK("usable-size-ge-request", ok_ge);
	CHECK("usable-size-writable", ok_write);
}

/* ---- calloc --------------------------------------------------------------- */

/* calloc of a big block that takes a freed mapping again: zero, and only
 * the pages the old block had resident are resident (vmalloc.c vm_zero).
 * A memset of it all made every page resident (42 MiB for a 40 MiB table
 * used 1 page in 64, against glibc's 2). The old block: its first 4 MiB
 * written whole, the next 4 every other page, the rest 1 page in 64 (with
 * swap, the runs of one page not resident between those of the next 4 MiB
 * are memset: up to 2 MiB more). */
static void test_calloc_reuse_sparse(void)
{
	const size_t s = 24 * MiB, page = 4096;
	malloc_trim(0); /* no freed mapping left: the old block's pages are fresh */
	unsigned char *d = malloc(s);
	if (!CHECK("calloc-reuse-malloc", d != NULL))
		return;
	memset(d, 0xAA, 4 * MiB);
	for (size_t o = 4 * MiB; o < 8 * MiB; o += 2 * page)
		d[o + 100] = 0xAB;
	for (size_t o = 8 * MiB; o < s; o += 64 * page)
		d[o + 200] = 0xAC;
	escape(d);
	free(d);
	size_t before = proc_rss_bytes();
	unsigned char *z = calloc(1, s);
	size_t after = proc_rss_bytes();
	if (!CHECK("calloc-reuse-nonnull", z != NULL))
		return;
	CHECKF("calloc-reuse-zeroed", all_bytes(z, s, 0), "calloc(1, %zu) after a free of the same size", s);
	CHECKF("calloc-reuse-sparse-rss", z != d || after < before + 3 * MiB,
	       "RSS %zu KiB before the calloc, %zu after it: pages the old block never had resident "
	       "were made resident", before >> 10, after >> 10);
	printf("      calloc-reuse: %s, RSS %zu -> %zu KiB\n", z == d ? "the freed mapping" : "another block",
	       before >> 10, after >> 10);
	free(z);
}


static void test_calloc(void)
{
	static const size_t sizes[] = { 1, 8, 16, 100, 1000, 4096, 5000, 8192, 8193, 10000,
					100000, MiB, 3 * MiB, 4 * MiB, 5 * MiB, 17 * MiB };
	int zero = 1, reuse_zero = 1, nonnull = 1;

	void *z = calloc(opaque(0), 1), *z2 = calloc(1, opaque(0));
	CHECK("calloc-zero-nonnull", z != NULL && z2 != NULL && z != z2);
	free(z);
	free(z2);

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t s = sizes[i];
		unsigned char *p = calloc(1, s);
		if (!p) {
			nonnull = 0;
			continue;
		}
		if (!all_bytes(p, s, 0))
			zero = 0;
		free(p);

		/* Dirty memory, freed, then calloc of the same size: several
		 * rounds so that the freed block is the one handed out again. */
		for (int round = 0; round < 4; round++) {
			unsigned char *d[8];
			for (int j = 0; j < 8; j++) {
				d[j] = malloc(s);
				if (d[j]) {
					memset(d[j], 0xAA, s);
					escape(d[j]);
				}
			}
			for (int j = 0; j < 8; j++)
				free(d[j]);
			for (int j = 0; j < 8; j++) {
				d[j] = calloc(1, s);
				if (!d[j]) {
					nonnull = 0;
				} else if (!all_bytes(d[j], s, 0)) {
					if (reuse_zero)
						printf("      calloc(1, %zu) after free of dirty "
						       "memory is not zeroed\n", s);
					reuse_zero = 0;
				}
			}
			for (int j = 0; j < 8; j++)
				free(d[j]);
		}
	}
	/* nmemb * size, both factors nonzero, small result. */
	unsigned char *p = calloc(opaque(1000), opaque(33));
	CHECK("calloc-product", p && all_bytes(p, 33000, 0) && malloc_usable_size(p) >= 33000);
	free(p);

	CHECK("calloc-nonnull", nonnull);
	CHECK("calloc-zeroed", zero);
	CHECK("calloc-zeroed-after-dirty-reuse", reuse_zero);

	/* Overflow of nmemb * size. */
	static const size_t ovf[][2] = {
		{ SIZE_MAX / 2 + 1, 2 },
		{ 2, SIZE_MAX / 2 + 1 },
		{ 1UL << 33, 1UL << 33 },
		{ SIZE_MAX, SIZE_MAX },
		{ (SIZE_MAX / 3) + 1, 3 },
		{ 65537, (SIZE_MAX / 65537) + 1 },
	};
	for (size_t i = 0; i < sizeof(ovf) / sizeof(ovf[0]); i++) {
		errno = 0;
		void *q = calloc(opaque(ovf[i][0]), opaque(ovf[i][1]));
		int e = errno_now();
		CHECKF("calloc-overflow-null", q == NULL, "calloc(%zu, %zu) = %p", ovf[i][0],
		       ovf[i][1], q);
		CHECKF("calloc-overflow-enomem", e == ENOMEM, "calloc(%zu, %zu): errno %d",
		       ovf[i][0], ovf[i][1], e);
		free(q);
	}
}

/* ---- realloc -------------------------------------------------------------- */

#define CHAIN_SEED 0x5eed5eed12345678ULL

static void test_realloc_chain(void)
{
	/* small -> medium -> large -> small, touching every boundary. */
	static const size_t chain[] = {
		16, 24, 100, 1000, 4000, 8191, 8192, 8193, 12000, 65536, 100000, MiB,
		4 * MiB - 1, 4 * MiB, 4 * MiB + 1, 16 * MiB, 64 * MiB, 16 * MiB + 3, 5 * MiB,
		4 * MiB, MiB, 9000, 8192, 100, 10, 1, 3 * MiB, 100, 64 * MiB, 7,
	};
	size_t n = sizeof(chain) / sizeof(chain[0]);
	size_t cur = chain[0];
	char *p = malloc(cur);
	int nonnull = p != NULL, kept = 1, owned = 1, usable = 1;
	void *spacer[64];
	size_t nspacer = 0;

	if (!CHECK("realloc-chain-start", p != NULL))
		return;
	pattern_fill_seed(p, cur, CHAIN_SEED);
	for (size_t i = 1; i < n; i++) {
		size_t next = chain[i];
		/* Something allocated next to the block, so that growing in
		 * place is not always possible. */
		if (nspacer < 64)
			spacer[nspacer++] = malloc(next < 100000 ? next : 64);
		char *q = realloc(p, next);
		if (!q) {
			nonnull = 0;
			printf("      realloc(%zu -> %zu) returned NULL\n", cur, next);
			break;
		}
		size_t keep = cur < next ? cur : next;
		size_t bad = pattern_check_seed(q, keep, CHAIN_SEED);
		if (bad != keep) {
			kept = 0;
			printf("      realloc(%zu -> %zu): byte %zu changed\n", cur, next, bad);
		}
		if (buddyslab_owns(q) != 1)
			owned = 0;
		if (malloc_usable_size(q) < next)
			usable = 0;
		pattern_fill_seed(q, next, CHAIN_SEED);
		p = q;
		cur = next;
	}
	free(p);
	for (size_t i = 0; i < nspacer; i++)
		free(spacer[i]);
	CHECK("realloc-chain-nonnull", nonnull);
	CHECK("realloc-chain-contents", kept);
	CHECK("realloc-chain-owned", owned);
	CHECK("realloc-chain-usable", usable);

	/* Growing within the usable size keeps the contents too. */
	char *s = malloc(20);
	size_t us = s ? malloc_usable_size(s) : 0;
	if (s) {
		pattern_fill_seed(s, 20, CHAIN_SEED);
		char *t = realloc(s, us);
		CHECK("realloc-within-usable", t && pattern_check_seed(t, 20, CHAIN_SEED) == 20);
		free(t ? t : s);
	}
}

static void test_realloc_edges(void)
{
	/* realloc(NULL, n) is malloc(n). */
	static const size_t sizes[] = { 0, 1, 100, 8193, 100000, 5 * MiB };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *p = realloc(NULL, opaque(sizes[i]));
		CHECKF("realloc-null-is-malloc", p != NULL && buddyslab_owns(p) == 1 &&
		       malloc_usable_size(p) >= sizes[i], "realloc(NULL, %zu) = %p", sizes[i],
		       (void *)p);
		if (p)
			memset(p, 1, sizes[i]);
		free(p);
	}

	/* realloc(p, 0): frees p, returns NULL (glibc) or a unique block. */
	static const size_t zsizes[] = { 32, 5000, 100000, MiB, 16 * MiB };
	for (size_t i = 0; i < sizeof(zsizes) / sizeof(zsizes[0]); i++) {
		char *p = malloc(zsizes[i]);
		if (!p) {
			CHECK("realloc-zero-setup", 0);
			continue;
		}
		memset(p, 0x5c, zsizes[i]);
		escape(p);
		char *r = realloc(p, opaque(0));
		CHECKF("realloc-zero", r == NULL || buddyslab_owns(r) == 1,
		       "realloc(%zu-byte block, 0) = %p", zsizes[i], (void *)r);
		if (r == NULL && zsizes[i] >= 100000)
			CHECKF("realloc-zero-freed", buddyslab_owns(p) == 0,
			       "block of %zu still live after realloc(p, 0) returned NULL",
			       zsizes[i]);
		free(r);
	}
	/* ...and does not leak: 200 x 16 MiB and 2000 x 1 MiB would show. */
	size_t vm_before = proc_vm_bytes();
	for (int i = 0; i < 200; i++) {
		char *p = malloc(16 * MiB);
		if (p)
			p[i] = 1;
		escape(p);
		free(realloc(p, opaque(0)));
	}
	for (int i = 0; i < 2000; i++) {
		char *p = malloc(MiB);
		if (p)
			p[i] = 1;
		escape(p);
		free(realloc(p, opaque(0)));
	}
	size_t vm_after = proc_vm_bytes();
	CHECKF("realloc-zero-no-leak", vm_after < vm_before + 512 * MiB,
	       "virtual size grew from %zu MiB to %zu MiB", vm_before / MiB, vm_after / MiB);

	/* Impossible sizes: NULL, ENOMEM, the old block intact and freeable. */
	static const size_t old_sizes[] = { 100, 100000, 16 * MiB };
	for (size_t i = 0; i < sizeof(old_sizes) / sizeof(old_sizes[0]); i++) {
		char *p = malloc(old_sizes[i]);
		if (!p) {
			CHECK("realloc-huge-setup", 0);
			continue;
		}
		pattern_fill(p, old_sizes[i]);
		for (size_t j = 0; j < NR_HUGE; j++) {
			errno = 0;
			void *r = realloc(opaque_ptr(p), opaque(huge_sizes[j]));
			int e = errno_now();
			CHECKF("realloc-huge-null", r == NULL, "realloc(%zu-byte, %zu) = %p",
			       old_sizes[i], huge_sizes[j], r);
			CHECKF("realloc-huge-enomem", e == ENOMEM, "realloc(%zu-byte, %zu): errno %d",
			       old_sizes[i], huge_sizes[j], e);
			if (r != NULL && r != p)
				p = r; /* keep the test going without a double free */
		}
		CHECKF("realloc-huge-old-intact", pattern_check(p, old_sizes[i]) &&
		       buddyslab_owns(p) == 1, "old block of %zu changed", old_sizes[i]);
		free(p);
	}
}

/* A block of 256 KiB grows in place into the block after it that the zone
 * keeps hot (the last freed of its order, off the free lists). */
static void test_realloc_into_hot(void)
{
	enum { BLOCK = 256 << 10, TRIES = 64 };
	char *kept[TRIES];
	int nkept = 0, judged = 0;
	/* a pair from one split, side by side (a block from the hot slot, or
	 * from a list, need not have its buddy after it); blocks taken one
	 * after another may come in pairs that straddle two splits, so a block
	 * that does not start a pair is kept and the next one tried instead */
	char *a = malloc(BLOCK);
	while (a && nkept < TRIES && !judged) {
		char *b = malloc(BLOCK);
		if (!b)
			break;
		if (b != a + BLOCK || (uintptr_t)a % (2 * BLOCK)) {
			kept[nkept++] = a;
			a = b;
			continue;
		}
		pattern_fill(a, BLOCK);
		free(b); /* the hot block of order 6 */
		char *q = realloc(a, 2 * BLOCK - 4096);
		CHECKF("realloc-grows-into-hot-block", q == a && pattern_check(q, BLOCK),
		       "%p -> %p", (void *)a, (void *)q);
		a = q;
		judged = 1;
	}
	CHECKF("realloc-hot-judged", judged, "%d blocks kept", nkept);
	free(a);
	while (nkept)
		free(kept[--nkept]);
}

/* Blocks from the aligned allocators resize and free like any other. */
static void test_realloc_aligned(void)
{
	static const struct {
		size_t align, size, new_size;
	} cases[] = {
		{ 64, 100, 300 },          { 4096, 100, 200000 },    { 4096, 8000, 50 },
		{ 65536, 5000, 5 * MiB },  { 8 * MiB, 5 * MiB, 10 * MiB },
		{ 64 * MiB, 100, 9 * MiB }, { 8 * MiB, 6 * MiB, 1000 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *p = aligned_alloc(cases[i].align, cases[i].size);
		if (!p || !is_aligned(p, cases[i].align)) {
			CHECKF("realloc-aligned-setup", 0, "aligned_alloc(%zu, %zu) = %p",
			       cases[i].align, cases[i].size, (void *)p);
			free(p);
			continue;
		}
		pattern_fill_seed(p, cases[i].size, CHAIN_SEED);
		char *q = realloc(p, cases[i].new_size);
		size_t keep = cases[i].size < cases[i].new_size ? cases[i].size : cases[i].new_size;
		CHECKF("realloc-aligned", q != NULL && pattern_check_seed(q, keep, CHAIN_SEED) == keep &&
		       malloc_usable_size(q) >= cases[i].new_size,
		       "aligned_alloc(%zu, %zu) then realloc to %zu", cases[i].align, cases[i].size,
		       cases[i].new_size);
		if (q)
			memset(q, 0x21, cases[i].new_size);
		free(q ? q : p);
	}
}

static void test_reallocarray(void)
{
	errno = 0;
	void *r = reallocarray(NULL, opaque(SIZE_MAX / 2), opaque(3));
	CHECK("reallocarray-overflow-null", r == NULL);
	CHECK("reallocarray-overflow-enomem", errno_now() == ENOMEM);
	free(r);

	char *p = malloc(64);
	if (!CHECK("reallocarray-setup", p != NULL))
		return;
	pattern_fill_seed(p, 64, CHAIN_SEED);
	errno = 0;
	r = reallocarray(opaque_ptr(p), opaque(1UL << 33), opaque(1UL << 33));
	CHECK("reallocarray-overflow-old-null", r == NULL);
	CHECK("reallocarray-overflow-old-enomem", errno_now() == ENOMEM);
	CHECK("reallocarray-overflow-old-intact", pattern_check_seed(p, 64, CHAIN_SEED) == 64);
	char *q = reallocarray(p, opaque(100), opaque(16));
	CHECK("reallocarray-grow", q != NULL && pattern_check_seed(q, 64, CHAIN_SEED) == 64 &&
	      malloc_usable_size(q) >= 1600);
	if (q)
		p = q;
	q = reallocarray(p, opaque(1000), opaque(10000));
	CHECK("reallocarray-grow-large", q != NULL && pattern_check_seed(q, 64, CHAIN_SEED) == 64 &&
	      malloc_usable_size(q) >= 10000000);
	if (q)
		p = q;
	free(p);
}

/* ---- aligned allocation ---------------------------------------------------- */

static void test_posix_memalign(void)
{
	static const size_t sizes[] = { 1, 8, 100, 4096, 100000, 5 * MiB };
	const size_t nsizes = sizeof(sizes) / sizeof(sizes[0]);
	int ok_ret = 1, ok_align = 1, ok_owned = 1, ok_usable = 1, ok_data = 1;

	for (size_t align = 8; align <= 64 * MiB; align <<= 1) {
		void *p[sizeof(sizes) / sizeof(sizes[0])];
		for (size_t i = 0; i < nsizes; i++) {
			p[i] = NULL;
			int ret = posix_memalign(&p[i], opaque(align), sizes[i]);
			if (ret != 0 || p[i] == NULL) {
				if (ok_ret)
					printf("      posix_memalign(%zu, %zu) = %d\n", align,
					       sizes[i], ret);
				ok_ret = 0;
				p[i] = NULL;
				continue;
			}
			if (!is_aligned(p[i], align)) {
				if (ok_align)
					printf("      posix_memalign(%zu, %zu) = %p\n", align,
					       sizes[i], p[i]);
				ok_align = 0;
			}
			if (buddyslab_owns(p[i]) != 1)
				ok_owned = 0;
			if (malloc_usable_size(p[i]) < sizes[i])
				ok_usable = 0;
			pattern_fill(p[i], sizes[i]);
		}
		for (size_t i = 0; i < nsizes; i++) {
			if (p[i] && !pattern_check(p[i], sizes[i]))
				ok_data = 0;
			free(p[i]);
		}
	}
	CHECK("posix_memalign-ret", ok_ret);
	CHECK("posix_memalign-aligned", ok_align);

	/* aligned blocks come from the bin of a class whose objects are all
	 * aligned: after the classes of the sizes asked for (48, 96, 1000
	 * B) and of the aligned ones were filled by plain mallocs and frees,
	 * every aligned block must still be aligned */
	enum { BIN_N = 600 };
	static void *plain[BIN_N], *aligned[BIN_N];
	static const size_t bin_sizes[] = { 48, 96, 1000, 64, 128, 1024 };
	for (size_t k = 0; k < BIN_N; k++)
		plain[k] = malloc(bin_sizes[k % 6]);
	for (size_t k = 0; k < BIN_N; k++)
		free(plain[k]);
	int ok_bin = 1;
	for (size_t k = 0; k < BIN_N; k++) {
		size_t align = k % 2 ? 64 : 4096;
		if (posix_memalign(&aligned[k], opaque(align), bin_sizes[k % 3]) != 0 ||
		    !is_aligned(aligned[k], align)) {
			if (ok_bin)
				printf("      posix_memalign(%zu, %zu) = %p\n", align,
				       bin_sizes[k % 3], aligned[k]);
			ok_bin = 0;
			aligned[k] = NULL;
		}
	}
	for (size_t k = 0; k < BIN_N; k++)
		free(aligned[k]);
	CHECK("posix_memalign-aligned-after-frees", ok_bin);
	CHECK("posix_memalign-owned", ok_owned);
	CHECK("posix_memalign-usable", ok_usable);
	CHECK("posix_memalign-contents", ok_data);

	void *z = NULL;
	int ret = posix_memalign(&z, 64, opaque(0));
	CHECK("posix_memalign-size0", ret == 0 && (z == NULL || is_aligned(z, 64)));
	free(z);

	/* Bad alignments: EINVAL and *memptr untouched. */
	static const size_t bad[] = { 0, 1, 2, 3, 4, 12, 24, 40, 48, 4097, 3 * PAGE,
				      SIZE_MAX, (SIZE_MAX / 2) + 9 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		void *sentinel = (void *)0x1234, *q = sentinel;
		ret = posix_memalign(&q, opaque(bad[i]), 8);
		CHECKF("posix_memalign-bad-align-einval", ret == EINVAL,
		       "posix_memalign(align %zu) = %d", bad[i], ret);
		CHECKF("posix_memalign-bad-align-untouched", q == sentinel,
		       "posix_memalign(align %zu) wrote %p", bad[i], q);
		if (ret == 0 && q != sentinel)
			free(q);
	}
	/* The largest power of two: valid alignment, impossible block. */
	void *sentinel = (void *)0x1234, *q = sentinel;
	ret = posix_memalign(&q, opaque(SIZE_MAX / 2 + 1), 8);
	CHECKF("posix_memalign-align-2^63", (ret == ENOMEM || ret == EINVAL) && q == sentinel,
	       "ret %d, *memptr %p", ret, q);
}

static void check_aligned_family(const char *name, void *(*fn)(size_t, size_t),
				 size_t max_align)
{
	static const size_t sizes[] = { 1, 7, 100, 10000, 3 * MiB };
	int ok_nonnull = 1, ok_align = 1, ok_usable = 1, ok_data = 1;
	char label[96];

	for (size_t align = 1; align <= max_align; align <<= 1) {
		void *p[sizeof(sizes) / sizeof(sizes[0])];
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			p[i] = fn(opaque(align), sizes[i]);
			if (!p[i]) {
				if (ok_nonnull)
					printf("      %s(%zu, %zu) = NULL\n", name, align, sizes[i]);
				ok_nonnull = 0;
				continue;
			}
			if (!is_aligned(p[i], align)) {
				if (ok_align)
					printf("      %s(%zu, %zu) = %p\n", name, align, sizes[i],
					       p[i]);
				ok_align = 0;
			}
			if (malloc_usable_size(p[i]) < sizes[i])
				ok_usable = 0;
			pattern_fill(p[i], sizes[i]);
		}
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			if (p[i] && !pattern_check(p[i], sizes[i]))
				ok_data = 0;
			free(p[i]);
		}
	}
	snprintf(label, sizeof(label), "%s-nonnull", name);
	CHECK(label, ok_nonnull);
	snprintf(label, sizeof(label), "%s-aligned", name);
	CHECK(label, ok_align);
	snprintf(label, sizeof(label), "%s-usable", name);
	CHECK(label, ok_usable);
	snprintf(label, sizeof(label), "%s-contents", name);
	CHECK(label, ok_data);
}

static void *call_aligned_alloc(size_t align, size_t size)
{
	return aligned_alloc(align, size);
}
static void *call_memalign(size_t align, size_t size)
{
	return memalign(align, size);
}

static void test_aligned(void)
{
	check_aligned_family("aligned_alloc", call_aligned_alloc, 64 * MiB);
	check_aligned_family("memalign", call_memalign, 64 * MiB);

	/* valloc: page aligned. */
	static const size_t vsizes[] = { 0, 1, 100, 4096, 5000, 100000, 5 * MiB };
	int ok = 1;
	for (size_t i = 0; i < sizeof(vsizes) / sizeof(vsizes[0]); i++) {
		char *p = valloc(opaque(vsizes[i]));
		if (!p || !is_aligned(p, PAGE) || malloc_usable_size(p) < vsizes[i]) {
			printf("      valloc(%zu) = %p\n", vsizes[i], (void *)p);
			ok = 0;
		} else {
			memset(p, 0x33, vsizes[i]);
			escape(p);
		}
		free(p);
	}
	CHECK("valloc-page-aligned", ok);

	/* pvalloc: page aligned, size rounded up to whole pages. */
	static const size_t psizes[] = { 1, 100, 4095, 4096, 4097, 5000, 100000, 5 * MiB + 1 };
	ok = 1;
	for (size_t i = 0; i < sizeof(psizes) / sizeof(psizes[0]); i++) {
		char *p = pvalloc(opaque(psizes[i]));
		size_t rounded = (psizes[i] + PAGE - 1) & ~(PAGE - 1);
		size_t usable = p ? malloc_usable_size(p) : 0;
		if (!p || !is_aligned(p, PAGE) || usable < rounded || usable % PAGE != 0) {
			printf("      pvalloc(%zu) = %p, usable %zu\n", psizes[i], (void *)p, usable);
			ok = 0;
		} else {
			memset(p, 0x44, usable);
			escape(p);
		}
		free(p);
	}
	CHECK("pvalloc-page-rounded", ok);
	char *p0 = pvalloc(opaque(0));
	CHECK("pvalloc-zero", p0 != NULL && is_aligned(p0, PAGE));
	free(p0);
}

/* ---- impossible sizes ------------------------------------------------------ */

#define HUGE_CASE(label, expr)                                                     \
	do {                                                                       \
		errno = 0;                                                         \
		void *r_ = (expr);                                                 \
		int e_ = errno_now();                                                  \
		CHECKF(label, r_ == NULL && e_ == ENOMEM, "%s with size %zu: %p, errno %d", \
		       #expr, sz, r_, e_);                                         \
		free(r_);                                                          \
	} while (0)

static void test_huge(void)
{
	for (size_t i = 0; i < NR_HUGE; i++) {
		size_t sz = opaque(huge_sizes[i]);
		HUGE_CASE("huge-malloc", malloc(sz));
		HUGE_CASE("huge-calloc", calloc(1, sz));
		HUGE_CASE("huge-calloc", calloc(sz, 1));
		HUGE_CASE("huge-realloc-null", realloc(NULL, sz));
		HUGE_CASE("huge-reallocarray", reallocarray(NULL, sz, 1));
		HUGE_CASE("huge-aligned_alloc", aligned_alloc(16, sz));
		HUGE_CASE("huge-aligned_alloc", aligned_alloc(4096, sz));
		HUGE_CASE("huge-aligned_alloc", aligned_alloc(8 * MiB, sz));
		HUGE_CASE("huge-memalign", memalign(64, sz));
		HUGE_CASE("huge-memalign", memalign(8 * MiB, sz));
		HUGE_CASE("huge-valloc", valloc(sz));
		HUGE_CASE("huge-pvalloc", pvalloc(sz));

		void *sentinel = (void *)0x4321, *q = sentinel;
		int ret = posix_memalign(&q, 64, sz);
		CHECKF("huge-posix_memalign", ret == ENOMEM && q == sentinel,
		       "posix_memalign(64, %zu) = %d, *memptr %p", sz, ret, q);
		q = sentinel;
		ret = posix_memalign(&q, 4 * MiB, sz);
		CHECKF("huge-posix_memalign", ret == ENOMEM && q == sentinel,
		       "posix_memalign(4 MiB, %zu) = %d, *memptr %p", sz, ret, q);
	}
	/* Still working afterwards. */
	char *p = malloc(100);
	CHECK("huge-then-malloc", p != NULL && buddyslab_owns(p) == 1);
	free(p);
}

/* ---- glibc extras ---------------------------------------------------------- */

static void test_trim(void)
{
	/* Blocks that live across the trim, and garbage freed before it. */
	enum { LIVE = 200, GARBAGE = 500 };
	static const size_t sizes[] = { 24, 700, 5000, 70000, 600000, 6 * MiB };
	void *live[LIVE];
	size_t live_size[LIVE];
	for (int i = 0; i < LIVE; i++) {
		live_size[i] = sizes[i % 6] + (size_t)i;
		live[i] = malloc(live_size[i]);
		if (live[i])
			pattern_fill(live[i], live_size[i]);
	}
	for (int i = 0; i < GARBAGE; i++) {
		void *g = malloc(sizes[i % 5] + (size_t)i);
		escape(g);
		free(g);
	}
	int r = malloc_trim(0);
	CHECK("malloc_trim-ret", r == 0 || r == 1);
	r = malloc_trim(opaque(1 * MiB));
	CHECK("malloc_trim-pad-ret", r == 0 || r == 1);
	int intact = 1, nonnull = 1;
	for (int i = 0; i < LIVE; i++) {
		if (!live[i])
			nonnull = 0;
		else if (!pattern_check(live[i], live_size[i]))
			intact = 0;
	}
	CHECK("malloc_trim-live-nonnull", nonnull);
	CHECK("malloc_trim-live-intact", intact);
	/* Allocation after trim, including memory that was given back. */
	int after = 1;
	for (int i = 0; i < GARBAGE; i++) {
		size_t s = sizes[i % 6] + (size_t)i;
		char *g = malloc(s);
		if (!g) {
			after = 0;
			continue;
		}
		pattern_fill(g, s);
		if (!pattern_check(g, s))
			after = 0;
		free(g);
	}
	CHECK("malloc_trim-then-malloc", after);
	for (int i = 0; i < LIVE; i++)
		free(live[i]);
}

static void test_mallinfo2(void)
{
	enum { N = 10240 };
	static void *blocks[N];
	struct mallinfo2 m0 = mallinfo2();
	int nonnull = 1;
	for (int i = 0; i < N; i++) {
		blocks[i] = malloc(1024);
		if (!blocks[i])
			nonnull = 0;
		else
			memset(blocks[i], i, 1024);
	}
	struct mallinfo2 m1 = mallinfo2();
	CHECK("mallinfo2-alloc", nonnull);
	CHECKF("mallinfo2-uordblks-grows", m1.uordblks >= m0.uordblks + 9 * MiB,
	       "uordblks %zu -> %zu after 10 MiB in 1 KiB blocks", m0.uordblks, m1.uordblks);
	CHECKF("mallinfo2-uordblks-plausible", m1.uordblks < ((size_t)1 << 40),
	       "uordblks %zu", m1.uordblks);
	CHECKF("mallinfo2-mapped-covers-used", m1.arena + m1.hblkhd >= m1.uordblks,
	       "arena %zu + hblkhd %zu < uordblks %zu", m1.arena, m1.hblkhd, m1.uordblks);
	for (int i = 0; i < N; i++)
		free(blocks[i]);
	struct mallinfo2 m2 = mallinfo2();
	CHECKF("mallinfo2-uordblks-shrinks", m2.uordblks < m1.uordblks,
	       "uordblks %zu -> %zu after freeing them", m1.uordblks, m2.uordblks);

	/* as glibc's: a mapped block counts in hblkhd, not in uordblks too,
	 * and uordblks + fordblks is the arena (uordblks had 100 MiB more) */
	char *big = malloc(100 * MiB);
	struct mallinfo2 m3 = mallinfo2();
	CHECKF("mallinfo2-mapped-in-hblkhd", big && m3.hblkhd >= m2.hblkhd + 100 * MiB,
	       "hblkhd %zu -> %zu with a 100 MiB block", m2.hblkhd, m3.hblkhd);
	CHECKF("mallinfo2-mapped-not-in-uordblks", m3.uordblks < m2.uordblks + 10 * MiB,
	       "uordblks %zu -> %zu with a 100 MiB block", m2.uordblks, m3.uordblks);
	CHECKF("mallinfo2-arena-sum", m3.uordblks + m3.fordblks == m3.arena,
	       "uordblks %zu + fordblks %zu != arena %zu", m3.uordblks, m3.fordblks, m3.arena);
	free(big);
}

static void test_stats(void)
{
	char path[] = "/tmp/buddyslab-test-stats-XXXXXX";
	int fd = mkstemp(path);
	if (!CHECK("malloc_stats-tmpfile", fd >= 0))
		return;
	unlink(path);
	fflush(stderr);
	int saved = dup(2);
	dup2(fd, 2);
	void *keep = malloc(1000);
	malloc_stats();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	struct stat st;
	CHECK("malloc_stats-prints", fstat(fd, &st) == 0 && st.st_size > 0);
	close(fd);

	/* And to /dev/null, as a program would. */
	int devnull = open("/dev/null", O_WRONLY);
	saved = dup(2);
	dup2(devnull, 2);
	malloc_stats();
	dup2(saved, 2);
	close(saved);
	close(devnull);
	free(keep);
	CHECK("malloc_stats-survives", 1);

	FILE *f = tmpfile();
	if (f) {
		/* the "rest" total: the free page blocks, as many bytes as
		 * mallinfo2's fordblks, at least the <free> lines' blocks (the
		 * stream's buffer is set first, so that printing allocates
		 * nothing between the two) */
		static char buf[1 << 16];
		setvbuf(f, buf, _IOFBF, sizeof(buf));
		void *held[64];
		for (int i = 0; i < 64; i++)
			held[i] = malloc(opaque(24 * 1024));
		for (int i = 0; i < 64; i += 2)
			free(held[i]);
		struct mallinfo2 before = mallinfo2();
		CHECK("malloc_info-ret", malloc_info(0, f) == 0);
		/* glibc returns EINVAL for options it does not know */
		errno = 0;
		CHECK("malloc_info-bad-options-einval", malloc_info(1, f) == EINVAL && errno == 0);
		struct mallinfo2 after = mallinfo2();
		fflush(f);
		rewind(f);
		char line[256];
		unsigned long rest_count = 0, rest_size = 0, listed_blocks = 0, listed_size = 0;
		unsigned long heap_system = 0;
		int rest_found = 0;
		while (fgets(line, sizeof(line), f)) {
			unsigned long order, blocks, size;
			if (sscanf(line, "<free order=\"%lu\" blocks=\"%lu\" size=\"%lu\"", &order,
				   &blocks, &size) == 3) {
				listed_blocks += blocks;
				listed_size += size;
			}
			if (sscanf(line, "<total type=\"rest\" count=\"%lu\" size=\"%lu\"", &rest_count,
				   &rest_size) == 2)
				rest_found = 1;
			if (!heap_system) /* the heap's, the first */
				sscanf(line, "<system type=\"current\" size=\"%lu\"", &heap_system);
		}
		CHECK("malloc_info-rest-found", rest_found);
		CHECKF("malloc_info-rest-within-system", rest_size <= heap_system,
		       "rest %lu bytes, the heap's system %lu", rest_size, heap_system);
		CHECKF("malloc_info-rest-fordblks",
		       before.fordblks == after.fordblks && rest_size == after.fordblks,
		       "rest size %lu, fordblks %zu before and %zu after", rest_size, before.fordblks,
		       after.fordblks);
		/* blocks, not pages: those not listed (hot blocks, page caches)
		 * are a page at least each */
		CHECKF("malloc_info-rest-blocks",
		       rest_count >= listed_blocks && rest_size >= listed_size &&
			       rest_count <= listed_blocks + (rest_size - listed_size) / PAGE &&
			       (rest_count > 0) == (rest_size > 0),
		       "rest %lu blocks of %lu bytes; the <free> lines %lu blocks of %lu bytes",
		       rest_count, rest_size, listed_blocks, listed_size);
		fclose(f);
		for (int i = 1; i < 64; i += 2)
			free(held[i]);
	}
}

/* ---- glibc's own names ---------------------------------------------------- */

/* glibc exports these beside malloc & co.; buddyslab must serve them too, or
 * a block from one heap would be freed into the other. Not in any header. */
extern void *__libc_malloc(size_t size);
extern void __libc_free(void *ptr);
extern void *__libc_calloc(size_t nmemb, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void *__libc_valloc(size_t size);
extern void *__libc_pvalloc(size_t size);
extern int __libc_mallopt(int param, int value);
extern struct mallinfo __libc_mallinfo(void);
extern void cfree(void *ptr);
/* C23; in glibc 2.43's stdlib.h, not in 2.36's */
extern void free_sized(void *ptr, size_t size);
extern void free_aligned_sized(void *ptr, size_t alignment, size_t size);

static void test_libc_names(void)
{
	char *p = __libc_malloc(opaque(100));
	CHECK("__libc_malloc-owned", p != NULL && buddyslab_owns(p) == 1);
	memset(p, 'a', 100);
	free(p);
	CHECK("__libc_malloc-then-free", buddyslab_owns(p) == 0);

	p = malloc(opaque(200));
	CHECK("malloc-for-__libc_free", p != NULL && buddyslab_owns(p) == 1);
	__libc_free(p);
	CHECK("__libc_free-frees", buddyslab_owns(p) == 0);
	__libc_free(NULL);

	unsigned char *z = __libc_calloc(opaque(50), 40);
	int zeroed = z != NULL;
	for (size_t i = 0; z && i < 2000; i++)
		zeroed &= z[i] == 0;
	CHECK("__libc_calloc-zeroed-owned", zeroed && buddyslab_owns(z) == 1);
	errno = 0;
	CHECK("__libc_calloc-overflow", __libc_calloc(opaque(SIZE_MAX), 2) == NULL && errno == ENOMEM);

	memset(z, 7, 2000);
	unsigned char *r = __libc_realloc(z, opaque(300000));
	int kept = r != NULL;
	for (size_t i = 0; r && i < 2000; i++)
		kept &= r[i] == 7;
	CHECK("__libc_realloc-keeps", kept && buddyslab_owns(r) == 1);
	cfree(r);
	CHECK("cfree-frees", r == NULL || buddyslab_owns(r) == 0);

	/* C23's sized frees: buddyslab's, for blocks of every route */
	size_t sizes[] = { 24, 3000, 100000, 3 * MiB };
	for (unsigned int i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		void *b = malloc(opaque(sizes[i]));
		free_sized(b, sizes[i]);
		CHECKF("free_sized-frees", b != NULL && buddyslab_owns(b) == 0, "size %zu", sizes[i]);
		b = aligned_alloc(opaque(64), sizes[i]);
		free_aligned_sized(b, 64, sizes[i]);
		CHECKF("free_aligned_sized-frees", b != NULL && buddyslab_owns(b) == 0, "size %zu",
		       sizes[i]);
	}
	free_sized(NULL, 0);
	free_aligned_sized(NULL, 64, 0);

	void *m = __libc_memalign(opaque(256), 1000);
	CHECK("__libc_memalign", m != NULL && ((uintptr_t)m & 255) == 0 && buddyslab_owns(m) == 1);
	free(m);
	void *v = __libc_valloc(opaque(10));
	CHECK("__libc_valloc", v != NULL && ((uintptr_t)v & (PAGE - 1)) == 0 && buddyslab_owns(v) == 1);
	free(v);
	void *pv = __libc_pvalloc(opaque(PAGE + 1));
	CHECK("__libc_pvalloc", pv != NULL && ((uintptr_t)pv & (PAGE - 1)) == 0 &&
		  malloc_usable_size(pv) >= 2 * PAGE);
	free(pv);

	CHECK("__libc_mallopt", __libc_mallopt(M_ARENA_MAX, 1) == 1);
	/* glibc's answers (2.36): 0 only for an M_MXFAST past 160 bytes */
	CHECK("mallopt-mxfast-in-range", mallopt(M_MXFAST, 0) == 1 && mallopt(M_MXFAST, 160) == 1);
	CHECK("mallopt-mxfast-too-big", mallopt(M_MXFAST, 161) == 0 && mallopt(M_MXFAST, -1) == 0);
	CHECK("mallopt-others", mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1 &&
				    mallopt(M_MMAP_THRESHOLD, 1 << 30) == 1 && mallopt(M_ARENA_MAX, 0) == 1 &&
				    mallopt(M_PERTURB, 0xaa) == 1 && mallopt(12345, 1) == 1);
	void *keep = malloc(opaque(4 * MiB));
	struct mallinfo a = __libc_mallinfo();
	struct mallinfo2 b = mallinfo2();
	CHECKF("__libc_mallinfo-is-mallinfo", (size_t)a.hblkhd == b.hblkhd && (size_t)a.hblks == b.hblks &&
						      a.hblks >= 1,
	       "__libc_mallinfo: %d blocks of %d bytes, mallinfo2: %zu of %zu", a.hblks, a.hblkhd,
	       b.hblks, b.hblkhd);
	free(keep);
}

/*
 * The hot mapping (vmalloc.c: the last freed mapped block of at most 4 MiB,
 * kept whole) given back from inside the slab layer: many small blocks
 * freed after it make the zone purge (zone_maybe_purge) in the middle of a
 * bin's flush, and the purge, finding the program shrinking, gives the hot
 * mapping back. Its descriptor (560 bytes, the class of these blocks) was
 * freed there, into the bin being flushed: a full bin flushed twice, and
 * a crash (SIGSEGV in 3 runs of 3); now it waits for the next mapped
 * block's call. Run in a child, so that a crash is reported by name; the
 * child checks that no block was handed out twice.
 */
#define NEST_N 60000
static void *nest_objs[NEST_N];

static void hot_mapping_nested_child(void)
{
	size_t size = opaque(560);
	for (int i = 0; i < NEST_N; i++) {
		nest_objs[i] = malloc(size);
		if (!nest_objs[i])
			_exit(3);
		memset(nest_objs[i], 1, size);
	}
	char *p = malloc(opaque(2 * MiB));
	double end = check_now_s() + 0.1; /* past purge_ms: no mapped block asked for */
	while (p && check_now_s() < end) {
		memset(p, 2, 4096);
		free(p);
		p = malloc(opaque(2 * MiB));
	}
	free(p);
	for (int i = 0; i < NEST_N; i++)
		free(nest_objs[i]);
	for (int i = 0; i < NEST_N; i++) {
		nest_objs[i] = malloc(size);
		if (!nest_objs[i])
			_exit(3);
		memset(nest_objs[i], 3, size);
	}
	for (int i = 0; i < NEST_N; i++)
		for (int j = i + 1; j < i + 64 && j < NEST_N; j++)
			if (nest_objs[i] == nest_objs[j])
				_exit(4);
	_exit(0);
}

static void test_hot_mapping_nested(void)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		hot_mapping_nested_child();
	int status = 0;
	int waited = pid > 0 && waitpid(pid, &status, 0) == pid;
	CHECKF("hot-mapping-given-back-inside-a-flush",
	       waited && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	       "child %s %d (3: NULL, 4: a block handed out twice)",
	       waited && WIFSIGNALED(status) ? "killed by signal" : "exit status",
	       waited && WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_REQUIRE_BUDDYSLAB();

	test_malloc_zero();
	test_malloc_sizes();
	test_usable_size();
	test_calloc();
	test_calloc_reuse_sparse();
	test_realloc_chain();
	test_realloc_edges();
	test_realloc_into_hot();
	test_realloc_aligned();
	test_reallocarray();
	test_posix_memalign();
	test_aligned();
	test_huge();
	test_trim();
	test_mallinfo2();
	test_stats();
	test_libc_names();
	test_hot_mapping_nested();

	return CHECK_DONE();
}
