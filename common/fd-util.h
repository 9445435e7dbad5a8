/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

int fd_set_cloexec(int fd, bool on);
int fd_set_nonblock(int fd, bool on);
/* Closes every fd >= 3 not in keep[] (close_range() where it can). */
int fd_close_all_except(const int *keep, size_t n_keep);
struct iovec;
/* sendmsg() of iov, with fd attached (SCM_RIGHTS) when fd >= 0. Returns the
 * bytes sent or a negative errno; retried on EINTR. */
ssize_t fd_send(int sock, const struct iovec *iov, size_t n_iov, int fd, int flags);
/* Number of open fds of this process (from /proc/self/fd), or -errno. */
int fd_count_open(void);
