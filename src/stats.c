/*
 * stats.c - the reports, in the kernel's own forms, and glibc's statistics
 * calls (mallinfo2, mallinfo, malloc_stats, malloc_info).
 *
 *   buddyinfo  free blocks per order, as /proc/buddyinfo
 *   slabinfo   per cache: active_objs num_objs objsize objperslab
 *              pagesperslab active_slabs num_slabs, as /proc/slabinfo 2.1;
 *              sharedavail (SLAB's shared array there): the free objects
 *              in the class's barn (slab.c), counted in active_objs
 *   zoneinfo   free and resident-free pages, watermarks, chunks, mapped
 *              bytes, large mappings, RSS
 *   pcp        each heap's page cache: count, high, batch
 *   malloc_info  glibc's XML, with a <size> per slab cache (total objects,
 *              free ones: "count", as glibc counts free chunks) and a
 *              <free> per buddy order; its "rest" total is the free page
 *              blocks (the zone's lists, its hot blocks, the threads' page
 *              caches): "count" blocks of "size" bytes, mallinfo2's
 *              fordblks (free slab objects are in use there, as pages)
 *
 * Slab figures come from walking every chunk's mem_map under the zone lock
 * (chunks cannot go away meanwhile) and reading each slab's owner-written
 * counters with relaxed loads: nothing is counted on the fast paths. As the
 * kernel's, the figures are a snapshot that other threads may be changing.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <stddef.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "buddyslab_shm.h"

#include "internal.h"

struct slab_totals {
	unsigned long active_objs[MAX_CACHES];
	unsigned long slabs[MAX_CACHES];
	unsigned long active_slabs[MAX_CACHES];
	unsigned long barn_objs[MAX_CACHES]; /* kmalloc classes: in the barn */
};

/* for_each_zone_page - @visit(page, @arg) for the descriptor of every page
 * of every chunk of the zone. Caller holds the zone lock; the descriptors'
 * fields are read with READ_ONCE, as their owners change them without it. */
static void for_each_zone_page(void (*visit)(struct page *, void *), void *arg)
{
	struct list_head *pos;
	list_for_each(pos, &zone.chunks) {
		struct chunk *c = list_entry(pos, struct chunk, list);
		for (unsigned long i = 0; i < CHUNK_PAGES; i++)
			visit(&c->mem_map[i], arg);
	}
}

static void count_slab_page(struct page *page, void *arg)
{
	struct slab_totals *t = arg;
	if (__atomic_load_n(&page->type, __ATOMIC_ACQUIRE) != PAGE_SLAB)
		return;
	unsigned int id = READ_ONCE(page->cache_id);
	unsigned int inuse = READ_ONCE(page->inuse);
	if (id >= MAX_CACHES)
		return;
	t->slabs[id]++;
	t->active_objs[id] += inuse;
	if (inuse)
		t->active_slabs[id]++;
}

/* Caller holds the zone lock. */
static void count_slabs(struct slab_totals *t)
{
	memset(t, 0, sizeof(*t));
	for_each_zone_page(count_slab_page, t);
}

struct page_totals {
	unsigned long large_pages;  /* PAGE_LARGE + PAGE_PAGES blocks */
	unsigned long slab_pages;
	unsigned long pcp_pages;
	unsigned long pcp_blocks;
	unsigned long internal_pages;
};

static void count_page(struct page *page, void *arg)
{
	struct page_totals *t = arg;
	switch (__atomic_load_n(&page->type, __ATOMIC_ACQUIRE)) {
	case PAGE_LARGE:
		t->large_pages += READ_ONCE(page->nr_pages);
		break;
	case PAGE_PAGES:
		t->large_pages += 1UL << READ_ONCE(page->order);
		break;
	case PAGE_SLAB:
		t->slab_pages += 1UL << READ_ONCE(page->order);
		break;
	case PAGE_PCP:
		t->pcp_pages += 1UL << READ_ONCE(page->order);
		t->pcp_blocks++;
		break;
	case PAGE_INTERNAL:
		t->internal_pages += 1UL << READ_ONCE(page->order);
		break;
	default:
		break;
	}
}

/* Caller holds the zone lock. */
static void count_pages(struct page_totals *t)
{
	memset(t, 0, sizeof(*t));
	for_each_zone_page(count_page, t);
}

/*
 * A snapshot of the zone, its pages and the heaps, taken under the locks
 * and printed after they are released: a report never holds an allocator
 * lock across write(2), which may block (a full pipe, a slow terminal).
 */
struct zone_snapshot {
	unsigned long nr_free[MAX_ORDER];
	unsigned long free_pages, dirty_free, hot_pages, hot_blocks, wmark_min, wmark_low, wmark_high;
	unsigned long isolated_pages;
	unsigned long chunks, chunks_unmapped, purged, vacated, reclaims;
	struct page_totals pages;
};

struct heap_snapshot {
	const void *heap;
	pid_t tid;
	int state, count, high, batch;
	unsigned long remote_frees, collected;
};

#define REPORT_HEAPS 256

struct report_snapshot {
	struct zone_snapshot zone;
	struct slab_totals slabs;
	struct heap_snapshot heaps[REPORT_HEAPS];
	unsigned int nr_heaps, heaps_omitted;
};

static void take_zone_snapshot(struct zone_snapshot *z, struct slab_totals *slabs)
{
	zone_lock();
	for (unsigned int k = 0; k < MAX_ORDER; k++)
		z->nr_free[k] = zone.free_area[k].nr_free;
	z->free_pages = zone.nr_free_pages;
	z->dirty_free = zone.nr_dirty_free;
	z->hot_pages = zone.nr_hot_pages;
	z->isolated_pages = zone.nr_isolated_pages;
	z->hot_blocks = 0;
	for (unsigned int k = 0; k < NR_HOT_ORDERS; k++)
		z->hot_blocks += zone.hot[k] != NULL;
	z->wmark_min = zone.watermark_min;
	z->wmark_low = zone.watermark_low;
	z->wmark_high = zone.watermark_high;
	z->chunks = zone.nr_chunks;
	z->chunks_unmapped = zone.nr_chunks_unmapped;
	z->purged = zone.nr_purged;
	z->vacated = atomic_load_explicit(&slab_vacated_pages, memory_order_relaxed);
	z->reclaims = zone.nr_reclaims;
	count_pages(&z->pages);
	count_slabs(slabs);
	zone_unlock();
}

static void snapshot_heap(struct heap *heap, void *arg)
{
	struct report_snapshot *snap = arg;
	if (snap->nr_heaps == REPORT_HEAPS) {
		snap->heaps_omitted++;
		return;
	}
	struct heap_snapshot *h = &snap->heaps[snap->nr_heaps++];
	h->heap = heap;
	h->tid = heap->tid;
	h->state = atomic_load(&heap->state);
	h->count = READ_ONCE(heap->pcp.count);
	h->high = READ_ONCE(heap->pcp.high);
	h->batch = heap->pcp.batch;
	h->remote_frees = READ_ONCE(heap->stat_remote_frees);
	h->collected = READ_ONCE(heap->stat_collected);
}

static void report_buddyinfo(struct fmtbuf *fb, const struct zone_snapshot *z)
{
	fmt_printf(fb, "Node 0, zone   Normal ");
	for (unsigned int k = 0; k < MAX_ORDER; k++)
		fmt_printf(fb, " %6lu", z->nr_free[k]);
	fmt_printf(fb, "\n");
}

static void report_slabinfo(struct fmtbuf *fb, const struct slab_totals *t)
{
	fmt_printf(fb, "slabinfo - version: 2.1\n");
	fmt_printf(fb, "# name            <active_objs> <num_objs> <objsize> <objperslab> "
		       "<pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : "
		       "slabdata <active_slabs> <num_slabs> <sharedavail>\n");
	/* under cache_lock: a kmem_cache_destroy now must not free a
	 * descriptor this reads (report_lock -> cache_lock, the lock order) */
	pmutex_lock(&cache_lock);
	for (unsigned int id = 0; id < MAX_CACHES; id++) {
		struct kmem_cache *cache = kmem_caches[id];
		if (!cache)
			continue;
		fmt_printf(fb, "%-17s %6lu %6lu %6u %4u %4lu : tunables %4u %4u %4u : slabdata %6lu %6lu %6lu\n",
			   cache->name, t->active_objs[id], t->slabs[id] * cache->objects,
			   cache->size, cache->objects, 1UL << cache->order, 0u, 0u, 0u,
			   t->active_slabs[id], t->slabs[id], t->barn_objs[id]);
	}
	pmutex_unlock(&cache_lock);
}

static void report_zoneinfo(struct fmtbuf *fb, const struct zone_snapshot *z)
{
	fmt_printf(fb, "Node 0, zone   Normal\n");
	fmt_printf(fb, "  pages free     %lu\n", z->free_pages);
	fmt_printf(fb, "        dirty    %lu\n", z->dirty_free);
	fmt_printf(fb, "        min      %lu\n", z->wmark_min);
	fmt_printf(fb, "        low      %lu\n", z->wmark_low);
	fmt_printf(fb, "        high     %lu\n", z->wmark_high);
	fmt_printf(fb, "        spanned  %lu\n", z->chunks * CHUNK_PAGES);
	fmt_printf(fb, "        slab     %lu\n", z->pages.slab_pages);
	fmt_printf(fb, "        large    %lu\n", z->pages.large_pages);
	fmt_printf(fb, "        pcp      %lu\n", z->pages.pcp_pages);
	fmt_printf(fb, "        hot      %lu\n", z->hot_pages);
	fmt_printf(fb, "        purging  %lu\n", z->isolated_pages);
	fmt_printf(fb, "        internal %lu\n", z->pages.internal_pages);
	fmt_printf(fb, "  chunks         %lu (%lu unmapped so far)\n", z->chunks,
		   z->chunks_unmapped);
	fmt_printf(fb, "  purged pages   %lu\n", z->purged);
	fmt_printf(fb, "  vacated pages  %lu (in slabs)\n", z->vacated);
	fmt_printf(fb, "  reclaims       %lu\n", z->reclaims);
	fmt_printf(fb, "  live collected %lu (objects of live heaps, by other threads)\n",
		   atomic_load(&heap_live_collected));
	fmt_printf(fb, "  vmalloc areas  %lu (%lu bytes)\n",
		   atomic_load(&vm_nr_areas), atomic_load(&vm_bytes));
	unsigned int cached;
	size_t cached_bytes;
	bool hot;
	if (vm_cache_counts(&cached, &cached_bytes, &hot))
		fmt_printf(fb, "  vmalloc cache  %u mappings (%zu bytes), hot mapping %s\n", cached,
			   cached_bytes, hot ? "yes" : "no");
	else
		fmt_printf(fb, "  vmalloc cache  busy\n");
	fmt_printf(fb, "  pagemap        %s\n", pagemap_kind_name());
	fmt_printf(fb, "  mapped bytes   %lu\n", os_mapped_bytes());
	fmt_printf(fb, "  rss bytes      %zu\n", os_rss());
}

static void report_pcp(struct fmtbuf *fb, const struct report_snapshot *snap)
{
	static const char *const state_names[] = { "active", "abandoned", "dead" };
	fmt_printf(fb, "per-thread page caches\n");
	for (unsigned int i = 0; i < snap->nr_heaps; i++) {
		const struct heap_snapshot *h = &snap->heaps[i];
		fmt_printf(fb, "  heap %p tid %-7d %-9s count %4d high %4d batch %3d remote_frees %lu collected %lu\n",
			   h->heap, (int)h->tid, state_names[h->state], h->count, h->high,
			   h->batch, h->remote_frees, h->collected);
	}
	if (snap->heaps_omitted)
		fmt_printf(fb, "  (%u more heaps)\n", snap->heaps_omitted);
	fmt_printf(fb, "  raised above pcp_high: %ld pages in all, within the zone's high watermark (%lu pages)\n",
		   pcp_raised_pages(), zone.watermark_high);
}

/* report_lock serialises reports (their snapshot is static); fork takes it
 * first, so a child never inherits it held. Reports and shm_update hold
 * their lock across write(2) and open(2), which are cancellation points:
 * they run with cancellation disabled, or a thread cancelled in
 * malloc_stats() left report_lock held, and every later fork() waited for
 * it (a subagent's lifecycle test; glibc's malloc_stats cannot be
 * cancelled either). */
pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

void report_write(int fd, unsigned int what)
{
	static struct report_snapshot snap; /* 31 KiB: off the stack */
	struct fmtbuf fb;
	int cancel_state;

	buddyslab_init();
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
	pmutex_lock(&report_lock);
	snap.nr_heaps = snap.heaps_omitted = 0;
	if (what & BUDDYSLAB_REPORT_PCP)
		heap_for_each(snapshot_heap, &snap);
	take_zone_snapshot(&snap.zone, &snap.slabs);
	/* after the zone snapshot, not under the zone lock (barns come first
	 * in the lock order) */
	for (unsigned int cls = 0; cls < NR_KMALLOC_CLASSES; cls++)
		snap.slabs.barn_objs[cls] = barn_objects(cls);

	fmt_init(&fb, fd);
	if (what & BUDDYSLAB_REPORT_PCP)
		report_pcp(&fb, &snap);
	if (what & BUDDYSLAB_REPORT_BUDDYINFO)
		report_buddyinfo(&fb, &snap.zone);
	if (what & BUDDYSLAB_REPORT_ZONEINFO)
		report_zoneinfo(&fb, &snap.zone);
	if (what & BUDDYSLAB_REPORT_SLABINFO)
		report_slabinfo(&fb, &snap.slabs);
	fmt_flush(&fb);
	pmutex_unlock(&report_lock);
	pthread_setcancelstate(cancel_state, NULL);
}

void buddyslab_report(int fd, unsigned int what)
{
	report_write(fd, what);
}

/* ---- the live statistics page (include/buddyslab_shm.h) ----------------- */

static struct buddyslab_shm *shm_page;
/* shm_lock serialises writers of the page; taken by fork like report_lock */
pthread_mutex_t shm_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t shm_pid;
/* A fork child does not publish a page of its own: children that leave by
 * _exit() (most do) would leave their files behind. Its exec'd program
 * reads the options anew. */
static bool shm_forked;
static bool shm_failed;
static char shm_path[64];

static void shm_make_path(pid_t pid)
{
	/* "/dev/shm/buddyslab.PID" without snprintf (it may allocate) */
	char digits[16];
	int n = 0;
	unsigned int v = (unsigned int)pid;
	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	size_t len = strlen("/dev/shm/buddyslab.");
	memcpy(shm_path, "/dev/shm/buddyslab.", len);
	while (n)
		shm_path[len++] = digits[--n];
	shm_path[len] = '\0';
}

/* realtime_ms - CLOCK_REALTIME in ms: the page's time_ms */
static uint64_t realtime_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* shm_page_stale - is the page @name in /dev/shm (@dir), of process @pid,
 * one that its process left behind? The process is gone (kill says
 * ESRCH; EPERM is a live process of another user), and the page was not
 * rewritten for 10 s plus twice its interval, or, never written, was
 * made a minute ago or more: a live process of another pid namespace
 * that shares /dev/shm keeps its page. A file that is not a page (its
 * magic) is not touched. */
static bool shm_page_stale(int dir, const char *name, pid_t pid, uint64_t now_ms)
{
	struct stat st;
	if (kill(pid, 0) == 0 || errno != ESRCH ||
	    fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
		return false;
	int fd = openat(dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return false;
	/* the page's first fields (the whole page is 24 KiB: not on the stack) */
	union {
		unsigned char bytes[offsetof(struct buddyslab_shm, nr_free)];
		uint64_t align;
	} head;
	uint64_t magic, time_ms;
	uint32_t version, size, interval = 0;
	int32_t page_pid;
	bool stale = false;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    pread(fd, head.bytes, sizeof(head.bytes), 0) == (ssize_t)sizeof(head.bytes)) {
#define HEAD_FIELD(var, field) \
	memcpy(&(var), head.bytes + offsetof(struct buddyslab_shm, field), sizeof(var))
		HEAD_FIELD(magic, magic);
		HEAD_FIELD(version, version);
		HEAD_FIELD(size, size);
		HEAD_FIELD(time_ms, time_ms);
		HEAD_FIELD(page_pid, pid);
#undef HEAD_FIELD
		if (magic == BUDDYSLAB_SHM_MAGIC && page_pid == pid) {
			if (version != BUDDYSLAB_SHM_VERSION || size != sizeof(struct buddyslab_shm) ||
			    pread(fd, &interval, sizeof(interval),
				  offsetof(struct buddyslab_shm, interval_ms)) != sizeof(interval))
				interval = 0;
			stale = now_ms > time_ms + 10000 + 2 * (uint64_t)interval;
		} else if (magic == 0 && (size_t)st.st_size == sizeof(struct buddyslab_shm)) {
			stale = now_ms / 1000 > (uint64_t)st.st_mtime + 60; /* made, never written */
		}
	}
	close(fd);
	return stale;
}

/* shm_remove_stale - remove the pages other processes left behind in
 * /dev/shm: one that ends without exit() (by _exit(), as most fork
 * children and every `sh -c` do, or by a signal) never removes its own,
 * and they piled up (111 after a review's fork and spawn tests). Once,
 * when this process makes its page. No stdio, no opendir: they allocate. */
static void shm_remove_stale(pid_t self)
{
	int dir = open("/dev/shm", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return;
	uint64_t now_ms = realtime_ms();
	_Alignas(8) char buf[4096];
	long n;
	while ((n = syscall(SYS_getdents64, dir, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			struct {
				uint64_t ino;
				int64_t off;
				unsigned short reclen;
				unsigned char type;
				char name[];
			} *d = (void *)(buf + off);
			off += d->reclen;
			const char *prefix = "buddyslab.";
			if (strncmp(d->name, prefix, strlen(prefix)) != 0)
				continue;
			const char *c = d->name + strlen(prefix);
			long pid = 0;
			while (*c >= '0' && *c <= '9' && pid < INT32_MAX)
				pid = pid * 10 + (*c++ - '0');
			if (*c || pid <= 0 || pid >= INT32_MAX || pid == self)
				continue;
			if (shm_page_stale(dir, d->name, (pid_t)pid, now_ms))
				unlinkat(dir, d->name, 0);
		}
	}
	close(dir);
}

/* the page's file, open and flock'd while this process publishes it */
static int shm_fd = -1;

/*
 * shm_map - make and map this process's page, or say why not (once: the
 * caller does not try again) and return NULL. The program goes on either
 * way; three ways it did not (a subagent's tests, 2026-11-28):
 *  - a full /dev/shm: ftruncate reserved nothing on tmpfs, and the first
 *    write to the page killed the program with SIGBUS. posix_fallocate
 *    reserves the page's blocks, or fails;
 *  - a file size limit (ulimit -f) below the page's size: ftruncate
 *    killed it with SIGXFSZ;
 *  - a process of the same pid in another pid namespace that shares
 *    /dev/shm: the two wrote one page, and the first to exit removed the
 *    other's file. The file is the process's while it holds an exclusive
 *    flock on it, taken before the file is touched and kept (the fd stays
 *    open; exec() closes it, and the program exec'd takes it again); a
 *    file locked by another process is left alone. Once locked, the file
 *    is emptied and reserved anew: a page left by a process that died in
 *    the middle of an update kept its odd seq, which inverted the seqlock
 *    for good (a review's finding).
 */
static struct buddyslab_shm *shm_map(void)
{
	pid_t pid = getpid();
	const size_t size = sizeof(struct buddyslab_shm);
	shm_remove_stale(pid);
	shm_make_path(pid);
	if (fsize_limit() < size) {
		bs_warn("shm=1: no %s: the file size limit (ulimit -f) is below its %zu bytes",
			shm_path, size);
		return NULL;
	}
	int fd = open(shm_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		bs_warn("shm=1: cannot make %s: %s", shm_path, strerror(errno));
		return NULL;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		bs_warn("shm=1: no %s: another process holds it (one of the same pid in another "
			"pid namespace)", shm_path);
		close(fd);
		return NULL;
	}
	void *p = MAP_FAILED;
	int err = ftruncate(fd, 0) == 0 ? posix_fallocate(fd, 0, (off_t)size) : errno;
	if (err == 0) {
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		err = errno;
	}
	if (p == MAP_FAILED) {
		bs_warn("shm=1: cannot make %s: %s", shm_path, strerror(err));
		unlink(shm_path);
		close(fd);
		return NULL;
	}
	shm_fd = fd;
	shm_pid = pid;
	return p;
}

/* shm_unlink_own - remove the page's file if the path still names the
 * file this process holds (see shm_map). */
static void shm_unlink_own(void)
{
	struct stat own, st;
	if (shm_fd >= 0 && fstat(shm_fd, &own) == 0 && stat(shm_path, &st) == 0 &&
	    st.st_dev == own.st_dev && st.st_ino == own.st_ino)
		unlink(shm_path);
}

static void shm_copy_heap(struct heap *heap, void *arg)
{
	struct buddyslab_shm *page = arg;
	int state = atomic_load(&heap->state);
	page->all_heaps++;
	page->all_heaps_active += state == HEAP_ACTIVE;
	if (page->nr_heaps >= BUDDYSLAB_SHM_HEAPS)
		return;
	struct buddyslab_shm_heap *h = &page->heaps[page->nr_heaps++];
	h->tid = heap->tid;
	h->state = state;
	h->pcp_count = READ_ONCE(heap->pcp.count);
	h->pcp_high = READ_ONCE(heap->pcp.high);
	h->remote_frees = READ_ONCE(heap->stat_remote_frees);
	h->collected = READ_ONCE(heap->stat_collected);
}

/*
 * shm_update - rewrite the statistics page from the same walk as the
 * reports (the background thread calls it every shm_ms). Seqlock writer:
 * seq is odd while the page is being written.
 */
void shm_update(void)
{
	static struct slab_totals totals;
	int cancel_state; /* open(2) below: see report_lock */

	int saved = errno; /* the first, from the constructor: main's errno starts at 0 */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
	pmutex_lock(&shm_lock);
	if (!shm_page && !shm_forked && !shm_failed) {
		shm_page = shm_map();
		shm_failed = !shm_page; /* said why once; not tried again */
	}
	struct buddyslab_shm *page = shm_page;
	if (!page) {
		pmutex_unlock(&shm_lock);
		pthread_setcancelstate(cancel_state, NULL);
		errno = saved;
		return;
	}
	__atomic_store_n(&page->seq, page->seq + 1, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	page->magic = BUDDYSLAB_SHM_MAGIC;
	page->version = BUDDYSLAB_SHM_VERSION;
	page->size = sizeof(*page);
	page->pid = shm_pid;
	page->page_size = PAGE_SIZE;
	page->interval_ms = (uint32_t)options.shm_ms;
	page->time_ms = realtime_ms();

	struct zone_snapshot z;
	take_zone_snapshot(&z, &totals);
	for (unsigned int k = 0; k < MAX_ORDER && k < BUDDYSLAB_SHM_ORDERS; k++)
		page->nr_free[k] = z.nr_free[k];
	page->free_pages = z.free_pages;
	page->dirty_free_pages = z.dirty_free;
	page->wmark_min = z.wmark_min;
	page->wmark_low = z.wmark_low;
	page->wmark_high = z.wmark_high;
	page->chunks = z.chunks;
	page->purged_pages = z.purged;
	page->slab_pages = z.pages.slab_pages;
	page->large_pages = z.pages.large_pages;
	page->pcp_pages = z.pages.pcp_pages;
	page->internal_pages = z.pages.internal_pages;
	page->vm_areas = atomic_load(&vm_nr_areas);
	page->vm_bytes = atomic_load(&vm_bytes);
	page->mapped_bytes = os_mapped_bytes();
	page->rss_bytes = os_rss();
	page->hot_pages = z.hot_pages;
	page->purging_pages = z.isolated_pages;
	unsigned int cached;
	size_t cached_bytes;
	bool hot;
	if (vm_cache_counts(&cached, &cached_bytes, &hot)) { /* else last time's */
		page->vm_cached = cached;
		page->vm_cached_bytes = cached_bytes;
		page->vm_hot = hot;
	}

	unsigned int n = 0, all = 0;
	pmutex_lock(&cache_lock); /* as report_slabinfo (shm_lock -> cache_lock) */
	for (unsigned int id = 0; id < MAX_CACHES; id++) {
		struct kmem_cache *cache = kmem_caches[id];
		if (!cache || all++ >= BUDDYSLAB_SHM_CACHES)
			continue;
		struct buddyslab_shm_cache *out = &page->caches[n++];
		memcpy(out->name, cache->name, sizeof(out->name));
		out->objsize = cache->size;
		out->objperslab = cache->objects;
		out->pagesperslab = 1U << cache->order;
		out->active_objs = totals.active_objs[id];
		out->num_objs = totals.slabs[id] * cache->objects;
		out->active_slabs = totals.active_slabs[id];
		out->num_slabs = totals.slabs[id];
	}
	pmutex_unlock(&cache_lock);
	page->nr_caches = n;
	page->all_caches = all;
	page->nr_heaps = page->all_heaps = page->all_heaps_active = 0;
	heap_for_each(shm_copy_heap, page);
	page->updates++;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&page->seq, page->seq + 1, __ATOMIC_RELEASE);
	pmutex_unlock(&shm_lock);
	pthread_setcancelstate(cancel_state, NULL);
	errno = saved;
}

/* shm_fork_child - the inherited page is the parent's: let go of it, and
 * publish none in the child. */
void shm_fork_child(void)
{
	shm_forked = true;
	if (shm_page) {
		munmap(shm_page, sizeof(*shm_page));
		shm_page = NULL;
	}
	if (shm_fd >= 0) { /* the parent's lock stays the parent's */
		close(shm_fd);
		shm_fd = -1;
	}
}

void stats_at_exit(void)
{
	if (options.stats) {
		int fd = STDERR_FILENO;
		if (options.stats_file[0]) {
			fd = open(options.stats_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
			if (fd < 0) { /* the report is not lost: to stderr, with why */
				bs_warn("stats_file %s: %s; the report goes to stderr",
					options.stats_file, strerror(errno));
				fd = STDERR_FILENO;
			}
		}
		if (fd >= 0) {
			report_write(fd, BUDDYSLAB_REPORT_ALL);
			if (fd != STDERR_FILENO)
				close(fd);
		}
	}
	if (shm_page && shm_pid == getpid())
		shm_unlink_own();
}

/* ---- glibc's statistics calls ----------------------------------------------- */
#ifndef BUDDYSLAB_NO_INTERPOSE
#define PUBLIC __attribute__((visibility("default")))

/* free_page_bytes - the free page blocks' bytes: the zone's lists
 * (@free_pages), its hot blocks (@hot_pages), the blocks a purge has off
 * the lists (@purging) and the page caches (@t): mallinfo2's fordblks and
 * malloc_info's "rest" total, one definition. (The blocks being purged
 * counted as in use: mallinfo2 read while kswapd purged found up to 8 MiB
 * more in use than there was.) */
static size_t free_page_bytes(unsigned long free_pages, unsigned long hot_pages,
			      unsigned long purging, const struct page_totals *t)
{
	return (size_t)(free_pages + hot_pages + purging + t->pcp_pages) << PAGE_SHIFT;
}

struct usage {
	size_t mapped;      /* chunks + large mappings */
	size_t free_bytes;  /* zone free, hot and pcp pages */
	size_t in_use;      /* mapped - free */
	size_t vm;          /* large mappings */
	unsigned long nr_vm;
};

static void usage_get(struct usage *u)
{
	struct page_totals pt;
	buddyslab_init();
	zone_lock();
	count_pages(&pt);
	size_t chunk_bytes = zone.nr_chunks * CHUNK_SIZE;
	u->free_bytes = free_page_bytes(zone.nr_free_pages, zone.nr_hot_pages,
					zone.nr_isolated_pages, &pt);
	zone_unlock();
	u->vm = atomic_load(&vm_bytes);
	u->nr_vm = atomic_load(&vm_nr_areas);
	u->mapped = chunk_bytes + u->vm;
	u->in_use = u->mapped - u->free_bytes;
}

PUBLIC struct mallinfo2 mallinfo2(void)
{
	struct mallinfo2 mi;
	struct usage u;
	usage_get(&u);
	memset(&mi, 0, sizeof(mi));
	mi.arena = u.mapped - u.vm;
	mi.ordblks = u.free_bytes ? 1 : 0;
	mi.hblks = u.nr_vm;
	mi.hblkhd = u.vm;
	/* glibc's: in use in the arena, the mapped blocks apart (in hblkhd):
	 * uordblks + fordblks = arena */
	mi.uordblks = u.in_use - u.vm;
	mi.fordblks = u.free_bytes;
	mi.keepcost = 0;
	return mi;
}

PUBLIC struct mallinfo mallinfo(void)
{
	struct mallinfo2 mi2 = mallinfo2();
	struct mallinfo mi;
	mi.arena = (int)mi2.arena;
	mi.ordblks = (int)mi2.ordblks;
	mi.smblks = 0;
	mi.hblks = (int)mi2.hblks;
	mi.hblkhd = (int)mi2.hblkhd;
	mi.usmblks = 0;
	mi.fsmblks = 0;
	mi.uordblks = (int)mi2.uordblks;
	mi.fordblks = (int)mi2.fordblks;
	mi.keepcost = 0;
	return mi;
}

/* glibc's own name for it (see malloc.c's __libc_malloc) */
PUBLIC struct mallinfo __libc_mallinfo(void) __attribute__((alias("mallinfo")));

PUBLIC void malloc_stats(void)
{
	struct usage u;
	usage_get(&u);
	bs_printf(STDERR_FILENO,
		  "Arena 0:\nsystem bytes     = %10zu\nin use bytes     = %10zu\n"
		  "Total (incl. mmap):\nsystem bytes     = %10zu\nin use bytes     = %10zu\n"
		  "max mmap regions = %10lu\nmax mmap bytes   = %10zu\n",
		  u.mapped - u.vm, u.in_use - u.vm, u.mapped, u.in_use, u.nr_vm, u.vm);
	report_write(STDERR_FILENO, BUDDYSLAB_REPORT_ALL);
}

PUBLIC int malloc_info(int options_arg, FILE *fp)
{
	if (options_arg != 0)
		return EINVAL; /* glibc's return, errno untouched */
	/* snapshot first, print after: fprintf may allocate. One snapshot
	 * for every figure of the heap: with a second one (usage_get) for its
	 * "system", another thread's work in between could make "rest" more
	 * than the memory it is part of. */
	buddyslab_init();
	struct slab_totals slabs; /* 12 KiB, on this thread's stack */
	struct zone_snapshot z;
	take_zone_snapshot(&z, &slabs);
	size_t heap_bytes = z.chunks * CHUNK_SIZE;
	size_t vm = atomic_load(&vm_bytes);
	unsigned long nr_vm = atomic_load(&vm_nr_areas);
	fprintf(fp, "<malloc version=\"buddyslab-1\">\n<heap nr=\"0\">\n<sizes>\n");
	for (unsigned int id = 0; id < MAX_CACHES; id++) {
		if (!slabs.slabs[id])
			continue;
		/* the descriptor copied under cache_lock (a kmem_cache_destroy
		 * may free it), printed after it (fprintf may allocate, and an
		 * allocation may let a destroyed cache go: cache_put) */
		struct kmem_cache c;
		pmutex_lock(&cache_lock);
		struct kmem_cache *cache = kmem_caches[id];
		if (cache)
			memcpy(&c, cache, offsetof(struct kmem_cache, dead));
		pmutex_unlock(&cache_lock);
		if (!cache)
			continue;
		unsigned long total = slabs.slabs[id] * c.objects;
		fprintf(fp, "<size from=\"%u\" to=\"%u\" total=\"%lu\" count=\"%lu\" name=\"%s\"/>\n",
			c.object_size, c.size, total, total - slabs.active_objs[id], c.name);
	}
	fprintf(fp, "</sizes>\n");
	unsigned long free_blocks = z.hot_blocks + z.pages.pcp_blocks;
	for (unsigned int k = 0; k < MAX_ORDER; k++) {
		fprintf(fp, "<free order=\"%u\" blocks=\"%lu\" size=\"%lu\"/>\n", k, z.nr_free[k],
			z.nr_free[k] * (PAGE_SIZE << k));
		free_blocks += z.nr_free[k];
	}
	fprintf(fp, "<total type=\"fast\" count=\"0\" size=\"0\"/>\n"
		    "<total type=\"rest\" count=\"%lu\" size=\"%zu\"/>\n"
		    "<system type=\"current\" size=\"%zu\"/>\n"
		    "<aspace type=\"total\" size=\"%zu\"/>\n"
		    "</heap>\n"
		    "<total type=\"mmap\" count=\"%lu\" size=\"%zu\"/>\n"
		    "<system type=\"current\" size=\"%zu\"/>\n"
		    "<aspace type=\"total\" size=\"%zu\"/>\n"
		    "</malloc>\n",
		free_blocks, free_page_bytes(z.free_pages, z.hot_pages, z.isolated_pages, &z.pages),
		heap_bytes, heap_bytes, nr_vm, vm, heap_bytes + vm, heap_bytes + vm);
	return 0;
}
#endif
