/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Spare containers (--spares=N): nsinetd-init processes cloned ahead of any
 * start into fresh pid, IPC and UTS namespaces, in the cgroup BASE/:init
 * (":" is in no service's name), with the container's /proc and /dev made,
 * and a network namespace with lo up and its /sys (activator_spare_new()).
 * An Accept=no start takes one and sends it the spec instead of cloning;
 * its pid 1 stays in BASE/:init and clones the payload into the service's
 * cgroup. Made again at the loop's lowest priority once that start is
 * done, and set up under SCHED_IDLE.
 */
#pragma once

#include "activator/activator.h"

struct manager;
struct spares;

/* Spares are kept for --spares=N (default): one is enough for the cold
 * start of an idle daemon, more serve a burst of cold starts. */
#define SPARES_DEFAULT 1
#define SPARES_MAX     8

/* Keeps want spares for m, made from the loop; NULL (nothing kept) when
 * want is 0 or spares cannot work here: no mount template, not root. */
struct spares *spares_new(struct manager *m, unsigned want);
/* Takes a spare for a start: 0 with *ret (the caller's now), -ENOENT
 * with none ready. The next is made when spares_refill() asks, or 1 s
 * later. */
int spares_take(struct spares *sp, struct activator_spare *ret);
/* Makes spares again from the loop: the start that took one is running
 * (or failed), or did not use it. */
void spares_refill(struct spares *sp);
/* The daemon's network namespace (an fd of sp's, -1 without spares), for a
 * start of Network=host in a spare, which has one of its own. */
int spares_host_netns(const struct spares *sp);
/* Ends every spare (killed, reaped, its cgroup removed). */
struct spares *spares_free(struct spares *sp);
