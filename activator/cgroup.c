/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cgroup v2 placement, freezer and kill. Where the hierarchy is mounted
 * and where we sit in it are read from /proc, never assumed: on a hybrid
 * host cgroup2 is at /sys/fs/cgroup/unified, not /sys/fs/cgroup.
 */
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void mountinfo_unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r;) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)(((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

/* The mount point of the first cgroup2 file system in our namespace. */
static int cgroup_find_mount(char **ret)
{
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *line = NULL;
	size_t size = 0;

	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	while (getline(&line, &size, f) > 0) {
		/* id parent major:minor root mount-point options [optional…] - fstype … */
		char *sep = strstr(line, " - "), *save = NULL, *field = NULL;

		if (!sep || strncmp(sep + 3, "cgroup2 ", 8) != 0)
			continue;
		*sep = '\0';
		field = strtok_r(line, " ", &save);
		for (int i = 0; i < 4 && field; i++)
			field = strtok_r(NULL, " ", &save);
		if (!field)
			continue;
		mountinfo_unescape(field);
		*ret = strdup(field);
		return *ret ? 0 : -ENOMEM;
	}
	return -ENOENT;
}

/* Our cgroup in the v2 hierarchy: the "0::" line of /proc/self/cgroup. */
static int cgroup_find_self(char **ret)
{
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *line = NULL;
	size_t size = 0;
	ssize_t n;

	f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return -errno;
	while ((n = getline(&line, &size, f)) > 0) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		if (line[n - 1] == '\n')
			line[n - 1] = '\0';
		*ret = strdup(line + 3);
		return *ret ? 0 : -ENOMEM;
	}
	return -ENOENT;
}

int cgroup_root_find(struct cgroup_root *ret)
{
	_cleanup_free_ char *mount = NULL, *self = NULL;
	int r;

	if (!ret)
		return -EINVAL;
	r = cgroup_find_mount(&mount);
	if (r < 0)
		return r;
	r = cgroup_find_self(&self);
	if (r < 0)
		return r;
	ret->mount = TAKE_PTR(mount);
	ret->self = TAKE_PTR(self);
	return 0;
}

void cgroup_root_done(struct cgroup_root *r)
{
	if (!r)
		return;
	free(r->mount);
	free(r->self);
	r->mount = r->self = NULL;
}

/* A relative path of plain names: nothing that could climb out of (or
 * reach a file of) our own cgroup. */
static bool cgroup_rel_valid(const char *rel)
{
	const char *p = rel;

	if (!rel || !*rel || *rel == '/' || strlen(rel) >= PATH_MAX / 2)
		return false;
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (n > NAME_MAX)
			return false;
		p += n;
		if (*p == '/')
			p++;
	}
	return p[-1] != '/';
}

int cgroup_create(const struct cgroup_root *r, const char *rel, int *ret_fd, char **ret_path)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -1;
	const char *self;
	size_t base_len;

	if (!r || !r->mount || !r->self || !ret_fd || !ret_path || !cgroup_rel_valid(rel))
		return -EINVAL;
	self = strcmp(r->self, "/") == 0 ? "" : r->self;
	if (asprintf(&path, "%s%s/%s", r->mount, self, rel) < 0) {
		path = NULL;
		return -ENOMEM;
	}
	/* mkdir -p of rel only: everything above is ours to sit in, not to
	 * create. The leaf first: its parents are there but for the first
	 * start of a service (one mkdir a sandbox, where the walk took three). */
	base_len = strlen(r->mount) + strlen(self) + 1;
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		goto open;
	if (errno != ENOENT)
		return -errno;
	for (char *p = path + base_len;; p++) {
		if (*p == '/' || *p == '\0') {
			char saved = *p;

			*p = '\0';
			if (mkdir(path, 0755) < 0 && errno != EEXIST)
				return -errno;
			*p = saved;
			if (saved == '\0')
				break;
		}
	}
open:
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	*ret_path = TAKE_PTR(path);
	return 0;
}

static int cgroup_write(const char *path, const char *file, const char *value)
{
	char p[PATH_MAX];
	_cleanup_close_ int fd = -1;
	size_t len = strlen(value);

	if ((size_t)snprintf(p, sizeof(p), "%s/%s", path, file) >= sizeof(p))
		return -ENAMETOOLONG;
	fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, value, len) != (ssize_t)len)
		return negative_errno();
	return 0;
}

/* The number of a "key value" line of a flat-keyed file (cgroup.events,
 * cpu.stat). -ENOENT if the key is not there. */
static int cgroup_read_key(const char *path, const char *file, const char *key, uint64_t *ret)
{
	char p[PATH_MAX], buf[1024];
	_cleanup_close_ int fd = -1;
	size_t klen = strlen(key);
	ssize_t n;

	if ((size_t)snprintf(p, sizeof(p), "%s/%s", path, file) >= sizeof(p))
		return -ENAMETOOLONG;
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	for (char *line = buf; line && *line;) {
		char *next = strchr(line, '\n');

		if (next)
			*next++ = '\0';
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
			*ret = strtoull(line + klen + 1, NULL, 10);
			return 0;
		}
		line = next;
	}
	return -ENOENT;
}

/* The value of one line of cgroup.events: 0 or 1. */
static int cgroup_event(const char *path, const char *key)
{
	uint64_t v;
	int r = cgroup_read_key(path, "cgroup.events", key, &v);

	return r < 0 ? r : v ? 1 : 0;
}

int cgroup_freeze(const char *path, bool freeze)
{
	int r = cgroup_write(path, "cgroup.freeze", freeze ? "1" : "0");

	return r == -ENOENT ? -EOPNOTSUPP : r;
}

int cgroup_frozen(const char *path)
{
	return cgroup_event(path, "frozen");
}

int cgroup_events_watch(const char *path, int *ret_fd)
{
	char p[PATH_MAX];
	_cleanup_close_ int fd = -1;

	if ((size_t)snprintf(p, sizeof(p), "%s/cgroup.events", path) >= sizeof(p))
		return -ENAMETOOLONG;
	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (inotify_add_watch(fd, p, IN_MODIFY) < 0)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int cgroup_kill(const char *path)
{
	int r = cgroup_write(path, "cgroup.kill", "1");

	/* No cgroup.kill before Linux 5.14. */
	return r == -ENOENT ? -EOPNOTSUPP : r;
}

int cgroup_populated(const char *path)
{
	return cgroup_event(path, "populated");
}

/* rmdir of every cgroup below dir_fd, deepest first: a booted init
 * leaves its own tree (init.scope, system.slice/…) in the container's
 * cgroup. A cgroup file system holds only cgroup directories and their
 * files, no symlinks; the depth is bounded by cgroup.max.depth where the
 * daemon delegates (cgroup_delegate()), and here too. */
static int cgroup_remove_below(int dir_fd, int depth)
{
	DIR *d;
	struct dirent *de;
	int fd, r = 0;

	if (depth > CGROUP_DEPTH_MAX)
		return -ELOOP;
	fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		_cleanup_close_ int sub = -1;

		if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		sub = openat(dir_fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0) {
			r = -errno;
			continue;
		}
		if (cgroup_remove_below(sub, depth + 1) < 0)
			r = -EBUSY;
		if (unlinkat(dir_fd, de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT)
			r = -errno;
	}
	closedir(d);
	return r;
}

int cgroup_remove(const char *path)
{
	if (rmdir(path) == 0)
		return 0;
	if (errno == EBUSY || errno == ENOTEMPTY) {
		_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd < 0)
			return -errno;
		(void)cgroup_remove_below(fd, 1);
		if (rmdir(path) == 0)
			return 0;
	}
	return -errno;
}

int cgroup_delegate(const char *path, uid_t uid, gid_t gid)
{
	static const char *const files[] = {".", "cgroup.procs", "cgroup.threads",
					    "cgroup.subtree_control"};
	_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char depth[16];
	int r;

	if (fd < 0)
		return -errno;
	/* Bounds what the container may build, and what cgroup_remove()
	 * walks; files the container cannot write (they stay root's). */
	snprintf(depth, sizeof(depth), "%d", CGROUP_DEPTH_MAX - 1);
	r = cgroup_write(path, "cgroup.max.depth", depth);
	if (r < 0)
		return r;
	r = cgroup_write(path, "cgroup.max.descendants", "4096");
	if (r < 0)
		return r;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (fchownat(fd, files[i], uid, gid, i == 0 ? AT_EMPTY_PATH : 0) < 0 &&
		    !(errno == ENOENT && i == 2)) /* cgroup.threads: no threaded mode here */
			return -errno;
	return 0;
}

int cgroup_cpu_usage(const char *path, uint64_t *ret_usec)
{
	return cgroup_read_key(path, "cpu.stat", "usage_usec", ret_usec);
}
