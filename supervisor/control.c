/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control socket (control.h): one sd-bus connection per client, in
 * server mode, each driven by a libevent event on its fd and a timer for
 * sd-bus's own timeouts. docs/nsinetctl.1.md documents the interface,
 * docs/architecture.md how it fits the loop.
 */
#include "supervisor/control.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-id128.h>
#include <time.h>
#include <unistd.h>

#include "activator/cgroup.h"
#include "common/cleanup.h"
#include "common/fd-util.h"
#include "common/log.h"
#include "common/strv.h"
#include "supervisor/accept.h"
#include "supervisor/config.h"
#include "supervisor/container.h"
#include "supervisor/health.h"
#include "supervisor/image.h"
#include "supervisor/manager.h"
#include "supervisor/output.h"
#include "supervisor/reexec.h"
#include "supervisor/service.h"
#include "supervisor/shell.h"

#define ERROR_NO_SUCH_SERVICE "org.nsinetd1.Error.NoSuchService"
#define ERROR_WRONG_STATE     "org.nsinetd1.Error.WrongState"
#define ERROR_FAILED          "org.nsinetd1.Error.Failed"
#define ERROR_EXEC            "org.nsinetd1.Error.ExecFailed"
#define ERROR_ACCESS_DENIED   "org.freedesktop.DBus.Error.AccessDenied"
#define ERROR_NOT_SUPPORTED   "org.freedesktop.DBus.Error.NotSupported"
#define ERROR_INVALID_ARGS    "org.freedesktop.DBus.Error.InvalidArgs"

/* What one call may ask for or get back. */
#define CONTROL_NAME_MAX  256 /* a service name */
#define CONTROL_LINES_MAX 1000
#define CONTROL_PROCS_MAX 256 /* processes listed by GetStatus */
#define CONTROL_CMDLINE   256 /* bytes of a process's command line */
#define CONTROL_BATCH     64  /* messages handled per wake-up of one client */
#define CONTROL_LOG_USEC  (10 * USEC_PER_SEC)

enum op {
	OP_START,
	OP_STOP,
	OP_RESTART,
	OP_FREEZE,
	OP_THAW,
	OP_SHELL, /* waits for a running container, then enters it */
};

static const char *const op_names[] = {
    [OP_START] = "start",   [OP_STOP] = "stop", [OP_RESTART] = "restart",
    [OP_FREEZE] = "freeze", [OP_THAW] = "thaw", [OP_SHELL] = "enter",
};

struct client;

/* A command a client runs in a container (OpenShell, WaitShell). */
struct cshell {
	TAILQ_ENTRY(cshell) link;
	struct control *c;
	struct client *cl;
	unsigned id;
	struct service *s;
	char **argv;
	char *term;
	bool tty;
	struct shell *sh;
	sd_bus_message *open_call; /* answered by ready (or an error) */
	sd_bus_message *wait_call; /* answered by done */
	bool exited;
	int status;     /* a wait status */
	int exec_error; /* the command could not be executed: errno */
};
TAILQ_HEAD(cshell_list, cshell);

/* A call answered when its service has made the transition. */
struct pending {
	TAILQ_ENTRY(pending) link;
	struct client *cl;
	sd_bus_message *call;
	struct service *s;
	enum op op;
	bool stopped;       /* OP_RESTART: the stop is done, the start requested */
	struct cshell *csh; /* OP_SHELL */
};
TAILQ_HEAD(pending_list, pending);

struct client {
	TAILQ_ENTRY(client) link;
	struct control *c;
	sd_bus *bus;
	int fd;
	struct event *io;
	struct event *timer;
	uid_t uid;
	pid_t pid;
	bool writer;     /* root: may change things */
	bool subscribed; /* gets StateChanged */
	char *follow;    /* gets Output for this service */
	bool dead;
	unsigned id;
	usec_t connected_at;
};
TAILQ_HEAD(client_list, client);

struct control {
	struct manager *m;
	char *path;
	int fd;
	struct event *listen_event;
	bool have_group;
	gid_t group;
	struct client_list clients;
	unsigned n_clients;
	unsigned next_id;
	struct pending_list pending;
	bool in_pending, pending_again;
	struct event *act_event; /* a round of pending_run() that may act */
	struct cshell_list shells;
	unsigned next_shell;
	struct event *reap; /* frees dead clients from the loop */
	usec_t refused_logged_at;
	unsigned long refused;
};

static void client_arm(struct client *cl);

static usec_t realtime_of(usec_t mono)
{
	struct timespec ts;
	usec_t now;

	if (mono == 0)
		return 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000;
	return now - (now_usec() - mono);
}

/* --- services --------------------------------------------------------- */

/* The service a client means by name: the current one, not one a reload
 * has replaced and that is still stopping. */
static struct service *find_service(struct control *c, const char *name)
{
	for (size_t i = 0; i < c->m->n_services; i++) {
		struct service *s = c->m->services[i];

		if (!(s->removing || s->dead) && strcmp(s->cfg->name, name) == 0)
			return s;
	}
	return NULL;
}

static int get_service(struct client *cl, sd_bus_message *msg, struct service **ret,
		       sd_bus_error *e)
{
	const char *name;
	int r;

	r = sd_bus_message_read(msg, "s", &name);
	if (r < 0)
		return r;
	if (strlen(name) > CONTROL_NAME_MAX)
		return sd_bus_error_setf(e, ERROR_INVALID_ARGS, "service name longer than %d bytes",
					 CONTROL_NAME_MAX);
	*ret = find_service(cl->c, name);
	if (!*ret)
		return sd_bus_error_setf(e, ERROR_NO_SUCH_SERVICE, "%s: no such service", name);
	return 0;
}

static int need_writer(struct client *cl, const char *what, sd_bus_error *e)
{
	if (cl->writer)
		return 0;
	return sd_bus_error_setf(e, ERROR_ACCESS_DENIED,
				 "%s: only root may do this (uid %u may only read)", what,
				 (unsigned)cl->uid);
}

/* --- a{sv} helpers ---------------------------------------------------- */

static int dict_open(sd_bus_message *r, const char *key, const char *sig)
{
	int k;

	if ((k = sd_bus_message_open_container(r, 'e', "sv")) < 0 ||
	    (k = sd_bus_message_append(r, "s", key)) < 0)
		return k;
	return sd_bus_message_open_container(r, 'v', sig);
}

static int dict_close(sd_bus_message *r)
{
	int k = sd_bus_message_close_container(r);

	return k < 0 ? k : sd_bus_message_close_container(r);
}

#define DICT(r, key, sig, ...) sd_bus_message_append(r, "{sv}", key, sig, __VA_ARGS__)

static int dict_strv(sd_bus_message *r, const char *key, char **v)
{
	int k;

	if ((k = dict_open(r, key, "as")) < 0 || (k = sd_bus_message_append_strv(r, v)) < 0)
		return k;
	return dict_close(r);
}

static int append_listen(sd_bus_message *r, const struct service *s)
{
	char **v = calloc(s->cfg->socket.n_listen + 1, sizeof(char *));
	int k;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < s->cfg->socket.n_listen; i++)
		v[i] = s->cfg->socket.listen[i].text;
	k = dict_strv(r, "Listen", v);
	free(v);
	return k;
}

static pid_t main_pid(const struct service *s)
{
	pid_t pid = s->container ? container_pid(s->container) : -1;

	return pid > 0 ? pid : 0;
}

static usec_t idle_since(const struct service *s)
{
	return service_is_active(s) && !s->cfg->socket.accept ? realtime_of(s->idle_since) : 0;
}

/* Drained, and what a balancer's check is told (health.h). */
static int append_health(sd_bus_message *r, const struct service *s)
{
	int k = DICT(r, "Drained", "b", (int)s->drained);

	return k < 0 ? k : DICT(r, "Health", "s", health_to_string(health_of(s, NULL)));
}

/* One row of ListServices(): what `nsinetctl list` shows. */
static int append_row(sd_bus_message *r, const struct service *s)
{
	int k;

	if ((k = sd_bus_message_open_container(r, 'a', "{sv}")) < 0 ||
	    (k = DICT(r, "Name", "s", s->cfg->name)) < 0 || (k = append_listen(r, s)) < 0 ||
	    (k = DICT(r, "Accept", "b", (int)s->cfg->socket.accept)) < 0 ||
	    (k = DICT(r, "State", "s", service_state_to_string(s->state))) < 0 ||
	    (k = append_health(r, s)) < 0 ||
	    (k = DICT(r, "StateSince", "t", (uint64_t)realtime_of(s->stats.state_since))) < 0 ||
	    (k = DICT(r, "MainPID", "u", (uint32_t)main_pid(s))) < 0 ||
	    (k = DICT(r, "Connections", "u", (uint32_t)s->idle.connections)) < 0 ||
	    (k = DICT(r, "Sandboxes", "u",
		      (uint32_t)(s->accept ? accept_n_serving(s->accept) : 0))) < 0 ||
	    (k = DICT(r, "Accepted", "t", (uint64_t)s->stats.accepted)) < 0 ||
	    (k = DICT(r, "Refused", "t", (uint64_t)s->stats.refused)) < 0 ||
	    (k = DICT(r, "ColdStarts", "t", (uint64_t)s->stats.starts)) < 0 ||
	    (k = DICT(r, "LastColdStartUSec", "t", (uint64_t)s->stats.last_start)) < 0 ||
	    (k = DICT(r, "IdleSince", "t", (uint64_t)idle_since(s))) < 0)
		return k;
	return sd_bus_message_close_container(r);
}

static int method_list(sd_bus_message *msg, void *userdata, sd_bus_error *e)
{
	struct client *cl = userdata;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *r = NULL;
	int k;

	if ((k = sd_bus_message_new_method_return(msg, &r)) < 0 ||
	    (k = sd_bus_message_open_container(r, 'a', "a{sv}")) < 0)
		return k;
	for (size_t i = 0; i < cl->c->m->n_services; i++) {
		const struct service *s = cl->c->m->services[i];

		if (!(s->removing || s->dead) && (k = append_row(r, s)) < 0)
			return k;
	}
	if ((k = sd_bus_message_close_container(r)) < 0)
		return k;
	return sd_bus_send(NULL, r, NULL);
}

/* --- GetStatus -------------------------------------------------------- */

static int read_small(int dir_fd, const char *file, char *buf, size_t len)
{
	_cleanup_close_ int fd = openat(dir_fd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return (int)n;
}

/* One process of the container, from /proc: its parent and command line.
 * The command line is the container's to write: the client escapes it. */
static int append_process(sd_bus_message *r, pid_t pid)
{
	char path[64], buf[CONTROL_CMDLINE + 1], stat[512], comm[64] = "";
	_cleanup_close_ int dfd = -1;
	unsigned ppid = 0;
	int n;

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	dfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return 0; /* gone meanwhile */
	if (read_small(dfd, "stat", stat, sizeof(stat)) > 0) {
		/* "pid (comm) state ppid": comm may hold anything but ')' last. */
		char *open = strchr(stat, '('), *close = strrchr(stat, ')');

		if (open && close && close > open) {
			snprintf(comm, sizeof(comm), "%.*s", (int)(close - open - 1), open + 1);
			(void)sscanf(close + 1, " %*c %u", &ppid);
		}
	}
	n = read_small(dfd, "cmdline", buf, sizeof(buf));
	if (n <= 0) {
		snprintf(buf, sizeof(buf), "[%s]", comm);
		n = (int)strlen(buf);
	}
	for (int i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	while (n > 0 && buf[n - 1] == ' ')
		buf[--n] = '\0';
	return sd_bus_message_append(r, "(uuss)", (uint32_t)pid, (uint32_t)ppid, comm, buf);
}

/* The processes in dir and below, at most *budget of them. */
static int append_cgroup_procs(sd_bus_message *r, const char *dir, int depth, unsigned *budget)
{
	char path[4096], *line = NULL;
	size_t cap = 0;
	FILE *f;
	int k = 0;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (*budget > 0 && getline(&line, &cap, f) > 0) {
		int pid = atoi(line);

		if (pid > 0 && (k = append_process(r, pid)) < 0)
			break;
		(*budget)--;
	}
	free(line);
	fclose(f);
	if (k < 0 || depth == 0)
		return k;
	/* Accept=yes: one cgroup per sandbox below the service's; Boot=yes:
	 * the booted init's tree. */
	{
		_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
		struct dirent *de;

		if (!d)
			return 0;
		dfd = -1;
		while (*budget > 0 && (de = readdir(d))) {
			if (de->d_type != DT_DIR || de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			if ((k = append_cgroup_procs(r, path, depth - 1, budget)) < 0)
				break;
		}
		closedir(d);
	}
	return k;
}

/* How deep the processes of a service's cgroup are: one cgroup per
 * sandbox (Accept=yes), a booted init's own tree (Boot=yes), or none. */
static int procs_depth(const struct service_config *cfg)
{
	if (cfg->socket.accept)
		return 2;
	return cfg->container.boot ? CGROUP_DEPTH_MAX : 0;
}

static char *service_cgroup(const struct service *s)
{
	const struct manager *m = s->manager;
	char *p;

	if (!s->cfg->socket.accept)
		return s->container && container_cgroup(s->container)
			   ? strdup(container_cgroup(s->container))
			   : NULL;
	if (!m->cgroup_base_path || asprintf(&p, "%s/%s", m->cgroup_base_path, s->cfg->name) < 0)
		return NULL;
	return p;
}

static int append_resources(sd_bus_message *r, const char *cg)
{
	char buf[256];
	uint64_t v;
	_cleanup_close_ int dfd = cg ? open(cg, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
	int k;

	/* cpu.stat is there without the cpu controller; memory.current is
	 * not there without the memory controller: then it says so. */
	if (dfd >= 0 && cgroup_cpu_usage(cg, &v) >= 0)
		k = DICT(r, "CPUUsageUSec", "t", (uint64_t)v);
	else
		k = DICT(r, "CPUUsageUSec", "s", "not available");
	if (k < 0)
		return k;
	if (dfd >= 0 && read_small(dfd, "memory.current", buf, sizeof(buf)) > 0)
		k = DICT(r, "MemoryCurrent", "t", (uint64_t)strtoull(buf, NULL, 10));
	else
		k = DICT(r, "MemoryCurrent", "s", "not available");
	return k;
}

/* The accept queue of each listener now (TCP: TCP_INFO's tcpi_unacked is
 * the queue of a listening socket, tcpi_sacked its backlog). */
static int append_listeners(sd_bus_message *r, const struct service *s)
{
	int k;

	if ((k = dict_open(r, "Listeners", "a(ssuutt)")) < 0 ||
	    (k = sd_bus_message_open_container(r, 'a', "(ssuutt)")) < 0)
		return k;
	for (size_t i = 0; i < s->cfg->socket.n_listen; i++) {
		const struct listen_config *lc = &s->cfg->socket.listen[i];
		struct tcp_info ti = {0};
		socklen_t len = sizeof(ti);
		uint32_t queued = UINT32_MAX, backlog = UINT32_MAX;

		if (s->fds[i] >= 0 && lc->type == LISTEN_STREAM &&
		    (lc->address.sa.sa.sa_family == AF_INET ||
		     lc->address.sa.sa.sa_family == AF_INET6) &&
		    getsockopt(s->fds[i], IPPROTO_TCP, TCP_INFO, &ti, &len) == 0) {
			queued = ti.tcpi_unacked;
			backlog = ti.tcpi_sacked;
		}
		if ((k = sd_bus_message_append(
			 r, "(ssuutt)", lc->text, listen_type_to_string(lc->type), queued, backlog,
			 s->stats.listeners ? s->stats.listeners[i].accepted : (uint64_t)0,
			 s->stats.listeners ? s->stats.listeners[i].refused : (uint64_t)0)) < 0)
			return k;
	}
	if ((k = sd_bus_message_close_container(r)) < 0)
		return k;
	return dict_close(r);
}

static int append_history(sd_bus_message *r, const struct service_stats *st)
{
	unsigned n = st->n_transitions < SERVICE_HISTORY ? st->n_transitions : SERVICE_HISTORY;
	int k;

	if ((k = dict_open(r, "History", "a(tss)")) < 0 ||
	    (k = sd_bus_message_open_container(r, 'a', "(tss)")) < 0)
		return k;
	for (unsigned i = st->n_transitions - n; i < st->n_transitions; i++) {
		const struct service_transition *t = &st->history[i % SERVICE_HISTORY];

		if ((k = sd_bus_message_append(r, "(tss)", (uint64_t)realtime_of(t->at),
					       service_state_to_string(t->state), t->reason)) < 0)
			return k;
	}
	if ((k = sd_bus_message_close_container(r)) < 0)
		return k;
	return dict_close(r);
}

struct lines_ctx {
	sd_bus_message *r;
	unsigned skip;
};

static int append_line(const struct output_line *l, void *userdata)
{
	struct lines_ctx *x = userdata;

	if (x->skip > 0) {
		x->skip--;
		return 0;
	}
	return sd_bus_message_append(x->r, "(tus)", (uint64_t)l->time, (uint32_t)l->pid, l->text);
}

static unsigned count_line(const struct output_line *l, void *userdata)
{
	(void)l;
	return ++*(unsigned *)userdata;
}

static int count_line_cb(const struct output_line *l, void *userdata)
{
	count_line(l, userdata);
	return 0;
}

/* The last n lines of the service's output. */
static int append_lines(sd_bus_message *r, const struct service *s, unsigned n)
{
	struct lines_ctx x = {r, 0};
	unsigned total = 0;
	int k;

	if ((k = sd_bus_message_open_container(r, 'a', "(tus)")) < 0)
		return k;
	if (s->output) {
		(void)output_ring_foreach(s->output, count_line_cb, &total);
		x.skip = total > n ? total - n : 0;
		if ((k = output_ring_foreach(s->output, append_line, &x)) < 0)
			return k;
	}
	return sd_bus_message_close_container(r);
}

/* Why a running container is not idle, in words. */
static void awake_reason(const struct service *s, char *buf, size_t len)
{
	if (s->state != SERVICE_RUNNING)
		snprintf(buf, len, "%s", s->state == SERVICE_FROZEN ? "frozen" : "no container");
	else if (s->idle.connections || s->idle.queued || s->idle.pending)
		snprintf(buf, len,
			 "%u open connection(s) (%u with traffic), %u queued, %u bytes unread",
			 s->idle.connections, s->idle.active, s->idle.queued, s->idle.pending);
	else if (!s->cfg->service.idle_freeze && !s->cfg->service.idle_stop)
		snprintf(buf, len, "no IdleFreezeSec= or IdleStopSec=: runs until stopped");
	else
		snprintf(buf, len, "nothing: idle");
}

static int append_status(sd_bus_message *r, struct service *s)
{
	const struct service_config *cfg = s->cfg;
	const struct service_stats *st = &s->stats;
	_cleanup_free_ char *cg = service_cgroup(s);
	char awake[256];
	unsigned budget = CONTROL_PROCS_MAX;
	int k;

	awake_reason(s, awake, sizeof(awake));
	if ((k = sd_bus_message_open_container(r, 'a', "{sv}")) < 0 ||
	    (k = DICT(r, "Name", "s", cfg->name)) < 0 ||
	    (k = DICT(r, "File", "s", cfg->path ? cfg->path : "")) < 0 ||
	    /* Image=: the manifest digest running ("" while waiting for it). */
	    (k = DICT(r, "ImageDigest", "s",
		      s->image && s->image->digest ? s->image->digest : "")) < 0 ||
	    (k = append_listen(r, s)) < 0 || (k = append_listeners(r, s)) < 0 ||
	    (k = DICT(r, "Accept", "b", (int)cfg->socket.accept)) < 0 ||
	    (k = DICT(r, "State", "s", service_state_to_string(s->state))) < 0 ||
	    (k = append_health(r, s)) < 0 ||
	    (k = DICT(r, "StateSince", "t", (uint64_t)realtime_of(st->state_since))) < 0 ||
	    (k = DICT(r, "MainPID", "u", (uint32_t)main_pid(s))) < 0 ||
	    (k = DICT(r, "ControlGroup", "s", cg ? cg : "")) < 0 ||
	    (k = append_resources(r, cg)) < 0 ||
	    (k = DICT(r, "ColdStarts", "t", (uint64_t)st->starts)) < 0 ||
	    (k = DICT(r, "LastColdStartUSec", "t", (uint64_t)st->last_start)) < 0 ||
	    (k = DICT(r, "StartFailures", "t", (uint64_t)st->start_failures)) < 0 ||
	    (k = DICT(r, "Accepted", "t", (uint64_t)st->accepted)) < 0 ||
	    (k = DICT(r, "Refused", "t", (uint64_t)st->refused)) < 0 ||
	    (k = DICT(r, "RefusedPerSource", "t", (uint64_t)st->refused_per_source)) < 0 ||
	    (k = DICT(r, "RefusedNoSandbox", "t", (uint64_t)st->refused_no_sandbox)) < 0 ||
	    (k = DICT(r, "RefusedSuspended", "t", (uint64_t)st->refused_suspended)) < 0 ||
	    (k = DICT(r, "Sandboxes", "u",
		      (uint32_t)(s->accept ? accept_n_serving(s->accept) : 0))) < 0 ||
	    (k = DICT(r, "Connections", "u", (uint32_t)s->idle.connections)) < 0 ||
	    (k = DICT(r, "ActiveConnections", "u", (uint32_t)s->idle.active)) < 0 ||
	    (k = DICT(r, "QueuedConnections", "u", (uint32_t)s->idle.queued)) < 0 ||
	    (k = DICT(r, "PendingBytes", "u", (uint32_t)s->idle.pending)) < 0 ||
	    (k = DICT(r, "IdleSince", "t", (uint64_t)idle_since(s))) < 0 ||
	    (k = DICT(r, "IdleFreezeUSec", "t", (uint64_t)cfg->service.idle_freeze)) < 0 ||
	    (k = DICT(r, "IdleStopUSec", "t", (uint64_t)cfg->service.idle_stop)) < 0 ||
	    (k = DICT(r, "KeepingAwake", "s", awake)) < 0 ||
	    (k = DICT(r, "LastExitStatus", "i", st->have_exit ? st->last_exit_status : -1)) < 0 ||
	    (k = DICT(r, "LastExit", "t",
		      (uint64_t)(st->have_exit ? realtime_of(st->last_exit_at) : 0))) < 0 ||
	    (k = DICT(r, "StartLimitBurst", "u", cfg->service.start_limit_burst)) < 0 ||
	    (k = DICT(r, "StartLimitIntervalUSec", "t",
		      (uint64_t)cfg->service.start_limit_interval)) < 0 ||
	    (k = DICT(r, "TriggerLimitBurst", "u", cfg->socket.trigger_limit_burst)) < 0 ||
	    (k = DICT(r, "TriggerLimitIntervalUSec", "t",
		      (uint64_t)cfg->socket.trigger_limit_interval)) < 0 ||
	    (k = DICT(r, "SuspendedUntil", "t",
		      (uint64_t)(st->backoff_until ? realtime_of(st->backoff_until) : 0))) < 0 ||
	    /* Type=notify, WatchdogSec= (readiness.c); STATUS= escaped already. */
	    (k = DICT(r, "StatusText", "s", s->ready.status)) < 0 ||
	    (k = DICT(r, "NotifyErrno", "i", (int32_t)s->ready.errno_value)) < 0 ||
	    (k = DICT(r, "Reloading", "b", (int)s->ready.reloading)) < 0 ||
	    (k = DICT(r, "WatchdogStops", "t", (uint64_t)st->watchdog_stops)) < 0 ||
	    (k = append_history(r, st)) < 0)
		return k;
	if ((k = dict_open(r, "Processes", "a(uuss)")) < 0 ||
	    (k = sd_bus_message_open_container(r, 'a', "(uuss)")) < 0 ||
	    /* A container started in a spare: its pid 1 is not in the cgroup
	     * (spares.h), the rest is. */
	    (s->spare_start && s->container &&
	     (k = append_process(r, (int)container_pid(s->container))) < 0) ||
	    (cg && (k = append_cgroup_procs(r, cg, procs_depth(cfg), &budget)) < 0) ||
	    (k = sd_bus_message_close_container(r)) < 0 || (k = dict_close(r)) < 0)
		return k;
	if ((k = dict_open(r, "Output", "a(tus)")) < 0 || (k = append_lines(r, s, 10)) < 0 ||
	    (k = dict_close(r)) < 0)
		return k;
	return sd_bus_message_close_container(r);
}

static int method_status(sd_bus_message *msg, void *userdata, sd_bus_error *e)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *r = NULL;
	struct service *s;
	int k;

	if ((k = get_service(userdata, msg, &s, e)) < 0)
		return k;
	if ((k = sd_bus_message_new_method_return(msg, &r)) < 0 || (k = append_status(r, s)) < 0)
		return k;
	return sd_bus_send(NULL, r, NULL);
}

static int method_logs(sd_bus_message *msg, void *userdata, sd_bus_error *e)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *r = NULL;
	struct service *s;
	uint32_t n;
	int k;

	if ((k = get_service(userdata, msg, &s, e)) < 0 ||
	    (k = sd_bus_message_read(msg, "u", &n)) < 0)
		return k;
	if (n > CONTROL_LINES_MAX)
		n = CONTROL_LINES_MAX;
	if ((k = sd_bus_message_new_method_return(msg, &r)) < 0 || (k = append_lines(r, s, n)) < 0)
		return k;
	return sd_bus_send(NULL, r, NULL);
}

/* --- GetConfig ------------------------------------------------------- */

struct dump_ctx {
	sd_bus_message *r;
	int error;
};

static void dump_row(void *userdata, const char *section, const char *key, const char *value,
		     bool is_default)
{
	struct dump_ctx *x = userdata;
	int k;

	if (x->error < 0)
		return;
	k = sd_bus_message_append(x->r, "(sssb)", section, key, value, (int)is_default);
	if (k < 0)
		x->error = k;
}

/* The effective configuration, every key (config_dump()). */
static int method_config(sd_bus_message *msg, void *userdata, sd_bus_error *e)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *r = NULL;
	struct dump_ctx x = {0};
	struct service *s;
	int k;

	if ((k = get_service(userdata, msg, &s, e)) < 0)
		return k;
	if ((k = sd_bus_message_new_method_return(msg, &r)) < 0 ||
	    (k = sd_bus_message_open_container(r, 'a', "(sssb)")) < 0)
		return k;
	x.r = r;
	config_dump(s->cfg, dump_row, &x);
	if (x.error < 0)
		return x.error;
	if ((k = sd_bus_message_close_container(r)) < 0)
		return k;
	return sd_bus_send(NULL, r, NULL);
}

/* --- calls that wait for a transition ---------------------------------- */

static struct cshell *cshell_free(struct cshell *csh);

static void pending_free(struct control *c, struct pending *p)
{
	TAILQ_REMOVE(&c->pending, p, link);
	if (p->csh)
		cshell_free(p->csh);
	sd_bus_message_unref(p->call);
	free(p);
}

static void pending_reply(struct control *c, struct pending *p, const char *error, const char *fmt,
			  ...)
{
	if (!error) {
		(void)sd_bus_reply_method_return(p->call, "s",
						 service_state_to_string(p->s->state));
	} else {
		char buf[512];
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(buf, sizeof(buf), fmt, ap);
		va_end(ap);
		(void)sd_bus_reply_method_errorf(p->call, error, "%s", buf);
	}
	if (p->cl)
		client_arm(p->cl);
	pending_free(c, p);
}

static const char *last_reason(const struct service *s)
{
	const struct service_stats *st = &s->stats;

	return st->n_transitions ? st->history[(st->n_transitions - 1) % SERVICE_HISTORY].reason
				 : "";
}

/* Whether a waiting call is done: 1 done, -1 failed (replied), 0 not yet.
 * may_act: it may call into the service (start a container, enter one);
 * otherwise (we are inside the service's own transition) it asks for a
 * round from the loop instead. */
static int pending_check(struct control *c, struct pending *p, bool may_act)
{
	struct service *s = p->s;
	const char *name = s->cfg->name;
	enum service_state st = s->state;

	switch (p->op) {
	case OP_RESTART:
		if (!p->stopped) {
			int r;

			if (service_is_active(s))
				return 0;
			if (!may_act) {
				event_active(c->act_event, 0, 0);
				return 0;
			}
			p->stopped = true;
			r = service_start(s);
			if (r < 0) {
				pending_reply(c, p, ERROR_FAILED,
					      "%s: stopped, but cannot start: %s", name,
					      strerror(-r));
				return -1;
			}
			st = s->state;
		}
		/* now it is a start */
		__attribute__((fallthrough));
	case OP_START:
		if (st == SERVICE_RUNNING)
			return 1;
		if (st == SERVICE_STARTING)
			return 0;
		pending_reply(c, p, ERROR_FAILED, "%s: start failed (%s: %s)", name,
			      service_state_to_string(st), last_reason(s));
		return -1;
	case OP_STOP:
		return service_is_active(s) ? 0 : 1;
	case OP_FREEZE:
		if (st == SERVICE_FROZEN)
			return 1;
		if (st == SERVICE_FREEZING)
			return 0;
		pending_reply(c, p, ERROR_FAILED, "%s: did not freeze (%s: %s)", name,
			      service_state_to_string(st), last_reason(s));
		return -1;
	case OP_THAW:
		if (st == SERVICE_RUNNING)
			return 1;
		if (st == SERVICE_THAWING)
			return 0;
		pending_reply(c, p, ERROR_FAILED, "%s: did not thaw (%s: %s)", name,
			      service_state_to_string(st), last_reason(s));
		return -1;
	case OP_SHELL:
		if (st == SERVICE_RUNNING) {
			if (may_act)
				return 1;
			event_active(c->act_event, 0, 0);
			return 0;
		}
		if (st == SERVICE_STARTING || st == SERVICE_THAWING || st == SERVICE_PARKED)
			return 0;
		pending_reply(c, p, ERROR_FAILED,
			      "%s: cannot enter: the container is not running (%s: %s)", name,
			      service_state_to_string(st), last_reason(s));
		return -1;
	}
	return 0;
}

static void shell_launch(struct control *c, struct pending *p);
static void pending_run(struct control *c, bool may_act);

static void act_cb(evutil_socket_t fd, short what, void *arg)
{
	pending_run(arg, true);
}

/* Looks at every waiting call. A check may start a container, whose
 * transitions come back here: that nested call only asks for another
 * round, so that no round frees what an outer one is looking at. */
static void pending_run(struct control *c, bool may_act)
{
	struct pending *p, *next;

	if (c->in_pending) {
		c->pending_again = true;
		return;
	}
	c->in_pending = true;
	do {
		c->pending_again = false;
		for (p = TAILQ_FIRST(&c->pending); p; p = next) {
			int r;

			next = TAILQ_NEXT(p, link);
			r = pending_check(c, p, may_act);
			if (r == 0)
				continue;
			if (r > 0 && p->op == OP_SHELL)
				shell_launch(c, p);
			else if (r > 0)
				pending_reply(c, p, NULL, NULL);
			/* p is answered and gone; what it started may have changed
			 * other calls' lot: look again from the start. */
			c->pending_again = true;
			break;
		}
	} while (c->pending_again);
	c->in_pending = false;
}

static int op_error(sd_bus_error *e, struct service *s, enum op op, int r)
{
	const char *name = s->cfg->name, *st = service_state_to_string(s->state);

	switch (r) {
	case -EOPNOTSUPP:
		return sd_bus_error_setf(
		    e, ERROR_NOT_SUPPORTED, "%s: cannot %s: %s", name, op_names[op],
		    s->cfg->socket.accept ? "Accept=yes starts one sandbox per connection"
					  : "no cgroup v2 here (cgroup.freeze)");
	case -EBUSY:
	case -EINVAL:
	case -EALREADY:
		return sd_bus_error_setf(e, ERROR_WRONG_STATE, "%s: cannot %s: the service is %s",
					 name, op_names[op], st);
	default:
		return sd_bus_error_setf(e, ERROR_FAILED, "%s: cannot %s: %s", name, op_names[op],
					 strerror(-r));
	}
}

static int method_op(sd_bus_message *msg, struct client *cl, enum op op, sd_bus_error *e)
{
	struct control *c = cl->c;
	struct service *s;
	struct pending *p;
	int k, r = 0;

	if ((k = get_service(cl, msg, &s, e)) < 0)
		return k;
	if ((k = need_writer(cl, op_names[op], e)) < 0)
		return k;
	if (s->state == SERVICE_WAITING)
		return sd_bus_error_setf(e, ERROR_WRONG_STATE,
					 "%s: cannot %s: waiting for the container of its previous "
					 "configuration to stop",
					 s->cfg->name, op_names[op]);
	switch (op) {
	case OP_START:
		if (s->state == SERVICE_RUNNING)
			return sd_bus_reply_method_return(msg, "s", "running");
		if (s->state == SERVICE_SUSPENDED)
			return sd_bus_error_setf(
			    e, ERROR_WRONG_STATE,
			    "%s: cannot start: suspended (%s) until the limit's "
			    "interval is over",
			    s->cfg->name, last_reason(s));
		/* Parked: the start is its release. Starting: wait for it. */
		r = s->state == SERVICE_STARTING ? 0 : service_start(s);
		break;
	case OP_STOP:
		r = service_stop(s, "stop requested");
		if (r == -EALREADY)
			return sd_bus_reply_method_return(msg, "s",
							  service_state_to_string(s->state));
		break;
	case OP_RESTART:
		if (s->cfg->socket.accept)
			r = -EOPNOTSUPP;
		else if (s->state == SERVICE_SUSPENDED)
			r = -EBUSY;
		else if (service_is_active(s))
			r = service_stop(s, "restart requested");
		break;
	case OP_FREEZE:
		r = service_freeze(s, "freeze requested");
		if (r == -EALREADY) /* frozen already: now held */
			return sd_bus_reply_method_return(msg, "s", "frozen");
		break;
	case OP_THAW:
		r = service_thaw(s, "thaw requested");
		break;
	case OP_SHELL: /* OpenShell's */
		r = -EINVAL;
		break;
	}
	if (r < 0)
		return op_error(e, s, op, r);
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->cl = cl;
	p->call = sd_bus_message_ref(msg);
	p->s = s;
	p->op = op;
	TAILQ_INSERT_TAIL(&c->pending, p, link);
	pending_run(c, true);
	return 1;
}

static int method_start(sd_bus_message *m, void *u, sd_bus_error *e)
{
	return method_op(m, u, OP_START, e);
}
static int method_stop(sd_bus_message *m, void *u, sd_bus_error *e)
{
	return method_op(m, u, OP_STOP, e);
}
static int method_restart(sd_bus_message *m, void *u, sd_bus_error *e)
{
	return method_op(m, u, OP_RESTART, e);
}
static int method_freeze(sd_bus_message *m, void *u, sd_bus_error *e)
{
	return method_op(m, u, OP_FREEZE, e);
}
static int method_thaw(sd_bus_message *m, void *u, sd_bus_error *e)
{
	return method_op(m, u, OP_THAW, e);
}

/* Drain, Undrain: advice to the balancers (health.h), at once; the
 * service itself serves as before. Answers the health. */
static int set_drained(sd_bus_message *msg, struct client *cl, bool on, sd_bus_error *e)
{
	struct service *s;
	int k;

	if ((k = need_writer(cl, on ? "drain" : "undrain", e)) < 0 ||
	    (k = get_service(cl, msg, &s, e)) < 0)
		return k;
	if (s->drained != on)
		log_info("%s: %s by request", s->cfg->name, on ? "drained" : "undrained");
	s->drained = on;
	return sd_bus_reply_method_return(msg, "s", health_to_string(health_of(s, NULL)));
}
static int method_drain(sd_bus_message *m, void *u, sd_bus_error *e)
{
	return set_drained(m, u, true, e);
}
static int method_undrain(sd_bus_message *m, void *u, sd_bus_error *e)
{
	return set_drained(m, u, false, e);
}

static int method_subscribe(sd_bus_message *msg, void *userdata, sd_bus_error *e)
{
	struct client *cl = userdata;

	cl->subscribed = true;
	return sd_bus_reply_method_return(msg, NULL);
}

static int method_follow(sd_bus_message *msg, void *userdata, sd_bus_error *e)
{
	struct client *cl = userdata;
	struct service *s;
	int k;

	if ((k = get_service(cl, msg, &s, e)) < 0)
		return k;
	free(cl->follow);
	cl->follow = strdup(s->cfg->name);
	if (!cl->follow)
		return -ENOMEM;
	return sd_bus_reply_method_return(msg, NULL);
}

static int method_reload(sd_bus_message *msg, void *userdata, sd_bus_error *e)
{
	struct client *cl = userdata;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *r = NULL;
	struct reload_report rep = {0};
	int k;

	if ((k = need_writer(cl, "reload", e)) < 0)
		return k;
	if (cl->c->m->shutting_down)
		return sd_bus_error_setf(e, ERROR_WRONG_STATE, "cannot reload: shutting down");
	(void)manager_reload(cl->c->m, &rep);
	if ((k = sd_bus_message_new_method_return(msg, &r)) >= 0 &&
	    (k = sd_bus_message_open_container(r, 'a', "{sv}")) >= 0 &&
	    (k = dict_strv(r, "Added", rep.added)) >= 0 &&
	    (k = dict_strv(r, "Changed", rep.changed)) >= 0 &&
	    (k = dict_strv(r, "Removed", rep.removed)) >= 0 &&
	    (k = DICT(r, "Unchanged", "u", (uint32_t)rep.unchanged)) >= 0 &&
	    (k = dict_strv(r, "Errors", rep.errors)) >= 0)
		k = sd_bus_message_close_container(r);
	reload_report_done(&rep);
	if (k < 0)
		return k;
	return sd_bus_send(NULL, r, NULL);
}

/* Re-exec in place (reexec.c): on success there is no reply, the exec
 * closes the connection; a failure is the reply, once it is known. */
static void reexec_done(void *userdata, int r, const char *why)
{
	sd_bus_message *msg = userdata;

	(void)sd_bus_reply_method_errorf(
	    msg, r == -EAGAIN || r == -EBUSY ? ERROR_WRONG_STATE : ERROR_EXEC,
	    "re-exec failed, the daemon goes on: %s", why);
	sd_bus_message_unref(msg);
}

static int method_reexec(sd_bus_message *msg, void *userdata, sd_bus_error *e)
{
	struct client *cl = userdata;
	int k;

	if ((k = need_writer(cl, "daemon-reexec", e)) < 0)
		return k;
	log_info("re-exec requested (uid %u)", (unsigned)cl->uid);
	k = reexec_request(cl->c->m, reexec_done, sd_bus_message_ref(msg));
	if (k < 0) {
		sd_bus_message_unref(msg);
		return sd_bus_error_setf(e, ERROR_WRONG_STATE, "re-exec not done: %s",
					 k == -EALREADY ? "one is under way already"
							: strerror(-k));
	}
	return 1;
}

static int method_daemon(sd_bus_message *msg, void *userdata, sd_bus_error *e)
{
	struct client *cl = userdata;
	struct reexec *rx = cl->c->m->reexec;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *r = NULL;
	int k;

	if ((k = sd_bus_message_new_method_return(msg, &r)) < 0 ||
	    (k = sd_bus_message_open_container(r, 'a', "{sv}")) < 0 ||
	    (k = DICT(r, "Pid", "u", (uint32_t)getpid())) < 0 ||
	    (k = DICT(r, "Binary", "s", reexec_binary(rx) ? reexec_binary(rx) : "")) < 0 ||
	    (k = DICT(r, "Reexecs", "t", reexec_count(rx))) < 0 ||
	    (k = sd_bus_message_close_container(r)) < 0)
		return k;
	return sd_bus_send(NULL, r, NULL);
}

/* --- OpenShell, WaitShell ---------------------------------------------- */

#define CONTROL_ARGV_MAX  256
#define CONTROL_ARGV_SIZE (64 * 1024)

static struct cshell *cshell_free(struct cshell *csh)
{
	if (!csh)
		return NULL;
	if (csh->sh)
		shell_free(csh->sh); /* kills the command if it still runs */
	if (csh->open_call) {
		(void)sd_bus_reply_method_errorf(csh->open_call, ERROR_FAILED,
						 "%s: the command could not be started",
						 csh->s->cfg->name);
		sd_bus_message_unref(csh->open_call);
	}
	if (csh->wait_call) {
		(void)sd_bus_reply_method_errorf(csh->wait_call, ERROR_FAILED,
						 "%s: the command was ended", csh->s->cfg->name);
		sd_bus_message_unref(csh->wait_call);
	}
	if (csh->id)
		TAILQ_REMOVE(&csh->c->shells, csh, link);
	strv_free(csh->argv);
	free(csh->term);
	free(csh);
	return NULL;
}

static void cshell_ready(void *userdata, int fds[3])
{
	struct cshell *csh = userdata;
	int r;

	if (!csh->open_call) {
		for (int i = 0; i < 3; i++)
			safe_close(fds[i]);
		return;
	}
	/* The message takes copies of the fds. */
	if (csh->tty)
		r = sd_bus_reply_method_return(csh->open_call, "uhhh", csh->id, fds[0], fds[0],
					       fds[0]);
	else
		r = sd_bus_reply_method_return(csh->open_call, "uhhh", csh->id, fds[0], fds[1],
					       fds[2]);
	for (int i = 0; i < 3; i++)
		safe_close(fds[i]);
	csh->open_call = sd_bus_message_unref(csh->open_call);
	if (r < 0)
		log_errno(LOG_WARNING, r, "control: %s: cannot hand over the command's fds",
			  csh->s->cfg->name);
	client_arm(csh->cl);
}

/* The command's wait status, or why it never ran. */
static int wait_reply(struct cshell *csh, sd_bus_message *call)
{
	if (csh->exec_error)
		return sd_bus_reply_method_errorf(
		    call, ERROR_EXEC, "%s: cannot run %s: %s", csh->s->cfg->name,
		    csh->argv && csh->argv[0] ? csh->argv[0] : "the shell",
		    strerror(csh->exec_error));
	return sd_bus_reply_method_return(call, "i", csh->status);
}

static void cshell_done(void *userdata, int status)
{
	struct cshell *csh = userdata;

	csh->sh = shell_free(csh->sh);
	if (status < 0 && csh->open_call) {
		/* It never ran: the OpenShell call gets why. */
		(void)sd_bus_reply_method_errorf(csh->open_call, ERROR_FAILED,
						 "%s: cannot run the command: %s",
						 csh->s->cfg->name, strerror(-status));
		csh->open_call = sd_bus_message_unref(csh->open_call);
		client_arm(csh->cl);
		cshell_free(csh);
		return;
	}
	csh->exited = true;
	csh->status = status < 0 ? (127 << 8) : status;
	csh->exec_error = status < 0 ? -status : 0;
	if (csh->wait_call) {
		(void)wait_reply(csh, csh->wait_call);
		csh->wait_call = sd_bus_message_unref(csh->wait_call);
		client_arm(csh->cl);
		cshell_free(csh);
	}
}

/* The container runs (OP_SHELL's wait is over): enter it. */
static void shell_launch(struct control *c, struct pending *p)
{
	struct cshell *csh = TAKE_PTR(p->csh);
	int r;

	csh->open_call = sd_bus_message_ref(p->call);
	csh->id = ++c->next_shell ? c->next_shell : ++c->next_shell;
	TAILQ_INSERT_TAIL(&c->shells, csh, link);
	pending_free(c, p);
	r = shell_start(csh->s, csh->argv, csh->term, csh->tty, cshell_ready, cshell_done, csh,
			&csh->sh);
	if (r < 0) {
		(void)sd_bus_reply_method_errorf(
		    csh->open_call, ERROR_FAILED, "%s: cannot enter the container: %s",
		    csh->s->cfg->name, r == -EUSERS ? "too many shells at once" : strerror(-r));
		csh->open_call = sd_bus_message_unref(csh->open_call);
		client_arm(csh->cl);
		cshell_free(csh);
	}
}

static int method_open_shell(sd_bus_message *msg, void *userdata, sd_bus_error *e)
{
	struct client *cl = userdata;
	struct control *c = cl->c;
	struct cshell *csh;
	struct pending *p;
	struct service *s;
	const char *term;
	char **argv = NULL;
	size_t size = 0;
	int tty, k;

	if ((k = get_service(cl, msg, &s, e)) < 0)
		return k;
	if ((k = need_writer(cl, "shell", e)) < 0)
		return k;
	if ((k = sd_bus_message_read_strv(msg, &argv)) < 0 ||
	    (k = sd_bus_message_read(msg, "sb", &term, &tty)) < 0) {
		strv_free(argv);
		return k;
	}
	STRV_FOREACH (a, argv)
		size += strlen(*a) + 1;
	if (strv_length(argv) > CONTROL_ARGV_MAX || size > CONTROL_ARGV_SIZE) {
		strv_free(argv);
		return sd_bus_error_setf(e, ERROR_INVALID_ARGS,
					 "%s: a command of more than %d words or %d bytes",
					 s->cfg->name, CONTROL_ARGV_MAX, CONTROL_ARGV_SIZE);
	}
	if (s->cfg->socket.accept ||
	    !(s->state == SERVICE_STOPPED || s->state == SERVICE_PARKED ||
	      s->state == SERVICE_STARTING || s->state == SERVICE_RUNNING ||
	      s->state == SERVICE_FROZEN || s->state == SERVICE_THAWING)) {
		strv_free(argv);
		if (s->cfg->socket.accept)
			return sd_bus_error_setf(e, ERROR_NOT_SUPPORTED,
						 "%s: cannot enter: Accept=yes has one sandbox per "
						 "connection, no container to enter",
						 s->cfg->name);
		return sd_bus_error_setf(e, ERROR_WRONG_STATE,
					 "%s: cannot enter: the service is %s", s->cfg->name,
					 service_state_to_string(s->state));
	}
	csh = calloc(1, sizeof(*csh));
	p = calloc(1, sizeof(*p));
	if (!csh || !p || (*term && !(csh->term = strdup(term)))) {
		free(csh);
		free(p);
		strv_free(argv);
		return -ENOMEM;
	}
	csh->c = c;
	csh->cl = cl;
	csh->s = s;
	csh->argv = argv;
	csh->tty = tty;
	/* Stopped or parked: started as a connection would; frozen: thawed. */
	if (s->state == SERVICE_FROZEN)
		k = service_thaw(s, "shell requested");
	else if (s->state == SERVICE_STOPPED || s->state == SERVICE_PARKED)
		k = service_start(s);
	if (k < 0) {
		cshell_free(csh);
		free(p);
		return sd_bus_error_setf(e, ERROR_FAILED, "%s: cannot start the container: %s",
					 s->cfg->name, strerror(-k));
	}
	p->cl = cl;
	p->call = sd_bus_message_ref(msg);
	p->s = s;
	p->op = OP_SHELL;
	p->csh = csh;
	TAILQ_INSERT_TAIL(&c->pending, p, link);
	pending_run(c, true);
	return 1;
}

static int method_wait_shell(sd_bus_message *msg, void *userdata, sd_bus_error *e)
{
	struct client *cl = userdata;
	struct cshell *csh;
	uint32_t id;
	int k;

	if ((k = sd_bus_message_read(msg, "u", &id)) < 0)
		return k;
	TAILQ_FOREACH(csh, &cl->c->shells, link)
	if (csh->id == id && csh->cl == cl)
		break;
	if (!csh)
		return sd_bus_error_setf(e, ERROR_INVALID_ARGS, "no command %u of this connection",
					 id);
	if (csh->wait_call)
		return sd_bus_error_setf(e, ERROR_WRONG_STATE, "command %u is waited for already",
					 id);
	if (csh->exited) {
		k = wait_reply(csh, msg);
		cshell_free(csh);
		return k;
	}
	csh->wait_call = sd_bus_message_ref(msg);
	return 1;
}

/* org.freedesktop.DBus.Hello: a bus client (busctl --address) asks for its
 * name first; with no bus daemon, the server answers it. */
static int method_hello(sd_bus_message *msg, void *userdata, sd_bus_error *e)
{
	struct client *cl = userdata;
	char name[32];

	snprintf(name, sizeof(name), ":1.%u", cl->id);
	return sd_bus_reply_method_return(msg, "s", name);
}

static const sd_bus_vtable manager_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD_WITH_ARGS("ListServices", SD_BUS_NO_ARGS, SD_BUS_RESULT("aa{sv}", services),
			    method_list, 0),
    SD_BUS_METHOD_WITH_ARGS("GetStatus", SD_BUS_ARGS("s", name), SD_BUS_RESULT("a{sv}", status),
			    method_status, 0),
    SD_BUS_METHOD_WITH_ARGS("GetConfig", SD_BUS_ARGS("s", name), SD_BUS_RESULT("a(sssb)", settings),
			    method_config, 0),
    SD_BUS_METHOD_WITH_ARGS("GetLogs", SD_BUS_ARGS("s", name, "u", lines),
			    SD_BUS_RESULT("a(tus)", lines), method_logs, 0),
    SD_BUS_METHOD_WITH_ARGS("Start", SD_BUS_ARGS("s", name), SD_BUS_RESULT("s", state),
			    method_start, 0),
    SD_BUS_METHOD_WITH_ARGS("Stop", SD_BUS_ARGS("s", name), SD_BUS_RESULT("s", state), method_stop,
			    0),
    SD_BUS_METHOD_WITH_ARGS("Restart", SD_BUS_ARGS("s", name), SD_BUS_RESULT("s", state),
			    method_restart, 0),
    SD_BUS_METHOD_WITH_ARGS("Freeze", SD_BUS_ARGS("s", name), SD_BUS_RESULT("s", state),
			    method_freeze, 0),
    SD_BUS_METHOD_WITH_ARGS("Thaw", SD_BUS_ARGS("s", name), SD_BUS_RESULT("s", state), method_thaw,
			    0),
    SD_BUS_METHOD_WITH_ARGS("Drain", SD_BUS_ARGS("s", name), SD_BUS_RESULT("s", health),
			    method_drain, 0),
    SD_BUS_METHOD_WITH_ARGS("Undrain", SD_BUS_ARGS("s", name), SD_BUS_RESULT("s", health),
			    method_undrain, 0),
    SD_BUS_METHOD_WITH_ARGS("OpenShell", SD_BUS_ARGS("s", name, "as", argv, "s", term, "b", tty),
			    SD_BUS_RESULT("u", id, "h", stdin, "h", stdout, "h", stderr),
			    method_open_shell, 0),
    SD_BUS_METHOD_WITH_ARGS("WaitShell", SD_BUS_ARGS("u", id), SD_BUS_RESULT("i", status),
			    method_wait_shell, 0),
    SD_BUS_METHOD_WITH_ARGS("Reload", SD_BUS_NO_ARGS, SD_BUS_RESULT("a{sv}", report), method_reload,
			    0),
    SD_BUS_METHOD_WITH_ARGS("Reexec", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_reexec, 0),
    SD_BUS_METHOD_WITH_ARGS("GetDaemon", SD_BUS_NO_ARGS, SD_BUS_RESULT("a{sv}", daemon),
			    method_daemon, 0),
    SD_BUS_METHOD_WITH_ARGS("Subscribe", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_subscribe, 0),
    SD_BUS_METHOD_WITH_ARGS("FollowLogs", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT, method_follow,
			    0),
    SD_BUS_SIGNAL_WITH_ARGS(
	"StateChanged",
	SD_BUS_ARGS("s", name, "s", old_state, "s", new_state, "s", reason, "t", usec_in_old_state),
	0),
    SD_BUS_SIGNAL_WITH_ARGS("Output", SD_BUS_ARGS("s", name, "t", realtime, "u", pid, "s", line),
			    0),
    SD_BUS_VTABLE_END,
};

static const sd_bus_vtable dbus_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD_WITH_ARGS("Hello", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", unique_name), method_hello,
			    0),
    SD_BUS_VTABLE_END,
};

/* --- clients ---------------------------------------------------------- */

static void client_kill(struct client *cl, const char *why)
{
	if (cl->dead)
		return;
	log_debug("control: client %u (uid %u, pid %d): %s", cl->id, (unsigned)cl->uid,
		  (int)cl->pid, why);
	cl->dead = true;
	event_active(cl->c->reap, 0, 0);
}

static struct client *client_free(struct client *cl)
{
	struct control *c = cl->c;
	struct pending *p, *next;

	struct cshell *csh, *cnext;

	for (p = TAILQ_FIRST(&c->pending); p; p = next) {
		next = TAILQ_NEXT(p, link);
		if (p->cl == cl)
			pending_free(c, p);
	}
	/* Its commands end with it, as a terminal's do when it is closed. */
	for (csh = TAILQ_FIRST(&c->shells); csh; csh = cnext) {
		cnext = TAILQ_NEXT(csh, link);
		if (csh->cl == cl) {
			csh->open_call = sd_bus_message_unref(csh->open_call);
			csh->wait_call = sd_bus_message_unref(csh->wait_call);
			cshell_free(csh);
		}
	}
	TAILQ_REMOVE(&c->clients, cl, link);
	c->n_clients--;
	if (cl->io)
		event_free(cl->io);
	if (cl->timer)
		event_free(cl->timer);
	/* Closing closes the fd it was given. Never sd_bus_flush(): it
	 * waits for a client that may never read. */
	if (cl->bus)
		sd_bus_close_unref(cl->bus);
	else
		safe_close(cl->fd);
	free(cl->follow);
	free(cl);
	return NULL;
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct control *c = arg;
	struct client *cl, *next;

	for (cl = TAILQ_FIRST(&c->clients); cl; cl = next) {
		next = TAILQ_NEXT(cl, link);
		if (cl->dead)
			client_free(cl);
	}
}

static void client_process(struct client *cl)
{
	uint64_t queued = 0;
	int r = 0;

	for (int i = 0; i < CONTROL_BATCH && !cl->dead; i++) {
		r = sd_bus_process(cl->bus, NULL);
		if (r <= 0)
			break;
	}
	if (cl->dead)
		return;
	if (r < 0) {
		client_kill(cl, strerror(-r));
		return;
	}
	if (r > 0) /* more to do: after the other events */
		event_active(cl->io, EV_READ, 0);
	if (sd_bus_get_n_queued_write(cl->bus, &queued) >= 0 && queued > CONTROL_WQUEUE_MAX) {
		client_kill(cl, "does not read what it is sent");
		return;
	}
	client_arm(cl);
}

static void client_io_cb(evutil_socket_t fd, short what, void *arg)
{
	client_process(arg);
}

static void client_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;

	if (!cl->dead && sd_bus_is_ready(cl->bus) <= 0 &&
	    now_usec() - cl->connected_at >= CONTROL_AUTH_USEC) {
		client_kill(cl, "did not authenticate in time");
		return;
	}
	client_process(cl);
}

/* Polls what sd-bus wants next: its fd for reading and/or writing, and its
 * timeout (or the authentication deadline). */
static void client_arm(struct client *cl)
{
	struct timeval tv;
	uint64_t until = UINT64_MAX;
	usec_t now = now_usec();
	short what = 0;
	int ev;

	if (cl->dead)
		return;
	ev = sd_bus_get_events(cl->bus);
	if (ev < 0) {
		client_kill(cl, strerror(-ev));
		return;
	}
	if (ev & POLLIN)
		what |= EV_READ;
	if (ev & POLLOUT)
		what |= EV_WRITE;
	event_del(cl->io);
	if (event_assign(cl->io, cl->c->m->base, cl->fd, what, client_io_cb, cl) < 0 ||
	    event_add(cl->io, NULL) < 0) {
		client_kill(cl, "cannot poll");
		return;
	}
	(void)sd_bus_get_timeout(cl->bus, &until);
	if (sd_bus_is_ready(cl->bus) <= 0 && cl->connected_at + CONTROL_AUTH_USEC < until)
		until = cl->connected_at + CONTROL_AUTH_USEC;
	event_del(cl->timer);
	if (until == UINT64_MAX)
		return;
	until = until > now ? until - now : 0;
	tv.tv_sec = (time_t)(until / USEC_PER_SEC);
	tv.tv_usec = (suseconds_t)(until % USEC_PER_SEC);
	if (evtimer_add(cl->timer, &tv) < 0)
		client_kill(cl, "cannot arm its timer");
}

static bool in_group(int fd, gid_t gid, gid_t group)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	if (gid == group)
		return true;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == group)
			return true;
	return false;
}

static void refuse(struct control *c, int fd, const char *why, unsigned uid)
{
	usec_t now = now_usec();

	c->refused++;
	if (now - c->refused_logged_at >= CONTROL_LOG_USEC || !c->refused_logged_at) {
		log_warning("control: refused a client with uid %u: %s (%lu refused)", uid, why,
			    c->refused);
		c->refused_logged_at = now;
		c->refused = 0;
	}
	close(fd);
}

static int client_new(struct control *c, int fd)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	struct client *cl;
	sd_id128_t id;
	int r;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0) {
		close(fd);
		return -errno;
	}
	if (uc.uid != 0 && !(c->have_group && in_group(fd, uc.gid, c->group))) {
		refuse(c, fd, "neither root nor in the control group", uc.uid);
		return -EPERM;
	}
	if (c->n_clients >= CONTROL_CLIENTS_MAX) {
		refuse(c, fd, "too many clients", uc.uid);
		return -EMFILE;
	}
	cl = calloc(1, sizeof(*cl));
	if (!cl) {
		close(fd);
		return -ENOMEM;
	}
	cl->c = c;
	cl->fd = fd;
	cl->uid = uc.uid;
	cl->pid = uc.pid;
	cl->writer = uc.uid == 0;
	cl->id = ++c->next_id;
	cl->connected_at = now_usec();
	TAILQ_INSERT_TAIL(&c->clients, cl, link);
	c->n_clients++;
	cl->io = event_new(c->m->base, -1, 0, client_io_cb, cl);
	cl->timer = evtimer_new(c->m->base, client_timer_cb, cl);
	if (!cl->io || !cl->timer) {
		client_kill(cl, "out of memory");
		return -ENOMEM;
	}
	if ((r = sd_bus_new(&cl->bus)) < 0 || (r = sd_bus_set_fd(cl->bus, fd, fd)) < 0 ||
	    (r = sd_id128_randomize(&id)) < 0 || (r = sd_bus_set_server(cl->bus, 1, id)) < 0 ||
	    (r = sd_bus_negotiate_fds(cl->bus, 1)) < 0 ||
	    /* We check the caller ourselves (need_writer()). */
	    (r = sd_bus_set_trusted(cl->bus, 1)) < 0 ||
	    (r = sd_bus_add_object_vtable(cl->bus, NULL, CONTROL_PATH, CONTROL_INTERFACE,
					  manager_vtable, cl)) < 0 ||
	    (r = sd_bus_add_object_vtable(cl->bus, NULL, "/org/freedesktop/DBus",
					  "org.freedesktop.DBus", dbus_vtable, cl)) < 0 ||
	    (r = sd_bus_start(cl->bus)) < 0) {
		if (!cl->bus || r == -ENOMEM)
			log_errno(LOG_WARNING, r, "control: cannot serve a client");
		/* From here the bus owns the fd. */
		client_kill(cl, "cannot set up its connection");
		return r;
	}
	client_arm(cl);
	return 0;
}

static void listen_cb(evutil_socket_t fd, short what, void *arg)
{
	struct control *c = arg;

	for (int i = 0; i < 16; i++) {
		int conn = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (conn < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_errno(LOG_WARNING, -errno, "control: accept");
			return;
		}
		(void)client_new(c, conn);
	}
}

/* --- signals ---------------------------------------------------------- */

void control_service_changed(struct control *c, struct service *s, int old, const char *reason,
			     usec_t now)
{
	struct client *cl;
	const struct service_stats *st = &s->stats;
	usec_t since = 0;

	if (!c)
		return;
	/* The time spent in the old state: the transition before this one. */
	if (st->n_transitions >= 2)
		since = now - st->history[(st->n_transitions - 2) % SERVICE_HISTORY].at;
	TAILQ_FOREACH(cl, &c->clients, link)
	{
		if (cl->dead || !cl->subscribed)
			continue;
		if (sd_bus_emit_signal(cl->bus, CONTROL_PATH, CONTROL_INTERFACE, "StateChanged",
				       "sssst", s->cfg->name,
				       service_state_to_string((enum service_state)old),
				       service_state_to_string(s->state), reason ? reason : "",
				       (uint64_t)since) < 0) {
			client_kill(cl, "cannot queue a signal");
			continue;
		}
		client_process(cl);
	}
	pending_run(c, false);
}

void control_service_gone(struct control *c, struct service *s)
{
	struct pending *p, *next;
	struct cshell *csh, *cnext;

	if (!c)
		return;
	for (csh = TAILQ_FIRST(&c->shells); csh; csh = cnext) {
		cnext = TAILQ_NEXT(csh, link);
		if (csh->s == s)
			cshell_free(csh);
	}
	for (p = TAILQ_FIRST(&c->pending); p; p = next) {
		next = TAILQ_NEXT(p, link);
		if (p->s != s)
			continue;
		/* A stop that ends with the service's removal is done. */
		if (p->op == OP_STOP)
			pending_reply(c, p, NULL, NULL);
		else
			pending_reply(c, p, ERROR_FAILED, "%s: removed by a reload meanwhile",
				      s->cfg->name);
	}
}

static void output_cb(void *userdata, const char *name, const struct output_line *line)
{
	struct control *c = userdata;
	struct client *cl;

	TAILQ_FOREACH(cl, &c->clients, link)
	{
		if (cl->dead || !cl->follow || strcmp(cl->follow, name) != 0)
			continue;
		if (sd_bus_emit_signal(cl->bus, CONTROL_PATH, CONTROL_INTERFACE, "Output", "stus",
				       name, (uint64_t)line->time, (uint32_t)line->pid,
				       line->text) < 0) {
			client_kill(cl, "cannot queue a signal");
			continue;
		}
		client_process(cl);
	}
}

/* --- the socket ------------------------------------------------------- */

int control_new(struct manager *m, const char *path, const char *read_group, struct control **ret)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct control *c;
	mode_t old;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_error("control socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return log_errno(LOG_ERR, -ENOMEM, "control: out of memory");
	c->m = m;
	c->fd = -1;
	TAILQ_INIT(&c->clients);
	TAILQ_INIT(&c->pending);
	TAILQ_INIT(&c->shells);
	if (read_group) {
		struct group *g = getgrnam(read_group);

		if (!g) {
			log_error("--control-group=%s: no such group", read_group);
			control_free(c);
			return -ESRCH;
		}
		c->group = g->gr_gid;
		c->have_group = true;
	}
	c->path = strdup(path);
	c->reap = event_new(m->base, -1, 0, reap_cb, c);
	c->act_event = event_new(m->base, -1, 0, act_cb, c);
	if (!c->path || !c->reap || !c->act_event) {
		control_free(c);
		return log_errno(LOG_ERR, -ENOMEM, "control: out of memory");
	}
	memcpy(sa.sun_path, path, strlen(path));
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		r = log_errno(LOG_ERR, -errno, "control: socket");
		control_free(c);
		return r;
	}
	/* The runtime directory is ours (its lock is held): a socket left by
	 * a daemon that died is stale. */
	(void)unlink(path);
	old = umask(0177);
	r = bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	umask(old);
	if (r == 0 && c->have_group && (chown(path, 0, c->group) < 0 || chmod(path, 0660) < 0))
		r = -errno;
	if (r == 0 && listen(c->fd, 128) < 0)
		r = -errno;
	if (r < 0) {
		log_errno(LOG_ERR, r, "control: cannot listen on %s", path);
		control_free(c);
		return r;
	}
	c->listen_event = event_new(m->base, c->fd, EV_READ | EV_PERSIST, listen_cb, c);
	if (!c->listen_event || event_add(c->listen_event, NULL) < 0) {
		control_free(c);
		return log_errno(LOG_ERR, -ENOMEM, "control: out of memory");
	}
	output_set_observer(output_cb, c);
	*ret = c;
	return 0;
}

struct control *control_free(struct control *c)
{
	if (!c)
		return NULL;
	output_set_observer(NULL, NULL);
	while (!TAILQ_EMPTY(&c->shells))
		cshell_free(TAILQ_FIRST(&c->shells));
	while (!TAILQ_EMPTY(&c->clients))
		client_free(TAILQ_FIRST(&c->clients));
	if (c->listen_event)
		event_free(c->listen_event);
	if (c->reap)
		event_free(c->reap);
	if (c->act_event)
		event_free(c->act_event);
	if (c->fd >= 0) {
		close(c->fd);
		(void)unlink(c->path);
	}
	free(c->path);
	free(c);
	return NULL;
}
