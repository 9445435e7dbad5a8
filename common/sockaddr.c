/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sockaddr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "parse.h"

#define SUN_PATH_SIZE sizeof(((struct sockaddr_un *)0)->sun_path)

/* "1"-"65535"; -ERANGE for 0 or too big, -EINVAL if not a number. */
static int parse_port(const char *s, uint16_t *ret)
{
	uint64_t v;
	int r;

	r = parse_uint(s, 1, 65535, &v);
	if (r < 0)
		return r;
	*ret = (uint16_t)v;
	return 0;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

static int parse_unix(const char *s, struct socket_address *ret)
{
	struct socket_address a = {0};
	bool abstract = s[0] == '@';
	size_t n = strlen(s);

	if (n < 2)
		return -EINVAL; /* "/" and "@" name nothing */
	/* A path needs its terminating NUL inside sun_path; an abstract name
	 * takes the '@' position as its leading NUL byte. */
	if (abstract ? n > SUN_PATH_SIZE : n >= SUN_PATH_SIZE)
		return -ERANGE;
	a.sa.un.sun_family = AF_UNIX;
	memcpy(a.sa.un.sun_path, s, n);
	if (abstract) {
		a.sa.un.sun_path[0] = '\0';
		a.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		a.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}
	*ret = a;
	return 0;
}

static int parse_ipv6(const char *s, struct socket_address *ret)
{
	struct socket_address a = {0};
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	const char *close = strchr(s, ']');
	char *scope;
	size_t n;
	int r;

	if (!close || close[1] != ':')
		return -EINVAL;
	n = (size_t)(close - (s + 1));
	if (n == 0 || n >= sizeof(host))
		return -EINVAL;
	memcpy(host, s + 1, n);
	host[n] = '\0';

	a.sa.in6.sin6_family = AF_INET6;
	scope = strchr(host, '%');
	if (scope) {
		*scope++ = '\0';
		if (!*scope)
			return -EINVAL;
		if (all_digits(scope)) {
			uint64_t idx;

			r = parse_uint(scope, 1, UINT32_MAX, &idx);
			if (r < 0)
				return -EINVAL;
			a.sa.in6.sin6_scope_id = (uint32_t)idx;
		} else {
			a.sa.in6.sin6_scope_id = if_nametoindex(scope);
			if (a.sa.in6.sin6_scope_id == 0)
				return -EINVAL;
		}
	}
	if (inet_pton(AF_INET6, host, &a.sa.in6.sin6_addr) != 1)
		return -EINVAL;
	r = parse_port(close + 2, &a.sa.in6.sin6_port);
	if (r < 0)
		return r;
	a.sa.in6.sin6_port = htons(a.sa.in6.sin6_port);
	a.len = sizeof(struct sockaddr_in6);
	*ret = a;
	return 0;
}

static int parse_ipv4(const char *s, struct socket_address *ret)
{
	struct socket_address a = {0};
	char host[INET_ADDRSTRLEN];
	const char *colon = strrchr(s, ':');
	size_t n;
	int r;

	if (!colon)
		return -EINVAL;
	n = (size_t)(colon - s);
	if (n == 0 || n >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = '\0';
	a.sa.in.sin_family = AF_INET;
	if (inet_pton(AF_INET, host, &a.sa.in.sin_addr) != 1)
		return -EINVAL;
	r = parse_port(colon + 1, &a.sa.in.sin_port);
	if (r < 0)
		return r;
	a.sa.in.sin_port = htons(a.sa.in.sin_port);
	a.len = sizeof(struct sockaddr_in);
	*ret = a;
	return 0;
}

int socket_address_parse(const char *s, struct socket_address *ret)
{
	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '/' || s[0] == '@')
		return parse_unix(s, ret);
	if (s[0] == '[')
		return parse_ipv6(s, ret);
	if (all_digits(s)) {
		struct socket_address a = {0};
		int r;

		r = parse_port(s, &a.sa.in6.sin6_port);
		if (r < 0)
			return r;
		a.sa.in6.sin6_family = AF_INET6;
		a.sa.in6.sin6_port = htons(a.sa.in6.sin6_port);
		a.sa.in6.sin6_addr = in6addr_any;
		a.len = sizeof(struct sockaddr_in6);
		a.any_port = true;
		*ret = a;
		return 0;
	}
	return parse_ipv4(s, ret);
}

int socket_address_family(const struct socket_address *a)
{
	return a->sa.sa.sa_family;
}

const char *sockaddr_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t buflen)
{
	const union sockaddr_union *u = (const union sockaddr_union *)sa;
	char host[INET6_ADDRSTRLEN];

	if (buflen == 0)
		return buf;
	buf[0] = '\0';
	if (len < sizeof(sa_family_t)) {
		snprintf(buf, buflen, "(none)");
		return buf;
	}
	switch (sa->sa_family) {
	case AF_INET:
		if (len < sizeof(struct sockaddr_in) ||
		    !inet_ntop(AF_INET, &u->in.sin_addr, host, sizeof(host)))
			break;
		snprintf(buf, buflen, "%s:%u", host, ntohs(u->in.sin_port));
		return buf;
	case AF_INET6: {
		char ifname[IF_NAMESIZE], scope[IF_NAMESIZE + 12] = "";

		if (len < sizeof(struct sockaddr_in6) ||
		    !inet_ntop(AF_INET6, &u->in6.sin6_addr, host, sizeof(host)))
			break;
		if (u->in6.sin6_scope_id != 0) {
			if (if_indextoname(u->in6.sin6_scope_id, ifname))
				snprintf(scope, sizeof(scope), "%%%s", ifname);
			else
				snprintf(scope, sizeof(scope), "%%%u", u->in6.sin6_scope_id);
		}
		snprintf(buf, buflen, "[%s%s]:%u", host, scope, ntohs(u->in6.sin6_port));
		return buf;
	}
	case AF_UNIX: {
		size_t off = offsetof(struct sockaddr_un, sun_path), n, pos = 0;
		bool abstract;

		if (len <= off) {
			snprintf(buf, buflen, "(unnamed)");
			return buf;
		}
		n = len - off;
		if (n > SUN_PATH_SIZE)
			n = SUN_PATH_SIZE;
		abstract = u->un.sun_path[0] == '\0';
		if (!abstract)
			n = strnlen(u->un.sun_path, n);
		/* Abstract names may hold any byte: show the unprintable ones
		 * as '?' rather than cutting the name short. */
		for (size_t i = 0; i < n && pos + 1 < buflen; i++) {
			unsigned char c = (unsigned char)u->un.sun_path[i];

			if (abstract && i == 0)
				c = '@';
			else if (!isprint(c))
				c = '?';
			buf[pos++] = (char)c;
		}
		buf[pos] = '\0';
		return buf;
	}
	default:
		break;
	}
	snprintf(buf, buflen, "(family %d)", sa->sa_family);
	return buf;
}

const char *socket_address_format(const struct socket_address *a, char *buf, size_t len)
{
	return sockaddr_format(&a->sa.sa, a->len, buf, len);
}

bool socket_address_equal(const struct socket_address *a, const struct socket_address *b)
{
	if (a->sa.sa.sa_family != b->sa.sa.sa_family || a->any_port != b->any_port)
		return false;
	switch (a->sa.sa.sa_family) {
	case AF_INET:
		return a->sa.in.sin_port == b->sa.in.sin_port &&
		       a->sa.in.sin_addr.s_addr == b->sa.in.sin_addr.s_addr;
	case AF_INET6:
		return a->sa.in6.sin6_port == b->sa.in6.sin6_port &&
		       a->sa.in6.sin6_scope_id == b->sa.in6.sin6_scope_id &&
		       memcmp(&a->sa.in6.sin6_addr, &b->sa.in6.sin6_addr,
			      sizeof(struct in6_addr)) == 0;
	case AF_UNIX:
		return a->len == b->len &&
		       memcmp(a->sa.un.sun_path, b->sa.un.sun_path,
			      a->len - offsetof(struct sockaddr_un, sun_path)) == 0;
	default:
		return a->len == b->len && memcmp(&a->sa, &b->sa, a->len) == 0;
	}
}

int sockaddr_source_key(const struct sockaddr *sa, unsigned ipv6_prefix, unsigned char ret_key[16])
{
	const struct in6_addr *a6;

	memset(ret_key, 0, 16);
	if (sa->sa_family == AF_INET) {
		memcpy(ret_key, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return AF_INET;
	}
	if (sa->sa_family != AF_INET6 || ipv6_prefix < 1 || ipv6_prefix > 128)
		return -EINVAL;
	a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	/* A dual-stack listener's IPv4 client: the IPv4 address it is. */
	if (IN6_IS_ADDR_V4MAPPED(a6)) {
		memcpy(ret_key, &a6->s6_addr[12], 4);
		return AF_INET;
	}
	for (unsigned i = 0; i < 16; i++) {
		/* How many leading bits of byte i the prefix keeps. */
		unsigned keep = ipv6_prefix > 8 * i ? ipv6_prefix - 8 * i : 0;

		if (keep >= 8)
			ret_key[i] = a6->s6_addr[i];
		else if (keep > 0)
			ret_key[i] = a6->s6_addr[i] & (uint8_t)(0xff00 >> keep);
	}
	return AF_INET6;
}
