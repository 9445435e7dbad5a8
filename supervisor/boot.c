/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Boot=yes: the check of the tree's socket units against the service's
 * addresses. The booted systemd adopts a passed socket only for a socket
 * unit whose address is exactly the socket's, and closes it otherwise; a
 * unit that says "8080" where nsinetd listens on "127.0.0.1:8080" is the
 * usual mistake. Read from the tree (resolved inside it) and from the
 * Bind= sources that replace a unit file.
 */
#include "boot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/sockaddr.h"

#define UNIT_SIZE_MAX  65536
#define UNITS_PER_DIR  1024
#define NEAR_MISSES    4
#define NEAR_MISS_TEXT 512

static const char *const unit_dirs[] = {"etc/systemd/system", "usr/lib/systemd/system",
					"lib/systemd/system"};

static const char *const listen_keys[] = {
    [LISTEN_STREAM] = "ListenStream=",
    [LISTEN_DATAGRAM] = "ListenDatagram=",
    [LISTEN_SEQPACKET] = "ListenSequentialPacket=",
};

struct boot_scan {
	const struct service_config *c;
	bool *matched;             /* per listen entry */
	bool any_units;            /* the tree has socket units with addresses */
	char near[NEAR_MISS_TEXT]; /* "lighttpd.socket: ListenStream=8080, …" */
	size_t n_near;
};

static int tree_openat(int root_fd, const char *path, int flags)
{
	struct open_how how = {
	    .flags = (unsigned long long)(flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK),
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, root_fd, path, &how, sizeof(how));

	return fd < 0 ? -errno : fd;
}

/* A regular file of at most UNIT_SIZE_MAX bytes, NUL-terminated. */
static int read_small(int fd, char **ret)
{
	struct stat st;
	char *buf;
	ssize_t n;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size > UNIT_SIZE_MAX)
		return -EINVAL;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	n = read(fd, buf, (size_t)st.st_size);
	if (n < 0) {
		free(buf);
		return -errno;
	}
	buf[n] = '\0';
	*ret = buf;
	return 0;
}

/* An address of the same type and kind (IP, or unix) as one of ours: the
 * unit that was meant to take it, most likely. */
static bool near_miss(const struct socket_config *sc, int type, const struct socket_address *a)
{
	bool is_unix = socket_address_family(a) == AF_UNIX;

	for (size_t i = 0; i < sc->n_listen; i++)
		if ((int)sc->listen[i].type == type &&
		    (socket_address_family(&sc->listen[i].address) == AF_UNIX) == is_unix)
			return true;
	return false;
}

/* The Listen*= lines of one unit: a match marks the entry, a same-type
 * address that is not one is a near miss. */
static void scan_unit(struct boot_scan *b, const char *unit, char *text)
{
	const struct socket_config *sc = &b->c->socket;
	char *save = NULL;

	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct socket_address a;
		bool hit = false;
		int type = -1;

		while (*line == ' ' || *line == '\t')
			line++;
		for (size_t t = 0; t < sizeof(listen_keys) / sizeof(listen_keys[0]); t++)
			if (strncmp(line, listen_keys[t], strlen(listen_keys[t])) == 0)
				type = (int)t;
		if (type < 0)
			continue;
		line += strlen(listen_keys[type]);
		line[strcspn(line, " \t\r")] = '\0';
		if (!*line)
			continue;
		b->any_units = true;
		if (socket_address_parse(line, &a) < 0)
			continue;
		for (size_t i = 0; i < sc->n_listen; i++)
			if ((int)sc->listen[i].type == type &&
			    socket_address_equal(&sc->listen[i].address, &a)) {
				b->matched[i] = true;
				hit = true;
			}
		if (!hit && b->n_near < NEAR_MISSES && near_miss(sc, type, &a)) {
			size_t len = strlen(b->near);

			snprintf(b->near + len, sizeof(b->near) - len, "%s%s has %s%s",
				 b->n_near ? ", " : "", unit, listen_keys[type], line);
			b->n_near++;
		}
	}
}

/* The Bind= source that replaces path (inside the tree), or NULL. */
static const char *bind_over(const struct service_config *c, const char *dir, const char *name)
{
	char path[1024];

	snprintf(path, sizeof(path), "/%s/%s", dir, name);
	for (size_t i = c->container.n_binds; i-- > 0;)
		if (strcmp(c->container.binds[i].target, path) == 0)
			return c->container.binds[i].source;
	return NULL;
}

static void scan_dir(struct boot_scan *b, int root_fd, const char *dir)
{
	_cleanup_close_ int dfd = tree_openat(root_fd, dir, O_RDONLY | O_DIRECTORY);
	DIR *d;
	struct dirent *de;
	unsigned n = 0;

	if (dfd < 0)
		return;
	d = fdopendir(dfd);
	if (!d)
		return;
	dfd = -1; /* the DIR owns it */
	while ((de = readdir(d)) && n++ < UNITS_PER_DIR) {
		size_t len = strlen(de->d_name);
		const char *src;
		_cleanup_free_ char *text = NULL, *path = NULL;
		_cleanup_close_ int fd = -1;

		if (len < 8 || strcmp(de->d_name + len - 7, ".socket") != 0)
			continue;
		src = bind_over(b->c, dir, de->d_name);
		if (src)
			fd = open(src, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		else if (asprintf(&path, "%s/%s", dir, de->d_name) >= 0)
			fd = tree_openat(root_fd, path, O_RDONLY);
		if (fd >= 0 && read_small(fd, &text) == 0)
			scan_unit(b, de->d_name, text);
	}
	closedir(d);
}

int boot_check_socket_units(const struct service_config *c, int root_fd,
			    void (*say)(const char *line, void *userdata), void *userdata)
{
	const struct socket_config *sc = &c->socket;
	struct boot_scan b = {.c = c};
	char line[1024];
	int n = 0;

	if (!c->container.boot || sc->n_listen == 0)
		return 0;
	b.matched = calloc(sc->n_listen, sizeof(bool));
	if (!b.matched)
		return -ENOMEM;
	for (size_t i = 0; i < sizeof(unit_dirs) / sizeof(unit_dirs[0]); i++)
		scan_dir(&b, root_fd, unit_dirs[i]);
	for (size_t i = 0; b.any_units && i < sc->n_listen; i++) {
		if (b.matched[i])
			continue;
		snprintf(line, sizeof(line),
			 "Boot=yes: no socket unit of %s listens on %s%s exactly: its systemd "
			 "will close that socket and bind its own%s%s",
			 c->container.directory, listen_keys[sc->listen[i].type],
			 sc->listen[i].text, b.n_near ? "; " : "", b.near);
		say(line, userdata);
		n++;
	}
	free(b.matched);
	return n;
}
