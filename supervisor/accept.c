/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Accept=yes: one sandbox per connection (see accept.h for the limits).
 *
 *   listener readable ──accept4──► refused? (per-source limit: close, log)
 *                                     │
 *            pool has one? ──yes──► activator_handoff() ──► serving
 *                                     │ no
 *                                     └──► activator_spawn() ──► serving
 *   serving ──pidfd readable──► reaped, one log line, limits re-checked
 *
 * The daemon keeps its own copy of a connection (conn_fd) only while it
 * needs one (sandbox_keeps_conn()): RuntimeMaxSec= shuts it down so that the
 * client sees the end at once, and an idle check can read its TCP state.
 * Otherwise the copy is closed once the sandbox has it: the client sees the
 * end when the program exits, not after the sandbox's namespaces are torn
 * down and pid 1 reaped (a mount namespace's teardown alone takes ms).
 */
#include "accept.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "activator/activator.h"
#include "activator/cgroup.h"
#include "common/cleanup.h"
#include "common/fd-util.h"
#include "common/log.h"
#include "common/strv.h"
#include "supervisor/container.h"
#include "supervisor/event-util.h"
#include "supervisor/listener.h"
#include "supervisor/manager.h"
#include "supervisor/output.h"
#include "supervisor/service.h"

/* Connections taken per wake-up of a listener: others' events get a turn. */
#define ACCEPT_BATCH 16
/* How long accepting pauses after EMFILE/ENFILE/ENOBUFS/ENOMEM. */
#define ACCEPT_EMFILE_RETRY (100 * USEC_PER_MSEC)
/* Refusals of one source (and EMFILE pauses) are logged once per interval. */
#define ACCEPT_LOG_INTERVAL (10 * USEC_PER_SEC)
/* Empty sandbox cgroups kept for reuse, per service (cgroup_keep()). */
#define ACCEPT_CGROUPS_KEPT 16
/* Connections taken and closed per wake-up while setups keep failing. */
#define ACCEPT_DRAIN_BATCH 64

#ifndef USEC_PER_MSEC
#define USEC_PER_MSEC 1000ULL
#endif

struct source {
	TAILQ_ENTRY(source) link;
	int family;                      /* AF_INET, AF_INET6 or AF_UNIX */
	unsigned char addr[16];          /* the IP address or IPv6 prefix, or the peer's uid */
	char text[INET6_ADDRSTRLEN + 8]; /* "192.0.2.1", "2001:db8::/64", "uid 1000" */
	unsigned active;                 /* sandboxes serving this source */
	unsigned refused;                /* refusals not logged yet */
	usec_t logged_at;                /* last refusal logged, 0 = none in this interval */
};

/* Who is on the other end, and the environment that says so. */
struct peer {
	int family;
	char ip[INET6_ADDRSTRLEN];
	unsigned port;
	char local_ip[INET6_ADDRSTRLEN];
	unsigned local_port;
	char local_path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
	struct ucred cred;                /* AF_UNIX */
	char text[INET6_ADDRSTRLEN + 48]; /* "127.0.0.1:4242", "unix uid 0 pid 12" */
};

struct sandbox {
	TAILQ_ENTRY(sandbox) link;
	struct accept *a;
	bool pooled; /* waiting in the pool for a connection */
	struct container *c;
	pid_t pid;
	int handoff_fd;           /* pool: the parent's end */
	int conn_fd;              /* the daemon's copy of the connection */
	struct event *timer;      /* RuntimeMaxSec= */
	struct event *idle_timer; /* IdleStopSec=: when the connection may be idle */
	/* Its stdout (unless that is the connection) and stderr (output.c). */
	struct output_pipe *output;
	usec_t started_at; /* spawned (pool: handed the connection) */
	struct peer peer;
	struct source *source;
	bool setup_failed;
	bool runtime_exceeded;
	bool stopping;
	char cgroup_rel[24]; /* "cN", below struct accept's cgroup_path */
};

TAILQ_HEAD(sandbox_list, sandbox);
TAILQ_HEAD(source_list, source);

struct accept {
	struct service *s;
	struct sandbox_list serving;
	unsigned n_serving;
	struct sandbox_list pool;
	unsigned n_pool;
	struct source_list sources;

	bool paused;   /* EMFILE and friends, until resume_timer */
	bool draining; /* suspended by StartLimitBurst=: accept and close */
	bool polling;
	bool nonblocking; /* the listeners are O_NONBLOCK */
	struct event *resume_timer;
	struct event *suspend_timer;
	struct event *log_timer; /* per-source refusal summaries */
	struct event *refill;    /* pool refill, one sandbox per turn of the loop */
	bool pool_idle;          /* refills run at SCHED_IDLE (we can undo it) */
	usec_t emfile_logged_at;
	unsigned long n_drained;
	char *cgroup_path; /* MOUNT/.../nsinetd-PID/NAME, parent of the sandboxes' */
	/* Empty sandbox cgroups, kept for the next sandboxes (cgroup_keep()). */
	bool cgroup_reuse;
	unsigned n_kept;
	char kept[ACCEPT_CGROUPS_KEPT][24];
};

/* Unique cgroup names, also across a reload that keeps the service name,
 * and across a re-exec: the first is the monotonic clock's microseconds
 * (a daemon makes fewer sandboxes than microseconds pass), so that no
 * sandbox of the new daemon is cloned into a cgroup of a sandbox the old
 * one handed over (cgroup_create() takes one that exists), whose removal
 * at its end would kill it. */
static unsigned long sandbox_seq;

/*
 * A sandbox's cgroup, made and removed per connection, costs about 0.13
 * ms of CPU here (mkdir, the first process's css_set, rmdir, the kernel's
 * release work: bench/README.md). So the cgroup of a sandbox that ended
 * with it empty is kept for a later one of the same service instead,
 * where nothing in it can tell one sandbox from the next
 * (hardening_cgroup_reusable()). A frozen one is never kept (container.c),
 * and none is kept across a re-exec.
 */
static void cgroup_kept_remove(struct accept *a, const char *rel)
{
	char path[4096];

	if (!a->cgroup_path)
		return;
	snprintf(path, sizeof(path), "%s/%s", a->cgroup_path, rel);
	(void)cgroup_remove(path);
}

/* A sandbox's cgroup, kept empty by container.c: for the next, or gone. */
static void cgroup_keep(struct accept *a, const char *rel)
{
	if (a->n_kept < ACCEPT_CGROUPS_KEPT && !a->s->removing) {
		snprintf(a->kept[a->n_kept++], sizeof(a->kept[0]), "%s", rel);
		return;
	}
	cgroup_kept_remove(a, rel);
}

void accept_cgroups_drop(struct accept *a)
{
	while (a->n_kept > 0)
		cgroup_kept_remove(a, a->kept[--a->n_kept]);
}

static const char *name(const struct accept *a)
{
	return a->s->cfg->name;
}

static bool is_active(const struct service *s)
{
	return s->accept->n_serving > 0 || s->accept->n_pool > 0;
}

static void refill_schedule(struct accept *a);

/* Polls the listeners or not, from the service state and the limits. */
static void update_polling(struct accept *a)
{
	struct service *s = a->s;
	bool on = !s->removing && !a->paused &&
		  (s->state == SERVICE_STOPPED || (s->state == SERVICE_SUSPENDED && a->draining)) &&
		  (a->draining || a->n_serving < s->cfg->socket.max_connections);

	/* The daemon alone accepts, and must never block: non-blocking from
	 * the first poll on (not before: a predecessor's container may still
	 * accept on the same fd). fd_taken() undoes it. */
	if (on && !a->nonblocking) {
		for (size_t i = 0; i < s->cfg->socket.n_listen; i++)
			if (s->fds[i] >= 0)
				(void)fd_set_nonblock(s->fds[i], true);
		a->nonblocking = true;
	}
	if (on != a->polling)
		log_debug("%s: %s the listeners (%u serving)", name(a),
			  on ? "polling" : "not polling", a->n_serving);
	a->polling = on;
	service_listen_enable(s, on);
	refill_schedule(a);
}

static void state_changed(struct service *s)
{
	update_polling(s->accept);
}

/* --- sources ------------------------------------------------------------ */

/* The source a connection counts against: a unix peer's uid, an IPv4
 * address, or an IPv6 prefix (MaxConnectionsPerSourceIPv6Prefix=). */
static struct source *source_get(struct accept *a, const struct peer *p,
				 const struct sockaddr_storage *remote, bool create)
{
	unsigned prefix = a->s->cfg->socket.per_source_ipv6_prefix;
	unsigned char key[16] = {0};
	char ip[INET6_ADDRSTRLEN];
	struct source *src;
	int family = AF_UNIX;

	if (p->family == AF_UNIX)
		memcpy(key, &p->cred.uid, sizeof(p->cred.uid));
	else
		family = sockaddr_source_key((const struct sockaddr *)remote, prefix, key);
	if (family < 0)
		return NULL;
	TAILQ_FOREACH(src, &a->sources, link)
	if (src->family == family && memcmp(src->addr, key, sizeof(key)) == 0)
		return src;
	if (!create)
		return NULL;
	src = calloc(1, sizeof(*src));
	if (!src)
		return NULL;
	src->family = family;
	memcpy(src->addr, key, sizeof(key));
	if (family == AF_UNIX)
		snprintf(src->text, sizeof(src->text), "uid %u", (unsigned)p->cred.uid);
	else if (family == AF_INET || prefix == 128)
		snprintf(src->text, sizeof(src->text), "%s", p->ip);
	else
		snprintf(src->text, sizeof(src->text), "%s/%u",
			 inet_ntop(AF_INET6, key, ip, sizeof(ip)), prefix);
	TAILQ_INSERT_TAIL(&a->sources, src, link);
	return src;
}

static void source_release(struct accept *a, struct source *src)
{
	if (src->active == 0 && src->refused == 0 && src->logged_at == 0) {
		TAILQ_REMOVE(&a->sources, src, link);
		free(src);
	}
}

/* Once per interval: what each source had refused since its first logged
 * refusal; a source quiet for a whole interval is forgotten. */
static void log_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct accept *a = arg;
	struct source *src, *next;
	usec_t now = now_usec();
	bool again = false;

	for (src = TAILQ_FIRST(&a->sources); src; src = next) {
		next = TAILQ_NEXT(src, link);
		if (src->refused > 0) {
			log_warning("%s: refused %u more connection(s) from %s in the last %llus "
				    "(MaxConnectionsPerSource=%u)",
				    name(a), src->refused, src->text,
				    (unsigned long long)(ACCEPT_LOG_INTERVAL / USEC_PER_SEC),
				    a->s->cfg->socket.max_connections_per_source);
			src->refused = 0;
			src->logged_at = now;
		} else if (src->logged_at && now - src->logged_at >= ACCEPT_LOG_INTERVAL) {
			src->logged_at = 0;
		}
		if (src->logged_at)
			again = true;
		source_release(a, src);
	}
	if (again && timer_arm_usec(a->log_timer, ACCEPT_LOG_INTERVAL) < 0)
		log_error("%s: cannot arm the refusals' log timer", name(a));
}

static void refuse_source(struct accept *a, struct source *src, const struct peer *p)
{
	if (src->logged_at == 0) {
		log_warning("%s: refused connection from %s: MaxConnectionsPerSource=%u reached "
			    "(%u serving it); further refusals of %s are counted and logged every "
			    "%llus",
			    name(a), p->text, a->s->cfg->socket.max_connections_per_source,
			    src->active, src->text,
			    (unsigned long long)(ACCEPT_LOG_INTERVAL / USEC_PER_SEC));
		src->logged_at = now_usec();
		if (!evtimer_pending(a->log_timer, NULL) &&
		    timer_arm_usec(a->log_timer, ACCEPT_LOG_INTERVAL) < 0)
			log_error("%s: cannot arm the refusals' log timer", name(a));
	} else {
		src->refused++;
	}
}

/* --- the peer and its environment --------------------------------------- */

static void addr_text(const struct sockaddr_storage *ss, int *family, char *ip, size_t len,
		      unsigned *port)
{
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		*port = ntohs(s6->sin6_port);
		/* A dual-stack listener's IPv4 client, as tcpserver shows it. */
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			*family = AF_INET;
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], ip, (socklen_t)len);
		} else {
			*family = AF_INET6;
			inet_ntop(AF_INET6, &s6->sin6_addr, ip, (socklen_t)len);
		}
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		*family = AF_INET;
		*port = ntohs(s4->sin_port);
		inet_ntop(AF_INET, &s4->sin_addr, ip, (socklen_t)len);
	}
}

static void peer_fill(struct peer *p, int conn, const struct sockaddr_storage *remote)
{
	struct sockaddr_storage local = {0};
	socklen_t len = sizeof(local);
	int lfam = 0;

	memset(p, 0, sizeof(*p));
	p->family = remote->ss_family;
	if (p->family == AF_UNIX) {
		socklen_t cl = sizeof(p->cred);
		p->cred = (struct ucred){.pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1};
		(void)getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &p->cred, &cl);
		if (getsockname(conn, (struct sockaddr *)&local, &len) == 0 &&
		    len > offsetof(struct sockaddr_un, sun_path)) {
			const struct sockaddr_un *un = (const struct sockaddr_un *)&local;
			size_t n = len - offsetof(struct sockaddr_un, sun_path);
			if (un->sun_path[0] == '\0') { /* abstract: "@name" */
				p->local_path[0] = '@';
				memcpy(p->local_path + 1, un->sun_path + 1, n - 1);
			} else {
				memcpy(p->local_path, un->sun_path, strnlen(un->sun_path, n));
			}
		}
		snprintf(p->text, sizeof(p->text), "unix uid %u pid %d", (unsigned)p->cred.uid,
			 (int)p->cred.pid);
		return;
	}
	addr_text(remote, &p->family, p->ip, sizeof(p->ip), &p->port);
	if (getsockname(conn, (struct sockaddr *)&local, &len) == 0)
		addr_text(&local, &lfam, p->local_ip, sizeof(p->local_ip), &p->local_port);
	snprintf(p->text, sizeof(p->text), p->family == AF_INET6 ? "[%s]:%u" : "%s:%u", p->ip,
		 p->port);
}

static int env_add(char ***env, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int env_add(char ***env, const char *key, const char *fmt, ...)
{
	_cleanup_free_ char *v = NULL, *kv = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&v, fmt, ap);
	va_end(ap);
	if (r < 0 || asprintf(&kv, "%s=%s", key, v) < 0)
		return -ENOMEM;
	return strv_env_set(env, kv);
}

/* REMOTE_ADDR, REMOTE_PORT and UCSPI's variables (tcpserver, unixserver). */
static int peer_env(const struct peer *p, char ***env)
{
	int r = 0;

	if (p->family == AF_UNIX) {
		if ((r = env_add(env, "PROTO", "UNIX")) < 0 ||
		    (r = env_add(env, "UNIXREMOTEPID", "%d", (int)p->cred.pid)) < 0 ||
		    (r = env_add(env, "UNIXREMOTEEUID", "%u", (unsigned)p->cred.uid)) < 0 ||
		    (r = env_add(env, "UNIXREMOTEEGID", "%u", (unsigned)p->cred.gid)) < 0)
			return r;
		if (p->local_path[0])
			r = env_add(env, "UNIXLOCALPATH", "%s", p->local_path);
		return r;
	}
	if ((r = env_add(env, "PROTO", p->family == AF_INET6 ? "TCP6" : "TCP")) < 0 ||
	    (r = env_add(env, "REMOTE_ADDR", "%s", p->ip)) < 0 ||
	    (r = env_add(env, "REMOTE_PORT", "%u", p->port)) < 0 ||
	    (r = env_add(env, "TCPREMOTEIP", "%s", p->ip)) < 0 ||
	    (r = env_add(env, "TCPREMOTEPORT", "%u", p->port)) < 0 ||
	    (r = env_add(env, "TCPLOCALIP", "%s", p->local_ip)) < 0 ||
	    (r = env_add(env, "TCPLOCALPORT", "%u", p->local_port)) < 0)
		return r;
	return 0;
}

/* --- sandboxes ---------------------------------------------------------- */

static void sandbox_exec_cb(struct container *c, int r, const struct activator_failure *f,
			    void *userdata);
static void sandbox_exit_cb(struct container *c, int r, int status, void *userdata);
static void sandbox_stop_timeout_cb(struct container *c, void *userdata);
static void runtime_max_cb(evutil_socket_t fd, short what, void *arg);
static void sandbox_idle_cb(evutil_socket_t fd, short what, void *arg);

static const struct container_callbacks sandbox_callbacks = {
    .exec = sandbox_exec_cb,
    .exit = sandbox_exit_cb,
    .stop_timeout = sandbox_stop_timeout_cb,
};

static struct sandbox *sandbox_free(struct sandbox *sb)
{
	struct accept *a = sb->a;

	sb->c = container_free(sb->c);
	event_freep(&sb->timer);
	event_freep(&sb->idle_timer);
	sb->handoff_fd = safe_close(sb->handoff_fd);
	sb->conn_fd = safe_close(sb->conn_fd);
	sb->output = output_pipe_close(sb->output);
	if (sb->source) {
		sb->source->active--;
		source_release(a, sb->source);
	}
	free(sb);
	return NULL;
}

/* A sandbox and every event it will need, or NULL. */
static struct sandbox *sandbox_new(struct accept *a)
{
	struct manager *m = a->s->manager;
	struct sandbox *sb = calloc(1, sizeof(*sb));

	if (!sb)
		return NULL;
	sb->a = a;
	sb->pid = -1;
	sb->handoff_fd = sb->conn_fd = -1;
	sb->timer = evtimer_new(m->base, runtime_max_cb, sb);
	sb->idle_timer = evtimer_new(m->base, sandbox_idle_cb, sb);
	if (!sb->timer || !sb->idle_timer ||
	    container_new(m->base, m->container_ops, a->s->cfg->name, &sandbox_callbacks, sb,
			  &sb->c) < 0) {
		sandbox_free(sb);
		return NULL;
	}
	container_keep_cgroup(sb->c, a->cgroup_reuse);
	return sb;
}

static void suspend_end_cb(evutil_socket_t fd, short what, void *arg);
static void suspend(struct accept *a, bool drain, const char *why, usec_t wait);

void accept_suspend(struct service *s, bool drain, const char *why, usec_t wait)
{
	suspend(s->accept, drain, why, wait);
}

bool accept_draining(const struct accept *a)
{
	return a->draining;
}

/* Suspends the service (the listeners not polled, or drained) for wait. */
static void suspend(struct accept *a, bool drain, const char *why, usec_t wait)
{
	struct service *s = a->s;
	int r;

	a->draining = drain;
	a->n_drained = 0;
	if (service_set_state(s, SERVICE_SUSPENDED, why) < 0)
		return;
	s->stats.backoff_until = now_usec() + wait;
	r = timer_arm_usec(a->suspend_timer, wait);
	if (r < 0) {
		/* Never suspended for good: without a timer, not at all. */
		log_errno(LOG_ERR, r, "%s: cannot arm the end of the suspension, ending it now",
			  name(a));
		suspend_end_cb(-1, 0, a);
	}
}

/* Counts a failed setup; too many in StartLimitIntervalSec=: back off. */
static void setup_failed(struct accept *a)
{
	struct service *s = a->s;
	char b[64];
	usec_t wait;

	s->stats.start_failures++;
	if (s->state != SERVICE_STOPPED ||
	    !service_rate_record(s->failures, &s->n_failures, s->cfg->service.start_limit_interval,
				 s->cfg->service.start_limit_burst))
		return;
	wait = s->cfg->service.start_limit_interval;
	if (wait == USEC_INFINITY || wait == 0)
		wait = 10 * USEC_PER_SEC;
	log_error("%s: %u sandboxes failed to start within StartLimitIntervalSec=: refusing "
		  "connections for %s, then trying again",
		  name(a), s->cfg->service.start_limit_burst, format_duration(b, sizeof(b), wait));
	/* Failed, seen by whoever follows the transitions, then suspended. */
	if (service_set_state(s, SERVICE_FAILED, "failed starts") < 0)
		return;
	suspend(a, true, "failed starts", wait);
}

static bool out_of_fds(int r)
{
	return r == -EMFILE || r == -ENFILE || r == -ENOBUFS || r == -ENOMEM;
}

/* Spawns one sandbox: for conn (serving), or for the pool (conn -1). */
static int sandbox_spawn(struct accept *a, struct sandbox *sb, int conn)
{
	struct service *s = a->s;
	const struct container_config *cc = &s->cfg->container;
	_cleanup_(service_spec_done) struct service_spec sp = {.cgroup_fd = -1};
	_cleanup_close_ int handoff_child = -1;
	static const char *const conn_name[] = {"connection", NULL};
	int r;

	if (a->n_kept > 0) {
		memcpy(sb->cgroup_rel, a->kept[--a->n_kept], sizeof(sb->cgroup_rel));
	} else {
		if (sandbox_seq == 0)
			sandbox_seq = (unsigned long)now_usec();
		snprintf(sb->cgroup_rel, sizeof(sb->cgroup_rel), "c%lu", sandbox_seq++);
	}
	r = conn < 0 ? service_spec_build_pool(s, sb->cgroup_rel, &sp)
		     : service_spec_build(s, sb->cgroup_rel, &sp);
	if (r < 0)
		goto fail;
	if (conn < 0) {
		int pair[2];
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
			r = log_errno(LOG_ERR, -errno, "%s: pool: socketpair", name(a));
			goto fail;
		}
		sb->handoff_fd = pair[0];
		handoff_child = pair[1];
		sp.spec.pool = true;
		sp.spec.handoff_fd = handoff_child;
		/* A refill must not take CPU from the sandboxes serving: its
		 * setup runs at SCHED_IDLE, until the hand-off (pool_take()).
		 * Only where the daemon can raise it again (CAP_SYS_NICE). */
		sp.spec.idle_priority = a->pool_idle;
		sp.spec.fds = NULL;
		sp.spec.fd_names = NULL;
		sp.spec.n_fds = 0;
	} else {
		r = peer_env(&sb->peer, &sp.env);
		if (r < 0) {
			log_errno(LOG_ERR, r, "%s: environment", name(a));
			goto fail;
		}
		sp.spec.envp = sp.env;
		if (cc->standard_input == STANDARD_INPUT_SOCKET) {
			sp.spec.fds = NULL;
			sp.spec.fd_names = NULL;
			sp.spec.n_fds = 0;
			sp.spec.stdio[0] = conn;
			sp.spec.stdio[1] = conn;
		} else {
			sp.spec.fds = &sb->conn_fd;
			sp.spec.fd_names = (const char *const *)conn_name;
			sp.spec.n_fds = 1;
		}
	}
	/* MemoryMax= and friends per sandbox: one client, one budget. */
	hardening_cgroup_apply(a->s, sp.cgroup_path);
	sb->started_at = now_usec();
	r = container_spawn(sb->c, &sp.spec, &sp.cgroup_path);
	output_pipe_spawned(sp.output, r < 0 ? -1 : container_pid(sb->c));
	/* What the start needed of Network= (a netns:NAME fd) goes now. */
	network_spawned(a->s, r);
	if (r < 0) {
		log_errno(LOG_ERR, r, "%s: cannot start a sandbox%s%s", name(a),
			  conn >= 0 ? " for " : " for the pool", conn >= 0 ? sb->peer.text : "");
		goto fail;
	}
	sb->pid = container_pid(sb->c);
	sb->output = TAKE_PTR(sp.output);
	log_debug("%s: spawned sandbox pid %d%s%s", name(a), (int)sb->pid,
		  conn >= 0 ? " for " : " for the pool", conn >= 0 ? sb->peer.text : "");
	return 0;

fail:
	sb->handoff_fd = safe_close(sb->handoff_fd);
	/* Out of fds or memory is the host's trouble, not the service's. */
	if (!out_of_fds(r))
		setup_failed(a);
	return r;
}

/* Whether the daemon needs its copy of the connection while the sandbox
 * serves it: to shut it down at RuntimeMaxSec=, and to read its TCP state
 * for IdleStopSec=. */
static bool sandbox_keeps_conn(const struct sandbox *sb)
{
	const struct service_settings *ss = &sb->a->s->cfg->service;

	return ss->runtime_max != USEC_INFINITY || ss->idle_stop;
}

static void sandbox_stop(struct sandbox *sb);

/* IdleStopSec=: the time since the connection last carried data either way,
 * from TCP_INFO on the daemon's copy (no proxy, nothing to count). Fires
 * once per possible deadline, not periodically. A connection that is not
 * TCP (unix) has no such clock: it is left alone. */
static void sandbox_idle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sandbox *sb = arg;
	usec_t limit = sb->a->s->cfg->service.idle_stop;
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	usec_t idle;
	char b[64];

	if (sb->stopping || sb->conn_fd < 0)
		return;
	if (getsockopt(sb->conn_fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return;
	idle = (usec_t)(ti.tcpi_last_data_recv < ti.tcpi_last_data_sent ? ti.tcpi_last_data_recv
									: ti.tcpi_last_data_sent) *
	       USEC_PER_MSEC;
	if (idle < limit) {
		if (timer_arm_usec(sb->idle_timer, limit - idle) < 0)
			log_error("%s: sandbox pid %d: cannot arm IdleStopSec=", name(sb->a),
				  (int)sb->pid);
		return;
	}
	log_notice("%s: sandbox pid %d (%s): no data for IdleStopSec=%s, stopping it", name(sb->a),
		   (int)sb->pid, sb->peer.text, format_duration(b, sizeof(b), limit));
	sandbox_stop(sb);
}

/* The sandbox serves its connection from now on. Without its timers its
 * limits could not be kept: then it is stopped. */
static void sandbox_serving(struct sandbox *sb)
{
	const struct service_settings *ss = &sb->a->s->cfg->service;
	int r = 0;

	if (!sandbox_keeps_conn(sb))
		sb->conn_fd = safe_close(sb->conn_fd);
	if (ss->runtime_max != USEC_INFINITY)
		r = timer_arm_usec(sb->timer, ss->runtime_max);
	if (r >= 0 && ss->idle_stop && sb->conn_fd >= 0)
		r = timer_arm_usec(sb->idle_timer, ss->idle_stop);
	if (r < 0) {
		log_errno(LOG_ERR, r, "%s: sandbox pid %d: cannot arm its timers, stopping it",
			  name(sb->a), (int)sb->pid);
		sandbox_stop(sb);
	}
}

/* KillSignal=, then SIGKILL and cgroup.kill after StopTimeoutSec=. */
static void sandbox_stop_timeout_cb(struct container *c, void *userdata)
{
	struct sandbox *sb = userdata;
	char b[64];

	log_warning("%s: sandbox pid %d (%s) did not stop within StopTimeoutSec=%s, killing it",
		    name(sb->a), (int)sb->pid, sb->pooled ? "pool" : sb->peer.text,
		    format_duration(b, sizeof(b), sb->a->s->cfg->service.stop_timeout));
}

static void sandbox_stop(struct sandbox *sb)
{
	const struct service_settings *ss = &sb->a->s->cfg->service;

	if (sb->stopping)
		return;
	sb->stopping = true;
	event_del(sb->timer);
	event_del(sb->idle_timer);
	/* The client sees the end now, whatever the payload does with it. */
	if (sb->conn_fd >= 0)
		(void)shutdown(sb->conn_fd, SHUT_RDWR);
	/* A pooled sandbox runs no payload yet: nothing to be polite to. */
	(void)container_stop(sb->c, sb->pooled ? SIGKILL : ss->kill_signal, ss->stop_timeout);
}

static void runtime_max_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sandbox *sb = arg;
	char b[64];

	log_notice("%s: sandbox pid %d (%s) reached RuntimeMaxSec=%s, stopping it", name(sb->a),
		   (int)sb->pid, sb->peer.text,
		   format_duration(b, sizeof(b), sb->a->s->cfg->service.runtime_max));
	sb->runtime_exceeded = true;
	sandbox_stop(sb);
}

static void sandbox_exec_cb(struct container *c, int r, const struct activator_failure *f,
			    void *userdata)
{
	struct sandbox *sb = userdata;

	if (r == 0) {
		/* A pooled sandbox's EOF: it ended without a connection. */
		if (!sb->pooled) {
			sb->a->s->stats.last_start = now_usec() - sb->started_at;
			histogram_observe(&sb->a->s->stats.cold_start, sb->a->s->stats.last_start);
		}
		if (!sb->pooled)
			log_debug("%s: started container pid %d for %s (%.1f ms)", name(sb->a),
				  (int)sb->pid, sb->peer.text,
				  (double)(now_usec() - sb->started_at) / 1000.0);
	} else {
		char prefix[400];

		sb->setup_failed = true;
		if (r == -ECHILD)
			return; /* no outcome: the exit says what happened */
		sb->a->s->stats.setup_failures[f->step < _STEP_MAX ? f->step : STEP_NONE]++;
		snprintf(prefix, sizeof(prefix), "%s: sandbox pid %d%s%s:", name(sb->a),
			 (int)sb->pid, sb->pooled ? "" : " for ",
			 sb->pooled ? " (pool)" : sb->peer.text);
		service_log_setup_failure(sb->a->s, prefix, r, f);
	}
}

/* After a sandbox's end: the last one of a stop, or of a removal. */
static void sandbox_gone(struct accept *a)
{
	struct service *s = a->s;

	if (is_active(s)) {
		update_polling(a);
		return;
	}
	if (s->state == SERVICE_STOPPING)
		(void)service_set_state(s, SERVICE_STOPPED, "stopped");
	if (s->removing)
		manager_service_dead(s->manager, s);
	else
		update_polling(a);
}

static void sandbox_exit_cb(struct container *c, int r, int status, void *userdata)
{
	struct sandbox *sb = userdata;
	struct accept *a = sb->a;
	char buf[64], how[96];
	usec_t ran = now_usec() - sb->started_at;

	/* Its last lines are logged before its end. */
	sb->output = output_pipe_close(sb->output);

	format_duration(buf, sizeof(buf), ran - ran % 1000);
	if (r < 0)
		snprintf(how, sizeof(how), "cannot be reaped: %s", strerror(-r));
	else if (WIFEXITED(status))
		snprintf(how, sizeof(how), "exit status %d", WEXITSTATUS(status));
	else
		snprintf(how, sizeof(how), "killed by %s",
			 signal_to_string(WIFSIGNALED(status) ? WTERMSIG(status) : 0));

	if (sb->pooled) {
		TAILQ_REMOVE(&a->pool, sb, link);
		a->n_pool--;
		if (!sb->stopping) {
			log_warning("%s: pooled sandbox pid %d ended before any connection: %s",
				    name(a), (int)sb->pid, how);
			setup_failed(a);
		}
	} else {
		bool bad =
		    sb->setup_failed || r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0;
		TAILQ_REMOVE(&a->serving, sb, link);
		a->n_serving--;
		/* xinetd's log_on_success / log_on_failure: one line. */
		log_msg(bad && !sb->stopping ? LOG_WARNING : LOG_INFO,
			"%s: connection from %s: sandbox pid %d %s after %s%s", name(a),
			sb->peer.text, (int)sb->pid, how, buf,
			sb->runtime_exceeded ? " (RuntimeMaxSec=)" : "");
		if (r >= 0) {
			a->s->stats.have_exit = true;
			a->s->stats.last_exit_status = status;
			a->s->stats.last_exit_at = now_usec();
		}
		if (sb->setup_failed)
			setup_failed(a);
	}
	if (container_cgroup_kept(c))
		cgroup_keep(a, sb->cgroup_rel);
	sandbox_free(sb);
	sandbox_gone(a);
}

/* --- the pool ----------------------------------------------------------- */

static void refill_cb(evutil_socket_t fd, short what, void *arg)
{
	struct accept *a = arg;
	struct sandbox *sb;

	if (a->s->removing || a->s->state != SERVICE_STOPPED ||
	    a->n_pool >= a->s->cfg->container.pool_size)
		return;
	sb = sandbox_new(a);
	if (!sb) {
		log_error("%s: pool: out of memory", name(a));
		return;
	}
	sb->pooled = true;
	if (sandbox_spawn(a, sb, -1) < 0) {
		sandbox_free(sb);
		return;
	}
	TAILQ_INSERT_TAIL(&a->pool, sb, link);
	a->n_pool++;
	/* One per turn of the loop: connections waiting come first. */
	refill_schedule(a);
}

static void refill_schedule(struct accept *a)
{
	if (!a->refill || a->n_pool >= a->s->cfg->container.pool_size || a->s->removing ||
	    a->s->state != SERVICE_STOPPED)
		return;
	if (!event_pending(a->refill, EV_TIMEOUT, NULL))
		event_active(a->refill, EV_TIMEOUT, 0);
}

/* Hands conn to the oldest pooled sandbox that is not being stopped. */
static int pool_take(struct accept *a, struct sandbox **ret, int conn, const struct peer *p)
{
	const struct container_config *cc = &a->s->cfg->container;
	enum activator_layout layout = cc->standard_input == STANDARD_INPUT_SOCKET
					   ? ACTIVATOR_LAYOUT_STDIO
					   : ACTIVATOR_LAYOUT_FD3;
	_cleanup_strv_free_ char **env = NULL;
	struct sandbox *sb;
	int r;

	if (a->n_pool == 0)
		return -ENOENT;
	r = peer_env(p, &env);
	if (r < 0)
		return r;
	TAILQ_FOREACH(sb, &a->pool, link)
	{
		if (sb->stopping)
			continue;
		/* Serving now: pid 1 gets the normal priority back, for its
		 * signals and reaping (the payload, forked while it waited,
		 * took it back itself: init_fork_early()). */
		if (a->pool_idle) {
			r = activator_priority_normal(sb->pid);
			if (r < 0) {
				log_errno(
				    LOG_WARNING, r,
				    "%s: cannot give pooled sandbox pid %d its normal priority "
				    "back: refills run at normal priority from now on",
				    name(a), (int)sb->pid);
				a->pool_idle = false;
			}
		}
		r = activator_handoff(sb->handoff_fd, conn, layout, "connection", env);
		if (r < 0) {
			/* Gone already: its exit is reaped as a pool failure. */
			log_errno(LOG_WARNING, r,
				  "%s: pooled sandbox pid %d cannot take a connection", name(a),
				  (int)sb->pid);
			sandbox_stop(sb);
			continue;
		}
		TAILQ_REMOVE(&a->pool, sb, link);
		a->n_pool--;
		sb->handoff_fd = safe_close(sb->handoff_fd);
		sb->pooled = false;
		*ret = sb;
		return 0;
	}
	return -ENOENT;
}

/* --- accepting ---------------------------------------------------------- */

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct accept *a = arg;

	a->paused = false;
	update_polling(a);
}

static void suspend_end_cb(evutil_socket_t fd, short what, void *arg)
{
	struct accept *a = arg;

	if (a->s->state != SERVICE_SUSPENDED)
		return;
	if (a->draining)
		log_notice(
		    "%s: backoff over (%lu connection(s) refused meanwhile), accepting again",
		    name(a), a->n_drained);
	else
		log_notice("%s: trigger limit over, accepting again", name(a));
	a->draining = false;
	a->s->n_failures = 0;
	a->s->n_triggers = 0;
	a->s->stats.backoff_until = 0;
	(void)service_set_state(a->s, SERVICE_STOPPED, "suspension over");
}

static void pause_accepting(struct accept *a, int err, const char *what);

/* One accepted connection: a sandbox for it, or a refusal. */
static void count_refused(struct service *s, size_t li, uint64_t *reason, uint64_t n)
{
	s->stats.refused += n;
	*reason += n;
	s->stats.listeners[li].refused += n;
}

static void serve(struct accept *a, size_t li, int conn, const struct sockaddr_storage *remote)
{
	const struct socket_config *sc = &a->s->cfg->socket;
	struct sandbox *sb = NULL;
	struct source *src = NULL;
	struct peer p;

	peer_fill(&p, conn, remote);
	a->s->stats.accepted++;
	a->s->stats.listeners[li].accepted++;
	if (sc->max_connections_per_source > 0) {
		src = source_get(a, &p, remote, true);
		if (src && src->active >= sc->max_connections_per_source) {
			count_refused(a->s, li, &a->s->stats.refused_per_source, 1);
			refuse_source(a, src, &p);
			close(conn);
			return;
		}
	}
	if (pool_take(a, &sb, conn, &p) == 0) {
		sb->conn_fd = conn;
		sb->peer = p;
		sb->started_at = now_usec();
		log_debug("%s: connection from %s handed to pooled sandbox pid %d", name(a), p.text,
			  (int)sb->pid);
		refill_schedule(a);
	} else {
		sb = sandbox_new(a);
		if (sb) {
			sb->conn_fd = conn;
			sb->peer = p;
		}
		int r = sb ? sandbox_spawn(a, sb, conn) : -ENOMEM;
		if (r < 0) {
			/* The client sees its connection closed. */
			log_warning("%s: refused connection from %s: no sandbox", name(a), p.text);
			count_refused(a->s, li, &a->s->stats.refused_no_sandbox, 1);
			if (out_of_fds(r))
				pause_accepting(a, r, "start a sandbox");
			if (sb)
				sb->conn_fd = -1; /* closed here */
			close(conn);
			if (sb)
				sandbox_free(sb);
			if (src)
				source_release(a, src);
			return;
		}
	}
	if (src) {
		src->active++;
		sb->source = src;
	}
	TAILQ_INSERT_TAIL(&a->serving, sb, link);
	a->n_serving++;
	a->s->stats.starts++;
	sandbox_serving(sb);
}

static void pause_accepting(struct accept *a, int err, const char *what)
{
	usec_t now = now_usec();

	if (now - a->emfile_logged_at >= ACCEPT_LOG_INTERVAL || !a->emfile_logged_at) {
		log_errno(LOG_WARNING, err,
			  "%s: cannot %s (%u sandboxes serving); pausing for %llums", name(a), what,
			  a->n_serving, (unsigned long long)(ACCEPT_EMFILE_RETRY / USEC_PER_MSEC));
		a->emfile_logged_at = now;
	}
	a->paused = true;
	a->s->stats.accept_emfile_pauses++;
	if (timer_arm_usec(a->resume_timer, ACCEPT_EMFILE_RETRY) < 0) {
		log_error("%s: cannot arm the pause's end: accepting again at once", name(a));
		a->paused = false;
	}
	update_polling(a);
}

static void listen_ready(struct service *s, int fd)
{
	struct accept *a = s->accept;
	const struct socket_config *sc = &s->cfg->socket;
	size_t li = 0;

	while (li + 1 < sc->n_listen && s->fds[li] != fd)
		li++;
	if (!a->polling) {
		update_polling(a);
		return;
	}
	if (a->draining) {
		/* Clients get a closed connection rather than a hang. */
		int n = listener_drain(fd, &sc->listen[li], ACCEPT_DRAIN_BATCH);

		if (n > 0) {
			a->n_drained += (unsigned long)n;
			count_refused(s, li, &s->stats.refused_suspended, (uint64_t)n);
		}
		return;
	}
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage remote = {0};
		socklen_t len = sizeof(remote);
		int conn;

		if (a->n_serving >= sc->max_connections) {
			s->stats.accept_full++;
			log_debug("%s: MaxConnections=%u reached, clients wait in the backlog",
				  name(a), sc->max_connections);
			break;
		}
		if (service_rate_record(s->triggers, &s->n_triggers, sc->trigger_limit_interval,
					sc->trigger_limit_burst + 1)) {
			char b1[64];
			usec_t wait = sc->trigger_limit_interval;
			if (wait == USEC_INFINITY || wait == 0)
				wait = 10 * USEC_PER_SEC;
			log_error("%s: %u connections within TriggerLimitIntervalSec=%s: not "
				  "accepting for %s (clients wait in the backlog)",
				  name(a), sc->trigger_limit_burst,
				  format_duration(b1, sizeof(b1), sc->trigger_limit_interval),
				  format_duration(b1, sizeof(b1), wait));
			suspend(a, false, "too many connections", wait);
			break;
		}
		/* Blocking, as services expect their sockets. */
		conn = accept4(fd, (struct sockaddr *)&remote, &len, SOCK_CLOEXEC);
		if (conn < 0) {
			int err = errno;
			/* The recorded trigger did not happen. */
			if (s->n_triggers > 0)
				s->n_triggers--;
			if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
				pause_accepting(a, -err, "accept");
				return;
			}
			if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR &&
			    err != ECONNABORTED && err != EPROTO && err != EPERM)
				log_errno(LOG_WARNING, -err, "%s: accept", name(a));
			if (err == ECONNABORTED || err == EINTR || err == EPROTO)
				continue;
			break;
		}
		serve(a, li, conn, &remote);
		if (s->removing || s->state != SERVICE_STOPPED)
			break;
	}
	update_polling(a);
}

/* --- life --------------------------------------------------------------- */

static int stop(struct service *s, const char *reason)
{
	struct accept *a = s->accept;
	struct sandbox *sb, *next;

	if (!is_active(s))
		return -EALREADY;
	if (s->state == SERVICE_STOPPING)
		return 0;
	log_info("%s: stopping %u sandbox(es) and %u pooled (%s)", name(a), a->n_serving, a->n_pool,
		 reason);
	/* A stop ends a suspension. */
	event_del(a->suspend_timer);
	a->draining = false;
	s->stats.backoff_until = 0;
	(void)service_set_state(s, SERVICE_STOPPING, reason);
	update_polling(a);
	for (sb = TAILQ_FIRST(&a->pool); sb; sb = next) {
		next = TAILQ_NEXT(sb, link);
		sandbox_stop(sb);
	}
	for (sb = TAILQ_FIRST(&a->serving); sb; sb = next) {
		next = TAILQ_NEXT(sb, link);
		sandbox_stop(sb);
	}
	return 0;
}

static int start(struct service *s, const char *reason)
{
	return -EOPNOTSUPP; /* one sandbox per connection */
}

/* A successor's container expects a blocking listener. */
static void fd_taken(struct service *s, int fd)
{
	(void)fd_set_nonblock(fd, false);
}

static void done(struct service *s);

static int init(struct service *s)
{
	struct accept *a = calloc(1, sizeof(*a));
	struct manager *m = s->manager;

	if (!a)
		return -ENOMEM;
	s->accept = a;
	a->s = s;
	TAILQ_INIT(&a->serving);
	TAILQ_INIT(&a->pool);
	TAILQ_INIT(&a->sources);
	a->refill = event_new(m->base, -1, 0, refill_cb, a);
	a->resume_timer = evtimer_new(m->base, resume_cb, a);
	a->suspend_timer = evtimer_new(m->base, suspend_end_cb, a);
	a->log_timer = evtimer_new(m->base, log_timer_cb, a);
	a->pool_idle = geteuid() == 0;
	/* Below everything else in the loop: a connection waiting is
	 * accepted (and served by a pooled sandbox) before a refill. */
	if (!a->refill || event_priority_set(a->refill, EVENT_PRIORITY_LOW) < 0 ||
	    !a->resume_timer || !a->suspend_timer || !a->log_timer) {
		done(s);
		return -ENOMEM;
	}
	if (m->have_cgroup &&
	    asprintf(&a->cgroup_path, "%s/%s", m->cgroup_base_path, s->cfg->name) < 0)
		a->cgroup_path = NULL;
	a->cgroup_reuse = a->cgroup_path && hardening_cgroup_reusable(s->cfg);
	return 0;
}

/* Normally nothing is left: a removal waits for every sandbox. At the
 * daemon's exit, what is left is killed (container_free()), not waited for. */
static void done(struct service *s)
{
	struct accept *a = s->accept;
	struct sandbox_list *lists[2];
	struct source *src;

	if (!a)
		return;
	lists[0] = &a->serving;
	lists[1] = &a->pool;
	for (size_t i = 0; i < ELEMENTSOF(lists); i++) {
		struct sandbox *sb;
		while ((sb = TAILQ_FIRST(lists[i]))) {
			TAILQ_REMOVE(lists[i], sb, link);
			sandbox_free(sb);
		}
	}
	while ((src = TAILQ_FIRST(&a->sources))) {
		TAILQ_REMOVE(&a->sources, src, link);
		free(src);
	}
	event_freep(&a->resume_timer);
	event_freep(&a->suspend_timer);
	event_freep(&a->log_timer);
	event_freep(&a->refill);
	if (a->cgroup_path) {
		/* Shared with a successor of the same name: busy is fine. */
		(void)cgroup_remove(a->cgroup_path);
		free(a->cgroup_path);
	}
	free(a);
	s->accept = NULL;
}

unsigned accept_n_serving(const struct accept *a)
{
	return a->n_serving;
}

const struct service_mode accept_mode = {
    .name = "Accept=yes",
    .init = init,
    .done = done,
    .listen_ready = listen_ready,
    .state_changed = state_changed,
    .start = start,
    .stop = stop,
    .is_active = is_active,
    .freeze = NULL,
    .fd_taken = fd_taken,
    .holds_listeners = false,
};

void accept_foreach_sandbox(const struct accept *a,
			    void (*fn)(const struct accept_sandbox_info *i, void *userdata),
			    void *userdata)
{
	const struct sandbox_list *lists[] = {&a->serving, &a->pool};
	struct sandbox *sb;

	for (size_t l = 0; l < 2; l++)
		TAILQ_FOREACH(sb, lists[l], link)
		{
			struct accept_sandbox_info i;

			if (!sb->c || container_pid(sb->c) < 0 || container_exited(sb->c))
				continue;
			i = (struct accept_sandbox_info){
			    .pid = container_pid(sb->c),
			    .pidfd = container_pidfd(sb->c),
			    .output_fd = output_pipe_read_fd(sb->output),
			    .cgroup = container_cgroup(sb->c),
			    .pooled = sb->pooled,
			    .exec_done = container_exec_done(sb->c),
			    .started_at = sb->started_at,
			};
			fn(&i, userdata);
		}
}
