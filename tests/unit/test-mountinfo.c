/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* activator/mountinfo.c: which host mounts a container keeps below its root. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "activator/mountinfo.h"
#include "tap.h"

/* Lines as the kernel writes them; the mount point is the fifth field. */
static const char sample[] = "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
			     "23 27 0:22 / /sys rw,relatime - sysfs sysfs rw\n"
			     "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
			     "30 27 0:40 / /usr rw - ext4 /dev/vdb rw\n"
			     "31 30 0:41 / /usr/local rw - tmpfs t rw\n"
			     "32 27 0:42 / /var/lib/with\\040space rw - tmpfs t rw\n"
			     "33 27 0:43 / /tmp/scratch rw - tmpfs t rw\n"
			     "34 27 0:44 / /run/netns rw shared:1 - tmpfs t rw\n"
			     "35 27 0:45 / /procfoo rw - tmpfs t rw\n"
			     "36 27 0:46 / /srv/root rw - ext4 /dev/vdc rw\n"
			     "37 36 0:47 / /srv/root/data rw - tmpfs t rw\n"
			     "38 36 0:48 / /srv/root/proc rw - proc proc rw\n"
			     "39 27 0:49 / /srv/rootfoo rw - tmpfs t rw\n";

static int parse(const char *text, const char *root, const char **rel, size_t max, char *buf,
		 size_t size)
{
	snprintf(buf, size, "%s", text);
	return mountinfo_submounts(buf, root, rel, max);
}

int main(void)
{
	char buf[sizeof(sample) + 64];
	const char *rel[16];
	int n;

	n = parse(sample, "/", rel, 16, buf, sizeof(buf));
	is_int(n, 8, "below /: all but the root itself and the API directories");
	if (n == 8) {
		is_str(rel[0], "usr", "a mount below / is relative, without '/'");
		is_str(rel[1], "usr/local", "one below another is listed too");
		is_str(rel[2], "var/lib/with space", "\\040 is unescaped");
		is_str(rel[3], "procfoo", "a name that only starts like an API directory is kept");
		is_str(rel[4], "srv/root", "below / at any depth");
		is_str(rel[6], "srv/root/proc", "proc below another mount is not an API directory");
		is_str(rel[7], "srv/rootfoo", "the last line");
	}

	n = parse(sample, "/srv/root", rel, 16, buf, sizeof(buf));
	is_int(n, 1, "below /srv/root: data, not its proc, not /srv/rootfoo");
	if (n == 1)
		is_str(rel[0], "data", "relative to the root");

	is_int(parse(sample, "/", rel, 3, buf, sizeof(buf)), -E2BIG, "more than max: -E2BIG");
	is_int(parse("27 1 254:0 /\n", "/", rel, 16, buf, sizeof(buf)), -EBADMSG,
	       "a line without a mount point: -EBADMSG");
	is_int(parse("", "/", rel, 16, buf, sizeof(buf)), 0, "an empty table: none");

	ok(mountinfo_path_below("/run/x", "run") && mountinfo_path_below("run", "/run") &&
	       !mountinfo_path_below("/runner", "run"),
	   "path_below: components, not prefixes");
	return tap_done();
}
