/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Prometheus metrics (nsinetd --metrics ADDRESS:PORT): libevent's HTTP
 * server (evhttp) on the daemon's loop answers GET /metrics with the text
 * exposition format, built from the daemon's memory (struct service_stats,
 * what the last idle tick counted) and the cgroup's cpu.stat and
 * memory.current: a scrape never wakes a container and never waits.
 * docs/nsinetd.8.md, "Metrics", lists every metric.
 */
#pragma once

#include "common/parse.h"

struct evbuffer;
struct manager;
struct metrics;
struct service;

/* Binds ADDRESS:PORT (IPv4 or [IPv6], a port of 1-65535; nothing else)
 * and serves it. Logs its errors; -EINVAL a malformed address. */
int metrics_new(struct manager *m, const char *address, struct metrics **ret);
struct metrics *metrics_free(struct metrics *mt);

/* The whole exposition, appended to out; -ENOMEM. */
int metrics_render(struct manager *m, struct evbuffer *out);

/* Counts what a transition of s (from old to s->state) means: freezes,
 * thaw durations, stops by cause, suspensions by limit. From
 * manager_service_changed(), for every service, with or without --metrics. */
void metrics_service_changed(struct service *s, int old, const char *reason, usec_t now);
/* A reload ended with r (0: no error). mt may be NULL. */
void metrics_reloaded(struct metrics *mt, int r);
