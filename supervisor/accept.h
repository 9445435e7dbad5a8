/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Accept=yes: inetd's "nowait". The daemon accepts each connection and
 * starts one throw-away sandbox for it (or hands it to a sandbox of the
 * pool, PoolSize=), with the connection as fd 3 (LISTEN_FDS=1,
 * LISTEN_FDNAMES=connection) or, with StandardInput=socket, as fds 0 and 1.
 *
 * Limits, each a temporary state, never a permanent failure:
 *   MaxConnections=          at the limit the listeners are not polled:
 *                            clients wait in the backlog (as tcpserver);
 *   MaxConnectionsPerSource= over it, accept and close; logged once per
 *                            source per ACCEPT_LOG_INTERVAL; a source is an
 *                            IPv4 address, an IPv6 prefix
 *                            (MaxConnectionsPerSourceIPv6Prefix=, /64) or a
 *                            unix peer's uid;
 *   TriggerLimitBurst=       too many in TriggerLimitIntervalSec=: the
 *                            listeners are not polled for that interval;
 *   StartLimitBurst=         too many sandboxes failing their setup: queued
 *                            connections are accepted and closed for
 *                            StartLimitIntervalSec=;
 *   RuntimeMaxSec=           a sandbox older than that is stopped;
 *   EMFILE/ENFILE            no accepting for ACCEPT_EMFILE_RETRY.
 * One log line per connection when its sandbox ends (source, pid, status,
 * duration) and one per refusal with its reason, as xinetd's
 * log_on_success/log_on_failure.
 */
#pragma once

struct service_mode;

/* The Accept=yes mode of a service (service_new() picks it): its state is
 * s->accept. The service is stopped while it polls (whatever number of
 * sandboxes serve), suspended by TriggerLimitBurst= (not polled) or
 * StartLimitBurst= (failed first; accept and close), stopping while a stop
 * waits for every sandbox. service_start() is -EOPNOTSUPP; service_stop()
 * stops every sandbox and the pool, then polls again. */
extern const struct service_mode accept_mode;
/* How many sandboxes serve a connection now. */
struct accept;
unsigned accept_n_serving(const struct accept *a);

/* A re-exec (reexec.c): each sandbox of a, serving a connection or pooled,
 * whose pid 1 has not exited, with what it hands over. */
#include <stdbool.h>
#include <sys/types.h>

#include "common/parse.h"
struct accept_sandbox_info {
	pid_t pid;
	int pidfd;
	int output_fd; /* the daemon's end of its stderr pipe, -1 none */
	const char *cgroup;
	bool pooled;
	bool exec_done; /* its setup is over (else the exec must wait) */
	unsigned long long started_at;
};
/* A re-exec: suspends s for wait, as StartLimitBurst= (drain: queued
 * connections are accepted and closed) or TriggerLimitBurst= did; and
 * whether a suspension drains. */
struct service;
void accept_suspend(struct service *s, bool drain, const char *why, usec_t wait);
bool accept_draining(const struct accept *a);
/* A re-exec: removes the empty sandbox cgroups kept for reuse (none is
 * part of the state). */
void accept_cgroups_drop(struct accept *a);
void accept_foreach_sandbox(const struct accept *a,
			    void (*fn)(const struct accept_sandbox_info *i, void *userdata),
			    void *userdata);
