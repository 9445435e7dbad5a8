/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "rootdir.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "common/safe-path.h"

int rootdir_open(const char *directory, int *ret_fd, char *why, size_t why_len)
{
	struct safe_path_error err;
	int r;

	r = safe_path_open_dir(directory, geteuid(), SAFE_PATH_STRICT_LAST, 0, ret_fd, &err);
	/* Followed by ": <strerror>" in the log. */
	if (r == -EPERM)
		snprintf(why, why_len,
			 "%s is %s: a host user other than root could plant or swap files in the "
			 "container's tree",
			 err.path, err.why);
	else if (r < 0)
		snprintf(why, why_len, "%s%s%s", err.path, err.why[0] ? " is " : "", err.why);
	return r;
}
