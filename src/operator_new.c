/*
 * operator_new.c - C++'s operator new and delete, all twenty replaceable
 * forms of C++17 (Itanium ABI names; size_t is unsigned long, align_val_t
 * an unsigned long, nothrow_t a reference), served by buddyslab directly.
 * Through libstdc++'s, a `new` is libstdc++'s operator new calling malloc
 * through a PLT stub, and a sized `delete` three jumps; jemalloc, mimalloc
 * and tcmalloc define these too. The two hot ones, operator new(size_t)
 * and operator delete(void *), are in malloc.c, on malloc's and free's fast
 * paths.
 *
 * Invariants:
 * - The set is complete. A program linked with another allocator that
 *   defines them (-ltcmalloc) and run with buddyslab preloaded gets all
 *   twenty from buddyslab, never a nothrow new from one heap and a delete
 *   from the other.
 * - Each form does what libstdc++'s does, in terms of the replaceable forms
 *   libstdc++'s calls, and calls those through the GOT (they are weak: no
 *   compiler binds them locally): a program that defines its own operator
 *   new and delete (a pool, a counter) keeps them for the array, sized and
 *   nothrow forms too, and buddyslab's free never sees its pool's memory.
 *     new[](n)                 -> new(n)
 *     new(n, nothrow)          -> new(n), nullptr if it throws
 *     new[](n, nothrow)        -> new[](n), nullptr if it throws
 *     new(n, al) / new[](n, al) and their nothrow forms: the same with
 *                                 aligned_alloc
 *     delete[](p), delete(p, n), delete(p, nothrow) ... -> delete(p)
 *     delete(p, al)            -> free(p); its array, sized and nothrow
 *                                 forms -> delete(p, al) or delete[](p, al)
 *   buddyslab cannot catch an exception, so a nothrow form whose throwing
 *   form the program replaced is libstdc++'s (found as below) run in its
 *   place; where the throwing form is buddyslab's, the nothrow form
 *   allocates itself and needs no catch.
 * - Running out of memory is libstdc++'s: cxx_new_failed calls the
 *   new_handler and tries again until it succeeds, or there is no handler:
 *   then std::bad_alloc is thrown (libstdc++'s __throw_bad_alloc: the
 *   exception passes through buddyslab's frames, which have unwind
 *   tables), or nullptr returned for a nothrow form. libstdc++'s functions
 *   are found by weak references (libstdc++ in the global scope, or a
 *   static libstdc++ whose symbols the program exports), else in a
 *   libstdc++.so.6 loaded with RTLD_LOCAL (a Python extension, a plugin),
 *   by dlopen(RTLD_NOLOAD). With neither, a throwing form reports and
 *   aborts, and a nothrow form returns nullptr without a new_handler: a
 *   program linked with -lbuddyslab and -static-libstdc++ (its libstdc++
 *   is in the executable and exports nothing). Preloaded, buddyslab does
 *   not meet that case: such a program's calls bound to its own operator
 *   new when it was linked.
 * - Two differences from libstdc++ remain: a nothrow form whose
 *   new_handler throws lets the exception out (libstdc++'s would catch
 *   it; std::terminate follows), and the one above. Handlers that throw
 *   rather than return are rare.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>

#include "internal.h"

#ifndef BUDDYSLAB_NO_INTERPOSE

#define PUBLIC __attribute__((visibility("default")))
#define REPLACEABLE PUBLIC __attribute__((weak))

typedef void (*new_handler_fn)(void);

/* The forms, declared for the calls between them (the two hot ones are
 * defined in malloc.c). */
REPLACEABLE void *_Znwm(size_t size);
REPLACEABLE void *_Znam(size_t size);
REPLACEABLE void *_ZnwmRKSt9nothrow_t(size_t size, const void *nt);
REPLACEABLE void *_ZnamRKSt9nothrow_t(size_t size, const void *nt);
REPLACEABLE void *_ZnwmSt11align_val_t(size_t size, size_t align);
REPLACEABLE void *_ZnamSt11align_val_t(size_t size, size_t align);
REPLACEABLE void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const void *nt);
REPLACEABLE void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const void *nt);
REPLACEABLE void _ZdlPv(void *ptr);
REPLACEABLE void _ZdaPv(void *ptr);
REPLACEABLE void _ZdlPvm(void *ptr, size_t size);
REPLACEABLE void _ZdaPvm(void *ptr, size_t size);
REPLACEABLE void _ZdlPvRKSt9nothrow_t(void *ptr, const void *nt);
REPLACEABLE void _ZdaPvRKSt9nothrow_t(void *ptr, const void *nt);
REPLACEABLE void _ZdlPvSt11align_val_t(void *ptr, size_t align);
REPLACEABLE void _ZdaPvSt11align_val_t(void *ptr, size_t align);
REPLACEABLE void _ZdlPvmSt11align_val_t(void *ptr, size_t size, size_t align);
REPLACEABLE void _ZdaPvmSt11align_val_t(void *ptr, size_t size, size_t align);
REPLACEABLE void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *ptr, size_t align, const void *nt);
REPLACEABLE void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *ptr, size_t align, const void *nt);

/* ---- libstdc++'s runtime: the new_handler and std::bad_alloc ------------- */

/* std::get_new_handler() and std::__throw_bad_alloc(), if the dynamic
 * linker found them when it loaded buddyslab */
extern new_handler_fn _ZSt15get_new_handlerv(void) __attribute__((weak));
extern _Noreturn void _ZSt17__throw_bad_allocv(void) __attribute__((weak));

static const char libstdcxx_soname[] = "libstdc++.so.6";

/* cxx_runtime_sym - @name in a libstdc++ already loaded, with RTLD_LOCAL
 * or not (dlopen with RTLD_NOLOAD loads nothing); NULL if none is. The
 * handle is kept: the library's code may run again. */
static void *cxx_runtime_sym(const char *name)
{
	static void *_Atomic handle;
	void *h = atomic_load_explicit(&handle, memory_order_acquire);
	if (!h) {
		h = dlopen(libstdcxx_soname, RTLD_NOLOAD | RTLD_LAZY);
		if (!h)
			return NULL;
		void *expected = NULL;
		if (!atomic_compare_exchange_strong(&handle, &expected, h)) {
			dlclose(h); /* another thread kept one */
			h = expected;
		}
	}
	return dlsym(h, name);
}

static new_handler_fn get_new_handler(void)
{
	if (_ZSt15get_new_handlerv)
		return _ZSt15get_new_handlerv();
	new_handler_fn (*get)(void) = (new_handler_fn(*)(void))cxx_runtime_sym("_ZSt15get_new_handlerv");
	return get ? get() : NULL;
}

static _Noreturn void throw_bad_alloc(size_t size)
{
	if (_ZSt17__throw_bad_allocv)
		_ZSt17__throw_bad_allocv();
	void (*thrower)(void) = (void (*)(void))cxx_runtime_sym("_ZSt17__throw_bad_allocv");
	if (thrower)
		thrower();
	bs_warn("operator new(%zu): out of memory, and no libstdc++ to throw std::bad_alloc", size);
	abort();
}

static void *cxx_alloc(size_t size, size_t align)
{
	return align ? bs_aligned(align, size, "operator new") : bs_malloc(size);
}

static bool align_valid(size_t align)
{
	return align && !(align & (align - 1));
}

/* cxx_new_failed - malloc (or aligned_alloc, for @align > 0) of @size
 * failed in an operator new: what libstdc++'s operator new does then. */
void *cxx_new_failed(size_t size, size_t align, bool nothrow)
{
	if (align && !align_valid(align)) { /* libstdc++ throws at once */
		if (nothrow)
			return NULL;
		throw_bad_alloc(size);
	}
	for (;;) {
		new_handler_fn handler = get_new_handler();
		if (!handler) {
			if (nothrow)
				return NULL;
			throw_bad_alloc(size);
		}
		handler();
		void *p = cxx_alloc(size, align);
		if (p)
			return p;
	}
}

/* ---- the nothrow forms of a replaced throwing form ---------------------- */

typedef void *nothrow_new_fn(size_t size, const void *nt);
typedef void *nothrow_new_aligned_fn(size_t size, size_t align, const void *nt);

/* libstdc++'s nothrow form @name: operator new in a try block. Without
 * libstdc++, the throwing form @fallback is called (an exception then
 * ends the program, as a replaced operator new may throw). */
static noinline void *nothrow_by_libstdcxx(const char *name, void *(*fallback)(size_t), size_t size,
					   const void *nt)
{
	nothrow_new_fn *fn = (nothrow_new_fn *)cxx_runtime_sym(name);
	return fn ? fn(size, nt) : fallback(size);
}

static noinline void *nothrow_aligned_by_libstdcxx(const char *name,
						   void *(*fallback)(size_t, size_t), size_t size,
						   size_t align, const void *nt)
{
	nothrow_new_aligned_fn *fn = (nothrow_new_aligned_fn *)cxx_runtime_sym(name);
	return fn ? fn(size, align, nt) : fallback(size, align);
}

/* ---- new ------------------------------------------------------------------ */

/* The bodies of the forms that other forms test for "is it buddyslab's"
 * (the exported names are weak aliases: their GOT entries say whose form
 * the process uses, these addresses say which one is buddyslab's). */
static void *operator_new_array(size_t size)
{
	return _Znwm(size);
}

static void *operator_new_aligned(size_t size, size_t align)
{
	if (likely(align_valid(align))) {
		void *p = bs_aligned(align, size, "operator new");
		if (likely(p))
			return p;
	}
	return cxx_new_failed(size, align, false);
}

static void *operator_new_array_aligned(size_t size, size_t align)
{
	return _ZnwmSt11align_val_t(size, align);
}

void *_Znam(size_t size) __attribute__((alias("operator_new_array")));
void *_ZnwmSt11align_val_t(size_t size, size_t align) __attribute__((alias("operator_new_aligned")));
void *_ZnamSt11align_val_t(size_t size, size_t align)
	__attribute__((alias("operator_new_array_aligned")));

/* is the process's form @got (read through the GOT) buddyslab's @own? */
#define OURS(got, own) likely((void *)(got) == (void *)(own))

void *_ZnwmRKSt9nothrow_t(size_t size, const void *nt)
{
	if (OURS(_Znwm, bs_operator_new)) {
		void *p = bs_malloc(size);
		return likely(p) ? p : cxx_new_failed(size, 0, true);
	}
	return nothrow_by_libstdcxx("_ZnwmRKSt9nothrow_t", _Znwm, size, nt);
}

void *_ZnamRKSt9nothrow_t(size_t size, const void *nt)
{
	if (OURS(_Znam, operator_new_array) && OURS(_Znwm, bs_operator_new)) {
		void *p = bs_malloc(size);
		return likely(p) ? p : cxx_new_failed(size, 0, true);
	}
	return nothrow_by_libstdcxx("_ZnamRKSt9nothrow_t", _Znam, size, nt);
}

static void *nothrow_aligned(size_t size, size_t align)
{
	if (likely(align_valid(align))) {
		void *p = bs_aligned(align, size, "operator new");
		if (likely(p))
			return p;
	}
	return cxx_new_failed(size, align, true);
}

void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const void *nt)
{
	if (OURS(_ZnwmSt11align_val_t, operator_new_aligned))
		return nothrow_aligned(size, align);
	return nothrow_aligned_by_libstdcxx("_ZnwmSt11align_val_tRKSt9nothrow_t",
					   _ZnwmSt11align_val_t, size, align, nt);
}

void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const void *nt)
{
	if (OURS(_ZnamSt11align_val_t, operator_new_array_aligned) &&
	    OURS(_ZnwmSt11align_val_t, operator_new_aligned))
		return nothrow_aligned(size, align);
	return nothrow_aligned_by_libstdcxx("_ZnamSt11align_val_tRKSt9nothrow_t",
					   _ZnamSt11align_val_t, size, align, nt);
}

/* ---- delete ------------------------------------------------------------------- */

void _ZdaPv(void *ptr)
{
	_ZdlPv(ptr);
}

void _ZdlPvm(void *ptr, size_t size)
{
	(void)size;
	_ZdlPv(ptr);
}

void _ZdaPvm(void *ptr, size_t size)
{
	(void)size;
	_ZdaPv(ptr);
}

void _ZdlPvRKSt9nothrow_t(void *ptr, const void *nt)
{
	(void)nt;
	_ZdlPv(ptr);
}

void _ZdaPvRKSt9nothrow_t(void *ptr, const void *nt)
{
	(void)nt;
	_ZdaPv(ptr);
}

void _ZdlPvSt11align_val_t(void *ptr, size_t align)
{
	(void)align;
	bs_free(ptr);
}

void _ZdaPvSt11align_val_t(void *ptr, size_t align)
{
	_ZdlPvSt11align_val_t(ptr, align);
}

void _ZdlPvmSt11align_val_t(void *ptr, size_t size, size_t align)
{
	(void)size;
	_ZdlPvSt11align_val_t(ptr, align);
}

void _ZdaPvmSt11align_val_t(void *ptr, size_t size, size_t align)
{
	(void)size;
	_ZdaPvSt11align_val_t(ptr, align);
}

void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *ptr, size_t align, const void *nt)
{
	(void)nt;
	_ZdlPvSt11align_val_t(ptr, align);
}

void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *ptr, size_t align, const void *nt)
{
	(void)nt;
	_ZdaPvSt11align_val_t(ptr, align);
}

#endif /* BUDDYSLAB_NO_INTERPOSE */
