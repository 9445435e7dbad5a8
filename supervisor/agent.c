/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "supervisor/agent.h"

#include <errno.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/parse.h"
#include "supervisor/event-util.h"
#include "supervisor/health.h"
#include "supervisor/manager.h"
#include "supervisor/service.h"
#include "supervisor/tcp-server.h"

#define AGENT_ACCEPT_BATCH 16
#define AGENT_EMFILE_USEC  (100 * USEC_PER_MSEC)
/* Complaints about clients (unknown names, bad lines, too many clients):
 * AGENT_LOG_BURST lines per AGENT_LOG_USEC, then a count. */
#define AGENT_LOG_BURST 5
#define AGENT_LOG_USEC  (10 * USEC_PER_SEC)

struct agent_client {
	struct agent *a;
	int fd;
	struct event *ev;
	usec_t deadline;
	size_t n;
	char buf[HEALTH_LINE_MAX];
};

struct agent {
	struct manager *m;
	char *address;
	int fd;
	struct event *listen_ev;
	struct event *resume_timer; /* EMFILE: accept again later */
	struct agent_client *clients[AGENT_CLIENTS_MAX];
	unsigned n_clients;
	usec_t log_window;
	unsigned logged, suppressed;
};

/* A complaint about a client, rate limited (a balancer misconfigured, or
 * somebody probing, must not fill the log). */
static void complain(struct agent *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void complain(struct agent *a, const char *fmt, ...)
{
	usec_t now = now_usec();
	va_list ap;

	if (now - a->log_window >= AGENT_LOG_USEC) {
		if (a->suppressed)
			log_warning("agent: %u more complaint(s) about clients not logged",
				    a->suppressed);
		a->log_window = now;
		a->logged = a->suppressed = 0;
	}
	if (a->logged >= AGENT_LOG_BURST) {
		a->suppressed++;
		return;
	}
	a->logged++;
	va_start(ap, fmt);
	log_vmsg(LOG_WARNING, fmt, ap);
	va_end(ap);
}

static void client_free(struct agent_client *cl)
{
	struct agent *a = cl->a;
	char junk[512];

	for (unsigned i = 0; i < AGENT_CLIENTS_MAX; i++)
		if (a->clients[i] == cl) {
			a->clients[i] = NULL;
			a->n_clients--;
		}
	/* What the client sent beyond its line: read, so that the close is a
	 * FIN after the answer and not a reset that could discard it. */
	for (int i = 0; i < 8 && recv(cl->fd, junk, sizeof(junk), MSG_DONTWAIT) > 0; i++)
		;
	event_freep(&cl->ev);
	close(cl->fd);
	free(cl);
}

static void answer(struct agent_client *cl, enum health h, const char *why)
{
	char line[HEALTH_ANSWER_MAX];
	size_t len = health_agent_answer(h, why, line, sizeof(line));

	/* At most a hundred bytes into an empty socket buffer: it fits, or
	 * the client is gone. */
	(void)send(cl->fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	client_free(cl);
}

static int client_arm(struct agent_client *cl)
{
	usec_t now = now_usec();

	return timer_arm_usec(cl->ev, cl->deadline > now ? cl->deadline - now : 0);
}

static void client_cb(evutil_socket_t fd, short what, void *arg)
{
	struct agent_client *cl = arg;
	char name[HEALTH_LINE_MAX];
	const char *why = NULL;
	enum health h;
	ssize_t k;
	int r;

	if (what & EV_TIMEOUT) {
		log_debug("agent: a client sent no line within %ds", AGENT_TIMEOUT_SEC);
		client_free(cl);
		return;
	}
	k = recv(fd, cl->buf + cl->n, sizeof(cl->buf) - cl->n, MSG_DONTWAIT);
	if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
		if (client_arm(cl) < 0)
			client_free(cl);
		return;
	}
	if (k <= 0) {
		/* Gone before a whole line: nothing to answer. */
		client_free(cl);
		return;
	}
	cl->n += (size_t)k;
	r = health_parse_line(cl->buf, cl->n, name);
	if (r == -EAGAIN) {
		if (client_arm(cl) < 0)
			client_free(cl);
		return;
	}
	if (r == -E2BIG) {
		complain(cl->a, "agent: a request line longer than %d bytes", HEALTH_LINE_MAX - 1);
		answer(cl, HEALTH_DOWN, "line too long");
		return;
	}
	if (r < 0) {
		complain(cl->a, "agent: a request that is not a service name (HAProxy: "
				"agent-send \"NAME\\n\")");
		answer(cl, HEALTH_DOWN, "not a service name");
		return;
	}
	h = health_of(health_find(cl->a->m, name), &why);
	if (h == HEALTH_UNKNOWN)
		complain(cl->a, "agent: asked about '%s', which is not a service", name);
	answer(cl, h, why);
}

static void listen_cb(evutil_socket_t fd, short what, void *arg);

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a = arg;

	if (event_add(a->listen_ev, NULL) < 0)
		log_error("agent: cannot poll %s again", a->address);
}

static void client_new(struct agent *a, int fd)
{
	struct agent_client *cl;
	unsigned slot = 0;

	if (a->n_clients >= AGENT_CLIENTS_MAX) {
		complain(a, "agent: more than %d clients at a time, closing one",
			 AGENT_CLIENTS_MAX);
		close(fd);
		return;
	}
	while (a->clients[slot])
		slot++;
	cl = calloc(1, sizeof(*cl));
	if (!cl) {
		close(fd);
		return;
	}
	cl->a = a;
	cl->fd = fd;
	cl->deadline = now_usec() + AGENT_TIMEOUT_SEC * USEC_PER_SEC;
	cl->ev = event_new(a->m->base, fd, EV_READ, client_cb, cl);
	a->clients[slot] = cl;
	a->n_clients++;
	if (!cl->ev || client_arm(cl) < 0)
		client_free(cl);
}

static void listen_cb(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a = arg;

	for (int i = 0; i < AGENT_ACCEPT_BATCH; i++) {
		int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (c >= 0) {
			client_new(a, c);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* Out of fds: stop polling for a while, clients wait in
			 * the backlog (a retry would spin). */
			log_warning("agent: accept: %s, pausing", strerror(errno));
			event_del(a->listen_ev);
			if (timer_arm_usec(a->resume_timer, AGENT_EMFILE_USEC) < 0)
				resume_cb(-1, 0, a);
		}
		return;
	}
}

int agent_new(struct manager *m, const char *address, struct agent **ret)
{
	struct agent *a;
	int fd = -1, r;

	r = tcp_server_bind("--agent", address, 64, &fd);
	if (r < 0)
		return r;
	a = calloc(1, sizeof(*a));
	if (!a) {
		close(fd);
		return log_errno(LOG_ERR, -ENOMEM, "--agent: out of memory");
	}
	a->m = m;
	a->fd = fd;
	a->address = strdup(address);
	a->listen_ev = event_new(m->base, fd, EV_READ | EV_PERSIST, listen_cb, a);
	a->resume_timer = evtimer_new(m->base, resume_cb, a);
	if (!a->address || !a->listen_ev || !a->resume_timer || event_add(a->listen_ev, NULL) < 0) {
		agent_free(a);
		return log_errno(LOG_ERR, -ENOMEM, "--agent %s: cannot serve", address);
	}
	log_info("agent-check at %s", address);
	*ret = a;
	return 0;
}

struct agent *agent_free(struct agent *a)
{
	if (!a)
		return NULL;
	for (unsigned i = 0; i < AGENT_CLIENTS_MAX; i++)
		if (a->clients[i])
			client_free(a->clients[i]);
	event_freep(&a->listen_ev);
	event_freep(&a->resume_timer);
	if (a->fd >= 0)
		close(a->fd);
	free(a->address);
	free(a);
	return NULL;
}
