/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The service table, its loading and reloading, and shutdown. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "activator/cgroup.h"
#include "common/parse.h"

/* The loop's priorities (event_base_priority_init() in main.c): every event
 * is NORMAL but the work that can wait for the loop to be otherwise idle. */
#define EVENT_PRIORITIES      3
#define EVENT_PRIORITY_NORMAL 1
#define EVENT_PRIORITY_LOW    2

#define NETNS_SPARES 4

struct container_ops;
struct spares;
struct event_base;
struct event;
struct service;
struct control;
struct metrics;
struct image_cache;
struct reexec;

/* A socket the service manager passed (a socket unit's, or one an earlier
 * daemon stored, fdstore.h) or a re-exec handed over, that no service has
 * claimed yet. */
struct inherited_fd {
	int fd;     /* -1 once a service took it or it was closed */
	char *name; /* LISTEN_FDNAMES' (the fd store's) name, or NULL */
};

struct manager {
	struct event_base *base;
	char *config_dir;
	char *runtime_dir;
	char *staging_dir; /* RUNTIME/root: where a container's root is assembled */
	/* RUNTIME/notify, mode 0700: the containers' notification sockets
	 * (notify.c), each named by the next notify_seq. */
	char *notify_dir;
	unsigned notify_seq;
	int lock_fd; /* RUNTIME/nsinetd.lock, flock()ed: one daemon per runtime dir */
	int init_fd; /* nsinetd-init, O_PATH: every container's pid 1 */
	int slot_fd; /* a low fd kept for activator_spawn() (spec.slot_fd) */
	/* The mount namespace every container's is copied from
	 * (activator_mount_template_new()), or -1: a copy of ours instead. */
	int mount_template_fd;
	/* The mounts below / a container keeps, for spec.submounts (NULL:
	 * each start reads mountinfo). */
	struct host_mounts *host_mounts;
	/* Spare containers for Accept=no starts (spares.c), NULL if none;
	 * spares_want: --spares=N. */
	struct spares *spares;
	unsigned spares_want;

	struct service **services; /* including those being removed */
	size_t n_services;

	/* cgroup v2: each container gets MOUNT/SELF/nsinetd-PID/NAME. */
	bool have_cgroup;
	bool in_leaf; /* moved itself to SELF/supervisor (under systemd) */
	struct cgroup_root cgroup;
	char *cgroup_base;      /* relative to cgroup.self, e.g. "nsinetd-42" */
	char *cgroup_base_path; /* absolute */

	/* Sockets passed by systemd that no service claimed (yet), with their
	 * names from LISTEN_FDNAMES (NULL if none). */
	struct inherited_fd *inherited;
	size_t n_inherited;

	/* The idle accounting tick (idle.c), armed only while needed. */
	struct event *idle_timer;
	usec_t idle_tick;

	struct control *control;    /* RUNTIME/control (control.c), NULL if none */
	struct image_cache *images; /* STATE/images (image.h), NULL if none */
	struct metrics *metrics;    /* --metrics (metrics.c), NULL if none */
	struct reexec *reexec;      /* re-exec in place (reexec.c), NULL if none */
	/* systemd-machined registration (machined.c), NULL if none; outlives
	 * the services (main.c frees it after the manager). */
	struct machined *machined;
	/* How containers reach the kernel: container_ops_default, or a
	 * unit test's fake (container.h). */
	const struct container_ops *container_ops;
	/* Services to free, from the loop (manager_service_dead()). */
	struct event *free_event;
	/* Cgroups of an earlier daemon still busy: retried on this timer. */
	struct event *stale_timer;
	unsigned stale_tries;

	bool shutting_down;
	struct event *shutdown_timer;

	/* Network=none: empty network namespaces with lo up, made ahead at
	 * the loop's lowest priority once one has been used, each given to
	 * one container only (network.c). */
	int netns_spare[NETNS_SPARES];
	size_t n_netns_spare;
	struct event *netns_refill;
	bool netns_spares_off; /* making one failed for want of privilege */
};

/* Appends fd, with name (taken; NULL for none), to the inherited sockets.
 * Without memory both are let go (the fd closed) and -ENOMEM returned: a
 * service then binds its address anew. */
int manager_inherit(struct manager *m, int fd, char *name);

int manager_new(struct event_base *base, const char *config_dir, const char *runtime_dir,
		struct manager **ret);
struct manager *manager_free(struct manager *m);
/* The cache of unpacked images below state_dir (--state-dir), whose
 * directories the first Image= service makes; without it (no memory), a
 * service with Image= fails to load (logged). */
void manager_images_init(struct manager *m, const char *state_dir);
/* Removes unpacked images no service uses, unless a job is under way. */
void manager_images_gc(struct manager *m);
/* First load: a service that fails is logged and skipped. */
int manager_load(struct manager *m);
/* What a reload did: service names, and every error ("FILE:LINE: …"). */
struct reload_report {
	char **added, **changed, **removed, **errors; /* strv */
	size_t unchanged;
};
void reload_report_done(struct reload_report *rep);
/* SIGHUP, and the control interface's Reload (rep may be NULL). Keeps the
 * current table if the directory cannot be read. -EINVAL if any error. */
int manager_reload(struct manager *m, struct reload_report *rep);
/* SIGTERM: stops every container; the loop ends when all are gone. */
void manager_shutdown(struct manager *m);
/* The loop's part of a manager: base, the container operations (the
 * defaults), the event that frees dead services. manager_new() calls it;
 * a unit test without the rest of a manager too. */
int manager_loop_init(struct manager *m, struct event_base *base);
/* A service is done (removed and stopped): the manager frees it from the
 * loop, never from inside the service's own callback. */
void manager_service_dead(struct manager *m, struct service *s);
/* Called by a service after each transition from old to s->state (the
 * control interface's signal). */
void manager_service_changed(struct manager *m, struct service *s, int old, const char *reason,
			     usec_t now);
/* Sends STATUS= to the service manager, if any. */
void manager_notify_status(struct manager *m);
