/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Listening sockets: created from [Socket], or adopted from systemd. The
 * daemon keeps each one for the service's whole life; containers get dups. */
#pragma once

#include <stdbool.h>

#include "supervisor/config.h"

/* Creates, configures, binds and (for stream and seqpacket) listens. The
 * fd is O_CLOEXEC and blocking (the container gets the same open file
 * description, and services expect blocking sockets, as from systemd).
 * On failure returns a negative errno and a static description of the
 * operation that failed in *ret_what ("bind", "listen", …). */
int listener_open(const struct listen_config *lc, const struct socket_config *sc, int *ret_fd,
		  const char **ret_what);
/* Re-applies what can change on a kept fd (Backlog=). */
int listener_update(int fd, const struct listen_config *lc, const struct socket_config *sc);
/* Whether an fd (e.g. passed by systemd) is a socket of lc's type bound to
 * lc's address. */
bool listener_matches(int fd, const struct listen_config *lc);
/* Removes a unix socket's file (path sockets only). */
void listener_unlink(const struct listen_config *lc);
/* Takes what is waiting on a listener without serving it: accepts and
 * closes queued connections, reads and drops queued datagrams (at most
 * max). Used when a service backs off, so that clients get an answer
 * (a closed connection) instead of a hang. Returns how many. */
int listener_drain(int fd, const struct listen_config *lc, int max);
