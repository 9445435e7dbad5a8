/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/parse.h"
#include "common/safe-path.h"

static int sock_type(enum listen_type t)
{
	switch (t) {
	case LISTEN_STREAM:
		return SOCK_STREAM;
	case LISTEN_DATAGRAM:
		return SOCK_DGRAM;
	case LISTEN_SEQPACKET:
		return SOCK_SEQPACKET;
	}
	return SOCK_STREAM;
}

static bool is_path_socket(const struct socket_address *a)
{
	return a->sa.sa.sa_family == AF_UNIX && a->sa.un.sun_path[0] != '\0';
}

/* The directory of a path socket, made safe: see listener_check(). */
static int socket_dir_open(const char *path, unsigned flags, int *ret_fd, const char **ret_name,
			   struct safe_path_error *err)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
	const char *slash = strrchr(path, '/');

	if (!slash || (size_t)(slash - path) >= sizeof(dir))
		return -EINVAL;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	*ret_name = slash + 1;
	return safe_path_open_dir(slash == path ? "/" : dir, geteuid(), flags, 0755, ret_fd, err);
}

/* A stale socket file from an earlier run would make bind() fail; remove
 * it, as systemd does, but never a file that is not a socket. */
static int unlink_stale_socket(int dir_fd, const char *name)
{
	struct stat st;

	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	if (unlinkat(dir_fd, name, 0) < 0)
		return -errno;
	return 0;
}

static int resolve_owner(const struct socket_config *sc, uid_t *ret_uid, gid_t *ret_gid)
{
	uint64_t n;

	*ret_uid = (uid_t)-1;
	*ret_gid = (gid_t)-1;
	if (sc->socket_user) {
		if (parse_uint(sc->socket_user, 0, 0xfffffffe, &n) == 0) {
			*ret_uid = (uid_t)n;
		} else {
			struct passwd *pw = getpwnam(sc->socket_user);
			if (!pw)
				return -ESRCH;
			*ret_uid = pw->pw_uid;
			if (!sc->socket_group)
				*ret_gid = pw->pw_gid;
		}
	}
	if (sc->socket_group) {
		if (parse_uint(sc->socket_group, 0, 0xfffffffe, &n) == 0) {
			*ret_gid = (gid_t)n;
		} else {
			struct group *gr = getgrnam(sc->socket_group);
			if (!gr)
				return -ESRCH;
			*ret_gid = gr->gr_gid;
		}
	}
	return 0;
}

static int set_int(int fd, int level, int opt, int value)
{
	if (setsockopt(fd, level, opt, &value, sizeof(value)) < 0)
		return -errno;
	return 0;
}

/* "use the socket's directory: /x is owned by uid 1000, not by root" */
static void format_unsafe(const struct safe_path_error *err, char *what, size_t what_len)
{
	snprintf(what, what_len, "use the socket's directory: %s%s%s", err->path,
		 err->why[0] ? " is " : "", err->why);
}

int listener_check(const struct listen_config *lc, char *what, size_t what_len)
{
	_cleanup_close_ int dir_fd = -1;
	struct safe_path_error err;
	const char *name;
	int r;

	if (!is_path_socket(&lc->address))
		return 0;
	r = socket_dir_open(lc->address.sa.un.sun_path, 0, &dir_fd, &name, &err);
	/* Missing directories are made below the last one, found safe. */
	if (r < 0 && r != -ENOENT) {
		format_unsafe(&err, what, what_len);
		return r;
	}
	return 0;
}

int listener_open(const struct listen_config *lc, const struct socket_config *sc, int *ret_fd,
		  char *what, size_t what_len)
{
	const struct socket_address *a = &lc->address;
	int family = a->sa.sa.sa_family;
	int type = sock_type(lc->type);
	_cleanup_close_ int fd = -1, dir_fd = -1;
	struct safe_path_error err;
	const char *name = NULL;
	int r;

	snprintf(what, what_len, "socket");
	fd = socket(family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;

	snprintf(what, what_len, "setsockopt");
	if (family == AF_INET || family == AF_INET6) {
		if (type == SOCK_STREAM && (r = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1)) < 0)
			return r;
		if (sc->reuse_port && (r = set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1)) < 0)
			return r;
		if (sc->free_bind &&
		    (r = set_int(fd, family == AF_INET ? SOL_IP : SOL_IPV6,
				 family == AF_INET ? IP_FREEBIND : IPV6_FREEBIND, 1)) < 0)
			return r;
		if (family == AF_INET6) {
			int v6only = -1;

			if (sc->bind_ipv6_only == BIND_IPV6_ONLY)
				v6only = 1;
			else if (sc->bind_ipv6_only == BIND_IPV6_BOTH || a->any_port)
				v6only = 0;
			if (v6only >= 0 && (r = set_int(fd, SOL_IPV6, IPV6_V6ONLY, v6only)) < 0)
				return r;
		}
		if (type == SOCK_STREAM && sc->defer_accept > 0) {
			usec_t s = (sc->defer_accept + USEC_PER_SEC - 1) / USEC_PER_SEC;
			if ((r = set_int(fd, SOL_TCP, TCP_DEFER_ACCEPT, s > 3600 ? 3600 : (int)s)) <
			    0)
				return r;
		}
	}

	if (is_path_socket(a)) {
		r = socket_dir_open(a->sa.un.sun_path, SAFE_PATH_CREATE, &dir_fd, &name, &err);
		if (r < 0) {
			format_unsafe(&err, what, what_len);
			return r;
		}
		snprintf(what, what_len, "remove the stale socket file");
		r = unlink_stale_socket(dir_fd, name);
		if (r < 0)
			return r;
	}

	snprintf(what, what_len, "bind");
	if (is_path_socket(a)) {
		/* The socket is born with its mode: bind() applies the umask,
		 * so no other user can connect in a window before a chmod().
		 * (Binding in a private directory and renaming would do too,
		 * but getsockname(), sock_diag and peers would then report the
		 * private path.) By the absolute path: every directory on it
		 * is safe, so it leads where dir_fd points. */
		mode_t old = umask(~sc->socket_mode & 0777);
		r = bind(fd, &a->sa.sa, a->len);
		umask(old);
	} else {
		r = bind(fd, &a->sa.sa, a->len);
	}
	if (r < 0)
		return -errno;

	if (is_path_socket(a)) {
		uid_t uid;
		gid_t gid;

		snprintf(what, what_len, "resolve SocketUser=/SocketGroup=");
		r = resolve_owner(sc, &uid, &gid);
		if (r < 0)
			return r;
		/* Through the directory fd, never following a link. */
		snprintf(what, what_len, "chown");
		if ((uid != (uid_t)-1 || gid != (gid_t)-1) &&
		    fchownat(dir_fd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
	}

	if (type != SOCK_DGRAM) {
		snprintf(what, what_len, "listen");
		if (listen(fd, (int)sc->backlog) < 0)
			return -errno;
	}
	*ret_fd = TAKE_FD(fd);
	what[0] = '\0';
	return 0;
}

int listener_update(int fd, const struct listen_config *lc, const struct socket_config *sc)
{
	/* listen() on a listening socket only changes its backlog. */
	if (lc->type != LISTEN_DATAGRAM && listen(fd, (int)sc->backlog) < 0)
		return -errno;
	return 0;
}

bool listener_matches(int fd, const struct listen_config *lc)
{
	union sockaddr_union sa;
	socklen_t len = sizeof(sa);
	const struct socket_address *a = &lc->address;
	int type;
	socklen_t tlen = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0 || type != sock_type(lc->type))
		return false;
	if (getsockname(fd, &sa.sa, &len) < 0)
		return false;
	if (sa.sa.sa_family != a->sa.sa.sa_family)
		return false;
	switch (sa.sa.sa_family) {
	case AF_INET:
		return sa.in.sin_port == a->sa.in.sin_port &&
		       sa.in.sin_addr.s_addr == a->sa.in.sin_addr.s_addr;
	case AF_INET6:
		return sa.in6.sin6_port == a->sa.in6.sin6_port &&
		       memcmp(&sa.in6.sin6_addr, &a->sa.in6.sin6_addr, sizeof(struct in6_addr)) ==
			   0;
	case AF_UNIX: {
		size_t off = offsetof(struct sockaddr_un, sun_path);
		size_t n1 = len > off ? len - off : 0, n2 = a->len > off ? a->len - off : 0;

		/* Path sockets may or may not count the trailing NUL. */
		while (n1 > 0 && sa.un.sun_path[0] != '\0' && sa.un.sun_path[n1 - 1] == '\0')
			n1--;
		while (n2 > 0 && a->sa.un.sun_path[0] != '\0' && a->sa.un.sun_path[n2 - 1] == '\0')
			n2--;
		return n1 == n2 && memcmp(sa.un.sun_path, a->sa.un.sun_path, n1) == 0;
	}
	}
	return false;
}

void listener_unlink(const struct listen_config *lc)
{
	_cleanup_close_ int dir_fd = -1;
	struct safe_path_error err;
	const char *name;

	if (is_path_socket(&lc->address) &&
	    socket_dir_open(lc->address.sa.un.sun_path, 0, &dir_fd, &name, &err) >= 0)
		(void)unlink_stale_socket(dir_fd, name);
}

int listener_drain(int fd, const struct listen_config *lc, int max)
{
	int n = 0;

	for (; n < max; n++) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		char buf[1];

		/* The fd is blocking (it is shared with containers): ask
		 * poll() first, so that an empty queue cannot block the loop. */
		if (poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN))
			break;
		if (lc->type == LISTEN_DATAGRAM) {
			if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC) < 0)
				break;
		} else {
			int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (c < 0)
				break;
			close(c);
		}
	}
	return n;
}
