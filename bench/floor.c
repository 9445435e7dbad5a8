/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench/floor: the floor of a sandbox per connection, for bench/accept.
 *
 *   floor PORT PROGRAM [net]
 *
 * A minimal inetd on 127.0.0.1:PORT that gives each connection the kernel
 * objects an nsinetd sandbox has, and nothing else: clone3() into new
 * mount, pid, IPC, UTS and cgroup namespaces (and a network namespace with
 * "net", lo left down), a fresh procfs with the masks and read-only binds
 * nsinetd makes (those this kernel has), sysfs with /sys/firmware masked,
 * a tmpfs /dev with six nodes, devpts and /dev/shm, tmpfs /tmp and /run;
 * then the connection on fd 0 and 1 and an execve() of PROGRAM as the
 * namespace's pid 1. Left out, which nsinetd does: a daemon and its event
 * loop, the spec, a user namespace, a cgroup, a pivot into a root of its
 * own, the stub init and its fork, capabilities, seccomp, rlimits, a log
 * line. Whatever a sandbox with nsinetd's isolation costs is above this.
 *
 * Each child reaps itself (SIGCHLD ignored). Runs as root until killed;
 * the mounts are in the children's own mount namespaces and go with them.
 * Error handling: a failed mount ends that child with status 1, so its
 * connection gets no answer and bench/accept counts it bad.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/mount.h>
#include <linux/sched.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "../activator/proc-masks.h"

#define ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))
#define RO          (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)

static int bind_ro(const char *source, const char *target, unsigned long extra)
{
	if (mount(source, target, NULL, MS_BIND, NULL) < 0)
		return access(target, F_OK) < 0 ? 0 : -1; /* absent here: skipped */
	return mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | extra, NULL);
}

/* One empty read-only tmpfs for every masked directory, as nsinetd. */
static int mask_dir(const char *target)
{
	static char first[64];

	if (access(target, F_OK) < 0)
		return 0;
	if (first[0])
		return bind_ro(first, target, RO);
	if (mount("tmpfs", target, "tmpfs", RO, "size=4k,mode=0555") < 0)
		return -1;
	snprintf(first, sizeof(first), "%s", target);
	return 0;
}

static int sandbox(bool netns)
{
	static const char *const files[] = {PROC_MASKED_FILES};
	static const char *const dirs[] = {PROC_MASKED_DIRS};
	static const char *const ro[] = {PROC_READ_ONLY};
	static const struct {
		const char *name;
		unsigned major, minor;
	} nodes[] = {{"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
		     {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
	char p[64];

	if (mount(NULL, "/", NULL, MS_PRIVATE | MS_REC, NULL) < 0 ||
	    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return -1;
	for (size_t i = 0; i < ELEMENTS(files); i++) {
		snprintf(p, sizeof(p), "/%s", files[i]);
		if (bind_ro("/dev/null", p, MS_RDONLY | MS_NOSUID | MS_NOEXEC) < 0)
			return -1;
	}
	for (size_t i = 0; i < ELEMENTS(dirs); i++) {
		snprintf(p, sizeof(p), "/%s", dirs[i]);
		if (mask_dir(p) < 0)
			return -1;
	}
	for (size_t i = 0; i < ELEMENTS(ro); i++) {
		snprintf(p, sizeof(p), "/%s", ro[i]);
		if (bind_ro(p, p, RO) < 0)
			return -1;
	}
	/* The host's network namespace has its sysfs on /sys already, which
	 * the kernel does not mount again on itself: a bind, which is what a
	 * shared namespace's sandboxes get too (one superblock per namespace). */
	if ((netns ? mount("sysfs", "/sys", "sysfs", RO, NULL) : bind_ro("/sys", "/sys", RO)) < 0 ||
	    mask_dir("/sys/firmware") < 0)
		return -1;
	if (mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC,
		  "mode=0755,size=64k,nr_inodes=4k") < 0)
		return -1;
	for (size_t i = 0; i < ELEMENTS(nodes); i++) {
		snprintf(p, sizeof(p), "/dev/%s", nodes[i].name);
		if (mknod(p, S_IFCHR | 0666, makedev(nodes[i].major, nodes[i].minor)) < 0)
			return -1;
	}
	if (mkdir("/dev/pts", 0755) < 0 || mkdir("/dev/shm", 01777) < 0 ||
	    mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		  "newinstance,ptmxmode=0666,mode=0620") < 0 ||
	    symlink("pts/ptmx", "/dev/ptmx") < 0 ||
	    mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,nr_inodes=64k") <
		0 ||
	    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
		  "size=10%,nr_inodes=400k,mode=1777") < 0 ||
	    mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV,
		  "size=10%,nr_inodes=400k,mode=0755") < 0)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	uint64_t flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;
	int l, one = 1;

	if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "net") != 0)) {
		fprintf(stderr, "usage: floor PORT PROGRAM [net]\n");
		return 2;
	}
	if (argc == 4)
		flags |= CLONE_NEWNET;
	a.sin_port = htons((uint16_t)atoi(argv[1]));
	signal(SIGCHLD, SIG_IGN);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 4096) < 0) {
		perror("floor: listen");
		return 1;
	}
	for (;;) {
		struct clone_args args = {.flags = flags, .exit_signal = SIGCHLD};
		int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		long pid;

		if (c < 0)
			continue;
		pid = syscall(SYS_clone3, &args, sizeof(args));
		if (pid == 0) {
			char *child_argv[] = {argv[2], NULL}, *envp[] = {NULL};

			if (sandbox(flags & CLONE_NEWNET) < 0 || dup2(c, 0) < 0 || dup2(c, 1) < 0) {
				perror("floor: sandbox");
				_exit(1);
			}
			execve(argv[2], child_argv, envp);
			_exit(127);
		}
		if (pid < 0)
			perror("floor: clone3");
		close(c);
	}
}
