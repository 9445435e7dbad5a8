/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Network namespaces over rtnetlink (libmnl). No `ip` is ever spawned.
 * Nothing here logs: every function returns 0 or a negative errno. */
#pragma once

/* Where `ip netns add NAME` keeps its namespaces. */
#define NETNS_RUN_DIR "/run/netns"

/* Brings the loopback interface of the calling thread's network namespace
 * up (RTM_NEWLINK, IFF_UP on ifindex 1). Returns 0 or a negative errno. */
int netns_loopback_up(void);

/* Opens NETNS_RUN_DIR/NAME (O_CLOEXEC) for setns(). -ENOENT if missing,
 * -ENOTTY if the file is not a network namespace, -EINVAL for a name with
 * a '/' (or "." or ".."). */
int netns_open_named(const char *name, int *ret_fd);

/* Creates a new network namespace with lo up, and returns an fd that keeps
 * it alive (it goes away with the last fd and the last process in it). The
 * calling thread stays in its own namespace. */
int netns_new_empty(int *ret_fd);
