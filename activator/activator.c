/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The parent's side of starting a container: validate the spec, encode it
 * (wire.c), clone3() into the new namespaces straight into an execve of
 * nsinetd-init, release it, and the small calls the supervisor makes
 * afterwards (result, signal, reap). The setup itself runs in nsinetd-init
 * (init-main.c, child.c, rootfs.c, init.c), never in a copy of the daemon.
 */
#include "activator.h"

#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/close_range.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "activator-internal.h"
#include "wire.h"
#include "common/cleanup.h"
#include "common/fd-util.h"

/* The namespaces this version knows how to set up. CLONE_NEWUSER needs the
 * uid/gid maps, written by the parent between clone and release. */
#define NAMESPACES_REQUIRED (CLONE_NEWNS | CLONE_NEWPID)
#define NAMESPACES_ALLOWED                                                                         \
	(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP |              \
	 CLONE_NEWNET | CLONE_NEWUSER)

static bool path_is_absolute(const char *p)
{
	return p && p[0] == '/';
}

static int spec_validate(const struct activator_spec *spec)
{
	if (!spec)
		return -EINVAL;
	/* Entering: no argv is the login shell; nothing of the container's
	 * own (its listeners, a pool's or a parked container's socket). */
	if (spec->enter &&
	    ((spec->argv && spec->argv[0] && !spec->argv[0][0]) || spec->enter_pidfd < 0 ||
	     spec->n_fds > 0 || spec->pool || spec->park || spec->netns_fd >= 0))
		return -EINVAL;
	if (!spec->enter && (!spec->argv || !spec->argv[0] || !spec->argv[0][0]))
		return -EINVAL;
	if (spec->spare && (spec->spare->pid <= 0 || !activator_spare_fits(spec)))
		return -EINVAL;
	if (!path_is_absolute(spec->staging_dir))
		return -EINVAL;
	if (spec->root_directory && !path_is_absolute(spec->root_directory))
		return -EINVAL;
	if (spec->working_directory && !path_is_absolute(spec->working_directory))
		return -EINVAL;

	if (spec->init_fd < 0)
		return -EBADF;
	/* {0} would make stdin the slot: it must be set, -1 or above stdio. */
	if ((spec->slot_fd >= 0 && spec->slot_fd < 3) || spec->slot_fd == spec->init_fd)
		return -EBADF;
	/* Joining a user namespace and creating one exclude each other. */
	if (spec->userns_fd >= 0 && (spec->namespaces & CLONE_NEWUSER))
		return -EINVAL;
	if (spec->idmap_root && (spec->userns_fd < 0 || !spec->root_directory))
		return -EINVAL;
	for (size_t i = 0; i < spec->n_binds; i++)
		if (spec->binds && spec->binds[i].idmap && spec->userns_fd < 0)
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
	/* Made late by nsinetd-init: only a namespace the clone would have
	 * made as the caller (no user namespace of the clone's), that no hook
	 * needs before the go. */
	if (spec->netns_late &&
	    (!(spec->namespaces & CLONE_NEWNET) || (spec->namespaces & CLONE_NEWUSER) ||
	     spec->before_release || spec->enter))
		return -EINVAL;
	if (spec->mount_template_fd >= 0 && !spec->enter && !(spec->namespaces & CLONE_NEWNS))
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
	if (spec->park && (spec->pool || spec->handoff_fd < 0))
		return -EINVAL;
	if (spec->ephemeral && !spec->root_directory)
		return -EINVAL;
	/* A booted init owns its namespaces through a user namespace, never
	 * as the host's root, and needs a tree and a cgroup namespace. */
	if (spec->boot && (spec->userns_fd < 0 || !spec->root_directory || spec->pool ||
			   spec->enter || !(spec->namespaces & CLONE_NEWCGROUP)))
		return -EINVAL;
	if (spec->n_groups > ACTIVATOR_GROUPS_MAX)
		return -E2BIG;
	if (spec->n_groups > 0 && !spec->groups)
		return -EINVAL;
	return 0;
}

/* The helper's fds, in the order wire.h lays them out from 0: stdio (-1 =
 * /dev/null), the sync socket, spec->fds[], then the optional ones. */
#define SPAWN_FDS_MAX (3 + 1 + ACTIVATOR_FDS_MAX + 6)

/*
 * What the clone's child needs, all of it prepared by the parent: the child
 * runs in the parent's memory (CLONE_VM) while the parent is suspended
 * (CLONE_VFORK), on a stack of its own, and makes only system calls on this
 * struct and its own stack until execve replaces the memory. It allocates
 * nothing and touches no lock: another thread of the daemon may hold
 * malloc's.
 */
struct spawn_child {
	int init_fd;
	int report_fd; /* the child's end of the sync socket, as it is now */
	/* CLONE_FILES: the child shares the daemon's fd table until it has
	 * unshared the fds below this number (every fd it needs is). */
	int unshare_below;
	int n_src;
	int src[SPAWN_FDS_MAX];
	/* A daemon that is not root: CLONE_NEWUSER, mapped by the child. */
	bool self_map;
	char uid_map[32], gid_map[32];
	char *const *argv;
};

static char *const init_argv[] = {"nsinetd-init", NULL};
static char *const hold_argv[] = {"nsinetd-init", "--hold", NULL};
static char *const template_argv[] = {"nsinetd-init", "--mount-template", NULL};
static char *const spare_argv[] = {"nsinetd-init", "--spare", NULL};
/* The helper starts with an empty environment: not the daemon's. */
static char *const empty_envp[] = {NULL};

/* In the clone's child: the record for activator_read_result(). */
static void spawn_child_report(int fd, enum activator_step step, int err)
{
	struct activator_record rec = {.step = step, .err = err < 0 ? err : -EIO};

	(void)send(fd, &rec, sizeof(rec), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Also in the clone's child: system calls only. */
static int write_file_at(const char *path, const char *text)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	size_t len = strlen(text);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, len);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

/*
 * The clone's child. errno is the parent thread's (shared TLS): it is only
 * read right after a failed call, and the parent does not look at it across
 * the clone. No sanitizer instrumentation: this runs on a stack ASan does
 * not know.
 */
__attribute__((no_sanitize_address)) static int spawn_child_cb(void *arg)
{
	struct spawn_child *sc = arg;
	int tmp[SPAWN_FDS_MAX];
	int null_fd = -1, init_fd, r;
	/* Where a failure is told: our end of the sync socket, at 3 once the
	 * fds are in place. */
	int report = sc->report_fd;
	enum activator_step step = STEP_EXEC_INIT;

	/* First of all, before any fd is touched: a private fd table with
	 * only the daemon's fds below unshare_below (the kernel copies no
	 * more than those), not the thousands of listeners above them. */
	if (sc->unshare_below > 0 &&
	    syscall(SYS_close_range, (unsigned)sc->unshare_below, ~0U, CLOSE_RANGE_UNSHARE) < 0)
		goto fail_errno;

	/* Rootless: our own ids are the only ones we may map (setgroups must
	 * be denied first); then we are the namespace's root, and execve
	 * keeps our capabilities there. */
	if (sc->self_map && ((r = write_file_at("/proc/self/setgroups", "deny")) < 0 ||
			     (r = write_file_at("/proc/self/uid_map", sc->uid_map)) < 0 ||
			     (r = write_file_at("/proc/self/gid_map", sc->gid_map)) < 0)) {
		step = STEP_USERNS;
		goto fail;
	}

	/* Every source first above the range, then into place: a source may
	 * sit where another one goes, and so may the helper's own fd. */
	init_fd = fcntl(sc->init_fd, F_DUPFD_CLOEXEC, sc->n_src);
	if (init_fd < 0)
		goto fail_errno;
	for (int i = 0; i < sc->n_src; i++) {
		int fd = sc->src[i];

		if (fd < 0) {
			if (null_fd < 0)
				null_fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
			fd = null_fd;
		}
		tmp[i] = fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, sc->n_src);
		if (tmp[i] < 0)
			goto fail_errno;
	}
	report = 3;
	for (int i = 0; i < sc->n_src; i++)
		if (dup2(tmp[i], i) < 0)
			goto fail_errno;
	/* Everything else is closed by the execve: the daemon's fds are all
	 * close-on-exec, and this makes it true of any stray one it inherited
	 * too (and of the temporaries and init_fd, once execveat has used it). */
	if (syscall(SYS_close_range, (unsigned)sc->n_src, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		goto fail_errno;
	syscall(SYS_execveat, init_fd, "", sc->argv, empty_envp, AT_EMPTY_PATH);
fail_errno:
	r = -errno;
fail:
	spawn_child_report(report, step, r);
	return 127;
}

/*
 * clone3() with CLONE_VM|CLONE_VFORK: the child runs fn(arg) on the given
 * stack and exits with its return value; the parent resumes when the child
 * has exec'd or exited. In assembly because the child must not return
 * through the C function that made the call: that frame is the parent's.
 * CLONE_INTO_CGROUP exists only in clone3(), which glibc does not export.
 */
static pid_t clone3_vfork(struct clone_args *args, int (*fn)(void *), void *arg)
{
	long ret;
#if defined(__x86_64__)
	register long r12 __asm__("r12") = (long)fn;
	register long r13 __asm__("r13") = (long)arg;

	__asm__ volatile("syscall\n\t"
			 "test %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 /* The child, on its own stack. */
			 "xor %%ebp, %%ebp\n\t"
			 "and $-16, %%rsp\n\t"
			 "mov %%r13, %%rdi\n\t"
			 "call *%%r12\n\t"
			 "mov %%eax, %%edi\n\t"
			 "mov $60, %%eax\n\t" /* SYS_exit */
			 "syscall\n\t"
			 "hlt\n\t"
			 "1:\n\t"
			 : "=a"(ret)
			 : "0"((long)SYS_clone3), "D"(args), "S"(sizeof(*args)), "r"(r12), "r"(r13)
			 : "rcx", "r11", "memory");
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = SYS_clone3;
	register long x0 __asm__("x0") = (long)args;
	register long x1 __asm__("x1") = sizeof(*args);
	register long x2 __asm__("x2") = (long)fn;
	register long x3 __asm__("x3") = (long)arg;

	__asm__ volatile("svc #0\n\t"
			 "cbnz x0, 1f\n\t"
			 "mov x29, xzr\n\t"
			 "mov x0, x3\n\t"
			 "blr x2\n\t"
			 "mov x8, #93\n\t" /* SYS_exit */
			 "svc #0\n\t"
			 "1:\n\t"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3)
			 : "memory");
	ret = x0;
#else
#error "clone3_vfork: no implementation for this architecture"
#endif
	if (ret < 0) {
		errno = (int)-ret;
		return -1;
	}
	return (pid_t)ret;
}

/* The child's stack: it only lays out fds and calls execve. Made once. */
#define SPAWN_STACK_SIZE (64 * 1024)

static void *spawn_stack(void)
{
	static void *stack;

	if (!stack) {
		void *p = mmap(NULL, SPAWN_STACK_SIZE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		stack = p;
	}
	return stack;
}

/* Clones with flags and execs nsinetd-init as sc says. All signals are
 * blocked across the clone: the child must not run one of the daemon's
 * handlers on the daemon's memory before its execve. */
static pid_t spawn_helper(uint64_t flags, int cgroup_fd, struct spawn_child *sc, int *ret_pidfd)
{
	struct clone_args args = {
	    .flags = flags | CLONE_VM | CLONE_VFORK | CLONE_PIDFD |
		     (sc->unshare_below > 0 ? CLONE_FILES : 0),
	    .pidfd = (uint64_t)(uintptr_t)ret_pidfd,
	    .exit_signal = SIGCHLD,
	};
	void *stack = spawn_stack();
	sigset_t all, saved;
	pid_t pid;
	int r, saved_errno;

	if (!stack)
		return -ENOMEM;
	args.stack = (uint64_t)(uintptr_t)stack;
	args.stack_size = SPAWN_STACK_SIZE;
	/* CLONE_INTO_CGROUP: the child is in its cgroup before it runs a single
	 * instruction, so nothing it does escapes the freezer or cgroup.kill. */
	if (cgroup_fd >= 0) {
		args.flags |= CLONE_INTO_CGROUP;
		args.cgroup = (uint64_t)cgroup_fd;
	}
	sigfillset(&all);
	r = pthread_sigmask(SIG_SETMASK, &all, &saved);
	if (r != 0)
		return -r;
	pid = clone3_vfork(&args, spawn_child_cb, sc);
	saved_errno = errno;
	(void)pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (pid < 0)
		return saved_errno > 0 ? -saved_errno : -EINVAL;
	return pid;
}

/* The reserved slot lets go of the child's end: dup3() closes it and puts
 * in its place a copy of nsinetd-init's O_PATH fd, which every child has
 * anyway (activator.h, slot_fd). Not a fresh open of /dev/null: at the fd
 * limit that open failed, the slot kept the child's end, the daemon never
 * saw the EOF that says the payload runs, and counted a sandbox that
 * served as a failed start. */
static int slot_release(int slot_fd, int init_fd)
{
	if (dup3(init_fd, slot_fd, O_CLOEXEC) < 0)
		return -errno;
	return 0;
}

/* One message with n fds attached (SCM_RIGHTS); the bytes sent or a
 * negative errno. */
static ssize_t send_with_fds(int sock, const void *data, size_t len, const int *fds, size_t n)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * SPAWN_FDS_MAX)];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t r;

	if (n > SPAWN_FDS_MAX)
		return -E2BIG;
	if (n > 0) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * n);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
	}
	do
		r = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
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

/* What the clone creates. Entering creates nothing: nsinetd-init joins the
 * container's. With a mount template nsinetd-init makes its mount namespace
 * itself, a copy of the template's, once the root is assembled. */
static uint64_t clone_namespaces(const struct activator_spec *spec)
{
	uint64_t ns = spec->namespaces;

	if (spec->enter)
		return 0;
	if (spec->mount_template_fd >= 0)
		ns &= ~(uint64_t)CLONE_NEWNS;
	if (spec->netns_late)
		ns &= ~(uint64_t)CLONE_NEWNET;
	return ns;
}

/* The start in a spare: its normal priority back (the payload that pid 1
 * forks inherits it), the spec and its fds, the caller's hook, the go.
 * -ECHILD: the spare could not take it (it died: discarded), the caller
 * clones instead. The spare is emptied in every case. */
static int spare_start(const struct activator_spec *spec, const struct wire_buf *msg,
		       const int *attached, int n_attached, struct activator_child *ret)
{
	struct activator_spare *sp = spec->spare;
	ssize_t n;
	int r;

	if (activator_priority_normal(sp->pid) < 0 ||
	    send_with_fds(sp->sync_fd, msg->data, msg->len, attached, (size_t)n_attached) !=
		(ssize_t)msg->len) {
		activator_spare_discard(sp);
		return -ECHILD;
	}
	if (spec->before_release) {
		r = spec->before_release(sp->pid, sp->pidfd, spec->userdata);
		if (r < 0) {
			activator_spare_discard(sp);
			return r;
		}
	}
	n = send(sp->sync_fd, "x", 1, MSG_NOSIGNAL);
	if (n != 1) {
		int send_r = n < 0 ? -errno : -EIO;

		r = activator_read_result(sp->sync_fd, NULL);
		activator_spare_discard(sp);
		return r >= 0 || r == -EAGAIN ? send_r : r;
	}
	*ret = (struct activator_child){.pid = sp->pid, .pidfd = sp->pidfd, .sync_fd = sp->sync_fd};
	*sp = (struct activator_spare){.pidfd = -1, .sync_fd = -1};
	return 0;
}

int activator_spawn(const struct activator_spec *spec, struct activator_child *ret)
{
	_cleanup_close_ int parent_fd = -1, child_fd = -1, pidfd = -1;
	struct wire_buf msg = {0};
	struct spawn_child *sc = NULL;
	int sv[2], r;
	ssize_t n;
	pid_t pid;

	bool attach = spec && spec->slot_fd >= 0, early_go;
	int attached[SPAWN_FDS_MAX], n_attached = 0;

	if (!ret) {
		r = -EINVAL;
		goto out;
	}
	r = spec_validate(spec);
	if (r < 0)
		goto out;
	r = wire_encode(spec, attach, &msg);
	if (r < 0)
		goto out;
	/* The fds of the layout, for SCM_RIGHTS (wire.h's order). */
	if (attach) {
		for (int i = 0; i < 3; i++)
			if (spec->stdio[i] >= 0)
				attached[n_attached++] = spec->stdio[i];
		for (size_t i = 0; i < spec->n_fds; i++)
			attached[n_attached++] = spec->fds[i];
		if (spec->netns_fd >= 0)
			attached[n_attached++] = spec->netns_fd;
		if (spec->pool || spec->park)
			attached[n_attached++] = spec->handoff_fd;
		if (spec->userns_fd >= 0)
			attached[n_attached++] = spec->userns_fd;
		if (spec->enter)
			attached[n_attached++] = spec->enter_pidfd;
		if (spec->enter && spec->enter_pause_fd >= 0)
			attached[n_attached++] = spec->enter_pause_fd;
		if (!spec->enter && spec->mount_template_fd >= 0)
			attached[n_attached++] = spec->mount_template_fd;
		if (spec->spare && spec->cgroup_fd >= 0)
			attached[n_attached++] = spec->cgroup_fd;
	}

	/* In a spare: the spec goes to it, nothing is cloned. Only a spare
	 * that turned out dead (-ECHILD) leaves the start to the clone. */
	if (spec->spare) {
		r = spare_start(spec, &msg, attached, n_attached, ret);
		if (r != -ECHILD)
			goto out;
	}

	/* SOCK_SEQPACKET: the spec arrives as one message, the child's
	 * {step, err} record too, and EOF (every copy of the child's end
	 * closed: the payload's by a successful execve) is distinguishable. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		r = -errno;
		goto out;
	}
	parent_fd = sv[0];
	child_fd = sv[1];
	/* Queued before the clone, with its fds: the helper reads it when
	 * it runs. */
	n = send_with_fds(parent_fd, msg.data, msg.len, attached, (size_t)n_attached);
	if (n != (ssize_t)msg.len) {
		r = n < 0 ? (int)n : -EIO;
		goto out;
	}
	/* With nothing to do between the clone and the go, the go is queued
	 * too: the helper never waits for this process to be scheduled again
	 * after the vfork (on a VM that wake-up alone took 0.1 to 0.4 ms). */
	early_go = !spec->before_release && !spec->idle_priority;
	if (early_go && send(parent_fd, "x", 1, MSG_NOSIGNAL) != 1) {
		r = -errno;
		goto out;
	}
	r = fd_set_nonblock(parent_fd, true);
	if (r < 0)
		goto out;

	sc = calloc(1, sizeof(*sc));
	if (!sc) {
		r = -ENOMEM;
		goto out;
	}
	sc->init_fd = spec->init_fd;
	sc->report_fd = child_fd;
	sc->argv = init_argv;
	if (attach) {
		/* The child's end in the reserved low slot, so that the child
		 * need keep no fd above it and init_fd: stdio /dev/null, the
		 * sync socket at 3, everything else came with the message. */
		if (dup3(child_fd, spec->slot_fd, O_CLOEXEC) < 0) {
			r = -errno;
			goto out;
		}
		sc->report_fd = spec->slot_fd;
		sc->unshare_below =
		    (spec->slot_fd > spec->init_fd ? spec->slot_fd : spec->init_fd) + 1;
		for (int i = 0; i < 3; i++)
			sc->src[sc->n_src++] = -1;
		sc->src[sc->n_src++] = spec->slot_fd;
	} else {
		for (int i = 0; i < 3; i++)
			sc->src[sc->n_src++] = spec->stdio[i];
		sc->src[sc->n_src++] = child_fd;
		for (size_t i = 0; i < spec->n_fds; i++)
			sc->src[sc->n_src++] = spec->fds[i];
		if (spec->netns_fd >= 0)
			sc->src[sc->n_src++] = spec->netns_fd;
		if (spec->pool || spec->park)
			sc->src[sc->n_src++] = spec->handoff_fd;
		if (spec->userns_fd >= 0)
			sc->src[sc->n_src++] = spec->userns_fd;
		if (spec->enter)
			sc->src[sc->n_src++] = spec->enter_pidfd;
		if (spec->enter && spec->enter_pause_fd >= 0)
			sc->src[sc->n_src++] = spec->enter_pause_fd;
		if (!spec->enter && spec->mount_template_fd >= 0)
			sc->src[sc->n_src++] = spec->mount_template_fd;
	}
	/* Entering makes no namespace: nsinetd-init joins the container's. */
	if (!spec->enter && (spec->namespaces & CLONE_NEWUSER)) {
		sc->self_map = true;
		snprintf(sc->uid_map, sizeof(sc->uid_map), "0 %u 1\n", (unsigned)geteuid());
		snprintf(sc->gid_map, sizeof(sc->gid_map), "0 %u 1\n", (unsigned)getegid());
	}

	pid = spawn_helper(clone_namespaces(spec), spec->cgroup_fd, sc, &pidfd);
	/* Our copies of the child's end must go, or we would never see EOF:
	 * dup3() onto an open slot cannot fail but for EINTR/EBUSY races that
	 * a single-threaded caller does not have. */
	if (attach)
		(void)slot_release(spec->slot_fd, spec->init_fd);
	if (pid < 0) {
		r = pid;
		goto out;
	}
	child_fd = safe_close(child_fd);

	/* Here, before the release, the parent does what only it can: the
	 * veth pair whose peer goes into the child's network namespace (the
	 * caller's hook). The helper meanwhile reads the spec. */
	if (spec->before_release) {
		r = spec->before_release(pid, pidfd, spec->userdata);
		if (r < 0) {
			child_abandon(pidfd);
			goto out;
		}
	}

	/* SCHED_IDLE before the go: the whole setup runs at idle priority.
	 * Best effort: a failure only costs the priority. */
	if (spec->idle_priority) {
		struct sched_param sp = {0};

		(void)sched_setscheduler(pid, SCHED_IDLE, &sp);
	}

	/* The go. MSG_NOSIGNAL: a child that already died must not kill the
	 * daemon with SIGPIPE; its record says why it died. */
	n = early_go ? 1 : send(parent_fd, "x", 1, MSG_NOSIGNAL);
	if (n != 1) {
		int send_r = n < 0 ? -errno : -EIO;

		r = activator_read_result(parent_fd, NULL);
		if (r >= 0 || r == -EAGAIN)
			r = send_r;
		child_abandon(pidfd);
		goto out;
	}

	ret->pid = pid;
	ret->pidfd = TAKE_FD(pidfd);
	ret->sync_fd = TAKE_FD(parent_fd);
	r = 0;
out:
	/* Taken whatever the outcome: a spare the start did not use ends. */
	if (spec && spec->spare)
		activator_spare_discard(spec->spare);
	free(sc);
	free(msg.data);
	return r;
}

int activator_spare_new(int init_fd, int slot_fd, int cgroup_fd, struct activator_spare *ret)
{
	_cleanup_close_ int parent_fd = -1, child_fd = -1, pidfd = -1;
	struct spawn_child sc = {.init_fd = init_fd, .argv = spare_argv};
	int sv[2], r;
	pid_t pid;

	if (init_fd < 0 || slot_fd < 0 || !ret)
		return -EINVAL;
	/* As activator_spawn() with a slot: stdio /dev/null, the child's end
	 * at 3, nothing else of ours. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	parent_fd = sv[0];
	child_fd = sv[1];
	if (dup3(child_fd, slot_fd, O_CLOEXEC) < 0)
		return -errno;
	sc.report_fd = slot_fd;
	sc.unshare_below = (slot_fd > init_fd ? slot_fd : init_fd) + 1;
	sc.src[0] = sc.src[1] = sc.src[2] = -1;
	sc.src[3] = slot_fd;
	sc.n_src = 4;
	pid = spawn_helper(ACTIVATOR_SPARE_NAMESPACES, cgroup_fd, &sc, &pidfd);
	(void)slot_release(slot_fd, init_fd);
	if (pid < 0)
		return pid;
	child_fd = safe_close(child_fd);
	r = fd_set_nonblock(parent_fd, true);
	if (r < 0) {
		child_abandon(pidfd);
		return r;
	}
	/* Its setup with CPU nothing else wants: here, where no take can
	 * come first (a take gives it its normal priority back, which needs
	 * CAP_SYS_NICE). */
	if (geteuid() == 0) {
		struct sched_param p = {0};

		(void)sched_setscheduler(pid, SCHED_IDLE, &p);
	}
	*ret = (struct activator_spare){
	    .pid = pid, .pidfd = TAKE_FD(pidfd), .sync_fd = TAKE_FD(parent_fd)};
	return 0;
}

bool activator_spare_fits(const struct activator_spec *spec)
{
	return spec && !spec->enter && !spec->pool && !spec->park && !spec->boot &&
	       !spec->idle_priority && !spec->proc_subset_pid &&
	       /* The hook (a veth peer to move) needs the network namespace
		* made by then: a spare unshares it only after the go. */
	       !(spec->before_release && (spec->namespaces & CLONE_NEWNET)) &&
	       /* A spare is in a network namespace of its own: the daemon's
		* is for a start that gives its fd (Network=host). */
	       ((spec->namespaces & CLONE_NEWNET) || spec->netns_fd >= 0) &&
	       spec->mount_template_fd >= 0 && spec->slot_fd >= 0 &&
	       (clone_namespaces(spec) & ~(uint64_t)(CLONE_NEWNET | CLONE_NEWCGROUP)) ==
		   ACTIVATOR_SPARE_NAMESPACES;
}

void activator_spare_discard(struct activator_spare *s)
{
	if (!s || s->pid <= 0)
		return;
	s->sync_fd = safe_close(s->sync_fd);
	/* Normal priority first: a SIGKILLed SCHED_IDLE process on a busy
	 * machine may wait long for the CPU to die on. */
	(void)activator_priority_normal(s->pid);
	child_abandon(s->pidfd);
	s->pidfd = safe_close(s->pidfd);
	s->pid = 0;
}

int activator_reserve_slot(int *ret_fd)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}

/* The end of a "--hold"-style helper (pid, pidfd) that holds a namespace:
 * with r >= 0, its namespace ns as an fd in *ret_fd; then EOF on *hold_fd
 * lets it exit (killed if r < 0) and it is reaped. Returns r or the open's
 * error. */
static int holder_end(pid_t pid, int pidfd, int *hold_fd, int r, const char *ns, int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	char path[64];
	siginfo_t si;

	if (r >= 0) {
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, ns);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			r = -errno;
	}
	*hold_fd = safe_close(*hold_fd);
	if (r < 0)
		(void)syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
	while (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0 && errno == EINTR)
		;
	if (r < 0)
		return r;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* Starts nsinetd-init with argv in the new namespaces of flags, holding
 * them: stdio /dev/null, one end of a socketpair at 3 (the helper's report
 * on it too), the other end in *ret_ours, which the helper reads until EOF
 * ("--hold"). Its pid, or a negative errno. */
static pid_t holder_start(uint64_t flags, int init_fd, char *const *argv, int *ret_pidfd,
			  int *ret_ours)
{
	struct spawn_child sc = {.init_fd = init_fd, .argv = argv};
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	sc.src[0] = sc.src[1] = sc.src[2] = -1;
	sc.src[3] = sv[1];
	sc.n_src = 4;
	sc.report_fd = sv[1];
	pid = spawn_helper(flags, -1, &sc, ret_pidfd);
	safe_close(sv[1]);
	if (pid < 0) {
		safe_close(sv[0]);
		return pid;
	}
	*ret_ours = sv[0];
	return pid;
}

int activator_userns_new(int init_fd, uid_t shift, uid_t range, int *ret_fd)
{
	_cleanup_close_ int pidfd = -1, ours = -1;
	char path[64], map[64];
	int r;
	pid_t pid;

	if (init_fd < 0 || range == 0 || !ret_fd)
		return -EINVAL;
	pid = holder_start(CLONE_NEWUSER, init_fd, hold_argv, &pidfd, &ours);
	if (pid < 0)
		return pid;
	snprintf(map, sizeof(map), "0 %u %u\n", (unsigned)shift, (unsigned)range);
	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
	r = write_file_at(path, map);
	if (r >= 0) {
		snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
		r = write_file_at(path, map);
	}
	return holder_end(pid, pidfd, &ours, r, "user", ret_fd);
}

/* "--mount-template" says with one byte on fd 3 that the template is ready
 * ('1') or why it cannot be (an errno), then holds it. */
int activator_mount_template_new(int init_fd, int *ret_fd)
{
	_cleanup_close_ int pidfd = -1, ours = -1;
	struct pollfd pfd;
	char b = 0;
	int r;
	pid_t pid;

	if (init_fd < 0 || !ret_fd)
		return -EINVAL;
	pid = holder_start(CLONE_NEWNS, init_fd, template_argv, &pidfd, &ours);
	if (pid < 0)
		return pid;

	/* Bounded: a helper that hangs costs the daemon's start 5 s, no more. */
	pfd = (struct pollfd){.fd = ours, .events = POLLIN};
	do
		r = poll(&pfd, 1, 5000);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		r = -ETIMEDOUT;
	else if (r > 0)
		r = read(ours, &b, 1) == 1 ? 0 : -EIO;
	else
		r = -errno;
	if (r == 0 && b != '1')
		r = b > 0 && b < 127 ? -(int)b : -EIO;
	return holder_end(pid, pidfd, &ours, r, "mnt", ret_fd);
}

/* A failure record of n bytes: its step and path in *ret (may be NULL),
 * its negative errno returned. */
static int record_parse(const struct activator_record *rec, size_t n, struct activator_failure *ret)
{
	/* A record always means failure, whatever the child wrote in it; the
	 * path is optional (the clone's child sends none). */
	if (n < offsetof(struct activator_record, what))
		return -EIO;
	if (ret) {
		ret->step = (rec->step > STEP_NONE && rec->step < _STEP_MAX)
				? (enum activator_step)rec->step
				: STEP_NONE;
		if (n > offsetof(struct activator_record, what)) {
			size_t len = n - offsetof(struct activator_record, what);

			if (len >= sizeof(ret->what))
				len = sizeof(ret->what) - 1;
			memcpy(ret->what, rec->what, len);
			ret->what[len] = '\0';
		}
	}
	return rec->err < 0 ? rec->err : -EIO;
}

/* One message from the sync socket, without waiting, with up to max fds
 * (close-on-exec): its length, 0 for EOF, -EAGAIN or a negative errno. */
static ssize_t sync_recv(int sync_fd, struct activator_record *rec, int *fds, size_t max,
			 size_t *ret_n_fds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 2)];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = rec, .iov_len = sizeof(*rec)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n;

	*ret_n_fds = 0;
	if (max > 0) {
		msg.msg_control = u.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * max);
	}
	n = recvmsg(sync_fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? -EAGAIN
										   : -errno;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		size_t k;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (*ret_n_fds < max)
				fds[(*ret_n_fds)++] = fd;
			else
				close(fd);
		}
	}
	return n;
}

int activator_read_result(int sync_fd, struct activator_failure *ret)
{
	struct activator_record rec;
	size_t n_fds;
	ssize_t n;

	if (ret) {
		ret->step = STEP_NONE;
		ret->what[0] = '\0';
	}
	n = sync_recv(sync_fd, &rec, NULL, 0, &n_fds);
	if (n <= 0)
		return (int)n; /* 0: EOF, the payload has exec'd */
	return record_parse(&rec, (size_t)n, ret);
}

int activator_enter(const struct activator_spec *spec, int target_pidfd, bool tty,
		    struct activator_child *ret)
{
	static char *const no_argv[] = {NULL};
	struct activator_spec e;

	if (!spec || target_pidfd < 0)
		return -EINVAL;
	e = *spec;
	e.enter = true;
	e.enter_tty = tty;
	e.enter_pidfd = target_pidfd;
	if (!e.argv)
		e.argv = no_argv;
	if (tty)
		e.stdio[0] = e.stdio[1] = e.stdio[2] = -1;
	/* The container's network is joined with the rest, and nothing of
	 * a start's is wanted here. */
	e.before_release = NULL;
	e.idle_priority = false;
	return activator_spawn(&e, ret);
}

int activator_enter_result(int sync_fd, struct activator_entered *ret, struct activator_failure *f)
{
	struct activator_record rec;
	int fds[2] = {-1, -1};
	size_t n_fds = 0;
	ssize_t n;

	if (f) {
		f->step = STEP_NONE;
		f->what[0] = '\0';
	}
	n = sync_recv(sync_fd, &rec, fds, 2, &n_fds);
	if (n < 0)
		return (int)n;
	if (n == 0)
		return -EPIPE; /* gone before it could say */
	/* {STEP_NONE, 0} with the command's pidfd (and the pty's master):
	 * forked. Anything else is a failure record, as a start's. */
	if ((size_t)n >= offsetof(struct activator_record, what) && rec.step == STEP_NONE &&
	    rec.err == 0 && n_fds >= 1) {
		ret->pidfd = fds[0];
		ret->pty_fd = n_fds > 1 ? fds[1] : -1;
		return 0;
	}
	for (size_t i = 0; i < n_fds; i++)
		close(fds[i]);
	return record_parse(&rec, (size_t)n, f);
}

int activator_release(int handoff_fd)
{
	ssize_t n = send(handoff_fd, "r", 1, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n < 0)
		return -errno;
	return n == 1 ? 0 : -EIO;
}

int activator_priority_normal(pid_t pid)
{
	struct sched_param sp = {0};

	if (sched_setscheduler(pid, SCHED_OTHER, &sp) < 0)
		return -errno;
	return 0;
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
