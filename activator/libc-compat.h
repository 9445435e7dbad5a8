/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * <sys/mount.h>, and what musl (nsinetd-init's C library where musl-gcc is
 * installed, supervisor/meson.build) lacks of glibc 2.36: wrappers of the
 * new mount API, statx() and execveat(). Under glibc this is <sys/mount.h>
 * and <sys/stat.h> and nothing more.
 */
#pragma once

#include <sys/mount.h>
#include <sys/stat.h>

#ifndef __GLIBC__
#include <linux/mount.h>
#include <linux/stat.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline int fsopen(const char *name, unsigned int flags)
{
	return (int)syscall(SYS_fsopen, name, flags);
}

static inline int fsconfig(int fd, unsigned int cmd, const char *key, const void *value, int aux)
{
	return (int)syscall(SYS_fsconfig, fd, cmd, key, value, aux);
}

static inline int fsmount(int fd, unsigned int flags, unsigned int attrs)
{
	return (int)syscall(SYS_fsmount, fd, flags, attrs);
}

static inline int move_mount(int from_fd, const char *from, int to_fd, const char *to,
			     unsigned int flags)
{
	return (int)syscall(SYS_move_mount, from_fd, from, to_fd, to, flags);
}

static inline int open_tree(int fd, const char *path, unsigned int flags)
{
	return (int)syscall(SYS_open_tree, fd, path, flags);
}

static inline int mount_setattr(int fd, const char *path, unsigned int flags,
				struct mount_attr *attr, size_t size)
{
	return (int)syscall(SYS_mount_setattr, fd, path, flags, attr, size);
}

static inline int statx(int fd, const char *path, int flags, unsigned int mask, struct statx *buf)
{
	return (int)syscall(SYS_statx, fd, path, flags, mask, buf);
}

static inline int execveat(int fd, const char *path, char *const argv[], char *const envp[],
			   int flags)
{
	return (int)syscall(SYS_execveat, fd, path, argv, envp, flags);
}
#endif
