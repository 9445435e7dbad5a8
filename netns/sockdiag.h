/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * NETLINK_SOCK_DIAG dumps: every TCP/UDP socket of one address family, or
 * every unix socket, of the calling process's network namespace, in one
 * request each. The idle accounting of the supervisor is built on these:
 * accepted connections live in the listener's namespace (the daemon's),
 * whatever namespace the container that accepted them runs in.
 */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct sockdiag_inet {
	int family;            /* AF_INET or AF_INET6 */
	uint8_t state;         /* TCP_ESTABLISHED, TCP_LISTEN, … (UDP: TCP_CLOSE/ESTABLISHED) */
	uint16_t lport;        /* host order */
	struct in6_addr laddr; /* IPv4 as a v4-mapped IPv6 address */
	uint32_t rqueue;       /* listeners: accept queue length; others: bytes to read */
	uint32_t wqueue;
	bool has_info;              /* want_info was set and the kernel sent tcp_info */
	uint32_t last_data_recv_ms; /* tcp_info: time since the last data */
	uint32_t last_data_sent_ms;
	uint64_t inode;
};

struct sockdiag_unix {
	uint8_t type;    /* SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET */
	uint8_t state;   /* TCP_LISTEN, TCP_ESTABLISHED, … */
	char name[110];  /* sun_path as bound: abstract names start with '\0' */
	size_t name_len; /* 0: unnamed */
	uint32_t rqueue; /* listeners: accept queue length */
	uint64_t inode;
};

typedef void (*sockdiag_inet_cb)(const struct sockdiag_inet *s, void *userdata);
typedef void (*sockdiag_unix_cb)(const struct sockdiag_unix *s, void *userdata);

/* protocol: IPPROTO_TCP or IPPROTO_UDP. states: a bit mask of 1 << state
 * (~0U for all). want_info asks for tcp_info (TCP only). Returns 0 or a
 * negative errno. */
int sockdiag_dump_inet(int family, int protocol, uint32_t states, bool want_info,
		       sockdiag_inet_cb cb, void *userdata);
/* Every unix socket that has a name (bound, or accepted from a bound
 * listener), with its queue length. */
int sockdiag_dump_unix(uint32_t states, sockdiag_unix_cb cb, void *userdata);
