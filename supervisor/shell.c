/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A command inside a running container (shell.h). The daemon never forks
 * itself into the container: activator_enter() clones and execs
 * nsinetd-init straight into the container's cgroup, which joins the
 * container, forks the command as our own child (CLONE_PARENT) and
 * exits. Three events follow it:
 *
 *   sync socket  first the command's pidfd (and the pty's master): ready;
 *                then EOF (its execve worked) or a failure record
 *   helper pidfd nsinetd-init exited: reaped
 *   command's    it exited: reaped; done, once the helper is reaped too
 *
 * Nothing waits: a wait status is read only from a readable pidfd.
 */
#include "shell.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "activator/activator.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/strv.h"
#include "supervisor/manager.h"
#include "supervisor/container.h"
#include "supervisor/service.h"

#define SHELL_TERM_MAX 64

struct shell {
	struct event_base *base;
	char *name; /* the service's, for the log: the service may go first */
	shell_ready_fn ready;
	shell_done_fn done;
	void *userdata;

	struct activator_child helper; /* the entering nsinetd-init */
	struct event *sync_event, *helper_event, *cmd_event;
	int cmd_pidfd;
	int fds[3]; /* !tty: the caller's ends, until ready */
	bool forked, helper_gone, cmd_gone;
	int err;    /* why it could not be started, or 0 */
	int status; /* the command's wait status */
};

/* Shells that run (SHELLS_MAX): one count for the daemon. */
static unsigned shells_running;

static void event_freep(struct event **e)
{
	if (*e) {
		event_free(*e);
		*e = NULL;
	}
}

/* The command could not be started: why, once. */
static void shell_failed(struct shell *sh, int r, const struct activator_failure *f)
{
	sh->err = r;
	log_errno(LOG_ERR, r, "%s: shell: cannot start the command at %s%s%s%s", sh->name,
		  activator_step_name(f->step), f->what[0] ? " (" : "", f->what,
		  f->what[0] ? ")" : "");
}

/* Reaps a killed child whose shell is gone, when it has exited. */
static void orphan_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)activator_reap(fd, NULL);
	close(fd);
}

/* Kills a child of ours and reaps it later from the loop (a pidfd is
 * readable once it has exited): shell_free() must not wait. */
static void child_abandon(struct event_base *base, int pidfd)
{
	if (pidfd < 0)
		return;
	(void)activator_signal(pidfd, SIGKILL);
	if (event_base_once(base, pidfd, EV_READ, orphan_reap_cb, NULL, NULL) < 0) {
		/* Without the event a zombie stays; better than a wait. */
		log_warning("shell: cannot watch a killed process, it stays a zombie");
		close(pidfd);
	}
}

struct shell *shell_free(struct shell *sh)
{
	if (!sh)
		return NULL;
	event_freep(&sh->sync_event);
	event_freep(&sh->helper_event);
	event_freep(&sh->cmd_event);
	if (!sh->cmd_gone)
		child_abandon(sh->base, sh->cmd_pidfd);
	else
		safe_close(sh->cmd_pidfd);
	if (!sh->helper_gone)
		child_abandon(sh->base, sh->helper.pidfd);
	else
		safe_close(sh->helper.pidfd);
	safe_close(sh->helper.sync_fd);
	for (int i = 0; i < 3; i++)
		safe_close(sh->fds[i]);
	free(sh->name);
	free(sh);
	shells_running--;
	return NULL;
}

/* Once nothing of it is left: done, the last thing we do (the callee may
 * free sh). Until the command is forked, the sync socket has the last
 * word (its message, a record or EOF), even if the helper's exit came
 * first. A failure record of the command's execve may still wait there
 * when its exit came first: read it now. */
static void shell_finish(struct shell *sh)
{
	shell_done_fn done = sh->done;

	if (!done || !sh->helper_gone || (!sh->forked && sh->sync_event) ||
	    (sh->forked && !sh->cmd_gone))
		return;
	if (sh->sync_event && sh->err == 0) {
		struct activator_failure f;
		int r = activator_read_result(sh->helper.sync_fd, &f);

		if (r < 0 && r != -EAGAIN)
			shell_failed(sh, r, &f);
	}
	event_freep(&sh->sync_event);
	sh->done = NULL;
	done(sh->userdata, sh->err < 0 ? sh->err : sh->status);
}

static void cmd_exit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct shell *sh = arg;

	if (activator_reap(sh->cmd_pidfd, &sh->status) < 0)
		return; /* not yet: the event is level-triggered */
	sh->cmd_gone = true;
	event_freep(&sh->cmd_event);
	log_debug("%s: shell: the command exited (0x%x)", sh->name, sh->status);
	shell_finish(sh);
}

static void helper_exit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct shell *sh = arg;
	int status;

	if (activator_reap(sh->helper.pidfd, &status) < 0)
		return;
	sh->helper_gone = true;
	event_freep(&sh->helper_event);
	shell_finish(sh);
}

/* The first message: the command is forked, here are its pidfd and the
 * pty's master. Calls ready (the callee may free sh: nothing after it). */
static void shell_forked(struct shell *sh, const struct activator_entered *e)
{
	int fds[3];

	sh->forked = true;
	sh->cmd_pidfd = e->pidfd;
	sh->cmd_event = event_new(sh->base, sh->cmd_pidfd, EV_READ | EV_PERSIST, cmd_exit_cb, sh);
	if (!sh->cmd_event || event_add(sh->cmd_event, NULL) < 0) {
		/* Unwatched, it could not be reaped: end it now. */
		log_error("%s: shell: out of memory, killing the command", sh->name);
		(void)activator_signal(sh->cmd_pidfd, SIGKILL);
	}
	if (e->pty_fd >= 0) {
		fds[0] = e->pty_fd;
		fds[1] = fds[2] = -1;
	} else {
		for (int i = 0; i < 3; i++)
			fds[i] = TAKE_FD(sh->fds[i]);
	}
	sh->ready(sh->userdata, fds);
}

static void sync_cb(evutil_socket_t fd, short what, void *arg)
{
	struct shell *sh = arg;
	struct activator_failure f;
	int r;

	if (!sh->forked) {
		struct activator_entered e = {.pidfd = -1, .pty_fd = -1};

		r = activator_enter_result(fd, &e, &f);
		if (r == 0) {
			shell_forked(sh, &e);
			return;
		}
	} else {
		r = activator_read_result(fd, &f);
		if (r == 0) {
			/* EOF: the command exec'd; nothing more will come. */
			log_debug("%s: shell: the command runs", sh->name);
			event_freep(&sh->sync_event);
			return;
		}
	}
	if (r == -EAGAIN)
		return;
	shell_failed(sh, r, &f);
	event_freep(&sh->sync_event);
	shell_finish(sh);
}

/* TERM as the client says, if it is a plain terminal name. */
static bool term_valid(const char *term)
{
	size_t n = strlen(term);

	if (n == 0 || n > SHELL_TERM_MAX)
		return false;
	for (const char *p = term; *p; p++)
		if (!(*p == '-' || *p == '_' || *p == '.' || *p == '+' ||
		      (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= 'A' && *p <= 'Z')))
			return false;
	return true;
}

/* The service's environment, TERM, and USER/LOGNAME for a root that has
 * no User= (HOME and PATH are always in the service's). */
static int shell_env(struct service_spec *sp, const char *term)
{
	_cleanup_free_ char *t = NULL;
	int r;

	if (term) {
		if (asprintf(&t, "TERM=%s", term) < 0)
			return -ENOMEM;
		if ((r = strv_env_set(&sp->env, t)) < 0)
			return r;
	}
	if (sp->spec.uid == 0 && !strv_contains(sp->env, "USER=root")) {
		bool has_user = false;

		STRV_FOREACH (e, sp->env)
			if (strncmp(*e, "USER=", 5) == 0)
				has_user = true;
		if (!has_user && ((r = strv_env_set(&sp->env, "USER=root")) < 0 ||
				  (r = strv_env_set(&sp->env, "LOGNAME=root")) < 0))
			return r;
	}
	sp->spec.envp = sp->env;
	return 0;
}

static int shell_spawn(struct shell *sh, struct service *s, struct service_spec *sp,
		       char *const *argv, bool tty)
{
	_cleanup_close_ int cgroup_fd = -1;
	int cmd_fds[3] = {-1, -1, -1}, r;

	if (!tty)
		for (int i = 0; i < 3; i++) {
			int p[2];

			if (pipe2(p, O_CLOEXEC) < 0) {
				r = -errno;
				goto out;
			}
			/* stdin: the command reads; stdout, stderr: it writes. */
			cmd_fds[i] = p[i == 0 ? 0 : 1];
			sh->fds[i] = p[i == 0 ? 1 : 0];
		}
	/* Into the container's own cgroup: its limits, its freezer and its
	 * cgroup.kill take the command too. */
	if (container_cgroup(s->container)) {
		cgroup_fd =
		    open(container_cgroup(s->container), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		/* Boot=yes: the booted init has made its cgroup an inner node
		 * (init.scope, system.slice, controllers enabled below), where
		 * no process may join; its own leaf, init.scope, takes the
		 * command, as the init's own child would be. */
		if (cgroup_fd >= 0 && s->cfg->container.boot) {
			int leaf = openat(cgroup_fd, "init.scope",
					  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (leaf >= 0) {
				close(cgroup_fd);
				cgroup_fd = leaf;
			}
		}
		if (cgroup_fd < 0) {
			r = -errno;
			goto out;
		}
	}
	/* Never the service's listeners: they are the container's payload's. */
	sp->spec.fds = NULL;
	sp->spec.fd_names = NULL;
	sp->spec.n_fds = 0;
	sp->spec.argv = argv && argv[0] ? argv : NULL;
	for (int i = 0; i < 3; i++)
		sp->spec.stdio[i] = cmd_fds[i];
	sp->spec.cgroup_fd = cgroup_fd;
	sp->spec.enter_pause_fd = -1;
	r = activator_enter(&sp->spec, container_pidfd(s->container), tty, &sh->helper);
out:
	for (int i = 0; i < 3; i++)
		safe_close(cmd_fds[i]);
	return r;
}

int shell_start(struct service *s, char *const *argv, const char *term, bool tty,
		shell_ready_fn ready, shell_done_fn done, void *userdata, struct shell **ret)
{
	_cleanup_(service_spec_done) struct service_spec sp = {.cgroup_fd = -1};
	struct shell *sh;
	int r;

	if (!s || !ready || !done || !ret)
		return -EINVAL;
	if (s->cfg->socket.accept)
		return log_errno(LOG_ERR, -EOPNOTSUPP,
				 "%s: shell: Accept=yes has no container to enter", s->cfg->name);
	if (s->state != SERVICE_RUNNING || !s->container || container_pidfd(s->container) < 0)
		return log_errno(LOG_ERR, -ESRCH, "%s: shell: no running container to enter",
				 s->cfg->name);
	if (term && !term_valid(term))
		return log_errno(LOG_ERR, -EINVAL, "%s: shell: TERM is not a terminal name",
				 s->cfg->name);
	if (shells_running >= SHELLS_MAX)
		return log_errno(LOG_ERR, -EUSERS, "%s: shell: %d shells run already", s->cfg->name,
				 SHELLS_MAX);

	r = service_spec_build_enter(s, &sp);
	if (r < 0)
		return r; /* logged */
	r = shell_env(&sp, term);
	if (r < 0)
		return log_errno(LOG_ERR, r, "%s: shell: environment", s->cfg->name);

	sh = calloc(1, sizeof(*sh));
	if (!sh)
		return log_errno(LOG_ERR, -ENOMEM, "%s: shell", s->cfg->name);
	shells_running++;
	*sh = (struct shell){
	    .base = s->manager->base,
	    .ready = ready,
	    .done = done,
	    .userdata = userdata,
	    .helper = {.pid = -1, .pidfd = -1, .sync_fd = -1},
	    .cmd_pidfd = -1,
	    .fds = {-1, -1, -1},
	    .helper_gone = true, /* until there is one */
	    .cmd_gone = true,
	};
	sh->name = strdup(s->cfg->name);
	if (!sh->name) {
		shell_free(sh);
		return log_errno(LOG_ERR, -ENOMEM, "%s: shell", s->cfg->name);
	}
	r = shell_spawn(sh, s, &sp, argv, tty);
	if (r < 0) {
		shell_free(sh);
		return log_errno(LOG_ERR, r, "%s: shell: cannot enter the container (pid %d)",
				 s->cfg->name, (int)container_pid(s->container));
	}
	sh->helper_gone = false;
	sh->cmd_gone = false;
	sh->sync_event = event_new(sh->base, sh->helper.sync_fd, EV_READ | EV_PERSIST, sync_cb, sh);
	sh->helper_event =
	    event_new(sh->base, sh->helper.pidfd, EV_READ | EV_PERSIST, helper_exit_cb, sh);
	if (!sh->sync_event || !sh->helper_event || event_add(sh->sync_event, NULL) < 0 ||
	    event_add(sh->helper_event, NULL) < 0) {
		shell_free(sh);
		return log_errno(LOG_ERR, -ENOMEM, "%s: shell", s->cfg->name);
	}
	log_debug("%s: shell: entering container pid %d (helper pid %d)", s->cfg->name,
		  (int)container_pid(s->container), (int)sh->helper.pid);
	*ret = sh;
	return 0;
}
