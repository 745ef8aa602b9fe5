/*
 * cxx_new - instructions per C++ new + delete pair: what a C++ program pays
 * for `T *p = new T; ... delete p;` under each allocator. buddyslab,
 * jemalloc, mimalloc and tcmalloc define operator new and delete; glibc's
 * malloc is reached through libstdc++'s. A probe run by hand, not a
 * workload of scripts/bench:
 *
 *   g++ -O2 -std=c++17 -o /tmp/cxx_new bench/probes/cxx_new.cc
 *   for n in 100000 200000; do
 *     LD_PRELOAD=LIB valgrind --tool=callgrind --callgrind-out-file=/dev/null \
 *         /tmp/cxx_new SIZE $n 2>&1 | grep refs
 *   done
 *
 * (LIB: the absolute path of build/.libs/libbuddyslab.so or of another
 * allocator's library; no LD_PRELOAD for glibc. SIZE: 16, 64 or 256.) The
 * difference of the two totals over 100000 is one pair: operator new, a
 * sized operator delete (what g++ emits for C++14 and later), the PLT stubs
 * on the way, and the loop's own 3 instructions. 1000 warm-up pairs run
 * first in both.
 */
#include <cstdio>
#include <cstdlib>
#include <cstring>

template <unsigned N> struct Obj {
	char bytes[N];
};

template <unsigned N> __attribute__((noinline)) void pairs(long n)
{
	for (long i = 0; i < n; i++) {
		Obj<N> *p = new Obj<N>;
		__asm__ volatile("" : : "r"(p) : "memory");
		delete p;
	}
}

template <unsigned N> static void run(long n)
{
	pairs<N>(1000);
	pairs<N>(n);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		std::fprintf(stderr, "usage: cxx_new 16|64|256 PAIRS\n");
		return 2;
	}
	long n = std::atol(argv[2]);
	if (!std::strcmp(argv[1], "16"))
		run<16>(n);
	else if (!std::strcmp(argv[1], "64"))
		run<64>(n);
	else if (!std::strcmp(argv[1], "256"))
		run<256>(n);
	else
		return 2;
	return 0;
}
