/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Listen addresses as written in ListenStream= and friends. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

union sockaddr_union {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
	struct sockaddr_un un;
	struct sockaddr_storage storage;
};

struct socket_address {
	union sockaddr_union sa;
	socklen_t len;
	/* A bare PORT: an IPv6 socket on [::] that takes IPv4 too (unless
	 * BindIPv6Only=ipv6-only), as systemd does. */
	bool any_port;
};

/*
 * Parses what ListenStream=/ListenDatagram=/ListenSequentialPacket= take:
 *   PORT              dual-stack [::]:PORT (AF_INET6, any_port set)
 *   IPv4:PORT         e.g. 127.0.0.1:8080
 *   [IPv6]:PORT       e.g. [::1]:8080, [fe80::1%lo]:80
 *   /path             unix socket in the file system (< 108 bytes)
 *   @name             unix socket in the abstract namespace
 * Ports 1-65535. Returns 0, or -EINVAL (malformed) / -ERANGE (port or
 * path length out of range).
 */
int socket_address_parse(const char *s, struct socket_address *ret);
/* Formats back to the same notation ("127.0.0.1:80", "[::1]:80", "@x",
 * "/run/x.sock", "[::]:80" for a bare port); returns buf. */
const char *socket_address_format(const struct socket_address *a, char *buf, size_t len);
bool socket_address_equal(const struct socket_address *a, const struct socket_address *b);
/* The address family: AF_INET, AF_INET6 or AF_UNIX. */
int socket_address_family(const struct socket_address *a);
/* Same, for a raw sockaddr as returned by getsockname()/accept(). */
const char *sockaddr_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t buflen);
#define SOCKADDR_FORMAT_MAX (INET6_ADDRSTRLEN + 16 + sizeof(((struct sockaddr_un *)0)->sun_path))

/*
 * What a remote address counts as for a per-source limit
 * (MaxConnectionsPerSource=): an IPv4 address, also when a dual-stack
 * socket reports it IPv4-mapped (::ffff:a.b.c.d), is itself (AF_INET, its
 * 4 bytes); an IPv6 address is its first ipv6_prefix bits (AF_INET6, the
 * other bits zero): a host that has a /64 has every address in it. Fills
 * the 16 bytes of ret_key (unused ones zero) and returns the family, or
 * -EINVAL for another family or a prefix length outside 1-128.
 */
int sockaddr_source_key(const struct sockaddr *sa, unsigned ipv6_prefix, unsigned char ret_key[16]);
