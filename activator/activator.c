/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The parent's side of starting a container: validate the spec, prepare
 * everything the child needs, clone3() into the new namespaces, release the
 * child, and the small calls the supervisor makes afterwards (result,
 * signal, reap).
 */
#include "activator.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "activator-internal.h"
#include "common/cleanup.h"
#include "common/fd-util.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* The namespaces this version knows how to set up. CLONE_NEWUSER needs the
 * uid/gid maps, written by the parent between clone and release. */
#define NAMESPACES_REQUIRED (CLONE_NEWNS | CLONE_NEWPID)
#define NAMESPACES_ALLOWED                                                                         \
	(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP |              \
	 CLONE_NEWNET | CLONE_NEWUSER)

static const char *const step_names[_STEP_MAX] = {
    [STEP_NONE] = "none",
    [STEP_SYNC] = "sync",
    [STEP_SIGNALS] = "signals",
    [STEP_MOUNT_PRIVATE] = "mount-private",
    [STEP_LOOPBACK] = "loopback",
    [STEP_ROOTFS] = "rootfs",
    [STEP_MOUNTPOINTS] = "mountpoints",
    [STEP_READ_ONLY] = "read-only",
    [STEP_BIND] = "bind",
    [STEP_PROC] = "proc",
    [STEP_SYS] = "sys",
    [STEP_DEV] = "dev",
    [STEP_TMPFS] = "tmpfs",
    [STEP_PIVOT_ROOT] = "pivot_root",
    [STEP_HOSTNAME] = "hostname",
    [STEP_FDS] = "fds",
    [STEP_SETSID] = "setsid",
    [STEP_CHDIR] = "chdir",
    [STEP_PRIVILEGES] = "privileges",
    [STEP_HANDOFF] = "handoff",
    [STEP_FORK_PAYLOAD] = "fork-payload",
    [STEP_EXEC] = "exec",
    [STEP_RLIMITS] = "rlimits",
    [STEP_SECCOMP] = "seccomp",
    [STEP_NETNS] = "netns",
    [STEP_IDMAP] = "idmap",
};

const char *activator_step_name(enum activator_step step)
{
	if ((unsigned int)step >= _STEP_MAX || !step_names[step])
		return "unknown";
	return step_names[step];
}

static bool path_is_absolute(const char *p)
{
	return p && p[0] == '/';
}

static int spec_validate(const struct activator_spec *spec)
{
	if (!spec || !spec->argv || !spec->argv[0] || !spec->argv[0][0])
		return -EINVAL;
	if (!path_is_absolute(spec->staging_dir))
		return -EINVAL;
	if (spec->root_directory && !path_is_absolute(spec->root_directory))
		return -EINVAL;
	if (spec->working_directory && !path_is_absolute(spec->working_directory))
		return -EINVAL;

	if (spec->idmap_root && (!(spec->namespaces & CLONE_NEWUSER) || !spec->root_directory))
		return -EINVAL;
	if ((spec->namespaces & CLONE_NEWUSER) && spec->userns_range == 0)
		return -EINVAL;
	if (spec->n_rlimits > RLIM_NLIMITS || (spec->n_rlimits > 0 && !spec->rlimits))
		return -EINVAL;
	for (size_t i = 0; i < spec->n_rlimits; i++)
		if (spec->rlimits[i].resource < 0 || spec->rlimits[i].resource >= RLIM_NLIMITS ||
		    spec->rlimits[i].limit.rlim_cur > spec->rlimits[i].limit.rlim_max)
			return -EINVAL;
	if (spec->seccomp && (spec->seccomp->len == 0 || !spec->seccomp->filter))
		return -EINVAL;
	if ((spec->namespaces & NAMESPACES_REQUIRED) != NAMESPACES_REQUIRED ||
	    (spec->namespaces & ~(unsigned long)NAMESPACES_ALLOWED))
		return -EINVAL;
	/* Joining a namespace and creating one exclude each other. */
	if (spec->netns_fd >= 0 && (spec->namespaces & CLONE_NEWNET))
		return -EINVAL;
	/* Without its own UTS namespace the child would rename the host. */
	if (spec->hostname &&
	    (!(spec->namespaces & CLONE_NEWUTS) || strlen(spec->hostname) > HOST_NAME_MAX))
		return -EINVAL;

	if (spec->n_fds > ACTIVATOR_FDS_MAX)
		return -E2BIG;
	if (spec->n_fds > 0 && !spec->fds)
		return -EINVAL;
	for (size_t i = 0; i < spec->n_fds; i++) {
		if (spec->fds[i] < 0)
			return -EBADF;
		/* ':' separates the names in LISTEN_FDNAMES. */
		if (spec->fd_names && spec->fd_names[i] &&
		    (!spec->fd_names[i][0] || strchr(spec->fd_names[i], ':') ||
		     strlen(spec->fd_names[i]) > 255))
			return -EINVAL;
	}

	if (spec->n_binds > ACTIVATOR_MOUNTS_MAX || spec->n_tmpfs > ACTIVATOR_MOUNTS_MAX)
		return -E2BIG;
	if ((spec->n_binds > 0 && !spec->binds) || (spec->n_tmpfs > 0 && !spec->tmpfs))
		return -EINVAL;
	for (size_t i = 0; i < spec->n_binds; i++)
		if (!path_is_absolute(spec->binds[i].source) ||
		    !path_is_absolute(spec->binds[i].target))
			return -EINVAL;
	for (size_t i = 0; i < spec->n_tmpfs; i++) {
		if (!path_is_absolute(spec->tmpfs[i].target))
			return -EINVAL;
		if (spec->tmpfs[i].options &&
		    strlen(spec->tmpfs[i].options) >= ACTIVATOR_OPTIONS_MAX)
			return -E2BIG;
	}

	if (spec->pool && (spec->n_fds > 0 || spec->handoff_fd < 0))
		return -EINVAL;
	if (spec->n_groups > ACTIVATOR_GROUPS_MAX)
		return -E2BIG;
	if (spec->n_groups > 0 && !spec->groups)
		return -EINVAL;
	return 0;
}

static struct activator_ctx *ctx_free(struct activator_ctx *c)
{
	if (!c)
		return NULL;
	free(c->envp);
	free(c->listen_fds);
	free(c->listen_names);
	if (c->caps)
		cap_free(c->caps);
	free(c->handoff_buf);
	free(c);
	return NULL;
}

static void ctx_freep(struct activator_ctx **c)
{
	ctx_free(*c);
}

static bool env_is_listen(const char *e)
{
	return strncmp(e, "LISTEN_FDS=", 11) == 0 || strncmp(e, "LISTEN_PID=", 11) == 0 ||
	       strncmp(e, "LISTEN_FDNAMES=", 15) == 0;
}

/* "LISTEN_FDNAMES=a:b:c"; an unnamed fd is "unknown", as in systemd. */
static char *listen_names_new(const struct activator_spec *spec)
{
	size_t len = strlen("LISTEN_FDNAMES=") + 1;
	char *s, *p;

	for (size_t i = 0; i < spec->n_fds; i++) {
		const char *n = spec->fd_names && spec->fd_names[i] ? spec->fd_names[i] : "unknown";
		len += strlen(n) + 1;
	}
	s = malloc(len);
	if (!s)
		return NULL;
	p = stpcpy(s, "LISTEN_FDNAMES=");
	for (size_t i = 0; i < spec->n_fds; i++) {
		const char *n = spec->fd_names && spec->fd_names[i] ? spec->fd_names[i] : "unknown";
		if (i > 0)
			*p++ = ':';
		p = stpcpy(p, n);
	}
	return s;
}

/* Everything the child needs, built here so that the child does not
 * allocate (see activator-internal.h). The strings of spec->envp are shared,
 * not copied: the child sees the caller's memory as it was at clone time. */
static int ctx_new(const struct activator_spec *spec, struct activator_ctx **ret)
{
	_cleanup_(ctx_freep) struct activator_ctx *c = NULL;
	size_t n_env = 0, i = 0;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->spec = spec;
	c->sync_fd = c->parent_sync_fd = c->root_fd = c->idmapped_root_fd = -1;
	c->path = DEFAULT_PATH;

	for (char *const *e = spec->envp; e && *e; e++)
		n_env++;
	c->envp = calloc(n_env + 4 + (spec->pool ? ACTIVATOR_HANDOFF_ENV_MAX : 0), sizeof(char *));
	if (!c->envp)
		return -ENOMEM;
	c->n_fds = spec->n_fds;
	c->handoff_fd = spec->pool ? spec->handoff_fd : -1;
	if (spec->pool) {
		/* The child fills these in from the message, without allocating. */
		c->handoff_buf = malloc(ACTIVATOR_HANDOFF_SIZE_MAX + 1);
		c->listen_fds = strdup("LISTEN_FDS=1");
		if (!c->handoff_buf || !c->listen_fds)
			return -ENOMEM;
		strcpy(c->listen_pid, "LISTEN_PID=");
	}
	for (char *const *e = spec->envp; e && *e; e++) {
		/* Stale LISTEN_* (e.g. the daemon's own) would confuse the payload. */
		if (env_is_listen(*e))
			continue;
		if (strncmp(*e, "PATH=", 5) == 0)
			c->path = *e + 5;
		c->envp[i++] = *e;
	}
	if (spec->n_fds > 0) {
		if (asprintf(&c->listen_fds, "LISTEN_FDS=%zu", spec->n_fds) < 0) {
			c->listen_fds = NULL;
			return -ENOMEM;
		}
		c->listen_names = listen_names_new(spec);
		if (!c->listen_names)
			return -ENOMEM;
		strcpy(c->listen_pid, "LISTEN_PID=");
		c->envp[i++] = c->listen_fds;
		c->envp[i++] = c->listen_pid;
		c->envp[i++] = c->listen_names;
	}
	c->envp[i] = NULL;
	r = caps_prepare(c);
	if (r < 0)
		return r;
	c->n_envp = i;
	*ret = TAKE_PTR(c);
	return 0;
}

static pid_t clone3_container(const struct activator_spec *spec, int *ret_pidfd)
{
	struct clone_args args = {
	    .flags = CLONE_PIDFD | spec->namespaces,
	    .pidfd = (uint64_t)(uintptr_t)ret_pidfd,
	    .exit_signal = SIGCHLD,
	};

	/* CLONE_INTO_CGROUP: the child is in its cgroup before it runs a single
	 * instruction, so nothing it does escapes the freezer or cgroup.kill. */
	if (spec->cgroup_fd >= 0) {
		args.flags |= CLONE_INTO_CGROUP;
		args.cgroup = (uint64_t)spec->cgroup_fd;
	}
	return (pid_t)syscall(SYS_clone3, &args, sizeof(args));
}

/* Kills and reaps a child that cannot be released: the caller gets an
 * error and nothing to clean up. */
static void child_abandon(int pidfd)
{
	siginfo_t si;

	(void)syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
	while (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0 && errno == EINTR)
		;
}

/* The root directory as a detached, recursive, idmapped copy: on-disk ids
 * are seen through the container's user namespace (the host's root is the
 * container's root). Only the parent can make it: it needs CAP_SYS_ADMIN
 * over the file system's user namespace, the initial one. */
static int idmap_root_tree(const struct activator_spec *spec, pid_t pid, int *ret_fd)
{
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP};
	_cleanup_close_ int tree = -1, userns = -1;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
	userns = open(path, O_RDONLY | O_CLOEXEC);
	if (userns < 0)
		return -errno;
	tree = open_tree(AT_FDCWD, spec->root_directory,
			 OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	if (tree < 0)
		return -errno;
	attr.userns_fd = (uint64_t)userns;
	if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
		return -errno;
	*ret_fd = TAKE_FD(tree);
	return 0;
}

int activator_spawn(const struct activator_spec *spec, struct activator_child *ret)
{
	_cleanup_(ctx_freep) struct activator_ctx *c = NULL;
	_cleanup_close_ int parent_fd = -1, child_fd = -1, pidfd = -1, idmapped = -1;
	sigset_t all, saved;
	int sv[2], r, saved_errno;
	ssize_t n;
	pid_t pid;

	if (!ret)
		return -EINVAL;
	ret->failed_step = STEP_NONE;
	r = spec_validate(spec);
	if (r < 0)
		return r;
	r = ctx_new(spec, &c);
	if (r < 0)
		return r;

	/* SOCK_SEQPACKET: the child's {step, err} record arrives whole, and
	 * EOF (every copy of the child's end closed: the payload's by a
	 * successful execve) is distinguishable from it. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	parent_fd = sv[0];
	child_fd = sv[1];
	/* Only the parent's end: the child blocks on its own end. */
	r = fd_set_nonblock(parent_fd, true);
	if (r < 0)
		return r;
	c->sync_fd = child_fd;
	c->parent_sync_fd = parent_fd;

	/* Block every signal across clone3(): the child starts with the
	 * parent's handlers (libevent's, which write into the daemon's own
	 * signal pipe), and must not run one before it resets them. */
	sigfillset(&all);
	r = pthread_sigmask(SIG_SETMASK, &all, &saved);
	if (r != 0)
		return -r;
	pid = clone3_container(spec, &pidfd);
	saved_errno = errno;
	if (pid == 0)
		child_run(c); /* never returns */
	(void)pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (pid < 0)
		return saved_errno > 0 ? -saved_errno : -EINVAL;

	/* Our copy of the child's end must go, or we would never see EOF. */
	child_fd = safe_close(child_fd);

	/* Here, between clone and release, the parent does what only it
	 * can: write the uid/gid maps of a user namespace (the child cannot
	 * map itself), and create the veth pair whose peer goes into the
	 * child's network namespace (the caller's hook). */
	r = userns_write_maps(spec, pid);
	if (r < 0) {
		child_abandon(pidfd);
		return r;
	}
	if (spec->before_release) {
		r = spec->before_release(pid, pidfd, spec->userdata);
		if (r < 0) {
			child_abandon(pidfd);
			return r;
		}
	}

	if (spec->idmap_root) {
		r = idmap_root_tree(spec, pid, &idmapped);
		if (r < 0) {
			ret->failed_step = STEP_IDMAP;
			child_abandon(pidfd);
			return r;
		}
	}

	/* Release the child, with the idmapped root if there is one.
	 * MSG_NOSIGNAL: a child that already died must not kill the daemon
	 * with SIGPIPE. */
	n = fd_send(parent_fd, &(struct iovec){.iov_base = "x", .iov_len = 1}, 1, idmapped,
		    MSG_NOSIGNAL);
	if (n != 1) {
		r = n < 0 ? (int)n : -EIO;
		child_abandon(pidfd);
		return r;
	}

	ret->pid = pid;
	ret->pidfd = TAKE_FD(pidfd);
	ret->sync_fd = TAKE_FD(parent_fd);
	return 0;
}

int activator_read_result(int sync_fd, enum activator_step *ret_step)
{
	struct activator_record rec;
	ssize_t n;

	if (ret_step)
		*ret_step = STEP_NONE;
	n = recv(sync_fd, &rec, sizeof(rec), MSG_DONTWAIT);
	if (n < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? -EAGAIN
										   : -errno;
	if (n == 0)
		return 0;
	if ((size_t)n != sizeof(rec))
		return -EIO;
	if (ret_step)
		*ret_step = (rec.step > STEP_NONE && rec.step < _STEP_MAX)
				? (enum activator_step)rec.step
				: STEP_NONE;
	/* A record always means failure, whatever the child wrote in it. */
	return rec.err < 0 ? rec.err : -EIO;
}

int activator_signal(int pidfd, int sig)
{
	if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
		return -errno;
	return 0;
}

int activator_reap(int pidfd, int *ret_status)
{
	siginfo_t si = {0};

	if (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOHANG) < 0)
		return -errno;
	if (si.si_pid == 0)
		return -EAGAIN;
	if (ret_status) {
		switch (si.si_code) {
		case CLD_EXITED:
			*ret_status = W_EXITCODE(si.si_status, 0);
			break;
		case CLD_DUMPED:
			*ret_status = si.si_status | WCOREFLAG;
			break;
		default: /* CLD_KILLED */
			*ret_status = si.si_status;
			break;
		}
	}
	return 0;
}

int activator_handoff(int handoff_fd, int conn_fd, enum activator_layout layout,
		      const char *fd_name, char *const *envp)
{
	struct activator_handoff_header h = {.layout = layout, .n_env = 0};
	char buf[ACTIVATOR_HANDOFF_SIZE_MAX];
	size_t len = 0, n;
	struct iovec iov[2];
	ssize_t r;

	if (handoff_fd < 0 || conn_fd < 0 ||
	    (layout != ACTIVATOR_LAYOUT_FD3 && layout != ACTIVATOR_LAYOUT_STDIO))
		return -EINVAL;
	fd_name = fd_name ? fd_name : "connection";
	n = strlen(fd_name) + 1;
	if (n > 256 || strchr(fd_name, ':'))
		return -EINVAL;
	memcpy(buf, fd_name, n);
	len = n;
	for (char *const *e = envp; e && *e; e++) {
		n = strlen(*e) + 1;
		if (!strchr(*e, '='))
			return -EINVAL;
		if (++h.n_env > ACTIVATOR_HANDOFF_ENV_MAX || len + n > sizeof(buf))
			return -E2BIG;
		memcpy(buf + len, *e, n);
		len += n;
	}
	iov[0] = (struct iovec){.iov_base = &h, .iov_len = sizeof(h)};
	iov[1] = (struct iovec){.iov_base = buf, .iov_len = len};
	r = fd_send(handoff_fd, iov, 2, conn_fd, MSG_NOSIGNAL | MSG_DONTWAIT);
	return r < 0 ? (int)r : 0;
}
