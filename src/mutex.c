/*
 * mutex.c - the futex mutex of buddyslab's internal locks that a malloc or
 * free can take on its way: the zone's (zone_lock) and the cache of freed
 * mappings' (vm_cache_lock). The others (heap_lock, cache_lock,
 * report_lock...) are pthread mutexes, taken rarely.
 *
 * A lock is one int: 0 free, 1 held, 2 held and maybe waited for
 * (Drepper's "Futexes Are Tricky", mutex 3). It sleeps as glibc's default
 * mutex does, never spins (a spinning one cost `server`, 4 threads on 2
 * cores), and leaves out pthread_mutex_lock's type dispatch and owner
 * bookkeeping: a lock and unlock in about 10 instructions instead of 55
 * (callgrind), which a malloc+free pair of 256 KiB-1 MiB pays twice, and of
 * 2-4 MiB (the vm cache) twice more.
 *
 * While the process has one thread (glibc's __libc_single_threaded), lock
 * and unlock are plain stores, as glibc's own mutex does then: the two
 * atomic instructions cost 9 ns a lock and unlock here, against 4 for
 * pthread_mutex_lock in a single-threaded process (10 in a threaded one).
 * Were a thread made while the lock is held, it would find the word 1, set
 * 2 and sleep; the unlock reads the flag again, is atomic by then, and
 * wakes it. A fork child starts from unlocked words (fork_child). As with
 * glibc's own malloc, a signal handler that allocates while the only
 * thread holds a lock (not async-signal-safe in any allocator) corrupts
 * what the lock protects instead of deadlocking.
 */
#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

static void futex(_Atomic int *word, int op, int val)
{
	/* a wait finds the word changed (EAGAIN) or is interrupted (EINTR):
	 * the caller loops, and a malloc or free that succeeds leaves errno
	 * as it found it */
	int saved = errno;
	syscall(SYS_futex, word, op | FUTEX_PRIVATE_FLAG, val, NULL, NULL, 0);
	errno = saved;
}

void mutex_lock_wait(_Atomic int *lock, int seen)
{
	if (fork_holds_locks()) /* this thread holds it, for its fork */
		return;
	if (seen != 2)
		seen = atomic_exchange_explicit(lock, 2, memory_order_acquire);
	while (seen != 0) {
		futex(lock, FUTEX_WAIT, 2);
		seen = atomic_exchange_explicit(lock, 2, memory_order_acquire);
	}
}

void mutex_wake(_Atomic int *lock)
{
	futex(lock, FUTEX_WAKE, 1);
}
