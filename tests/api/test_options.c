/*
 * test_options.c - BUDDYSLAB_OPTIONS (src/options.c), read once when the
 * library starts: each case runs this executable again with the options
 * set and a probe named in argv[1], and checks what it printed on stderr
 * and stdout.
 *
 *   - verbose=1 prints the options in force, defaults included (it printed
 *     0 for the six whose defaults the layers applied themselves);
 *   - values of ten digits within range are taken, leading zeros too (any
 *     value over nine characters was refused); values past the range or
 *     past INT_MAX are refused with a message;
 *   - 0 is taken as it is where the range allows it: vm_cache_mb=0 keeps
 *     no freed large mapping (it kept 128 MiB's worth, the default, as did
 *     purge_ms=0 its 20 ms).
 *
 * Prints "N passed, N failed".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "buddyslab.h"

#define MiB (1UL << 20)

/* probe_vmcache - is an 8 MiB block, written and freed, still mapped? */
static int probe_vmcache(void)
{
	char *p = malloc(8 * MiB);
	if (!p)
		return 2;
	memset(p, 0x5a, 8 * MiB);
	free(p);
	int mapped = msync(p, 4096, MS_ASYNC) == 0 || errno != ENOMEM;
	printf("mapped=%d\n", mapped);
	return 0;
}

/* run - this executable with @opts and probe @probe; its stdout and
 * stderr together into @out */
static int run(const char *opts, const char *probe, char *out, size_t len)
{
	int fds[2];
	if (pipe(fds) != 0)
		return -1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		setenv("BUDDYSLAB_OPTIONS", opts, 1);
		execl("/proc/self/exe", "test_options", probe, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	size_t n = 0;
	ssize_t r;
	while (n + 1 < len && (r = read(fds[0], out + n, len - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(fds[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void expect_has(const char *name, const char *out, const char *what)
{
	CHECKF(name, strstr(out, what) != NULL, "no \"%s\" in:\n%s", what, out);
}

static void expect_lacks(const char *name, const char *out, const char *what)
{
	CHECKF(name, strstr(out, what) == NULL, "\"%s\" in:\n%s", what, out);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], "vmcache") == 0)
		return probe_vmcache();
	if (argc > 1)
		return 0; /* "none": the library read its options at start-up */
	CHECK_REQUIRE_BUDDYSLAB();
	static char out[1 << 14];

	CHECK("options-verbose-ran", run("verbose=1", "none", out, sizeof(out)) == 0);
	expect_has("options-verbose-pcp-high", out, "option pcp_high=96\n");
	expect_has("options-verbose-pcp-batch", out, "option pcp_batch=16\n");
	expect_has("options-verbose-purge-ms", out, "option purge_ms=20\n");
	expect_has("options-verbose-vm-cache-mb", out, "option vm_cache_mb=128\n");
	expect_has("options-verbose-wmark-high", out, "option wmark_high_mb=16\n");
	expect_has("options-verbose-wmark-low", out, "option wmark_low_mb=4\n");
	expect_has("options-verbose-slab-max", out, "option slab_max=1\n");

	run("purge_ms=1073741824,shm_ms=1000000000,slab_max=0000000002,verbose=1", "none", out,
	    sizeof(out));
	expect_lacks("options-ten-digits-taken", out, "bad value");
	expect_has("options-ten-digits-purge-ms", out, "option purge_ms=1073741824\n");
	expect_has("options-ten-digits-shm-ms", out, "option shm_ms=1000000000\n");
	expect_has("options-leading-zeros", out, "option slab_max=2\n");

	run("purge_ms=1073741825,pcp_high=99999999999,pcp_batch=-1,vm_cache_mb=,verbose=1", "none",
	    out, sizeof(out));
	/* each with the values it takes */
	expect_has("options-past-range-refused", out,
		   "bad value for purge_ms (a whole number from 0 to 1073741824), ignored");
	expect_has("options-past-int-refused", out,
		   "bad value for pcp_high (a whole number from 1 to 1048576), ignored");
	expect_has("options-negative-refused", out, "bad value for pcp_batch (a whole number from 1 to");
	expect_has("options-empty-refused", out, "bad value for vm_cache_mb (a whole number from 0 to");
	expect_has("options-refused-keep-default", out, "option purge_ms=20\n");
	run("madvise=sometimes,stats_file=", "none", out, sizeof(out));
	expect_has("options-madvise-refused", out, "bad value for madvise (dontneed or free), ignored");
	expect_has("options-string-refused", out, "bad value for stats_file (1 to 255 characters)");

	/* the values in force, after the layers' clamps */
	run("pcp_high=4,pcp_batch=100,wmark_high_mb=2,wmark_low_mb=8,verbose=1", "none", out,
	    sizeof(out));
	expect_has("options-batch-at-most-high", out, "option pcp_batch=4\n");
	expect_has("options-low-at-most-high", out, "option wmark_low_mb=2\n");
	/* said, when the clamped one was given (they were silent) */
	expect_has("options-batch-clamp-said", out, "pcp_batch=100 is above pcp_high=4: 4 used");
	expect_has("options-low-clamp-said", out, "wmark_low_mb=8 is above wmark_high_mb=2: 2 used");
	/* not when only the other was: the default batch under a small high */
	run("pcp_high=4,verbose=1", "none", out, sizeof(out));
	expect_has("options-default-batch-clamped", out, "option pcp_batch=4\n");
	expect_lacks("options-default-batch-clamp-quiet", out, "is above");

	run("purge_ms=0,vm_cache_mb=0,verbose=1", "none", out, sizeof(out));
	expect_has("options-zero-purge-ms", out, "option purge_ms=0\n");
	expect_has("options-zero-vm-cache-mb", out, "option vm_cache_mb=0\n");

	/* the default keeps the freed mapping for reuse; vm_cache_mb=0 not */
	CHECK("options-vmcache-default-ran", run("", "vmcache", out, sizeof(out)) == 0);
	expect_has("options-vmcache-default-keeps", out, "mapped=1");
	CHECK("options-vmcache-0-ran", run("vm_cache_mb=0", "vmcache", out, sizeof(out)) == 0);
	expect_has("options-vmcache-0-keeps-none", out, "mapped=0");

	return CHECK_DONE();
}
