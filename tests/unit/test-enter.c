/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Entering a running container (activator_enter(), nsinetctl shell), with
 * real containers: each test starts one with activator_spawn() on the
 * host's root (read-only, a private /tmp), in a user namespace of its own
 * and a cgroup of its own, then enters it and compares what the entered
 * command sees with what the container's payload sees. The escape test
 * runs a payload (root of its user namespace, every capability there, no
 * seccomp filter) that attacks the entering process while it is paused
 * right before its execve, and again after it. Needs root.
 *
 * The pause is nsinetd-init-test's (spec->enter_pause_fd): a loop of
 * tries could not say whether it ever caught the window.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "activator/activator.h"
#include "activator/cgroup.h"
#include "activator/syscall-filter.h"
#include "common/cleanup.h"
#include "common/fd-util.h"
#include "tap.h"

#define TIMEOUT_MS 10000
#include "container-util.h"
#define SHIFT 0x31000000u
#define ALL_NS                                                                                     \
	(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP | CLONE_NEWNET)

static char staging[] = "/tmp/nsinetd-test-enter-XXXXXX";
static char *base_env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "FOO=bar", "HOME=/", NULL};
static char *enter_env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "FOO=bar", "HOME=/",
			    "TERM=xterm-test", NULL};
static int init_fd = -1, init_test_fd = -1, slot_fd = -1, userns_fd = -1;
static char self_exe[4096];
/* This program, for the watcher: the build tree may be out of the
 * container's sight (under /tmp, which is private there, or below a
 * directory closed to its uids), so it runs as /proc/self/fd/3. */
static int self_fd = -1;

/* What both the payload and the entered command report, as key=value. */
#define REPORT                                                                                     \
	"echo caps=$(grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/self/status | tr -s '\\t\\n' "     \
	"'  ')\n"                                                                                  \
	"echo seccomp=$(sed -n 's/^Seccomp:\\t//p' /proc/self/status)\n"                           \
	"echo nnp=$(sed -n 's/^NoNewPrivs:\\t//p' /proc/self/status)\n"                            \
	"echo ids=$(id -u):$(id -g):$(id -G)\n"                                                    \
	"echo cgroup=$(cat /proc/self/cgroup)\n"                                                   \
	"echo nofile=$(ulimit -Sn):$(ulimit -Hn)\n"                                                \
	"echo ns=$(readlink /proc/self/ns/pid /proc/self/ns/mnt /proc/self/ns/net "                \
	"/proc/self/ns/uts /proc/self/ns/ipc /proc/self/ns/cgroup /proc/self/ns/user)\n"           \
	"echo pid1=$(tr '\\0' ' ' </proc/1/cmdline)\n"                                             \
	"echo marker=$(cat /tmp/only-here)\n"                                                      \
	"echo hostname=$(cat /proc/sys/kernel/hostname)\n"                                         \
	"echo foo=$FOO term=${TERM-unset}\n"

struct box {
	struct activator_child ch;
	int in, out; /* the payload's stdin (ours to write) and stdout */
	char *cgroup_path;
	int cgroup_fd;
	struct sock_fprog *seccomp;
	struct activator_rlimit rlimits[1];
	gid_t groups[1];
};

/* Everything from fd until EOF (or EIO: a pty whose slave is gone). */
static void read_all(int fd, char *buf, size_t size)
{
	size_t n = 0;

	while (n + 1 < size && wait_readable(fd, TIMEOUT_MS)) {
		ssize_t k = read(fd, buf + n, size - 1 - n);

		if (k <= 0)
			break;
		n += (size_t)k;
	}
	buf[n] = '\0';
	/* A terminal's \r\n. */
	for (char *r = buf, *w = buf;; r++) {
		if (*r != '\r')
			*w++ = *r;
		if (!*r)
			break;
	}
}

static bool get_same(const char *a, const char *b, const char *key)
{
	const char *va = get(a, key);
	char *copy = va ? strdup(va) : NULL;
	const char *vb = get(b, key);
	bool same = copy && vb && strcmp(copy, vb) == 0;

	if (!same)
		printf("#   %s: payload \"%s\", entered \"%s\"\n", key, copy ? copy : "(none)",
		       vb ? vb : "(none)");
	free(copy);
	return same;
}

/* The outcome of the setup on sync_fd, waiting for it. */
static int wait_result(int sync_fd, struct activator_failure *f)
{
	for (;;) {
		int r = activator_read_result(sync_fd, f);

		if (r != -EAGAIN)
			return r;
		if (!wait_readable(sync_fd, TIMEOUT_MS))
			return -ETIMEDOUT;
	}
}

static int wait_entered(int sync_fd, struct activator_entered *e, struct activator_failure *f)
{
	for (;;) {
		int r = activator_enter_result(sync_fd, e, f);

		if (r != -EAGAIN)
			return r;
		if (!wait_readable(sync_fd, TIMEOUT_MS))
			return -ETIMEDOUT;
	}
}

/* Reaps a child by its pidfd, killing it if it does not exit in time. */
static int wait_exit(int pidfd)
{
	int status = -1;

	if (!wait_readable(pidfd, TIMEOUT_MS)) {
		printf("# did not exit, killing it\n");
		activator_signal(pidfd, SIGKILL);
		wait_readable(pidfd, TIMEOUT_MS);
	}
	if (activator_reap(pidfd, &status) < 0)
		return -1;
	return status;
}

/* "Pid:" of a pidfd's fdinfo: the process in our pid namespace. */
static pid_t pidfd_pid(int pidfd)
{
	char path[64], buf[1024];
	_cleanup_close_ int fd = -1;
	ssize_t n;
	char *p;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
		return -1;
	buf[n] = '\0';
	p = strstr(buf, "\nPid:");
	return p ? (pid_t)atoi(p + 5) : -1;
}

static void read_link(pid_t pid, const char *what, char *buf, size_t size)
{
	char path[128];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	n = readlink(path, buf, size - 1);
	buf[n > 0 ? n : 0] = '\0';
}

static void read_text(pid_t pid, const char *what, char *buf, size_t size)
{
	char path[128];
	_cleanup_close_ int fd = -1;
	ssize_t n = -1;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		n = read(fd, buf, size - 1);
	buf[n > 0 ? n : 0] = '\0';
}

/* The sandbox of both the container and the entered command: the user
 * namespace, uid 1000, its capabilities, the default filter, NOFILE. */
static void spec_init(struct activator_spec *s, struct box *b, char *const *argv, uid_t uid)
{
	*s = (struct activator_spec){
	    .name = "enter",
	    .argv = argv,
	    .envp = base_env,
	    .stdio = {-1, -1, STDERR_FILENO},
	    .read_only = true,
	    .staging_dir = staging,
	    .hostname = "entered",
	    .uid = uid,
	    .gid = uid,
	    .groups = b->groups,
	    .n_groups = 1,
	    .namespaces = ALL_NS,
	    .cgroup_fd = b->cgroup_fd,
	    .set_capabilities = true,
	    .capabilities = (UINT64_C(1) << CAP_NET_BIND_SERVICE) | (UINT64_C(1) << CAP_KILL),
	    .no_new_privs = true,
	    .rlimits = b->rlimits,
	    .n_rlimits = 1,
	    .seccomp = b->seccomp,
	    .userns_fd = userns_fd,
	    .userns_root = SHIFT,
	    .netns_fd = -1,
	    .mount_template_fd = -1,
	    .handoff_fd = -1,
	    .init_fd = init_fd,
	    .slot_fd = slot_fd,
	    .enter_pause_fd = -1,
	};
}

/* Starts a container whose payload runs script with its stdin and stdout
 * ours; waits until it printed "ready". false on failure. */
static bool box_start(struct box *b, struct activator_spec *s, char *const *argv, char *out,
		      size_t size)
{
	int in[2], o[2];
	size_t n = 0;
	int r;

	b->in = b->out = -1;
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(o, O_CLOEXEC) < 0)
		return false;
	s->argv = argv;
	s->stdio[0] = in[0];
	s->stdio[1] = o[1];
	r = activator_spawn(s, &b->ch);
	close(in[0]);
	close(o[1]);
	b->in = in[1];
	b->out = o[0];
	if (r < 0) {
		printf("# activator_spawn: %s\n", strerror(-r));
		return false;
	}
	r = wait_result(b->ch.sync_fd, NULL);
	if (r < 0) {
		printf("# container setup: %s\n", strerror(-r));
		return false;
	}
	/* Up to and with "ready". */
	out[0] = '\0';
	for (;;) {
		char line[1024];

		if (!read_line(b->out, line, sizeof(line)))
			return false;
		if (strcmp(line, "ready") == 0)
			return true;
		n += (size_t)snprintf(out + n, size - n, "%s\n", line);
		if (n >= size)
			return false;
	}
}

static void box_stop(struct box *b)
{
	safe_close(b->in);
	activator_signal(b->ch.pidfd, SIGKILL);
	wait_exit(b->ch.pidfd);
	safe_close(b->out);
	safe_close(b->ch.pidfd);
	safe_close(b->ch.sync_fd);
}

struct entered {
	struct activator_child ch; /* the entering nsinetd-init */
	struct activator_entered e;
	int r;       /* activator_enter() */
	int entered; /* activator_enter_result() */
	int exec;    /* activator_read_result() after it */
	struct activator_failure f;
	int in, out; /* the command's stdin, stdout (or the pty's master) */
};

/* Enters b with argv; tty or pipes. Waits until the command has exec'd. */
static void enter(struct box *b, struct activator_spec *s, bool tty, struct entered *e)
{
	int in[2] = {-1, -1}, o[2] = {-1, -1};

	memset(e, 0, sizeof(*e));
	e->in = e->out = e->e.pidfd = e->e.pty_fd = -1;
	if (!tty) {
		if (pipe2(in, O_CLOEXEC) < 0 || pipe2(o, O_CLOEXEC) < 0)
			abort();
		s->stdio[0] = in[0];
		s->stdio[1] = o[1];
		s->stdio[2] = o[1];
	}
	e->r = activator_enter(s, b->ch.pidfd, tty, &e->ch);
	if (!tty) {
		close(in[0]);
		close(o[1]);
		e->in = in[1];
		e->out = o[0];
	}
	if (e->r < 0)
		return;
	e->entered = wait_entered(e->ch.sync_fd, &e->e, &e->f);
	if (tty && e->entered == 0)
		e->in = e->out = e->e.pty_fd;
	if (e->entered == 0 && s->enter_pause_fd < 0)
		e->exec = wait_result(e->ch.sync_fd, &e->f);
}

/* Reaps both processes; the command's wait status. */
static int entered_done(struct entered *e)
{
	int status = -1, helper;

	if (e->e.pidfd >= 0)
		status = wait_exit(e->e.pidfd);
	if (e->r == 0) {
		helper = wait_exit(e->ch.pidfd);
		if (e->entered == 0 && !exited_with(helper, 0))
			printf("# the entering nsinetd-init exited with 0x%x\n", helper);
		safe_close(e->ch.pidfd);
		safe_close(e->ch.sync_fd);
	}
	safe_close(e->e.pidfd);
	if (e->in != e->out)
		safe_close(e->in);
	safe_close(e->out);
	return status;
}

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static bool box_init(struct box *b, struct cgroup_root *root, const char *rel)
{
	struct activator_seccomp_config sc = {
	    .capabilities = (UINT64_C(1) << CAP_NET_BIND_SERVICE) | (UINT64_C(1) << CAP_KILL)};
	int r;

	memset(b, 0, sizeof(*b));
	b->cgroup_fd = -1;
	b->groups[0] = 1001;
	b->rlimits[0] = (struct activator_rlimit){RLIMIT_NOFILE, {64, 128}};
	r = activator_seccomp_compile(&sc, &b->seccomp);
	if (r < 0)
		return false;
	if (root->mount && cgroup_create(root, rel, &b->cgroup_fd, &b->cgroup_path) < 0)
		printf("# no cgroup of its own for %s\n", rel);
	return true;
}

static void box_done(struct box *b)
{
	safe_close(b->cgroup_fd);
	if (b->cgroup_path) {
		for (int i = 0; i < 200 && cgroup_remove(b->cgroup_path) == -EBUSY; i++)
			usleep(5000);
		free(b->cgroup_path);
	}
	activator_seccomp_free(b->seccomp);
}

/* The command sees what the payload sees, and the host agrees. */
static void test_enter_sandbox(struct cgroup_root *root)
{
	char *payload_argv[] = {"/bin/sh", "-c",
				"echo marker-$$-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ') "
				">/tmp/only-here\n" REPORT "echo ready\nexec cat >/dev/null",
				NULL};
	char *report_argv[] = {"/bin/sh", "-c", REPORT "read x", NULL};
	char *ls_argv[] = {"/bin/ls", "/proc/self/fd", NULL};
	char *exit_argv[] = {"/bin/sh", "-c", "exit 7", NULL};
	char *missing_argv[] = {"/nonexistent/nsinetd-cmd", NULL};
	char *tty_argv[] = {"/bin/sh", "-c",
			    "echo tty=$(tty)\n"
			    "test -t 0 && test -t 1 && test -t 2 && echo isatty=yes\n"
			    "echo samepts=$(test \"$(stat -L -c %d /proc/self/fd/0)\" = "
			    "\"$(stat -c %d /dev/pts/ptmx)\" && echo yes)\n"
			    "echo owner=$(stat -L -c %u /proc/self/fd/0)\n"
			    "echo ctty=$(cut -d' ' -f7 /proc/self/stat)\n"
			    "echo leader=$(test \"$(cut -d' ' -f6 /proc/self/stat)\" = $$ && echo "
			    "yes)\n"
			    "echo fds=$(ls /proc/self/fd | tr '\\n' ' ')\n",
			    NULL};
	struct activator_spec s;
	struct entered e;
	struct box b;
	char payload[8192], out[8192], host_a[256], host_b[256];
	const char *v;
	pid_t cmd;
	long long t0;
	int status;

	if (!box_init(&b, root, "nsinetd-test-enter-sandbox"))
		return;
	spec_init(&s, &b, NULL, 1000);
	ok(box_start(&b, &s, payload_argv, payload, sizeof(payload)), "the container runs");

	/* The report, and the host's view while the command waits. */
	spec_init(&s, &b, report_argv, 1000);
	s.envp = enter_env;
	t0 = now_us();
	enter(&b, &s, false, &e);
	printf("# entered and exec'd in %.2f ms\n", (double)(now_us() - t0) / 1000.0);
	is_int(e.r, 0, "activator_enter");
	is_int(e.entered, 0, "the command is forked (step %s)", activator_step_name(e.f.step));
	is_int(e.exec, 0, "the command exec'd");
	cmd = e.e.pidfd >= 0 ? pidfd_pid(e.e.pidfd) : -1;
	printf("# the command is pid %d\n", (int)cmd);
	ok(cmd > 0, "its pidfd");
	{
		static const char *const nss[] = {"pid", "mnt",    "net", "uts",
						  "ipc", "cgroup", "user"};
		bool same = cmd > 0;

		for (size_t i = 0; i < ELEMENTSOF(nss); i++) {
			char what[32];

			snprintf(what, sizeof(what), "ns/%s", nss[i]);
			read_link(cmd, what, host_a, sizeof(host_a));
			read_link(b.ch.pid, what, host_b, sizeof(host_b));
			if (!host_a[0] || strcmp(host_a, host_b) != 0) {
				printf("#   %s: %s, the container's %s\n", what, host_a, host_b);
				same = false;
			}
		}
		ok(same, "host: the command is in every namespace of the container's pid 1");
	}
	read_text(cmd, "cgroup", host_a, sizeof(host_a));
	read_text(b.ch.pid, "cgroup", host_b, sizeof(host_b));
	ok(host_a[0] && strcmp(host_a, host_b) == 0, "host: in the container's cgroup (%.*s)",
	   (int)strcspn(host_a, "\n"), host_a);
	read_text(cmd, "status", out, sizeof(out));
	v = strstr(out, "\nPPid:\t");
	ok(v && atoi(v + 7) == getpid(), "host: the command is the caller's child (CLONE_PARENT)");
	v = strstr(out, "\nNSpid:\t");
	if (v)
		printf("# %.*s\n", (int)strcspn(v + 1, "\n"), v + 1);
	ok(v && strchr(v + 7, '\t') && atoi(strchr(v + 7, '\t') + 1) > 2,
	   "host: it has a pid in the container's pid namespace");
	(void)!write(e.in, "\n", 1);
	read_all(e.out, out, sizeof(out));
	status = entered_done(&e);
	ok(exited_with(status, 0), "the command exits 0 (0x%x)", status);
	printf("# entered:\n");
	for (char *l = out; *l;) {
		size_t n = strcspn(l, "\n");

		printf("#   %.*s\n", (int)n, l);
		l += n + (l[n] ? 1 : 0);
	}

	is_str(get(out, "seccomp"), "2", "Seccomp: 2 (the service's filter)");
	is_str(get(out, "nnp"), "1", "NoNewPrivs: 1");
	ok(get_same(payload, out, "caps"), "CapInh/Prm/Eff/Bnd/Amb as the payload's");
	v = get(out, "caps");
	ok(v && strstr(v, "CapAmb: 0000000000000420"), "… the ambient set is the service's (%s)",
	   v ? v : "?");
	ok(get_same(payload, out, "ids"), "uid, gid and groups as the payload's");
	is_str(get(out, "ids"), "1000:1000:1000 1001", "… uid 1000, gid 1000, groups 1000 1001");
	ok(get_same(payload, out, "cgroup"), "/proc/self/cgroup as the payload's");
	ok(get_same(payload, out, "nofile"), "LimitNOFILE= as the payload's");
	is_str(get(out, "nofile"), "64:128", "… 64:128");
	ok(get_same(payload, out, "ns"), "every namespace as the payload's");
	is_str(get(out, "pid1"), "nsinetd-init", "pid 1 is the container's nsinetd-init");
	ok(get_same(payload, out, "marker"), "the container's root (a file only in its /tmp)");
	is_str(get(out, "hostname"), "entered", "the container's hostname");
	is_str(get(out, "foo"), "bar term=xterm-test", "the environment given, TERM with it");

	/* Only 0, 1, 2 reach the command (3 is ls's directory). */
	spec_init(&s, &b, ls_argv, 1000);
	enter(&b, &s, false, &e);
	read_all(e.out, out, sizeof(out));
	entered_done(&e);
	is_str(out, "0\n1\n2\n3\n", "only fds 0-2 in the command (3 is ls's own)");

	/* Its wait status is the caller's. */
	spec_init(&s, &b, exit_argv, 1000);
	enter(&b, &s, false, &e);
	status = entered_done(&e);
	ok(exited_with(status, 7), "exit 7 is the caller's wait status (0x%x)", status);

	/* A command that is not there: forked, then its exec fails. */
	spec_init(&s, &b, missing_argv, 1000);
	enter(&b, &s, false, &e);
	is_int(e.entered, 0, "missing command: forked");
	is_int(e.exec, -ENOENT, "missing command: -ENOENT");
	is_str(activator_step_name(e.f.step), "exec", "… at step exec");
	status = entered_done(&e);
	ok(exited_with(status, 127), "… and it exits 127 (0x%x)", status);

	/* A terminal of the container's own devpts. */
	spec_init(&s, &b, tty_argv, 1000);
	enter(&b, &s, true, &e);
	is_int(e.entered, 0, "tty: forked, with the pty's master");
	ok(e.e.pty_fd >= 0 && isatty(e.e.pty_fd), "tty: the master is a terminal");
	read_all(e.out, out, sizeof(out));
	status = entered_done(&e);
	ok(exited_with(status, 0), "tty: exits 0 (0x%x)", status);
	v = get(out, "tty");
	ok(v && strncmp(v, "/dev/pts/", 9) == 0, "tty: its name is under /dev/pts (%s)",
	   v ? v : "?");
	is_str(get(out, "isatty"), "yes", "tty: stdin, stdout, stderr are the terminal");
	is_str(get(out, "samepts"), "yes", "tty: on the container's devpts (as /dev/pts/ptmx)");
	is_str(get(out, "owner"), "1000", "tty: the user's own");
	v = get(out, "ctty");
	ok(v && atoi(v) != 0, "tty: its controlling terminal (tty_nr %s)", v ? v : "?");
	is_str(get(out, "leader"), "yes", "tty: a session of its own");
	is_str(get(out, "fds"), "0 1 2 3", "tty: only fds 0-2 (3 is ls's)");

	box_stop(&b);
	box_done(&b);
}

/* No argv: the login shell of the uid in the container's /etc/passwd (the
 * host's here), as "-NAME"; commands from stdin. */
static void test_enter_login_shell(struct cgroup_root *root)
{
	char *payload_argv[] = {"/bin/sh", "-c", "echo ready; exec cat >/dev/null", NULL};
	struct passwd *pw = getpwuid(0);
	const char *want = "sh";
	struct activator_spec s;
	struct entered e;
	struct box b;
	char out[4096], expect[64];
	int status;

	if (pw && pw->pw_shell[0] == '/' && access(pw->pw_shell, X_OK) == 0)
		want = strrchr(pw->pw_shell, '/') + 1;
	snprintf(expect, sizeof(expect), "-%s", want);
	if (!box_init(&b, root, "nsinetd-test-enter-shell"))
		return;
	spec_init(&s, &b, NULL, 0);
	ok(box_start(&b, &s, payload_argv, out, sizeof(out)), "login shell: the container runs");
	spec_init(&s, &b, NULL, 0);
	s.envp = enter_env;
	enter(&b, &s, false, &e);
	is_int(e.exec, 0, "login shell: exec'd");
	(void)!write(e.in, "echo arg0=$0\nexit 3\n", 20);
	read_all(e.out, out, sizeof(out));
	status = entered_done(&e);
	is_str(get(out, "arg0"), expect, "login shell: root's shell from /etc/passwd, as %s",
	       expect);
	ok(exited_with(status, 3), "login shell: exit 3 (0x%x)", status);
	box_stop(&b);
	box_done(&b);
}

/* --- the escape test ------------------------------------------------------ */

/* In the watcher: rv and errno of an attempt, against the refusal wanted. */
static void attempt(const char *phase, const char *name, long rv, int want)
{
	int err = errno;

	if (want == 0)
		printf("%s\t%s\t%s\t%s\n", phase, name, rv >= 0 ? "allowed" : "WRONG",
		       rv >= 0 ? "-" : strerrorname_np(err));
	else if (rv >= 0)
		printf("%s\t%s\tESCAPED\tsucceeded\n", phase, name);
	else
		printf("%s\t%s\t%s\t%s\n", phase, name, err == want ? "blocked" : "WRONG",
		       strerrorname_np(err));
}

/* open("/proc/PID/file", flags) in the watcher. */
static void attempt_open(const char *phase, pid_t pid, const char *file, int flags, int want)
{
	char path[128], name[128];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	snprintf(name, sizeof(name), "open /proc/PID/%s%s", file,
		 flags & O_PATH       ? " O_PATH"
		 : (flags & O_WRONLY) ? " for writing"
				      : "");
	fd = open(path, flags | O_CLOEXEC);
	attempt(phase, name, fd, want);
	if (fd >= 0)
		close(fd);
}

/* The attempts on pid; want_ptrace/want_proc: the refusals, or 0 where
 * they must work (after the command's execve). */
static void watch_attempts(const char *phase, pid_t pid, int want_ptrace, int want_proc)
{
	static const char *const links[] = {"exe", "cwd", "root", "fd/0"};
	char path[128], buf[256], b8[8];
	struct iovec local = {.iov_base = b8, .iov_len = sizeof(b8)};
	struct iovec remote = {.iov_base = (void *)0x10000, .iov_len = sizeof(b8)};
	long rv;
	int pidfd;

	rv = ptrace(PTRACE_ATTACH, pid, NULL, NULL);
	attempt(phase, "ptrace(PTRACE_ATTACH)", rv, want_ptrace);
	if (rv >= 0) {
		waitpid(pid, NULL, __WALL);
		ptrace(PTRACE_DETACH, pid, NULL, NULL);
	}
	rv = ptrace(PTRACE_SEIZE, pid, NULL, NULL);
	attempt(phase, "ptrace(PTRACE_SEIZE)", rv, want_ptrace);
	if (rv >= 0 && ptrace(PTRACE_INTERRUPT, pid, NULL, NULL) == 0) {
		waitpid(pid, NULL, __WALL);
		ptrace(PTRACE_DETACH, pid, NULL, NULL);
	}
	rv = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	/* After the exec the address is simply not mapped: EFAULT is access. */
	if (rv < 0 && errno == EFAULT && want_ptrace == 0)
		rv = 0;
	attempt(phase, "process_vm_readv", rv, want_ptrace);
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	/* Before: fd 3 is the sync socket, the daemon's. */
	rv = pidfd < 0 ? -1 : syscall(SYS_pidfd_getfd, pidfd, want_ptrace ? 3 : 0, 0);
	attempt(phase, want_ptrace ? "pidfd_getfd(fd 3)" : "pidfd_getfd(fd 0)", rv, want_ptrace);
	if (rv >= 0)
		close((int)rv);
	if (pidfd >= 0)
		close(pidfd);

	attempt_open(phase, pid, "mem", O_RDONLY, want_proc);
	attempt_open(phase, pid, "environ", O_RDONLY, want_proc);
	/* Its stdin, a pipe of the host's (the daemon's, runc's CVE-2016-9962):
	 * listing /proc/PID/fd is only file permissions (the host's root may
	 * list fd numbers), following a link there is the ptrace check. After
	 * the execve the pipe's own permissions decide (the host root's pipe
	 * is not a user namespace's to open): not tried. */
	if (want_proc)
		attempt_open(phase, pid, "fd/0", O_RDONLY, want_proc);
	for (size_t i = 0; i < ELEMENTSOF(links); i++) {
		char name[64];

		snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, links[i]);
		snprintf(name, sizeof(name), "readlink /proc/PID/%s", links[i]);
		rv = readlink(path, buf, sizeof(buf));
		attempt(phase, name, rv, want_proc);
	}
	/* CVE-2019-5736: the entering binary, to overwrite it on the host. */
	if (want_proc) {
		snprintf(path, sizeof(path), "/proc/%d/fd/3", (int)pid);
		rv = readlink(path, buf, sizeof(buf));
		attempt(phase, "readlink /proc/PID/fd/3 (the daemon's socket)", rv, want_proc);
		attempt_open(phase, pid, "exe", O_WRONLY, want_proc);
		attempt_open(phase, pid, "exe", O_PATH, want_proc);
	}
	printf("%s\tdone\n", phase);
	fflush(stdout);
}

/* The processes of this pid namespace but 1 and us: the entering one. */
static pid_t watch_find(void)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	pid_t found = 0;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		pid_t p = (pid_t)atoi(de->d_name);

		if (p > 1 && p != getpid()) {
			found = p;
			n++;
		}
	}
	closedir(d);
	return n == 1 ? found : -n;
}

/* The watcher: the payload of the attacked container, root of its user
 * namespace with every capability there and no filter. Commands on stdin:
 * "before" (the entering process is paused before its execve), "after". */
static int watch_main(void)
{
	char line[64];
	pid_t pid = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		if (strcmp(line, "before\n") == 0) {
			pid = watch_find();
			printf("found\t%d\n", (int)pid);
			if (pid > 0)
				watch_attempts("before", pid, EPERM, EACCES);
			else
				printf("before\tdone\n");
		} else if (strcmp(line, "after\n") == 0 && pid > 0) {
			watch_attempts("after", pid, 0, 0);
		}
	}
	return 0;
}

/* Reads the watcher's lines of phase up to "PHASE<TAB>done": each must be
 * "blocked" (or "allowed"). Returns how many attempts were judged. */
static int watch_judge(int fd, const char *kind, const char *phase, const char *want)
{
	char line[512], done[32];
	int n = 0;

	snprintf(done, sizeof(done), "%s\tdone", phase);
	while (read_line(fd, line, sizeof(line)) && strcmp(line, done) != 0) {
		char *name, *result, *detail;

		if (strncmp(line, phase, strlen(phase)) != 0 || line[strlen(phase)] != '\t') {
			printf("# %s\n", line);
			continue;
		}
		name = line + strlen(phase) + 1;
		result = strchr(name, '\t');
		detail = result ? strchr(result + 1, '\t') : NULL;
		if (!result || !detail)
			continue;
		*result++ = '\0';
		*detail++ = '\0';
		ok(strcmp(result, want) == 0, "escape (%s), %s the command's execve: %s", kind,
		   phase, name);
		printf("#   %s (%s)\n", result, detail);
		n++;
	}
	return n;
}

/* The capabilities a root payload keeps by default (config-sandbox.c). */
#define CAP(c) (UINT64_C(1) << (c))
#define DEFAULT_ROOT_CAPS                                                                          \
	(CAP(CAP_CHOWN) | CAP(CAP_DAC_OVERRIDE) | CAP(CAP_FOWNER) | CAP(CAP_FSETID) |              \
	 CAP(CAP_KILL) | CAP(CAP_SETUID) | CAP(CAP_SETGID) | CAP(CAP_SETPCAP) |                    \
	 CAP(CAP_NET_BIND_SERVICE) | CAP(CAP_SYS_CHROOT))

/* The watcher as the spec's payload: private_users, the root of the user
 * namespace with every capability there; else the host's root with the
 * default capabilities (PrivateUsers=no). No filter, no no_new_privs:
 * more than a default container's root has. */
static void escape_spec(struct activator_spec *s, struct box *b, char *const *argv,
			bool private_users)
{
	spec_init(s, b, argv, 0);
	s->set_capabilities = !private_users;
	s->capabilities = DEFAULT_ROOT_CAPS;
	s->no_new_privs = false;
	s->seccomp = NULL;
	if (!private_users) {
		s->userns_fd = -1;
		s->userns_root = 0;
	}
}

/* The uid of the entering process never changes with PrivateUsers=no and
 * uid 0, so the kernel never makes it undumpable on its own: only our
 * PR_SET_DUMPABLE keeps the container out (the second run). */
static void test_enter_escape(struct cgroup_root *root, bool private_users)
{
	const char *kind = private_users ? "userns root" : "host root";
	char *watch_argv[] = {"/proc/self/fd/3", "--watch", NULL};
	static const char *const watch_names[] = {"watcher"};
	char *cmd_argv[] = {"/bin/sleep", "60", NULL};
	struct activator_spec s;
	struct entered e;
	struct box b;
	char out[1024], line[256];
	int pause[2], status;

	if (!box_init(&b, root, "nsinetd-test-enter-escape"))
		return;
	printf("# escape: the watcher is the %s\n", kind);
	escape_spec(&s, &b, NULL, private_users);
	s.stdio[2] = -1;
	s.fds = &self_fd;
	s.fd_names = watch_names;
	s.n_fds = 1;
	ok(box_start(&b, &s, watch_argv, out, sizeof(out)), "escape (%s): the watcher runs", kind);

	if (pipe2(pause, O_CLOEXEC) < 0)
		abort();
	/* The command as the watcher's own uid and capabilities: what keeps
	 * it out is not a uid. */
	escape_spec(&s, &b, cmd_argv, private_users);
	s.init_fd = init_test_fd;
	s.enter_pause_fd = pause[0];
	enter(&b, &s, false, &e);
	close(pause[0]);
	is_int(e.entered, 0, "escape (%s): the command is forked, and paused before its execve",
	       kind);
	ok(e.entered == 0 && !wait_readable(e.ch.sync_fd, 100), "escape (%s): … it has not exec'd",
	   kind);

	(void)!write(b.in, "before\n", 7);
	ok(read_line(b.out, line, sizeof(line)) && strncmp(line, "found\t", 6) == 0 &&
	       atoi(line + 6) > 2,
	   "escape (%s): the watcher sees the entering process, and only it", kind);
	printf("# %s\n", line);
	ok(watch_judge(b.out, kind, "before", "blocked") == 14,
	   "escape (%s): 14 attempts before the execve", kind);

	close(pause[1]);
	is_int(e.entered == 0 ? wait_result(e.ch.sync_fd, &e.f) : -1, 0,
	       "escape (%s): released, the command exec'd", kind);
	/* Now a plain process of the container, of the watcher's uid, holding
	 * nothing of the host: the container may trace it, as machinectl
	 * shell's. This row documents that, and that the watcher could act. */
	(void)!write(b.in, "after\n", 6);
	ok(watch_judge(b.out, kind, "after", "allowed") == 10,
	   "escape (%s): 10 attempts after the execve", kind);

	activator_signal(e.e.pidfd, SIGKILL);
	status = entered_done(&e);
	ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "escape (%s): the command killed",
	   kind);

	/* The production nsinetd-init refuses the pause outright. */
	if (!private_users) {
		box_stop(&b);
		box_done(&b);
		return;
	}
	if (pipe2(pause, O_CLOEXEC) < 0)
		abort();
	spec_init(&s, &b, cmd_argv, 0);
	s.enter_pause_fd = pause[0];
	enter(&b, &s, false, &e);
	close(pause[0]);
	close(pause[1]);
	is_int(e.entered, -EPERM, "nsinetd-init refuses a test pause: -EPERM");
	is_str(activator_step_name(e.f.step), "test-pause", "… at step test-pause");
	entered_done(&e);

	box_stop(&b);
	box_done(&b);
}

int main(int argc, char **argv)
{
	struct cgroup_root root = {0};
	int fds_before, r;
	ssize_t n;

	if (argc == 2 && strcmp(argv[1], "--watch") == 0)
		return watch_main();
	if (geteuid() != 0)
		skip_all("needs root (clone3 with new namespaces, setns, cgroups)");
	{
		const char *init = getenv("NSINETD_INIT");
		const char *init_test = getenv("NSINETD_INIT_TEST");

		init_fd = open(init ? init : "build/supervisor/nsinetd-init", O_PATH | O_CLOEXEC);
		init_test_fd = open(init_test ? init_test : "build/supervisor/nsinetd-init-test",
				    O_PATH | O_CLOEXEC);
		if (init_fd < 0 || init_test_fd < 0)
			bail_out(
			    "cannot open nsinetd-init and nsinetd-init-test (set NSINETD_INIT, "
			    "NSINETD_INIT_TEST): %s",
			    strerror(errno));
		if (activator_reserve_slot(&slot_fd) < 0)
			bail_out("cannot reserve a slot: %s", strerror(errno));
	}
	n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (n <= 0)
		bail_out("cannot find myself: %s", strerror(errno));
	self_exe[n] = '\0';
	self_fd = open(self_exe, O_RDONLY | O_CLOEXEC);
	if (self_fd < 0)
		bail_out("cannot open myself: %s", strerror(errno));
	if (!mkdtemp(staging))
		skip_all("cannot create a staging directory: %s", strerror(errno));
	r = activator_userns_new(init_fd, SHIFT, 65536, &userns_fd);
	if (r < 0)
		bail_out("cannot make a user namespace: %s", strerror(-r));
	r = cgroup_root_find(&root);
	if (r < 0)
		printf("# no cgroup2 (%s): the cgroup rows compare the host's\n", strerror(-r));
	signal(SIGPIPE, SIG_IGN);
	fds_before = fd_count_open();

	test_enter_sandbox(&root);
	test_enter_login_shell(&root);
	test_enter_escape(&root, true);
	test_enter_escape(&root, false);
	/* Again without the slot: the clone lays the fds out itself, the
	 * pidfd of the container among them. */
	printf("# again, without spec.slot_fd\n");
	safe_close(slot_fd);
	slot_fd = -1;
	test_enter_sandbox(&root);

	is_int(fd_count_open(), fds_before - 1, "no fd leaked in the caller (the slot is closed)");
	cgroup_root_done(&root);
	close(userns_fd);
	rmdir(staging);
	return tap_done();
}
