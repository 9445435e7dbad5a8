/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nsinetd-hello: the smallest useful socket-activated service.
 *
 * It takes its listening sockets with sd_listen_fds() (the systemd LISTEN_FDS
 * protocol, which nsinetd and systemd-socket-activate both speak), accepts on
 * them itself and answers every HTTP request with
 *
 *     HTTP/1.0 200 OK
 *
 *     hello from nsinetd: pid N, hostname H
 *
 * Inside an nsinetd container N is 2 (the payload behind the stub init) and H
 * is the service name.
 *
 * Single-threaded and poll()-based. Every client-controlled quantity is
 * bounded: request size (HELLO_REQUEST_MAX), time to send the request and to
 * take the answer (HELLO_TIMEOUT_MS), concurrent connections (HELLO_CONNS_MAX;
 * beyond that clients wait in the kernel's accept queue).
 *
 * With NOTIFY_SOCKET set (Type=notify), it says READY=1 with sd_notify()
 * once its sockets are taken.
 *
 * SIGTERM/SIGINT: stop accepting (the listening sockets are left alone: they
 * are dups of the supervisor's, and whatever is queued on them is for the next
 * instance), finish the connections in progress, exit 0.
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
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#define HELLO_LISTEN_MAX   16
#define HELLO_CONNS_MAX    64
#define HELLO_REQUEST_MAX  4096
#define HELLO_RESPONSE_MAX 1024
#define HELLO_TIMEOUT_MS   5000
#define HELLO_EMFILE_MS    100

enum conn_state {
	CONN_FREE,
	CONN_READING,
	CONN_WRITING,
};

struct conn {
	enum conn_state state;
	int fd;
	int64_t deadline; /* CLOCK_MONOTONIC, ms */
	size_t len;       /* bytes of the request read so far */
	size_t off;       /* bytes of the response written so far */
	size_t resp_len;
	char req[HELLO_REQUEST_MAX];
	char resp[HELLO_RESPONSE_MAX];
};

static struct conn conns[HELLO_CONNS_MAX];

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = CONN_FREE;
}

static int conns_active(void)
{
	int n = 0;

	for (int i = 0; i < HELLO_CONNS_MAX; i++)
		if (conns[i].state != CONN_FREE)
			n++;
	return n;
}

/* The end of the header block, or NULL while it is incomplete. */
static const char *request_end(const struct conn *c)
{
	const char *p = memmem(c->req, c->len, "\r\n\r\n", 4);

	if (!p)
		p = memmem(c->req, c->len, "\n\n", 2);
	return p;
}

static void conn_respond(struct conn *c, const char *status, bool head, const char *body)
{
	int n;

	n = snprintf(c->resp, sizeof(c->resp),
		     "HTTP/1.0 %s\r\n"
		     "Content-Type: text/plain; charset=utf-8\r\n"
		     "Content-Length: %zu\r\n"
		     "Connection: close\r\n"
		     "\r\n"
		     "%s",
		     status, strlen(body), head ? "" : body);
	if (n < 0 || (size_t)n >= sizeof(c->resp))
		n = snprintf(c->resp, sizeof(c->resp),
			     "HTTP/1.0 500 Internal Server Error\r\n\r\n");
	c->resp_len = (size_t)n;
	c->off = 0;
	c->state = CONN_WRITING;
	/* A fresh allowance for a client that is slow to read the answer. */
	c->deadline = now_ms() + HELLO_TIMEOUT_MS;
}

static void conn_answer(struct conn *c, bool complete)
{
	char host[256] = "?";
	char body[512];
	bool head = false;

	if (!complete) {
		conn_respond(c, "431 Request Header Fields Too Large", false,
			     "request too large\n");
		return;
	}
	if (c->len >= 5 && memcmp(c->req, "HEAD ", 5) == 0)
		head = true;
	else if (c->len < 4 || memcmp(c->req, "GET ", 4) != 0) {
		conn_respond(c, "405 Method Not Allowed", false, "only GET and HEAD\n");
		return;
	}
	if (gethostname(host, sizeof(host) - 1) < 0)
		snprintf(host, sizeof(host), "?");
	host[sizeof(host) - 1] = '\0';
	snprintf(body, sizeof(body), "hello from nsinetd: pid %d, hostname %s\n", (int)getpid(),
		 host);
	conn_respond(c, "200 OK", head, body);
}

static void conn_read(struct conn *c)
{
	ssize_t n;

	n = read(c->fd, c->req + c->len, sizeof(c->req) - c->len);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		conn_close(c);
		return;
	}
	if (n == 0) {
		/* The client gave up (or sent a half request and shut down). */
		conn_close(c);
		return;
	}
	c->len += (size_t)n;
	if (request_end(c))
		conn_answer(c, true);
	else if (c->len == sizeof(c->req))
		conn_answer(c, false);
}

static void conn_write(struct conn *c)
{
	ssize_t n;

	n = send(c->fd, c->resp + c->off, c->resp_len - c->off, MSG_NOSIGNAL);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		conn_close(c);
		return;
	}
	c->off += (size_t)n;
	if (c->off == c->resp_len) {
		/* Send our FIN now; unread request bytes would otherwise turn
		 * close() into an RST that can destroy the answer in flight. */
		shutdown(c->fd, SHUT_WR);
		conn_close(c);
	}
}

/* Returns false when accepting should pause (EMFILE and friends). */
static bool listener_accept(int lfd)
{
	struct conn *c = NULL;
	int fd;

	for (int i = 0; i < HELLO_CONNS_MAX; i++)
		if (conns[i].state == CONN_FREE) {
			c = &conns[i];
			break;
		}
	if (!c)
		return true; /* not polled when full; nothing to do */

	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			fprintf(stderr, "nsinetd-hello: accept: %m; pausing\n");
			return false;
		}
		/* EAGAIN (another process took it), ECONNABORTED, ...: not fatal. */
		return true;
	}
	c->fd = fd;
	c->state = CONN_READING;
	c->len = 0;
	c->deadline = now_ms() + HELLO_TIMEOUT_MS;
	return true;
}

static int signalfd_open(void)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	return signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
}

int main(void)
{
	struct pollfd pfds[1 + HELLO_LISTEN_MAX + HELLO_CONNS_MAX];
	int listeners[HELLO_LISTEN_MAX];
	int nlisten = 0, n, sfd;
	bool stopping = false;
	int64_t paused_until = 0;

	signal(SIGPIPE, SIG_IGN);

	n = sd_listen_fds(1);
	if (n < 0) {
		fprintf(stderr, "nsinetd-hello: cannot take the listening sockets: %s\n",
			strerror(-n));
		return 1;
	}
	if (n == 0) {
		fprintf(stderr, "nsinetd-hello: no listening socket passed "
				"(LISTEN_FDS unset or LISTEN_PID not ours); "
				"run me under nsinetd or systemd-socket-activate\n");
		return 1;
	}
	for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n; fd++) {
		/* Dups of the supervisor's sockets: our flags are shared with it,
		 * but O_NONBLOCK is what any accept loop wants anyway. */
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
			fprintf(stderr,
				"nsinetd-hello: fd %d is not a listening stream socket, "
				"ignored\n",
				fd);
			continue;
		}
		if (nlisten == HELLO_LISTEN_MAX) {
			fprintf(stderr, "nsinetd-hello: more than %d sockets, fd %d ignored\n",
				HELLO_LISTEN_MAX, fd);
			continue;
		}
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		listeners[nlisten++] = fd;
	}
	if (nlisten == 0) {
		fprintf(stderr,
			"nsinetd-hello: none of the %d passed fds is a listening stream "
			"socket\n",
			n);
		return 1;
	}

	sfd = signalfd_open();
	if (sfd < 0) {
		fprintf(stderr, "nsinetd-hello: signalfd: %s\n", strerror(-sfd));
		return 1;
	}
	for (int i = 0; i < HELLO_CONNS_MAX; i++)
		conns[i].fd = -1, conns[i].state = CONN_FREE;
	/* Type=notify (hello-c-notify.conf.in): ready once the sockets are
	 * taken; without NOTIFY_SOCKET (Type=simple) this does nothing. */
	sd_notifyf(0, "READY=1\nSTATUS=serving %d socket(s)", nlisten);

	for (;;) {
		struct conn *pconn[HELLO_CONNS_MAX];
		int npfd = 0, nconn = 0, first_listener, timeout = -1, r;
		int64_t now = now_ms();

		if (stopping && conns_active() == 0)
			break;

		pfds[npfd++] = (struct pollfd){.fd = sfd, .events = POLLIN};
		first_listener = npfd;
		if (!stopping && now >= paused_until && conns_active() < HELLO_CONNS_MAX)
			for (int i = 0; i < nlisten; i++)
				pfds[npfd++] =
				    (struct pollfd){.fd = listeners[i], .events = POLLIN};
		if (now < paused_until)
			timeout = (int)(paused_until - now);

		for (int i = 0; i < HELLO_CONNS_MAX; i++) {
			struct conn *c = &conns[i];
			int left;

			if (c->state == CONN_FREE)
				continue;
			if (now >= c->deadline) {
				conn_close(c); /* too slow: no answer owed */
				continue;
			}
			left = (int)(c->deadline - now);
			if (timeout < 0 || left < timeout)
				timeout = left;
			pconn[nconn++] = c;
			pfds[npfd++] = (struct pollfd){
			    .fd = c->fd,
			    .events = c->state == CONN_READING ? POLLIN : POLLOUT,
			};
		}

		r = poll(pfds, (nfds_t)npfd, timeout);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "nsinetd-hello: poll: %m\n");
			return 1;
		}

		if (pfds[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == sizeof(si))
				if (!stopping) {
					fprintf(stderr,
						"nsinetd-hello: %s, finishing %d connection(s) and "
						"exiting\n",
						strsignal((int)si.ssi_signo), conns_active());
					stopping = true;
				}
		}

		for (int i = 0; i < nconn; i++) {
			struct pollfd *p = &pfds[npfd - nconn + i];

			if (!p->revents)
				continue;
			if (pconn[i]->state == CONN_READING)
				conn_read(pconn[i]);
			else if (pconn[i]->state == CONN_WRITING)
				conn_write(pconn[i]);
		}

		if (!stopping)
			for (int i = first_listener; i < npfd - nconn; i++)
				if (pfds[i].revents & POLLIN)
					if (!listener_accept(pfds[i].fd))
						paused_until = now_ms() + HELLO_EMFILE_MS;
	}

	return 0;
}
