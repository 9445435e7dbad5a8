/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small libevent helpers of the daemon: every timer is made with its
 * owner, and arming it is checked (its owner's fallback runs on failure). */
#pragma once

#include <errno.h>
#include <event2/event.h>

#include "common/parse.h"

/* Arms (or re-arms) timer ev to fire after usec. 0, or -ENOMEM. */
static inline int timer_arm_usec(struct event *ev, usec_t after)
{
	struct timeval tv = {.tv_sec = (time_t)(after / USEC_PER_SEC),
			     .tv_usec = (suseconds_t)(after % USEC_PER_SEC)};

	return evtimer_add(ev, &tv) < 0 ? -ENOMEM : 0;
}

static inline void event_freep(struct event **ev)
{
	if (*ev)
		event_free(*ev);
	*ev = NULL;
}
