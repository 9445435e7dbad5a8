/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cgroup v2: where it is mounted, where this process sits in it, and the
 * per-container directories below that. Found through /proc/self/mountinfo
 * and /proc/self/cgroup, never by a fixed path. Only cgroups this process
 * created are ever written to or removed.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct cgroup_root {
	char *mount; /* cgroup2 mount point, e.g. /sys/fs/cgroup/unified */
	char *self;  /* this process's cgroup, relative, e.g. "/" or "/system.slice/x" */
};

/* -ENOENT if no cgroup2 file system is mounted. */
int cgroup_root_find(struct cgroup_root *ret);
void cgroup_root_done(struct cgroup_root *r);

/* Creates (mkdir, EEXIST accepted) the directory mount/self/rel and returns
 * an O_DIRECTORY|O_CLOEXEC fd for CLONE_INTO_CGROUP in *ret_fd, and the
 * absolute path in *ret_path (caller frees). */
int cgroup_create(const struct cgroup_root *r, const char *rel, int *ret_fd, char **ret_path);
/* Asks the kernel to freeze (true) or thaw a cgroup: writes cgroup.freeze
 * and returns at once. The change completes asynchronously (each task
 * stops at its next return to user space): cgroup_frozen() says when, and
 * cgroup_events_watch() wakes the caller when it may have. -EOPNOTSUPP
 * without a freezer. */
int cgroup_freeze(const char *path, bool freeze);
/* 1 if the cgroup is frozen (cgroup.events "frozen 1"), 0 if not. */
int cgroup_frozen(const char *path);
/* An inotify fd (non-blocking, close-on-exec) that becomes readable when
 * cgroup.events changes (the kernel's documented notification: IN_MODIFY);
 * read and discard its records before looking again. */
int cgroup_events_watch(const char *path, int *ret_fd);
/* Writes "1" to cgroup.kill (SIGKILL to every process below). -EOPNOTSUPP
 * on kernels without it. */
int cgroup_kill(const char *path);
/* 1 if any process is in the cgroup or below (cgroup.events populated). */
int cgroup_populated(const char *path);
/* rmdir, of the cgroups below it first (a booted init's tree); -EBUSY
 * while populated. */
int cgroup_remove(const char *path);
/* How deep a delegated cgroup's tree may go (cgroup_delegate()). */
#define CGROUP_DEPTH_MAX 32
/* Boot=yes: hands the cgroup to the container's root (uid, gid of the
 * host): its directory, cgroup.procs, cgroup.threads and
 * cgroup.subtree_control, as systemd's Delegate=yes; every other file
 * (the limits, cgroup.freeze, cgroup.kill) stays root's. Bounds its tree
 * (cgroup.max.depth, cgroup.max.descendants 4096) first. */
int cgroup_delegate(const char *path, uid_t uid, gid_t gid);
/* CPU time used by the cgroup and below, from cpu.stat usage_usec (cgroup
 * v2 keeps it without any controller enabled). */
int cgroup_cpu_usage(const char *path, uint64_t *ret_usec);
