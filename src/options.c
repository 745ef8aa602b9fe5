/*
 * options.c - BUDDYSLAB_OPTIONS="key=value,key=value", read once at start-up
 * without allocating. One table names every option; an unknown key or a bad
 * value is reported once on stderr and otherwise ignored.
 *
 *   stats=0|1        print buddyinfo/slabinfo/zoneinfo reports at exit
 *   pcp_high=N       pages a thread's page cache may hold (default 96)
 *   pcp_batch=N      pages moved per zone lock hold (default 16)
 *   verbose=0|1      report option parsing
 *   purge_ms=N       free memory older than this is given back (default 20)
 *   vm_cache_mb=N    freed large mappings kept for reuse (default 64)
 */
#include <string.h>

#include "internal.h"

struct options options;

struct option_desc {
	const char *name;
	int *value;
	int min, max;
};

static const struct option_desc option_table[] = {
	{ "stats", &options.stats, 0, 1 },
	{ "pcp_high", &options.pcp_high, 1, 1 << 20 },
	{ "pcp_batch", &options.pcp_batch, 1, 1 << 16 },
	{ "verbose", &options.verbose, 0, 1 },
	{ "purge_ms", &options.purge_ms, 0, 1 << 30 },
	{ "vm_cache_mb", &options.vm_cache_mb, 0, 1 << 20 },
};

static bool parse_int(const char *s, size_t len, int *out)
{
	long v = 0;
	if (len == 0 || len > 9)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = (int)v;
	return true;
}

void options_init(void)
{
	const char *s = bs_getenv("BUDDYSLAB_OPTIONS");
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
			int v;
			if (!eq || !parse_int(eq + 1, len - key_len - 1, &v) || v < opt->min ||
			    v > opt->max)
				bs_warn("BUDDYSLAB_OPTIONS: bad value for %s (%d..%d), ignored",
					opt->name, opt->min, opt->max);
			else
				*opt->value = v;
		}
		if (!known && len)
			bs_warn("BUDDYSLAB_OPTIONS: unknown option at \"%s\", ignored", s);
		if (!end)
			break;
		s = end + 1;
	}
	if (options.verbose)
		for (size_t i = 0; i < ARRAY_SIZE(option_table); i++)
			bs_printf(2, "buddyslab: option %s=%d%s\n", option_table[i].name,
				  *option_table[i].value, *option_table[i].value ? "" : " (default)");
}
