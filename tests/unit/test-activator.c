/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Real containers: each test spawns /bin/sh -c '…' in new namespaces on the
 * host's root (read-only), and checks what it reports on its stdout as
 * key=value lines, its exit status, or the failing setup step. Needs root.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <dirent.h>
#include <linux/magic.h>
#include <time.h>
#include <unistd.h>

#include "activator/activator.h"
#include "activator/cgroup.h"
#include "activator/init-filter.h"
#include "common/cleanup.h"
#include "common/fd-util.h"
#include "netns/netns.h"
#include "tap.h"

#define TIMEOUT_MS 20000
#include "container-util.h"
#define ALL_NS                                                                                     \
	(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP | CLONE_NEWNET)

static char staging[] = "/tmp/nsinetd-test-staging-XXXXXX";
static char *test_env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "FOO=bar", "LISTEN_PID=999", NULL};

struct run {
	int r;                    /* activator_spawn() */
	int result;               /* activator_read_result() */
	enum activator_step step; /* on failure */
	char what[256];           /* on failure: its path */
	int status;               /* wait status of pid 1 */
	char out[16384];          /* the payload's stdout */
};

/* nsinetd-init, from the build tree (meson passes its path), and the
 * activator's slot (-1: every test runs again without it, see main()). */
static int init_fd = -1;
static int slot_fd = -1;
/* activator_mount_template_new(), once main() has tested it; -1 before. */
static int template_fd = -1;

static void spec_init(struct activator_spec *s, char *const *argv)
{
	*s = (struct activator_spec){
	    .name = "test",
	    .argv = argv,
	    .envp = test_env,
	    .stdio = {-1, -1, STDERR_FILENO},
	    .read_only = true,
	    .staging_dir = staging,
	    .hostname = "box",
	    .namespaces = ALL_NS,
	    .cgroup_fd = -1,
	    .netns_fd = -1,
	    .mount_template_fd = template_fd,
	    .userns_fd = -1,
	    .init_fd = init_fd,
	    .slot_fd = slot_fd,
	};
}

/* The outcome of the setup, waiting for it. */
static int wait_result(int sync_fd, enum activator_step *step, char *what)
{
	for (;;) {
		struct activator_failure f;
		int r = activator_read_result(sync_fd, &f);

		if (step)
			*step = f.step;
		if (what)
			snprintf(what, sizeof(f.what), "%s", f.what);
		if (r != -EAGAIN)
			return r;
		if (!wait_readable(sync_fd, TIMEOUT_MS))
			return -ETIMEDOUT;
	}
}

/* Reaps pid 1, killing it if it does not exit in time. */
static int wait_exit(int pidfd, int *status)
{
	if (!wait_readable(pidfd, TIMEOUT_MS)) {
		printf("# container did not exit, killing it\n");
		activator_signal(pidfd, SIGKILL);
		wait_readable(pidfd, TIMEOUT_MS);
	}
	return activator_reap(pidfd, status);
}

/* Spawns, collects stdout to EOF, the setup result and the exit status. */
static void run_spec(struct activator_spec *s, struct run *res)
{
	struct activator_child ch;
	int pipefd[2];
	size_t n = 0;

	memset(res, 0, sizeof(*res));
	res->status = -1;
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		res->r = -errno;
		return;
	}
	s->stdio[1] = pipefd[1];
	res->r = activator_spawn(s, &ch);
	close(pipefd[1]);
	s->stdio[1] = -1;
	if (res->r < 0) {
		close(pipefd[0]);
		return;
	}
	res->result = wait_result(ch.sync_fd, &res->step, res->what);
	/* EOF only once every process of the container is gone: pid 1
	 * replaces its stdio with /dev/null. */
	while (n + 1 < sizeof(res->out) && wait_readable(pipefd[0], TIMEOUT_MS)) {
		ssize_t k = read(pipefd[0], res->out + n, sizeof(res->out) - 1 - n);

		if (k <= 0)
			break;
		n += (size_t)k;
	}
	res->out[n] = '\0';
	if (wait_exit(ch.pidfd, &res->status) < 0)
		res->status = -1;
	close(pipefd[0]);
	close(ch.pidfd);
	close(ch.sync_fd);
}

static void run_sh(struct activator_spec *s, const char *script, struct run *res)
{
	char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};

	s->argv = argv;
	run_spec(s, res);
	s->argv = NULL;
}

static void test_environment(void)
{
	struct activator_spec s;
	struct run res;
	struct stat st_sock, st_pipe;
	char want[64];
	int sp[2], pp[2];
	int fds[2];
	const char *names[] = {"alpha", "beta"};
	const char *v;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0 || pipe2(pp, O_CLOEXEC) < 0)
		abort();
	fstat(sp[0], &st_sock);
	fstat(pp[0], &st_pipe);
	fds[0] = sp[0];
	fds[1] = pp[0];

	spec_init(&s, NULL);
	s.fds = fds;
	s.fd_names = names;
	s.n_fds = 2;
	run_sh(&s,
	       "echo pid=$$\n"
	       "echo listen_pid=$LISTEN_PID\n"
	       "echo listen_fds=$LISTEN_FDS\n"
	       "echo listen_names=$LISTEN_FDNAMES\n"
	       "echo foo=$FOO\n"
	       "echo tmp=$(ls -A /tmp | wc -l)\n"
	       "touch /tmp/x && echo tmpw=ok\n"
	       "echo fd0=$(readlink /proc/$$/fd/0)\n"
	       "echo fd3=$(readlink /proc/$$/fd/3)\n"
	       "echo fd4=$(readlink /proc/$$/fd/4)\n"
	       "echo hostname=$(cat /proc/sys/kernel/hostname)\n"
	       "touch /rootfile 2>/dev/null && echo root=rw || echo root=ro\n"
	       "echo dev=$(ls /dev)\n"
	       "echo ptmx=$(readlink /dev/ptmx)\n"
	       "echo zero=$(head -c 5 /dev/zero | wc -c)\n"
	       "echo null=$(echo x >/dev/null && wc -c </dev/null)\n"
	       "echo pid1=$(ls /proc | grep -E '^[0-9]+$' | sort -n | head -n 1)\n"
	       "echo maxpid=$(ls /proc | grep -E '^[0-9]+$' | sort -n | tail -n 1)\n"
	       "echo masked=$(wc -c </proc/timer_list)$(grep -c ' /proc/keys ' /proc/self/mounts)\n"
	       "echo procsys=$(grep ' /proc/sys ' /proc/self/mounts | cut -d' ' -f4 | cut -d, "
	       "-f1)\n"
	       "echo sys=$(grep ' /sys ' /proc/self/mounts | cut -d' ' -f3,4 | cut -d, -f1)\n"
	       "echo hidden=$(grep -c -E ' /(proc|dev|tmp|run) ' /proc/self/mounts)\n"
	       "echo net=$(ls /sys/class/net)\n"
	       "echo loflags=$(cat /sys/class/net/lo/flags)\n"
	       "echo netdev=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ')\n"
	       "echo uid=$(id -u) gid=$(id -g) groups=$(id -G)\n"
	       "echo cwd=$(pwd) umask=$(umask)\n"
	       "echo mask=$(grep SigBlk /proc/$$/status | cut -f2)\n"
	       "echo ign=$(grep SigIgn /proc/$$/status | cut -f2)\n",
	       &res);

	/* dash keeps an fd of its own (10): list the fds from ls itself, whose
	 * directory fd is the lowest free one, 5 if nothing leaked. */
	{
		char *argv[] = {"/bin/ls", "/proc/self/fd", NULL};
		struct run res_ls;

		s.argv = argv;
		run_spec(&s, &res_ls);
		is_str(res_ls.out, "0\n1\n2\n3\n4\n5\n",
		       "only fds 0-4 are open in the payload (5 is ls's own)");
	}
	close(sp[0]);
	close(sp[1]);
	close(pp[0]);
	close(pp[1]);

	is_int(res.r, 0, "spawn succeeds");
	is_int(res.result, 0, "setup reports exec done (EOF), step %s",
	       activator_step_name(res.step));
	ok(exited_with(res.status, 0), "payload exits 0 (status 0x%x)", res.status);
	printf("# output:\n#   ");
	for (const char *p = res.out; *p; p++)
		fputs(*p == '\n' ? "\n#   " : (char[]){*p, 0}, stdout);
	printf("\n");

	is_str(get(res.out, "pid"), "2", "the payload is pid 2");
	is_str(get(res.out, "listen_pid"), "2", "LISTEN_PID is the payload's pid");
	is_str(get(res.out, "listen_fds"), "2", "LISTEN_FDS=2");
	is_str(get(res.out, "listen_names"), "alpha:beta", "LISTEN_FDNAMES");
	is_str(get(res.out, "foo"), "bar", "the base environment is passed");
	is_str(get(res.out, "fd0"), "/dev/null", "stdin -1 is /dev/null");
	snprintf(want, sizeof(want), "socket:[%lu]", (unsigned long)st_sock.st_ino);
	is_str(get(res.out, "fd3"), want, "fd 3 is the passed socket");
	snprintf(want, sizeof(want), "pipe:[%lu]", (unsigned long)st_pipe.st_ino);
	is_str(get(res.out, "fd4"), want, "fd 4 is the passed pipe");
	is_str(get(res.out, "hostname"), "box", "hostname is set");
	is_str(get(res.out, "root"), "ro", "the root is read-only");
	is_str(get(res.out, "tmp"), "0", "/tmp is empty (not the host's)");
	is_str(get(res.out, "tmpw"), "ok", "/tmp is writable");
	is_str(get(res.out, "dev"),
	       "fd full null ptmx pts random shm stderr stdin stdout tty "
	       "urandom zero",
	       "/dev is minimal");
	is_str(get(res.out, "ptmx"), "pts/ptmx", "/dev/ptmx -> pts/ptmx");
	is_str(get(res.out, "zero"), "5", "/dev/zero works");
	is_str(get(res.out, "null"), "0", "/dev/null works");
	is_str(get(res.out, "pid1"), "1", "/proc shows the container's pid 1");
	v = get(res.out, "maxpid");
	ok(v && atoi(v) < 100, "/proc shows only the container's processes (max pid %s)",
	   v ? v : "?");
	is_str(get(res.out, "masked"), "01", "/proc/timer_list and /proc/keys are masked");
	is_str(get(res.out, "procsys"), "ro", "/proc/sys is read-only");
	is_str(get(res.out, "sys"), "sysfs ro", "/sys is a read-only sysfs");
	is_str(get(res.out, "hidden"), "4", "no host /proc, /dev, /tmp, /run hidden under ours");
	is_str(get(res.out, "net"), "lo", "Network=none: only lo");
	is_str(get(res.out, "loflags"), "0x9", "lo is up");
	is_str(get(res.out, "netdev"), "lo", "/proc/net/dev shows only lo");
	is_str(get(res.out, "uid"), "0 gid=0 groups=0", "root payload keeps uid 0, no groups");
	is_str(get(res.out, "cwd"), "/ umask=0022", "cwd / and umask 022");
	is_str(get(res.out, "mask"), "0000000000000000", "the payload's signal mask is empty");
	is_str(get(res.out, "ign"), "0000000000000000", "no signal ignored in the payload");
}

static void test_exit_codes(void)
{
	struct activator_spec s;
	struct run res;

	spec_init(&s, NULL);
	run_sh(&s, "exit 7", &res);
	ok(res.r == 0 && res.result == 0 && exited_with(res.status, 7),
	   "exit 7 gives status 7 (status 0x%x)", res.status);

	run_sh(&s, "kill -KILL $$", &res);
	ok(exited_with(res.status, 128 + SIGKILL), "a payload killed by SIGKILL gives 137 (0x%x)",
	   res.status);

	/* Host network, writable root: /sys still a fresh sysfs; no hostname. */
	s.namespaces = ALL_NS & ~CLONE_NEWNET;
	s.read_only = false;
	s.hostname = NULL;
	run_sh(&s,
	       "grep -q ' /sys sysfs ro' /proc/self/mounts && ls /sys/class/net | grep -qx lo "
	       "&& exit 3",
	       &res);
	ok(exited_with(res.status, 3), "host network: read-only sysfs with the host's lo (0x%x)",
	   res.status);

	/* An unprivileged payload, with a working directory. */
	spec_init(&s, NULL);
	s.uid = 65534;
	s.gid = 65534;
	s.working_directory = "/tmp";
	run_sh(&s, "echo id=$(id -u):$(id -g):$(id -G) cwd=$(pwd); echo listen=${LISTEN_PID-unset}",
	       &res);
	is_str(get(res.out, "listen"), "unset", "no LISTEN_* without fds (the base's is dropped)");
	is_str(get(res.out, "id"), "65534:65534:65534 cwd=/tmp",
	       "uid/gid dropped, no supplementary groups, WorkingDirectory=");
	ok(exited_with(res.status, 0), "unprivileged payload exits 0");

	/* argv[0] looked up in PATH. */
	{
		char *argv[] = {"sh", "-c", "exit 5", NULL};

		spec_init(&s, argv);
		run_spec(&s, &res);
		ok(res.result == 0 && exited_with(res.status, 5),
		   "argv[0] without '/' is found in PATH");
	}
}

static int hook_calls;
static pid_t hook_pid;

static int hook_fail(pid_t pid, int pidfd, void *userdata)
{
	hook_calls++;
	hook_pid = pid;
	return *(int *)userdata;
}

/* Network=netns:NAME and the shared empty namespace: netns_fd is joined;
 * the hook runs between clone and release, and its failure kills the
 * child before it ran a step. */
static void test_netns(void)
{
	struct activator_spec s;
	struct run res;
	struct stat st;
	const char *v;
	char want[64];
	int fd = -1, r, hook_ret = 0;

	r = netns_new_empty(&fd);
	ok(r == 0, "an empty namespace to join (%d)", r);
	if (r < 0)
		return;
	fstat(fd, &st);
	snprintf(want, sizeof(want), "net:[%lu]", (unsigned long)st.st_ino);
	spec_init(&s, NULL);
	s.namespaces = ALL_NS & ~CLONE_NEWNET;
	s.netns_fd = fd;
	s.before_release = hook_fail;
	s.userdata = &hook_ret;
	run_sh(&s, "echo ns=$(readlink /proc/self/ns/net); echo net=$(ls /sys/class/net)", &res);
	is_str(get(res.out, "ns"), want, "netns_fd joined");
	is_str(get(res.out, "net"), "lo", "its /sys shows its interfaces");
	ok(hook_calls == 1 && hook_pid > 0, "the hook ran once, with the child's pid");

	s.namespaces = ALL_NS;
	run_sh(&s, "exit 0", &res);
	is_int(res.r, -EINVAL, "netns_fd with CLONE_NEWNET: -EINVAL");

	/* netns_late (a pooled sandbox): nsinetd-init makes it, not the
	 * clone; a namespace of its own as the clone's, lo up, the same ports. */
	{
		const char *sh = "echo ns=$(readlink /proc/self/ns/net); "
				 "echo net=$(ls /sys/class/net); "
				 "echo lo=$(cat /sys/class/net/lo/flags); "
				 "echo ports=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)";
		char mine[64] = "", clone_ports[16] = "";
		ssize_t n = readlink("/proc/self/ns/net", mine, sizeof(mine) - 1);

		mine[n > 0 ? n : 0] = '\0';
		spec_init(&s, NULL);
		run_sh(&s, sh, &res);
		v = get(res.out, "ports");
		snprintf(clone_ports, sizeof(clone_ports), "%s", v ? v : "?");
		s.netns_late = true;
		run_sh(&s, sh, &res);
		v = get(res.out, "ns");
		ok(res.r == 0 && v && strncmp(v, "net:[", 5) == 0 && strcmp(v, mine) != 0,
		   "netns_late: a namespace of its own (%s, ours %s)", v ? v : "?", mine);
		is_str(get(res.out, "net"), "lo", "netns_late: only lo");
		is_str(get(res.out, "lo"), "0x9", "netns_late: lo is up");
		is_str(get(res.out, "ports"), clone_ports,
		       "netns_late: ip_unprivileged_port_start as in the clone's");
		s.namespaces = ALL_NS & ~CLONE_NEWNET;
		run_sh(&s, "exit 0", &res);
		is_int(res.r, -EINVAL, "netns_late without CLONE_NEWNET: -EINVAL");
		s.namespaces = ALL_NS | CLONE_NEWUSER;
		run_sh(&s, "exit 0", &res);
		is_int(res.r, -EINVAL, "netns_late with the clone's user namespace: -EINVAL");
		s.namespaces = ALL_NS;
		s.before_release = hook_fail;
		s.userdata = &hook_ret;
		hook_ret = 0;
		run_sh(&s, "exit 0", &res);
		is_int(res.r, -EINVAL, "netns_late with a hook before the go: -EINVAL");
	}

	spec_init(&s, NULL);
	s.before_release = hook_fail;
	s.userdata = &hook_ret;
	hook_ret = -EADDRINUSE;
	run_sh(&s, "exit 0", &res);
	is_int(res.r, -EADDRINUSE, "a failing hook's error is returned");
	ok(hook_pid > 0 && kill(hook_pid, 0) < 0 && errno == ESRCH,
	   "and its child is killed and reaped");
	close(fd);
}

static void test_failures(void)
{
	struct activator_spec s;
	struct run res;
	char *argv_missing[] = {"/nonexistent/nsinetd-prog", NULL};
	char *argv_nopath[] = {"nsinetd-no-such-command", NULL};

	spec_init(&s, argv_missing);
	run_spec(&s, &res);
	is_int(res.result, -ENOENT, "missing argv[0]: -ENOENT");
	is_str(activator_step_name(res.step), "exec", "missing argv[0]: at step exec");
	ok(exited_with(res.status, 127), "a failed exec exits 127 (0x%x)", res.status);

	spec_init(&s, argv_nopath);
	run_spec(&s, &res);
	ok(res.result == -ENOENT && res.step == STEP_EXEC, "command not in PATH: exec, -ENOENT");

	spec_init(&s, argv_missing);
	s.root_directory = "/nonexistent/nsinetd-root";
	run_spec(&s, &res);
	is_int(res.result, -ENOENT, "missing root directory: -ENOENT");
	is_str(activator_step_name(res.step), "rootfs", "missing root directory: at step rootfs");
	ok(exited_with(res.status, 127), "a failed setup exits 127");

	spec_init(&s, argv_missing);
	s.working_directory = "/nonexistent/nsinetd-wd";
	run_spec(&s, &res);
	ok(res.result == -ENOENT && res.step == STEP_CHDIR, "missing working directory: chdir");

	/* Refused before clone. */
	spec_init(&s, argv_missing);
	s.namespaces = CLONE_NEWNS;
	run_spec(&s, &res);
	is_int(res.r, -EINVAL, "no CLONE_NEWPID: -EINVAL");
	spec_init(&s, argv_missing);
	s.namespaces = ALL_NS & ~CLONE_NEWUTS;
	run_spec(&s, &res);
	is_int(res.r, -EINVAL, "a hostname without a UTS namespace: -EINVAL");

	is_str(activator_step_name(STEP_PIVOT_ROOT), "pivot_root", "step name pivot_root");
	is_str(activator_step_name(_STEP_MAX), "unknown", "out-of-range step name");
}

/*
 * pid 1 is nsinetd-init, not a copy of this process: its environment is
 * empty (this process has one), and once the payload runs it is filtered,
 * without capabilities and without new privileges. Here the payload is the
 * host's root with every capability (no hardening in the spec), so it may
 * read pid 1's files: what it finds there is what matters.
 */
static void test_init_locked_down(void)
{
	struct activator_spec s;
	struct run res;

	setenv("NSINETD_TEST_SECRET", "s3cret-of-the-daemon", 1);
	spec_init(&s, NULL);
	run_sh(&s,
	       "echo seccomp=$(sed -n 's/^Seccomp:\t//p' /proc/1/status)\n"
	       "echo nnp=$(sed -n 's/^NoNewPrivs:\t//p' /proc/1/status)\n"
	       "echo capeff=$(sed -n 's/^CapEff:\t//p' /proc/1/status)\n"
	       "echo capprm=$(sed -n 's/^CapPrm:\t//p' /proc/1/status)\n"
	       "echo environ=$(wc -c </proc/1/environ)\n"
	       "echo cmdline=$(tr '\\0' ' ' </proc/1/cmdline)\n"
	       "if grep -q s3cret-of-the-daemon /proc/1/environ; then "
	       "echo secret=found; else echo secret=absent; fi\n"
	       "echo fds=$(ls /proc/1/fd | tr '\\n' ' ')\n",
	       &res);
	unsetenv("NSINETD_TEST_SECRET");
	ok(exited_with(res.status, 0), "lock-down: payload exits 0 (0x%x)", res.status);
	is_str(get(res.out, "seccomp"), "2", "pid 1 runs under a seccomp filter (Seccomp: 2)");
	is_str(get(res.out, "nnp"), "1", "pid 1 has no_new_privs");
	is_str(get(res.out, "capeff"), "0000000000000000", "pid 1 has no effective capability");
	is_str(get(res.out, "capprm"), "0000000000000000", "pid 1 has no permitted capability");
	is_str(get(res.out, "environ"), "0", "pid 1's environment is empty, not the daemon's");
	is_str(get(res.out, "cmdline"), "nsinetd-init", "pid 1 is nsinetd-init");
	is_str(get(res.out, "secret"), "absent", "the daemon's environment is not pid 1's");
	is_str(get(res.out, "fds"), "0 1 2", "pid 1 keeps only /dev/null stdio");
}

/* A user namespace made once, joined by pid 1 after the privileged setup;
 * the staging dir is under a 0700 mkdtemp() parent, which the container's
 * root could not traverse. */
static void test_userns(void)
{
	char dir[] = "/tmp/nsinetd-test-userns-XXXXXX";
	char key[sizeof(dir) + 16], link[sizeof(dir) + 16], link_dir[sizeof(dir) + 16];
	struct activator_bind binds[3];
	struct activator_spec s;
	struct run res;
	int userns = -1, fd, r;
	const uid_t shift = 0x30000000;

	r = activator_userns_new(init_fd, shift, 65536, &userns);
	is_int(r, 0, "activator_userns_new");
	if (r < 0 || !mkdtemp(dir))
		return;
	snprintf(key, sizeof(key), "%s/key", dir);
	fd = open(key, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0) {
		(void)!write(fd, "tls-key\n", 8);
		close(fd);
	}
	binds[0] =
	    (struct activator_bind){.source = dir, .target = "/run/plain", .read_only = true};
	binds[1] = (struct activator_bind){
	    .source = dir, .target = "/run/idmap", .read_only = true, .idmap = true};
	binds[2] = (struct activator_bind){
	    .source = dir, .target = "/run/suid", .read_only = true, .allow_suid = true};

	spec_init(&s, NULL);
	s.userns_fd = userns;
	s.userns_root = shift;
	s.binds = binds;
	s.n_binds = 3;
	run_sh(&s,
	       "echo map=$(cat /proc/self/uid_map | tr -s ' ')\n"
	       "echo uid=$(id -u)\n"
	       "echo run=$(stat -c %u /run)\n"
	       "touch /run/x && echo runw=yes\n"
	       "cat /etc/shadow >/dev/null 2>&1 && echo shadow=read || echo shadow=denied\n"
	       "cat /run/plain/key >/dev/null 2>&1 && echo plain=read || echo plain=denied\n"
	       "echo idmap=$(cat /run/idmap/key)\n"
	       "echo bindopts=$(awk '$5 == \"/run/plain\" {print $6}' /proc/self/mountinfo)\n"
	       "echo suidopts=$(awk '$5 == \"/run/suid\" {print $6}' /proc/self/mountinfo)\n"
	       "echo seccomp1=$(sed -n 's/^Seccomp:\t//p' /proc/1/status)\n",
	       &res);
	ok(exited_with(res.status, 0), "userns: payload exits 0 (0x%x)", res.status);
	is_str(get(res.out, "map"), " 0 805306368 65536", "userns: the service's uid map");
	is_str(get(res.out, "uid"), "0", "userns: the payload is the namespace's root");
	is_str(get(res.out, "run"), "0", "userns: /run is the container root's");
	is_str(get(res.out, "runw"), "yes", "userns: /run is writable for it");
	is_str(get(res.out, "shadow"), "denied", "userns: /etc/shadow of the host is unreadable");
	is_str(get(res.out, "plain"), "denied", "userns: a root-only file of a plain bind is not");
	is_str(get(res.out, "idmap"), "tls-key", "userns: … but readable through :idmap");
	is_str(get(res.out, "bindopts"), "ro,nosuid,nodev,relatime", "a bind is nosuid,nodev");
	is_str(get(res.out, "suidopts"), "ro,relatime", "… but not with allow_suid (Bind=…:suid)");
	is_str(get(res.out, "seccomp1"), "2", "userns: pid 1 is filtered too");

	/* A symlink in a Bind= source that root does not own is not followed. */
	snprintf(link_dir, sizeof(link_dir), "%s/sub", dir);
	snprintf(link, sizeof(link), "%s/sub/l", dir);
	if (mkdir(link_dir, 0755) == 0 && symlink("/etc", link) == 0 &&
	    lchown(link, 65534, 65534) == 0) {
		binds[0] =
		    (struct activator_bind){.source = link, .target = "/srv", .read_only = true};
		spec_init(&s, NULL);
		s.binds = binds;
		s.n_binds = 1;
		run_sh(&s, "true", &res);
		is_int(res.result, -EPERM, "a user's symlink in a Bind= source: -EPERM");
		is_str(activator_step_name(res.step), "bind", "… at step bind");
		/* The name is constant (tests/mutants.sh compares names); the
		 * path, which is not, goes in a comment. */
		ok(strstr(res.what, "symlink l is owned by uid 65534"), "… and says which");
		printf("# %s\n", res.what);
	}
	unlink(link);
	rmdir(link_dir);
	unlink(key);
	rmdir(dir);
	close(userns);
}

static int rm_cb(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	return remove(path);
}

static void test_mounts(void)
{
	char host_dir[] = "/tmp/nsinetd-test-bind-XXXXXX";
	char p[256];
	struct activator_bind binds[2];
	struct activator_tmpfs tmpfs[1] = {{"/run/scratch", "mode=0700,size=1m"}};
	struct activator_spec s;
	struct run res;
	FILE *f;

	if (!mkdtemp(host_dir))
		abort();
	snprintf(p, sizeof(p), "%s/hello", host_dir);
	f = fopen(p, "we");
	fputs("world\n", f);
	fclose(f);

	binds[0] = (struct activator_bind){host_dir, "/tmp/data", false};
	binds[1] = (struct activator_bind){host_dir, "/run/ro", true};
	spec_init(&s, NULL);
	s.binds = binds;
	s.n_binds = 2;
	s.tmpfs = tmpfs;
	s.n_tmpfs = 1;
	run_sh(&s,
	       "echo hello=$(cat /tmp/data/hello)\n"
	       "echo new > /tmp/data/new\n"
	       "touch /run/ro/x 2>/dev/null && echo ro=rw || echo ro=ro\n"
	       "echo rohello=$(cat /run/ro/hello)\n"
	       "echo scratch=$(stat -c %a /run/scratch)\n"
	       "touch /run/scratch/y && echo scratchw=ok\n"
	       "unshare -U true && echo nested=ok\n"
	       "echo tmp=$(stat -f -c %b.%S.%c /tmp)\n"
	       "echo scratchfs=$(stat -f -c %b.%S.%c /run/scratch)\n"
	       "echo shm=$(cat /proc/sys/kernel/shmmax /proc/sys/kernel/shmall)\n"
	       "echo ipc=$(cat /proc/sys/kernel/msgmni /proc/sys/kernel/sem)\n",
	       &res);
	is_int(res.result, 0, "binds and tmpfs: setup done (step %s, %d)",
	       activator_step_name(res.step), res.result);
	is_str(get(res.out, "hello"), "world", "Bind= below /tmp is visible");
	snprintf(p, sizeof(p), "%s/new", host_dir);
	ok(access(p, F_OK) == 0, "Bind= is writable (the host sees the new file)");
	is_str(get(res.out, "ro"), "ro", "BindReadOnly= is read-only");
	is_str(get(res.out, "rohello"), "world", "BindReadOnly= below /run is visible");
	is_str(get(res.out, "scratch"), "700", "TemporaryFileSystem= with its mode");
	is_str(get(res.out, "scratchw"), "ok", "TemporaryFileSystem= is writable");
	/* The kernel refuses a user namespace to a chrooted process: the root
	 * stacked on the template's must count as the namespace's. */
	is_str(get(res.out, "nested"), "ok", "not chrooted: a nested user namespace can be made");
	{
		unsigned long long blocks = 0, bsize = 0, files = 0, want;
		long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
		char shm[64];

		/* size=10%: the kernel rounds to pages. */
		want = (unsigned long long)pages * (unsigned long long)page / 10;
		ok(sscanf(get(res.out, "tmp") ?: "", "%llu.%llu.%llu", &blocks, &bsize, &files) ==
			   3 &&
		       blocks * bsize + 4096 > want && blocks * bsize < want + 4096 &&
		       files == 400 * 1024,
		   "/tmp is bounded: %s blocks.bsize.inodes, want %llu bytes and 409600",
		   get(res.out, "tmp"), want);
		is_str(get(res.out, "scratchfs"), "256.4096.409600",
		       "TemporaryFileSystem= keeps its size= (1m) and gets the inode limit");
		snprintf(shm, sizeof(shm), "67108864 %ld", (64L << 20) / page);
		is_str(get(res.out, "shm"), shm, "System V shared memory: 64 MiB in all");
		is_str(get(res.out, "ipc"), "256 32000 32000 500 128",
		       "System V queues and semaphores bounded");
	}
	ok(access("/tmp/data", F_OK) < 0 && access("/run/ro", F_OK) < 0 &&
	       access("/run/scratch", F_OK) < 0,
	   "no mount point was created on the host");
	nftw(host_dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

/* A root directory of its own: a merged-/usr skeleton (bin -> usr/bin, …)
 * with the host's /usr bound read-only into it. The API mount points and
 * /usr are created in the image; its symlinks resolve inside it. */
static void test_root_directory(void)
{
	char root[] = "/tmp/nsinetd-test-root-XXXXXX";
	char p[256], evil[64];
	struct activator_bind usr = {"/usr", "/usr", true};
	struct activator_spec s;
	struct run res;
	static const char *const links[] = {"bin", "sbin", "lib", "lib64"};

	if (!mkdtemp(root))
		abort();
	for (size_t i = 0; i < ELEMENTSOF(links); i++) {
		char target[32];

		snprintf(target, sizeof(target), "usr/%s", links[i]);
		snprintf(p, sizeof(p), "%s/%s", root, links[i]);
		if (symlink(target, p) < 0)
			abort();
	}
	spec_init(&s, NULL);
	s.root_directory = root;
	s.binds = &usr;
	s.n_binds = 1;
	run_sh(&s, "echo ls=$(ls /); touch /usr/x 2>/dev/null && echo usr=rw || echo usr=ro", &res);
	is_int(res.result, 0, "own root: setup done (step %s)", activator_step_name(res.step));
	is_str(get(res.out, "ls"), "bin dev lib lib64 proc run sbin sys tmp usr",
	       "own root: the image plus the API mount points");
	is_str(get(res.out, "usr"), "ro", "own root: BindReadOnly=/usr");

	/* An image whose /run points at a host path: resolved inside the
	 * image (where it does not exist), never on the host. */
	snprintf(evil, sizeof(evil), "/tmp/nsinetd-test-evil-%d", (int)getpid());
	snprintf(p, sizeof(p), "%s/run", root);
	rmdir(p);
	if (symlink(evil, p) < 0)
		abort();
	run_sh(&s, "exit 0", &res);
	ok(res.result < 0 && res.step == STEP_TMPFS,
	   "own root: /run -> host path fails at tmpfs (%s)", strerror(-res.result));
	ok(access(evil, F_OK) < 0, "own root: nothing created on the host through a symlink");

	nftw(root, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

static void test_signal(void)
{
	struct activator_spec s;
	struct activator_child ch;
	enum activator_step step;
	char line[64] = "";
	char *argv[] = {"/bin/sh", "-c",
			"trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done", NULL};
	int pipefd[2], status = -1, r;

	spec_init(&s, argv);
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		abort();
	s.stdio[1] = pipefd[1];
	r = activator_spawn(&s, &ch);
	close(pipefd[1]);
	is_int(r, 0, "spawn for the signal test");
	if (r < 0) {
		close(pipefd[0]);
		return;
	}
	is_int(wait_result(ch.sync_fd, &step, NULL), 0, "payload exec'd");
	ok(read_line(pipefd[0], line, sizeof(line)) && strcmp(line, "ready") == 0,
	   "payload has set its trap");
	is_int(activator_reap(ch.pidfd, &status), -EAGAIN, "reap before exit: -EAGAIN");
	is_int(activator_signal(ch.pidfd, SIGTERM), 0, "SIGTERM sent to pid 1");
	wait_exit(ch.pidfd, &status);
	ok(exited_with(status, 42), "SIGTERM reached the payload through pid 1 (status 0x%x)",
	   status);
	close(pipefd[0]);
	close(ch.pidfd);
	close(ch.sync_fd);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A SIGTERM sent while the child is still setting up (pid 1 ignores it
 * unless it is blocked) must not be lost: the stub init forwards it. */
static void test_signal_during_setup(void)
{
	struct activator_spec s;
	struct activator_child ch;
	char *argv[] = {"/bin/sleep", "10", NULL};
	long long t0 = now_ms();
	int status = -1, r;

	spec_init(&s, argv);
	r = activator_spawn(&s, &ch);
	is_int(r, 0, "spawn for the early-signal test");
	if (r < 0)
		return;
	is_int(activator_signal(ch.pidfd, SIGTERM), 0, "SIGTERM right after spawn");
	wait_exit(ch.pidfd, &status);
	ok(exited_with(status, 128 + SIGTERM) && now_ms() - t0 < 5000,
	   "an early SIGTERM is not lost (status 0x%x after %lld ms)", status, now_ms() - t0);
	close(ch.pidfd);
	close(ch.sync_fd);
}

/* The container dies with the process that spawned it, also after the
 * uid change (which clears PDEATHSIG in the kernel). We are a subreaper
 * so that the orphaned pid 1 is ours to reap. */
static void test_parent_death(void)
{
	char *argv[] = {"/bin/sleep", "30", NULL};
	int pipefd[2], pidfd, status = -1;
	pid_t helper, container = 0;
	siginfo_t si;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		abort();
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	helper = fork();
	if (helper == 0) {
		struct activator_spec s;
		struct activator_child ch;
		enum activator_step step;

		spec_init(&s, argv);
		s.uid = 65534;
		s.gid = 65534;
		if (activator_spawn(&s, &ch) < 0 || wait_result(ch.sync_fd, &step, NULL) < 0)
			_exit(1);
		if (write(pipefd[1], &ch.pid, sizeof(ch.pid)) != sizeof(ch.pid))
			_exit(1);
		_exit(0);
	}
	close(pipefd[1]);
	if (read(pipefd[0], &container, sizeof(container)) != sizeof(container))
		container = 0;
	close(pipefd[0]);
	waitpid(helper, &status, 0);
	ok(container > 0, "helper spawned a container (pid %d) and exited", (int)container);
	if (container <= 0) {
		prctl(PR_SET_CHILD_SUBREAPER, 0);
		return;
	}
	pidfd = (int)syscall(SYS_pidfd_open, container, 0);
	ok(pidfd >= 0 && wait_readable(pidfd, 5000), "the container died with its parent");
	if (pidfd >= 0 && !wait_readable(pidfd, 0))
		activator_signal(pidfd, SIGKILL); /* do not leave it behind */
	memset(&si, 0, sizeof(si));
	if (pidfd >= 0 && waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED) == 0)
		ok(si.si_code == CLD_KILLED && si.si_status == SIGKILL,
		   "killed by PDEATHSIG (SIGKILL)");
	else
		ok(0, "reaped the orphaned container");
	if (pidfd >= 0)
		close(pidfd);
	prctl(PR_SET_CHILD_SUBREAPER, 0);
}

static bool file_contains(const char *path, const char *needle)
{
	char buf[4096];
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

/* Asks for a freeze (or thaw) and waits for the kernel's notification on
 * cgroup.events, as the daemon does from its loop: returns the frozen
 * state seen, or a negative errno (-ETIMEDOUT after 5 s). */
static int freeze_wait(const char *path, bool freeze)
{
	_cleanup_close_ int fd = -1;
	char buf[4096];
	int r;

	r = cgroup_events_watch(path, &fd);
	if (r < 0)
		return r;
	r = cgroup_freeze(path, freeze);
	if (r < 0)
		return r;
	for (int i = 0; i < 50; i++) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		r = cgroup_frozen(path);
		if (r < 0 || r == (int)freeze)
			return r;
		if (poll(&p, 1, 100) > 0)
			while (read(fd, buf, sizeof(buf)) > 0)
				;
	}
	return -ETIMEDOUT;
}

static void test_cgroup(void)
{
	struct cgroup_root root = {0};
	struct activator_spec s;
	struct activator_child ch;
	enum activator_step step;
	char rel[64], p[256], line[512] = "";
	char *argv[] = {"/bin/sh", "-c", "echo ready; while :; do sleep 0.05; done", NULL};
	_cleanup_free_ char *path = NULL;
	int cg_fd = -1, pipefd[2], status = -1, r;

	r = cgroup_root_find(&root);
	if (r < 0) {
		ok(1, "# SKIP no cgroup2 mounted (%s)", strerror(-r));
		return;
	}
	printf("# cgroup2 at %s, we are in %s\n", root.mount, root.self);
	snprintf(rel, sizeof(rel), "nsinetd-test-%d", (int)getpid());
	r = cgroup_create(&root, rel, &cg_fd, &path);
	is_int(r, 0, "cgroup_create %s", rel);
	if (r < 0) {
		cgroup_root_done(&root);
		return;
	}
	is_int(cgroup_create(&root, "../escape", &(int){-1}, &(char *){NULL}), -EINVAL,
	       "cgroup_create refuses ..");
	{
		/* The leaf is made first; missing parents only when it cannot be. */
		char nested[128];
		_cleanup_free_ char *np = NULL, *again = NULL;
		int nfd = -1, afd = -1;

		snprintf(nested, sizeof(nested), "%s/a/b", rel);
		is_int(cgroup_create(&root, nested, &nfd, &np), 0,
		       "cgroup_create makes the missing parents");
		is_int(cgroup_create(&root, nested, &afd, &again), 0, "cgroup_create of one there");
		ok(np && again && strcmp(np, again) == 0 && access(np, F_OK) == 0,
		   "both name the same cgroup");
		if (nfd >= 0)
			close(nfd);
		if (afd >= 0)
			close(afd);
		if (np) {
			is_int(cgroup_remove(np), 0, "remove the nested cgroup");
			*strrchr(np, '/') = '\0';
			is_int(cgroup_remove(np), 0, "remove its parent");
		}
	}
	is_int(cgroup_populated(path), 0, "new cgroup is empty");

	spec_init(&s, argv);
	s.cgroup_fd = cg_fd;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		abort();
	s.stdio[1] = pipefd[1];
	r = activator_spawn(&s, &ch);
	close(pipefd[1]);
	is_int(r, 0, "spawn into the cgroup");
	if (r == 0) {
		is_int(wait_result(ch.sync_fd, &step, NULL), 0, "payload exec'd");
		ok(read_line(pipefd[0], line, sizeof(line)), "payload runs");
		snprintf(p, sizeof(p), "/proc/%d/cgroup", (int)ch.pid);
		snprintf(line, sizeof(line), "0::/%s\n", rel);
		if (strcmp(root.self, "/") != 0)
			snprintf(line, sizeof(line), "0::%s/%s\n", root.self, rel);
		ok(file_contains(p, line), "pid 1 is in the cgroup (CLONE_INTO_CGROUP)");
		is_int(cgroup_populated(path), 1, "cgroup is populated");
		is_int(freeze_wait(path, true), 1, "freeze: cgroup.events notified \"frozen 1\"");
		snprintf(p, sizeof(p), "%s/cgroup.events", path);
		ok(file_contains(p, "frozen 1"), "cgroup.events says frozen");
		is_int(freeze_wait(path, false), 0, "thaw: cgroup.events notified \"frozen 0\"");
		ok(file_contains(p, "frozen 0"), "cgroup.events says thawed");
		is_int(cgroup_remove(path), -EBUSY, "remove while populated: -EBUSY");
		is_int(cgroup_kill(path), 0, "cgroup_kill");
		wait_exit(ch.pidfd, &status);
		ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		   "pid 1 was killed by SIGKILL (status 0x%x)", status);
		for (int i = 0; i < 200 && cgroup_populated(path) != 0; i++)
			usleep(10000);
		is_int(cgroup_populated(path), 0, "cgroup is empty after the kill");
		close(ch.pidfd);
		close(ch.sync_fd);
	}
	close(pipefd[0]);
	close(cg_fd);
	is_int(cgroup_remove(path), 0, "cgroup_remove");
	ok(access(path, F_OK) < 0, "the cgroup is gone");

	/* Boot=yes: a cgroup delegated to a container's root, which makes a
	 * tree of its own below it; removed with that tree. */
	free(path);
	path = NULL;
	r = cgroup_create(&root, rel, &cg_fd, &path);
	is_int(r, 0, "cgroup_create again");
	if (r == 0) {
		struct stat st;

		close(cg_fd);
		is_int(cgroup_delegate(path, 4242, 4243), 0, "cgroup_delegate");
		ok(stat(path, &st) == 0 && st.st_uid == 4242 && st.st_gid == 4243,
		   "the directory is the container root's");
		snprintf(p, sizeof(p), "%s/cgroup.procs", path);
		ok(stat(p, &st) == 0 && st.st_uid == 4242, "cgroup.procs is the container root's");
		snprintf(p, sizeof(p), "%s/cgroup.subtree_control", path);
		ok(stat(p, &st) == 0 && st.st_uid == 4242,
		   "cgroup.subtree_control is the container root's");
		snprintf(p, sizeof(p), "%s/cgroup.freeze", path);
		ok(stat(p, &st) == 0 && st.st_uid == 0, "cgroup.freeze stays root's");
		snprintf(p, sizeof(p), "%s/cgroup.max.depth", path);
		ok(file_contains(p, "31"), "cgroup.max.depth bounds the tree");
		snprintf(p, sizeof(p), "%s/system.slice", path);
		ok(mkdir(p, 0755) == 0, "a cgroup below");
		snprintf(p, sizeof(p), "%s/system.slice/a.service", path);
		ok(mkdir(p, 0755) == 0, "and one below that");
		is_int(cgroup_remove(path), 0, "cgroup_remove takes the tree below");
		ok(access(path, F_OK) < 0, "the delegated cgroup is gone");
	}
	cgroup_root_done(&root);
}

/* The "Key:\tvalue" line of /proc/PID/status, or "" (a static buffer). */
static const char *status_field(pid_t pid, const char *key)
{
	static char val[128];
	char path[64], line[256];
	size_t klen = strlen(key);
	FILE *f;

	val[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return val;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			snprintf(val, sizeof(val), "%s",
				 line + klen + 1 + strspn(line + klen + 1, "\t "));
			val[strcspn(val, "\n")] = '\0';
			break;
		}
	fclose(f);
	return val;
}

/* A pooled sandbox waiting for its connection: pid 1 (at the pool's idle
 * priority) has forked the payload and locked itself down already, so
 * that neither the fork nor the lock-down is left for the hand-off; the
 * payload, blocked on the hand-off socket, has the normal priority back
 * and is in pid 1's session. */
static void pool_check_waiting(pid_t pid1)
{
	char path[96];
	pid_t payload = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid1, (int)pid1);
	f = fopen(path, "re");
	if (f) {
		int p;

		if (fscanf(f, "%d", &p) == 1)
			payload = p;
		if (fscanf(f, "%d", &p) == 1)
			payload = -1;
		fclose(f);
	}
	ok(payload > 0, "pool: the payload is forked while waiting, and only it");
	is_str(status_field(pid1, "Seccomp"), "2", "pool: pid 1 is filtered before the hand-off");
	is_str(status_field(pid1, "CapEff"), "0000000000000000",
	       "pool: pid 1 has no capability before the hand-off");
	is_str(status_field(pid1, "NoNewPrivs"), "1", "pool: pid 1 has no_new_privs already");
	is_int(sched_getscheduler(pid1), SCHED_IDLE, "pool: pid 1 waits at the idle priority");
	if (payload <= 0)
		return;
	is_int(sched_getscheduler(payload), SCHED_OTHER, "pool: the payload has the normal one");
	is_int(getsid(payload), getsid(pid1), "pool: the payload is in pid 1's session");
	ok(getsid(pid1) == pid1, "pool: pid 1 leads a session of its own");
	is_str(status_field(payload, "Seccomp"), "0", "pool: the payload is not filtered yet");
}

/* Pool mode: a container set up in advance takes its connection by
 * activator_handoff(), as fd 3 or as stdio, with the environment that
 * came with it; closing the handoff socket ends a waiting one. */
static void pool_run(enum activator_layout layout, const char *script, char *out, size_t size,
		     int *ret_status, int *ret_result)
{
	char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
	char *env[] = {"REMOTE_ADDR=192.0.2.1", "FOO=override", NULL};
	struct activator_spec s;
	struct activator_child ch;
	enum activator_step step;
	int pair[2], conn[2], r;
	size_t n = 0;

	*ret_status = -1;
	*ret_result = -1;
	out[0] = '\0';
	spec_init(&s, argv);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, conn) < 0)
		return;
	s.pool = true;
	s.idle_priority = true;
	s.handoff_fd = pair[1];
	r = activator_spawn(&s, &ch);
	close(pair[1]);
	if (r < 0) {
		close(pair[0]);
		close(conn[0]);
		close(conn[1]);
		return;
	}
	/* Set up, but waiting: nothing runs yet. */
	ok(!wait_readable(ch.sync_fd, 200), "pool: waits for its connection");
	pool_check_waiting(ch.pid);
	is_int(activator_handoff(pair[0], conn[1], layout, "conn", env), 0, "pool: handoff");
	close(conn[1]);
	close(pair[0]);
	*ret_result = wait_result(ch.sync_fd, &step, NULL);
	while (n + 1 < size && wait_readable(conn[0], TIMEOUT_MS)) {
		ssize_t k = read(conn[0], out + n, size - 1 - n);
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	out[n] = '\0';
	if (wait_exit(ch.pidfd, ret_status) < 0)
		*ret_status = -1;
	close(conn[0]);
	close(ch.pidfd);
	close(ch.sync_fd);
}

static void test_pool(void)
{
	char out[4096];
	int status, result;
	struct activator_spec s;
	struct activator_child ch;
	int pair[2];
	char *argv[] = {"/bin/true", NULL};

	pool_run(ACTIVATOR_LAYOUT_FD3,
		 "echo \"fds=$LISTEN_FDS pid=$LISTEN_PID names=$LISTEN_FDNAMES "
		 "addr=$REMOTE_ADDR foo=$FOO\" >&3; ls /proc/self/fd | tr '\\n' ' ' >&3",
		 out, sizeof(out), &status, &result);
	is_int(result, 0, "pool fd3: exec'd");
	ok(exited_with(status, 0), "pool fd3: exit 0");
	{
		static const char want[] =
		    "fds=1 pid=2 names=conn addr=192.0.2.1 foo=override\n0 1 2 3 ";
		ok(strncmp(out, want, strlen(want)) == 0, "pool fd3: LISTEN_* and the environment");
	}
	ok(strstr(out, "\n0 1 2 3 ") != NULL, "pool fd3: fds 0-3 only");
	/* Every line a TAP comment. */
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
		printf("# %s\n", line);

	pool_run(ACTIVATOR_LAYOUT_STDIO, "echo \"fds=${LISTEN_FDS-unset} addr=$REMOTE_ADDR\"", out,
		 sizeof(out), &status, &result);
	is_int(result, 0, "pool stdio: exec'd");
	ok(exited_with(status, 0), "pool stdio: exit 0");
	is_str(out, "fds=unset addr=192.0.2.1\n", "pool stdio: the connection is stdout");

	/* Closed without a connection: pid 1 exits 0 and runs nothing. */
	spec_init(&s, argv);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) == 0) {
		s.pool = true;
		s.handoff_fd = pair[1];
		is_int(activator_spawn(&s, &ch), 0, "pool: spawn");
		close(pair[1]);
		close(pair[0]);
		ok(wait_exit(ch.pidfd, &status) == 0 && exited_with(status, 0),
		   "pool: closing the handoff socket ends it");
		close(ch.pidfd);
		close(ch.sync_fd);
	}
	/* Invalid: listen fds with pool mode. */
	spec_init(&s, argv);
	s.pool = true;
	s.handoff_fd = -1;
	{
		struct activator_child ch2;
		is_int(activator_spawn(&s, &ch2), -EINVAL, "pool: needs a handoff fd");
	}
}

/* Parked: set up with its listener at fd 3, pid 1 waits for the release
 * (no exec before it), then the payload runs as any. */
static void test_park(void)
{
	char *argv[] = {
	    "/bin/sh", "-c",
	    "echo \"fds=$LISTEN_FDS pid=$LISTEN_PID $(ls /proc/self/fd | tr '\\n' ' ')\"", NULL};
	struct activator_spec s;
	struct activator_child ch;
	int pair[2], out[2], listener[2], status = -1;
	char buf[512] = "";
	ssize_t n;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0 ||
	    pipe2(out, O_CLOEXEC) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, listener) < 0)
		return;
	spec_init(&s, argv);
	s.park = true;
	s.handoff_fd = pair[1];
	s.fds = &listener[0];
	s.n_fds = 1;
	s.stdio[1] = out[1];
	is_int(activator_spawn(&s, &ch), 0, "park: spawn");
	close(pair[1]);
	close(out[1]);
	/* Set up, parked: nothing exec'd, nothing written. */
	ok(!wait_readable(ch.sync_fd, 300) && !wait_readable(out[0], 0),
	   "park: no exec before the release");
	is_int(activator_release(pair[0]), 0, "park: release");
	is_int(wait_result(ch.sync_fd, NULL, NULL), 0, "park: exec'd after the release");
	n = wait_readable(out[0], TIMEOUT_MS) ? read(out[0], buf, sizeof(buf) - 1) : -1;
	buf[n > 0 ? n : 0] = '\0';
	is_str(buf, "fds=1 pid=2 0 1 2 3 4 \n",
	       "park: the listener at fd 3 (4 is ls's), LISTEN_PID=2");
	ok(wait_exit(ch.pidfd, &status) == 0 && exited_with(status, 0), "park: exit 0");
	is_int(activator_release(pair[0]), -EPIPE, "park: a second release finds it gone");
	close(pair[0]);
	close(out[0]);
	close(ch.pidfd);
	close(ch.sync_fd);

	/* Discarded while parked: EOF, exit 0, the payload never ran. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) == 0) {
		spec_init(&s, argv);
		s.park = true;
		s.handoff_fd = pair[1];
		is_int(activator_spawn(&s, &ch), 0, "park: spawn again");
		close(pair[1]);
		close(pair[0]);
		ok(wait_exit(ch.pidfd, &status) == 0 && exited_with(status, 0),
		   "park: closing the handoff socket ends it");
		close(ch.pidfd);
		close(ch.sync_fd);
	}
	close(listener[0]);
	close(listener[1]);
}

/* At the fd limit, a spawn that has just the fds it needs (the stdout
 * pipe, the sync socket pair, the pidfd) still sees its payload run: the
 * slot let go of the child's end without a fresh fd. Before, it opened
 * /dev/null for that, failed with EMFILE, kept the end, and the parent
 * never saw the EOF that says "running". */
static void test_fd_limit(void)
{
	struct rlimit saved, lim;
	struct activator_spec s;
	struct run res;
	int holes[64], n_holes = 0, top = -1;

	if (slot_fd < 0 || getrlimit(RLIMIT_NOFILE, &saved) < 0)
		return;
	/* Every free number below 48 taken for now (nsinetd-init, which
	 * keeps only the fds below the slot, has room below the limit for
	 * its own). */
	for (int fd = 0; fd < 48 && n_holes < (int)ELEMENTSOF(holes); fd++)
		if (fcntl(fd, F_GETFD) < 0) {
			int d = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, fd);

			if (d >= 0)
				holes[n_holes++] = d;
		}
	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			top = fd;
	lim = saved;
	lim.rlim_cur = (rlim_t)top + 1 + 5; /* pipe 2, socket pair 2, pidfd 1 */
	if (setrlimit(RLIMIT_NOFILE, &lim) < 0) {
		ok(false, "fd limit: setrlimit: %s", strerror(errno));
		return;
	}
	spec_init(&s, NULL);
	run_sh(&s, "echo ran", &res);
	(void)setrlimit(RLIMIT_NOFILE, &saved);
	while (n_holes > 0)
		close(holes[--n_holes]);
	is_int(res.r, 0, "fd limit: spawn");
	is_int(res.result, 0, "fd limit: the parent sees the payload run (EOF on the sync fd)");
	is_str(res.out, "ran\n", "fd limit: the payload ran");
}

/* The template: a read-only tmpfs root holding root/ and nothing else.
 * Looked at from a child that joins it. */
static int template_check(int fd)
{
	struct statfs sfs;
	struct statvfs svfs;
	struct dirent *e;
	int n = 0, status;
	pid_t pid = fork();
	DIR *d;

	if (pid == 0) {
		if (setns(fd, CLONE_NEWNS) < 0)
			_exit(10);
		if (statfs("/", &sfs) < 0 || sfs.f_type != TMPFS_MAGIC)
			_exit(11);
		if (statvfs("/", &svfs) < 0 || !(svfs.f_flag & ST_RDONLY))
			_exit(12);
		d = opendir("/");
		if (!d)
			_exit(13);
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
				n++;
		_exit(n == 0 ? 0 : 14);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* What a container's mount table and namespaces look like, for comparing
 * a start in a spare with a start by clone: mount points with their file
 * system and options (no ids), the processes /proc shows, /dev. */
static const char spare_script[] =
    "echo mounts=$(awk '{print $5\":\"$6\":\"$9}' /proc/self/mountinfo | sort | tr '\\n' ' ')\n"
    "echo procs=$(ls -d /proc/[0-9]* | wc -l)\n"
    "echo dev=$(ls /dev | tr '\\n' ' ')\n"
    "echo devnull=$(stat -c %t:%T /dev/null)\n"
    "echo keys=$(wc -c < /proc/keys)\n"
    "echo host=$(hostname)\n"
    "echo policy=$(chrt -p $$ | sed -n 's/.*policy: //p')\n"
    "echo cgroup=$(cat /proc/self/cgroup)\n"
    "echo net=$(readlink /proc/self/ns/net)\n"
    "echo links=$(ls /sys/class/net)\n"
    "echo tmp=$(stat -c %u:%g:%a /tmp /run | tr '\\n' ' ')\n"
    "echo ports=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)\n";

/* Waits (bounded) until pid's scheduling policy is want. */
static bool policy_becomes(pid_t pid, int want)
{
	for (int i = 0; i < 2000; i++) {
		if (sched_getscheduler(pid) == want)
			return true;
		usleep(1000);
	}
	return false;
}

/* Spares (activator_spare_new()): a start in one is the same container as
 * a start by clone, with the network namespace made or joined as the spec
 * says; a dead spare falls back to the clone; a spec that does not fit is
 * refused; nothing is left behind. With the mount template only. */
/* A start of s (which does not fit a spare) given one: refused, and the
 * spare killed and reaped. */
static void spare_misfit(struct activator_spec *s, const char *what)
{
	struct activator_spare sp = {.pidfd = -1, .sync_fd = -1};
	struct run res;
	pid_t pid;

	if (activator_spare_new(init_fd, slot_fd, -1, &sp) < 0) {
		ok(false, "%s: a spare to refuse", what);
		return;
	}
	pid = sp.pid;
	s->spare = &sp;
	run_sh(s, "exit 0", &res);
	is_int(res.r, -EINVAL, "%s does not fit a spare: -EINVAL", what);
	ok(sp.pid == 0 && kill(pid, 0) < 0 && errno == ESRCH, "and the spare is killed and reaped");
}

static void test_spare(void)
{
	struct activator_spare sp = {.pidfd = -1, .sync_fd = -1};
	struct activator_spec s;
	struct run ref, res;
	char *host_net = NULL, want[64];
	struct stat st;
	int r, fd = -1;
	pid_t pid;

	r = activator_spare_new(init_fd, -1, -1, &sp);
	is_int(r, -EINVAL, "a spare needs the slot");

	spec_init(&s, NULL);
	run_sh(&s, spare_script, &ref);
	is_int(ref.result, 0, "the start by clone, for reference (step %s, %d)",
	       activator_step_name(ref.step), ref.result);

	r = activator_spare_new(init_fd, slot_fd, -1, &sp);
	is_int(r, 0, "a spare is made (%s)", strerror(-r));
	if (r < 0)
		return;
	pid = sp.pid;
	ok(policy_becomes(pid, SCHED_IDLE), "the spare waits at SCHED_IDLE");
	spec_init(&s, NULL);
	s.spare = &sp;
	run_sh(&s, spare_script, &res);
	is_int(res.r, 0, "the start in the spare (%s)", strerror(-res.r));
	is_int(res.result, 0, "its setup is done (step %s, %d)", activator_step_name(res.step),
	       res.result);
	ok(sp.pid == 0 && sp.pidfd < 0 && sp.sync_fd < 0, "the spare is taken");
	is_str(get(res.out, "mounts"), get(ref.out, "mounts"),
	       "the same mount table as a start by clone (masked /proc, /dev, options)");
	is_str(get(res.out, "dev"), get(ref.out, "dev"), "the same /dev");
	is_str(get(res.out, "devnull"), "1:3", "/dev/null is the null device");
	is_str(get(res.out, "keys"), "0", "/proc/keys is masked");
	is_str(get(res.out, "procs"), get(ref.out, "procs"), "its /proc shows its own processes");
	is_str(get(res.out, "host"), "box", "its hostname is the spec's");
	is_str(get(res.out, "policy"), "SCHED_OTHER", "the payload runs at normal priority");
	is_str(get(res.out, "cgroup"), get(ref.out, "cgroup"), "the same cgroup view");
	is_str(get(res.out, "links"), "lo", "a network namespace of its own: lo alone");
	if (asprintf(&host_net, "net:[%lu]",
		     (unsigned long)(stat("/proc/self/ns/net", &st) == 0 ? st.st_ino : 0)) < 0)
		abort();
	ok(strcmp(get(res.out, "net"), host_net) != 0, "not the host's network namespace");
	free(host_net);
	is_str(get(res.out, "tmp"), get(ref.out, "tmp"), "the same /tmp and /run (%s)",
	       get(ref.out, "tmp"));
	is_str(get(res.out, "ports"), get(ref.out, "ports"),
	       "the same unprivileged ports without a user namespace (%s)", get(ref.out, "ports"));

	/* With the service's user namespace: /tmp and /run are its root's, and
	 * every port is unprivileged unless CAP_NET_BIND_SERVICE is dropped,
	 * as in a start by clone. */
	if (activator_userns_new(init_fd, 0x30000000, 65536, &fd) == 0) {
		for (int keep = 1; keep >= 0; keep--) {
			spec_init(&s, NULL);
			s.userns_fd = fd;
			s.userns_root = 0x30000000;
			s.set_capabilities = !keep;
			run_sh(&s, spare_script, &ref);
			if (activator_spare_new(init_fd, slot_fd, -1, &sp) < 0)
				break;
			s.spare = &sp;
			run_sh(&s, spare_script, &res);
			is_int(res.result, 0, "userns%s: the start in a spare (step %s, %d)",
			       keep ? "" : ", no CAP_NET_BIND_SERVICE",
			       activator_step_name(res.step), res.result);
			is_str(get(res.out, "tmp"), get(ref.out, "tmp"),
			       "userns: /tmp and /run as by clone (%s)", get(ref.out, "tmp"));
			is_str(get(res.out, "ports"), keep ? "0" : "1024",
			       "userns%s: unprivileged ports from %s",
			       keep ? "" : ", no CAP_NET_BIND_SERVICE", keep ? "0" : "1024");
			is_str(get(res.out, "ports"), get(ref.out, "ports"), "… as by clone");
			is_str(get(res.out, "mounts"), get(ref.out, "mounts"), "… the same mounts");
		}
		fd = safe_close(fd);
	} else {
		ok(false, "a user namespace for the spare's test");
	}

	/* With cgroups: the spare made in one, the container's another. Pid 1
	 * stays in the spare's, the payload (and its CPU time) is the
	 * container's, and sees its cgroup as "/". */
	{
		struct cgroup_root root = {0};
		_cleanup_free_ char *spare_path = NULL, *svc_path = NULL;
		char rel_spare[64], rel_svc[64];
		int spare_cg = -1, svc_cg = -1;
		uint64_t used = 0;

		snprintf(rel_spare, sizeof(rel_spare), "nsinetd-test-spare-%d", (int)getpid());
		snprintf(rel_svc, sizeof(rel_svc), "nsinetd-test-svc-%d", (int)getpid());
		if (cgroup_root_find(&root) < 0 ||
		    cgroup_create(&root, rel_spare, &spare_cg, &spare_path) < 0 ||
		    cgroup_create(&root, rel_svc, &svc_cg, &svc_path) < 0) {
			ok(1, "# SKIP no cgroup2 to make two cgroups in");
		} else if (activator_spare_new(init_fd, slot_fd, spare_cg, &sp) == 0) {
			pid = sp.pid;
			spec_init(&s, NULL);
			s.cgroup_fd = svc_cg;
			s.spare = &sp;
			run_sh(&s,
			       "echo cg=$(grep ^0:: /proc/self/cgroup)\n"
			       "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done\n",
			       &res);
			is_int(res.result, 0, "a spare with the container's cgroup (step %s, %d)",
			       activator_step_name(res.step), res.result);
			is_str(get(res.out, "cg"), "0::/",
			       "the payload sees its cgroup as / (a cgroup namespace there)");
			ok(cgroup_cpu_usage(svc_path, &used) == 0 && used > 1000,
			   "the payload ran in the container's cgroup (%llu us of CPU there)",
			   (unsigned long long)used);
			is_int(cgroup_populated(svc_path), 0, "and nothing of it is left there");
		}
		for (int i = 0; spare_path && i < 200 && cgroup_populated(spare_path) > 0; i++)
			usleep(10000);
		if (spare_path)
			is_int(cgroup_remove(spare_path), 0, "the spare's cgroup empties");
		if (svc_path)
			cgroup_remove(svc_path);
		safe_close(spare_cg);
		safe_close(svc_cg);
		cgroup_root_done(&root);
	}

	/* A namespace to join: the spare's own is dropped. */
	r = netns_new_empty(&fd);
	if (r == 0 && activator_spare_new(init_fd, slot_fd, -1, &sp) == 0) {
		fstat(fd, &st);
		snprintf(want, sizeof(want), "net:[%lu]", (unsigned long)st.st_ino);
		spec_init(&s, NULL);
		s.namespaces = ALL_NS & ~CLONE_NEWNET;
		s.netns_fd = fd;
		s.spare = &sp;
		run_sh(&s, "echo net=$(readlink /proc/self/ns/net)", &res);
		is_str(get(res.out, "net"), want, "a spare joins the spec's network namespace");
	} else {
		ok(false, "a namespace to join and a spare (%d)", r);
	}
	fd = safe_close(fd);

	/* The daemon's network (no CLONE_NEWNET, no netns_fd): a spare is not
	 * in it, so the spec does not fit. */
	spec_init(&s, NULL);
	s.namespaces = ALL_NS & ~CLONE_NEWNET;
	spare_misfit(&s, "the host's network without its fd");

	/* Dead before the take: the start clones instead. */
	r = activator_spare_new(init_fd, slot_fd, -1, &sp);
	if (r == 0) {
		activator_signal(sp.pidfd, SIGKILL);
		wait_readable(sp.pidfd, TIMEOUT_MS);
		spec_init(&s, NULL);
		s.spare = &sp;
		run_sh(&s, "echo alive=yes", &res);
		is_int(res.result, 0, "a dead spare: the start clones instead (%d)", res.result);
		is_str(get(res.out, "alive"), "yes", "and the payload runs");
		ok(sp.pid == 0, "the dead spare is reaped");
	}

	/* A spec that does not fit: refused, the spare ended. */
	spec_init(&s, NULL);
	s.proc_subset_pid = true;
	spare_misfit(&s, "ProcSubset=pid");
	/* A hook that needs the network namespace before the go: no spare. */
	spec_init(&s, NULL);
	s.before_release = hook_fail;
	spare_misfit(&s, "a before_release hook with a new netns");
	r = activator_spare_new(init_fd, slot_fd, -1, &sp);
	if (r == 0) {
		pid = sp.pid;
		activator_spare_discard(&sp);
		ok(sp.pid == 0 && sp.pidfd < 0 && sp.sync_fd < 0 && kill(pid, 0) < 0 &&
		       errno == ESRCH,
		   "a discarded spare is gone, its fds closed");
	}
}

static void test_mount_template(void)
{
	int r = activator_mount_template_new(init_fd, &template_fd);

	if (r == -EOPNOTSUPP) {
		tap_n++;
		printf("ok %d # SKIP this kernel cannot mount on a detached tree (Linux 6.15): "
		       "no template\n",
		       tap_n);
		return;
	}
	is_int(r, 0, "mount template made (%s)", strerror(-r));
	is_int(template_check(template_fd), 0, "the template is an empty read-only tmpfs");
	/* Every start path again, built against it. */
	printf("# again, with the mount template\n");
	test_environment();
	test_failures();
	test_mounts();
	test_root_directory();
	test_pool();
	test_park();
	test_spare();
	template_fd = safe_close(template_fd);
}

/* pid 1's own filter (init-filter.c), loaded in a child: what pid 1's loop
 * calls passes, the rest fails with EPERM. Each check is a bit of the exit
 * status, set when it holds. */
static void test_init_filter(void)
{
	pid_t pid = fork();
	int status = 0;

	if (pid < 0)
		bail_out("fork: %s", strerror(errno));
	if (pid == 0) {
		int bits = 0;
		siginfo_t si;

		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || init_seccomp_load() < 0)
			_exit(0);
		bits |= 1;
		if (syscall(SYS_getppid) < 0 && errno == EPERM &&
		    syscall(SYS_kill, 1 << 30, 0) < 0 && errno == ESRCH)
			bits |= 2; /* kill passes (no such pid), getppid is not pid 1's */
		if (syscall(SYS_close, -1) < 0 && errno == EBADF)
			bits |= 4; /* close passes, and the kernel answers */
		if (syscall(SYS_waitid, P_ALL, 0, &si, WEXITED | WNOHANG, NULL) < 0 &&
		    errno == ECHILD)
			bits |= 8;
		if (syscall(SYS_openat, AT_FDCWD, "/", O_RDONLY) < 0 && errno == EPERM)
			bits |= 16;
		if (syscall(SYS_write, 1, "", 0) < 0 && errno == EPERM)
			bits |= 32;
		syscall(SYS_exit_group, bits);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		bail_out("the filter's child did not exit");
	status = WEXITSTATUS(status);
	ok(status & 1, "pid 1's filter loads");
	ok(status & 2, "pid 1's filter: getppid() fails with EPERM, kill() passes (ESRCH)");
	ok(status & 4, "pid 1's filter: close() passes (EBADF from the kernel)");
	ok(status & 8, "pid 1's filter: waitid() passes (ECHILD from the kernel)");
	ok(status & 16, "pid 1's filter: openat() fails with EPERM");
	ok(status & 32, "pid 1's filter: write() fails with EPERM");
}

int main(void)
{
	sigset_t before, after;
	int fds_before, fds_after;

	if (geteuid() != 0)
		skip_all("needs root (clone3 with new namespaces, mounts, cgroups)");
	{
		const char *init = getenv("NSINETD_INIT");

		init_fd = open(init ? init : "build/supervisor/nsinetd-init", O_PATH | O_CLOEXEC);
		if (init_fd < 0)
			bail_out("cannot open nsinetd-init (set NSINETD_INIT): %s",
				 strerror(errno));
		if (activator_reserve_slot(&slot_fd) < 0)
			bail_out("cannot reserve a slot: %s", strerror(errno));
	}
	if (!mkdtemp(staging))
		skip_all("cannot create a staging directory: %s", strerror(errno));
	/* The daemon ignores SIGPIPE: the container must not inherit that. */
	signal(SIGPIPE, SIG_IGN);

	sigprocmask(SIG_SETMASK, NULL, &before);
	fds_before = fd_count_open();

	test_init_filter();
	test_environment();
	test_exit_codes();
	test_failures();
	test_netns();
	test_mounts();
	test_root_directory();
	test_signal();
	test_signal_during_setup();
	test_parent_death();
	test_cgroup();
	test_pool();
	test_init_locked_down();
	test_userns();
	test_park();
	test_fd_limit();
	test_mount_template();
	/* Again without the slot: the clone copies the fd table and lays the
	 * fds out before its exec, instead of sending them. */
	printf("# again, without spec.slot_fd\n");
	slot_fd = -1;
	test_environment();
	test_failures();
	test_pool();
	test_park();

	fds_after = fd_count_open();
	is_int(fds_after, fds_before, "no fd leaked in the parent");
	sigprocmask(SIG_SETMASK, NULL, &after);
	{
		bool same = true;

		for (int sig = 1; sig < NSIG; sig++)
			if (sigismember(&before, sig) != sigismember(&after, sig))
				same = false;
		ok(same, "the parent's signal mask is restored");
	}
	ok(!file_contains("/proc/self/mountinfo", staging),
	   "nothing is mounted on the staging dir");
	is_int(rmdir(staging), 0, "the staging dir is left empty");
	return tap_done();
}
