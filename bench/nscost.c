/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-nscost: what one cold start's pieces cost on this machine, to tell
 * where nsinetd's time goes. Prints, for each case, the median and p90 of
 * N runs (argv[1], default 100) of "create the child, let it do the piece,
 * _exit, reap it": absolute wall times, CLOCK_MONOTONIC, rows interleaved
 * round-robin.
 *
 *   clone3 flags=X     clone3 with those CLONE_NEW* flags, child _exit(0)s
 *   + fork             the child also forks a grandchild (stub init + pid 2)
 *   + exec             the child execs argv[2] (the bench service, which
 *                      exits at once without LISTEN_FDS)
 *   vfork-clone        clone(CLONE_VM|CLONE_VFORK) with the flags, the child
 *                      execs argv[3] (nsinetd-init --hold, which exits at
 *                      EOF on its fd 3, /dev/null here): nsinetd's first
 *                      step, no page table copied
 * A network namespace is torn down asynchronously by the kernel (cleanup_net
 * on a workqueue) after its last process exits: not in these times, but CPU
 * taken from whatever runs next on this 2-core machine.
 *
 * Bounded: N <= 10000. Runs as root; leaves nothing behind.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum extra { NONE, FORK, EXEC, FORK_EXEC, VFORK_INIT };

static const char *exe, *init_exe;

/* The vfork-style child: fd 3 = /dev/null, exec nsinetd-init --hold. */
static int vfork_init_cb(void *arg)
{
	char *argv[] = {"nsinetd-init", "--hold", NULL};
	char *envp[] = {NULL};
	int fd = open("/dev/null", O_RDONLY);

	if (fd >= 0 && fd != 3)
		dup2(fd, 3);
	execve(init_exe, argv, envp);
	_exit(127);
}

static char vfork_stack[64 * 1024] __attribute__((aligned(16)));

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void child_exec(void)
{
	char *argv[] = {(char *)exe, NULL};
	char *envp[] = {NULL};
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (fd >= 0)
		dup2(fd, STDERR_FILENO); /* its "no LISTEN_FDS" complaint */
	execve(exe, argv, envp);
	_exit(127);
}

static int64_t once(uint64_t flags, enum extra extra)
{
	struct clone_args args = {.flags = flags, .exit_signal = SIGCHLD};
	int64_t t0 = now_ns();
	long pid;
	int st;

	if (extra == VFORK_INIT) {
		pid = clone(vfork_init_cb, vfork_stack + sizeof(vfork_stack),
			    (int)flags | CLONE_VM | CLONE_VFORK | SIGCHLD, NULL);
		if (pid < 0) {
			perror("clone");
			exit(1);
		}
		waitpid((pid_t)pid, &st, 0);
		return now_ns() - t0;
	}
	pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0) {
		perror("clone3");
		exit(1);
	}
	if (pid == 0) {
		if (extra == FORK || extra == FORK_EXEC) {
			pid_t p = fork();

			if (p == 0) {
				if (extra == FORK_EXEC)
					child_exec();
				_exit(0);
			}
			waitpid(p, &st, 0);
			_exit(0);
		}
		if (extra == EXEC)
			child_exec();
		_exit(0);
	}
	waitpid((pid_t)pid, &st, 0);
	return now_ns() - t0;
}

static int cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

struct row {
	const char *label;
	uint64_t flags;
	enum extra extra;
	int64_t *t;
};

int main(int argc, char **argv)
{
	const uint64_t all = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS |
			     CLONE_NEWCGROUP | CLONE_NEWNET;
	struct row rows[] = {
	    {"clone3, no new namespace", 0, NONE, NULL},
	    {"clone3 CLONE_NEWNS", CLONE_NEWNS, NONE, NULL},
	    {"clone3 CLONE_NEWPID", CLONE_NEWPID, NONE, NULL},
	    {"clone3 CLONE_NEWIPC", CLONE_NEWIPC, NONE, NULL},
	    {"clone3 CLONE_NEWUTS", CLONE_NEWUTS, NONE, NULL},
	    {"clone3 CLONE_NEWCGROUP", CLONE_NEWCGROUP, NONE, NULL},
	    {"clone3 CLONE_NEWNET", CLONE_NEWNET, NONE, NULL},
	    {"clone3 all six (nsinetd's set)", all, NONE, NULL},
	    {"clone3 all six + fork (stub init, pid 2)", all, FORK, NULL},
	    {"clone3 + exec service (~ what bare costs)", 0, EXEC, NULL},
	    {"clone3 all six + fork + exec service", all, FORK_EXEC, NULL},
	    {"vfork-clone all six + exec nsinetd-init", all, VFORK_INIT, NULL},
	    {"vfork-clone, no ns + exec nsinetd-init", 0, VFORK_INIT, NULL},
	};
	const size_t nrows = sizeof(rows) / sizeof(rows[0]);
	int n = argc > 1 ? atoi(argv[1]) : 100;

	if (n < 1 || n > 10000 || argc < 4) {
		fprintf(stderr, "usage: bench-nscost N(1..10000) SERVICE NSINETD-INIT\n");
		return 2;
	}
	exe = argv[2];
	init_exe = argv[3];
	for (size_t r = 0; r < nrows; r++) {
		rows[r].t = calloc((size_t)n, sizeof(int64_t));
		if (!rows[r].t)
			return 1;
		once(rows[r].flags, rows[r].extra); /* warm-up */
	}
	/* Round-robin, so that load drift hits every row alike. */
	for (int i = 0; i < n; i++)
		for (size_t r = 0; r < nrows; r++)
			rows[r].t[i] = once(rows[r].flags, rows[r].extra);
	printf("%-44s %11s %11s\n", "piece (clone3 .. child exit .. reaped)", "median", "p90");
	for (size_t r = 0; r < nrows; r++) {
		qsort(rows[r].t, (size_t)n, sizeof(int64_t), cmp);
		printf("%-44s %8.2f ms %8.2f ms\n", rows[r].label, rows[r].t[n / 2] / 1e6,
		       rows[r].t[n * 9 / 10] / 1e6);
		free(rows[r].t);
	}
	return 0;
}
