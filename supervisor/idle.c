/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "idle.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "netns/sockdiag.h"
#include "supervisor/manager.h"
#include "supervisor/service.h"

/* Tick bounds: a quarter of the shortest idle time, within these. */
#define TICK_MIN_USEC (100 * USEC_PER_MSEC)
#define TICK_MAX_USEC (1 * USEC_PER_SEC)

/* The TCP states that keep a service awake: a handshake under way, an open
 * connection, one the client closed but the service still holds. Not those
 * the service already closed (FIN_WAIT*, LAST_ACK, TIME_WAIT…): the kernel
 * finishes them without the container. Asking the kernel for these only
 * also keeps TIME_WAIT sockets out of every dump. */
#define TCP_NEW_SYN_RECV 12
#define TCP_AWAKE_STATES                                                                           \
	((1U << TCP_LISTEN) | (1U << TCP_ESTABLISHED) | (1U << TCP_SYN_RECV) |                     \
	 (1U << TCP_CLOSE_WAIT) | (1U << TCP_NEW_SYN_RECV))

/* One listener of a watched service, for matching sockets to services. */
struct watch {
	struct service *s;
	const struct listen_config *lc;
	uint16_t port; /* inet: host order; 0 for unix */
};

struct tick {
	struct watch *w;
	size_t n;
	usec_t traffic_window_ms;
};

static bool watched(const struct service *s)
{
	const struct service_settings *st = &s->cfg->service;

	if (!st->idle_freeze && !st->idle_stop)
		return false;
	/* A frozen container needs no tick, except to notice data on a
	 * connection it kept open (IdleConnections=traffic); one an operator
	 * froze (held) none at all. */
	return s->state == SERVICE_RUNNING || (s->state == SERVICE_FROZEN && !s->held &&
					       st->idle_connections == IDLE_CONNECTIONS_TRAFFIC);
}

static usec_t tick_interval(struct manager *m)
{
	usec_t shortest = USEC_INFINITY, t;

	for (size_t i = 0; i < m->n_services; i++) {
		const struct service_settings *st = &m->services[i]->cfg->service;

		if (!watched(m->services[i]))
			continue;
		if (st->idle_freeze && st->idle_freeze < shortest)
			shortest = st->idle_freeze;
		if (st->idle_stop && st->idle_stop < shortest)
			shortest = st->idle_stop;
	}
	if (shortest == USEC_INFINITY)
		return 0;
	t = shortest / 4;
	return t < TICK_MIN_USEC ? TICK_MIN_USEC : t > TICK_MAX_USEC ? TICK_MAX_USEC : t;
}

static uint16_t listen_port(const struct listen_config *lc)
{
	const union sockaddr_union *sa = &lc->address.sa;

	if (sa->sa.sa_family == AF_INET)
		return ntohs(sa->in.sin_port);
	if (sa->sa.sa_family == AF_INET6)
		return ntohs(sa->in6.sin6_port);
	return 0;
}

static int cmp_watch(const void *a, const void *b)
{
	const struct watch *x = a, *y = b;

	return (int)x->port - (int)y->port;
}

/* Does a socket's local address belong to this inet listener? A listener
 * on the any-address takes every local address of its port. */
static bool inet_match(const struct listen_config *lc, int family, const struct in6_addr *addr)
{
	const union sockaddr_union *sa = &lc->address.sa;
	static const struct in6_addr any6 = IN6ADDR_ANY_INIT;

	if (sa->sa.sa_family != family)
		return false;
	if (family == AF_INET)
		return sa->in.sin_addr.s_addr == htonl(INADDR_ANY) ||
		       memcmp(&addr->s6_addr[12], &sa->in.sin_addr, 4) == 0;
	return memcmp(&sa->in6.sin6_addr, &any6, sizeof(any6)) == 0 ||
	       memcmp(&sa->in6.sin6_addr, addr, sizeof(*addr)) == 0;
}

static void count(struct service *s, bool listener, uint32_t rqueue, bool has_traffic)
{
	if (listener) {
		s->idle.queued += rqueue;
	} else {
		s->idle.connections++;
		if (has_traffic)
			s->idle.active++;
		s->idle.pending += rqueue;
	}
}

static void inet_cb(const struct sockdiag_inet *d, void *userdata)
{
	struct tick *t = userdata;
	struct watch key = {.port = d->lport};
	struct watch *w = bsearch(&key, t->w, t->n, sizeof(*t->w), cmp_watch);

	if (!w)
		return;
	/* bsearch lands anywhere in a run of equal ports: go to its start. */
	while (w > t->w && w[-1].port == d->lport)
		w--;
	for (; w < t->w + t->n && w->port == d->lport; w++) {
		bool dgram = w->lc->type == LISTEN_DATAGRAM;
		bool traffic;

		if (!inet_match(w->lc, d->family, &d->laddr))
			continue;
		if (dgram) {
			/* The listener itself: its receive queue. */
			count(w->s, true, d->rqueue, false);
			return;
		}
		traffic = !d->has_info || d->last_data_recv_ms < t->traffic_window_ms ||
			  d->last_data_sent_ms < t->traffic_window_ms;
		count(w->s, d->state == TCP_LISTEN, d->rqueue, traffic);
		return;
	}
}

static void unix_cb(const struct sockdiag_unix *d, void *userdata)
{
	struct tick *t = userdata;

	for (size_t i = 0; i < t->n; i++) {
		const struct listen_config *lc = t->w[i].lc;
		const struct socket_address *a = &lc->address;
		size_t off = offsetof(struct sockaddr_un, sun_path);
		size_t len = a->len > off ? a->len - off : 0;

		if (a->sa.sa.sa_family != AF_UNIX)
			continue;
		/* Path names may or may not count their NUL. */
		while (len > 0 && a->sa.un.sun_path[0] && a->sa.un.sun_path[len - 1] == '\0')
			len--;
		if (d->name_len < len || memcmp(d->name, a->sa.un.sun_path, len) != 0 ||
		    (d->name_len > len && d->name[len] != '\0'))
			continue;
		if (lc->type == LISTEN_DATAGRAM)
			count(t->w[i].s, true, d->rqueue, false);
		else
			count(t->w[i].s, d->state == TCP_LISTEN, d->rqueue, true);
		return;
	}
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct manager *m = arg;
	struct tick t = {0};
	bool tcp4 = false, tcp6 = false, udp4 = false, udp6 = false, unx = false;
	usec_t now = now_usec();
	size_t n = 0;
	int r;

	for (size_t i = 0; i < m->n_services; i++)
		if (watched(m->services[i]))
			n += m->services[i]->cfg->socket.n_listen;
	if (n == 0) {
		idle_update(m);
		return;
	}
	t.w = calloc(n, sizeof(*t.w));
	if (!t.w)
		return;
	t.traffic_window_ms = (m->idle_tick + 100 * USEC_PER_MSEC) / USEC_PER_MSEC;
	for (size_t i = 0; i < m->n_services; i++) {
		struct service *s = m->services[i];

		if (!watched(s))
			continue;
		memset(&s->idle, 0, sizeof(s->idle));
		for (size_t j = 0; j < s->cfg->socket.n_listen; j++) {
			const struct listen_config *lc = &s->cfg->socket.listen[j];
			int family = lc->address.sa.sa.sa_family;

			t.w[t.n++] = (struct watch){s, lc, listen_port(lc)};
			if (family == AF_UNIX)
				unx = true;
			else if (lc->type == LISTEN_DATAGRAM)
				*(family == AF_INET ? &udp4 : &udp6) = true;
			else
				*(family == AF_INET ? &tcp4 : &tcp6) = true;
		}
	}
	qsort(t.w, t.n, sizeof(*t.w), cmp_watch);

	/* One dump per family in use; a failed dump makes this tick count
	 * as busy (never stop a container on missing data). */
	r = 0;
	if (tcp4 && r >= 0)
		r = sockdiag_dump_inet(AF_INET, IPPROTO_TCP, TCP_AWAKE_STATES, true, inet_cb, &t);
	if (tcp6 && r >= 0)
		r = sockdiag_dump_inet(AF_INET6, IPPROTO_TCP, TCP_AWAKE_STATES, true, inet_cb, &t);
	if (udp4 && r >= 0)
		r = sockdiag_dump_inet(AF_INET, IPPROTO_UDP, ~0U, false, inet_cb, &t);
	if (udp6 && r >= 0)
		r = sockdiag_dump_inet(AF_INET6, IPPROTO_UDP, ~0U, false, inet_cb, &t);
	if (unx && r >= 0)
		r = sockdiag_dump_unix((1U << TCP_LISTEN) | (1U << TCP_ESTABLISHED) |
					   (1U << TCP_CLOSE) | (1U << TCP_CLOSE_WAIT),
				       unix_cb, &t);
	if (r < 0)
		log_errno(LOG_WARNING, r, "idle accounting: socket dump failed, counting as busy");

	/* Decisions may change the table (a stop frees nothing, but be
	 * safe): walk a snapshot. */
	{
		_cleanup_free_ struct service **snap = calloc(m->n_services + 1, sizeof(*snap));
		size_t k = 0;

		if (snap) {
			for (size_t i = 0; i < m->n_services; i++)
				if (watched(m->services[i]))
					snap[k++] = m->services[i];
			for (size_t i = 0; i < k; i++)
				service_idle_tick(snap[i], r < 0, now);
		}
	}
	free(t.w);
	idle_update(m);
}

void idle_update(struct manager *m)
{
	usec_t interval = m->shutting_down ? 0 : tick_interval(m);
	struct timeval tv;

	if (interval == 0) {
		if (m->idle_timer && evtimer_pending(m->idle_timer, NULL))
			evtimer_del(m->idle_timer);
		m->idle_tick = 0;
		return;
	}
	if (!m->idle_timer) {
		m->idle_timer = event_new(m->base, -1, EV_PERSIST, tick_cb, m);
		if (!m->idle_timer)
			return;
	}
	if (interval == m->idle_tick && evtimer_pending(m->idle_timer, NULL))
		return;
	m->idle_tick = interval;
	tv.tv_sec = (time_t)(interval / USEC_PER_SEC);
	tv.tv_usec = (suseconds_t)(interval % USEC_PER_SEC);
	evtimer_add(m->idle_timer, &tv);
	log_debug("idle tick every %" PRIu64 " ms", interval / USEC_PER_MSEC);
}

void idle_done(struct manager *m)
{
	if (m->idle_timer)
		event_free(m->idle_timer);
	m->idle_timer = NULL;
}
