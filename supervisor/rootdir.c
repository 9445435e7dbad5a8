/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "rootdir.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/parse.h"
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

int rootdir_check_private(const char *directory, char *why, size_t why_len)
{
	char real[PATH_MAX], prefix[PATH_MAX];
	size_t len;

	/* rootdir_open() has checked that no link on the way is a user's. */
	if (!realpath(directory, real))
		return -errno;
	len = strlen(real);
	for (size_t i = 1; i <= len; i++) {
		struct stat st;

		if (i < len && real[i] != '/')
			continue;
		memcpy(prefix, real, i);
		prefix[i] = '\0';
		if (stat(prefix, &st) < 0)
			return -errno;
		if (S_ISDIR(st.st_mode) && (st.st_uid == 0 || st.st_uid == geteuid()) &&
		    !(st.st_mode & 0011))
			return 0;
	}
	snprintf(why, why_len,
		 "writable (ReadOnly=no), and host users can reach it: a setuid file the "
		 "container makes there would be theirs to run; keep the tree below a directory "
		 "only root can enter (mode 0700, as /var/lib/machines), or set ReadOnly=yes");
	return -EPERM;
}

static int db_error(int r, const char *rel, char *why, size_t why_len)
{
	snprintf(why, why_len, "cannot read the tree's /%s: %s", rel, strerror(-r));
	return r;
}

/* Reads root/rel into *ret (NUL-terminated). */
static int read_db(int root_fd, const char *rel, char **ret, char *why, size_t why_len)
{
	struct open_how how = {
	    /* O_PATH first: opening a FIFO or a device for reading may block
	     * or act; only a regular file is opened for real, below. */
	    .flags = O_PATH | O_CLOEXEC,
	    /* Links, absolute ones and "..", resolve inside the tree: its
	     * /etc/passwd -> /etc/shadow is the tree's own shadow. */
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	_cleanup_close_ int path_fd = -1, fd = -1;
	_cleanup_free_ char *buf = NULL;
	char proc[64];
	struct stat st, st2;
	size_t size = 0;

	path_fd = (int)syscall(SYS_openat2, root_fd, rel, &how, sizeof(how));
	if (path_fd < 0 || fstat(path_fd, &st) < 0)
		return db_error(-errno, rel, why, why_len);
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, why_len, "the tree's /%s is not a regular file", rel);
		return -EINVAL;
	}
	if (st.st_size > ROOTDIR_MAX_DB_SIZE) {
		snprintf(why, why_len, "the tree's /%s is too big (more than %d bytes)", rel,
			 ROOTDIR_MAX_DB_SIZE);
		return -EFBIG;
	}
	/* The same file, for reading, through the O_PATH fd's magic link;
	 * O_NONBLOCK all the same. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", path_fd);
	fd = open(proc, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st2) < 0)
		return db_error(-errno, rel, why, why_len);
	if (st2.st_dev != st.st_dev || st2.st_ino != st.st_ino)
		return db_error(-ESTALE, rel, why, why_len);
	buf = malloc(ROOTDIR_MAX_DB_SIZE + 1);
	if (!buf)
		return db_error(-ENOMEM, rel, why, why_len);
	/* One byte more than allowed tells a file that grew meanwhile. */
	while (size <= ROOTDIR_MAX_DB_SIZE) {
		ssize_t k = read(fd, buf + size, ROOTDIR_MAX_DB_SIZE + 1 - size);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return db_error(-errno, rel, why, why_len);
		if (k == 0)
			break;
		size += (size_t)k;
	}
	if (size > ROOTDIR_MAX_DB_SIZE) {
		snprintf(why, why_len, "the tree's /%s is too big (more than %d bytes)", rel,
			 ROOTDIR_MAX_DB_SIZE);
		return -EFBIG;
	}
	buf[size] = '\0';
	*ret = TAKE_PTR(buf);
	return 0;
}

/* Finds the line of db whose first ':'-separated field is name and splits
 * it (in place) into at most max fields. Returns how many, or -ESRCH. */
static int db_find(char *db, const char *name, char **fields, int max)
{
	for (char *line = db, *next; line && *line; line = next) {
		int n = 0;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strncmp(line, name, strlen(name)) != 0 || line[strlen(name)] != ':')
			continue;
		for (char *f = line; f && n < max; n++) {
			fields[n] = f;
			f = strchr(f, ':');
			if (f)
				*f++ = '\0';
		}
		return n;
	}
	return -ESRCH;
}

static int id_field(const char *s, uint32_t *ret)
{
	uint64_t v;
	int r = parse_uint(s, 0, UINT32_MAX - 1, &v);

	if (r >= 0)
		*ret = (uint32_t)v;
	return r;
}

static int malformed(const char *rel, const char *name, char *why, size_t why_len)
{
	snprintf(why, why_len, "the tree's /%s has a malformed line for %s", rel, name);
	return -EBADMSG;
}

/* Reads the tree's rel and finds the entry of name (a kind: "user"), of
 * min to max fields, into fields; *ret_db holds them (the caller frees). */
static int db_entry(int root_fd, const char *rel, const char *kind, const char *name, char **fields,
		    int min, int max, char **ret_db, char *why, size_t why_len)
{
	int n, r;

	r = read_db(root_fd, rel, ret_db, why, why_len);
	if (r < 0)
		return r;
	n = db_find(*ret_db, name, fields, max);
	if (n < 0) {
		snprintf(why, why_len, "no %s %s in the tree's /%s", kind, name, rel);
		return n;
	}
	return n < min ? malformed(rel, name, why, why_len) : n;
}

int rootdir_lookup_user(int root_fd, const char *user, uid_t *ret_uid, gid_t *ret_gid,
			char **ret_home, char *why, size_t why_len)
{
	_cleanup_free_ char *db = NULL;
	char *f[7];
	uint32_t uid, gid;
	int r;

	/* name:password:uid:gid:gecos:home:shell */
	r = db_entry(root_fd, "etc/passwd", "user", user, f, 6, 7, &db, why, why_len);
	if (r < 0)
		return r;
	if (id_field(f[2], &uid) < 0 || id_field(f[3], &gid) < 0)
		return malformed("etc/passwd", user, why, why_len);
	*ret_home = strdup(f[5]);
	if (!*ret_home)
		return db_error(-ENOMEM, "etc/passwd", why, why_len);
	*ret_uid = uid;
	*ret_gid = gid;
	return 0;
}

int rootdir_lookup_group(int root_fd, const char *group, gid_t *ret_gid, char *why, size_t why_len)
{
	_cleanup_free_ char *db = NULL;
	char *f[4];
	uint32_t gid;
	int r;

	/* name:password:gid:members */
	r = db_entry(root_fd, "etc/group", "group", group, f, 3, 4, &db, why, why_len);
	if (r < 0)
		return r;
	if (id_field(f[2], &gid) < 0)
		return malformed("etc/group", group, why, why_len);
	*ret_gid = gid;
	return 0;
}
