/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "serialize.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"

/* The counters of struct service_stats, as runs of uint64_t (a histogram
 * is one): declared once, written and read by the same loops. A newer
 * binary with a longer array reads what an older one wrote, the rest 0. */
#define STAT(field)                                                                                \
	{                                                                                          \
#field, offsetof(struct service_stats, field),                                     \
		    sizeof(((struct service_stats *)0)->field) / sizeof(uint64_t)                  \
	}
static const struct {
	const char *key;
	size_t offset, n;
} stat_fields[] = {
    STAT(created_at),
    STAT(starts),
    STAT(start_failures),
    STAT(last_start),
    STAT(accepted),
    STAT(refused),
    STAT(refused_per_source),
    STAT(refused_no_sandbox),
    STAT(refused_suspended),
    STAT(watchdog_stops),
    STAT(cold_start),
    STAT(ready),
    STAT(thaw),
    STAT(freezes),
    STAT(stops),
    STAT(setup_failures),
    STAT(suspended_start_limit),
    STAT(suspended_trigger_limit),
    STAT(accept_emfile_pauses),
    STAT(accept_full),
    STAT(last_exit_at),
};
_Static_assert(sizeof(struct histogram) == (HISTOGRAM_BUCKETS + 3) * sizeof(uint64_t),
	       "a histogram is a run of uint64_t");

static void hash_emit(void *userdata, const char *section, const char *key, const char *value,
		      bool is_default)
{
	uint64_t *h = userdata;
	const char *parts[] = {section, "\x1f", key, "\x1f", value ? value : "", "\x1e"};

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++) {
			*h ^= *p;
			*h *= 1099511628211ULL;
		}
}

uint64_t state_config_hash(const struct service_config *c)
{
	uint64_t h = 14695981039346656037ULL;

	config_dump(c, hash_emit, &h);
	return h;
}

void state_stats_copy(struct service_stats *dst, const struct service_stats *src)
{
	for (size_t k = 0; k < sizeof(stat_fields) / sizeof(stat_fields[0]); k++)
		memcpy((char *)dst + stat_fields[k].offset,
		       (const char *)src + stat_fields[k].offset,
		       stat_fields[k].n * sizeof(uint64_t));
	dst->have_exit = src->have_exit;
	dst->last_exit_status = src->last_exit_status;
}

static void write_container(FILE *f, const char *key, const struct state_container *c)
{
	fprintf(f, "%s %d %d %d %d %d %d %" PRIu64 " %" PRIu64 "\n", key, (int)c->pid, c->pidfd,
		c->output_fd, c->frozen, c->held, c->pooled, c->started_at, c->idle_since);
	if (c->cgroup)
		fprintf(f, "%s-cgroup %s\n", key, c->cgroup);
	if (c->notify_fd >= 0 && c->notify_path)
		fprintf(f, "%s-notify %d %s\n", key, c->notify_fd, c->notify_path);
}

/* "veth IFINDEX IFNAME ADDR4 ADDR6 HOST4 HOST6", "-" for an address unset. */
static void write_veth(FILE *f, const struct state_service *s)
{
	const struct netns_prefix *p[4] = {&s->veth_addr[0], &s->veth_addr[1],
					   &s->veth_host_addr[0], &s->veth_host_addr[1]};
	char buf[64];

	fprintf(f, "veth %d %s", s->veth_ifindex, s->veth_ifname);
	for (int i = 0; i < 4; i++)
		fprintf(f, " %s", p[i]->family ? netns_prefix_format(p[i], buf, sizeof(buf)) : "-");
	fputc('\n', f);
}

int state_write(FILE *f, const struct state *st)
{
	fprintf(f, "%s %u\n", STATE_MAGIC, STATE_VERSION);
	fprintf(f, "reexecs %" PRIu64 "\n", st->reexecs);
	fprintf(f, "began-at %" PRIu64 "\n", st->began_at);
	fprintf(f, "notify-seq %u\n", st->notify_seq);
	for (size_t i = 0; i < st->n_fds; i++)
		fprintf(f, "fd %d\n", st->fds[i]);
	for (size_t i = 0; i < st->n_unclaimed; i++)
		fprintf(f, "unclaimed %d\n", st->unclaimed[i]);
	for (size_t i = 0; i < st->n_services; i++) {
		const struct state_service *s = &st->services[i];

		fprintf(f, "service %s\n", s->name);
		fprintf(f, "config %016" PRIx64 "\n", s->config_hash);
		for (size_t k = 0; k < sizeof(stat_fields) / sizeof(stat_fields[0]); k++) {
			const uint64_t *v =
			    (const uint64_t *)((const char *)&s->stats + stat_fields[k].offset);

			fprintf(f, "stat %s", stat_fields[k].key);
			for (size_t j = 0; j < stat_fields[k].n; j++)
				fprintf(f, " %" PRIu64, v[j]);
			fputc('\n', f);
		}
		if (s->stats.have_exit)
			fprintf(f, "exit %d\n", s->stats.last_exit_status);
		for (size_t j = 0; j < s->n_listeners; j++)
			fprintf(f, "listener %zu %" PRIu64 " %" PRIu64 "\n", j, s->listeners[j][0],
				s->listeners[j][1]);
		fprintf(f, "failures");
		for (size_t j = 0; j < s->n_failures; j++)
			fprintf(f, " %" PRIu64, s->failures[j]);
		fprintf(f, "\ntriggers");
		for (size_t j = 0; j < s->n_triggers; j++)
			fprintf(f, " %" PRIu64, s->triggers[j]);
		fputc('\n', f);
		if (s->suspended_until)
			fprintf(f, "suspended %" PRIu64 " %d %s\n", s->suspended_until,
				s->suspend_drain, s->suspend_reason ? s->suspend_reason : "");
		if (s->userns_fd >= 0)
			fprintf(f, "userns %d %u\n", s->userns_fd, s->userns_slot);
		if (s->netns_fd >= 0)
			fprintf(f, "netns %d\n", s->netns_fd);
		if (s->has_container)
			write_container(f, "container", &s->container);
		if (s->has_container && s->veth_ifindex > 0)
			write_veth(f, s);
		for (size_t j = 0; j < s->n_sandboxes; j++)
			write_container(f, "sandbox", &s->sandboxes[j]);
	}
	fprintf(f, "end\n");
	fflush(f);
	return ferror(f) ? -EIO : 0;
}

static void container_done(struct state_container *c)
{
	free(c->cgroup);
	c->cgroup = NULL;
	free(c->notify_path);
	c->notify_path = NULL;
}

void state_done(struct state *st)
{
	for (size_t i = 0; i < st->n_services; i++) {
		struct state_service *s = &st->services[i];

		free(s->name);
		free(s->listeners);
		free(s->failures);
		free(s->triggers);
		free(s->suspend_reason);
		container_done(&s->container);
		for (size_t j = 0; j < s->n_sandboxes; j++)
			container_done(&s->sandboxes[j]);
		free(s->sandboxes);
	}
	free(st->services);
	free(st->fds);
	free(st->unclaimed);
	*st = (struct state){0};
}

static int parse_container(const char *v, struct state_container *c)
{
	int pid, frozen, held, pooled, n = 0;

	if (sscanf(v, "%d %d %d %d %d %d %" SCNu64 " %" SCNu64 "%n", &pid, &c->pidfd, &c->output_fd,
		   &frozen, &held, &pooled, &c->started_at, &c->idle_since, &n) != 8 ||
	    v[n] != '\0' || pid <= 0 || c->pidfd < 0 || c->output_fd < -1)
		return -EBADMSG;
	c->pid = pid;
	c->notify_fd = -1;
	c->frozen = frozen;
	c->held = held;
	c->pooled = pooled;
	return 0;
}

static int parse_veth(const char *v, struct state_service *s)
{
	struct netns_prefix *p[4] = {&s->veth_addr[0], &s->veth_addr[1], &s->veth_host_addr[0],
				     &s->veth_host_addr[1]};
	char name[IFNAMSIZ], a[4][64];
	int n = 0;

	if (!s->has_container || s->veth_ifindex > 0 ||
	    sscanf(v, "%d %15s %63s %63s %63s %63s%n", &s->veth_ifindex, name, a[0], a[1], a[2],
		   a[3], &n) != 6 ||
	    v[n] != '\0' || s->veth_ifindex <= 0)
		return -EBADMSG;
	for (int i = 0; i < 4; i++) {
		if (strcmp(a[i], "-") == 0)
			continue;
		/* [0] and [2] are IPv4, [1] and [3] IPv6. */
		if (netns_prefix_parse(a[i], 32, 128, p[i]) < 0 ||
		    p[i]->family != (i % 2 ? AF_INET6 : AF_INET))
			return -EBADMSG;
	}
	memcpy(s->veth_ifname, name, sizeof(name));
	return 0;
}

static int parse_stat(const char *v, struct service_stats *stats)
{
	size_t len = strcspn(v, " ");

	for (size_t k = 0; k < sizeof(stat_fields) / sizeof(stat_fields[0]); k++) {
		uint64_t *out = (uint64_t *)((char *)stats + stat_fields[k].offset);
		const char *p = v + len;

		if (strlen(stat_fields[k].key) != len || strncmp(stat_fields[k].key, v, len) != 0)
			continue;
		for (size_t j = 0; *p; j++) {
			char *end;
			uint64_t x;

			errno = 0;
			x = strtoull(p, &end, 10);
			if (errno || end == p || (*end && *end != ' '))
				return -EBADMSG;
			if (j < stat_fields[k].n)
				out[j] = x;
			p = end;
		}
		return 0;
	}
	return 0; /* a counter this binary does not have */
}

static int grow(void **a, size_t n, size_t size, size_t max);

/* "T1 T2 ..." (possibly none) into a new array. */
static int parse_times(const char *v, uint64_t **ret, size_t *ret_n)
{
	if (*ret)
		return -EBADMSG; /* twice */
	while (*v == ' ')
		v++;
	while (*v) {
		char *end;
		uint64_t x;
		int r;

		errno = 0;
		x = strtoull(v, &end, 10);
		if (errno || end == v || (*end && *end != ' '))
			return -EBADMSG;
		r = grow((void **)ret, *ret_n, sizeof(uint64_t), STATE_MAX_FDS);
		if (r < 0)
			return r;
		(*ret)[(*ret_n)++] = x;
		v = *end ? end + 1 : end;
	}
	return 0;
}

static int grow(void **a, size_t n, size_t size, size_t max)
{
	void *b;

	if (n >= max)
		return -E2BIG;
	b = reallocarray(*a, n + 1, size);
	if (!b)
		return -ENOMEM;
	memset((char *)b + n * size, 0, size);
	*a = b;
	return 0;
}

static int parse_line(struct state *st, char *line, char *why, size_t why_len)
{
	struct state_service *s = st->n_services ? &st->services[st->n_services - 1] : NULL;
	char *v = strchr(line, ' ');
	int r = 0;

	if (v)
		*v++ = '\0';
	else
		v = line + strlen(line);
	if (strcmp(line, "reexecs") == 0) {
		r = sscanf(v, "%" SCNu64, &st->reexecs) == 1 ? 0 : -EBADMSG;
	} else if (strcmp(line, "began-at") == 0) {
		r = sscanf(v, "%" SCNu64, &st->began_at) == 1 ? 0 : -EBADMSG;
	} else if (strcmp(line, "notify-seq") == 0) {
		r = sscanf(v, "%u", &st->notify_seq) == 1 ? 0 : -EBADMSG;
	} else if (strcmp(line, "fd") == 0 || strcmp(line, "unclaimed") == 0) {
		int **a = line[0] == 'f' ? &st->fds : &st->unclaimed;
		size_t *n = line[0] == 'f' ? &st->n_fds : &st->n_unclaimed;
		int fd;

		if (sscanf(v, "%d", &fd) != 1 || fd < 0)
			return -EBADMSG;
		r = grow((void **)a, *n, sizeof(int), STATE_MAX_FDS);
		if (r >= 0)
			(*a)[(*n)++] = fd;
	} else if (strcmp(line, "service") == 0) {
		r = grow((void **)&st->services, st->n_services, sizeof(*st->services),
			 STATE_MAX_SERVICES);
		if (r < 0)
			return r;
		s = &st->services[st->n_services++];
		s->container.pidfd = s->container.output_fd = s->userns_fd = s->netns_fd = -1;
		s->name = strdup(v);
		if (!s->name)
			return -ENOMEM;
	} else if (!s) {
		/* Keys of services before any service, or unknown: skipped. */
	} else if (strcmp(line, "config") == 0) {
		r = sscanf(v, "%" SCNx64, &s->config_hash) == 1 ? 0 : -EBADMSG;
	} else if (strcmp(line, "stat") == 0) {
		r = parse_stat(v, &s->stats);
	} else if (strcmp(line, "exit") == 0) {
		s->stats.have_exit = true;
		r = sscanf(v, "%d", &s->stats.last_exit_status) == 1 ? 0 : -EBADMSG;
	} else if (strcmp(line, "listener") == 0) {
		size_t j;
		uint64_t a, b;

		if (sscanf(v, "%zu %" SCNu64 " %" SCNu64, &j, &a, &b) != 3 || j != s->n_listeners)
			return -EBADMSG;
		r = grow((void **)&s->listeners, s->n_listeners, sizeof(*s->listeners),
			 STATE_MAX_FDS);
		if (r >= 0) {
			s->listeners[j][0] = a;
			s->listeners[j][1] = b;
			s->n_listeners++;
		}
	} else if (strcmp(line, "failures") == 0 || strcmp(line, "triggers") == 0) {
		bool f = line[0] == 'f';
		r = parse_times(v, f ? &s->failures : &s->triggers,
				f ? &s->n_failures : &s->n_triggers);
	} else if (strcmp(line, "suspended") == 0) {
		int drain, n = 0;

		if (sscanf(v, "%" SCNu64 " %d %n", &s->suspended_until, &drain, &n) != 2 ||
		    n == 0 || s->suspend_reason)
			return -EBADMSG;
		s->suspend_drain = drain;
		s->suspend_reason = strdup(v + n);
		r = s->suspend_reason ? 0 : -ENOMEM;
	} else if (strcmp(line, "userns") == 0) {
		if (sscanf(v, "%d %u", &s->userns_fd, &s->userns_slot) != 2 || s->userns_fd < 0)
			return -EBADMSG;
	} else if (strcmp(line, "netns") == 0) {
		if (s->netns_fd >= 0 || sscanf(v, "%d", &s->netns_fd) != 1 || s->netns_fd < 0)
			return -EBADMSG;
	} else if (strcmp(line, "container") == 0) {
		s->has_container = true;
		r = parse_container(v, &s->container);
	} else if (strcmp(line, "veth") == 0) {
		r = parse_veth(v, s);
	} else if (strcmp(line, "sandbox") == 0) {
		r = grow((void **)&s->sandboxes, s->n_sandboxes, sizeof(*s->sandboxes),
			 STATE_MAX_SANDBOXES);
		if (r >= 0)
			r = parse_container(v, &s->sandboxes[s->n_sandboxes++]);
	} else if (strcmp(line, "container-notify") == 0) {
		int fd, n = 0;

		if (!s->has_container || s->container.notify_path ||
		    sscanf(v, "%d %n", &fd, &n) != 1 || fd < 0 || v[n] != '/')
			return -EBADMSG;
		s->container.notify_fd = fd;
		s->container.notify_path = strdup(v + n);
		r = s->container.notify_path ? 0 : -ENOMEM;
	} else if (strcmp(line, "container-cgroup") == 0 || strcmp(line, "sandbox-cgroup") == 0) {
		struct state_container *c =
		    line[0] == 'c' ? (s->has_container ? &s->container : NULL)
				   : (s->n_sandboxes ? &s->sandboxes[s->n_sandboxes - 1] : NULL);

		if (!c || c->cgroup || v[0] != '/')
			return -EBADMSG;
		c->cgroup = strdup(v);
		r = c->cgroup ? 0 : -ENOMEM;
	}
	(void)why;
	(void)why_len;
	return r;
}

int state_read(int fd, struct state *ret, char *why, size_t why_len)
{
	struct state st = {0};
	_cleanup_free_ char *buf = NULL;
	struct stat sb;
	size_t len = 0, lineno = 0;
	unsigned version;
	int n = 0, r = 0;
	char *line, *next;

	snprintf(why, why_len, "cannot read it");
	if (fstat(fd, &sb) < 0)
		return -errno;
	if (sb.st_size <= 0 || (uint64_t)sb.st_size > STATE_MAX_BYTES) {
		snprintf(why, why_len, "its size, %lld bytes, is out of range",
			 (long long)sb.st_size);
		return -EBADMSG;
	}
	buf = malloc((size_t)sb.st_size + 1);
	if (!buf)
		return -ENOMEM;
	while (len < (size_t)sb.st_size) {
		ssize_t k = pread(fd, buf + len, (size_t)sb.st_size - len, (off_t)len);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		len += (size_t)k;
	}
	buf[len] = '\0';
	if (strlen(buf) != len) {
		snprintf(why, why_len, "it holds a NUL byte");
		return -EBADMSG;
	}
	if (sscanf(buf, STATE_MAGIC " %u%n", &version, &n) != 1 || buf[n] != '\n') {
		snprintf(why, why_len, "it does not start with \"%s VERSION\"", STATE_MAGIC);
		return -EBADMSG;
	}
	if (version == 0 || version > STATE_VERSION) {
		snprintf(why, why_len,
			 "its version is %u, and this nsinetd reads versions 1 to %u (a newer "
			 "nsinetd wrote it)",
			 version, STATE_VERSION);
		return -EPROTONOSUPPORT;
	}
	st.version = version;
	for (line = strchr(buf, '\n') + 1, lineno = 2; *line; line = next, lineno++) {
		next = strchr(line, '\n');
		if (!next) {
			snprintf(why, why_len, "line %zu is cut short", lineno);
			r = -EBADMSG;
			break;
		}
		*next++ = '\0';
		if (strcmp(line, "end") == 0)
			break;
		r = parse_line(&st, line, why, why_len);
		if (r < 0) {
			snprintf(why, why_len, "line %zu (%.40s): %s", lineno, line, strerror(-r));
			break;
		}
	}
	if (r >= 0 && !*line) {
		snprintf(why, why_len, "it has no \"end\" line (cut short)");
		r = -EBADMSG;
	}
	if (r < 0) {
		state_done(&st);
		return r;
	}
	*ret = st;
	return 0;
}

size_t state_fds(const struct state *st, int *fds, size_t max)
{
	size_t n = 0;

#define ADD(x)                                                                                     \
	do {                                                                                       \
		if ((x) >= 0 && n < max)                                                           \
			fds[n++] = (x);                                                            \
	} while (0)
	for (size_t i = 0; i < st->n_fds; i++)
		ADD(st->fds[i]);
	for (size_t i = 0; i < st->n_unclaimed; i++)
		ADD(st->unclaimed[i]);
	for (size_t i = 0; i < st->n_services; i++) {
		const struct state_service *s = &st->services[i];

		ADD(s->userns_fd);
		ADD(s->netns_fd);
		if (s->has_container) {
			ADD(s->container.pidfd);
			ADD(s->container.output_fd);
			ADD(s->container.notify_fd);
		}
		for (size_t j = 0; j < s->n_sandboxes; j++) {
			ADD(s->sandboxes[j].pidfd);
			ADD(s->sandboxes[j].output_fd);
		}
	}
#undef ADD
	return n;
}

size_t state_fds_max(const struct state *st)
{
	/* Per service: a user and a network namespace, a container's pidfd,
	 * output and notification socket; a sandbox's pidfd and output. */
	size_t max = st->n_fds + st->n_unclaimed + 1;

	for (size_t i = 0; i < st->n_services; i++)
		max += 5 + 2 * st->services[i].n_sandboxes;
	return max;
}
