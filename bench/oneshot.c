/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-oneshot: the service every runner of bench/run starts.
 *
 * Takes its listening socket with sd_listen_fds() (LISTEN_FDS, LISTEN_PID),
 * accepts ONE connection, reads the request head, answers
 * "HTTP/1.0 200 OK" and exits 0. Because it exits after one connection, the
 * next connection is again a cold start, whatever starts it.
 *
 * Built by bench/run with `cc -O2 oneshot.c -lsystemd` (default), or with
 * `cc -O2 -static -DBENCH_NO_LIBSYSTEMD` for --service=minimal.
 *
 * Bounded: alarm(BENCH_LIFETIME_S) ends it if nobody connects; the request is
 * at most sizeof(req) bytes and waited for at most BENCH_READ_TIMEOUT_S.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#ifdef BENCH_NO_LIBSYSTEMD
/* The "minimal" variant (bench/run --service=minimal): static, no libsystemd,
 * the LISTEN_FDS protocol by hand, to see the isolation cost against the
 * cheapest possible start. */
#include <stdlib.h>
#define SD_LISTEN_FDS_START 3
static int sd_listen_fds(int unset_environment)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");

	(void)unset_environment;
	if (!pid || !fds || strtol(pid, NULL, 10) != getpid())
		return 0;
	return (int)strtol(fds, NULL, 10);
}
#else
#include <stdlib.h>
#include <systemd/sd-daemon.h>
#endif

#define BENCH_LIFETIME_S     30
#define BENCH_READ_TIMEOUT_S 5

int main(void)
{
	static const char resp[] = "HTTP/1.0 200 OK\r\n"
				   "Content-Type: text/plain\r\n"
				   "Content-Length: 6\r\n"
				   "Connection: close\r\n"
				   "\r\n"
				   "hello\n";
	struct timeval tv = {.tv_sec = BENCH_READ_TIMEOUT_S};
	char req[4096];
	size_t len = 0;
	int n, fd;

	alarm(BENCH_LIFETIME_S);
	n = sd_listen_fds(1);
	if (n < 1) {
		fprintf(stderr, "bench-oneshot: no listening socket (LISTEN_FDS/LISTEN_PID): %s\n",
			n < 0 ? strerror(-n) : "none passed");
		return 1;
	}
#ifndef BENCH_NO_LIBSYSTEMD
	/* bench/run's nsinetd-notify row (Type=notify): ready before the accept. */
	if (getenv("BENCH_NOTIFY"))
		sd_notify(0, "READY=1");
#endif
	do
		fd = accept4(SD_LISTEN_FDS_START, NULL, NULL, SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		fprintf(stderr, "bench-oneshot: accept: %m\n");
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (len < sizeof(req)) {
		ssize_t r = read(fd, req + len, sizeof(req) - len);

		if (r <= 0)
			break;
		len += (size_t)r;
		if (memmem(req, len, "\r\n\r\n", 4) || memmem(req, len, "\n\n", 2))
			break;
	}
	if (send(fd, resp, sizeof(resp) - 1, MSG_NOSIGNAL) < 0)
		return 1;
	/* FIN first, so that close() with unread bytes cannot turn into an RST. */
	shutdown(fd, SHUT_WR);
	close(fd);
	return 0;
}
