/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One supervised container, for both modes (service.c's Accept=no, one per
 * service; accept.c's Accept=yes, one per connection or pooled sandbox):
 *
 *   container_spawn() ──► spawned ──sync EOF──► exec done   (cb->exec, r = 0)
 *                            │      └─record──► setup failed (cb->exec, r < 0)
 *                            │
 *   container_stop(): signal, timer ──StopTimeoutSec=──► cgroup.kill + SIGKILL
 *   container_freeze(): write cgroup.freeze, wait for cgroup.events (inotify)
 *                       with a guard timer ──► cb->freeze
 *                            │
 *            pidfd readable: reap ──► cgroup rmdir, retried on a timer
 *                                     while EBUSY ──► cb->exit
 *
 * Nothing here waits: every wait is an event or a timer of the loop. All
 * the events a container needs are made by container_new(), before
 * anything is spawned, so that a container never runs unsupervised for
 * want of memory. The kernel is reached through struct container_ops,
 * which a unit test replaces with a fake (tests/unit/test-lifecycle.c).
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "activator/activator.h"
#include "common/parse.h"

struct cgroup_root;
struct container;
struct event_base;

/* What a container needs of the kernel; container_ops_default is the real
 * thing (activator/activator.h, activator/cgroup.h). */
struct container_ops {
	int (*cgroup_create)(const struct cgroup_root *r, const char *rel, int *ret_fd,
			     char **ret_path);
	int (*spawn)(const struct activator_spec *spec, struct activator_child *ret);
	int (*read_result)(int sync_fd, struct activator_failure *ret);
	int (*signal)(int pidfd, int sig);
	int (*reap)(int pidfd, int *ret_status);
	int (*cgroup_freeze)(const char *path, bool freeze);
	int (*cgroup_frozen)(const char *path);
	int (*cgroup_events_watch)(const char *path, int *ret_fd);
	int (*cgroup_kill)(const char *path);
	int (*cgroup_remove)(const char *path);
	/* 1 while a process is in the cgroup, 0 once it is empty; optional. */
	int (*cgroup_populated)(const char *path);
};
extern const struct container_ops container_ops_default;

/* The owner's callbacks. The container may be freed from exit only (it is
 * done then); the others may stop it or ask for a freeze or thaw. */
struct container_callbacks {
	/* The setup's outcome: r = 0 the payload exec'd, else the step's
	 * negative errno and f. Called once, before exit. */
	void (*exec)(struct container *c, int r, const struct activator_failure *f, void *userdata);
	/* pid 1 reaped (r < 0: it could not be) and its cgroup removed (or
	 * given up on, logged), or kept empty for the owner where it asked
	 * (container_keep_cgroup(), container_cgroup_kept()): nothing of
	 * the container is left. */
	void (*exit)(struct container *c, int r, int status, void *userdata);
	/* A freeze (frozen) or thaw is complete; r = -ETIMEDOUT when the
	 * kernel has not confirmed it within the guard time (it completes
	 * later by itself), another negative errno when it failed. */
	void (*freeze)(struct container *c, bool frozen, int r, void *userdata);
	/* Optional: StopTimeoutSec= is over, the container is killed now. */
	void (*stop_timeout)(struct container *c, void *userdata);
};

/* How long a freeze or thaw may take before cb->freeze gets -ETIMEDOUT. */
#define CONTAINER_FREEZE_GUARD_USEC (1 * USEC_PER_SEC)
/* How long a busy cgroup's removal is retried before it is left behind. */
#define CONTAINER_RMDIR_GIVE_UP_USEC (10 * USEC_PER_SEC)

/* A container object, nothing spawned yet. name prefixes its log lines.
 * -ENOMEM if an event cannot be made. */
int container_new(struct event_base *base, const struct container_ops *ops, const char *name,
		  const struct container_callbacks *cb, void *userdata, struct container **ret);
/* Spawns spec (spec->cgroup_fd is the cgroup at *cgroup_path, which the
 * container takes, even on failure; NULL: none). On failure nothing runs
 * and no callback comes; the cgroup is removed. */
int container_spawn(struct container *c, const struct activator_spec *spec, char **cgroup_path);
/* Sends sig to pid 1 (with SIGKILL also cgroup.kill) and, unless timeout
 * is USEC_INFINITY, kills the whole cgroup after timeout. Thaws a frozen
 * container first (a stopped task cannot act on a signal). 0, or -ESRCH if
 * pid 1 has exited already, or -EALREADY if a stop is under way. */
int container_stop(struct container *c, int sig, usec_t timeout);
/* EXTEND_TIMEOUT_USEC= during a stop: the kill waits at least usec from
 * now (a later deadline stays). -EALREADY if no stop timer runs. */
int container_stop_extend(struct container *c, usec_t usec);
/* Asks for a freeze (or thaw); cb->freeze reports the outcome. -EOPNOTSUPP
 * without a cgroup, -EBUSY while a stop or another change is under way,
 * -ESRCH after the exit, or the error writing cgroup.freeze. */
int container_freeze(struct container *c, bool freeze);
/* A re-exec (reexec.c): takes over a container whose exec is done, from
 * its pid, pidfd and cgroup (taken, NULL: none); frozen: cgroup.freeze
 * is 1. The callbacks then come as for one spawned here. */
int container_adopt(struct container *c, pid_t pid, int pidfd, char *cgroup_path, bool frozen);
/* For the daemon's teardown, or a container done (cb->exit): a container
 * still running gets cgroup.kill and SIGKILL, without waiting. */
struct container *container_free(struct container *c);

/* At the end, keep the cgroup (rather than remove it) if it is empty then
 * and was never frozen: the owner starts its next container in it. */
void container_keep_cgroup(struct container *c, bool keep);
/* In cb->exit: whether the cgroup was kept. */
bool container_cgroup_kept(const struct container *c);

pid_t container_pid(const struct container *c);
int container_pidfd(const struct container *c);
const char *container_cgroup(const struct container *c);
bool container_exec_done(const struct container *c);
bool container_stopping(const struct container *c);
bool container_exited(const struct container *c);
