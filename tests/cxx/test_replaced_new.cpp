// test_replaced_new.cpp - a program that replaces only operator new(size_t)
// and operator delete(void *), with a pool of its own, as programs that
// count or pool their allocations do. Run with libbuddyslab.so preloaded
// (test_cxx.sh): buddyslab's array and sized forms must come back to these
// two (through the program's exported symbols), never hand the pool's
// memory to buddyslab's free (which would abort with "invalid pointer").
// Prints "N passed, N failed"; exit status 1 on any failure.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

alignas(16) static unsigned char pool[1 << 22];
static size_t pool_used;
static volatile long news, deletes; /* volatile: clang assumes operator new has no other effect */

void *operator new(size_t size)
{
	size = (size + 15) & ~(size_t)15;
	if (pool_used + size + 16 > sizeof(pool))
		throw std::bad_alloc();
	unsigned char *p = pool + pool_used + 16;
	pool_used += size + 16;
	news++;
	return p;
}

void operator delete(void *p) noexcept
{
	if (!p)
		return;
	unsigned char *c = (unsigned char *)p;
	if (c < pool || c >= pool + sizeof(pool)) {
		std::printf("FAIL delete of %p, not from the pool\n", p);
		std::fflush(stdout);
		std::abort();
	}
	deletes++;
}

static void *volatile sink;

int main()
{
	int passed = 0, failed = 0;
	auto check = [&](const char *name, bool ok) {
		ok ? passed++ : (failed++, std::printf("FAIL %s\n", name));
	};
	struct Node { long a, b; };
	long n0 = news, d0 = deletes;
	Node *n = new Node();
	sink = n;
	delete n; // sized delete: not defined here, must reach ours above
	check("sized-delete-reaches-program", news == n0 + 1 && deletes == d0 + 1);

	int *a = new int[100];
	sink = a;
	check("new[]-reaches-program", news == n0 + 2);
	delete[] a;
	check("delete[]-reaches-program", deletes == d0 + 2);

	std::string *s = new std::string[4];
	sink = s;
	delete[] s;
	check("delete[]-sized-reaches-program", news == n0 + 3 && deletes == d0 + 3);

	// the nothrow forms are libstdc++'s operator new(n) in a try block:
	// with new(n) replaced, they must reach it too
	Node *nt = new (std::nothrow) Node();
	sink = nt;
	check("nothrow-new-reaches-program", news == n0 + 4);
	delete nt;
	int *nta = new (std::nothrow) int[10];
	sink = nta;
	check("nothrow-new[]-reaches-program", news == n0 + 5);
	::operator delete[](nta, std::nothrow);
	check("nothrow-deletes-reach-program", deletes == d0 + 5);

	{
		std::vector<std::string> v;
		for (int i = 0; i < 1000; i++)
			v.push_back(std::string(40, 'y'));
	}
	check("containers-balanced", news - n0 == deletes - d0);

	void *m = std::malloc(100); // malloc is still buddyslab's
	std::free(m);
	std::printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
