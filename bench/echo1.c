/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench/echo1: the one-line echo program of bench/accept, inetd style.
 * Reads one line (at most 512 bytes) from fd 0, writes it back on fd 1,
 * exits. Built static: the cost measured is the sandbox's, not the
 * dynamic loader's.
 */
#include <unistd.h>

int main(void)
{
	char buf[512];
	size_t len = 0;

	while (len < sizeof(buf)) {
		ssize_t n = read(0, buf + len, sizeof(buf) - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		if (buf[len - 1] == '\n')
			break;
	}
	for (size_t off = 0; off < len;) {
		ssize_t n = write(1, buf + off, len - off);
		if (n <= 0)
			return 1;
		off += (size_t)n;
	}
	return 0;
}
