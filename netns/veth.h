/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Network=veth: one veth pair per container, created from the daemon
 * between clone3() and the release of the child. The host side lives in the
 * caller's network namespace, marked with an alias (IFLA_IFALIAS) that
 * says which daemon made it, so that a later life of that daemon can
 * remove what a killed one left behind, and nothing else.
 */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "netns/address.h"

#define NETNS_VETH_PEER_NAME "host0"
#define NETNS_ALIAS_MAX      128

struct netns_veth {
	const char *host_name; /* "ve-web" (netns_veth_name()) */
	const char *alias;     /* IFLA_IFALIAS of the host side (netns_veth_alias()) */
	const char *bridge;    /* attach the host side to it; NULL = address it */
	/* [0] IPv4, [1] IPv6; family 0 = none. host_addr is given to the
	 * host side (unless bridge) and is the container's default gateway. */
	struct netns_prefix host_addr[2];
	struct netns_prefix addr[2];
	/* IPv6 is skipped on both sides when the host side refuses it (IPv6
	 * disabled by sysctl or at boot) instead of failing the start. */
	bool ipv6_optional;
};

/* The host side's name: "ve-" + service, cut to the kernel's 15 characters
 * as "ve-" + its first 3 characters + "~" + 8 hex digits of a hash when too
 * long ('~' is never in a service name: a cut name never equals a whole
 * one). buf has IFNAMSIZ bytes. */
void netns_veth_name(const char *service, char buf[IFNAMSIZ]);
/* "nsinetd:" + runtime_dir, or "nsinetd:#" + a hash of it when too long. */
void netns_veth_alias(const char *runtime_dir, char buf[NETNS_ALIAS_MAX]);

/*
 * Creates the pair with its peer NETNS_VETH_PEER_NAME directly in the
 * network namespace of pid, marks, addresses (or bridges) and brings up the
 * host side, then, from a thread joined to the container's namespace
 * (pidfd), brings host0 up, addresses it and routes by default through the
 * host side. On failure whatever was created is deleted again, err gets
 * "cannot OPERATION INTERFACE" for the caller's message, and a negative
 * errno is returned. On success *ret_ifindex is the host side's ifindex.
 */
int netns_veth_create(const struct netns_veth *v, pid_t pid, int pidfd, int *ret_ifindex, char *err,
		      size_t errlen);
/* Deletes the pair by its host side's ifindex; -ENODEV if it is gone. */
int netns_veth_delete(int ifindex);

/* Deleting a veth pair waits for RCU grace periods in the kernel: tens of
 * milliseconds, which an event loop must not spend. This runs the delete
 * in a thread of its own (which allocates nothing); the caller polls or
 * waits for it with netns_veth_delete_finish(). */
struct netns_veth_deletion;
int netns_veth_delete_async(int ifindex, struct netns_veth_deletion **ret);
/* -EBUSY if not finished and !wait; else frees *d (sets it NULL) and
 * returns the delete's result (-ENODEV: the kernel deleted it first, with
 * the container's namespace). */
int netns_veth_delete_finish(struct netns_veth_deletion **d, bool wait);
/* Deletes every interface of the caller's namespace whose alias is alias
 * (at most 4096 per call), except those whose ifindex is in keep (the
 * pairs of containers a re-exec handed over). Returns how many, or a
 * negative errno. */
int netns_veth_remove_stale(const char *alias, const int *keep, size_t n_keep);
