/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's own mounts below / that a container with the host's root
 * keeps (activator/mountinfo.h), read once and again only when the mount
 * table changes, for spec->submounts: a start then reads no mountinfo
 * (about 1 us per host mount on its path).
 */
#pragma once

#include <stddef.h>

struct event_base;
struct host_mounts;

/* Reads /proc/self/mountinfo and watches it (POLLPRI). Failing to watch is
 * not an error: host_mounts_get() then says nothing is known. */
struct host_mounts *host_mounts_new(struct event_base *base);
/* The list as last read (relative, no leading '/', NULL-terminated), or
 * NULL when it is not known or too long: each start reads mountinfo
 * itself. Valid until the next turn of the loop. */
const char *const *host_mounts_get(const struct host_mounts *h);
struct host_mounts *host_mounts_free(struct host_mounts *h);
