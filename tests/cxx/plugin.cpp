// plugin.cpp - C++ code in a shared library that its host loads with
// dlopen(RTLD_LOCAL), as Python loads an extension module: its libstdc++
// is not in the global scope, where buddyslab's operator new is. Running
// out of memory must still throw std::bad_alloc here (buddyslab finds this
// libstdc++ with dlopen(RTLD_NOLOAD)). Built and run by test_cxx.sh with
// plugin_host.c.
// Built with -DPLUGIN_MINIMAL, its code uses no standard container: with a
// static libstdc++ (and libgcc) of its own, the plugin then holds
// libstdc++'s operator new, new_handler and exception machinery, but no
// std::__throw_bad_alloc, which buddyslab looked for to throw
// std::bad_alloc (a huge new aborted with "no libstdc++ to throw
// std::bad_alloc", until 2026-11-28).
#include <cstddef>
#include <new>
#ifndef PLUGIN_MINIMAL
#include <string>
#include <vector>
#endif

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

#ifdef PLUGIN_MINIMAL
extern "C" int plugin_work(void)
{
	return 1;
}
#else
extern "C" int plugin_work(void)
{
	std::vector<std::string> v;
	for (int i = 0; i < 10000; i++)
		v.push_back(std::string(i % 50, 'z'));
	std::size_t total = 0;
	for (const auto &s : v)
		total += s.size();
	return total == 245000 ? 1 : 0;
}
#endif

static int handler_calls;
static void give_up(void)
{
	handler_calls++;
	std::set_new_handler(nullptr);
}

// a new_handler that gives up: called once, then std::bad_alloc (0x11).
// With a static libstdc++, its handler is this plugin's own: the one of a
// libstdc++.so.6 that another plugin loaded is not it (buddyslab consulted
// that one until 2026-11-28, and skipped this handler)
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
