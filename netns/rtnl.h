/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rtnetlink over libmnl, shared by the netns/ files. Not public API. */
#pragma once

#include <libmnl/libmnl.h>
#include <stdbool.h>

struct rtnl {
	int fd; /* -1 = closed */
	unsigned int portid;
	unsigned int seq;
};

/* A NETLINK_ROUTE socket in the calling thread's network namespace. A plain
 * fd, not libmnl's struct mnl_socket: nothing here allocates, so that the
 * container's child (a raw clone3() copy of the daemon, which may have
 * another thread in malloc at that moment) can use it too. */
int rtnl_open(struct rtnl *r);
void rtnl_close(struct rtnl *r);
/* Sends one request and reads until its ACK (or, for NLM_F_DUMP, the end of
 * the dump), calling cb for each data message. 0 or a negative errno (the
 * kernel's answer, e.g. -EEXIST). */
int rtnl_call(struct rtnl *r, struct nlmsghdr *nlh, mnl_cb_t cb, void *data);

/* Runs fn(arg) in a short-lived thread that first joins the network
 * namespace nsfd (an nsfs fd or a pidfd), or, with nsfd < 0, unshares a new
 * one. The daemon's own thread never changes namespace. Returns what fn
 * returned, or a negative errno of the thread's setup. */
int rtnl_run_in_netns(int nsfd, int (*fn)(void *arg), void *arg);
