/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "supervisor/tcp-server.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/sockaddr.h"

int tcp_server_bind(const char *option, const char *address, int backlog, int *ret_fd)
{
	struct socket_address sa;
	_cleanup_close_ int fd = -1;
	int one = 1, r;

	r = socket_address_parse(address, &sa);
	if (r < 0 || sa.any_port || socket_address_family(&sa) == AF_UNIX) {
		log_error("%s %s: not ADDRESS:PORT (an IPv4 address or [IPv6] and a "
			  "port of 1-65535)",
			  option, address);
		return -EINVAL;
	}
	fd = socket(socket_address_family(&sa), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return log_errno(LOG_ERR, -errno, "%s %s: socket", option, address);
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (socket_address_family(&sa) == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, &sa.sa.sa, sa.len) < 0)
		return log_errno(LOG_ERR, -errno, "%s %s: cannot bind", option, address);
	if (listen(fd, backlog) < 0)
		return log_errno(LOG_ERR, -errno, "%s %s: listen", option, address);
	*ret_fd = TAKE_FD(fd);
	return 0;
}
