/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Network namespaces over rtnetlink (libmnl). No `ip` is ever spawned. */
#pragma once

/* Brings the loopback interface of the calling thread's network namespace
 * up (RTM_NEWLINK, IFF_UP on ifindex 1). Returns 0 or a negative errno. */
int netns_loopback_up(void);
