/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The service manager's fd store (sd_notify(3): FDSTORE=1, FDNAME=,
 * FDSTOREREMOVE=1). Under systemd (NOTIFY_SOCKET set) every listener the
 * daemon binds is stored under a name that says its service, type and
 * address; when the daemon dies, even by SIGKILL, systemd keeps the
 * sockets (clients wait in their queues) and passes them to the next
 * daemon with LISTEN_FDS/LISTEN_FDNAMES, which adopts each by its name
 * (manager.c, take_fd()).
 */
#pragma once

#include <stdbool.h>

#include "supervisor/config.h"

/* FDNAME= holds at most 255 characters (systemd's fdname_is_valid()). */
#define FDSTORE_NAME_MAX 256
/* Every name nsinetd stores starts with it; no other does. */
#define FDSTORE_PREFIX "nsinetd/"

/*
 * The name of service's listener lc, in ret:
 *   nsinetd/KIND/SERVICE/ADDRESS
 * KIND is stream, dgram or seqpacket; SERVICE is the service's name (1-64
 * of [A-Za-z0-9_.@-], never '/'); ADDRESS is the listen address as
 * socket_address_format() writes it ("127.0.0.1:80", "[::1]:80", "/run/x",
 * "@x"), every byte outside [A-Za-z0-9._@[]-] written %XX (so ':', the
 * separator of $LISTEN_FDNAMES, '/' and '%' never appear in it raw): the
 * name tells one listener from every other, and has only the printable
 * ASCII systemd accepts. A name that would be longer than 255 characters
 * (a long unix path) has instead "#" and 16 hex digits of a 64-bit FNV-1a
 * hash of the encoded address as ADDRESS; '#' never appears in an encoded
 * address, and an adopted socket's address is checked anyway.
 */
void fdstore_name(const char *service, const struct listen_config *lc, char ret[FDSTORE_NAME_MAX]);
/* Whether name is one nsinetd stores (FDSTORE_PREFIX). */
bool fdstore_name_is_ours(const char *name);
/* Whether there is a service manager to store fds with (NOTIFY_SOCKET). */
bool fdstore_enabled(void);
/* FDSTORE=1 with FDNAME=name and fd; FDPOLL=0: a listener never hangs up,
 * and the daemon removes it itself. 0 without a store; -errno. */
int fdstore_add(const char *name, int fd);
/* FDSTOREREMOVE=1 with FDNAME=name: the service manager closes every fd it
 * keeps under that name. 0 without a store; -errno. */
int fdstore_remove(const char *name);
/* fdstore_remove() of service's listener lc, whose fd the daemon closes. */
void fdstore_forget(const char *service, const struct listen_config *lc);
