/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* IP addresses with a prefix length, and carving subnets out of a pool. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct netns_prefix {
	int family; /* AF_INET or AF_INET6; 0 = unset */
	unsigned char prefixlen;
	union {
		struct in_addr in;
		struct in6_addr in6;
		uint8_t bytes[16];
	} addr;
};

/* "10.0.0.2/30", "fd00::2/64"; without "/N" the length is default_v4 or
 * default_v6. Returns 0 or -EINVAL. */
int netns_prefix_parse(const char *s, unsigned default_v4, unsigned default_v6,
		       struct netns_prefix *ret);
/* "10.0.0.2/30"; returns buf. */
const char *netns_prefix_format(const struct netns_prefix *p, char *buf, size_t len);
/* The network of p: host bits cleared. */
struct netns_prefix netns_prefix_network(const struct netns_prefix *p);
/* Whether the networks of a and b (each with its own length) overlap.
 * Different families never do. */
bool netns_prefix_overlap(const struct netns_prefix *a, const struct netns_prefix *b);
/* Whether a and b are the same address (lengths ignored). */
bool netns_prefix_same_address(const struct netns_prefix *a, const struct netns_prefix *b);
/* Whether p's host part is all zeros (the network address) or, for IPv4
 * prefixes shorter than /31, all ones (broadcast). */
bool netns_prefix_is_network_or_broadcast(const struct netns_prefix *p);

/* How many subnets of length sublen a pool holds, capped at max. */
uint64_t netns_pool_size(const struct netns_prefix *pool, unsigned sublen, uint64_t max);
/* The index-th subnet of length sublen in pool (index < netns_pool_size()),
 * as its address number host (1 = the first address after the network
 * address) with length sublen: "10.89.0.4/30" index 1 host 2 = 10.89.0.6/30. */
int netns_pool_address(const struct netns_prefix *pool, unsigned sublen, uint64_t index,
		       uint32_t host, struct netns_prefix *ret);
