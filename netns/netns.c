/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "netns.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"

static void mnl_socket_closep(struct mnl_socket **nl)
{
	if (*nl)
		mnl_socket_close(*nl);
}

/* One request, one ACK: the kernel answers NLM_F_ACK with an error message
 * whose code is 0 on success. */
static int rtnl_talk(struct nlmsghdr *nlh)
{
	__attribute__((cleanup(mnl_socket_closep))) struct mnl_socket *nl = NULL;
	char buf[MNL_SOCKET_BUFFER_SIZE];
	unsigned int seq, portid;
	ssize_t n;
	int r;

	nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl)
		return negative_errno();
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return negative_errno();
	portid = mnl_socket_get_portid(nl);
	seq = nlh->nlmsg_seq = (unsigned int)time(NULL);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return negative_errno();
	n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (n < 0)
		return negative_errno();
	r = mnl_cb_run(buf, (size_t)n, seq, portid, NULL, NULL);
	return r < 0 ? negative_errno() : 0;
}

int netns_loopback_up(void)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifm;

	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = 1; /* lo is always ifindex 1 in a new namespace */
	ifm->ifi_flags = IFF_UP;
	ifm->ifi_change = IFF_UP;
	return rtnl_talk(nlh);
}
