/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pid 1's own seccomp filter (init_run() loads it once the payload may
 * run): a file of its own, in nsinetd-init and in the activator library,
 * so that a unit test loads it (tests/unit/test-activator.c).
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "activator/init-filter.h"
#include "common/cleanup.h"

#if defined(__x86_64__)
#define INIT_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define INIT_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "init_seccomp_load: no audit architecture for this machine"
#endif

#define INIT_ALLOW(nr)                                                                             \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1),                                           \
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

/* What pid 1's loop in init.c calls, through the C library (glibc or musl, the
 * same system calls): sigwaitinfo, waitpid,
 * kill, _exit; and what the kernel needs to resume a call. Anything else
 * fails with EPERM; a call of another architecture (x32 numbers included)
 * kills it.
 *
 * The first instruction loads a field that is never used: the kernel's
 * per-call cache (Linux 5.11) runs a filter through every system call
 * number of each architecture at the attach, to find the calls it allows
 * whatever their arguments, and stops at a load of anything but the
 * number or the architecture. That walk took 33 of the 69 us a filter of
 * this shape took here (bench/README.md), on the cold start's path, to
 * speed up a few calls in pid 1's whole life. The payload's filter keeps
 * the cache: its calls are many. */
int init_seccomp_load(void)
{
	struct sock_filter insns[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, instruction_pointer)),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, INIT_AUDIT_ARCH, 1, 0),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    INIT_ALLOW(__NR_rt_sigtimedwait),
	    INIT_ALLOW(__NR_rt_sigreturn),
	    INIT_ALLOW(__NR_wait4),
	    INIT_ALLOW(__NR_waitid),
	    INIT_ALLOW(__NR_kill),
	    INIT_ALLOW(__NR_exit),
	    INIT_ALLOW(__NR_exit_group),
	    INIT_ALLOW(__NR_restart_syscall),
	    INIT_ALLOW(__NR_close), /* the sync fd, last */
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
	};
	struct sock_fprog prog = {.len = ELEMENTSOF(insns), .filter = insns};

	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return -errno;
	return 0;
}
