/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/safe-path.h"
#include "tests/unit/tap.h"

#define NOBODY 65534

static char base[64] = "/tmp/test-safe-path-XXXXXX";

static const char *at(const char *rel)
{
	static char buf[4][PATH_MAX];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s%s%s", base, *rel ? "/" : "", rel);
	return buf[i];
}

static void make_dir(const char *rel, mode_t mode, uid_t uid)
{
	if (mkdir(at(rel), 0700) < 0 || chmod(at(rel), mode) < 0 ||
	    lchown(at(rel), uid, (gid_t)-1) < 0)
		printf("# cannot make %s: %s\n", at(rel), strerror(errno));
}

static void make_link(const char *rel, const char *target, uid_t uid)
{
	if (symlink(target, at(rel)) < 0 || lchown(at(rel), uid, (gid_t)-1) < 0)
		printf("# cannot make %s: %s\n", at(rel), strerror(errno));
}

/* Expects r from walking rel (with flags); for -EPERM also the message. */
static void check(const char *rel, uid_t trusted, unsigned flags, int expect, const char *where,
		  const char *why)
{
	struct safe_path_error err;
	int fd = -1;
	int r = safe_path_open_dir(at(rel), trusted, flags, 0755, &fd, &err);

	is_int(r, expect, "%s (trusted uid %u, flags %u): %d", at(rel), (unsigned)trusted, flags,
	       expect);
	if (r >= 0) {
		struct stat a, b;

		ok(fd >= 0 && fstat(fd, &a) == 0 && stat(at(rel), &b) == 0 &&
		       a.st_ino == b.st_ino && a.st_dev == b.st_dev,
		   "%s: the fd is that directory", at(rel));
		close(fd);
	}
	if (where)
		is_str(err.path, at(where), "%s: names %s", at(rel), at(where));
	if (why)
		is_str(err.why, why, "%s: says why", at(rel));
}

static int rm(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	return remove(path);
}

int main(void)
{
	struct stat st;

	if (geteuid() != 0)
		skip_all("needs root (files of other owners)");
	if (!mkdtemp(base))
		skip_all("mkdtemp: %s", strerror(errno));

	make_dir("ok", 0755, 0);
	make_dir("ok/sub", 0700, 0);
	make_dir("group", 0775, 0);
	make_dir("all", 0777, 0);
	make_dir("nobody", 0755, NOBODY);
	make_dir("nobody/sub", 0755, 0);
	make_dir("sticky", 01777, 0);
	make_dir("sticky/mine", 0755, 0);
	make_dir("sticky/theirs", 0755, NOBODY);
	make_dir("nobody-sticky", 01777, NOBODY);
	make_link("sticky/their-link", "../ok", NOBODY);
	make_link("link-abs", at("ok"), 0);
	make_link("link-rel", "ok/sub", 0);
	make_link("link-group", "group", 0);
	make_link("loop", "loop", 0);
	close(open(at("file"), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));

	check("", 0, 0, 0, NULL, NULL);
	check("ok/sub", 0, SAFE_PATH_STRICT_LAST, 0, NULL, NULL);
	check("ok/./sub/..//sub", 0, 0, 0, NULL, NULL);
	check("group", 0, 0, -EPERM, "group", "writable by its group (mode 0775)");
	check("all", 0, 0, -EPERM, "all", "writable by every user (mode 0777)");
	check("nobody/sub", 0, 0, -EPERM, "nobody", "owned by uid 65534, not by root");
	check("nobody/sub", NOBODY, 0, 0, NULL, NULL);
	check("nobody/sub", 1000, 0, -EPERM, "nobody",
	      "owned by uid 65534, neither root nor uid 1000 (the daemon's)");
	/* A root-owned sticky directory, as /tmp: what is in it must be ours. */
	check("sticky", 0, 0, 0, NULL, NULL);
	check("sticky", 0, SAFE_PATH_STRICT_LAST, -EPERM, "sticky",
	      "writable by every user (mode 1777)");
	check("sticky/mine", 0, SAFE_PATH_STRICT_LAST, 0, NULL, NULL);
	check("sticky/theirs", 0, 0, -EPERM, "sticky/theirs", "owned by uid 65534, not by root");
	check("sticky/their-link", 0, 0, -EPERM, "sticky/their-link",
	      "a symbolic link owned by uid 65534, not by root");
	check("nobody-sticky", 0, 0, -EPERM, "nobody-sticky", "owned by uid 65534, not by root");
	/* Links: followed, their targets checked as the rest. */
	check("link-abs/sub", 0, 0, 0, NULL, NULL);
	check("link-rel", 0, 0, 0, NULL, NULL);
	check("link-group", 0, 0, -EPERM, "group", "writable by its group (mode 0775)");
	check("loop", 0, 0, -ELOOP, NULL, NULL);
	check("file", 0, 0, -ENOTDIR, "file", NULL);
	check("file/x", 0, 0, -ENOTDIR, "file", NULL);
	/* Missing: an error, or created (safe parents only). */
	check("ok/missing/deeper", 0, 0, -ENOENT, "ok/missing", NULL);
	check("ok/new/deeper", 0, SAFE_PATH_CREATE, 0, NULL, NULL);
	ok(stat(at("ok/new/deeper"), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == 0,
	   "created ok/new/deeper");
	check("group/new", 0, SAFE_PATH_CREATE, -EPERM, "group", NULL);
	ok(stat(at("group/new"), &st) < 0 && errno == ENOENT, "nothing created below group");
	check("link-abs/made", 0, SAFE_PATH_CREATE, 0, NULL, NULL);
	ok(stat(at("ok/made"), &st) == 0, "created through a safe link: ok/made");

	nftw(base, rm, 16, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
