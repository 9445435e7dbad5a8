/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which of the mounts in /proc/self/mountinfo a container keeps below its
 * root: all but those under the directories that get file systems of
 * their own (the API directories). Shared by nsinetd-init, which reads
 * mountinfo itself where the spec does not bring the list, and the
 * daemon, which keeps the list for the host's / (supervisor/hostmounts.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Below a container's root, each gets a file system of its own. */
#define MOUNTINFO_API_DIRS 5
extern const char *const mountinfo_api_dirs[MOUNTINFO_API_DIRS];

/* The most mounts below a root that are cloned one by one; with more, the
 * whole tree is cloned at once (rootfs.c). */
#define MOUNTINFO_SUBMOUNTS_MAX 256
/* The most of /proc/self/mountinfo that is read. */
#define MOUNTINFO_SIZE_MAX (4u << 20)

/* Whether path is prefix or below it ("/run/x" is below "run"); leading
 * slashes of either do not count. */
bool mountinfo_path_below(const char *path, const char *prefix);

/*
 * buf: the text of /proc/self/mountinfo, NUL-terminated, changed in place
 * (each mount point unescaped and cut out). Stores in rel[] each mount
 * point strictly below root (canonical, absolute) and not under an API
 * directory, relative to root without a leading '/', in buf. Returns how
 * many, -E2BIG for more than max, -EBADMSG for a line that does not parse.
 */
int mountinfo_submounts(char *buf, const char *root, const char **rel, size_t max);
