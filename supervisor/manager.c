/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "manager.h"
#include "hostmounts.h"
#include "spares.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "config-build.h"
#include "common/log.h"
#include "common/strv.h"
#include "supervisor/config.h"
#include "supervisor/container.h"
#include "supervisor/idle.h"
#include "supervisor/image.h"
#include "supervisor/listener.h"
#include "supervisor/rootdir.h"
#include "supervisor/network.h"
#include "supervisor/control.h"
#include "supervisor/fdstore.h"
#include "supervisor/metrics.h"
#include "supervisor/service.h"

/* After SIGTERM, the longest a shutdown may take beyond the largest
 * StopTimeoutSec=, before the daemon exits anyway. */
#define SHUTDOWN_GRACE_USEC (5 * USEC_PER_SEC)

static int mkdir_p(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = strdup(path);

	if (!p)
		return -ENOMEM;
	for (char *s = strchr(p + 1, '/');; s = strchr(s + 1, '/')) {
		if (s)
			*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return -errno;
		if (!s)
			break;
		*s = '/';
	}
	return 0;
}

static int setup_runtime_dir(struct manager *m)
{
	_cleanup_free_ char *lock = NULL;
	int r;

	r = mkdir_p(m->runtime_dir, 0755);
	if (r < 0)
		return log_errno(LOG_ERR, r, "cannot create runtime directory %s", m->runtime_dir);
	if (asprintf(&lock, "%s/nsinetd.lock", m->runtime_dir) < 0 ||
	    asprintf(&m->staging_dir, "%s/root", m->runtime_dir) < 0 ||
	    asprintf(&m->notify_dir, "%s/notify", m->runtime_dir) < 0)
		return log_errno(LOG_ERR, -ENOMEM, "runtime directory");
	m->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (m->lock_fd < 0)
		return log_errno(LOG_ERR, -errno, "cannot open %s", lock);
	/* Two daemons on one runtime directory would share the staging
	 * directory and fight over the same cgroups and sockets. */
	if (flock(m->lock_fd, LOCK_EX | LOCK_NB) < 0)
		return log_errno(LOG_ERR, -errno, "another nsinetd uses the runtime directory %s",
				 m->runtime_dir);
	if (mkdir(m->staging_dir, 0755) < 0 && errno != EEXIST)
		return log_errno(LOG_ERR, -errno, "cannot create %s", m->staging_dir);
	/* Only root may enter: the sockets in it are mode 0666 (notify.c). */
	if (mkdir(m->notify_dir, 0700) < 0 && errno != EEXIST)
		return log_errno(LOG_ERR, -errno, "cannot create %s", m->notify_dir);
	if (chmod(m->notify_dir, 0700) < 0)
		return log_errno(LOG_ERR, -errno, "cannot chmod %s", m->notify_dir);
	return 0;
}

/*
 * nsinetd-init, the program every container's pid 1 runs: next to this
 * binary (the build tree, or an install that keeps them together), else
 * where meson installs it. Opened once, O_PATH: a container is started with
 * execveat() of this fd, so no path is looked up on a connection's path.
 */
static int open_init(struct manager *m)
{
	char self[4096], path[4096 + 32];
	const char *found = NULL;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		char *slash;

		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			snprintf(path, sizeof(path), "%s/nsinetd-init", self);
			if (faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) == 0)
				found = path;
		}
	}
	if (!found)
		found = NSINETD_INIT_DEFAULT;
	m->init_fd = open(found, O_PATH | O_CLOEXEC);
	if (m->init_fd < 0)
		return log_errno(LOG_ERR, -errno,
				 "cannot open %s, the program of every container's pid 1 (it is "
				 "installed with nsinetd)",
				 found);
	log_debug("containers start with %s", found);
	return 0;
}

/* Once: a start then copies a mount namespace of one tmpfs instead of
 * ours, whatever the host's mount count (bench/README.md). Without it
 * (an older kernel, no privilege) every start copies ours, as before. */
static void open_mount_template(struct manager *m)
{
	int r = activator_mount_template_new(m->init_fd, &m->mount_template_fd);

	if (r == -EOPNOTSUPP)
		log_info("no mount template: this kernel cannot mount on a detached tree (Linux "
			 "6.15); each container's mount namespace is a copy of the daemon's");
	else if (r < 0)
		log_errno(LOG_INFO, r,
			  "no mount template; each container's mount namespace is a copy of the "
			  "daemon's");
	else
		log_debug("mount template ready");
}

static int move_to_leaf(struct manager *m)
{
	_cleanup_close_ int fd = -1, procs = -1;
	_cleanup_free_ char *path = NULL;
	char pid[32];
	int n, r;

	r = cgroup_create(&m->cgroup, "supervisor", &fd, &path);
	if (r < 0)
		return r;
	procs = openat(fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
	if (procs < 0)
		return -errno;
	n = snprintf(pid, sizeof(pid), "%d", (int)getpid());
	if (write(procs, pid, (size_t)n) != n)
		return -errno;
	m->in_leaf = true;
	log_info("moved into cgroup %s (Delegate=yes): containers go to %s%s/containers", path,
		 m->cgroup.mount, m->cgroup.self);
	return 0;
}

/* Kills what runs in each cgroup below base (thawing a frozen one: the
 * directory may be created again) and removes the directories; returns
 * how many are still busy. */
static unsigned remove_children(const char *base)
{
	unsigned busy = 0;
	DIR *sub = opendir(base);
	struct dirent *se;

	while (sub && (se = readdir(sub))) {
		_cleanup_free_ char *c = NULL;

		if (se->d_type != DT_DIR || se->d_name[0] == '.')
			continue;
		if (asprintf(&c, "%s/%s", base, se->d_name) < 0)
			continue;
		(void)cgroup_kill(c);
		(void)cgroup_freeze(c, false);
		if (cgroup_remove(c) == -EBUSY)
			busy++;
	}
	if (sub)
		closedir(sub);
	return busy;
}

/* SELF/nsinetd-PID of a daemon that is gone (SIGKILL, a crash): its
 * containers died with it (PDEATHSIG), but the directories stay. Only
 * directories of that name, and only when no process has that pid. A
 * directory still busy (a process on its way out after the kill) is tried
 * again from stale_timer; returns how many are left. */
static unsigned remove_stale_cgroups(struct manager *m)
{
	_cleanup_free_ char *dir = NULL;
	unsigned busy = 0;
	DIR *d;
	struct dirent *de;

	if (asprintf(&dir, "%s%s", m->cgroup.mount,
		     strcmp(m->cgroup.self, "/") ? m->cgroup.self : "") < 0)
		return 0;
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		_cleanup_free_ char *base = NULL;
		char *end;
		long pid;
		int r;

		if (de->d_type != DT_DIR || strncmp(de->d_name, "nsinetd-", 8) != 0)
			continue;
		pid = strtol(de->d_name + 8, &end, 10);
		if (*end || pid <= 0 || pid == getpid() || kill((pid_t)pid, 0) == 0 ||
		    errno != ESRCH)
			continue;
		if (asprintf(&base, "%s/%s", dir, de->d_name) < 0)
			continue;
		(void)remove_children(base);
		r = cgroup_remove(base);
		if (r >= 0)
			log_notice("removed the cgroup %s of an earlier nsinetd (pid %ld)", base,
				   pid);
		else if (r == -EBUSY)
			busy++;
	}
	closedir(d);
	return busy;
}

static void stale_cb(evutil_socket_t fd, short what, void *arg)
{
	struct manager *m = arg;
	struct timeval tv = {.tv_sec = 0, .tv_usec = 10000};

	if (remove_stale_cgroups(m) == 0)
		return;
	if (++m->stale_tries >= 100) {
		log_warning("cgroups of an earlier nsinetd below %s%s are still busy, leaving them",
			    m->cgroup.mount, m->cgroup.self);
		return;
	}
	if (evtimer_add(m->stale_timer, &tv) < 0)
		log_error("cannot arm a timer: cgroups of an earlier nsinetd are left");
}

static void setup_cgroup(struct manager *m)
{
	_cleanup_close_ int fd = -1;
	bool reexeced = false;
	int r;

	r = cgroup_root_find(&m->cgroup);
	if (r < 0) {
		log_warning("no cgroup v2 file system: containers run without a cgroup of their "
			    "own; stopping relies on killing their pid 1");
		return;
	}
	/* Under systemd (INVOCATION_ID) the unit's cgroup is ours alone
	 * (Delegate=yes): the daemon moves into a leaf of its own, so that
	 * the containers' cgroups are not below a cgroup with processes in
	 * it (cgroup v2's no-internal-process rule, which controllers
	 * enforce), and they go to UNIT/containers/NAME. Elsewhere (a shell,
	 * a test suite running several daemons in one cgroup) one directory
	 * per daemon: SELF/nsinetd-PID/NAME. */
	if (getenv("INVOCATION_ID") && strcmp(m->cgroup.self, "/") != 0) {
		size_t n = strlen(m->cgroup.self);

		/* In its leaf already: a re-exec (reexec.c) keeps the process,
		 * and with it the cgroup. The unit's is the one above. */
		if (n > 11 && strcmp(m->cgroup.self + n - 11, "/supervisor") == 0) {
			m->cgroup.self[n - 11] = '\0';
			m->in_leaf = true;
			reexeced = true;
		}
		r = m->in_leaf ? 0 : move_to_leaf(m);
		if (r < 0)
			log_errno(LOG_WARNING, r, "cannot move into %s%s/supervisor",
				  m->cgroup.mount, m->cgroup.self);
	}
	/* Busy ones (processes on their way out) again from the loop. */
	if (!m->in_leaf && remove_stale_cgroups(m) > 0 && m->stale_timer)
		stale_cb(-1, 0, m);
	if (asprintf(&m->cgroup_base, m->in_leaf ? "containers" : "nsinetd-%d", (int)getpid()) <
	    0) {
		m->cgroup_base = NULL;
		return;
	}
	r = cgroup_create(&m->cgroup, m->cgroup_base, &fd, &m->cgroup_base_path);
	if (r < 0) {
		log_errno(LOG_WARNING, r,
			  "cannot create cgroup %s below %s%s: containers run without a cgroup "
			  "of their own",
			  m->cgroup_base, m->cgroup.mount, m->cgroup.self);
		return;
	}
	m->have_cgroup = true;
	/* Under systemd the directory is the same for every daemon of the
	 * unit: what a dead one left in it (systemd kills its processes,
	 * PDEATHSIG too) must not hold, or freeze, the new containers. Not
	 * after a re-exec: what is there is the containers it hands over
	 * (reexec_adopt() takes them, or stops them; a state it could not
	 * read kills them, kill_leftovers()), as the SELF/nsinetd-PID of a
	 * daemon outside systemd is its own again after one. */
	if (m->in_leaf && !reexeced && remove_children(m->cgroup_base_path) > 0)
		log_warning("cgroups of an earlier nsinetd below %s are still busy",
			    m->cgroup_base_path);
	log_debug("containers go below cgroup %s", m->cgroup_base_path);
}

/* Sockets from the service manager: those of socket units, and those an
 * earlier daemon stored (fdstore.h), told apart by their names. */
int manager_inherit(struct manager *m, int fd, char *name)
{
	struct inherited_fd *b = reallocarray(m->inherited, m->n_inherited + 1, sizeof(*b));

	if (!b) {
		safe_close(fd);
		free(name);
		return -ENOMEM;
	}
	m->inherited = b;
	m->inherited[m->n_inherited++] = (struct inherited_fd){.fd = fd, .name = name};
	return 0;
}

static void adopt_inherited(struct manager *m)
{
	char **names = NULL;
	int n = sd_listen_fds_with_names(1, &names);
	unsigned stored = 0;

	if (n <= 0)
		return;
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		char *name = names ? TAKE_PTR(names[i]) : NULL;

		/* Ours now: no container may inherit it by accident. */
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
		stored += fdstore_name_is_ours(name);
		if (manager_inherit(m, fd, name) < 0)
			log_error("out of memory: a socket from the service manager is closed");
	}
	strv_free(names);
	log_info("received %d socket(s) from the service manager, %u of them from its fd store", n,
		 stored);
}

static void inherited_drop(struct manager *m, size_t i)
{
	m->inherited[i].fd = safe_close(m->inherited[i].fd);
	free(m->inherited[i].name);
	m->inherited[i].name = NULL;
}

/* Closes the sockets an earlier daemon stored (fdstore.h) that no service
 * claimed, and tells the service manager to forget them; those of socket
 * units stay for a reload to claim. After the first load. */
static void forget_unclaimed(struct manager *m)
{
	for (size_t i = 0; i < m->n_inherited; i++) {
		const char *name = m->inherited[i].name;

		if (m->inherited[i].fd < 0 || !fdstore_name_is_ours(name))
			continue;
		log_notice("the socket stored as %s belongs to no configured service: closed, and "
			   "removed from the fd store",
			   name);
		(void)fdstore_remove(name);
		inherited_drop(m, i);
	}
}

static void free_dead_cb(evutil_socket_t fd, short what, void *arg)
{
	struct manager *m = arg;

	for (size_t i = 0; i < m->n_services;) {
		struct service *s = m->services[i];

		if (!s->dead) {
			i++;
			continue;
		}
		memmove(&m->services[i], &m->services[i + 1],
			(m->n_services - i - 1) * sizeof(*m->services));
		m->n_services--;
		control_service_gone(m->control, s);
		service_free(s);
	}
	manager_notify_status(m);
	manager_images_gc(m);
	if (m->shutting_down && m->n_services == 0)
		event_base_loopbreak(m->base);
}

void manager_images_init(struct manager *m, const char *state_dir)
{
	/* Its directories are made by the first image's job. */
	int r = image_cache_new(m->base, state_dir, &m->images);

	if (r < 0)
		log_errno(LOG_WARNING, r, "images: services with Image= cannot start");
}

void manager_images_gc(struct manager *m)
{
	_cleanup_strv_free_ char **used = NULL;

	if (!m->images || m->shutting_down)
		return;
	for (size_t i = 0; i < m->n_services; i++) {
		const struct service *s = m->services[i];

		if (s->image_job)
			return; /* its digest is not known yet */
		if (!s->dead && s->image && s->image->digest &&
		    strv_push(&used, s->image->digest) < 0)
			return;
	}
	image_cache_gc(m->images, used);
}

int manager_loop_init(struct manager *m, struct event_base *base)
{
	m->base = base;
	m->container_ops = &container_ops_default;
	m->free_event = event_new(base, -1, 0, free_dead_cb, m);
	m->stale_timer = evtimer_new(base, stale_cb, m);
	/* After what is ready already: never inside a service's callback,
	 * and not before the other work of this turn of the loop. */
	if (!m->free_event || !m->stale_timer ||
	    event_priority_set(m->free_event, EVENT_PRIORITY_LOW) < 0)
		return -ENOMEM;
	return 0;
}

void manager_service_dead(struct manager *m, struct service *s)
{
	s->dead = true;
	event_active(m->free_event, EV_TIMEOUT, 0);
}

int manager_new(struct event_base *base, const char *config_dir, const char *runtime_dir,
		struct manager **ret)
{
	struct manager *m = calloc(1, sizeof(*m));
	int r;

	if (!m)
		return -ENOMEM;
	m->lock_fd = -1;
	m->init_fd = -1;
	m->slot_fd = -1;
	m->mount_template_fd = -1;
	m->config_dir = strdup(config_dir);
	m->runtime_dir = strdup(runtime_dir);
	if (manager_loop_init(m, base) < 0 || !m->config_dir || !m->runtime_dir) {
		manager_free(m);
		return -ENOMEM;
	}
	r = open_init(m);
	/* Early, while the daemon's fds are few: a start then copies only the
	 * fds below it and init_fd (activator.h, slot_fd). */
	if (r >= 0 && (r = activator_reserve_slot(&m->slot_fd)) < 0)
		log_errno(LOG_ERR, r, "cannot open /dev/null");
	if (r >= 0)
		r = setup_runtime_dir(m);
	if (r < 0) {
		manager_free(m);
		return r;
	}
	setup_cgroup(m);
	open_mount_template(m);
	m->host_mounts = host_mounts_new();
	if (!m->host_mounts)
		log_debug("cannot open /proc/self/mountinfo: each start reads it");
	adopt_inherited(m);
	*ret = m;
	return 0;
}

struct manager *manager_free(struct manager *m)
{
	if (!m)
		return NULL;
	/* After the loop: whatever is left is freed now (and killed). */
	while (m->n_services > 0)
		service_free(m->services[--m->n_services]);
	free(m->services);
	if (m->free_event)
		event_free(m->free_event);
	if (m->stale_timer)
		event_free(m->stale_timer);
	network_spares_free(m);
	/* Before the cgroup base, which holds theirs. */
	m->spares = spares_free(m->spares);
	idle_done(m);
	m->images = image_cache_free(m->images);
	if (m->cgroup_base_path) {
		int r = cgroup_remove(m->cgroup_base_path);
		if (r < 0 && r != -ENOENT)
			log_errno(LOG_WARNING, r, "cannot remove cgroup %s", m->cgroup_base_path);
		free(m->cgroup_base_path);
	}
	cgroup_root_done(&m->cgroup);
	free(m->cgroup_base);
	for (size_t i = 0; i < m->n_inherited; i++)
		inherited_drop(m, i);
	free(m->inherited);
	if (m->staging_dir)
		(void)rmdir(m->staging_dir);
	free(m->staging_dir);
	if (m->notify_dir)
		(void)rmdir(m->notify_dir);
	free(m->notify_dir);
	if (m->shutdown_timer)
		event_free(m->shutdown_timer);
	safe_close(m->init_fd);
	safe_close(m->slot_fd);
	safe_close(m->mount_template_fd);
	m->host_mounts = host_mounts_free(m->host_mounts);
	if (m->lock_fd >= 0) {
		_cleanup_free_ char *lock = NULL;
		if (asprintf(&lock, "%s/nsinetd.lock", m->runtime_dir) >= 0)
			(void)unlink(lock);
		safe_close(m->lock_fd);
		(void)rmdir(m->runtime_dir);
	}
	free(m->config_dir);
	free(m->runtime_dir);
	free(m);
	return NULL;
}

void manager_service_changed(struct manager *m, struct service *s, int old, const char *reason,
			     usec_t now)
{
	metrics_service_changed(s, old, reason, now);
	control_service_changed(m->control, s, old, reason, now);
}

void manager_notify_status(struct manager *m)
{
	size_t running = 0, listening = 0;

	for (size_t i = 0; i < m->n_services; i++) {
		enum service_state st = m->services[i]->state;

		/* A parked container is set up, but serves nothing yet. */
		if (st == SERVICE_STOPPED || st == SERVICE_PARKED)
			listening++;
		else if (service_is_active(m->services[i]))
			running++;
	}
	sd_notifyf(0, "STATUS=%zu services: %zu running, %zu listening", m->n_services, running,
		   listening);
}

static struct service *find_service(struct manager *m, const char *name)
{
	for (size_t i = 0; i < m->n_services; i++)
		if (!m->services[i]->removing && strcmp(m->services[i]->cfg->name, name) == 0)
			return m->services[i];
	return NULL;
}

/* Into the service manager's fd store, if there is one: a failure costs
 * only the socket's survival of a crash. */
static void store(const struct service_config *cfg, const struct listen_config *lc,
		  const char *name, int fd)
{
	int r = fdstore_add(name, fd);

	if (r < 0)
		log_errno(LOG_WARNING, r,
			  "%s: %s=%s: cannot store the socket with the service manager as %s",
			  cfg->name, listen_type_to_string(lc->type), lc->text, name);
	else if (fdstore_enabled())
		log_debug("%s: %s=%s: stored with the service manager as %s", cfg->name,
			  listen_type_to_string(lc->type), lc->text, name);
}

/* Other fds stored under the name of the one adopted (the store keeps
 * several under one name): closed, and, since the service manager forgets
 * by name only, all forgotten and the adopted one stored again. */
static int forget_duplicates(struct manager *m, size_t adopted, const struct service_config *cfg,
			     const struct listen_config *lc, const char *name, int fd)
{
	unsigned n = 0;

	for (size_t i = adopted + 1; i < m->n_inherited; i++)
		if (m->inherited[i].fd >= 0 && m->inherited[i].name &&
		    strcmp(m->inherited[i].name, name) == 0) {
			inherited_drop(m, i);
			n++;
		}
	if (n == 0)
		return 0;
	log_warning("%s: %s=%s: %u more socket(s) stored as %s: closed", cfg->name,
		    listen_type_to_string(lc->type), lc->text, n, name);
	(void)fdstore_remove(name);
	store(cfg, lc, name, fd);
	return 0;
}

/* An fd for a listen address: kept from a running service (reload), stored
 * by an earlier daemon (adopted by its name), passed by a socket unit (by
 * its address), or new. */
static int take_fd(struct manager *m, const struct service_config *cfg,
		   const struct listen_config *lc, int *ret_fd)
{
	char what[LISTENER_WHAT_MAX], name[FDSTORE_NAME_MAX], old[FDSTORE_NAME_MAX];
	const char *type = listen_type_to_string(lc->type);
	int r;

	fdstore_name(cfg->name, lc, name);
	for (size_t i = 0; i < m->n_services; i++) {
		int fd = service_take_fd(m->services[i], lc);
		if (fd >= 0) {
			r = listener_update(fd, lc, &cfg->socket);
			if (r < 0)
				log_errno(LOG_WARNING, r, "%s: %s=%s: cannot update backlog",
					  cfg->name, type, lc->text);
			/* Stored under the old service's name: under ours now. */
			fdstore_name(m->services[i]->cfg->name, lc, old);
			if (strcmp(old, name) != 0) {
				(void)fdstore_remove(old);
				store(cfg, lc, name, fd);
			}
			*ret_fd = fd;
			return 0;
		}
	}
	/* Stored by an earlier daemon under this very name. */
	for (size_t i = 0; i < m->n_inherited; i++) {
		if (m->inherited[i].fd < 0 || !m->inherited[i].name ||
		    strcmp(m->inherited[i].name, name) != 0)
			continue;
		if (listener_matches(m->inherited[i].fd, lc)) {
			*ret_fd = TAKE_FD(m->inherited[i].fd);
			log_info("%s: %s=%s: adopted the socket stored as %s", cfg->name, type,
				 lc->text, name);
			return forget_duplicates(m, i, cfg, lc, name, *ret_fd);
		}
		log_warning("%s: %s=%s: the socket stored as %s is not of that type and address: "
			    "closed, removed from the fd store, and bound anew",
			    cfg->name, type, lc->text, name);
		(void)fdstore_remove(name);
		inherited_drop(m, i);
	}
	/* From a socket unit, or stored under another name (a service of
	 * another name had this address): by its type and address. */
	for (size_t i = 0; i < m->n_inherited; i++) {
		const char *iname = m->inherited[i].name;

		if (m->inherited[i].fd < 0 || !listener_matches(m->inherited[i].fd, lc))
			continue;
		*ret_fd = TAKE_FD(m->inherited[i].fd);
		log_info("%s: %s=%s: using the socket passed by the service manager (%s)",
			 cfg->name, type, lc->text, iname ? iname : "unnamed");
		if (fdstore_name_is_ours(iname)) {
			(void)fdstore_remove(iname);
			store(cfg, lc, name, *ret_fd);
		}
		return 0;
	}
	r = listener_open(lc, &cfg->socket, ret_fd, what, sizeof(what));
	if (r < 0)
		return log_errno(LOG_ERR, r, "%s: %s=%s: cannot %s", cfg->name, type, lc->text,
				 what);
	store(cfg, lc, name, *ret_fd);
	return 0;
}

/* What the configuration asks for that this host cannot give, or would
 * give unsafely. */
static int check_host(struct manager *m, const struct service_config *cfg)
{
	char why[ROOTDIR_WHY_MAX];
	int r;

	if (cfg->service.idle_freeze && !m->have_cgroup) {
		log_error("%s: %s: IdleFreezeSec= needs cgroup v2 (cgroup.freeze), and there is "
			  "none usable here: use IdleStopSec= alone, or mount cgroup2",
			  cfg->name, cfg->path);
		return -EOPNOTSUPP;
	}
	if (cfg->container.directory &&
	    ((r = rootdir_open(cfg->container.directory, NULL, why, sizeof(why))) < 0 ||
	     (!cfg->container.read_only &&
	      (r = rootdir_check_private(cfg->container.directory, why, sizeof(why))) < 0)))
		return log_errno(LOG_ERR, r, "%s: Directory=%s: %s", cfg->name,
				 cfg->container.directory, why);
	return 0;
}

static int add_service(struct manager *m, struct service_config *cfg, struct service *predecessor)
{
	size_t n = cfg->socket.n_listen;
	_cleanup_free_ int *fds = calloc(n, sizeof(int));
	struct service **a;
	struct service *s;
	int r = 0;

	if (!fds) {
		config_free(cfg);
		return -ENOMEM;
	}
	r = check_host(m, cfg);
	if (r < 0) {
		config_free(cfg);
		return r;
	}
	for (size_t i = 0; i < n; i++)
		fds[i] = -1;
	for (size_t i = 0; i < n && r >= 0; i++)
		r = take_fd(m, cfg, &cfg->socket.listen[i], &fds[i]);
	a = r >= 0 ? realloc(m->services, (m->n_services + 1) * sizeof(*a)) : NULL;
	if (a)
		m->services = a;
	s = a ? service_new(m, cfg, fds, predecessor) : NULL;
	if (!s) {
		for (size_t i = 0; i < n; i++) {
			if (fds[i] >= 0) {
				close(fds[i]);
				listener_unlink(&cfg->socket.listen[i]);
				fdstore_forget(cfg->name, &cfg->socket.listen[i]);
			}
		}
		log_error("%s: not started", cfg->name);
		config_free(cfg);
		return r < 0 ? r : -ENOMEM;
	}
	m->services[m->n_services++] = s;
	log_debug("%s: listening on %zu socket(s)", cfg->name, n);
	return 0;
}

static void log_errors(struct config_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++)
		log_error("%s", errs->messages[i]);
}

int manager_load(struct manager *m)
{
	struct config_errors errs = {0};
	struct service_config **cfgs = NULL;
	size_t n = 0;
	int r;

	r = config_load_dir(m->config_dir, &errs, &cfgs, &n);
	log_errors(&errs);
	config_errors_clear(&errs);
	if (r < 0)
		return log_errno(LOG_ERR, r, "cannot read configuration directory %s",
				 m->config_dir);
	for (size_t i = 0; i < n; i++)
		(void)add_service(m, TAKE_PTR(cfgs[i]), NULL);
	free(cfgs);
	forget_unclaimed(m);
	/* Trees of images an earlier configuration used (after the jobs,
	 * if any run). */
	manager_images_gc(m);
	log_info("%zu service(s) listening, configuration from %s", m->n_services, m->config_dir);
	return 0;
}

/* Whether DIR/NAME.conf exists: a file that exists but did not load has
 * errors, and then the running version of the service stays. */
static bool config_file_exists(struct manager *m, const char *name)
{
	_cleanup_free_ char *p = NULL;

	if (asprintf(&p, "%s/%s.conf", m->config_dir, name) < 0)
		return false;
	return access(p, F_OK) == 0;
}

void reload_report_done(struct reload_report *rep)
{
	strv_free(rep->added);
	strv_free(rep->changed);
	strv_free(rep->removed);
	strv_free(rep->errors);
	*rep = (struct reload_report){0};
}

/* Records what a reload did, for the control interface; a failure to
 * record (out of memory) only shortens the report. */
static void report(char ***l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(char ***l, const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) >= 0)
		(void)strv_consume(l, s);
	va_end(ap);
}

int manager_reload(struct manager *m, struct reload_report *rep)
{
	struct config_errors errs = {0};
	struct service_config **cfgs = NULL;
	struct reload_report ignored = {0};
	size_t n = 0, kept = 0, changed = 0, added = 0, removed = 0;
	int r;

	if (!rep)
		rep = &ignored;
	if (m->shutting_down)
		return -ESHUTDOWN;
	sd_notify(0, "RELOADING=1");
	log_info("reloading configuration from %s", m->config_dir);
	r = config_load_dir(m->config_dir, &errs, &cfgs, &n);
	log_errors(&errs);
	for (size_t i = 0; i < errs.n; i++)
		report(&rep->errors, "%s", errs.messages[i]);
	config_errors_clear(&errs);
	if (r < 0) {
		log_errno(LOG_ERR, r, "cannot read %s, keeping the running configuration",
			  m->config_dir);
		report(&rep->errors, "%s: cannot read: %s; keeping the running configuration",
		       m->config_dir, strerror(-r));
		sd_notify(0, "READY=1");
		reload_report_done(&ignored);
		metrics_reloaded(m->metrics, r);
		return r;
	}

	/* Removed services first, so that their addresses are free for the
	 * new ones: a service whose file is gone. A file that has errors
	 * now keeps its running version. */
	for (size_t i = m->n_services; i-- > 0;) {
		struct service *s = m->services[i];
		bool found = false;

		if (s->removing)
			continue;
		for (size_t j = 0; j < n && !found; j++)
			found = strcmp(cfgs[j]->name, s->cfg->name) == 0;
		if (found)
			continue;
		if (config_file_exists(m, s->cfg->name)) {
			log_warning("%s: configuration has errors, keeping the running version",
				    s->cfg->name);
			continue;
		}
		log_info("%s: removed", s->cfg->name);
		report(&rep->removed, "%s", s->cfg->name);
		removed++;
		service_remove(s);
	}
	/* Listener fds of removed services that stop later are still held:
	 * a new service with the same address takes them over. */
	for (size_t j = 0; j < n; j++) {
		struct service *old = find_service(m, cfgs[j]->name);

		if (old && config_equal(old->cfg, cfgs[j]) && !service_image_changed(old)) {
			config_free(TAKE_PTR(cfgs[j]));
			kept++;
			continue;
		}
		if (old) {
			log_info("%s: configuration changed, restarting", cfgs[j]->name);
			changed++;
			report(&rep->changed, "%s", cfgs[j]->name);
			/* The old one gives its sockets to the new one and
			 * stops; the new one listens once the old is gone. */
			old->removing = true;
			r = add_service(m, TAKE_PTR(cfgs[j]), old);
			if (r < 0)
				report(&rep->errors, "%s: cannot start its new configuration: %s",
				       old->cfg->name, strerror(-r));
			/* A successor that waits for its image lets the old
			 * container serve meanwhile: it removes it when its
			 * image is ready (service-image.c). */
			if (r < 0 || !old->successor || !old->successor->image_job)
				service_remove(old);
		} else {
			_cleanup_free_ char *name = strdup(cfgs[j]->name);

			added++;
			r = add_service(m, TAKE_PTR(cfgs[j]), NULL);
			if (r < 0)
				report(&rep->errors, "%s: cannot add: %s", name ? name : "?",
				       strerror(-r));
			else
				report(&rep->added, "%s", name ? name : "?");
		}
	}
	rep->unchanged = kept;
	free(cfgs);
	log_info("reloaded: %zu unchanged, %zu changed, %zu added, %zu removed", kept, changed,
		 added, removed);
	sd_notify(0, "READY=1");
	manager_notify_status(m);
	metrics_reloaded(m->metrics, rep->errors ? -EINVAL : 0);
	reload_report_done(&ignored);
	return rep->errors ? -EINVAL : 0;
}

static void shutdown_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct manager *m = arg;

	log_error("containers did not stop in time, exiting anyway");
	event_base_loopbreak(m->base);
}

void manager_shutdown(struct manager *m)
{
	usec_t longest = 0;
	struct timeval tv;

	if (m->shutting_down)
		return;
	m->shutting_down = true;
	sd_notify(0, "STOPPING=1");
	log_info("stopping %zu service(s)", m->n_services);
	for (size_t i = m->n_services; i-- > 0;) {
		struct service *s = m->services[i];
		if (service_is_active(s) && s->cfg->service.stop_timeout != USEC_INFINITY &&
		    s->cfg->service.stop_timeout > longest)
			longest = s->cfg->service.stop_timeout;
	}
	/* The manager frees each one from the loop once it is stopped
	 * (free_dead_cb()), which ends the loop after the last. */
	for (size_t i = 0; i < m->n_services; i++)
		service_remove(m->services[i]);
	if (m->n_services == 0) {
		event_base_loopbreak(m->base);
		return;
	}
	/* The kill after StopTimeoutSec= needs the loop; this is the bound
	 * beyond it. */
	longest += SHUTDOWN_GRACE_USEC;
	tv.tv_sec = (time_t)(longest / USEC_PER_SEC);
	tv.tv_usec = (suseconds_t)(longest % USEC_PER_SEC);
	m->shutdown_timer = evtimer_new(m->base, shutdown_timeout_cb, m);
	if (!m->shutdown_timer || evtimer_add(m->shutdown_timer, &tv) < 0)
		log_error("cannot arm the shutdown's time limit: waiting for every container");
}
