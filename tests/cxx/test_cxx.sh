#!/bin/bash
# test_cxx.sh - C++ programs on buddyslab's operator new and delete
# (src/operator_new.c), each run with LD_PRELOAD=$BUDDYSLAB_LIB as a user
# would load buddyslab under a C++ program. Built with $CXX (default g++)
# and $CC (default gcc):
#   test_operator_new   all twenty forms are buddyslab's; blocks, deletes,
#                       std::bad_alloc, the new_handler, nothrow, aligned
#   test_replaced_new   a program with its own operator new and delete
#                       keeps them for the array, sized and nothrow forms
#   plugin_host         C++ code loaded with dlopen(RTLD_LOCAL), as Python
#                       loads an extension: bad_alloc is still thrown and
#                       the new_handler run; also with a plugin that has its
#                       own static libstdc++ (and libgcc), alone or beside
#                       one on libstdc++.so.6, and with one whose code uses
#                       no container (-DPLUGIN_MINIMAL)
#   other_allocator     a program linked with -ltcmalloc_minimal (when
#                       installed): all forms come from buddyslab
# Each program prints "N passed, N failed"; this script sums them and prints
# the same line. Exit status 1 on any failure (a missing compiler is a
# failure: scripts/deps installs g++).
set -u
SRC=${BUDDYSLAB_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
LIB=${BUDDYSLAB_LIB:-$SRC/build/.libs/libbuddyslab.so}
CXX=${CXX:-g++}
CC=${CC:-gcc}
T=$SRC/tests/cxx
TMP=$(mktemp -d "${TMPDIR:-/tmp}/buddyslab-cxx.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

passed=0
failed=0

# build NAME COMMAND... - compile; a failure counts and prints the errors
build() {
	local name=$1
	shift
	if ! "$@" >"$TMP/$name.cc.log" 2>&1; then
		echo "FAIL $name: could not build it: $*"
		cat "$TMP/$name.cc.log"
		failed=$((failed + 1))
		return 1
	fi
}

# run NAME COMMAND... - run under LD_PRELOAD, add its "N passed, N failed"
run() {
	local name=$1 status line
	shift
	LD_PRELOAD=$LIB "$@" >"$TMP/$name.out" 2>&1
	status=$?
	cat "$TMP/$name.out"
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$TMP/$name.out" | tail -1)
	if [ -z "$line" ] || [ $status -ne 0 ]; then
		echo "FAIL $name: exit status $status"
		failed=$((failed + 1))
	fi
	if [ -n "$line" ]; then
		set -- $line
		passed=$((passed + $1))
		failed=$((failed + $3))
	fi
}

CXXFLAGS=(-std=c++17 -fsized-deallocation -O2 -pthread -Wall -Wextra)
for t in test_operator_new test_replaced_new; do
	build $t $CXX "${CXXFLAGS[@]}" -o "$TMP/$t" "$T/$t.cpp" -ldl && run $t "$TMP/$t"
done

build plugin $CXX "${CXXFLAGS[@]}" -shared -fPIC -o "$TMP/libplugin.so" "$T/plugin.cpp" &&
	build plugin_host $CC -O2 -Wall -Wextra -o "$TMP/plugin_host" "$T/plugin_host.c" -ldl &&
	run plugin_host "$TMP/plugin_host" "$TMP/libplugin.so"
# the same plugin with its own static libstdc++: buddyslab finds its
# runtime through the caller of operator new
build plugin_static $CXX "${CXXFLAGS[@]}" -shared -fPIC -static-libstdc++ -o "$TMP/libplugin_static.so" \
	"$T/plugin.cpp" && [ -x "$TMP/plugin_host" ] &&
	run plugin_host_static "$TMP/plugin_host" "$TMP/libplugin_static.so"
# ... loaded after a plugin on libstdc++.so.6: its own new_handler is the
# one that runs, and with a static libgcc too, its own unwinder throws
build plugin_static_gcc $CXX "${CXXFLAGS[@]}" -shared -fPIC -static-libstdc++ -static-libgcc \
	-o "$TMP/libplugin_static_gcc.so" "$T/plugin.cpp" && [ -x "$TMP/plugin_host" ] &&
	run plugin_host_static_beside "$TMP/plugin_host" "$TMP/libplugin.so" "$TMP/libplugin_static.so" &&
	run plugin_host_static_gcc_beside "$TMP/plugin_host" "$TMP/libplugin.so" \
		"$TMP/libplugin_static_gcc.so"
# a static libstdc++ without std::__throw_bad_alloc (no container used):
# its own operator new throws
build plugin_minimal $CXX "${CXXFLAGS[@]}" -DPLUGIN_MINIMAL -shared -fPIC -static-libstdc++ \
	-static-libgcc -o "$TMP/libplugin_minimal.so" "$T/plugin.cpp" && [ -x "$TMP/plugin_host" ] &&
	run plugin_host_minimal "$TMP/plugin_host" "$TMP/libplugin_minimal.so"

if [ -e /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so ]; then
	build other_allocator $CXX "${CXXFLAGS[@]}" -o "$TMP/other_allocator" \
		"$T/other_allocator.cpp" -ltcmalloc_minimal &&
		run other_allocator "$TMP/other_allocator"
else
	echo "# other_allocator not run: libtcmalloc_minimal.so (libgoogle-perftools-dev) not installed"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
