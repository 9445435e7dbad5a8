/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Listening sockets: created from [Socket], or adopted from systemd. The
 * daemon keeps each one for the service's whole life; containers get dups. */
#pragma once

#include <stdbool.h>

#include "supervisor/config.h"

/* The longest what of listener_open() and listener_check(). */
#define LISTENER_WHAT_MAX 512

/* Creates, configures, binds and (for stream and seqpacket) listens. The
 * fd is O_CLOEXEC and blocking (the container gets the same open file
 * description, and services expect blocking sockets, as from systemd).
 * A unix socket's missing directories are created (0755), never through a
 * symbolic link, and its directory must be safe (listener_check()). On
 * failure returns a negative errno and, in what, the operation that failed
 * ("bind", "listen", "use the socket's directory: /x is owned by uid
 * 1000, not by root"…), to follow "cannot ". */
int listener_open(const struct listen_config *lc, const struct socket_config *sc, int *ret_fd,
		  char *what, size_t what_len);
/* A unix socket's directory, and every one above it, must be owned by root
 * (or the daemon's uid) and not writable by group or others (a root-owned
 * sticky one, as /tmp, may be): else another user could replace the
 * socket, or a directory on its path, by a symbolic link to a file of
 * theirs choosing, which bind() and chown() would then reach. Returns 0
 * (also when directories are missing: they would be made below safe
 * ones), or a negative errno and, in what, why as for listener_open(). */
int listener_check(const struct listen_config *lc, char *what, size_t what_len);
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
