/*
 * kswapd.c - the optional background thread (BUDDYSLAB_OPTIONS background=1
 * or shm=1), buddyslab's kswapd: it gives back the memory of idle programs
 * and keeps the live statistics page current.
 *
 * Without it, free memory goes back to the OS only when a free() finds
 * resident free memory above the high watermark (page_alloc.c), so a program
 * that frees a lot and then sleeps keeps up to twice the high watermark
 * resident; cached large mappings go when a large block is asked for or
 * freed, or when a slow path of small blocks finds them old
 * (vm_cache_expire). With it, every purge_ms the thread purges free
 * blocks that have been unused for purge_ms down to the low watermark, and
 * unmaps cached large mappings as old, and sends home the barn sheaves as
 * old (slab.c: they are shared, not a thread's), and collects what other
 * threads freed into the slabs of a thread idle for a tick
 * (heap_reclaim_live: the slabs that empties go back, and then their
 * pages) and of threads that have exited (heap_reclaim_abandoned); with
 * shm=1 it rewrites /dev/shm/buddyslab.PID every shm_ms
 * (stats.c). It never touches a thread's bins or page cache: those are
 * lock-free and only their owner may drain them. Its own frees (the
 * descriptor of an old hot mapping, vmalloc.c) go home one by one: it
 * never gets a heap, which would hold them in bins that no one drains.
 *
 * The thread blocks every signal, is detached, and does not outlive exit(),
 * nor the program's last thread: when main ended with pthread_exit and no
 * other thread is left, it ends too, within ALONE_LOOK_MS (kswapd_alone).
 * After fork() the child has no such thread: the child's first new heap
 * starts one, and so does the first time its zone grows (kswapd_want), at
 * the end of the allocation that grew it (kswapd_start_wanted, at the end
 * of malloc's slow paths, large_alloc, alloc_pages and kmem_cache_alloc:
 * outer calls, where nothing is half done): pthread_create
 * allocates, and from inside the zone's growth it re-entered the
 * allocator half way through a slab's set-up or a heap's (a leaked slab,
 * a heap no thread owned).
 */
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static _Atomic int kswapd_running;
_Atomic bool kswapd_wanted;

static bool kswapd_asked(void)
{
	return options.background || options.shm;
}

/* kswapd_want - the thread should run and may not: start it at the end of
 * this allocation (kswapd_start_wanted), not here, deep in it. */
void kswapd_want(void)
{
	if (unlikely(kswapd_asked()) && !atomic_load_explicit(&kswapd_running, memory_order_relaxed))
		atomic_store_explicit(&kswapd_wanted, true, memory_order_relaxed);
}

/*
 * kswapd_alone - is this thread all that is left of the process? The
 * thread-group leader (main) ended with pthread_exit and is a zombie, and
 * no other thread remains: the process would end now but for this one,
 * which blocks every signal, so that nothing could end it (a program whose
 * main ends in pthread_exit never exited, and SIGTERM stayed pending; a
 * subagent's lifecycle test, 2026-11-28). From /proc/self/stat, without
 * stdio: the state (field 3) and num_threads (field 20), which still
 * counts the zombie leader. Without /proc (a chroot, a container that
 * mounts none: the same hang, another subagent's test), from the heaps:
 * the leader gave its heap up and no thread owns one. A thread that
 * never allocated may still run then; it ends the process itself, and
 * if it allocates, its new heap starts the thread again.
 */
static bool kswapd_alone(void)
{
	char buf[512];
	if (!os_read_file("/proc/self/stat", buf, sizeof(buf)))
		return atomic_load(&leader_exited) && heaps_all_abandoned();
	const char *s = strrchr(buf, ')'); /* the name may hold spaces and ')' */
	if (!s || s[1] != ' ' || !s[2])
		return false;
	char state = s[2];
	s += 2;
	for (int field = 3; field < 20; field++) {
		s = strchr(s, ' ');
		if (!s)
			return false;
		s++;
	}
	unsigned long threads = os_parse_ulong(&s);
	return state == 'Z' && threads <= 2;
}

/* how often the thread looks whether it is alone (kswapd_alone) */
#define ALONE_LOOK_MS 1000

static void *kswapd_main(void *arg)
{
	(void)arg;
	heapless_frees = HEAP_AFTER_FREES; /* never a heap (header) */
	uint64_t last_shm = 0, last_alone_look = zone_clock_ms();
	for (;;) {
		unsigned long purge_ms = zone.purge_ms; /* purge_ms=0: at each tick */
		unsigned long tick = purge_ms;
		if (options.shm && (unsigned long)options.shm_ms < tick)
			tick = (unsigned long)options.shm_ms;
		/* the look whether it is alone waits no longer than its own
		 * interval: with purge_ms=600000 a program whose main ended in
		 * pthread_exit took ten minutes to end, SIGTERM pending */
		if (tick > ALONE_LOOK_MS)
			tick = ALONE_LOOK_MS;
		if (tick < 5)
			tick = 5;
		struct timespec ts = { (time_t)(tick / 1000), (long)(tick % 1000) * 1000000L };
		nanosleep(&ts, NULL);

		if (zone_dirty_pages() > zone.watermark_low)
			zone_purge(zone.watermark_low, true, purge_ms);
		vm_cache_trim(purge_ms);
		vm_dead_free();
		barn_expire(NULL, purge_ms);
		heap_reclaim_live(LIVE_RECLAIM_IDLE); /* idle threads' remote frees */
		/* and what was freed into the heaps of threads that have exited
		 * (their slabs waited for a refill, malloc_trim or reclaim: 4
		 * threads' 64 MiB stayed resident in an idle program) */
		if (atomic_load_explicit(&abandoned_pending, memory_order_relaxed))
			heap_reclaim_abandoned();
		uint64_t now = zone_clock_ms();
		if (options.shm && now - last_shm >= (uint64_t)options.shm_ms) {
			shm_update();
			last_shm = now;
		}
		if (now - last_alone_look >= ALONE_LOOK_MS) {
			last_alone_look = now;
			if (kswapd_alone()) {
				/* the last thread to end: glibc then calls exit(0),
				 * which runs the atexit handlers, as the program's
				 * last thread would have */
				atomic_store(&kswapd_running, 0);
				return NULL;
			}
		}
	}
	return NULL;
}

/* kswapd_maybe_start - start the thread if the options ask for it and it is
 * not running in this process. Called at start-up, for a new heap, and by
 * kswapd_start_wanted; never with an allocator lock held, nor in the
 * middle of an allocation (pthread_create allocates). */
void kswapd_maybe_start(void)
{
	/* not between fork's handlers: fork_child would forget a thread
	 * started by an older library's child handler (kswapd_fork_child) */
	if (fork_holds_locks())
		return;
	atomic_store_explicit(&kswapd_wanted, false, memory_order_relaxed);
	if (likely(!kswapd_asked()) || atomic_load_explicit(&kswapd_running, memory_order_relaxed))
		return;
	int expected = 0;
	if (!atomic_compare_exchange_strong(&kswapd_running, &expected, 1))
		return;
	pthread_attr_t attr;
	pthread_t thread;
	sigset_t all, old;
	sigfillset(&all);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	/* the new thread inherits the blocked mask: it takes no signal */
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_create(&thread, &attr, kswapd_main, NULL) != 0) {
		atomic_store(&kswapd_running, 0);
		bs_warn("could not start the background thread");
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (options.shm)
		shm_update();
}

/* kswapd_fork_child - in a fork child the thread does not exist. */
void kswapd_fork_child(void)
{
	atomic_store(&kswapd_running, 0);
	shm_fork_child();
}
