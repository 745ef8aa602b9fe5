/*
 * test_vm_grow_fail.c - realloc() of a mapped block (> 4 MiB) that grows in
 * place while the pagemap cannot take the new granules (a page of its flat
 * table cannot be made writable: mprotect fails at vm.max_map_count, or at
 * the commit limit under vm.overcommit_memory=2). Without a new mapping to
 * copy the block to either, realloc must return NULL with ENOMEM and leave
 * the old block as it was: still buddyslab's, its contents intact, and
 * free() of it fine; with one, it copies the block and frees the old one.
 * (It used to clear the old block's pagemap entries too: free() then
 * aborted with "invalid pointer".)
 *
 * Fault injection: this executable exports mmap (to place the block just
 * below a 2 GiB boundary, where growing it needs a new page of the table,
 * and to fail on demand)
 * and mprotect (to fail on demand); the library's calls bind to them
 * (linked with --export-dynamic). Prints "N passed, N failed".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../api/check.h"

#define MiB (1UL << 20)

static volatile uintptr_t next_mmap_at; /* the next mmap(NULL, ...) goes here */
static volatile int mprotect_fails, mmap_fails;
static volatile int fixed_mremap_fails_at; /* the Nth next MREMAP_FIXED fails (ENOMEM) */

void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	void *new_addr = NULL;
	if (flags & MREMAP_FIXED) {
		va_list ap;
		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
		if (fixed_mremap_fails_at && --fixed_mremap_fails_at == 0) {
			errno = ENOMEM; /* as at vm.max_map_count, the destination left as it was */
			return MAP_FAILED;
		}
	}
	/* syscall() returns -1 with errno set */
	return (void *)syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (!addr && mmap_fails) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	if (!addr && next_mmap_at) {
		addr = (void *)next_mmap_at;
		next_mmap_at = 0;
	}
	/* syscall() returns -1 with errno set */
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

int mprotect(void *addr, size_t len, int prot)
{
	if (mprotect_fails) {
		errno = ENOMEM;
		return -1;
	}
	return (int)syscall(SYS_mprotect, addr, len, prot);
}

int main(int argc, char **argv)
{
	(void)argc;
	/* freed mappings stay cached for the whole test: "refused-move-copied"
	 * gathers two of them, which expire after purge_ms (20 ms by default;
	 * a preempted test saw them go) */
	check_run_with_options(argv, "purge_ms=600000");
	CHECK_REQUIRE_BUDDYSLAB();
	/* a heap and the pagemap's table first */
	void *warm = malloc(32);
	CHECK("warm-up", warm != NULL);

	/* a free 2 GiB boundary far from every other mapping (mmap goes top
	 * down from 0x7f...), inside the pagemap's flat table (below 8 TiB)
	 * and below its direct map of chunks (from 256 GiB up):
	 * B - 1 GiB .. B + 1 GiB must be unused */
	uintptr_t boundary = 0;
	for (uintptr_t b = 64UL << 30; b < 240UL << 30 && !boundary; b += 32UL << 30) {
		void *probe = (void *)syscall(SYS_mmap, (void *)(b - (1UL << 30)), 2UL << 30, PROT_NONE,
					      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (probe == (void *)(b - (1UL << 30)))
			boundary = b;
		if ((long)probe > 0 || (long)probe < -4095)
			syscall(SYS_munmap, probe, 2UL << 30);
	}
	if (!boundary) {
		printf("SKIP: no free 2 GiB boundary found\n");
		return 77;
	}

	next_mmap_at = boundary - 8 * MiB;
	char *p = malloc(8 * MiB);
	CHECK("block-placed", p == (char *)(boundary - 8 * MiB));
	memset(p, 0x5a, 8 * MiB);

	/* nor a new mapping to copy to (realloc's fallback) */
	mprotect_fails = 1;
	mmap_fails = 1;
	errno = 0;
	char *q = realloc(p, 16 * MiB); /* in place across the boundary */
	int err = errno;
	mprotect_fails = 0;
	mmap_fails = 0;
	CHECKF("grow-fails-cleanly", q == NULL && err == ENOMEM, "realloc %p errno %d", (void *)q, err);
	CHECK("old-block-still-owned", buddyslab_owns(p));
	CHECK("old-block-intact", p[0] == 0x5a && p[8 * MiB - 1] == 0x5a);
	CHECK("old-block-usable-size", malloc_usable_size(p) >= 8 * MiB);

	/* a new mapping to be had, not the table's page: realloc copies the
	 * block there and frees the old one, which must still be known -- or,
	 * if the new mapping needs a page of the table too (where the kernel
	 * puts it decides), fails cleanly */
	mprotect_fails = 1;
	q = realloc(p, 12 * MiB);
	mprotect_fails = 0;
	CHECKF("grow-copies", q ? q != p && q[0] == 0x5a && q[8 * MiB - 1] == 0x5a && buddyslab_owns(q) &&
					  !buddyslab_owns(p)
				: buddyslab_owns(p) && p[0] == 0x5a && p[8 * MiB - 1] == 0x5a,
	       "realloc %p -> %p", (void *)p, (void *)q);
	if (q)
		p = q;

	/* with the table's page to be had, the grow succeeds */
	q = realloc(p, 16 * MiB);
	CHECK("grow-succeeds", q != NULL && q[8 * MiB - 1] == 0x5a && buddyslab_owns(q));
	if (q)
		memset(q + 8 * MiB, 0xa5, 8 * MiB); /* the new part is the block's */
	free(q ? q : p); /* aborts ("invalid pointer") if the pagemap lost it */

	/* a block made of cached mappings (pieces: 6 and 5 MiB, fresh
	 * pages) moves piece by piece, the last one first, growing. The kernel
	 * refuses the growing move (RLIMIT_AS, say): the block stays, realloc
	 * copies it. Then it refuses the second move (vm.max_map_count):
	 * realloc copies what moved and what did not to a fresh mapping, and
	 * returns that */
	char *a = malloc(6 * MiB), *b = malloc(5 * MiB);
	CHECK("pieces-alloc", a && b);
	free(a);
	free(b);
	char *m = malloc(13 * MiB);
	CHECK("pieces-block", m != NULL);
	for (size_t off = 0; m && off < 13 * MiB; off += 4096)
		m[off] = (char)(off >> 12);
	char *blocker = mmap(m + 13 * MiB, 4096, PROT_NONE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	fixed_mremap_fails_at = 1;
	char *r = m ? realloc(m, 20 * MiB) : NULL;
	bool kept = r != NULL && fixed_mremap_fails_at == 0;
	for (size_t off = 0; r && off < 13 * MiB; off += 4096)
		kept &= r[off] == (char)(off >> 12);
	CHECKF("refused-growth-copied", kept && buddyslab_owns(r) && !buddyslab_owns(m),
	       "realloc %p -> %p", (void *)m, (void *)r);
	if (r) {
		free(r);
		a = malloc(6 * MiB), b = malloc(5 * MiB);
		free(a);
		free(b);
		m = malloc(13 * MiB);
		for (size_t off = 0; m && off < 13 * MiB; off += 4096)
			m[off] = (char)(off >> 12);
		if (blocker != MAP_FAILED)
			munmap(blocker, 4096);
		blocker = m ? mmap(m + 13 * MiB, 4096, PROT_NONE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0)
			    : MAP_FAILED;
	}
	fixed_mremap_fails_at = 2;
	r = m ? realloc(m, 30 * MiB) : NULL;
	int moves_left = fixed_mremap_fails_at;
	fixed_mremap_fails_at = 0;
	kept = r != NULL;
	for (size_t off = 0; r && off < 13 * MiB; off += 4096)
		kept &= r[off] == (char)(off >> 12);
	CHECKF("refused-move-copied", kept && buddyslab_owns(r) && moves_left == 0,
	       "realloc %p -> %p (blocker %p), contents %s, %d refusal(s) not reached", (void *)m,
	       (void *)r, (void *)blocker, kept ? "ok" : "bad", moves_left);
	if (r)
		memset(r, 0x77, 30 * MiB); /* all of it is the block's */
	free(r ? r : m);
	if (blocker != MAP_FAILED)
		munmap(blocker, 4096);
	free(warm);
	return CHECK_DONE();
}
