/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nsinetd-notify-probe: a Type=notify service for the integration tests
 * (tests/integration/test_notify.py), written with libsystemd's
 * sd_notify() as any service for systemd's Type=notify is.
 *
 * It answers each connection on its LISTEN_FDS sockets with
 * "notify-probe N\n" (N: connections served by this instance) and closes it.
 * Environment:
 *   PROBE_READY=signal  READY=1 only after SIGUSR1 (nsinetd-init forwards it);
 *                       it accepts nothing before
 *   PROBE_READY=never   never READY=1
 *   PROBE_STATUS=TEXT   sent as STATUS= with READY=1
 *   PROBE_PINGS=N       WATCHDOG=1 every half WATCHDOG_USEC, N times, then it
 *                       hangs (no ping, no accept); -1: forever
 *   PROBE_TRIGGER=1     WATCHDOG=trigger after the first connection
 *   PROBE_EVIL=1        before READY=1: a datagram with fds, and a 64 KiB one
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v ? v : def;
}

/* What an escape-minded service might send: its fds, and a datagram far
 * beyond the daemon's bound. */
static void send_evil(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fds[3], fd;
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(fds))];
	} control = {0};
	char msg[] = "STATUS=with fds";
	struct iovec iov = {.iov_base = msg, .iov_len = strlen(msg)};
	struct msghdr mh = {.msg_name = &sa,
			    .msg_namelen = sizeof(sa),
			    .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = &control,
			    .msg_controllen = sizeof(control)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	static char big[65536];

	if (!path || strlen(path) >= sizeof(sa.sun_path))
		return;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	for (int i = 0; i < 3; i++)
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	if (sendmsg(fd, &mh, 0) < 0)
		perror("notify-probe: sendmsg with fds");
	memset(big, 'A', sizeof(big));
	memcpy(big, "READY=1\n", 8); /* dropped whole: it must not count */
	if (sendto(fd, big, sizeof(big), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		perror("notify-probe: sendto 64 KiB");
	close(fd);
}

int main(void)
{
	const char *ready = env_or("PROBE_READY", "now");
	long pings = strtol(env_or("PROBE_PINGS", "0"), NULL, 10);
	bool trigger = getenv("PROBE_TRIGGER") != NULL;
	uint64_t wd = 0;
	int n_fds = sd_listen_fds(0), sfd, served = 0;
	sigset_t usr1;
	struct pollfd pfd[17];

	if (n_fds < 1 || n_fds > 16) {
		fprintf(stderr, "notify-probe: %d listening sockets\n", n_fds);
		return 1;
	}
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	sfd = signalfd(-1, &usr1, SFD_CLOEXEC);
	if (sd_watchdog_enabled(0, &wd) <= 0)
		wd = 0;
	if (getenv("PROBE_EVIL"))
		send_evil();
	if (strcmp(ready, "never") == 0)
		for (;;)
			pause();
	if (strcmp(ready, "signal") == 0) {
		struct pollfd sp = {.fd = sfd, .events = POLLIN};
		/* Pinging meanwhile, if asked: starting is no reason to die. */
		while (poll(&sp, 1, wd ? (int)(wd / 2000) : -1) == 0)
			sd_notify(0, "WATCHDOG=1");
	}
	sd_notifyf(0, "READY=1\nSTATUS=%s", env_or("PROBE_STATUS", "serving"));
	for (int i = 0; i < n_fds; i++)
		pfd[i] = (struct pollfd){.fd = SD_LISTEN_FDS_START + i, .events = POLLIN};
	for (;;) {
		int timeout = wd && pings != 0 ? (int)(wd / 2000) : -1;
		int r;

		if (wd && pings == 0)
			for (;;) /* hung: neither pings nor accepts */
				pause();
		r = poll(pfd, (nfds_t)n_fds, timeout);
		if (r == 0 || (r > 0 && wd)) {
			sd_notify(0, "WATCHDOG=1");
			if (pings > 0)
				pings--;
		}
		for (int i = 0; i < n_fds && r > 0; i++) {
			char line[64];
			int c;

			if (!(pfd[i].revents & POLLIN))
				continue;
			c = accept4(pfd[i].fd, NULL, NULL, SOCK_CLOEXEC);
			if (c < 0)
				continue;
			snprintf(line, sizeof(line), "notify-probe %d\n", ++served);
			(void)!write(c, line, strlen(line));
			close(c);
			if (trigger)
				sd_notify(0, "WATCHDOG=trigger");
		}
	}
}
