/*
 * libc.c - what buddyslab needs from a C library, written so that nothing
 * allocates: a fixed-buffer printf for reports and error messages (write(2)
 * only), getenv over the process environment, and the fatal-error path.
 *
 * Invariant: no function here calls malloc, stdio or anything that may.
 * Entry points: fmt_*, bs_printf, bs_getenv, bs_fatal (and bs_fatal_tail), bs_warn,
 * fsize_limit.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

extern char **environ;

/* fsize_limit - the file size limit (ulimit -f, RLIMIT_FSIZE) in bytes,
 * SIZE_MAX without one: past it, a write or ftruncate gets SIGXFSZ, which
 * ends the program. errno unchanged. */
size_t fsize_limit(void)
{
	int saved = errno;
	struct rlimit fsize;
	size_t limit = SIZE_MAX;
	if (getrlimit(RLIMIT_FSIZE, &fsize) == 0 && fsize.rlim_cur != RLIM_INFINITY &&
	    fsize.rlim_cur < SIZE_MAX)
		limit = (size_t)fsize.rlim_cur;
	errno = saved;
	return limit;
}

/* file_room - bytes that may still be written to @fd under fsize_limit: a
 * write that starts at the limit gets SIGXFSZ (a report to stats_file, or
 * a message to a stderr redirected to a file, ended with status 153 a
 * program that had succeeded; a subagent's test). The kernel cuts a write
 * that crosses it. SIZE_MAX without a limit, or for what is not a regular
 * file. */
static size_t file_room(int fd)
{
	size_t limit = fsize_limit();
	struct stat st;
	if (limit == SIZE_MAX || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return SIZE_MAX;
	int flags = fcntl(fd, F_GETFL);
	off_t pos = flags >= 0 && (flags & O_APPEND) ? st.st_size : lseek(fd, 0, SEEK_CUR);
	if (pos < 0)
		return SIZE_MAX;
	return (size_t)pos >= limit ? 0 : limit - (size_t)pos;
}

static void write_all(int fd, const char *buf, size_t len)
{
	int saved = errno;
	size_t room = file_room(fd);
	errno = saved;
	if (len > room)
		len = room;
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

void fmt_init(struct fmtbuf *fb, int fd)
{
	fb->len = 0;
	fb->fd = fd;
}

void fmt_flush(struct fmtbuf *fb)
{
	int saved = errno;
	write_all(fb->fd, fb->buf, fb->len);
	fb->len = 0;
	errno = saved;
}

static void fmt_putc(struct fmtbuf *fb, char c)
{
	if (fb->len == sizeof(fb->buf))
		fmt_flush(fb);
	fb->buf[fb->len++] = c;
}

static void fmt_pad(struct fmtbuf *fb, const char *s, size_t len, int width,
		    bool left, char padc)
{
	int pad = width > (int)len ? width - (int)len : 0;
	if (!left)
		while (pad-- > 0)
			fmt_putc(fb, padc);
	for (size_t i = 0; i < len; i++)
		fmt_putc(fb, s[i]);
	if (left)
		while (pad-- > 0)
			fmt_putc(fb, ' ');
}

static size_t utoa(char *out, unsigned long v, unsigned base)
{
	char tmp[32];
	size_t n = 0;
	do {
		unsigned d = (unsigned)(v % base);
		tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
		v /= base;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

static void fmt_vprintf(struct fmtbuf *fb, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			fmt_putc(fb, *fmt);
			continue;
		}
		fmt++;
		bool left = false;
		char padc = ' ';
		if (*fmt == '-') {
			left = true;
			fmt++;
		}
		if (*fmt == '0') {
			padc = '0';
			fmt++;
		}
		int width = 0;
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		int longs = 0;
		while (*fmt == 'l' || *fmt == 'z') {
			longs = 1;
			fmt++;
		}
		char num[40];
		size_t n;
		switch (*fmt) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			fmt_pad(fb, s, strlen(s), width, left, ' ');
			break;
		}
		case 'c':
			num[0] = (char)va_arg(ap, int);
			fmt_pad(fb, num, 1, width, left, ' ');
			break;
		case 'd': {
			long v = longs ? va_arg(ap, long) : va_arg(ap, int);
			n = 0;
			unsigned long mag = (unsigned long)v;
			if (v < 0) {
				num[n++] = '-';
				mag = -mag;
			}
			n += utoa(num + n, mag, 10);
			fmt_pad(fb, num, n, width, left, padc);
			break;
		}
		case 'u':
		case 'x': {
			unsigned long v = longs ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
			n = utoa(num, v, *fmt == 'x' ? 16 : 10);
			fmt_pad(fb, num, n, width, left, padc);
			break;
		}
		case 'p': {
			uintptr_t v = (uintptr_t)va_arg(ap, void *);
			num[0] = '0';
			num[1] = 'x';
			n = 2 + utoa(num + 2, v, 16);
			fmt_pad(fb, num, n, width, left, ' ');
			break;
		}
		case '%':
			fmt_putc(fb, '%');
			break;
		case '\0':
			return;
		default:
			fmt_putc(fb, '%');
			fmt_putc(fb, *fmt);
		}
	}
}

void fmt_printf(struct fmtbuf *fb, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fmt_vprintf(fb, fmt, ap);
	va_end(ap);
}

void bs_printf(int fd, const char *fmt, ...)
{
	struct fmtbuf fb;
	fmt_init(&fb, fd);
	va_list ap;
	va_start(ap, fmt);
	fmt_vprintf(&fb, fmt, ap);
	va_end(ap);
	fmt_flush(&fb);
}

/* warn_line - "buddyslab: ", the message and a newline on stderr, in one
 * write where it fits (bs_warn, bs_panic) */
static void warn_line(const char *fmt, va_list ap)
{
	struct fmtbuf fb;
	fmt_init(&fb, STDERR_FILENO);
	fmt_printf(&fb, "buddyslab: ");
	fmt_vprintf(&fb, fmt, ap);
	fmt_putc(&fb, '\n');
	fmt_flush(&fb);
}

void bs_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	warn_line(fmt, ap);
	va_end(ap);
}

/* bs_getenv - getenv without the locale or allocation of some libcs. Safe
 * before main (environ is set up by the dynamic loader). */
const char *bs_getenv(const char *name)
{
	size_t len = strlen(name);
	if (!environ)
		return NULL;
	for (char **env = environ; *env; env++)
		if (strncmp(*env, name, len) == 0 && (*env)[len] == '=')
			return *env + len + 1;
	return NULL;
}

/* bs_fatal - the report of a bad call: "buddyslab: CALL(): WHAT PTR", then
 * abort(), as glibc does for "free(): invalid pointer". */
void bs_fatal(const char *call, const char *what, const void *ptr)
{
	bs_printf(STDERR_FILENO, "buddyslab: %s(): %s %p\n", call, what, ptr);
	abort();
}

void bs_fatal_tail(const char *call, const char *what, const void *ptr)
{
	bs_fatal(call, what, ptr);
}

/* bs_panic - "buddyslab: " and the message, then abort(): a promise the
 * caller asked for (SLAB_PANIC, __GFP_NOFAIL) that cannot be kept. */
void bs_panic(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	warn_line(fmt, ap);
	va_end(ap);
	abort();
}
