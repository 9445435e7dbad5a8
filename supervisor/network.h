/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Network= for one service: what a start needs (a namespace to join, the
 * veth pair and its addresses) and what a stop gives back. service.c calls
 * these at four points; the rtnetlink work itself is in netns/.
 */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>

#include "netns/address.h"
#include "netns/veth.h"

struct activator_spec;
struct manager;
struct service;

struct network_state {
	/* Network=shared-empty: the service's namespace, created at the first
	 * start, kept while the service exists (the fd keeps it alive). */
	int shared_fd;
	/* Network=netns:NAME: opened for the start in progress only. */
	int join_fd;
	/* Network=veth, while a container runs: the host side (0 = none) and
	 * the addresses in use ([0] IPv4, [1] IPv6), which no other running
	 * container may get. */
	int ifindex;
	char ifname[IFNAMSIZ];
	struct netns_prefix addr[2];
	struct netns_prefix host_addr[2];
	/* The pair of the last container, being deleted in a thread: its
	 * name and addresses stay taken until that is done. */
	struct netns_veth_deletion *deleting;
};

void network_init(struct network_state *n);
/* Before activator_spawn(): sets the namespace flag, netns_fd and the
 * veth hook of spec. spare: the start has a spare container, which has a
 * network namespace of its own (Network=none takes none of ours, host
 * gives the daemon's). pooled: a sandbox for the Accept=yes pool, which
 * makes the namespace of Network=none itself (spec->netns_late). Logs and
 * returns a negative errno on failure. */
int network_prepare(struct service *s, struct activator_spec *spec, bool spare, bool pooled);
/* After activator_spawn() returned r: closes what the start needed only,
 * gives everything back if it failed. */
void network_spawned(struct service *s, int r);
/* The container is gone (stopped, crashed, or never started): deletes its
 * veth pair and frees its addresses. Idempotent. */
void network_stop(struct service *s);
/* Whether no pair of s is being deleted (reaping one that is done): a
 * re-exec waits for that. */
bool network_settled(struct service *s);
/* After a re-exec, for the container s adopted: the host side of its pair
 * and the addresses it holds, as the earlier daemon had them. */
void network_adopt(struct service *s, int ifindex, const char *ifname,
		   const struct netns_prefix addr[2], const struct netns_prefix host_addr[2]);
/* The spare namespaces of Network=none (manager.h) and their refill. */
void network_spares_free(struct manager *m);
/* The service is freed: its shared namespace goes too. */
void network_free(struct service *s);
/* At daemon start, with the runtime directory locked: deletes the
 * interfaces an earlier (killed) daemon on the same runtime directory left
 * behind, recognized by their alias, and only those; not the n_keep
 * ifindexes in keep (the pairs of containers a re-exec handed over). */
void network_remove_stale(struct manager *m, const int *keep, size_t n_keep);
