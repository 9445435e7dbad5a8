/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nsinetd-escape: run inside a sandbox, tries to get out, and reports.
 *
 * A socket-activated service (LISTEN_FDS=1, a stream listener at fd 3):
 * for each connection it runs every attempt of attempts[] and writes one
 * line per attempt, "RESULT<TAB>NAME<TAB>DETAIL", RESULT being
 *   blocked  the attempt failed, as it must (DETAIL: how);
 *   ESCAPED  it worked: a hole in the sandbox;
 *   skip     not applicable here (DETAIL: why).
 * tests/integration/test_escape.py turns each line into a TAP row, for
 * every kind of sandbox it starts (one loop iteration each).
 *
 * Environment: ESCAPE_HOST_PID (a host process to look for and signal),
 * ESCAPE_SETUID (a setuid-root copy of this binary, run with --euid).
 * "nsinetd-escape --euid" prints the effective uid and exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <linux/io_uring.h>

enum result { BLOCKED, ESCAPED, SKIP };

static char detail[256];

static enum result say(enum result r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return r;
}

/* An attempt that must fail with an error: blocked with its errno. */
static enum result expect_fail(long rv, const char *what)
{
	if (rv < 0)
		return say(BLOCKED, "%s: %s", what, strerror(errno));
	return say(ESCAPED, "%s succeeded", what);
}

static pid_t host_pid(void)
{
	const char *s = getenv("ESCAPE_HOST_PID");
	return s ? (pid_t)atoi(s) : 0;
}

static enum result see_host_process(void)
{
	char path[64];
	pid_t pid = host_pid();

	if (pid <= 2)
		return say(SKIP, "no ESCAPE_HOST_PID");
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	return expect_fail(open(path, O_RDONLY | O_CLOEXEC), path);
}

static enum result signal_host_process(void)
{
	pid_t pid = host_pid();

	if (pid <= 2)
		return say(SKIP, "no ESCAPE_HOST_PID");
	/* Signal 0: the check without the harm. */
	return expect_fail(kill(pid, 0), "kill(host pid, 0)");
}

static enum result setns_host(void)
{
	static const char *const ns[] = {"mnt", "net", "pid", "user", "uts", "ipc", "cgroup"};
	char path[64];
	int fd;

	/* The host's namespaces are not reachable by path from here; a
	 * namespace fd we can reach (our own init's) must not be joinable
	 * either, or any fd leaked into the sandbox would be a way out. */
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		snprintf(path, sizeof(path), "/proc/1/ns/%s", ns[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (setns(fd, 0) == 0 && strcmp(ns[i], "user") != 0) {
			close(fd);
			return say(ESCAPED, "setns(%s) succeeded", path);
		}
		close(fd);
	}
	return say(BLOCKED, "setns() refused for every namespace of pid 1");
}

static enum result do_mount(void)
{
	return expect_fail(mount("none", "/tmp", "tmpfs", 0, NULL), "mount tmpfs");
}

static enum result do_unshare(void)
{
	if (unshare(CLONE_NEWUSER) == 0)
		return say(ESCAPED, "unshare(CLONE_NEWUSER) succeeded");
	return expect_fail(unshare(CLONE_NEWNS), "unshare(CLONE_NEWUSER|NEWNS)");
}

static enum result load_module(void)
{
	return expect_fail(syscall(SYS_init_module, "", 0UL, ""), "init_module");
}

static enum result raw_socket(void)
{
	int fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);

	if (fd >= 0) {
		close(fd);
		return say(ESCAPED, "socket(SOCK_RAW) succeeded");
	}
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd >= 0) {
		close(fd);
		return say(ESCAPED, "socket(AF_PACKET) succeeded");
	}
	return say(BLOCKED, "raw and packet sockets: %s", strerror(errno));
}

static enum result do_ptrace(void)
{
	/* pid 1 is the stub init, another process: not ours to trace. */
	return expect_fail(ptrace(PTRACE_ATTACH, 1, NULL, NULL), "ptrace(ATTACH, 1)");
}

static enum result read_kcore(void)
{
	char b[16];
	int fd = open("/proc/kcore", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return say(BLOCKED, "open /proc/kcore: %s", strerror(errno));
	n = read(fd, b, sizeof(b));
	close(fd);
	if (n > 0)
		return say(ESCAPED, "read %zd bytes of /proc/kcore", n);
	return say(BLOCKED, "/proc/kcore reads nothing (masked)");
}

static enum result write_root(void)
{
	int fd = open("/nsinetd-escape-test", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd >= 0) {
		close(fd);
		unlink("/nsinetd-escape-test");
		return say(ESCAPED, "created /nsinetd-escape-test");
	}
	return say(BLOCKED, "create in /: %s", strerror(errno));
}

static enum result write_proc_sys(void)
{
	return expect_fail(open("/proc/sys/kernel/domainname", O_WRONLY | O_CLOEXEC),
			   "open /proc/sys/kernel/domainname for writing");
}

static enum result make_device(void)
{
	int r = mknod("/tmp/escape-null", S_IFCHR | 0666, makedev(1, 3));

	if (r == 0) {
		int fd = open("/tmp/escape-null", O_RDWR | O_CLOEXEC);
		unlink("/tmp/escape-null");
		if (fd >= 0) {
			close(fd);
			return say(ESCAPED, "mknod and open of a device node succeeded");
		}
		return say(BLOCKED, "mknod worked but the node does not open (nodev)");
	}
	return say(BLOCKED, "mknod: %s", strerror(errno));
}

static enum result setuid_binary(void)
{
	const char *bin = getenv("ESCAPE_SETUID");
	char out[32] = "";
	int p[2], status;
	ssize_t n;
	pid_t pid;

	if (geteuid() == 0)
		return say(SKIP, "already root in the sandbox: run with User= for this row");
	if (!bin || access(bin, X_OK) < 0)
		return say(SKIP, "no setuid binary given (ESCAPE_SETUID)");
	if (pipe2(p, O_CLOEXEC) < 0)
		return say(SKIP, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		execl(bin, bin, "--euid", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	n = read(p[0], out, sizeof(out) - 1);
	close(p[0]);
	waitpid(pid, &status, 0);
	if (n <= 0)
		return say(BLOCKED, "the setuid binary did not run");
	out[n] = '\0';
	if (atoi(out) == 0)
		return say(ESCAPED, "the setuid binary ran with euid 0");
	return say(BLOCKED, "the setuid binary ran with euid %d", atoi(out));
}

static enum result use_bpf(void)
{
	union bpf_attr attr = {
	    .map_type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 4, .max_entries = 1};
	long fd = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));

	if (fd >= 0)
		close((int)fd);
	return expect_fail(fd, "bpf(BPF_MAP_CREATE)");
}

static enum result use_perf(void)
{
	struct perf_event_attr attr = {
	    .type = PERF_TYPE_SOFTWARE, .size = sizeof(attr), .config = PERF_COUNT_SW_CPU_CLOCK};
	long fd = syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);

	if (fd >= 0)
		close((int)fd);
	return expect_fail(fd, "perf_event_open");
}

/* io_uring does its work in the kernel, out of the filter's sight: the
 * filter must refuse the ring itself, with its own errno (EPERM). Another
 * errno means the call reached the kernel. The kernel's own switch
 * (kernel.io_uring_disabled) also says EPERM: then the row cannot tell. */
static enum result use_io_uring(void)
{
	struct io_uring_params params = {0};
	char disabled[8] = "0";
	FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "re");
	long fd;

	if (f) {
		if (!fgets(disabled, sizeof(disabled), f))
			disabled[0] = '0';
		fclose(f);
	}
	if (disabled[0] != '0')
		return say(SKIP, "kernel.io_uring_disabled=%c: its EPERM looks like the filter's",
			   disabled[0]);
	fd = syscall(SYS_io_uring_setup, 1, &params);
	if (fd >= 0) {
		close((int)fd);
		return say(ESCAPED, "io_uring_setup succeeded");
	}
	if (errno == ENOSYS)
		return say(SKIP, "no io_uring in this kernel");
	if (errno != EPERM)
		return say(ESCAPED, "io_uring_setup reached the kernel: %s", strerror(errno));
	return say(BLOCKED, "io_uring_setup: %s (the filter)", strerror(errno));
}

static enum result exceed_nproc(void)
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
	r = err ? say(BLOCKED, "fork refused (%s) after %d children, LimitNPROC=%llu",
		      strerror(err), n, (unsigned long long)rl.rlim_cur)
		: say(ESCAPED, "%d children with LimitNPROC=%llu", n,
		      (unsigned long long)rl.rlim_cur);
	for (int i = 0; i < n; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
	return r;
}

static enum result exceed_nofile(void)
{
	struct rlimit rl, more;
	int fds[4096], n = 0, err = 0;
	enum result r;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur > 4000)
		return say(SKIP, "LimitNOFILE= not set (or above 4000)");
	more = (struct rlimit){rl.rlim_max + 1, rl.rlim_max + 1};
	if (setrlimit(RLIMIT_NOFILE, &more) == 0)
		return say(ESCAPED, "raised RLIMIT_NOFILE above its hard limit");
	while (n < 4096) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			err = errno;
			break;
		}
		fds[n++] = fd;
	}
	r = (err == EMFILE && (unsigned long long)n < rl.rlim_cur)
		? say(BLOCKED, "EMFILE after %d more fds, LimitNOFILE=%llu; raising refused", n,
		      (unsigned long long)rl.rlim_cur)
		: say(ESCAPED, "%d fds opened with LimitNOFILE=%llu", n,
		      (unsigned long long)rl.rlim_cur);
	while (n > 0)
		close(fds[--n]);
	return r;
}

static const struct attempt {
	const char *name;
	enum result (*run)(void);
} attempts[] = {
    {"see a host process", see_host_process},
    {"signal a host process", signal_host_process},
    {"setns into another namespace", setns_host},
    {"mount", do_mount},
    {"unshare", do_unshare},
    {"load a kernel module", load_module},
    {"open a raw socket", raw_socket},
    {"ptrace another process", do_ptrace},
    {"read /proc/kcore", read_kcore},
    {"write to the read-only root", write_root},
    {"write to /proc/sys", write_proc_sys},
    {"create a device node", make_device},
    {"gain privileges through a setuid binary", setuid_binary},
    {"use bpf()", use_bpf},
    {"use perf_event_open()", use_perf},
    {"set up an io_uring", use_io_uring},
    {"exceed LimitNPROC=", exceed_nproc},
    {"exceed LimitNOFILE=", exceed_nofile},
};

static const char *const result_names[] = {"blocked", "ESCAPED", "skip"};

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--euid") == 0) {
		printf("%d\n", (int)geteuid());
		return 0;
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
			enum result r = attempts[i].run();
			fprintf(f, "%s\t%s\t%s\n", result_names[r], attempts[i].name, detail);
		}
		fclose(f);
		if (connected)
			return 0;
	}
}
