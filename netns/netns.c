/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/nsfs.h>
#include <linux/rtnetlink.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "netns/rtnl.h"

int rtnl_open(struct rtnl *r)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	socklen_t len = sizeof(sa);

	r->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (r->fd < 0)
		return -errno;
	/* nl_pid 0: the kernel picks our port id. */
	if (bind(r->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(r->fd, (struct sockaddr *)&sa, &len) < 0) {
		int e = -errno;
		rtnl_close(r);
		return e;
	}
	r->portid = sa.nl_pid;
	r->seq = (unsigned int)time(NULL);
	return 0;
}

void rtnl_close(struct rtnl *r)
{
	r->fd = safe_close(r->fd);
}

int rtnl_call(struct rtnl *r, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	/* Large enough for one part of a link dump. */
	char buf[32768];
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	unsigned int seq = ++r->seq;
	/* NLM_F_DUMP shares its bits with NLM_F_EXCL and NLM_F_REPLACE: it
	 * means a dump only on a RTM_GET* request (type 2 modulo 4). */
	bool dump = nlh->nlmsg_type % 4 == 2 && (nlh->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
	ssize_t n;
	int ret;

	nlh->nlmsg_seq = seq;
	if (!dump)
		nlh->nlmsg_flags |= NLM_F_ACK;
	do
		n = sendto(r->fd, nlh, nlh->nlmsg_len, 0, (struct sockaddr *)&kernel,
			   sizeof(kernel));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	/* Until the ACK or NLMSG_DONE (MNL_CB_STOP), or an error. */
	do {
		n = recv(r->fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		ret = mnl_cb_run(buf, (size_t)n, seq, r->portid, cb, data);
	} while (n < 0 || ret > MNL_CB_STOP);
	return ret < 0 ? negative_errno() : 0;
}

struct netns_job {
	int nsfd;
	int (*fn)(void *arg);
	void *arg;
	int ret;
};

static void *netns_job_run(void *p)
{
	struct netns_job *j = p;

	if (j->nsfd >= 0 ? setns(j->nsfd, CLONE_NEWNET) < 0 : unshare(CLONE_NEWNET) < 0) {
		j->ret = -errno;
		return NULL;
	}
	j->ret = j->fn(j->arg);
	return NULL;
}

int rtnl_run_in_netns(int nsfd, int (*fn)(void *arg), void *arg)
{
	struct netns_job j = {.nsfd = nsfd, .fn = fn, .arg = arg, .ret = -EIO};
	pthread_t t;
	int r;

	r = pthread_create(&t, NULL, netns_job_run, &j);
	if (r != 0)
		return -r;
	r = pthread_join(t, NULL);
	if (r != 0)
		return -r;
	return j.ret;
}

int netns_loopback_up(void)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct rtnl r = {.fd = -1};
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifm;
	int ret;

	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = 1; /* lo is always ifindex 1 in a new namespace */
	ifm->ifi_flags = IFF_UP;
	ifm->ifi_change = IFF_UP;
	ret = rtnl_open(&r);
	if (ret < 0)
		return ret;
	ret = rtnl_call(&r, nlh, NULL, NULL);
	rtnl_close(&r);
	return ret;
}

static int netns_is_net(int fd)
{
	int t = ioctl(fd, NS_GET_NSTYPE);

	if (t < 0)
		return errno == ENOTTY || errno == EINVAL ? -ENOTTY : -errno;
	return t == CLONE_NEWNET ? 0 : -ENOTTY;
}

int netns_open_named(const char *name, int *ret_fd)
{
	char path[sizeof(NETNS_RUN_DIR) + 256];
	_cleanup_close_ int fd = -1;
	int r;

	if (!name || !*name || strchr(name, '/') || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0 || strlen(name) > 255)
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%s", NETNS_RUN_DIR, name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	/* An `ip netns add` whose bind mount is gone leaves an empty file. */
	r = netns_is_net(fd);
	if (r < 0)
		return r;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int new_empty_cb(void *arg)
{
	int *ret_fd = arg;
	_cleanup_close_ int fd = -1;
	int r;

	fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = netns_loopback_up();
	if (r < 0)
		return r;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int netns_new_empty(int *ret_fd)
{
	int fd = -1, r;

	r = rtnl_run_in_netns(-1, new_empty_cb, &fd);
	if (r < 0)
		return r;
	*ret_fd = fd;
	return 0;
}
