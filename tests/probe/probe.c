/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nsinetd-probe: the service the integration tests run inside containers.
 *
 * It takes its sockets with sd_listen_fds_with_names() and answers every
 * connection (stream, seqpacket) or datagram with one JSON object describing
 * what it sees from inside: the fds it was given, pid, ids, hostname, the
 * processes and network interfaces visible, the root filesystem, /tmp, the
 * cgroup, capabilities, environment. See report_write() for the fields.
 *
 * Options, from the environment (the config's Environment=):
 *   PROBE_EXIT_CODE=C   exit with C at once, before taking any socket;
 *   PROBE_EXIT_AFTER=N  exit 0 after N answers;
 *   PROBE_SLEEP_MS=M    sleep M ms before each answer;
 *   PROBE_ENV=A,B       also report the values of $A and $B under "env";
 *   PROBE_FILES=/a,/b   report the content of /a and /b, and whether each is
 *                       writable, under "files".
 *   PROBE_STAT=/a,/b    report what /a and /b are (type, device, entries,
 *                       read-only, file system, its size and inodes) under
 *                       "stat": a mask shows, and a tmpfs's limits;
 *   PROBE_SYSCALLS=a,b  make these harmless system calls (sched_yield,
 *                       getcpu: a seccomp filter's work shows) and report
 *                       0 or the errno of each under "syscalls";
 *   PROBE_SECRETS=H,H   hex-encoded strings (never the strings themselves,
 *                       which would then be in our own environment): look
 *                       for them everywhere a payload could read another
 *                       process's secrets (scan.h), report under "secrets".
 * A stream client may send, within 100 ms of connecting, a first line
 * "exit N\n": it gets its report, then the probe exits with N. A first line
 * that starts like an HTTP request ("GET ", "HEAD ") gets the report wrapped in
 * an HTTP/1.0 200 answer, so that curl works; anything else gets bare JSON.
 * SIGTERM/SIGINT: finish the answer in progress, exit 0.
 *
 * Passed fds that are connected stream sockets (Accept=yes, fd 3 is the
 * connection) get their report at once and are closed; with no LISTEN_FDS and
 * a socket on fd 0 (StandardInput=socket), the report goes to fd 1. The probe
 * exits when nothing is left to listen on.
 *
 * Single-threaded, one answer at a time; every buffer is bounded, every fd it
 * opens is O_CLOEXEC, writes to clients time out.
 */

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "scan.h"

#define PROBE_FDS_MAX        64
#define PROBE_REPORT_MAX     (64 * 1024)
#define PROBE_FILE_MAX       4096
#define PROBE_LIST_MAX       256
#define PROBE_FIRST_LINE_MAX 128
#define PROBE_FIRST_LINE_MS  100
#define PROBE_SEND_TIMEOUT_S 5

struct buf {
	char data[PROBE_REPORT_MAX];
	size_t len;
	bool truncated;
};

struct probe_fd {
	int fd;
	int type;   /* SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET, or -1 */
	int family; /* AF_INET, AF_INET6, AF_UNIX, ... or -1 */
	bool listening;
	bool done; /* connection answered, or not a socket: no longer polled */
};

/* What was true at start, before the probe opened anything itself. */
static struct {
	int n_fds;
	char **names;
	int open_fds[PROBE_LIST_MAX];
	int n_open_fds;
	char *env_listen_fds;
	char *env_listen_pid;
	char *env_listen_fdnames;
} start;

static struct probe_fd fds[PROBE_FDS_MAX];
static int n_fds;
static unsigned long answers;
static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	stop_requested = 1;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	/* SIGTERM is blocked outside ppoll(): it waits for the answer. */
	nanosleep(&ts, NULL);
}

static long env_long(const char *name, long dflt)
{
	const char *v = getenv(name);
	char *end;
	long r;

	if (!v || !*v)
		return dflt;
	errno = 0;
	r = strtol(v, &end, 10);
	if (errno || *end) {
		fprintf(stderr, "nsinetd-probe: ignoring %s=%s: not a number\n", name, v);
		return dflt;
	}
	return r;
}

static char *strdup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* --- JSON output ---------------------------------------------------------- */

__attribute__((format(printf, 2, 3))) static void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->truncated)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->data + b->len, sizeof(b->data) - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(b->data) - b->len) {
		b->truncated = true;
		return;
	}
	b->len += (size_t)n;
}

static void json_string(struct buf *b, const char *s)
{
	if (!s) {
		buf_printf(b, "null");
		return;
	}
	buf_printf(b, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			buf_printf(b, "\\%c", *p);
		else if (*p == '\n')
			buf_printf(b, "\\n");
		else if (*p == '\t')
			buf_printf(b, "\\t");
		else if (*p < 0x20 || *p == 0x7f)
			buf_printf(b, "\\u%04x", *p);
		else
			buf_printf(b, "%c", *p);
	}
	buf_printf(b, "\"");
}

static void json_key(struct buf *b, const char *key)
{
	buf_printf(b, ",\n \"%s\": ", key);
}

/* Reads at most PROBE_FILE_MAX - 1 bytes of a small file (procfs and the
 * like); NULL if it cannot be opened. */
static char *read_small_file(const char *path)
{
	static char content[PROBE_FILE_MAX];
	size_t len = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return NULL;
	while (len < sizeof(content) - 1) {
		n = read(fd, content + len, sizeof(content) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	content[len] = '\0';
	return content;
}

/* The value of "Key:" in /proc/self/status, trimmed; NULL if absent. */
static const char *status_field(const char *key, char *ret, size_t size)
{
	const char *s = read_small_file("/proc/self/status");
	size_t klen = strlen(key);

	for (const char *line = s; line && *line;) {
		const char *eol = strchrnul(line, '\n');

		if ((size_t)(eol - line) > klen && strncmp(line, key, klen) == 0 &&
		    line[klen] == ':') {
			const char *v = line + klen + 1;

			while (v < eol && isspace((unsigned char)*v))
				v++;
			snprintf(ret, size, "%.*s", (int)(eol - v), v);
			return ret;
		}
		line = *eol ? eol + 1 : eol;
	}
	return NULL;
}

static const char *type_name(int type)
{
	switch (type) {
	case SOCK_STREAM:
		return "stream";
	case SOCK_DGRAM:
		return "dgram";
	case SOCK_SEQPACKET:
		return "seqpacket";
	case -1:
		return "none";
	default:
		return "other";
	}
}

static const char *family_name(int family)
{
	switch (family) {
	case AF_INET:
		return "inet";
	case AF_INET6:
		return "inet6";
	case AF_UNIX:
		return "unix";
	case AF_NETLINK:
		return "netlink";
	case -1:
		return "none";
	default:
		return "other";
	}
}

static void json_sockaddr(struct buf *b, const struct sockaddr_storage *ss, socklen_t len)
{
	char addr[INET6_ADDRSTRLEN + 16];

	if (len == 0) {
		buf_printf(b, "null");
		return;
	}
	switch (ss->ss_family) {
	case AF_INET: {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof(addr));
		buf_printf(b, "\"%s:%u\"", addr, ntohs(sin->sin_port));
		return;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, addr, sizeof(addr));
		buf_printf(b, "\"[%s]:%u\"", addr, ntohs(sin6->sin6_port));
		return;
	}
	case AF_UNIX: {
		const struct sockaddr_un *sun = (const struct sockaddr_un *)ss;
		size_t plen = len > offsetof(struct sockaddr_un, sun_path)
				  ? len - offsetof(struct sockaddr_un, sun_path)
				  : 0;
		char path[sizeof(sun->sun_path) + 2];

		if (plen == 0) {
			buf_printf(b, "\"\""); /* unnamed */
			return;
		}
		if (sun->sun_path[0] == '\0') /* abstract: "@name" */
			snprintf(path, sizeof(path), "@%.*s", (int)(plen - 1), sun->sun_path + 1);
		else
			snprintf(path, sizeof(path), "%.*s", (int)strnlen(sun->sun_path, plen),
				 sun->sun_path);
		json_string(b, path);
		return;
	}
	default:
		buf_printf(b, "\"family %d\"", ss->ss_family);
	}
}

static void report_fd_types(struct buf *b)
{
	buf_printf(b, "[");
	for (int i = 0; i < n_fds; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);

		buf_printf(b, "%s\n  {\"fd\": %d, \"type\": \"%s\", \"family\": \"%s\", ",
			   i ? "," : "", fds[i].fd, type_name(fds[i].type),
			   family_name(fds[i].family));
		buf_printf(b,
			   "\"listening\": %s, \"address\": ", fds[i].listening ? "true" : "false");
		if (fds[i].type >= 0 && getsockname(fds[i].fd, (struct sockaddr *)&ss, &len) == 0)
			json_sockaddr(b, &ss, len);
		else
			buf_printf(b, "null");
		buf_printf(b, "}");
	}
	buf_printf(b, "]");
}

static int count_procs(void)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	d = opendir("/proc");
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (scan_is_numeric(de->d_name))
			n++;
	closedir(d);
	return n;
}

static void report_interfaces(struct buf *b)
{
	struct if_nameindex *ifs, *i;
	int s, n = 0;

	buf_printf(b, "[");
	ifs = if_nameindex();
	if (!ifs) {
		buf_printf(b, "]");
		return;
	}
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	for (i = ifs; i->if_index != 0 && n < PROBE_LIST_MAX; i++, n++) {
		struct ifreq ifr = {0};
		bool up = false;

		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", i->if_name);
		if (s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0)
			up = ifr.ifr_flags & IFF_UP;
		buf_printf(b, "%s{\"name\": ", n ? ", " : "");
		json_string(b, i->if_name);
		buf_printf(b, ", \"index\": %u, \"up\": %s}", i->if_index, up ? "true" : "false");
	}
	if (s >= 0)
		close(s);
	if_freenameindex(ifs);
	buf_printf(b, "]");
}

static void report_dir_entries(struct buf *b, const char *path)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	d = opendir(path);
	if (!d) {
		buf_printf(b, "null");
		return;
	}
	buf_printf(b, "[");
	while ((de = readdir(d)) && n < PROBE_LIST_MAX) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n++)
			buf_printf(b, ", ");
		json_string(b, de->d_name);
	}
	closedir(d);
	buf_printf(b, "]");
}

/* Where each fd of dir (/proc/self/fd, /proc/1/fd) leads: {"0": "/dev/null",
 * "1": "pipe:[123]", ...}; {"error": "Permission denied"} if dir cannot be
 * read (pid 1 is not dumpable). */
static void report_fd_links(struct buf *b, const char *dir)
{
	char path[PATH_MAX], target[PATH_MAX];
	struct dirent *de;
	int n = 0;
	DIR *d = opendir(dir);

	if (!d) {
		buf_printf(b, "{\"error\": ");
		json_string(b, strerror(errno));
		buf_printf(b, "}");
		return;
	}
	buf_printf(b, "{");
	while ((de = readdir(d)) && n < PROBE_LIST_MAX) {
		ssize_t len;

		if (!scan_is_numeric(de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		len = readlink(path, target, sizeof(target) - 1);
		if (len < 0)
			snprintf(target, sizeof(target), "(readlink: %s)", strerror(errno));
		else
			target[len] = '\0';
		buf_printf(b, "%s", n++ ? ", " : "");
		json_string(b, de->d_name);
		buf_printf(b, ": ");
		json_string(b, target);
	}
	closedir(d);
	buf_printf(b, "}");
}

/* /proc/self/mountinfo as [{"target", "options", "fs"}]: the per-mount
 * options (ro, nosuid, nodev, ...), not the file system's. */
static void report_mounts(struct buf *b)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[1024];
	int n = 0;

	if (!f) {
		buf_printf(b, "null");
		return;
	}
	buf_printf(b, "[");
	while (fgets(line, sizeof(line), f) && n < PROBE_LIST_MAX) {
		char target[512], options[256], fs[64];
		const char *dash = strstr(line, " - ");

		if (!dash || sscanf(line, "%*s %*s %*s %*s %511s %255s", target, options) != 2 ||
		    sscanf(dash + 3, "%63s", fs) != 1)
			continue;
		buf_printf(b, "%s{\"target\": ", n++ ? ", " : "");
		json_string(b, target);
		buf_printf(b, ", \"options\": ");
		json_string(b, options);
		buf_printf(b, ", \"fs\": ");
		json_string(b, fs);
		buf_printf(b, "}");
	}
	fclose(f);
	buf_printf(b, "]");
}

static void report_groups(struct buf *b)
{
	gid_t groups[PROBE_LIST_MAX];
	int n = getgroups(PROBE_LIST_MAX, groups);

	buf_printf(b, "[");
	for (int i = 0; i < n; i++)
		buf_printf(b, "%s%u", i ? ", " : "", (unsigned)groups[i]);
	buf_printf(b, "]");
}

/* For each path of the comma-separated list in $env_name, "path": and what
 * one() writes: an object {"path": ..., ...}. */
static void report_paths(struct buf *b, const char *env_name,
			 void (*one)(struct buf *b, const char *path))
{
	const char *list = getenv(env_name);
	char copy[1024];
	char *save = NULL;
	bool first = true;

	buf_printf(b, "{");
	if (list) {
		snprintf(copy, sizeof(copy), "%s", list);
		for (char *path = strtok_r(copy, ",", &save); path;
		     path = strtok_r(NULL, ",", &save)) {
			buf_printf(b, "%s", first ? "" : ", ");
			first = false;
			json_string(b, path);
			buf_printf(b, ": ");
			one(b, path);
		}
	}
	buf_printf(b, "}");
}

/* PROBE_FILES=/a,/b: {"/a": {"content": "...", "writable": false}, ...}; a
 * file that cannot be read has content null. "writable" is access(W_OK):
 * false on a read-only mount even for root. */
static void report_file(struct buf *b, const char *path)
{
	buf_printf(b, "{\"content\": ");
	json_string(b, read_small_file(path));
	buf_printf(b, ", \"writable\": %s}", access(path, W_OK) == 0 ? "true" : "false");
}

/* PROBE_STAT=/a,/b: {"/a": {"type": "dir", "device": null, "entries": 0,
 * "readonly": true, "fs": "0x1021994", "bytes": 4096, "files": 1024}, ...};
 * null for what lstat cannot see. "device" is "MAJOR:MINOR" for a device
 * node, "entries" the number in a directory (null if it cannot be listed),
 * "fs" statfs()'s f_type, "bytes" and "files" the file system's size and
 * inodes (f_blocks * f_bsize, f_files). */
static void report_stat(struct buf *b, const char *path)
{
	struct stat st;
	struct statfs sf;
	DIR *d;

	if (lstat(path, &st) < 0) {
		buf_printf(b, "null");
		return;
	}
	buf_printf(b, "{\"type\": \"%s\"",
		   S_ISDIR(st.st_mode)   ? "dir"
		   : S_ISCHR(st.st_mode) ? "chr"
		   : S_ISREG(st.st_mode) ? "reg"
		   : S_ISLNK(st.st_mode) ? "lnk"
					 : "other");
	if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
		buf_printf(b, ", \"device\": \"%u:%u\"", major(st.st_rdev), minor(st.st_rdev));
	else
		buf_printf(b, ", \"device\": null");
	d = S_ISDIR(st.st_mode) ? opendir(path) : NULL;
	if (d) {
		struct dirent *de;
		int n = 0;

		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
				n++;
		closedir(d);
		buf_printf(b, ", \"entries\": %d", n);
	} else {
		buf_printf(b, ", \"entries\": null");
	}
	if (statfs(path, &sf) == 0)
		buf_printf(b,
			   ", \"readonly\": %s, \"fs\": \"0x%lx\", \"bytes\": %llu, "
			   "\"files\": %llu}",
			   (sf.f_flags & ST_RDONLY) ? "true" : "false", (unsigned long)sf.f_type,
			   (unsigned long long)sf.f_blocks * (unsigned long long)sf.f_bsize,
			   (unsigned long long)sf.f_files);
	else
		buf_printf(b, ", \"readonly\": null, \"fs\": null, \"bytes\": null, "
			      "\"files\": null}");
}

/* The secret scan's callbacks: what it opened goes to the report, what it
 * found to a list of its own, appended after. */
struct secrets_report {
	struct buf *opened;
	struct buf *found;
	size_t n_opened, n_found;
};

static void secrets_opened_cb(void *userdata, const char *path)
{
	struct secrets_report *r = userdata;

	buf_printf(r->opened, "%s", r->n_opened++ ? ", " : "");
	json_string(r->opened, path);
}

static void secrets_found_cb(void *userdata, const char *where, size_t secret)
{
	struct secrets_report *r = userdata;

	buf_printf(r->found, "%s{\"where\": ", r->n_found++ ? ", " : "");
	json_string(r->found, where);
	buf_printf(r->found, ", \"secret\": %zu}", secret);
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* PROBE_SECRETS=H,H: {"opened": [paths], "found": [{"where", "secret"}]},
 * secret being the index in the list; null without PROBE_SECRETS. */
static void report_secrets(struct buf *b)
{
	static char decoded[SCAN_SECRETS_MAX][128];
	static struct buf found;
	const char *list = getenv("PROBE_SECRETS");
	struct secrets_report r = {.opened = b, .found = &found};
	struct scan s = {.opened = secrets_opened_cb, .found = secrets_found_cb, .userdata = &r};
	char copy[1024];
	char *save = NULL;

	if (!list) {
		buf_printf(b, "null");
		return;
	}
	snprintf(copy, sizeof(copy), "%s", list);
	for (char *h = strtok_r(copy, ",", &save); h && s.n_secrets < SCAN_SECRETS_MAX;
	     h = strtok_r(NULL, ",", &save)) {
		char *out = decoded[s.n_secrets];
		size_t n = 0;

		for (; h[0] && h[1] && n < sizeof(decoded[0]) - 1; h += 2) {
			int hi = hex_value(h[0]), lo = hex_value(h[1]);

			if (hi < 0 || lo < 0)
				break;
			out[n++] = (char)(hi * 16 + lo);
		}
		out[n] = '\0';
		if (n > 0)
			s.secrets[s.n_secrets++] = out;
	}
	found.len = 0;
	found.truncated = false;
	buf_printf(b, "{\"opened\": [");
	scan_run(&s);
	buf_printf(b, "], \"found\": [%.*s], \"found_truncated\": %s}", (int)found.len, found.data,
		   found.truncated ? "true" : "false");
}

/* PROBE_SYSCALLS=a,b: {"a": 0 or errno, ...}; only calls without effect. */
static void report_syscalls(struct buf *b)
{
	static const struct {
		const char *name;
		long nr;
	} calls[] = {{"sched_yield", SYS_sched_yield}, {"getcpu", SYS_getcpu}};
	const char *list = getenv("PROBE_SYSCALLS");
	char copy[256];
	char *save = NULL;
	int n = 0;

	buf_printf(b, "{");
	snprintf(copy, sizeof(copy), "%s", list ? list : "");
	for (char *name = strtok_r(copy, ",", &save); name; name = strtok_r(NULL, ",", &save))
		for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
			if (strcmp(name, calls[i].name) != 0)
				continue;
			errno = 0;
			buf_printf(b, "%s", n++ ? ", " : "");
			json_string(b, name);
			buf_printf(b, ": %d", syscall(calls[i].nr, 0, 0, 0) < 0 ? errno : 0);
		}
	buf_printf(b, "}");
}

static void report_env(struct buf *b)
{
	const char *list = getenv("PROBE_ENV");

	buf_printf(b, "{\"LISTEN_FDS\": ");
	json_string(b, start.env_listen_fds);
	buf_printf(b, ", \"LISTEN_PID\": ");
	json_string(b, start.env_listen_pid);
	buf_printf(b, ", \"LISTEN_FDNAMES\": ");
	json_string(b, start.env_listen_fdnames);
	if (list) {
		char copy[1024];
		char *save = NULL;

		snprintf(copy, sizeof(copy), "%s", list);
		for (char *name = strtok_r(copy, ",", &save); name;
		     name = strtok_r(NULL, ",", &save)) {
			if (!*name || strncmp(name, "LISTEN_", 7) == 0)
				continue;
			buf_printf(b, ", ");
			json_string(b, name);
			buf_printf(b, ": ");
			json_string(b, getenv(name));
		}
	}
	buf_printf(b, "}");
}

/*
 * The report. Fields:
 *   listen_fds (int), names ([str]), fd_types ([{fd, type, family, listening,
 *   address}]), pid, ppid, sid, uid, gid (int), groups ([int], supplementary),
 *   hostname (str), cwd (str),
 *   nprocs (int, numeric dirs in /proc), interfaces ([{name, index, up}]),
 *   root_readonly (bool), mounts ([{target, options, fs}], per-mount options),
 *   tmp_entries ([str]), open_fds ([int], at start),
 *   cgroup (str, /proc/self/cgroup), uid_map, gid_map (str), env ({name: str or
 *   null}), files, stat, secrets (see PROBE_FILES, PROBE_STAT, PROBE_SECRETS),
 *   caps (str, CapEff), cap_bnd (str, CapBnd), no_new_privs (str),
 *   seccomp (str, the "Seccomp:" mode), syscalls (see PROBE_SYSCALLS),
 *   rlimit_nofile ([soft, hard]),
 *   fd_links, pid1_fd_links ({fd: target} of /proc/self/fd and /proc/1/fd, or
 *   {"error": str}), answer (int, 1 for the first answer), peer, local (str or null),
 *   truncated (bool, last).
 */
static void report_write(struct buf *b, const struct sockaddr_storage *peer, socklen_t peer_len,
			 const struct sockaddr_storage *local, socklen_t local_len)
{
	char host[HOST_NAME_MAX + 1] = "";
	char cwd[PATH_MAX];
	char field[256];
	struct statvfs sv;
	struct rlimit rl;

	b->len = 0;
	b->truncated = false;

	buf_printf(b, "{\"listen_fds\": %d", start.n_fds);
	json_key(b, "names");
	buf_printf(b, "[");
	for (int i = 0; start.names && start.names[i]; i++) {
		buf_printf(b, "%s", i ? ", " : "");
		json_string(b, start.names[i]);
	}
	buf_printf(b, "]");
	json_key(b, "fd_types");
	report_fd_types(b);
	json_key(b, "pid");
	buf_printf(b, "%d", (int)getpid());
	json_key(b, "ppid");
	buf_printf(b, "%d", (int)getppid());
	json_key(b, "sid");
	buf_printf(b, "%d", (int)getsid(0));
	json_key(b, "uid");
	buf_printf(b, "%u", (unsigned)getuid());
	json_key(b, "gid");
	buf_printf(b, "%u", (unsigned)getgid());
	json_key(b, "groups");
	report_groups(b);
	json_key(b, "hostname");
	gethostname(host, sizeof(host) - 1);
	json_string(b, host);
	json_key(b, "cwd");
	json_string(b, getcwd(cwd, sizeof(cwd)));
	json_key(b, "nprocs");
	buf_printf(b, "%d", count_procs());
	json_key(b, "interfaces");
	report_interfaces(b);
	json_key(b, "root_readonly");
	if (statvfs("/", &sv) == 0)
		buf_printf(b, "%s", (sv.f_flag & ST_RDONLY) ? "true" : "false");
	else
		buf_printf(b, "null");
	json_key(b, "mounts");
	report_mounts(b);
	json_key(b, "tmp_entries");
	report_dir_entries(b, "/tmp");
	json_key(b, "open_fds");
	buf_printf(b, "[");
	for (int i = 0; i < start.n_open_fds; i++)
		buf_printf(b, "%s%d", i ? ", " : "", start.open_fds[i]);
	buf_printf(b, "]");
	json_key(b, "cgroup");
	json_string(b, read_small_file("/proc/self/cgroup"));
	json_key(b, "uid_map");
	json_string(b, read_small_file("/proc/self/uid_map"));
	json_key(b, "gid_map");
	json_string(b, read_small_file("/proc/self/gid_map"));
	json_key(b, "env");
	report_env(b);
	json_key(b, "files");
	report_paths(b, "PROBE_FILES", report_file);
	json_key(b, "stat");
	report_paths(b, "PROBE_STAT", report_stat);
	json_key(b, "secrets");
	report_secrets(b);
	json_key(b, "syscalls");
	report_syscalls(b);
	json_key(b, "caps");
	json_string(b, status_field("CapEff", field, sizeof(field)));
	json_key(b, "cap_bnd");
	json_string(b, status_field("CapBnd", field, sizeof(field)));
	json_key(b, "no_new_privs");
	json_string(b, status_field("NoNewPrivs", field, sizeof(field)));
	json_key(b, "seccomp");
	json_string(b, status_field("Seccomp", field, sizeof(field)));
	json_key(b, "rlimit_nofile");
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		buf_printf(b, "[%lld, %lld]",
			   rl.rlim_cur == RLIM_INFINITY ? -1LL : (long long)rl.rlim_cur,
			   rl.rlim_max == RLIM_INFINITY ? -1LL : (long long)rl.rlim_max);
	else
		buf_printf(b, "null");
	json_key(b, "fd_links");
	report_fd_links(b, "/proc/self/fd");
	json_key(b, "pid1_fd_links");
	report_fd_links(b, "/proc/1/fd");
	json_key(b, "answer");
	buf_printf(b, "%lu", answers + 1);
	json_key(b, "peer");
	json_sockaddr(b, peer, peer_len);
	json_key(b, "local");
	json_sockaddr(b, local, local_len);

	buf_printf(b, ",\n \"truncated\": false}\n");
	if (b->truncated) {
		/* Still valid JSON, and says why the rest is missing. */
		b->len = 0;
		b->truncated = false;
		buf_printf(b, "{\"truncated\": true}\n");
	}
}

/* --- answering ------------------------------------------------------------ */

static struct buf report;

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Reads the optional first line: waits at most PROBE_FIRST_LINE_MS for it.
 * Returns the exit code asked for with "exit N", or -1.
 */
static int first_line_read(int fd, bool *ret_http)
{
	char line[PROBE_FIRST_LINE_MAX];
	size_t len = 0;
	struct timespec t0, t;

	*ret_http = false;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (len < sizeof(line) - 1 && !memchr(line, '\n', len)) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		long left;
		ssize_t n;
		int r;

		clock_gettime(CLOCK_MONOTONIC, &t);
		left = PROBE_FIRST_LINE_MS -
		       ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			break;
		r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n = recv(fd, line + len, sizeof(line) - 1 - len, MSG_DONTWAIT);
		if (n < 0 && errno == ENOTSOCK)
			n = read(fd, line + len, sizeof(line) - 1 - len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	line[len] = '\0';

	if (strncmp(line, "GET ", 4) == 0 || strncmp(line, "HEAD ", 5) == 0)
		*ret_http = true;
	if (strncmp(line, "exit ", 5) == 0) {
		char *end;
		long code = strtol(line + 5, &end, 10);

		if (end != line + 5 && (*end == '\n' || *end == '\r' || *end == '\0') &&
		    code >= 0 && code <= 255)
			return (int)code;
	}
	return -1;
}

/* Answers one stream connection (rfd to read, wfd to write; the same fd
 * except for inetd mode). Returns the exit code asked for, or -1. */
static int answer_stream(int rfd, int wfd)
{
	struct sockaddr_storage peer, local;
	socklen_t peer_len = sizeof(peer), local_len = sizeof(local);
	struct timeval tv = {.tv_sec = PROBE_SEND_TIMEOUT_S};
	long sleep_for = env_long("PROBE_SLEEP_MS", 0);
	bool http;
	int code;

	/* A client that does not read must not hang the probe. */
	setsockopt(wfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	code = first_line_read(rfd, &http);
	if (sleep_for > 0)
		sleep_ms(sleep_for);

	if (getpeername(rfd, (struct sockaddr *)&peer, &peer_len) < 0)
		peer_len = 0;
	if (getsockname(rfd, (struct sockaddr *)&local, &local_len) < 0)
		local_len = 0;
	report_write(&report, &peer, peer_len, &local, local_len);
	if (http) {
		char head[160];

		snprintf(head, sizeof(head),
			 "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			 report.len);
		write_all(wfd, head, strlen(head));
	}
	write_all(wfd, report.data, report.len);
	/* FIN first: unread request bytes would turn close() into an RST. */
	shutdown(wfd, SHUT_WR);
	answers++;
	return code;
}

static int answer_datagram(int fd)
{
	char msg[2048];
	struct sockaddr_storage peer, local;
	socklen_t peer_len = sizeof(peer), local_len = sizeof(local);
	long sleep_for = env_long("PROBE_SLEEP_MS", 0);
	ssize_t n;
	int code = -1;

	n = recvfrom(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT, (struct sockaddr *)&peer, &peer_len);
	if (n < 0)
		return -1;
	msg[n] = '\0';
	if (strncmp(msg, "exit ", 5) == 0) {
		char *end;
		long c = strtol(msg + 5, &end, 10);

		if (end != msg + 5 && c >= 0 && c <= 255)
			code = (int)c;
	}
	if (sleep_for > 0)
		sleep_ms(sleep_for);
	if (getsockname(fd, (struct sockaddr *)&local, &local_len) < 0)
		local_len = 0;
	report_write(&report, &peer, peer_len, &local, local_len);
	/* An unbound unix sender has no address to answer to. */
	if (peer_len > 0 &&
	    !(peer.ss_family == AF_UNIX && peer_len <= offsetof(struct sockaddr_un, sun_path)))
		sendto(fd, report.data, report.len, MSG_DONTWAIT | MSG_NOSIGNAL,
		       (struct sockaddr *)&peer, peer_len);
	answers++;
	return code;
}

/* --- main ----------------------------------------------------------------- */

static void snapshot_open_fds(void)
{
	struct dirent *de;
	DIR *d;
	int dfd;

	d = opendir("/proc/self/fd");
	if (!d)
		return;
	dfd = dirfd(d);
	while ((de = readdir(d)) && start.n_open_fds < PROBE_LIST_MAX) {
		int fd;

		if (!scan_is_numeric(de->d_name))
			continue;
		fd = atoi(de->d_name);
		if (fd == dfd)
			continue;
		start.open_fds[start.n_open_fds++] = fd;
	}
	closedir(d);
	/* readdir order is not numeric order: sort, small n. */
	for (int i = 1; i < start.n_open_fds; i++)
		for (int j = i; j > 0 && start.open_fds[j - 1] > start.open_fds[j]; j--) {
			int t = start.open_fds[j];

			start.open_fds[j] = start.open_fds[j - 1];
			start.open_fds[j - 1] = t;
		}
}

static void probe_fd_init(struct probe_fd *p, int fd)
{
	socklen_t len;
	int v;

	p->fd = fd;
	p->type = p->family = -1;
	p->listening = false;
	p->done = false;
	/* Ours now: nothing we might exec later should inherit it. */
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0) {
		p->done = true; /* not a socket: reported, never polled */
		return;
	}
	p->type = v;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) == 0)
		p->family = v;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0)
		p->listening = v;
	if (p->listening)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static bool exit_after_reached(long exit_after)
{
	return exit_after > 0 && answers >= (unsigned long)exit_after;
}

int main(void)
{
	struct sigaction sa = {.sa_handler = on_stop};
	sigset_t block, orig;
	long exit_after;
	int n, code = -1;

	/* Before anything else: the crash-loop test wants no socket touched. */
	if (getenv("PROBE_EXIT_CODE")) {
		long c = env_long("PROBE_EXIT_CODE", 0);

		fprintf(stderr, "nsinetd-probe: PROBE_EXIT_CODE=%ld, exiting\n", c);
		return (int)c;
	}
	snapshot_open_fds();
	start.env_listen_fds = strdup_or_null(getenv("LISTEN_FDS"));
	start.env_listen_pid = strdup_or_null(getenv("LISTEN_PID"));
	start.env_listen_fdnames = strdup_or_null(getenv("LISTEN_FDNAMES"));
	exit_after = env_long("PROBE_EXIT_AFTER", 0);

	signal(SIGPIPE, SIG_IGN);
	/* Signals are delivered only inside ppoll(): no race between checking
	 * stop_requested and sleeping. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &orig);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigdelset(&orig, SIGTERM);
	sigdelset(&orig, SIGINT);

	n = sd_listen_fds_with_names(1, &start.names);
	if (n < 0) {
		fprintf(stderr, "nsinetd-probe: sd_listen_fds_with_names: %s\n", strerror(-n));
		return 1;
	}
	start.n_fds = n;

	if (n == 0) {
		int type;
		socklen_t len = sizeof(type);

		/* inetd mode (StandardInput=socket): the connection is fds 0 and 1. */
		if (getsockopt(0, SOL_SOCKET, SO_TYPE, &type, &len) == 0) {
			code = answer_stream(0, 1);
			return code >= 0 ? code : 0;
		}
		fprintf(stderr, "nsinetd-probe: no socket passed (LISTEN_FDS unset or "
				"LISTEN_PID not ours, and fd 0 is not a socket)\n");
		return 1;
	}
	if (n > PROBE_FDS_MAX) {
		fprintf(stderr, "nsinetd-probe: %d fds passed, handling the first %d\n", n,
			PROBE_FDS_MAX);
		n = PROBE_FDS_MAX;
	}
	for (int i = 0; i < n; i++)
		probe_fd_init(&fds[n_fds++], SD_LISTEN_FDS_START + i);

	/* Accept=yes: passed connections are answered first, in order. */
	for (int i = 0; i < n_fds && code < 0; i++) {
		struct probe_fd *p = &fds[i];

		if (p->done || p->listening || p->type == SOCK_DGRAM)
			continue;
		code = answer_stream(p->fd, p->fd);
		close(p->fd);
		p->done = true;
	}

	while (code < 0 && !stop_requested && !exit_after_reached(exit_after)) {
		struct pollfd pfds[PROBE_FDS_MAX];
		int map[PROBE_FDS_MAX], np = 0, r;

		for (int i = 0; i < n_fds; i++)
			if (!fds[i].done) {
				map[np] = i;
				pfds[np++] = (struct pollfd){.fd = fds[i].fd, .events = POLLIN};
			}
		if (np == 0)
			break; /* nothing left to serve */

		r = ppoll(pfds, (nfds_t)np, NULL, &orig);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "nsinetd-probe: poll: %m\n");
			return 1;
		}
		for (int k = 0; k < np && code < 0 && !exit_after_reached(exit_after); k++) {
			struct probe_fd *p = &fds[map[k]];
			int cfd;

			if (!pfds[k].revents)
				continue;
			if (p->type == SOCK_DGRAM) {
				code = answer_datagram(p->fd);
				continue;
			}
			if (!p->listening) {
				p->done = true;
				continue;
			}
			cfd = accept4(p->fd, NULL, NULL, SOCK_CLOEXEC);
			if (cfd < 0) {
				if (errno == EMFILE || errno == ENFILE)
					sleep_ms(100);
				continue;
			}
			code = answer_stream(cfd, cfd);
			close(cfd);
		}
	}

	if (stop_requested)
		fprintf(stderr, "nsinetd-probe: stop requested, exiting after %lu answer(s)\n",
			answers);
	return code >= 0 ? code : 0;
}
