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

#include <stdbool.h>

struct service;
struct accept;

/* The accept state of an Accept=yes service (s->cfg->socket.accept). */
struct accept *accept_new(struct service *s);
/* Kills (SIGKILL) and reaps whatever sandbox is left: nothing remains. */
struct accept *accept_free(struct accept *a);

/* A listener of the service is readable. */
void accept_listen_ready(struct accept *a, int fd);
/* Polls the listeners or not, from the service state and the limits. */
void accept_update_polling(struct accept *a);
/* Whether any sandbox (serving, or waiting in the pool) exists. */
bool accept_is_active(const struct accept *a);
/* Stops every sandbox: KillSignal=, SIGKILL after StopTimeoutSec=. When
 * the service is being removed, it is freed once the last one is gone. */
void accept_stop(struct accept *a, const char *reason);
/* How many sandboxes serve a connection now. */
unsigned accept_n_serving(const struct accept *a);
