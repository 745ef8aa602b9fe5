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
 *   tables). A nothrow form returns nullptr when there is no handler, and
 *   with one runs libstdc++'s nothrow form (nothrow_failed), whose try
 *   block catches what the handler throws. libstdc++'s functions are found
 *   by weak references (libstdc++ in the global scope), else in a
 *   libstdc++.so.6 loaded with RTLD_LOCAL (a Python extension, a plugin),
 *   by dlopen(RTLD_NOLOAD), else in the shared object that called operator
 *   new (a plugin with a static libstdc++ of its own, whose operator new
 *   calls bound to buddyslab's). With none, a throwing form reports and
 *   aborts, and a nothrow form with a handler runs the loop itself (a
 *   handler that throws then ends the program): a program linked with
 *   -lbuddyslab and -static-libstdc++, whose libstdc++ is in the
 *   executable and exports nothing. Preloaded, buddyslab does not meet
 *   that case: such a program's calls bound to its own operator new when
 *   it was linked.
 * - No form reaches malloc's or free's address (bs_cxx_malloc,
 *   bs_operator_delete): valgrind, run on a program with buddyslab
 *   preloaded, puts its own malloc and free there but keeps buddyslab's
 *   operator new and delete, which must then stay in one heap.
 * - The library must not be linked with -Bsymbolic(-functions): the forms
 *   would call each other directly, past a program's own.
 *   tests/cxx/test_replaced_new fails if it is.
 */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/auxv.h>

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

/* libstdcxx_handle - a libstdc++.so.6 already loaded, with RTLD_LOCAL or
 * not (dlopen with RTLD_NOLOAD loads nothing); NULL if none is. The handle
 * is kept: the library's code may run again. */
static void *libstdcxx_handle(void)
{
	static void *_Atomic handle;
	void *h = atomic_load_explicit(&handle, memory_order_acquire);
	if (h)
		return h;
	h = dlopen("libstdc++.so.6", RTLD_NOLOAD | RTLD_LAZY);
	if (!h)
		return NULL;
	void *expected = NULL;
	if (!atomic_compare_exchange_strong(&handle, &expected, h)) {
		dlclose(h); /* another thread kept one */
		h = expected;
	}
	return h;
}

/* A function of libstdc++'s, by name, and where it is: where the dynamic
 * linker found it (the weak references above), else where cxx_runtime_sym
 * found it in libstdc++.so.6 (kept, so that a failing operator new takes
 * the loader's lock once per name). */
struct cxx_sym {
	const char *name;
	void *_Atomic fn;
};
static struct cxx_sym sym_get_new_handler = { "_ZSt15get_new_handlerv",
					      (void *)_ZSt15get_new_handlerv };
static struct cxx_sym sym_throw_bad_alloc = { "_ZSt17__throw_bad_allocv",
					      (void *)_ZSt17__throw_bad_allocv };
static struct cxx_sym sym_new_nothrow = { "_ZnwmRKSt9nothrow_t", NULL };
static struct cxx_sym sym_new_array_nothrow = { "_ZnamRKSt9nothrow_t", NULL };
static struct cxx_sym sym_new_aligned_nothrow = { "_ZnwmSt11align_val_tRKSt9nothrow_t", NULL };
static struct cxx_sym sym_new_array_aligned_nothrow = { "_ZnamSt11align_val_tRKSt9nothrow_t", NULL };

/* caller_object_sym - @name as the shared object that called operator new
 * from @caller resolves it for itself: its own definition (a static
 * libstdc++ of its own, in a library loaded with RTLD_LOCAL), else its
 * dependencies' (libstdc++.so.6); NULL for the main program (which exports
 * nothing of its static libstdc++, and whose name dladdr gives as argv[0]),
 * or where there is none. @own, buddyslab's definition of it if it has
 * one, is never returned. */
static void *caller_object_sym(const char *name, const void *caller, const void *own)
{
	Dl_info info, main_info;
	if (!caller || !dladdr(caller, &info) || !info.dli_fname || !info.dli_fname[0])
		return NULL;
	if (dladdr((void *)getauxval(AT_ENTRY), &main_info) && main_info.dli_fbase == info.dli_fbase)
		return NULL;
	void *object = dlopen(info.dli_fname, RTLD_NOLOAD | RTLD_LAZY);
	if (!object)
		return NULL;
	void *fn = dlsym(object, name);
	dlclose(object); /* it stays loaded: it was before */
	return fn != own ? fn : NULL;
}

/* cxx_runtime_sym - @sym in the C++ runtime of the code that called
 * operator new from @caller: the calling shared object's first
 * (caller_object_sym: a plugin with a static libstdc++ has a new_handler
 * and exception machinery of its own, which a libstdc++.so.6 loaded
 * beside it does not share: its handler was skipped, and with a static
 * libgcc as well, an exception thrown by libstdc++.so.6 aborted in its
 * unwinder), else libstdc++.so.6's (the weak references, or a copy loaded
 * with RTLD_LOCAL); NULL if neither has it. @own as above. */
static void *cxx_runtime_sym(struct cxx_sym *sym, const void *caller, const void *own)
{
	void *fn = caller_object_sym(sym->name, caller, own);
	if (fn)
		return fn;
	fn = atomic_load_explicit(&sym->fn, memory_order_acquire);
	if (fn)
		return fn;
	void *h = libstdcxx_handle();
	fn = h ? dlsym(h, sym->name) : NULL;
	if (fn && fn != own) {
		atomic_store_explicit(&sym->fn, fn, memory_order_release);
		return fn;
	}
	return NULL;
}

static new_handler_fn get_new_handler(const void *caller)
{
	new_handler_fn (*get)(void) =
		(new_handler_fn(*)(void))cxx_runtime_sym(&sym_get_new_handler, caller, NULL);
	return get ? get() : NULL;
}

static void *operator_new_aligned(size_t size, size_t align);

/* throw_bad_alloc - std::bad_alloc thrown for an operator new of @size
 * (aligned to @align if not 0) called from @caller, by libstdc++'s
 * __throw_bad_alloc. A static libstdc++ in a plugin has none unless the
 * plugin's own code throws one somewhere: then the plugin's own operator
 * new runs, which allocates with buddyslab's malloc as ours did and, when
 * that fails again, runs the plugin's new_handler and throws; should it
 * succeed (another thread freed memory meanwhile), its block is returned.
 * With neither, a report and abort(). */
static void *throw_bad_alloc(size_t size, size_t align, const void *caller)
{
	void (*thrower)(void) = (void (*)(void))cxx_runtime_sym(&sym_throw_bad_alloc, caller, NULL);
	if (thrower)
		thrower();
	if (align) {
		void *(*own_new)(size_t, size_t) = (void *(*)(size_t, size_t))caller_object_sym(
			"_ZnwmSt11align_val_t", caller, (void *)operator_new_aligned);
		if (own_new)
			return own_new(size, align);
	} else {
		void *(*own_new)(size_t) =
			(void *(*)(size_t))caller_object_sym("_Znwm", caller, (void *)bs_operator_new);
		if (own_new)
			return own_new(size);
	}
	bs_warn("operator new(%zu): out of memory, and no libstdc++ to throw std::bad_alloc", size);
	abort();
}

static bool align_valid(size_t align)
{
	return align && !(align & (align - 1));
}

/* failed_align - the @align an aligned form passes on when it failed:
 * align_val_t(0) is no power of two, but 0 is the unaligned forms' "no
 * alignment" below (cxx_new_failed, nothrow_failed), which would run the
 * new_handler and retry with malloc; 3 is as invalid, and libstdc++ throws
 * for both at once, without the handler. */
static size_t failed_align(size_t align)
{
	return align ? align : 3;
}

/* cxx_aligned - @size bytes aligned to @align; NULL if that fails, or if
 * @align is not a power of two (which libstdc++ does not retry) */
static void *cxx_aligned(size_t size, size_t align)
{
	return likely(align_valid(align)) ? bs_aligned(align, size, "operator new") : NULL;
}

/* cxx_alloc - @size bytes for an operator new, aligned to @align if not
 * 0; never at malloc's address (bs_cxx_malloc) */
static void *cxx_alloc(size_t size, size_t align)
{
	return align ? cxx_aligned(size, align) : bs_cxx_malloc(size);
}

/* cxx_new_failed - malloc (or aligned_alloc, for @align > 0) of @size
 * failed in an operator new called from @caller: what libstdc++'s operator
 * new does then (its nothrow forms, with @nothrow, when no libstdc++ is
 * found to run them: nothrow_failed). */
void *cxx_new_failed(size_t size, size_t align, bool nothrow, const void *caller)
{
	if (align && !align_valid(align)) { /* libstdc++ throws at once */
		if (nothrow)
			return NULL;
		return throw_bad_alloc(size, align, caller);
	}
	for (;;) {
		new_handler_fn handler = get_new_handler(caller);
		if (!handler) {
			if (nothrow)
				return NULL;
			return throw_bad_alloc(size, align, caller);
		}
		handler();
		void *p = cxx_alloc(size, align);
		if (p)
			return p;
	}
}

/* ---- nothrow forms: libstdc++'s try blocks -------------------------------- */

typedef void *nothrow_new_fn(size_t size, const void *nt);
typedef void *nothrow_new_aligned_fn(size_t size, size_t align, const void *nt);

/* nothrow_failed - a nothrow form @sym (buddyslab's @own) could not
 * allocate. Without a new_handler, or with an invalid @align, libstdc++'s
 * would catch std::bad_alloc: nullptr. With one, libstdc++'s own nothrow
 * form runs (its try block catches whatever the handler throws, through
 * buddyslab's throwing form); cxx_new_failed if there is none. */
static noinline void *nothrow_failed(struct cxx_sym *sym, const void *own, size_t size, size_t align,
				     const void *nt, const void *caller)
{
	if ((align && !align_valid(align)) || !get_new_handler(caller))
		return NULL;
	void *fn = cxx_runtime_sym(sym, caller, own);
	if (fn && align)
		return ((nothrow_new_aligned_fn *)fn)(size, align, nt);
	if (fn)
		return ((nothrow_new_fn *)fn)(size, nt);
	return cxx_new_failed(size, align, true, caller);
}

/* nothrow_replaced - a nothrow form @sym whose throwing form the program
 * replaced: libstdc++'s runs (operator new in a try block). Without
 * libstdc++, the throwing form @replaced is called (an exception then ends
 * the program, as a replaced operator new may throw). */
static noinline void *nothrow_replaced(struct cxx_sym *sym, const void *own, void *replaced, size_t size,
				       size_t align, const void *nt, const void *caller)
{
	void *fn = cxx_runtime_sym(sym, caller, own);
	if (align)
		return fn ? ((nothrow_new_aligned_fn *)fn)(size, align, nt)
			  : ((void *(*)(size_t, size_t))replaced)(size, align);
	return fn ? ((nothrow_new_fn *)fn)(size, nt) : ((void *(*)(size_t))replaced)(size);
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
	void *p = cxx_aligned(size, align);
	return likely(p) ? p
			 : cxx_new_failed(size, failed_align(align), false, __builtin_return_address(0));
}

static void *operator_new_array_aligned(size_t size, size_t align)
{
	return _ZnwmSt11align_val_t(size, align);
}

static void *operator_new_nothrow(size_t size, const void *nt);
static void *operator_new_array_nothrow(size_t size, const void *nt);
static void *operator_new_aligned_nothrow(size_t size, size_t align, const void *nt);
static void *operator_new_array_aligned_nothrow(size_t size, size_t align, const void *nt);

void *_Znam(size_t size) __attribute__((alias("operator_new_array")));
void *_ZnwmSt11align_val_t(size_t size, size_t align) __attribute__((alias("operator_new_aligned")));
void *_ZnamSt11align_val_t(size_t size, size_t align)
	__attribute__((alias("operator_new_array_aligned")));
void *_ZnwmRKSt9nothrow_t(size_t size, const void *nt) __attribute__((alias("operator_new_nothrow")));
void *_ZnamRKSt9nothrow_t(size_t size, const void *nt)
	__attribute__((alias("operator_new_array_nothrow")));
void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const void *nt)
	__attribute__((alias("operator_new_aligned_nothrow")));
void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const void *nt)
	__attribute__((alias("operator_new_array_aligned_nothrow")));

/* is the process's form @got (read through the GOT) buddyslab's @own? */
#define OURS(got, own) likely((void *)(got) == (void *)(own))

/* nothrow_result - what a nothrow form @sym (buddyslab's @own) whose
 * throwing form is buddyslab's returns: @p, the block it allocated, else
 * what libstdc++'s would (nothrow_failed) */
static void *nothrow_result(void *p, struct cxx_sym *sym, const void *own, size_t size, size_t align,
			    const void *nt, const void *caller)
{
	return likely(p) ? p : nothrow_failed(sym, own, size, align, nt, caller);
}

static void *operator_new_nothrow(size_t size, const void *nt)
{
	struct cxx_sym *sym = &sym_new_nothrow;
	const void *caller = __builtin_return_address(0);
	if (OURS(_Znwm, bs_operator_new))
		return nothrow_result(bs_cxx_malloc(size), sym, operator_new_nothrow, size, 0, nt, caller);
	return nothrow_replaced(sym, operator_new_nothrow, _Znwm, size, 0, nt, caller);
}

static void *operator_new_array_nothrow(size_t size, const void *nt)
{
	struct cxx_sym *sym = &sym_new_array_nothrow;
	const void *caller = __builtin_return_address(0);
	if (OURS(_Znam, operator_new_array) && OURS(_Znwm, bs_operator_new))
		return nothrow_result(bs_cxx_malloc(size), sym, operator_new_array_nothrow, size, 0, nt,
				      caller);
	return nothrow_replaced(sym, operator_new_array_nothrow, _Znam, size, 0, nt, caller);
}

static void *operator_new_aligned_nothrow(size_t size, size_t align, const void *nt)
{
	struct cxx_sym *sym = &sym_new_aligned_nothrow;
	const void *caller = __builtin_return_address(0);
	if (OURS(_ZnwmSt11align_val_t, operator_new_aligned))
		return nothrow_result(cxx_aligned(size, align), sym, operator_new_aligned_nothrow, size,
				      failed_align(align), nt, caller);
	return nothrow_replaced(sym, operator_new_aligned_nothrow, _ZnwmSt11align_val_t, size, align,
				nt, caller);
}

static void *operator_new_array_aligned_nothrow(size_t size, size_t align, const void *nt)
{
	struct cxx_sym *sym = &sym_new_array_aligned_nothrow;
	const void *caller = __builtin_return_address(0);
	if (OURS(_ZnamSt11align_val_t, operator_new_array_aligned) &&
	    OURS(_ZnwmSt11align_val_t, operator_new_aligned))
		return nothrow_result(cxx_aligned(size, align), sym, operator_new_array_aligned_nothrow,
				      size, failed_align(align), nt, caller);
	return nothrow_replaced(sym, operator_new_array_aligned_nothrow, _ZnamSt11align_val_t, size,
				align, nt, caller);
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
	bs_operator_delete(ptr); /* not free's address: see malloc.c */
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
