/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The seccomp filter: a base deny list that every container gets, and
 * SystemCallFilter= on top, with systemd's group names
 * (syscall-groups.h, generated from systemd-analyze).
 *
 * The base list is what a container has no business doing, whatever its
 * capabilities (as Docker's and nspawn's defaults): loading kernel modules,
 * kexec, reboot, swap, bpf(), perf_event_open(), the kernel keyrings
 * (not namespaced), ptrace and cross-process memory access, accounting,
 * and, unless CAP_SYS_ADMIN is kept, every mount call, setns(), and
 * clone()/unshare() with a CLONE_NEW* flag (chroot() is let through,
 * see below). clone3() returns ENOSYS instead (its flags sit in memory,
 * out of a filter's reach): glibc then falls back to clone(), which the
 * filter can check. io_uring and memfd_secret() are denied in every
 * filter unless an allow list names them one by one (opt_in[] below).
 * Only the native architecture is allowed (SystemCallArchitectures=native):
 * a 32-bit syscall entry from a 64-bit process would bypass a filter
 * written for 64-bit numbers, so libseccomp's "bad architecture" action
 * kills it.
 */
#include "syscall-filter.h"

#include <errno.h>
#include <linux/filter.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/capability.h>

#include "common/cleanup.h"
#include "syscall-groups.h"

/* Denied whatever the configuration says. */
static const char *const base_deny[] = {
    "@module",     "@reboot",         "@swap",  "@cpu-emulation",   "@obsolete",
    "kexec_load",  "kexec_file_load", "bpf",    "perf_event_open",  "add_key",
    "request_key", "keyctl",          "ptrace", "process_vm_readv", "process_vm_writev",
    "acct",        "lookup_dcookie",  "iopl",   "ioperm",           "userfaultfd",
    NULL,
};

/* Denied unless CAP_SYS_ADMIN is kept. */
static const char *const base_deny_no_admin[] = {
    "@mount", "setns", "open_by_handle_at", "name_to_handle_at", NULL,
};

/*
 * Denied in every filter, allow lists included, unless an allow list names
 * them one by one: a @group that holds them (@aio, @system-service) does
 * not count. io_uring performs file and network operations (connect,
 * openat, sendmsg...) in the kernel on the caller's behalf, where no
 * seccomp filter sees them: SystemCallFilter=~connect would not stop an
 * IORING_OP_CONNECT. memfd_secret() takes pages out of the kernel's direct
 * map: memory the host can neither swap nor inspect, and while any exists
 * the host cannot hibernate.
 */
static const char *const opt_in[] = {
    "io_uring_setup", "io_uring_enter", "io_uring_register", "memfd_secret", NULL,
};

#define CLONE_NEW_ALL                                                                              \
	(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | \
	 CLONE_NEWCGROUP | CLONE_NEWTIME)

static const struct syscall_group *group_find(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(syscall_groups); i++)
		if (strcmp(syscall_groups[i].name, name) == 0)
			return &syscall_groups[i];
	return NULL;
}

int activator_seccomp_name_valid(const char *name)
{
	if (!name || !*name)
		return -EINVAL;
	if (name[0] == '@')
		return group_find(name) ? 0 : -EINVAL;
	return seccomp_syscall_resolve_name(name) == __NR_SCMP_ERROR ? -EINVAL : 0;
}

/* A set of syscall numbers (native), as a bitmap big enough for x86_64,
 * arm64 and friends (numbers < 1024; libseccomp's pseudo-numbers for calls
 * this architecture lacks are negative and skipped). */
#define NR_MAX 1024
struct nr_set {
	uint8_t bits[NR_MAX / 8];
};

static void set_add(struct nr_set *s, int nr)
{
	if (nr >= 0 && nr < NR_MAX)
		s->bits[nr / 8] |= (uint8_t)(1u << (nr % 8));
}

static void set_del(struct nr_set *s, int nr)
{
	if (nr >= 0 && nr < NR_MAX)
		s->bits[nr / 8] &= (uint8_t) ~(1u << (nr % 8));
}

static bool set_has(const struct nr_set *s, int nr)
{
	return nr >= 0 && nr < NR_MAX && (s->bits[nr / 8] & (1u << (nr % 8)));
}

/* Adds (or removes) name, or every member of the group name, recursively
 * (the depth bounds a malformed table). Unknown names of this architecture
 * are skipped, as systemd does. */
static int set_name(struct nr_set *s, const char *name, bool add, int depth)
{
	if (depth > 8)
		return -ELOOP;
	if (name[0] == '@') {
		const struct syscall_group *g = group_find(name);

		if (!g)
			return -EINVAL;
		for (const char *const *m = g->members; *m; m++) {
			int r = set_name(s, *m, add, depth + 1);
			if (r < 0)
				return r;
		}
		return 0;
	}
	int nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR)
		/* A group member newer than this libseccomp: skipped, as
		 * systemd does; a name the user wrote was checked already. */
		return depth > 0 ? 0 : -EINVAL;
	if (add)
		set_add(s, nr);
	else
		set_del(s, nr);
	return 0;
}

static int set_names(struct nr_set *s, const char *const *names, bool add)
{
	for (; names && *names; names++) {
		int r = set_name(s, *names, add, 0);
		if (r < 0)
			return r;
	}
	return 0;
}

static bool names_have(char *const *names, const char *name)
{
	for (; names && *names; names++)
		if (strcmp(*names, name) == 0)
			return true;
	return false;
}

/* Adds to deny what opt_in[] holds, except what the allow list names. */
static void deny_opt_in(struct nr_set *deny, const struct activator_seccomp_config *cfg)
{
	for (const char *const *n = opt_in; *n; n++) {
		int nr = seccomp_syscall_resolve_name(*n);

		if (nr != __NR_SCMP_ERROR && !(cfg->allow_list && names_have(cfg->allow, *n)))
			set_add(deny, nr);
	}
}

static void seccomp_releasep(scmp_filter_ctx *ctx)
{
	if (*ctx)
		seccomp_release(*ctx);
}

/* The CLONE_NEW* checks on clone() and unshare(): one rule per flag, each
 * "this bit is set" (libseccomp's conditions on one rule are ANDed). */
static int add_namespace_rules(scmp_filter_ctx ctx, uint32_t action, bool allow_list)
{
	static const int calls[] = {SCMP_SYS(clone), SCMP_SYS(unshare)};
	static const unsigned long flags[] = {CLONE_NEWNS,     CLONE_NEWUTS, CLONE_NEWIPC,
					      CLONE_NEWUSER,   CLONE_NEWPID, CLONE_NEWNET,
					      CLONE_NEWCGROUP, CLONE_NEWTIME};
	int r;

	for (size_t i = 0; i < ELEMENTSOF(calls); i++) {
		if (allow_list) {
			/* Allowed only without any CLONE_NEW* bit. */
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, calls[i], 1,
					     SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEW_ALL, 0));
			if (r < 0)
				return r;
			continue;
		}
		for (size_t j = 0; j < ELEMENTSOF(flags); j++) {
			r = seccomp_rule_add(ctx, action, calls[i], 1,
					     SCMP_A0(SCMP_CMP_MASKED_EQ, flags[j], flags[j]));
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int export_to_memory(scmp_filter_ctx ctx, struct sock_fprog **ret)
{
	_cleanup_close_ int fd = -1;
	struct sock_fprog *prog;
	off_t size;
	ssize_t n;
	int r;

	/* libseccomp 2.5 exports to an fd only: a memfd, read back. */
	fd = memfd_create("nsinetd-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		return r;
	size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || size % sizeof(struct sock_filter) != 0 ||
	    size / sizeof(struct sock_filter) > BPF_MAXINSNS)
		return -E2BIG;
	prog = calloc(1, sizeof(*prog) + (size_t)size);
	if (!prog)
		return -ENOMEM;
	prog->len = (unsigned short)(size / sizeof(struct sock_filter));
	prog->filter = (struct sock_filter *)(prog + 1);
	n = pread(fd, prog->filter, (size_t)size, 0);
	if (n != size) {
		free(prog);
		return n < 0 ? -errno : -EIO;
	}
	*ret = prog;
	return 0;
}

int activator_seccomp_compile(const struct activator_seccomp_config *cfg, struct sock_fprog **ret)
{
	_cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;
	_cleanup_free_ struct nr_set *deny = NULL, *allow = NULL;
	bool admin = cfg->capabilities & (UINT64_C(1) << CAP_SYS_ADMIN);
	uint32_t deny_action = SCMP_ACT_ERRNO(cfg->error_number > 0 ? cfg->error_number : EPERM);
	int r;

	deny = calloc(1, sizeof(*deny));
	allow = calloc(1, sizeof(*allow));
	if (!deny || !allow)
		return -ENOMEM;
	if ((r = set_names(deny, base_deny, true)) < 0)
		return r;
	if (!admin && (r = set_names(deny, base_deny_no_admin, true)) < 0)
		return r;
	/* chroot() is in @mount, yet harmless here: the root is what is
	 * mounted on the root of a mount namespace of the container's own
	 * (pivoted into, or stacked on the template's), nothing else is
	 * reachable, so the classic way out of a chroot (a directory fd kept
	 * outside it, then chdir("..")) ends at the container's root, where
	 * the process was anyway. Daemons that confine themselves (CAP_SYS_CHROOT is in
	 * the default set for root) need it. A deny list naming it wins. */
	set_del(deny, SCMP_SYS(chroot));
	deny_opt_in(deny, cfg);
	if ((r = set_names(deny, (const char *const *)cfg->deny, true)) < 0)
		return r;
	/* Decided by the filter below, by their flags. */
	set_del(deny, SCMP_SYS(clone));
	set_del(deny, SCMP_SYS(unshare));
	set_del(deny, SCMP_SYS(clone3));

	ctx = seccomp_init(cfg->allow_list ? deny_action : SCMP_ACT_ALLOW);
	if (!ctx)
		return -ENOMEM;
	/* Not "no_new_privs from libseccomp": the child sets it itself, in
	 * the documented order; the exported program does not need it. */
	if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)) < 0)
		return r;
	/* A binary tree over the syscall numbers instead of a linear list:
	 * the filter runs on every system call of the service, so a busy
	 * server pays O(log n) per call, not O(n). (libseccomp >= 2.5.) */
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);

	if (cfg->allow_list) {
		if ((r = set_names(allow, (const char *const *)cfg->allow, true)) < 0)
			return r;
		for (int nr = 0; nr < NR_MAX; nr++) {
			if (!set_has(allow, nr) || set_has(deny, nr) || nr == SCMP_SYS(clone) ||
			    nr == SCMP_SYS(unshare) || nr == SCMP_SYS(clone3))
				continue;
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
			if (r < 0)
				return r;
		}
		if (set_has(allow, SCMP_SYS(clone)) || set_has(allow, SCMP_SYS(unshare))) {
			if (admin) {
				r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 0);
				if (r >= 0 && set_has(allow, SCMP_SYS(unshare)))
					r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(unshare),
							     0);
			} else {
				r = add_namespace_rules(ctx, deny_action, true);
			}
			if (r < 0)
				return r;
		}
	} else {
		for (int nr = 0; nr < NR_MAX; nr++) {
			if (!set_has(deny, nr))
				continue;
			r = seccomp_rule_add(ctx, deny_action, nr, 0);
			if (r < 0)
				return r;
		}
		if (!admin && (r = add_namespace_rules(ctx, deny_action, false)) < 0)
			return r;
	}
	/* clone3: ENOSYS in every mode, so that glibc falls back to clone. */
	r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (r < 0)
		return r;
	return export_to_memory(ctx, ret);
}

struct sock_fprog *activator_seccomp_free(struct sock_fprog *prog)
{
	free(prog); /* one allocation, the instructions follow the header */
	return NULL;
}
