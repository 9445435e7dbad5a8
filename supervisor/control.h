/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control socket: D-Bus peer to peer (sd-bus, no bus daemon) on a unix
 * socket in the runtime directory, driven from the daemon's loop. Every
 * D-Bus tool is a client (`busctl --address=unix:path=RUNTIME/control`);
 * nsinetctl (ctl/) is ours. docs/nsinetctl.1.md documents the interface.
 *
 * Who may do what is decided at accept() by SO_PEERCRED: root may call
 * everything; members of the group given with --control-group may call the
 * read-only methods; anybody else is closed at once.
 *
 * Limits: CONTROL_CLIENTS_MAX connections (one more is closed), a client
 * must finish its authentication within CONTROL_AUTH_USEC, and a client
 * whose unread messages exceed CONTROL_WQUEUE_MAX is dropped (it does not
 * read its signals). No call blocks the loop: a call that waits for a
 * transition (Start, Stop, Freeze, …) is answered when the transition is
 * done.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "common/parse.h"

#define CONTROL_CLIENTS_MAX 128
#define CONTROL_AUTH_USEC   (5 * USEC_PER_SEC)
#define CONTROL_WQUEUE_MAX  4096
#define CONTROL_PATH        "/org/nsinetd1"
#define CONTROL_INTERFACE   "org.nsinetd1.Manager"

struct manager;
struct service;
struct control;

/* Listens on path (mode 0600, or 0660 and group read_group if not NULL). */
int control_new(struct manager *m, const char *path, const char *read_group, struct control **ret);
struct control *control_free(struct control *c);

/* A service changed state (the StateChanged signal; calls waiting for it). */
void control_service_changed(struct control *c, struct service *s, int old, const char *reason,
			     usec_t now);
/* A service is being freed: calls waiting on it get an error. */
void control_service_gone(struct control *c, struct service *s);
