/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * User namespaces: the parent writes the child's uid and gid maps between
 * clone3() and the release (a process cannot map itself with more than
 * its own uid). Root maps the container's 0..range-1 to an unprivileged
 * host range chosen by the supervisor; an unprivileged caller may only map
 * its own uid, once, and must deny setgroups() first (the kernel's rule,
 * against dropping a group that denies access).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "activator-internal.h"
#include "common/cleanup.h"

static int write_proc(pid_t pid, const char *file, const char *text)
{
	char path[64];
	_cleanup_close_ int fd = -1;
	size_t len = strlen(text);
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	n = write(fd, text, len);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

int userns_write_maps(const struct activator_spec *spec, pid_t pid)
{
	char map[64];
	int r;

	if (!(spec->namespaces & CLONE_NEWUSER))
		return 0;
	if (spec->userns_range == 0)
		return -EINVAL;
	/* Unprivileged (rootless): one uid, our own; setgroups denied. */
	if (geteuid() != 0) {
		r = write_proc(pid, "setgroups", "deny");
		if (r < 0)
			return r;
	}
	snprintf(map, sizeof(map), "0 %u %u\n", (unsigned)spec->userns_shift,
		 (unsigned)spec->userns_range);
	r = write_proc(pid, "uid_map", map);
	if (r < 0)
		return r;
	if (geteuid() != 0)
		snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)getegid());
	return write_proc(pid, "gid_map", map);
}
