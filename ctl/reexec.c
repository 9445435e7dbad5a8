/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* nsinetctl daemon-reexec: the daemon executes its binary again, in place
 * (supervisor/reexec.c). A failure is the call's reply; success closes
 * the connection (the exec), and the new daemon is then asked, until it
 * answers, whether it has been through one more re-exec. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/nsinetctl.h"
#include "ctl/value.h"

#define PATH       "/org/nsinetd1"
#define INTERFACE  "org.nsinetd1.Manager"
#define EXIT_USAGE 2

/* The daemon's Pid and Reexecs; > 0 an exit status (said why), or < 0 the
 * call failed (quiet: the caller may retry). */
static int get_daemon(sd_bus *bus, bool quiet, uint32_t *ret_pid, uint64_t *ret_n)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	const char *key;
	int r;

	*ret_pid = 0;
	*ret_n = 0;
	r = sd_bus_call_method(bus, NULL, PATH, INTERFACE, "GetDaemon", &e, &reply, "");
	if (r < 0) {
		if (!quiet)
			r = ctl_error(&e, r);
		sd_bus_error_free(&e);
		return r;
	}
	if ((r = sd_bus_message_enter_container(reply, 'a', "{sv}")) < 0)
		goto out;
	while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
		if ((r = sd_bus_message_read(reply, "s", &key)) < 0)
			break;
		if (strcmp(key, "Pid") == 0)
			r = sd_bus_message_read(reply, "v", "u", ret_pid);
		else if (strcmp(key, "Reexecs") == 0)
			r = sd_bus_message_read(reply, "v", "t", ret_n);
		else
			r = sd_bus_message_skip(reply, "v");
		if (r < 0 || (r = sd_bus_message_exit_container(reply)) < 0)
			break;
	}
out:
	sd_bus_message_unref(reply);
	if (r < 0 && !quiet)
		fprintf(stderr, "nsinetctl: cannot read the daemon's answer: %s\n", strerror(-r));
	return r < 0 ? r : 0;
}

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int ctl_cmd_daemon_reexec(sd_bus *bus, int argc, char **argv)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	uint32_t pid, pid2;
	uint64_t n, n2, deadline;
	int r;

	if (argc != 1) {
		fprintf(stderr, "nsinetctl: daemon-reexec takes no argument\n");
		return EXIT_USAGE;
	}
	if ((r = get_daemon(bus, false, &pid, &n)) != 0)
		return r > 0 ? r : EXIT_FAILURE;
	r = sd_bus_call_method(bus, NULL, PATH, INTERFACE, "Reexec", &e, NULL, "");
	if (r >= 0 || (e.name && strncmp(e.name, "org.nsinetd1.", 13) == 0) ||
	    sd_bus_error_has_name(&e, "org.freedesktop.DBus.Error.AccessDenied")) {
		/* A reply: the exec failed (or there was none to do). */
		r = r >= 0 ? 0 : ctl_error(&e, r);
		sd_bus_error_free(&e);
		return r;
	}
	sd_bus_error_free(&e);
	/* The connection closed: the exec happened. The new daemon answers
	 * once it has taken over. */
	deadline = now_usec() + ctl.timeout;
	for (;;) {
		sd_bus *b = NULL;
		struct timespec ts = {0, 20 * 1000 * 1000};

		if (ctl_connect_quiet(&b) >= 0) {
			r = get_daemon(b, true, &pid2, &n2);
			sd_bus_flush_close_unref(b);
			if (r == 0 && n2 > n) {
				if (ctl.json)
					printf("{\"Pid\":%u,\"Reexecs\":%llu}\n", pid2,
					       (unsigned long long)n2);
				else
					printf("re-executed: pid %u, re-exec #%llu\n", pid2,
					       (unsigned long long)n2);
				return 0;
			}
			if (r == 0) {
				fprintf(stderr,
					"nsinetctl: the daemon (pid %u) answers, but has not been "
					"re-executed (re-execs: %llu)\n",
					pid2, (unsigned long long)n2);
				return EXIT_FAILURE;
			}
		}
		if (now_usec() > deadline) {
			fprintf(stderr,
				"nsinetctl: the daemon closed the connection for its re-exec, and "
				"has not answered since (pid %u)\n",
				pid);
			return EXIT_FAILURE;
		}
		nanosleep(&ts, NULL);
	}
}
