/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "hostmounts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <poll.h>
#include <unistd.h>

#include "activator/mountinfo.h"
#include "common/cleanup.h"
#include "common/log.h"

struct host_mounts {
	int info_fd; /* /proc/self/mountinfo, read again from 0 on each change */
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

struct host_mounts *host_mounts_new(void)
{
	struct host_mounts *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->n = -1;
	h->info_fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (h->info_fd < 0)
		return host_mounts_free(h);
	/* After the open: a change from now on is seen. */
	host_mounts_read(h);
	return h;
}

const char *const *host_mounts_get(struct host_mounts *h)
{
	struct pollfd p;

	if (!h)
		return NULL;
	/* POLLPRI: the table changed since the last poll of this open file
	 * (the poll consumes it). The kernel marks the change before mount(2)
	 * returns, so every change made before this start counts, even one the
	 * loop would not have seen yet. Only this poll may look: any other,
	 * such as an epoll watching this file inside libevent's, would consume
	 * the change without a read. About 1 us a start; the read (about 1 us
	 * per host mount) only after a change. */
	p = (struct pollfd){.fd = h->info_fd, .events = POLLPRI};
	if (poll(&p, 1, 0) > 0 && (p.revents & POLLPRI))
		host_mounts_read(h);
	if (h->n < 0)
		return NULL;
	return h->rel;
}

struct host_mounts *host_mounts_free(struct host_mounts *h)
{
	if (!h)
		return NULL;
	safe_close(h->info_fd);
	free(h->buf);
	free(h);
	return NULL;
}
