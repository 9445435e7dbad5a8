/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nsinetctl: the client of nsinetd's control socket (supervisor/control.c).
 * docs/nsinetctl.1.md is its manual. Exit codes as systemctl's: 0 done,
 * 1 failed, 2 usage, 4 no such service or not allowed.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#include "config-build.h"
#include "ctl/json.h"
#include "ctl/nsinetctl.h"
#include "ctl/value.h"

#define DESTINATION "org.nsinetd1"
#define PATH        "/org/nsinetd1"
#define INTERFACE   "org.nsinetd1.Manager"

#define EXIT_USAGE   2
#define EXIT_NOTHERE 4

struct ctl ctl = {.runtime_dir = RUNTIME_DIR_DEFAULT, .lines = 10};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: nsinetctl [OPTION]... COMMAND [NAME] [ARG]...\n"
		"Sees into and steers a running nsinetd.\n"
		"\n"
		"Commands:\n"
		"  list                 one line per service\n"
		"  status NAME          state, listeners, processes, limits, history, output\n"
		"  show NAME            the effective configuration, every key\n"
		"  start NAME           start the container now (waits until it runs)\n"
		"  stop NAME            stop the container (waits until it is gone)\n"
		"  restart NAME         stop, then start\n"
		"  freeze NAME          freeze the running container\n"
		"  thaw NAME            thaw a frozen container\n"
		"  drain NAME           tell load balancers to send no new connections\n"
		"  undrain NAME         end a drain\n"
		"  reload               reread the configuration; prints what changed\n"
		"  shell NAME [CMD...]  run CMD (default: a shell) inside the container\n"
		"  logs NAME            the container's recent output\n"
		"  events [NAME]        every state change as it happens\n"
		"  daemon-reexec        nsinetd executes its binary again, in place: sockets\n"
		"                       and containers stay (waits for the new one)\n"
		"\n"
		"Options:\n"
		"  -r, --runtime-dir DIR  nsinetd's runtime directory (default %s)\n"
		"  -j, --json[=MODE]      one JSON document: pretty, short (default: pretty on a\n"
		"                         terminal, else short)\n"
		"  -f, --follow           logs: keep printing new lines\n"
		"  -n, --lines N          logs: how many lines (default 10)\n"
		"  -t, --timeout SEC      how long a call may wait (default 120)\n"
		"  -h, --help             this text\n"
		"      --version          the version\n"
		"\n"
		"Exit status: 0 done, 1 failed, 2 usage, 4 no such service or not allowed.\n"
		"See nsinetctl(1).\n",
		RUNTIME_DIR_DEFAULT);
}

/* --- the connection and errors ----------------------------------------- */

static int connect_bus(sd_bus **ret, bool quiet)
{
	sd_bus *bus = NULL;
	char *address = NULL;
	int r;

	if (asprintf(&address, "unix:path=%s/control", ctl.runtime_dir) < 0)
		return -ENOMEM;
	if ((r = sd_bus_new(&bus)) < 0 || (r = sd_bus_set_address(bus, address)) < 0 ||
	    (r = sd_bus_negotiate_fds(bus, 1)) < 0 || (r = sd_bus_start(bus)) < 0) {
		if (!quiet)
			fprintf(
			    stderr,
			    "nsinetctl: cannot connect to %s/control: %s (is nsinetd running with "
			    "--runtime-dir=%s?)\n",
			    ctl.runtime_dir, strerror(-r), ctl.runtime_dir);
		sd_bus_unref(bus);
		free(address);
		return r;
	}
	free(address);
	*ret = bus;
	return 0;
}

int ctl_connect(sd_bus **ret)
{
	return connect_bus(ret, false);
}

int ctl_connect_quiet(sd_bus **ret)
{
	return connect_bus(ret, true);
}

/* The exit status for a failed call, after saying why (and, with --json,
 * a document that says it too). */
int ctl_error(const sd_bus_error *e, int r)
{
	const char *name = e && e->name ? e->name : "";
	const char *msg = e && e->message ? e->message : strerror(-r);

	fprintf(stderr, "nsinetctl: %s\n", msg);
	if (ctl.json) {
		struct json j;

		json_init(&j, stdout, ctl.json_pretty);
		json_object_begin(&j);
		json_field_string(&j, "error", *name ? name : "org.nsinetd1.Error.Failed");
		json_field_string(&j, "message", msg);
		json_object_end(&j);
		json_end(&j);
	}
	if (strcmp(name, "org.nsinetd1.Error.NoSuchService") == 0 ||
	    strcmp(name, "org.freedesktop.DBus.Error.AccessDenied") == 0)
		return EXIT_NOTHERE;
	return EXIT_FAILURE;
}

int ctl_call(sd_bus *bus, const char *method, sd_bus_message **reply, const char *types, ...)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *m = NULL;
	va_list ap;
	int r;

	r = sd_bus_message_new_method_call(bus, &m, NULL, PATH, INTERFACE, method);
	if (r >= 0 && types) {
		va_start(ap, types);
		r = sd_bus_message_appendv(m, types, ap);
		va_end(ap);
	}
	if (r >= 0)
		r = sd_bus_call(bus, m, ctl.timeout, &e, reply);
	sd_bus_message_unref(m);
	if (r < 0) {
		r = ctl_error(&e, r);
		sd_bus_error_free(&e);
		return r;
	}
	return 0;
}

/* --- rendering helpers ------------------------------------------------- */

/* Text from the container (a command line) on the terminal: no control
 * characters, no escape sequences. */
void ctl_print_escaped(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
}

char *ctl_format_time(char *buf, size_t len, uint64_t realtime_usec)
{
	time_t t = (time_t)(realtime_usec / 1000000);
	struct tm tm;

	if (realtime_usec == 0 || !localtime_r(&t, &tm) ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, len, "-");
	return buf;
}

char *ctl_format_span(char *buf, size_t len, uint64_t usec)
{
	if (usec == UINT64_MAX)
		snprintf(buf, len, "infinity");
	else if (usec < 1000)
		snprintf(buf, len, "%lluus", (unsigned long long)usec);
	else if (usec < 1000000)
		snprintf(buf, len, "%.1fms", (double)usec / 1000.0);
	else if (usec < 60 * 1000000ULL)
		snprintf(buf, len, "%.1fs", (double)usec / 1e6);
	else if (usec < 3600 * 1000000ULL)
		snprintf(buf, len, "%llumin %llus", (unsigned long long)(usec / 60000000),
			 (unsigned long long)(usec / 1000000 % 60));
	else
		snprintf(buf, len, "%lluh %llumin", (unsigned long long)(usec / 3600000000ULL),
			 (unsigned long long)(usec / 60000000 % 60));
	return buf;
}

uint64_t ctl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* "5.2s ago" */
char *ctl_format_ago(char *buf, size_t len, uint64_t realtime_usec)
{
	uint64_t now = ctl_now();
	char span[32];

	if (realtime_usec == 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%s ago",
			 ctl_format_span(span, sizeof(span),
					 now > realtime_usec ? now - realtime_usec : 0));
	return buf;
}

static void print_json(const struct value *v)
{
	struct json j;

	json_init(&j, stdout, ctl.json_pretty);
	value_json(v, &j);
	json_end(&j);
}

/* --- list ------------------------------------------------------------- */

static int cmd_list(sd_bus *bus, int argc, char **argv)
{
	sd_bus_message *reply = NULL;
	struct value v = {0};
	int r;

	if (argc != 1) {
		fprintf(stderr, "nsinetctl: list takes no argument\n");
		return EXIT_USAGE;
	}
	if ((r = ctl_call(bus, "ListServices", &reply, NULL)) > 0)
		return r;
	r = value_read(reply, &v);
	sd_bus_message_unref(reply);
	if (r < 0) {
		fprintf(stderr, "nsinetctl: cannot read the reply: %s\n", strerror(-r));
		return EXIT_FAILURE;
	}
	if (ctl.json) {
		print_json(&v);
	} else {
		printf("%-16s %-22s %-6s %-10s %-6s %-9s %7s %5s %8s %6s %10s %9s\n", "NAME",
		       "LISTEN", "MODE", "STATE", "HEALTH", "SINCE", "PID", "CONNS", "ACCEPTED",
		       "STARTS", "LAST-START", "IDLE");
		for (size_t i = 0; i < v.n; i++) {
			const struct value *s = &v.items[i], *listen = value_get(s, "Listen");
			char since[32], last[32], idle[32], pid[16], listens[128] = "";
			uint64_t now = ctl_now(), t;

			for (size_t k = 0; listen && k < listen->n; k++)
				snprintf(listens + strlen(listens),
					 sizeof(listens) - strlen(listens), "%s%s", k ? "," : "",
					 listen->items[k].s);
			t = value_uint(s, "StateSince");
			ctl_format_span(since, sizeof(since), now > t ? now - t : 0);
			if (value_uint(s, "LastColdStartUSec"))
				ctl_format_span(last, sizeof(last),
						value_uint(s, "LastColdStartUSec"));
			else
				snprintf(last, sizeof(last), "-");
			t = value_uint(s, "IdleSince");
			if (t)
				ctl_format_span(idle, sizeof(idle), now > t ? now - t : 0);
			else
				snprintf(idle, sizeof(idle), "-");
			if (value_uint(s, "MainPID"))
				snprintf(pid, sizeof(pid), "%llu",
					 (unsigned long long)value_uint(s, "MainPID"));
			else
				snprintf(pid, sizeof(pid), "-");
			printf("%-16s %-22s %-6s %-10s %-6s %-9s %7s %5llu %8llu %6llu %10s %9s\n",
			       value_str(s, "Name"), listens,
			       value_bool(s, "Accept") ? "accept" : "single", value_str(s, "State"),
			       value_str(s, "Health"), since, pid,
			       (unsigned long long)(value_bool(s, "Accept")
							? value_uint(s, "Sandboxes")
							: value_uint(s, "Connections")),
			       (unsigned long long)value_uint(s, "Accepted"),
			       (unsigned long long)value_uint(s, "ColdStarts"), last, idle);
		}
	}
	value_done(&v);
	return EXIT_SUCCESS;
}

/* --- start, stop, restart, freeze, thaw -------------------------------- */

static int cmd_op(sd_bus *bus, int argc, char **argv)
{
	static const struct {
		const char *verb, *method;
	} ops[] = {
	    {"start", "Start"}, {"stop", "Stop"},   {"restart", "Restart"}, {"freeze", "Freeze"},
	    {"thaw", "Thaw"},   {"drain", "Drain"}, {"undrain", "Undrain"},
	};
	sd_bus_message *reply = NULL;
	const char *method = NULL, *state = NULL;
	int r;

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(argv[0], ops[i].verb) == 0)
			method = ops[i].method;
	if (argc != 2) {
		fprintf(stderr, "nsinetctl: %s takes one service name\n", argv[0]);
		return EXIT_USAGE;
	}
	if ((r = ctl_call(bus, method, &reply, "s", argv[1])) > 0)
		return r;
	if (sd_bus_message_read(reply, "s", &state) < 0)
		state = "";
	if (ctl.json) {
		struct json j;

		json_init(&j, stdout, ctl.json_pretty);
		json_object_begin(&j);
		json_field_string(&j, "Name", argv[1]);
		/* Drain and Undrain answer the health, the others the state. */
		json_field_string(&j, strstr(method, "rain") ? "Health" : "State", state);
		json_object_end(&j);
		json_end(&j);
	}
	sd_bus_message_unref(reply);
	return EXIT_SUCCESS;
}

/* --- logs ------------------------------------------------------------- */

/* One line of output: text, or with --json one document per line. */
static void print_line(const char *name, uint64_t time, uint32_t pid, const char *text)
{
	char t[64];

	if (ctl.json) {
		struct json j;

		json_init(&j, stdout, false);
		json_object_begin(&j);
		json_field_uint(&j, "Time", time);
		json_field_uint(&j, "PID", pid);
		json_field_string(&j, "Line", text);
		json_object_end(&j);
		json_end(&j);
		return;
	}
	printf("%s %s[%u]: ", ctl_format_time(t, sizeof(t), time), name, pid);
	ctl_print_escaped(stdout, text);
	putchar('\n');
}

static int output_signal(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	const char *name, *text;
	uint64_t time;
	uint32_t pid;

	if (sd_bus_message_read(m, "stus", &name, &time, &pid, &text) < 0)
		return 0;
	print_line(name, time, pid, text);
	fflush(stdout);
	return 0;
}

static int cmd_logs(sd_bus *bus, int argc, char **argv)
{
	sd_bus_message *reply = NULL;
	struct value v = {0};
	int r;

	if (argc != 2) {
		fprintf(stderr, "nsinetctl: logs takes one service name\n");
		return EXIT_USAGE;
	}
	if (ctl.follow) {
		r = sd_bus_match_signal(bus, NULL, NULL, PATH, INTERFACE, "Output", output_signal,
					NULL);
		if (r < 0 || (r = ctl_call(bus, "FollowLogs", NULL, "s", argv[1])) > 0)
			return r < 0 ? EXIT_FAILURE : r;
	}
	if ((r = ctl_call(bus, "GetLogs", &reply, "su", argv[1], (uint32_t)ctl.lines)) > 0)
		return r;
	r = value_read(reply, &v);
	sd_bus_message_unref(reply);
	if (r < 0)
		return EXIT_FAILURE;
	if (ctl.json && !ctl.follow) {
		print_json(&v);
	} else {
		for (size_t i = 0; i < v.n; i++) {
			const struct value *l = &v.items[i];

			if (l->n == 3)
				print_line(argv[1], l->items[0].u, (uint32_t)l->items[1].u,
					   l->items[2].s);
		}
	}
	value_done(&v);
	fflush(stdout);
	while (ctl.follow) {
		r = sd_bus_process(bus, NULL);
		if (r < 0) {
			fprintf(stderr, "nsinetctl: connection lost: %s\n", strerror(-r));
			return EXIT_FAILURE;
		}
		if (r == 0 && (r = sd_bus_wait(bus, UINT64_MAX)) < 0 && r != -EINTR)
			return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}

/* --- events ----------------------------------------------------------- */

static int state_signal(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	const char *filter = userdata, *name, *old, *new, *reason;
	uint64_t usec;
	char t[64], span[32];

	if (sd_bus_message_read(m, "sssst", &name, &old, &new, &reason, &usec) < 0 ||
	    (filter && strcmp(filter, name) != 0))
		return 0;
	if (ctl.json) {
		struct json j;

		json_init(&j, stdout, false);
		json_object_begin(&j);
		json_field_uint(&j, "Time", ctl_now());
		json_field_string(&j, "Name", name);
		json_field_string(&j, "OldState", old);
		json_field_string(&j, "NewState", new);
		json_field_string(&j, "Reason", reason);
		json_field_uint(&j, "USecInOldState", usec);
		json_object_end(&j);
		json_end(&j);
	} else {
		printf("%s %s: %s -> %s (", ctl_format_time(t, sizeof(t), ctl_now()), name, old,
		       new);
		ctl_print_escaped(stdout, reason);
		printf("), %s in %s\n", ctl_format_span(span, sizeof(span), usec), old);
	}
	fflush(stdout);
	return 0;
}

/* Every state change (of NAME only, if given) as it happens. */
static int cmd_events(sd_bus *bus, int argc, char **argv)
{
	int r;

	if (argc > 2) {
		fprintf(stderr, "nsinetctl: events takes at most one service name\n");
		return EXIT_USAGE;
	}
	r = sd_bus_match_signal(bus, NULL, NULL, PATH, INTERFACE, "StateChanged", state_signal,
				argc == 2 ? argv[1] : NULL);
	if (r < 0)
		return EXIT_FAILURE;
	if ((r = ctl_call(bus, "Subscribe", NULL, NULL)) > 0)
		return r;
	/* Subscribed: a test (or a script) may act now. */
	fprintf(stderr, "nsinetctl: following state changes\n");
	for (;;) {
		r = sd_bus_process(bus, NULL);
		if (r < 0) {
			fprintf(stderr, "nsinetctl: connection lost: %s\n", strerror(-r));
			return EXIT_FAILURE;
		}
		if (r == 0 && (r = sd_bus_wait(bus, UINT64_MAX)) < 0 && r != -EINTR)
			return EXIT_FAILURE;
	}
}

/* --- main ------------------------------------------------------------- */

static const struct {
	const char *verb;
	int (*run)(sd_bus *bus, int argc, char **argv);
} commands[] = {
    {"list", cmd_list}, {"status", ctl_cmd_status}, {"show", ctl_cmd_show},
    {"start", cmd_op},  {"stop", cmd_op},           {"restart", cmd_op},
    {"freeze", cmd_op}, {"thaw", cmd_op},           {"reload", ctl_cmd_reload},
    {"drain", cmd_op},  {"undrain", cmd_op},        {"shell", ctl_cmd_shell},
    {"logs", cmd_logs}, {"events", cmd_events},     {"daemon-reexec", ctl_cmd_daemon_reexec},
};

static int parse_argv(int argc, char **argv, bool in_order)
{
	enum { ARG_VERSION = 0x100 };
	static const struct option longopts[] = {
	    {"runtime-dir", required_argument, NULL, 'r'},
	    {"json", optional_argument, NULL, 'j'},
	    {"follow", no_argument, NULL, 'f'},
	    {"lines", required_argument, NULL, 'n'},
	    {"timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, ARG_VERSION},
	    {0},
	};
	char *end;
	int c;

	/* "+": options end at the first word (the command, or shell's
	 * COMMAND: shell NAME ls -l); the words after any other command may
	 * hold options too (logs NAME -f). */
	while ((c = getopt_long(argc, argv, in_order ? "+r:jfn:t:h" : "r:jfn:t:h", longopts,
				NULL)) >= 0) {
		switch (c) {
		case 'r':
			ctl.runtime_dir = optarg;
			break;
		case 'j':
			ctl.json = true;
			if (!optarg)
				ctl.json_pretty = isatty(STDOUT_FILENO);
			else if (strcmp(optarg, "pretty") == 0)
				ctl.json_pretty = true;
			else if (strcmp(optarg, "short") == 0)
				ctl.json_pretty = false;
			else if (strcmp(optarg, "off") == 0)
				ctl.json = false;
			else {
				fprintf(stderr,
					"nsinetctl: --json=%s: expected pretty, short or off\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'f':
			ctl.follow = true;
			break;
		case 'n':
			errno = 0;
			ctl.lines = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || ctl.lines > 1000) {
				fprintf(stderr, "nsinetctl: --lines=%s: expected 0 to 1000\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 't': {
			double sec;

			errno = 0;
			sec = strtod(optarg, &end);
			if (errno || *end || !*optarg || !(sec > 0) || sec > 86400) {
				fprintf(stderr,
					"nsinetctl: --timeout=%s: expected seconds, up to 86400\n",
					optarg);
				return -EINVAL;
			}
			ctl.timeout = (uint64_t)(sec * 1e6);
			break;
		}
		case 'h':
			usage(stdout);
			exit(EXIT_SUCCESS);
		case ARG_VERSION:
			printf("nsinetctl %s\n", NSINETD_VERSION);
			exit(EXIT_SUCCESS);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	sd_bus *bus = NULL;
	int r;

	ctl.timeout = 120 * 1000000ULL;
	if (parse_argv(argc, argv, true) < 0)
		return EXIT_USAGE;
	argc -= optind;
	argv += optind;
	if (argc > 0 && strcmp(argv[0], "shell") != 0) {
		optind = 0; /* again, from argv[1] */
		if (parse_argv(argc, argv, false) < 0)
			return EXIT_USAGE;
		/* getopt moved the words to the end. */
		argv[optind - 1] = argv[0];
		argv += optind - 1;
		argc -= optind - 1;
	}
	if (argc < 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	/* A closed pipe (nsinetctl logs -f | head) ends us quietly. */
	signal(SIGPIPE, SIG_DFL);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[0], commands[i].verb) != 0)
			continue;
		if (ctl_connect(&bus) < 0)
			return EXIT_FAILURE;
		r = commands[i].run(bus, argc, argv);
		sd_bus_flush_close_unref(bus);
		return r;
	}
	fprintf(stderr, "nsinetctl: unknown command '%s' (see nsinetctl --help)\n", argv[0]);
	return EXIT_USAGE;
}
