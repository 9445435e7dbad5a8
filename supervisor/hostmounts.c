/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "hostmounts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <event2/event.h>

#include "activator/mountinfo.h"
#include "common/cleanup.h"
#include "common/log.h"

struct host_mounts {
	int info_fd;  /* /proc/self/mountinfo, read again from 0 on each change */
	int epoll_fd; /* EPOLLPRI on info_fd: libevent has no POLLPRI */
	struct event *ev;
	char *buf;
	size_t size;
	const char *rel[MOUNTINFO_SUBMOUNTS_MAX + 1]; /* NULL-terminated */
	int n;                                        /* < 0: not known */
};

static void host_mounts_read(struct host_mounts *h)
{
	size_t len = 0;
	ssize_t n;
	int k;

	h->n = -1;
	if (lseek(h->info_fd, 0, SEEK_SET) < 0)
		return;
	for (;;) {
		if (len == h->size) {
			size_t size = h->size ? 2 * h->size : 16384;
			char *b;

			if (size > MOUNTINFO_SIZE_MAX)
				return;
			b = realloc(h->buf, size + 1);
			if (!b)
				return;
			h->buf = b;
			h->size = size;
		}
		n = read(h->info_fd, h->buf + len, h->size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	h->buf[len] = '\0';
	k = mountinfo_submounts(h->buf, "/", h->rel, MOUNTINFO_SUBMOUNTS_MAX);
	if (k < 0)
		log_debug("host mounts: %s: each start reads /proc/self/mountinfo",
			  k == -E2BIG ? "more than a container clones one by one" : "unreadable");
	else
		h->rel[k] = NULL;
	h->n = k;
}

static void host_mounts_changed(evutil_socket_t fd, short what, void *arg)
{
	struct host_mounts *h = arg;
	struct epoll_event e;

	/* Consumes the change (the poll itself does), then the new table. */
	(void)epoll_wait(h->epoll_fd, &e, 1, 0);
	host_mounts_read(h);
}

struct host_mounts *host_mounts_new(struct event_base *base)
{
	struct host_mounts *h = calloc(1, sizeof(*h));
	struct epoll_event e = {.events = EPOLLPRI};

	if (!h)
		return NULL;
	h->n = -1;
	h->epoll_fd = -1;
	h->info_fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (h->info_fd < 0)
		return host_mounts_free(h);
	h->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (h->epoll_fd < 0 || epoll_ctl(h->epoll_fd, EPOLL_CTL_ADD, h->info_fd, &e) < 0)
		return host_mounts_free(h);
	h->ev = event_new(base, h->epoll_fd, EV_READ | EV_PERSIST, host_mounts_changed, h);
	if (!h->ev || event_add(h->ev, NULL) < 0)
		return host_mounts_free(h);
	/* After the watch: a change from now on is seen. */
	(void)epoll_wait(h->epoll_fd, &e, 1, 0);
	host_mounts_read(h);
	return h;
}

const char *const *host_mounts_get(const struct host_mounts *h)
{
	if (!h || h->n < 0)
		return NULL;
	return h->rel;
}

struct host_mounts *host_mounts_free(struct host_mounts *h)
{
	if (!h)
		return NULL;
	if (h->ev)
		event_free(h->ev);
	safe_close(h->epoll_fd);
	safe_close(h->info_fd);
	free(h->buf);
	free(h);
	return NULL;
}
