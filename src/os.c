/*
 * os.c - the only file that calls mmap, munmap, madvise and mremap.
 *
 * Every function leaves errno as it found it, failures too: a failure may
 * be retried (after reclaim, or by another route) and end in a success,
 * and a successful malloc never changes errno. The layers that give up set
 * ENOMEM where they return NULL (vmalloc_node, vrealloc_area,
 * __alloc_pages_zone). Mappings are private anonymous.
 * One thing is reserved ahead: the pagemap's table, 16 MiB of address
 * space (x86-64), read-only, so nothing is committed until a page of it is
 * made writable (os_reserve, os_commit); under ulimit -v, where it would
 * count against the limit, the pagemap makes do without.
 *
 * Entry points: os_map (aligned mapping), os_map_at (at a given address,
 * for the direct map's chunks), os_unmap, os_reserve, os_commit,
 * os_purge (MADV_DONTNEED), os_remap (mremap, optionally to a fixed place),
 * os_grow_in_place, os_resident (mincore), os_swap_configured, os_rss;
 * os_read_file reads a /proc file without stdio.
 *
 * Under valgrind's memcheck (run with --soname-synonyms=somalloc=NONE-SUCH,
 * so that buddyslab's code is what runs), os_remap tells memcheck that the
 * mapping it made is addressable and defined: memcheck 3.19 marks the part
 * that a moving mremap grew as inaccessible, and every access to a large
 * block that realloc moved was reported (tests/programs/valgrind_programs.sh,
 * case remap). Outside valgrind the request is a few instructions that do
 * nothing, on a path that makes a system call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define HAVE_MEMCHECK_H 1
#endif
#endif

#include "internal.h"

static _Atomic unsigned long mapped_bytes;

unsigned long os_mapped_bytes(void)
{
	return atomic_load_explicit(&mapped_bytes, memory_order_relaxed);
}

/* os_map - map @size bytes (a multiple of PAGE_SIZE) aligned to @align (a
 * power of two >= PAGE_SIZE). Over-maps by align - PAGE_SIZE and trims both
 * ends, unless the kernel's first answer is already aligned. NULL, errno
 * unchanged, if the kernel refuses. */
void *os_map(size_t size, size_t align)
{
	int saved = errno;
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		goto fail;
	if (((uintptr_t)p & (align - 1)) == 0)
		goto done;
	munmap(p, size);
	if (size + align < size)
		goto fail;
	size_t over = size + align - PAGE_SIZE;
	p = mmap(NULL, over, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		goto fail;
	uintptr_t start = ((uintptr_t)p + align - 1) & ~(align - 1);
	size_t head = start - (uintptr_t)p;
	size_t tail = over - head - size;
	if (head)
		munmap(p, head);
	if (tail)
		munmap((void *)(start + size), tail);
	p = (void *)start;
done:
	atomic_fetch_add_explicit(&mapped_bytes, size, memory_order_relaxed);
	errno = saved;
	return p;
fail:
	errno = saved;
	return NULL;
}

/* os_map_at - map @size bytes at exactly @addr, if nothing is mapped there
 * (MAP_FIXED_NOREPLACE: never over another mapping). NULL, errno
 * unchanged, if the kernel refuses; *@occupied then says whether it was
 * for something already there (as opposed to a want of memory or of
 * address space). A kernel older than 4.17 takes the flag for a hint and
 * may map elsewhere: that counts as occupied, and is given back. */
void *os_map_at(uintptr_t addr, size_t size, bool *occupied)
{
	int saved = errno;
	void *p = mmap((void *)addr, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	*occupied = p == MAP_FAILED ? errno == EEXIST : p != (void *)addr;
	if (p != MAP_FAILED && p != (void *)addr)
		munmap(p, size);
	errno = saved;
	if (p != (void *)addr)
		return NULL;
	atomic_fetch_add_explicit(&mapped_bytes, size, memory_order_relaxed);
	return p;
}

/* os_unmap - give [addr, addr+size) back; false if the kernel refused (it
 * may, when the range splits a mapping and the process is at
 * vm.max_map_count). */
bool os_unmap(void *addr, size_t size)
{
	int saved = errno;
	bool ok = munmap(addr, size) == 0;
	if (ok)
		atomic_fetch_sub_explicit(&mapped_bytes, size, memory_order_relaxed);
	errno = saved;
	return ok;
}

/* os_reserve - @size bytes of address space that read as zero and cannot
 * be written (nothing committed; MAP_NORESERVE as well, for the overcommit
 * heuristic), not counted in mapped_bytes; NULL if the address space lacks
 * room. */
void *os_reserve(size_t size)
{
	int saved = errno;
	void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	errno = saved;
	return p == MAP_FAILED ? NULL : p;
}

/* os_commit - make [addr, addr+size) of a reservation writable. */
bool os_commit(void *addr, size_t size)
{
	int saved = errno;
	bool ok = mprotect(addr, size, PROT_READ | PROT_WRITE) == 0;
	errno = saved;
	return ok;
}

/* os_purge - give the pages' memory back; the range stays mapped. With
 * MADV_DONTNEED (the default) it reads as zero afterwards; with madvise=free
 * (MADV_FREE) the kernel takes the pages only when it needs memory, they
 * count in RSS until then, and their old contents may still be read: see
 * os_purge_zeroes(). False when the kernel refused: pages the program
 * mlock'd (and freed without munlock) keep their contents, and must not
 * be taken for zero. */
bool os_purge(void *addr, size_t size)
{
	int saved = errno;
	bool ok = madvise(addr, size, options.madvise_free ? MADV_FREE : MADV_DONTNEED) == 0;
	errno = saved;
	return ok;
}

/* os_resident - which pages of [@addr, @addr + @size) are resident
 * (mincore: bit 0 of one byte per page in @vec); false if the kernel
 * cannot say. */
bool os_resident(void *addr, size_t size, unsigned char *vec)
{
	int saved = errno;
	bool ok = mincore(addr, size, vec) == 0;
	errno = saved;
	return ok;
}

/* os_swap_configured - may pages of this process be in swap now? (A page
 * of private anonymous memory that is not resident then reads as zero.) */
bool os_swap_configured(void)
{
	struct sysinfo si;
	int saved = errno;
	bool swap = sysinfo(&si) != 0 || si.totalswap != 0;
	errno = saved;
	return swap;
}

/* os_purge_zeroes - does purged memory read as zero? */
bool os_purge_zeroes(void)
{
	return !options.madvise_free;
}

/* os_remap - move or resize a mapping. With @fixed_at the mapping is moved
 * there (the caller reserved it); otherwise it is resized in place or fails. */
void *os_remap(void *old, size_t old_size, size_t new_size, void *fixed_at)
{
	int saved = errno;
	void *p;
	if (fixed_at)
		p = mremap(old, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, fixed_at);
	else
		p = mremap(old, old_size, new_size, 0);
	if (p == MAP_FAILED) {
		errno = saved;
		return NULL;
	}
	if (new_size > old_size)
		atomic_fetch_add_explicit(&mapped_bytes, new_size - old_size, memory_order_relaxed);
	else
		atomic_fetch_sub_explicit(&mapped_bytes, old_size - new_size, memory_order_relaxed);
	/* a fixed move unmapped the reservation that was at fixed_at */
	if (fixed_at)
		atomic_fetch_sub_explicit(&mapped_bytes, new_size, memory_order_relaxed);
#ifdef HAVE_MEMCHECK_H
	/* what moved is defined, and what the mapping grew by reads as zero */
	(void)VALGRIND_MAKE_MEM_DEFINED(p, new_size);
#endif
	errno = saved;
	return p;
}

bool os_grow_in_place(void *addr, size_t old_size, size_t new_size)
{
	return os_remap(addr, old_size, new_size, NULL) != NULL;
}

/*
 * os_single_mapping - does [addr, addr+size) lie within one of the
 * kernel's mappings (VMAs)? mremap resizes only such a range, and before
 * Linux 6.17 moved only such a range; a program splits its block into
 * several with mprotect, madvise or mlock on part of it. Asks mremap to grow
 * the range in place by 1 TiB: it refuses a range across mappings with
 * EFAULT before anything else, and then one within a mapping for want of
 * room (ENOMEM, or EAGAIN for a locked one). Any other answer (EINVAL where
 * 1 TiB is beyond the address space) counts as not one. One system call,
 * nothing changed. (Growing by a page instead succeeded when the page after
 * was free, and giving it back cost a munmap: 2 MiB blocks' malloc+free
 * went from 80 ns to 3.7 us.) Should it ever grow, the added part goes
 * back.
 */
bool os_single_mapping(void *addr, size_t size)
{
	const size_t beyond = 1UL << 40;
	int saved = errno;
	bool single = true;
	void *p = mremap(addr, size, size + beyond, 0);
	if (p == MAP_FAILED)
		single = errno == ENOMEM || errno == EAGAIN; /* EFAULT: across; else unsure */
	else
		munmap((char *)addr + size, beyond);
	errno = saved;
	return single;
}

/* mremap_keeps_refused_target - does this kernel (Linux 6.17 and later)
 * check a move before it unmaps the destination, leaving it in place when
 * it refuses? From uname, once. */
static bool mremap_keeps_refused_target(void)
{
	static int keeps = -1; /* any thread may work it out: the same answer */
	int known = __atomic_load_n(&keeps, __ATOMIC_RELAXED);
	if (known < 0) {
		struct utsname u;
		unsigned int major = 0, minor = 0;
		if (uname(&u) == 0) { /* "6.18.44-..." (no sscanf: it may allocate) */
			const char *c = u.release;
			while (*c >= '0' && *c <= '9')
				major = major * 10 + (unsigned int)(*c++ - '0');
			if (*c == '.')
				c++;
			while (*c >= '0' && *c <= '9')
				minor = minor * 10 + (unsigned int)(*c++ - '0');
		}
		known = major > 6 || (major == 6 && minor >= 17);
		__atomic_store_n(&keeps, known, __ATOMIC_RELAXED);
	}
	return known;
}

/*
 * os_unmap_refused - give back [addr, addr+size) of a reservation that
 * mremap was asked to move a range onto and refused. Since Linux 6.17 it is
 * still the caller's: unmapped. Before, the kernel had unmapped it first,
 * so it is a hole, which another thread's mmap may fill at any moment:
 * unmapped only if it is still a hole, claimed back with
 * MAP_FIXED_NOREPLACE.
 */
void os_unmap_refused(void *addr, size_t size)
{
	int saved = errno;
	if (mremap_keeps_refused_target()) {
		os_unmap(addr, size);
	} else {
		void *p = mmap(addr, size, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p != MAP_FAILED)
			munmap(p, size); /* ours again (or a hint, where NOREPLACE is unknown) */
		atomic_fetch_sub_explicit(&mapped_bytes, size, memory_order_relaxed);
	}
	errno = saved;
}

/* os_read_file - up to @size - 1 bytes of the file at @path (a /proc
 * file: one read) into @buf, NUL-terminated, without stdio or allocating.
 * The number of bytes read, 0 if the file cannot be opened or read; errno
 * unchanged. */
size_t os_read_file(const char *path, char *buf, size_t size)
{
	int saved = errno;
	ssize_t n = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, size - 1);
		close(fd);
	}
	errno = saved;
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	return (size_t)n;
}

/* os_parse_ulong - the decimal number at *@s, which is moved past it. */
unsigned long os_parse_ulong(const char **s)
{
	unsigned long value = 0;
	while (**s >= '0' && **s <= '9')
		value = value * 10 + (unsigned long)(*(*s)++ - '0');
	return value;
}

/* os_rss - resident set size in bytes, from /proc/self/statm (its second
 * field); 0 without /proc. */
size_t os_rss(void)
{
	char buf[128];
	if (!os_read_file("/proc/self/statm", buf, sizeof(buf)))
		return 0;
	const char *s = strchr(buf, ' ');
	if (!s)
		return 0;
	s++;
	return os_parse_ulong(&s) * (size_t)sysconf(_SC_PAGESIZE);
}
