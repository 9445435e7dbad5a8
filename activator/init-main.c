/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nsinetd-init: the container's pid 1, a program of its own.
 *
 * The daemon's clone (CLONE_VM|CLONE_VFORK, activator.c) execs this at
 * once, in the container's new namespaces, with an empty environment and
 * only these fds: the payload's stdio at 0-2, the sync socket at 3 and the
 * fds of wire.h after it. The spec waits on the sync socket as one message;
 * the daemon's go follows it. Then the setup steps run here (child.c), in
 * this process's own small address space, and this process stays as the
 * stub init (init.c): no byte of the daemon's memory is ever in the
 * container.
 *
 * "nsinetd-init --hold" only holds a new user namespace while the daemon
 * writes its maps (activator_userns_new()): it waits for EOF on fd 3.
 * "nsinetd-init --spare" is a spare (activator_spare_new()): started in
 * fresh pid, IPC and UTS namespaces before any start, it makes the
 * container's /proc and /dev detached, then waits for a spec as above.
 * "nsinetd-init --mount-template" makes the mount template in the new mount
 * namespace it was started in (rootfs_template_make()), says so with one
 * byte on fd 3 and holds it the same way.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "activator-internal.h"
#include "common/cleanup.h"
#include "wire.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

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

/* The payload's environment and the pool's buffers, built before the
 * setup: the payload's side of init.c's vfork() must not allocate. Nothing
 * is freed: this process becomes pid 1 and never returns. */
int ctx_new(const struct activator_spec *spec, struct activator_ctx **ret)
{
	struct activator_ctx *c;
	size_t n_env = 0, i = 0;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->spec = spec;
	c->sync_fd = WIRE_FD_SYNC;
	c->root_fd = -1;
	c->in_template = spec->mount_template_fd >= 0;
	c->spare_proc_fd = c->spare_dev_fd = c->spare_sys_fd = c->cgroup_fd = -1;
	c->spare_tmp_fd = c->spare_run_fd = -1;
	c->go[0] = c->go[1] = -1;
	c->path = DEFAULT_PATH;
	c->argv = spec->argv;
	c->pty_master = c->pty_slave = -1;

	for (char *const *e = spec->envp; e && *e; e++)
		n_env++;
	c->envp = calloc(n_env + 4 + (spec->pool ? ACTIVATOR_HANDOFF_ENV_MAX : 0), sizeof(char *));
	if (!c->envp)
		return -ENOMEM;
	c->n_fds = spec->n_fds;
	c->handoff_fd = spec->pool || spec->park ? spec->handoff_fd : -1;
	/* Enter mode's test pause is a park of the command before its exec:
	 * the same slot, kept by child_fds(). */
	if (spec->enter)
		c->handoff_fd = spec->enter_pause_fd;
	if (spec->pool) {
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
		if (asprintf(&c->listen_fds, "LISTEN_FDS=%zu", spec->n_fds) < 0)
			return -ENOMEM;
		c->listen_names = listen_names_new(spec);
		if (!c->listen_names)
			return -ENOMEM;
		/* A booted init is pid 1 itself; a payload completes its own. */
		strcpy(c->listen_pid, spec->boot ? "LISTEN_PID=1" : "LISTEN_PID=");
		c->envp[i++] = c->listen_fds;
		c->envp[i++] = c->listen_pid;
		c->envp[i++] = c->listen_names;
	}
	c->envp[i] = NULL;
	c->n_envp = i;
	*ret = c;
	return 0;
}

_Noreturn static void fail_early(enum activator_step step, int err)
{
	struct activator_record rec = {.step = step, .err = err < 0 ? err : -EIO};

	(void)send(WIRE_FD_SYNC, &rec, sizeof(rec), MSG_NOSIGNAL);
	_exit(127);
}

/* The spec: one message, with its fds (SCM_RIGHTS) if the daemon attached
 * them. Not peeked: a peek would install the fds twice. */
static int read_spec(char **ret_buf, size_t *ret_len, int *fds, size_t *ret_n_fds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * WIRE_FDS_MAX)];
		struct cmsghdr align;
	} u;
	struct iovec iov;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cm;
	char *buf = malloc(WIRE_SIZE_MAX);
	ssize_t n;

	*ret_n_fds = 0;
	if (!buf)
		return -ENOMEM;
	iov = (struct iovec){.iov_base = buf, .iov_len = WIRE_SIZE_MAX};
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof(u.buf);
	do
		n = recvmsg(WIRE_FD_SYNC, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		free(buf);
		return n < 0 ? -errno : -EPIPE; /* EOF: the daemon is gone */
	}
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			if (*ret_n_fds + k > WIRE_FDS_MAX)
				return -EMSGSIZE;
			memcpy(fds + *ret_n_fds, CMSG_DATA(cm), k * sizeof(int));
			*ret_n_fds += k;
		}
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		return -EMSGSIZE;
	*ret_buf = buf;
	*ret_len = (size_t)n;
	return 0;
}

/* Holds a namespace for the daemon: until EOF on fd 3. */
static int hold(void)
{
	char b;

	for (;;) {
		ssize_t n = read(WIRE_FD_SYNC, &b, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
	}
}

int main(int argc, char **argv)
{
	static struct wire_spec w;
	static int fds[WIRE_FDS_MAX];
	struct activator_ctx *c = NULL;
	char *buf = NULL;
	size_t len = 0, n_fds = 0;
	int spare_proc = -1, spare_dev = -1, spare_sys = -1, spare_tmp = -1, spare_run = -1, r;
	char port_start[16] = "";
	const char *what;
	bool spare = false, spare_netns = false, spare_ipc = false, spare_signals = false;

	/* First of all: no process of the container may read or write our
	 * memory through /proc/PID/mem or ptrace, whatever its uid, nor open
	 * our fds or our executable through /proc/PID/{fd,exe}. Before the
	 * arguments are even looked at: a container that makes a payload (or
	 * an entered command) re-execute /proc/self/exe (runc's
	 * CVE-2019-5736) must not find us dumpable on any path. */
	if (child_undumpable() < 0)
		return 127;
	if (argc == 2 && strcmp(argv[1], "--hold") == 0)
		return hold();
	if (argc == 2 && strcmp(argv[1], "--mount-template") == 0) {
		char b;

		r = rootfs_template_make();
		b = r >= 0 ? '1' : -r < 127 ? (char)-r : EIO;
		if (write(WIRE_FD_SYNC, &b, 1) != 1 || r < 0)
			return 1;
		return hold();
	}
	if (argc == 2 && strcmp(argv[1], "--spare") == 0) {
		/* Until a spec comes, maybe long: what depends on none of it.
		 * A failure only leaves the step to the start. */
		spare = true;
		/* The first step, with PDEATHSIG: the dispositions an ignored
		 * signal of the daemon's kept through the exec, all reset. */
		spare_signals = child_signals(NULL) >= 0;
		if (!spare_signals)
			(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* pid 1's session, as child_setsid() would make it. */
		(void)setsid();
		spare_proc = rootfs_proc_new();
		spare_dev = rootfs_dev_new();
		(void)rootfs_tmpfs_new(&spare_tmp, &spare_run);
		spare_netns = child_spare_netns(&spare_sys, port_start, sizeof(port_start));
		spare_ipc = child_ipc_limits_write(&what) >= 0;
	} else if (argc != 1) {
		fprintf(stderr, "nsinetd-init is started by nsinetd, not by hand\n");
		return 2;
	}

	r = read_spec(&buf, &len, fds, &n_fds);
	if (r < 0)
		fail_early(STEP_MESSAGE, r);
	r = wire_decode(buf, len, fds, n_fds, &w);
	if (r < 0)
		fail_early(STEP_MESSAGE, r);
	r = ctx_new(&w.spec, &c);
	if (r < 0)
		fail_early(STEP_MESSAGE, r);
	c->spare = spare;
	c->spare_proc_fd = spare_proc;
	c->spare_dev_fd = spare_dev;
	c->spare_sys_fd = spare_sys;
	c->spare_tmp_fd = spare_tmp;
	c->spare_run_fd = spare_run;
	memcpy(c->spare_port_start, port_start, sizeof(port_start));
	c->spare_netns = spare_netns;
	c->spare_ipc = spare_ipc;
	c->spare_signals = spare_signals;
	c->cgroup_fd = spare ? w.spec.cgroup_fd : -1;
	/* A container's pid 1 now, and so its command line says (ps, and the
	 * daemon's spares are those that still say "--spare"). */
	if (spare)
		memset(argv[1], 0, strlen(argv[1]));
	/* The mode is chosen here, once: a start or an enter. */
	if (w.spec.enter)
		enter_run(c);
	child_run(c);
}
