/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * systemd-machined registration (machined.h): one sd-bus client connection
 * to the system bus, opened by the first registration and again after a
 * loss, never blocking. sd_bus_start() connects a non-blocking unix
 * socket: it fails at once when nothing listens, and authentication and
 * Hello go on in the loop, as every call does (sd_bus_call_async() with a
 * timeout of our own). The connection is driven as control.c drives its
 * clients: an event on its fd for what sd_bus_get_events() asks, and a
 * timer for sd_bus_get_timeout().
 *
 * machined's RegisterMachine (as systemd-nspawn --keep-unit uses it) takes
 * the leader's unit (nsinetd.service, or whatever unit the daemon runs
 * in) as the machine's unit and keeps the machine while that unit is
 * active: so the machine is unregistered (UnregisterMachine, which only
 * forgets it, where TerminateMachine would stop the unit, that is the
 * daemon) when the container ends.
 */
#include "supervisor/machined.h"

#include <errno.h>
#include <event2/event.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <systemd/sd-bus.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "supervisor/service.h"

#define MACHINED_BUS_DEFAULT "unix:path=/run/dbus/system_bus_socket"
#define MACHINED_BATCH       16 /* messages processed per wakeup */

enum machine_state {
	MACHINE_PENDING,        /* RegisterMachine sent, no answer yet */
	MACHINE_REGISTERED,     /* machined said yes (or a re-exec says so) */
	MACHINE_NOT_REGISTERED, /* refused, no machined, or the bus went */
};

struct machine {
	struct machined *md;
	TAILQ_ENTRY(machine) link;
	enum machine_state state;
	bool ended; /* the container ended while RegisterMachine was pending */
	sd_bus_slot *slot;
	char service[MACHINE_NAME_MAX + 1];
	char name[MACHINE_NAME_MAX + 1];
};

struct machined {
	struct event_base *base;
	bool enabled;
	sd_bus *bus;
	struct event *io;
	struct event *timer;
	TAILQ_HEAD(, machine) machines;
	unsigned n_machines;
	unsigned n_calls; /* UnregisterMachine calls in flight */
	bool said_no_bus;
	bool said_no_machined;
	/* Inside sd_bus_process() (a reply's callback): the connection is
	 * dropped after it returns, never under its feet. */
	bool processing;
	int drop_wanted; /* the error to drop it with, 0 if none */
};

static void bus_arm(struct machined *md);

const char *machine_name(const struct machine *mc)
{
	return mc ? mc->name : NULL;
}

static bool ldh(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* machined's rule is systemd's hostname_is_valid(): labels of letters,
 * digits and '-', separated by single dots, no label beginning or ending
 * with '-'. */
int machine_name_from_service(const char *service, char *buf, size_t len)
{
	size_t n = 0;
	bool dash = false; /* a '-' is due before the next letter or digit */

	if (!service || !buf || len == 0)
		return -EINVAL;
	for (const char *p = service; *p; p++) {
		char c = *p;
		size_t need = dash ? 2 : 1;

		if (!ldh(c)) {
			if (c == '.' && n > 0 && buf[n - 1] != '.') {
				if (n + 1 >= len || n + 1 > MACHINE_NAME_MAX)
					break;
				buf[n++] = '.';
				dash = false;
			} else if (n > 0 && buf[n - 1] != '.') {
				dash = true; /* '_', '@', '-' and the rest */
			}
			continue;
		}
		if (n + need >= len || n + need > MACHINE_NAME_MAX)
			break;
		if (dash)
			buf[n++] = '-';
		buf[n++] = c;
		dash = false;
	}
	while (n > 0 && buf[n - 1] == '.')
		n--;
	buf[n] = '\0';
	return n > 0 ? 0 : -EINVAL;
}

static void machine_free(struct machine *mc)
{
	if (!mc)
		return;
	mc->slot = sd_bus_slot_unref(mc->slot);
	TAILQ_REMOVE(&mc->md->machines, mc, link);
	mc->md->n_machines--;
	free(mc);
}

/* The connection is gone or useless: calls in flight are forgotten (a
 * pending registration counts as not made), and the next registration
 * opens a new one. */
static void bus_drop(struct machined *md, const char *why, int r)
{
	struct machine *mc, *next;

	if (!md->bus)
		return;
	if (md->processing) {
		md->drop_wanted = r < 0 ? r : -EIO;
		return;
	}
	log_debug("%s: systemd-machined: dropping the system bus connection: %s (%s)", __func__,
		  why, strerror(r < 0 ? -r : r));
	for (mc = TAILQ_FIRST(&md->machines); mc; mc = next) {
		next = TAILQ_NEXT(mc, link);
		mc->slot = sd_bus_slot_unref(mc->slot);
		if (mc->state == MACHINE_PENDING)
			mc->state = MACHINE_NOT_REGISTERED;
		if (mc->ended)
			machine_free(mc);
	}
	event_del(md->io);
	event_del(md->timer);
	md->bus = sd_bus_close_unref(md->bus);
	md->n_calls = 0;
}

static void bus_process(struct machined *md)
{
	uint64_t queued = 0;
	int r = 0;

	if (!md->bus)
		return;
	md->processing = true;
	for (int i = 0; i < MACHINED_BATCH && !md->drop_wanted; i++) {
		r = sd_bus_process(md->bus, NULL);
		if (r <= 0)
			break;
	}
	md->processing = false;
	if (md->drop_wanted) {
		r = md->drop_wanted;
		md->drop_wanted = 0;
		bus_drop(md, "a call failed", r);
		return;
	}
	if (r < 0 || sd_bus_is_open(md->bus) <= 0) {
		bus_drop(md, "closed", r < 0 ? r : -ECONNRESET);
		return;
	}
	if (sd_bus_get_n_queued_write(md->bus, &queued) >= 0 && queued > MACHINED_WQUEUE_MAX) {
		bus_drop(md, "the bus does not read what it is sent", -ENOBUFS);
		return;
	}
	bus_arm(md);
	if (r > 0) /* more to do: after the other events */
		event_active(md->io, EV_READ, 0);
}

static void bus_io_cb(evutil_socket_t fd, short what, void *arg)
{
	bus_process(arg);
}

/* Polls what sd-bus wants next: its fd, and its own timeout (the calls'
 * and the authentication's). */
static void bus_arm(struct machined *md)
{
	uint64_t until = UINT64_MAX;
	usec_t now = now_usec();
	struct timeval tv;
	short what = 0;
	int fd, ev;

	fd = sd_bus_get_fd(md->bus);
	ev = sd_bus_get_events(md->bus);
	if (fd < 0 || ev < 0) {
		bus_drop(md, "cannot poll it", fd < 0 ? fd : ev);
		return;
	}
	if (ev & POLLIN)
		what |= EV_READ;
	if (ev & POLLOUT)
		what |= EV_WRITE;
	event_del(md->io);
	if (event_assign(md->io, md->base, fd, what, bus_io_cb, md) < 0 ||
	    event_add(md->io, NULL) < 0) {
		bus_drop(md, "cannot poll it", -ENOMEM);
		return;
	}
	event_del(md->timer);
	if (sd_bus_get_timeout(md->bus, &until) < 0 || until == UINT64_MAX)
		return;
	until = until > now ? until - now : 0;
	tv.tv_sec = (time_t)(until / USEC_PER_SEC);
	tv.tv_usec = (suseconds_t)(until % USEC_PER_SEC);
	if (evtimer_add(md->timer, &tv) < 0)
		bus_drop(md, "cannot arm its timer", -ENOMEM);
}

static int bus_open(struct machined *md)
{
	_cleanup_(sd_bus_close_unrefp) sd_bus *bus = NULL;
	const char *address = secure_getenv("DBUS_SYSTEM_BUS_ADDRESS");
	int r;

	if (md->bus)
		return 0;
	if (!address || !*address)
		address = MACHINED_BUS_DEFAULT;
	if ((r = sd_bus_new(&bus)) < 0 || (r = sd_bus_set_address(bus, address)) < 0 ||
	    (r = sd_bus_set_bus_client(bus, 1)) < 0 ||
	    (r = sd_bus_set_description(bus, "machined")) < 0 || (r = sd_bus_start(bus)) < 0) {
		if (!md->said_no_bus) {
			md->said_no_bus = true;
			log_info(
			    "systemd-machined: no system bus at %s (%s): booted containers are "
			    "not registered",
			    address, strerror(-r));
		}
		return r;
	}
	md->bus = TAKE_PTR(bus);
	bus_arm(md);
	return md->bus ? 0 : -ENOTCONN;
}

/* The errors that mean "there is no machined here". */
static bool error_is_absent(const sd_bus_error *e)
{
	return sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN,
				      SD_BUS_ERROR_NAME_HAS_NO_OWNER, SD_BUS_ERROR_UNKNOWN_METHOD,
				      SD_BUS_ERROR_UNKNOWN_OBJECT, SD_BUS_ERROR_UNKNOWN_INTERFACE);
}

static int unregister_reply_cb(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	struct machined *md = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(reply);

	if (md->n_calls > 0)
		md->n_calls--;
	if (e)
		log_debug("%s: UnregisterMachine: %s: %s", __func__, e->name,
			  e->message ? e->message : "");
	return 0;
}

/* Fire and forget (a floating slot); machined's answer is only logged. */
static void send_unregister(struct machined *md, const char *name)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
	int r;

	if (md->n_calls >= MACHINED_MACHINES_MAX) {
		log_warning("systemd-machined: %u calls in flight, machine %s is left to machined "
			    "(it goes with the daemon's unit)",
			    md->n_calls, name);
		return;
	}
	if ((r = bus_open(md)) < 0)
		return;
	if ((r = sd_bus_message_new_method_call(
		 md->bus, &m, "org.freedesktop.machine1", "/org/freedesktop/machine1",
		 "org.freedesktop.machine1.Manager", "UnregisterMachine")) < 0 ||
	    (r = sd_bus_message_append(m, "s", name)) < 0 ||
	    (r = sd_bus_call_async(md->bus, NULL, m, unregister_reply_cb, md, MACHINED_CALL_USEC)) <
		0) {
		log_errno(LOG_WARNING, r, "systemd-machined: cannot unregister machine %s", name);
		bus_drop(md, "a call failed", r);
		return;
	}
	md->n_calls++;
	bus_arm(md);
}

static int register_reply_cb(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	struct machine *mc = userdata;
	struct machined *md = mc->md;
	const sd_bus_error *e = sd_bus_message_get_error(reply);

	mc->slot = sd_bus_slot_unref(mc->slot);
	if (!e) {
		mc->state = MACHINE_REGISTERED;
		log_info("%s: registered with systemd-machined as machine %s", mc->service,
			 mc->name);
		if (mc->ended)
			send_unregister(md, mc->name);
	} else {
		mc->state = MACHINE_NOT_REGISTERED;
		if (error_is_absent(e)) {
			if (!md->said_no_machined) {
				md->said_no_machined = true;
				log_info("systemd-machined is not running (%s): booted containers "
					 "are not registered",
					 e->name);
			}
		} else {
			/* A clash (MachineExists: another daemon's, or one
			 * machined still holds) or a refusal: this boot goes
			 * unregistered, the service runs. */
			log_warning("%s: not registered with systemd-machined as machine %s: %s",
				    mc->service, mc->name,
				    e->message && *e->message ? e->message : e->name);
		}
	}
	if (mc->ended)
		machine_free(mc);
	return 0;
}

static struct machine *machine_new(struct machined *md, const char *service)
{
	struct machine *mc;
	char name[MACHINE_NAME_MAX + 1];

	if (!md || !md->enabled)
		return NULL;
	if (machine_name_from_service(service, name, sizeof(name)) < 0) {
		log_warning("%s: no machine name can be made of the service name: not registered "
			    "with systemd-machined",
			    service);
		return NULL;
	}
	if (md->n_machines >= MACHINED_MACHINES_MAX) {
		log_warning("%s: %u machines registered already: not registered with "
			    "systemd-machined",
			    service, md->n_machines);
		return NULL;
	}
	mc = calloc(1, sizeof(*mc));
	if (!mc)
		return NULL;
	mc->md = md;
	snprintf(mc->service, sizeof(mc->service), "%s", service);
	memcpy(mc->name, name, sizeof(name));
	TAILQ_INSERT_TAIL(&md->machines, mc, link);
	md->n_machines++;
	return mc;
}

struct machine *machined_register(struct machined *md, const char *service, sd_id128_t id,
				  pid_t leader, const char *root)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
	struct machine *mc;
	int r;

	if (!md || !md->enabled || leader <= 1)
		return NULL;
	if (bus_open(md) < 0)
		return NULL;
	mc = machine_new(md, service);
	if (!mc)
		return NULL;
	if ((r = sd_bus_message_new_method_call(
		 md->bus, &m, "org.freedesktop.machine1", "/org/freedesktop/machine1",
		 "org.freedesktop.machine1.Manager", "RegisterMachine")) < 0 ||
	    (r = sd_bus_message_append(m, "s", mc->name)) < 0 ||
	    (r = sd_bus_message_append_array(m, 'y', id.bytes, sizeof(id.bytes))) < 0 ||
	    (r = sd_bus_message_append(m, "ssus", "nsinetd", "container", (uint32_t)leader,
				       root ? root : "")) < 0 ||
	    (r = sd_bus_call_async(md->bus, &mc->slot, m, register_reply_cb, mc,
				   MACHINED_CALL_USEC)) < 0) {
		log_errno(LOG_WARNING, r, "%s: cannot register with systemd-machined", service);
		machine_free(mc);
		bus_drop(md, "a call failed", r);
		return NULL;
	}
	mc->state = MACHINE_PENDING;
	log_debug("%s: RegisterMachine %s, leader %d", __func__, mc->name, (int)leader);
	bus_arm(md); /* if that drops the bus, mc stays, not registered */
	return mc;
}

struct machine *machined_adopt(struct machined *md, const char *service)
{
	struct machine *mc = machine_new(md, service);

	if (mc)
		mc->state = MACHINE_REGISTERED;
	return mc;
}

struct machine *machined_unregister(struct machine *mc)
{
	if (!mc)
		return NULL;
	switch (mc->state) {
	case MACHINE_PENDING:
		mc->ended = true; /* register_reply_cb() ends it */
		return NULL;
	case MACHINE_REGISTERED:
		send_unregister(mc->md, mc->name);
		break;
	case MACHINE_NOT_REGISTERED:
		break;
	}
	machine_free(mc);
	return NULL;
}

int machined_new(struct event_base *base, bool enabled, struct machined **ret)
{
	struct machined *md = calloc(1, sizeof(*md));

	if (!md)
		return -ENOMEM;
	md->base = base;
	md->enabled = enabled;
	TAILQ_INIT(&md->machines);
	md->io = event_new(base, -1, 0, bus_io_cb, md);
	md->timer = evtimer_new(base, bus_io_cb, md);
	if (!md->io || !md->timer) {
		machined_free(md);
		return -ENOMEM;
	}
	*ret = md;
	return 0;
}

struct machined *machined_free(struct machined *md)
{
	struct machine *mc;

	if (!md)
		return NULL;
	while ((mc = TAILQ_FIRST(&md->machines)))
		machine_free(mc);
	if (md->io)
		event_free(md->io);
	if (md->timer)
		event_free(md->timer);
	/* Never sd_bus_flush(): it would wait for the bus. */
	sd_bus_close_unref(md->bus);
	free(md);
	return NULL;
}
