/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "supervisor/rootdir.h"
#include "tests/unit/tap.h"

static char base[64] = "/tmp/test-rootdir-XXXXXX";

static void write_file(const char *rel, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", base, rel);
	f = fopen(path, "we");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		printf("# cannot write %s\n", path);
}

static void user(int root_fd, const char *name, int expect, unsigned uid, const char *why)
{
	char msg[ROOTDIR_WHY_MAX] = "";
	char *home = NULL;
	uid_t u = 0;
	gid_t g = 0;
	int r = rootdir_lookup_user(root_fd, name, &u, &g, &home, msg, sizeof(msg));

	is_int(r, expect, "user %s: %d", name, expect);
	if (r == 0)
		is_int(u, uid, "user %s: uid %u", name, uid);
	if (why)
		is_str(msg, why, "user %s: says why", name);
	free(home);
}

static int rm(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	return remove(path);
}

int main(void)
{
	char path[256], why[ROOTDIR_WHY_MAX];
	gid_t gid = 0;
	int root_fd = -1;

	if (!mkdtemp(base))
		skip_all("mkdtemp: %s", strerror(errno));
	chmod(base, 0755);
	snprintf(path, sizeof(path), "%s/etc", base);
	mkdir(path, 0755);
	is_int(rootdir_open(base, &root_fd, why, sizeof(why)), 0, "a tree of ours opens");
	if (root_fd < 0)
		return tap_done();

	/* Writable trees: only where no host user can reach them. */
	is_int(rootdir_check_private(base, why, sizeof(why)), -EPERM,
	       "a writable tree below /tmp, mode 0755, is reachable: refused");
	ok(strstr(why, "host users can reach it") != NULL, "… and says why: %s", why);
	chmod(base, 0700);
	is_int(rootdir_check_private(base, why, sizeof(why)), 0, "mode 0700: nobody else enters");
	snprintf(path, sizeof(path), "%s/etc", base);
	is_int(rootdir_check_private(path, why, sizeof(why)), 0,
	       "a tree below a 0700 directory of root's is private too");
	chmod(base, 0755);

	user(root_fd, "svc", -ENOENT, 0,
	     "cannot read the tree's /etc/passwd: No such file or directory");
	write_file("etc/passwd", "svc2:x:2:2::/:/bin/sh\n"
				 "bad:x:notanumber:1::/:/bin/sh\n"
				 "short:x:1:1\n"
				 "svc:x:1000:1001:Service:/home/svc:/bin/sh\n"
				 "last:x:7:7::/l:/bin/sh");
	user(root_fd, "svc", 0, 1000, NULL);
	user(root_fd, "last", 0, 7, NULL);
	user(root_fd, "sv", -ESRCH, 0, "no user sv in the tree's /etc/passwd");
	user(root_fd, "bad", -EBADMSG, 0, "the tree's /etc/passwd has a malformed line for bad");
	user(root_fd, "short", -EBADMSG, 0,
	     "the tree's /etc/passwd has a malformed line for short");

	/* Links resolve inside the tree, absolute ones included. */
	write_file("etc/shadow", "svc:x:4321:4321::/:/bin/sh\n");
	snprintf(path, sizeof(path), "%s/etc/passwd", base);
	unlink(path);
	if (symlink("/etc/shadow", path) < 0)
		printf("# symlink: %s\n", strerror(errno));
	user(root_fd, "svc", 0, 4321, NULL);
	unlink(path);
	if (symlink("../../../../../../etc/shadow", path) < 0)
		printf("# symlink: %s\n", strerror(errno));
	user(root_fd, "svc", 0, 4321, NULL);

	/* Nothing but a regular file, and not opened for reading: a FIFO
	 * would block. */
	unlink(path);
	mkfifo(path, 0644);
	user(root_fd, "svc", -EINVAL, 0, "the tree's /etc/passwd is not a regular file");
	unlink(path);
	mkdir(path, 0755);
	user(root_fd, "svc", -EINVAL, 0, "the tree's /etc/passwd is not a regular file");
	rmdir(path);

	/* At most ROOTDIR_MAX_DB_SIZE bytes. */
	{
		int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);

		if (fd < 0 || ftruncate(fd, ROOTDIR_MAX_DB_SIZE + 1) < 0)
			printf("# cannot make a big file\n");
		close(fd);
	}
	user(root_fd, "svc", -EFBIG, 0,
	     "the tree's /etc/passwd is too big (more than 4194304 bytes)");

	write_file("etc/group", "svc:x:1001:a,b\nbad:x:\n");
	is_int(rootdir_lookup_group(root_fd, "svc", &gid, why, sizeof(why)), 0, "group svc");
	is_int(gid, 1001, "group svc: gid 1001");
	is_int(rootdir_lookup_group(root_fd, "bad", &gid, why, sizeof(why)), -EBADMSG,
	       "group bad: malformed");
	is_int(rootdir_lookup_group(root_fd, "none", &gid, why, sizeof(why)), -ESRCH,
	       "group none: absent");
	is_str(why, "no group none in the tree's /etc/group", "group none: says why");

	close(root_fd);
	nftw(base, rm, 16, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
