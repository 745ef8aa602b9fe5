/*
 * buddyslab.c - the buddyslab command: run a program on buddyslab, watch a
 * running process's slab caches and free areas, record and plot them.
 *
 *   buddyslab run [--stats] [--top] [--options K=V,...] [-v] -- CMD ARGS
 *   buddyslab top PID [--sort mem|objs|active|use|size|name] [--once] [--interval S]
 *   buddyslab record PID OUTFILE [--interval MS] [--duration S]
 *   buddyslab plot CSV OUTDIR [--caches N]
 *   buddyslab plot --run OUTDIR [--interval MS] [--caches N] [--options K=V,...] -- CMD ARGS
 *   buddyslab help | --help | --version
 *
 * `run` finds libbuddyslab.so, prepends it to LD_PRELOAD, merges the options
 * into BUDDYSLAB_OPTIONS and execs the command (like jemalloc.sh).
 *
 * `top` and `record` read /dev/shm/buddyslab.PID, the live statistics page a
 * process publishes with BUDDYSLAB_OPTIONS=shm=1 (include/buddyslab_shm.h),
 * with the page's seqlock: read seq (even), copy, read seq again, retry on a
 * change. They never write to the page, and never stop the process.
 *
 * `record` writes a "tidy" CSV, one value a line:
 *     time_s,metric,name,value
 * time_s is seconds since the first sample (from the page's own clock);
 * metric is nr_free (name = the order), a zone figure (free_pages,
 * dirty_free_pages, wmark_min/low/high, chunks, slab_pages, large_pages,
 * pcp_pages, internal_pages, purged_pages, hot_pages, purging_pages,
 * vm_areas, vm_bytes, vm_cached, vm_cached_bytes, vm_hot, mapped_bytes,
 * rss_bytes, threads; name empty) or a cache figure
 * (active_objs, num_objs, active_slabs, num_slabs, cache_bytes, objsize;
 * name = the cache). Lines starting with '#' are comments.
 *
 * `plot` reads such a CSV, writes gnuplot data files and a script into
 * OUTDIR and runs gnuplot (Debian: gnuplot-nox) there to draw free_area.png,
 * slabs.png and memory.png.
 *
 * Only libc: no ncurses (ANSI escapes and termios), no library of ours.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "buddyslab_shm.h"

#ifndef LIBDIR
#define LIBDIR "/usr/local/lib"
#endif
#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

#define LIBNAME "libbuddyslab.so"

/* ---- small helpers ----------------------------------------------------------- */

static void errmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void errmsg(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fputs("buddyslab: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* A usage error: message, a pointer to --help, exit status 2. */
static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("buddyslab: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'buddyslab --help'.\n", stderr);
	exit(2);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		errmsg("out of memory");
		exit(1);
	}
	return p;
}

static void *xrealloc(void *old, size_t n)
{
	void *p = realloc(old, n ? n : 1);
	if (!p) {
		errmsg("out of memory");
		exit(1);
	}
	return p;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(xmalloc(n), s, n);
}

/* A growable string. */
struct sbuf {
	char *p;
	size_t len, cap;
};

static void sb_printf(struct sbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *sb, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		size_t room = sb->cap - sb->len;
		va_start(ap, fmt);
		int n = vsnprintf(sb->p ? sb->p + sb->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < room) {
			sb->len += (size_t)n;
			return;
		}
		sb->cap = (sb->cap + (size_t)n + 1) * 2;
		sb->p = xrealloc(sb->p, sb->cap);
	}
}

static void sb_free(struct sbuf *sb)
{
	free(sb->p);
	sb->p = NULL;
	sb->len = sb->cap = 0;
}

static bool parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= min && v <= max))
		return false;
	*out = v;
	return true;
}

static double now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t now_realtime_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL); /* EINTR: the caller looks at its flags */
}

/*
 * match_opt - if argv[*i] is NAME (value in the next argument) or NAME=VALUE,
 * set *val and return true (advancing *i past a separate value).
 */
static bool match_opt(int argc, char **argv, int *i, const char *name, const char **val)
{
	const char *a = argv[*i];
	size_t n = strlen(name);
	if (strncmp(a, name, n) != 0)
		return false;
	if (a[n] == '=') {
		*val = a + n + 1;
		return true;
	}
	if (a[n] != '\0')
		return false;
	if (*i + 1 >= argc)
		usage_error("%s needs a value", name);
	*val = argv[++*i];
	return true;
}

/* Set by SIGINT / SIGTERM / SIGHUP handlers of top and record. */
static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void catch_stop_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: poll and nanosleep return EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/* ---- the option keys of BUDDYSLAB_OPTIONS -------------------------------------- */

struct option_key {
	const char *key;
	const char *value;
	const char *help;
};

/* The same keys as src/options.c's table; tests/cli checks --help shows them. */
static const struct option_key option_keys[] = {
	{ "stats", "0|1",
	  "at exit, print the buddyinfo, slabinfo, zoneinfo and\n"
	  "per-thread page cache reports (default 0)" },
	{ "stats_file", "PATH",
	  "append the stats=1 report to PATH instead of\n"
	  "stderr" },
	{ "pcp_high", "N",
	  "pages a thread's page cache may hold before it\n"
	  "drains (default 96)" },
	{ "pcp_batch", "N",
	  "pages moved to or from the zone per lock hold\n"
	  "(default 16)" },
	{ "slab_max", "N", "empty slabs kept per cache per thread (default 1)" },
	{ "purge_ms", "N",
	  "free memory unused for N ms is given back to the OS\n"
	  "(default 20)" },
	{ "madvise", "dontneed|free",
	  "how free memory goes back: MADV_DONTNEED (default),\n"
	  "or MADV_FREE (pages stay in RSS until the kernel\n"
	  "needs them)" },
	{ "vm_cache_mb", "N",
	  "MiB of freed large (> 1 MiB) mappings kept for reuse\n"
	  "(default 128)" },
	{ "background", "0|1",
	  "a background thread, like kswapd, gives idle free\n"
	  "memory back every purge_ms (default 0)" },
	{ "shm", "0|1",
	  "publish live statistics in /dev/shm/buddyslab.PID\n"
	  "for 'buddyslab top' and 'buddyslab record'\n"
	  "(implies background=1)" },
	{ "shm_ms", "N",
	  "how often the statistics page is rewritten, in ms\n"
	  "(default 1000)" },
	{ "wmark_high_mb", "N",
	  "MiB of resident free memory above which a free\n"
	  "purges memory unused for purge_ms (default 16)" },
	{ "wmark_low_mb", "N", "... down to this many MiB (default 4)" },
	{ "pagemap_tree", "0|1",
	  "a radix tree for the pagemap instead of the flat\n"
	  "table (which reserves 16 MiB of address space;\n"
	  "under ulimit -v the tree is used anyway)" },
	{ "poison", "0|1",
	  "debugging: fill freed blocks of up to 8 KiB with\n"
	  "0x6b and check the fill when they are handed out\n"
	  "again (a write after free aborts with a report);\n"
	  "new blocks are filled with 0x5a (slow: no caches)" },
	{ "verbose", "0|1", "print the options in force at start-up" },
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static void print_option_keys(FILE *f)
{
	for (size_t i = 0; i < ARRAY_SIZE(option_keys); i++) {
		char head[64];
		snprintf(head, sizeof(head), "%s=%s", option_keys[i].key, option_keys[i].value);
		fprintf(f, "  %-22s ", head);
		for (const char *p = option_keys[i].help; *p; p++) {
			fputc(*p, f);
			if (*p == '\n')
				fprintf(f, "  %-22s ", "");
		}
		fputc('\n', f);
	}
}

/* is_help - is @arg --help or -h? */
static bool is_help(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

static void print_help(FILE *f)
{
	fputs("Usage: buddyslab COMMAND [ARGS]\n"
	      "\n"
	      "Run programs on the buddyslab allocator and watch its buddy free areas\n"
	      "and slab caches, as /proc/buddyinfo, slabinfo and slabtop show the kernel's.\n"
	      "\n"
	      "Commands:\n"
	      "  run [--stats] [--top] [--options K=V,...] [-v] [--] CMD [ARGS]\n"
	      "      Run CMD with libbuddyslab.so preloaded: prepend it to LD_PRELOAD\n"
	      "      (keeping what is there) and add the options to BUDDYSLAB_OPTIONS,\n"
	      "      then exec CMD. The exit status is CMD's (127: not found).\n"
	      "        --stats          print the allocator's reports at exit (stats=1)\n"
	      "        --options K=V,.. options of the library (below); may repeat\n"
	      "        --top            run CMD with shm=1 and show 'buddyslab top' of it\n"
	      "                         until it exits (q closes the view)\n"
	      "        -v, --verbose    print the library and options used\n"
	      "      The library is, in this order: $BUDDYSLAB_LIB; ../.libs/ or .libs/\n"
	      "      next to this executable (a build tree); " LIBDIR "/" LIBNAME ";\n"
	      "      ../lib/" LIBNAME " next to this executable.\n"
	      "\n"
	      "  top PID [--sort KEY] [--once] [--interval S]\n"
	      "      A slabtop-like live view of process PID, which must run with\n"
	      "      BUDDYSLAB_OPTIONS=shm=1 (or under 'buddyslab run --top'): zone summary,\n"
	      "      buddyinfo, per-thread page caches and the slab caches.\n"
	      "        --sort KEY       mem (cache size, the default), objs, active, use,\n"
	      "                         size (object size) or name\n"
	      "        --once           print one frame and exit (for scripts)\n"
	      "        --interval S     refresh every S seconds (default 1)\n"
	      "      Keys: q quit; c/m mem, o objs, a active, u use, s size, n name.\n"
	      "\n"
	      "  record PID OUTFILE [--interval MS] [--duration S]\n"
	      "      Sample PID's statistics page every MS ms (default 500) into a CSV\n"
	      "      (OUTFILE, or - for stdout) until PID exits, S seconds pass or ^C.\n"
	      "      Columns: time_s,metric,name,value (one value a line): nr_free per\n"
	      "      order, zone figures, and per cache active_objs, num_objs,\n"
	      "      active_slabs, num_slabs, cache_bytes, objsize.\n"
	      "\n"
	      "  plot CSV OUTDIR [--caches N]\n"
	      "      Draw a recording with gnuplot into OUTDIR: free_area.png (free memory\n"
	      "      per buddy order, stacked, and a heatmap of free blocks per order),\n"
	      "      slabs.png (size and occupancy of the N biggest caches, default 8)\n"
	      "      and memory.png (RSS, mapped, free, slab, large, vmalloc).\n"
	      "\n"
	      "  plot --run OUTDIR [--interval MS] [--caches N] [--options K=V,...] [--] CMD [ARGS]\n"
	      "      Run CMD as 'run' does with shm=1,shm_ms=MS (default 100), record it\n"
	      "      into OUTDIR/record.csv until it exits, then plot. Exit status: CMD's.\n"
	      "\n"
	      "  help, --help     this text;  --version     the version\n"
	      "\n"
	      "BUDDYSLAB_OPTIONS (comma-separated key=value pairs, read at start-up):\n",
	      f);
	print_option_keys(f);
	fputs("\n"
	      "Examples:\n"
	      "  buddyslab run --stats -- python3 script.py\n"
	      "  buddyslab run --options shm=1 -- ./server &  buddyslab top $!\n"
	      "  buddyslab plot --run charts/ -- python3 script.py\n",
	      f);
}

static bool known_option_key(const char *key, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(option_keys); i++)
		if (strlen(option_keys[i].key) == len && memcmp(option_keys[i].key, key, len) == 0)
			return true;
	return false;
}

/* check_options - every item of a --options list must be KEY=VALUE with a
 * known key (the library would only warn; a typo should not cost a run). */
static void check_options(const char *list)
{
	const char *s = list;
	while (*s) {
		const char *end = strchr(s, ',');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		const char *eq = memchr(s, '=', len);
		if (len) {
			if (!eq)
				usage_error("--options: '%.*s' is not KEY=VALUE", (int)len, s);
			if (!known_option_key(s, (size_t)(eq - s)))
				usage_error("--options: unknown key '%.*s' (the keys are in "
					    "'buddyslab --help')",
					    (int)(eq - s), s);
		}
		if (!end)
			break;
		s = end + 1;
	}
}

/* Append a comma-separated list to an options string. */
static void options_append(struct sbuf *sb, const char *items)
{
	if (!items || !*items)
		return;
	if (sb->len && sb->p[sb->len - 1] != ',')
		sb_printf(sb, ",");
	sb_printf(sb, "%s", items);
}

/* ---- finding the library, preparing the environment ---------------------------- */

static bool is_readable_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, R_OK) == 0;
}

/* absolute_path - PATH made absolute with its directory resolved, keeping
 * the file name itself (libbuddyslab.so, not the .so.0.0.0 it links to). */
static char *absolute_path(const char *path)
{
	char *copy = xstrdup(path);
	char *slash = strrchr(copy, '/');
	const char *base = slash ? slash + 1 : copy;
	const char *dir = slash ? (slash == copy ? "/" : copy) : ".";
	if (slash)
		*slash = '\0';
	char *rdir = realpath(dir, NULL);
	if (!rdir) {
		free(copy);
		return NULL;
	}
	struct sbuf sb = { 0 };
	sb_printf(&sb, "%s%s%s", rdir, strcmp(rdir, "/") ? "/" : "", base);
	free(rdir);
	free(copy);
	return sb.p;
}

/* The directory of this executable, from /proc/self/exe; NULL if unknown. */
static char *exe_dir(void)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	char *slash = strrchr(buf, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	return xstrdup(buf[0] ? buf : "/");
}

/*
 * find_library - the libbuddyslab.so to preload, as an absolute path, or
 * NULL after a message. The build tree next to the executable comes before
 * the install prefix, so that a freshly built `buddyslab` never preloads an
 * older installed library; an installed executable has no .libs/ beside it.
 */
static char *find_library(void)
{
	const char *env = getenv("BUDDYSLAB_LIB");
	if (env && *env) {
		if (!is_readable_file(env)) {
			errmsg("BUDDYSLAB_LIB=%s: no such library (unset it to search the "
			       "usual places)",
			       env);
			return NULL;
		}
		return absolute_path(env);
	}

	char *dir = exe_dir();
	struct sbuf tried = { 0 };
	char *found = NULL;
	const char *rel_build[] = { "/../.libs/" LIBNAME, "/.libs/" LIBNAME };
	for (size_t i = 0; dir && !found && i < ARRAY_SIZE(rel_build); i++) {
		struct sbuf c = { 0 };
		sb_printf(&c, "%s%s", dir, rel_build[i]);
		if (is_readable_file(c.p))
			found = absolute_path(c.p);
		else
			sb_printf(&tried, "  %s\n", c.p);
		sb_free(&c);
	}
	if (!found) {
		if (is_readable_file(LIBDIR "/" LIBNAME))
			found = absolute_path(LIBDIR "/" LIBNAME);
		else
			sb_printf(&tried, "  %s\n", LIBDIR "/" LIBNAME);
	}
	if (!found && dir) {
		struct sbuf c = { 0 };
		sb_printf(&c, "%s/../lib/" LIBNAME, dir);
		if (is_readable_file(c.p))
			found = absolute_path(c.p);
		else
			sb_printf(&tried, "  %s\n", c.p);
		sb_free(&c);
	}
	if (!found)
		errmsg("cannot find " LIBNAME "; tried:\n%s"
		       "Build it (make) or install it (make install), or set "
		       "BUDDYSLAB_LIB=/path/to/" LIBNAME ".",
		       tried.p ? tried.p : "");
	free(dir);
	sb_free(&tried);
	return found;
}

/*
 * prepare_env - prepend @lib to LD_PRELOAD and set BUDDYSLAB_OPTIONS to
 * the existing value followed by @opts (later keys win in the library's
 * parser). False after a message.
 */
static bool prepare_env(const char *lib, const char *opts, bool verbose)
{
	if (strpbrk(lib, ": \t")) {
		errmsg("%s: a path with ':' or a space cannot go into LD_PRELOAD", lib);
		return false;
	}
	const char *old = getenv("LD_PRELOAD");
	struct sbuf pre = { 0 };
	sb_printf(&pre, "%s", lib);
	if (old && *old)
		sb_printf(&pre, ":%s", old);
	struct sbuf o = { 0 };
	options_append(&o, getenv("BUDDYSLAB_OPTIONS"));
	options_append(&o, opts);
	if (setenv("LD_PRELOAD", pre.p, 1) != 0 ||
	    (o.p && setenv("BUDDYSLAB_OPTIONS", o.p, 1) != 0)) {
		errmsg("setenv: %s", strerror(errno));
		return false;
	}
	if (verbose) {
		errmsg("LD_PRELOAD=%s", pre.p);
		if (o.p)
			errmsg("BUDDYSLAB_OPTIONS=%s", o.p);
	}
	sb_free(&pre);
	sb_free(&o);
	return true;
}

/* exec_command - execvp, or a message and the shell's exit status. */
static int exec_command(char **argv)
{
	execvp(argv[0], argv);
	int e = errno;
	errmsg("%s: %s", argv[0], strerror(e));
	return e == ENOENT ? 127 : 126;
}

/* The exit status a shell would give for a wait status. */
static int exit_status_of(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}

/* ---- the process being watched -------------------------------------------------- */

struct target {
	pid_t pid;
	bool child;   /* our own child: reap it with waitpid */
	bool exited;
	int status;   /* wait status, when child && exited */
};

static bool target_alive(struct target *t)
{
	if (t->exited)
		return false;
	if (t->child) {
		int st;
		pid_t r = waitpid(t->pid, &st, WNOHANG);
		if (r == t->pid) {
			t->exited = true;
			t->status = st;
			return false;
		}
		return true;
	}
	if (kill(t->pid, 0) == 0 || errno == EPERM)
		return true;
	t->exited = true;
	return false;
}

/* Wait for our child to exit (blocking); its exit status. */
static int target_wait(struct target *t)
{
	while (!t->exited) {
		int st;
		pid_t r = waitpid(t->pid, &st, 0);
		if (r == t->pid) {
			t->exited = true;
			t->status = st;
		} else if (r < 0 && errno != EINTR) {
			return 1;
		}
	}
	return exit_status_of(t->status);
}

static void process_name(pid_t pid, char *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	buf[0] = '\0';
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	if (fgets(buf, (int)len, f))
		buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

/* Whether /proc/PID/maps shows libbuddyslab loaded: -1 if unreadable. */
static int process_has_library(pid_t pid)
{
	char path[64], line[1024];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	int found = 0;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, "libbuddyslab") != NULL;
	fclose(f);
	return found;
}

/* ---- reading the statistics page ------------------------------------------------- */

struct page {
	pid_t pid;
	int fd;
	const struct buddyslab_shm *map;
	size_t map_len;
};

enum page_result { PAGE_OK, PAGE_MISSING, PAGE_NOT_READY, PAGE_BAD, PAGE_ERROR };

static bool page_snapshot(const struct buddyslab_shm *s, struct buddyslab_shm *out);

static enum page_result page_try_open(struct page *pg, pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), BUDDYSLAB_SHM_PATH_FMT, (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? PAGE_MISSING : PAGE_ERROR;
	struct stat st;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return PAGE_ERROR;
	}
	/* created, not yet sized by the writer */
	if ((size_t)st.st_size < offsetof(struct buddyslab_shm, updates)) {
		close(fd);
		return PAGE_NOT_READY;
	}
	size_t len = (size_t)st.st_size;
	void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		close(fd);
		return PAGE_ERROR;
	}
	const struct buddyslab_shm *s = m;
	enum page_result r = PAGE_OK;
	uint64_t seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
	struct buddyslab_shm *copy = NULL;
	if (seq == 0) {
		r = PAGE_NOT_READY; /* never written completely */
	} else if (len < sizeof(struct buddyslab_shm)) {
		r = PAGE_BAD; /* another layout */
	} else {
		copy = xmalloc(sizeof(*copy));
		if (!page_snapshot(s, copy))
			r = PAGE_NOT_READY;
		else if (copy->magic != BUDDYSLAB_SHM_MAGIC ||
			 copy->version != BUDDYSLAB_SHM_VERSION ||
			 copy->size < sizeof(struct buddyslab_shm))
			r = PAGE_BAD;
	}
	if (r == PAGE_BAD)
		errmsg("%s: not a statistics page that this buddyslab reads (magic %#" PRIx64
		       ", version %u, size %u; expected version %d, %zu bytes): is the "
		       "command as new as the library?",
		       path, s->magic, s->version, len >= 24 ? s->size : 0u,
		       BUDDYSLAB_SHM_VERSION, sizeof(struct buddyslab_shm));
	free(copy);
	if (r != PAGE_OK) {
		munmap(m, len);
		close(fd);
		return r;
	}
	pg->pid = pid;
	pg->fd = fd;
	pg->map = s;
	pg->map_len = len;
	return PAGE_OK;
}

static void page_close(struct page *pg)
{
	if (pg->map)
		munmap((void *)pg->map, pg->map_len);
	if (pg->fd >= 0)
		close(pg->fd);
	pg->map = NULL;
	pg->fd = -1;
}

/* The writer removed the file: the process exited (or dropped the page). */
static bool page_unlinked(const struct page *pg)
{
	struct stat st;
	return fstat(pg->fd, &st) == 0 && st.st_nlink == 0;
}

static void explain_missing_page(pid_t pid)
{
	if (kill(pid, 0) != 0 && errno == ESRCH) {
		errmsg("no process %d", (int)pid);
		return;
	}
	char path[64];
	snprintf(path, sizeof(path), BUDDYSLAB_SHM_PATH_FMT, (int)pid);
	int lib = process_has_library(pid);
	errmsg("%s does not exist: process %d %s.\n"
	       "The statistics page exists only while a process runs with "
	       "BUDDYSLAB_OPTIONS=shm=1, e.g.\n"
	       "  buddyslab run --options shm=1 -- CMD     (then: buddyslab top PID)\n"
	       "  buddyslab run --top -- CMD",
	       path, (int)pid,
	       lib == 1   ? "has libbuddyslab loaded but was not started with shm=1, "
			    "or could not make its page (its stderr says why)"
	       : lib == 0 ? "does not use buddyslab (no libbuddyslab in its maps)"
			  : "does not publish one");
}

/*
 * page_open - open PID's page, waiting up to @wait_s seconds (while the
 * target lives) for it to appear. Prints why on failure (unless quiet).
 */
static bool page_open(struct page *pg, struct target *t, double wait_s, bool quiet)
{
	double deadline = now_mono() + wait_s;
	bool extended = false;
	pg->fd = -1;
	pg->map = NULL;
	for (;;) {
		enum page_result r = page_try_open(pg, t->pid);
		if (r == PAGE_OK)
			return true;
		if (r == PAGE_BAD)
			return false;
		if (r == PAGE_ERROR) {
			errmsg(BUDDYSLAB_SHM_PATH_FMT ": %s", (int)t->pid, strerror(errno));
			return false;
		}
		if (r == PAGE_NOT_READY && !extended) {
			extended = true; /* being created: give it time */
			if (deadline < now_mono() + 2)
				deadline = now_mono() + 2;
		}
		if (stop_requested || now_mono() >= deadline || !target_alive(t)) {
			if (!quiet) {
				if (r == PAGE_NOT_READY)
					errmsg(BUDDYSLAB_SHM_PATH_FMT " exists but was never "
					       "written",
					       (int)t->pid);
				else if (t->exited)
					errmsg("process %d exited before it published "
					       "statistics (it must run with shm=1)",
					       (int)t->pid);
				else
					explain_missing_page(t->pid);
			}
			return false;
		}
		sleep_ms(10);
	}
}

/*
 * page_snapshot - a consistent copy of the page: the reader side of the
 * seqlock in buddyslab_shm.h. False if the writer stayed in the middle of
 * an update for about a second (it died while writing).
 */
static bool page_snapshot(const struct buddyslab_shm *s, struct buddyslab_shm *out)
{
	for (int tries = 0; tries < 10000; tries++) {
		uint64_t s1 = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
		if (s1 & 1) {
			if (tries > 100)
				sleep_ms(1);
			continue;
		}
		memcpy(out, (const void *)s, sizeof(*out));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		uint64_t s2 = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
		if (s1 != s2)
			continue;
		/* a consistent copy; still, never trust counts for indexing */
		if (out->nr_caches > BUDDYSLAB_SHM_CACHES)
			out->nr_caches = BUDDYSLAB_SHM_CACHES;
		if (out->nr_heaps > BUDDYSLAB_SHM_HEAPS)
			out->nr_heaps = BUDDYSLAB_SHM_HEAPS;
		for (uint32_t i = 0; i < out->nr_caches; i++)
			out->caches[i].name[sizeof(out->caches[i].name) - 1] = '\0';
		if (!out->page_size)
			out->page_size = 4096;
		return true;
	}
	return false;
}

/* ---- top ------------------------------------------------------------------------- */

enum sort_key { SORT_MEM, SORT_OBJS, SORT_ACTIVE, SORT_USE, SORT_SIZE, SORT_NAME };
static const char *const sort_names[] = { "mem", "objs", "active", "use", "size", "name" };

static const struct buddyslab_shm *sort_page; /* for cache_cmp */
static enum sort_key sort_by;

static uint64_t cache_bytes(const struct buddyslab_shm *s, const struct buddyslab_shm_cache *c)
{
	return c->num_slabs * c->pagesperslab * (uint64_t)s->page_size;
}

static int cmp_u64_desc(uint64_t a, uint64_t b)
{
	return a < b ? 1 : a > b ? -1 : 0;
}

static int cache_cmp(const void *pa, const void *pb)
{
	const struct buddyslab_shm_cache *a = &sort_page->caches[*(const int *)pa];
	const struct buddyslab_shm_cache *b = &sort_page->caches[*(const int *)pb];
	int r = 0;
	switch (sort_by) {
	case SORT_MEM:
		r = cmp_u64_desc(cache_bytes(sort_page, a), cache_bytes(sort_page, b));
		break;
	case SORT_OBJS:
		r = cmp_u64_desc(a->num_objs, b->num_objs);
		break;
	case SORT_ACTIVE:
		r = cmp_u64_desc(a->active_objs, b->active_objs);
		break;
	case SORT_USE: {
		/* active/num, compared without division */
		uint64_t l = a->active_objs * (b->num_objs ? b->num_objs : 1);
		uint64_t rr = b->active_objs * (a->num_objs ? a->num_objs : 1);
		if (!a->num_objs != !b->num_objs)
			r = a->num_objs ? -1 : 1;
		else
			r = cmp_u64_desc(l, rr);
		break;
	}
	case SORT_SIZE:
		r = cmp_u64_desc(a->objsize, b->objsize);
		break;
	case SORT_NAME:
		break;
	}
	if (r == 0 && sort_by != SORT_NAME)
		r = cmp_u64_desc(cache_bytes(sort_page, a), cache_bytes(sort_page, b));
	return r ? r : strverscmp(a->name, b->name);
}

/* "12.3M"-style size. */
static const char *human(uint64_t bytes, char *buf, size_t len)
{
	const char *units = "KMGTP";
	double v = (double)bytes;
	if (bytes < 1024) {
		snprintf(buf, len, "%" PRIu64 "B", bytes);
		return buf;
	}
	int u = -1;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, v < 10 ? "%.2f%c" : v < 100 ? "%.1f%c" : "%.0f%c", v, units[u]);
	return buf;
}

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/*
 * render_frame - one screen of `top` into @sb. @max_lines limits the whole
 * frame (0: no limit); the cache table gets the rows the header leaves.
 */
static void render_frame(struct sbuf *sb, const struct buddyslab_shm *s, const char *comm,
			 size_t max_lines, bool interactive, const char *note)
{
	char b1[32], b2[32], b3[32];
	uint64_t ps = s->page_size;
	size_t start = sb->len;

	/* slabtop's summary */
	uint64_t active_objs = 0, num_objs = 0, active_slabs = 0, num_slabs = 0;
	uint64_t active_size = 0, total_size = 0, min_obj = UINT64_MAX, max_obj = 0;
	uint32_t active_caches = 0;
	for (uint32_t i = 0; i < s->nr_caches; i++) {
		const struct buddyslab_shm_cache *c = &s->caches[i];
		active_objs += c->active_objs;
		num_objs += c->num_objs;
		active_slabs += c->active_slabs;
		num_slabs += c->num_slabs;
		active_size += c->active_objs * c->objsize;
		total_size += c->num_objs * c->objsize;
		if (c->num_objs)
			active_caches++;
		if (c->objsize < min_obj)
			min_obj = c->objsize;
		if (c->objsize > max_obj)
			max_obj = c->objsize;
	}
	if (!s->nr_caches)
		min_obj = 0;
	uint64_t now = now_realtime_ms();
	double age = now > s->time_ms ? (double)(now - s->time_ms) / 1000.0 : 0.0;

	sb_printf(sb, "buddyslab top - pid %d (%s) - update %" PRIu64 ", %.1f s ago - sort: %s%s\n",
		  (int)s->pid, comm[0] ? comm : "?", s->updates, age, sort_names[sort_by],
		  interactive ? "   [q quit; sort: c o a u s n]" : "");
	if (note)
		sb_printf(sb, "%s\n", note);
	sb_printf(sb, " Active / Total Objects (%% used)    : %" PRIu64 " / %" PRIu64 " (%.1f%%)\n",
		  active_objs, num_objs, pct(active_objs, num_objs));
	sb_printf(sb, " Active / Total Slabs (%% used)      : %" PRIu64 " / %" PRIu64 " (%.1f%%)\n",
		  active_slabs, num_slabs, pct(active_slabs, num_slabs));
	sb_printf(sb, " Active / Total Caches (%% used)     : %u / %u (%.1f%%)", active_caches,
		  s->nr_caches, pct(active_caches, s->nr_caches));
	if (s->all_caches > s->nr_caches) /* the page holds the first ones */
		sb_printf(sb, " of the first %u; %u caches in all", s->nr_caches, s->all_caches);
	sb_printf(sb, "\n");
	sb_printf(sb, " Active / Total Size (%% used)       : %.2fK / %.2fK (%.1f%%)\n",
		  (double)active_size / 1024.0, (double)total_size / 1024.0,
		  pct(active_size, total_size));
	sb_printf(sb, " Minimum / Average / Maximum Object : %.2fK / %.2fK / %.2fK\n",
		  (double)min_obj / 1024.0,
		  num_objs ? (double)total_size / (double)num_objs / 1024.0 : 0.0,
		  (double)max_obj / 1024.0);

	/* zoneinfo */
	sb_printf(sb, "Node 0, zone Normal: free %" PRIu64 " pages (%s, dirty %" PRIu64
		      "), watermarks min %" PRIu64 " low %" PRIu64 " high %" PRIu64 "\n",
		  s->free_pages, human(s->free_pages * ps, b1, sizeof(b1)), s->dirty_free_pages,
		  s->wmark_min, s->wmark_low, s->wmark_high);
	sb_printf(sb, "  chunks %" PRIu64 ": slab %" PRIu64 ", large %" PRIu64 ", pcp %" PRIu64
		      ", hot %" PRIu64 ", purging %" PRIu64 ", internal %" PRIu64
		      " pages; purged %" PRIu64 " pages so far\n",
		  s->chunks, s->slab_pages, s->large_pages, s->pcp_pages, s->hot_pages,
		  s->purging_pages, s->internal_pages, s->purged_pages);
	sb_printf(sb, "  mapped %s, RSS %s, vmalloc areas %" PRIu64 " (%s)",
		  human(s->mapped_bytes, b1, sizeof(b1)), human(s->rss_bytes, b2, sizeof(b2)),
		  s->vm_areas, human(s->vm_bytes, b3, sizeof(b3)));
	sb_printf(sb, ", cached %" PRIu64 " (%s)%s\n", s->vm_cached,
		  human(s->vm_cached_bytes, b1, sizeof(b1)), s->vm_hot ? ", hot mapping" : "");

	/* buddyinfo, with the order above each column */
	sb_printf(sb, "%-22s", "order");
	for (int k = 0; k < BUDDYSLAB_SHM_ORDERS; k++)
		sb_printf(sb, " %6d", k);
	sb_printf(sb, "\nNode 0, zone   Normal ");
	for (int k = 0; k < BUDDYSLAB_SHM_ORDERS; k++)
		sb_printf(sb, " %6" PRIu64, s->nr_free[k]);
	sb_printf(sb, "\n");

	/* per-thread page caches */
	static const char *const states[] = { "active", "abandoned", "dead" };
	unsigned nstate[3] = { 0, 0, 0 };
	uint64_t pcp_total = 0;
	for (uint32_t i = 0; i < s->nr_heaps; i++) {
		const struct buddyslab_shm_heap *h = &s->heaps[i];
		if (h->state >= 0 && h->state <= 2)
			nstate[h->state]++;
		pcp_total += h->pcp_count > 0 ? (uint64_t)h->pcp_count : 0;
	}
	if (s->all_heaps > s->nr_heaps) /* the page holds the first ones */
		sb_printf(sb, "per-thread page caches: %u (%u active); the first %u: %u active, "
			      "%u abandoned, %u dead, %" PRIu64 " pages\n",
			  s->all_heaps, s->all_heaps_active, s->nr_heaps, nstate[0], nstate[1],
			  nstate[2], pcp_total);
	else
		sb_printf(sb, "per-thread page caches: %u (%u active, %u abandoned, %u dead), %" PRIu64
			      " pages\n",
			  s->nr_heaps, nstate[0], nstate[1], nstate[2], pcp_total);
	/* interactive: at most 6 heaps, leaving the screen to the caches */
	uint32_t show_heaps = s->nr_heaps;
	if (max_lines && show_heaps > 6)
		show_heaps = 5;
	for (uint32_t i = 0; i < show_heaps; i++) {
		const struct buddyslab_shm_heap *h = &s->heaps[i];
		sb_printf(sb, "  tid %-7d %-9s count %5d / high %5d  remote_frees %" PRIu64
			      "  collected %" PRIu64 "\n",
			  h->tid, h->state >= 0 && h->state <= 2 ? states[h->state] : "?",
			  h->pcp_count, h->pcp_high, h->remote_frees, h->collected);
	}
	if (show_heaps < s->nr_heaps)
		sb_printf(sb, "  ... %u more\n", s->nr_heaps - show_heaps);

	/* the caches */
	sb_printf(sb, "\n%6s %6s %4s %8s %6s %8s %10s %s\n", "OBJS", "ACTIVE", "USE", "OBJ SIZE",
		  "SLABS", "OBJ/SLAB", "CACHE SIZE", "NAME");
	int order[BUDDYSLAB_SHM_CACHES];
	for (uint32_t i = 0; i < s->nr_caches; i++)
		order[i] = (int)i;
	sort_page = s;
	qsort(order, s->nr_caches, sizeof(order[0]), cache_cmp);

	size_t lines = 0;
	for (size_t i = start; i < sb->len; i++)
		lines += sb->p[i] == '\n';
	uint32_t rows = s->nr_caches;
	if (max_lines)
		rows = max_lines > lines ? (uint32_t)(max_lines - lines) : 0;
	if (rows > s->nr_caches)
		rows = s->nr_caches;
	for (uint32_t r = 0; r < rows; r++) {
		const struct buddyslab_shm_cache *c = &s->caches[order[r]];
		sb_printf(sb, "%6" PRIu64 " %6" PRIu64 " %3.0f%% %7.2fK %6" PRIu64 " %8u %9" PRIu64
			      "K %s\n",
			  c->num_objs, c->active_objs, pct(c->active_objs, c->num_objs),
			  (double)c->objsize / 1024.0, c->num_slabs, c->objperslab,
			  cache_bytes(s, c) / 1024, c->name);
	}
}

/* Terminal handling of the interactive view. */
static struct termios saved_tty;
static bool tty_raw, cursor_hidden;

static void tty_restore(void)
{
	if (tty_raw) {
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
		tty_raw = false;
	}
	if (cursor_hidden) {
		fputs("\033[?25h", stdout); /* show the cursor again */
		cursor_hidden = false;
	}
	fflush(stdout);
}

static void tty_setup(void)
{
	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tty) != 0)
		return;
	struct termios t = saved_tty;
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO); /* keep ISIG: ^C still works */
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0) {
		tty_raw = true;
		atexit(tty_restore);
	}
}

static size_t terminal_rows(size_t *cols)
{
	struct winsize ws;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0) {
		*cols = ws.ws_col;
		return ws.ws_row;
	}
	*cols = 80;
	return 24;
}

/* Write a frame to the terminal: home, each line cut to the width and
 * cleared to its end, then the rest of the screen cleared. */
static void show_frame_tty(const struct sbuf *sb, size_t cols)
{
	fputs("\033[H\033[?25l", stdout);
	cursor_hidden = true;
	const char *p = sb->p, *end = sb->p + sb->len;
	bool first = true;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (!first)
			fputs("\n", stdout);
		first = false;
		fwrite(p, 1, n < cols ? n : cols, stdout);
		fputs("\033[K", stdout);
		p += n + (nl ? 1 : 0);
	}
	fputs("\033[J", stdout);
	fflush(stdout);
}

struct top_args {
	enum sort_key sort;
	bool once;
	double interval;
	double wait_s; /* for the page to appear (run --top) */
};

/*
 * top_loop - the live view of @t until q, a signal, or the process exits.
 * Returns 0, or 1 when the page could not be read at all.
 */
static int top_loop(struct target *t, const struct top_args *a)
{
	struct page pg;
	if (!page_open(&pg, t, a->wait_s, false))
		return 1;
	struct buddyslab_shm *snap = xmalloc(sizeof(*snap));
	char comm[64];
	process_name(t->pid, comm, sizeof(comm));
	sort_by = a->sort;

	bool tty_out = isatty(STDOUT_FILENO) && !a->once;
	bool keys = false;
	if (tty_out) {
		tty_setup();
		keys = tty_raw;
		fputs("\033[H\033[2J", stdout);
	}
	int rc = 0;
	const char *note = NULL;
	for (;;) {
		bool alive = target_alive(t) && !page_unlinked(&pg);
		if (!alive)
			note = "(the process has exited: last statistics shown)";
		if (!page_snapshot(pg.map, snap)) {
			errmsg("the statistics page of %d stays in the middle of an update",
			       (int)t->pid);
			rc = 1;
			break;
		}
		struct sbuf sb = { 0 };
		size_t cols = 0, rows = tty_out ? terminal_rows(&cols) : 0;
		render_frame(&sb, snap, comm, rows > 1 ? rows - 1 : 0, keys, note);
		if (tty_out)
			show_frame_tty(&sb, cols);
		else {
			fwrite(sb.p, 1, sb.len, stdout);
			if (!a->once)
				fputs("\n", stdout);
			fflush(stdout);
		}
		sb_free(&sb);
		if (a->once || !alive || stop_requested)
			break;

		/* wait for the next refresh, reading keys meanwhile */
		double until = now_mono() + a->interval;
		bool quit = false, redraw = false;
		while (!quit && !redraw && !stop_requested) {
			double left = until - now_mono();
			if (left <= 0)
				break;
			struct pollfd pfd = { STDIN_FILENO, POLLIN, 0 };
			int n = poll(&pfd, keys ? 1 : 0, (int)(left * 1000) + 1);
			if (n > 0 && (pfd.revents & (POLLHUP | POLLERR | POLLNVAL)))
				keys = false; /* no more keys: just wait */
			if (n <= 0 || !(pfd.revents & POLLIN))
				continue;
			char ch;
			if (read(STDIN_FILENO, &ch, 1) != 1)
				continue;
			redraw = true;
			switch (ch) {
			case 'q': case 'Q': quit = true; break;
			case 'c': case 'm': sort_by = SORT_MEM; break;
			case 'o': sort_by = SORT_OBJS; break;
			case 'a': sort_by = SORT_ACTIVE; break;
			case 'u': sort_by = SORT_USE; break;
			case 's': sort_by = SORT_SIZE; break;
			case 'n': sort_by = SORT_NAME; break;
			case ' ': break;
			default: redraw = false; break;
			}
		}
		if (quit || stop_requested)
			break;
	}
	if (tty_out) {
		tty_restore();
		fputs("\n", stdout);
		fflush(stdout);
	}
	free(snap);
	page_close(&pg);
	return rc;
}

static bool parse_sort(const char *v, enum sort_key *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(sort_names); i++)
		if (strcmp(v, sort_names[i]) == 0) {
			*out = (enum sort_key)i;
			return true;
		}
	if (strcmp(v, "objects") == 0) {
		*out = SORT_OBJS;
		return true;
	}
	return false;
}

static pid_t parse_pid(const char *s)
{
	long v;
	if (!parse_long(s, 1, INT_MAX, &v))
		usage_error("'%s' is not a process id", s);
	return (pid_t)v;
}

static int cmd_top(int argc, char **argv)
{
	struct top_args a = { SORT_MEM, false, 1.0, 0.0 };
	pid_t pid = 0;
	for (int i = 1; i < argc; i++) {
		const char *v;
		if (strcmp(argv[i], "--once") == 0 || strcmp(argv[i], "-1") == 0)
			a.once = true;
		else if (match_opt(argc, argv, &i, "--sort", &v) ||
			 match_opt(argc, argv, &i, "-s", &v)) {
			if (!parse_sort(v, &a.sort))
				usage_error("--sort: '%s' is not mem, objs, active, use, size or name",
					    v);
		} else if (match_opt(argc, argv, &i, "--interval", &v) ||
			   match_opt(argc, argv, &i, "-d", &v)) {
			if (!parse_double(v, 0.05, 3600, &a.interval))
				usage_error("--interval: '%s' is not 0.05 .. 3600 seconds", v);
		} else if (is_help(argv[i])) {
			print_help(stdout);
			return 0;
		} else if (argv[i][0] == '-')
			usage_error("top: unknown option '%s'", argv[i]);
		else if (!pid)
			pid = parse_pid(argv[i]);
		else
			usage_error("top: one PID only");
	}
	if (!pid)
		usage_error("top: which PID?");
	catch_stop_signals();
	struct target t = { pid, false, false, 0 };
	return top_loop(&t, &a);
}

/* ---- record ---------------------------------------------------------------------- */

struct recorder {
	FILE *f;
	const char *path;
	uint64_t t0_ms;
	uint64_t last_updates;
	bool have_sample;
	size_t samples;
	char (*seen)[32]; /* caches written before: keep writing them */
	size_t nseen, capseen;
	int write_errno;  /* of the first sample that could not be written */
};

/* Write NAME as a CSV field (quoted when it needs to be). */
/* csv_name - a cache's name as one CSV field: quoted if it holds a comma,
 * a quote or starts with a space; a control character (a newline: the
 * reader takes one line per value) written as '?'. kmem_cache_create
 * takes any name, and a cache named "new\nline" lost its rows in plot. */
static void csv_name(FILE *f, const char *name)
{
	bool quote = strpbrk(name, ",\"") || name[0] == ' ';
	if (quote)
		fputc('"', f);
	for (const char *p = name; *p; p++) {
		if (*p == '"')
			fputc('"', f);
		fputc((unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p, f);
	}
	if (quote)
		fputc('"', f);
}

static bool recorder_seen(struct recorder *r, const char *name, bool add)
{
	for (size_t i = 0; i < r->nseen; i++)
		if (strcmp(r->seen[i], name) == 0)
			return true;
	if (!add)
		return false;
	if (r->nseen == r->capseen) {
		r->capseen = r->capseen ? r->capseen * 2 : 64;
		r->seen = xrealloc(r->seen, r->capseen * sizeof(r->seen[0]));
	}
	snprintf(r->seen[r->nseen++], sizeof(r->seen[0]), "%s", name);
	return true;
}

static void recorder_start(struct recorder *r, const struct buddyslab_shm *s, const char *comm)
{
	r->t0_ms = s->time_ms;
	fprintf(r->f, "# buddyslab record: pid %d (%s), page_size %u, start %" PRIu64
		      ".%03u (unix time), orders %d\n",
		s->pid, comm[0] ? comm : "?", s->page_size, s->time_ms / 1000,
		(unsigned)(s->time_ms % 1000), BUDDYSLAB_SHM_ORDERS);
	fputs("time_s,metric,name,value\n", r->f);
}

static void recorder_sample(struct recorder *r, const struct buddyslab_shm *s)
{
	if (r->have_sample && s->updates == r->last_updates)
		return; /* not rewritten since the last sample */
	r->have_sample = true;
	r->last_updates = s->updates;
	r->samples++;
	FILE *f = r->f;
	double t = s->time_ms >= r->t0_ms ? (double)(s->time_ms - r->t0_ms) / 1000.0 : 0.0;
	char ts[32];
	snprintf(ts, sizeof(ts), "%.3f", t);

	for (int k = 0; k < BUDDYSLAB_SHM_ORDERS; k++)
		fprintf(f, "%s,nr_free,%d,%" PRIu64 "\n", ts, k, s->nr_free[k]);
	const struct {
		const char *name;
		uint64_t v;
	} zone[] = {
		{ "free_pages", s->free_pages },
		{ "dirty_free_pages", s->dirty_free_pages },
		{ "wmark_min", s->wmark_min },
		{ "wmark_low", s->wmark_low },
		{ "wmark_high", s->wmark_high },
		{ "chunks", s->chunks },
		{ "slab_pages", s->slab_pages },
		{ "large_pages", s->large_pages },
		{ "pcp_pages", s->pcp_pages },
		{ "internal_pages", s->internal_pages },
		{ "purged_pages", s->purged_pages },
		{ "hot_pages", s->hot_pages },
		{ "purging_pages", s->purging_pages },
		{ "vm_areas", s->vm_areas },
		{ "vm_bytes", s->vm_bytes },
		{ "vm_cached", s->vm_cached },
		{ "vm_cached_bytes", s->vm_cached_bytes },
		{ "vm_hot", s->vm_hot },
		{ "mapped_bytes", s->mapped_bytes },
		{ "rss_bytes", s->rss_bytes },
	};
	for (size_t i = 0; i < ARRAY_SIZE(zone); i++)
		fprintf(f, "%s,%s,,%" PRIu64 "\n", ts, zone[i].name, zone[i].v);
	fprintf(f, "%s,threads,,%u\n", ts, s->all_heaps_active);

	for (uint32_t i = 0; i < s->nr_caches; i++) {
		const struct buddyslab_shm_cache *c = &s->caches[i];
		/* caches never used are left out; once used, always written */
		if (!recorder_seen(r, c->name, c->num_objs || c->num_slabs))
			continue;
		const struct {
			const char *name;
			uint64_t v;
		} m[] = {
			{ "active_objs", c->active_objs },
			{ "num_objs", c->num_objs },
			{ "active_slabs", c->active_slabs },
			{ "num_slabs", c->num_slabs },
			{ "cache_bytes", cache_bytes(s, c) },
			{ "objsize", c->objsize },
		};
		for (size_t j = 0; j < ARRAY_SIZE(m); j++) {
			fprintf(f, "%s,%s,", ts, m[j].name);
			csv_name(f, c->name);
			fprintf(f, ",%" PRIu64 "\n", m[j].v);
		}
	}
	if (fflush(f) != 0 && !r->write_errno)
		r->write_errno = errno;
}

/*
 * record_loop - sample @t's page every @interval_ms into @r until the
 * process exits, @duration_s passes (0: no limit) or a stop signal.
 * Returns 0 or 1 (nothing could be recorded).
 */
static int record_loop(struct target *t, struct recorder *r, long interval_ms, double duration_s,
		       double wait_s)
{
	struct page pg;
	if (!page_open(&pg, t, wait_s, false))
		return 1;
	struct buddyslab_shm *snap = xmalloc(sizeof(*snap));
	char comm[64];
	process_name(t->pid, comm, sizeof(comm));
	double start = now_mono();
	bool started = false;
	int rc = 0;
	for (;;) {
		bool alive = target_alive(t) && !page_unlinked(&pg);
		if (page_snapshot(pg.map, snap)) {
			if (!started) {
				recorder_start(r, snap, comm);
				started = true;
			}
			recorder_sample(r, snap);
		}
		if (!alive || stop_requested)
			break;
		if (duration_s > 0 && now_mono() - start >= duration_s)
			break;
		sleep_ms(interval_ms);
	}
	if (!started) {
		errmsg("no sample could be read from the statistics page of %d", (int)t->pid);
		rc = 1;
	}
	free(snap);
	free(r->seen);
	r->seen = NULL;
	page_close(&pg);
	return rc;
}

static int cmd_record(int argc, char **argv)
{
	long interval = 500;
	double duration = 0;
	pid_t pid = 0;
	const char *out = NULL;
	for (int i = 1; i < argc; i++) {
		const char *v;
		if (match_opt(argc, argv, &i, "--interval", &v)) {
			if (!parse_long(v, 1, 3600000, &interval))
				usage_error("--interval: '%s' is not 1 .. 3600000 ms", v);
		} else if (match_opt(argc, argv, &i, "--duration", &v)) {
			if (!parse_double(v, 0, 1e9, &duration))
				usage_error("--duration: '%s' is not a number of seconds", v);
		} else if (is_help(argv[i])) {
			print_help(stdout);
			return 0;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0')
			usage_error("record: unknown option '%s'", argv[i]);
		else if (!pid)
			pid = parse_pid(argv[i]);
		else if (!out)
			out = argv[i];
		else
			usage_error("record: too many arguments");
	}
	if (!pid || !out)
		usage_error("record: usage: buddyslab record PID OUTFILE [--interval MS] "
			    "[--duration S]");
	catch_stop_signals();
	struct target t = { pid, false, false, 0 };
	/* open the page first: do not leave an empty file behind */
	struct page probe;
	if (!page_open(&probe, &t, 0, false))
		return 1;
	page_close(&probe);
	struct recorder r = { 0 };
	r.path = out;
	r.f = strcmp(out, "-") == 0 ? stdout : fopen(out, "w");
	if (!r.f) {
		errmsg("%s: %s", out, strerror(errno));
		return 1;
	}
	int rc = record_loop(&t, &r, interval, duration, 0);
	/* a write that failed (a full disk, a closed pipe) set the stream's
	 * error flag; fflush and fclose say so too, with errno */
	int err = fflush(r.f) != 0 ? errno : r.write_errno;
	bool failed = err || ferror(r.f);
	if (r.f != stdout && fclose(r.f) != 0) {
		failed = true;
		if (!err)
			err = errno;
	}
	if (failed) {
		errmsg("%s: write error%s%s", strcmp(out, "-") == 0 ? "standard output" : out,
		       err ? ": " : "", err ? strerror(err) : "");
		rc = 1;
	}
	if (rc == 0 && r.f != stdout)
		fprintf(stderr, "buddyslab: %zu samples of pid %d in %s\n", r.samples, (int)pid,
			out);
	return rc;
}

/* ---- plot: reading a recording ----------------------------------------------------- */

struct series {
	char *metric, *name;
	double *v; /* per sample, NaN where absent */
	size_t n;  /* values allocated (<= samples) */
};

struct recording {
	double *t;
	size_t samples, cap;
	struct series *s;
	size_t nseries, capseries;
	size_t *hash; /* open addressing: index + 1, 0 empty */
	size_t hcap;
	unsigned page_size;
	char title[160];
};

static size_t hash_key(const char *metric, const char *name)
{
	size_t h = 1469598103934665603ULL;
	for (const char *p = metric; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	h = (h ^ 0x1f) * 1099511628211ULL;
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return h;
}

static void rec_rehash(struct recording *rec)
{
	free(rec->hash);
	rec->hcap = rec->hcap ? rec->hcap * 2 : 256;
	rec->hash = xmalloc(rec->hcap * sizeof(size_t));
	memset(rec->hash, 0, rec->hcap * sizeof(size_t));
	for (size_t i = 0; i < rec->nseries; i++) {
		size_t h = hash_key(rec->s[i].metric, rec->s[i].name) & (rec->hcap - 1);
		while (rec->hash[h])
			h = (h + 1) & (rec->hcap - 1);
		rec->hash[h] = i + 1;
	}
}

static struct series *rec_find(struct recording *rec, const char *metric, const char *name,
			       bool create)
{
	if (!rec->hcap)
		rec_rehash(rec);
	size_t h = hash_key(metric, name) & (rec->hcap - 1);
	while (rec->hash[h]) {
		struct series *s = &rec->s[rec->hash[h] - 1];
		if (strcmp(s->metric, metric) == 0 && strcmp(s->name, name) == 0)
			return s;
		h = (h + 1) & (rec->hcap - 1);
	}
	if (!create)
		return NULL;
	if (rec->nseries == rec->capseries) {
		rec->capseries = rec->capseries ? rec->capseries * 2 : 64;
		rec->s = xrealloc(rec->s, rec->capseries * sizeof(*rec->s));
	}
	struct series *s = &rec->s[rec->nseries++];
	s->metric = xstrdup(metric);
	s->name = xstrdup(name);
	s->v = NULL;
	s->n = 0;
	rec->hash[h] = rec->nseries;
	if (rec->nseries * 2 > rec->hcap)
		rec_rehash(rec);
	return s;
}

/* The value of series @s at sample @i (NaN when absent). */
static double sv(const struct series *s, size_t i)
{
	return s && i < s->n ? s->v[i] : NAN;
}

/* Same, with absent values as 0. */
static double sv0(const struct series *s, size_t i)
{
	double v = sv(s, i);
	return isnan(v) ? 0.0 : v;
}

static void series_set(struct series *s, size_t i, double v)
{
	if (i >= s->n) {
		size_t n = s->n ? s->n : 16;
		while (n <= i)
			n *= 2;
		s->v = xrealloc(s->v, n * sizeof(double));
		for (size_t j = s->n; j < n; j++)
			s->v[j] = NAN;
		s->n = n;
	}
	s->v[i] = v;
}

/* Split a CSV line into at most @max fields (quotes honoured), in place. */
static size_t csv_split(char *line, char **fields, size_t max)
{
	size_t n = 0;
	char *p = line;
	while (n < max) {
		char *out = p;
		fields[n++] = p;
		if (*p == '"') {
			char *r = p + 1;
			for (;;) {
				if (*r == '\0')
					break;
				if (*r == '"') {
					if (r[1] == '"') {
						*out++ = '"';
						r += 2;
						continue;
					}
					r++;
					break;
				}
				*out++ = *r++;
			}
			char *next = strchr(r, ',');
			*out = '\0';
			if (!next)
				break;
			p = next + 1;
		} else {
			char *next = strchr(p, ',');
			if (!next)
				break;
			*next = '\0';
			p = next + 1;
		}
	}
	return n;
}

static bool read_recording(const char *path, struct recording *rec)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (!f) {
		errmsg("%s: %s", path, strerror(errno));
		return false;
	}
	memset(rec, 0, sizeof(*rec));
	rec->page_size = 4096;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	size_t lineno = 0, bad = 0;
	double last_t = NAN;
	while ((len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (line[0] == '#') {
			const char *p = strstr(line, "page_size ");
			if (p)
				rec->page_size = (unsigned)strtoul(p + 10, NULL, 10);
			p = strstr(line, "pid ");
			if (p && !rec->title[0]) {
				size_t n = strcspn(p, ",");
				snprintf(rec->title, sizeof(rec->title), "%.*s", (int)n, p);
			}
			continue;
		}
		if (len == 0 || strncmp(line, "time_s,", 7) == 0)
			continue;
		char *fld[4];
		if (csv_split(line, fld, 4) != 4) {
			bad++;
			continue;
		}
		char *end;
		double t = strtod(fld[0], &end);
		double v = strtod(fld[3], NULL);
		if (end == fld[0]) {
			bad++;
			continue;
		}
		if (rec->samples == 0 || t != last_t) {
			if (rec->samples == rec->cap) {
				rec->cap = rec->cap ? rec->cap * 2 : 256;
				rec->t = xrealloc(rec->t, rec->cap * sizeof(double));
			}
			rec->t[rec->samples++] = t;
			last_t = t;
		}
		series_set(rec_find(rec, fld[1], fld[2], true), rec->samples - 1, v);
	}
	free(line);
	if (f != stdin)
		fclose(f);
	if (!rec->page_size)
		rec->page_size = 4096;
	if (bad)
		errmsg("%s: %zu malformed lines ignored", path, bad);
	if (rec->samples == 0) {
		errmsg("%s: no samples (is it a 'buddyslab record' CSV?)", path);
		return false;
	}
	return true;
}

static void free_recording(struct recording *rec)
{
	for (size_t i = 0; i < rec->nseries; i++) {
		free(rec->s[i].metric);
		free(rec->s[i].name);
		free(rec->s[i].v);
	}
	free(rec->s);
	free(rec->t);
	free(rec->hash);
}

/* ---- plot: writing data, script, running gnuplot ---------------------------------- */

#define MIB (1024.0 * 1024.0)

/* A gnuplot single-quoted string (only ' needs doubling). */
static void gp_string(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', f);
		if (*s != '\n')
			fputc(*s, f);
	}
	fputc('\'', f);
}

static FILE *open_in(const char *dir, const char *name, char **path_out)
{
	struct sbuf p = { 0 };
	sb_printf(&p, "%s/%s", dir, name);
	FILE *f = fopen(p.p, "w");
	if (!f)
		errmsg("%s: %s", p.p, strerror(errno));
	if (path_out)
		*path_out = p.p;
	else
		sb_free(&p);
	return f;
}

static void put_num(FILE *f, double v)
{
	if (isnan(v))
		fputs(" NaN", f);
	else
		fprintf(f, " %.6g", v);
}

struct top_cache {
	const char *name;
	double peak;
};

static int top_cache_cmp(const void *a, const void *b)
{
	const struct top_cache *x = a, *y = b;
	if (x->peak != y->peak)
		return x->peak < y->peak ? 1 : -1;
	return strcmp(x->name, y->name);
}

/* Whether gnuplot can draw with @term (pngcairo; png otherwise). */
static bool gnuplot_has_terminal(const char *term)
{
	pid_t pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		char cmd[64];
		snprintf(cmd, sizeof(cmd), "set terminal %s", term);
		execlp("gnuplot", "gnuplot", "-e", cmd, (char *)NULL);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return false;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static int run_gnuplot(const char *dir, const char *script)
{
	pid_t pid = fork();
	if (pid < 0) {
		errmsg("fork: %s", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		if (chdir(dir) != 0)
			_exit(126);
		execlp("gnuplot", "gnuplot", script, (char *)NULL);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 1;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
		errmsg("gnuplot not found: install it (Debian: apt-get install gnuplot-nox)");
		return 1;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		errmsg("gnuplot failed (status %d) on %s/%s", exit_status_of(st), dir, script);
		return 1;
	}
	return 0;
}

static bool mkdir_p(const char *dir)
{
	char *p = xstrdup(dir);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0777) != 0 && errno != EEXIST) {
			errmsg("mkdir %s: %s", p, strerror(errno));
			free(p);
			return false;
		}
		*s = '/';
	}
	bool ok = mkdir(p, 0777) == 0 || errno == EEXIST;
	if (!ok)
		errmsg("mkdir %s: %s", p, strerror(errno));
	free(p);
	struct stat st;
	if (ok && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))) {
		errmsg("%s: not a directory", dir);
		ok = false;
	}
	return ok;
}

/*
 * plot_recording - data files, gnuplot script and PNGs in @outdir:
 *   free_area.png  free MiB per order, stacked; heatmap of nr_free per order
 *   slabs.png      cache size (MiB) and occupancy (active/num objs, %) of
 *                  the @ncaches caches with the largest peak size
 *   memory.png     RSS, mapped, free, slab, large, pcp pages, vmalloc (MiB)
 */
static int plot_recording(struct recording *rec, const char *outdir, int ncaches)
{
	const size_t n = rec->samples;
	const double ps = rec->page_size;
	if (!mkdir_p(outdir))
		return 1;

	/* free_area.dat: time, then cumulative free MiB of orders 0..k */
	FILE *f = open_in(outdir, "free_area.dat", NULL);
	if (!f)
		return 1;
	struct series *nr[BUDDYSLAB_SHM_ORDERS];
	int max_order_seen = 0;
	for (int k = 0; k < BUDDYSLAB_SHM_ORDERS; k++) {
		char name[8];
		snprintf(name, sizeof(name), "%d", k);
		nr[k] = rec_find(rec, "nr_free", name, false);
		for (size_t i = 0; nr[k] && i < n; i++)
			if (sv0(nr[k], i) > 0)
				max_order_seen = k;
	}
	fprintf(f, "# time_s, then free MiB in orders 0..k, cumulative, k = 0..%d\n",
		BUDDYSLAB_SHM_ORDERS - 1);
	for (size_t i = 0; i < n; i++) {
		double cum = 0;
		fprintf(f, "%.3f", rec->t[i]);
		for (int k = 0; k < BUDDYSLAB_SHM_ORDERS; k++) {
			cum += sv0(nr[k], i) * (double)(1UL << k) * ps / MIB;
			put_num(f, cum);
		}
		fputc('\n', f);
	}
	fclose(f);

	/* free_heat.dat: one box per (sample, order) with free blocks */
	f = open_in(outdir, "free_heat.dat", NULL);
	if (!f)
		return 1;
	fprintf(f, "# x y xlow xhigh ylow yhigh nr_free\n");
	bool any_free = false;
	for (size_t i = 0; i < n; i++) {
		double dt = n > 1 ? (i + 1 < n ? rec->t[i + 1] - rec->t[i] : rec->t[i] - rec->t[i - 1])
				  : 1.0;
		for (int k = 0; k < BUDDYSLAB_SHM_ORDERS; k++) {
			double v = sv0(nr[k], i);
			if (v <= 0)
				continue;
			any_free = true;
			fprintf(f, "%.3f %d %.3f %.3f %.1f %.1f %.0f\n", rec->t[i], k, rec->t[i],
				rec->t[i] + dt, k - 0.5, k + 0.5, v);
		}
	}
	if (!any_free) /* gnuplot refuses an empty file: one invisible point */
		fprintf(f, "%.3f 0 %.3f %.3f -0.5 0.5 NaN\n", rec->t[0], rec->t[0], rec->t[0]);
	fclose(f);

	/* the caches with the largest peak size */
	struct top_cache *tc = xmalloc((rec->nseries + 1) * sizeof(*tc));
	size_t ntc = 0;
	for (size_t j = 0; j < rec->nseries; j++) {
		struct series *s = &rec->s[j];
		if (strcmp(s->metric, "cache_bytes") != 0)
			continue;
		double peak = 0;
		for (size_t i = 0; i < n; i++)
			if (sv0(s, i) > peak)
				peak = sv0(s, i);
		tc[ntc].name = s->name;
		tc[ntc].peak = peak;
		ntc++;
	}
	qsort(tc, ntc, sizeof(*tc), top_cache_cmp);
	size_t nshow = ntc < (size_t)ncaches ? ntc : (size_t)ncaches;
	while (nshow > 0 && tc[nshow - 1].peak <= 0)
		nshow--;

	/* slabs.dat: time, then MiB of each shown cache and of the others, then
	 * occupancy % of each shown cache */
	f = open_in(outdir, "slabs.dat", NULL);
	if (!f) {
		free(tc);
		return 1;
	}
	fprintf(f, "# time_s, MiB of %zu caches, MiB of the other caches, use %% of the %zu "
		   "caches\n",
		nshow, nshow);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%.3f", rec->t[i]);
		double others = 0;
		for (size_t c = 0; c < ntc; c++) {
			double b = sv0(rec_find(rec, "cache_bytes", tc[c].name, false), i) / MIB;
			if (c < nshow)
				put_num(f, b);
			else
				others += b;
		}
		put_num(f, others);
		for (size_t c = 0; c < nshow; c++) {
			double a = sv(rec_find(rec, "active_objs", tc[c].name, false), i);
			double tot = sv(rec_find(rec, "num_objs", tc[c].name, false), i);
			put_num(f, tot > 0 ? 100.0 * a / tot : NAN);
		}
		fputc('\n', f);
	}
	fclose(f);

	/* memory.dat */
	static const char *const mem_metric[] = { "rss_bytes", "mapped_bytes", "free_pages",
						  "slab_pages", "large_pages", "pcp_pages",
						  "vm_bytes" };
	static const char *const mem_title[] = { "RSS", "mapped", "free (zone)", "slab",
						 "large (page blocks)", "per-thread caches",
						 "vmalloc" };
	f = open_in(outdir, "memory.dat", NULL);
	if (!f) {
		free(tc);
		return 1;
	}
	fprintf(f, "# time_s, MiB of:");
	for (size_t m = 0; m < ARRAY_SIZE(mem_metric); m++)
		fprintf(f, " %s", mem_metric[m]);
	fputc('\n', f);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%.3f", rec->t[i]);
		for (size_t m = 0; m < ARRAY_SIZE(mem_metric); m++) {
			struct series *s = rec_find(rec, mem_metric[m], "", false);
			double v = sv(s, i);
			bool pages = strstr(mem_metric[m], "_pages") != NULL;
			put_num(f, isnan(v) ? NAN : v * (pages ? ps : 1.0) / MIB);
		}
		fputc('\n', f);
	}
	fclose(f);

	/* the script */
	char *script_path = NULL;
	f = open_in(outdir, "plot.gp", &script_path);
	if (!f) {
		free(tc);
		return 1;
	}
	const char *term = gnuplot_has_terminal("pngcairo") ? "pngcairo" : "png";
	const char *style = n > 2 ? "lines lw 2" : "linespoints lw 2 pt 7";
	char title[200];
	snprintf(title, sizeof(title), "buddyslab: %s", rec->title[0] ? rec->title : "recording");
	fprintf(f, "# gnuplot script written by 'buddyslab plot'; run it in this directory:\n"
		   "#   gnuplot plot.gp\n"
		   "set terminal %s size 1100,850 noenhanced\n"
		   "set datafile missing 'NaN'\n"
		   "set grid\n"
		   "set key outside right top\n"
		   "set xlabel 'time (s)'\n"
		   "set xrange [%.3f:%.3f]\n"
		   "# the same plot area in every panel, the keys to its right\n"
		   "set lmargin at screen 0.08\n"
		   "set rmargin at screen 0.78\n"
		   "# one colour per buddy order, 0 (red) .. 10 (violet)\n"
		   "ocol = '#9e0142 #d53e4f #f46d43 #fdae61 #fee08b #e6f598 #abdda4 #66c2a5 "
		   "#3288bd #5e4fa2 #2d004b'\n"
		   "\n",
		term, rec->t[0], rec->t[n - 1] > rec->t[0] ? rec->t[n - 1] : rec->t[0] + 1);

	fprintf(f, "set output 'free_area.png'\n"
		   "set multiplot layout 2,1 title ");
	gp_string(f, title);
	fprintf(f, "\nset title 'Free memory in the buddy allocator by order (MiB, stacked)'\n"
		   "set ylabel 'MiB'\n"
		   "set yrange [0:*]\n"
		   "set style fill solid 0.85 noborder\n"
		   "plot for [k=%d:0:-1] 'free_area.dat' using 1:(column(k+2)) with filledcurves x1 "
		   "lc rgb word(ocol, k+1) title sprintf('order %%d (%%d KiB)', k, %u*(2**k)/1024)\n",
		max_order_seen, rec->page_size);
	fprintf(f, "set title 'Free blocks per order (buddyinfo; colour: number of blocks, log)'\n"
		   "set ylabel 'order'\n"
		   "set yrange [-0.5:%d.5]\n"
		   "set ytics 1\n"
		   "%s"
		   "set cblabel 'free blocks'\n"
		   "set palette defined (0 '#fff7bc', 1 '#fec44f', 2 '#d95f0e', 3 '#7f2704')\n"
		   "plot 'free_heat.dat' using 1:2:3:4:5:6:7 with boxxyerror fs solid 1.0 noborder "
		   "fc palette notitle\n"
		   "unset multiplot\n"
		   "unset logscale cb\n"
		   "set cbrange [*:*]\n"
		   "unset cblabel\n"
		   "set ytics autofreq\n"
		   "set yrange [*:*]\n"
		   "\n",
		BUDDYSLAB_SHM_ORDERS - 1,
		/* a log axis needs a value above 0: none without free blocks */
		any_free ? "set logscale cb\n" : "set cbrange [0:1]\n");

	fprintf(f, "set output 'slabs.png'\n"
		   "set multiplot layout 2,1 title ");
	gp_string(f, title);
	fprintf(f, "\nset title 'Slab cache size (MiB): the %zu largest caches' \n"
		   "set ylabel 'MiB'\n"
		   "set yrange [0:*]\n",
		nshow);
	if (nshow == 0) {
		fprintf(f, "plot 'slabs.dat' using 1:2 with %s title 'all caches'\n", style);
	} else {
		fprintf(f, "plot ");
		for (size_t c = 0; c < nshow; c++) {
			fprintf(f, "'slabs.dat' using 1:%zu with %s title ", c + 2, style);
			gp_string(f, tc[c].name);
			fprintf(f, ", \\\n     ");
		}
		fprintf(f, "'slabs.dat' using 1:%zu with %s dt 2 lc 'gray40' title 'other caches'\n",
			nshow + 2, style);
		fprintf(f, "set title 'Slab occupancy: active objects / total objects (%%)'\n"
			   "set ylabel 'use %%'\n"
			   "set yrange [0:105]\n"
			   "plot ");
		for (size_t c = 0; c < nshow; c++) {
			fprintf(f, "%s'slabs.dat' using 1:%zu with %s title ", c ? ", \\\n     " : "",
				nshow + 3 + c, style);
			gp_string(f, tc[c].name);
		}
		fputc('\n', f);
	}
	fprintf(f, "unset multiplot\n"
		   "set yrange [*:*]\n"
		   "\n");

	fprintf(f, "set output 'memory.png'\n"
		   "set terminal %s size 1100,550 noenhanced\n"
		   "set title ",
		term);
	gp_string(f, title);
	fprintf(f, "\nset ylabel 'MiB'\n"
		   "set yrange [0:*]\n"
		   "plot ");
	bool any_mem = false;
	for (size_t m = 0; m < ARRAY_SIZE(mem_metric); m++) {
		if (!rec_find(rec, mem_metric[m], "", false))
			continue; /* not in this recording: gnuplot rejects all-NaN columns */
		fprintf(f, "%s'memory.dat' using 1:%zu with %s title ", any_mem ? ", \\\n     " : "",
			m + 2, style);
		gp_string(f, mem_title[m]);
		any_mem = true;
	}
	if (!any_mem)
		fprintf(f, "'memory.dat' using 1:(0) with lines title 'no memory figures recorded'");
	fprintf(f, "\nset output\n");
	bool write_ok = !ferror(f);
	if (fclose(f) != 0 || !write_ok) {
		errmsg("%s: write error", script_path);
		free(script_path);
		free(tc);
		return 1;
	}
	free(tc);
	free(script_path);

	int rc = run_gnuplot(outdir, "plot.gp");
	if (rc == 0) {
		static const char *const pngs[] = { "free_area.png", "slabs.png", "memory.png" };
		for (size_t i = 0; i < ARRAY_SIZE(pngs); i++) {
			struct sbuf p = { 0 };
			struct stat st;
			sb_printf(&p, "%s/%s", outdir, pngs[i]);
			if (stat(p.p, &st) != 0 || st.st_size == 0) {
				errmsg("%s was not written", p.p);
				rc = 1;
			} else
				fprintf(stderr, "buddyslab: wrote %s\n", p.p);
			sb_free(&p);
		}
		if (n < 2)
			errmsg("only one sample: the charts show a single point in time");
	}
	return rc;
}

/* ---- run and plot --run --------------------------------------------------------------- */

struct run_args {
	bool stats, top, verbose;
	struct sbuf options; /* from --options, comma-joined */
	char **cmd;
};

/* Parse the options of `run` (and @extra ones) from argv[@first]; sets
 * ra->cmd to the command after them (and after a "--"). */
static void parse_run_options(int argc, char **argv, int first, struct run_args *ra,
			      bool (*extra)(int argc, char **argv, int *i, void *ctx), void *ctx,
			      const char *what)
{
	int i = first;
	for (; i < argc; i++) {
		const char *v;
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		if (argv[i][0] != '-')
			break;
		if (strcmp(argv[i], "--stats") == 0)
			ra->stats = true;
		else if (strcmp(argv[i], "--top") == 0)
			ra->top = true;
		else if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0)
			ra->verbose = true;
		else if (is_help(argv[i])) {
			print_help(stdout);
			exit(0);
		}
		else if (match_opt(argc, argv, &i, "--options", &v) ||
			 match_opt(argc, argv, &i, "-o", &v)) {
			check_options(v);
			options_append(&ra->options, v);
		} else if (extra && extra(argc, argv, &i, ctx))
			continue;
		else
			usage_error("%s: unknown option '%s'", what, argv[i]);
	}
	if (i >= argc)
		usage_error("%s: no command to run (buddyslab %s [OPTIONS] -- CMD [ARGS])", what,
			    what);
	ra->cmd = argv + i;
}

/* The options a run adds: stats=1 first, then --options, then @forced. */
static char *run_options(const struct run_args *ra, const char *defaults, const char *forced)
{
	struct sbuf o = { 0 };
	options_append(&o, defaults);
	if (ra->stats)
		options_append(&o, "stats=1");
	options_append(&o, ra->options.p);
	options_append(&o, forced);
	return o.p; /* NULL when empty */
}

static int cmd_run(int argc, char **argv)
{
	struct run_args ra = { 0 };
	parse_run_options(argc, argv, 1, &ra, NULL, NULL, "run");
	char *lib = find_library();
	if (!lib)
		return 127;
	char *opts = run_options(&ra, NULL, ra.top ? "shm=1" : NULL);

	if (!ra.top) {
		if (!prepare_env(lib, opts, ra.verbose))
			return 127;
		return exec_command(ra.cmd);
	}

	/* --top: the command in a child, the view in this process */
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		errmsg("fork: %s", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		if (!prepare_env(lib, opts, ra.verbose))
			_exit(127);
		_exit(exec_command(ra.cmd));
	}
	/* ^C reaches the command (same process group); the view goes on
	 * until the command has gone */
	catch_stop_signals();
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	struct target t = { pid, true, false, 0 };
	struct top_args a = { SORT_MEM, false, 1.0, 1e9 };
	top_loop(&t, &a);
	if (stop_requested && !t.exited)
		kill(pid, SIGTERM); /* we were told to stop: pass it on */
	else if (!t.exited)
		fprintf(stderr, "buddyslab: view closed; waiting for pid %d to exit\n", (int)pid);
	int rc = target_wait(&t);
	free(lib);
	free(opts);
	return rc;
}

struct plot_run_ctx {
	long interval_ms;
	long ncaches;
};

static bool plot_extra_option(int argc, char **argv, int *i, void *vctx)
{
	struct plot_run_ctx *ctx = vctx;
	const char *v;
	if (match_opt(argc, argv, i, "--interval", &v)) {
		if (!parse_long(v, 10, 3600000, &ctx->interval_ms))
			usage_error("--interval: '%s' is not 10 .. 3600000 ms", v);
		return true;
	}
	if (match_opt(argc, argv, i, "--caches", &v)) {
		if (!parse_long(v, 1, 64, &ctx->ncaches))
			usage_error("--caches: '%s' is not 1 .. 64", v);
		return true;
	}
	return false;
}

/* plot --run OUTDIR [opts] -- CMD: run, record, plot. */
static int plot_run(int argc, char **argv, int first)
{
	if (first >= argc)
		usage_error("plot --run: which OUTDIR?");
	if (is_help(argv[first])) {
		print_help(stdout);
		return 0;
	}
	const char *outdir = argv[first];
	struct plot_run_ctx ctx = { 100, 8 };
	struct run_args ra = { 0 };
	parse_run_options(argc, argv, first + 1, &ra, plot_extra_option, &ctx, "plot --run");
	if (ra.top)
		usage_error("plot --run: --top is not for plot");
	if (!mkdir_p(outdir))
		return 1;
	char *lib = find_library();
	if (!lib)
		return 127;
	char defaults[64];
	snprintf(defaults, sizeof(defaults), "shm_ms=%ld", ctx.interval_ms);
	char *opts = run_options(&ra, defaults, "shm=1");

	struct sbuf csv = { 0 };
	sb_printf(&csv, "%s/record.csv", outdir);
	struct recorder r = { 0 };
	r.path = csv.p;
	r.f = fopen(csv.p, "w");
	if (!r.f) {
		errmsg("%s: %s", csv.p, strerror(errno));
		return 1;
	}

	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		errmsg("fork: %s", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		fclose(r.f);
		if (!prepare_env(lib, opts, ra.verbose))
			_exit(127);
		_exit(exec_command(ra.cmd));
	}
	signal(SIGINT, SIG_IGN); /* ^C stops the command; then we plot */
	signal(SIGQUIT, SIG_IGN);
	struct target t = { pid, true, false, 0 };
	long poll_ms = ctx.interval_ms / 2 > 5 ? ctx.interval_ms / 2 : 5;
	int rec_rc = record_loop(&t, &r, poll_ms, 0, 1e9);
	int status = target_wait(&t);
	if (fclose(r.f) != 0) {
		errmsg("%s: %s", csv.p, strerror(errno));
		rec_rc = 1;
	}
	int rc = status;
	if (rec_rc == 0 && r.samples > 0) {
		fprintf(stderr, "buddyslab: %zu samples of pid %d in %s\n", r.samples, (int)pid,
			csv.p);
		struct recording rec;
		if (!read_recording(csv.p, &rec))
			rc = rc ? rc : 1;
		else {
			if (plot_recording(&rec, outdir, (int)ctx.ncaches) != 0 && rc == 0)
				rc = 1;
			free_recording(&rec);
		}
	} else {
		errmsg("nothing recorded: the command (status %d) ended before its first "
		       "statistics update, or the library does not publish %s",
		       status, "/dev/shm/buddyslab.PID");
		if (rc == 0)
			rc = 1;
	}
	sb_free(&csv);
	free(lib);
	free(opts);
	return rc;
}

static int cmd_plot(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--run") == 0)
		return plot_run(argc, argv, 2);
	long ncaches = 8;
	const char *csv = NULL, *outdir = NULL;
	for (int i = 1; i < argc; i++) {
		const char *v;
		if (match_opt(argc, argv, &i, "--caches", &v)) {
			if (!parse_long(v, 1, 64, &ncaches))
				usage_error("--caches: '%s' is not 1 .. 64", v);
		} else if (is_help(argv[i])) {
			print_help(stdout);
			return 0;
		} else if (strncmp(argv[i], "--run", 5) == 0)
			usage_error("plot: --run comes first: buddyslab plot --run OUTDIR -- CMD");
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
			usage_error("plot: unknown option '%s'", argv[i]);
		else if (!csv)
			csv = argv[i];
		else if (!outdir)
			outdir = argv[i];
		else
			usage_error("plot: too many arguments");
	}
	if (!csv || !outdir)
		usage_error("plot: usage: buddyslab plot CSV OUTDIR [--caches N]");
	struct recording rec;
	if (!read_recording(csv, &rec))
		return 1;
	int rc = plot_recording(&rec, outdir, (int)ncaches);
	free_recording(&rec);
	return rc;
}

/* ---- main ------------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	if (argc < 2) {
		print_help(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (is_help(cmd) || !strcmp(cmd, "help")) {
		print_help(stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
		printf("buddyslab %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(cmd, "top"))
		return cmd_top(argc - 1, argv + 1);
	if (!strcmp(cmd, "record"))
		return cmd_record(argc - 1, argv + 1);
	if (!strcmp(cmd, "plot"))
		return cmd_plot(argc - 1, argv + 1);
	usage_error("unknown command '%s'", cmd);
}
