/*
 * plugin_host.c - a C program that loads tests/cxx/plugin.cpp's library
 * (built with or without -DPLUGIN_MINIMAL) with dlopen(RTLD_LOCAL) and
 * calls it: see plugin.cpp. Usage: plugin_host [FIRST] PLUGIN: with FIRST, that plugin
 * is loaded first (RTLD_LOCAL) and does its work, so that a
 * libstdc++.so.6 is loaded beside a PLUGIN with a static libstdc++ of its
 * own. Prints one PASS/FAIL line per check, then "N passed, N failed".
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;
	if (argc != 2 && argc != 3)
		return 2;
	if (argc == 3) {
		void *first = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
		int (*first_work)(void) = first ? (int (*)(void))dlsym(first, "plugin_work") : NULL;
		if (!first_work || first_work() != 1) {
			printf("FAIL first plugin %s\n0 passed, 1 failed\n", argv[1]);
			return 1;
		}
	}
	void *h = dlopen(argv[argc - 1], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		printf("FAIL dlopen: %s\n0 passed, 1 failed\n", dlerror());
		return 1;
	}
	int (*new_throws)(size_t) = (int (*)(size_t))dlsym(h, "plugin_new_throws");
	int (*nothrow_null)(size_t) = (int (*)(size_t))dlsym(h, "plugin_nothrow_null");
	int (*work)(void) = (int (*)(void))dlsym(h, "plugin_work");
	int (*handler)(size_t) = (int (*)(size_t))dlsym(h, "plugin_new_handler");
	int (*nothrow_handler)(size_t) = (int (*)(size_t))dlsym(h, "plugin_nothrow_handler");
	struct {
		const char *name;
		int ok;
	} checks[] = {
		{ "plugin-containers", work && work() == 1 },
		{ "plugin-new-small", new_throws && new_throws(100) == 0 },
		{ "plugin-bad_alloc-caught", new_throws && new_throws(PTRDIFF_MAX) == 1 },
		{ "plugin-nothrow-null", nothrow_null && nothrow_null(PTRDIFF_MAX) == 1 },
		{ "plugin-new_handler-then-bad_alloc", handler && handler(PTRDIFF_MAX) == 0x11 },
		{ "plugin-nothrow-new_handler-then-null",
		  nothrow_handler && nothrow_handler(PTRDIFF_MAX) == 0x11 },
	};
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		printf("%s %s\n", checks[i].ok ? "PASS" : "FAIL", checks[i].name);
		checks[i].ok ? passed++ : failed++;
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
