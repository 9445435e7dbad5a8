/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * netns/: address arithmetic, and real namespaces and veth pairs. The test
 * first moves itself into a network namespace of its own, so that every
 * interface it makes lives there and goes with it: the machine's own
 * interfaces are never touched. Needs root for the second part.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "netns/address.h"
#include "netns/netns.h"
#include "netns/veth.h"
#include "tap.h"

static const char *fmt(const struct netns_prefix *p)
{
	static char buf[4][64];
	static int i;

	i = (i + 1) % 4;
	return netns_prefix_format(p, buf[i], sizeof(buf[i]));
}

static struct netns_prefix pfx(const char *s)
{
	struct netns_prefix p = {0};

	if (netns_prefix_parse(s, 30, 64, &p) < 0)
		printf("# cannot parse %s\n", s);
	return p;
}

static void test_address(void)
{
	struct netns_prefix p, q;

	ok(netns_prefix_parse("10.0.0.2", 30, 64, &p) == 0 && p.family == AF_INET &&
	       p.prefixlen == 30,
	   "IPv4 without length takes the default");
	is_str(fmt(&p), "10.0.0.2/30", "format IPv4");
	ok(netns_prefix_parse("fd00::2", 30, 64, &p) == 0 && p.family == AF_INET6,
	   "IPv6 without length");
	is_str(fmt(&p), "fd00::2/64", "format IPv6");
	ok(netns_prefix_parse("10.0.0.1/33", 30, 64, &p) == -EINVAL, "/33 rejected");
	ok(netns_prefix_parse("fd00::/129", 30, 64, &p) == -EINVAL, "/129 rejected");
	ok(netns_prefix_parse("10.0.0.1/", 30, 64, &p) == -EINVAL, "empty length rejected");
	ok(netns_prefix_parse("10.0.0.1/+3", 30, 64, &p) == -EINVAL, "signed length rejected");
	ok(netns_prefix_parse("host", 30, 64, &p) == -EINVAL, "a name rejected");
	ok(netns_prefix_parse("", 30, 64, &p) == -EINVAL, "empty rejected");

	p = pfx("10.89.0.0/16");
	ok(netns_pool_size(&p, 30, 1u << 20) == 16384, "a /16 holds 16384 /30s");
	ok(netns_pool_address(&p, 30, 0, 1, &q) == 0, "pool address 0");
	is_str(fmt(&q), "10.89.0.1/30", "first /30, host 1");
	netns_pool_address(&p, 30, 1, 2, &q);
	is_str(fmt(&q), "10.89.0.6/30", "second /30, host 2");
	netns_pool_address(&p, 30, 64, 1, &q);
	is_str(fmt(&q), "10.89.1.1/30", "carry into the third byte");
	ok(netns_pool_address(&p, 30, 16384, 1, &q) == -ERANGE, "index beyond the pool");
	ok(netns_pool_address(&p, 30, 0, 4, &q) == -ERANGE, "host beyond the subnet");

	p = pfx("fd00:6e73:696e::/48");
	ok(netns_pool_size(&p, 64, 1u << 20) == 65536, "a /48 holds 65536 /64s");
	ok(netns_pool_size(&p, 64, 1000) == 1000, "capped");
	netns_pool_address(&p, 64, 258, 2, &q);
	is_str(fmt(&q), "fd00:6e73:696e:102::2/64", "IPv6 subnet 258, host 2");

	p = pfx("10.89.0.5/30");
	q = netns_prefix_network(&p);
	is_str(fmt(&q), "10.89.0.4/30", "network of a /30");
	ok(netns_prefix_overlap(&p, &q), "same /30 overlaps");
	q = pfx("10.89.0.0/16");
	ok(netns_prefix_overlap(&p, &q), "a /30 inside a /16 overlaps");
	q = pfx("10.89.0.8/30");
	ok(!netns_prefix_overlap(&p, &q), "neighbouring /30s do not");
	q = pfx("fd00::1/64");
	ok(!netns_prefix_overlap(&p, &q), "different families do not");
	p = pfx("10.0.0.4/30");
	ok(netns_prefix_is_network_or_broadcast(&p), "network address");
	p = pfx("10.0.0.7/30");
	ok(netns_prefix_is_network_or_broadcast(&p), "broadcast address");
	p = pfx("10.0.0.6/30");
	ok(!netns_prefix_is_network_or_broadcast(&p), "host address");
	p = pfx("fd00::/64");
	ok(netns_prefix_is_network_or_broadcast(&p), "IPv6 subnet-router anycast");
}

static void test_names(void)
{
	char n[IFNAMSIZ], m[IFNAMSIZ], a[NETNS_ALIAS_MAX];

	netns_veth_name("web", n);
	is_str(n, "ve-web", "short name kept");
	netns_veth_name("abcdefghijkl", n);
	is_str(n, "ve-abcdefghijkl", "12 characters fit in 15");
	netns_veth_name("abcdefghijklm", n);
	ok(strlen(n) == 15 && strncmp(n, "ve-abc~", 7) == 0, "long name cut and hashed: %s", n);
	netns_veth_name("abcdefghijklx", m);
	ok(strcmp(n, m) != 0, "two long names with a common start differ: %s %s", n, m);
	netns_veth_alias("/run/nsinetd", a);
	is_str(a, "nsinetd:/run/nsinetd", "alias names the runtime directory");
}

/* A child in a network namespace of its own that runs script (with a line
 * on stdin as the go) and reports on a pipe. */
struct box {
	pid_t pid;
	int pidfd;
	int in, out;
};

static int box_start(struct box *b, const char *script)
{
	int in[2], out[2], ready[2];
	char c;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(ready, O_CLOEXEC) < 0)
		return -errno;
	b->pid = fork();
	if (b->pid < 0)
		return -errno;
	if (b->pid == 0) {
		if (unshare(CLONE_NEWNET) < 0)
			_exit(120);
		if (write(ready[1], "x", 1) != 1)
			_exit(121);
		dup2(in[0], 0);
		dup2(out[1], 1);
		execl("/bin/sh", "sh", "-c", script, (char *)NULL);
		_exit(122);
	}
	close(in[0]);
	close(out[1]);
	close(ready[1]);
	b->in = in[1];
	b->out = out[0];
	if (read(ready[0], &c, 1) != 1) {
		close(ready[0]);
		return -EIO;
	}
	close(ready[0]);
	b->pidfd = (int)syscall(SYS_pidfd_open, b->pid, 0);
	return b->pidfd < 0 ? -errno : 0;
}

/* Releases the box, reads its output, reaps it. */
static int box_finish(struct box *b, char *out, size_t len)
{
	size_t n = 0;
	ssize_t k;
	int status;

	if (write(b->in, "go\n", 3) != 3)
		printf("# cannot release the box\n");
	close(b->in);
	while (n + 1 < len && (k = read(b->out, out + n, len - 1 - n)) > 0)
		n += (size_t)k;
	out[n] = '\0';
	close(b->out);
	close(b->pidfd);
	if (waitpid(b->pid, &status, 0) < 0)
		return -errno;
	return status;
}

static bool link_exists(const char *name)
{
	return if_nametoindex(name) > 0;
}

static void test_veth(void)
{
	struct netns_veth v = {.host_name = "ve-unit", .alias = "nsinetd:/test/unit"};
	char out[8192], err[256] = "";
	struct box b;
	int ifindex = -1, r, status;

	v.host_addr[0] = pfx("10.89.0.1/30");
	v.addr[0] = pfx("10.89.0.2/30");
	v.host_addr[1] = pfx("fd00:6e73:696e::1/64");
	v.addr[1] = pfx("fd00:6e73:696e::2/64");

	/* Reachability is the integration test's (test_network.py). */
	r = box_start(&b, "read x; ip -o addr show dev host0; ip -o route; ip -o -6 route");
	ok(r == 0, "box started (%d)", r);
	if (r < 0)
		return;
	r = netns_veth_create(&v, b.pid, b.pidfd, &ifindex, err, sizeof(err));
	ok(r == 0, "veth created (%s: %s)", err, strerror(-r));
	ok(link_exists("ve-unit") && (int)if_nametoindex("ve-unit") == ifindex,
	   "host side ve-unit exists with the ifindex returned");
	ok(!link_exists("host0"), "no host0 on our side");
	/* A second pair of the same name: the error names it. */
	r = netns_veth_create(&v, b.pid, b.pidfd, &(int){0}, err, sizeof(err));
	ok(r == -EEXIST, "a second ve-unit: -EEXIST (%d)", r);
	is_str(err, "cannot create ve-unit", "error names the operation and the interface");
	ok(link_exists("ve-unit"), "the failed second create left the first alone");
	status = box_finish(&b, out, sizeof(out));
	ok(WIFEXITED(status), "box exited (0x%x)", status);
	ok(strstr(out, "inet 10.89.0.2/30") != NULL, "host0 has 10.89.0.2/30");
	ok(strstr(out, "inet6 fd00:6e73:696e::2/64") != NULL, "host0 has fd00:6e73:696e::2/64");
	ok(strstr(out, "default via 10.89.0.1 dev host0") != NULL, "IPv4 default route");
	ok(strstr(out, "default via fd00:6e73:696e::1 dev host0") != NULL, "IPv6 default route");

	/* The box is gone, its namespace may be still: the pair too. */
	{
		/* Deleting in a thread: the caller polls, then waits. */
		struct netns_veth_deletion *d = NULL;
		int polled;

		r = netns_veth_delete_async(ifindex, &d);
		ok(r == 0 && d, "delete started in a thread (%d)", r);
		polled = netns_veth_delete_finish(&d, false);
		ok(polled == -EBUSY || polled == 0 || polled == -ENODEV, "poll: busy or done (%d)",
		   polled);
		if (polled == -EBUSY)
			polled = netns_veth_delete_finish(&d, true);
		ok(polled == 0 || polled == -ENODEV, "the delete succeeded, or the kernel's (%d)",
		   polled);
		ok(!d, "and was freed");
		ok(!link_exists("ve-unit"), "ve-unit gone");
	}
}

static void test_stale(void)
{
	struct netns_veth v = {.host_name = "ve-stale", .alias = "nsinetd:/test/stale"};
	struct netns_veth other = {.host_name = "ve-other", .alias = "nsinetd:/test/other"};
	char out[256], err[256];
	struct box b;
	int i1, i2, r;

	/* The box's namespace lives while it runs: both pairs stay. */
	r = box_start(&b, "read x");
	ok(r == 0, "box started");
	if (r < 0)
		return;
	ok(netns_veth_create(&v, b.pid, b.pidfd, &i1, err, sizeof(err)) == 0, "ve-stale");
	/* The peer of the second pair needs another name in the same box:
	 * make it in a box of its own. */
	{
		struct box b2;
		ok(box_start(&b2, "read x") == 0, "second box");
		ok(netns_veth_create(&other, b2.pid, b2.pidfd, &i2, err, sizeof(err)) == 0,
		   "ve-other");
		/* A handed-over container's pair is ours, but kept. */
		is_int(netns_veth_remove_stale("nsinetd:/test/stale", &i1, 1), 0,
		       "the kept ifindex is not removed");
		ok(link_exists("ve-stale"), "ve-stale kept");
		r = netns_veth_remove_stale("nsinetd:/test/stale", NULL, 0);
		is_int(r, 1, "one stale interface removed");
		ok(!link_exists("ve-stale"), "ve-stale gone");
		ok(link_exists("ve-other"), "ve-other (another daemon's) kept");
		is_int(netns_veth_remove_stale("nsinetd:/test/stale", NULL, 0), 0,
		       "nothing left to remove");
		box_finish(&b2, out, sizeof(out));
		(void)netns_veth_delete(i2);
	}
	box_finish(&b, out, sizeof(out));
}

static int write_file(const char *path, const char *s)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, s, strlen(s)) < 0)
		return -errno;
	return 0;
}

/* IPv6 disabled on our side (in the test's own namespace): from the pool,
 * IPv6 is skipped; written explicitly, it is an error. */
static void test_ipv6_disabled(void)
{
	const char *knob = "/proc/sys/net/ipv6/conf/default/disable_ipv6";
	struct netns_veth v = {.host_name = "ve-no6", .alias = "nsinetd:/test/no6"};
	char out[4096], err[256] = "";
	struct box b;
	int ifindex = -1, r;

	if (write_file(knob, "1") < 0) {
		ok(true, "# SKIP cannot disable IPv6 here");
		return;
	}
	v.host_addr[0] = pfx("10.89.0.1/30");
	v.addr[0] = pfx("10.89.0.2/30");
	v.host_addr[1] = pfx("fd00::1/64");
	v.addr[1] = pfx("fd00::2/64");
	if (box_start(&b, "read x; ip -o addr show dev host0") < 0) {
		ok(false, "box");
		write_file(knob, "0");
		return;
	}
	r = netns_veth_create(&v, b.pid, b.pidfd, &ifindex, err, sizeof(err));
	is_int(r, -EACCES, "IPv6 required but disabled: -EACCES");
	is_str(err, "cannot add address fd00::1/64 to ve-no6", "the error names it");
	ok(!link_exists("ve-no6"), "the failed pair was deleted");
	v.ipv6_optional = true;
	r = netns_veth_create(&v, b.pid, b.pidfd, &ifindex, err, sizeof(err));
	ok(r == 0, "IPv6 optional: created (%s)", err);
	box_finish(&b, out, sizeof(out));
	ok(strstr(out, "inet 10.89.0.2/30") && !strstr(out, "fd00::2"), "IPv4 only in the box");
	(void)netns_veth_delete(ifindex);
	write_file(knob, "0");
}

static void test_netns(void)
{
	_cleanup_close_ int fd = -1;
	struct stat a, b;
	int r;

	r = netns_new_empty(&fd);
	ok(r == 0 && fd >= 0, "new empty namespace (%d)", r);
	ok(fstat(fd, &a) == 0 && stat("/proc/thread-self/ns/net", &b) == 0 && a.st_ino != b.st_ino,
	   "it is not ours: the caller stays where it was");
	is_int(netns_open_named("nsinetd-test-missing-ns", &(int){-1}), -ENOENT,
	       "a missing named namespace: -ENOENT");
	is_int(netns_open_named("../etc", &(int){-1}), -EINVAL, "a name with '/': -EINVAL");
	is_int(netns_open_named("..", &(int){-1}), -EINVAL, "'..': -EINVAL");
}

int main(void)
{
	test_address();
	test_names();
	if (geteuid() != 0) {
		printf("# SKIP namespaces and veth: needs root\n");
		return tap_done();
	}
	/* Everything below happens in a namespace of the test's own. */
	if (unshare(CLONE_NEWNET) < 0 || netns_loopback_up() < 0) {
		printf("# SKIP namespaces and veth: cannot unshare the network namespace\n");
		return tap_done();
	}
	test_netns();
	test_veth();
	test_stale();
	test_ipv6_disabled();
	return tap_done();
}
