/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "network.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "activator/activator.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "netns/netns.h"
#include "netns/veth.h"
#include "supervisor/manager.h"
#include "supervisor/service.h"
#include "supervisor/spares.h"

/* How many subnets of a pool are tried at most: more than the daemon can
 * run containers at once (CONFIG_MAX_SERVICES). */
#define POOL_SEARCH_MAX 65536

void network_init(struct network_state *n)
{
	memset(n, 0, sizeof(*n));
	n->shared_fd = -1;
	n->join_fd = -1;
}

static const char *name(const struct service *s)
{
	return s->cfg->name;
}

static void addresses_free(struct network_state *n)
{
	memset(n->addr, 0, sizeof(n->addr));
	memset(n->host_addr, 0, sizeof(n->host_addr));
}

/* Collects the deletion of the last pair, if it is done (or, with wait,
 * once it is); then its addresses are free. False if it is still going. */
static bool deletion_reap(struct service *s, bool wait)
{
	struct network_state *n = &s->net;
	int r;

	if (!n->deleting)
		return true;
	r = netns_veth_delete_finish(&n->deleting, wait);
	if (r == -EBUSY)
		return false;
	if (r < 0 && r != -ENODEV)
		log_errno(LOG_WARNING, r, "%s: cannot delete %s", name(s), n->ifname);
	addresses_free(n);
	return true;
}

/* Whether p overlaps an address in use by another service's container
 * (running, or whose pair is still being deleted). */
static struct service *address_user(struct service *self, const struct netns_prefix *p)
{
	struct manager *m = self->manager;

	for (size_t i = 0; i < m->n_services; i++) {
		struct service *o = m->services[i];

		if (o == self)
			continue;
		(void)deletion_reap(o, false);
		for (int f = 0; f < 2; f++)
			if (netns_prefix_overlap(p, &o->net.addr[f]) ||
			    netns_prefix_overlap(p, &o->net.host_addr[f]))
				return o;
	}
	return NULL;
}

/* Address=/HostAddress= as written, or the first pair of subnets of
 * AddressPool= (an IPv4 /30, an IPv6 /64 of the same index) that no other
 * running container uses: .1 for the host side, .2 for the container. */
static int addresses_pick(struct service *s)
{
	const struct container_config *cc = &s->cfg->container;
	struct network_state *n = &s->net;
	const struct netns_prefix *pool = cc->address_pool;
	char a[64], b[64];
	uint64_t size;

	if (cc->address[0].family || cc->address[1].family) {
		for (int f = 0; f < 2; f++) {
			struct service *o = address_user(s, &cc->address[f]);

			/* Perhaps only a pair still being deleted. */
			if (o && o->net.deleting) {
				(void)deletion_reap(o, true);
				o = address_user(s, &cc->address[f]);
			}
			if (o && cc->address[f].family) {
				log_error(
				    "%s: Address=%s: the subnet is in use by the container of "
				    "%s",
				    name(s), netns_prefix_format(&cc->address[f], a, 64), name(o));
				return -EADDRINUSE;
			}
			n->addr[f] = cc->address[f];
			n->host_addr[f] = cc->host_address[f];
		}
		return 0;
	}
	size = netns_pool_size(&pool[0], 30, POOL_SEARCH_MAX);
	if (netns_pool_size(&pool[1], 64, POOL_SEARCH_MAX) < size)
		size = netns_pool_size(&pool[1], 64, POOL_SEARCH_MAX);
	for (int pass = 0; pass < 2; pass++) {
		/* Full: maybe only of pairs still being deleted. Wait for those
		 * (a few tens of ms each), and look again. */
		for (size_t k = 0; pass == 1 && k < s->manager->n_services; k++)
			(void)deletion_reap(s->manager->services[k], true);
		for (uint64_t i = 0; i < size; i++) {
			struct netns_prefix c4, h4, c6, h6;

			if (netns_pool_address(&pool[0], 30, i, 2, &c4) < 0 ||
			    netns_pool_address(&pool[0], 30, i, 1, &h4) < 0 ||
			    netns_pool_address(&pool[1], 64, i, 2, &c6) < 0 ||
			    netns_pool_address(&pool[1], 64, i, 1, &h6) < 0)
				break;
			if (address_user(s, &c4) || address_user(s, &c6))
				continue;
			n->addr[0] = c4;
			n->host_addr[0] = h4;
			n->addr[1] = c6;
			n->host_addr[1] = h6;
			return 0;
		}
	}
	log_error("%s: AddressPool=%s and %s: no free /30 and /64 left", name(s),
		  netns_prefix_format(&pool[0], a, 64), netns_prefix_format(&pool[1], b, 64));
	return -EADDRNOTAVAIL;
}

/* The activator's hook, between clone3() and the release of the child. */
static int veth_hook(pid_t pid, int pidfd, void *userdata)
{
	struct service *s = userdata;
	const struct container_config *cc = &s->cfg->container;
	struct network_state *n = &s->net;
	char alias[NETNS_ALIAS_MAX], err[256] = "";
	struct netns_veth v = {.host_name = n->ifname, .alias = alias, .bridge = cc->bridge};
	int ifindex = 0, r;

	netns_veth_alias(s->manager->runtime_dir, alias);
	memcpy(v.addr, n->addr, sizeof(v.addr));
	memcpy(v.host_addr, n->host_addr, sizeof(v.host_addr));
	/* From the pool, IPv6 is a bonus: a host without it still gets IPv4. */
	v.ipv6_optional = !cc->address[1].family;
	r = netns_veth_create(&v, pid, pidfd, &ifindex, err, sizeof(err));
	if (r == -EEXIST && strncmp(err, "cannot create ", 14) == 0)
		return log_errno(LOG_ERR, r, "%s: %s (an interface of that name exists)", name(s),
				 err);
	if (r < 0)
		return log_errno(LOG_ERR, r, "%s: %s", name(s), err);
	n->ifindex = ifindex;
	return 0;
}

/*
 * Network=none gives each container a network namespace of its own. Made
 * by clone3(CLONE_NEWNET) on the start's path it costs 0.3 to 0.4 ms, and
 * bringing lo up 0.1 ms more; so up to NETNS_SPARES empty namespaces with
 * lo up are made ahead, one per turn of the loop when nothing else is
 * ready, and each is handed to exactly one container (setns() in its
 * setup), which holds the only reference: it is as fresh as one made by
 * the clone, never shared, never reused, and goes with the container. The
 * first start of a daemon's life makes its own and starts the refill: a
 * daemon that never starts such a container never holds any. Idle cost:
 * the namespaces' kernel memory, and no wake-up of the daemon.
 */
static void spares_refill_cb(evutil_socket_t fd, short what, void *arg)
{
	struct manager *m = arg;
	int ns = -1, r;

	(void)fd;
	(void)what;
	if (m->shutting_down || m->n_netns_spare >= NETNS_SPARES)
		return;
	r = netns_new_empty(&ns);
	if (r < 0) {
		/* Starts make their own, as without spares; a daemon without
		 * the privilege (rootless) stops trying. */
		log_errno(LOG_DEBUG, r, "cannot make a spare network namespace");
		if (r == -EPERM)
			m->netns_spares_off = true;
		return;
	}
	m->netns_spare[m->n_netns_spare++] = ns;
	if (m->n_netns_spare < NETNS_SPARES)
		event_active(m->netns_refill, EV_TIMEOUT, 0);
}

/* A spare namespace (the caller owns it), or -1; either way, the refill. */
static int spare_take(struct manager *m)
{
	int ns = -1;

	if (!m->base || m->netns_spares_off)
		return -1;
	if (!m->netns_refill) {
		m->netns_refill = event_new(m->base, -1, 0, spares_refill_cb, m);
		if (!m->netns_refill || event_priority_set(m->netns_refill, EVENT_PRIORITY_LOW) < 0)
			return -1;
	}
	if (m->n_netns_spare > 0)
		ns = m->netns_spare[--m->n_netns_spare];
	event_active(m->netns_refill, EV_TIMEOUT, 0);
	return ns;
}

void network_spares_free(struct manager *m)
{
	while (m->n_netns_spare > 0)
		safe_close(m->netns_spare[--m->n_netns_spare]);
	if (m->netns_refill)
		event_free(m->netns_refill);
	m->netns_refill = NULL;
}

int network_prepare(struct service *s, struct activator_spec *spec, bool spare, bool pooled)
{
	const struct container_config *cc = &s->cfg->container;
	struct network_state *n = &s->net;
	int r;

	spec->namespaces &= ~(unsigned long)CLONE_NEWNET;
	spec->netns_fd = -1;
	spec->netns_fresh = false;
	spec->netns_late = false;
	switch (cc->network) {
	case NETWORK_HOST:
		if (spare)
			spec->netns_fd = spares_host_netns(s->manager->spares);
		return 0;
	case NETWORK_NONE:
		/* A spare container made its own while it waited, /sys too. */
		if (spare) {
			spec->namespaces |= CLONE_NEWNET;
			return 0;
		}
		/* A sandbox for the pool makes its own while it waits, at idle
		 * priority: neither the daemon's thread nor its loop pays. */
		if (pooled) {
			spec->namespaces |= CLONE_NEWNET;
			spec->netns_late = true;
			return 0;
		}
		n->join_fd = spare_take(s->manager);
		if (n->join_fd >= 0) {
			spec->netns_fd = n->join_fd;
			spec->netns_fresh = true;
		} else {
			spec->namespaces |= CLONE_NEWNET;
		}
		return 0;
	case NETWORK_NETNS:
		r = netns_open_named(cc->netns_name, &n->join_fd);
		if (r < 0)
			return log_errno(LOG_ERR, r, "%s: Network=netns:%s: cannot open %s/%s%s",
					 name(s), cc->netns_name, NETNS_RUN_DIR, cc->netns_name,
					 r == -ENOTTY ? " (not a network namespace)" : "");
		spec->netns_fd = n->join_fd;
		return 0;
	case NETWORK_SHARED_EMPTY:
		if (n->shared_fd < 0) {
			r = netns_new_empty(&n->shared_fd);
			if (r < 0)
				return log_errno(LOG_ERR, r,
						 "%s: cannot create the shared empty network "
						 "namespace",
						 name(s));
			log_debug("%s: created its shared empty network namespace", name(s));
		}
		spec->netns_fd = n->shared_fd;
		return 0;
	case NETWORK_VETH:
		spec->namespaces |= CLONE_NEWNET;
		/* Our last pair must be gone: the name is the same. */
		(void)deletion_reap(s, true);
		netns_veth_name(name(s), n->ifname);
		r = addresses_pick(s);
		if (r < 0)
			return r;
		spec->before_release = veth_hook;
		spec->userdata = s;
		return 0;
	}
	return -EINVAL;
}

void network_spawned(struct service *s, int r)
{
	s->net.join_fd = safe_close(s->net.join_fd);
	if (r < 0)
		network_stop(s);
}

void network_stop(struct service *s)
{
	struct network_state *n = &s->net;
	int r;

	if (n->ifindex <= 0) {
		if (!n->deleting)
			addresses_free(n);
		return;
	}
	/* The kernel deletes the pair with the container's namespace, but
	 * later: the next start wants the name back, so we delete it, in a
	 * thread (tens of ms). Its addresses stay taken until then. */
	(void)deletion_reap(s, true);
	r = netns_veth_delete_async(n->ifindex, &n->deleting);
	if (r < 0) {
		r = netns_veth_delete(n->ifindex);
		if (r < 0 && r != -ENODEV)
			log_errno(LOG_WARNING, r, "%s: cannot delete %s", name(s), n->ifname);
		addresses_free(n);
	}
	n->ifindex = 0;
}

bool network_settled(struct service *s)
{
	return deletion_reap(s, false);
}

void network_adopt(struct service *s, int ifindex, const char *ifname,
		   const struct netns_prefix addr[2], const struct netns_prefix host_addr[2])
{
	struct network_state *n = &s->net;

	n->ifindex = ifindex;
	snprintf(n->ifname, sizeof(n->ifname), "%s", ifname);
	memcpy(n->addr, addr, sizeof(n->addr));
	memcpy(n->host_addr, host_addr, sizeof(n->host_addr));
}

void network_free(struct service *s)
{
	network_stop(s);
	(void)deletion_reap(s, true);
	s->net.join_fd = safe_close(s->net.join_fd);
	s->net.shared_fd = safe_close(s->net.shared_fd);
}

void network_remove_stale(struct manager *m, const int *keep, size_t n_keep)
{
	char alias[NETNS_ALIAS_MAX];
	int r;

	netns_veth_alias(m->runtime_dir, alias);
	r = netns_veth_remove_stale(alias, keep, n_keep);
	if (r < 0)
		log_errno(LOG_WARNING, r, "cannot look for stale interfaces (alias %s)", alias);
	else if (r > 0)
		log_notice("removed %d stale interface(s) left by an earlier nsinetd (alias %s)", r,
			   alias);
}
