/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A service: its state machine (one table), its listeners, its limits, the
 * spec of its containers, and the Accept=no mode (one container that owns
 * the sockets while it runs). Accept=yes is accept.c. The container itself
 * (spawn, stop, freeze, reap) is container.c.
 */
#include "service.h"
#include "hostmounts.h"
#include "spares.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <event2/event.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-id128.h>
#include <unistd.h>

#include "activator/activator.h"
#include "activator/cgroup.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/fd-util.h"
#include "common/strv.h"
#include "supervisor/accept.h"
#include "supervisor/boot.h"
#include "supervisor/machined.h"
#include "supervisor/container.h"
#include "supervisor/fdstore.h"
#include "supervisor/event-util.h"
#include "supervisor/hardening.h"
#include "supervisor/idle.h"
#include "supervisor/image.h"
#include "supervisor/listener.h"
#include "supervisor/manager.h"
#include "supervisor/output.h"
#include "supervisor/rootdir.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* How many queued connections one wake-up takes while suspended. */
#define DRAIN_BATCH 64
/* A suspension with an infinite (or no) interval still ends. */
#define SUSPEND_DEFAULT_USEC (10 * USEC_PER_SEC)

usec_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000;
}

static const char *name(const struct service *s)
{
	return s->cfg->name;
}

/* --- the state machine -------------------------------------------------- */

#define TO(st) (1U << (st))

/*
 * Every state, what the Accept=no mode does with the listeners in it, and
 * the states it may go to. service_set_state() refuses anything else.
 */
static const struct {
	const char *name;
	bool polled; /* Accept=no: the daemon polls the listeners */
	unsigned next;
} state_table[_SERVICE_STATE_MAX] = {
    [SERVICE_STOPPED] = {"stopped", true,
			 TO(SERVICE_STARTING) | TO(SERVICE_PARKED) | TO(SERVICE_SUSPENDED) |
			     TO(SERVICE_FAILED) | TO(SERVICE_STOPPING)},
    [SERVICE_STARTING] = {"starting", false,
			  TO(SERVICE_RUNNING) | TO(SERVICE_FAILED) | TO(SERVICE_STOPPING)},
    [SERVICE_RUNNING] = {"running", false,
			 TO(SERVICE_FREEZING) | TO(SERVICE_STOPPING) | TO(SERVICE_FAILED) |
			     TO(SERVICE_STOPPED)},
    [SERVICE_FREEZING] = {"freezing", true,
			  TO(SERVICE_FROZEN) | TO(SERVICE_RUNNING) | TO(SERVICE_STOPPING) |
			      TO(SERVICE_FAILED) | TO(SERVICE_STOPPED)},
    [SERVICE_FROZEN] = {"frozen", true,
			TO(SERVICE_THAWING) | TO(SERVICE_STOPPING) | TO(SERVICE_FAILED) |
			    TO(SERVICE_STOPPED)},
    [SERVICE_THAWING] = {"thawing", false,
			 TO(SERVICE_RUNNING) | TO(SERVICE_STOPPING) | TO(SERVICE_FAILED) |
			     TO(SERVICE_STOPPED)},
    /* failed: the daemon stopped it for a start timeout or the watchdog. */
    [SERVICE_STOPPING] = {"stopping", false, TO(SERVICE_STOPPED) | TO(SERVICE_FAILED)},
    [SERVICE_SUSPENDED] = {"suspended", true,
			   TO(SERVICE_STOPPED) | TO(SERVICE_PARKED) | TO(SERVICE_STOPPING)},
    [SERVICE_FAILED] = {"failed", false, TO(SERVICE_STOPPED) | TO(SERVICE_SUSPENDED)},
    [SERVICE_WAITING] = {"waiting", false, TO(SERVICE_STOPPED)},
    [SERVICE_PARKED] = {"parked", true,
			TO(SERVICE_STARTING) | TO(SERVICE_STOPPING) | TO(SERVICE_STOPPED) |
			    TO(SERVICE_SUSPENDED)},
};

const char *service_state_to_string(enum service_state st)
{
	if ((unsigned)st >= _SERVICE_STATE_MAX)
		return "unknown";
	return state_table[st].name;
}

bool service_transition_valid(enum service_state from, enum service_state to)
{
	return (unsigned)from < _SERVICE_STATE_MAX && (unsigned)to < _SERVICE_STATE_MAX &&
	       (state_table[from].next & TO(to));
}

bool service_is_active(const struct service *s)
{
	return s->mode->is_active(s);
}

void service_listen_enable(struct service *s, bool on)
{
	for (size_t i = 0; i < s->cfg->socket.n_listen; i++) {
		if (!s->listen_events[i])
			continue;
		if (!on)
			event_del(s->listen_events[i]);
		else if (event_add(s->listen_events[i], NULL) < 0)
			log_error("%s: cannot poll %s=%s", name(s),
				  listen_type_to_string(s->cfg->socket.listen[i].type),
				  s->cfg->socket.listen[i].text);
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
int service_set_state(struct service *s, enum service_state st, const char *reason)
{
	enum service_state old = s->state;
	usec_t now;

	if (old == st)
		return 0;
	if (!service_transition_valid(old, st)) {
		log_error("%s: refusing the undefined transition %s -> %s (%s)", name(s),
			  service_state_to_string(old), service_state_to_string(st), reason);
		return -EINVAL;
	}
	now = now_usec();
	log_debug("%s: %s -> %s (%s)", name(s), service_state_to_string(old),
		  service_state_to_string(st), reason);
	s->state = st;
	service_stats_record(&s->stats, st, reason, now);
	s->mode->state_changed(s);
	idle_update(s->manager);
	manager_notify_status(s->manager);
	manager_service_changed(s->manager, s, (int)old, reason, now);
	return 0;
}

/* --- limits ------------------------------------------------------------- */

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

	if (s->state != SERVICE_SUSPENDED)
		return;
	s->stats.backoff_until = 0;
	s->n_failures = 0;
	s->n_triggers = 0;
	log_notice("%s: backoff over, listening again", name(s));
	/* A container parked before the suspension is still there, unreleased. */
	(void)service_set_state(s, s->park_fd >= 0 ? SERVICE_PARKED : SERVICE_STOPPED,
				"backoff over");
}

/* Refuses connections (accept and close) for interval, then listens again:
 * never a permanent failure, even for an infinite interval. */
static void enter_backoff(struct service *s, const char *what, unsigned burst, const char *key,
			  usec_t interval)
{
	char b1[64], b2[64];
	usec_t wait = interval == USEC_INFINITY || interval == 0 ? SUSPEND_DEFAULT_USEC : interval;
	int r;

	log_error("%s: %u %s within %s=%s: refusing connections for %s, then trying again", name(s),
		  burst, what, key, format_duration(b1, sizeof(b1), interval),
		  format_duration(b2, sizeof(b2), wait));
	s->stats.backoff_until = now_usec() + wait;
	if (service_set_state(s, SERVICE_SUSPENDED, what) < 0)
		return;
	r = timer_arm_usec(s->backoff_timer, wait);
	if (r < 0) {
		/* Never suspended for good: without a timer, not at all. */
		log_errno(LOG_ERR, r, "%s: cannot arm the end of the suspension, ending it now",
			  name(s));
		backoff_end_cb(-1, 0, s);
	}
}

static void enter_start_backoff(struct service *s)
{
	enter_backoff(s, "failed starts", s->cfg->service.start_limit_burst,
		      "StartLimitIntervalSec", s->cfg->service.start_limit_interval);
}

/* A start or a run failed: failed, seen by whoever follows the
 * transitions, then suspended or stopped. */
static void failed(struct service *s, const char *why)
{
	if (service_set_state(s, SERVICE_FAILED, why) < 0)
		return;
	if (record_failure(s))
		enter_start_backoff(s);
	else
		(void)service_set_state(s, SERVICE_STOPPED, why);
}

/* --- the spec of a container -------------------------------------------- */

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

	if (service_root_directory(s))
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

const char *service_root_directory(const struct service *s)
{
	if (s->cfg->container.directory)
		return s->cfg->container.directory;
	return s->image ? s->image->rootfs : NULL;
}

const char *service_user(const struct service *s)
{
	if (s->cfg->container.user)
		return s->cfg->container.user;
	return s->image ? s->image->user : NULL;
}

/* Group=, else the image's group when its user is the one used. */
static const char *group_of(const struct service *s)
{
	if (s->cfg->container.group || s->cfg->container.user)
		return s->cfg->container.group;
	return s->image ? s->image->group : NULL;
}

static const char *working_directory_of(const struct service *s)
{
	if (s->cfg->container.working_directory)
		return s->cfg->container.working_directory;
	return s->image && s->image->working_directory ? s->image->working_directory : "/";
}

static int build_env(struct service *s, const char *home, char ***ret)
{
	const struct container_config *cc = &s->cfg->container;
	const char *user = service_user(s);
	_cleanup_strv_free_ char **env = NULL;
	int r;

	/* The base every container gets; Environment= overrides it. */
	if ((r = strv_push(&env, "PATH=" DEFAULT_PATH)) < 0 ||
	    (r = strv_push(&env, "container=nsinetd")) < 0)
		return r;
	if (user) {
		_cleanup_free_ char *u = NULL, *l = NULL;
		if (asprintf(&u, "USER=%s", user) < 0 || asprintf(&l, "LOGNAME=%s", user) < 0)
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
	/* The image's Env, then Environment= over it. */
	STRV_FOREACH (e, s->image ? s->image->env : NULL)
		if ((r = strv_env_set(&env, *e)) < 0)
			return r;
	STRV_FOREACH (e, cc->environment)
		if ((r = strv_env_set(&env, *e)) < 0)
			return r;
	*ret = TAKE_PTR(env);
	return 0;
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
	/* A spare no start took: ended first, for its cgroup to go. */
	activator_spare_discard(&sp->spare);
	sp->cgroup_fd = safe_close(sp->cgroup_fd);
	if (sp->cgroup_path)
		(void)cgroup_remove(sp->cgroup_path); /* made, and nothing ran in it */
	free(sp->cgroup_path);
	sp->cgroup_path = NULL;
	sp->output = output_pipe_close(sp->output);
}

static void boot_say_cb(const char *line, void *userdata)
{
	log_warning("%s: %s", (const char *)userdata, line);
}

/*
 * Boot=yes: the init is pid 1 (spec->boot), with container_uuid= (a new
 * one per boot: systemd takes it as the machine id when the tree's
 * /etc/machine-id is empty) beside container=nsinetd, and the cgroup
 * delegated to the container's root, whose systemd makes its own tree in
 * it. Without a cgroup of its own, or a user namespace, it cannot boot.
 */
static int boot_prepare(struct service *s, struct service_spec *sp)
{
	struct activator_spec *spec = &sp->spec;
	char id[SD_ID128_STRING_MAX], *e = NULL;
	sd_id128_t uuid;
	int r;

	if (!sp->cgroup_path || spec->userns_fd < 0) {
		log_error("%s: Boot=yes needs a cgroup v2 of its own and a user namespace (see "
			  "the messages above)",
			  name(s));
		return -EOPNOTSUPP;
	}
	if (!s->boot_warned) {
		_cleanup_close_ int root_fd =
		    open(s->cfg->container.directory, O_PATH | O_DIRECTORY | O_CLOEXEC);

		s->boot_warned = true;
		if (root_fd >= 0)
			(void)boot_check_socket_units(s->cfg, root_fd, boot_say_cb,
						      (void *)name(s));
	}
	r = cgroup_delegate(sp->cgroup_path, spec->userns_root, spec->userns_root);
	if (r < 0)
		return log_errno(LOG_ERR, r, "%s: Boot=yes: cannot delegate cgroup %s", name(s),
				 sp->cgroup_path);
	r = sd_id128_randomize(&uuid);
	if (r < 0 || asprintf(&e, "container_uuid=%s", sd_id128_to_string(uuid, id)) < 0)
		return log_errno(LOG_ERR, r < 0 ? r : -ENOMEM, "%s: Boot=yes: container_uuid",
				 name(s));
	r = strv_consume(&sp->env, e);
	if (r < 0)
		return log_errno(LOG_ERR, r, "%s: Boot=yes", name(s));
	spec->envp = sp->env;
	spec->boot = true;
	s->boot_uuid = uuid;
	return 0;
}

/* Whether a start of s may fit a spare (activator_spare_fits() says at
 * last, on the whole spec): what rules one out from the configuration. */
static bool spare_may_fit(const struct service *s)
{
	const struct container_config *cc = &s->cfg->container;

	/* A veth pair is moved into the clone's network namespace before the
	 * go: a spare makes its own only after (activator_spare_fits()). */
	return !cc->boot && cc->proc_subset == PROC_SUBSET_ALL && cc->network != NETWORK_VETH;
}

/* enter: for shell.c, the running container's own cgroup, network and
 * output are used, none is made. use_spare: an Accept=no start may take a
 * spare container (spares.h) instead of a clone. pool: a sandbox for the
 * pool of Accept=yes (network_prepare()). */
static int spec_build(struct service *s, const char *cgroup_rel, bool enter, bool use_spare,
		      bool pool, struct service_spec *sp)
{
	const struct container_config *cc = &s->cfg->container;
	const char *directory = service_root_directory(s), *user = service_user(s),
		   *group = group_of(s);
	char **argv = cc->exec ? cc->exec : s->image ? s->image->argv : NULL;
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
	if (directory) {
		/* Checked again at each start: the tree may have changed. */
		r = rootdir_open(directory, &root_fd, why, sizeof(why));
		if (r >= 0 && !cc->read_only)
			r = rootdir_check_private(directory, why, sizeof(why));
		if (r < 0)
			return log_errno(LOG_ERR, r, "%s: %s=%s: %s", name(s),
					 cc->directory ? "Directory" : "the image's tree",
					 directory, why);
	}
	if (!argv)
		return log_errno(LOG_ERR, -ENOEXEC,
				 "%s: the image gives no Entrypoint or Cmd, and Exec= is not set",
				 name(s));
	if (user) {
		r = lookup_passwd(root_fd, user, &uid, &gid, &sp->home, why, sizeof(why));
		if (r < 0) {
			log_error("%s: User=%s: cannot resolve: %s", name(s), user, why);
			return r;
		}
		/* Supplementary groups only from the host's database, and
		 * only when the container shares the host's root. */
		if (!directory && !group) {
			struct passwd *pw = getpwuid(uid);
			n_groups = ELEMENTSOF(sp->groups);
			if (!pw || getgrouplist(pw->pw_name, gid, sp->groups, &n_groups) < 0)
				n_groups = 0;
		}
	}
	if (group) {
		r = lookup_group(root_fd, group, &gid, why, sizeof(why));
		if (r < 0) {
			log_error("%s: Group=%s: cannot resolve: %s", name(s), group, why);
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
	sp->binds = calloc(cc->n_binds + 2, sizeof(*sp->binds)); /* + the notify socket */
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
	r = enter ? 0 : readiness_spec(s, sp, &n_binds);
	if (r < 0)
		goto fail_log;

	if (m->have_cgroup && !enter) {
		_cleanup_free_ char *rel = NULL;
		if (asprintf(&rel, "%s/%s%s%s", m->cgroup_base, name(s), cgroup_rel ? "/" : "",
			     cgroup_rel ? cgroup_rel : "") < 0) {
			r = -ENOMEM;
			goto fail_log;
		}
		r = m->container_ops->cgroup_create(&m->cgroup, rel, &sp->cgroup_fd,
						    &sp->cgroup_path);
		if (r < 0)
			log_errno(LOG_WARNING, r,
				  "%s: cannot create cgroup %s, starting without one", name(s),
				  rel);
	}
	/* A spare, if one is ready and may fit: spawn() decides. */
	if (use_spare && !enter && !cgroup_rel && spare_may_fit(s))
		(void)spares_take(m->spares, &sp->spare);

	/* Never the daemon's own stderr: that may be the administrator's
	 * terminal, or a log with other clients' addresses in it. */
	r = enter ? 0 : output_pipe_open(s->output, &sp->output);
	if (r < 0)
		goto fail_log;

	spec->name = name(s);
	spec->argv = argv;
	spec->envp = sp->env;
	spec->fds = s->fds;
	spec->fd_names = sp->names;
	spec->n_fds = s->cfg->socket.n_listen;
	spec->stdio[0] = -1;
	spec->stdio[1] = enter ? -1 : output_pipe_fd(sp->output);
	spec->stdio[2] = enter ? -1 : output_pipe_fd(sp->output);
	spec->root_directory = directory;
	/* Ephemeral=yes: what is written goes to the overlay's tmpfs. */
	spec->read_only = cc->read_only && !cc->ephemeral;
	spec->ephemeral = cc->ephemeral;
	spec->proc_subset_pid = cc->proc_subset == PROC_SUBSET_PID;
	spec->binds = sp->binds;
	spec->n_binds = n_binds;
	spec->tmpfs = sp->tmpfs;
	spec->n_tmpfs = cc->n_tmpfs;
	spec->staging_dir = m->staging_dir;
	spec->hostname = cc->hostname ? cc->hostname : name(s);
	spec->working_directory = working_directory_of(s);
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
	spec->mount_template_fd = m->mount_template_fd;
	if (!spec->root_directory)
		spec->submounts = host_mounts_get(m->host_mounts);
	r = enter ? 0 : network_prepare(s, spec, sp->spare.pid > 0, pool);
	if (r < 0)
		return r;
	r = hardening_fill(s, uid, &sp->hardening, spec);
	if (r < 0) {
		if (!enter)
			network_spawned(s, r);
		return r;
	}
	/* A user namespace made by the clone (a daemon that is not root)
	 * owns what the clone makes: the network namespace is made there. */
	if (spec->namespaces & CLONE_NEWUSER)
		spec->netns_late = false;
	if (cc->boot && !enter) {
		r = boot_prepare(s, sp);
		if (r < 0) {
			network_spawned(s, r);
			return r;
		}
	}
	return 0;

fail_log:
	return log_errno(LOG_ERR, r, "%s: cannot prepare the container", name(s));
}

/* "web: container setup failed at bind (/srv/data): …", with the advice
 * for the one failure whose cause is the host, not the configuration.
 * Shared with accept.c, whose prefix names the sandbox. */
void service_log_setup_failure(const struct service *s, const char *prefix, int r,
			       const struct activator_failure *f)
{
	const char *cap;

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
	if ((cap = hardening_missing_cap(f->step, r))) {
		/* The host's doing, not the configuration's: say what to grant. */
		log_errno(LOG_ERR, r,
			  "%s setup failed at %s%s%s%s: nsinetd lacks %s (it runs in a container "
			  "or with a bounding set without it): grant it to the daemon",
			  prefix, activator_step_name(f->step), f->what[0] ? " (" : "", f->what,
			  f->what[0] ? ")" : "", cap);
		return;
	}
	log_errno(LOG_ERR, r, "%s setup failed at %s%s%s%s", prefix, activator_step_name(f->step),
		  f->what[0] ? " (" : "", f->what, f->what[0] ? ")" : "");
}

/* --- Accept=no: one container that owns the sockets --------------------- */

static void single_exec_cb(struct container *c, int r, const struct activator_failure *f,
			   void *userdata);
static void single_exit_cb(struct container *c, int r, int status, void *userdata);
static void single_freeze_cb(struct container *c, bool frozen, int r, void *userdata);
static void single_stop_timeout_cb(struct container *c, void *userdata);

static const struct container_callbacks single_callbacks = {
    .exec = single_exec_cb,
    .exit = single_exit_cb,
    .freeze = single_freeze_cb,
    .stop_timeout = single_stop_timeout_cb,
};

static pid_t pid_of(const struct service *s)
{
	return s->container ? container_pid(s->container) : -1;
}

int service_spec_build(struct service *s, const char *cgroup_rel, struct service_spec *sp)
{
	return spec_build(s, cgroup_rel, false, false, false, sp);
}

int service_spec_build_pool(struct service *s, const char *cgroup_rel, struct service_spec *sp)
{
	return spec_build(s, cgroup_rel, false, false, true, sp);
}

int service_spec_build_enter(struct service *s, struct service_spec *sp)
{
	return spec_build(s, NULL, true, false, false, sp);
}

/*
 * Spawns the service's container: to run now, or (park) set up and parked
 * before its exec until release(). A parked container's failure is not the
 * service's: it is logged, and the next connection starts one the usual
 * way (which fails, and counts, if the cause is the configuration).
 */
static int spawn(struct service *s, bool park, const char *reason)
{
	struct manager *m = s->manager;
	_cleanup_(service_spec_done) struct service_spec sp = {.cgroup_fd = -1};
	_cleanup_close_ int park_child = -1;
	struct container *c = NULL;
	int r;

	if (!park && service_set_state(s, SERVICE_STARTING, reason) < 0)
		return -EINVAL;
	s->setup_failed = false;
	r = readiness_prepare(s);
	if (r < 0)
		goto fail;
	r = container_new(m->base, m->container_ops, name(s), &single_callbacks, s, &c);
	if (r < 0) {
		log_errno(LOG_ERR, r, "%s: cannot %s container", name(s),
			  park ? "prepare a" : "start");
		goto fail;
	}
	r = spec_build(s, NULL, false, !park, false, &sp);
	if (r < 0)
		goto fail;
	/* The spare that spec_build() took, if the whole spec fits it. */
	if (sp.spare.pid > 0 && activator_spare_fits(&sp.spec)) {
		sp.spec.spare = &sp.spare;
	} else if (sp.spare.pid > 0) {
		activator_spare_discard(&sp.spare);
		spares_refill(m->spares);
	}
	s->spare_start = sp.spec.spare != NULL;
	if (park) {
		int pair[2];

		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
			r = log_errno(LOG_ERR, -errno, "%s: Prepare=: socketpair", name(s));
			goto fail;
		}
		s->park_fd = pair[0];
		park_child = pair[1];
		sp.spec.park = true;
		sp.spec.handoff_fd = park_child;
		/* Set up with CPU nothing else wants, where we can undo it. */
		sp.spec.idle_priority = geteuid() == 0;
	}
	hardening_cgroup_apply(s, sp.cgroup_path);

	s->started_at = now_usec();
	r = container_spawn(c, &sp.spec, &sp.cgroup_path);
	output_pipe_spawned(sp.output, r < 0 ? -1 : container_pid(c));
	readiness_spawned(s, r < 0 ? -1 : container_pid(c));
	network_spawned(s, r);
	if (r < 0) {
		log_errno(LOG_ERR, r, "%s: cannot %s container", name(s),
			  park ? "prepare a" : "start");
		goto fail;
	}
	s->container = c;
	s->output_pipe = TAKE_PTR(sp.output);
	s->released = false;
	s->idle_since = s->started_at;
	s->cpu_checked_at = s->started_at;
	s->cpu_usage = 0;
	if (park)
		(void)service_set_state(s, SERVICE_PARKED, "prepared");
	log_debug("%s: spawned container pid %d%s", name(s), (int)container_pid(c),
		  park ? ", parked" : "");
	return 0;

fail:
	container_free(c);
	readiness_exit(s);
	s->park_fd = safe_close(s->park_fd);
	if (!park) {
		char why[SERVICE_REASON_MAX];

		/* The log said why at length; the transition says it short. */
		snprintf(why, sizeof(why), "start failed: %s", strerror(-r));
		failed(s, why);
	}
	return r;
}

/* The first connection for a parked container: let it exec. Its setup is
 * done, so what is left on the connection's path is pid 1's fork and the
 * payload's exec. */
static int release(struct service *s, const char *reason)
{
	int r;

	s->released = true;
	if (geteuid() == 0)
		(void)activator_priority_normal(pid_of(s));
	r = activator_release(s->park_fd);
	s->park_fd = safe_close(s->park_fd);
	if (r < 0) {
		/* Gone already: its exit comes as an event, and the connection
		 * still waits in the queue for the next start. */
		log_errno(LOG_WARNING, r, "%s: cannot release parked container pid %d", name(s),
			  (int)pid_of(s));
		return r;
	}
	s->started_at = now_usec();
	s->idle_since = s->started_at;
	s->cpu_checked_at = s->started_at;
	return service_set_state(s, SERVICE_STARTING, reason);
}

/* snprintf() into a reason, cut where it must be (the log has it whole). */
static void cut_printf(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void cut_printf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static void single_exec_cb(struct container *c, int r, const struct activator_failure *f,
			   void *userdata)
{
	struct service *s = userdata;
	char prefix[300];
	const char *cap;

	/* Its spare's successor, now that this start no longer needs the CPU. */
	if (s->spare_start)
		spares_refill(s->manager->spares);
	if (r == 0 && (s->state == SERVICE_PARKED || s->discarding)) {
		/* The sync socket of a parked container closed without a
		 * release: it was discarded or killed, nothing was executed. */
		log_debug("%s: parked container pid %d ended unreleased", name(s),
			  (int)container_pid(c));
		return;
	}
	if (r == 0) {
		usec_t took = now_usec() - s->started_at;

		s->park_failed = false;
		s->stats.starts++;
		s->stats.last_start = took;
		histogram_observe(&s->stats.cold_start, took);
		log_info("%s: started container pid %d (%s to exec %.1f ms)%s", name(s),
			 (int)container_pid(c),
			 s->released      ? "release"
			 : s->spare_start ? "spare"
					  : "clone",
			 (double)took / 1000.0,
			 s->ready.notify && !s->ready.ready ? ", waiting for READY=1" : "");
		if (s->cfg->container.boot) {
			/* Registered as it boots, as nspawn does. */
			s->machine = machined_unregister(s->machine);
			s->machine =
			    machined_register(s->manager->machined, name(s), s->boot_uuid,
					      container_pid(c), s->cfg->container.directory);
		}
		if (readiness_exec(s) && s->state == SERVICE_STARTING)
			(void)service_set_state(s, SERVICE_RUNNING, "started");
		return;
	}
	s->setup_failed = true;
	s->setup_failure[0] = '\0';
	if (r == -ECHILD)
		return; /* no outcome: the exit says what happened */
	s->stats.setup_failures[f->step < _STEP_MAX ? f->step : STEP_NONE]++;
	/* Cut if long: the log line has it whole. */
	cap = hardening_missing_cap(f->step, r);
	cut_printf(s->setup_failure, sizeof(s->setup_failure), "setup failed at %s%s%s%s: %s%s%s",
		   activator_step_name(f->step), f->what[0] ? " (" : "", f->what,
		   f->what[0] ? ")" : "", strerror(-r), cap ? ": nsinetd lacks " : "", cap ?: "");
	snprintf(prefix, sizeof(prefix), "%s: %scontainer", name(s),
		 s->state == SERVICE_PARKED ? "parked " : "");
	service_log_setup_failure(s, prefix, r, f);
}

static void single_stop_timeout_cb(struct container *c, void *userdata)
{
	struct service *s = userdata;
	char buf[64];

	log_warning("%s: container pid %d did not stop within StopTimeoutSec=%s after %s, "
		    "killing it",
		    name(s), (int)container_pid(c),
		    format_duration(buf, sizeof(buf), s->cfg->service.stop_timeout),
		    signal_to_string(s->cfg->service.kill_signal));
}

/* How it ended, for the log and the transition; true if a failure. */
static bool describe_exit(struct service *s, pid_t pid, int r, int status, bool stopping, char *why,
			  size_t len)
{
	usec_t ran = now_usec() - s->started_at;
	char buf[64];
	bool bad;

	format_duration(buf, sizeof(buf), ran - ran % 1000);
	if (r < 0) {
		log_errno(LOG_ERR, r, "%s: cannot reap container pid %d", name(s), (int)pid);
		snprintf(why, len, "cannot be reaped");
		return true;
	}
	if (WIFEXITED(status)) {
		bad = WEXITSTATUS(status) != 0 || s->setup_failed;
		log_msg(bad && !stopping ? LOG_WARNING : LOG_INFO,
			"%s: container pid %d exited with status %d after %s", name(s), (int)pid,
			WEXITSTATUS(status), buf);
		/* Not the log line's words: tests count those. */
		if (s->setup_failed && s->setup_failure[0])
			cut_printf(why, len, "%s", s->setup_failure);
		else
			snprintf(why, len, "%sexit status %d",
				 s->setup_failed ? "setup failed, " : "", WEXITSTATUS(status));
		return bad;
	}
	log_msg(stopping ? LOG_INFO : LOG_WARNING, "%s: container pid %d killed by %s after %s",
		name(s), (int)pid, signal_to_string(WIFSIGNALED(status) ? WTERMSIG(status) : 0),
		buf);
	snprintf(why, len, "killed by %s",
		 signal_to_string(WIFSIGNALED(status) ? WTERMSIG(status) : 0));
	return true;
}

static void single_exit_cb(struct container *c, int r, int status, void *userdata)
{
	struct service *s = userdata;
	bool stopping = s->state == SERVICE_STOPPING;
	bool parked = s->park_fd >= 0; /* parked, never released, not discarded */
	bool bad = false;
	pid_t pid = container_pid(c);
	char why[SERVICE_REASON_MAX];

	const char *failure = s->ready.failure;

	/* First: a READY=1 sent before the end is read while its pid is
	 * still known. */
	readiness_exit(s);
	s->container = container_free(c);
	s->machine = machined_unregister(s->machine);
	event_del(s->idle_timer);
	network_stop(s);
	/* Its last lines are logged before its end. */
	s->output_pipe = output_pipe_close(s->output_pipe);
	s->park_fd = safe_close(s->park_fd);
	s->held = false;
	s->thaw_wanted = NULL;

	if (s->discarding || parked) {
		/* Never released: nothing of the service ran. Discarded (a
		 * stop, a reload) it exits 0 and says nothing more; gone by
		 * itself, the next connection starts a container the usual way
		 * (which reports the cause, and counts, if it is the
		 * configuration's). */
		if (s->discarding)
			log_debug("%s: parked container pid %d discarded", name(s), (int)pid);
		else
			log_warning(
			    "%s: parked container pid %d ended before any connection "
			    "(wait status 0x%x): the next connection starts one the usual way",
			    name(s), (int)pid, (unsigned)status);
		s->discarding = false;
		if (parked)
			s->park_failed = true;
		snprintf(why, sizeof(why), "%s", stopping ? "stopped" : "parked container gone");
	} else {
		if (stopping)
			log_info("%s: stopped in %.1f ms", name(s),
				 (double)(now_usec() - s->stop_started_at) / 1000.0);
		bad = describe_exit(s, pid, r, status, stopping, why, sizeof(why));
		/* Type=notify: gone before READY=1, a failed start. */
		bad = bad || s->state == SERVICE_STARTING;
		if (r >= 0) {
			s->stats.have_exit = true;
			s->stats.last_exit_status = status;
			s->stats.last_exit_at = now_usec();
		}
	}

	if (stopping && failure && !s->removing) {
		/* Stopped by the daemon for a start timeout or the watchdog. */
		failed(s, failure);
	} else if (stopping || s->removing) {
		char ended[SERVICE_REASON_MAX];

		/* "stopped, killed by SIGKILL": a stop that needed
		 * StopTimeoutSec= says so. */
		cut_printf(ended, sizeof(ended), "stopped, %s", why);
		(void)service_set_state(s, SERVICE_STOPPED,
					stopping && strcmp(why, "stopped") != 0 ? ended : why);
	} else if (s->state == SERVICE_SUSPENDED) {
		/* A parked container gone during a suspension: it goes on. */
	} else if (bad) {
		/* A stop we asked for is not the service's failure. */
		failed(s, why);
	} else {
		/* Stopped: a connection that came during the run or the stop
		 * is still queued and starts the next container at once. */
		(void)service_set_state(s, SERVICE_STOPPED, why);
	}
	/* A reload's predecessor whose successor still waits for its image
	 * stays (stopped) until the job's end: a failed job keeps it. */
	if (s->removing && !(s->successor && s->successor->image_job)) {
		manager_service_dead(s->manager, s);
		return;
	}
	if (s->removing)
		return;
	if (s->restart_pending) {
		s->restart_pending = false;
		r = service_start(s);
		if (r < 0 && r != -EBUSY)
			log_errno(LOG_WARNING, r, "%s: restart: cannot start again", name(s));
	}
}

static const char *idle_reason(const struct service *s, usec_t now, char *buf, size_t len)
{
	char d[64];

	snprintf(
	    buf, len, "idle for %s",
	    format_duration(d, sizeof(d), (now - s->idle_since) / USEC_PER_MSEC * USEC_PER_MSEC));
	return buf;
}

static void begin_thaw(struct service *s, const char *reason);

static void single_freeze_cb(struct container *c, bool frozen, int r, void *userdata)
{
	struct service *s = userdata;
	const struct service_settings *st = &s->cfg->service;
	double ms = (double)(now_usec() - s->freeze_started_at) / 1000.0;
	usec_t now = now_usec();

	if (!frozen) {
		if (s->state != SERVICE_THAWING)
			return;
		if (r < 0 && r != -ETIMEDOUT)
			log_errno(LOG_WARNING, r, "%s: thawing %s", name(s), container_cgroup(c));
		log_info("%s: %s, thawed in %.2f ms%s", name(s), s->freeze_reason, ms,
			 r == -ETIMEDOUT ? " (still settling)" : "");
		/* The idle clock starts again, for a thaw by request too. */
		s->idle_since = now;
		(void)service_set_state(s, SERVICE_RUNNING, s->freeze_reason);
		return;
	}
	if (s->state != SERVICE_FREEZING)
		return;
	if (r < 0 && r != -ETIMEDOUT) {
		log_errno(LOG_WARNING, r, "%s: cannot freeze %s", name(s), container_cgroup(c));
		s->held = false;
		(void)service_set_state(s, SERVICE_RUNNING, "freeze failed");
		return;
	}
	log_info("%s: %s, frozen in %.2f ms%s", name(s), s->freeze_reason, ms,
		 r == -ETIMEDOUT ? " (still settling: a task was in an uninterruptible sleep)"
				 : "");
	if (service_set_state(s, SERVICE_FROZEN, s->freeze_reason) < 0)
		return;
	if (s->thaw_wanted && !s->held) {
		const char *why = s->thaw_wanted;
		s->thaw_wanted = NULL;
		begin_thaw(s, why);
		return;
	}
	s->thaw_wanted = NULL;
	/* No tick while frozen: the stop comes from a timer of its own. */
	if (st->idle_stop && !s->held) {
		usec_t idle = now - s->idle_since;
		r = timer_arm_usec(s->idle_timer, st->idle_stop > idle ? st->idle_stop - idle : 0);
		if (r < 0)
			log_errno(LOG_ERR, r, "%s: cannot arm IdleStopSec=: it stays frozen",
				  name(s));
	}
}

static int begin_freeze(struct service *s, const char *reason)
{
	int r = container_freeze(s->container, true);

	if (r < 0) {
		if (r != -EOPNOTSUPP)
			log_errno(LOG_WARNING, r, "%s: cannot freeze %s", name(s),
				  container_cgroup(s->container));
		return r;
	}
	s->freeze_started_at = now_usec();
	snprintf(s->freeze_reason, sizeof(s->freeze_reason), "%s", reason);
	return service_set_state(s, SERVICE_FREEZING, reason);
}

static void begin_thaw(struct service *s, const char *reason)
{
	int r;

	event_del(s->idle_timer);
	r = container_freeze(s->container, false);
	if (r < 0) {
		/* Frozen for good would hang its clients: stop it instead. */
		log_errno(LOG_WARNING, r, "%s: cannot thaw %s, stopping it", name(s),
			  container_cgroup(s->container));
		(void)service_stop(s, "cannot thaw");
		return;
	}
	s->freeze_started_at = now_usec();
	snprintf(s->freeze_reason, sizeof(s->freeze_reason), "%s", reason);
	(void)service_set_state(s, SERVICE_THAWING, reason);
}

static void idle_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct service *s = arg;
	char buf[64];

	if (s->state == SERVICE_FROZEN && !s->held)
		(void)service_stop(s, idle_reason(s, now_usec(), buf, sizeof(buf)));
}

static int single_freeze(struct service *s, bool freeze, const char *reason)
{
	int r;

	if (!freeze) {
		if (s->state != SERVICE_FROZEN)
			return -EINVAL;
		s->held = false;
		begin_thaw(s, reason);
		return 0;
	}
	if (s->state == SERVICE_FROZEN || s->state == SERVICE_FREEZING) {
		bool was_held = s->held;
		/* Frozen (or freezing) by the idle tick: the request holds
		 * it. Frozen already: no transition follows (-EALREADY). */
		s->held = true;
		s->thaw_wanted = NULL;
		event_del(s->idle_timer);
		s->mode->state_changed(s);
		return was_held || s->state == SERVICE_FROZEN ? -EALREADY : 0;
	}
	if (s->state != SERVICE_RUNNING)
		return -EINVAL;
	if (!container_cgroup(s->container))
		return -EOPNOTSUPP;
	s->held = true;
	r = begin_freeze(s, reason);
	if (r < 0)
		s->held = false;
	return r;
}

static int single_start(struct service *s, const char *reason)
{
	if (s->removing)
		return -ESTALE;
	if (s->state == SERVICE_SUSPENDED || s->state == SERVICE_WAITING)
		return -EAGAIN;
	if (s->state == SERVICE_PARKED)
		return release(s, reason);
	if (s->container)
		return -EBUSY;
	(void)spawn(s, false, reason);
	return 0;
}

static int single_stop(struct service *s, const char *reason)
{
	usec_t timeout = s->cfg->service.stop_timeout;

	if (!s->container)
		return -EALREADY;
	if (s->state == SERVICE_STOPPING)
		return 0;
	/* A stop ends a suspension (with a parked container in it). */
	event_del(s->backoff_timer);
	s->stats.backoff_until = 0;
	event_del(s->idle_timer);
	s->held = false;
	s->thaw_wanted = NULL;
	s->stop_started_at = now_usec();
	if (s->park_fd >= 0) {
		/* Parked: EOF on its release socket, and pid 1 exits 0;
		 * nothing ran. No signal (0), the timeout all the same. */
		log_debug("%s: discarding parked container pid %d (%s)", name(s), (int)pid_of(s),
			  reason);
		s->park_fd = safe_close(s->park_fd);
		s->discarding = true;
		(void)service_set_state(s, SERVICE_STOPPING, reason);
		(void)container_stop(s->container, 0,
				     timeout == USEC_INFINITY ? SUSPEND_DEFAULT_USEC : timeout);
		return 0;
	}
	log_info("%s: stopping container pid %d (%s)", name(s), (int)pid_of(s), reason);
	(void)service_set_state(s, SERVICE_STOPPING, reason);
	/* -ESRCH: it has exited already, its end is on its way. */
	(void)container_stop(s->container, s->cfg->service.kill_signal, timeout);
	return 0;
}

static bool single_is_active(const struct service *s)
{
	return s->container != NULL;
}

/* Deferred from a transition to stopped, at the loop's lowest priority. */
static void park_cb(evutil_socket_t fd, short what, void *arg)
{
	struct service *s = arg;

	if (s->state != SERVICE_STOPPED || !s->cfg->container.prepare || s->park_failed ||
	    s->removing || s->manager->shutting_down || s->container)
		return;
	(void)spawn(s, true, "prepare");
}

static void single_state_changed(struct service *s)
{
	bool on = state_table[s->state].polled && !s->removing;

	/* Held frozen: clients wait in the backlog. Freezing with a
	 * connection seen already: nothing more to learn from polling. */
	if ((s->state == SERVICE_FROZEN || s->state == SERVICE_FREEZING) &&
	    (s->held || s->thaw_wanted))
		on = false;
	service_listen_enable(s, on);
	readiness_state_changed(s);
	/* Stopped: set the next container up ahead. */
	if (s->state == SERVICE_STOPPED && s->cfg->container.prepare && !s->removing)
		event_active(s->park_event, 0, 0);
}

static void single_listen_ready(struct service *s, int fd)
{
	switch (s->state) {
	case SERVICE_STOPPED:
	case SERVICE_PARKED:
		if (service_rate_record(s->triggers, &s->n_triggers,
					s->cfg->socket.trigger_limit_interval,
					s->cfg->socket.trigger_limit_burst + 1)) {
			/* A parked container stays parked through the suspension. */
			enter_backoff(s, "starts", s->cfg->socket.trigger_limit_burst,
				      "TriggerLimitIntervalSec",
				      s->cfg->socket.trigger_limit_interval);
			break;
		}
		if (s->state == SERVICE_PARKED)
			(void)release(s, "connection: released");
		else
			(void)spawn(s, false, "connection");
		break;
	case SERVICE_FREEZING:
		/* Thawed as soon as the freeze is complete. */
		s->thaw_wanted = "a connection";
		service_listen_enable(s, false);
		break;
	case SERVICE_FROZEN:
		if (!s->held)
			begin_thaw(s, "a connection");
		else
			service_listen_enable(s, false);
		break;
	case SERVICE_SUSPENDED:
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

void service_adopt_limits(struct service *s, const usec_t *failures, unsigned n_failures,
			  const usec_t *triggers, unsigned n_triggers, usec_t suspended_for,
			  bool drain, const char *why)
{
	/* The arrays have room for burst + 1 and burst + 2 (service_new()). */
	unsigned max_failures = s->cfg->service.start_limit_burst + 1;
	unsigned max_triggers = s->cfg->socket.trigger_limit_burst + 2;

	/* memcpy() from NULL is undefined even for 0 bytes: an empty window
	 * comes as NULL. */
	s->n_failures = n_failures < max_failures ? n_failures : max_failures;
	if (s->n_failures > 0)
		memcpy(s->failures, failures, s->n_failures * sizeof(usec_t));
	s->n_triggers = n_triggers < max_triggers ? n_triggers : max_triggers;
	if (s->n_triggers > 0)
		memcpy(s->triggers, triggers, s->n_triggers * sizeof(usec_t));
	if (suspended_for == 0 || s->state != SERVICE_STOPPED)
		return;
	if (s->cfg->socket.accept) {
		accept_suspend(s, drain, why, suspended_for);
		return;
	}
	s->stats.backoff_until = now_usec() + suspended_for;
	if (service_set_state(s, SERVICE_SUSPENDED, why) >= 0 &&
	    timer_arm_usec(s->backoff_timer, suspended_for) < 0)
		backoff_end_cb(-1, 0, s); /* never suspended for good */
}

int service_adopt_container(struct service *s, const struct service_adoption *a)
{
	struct manager *m = s->manager;
	struct container *c = NULL;
	int r;

	if (s->cfg->socket.accept || s->container || s->state != SERVICE_STOPPED)
		return -EINVAL;
	r = container_new(m->base, m->container_ops, name(s), &single_callbacks, s, &c);
	if (r >= 0)
		r = container_adopt(c, a->pid, a->pidfd, a->cgroup, a->frozen);
	if (r < 0) {
		/* Nothing taken: the caller still owns pidfd and cgroup. */
		container_free(c);
		return r;
	}
	(void)readiness_adopt(s, a->notify_fd, a->notify_path, a->pid);
	if (a->output_fd >= 0 &&
	    (r = output_pipe_adopt(s->output, a->output_fd, a->pid, &s->output_pipe)) < 0)
		log_errno(LOG_WARNING, r, "%s: cannot take over the output of pid %d", name(s),
			  (int)a->pid);
	s->container = c;
	if (s->cfg->container.boot)
		s->machine = machined_adopt(m->machined, name(s));
	s->started_at = a->started_at;
	s->idle_since = a->idle_since;
	s->cpu_checked_at = now_usec();
	s->cpu_usage = 0;
	s->released = false;
	(void)service_set_state(s, SERVICE_STARTING, "re-exec: taking over");
	(void)service_set_state(s, SERVICE_RUNNING, "re-exec: taken over");
	log_info("%s: took over container pid %d%s", name(s), (int)a->pid,
		 a->frozen ? ", frozen" : "");
	if (!a->frozen)
		return 0;
	/* As if its freeze had just completed: the listeners are polled
	 * again, and IdleStopSec= is armed for what is left of it. */
	s->held = a->held;
	s->freeze_started_at = now_usec();
	snprintf(s->freeze_reason, sizeof(s->freeze_reason), "re-exec: taken over frozen");
	if (service_set_state(s, SERVICE_FREEZING, s->freeze_reason) >= 0)
		single_freeze_cb(c, true, 0, s);
	return 0;
}

static int single_init(struct service *s)
{
	/* Below every other event: a waiting connection goes first. */
	s->park_event = event_new(s->manager->base, -1, 0, park_cb, s);
	if (!s->park_event || event_priority_set(s->park_event, EVENT_PRIORITY_LOW) < 0)
		return -ENOMEM;
	return readiness_init(s);
}

static void single_done(struct service *s)
{
	s->container = container_free(s->container);
	s->machine = machined_unregister(s->machine);
	readiness_done(s);
	if (s->park_event)
		event_free(s->park_event);
	s->park_event = NULL;
}

static const struct service_mode single_mode = {
    .name = "Accept=no",
    .init = single_init,
    .done = single_done,
    .listen_ready = single_listen_ready,
    .state_changed = single_state_changed,
    .start = single_start,
    .stop = single_stop,
    .is_active = single_is_active,
    .freeze = single_freeze,
    .fd_taken = NULL,
    .holds_listeners = true,
};

/* --- requests ----------------------------------------------------------- */

int service_start(struct service *s)
{
	return s->mode->start(s, "start requested");
}

int service_stop(struct service *s, const char *reason)
{
	return s->mode->stop(s, reason);
}

int service_restart(struct service *s)
{
	int r = service_start(s);

	if (r != -EBUSY)
		return r;
	/* Active: stop, and the exit starts it again. */
	s->restart_pending = true;
	r = service_stop(s, "restart requested");
	if (r < 0 && r != -EALREADY) {
		s->restart_pending = false;
		return r;
	}
	return 0;
}

int service_freeze(struct service *s, const char *reason)
{
	if (!s->mode->freeze)
		return -EOPNOTSUPP;
	return s->mode->freeze(s, true, reason);
}

int service_thaw(struct service *s, const char *reason)
{
	if (!s->mode->freeze)
		return -EOPNOTSUPP;
	return s->mode->freeze(s, false, reason);
}

void service_remove(struct service *s)
{
	/* A successor removed while its image was being made ready: the
	 * predecessor it let serve meanwhile goes as well. */
	if (s->image_job && s->predecessor && !s->predecessor->dead)
		service_remove(s->predecessor);
	s->removing = true;
	service_listen_enable(s, false);
	s->restart_pending = false;
	if (!service_is_active(s) || service_stop(s, "removed") == -EALREADY)
		manager_service_dead(s->manager, s);
}

/* --- idle: freeze, thaw, stop ------------------------------------------- */

/* Whether the container's cgroup used at least IdleCPUPercent= since the
 * last tick. Without a cgroup the CPU rule does not apply. */
static bool cpu_busy(struct service *s, usec_t now)
{
	const char *cg = s->container ? container_cgroup(s->container) : NULL;
	uint64_t usage, used;
	usec_t wall = now - s->cpu_checked_at;
	bool busy;

	if (!cg || cgroup_cpu_usage(cg, &usage) < 0)
		return false;
	used = usage >= s->cpu_usage ? usage - s->cpu_usage : 0;
	/* hundredths of a percent of one CPU */
	busy = wall > 0 && used * 10000 / wall >= s->cfg->service.idle_cpu_centi;
	s->cpu_usage = usage;
	s->cpu_checked_at = now;
	return busy;
}

void service_idle_tick(struct service *s, bool failed_dump, usec_t now)
{
	const struct service_settings *st = &s->cfg->service;
	bool traffic = st->idle_connections == IDLE_CONNECTIONS_TRAFFIC;
	unsigned conns = traffic ? s->idle.active : s->idle.connections;
	bool busy;
	char buf[64];

	if (s->state == SERVICE_FROZEN) {
		/* Data for a connection the frozen container kept open. */
		if (!s->held && (s->idle.pending > 0 || s->idle.queued > 0))
			begin_thaw(s, "data on an open connection");
		return;
	}
	if (s->state != SERVICE_RUNNING)
		return;
	busy = failed_dump || conns > 0 || s->idle.queued > 0 || s->idle.pending > 0;
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
		(void)service_stop(s, idle_reason(s, now, buf, sizeof(buf)));
		return;
	}
	if (st->idle_freeze && now - s->idle_since >= st->idle_freeze && s->container &&
	    container_cgroup(s->container))
		(void)begin_freeze(s, idle_reason(s, now, buf, sizeof(buf)));
}

/* --- life --------------------------------------------------------------- */

static void listen_cb(evutil_socket_t fd, short what, void *arg)
{
	struct service *s = arg;

	s->mode->listen_ready(s, fd);
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
		if (s->mode->fd_taken)
			s->mode->fd_taken(s, fd);
		return fd;
	}
	return -1;
}

void service_keep_predecessor(struct service *s)
{
	struct service *old = s->predecessor;

	if (!old || old->dead)
		return;
	s->predecessor = NULL;
	old->successor = NULL;
	old->removing = false;
	/* The listeners the successor took from it, back. */
	for (size_t i = 0; i < old->cfg->socket.n_listen; i++) {
		const struct listen_config *lc = &old->cfg->socket.listen[i];
		int fd;

		if (old->fds[i] >= 0 || (fd = service_take_fd(s, lc)) < 0)
			continue;
		/* Accept=yes: the daemon accepts, never blocking. */
		if (!old->mode->holds_listeners)
			(void)fd_set_nonblock(fd, true);
		old->fds[i] = fd;
		old->listen_events[i] =
		    event_new(old->manager->base, fd, EV_READ | EV_PERSIST, listen_cb, old);
		if (!old->listen_events[i])
			log_error("%s: cannot poll %s=%s again", name(old),
				  listen_type_to_string(lc->type), lc->text);
	}
	old->mode->state_changed(old);
}

static void destroy(struct service *s, bool own_cfg);

struct service *service_new(struct manager *m, struct service_config *cfg, int *fds,
			    struct service *predecessor)
{
	struct service *s = calloc(1, sizeof(*s));
	size_t n = cfg->socket.n_listen;
	bool ok;

	if (!s)
		return NULL;
	s->manager = m;
	s->stats.created_at = now_usec();
	s->cfg = cfg;
	/* The one choice between the modes. */
	s->mode = cfg->socket.accept ? &accept_mode : &single_mode;
	s->userns_fd = -1;
	s->park_fd = -1;
	s->state = SERVICE_WAITING;
	network_init(&s->net);
	s->output = output_new(m->base, cfg->name, cfg->socket.accept, NULL);
	/* Retried, and reported again, at the first start if it fails. */
	(void)hardening_prepare(s);
	s->fds = calloc(n, sizeof(int));
	s->listen_events = calloc(n, sizeof(struct event *));
	s->failures = calloc(cfg->service.start_limit_burst + 1, sizeof(usec_t));
	s->triggers = calloc(cfg->socket.trigger_limit_burst + 2, sizeof(usec_t));
	s->stats.listeners = calloc(n, sizeof(*s->stats.listeners));
	s->backoff_timer = evtimer_new(m->base, backoff_end_cb, s);
	s->idle_timer = evtimer_new(m->base, idle_timer_cb, s);
	ok = s->output && s->fds && s->listen_events && s->failures && s->triggers &&
	     (s->stats.listeners || n == 0) && s->backoff_timer && s->idle_timer;
	for (size_t i = 0; i < n; i++) {
		if (ok)
			s->listen_events[i] =
			    event_new(m->base, fds[i], EV_READ | EV_PERSIST, listen_cb, s);
		ok = ok && s->listen_events[i];
	}
	if (ok && s->mode->init(s) < 0)
		ok = false;
	if (ok && service_image_prepare(s) < 0)
		ok = false;
	if (!ok) {
		/* The fds and cfg stay the caller's. */
		if (s->fds)
			for (size_t i = 0; i < n; i++)
				s->fds[i] = -1;
		destroy(s, false);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		s->fds[i] = fds[i];
		fds[i] = -1;
	}
	/* A drain is the operator's, not the file's: a reload keeps it. */
	if (predecessor)
		s->drained = predecessor->drained;
	/* Per-connection sandboxes do not hold the listeners: a successor
	 * need not wait for a predecessor's to end. */
	/* One that waits for its image keeps any settled predecessor, running
	 * or not, until the image is ready or has failed (service-image.c). */
	if (predecessor && !predecessor->image_job &&
	    (s->image_job ||
	     (predecessor->mode->holds_listeners && service_is_active(predecessor)))) {
		predecessor->successor = s;
		s->predecessor = predecessor;
	} else if (!s->image_job) {
		(void)service_set_state(s, SERVICE_STOPPED, "configured");
	}
	return s;
}

static void destroy(struct service *s, bool own_cfg)
{
	size_t n = s->cfg->socket.n_listen;

	s->mode->done(s);
	s->output_pipe = output_pipe_close(s->output_pipe);
	s->output = output_free(s->output);
	event_freep(&s->backoff_timer);
	event_freep(&s->idle_timer);
	s->park_fd = safe_close(s->park_fd);
	hardening_release(s);
	network_free(s);
	for (size_t i = 0; i < n && s->listen_events && s->fds; i++) {
		event_freep(&s->listen_events[i]);
		if (s->fds[i] >= 0) {
			close(s->fds[i]);
			listener_unlink(&s->cfg->socket.listen[i]);
			/* A listener gone with its service (a reload): the
			 * service manager must not keep it. One kept at
			 * shutdown lets clients wait for the next daemon. */
			if (!s->manager->shutting_down)
				fdstore_forget(s->cfg->name, &s->cfg->socket.listen[i]);
		}
	}
	if (s->predecessor)
		s->predecessor->successor = NULL;
	if (s->successor) {
		s->successor->predecessor = NULL;
		if (s->successor->state == SERVICE_WAITING && !s->successor->image_job)
			(void)service_set_state(s->successor, SERVICE_STOPPED, "predecessor gone");
	}
	s->image_job = image_job_cancel(s->image_job);
	s->image = image_info_free(s->image);
	free(s->image_stamp);
	free(s->fds);
	free(s->listen_events);
	free(s->failures);
	free(s->triggers);
	free(s->stats.listeners);
	if (own_cfg)
		config_free(s->cfg);
	free(s);
}

struct service *service_free(struct service *s)
{
	if (s)
		destroy(s, true);
	return NULL;
}
