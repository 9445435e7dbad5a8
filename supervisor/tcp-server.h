/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon's own TCP servers (--metrics, --agent): their listening socket. */
#pragma once

/* A listening socket on ADDRESS:PORT (an IPv4 address or [IPv6], with
 * IPV6_V6ONLY, and a port of 1-65535: nothing else), non-blocking and
 * close-on-exec, in *ret_fd. option names the flag in the errors it logs;
 * -EINVAL a malformed address. */
int tcp_server_bind(const char *option, const char *address, int backlog, int *ret_fd);
