/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One container's notification socket (sd_notify(3)): see notify.h. */
#include "notify.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fd-util.h"
#include "common/log.h"
#include "supervisor/service.h"

/* Datagrams read per wake-up: a container that floods its socket waits
 * for the loop's other events like everybody else. */
#define NOTIFY_BATCH 16
/* Datagrams read when the container is gone (what it sent before its end). */
#define NOTIFY_DRAIN_MAX 64
/* Refusals and drops logged per window (then one summary line). */
#define NOTIFY_LOG_BURST     5
#define NOTIFY_LOG_WINDOW_US (10 * USEC_PER_SEC)
/* Room for the credentials and a few fds; more fds are cut off by the
 * kernel (MSG_CTRUNC), which closes them itself. */
#define NOTIFY_CONTROL_FDS 16

struct notify {
	struct event *event;
	int fd;
	char *path;
	char *name;
	notify_cb cb;
	void *userdata;
	/* The container's pid namespace (st_dev, st_ino of /proc/PID1/ns/pid). */
	bool have_ns;
	dev_t ns_dev;
	ino_t ns_ino;
	/* Rate limit of the refusal and drop lines. */
	usec_t log_window_start;
	unsigned log_count;
	unsigned log_suppressed;
	bool fds_logged;
};

static bool line_is(const char *line, size_t len, const char *what)
{
	return strlen(what) == len && memcmp(line, what, len) == 0;
}

static bool line_value(const char *line, size_t len, const char *var, const char **ret,
		       size_t *ret_len)
{
	size_t n = strlen(var);

	if (len < n || memcmp(line, var, n) != 0)
		return false;
	*ret = line + n;
	*ret_len = len - n;
	return true;
}

/* A number of at most 20 digits (with an optional '-' when sign), or false. */
static bool parse_number_n(const char *v, size_t len, bool sign, long long *ret_signed,
			   uint64_t *ret)
{
	char buf[24];
	uint64_t u;
	bool neg = sign && len > 0 && v[0] == '-';

	if (neg) {
		v++;
		len--;
	}
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, v, len);
	buf[len] = '\0';
	if (parse_uint(buf, 0, UINT64_MAX, &u) < 0)
		return false;
	if (ret)
		*ret = u;
	if (ret_signed) {
		if (u > INT32_MAX)
			return false;
		*ret_signed = neg ? -(long long)u : (long long)u;
	}
	return true;
}

void notify_parse(const char *buf, size_t n, struct notify_message *ret)
{
	const char *p = buf, *end = buf + n;

	*ret = (struct notify_message){0};
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *v;
		size_t vlen;
		long long e;
		uint64_t u;

		if (line_is(p, len, "READY=1"))
			ret->ready = true;
		else if (line_is(p, len, "STOPPING=1"))
			ret->stopping = true;
		else if (line_is(p, len, "RELOADING=1"))
			ret->reloading = true;
		else if (line_is(p, len, "WATCHDOG=1"))
			ret->watchdog = true;
		else if (line_is(p, len, "WATCHDOG=trigger"))
			ret->watchdog_trigger = true;
		else if (line_value(p, len, "STATUS=", &v, &vlen)) {
			ret->status = v;
			ret->status_len = vlen;
		} else if (line_value(p, len, "ERRNO=", &v, &vlen)) {
			/* systemd takes a non-negative errno only. */
			if (parse_number_n(v, vlen, true, &e, NULL) && e >= 0) {
				ret->have_errno = true;
				ret->errno_value = (int)e;
			}
		} else if (line_value(p, len, "EXTEND_TIMEOUT_USEC=", &v, &vlen)) {
			if (parse_number_n(v, vlen, false, NULL, &u)) {
				ret->have_extend = true;
				ret->extend_usec = u;
			}
		}
		p += len + 1;
	}
}

/* At most NOTIFY_LOG_BURST lines per window; the next window first says
 * how many were left out. */
static bool log_allowed(struct notify *n)
{
	usec_t now = now_usec();

	if (now - n->log_window_start >= NOTIFY_LOG_WINDOW_US) {
		if (n->log_suppressed)
			log_warning("%s: %u more notification message(s) refused or dropped",
				    n->name, n->log_suppressed);
		n->log_window_start = now;
		n->log_count = 0;
		n->log_suppressed = 0;
	}
	if (n->log_count < NOTIFY_LOG_BURST) {
		n->log_count++;
		return true;
	}
	n->log_suppressed++;
	return false;
}

/*
 * Whether pid (as the daemon's pid namespace sees it) is a process of the
 * container: it lives in pid 1's pid namespace. The pid in
 * SCM_CREDENTIALS is the kernel's, unless the sender has CAP_SYS_ADMIN
 * over the user namespace that owns its pid namespace: the container's
 * pid namespace is created by the daemon (host root) before pid 1 joins
 * the service's user namespace, so a container cannot name another pid.
 * A process that has exited and whose pid was reused by a host process is
 * refused, since that one lives in another namespace.
 */
static bool sender_ok(const struct notify *n, pid_t pid)
{
	char path[64];
	struct stat st;

	if (!n->have_ns || pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
	/* A sender that has exited already (systemd-notify does at once; a
	 * service may send READY=1 and serve one client and exit before the
	 * daemon reads) cannot be looked at. Only the container's processes
	 * and the host's root can reach this socket (its directory is root's,
	 * mode 0700; the container has its own bind of it), so it is taken. A
	 * pid reused meanwhile by a process of the host is in another pid
	 * namespace, and refused. */
	if (stat(path, &st) < 0)
		return errno == ENOENT || errno == ESRCH;
	return st.st_dev == n->ns_dev && st.st_ino == n->ns_ino;
}

static void close_fds(struct msghdr *mh)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int *fds = (int *)(void *)CMSG_DATA(cm);
		for (size_t i = 0; i < k; i++)
			safe_close(fds[i]);
	}
}

static const struct ucred *find_creds(struct msghdr *mh)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(struct ucred)))
			return (const struct ucred *)(void *)CMSG_DATA(cm);
	return NULL;
}

/* Reads one datagram: 1 handled (or dropped), 0 nothing left, -errno. */
static int receive_one(struct notify *n)
{
	char buf[NOTIFY_DATAGRAM_MAX + 1];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct ucred)) +
			 CMSG_SPACE(sizeof(int) * NOTIFY_CONTROL_FDS)];
	} control;
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr mh = {
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	    .msg_control = &control,
	    .msg_controllen = sizeof(control),
	};
	struct notify_message msg;
	const struct ucred *cred;
	bool had_fds = false;
	ssize_t len;

	len = recvmsg(n->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
	if (len < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	/* No fd stays open here, whatever else the datagram is. */
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		had_fds = had_fds || (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS);
	close_fds(&mh);
	cred = find_creds(&mh);
	if (!cred || !sender_ok(n, cred->pid)) {
		if (log_allowed(n))
			log_warning("%s: refusing a notification from pid %d: not a process of "
				    "the container",
				    n->name, cred ? (int)cred->pid : 0);
		return 1;
	}
	if (had_fds && !n->fds_logged) {
		/* Logged once per container. */
		n->fds_logged = true;
		log_notice("%s: the container sent file descriptors (FDSTORE=): not supported, "
			   "closed",
			   n->name);
	}
	if ((size_t)len > NOTIFY_DATAGRAM_MAX || (mh.msg_flags & MSG_TRUNC)) {
		if (log_allowed(n))
			log_warning("%s: dropping a notification of %zd bytes (at most %d)",
				    n->name, len, NOTIFY_DATAGRAM_MAX);
		return 1;
	}
	if (memchr(buf, '\0', (size_t)len)) {
		if (log_allowed(n))
			log_warning("%s: dropping a notification with a NUL byte", n->name);
		return 1;
	}
	notify_parse(buf, (size_t)len, &msg);
	n->cb(n, &msg, n->userdata);
	return 1;
}

static void notify_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct notify *n = arg;

	for (int i = 0; i < NOTIFY_BATCH; i++) {
		int r = receive_one(n);
		if (r == 0)
			return;
		if (r < 0) {
			if (log_allowed(n))
				log_errno(LOG_WARNING, r, "%s: reading the notification socket",
					  n->name);
			return;
		}
	}
}

void notify_drain(struct notify *n)
{
	for (int i = 0; n && i < NOTIFY_DRAIN_MAX; i++)
		if (receive_one(n) <= 0)
			return;
}

static void notify_freep(struct notify **n)
{
	notify_free(*n);
}

int notify_adopt(struct event_base *base, int fd, const char *path, const char *name, notify_cb cb,
		 void *userdata, struct notify **ret)
{
	_cleanup_(notify_freep) struct notify *n = calloc(1, sizeof(*n));

	if (!n) {
		safe_close(fd);
		return -ENOMEM;
	}
	n->fd = fd;
	n->cb = cb;
	n->userdata = userdata;
	n->path = strdup(path);
	n->name = strdup(name);
	if (!n->path || !n->name)
		return -ENOMEM;
	n->event = event_new(base, n->fd, EV_READ | EV_PERSIST, notify_read_cb, n);
	if (!n->event || event_add(n->event, NULL) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(n);
	return 0;
}

int notify_fd(const struct notify *n)
{
	return n ? n->fd : -1;
}

int notify_new(struct event_base *base, const char *dir, unsigned id, const char *name,
	       notify_cb cb, void *userdata, struct notify **ret)
{
	_cleanup_(notify_freep) struct notify *n = NULL;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int one = 1;

	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->fd = -1;
	n->cb = cb;
	n->userdata = userdata;
	if (asprintf(&n->path, "%s/%x", dir, id) < 0) {
		n->path = NULL;
		return -ENOMEM;
	}
	n->name = strdup(name);
	if (!n->name)
		return -ENOMEM;
	if (strlen(n->path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, n->path, strlen(n->path) + 1);
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (n->fd < 0)
		return -errno;
	if (setsockopt(n->fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
		return -errno;
	(void)unlink(n->path); /* a daemon's leftover */
	if (bind(n->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;
		free(n->path);
		n->path = NULL; /* not ours to unlink */
		return r;
	}
	/*
	 * Anybody may write to the node itself: with PrivateUsers= the
	 * container's root is an unprivileged uid of the host, and a socket
	 * needs write permission to be sent to. That gives nothing away: on
	 * the host the path goes through RUNTIME/notify, mode 0700, owned by
	 * root, which no other user may enter; inside, only this container's
	 * bind mount leads to it, and every datagram's sender is checked.
	 */
	if (chmod(n->path, 0666) < 0)
		return -errno;
	n->event = event_new(base, n->fd, EV_READ | EV_PERSIST, notify_read_cb, n);
	if (!n->event || event_add(n->event, NULL) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(n);
	return 0;
}

int notify_set_pid(struct notify *n, pid_t pid1)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid1);
	if (stat(path, &st) < 0)
		return -errno;
	n->ns_dev = st.st_dev;
	n->ns_ino = st.st_ino;
	n->have_ns = true;
	return 0;
}

const char *notify_path(const struct notify *n)
{
	return n->path;
}

struct notify *notify_free(struct notify *n)
{
	if (!n)
		return NULL;
	if (n->event)
		event_free(n->event);
	safe_close(n->fd);
	if (n->path)
		(void)unlink(n->path);
	free(n->path);
	free(n->name);
	free(n);
	return NULL;
}
