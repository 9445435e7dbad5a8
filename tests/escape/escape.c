/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nsinetd-escape: run inside a sandbox, tries to get out, and reports.
 *
 * A socket-activated service (LISTEN_FDS=1, a stream listener at fd 3, or
 * the connection itself with Accept=yes): for each connection it runs
 * every attempt of attempts[] and writes one line per attempt,
 * "RESULT<TAB>NAME<TAB>DETAIL", RESULT being
 *   blocked  refused with the errno a correctly built sandbox gives for
 *            that attempt (DETAIL: which), or masked;
 *   ESCAPED  it worked: a hole in the sandbox;
 *   WRONG    refused, but not as expected (another errno: the refusal did
 *            not come from where it should, or the attempt never reached
 *            the kernel), or the test itself is broken: a failure too;
 *   skip     not applicable here (DETAIL: why);
 *   host     only the host can tell: tests/integration/test_escape.py
 *            decides (the setuid file this attempt left for it).
 * A check that cannot fail is a defect: every attempt demands the specific
 * refusal, never "some error".
 *
 * The filter's refusal is EPERM: SystemCallErrorNumber= is not set by the
 * sandboxes of the test (docs/nsinetd.conf.5.md).
 *
 * Environment (from the test's configuration):
 *   ESCAPE_HOST_PID     a host process to look for and signal;
 *   ESCAPE_SETUID       a setuid-root copy of this binary, run with --euid;
 *   ESCAPE_ROOT_SOCKET  a unix socket of the host's root (mode 0600, in a
 *                       0700 directory) to connect to;
 *   ESCAPE_RW_DIR       a directory the container may write that the host
 *                       sees too (a Bind=, or a writable Directory= tree);
 *                       the test leaves the daemon's spares' pids in it;
 *   ESCAPE_HOST_ROOT=1  the container's root is the host's by choice
 *                       (PrivateUsers=no): what the host's root may do by
 *                       file permissions is skipped, not an escape;
 *   ESCAPE_ROOT_WRITABLE=1  the root is writable by configuration.
 *
 * "nsinetd-escape --euid" prints the effective uid and exits; it is the
 * only thing a setuid copy does. The attempts run only as a container's
 * payload (pid 2 of its own pid namespace): as root on the host they
 * would mount over /tmp.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <linux/magic.h>

/* SystemCallErrorNumber= default. */
#define FILTER_ERRNO EPERM

enum result { BLOCKED, ESCAPED, SKIP, WRONG, HOST };

static const char *const result_names[] = {"blocked", "ESCAPED", "skip", "WRONG", "host"};

static char detail[512];

static enum result say(enum result r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return r;
}

static bool env_flag(const char *name)
{
	const char *v = getenv(name);

	return v && strcmp(v, "1") == 0;
}

/*
 * rv is the return of the attempt, errno still its own (call this right
 * after it). Success is an escape; want (or want2, if not 0) is the
 * refusal; any other errno is WRONG.
 */
static enum result refusal(long rv, const char *what, int want, int want2)
{
	int err = errno;

	if (rv >= 0)
		return say(ESCAPED, "%s succeeded", what);
	if (err == want || (want2 && err == want2))
		return say(BLOCKED, "%s: %s", what, strerrorname_np(err));
	if (want2)
		return say(WRONG, "%s: %s (%s), expected %s or %s", what, strerrorname_np(err),
			   strerror(err), strerrorname_np(want), strerrorname_np(want2));
	return say(WRONG, "%s: %s (%s), expected %s", what, strerrorname_np(err), strerror(err),
		   strerrorname_np(want));
}

/* Opens path and reads a little: the refusal (want or want2), SKIP when
 * it is absent, WRONG; or ESCAPED with *ret_n what read(2) gave, for the
 * caller to judge further. */
static enum result open_and_read(const char *path, int want, int want2, ssize_t *ret_n)
{
	char b[256];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	*ret_n = -1;
	if (fd < 0 && errno == ENOENT)
		return say(SKIP, "%s is absent here", path);
	if (fd < 0)
		return refusal(fd, path, want, want2);
	*ret_n = read(fd, b, sizeof(b));
	close(fd);
	return say(ESCAPED, "opened %s (read: %zd bytes)", path, *ret_n);
}

/* For attempts made of several steps: the first step that is not blocked
 * decides; all blocked gives a summary. */
#define STEP(expr)                                                                                 \
	do {                                                                                       \
		enum result _r = (expr);                                                           \
		if (_r != BLOCKED)                                                                 \
			return _r;                                                                 \
	} while (0)

static pid_t host_pid(void)
{
	const char *s = getenv("ESCAPE_HOST_PID");
	return s ? (pid_t)atoi(s) : 0;
}

/* --- processes ------------------------------------------------------------ */

/* Our own pid namespace: the host's processes do not exist here. */
static enum result see_host_process(const char *arg)
{
	char path[64];
	pid_t pid = host_pid();
	int fd;

	if (pid <= 2)
		return say(SKIP, "no ESCAPE_HOST_PID");
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		close(fd);
	return refusal(fd, path, ENOENT, 0);
}

static enum result signal_host_process(const char *arg)
{
	pid_t pid = host_pid();
	long rv;

	if (pid <= 2)
		return say(SKIP, "no ESCAPE_HOST_PID");
	/* Signal 0: the check without the harm. */
	rv = kill(pid, 0);
	return refusal(rv, "kill(host pid, 0)", ESRCH, 0);
}

/* The daemon's spares (supervisor/spares.h): nsinetd-init processes of
 * root in the initial user namespace, with every capability, waiting for
 * a spec: the best target there is. The test writes their host pids (one
 * of them may be ourselves) to ESCAPE_RW_DIR/spare-pids; none may be seen,
 * signalled or opened from here: they are in pid namespaces of their own. */
static enum result reach_spare(const char *arg)
{
	const char *dir = getenv("ESCAPE_RW_DIR");
	char path[PATH_MAX], buf[256], *save = NULL;
	int fd, n_pids = 0;
	ssize_t n;

	if (!dir)
		return say(SKIP, "no ESCAPE_RW_DIR");
	snprintf(path, sizeof(path), "%s/spare-pids", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return say(SKIP, "no spare-pids from the test (%s)", strerrorname_np(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	for (char *p = strtok_r(buf, " \n", &save); p; p = strtok_r(NULL, " \n", &save)) {
		pid_t pid = (pid_t)atoi(p);
		char proc[64];
		long rv;

		if (pid <= 0)
			continue;
		snprintf(proc, sizeof(proc), "/proc/%d/cmdline", (int)pid);
		rv = open(proc, O_RDONLY | O_CLOEXEC);
		if (rv >= 0)
			close((int)rv);
		STEP(refusal(rv, proc, ENOENT, 0));
		rv = kill(pid, 0);
		STEP(refusal(rv, "kill(spare pid, 0)", ESRCH, 0));
		rv = syscall(SYS_pidfd_open, pid, 0);
		if (rv >= 0)
			close((int)rv);
		STEP(refusal(rv, "pidfd_open(spare pid)", ESRCH, FILTER_ERRNO));
		n_pids++;
	}
	if (n_pids == 0)
		return say(SKIP, "the daemon kept no spare");
	return say(BLOCKED, "%d spare(s): not in /proc, kill() and pidfd_open() ESRCH", n_pids);
}

/* pid 1 is another process of ours (the stub init): neither ptrace nor
 * cross-process memory access may reach it (the filter denies both). */
static enum result do_ptrace(const char *arg)
{
	char b[8];
	struct iovec local = {.iov_base = b, .iov_len = sizeof(b)};
	struct iovec remote = {.iov_base = (void *)0x400000, .iov_len = sizeof(b)};
	long rv;

	rv = ptrace(PTRACE_ATTACH, 1, NULL, NULL);
	STEP(refusal(rv, "ptrace(ATTACH, 1)", FILTER_ERRNO, 0));
	rv = process_vm_readv(1, &local, 1, &remote, 1, 0);
	STEP(refusal(rv, "process_vm_readv(1)", FILTER_ERRNO, 0));
	return say(BLOCKED, "ptrace and process_vm_readv: %s", strerrorname_np(FILTER_ERRNO));
}

/* --- namespaces and mounts -------------------------------------------------- */

/*
 * The namespaces of pid 1 are ours; joining them proves nothing. What
 * matters is that setns() is refused at all (the filter, without
 * CAP_SYS_ADMIN): any namespace fd that leaked into the sandbox would
 * otherwise be a way out. pid 1's may not even open (not dumpable).
 */
static enum result setns_any(const char *arg)
{
	static const char *const ns[] = {"mnt", "net", "pid", "user", "uts", "ipc", "cgroup"};
	static const char *const owners[] = {"self", "1"};
	char path[64], what[96];
	int n = 0;

	for (size_t o = 0; o < sizeof(owners) / sizeof(owners[0]); o++)
		for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
			int fd;
			long rv;

			snprintf(path, sizeof(path), "/proc/%s/ns/%s", owners[o], ns[i]);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				STEP(refusal(fd, path, EACCES, EPERM));
				continue;
			}
			rv = setns(fd, 0);
			close(fd);
			snprintf(what, sizeof(what), "setns(%s)", path);
			STEP(refusal(rv, what, FILTER_ERRNO, 0));
			n++;
		}
	if (n == 0)
		return say(WRONG, "no namespace file opened: nothing tested");
	return say(BLOCKED, "setns() refused (%s) for %d namespaces", strerrorname_np(FILTER_ERRNO),
		   n);
}

/* mount(2) must meet the filter's refusal; undone if it did not. */
static enum result mount_refused(const char *source, const char *target, const char *fstype,
				 unsigned long flags, const char *what)
{
	long rv = mount(source, target, fstype, flags, NULL);

	if (rv == 0)
		umount2(target, MNT_DETACH);
	return refusal(rv, what, FILTER_ERRNO, 0);
}

/* fsopen() of the new mount API, the same. */
static enum result fsopen_refused(const char *fstype)
{
	char what[64];
	long rv = syscall(SYS_fsopen, fstype, 0);

	if (rv >= 0)
		close((int)rv);
	snprintf(what, sizeof(what), "fsopen(%s)", fstype);
	return refusal(rv, what, FILTER_ERRNO, 0);
}

static enum result do_mount(const char *arg)
{
	long rv;

	STEP(mount_refused("none", "/tmp", "tmpfs", 0, "mount tmpfs on /tmp"));
	STEP(mount_refused("/tmp", "/tmp", NULL, MS_BIND, "bind mount"));
	/* The new mount API: other system calls, the same refusal. */
	STEP(fsopen_refused("tmpfs"));
	rv = syscall(SYS_open_tree, AT_FDCWD, "/", OPEN_TREE_CLONE);
	if (rv >= 0)
		close((int)rv);
	STEP(refusal(rv, "open_tree(/, CLONE)", FILTER_ERRNO, 0));
	/* Uncovering what a mask hides, or the host's mounts under ours. */
	rv = umount2("/proc/sys", MNT_DETACH);
	STEP(refusal(rv, "umount2(/proc/sys)", FILTER_ERRNO, 0));
	return say(BLOCKED, "mount, bind, fsopen, open_tree, umount2: %s",
		   strerrorname_np(FILTER_ERRNO));
}

static enum result remount_root(const char *arg)
{
	struct mount_attr attr = {.attr_clr = MOUNT_ATTR_RDONLY};
	struct statvfs sv;
	long rv;

	if (env_flag("ESCAPE_ROOT_WRITABLE"))
		return say(SKIP, "the root is writable by configuration (ReadOnly=no)");
	if (statvfs("/", &sv) < 0 || !(sv.f_flag & ST_RDONLY))
		return say(ESCAPED, "/ is not read-only to begin with");
	rv = mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND, NULL);
	STEP(refusal(rv, "mount(/, MS_REMOUNT|MS_BIND) read-write", FILTER_ERRNO, 0));
	rv = syscall(SYS_mount_setattr, AT_FDCWD, "/", 0, &attr, sizeof(attr));
	STEP(refusal(rv, "mount_setattr(/, clear RDONLY)", FILTER_ERRNO, 0));
	if (statvfs("/", &sv) < 0 || !(sv.f_flag & ST_RDONLY))
		return say(ESCAPED, "/ became writable");
	return say(BLOCKED, "remount and mount_setattr: %s", strerrorname_np(FILTER_ERRNO));
}

/* The container's tree is stacked on the root of its mount namespace's
 * (architecture.md, "The mount template"): unmounted, it would show what is
 * under it. The filter refuses umount2 (@mount); without a filter the
 * namespace's owner, the initial user namespace, does. */
static enum result unmount_root(const char *arg)
{
	struct stat before, after;
	long rv;

	if (stat("/", &before) < 0)
		return say(WRONG, "stat /: %s", strerror(errno));
	rv = umount2("/", MNT_DETACH);
	STEP(refusal(rv, "umount2(/, MNT_DETACH)", EPERM, 0));
	if (stat("/", &after) < 0 || after.st_dev != before.st_dev || after.st_ino != before.st_ino)
		return say(ESCAPED, "/ changed");
	return say(BLOCKED, "umount2(/): EPERM, / is the same");
}

/* clone(2)'s flags are in a register: the filter checks them (EPERM).
 * clone3(2)'s are in memory, out of its reach: the filter answers ENOSYS
 * for every clone3, and glibc falls back to clone (activator/seccomp.c). */
static enum result do_unshare(const char *arg)
{
	struct {
		uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
	} args = {.flags = CLONE_NEWUSER, .exit_signal = SIGCHLD};
	long rv;

	rv = unshare(CLONE_NEWUSER);
	STEP(refusal(rv, "unshare(CLONE_NEWUSER)", FILTER_ERRNO, 0));
	rv = unshare(CLONE_NEWNS);
	STEP(refusal(rv, "unshare(CLONE_NEWNS)", FILTER_ERRNO, 0));
	rv = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
	if (rv == 0)
		_exit(0);
	if (rv > 0)
		waitpid((pid_t)rv, NULL, 0);
	STEP(refusal(rv, "clone(CLONE_NEWUSER)", FILTER_ERRNO, 0));
	rv = syscall(SYS_clone3, &args, sizeof(args));
	if (rv == 0)
		_exit(0);
	if (rv > 0)
		waitpid((pid_t)rv, NULL, 0);
	STEP(refusal(rv, "clone3(CLONE_NEWUSER)", ENOSYS, 0));
	return say(BLOCKED, "unshare, clone: %s; clone3: ENOSYS", strerrorname_np(FILTER_ERRNO));
}

/* --- the kernel ------------------------------------------------------------- */

/*
 * The kernel checks CAP_SYS_MODULE before it looks at the image: EPERM
 * there (or from the filter) is the refusal. Any other error means the
 * check passed, and a real module would have been read: an escape, even
 * if this fake one was rejected.
 */
static enum result module_refusal(long rv, const char *what)
{
	int err = errno;

	if (rv >= 0 || err != EPERM)
		return say(ESCAPED,
			   "%s got past the permission check (%s): a real module would load", what,
			   rv >= 0 ? "success" : strerrorname_np(err));
	return say(BLOCKED, "%s: EPERM", what);
}

static enum result load_module(const char *arg)
{
	/* An ELF header and nothing else: never a loadable module. */
	static const char image[64] = "\177ELF\2\1\1";
	long rv;

	rv = syscall(SYS_init_module, image, sizeof(image), "");
	STEP(module_refusal(rv, "init_module"));
	rv = syscall(SYS_finit_module, -1, "", 0);
	STEP(module_refusal(rv, "finit_module"));
	rv = syscall(SYS_delete_module, "nsinetd_escape_none", O_NONBLOCK);
	STEP(module_refusal(rv, "delete_module"));
	return say(BLOCKED, "init_module, finit_module, delete_module: EPERM");
}

static enum result raw_socket(const char *arg)
{
	int fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);

	if (fd >= 0)
		close(fd);
	STEP(refusal(fd, "socket(AF_INET, SOCK_RAW)", EPERM, 0));
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd >= 0)
		close(fd);
	/* EAFNOSUPPORT: a kernel without AF_PACKET, refused all the same. */
	STEP(refusal(fd, "socket(AF_PACKET, SOCK_RAW)", EPERM, EAFNOSUPPORT));
	return say(BLOCKED, "raw and packet sockets: EPERM (no CAP_NET_RAW)");
}

/* RTM_NEWLINK taking lo down in the container's own network namespace
 * (a spare the daemon made ahead, or the clone's): the namespace belongs
 * to the initial user namespace, so not even the container's root may
 * configure it. The kernel's answer comes as an NLMSG_ERROR. */
static enum result configure_network(const char *arg)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = {
	    .nh = {.nlmsg_len = sizeof(req),
		   .nlmsg_type = RTM_NEWLINK,
		   .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK,
		   .nlmsg_seq = 1},
	    .ifi = {.ifi_family = AF_UNSPEC, .ifi_index = 1, .ifi_flags = 0, .ifi_change = IFF_UP},
	};
	union {
		struct nlmsghdr nh;
		char buf[512];
	} ans;
	struct nlmsgerr *e;
	ssize_t n;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return say(WRONG, "socket(AF_NETLINK): %s", strerrorname_np(errno));
	if (send(fd, &req, sizeof(req), 0) < 0 || (n = recv(fd, &ans, sizeof(ans), 0)) < 0) {
		int err = errno;

		close(fd);
		return say(WRONG, "netlink: %s", strerrorname_np(err));
	}
	close(fd);
	if ((size_t)n < NLMSG_LENGTH(sizeof(*e)) || ans.nh.nlmsg_type != NLMSG_ERROR)
		return say(WRONG, "netlink: no error message in the answer");
	e = NLMSG_DATA(&ans.nh);
	errno = -e->error;
	return refusal(e->error == 0 ? 0 : -1, "RTM_NEWLINK lo down", EPERM, 0);
}

static enum result use_bpf(const char *arg)
{
	union bpf_attr attr = {
	    .map_type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 4, .max_entries = 1};
	long fd = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));

	if (fd >= 0)
		close((int)fd);
	return refusal(fd, "bpf(BPF_MAP_CREATE)", FILTER_ERRNO, 0);
}

/* EACCES would be the kernel's perf_event_paranoid: the filter let it by. */
static enum result use_perf(const char *arg)
{
	struct perf_event_attr attr = {
	    .type = PERF_TYPE_SOFTWARE, .size = sizeof(attr), .config = PERF_COUNT_SW_CPU_CLOCK};
	long fd = syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);

	if (fd >= 0)
		close((int)fd);
	return refusal(fd, "perf_event_open", FILTER_ERRNO, 0);
}

/* io_uring runs system calls from kernel threads the filter never sees. */
static enum result use_io_uring(const char *arg)
{
	struct io_uring_params p = {0};
	long fd = syscall(SYS_io_uring_setup, 1, &p);

	if (fd >= 0)
		close((int)fd);
	return refusal(fd, "io_uring_setup", FILTER_ERRNO, 0);
}

/* --- files ----------------------------------------------------------------- */

static enum result write_root(const char *arg)
{
	int fd;

	if (env_flag("ESCAPE_ROOT_WRITABLE"))
		return say(SKIP, "the root is writable by configuration (ReadOnly=no)");
	fd = open("/nsinetd-escape-test", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0) {
		close(fd);
		unlink("/nsinetd-escape-test");
	}
	return refusal(fd, "create /nsinetd-escape-test", EROFS, 0);
}

/* EROFS for root (the read-only bind), EACCES for a uid that does not own
 * the file: both real refusals. */
static enum result write_proc_sys(const char *arg)
{
	int fd = open("/proc/sys/kernel/domainname", O_WRONLY | O_CLOEXEC);

	if (fd >= 0)
		close(fd);
	/* ProcSubset=pid: there is no /proc/sys. */
	if (env_flag("ESCAPE_PROC_SUBSET"))
		return refusal(fd, "open /proc/sys/kernel/domainname for writing", ENOENT, 0);
	return refusal(fd, "open /proc/sys/kernel/domainname for writing", EROFS, EACCES);
}

/* No CAP_MKNOD (EPERM); with it, /tmp is nodev and the node must not open. */
static enum result make_device(const char *arg)
{
	long rv = mknod("/tmp/escape-null", S_IFCHR | 0666, makedev(1, 3));
	int fd, err;

	if (rv < 0)
		return refusal(rv, "mknod", EPERM, 0);
	fd = open("/tmp/escape-null", O_RDWR | O_CLOEXEC);
	err = errno;
	if (fd >= 0)
		close(fd);
	unlink("/tmp/escape-null");
	errno = err;
	return refusal(fd, "mknod worked; open of the node (nodev)", EACCES, 0);
}

/* The host's root-owned secrets, through the read-only host root: the
 * container's root is an unmapped uid there (a user namespace), or not
 * root at all. */
static enum result read_shadow(const char *arg)
{
	ssize_t n;
	enum result r = open_and_read("/etc/shadow", EACCES, 0, &n);

	if (r == ESCAPED && env_flag("ESCAPE_HOST_ROOT"))
		return say(SKIP,
			   "readable (%zd bytes): the container's root is the host's by choice "
			   "(PrivateUsers=no)",
			   n);
	return r;
}

static enum result connect_root_socket(const char *arg)
{
	const char *path = getenv("ESCAPE_ROOT_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, err;
	long rv;

	if (!path || strlen(path) >= sizeof(sa.sun_path))
		return say(SKIP, "no ESCAPE_ROOT_SOCKET");
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return say(WRONG, "socket(AF_UNIX): %s", strerror(errno));
	rv = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	err = errno;
	close(fd);
	if (rv == 0 && env_flag("ESCAPE_HOST_ROOT"))
		return say(SKIP, "connected: the container's root is the host's by choice "
				 "(PrivateUsers=no)");
	if (rv < 0 && err == ECONNREFUSED)
		return say(ESCAPED, "connect(%s) passed the permission check (ECONNREFUSED)", path);
	errno = err;
	return refusal(rv, path, EACCES, 0);
}

/* --- pid 1 ---------------------------------------------------------------- */

/* Another process's memory and environment: pid 1 is not dumpable, so
 * nothing of it opens (EACCES from the ptrace access check). */
static enum result read_pid1(const char *file)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/1/%s", file);
	return open_and_read(path, EACCES, EPERM, &n);
}

/* "Key:\tvalue" of /proc/PID/status into ret; false if absent. */
static bool status_field(const char *path, const char *key, char *ret, size_t size)
{
	char line[256];
	size_t klen = strlen(key);
	FILE *f = fopen(path, "re");
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			snprintf(ret, size, "%s", line + klen + 1 + strspn(line + klen + 1, " \t"));
			ret[strcspn(ret, "\n")] = '\0';
			found = true;
		}
	fclose(f);
	return found;
}

/*
 * pid 1 runs in the container too, and a payload can reach it (signals,
 * /proc): it must be filtered as the payload is (Seccomp: 2), and not
 * dumpable. A non-dumpable process's /proc files belong to root, which
 * shows to a payload that is not root; for a root payload, the refusal to
 * open /proc/1/environ (same uid, same capabilities: only the dumpable
 * flag can refuse it) is what shows.
 */
static enum result pid1_filtered(const char *arg)
{
	char v[64];
	int fd;

	if (!status_field("/proc/1/status", "Seccomp", v, sizeof(v)))
		return say(WRONG, "no Seccomp: line in /proc/1/status: %s", strerror(errno));
	if (strcmp(v, "2") != 0)
		return say(ESCAPED, "pid 1 has Seccomp: %s (not filtered)", v);
	/* pid 1 runs as our uid (it dropped privileges as we did): were it
	 * dumpable, its environ would open. (Its /proc entries belong to its
	 * user namespace's root when it is not: the host's root here, which
	 * shows as the overflow uid 65534, the same number as User=nobody, so
	 * the owner alone tells nothing.) */
	fd = open("/proc/1/environ", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return say(ESCAPED, "Seccomp: 2, but pid 1 is dumpable: /proc/1/environ opens");
	}
	if (errno != EACCES)
		return say(WRONG, "/proc/1/environ: %s (expected EACCES)", strerrorname_np(errno));
	return say(BLOCKED, "Seccomp: 2; /proc/1/environ: %s (not dumpable)",
		   strerrorname_np(errno));
}

/* --- /proc: what reaches the host's kernel --------------------------------- */

struct proc_scan {
	int files, refused, masked;
	enum result worst;
};

/* One file: opening it for writing must fail, or it is the /dev/null that
 * masks it. */
static void proc_try_write(struct proc_scan *s, const char *path)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	int err = errno;

	s->files++;
	if (fd >= 0) {
		bool null =
		    fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);

		close(fd);
		if (null) {
			s->masked++;
			return;
		}
		if (s->worst != ESCAPED)
			s->worst = say(ESCAPED, "opened %s for writing", path);
		return;
	}
	if (err == EACCES || err == EPERM || err == EROFS) {
		s->refused++;
		return;
	}
	if (s->worst == BLOCKED)
		s->worst =
		    say(WRONG, "open %s for writing: %s (%s), expected EACCES, EPERM or EROFS",
			path, strerrorname_np(err), strerror(err));
}

/* Every file below a directory, depth and count bounded (/proc/irq has a
 * directory per interrupt). */
static void proc_walk(struct proc_scan *s, const char *dir, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)) && s->files < 2000) {
		char path[512];
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode) && depth < 4)
			proc_walk(s, path, depth + 1);
		else if (S_ISREG(st.st_mode) || S_ISCHR(st.st_mode))
			proc_try_write(s, path);
	}
	closedir(d);
}

/* A file or directory of /proc that must be masked or refuse writing. */
static enum result proc_write(const char *path)
{
	struct proc_scan s = {.worst = BLOCKED};
	struct stat st;

	if (lstat(path, &st) < 0) {
		/* ProcSubset=pid: not there is the refusal. */
		if (errno == ENOENT && env_flag("ESCAPE_PROC_SUBSET"))
			return say(BLOCKED, "%s: ENOENT (a subset=pid /proc)", path);
		if (errno == ENOENT)
			return say(SKIP, "%s is absent on this kernel", path);
		return refusal(-1, path, EACCES, EPERM);
	}
	if (S_ISDIR(st.st_mode))
		proc_walk(&s, path, 0);
	else
		proc_try_write(&s, path);
	if (s.worst != BLOCKED)
		return s.worst;
	if (s.files == 0)
		return say(BLOCKED, "%s: nothing to open (masked, or empty)", path);
	return say(BLOCKED, "%s: %d files, %d refused writing, %d masked by /dev/null", path,
		   s.files, s.refused, s.masked);
}

/* Writing for real, the value it has (so that a hole does no harm). */
static enum result write_irq_affinity(const char *arg)
{
	const char *path = "/proc/irq/default_smp_affinity";
	char b[256];
	struct stat st;
	ssize_t n = -1;
	long rv;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd >= 0) {
		n = read(fd, b, sizeof(b));
		close(fd);
	}
	fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && errno == ENOENT)
		return say(SKIP, "%s is absent on this kernel (or hidden)", path);
	if (fd < 0)
		return refusal(fd, path, EACCES, EROFS);
	if (fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3)) {
		close(fd);
		return say(BLOCKED, "%s is masked by /dev/null", path);
	}
	if (n <= 0) {
		close(fd);
		return say(ESCAPED, "opened %s for writing (its value unreadable: %zd)", path, n);
	}
	rv = write(fd, b, (size_t)n);
	err = errno;
	close(fd);
	errno = err;
	if (rv >= 0)
		return say(ESCAPED, "wrote %s (its own value back)", path);
	return refusal(rv, "opened, then write", EACCES, EPERM);
}

/* kcore is the kernel's memory: masked (reads nothing), or not readable. */
static enum result read_kcore(const char *arg)
{
	ssize_t n;
	enum result r = open_and_read("/proc/kcore", EACCES, EPERM, &n);

	if (r == ESCAPED && n <= 0)
		return say(BLOCKED, "/proc/kcore reads nothing (masked)");
	return r;
}

/* The host's firmware tables (ACPI, DMI, EFI variables) under /sys: an
 * empty read-only tmpfs covers them, the one that masks /proc/acpi. */
static enum result read_firmware(const char *arg)
{
	DIR *d = opendir("/sys/firmware");
	struct dirent *de;
	int n = 0, fd;

	(void)arg;
	if (!d && errno == ENOENT)
		return say(BLOCKED, "/sys/firmware: ENOENT (no sysfs here)");
	if (!d)
		return say(WRONG, "/sys/firmware: %s", strerror(errno));
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	if (n > 0)
		return say(ESCAPED, "/sys/firmware lists %d entries of the host's", n);
	/* Nothing to read; and nothing can be put there for a later reader. */
	fd = open("/sys/firmware/x", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0) {
		close(fd);
		(void)unlink("/sys/firmware/x");
	}
	return refusal(fd, "create /sys/firmware/x", EROFS, 0);
}

/* --- privileges ------------------------------------------------------------ */

/* Runs path --euid; returns its euid, or -1 with detail set. */
static int run_euid(const char *path)
{
	char out[64] = "";
	int p[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0) {
		say(WRONG, "pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		say(WRONG, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		dup2(p[1], 1);
		execl(path, path, "--euid", (char *)NULL);
		dprintf(1, "exec: %s", strerror(errno));
		_exit(127);
	}
	close(p[1]);
	n = read(p[0], out, sizeof(out) - 1);
	close(p[0]);
	waitpid(pid, &status, 0);
	out[n > 0 ? n : 0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || out[0] < '0' || out[0] > '9') {
		say(WRONG, "%s did not run: status %d, '%s'", path, status, out);
		return -1;
	}
	return atoi(out);
}

/* A setuid-root binary, run by a non-root payload: NoNewPrivileges= (and
 * a nosuid mount) must keep its euid. First, that it is setuid at all
 * and that it ran: else nothing was tested. */
static enum result setuid_binary(const char *arg)
{
	const char *bin = getenv("ESCAPE_SETUID");
	struct stat st;
	int euid;

	if (geteuid() == 0)
		return say(SKIP, "already root in the sandbox: run with User= for this row");
	if (!bin)
		return say(SKIP, "no setuid binary given (ESCAPE_SETUID)");
	if (stat(bin, &st) < 0)
		return say(WRONG, "stat %s: %s", bin, strerror(errno));
	if (!(st.st_mode & S_ISUID))
		return say(WRONG, "%s is not setuid (mode %o): nothing tested", bin,
			   (unsigned)st.st_mode & 07777);
	euid = run_euid(bin);
	if (euid < 0)
		return WRONG;
	if (euid == 0)
		return say(ESCAPED, "the setuid binary ran with euid 0");
	if ((uid_t)euid != geteuid())
		return say(ESCAPED, "the setuid binary ran with euid %d, not ours (%u)", euid,
			   (unsigned)geteuid());
	return say(BLOCKED, "the setuid binary ran with our euid %d", euid);
}

/*
 * A setuid file for the host: the container copies itself into a
 * directory the host sees and makes the copy setuid, owned by whoever its
 * root is on the host. Only the host can tell if that is root: the test
 * runs the file as nobody there ("host" result, path relative to
 * ESCAPE_RW_DIR in the detail).
 */
static enum result setuid_for_host(const char *arg)
{
	const char *dir = getenv("ESCAPE_RW_DIR");
	char path[512], b[65536];
	struct stat st;
	int in, out;
	ssize_t n;

	if (!dir)
		return say(SKIP, "no ESCAPE_RW_DIR");
	snprintf(path, sizeof(path), "%s/escape-made-suid", dir);
	in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return say(WRONG, "open /proc/self/exe: %s", strerror(errno));
	out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (out < 0) {
		close(in);
		return say(WRONG, "create %s: %s (the test's directory must be writable)", path,
			   strerror(errno));
	}
	while ((n = read(in, b, sizeof(b))) > 0)
		if (write(out, b, (size_t)n) != n)
			break;
	close(in);
	/* root: its own uid 0, whatever that is on the host. The mode
	 * after the owner: chown clears the setuid bit. */
	(void)fchown(out, 0, 0);
	if (fchmod(out, 04755) < 0) {
		int err = errno;

		close(out);
		errno = err;
		return refusal(-1, "chmod 4755", EPERM, 0);
	}
	if (fstat(out, &st) < 0 || !(st.st_mode & S_ISUID)) {
		close(out);
		return say(BLOCKED, "the setuid bit did not stick");
	}
	close(out);
	return say(HOST, "escape-made-suid uid=%u mode=%o", (unsigned)st.st_uid,
		   (unsigned)st.st_mode & 07777);
}

/* --- limits ---------------------------------------------------------------- */

static enum result exceed_nproc(const char *arg)
{
	struct rlimit rl;
	pid_t kids[512];
	int n = 0, err = 0;
	enum result r;

	if (getrlimit(RLIMIT_NPROC, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 256)
		return say(SKIP, "LimitNPROC= not set (or above 256)");
	if (getuid() == 0 && access("/proc/self/uid_map", R_OK) == 0) {
		FILE *f = fopen("/proc/self/uid_map", "re");
		unsigned a = 1, b = 1;
		if (f) {
			if (fscanf(f, "%u %u", &a, &b) != 2)
				a = b = 1;
			fclose(f);
		}
		if (a == 0 && b == 0)
			return say(SKIP, "the host's root is exempt from RLIMIT_NPROC: run with "
					 "User= or PrivateUsers= for this row");
	}
	/* Fork until refused: at most the limit plus a margin. */
	while (n < (int)rl.rlim_cur + 8 && n < 512) {
		pid_t pid = fork();
		if (pid < 0) {
			err = errno;
			break;
		}
		if (pid == 0) {
			pause();
			_exit(0);
		}
		kids[n++] = pid;
	}
	if (!err)
		r = say(ESCAPED, "%d children with LimitNPROC=%llu", n,
			(unsigned long long)rl.rlim_cur);
	else if (err == EAGAIN)
		r = say(BLOCKED, "fork refused (EAGAIN) after %d children, LimitNPROC=%llu", n,
			(unsigned long long)rl.rlim_cur);
	else
		r = say(WRONG, "fork: %s after %d children, expected EAGAIN", strerrorname_np(err),
			n);
	for (int i = 0; i < n; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
	return r;
}

static enum result exceed_nofile(const char *arg)
{
	struct rlimit rl, more;
	int fds[4096], n = 0, err = 0;
	enum result r;
	long rv;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur > 4000)
		return say(SKIP, "LimitNOFILE= not set (or above 4000)");
	more = (struct rlimit){rl.rlim_max + 1, rl.rlim_max + 1};
	rv = setrlimit(RLIMIT_NOFILE, &more);
	STEP(refusal(rv, "raising RLIMIT_NOFILE above its hard limit", EPERM, 0));
	while (n < 4096) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			err = errno;
			break;
		}
		fds[n++] = fd;
	}
	if (err == EMFILE && (unsigned long long)n < rl.rlim_cur)
		r = say(BLOCKED, "EMFILE after %d more fds, LimitNOFILE=%llu; raising: EPERM", n,
			(unsigned long long)rl.rlim_cur);
	else if (err == 0 || err == EMFILE)
		r = say(ESCAPED, "%d fds opened with LimitNOFILE=%llu", n,
			(unsigned long long)rl.rlim_cur);
	else
		r = say(WRONG, "open: %s after %d fds, expected EMFILE", strerrorname_np(err), n);
	while (n > 0)
		close(fds[--n]);
	return r;
}

/*
 * Memory through a tmpfs: what a file in /tmp, /run, /dev/shm or /dev
 * holds stays in the host's memory until the sandbox ends, and counts in
 * no process's size (the OOM killer would end other processes first). The
 * kernel's default is half of the memory and as many inodes, per tmpfs and
 * per sandbox. So each writable tmpfs here must be bounded, in bytes (at
 * most a quarter of the memory) and in files (at most a million), and a
 * file larger than its size is refused with ENOSPC: fallocate() checks the
 * length against the limit before it takes any page, so the attempt costs
 * nothing when it is refused. A directory we may not write (/dev, but for
 * the host's root) is not a way.
 */
#define TMPFS_MAGIC_ 0x01021994

static enum result fill_memory(const char *arg)
{
	static const char *const dirs[] = {"/tmp", "/run", "/dev/shm", "/dev"};
	char done[256] = "";
	struct sysinfo si;
	size_t len = 0;

	if (sysinfo(&si) < 0)
		return say(WRONG, "sysinfo: %s", strerror(errno));
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		unsigned long long memory = (unsigned long long)si.totalram * si.mem_unit, bytes;
		char path[64];
		struct statfs sf;
		int fd, err;

		if (statfs(dirs[i], &sf) < 0 || sf.f_type != TMPFS_MAGIC_)
			continue;
		bytes = (unsigned long long)sf.f_blocks * (unsigned long long)sf.f_bsize;
		if (bytes == 0 || bytes > memory / 4)
			return say(ESCAPED, "%s may hold %llu MiB (%llu%% of the memory)", dirs[i],
				   bytes >> 20, memory ? bytes * 100 / memory : 0);
		if (sf.f_files == 0 || sf.f_files > 1000000)
			return say(ESCAPED, "%s may hold %llu files", dirs[i],
				   (unsigned long long)sf.f_files);
		snprintf(path, sizeof(path), "%s/nsinetd-escape-fill", dirs[i]);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			if (errno == EACCES || errno == EROFS)
				continue;
			return say(WRONG, "open %s: %s", path, strerror(errno));
		}
		err = fallocate(fd, 0, 0, (off_t)(bytes + (unsigned long long)sf.f_bsize)) < 0
			  ? errno
			  : 0;
		close(fd);
		unlink(path);
		if (!err)
			return say(ESCAPED, "%s took a file of %llu MiB, more than its size",
				   dirs[i], bytes >> 20);
		if (err != ENOSPC)
			return say(WRONG, "fallocate in %s: %s, expected ENOSPC", dirs[i],
				   strerrorname_np(err));
		len += (size_t)snprintf(
		    done + len, sizeof(done) - len, "%s%s %llu%s/%lluk files", len ? ", " : "",
		    dirs[i], bytes >= (1 << 20) ? bytes >> 20 : bytes >> 10,
		    bytes >= (1 << 20) ? "M" : "k", (unsigned long long)sf.f_files >> 10);
		if (len >= sizeof(done))
			break;
	}
	if (!*done)
		return say(SKIP, "no writable tmpfs");
	return say(BLOCKED, "a file above the size: ENOSPC in %s", done);
}

/*
 * Memory through System V IPC: a segment, a queue or a semaphore set
 * outlives the process that made it, in no process's size, and the
 * kernel's defaults let one IPC namespace hold the whole memory in shared
 * memory and some 64 GB of the kernel's in semaphores. Each must be
 * refused at the container's limits: a segment above 64 MiB (EINVAL),
 * shared memory beyond 64 MiB in all (ENOSPC), the 257th queue and the
 * 129th semaphore set (ENOSPC). Made sets and queues are tiny, and removed.
 */
#define IPC_TRIES 1024

static enum result ipc_fill(int (*make)(void), int *ids, const char *what, int limit,
			    int (*remove)(int))
{
	int n = 0, err = 0;
	enum result r;

	while (n < IPC_TRIES) {
		int id = make();
		if (id < 0) {
			err = errno;
			break;
		}
		ids[n++] = id;
	}
	if (!err)
		r = say(ESCAPED, "%d %s made", n, what);
	else if (err == ENOSPC && n <= limit)
		r = say(BLOCKED, "%s: ENOSPC after %d", what, n);
	else
		r = say(WRONG, "%s: %s after %d, expected ENOSPC after at most %d", what,
			strerrorname_np(err), n, limit);
	while (n > 0)
		remove(ids[--n]);
	return r;
}

static int make_queue(void)
{
	return msgget(IPC_PRIVATE, IPC_CREAT | 0600);
}

static int make_sem_set(void)
{
	return semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
}

static int remove_queue(int id)
{
	return msgctl(id, IPC_RMID, NULL);
}

static int remove_sem_set(int id)
{
	return semctl(id, 0, IPC_RMID);
}

static enum result fill_sysv_ipc(const char *arg)
{
	static int ids[IPC_TRIES];
	enum result r;
	long rv;
	int id;

	/* Above the size of a segment: refused before anything is made. */
	id = shmget(IPC_PRIVATE, (size_t)1 << 30, IPC_CREAT | 0600);
	if (id >= 0)
		shmctl(id, IPC_RMID, NULL);
	STEP(refusal(id, "a System V segment of 1 GiB", EINVAL, 0));
	/* Two of 48 MiB: each fits, the second not with the first. */
	id = shmget(IPC_PRIVATE, (size_t)48 << 20, IPC_CREAT | 0600);
	if (id < 0)
		return say(WRONG, "a System V segment of 48 MiB: %s", strerrorname_np(errno));
	rv = shmget(IPC_PRIVATE, (size_t)48 << 20, IPC_CREAT | 0600);
	if (rv >= 0)
		shmctl((int)rv, IPC_RMID, NULL);
	r = refusal(rv, "a second System V segment of 48 MiB", ENOSPC, 0);
	shmctl(id, IPC_RMID, NULL);
	if (r != BLOCKED)
		return r;
	STEP(ipc_fill(make_queue, ids, "message queues", 256, remove_queue));
	STEP(ipc_fill(make_sem_set, ids, "semaphore sets", 128, remove_sem_set));
	return say(BLOCKED, "a segment of 1 GiB: EINVAL; a second of 48 MiB: ENOSPC; message "
			    "queues and semaphore sets: ENOSPC at the limits (256, 128)");
}

/*
 * Out of the OOM killer's sight: -1000 would make the host's OOM killer
 * end anything else first. Below its floor (the daemon's value, or
 * OOMScoreAdjust=, set with the host root's privilege) it takes
 * CAP_SYS_RESOURCE of the initial user namespace: EACCES. Our own value
 * is put back when the kernel took it.
 */
static enum result lower_oom_score(const char *arg)
{
	char old[16] = "";
	long rv;
	int fd, err;

	fd = open("/proc/self/oom_score_adj", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return say(WRONG, "open /proc/self/oom_score_adj: %s", strerror(errno));
	if (read(fd, old, sizeof(old) - 1) <= 0) {
		close(fd);
		return say(WRONG, "read /proc/self/oom_score_adj: %s", strerror(errno));
	}
	rv = pwrite(fd, "-1000", 5, 0);
	err = errno;
	if (rv >= 0)
		(void)!pwrite(fd, old, strlen(old), 0);
	close(fd);
	errno = err;
	return refusal(rv, "oom_score_adj -1000", EACCES, 0);
}

/*
 * The classic way out of a chroot, with the CAP_SYS_CHROOT a default root
 * keeps: chroot() into a directory below, so that the working directory
 * is outside the root, walk up with "..", chroot(".") there. What it must
 * reach is the container's own / again: nothing is above it (not the
 * host's tree, not the empty tmpfs of the mount template under it: ".."
 * there goes down into the tree again). In a child: the
 * attempt changes its root. A uid without the capability meets EPERM.
 */
static enum result chroot_out(const char *arg)
{
	const char *dir = "/tmp/nsinetd-escape-chroot";
	struct stat before, after;
	int p[2], status, err = 0;
	char out[3] = "";
	pid_t pid;

	if (stat("/", &before) < 0)
		return say(WRONG, "stat /: %s", strerror(errno));
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return say(SKIP, "cannot make %s: %s", dir, strerror(errno));
	if (pipe2(p, O_CLOEXEC) < 0)
		return say(WRONG, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		return say(WRONG, "fork: %s", strerror(errno));
	if (pid == 0) {
		char r = 'B';

		if (chroot(dir) < 0) {
			r = 'P';
			err = errno;
		} else {
			for (int i = 0; i < 64; i++)
				(void)!chdir("..");
			if (chroot(".") < 0 || stat("/", &after) < 0) {
				r = 'W';
				err = errno;
			} else if (after.st_dev != before.st_dev || after.st_ino != before.st_ino) {
				r = 'E';
				err = (int)after.st_dev;
			}
		}
		out[0] = r;
		out[1] = (char)(err & 0x7f);
		(void)!write(p[1], out, 2);
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], out, 2) != 2)
		out[0] = 'W';
	close(p[0]);
	waitpid(pid, &status, 0);
	rmdir(dir);
	switch (out[0]) {
	case 'B':
		return say(BLOCKED,
			   "chroot(), .. x64, chroot(\".\"): back at the container's own /");
	case 'P':
		errno = out[1];
		return refusal(-1, "chroot()", EPERM, 0);
	case 'E':
		return say(ESCAPED, "chroot(), .. x64, chroot(\".\") reached a / that is not the "
				    "container's");
	}
	return say(WRONG, "the attempt's child failed: %s", strerror(out[1]));
}

/* An Accept=yes sandbox's cgroup may be the next one's (supervisor/
 * accept.c, cgroup_keep()): nothing of ours may stay in it. No cgroup file
 * system can be mounted, and sysfs's cgroup directory, read-only, takes
 * nothing. */
static enum result leave_in_cgroup(const char *arg)
{
	long rv;

	STEP(mount_refused("none", "/sys/fs/cgroup", "cgroup2", 0, "mount cgroup2"));
	STEP(fsopen_refused("cgroup2"));
	{
		struct statfs st;

		if (statfs("/sys/fs/cgroup", &st) < 0)
			return say(WRONG, "statfs /sys/fs/cgroup: %s", strerrorname_np(errno));
		if (st.f_type != SYSFS_MAGIC || !(st.f_flags & ST_RDONLY))
			return say(ESCAPED, "/sys/fs/cgroup is a file system of type %#lx%s",
				   (unsigned long)st.f_type,
				   st.f_flags & ST_RDONLY ? "" : ", writable");
	}
	/* sysfs makes no directory: the name is not there to create. */
	rv = mkdir("/sys/fs/cgroup/nsinetd-escape", 0755);
	if (rv == 0)
		rmdir("/sys/fs/cgroup/nsinetd-escape");
	STEP(refusal(rv, "mkdir /sys/fs/cgroup/nsinetd-escape", ENOENT, 0));
	return say(BLOCKED,
		   "mount, fsopen: %s; /sys/fs/cgroup is read-only sysfs, mkdir there: ENOENT",
		   strerrorname_np(FILTER_ERRNO));
}

static const struct attempt {
	const char *name;
	enum result (*run)(const char *arg);
	const char *arg;
} attempts[] = {
    {"see a host process", see_host_process, NULL},
    {"signal a host process", signal_host_process, NULL},
    {"reach a spare container", reach_spare, NULL},
    {"setns into a namespace", setns_any, NULL},
    {"mount", do_mount, NULL},
    {"remount / read-write", remount_root, NULL},
    {"unmount the root", unmount_root, NULL},
    {"unshare", do_unshare, NULL},
    {"load a kernel module", load_module, NULL},
    {"open a raw socket", raw_socket, NULL},
    {"configure the network (lo down)", configure_network, NULL},
    {"ptrace another process", do_ptrace, NULL},
    {"read /proc/kcore", read_kcore, NULL},
    {"read the host's firmware tables", read_firmware, NULL},
    {"write to the read-only root", write_root, NULL},
    {"chroot out of the root", chroot_out, NULL},
    {"write to /proc/sys", write_proc_sys, NULL},
    {"create a device node", make_device, NULL},
    {"gain privileges through a setuid binary", setuid_binary, NULL},
    {"make a setuid file for the host", setuid_for_host, NULL},
    {"use bpf()", use_bpf, NULL},
    {"use perf_event_open()", use_perf, NULL},
    {"use io_uring", use_io_uring, NULL},
    {"read /etc/shadow", read_shadow, NULL},
    {"connect to a root-only unix socket", connect_root_socket, NULL},
    {"read /proc/1/environ", read_pid1, "environ"},
    {"read /proc/1/mem", read_pid1, "mem"},
    {"read /proc/1/maps", read_pid1, "maps"},
    {"pid 1 is filtered and not dumpable", pid1_filtered, NULL},
    {"write /proc/irq/default_smp_affinity", write_irq_affinity, NULL},
    {"open /proc/irq for writing", proc_write, "/proc/irq"},
    {"open /proc/bus for writing", proc_write, "/proc/bus"},
    {"open /proc/pressure for writing", proc_write, "/proc/pressure"},
    {"open /proc/sysrq-trigger for writing", proc_write, "/proc/sysrq-trigger"},
    {"open /proc/acpi for writing", proc_write, "/proc/acpi"},
    {"open /proc/asound for writing", proc_write, "/proc/asound"},
    {"open /proc/fs for writing", proc_write, "/proc/fs"},
    {"open /proc/scsi for writing", proc_write, "/proc/scsi"},
    {"open /proc/latency_stats for writing", proc_write, "/proc/latency_stats"},
    {"open /proc/timer_stats for writing", proc_write, "/proc/timer_stats"},
    {"open /proc/sched_debug for writing", proc_write, "/proc/sched_debug"},
    {"open /proc/kcore for writing", proc_write, "/proc/kcore"},
    {"open /proc/keys for writing", proc_write, "/proc/keys"},
    {"open /proc/timer_list for writing", proc_write, "/proc/timer_list"},
    {"exceed LimitNPROC=", exceed_nproc, NULL},
    {"exceed LimitNOFILE=", exceed_nofile, NULL},
    {"fill the host's memory through a tmpfs", fill_memory, NULL},
    {"fill the host's memory through System V IPC", fill_sysv_ipc, NULL},
    {"lower its OOM score", lower_oom_score, NULL},
    {"leave something in its cgroup for the next sandbox", leave_in_cgroup, NULL},
};

/* A sanitized build: LeakSanitizer cannot trace a setuid process, and the
 * environment of one (ASAN_OPTIONS) is not readable to it. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--euid") == 0) {
		printf("%d\n", (int)geteuid());
		return 0;
	}
	if (geteuid() != getuid() || getpid() != 2) {
		fprintf(stderr, "nsinetd-escape: runs its attempts only as a container's payload "
				"(pid 2, not setuid); --euid prints the effective uid\n");
		return 2;
	}
	if (!getenv("LISTEN_FDS") || atoi(getenv("LISTEN_FDS")) != 1) {
		fprintf(stderr, "nsinetd-escape: expects one listening socket (LISTEN_FDS=1)\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	/* Accept=yes: fd 3 is the connection itself; one report, then exit. */
	bool connected =
	    getenv("LISTEN_FDNAMES") && strcmp(getenv("LISTEN_FDNAMES"), "connection") == 0;
	for (;;) {
		int c = connected ? 3 : accept4(3, NULL, NULL, SOCK_CLOEXEC);
		FILE *f;

		if (c < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		f = fdopen(c, "w");
		if (!f) {
			close(c);
			continue;
		}
		for (size_t i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++) {
			enum result r = attempts[i].run(attempts[i].arg);
			fprintf(f, "%s\t%s\t%s\n", result_names[r], attempts[i].name, detail);
			fflush(f);
		}
		fclose(f);
		if (connected)
			return 0;
	}
}
