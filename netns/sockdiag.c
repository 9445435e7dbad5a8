/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sockdiag.h"

#include <errno.h>
#include <stddef.h>
#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <linux/unix_diag.h>
#include <string.h>
#include <sys/socket.h>

#include "common/cleanup.h"

static void mnl_socket_closep(struct mnl_socket **nl)
{
	if (*nl)
		mnl_socket_close(*nl);
}

/* Sends one dump request and runs cb on every answer until NLMSG_DONE. */
static int dump(struct nlmsghdr *req, mnl_cb_t cb, void *data)
{
	__attribute__((cleanup(mnl_socket_closep))) struct mnl_socket *nl = NULL;
	/* Large enough for many answers per recv: fewer syscalls per dump. */
	char buf[32768] __attribute__((aligned(NLMSG_ALIGNTO)));
	unsigned int portid;
	ssize_t n;
	int r;

	nl = mnl_socket_open2(NETLINK_SOCK_DIAG, SOCK_CLOEXEC);
	if (!nl)
		return negative_errno();
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return negative_errno();
	portid = mnl_socket_get_portid(nl);
	req->nlmsg_seq = 1;
	if (mnl_socket_sendto(nl, req, req->nlmsg_len) < 0)
		return negative_errno();
	for (;;) {
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0)
			return negative_errno();
		r = mnl_cb_run(buf, (size_t)n, 1, portid, cb, data);
		if (r < 0)
			return negative_errno();
		if (r == MNL_CB_STOP)
			return 0;
	}
}

struct inet_ctx {
	int family;
	sockdiag_inet_cb cb;
	void *userdata;
};

static int inet_msg_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct inet_ctx *ctx = data;
	const struct inet_diag_msg *m = mnl_nlmsg_get_payload(nlh);
	struct sockdiag_inet s = {0};
	const struct nlattr *attr;

	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return MNL_CB_OK;
	s.family = m->idiag_family;
	s.state = m->idiag_state;
	s.lport = ntohs(m->id.idiag_sport);
	if (m->idiag_family == AF_INET) {
		s.laddr.s6_addr[10] = 0xff;
		s.laddr.s6_addr[11] = 0xff;
		memcpy(&s.laddr.s6_addr[12], m->id.idiag_src, 4);
	} else {
		memcpy(&s.laddr, m->id.idiag_src, sizeof(s.laddr));
	}
	s.rqueue = m->idiag_rqueue;
	s.wqueue = m->idiag_wqueue;
	s.inode = m->idiag_inode;
	mnl_attr_for_each(attr, nlh, sizeof(*m))
	{
		if (mnl_attr_get_type(attr) == INET_DIAG_INFO) {
			const struct tcp_info *ti = mnl_attr_get_payload(attr);
			size_t len = mnl_attr_get_payload_len(attr);

			/* Older kernels send a shorter struct: take what
			 * is there, and only if both fields are. */
			if (len >= offsetof(struct tcp_info, tcpi_last_data_recv) +
				       sizeof(ti->tcpi_last_data_recv)) {
				s.has_info = true;
				s.last_data_sent_ms = ti->tcpi_last_data_sent;
				s.last_data_recv_ms = ti->tcpi_last_data_recv;
			}
		}
	}
	ctx->cb(&s, ctx->userdata);
	return MNL_CB_OK;
}

int sockdiag_dump_inet(int family, int protocol, uint32_t states, bool want_info,
		       sockdiag_inet_cb cb, void *userdata)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct inet_ctx ctx = {family, cb, userdata};
	struct inet_diag_req_v2 *req;
	struct nlmsghdr *nlh;

	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
	req->sdiag_family = (uint8_t)family;
	req->sdiag_protocol = (uint8_t)protocol;
	req->idiag_states = states;
	if (want_info && protocol == IPPROTO_TCP)
		req->idiag_ext = 1 << (INET_DIAG_INFO - 1);
	return dump(nlh, inet_msg_cb, &ctx);
}

struct unix_ctx {
	sockdiag_unix_cb cb;
	void *userdata;
};

static int unix_msg_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct unix_ctx *ctx = data;
	const struct unix_diag_msg *m = mnl_nlmsg_get_payload(nlh);
	struct sockdiag_unix s = {0};
	const struct nlattr *attr;

	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return MNL_CB_OK;
	s.type = m->udiag_type;
	s.state = m->udiag_state;
	s.inode = m->udiag_ino;
	mnl_attr_for_each(attr, nlh, sizeof(*m))
	{
		switch (mnl_attr_get_type(attr)) {
		case UNIX_DIAG_NAME: {
			size_t len = mnl_attr_get_payload_len(attr);

			if (len > sizeof(s.name))
				len = sizeof(s.name);
			memcpy(s.name, mnl_attr_get_payload(attr), len);
			s.name_len = len;
			break;
		}
		case UNIX_DIAG_RQLEN: {
			const struct unix_diag_rqlen *q = mnl_attr_get_payload(attr);

			if (mnl_attr_get_payload_len(attr) >= sizeof(*q))
				s.rqueue = q->udiag_rqueue;
			break;
		}
		}
	}
	if (s.name_len > 0)
		ctx->cb(&s, ctx->userdata);
	return MNL_CB_OK;
}

int sockdiag_dump_unix(uint32_t states, sockdiag_unix_cb cb, void *userdata)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct unix_ctx ctx = {cb, userdata};
	struct unix_diag_req *req;
	struct nlmsghdr *nlh;

	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
	req->sdiag_family = AF_UNIX;
	req->udiag_states = states;
	req->udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_RQLEN;
	return dump(nlh, unix_msg_cb, &ctx);
}
