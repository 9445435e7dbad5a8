/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The re-exec's state (supervisor/serialize.c): a round trip, and what a
 * reader refuses (a newer version, no header, a cut or malformed file),
 * each with a reason that says what is wrong. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "supervisor/serialize.h"
#include "tap.h"

static int memfd_with(const char *text)
{
	int fd = memfd_create("test-state", MFD_CLOEXEC);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	return fd;
}

static void refused(const char *text, int err, const char *reason, const char *what)
{
	struct state st = {0};
	char why[256] = "";
	int fd = memfd_with(text);
	int r = state_read(fd, &st, why, sizeof(why));

	is_int(r, -err, "%s: refused (%s)", what, strerror(err));
	ok(strstr(why, reason) != NULL, "%s: the reason says \"%s\" (%s)", what, reason, why);
	close(fd);
}

static bool same_prefix(const struct netns_prefix *a, const struct netns_prefix *b)
{
	return a->family == b->family && a->prefixlen == b->prefixlen &&
	       netns_prefix_same_address(a, b);
}

static void test_round_trip(void)
{
	uint64_t listeners[2][2] = {{7, 1}, {3, 0}};
	uint64_t failures[2] = {5, 6};
	struct state_container sb = {.pid = 101,
				     .pidfd = 12,
				     .output_fd = -1,
				     .cgroup = "/sys/fs/cgroup/x/acc/s1",
				     .started_at = 5};
	struct state_service svc[2] = {
	    {.name = "web",
	     .config_hash = 0x0123456789abcdefULL,
	     .listeners = listeners,
	     .n_listeners = 2,
	     .userns_fd = 13,
	     .userns_slot = 2,
	     .netns_fd = 15,
	     .failures = failures,
	     .n_failures = 2,
	     .suspended_until = 777,
	     .suspend_drain = true,
	     .suspend_reason = "failed starts",
	     .has_container = true,
	     .container = {.pid = 100,
			   .pidfd = 10,
			   .output_fd = 11,
			   .cgroup = "/sys/fs/cgroup/with space/web",
			   .frozen = true,
			   .held = true,
			   .started_at = 1000,
			   .idle_since = 2000,
			   .notify_fd = 14,
			   .notify_path = "/run/nsinetd/notify/3"}},
	    {.name = "acc", .userns_fd = -1, .netns_fd = -1, .sandboxes = &sb, .n_sandboxes = 1},
	};
	int fds[] = {3, 4, 5};
	struct state in = {
	    .reexecs = 4, .began_at = 99, .fds = fds, .n_fds = 3, .services = svc, .n_services = 2};
	struct state out = {0};
	char *buf = NULL, why[256];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int all[16], fd, r;

	svc[0].veth_ifindex = 17;
	memcpy(svc[0].veth_ifname, "ve-web", 7);
	ok(netns_prefix_parse("10.89.0.6/30", 32, 128, &svc[0].veth_addr[0]) == 0 &&
	       netns_prefix_parse("10.89.0.5/30", 32, 128, &svc[0].veth_host_addr[0]) == 0 &&
	       netns_prefix_parse("fd89::2/64", 32, 128, &svc[0].veth_addr[1]) == 0,
	   "addresses for the veth pair");
	svc[0].stats.starts = 42;
	svc[0].stats.stops[STOP_IDLE] = 3;
	svc[0].stats.cold_start.bucket[2] = 9;
	svc[0].stats.cold_start.count = 9;
	svc[0].stats.have_exit = true;
	svc[0].stats.last_exit_status = 256;
	is_int(state_write(f, &in), 0, "written");
	fclose(f);
	fd = memfd_with(buf);
	r = state_read(fd, &out, why, sizeof(why));
	is_int(r, 0, "read back (%s)", r < 0 ? why : "ok");
	if (r < 0)
		return;
	is_int(out.version, STATE_VERSION, "version");
	is_int(out.reexecs, 4, "re-exec count");
	is_int(out.began_at, 99, "began at");
	is_int(out.n_fds, 3, "listeners");
	is_int(out.n_services, 2, "services");
	is_str(out.services[0].name, "web", "name");
	ok(out.services[0].config_hash == 0x0123456789abcdefULL, "config hash");
	is_int(out.services[0].stats.starts, 42, "a counter");
	is_int(out.services[0].stats.stops[STOP_IDLE], 3, "an array of counters");
	is_int(out.services[0].stats.cold_start.bucket[2], 9, "a histogram");
	is_int(out.services[0].stats.last_exit_status, 256, "the last exit");
	is_int(out.services[0].n_listeners, 2, "per-listener counters");
	is_int(out.services[0].listeners[0][0], 7, "accepted on the first");
	ok(out.services[0].has_container, "the container");
	is_int(out.services[0].container.pid, 100, "its pid");
	is_int(out.services[0].container.output_fd, 11, "its output");
	ok(out.services[0].container.frozen && out.services[0].container.held, "frozen, held");
	is_str(out.services[0].container.cgroup, "/sys/fs/cgroup/with space/web",
	       "its cgroup, with a space");
	is_int(out.services[1].n_sandboxes, 1, "a sandbox");
	is_int(out.services[1].sandboxes[0].pidfd, 12, "its pidfd");
	is_int(out.services[0].n_failures, 2, "the start limit's window");
	is_int(out.services[0].failures[1], 6, "its times");
	is_int(out.services[0].n_triggers, 0, "an empty window");
	is_int(out.services[0].suspended_until, 777, "a suspension");
	ok(out.services[0].suspend_drain, "draining");
	is_str(out.services[0].suspend_reason, "failed starts", "its reason, with a space");
	is_int(out.services[1].suspended_until, 0, "none");
	is_int(out.services[0].userns_fd, 13, "the user namespace");
	is_int(out.services[0].userns_slot, 2, "its uid range");
	is_int(out.services[1].userns_fd, -1, "none");
	is_int(out.services[0].container.notify_fd, 14, "its notification socket");
	is_str(out.services[0].container.notify_path, "/run/nsinetd/notify/3", "at its path");
	is_int(out.services[1].sandboxes[0].notify_fd, -1, "none");
	is_int(out.services[0].veth_ifindex, 17, "the veth pair's ifindex");
	is_str(out.services[0].veth_ifname, "ve-web", "its name");
	ok(same_prefix(&out.services[0].veth_addr[0], &svc[0].veth_addr[0]) &&
	       same_prefix(&out.services[0].veth_addr[1], &svc[0].veth_addr[1]),
	   "the container's addresses");
	ok(same_prefix(&out.services[0].veth_host_addr[0], &svc[0].veth_host_addr[0]),
	   "the host side's");
	is_int(out.services[0].veth_host_addr[1].family, 0, "an unset one stays unset");
	is_int(out.services[1].veth_ifindex, 0, "none");
	is_int(out.services[0].netns_fd, 15, "the shared network namespace");
	is_int(out.services[1].netns_fd, -1, "none");
	is_int(state_fds(&out, all, 16), 9,
	       "every fd named: 3 listeners, pidfds, a pipe, a user namespace, a network "
	       "namespace, a socket");
	ok(state_fds_max(&out) >= 9, "state_fds_max() bounds them (%zu)", state_fds_max(&out));
	state_done(&out);
	close(fd);
	free(buf);
}

static void test_unknown_keys_skipped(void)
{
	struct state st = {0};
	char why[256];
	int fd = memfd_with("nsinetd-state 1\nreexecs 2\nfuture-key 1 2 3\nservice a\n"
			    "stat starts 5\nstat future_counter 9\nstat stops 1 2 3 4 5 6 7 8 9\n"
			    "end\n");

	is_int(state_read(fd, &st, why, sizeof(why)), 0, "keys and counters it does not know");
	is_int(st.services[0].stats.starts, 5, "what it knows is read");
	is_int(st.services[0].stats.stops[0], 1, "a longer array: its first part");
	state_done(&st);
	close(fd);
}

int main(void)
{
	test_round_trip();
	test_unknown_keys_skipped();
	refused("nsinetd-state 2\nend\n", EPROTONOSUPPORT,
		"its version is 2, and this nsinetd "
		"reads versions 1 to 1",
		"a newer version");
	refused("nsinetd-state 0\nend\n", EPROTONOSUPPORT, "version is 0", "version 0");
	refused("something else\n", EBADMSG, "does not start with \"nsinetd-state VERSION\"",
		"no header");
	refused("nsinetd-state 1\nreexecs 1\n", EBADMSG, "no \"end\" line", "cut short");
	refused("nsinetd-state 1\nreexecs 1", EBADMSG, "line 2 is cut short", "a cut line");
	refused("nsinetd-state 1\nservice a\ncontainer x 1 2\nend\n", EBADMSG, "line 3",
		"a malformed container");
	refused("nsinetd-state 1\nservice a\ncontainer-cgroup relative\nend\n", EBADMSG, "line 3",
		"a cgroup without its container");
	refused("nsinetd-state 1\nservice a\ncontainer 5 6 -1 0 0 0 1 1\n"
		"veth 7 ve-a fd00::2/64 - - -\nend\n",
		EBADMSG, "line 4", "an IPv6 address where IPv4 goes");
	refused("nsinetd-state 1\nservice a\nveth 7 ve-a - - - -\nend\n", EBADMSG, "line 3",
		"a veth pair without its container");
	refused("", EBADMSG, "size, 0 bytes", "empty");
	return tap_done();
}
