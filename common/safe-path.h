/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Paths that no user but root (and the daemon's own uid) can redirect: a
 * socket's directory, a container's Directory=. A path is safe when every
 * directory on the way, from / to its end, and every symbolic link followed
 * on the way, is owned by root or the trusted uid, and no directory is
 * writable by its group or by others. One exception, for directories like
 * /tmp: a directory that is sticky and owned by root may be writable by
 * all, since there nobody can rename or remove an entry that is not theirs;
 * what comes after it must still be owned by root or the trusted uid.
 * SAFE_PATH_STRICT_LAST refuses that exception for the last directory
 * (a Directory= tree, in which anyone could otherwise plant files).
 */
#pragma once

#include <limits.h>
#include <sys/types.h>

enum {
	SAFE_PATH_CREATE = 1 << 0,      /* mkdir missing directories (mode), never through links */
	SAFE_PATH_STRICT_LAST = 1 << 1, /* no sticky exception for the last directory */
};

/* What was wrong, for messages: "PATH is WHY" ("/srv/x is owned by uid
 * 1000"); why is empty when the walk failed with an errno at path. */
struct safe_path_error {
	char path[PATH_MAX];
	char why[128];
};

/*
 * Walks the absolute path from / one component at a time (openat() with
 * O_NOFOLLOW; a symbolic link is read and its target walked the same way,
 * at most 40 of them), checking each directory as above. Returns 0 and an
 * O_PATH|O_DIRECTORY fd of the last directory in *ret_fd (NULL: none);
 * -EPERM when the path is not safe; -ENOTDIR, -ELOOP, -ENOENT (without
 * SAFE_PATH_CREATE: every directory before the missing one was safe) or
 * another negative errno. err says where and why.
 */
int safe_path_open_dir(const char *path, uid_t trusted_uid, unsigned flags, mode_t mode,
		       int *ret_fd, struct safe_path_error *err);
