/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Parsing of the value types of configuration files and command lines.
 * Every function returns 0 or -EINVAL/-ERANGE and never logs. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef uint64_t usec_t;
#define USEC_INFINITY ((usec_t)UINT64_MAX)
#define USEC_PER_MSEC ((usec_t)1000)
#define USEC_PER_SEC  ((usec_t)1000000)

/* "yes/no/true/false/on/off/1/0" (case-insensitive). */
int parse_boolean(const char *s, bool *ret);
/* systemd time spans: "10", "10s", "1.5s", "500ms", "2min", "1h 30min",
 * "infinity"; a bare number is seconds. us, ms, s, sec, m, min, h, hr, d. */
int parse_duration(const char *s, usec_t *ret);
/* Formats a duration the way parse_duration() reads it ("1min 30s"). */
const char *format_duration(char *buf, size_t len, usec_t u);
/* Unsigned decimal within [min, max]. */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *ret);
/* Sizes: "512", "64K", "256M", "2G", "1T" (base 1024), "infinity". */
int parse_size(const char *s, uint64_t *ret);
/* Octal file mode, 0-07777. */
int parse_mode(const char *s, mode_t *ret);
/* "SIGTERM", "TERM" or a number 1-64 (real-time signals by number). */
int parse_signal(const char *s, int *ret);
const char *signal_to_string(int sig);
/* A valid hostname (RFC 1123 labels, at most 64 characters). */
bool hostname_is_valid(const char *s);
/* A service name: [A-Za-z0-9_.@-], 1-64 characters, not starting with '.'. */
bool service_name_is_valid(const char *s);
/* An absolute, normalized path: starts with '/', no "." or ".." component,
 * no "//", shorter than PATH_MAX. */
bool path_is_absolute_normalized(const char *s);
