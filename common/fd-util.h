/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

int fd_set_cloexec(int fd, bool on);
int fd_set_nonblock(int fd, bool on);
/* Closes every fd >= 3 not in keep[] (close_range() where it can). */
int fd_close_all_except(const int *keep, size_t n_keep);
/* Number of open fds of this process (from /proc/self/fd), or -errno. */
int fd_count_open(void);
