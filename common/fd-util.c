/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fd-util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"

int fd_set_cloexec(int fd, bool on)
{
	int flags = fcntl(fd, F_GETFD);

	if (flags < 0)
		return -errno;
	flags = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
	if (fcntl(fd, F_SETFD, flags) < 0)
		return -errno;
	return 0;
}

int fd_set_nonblock(int fd, bool on)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0)
		return -errno;
	flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
	if (fcntl(fd, F_SETFL, flags) < 0)
		return -errno;
	return 0;
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

int fd_close_all_except(const int *keep, size_t n_keep)
{
	int sorted[256];
	unsigned int from = 3;

	if (n_keep > ELEMENTSOF(sorted))
		return -E2BIG;
	for (size_t i = 0; i < n_keep; i++)
		sorted[i] = keep[i];
	qsort(sorted, n_keep, sizeof(int), cmp_int);
	/* close_range() between the kept fds: no /proc needed, which matters
	 * in a child that may not have /proc mounted yet. */
	for (size_t i = 0; i <= n_keep; i++) {
		unsigned int to = i < n_keep ? (unsigned int)sorted[i] : ~0U;

		if (i < n_keep && sorted[i] < (int)from) {
			if (sorted[i] >= 3)
				from = (unsigned int)sorted[i] + 1;
			continue;
		}
		if (to > from && syscall(SYS_close_range, from, to - 1, 0) < 0)
			return -errno;
		if (i < n_keep)
			from = to + 1;
	}
	return 0;
}

int fd_count_open(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own fd */
}

ssize_t fd_send(int sock, const struct iovec *iov, size_t n_iov, int fd, int flags)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = n_iov};
	ssize_t n;

	if (fd >= 0) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof(u.buf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	do
		n = sendmsg(sock, &msg, flags);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}
