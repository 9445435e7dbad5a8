/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "address.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned family_bits(int family)
{
	return family == AF_INET ? 32 : 128;
}

int netns_prefix_parse(const char *s, unsigned default_v4, unsigned default_v6,
		       struct netns_prefix *ret)
{
	struct netns_prefix p = {0};
	char buf[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long len;

	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, &p.addr.in) == 1)
		p.family = AF_INET;
	else if (inet_pton(AF_INET6, buf, &p.addr.in6) == 1)
		p.family = AF_INET6;
	else
		return -EINVAL;
	if (slash) {
		char *end;

		if (slash[1] < '0' || slash[1] > '9')
			return -EINVAL;
		errno = 0;
		len = strtoul(slash + 1, &end, 10);
		if (errno || *end || len > family_bits(p.family))
			return -EINVAL;
	} else {
		len = p.family == AF_INET ? default_v4 : default_v6;
	}
	p.prefixlen = (unsigned char)len;
	*ret = p;
	return 0;
}

const char *netns_prefix_format(const struct netns_prefix *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (!p->family || !inet_ntop(p->family, &p->addr, a, sizeof(a)))
		snprintf(buf, len, "(none)");
	else
		snprintf(buf, len, "%s/%u", a, p->prefixlen);
	return buf;
}

/* Keeps the first bits bits of p's address, clears the rest. */
static void mask_to(struct netns_prefix *p, unsigned bits)
{
	unsigned nbytes = family_bits(p->family) / 8;

	for (unsigned i = 0; i < nbytes; i++) {
		if (bits >= 8 * (i + 1))
			continue;
		if (bits <= 8 * i)
			p->addr.bytes[i] = 0;
		else
			p->addr.bytes[i] &= (uint8_t)(0xff << (8 - (bits - 8 * i)));
	}
}

struct netns_prefix netns_prefix_network(const struct netns_prefix *p)
{
	struct netns_prefix n = *p;

	mask_to(&n, p->prefixlen);
	return n;
}

bool netns_prefix_overlap(const struct netns_prefix *a, const struct netns_prefix *b)
{
	struct netns_prefix x = *a, y = *b;
	unsigned bits = a->prefixlen < b->prefixlen ? a->prefixlen : b->prefixlen;

	if (!a->family || a->family != b->family)
		return false;
	mask_to(&x, bits);
	mask_to(&y, bits);
	return memcmp(&x.addr, &y.addr, family_bits(a->family) / 8) == 0;
}

bool netns_prefix_same_address(const struct netns_prefix *a, const struct netns_prefix *b)
{
	return a->family && a->family == b->family &&
	       memcmp(&a->addr, &b->addr, family_bits(a->family) / 8) == 0;
}

bool netns_prefix_is_network_or_broadcast(const struct netns_prefix *p)
{
	unsigned total = family_bits(p->family);
	bool zeros = true, ones = true;

	if (p->prefixlen >= total - 1)
		return false; /* /31, /32, /127, /128: every address is usable */
	for (unsigned bit = p->prefixlen; bit < total; bit++) {
		bool set = p->addr.bytes[bit / 8] & (0x80 >> (bit % 8));
		zeros = zeros && !set;
		ones = ones && set;
	}
	return zeros || (ones && p->family == AF_INET);
}

uint64_t netns_pool_size(const struct netns_prefix *pool, unsigned sublen, uint64_t max)
{
	unsigned d;

	if (!pool->family || sublen < pool->prefixlen || sublen > family_bits(pool->family))
		return 0;
	d = sublen - pool->prefixlen;
	if (d >= 63 || ((uint64_t)1 << d) > max)
		return max;
	return (uint64_t)1 << d;
}

/* Adds v << shift (in bits from the right end) to the address. */
static void add_shifted(struct netns_prefix *p, uint64_t v, unsigned shift)
{
	int nbytes = (int)family_bits(p->family) / 8;
	unsigned carry = 0;

	for (int i = nbytes - 1; i >= 0; i--) {
		unsigned pos = (unsigned)(nbytes - 1 - i) * 8; /* bit offset of byte i */
		unsigned add = 0;

		if (pos + 8 > shift && pos < shift + 64) {
			/* The bits of v << shift that land in this byte. */
			int off = (int)pos - (int)shift;
			add = off >= 0 ? (unsigned)((v >> off) & 0xff)
				       : (unsigned)((v << -off) & 0xff);
		}
		unsigned sum = p->addr.bytes[i] + add + carry;
		p->addr.bytes[i] = (uint8_t)sum;
		carry = sum >> 8;
	}
}

int netns_pool_address(const struct netns_prefix *pool, unsigned sublen, uint64_t index,
		       uint32_t host, struct netns_prefix *ret)
{
	struct netns_prefix p = netns_prefix_network(pool);
	unsigned total = family_bits(pool->family);

	if (index >= netns_pool_size(pool, sublen, UINT64_MAX))
		return -ERANGE;
	if (total - sublen < 32 && host >= ((uint64_t)1 << (total - sublen)))
		return -ERANGE;
	add_shifted(&p, index, total - sublen);
	add_shifted(&p, host, 0);
	p.prefixlen = (unsigned char)sublen;
	*ret = p;
	return 0;
}
