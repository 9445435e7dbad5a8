/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Capabilities, in nsinetd-init, in the order that keeps each step possible
 * (docs/architecture.md): bounding set while we still have CAP_SETPCAP,
 * PR_SET_KEEPCAPS across the uid change, then capset() and the ambient set.
 * Raw prctl() and capset(): nsinetd-init is a static program that links no
 * library but libc (libcap would add nothing but a dependency here; the
 * daemon parses the names with it).
 */
#include <errno.h>
#include <linux/capability.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "activator-internal.h"

/* The highest capability this kernel knows: PR_CAPBSET_READ says EINVAL
 * past it. Probed from the highest one our headers name, up or down: two
 * calls on a kernel of the headers' age, where a walk from 0 took 41 (and
 * each start asked twice). Kept: a process has one kernel. */
static int cap_last(void)
{
	static int last = -1;
	int cap = CAP_LAST_CAP;

	if (last >= 0)
		return last;
	if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0) {
		while (cap < 63 && prctl(PR_CAPBSET_READ, cap + 1, 0, 0, 0) >= 0)
			cap++;
	} else {
		while (cap > 0 && prctl(PR_CAPBSET_READ, --cap, 0, 0, 0) < 0)
			;
	}
	last = cap;
	return last;
}

static bool cap_kept(const struct activator_spec *spec, int cap)
{
	return cap < 64 && (spec->capabilities & (UINT64_C(1) << cap));
}

/* Before the uid change: the bounding set caps what any later execve (of
 * a setuid binary, a file with capabilities) can ever gain. */
int caps_bounding(struct activator_ctx *c)
{
	const struct activator_spec *spec = c->spec;
	int last = cap_last();

	if (!spec->set_capabilities)
		return 0;
	/* A spare's or a pooled sandbox's pid 1 (it forked the payload before
	 * the user namespace, init_fork_early()) never execs: its lock-down
	 * (init.c) leaves it no capability, no_new_privs and a filter without
	 * execve, so there is nothing for a bounding set to bound. Its drops,
	 * a new cred each (1.5 us), would only take CPU from the payload's
	 * beside it. */
	for (int cap = 0; cap <= last && c->payload <= 0; cap++) {
		if (cap_kept(spec, cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return -errno;
	}
	/* Keep the permitted set across setresuid() to a non-root uid, so
	 * that capset() below can still hand the kept capabilities on. */
	if (spec->uid != 0 && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

static int capset_mask(uint64_t mask)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2] = {
	    {.effective = (uint32_t)mask,
	     .permitted = (uint32_t)mask,
	     .inheritable = (uint32_t)mask},
	    {.effective = (uint32_t)(mask >> 32),
	     .permitted = (uint32_t)(mask >> 32),
	     .inheritable = (uint32_t)(mask >> 32)},
	};

	if (syscall(SYS_capset, &h, d) < 0)
		return -errno;
	return 0;
}

/* After the uid change: permitted, effective and inheritable become the
 * kept set exactly; a non-root payload gets them in its ambient set too,
 * or execve would clear them (no file capabilities on its binary). */
int caps_apply(struct activator_ctx *c)
{
	const struct activator_spec *spec = c->spec;
	uint64_t mask = 0;
	int last = cap_last(), r;

	if (!spec->set_capabilities)
		return 0;
	for (int cap = 0; cap <= last; cap++)
		if (cap_kept(spec, cap))
			mask |= UINT64_C(1) << cap;
	r = capset_mask(mask);
	if (r < 0)
		return r;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	if (spec->uid != 0)
		for (int cap = 0; cap <= last; cap++)
			if (cap_kept(spec, cap) &&
			    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
				return -errno;
	if (spec->uid != 0 && prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

/* pid 1, once the payload runs: it needs no capability to wait, reap and
 * forward signals to its own child. */
int caps_drop_all(void)
{
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	return capset_mask(0);
}
