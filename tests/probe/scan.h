/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The probe's secret scan: looks for given strings everywhere a payload
 * could read another process's secrets from inside its container, and
 * says what it could open on the way.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define SCAN_SECRETS_MAX 4

struct scan {
	const char *secrets[SCAN_SECRETS_MAX]; /* the strings to look for */
	size_t n_secrets;
	/* Called once for each thing the scan could open and read. */
	void (*opened)(void *userdata, const char *path);
	/* Called once for each (place, secret) found: where is a path, with
	 * " @ADDRESS" for process memory. */
	void (*found)(void *userdata, const char *where, size_t secret);
	void *userdata;
};

/*
 * Looks in: its own /proc/self/environ; /proc/PID/environ and cmdline of
 * every process it sees; the memory of every other process through
 * /proc/PID/maps and /proc/PID/mem (readable regions, bounded); every
 * regular file open on one of its own fds (/proc/self/fd). Never its own
 * memory: the secrets are there, decoded, by construction.
 */
void scan_run(const struct scan *s);

/* Whether s is a non-empty string of digits (a pid, an fd). */
bool scan_is_numeric(const char *s);
