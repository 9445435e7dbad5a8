/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "service.h"

#include <errno.h>
#include <event2/event.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "activator/activator.h"
#include "activator/cgroup.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/fd-util.h"
#include "common/strv.h"
#include "supervisor/hardening.h"
#include "supervisor/idle.h"
#include "supervisor/accept.h"
#include "supervisor/control.h"
#include "supervisor/listener.h"
#include "supervisor/manager.h"
#include "supervisor/output.h"
#include "supervisor/rootdir.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* How many queued connections one wake-up takes in backoff. */
#define DRAIN_BATCH 64

usec_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000;
}

static struct timeval usec_to_timeval(usec_t u)
{
	struct timeval tv = {.tv_sec = (time_t)(u / USEC_PER_SEC),
			     .tv_usec = (suseconds_t)(u % USEC_PER_SEC)};
	return tv;
}

const char *service_state_to_string(enum service_state st)
{
	switch (st) {
	case SERVICE_WAITING:
		return "waiting";
	case SERVICE_LISTENING:
		return "listening";
	case SERVICE_RUNNING:
		return "running";
	case SERVICE_FROZEN:
		return "frozen";
	case SERVICE_STOPPING:
		return "stopping";
	case SERVICE_BACKOFF:
		return "backoff";
	case SERVICE_PARKED:
		return "parked";
	}
	return "unknown";
}

bool service_is_active(const struct service *s)
{
	return s->pidfd >= 0 || (s->accept && accept_is_active(s->accept));
}

static const char *name(const struct service *s)
{
	return s->cfg->name;
}

void service_listen_enable(struct service *s, bool on)
{
	for (size_t i = 0; i < s->cfg->socket.n_listen; i++) {
		if (!s->listen_events[i])
			continue;
		if (on)
			event_add(s->listen_events[i], NULL);
		else
			event_del(s->listen_events[i]);
	}
}

void service_stats_record(struct service_stats *st, enum service_state state, const char *reason,
			  usec_t now)
{
	struct service_transition *t = &st->history[st->n_transitions++ % SERVICE_HISTORY];

	t->at = now;
	t->state = state;
	snprintf(t->reason, sizeof(t->reason), "%s", reason ? reason : "");
	st->state_since = now;
}

/* The one place a service changes state: REASON says why, for the log,
 * the state history and the control interface's signal. */
static void set_state(struct service *s, enum service_state st, const char *reason)
{
	enum service_state old = s->state;
	usec_t now = now_usec();

	if (old == st)
		return;
	log_debug("%s: %s -> %s (%s)", name(s), service_state_to_string(old),
		  service_state_to_string(st), reason);
	s->state = st;
	service_stats_record(&s->stats, st, reason, now);
	/* Polling follows the state: a listening, frozen or backing-off
	 * service looks at its sockets; otherwise a container (or nobody)
	 * does. Accept=yes adds its own limits. */
	if (s->accept)
		accept_update_polling(s->accept);
	else
		service_listen_enable(s, st == SERVICE_LISTENING || st == SERVICE_BACKOFF ||
					     st == SERVICE_FROZEN || st == SERVICE_PARKED);
	/* Listening with no container: set the next one up ahead. */
	if (st == SERVICE_LISTENING && s->park_event)
		event_active(s->park_event, 0, 0);
	idle_update(s->manager);
	manager_notify_status(s->manager);
	manager_service_changed(s->manager, s, (int)old, reason, now);
}

static void timer_start(struct service *s, usec_t after, event_callback_fn cb)
{
	struct timeval tv = usec_to_timeval(after);

	if (s->timer)
		event_free(s->timer);
	s->timer = evtimer_new(s->manager->base, cb, s);
	if (s->timer)
		evtimer_add(s->timer, &tv);
}

static void timer_stop(struct service *s)
{
	if (s->timer) {
		event_free(s->timer);
		s->timer = NULL;
	}
}

/* --- start limit -------------------------------------------------------- */

/* Records an event at now in times[] (room for burst), forgetting those
 * older than window; true when burst events fall inside the window. */
bool service_rate_record(usec_t *times, unsigned *n, usec_t window, unsigned burst)
{
	usec_t now = now_usec();
	unsigned kept = 0;

	for (unsigned i = 0; i < *n; i++)
		if (window == USEC_INFINITY || now - times[i] < window)
			times[kept++] = times[i];
	*n = kept;
	if (*n < burst)
		times[(*n)++] = now;
	return *n >= burst;
}

/* Counts failed runs inside StartLimitIntervalSec=. Unlike systemd, a run
 * that ended cleanly does not count: a service that exits after serving is
 * doing its job, and must not be locked out for it. The trigger limit
 * bounds the other loop, a service that exits 0 without serving. */
static bool record_failure(struct service *s)
{
	s->stats.start_failures++;
	return service_rate_record(s->failures, &s->n_failures,
				   s->cfg->service.start_limit_interval,
				   s->cfg->service.start_limit_burst);
}

static void backoff_end_cb(evutil_socket_t fd, short what, void *arg)
{
	struct service *s = arg;

	timer_stop(s);
	s->stats.backoff_until = 0;
	s->n_failures = 0;
	s->n_triggers = 0;
	log_notice("%s: backoff over, listening again", name(s));
	/* A container parked before the backoff is still there, unreleased. */
	set_state(s, s->park_fd >= 0 ? SERVICE_PARKED : SERVICE_LISTENING, "backoff over");
}

/* Refuses connections (accept and close) for interval, then listens again:
 * never a permanent failure, even for an infinite interval. */
static void enter_backoff(struct service *s, const char *what, unsigned burst, const char *key,
			  usec_t interval)
{
	char b1[64], b2[64];
	usec_t wait = interval == USEC_INFINITY || interval == 0 ? 10 * USEC_PER_SEC : interval;

	log_error("%s: %u %s within %s=%s: refusing connections for %s, then trying again", name(s),
		  burst, what, key, format_duration(b1, sizeof(b1), interval),
		  format_duration(b2, sizeof(b2), wait));
	s->stats.backoff_until = now_usec() + wait;
	set_state(s, SERVICE_BACKOFF, what);
	timer_start(s, wait, backoff_end_cb);
}

static void enter_start_backoff(struct service *s)
{
	enter_backoff(s, "failed starts", s->cfg->service.start_limit_burst,
		      "StartLimitIntervalSec", s->cfg->service.start_limit_interval);
}

/* --- starting ----------------------------------------------------------- */

/* Finds User= in the container's own /etc/passwd when it has a root
 * directory (root_fd, see rootdir.h), else in the host's database. On
 * failure why says what is wrong. */
static int lookup_passwd(int root_fd, const char *user, uid_t *ret_uid, gid_t *ret_gid,
			 char **ret_home, char *why, size_t why_len)
{
	struct passwd *pw;
	uint64_t n;

	if (parse_uint(user, 0, 0xfffffffe, &n) == 0) {
		*ret_uid = (uid_t)n;
		*ret_gid = (gid_t)n;
		*ret_home = NULL;
		return 0;
	}
	if (root_fd >= 0)
		return rootdir_lookup_user(root_fd, user, ret_uid, ret_gid, ret_home, why, why_len);
	pw = getpwnam(user);
	if (!pw) {
		snprintf(why, why_len, "no user %s on the host", user);
		return -ESRCH;
	}
	*ret_uid = pw->pw_uid;
	*ret_gid = pw->pw_gid;
	*ret_home = strdup(pw->pw_dir);
	return 0;
}

static int lookup_group(int root_fd, const char *group, gid_t *ret_gid, char *why, size_t why_len)
{
	struct group *gr;
	uint64_t n;

	if (parse_uint(group, 0, 0xfffffffe, &n) == 0) {
		*ret_gid = (gid_t)n;
		return 0;
	}
	if (root_fd >= 0)
		return rootdir_lookup_group(root_fd, group, ret_gid, why, why_len);
	gr = getgrnam(group);
	if (!gr) {
		snprintf(why, why_len, "no group %s on the host", group);
		return -ESRCH;
	}
	*ret_gid = gr->gr_gid;
	return 0;
}

static bool path_below(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* With the host's / as root, mount points must exist already: nsinetd
 * never creates anything in the host's file system. Below the container's
 * own tmpfs (/tmp, /run, TemporaryFileSystem=) they are created. */
static int check_mount_point(const struct service *s, const char *key, const char *target)
{
	static const char *const own[] = {"/tmp", "/run", "/dev", "/proc", "/sys"};
	const struct container_config *cc = &s->cfg->container;
	struct stat st;

	if (cc->directory)
		return 0;
	for (size_t i = 0; i < ELEMENTSOF(own); i++)
		if (path_below(target, own[i]) && strcmp(target, own[i]) != 0)
			return 0;
	for (size_t i = 0; i < cc->n_tmpfs; i++)
		if (path_below(target, cc->tmpfs[i].target) &&
		    strcmp(target, cc->tmpfs[i].target) != 0)
			return 0;
	if (stat(target, &st) == 0)
		return 0;
	log_error("%s: %s: the mount point %s does not exist in the host's /, and nsinetd "
		  "never creates anything there: use an existing directory, a target below "
		  "/tmp, /run or a TemporaryFileSystem=, or Directory=",
		  name(s), key, target);
	return -ENOENT;
}

static int check_mount_points(const struct service *s)
{
	const struct container_config *cc = &s->cfg->container;
	int r = 0;

	for (size_t i = 0; i < cc->n_binds && r >= 0; i++)
		if (!cc->binds[i].optional || access(cc->binds[i].source, F_OK) == 0)
			r = check_mount_point(s, cc->binds[i].read_only ? "BindReadOnly=" : "Bind=",
					      cc->binds[i].target);
	for (size_t i = 0; i < cc->n_tmpfs && r >= 0; i++)
		r = check_mount_point(s, "TemporaryFileSystem=", cc->tmpfs[i].target);
	return r;
}

static void sync_cb(evutil_socket_t fd, short what, void *arg);
static void exit_cb(evutil_socket_t fd, short what, void *arg);

void service_cgroup_drop(const struct service *s, char **path)
{
	if (!*path)
		return;
	/* pid 1 is gone, and with it its pid namespace; what may remain is
	 * a process on its way out. Kill whatever is left, then remove. */
	for (int i = 0; i < 200; i++) {
		int r = cgroup_remove(*path);
		if (r >= 0 || r == -ENOENT)
			break;
		if (r != -EBUSY) {
			log_errno(LOG_WARNING, r, "%s: cannot remove cgroup %s", name(s), *path);
			break;
		}
		if (i == 0)
			(void)cgroup_kill(*path);
		usleep(1000);
	}
	free(*path);
	*path = NULL;
}

static void drop_cgroup(struct service *s)
{
	service_cgroup_drop(s, &s->cgroup_path);
}

static int build_env(struct service *s, const char *home, char ***ret)
{
	const struct container_config *cc = &s->cfg->container;
	_cleanup_strv_free_ char **env = NULL;
	int r;

	/* The base every container gets; Environment= overrides it. */
	if ((r = strv_push(&env, "PATH=" DEFAULT_PATH)) < 0 ||
	    (r = strv_push(&env, "container=nsinetd")) < 0)
		return r;
	if (cc->user) {
		_cleanup_free_ char *u = NULL, *l = NULL;
		if (asprintf(&u, "USER=%s", cc->user) < 0 ||
		    asprintf(&l, "LOGNAME=%s", cc->user) < 0)
			return -ENOMEM;
		if ((r = strv_push(&env, u)) < 0 || (r = strv_push(&env, l)) < 0)
			return r;
	}
	{
		_cleanup_free_ char *h = NULL;
		if (asprintf(&h, "HOME=%s", home ? home : "/") < 0)
			return -ENOMEM;
		if ((r = strv_push(&env, h)) < 0)
			return r;
	}
	STRV_FOREACH (e, cc->environment)
		if ((r = strv_env_set(&env, *e)) < 0)
			return r;
	*ret = TAKE_PTR(env);
	return 0;
}

static void start_failed(struct service *s)
{
	if (record_failure(s))
		enter_start_backoff(s);
	else
		set_state(s, SERVICE_LISTENING, "start failed");
}

void service_spec_done(struct service_spec *sp)
{
	sp->env = strv_free(sp->env);
	free(sp->home);
	sp->home = NULL;
	free(sp->names);
	sp->names = NULL;
	free(sp->binds);
	sp->binds = NULL;
	free(sp->tmpfs);
	sp->tmpfs = NULL;
	sp->cgroup_fd = safe_close(sp->cgroup_fd);
	free(sp->cgroup_path);
	sp->cgroup_path = NULL;
	sp->output = output_pipe_close(sp->output);
}

/* enter: for shell.c, the running container's own cgroup, network and
 * output are used, none is made. */
static int spec_build(struct service *s, const char *cgroup_rel, bool enter,
		      struct service_spec *sp)
{
	const struct container_config *cc = &s->cfg->container;
	struct manager *m = s->manager;
	struct activator_spec *spec = &sp->spec;
	_cleanup_close_ int root_fd = -1;
	char why[ROOTDIR_WHY_MAX];
	size_t n_binds = 0;
	uid_t uid = 0;
	gid_t gid = 0;
	int n_groups = 0;
	int r;

	*sp = (struct service_spec){.cgroup_fd = -1};
	if (cc->directory) {
		/* Checked again at each start: the tree may have changed. */
		r = rootdir_open(cc->directory, &root_fd, why, sizeof(why));
		if (r >= 0 && !cc->read_only)
			r = rootdir_check_private(cc->directory, why, sizeof(why));
		if (r < 0)
			return log_errno(LOG_ERR, r, "%s: Directory=%s: %s", name(s), cc->directory,
					 why);
	}
	if (cc->user) {
		r = lookup_passwd(root_fd, cc->user, &uid, &gid, &sp->home, why, sizeof(why));
		if (r < 0) {
			log_error("%s: User=%s: cannot resolve: %s", name(s), cc->user, why);
			return r;
		}
		/* Supplementary groups only from the host's database, and
		 * only when the container shares the host's root. */
		if (!cc->directory && !cc->group) {
			struct passwd *pw = getpwuid(uid);
			n_groups = ELEMENTSOF(sp->groups);
			if (!pw || getgrouplist(pw->pw_name, gid, sp->groups, &n_groups) < 0)
				n_groups = 0;
		}
	}
	if (cc->group) {
		r = lookup_group(root_fd, cc->group, &gid, why, sizeof(why));
		if (r < 0) {
			log_error("%s: Group=%s: cannot resolve: %s", name(s), cc->group, why);
			return r;
		}
	}

	r = check_mount_points(s);
	if (r < 0)
		return r;

	r = build_env(s, sp->home, &sp->env);
	if (r < 0)
		goto fail_log;

	sp->names = calloc(s->cfg->socket.n_listen + 1, sizeof(char *));
	sp->binds = calloc(cc->n_binds + 1, sizeof(*sp->binds));
	sp->tmpfs = calloc(cc->n_tmpfs + 1, sizeof(*sp->tmpfs));
	if (!sp->names || !sp->binds || !sp->tmpfs) {
		r = -ENOMEM;
		goto fail_log;
	}
	for (size_t i = 0; i < s->cfg->socket.n_listen; i++)
		sp->names[i] = s->cfg->socket.fd_name ? s->cfg->socket.fd_name : name(s);
	for (size_t i = 0; i < cc->n_binds; i++) {
		const struct bind_config *b = &cc->binds[i];
		if (b->optional && access(b->source, F_OK) < 0)
			continue;
		sp->binds[n_binds++] = (struct activator_bind){
		    .source = b->source,
		    .target = b->target,
		    .read_only = b->read_only,
		    .idmap = b->idmap,
		    .allow_suid = b->suid,
		};
	}
	for (size_t i = 0; i < cc->n_tmpfs; i++)
		sp->tmpfs[i] = (struct activator_tmpfs){cc->tmpfs[i].target, cc->tmpfs[i].options};

	if (m->have_cgroup && !enter) {
		_cleanup_free_ char *rel = NULL;
		if (asprintf(&rel, "%s/%s%s%s", m->cgroup_base, name(s), cgroup_rel ? "/" : "",
			     cgroup_rel ? cgroup_rel : "") < 0) {
			r = -ENOMEM;
			goto fail_log;
		}
		r = cgroup_create(&m->cgroup, rel, &sp->cgroup_fd, &sp->cgroup_path);
		if (r < 0)
			log_errno(LOG_WARNING, r,
				  "%s: cannot create cgroup %s, starting without one", name(s),
				  rel);
	}

	/* Never the daemon's own stderr: that may be the administrator's
	 * terminal, or a log with other clients' addresses in it. */
	r = enter ? 0 : output_pipe_open(s->output, &sp->output);
	if (r < 0)
		goto fail_log;

	spec->name = name(s);
	spec->argv = cc->exec;
	spec->envp = sp->env;
	spec->fds = s->fds;
	spec->fd_names = sp->names;
	spec->n_fds = s->cfg->socket.n_listen;
	spec->stdio[0] = -1;
	spec->stdio[1] = enter ? -1 : output_pipe_fd(sp->output);
	spec->stdio[2] = enter ? -1 : output_pipe_fd(sp->output);
	spec->root_directory = cc->directory;
	spec->read_only = cc->read_only;
	spec->binds = sp->binds;
	spec->n_binds = n_binds;
	spec->tmpfs = sp->tmpfs;
	spec->n_tmpfs = cc->n_tmpfs;
	spec->staging_dir = m->staging_dir;
	spec->hostname = cc->hostname ? cc->hostname : name(s);
	spec->working_directory = cc->working_directory;
	spec->uid = uid;
	spec->gid = gid;
	spec->groups = (const gid_t *)sp->groups;
	spec->n_groups = (size_t)n_groups;
	spec->namespaces = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS |
			   CLONE_NEWCGROUP; /* CLONE_NEWNET: network_prepare() */
	spec->cgroup_fd = sp->cgroup_fd;
	spec->pool = false;
	spec->handoff_fd = -1;
	spec->userns_fd = -1;
	spec->init_fd = m->init_fd;
	spec->slot_fd = m->slot_fd;
	spec->netns_fd = -1;
	r = enter ? 0 : network_prepare(s, spec);
	if (r < 0)
		return r;
	r = hardening_fill(s, uid, &sp->hardening, spec);
	if (r < 0) {
		if (!enter)
			network_spawned(s, r);
		return r;
	}
	return 0;

fail_log:
	return log_errno(LOG_ERR, r, "%s: cannot prepare the container", name(s));
}

int service_spec_build(struct service *s, const char *cgroup_rel, struct service_spec *sp)
{
	return spec_build(s, cgroup_rel, false, sp);
}

int service_spec_build_enter(struct service *s, struct service_spec *sp)
{
	return spec_build(s, NULL, true, sp);
}

/*
 * Spawns the service's container: to run now, or (park) set up and parked
 * before its exec until service_release(). A parked container's failure is
 * not the service's: it is logged, and the next connection starts one the
 * usual way (which fails, and counts, if the cause is the configuration).
 */
static int spawn(struct service *s, bool park)
{
	struct manager *m = s->manager;
	struct activator_child child = {.pid = -1, .pidfd = -1, .sync_fd = -1};
	_cleanup_(service_spec_done) struct service_spec sp = {.cgroup_fd = -1};
	_cleanup_close_ int park_child = -1;
	int r;

	r = service_spec_build(s, NULL, &sp);
	if (r < 0) {
		service_cgroup_drop(s, &sp.cgroup_path);
		if (!park)
			start_failed(s);
		return r;
	}
	if (park) {
		int pair[2];

		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
			r = log_errno(LOG_ERR, -errno, "%s: Prepare=: socketpair", name(s));
			service_cgroup_drop(s, &sp.cgroup_path);
			return r;
		}
		s->park_fd = pair[0];
		park_child = pair[1];
		sp.spec.park = true;
		sp.spec.handoff_fd = park_child;
		/* Set up with CPU nothing else wants, where we can undo it. */
		sp.spec.idle_priority = geteuid() == 0;
	}
	s->cgroup_path = TAKE_PTR(sp.cgroup_path);
	hardening_cgroup_apply(s, s->cgroup_path);

	s->started_at = now_usec();
	r = activator_spawn(&sp.spec, &child);
	output_pipe_spawned(sp.output, r < 0 ? -1 : child.pid);
	network_spawned(s, r);
	if (r < 0) {
		log_errno(LOG_ERR, r, "%s: cannot %s container", name(s),
			  park ? "prepare a" : "start");
		drop_cgroup(s);
		if (park)
			s->park_fd = safe_close(s->park_fd);
		else
			start_failed(s);
		return r;
	}
	s->pid = child.pid;
	s->pidfd = child.pidfd;
	s->sync_fd = child.sync_fd;
	s->output_pipe = TAKE_PTR(sp.output);
	s->exec_done = false;
	s->kill_sent = false;
	s->released = false;
	s->pidfd_event = event_new(m->base, s->pidfd, EV_READ, exit_cb, s);
	s->sync_event = event_new(m->base, s->sync_fd, EV_READ | EV_PERSIST, sync_cb, s);
	if (!s->pidfd_event || !s->sync_event) {
		/* Without its events the container cannot be supervised. */
		log_error("%s: out of memory, killing the new container", name(s));
		(void)activator_signal(s->pidfd, SIGKILL);
		if (s->pidfd_event)
			event_free(s->pidfd_event);
		s->pidfd_event = event_new(m->base, s->pidfd, EV_READ, exit_cb, s);
	}
	if (s->pidfd_event)
		event_add(s->pidfd_event, NULL);
	if (s->sync_event)
		event_add(s->sync_event, NULL);
	s->idle_since = s->started_at;
	s->cpu_checked_at = s->started_at;
	s->cpu_usage = 0;
	set_state(s, park ? SERVICE_PARKED : SERVICE_RUNNING, park ? "prepared" : "connection");
	log_debug("%s: spawned container pid %d%s", name(s), (int)s->pid, park ? ", parked" : "");
	return 0;
}

int service_start(struct service *s)
{
	if (s->cfg->socket.accept)
		return -EOPNOTSUPP; /* one sandbox per connection: accept.c */
	if (service_is_active(s) || s->state == SERVICE_WAITING)
		return -EBUSY;
	return spawn(s, false);
}

/* The first connection for a parked container: let it exec. Its setup is
 * done, so what is left on the connection's path is pid 1's fork and the
 * payload's exec. */
static int service_release(struct service *s)
{
	int r;

	s->released = true;
	if (geteuid() == 0)
		(void)activator_priority_normal(s->pid);
	r = activator_release(s->park_fd);
	s->park_fd = safe_close(s->park_fd);
	if (r < 0) {
		/* Gone already: its exit comes as an event, and the connection
		 * still waits in the queue for the next start. */
		log_errno(LOG_WARNING, r, "%s: cannot release parked container pid %d", name(s),
			  (int)s->pid);
		return r;
	}
	s->started_at = now_usec();
	s->idle_since = s->started_at;
	s->cpu_checked_at = s->started_at;
	set_state(s, SERVICE_RUNNING, "connection: released");
	return 0;
}

/* Deferred from set_state(LISTENING), at the loop's lowest priority. */
static void park_cb(evutil_socket_t fd, short what, void *arg)
{
	struct service *s = arg;

	if (s->state != SERVICE_LISTENING || !s->cfg->container.prepare || s->park_failed ||
	    s->remove_when_stopped || s->manager->shutting_down || service_is_active(s))
		return;
	(void)spawn(s, true);
}

/* "web: container setup failed at bind (/srv/data): …", with the advice
 * for the one failure whose cause is the host, not the configuration.
 * Shared with accept.c, whose prefix names the sandbox. */
void service_log_setup_failure(const struct service *s, const char *prefix, int r,
			       const struct activator_failure *f)
{
	if (f->step == STEP_IDMAP) {
		log_errno(LOG_ERR, r,
			  "%s: PrivateUsers= with Directory=%s: cannot make an idmapped mount of "
			  "it (the kernel or its file system does not support one here): chown the "
			  "tree to the service's uid range, or set PrivateUsers=no",
			  prefix, s->cfg->container.directory);
		return;
	}
	if (r == -EACCES && s->userns_fd >= 0 &&
	    (f->step == STEP_EXEC || f->step == STEP_CHDIR || f->step == STEP_BIND)) {
		/* The most likely surprise of the default user namespace. */
		log_errno(
		    LOG_ERR, r,
		    "%s setup failed at %s%s%s%s (the container's root is an unprivileged "
		    "uid of the host, PrivateUsers=: what it uses must be readable, and every "
		    "directory above it searchable, by others; or give it with Bind=…:idmap)",
		    prefix, activator_step_name(f->step), f->what[0] ? " (" : "", f->what,
		    f->what[0] ? ")" : "");
		return;
	}
	log_errno(LOG_ERR, r, "%s setup failed at %s%s%s%s", prefix, activator_step_name(f->step),
		  f->what[0] ? " (" : "", f->what, f->what[0] ? ")" : "");
}

/* Reads the child's setup outcome. Returns true when it is known. */
static bool sync_read(struct service *s)
{
	struct activator_failure f;
	char prefix[300];
	int r;

	if (s->sync_fd < 0)
		return true;
	r = activator_read_result(s->sync_fd, &f);
	if (r == -EAGAIN)
		return false;
	if (r == 0) {
		s->exec_done = true;
		s->park_failed = false;
		s->stats.starts++;
		s->stats.last_start = now_usec() - s->started_at;
		log_info("%s: started container pid %d (%s to exec %.1f ms)", name(s), (int)s->pid,
			 s->released ? "release" : "clone",
			 (double)(now_usec() - s->started_at) / 1000.0);
	} else {
		snprintf(prefix, sizeof(prefix), "%s: %scontainer", name(s),
			 s->state == SERVICE_PARKED ? "parked " : "");
		service_log_setup_failure(s, prefix, r, &f);
	}
	if (s->sync_event) {
		event_free(s->sync_event);
		s->sync_event = NULL;
	}
	s->sync_fd = safe_close(s->sync_fd);
	control_service_progress(s->manager->control, s);
	return true;
}

static void sync_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)sync_read(arg);
}

static void exit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct service *s = arg;
	char buf[64];
	int status = 0, r;
	bool failed, stopping = s->state == SERVICE_STOPPING;
	bool parked = s->park_fd >= 0; /* parked, never released, not discarded */
	usec_t ran = now_usec() - s->started_at;

	r = activator_reap(s->pidfd, &status);
	if (r == -EAGAIN) {
		event_add(s->pidfd_event, NULL);
		return;
	}
	/* A failed setup step is told on the sync fd before the exit. */
	if (s->sync_fd >= 0 && !sync_read(s)) {
		if (s->sync_event)
			event_free(s->sync_event);
		s->sync_event = NULL;
		s->sync_fd = safe_close(s->sync_fd);
	}
	event_free(s->pidfd_event);
	s->pidfd_event = NULL;
	s->pidfd = safe_close(s->pidfd);
	timer_stop(s);
	drop_cgroup(s);
	network_stop(s);
	/* Its last lines are logged before its end. */
	s->output_pipe = output_pipe_close(s->output_pipe);

	format_duration(buf, sizeof(buf), ran - ran % 1000);
	if (s->discarding || parked) {
		/* Never released: nothing of the service ran. Discarded (a
		 * stop, a reload) it exits 0 and says nothing more; gone by
		 * itself, the next connection starts a container the usual way
		 * (which reports the cause, and counts, if it is the
		 * configuration's). */
		failed = r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0;
		if (s->discarding)
			log_debug("%s: parked container pid %d discarded", name(s), (int)s->pid);
		else
			log_warning(
			    "%s: parked container pid %d ended before any connection "
			    "(wait status 0x%x): the next connection starts one the usual way",
			    name(s), (int)s->pid, (unsigned)status);
		s->discarding = false;
	} else {
		if (stopping)
			log_info("%s: stopped in %.1f ms", name(s),
				 (double)(now_usec() - s->stop_started_at) / 1000.0);
		if (r < 0) {
			log_errno(LOG_ERR, r, "%s: cannot reap container pid %d", name(s),
				  (int)s->pid);
			failed = true;
		} else if (WIFEXITED(status)) {
			failed = WEXITSTATUS(status) != 0;
			log_msg(failed && !stopping ? LOG_WARNING : LOG_INFO,
				"%s: container pid %d exited with status %d after %s", name(s),
				(int)s->pid, WEXITSTATUS(status), buf);
		} else {
			int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
			failed = true;
			log_msg(stopping ? LOG_INFO : LOG_WARNING,
				"%s: container pid %d killed by %s after %s", name(s), (int)s->pid,
				signal_to_string(sig), buf);
		}
	}
	if (!s->discarding && !parked && r >= 0) {
		s->stats.have_exit = true;
		s->stats.last_exit_status = status;
		s->stats.last_exit_at = now_usec();
	}
	s->pid = -1;
	s->park_fd = safe_close(s->park_fd);

	if (s->remove_when_stopped) {
		service_free(s);
		return;
	}
	/* A parked container that ended by itself is no failure of the
	 * service; the next connection starts one the usual way. */
	if (parked) {
		s->park_failed = true;
		if (s->state != SERVICE_BACKOFF)
			set_state(s, SERVICE_LISTENING, "parked container gone");
		return;
	}
	/* A stop we asked for is not the service's failure. */
	if (failed && !stopping && record_failure(s)) {
		enter_start_backoff(s);
		return;
	}
	/* Listening again: a connection that came during the run or the
	 * stop is still queued and starts the next container at once. */
	set_state(s, SERVICE_LISTENING, stopping ? "stopped" : "container exited");
}

/* --- stopping ----------------------------------------------------------- */

static void stop_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct service *s = arg;
	char buf[64];

	timer_stop(s);
	if (!service_is_active(s))
		return;
	log_warning("%s: container pid %d did not stop within StopTimeoutSec=%s after %s, "
		    "killing it",
		    name(s), (int)s->pid,
		    format_duration(buf, sizeof(buf), s->cfg->service.stop_timeout),
		    signal_to_string(s->cfg->service.kill_signal));
	s->kill_sent = true;
	/* cgroup.kill reaches every process, even one that escaped pid 1's
	 * reach; SIGKILL of pid 1 takes its whole pid namespace with it. */
	if (s->cgroup_path)
		(void)cgroup_kill(s->cgroup_path);
	(void)activator_signal(s->pidfd, SIGKILL);
}

void service_stop(struct service *s, const char *reason)
{
	int r;

	if (s->accept) {
		accept_stop(s->accept, reason);
		return;
	}
	if (!service_is_active(s) || s->state == SERVICE_STOPPING)
		return;
	if (s->park_fd >= 0) {
		/* Parked (or parked through a backoff): EOF on its release
		 * socket, and pid 1 exits 0; nothing ran. */
		log_debug("%s: discarding parked container pid %d (%s)", name(s), (int)s->pid,
			  reason);
		s->park_fd = safe_close(s->park_fd);
		s->discarding = true;
		s->stop_started_at = now_usec();
		timer_stop(s);
		set_state(s, SERVICE_STOPPING, reason);
		timer_start(s,
			    s->cfg->service.stop_timeout == USEC_INFINITY
				? 10 * USEC_PER_SEC
				: s->cfg->service.stop_timeout,
			    stop_timeout_cb);
		return;
	}
	log_info("%s: stopping container pid %d (%s)", name(s), (int)s->pid, reason);
	/* A frozen container cannot act on KillSignal=: thaw it first. */
	if (s->state == SERVICE_FROZEN && s->cgroup_path)
		(void)cgroup_freeze(s->cgroup_path, false, 100);
	s->stop_started_at = now_usec();
	timer_stop(s);
	set_state(s, SERVICE_STOPPING, reason);
	r = activator_signal(s->pidfd, s->cfg->service.kill_signal);
	if (r < 0 && r != -ESRCH)
		log_errno(LOG_WARNING, r, "%s: cannot send %s", name(s),
			  signal_to_string(s->cfg->service.kill_signal));
	timer_start(s,
		    s->cfg->service.stop_timeout == USEC_INFINITY ? USEC_PER_SEC * 3600 * 24 * 365
								  : s->cfg->service.stop_timeout,
		    stop_timeout_cb);
}

void service_remove(struct service *s)
{
	s->remove_when_stopped = true;
	service_listen_enable(s, false);
	if (service_is_active(s))
		service_stop(s, "removed");
	else
		service_free(s);
}

/* --- idle: freeze, thaw, stop ------------------------------------------- */

static const char *idle_reason(const struct service *s, usec_t now, char *buf, size_t len)
{
	char d[64];

	snprintf(
	    buf, len, "idle for %s",
	    format_duration(d, sizeof(d), (now - s->idle_since) / USEC_PER_MSEC * USEC_PER_MSEC));
	return buf;
}

static void idle_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct service *s = arg;
	char buf[64];

	timer_stop(s);
	service_stop(s, idle_reason(s, now_usec(), buf, sizeof(buf)));
}

static void freeze_now(struct service *s, usec_t now, const char *reason)
{
	const struct service_settings *st = &s->cfg->service;
	char buf[64];
	usec_t t0 = now_usec();
	int r;

	if (!s->cgroup_path)
		return; /* no cgroup: only IdleStopSec= applies (said at load) */
	r = cgroup_freeze(s->cgroup_path, true, 100);
	if (r < 0 && r != -ETIMEDOUT) {
		log_errno(LOG_WARNING, r, "%s: cannot freeze %s", name(s), s->cgroup_path);
		return;
	}
	if (!reason)
		reason = idle_reason(s, now, buf, sizeof(buf));
	log_info("%s: %s, frozen in %.2f ms%s", name(s), reason, (double)(now_usec() - t0) / 1000.0,
		 r == -ETIMEDOUT ? " (still settling: a task was in an uninterruptible sleep)"
				 : "");
	set_state(s, SERVICE_FROZEN, reason);
	/* No tick while frozen: the stop comes from a timer of its own. */
	if (st->idle_stop)
		timer_start(
		    s,
		    st->idle_stop > now - s->idle_since ? st->idle_stop - (now - s->idle_since) : 0,
		    idle_stop_cb);
}

int service_freeze(struct service *s, const char *reason)
{
	if (s->accept)
		return -EOPNOTSUPP;
	if (s->state != SERVICE_RUNNING || !s->exec_done)
		return -EINVAL;
	if (!s->cgroup_path)
		return -EOPNOTSUPP;
	freeze_now(s, now_usec(), reason);
	return 0;
}

void service_thaw(struct service *s, const char *reason)
{
	usec_t t0 = now_usec();
	int r;

	if (s->state != SERVICE_FROZEN)
		return;
	timer_stop(s);
	r = cgroup_freeze(s->cgroup_path, false, 100);
	if (r < 0 && r != -ETIMEDOUT)
		log_errno(LOG_WARNING, r, "%s: cannot thaw %s", name(s), s->cgroup_path);
	log_info("%s: %s, thawed in %.2f ms", name(s), reason, (double)(now_usec() - t0) / 1000.0);
	s->idle_since = now_usec();
	set_state(s, SERVICE_RUNNING, reason);
}

/* Whether the container's cgroup used at least IdleCPUPercent= since the
 * last tick. Without a cgroup the CPU rule does not apply. */
static bool cpu_busy(struct service *s, usec_t now)
{
	uint64_t usage, used;
	usec_t wall = now - s->cpu_checked_at;
	bool busy;

	if (!s->cgroup_path || cgroup_cpu_usage(s->cgroup_path, &usage) < 0)
		return false;
	used = usage >= s->cpu_usage ? usage - s->cpu_usage : 0;
	/* hundredths of a percent of one CPU */
	busy = wall > 0 && used * 10000 / wall >= s->cfg->service.idle_cpu_centi;
	s->cpu_usage = usage;
	s->cpu_checked_at = now;
	return busy;
}

void service_idle_tick(struct service *s, bool failed, usec_t now)
{
	const struct service_settings *st = &s->cfg->service;
	bool traffic = st->idle_connections == IDLE_CONNECTIONS_TRAFFIC;
	unsigned conns = traffic ? s->idle.active : s->idle.connections;
	bool busy;
	char buf[64];

	if (s->state == SERVICE_FROZEN) {
		/* Data for a connection the frozen container kept open. */
		if (s->idle.pending > 0 || s->idle.queued > 0)
			service_thaw(s, "data on an open connection");
		return;
	}
	if (s->state != SERVICE_RUNNING)
		return;
	busy = failed || conns > 0 || s->idle.queued > 0 || s->idle.pending > 0;
	/* Read every tick, so that the next one measures only its own span. */
	if (cpu_busy(s, now))
		busy = true;
	log_debug("%s: %u connection(s), %u active, %u queued, %s", name(s), s->idle.connections,
		  s->idle.active, s->idle.queued, busy ? "busy" : "idle");
	if (busy) {
		s->idle_since = now;
		return;
	}
	if (st->idle_stop && now - s->idle_since >= st->idle_stop) {
		service_stop(s, idle_reason(s, now, buf, sizeof(buf)));
		return;
	}
	if (st->idle_freeze && now - s->idle_since >= st->idle_freeze && s->cgroup_path)
		freeze_now(s, now, NULL);
}

/* --- life --------------------------------------------------------------- */

static void listen_cb(evutil_socket_t fd, short what, void *arg)
{
	struct service *s = arg;

	if (s->accept) {
		accept_listen_ready(s->accept, fd);
		return;
	}
	switch (s->state) {
	case SERVICE_LISTENING:
	case SERVICE_PARKED:
		if (service_rate_record(s->triggers, &s->n_triggers,
					s->cfg->socket.trigger_limit_interval,
					s->cfg->socket.trigger_limit_burst + 1)) {
			/* A parked container stays parked through the backoff. */
			enter_backoff(s, "starts", s->cfg->socket.trigger_limit_burst,
				      "TriggerLimitIntervalSec",
				      s->cfg->socket.trigger_limit_interval);
			break;
		}
		if (s->state == SERVICE_PARKED)
			(void)service_release(s);
		else
			(void)service_start(s);
		break;
	case SERVICE_FROZEN:
		service_thaw(s, "a connection");
		break;
	case SERVICE_BACKOFF:
		/* Clients get a closed connection rather than a hang. */
		for (size_t i = 0; i < s->cfg->socket.n_listen; i++)
			if (s->fds[i] == fd)
				listener_drain(fd, &s->cfg->socket.listen[i], DRAIN_BATCH);
		break;
	default:
		/* Not polled in other states; a stale wake-up is harmless. */
		service_listen_enable(s, false);
		break;
	}
}

int service_take_fd(struct service *s, const struct listen_config *lc)
{
	for (size_t i = 0; i < s->cfg->socket.n_listen; i++) {
		const struct listen_config *o = &s->cfg->socket.listen[i];
		int fd;

		if (s->fds[i] < 0 || o->type != lc->type ||
		    !socket_address_equal(&o->address, &lc->address))
			continue;
		if (s->listen_events[i]) {
			event_free(s->listen_events[i]);
			s->listen_events[i] = NULL;
		}
		fd = s->fds[i];
		s->fds[i] = -1;
		/* Accept=yes polls a non-blocking listener; a container of
		 * the next service expects a blocking one. */
		if (s->accept)
			(void)fd_set_nonblock(fd, false);
		return fd;
	}
	return -1;
}

struct service *service_new(struct manager *m, struct service_config *cfg, int *fds,
			    struct service *predecessor)
{
	struct service *s = calloc(1, sizeof(*s));
	size_t n = cfg->socket.n_listen;

	if (!s)
		return NULL;
	s->manager = m;
	s->stats.created_at = now_usec();
	s->cfg = cfg;
	s->pid = -1;
	s->pidfd = -1;
	s->sync_fd = -1;
	s->userns_fd = -1;
	s->park_fd = -1;
	/* Below every other event: a waiting connection goes first. */
	s->park_event = event_new(m->base, -1, 0, park_cb, s);
	if (s->park_event)
		(void)event_priority_set(s->park_event, EVENT_PRIORITY_LOW);
	s->state = SERVICE_WAITING;
	network_init(&s->net);
	s->output = output_new(m->base, cfg->name, cfg->socket.accept, NULL);
	/* Retried, and reported again, at the first start if it fails. */
	(void)hardening_prepare(s);
	s->fds = calloc(n, sizeof(int));
	s->listen_events = calloc(n, sizeof(struct event *));
	s->failures = calloc(cfg->service.start_limit_burst + 1, sizeof(usec_t));
	s->triggers = calloc(cfg->socket.trigger_limit_burst + 2, sizeof(usec_t));
	if (cfg->socket.accept && s->output && s->fds && s->listen_events && s->failures &&
	    s->triggers)
		s->accept = accept_new(s);
	if (!s->output || !s->fds || !s->listen_events || !s->failures || !s->triggers ||
	    (cfg->socket.accept && !s->accept)) {
		output_free(s->output);
		free(s->fds);
		free(s->listen_events);
		free(s->failures);
		free(s->triggers);
		hardening_release(s);
		if (s->park_event)
			event_free(s->park_event);
		free(s);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		s->fds[i] = fds[i];
		fds[i] = -1;
		s->listen_events[i] =
		    event_new(m->base, s->fds[i], EV_READ | EV_PERSIST, listen_cb, s);
	}
	/* Per-connection sandboxes do not hold the listeners: a successor
	 * need not wait for a predecessor's to end. */
	if (predecessor && !predecessor->accept && service_is_active(predecessor)) {
		predecessor->successor = s;
		s->predecessor = predecessor;
	} else {
		set_state(s, SERVICE_LISTENING, "configured");
	}
	return s;
}

struct service *service_free(struct service *s)
{
	if (!s)
		return NULL;
	s->accept = accept_free(s->accept);
	s->output_pipe = output_pipe_close(s->output_pipe);
	s->output = output_free(s->output);
	if (s->pidfd_event)
		event_free(s->pidfd_event);
	if (s->sync_event)
		event_free(s->sync_event);
	timer_stop(s);
	if (s->park_event)
		event_free(s->park_event);
	s->park_fd = safe_close(s->park_fd);
	s->sync_fd = safe_close(s->sync_fd);
	s->pidfd = safe_close(s->pidfd);
	drop_cgroup(s);
	hardening_release(s);
	network_free(s);
	for (size_t i = 0; i < s->cfg->socket.n_listen; i++) {
		if (s->listen_events[i])
			event_free(s->listen_events[i]);
		if (s->fds[i] >= 0) {
			close(s->fds[i]);
			listener_unlink(&s->cfg->socket.listen[i]);
		}
	}
	if (s->predecessor)
		s->predecessor->successor = NULL;
	if (s->successor) {
		s->successor->predecessor = NULL;
		if (s->successor->state == SERVICE_WAITING)
			set_state(s->successor, SERVICE_LISTENING, "predecessor gone");
	}
	manager_service_gone(s->manager, s);
	free(s->fds);
	free(s->listen_events);
	free(s->failures);
	free(s->triggers);
	config_free(s->cfg);
	free(s);
	return NULL;
}
