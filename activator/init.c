/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The stub init: pid 1 of the container's pid namespace. It forks the
 * payload (pid 2, so that LISTEN_PID is the payload's own pid), forwards
 * the stop and job signals to it, reaps every orphan, and exits with the
 * payload's status when the payload exits (which takes the rest of the
 * pid namespace with it).
 *
 * Once the payload has exec'd, pid 1 locks itself down further than the
 * payload: no capability, no new privileges, and a seccomp allow-list of
 * the few system calls its loop makes. It has been non-dumpable since its
 * start (init-main.c), so the payload cannot read or write its memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "activator-internal.h"
#include "common/cleanup.h"

static const int init_forwarded[] = {SIGTERM, SIGINT,  SIGHUP,   SIGQUIT,
				     SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};

/* Never runs (every signal is blocked and taken by sigwaitinfo()); having a
 * handler is what makes the kernel deliver these to a pid 1 at all. */
static void init_noop_cb(int sig)
{
}

/* execve of argv[0], searched in the container's PATH when it has no '/'.
 * Returns only on failure: the first error that is not "not here",
 * else -EACCES if some candidate was not executable, else -ENOENT. */
static int init_exec(struct activator_ctx *c)
{
	char *const *argv = c->argv;
	const char *file = c->exec_file ? c->exec_file : argv[0];
	char buf[4096];
	bool eacces = false;
	size_t flen = strlen(file);

	if (strchr(file, '/')) {
		execve(file, argv, c->envp);
		return -errno;
	}
	for (const char *p = c->path;;) {
		const char *end = strchrnul(p, ':');
		size_t dlen = (size_t)(end - p);

		/* Empty entries (the current directory) are skipped on purpose. */
		if (dlen > 0 && dlen + 1 + flen < sizeof(buf)) {
			memcpy(buf, p, dlen);
			buf[dlen] = '/';
			memcpy(buf + dlen + 1, file, flen + 1);
			execve(buf, argv, c->envp);
			switch (errno) {
			case EACCES:
				eacces = true;
				break;
			case ENOENT:
			case ENOTDIR:
			case ESTALE:
			case ENODEV:
				break;
			default:
				return -errno;
			}
		}
		if (*end == '\0')
			break;
		p = end + 1;
	}
	return eacces ? -EACCES : -ENOENT;
}

/* The seccomp filter, last, right before execve: one system call on a
 * program the daemon compiled; then every signal unblocked, and the exec.
 * Returns the exec's error (a filter that fails is reported here). */
static int init_filter_exec(struct activator_ctx *c)
{
	sigset_t none;

	if (c->spec->seccomp &&
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, c->spec->seccomp) < 0)
		child_fail(c, STEP_SECCOMP, -errno);
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		return -errno;
	return init_exec(c);
}

/* pid 2, a fork() child. The sync fd is still open here (close-on-exec): a failed execve
 * reports itself on it; a successful one closes it, and the parent's EOF
 * means "the payload runs". */
_Noreturn void init_payload(struct activator_ctx *c)
{
	struct sigaction sa = {.sa_handler = SIG_DFL};
	int r;

	/* Default dispositions before unblocking: a signal that arrives now
	 * acts on the payload as it would on the program it becomes. */
	for (size_t i = 0; i < ELEMENTSOF(init_forwarded); i++)
		(void)sigaction(init_forwarded[i], &sa, NULL);
	(void)sigaction(SIGCHLD, &sa, NULL);

	/* LISTEN_PID is our own pid as the payload sees it: getpid() here.
	 * Formatted by hand: async-signal-safe code only, after a fork(). */
	if (c->n_fds > 0) {
		char digits[16];
		size_t n = 0, off = strlen("LISTEN_PID=");
		unsigned int pid = (unsigned int)getpid();

		do {
			digits[n++] = (char)('0' + pid % 10);
			pid /= 10;
		} while (pid && n < sizeof(digits));
		if (off + n + 1 <= sizeof(c->listen_pid)) {
			memcpy(c->listen_pid, "LISTEN_PID=", off);
			while (n > 0)
				c->listen_pid[off++] = digits[--n];
			c->listen_pid[off] = '\0';
		}
	}

	/* Only this task is filtered: pid 1 has loaded its own. */
	r = init_filter_exec(c);
	child_fail(c, STEP_EXEC, r);
}

/*
 * Boot=yes: this process becomes the tree's init, pid 1, with the
 * listeners at 3… and LISTEN_PID=1. No stub stays behind: the init reaps,
 * handles the stop signal (SIGRTMIN+3 for systemd) and says READY=1 itself.
 * The sync fd is close-on-exec: the daemon's EOF means the init runs. The
 * signal dispositions are the defaults since child_signals(); the mask is
 * emptied for the init, as for a payload. /sbin/init, when it is asked for
 * and missing, falls back to /lib/systemd/systemd.
 */
_Noreturn void init_boot(struct activator_ctx *c)
{
	int r = init_filter_exec(c);

	if (r == -ENOENT && strcmp(c->argv[0], "/sbin/init") == 0) {
		c->exec_file = "/lib/systemd/systemd";
		r = init_exec(c);
	}
	c->what = c->exec_file ? c->exec_file : c->argv[0];
	child_fail(c, STEP_EXEC, r);
}

/*
 * Two kinds of container fork the payload here, at STEP_FORK_PAYLOAD,
 * rather than in init_run() after the last step:
 *
 * - A spare's pid 1 sits in the cgroup the spare was made in (activator.h),
 *   so it clones the payload into the container's cgroup (the spec's fd;
 *   none without cgroups) and a cgroup namespace rooted there, while it is
 *   still root of the initial user namespace: the namespace is owned by it
 *   as the daemon's clone's would be, and joining the service's user
 *   namespace would leave no right to the cgroup. Then pid 1 joins that
 *   cgroup namespace too (an entered command joins pid 1's).
 * - A pooled sandbox (spec->pool) forks it ahead of its connection, so
 *   that the fork and pid 1's lock-down are done while it waits, at the
 *   pool's idle priority, not between the hand-off and the payload's exec.
 *   The payload takes the hand-off itself (child_handoff()); pid 1 only
 *   closes its end. pid 1 makes the session first, for the payload to be
 *   in it as with a later fork. The payload gets the normal priority back
 *   at once, while it may (CAP_SYS_NICE of the initial user namespace):
 *   it runs its last steps and then sleeps until the connection comes,
 *   and must serve it at the normal priority. pid 1 stays idle until the
 *   daemon gives it its priority back at the hand-off.
 *
 * Fork semantics, no CLONE_VM: the payload returns here with its own copy,
 * and both run the steps left (user namespace, fds, chdir, privileges), the
 * payload as it would have inherited them; init_run() then only takes the
 * pid. The payload still waits for pid 1's lock-down (the go pipe) before
 * its exec.
 */
int init_fork_early(struct activator_ctx *c)
{
	bool cgroupns = c->spare && (c->spec->namespaces & CLONE_NEWCGROUP);
	int pidfd = -1;
	struct clone_args args = {
	    .flags = cgroupns ? CLONE_PIDFD | CLONE_NEWCGROUP : 0,
	    .pidfd = (uint64_t)(uintptr_t)&pidfd,
	    .exit_signal = SIGCHLD,
	};
	long pid;

	if (!c->spare && !c->spec->pool)
		return 0;
	if (c->spec->pool && setsid() < 0)
		return -errno;
	if (pipe2(c->go, O_CLOEXEC) < 0)
		return -errno;
	if (c->spare && c->cgroup_fd >= 0) {
		args.flags |= CLONE_INTO_CGROUP;
		args.cgroup = (uint64_t)c->cgroup_fd;
	}
	pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0)
		return -errno;
	c->cgroup_fd = safe_close(c->cgroup_fd);
	c->payload = (pid_t)pid;
	if (pid == 0) {
		struct sched_param sp = {0};

		/* System calls, not musl's sched_*() (stubs: ENOSYS). Refused
		 * only to a daemon that is not root (a user namespace made by
		 * the clone): it cannot give pid 1 its priority back either,
		 * says so, and refills at the normal one from then on. */
		if (c->spec->pool && syscall(SYS_sched_getscheduler, 0) == SCHED_IDLE)
			(void)syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, &sp);
		return 0;
	}
	if (cgroupns && setns(pidfd, CLONE_NEWCGROUP) < 0) {
		int err = errno;

		(void)kill((pid_t)pid, SIGKILL);
		close(pidfd);
		return -err;
	}
	if (pidfd >= 0)
		close(pidfd);
	return 0;
}

/* pid 1 once the payload runs: nothing left to gain, nothing to grant. */
static int init_lock_down(void)
{
	int r = caps_drop_all();

	if (r < 0)
		return r;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return init_seccomp_load();
}

/* 128+signal, as a shell reports a killed command: a pid 1 cannot die of a
 * signal it sends itself. */
static int init_exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}

/* pid 1 keeps nothing of the payload's: not the passed fds (the daemon
 * holds the listeners), not stdio (a connection passed as stdin/stdout
 * must close when the payload closes it). The sync fd stays, for the
 * lock-down's report; it is closed last (the daemon's EOF must mean "the
 * payload runs, pid 1 is locked down"). */
static void init_release_fds(int sync_fd, int go_fd)
{
	int keep_lo = sync_fd < go_fd ? sync_fd : go_fd, keep_hi = sync_fd ^ go_fd ^ keep_lo;
	int null_fd;

	if (keep_lo > 3)
		(void)syscall(SYS_close_range, 3U, (unsigned)keep_lo - 1, 0);
	if (keep_hi > keep_lo + 1)
		(void)syscall(SYS_close_range, (unsigned)keep_lo + 1, (unsigned)keep_hi - 1, 0);
	(void)syscall(SYS_close_range, (unsigned)keep_hi + 1, ~0U, 0);
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (null_fd < 0)
		return;
	for (int i = 0; i < 3; i++)
		(void)dup2(null_fd, i);
	if (null_fd > 2)
		close(null_fd);
}

_Noreturn void init_run(struct activator_ctx *c)
{
	struct sigaction sa = {.sa_handler = init_noop_cb, .sa_flags = SA_RESTART};
	sigset_t all, wait_set;
	pid_t payload;
	int go[2];

	sigfillset(&all);
	sigemptyset(&wait_set);
	sa.sa_mask = all;
	for (size_t i = 0; i < ELEMENTSOF(init_forwarded); i++) {
		(void)sigaction(init_forwarded[i], &sa, NULL);
		sigaddset(&wait_set, init_forwarded[i]);
	}
	sa.sa_flags |= SA_NOCLDSTOP;
	(void)sigaction(SIGCHLD, &sa, NULL);
	sigaddset(&wait_set, SIGCHLD);
	/* Everything stays blocked (it has been since clone): signals are
	 * taken synchronously below, never by a handler. */
	if (sigprocmask(SIG_SETMASK, &all, NULL) < 0)
		child_fail(c, STEP_FORK_PAYLOAD, -errno);

	/* fork(), not vfork(): pid 1 must lock itself down before the payload
	 * runs a single instruction of its own (a payload that looked at
	 * /proc/1/status at once would otherwise catch pid 1 still unfiltered),
	 * and a vfork() parent cannot act before its child's execve. Copying
	 * this small static program's page tables costs far less than the
	 * daemon's did. The payload waits for EOF on the go pipe: pid 1 closes
	 * its end once locked down. */
	if (c->go[0] >= 0) {
		/* Forked already (init_fork_early()). */
		go[0] = c->go[0];
		go[1] = c->go[1];
		payload = c->payload;
	} else {
		if (pipe2(go, O_CLOEXEC) < 0)
			child_fail(c, STEP_FORK_PAYLOAD, -errno);
		payload = fork();
	}
	if (payload < 0)
		child_fail(c, STEP_FORK_PAYLOAD, -errno);
	if (payload == 0) {
		char b;
		ssize_t n;

		close(go[1]);
		do
			n = read(go[0], &b, 1);
		while (n < 0 && errno == EINTR);
		close(go[0]);
		init_payload(c);
	}
	close(go[0]);

	/* The daemon sees "running" (EOF on the sync fd) only once pid 1 is
	 * locked down and the payload has exec'd, or a record if either
	 * failed (which ends the whole container: pid 1 exits, the payload is
	 * killed first so that it never runs past a failed lock-down). */
	init_release_fds(c->sync_fd, go[1]);
	{
		int r = init_lock_down();

		if (r < 0) {
			(void)kill(payload, SIGKILL);
			child_fail(c, STEP_INIT, r);
		}
	}
	close(go[1]);
	close(c->sync_fd);

	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&wait_set, &si);

		if (sig < 0)
			continue; /* EINTR */
		if (sig != SIGCHLD) {
			/* A signal for a payload that is gone is harmless. */
			(void)kill(payload, sig);
			continue;
		}
		/* SIGCHLDs merge: reap everything that is ready, orphans too. */
		for (;;) {
			int status;
			pid_t p = waitpid(-1, &status, WNOHANG);

			if (p <= 0)
				break;
			if (p == payload)
				_exit(init_exit_code(status));
		}
	}
}
