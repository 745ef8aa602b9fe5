// plugin_minimal.cpp - plugin.cpp's checks in a plugin whose code uses no
// standard container: built with its own static libstdc++ (and libgcc),
// it holds libstdc++'s operator new, new_handler and exception machinery,
// but no std::__throw_bad_alloc, which buddyslab looked for to throw
// std::bad_alloc (a huge new aborted with "no libstdc++ to throw
// std::bad_alloc", until 2026-11-28). Loaded with dlopen(RTLD_LOCAL) by
// plugin_host.c, built and run by test_cxx.sh.
#include <cstddef>
#include <new>

static char *volatile sink;

extern "C" int plugin_new_throws(std::size_t n)
{
	try {
		char *p = new char[n];
		sink = p;
		delete[] p;
		return 0;
	} catch (const std::bad_alloc &) {
		return 1;
	}
}

extern "C" int plugin_nothrow_null(std::size_t n)
{
	char *p = new (std::nothrow) char[n];
	sink = p;
	delete[] p;
	return p == nullptr;
}

extern "C" int plugin_work(void)
{
	return 1;
}

static int handler_calls;
static void give_up(void)
{
	handler_calls++;
	std::set_new_handler(nullptr);
}

// a new_handler that gives up: called once, then std::bad_alloc (0x11)
extern "C" int plugin_new_handler(std::size_t n)
{
	handler_calls = 0;
	std::set_new_handler(give_up);
	int caught = 0;
	try {
		sink = new char[n];
	} catch (const std::bad_alloc &) {
		caught = 1;
	}
	std::set_new_handler(nullptr);
	return caught | handler_calls << 4;
}

// the same through new (std::nothrow): nullptr after one call (0x11)
extern "C" int plugin_nothrow_handler(std::size_t n)
{
	handler_calls = 0;
	std::set_new_handler(give_up);
	char *p = new (std::nothrow) char[n];
	sink = p;
	std::set_new_handler(nullptr);
	return (p == nullptr) | handler_calls << 4;
}
