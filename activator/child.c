/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nsinetd-init's setup, between its start and becoming the stub init: one
 * function per step, run in the order of child_steps[]. A failing step
 * sends {step, err, path} to the daemon and exits 127. Nothing here logs:
 * stderr is already the payload's.
 *
 * Until STEP_USERNS this process is a root of the initial user namespace
 * (or, under a daemon that is not root, the root of a namespace of its
 * own): every mount, the hostname and lo are set up with that privilege,
 * and the namespaces belong to that user namespace. Then it joins the
 * service's user namespace, where its root is an unmapped uid on the host,
 * and drops privileges as the spec says.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "libc-compat.h"
#include "activator-internal.h"
#include "common/cleanup.h"

/*
 * No process of the container may read or write our memory (/proc/PID/mem,
 * ptrace) or open our fds and executable (/proc/PID/{fd,exe}), whatever its
 * uid: main() calls this first, and the steps that change our ids again,
 * because the kernel then resets the flag to fs.suid_dumpable
 * (commit_creds()), and 1 there ("debug") would make us dumpable.
 */
int child_undumpable(void)
{
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

_Noreturn void child_fail(struct activator_ctx *c, enum activator_step step, int err)
{
	struct activator_record rec = {.step = step, .err = err < 0 ? err : -EIO};

	if (c->what)
		snprintf(rec.what, sizeof(rec.what), "%s", c->what);
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
int child_signals(struct activator_ctx *c)
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

	/* A spare did it while it waited (init-main.c); c is NULL there. */
	if (c && c->spare_signals)
		return 0;
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

/* Wait for the daemon's go: it may have to set up our network first (the
 * veth pair). EOF means the daemon is gone: nobody would supervise us. */
int child_sync(struct activator_ctx *c)
{
	char b;
	ssize_t n;

	do
		n = recv(c->sync_fd, &b, 1, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -EPIPE;
	return 0;
}

/* MS_PRIVATE|MS_REC on / before any mount: the copied mount namespace
 * still shares propagation with the host's. Nothing we mount may leak back,
 * and nothing the host mounts later may come in: a mount that propagated
 * into the read-only root would arrive writable, without nosuid or nodev
 * (USB media, another runtime's volume; on a systemd host / is shared). */
static int child_mount_private(struct activator_ctx *c)
{
	/* Not ours yet: nothing is attached until we are in the template's. */
	if (c->in_template)
		return 0;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -errno;
	return 0;
}

/* Network=netns:NAME, the shared empty namespace and the daemon's spare
 * ones: join one that exists. Before any mount, so that the fresh /sys
 * shows this namespace. */
static int child_netns(struct activator_ctx *c)
{
	const struct activator_spec *spec = c->spec;

	/* A spare was cloned without the network namespace that the clone
	 * of a start would have made: it made one while it waited
	 * (child_spare_netns()), or makes it here, as unshare() does, before
	 * /sys and the loopback. Never the daemon's network: it is left for
	 * another namespace only (activator_spare_fits()). A pooled sandbox
	 * (netns_late) makes it here too, at its idle priority. */
	if (spec->netns_fd < 0) {
		if (!c->spare && !spec->netns_late)
			return 0;
		if (!(spec->namespaces & CLONE_NEWNET))
			return -EINVAL;
		if (!c->spare_netns && unshare(CLONE_NEWNET) < 0)
			return -errno;
		return 0;
	}
	if (setns(spec->netns_fd, CLONE_NEWNET) < 0)
		return -errno;
	c->spare_netns = false;
	return 0;
}

/* RTM_NEWLINK on ifindex 1 with IFF_UP, and its ack. */
int child_loopback_up(void)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = {
	    .nh = {.nlmsg_len = sizeof(req),
		   .nlmsg_type = RTM_NEWLINK,
		   .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK,
		   .nlmsg_seq = 1},
	    /* lo is always ifindex 1 in a new namespace */
	    .ifi = {.ifi_family = AF_UNSPEC,
		    .ifi_index = 1,
		    .ifi_flags = IFF_UP,
		    .ifi_change = IFF_UP},
	};
	struct {
		struct nlmsghdr nh;
		struct nlmsgerr err;
	} ack;
	_cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	ssize_t n;

	if (fd < 0)
		return -errno;
	if (send(fd, &req, sizeof(req), 0) < 0)
		return -errno;
	do
		n = recv(fd, &ack, sizeof(ack), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n < sizeof(ack) || ack.nh.nlmsg_type != NLMSG_ERROR)
		return -EBADMSG;
	return ack.err.error;
}

/* Whether the payload keeps cap. */
static bool child_keeps_cap(const struct activator_spec *spec, int cap)
{
	return !spec->set_capabilities || (spec->capabilities & (UINT64_C(1) << cap));
}

/*
 * A new network namespace starts with lo down: Network=none still means
 * 127.0.0.1 works inside. With a user namespace the network namespace is
 * not the container's own to administer (it belongs to the initial user
 * namespace), so CAP_NET_BIND_SERVICE would not let its root bind port 80:
 * in its own namespace every port is unprivileged instead (Docker does the
 * same), if the payload keeps that capability.
 */
/* A file of a procfs instance of our own, never attached anywhere: for a
 * write that the /proc we see refuses because an outer container manager
 * made /proc/sys read-only (systemd-nspawn does), though the setting is of
 * a namespace of ours. /proc/sys/net is the opener's network namespace. */
static int open_own_proc(const char *name, int flags)
{
	_cleanup_close_ int mnt = -1;
	int fd;

	mnt = rootfs_fs_new("proc", NULL, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	if (mnt < 0)
		return mnt;
	fd = openat(mnt, name, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

#define PORT_START "/proc/sys/net/ipv4/ip_unprivileged_port_start"

/* /proc/sys/net is the opener's network namespace: ours. */
static int port_start_open(int flags)
{
	int fd = open(PORT_START, flags | O_CLOEXEC);

	if (fd < 0 && errno == EROFS)
		return open_own_proc(PORT_START + strlen("/proc/"), flags);
	return fd < 0 ? -errno : fd;
}

static int port_start_write(const char *value, const char **what)
{
	_cleanup_close_ int fd = -1;
	size_t len = strlen(value);

	*what = PORT_START;
	fd = port_start_open(O_WRONLY);
	if (fd < 0)
		return fd;
	if (write(fd, value, len) != (ssize_t)len)
		return -errno;
	*what = NULL;
	return 0;
}

bool child_spare_netns(int *ret_sys_fd, char *port_start, size_t len)
{
	const char *what;
	ssize_t n;
	int fd;

	*ret_sys_fd = -1;
	port_start[0] = '\0';
	if (unshare(CLONE_NEWNET) < 0 || child_loopback_up() < 0)
		return false;
	*ret_sys_fd = rootfs_sys_new();
	/* Every port open, as most starts want it (child_loopback()); the
	 * value it had is kept for one that does not. */
	fd = port_start_open(O_RDONLY);
	if (fd < 0)
		return true;
	n = read(fd, port_start, len - 1);
	close(fd);
	if (n <= 0 || port_start_write("0", &what) < 0) {
		port_start[0] = '\0';
		return true;
	}
	port_start[n] = '\0';
	return true;
}

static int child_loopback(struct activator_ctx *c)
{
	const struct activator_spec *spec = c->spec;
	/* A fresh namespace from the daemon, or a spare's, has lo up already. */
	bool fresh = spec->netns_fresh || c->spare_netns;
	bool want, opened;
	int r;

	if (!(spec->namespaces & CLONE_NEWNET) && !fresh)
		return 0;
	if (!fresh) {
		r = child_loopback_up();
		if (r < 0)
			return r;
	}
	/* A spare's own namespace has every port open already: kept, or
	 * its value put back. */
	want = spec->userns_fd >= 0 && child_keeps_cap(spec, CAP_NET_BIND_SERVICE);
	opened = c->spare_netns && c->spare_port_start[0];
	if (want == opened)
		return 0;
	return port_start_write(want ? "0" : c->spare_port_start, &c->what);
}

/*
 * The System V IPC of the container's own namespace, bounded as its tmpfs
 * are: the kernel's defaults let one IPC namespace hold shared memory up
 * to the whole memory, 32000 message queues of 16 KiB (500 MiB) and a
 * thousand million semaphores (some 64 GB of the kernel's memory), none of
 * it in any process's size, and a segment or a queue outlives the process
 * that made it. So: shared memory as /dev/shm (64 MiB in all, segments
 * included), 256 queues (4 MiB), 128 semaphore sets of 32000 semaphores in
 * all. Written as root of the namespace's owner (the initial user
 * namespace, or the daemon's own) before the root is pivoted, through the
 * daemon's /proc: /proc/sys/kernel is the writer's IPC namespace. In the
 * container /proc/sys is read-only, and its root has no capability over
 * the IPC namespace: it cannot raise them. A booted system's own IPC
 * namespace (Boot=yes) has its own limits, its root's to set.
 */
#define IPC_SHM_BYTES (64UL << 20)

/* The four limits in the writer's IPC namespace; *what: the file. */
int child_ipc_limits_write(const char **what)
{
	_cleanup_close_ int dir = -1;
	char bytes[32], pages[32];
	const struct {
		const char *name, *value;
	} limits[] = {
	    {"/proc/sys/kernel/shmmax", bytes},
	    {"/proc/sys/kernel/shmall", pages},
	    {"/proc/sys/kernel/msgmni", "256"},
	    {"/proc/sys/kernel/sem", "32000 32000 500 128"},
	};
	const size_t dir_len = strlen("/proc/sys/kernel/");

	snprintf(bytes, sizeof(bytes), "%lu", IPC_SHM_BYTES);
	snprintf(pages, sizeof(pages), "%lu", IPC_SHM_BYTES / (unsigned long)getpagesize());
	*what = "/proc/sys/kernel";
	dir = open("/proc/sys/kernel", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return -errno;
	for (size_t i = 0; i < ELEMENTSOF(limits); i++) {
		_cleanup_close_ int fd = -1;
		size_t len = strlen(limits[i].value);

		*what = limits[i].name;
		fd = openat(dir, limits[i].name + dir_len, O_WRONLY | O_CLOEXEC);
		if (fd < 0 && errno == EROFS && i == 0) {
			/* /proc/sys made read-only by an outer manager: a
			 * procfs of our own for all four. */
			close(dir);
			dir = open_own_proc("sys/kernel", O_PATH | O_DIRECTORY);
			if (dir < 0)
				return dir;
			fd = openat(dir, limits[i].name + dir_len, O_WRONLY | O_CLOEXEC);
		}
		if (fd < 0)
			return -errno;
		if (write(fd, limits[i].value, len) != (ssize_t)len)
			return -errno;
	}
	*what = NULL;
	return 0;
}

/* A spare wrote them in its IPC namespace while it waited (init-main.c),
 * with the same privilege: the start has nothing left to do. */
static int child_ipc_limits(struct activator_ctx *c)
{
	if (!(c->spec->namespaces & CLONE_NEWIPC) || c->spare_ipc)
		return 0;
	return child_ipc_limits_write(&c->what);
}

/*
 * Join the service's user namespace as its uid 0, now that everything that
 * needs the initial namespace's privilege is done: the mounts, the hostname,
 * lo, the rlimits. The kernel gives a process that enters a user namespace
 * every capability in it, and nothing outside it; the privilege step then
 * drops what the spec does not keep.
 */
int child_userns(struct activator_ctx *c)
{
	if (c->spec->userns_fd < 0)
		return 0;
	if (setns(c->spec->userns_fd, CLONE_NEWUSER) < 0)
		return -errno;
	if (syscall(SYS_setresgid, 0, 0, 0) < 0 || syscall(SYS_setresuid, 0, 0, 0) < 0)
		return -errno;
	/* New ids: not dumpable again (see child_undumpable()). */
	return child_undumpable();
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
int child_fds(struct activator_ctx *c)
{
	const struct activator_spec *spec = c->spec;
	int n = (int)spec->n_fds;
	/* 3+n is kept for the sync fd, 3+n+1 for the handoff fd (pool), the
	 * next two for the go pipe of an early fork (init_fork_early()). */
	int go_at = 3 + n + (c->handoff_fd >= 0 ? 2 : 1);
	int first_free = go_at + (c->go[0] >= 0 ? 2 : 0);
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
	/* Both above first: one may sit where the other goes (and dup3()
	 * refuses to copy an fd onto itself). */
	if (c->handoff_fd >= 0) {
		if ((r = fd_move_above(c->handoff_fd, first_free)) < 0)
			return r;
		c->handoff_fd = r;
	}
	if ((r = fd_move_above(c->sync_fd, first_free)) < 0)
		return r;
	c->sync_fd = r;
	for (int k = 0; k < 2 && c->go[0] >= 0; k++) {
		if ((r = fd_move_above(c->go[k], first_free)) < 0)
			return r;
		c->go[k] = r;
	}
	for (int k = 0; k < 2 && c->go[0] >= 0; k++) {
		if (dup3(c->go[k], go_at + k, O_CLOEXEC) < 0)
			return -errno;
		c->go[k] = go_at + k;
	}
	if (c->handoff_fd >= 0) {
		if (dup3(c->handoff_fd, 3 + n + 1, O_CLOEXEC) < 0)
			return -errno;
		c->handoff_fd = 3 + n + 1;
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
	/* A spare did at its start, a pooled sandbox right before its early
	 * fork: the payload is in pid 1's session as with a fork here. */
	if (c->go[0] >= 0)
		return c->payload == 0 || getsid(0) == getpid() ? 0 : -EPERM;
	if (setsid() < 0)
		return -errno;
	return 0;
}

int child_chdir(struct activator_ctx *c)
{
	const char *wd = c->spec->working_directory ? c->spec->working_directory : "/";

	if (chdir(wd) < 0)
		return -errno;
	/* A known umask, not the daemon's. */
	umask(0022);
	return 0;
}

bool child_parent_gone(struct activator_ctx *c)
{
	struct pollfd p = {.fd = c->sync_fd, .events = 0};

	return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR));
}

/* Limit*=, before the uid change (as systemd): lowering a limit needs no
 * privilege, and RLIMIT_NPROC must be in place when the uid changes. The
 * raw prlimit64: see the comment at the top. */
int child_rlimits(struct activator_ctx *c)
{
	const struct activator_spec *spec = c->spec;

	for (size_t i = 0; i < spec->n_rlimits; i++)
		if (syscall(SYS_prlimit64, 0, spec->rlimits[i].resource, &spec->rlimits[i].limit,
			    NULL) < 0)
			return -errno;
	return 0;
}

/*
 * OOMScoreAdjust=: written while we are still root of the initial user
 * namespace (lowering it takes CAP_SYS_RESOURCE there), before the
 * payload's fork, which inherits it. A value set with that privilege is
 * also the floor of the process and its children (oom_score_adj_min): the
 * payload cannot go below it, only above. Part of the rlimits step; in
 * enter mode a step of its own before the namespaces are joined, while
 * /proc/self is still this process (enter.c).
 */
int child_oom_score(struct activator_ctx *c)
{
	_cleanup_close_ int fd = -1;
	char buf[16];
	int n;

	if (!c->spec->oom_score_adj_set)
		return 0;
	c->what = "/proc/self/oom_score_adj";
	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "%d", c->spec->oom_score_adj);
	if (write(fd, buf, (size_t)n) != n)
		return -errno;
	c->what = NULL;
	return 0;
}

static int child_limits(struct activator_ctx *c)
{
	int r = child_rlimits(c);

	return r < 0 ? r : child_oom_score(c);
}

/*
 * Drop privileges, in the order that keeps each step possible
 * (docs/architecture.md, step 5):
 * the bounding set while we still have CAP_SETPCAP, PR_SET_KEEPCAPS, the
 * supplementary groups and gid while we still have CAP_SETGID, the uid,
 * then capset() and the ambient set, then PR_SET_NO_NEW_PRIVS. The seccomp
 * filter comes last, in the payload right before execve (init.c). Raw
 * system calls for the ids: see the comment at the top.
 */
int child_privileges(struct activator_ctx *c)
{
	const struct activator_spec *spec = c->spec;
	int r;

	r = caps_bounding(c);
	if (r < 0)
		return r;

	/* Always set the groups: the daemon's own supplementary groups must
	 * not leak into the container, even for a root payload. In a user
	 * namespace set up by an unprivileged daemon, setgroups() is denied
	 * (userns.c): the groups are then the daemon's, unmapped (nogroup). */
	if (syscall(SYS_setgroups, spec->n_groups, spec->groups) < 0 &&
	    !(errno == EPERM && spec->n_groups == 0 && (spec->namespaces & CLONE_NEWUSER)))
		return -errno;
	if (syscall(SYS_setresgid, spec->gid, spec->gid, spec->gid) < 0)
		return -errno;
	if (spec->uid != 0 && syscall(SYS_setresuid, spec->uid, spec->uid, spec->uid) < 0)
		return -errno;

	r = caps_apply(c);
	if (r < 0)
		return r;

	/* The kernel refuses a seccomp filter from a process that could
	 * still gain privileges by execve, unless it has CAP_SYS_ADMIN. */
	if ((spec->no_new_privs || (spec->seccomp && spec->set_capabilities &&
				    !(spec->capabilities & (UINT64_C(1) << CAP_SYS_ADMIN)))) &&
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;

	/* New ids: not dumpable again. */
	r = child_undumpable();
	if (r < 0)
		return r;

	/* The kernel clears PDEATHSIG when the euid or egid changes: arm it
	 * again, then make sure the parent did not die in between (its end
	 * of the sync socket would be closed: POLLHUP on ours). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		return -errno;
	if (child_parent_gone(c))
		return -EPIPE;
	return 0;
}

/* Sets KEY=value in envp (room reserved by the parent), replacing the
 * variable of the same name if there is one. */
static void child_env_set(struct activator_ctx *c, char *assignment)
{
	size_t k = (size_t)(strchr(assignment, '=') - assignment) + 1;

	for (size_t i = 0; i < c->n_envp; i++)
		if (strncmp(c->envp[i], assignment, k) == 0) {
			c->envp[i] = assignment;
			return;
		}
	c->envp[c->n_envp++] = assignment;
	c->envp[c->n_envp] = NULL;
}

/*
 * Parked mode: everything is set up, the listeners are in place and
 * privileges are dropped; wait for activator_release(). EOF: the service no
 * longer wants this container (a reload, a stop): exit 0, quietly.
 */
static int child_park(struct activator_ctx *c)
{
	char b;
	ssize_t n;

	do
		n = recv(c->handoff_fd, &b, 1, 0);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		_exit(0);
	if (n < 0)
		return -errno;
	c->handoff_fd = safe_close(c->handoff_fd);
	return 0;
}

/*
 * Pool mode: everything is set up and privileges are dropped; the payload,
 * forked already (init_fork_early()), waits for the connection
 * (activator_handoff()) while pid 1 goes on to lock itself down. It
 * arrives close-on-exec at the lowest free fd; the sync fd is at 3 and
 * must make room for it there. An EOF means the pool no longer wants this
 * container: the payload exits 0, quietly, and pid 1 with it.
 */
int child_handoff(struct activator_ctx *c)
{
	struct activator_handoff_header h;
	union {
		struct cmsghdr cm;
		char space[CMSG_SPACE(sizeof(int) * 4)];
	} control;
	struct iovec iov[2] = {
	    {.iov_base = &h, .iov_len = sizeof(h)},
	    {.iov_base = c->handoff_buf, .iov_len = ACTIVATOR_HANDOFF_SIZE_MAX},
	};
	struct msghdr msg = {.msg_iov = iov,
			     .msg_iovlen = 2,
			     .msg_control = control.space,
			     .msg_controllen = sizeof(control.space)};
	struct cmsghdr *cm;
	char *p, *end;
	int conn = -1, r;
	ssize_t n;

	if (c->handoff_fd < 0)
		return 0;
	if (c->spec->park)
		return child_park(c);
	if (c->payload > 0) {
		c->handoff_fd = safe_close(c->handoff_fd);
		return 0;
	}
	do
		n = recvmsg(c->handoff_fd, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		_exit(0);
	if (n < 0)
		return -errno;
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&conn, CMSG_DATA(cm), sizeof(int));
	if (conn < 0 || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || (size_t)n < sizeof(h) ||
	    h.n_env > ACTIVATOR_HANDOFF_ENV_MAX)
		return -EBADMSG;
	p = c->handoff_buf;
	end = p + ((size_t)n - sizeof(h));
	*end = '\0';
	c->handoff_fd = safe_close(c->handoff_fd);

	/* The name, then the variables. */
	if (strlen(p) >= sizeof(c->handoff_names) - sizeof("LISTEN_FDNAMES="))
		return -EBADMSG;
	if (h.layout == ACTIVATOR_LAYOUT_FD3) {
		strcpy(stpcpy(c->handoff_names, "LISTEN_FDNAMES="), p);
		child_env_set(c, c->listen_fds);
		child_env_set(c, c->listen_pid);
		child_env_set(c, c->handoff_names);
		c->n_fds = 1;
	}
	p += strlen(p) + 1;
	for (unsigned i = 0; i < h.n_env; i++) {
		if (p >= end || !strchr(p, '='))
			return -EBADMSG;
		child_env_set(c, p);
		p += strlen(p) + 1;
	}

	switch (h.layout) {
	case ACTIVATOR_LAYOUT_FD3:
		/* The sync fd leaves 3 for the connection. */
		if ((r = fd_move_above(c->sync_fd, 4)) < 0)
			return r;
		close(c->sync_fd);
		c->sync_fd = r;
		if (conn != 3) {
			if (dup2(conn, 3) < 0)
				return -errno;
			close(conn);
		} else if (fcntl(3, F_SETFD, 0) < 0) {
			return -errno;
		}
		return 0;
	case ACTIVATOR_LAYOUT_STDIO:
		if (dup2(conn, 0) < 0 || dup2(conn, 1) < 0)
			return -errno;
		if (conn > 2)
			close(conn);
		return 0;
	}
	return -EBADMSG;
}

/*
 * The order of the setup. It differs from the numbering of enum
 * activator_step in two places, on purpose:
 * - signals before sync: PDEATHSIG must be armed while we wait;
 * - mount points before the root is copied: they are made in the directory
 *   itself, which an idmapped copy would not let the host's root write;
 * - rlimits before joining the user namespace: raising a hard limit needs
 *   CAP_SYS_RESOURCE in the initial one;
 * - the user namespace before the fds are laid out: its fd is one of ours;
 * - Boot=yes: the container interface after the tmpfs mounts (it writes
 *   to /run) and before Bind= (the notify socket goes below /run/host);
 *   its own namespaces right after joining the user namespace that will
 *   own them;
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
    {STEP_IPC_LIMITS, child_ipc_limits},
    {STEP_MOUNTPOINTS, rootfs_mountpoints},
    {STEP_ROOTFS, rootfs_bind_root},
    {STEP_READ_ONLY, rootfs_read_only},
    {STEP_PROC, rootfs_proc},
    {STEP_SYS, rootfs_sys},
    {STEP_DEV, rootfs_dev},
    {STEP_TMPFS, rootfs_tmpfs},
    {STEP_BOOT, boot_container_interface},
    {STEP_BIND, rootfs_binds},
    {STEP_PIVOT_ROOT, rootfs_pivot},
    {STEP_HOSTNAME, child_hostname},
    {STEP_RLIMITS, child_limits},
    {STEP_FORK_PAYLOAD, init_fork_early},
    {STEP_USERNS, child_userns},
    {STEP_BOOT, boot_namespaces},
    {STEP_FDS, child_fds},
    {STEP_SETSID, child_setsid},
    {STEP_CHDIR, child_chdir},
    {STEP_PRIVILEGES, child_privileges},
    {STEP_HANDOFF, child_handoff},
};

#if NSINETD_BENCH_SETUP_TIMING
/* bench/run only, in a build of its own (meson -Dbench_setup_timing=true):
 * one line on the container's stderr, "nsinetd-init setup: STEP=µs …", in
 * the daemon's log, for the table of where a start's setup goes. */
static int64_t step_clock_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void steps_timed_say(const struct child_step *steps, const int64_t *ns, size_t n)
{
	char buf[2048];
	int len = snprintf(buf, sizeof(buf), "nsinetd-init setup:");

	for (size_t i = 0; i < n && len > 0 && (size_t)len < sizeof(buf); i++)
		len += snprintf(buf + len, sizeof(buf) - (size_t)len, " %s=%lld",
				activator_step_name(steps[i].step), (long long)(ns[i] / 1000));
	if (len > 0 && (size_t)len < sizeof(buf) - 1) {
		buf[len++] = '\n';
		(void)!write(STDERR_FILENO, buf, (size_t)len);
	}
}
#endif

void child_steps_run(struct activator_ctx *c, const struct child_step *steps, size_t n)
{
#if NSINETD_BENCH_SETUP_TIMING
	int64_t ns[64];
#endif
	for (size_t i = 0; i < n; i++) {
#if NSINETD_BENCH_SETUP_TIMING
		int64_t t0 = step_clock_ns();
#endif
		int r = steps[i].run(c);

		if (r < 0)
			child_fail(c, steps[i].step, r);
#if NSINETD_BENCH_SETUP_TIMING
		if (i < 64)
			ns[i] = step_clock_ns() - t0;
#endif
	}
#if NSINETD_BENCH_SETUP_TIMING
	/* The start's own steps, not an enter's. */
	if (steps == child_steps)
		steps_timed_say(steps, ns, n < 64 ? n : 64);
#endif
}

_Noreturn void child_run(struct activator_ctx *c)
{
	child_steps_run(c, child_steps, ELEMENTSOF(child_steps));
	if (c->spec->boot)
		init_boot(c);
	init_run(c);
}
