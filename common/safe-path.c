/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "safe-path.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"

#define SAFE_PATH_MAX_LINKS 40 /* the kernel's MAXSYMLINKS */

static int fail(struct safe_path_error *err, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct safe_path_error *err, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->why, sizeof(err->why), fmt, ap);
	va_end(ap);
	return r;
}

/* Appends "/name" to the path in buf (of size len), or "name" to "/";
 * a path that would not fit is left as it is (only messages use it). */
static void path_push(char *buf, size_t len, const char *name)
{
	size_t n = strlen(buf), k = strlen(name);
	bool slash = strcmp(buf, "/") != 0;

	if (n + slash + k >= len)
		return;
	if (slash)
		buf[n++] = '/';
	memcpy(buf + n, name, k + 1);
}

/* err->path = where/name (name may be NULL). */
static void set_where(struct safe_path_error *err, const char *where, const char *name)
{
	size_t n = strlen(where);

	if (n >= sizeof(err->path))
		n = sizeof(err->path) - 1;
	memcpy(err->path, where, n);
	err->path[n] = '\0';
	if (name)
		path_push(err->path, sizeof(err->path), name);
}

static void where_pop(char *where)
{
	char *slash = strrchr(where, '/');

	if (slash == where)
		where[1] = '\0';
	else if (slash)
		*slash = '\0';
}

static int fail_owner(struct safe_path_error *err, const char *what, uid_t uid, uid_t trusted_uid)
{
	if (trusted_uid == 0)
		return fail(err, -EPERM, "%sowned by uid %u, not by root", what, (unsigned)uid);
	return fail(err, -EPERM, "%sowned by uid %u, neither root nor uid %u (the daemon's)", what,
		    (unsigned)uid, (unsigned)trusted_uid);
}

static int check_dir(int fd, uid_t trusted_uid, bool strict, struct safe_path_error *err)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return fail(err, -ENOTDIR, "not a directory");
	if (st.st_uid != 0 && st.st_uid != trusted_uid)
		return fail_owner(err, "", st.st_uid, trusted_uid);
	if (!(st.st_mode & (S_IWGRP | S_IWOTH)))
		return 0;
	/* As /tmp: others may add entries, not rename or remove ours. */
	if (!strict && (st.st_mode & S_ISVTX) && st.st_uid == 0)
		return 0;
	return fail(err, -EPERM, "writable by %s (mode %04o)",
		    st.st_mode & S_IWOTH ? "every user" : "its group",
		    (unsigned)(st.st_mode & 07777));
}

static int open_root(uid_t trusted_uid, char *where, size_t len, struct safe_path_error *err)
{
	int fd, r;

	snprintf(where, len, "/");
	set_where(err, where, NULL);
	fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = check_dir(fd, trusted_uid, false, err);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

int safe_path_open_dir(const char *path, uid_t trusted_uid, unsigned flags, mode_t mode,
		       int *ret_fd, struct safe_path_error *err)
{
	_cleanup_close_ int fd = -1;
	char rest[PATH_MAX], where[PATH_MAX], name[NAME_MAX + 1];
	unsigned links = 0;
	const char *p;
	int r;

	err->why[0] = '\0';
	set_where(err, path, NULL);
	if (path[0] != '/')
		return -EINVAL;
	if (strlen(path) >= sizeof(rest))
		return -ENAMETOOLONG;
	strcpy(rest, path);
	fd = open_root(trusted_uid, where, sizeof(where), err);
	if (fd < 0)
		return fd;
	for (p = rest;;) {
		struct stat st;
		size_t n;
		int nfd;

		p += strspn(p, "/");
		if (!*p)
			break;
		n = strcspn(p, "/");
		if (n > NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(name, p, n);
		name[n] = '\0';
		p += n;
		if (strcmp(name, ".") == 0)
			continue;
		set_where(err, where, name);
		if (strcmp(name, "..") == 0) {
			nfd = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (nfd < 0)
				return -errno;
			close(fd);
			fd = nfd;
			where_pop(where);
			set_where(err, where, NULL);
			r = check_dir(fd, trusted_uid, false, err);
			if (r < 0)
				return r;
			continue;
		}
		r = fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW);
		if (r < 0 && errno == ENOENT && (flags & SAFE_PATH_CREATE)) {
			/* In a safe directory: nobody else can put a link here
			 * meanwhile (EEXIST is then a directory of ours). */
			if (mkdirat(fd, name, mode) < 0 && errno != EEXIST)
				return -errno;
			r = fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW);
		}
		if (r < 0)
			return -errno;
		if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX], left[PATH_MAX];
			ssize_t k;

			/* Its directory is safe; so must its owner be (a sticky
			 * /tmp holds anybody's links). Then its target is walked
			 * like the rest. */
			if (st.st_uid != 0 && st.st_uid != trusted_uid)
				return fail_owner(err, "a symbolic link ", st.st_uid, trusted_uid);
			if (++links > SAFE_PATH_MAX_LINKS)
				return -ELOOP;
			k = readlinkat(fd, name, target, sizeof(target) - 1);
			if (k < 0)
				return -errno;
			target[k] = '\0';
			snprintf(left, sizeof(left), "%s", p);
			if ((size_t)snprintf(rest, sizeof(rest), "%s/%s", target, left) >=
			    sizeof(rest))
				return -ENAMETOOLONG;
			p = rest;
			if (target[0] == '/') {
				close(fd);
				fd = open_root(trusted_uid, where, sizeof(where), err);
				if (fd < 0)
					return fd;
			}
			continue;
		}
		nfd = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0)
			return -errno;
		close(fd);
		fd = nfd;
		path_push(where, sizeof(where), name);
		r = check_dir(fd, trusted_uid, false, err);
		if (r < 0)
			return r;
	}
	set_where(err, where, NULL);
	if ((flags & SAFE_PATH_STRICT_LAST) && (r = check_dir(fd, trusted_uid, true, err)) < 0)
		return r;
	if (ret_fd)
		*ret_fd = TAKE_FD(fd);
	return 0;
}
