/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "reexec.h"
#include "spares.h"

#include <dirent.h>
#include <event2/event.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "activator/cgroup.h"
#include "common/cleanup.h"
#include "common/fd-util.h"
#include "common/log.h"
#include "netns/veth.h"
#include "supervisor/accept.h"
#include "supervisor/container.h"
#include "supervisor/event-util.h"
#include "supervisor/hardening.h"
#include "supervisor/manager.h"
#include "supervisor/network.h"
#include "supervisor/notify.h"
#include "supervisor/output.h"
#include "supervisor/service.h"

extern char **environ;

/* How long a container of a changed or removed service, or an Accept=yes
 * sandbox in flight, is given after a re-exec before it is killed: the
 * former as a reload's stop, with the new configuration's (or SIGTERM and
 * 10 s); the latter have no RuntimeMaxSec= then (documented). */
#define ORPHAN_STOP_TIMEOUT (10 * USEC_PER_SEC)
/* How long a requested re-exec waits for the services to settle (a start,
 * a stop, a freeze, a sandbox's setup under way), checked every tick. */
#define SETTLE_TIMEOUT (5 * USEC_PER_SEC)
#define SETTLE_TICK    (2 * USEC_PER_MSEC)

struct reexec {
	char *binary;
	char **argv; /* NULL-terminated, without --deserialize */
	size_t argc;
	uint64_t count;
	/* Containers handed over that no service took: watched until they
	 * exit (sandboxes in flight) or stopped (the rest). */
	struct orphan {
		struct container *c;
		unsigned userns_slot; /* released at its exit (hardening.c) */
	} * orphans;
	size_t n_orphans;
	/* Between reexec_take_listeners() and reexec_adopt(): the state, for
	 * reexec_take_userns(). */
	struct state *pending;
	/* Their output pipes, read and dropped until EOF: closed, the
	 * payload's next write to stderr would end it with SIGPIPE. */
	struct event **drains;
	size_t n_drains;
	/* A request waiting for the services to settle (reexec_request()). */
	struct event *settle_timer;
	usec_t settle_deadline;
	reexec_done_fn done;
	void *done_userdata;
};

int reexec_new(int argc, char **argv, struct reexec **ret)
{
	struct reexec *rx = calloc(1, sizeof(*rx));
	char buf[4096];
	ssize_t n;

	if (!rx)
		return -ENOMEM;
	n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	if (n < 0) {
		reexec_free(rx);
		return -errno;
	}
	buf[n] = '\0';
	rx->binary = strdup(buf);
	rx->argv = calloc((size_t)argc + 2, sizeof(char *));
	if (!rx->binary || !rx->argv) {
		reexec_free(rx);
		return -ENOMEM;
	}
	for (int i = 0; i < argc; i++) {
		if (i > 0 && strncmp(argv[i], "--deserialize=", 14) == 0)
			continue;
		rx->argv[rx->argc] = strdup(argv[i]);
		if (!rx->argv[rx->argc++]) {
			reexec_free(rx);
			return -ENOMEM;
		}
	}
	*ret = rx;
	return 0;
}

struct reexec *reexec_free(struct reexec *rx)
{
	if (!rx)
		return NULL;
	for (size_t i = 0; i < rx->n_orphans; i++)
		container_free(rx->orphans[i].c);
	for (size_t i = 0; i < rx->n_drains; i++) {
		safe_close(event_get_fd(rx->drains[i]));
		event_free(rx->drains[i]);
	}
	free(rx->drains);
	if (rx->settle_timer)
		event_free(rx->settle_timer);
	free(rx->orphans);
	for (size_t i = 0; i < rx->argc; i++)
		free(rx->argv[i]);
	free(rx->argv);
	free(rx->binary);
	free(rx);
	return NULL;
}

uint64_t reexec_count(const struct reexec *rx)
{
	return rx ? rx->count : 0;
}

const char *reexec_binary(const struct reexec *rx)
{
	return rx ? rx->binary : NULL;
}

/* --- the old daemon: what it hands over, and the exec ------------------- */

static void sandbox_settled(const struct accept_sandbox_info *i, void *userdata)
{
	bool *settled = userdata;

	if (!i->pooled && !i->exec_done)
		*settled = false;
}

/* Whether s can be handed over now: 0; -EAGAIN not yet (something is under
 * way), -EBUSY not at all; why not, in why. */
static int can_hand_over(const struct service *s, char *why, size_t why_len)
{
	const char *name = s->cfg->name;

	/* The thread deleting its last pair would be lost, its pair with it
	 * (and the exec would wait for it anyway): it ends first. */
	if (!network_settled((struct service *)s)) {
		snprintf(why, why_len, "%s is deleting its veth pair; try again", name);
		return -EAGAIN;
	}
	if (s->removing || s->dead || s->state == SERVICE_WAITING) {
		snprintf(why, why_len,
			 "%s: a reload is still stopping its old container; try again when it "
			 "has stopped",
			 name);
		return -EAGAIN;
	}
	if (s->cfg->socket.accept) {
		bool settled = true;

		/* A sandbox being set up holds its sync socket, which the
		 * exec would close: its setup ends first. Once exec'd, a
		 * sandbox is handed over whatever it does. */
		accept_foreach_sandbox(s->accept, sandbox_settled, &settled);
		if (!settled)
			snprintf(why, why_len, "%s is setting a sandbox up; try again", name);
		return settled ? 0 : -EAGAIN;
	}
	switch (s->state) {
	case SERVICE_STOPPED:
	case SERVICE_SUSPENDED:
	case SERVICE_PARKED:
		return 0;
	case SERVICE_RUNNING:
	case SERVICE_FROZEN:
		break;
	default:
		snprintf(why, why_len, "%s is %s; try again when it has settled", name,
			 service_state_to_string(s->state));
		return -EAGAIN;
	}
	if (s->ready.reloading) {
		snprintf(why, why_len, "%s is reloading (RELOADING=1); try again when it is ready",
			 name);
		return -EAGAIN;
	}
	return 0;
}

static int add_container(struct state_container **a, size_t *n, const struct state_container *c)
{
	struct state_container *b = reallocarray(*a, *n + 1, sizeof(**a));

	if (!b)
		return -ENOMEM;
	b[(*n)++] = *c;
	*a = b;
	return 0;
}

struct sandboxes {
	struct state_service *ss;
	int r;
};

static void add_sandbox(const struct accept_sandbox_info *i, void *userdata)
{
	struct sandboxes *sb = userdata;
	struct state_container c = {
	    .notify_fd = -1,
	    .pid = i->pid,
	    .pidfd = i->pidfd,
	    .output_fd = i->output_fd,
	    .cgroup = (char *)i->cgroup,
	    .pooled = i->pooled,
	    .started_at = i->started_at,
	};

	if (sb->r >= 0)
		sb->r = add_container(&sb->ss->sandboxes, &sb->ss->n_sandboxes, &c);
}

/* The state of m; its strings and arrays point into m (only the arrays
 * are its own: state_free_built()). */
static int build(struct manager *m, usec_t began, struct state *st)
{
	st->reexecs = m->reexec->count + 1;
	st->began_at = began;
	st->notify_seq = m->notify_seq;
	st->services = calloc(m->n_services ? m->n_services : 1, sizeof(*st->services));
	if (!st->services)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_inherited; i++)
		if (m->inherited[i].fd >= 0) {
			int *b = reallocarray(st->unclaimed, st->n_unclaimed + 1, sizeof(int));
			if (!b)
				return -ENOMEM;
			st->unclaimed = b;
			st->unclaimed[st->n_unclaimed++] = m->inherited[i].fd;
		}
	for (size_t i = 0; i < m->n_services; i++) {
		struct service *s = m->services[i];
		struct state_service *ss = &st->services[st->n_services++];
		int *b = reallocarray(st->fds, st->n_fds + s->cfg->socket.n_listen, sizeof(int));

		if (!b)
			return -ENOMEM;
		st->fds = b;
		for (size_t j = 0; j < s->cfg->socket.n_listen; j++)
			if (s->fds[j] >= 0)
				st->fds[st->n_fds++] = s->fds[j];
		ss->name = s->cfg->name;
		ss->failures = s->failures;
		ss->n_failures = s->n_failures;
		ss->triggers = s->triggers;
		ss->n_triggers = s->n_triggers;
		if (s->state == SERVICE_SUSPENDED && s->stats.backoff_until > began) {
			unsigned last = s->stats.n_transitions - 1;

			ss->suspended_until = s->stats.backoff_until;
			ss->suspend_drain = s->cfg->socket.accept && accept_draining(s->accept);
			ss->suspend_reason = s->stats.n_transitions
						 ? s->stats.history[last % SERVICE_HISTORY].reason
						 : (char *)"suspended";
		}
		ss->userns_fd = s->userns_fd;
		ss->netns_fd = s->net.shared_fd;
		ss->userns_slot = s->userns_slot;
		ss->config_hash = state_config_hash(s->cfg);
		ss->stats = s->stats;
		ss->listeners = (uint64_t(*)[2])s->stats.listeners;
		ss->n_listeners = s->stats.listeners ? s->cfg->socket.n_listen : 0;
		if (s->cfg->socket.accept) {
			struct sandboxes sb = {ss, 0};

			accept_foreach_sandbox(s->accept, add_sandbox, &sb);
			if (sb.r < 0)
				return sb.r;
		} else if (s->container && !container_exited(s->container) &&
			   container_pid(s->container) > 0) {
			ss->has_container = true;
			ss->container = (struct state_container){
			    .pid = container_pid(s->container),
			    .pidfd = container_pidfd(s->container),
			    .output_fd = output_pipe_read_fd(s->output_pipe),
			    .cgroup = (char *)container_cgroup(s->container),
			    .notify_fd = notify_fd(s->ready.notify),
			    .notify_path =
				s->ready.notify ? (char *)notify_path(s->ready.notify) : NULL,
			    .frozen = s->state == SERVICE_FROZEN,
			    .held = s->held,
			    /* A parked container never ran its payload: it is
			     * discarded after the exec, and prepared again. */
			    .pooled = s->state == SERVICE_PARKED,
			    .started_at = s->started_at,
			    .idle_since = s->idle_since,
			};
			/* Its veth pair goes with it: the new daemon deletes
			 * it when the container ends. */
			if (s->net.ifindex > 0) {
				ss->veth_ifindex = s->net.ifindex;
				memcpy(ss->veth_ifname, s->net.ifname, sizeof(ss->veth_ifname));
				memcpy(ss->veth_addr, s->net.addr, sizeof(ss->veth_addr));
				memcpy(ss->veth_host_addr, s->net.host_addr,
				       sizeof(ss->veth_host_addr));
			}
		}
	}
	return 0;
}

static void state_free_built(struct state *st)
{
	for (size_t i = 0; i < st->n_services; i++)
		free(st->services[i].sandboxes);
	free(st->services);
	free(st->fds);
	free(st->unclaimed);
}

static int set_cloexec_all(const int *fds, size_t n, bool on)
{
	int r = 0;

	for (size_t i = 0; i < n; i++) {
		int k = fd_set_cloexec(fds[i], on);
		if (k < 0 && r == 0)
			r = k;
	}
	return r;
}

/* The memfd holding st, FD_CLOEXEC set. */
static int write_memfd(const struct state *st, int *ret_fd)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int fd = -1;
	size_t len = 0, done = 0;
	FILE *f = open_memstream(&buf, &len);
	int r;

	if (!f)
		return -ENOMEM;
	r = state_write(f, st);
	if (fclose(f) != 0 && r >= 0)
		r = -ENOMEM;
	if (r < 0)
		return r;
	fd = memfd_create("nsinetd-state", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t k = write(fd, buf + done, len - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		done += (size_t)k;
	}
	/* What the next daemon reads is what this one wrote. */
	(void)fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int reexec_execute(struct manager *m, char *why, size_t why_len)
{
	struct reexec *rx = m->reexec;
	struct state st = {0};
	_cleanup_free_ int *fds = NULL;
	_cleanup_close_ int memfd = -1;
	char arg[64];
	size_t n_fds = 0, n_containers = 0;
	sigset_t hold, old;
	usec_t began = now_usec();
	int r;

	if (!rx) {
		snprintf(why, why_len, "this daemon cannot re-execute");
		return -EOPNOTSUPP;
	}
	if (m->shutting_down) {
		snprintf(why, why_len, "shutting down");
		return -ESHUTDOWN;
	}
	for (size_t i = 0; i < m->n_services; i++)
		if ((r = can_hand_over(m->services[i], why, why_len)) < 0) {
			log_warning("re-exec refused: %s", why);
			return r;
		}
	r = build(m, began, &st);
	if (r >= 0)
		r = write_memfd(&st, &memfd);
	if (r >= 0) {
		size_t max = state_fds_max(&st);

		fds = calloc(max + 1, sizeof(int));
		if (!fds)
			r = -ENOMEM;
		else
			n_fds = state_fds(&st, fds, max);
		for (size_t i = 0; i < st.n_services; i++)
			n_containers += st.services[i].has_container + st.services[i].n_sandboxes;
	}
	if (r < 0) {
		snprintf(why, why_len, "cannot write the state: %s", strerror(-r));
		log_error("re-exec: %s", why);
		state_free_built(&st);
		return r;
	}
	fds[n_fds++] = memfd;
	snprintf(arg, sizeof(arg), "--deserialize=%d", memfd);
	rx->argv[rx->argc] = arg;
	rx->argv[rx->argc + 1] = NULL;
	log_info("re-executing %s: %zu service(s), %zu socket(s), %zu container(s) handed over",
		 rx->binary, st.n_services, st.n_fds, n_containers);
	state_free_built(&st);

	/* Signals that arrive in the exec's window wait (the mask survives
	 * execve) for the new daemon's handlers, instead of their default
	 * action, which for SIGUSR2 and SIGHUP is to end the process. */
	sigemptyset(&hold);
	sigaddset(&hold, SIGHUP);
	sigaddset(&hold, SIGUSR2);
	sigaddset(&hold, SIGTERM);
	sigaddset(&hold, SIGINT);
	sigprocmask(SIG_BLOCK, &hold, &old);
	r = set_cloexec_all(fds, n_fds, false);
	/* No spare goes over: none is part of the state, and each would be
	 * a child and a cgroup the new daemon does not know. */
	m->spares = spares_free(m->spares);
	for (size_t i = 0; i < m->n_services; i++)
		if (m->services[i]->accept)
			accept_cgroups_drop(m->services[i]->accept);
	if (r >= 0) {
		fflush(NULL);
		execve(rx->binary, rx->argv, environ);
		r = -errno;
		snprintf(why, why_len, "cannot execute %s: %s", rx->binary, strerror(-r));
	} else {
		snprintf(why, why_len, "cannot hand over the fds: %s", strerror(-r));
	}
	/* Still here: the exec failed; nothing changed but FD_CLOEXEC. */
	(void)set_cloexec_all(fds, n_fds, true);
	sigprocmask(SIG_SETMASK, &old, NULL);
	m->spares = spares_new(m, m->spares_want);
	rx->argv[rx->argc] = NULL;
	log_error("re-exec failed, this daemon goes on: %s", why);
	return r;
}

static void settle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct manager *m = arg;
	struct reexec *rx = m->reexec;
	reexec_done_fn done = rx->done;
	char why[512] = "";
	int r = 0;

	for (size_t i = 0; i < m->n_services && r >= 0; i++)
		r = can_hand_over(m->services[i], why, sizeof(why));
	if (r == -EAGAIN && now_usec() < rx->settle_deadline && !m->shutting_down &&
	    timer_arm_usec(rx->settle_timer, SETTLE_TICK) >= 0)
		return;
	rx->done = NULL;
	if (r >= 0 || r == -EAGAIN)
		r = reexec_execute(m, why, sizeof(why)); /* returns only if it failed */
	else
		log_warning("re-exec refused: %s", why);
	if (done)
		done(rx->done_userdata, r, why);
}

int reexec_request(struct manager *m, reexec_done_fn done, void *userdata)
{
	struct reexec *rx = m->reexec;

	if (!rx)
		return -EOPNOTSUPP;
	if (m->shutting_down)
		return -ESHUTDOWN;
	if (rx->settle_timer && evtimer_pending(rx->settle_timer, NULL))
		return -EALREADY;
	if (!rx->settle_timer && !(rx->settle_timer = evtimer_new(m->base, settle_cb, m)))
		return -ENOMEM;
	rx->done = done;
	rx->done_userdata = userdata;
	rx->settle_deadline = now_usec() + SETTLE_TIMEOUT;
	settle_cb(-1, 0, m);
	return 0;
}

/* --- the new daemon: taking over --------------------------------------- */

int reexec_read(int fd, struct state *st, bool *clean_start)
{
	char why[256];
	_cleanup_free_ int *keep = NULL;
	size_t n = 0, max;
	int r;

	*clean_start = false;
	r = state_read(fd, st, why, sizeof(why));
	safe_close(fd);
	if (r < 0) {
		log_error("cannot take over the state of the daemon before the re-exec (%s: %s); "
			  "starting clean: its containers are stopped and its sockets closed",
			  why, strerror(-r));
		(void)fd_close_all_except(NULL, 0);
		*clean_start = true;
		return r;
	}
	max = state_fds_max(st) + 1;
	keep = calloc(max, sizeof(int));
	if (!keep)
		return -ENOMEM;
	n = state_fds(st, keep, max);
	/* Only what the state names is ours: nothing leaks through re-execs. */
	(void)fd_close_all_except(keep, n);
	(void)set_cloexec_all(keep, n, true);
	return 0;
}

/* cgroup.kill and rmdir of every cgroup below path (depth first). */
static void kill_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;

	(void)cgroup_kill(path);
	while (d && (de = readdir(d))) {
		_cleanup_free_ char *sub = NULL;

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (asprintf(&sub, "%s/%s", path, de->d_name) >= 0)
			kill_tree(sub);
	}
	if (d)
		closedir(d);
}

static void remove_tree(const char *path, bool self)
{
	DIR *d = opendir(path);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		_cleanup_free_ char *sub = NULL;

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (asprintf(&sub, "%s/%s", path, de->d_name) >= 0)
			remove_tree(sub, true);
	}
	if (d)
		closedir(d);
	if (self)
		(void)cgroup_remove(path);
}

/* A clean start after a state it could not read: the earlier daemon's
 * containers are this process's children, in cgroups below its own. They
 * are killed and reaped, before the loop starts (bounded: 2 s). */
static void kill_leftovers(struct manager *m)
{
	struct timespec ts = {0, 10 * 1000 * 1000};
	unsigned reaped = 0;

	if (m->cgroup_base_path)
		kill_tree(m->cgroup_base_path);
	for (int i = 0; i < 200; i++) {
		pid_t p = waitpid(-1, NULL, WNOHANG);

		if (p > 0) {
			reaped++;
			i--;
			continue;
		}
		if (p < 0)
			break; /* ECHILD: none left */
		nanosleep(&ts, NULL);
	}
	if (m->cgroup_base_path)
		remove_tree(m->cgroup_base_path, false);
	if (reaped)
		log_notice("stopped %u container(s) of the daemon before the re-exec", reaped);
}

void reexec_take_listeners(struct manager *m, struct state *st, bool clean_start)
{
	if (clean_start) {
		kill_leftovers(m);
		return;
	}
	/* Their uid ranges are in use: no new service may get one, unless it
	 * takes its own back (reexec_take_userns()). */
	for (size_t i = 0; i < st->n_services; i++)
		if (st->services[i].userns_fd >= 0)
			hardening_userns_reserve(st->services[i].userns_slot);
	m->reexec->pending = st;
	m->notify_seq = st->notify_seq;
	if (st->n_fds + st->n_unclaimed == 0)
		return;
	/* With no name: take_fd() gives them by address. */
	for (size_t i = 0; i < st->n_fds + st->n_unclaimed; i++) {
		int *fd = i < st->n_fds ? &st->fds[i] : &st->unclaimed[i - st->n_fds];

		if (manager_inherit(m, *fd, NULL) < 0) {
			/* Closed: its number is not ours to match later. */
			*fd = -1;
			log_error("re-exec: out of memory: a handed-over socket is closed, and its "
				  "address bound again");
		}
	}
}

static void orphan_exit_cb(struct container *c, int r, int status, void *userdata)
{
	struct reexec *rx = userdata;

	for (size_t i = 0; i < rx->n_orphans; i++)
		if (rx->orphans[i].c == c) {
			hardening_userns_unreserve(rx->orphans[i].userns_slot);
			rx->orphans[i] = rx->orphans[--rx->n_orphans];
			break;
		}
	log_debug("re-exec: pid %d, handed over and taken by no service, is gone",
		  (int)container_pid(c));
	container_free(c);
}

static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct reexec *rx = arg;
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
		return;
	for (size_t i = 0; i < rx->n_drains; i++)
		if (event_get_fd(rx->drains[i]) == fd) {
			event_free(rx->drains[i]);
			rx->drains[i] = rx->drains[--rx->n_drains];
			break;
		}
	safe_close(fd);
}

/* Reads and drops what fd (taken) gives until EOF. */
static void drain(struct manager *m, int fd)
{
	struct reexec *rx = m->reexec;
	struct event **b = reallocarray(rx->drains, rx->n_drains + 1, sizeof(*b));
	struct event *ev = NULL;

	if (b)
		rx->drains = b;
	if (!b || fd_set_nonblock(fd, true) < 0 ||
	    !(ev = event_new(m->base, fd, EV_READ | EV_PERSIST, drain_cb, rx)) ||
	    event_add(ev, NULL) < 0) {
		if (ev)
			event_free(ev);
		safe_close(fd);
		return;
	}
	rx->drains[rx->n_drains++] = ev;
}

static void orphan_exec_cb(struct container *c, int r, const struct activator_failure *f,
			   void *userdata)
{
}

static void orphan_freeze_cb(struct container *c, bool frozen, int r, void *userdata)
{
}

static const struct container_callbacks orphan_callbacks = {
    .exec = orphan_exec_cb,
    .exit = orphan_exit_cb,
    .freeze = orphan_freeze_cb,
};

/* A container no service takes: watched (an Accept=yes sandbox serving a
 * connection, which ends by itself), or stopped with sig. Takes the
 * pidfd, cgroup and output fd of c. */
static void orphan(struct manager *m, const char *name, struct state_container *c, bool stop,
		   int sig, usec_t timeout, unsigned userns_slot)
{
	struct reexec *rx = m->reexec;
	struct container *o = NULL;
	struct orphan *b;
	int r;

	if (c->output_fd >= 0)
		drain(m, c->output_fd);
	c->output_fd = -1;
	/* Its notifications go nowhere now: stopped, it needs none. */
	if (c->notify_fd >= 0 && c->notify_path)
		(void)unlink(c->notify_path);
	c->notify_fd = safe_close(c->notify_fd);
	b = reallocarray(rx->orphans, rx->n_orphans + 1, sizeof(*b));
	if (b)
		rx->orphans = b;
	r = b ? container_new(m->base, m->container_ops, name, &orphan_callbacks, rx, &o) : -ENOMEM;
	if (r >= 0)
		r = container_adopt(o, c->pid, c->pidfd, c->cgroup, c->frozen);
	if (r < 0) {
		/* Cannot watch it: it must not run unsupervised. */
		log_errno(LOG_ERR, r, "%s: cannot watch pid %d after the re-exec, killing it", name,
			  (int)c->pid);
		if (c->cgroup)
			(void)cgroup_kill(c->cgroup);
		(void)m->container_ops->signal(c->pidfd, SIGKILL);
		c->pidfd = safe_close(c->pidfd);
		container_free(o);
		hardening_userns_unreserve(userns_slot);
		return;
	}
	c->pidfd = -1;
	c->cgroup = NULL;
	rx->orphans[rx->n_orphans++] = (struct orphan){o, userns_slot};
	if (stop)
		(void)container_stop(o, sig, timeout);
}

static void orphan_veth_delete(const struct state_service *ss)
{
	int r = netns_veth_delete(ss->veth_ifindex);

	if (r < 0 && r != -ENODEV)
		log_errno(LOG_WARNING, r, "%s: cannot delete %s", ss->name, ss->veth_ifname);
}

static struct service *find(struct manager *m, const char *name)
{
	for (size_t i = 0; i < m->n_services; i++)
		if (!m->services[i]->removing && strcmp(m->services[i]->cfg->name, name) == 0)
			return m->services[i];
	return NULL;
}

/* The slot of a user namespace no service took: the last container in it
 * releases it. */
static unsigned take_slot(struct state_service *ss)
{
	unsigned slot = ss->userns_slot;

	ss->userns_slot = 0;
	return slot;
}
#define TAKE_SLOT(ss) take_slot(ss)

bool reexec_take_userns(struct manager *m, const struct service *s, unsigned *ret_slot, int *ret_fd)
{
	struct state *st = m->reexec ? m->reexec->pending : NULL;

	for (size_t i = 0; st && i < st->n_services; i++) {
		struct state_service *ss = &st->services[i];

		if (ss->userns_fd < 0 || strcmp(ss->name, s->cfg->name) != 0 ||
		    state_config_hash(s->cfg) != ss->config_hash)
			continue;
		*ret_slot = take_slot(ss);
		*ret_fd = ss->userns_fd;
		ss->userns_fd = -1;
		return true;
	}
	return false;
}

void reexec_adopt(struct manager *m, struct state *st)
{
	size_t adopted = 0, watched = 0, stopped = 0;

	for (size_t i = 0; i < st->n_services; i++) {
		struct state_service *ss = &st->services[i];
		struct service *s = find(m, ss->name);
		bool same = s && state_config_hash(s->cfg) == ss->config_hash;
		int sig = s ? s->cfg->service.kill_signal : SIGTERM;
		usec_t timeout = s ? s->cfg->service.stop_timeout : ORPHAN_STOP_TIMEOUT;

		if (same) {
			usec_t now = now_usec();

			state_stats_copy(&s->stats, &ss->stats);
			service_adopt_limits(s, ss->failures, (unsigned)ss->n_failures,
					     ss->triggers, (unsigned)ss->n_triggers,
					     ss->suspended_until > now ? ss->suspended_until - now
								       : 0,
					     ss->suspend_drain,
					     ss->suspend_reason ? ss->suspend_reason : "suspended");
			if (ss->n_listeners == s->cfg->socket.n_listen && s->stats.listeners)
				for (size_t j = 0; j < ss->n_listeners; j++) {
					s->stats.listeners[j].accepted = ss->listeners[j][0];
					s->stats.listeners[j].refused = ss->listeners[j][1];
				}
		} else {
			log_info(
			    "%s: %s since the re-exec: its container is stopped as by a reload",
			    ss->name, s ? "configuration changed" : "removed");
		}
		/* Its shared namespace: the one its next containers join. */
		if (same && ss->netns_fd >= 0 &&
		    s->cfg->container.network == NETWORK_SHARED_EMPTY && s->net.shared_fd < 0) {
			s->net.shared_fd = ss->netns_fd;
			ss->netns_fd = -1;
		}
		if (ss->has_container) {
			struct state_container *c = &ss->container;
			struct service_adoption a = {
			    .pid = c->pid,
			    .pidfd = c->pidfd,
			    .output_fd = c->output_fd,
			    .notify_fd = c->notify_fd,
			    .notify_path = c->notify_path,
			    .cgroup = c->cgroup,
			    .frozen = c->frozen,
			    .held = c->held,
			    .started_at = c->started_at,
			    .idle_since = c->idle_since,
			};

			if (same && !c->pooled && service_adopt_container(s, &a) >= 0) {
				c->cgroup = NULL;
				c->notify_fd = -1;
				if (ss->veth_ifindex > 0)
					network_adopt(s, ss->veth_ifindex, ss->veth_ifname,
						      ss->veth_addr, ss->veth_host_addr);
				adopted++;
			} else {
				/* Stopped: its pair goes now, as the
				 * service's would (a start of the same name
				 * wants the name). */
				if (ss->veth_ifindex > 0)
					orphan_veth_delete(ss);
				orphan(m, ss->name, c, true, c->pooled ? SIGKILL : sig, timeout,
				       TAKE_SLOT(ss));
				stopped++;
			}
		}
		for (size_t j = 0; j < ss->n_sandboxes; j++) {
			struct state_container *c = &ss->sandboxes[j];

			/* A pooled sandbox serves nothing: the new pool is
			 * filled again. One serving a connection finishes. */
			orphan(m, ss->name, c, c->pooled, SIGKILL, USEC_INFINITY,
			       j + 1 == ss->n_sandboxes ? TAKE_SLOT(ss) : 0);
			if (c->pooled)
				stopped++;
			else
				watched++;
		}
	}
	/* User namespaces no service took: closed; a range whose containers
	 * are gone (or none was handed over) is free again. */
	for (size_t i = 0; i < st->n_services; i++) {
		st->services[i].userns_fd = safe_close(st->services[i].userns_fd);
		st->services[i].netns_fd = safe_close(st->services[i].netns_fd);
		hardening_userns_unreserve(take_slot(&st->services[i]));
	}
	m->reexec->pending = NULL;
	/* Sockets of removed services, or changed addresses: closed (those
	 * systemd passed and no service took stay, as before). */
	for (size_t i = 0; i < m->n_inherited; i++)
		for (size_t j = 0; j < st->n_fds && m->inherited[i].fd >= 0; j++)
			if (m->inherited[i].fd == st->fds[j])
				m->inherited[i].fd = safe_close(m->inherited[i].fd);
	m->reexec->count = st->reexecs;
	log_info("re-executed (#%llu) in %.1f ms: %zu container(s) taken over, %zu sandbox(es) "
		 "in flight watched, %zu stopped",
		 (unsigned long long)st->reexecs, (double)(now_usec() - st->began_at) / 1000.0,
		 adopted, watched, stopped);
	state_done(st);
}
