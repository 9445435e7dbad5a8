/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the commands of nsinetctl share (ctl/nsinetctl.c). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <systemd/sd-bus.h>

struct ctl {
	const char *runtime_dir;
	bool json;
	bool json_pretty;
	bool follow;
	unsigned long lines;
	uint64_t timeout; /* usec */
};
extern struct ctl ctl;

int ctl_connect(sd_bus **ret);
/* The same, saying nothing on failure (for a retry). */
int ctl_connect_quiet(sd_bus **ret);
/* Calls a method of org.nsinetd1.Manager: 0, or (after saying why) the
 * exit status, > 0. reply may be NULL. */
int ctl_call(sd_bus *bus, const char *method, sd_bus_message **reply, const char *types, ...);
int ctl_error(const sd_bus_error *e, int r);

void ctl_print_escaped(FILE *f, const char *s);
char *ctl_format_time(char *buf, size_t len, uint64_t realtime_usec);
char *ctl_format_span(char *buf, size_t len, uint64_t usec);
char *ctl_format_ago(char *buf, size_t len, uint64_t realtime_usec);
uint64_t ctl_now(void);

int ctl_cmd_status(sd_bus *bus, int argc, char **argv);
int ctl_cmd_show(sd_bus *bus, int argc, char **argv);
int ctl_cmd_reload(sd_bus *bus, int argc, char **argv);
int ctl_cmd_daemon_reexec(sd_bus *bus, int argc, char **argv);
int ctl_cmd_shell(sd_bus *bus, int argc, char **argv);
