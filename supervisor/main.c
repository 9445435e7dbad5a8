/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* nsinetd: an inetd for containers. Thin main() around run(). */
#include <errno.h>
#include <fcntl.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "config-build.h"
#include "activator/cgroup.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "supervisor/boot.h"
#include "supervisor/config.h"
#include "supervisor/hardening.h"
#include "supervisor/listener.h"
#include "supervisor/rootdir.h"
#include "supervisor/control.h"
#include "supervisor/image.h"
#include "supervisor/manager.h"
#include "supervisor/metrics.h"
#include "supervisor/network.h"
#include "supervisor/output.h"
#include "supervisor/agent.h"
#include "supervisor/watch.h"
#include "supervisor/machined.h"
#include "supervisor/reexec.h"
#include "supervisor/spares.h"

struct options {
	const char *config_dir;
	const char *runtime_dir;
	const char *state_dir; /* Image='s unpacked trees */
	const char *control_group;
	const char *metrics; /* ADDRESS:PORT */
	const char *agent;   /* ADDRESS:PORT */
	bool watch;
	int deserialize; /* --deserialize=FD: a re-exec's state (reexec.h), or -1 */
	bool check;
	bool no_register; /* --register=no: nothing goes to systemd-machined */
	unsigned spares;  /* --spares=N */
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: nsinetd [OPTION]...\n"
		"Socket-activated containers: holds the listening sockets of the services in\n"
		"CONFIG_DIR/*.conf and starts a service's container on its first connection.\n"
		"\n"
		"  -c, --config-dir DIR   service files (default %s)\n"
		"  -r, --runtime-dir DIR  runtime state (default %s)\n"
		"      --state-dir DIR    persistent state: unpacked images (default %s)\n"
		"  -l, --log-level LEVEL  err, warning, notice, info (default), debug\n"
		"      --control-group GROUP  members may use nsinetctl's read-only calls\n"
		"      --metrics ADDRESS:PORT  serve Prometheus metrics at /metrics there\n"
		"                         (and /health/NAME)\n"
		"      --agent ADDRESS:PORT    answer HAProxy's agent-check there\n"
		"      --watch            reload when the configuration directory changes\n"
		"      --register=BOOL    register Boot=yes containers with systemd-machined,\n"
		"                         where it runs (default yes)\n"
		"      --spares=N         spare containers kept ready for cold starts, 0-%d\n"
		"                         (default %d; 0: each start clones)\n"
		"      --check            validate the configuration and exit\n"
		"  -h, --help             this text\n"
		"      --version          the version\n"
		"\n"
		"Signals: SIGHUP reloads, SIGUSR2 re-executes the daemon in place (its\n"
		"containers and sockets stay), SIGTERM or SIGINT stops every container and exits.\n"
		"See nsinetd(8) and nsinetd.conf(5).\n",
		CONFIG_DIR_DEFAULT, RUNTIME_DIR_DEFAULT, STATE_DIR_DEFAULT, SPARES_MAX,
		SPARES_DEFAULT);
}

static int parse_argv(int argc, char **argv, struct options *o)
{
	enum {
		ARG_CHECK = 0x100,
		ARG_VERSION,
		ARG_CONTROL_GROUP,
		ARG_METRICS,
		ARG_AGENT,
		ARG_WATCH,
		ARG_STATE_DIR,
		ARG_DESERIALIZE,
		ARG_REGISTER,
		ARG_SPARES
	};
	static const struct option longopts[] = {
	    {"config-dir", required_argument, NULL, 'c'},
	    {"runtime-dir", required_argument, NULL, 'r'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"check", no_argument, NULL, ARG_CHECK},
	    {"control-group", required_argument, NULL, ARG_CONTROL_GROUP},
	    {"metrics", required_argument, NULL, ARG_METRICS},
	    {"agent", required_argument, NULL, ARG_AGENT},
	    {"watch", no_argument, NULL, ARG_WATCH},
	    {"state-dir", required_argument, NULL, ARG_STATE_DIR},
	    {"deserialize", required_argument, NULL, ARG_DESERIALIZE},
	    {"register", required_argument, NULL, ARG_REGISTER},
	    {"spares", required_argument, NULL, ARG_SPARES},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, ARG_VERSION},
	    {0},
	};
	int c, level;

	while ((c = getopt_long(argc, argv, "c:r:l:h", longopts, NULL)) >= 0) {
		switch (c) {
		case 'c':
			o->config_dir = optarg;
			break;
		case 'r':
			o->runtime_dir = optarg;
			break;
		case 'l':
			level = log_level_from_string(optarg);
			if (level < 0) {
				fprintf(stderr, "nsinetd: invalid log level '%s'\n", optarg);
				return -EINVAL;
			}
			log_set_level(level);
			break;
		case ARG_CHECK:
			o->check = true;
			break;
		case ARG_CONTROL_GROUP:
			o->control_group = optarg;
			break;
		case ARG_METRICS:
			o->metrics = optarg;
			break;
		case ARG_AGENT:
			o->agent = optarg;
			break;
		case ARG_WATCH:
			o->watch = true;
			break;
		case ARG_STATE_DIR:
			o->state_dir = optarg;
			break;
		case ARG_DESERIALIZE: {
			/* Only a re-exec passes it (reexec.c). */
			char *end;
			long fd = strtol(optarg, &end, 10);

			if (*end || end == optarg || fd < 3 || fd > 65535) {
				fprintf(stderr,
					"nsinetd: --deserialize=%s: expected the number of an fd "
					"above 2 (a re-exec passes it)\n",
					optarg);
				return -EINVAL;
			}
			o->deserialize = (int)fd;
			break;
		}
		case ARG_REGISTER: {
			bool b;

			if (parse_boolean(optarg, &b) < 0) {
				fprintf(stderr,
					"nsinetd: --register=%s: expected yes or no (a boolean)\n",
					optarg);
				return -EINVAL;
			}
			o->no_register = !b;
			break;
		}
		case ARG_SPARES: {
			char *end;
			long n = strtol(optarg, &end, 10);

			if (*end || end == optarg || n < 0 || n > SPARES_MAX) {
				fprintf(stderr,
					"nsinetd: --spares=%s: expected a number from 0 to %d\n",
					optarg, SPARES_MAX);
				return -EINVAL;
			}
			o->spares = (unsigned)n;
			break;
		}
		case 'h':
			usage(stdout);
			exit(EXIT_SUCCESS);
		case ARG_VERSION:
			printf("nsinetd %s%s\n", NSINETD_VERSION,
			       NSINETD_BENCH_NO_HARDENING
				   ? " (benchmark build: NSINETD_BENCH_NO_HARDENING turns the "
				     "sandbox off)"
				   : "");
			exit(EXIT_SUCCESS);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "nsinetd: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (o->runtime_dir && o->runtime_dir[0] != '/') {
		fprintf(stderr, "nsinetd: --runtime-dir must be an absolute path\n");
		return -EINVAL;
	}
	if (!path_is_absolute_normalized(o->state_dir)) {
		fprintf(stderr, "nsinetd: --state-dir must be an absolute, normalized path\n");
		return -EINVAL;
	}
	return 0;
}

static void check_boot_say_cb(const char *line, void *userdata)
{
	printf("%s: %s\n", (const char *)userdata, line);
}

/* --check: a Boot=yes tree whose socket units miss the service's
 * addresses: a warning, as the start logs it. */
static void check_boot(const struct service_config *c)
{
	_cleanup_close_ int root_fd = -1;

	if (!c->container.boot)
		return;
	root_fd = open(c->container.directory, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root_fd >= 0)
		(void)boot_check_socket_units(c, root_fd, check_boot_say_cb, c->path);
}

/* --check: the host paths of c that users other than root could redirect
 * (Directory=, unix sockets' directories), each an error. Returns 0 or the
 * last error. */
static int check_paths(const struct service_config *c)
{
	char why[ROOTDIR_WHY_MAX], what[LISTENER_WHAT_MAX];
	int r = 0, k;

	if (c->container.directory &&
	    ((k = rootdir_open(c->container.directory, NULL, why, sizeof(why))) < 0 ||
	     (!c->container.read_only &&
	      (k = rootdir_check_private(c->container.directory, why, sizeof(why))) < 0))) {
		fprintf(stderr, "%s: Directory=%s: %s: %s\n", c->path, c->container.directory, why,
			strerror(-k));
		r = k;
	}
	for (size_t j = 0; j < c->socket.n_listen; j++) {
		const struct listen_config *lc = &c->socket.listen[j];

		if ((k = listener_check(lc, what, sizeof(what))) < 0) {
			fprintf(stderr, "%s:%u: %s=%s: cannot %s: %s\n", c->path, lc->line,
				listen_type_to_string(lc->type), lc->text, what, strerror(-k));
			r = k;
		}
	}
	return r;
}

/* --check: every error of every file, then one verdict line. */
static int check(const char *dir)
{
	struct config_errors errs = {0};
	struct service_config **cfgs = NULL;
	size_t n = 0;
	int r;

	r = config_load_dir(dir, &errs, &cfgs, &n);
	for (size_t i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.messages[i]);
	if (r < 0 && errs.n == 0)
		fprintf(stderr, "%s: %s\n", dir, strerror(-r));
	/* Valid, but not everything is enforceable on this host: say so. */
	for (size_t i = 0; i < n; i++) {
		(void)hardening_check(cfgs[i], stdout);
		check_boot(cfgs[i]);
	}
	/* What an image says that the file does not match. */
	for (size_t i = 0; i < n; i++)
		if (image_check(cfgs[i], stdout, stderr) < 0)
			r = -EINVAL;
	/* Unsafe paths are errors, as at run time. */
	for (size_t i = 0; i < n; i++)
		if (check_paths(cfgs[i]) < 0)
			r = -EPERM;
	/* What this host cannot do at all is an error, as at run time. */
	{
		struct cgroup_root root = {0};
		bool have_cgroup2 = cgroup_root_find(&root) >= 0;

		cgroup_root_done(&root);
		for (size_t i = 0; i < n; i++) {
			if (cfgs[i]->service.idle_freeze && !have_cgroup2) {
				fprintf(stderr,
					"%s: IdleFreezeSec= needs cgroup v2 (cgroup.freeze), and "
					"there is none mounted here\n",
					cfgs[i]->path);
				r = -EOPNOTSUPP;
			}
		}
	}
	config_free_array(cfgs, n);
	if (r < 0 || errs.n > 0) {
		fprintf(stderr, "configuration has errors (%zu)\n", errs.n ? errs.n : 1);
		config_errors_clear(&errs);
		return EXIT_FAILURE;
	}
	printf("configuration OK (%zu service%s)\n", n, n == 1 ? "" : "s");
	return EXIT_SUCCESS;
}

static void libevent_log_cb(int severity, const char *msg)
{
	log_msg(severity >= EVENT_LOG_ERR ? LOG_ERR : LOG_DEBUG, "libevent: %s", msg);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct manager *m = arg;

	if (sig == SIGHUP) {
		(void)manager_reload(m, NULL);
		return;
	}
	if (sig == SIGUSR2) {
		int r;

		log_info("received SIGUSR2, re-executing");
		/* Returns only on failure, which is logged. */
		if ((r = reexec_request(m, NULL, NULL)) < 0)
			log_errno(LOG_WARNING, r, "re-exec not done");
		return;
	}
	log_info("received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	manager_shutdown(m);
}

/* What an earlier, killed daemon left: deleted; not the veth pairs of the
 * containers a re-exec handed over (st, empty after a clean start). */
static void remove_stale_interfaces(struct manager *m, const struct state *st)
{
	_cleanup_free_ int *keep = calloc(st->n_services + 1, sizeof(int));
	size_t n_keep = 0;

	if (!keep) {
		log_error("out of memory: stale interfaces are not looked for");
		return;
	}
	for (size_t i = 0; i < st->n_services; i++)
		if (st->services[i].veth_ifindex > 0)
			keep[n_keep++] = st->services[i].veth_ifindex;
	network_remove_stale(m, keep, n_keep);
}

static int run(int argc, char **argv)
{
	struct options o = {.config_dir = CONFIG_DIR_DEFAULT,
			    .runtime_dir = RUNTIME_DIR_DEFAULT,
			    .state_dir = STATE_DIR_DEFAULT,
			    .deserialize = -1,
			    .spares = SPARES_DEFAULT};
	struct agent *agent = NULL;
	struct watch *watch = NULL;
	char *control_path = NULL;
	struct event_base *base = NULL;
	struct event *sigs[4] = {NULL};
	const int signums[4] = {SIGTERM, SIGINT, SIGHUP, SIGUSR2};
	struct manager *m = NULL;
	struct machined *md = NULL;
	struct reexec *rx = NULL;
	struct state st = {0};
	bool clean_start = false;
	sigset_t held;
	int r;

	log_init("nsinetd");
	r = parse_argv(argc, argv, &o);
	if (r < 0)
		return EXIT_FAILURE;
	if (o.check)
		return check(o.config_dir);
	/* Before anything opens an fd: the fds a re-exec handed over are
	 * ours, any other is closed. */
	if (o.deserialize >= 0)
		(void)reexec_read(o.deserialize, &st, &clean_start);
	r = reexec_new(argc, argv, &rx);
	if (r < 0)
		log_errno(LOG_WARNING, r, "cannot find this daemon's binary: no re-exec");

	/* A client that goes away must not kill the daemon. */
	signal(SIGPIPE, SIG_IGN);
	/* Containers' output goes where the daemon's own does: to the journal
	 * (a stream per service) when our stderr is the journal. */
	if (log_to_journal())
		output_set_journal(output_journal_open, NULL);
	event_set_log_callback(libevent_log_cb);
	base = event_base_new();
	if (!base || event_base_priority_init(base, EVENT_PRIORITIES) < 0) {
		log_error("cannot create the event loop");
		return EXIT_FAILURE;
	}
	r = manager_new(base, o.config_dir, o.runtime_dir, &m);
	if (r < 0)
		goto out;
	m->reexec = TAKE_PTR(rx);
	r = machined_new(base, !o.no_register, &md);
	if (r < 0) {
		log_errno(LOG_ERR, r, "systemd-machined: out of memory");
		goto out;
	}
	m->machined = md;
	if (o.deserialize >= 0)
		reexec_take_listeners(m, &st, clean_start);
	remove_stale_interfaces(m, &st);
	if (asprintf(&control_path, "%s/control", o.runtime_dir) < 0) {
		r = log_errno(LOG_ERR, -ENOMEM, "control: out of memory");
		goto out;
	}
	r = control_new(m, control_path, o.control_group, &m->control);
	if (r < 0)
		goto out;
	if (o.metrics && (r = metrics_new(m, o.metrics, &m->metrics)) < 0)
		goto out;
	if (o.agent && (r = agent_new(m, o.agent, &agent)) < 0)
		goto out;
	for (size_t i = 0; i < ELEMENTSOF(sigs); i++) {
		sigs[i] = evsignal_new(base, signums[i], signal_cb, m);
		if (!sigs[i] || evsignal_add(sigs[i], NULL) < 0) {
			log_error("cannot watch signal %d", signums[i]);
			r = -ENOMEM;
			goto out;
		}
	}
	/* A re-exec held these across the exec (reexec.c); pending ones
	 * now reach their handlers. */
	sigemptyset(&held);
	for (size_t i = 0; i < ELEMENTSOF(signums); i++)
		sigaddset(&held, signums[i]);
	sigprocmask(SIG_UNBLOCK, &held, NULL);
	manager_images_init(m, o.state_dir);
	r = manager_load(m);
	if (r < 0)
		goto out;
	/* Made from the loop, after this turn's work. */
	m->spares_want = o.spares;
	m->spares = spares_new(m, o.spares);
	if (o.deserialize >= 0)
		reexec_adopt(m, &st);
	/* After the first load: what changes from now on is a reload. */
	if (o.watch && (r = watch_new(m, &watch)) < 0)
		goto out;
	sd_notify(0, "READY=1");
	manager_notify_status(m);

	if (event_base_dispatch(base) < 0) {
		log_error("event loop failed");
		r = -EIO;
	}
	log_info("stopped");
out:
	watch_free(watch);
	agent_free(agent);
	if (m) {
		m->control = control_free(m->control);
		m->metrics = metrics_free(m->metrics);
		m->reexec = reexec_free(m->reexec);
	}
	reexec_free(rx);
	state_done(&st);
	free(control_path);
	manager_free(m);
	machined_free(md); /* after the services, which let go of their machines */
	for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
		if (sigs[i])
			event_free(sigs[i]);
	if (base)
		event_base_free(base);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
	return run(argc, argv);
}
