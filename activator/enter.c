/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nsinetd-init in enter mode (activator_enter(), nsinetctl shell): run a
 * command inside a running container as its payload runs, and leave
 * nothing of the host behind. docs/architecture.md, "Entering a running
 * container", has the order of the steps and why each refusal holds.
 *
 * This process was exec'd by the daemon's clone straight into the
 * container's cgroup, in the host's pid namespace, where no process of the
 * container can see it. It has not been dumpable since the first line of
 * main(), and its memory belongs to the initial user namespace (its
 * execve happened there): no process of the container, whatever its uid
 * and capabilities in the container's user namespace, can ptrace it or
 * open its /proc/PID/{mem,environ,fd,exe,root,cwd}; that holds for the
 * command it forks too, until the command's own execve.
 *
 * The steps, in order (enter_steps[]): the same signal and sync steps as a
 * start; setns() into the container's namespaces through its pid 1's
 * pidfd (after oom_score_adj, while /proc/self is still ours); the
 * rlimits while we still may raise them; the service's user
 * namespace; the fds (stdio, the sync socket at 3, nothing else); the
 * working directory; the privilege drop of a payload; the pty, opened as
 * the command's user; the login shell, read as that user; then the fork
 * into the container's pid namespace, with CLONE_PARENT so that the
 * command is the daemon's own child (a pidfd it can wait on), and the
 * exit of this process. The command waits until this process has told the
 * daemon (its pidfd and the pty's master, by SCM_RIGHTS) and is gone, then
 * takes its terminal, loads the service's seccomp filter and execs.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "activator-internal.h"
#include "common/cleanup.h"

/* The largest /etc/passwd read for the login shell. */
#define ENTER_PASSWD_MAX (1024 * 1024)

/*
 * A test build (nsinetd-init-test) honours spec->enter_pause_fd; this one
 * refuses a spec that has one, before anything else, so that no daemon can
 * make a production nsinetd-init wait with a command half set up.
 */
static int enter_check_pause(struct activator_ctx *c)
{
#ifdef NSINETD_TEST_HOOKS
	return 0;
#else
	return c->handoff_fd >= 0 ? -EPERM : 0;
#endif
}

/*
 * Every namespace of the container's pid 1 but its user namespace, in one
 * setns() on its pidfd (all or none). Joining the mount namespace makes the
 * container's root (what is mounted on its namespace's root: the kernel
 * goes down to it) our root and working directory: from here on every
 * path is the container's. Joining the pid namespace changes only where
 * our children go: this process stays in the host's, invisible to the
 * container. These namespaces belong to the initial user namespace
 * (architecture.md, "Who owns the namespaces"), so we join them as its root,
 * before the service's user namespace, as a start sets them up. A daemon
 * that is not root made the container's user namespace with the clone:
 * it owns the others, and the kernel joins it first within the same call.
 */
static int enter_namespaces(struct activator_ctx *c)
{
	const struct activator_spec *spec = c->spec;
	int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC |
		    CLONE_NEWCGROUP;

	if (spec->namespaces & CLONE_NEWUSER)
		flags |= CLONE_NEWUSER;
	if (setns(spec->enter_pidfd, flags) < 0)
		return -errno;
	close(spec->enter_pidfd);
	return 0;
}

/*
 * A pseudo-terminal of the container's own devpts (a newinstance mount,
 * rootfs_dev()), opened after the privilege drop: devpts makes the slave
 * the opener's, so it is the command's user's, as login's would be. No
 * symlink is followed (/dev/ptmx is one, in a /dev the container's root
 * may write when it is the host's), and the result must be a devpts
 * character device. The slave comes from the master (TIOCGPTPEER), never
 * by its path.
 */
static int enter_pty(struct activator_ctx *c)
{
	struct open_how how = {
	    .flags = O_RDWR | O_NOCTTY | O_CLOEXEC,
	    .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	struct statfs sfs;
	struct stat st;
	int unlock = 0, fd;

	if (!c->spec->enter_tty)
		return 0;
	c->what = "/dev/pts/ptmx";
	fd = (int)syscall(SYS_openat2, AT_FDCWD, c->what, &how, sizeof(how));
	if (fd < 0)
		return -errno;
	c->pty_master = fd;
	if (fstatfs(fd, &sfs) < 0 || fstat(fd, &st) < 0)
		return -errno;
	if (sfs.f_type != DEVPTS_SUPER_MAGIC || !S_ISCHR(st.st_mode))
		return -ENOTTY;
	if (ioctl(fd, TIOCSPTLCK, &unlock) < 0)
		return -errno;
	fd = ioctl(fd, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	c->pty_slave = fd;
	c->what = NULL;
	return 0;
}

/* The shell of uid in the container's /etc/passwd, or NULL. Read as the
 * command's user (the privilege step is done): only what it may read, a
 * regular file, not blocking, bounded. */
static char *passwd_shell(uid_t uid)
{
	_cleanup_close_ int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	char *buf, *line, *save = NULL;
	size_t len = 0;
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return NULL;
	buf = malloc(ENTER_PASSWD_MAX + 1);
	if (!buf)
		return NULL;
	while (len < ENTER_PASSWD_MAX) {
		ssize_t n = read(fd, buf + len, ENTER_PASSWD_MAX - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	/* name:password:uid:gid:gecos:home:shell */
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[7], *p = line, *end;
		int n = 0;

		f[n++] = p;
		while (n < 7 && (p = strchr(p, ':'))) {
			*p++ = '\0';
			f[n++] = p;
		}
		if (n < 7 || !f[2][0] || strtoul(f[2], &end, 10) != uid || *end)
			continue;
		return f[6];
	}
	return NULL;
}

/*
 * No argv: the login shell of the command's uid from the container's own
 * /etc/passwd if it names an executable file there, else /bin/sh, with
 * argv[0] "-NAME" as login(1) gives it (every shell reads that as "login
 * shell"; not every one knows -l).
 */
static int enter_login_shell(struct activator_ctx *c)
{
	const char *shell;
	char *sh, *base, *arg0;
	char **argv;

	if (c->argv && c->argv[0])
		return 0;
	sh = passwd_shell(c->spec->uid);
	shell = sh && sh[0] == '/' && access(sh, X_OK) == 0 ? sh : "/bin/sh";
	base = strrchr(shell, '/') + 1;
	argv = calloc(2, sizeof(char *));
	arg0 = malloc(strlen(base) + 2);
	if (!argv || !arg0)
		return -ENOMEM;
	arg0[0] = '-';
	strcpy(arg0 + 1, base);
	argv[0] = arg0;
	c->argv = argv;
	c->exec_file = shell;
	return 0;
}

/*
 * The command, in the container's pid namespace, the daemon's child. It
 * runs nothing of its own until go_fd says EOF: the parent has handed its
 * pidfd to the daemon and exited, so a failure record of ours can never
 * come before it. Then: a session and the terminal, (tests) the pause, and
 * init_payload(): the seccomp filter, last, and execve. Until that execve
 * it is as undumpable as its parent; after it, it is a plain process of
 * the container holding fds 0-2 only (the sync socket is close-on-exec).
 */
_Noreturn static void enter_command(struct activator_ctx *c, int go_fd)
{
	char b;
	ssize_t n;

	do
		n = read(go_fd, &b, 1);
	while (n < 0 && errno == EINTR);
	close(go_fd);
	/* The daemon dies: so does its shell (the container's pid 1 too). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		child_fail(c, STEP_FORK_PAYLOAD, -errno);
	if (child_parent_gone(c))
		child_fail(c, STEP_FORK_PAYLOAD, -EPIPE);
	if (setsid() < 0)
		child_fail(c, STEP_SETSID, -errno);
	if (c->pty_slave >= 0) {
		for (int i = 0; i < 3; i++)
			if (dup2(c->pty_slave, i) < 0)
				child_fail(c, STEP_PTY, -errno);
		if (ioctl(0, TIOCSCTTY, 0) < 0)
			child_fail(c, STEP_PTY, -errno);
		close(c->pty_slave);
		close(c->pty_master);
	}
#ifdef NSINETD_TEST_HOOKS
	if (c->handoff_fd >= 0) {
		do
			n = read(c->handoff_fd, &b, 1);
		while (n < 0 && errno == EINTR);
		close(c->handoff_fd);
	}
#endif
	init_payload(c);
}

/* Tells the daemon: {STEP_NONE, 0} with the command's pidfd and the pty's
 * master attached. */
static int enter_report(struct activator_ctx *c, int pidfd)
{
	struct activator_record rec = {.step = STEP_NONE, .err = 0};
	union {
		char buf[CMSG_SPACE(sizeof(int) * 2)];
		struct cmsghdr align;
	} u;
	int fds[2] = {pidfd, c->pty_master};
	size_t n_fds = c->pty_master >= 0 ? 2 : 1;
	struct iovec iov = {.iov_base = &rec, .iov_len = sizeof(rec)};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = CMSG_SPACE(sizeof(int) * n_fds)};
	struct cmsghdr *cm;
	ssize_t n;

	memset(&u, 0, sizeof(u));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * n_fds);
	do
		n = sendmsg(c->sync_fd, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : 0;
}

/*
 * The fork into the container's pid namespace (joined by enter_namespaces()
 * for our children). CLONE_PARENT: the command's parent is the daemon, which
 * gets its pidfd and its wait status; this process exits at once, and
 * nothing of the host is left beside the command (runc's nsexec hands its
 * last stage to its parent the same way). exit_signal must be 0 with
 * CLONE_PARENT: the command signals the daemon as this process would.
 */
static int enter_fork(struct activator_ctx *c)
{
	int pidfd = -1, go[2], r;
	struct clone_args args = {
	    .flags = CLONE_PARENT | CLONE_PIDFD,
	    .pidfd = (uint64_t)(uintptr_t)&pidfd,
	};
	long pid;

	if (pipe2(go, O_CLOEXEC) < 0)
		return -errno;
	pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		close(go[1]);
		enter_command(c, go[0]);
	}
	close(go[0]);
	r = enter_report(c, pidfd);
	if (r < 0) {
		/* Nobody would wait for it. */
		(void)syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		return r;
	}
	_exit(0);
}

/* The order, and why: the header comment, and docs/architecture.md. */
static const struct child_step enter_steps[] = {
    {STEP_SIGNALS, child_signals},
    {STEP_SYNC, child_sync},
    /* After the go, so that the refusal always comes as a record. */
    {STEP_TEST_PAUSE, enter_check_pause},
    /* OOMScoreAdjust= (or 0 where the daemon's own is below), as a
     * start's pid 1 writes it: not the daemon's protection for a command
     * run in the container. Before the namespaces: in the container's
     * /proc, /proc/self is not this process (of the host's pid
     * namespace) but nothing. */
    {STEP_RLIMITS, child_oom_score},
    /* Namespaces before anything that opens a path: after them, every
     * path is the container's. */
    {STEP_ENTER, enter_namespaces},
    /* Raising a hard limit needs CAP_SYS_RESOURCE in the initial user
     * namespace: before we leave it. */
    {STEP_RLIMITS, child_rlimits},
    {STEP_USERNS, child_userns},
    /* After the joins: the pidfd and the userns fd go with the rest. */
    {STEP_FDS, child_fds},
    {STEP_CHDIR, child_chdir},
    {STEP_PRIVILEGES, child_privileges},
    /* As the command's user: the pty is its own, and /etc/passwd is read
     * with its rights only. */
    {STEP_PTY, enter_pty},
    {STEP_EXEC, enter_login_shell},
    {STEP_FORK_PAYLOAD, enter_fork},
};

_Noreturn void enter_run(struct activator_ctx *c)
{
	child_steps_run(c, enter_steps, ELEMENTSOF(enter_steps));
	/* enter_fork() does not return on success. */
	child_fail(c, STEP_FORK_PAYLOAD, -EIO);
}
