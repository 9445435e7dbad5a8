/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Type=notify, StartTimeoutSec= and WatchdogSec= for the Accept=no mode
 * (service.c): the container's notification socket (notify.c), what the
 * container says on it, and the two timers.
 *
 *   starting ──READY=1──► running          (Type=simple: the exec)
 *      │ StartTimeoutSec=                     │ no WATCHDOG=1 within WatchdogSec=,
 *      ▼                                      ▼ or WATCHDOG=trigger
 *   stopping (KillSignal=, StopTimeoutSec=) ──exit──► failed ──► stopped or suspended
 *
 * STOPPING=1: stopping without a signal, StopTimeoutSec= still bounds it.
 * The watchdog runs from the exec while starting or running; a freeze
 * pauses it, and a thaw (back to running) starts a fresh period.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "common/parse.h"
#include "supervisor/notify.h"

struct event;
struct service;
struct service_spec;

struct readiness {
	struct notify *notify;        /* the container's socket; NULL: none */
	struct event *start_timer;    /* StartTimeoutSec= */
	struct event *watchdog_timer; /* WatchdogSec= */
	usec_t start_deadline;        /* CLOCK_MONOTONIC; EXTEND_TIMEOUT_USEC= moves it */
	bool ready;                   /* READY=1 seen (Type=notify) */
	bool reloading;               /* RELOADING=1 seen, READY=1 not yet */
	/* Why the daemon stopped it: the exit is a failure then. */
	const char *failure;
	int errno_value; /* ERRNO=, 0 none */
	char status[NOTIFY_STATUS_MAX];
};

/* The timers, with the service. -ENOMEM. */
int readiness_init(struct service *s);
void readiness_done(struct service *s);
/* Before a container's spec is built: its socket, if Type=notify or
 * WatchdogSec= want one (logged on failure), and a clean slate. */
int readiness_prepare(struct service *s);
/* Adds the bind of the socket and NOTIFY_SOCKET=, WATCHDOG_USEC= to a
 * spec being built. */
int readiness_spec(struct service *s, struct service_spec *sp, size_t *n_binds);
/* The container runs as pid1 (or could not be spawned: -1). */
void readiness_spawned(struct service *s, pid_t pid1);
/* A re-exec: a running container's notification socket (fd, taken; -1
 * none) bound at path; the container is ready. */
int readiness_adopt(struct service *s, int fd, const char *path, pid_t pid1);
/* The payload exec'd: true if the service is ready now (Type=simple). */
bool readiness_exec(struct service *s);
/* Arms or disarms the timers for the new state. */
void readiness_state_changed(struct service *s);
/* The container is gone. */
void readiness_exit(struct service *s);
