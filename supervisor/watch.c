/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "supervisor/watch.h"

#include <errno.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "common/log.h"
#include "supervisor/event-util.h"
#include "supervisor/manager.h"
#include "supervisor/service.h"

/* What changes a directory of service files. IN_CLOSE_WRITE, not IN_MODIFY:
 * a file being written is read once it is closed. IN_MOVED_TO is an
 * editor's (or a ConfigMap's ..data) rename into place; IN_ATTRIB a mode
 * or a symlink's target directory changed in place. */
#define WATCH_MASK                                                                                 \
	(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB |        \
	 IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
/* Events read per wake-up: the rest wait for the next one. */
#define WATCH_READS 16

struct watch {
	struct manager *m;
	int fd;
	int wd; /* -1: the directory is gone, retried on the timer */
	struct event *ev;
	struct event *timer;
	usec_t first_change; /* of the burst not reloaded yet; 0: none */
	bool missing_logged;
};

/* Watches the directory again; 0 or -errno. */
static int watch_add(struct watch *w)
{
	w->wd = inotify_add_watch(w->fd, w->m->config_dir, WATCH_MASK);
	return w->wd < 0 ? -errno : 0;
}

/* A change: the reload comes WATCH_SETTLE_USEC after the last one, but no
 * later than WATCH_MAX_DELAY_USEC after the first (a directory written to
 * without pause is still reloaded). */
static void changed(struct watch *w)
{
	usec_t now = now_usec(), wait = WATCH_SETTLE_USEC;

	if (!w->first_change)
		w->first_change = now;
	else if (now - w->first_change + wait > WATCH_MAX_DELAY_USEC)
		wait = now - w->first_change >= WATCH_MAX_DELAY_USEC
			   ? 0
			   : WATCH_MAX_DELAY_USEC - (now - w->first_change);
	if (timer_arm_usec(w->timer, wait) < 0) {
		log_error("watch: cannot arm the reload timer; reloading now");
		w->first_change = 0;
		(void)manager_reload(w->m, NULL);
	}
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct watch *w = arg;

	if (w->wd < 0) {
		int r = watch_add(w);

		if (r < 0) {
			if (!w->missing_logged)
				log_errno(LOG_WARNING, r,
					  "watch: cannot watch %s (retrying every %llums)",
					  w->m->config_dir,
					  (unsigned long long)(WATCH_RETRY_USEC / USEC_PER_MSEC));
			w->missing_logged = true;
			(void)timer_arm_usec(w->timer, WATCH_RETRY_USEC);
			return;
		}
		w->missing_logged = false;
		log_info("watch: watching %s again", w->m->config_dir);
	}
	w->first_change = 0;
	log_info("watch: %s changed, reloading", w->m->config_dir);
	/* The path of SIGHUP and nsinetctl reload: the same log, report,
	 * metrics; a broken file keeps its running version. */
	(void)manager_reload(w->m, NULL);
}

static void inotify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct watch *w = arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool any = false, lost = false;

	for (int i = 0; i < WATCH_READS; i++) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n <= 0)
			break;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *e = (const struct inotify_event *)p;

			p += sizeof(*e) + e->len;
			if (e->mask & IN_Q_OVERFLOW) {
				any = true; /* what changed is lost: reload anyway */
				continue;
			}
			if (e->wd != w->wd)
				continue;
			/* The directory itself went away (removed, renamed: a
			 * new one may be put in its place). */
			if (e->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED))
				lost = true;
			any = true;
		}
	}
	if (lost && w->wd >= 0) {
		(void)inotify_rm_watch(w->fd, w->wd);
		w->wd = -1;
		/* Perhaps back already (a rename into place). */
		if (watch_add(w) == 0)
			log_info("watch: %s was replaced, watching the new one", w->m->config_dir);
	}
	if (any)
		changed(w);
}

int watch_new(struct manager *m, struct watch **ret)
{
	struct watch *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return log_errno(LOG_ERR, -ENOMEM, "--watch: out of memory");
	w->m = m;
	w->wd = -1;
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) {
		r = log_errno(LOG_ERR, -errno, "--watch: inotify_init1");
		watch_free(w);
		return r;
	}
	r = watch_add(w);
	if (r < 0) {
		log_errno(LOG_ERR, r, "--watch: cannot watch %s", m->config_dir);
		watch_free(w);
		return r;
	}
	w->ev = event_new(m->base, w->fd, EV_READ | EV_PERSIST, inotify_cb, w);
	w->timer = evtimer_new(m->base, timer_cb, w);
	if (!w->ev || !w->timer || event_add(w->ev, NULL) < 0) {
		watch_free(w);
		return log_errno(LOG_ERR, -ENOMEM, "--watch: cannot poll inotify");
	}
	log_info("watching %s: a change reloads", m->config_dir);
	*ret = w;
	return 0;
}

struct watch *watch_free(struct watch *w)
{
	if (!w)
		return NULL;
	event_freep(&w->ev);
	event_freep(&w->timer);
	if (w->fd >= 0)
		close(w->fd);
	free(w);
	return NULL;
}
