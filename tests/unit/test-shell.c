/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shell.c with the daemon's own objects: a manager loads one Accept=no
 * service, its container is started, then shell_start() enters it and
 * everything (ready, the output, done) arrives through the event loop.
 * Needs root. nsinetd-init is found next to this program (meson copies it
 * there), as the daemon finds it next to itself.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "supervisor/manager.h"
#include "supervisor/service.h"
#include "supervisor/shell.h"
#include "tap.h"

struct run {
	struct event_base *base;
	int fds[3];
	int readies, dones, status;
	const char *input; /* written to stdin, then closed */
	bool free_in_ready;
	struct shell *sh;
	char out[4096];
};

static void ready_cb(void *userdata, int fds[3])
{
	struct run *r = userdata;

	r->readies++;
	memcpy(r->fds, fds, sizeof(r->fds));
	if (r->input && r->fds[0] >= 0 && r->fds[1] >= 0) {
		(void)!write(r->fds[0], r->input, strlen(r->input));
		close(r->fds[0]);
		r->fds[0] = -1;
	}
	if (r->free_in_ready) {
		r->sh = shell_free(r->sh);
		event_base_loopbreak(r->base);
	}
}

static void done_cb(void *userdata, int status)
{
	struct run *r = userdata;

	r->dones++;
	r->status = status;
	event_base_loopbreak(r->base);
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

/* Runs the loop until a callback breaks it, or 10 s. */
static void loop(struct event_base *base)
{
	struct timeval tv = {10, 0};
	struct event *t = evtimer_new(base, timeout_cb, base);

	evtimer_add(t, &tv);
	event_base_dispatch(base);
	event_free(t);
}

static void drain(int fd, char *buf, size_t size)
{
	size_t n = 0;
	ssize_t k;

	while (fd >= 0 && n + 1 < size && (k = read(fd, buf + n, size - 1 - n)) > 0)
		n += (size_t)k;
	buf[n] = '\0';
}

static void run_shell(struct service *s, struct run *r, char *const *argv, const char *term,
		      bool tty, int *ret)
{
	r->fds[0] = r->fds[1] = r->fds[2] = -1;
	r->readies = r->dones = 0;
	r->status = -1;
	*ret = shell_start(s, argv, term, tty, ready_cb, done_cb, r, &r->sh);
	if (*ret < 0)
		return;
	loop(r->base);
	if (r->dones == 0 && r->sh)
		loop(r->base);
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/nsinetd-test-shell-XXXXXX";
	char conf[128], runtime[128], err[256];
	char *cmd_argv[] = {"/bin/sh", "-c", "echo out=$TERM:$(id -u); echo err >&2; cat; exit 5",
			    NULL};
	char *tty_argv[] = {"/bin/sh", "-c", "echo tty=$(tty)", NULL};
	char *sleep_argv[] = {"/bin/sleep", "30", NULL};
	struct manager *m = NULL;
	struct service *s;
	struct run r = {0};
	FILE *f;
	int ret;

	if (geteuid() != 0)
		skip_all("needs root (real containers)");
	log_set_level(getenv("TEST_VERBOSE") ? LOG_DEBUG : LOG_CRIT);
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir))
		bail_out("mkdtemp: %s", strerror(errno));
	snprintf(conf, sizeof(conf), "%s/conf", dir);
	snprintf(runtime, sizeof(runtime), "%s/run", dir);
	mkdir(conf, 0755);
	snprintf(err, sizeof(err), "%s/box.conf", conf);
	f = fopen(err, "we");
	if (!f)
		bail_out("cannot write %s", err);
	fprintf(f, "[Socket]\nListenStream=%s/sock\n[Container]\nExec=/bin/sh -c 'exec sleep 60'\n",
		dir);
	fclose(f);

	r.base = event_base_new();
	if (!r.base || event_base_priority_init(r.base, EVENT_PRIORITIES) < 0)
		bail_out("event_base_new");
	ret = manager_new(r.base, conf, runtime, &m);
	if (ret < 0)
		bail_out("manager_new: %s", strerror(-ret));
	ret = manager_load(m);
	if (ret < 0 || m->n_services != 1)
		bail_out("manager_load: %s (%zu services)", strerror(-ret), m->n_services);
	s = m->services[0];

	ret = shell_start(s, cmd_argv, NULL, false, ready_cb, done_cb, &r, &r.sh);
	is_int(ret, -ESRCH, "no running container: -ESRCH");

	is_int(service_start(s), 0, "the container starts");
	for (int i = 0; i < 100 && s->state != SERVICE_RUNNING; i++) {
		struct timeval tv = {0, 20000};

		event_base_loopexit(r.base, &tv);
		event_base_dispatch(r.base);
	}
	ok(s->state == SERVICE_RUNNING, "the container runs");

	/* Pipes: stdin, stdout, stderr; the wait status. */
	r.input = "from-stdin\n";
	run_shell(s, &r, cmd_argv, "xterm-256color", false, &ret);
	is_int(ret, 0, "shell_start");
	is_int(r.readies, 1, "ready once");
	is_int(r.dones, 1, "done once");
	ok(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 5, "its wait status (0x%x)", r.status);
	drain(r.fds[1], r.out, sizeof(r.out));
	is_str(r.out, "out=xterm-256color:0\nfrom-stdin\n", "stdout: TERM, the user, stdin");
	drain(r.fds[2], r.out, sizeof(r.out));
	is_str(r.out, "err\n", "stderr of its own");
	for (int i = 1; i < 3; i++)
		close(r.fds[i]);
	r.sh = shell_free(r.sh);
	r.input = NULL;

	/* A terminal. */
	run_shell(s, &r, tty_argv, "vt100", true, &ret);
	is_int(ret, 0, "tty: shell_start");
	ok(r.fds[0] >= 0 && isatty(r.fds[0]) && r.fds[1] == -1 && r.fds[2] == -1,
	   "tty: the master only");
	drain(r.fds[0], r.out, sizeof(r.out));
	ok(strncmp(r.out, "tty=/dev/pts/", 13) == 0, "tty: a terminal of the container's devpts");
	ok(r.dones == 1 && WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "tty: exits 0");
	if (r.fds[0] >= 0)
		close(r.fds[0]);
	r.sh = shell_free(r.sh);

	/* A command that is not there: done says why. */
	{
		char *missing[] = {"/nonexistent/cmd", NULL};

		run_shell(s, &r, missing, NULL, false, &ret);
		is_int(r.status, -ENOENT, "a missing command: done(-ENOENT)");
		for (int i = 0; i < 3; i++)
			if (r.fds[i] >= 0)
				close(r.fds[i]);
		r.sh = shell_free(r.sh);
	}

	/* Freed while it runs: killed, and reaped from the loop later. */
	r.free_in_ready = true;
	run_shell(s, &r, sleep_argv, NULL, false, &ret);
	ok(r.readies == 1 && r.dones == 0 && !r.sh, "freed from ready: done is not called");
	for (int i = 0; i < 3; i++)
		if (r.fds[i] >= 0)
			close(r.fds[i]);
	{
		struct timeval tv = {0, 200000};

		event_base_loopexit(r.base, &tv);
		event_base_dispatch(r.base);
	}
	ok(waitpid(-1, NULL, WNOHANG) <= 0, "no zombie of ours is left");

	is_int(shell_start(s, cmd_argv, "bad term", false, ready_cb, done_cb, &r, &r.sh), -EINVAL,
	       "a TERM with a space: -EINVAL");

	service_stop(s, "test over");
	for (int i = 0; i < 100 && service_is_active(s); i++) {
		struct timeval tv = {0, 20000};

		event_base_loopexit(r.base, &tv);
		event_base_dispatch(r.base);
	}
	manager_free(m);
	event_base_free(r.base);
	unlink(err);
	rmdir(conf);
	snprintf(err, sizeof(err), "%s/sock", dir);
	unlink(err);
	rmdir(dir);
	return tap_done();
}
