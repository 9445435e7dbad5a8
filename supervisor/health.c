/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "supervisor/health.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/parse.h"
#include "supervisor/manager.h"
#include "supervisor/service.h"

struct service *health_find(struct manager *m, const char *name)
{
	for (size_t i = 0; i < m->n_services; i++) {
		struct service *s = m->services[i];

		if (!(s->removing || s->dead) && strcmp(s->cfg->name, name) == 0)
			return s;
	}
	return NULL;
}

enum health health_of(const struct service *s, const char **ret_why)
{
	const char *why = NULL;
	enum health h = HEALTH_UP;

	if (!s) {
		h = HEALTH_UNKNOWN;
		why = "no such service";
	} else if (s->state == SERVICE_SUSPENDED) {
		/* Until the interval is over, queued connections are refused
		 * (or wait): send them elsewhere. */
		h = HEALTH_DOWN;
		why = "suspended by a start or trigger limit";
	} else if (s->state == SERVICE_FAILED) {
		h = HEALTH_DOWN;
		why = "failed";
	} else if (s->drained) {
		h = HEALTH_DRAIN;
		why = "drained";
	} else if (s->held) {
		/* nsinetctl freeze: nothing thaws it but nsinetctl thaw. */
		h = HEALTH_MAINT;
		why = "frozen by request";
	}
	/* Anything else serves now or starts on the next connection:
	 * stopped, parked, starting, running, freezing, frozen, thawing,
	 * stopping (the queue waits for the next container), waiting (a
	 * reload's successor). */
	if (ret_why)
		*ret_why = why;
	return h;
}

const char *health_to_string(enum health h)
{
	static const char *const names[_HEALTH_MAX] = {
	    [HEALTH_UP] = "up",     [HEALTH_DRAIN] = "drain",  [HEALTH_MAINT] = "maint",
	    [HEALTH_DOWN] = "down", [HEALTH_UNKNOWN] = "down",
	};

	return (unsigned)h < _HEALTH_MAX ? names[h] : "down";
}

int health_http_status(enum health h)
{
	switch (h) {
	case HEALTH_UP:
		return 200;
	case HEALTH_UNKNOWN:
		return 404;
	default:
		return 503;
	}
}

size_t health_agent_answer(enum health h, const char *why, char *buf, size_t len)
{
	int k;

	if (h == HEALTH_UP)
		k = snprintf(buf, len, "up ready\n");
	else if (h == HEALTH_DRAIN)
		k = snprintf(buf, len, "drain\n");
	else
		k = snprintf(buf, len, "%s # %s\n", health_to_string(h), why ? why : "");
	if (k < 0 || (size_t)k >= len) {
		/* Cannot happen with HEALTH_ANSWER_MAX; still a valid line. */
		k = snprintf(buf, len, "down\n");
	}
	return (size_t)k;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

int health_parse_line(const char *buf, size_t n, char *ret_name)
{
	const char *nl = memchr(buf, '\n', n), *b = buf, *e;

	if (!nl)
		return n >= HEALTH_LINE_MAX ? -E2BIG : -EAGAIN;
	if ((size_t)(nl - buf) >= HEALTH_LINE_MAX)
		return -E2BIG;
	e = nl;
	while (b < e && is_blank(*b))
		b++;
	while (e > b && is_blank(e[-1]))
		e--;
	memcpy(ret_name, b, (size_t)(e - b));
	ret_name[e - b] = '\0';
	if (memchr(b, '\0', (size_t)(e - b)) || !service_name_is_valid(ret_name))
		return -EINVAL;
	return 0;
}
