/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One service and its state machine (the table is service.c's
 * state_table[]; docs/architecture.md, "The lifecycle", draws it):
 *
 *   waiting ──predecessor freed──► stopped ◄──────────────────────────────────┐
 *                                  │  ▲  ▲ ╲ Prepare=yes                        │
 *                       connection,│  │  │  ╲──────► parked ──connection──┐     │
 *                       start      ▼  │  │                                ▼     │
 *                              starting ──exec done──► running ◄──thawed── thawing
 *                                  │  (Type=notify: READY=1; readiness.h)
 *                                  │                   │    ╲ idle, request  ▲
 *                                  │ setup failed      │     ► freezing ──► frozen
 *                                  ▼                   │ exit   (any of these: stop)
 *                  failed ◄────────┴───────────────────┘            │
 *                    │  ╲ too many in StartLimitIntervalSec=        ▼
 *                    │   ► suspended ──interval over──► stopped   stopping ──exit──► stopped
 *                    └──────────────────────────────► stopped
 *
 * TriggerLimitBurst= goes from stopped (or parked) to suspended too.
 * Accept=yes uses stopped, suspended (with failed on its way), stopping
 * and, never in practice, waiting: its sandboxes are containers of its own
 * (accept.c), not states of the service.
 *
 * How a service serves is chosen once, in service_new(): the Accept=no
 * mode (service.c) or Accept=yes (accept.c), a struct service_mode.
 *
 * The service owns its listener fds for its whole life; a container gets
 * dups. While a container runs, the listener events are not polled: the
 * container accepts, and what arrives meanwhile waits in the kernel.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-id128.h>
#include <time.h>

#include "activator/activator.h"
#include "common/parse.h"
#include "supervisor/config.h"
#include "supervisor/hardening.h"
#include "supervisor/histogram.h"
#include "supervisor/network.h"
#include "supervisor/readiness.h"

struct manager;
struct sock_fprog;
struct event;
struct accept;
struct output;
struct output_pipe;

enum service_state {
	SERVICE_STOPPED,   /* no container: the daemon polls the listeners */
	SERVICE_STARTING,  /* spawned (or released), exec not done yet */
	SERVICE_RUNNING,   /* a container owns the sockets */
	SERVICE_FREEZING,  /* cgroup.freeze written, waiting for "frozen 1" */
	SERVICE_FROZEN,    /* its cgroup is frozen and the daemon polls again */
	SERVICE_THAWING,   /* cgroup.freeze cleared, waiting for "frozen 0" */
	SERVICE_STOPPING,  /* KillSignal= sent, waiting for the exit */
	SERVICE_SUSPENDED, /* StartLimit or TriggerLimit: refusing until the interval is over */
	SERVICE_FAILED,    /* a start or a run failed: on its way to stopped or suspended */
	SERVICE_WAITING,   /* a reload's successor: the old container is still stopping */
	SERVICE_PARKED,    /* Prepare=: a container is set up, parked before its exec; the
			    * daemon polls, and the first connection releases it */
	_SERVICE_STATE_MAX,
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
/* Why a container was stopped (metrics.c classifies each stop). */
enum stop_cause {
	STOP_IDLE,     /* IdleStopSec= */
	STOP_SIGNAL,   /* the daemon's SIGTERM or SIGINT: its shutdown */
	STOP_WATCHDOG, /* WatchdogSec= */
	STOP_LIMIT,    /* StartTimeoutSec= */
	STOP_REQUEST,  /* nsinetctl stop or restart */
	STOP_RELOAD,   /* a reload removed or changed the service */
	STOP_OTHER,    /* STOPPING=1, a failed thaw */
	_STOP_CAUSE_MAX,
};
struct service_stats {
	usec_t created_at;
	usec_t state_since;
	uint64_t starts;         /* containers started (Accept=yes: sandboxes) */
	uint64_t start_failures; /* setups or runs that failed */
	usec_t last_start;       /* the last start: clone (or release) to exec */
	uint64_t accepted;       /* Accept=yes: connections accepted */
	uint64_t refused;        /* Accept=yes: connections refused, any reason */
	/* Accept=yes: the refusals by reason (their sum is refused). */
	uint64_t refused_per_source; /* MaxConnectionsPerSource= */
	uint64_t refused_no_sandbox; /* a sandbox could not be started */
	uint64_t refused_suspended;  /* accepted and closed by a StartLimitBurst= suspension */
	uint64_t watchdog_stops;     /* containers stopped by WatchdogSec= (readiness.c) */
	/* For the metrics (metrics.c); the transitions' counts are kept by
	 * metrics_service_changed(). */
	struct histogram cold_start; /* clone or release (Accept=yes: accept) to exec */
	struct histogram ready;      /* Type=notify: clone or release to READY=1 */
	struct histogram thaw;       /* thawing to running */
	uint64_t freezes;            /* freezing to frozen */
	uint64_t stops[_STOP_CAUSE_MAX];
	uint64_t setup_failures[_STEP_MAX]; /* failed setups, by the failed step */
	uint64_t suspended_start_limit;     /* suspensions by StartLimitBurst= */
	uint64_t suspended_trigger_limit;   /* by TriggerLimitBurst= */
	uint64_t accept_emfile_pauses;      /* Accept=yes: accepting paused by EMFILE and friends */
	uint64_t accept_full;               /* Accept=yes: MaxConnections= reached, clients wait */
	/* Accept=yes: per listener, in cfg->socket.listen order. */
	struct {
		uint64_t accepted, refused;
	} * listeners;
	bool have_exit;
	int last_exit_status; /* wait status of the last container */
	usec_t last_exit_at;
	usec_t backoff_until;   /* 0: not in a backoff */
	unsigned n_transitions; /* total; the last SERVICE_HISTORY are kept */
	struct service_transition history[SERVICE_HISTORY];
};
void service_stats_record(struct service_stats *st, enum service_state state, const char *reason,
			  usec_t now);

/* How a service serves: chosen once, when it is created (service_new()),
 * as OpenBSD's inetd picks its handler when it registers a listener. */
struct service_mode {
	const char *name;
	int (*init)(struct service *s);
	void (*done)(struct service *s); /* frees what init made; kills what runs */
	void (*listen_ready)(struct service *s, int fd);
	void (*state_changed)(struct service *s); /* polls the listeners or not */
	int (*start)(struct service *s, const char *reason);
	int (*stop)(struct service *s, const char *reason);
	bool (*is_active)(const struct service *s);
	/* NULL: this mode cannot freeze. */
	int (*freeze)(struct service *s, bool freeze, const char *reason);
	void (*fd_taken)(struct service *s, int fd); /* a successor takes a listener */
	bool holds_listeners; /* a successor waits for this one's container */
};

struct container;

struct service {
	struct manager *manager;
	struct service_config *cfg;
	const struct service_mode *mode;
	enum service_state state;

	int *fds; /* listener fds, in cfg->socket.listen order */
	struct event **listen_events;

	/* Accept=no: the container (container.c), NULL when none exists. */
	struct container *container;
	struct event *backoff_timer; /* the end of a suspension */
	struct event *idle_timer;    /* IdleStopSec= while frozen */
	/* Prepare=: the parked container's release socket (the daemon's end),
	 * the deferred event that parks one, and whether the last try failed
	 * (then the next connection starts one the usual way). */
	int park_fd;
	struct event *park_event;
	bool park_failed;
	bool released;    /* the running container was parked, then released */
	bool spare_start; /* the running container was started in a spare */
	bool discarding;  /* the parked container is being discarded (a stop) */
	bool setup_failed;
	char setup_failure[256]; /* "setup failed at STEP (PATH): error" */
	usec_t started_at;       /* CLOCK_MONOTONIC */
	usec_t stop_started_at;
	usec_t freeze_started_at;
	char freeze_reason[SERVICE_REASON_MAX];
	/* Frozen at an operator's request (service_freeze()): neither the
	 * idle tick nor a connection thaws it, IdleStopSec= waits; only
	 * service_thaw() or a stop ends it. */
	bool held;
	const char *thaw_wanted; /* a connection came while freezing: thaw when frozen */
	/* nsinetctl drain: the balancers are told to send no new connections
	 * (health.h); it still serves every connection that arrives. A
	 * reload's successor keeps it. */
	bool drained;
	bool restart_pending; /* service_restart(): start once stopped */

	/* Idle accounting: the last time the container was busy, the CPU
	 * it had used then, and what the current tick counted (idle.c). */
	usec_t idle_since;
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

	/* A reload removed or replaced it: stop, then the manager frees it
	 * (dead, from the loop); its successor leaves waiting then. */
	bool removing;
	bool dead;
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
	/* OOMScoreAdjust= below the daemon's own without CAP_SYS_RESOURCE: said once. */
	bool oom_warned;
	bool cgroup_warned;
	bool boot_warned; /* Boot=yes: the socket units' check was logged */
	/* Boot=yes: the running container's container_uuid (its machine id),
	 * and its registration with systemd-machined (machined.h), if any. */
	sd_id128_t boot_uuid;
	struct machine *machine;
	/* Accept=yes: the mode's state (accept.c). */
	struct accept *accept;
	/* Network=: the shared namespace, the veth pair (network.c). */
	struct network_state net;
	/* Containers' stdout and stderr (output.c); the running container's
	 * pipe (Accept=no). */
	struct output *output;
	struct output_pipe *output_pipe;
	/* Accept=no: Type=notify, StartTimeoutSec=, WatchdogSec=. */
	struct readiness ready;
	/* Image=, OCIBundle=: what the image gives (image.h), the job making
	 * it ready (waiting until then), and what a reload compares. */
	struct image_info *image;
	struct image_job *image_job;
	char *image_stamp;
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
	int cgroup_fd;     /* spec.cgroup_fd */
	char *cgroup_path; /* take it to own the cgroup */
	/* A spare taken for this start (spares.h), its cgroup now
	 * cgroup_path; pid 0: none. */
	struct activator_spare spare;
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
/* The same for a sandbox of the Accept=yes pool: with Network=none it
 * makes its network namespace itself while it waits (network_prepare()). */
int service_spec_build_pool(struct service *s, const char *cgroup_rel, struct service_spec *ret);
/* The same for entering the running container (shell.c): no new cgroup,
 * output pipe or network (the container's are joined); stdio -1. */
int service_spec_build_enter(struct service *s, struct service_spec *ret);
void service_spec_done(struct service_spec *sp);

/* What a container of s runs: the file's key, else its image's
 * (Image=, OCIBundle=), else the default. */
const char *service_root_directory(const struct service *s);
const char *service_user(const struct service *s);
/* Image=: makes the image ready (image.h); the service waits, not
 * polling, until it is, and is removed with a FILE:LINE error if it cannot
 * be. OCIBundle=: the bundle's config.json, read now. 0 or -errno. */
int service_image_prepare(struct service *s);
/* A reload: whether the image's source changed on disk since (a new
 * manifest digest in a layout, a new archive or config.json). One that
 * cannot be read now keeps the running version (logged). */
bool service_image_changed(struct service *s);
/* A reload's successor whose image failed: its predecessor is the service
 * again, as it was (its listeners back, polled when its state says so). */
void service_keep_predecessor(struct service *s);

/* Creates a service for cfg (taking ownership of it), with its listener
 * fds already open (taking ownership of fds[], n = cfg->socket.n_listen).
 * Starts polling unless predecessor's container still holds the sockets. */
struct service *service_new(struct manager *m, struct service_config *cfg, int *fds,
			    struct service *predecessor);
/* Only the manager calls it, from the loop (manager_service_dead()). */
struct service *service_free(struct service *s);

/*
 * The control interface's requests: 0 when done or under way (follow the
 * transitions through manager_service_changed() for the outcome), or a
 * negative errno, never an abort:
 *
 * service_start(): starts the container now, whatever the listeners say
 *   (parked: releases it). -EBUSY a container exists already, -EAGAIN
 *   suspended (until the interval is over) or waiting (for its
 *   predecessor), -ESTALE being removed, -EOPNOTSUPP Accept=yes (one
 *   sandbox per connection); a failed start is 0, then failed.
 * service_stop(): KillSignal=, then cgroup.kill and SIGKILL after
 *   StopTimeoutSec=; Accept=yes: every sandbox (and the pool). 0 when a
 *   stop begins or one is under way, -EALREADY when nothing runs. The
 *   listeners are polled again once stopped (socket activation).
 * service_restart(): stop, then start once stopped, as one request; not
 *   active: a start. The errors of service_start().
 * service_freeze(): freezes the running container (cgroup.freeze), and
 *   holds it: neither the idle tick nor a connection thaws it (clients wait
 *   in the backlog), IdleStopSec= does not apply; a container the idle tick
 *   froze is taken over. -EINVAL not running (stopped, starting…),
 *   -EALREADY held already, -EOPNOTSUPP no cgroup or Accept=yes.
 * service_thaw(): thaws a frozen container (held or not) and restarts its
 *   idle clock. -EINVAL not frozen, -EOPNOTSUPP Accept=yes.
 */
int service_start(struct service *s);
int service_stop(struct service *s, const char *reason);
int service_restart(struct service *s);
int service_freeze(struct service *s, const char *reason);
int service_thaw(struct service *s, const char *reason);

/* Logs a container's or sandbox's failed setup: "PREFIX setup failed at
 * STEP (PATH): ERROR". */
struct activator_failure;
void service_log_setup_failure(const struct service *s, const char *prefix, int r,
			       const struct activator_failure *f);
/* Stops what runs, then the manager frees the service. */
void service_remove(struct service *s);
bool service_is_active(const struct service *s); /* a container exists */
const char *service_state_to_string(enum service_state st);
/* For the modes: the one way to change state. A transition the table does
 * not define is logged and refused (-EINVAL); the same state is a no-op. */
int service_set_state(struct service *s, enum service_state st, const char *reason);
/* Whether state_table[] defines from -> to. */
bool service_transition_valid(enum service_state from, enum service_state to);

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

/* A re-exec (reexec.c) hands over a running or frozen Accept=no container:
 * a stopped service of the same configuration takes it (pidfd and cgroup,
 * and output_fd, unless -1), as running or frozen (held: by nsinetctl
 * freeze). -EINVAL if it cannot (Accept=yes, not stopped); then nothing is
 * taken. */
struct service_adoption {
	pid_t pid;
	int pidfd;
	int output_fd;
	int notify_fd; /* Type=notify, WatchdogSec=: its socket (taken), -1 none */
	const char *notify_path;
	char *cgroup;
	bool frozen, held;
	usec_t started_at, idle_since;
};
int service_adopt_container(struct service *s, const struct service_adoption *a);
/* A re-exec hands over the limits in force: the start-limit and trigger-limit
 * windows (times of recent failed runs and starts), and a suspension with
 * suspended_for left (0 none), why (its reason) and, Accept=yes, whether it
 * drains the queue. */
void service_adopt_limits(struct service *s, const usec_t *failures, unsigned n_failures,
			  const usec_t *triggers, unsigned n_triggers, usec_t suspended_for,
			  bool drain, const char *why);

/* Hands over the listener fd for lc's type and address, if this service
 * has one (reload: an unchanged address keeps its fd). -1 if none. */
int service_take_fd(struct service *s, const struct listen_config *lc);
