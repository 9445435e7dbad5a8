/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nsinetd --watch: reloads when the configuration directory changes, as
 * SIGHUP does (manager_reload()), so that a Kubernetes ConfigMap or a
 * configuration-management run needs no signal. inotify on the directory
 * (a file written, created, removed, renamed into place, its mode
 * changed; a ConfigMap's ..data symlink swapped), debounced: the reload
 * comes WATCH_SETTLE_USEC after the last change, and at the latest
 * WATCH_MAX_DELAY_USEC after the first of a burst. A directory that is
 * removed or renamed is watched again when it is back (tried every
 * WATCH_RETRY_USEC).
 */
#pragma once

#include "common/parse.h"

#define WATCH_SETTLE_USEC    (300 * USEC_PER_MSEC)
#define WATCH_MAX_DELAY_USEC (3 * USEC_PER_SEC)
#define WATCH_RETRY_USEC     (1 * USEC_PER_SEC)

struct manager;
struct watch;

/* Watches m->config_dir. Logs its errors. */
int watch_new(struct manager *m, struct watch **ret);
struct watch *watch_free(struct watch *w);
