/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sandbox settings of a service, turned into what the activator and
 * the cgroup need: capabilities, NoNewPrivileges=, Limit*=, the seccomp
 * filter (compiled once per configuration), the user namespace, and the
 * cgroup v2 limits, each logged once when this host cannot enforce it.
 */
#pragma once

#include <stdio.h>
#include <sys/types.h>

#include "activator/activator.h"
#include "supervisor/config.h"

struct service;

/* Storage for what spec points to, on the caller's stack. */
struct hardening {
	struct activator_rlimit rlimits[CONFIG_RLIMITS];
};

/* Fills spec's hardening fields (and CLONE_NEWUSER in spec->namespaces)
 * for a payload running as uid. Logs and returns a negative errno when the
 * service cannot start (a filter that does not compile, User= in a
 * rootless daemon). */
/* The oom_score_adj a container gets: configured (CONFIG_OOM_SCORE_UNSET
 * for none), given the daemon's own and whether it may lower its value.
 * *ret_write: false when the container just inherits the daemon's; with
 * *ret_clamped when the configured value could not be had. */
int hardening_oom_score(int configured, int own, bool can_lower, bool *ret_write,
			bool *ret_clamped);
int hardening_fill(struct service *s, uid_t uid, struct hardening *h, struct activator_spec *spec);

/* Writes MemoryMax= etc. into a container's new cgroup (the Accept=no
 * container's, or one Accept=yes sandbox's), or logs once per service which
 * setting is not enforced and why. */
void hardening_cgroup_apply(struct service *s, const char *cgroup_path);
/* Whether a cgroup that a container of cfg ended in, empty, may take the
 * next one: no setting whose state one leaves for the next (MemoryMax=,
 * MemoryHigh=, CPUQuota=), not Boot=yes (a delegated cgroup holds the
 * container's own tree). TasksMax= counts live tasks, the rest are
 * weights, written again at each start. */
bool hardening_cgroup_reusable(const struct service_config *cfg);

/* --check: one line per setting of c that this host would not enforce.
 * Returns how many. */
int hardening_check(const struct service_config *c, FILE *out);

/* What can be made once per service, when it is created: its user
 * namespace (PrivateUsers=). 0 or a negative errno (logged). */
int hardening_prepare(struct service *s);
/* "CAP_NET_ADMIN" when a setup step that failed with r = -EPERM needs a
 * capability the daemon itself does not have (so nor do its containers),
 * else NULL. */
const char *hardening_missing_cap(enum activator_step step, int r);

/* A re-exec (reexec.c): PrivateUsers= uid range slots in use by handed-over
 * containers (reserve), free again (unreserve); 0 is none. */
void hardening_userns_reserve(unsigned slot);
void hardening_userns_unreserve(unsigned slot);
/* Frees what hardening_fill() cached on the service. */
void hardening_release(struct service *s);
