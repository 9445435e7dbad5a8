/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Registration of booted containers with systemd-machined (machinectl
 * list/status/shell see them), through one asynchronous system-bus
 * connection driven by the daemon's event loop. Where there is no system
 * bus, or no machined on it, nothing is registered and nothing fails: the
 * log says so once. docs/architecture.md, "Registration with machined".
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <systemd/sd-id128.h>

struct event_base;
struct machined;
struct machine;

/* How many registrations (machines registered or being registered) one
 * daemon holds at most; beyond, a booted container is not registered. */
#define MACHINED_MACHINES_MAX 256
/* How long one call to machined may take. */
#define MACHINED_CALL_USEC (10 * 1000000ULL)
/* Messages queued for the bus (unsent) beyond which the connection is
 * dropped: a bus that does not read us cannot hold our memory. */
#define MACHINED_WQUEUE_MAX 64
/* A machine name: a valid host name (machined's rule), at most 64 bytes. */
#define MACHINE_NAME_MAX 64

/* enabled false (--register=no): machined_register() does nothing. Never
 * connects here: the bus is opened by the first registration. */
int machined_new(struct event_base *base, bool enabled, struct machined **ret);
/* Drops the connection; machines still registered stay with machined
 * until the unit of their leader goes (its rule for RegisterMachine). */
struct machined *machined_free(struct machined *md);

/* The machine name of a service, a valid host name: letters and digits as
 * they are; a run of '-', '_', '@' (and any other byte) between two of
 * them becomes one '-', and is dropped at the start or end of a label;
 * '.' separates labels (empty ones dropped). "debian_os" is "debian-os",
 * "_web" and "web-" are "web". Returns -EINVAL if nothing is left. */
int machine_name_from_service(const char *service, char *buf, size_t len);

/*
 * Registers a booted container (class "container", service "nsinetd"):
 * asynchronous, it returns at once. leader: the host pid of the
 * container's pid 1; id: its machine id (container_uuid); root: the tree.
 * Returns the registration, which the caller gives back with
 * machined_unregister() when the container has ended; NULL when nothing
 * is registered (disabled, no bus, the limit; logged).
 */
struct machine *machined_register(struct machined *md, const char *service, sd_id128_t id,
				  pid_t leader, const char *root);
/* A container adopted across a re-exec: the previous daemon registered it
 * (if it could); unregistered by name when it ends. NULL if disabled. */
struct machine *machined_adopt(struct machined *md, const char *service);
/* The container has ended: UnregisterMachine if it was registered (or
 * once the pending registration is answered), then the registration is
 * freed. NULL is fine. Returns NULL. */
struct machine *machined_unregister(struct machine *mc);
/* For tests and status: the machine name of a registration. */
const char *machine_name(const struct machine *mc);
