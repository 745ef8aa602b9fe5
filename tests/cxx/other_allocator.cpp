// other_allocator.cpp - a program linked with another allocator that
// defines operator new and delete (tcmalloc), run with buddyslab preloaded:
// every form must then come from buddyslab, so that no block from one heap
// is given to the other's delete. Built and run by test_cxx.sh when
// libtcmalloc_minimal is installed.
#include <cstdio>
#include <new>
#include <string>
#include <vector>

static void *volatile sink;

int main()
{
	int *a = new (std::nothrow) int(5);
	sink = a;
	delete a;
	int *b = new (std::nothrow) int[8];
	sink = b;
	delete[] b;
	struct alignas(128) Wide {
		char c[300];
	};
	Wide *w = new (std::nothrow) Wide;
	sink = w;
	delete w;
	std::vector<std::string> v(1000, std::string(100, 'q'));
	std::printf("%zu\n1 passed, 0 failed\n", v.size());
	return 0;
}
