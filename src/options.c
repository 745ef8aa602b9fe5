/*
 * options.c - BUDDYSLAB_OPTIONS="key=value,key=value", read once at start-up
 * without allocating (in the spirit of jemalloc's MALLOC_CONF). One table
 * names every option, its range and its meaning; an unknown key or a bad
 * value is reported once on stderr and otherwise ignored. `buddyslab --help`
 * and README.md document the same keys.
 *
 *   stats=0|1          print buddyinfo/slabinfo/zoneinfo/pcp reports at exit
 *   stats_file=PATH    ... to PATH instead of stderr (appended)
 *   pcp_high=N         pages a thread's page cache may hold (default 96)
 *   pcp_batch=N        pages moved per zone lock hold (default 16)
 *   slab_max=N         empty slabs kept per cache and thread (default 1)
 *   purge_ms=N         free memory unused this long goes back (default 20)
 *   madvise=dontneed|free  how it goes back (default dontneed; free pages
 *                      stay in RSS until the kernel needs them)
 *   vm_cache_mb=N      freed large mappings kept for reuse (default 128)
 *   background=0|1     a kswapd-like thread purges idle free memory
 *   shm=0|1            publish /dev/shm/buddyslab.PID for `buddyslab top`
 *                      (starts the background thread)
 *   shm_ms=N           how often the page is rewritten (default 1000)
 *   wmark_high_mb=N    resident free memory above which frees purge (16)
 *   wmark_low_mb=N     ... down to this (4)
 *   pagemap_tree=0|1   the pagemap as a radix tree, not the flat table
 *                      (which reserves 16 MiB of address space; under
 *                      ulimit -v the tree is used anyway)
 *   poison=0|1         poison free small blocks and check the poison when
 *                      they are handed out again (the kernel's slub_debug=P;
 *                      every small malloc and free takes the slow path)
 *   verbose=0|1        print the options in force at start-up
 */
#include <limits.h>
#include <string.h>

#include "internal.h"

/* the defaults, which verbose=1 prints as they are in force */
struct options options = {
	.pcp_high = PCP_DEFAULT_HIGH,
	.pcp_batch = PCP_DEFAULT_BATCH,
	.slab_max = 1,
	.purge_ms = DEFAULT_PURGE_MS,
	.vm_cache_mb = VM_CACHE_DEFAULT_MB,
	.shm_ms = 1000,
	.wmark_high_mb = DEFAULT_WMARK_HIGH_MB,
	.wmark_low_mb = DEFAULT_WMARK_LOW_MB,
};

enum option_kind { OPT_INT, OPT_STRING, OPT_MADVISE };

struct option_desc {
	const char *name;
	enum option_kind kind;
	void *value;
	int min, max;
};

static const struct option_desc option_table[] = {
	{ "stats", OPT_INT, &options.stats, 0, 1 },
	{ "stats_file", OPT_STRING, options.stats_file, 1, sizeof(options.stats_file) - 1 },
	{ "pcp_high", OPT_INT, &options.pcp_high, 1, 1 << 20 },
	{ "pcp_batch", OPT_INT, &options.pcp_batch, 1, 1 << 16 },
	{ "slab_max", OPT_INT, &options.slab_max, 0, 1 << 16 },
	{ "purge_ms", OPT_INT, &options.purge_ms, 0, 1 << 30 },
	{ "madvise", OPT_MADVISE, &options.madvise_free, 0, 1 },
	{ "vm_cache_mb", OPT_INT, &options.vm_cache_mb, 0, 1 << 20 },
	{ "background", OPT_INT, &options.background, 0, 1 },
	{ "shm", OPT_INT, &options.shm, 0, 1 },
	{ "shm_ms", OPT_INT, &options.shm_ms, 10, 1 << 30 },
	{ "wmark_high_mb", OPT_INT, &options.wmark_high_mb, 1, 1 << 20 },
	{ "wmark_low_mb", OPT_INT, &options.wmark_low_mb, 1, 1 << 20 },
	{ "pagemap_tree", OPT_INT, &options.pagemap_tree, 0, 1 },
	{ "poison", OPT_INT, &options.poison, 0, 1 },
	{ "verbose", OPT_INT, &options.verbose, 0, 1 },
};

/* parse_int - decimal digits only, leading zeros allowed; false past
 * INT_MAX (every table maximum is below it) */
static bool parse_int(const char *s, size_t len, int *out)
{
	long v = 0;
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
		if (v > INT_MAX)
			return false;
	}
	*out = (int)v;
	return true;
}

/* option_set - store @value (of @len bytes) into @opt; false if invalid. */
static bool option_set(const struct option_desc *opt, const char *value, size_t len)
{
	int v;
	switch (opt->kind) {
	case OPT_INT:
		if (!parse_int(value, len, &v) || v < opt->min || v > opt->max)
			return false;
		*(int *)opt->value = v;
		return true;
	case OPT_STRING:
		if (len < (size_t)opt->min || len > (size_t)opt->max)
			return false;
		memcpy(opt->value, value, len);
		((char *)opt->value)[len] = '\0';
		return true;
	case OPT_MADVISE:
		if (len == 8 && memcmp(value, "dontneed", 8) == 0)
			*(int *)opt->value = 0;
		else if (len == 4 && memcmp(value, "free", 4) == 0)
			*(int *)opt->value = 1;
		else
			return false;
		return true;
	}
	return false;
}

static void option_print(const struct option_desc *opt)
{
	switch (opt->kind) {
	case OPT_INT:
		bs_printf(2, "buddyslab: option %s=%d\n", opt->name, *(int *)opt->value);
		break;
	case OPT_STRING:
		bs_printf(2, "buddyslab: option %s=%s\n", opt->name, (char *)opt->value);
		break;
	case OPT_MADVISE:
		bs_printf(2, "buddyslab: option %s=%s\n", opt->name,
			  *(int *)opt->value ? "free" : "dontneed");
		break;
	}
}

/* option_bad_value - say which values @opt takes (a bad value was only
 * "ignored", and the ranges were nowhere but here) */
static void option_bad_value(const struct option_desc *opt)
{
	switch (opt->kind) {
	case OPT_INT:
		bs_warn("BUDDYSLAB_OPTIONS: bad value for %s (a whole number from %d to %d), ignored",
			opt->name, opt->min, opt->max);
		break;
	case OPT_STRING:
		bs_warn("BUDDYSLAB_OPTIONS: bad value for %s (1 to %d characters), ignored",
			opt->name, opt->max);
		break;
	case OPT_MADVISE:
		bs_warn("BUDDYSLAB_OPTIONS: bad value for %s (dontneed or free), ignored", opt->name);
		break;
	}
}

/* option_bit - the bit of the option whose value is at @value, in the set
 * of options given */
static unsigned long option_bit(const void *value)
{
	for (size_t i = 0; i < ARRAY_SIZE(option_table); i++)
		if (option_table[i].value == value)
			return 1UL << i;
	return 0;
}

void options_init(void)
{
	const char *s = bs_getenv("BUDDYSLAB_OPTIONS");
	unsigned long given = 0; /* bit i: option_table[i] set */
	_Static_assert(ARRAY_SIZE(option_table) <= 8 * sizeof(given), "a bit per option");
	if (!s)
		return;
	while (*s) {
		const char *end = strchr(s, ',');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		const char *eq = memchr(s, '=', len);
		size_t key_len = eq ? (size_t)(eq - s) : len;
		bool known = false;
		for (size_t i = 0; i < ARRAY_SIZE(option_table); i++) {
			const struct option_desc *opt = &option_table[i];
			if (strlen(opt->name) != key_len || memcmp(opt->name, s, key_len) != 0)
				continue;
			known = true;
			if (eq && option_set(opt, eq + 1, len - key_len - 1))
				given |= 1UL << i;
			else
				option_bad_value(opt);
		}
		if (!known && len) {
			char key[32];
			size_t n = key_len < sizeof(key) - 1 ? key_len : sizeof(key) - 1;
			memcpy(key, s, n);
			key[n] = '\0';
			bs_warn("BUDDYSLAB_OPTIONS: unknown option \"%s\", ignored", key);
		}
		if (!end)
			break;
		s = end + 1;
	}
	/* the options' relations, kept here for the layers (pcp_init,
	 * zone_init_locked), so that verbose=1 prints the values in force: a
	 * batch at most the page cache's high, the low watermark at most the
	 * high one */
	if (options.pcp_batch > options.pcp_high) {
		if (given & option_bit(&options.pcp_batch))
			bs_warn("BUDDYSLAB_OPTIONS: pcp_batch=%d is above pcp_high=%d: %d used",
				options.pcp_batch, options.pcp_high, options.pcp_high);
		options.pcp_batch = options.pcp_high;
	}
	if (options.wmark_low_mb > options.wmark_high_mb) {
		if (given & option_bit(&options.wmark_low_mb))
			bs_warn("BUDDYSLAB_OPTIONS: wmark_low_mb=%d is above wmark_high_mb=%d: %d used",
				options.wmark_low_mb, options.wmark_high_mb, options.wmark_high_mb);
		options.wmark_low_mb = options.wmark_high_mb;
	}
	if (options.verbose)
		for (size_t i = 0; i < ARRAY_SIZE(option_table); i++)
			option_print(&option_table[i]);
}
