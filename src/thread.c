/*
 * thread.c - heaps: what each thread allocates from without a lock, their
 * life cycle, process start-up and fork.
 *
 * A thread gets a heap on its first allocation (heap_get_slow), or on its
 * HEAP_AFTER_FREES-th free of a slab object or page block (heap_for_free,
 * for threads that only free): an abandoned
 * one from the pool if there is one, else a new one carved from the zone.
 * When the thread exits (pthread key destructor) its heap gives its cached
 * pages and empty slabs back, then is abandoned: it still owns the slabs
 * that hold live objects, other threads' frees still reach it through its
 * remote stack, and the next new thread adopts it. Heaps are never freed,
 * so slab->owner always points to a heap (but in the slabs a destroyed
 * kmem_cache leaked: NULL, see heap_drop_cache). A heap pooled beyond
 * the first HEAP_POOL_WARM keeps only its header's pages: its bins are
 * reset and their pages purged (heap_bins_reset), as every pooled heap's
 * by malloc_trim.
 *
 * A thread that allocates after its destructor ran gets a heap again and
 * registers again (glibc runs destructors up to four rounds).
 *
 * Locks: heap_lock protects heap_list and heap_pool. Lock order:
 * report_lock -> shm_lock -> heap_lock -> cache_lock -> vm_cache_lock ->
 * the barns' locks (slab.c) -> zone_purge_lock (page_alloc.c) ->
 * zone->lock -> pagemap_lock.
 *
 * fork: the prepare handler takes every lock in that order, the parent
 * releases them, the child re-initialises them and marks every heap but its
 * own HEAP_DEAD (their threads do not exist in the child; they may have been
 * mid-update, so they are never touched again: their slabs are leaked).
 * Between them run the handlers that other libraries registered before
 * buddyslab did (a library linked to the program registers in its
 * constructor, which runs before buddyslab's): glibc runs prepare handlers
 * newest first, parent and child handlers oldest first. Those may allocate
 * and free, in the forking thread, which holds every lock: its lock calls
 * return at once until fork_parent or fork_child (fork_holds_locks); they
 * waited for themselves before, and the fork hung.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

__thread struct heap *thread_heap __attribute__((tls_model("initial-exec"))) = &empty_heap;
__thread unsigned int heapless_frees __attribute__((tls_model("initial-exec")));

/* The heap of a thread that has none: every bin it names is empty_bin,
 * empty for malloc and full for free, so both fall to their slow paths:
 * malloc's gives the thread a real heap. Never owns a slab. */
struct heap empty_heap = {
	.direct = { [0 ... NR_DIRECT - 1] = &empty_bin },
	.direct_big = { [0 ... NR_DIRECT_BIG - 1] = &empty_bin },
	.bin_of = { [0 ... MAX_CACHES - 1] = &empty_bin },
	.free_bin = { [0 ... NR_FREE_CLASSES - 1] = &empty_bin },
};

pthread_mutex_t heap_lock = PTHREAD_MUTEX_INITIALIZER;
static struct heap *heap_list;   /* every heap ever made */
static struct heap *heap_pool;   /* abandoned heaps, LIFO */
/* how many, and those being pooled (heap_abandon counts a heap in before
 * it takes heap_lock to pool it); read without the lock */
_Atomic unsigned int heap_pool_size;
_Atomic unsigned long abandoned_pending;
/* the main thread (the thread-group leader) gave its heap up: it ended
 * in pthread_exit (glibc runs its key destructors), or the destructors of
 * a thread that is about to call exit ran (kswapd_alone, without /proc) */
_Atomic bool leader_exited;
/* heaps owned by live threads (HEAP_ACTIVE): the page caches' share of
 * the zone's high watermark (pcp.c pcp_share) */
_Atomic unsigned long nr_active_heaps;
_Atomic int buddyslab_initialized;
static pthread_key_t heap_key;
/* The library constructor ran: libc is fully up, threads may be created. */
static bool constructed;

_Static_assert(sizeof(struct heap) <= (PAGE_SIZE << HEAP_ORDER), "heap fits its block");

static void heap_thread_exit(void *arg);

/*
 * buddyslab_init - once per process, before the first allocation: options,
 * size classes, the zone, the thread-exit key. Nothing here allocates.
 * A second thread arriving during initialisation waits for it.
 */
void buddyslab_init(void)
{
	int state = atomic_load_explicit(&buddyslab_initialized, memory_order_acquire);
	if (likely(state == 2))
		return;
	int expected = 0;
	if (atomic_compare_exchange_strong(&buddyslab_initialized, &expected, 1)) {
		options_init();
		slab_init();
		zone_init_watermarks();
		pthread_key_create(&heap_key, heap_thread_exit);
		atomic_store_explicit(&buddyslab_initialized, 2, memory_order_release);
		return;
	}
	while (atomic_load_explicit(&buddyslab_initialized, memory_order_acquire) != 2)
		sched_yield();
}

/* heap_setup - a new heap in its block; @zeroed: the block is all zero
 * (fresh from the OS, or given back with MADV_DONTNEED), so its bins,
 * which must start zero, are not written, and their pages stay out of
 * the RSS until their classes are used. Otherwise only the bins' headers
 * are cleared (their slots need not be zero). */
static void heap_setup(struct heap *heap, bool zeroed)
{
	/* heaps are numbered as they are made (a pooled heap keeps its
	 * number, with its slabs): the tag of its slabs of classes under a
	 * cache line, in free()'s map (free_class) */
	static _Atomic unsigned int heaps_made;
	memset(heap, 0, sizeof(*heap));
	heap->line_tag = atomic_fetch_add_explicit(&heaps_made, 1, memory_order_relaxed) % NR_LINE_TAGS;
	char *bins = (char *)heap + HEAP_BINS_OFFSET;
	for (unsigned int i = 0; i < MAX_CACHES; i++)
		heap->bin_of[i] = &empty_bin;
	for (unsigned int i = 0; i < NR_FREE_CLASSES; i++)
		heap->free_bin[i] = &empty_bin;
	for (unsigned int i = 0; i < nr_kmalloc_caches; i++) {
		struct kmem_cache_cpu *c = &heap->kmalloc[i];
		kmem_cache_cpu_init(c, &kmalloc_caches[i]);
		heap->cpu[i] = c;
		/* the bins follow the heap in its block (slab_init checked
		 * that they fit), all zero: each is set up on its class's
		 * first use (bin_setup) */
		heap->bins[i] = (struct kmalloc_bin *)bins;
		if (!zeroed)
			memset(heap->bins[i], 0, sizeof(struct kmalloc_bin));
		DEBUG_CHECK(heap->bins[i]->capacity == 0 && heap->bins[i]->count == 0,
			    "a new heap's bin zero", heap->bins[i]);
		bins += bin_bytes(i);
		heap->bin_of[kmalloc_caches[i].id] = heap->bins[i];
		heap->free_bin[free_class(i, heap->line_tag)] = heap->bins[i];
	}
	/* the direct[] entries: the bin of the class of their sizes */
	for (unsigned int d = 0; d < NR_DIRECT; d++)
		heap->direct[d] = heap->bins[kmalloc_index_small[d]];
	heap->direct_big[0] = &empty_bin; /* no size: (size - 1) >> 8 >= KMALLOC_DIRECT_MAX / 256 */
	for (unsigned int d = 1; d < NR_DIRECT_BIG; d++)
		heap->direct_big[d] = heap->bins[kmalloc_index((size_t)d * 256 + 1)];
	if (unlikely(options.poison)) {
		/* no bins: every small malloc and free takes the slow path,
		 * which poisons and checks (slab.c, "poisoning") */
		for (unsigned int i = 0; i < nr_kmalloc_caches; i++) {
			heap->bin_of[kmalloc_caches[i].id] = &empty_bin;
			heap->free_bin[free_class(i, heap->line_tag)] = &empty_bin;
		}
		for (unsigned int d = 0; d < NR_DIRECT; d++)
			heap->direct[d] = &empty_bin;
		for (unsigned int d = 0; d < NR_DIRECT_BIG; d++)
			heap->direct_big[d] = &empty_bin;
	}
	pcp_init(&heap->pcp);
	atomic_store(&heap->remote_slabs, NULL);
	heap->destroy_seen = atomic_load(&kmem_cache_destroy_gen);
}

/* set while heap_get_slow runs: a free() inside it (reclaim) makes no heap */
static __thread bool heap_getting __attribute__((tls_model("initial-exec")));

/*
 * Late heaps. glibc runs the threads' key destructors in up to four rounds
 * (PTHREAD_DESTRUCTOR_ITERATIONS); a destructor that allocates after
 * heap_thread_exit gave the thread's heap up gets a heap again, and
 * registers it again, for the next round -- but after the fourth there is
 * none, and the heap stayed the dead thread's for good (about 130 KiB a
 * thread). Such a heap is marked late (heap_exited: this thread's
 * heap_thread_exit ran); a late heap whose thread is gone (tgkill says
 * ESRCH: no code of it runs any more) is taken, caches and all, by the
 * next thread that needs a new heap and finds the pool empty. A
 * heap_thread_exit that does run again gives it up as usual. The look walks
 * heap_list, under heap_lock, only while some heap is late, and only when
 * a heap would be made: the pool is empty, so the process has more threads
 * than ever before.
 */
static __thread bool heap_exited __attribute__((tls_model("initial-exec")));
static _Atomic unsigned int late_heaps; /* heaps with ->late set */

/* heap_take_late_locked - a late heap whose thread is gone, no longer
 * late, or NULL. Under heap_lock. */
static struct heap *heap_take_late_locked(void)
{
	/* not in a fork child before fork_child: every thread of the parent
	 * is ESRCH there, those still running in it too, and their heaps are
	 * not yet marked dead */
	if (likely(!atomic_load_explicit(&late_heaps, memory_order_relaxed)) || fork_holds_locks())
		return NULL;
	int saved = errno;
	pid_t pid = getpid();
	struct heap *heap;
	for (heap = heap_list; heap; heap = heap->next_all)
		if (heap->late && atomic_load(&heap->state) == HEAP_ACTIVE &&
		    syscall(SYS_tgkill, pid, heap->tid, 0) != 0 && errno == ESRCH)
			break;
	if (heap) {
		heap->late = false;
		atomic_fetch_sub_explicit(&late_heaps, 1, memory_order_relaxed);
	}
	errno = saved;
	return heap;
}

/* heap_get_new - an abandoned heap from the pool, or a new one, made the
 * calling thread's */
static struct heap *heap_get_new(void)
{
	struct heap *heap;
	pmutex_lock(&heap_lock);
	heap = heap_pool;
	if (heap) {
		heap_pool = heap->next_pool;
		atomic_fetch_sub_explicit(&heap_pool_size, 1, memory_order_relaxed);
	}
	else
		heap = heap_take_late_locked();
	pmutex_unlock(&heap_lock);

	if (heap) {
		if (atomic_load(&heap->state) != HEAP_ACTIVE) /* a late heap was */
			atomic_fetch_add_explicit(&nr_active_heaps, 1, memory_order_relaxed);
		atomic_store_explicit(&heap->state, HEAP_ACTIVE, memory_order_release);
	} else {
		struct page *page = __alloc_pages_zone(0, HEAP_ORDER);
		if (!page)
			return NULL;
		bool zeroed = (page->flags & PG_clean) && os_purge_zeroes();
		WRITE_ONCE(page->type, PAGE_INTERNAL);
		heap = (struct heap *)page_address(page);
		atomic_fetch_add_explicit(&nr_active_heaps, 1, memory_order_relaxed);
		heap_setup(heap, zeroed);
		atomic_store_explicit(&heap->state, HEAP_ACTIVE, memory_order_release);
		pmutex_lock(&heap_lock);
		heap->next_all = heap_list;
		heap_list = heap;
		pmutex_unlock(&heap_lock);
	}
	heap->tid = (pid_t)syscall(SYS_gettid);
	if (unlikely(heap_exited)) { /* maybe after the last round: late */
		pmutex_lock(&heap_lock);
		heap->late = true;
		atomic_fetch_add_explicit(&late_heaps, 1, memory_order_relaxed);
		pmutex_unlock(&heap_lock);
	}
	/* set before pthread_setspecific: if it allocates, it finds the heap */
	thread_heap = heap;
	pthread_setspecific(heap_key, heap);
	if (constructed)
		kswapd_maybe_start(); /* after fork(), the child's first new heap */
	return heap;
}

/* heap_get_slow - the calling thread's first allocation (or first after its
 * heap was released at exit). NULL only when no memory is left for a heap. */
struct heap *heap_get_slow(void)
{
	buddyslab_init();
	struct heap *heap = heap_current();
	if (heap)
		return heap;
	heap_getting = true;
	heap = heap_get_new();
	heap_getting = false;
	return heap;
}

/* pthread_lock_free, futex_lock_free - is @lock free (held by no thread,
 * this one included)? */
static bool pthread_lock_free(pthread_mutex_t *lock)
{
	if (!pmutex_trylock(lock))
		return false;
	pmutex_unlock(lock);
	return true;
}

static bool futex_lock_free(_Atomic int *lock)
{
	if (!mutex_trylock(lock))
		return false;
	mutex_unlock(lock);
	return true;
}

/*
 * heap_get_on_free - heap_for_free's heap_get_slow, for a free(), which may
 * come from inside buddyslab with its locks held, where taking them again
 * (or heap_lock after a lock that follows it in the lock order) would
 * hang: heap_reclaim_abandoned frees dead caches' descriptors under
 * heap_lock, and a heap_get_slow that reclaims may free. So: not from
 * inside heap_get_slow (heap_getting), and not while heap_lock or a lock
 * after it that heap_get_slow may meet is held by anyone (this thread
 * among them: a trylock of a lock it holds fails); then a later free tries
 * again. A free leaves errno as it found it (heap_get_slow may fail with
 * ENOMEM: then no more tries).
 */
struct heap *heap_get_on_free(void)
{
	/* nor between fork's handlers, where every trylock succeeds
	 * (fork_holds_locks): a free from inside heap_lock's walk would find
	 * the lock free */
	if (heap_getting || fork_holds_locks() ||
	    atomic_load_explicit(&buddyslab_initialized, memory_order_acquire) != 2)
		goto later;
	if (!pthread_lock_free(&heap_lock) || !pthread_lock_free(&cache_lock) ||
	    !futex_lock_free(&vm_cache_lock) || !futex_lock_free(&zone.lock) ||
	    !pthread_lock_free(&pagemap_lock))
		goto later;
	int saved = errno;
	struct heap *heap = heap_get_slow();
	errno = saved;
	return heap;
later:
	heapless_frees = HEAP_AFTER_FREES - 1;
	return NULL;
}

/*
 * heap_abandon - the owner thread is leaving: give back its cached pages
 * and empty slabs, leave the thread heapless, then put the heap in the
 * pool.
 *
 * Remote frees that come after heap_release_slabs collected the remote
 * stack wait there for heap_reclaim_abandoned, which runs when
 * abandoned_pending is set: by slab_free_remote_chain, when it pushes a
 * slab onto a heap it sees is not active. One that pushed before the
 * store of HEAP_ABANDONED below saw the heap active and set nothing (3000
 * rounds of tests/unit/test_slab's exit race left 73 such slabs, for good
 * if no other free or reclaim came). So after the store, the heap looks
 * at its stack once more and sets abandoned_pending itself. The push, its
 * load of the state, this store and this look are all seq_cst: a push
 * that still read HEAP_ACTIVE came before the store, so before the look,
 * which sees it (a Dekker pair: acquire/release would let both miss). The
 * look is under heap_lock with the heap already pooled, so a reclaim
 * that clears abandoned_pending either walks this heap or comes after.
 */
static void heap_abandon(struct heap *heap)
{
	barn_expire(heap, zone.purge_ms); /* old sheaves: no one took them */
	/* caches destroyed since this thread's last slab refill: let them
	 * go now (a leak in one is reported now, not at a later reclaim) */
	if (heap_caches_destroyed(heap))
		heap_flush_dead_caches(heap);
	heap_release_slabs(heap, false);
	pcp_drain(&heap->pcp, 0);
	thread_heap = &empty_heap;
	heapless_frees = HEAP_AFTER_FREES; /* no heap again for frees */
	heap_exited = true;
	/* counted in before it is pooled, so that threads exiting together
	 * each see a different count (reading it raced: 65 of 100 kept
	 * their bins where 64 should) */
	if (atomic_fetch_add_explicit(&heap_pool_size, 1, memory_order_relaxed) >= HEAP_POOL_WARM)
		heap_bins_reset(heap); /* every bin is empty: flushed above */
	atomic_store(&heap->state, HEAP_ABANDONED);
	atomic_fetch_sub_explicit(&nr_active_heaps, 1, memory_order_relaxed);
	pmutex_lock(&heap_lock);
	if (heap->late) {
		heap->late = false;
		atomic_fetch_sub_explicit(&late_heaps, 1, memory_order_relaxed);
	}
	heap->next_pool = heap_pool;
	heap_pool = heap;
	if (atomic_load(&heap->remote_slabs))
		atomic_fetch_add(&abandoned_pending, 1);
	pmutex_unlock(&heap_lock);
}

static void heap_thread_exit(void *arg)
{
	struct heap *heap = arg;
	if (!heap || heap != thread_heap)
		return;
	/* No signal handler may malloc or free in here: it would use the
	 * heap while it is taken apart (a handler that allocated as its
	 * thread exited crashed, or found a double free that was not), or,
	 * once pooled, a heap another thread may adopt. Two system calls a
	 * thread exit. (glibc's tcache_thread_shutdown deadlocks there.) */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	bool leader = heap->tid == getpid();
	heap_abandon(heap);
	if (leader)
		atomic_store(&leader_exited, true);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* heaps_all_abandoned - no thread owns a heap: every thread that ever
 * allocated has ended (or is ending). False when heap_lock is busy. */
bool heaps_all_abandoned(void)
{
	if (!pmutex_trylock(&heap_lock))
		return false;
	pid_t leader = getpid();
	bool none = true;
	for (struct heap *heap = heap_list; heap && none; heap = heap->next_all)
		/* a late heap of an exited leader: taken in its exit path,
		 * after its destructors, by code that ends with the thread */
		none = atomic_load(&heap->state) != HEAP_ACTIVE ||
		       (heap->late && heap->tid == leader && atomic_load(&leader_exited));
	pmutex_unlock(&heap_lock);
	return none;
}

/*
 * heap_reclaim_abandoned - collect what other threads freed into abandoned
 * heaps and give their empty slabs back. The pool is walked under heap_lock,
 * which keeps adopters out; pages go to the caller's page cache.
 */
void heap_reclaim_abandoned(void)
{
	if (!pmutex_trylock(&heap_lock)) {
		/* a reclaim that was wanted (kmem_cache_destroy's, the page
		 * allocator's) is not lost: the next slab refill does it */
		atomic_fetch_add(&abandoned_pending, 1);
		return;
	}
	atomic_store(&abandoned_pending, 0); /* seq_cst: see heap_abandon */
	for (struct heap *heap = heap_pool; heap; heap = heap->next_pool) {
		/* a pooled heap gave back all it could when it was
		 * abandoned: only remote frees since, on its remote stack (a
		 * seq_cst look, as heap_collect_remote's), or a cache
		 * destroyed since leave work. (It released every pooled
		 * heap's slabs each time, a walk of all cache ids: 3000
		 * threads that each returned a block main freed after they
		 * exited spent 17 % of their perf samples in it and in
		 * heap_flush_bins, 3 % since, with cache_id_limit and
		 * bins_set_up.) */
		bool dead = heap_caches_destroyed(heap);
		if (dead)
			heap_flush_dead_caches(heap);
		if (dead || atomic_load(&heap->remote_slabs))
			heap_release_slabs(heap, false);
	}
	pmutex_unlock(&heap_lock);
}

/*
 * heap_reclaim_live - collect what other threads freed into live threads'
 * heaps and give back their empty slabs (heap_collect_live), as @how says:
 *  - LIVE_RECLAIM_DRAIN, for malloc_trim: waits for heap_lock, so that a
 *    kswapd walk under way has given its slabs to the zone before the
 *    trim purges it (with background=1,purge_ms=0 a trim that found the
 *    lock busy left up to 4 MiB for kswapd, which purges down to the low
 *    watermark only), and no kswapd walk comes between;
 *  - LIVE_RECLAIM_TRY, for direct reclaim: skipped when heap_lock is busy
 *    (the caller may hold it: a heap's own allocation);
 *  - LIVE_RECLAIM_IDLE, for kswapd: the same, and only the heaps whose
 *    owners took no slow path for one of its ticks.
 * A thread that sits idle after others freed its blocks would keep them
 * until it allocated again. A heap whose owner is in its slow path, or
 * whose remote stack is empty, is skipped.
 */
void heap_reclaim_live(enum live_reclaim how)
{
	if (how == LIVE_RECLAIM_DRAIN)
		pmutex_lock(&heap_lock);
	else if (!pmutex_trylock(&heap_lock))
		return;
	struct heap *self = heap_current();
	struct list_head released;
	INIT_LIST_HEAD(&released);
	for (struct heap *heap = heap_list; heap; heap = heap->next_all)
		if (heap != self && atomic_load(&heap->state) == HEAP_ACTIVE &&
		    atomic_load_explicit(&heap->remote_slabs, memory_order_relaxed)) {
			heap_collect_live(heap, how == LIVE_RECLAIM_IDLE, &released);
			free_released_slabs(&released);
		}
	pmutex_unlock(&heap_lock);
}

/*
 * heap_look_idle - @heap, a live thread's, just got a slab on its remote
 * stack from the calling thread, whose pushes come to IDLE_LOOK_PUSHES
 * since its last look (slab_free_remote_chain). If the owner took no slow
 * path since the last look at it (this thread's, another's, or kswapd's),
 * it sits idle: collect what was freed into its slabs, as malloc_trim
 * would (heap_collect_live). Under default options, nothing else did
 * until it allocated again: a worker that made 32 MiB of blocks, which
 * the main thread freed, kept the 32 MiB while it waited for work. Only
 * tries: skipped when heap_lock is busy (the caller may hold it: a heap
 * being abandoned flushes its bins) or the owner is in its slow path. The
 * emptied slabs go to the zone after heap_lock is let go: their frees may
 * purge (madvise), which thread creation and exit need not wait for.
 * (heap_reclaim_live gives them under it: malloc_trim, which waits for
 * the lock, must find kswapd's in the zone.)
 *
 * An owner only off the CPU looks idle too: pipeline's six stages on two
 * CPUs had about 900,000 of their 12 million messages collected by
 * others. It ran no slower (median of ten runs, 0.95 s without the looks,
 * 0.84 s with them). Looks that also waited for the owner to be idle 2 ms
 * collected a fifth as much there, but left a burst of frees shorter than
 * that (32 MiB of 1 KiB blocks) uncollected.
 */
void heap_look_idle(struct heap *heap)
{
	if (heap == heap_current() || !pmutex_trylock(&heap_lock))
		return;
	struct list_head released;
	INIT_LIST_HEAD(&released);
	if (atomic_load(&heap->state) == HEAP_ACTIVE)
		heap_collect_live(heap, true, &released);
	pmutex_unlock(&heap_lock);
	free_released_slabs(&released);
}

/* heap_slabs_wait - heap_slabs_lock found the heap's slabs held by
 * another thread: a collector (heap_reclaim_live, heap_look_idle), which
 * holds them for one walk of the heap's remote stack and its empty slabs. */
void heap_slabs_wait(struct heap *heap)
{
	do
		sched_yield(); /* no spin: the collector may be off the CPU */
	while (atomic_load_explicit(&heap->slabs_holder, memory_order_relaxed) != 0 ||
	       !heap_slabs_trylock(heap));
}

/* heap_pool_trim - every pooled heap's bins back to the OS
 * (heap_bins_reset): malloc_trim, buddyslab_drain. Under heap_lock,
 * which keeps adopters out; a pooled heap's bins are empty. */
void heap_pool_trim(void)
{
	pmutex_lock(&heap_lock);
	for (struct heap *heap = heap_pool; heap; heap = heap->next_pool)
		heap_bins_reset(heap);
	pmutex_unlock(&heap_lock);
}

void heap_for_each(void (*fn)(struct heap *, void *), void *arg)
{
	pmutex_lock(&heap_lock);
	for (struct heap *heap = heap_list; heap; heap = heap->next_all)
		fn(heap, arg);
	pmutex_unlock(&heap_lock);
}

/* ---- fork ---------------------------------------------------------------- */

/* see fork_holds_locks (internal.h) */
_Atomic bool fork_locked;
__thread bool fork_locker __attribute__((tls_model("initial-exec")));

static void fork_prepare(void)
{
	pthread_mutex_lock(&report_lock);
	pthread_mutex_lock(&shm_lock);
	pthread_mutex_lock(&heap_lock);
	pthread_mutex_lock(&cache_lock);
	mutex_lock(&vm_cache_lock);
	barn_lock_all();
	mutex_lock(&zone_purge_lock);
	zone_lock();
	pthread_mutex_lock(&pagemap_lock);
	/* the older handlers that run next, in this thread, may allocate */
	fork_locker = true;
	atomic_store_explicit(&fork_locked, true, memory_order_relaxed);
}

static void fork_parent(void)
{
	atomic_store_explicit(&fork_locked, false, memory_order_relaxed);
	fork_locker = false;
	pthread_mutex_unlock(&pagemap_lock);
	zone_unlock();
	mutex_unlock(&zone_purge_lock);
	barn_unlock_all();
	mutex_unlock(&vm_cache_lock);
	pthread_mutex_unlock(&cache_lock);
	pthread_mutex_unlock(&heap_lock);
	pthread_mutex_unlock(&shm_lock);
	pthread_mutex_unlock(&report_lock);
}

static void fork_child(void)
{
	atomic_store_explicit(&fork_locked, false, memory_order_relaxed);
	fork_locker = false;
	pthread_mutex_init(&pagemap_lock, NULL);
	atomic_store_explicit(&zone.lock, 0, memory_order_relaxed);
	atomic_store_explicit(&zone_purge_lock, 0, memory_order_relaxed);
	atomic_store_explicit(&vm_cache_lock, 0, memory_order_relaxed);
	barn_fork_child();
	pthread_mutex_init(&cache_lock, NULL);
	pthread_mutex_init(&heap_lock, NULL);
	pthread_mutex_init(&shm_lock, NULL);
	pthread_mutex_init(&report_lock, NULL);
	struct heap *self = heap_current();
	for (struct heap *heap = heap_list; heap; heap = heap->next_all)
		if (heap != self && atomic_load(&heap->state) == HEAP_ACTIVE)
			atomic_store(&heap->state, HEAP_DEAD);
	atomic_store_explicit(&late_heaps, self && self->late, memory_order_relaxed);
	/* a parent thread may have been between its push onto a pooled
	 * heap's remote stack and its look at the heap's state (see
	 * heap_abandon): reclaim once. (One between setting a slab's
	 * REMOTE_NOTIFIED and its push leaves that slab on no stack in the
	 * child: its remote frees are never collected there, a leak like
	 * the dead heaps' slabs.) */
	atomic_store(&abandoned_pending, 1);
	if (self)
		self->tid = (pid_t)syscall(SYS_gettid);
	atomic_store(&leader_exited, false); /* the forking thread leads the child */
	atomic_store(&nr_active_heaps, self ? 1 : 0);
	pcp_fork_child(self);
	kswapd_fork_child();
}

__attribute__((constructor)) static void buddyslab_constructor(void)
{
	buddyslab_init();
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	constructed = true;
	kswapd_maybe_start();
}

__attribute__((destructor)) static void buddyslab_destructor(void)
{
	stats_at_exit();
}
