/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The configuration parser. libinih splits sections and Key=value lines; our
 * own line reader in front of it counts lines (inih calls the handler right
 * after the reader returned that line), enforces the line length, and reports
 * the lines inih would reject or misread, replacing them by blank lines so
 * that inih never sees them. The handler gives each key its meaning.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/strv.h"
#include "supervisor/config-internal.h"

#define DEFAULT_BACKLOG                4096
#define DEFAULT_SOCKET_MODE            0666
#define DEFAULT_STOP_TIMEOUT           (10 * USEC_PER_SEC)
#define DEFAULT_START_LIMIT_INTERVAL   (10 * USEC_PER_SEC)
#define DEFAULT_START_LIMIT_BURST      5
#define DEFAULT_TRIGGER_LIMIT_INTERVAL (2 * USEC_PER_SEC)
#define DEFAULT_TRIGGER_LIMIT_BURST    200
#define DEFAULT_HOSTNAME               "nsinetd"
#define DEFAULT_MAX_CONNECTIONS        64
/* One IPv6 source is one /64: what a single host or customer gets. */
#define DEFAULT_PER_SOURCE_IPV6_PREFIX 64
/* Accept=yes: a flood guard above any sandbox rate this host reaches. */
#define DEFAULT_TRIGGER_LIMIT_BURST_ACCEPT 2000
#define OFFSETOF_MAX_CONNECTIONS           offsetof(struct service_config, socket.max_connections)
#define OFFSETOF_PER_SOURCE_IPV6_PREFIX                                                            \
	offsetof(struct service_config, socket.per_source_ipv6_prefix)

/* Errors */

void config_errors_add(struct config_errors *errs, const char *fmt, ...)
{
	va_list ap;
	char *m;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&m, fmt, ap);
	va_end(ap);
	if (r < 0)
		return; /* out of memory: the message is lost, the error is not */
	if (strv_consume(&errs->messages, m) >= 0)
		errs->n++;
}

void config_errors_clear(struct config_errors *errs)
{
	errs->messages = strv_free(errs->messages);
	errs->n = 0;
}

/* "PATH:LINE: message", at most CONFIG_MAX_ERRORS per file. */
void perr(struct parser *p, const char *fmt, ...)
{
	_cleanup_free_ char *m = NULL;
	va_list ap;
	int r;

	if (p->gave_up)
		return;
	if (p->n_errors >= CONFIG_MAX_ERRORS) {
		config_errors_add(p->errs, "%s: too many errors (more than %d), giving up", p->path,
				  CONFIG_MAX_ERRORS);
		p->gave_up = true;
		return;
	}
	p->n_errors++;
	va_start(ap, fmt);
	r = vasprintf(&m, fmt, ap);
	va_end(ap);
	if (r < 0) {
		p->fatal = -ENOMEM;
		return;
	}
	if (p->line > 0)
		config_errors_add(p->errs, "%s:%u: %s", p->path, p->line, m);
	else
		config_errors_add(p->errs, "%s: %s", p->path, m);
}

void oom(struct parser *p)
{
	p->fatal = -ENOMEM;
}

char **split_words(struct parser *p, const char *key, const char *value, const char *what)
{
	char **words = NULL;
	int r = strv_split_quoted(value, &words);

	if (r == -ENOMEM)
		oom(p);
	else if (r < 0)
		perr(p, "%s=: unterminated quote in '%s'", key, what);
	return r < 0 ? NULL : words;
}

/* Small helpers */

const char *listen_type_to_string(enum listen_type t)
{
	switch (t) {
	case LISTEN_STREAM:
		return "ListenStream";
	case LISTEN_DATAGRAM:
		return "ListenDatagram";
	case LISTEN_SEQPACKET:
		return "ListenSequentialPacket";
	}
	return "Listen?";
}

static bool env_name_is_valid(const char *s, size_t n)
{
	if (n == 0 || isdigit((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return false;
	return true;
}

/* A user or group: a number 0-4294967294 (not 65535, the 16-bit "nobody"
 * placeholder, as systemd), or a name [A-Za-z_][A-Za-z0-9_-]* of at most 31
 * characters, the portable subset useradd accepts. */
static bool user_group_is_valid(const char *s)
{
	uint64_t n;
	size_t len = strlen(s);

	if (isdigit((unsigned char)s[0]))
		return parse_uint(s, 0, UINT32_MAX - 1, &n) == 0 && n != 65535;
	if (len == 0 || len > 31 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

/* As systemd's fdname_is_valid(). */
static bool fd_name_is_valid(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if ((unsigned char)s[n] < ' ' || (unsigned char)s[n] > '~' || s[n] == ':')
			return false;
	return n >= 1 && n <= 255;
}

static int set_string(struct parser *p, char **field, const char *value)
{
	char *v = NULL;

	if (value && *value) {
		v = strdup(value);
		if (!v) {
			oom(p);
			return -ENOMEM;
		}
	}
	free(*field);
	*field = v;
	return 0;
}

/* Two listen entries that cannot both be bound. Unix sockets share one
 * name space whatever the type; IP ones collide per protocol, and a bare
 * port takes every address of its port. */
static bool listen_conflict(const struct listen_config *a, const struct listen_config *b)
{
	int fa = socket_address_family(&a->address), fb = socket_address_family(&b->address);

	if (fa == AF_UNIX || fb == AF_UNIX)
		return fa == fb && socket_address_equal(&a->address, &b->address);
	if (a->type != b->type)
		return false;
	if (socket_address_equal(&a->address, &b->address))
		return true;
	if (a->address.any_port || b->address.any_port) {
		uint16_t pa =
		    fa == AF_INET ? a->address.sa.in.sin_port : a->address.sa.in6.sin6_port;
		uint16_t pb =
		    fb == AF_INET ? b->address.sa.in.sin_port : b->address.sa.in6.sin6_port;

		return pa == pb;
	}
	return false;
}

static void listen_clear(struct socket_config *s)
{
	for (size_t i = 0; i < s->n_listen; i++)
		free(s->listen[i].text);
	free(s->listen);
	s->listen = NULL;
	s->n_listen = 0;
}

static void binds_clear(struct container_config *c)
{
	for (size_t i = 0; i < c->n_binds; i++) {
		free(c->binds[i].source);
		free(c->binds[i].target);
	}
	free(c->binds);
	c->binds = NULL;
	c->n_binds = 0;
}

static void tmpfs_clear(struct container_config *c)
{
	for (size_t i = 0; i < c->n_tmpfs; i++) {
		free(c->tmpfs[i].target);
		free(c->tmpfs[i].options);
	}
	free(c->tmpfs);
	c->tmpfs = NULL;
	c->n_tmpfs = 0;
}

/* The keys. Each parser reports its own errors; an empty value resets the
 * setting (a list becomes empty, a single value its default). */

static void parse_listen(struct parser *p, const char *key, const char *value, size_t offset,
			 int data)
{
	struct socket_config *s = &p->c->socket;
	struct listen_config l = {.type = (enum listen_type)data, .line = p->line}, *a;
	int r;

	if (!*value) {
		listen_clear(s);
		return;
	}
	r = socket_address_parse(value, &l.address);
	if (r < 0) {
		bool is_unix = value[0] == '/' || value[0] == '@';

		if (r == -ERANGE)
			perr(p, "%s=: invalid address '%s': %s", key, value,
			     is_unix ? "path too long (at most 107 bytes)" : "port out of range");
		else
			perr(p,
			     "%s=: invalid address '%s': expected PORT, IPv4:PORT, [IPv6]:PORT, "
			     "/path or @name",
			     key, value);
		return;
	}
	if (l.type == LISTEN_SEQPACKET && socket_address_family(&l.address) != AF_UNIX) {
		perr(p,
		     "%s=: invalid address '%s': only unix sockets (/path or @name) can be "
		     "sequential-packet sockets",
		     key, value);
		return;
	}
	for (size_t i = 0; i < s->n_listen; i++) {
		if (!listen_conflict(&s->listen[i], &l))
			continue;
		if (s->listen[i].type == l.type &&
		    socket_address_equal(&s->listen[i].address, &l.address))
			perr(p, "%s=: duplicate address '%s', already given on line %u", key, value,
			     s->listen[i].line);
		else
			perr(p, "%s=: address '%s' conflicts with %s=%s on line %u", key, value,
			     listen_type_to_string(s->listen[i].type), s->listen[i].text,
			     s->listen[i].line);
		return;
	}
	if (s->n_listen >= CONFIG_MAX_LISTEN) {
		perr(p, "%s=: too many listen addresses (at most %d)", key, CONFIG_MAX_LISTEN);
		return;
	}
	l.text = strdup(value);
	a = realloc(s->listen, (s->n_listen + 1) * sizeof(*a));
	if (!l.text || !a) {
		free(l.text);
		if (a)
			s->listen = a;
		oom(p);
		return;
	}
	s->listen = a;
	s->listen[s->n_listen++] = l;
}

/* data: the default, which an empty value restores. */
static void parse_bool(struct parser *p, const char *key, const char *value, size_t offset,
		       int data)
{
	bool b = data != 0;

	if (*value && parse_boolean(value, &b) < 0) {
		perr(p, "%s=: invalid boolean '%s': expected yes or no", key, value);
		return;
	}
	*FIELD(p, offset, bool) = b;
}

/* Prepare=: the default (no) on an empty value. */
static void parse_prepare(struct parser *p, const char *key, const char *value, size_t offset,
			  int data)
{
	bool b = false;

	if (*value && parse_boolean(value, &b) < 0) {
		perr(p, "%s=: invalid boolean '%s': expected yes or no", key, value);
		return;
	}
	p->c->container.prepare = b;
	p->c->container.prepare_set = *value != '\0';
}

static void parse_accept(struct parser *p, const char *key, const char *value, size_t offset,
			 int data)
{
	bool b = false;

	if (*value && parse_boolean(value, &b) < 0) {
		perr(p, "%s=: invalid boolean '%s': expected yes or no", key, value);
		return;
	}
	p->c->socket.accept = b;
}

/* A number in [min, data]; empty = 0, which finish() turns into the
 * default (MaxConnections=, MaxConnectionsPerSourceIPv6Prefix=) or means
 * "off" (MaxConnectionsPerSource=, PoolSize=). */
static void parse_count(struct parser *p, const char *key, const char *value, size_t offset,
			int data)
{
	uint64_t v = 0, min = offset == OFFSETOF_MAX_CONNECTIONS ||
				      offset == OFFSETOF_PER_SOURCE_IPV6_PREFIX
				  ? 1
				  : 0;

	if (*value && parse_uint(value, min, (uint64_t)data, &v) < 0) {
		perr(p, "%s=: invalid value '%s': expected a number from %u to %d", key, value,
		     (unsigned)min, data);
		return;
	}
	*FIELD(p, offset, unsigned) = (unsigned)v;
}

static void parse_standard_input(struct parser *p, const char *key, const char *value,
				 size_t offset, int data)
{
	if (!*value || strcmp(value, "fd") == 0)
		p->c->container.standard_input = STANDARD_INPUT_FD;
	else if (strcmp(value, "socket") == 0)
		p->c->container.standard_input = STANDARD_INPUT_SOCKET;
	else
		perr(p, "%s=: invalid value '%s': expected fd or socket", key, value);
}

static void parse_backlog(struct parser *p, const char *key, const char *value, size_t offset,
			  int data)
{
	uint64_t v = DEFAULT_BACKLOG;

	if (*value && parse_uint(value, 1, 65535, &v) < 0) {
		perr(p, "%s=: invalid value '%s': expected a number from 1 to 65535", key, value);
		return;
	}
	p->c->socket.backlog = (unsigned)v;
}

static void parse_fd_name(struct parser *p, const char *key, const char *value, size_t offset,
			  int data)
{
	if (*value && !fd_name_is_valid(value)) {
		perr(p,
		     "%s=: invalid name '%s': expected 1-255 printable ASCII characters without "
		     "':'",
		     key, value);
		return;
	}
	set_string(p, &p->c->socket.fd_name, value);
}

static void parse_bind_ipv6_only(struct parser *p, const char *key, const char *value,
				 size_t offset, int data)
{
	enum bind_ipv6_only v;

	if (!*value || strcmp(value, "default") == 0)
		v = BIND_IPV6_DEFAULT;
	else if (strcmp(value, "both") == 0)
		v = BIND_IPV6_BOTH;
	else if (strcmp(value, "ipv6-only") == 0)
		v = BIND_IPV6_ONLY;
	else {
		perr(p, "%s=: invalid value '%s': expected default, both or ipv6-only", key, value);
		return;
	}
	p->c->socket.bind_ipv6_only = v;
}

static void parse_defer_accept(struct parser *p, const char *key, const char *value, size_t offset,
			       int data)
{
	usec_t u = 0;
	int r;

	if (*value) {
		r = parse_duration(value, &u);
		if (r < 0) {
			perr(p, "%s=: invalid duration '%s'", key, value);
			return;
		}
		/* TCP_DEFER_ACCEPT takes an int of seconds. */
		if (u == USEC_INFINITY || u / USEC_PER_SEC > 0x7fffffff) {
			perr(p, "%s=: duration '%s' out of range (at most 2147483647s)", key,
			     value);
			return;
		}
	}
	p->c->socket.defer_accept = u;
}

static void parse_socket_mode(struct parser *p, const char *key, const char *value, size_t offset,
			      int data)
{
	mode_t m = DEFAULT_SOCKET_MODE;

	if (*value && parse_mode(value, &m) < 0) {
		perr(p, "%s=: invalid mode '%s': expected an octal number from 0 to 7777", key,
		     value);
		return;
	}
	p->c->socket.socket_mode = m;
}

/* data: 0 user, 1 group. */
static void parse_user_group(struct parser *p, const char *key, const char *value, size_t offset,
			     int data)
{
	if (*value && !user_group_is_valid(value)) {
		perr(p, "%s=: invalid %s name '%s'", key, data ? "group" : "user", value);
		return;
	}
	set_string(p, FIELD(p, offset, char *), value);
}

static void parse_path(struct parser *p, const char *key, const char *value, size_t offset,
		       int data)
{
	if (*value && !path_is_absolute_normalized(value)) {
		perr(p,
		     "%s=: invalid path '%s': must be absolute and normalized (no '.', '..', "
		     "'//' or trailing '/')",
		     key, value);
		return;
	}
	set_string(p, FIELD(p, offset, char *), value);
}

static void parse_exec(struct parser *p, const char *key, const char *value, size_t offset,
		       int data)
{
	struct container_config *c = &p->c->container;
	char **argv = NULL;

	if (!*value) {
		c->exec = strv_free(c->exec);
		return;
	}
	argv = split_words(p, key, value, value);
	if (!argv)
		return;
	if (!argv[0] || !argv[0][0]) {
		perr(p, "%s=: the program name is empty", key);
		strv_free(argv);
		return;
	}
	strv_free(c->exec);
	c->exec = argv;
}

static void parse_environment(struct parser *p, const char *key, const char *value, size_t offset,
			      int data)
{
	struct container_config *c = &p->c->container;
	_cleanup_strv_free_ char **words = NULL;
	bool bad = false;

	if (!*value) {
		c->environment = strv_free(c->environment);
		return;
	}
	words = split_words(p, key, value, value);
	if (!words)
		return;
	STRV_FOREACH (w, words) {
		const char *eq = strchr(*w, '=');

		if (!eq) {
			perr(p, "%s=: invalid assignment '%s': expected KEY=value", key, *w);
			bad = true;
		} else if (!env_name_is_valid(*w, (size_t)(eq - *w))) {
			perr(p,
			     "%s=: invalid variable name in '%s': expected letters, digits and "
			     "'_', not starting with a digit",
			     key, *w);
			bad = true;
		}
	}
	if (bad)
		return;
	STRV_FOREACH (w, words) {
		if (strv_env_set(&c->environment, *w) < 0) {
			oom(p);
			return;
		}
		if (strv_length(c->environment) > CONFIG_MAX_ENV) {
			perr(p, "%s=: too many variables (at most %d)", key, CONFIG_MAX_ENV);
			/* Drop the one too many again. */
			free(c->environment[CONFIG_MAX_ENV]);
			c->environment[CONFIG_MAX_ENV] = NULL;
			return;
		}
	}
}

static void parse_hostname(struct parser *p, const char *key, const char *value, size_t offset,
			   int data)
{
	if (*value && !hostname_is_valid(value)) {
		perr(p,
		     "%s=: invalid hostname '%s': expected dot-separated labels of letters, "
		     "digits and '-', at most 64 characters",
		     key, value);
		return;
	}
	set_string(p, &p->c->container.hostname, value);
}

static bool too_many_mounts(struct parser *p, const char *key)
{
	struct container_config *c = &p->c->container;

	if (c->n_binds + c->n_tmpfs < CONFIG_MAX_BINDS)
		return false;
	perr(p,
	     "%s=: too many mounts (at most %d Bind=, BindReadOnly= and TemporaryFileSystem= "
	     "together)",
	     key, CONFIG_MAX_BINDS);
	return true;
}

/* Splits s at unescaped ':' into at most max fields, undoing "\:" and "\\"
 * as systemd-nspawn does. Returns the number of fields, or -EINVAL if there
 * are more, -ENOMEM. */
static int split_colons(const char *s, char **fields, int max)
{
	size_t len = strlen(s);
	int n = 0;

	for (;;) {
		char *f = malloc(len + 1);
		size_t k = 0;

		if (!f)
			return -ENOMEM;
		if (n == max) {
			free(f);
			return -EINVAL;
		}
		fields[n++] = f;
		for (; *s && *s != ':'; s++) {
			if (*s == '\\' && (s[1] == ':' || s[1] == '\\'))
				s++;
			f[k++] = *s;
		}
		f[k] = '\0';
		if (!*s)
			return n;
		s++;
	}
}

/* data: 1 for BindReadOnly=. */
static void parse_bind(struct parser *p, const char *key, const char *value, size_t offset,
		       int data)
{
	struct container_config *c = &p->c->container;
	char *f[3] = {NULL, NULL, NULL};
	struct bind_config b = {.read_only = data};
	const char *source;
	struct bind_config *a;
	int n;

	if (!*value) {
		binds_clear(c);
		return;
	}
	n = split_colons(value, f, 3);
	if (n == -ENOMEM) {
		oom(p);
		goto out;
	}
	if (n < 0) {
		perr(p, "%s=: invalid value '%s': expected SOURCE[:TARGET[:OPTIONS]]", key, value);
		goto out;
	}
	source = f[0];
	if (source[0] == '-') {
		b.optional = true;
		source++;
	}
	if (!path_is_absolute_normalized(source)) {
		perr(p,
		     "%s=: invalid source '%s': must be an absolute, normalized path (no '.', "
		     "'..', '//' or trailing '/')",
		     key, source);
		goto out;
	}
	if (n >= 2 && f[1][0] && !path_is_absolute_normalized(f[1])) {
		perr(p,
		     "%s=: invalid target '%s': must be an absolute, normalized path (no '.', "
		     "'..', '//' or trailing '/')",
		     key, f[1]);
		goto out;
	}
	if (n == 3) {
		/* Comma-separated, as nspawn's --bind= options. */
		_cleanup_free_ char *opts = strdup(f[2]);
		char *save = NULL;

		if (!opts) {
			oom(p);
			goto out;
		}
		for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
			if (strcmp(o, "ro") == 0)
				b.read_only = true;
			else if (strcmp(o, "rw") == 0 && !data)
				b.read_only = false;
			else if (strcmp(o, "rw") == 0) {
				perr(p, "%s=: option 'rw' contradicts %s= (use Bind=)", key, key);
				goto out;
			} else if (strcmp(o, "idmap") == 0)
				b.idmap = true;
			else if (strcmp(o, "suid") == 0)
				b.suid = true;
			else {
				perr(p,
				     "%s=: invalid option '%s': expected ro, rw, idmap or suid "
				     "(comma-separated)",
				     key, o);
				goto out;
			}
		}
	}
	if (too_many_mounts(p, key))
		goto out;
	b.source = strdup(source);
	b.target = strdup(n >= 2 && f[1][0] ? f[1] : source);
	a = realloc(c->binds, (c->n_binds + 1) * sizeof(*a));
	if (a)
		c->binds = a;
	if (!b.source || !b.target || !a) {
		free(b.source);
		free(b.target);
		oom(p);
		goto out;
	}
	c->binds[c->n_binds++] = b;
out:
	for (int i = 0; i < 3; i++)
		free(f[i]);
}

static void parse_tmpfs(struct parser *p, const char *key, const char *value, size_t offset,
			int data)
{
	struct container_config *c = &p->c->container;
	struct tmpfs_config t = {0}, *a;
	const char *colon = strchr(value, ':');
	_cleanup_free_ char *path = NULL;

	if (!*value) {
		tmpfs_clear(c);
		return;
	}
	path = colon ? strndup(value, (size_t)(colon - value)) : strdup(value);
	if (!path) {
		oom(p);
		return;
	}
	if (!path_is_absolute_normalized(path)) {
		perr(p,
		     "%s=: invalid path '%s': must be absolute and normalized (no '.', '..', "
		     "'//' or trailing '/')",
		     key, path);
		return;
	}
	if (colon && colon[1]) {
		for (const char *o = colon + 1; *o; o++)
			if (*o <= ' ' || *o > '~') {
				perr(p,
				     "%s=: invalid mount options '%s': no spaces or control "
				     "characters",
				     key, colon + 1);
				return;
			}
		t.options = strdup(colon + 1);
		if (!t.options) {
			oom(p);
			return;
		}
	}
	if (too_many_mounts(p, key)) {
		free(t.options);
		return;
	}
	a = realloc(c->tmpfs, (c->n_tmpfs + 1) * sizeof(*a));
	if (!a) {
		free(t.options);
		oom(p);
		return;
	}
	c->tmpfs = a;
	t.target = TAKE_PTR(path);
	c->tmpfs[c->n_tmpfs++] = t;
}

static void parse_network(struct parser *p, const char *key, const char *value, size_t offset,
			  int data)
{
	struct container_config *c = &p->c->container;

	if (!*value || strcmp(value, "none") == 0)
		c->network = NETWORK_NONE;
	else if (strcmp(value, "host") == 0)
		c->network = NETWORK_HOST;
	else if (strcmp(value, "veth") == 0)
		c->network = NETWORK_VETH;
	else if (strcmp(value, "shared-empty") == 0)
		c->network = NETWORK_SHARED_EMPTY;
	else if (strncmp(value, "netns:", 6) == 0) {
		/* The `ip netns` names nsinetd accepts: those of services. */
		if (!service_name_is_valid(value + 6)) {
			perr(p,
			     "%s=: invalid namespace name '%s': expected 1 to 64 letters, digits, "
			     "'_', '.', '@' or '-', not starting with '.'",
			     key, value + 6);
			return;
		}
		if (set_string(p, &c->netns_name, value + 6) < 0)
			return;
		c->network = NETWORK_NETNS;
	} else {
		perr(p,
		     "%s=: invalid value '%s': expected none, host, veth, shared-empty or "
		     "netns:NAME",
		     key, value);
		return;
	}
	if (c->network != NETWORK_NETNS)
		set_string(p, &c->netns_name, NULL);
}

/* Address=, HostAddress=, AddressPool= (data 0, 1, 2): one address per
 * family, repeatable for the other family; empty resets both. */
static void parse_address(struct parser *p, const char *key, const char *value, size_t offset,
			  int data)
{
	struct container_config *c = &p->c->container;
	struct netns_prefix *slot = data == 0   ? c->address
				    : data == 1 ? c->host_address
						: c->address_pool;
	struct netns_prefix a;
	int f;

	if (!*value) {
		memset(slot, 0, 2 * sizeof(*slot));
		return;
	}
	/* A pool has no default length; an address is a /30 or a /64. */
	if (netns_prefix_parse(value, data == 2 ? 33 : 30, data == 2 ? 129 : 64, &a) < 0 ||
	    (data == 2 && !strchr(value, '/'))) {
		perr(p, "%s=: invalid %s '%s': expected %s", key, data == 2 ? "pool" : "address",
		     value,
		     data == 2 ? "IPv4/LENGTH or IPv6/LENGTH"
			       : "an IPv4 or IPv6 address, optionally with /LENGTH");
		return;
	}
	f = a.family == AF_INET ? 0 : 1;
	if (data == 2 && a.prefixlen > (f == 0 ? 30 : 64)) {
		perr(p, "%s=: pool '%s' too small: it must hold a %s (at most /%d)", key, value,
		     f == 0 ? "/30" : "/64", f == 0 ? 30 : 64);
		return;
	}
	if (data != 2 && netns_prefix_is_network_or_broadcast(&a)) {
		perr(p, "%s=: '%s' is the network or broadcast address of its subnet", key, value);
		return;
	}
	if (slot[f].family) {
		perr(p, "%s=: a second %s value '%s': one per family (an empty %s= resets)", key,
		     f == 0 ? "IPv4" : "IPv6", value, key);
		return;
	}
	slot[f] = data == 2 ? netns_prefix_network(&a) : a;
}

/* An interface name as the kernel takes it (dev_valid_name()). */
static void parse_bridge(struct parser *p, const char *key, const char *value, size_t offset,
			 int data)
{
	size_t n = strlen(value);

	if (*value && (n >= 16 || strcmp(value, ".") == 0 || strcmp(value, "..") == 0 ||
		       strpbrk(value, "/: \t"))) {
		perr(p,
		     "%s=: invalid interface name '%s': 1 to 15 characters, no '/', ':' or "
		     "spaces",
		     key, value);
		return;
	}
	set_string(p, &p->c->container.bridge, value);
}

/* data: the default. StopTimeoutSec= must be > 0. */
static void parse_usec(struct parser *p, const char *key, const char *value, size_t offset,
		       int data)
{
	usec_t u = data < 0 ? USEC_INFINITY : (usec_t)data * USEC_PER_SEC;

	if (*value && parse_duration(value, &u) < 0) {
		perr(p,
		     "%s=: invalid duration '%s': expected e.g. 10s, 500ms, 1min 30s or infinity",
		     key, value);
		return;
	}
	if ((offset == offsetof(struct service_config, service.stop_timeout) ||
	     offset == offsetof(struct service_config, service.runtime_max)) &&
	    u == 0) {
		perr(p, "%s=: must not be 0 (use infinity to wait forever)", key);
		return;
	}
	*FIELD(p, offset, usec_t) = u;
}

static void parse_kill_signal(struct parser *p, const char *key, const char *value, size_t offset,
			      int data)
{
	int sig = SIGTERM;

	if (*value && parse_signal(value, &sig) < 0) {
		perr(p, "%s=: invalid signal '%s': expected a name like SIGTERM or a number 1-64",
		     key, value);
		return;
	}
	p->c->service.kill_signal = sig;
}

/* StartLimitBurst= and TriggerLimitBurst=: data is the default. */
static void parse_burst(struct parser *p, const char *key, const char *value, size_t offset,
			int data)
{
	uint64_t v = (uint64_t)data;

	if (*value && parse_uint(value, 1, 10000, &v) < 0) {
		perr(p, "%s=: invalid value '%s': expected a number from 1 to 10000", key, value);
		return;
	}
	*FIELD(p, offset, unsigned) = (unsigned)v;
}

/* "1", "1%", "0.5%", "250%": percent of one CPU, two decimals at most. */
static void parse_cpu_percent(struct parser *p, const char *key, const char *value, size_t offset,
			      int data)
{
	unsigned long whole = 1, frac = 0;
	const char *s = value;
	char *end;

	if (!*value) {
		p->c->service.idle_cpu_centi = 100;
		return;
	}
	errno = 0;
	if (*s < '0' || *s > '9')
		goto bad;
	whole = strtoul(s, &end, 10);
	if (errno || whole > 100000)
		goto bad;
	if (*end == '.') {
		s = end + 1;
		if (*s < '0' || *s > '9')
			goto bad;
		frac = (unsigned long)(*s++ - '0') * 10;
		if (*s >= '0' && *s <= '9')
			frac += (unsigned long)(*s++ - '0');
		end = (char *)s;
	}
	if (*end == '%')
		end++;
	if (*end)
		goto bad;
	p->c->service.idle_cpu_centi = (unsigned)(whole * 100 + frac);
	return;
bad:
	perr(p,
	     "%s=: invalid value '%s': expected a percentage of one CPU, e.g. 1%%, 0.5%% or 150%% "
	     "(at most 100000%%, two decimals)",
	     key, value);
}

static void parse_idle_connections(struct parser *p, const char *key, const char *value,
				   size_t offset, int data)
{
	if (!*value || strcmp(value, "count") == 0)
		p->c->service.idle_connections = IDLE_CONNECTIONS_COUNT;
	else if (strcmp(value, "traffic") == 0)
		p->c->service.idle_connections = IDLE_CONNECTIONS_TRAFFIC;
	else
		perr(p, "%s=: invalid value '%s': expected count or traffic", key, value);
}

#define OFF(f) offsetof(struct service_config, f)

static const struct config_key {
	const char *section;
	const char *key;
	key_parser parse;
	size_t offset;
	int data;
} config_keys[] = {
    {"Socket", "ListenStream", parse_listen, 0, LISTEN_STREAM},
    {"Socket", "ListenDatagram", parse_listen, 0, LISTEN_DATAGRAM},
    {"Socket", "ListenSequentialPacket", parse_listen, 0, LISTEN_SEQPACKET},
    {"Socket", "Accept", parse_accept, 0, 0},
    {"Socket", "Backlog", parse_backlog, 0, 0},
    {"Socket", "FileDescriptorName", parse_fd_name, 0, 0},
    {"Socket", "BindIPv6Only", parse_bind_ipv6_only, 0, 0},
    {"Socket", "ReusePort", parse_bool, OFF(socket.reuse_port), 0},
    {"Socket", "FreeBind", parse_bool, OFF(socket.free_bind), 0},
    {"Socket", "DeferAcceptSec", parse_defer_accept, 0, 0},
    {"Socket", "SocketMode", parse_socket_mode, 0, 0},
    {"Socket", "SocketUser", parse_user_group, OFF(socket.socket_user), 0},
    {"Socket", "SocketGroup", parse_user_group, OFF(socket.socket_group), 1},
    {"Socket", "TriggerLimitIntervalSec", parse_usec, OFF(socket.trigger_limit_interval), 2},
    {"Socket", "TriggerLimitBurst", parse_burst, OFF(socket.trigger_limit_burst), 0},
    {"Socket", "MaxConnections", parse_count, OFF(socket.max_connections), CONFIG_MAX_CONNECTIONS},
    {"Socket", "MaxConnectionsPerSource", parse_count, OFF(socket.max_connections_per_source),
     CONFIG_MAX_CONNECTIONS},
    {"Socket", "MaxConnectionsPerSourceIPv6Prefix", parse_count, OFF(socket.per_source_ipv6_prefix),
     128},
    {"Container", "Directory", parse_path, OFF(container.directory), 0},
    {"Container", "Exec", parse_exec, 0, 0},
    {"Container", "WorkingDirectory", parse_path, OFF(container.working_directory), 0},
    {"Container", "Environment", parse_environment, 0, 0},
    {"Container", "User", parse_user_group, OFF(container.user), 0},
    {"Container", "Group", parse_user_group, OFF(container.group), 1},
    {"Container", "Hostname", parse_hostname, 0, 0},
    {"Container", "Bind", parse_bind, 0, 0},
    {"Container", "BindReadOnly", parse_bind, 0, 1},
    {"Container", "TemporaryFileSystem", parse_tmpfs, 0, 0},
    {"Container", "ReadOnly", parse_bool, OFF(container.read_only), 1},
    {"Container", "Network", parse_network, 0, 0},
    {"Container", "PrivateUsers", parse_private_users, 0, 0},
    {"Container", "Capabilities", parse_capabilities, 0, 0},
    {"Container", "NoNewPrivileges", parse_no_new_privileges, 0, 0},
    {"Container", "SystemCallFilter", parse_syscall_filter, 0, 0},
    {"Container", "SystemCallErrorNumber", parse_syscall_error_number, 0, 0},
    {"Container", "SystemCallArchitectures", parse_syscall_architectures, 0, 0},
    {"Container", "LimitCPU", parse_rlimit, 0, RLIMIT_CPU},
    {"Container", "LimitFSIZE", parse_rlimit, 0, RLIMIT_FSIZE},
    {"Container", "LimitDATA", parse_rlimit, 0, RLIMIT_DATA},
    {"Container", "LimitSTACK", parse_rlimit, 0, RLIMIT_STACK},
    {"Container", "LimitCORE", parse_rlimit, 0, RLIMIT_CORE},
    {"Container", "LimitRSS", parse_rlimit, 0, RLIMIT_RSS},
    {"Container", "LimitNOFILE", parse_rlimit, 0, RLIMIT_NOFILE},
    {"Container", "LimitAS", parse_rlimit, 0, RLIMIT_AS},
    {"Container", "LimitNPROC", parse_rlimit, 0, RLIMIT_NPROC},
    {"Container", "LimitMEMLOCK", parse_rlimit, 0, RLIMIT_MEMLOCK},
    {"Container", "LimitLOCKS", parse_rlimit, 0, RLIMIT_LOCKS},
    {"Container", "LimitSIGPENDING", parse_rlimit, 0, RLIMIT_SIGPENDING},
    {"Container", "LimitMSGQUEUE", parse_rlimit, 0, RLIMIT_MSGQUEUE},
    {"Container", "LimitNICE", parse_rlimit, 0, RLIMIT_NICE},
    {"Container", "LimitRTPRIO", parse_rlimit, 0, RLIMIT_RTPRIO},
    {"Container", "LimitRTTIME", parse_rlimit, 0, RLIMIT_RTTIME},
    {"Container", "MemoryMax", parse_cgroup_bytes, OFF(container.sandbox.memory_max), 0},
    {"Container", "MemoryHigh", parse_cgroup_bytes, OFF(container.sandbox.memory_high), 0},
    {"Container", "TasksMax", parse_tasks_max, 0, 0},
    {"Container", "CPUWeight", parse_cgroup_weight, OFF(container.sandbox.cpu_weight), 0},
    {"Container", "CPUQuota", parse_cpu_quota, 0, 0},
    {"Container", "IOWeight", parse_cgroup_weight, OFF(container.sandbox.io_weight), 0},
    {"Container", "StandardInput", parse_standard_input, 0, 0},
    {"Container", "PoolSize", parse_count, OFF(container.pool_size), CONFIG_MAX_POOL},
    {"Container", "Prepare", parse_prepare, 0, 0},
    {"Container", "Address", parse_address, 0, 0},
    {"Container", "HostAddress", parse_address, 0, 1},
    {"Container", "AddressPool", parse_address, 0, 2},
    {"Container", "Bridge", parse_bridge, 0, 0},
    {"Service", "StopTimeoutSec", parse_usec, OFF(service.stop_timeout), 10},
    {"Service", "KillSignal", parse_kill_signal, 0, 0},
    {"Service", "StartLimitIntervalSec", parse_usec, OFF(service.start_limit_interval), 10},
    {"Service", "StartLimitBurst", parse_burst, OFF(service.start_limit_burst),
     DEFAULT_START_LIMIT_BURST},
    {"Service", "IdleFreezeSec", parse_usec, OFF(service.idle_freeze), 0},
    {"Service", "IdleStopSec", parse_usec, OFF(service.idle_stop), 0},
    {"Service", "IdleCPUPercent", parse_cpu_percent, 0, 0},
    {"Service", "IdleConnections", parse_idle_connections, 0, 0},
    {"Service", "RuntimeMaxSec", parse_usec, OFF(service.runtime_max), -1},
};

/* Planned keys: a clear "not yet" rather than "unknown". */
static const char *const unsupported_keys[] = {
    /* Boot=yes (a real init as pid 1) comes later. */
    "Container.Boot",
};

static const char *const sections[] = {"Socket", "Container", "Service"};

static bool key_is_unsupported(const char *section, const char *key)
{
	size_t n = strlen(section);

	for (size_t i = 0; i < ELEMENTSOF(unsupported_keys); i++)
		if (strncmp(unsupported_keys[i], section, n) == 0 &&
		    unsupported_keys[i][n] == '.' && strcmp(unsupported_keys[i] + n + 1, key) == 0)
			return true;
	return false;
}

static int handler(void *user, const char *section, const char *key, const char *value)
{
	struct parser *p = user;

	if (p->fatal || p->gave_up || p->skip_section)
		return 1;
	if (!*section) {
		perr(p,
		     "%s=: assignment outside of any section (expected [Socket], [Container] "
		     "or [Service] first)",
		     key);
		return 1;
	}
	for (size_t i = 0; i < ELEMENTSOF(config_keys); i++) {
		const struct config_key *k = &config_keys[i];

		if (strcmp(k->section, section) == 0 && strcmp(k->key, key) == 0) {
			k->parse(p, key, value, k->offset, k->data);
			return 1;
		}
	}
	if (key_is_unsupported(section, key))
		perr(p, "%s= is not supported yet", key);
	else
		perr(p, "unknown key '%s' in section [%s]", key, section);
	return 1;
}

/* The line reader */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Checks one line (start, n bytes, without its newline). Returns true if
 * inih may see it, false if it was reported and must be blanked. */
static bool check_line(struct parser *p, const char *start, size_t n)
{
	const char *e = start + n, *eq;
	size_t k;

	if (memchr(start, '\0', n)) {
		perr(p, "line contains a NUL byte");
		return false;
	}
	if (n > CONFIG_MAX_LINE) {
		perr(p, "line too long (more than %d bytes)", CONFIG_MAX_LINE);
		return false;
	}
	while (start < e && is_blank(*start))
		start++;
	while (e > start && is_blank(e[-1]))
		e--;
	n = (size_t)(e - start);
	if (n == 0 || *start == '#' || *start == ';')
		return true;
	if (*start == '[') {
		const char *name = start + 1;

		k = n - 2;
		if (n < 3 || e[-1] != ']' || memchr(name, ']', k) || memchr(name, '[', k)) {
			perr(p, "invalid section header '%.*s': expected [Section]", (int)n, start);
			p->skip_section = true;
			return false;
		}
		for (size_t i = 0; i < ELEMENTSOF(sections); i++)
			if (strlen(sections[i]) == k && memcmp(sections[i], name, k) == 0) {
				p->skip_section = false;
				return true;
			}
		perr(p, "unknown section [%.*s] (expected [Socket], [Container] or [Service])",
		     (int)k, name);
		p->skip_section = true;
		return true;
	}
	/* inih also splits at ':' ("Key: value"); systemd does not. */
	eq = memchr(start, '=', n);
	k = eq ? (size_t)(eq - start) : 0;
	while (k > 0 && is_blank(start[k - 1]))
		k--;
	if (!eq || k == 0 || memchr(start, ':', k)) {
		perr(p, "expected Key=value or [Section], got '%.*s'", n > 64 ? 64 : (int)n, start);
		return false;
	}
	return true;
}

/* fgets() for inih, over our buffer. */
static char *reader(char *str, int num, void *stream)
{
	struct parser *p = stream;
	const char *start, *nl;
	size_t n, len;

	if (p->fatal || p->gave_up || p->pos >= p->size)
		return NULL;
	start = p->text + p->pos;
	nl = memchr(start, '\n', p->size - p->pos);
	len = nl ? (size_t)(nl - start) : p->size - p->pos;
	p->pos += len + (nl ? 1 : 0);
	p->line++;

	n = len;
	if (n > 0 && start[n - 1] == '\r')
		n--;
	if (!check_line(p, start, n)) {
		n = 0;
	} else if (n + 2 > (size_t)num) {
		/* Cannot happen with the knobs set in parse_buffer(); never
		 * drop a line silently all the same. */
		perr(p, "line too long for the parser (more than %d bytes)", num - 2);
		n = 0;
	}
	if (n == 0) {
		/* Reported: inih gets a blank line instead. */
		str[0] = '\n';
		str[1] = '\0';
		return str;
	}
	memcpy(str, start, n);
	str[n] = '\n';
	str[n + 1] = '\0';
	return str;
}

/* Parsing one file */

static struct service_config *service_config_new(const char *path, const char *name)
{
	struct service_config *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->name = strdup(name);
	c->path = strdup(path);
	if (!c->name || !c->path)
		return config_free(c);
	c->socket.backlog = DEFAULT_BACKLOG;
	c->socket.bind_ipv6_only = BIND_IPV6_DEFAULT;
	c->socket.socket_mode = DEFAULT_SOCKET_MODE;
	c->container.read_only = true;
	c->container.network = NETWORK_NONE;
	sandbox_defaults(&c->container.sandbox);
	c->service.stop_timeout = DEFAULT_STOP_TIMEOUT;
	c->service.kill_signal = SIGTERM;
	c->service.start_limit_interval = DEFAULT_START_LIMIT_INTERVAL;
	c->service.start_limit_burst = DEFAULT_START_LIMIT_BURST;
	c->service.idle_cpu_centi = 100;
	c->socket.trigger_limit_interval = DEFAULT_TRIGGER_LIMIT_INTERVAL;
	c->service.runtime_max = USEC_INFINITY;
	return c;
}

/* The Accept=yes keys: what they need, and defaults that depend on Accept=. */
static void finish_accept(struct parser *p)
{
	struct service_config *c = p->c;
	struct socket_config *sc = &c->socket;

	if (sc->accept) {
		for (size_t i = 0; i < sc->n_listen; i++)
			if (sc->listen[i].type == LISTEN_DATAGRAM)
				perr(p,
				     "Accept=yes with ListenDatagram=%s (line %u): a datagram "
				     "socket has no connections to accept (use Accept=no)",
				     sc->listen[i].text, sc->listen[i].line);
		if (!sc->max_connections)
			sc->max_connections = DEFAULT_MAX_CONNECTIONS;
		if (!sc->per_source_ipv6_prefix)
			sc->per_source_ipv6_prefix = DEFAULT_PER_SOURCE_IPV6_PREFIX;
		if (!sc->trigger_limit_burst)
			sc->trigger_limit_burst = DEFAULT_TRIGGER_LIMIT_BURST_ACCEPT;
		if (c->container.pool_size > sc->max_connections)
			perr(p, "PoolSize=%u is more than MaxConnections=%u",
			     c->container.pool_size, sc->max_connections);
		if (c->service.idle_freeze)
			perr(p, "IdleFreezeSec= needs Accept=no (a sandbox serves one connection: "
				"IdleStopSec= ends one whose connection is silent)");
		if (c->container.network == NETWORK_VETH)
			perr(p, "Network=veth with Accept=yes is not supported (one veth pair per "
				"service): use Network=none, shared-empty, host or netns:NAME");
		if (c->container.prepare_set && c->container.prepare)
			perr(p, "Prepare=yes needs Accept=no (with Accept=yes, PoolSize= keeps "
				"sandboxes set up ahead)");
		c->container.prepare = false;
		return;
	}
	if (!sc->trigger_limit_burst)
		sc->trigger_limit_burst = DEFAULT_TRIGGER_LIMIT_BURST;
	if (sc->max_connections)
		perr(p, "MaxConnections= needs Accept=yes");
	if (sc->max_connections_per_source)
		perr(p, "MaxConnectionsPerSource= needs Accept=yes");
	if (sc->per_source_ipv6_prefix)
		perr(p, "MaxConnectionsPerSourceIPv6Prefix= needs Accept=yes");
	if (c->container.standard_input == STANDARD_INPUT_SOCKET)
		perr(p, "StandardInput=socket needs Accept=yes (with Accept=no the container "
			"gets listening sockets, not a connection)");
	if (c->container.pool_size)
		perr(p, "PoolSize= needs Accept=yes");
	if (c->service.runtime_max != USEC_INFINITY)
		perr(p, "RuntimeMaxSec= needs Accept=yes");
}

/* Required keys and defaults that depend on the name. */
/* What Network=veth's keys mean together; the pool defaults. */
/* Checks across the [Container] keys whose order in the file is free. */
static void finish_container(struct parser *p)
{
	const struct container_config *cc = &p->c->container;

	if (cc->sandbox.private_users != PRIVATE_USERS_NO)
		return;
	for (size_t i = 0; i < cc->n_binds; i++)
		if (cc->binds[i].idmap)
			perr(p,
			     "%s=%s: option 'idmap' needs a user namespace (PrivateUsers=no "
			     "is set)",
			     cc->binds[i].read_only ? "BindReadOnly" : "Bind", cc->binds[i].source);
}

static void finish_network(struct parser *p)
{
	struct container_config *c = &p->c->container;
	static const char *const pool_default[2] = {NETWORK_POOL_V4, NETWORK_POOL_V6};
	char a[64], b[64];
	bool any = false;

	for (int f = 0; f < 2; f++)
		any = any || c->address[f].family || c->host_address[f].family ||
		      c->address_pool[f].family;
	if (c->network != NETWORK_VETH && (any || c->bridge)) {
		perr(p, "%s= is set but Network= is not veth",
		     c->bridge ? "Bridge" : "Address=, HostAddress= or AddressPool");
		return;
	}
	for (int f = 0; f < 2; f++) {
		const struct netns_prefix *ad = &c->address[f], *h = &c->host_address[f];
		const char *fam = f == 0 ? "IPv4" : "IPv6";

		if (!c->address_pool[f].family)
			(void)netns_prefix_parse(pool_default[f], 30, 64, &c->address_pool[f]);
		if (h->family && !ad->family) {
			perr(p,
			     "HostAddress=%s needs an %s Address=", netns_prefix_format(h, a, 64),
			     fam);
			continue;
		}
		if (ad->family && !h->family && !c->bridge) {
			perr(p, "Address=%s needs an %s HostAddress= (or Bridge=)",
			     netns_prefix_format(ad, a, 64), fam);
			continue;
		}
		if (!ad->family || !h->family)
			continue;
		if (ad->prefixlen != h->prefixlen || !netns_prefix_overlap(ad, h) ||
		    netns_prefix_same_address(ad, h))
			perr(p, "Address=%s and HostAddress=%s must be two addresses of one subnet",
			     netns_prefix_format(ad, a, 64), netns_prefix_format(h, b, 64));
	}
}

static void finish(struct parser *p, const char *name)
{
	struct service_config *c = p->c;

	p->line = 0;
	if (!c->container.exec)
		perr(p, "Exec= is missing");
	if (c->socket.n_listen == 0)
		perr(p, "no Listen*= address");
	if (c->service.idle_freeze == USEC_INFINITY)
		c->service.idle_freeze = 0;
	if (c->service.idle_stop == USEC_INFINITY)
		c->service.idle_stop = 0;
	if (c->service.idle_freeze && c->service.idle_stop &&
	    c->service.idle_stop <= c->service.idle_freeze)
		perr(p, "IdleStopSec= must be longer than IdleFreezeSec= (a container is frozen "
			"first, then stopped)");
	finish_accept(p);
	finish_container(p);
	sandbox_finish(&c->container.sandbox, &c->socket);
	if (!c->socket.fd_name)
		set_string(p, &c->socket.fd_name, fd_name_is_valid(name) ? name : DEFAULT_HOSTNAME);
	if (!c->container.hostname)
		set_string(p, &c->container.hostname,
			   hostname_is_valid(name) ? name : DEFAULT_HOSTNAME);
	if (!c->container.working_directory)
		set_string(p, &c->container.working_directory, "/");
	finish_network(p);
}

static int parse_buffer(const char *text, size_t size, const char *path, const char *name,
			struct config_errors *errs, struct service_config **ret)
{
	struct parser p = {.path = path, .errs = errs, .text = text, .size = size};
	int r;

	/* A UTF-8 byte order mark is allowed at the start, as systemd. */
	if (size >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		p.pos = 3;
	p.c = service_config_new(path, name);
	if (!p.c)
		return -ENOMEM;

	/* Debian's libinih reads these at run time. */
	ini_use_stack = false;
	ini_max_line = CONFIG_MAX_LINE + 3;
	ini_allow_multiline = false;
	ini_allow_inline_comments = false;
	ini_allow_bom = false;
	ini_allow_realloc = false;
	/* Without realloc, the heap line buffer is ini_initial_alloc bytes
	 * (not ini_max_line): both must hold the longest line. */
	ini_initial_alloc = CONFIG_MAX_LINE + 3;
	ini_stop_on_first_error = false;
	ini_allow_no_value = false;

	r = ini_parse_stream(reader, &p, handler, &p);
	if (r == -2)
		p.fatal = -ENOMEM;
	else if (r != 0 && p.n_errors == 0 && !p.fatal)
		/* The reader lets through only what inih accepts; just in case. */
		config_errors_add(errs, "%s:%d: syntax error", path, r);
	if (!p.fatal && !p.gave_up)
		finish(&p, name);
	if (p.fatal) {
		config_free(p.c);
		config_errors_add(errs, "%s: out of memory", path);
		return p.fatal;
	}
	if (p.n_errors > 0 || r != 0) {
		config_free(p.c);
		return -EINVAL;
	}
	*ret = p.c;
	return 0;
}

int config_parse_string(const char *text, const char *path, const char *name,
			struct config_errors *errs, struct service_config **ret)
{
	size_t size = strlen(text);

	if (size > CONFIG_MAX_FILE_SIZE) {
		config_errors_add(errs, "%s: file too big (more than %d bytes)", path,
				  CONFIG_MAX_FILE_SIZE);
		return -EFBIG;
	}
	return parse_buffer(text, size, path, name, errs, ret);
}

/* Reads a whole regular file of at most CONFIG_MAX_FILE_SIZE bytes. */
static int read_file(const char *path, struct config_errors *errs, char **ret, size_t *ret_size)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	size_t size = 0;
	struct stat st;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int r = negative_errno();

		config_errors_add(errs, "%s: cannot open: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		int r = negative_errno();

		config_errors_add(errs, "%s: cannot stat: %s", path, strerror(-r));
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		config_errors_add(errs, "%s: not a regular file", path);
		return -EINVAL;
	}
	buf = malloc(CONFIG_MAX_FILE_SIZE + 1);
	if (!buf)
		return -ENOMEM;
	/* One byte more than allowed tells a too big file, even one that
	 * grows while we read it. */
	while (size <= CONFIG_MAX_FILE_SIZE) {
		ssize_t k = read(fd, buf + size, CONFIG_MAX_FILE_SIZE + 1 - size);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			int r = negative_errno();

			config_errors_add(errs, "%s: cannot read: %s", path, strerror(-r));
			return r;
		}
		if (k == 0)
			break;
		size += (size_t)k;
	}
	if (size > CONFIG_MAX_FILE_SIZE) {
		config_errors_add(errs, "%s: file too big (more than %d bytes)", path,
				  CONFIG_MAX_FILE_SIZE);
		return -EFBIG;
	}
	*ret = TAKE_PTR(buf);
	*ret_size = size;
	return 0;
}

int config_parse_file(const char *path, const char *name, struct config_errors *errs,
		      struct service_config **ret)
{
	_cleanup_free_ char *buf = NULL;
	size_t size;
	int r;

	r = read_file(path, errs, &buf, &size);
	if (r < 0)
		return r;
	return parse_buffer(buf, size, path, name, errs, ret);
}

/* The directory */

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reports a listen address of c that an earlier service already has. */
static bool conflicts_with_earlier(struct service_config *c, struct service_config **earlier,
				   size_t n, struct config_errors *errs)
{
	for (size_t i = 0; i < c->socket.n_listen; i++) {
		const struct listen_config *l = &c->socket.listen[i];

		for (size_t j = 0; j < n; j++)
			for (size_t k = 0; k < earlier[j]->socket.n_listen; k++) {
				const struct listen_config *o = &earlier[j]->socket.listen[k];

				if (!listen_conflict(l, o))
					continue;
				config_errors_add(errs,
						  "%s:%u: %s=: address '%s' is already used by "
						  "service '%s' (%s:%u: %s=%s)",
						  c->path, l->line, listen_type_to_string(l->type),
						  l->text, earlier[j]->name, earlier[j]->path,
						  o->line, listen_type_to_string(o->type), o->text);
				return true;
			}
	}
	return false;
}

int config_load_dir(const char *dir, struct config_errors *errs, struct service_config ***ret,
		    size_t *ret_n)
{
	_cleanup_strv_free_ char **names = NULL;
	struct service_config **a = NULL;
	size_t n_names, n = 0;
	DIR *d;
	struct dirent *de;
	int r = 0;

	d = opendir(dir);
	if (!d)
		return negative_errno();
	for (;;) {
		size_t len;

		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno != 0)
				r = -errno;
			break;
		}
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len <= 5 || strcmp(de->d_name + len - 5, ".conf") != 0)
			continue;
		if (de->d_type != DT_REG) {
			struct stat st;

			/* Symbolic links to files count; directories do not. */
			if (fstatat(dirfd(d), de->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
				continue;
		}
		r = strv_push(&names, de->d_name);
		if (r < 0)
			break;
	}
	closedir(d);
	if (r < 0)
		return r;

	n_names = strv_length(names);
	if (n_names > 0)
		qsort(names, n_names, sizeof(char *), cmp_names);
	a = calloc(n_names + 1, sizeof(*a));
	if (!a)
		return -ENOMEM;

	for (size_t i = 0; i < n_names; i++) {
		_cleanup_free_ char *path = NULL, *name = NULL;
		struct service_config *c = NULL;

		if (asprintf(&path, "%s/%s", dir, names[i]) < 0) {
			path = NULL;
			r = -ENOMEM;
			break;
		}
		if (i >= CONFIG_MAX_SERVICES) {
			config_errors_add(errs, "%s: too many services (at most %d), ignored", path,
					  CONFIG_MAX_SERVICES);
			continue;
		}
		name = strndup(names[i], strlen(names[i]) - 5);
		if (!name) {
			r = -ENOMEM;
			break;
		}
		if (!service_name_is_valid(name)) {
			config_errors_add(errs,
					  "%s: invalid service name '%s': expected 1-64 letters, "
					  "digits, '_', '.', '@' or '-'",
					  path, name);
			continue;
		}
		r = config_parse_file(path, name, errs, &c);
		if (r == -ENOMEM)
			break;
		r = 0;
		if (!c)
			continue;
		if (conflicts_with_earlier(c, a, n, errs)) {
			config_free(c);
			continue;
		}
		a[n++] = c;
	}
	if (r < 0) {
		config_free_array(a, n);
		return r;
	}
	*ret = a;
	*ret_n = n;
	return 0;
}

/* Freeing and comparing */

struct service_config *config_free(struct service_config *c)
{
	if (!c)
		return NULL;
	free(c->name);
	free(c->path);
	listen_clear(&c->socket);
	free(c->socket.fd_name);
	free(c->socket.socket_user);
	free(c->socket.socket_group);
	free(c->container.directory);
	strv_free(c->container.exec);
	free(c->container.working_directory);
	strv_free(c->container.environment);
	free(c->container.user);
	free(c->container.group);
	free(c->container.hostname);
	free(c->container.netns_name);
	free(c->container.bridge);
	binds_clear(&c->container);
	tmpfs_clear(&c->container);
	sandbox_free(&c->container.sandbox);
	free(c);
	return NULL;
}

void config_free_array(struct service_config **a, size_t n)
{
	for (size_t i = 0; a && i < n; i++)
		config_free(a[i]);
	free(a);
}

static bool streq_ptr(const char *a, const char *b)
{
	return (a && b) ? strcmp(a, b) == 0 : a == b;
}

bool config_listen_equal(const struct listen_config *a, const struct listen_config *b)
{
	return a->type == b->type && socket_address_equal(&a->address, &b->address);
}

static bool socket_equal(const struct socket_config *a, const struct socket_config *b)
{
	if (a->n_listen != b->n_listen)
		return false;
	for (size_t i = 0; i < a->n_listen; i++)
		if (!config_listen_equal(&a->listen[i], &b->listen[i]))
			return false;
	return a->accept == b->accept && a->backlog == b->backlog &&
	       streq_ptr(a->fd_name, b->fd_name) && a->bind_ipv6_only == b->bind_ipv6_only &&
	       a->reuse_port == b->reuse_port && a->free_bind == b->free_bind &&
	       a->defer_accept == b->defer_accept && a->socket_mode == b->socket_mode &&
	       streq_ptr(a->socket_user, b->socket_user) &&
	       streq_ptr(a->socket_group, b->socket_group) &&
	       a->trigger_limit_interval == b->trigger_limit_interval &&
	       a->trigger_limit_burst == b->trigger_limit_burst &&
	       a->max_connections == b->max_connections &&
	       a->max_connections_per_source == b->max_connections_per_source &&
	       a->per_source_ipv6_prefix == b->per_source_ipv6_prefix;
}

/* Two [IPv4, IPv6] pairs (not memcmp: padding). */
static bool prefixes_equal(const struct netns_prefix *a, const struct netns_prefix *b)
{
	for (int f = 0; f < 2; f++)
		if (a[f].family != b[f].family || a[f].prefixlen != b[f].prefixlen ||
		    (a[f].family && !netns_prefix_same_address(&a[f], &b[f])))
			return false;
	return true;
}

static bool container_equal(const struct container_config *a, const struct container_config *b)
{
	if (a->n_binds != b->n_binds || a->n_tmpfs != b->n_tmpfs)
		return false;
	for (size_t i = 0; i < a->n_binds; i++)
		if (!streq_ptr(a->binds[i].source, b->binds[i].source) ||
		    !streq_ptr(a->binds[i].target, b->binds[i].target) ||
		    a->binds[i].read_only != b->binds[i].read_only ||
		    a->binds[i].optional != b->binds[i].optional ||
		    a->binds[i].idmap != b->binds[i].idmap || a->binds[i].suid != b->binds[i].suid)
			return false;
	for (size_t i = 0; i < a->n_tmpfs; i++)
		if (!streq_ptr(a->tmpfs[i].target, b->tmpfs[i].target) ||
		    !streq_ptr(a->tmpfs[i].options, b->tmpfs[i].options))
			return false;
	return streq_ptr(a->directory, b->directory) && strv_equal(a->exec, b->exec) &&
	       streq_ptr(a->working_directory, b->working_directory) &&
	       strv_equal(a->environment, b->environment) && streq_ptr(a->user, b->user) &&
	       streq_ptr(a->group, b->group) && streq_ptr(a->hostname, b->hostname) &&
	       a->read_only == b->read_only && a->network == b->network &&
	       sandbox_equal(&a->sandbox, &b->sandbox) && a->standard_input == b->standard_input &&
	       a->pool_size == b->pool_size && a->prepare == b->prepare &&
	       streq_ptr(a->netns_name, b->netns_name) && streq_ptr(a->bridge, b->bridge) &&
	       prefixes_equal(a->address, b->address) &&
	       prefixes_equal(a->host_address, b->host_address) &&
	       prefixes_equal(a->address_pool, b->address_pool);
}

bool config_equal(const struct service_config *a, const struct service_config *b)
{
	if (a == b)
		return true;
	if (!a || !b)
		return false;
	/* The path and the lines are where, not what: not compared. */
	return streq_ptr(a->name, b->name) && socket_equal(&a->socket, &b->socket) &&
	       container_equal(&a->container, &b->container) &&
	       a->service.stop_timeout == b->service.stop_timeout &&
	       a->service.kill_signal == b->service.kill_signal &&
	       a->service.start_limit_interval == b->service.start_limit_interval &&
	       a->service.start_limit_burst == b->service.start_limit_burst &&
	       a->service.idle_freeze == b->service.idle_freeze &&
	       a->service.idle_stop == b->service.idle_stop &&
	       a->service.idle_cpu_centi == b->service.idle_cpu_centi &&
	       a->service.idle_connections == b->service.idle_connections &&
	       a->service.runtime_max == b->service.runtime_max;
}
