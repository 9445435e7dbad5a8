/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A container's Directory= as the daemon touches it: the tree itself must
 * be safe from host users (common/safe-path.h), and what the daemon reads
 * in it (User= and Group= in etc/passwd and etc/group) is read without
 * leaving the tree, blocking, or reading without bound: the tree's content
 * is the container's, not trusted.
 */
#pragma once

#include <sys/types.h>

/* The most the daemon reads of the tree's etc/passwd or etc/group. */
#define ROOTDIR_MAX_DB_SIZE (4 * 1024 * 1024)

/* The longest why of the functions below. */
#define ROOTDIR_WHY_MAX 4352

/* Opens Directory= (O_PATH) after checking that no user but root or the
 * daemon's uid can change the tree's path: it and every directory above it
 * owned by root (or the daemon's uid) and not writable by group or others,
 * the directory itself without the sticky exception of /tmp. Returns 0 and
 * *ret_fd (NULL: checks only), or a negative errno and, in why, what is
 * wrong ("/srv is writable by its group (mode 0775)"). */
int rootdir_open(const char *directory, int *ret_fd, char *why, size_t why_len);

/* A writable tree (ReadOnly=no): the container's root makes files there
 * that the host's root owns (through the idmapped mount), a setuid one
 * too. So no host user but root may even reach it: some directory on the
 * way, the tree included, must be owned by root (or the daemon's uid) and
 * closed to its group and others (no x bit for them), as nspawn keeps its
 * trees in a 0700 /var/lib/machines. 0, or -EPERM with why. */
int rootdir_check_private(const char *directory, char *why, size_t why_len);

/* User= and Group= names in the tree's etc/passwd and etc/group, opened
 * below root_fd (from rootdir_open()) with every link resolved inside the
 * tree, refused unless a regular file of at most ROOTDIR_MAX_DB_SIZE bytes.
 * Return 0, -ESRCH when the name is not there, or another negative errno;
 * on failure why says it all ("the tree's /etc/passwd is not a regular
 * file", "cannot read the tree's /etc/group: Permission denied"). */
int rootdir_lookup_user(int root_fd, const char *user, uid_t *ret_uid, gid_t *ret_gid,
			char **ret_home, char *why, size_t why_len);
int rootdir_lookup_group(int root_fd, const char *group, gid_t *ret_gid, char *why, size_t why_len);
