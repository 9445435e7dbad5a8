/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The state a re-exec hands over (reexec.c), as text in a memfd: one
 * "KEY VALUE..." line each, the first "nsinetd-state VERSION". A reader
 * takes any version up to STATE_VERSION and skips keys it does not know
 * (a field a newer writer added); a newer version, or a file without the
 * header, is refused with the reason, and the daemon then starts clean.
 * The fds named in it are the handed-over fds' numbers: the exec keeps
 * them, without FD_CLOEXEC.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <net/if.h>
#include <stdio.h>
#include <sys/types.h>

#include "netns/address.h"

#include "supervisor/service.h"

#define STATE_MAGIC   "nsinetd-state"
#define STATE_VERSION 1
/* Bounds on what a reader accepts: a state is written by nsinetd, but a
 * reader never trusts a size it did not check. */
#define STATE_MAX_BYTES     (64u << 20)
#define STATE_MAX_FDS       65536
#define STATE_MAX_SERVICES  65536
#define STATE_MAX_SANDBOXES 65536

/* A running (or frozen) container: pid 1, its pidfd, cgroup, and the
 * daemon's end of its output pipe (-1 none). */
struct state_container {
	pid_t pid;
	int pidfd;
	int output_fd;
	char *cgroup;  /* absolute path, NULL without a cgroup */
	int notify_fd; /* Type=notify, WatchdogSec=: its socket, -1 none */
	char *notify_path;
	bool frozen; /* cgroup.freeze is 1 */
	bool held;   /* frozen by nsinetctl freeze */
	bool pooled; /* Accept=yes: a pooled sandbox, serving nothing yet */
	usec_t started_at;
	usec_t idle_since;
};

struct state_service {
	char *name;
	uint64_t config_hash;       /* state_config_hash() of its configuration */
	struct service_stats stats; /* .listeners points into listeners */
	uint64_t (*listeners)[2];   /* accepted, refused per listener */
	size_t n_listeners;
	/* PrivateUsers=: the user namespace its containers join (-1 none),
	 * and its uid range's slot (0 none; hardening.c). */
	int userns_fd;
	unsigned userns_slot;
	/* Network=shared-empty: the service's network namespace (-1 none). */
	int netns_fd;
	/* The limits in force: recent failed runs and starts (CLOCK_MONOTONIC),
	 * and a suspension until suspended_until (0 none), draining or not,
	 * with its reason. */
	uint64_t *failures, *triggers;
	size_t n_failures, n_triggers;
	usec_t suspended_until;
	bool suspend_drain;
	char *suspend_reason;
	bool has_container; /* Accept=no: its container */
	struct state_container container;
	/* Network=veth, with its container: the host side of its pair (0
	 * none), and the addresses it holds ([0] IPv4, [1] IPv6; family 0
	 * none), as in struct network_state. */
	int veth_ifindex;
	char veth_ifname[IFNAMSIZ];
	struct netns_prefix veth_addr[2];
	struct netns_prefix veth_host_addr[2];
	struct state_container *sandboxes; /* Accept=yes: sandboxes in flight */
	size_t n_sandboxes;
};

struct state {
	unsigned version;
	uint64_t reexecs;    /* how many re-execs this daemon has been through */
	usec_t began_at;     /* CLOCK_MONOTONIC when the writer began (the exec's window) */
	unsigned notify_seq; /* the next notification socket's name (manager.h) */
	int *fds;            /* every handed-over listener */
	size_t n_fds;
	/* Sockets systemd passed that no service took (manager.h, inherited):
	 * kept for a later reload, as before the exec. */
	int *unclaimed;
	size_t n_unclaimed;
	struct state_service *services;
	size_t n_services;
};

/* An FNV-1a hash of config_dump()'s text: equal for equal settings. */
uint64_t state_config_hash(const struct service_config *c);

/* Copies the counters a state keeps (not listeners, not the history). */
void state_stats_copy(struct service_stats *dst, const struct service_stats *src);

int state_write(FILE *f, const struct state *st);
/* Reads a state from fd (from its start). -EPROTONOSUPPORT with why for a
 * version it cannot read, -EBADMSG for malformed text (why names the line),
 * or another negative errno. */
int state_read(int fd, struct state *ret, char *why, size_t why_len);
void state_done(struct state *st);
/* Every fd st names (listeners, pidfds, pipes), for closing or checking. */
size_t state_fds(const struct state *st, int *fds, size_t max);
/* How many fds state_fds() can give at most, for sizing its array. */
size_t state_fds_max(const struct state *st);
