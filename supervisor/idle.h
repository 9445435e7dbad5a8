/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Idle accounting: one timer for the whole daemon, armed only while some
 * running container has IdleFreezeSec= or IdleStopSec=. Each tick makes one
 * NETLINK_SOCK_DIAG dump per address family in use (TCP, UDP, unix) and
 * counts, per service, the connections whose local address is one of its
 * listeners and each listener's queue; plus the CPU its cgroup used since
 * the last tick (cpu.stat). No proxy, no per-service polling.
 */
#pragma once

struct manager;

/* Arms, re-times or disarms the tick after a state change. Cheap. */
void idle_update(struct manager *m);
/* Frees the timer. */
void idle_done(struct manager *m);
