/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Type=notify, StartTimeoutSec=, WatchdogSec=: see readiness.h. */
#include "readiness.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/strv.h"
#include "supervisor/container.h"
#include "supervisor/event-util.h"
#include "supervisor/manager.h"
#include "supervisor/output.h"
#include "supervisor/service.h"

static const char *name(const struct service *s)
{
	return s->cfg->name;
}

static bool wants_socket(const struct service *s)
{
	const struct service_settings *st = &s->cfg->service;

	return st->type == SERVICE_TYPE_NOTIFY || (st->watchdog && st->watchdog != USEC_INFINITY);
}

static bool watchdog_on(const struct service *s)
{
	usec_t w = s->cfg->service.watchdog;

	return w && w != USEC_INFINITY;
}

static pid_t pid_of(const struct service *s)
{
	return s->container ? container_pid(s->container) : -1;
}

/* The daemon ends the container; its exit counts as a failed run. */
static void stop_failed(struct service *s, const char *why)
{
	s->ready.failure = why;
	(void)service_stop(s, why);
}

static void start_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct service *s = arg;
	char buf[64];

	if (s->state != SERVICE_STARTING)
		return;
	log_error("%s: container pid %d not ready within StartTimeoutSec=%s, stopping it", name(s),
		  (int)pid_of(s), format_duration(buf, sizeof(buf), s->cfg->service.start_timeout));
	stop_failed(s, "start timeout");
}

static void watchdog_fire(struct service *s, const char *what)
{
	char buf[64];

	if (s->state != SERVICE_STARTING && s->state != SERVICE_RUNNING)
		return;
	event_del(s->ready.watchdog_timer);
	s->stats.watchdog_stops++;
	log_warning("%s: watchdog: %s (WatchdogSec=%s), stopping container pid %d", name(s), what,
		    format_duration(buf, sizeof(buf), s->cfg->service.watchdog), (int)pid_of(s));
	stop_failed(s, "watchdog timeout");
}

static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	watchdog_fire(arg, "no WATCHDOG=1 in time");
}

static void watchdog_arm(struct service *s)
{
	int r;

	if (!watchdog_on(s))
		return;
	r = timer_arm_usec(s->ready.watchdog_timer, s->cfg->service.watchdog);
	if (r < 0)
		log_errno(LOG_ERR, r, "%s: cannot arm WatchdogSec=: no watchdog for this run",
			  name(s));
}

/* EXTEND_TIMEOUT_USEC=: the current start (or stop) must not end before
 * usec from now; a later deadline stays (sd_notify(3)). */
static void extend_timeout(struct service *s, usec_t usec)
{
	usec_t now = now_usec();
	int r;

	if (s->state == SERVICE_STOPPING) {
		(void)container_stop_extend(s->container, usec);
		return;
	}
	if (s->state != SERVICE_STARTING || !event_pending(s->ready.start_timer, EV_TIMEOUT, NULL))
		return;
	if (usec >= USEC_INFINITY - now || now + usec <= s->ready.start_deadline)
		return;
	s->ready.start_deadline = now + usec;
	r = timer_arm_usec(s->ready.start_timer, usec);
	if (r < 0)
		log_errno(LOG_ERR, r, "%s: cannot extend StartTimeoutSec=", name(s));
}

static void keep_status(struct service *s, const char *text, size_t len)
{
	bool cut = false;

	output_escape(text, len, s->ready.status, sizeof(s->ready.status) - 1, &cut);
	log_debug("%s: STATUS=%s%s", name(s), s->ready.status, cut ? "…" : "");
}

static void message_cb(struct notify *n, const struct notify_message *msg, void *userdata)
{
	struct service *s = userdata;

	if (msg->status)
		keep_status(s, msg->status, msg->status_len);
	if (msg->have_errno && msg->errno_value != s->ready.errno_value) {
		s->ready.errno_value = msg->errno_value;
		log_info("%s: the container reports ERRNO=%d (%s)", name(s), msg->errno_value,
			 strerror(msg->errno_value));
	}
	if (msg->have_extend)
		extend_timeout(s, msg->extend_usec);
	if (msg->watchdog && event_pending(s->ready.watchdog_timer, EV_TIMEOUT, NULL))
		watchdog_arm(s);
	if (msg->reloading && !s->ready.reloading && s->state == SERVICE_RUNNING) {
		s->ready.reloading = true;
		log_info("%s: the container is reloading (RELOADING=1)", name(s));
	}
	if (msg->ready) {
		s->ready.ready = true;
		if (s->ready.reloading) {
			s->ready.reloading = false;
			log_info("%s: the container has reloaded (READY=1)", name(s));
		}
		if (s->state == SERVICE_STARTING) {
			usec_t took = now_usec() - s->started_at;
			s->stats.last_start = took;
			histogram_observe(&s->stats.ready, took);
			log_info("%s: container pid %d ready in %.1f ms (READY=1)", name(s),
				 (int)pid_of(s), (double)took / 1000.0);
			(void)service_set_state(s, SERVICE_RUNNING, "READY=1");
		}
	}
	if (msg->stopping && (s->state == SERVICE_STARTING || s->state == SERVICE_RUNNING)) {
		log_info("%s: container pid %d is stopping (STOPPING=1)", name(s), (int)pid_of(s));
		/* Without a signal; StopTimeoutSec= still bounds the exit. */
		if (service_set_state(s, SERVICE_STOPPING, "STOPPING=1") == 0) {
			s->stop_started_at = now_usec();
			(void)container_stop(s->container, 0, s->cfg->service.stop_timeout);
		}
	}
	if (msg->watchdog_trigger)
		watchdog_fire(s, "WATCHDOG=trigger");
}

int readiness_init(struct service *s)
{
	struct event_base *base = s->manager->base;

	s->ready.start_timer = evtimer_new(base, start_timeout_cb, s);
	s->ready.watchdog_timer = evtimer_new(base, watchdog_cb, s);
	return s->ready.start_timer && s->ready.watchdog_timer ? 0 : -ENOMEM;
}

void readiness_done(struct service *s)
{
	event_freep(&s->ready.start_timer);
	event_freep(&s->ready.watchdog_timer);
	s->ready.notify = notify_free(s->ready.notify);
}

int readiness_prepare(struct service *s)
{
	struct manager *m = s->manager;
	int r;

	s->ready.notify = notify_free(s->ready.notify);
	s->ready.ready = false;
	s->ready.reloading = false;
	s->ready.failure = NULL;
	s->ready.errno_value = 0;
	s->ready.status[0] = '\0';
	if (!wants_socket(s))
		return 0;
	r = notify_new(m->base, m->notify_dir, m->notify_seq++, name(s), message_cb, s,
		       &s->ready.notify);
	if (r < 0)
		return log_errno(LOG_ERR, r, "%s: cannot make the notification socket in %s",
				 name(s), m->notify_dir);
	return 0;
}

int readiness_spec(struct service *s, struct service_spec *sp, size_t *n_binds)
{
	char buf[64];
	int r;

	if (!s->ready.notify)
		return 0;
	/* The container's /run is its own tmpfs: /run/host is made there. */
	sp->binds[(*n_binds)++] = (struct activator_bind){
	    .source = notify_path(s->ready.notify),
	    .target = NOTIFY_PATH_IN_CONTAINER,
	};
	r = strv_env_set(&sp->env, "NOTIFY_SOCKET=" NOTIFY_PATH_IN_CONTAINER);
	if (r < 0 || !watchdog_on(s))
		return r;
	/* No WATCHDOG_PID: sd_watchdog_enabled() then takes any process
	 * (the payload is pid 2 behind nsinetd-init; LISTEN_PID is set by
	 * pid 2 itself, see activator/init.c). */
	snprintf(buf, sizeof(buf), "WATCHDOG_USEC=%llu",
		 (unsigned long long)s->cfg->service.watchdog);
	return strv_env_set(&sp->env, buf);
}

int readiness_adopt(struct service *s, int fd, const char *path, pid_t pid1)
{
	int r;

	s->ready.notify = notify_free(s->ready.notify);
	s->ready.ready = true; /* running: READY=1 came before the re-exec */
	s->ready.reloading = false;
	s->ready.failure = NULL;
	if (fd < 0)
		return 0;
	r = notify_adopt(s->manager->base, fd, path, name(s), message_cb, s, &s->ready.notify);
	if (r < 0)
		return log_errno(LOG_ERR, r, "%s: cannot take over the notification socket %s",
				 name(s), path);
	readiness_spawned(s, pid1);
	return 0;
}

void readiness_spawned(struct service *s, pid_t pid1)
{
	int r;

	if (!s->ready.notify)
		return;
	if (pid1 < 0) {
		s->ready.notify = notify_free(s->ready.notify);
		return;
	}
	r = notify_set_pid(s->ready.notify, pid1);
	if (r < 0)
		log_errno(LOG_WARNING, r,
			  "%s: cannot read the pid namespace of pid %d: its notifications are "
			  "refused",
			  name(s), (int)pid1);
}

bool readiness_exec(struct service *s)
{
	if (s->state == SERVICE_STARTING || s->state == SERVICE_RUNNING)
		watchdog_arm(s);
	return s->cfg->service.type == SERVICE_TYPE_SIMPLE;
}

void readiness_state_changed(struct service *s)
{
	usec_t t = s->cfg->service.start_timeout;
	int r;

	if (s->state == SERVICE_STARTING) {
		if (t != USEC_INFINITY && !event_pending(s->ready.start_timer, EV_TIMEOUT, NULL)) {
			s->ready.start_deadline = now_usec() + t;
			r = timer_arm_usec(s->ready.start_timer, t);
			if (r < 0)
				log_errno(LOG_ERR, r, "%s: cannot arm StartTimeoutSec=", name(s));
		}
		return;
	}
	event_del(s->ready.start_timer);
	/* A fresh period at each entry to running (a thaw too); paused while
	 * frozen, off once stopping. */
	if (s->state == SERVICE_RUNNING)
		watchdog_arm(s);
	else
		event_del(s->ready.watchdog_timer);
}

void readiness_exit(struct service *s)
{
	/* A READY=1 it sent before it exited still counts. */
	notify_drain(s->ready.notify);
	event_del(s->ready.start_timer);
	event_del(s->ready.watchdog_timer);
	s->ready.notify = notify_free(s->ready.notify);
}
