/*
 * dlalloc.c - the module that tests/faults/test_dlopen loads and unloads
 * again and again. It allocates in its constructor and frees in its
 * destructor, with every function of the malloc API and on every route;
 * it has dynamic TLS (which glibc allocates with malloc when a thread first
 * touches it in a dlopen'ed module), a pthread key with a destructor, and a
 * thread of its own started by the constructor and joined by the destructor.
 * Failures are counted in dlalloc_failures, a variable of the test program
 * (found through the global scope).
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

extern int dlalloc_failures;      /* in test_dlopen */
extern int dlalloc_ctor_runs;
extern int dlalloc_dtor_runs;

#define NBLOCKS 40
static struct {
	void *p;
	size_t size;
} blocks[NBLOCKS];
static char *name_copy;
static __thread char *tls_block;
static __thread char tls_array[256];
static pthread_key_t key;
static pthread_t helper;
static volatile int helper_stop;

static void fill(void *p, size_t size, unsigned seed)
{
	unsigned char *b = p;
	for (size_t i = 0; i < size; i += (i < 4096 ? 1 : 997))
		b[i] = (unsigned char)(seed + i * 7);
}

static int check(const void *p, size_t size, unsigned seed)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < size; i += (i < 4096 ? 1 : 997))
		if (b[i] != (unsigned char)(seed + i * 7))
			return 0;
	return 1;
}

static void key_dtor(void *p)
{
	free(p);
}

static void *helper_main(void *arg)
{
	(void)arg;
	/* touches the module's dynamic TLS in a new thread, and its key */
	tls_block = malloc(300);
	memset(tls_array, 1, sizeof(tls_array));
	pthread_setspecific(key, malloc(77));
	while (!helper_stop) {
		void *p = malloc(1000);
		void *q = calloc(10, 100);
		free(p);
		free(q);
		sched_yield();
	}
	free(tls_block);
	tls_block = NULL;
	return NULL;
}

__attribute__((constructor)) static void dlalloc_init(void)
{
	static const size_t sizes[] = { 1, 24, 100, 1000, 5000, 8192, 20000, 300000,
					3u << 20, 6u << 20 };
	dlalloc_ctor_runs++;
	for (unsigned i = 0; i < NBLOCKS; i++) {
		size_t size = sizes[i % (sizeof(sizes) / sizeof(sizes[0]))];
		void *p = NULL;
		switch (i % 5) {
		case 0:
			p = malloc(size);
			break;
		case 1:
			p = calloc(1, size);
			break;
		case 2:
			if (posix_memalign(&p, 64, size) != 0)
				p = NULL;
			break;
		case 3:
			p = memalign(4096, size);
			break;
		default:
			p = realloc(malloc(size / 2 + 1), size);
			break;
		}
		if (!p) {
			dlalloc_failures++;
			continue;
		}
		fill(p, size, i);
		blocks[i].p = p;
		blocks[i].size = size;
	}
	name_copy = strdup("allocated by the constructor of libdlalloc.so");
	tls_block = malloc(123);
	pthread_key_create(&key, key_dtor);
	pthread_setspecific(key, malloc(55));
	helper_stop = 0;
	if (pthread_create(&helper, NULL, helper_main, NULL) != 0)
		dlalloc_failures++;
}

__attribute__((destructor)) static void dlalloc_fini(void)
{
	dlalloc_dtor_runs++;
	helper_stop = 1;
	pthread_join(helper, NULL);
	for (unsigned i = 0; i < NBLOCKS; i++) {
		if (!blocks[i].p)
			continue;
		if (!check(blocks[i].p, blocks[i].size, i))
			dlalloc_failures++;
		free(blocks[i].p);
		blocks[i].p = NULL;
	}
	if (!name_copy || strcmp(name_copy, "allocated by the constructor of libdlalloc.so"))
		dlalloc_failures++;
	free(name_copy);
	free(tls_block);
	tls_block = NULL;
	free(pthread_getspecific(key));
	pthread_setspecific(key, NULL);
	pthread_key_delete(key);
}

/* dlalloc_use - work done between dlopen and dlclose; returns a block the
 * caller frees after the module is gone. */
void *dlalloc_use(unsigned n)
{
	tls_array[0] = (char)n;
	for (unsigned i = 0; i < NBLOCKS; i++)
		if (blocks[i].p && !check(blocks[i].p, blocks[i].size, i))
			dlalloc_failures++;
	void *p = malloc(64 + n % 5000);
	if (p)
		memset(p, 0x42, 64 + n % 5000);
	return p;
}
