/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One service (Accept=no) and its state machine:
 *
 *                                  prepared container set up (Prepare=yes)
 *                                        │            ┌──connection: release──┐
 *                                        ▼            │                       ▼
 *                                     parked ─────────┘                    running
 *   waiting ──predecessor gone──► listening ──connection──► running ◄──connection──┐
 *                                   ▲   ▲                      │    idle ≥ IdleFreezeSec │
 *                      interval over│   └──container exited────┤───────────────────► frozen
 *                                backoff ◄──too many failures──┤                        │
 *                                   stop done ◄── stopping ◄───┴──idle ≥ IdleStopSec────┘
 *                                                             (or a stop request)
 *
 * The service owns its listener fds for its whole life; a container gets
 * dups. While a container runs, the listener events are not polled: the
 * container accepts, and what arrives meanwhile waits in the kernel.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "activator/activator.h"
#include "common/parse.h"
#include "supervisor/config.h"
#include "supervisor/hardening.h"
#include "supervisor/network.h"

struct manager;
struct sock_fprog;
struct event;
struct accept;
struct output;
struct output_pipe;

enum service_state {
	SERVICE_WAITING,   /* a reload replaced it: the old container is still stopping */
	SERVICE_LISTENING, /* polling the listeners */
	SERVICE_RUNNING,   /* a container owns the sockets */
	SERVICE_FROZEN,    /* idle: its cgroup is frozen and the daemon polls again */
	SERVICE_STOPPING,  /* KillSignal= sent, waiting for the exit */
	SERVICE_BACKOFF,   /* too many failed starts: refusing until the interval is over */
	SERVICE_PARKED,    /* Prepare=: a container is set up, parked before its exec; the
			    * daemon polls, and the first connection releases it */
};

/* What the control interface reports (supervisor/control.c), kept by the
 * lifecycle: counters since the service was created, the last start and
 * exit, and the last transitions (a ring). Times are CLOCK_MONOTONIC. */
#define SERVICE_HISTORY    16
#define SERVICE_REASON_MAX 96
struct service_transition {
	usec_t at;
	enum service_state state;
	char reason[SERVICE_REASON_MAX];
};
struct service_stats {
	usec_t created_at;
	usec_t state_since;
	uint64_t starts;         /* containers started (Accept=yes: sandboxes) */
	uint64_t start_failures; /* setups or runs that failed */
	usec_t last_start;       /* the last start: clone (or release) to exec */
	uint64_t accepted;       /* Accept=yes: connections accepted */
	uint64_t refused;        /* Accept=yes: connections refused, any reason */
	bool have_exit;
	int last_exit_status; /* wait status of the last container */
	usec_t last_exit_at;
	usec_t backoff_until;   /* 0: not in a backoff */
	unsigned n_transitions; /* total; the last SERVICE_HISTORY are kept */
	struct service_transition history[SERVICE_HISTORY];
};
void service_stats_record(struct service_stats *st, enum service_state state, const char *reason,
			  usec_t now);

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
	/* Prepare=: the parked container's release socket (the daemon's end),
	 * the deferred event that parks one, and whether the last try failed
	 * (then the next connection starts one the usual way). */
	int park_fd;
	struct event *park_event;
	bool park_failed;
	bool released;   /* the running container was parked, then released */
	bool discarding; /* the parked container is being discarded (a stop) */
	char *cgroup_path;
	usec_t started_at; /* CLOCK_MONOTONIC */
	bool exec_done;
	bool kill_sent;

	/* Idle accounting: the last time the container was busy, the CPU
	 * it had used then, and what the current tick counted (idle.c). */
	usec_t idle_since;
	usec_t stop_started_at;
	uint64_t cpu_usage;    /* cpu.stat usage_usec at the last tick */
	usec_t cpu_checked_at; /* when it was read */
	struct {
		unsigned connections; /* open, accepted or queued */
		unsigned active;      /* of those, with data within the window */
		unsigned queued;      /* in listeners' queues (datagrams: bytes) */
		unsigned pending;     /* bytes waiting on open connections */
	} idle;

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

	/* Sandbox (hardening.c): the seccomp filter, compiled once for this
	 * configuration; the PrivateUsers=yes range (slot+1, 0 = none);
	 * whether the payload is the host's root (whom LimitNPROC= does not
	 * bind); whether the once-only warnings were logged. */
	struct sock_fprog *seccomp;
	unsigned userns_slot;
	int userns_fd; /* PrivateUsers=: the user namespace all its containers join */
	bool host_root_payload;
	bool rlimit_warned;
	bool cgroup_warned;
	/* Accept=yes: the per-connection sandboxes (accept.c); NULL otherwise. */
	struct accept *accept;
	/* Network=: the shared namespace, the veth pair (network.c). */
	struct network_state net;
	/* Containers' stdout and stderr (output.c); the running container's
	 * pipe (Accept=no). */
	struct output *output;
	struct output_pipe *output_pipe;
	struct service_stats stats;
};

/* A container's activator_spec and everything it points to. */
struct service_spec {
	struct activator_spec spec;
	char **env; /* spec.envp; add to it before spawning */
	char *home;
	const char **names;
	struct activator_bind *binds;
	struct activator_tmpfs *tmpfs;
	gid_t groups[64];
	int cgroup_fd;              /* spec.cgroup_fd */
	char *cgroup_path;          /* take it to own the cgroup */
	struct hardening hardening; /* what spec's hardening fields point to */
	/* The container's stdout and stderr (spec.stdio[1], [2]): call
	 * output_pipe_spawned() on it right after activator_spawn(), and take
	 * it to own it; service_spec_done() closes it otherwise. */
	struct output_pipe *output;
};

/* Builds the spec of one container of s, as configured: User=, Group=,
 * Directory=, mounts, environment, namespaces, the service's listeners as
 * fds 3..., a pipe of its own as stdout and stderr (never the daemon's),
 * and a new cgroup NAME (or NAME/cgroup_rel). Logs its errors.
 * Whatever is built is released by service_spec_done(), even on failure. */
int service_spec_build(struct service *s, const char *cgroup_rel, struct service_spec *ret);
/* The same for entering the running container (shell.c): no new cgroup,
 * output pipe or network (the container's are joined); stdio -1. */
int service_spec_build_enter(struct service *s, struct service_spec *ret);
void service_spec_done(struct service_spec *sp);
/* Removes a container's cgroup once its pid 1 is gone; frees *path. */
void service_cgroup_drop(const struct service *s, char **path);

/* Creates a service for cfg (taking ownership of it), with its listener
 * fds already open (taking ownership of fds[], n = cfg->socket.n_listen).
 * Starts polling unless predecessor is still stopping. */
struct service *service_new(struct manager *m, struct service_config *cfg, int *fds,
			    struct service *predecessor);
struct service *service_free(struct service *s);

/* Starts the container now, whatever the listeners say. */
int service_start(struct service *s);
/* Logs a container's or sandbox's failed setup: "PREFIX setup failed at
 * STEP (PATH): ERROR". */
struct activator_failure;
void service_log_setup_failure(const struct service *s, const char *prefix, int r,
			       const struct activator_failure *f);
/* KillSignal=, then SIGKILL of the whole container after StopTimeoutSec=.
 * No-op if nothing runs. */
void service_stop(struct service *s, const char *reason);
/* Stops the container (if any), then frees the service. */
void service_remove(struct service *s);
bool service_is_active(const struct service *s); /* a container exists */
const char *service_state_to_string(enum service_state st);

usec_t now_usec(void);
/* Records an event at now in times[] (room for burst), forgetting those
 * older than window; true when burst events fall inside the window. */
bool service_rate_record(usec_t *times, unsigned *n, usec_t window, unsigned burst);
/* Polls the listeners (on) or not. */
void service_listen_enable(struct service *s, bool on);

/* One idle-accounting tick for a running (or frozen) container: counts in
 * s->idle are fresh; failed = the socket dump failed (count as busy). Freezes,
 * thaws or stops as IdleFreezeSec=/IdleStopSec= say. */
void service_idle_tick(struct service *s, bool failed, usec_t now);

/* Freezes the running container now (an operator's request): -EINVAL if
 * none runs, -EOPNOTSUPP without a cgroup or for Accept=yes. */
int service_freeze(struct service *s, const char *reason);
/* Thaws a frozen container (a connection came); no-op otherwise. */
void service_thaw(struct service *s, const char *reason);

/* Hands over the listener fd for lc's type and address, if this service
 * has one (reload: an unchanged address keeps its fd). -1 if none. */
int service_take_fd(struct service *s, const struct listen_config *lc);
