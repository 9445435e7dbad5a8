/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The service state machine with a fake container: struct container_ops
 * replaced by pipes the test writes to (an exit, a setup's outcome, a
 * change of cgroup.events), so that no root, no namespace and no cgroup is
 * needed. Everything is driven through the loop, as in the daemon.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "activator/cgroup.h"
#include "supervisor/config.h"
#include "supervisor/container.h"
#include "supervisor/manager.h"
#include "supervisor/service.h"
#include "tap.h"

#define MAX_CHILDREN 32

/* One fake container: its "pidfd" and "sync fd" are pipes' read ends. */
struct fake_child {
	int pid_r, pid_w;   /* a byte: pid 1 has exited */
	int sync_r, sync_w; /* EOF: exec done; a byte: the setup failed */
};

static struct {
	struct fake_child child[MAX_CHILDREN];
	int n;
	int spawn_error; /* the next spawn fails with it */
	int exit_status;
	int frozen;         /* what cgroup.events says */
	int freeze_written; /* the last value written to cgroup.freeze */
	int watch_w;        /* the cgroup.events watch: a byte = a change */
	int last_signal;
	unsigned n_signals;
	unsigned n_kills;
	unsigned rmdir_busy; /* that many rmdirs fail with EBUSY */
	unsigned n_rmdir;
	int populated; /* what cgroup.events says */
} F = {.watch_w = -1, .freeze_written = -1};

static struct fake_child *child_of(int fd)
{
	for (int i = 0; i < F.n; i++)
		if (F.child[i].pid_r == fd || F.child[i].sync_r == fd)
			return &F.child[i];
	return NULL;
}

static int fake_cgroup_create(const struct cgroup_root *r, const char *rel, int *ret_fd,
			      char **ret_path)
{
	*ret_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (*ret_fd < 0 || asprintf(ret_path, "/nonexistent/fake-cgroup/%s", rel) < 0)
		return -ENOMEM;
	return 0;
}

static int fake_spawn(const struct activator_spec *spec, struct activator_child *ret)
{
	struct fake_child *c = &F.child[F.n];
	int p[2], q[2];

	if (F.spawn_error) {
		int r = F.spawn_error;
		F.spawn_error = 0;
		return r;
	}
	if (F.n >= MAX_CHILDREN || pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0 ||
	    pipe2(q, O_CLOEXEC | O_NONBLOCK) < 0)
		return -EMFILE;
	/* The container module owns (and closes) the read ends. */
	*c = (struct fake_child){.pid_r = p[0], .pid_w = p[1], .sync_r = q[0], .sync_w = q[1]};
	ret->pid = 1000 + F.n++;
	ret->pidfd = p[0];
	ret->sync_fd = q[0];
	return 0;
}

static int fake_read_result(int fd, struct activator_failure *f)
{
	char b;
	ssize_t n = read(fd, &b, 1);

	if (n == 0)
		return 0;
	if (n < 0)
		return -EAGAIN;
	f->step = STEP_EXEC;
	snprintf(f->what, sizeof(f->what), "/fake");
	return -ENOENT;
}

static int fake_signal(int pidfd, int sig)
{
	F.last_signal = sig;
	F.n_signals++;
	return child_of(pidfd) ? 0 : -ESRCH;
}

static int fake_reap(int pidfd, int *ret_status)
{
	char b;

	if (read(pidfd, &b, 1) != 1)
		return -EAGAIN;
	*ret_status = F.exit_status;
	return 0;
}

static int fake_freeze(const char *path, bool freeze)
{
	F.freeze_written = freeze;
	return 0;
}

static int fake_frozen(const char *path)
{
	return F.frozen;
}

static int fake_watch(const char *path, int *ret_fd)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	F.watch_w = p[1];
	*ret_fd = p[0];
	return 0;
}

static int fake_kill(const char *path)
{
	F.n_kills++;
	return 0;
}

static int fake_remove(const char *path)
{
	F.n_rmdir++;
	if (F.rmdir_busy > 0) {
		F.rmdir_busy--;
		return -EBUSY;
	}
	return 0;
}

static int fake_populated(const char *path)
{
	return F.populated;
}

static const struct container_ops fake_ops = {
    .cgroup_create = fake_cgroup_create,
    .spawn = fake_spawn,
    .read_result = fake_read_result,
    .signal = fake_signal,
    .reap = fake_reap,
    .cgroup_freeze = fake_freeze,
    .cgroup_frozen = fake_frozen,
    .cgroup_events_watch = fake_watch,
    .cgroup_kill = fake_kill,
    .cgroup_remove = fake_remove,
    .cgroup_populated = fake_populated,
};

/* --- driving it --------------------------------------------------------- */

static struct event_base *base;
static struct manager M;

/* Runs what is ready (and timers due), without waiting. */
static void run(void)
{
	for (int i = 0; i < 8; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
}

/* Runs the loop until s is in st (timers of a few ms: no timing asserted). */
static bool run_until(struct service *s, enum service_state st)
{
	for (int i = 0; i < 200 && s->state != st; i++)
		event_base_loop(base, EVLOOP_ONCE);
	return s->state == st;
}

static void exec_done(void)
{
	struct fake_child *c = &F.child[F.n - 1];

	c->sync_w = (close(c->sync_w), -1);
	run();
}

static void setup_fails(void)
{
	struct fake_child *c = &F.child[F.n - 1];

	(void)!write(c->sync_w, "F", 1);
	c->sync_w = (close(c->sync_w), -1);
	run();
}

static void exits(int status)
{
	struct fake_child *c = &F.child[F.n - 1];

	F.exit_status = status;
	(void)!write(c->pid_w, "x", 1);
	run();
	close(c->pid_w);
	if (c->sync_w >= 0)
		close(c->sync_w);
	c->pid_w = c->sync_w = -1;
}

static void events_change(int frozen)
{
	F.frozen = frozen;
	(void)!write(F.watch_w, "e", 1);
	run();
}

static bool history_has(const struct service *s, enum service_state st, unsigned since)
{
	for (unsigned i = since; i < s->stats.n_transitions; i++)
		if (s->stats.history[i % SERVICE_HISTORY].state == st)
			return true;
	return false;
}

#define MAX_PEERS 32
static int peers[MAX_PEERS], n_peers;

static struct service *service(const char *extra, struct service *predecessor)
{
	struct config_errors errs = {0};
	struct service_config *cfg = NULL;
	struct service *s;
	char text[1024];
	int sv[2], r;

	snprintf(text, sizeof(text),
		 "[Socket]\nListenStream=127.0.0.1:1\n%s\n"
		 "[Service]\nStartLimitBurst=2\nStartLimitIntervalSec=1h\n"
		 "[Container]\nExec=/bin/true\nPrivateUsers=no\n",
		 extra ? extra : "");
	r = config_parse_string(text, "t.conf", "web", &errs, &cfg);
	if (r < 0) {
		for (size_t i = 0; i < errs.n; i++)
			printf("# %s\n", errs.messages[i]);
		bail_out("config: %s", strerror(-r));
	}
	config_errors_clear(&errs);
	/* A "listener" that stays quiet: its peer is kept open, unused. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 || n_peers >= MAX_PEERS)
		bail_out("socketpair");
	peers[n_peers++] = sv[1];
	s = service_new(&M, cfg, &sv[0], predecessor);
	if (!s)
		bail_out("service_new");
	M.services = realloc(M.services, (M.n_services + 1) * sizeof(*M.services));
	M.services[M.n_services++] = s;
	return s;
}

/* Removes s and lets the manager free it from the loop. */
static void drop(struct service *s)
{
	service_remove(s);
	if (s->state == SERVICE_STOPPING)
		exits(0);
	run();
}

/* --- the tests ---------------------------------------------------------- */

static void test_table(void)
{
	int named = 0;

	for (int st = 0; st < _SERVICE_STATE_MAX; st++)
		named += strcmp(service_state_to_string(st), "unknown") != 0;
	is_int(named, _SERVICE_STATE_MAX, "every state has a name");
	is_str(service_state_to_string(SERVICE_STOPPED), "stopped", "stopped");
	is_str(service_state_to_string(SERVICE_SUSPENDED), "suspended", "suspended");
	is_str(service_state_to_string(SERVICE_THAWING), "thawing", "thawing");
	ok(service_transition_valid(SERVICE_STOPPED, SERVICE_STARTING), "stopped -> starting");
	ok(!service_transition_valid(SERVICE_STOPPED, SERVICE_FROZEN), "not stopped -> frozen");
	ok(!service_transition_valid(SERVICE_STOPPING, SERVICE_RUNNING), "not stopping -> running");
	ok(!service_transition_valid(SERVICE_WAITING, SERVICE_STARTING), "not waiting -> starting");
	ok(!service_transition_valid(SERVICE_FAILED, SERVICE_RUNNING), "not failed -> running");
}

static void test_full_cycle(void)
{
	struct service *s = service(NULL, NULL);
	unsigned n;
	usec_t t0;

	is_str(service_state_to_string(s->state), "stopped", "a new service is stopped");
	is_int(service_freeze(s, "test"), -EINVAL, "freezing a stopped service: -EINVAL");
	is_int(service_thaw(s, "test"), -EINVAL, "thawing a stopped service: -EINVAL");
	is_int(service_stop(s, "test"), -EALREADY, "stopping a stopped service: -EALREADY");

	is_int(service_start(s), 0, "start");
	is_str(service_state_to_string(s->state), "starting", "starting until the exec");
	is_int(service_start(s), -EBUSY, "a second start: -EBUSY");
	is_int(service_freeze(s, "test"), -EINVAL, "freezing while starting: -EINVAL");
	exec_done();
	is_str(service_state_to_string(s->state), "running", "running after the exec");
	is_int((long long)s->stats.starts, 1, "stats: one start");

	is_int(service_freeze(s, "operator"), 0, "freeze");
	is_str(service_state_to_string(s->state), "freezing", "freezing until cgroup.events");
	is_int(F.freeze_written, 1, "cgroup.freeze written 1");
	run();
	is_str(service_state_to_string(s->state), "freezing", "still freezing: not frozen yet");
	events_change(1);
	is_str(service_state_to_string(s->state), "frozen", "frozen on \"frozen 1\"");
	is_int(service_freeze(s, "operator"), -EALREADY, "freezing a frozen service: -EALREADY");

	/* An operator's freeze holds: the idle tick does not thaw it. */
	s->idle.pending = 100;
	service_idle_tick(s, false, now_usec());
	run();
	is_str(service_state_to_string(s->state), "frozen", "data on a connection: still frozen");
	s->idle.pending = 0;

	t0 = now_usec();
	is_int(service_thaw(s, "operator"), 0, "thaw");
	is_str(service_state_to_string(s->state), "thawing", "thawing until cgroup.events");
	is_int(F.freeze_written, 0, "cgroup.freeze written 0");
	events_change(0);
	is_str(service_state_to_string(s->state), "running", "running on \"frozen 0\"");
	ok(s->idle_since >= t0, "a thaw restarts the idle clock");
	is_int(service_thaw(s, "operator"), -EINVAL, "thawing a running service: -EINVAL");

	n = F.n_signals;
	is_int(service_stop(s, "test"), 0, "stop");
	is_str(service_state_to_string(s->state), "stopping", "stopping until the exit");
	is_int(F.n_signals, n + 1, "one signal sent");
	is_int(F.last_signal, SIGTERM, "KillSignal= (SIGTERM)");
	is_int(service_stop(s, "test"), 0, "a second stop: 0, under way");
	exits(0);
	is_str(service_state_to_string(s->state), "stopped", "stopped after the exit");
	ok(s->stats.have_exit && s->stats.last_exit_status == 0, "stats: the exit recorded");
	ok(!service_is_active(s), "no container");
	drop(s);
}

static void test_failed_start(void)
{
	struct service *s = service(NULL, NULL);
	unsigned n = s->stats.n_transitions;

	is_int(service_start(s), 0, "start");
	setup_fails();
	is_str(service_state_to_string(s->state), "starting", "a failed setup: until the exit");
	exits(1 << 8);
	ok(history_has(s, SERVICE_FAILED, n), "went through failed");
	is_str(service_state_to_string(s->state), "stopped", "one failure: stopped again");
	is_int((long long)s->stats.start_failures, 1, "stats: one failure");

	/* A spawn that fails outright counts too: the second of the burst. */
	n = s->stats.n_transitions;
	F.spawn_error = -ENOMEM;
	is_int(service_start(s), 0, "a failed start is 0 (the transitions tell)");
	ok(history_has(s, SERVICE_STARTING, n) && history_has(s, SERVICE_FAILED, n),
	   "starting, then failed");
	is_str(service_state_to_string(s->state), "suspended",
	       "StartLimitBurst=2 reached: suspended");
	ok(s->stats.backoff_until > now_usec(), "stats: the suspension's end");
	is_int((long long)s->stats.start_failures, 2, "stats: two failures");
	is_int(service_start(s), -EAGAIN, "start while suspended: -EAGAIN");
	is_int(service_restart(s), -EAGAIN, "restart while suspended: -EAGAIN");
	drop(s);
}

static void test_undefined_transition(void)
{
	struct service *s = service(NULL, NULL);
	unsigned n = s->stats.n_transitions;

	is_int(service_set_state(s, SERVICE_FROZEN, "test"), -EINVAL,
	       "stopped -> frozen is refused");
	is_str(service_state_to_string(s->state), "stopped", "still stopped");
	is_int(s->stats.n_transitions, n, "nothing recorded");
	is_int(service_set_state(s, SERVICE_RUNNING, "test"), -EINVAL,
	       "stopped -> running is refused");
	is_int(service_set_state(s, SERVICE_STOPPED, "test"), 0, "the same state: a no-op");
	is_int(s->stats.n_transitions, n, "nothing recorded");
	drop(s);
}

static void test_stop_while_starting(void)
{
	struct service *s = service(NULL, NULL);

	is_int(service_start(s), 0, "start");
	is_int(service_stop(s, "test"), 0, "stop while starting");
	is_str(service_state_to_string(s->state), "stopping", "stopping");
	exec_done();
	is_str(service_state_to_string(s->state), "stopping", "the exec does not make it running");
	exits(15);
	is_str(service_state_to_string(s->state), "stopped", "stopped");
	is_int((long long)s->stats.start_failures, 0, "a stop is no failure");
	drop(s);
}

static void test_restart(void)
{
	struct service *s = service(NULL, NULL);
	int before;

	is_int(service_restart(s), 0, "restart a stopped service: a start");
	exec_done();
	is_str(service_state_to_string(s->state), "running", "running");
	before = F.n;
	is_int(service_restart(s), 0, "restart a running one");
	is_str(service_state_to_string(s->state), "stopping", "stopping first");
	exits(0);
	is_int(F.n, before + 1, "then a new container");
	is_str(service_state_to_string(s->state), "starting", "starting again");
	exec_done();
	is_str(service_state_to_string(s->state), "running", "running again");
	drop(s);
}

static void test_cgroup_busy(void)
{
	struct service *s = service(NULL, NULL);
	unsigned rm = F.n_rmdir;

	is_int(service_start(s), 0, "start");
	exec_done();
	F.rmdir_busy = 3;
	is_int(service_stop(s, "test"), 0, "stop");
	exits(0);
	is_str(service_state_to_string(s->state), "stopping",
	       "reaped, cgroup busy: not stopped yet");
	ok(F.n_kills > 0, "cgroup.kill of what is left");
	ok(run_until(s, SERVICE_STOPPED), "stopped once the rmdir worked (retried on a timer)");
	is_int(F.n_rmdir - rm, 4, "three busy rmdirs and the good one");
	drop(s);
}

static bool kept_seen, kept_exited;

static void kept_exec_cb(struct container *c, int r, const struct activator_failure *f,
			 void *userdata)
{
}

static void kept_exit_cb(struct container *c, int r, int status, void *userdata)
{
	kept_exited = true;
	kept_seen = container_cgroup_kept(c);
}

static void kept_freeze_cb(struct container *c, bool frozen, int r, void *userdata)
{
}

static const struct container_callbacks kept_cb = {
    .exec = kept_exec_cb, .exit = kept_exit_cb, .freeze = kept_freeze_cb};

/* One container with container_keep_cgroup(): populated is cgroup.events
 * at its end, freeze whether it was frozen once. Whether it kept it. */
static bool kept_run(bool keep, int populated, bool freeze)
{
	struct activator_spec spec = {0};
	struct container *c = NULL;
	char *path = NULL;
	int fd;

	if (container_new(base, &fake_ops, "kept", &kept_cb, NULL, &c) < 0 ||
	    fake_cgroup_create(NULL, "c1", &fd, &path) < 0)
		bail_out("container_new");
	spec.cgroup_fd = fd;
	container_keep_cgroup(c, keep);
	if (container_spawn(c, &spec, &path) < 0)
		bail_out("container_spawn");
	close(fd);
	exec_done();
	if (freeze) {
		(void)container_freeze(c, true);
		events_change(1);
		(void)container_freeze(c, false);
		events_change(0);
	}
	F.populated = populated;
	F.rmdir_busy = 0;
	kept_exited = kept_seen = false;
	exits(0);
	for (int i = 0; i < 200 && !kept_exited; i++)
		event_base_loop(base, EVLOOP_ONCE);
	if (!kept_exited)
		bail_out("no exit");
	container_free(c);
	F.populated = 0;
	return kept_seen;
}

static void test_cgroup_kept(void)
{
	unsigned rm = F.n_rmdir;

	ok(kept_run(true, 0, false), "an empty cgroup is kept when asked");
	is_int(F.n_rmdir - rm, 0, "and not removed");
	rm = F.n_rmdir;
	ok(!kept_run(false, 0, false), "not kept unless asked");
	is_int(F.n_rmdir - rm, 1, "removed");
	rm = F.n_rmdir;
	ok(!kept_run(true, 1, false), "not kept while a process is in it");
	is_int(F.n_rmdir - rm, 1, "removed (as ever, retried while busy)");
	rm = F.n_rmdir;
	ok(!kept_run(true, 0, true), "not kept once frozen, even if thawed since");
	is_int(F.n_rmdir - rm, 1, "removed");
}

static bool seen_dead;
static size_t seen_n;

static void sentinel_cb(evutil_socket_t fd, short what, void *arg)
{
	const struct service *s = arg;

	seen_dead = s->dead;
	seen_n = M.n_services;
	event_base_loopbreak(base);
}

static void test_successor_waits(void)
{
	struct event *sentinel;
	struct service *a = service(NULL, NULL);
	struct service *b;
	size_t n;

	is_int(service_start(a), 0, "predecessor started");
	exec_done();
	a->removing = true;
	b = service(NULL, a);
	is_str(service_state_to_string(b->state), "waiting", "the successor waits");
	is_int(service_start(b), -EAGAIN, "start while waiting: -EAGAIN");
	service_remove(a);
	is_str(service_state_to_string(a->state), "stopping", "the predecessor stops");
	n = M.n_services;
	/* A sentinel queued at the lowest priority before the exit runs
	 * after the exit's callbacks and before the manager's free (queued
	 * behind it), and stops the loop there. */
	sentinel = event_new(base, -1, 0, sentinel_cb, a);
	event_priority_set(sentinel, EVENT_PRIORITY_LOW);
	event_active(sentinel, 0, 0);
	F.exit_status = 0;
	(void)!write(F.child[F.n - 1].pid_w, "x", 1);
	event_base_loop(base, 0);
	event_free(sentinel);
	ok(seen_dead, "the predecessor is dead after its exit");
	is_int(seen_n, n, "but not freed inside its own callback");
	run();
	is_int(M.n_services, n - 1, "freed by the manager");
	is_str(service_state_to_string(b->state), "stopped", "the successor is stopped (polling)");
	drop(b);
	is_int(M.n_services, n - 2, "removing a stopped service frees it too");
}

static void test_accept_yes(void)
{
	struct service *s = service("Accept=yes", NULL);

	is_str(service_state_to_string(s->state), "stopped", "Accept=yes: stopped (polling)");
	is_int(service_start(s), -EOPNOTSUPP, "Accept=yes: start is -EOPNOTSUPP");
	is_int(service_restart(s), -EOPNOTSUPP, "Accept=yes: restart is -EOPNOTSUPP");
	is_int(service_freeze(s, "x"), -EOPNOTSUPP, "Accept=yes: freeze is -EOPNOTSUPP");
	is_int(service_thaw(s, "x"), -EOPNOTSUPP, "Accept=yes: thaw is -EOPNOTSUPP");
	is_int(service_stop(s, "x"), -EALREADY, "Accept=yes: nothing to stop");
	drop(s);
}

int main(void)
{
	base = event_base_new();
	if (!base || event_base_priority_init(base, EVENT_PRIORITIES) < 0 ||
	    manager_loop_init(&M, base) < 0)
		bail_out("event base");
	M.container_ops = &fake_ops;
	M.have_cgroup = true;
	M.cgroup_base = "t";
	M.cgroup_base_path = "/nonexistent/fake-cgroup/t";
	M.staging_dir = "/nonexistent/staging";
	M.init_fd = -1;
	M.slot_fd = -1;

	test_table();
	test_full_cycle();
	test_failed_start();
	test_undefined_transition();
	test_stop_while_starting();
	test_restart();
	test_cgroup_busy();
	test_cgroup_kept();
	test_successor_waits();
	test_accept_yes();

	is_int(M.n_services, 0, "every service freed");
	for (int i = 0; i < n_peers; i++)
		close(peers[i]);
	free(M.services);
	event_free(M.free_event);
	event_free(M.stale_timer);
	event_base_free(base);
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}
