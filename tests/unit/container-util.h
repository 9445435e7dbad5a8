/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the container tests (test-activator.c, test-enter.c) share: waiting
 * on an fd, reading a line, the "key=value" lines payloads report. */
#pragma once

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef TIMEOUT_MS
#define TIMEOUT_MS 20000
#endif

/* Waits for fd to be readable; false on timeout. */
static bool wait_readable(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int n;

	do
		n = poll(&p, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	return n > 0;
}

/* Reads one line (up to '\n', not kept) from a pipe; false on timeout or EOF. */
static bool read_line(int fd, char *buf, size_t size)
{
	size_t n = 0;

	while (n + 1 < size) {
		if (!wait_readable(fd, TIMEOUT_MS) || read(fd, buf + n, 1) != 1)
			return false;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return true;
}

/* The value of "key=…" in the output, or NULL (in a static buffer). */
static const char *get(const char *out, const char *key)
{
	static char val[4096];
	size_t klen = strlen(key);

	for (const char *l = out; l && *l;) {
		const char *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);

		if (len > klen && strncmp(l, key, klen) == 0 && l[klen] == '=') {
			len -= klen + 1;
			if (len >= sizeof(val))
				len = sizeof(val) - 1;
			memcpy(val, l + klen + 1, len);
			val[len] = '\0';
			return val;
		}
		l = nl ? nl + 1 : NULL;
	}
	return NULL;
}

static bool exited_with(int status, int code)
{
	return status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == code;
}
