/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "metrics.h"

#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config-build.h"
#include "activator/cgroup.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/sockaddr.h"
#include "supervisor/accept.h"
#include "supervisor/container.h"
#include "supervisor/manager.h"
#include "supervisor/health.h"
#include "supervisor/service.h"
#include "supervisor/tcp-server.h"

/*
 * What a client can make the daemon hold. evhttp keeps a reply in the
 * connection's output buffer until the client reads it, and libevent 2.1
 * has no limit on the connections it accepts: so only METRICS_CLIENTS_MAX
 * connections at a time get an exposition (one reply each, as evhttp
 * answers one request of a connection at a time), the others a short 503;
 * and every connection that neither sends nor reads for
 * METRICS_TIMEOUT_SEC is closed, its buffers with it.
 */
#define METRICS_CLIENTS_MAX  4
#define METRICS_TIMEOUT_SEC  10
#define METRICS_HEADERS_MAX  8192
#define METRICS_BODY_MAX     1024
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics {
	struct manager *m;
	struct evhttp *http;
	struct evhttp_connection *clients[METRICS_CLIENTS_MAX];
	uint64_t reloads_ok, reloads_failed;
	uint64_t scrapes, busy;
	uint64_t health_checks; /* GET /health/NAME answered */
	usec_t last_render;     /* how long the last exposition took to build */
};

/* The upper bounds of histogram.h's buckets as the exposition writes them. */
static const char *const bucket_le[HISTOGRAM_BUCKETS] = {
    "0.0005", "0.001", "0.002", "0.005", "0.01", "0.025", "0.05", "0.1",
    "0.25",   "0.5",   "1",     "2.5",   "5",    "10",    "30",
};

/* --- the counters the transitions make ----------------------------------- */

/* The reasons service.c, readiness.c and control.c give a stop. */
static enum stop_cause stop_cause(const struct service *s, const char *reason)
{
	if (!reason)
		return STOP_OTHER;
	if (strncmp(reason, "idle", 4) == 0)
		return STOP_IDLE;
	if (strncmp(reason, "watchdog", 8) == 0)
		return STOP_WATCHDOG;
	if (strcmp(reason, "start timeout") == 0)
		return STOP_LIMIT;
	if (strcmp(reason, "stop requested") == 0 || strcmp(reason, "restart requested") == 0)
		return STOP_REQUEST;
	if (strcmp(reason, "removed") == 0)
		return s->manager->shutting_down ? STOP_SIGNAL : STOP_RELOAD;
	return STOP_OTHER;
}

void metrics_service_changed(struct service *s, int old, const char *reason, usec_t now)
{
	struct service_stats *st = &s->stats;

	switch (s->state) {
	case SERVICE_FROZEN:
		if (old == SERVICE_FREEZING)
			st->freezes++;
		break;
	case SERVICE_RUNNING:
		if (old == SERVICE_THAWING)
			histogram_observe(&st->thaw, now - s->freeze_started_at);
		break;
	case SERVICE_STOPPING:
		st->stops[stop_cause(s, reason)]++;
		break;
	case SERVICE_SUSPENDED:
		/* "failed starts" (StartLimitBurst=), or the trigger limit's
		 * "starts" (Accept=no) and "too many connections" (Accept=yes). */
		if (reason && strcmp(reason, "failed starts") == 0)
			st->suspended_start_limit++;
		else
			st->suspended_trigger_limit++;
		break;
	default:
		break;
	}
}

void metrics_reloaded(struct metrics *mt, int r)
{
	if (!mt)
		return;
	if (r < 0)
		mt->reloads_failed++;
	else
		mt->reloads_ok++;
}

/* --- the exposition ------------------------------------------------------- */

/* A label value: backslash, double quote and line feed escaped. */
static const char *label_escape(const char *in, char *buf, size_t len)
{
	size_t o = 0;

	for (; *in && o + 3 < len; in++) {
		if (*in == '\\' || *in == '"') {
			buf[o++] = '\\';
			buf[o++] = *in;
		} else if (*in == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else {
			buf[o++] = *in;
		}
	}
	buf[o] = '\0';
	return buf;
}

/* A service listed by the exposition: not one a reload replaced or removed
 * (its successor has the same name, and a series must be unique). */
static bool listed(const struct service *s)
{
	return !s->removing;
}

#define LABEL_MAX 1024

static void head(struct evbuffer *b, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family with one series per service: get() says whether s has one. */
typedef bool (*value_fn)(const struct service *s, uint64_t *ret);

static void per_service(struct evbuffer *b, const struct manager *m, const char *name,
			const char *type, const char *help, value_fn get)
{
	char esc[LABEL_MAX];
	uint64_t v;

	head(b, name, type, help);
	for (size_t i = 0; i < m->n_services; i++) {
		const struct service *s = m->services[i];

		if (listed(s) && get(s, &v))
			evbuffer_add_printf(b, "%s{service=\"%s\"} %" PRIu64 "\n", name,
					    label_escape(s->cfg->name, esc, sizeof(esc)), v);
	}
}

static void histogram_write(struct evbuffer *b, const char *name, const char *service,
			    const struct histogram *h)
{
	uint64_t cum = 0;

	for (unsigned i = 0; i < HISTOGRAM_BUCKETS; i++) {
		cum += h->bucket[i];
		evbuffer_add_printf(b, "%s_bucket{service=\"%s\",le=\"%s\"} %" PRIu64 "\n", name,
				    service, bucket_le[i], cum);
	}
	cum += h->bucket[HISTOGRAM_BUCKETS];
	evbuffer_add_printf(b,
			    "%s_bucket{service=\"%s\",le=\"+Inf\"} %" PRIu64 "\n"
			    "%s_sum{service=\"%s\"} %" PRIu64 ".%06" PRIu64 "\n"
			    "%s_count{service=\"%s\"} %" PRIu64 "\n",
			    name, service, cum, name, service, h->sum / USEC_PER_SEC,
			    h->sum % USEC_PER_SEC, name, service, h->count);
}

/* Which histogram of a service, NULL when it has none of that kind. */
typedef const struct histogram *(*histogram_fn)(const struct service *s);

static void histograms(struct evbuffer *b, const struct manager *m, const char *name,
		       const char *help, histogram_fn get)
{
	char esc[LABEL_MAX];

	head(b, name, "histogram", help);
	for (size_t i = 0; i < m->n_services; i++) {
		const struct service *s = m->services[i];
		const struct histogram *h = listed(s) ? get(s) : NULL;

		if (h)
			histogram_write(b, name, label_escape(s->cfg->name, esc, sizeof(esc)), h);
	}
}

static const struct histogram *get_cold_start(const struct service *s)
{
	return &s->stats.cold_start;
}

static const struct histogram *get_ready(const struct service *s)
{
	return s->cfg->service.type == SERVICE_TYPE_NOTIFY ? &s->stats.ready : NULL;
}

static const struct histogram *get_thaw(const struct service *s)
{
	return s->cfg->socket.accept ? NULL : &s->stats.thaw;
}

static bool get_starts(const struct service *s, uint64_t *ret)
{
	*ret = s->stats.starts;
	return true;
}

static bool get_failures(const struct service *s, uint64_t *ret)
{
	*ret = s->stats.start_failures;
	return true;
}

static bool get_freezes(const struct service *s, uint64_t *ret)
{
	*ret = s->stats.freezes;
	return !s->cfg->socket.accept;
}

static bool get_accepted(const struct service *s, uint64_t *ret)
{
	*ret = s->stats.accepted;
	return s->cfg->socket.accept;
}

/* Accept=yes: the sandboxes serving, one connection each; Accept=no: what
 * the last idle tick counted, while a container exists (the tick runs only
 * for containers with IdleFreezeSec= or IdleStopSec=: 0 for the others). */
static bool get_open(const struct service *s, uint64_t *ret)
{
	if (s->cfg->socket.accept)
		*ret = s->accept ? accept_n_serving(s->accept) : 0;
	else
		*ret = s->container ? s->idle.connections : 0;
	return true;
}

static bool get_queued(const struct service *s, uint64_t *ret)
{
	*ret = s->cfg->socket.accept || s->container ? s->idle.queued : 0;
	return true;
}

static void states(struct evbuffer *b, const struct manager *m)
{
	char esc[LABEL_MAX];

	head(b, "nsinetd_service_state", "gauge",
	     "1 for the state the service is in, 0 for the others.");
	for (size_t i = 0; i < m->n_services; i++) {
		const struct service *s = m->services[i];

		if (!listed(s))
			continue;
		label_escape(s->cfg->name, esc, sizeof(esc));
		for (unsigned st = 0; st < _SERVICE_STATE_MAX; st++)
			evbuffer_add_printf(
			    b, "nsinetd_service_state{service=\"%s\",state=\"%s\"} %d\n", esc,
			    service_state_to_string(st), s->state == (enum service_state)st);
	}
}

/* One series of a labelled family: the label's value, and where the
 * count is in struct service_stats. */
struct field {
	const char *label;
	size_t offset;
};
#define FIELD(label, member)                                                                       \
	{                                                                                          \
		label, offsetof(struct service_stats, member)                                      \
	}

enum which { ALL, ACCEPT_ONLY, SPARSE /* all, but zeros left out */ };

/* A family with one series per service and row of fields[]. */
static void per_label(struct evbuffer *b, const struct manager *m, const char *name,
		      const char *help, const char *label, const struct field *fields, size_t n,
		      enum which which)
{
	char esc[LABEL_MAX];

	head(b, name, "counter", help);
	for (size_t i = 0; i < m->n_services; i++) {
		const struct service *s = m->services[i];
		const char *st = (const char *)&s->stats;

		if (!listed(s) || (which == ACCEPT_ONLY && !s->cfg->socket.accept))
			continue;
		label_escape(s->cfg->name, esc, sizeof(esc));
		for (size_t k = 0; k < n; k++) {
			uint64_t v;

			memcpy(&v, st + fields[k].offset, sizeof(v));
			if (which != SPARSE || v)
				evbuffer_add_printf(b, "%s{service=\"%s\",%s=\"%s\"} %" PRIu64 "\n",
						    name, esc, label, fields[k].label, v);
		}
	}
}

static const struct field stop_fields[] = {
    FIELD("idle", stops[STOP_IDLE]),         FIELD("signal", stops[STOP_SIGNAL]),
    FIELD("watchdog", stops[STOP_WATCHDOG]), FIELD("limit", stops[STOP_LIMIT]),
    FIELD("request", stops[STOP_REQUEST]),   FIELD("reload", stops[STOP_RELOAD]),
    FIELD("other", stops[STOP_OTHER]),
};
static const struct field suspension_fields[] = {
    FIELD("start", suspended_start_limit),
    FIELD("trigger", suspended_trigger_limit),
};
static const struct field refused_fields[] = {
    FIELD("per_source", refused_per_source),
    FIELD("no_sandbox", refused_no_sandbox),
    FIELD("suspended", refused_suspended),
};
static const struct field pause_fields[] = {
    FIELD("max_connections", accept_full),
    FIELD("emfile", accept_emfile_pauses),
};

/* The cgroup of what runs: Accept=no the container's, Accept=yes the
 * service's (its sandboxes' parent); NULL when nothing runs. */
static const char *service_cgroup(const struct service *s, char *buf, size_t len)
{
	const struct manager *m = s->manager;

	if (!s->cfg->socket.accept)
		return s->container ? container_cgroup(s->container) : NULL;
	if (!m->cgroup_base_path || !s->accept || accept_n_serving(s->accept) == 0)
		return NULL;
	snprintf(buf, len, "%s/%s", m->cgroup_base_path, s->cfg->name);
	return buf;
}

static int read_u64(const char *dir, const char *file, uint64_t *ret)
{
	char path[PATH_MAX], buf[64];
	_cleanup_close_ int fd = -1;
	ssize_t n;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return n < 0 ? -errno : -ENODATA;
	buf[n] = '\0';
	*ret = strtoull(buf, NULL, 10);
	return 0;
}

/* cpu.stat (kept without the cpu controller) and memory.current (there
 * only with the memory controller): files of the kernel's, which a frozen
 * or stopped container does not have to answer. */
static void resources(struct evbuffer *b, const struct manager *m)
{
	char esc[LABEL_MAX], path[PATH_MAX];
	struct evbuffer *mem = evbuffer_new();

	head(b, "nsinetd_service_cpu_seconds_total", "counter",
	     "CPU time of what runs now (its cgroup's cpu.stat); starts again with each "
	     "Accept=no container.");
	if (mem)
		head(mem, "nsinetd_service_memory_bytes", "gauge",
		     "Memory of what runs now (its cgroup's memory.current).");
	for (size_t i = 0; i < m->n_services; i++) {
		const struct service *s = m->services[i];
		const char *cg = listed(s) ? service_cgroup(s, path, sizeof(path)) : NULL;
		uint64_t v;

		if (!cg)
			continue;
		label_escape(s->cfg->name, esc, sizeof(esc));
		if (cgroup_cpu_usage(cg, &v) >= 0)
			evbuffer_add_printf(b,
					    "nsinetd_service_cpu_seconds_total{service=\"%s\"} "
					    "%" PRIu64 ".%06" PRIu64 "\n",
					    esc, v / USEC_PER_SEC, v % USEC_PER_SEC);
		if (mem && read_u64(cg, "memory.current", &v) >= 0)
			evbuffer_add_printf(
			    mem, "nsinetd_service_memory_bytes{service=\"%s\"} %" PRIu64 "\n", esc,
			    v);
	}
	if (mem) {
		evbuffer_add_buffer(b, mem);
		evbuffer_free(mem);
	}
}

static unsigned open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	unsigned n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0; /* not the directory's own fd */
}

/* A counter with a result label of two values. */
static void result_pair(struct evbuffer *b, const char *name, const char *help, const char *l1,
			uint64_t v1, const char *l2, uint64_t v2)
{
	head(b, name, "counter", help);
	evbuffer_add_printf(b, "%s{result=\"%s\"} %" PRIu64 "\n%s{result=\"%s\"} %" PRIu64 "\n",
			    name, l1, v1, name, l2, v2);
}

static void daemon_metrics(struct evbuffer *b, const struct manager *m, const struct metrics *mt)
{
	static const struct metrics none; /* without --metrics (a test): zeros */
	struct rusage ru = {0};
	uint64_t pages = 0, configured = 0;
	char statm[128];
	FILE *f;

	if (!mt)
		mt = &none;
	for (size_t i = 0; i < m->n_services; i++)
		configured += listed(m->services[i]);
	head(b, "nsinetd_build_info", "gauge", "Always 1; the version is a label.");
	evbuffer_add_printf(b, "nsinetd_build_info{version=\"%s\"} 1\n", NSINETD_VERSION);
	head(b, "nsinetd_services", "gauge", "Services configured.");
	evbuffer_add_printf(b, "nsinetd_services %" PRIu64 "\n", configured);
	result_pair(b, "nsinetd_reloads_total", "Reloads (SIGHUP, nsinetctl reload) by result.",
		    "success", mt->reloads_ok, "failure", mt->reloads_failed);
	result_pair(b, "nsinetd_metrics_scrapes_total",
		    "Expositions served, and requests refused for too many clients.", "served",
		    mt->scrapes, "busy", mt->busy);
	head(b, "nsinetd_health_checks_total", "counter",
	     "GET /health/NAME requests answered (they never wake a service).");
	evbuffer_add_printf(b, "nsinetd_health_checks_total %" PRIu64 "\n", mt->health_checks);
	head(b, "nsinetd_metrics_render_seconds", "gauge",
	     "How long the previous exposition took to build (the loop waits for it).");
	evbuffer_add_printf(b, "nsinetd_metrics_render_seconds %" PRIu64 ".%06" PRIu64 "\n",
			    mt->last_render / USEC_PER_SEC, mt->last_render % USEC_PER_SEC);

	f = fopen("/proc/self/statm", "re");
	if (f) {
		if (fgets(statm, sizeof(statm), f))
			(void)sscanf(statm, "%*u %" SCNu64, &pages);
		fclose(f);
	}
	head(b, "process_resident_memory_bytes", "gauge", "The daemon's resident memory.");
	evbuffer_add_printf(b, "process_resident_memory_bytes %" PRIu64 "\n",
			    pages * (uint64_t)sysconf(_SC_PAGESIZE));
	head(b, "process_open_fds", "gauge", "The daemon's open file descriptors.");
	evbuffer_add_printf(b, "process_open_fds %u\n", open_fds());
	(void)getrusage(RUSAGE_SELF, &ru);
	head(b, "process_cpu_seconds_total", "counter", "The daemon's CPU time, user and system.");
	evbuffer_add_printf(b, "process_cpu_seconds_total %.6f\n",
			    (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
				(double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
}

int metrics_render(struct manager *m, struct evbuffer *out)
{
	struct field steps[_STEP_MAX];
	struct evbuffer *b = evbuffer_new();
	int r = 0;

	if (!b)
		return -ENOMEM;
	for (int k = 0; k < _STEP_MAX; k++)
		steps[k] = (struct field){activator_step_name(k),
					  offsetof(struct service_stats, setup_failures) +
					      (size_t)k * sizeof(uint64_t)};
	daemon_metrics(b, m, m->metrics);
	states(b, m);
	histograms(b, m, "nsinetd_cold_start_seconds",
		   "From the connection (clone or release; Accept=yes: the accept, a sandbox's "
		   "spawn) to the payload's exec.",
		   get_cold_start);
	histograms(b, m, "nsinetd_cold_start_ready_seconds",
		   "Type=notify: from the connection to READY=1.", get_ready);
	histograms(b, m, "nsinetd_thaw_seconds", "From thawing to running.", get_thaw);
	per_service(b, m, "nsinetd_starts_total", "counter",
		    "Containers started (Accept=yes: sandboxes).", get_starts);
	per_service(b, m, "nsinetd_start_failures_total", "counter", "Setups or runs that failed.",
		    get_failures);
	per_label(b, m, "nsinetd_setup_failures_total", "Failed setups, by the step that failed.",
		  "step", steps, _STEP_MAX, SPARSE);
	per_service(b, m, "nsinetd_freezes_total", "counter", "Containers frozen.", get_freezes);
	per_label(b, m, "nsinetd_stops_total", "Containers stopped, by why.", "reason", stop_fields,
		  ELEMENTSOF(stop_fields), ALL);
	per_label(b, m, "nsinetd_suspensions_total",
		  "Suspensions by StartLimitBurst= (start) and TriggerLimitBurst= (trigger).",
		  "limit", suspension_fields, ELEMENTSOF(suspension_fields), ALL);
	per_service(b, m, "nsinetd_connections", "gauge",
		    "Open connections (Accept=no: at the last idle tick).", get_open);
	per_service(b, m, "nsinetd_accept_queue_length", "gauge",
		    "Connections waiting in the listeners' queues at the last idle tick.",
		    get_queued);
	per_service(b, m, "nsinetd_connections_accepted_total", "counter",
		    "Accept=yes: connections accepted.", get_accepted);
	per_label(b, m, "nsinetd_connections_refused_total",
		  "Accept=yes: connections accepted and closed, by why.", "reason", refused_fields,
		  ELEMENTSOF(refused_fields), ACCEPT_ONLY);
	per_label(b, m, "nsinetd_accept_pauses_total",
		  "Accept=yes: accepting paused at MaxConnections= (clients wait in the backlog) "
		  "or by EMFILE and friends.",
		  "reason", pause_fields, ELEMENTSOF(pause_fields), ACCEPT_ONLY);
	resources(b, m);
	if (evbuffer_get_length(b) == 0 || evbuffer_add_buffer(out, b) < 0)
		r = -ENOMEM;
	evbuffer_free(b);
	return r;
}

/* --- the server ----------------------------------------------------------- */

static void client_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	struct metrics *mt = arg;

	for (size_t i = 0; i < METRICS_CLIENTS_MAX; i++)
		if (mt->clients[i] == evcon)
			mt->clients[i] = NULL;
}

/* A slot for evcon (it may have one already), or false. */
static bool client_admit(struct metrics *mt, struct evhttp_connection *evcon)
{
	size_t free_slot = METRICS_CLIENTS_MAX;

	for (size_t i = 0; i < METRICS_CLIENTS_MAX; i++) {
		if (mt->clients[i] == evcon)
			return true;
		if (!mt->clients[i] && free_slot == METRICS_CLIENTS_MAX)
			free_slot = i;
	}
	if (free_slot == METRICS_CLIENTS_MAX)
		return false;
	mt->clients[free_slot] = evcon;
	evhttp_connection_set_closecb(evcon, client_closed_cb, mt);
	return true;
}

/* GET /health/NAME: 200, 503 or 404 with one line, what --agent would say
 * (health.h). Cheap and small: no client slot is taken. */
static void health_reply(struct metrics *mt, struct evhttp_request *req, const char *escaped)
{
	struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	_cleanup_free_ char *name = NULL;
	struct evbuffer *body;
	const char *why = NULL;
	enum health h;
	size_t size = 0;
	bool valid;
	int status;

	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(headers, "Allow", "GET, HEAD");
		evhttp_send_error(req, 405, "Method Not Allowed");
		return;
	}
	name = evhttp_uridecode(escaped, 0, &size);
	/* A %00 would cut the name short: no service has one. */
	valid = name && strlen(name) == size && service_name_is_valid(name);
	h = health_of(valid ? health_find(mt->m, name) : NULL, &why);
	status = health_http_status(h);
	mt->health_checks++;
	body = evbuffer_new();
	if (!body) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	if (cmd == EVHTTP_REQ_GET)
		evbuffer_add_printf(body, "%s%s%s\n", health_to_string(h), why ? " # " : "",
				    why ? why : "");
	evhttp_add_header(headers, "Content-Type", "text/plain; charset=utf-8");
	evhttp_add_header(headers, "Cache-Control", "no-store");
	evhttp_send_reply(req, status,
			  status == 200   ? "OK"
			  : status == 404 ? "Not Found"
					  : "Service Unavailable",
			  body);
	evbuffer_free(body);
}

static void request_cb(struct evhttp_request *req, void *arg)
{
	struct metrics *mt = arg;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
	struct evbuffer *body;
	char len[32];
	usec_t t0;

	if (path && strncmp(path, "/health/", 8) == 0) {
		health_reply(mt, req, path + 8);
		return;
	}
	if (!path || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(headers, "Allow", "GET, HEAD");
		evhttp_send_error(req, 405, "Method Not Allowed");
		return;
	}
	if (!client_admit(mt, evhttp_request_get_connection(req))) {
		mt->busy++;
		evhttp_add_header(headers, "Retry-After", "1");
		evhttp_send_error(req, HTTP_SERVUNAVAIL, NULL);
		return;
	}
	body = evbuffer_new();
	t0 = now_usec();
	if (!body || metrics_render(mt->m, body) < 0) {
		if (body)
			evbuffer_free(body);
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	mt->last_render = now_usec() - t0;
	mt->scrapes++;
	evhttp_add_header(headers, "Content-Type", METRICS_CONTENT_TYPE);
	if (cmd == EVHTTP_REQ_HEAD) {
		/* The length of what a GET would get; no body. */
		snprintf(len, sizeof(len), "%zu", evbuffer_get_length(body));
		evhttp_add_header(headers, "Content-Length", len);
		evbuffer_drain(body, evbuffer_get_length(body));
	}
	evhttp_send_reply(req, HTTP_OK, "OK", body);
	evbuffer_free(body);
}

int metrics_new(struct manager *m, const char *address, struct metrics **ret)
{
	struct metrics *mt;
	int fd = -1, r;

	r = tcp_server_bind("--metrics", address, 16, &fd);
	if (r < 0)
		return r;
	mt = calloc(1, sizeof(*mt));
	if (mt)
		mt->http = evhttp_new(m->base);
	if (!mt || !mt->http) {
		free(mt);
		close(fd);
		return log_errno(LOG_ERR, -ENOMEM, "--metrics: out of memory");
	}
	mt->m = m;
	evhttp_set_max_headers_size(mt->http, METRICS_HEADERS_MAX);
	evhttp_set_max_body_size(mt->http, METRICS_BODY_MAX);
	evhttp_set_timeout(mt->http, METRICS_TIMEOUT_SEC);
	/* Every method reaches request_cb, which answers 405 but to GET and HEAD. */
	evhttp_set_allowed_methods(mt->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
						 EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
						 EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH |
						 EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT);
	evhttp_set_gencb(mt->http, request_cb, mt);
	if (!evhttp_accept_socket_with_handle(mt->http, fd)) {
		close(fd);
		metrics_free(mt);
		return log_errno(LOG_ERR, -ENOMEM, "--metrics %s: cannot serve", address);
	}
	log_info("metrics at http://%s/metrics", address);
	*ret = mt;
	return 0;
}

struct metrics *metrics_free(struct metrics *mt)
{
	if (!mt)
		return NULL;
	/* Closes the listener and the connections (client_closed_cb). */
	if (mt->http)
		evhttp_free(mt->http);
	free(mt);
	return NULL;
}
