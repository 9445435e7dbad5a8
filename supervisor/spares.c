/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "spares.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "activator/cgroup.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "supervisor/manager.h"

/* Spares that die unused this many times in a row are not made again:
 * something of the host keeps killing them (logged). */
#define SPARES_DEATHS_MAX 5
/* The refill after a take that no start asked for (spares_take()). */
#define SPARES_REFILL_SEC 1

struct spare {
	struct activator_spare a;
	struct event *died;
	struct spares *owner;
};

struct spares {
	struct manager *m;
	unsigned want;
	struct spare *s[SPARES_MAX];
	unsigned n;
	unsigned deaths; /* in a row, unused */
	bool off;
	struct event *refill; /* EVENT_PRIORITY_LOW */
	struct event *later;  /* the refill after a take, if nothing asks first */
	/* BASE/:init (none without cgroups): where spares are made, and where
	 * the pid 1 of a container started in one stays. */
	int cgroup_fd;
	char *cgroup_path;
	/* Ours: a spare has a network namespace of its own, so a start of
	 * Network=host in one joins ours by this fd. */
	int netns_fd;
};

static void spare_free(struct spare *s)
{
	if (!s)
		return;
	if (s->died)
		event_free(s->died);
	activator_spare_discard(&s->a);
	free(s);
}

static void spares_remove(struct spares *sp, struct spare *s)
{
	for (unsigned i = 0; i < sp->n; i++)
		if (sp->s[i] == s) {
			sp->s[i] = sp->s[--sp->n];
			return;
		}
}

static void refill_later(struct spares *sp)
{
	if (!sp->off && !sp->m->shutting_down && sp->n < sp->want)
		event_active(sp->refill, EV_TIMEOUT, 0);
}

/* A spare ended unused: not by us (we discard before freeing the event). */
static void spare_died_cb(evutil_socket_t fd, short what, void *arg)
{
	struct spare *s = arg;
	struct spares *sp = s->owner;

	log_warning("spare pid %d ended before any start took it", (int)s->a.pid);
	spares_remove(sp, s);
	spare_free(s);
	if (++sp->deaths >= SPARES_DEATHS_MAX) {
		log_warning("%u spares in a row ended unused: no more are made (starts clone, as "
			    "with --spares=0)",
			    sp->deaths);
		sp->off = true;
		return;
	}
	refill_later(sp);
}

/* One spare more; the loop runs between two. */
static void refill_cb(evutil_socket_t fd, short what, void *arg)
{
	struct spares *sp = arg;
	struct manager *m = sp->m;
	struct spare *s;
	int r;

	if (sp->off || m->shutting_down || sp->n >= sp->want)
		return;
	s = calloc(1, sizeof(*s));
	if (!s)
		return;
	s->owner = sp;
	s->a = (struct activator_spare){.pidfd = -1, .sync_fd = -1};
	r = activator_spare_new(m->init_fd, m->slot_fd, sp->cgroup_fd, &s->a);
	if (r < 0) {
		log_errno(LOG_WARNING, r, "cannot make a spare container: no spares");
		sp->off = true;
		spare_free(s);
		return;
	}
	s->died = event_new(m->base, s->a.pidfd, EV_READ, spare_died_cb, s);
	if (!s->died || event_add(s->died, NULL) < 0) {
		spare_free(s);
		return;
	}
	sp->s[sp->n++] = s;
	log_debug("spare pid %d made", (int)s->a.pid);
	refill_later(sp);
}

struct spares *spares_new(struct manager *m, unsigned want)
{
	struct spares *sp;

	if (want == 0)
		return NULL;
	if (m->mount_template_fd < 0 || geteuid() != 0 || m->slot_fd < 0) {
		log_debug("no spare containers: they need root and the mount template");
		return NULL;
	}
	sp = calloc(1, sizeof(*sp));
	if (!sp)
		return NULL;
	sp->m = m;
	sp->want = want < SPARES_MAX ? want : SPARES_MAX;
	sp->cgroup_fd = -1;
	sp->netns_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (sp->netns_fd < 0) {
		log_errno(LOG_WARNING, -errno,
			  "cannot open /proc/self/ns/net: no spare containers");
		return spares_free(sp);
	}
	if (m->have_cgroup) {
		_cleanup_free_ char *rel = NULL;
		int r;

		if (asprintf(&rel, "%s/:init", m->cgroup_base) < 0)
			return spares_free(sp);
		r = cgroup_create(&m->cgroup, rel, &sp->cgroup_fd, &sp->cgroup_path);
		if (r < 0) {
			log_errno(LOG_WARNING, r, "cannot create cgroup %s: no spare containers",
				  rel);
			return spares_free(sp);
		}
	}
	sp->refill = event_new(m->base, -1, 0, refill_cb, sp);
	sp->later = evtimer_new(m->base, refill_cb, sp);
	if (!sp->refill || !sp->later || event_priority_set(sp->refill, EVENT_PRIORITY_LOW) < 0 ||
	    event_priority_set(sp->later, EVENT_PRIORITY_LOW) < 0)
		return spares_free(sp);
	refill_later(sp);
	return sp;
}

int spares_take(struct spares *sp, struct activator_spare *ret)
{
	struct spare *s;

	if (!sp || sp->n == 0)
		return -ENOENT;
	s = sp->s[--sp->n];
	sp->deaths = 0;
	event_free(s->died);
	*ret = s->a;
	free(s);
	/* Not now: a new spare's clone, exec and setup would take CPU from
	 * the start that took this one (on this 2-CPU machine they made a
	 * run of back-to-back starts no faster than clones). The start asks
	 * once its payload runs (spares_refill()); this is in case none does. */
	(void)evtimer_add(sp->later, &(struct timeval){.tv_sec = SPARES_REFILL_SEC});
	return 0;
}

int spares_host_netns(const struct spares *sp)
{
	return sp ? sp->netns_fd : -1;
}

void spares_refill(struct spares *sp)
{
	if (sp)
		refill_later(sp);
}

struct spares *spares_free(struct spares *sp)
{
	if (!sp)
		return NULL;
	while (sp->n > 0)
		spare_free(sp->s[--sp->n]);
	if (sp->refill)
		event_free(sp->refill);
	if (sp->later)
		event_free(sp->later);
	safe_close(sp->cgroup_fd);
	safe_close(sp->netns_fd);
	/* Only if empty: the pid 1 of a running container stays in it
	 * (a re-exec hands those over); the daemon's exit removes it with
	 * the cgroups below its base. */
	if (sp->cgroup_path)
		(void)rmdir(sp->cgroup_path);
	free(sp->cgroup_path);
	free(sp);
	return NULL;
}
