// test_operator_new.cpp - C++'s operator new and delete under buddyslab
// (LD_PRELOAD=libbuddyslab.so, as test_cxx.sh runs it): buddyslab defines
// operator new(size_t), operator delete(void *) and the array and sized
// forms (src/malloc.c). Checks:
//   - new / new[] / delete / sized delete / delete[] use buddyslab's heap;
//   - running out of memory is still libstdc++'s: the new_handler runs and
//     std::bad_alloc is thrown and caught; nothrow new returns nullptr;
//   - the aligned and nothrow forms (libstdc++'s) keep working with it;
//   - containers churn across threads.
// Prints "N passed, N failed"; exit status 1 on any failure.
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <dlfcn.h>
#include <list>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

static int passed, failed;

static bool check(const char *name, bool ok)
{
	if (ok) {
		passed++;
	} else {
		failed++;
		std::printf("FAIL %s\n", name);
	}
	return ok;
}

typedef int owns_fn(const void *);
static owns_fn *owns;

// Keeps the compiler from eliding a new/delete pair.
static void *volatile sink;

struct alignas(64) Wide {
	char bytes[200];
};

struct Node {
	long a, b;
	Node *next;
};

static int handler_calls;
static void out_of_memory_handler()
{
	handler_calls++;
	std::set_new_handler(nullptr); // next failure throws
}

static void test_owned()
{
	Node *n = new Node();
	sink = n;
	check("new-owned", owns(n) == 1);
	delete n; // sized delete (C++14): _ZdlPvm
	check("sized-delete-frees", owns(n) == 0);

	int *a = new int[1000];
	sink = a;
	check("new[]-owned", owns(a) == 1);
	delete[] a;
	check("delete[]-frees", owns(a) == 0);

	std::string *s = new std::string[3];
	sink = s;
	delete[] s; // array with a cookie: _ZdaPv
	check("delete[]-cookie", true);

	void *raw = ::operator new(100000);
	check("operator-new-large-owned", owns(raw) == 1);
	::operator delete(raw);
	check("operator-delete-frees", owns(raw) == 0);

	void *zero = ::operator new(0);
	check("operator-new-0-unique", zero != nullptr && owns(zero) == 1);
	::operator delete(zero);

	Node *nt = new (std::nothrow) Node();
	check("nothrow-new-owned", nt != nullptr && owns(nt) == 1);
	delete nt;

	Wide *w = new Wide();
	check("aligned-new", ((uintptr_t)w & 63) == 0 && owns(w) == 1);
	delete w;
	// every form's block is buddyslab's, and every delete gives it back
	const std::align_val_t a64{64};
	void *blocks[] = {
		::operator new(24, std::nothrow),
		::operator new[](40, std::nothrow),
		::operator new(100, a64),
		::operator new[](100, a64),
		::operator new(100, a64, std::nothrow),
		::operator new[](100, a64, std::nothrow),
	};
	bool owned = true;
	for (void *b : blocks)
		owned = owned && b && owns(b) == 1;
	check("all-new-forms-owned", owned);
	check("aligned-forms-aligned", ((uintptr_t)blocks[2] | (uintptr_t)blocks[3] | (uintptr_t)blocks[4] |
					(uintptr_t)blocks[5]) % 64 == 0);
	::operator delete(blocks[0], std::nothrow);
	::operator delete[](blocks[1], std::nothrow);
	::operator delete(blocks[2], 100, a64);
	::operator delete[](blocks[3], 100, a64);
	::operator delete(blocks[4], a64, std::nothrow);
	::operator delete[](blocks[5], a64, std::nothrow);
	bool freed = true;
	for (void *b : blocks)
		freed = freed && owns(b) == 0;
	check("all-delete-forms-free", freed);

	void *big_aligned = ::operator new(5000, std::align_val_t(4096));
	check("aligned-new-4096", ((uintptr_t)big_aligned & 4095) == 0 && owns(big_aligned) == 1);
	::operator delete(big_aligned, std::align_val_t(4096));
	check("aligned-delete-frees", owns(big_aligned) == 0);
}

static void test_out_of_memory()
{
	const size_t impossible = (size_t)PTRDIFF_MAX;
	bool threw = false;
	try {
		sink = ::operator new(impossible);
	} catch (const std::bad_alloc &) {
		threw = true;
	}
	check("new-impossible-throws-bad_alloc", threw);

	handler_calls = 0;
	std::set_new_handler(out_of_memory_handler);
	threw = false;
	try {
		sink = ::operator new(impossible);
	} catch (const std::bad_alloc &) {
		threw = true;
	}
	check("new_handler-called-then-throws", threw && handler_calls == 1);

	threw = false;
	try {
		sink = ::operator new[](impossible);
	} catch (const std::bad_alloc &) {
		threw = true;
	}
	check("new[]-impossible-throws", threw);

	void *p = ::operator new(impossible, std::nothrow);
	check("nothrow-new-impossible-null", p == nullptr);
	p = ::operator new[](impossible, std::nothrow);
	check("nothrow-new[]-impossible-null", p == nullptr);

	// nothrow: the new_handler runs, then nullptr rather than a throw
	handler_calls = 0;
	std::set_new_handler(out_of_memory_handler);
	p = ::operator new(impossible, std::nothrow);
	check("nothrow-new_handler-called-then-null", p == nullptr && handler_calls == 1);

	// a handler that throws: the nothrow forms catch it (libstdc++'s try
	// block), nullptr
	std::set_new_handler([] { throw std::bad_alloc(); });
	check("nothrow-throwing-handler-null", ::operator new(impossible, std::nothrow) == nullptr &&
						       ::operator new[](impossible, std::nothrow) == nullptr);
	std::set_new_handler(nullptr);

	const std::align_val_t al{256};
	threw = false;
	try {
		sink = ::operator new(impossible, al);
	} catch (const std::bad_alloc &) {
		threw = true;
	}
	check("aligned-new-impossible-throws", threw);
	threw = false;
	try {
		sink = ::operator new[](impossible, al);
	} catch (const std::bad_alloc &) {
		threw = true;
	}
	check("aligned-new[]-impossible-throws", threw);
	check("aligned-nothrow-new-impossible-null", ::operator new(impossible, al, std::nothrow) == nullptr &&
							     ::operator new[](impossible, al, std::nothrow) == nullptr);

	// an alignment that is no power of two, 0 included, throws at once
	// (libstdc++), without the new_handler, which would free memory for
	// nothing (align_val_t(0) ran it, then returned a malloc'd block)
	handler_calls = 0;
	std::set_new_handler(out_of_memory_handler);
	for (size_t bad : { (size_t)0, (size_t)3, (size_t)24 }) {
		const std::align_val_t odd{bad};
		bool threw_new = false, threw_array = false;
		try {
			sink = ::operator new(16, odd);
		} catch (const std::bad_alloc &) {
			threw_new = true;
		}
		try {
			sink = ::operator new[](16, odd);
		} catch (const std::bad_alloc &) {
			threw_array = true;
		}
		char name[64];
		std::snprintf(name, sizeof(name), "aligned-new-align-%zu-throws", bad);
		check(name, threw_new && threw_array);
		std::snprintf(name, sizeof(name), "aligned-nothrow-new-align-%zu-null", bad);
		check(name, ::operator new(16, odd, std::nothrow) == nullptr &&
				    ::operator new[](16, odd, std::nothrow) == nullptr);
	}
	check("aligned-new-bad-align-no-handler", handler_calls == 0);
	std::set_new_handler(nullptr);

	// and the heap still works afterwards
	Node *n = new Node();
	check("new-after-bad_alloc", owns(n) == 1);
	delete n;
}

static void test_threads()
{
	std::atomic<long> bad{0};
	std::vector<std::thread> threads;
	// lists built by one thread, destroyed by the next: cross-thread deletes
	std::vector<std::unique_ptr<std::list<std::string>>> handoff(4);
	for (int t = 0; t < 4; t++)
		threads.emplace_back([t, &bad, &handoff] {
			std::map<int, std::string> m;
			for (int i = 0; i < 20000; i++) {
				m[(i * 7919 + t) % 5000] = std::string(i % 100, 'x');
				if (i % 3 == 0)
					m.erase((i * 31) % 5000);
			}
			for (auto &kv : m)
				if (kv.second.find_first_not_of('x') != std::string::npos)
					bad++;
			auto l = std::make_unique<std::list<std::string>>();
			for (int i = 0; i < 10000; i++)
				l->push_back(std::to_string(i));
			handoff[t] = std::move(l);
		});
	for (auto &th : threads)
		th.join();
	threads.clear();
	for (int t = 0; t < 4; t++)
		threads.emplace_back([t, &handoff] { handoff[(t + 1) % 4].reset(); });
	for (auto &th : threads)
		th.join();
	check("threads-containers", bad == 0);
}

int main()
{
	owns = (owns_fn *)dlsym(RTLD_DEFAULT, "buddyslab_owns");
	if (!check("buddyslab-loaded", owns != nullptr)) {
		std::printf("%d passed, %d failed\n", passed, failed);
		return 1;
	}
	// operator new and delete are buddyslab's own, not libstdc++'s calling
	// malloc and free
	// (the object that defines buddyslab_owns)
	Dl_info lib;
	check("dladdr-buddyslab", dladdr((void *)owns, &lib) != 0);
	const char *names[] = {"_Znwm",
			       "_Znam",
			       "_ZnwmRKSt9nothrow_t",
			       "_ZnamRKSt9nothrow_t",
			       "_ZnwmSt11align_val_t",
			       "_ZnamSt11align_val_t",
			       "_ZnwmSt11align_val_tRKSt9nothrow_t",
			       "_ZnamSt11align_val_tRKSt9nothrow_t",
			       "_ZdlPv",
			       "_ZdaPv",
			       "_ZdlPvm",
			       "_ZdaPvm",
			       "_ZdlPvRKSt9nothrow_t",
			       "_ZdaPvRKSt9nothrow_t",
			       "_ZdlPvSt11align_val_t",
			       "_ZdaPvSt11align_val_t",
			       "_ZdlPvmSt11align_val_t",
			       "_ZdaPvmSt11align_val_t",
			       "_ZdlPvSt11align_val_tRKSt9nothrow_t",
			       "_ZdaPvSt11align_val_tRKSt9nothrow_t"};
	for (const char *name : names) {
		Dl_info info;
		void *fn = dlsym(RTLD_DEFAULT, name);
		bool ours = fn && dladdr(fn, &info) && info.dli_fbase == lib.dli_fbase;
		if (!check(name, ours))
			std::printf("      %s resolves to %s\n", name, fn && dladdr(fn, &info) ? info.dli_fname : "nothing");
	}
	test_owned();
	test_out_of_memory();
	test_threads();
	std::printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
