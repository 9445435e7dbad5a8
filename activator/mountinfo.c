/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "mountinfo.h"

#include <errno.h>
#include <string.h>

const char *const mountinfo_api_dirs[MOUNTINFO_API_DIRS] = {"proc", "sys", "dev", "tmp", "run"};

bool mountinfo_path_below(const char *path, const char *prefix)
{
	size_t n;

	while (*path == '/')
		path++;
	while (*prefix == '/')
		prefix++;
	n = strlen(prefix);
	return strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* mountinfo escapes ' ', '\t', '\n' and '\\' as \ooo; in place. */
static void unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++, w++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w = *r;
		}
	}
	*w = '\0';
}

static bool below_api_dir(const char *rel)
{
	for (size_t i = 0; i < MOUNTINFO_API_DIRS; i++)
		if (mountinfo_path_below(rel, mountinfo_api_dirs[i]))
			return true;
	return false;
}

int mountinfo_submounts(char *buf, const char *root, const char **rel, size_t max)
{
	size_t clen = strcmp(root, "/") == 0 ? 0 : strlen(root), n = 0;

	for (char *line = buf, *next; line && *line; line = next) {
		char *f[5], *save = NULL, *r;
		size_t k = 0;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		/* id parent major:minor root mount-point … */
		for (char *t = strtok_r(line, " ", &save); t && k < 5;
		     t = strtok_r(NULL, " ", &save))
			f[k++] = t;
		if (k < 5)
			return -EBADMSG;
		r = f[4];
		unescape(r);
		if (strncmp(r, root, clen) != 0 || (clen && r[clen] != '/'))
			continue;
		r += clen;
		while (*r == '/')
			r++;
		if (!*r || below_api_dir(r))
			continue;
		if (n == max)
			return -E2BIG;
		rel[n++] = r;
	}
	return (int)n;
}
