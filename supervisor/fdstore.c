/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The service manager's fd store: see fdstore.h. */
#include "fdstore.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "common/sockaddr.h"

static const char *kind(enum listen_type t)
{
	switch (t) {
	case LISTEN_STREAM:
		return "stream";
	case LISTEN_DATAGRAM:
		return "dgram";
	case LISTEN_SEQPACKET:
		return "seqpacket";
	}
	return "unknown";
}

static bool kept(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '@' || c == '[' || c == ']' || c == '-';
}

void fdstore_name(const char *service, const struct listen_config *lc, char ret[FDSTORE_NAME_MAX])
{
	char addr[SOCKADDR_FORMAT_MAX];
	/* Each address byte takes at most 3. */
	char enc[3 * SOCKADDR_FORMAT_MAX + 1];
	size_t n = 0;
	int len;

	socket_address_format(&lc->address, addr, sizeof(addr));
	for (const unsigned char *p = (const unsigned char *)addr; *p; p++) {
		if (kept(*p))
			enc[n++] = (char)*p;
		else
			n += (size_t)snprintf(enc + n, sizeof(enc) - n, "%%%02X", *p);
	}
	enc[n] = '\0';
	len = snprintf(ret, FDSTORE_NAME_MAX, FDSTORE_PREFIX "%s/%s/%s", kind(lc->type), service,
		       enc);
	if (len >= 0 && len < FDSTORE_NAME_MAX)
		return;
	{
		uint64_t h = 0xcbf29ce484222325ULL;

		for (size_t i = 0; i < n; i++) {
			h ^= (unsigned char)enc[i];
			h *= 0x100000001b3ULL;
		}
		snprintf(ret, FDSTORE_NAME_MAX, FDSTORE_PREFIX "%s/%s/#%016" PRIx64, kind(lc->type),
			 service, h);
	}
}

bool fdstore_name_is_ours(const char *name)
{
	return name && strncmp(name, FDSTORE_PREFIX, strlen(FDSTORE_PREFIX)) == 0;
}

bool fdstore_enabled(void)
{
	const char *e = getenv("NOTIFY_SOCKET");

	return e && *e;
}

static int send_state(const char *state, const int *fds, unsigned n_fds)
{
	int r;

	if (!fdstore_enabled())
		return 0;
	r = sd_pid_notify_with_fds(0, 0, state, fds, n_fds);
	return r < 0 ? r : 0;
}

int fdstore_add(const char *name, int fd)
{
	char state[32 + FDSTORE_NAME_MAX];

	snprintf(state, sizeof(state), "FDSTORE=1\nFDPOLL=0\nFDNAME=%s", name);
	return send_state(state, &fd, 1);
}

int fdstore_remove(const char *name)
{
	char state[32 + FDSTORE_NAME_MAX];

	snprintf(state, sizeof(state), "FDSTOREREMOVE=1\nFDNAME=%s", name);
	return send_state(state, NULL, 0);
}

void fdstore_forget(const char *service, const struct listen_config *lc)
{
	char name[FDSTORE_NAME_MAX];

	if (!fdstore_enabled())
		return;
	fdstore_name(service, lc, name);
	(void)fdstore_remove(name);
}
