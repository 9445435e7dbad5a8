/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's own mounts below / that a container with the host's root
 * keeps (activator/mountinfo.h), for spec->submounts: read once, and again
 * only when the mount table has changed, so that a start reads no mountinfo
 * (about 1 us per host mount on its path).
 */
#pragma once

#include <stddef.h>

struct host_mounts;

/* Opens and reads /proc/self/mountinfo. Failing is not an error:
 * host_mounts_get() then says nothing is known. */
struct host_mounts *host_mounts_new(void);
/* The list (relative, no leading '/', NULL-terminated) as the table is now:
 * read again first if it changed since (POLLPRI). NULL when it is not known
 * or too long: each start reads mountinfo itself. Valid until the next
 * call. */
const char *const *host_mounts_get(struct host_mounts *h);
struct host_mounts *host_mounts_free(struct host_mounts *h);
