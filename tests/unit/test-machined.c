/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* supervisor/machined.c: machine names made of service names (systemd's
 * host name rule); no registration when disabled or without a bus, and no
 * wait; a bus that accepts and never answers holds one pending
 * registration, which ends cleanly (ASan: nothing leaks). The real
 * machined is test_nested_boot.py's. */
#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "supervisor/machined.h"
#include "tests/unit/tap.h"

static void name_is(const char *service, const char *want)
{
	char buf[MACHINE_NAME_MAX + 1];
	int r = machine_name_from_service(service, buf, sizeof(buf));

	if (!want) {
		is_int(r, -EINVAL, "'%s': no machine name", service);
		return;
	}
	is_int(r, 0, "'%s': a machine name", service);
	is_str(buf, want, "'%s' is '%s'", service, want);
}

static void test_names(void)
{
	char big[100];

	name_is("web", "web");
	name_is("debian_os", "debian-os");
	name_is("echo@1", "echo-1");
	name_is("a--b", "a-b");
	name_is("_web", "web");
	name_is("web-", "web");
	name_is("a_.b", "a.b");
	name_is("a._b", "a.b");
	name_is(".a..b.", "a.b");
	name_is("web.example", "web.example");
	name_is("___", NULL);
	name_is("...", NULL);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[63] = '_';
	{
		char buf[MACHINE_NAME_MAX + 1];

		is_int(machine_name_from_service(big, buf, sizeof(buf)), 0, "a long name");
		is_int((int)strlen(buf), 63, "cut at 64 bytes, never ending in '-'");
	}
}

static void test_no_bus(void)
{
	struct event_base *base = event_base_new();
	struct machined *md = NULL;
	struct machine *mc;
	sd_id128_t id = {{1}};

	ok(machined_new(base, false, &md) == 0, "a disabled client");
	ok(!machined_register(md, "web", id, 4242, "/srv/tree"), "disabled: nothing registered");
	md = machined_free(md);

	setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/nsitest-bus", 1);
	ok(machined_new(base, true, &md) == 0, "a client");
	mc = machined_register(md, "web", id, 4242, "/srv/tree");
	ok(!mc, "no bus: nothing registered");
	ok(!machined_register(md, "web2", id, 4243, "/srv/tree"), "nor the next time");
	ok(!machined_register(md, "web", id, 1, "/srv/tree"), "never pid 1 as leader");
	machined_free(md);
	event_base_free(base);
}

static void test_silent_bus(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char dir[] = "/tmp/nsitest-machined-XXXXXX", addr[200];
	struct event_base *base = event_base_new();
	struct timeval tv = {0, 200000};
	struct machined *md = NULL;
	struct machine *mc;
	sd_id128_t id = {{2}};
	int fd;

	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/bus", dir);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ok(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 8) == 0,
	   "a bus that never answers");
	snprintf(addr, sizeof(addr), "unix:path=%s", sa.sun_path);
	setenv("DBUS_SYSTEM_BUS_ADDRESS", addr, 1);

	ok(machined_new(base, true, &md) == 0, "a client");
	mc = machined_register(md, "web", id, 4242, "/srv/tree");
	ok(mc != NULL, "pending: a registration handle");
	is_str(machine_name(mc), "web", "its machine name");
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	ok(machined_unregister(mc) == NULL, "the container ends while the call is pending");
	mc = machined_register(md, "web", id, 4242, "/srv/tree");
	ok(mc != NULL, "another on the same connection");
	machined_free(md); /* with one still pending: freed with it */
	close(fd);
	unlink(sa.sun_path);
	rmdir(dir);
	event_base_free(base);
}

int main(void)
{
	test_names();
	test_no_bus();
	test_silent_bus();
	return tap_done();
}
