/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Capabilities (libcap), in the child, in the order that keeps each step
 * possible (DESIGN.md): bounding set while we still have CAP_SETPCAP,
 * PR_SET_KEEPCAPS across the uid change, then capset() and the ambient set.
 * The cap_t is built by the parent (caps_prepare()): the child only makes
 * the system calls libcap wraps, no allocation.
 */
#include <errno.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include "activator-internal.h"

static bool cap_kept(const struct activator_spec *spec, cap_value_t cap)
{
	return cap < 64 && (spec->capabilities & (UINT64_C(1) << cap));
}

int caps_prepare(struct activator_ctx *c)
{
	const struct activator_spec *spec = c->spec;
	cap_value_t list[64];
	int n = 0;

	if (!spec->set_capabilities)
		return 0;
	c->caps = cap_init(); /* every flag clear */
	if (!c->caps)
		return -ENOMEM;
	for (cap_value_t cap = 0; cap < 64 && cap <= CAP_LAST_CAP; cap++)
		if (cap_kept(spec, cap))
			list[n++] = cap;
	if (n > 0 && (cap_set_flag(c->caps, CAP_PERMITTED, n, list, CAP_SET) < 0 ||
		      cap_set_flag(c->caps, CAP_EFFECTIVE, n, list, CAP_SET) < 0 ||
		      cap_set_flag(c->caps, CAP_INHERITABLE, n, list, CAP_SET) < 0))
		return -errno;
	return 0;
}

/* Before the uid change: the bounding set caps what any later execve (of
 * a setuid binary, a file with capabilities) can ever gain. */
int caps_bounding(struct activator_ctx *c)
{
	const struct activator_spec *spec = c->spec;
	int last = (int)cap_max_bits() - 1;

	if (!spec->set_capabilities)
		return 0;
	for (cap_value_t cap = 0; cap <= last; cap++) {
		if (cap_kept(spec, cap) || CAP_IS_SUPPORTED(cap) <= 0)
			continue;
		if (cap_drop_bound(cap) < 0)
			return -errno;
	}
	/* Keep the permitted set across setresuid() to a non-root uid, so
	 * that capset() below can still hand the kept capabilities on. */
	if (spec->uid != 0 && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

/* After the uid change: permitted, effective and inheritable become the
 * kept set exactly; a non-root payload gets them in its ambient set too,
 * or execve would clear them (no file capabilities on its binary). */
int caps_apply(struct activator_ctx *c)
{
	const struct activator_spec *spec = c->spec;
	int last = (int)cap_max_bits() - 1;

	if (!spec->set_capabilities)
		return 0;
	if (cap_set_proc(c->caps) < 0)
		return -errno;
	if (CAP_AMBIENT_SUPPORTED() && cap_reset_ambient() < 0)
		return -errno;
	if (spec->uid != 0)
		for (cap_value_t cap = 0; cap <= last; cap++)
			if (cap_kept(spec, cap) && cap_set_ambient(cap, CAP_SET) < 0)
				return -errno;
	if (spec->uid != 0 && prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return -errno;
	return 0;
}
