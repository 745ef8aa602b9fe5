/*
 * death.h - death tests (tests/api/test_bad_input, tests/faults/
 * test_bad_calls): run a bad call in a child process and check how the
 * child died.
 *
 *   death("name", fn, wants)    fn runs in a child whose stderr goes down a
 *                               pipe; the child must die of SIGABRT after
 *                               writing a line that contains one of the
 *                               NULL-terminated strings @wants. A string
 *                               ending in "0x" must be followed by the
 *                               address the child announced with expect().
 *   expect(addr)                in the child, before the bad call: the
 *                               address the report must name
 *
 * Uses check.h's CHECK/CHECKF; the child is limited to DEATH_TIMEOUT_S
 * seconds (a hang is a failure too).
 */
#ifndef BUDDYSLAB_TESTS_DEATH_H
#define BUDDYSLAB_TESTS_DEATH_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define DEATH_TIMEOUT_S 10

/* expect - tell the parent the address the report must name (no malloc). */
static inline __attribute__((unused)) void expect(const void *addr)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "EXPECT %p\n", addr);
	if (write(2, line, (size_t)n) != n)
		_exit(3);
}

static inline int death_is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* death - returns 1 when the child died as wanted. */
static inline __attribute__((unused)) int death(const char *name, void (*bad)(void),
						const char *const *wants)
{
	char label[160], out[16384];
	int fds[2];
	size_t len = 0;

	if (pipe(fds) != 0) {
		CHECK("death-pipe", 0);
		return 0;
	}
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		CHECK("death-fork", 0);
		return 0;
	}
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };
		setrlimit(RLIMIT_CORE, &no_core);
		close(fds[0]);
		dup2(fds[1], 2);
		close(fds[1]);
		alarm(DEATH_TIMEOUT_S);
		bad();
		static const char survived[] = "SURVIVED the bad call\n";
		if (write(2, survived, sizeof(survived) - 1) < 0)
			_exit(2);
		_exit(0);
	}
	close(fds[1]);
	for (;;) {
		ssize_t n = read(fds[0], out + len, sizeof(out) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof(out) - 1)
			break;
	}
	out[len] = '\0';
	close(fds[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;

	int ok_abrt = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
	snprintf(label, sizeof(label), "%s-sigabrt", name);
	CHECKF(label, ok_abrt, "child %s %d%s", WIFSIGNALED(status) ? "killed by signal" :
	       "exited with", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
	       WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM ? " (hung)" : "");

	const char *hit = NULL, *matched = NULL;
	for (const char *const *w = wants; *w && !hit; w++) {
		hit = strstr(out, *w);
		matched = *w;
	}
	snprintf(label, sizeof(label), "%s-message", name);
	int ok_msg = hit != NULL;
	if (!ok_msg) {
		char all[512] = "";
		for (const char *const *w = wants; *w; w++) {
			strncat(all, w == wants ? "\"" : " or \"", sizeof(all) - strlen(all) - 1);
			strncat(all, *w, sizeof(all) - strlen(all) - 1);
			strncat(all, "\"", sizeof(all) - strlen(all) - 1);
		}
		CHECKF(label, 0, "wanted %s", all);
	} else {
		CHECK(label, 1);
	}

	int ok_addr = 1;
	size_t mlen = matched ? strlen(matched) : 0;
	if (hit && mlen >= 2 && strcmp(matched + mlen - 2, "0x") == 0) {
		const char *ex = strstr(out, "EXPECT 0x");
		unsigned long long want_addr = ex ? strtoull(ex + 9, NULL, 16) : 0;
		const char *digits = hit + mlen, *end = digits;
		while (death_is_hex(*end))
			end++;
		unsigned long long got = strtoull(digits, NULL, 16);
		/* the address is printed with %p: lowercase hex, nothing after
		 * it that could make it another number */
		ok_addr = ex != NULL && end > digits &&
			  !((*end >= 'A' && *end <= 'F') || *end == 'x' || *end == 'X') &&
			  got == want_addr;
		snprintf(label, sizeof(label), "%s-address", name);
		CHECKF(label, ok_addr, "report names 0x%.*s, the pointer was 0x%llx",
		       (int)(end - digits), digits, want_addr);
	}
	int ok = ok_abrt && ok_msg && ok_addr;
	if (!ok) {
		printf("      child's stderr:\n");
		for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
			printf("      | %s\n", line);
	}
	return ok;
}

#endif /* BUDDYSLAB_TESTS_DEATH_H */
