/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Re-exec in place (nsinetctl daemon-reexec, SIGUSR2): the daemon writes
 * its state into a memfd (serialize.h), clears FD_CLOEXEC on what it hands
 * over (listeners, containers' pidfds and output pipes) and execve()s its
 * binary again with --deserialize=FD, in the same process: the pid, the
 * parent and every child stay. The new daemon reads the configuration,
 * adopts each listener by its address, and gives each service whose
 * configuration is unchanged its counters and its container; the others'
 * containers are stopped as by a reload. An exec that fails returns: the
 * daemon goes on as before and says why.
 *
 * docs/architecture.md, "Re-exec in place", says what is handed over and
 * what is not.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "supervisor/serialize.h"

struct manager;
struct reexec;

/* Remembers the binary (what /proc/self/exe names now, so that a newer
 * file installed at that path later is the one executed) and the command
 * line, without --deserialize. */
int reexec_new(int argc, char **argv, struct reexec **ret);
struct reexec *reexec_free(struct reexec *rx);
uint64_t reexec_count(const struct reexec *rx);
const char *reexec_binary(const struct reexec *rx);

/* Re-executes m's daemon. Returns only if it could not: a negative errno
 * and, in why, the reason ("execve /usr/sbin/nsinetd: No such file or
 * directory", "web is starting: try again when it has settled"); the
 * daemon is then as before. Logs either way. */
int reexec_execute(struct manager *m, char *why, size_t why_len);

/* The same, once every service has settled (a start, stop, freeze or
 * sandbox setup under way ends first; at most 5 s, then it is refused).
 * done, if not NULL, gets the failure (r < 0 and why): on success there
 * is no call, the exec replaced the process. -EALREADY if one is waiting
 * already, -ESHUTDOWN shutting down. done may be called before this
 * returns. */
typedef void (*reexec_done_fn)(void *userdata, int r, const char *why);
int reexec_request(struct manager *m, reexec_done_fn done, void *userdata);

/* The new daemon, before anything else opens an fd: reads the state from
 * fd (--deserialize=FD, which it closes) into st, and closes every other
 * fd above 2 that the state does not name. On failure (logged, with the
 * reason) every fd above 2 is closed: a clean start; *clean_start is then
 * true and reexec_adopt() kills what the earlier daemon left running. */
int reexec_read(int fd, struct state *st, bool *clean_start);
/* After manager_new(): the handed-over listeners join the sockets a
 * service takes by address (m->inherited); or, after a failed read, the
 * containers of the earlier daemon are killed. */
void reexec_take_listeners(struct manager *m, struct state *st, bool clean_start);
/* hardening_prepare(), during manager_load(): the user namespace (fd and
 * uid range slot) the earlier daemon made for a service of the same name
 * and configuration, taken; false if none. */
struct service;
bool reexec_take_userns(struct manager *m, const struct service *s, unsigned *ret_slot,
			int *ret_fd);
/* After manager_load(): counters and containers go to their services;
 * what no service takes is stopped and closed. Frees st. */
void reexec_adopt(struct manager *m, struct state *st);
