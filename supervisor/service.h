/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One service (Accept=no) and its state machine:
 *
 *   waiting ──predecessor gone──► listening ──connection──► running
 *                                   ▲   ▲                      │
 *                      interval over│   └──container exited────┤
 *                                backoff ◄──too many failures──┤
 *                                   stop done ◄── stopping ◄───┘ (stop request)
 *
 * The service owns its listener fds for its whole life; a container gets
 * dups. While a container runs, the listener events are not polled: the
 * container accepts, and what arrives meanwhile waits in the kernel.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "common/parse.h"
#include "supervisor/config.h"
#include "supervisor/network.h"

struct manager;
struct event;

enum service_state {
	SERVICE_WAITING,   /* a reload replaced it: the old container is still stopping */
	SERVICE_LISTENING, /* polling the listeners */
	SERVICE_RUNNING,   /* a container owns the sockets */
	SERVICE_STOPPING,  /* KillSignal= sent, waiting for the exit */
	SERVICE_BACKOFF,   /* too many failed starts: refusing until the interval is over */
};

struct service {
	struct manager *manager;
	struct service_config *cfg;
	enum service_state state;

	int *fds; /* listener fds, in cfg->socket.listen order */
	struct event **listen_events;

	/* The running container. */
	pid_t pid;
	int pidfd;
	int sync_fd;
	struct event *pidfd_event;
	struct event *sync_event;
	struct event *timer; /* stop timeout, backoff end */
	char *cgroup_path;
	usec_t started_at; /* CLOCK_MONOTONIC */
	bool exec_done;
	bool kill_sent;

	/* Start limit: the times of recent failed runs. */
	usec_t *failures;
	unsigned n_failures;
	/* Trigger limit: the times of recent starts, whatever their outcome. */
	usec_t *triggers;
	unsigned n_triggers;

	/* What happens when the container is gone: free this service (reload
	 * removed or replaced it); its successor starts listening then. */
	bool remove_when_stopped;
	struct service *successor;
	struct service *predecessor;

	/* Network=: the shared namespace, the veth pair (network.c). */
	struct network_state net;
};

/* Creates a service for cfg (taking ownership of it), with its listener
 * fds already open (taking ownership of fds[], n = cfg->socket.n_listen).
 * Starts polling unless predecessor is still stopping. */
struct service *service_new(struct manager *m, struct service_config *cfg, int *fds,
			    struct service *predecessor);
struct service *service_free(struct service *s);

/* Starts the container now, whatever the listeners say. */
int service_start(struct service *s);
/* KillSignal=, then SIGKILL of the whole container after StopTimeoutSec=.
 * No-op if nothing runs. */
void service_stop(struct service *s, const char *reason);
/* Stops the container (if any), then frees the service. */
void service_remove(struct service *s);
bool service_is_active(const struct service *s); /* a container exists */
const char *service_state_to_string(enum service_state st);

usec_t now_usec(void);

/* Hands over the listener fd for lc's type and address, if this service
 * has one (reload: an unchanged address keeps its fd). -1 if none. */
int service_take_fd(struct service *s, const struct listen_config *lc);
