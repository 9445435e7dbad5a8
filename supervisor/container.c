/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One supervised container: see container.h. */
#include "container.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "activator/cgroup.h"
#include "common/cleanup.h"
#include "common/fd-util.h"
#include "common/log.h"
#include "supervisor/event-util.h"
#include "supervisor/service.h"

/* Retries of a busy cgroup's removal: from this, doubling, to the max. */
#define RMDIR_RETRY_MIN_USEC (1 * USEC_PER_MSEC)
#define RMDIR_RETRY_MAX_USEC (100 * USEC_PER_MSEC)
/* Without an inotify watch, a freeze is polled this often. */
#define FREEZE_POLL_USEC (5 * USEC_PER_MSEC)

const struct container_ops container_ops_default = {
    .cgroup_create = cgroup_create,
    .spawn = activator_spawn,
    .read_result = activator_read_result,
    .signal = activator_signal,
    .reap = activator_reap,
    .cgroup_freeze = cgroup_freeze,
    .cgroup_frozen = cgroup_frozen,
    .cgroup_events_watch = cgroup_events_watch,
    .cgroup_kill = cgroup_kill,
    .cgroup_remove = cgroup_remove,
    .cgroup_populated = cgroup_populated,
};

struct container {
	struct event_base *base;
	const struct container_ops *ops;
	const struct container_callbacks *cb;
	void *userdata;
	char *name;

	pid_t pid; /* -1 until spawned */
	int pidfd;
	int sync_fd;
	int watch_fd; /* cgroup.events, inotify; -1 until the first freeze */
	char *cgroup_path;

	struct event *exit_event;   /* pidfd */
	struct event *sync_event;   /* sync_fd */
	struct event *watch_event;  /* watch_fd */
	struct event *stop_timer;   /* StopTimeoutSec= */
	struct event *freeze_timer; /* the freeze's guard (or its polling) */
	struct event *retry_timer;  /* reap (no pidfd event), then rmdir retries */

	bool exec_reported;
	bool stopping;
	bool exited;       /* reaped */
	bool frozen;       /* the last freeze asked for (cgroup.freeze's content) */
	bool ever_frozen;  /* a freeze was asked for once: the cgroup is not kept */
	bool keep_cgroup;  /* container_keep_cgroup() */
	bool cgroup_kept;  /* container_cgroup_kept() */
	int freeze_target; /* -1: no freeze or thaw under way */
	usec_t freeze_deadline;
	usec_t stop_deadline; /* CLOCK_MONOTONIC, while the stop timer runs */

	int reap_r;
	int status;
	usec_t rmdir_started;
	usec_t rmdir_delay;
};

pid_t container_pid(const struct container *c)
{
	return c->pid;
}

int container_pidfd(const struct container *c)
{
	return c->pidfd;
}

const char *container_cgroup(const struct container *c)
{
	return c->cgroup_path;
}

void container_keep_cgroup(struct container *c, bool keep)
{
	c->keep_cgroup = keep;
}

bool container_cgroup_kept(const struct container *c)
{
	return c->cgroup_kept;
}

bool container_exec_done(const struct container *c)
{
	return c->exec_reported;
}

bool container_stopping(const struct container *c)
{
	return c->stopping;
}

bool container_exited(const struct container *c)
{
	return c->exited;
}

/* --- the end: reap, then the cgroup ------------------------------------- */

static void finish(struct container *c)
{
	free(c->cgroup_path);
	c->cgroup_path = NULL;
	/* Last: the owner may free the container. */
	c->cb->exit(c, c->reap_r, c->status, c->userdata);
}

/* pid 1 is gone, and with it its pid namespace; what may remain in the
 * cgroup is a process on its way out. Kill whatever is left, and retry the
 * rmdir on a timer (never a sleep) until it is empty. */
static void cgroup_drop(struct container *c)
{
	usec_t now = now_usec();
	int r;

	if (!c->cgroup_path) {
		finish(c);
		return;
	}
	/* Empty now (a process still on its way out counts as there), and
	 * never frozen: nothing of this container's is in it for the next. */
	if (c->keep_cgroup && !c->ever_frozen && c->rmdir_started == 0 &&
	    c->ops->cgroup_populated && c->ops->cgroup_populated(c->cgroup_path) == 0) {
		c->cgroup_kept = true;
		finish(c);
		return;
	}
	r = c->ops->cgroup_remove(c->cgroup_path);
	if (r >= 0 || r == -ENOENT) {
		finish(c);
		return;
	}
	if (r != -EBUSY) {
		log_errno(LOG_WARNING, r, "%s: cannot remove cgroup %s", c->name, c->cgroup_path);
		finish(c);
		return;
	}
	if (c->rmdir_started == 0) {
		c->rmdir_started = now;
		c->rmdir_delay = RMDIR_RETRY_MIN_USEC;
		(void)c->ops->cgroup_kill(c->cgroup_path);
	} else if (now - c->rmdir_started >= CONTAINER_RMDIR_GIVE_UP_USEC) {
		log_warning("%s: cgroup %s still busy %llu s after its pid 1 ended, leaving it",
			    c->name, c->cgroup_path,
			    (unsigned long long)(CONTAINER_RMDIR_GIVE_UP_USEC / USEC_PER_SEC));
		finish(c);
		return;
	} else if (c->rmdir_delay < RMDIR_RETRY_MAX_USEC) {
		c->rmdir_delay *= 2;
	}
	log_debug("%s: cgroup %s busy, retrying its removal in %llu us", c->name, c->cgroup_path,
		  (unsigned long long)c->rmdir_delay);
	r = timer_arm_usec(c->retry_timer, c->rmdir_delay);
	if (r < 0) {
		log_errno(LOG_ERR, r, "%s: cannot arm a timer: leaving cgroup %s", c->name,
			  c->cgroup_path);
		finish(c);
	}
}

static void sync_read(struct container *c)
{
	struct activator_failure f = {0};
	int r;

	if (c->exec_reported || c->sync_fd < 0)
		return;
	r = c->ops->read_result(c->sync_fd, &f);
	if (r == -EAGAIN)
		return;
	c->exec_reported = true;
	event_del(c->sync_event);
	c->sync_fd = safe_close(c->sync_fd);
	c->cb->exec(c, r, &f, c->userdata);
}

static void freeze_cancel(struct container *c)
{
	c->freeze_target = -1;
	event_del(c->freeze_timer);
	if (c->watch_event)
		event_del(c->watch_event);
}

static int reap_later(struct container *c)
{
	/* Without its pidfd event (out of memory), the exit is polled. */
	return timer_arm_usec(c->retry_timer, 10 * USEC_PER_MSEC);
}

static void reap(struct container *c)
{
	int r, status = 0;

	r = c->ops->reap(c->pidfd, &status);
	if (r == -EAGAIN) {
		if (event_add(c->exit_event, NULL) < 0 && reap_later(c) < 0)
			log_error("%s: pid %d: no event left to notice its exit", c->name,
				  (int)c->pid);
		return;
	}
	c->exited = true;
	c->reap_r = r;
	c->status = status;
	event_del(c->exit_event);
	event_del(c->stop_timer);
	freeze_cancel(c);
	c->pidfd = safe_close(c->pidfd);
	/* A failed setup step is told on the sync fd before the exit. */
	sync_read(c);
	if (!c->exec_reported) {
		struct activator_failure f = {.step = 0};
		c->exec_reported = true;
		event_del(c->sync_event);
		c->sync_fd = safe_close(c->sync_fd);
		c->cb->exec(c, -ECHILD, &f, c->userdata);
	}
	cgroup_drop(c);
}

static void exit_cb(evutil_socket_t fd, short what, void *arg)
{
	reap(arg);
}

static void sync_cb(evutil_socket_t fd, short what, void *arg)
{
	sync_read(arg);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct container *c = arg;

	if (!c->exited)
		reap(c);
	else
		cgroup_drop(c);
}

/* --- stop --------------------------------------------------------------- */

static void stop_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct container *c = arg;

	if (c->exited)
		return;
	if (c->cb->stop_timeout)
		c->cb->stop_timeout(c, c->userdata);
	/* cgroup.kill reaches every process, even one that escaped pid 1's
	 * reach; SIGKILL of pid 1 takes its whole pid namespace with it. */
	if (c->cgroup_path)
		(void)c->ops->cgroup_kill(c->cgroup_path);
	(void)c->ops->signal(c->pidfd, SIGKILL);
}

int container_stop(struct container *c, int sig, usec_t timeout)
{
	int r;

	if (c->pid < 0 || c->exited)
		return -ESRCH;
	if (c->stopping)
		return -EALREADY;
	c->stopping = true;
	/* A frozen task cannot act on KillSignal=: thaw, without waiting
	 * (the signal is delivered as each task wakes). */
	if (c->freeze_target >= 0 || c->frozen) {
		freeze_cancel(c);
		if (c->cgroup_path) {
			r = c->ops->cgroup_freeze(c->cgroup_path, false);
			if (r < 0)
				log_errno(LOG_WARNING, r, "%s: cannot thaw %s before the stop",
					  c->name, c->cgroup_path);
		}
		c->frozen = false;
	}
	if (sig == SIGKILL && c->cgroup_path)
		(void)c->ops->cgroup_kill(c->cgroup_path);
	r = c->ops->signal(c->pidfd, sig);
	if (r < 0 && r != -ESRCH)
		log_errno(LOG_WARNING, r, "%s: cannot send %s to pid %d", c->name,
			  signal_to_string(sig), (int)c->pid);
	if (timeout == USEC_INFINITY || sig == SIGKILL)
		return 0;
	c->stop_deadline = now_usec() + timeout;
	r = timer_arm_usec(c->stop_timer, timeout);
	if (r < 0) {
		/* No timer to bound the stop: do not wait for one. */
		log_errno(LOG_ERR, r, "%s: cannot arm the stop timeout, killing pid %d now",
			  c->name, (int)c->pid);
		stop_timeout_cb(-1, 0, c);
	}
	return 0;
}

int container_stop_extend(struct container *c, usec_t usec)
{
	usec_t now = now_usec();

	if (!c->stopping || !event_pending(c->stop_timer, EV_TIMEOUT, NULL))
		return -EALREADY;
	if (usec >= USEC_INFINITY - now || now + usec <= c->stop_deadline)
		return 0;
	c->stop_deadline = now + usec;
	return timer_arm_usec(c->stop_timer, usec);
}

/* --- freeze and thaw ---------------------------------------------------- */

static void freeze_check(struct container *c)
{
	int target = c->freeze_target, r;
	char buf[4096];

	if (target < 0)
		return;
	/* Only "something changed": look at the file itself. */
	if (c->watch_fd >= 0)
		while (read(c->watch_fd, buf, sizeof(buf)) > 0)
			;
	r = c->ops->cgroup_frozen(c->cgroup_path);
	if (r >= 0 && r != target) {
		usec_t now = now_usec();
		if (now < c->freeze_deadline) {
			/* Not yet: the watch wakes us, or the guard (or the
			 * polling without a watch). */
			usec_t left = c->freeze_deadline - now;
			if (c->watch_fd < 0 && left > FREEZE_POLL_USEC)
				left = FREEZE_POLL_USEC;
			if (c->watch_fd < 0 || !evtimer_pending(c->freeze_timer, NULL))
				r = timer_arm_usec(c->freeze_timer, left);
			if (r >= 0)
				return;
			log_errno(LOG_ERR, r, "%s: cannot arm the freeze guard", c->name);
		} else {
			r = -ETIMEDOUT;
		}
	}
	freeze_cancel(c);
	c->cb->freeze(c, target, r < 0 ? r : 0, c->userdata);
}

static void freeze_cb(evutil_socket_t fd, short what, void *arg)
{
	freeze_check(arg);
}

int container_freeze(struct container *c, bool freeze)
{
	int r;

	if (c->pid < 0 || c->exited)
		return -ESRCH;
	if (!c->cgroup_path)
		return -EOPNOTSUPP;
	if (c->stopping || c->freeze_target >= 0)
		return -EBUSY;
	if (c->watch_fd < 0) {
		r = c->ops->cgroup_events_watch(c->cgroup_path, &c->watch_fd);
		if (r >= 0 && event_assign(c->watch_event, c->base, c->watch_fd,
					   EV_READ | EV_PERSIST, freeze_cb, c) < 0)
			r = -EINVAL;
		if (r < 0) {
			/* Then the guard timer polls cgroup.events. */
			log_errno(LOG_DEBUG, r, "%s: no watch on %s/cgroup.events, polling it",
				  c->name, c->cgroup_path);
			c->watch_fd = safe_close(c->watch_fd);
		}
	}
	c->ever_frozen = c->ever_frozen || freeze;
	r = c->ops->cgroup_freeze(c->cgroup_path, freeze);
	if (r < 0)
		return r;
	c->frozen = freeze;
	c->freeze_target = freeze;
	c->freeze_deadline = now_usec() + CONTAINER_FREEZE_GUARD_USEC;
	if (c->watch_fd >= 0 && event_add(c->watch_event, NULL) < 0)
		c->watch_fd = safe_close(c->watch_fd);
	/* The first look from the loop, never from inside the caller. */
	r = timer_arm_usec(c->freeze_timer, 0);
	if (r < 0) {
		freeze_cancel(c);
		return r;
	}
	return 0;
}

/* --- life --------------------------------------------------------------- */

int container_new(struct event_base *base, const struct container_ops *ops, const char *name,
		  const struct container_callbacks *cb, void *userdata, struct container **ret)
{
	struct container *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->base = base;
	c->ops = ops ? ops : &container_ops_default;
	c->cb = cb;
	c->userdata = userdata;
	c->pid = -1;
	c->pidfd = c->sync_fd = c->watch_fd = -1;
	c->freeze_target = -1;
	c->name = strdup(name);
	/* Every event now, fds assigned at the spawn: a container that has
	 * started is never left without them. */
	c->exit_event = event_new(base, -1, 0, exit_cb, c);
	c->sync_event = event_new(base, -1, 0, sync_cb, c);
	c->watch_event = event_new(base, -1, 0, freeze_cb, c);
	c->stop_timer = evtimer_new(base, stop_timeout_cb, c);
	c->freeze_timer = evtimer_new(base, freeze_cb, c);
	c->retry_timer = evtimer_new(base, retry_cb, c);
	if (!c->name || !c->exit_event || !c->sync_event || !c->watch_event || !c->stop_timer ||
	    !c->freeze_timer || !c->retry_timer) {
		container_free(c);
		return -ENOMEM;
	}
	*ret = c;
	return 0;
}

/* Watches pid 1's pidfd. If it cannot, the container is killed (it must
 * not run unsupervised) and its exit polled: -ENOMEM. */
static int watch_exit(struct container *c)
{
	if (event_assign(c->exit_event, c->base, c->pidfd, EV_READ, exit_cb, c) >= 0 &&
	    event_add(c->exit_event, NULL) >= 0)
		return 0;
	log_error("%s: cannot watch pid %d, killing it", c->name, (int)c->pid);
	(void)container_stop(c, SIGKILL, USEC_INFINITY);
	if (reap_later(c) < 0)
		log_error("%s: pid %d: no event left to notice its exit", c->name, (int)c->pid);
	return -ENOMEM;
}

int container_spawn(struct container *c, const struct activator_spec *spec, char **cgroup_path)
{
	struct activator_child child = {.pid = -1, .pidfd = -1, .sync_fd = -1};
	int r;

	if (c->pid >= 0) {
		r = -EBUSY;
		goto fail;
	}
	r = c->ops->spawn(spec, &child);
	if (r < 0)
		goto fail;
	c->pid = child.pid;
	c->pidfd = child.pidfd;
	c->sync_fd = child.sync_fd;
	c->cgroup_path = cgroup_path ? *cgroup_path : NULL;
	if (cgroup_path)
		*cgroup_path = NULL;
	if (watch_exit(c) < 0)
		return 0;
	if (event_assign(c->sync_event, c->base, c->sync_fd, EV_READ | EV_PERSIST, sync_cb, c) <
		0 ||
	    event_add(c->sync_event, NULL) < 0)
		/* The outcome is then read at the exit; the payload runs. */
		log_warning("%s: cannot watch pid %d's setup: its outcome is known at its exit",
			    c->name, (int)c->pid);
	return 0;

fail:
	if (cgroup_path && *cgroup_path) {
		/* Nothing ever ran in it. */
		(void)c->ops->cgroup_remove(*cgroup_path);
		free(*cgroup_path);
		*cgroup_path = NULL;
	}
	return r;
}

int container_adopt(struct container *c, pid_t pid, int pidfd, char *cgroup_path, bool frozen)
{
	if (c->pid >= 0 || pid <= 0 || pidfd < 0)
		return -EINVAL;
	c->pid = pid;
	c->pidfd = pidfd;
	c->cgroup_path = cgroup_path;
	c->exec_reported = true; /* the earlier daemon saw the exec */
	c->frozen = frozen;
	c->ever_frozen = true; /* unknown: maybe before the re-exec */
	(void)watch_exit(c);
	return 0;
}

struct container *container_free(struct container *c)
{
	if (!c)
		return NULL;
	if (c->pid >= 0 && !c->exited) {
		/* Teardown: nothing may be left running, and nothing waits. */
		if (c->cgroup_path)
			(void)c->ops->cgroup_kill(c->cgroup_path);
		(void)c->ops->signal(c->pidfd, SIGKILL);
	}
	event_freep(&c->exit_event);
	event_freep(&c->sync_event);
	event_freep(&c->watch_event);
	event_freep(&c->stop_timer);
	event_freep(&c->freeze_timer);
	event_freep(&c->retry_timer);
	safe_close(c->pidfd);
	safe_close(c->sync_fd);
	safe_close(c->watch_fd);
	if (c->cgroup_path)
		(void)c->ops->cgroup_remove(c->cgroup_path);
	free(c->cgroup_path);
	free(c->name);
	free(c);
	return NULL;
}
