/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The readiness protocol of systemd (sd_notify(3)) for one container: a
 * datagram socket the daemon binds in RUNTIME/notify/ (a directory only
 * root may enter) and that the container sees at NOTIFY_PATH_IN_CONTAINER,
 * as nspawn's /run/host/notify. Every datagram is checked (its sender must
 * be a process of the container), parsed, and handed to the owner's
 * callback as a struct notify_message. The socket is an event of the
 * daemon's loop: nothing here blocks, and a wake-up reads a bounded number
 * of datagrams.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/parse.h"

struct event_base;
struct notify;

#define NOTIFY_PATH_IN_CONTAINER "/run/host/notify"
/* A bigger datagram is dropped (systemd takes at most NOTIFY_BUFFER_MAX,
 * PIPE_BUF). */
#define NOTIFY_DATAGRAM_MAX 4096
/* STATUS= as kept: escaped (output.h's rules), cut to fit. */
#define NOTIFY_STATUS_MAX 256

/* What one datagram says; unknown assignments are ignored, as systemd
 * does. status points into the datagram: valid during the callback. */
struct notify_message {
	bool ready;            /* READY=1 */
	bool stopping;         /* STOPPING=1 */
	bool reloading;        /* RELOADING=1 */
	bool watchdog;         /* WATCHDOG=1 */
	bool watchdog_trigger; /* WATCHDOG=trigger */
	bool have_errno;       /* ERRNO=N */
	int errno_value;
	bool have_extend; /* EXTEND_TIMEOUT_USEC=N */
	usec_t extend_usec;
	const char *status; /* STATUS=, not NUL-terminated; NULL if absent */
	size_t status_len;
};

/* Parses one datagram of n bytes (newline-separated VAR=VALUE). */
void notify_parse(const char *buf, size_t n, struct notify_message *ret);

/* Called for each accepted datagram. It must not free n. */
typedef void (*notify_cb)(struct notify *n, const struct notify_message *msg, void *userdata);

/* Binds DIR/ID (mode 0666: see notify.c) and polls it. name prefixes the
 * log lines. Negative errno on failure (-ENAMETOOLONG: the path does not
 * fit a sockaddr_un). */
int notify_new(struct event_base *base, const char *dir, unsigned id, const char *name,
	       notify_cb cb, void *userdata, struct notify **ret);
/* The container's pid 1, once spawned: a sender must share its pid
 * namespace. Until then every datagram is refused. */
int notify_set_pid(struct notify *n, pid_t pid1);
/* A re-exec (reexec.c): the socket fd (taken, even on failure) bound at
 * path by the earlier daemon, polled again. */
int notify_adopt(struct event_base *base, int fd, const char *path, const char *name, notify_cb cb,
		 void *userdata, struct notify **ret);
/* Its fd, -1 for NULL. */
int notify_fd(const struct notify *n);
/* The socket's host path, for the container's bind mount. */
const char *notify_path(const struct notify *n);
/* Closes and unlinks the socket. Accepts and returns NULL. */
/* Reads what is queued (the container is gone: what it said before). */
void notify_drain(struct notify *n);
struct notify *notify_free(struct notify *n);
