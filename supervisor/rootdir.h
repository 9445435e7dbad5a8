/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A container's Directory= as the daemon touches it: the tree itself must
 * be safe from host users (common/safe-path.h).
 */
#pragma once

#include <sys/types.h>

/* The longest why of the functions below. */
#define ROOTDIR_WHY_MAX 4352

/* Opens Directory= (O_PATH) after checking that no user but root or the
 * daemon's uid can change the tree's path: it and every directory above it
 * owned by root (or the daemon's uid) and not writable by group or others,
 * the directory itself without the sticky exception of /tmp. Returns 0 and
 * *ret_fd (NULL: checks only), or a negative errno and, in why, what is
 * wrong ("/srv is writable by its group (mode 0775)"). */
int rootdir_open(const char *directory, int *ret_fd, char *why, size_t why_len);
