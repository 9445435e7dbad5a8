/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The container's first process, between clone3() and becoming the stub
 * init: one function per step, run in the order of child_steps[]. A failing
 * step sends {step, err} to the parent and exits 127. Nothing here logs:
 * stderr is still the daemon's.
 *
 * The child is a copy of the daemon made by a raw clone3(), so glibc's idea
 * of the current thread is stale: the set*id calls below are raw system
 * calls (glibc's wrappers would try to broadcast to the parent's threads),
 * and nothing here may raise() or abort().
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "activator-internal.h"
#include "common/cleanup.h"
#include "netns/netns.h"

_Noreturn void child_fail(struct activator_ctx *c, enum activator_step step, int err)
{
	struct activator_record rec = {.step = step, .err = err < 0 ? err : -EIO};

	/* Best effort: if the parent is gone there is nobody to tell. */
	while (send(c->sync_fd, &rec, sizeof(rec), MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
	_exit(127);
}

/* Default dispositions everywhere: the daemon's handlers (and its ignored
 * SIGPIPE, which execve would keep) are not the container's. The mask stays
 * fully blocked on purpose: a pid 1 ignores signals from its parent
 * namespace unless they are handled or blocked, so a SIGTERM sent during the
 * setup stays pending and the stub init forwards it to the payload, instead
 * of being silently dropped. The payload unblocks everything before execve.
 * PDEATHSIG: if the daemon dies, nobody would reap or stop this container. */
static int child_signals(struct activator_ctx *c)
{
	/* The kernel's struct sigaction: glibc's wrapper refuses the two
	 * signals it reserves (32, 33), but an ignored one is inherited
	 * through execve all the same, so the raw call resets those too. */
	struct {
		void (*handler)(int);
		unsigned long flags;
		void (*restorer)(void);
		uint64_t mask;
	} ksa = {.handler = SIG_DFL};
	sigset_t all;

	for (int sig = 1; sig < _NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		(void)syscall(SYS_rt_sigaction, sig, &ksa, NULL, sizeof(ksa.mask));
	}
	sigfillset(&all);
	if (sigprocmask(SIG_SETMASK, &all, NULL) < 0)
		return -errno;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		return -errno;
	return 0;
}

/* Wait for the parent's go: it may have to write our uid/gid maps or set up
 * our network first. Our copy of the parent's end is closed before, so that
 * a parent that dies before releasing us gives EOF instead of a hang. */
static int child_sync(struct activator_ctx *c)
{
	char b;
	ssize_t n;

	c->parent_sync_fd = safe_close(c->parent_sync_fd);
	do
		n = recv(c->sync_fd, &b, 1, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -EPIPE;
	return 0;
}

/* MS_SLAVE|MS_REC on / before any mount: the copied mount namespace still
 * shares propagation with the host's, and nothing we mount may leak back.
 * Slave, not private: host mounts made later (under a Bind= source) still
 * reach us. */
static int child_mount_private(struct activator_ctx *c)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		return -errno;
	return 0;
}

/* Network=netns:NAME and the shared empty namespace: join one that exists.
 * Before any mount, so that the fresh /sys shows this namespace. */
static int child_netns(struct activator_ctx *c)
{
	if (c->spec->netns_fd < 0)
		return 0;
	if (setns(c->spec->netns_fd, CLONE_NEWNET) < 0)
		return -errno;
	return 0;
}

/* A new network namespace starts with lo down: Network=none still means
 * 127.0.0.1 works inside. */
static int child_loopback(struct activator_ctx *c)
{
	if (!(c->spec->namespaces & CLONE_NEWNET))
		return 0;
	return netns_loopback_up();
}

/* Only with our own UTS namespace (checked by the parent). */
static int child_hostname(struct activator_ctx *c)
{
	const char *h = c->spec->hostname;

	if (!h)
		return 0;
	if (sethostname(h, strlen(h)) < 0)
		return -errno;
	return 0;
}

/* Moves fds to a number >= min, close-on-exec (it is a temporary). */
static int fd_move_above(int fd, int min)
{
	int n = fcntl(fd, F_DUPFD_CLOEXEC, min);

	return n < 0 ? -errno : n;
}

/*
 * The systemd fd layout: spec->fds[i] at 3+i, stdio at 0-2, nothing else
 * but the sync fd (close-on-exec, at 3+n). Every source is first copied
 * above 3+n, so that no dup2() into place can clobber a source that is
 * still to be moved (a passed fd may sit at 4 and have to go to 3, the
 * sync fd at 3, …). dup2() leaves FD_CLOEXEC clear on the copies in place,
 * which is what lets them survive the payload's execve.
 */
static int child_fds(struct activator_ctx *c)
{
	const struct activator_spec *spec = c->spec;
	int n = (int)spec->n_fds;
	int first_free = 3 + n + 1; /* 3+n is kept for the sync fd */
	int tmp_fds[ACTIVATOR_FDS_MAX], tmp_stdio[3];
	int r;

	for (int i = 0; i < n; i++) {
		r = fd_move_above(spec->fds[i], first_free);
		if (r < 0)
			return r;
		tmp_fds[i] = r;
	}
	for (int i = 0; i < 3; i++) {
		if (spec->stdio[i] >= 0) {
			r = fd_move_above(spec->stdio[i], first_free);
		} else {
			/* The container's /dev/null: we are inside the new root. */
			int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);

			if (null_fd < 0)
				return -errno;
			r = fd_move_above(null_fd, first_free);
			close(null_fd);
		}
		if (r < 0)
			return r;
		tmp_stdio[i] = r;
	}
	if (dup3(c->sync_fd, 3 + n, O_CLOEXEC) < 0)
		return -errno;
	c->sync_fd = 3 + n;

	for (int i = 0; i < 3; i++)
		if (dup2(tmp_stdio[i], i) < 0)
			return -errno;
	for (int i = 0; i < n; i++)
		if (dup2(tmp_fds[i], 3 + i) < 0)
			return -errno;

	/* Everything else: the daemon's listeners, other containers' pidfds,
	 * the temporaries above. close_range() needs no /proc. */
	if (syscall(SYS_close_range, (unsigned int)first_free, ~0U, 0) < 0)
		return -errno;
	return 0;
}

/* A session of its own: no controlling terminal of the daemon's, and job
 * control signals from the host's terminal do not reach the container. */
static int child_setsid(struct activator_ctx *c)
{
	if (setsid() < 0)
		return -errno;
	return 0;
}

static int child_chdir(struct activator_ctx *c)
{
	const char *wd = c->spec->working_directory ? c->spec->working_directory : "/";

	if (chdir(wd) < 0)
		return -errno;
	/* A known umask, not the daemon's. */
	umask(0022);
	return 0;
}

static bool child_parent_gone(struct activator_ctx *c)
{
	struct pollfd p = {.fd = c->sync_fd, .events = 0};

	return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR));
}

/*
 * Drop privileges, in the order that keeps each step possible:
 * supplementary groups and gid first, while we still have CAP_SETGID; the
 * uid last. Raw system calls: see the comment at the top.
 */
static int child_privileges(struct activator_ctx *c)
{
	const struct activator_spec *spec = c->spec;

	/* TODO(capabilities): the bounding set is dropped here, before the
	 * uid change, then PR_SET_KEEPCAPS. */

	/* Always set the groups: the daemon's own supplementary groups must
	 * not leak into the container, even for a root payload. */
	if (syscall(SYS_setgroups, spec->n_groups, spec->groups) < 0)
		return -errno;
	if (syscall(SYS_setresgid, spec->gid, spec->gid, spec->gid) < 0)
		return -errno;
	if (spec->uid != 0 && syscall(SYS_setresuid, spec->uid, spec->uid, spec->uid) < 0)
		return -errno;

	/* TODO(capabilities): capset() and the ambient set go here, then
	 * PR_SET_NO_NEW_PRIVS (NoNewPrivileges=). The seccomp filter is
	 * loaded last, in the payload right before execve (init.c). */

	/* The kernel clears PDEATHSIG when the euid or egid changes: arm it
	 * again, then make sure the parent did not die in between (its end
	 * of the sync socket would be closed: POLLHUP on ours). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		return -errno;
	if (child_parent_gone(c))
		return -EPIPE;
	return 0;
}

struct child_step {
	enum activator_step step;
	int (*run)(struct activator_ctx *c);
};

/*
 * The order of the setup. It differs from the numbering of enum
 * activator_step in two places, on purpose:
 * - signals before sync: PDEATHSIG must be armed while we wait;
 * - Bind= after /proc, /sys, /dev and the tmpfs mounts: a bind whose target
 *   is below /run or /tmp (a socket, a config file) would otherwise be
 *   hidden by the tmpfs mounted over it, and its mount point can then be
 *   created in that tmpfs instead of in the (read-only, or the host's) root.
 */
static const struct child_step child_steps[] = {
    {STEP_SIGNALS, child_signals},
    {STEP_SYNC, child_sync},
    {STEP_MOUNT_PRIVATE, child_mount_private},
    {STEP_NETNS, child_netns},
    {STEP_LOOPBACK, child_loopback},
    {STEP_ROOTFS, rootfs_bind_root},
    {STEP_MOUNTPOINTS, rootfs_mountpoints},
    {STEP_READ_ONLY, rootfs_read_only},
    {STEP_PROC, rootfs_proc},
    {STEP_SYS, rootfs_sys},
    {STEP_DEV, rootfs_dev},
    {STEP_TMPFS, rootfs_tmpfs},
    {STEP_BIND, rootfs_binds},
    {STEP_PIVOT_ROOT, rootfs_pivot},
    {STEP_HOSTNAME, child_hostname},
    {STEP_FDS, child_fds},
    {STEP_SETSID, child_setsid},
    {STEP_CHDIR, child_chdir},
    {STEP_PRIVILEGES, child_privileges},
};

_Noreturn void child_run(struct activator_ctx *c)
{
	for (size_t i = 0; i < ELEMENTSOF(child_steps); i++) {
		int r = child_steps[i].run(c);

		if (r < 0)
			child_fail(c, child_steps[i].step, r);
	}
	init_run(c);
}
