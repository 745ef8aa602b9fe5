/*
 * fuzz_main.c - main() for the fuzz target without libFuzzer: what `make
 * check` runs (tests/fuzz/fuzz_replay).
 *
 *   fuzz_replay [--seconds N] [--seed S] [FILE|DIR...]
 *
 * Replays every input given (a directory: every file in it); without files,
 * the regression inputs in $BUDDYSLAB_SRCDIR/tests/fuzz/regressions/. Then,
 * for N seconds (default 5; 0: none), random inputs from seed S (default:
 * from the clock, printed): a bounded fuzz run with no coverage guidance,
 * which the libFuzzer build of scripts/fuzz has. When an input crashes the
 * target, a signal handler writes it to ./fuzz-crash-<seed>-<n> before the
 * process dies: keep it in tests/fuzz/regressions/ once the bug is fixed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *current;
static size_t current_len;
static char crash_name[64];

static void on_crash(int sig)
{
	if (current && crash_name[0]) {
		int fd = open(crash_name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			ssize_t w = write(fd, current, current_len);
			(void)w;
			close(fd);
			static const char msg[] = "fuzz_replay: the crashing input is in ";
			w = write(2, msg, sizeof(msg) - 1);
			w = write(2, crash_name, strlen(crash_name));
			w = write(2, "\n", 1);
		}
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return 0;
	}
	static uint8_t buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	current = buf;
	current_len = n;
	snprintf(crash_name, sizeof(crash_name), "%s", "");
	LLVMFuzzerTestOneInput(buf, n);
	return 1;
}

static int run_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	char full[4096];
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || !strcmp(e->d_name, "README"))
			continue;
		snprintf(full, sizeof(full), "%s/%s", path, e->d_name);
		n += run_file(full);
	}
	closedir(d);
	return n;
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

int main(int argc, char **argv)
{
	double seconds = 5;
	uint64_t seed = (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid();
	int files = 0, replayed = 0;
	signal(SIGABRT, on_crash);
	signal(SIGSEGV, on_crash);
	signal(SIGBUS, on_crash);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
			seconds = atof(argv[++i]);
		} else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			seed = strtoull(argv[++i], NULL, 0);
		} else {
			int n = run_path(argv[i]);
			if (n < 0)
				return 2;
			replayed += n;
			files++;
		}
	}
	if (!files) {
		const char *src = getenv("BUDDYSLAB_SRCDIR");
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s/tests/fuzz/regressions", src ? src : ".");
		int n = run_path(dir);
		if (n < 0)
			return 2;
		replayed += n;
	}
	printf("fuzz_replay: %d inputs replayed\n", replayed);

	unsigned long runs = 0, bytes = 0;
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uint64_t rng = seed;
	static uint8_t buf[8192];
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 >= seconds)
			break;
		size_t len = 1 + (size_t)(splitmix64(&rng) % 2048);
		for (size_t i = 0; i < len; i += 8) {
			uint64_t x = splitmix64(&rng);
			memcpy(buf + i, &x, len - i < 8 ? len - i : 8);
		}
		current = buf;
		current_len = len;
		snprintf(crash_name, sizeof(crash_name), "fuzz-crash-%#llx-%lu",
			 (unsigned long long)seed, runs);
		LLVMFuzzerTestOneInput(buf, len);
		runs++;
		bytes += len;
	}
	printf("fuzz_replay: %lu random inputs (%lu bytes) from seed %#llx in %.0f s\n", runs,
	       bytes, (unsigned long long)seed, seconds);
	printf("1 passed, 0 failed\n");
	return 0;
}
