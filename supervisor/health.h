/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a load balancer is told about a service (nsinetd --agent, and
 * GET /health/NAME of --metrics): read from the service's state and its
 * drained flag, never by starting, thawing or connecting to anything.
 * docs/nsinetd.8.md, "HEALTH CHECKS", is the contract.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct manager;
struct service;

enum health {
	HEALTH_UP,      /* serving, or would start on demand (stopped, frozen, parked…) */
	HEALTH_DRAIN,   /* nsinetctl drain: serves, but send no new connections */
	HEALTH_MAINT,   /* frozen by nsinetctl freeze: connections wait until a thaw */
	HEALTH_DOWN,    /* suspended by a start or trigger limit, or failed */
	HEALTH_UNKNOWN, /* no such service */
	_HEALTH_MAX,
};

/* The longest request line (a service name, 64 bytes, and its line end,
 * with room for a \r and a balancer that pads). */
#define HEALTH_LINE_MAX 128
/* The longest answer, its newline included. */
#define HEALTH_ANSWER_MAX 96

/* The service a balancer means by name: the current one, not one a reload
 * removed or replaced and that is still stopping. NULL if none. */
struct service *health_find(struct manager *m, const char *name);
/* The health of s (NULL: HEALTH_UNKNOWN), and in ret_why (may be NULL) a
 * short reason for anything but up. */
enum health health_of(const struct service *s, const char **ret_why);
const char *health_to_string(enum health h);
/* The HTTP status of /health/NAME: 200 up, 404 unknown, 503 the others. */
int health_http_status(enum health h);
/* An agent-check answer line, '\n' included, into buf (at least
 * HEALTH_ANSWER_MAX bytes): "up ready", "drain", "maint # why" or
 * "down # why". "ready" takes back a drain or maint an earlier answer set
 * in HAProxy. Returns its length. */
size_t health_agent_answer(enum health h, const char *why, char *buf, size_t len);
/*
 * One request line of the agent (the bytes read so far, buf[0..n)): 0 and
 * the name in ret_name (HEALTH_LINE_MAX bytes) when the line is complete,
 * -EAGAIN when no newline came yet (and n < HEALTH_LINE_MAX), -E2BIG when
 * the line is too long, -EINVAL when it is not a valid service name (empty,
 * a byte outside A-Z a-z 0-9 _ . @ -). A trailing \r and blanks around the
 * name are ignored.
 */
int health_parse_line(const char *buf, size_t n, char *ret_name);
