/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "veth.h"

#include <errno.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/cleanup.h"
#include "netns/rtnl.h"

#define STALE_MAX 4096

static uint32_t fnv1a32(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

void netns_veth_name(const char *service, char buf[IFNAMSIZ])
{
	if (strlen(service) + 3 < IFNAMSIZ)
		snprintf(buf, IFNAMSIZ, "ve-%s", service);
	else
		snprintf(buf, IFNAMSIZ, "ve-%.3s~%08x", service, fnv1a32(service));
}

void netns_veth_alias(const char *runtime_dir, char buf[NETNS_ALIAS_MAX])
{
	if (strlen(runtime_dir) + 8 < NETNS_ALIAS_MAX)
		snprintf(buf, NETNS_ALIAS_MAX, "nsinetd:%s", runtime_dir);
	else
		snprintf(buf, NETNS_ALIAS_MAX, "nsinetd:#%08x", fnv1a32(runtime_dir));
}

static struct nlmsghdr *msg_new(char *buf, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh;

	memset(buf, 0, MNL_SOCKET_BUFFER_SIZE);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	return nlh;
}

static struct ifinfomsg *put_ifinfo(struct nlmsghdr *nlh, int index)
{
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));

	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = index;
	return ifm;
}

static int link_create(struct rtnl *r, const struct netns_veth *v, pid_t pid)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg_new(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	struct nlattr *info, *data, *peer;
	struct ifinfomsg *pifm;

	put_ifinfo(nlh, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, v->host_name);
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	/* The peer's attributes follow a struct ifinfomsg of its own. */
	pifm = mnl_nlmsg_get_payload_tail(nlh);
	memset(pifm, 0, sizeof(*pifm));
	pifm->ifi_family = AF_UNSPEC;
	nlh->nlmsg_len += MNL_ALIGN(sizeof(*pifm));
	mnl_attr_put_strz(nlh, IFLA_IFNAME, NETNS_VETH_PEER_NAME);
	/* Created right in the container's namespace: no move, no window in
	 * which a "host0" exists in ours. */
	mnl_attr_put_u32(nlh, IFLA_NET_NS_PID, (uint32_t)pid);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	return rtnl_call(r, nlh, NULL, NULL);
}

/* Alias (our mark), master (Bridge=), up: one message. */
static int link_set(struct rtnl *r, int index, const char *alias, int master)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg_new(buf, RTM_NEWLINK, 0);
	struct ifinfomsg *ifm = put_ifinfo(nlh, index);

	ifm->ifi_flags = IFF_UP;
	ifm->ifi_change = IFF_UP;
	if (alias)
		mnl_attr_put_strz(nlh, IFLA_IFALIAS, alias);
	if (master > 0)
		mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)master);
	return rtnl_call(r, nlh, NULL, NULL);
}

static int addr_add(struct rtnl *r, int index, const struct netns_prefix *p)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg_new(buf, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	size_t len = p->family == AF_INET ? 4 : 16;

	ifa->ifa_family = (unsigned char)p->family;
	ifa->ifa_prefixlen = p->prefixlen;
	/* No duplicate address detection: both ends are ours, and DAD would
	 * keep an IPv6 address unusable for a second or more. */
	ifa->ifa_flags = IFA_F_NODAD;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (unsigned int)index;
	mnl_attr_put(nlh, IFA_LOCAL, len, &p->addr);
	mnl_attr_put(nlh, IFA_ADDRESS, len, &p->addr);
	return rtnl_call(r, nlh, NULL, NULL);
}

static int route_default(struct rtnl *r, int index, const struct netns_prefix *gw)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg_new(buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));

	rtm->rtm_family = (unsigned char)gw->family;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_scope = RT_SCOPE_UNIVERSE;
	rtm->rtm_type = RTN_UNICAST;
	mnl_attr_put(nlh, RTA_GATEWAY, gw->family == AF_INET ? 4 : 16, &gw->addr);
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)index);
	return rtnl_call(r, nlh, NULL, NULL);
}

struct link_query {
	const char *name;  /* by name (GETLINK), or */
	const char *alias; /* every link with this alias (dump) */
	int index;
	int *found;
	size_t n_found;
};

static int link_attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);

	if (mnl_attr_type_valid(a, IFLA_MAX) < 0)
		return MNL_CB_OK;
	if ((type == IFLA_IFNAME || type == IFLA_IFALIAS) &&
	    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
		return MNL_CB_OK;
	tb[type] = a;
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_query *q = data;
	const struct nlattr *tb[IFLA_MAX + 1] = {0};
	struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);

	mnl_attr_parse(nlh, sizeof(*ifm), link_attr_cb, tb);
	if (q->name) {
		q->index = ifm->ifi_index;
		return MNL_CB_OK;
	}
	if (tb[IFLA_IFALIAS] && strcmp(mnl_attr_get_str(tb[IFLA_IFALIAS]), q->alias) == 0 &&
	    q->n_found < STALE_MAX)
		q->found[q->n_found++] = ifm->ifi_index;
	return MNL_CB_OK;
}

static int link_index(struct rtnl *r, const char *name)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg_new(buf, RTM_GETLINK, 0);
	struct link_query q = {.name = name};
	int ret;

	put_ifinfo(nlh, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	ret = rtnl_call(r, nlh, link_cb, &q);
	if (ret < 0)
		return ret;
	return q.index > 0 ? q.index : -ENODEV;
}

static int link_delete(struct rtnl *r, int index)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg_new(buf, RTM_DELLINK, 0);

	put_ifinfo(nlh, index);
	return rtnl_call(r, nlh, NULL, NULL);
}

/* The container's side, run in a thread inside its namespace. */
struct peer_job {
	const struct netns_veth *v;
	bool skip_ipv6;
	const char *op; /* what failed */
	const struct netns_prefix *what;
};

static int peer_setup_cb(void *arg)
{
	struct peer_job *j = arg;
	const struct netns_veth *v = j->v;
	struct rtnl r = {.fd = -1};
	int index, ret;

	j->op = "open rtnetlink in the container's namespace for";
	ret = rtnl_open(&r);
	if (ret < 0)
		return ret;
	j->op = "find";
	index = ret = link_index(&r, NETNS_VETH_PEER_NAME);
	if (ret < 0)
		goto out;
	/* Up before the addresses: an IPv4 address on a down link gets no
	 * prefix route, and the default route needs one to its gateway. */
	j->op = "bring up";
	ret = link_set(&r, index, NULL, 0);
	for (int f = 0; f < 2 && ret >= 0; f++) {
		if (!v->addr[f].family || (f == 1 && j->skip_ipv6))
			continue;
		j->op = "add address";
		j->what = &v->addr[f];
		ret = addr_add(&r, index, &v->addr[f]);
	}
	for (int f = 0; f < 2 && ret >= 0; f++) {
		if (!v->addr[f].family || !v->host_addr[f].family || (f == 1 && j->skip_ipv6))
			continue;
		j->op = "add the default route via";
		j->what = &v->host_addr[f];
		ret = route_default(&r, index, &v->host_addr[f]);
	}
out:
	rtnl_close(&r);
	return ret;
}

static void err_set(char *err, size_t errlen, const char *op, const struct netns_prefix *what,
		    const char *ifname)
{
	char a[64];

	if (what)
		snprintf(err, errlen, "cannot %s %s %s %s", op,
			 netns_prefix_format(what, a, sizeof(a)),
			 strncmp(op, "add address", 11) == 0 ? "to" : "on", ifname);
	else
		snprintf(err, errlen, "cannot %s %s", op, ifname);
}

int netns_veth_create(const struct netns_veth *v, pid_t pid, int pidfd, int *ret_ifindex, char *err,
		      size_t errlen)
{
	char peer_desc[IFNAMSIZ + 64];
	struct peer_job job = {.v = v};
	struct rtnl r = {.fd = -1};
	int index = -1, master = 0, ret;

	ret = rtnl_open(&r);
	if (ret < 0) {
		err_set(err, errlen, "open rtnetlink for", NULL, v->host_name);
		return ret;
	}
	if (v->bridge) {
		master = ret = link_index(&r, v->bridge);
		if (ret < 0) {
			err_set(err, errlen, "find the bridge", NULL, v->bridge);
			goto out;
		}
	}
	ret = link_create(&r, v, pid);
	if (ret < 0) {
		err_set(err, errlen, "create", NULL, v->host_name);
		goto out;
	}
	index = ret = link_index(&r, v->host_name);
	if (ret < 0) {
		err_set(err, errlen, "find the new", NULL, v->host_name);
		goto out;
	}
	ret = link_set(&r, index, v->alias, master);
	if (ret < 0) {
		err_set(err, errlen, master ? "attach to the bridge and bring up" : "bring up",
			NULL, v->host_name);
		goto out;
	}
	for (int f = 0; f < 2 && !v->bridge; f++) {
		if (!v->host_addr[f].family)
			continue;
		ret = addr_add(&r, index, &v->host_addr[f]);
		if (ret < 0 && f == 1 && v->ipv6_optional &&
		    (ret == -EACCES || ret == -EAFNOSUPPORT)) {
			job.skip_ipv6 = true;
			ret = 0;
			continue;
		}
		if (ret < 0) {
			err_set(err, errlen, "add address", &v->host_addr[f], v->host_name);
			goto out;
		}
	}
	ret = rtnl_run_in_netns(pidfd, peer_setup_cb, &job);
	if (ret < 0) {
		snprintf(peer_desc, sizeof(peer_desc), "%s (peer of %s)", NETNS_VETH_PEER_NAME,
			 v->host_name);
		err_set(err, errlen, job.op ? job.op : "join the container's namespace for",
			job.what, peer_desc);
		goto out;
	}
	*ret_ifindex = index;
out:
	/* Deleting one side deletes both. */
	if (ret < 0 && index > 0)
		(void)link_delete(&r, index);
	rtnl_close(&r);
	return ret;
}

int netns_veth_delete(int ifindex)
{
	struct rtnl r = {.fd = -1};
	int ret;

	ret = rtnl_open(&r);
	if (ret < 0)
		return ret;
	ret = link_delete(&r, ifindex);
	rtnl_close(&r);
	return ret;
}

struct netns_veth_deletion {
	pthread_t thread;
	int ifindex;
	int ret;
};

static void *delete_thread(void *arg)
{
	struct netns_veth_deletion *d = arg;

	d->ret = netns_veth_delete(d->ifindex);
	return NULL;
}

int netns_veth_delete_async(int ifindex, struct netns_veth_deletion **ret)
{
	struct netns_veth_deletion *d = calloc(1, sizeof(*d));
	int r;

	if (!d)
		return -ENOMEM;
	d->ifindex = ifindex;
	d->ret = -EIO;
	r = pthread_create(&d->thread, NULL, delete_thread, d);
	if (r != 0) {
		free(d);
		return -r;
	}
	*ret = d;
	return 0;
}

int netns_veth_delete_finish(struct netns_veth_deletion **d, bool wait)
{
	int r;

	if (!*d)
		return 0;
	r = wait ? pthread_join((*d)->thread, NULL) : pthread_tryjoin_np((*d)->thread, NULL);
	if (r == EBUSY)
		return -EBUSY;
	r = r != 0 ? -r : (*d)->ret;
	free(*d);
	*d = NULL;
	return r;
}

static bool kept(int index, const int *keep, size_t n_keep)
{
	for (size_t i = 0; i < n_keep; i++)
		if (keep[i] == index)
			return true;
	return false;
}

int netns_veth_remove_stale(const char *alias, const int *keep, size_t n_keep)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	_cleanup_free_ int *found = calloc(STALE_MAX, sizeof(int));
	struct link_query q = {.alias = alias, .found = found};
	struct nlmsghdr *nlh = msg_new(buf, RTM_GETLINK, NLM_F_DUMP);
	struct rtnl r = {.fd = -1};
	int ret, n = 0;

	if (!found)
		return -ENOMEM;
	put_ifinfo(nlh, 0);
	ret = rtnl_open(&r);
	if (ret < 0)
		return ret;
	ret = rtnl_call(&r, nlh, link_cb, &q);
	for (size_t i = 0; ret >= 0 && i < q.n_found; i++) {
		int d;

		if (kept(q.found[i], keep, n_keep))
			continue;
		d = link_delete(&r, q.found[i]);
		/* Its peer, deleted with an earlier one, is gone already. */
		if (d >= 0)
			n++;
		else if (d != -ENODEV)
			ret = d;
	}
	rtnl_close(&r);
	return ret < 0 ? ret : n;
}
