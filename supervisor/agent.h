/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * HAProxy's agent-check (nsinetd --agent ADDRESS:PORT): a balancer
 * connects, sends a service name and a newline (HAProxy's agent-send), and
 * reads one line, "up ready", "drain", "maint # why" or "down # why"
 * (health.h), then the daemon closes. Answered from the daemon's memory on
 * its own socket: a check never starts, thaws or keeps awake a service.
 * Bounded: AGENT_CLIENTS_MAX clients at a time (more are closed at once),
 * a line of HEALTH_LINE_MAX bytes, AGENT_TIMEOUT_SEC for the whole
 * exchange. docs/nsinetd.8.md, "HEALTH CHECKS".
 */
#pragma once

#include <stdint.h>

#define AGENT_CLIENTS_MAX 64
#define AGENT_TIMEOUT_SEC 5

struct manager;
struct agent;

/* Binds ADDRESS:PORT (IPv4 or [IPv6], port 1-65535) and serves it from
 * m's loop. Logs its errors; -EINVAL a malformed address. */
int agent_new(struct manager *m, const char *address, struct agent **ret);
struct agent *agent_free(struct agent *a);
