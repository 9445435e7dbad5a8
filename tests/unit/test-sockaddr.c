/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "common/sockaddr.h"
#include "tests/unit/tap.h"

#define SUN_PATH_SIZE sizeof(((struct sockaddr_un *)0)->sun_path)

/* Parses s, expects success, and that it formats as expect. */
static void check_good(const char *s, int family, const char *expect)
{
	struct socket_address a;
	char buf[SOCKADDR_FORMAT_MAX];
	int r;

	memset(&a, 0xaa, sizeof(a));
	r = socket_address_parse(s, &a);
	is_int(r, 0, "parse '%s'", s);
	if (r < 0)
		return;
	is_int(socket_address_family(&a), family, "'%s' has family %d", s, family);
	is_str(socket_address_format(&a, buf, sizeof(buf)), expect, "'%s' formats as '%s'", s,
	       expect);
}

static void check_bad(const char *s, int err)
{
	struct socket_address a;

	is_int(socket_address_parse(s, &a), err, "'%s' is rejected with %d", s, err);
}

static void test_forms(void)
{
	struct socket_address a;

	check_good("8080", AF_INET6, "[::]:8080");
	ok(socket_address_parse("8080", &a) == 0 && a.any_port, "bare port sets any_port");
	ok(a.len == sizeof(struct sockaddr_in6), "bare port length");
	ok(ntohs(a.sa.in6.sin6_port) == 8080 && IN6_IS_ADDR_UNSPECIFIED(&a.sa.in6.sin6_addr),
	   "bare port is [::]:8080");

	check_good("127.0.0.1:80", AF_INET, "127.0.0.1:80");
	ok(socket_address_parse("127.0.0.1:80", &a) == 0 && !a.any_port, "IPv4 has no any_port");
	ok(a.len == sizeof(struct sockaddr_in) && ntohs(a.sa.in.sin_port) == 80 &&
	       a.sa.in.sin_addr.s_addr == htonl(INADDR_LOOPBACK),
	   "IPv4 fields");
	check_good("0.0.0.0:1", AF_INET, "0.0.0.0:1");
	check_good("255.255.255.255:65535", AF_INET, "255.255.255.255:65535");
	check_good("[::1]:8080", AF_INET6, "[::1]:8080");
	check_good("[::]:80", AF_INET6, "[::]:80");
	ok(socket_address_parse("[::]:80", &a) == 0 && !a.any_port, "[::]:80 has no any_port");
	check_good("[2001:db8::1]:443", AF_INET6, "[2001:db8::1]:443");
	check_good("[::ffff:1.2.3.4]:80", AF_INET6, "[::ffff:1.2.3.4]:80");
	check_good("[fe80::1%lo]:80", AF_INET6, "[fe80::1%lo]:80");
	ok(socket_address_parse("[fe80::1%lo]:80", &a) == 0 &&
	       a.sa.in6.sin6_scope_id == if_nametoindex("lo"),
	   "scope by name");
	ok(socket_address_parse("[fe80::1%1]:80", &a) == 0 && a.sa.in6.sin6_scope_id == 1,
	   "scope by number");
	check_good("[fe80::1%4000000]:80", AF_INET6, "[fe80::1%4000000]:80");
	check_good("/run/web.sock", AF_UNIX, "/run/web.sock");
	ok(socket_address_parse("/run/web.sock", &a) == 0 &&
	       a.len == offsetof(struct sockaddr_un, sun_path) + strlen("/run/web.sock") + 1,
	   "unix path length includes the NUL");
	check_good("@nsinetd/web", AF_UNIX, "@nsinetd/web");
	ok(socket_address_parse("@abc", &a) == 0 &&
	       a.len == offsetof(struct sockaddr_un, sun_path) + 4 && a.sa.un.sun_path[0] == 0 &&
	       memcmp(a.sa.un.sun_path + 1, "abc", 3) == 0,
	   "abstract: leading NUL, no trailing NUL");
}

static void test_bad(void)
{
	char path[SUN_PATH_SIZE + 2];

	check_bad("", -EINVAL);
	check_bad("0", -ERANGE);
	check_bad("65536", -ERANGE);
	check_bad("99999999999999999999999", -ERANGE);
	check_bad("127.0.0.1:0", -ERANGE);
	check_bad("127.0.0.1:65536", -ERANGE);
	check_bad("127.0.0.1:99999", -ERANGE);
	check_bad("[::1]:0", -ERANGE);
	check_bad("[::1]:65536", -ERANGE);
	check_bad("127.0.0.1", -EINVAL);
	check_bad("127.0.0.1:", -EINVAL);
	check_bad("127.0.0.1:http", -EINVAL);
	check_bad("127.0.0.1:-1", -EINVAL);
	check_bad("127.0.0.1:+80", -EINVAL);
	check_bad(":80", -EINVAL);
	check_bad("localhost:80", -EINVAL);
	check_bad("1.2.3:80", -EINVAL);
	check_bad("256.1.1.1:80", -EINVAL);
	check_bad("::1:80", -EINVAL);
	check_bad("[::1]", -EINVAL);
	check_bad("[::1]:", -EINVAL);
	check_bad("[::1]80", -EINVAL);
	check_bad("[::1:80", -EINVAL);
	check_bad("[]:80", -EINVAL);
	check_bad("[1.2.3.4]:80", -EINVAL);
	check_bad("[fe80::1%]:80", -EINVAL);
	check_bad("[fe80::1%nosuchif0]:80", -EINVAL);
	check_bad("[fe80::1%0]:80", -EINVAL);
	check_bad(" 80", -EINVAL);
	check_bad("80 ", -EINVAL);
	check_bad("/", -EINVAL);
	check_bad("@", -EINVAL);
	check_bad("run/x.sock", -EINVAL);

	/* A path needs room for its NUL: 107 bytes fit, 108 do not. */
	memset(path, 'a', sizeof(path));
	path[0] = '/';
	path[SUN_PATH_SIZE - 1] = '\0';
	check_good(path, AF_UNIX, path);
	path[SUN_PATH_SIZE - 1] = 'a';
	path[SUN_PATH_SIZE] = '\0';
	check_bad(path, -ERANGE);
	/* An abstract name uses the whole sun_path: '@' + 107 bytes fit. */
	path[0] = '@';
	check_good(path, AF_UNIX, path);
	path[SUN_PATH_SIZE] = 'a';
	path[SUN_PATH_SIZE + 1] = '\0';
	check_bad(path, -ERANGE);
}

static void test_equal(void)
{
	static const char *const addrs[] = {
	    "80",           "81",           "[::]:80",
	    "0.0.0.0:80",   "127.0.0.1:80", "127.0.0.1:81",
	    "127.0.0.2:80", "[::1]:80",     "[fe80::1%lo]:80",
	    "[fe80::1]:80", "/run/a",       "/run/b",
	    "/run/a/b",     "@a",           "@run/a",
	};
	size_t n = sizeof(addrs) / sizeof(addrs[0]);
	bool all = true;

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			struct socket_address a, b;

			memset(&a, 0x11, sizeof(a));
			memset(&b, 0x22, sizeof(b));
			if (socket_address_parse(addrs[i], &a) < 0 ||
			    socket_address_parse(addrs[j], &b) < 0 ||
			    socket_address_equal(&a, &b) != (i == j)) {
				ok(false, "equality of '%s' and '%s'", addrs[i], addrs[j]);
				all = false;
			}
		}
	ok(all, "each address equals itself and no other (%zu x %zu)", n, n);
}

static void test_raw(void)
{
	union sockaddr_union u = {0};
	char buf[SOCKADDR_FORMAT_MAX];

	u.un.sun_family = AF_UNIX;
	is_str(sockaddr_format(&u.sa, sizeof(sa_family_t), buf, sizeof(buf)), "(unnamed)",
	       "unnamed unix socket");
	memcpy(u.un.sun_path, "\0a\1b", 4);
	is_str(sockaddr_format(&u.sa, offsetof(struct sockaddr_un, sun_path) + 4, buf, sizeof(buf)),
	       "@a?b", "abstract name with an unprintable byte");
	u.sa.sa_family = AF_PACKET;
	is_str(sockaddr_format(&u.sa, sizeof(u), buf, sizeof(buf)), "(family 17)",
	       "unknown family");
	is_str(sockaddr_format(&u.sa, 0, buf, sizeof(buf)), "(none)", "zero length");
	u.in.sin_family = AF_INET;
	u.in.sin_port = htons(80);
	u.in.sin_addr.s_addr = htonl(0x7f000001);
	is_str(sockaddr_format(&u.sa, sizeof(u.in), buf, 8), "127.0.0", "truncated output");
}

/* The source key of ip (IPv4 or IPv6) with an IPv6 prefix of len bits,
 * formatted back: "a.b.c.d", "x::/len", or "-errno". */
static const char *source_of(const char *ip, unsigned len, char *buf, size_t size)
{
	union sockaddr_union u = {0};
	unsigned char key[16];
	char text[INET6_ADDRSTRLEN];
	int family;

	if (inet_pton(AF_INET, ip, &u.in.sin_addr) == 1)
		u.in.sin_family = AF_INET;
	else if (inet_pton(AF_INET6, ip, &u.in6.sin6_addr) == 1)
		u.in6.sin6_family = AF_INET6;
	else
		u.sa.sa_family = AF_UNIX;
	family = sockaddr_source_key(&u.sa, len, key);
	if (family < 0)
		snprintf(buf, size, "%d", family);
	else if (family == AF_INET)
		snprintf(buf, size, "%s", inet_ntop(AF_INET, key, text, sizeof(text)));
	else
		snprintf(buf, size, "%s/%u", inet_ntop(AF_INET6, key, text, sizeof(text)), len);
	return buf;
}

static void test_source_key(void)
{
	static const struct {
		const char *ip;
		unsigned len;
		const char *key;
	} cases[] = {
	    {"192.0.2.7", 64, "192.0.2.7"},
	    /* IPv4-mapped: the IPv4 address, whatever the IPv6 prefix. */
	    {"::ffff:192.0.2.7", 64, "192.0.2.7"},
	    {"::ffff:192.0.2.7", 128, "192.0.2.7"},
	    /* One /64, one source. */
	    {"2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64, "2001:db8:1:2::/64"},
	    {"2001:db8:1:2::1", 64, "2001:db8:1:2::/64"},
	    {"2001:db8:1:3::1", 64, "2001:db8:1:3::/64"},
	    {"2001:db8:1:2::1", 128, "2001:db8:1:2::1/128"},
	    {"2001:db8:1:2::1", 48, "2001:db8:1::/48"},
	    /* Not on a byte boundary. */
	    {"2001:db8:1:2ff::1", 57, "2001:db8:1:280::/57"},
	    {"ffff:ffff::", 1, "8000::/1"},
	    {"::1", 64, "::/64"},
	    {"2001:db8::1", 0, "-22"},
	    {"2001:db8::1", 129, "-22"},
	    {"unix", 64, "-22"},
	};
	char buf[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_str(source_of(cases[i].ip, cases[i].len, buf, sizeof(buf)), cases[i].key,
		       "source of %s with IPv6 prefix /%u", cases[i].ip, cases[i].len);
}

int main(void)
{
	test_forms();
	test_bad();
	test_equal();
	test_raw();
	test_source_key();
	return tap_done();
}
