/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* netns/sockdiag: what the idle accounting reads from the kernel. */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "netns/sockdiag.h"
#include "tap.h"

struct seen {
	uint16_t port;
	int listeners, established;
	uint32_t queue;
	bool info;
	uint32_t rqueue_udp;
	const char *uname;
	size_t uname_len;
	int ulisteners, uestablished;
	uint32_t uqueue;
};

static void inet_cb(const struct sockdiag_inet *s, void *userdata)
{
	struct seen *w = userdata;

	if (s->lport != w->port)
		return;
	if (s->state == TCP_LISTEN) {
		w->listeners++;
		w->queue = s->rqueue;
	} else if (s->state == TCP_ESTABLISHED) {
		w->established++;
		w->info = w->info || s->has_info;
	}
}

static void udp_cb(const struct sockdiag_inet *s, void *userdata)
{
	struct seen *w = userdata;

	if (s->lport == w->port)
		w->rqueue_udp = s->rqueue;
}

static void unix_cb(const struct sockdiag_unix *s, void *userdata)
{
	struct seen *w = userdata;

	if (s->name_len != w->uname_len || memcmp(s->name, w->uname, s->name_len) != 0)
		return;
	if (s->state == TCP_LISTEN) {
		w->ulisteners++;
		w->uqueue = s->rqueue;
	} else if (s->state == TCP_ESTABLISHED) {
		w->uestablished++;
	}
}

static int tcp_listener(uint16_t *ret_port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 16) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	*ret_port = ntohs(a.sin_port);
	return fd;
}

static int tcp_connect(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -1;
	return fd;
}

static void test_tcp(void)
{
	struct seen w = {0};
	int l = tcp_listener(&w.port), c1, c2, a;

	c1 = tcp_connect(w.port);
	c2 = tcp_connect(w.port);
	ok(l >= 0 && c1 >= 0 && c2 >= 0, "listener and two queued clients");
	is_int(sockdiag_dump_inet(AF_INET, IPPROTO_TCP, ~0U, true, inet_cb, &w), 0, "TCP dump");
	is_int(w.listeners, 1, "the listener is seen");
	is_int(w.queue, 2, "its accept queue holds the two clients");
	/* A queued connection is a full socket already: it counts as a
	 * connection of the listener's port before accept() too. */
	is_int(w.established, 2, "queued connections show with the listener's port");

	a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	memset(&w, 0, sizeof(w));
	w.port = 0;
	{
		struct sockaddr_in sa;
		socklen_t len = sizeof(sa);
		getsockname(l, (struct sockaddr *)&sa, &len);
		w.port = ntohs(sa.sin_port);
	}
	is_int(sockdiag_dump_inet(AF_INET, IPPROTO_TCP, ~0U, true, inet_cb, &w), 0, "TCP dump");
	is_int(w.queue, 1, "one left in the queue after accept");
	is_int(w.established, 2, "the accepted connection keeps the listener's local port");
	ok(w.info, "tcp_info came with it (IdleConnections=traffic)");
	close(a);
	close(c1);
	close(c2);
	close(l);
}

static void test_udp(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	struct seen w = {0};
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int c = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	bind(s, (struct sockaddr *)&a, sizeof(a));
	getsockname(s, (struct sockaddr *)&a, &len);
	w.port = ntohs(a.sin_port);
	sendto(c, "x", 1, 0, (struct sockaddr *)&a, sizeof(a));
	is_int(sockdiag_dump_inet(AF_INET, IPPROTO_UDP, ~0U, false, udp_cb, &w), 0, "UDP dump");
	ok(w.rqueue_udp > 0, "a queued datagram shows in the receive queue (%u)", w.rqueue_udp);
	close(s);
	close(c);
}

static void test_unix(void)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	char name[64];
	struct seen w = {0};
	int l, c1, c2, acc;
	int n = snprintf(name, sizeof(name), "%cnsinetd-test-sockdiag-%d", 0, (int)getpid());
	socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n);

	memcpy(a.sun_path, name, (size_t)n);
	w.uname = name;
	w.uname_len = (size_t)n;
	l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ok(l >= 0 && bind(l, (struct sockaddr *)&a, alen) == 0 && listen(l, 8) == 0,
	   "abstract unix listener");
	c1 = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	c2 = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	connect(c1, (struct sockaddr *)&a, alen);
	connect(c2, (struct sockaddr *)&a, alen);
	acc = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	is_int(sockdiag_dump_unix(~0U, unix_cb, &w), 0, "unix dump");
	is_int(w.ulisteners, 1, "the listener is seen by its name");
	is_int(w.uqueue, 1, "one connection still queued");
	is_int(w.uestablished, 1, "the accepted socket carries the listener's name");
	close(acc);
	close(c1);
	close(c2);
	close(l);
}

int main(void)
{
	test_tcp();
	test_udp();
	test_unix();
	return tap_done();
}
