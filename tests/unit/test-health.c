/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* supervisor/health.c: the agent's request lines, every state's answer, the
 * HTTP statuses; health_find() skips services a reload replaced. */
#include <errno.h>
#include <string.h>

#include "supervisor/health.h"
#include "supervisor/manager.h"
#include "supervisor/service.h"
#include "tests/unit/tap.h"

static int parse(const char *line, char *name)
{
	return health_parse_line(line, strlen(line), name);
}

static void test_lines(void)
{
	char name[HEALTH_LINE_MAX], big[300];

	is_int(parse("web\n", name), 0, "a name and a newline");
	is_str(name, "web", "the name");
	is_int(parse("  web-1.a@b \r\n", name), 0, "blanks and CRLF around the name");
	is_str(name, "web-1.a@b", "the name without them");
	is_int(parse("web\nmore", name), 0, "what follows the line is not read");
	is_int(parse("web", name), -EAGAIN, "no newline yet: wait");
	is_int(parse("", name), -EAGAIN, "nothing yet: wait");
	is_int(parse("\n", name), -EINVAL, "an empty line is not a name");
	is_int(parse("a b\n", name), -EINVAL, "a blank inside");
	is_int(parse("../etc\n", name), -EINVAL, "a slash");
	is_int(parse(".hidden\n", name), -EINVAL, "a leading dot");
	is_int(health_parse_line("we\0b\n", 5, name), -EINVAL, "a NUL byte");
	memset(big, 'x', sizeof(big));
	big[64] = '\n';
	is_int(health_parse_line(big, 65, name), 0, "64 bytes: the longest name");
	big[65] = '\n';
	big[64] = 'x';
	is_int(health_parse_line(big, 66, name), -EINVAL, "65 bytes: too long for a name");
	memset(big, 'x', sizeof(big));
	is_int(health_parse_line(big, HEALTH_LINE_MAX - 1, name), -EAGAIN,
	       "%d bytes without a newline: wait", HEALTH_LINE_MAX - 1);
	is_int(health_parse_line(big, HEALTH_LINE_MAX, name), -E2BIG,
	       "%d bytes without a newline: too long", HEALTH_LINE_MAX);
	big[HEALTH_LINE_MAX] = '\n';
	is_int(health_parse_line(big, HEALTH_LINE_MAX + 1, name), -E2BIG,
	       "a newline beyond the limit: too long");
}

static const char *answer(const struct service *s)
{
	static char buf[HEALTH_ANSWER_MAX];
	const char *why = NULL;
	enum health h = health_of(s, &why);

	health_agent_answer(h, why, buf, sizeof(buf));
	return buf;
}

static void test_states(void)
{
	struct service s = {0};
	static const struct {
		enum service_state state;
		const char *answer;
		int http;
	} rows[] = {
	    {SERVICE_STOPPED, "up ready\n", 200},
	    {SERVICE_PARKED, "up ready\n", 200},
	    {SERVICE_STARTING, "up ready\n", 200},
	    {SERVICE_RUNNING, "up ready\n", 200},
	    {SERVICE_FREEZING, "up ready\n", 200},
	    {SERVICE_FROZEN, "up ready\n", 200},
	    {SERVICE_THAWING, "up ready\n", 200},
	    {SERVICE_STOPPING, "up ready\n", 200},
	    {SERVICE_WAITING, "up ready\n", 200},
	    {SERVICE_SUSPENDED, "down # suspended by a start or trigger limit\n", 503},
	    {SERVICE_FAILED, "down # failed\n", 503},
	};

	is_int((int)(sizeof(rows) / sizeof(rows[0])), _SERVICE_STATE_MAX, "every state has a row");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		s.state = rows[i].state;
		is_str(answer(&s), rows[i].answer, "%s: the agent's answer",
		       service_state_to_string(rows[i].state));
		is_int(health_http_status(health_of(&s, NULL)), rows[i].http, "%s: HTTP %d",
		       service_state_to_string(rows[i].state), rows[i].http);
	}
	s.state = SERVICE_STOPPED;
	s.drained = true;
	is_str(answer(&s), "drain\n", "drained and stopped: drain");
	is_int(health_http_status(health_of(&s, NULL)), 503, "drained: 503");
	s.state = SERVICE_SUSPENDED;
	is_str(answer(&s), "down # suspended by a start or trigger limit\n",
	       "drained and suspended: down");
	s.drained = false;
	s.state = SERVICE_FROZEN;
	s.held = true;
	is_str(answer(&s), "maint # frozen by request\n", "frozen by request: maint");
	is_str(answer(NULL), "down # no such service\n", "no service: down");
	is_int(health_http_status(health_of(NULL, NULL)), 404, "no service: 404");
}

static void test_find(void)
{
	struct service_config c1 = {.name = "web"}, c2 = {.name = "web"}, c3 = {.name = "db"};
	struct service old = {.cfg = &c1, .removing = true}, cur = {.cfg = &c2},
		       db = {.cfg = &c3, .dead = true};
	struct service *list[] = {&old, &cur, &db};
	struct manager m = {.services = list, .n_services = 3};

	ok(health_find(&m, "web") == &cur, "the current service, not the one being replaced");
	ok(health_find(&m, "db") == NULL, "a dead service is gone");
	ok(health_find(&m, "nope") == NULL, "no such name");
}

int main(void)
{
	test_lines();
	test_states();
	test_find();
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}
