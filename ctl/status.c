/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* nsinetctl status, show and reload (ctl/nsinetctl.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/json.h"
#include "ctl/nsinetctl.h"
#include "ctl/value.h"

#define EXIT_USAGE 2

static int call_value(sd_bus *bus, const char *method, struct value *v, const char *types,
		      const char *arg)
{
	sd_bus_message *reply = NULL;
	int r;

	if ((r = ctl_call(bus, method, &reply, types, arg)) > 0)
		return r;
	r = value_read(reply, v);
	sd_bus_message_unref(reply);
	if (r < 0) {
		fprintf(stderr, "nsinetctl: cannot read the reply to %s: %s\n", method,
			strerror(-r));
		return EXIT_FAILURE;
	}
	return 0;
}

static void print_json(const struct value *v)
{
	struct json j;

	json_init(&j, stdout, ctl.json_pretty);
	value_json(v, &j);
	json_end(&j);
}

/* --- status ----------------------------------------------------------- */

/* Processes as a tree: (pid, ppid, comm, cmdline) rows; the roots are those
 * whose parent is not listed. */
static bool below(const struct value *procs, const struct value *p, int depth, uint64_t ppid)
{
	if (p->n != 4)
		return false;
	if (depth > 0)
		return p->items[1].u == ppid;
	for (size_t k = 0; k < procs->n; k++)
		if (procs->items[k].n == 4 && procs->items[k].items[0].u == p->items[1].u)
			return false;
	return true;
}

static void print_tree(const struct value *procs, uint64_t ppid, int depth, const char *prefix)
{
	size_t last = SIZE_MAX;

	for (size_t i = 0; i < procs->n; i++)
		if (below(procs, &procs->items[i], depth, ppid))
			last = i;
	for (size_t i = 0; i < procs->n; i++) {
		const struct value *p = &procs->items[i];
		char sub[256];

		if (!below(procs, p, depth, ppid))
			continue;
		printf("%s%s%llu ", prefix, i == last ? "└─" : "├─",
		       (unsigned long long)p->items[0].u);
		ctl_print_escaped(stdout, p->items[3].s);
		putchar('\n');
		snprintf(sub, sizeof(sub), "%s%s", prefix, i == last ? "  " : "│ ");
		if (depth < 8)
			print_tree(procs, p->items[0].u, depth + 1, sub);
	}
}

static const char *exit_text(char *buf, size_t len, int64_t status)
{
	if (status < 0)
		snprintf(buf, len, "-");
	else if ((status & 0x7f) == 0)
		snprintf(buf, len, "exited with status %d", (int)((status >> 8) & 0xff));
	else
		snprintf(buf, len, "killed by signal %d", (int)(status & 0x7f));
	return buf;
}

static void print_status(const struct value *st)
{
	const struct value *v;
	char a[64], b[64], c[64];
	uint64_t u;

	printf("● %s - %s\n", value_str(st, "Name"), value_str(st, "File"));
	if (*value_str(st, "ImageDigest"))
		printf("      Image: %s\n", value_str(st, "ImageDigest"));
	printf("      State: %s since %s; %s\n", value_str(st, "State"),
	       ctl_format_time(a, sizeof(a), value_uint(st, "StateSince")),
	       ctl_format_ago(b, sizeof(b), value_uint(st, "StateSince")));
	printf("     Health: %s%s\n", value_str(st, "Health"),
	       value_bool(st, "Drained")
		   ? " (drained: balancers send no new connections; those that come are served)"
		   : "");
	if (*value_str(st, "StatusText")) {
		/* As systemctl: the container's own words, escaped again here. */
		printf("     Status: \"");
		ctl_print_escaped(stdout, value_str(st, "StatusText"));
		printf("\"\n");
	}
	printf("       Mode: %s\n", value_bool(st, "Accept")
					? "Accept=yes (one sandbox per connection)"
					: "Accept=no (one container for all connections)");
	v = value_get(st, "Listeners");
	for (size_t i = 0; v && i < v->n; i++) {
		const struct value *l = &v->items[i];

		if (l->n != 6)
			continue;
		printf("%s %s (%s", i ? "           " : "     Listen:", l->items[0].s,
		       l->items[1].s);
		if (l->items[2].u != UINT32_MAX)
			printf(", %llu queued of %llu", (unsigned long long)l->items[2].u,
			       (unsigned long long)l->items[3].u);
		if (value_bool(st, "Accept"))
			printf(", %llu accepted, %llu refused", (unsigned long long)l->items[4].u,
			       (unsigned long long)l->items[5].u);
		printf(")\n");
	}
	if (value_bool(st, "Accept"))
		printf("Connections: %llu accepted, %llu refused (%llu per source, %llu no "
		       "sandbox, %llu suspended), %llu sandboxes now\n",
		       (unsigned long long)value_uint(st, "Accepted"),
		       (unsigned long long)value_uint(st, "Refused"),
		       (unsigned long long)value_uint(st, "RefusedPerSource"),
		       (unsigned long long)value_uint(st, "RefusedNoSandbox"),
		       (unsigned long long)value_uint(st, "RefusedSuspended"),
		       (unsigned long long)value_uint(st, "Sandboxes"));
	if ((u = value_uint(st, "MainPID")))
		printf("   Main PID: %llu\n", (unsigned long long)u);
	printf("     Starts: %llu, %llu failed; last cold start %s\n",
	       (unsigned long long)value_uint(st, "ColdStarts"),
	       (unsigned long long)value_uint(st, "StartFailures"),
	       value_uint(st, "LastColdStartUSec")
		   ? ctl_format_span(a, sizeof(a), value_uint(st, "LastColdStartUSec"))
		   : "-");
	if ((u = value_uint(st, "WatchdogStops")))
		printf("   Watchdog: %llu stop(s)\n", (unsigned long long)u);
	printf("  Last exit: %s at %s\n", exit_text(a, sizeof(a), value_int(st, "LastExitStatus")),
	       ctl_format_time(b, sizeof(b), value_uint(st, "LastExit")));
	printf("       Idle: freeze after %s, stop after %s; idle since %s; keeping it awake: %s\n",
	       value_uint(st, "IdleFreezeUSec")
		   ? ctl_format_span(a, sizeof(a), value_uint(st, "IdleFreezeUSec"))
		   : "never",
	       value_uint(st, "IdleStopUSec")
		   ? ctl_format_span(b, sizeof(b), value_uint(st, "IdleStopUSec"))
		   : "never",
	       ctl_format_time(c, sizeof(c), value_uint(st, "IdleSince")),
	       value_str(st, "KeepingAwake"));
	printf("     Limits: StartLimitBurst=%llu in %s, TriggerLimitBurst=%llu in %s",
	       (unsigned long long)value_uint(st, "StartLimitBurst"),
	       ctl_format_span(a, sizeof(a), value_uint(st, "StartLimitIntervalUSec")),
	       (unsigned long long)value_uint(st, "TriggerLimitBurst"),
	       ctl_format_span(b, sizeof(b), value_uint(st, "TriggerLimitIntervalUSec")));
	if ((u = value_uint(st, "SuspendedUntil")))
		printf("; suspended until %s", ctl_format_time(c, sizeof(c), u));
	printf("\n");
	v = value_get(st, "CPUUsageUSec");
	if (v && v->kind == VALUE_UINT)
		printf("        CPU: %s\n", ctl_format_span(a, sizeof(a), v->u));
	else
		printf("        CPU: not available\n");
	v = value_get(st, "MemoryCurrent");
	if (v && v->kind == VALUE_UINT)
		printf("     Memory: %.1fM\n", (double)v->u / (1024.0 * 1024.0));
	else
		printf("     Memory: not available (no memory controller in this cgroup)\n");
	if (*value_str(st, "ControlGroup")) {
		printf("     CGroup: %s\n", value_str(st, "ControlGroup"));
		v = value_get(st, "Processes");
		if (v)
			print_tree(v, 0, 0, "             ");
	}
	v = value_get(st, "History");
	if (v && v->n) {
		printf("    History:\n");
		for (size_t i = 0; i < v->n; i++)
			if (v->items[i].n == 3) {
				printf("             %s %-10s ",
				       ctl_format_time(a, sizeof(a), v->items[i].items[0].u),
				       v->items[i].items[1].s);
				ctl_print_escaped(stdout, v->items[i].items[2].s);
				putchar('\n');
			}
	}
	v = value_get(st, "Output");
	if (v && v->n) {
		printf("\n");
		for (size_t i = 0; i < v->n; i++)
			if (v->items[i].n == 3) {
				printf("%s %s[%llu]: ",
				       ctl_format_time(a, sizeof(a), v->items[i].items[0].u),
				       value_str(st, "Name"),
				       (unsigned long long)v->items[i].items[1].u);
				ctl_print_escaped(stdout, v->items[i].items[2].s);
				putchar('\n');
			}
	}
}

int ctl_cmd_status(sd_bus *bus, int argc, char **argv)
{
	struct value v = {0};
	int r;

	if (argc != 2) {
		fprintf(stderr, "nsinetctl: status takes one service name\n");
		return EXIT_USAGE;
	}
	if ((r = call_value(bus, "GetStatus", &v, "s", argv[1])) > 0)
		return r;
	if (ctl.json)
		print_json(&v);
	else
		print_status(&v);
	value_done(&v);
	return EXIT_SUCCESS;
}

/* --- show ------------------------------------------------------------- */

/* GetConfig gives (section, key, value, is_default) rows in table order;
 * the text is a configuration file nsinetd would read back the same. */
int ctl_cmd_show(sd_bus *bus, int argc, char **argv)
{
	struct value v = {0};
	const char *section = NULL;
	int r;

	if (argc != 2) {
		fprintf(stderr, "nsinetctl: show takes one service name\n");
		return EXIT_USAGE;
	}
	if ((r = call_value(bus, "GetConfig", &v, "s", argv[1])) > 0)
		return r;
	if (ctl.json) {
		struct json j;

		json_init(&j, stdout, ctl.json_pretty);
		json_array_begin(&j);
		for (size_t i = 0; i < v.n; i++) {
			const struct value *row = &v.items[i];

			if (row->n != 4)
				continue;
			json_object_begin(&j);
			json_field_string(&j, "Section", row->items[0].s);
			json_field_string(&j, "Key", row->items[1].s);
			json_field_string(&j, "Value", row->items[2].s);
			json_key(&j, "Default");
			json_bool(&j, row->items[3].b);
			json_object_end(&j);
		}
		json_array_end(&j);
		json_end(&j);
	} else {
		for (size_t i = 0; i < v.n; i++) {
			const struct value *row = &v.items[i];

			if (row->n != 4)
				continue;
			if (!section || strcmp(section, row->items[0].s) != 0) {
				printf("%s[%s]\n", section ? "\n" : "", row->items[0].s);
				section = row->items[0].s;
			}
			printf("%s%s=", row->items[3].b ? "#" : "", row->items[1].s);
			ctl_print_escaped(stdout, row->items[2].s);
			putchar('\n');
		}
	}
	value_done(&v);
	return EXIT_SUCCESS;
}

/* --- reload ----------------------------------------------------------- */

/* Reload gives (added, changed, removed, unchanged, errors): what a SIGHUP
 * would have done, and every error as FILE:LINE: message. */
int ctl_cmd_reload(sd_bus *bus, int argc, char **argv)
{
	static const char *const parts[] = {"Added", "Changed", "Removed"};
	struct value v = {0};
	const struct value *errors;
	int r;

	if (argc != 1) {
		fprintf(stderr, "nsinetctl: reload takes no argument\n");
		return EXIT_USAGE;
	}
	if ((r = call_value(bus, "Reload", &v, NULL, NULL)) > 0)
		return r;
	errors = value_get(&v, "Errors");
	if (ctl.json) {
		print_json(&v);
	} else {
		for (size_t p = 0; p < sizeof(parts) / sizeof(parts[0]); p++) {
			const struct value *l = value_get(&v, parts[p]);

			for (size_t i = 0; l && i < l->n; i++)
				printf("%s %s\n", parts[p], l->items[i].s);
		}
		for (size_t i = 0; errors && i < errors->n; i++) {
			ctl_print_escaped(stderr, errors->items[i].s);
			fputc('\n', stderr);
		}
	}
	r = errors && errors->n ? EXIT_FAILURE : EXIT_SUCCESS;
	value_done(&v);
	return r;
}
