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
#include "supervisor/image.h"

#define DEFAULT_HOSTNAME        "nsinetd"
#define DEFAULT_MAX_CONNECTIONS 64
/* One IPv6 source is one /64: what a single host or customer gets. */
#define DEFAULT_PER_SOURCE_IPV6_PREFIX 64
#define DEFAULT_TRIGGER_LIMIT_BURST    200
/* Accept=yes: a flood guard above any sandbox rate this host reaches. */
#define DEFAULT_TRIGGER_LIMIT_BURST_ACCEPT 2000

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

/* Whether value has what looks like an end-of-line comment: a blank,
 * then '#' or ';'. */
static bool comment_in_value(const char *value)
{
	for (const char *s = value; *s; s++)
		if ((*s == ' ' || *s == '\t') && (s[1] == '#' || s[1] == ';'))
			return true;
	return false;
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
	/* "IdleStopSec=10min # stopped after 10 min": a # after a value is
	 * part of it, as in systemd's units; say so when it made the value
	 * wrong, since that is rarely what the author meant. */
	if (p->value && comment_in_value(p->value))
		config_errors_add(p->errs,
				  "%s:%u: %s (a '#' or ';' after a value is part of the value: "
				  "put the comment on a line of its own)",
				  p->path, p->line, m);
	else if (p->line > 0)
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

/* The keys. Each parser reports its own errors; an empty value resets the
 * setting (a list becomes empty, a single value its default). */

static void parse_listen(struct parser *p, const struct config_key *k, const char *value)
{
	struct socket_config *s = &p->c->socket;
	struct listen_config l = {.type = (enum listen_type)k->data, .line = p->line}, *a;
	int r;

	if (!*value) {
		listen_clear(s);
		return;
	}
	r = socket_address_parse(value, &l.address);
	if (r < 0) {
		bool is_unix = value[0] == '/' || value[0] == '@';

		if (r == -ERANGE)
			perr(p, "%s=: invalid address '%s': %s", k->key, value,
			     is_unix ? "path too long (at most 107 bytes)" : "port out of range");
		else
			perr(p,
			     "%s=: invalid address '%s': expected PORT, IPv4:PORT, [IPv6]:PORT, "
			     "/path or @name",
			     k->key, value);
		return;
	}
	if (l.type == LISTEN_SEQPACKET && socket_address_family(&l.address) != AF_UNIX) {
		perr(p,
		     "%s=: invalid address '%s': only unix sockets (/path or @name) can be "
		     "sequential-packet sockets",
		     k->key, value);
		return;
	}
	for (size_t i = 0; i < s->n_listen; i++) {
		if (!listen_conflict(&s->listen[i], &l))
			continue;
		if (s->listen[i].type == l.type &&
		    socket_address_equal(&s->listen[i].address, &l.address))
			perr(p, "%s=: duplicate address '%s', already given on line %u", k->key,
			     value, s->listen[i].line);
		else
			perr(p, "%s=: address '%s' conflicts with %s=%s on line %u", k->key, value,
			     listen_type_to_string(s->listen[i].type), s->listen[i].text,
			     s->listen[i].line);
		return;
	}
	if (s->n_listen >= CONFIG_MAX_LISTEN) {
		perr(p, "%s=: too many listen addresses (at most %d)", k->key, CONFIG_MAX_LISTEN);
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

/* Every boolean but Prepare=; an empty value restores k->def. */
static void parse_bool(struct parser *p, const struct config_key *k, const char *value)
{
	bool b = k->def != 0;

	if (*value && parse_boolean(value, &b) < 0) {
		perr(p, "%s=: invalid boolean '%s': expected yes or no", k->key, value);
		return;
	}
	*FIELD(p, k->offset, bool) = b;
}

/* Prepare=: the default (no) on an empty value. */
static void parse_prepare(struct parser *p, const struct config_key *k, const char *value)
{
	bool b = false;

	if (*value && parse_boolean(value, &b) < 0) {
		perr(p, "%s=: invalid boolean '%s': expected yes or no", k->key, value);
		return;
	}
	p->c->container.prepare = b;
	p->c->container.prepare_set = *value != '\0';
}

/* An unsigned number in [k->min, k->max]; empty: k->def. A default of 0
 * is either "off" (MaxConnectionsPerSource=, PoolSize=) or one that
 * depends on Accept=, which finish_defaults() sets. */
static void parse_number(struct parser *p, const struct config_key *k, const char *value)
{
	uint64_t v = k->def;

	if (*value && parse_uint(value, k->min, k->max, &v) < 0) {
		perr(p, "%s=: invalid value '%s': expected a number from %llu to %llu", k->key,
		     value, (unsigned long long)k->min, (unsigned long long)k->max);
		return;
	}
	*FIELD(p, k->offset, unsigned) = (unsigned)v;
}

/* One of k->names; empty: k->def. */
static void parse_enum(struct parser *p, const struct config_key *k, const char *value)
{
	char expected[256] = "";
	size_t n = 0;

	for (; k->names[n]; n++)
		if (strcmp(value, k->names[n]) == 0) {
			*FIELD(p, k->offset, int) = (int)n;
			return;
		}
	if (!*value) {
		*FIELD(p, k->offset, int) = (int)k->def;
		return;
	}
	for (size_t i = 0; i < n; i++)
		snprintf(expected + strlen(expected), sizeof(expected) - strlen(expected), "%s%s",
			 i == 0       ? ""
			 : i + 1 == n ? " or "
				      : ", ",
			 k->names[i]);
	perr(p, "%s=: invalid value '%s': expected %s", k->key, value, expected);
}

static void parse_fd_name(struct parser *p, const struct config_key *k, const char *value)
{
	if (*value && !fd_name_is_valid(value)) {
		perr(p,
		     "%s=: invalid name '%s': expected 1-255 printable ASCII characters without "
		     "':'",
		     k->key, value);
		return;
	}
	set_string(p, &p->c->socket.fd_name, value);
}

static void parse_defer_accept(struct parser *p, const struct config_key *k, const char *value)
{
	usec_t u = 0;
	int r;

	if (*value) {
		r = parse_duration(value, &u);
		if (r < 0) {
			perr(p, "%s=: invalid duration '%s'", k->key, value);
			return;
		}
		/* TCP_DEFER_ACCEPT takes an int of seconds. */
		if (u == USEC_INFINITY || u / USEC_PER_SEC > 0x7fffffff) {
			perr(p, "%s=: duration '%s' out of range (at most 2147483647s)", k->key,
			     value);
			return;
		}
	}
	p->c->socket.defer_accept = u;
}

static void parse_socket_mode(struct parser *p, const struct config_key *k, const char *value)
{
	mode_t m = (mode_t)k->def;

	if (*value && parse_mode(value, &m) < 0) {
		perr(p, "%s=: invalid mode '%s': expected an octal number from 0 to 7777", k->key,
		     value);
		return;
	}
	*FIELD(p, k->offset, mode_t) = m;
}

/* data: 0 user, 1 group. */
static void parse_user_group(struct parser *p, const struct config_key *k, const char *value)
{
	if (*value && !user_group_is_valid(value)) {
		perr(p, "%s=: invalid %s name '%s'", k->key, k->data ? "group" : "user", value);
		return;
	}
	set_string(p, FIELD(p, k->offset, char *), value);
}

static void parse_path(struct parser *p, const struct config_key *k, const char *value)
{
	if (*value && !path_is_absolute_normalized(value)) {
		perr(p,
		     "%s=: invalid path '%s': must be absolute and normalized (no '.', '..', "
		     "'//' or trailing '/')",
		     k->key, value);
		return;
	}
	set_string(p, FIELD(p, k->offset, char *), value);
}

/* Image=: checked for its syntax only; the image is read at load. */
static void parse_image(struct parser *p, const struct config_key *k, const char *value)
{
	char why[IMAGE_WHY_MAX];
	struct image_ref ref;
	int r;

	if (*value) {
		r = image_ref_parse(value, &ref, why, sizeof(why));
		if (r == -ENOMEM) {
			oom(p);
			return;
		}
		if (r < 0) {
			perr(p, "%s=: invalid image '%s': %s", k->key, value, why);
			return;
		}
		image_ref_done(&ref);
	}
	set_string(p, FIELD(p, k->offset, char *), value);
	p->c->container.image_line = p->line;
}

static void parse_bundle(struct parser *p, const struct config_key *k, const char *value)
{
	parse_path(p, k, value);
	p->c->container.image_line = p->line;
}

static void parse_exec(struct parser *p, const struct config_key *k, const char *value)
{
	struct container_config *c = &p->c->container;
	char **argv = NULL;

	if (!*value) {
		c->exec = strv_free(c->exec);
		return;
	}
	argv = split_words(p, k->key, value, value);
	if (!argv)
		return;
	if (!argv[0] || !argv[0][0]) {
		perr(p, "%s=: the program name is empty", k->key);
		strv_free(argv);
		return;
	}
	strv_free(c->exec);
	c->exec = argv;
}

static void parse_environment(struct parser *p, const struct config_key *k, const char *value)
{
	struct container_config *c = &p->c->container;
	_cleanup_strv_free_ char **words = NULL;
	bool bad = false;

	if (!*value) {
		c->environment = strv_free(c->environment);
		return;
	}
	words = split_words(p, k->key, value, value);
	if (!words)
		return;
	STRV_FOREACH (w, words) {
		const char *eq = strchr(*w, '=');

		if (!eq) {
			perr(p, "%s=: invalid assignment '%s': expected KEY=value", k->key, *w);
			bad = true;
		} else if (!env_name_is_valid(*w, (size_t)(eq - *w))) {
			perr(p,
			     "%s=: invalid variable name in '%s': expected letters, digits and "
			     "'_', not starting with a digit",
			     k->key, *w);
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
			perr(p, "%s=: too many variables (at most %d)", k->key, CONFIG_MAX_ENV);
			/* Drop the one too many again. */
			free(c->environment[CONFIG_MAX_ENV]);
			c->environment[CONFIG_MAX_ENV] = NULL;
			return;
		}
	}
}

static void parse_hostname(struct parser *p, const struct config_key *k, const char *value)
{
	if (*value && !hostname_is_valid(value)) {
		perr(p,
		     "%s=: invalid hostname '%s': expected dot-separated labels of letters, "
		     "digits and '-', at most 64 characters",
		     k->key, value);
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
static void parse_bind(struct parser *p, const struct config_key *k, const char *value)
{
	struct container_config *c = &p->c->container;
	char *f[3] = {NULL, NULL, NULL};
	struct bind_config b = {.read_only = k->data};
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
		perr(p, "%s=: invalid value '%s': expected SOURCE[:TARGET[:OPTIONS]]", k->key,
		     value);
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
		     k->key, source);
		goto out;
	}
	if (n >= 2 && f[1][0] && !path_is_absolute_normalized(f[1])) {
		perr(p,
		     "%s=: invalid target '%s': must be an absolute, normalized path (no '.', "
		     "'..', '//' or trailing '/')",
		     k->key, f[1]);
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
			else if (strcmp(o, "rw") == 0 && !k->data)
				b.read_only = false;
			else if (strcmp(o, "rw") == 0) {
				perr(p, "%s=: option 'rw' contradicts %s= (use Bind=)", k->key,
				     k->key);
				goto out;
			} else if (strcmp(o, "idmap") == 0)
				b.idmap = true;
			else if (strcmp(o, "suid") == 0)
				b.suid = true;
			else {
				perr(p,
				     "%s=: invalid option '%s': expected ro, rw, idmap or suid "
				     "(comma-separated)",
				     k->key, o);
				goto out;
			}
		}
	}
	if (too_many_mounts(p, k->key))
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

static void parse_tmpfs(struct parser *p, const struct config_key *k, const char *value)
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
		     k->key, path);
		return;
	}
	if (colon && colon[1]) {
		for (const char *o = colon + 1; *o; o++)
			if (*o <= ' ' || *o > '~') {
				perr(p,
				     "%s=: invalid mount options '%s': no spaces or control "
				     "characters",
				     k->key, colon + 1);
				return;
			}
		t.options = strdup(colon + 1);
		if (!t.options) {
			oom(p);
			return;
		}
	}
	if (too_many_mounts(p, k->key)) {
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

static void parse_network(struct parser *p, const struct config_key *k, const char *value)
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
			     k->key, value + 6);
			return;
		}
		if (set_string(p, &c->netns_name, value + 6) < 0)
			return;
		c->network = NETWORK_NETNS;
	} else {
		perr(p,
		     "%s=: invalid value '%s': expected none, host, veth, shared-empty or "
		     "netns:NAME",
		     k->key, value);
		return;
	}
	if (c->network != NETWORK_NETNS)
		set_string(p, &c->netns_name, NULL);
}

/* Address=, HostAddress=, AddressPool= (data 0, 1, 2): one address per
 * family, repeatable for the other family; empty resets both. */
static void parse_address(struct parser *p, const struct config_key *k, const char *value)
{
	struct container_config *c = &p->c->container;
	struct netns_prefix *slot = k->data == 0   ? c->address
				    : k->data == 1 ? c->host_address
						   : c->address_pool;
	struct netns_prefix a;
	int f;

	if (!*value) {
		memset(slot, 0, 2 * sizeof(*slot));
		return;
	}
	/* A pool has no default length; an address is a /30 or a /64. */
	if (netns_prefix_parse(value, k->data == 2 ? 33 : 30, k->data == 2 ? 129 : 64, &a) < 0 ||
	    (k->data == 2 && !strchr(value, '/'))) {
		perr(p, "%s=: invalid %s '%s': expected %s", k->key,
		     k->data == 2 ? "pool" : "address", value,
		     k->data == 2 ? "IPv4/LENGTH or IPv6/LENGTH"
				  : "an IPv4 or IPv6 address, optionally with /LENGTH");
		return;
	}
	f = a.family == AF_INET ? 0 : 1;
	if (k->data == 2 && a.prefixlen > (f == 0 ? 30 : 64)) {
		perr(p, "%s=: pool '%s' too small: it must hold a %s (at most /%d)", k->key, value,
		     f == 0 ? "/30" : "/64", f == 0 ? 30 : 64);
		return;
	}
	if (k->data != 2 && netns_prefix_is_network_or_broadcast(&a)) {
		perr(p, "%s=: '%s' is the network or broadcast address of its subnet", k->key,
		     value);
		return;
	}
	if (slot[f].family) {
		perr(p, "%s=: a second %s value '%s': one per family (an empty %s= resets)", k->key,
		     f == 0 ? "IPv4" : "IPv6", value, k->key);
		return;
	}
	slot[f] = k->data == 2 ? netns_prefix_network(&a) : a;
}

/* An interface name as the kernel takes it (dev_valid_name()). */
static void parse_bridge(struct parser *p, const struct config_key *k, const char *value)
{
	size_t n = strlen(value);

	if (*value && (n >= 16 || strcmp(value, ".") == 0 || strcmp(value, "..") == 0 ||
		       strpbrk(value, "/: \t"))) {
		perr(p,
		     "%s=: invalid interface name '%s': 1 to 15 characters, no '/', ':' or "
		     "spaces",
		     k->key, value);
		return;
	}
	set_string(p, &p->c->container.bridge, value);
}

/* A duration of at least k->min; empty: k->def. */
static void parse_usec(struct parser *p, const struct config_key *k, const char *value)
{
	usec_t u = k->def;

	if (*value && parse_duration(value, &u) < 0) {
		perr(p,
		     "%s=: invalid duration '%s': expected e.g. 10s, 500ms, 1min 30s or infinity",
		     k->key, value);
		return;
	}
	if (u < k->min) {
		perr(p, "%s=: must not be 0 (use infinity to wait forever)", k->key);
		return;
	}
	*FIELD(p, k->offset, usec_t) = u;
}

static void parse_kill_signal(struct parser *p, const struct config_key *k, const char *value)
{
	int sig = (int)k->def;

	if (*value && parse_signal(value, &sig) < 0) {
		perr(p, "%s=: invalid signal '%s': expected a name like SIGTERM or a number 1-64",
		     k->key, value);
		return;
	}
	*FIELD(p, k->offset, int) = sig;
	p->c->service.kill_signal_set = *value != '\0';
}

/* "1", "1%", "0.5%", "250%": percent of one CPU, two decimals at most. */
static void parse_cpu_percent(struct parser *p, const struct config_key *k, const char *value)
{
	unsigned long whole = 1, frac = 0;
	const char *s = value;
	char *end;

	if (!*value) {
		*FIELD(p, k->offset, unsigned) = (unsigned)k->def;
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
	*FIELD(p, k->offset, unsigned) = (unsigned)(whole * 100 + frac);
	return;
bad:
	perr(p,
	     "%s=: invalid value '%s': expected a percentage of one CPU, e.g. 1%%, 0.5%% or 150%% "
	     "(at most 100000%%, two decimals)",
	     k->key, value);
}

#define OFF(f) offsetof(struct service_config, f)
#define SB(f)  OFF(container.sandbox.f)
#define SEC(n) ((n)*USEC_PER_SEC)
/* Limit*=: each its element of the rlimits array. */
#define LIMIT(name, resource, example)                                                             \
	{                                                                                          \
		"Container", "Limit" name, &kind_rlimit, parse_rlimit, SB(rlimits[resource]),      \
		    resource, .sample = example                                                    \
	}

static const char *const bind_ipv6_only_names[] = {"default", "both", "ipv6-only", NULL};
static const char *const standard_input_names[] = {"fd", "socket", NULL};
static const char *const proc_subset_names[] = {"all", "pid", NULL};
static const char *const idle_connections_names[] = {"count", "traffic", NULL};
static const char *const service_type_names[] = {"simple", "notify", NULL};

/* Every key, in the order config_dump() shows them. */
static const struct config_key config_keys[] = {
    /* One listen list, in fd order, for the three. */
    {"Socket", "ListenStream", &kind_listen, parse_listen, OFF(socket), LISTEN_STREAM,
     .sample = "127.0.0.1:8081"},
    {"Socket", "ListenDatagram", &kind_listen, parse_listen, OFF(socket), LISTEN_DATAGRAM,
     .sample = "127.0.0.1:8082"},
    {"Socket", "ListenSequentialPacket", &kind_listen, parse_listen, OFF(socket), LISTEN_SEQPACKET,
     .sample = "/run/nsinetd-sample.sock"},
    {"Socket", "Accept", &kind_bool, parse_bool, OFF(socket.accept), .sample = "yes"},
    {"Socket", "Backlog", &kind_uint, parse_number, OFF(socket.backlog), .def = 4096, .min = 1,
     .max = 65535, .sample = "10"},
    {"Socket", "FileDescriptorName", &kind_string, parse_fd_name, OFF(socket.fd_name),
     .sample = "x"},
    {"Socket", "BindIPv6Only", &kind_enum, parse_enum, OFF(socket.bind_ipv6_only),
     .def = BIND_IPV6_DEFAULT, .names = bind_ipv6_only_names, .sample = "both"},
    {"Socket", "ReusePort", &kind_bool, parse_bool, OFF(socket.reuse_port), .sample = "yes"},
    {"Socket", "FreeBind", &kind_bool, parse_bool, OFF(socket.free_bind), .sample = "yes"},
    {"Socket", "DeferAcceptSec", &kind_usec, parse_defer_accept, OFF(socket.defer_accept),
     .sample = "5s"},
    {"Socket", "SocketMode", &kind_mode, parse_socket_mode, OFF(socket.socket_mode), .def = 0666,
     .sample = "0600"},
    {"Socket", "SocketUser", &kind_string, parse_user_group, OFF(socket.socket_user), 0,
     .sample = "a"},
    {"Socket", "SocketGroup", &kind_string, parse_user_group, OFF(socket.socket_group), 1,
     .sample = "a"},
    {"Socket", "TriggerLimitIntervalSec", &kind_usec, parse_usec,
     OFF(socket.trigger_limit_interval), .def = SEC(2), .sample = "5s"},
    /* 0: DEFAULT_TRIGGER_LIMIT_BURST, or _ACCEPT with Accept=yes. */
    {"Socket", "TriggerLimitBurst", &kind_uint, parse_number, OFF(socket.trigger_limit_burst),
     .min = 1, .max = 10000, .sample = "3"},
    /* 0: DEFAULT_MAX_CONNECTIONS with Accept=yes. */
    {"Socket", "MaxConnections", &kind_uint, parse_number, OFF(socket.max_connections), .min = 1,
     .max = CONFIG_MAX_CONNECTIONS, .sample = "3"},
    {"Socket", "MaxConnectionsPerSource", &kind_uint, parse_number,
     OFF(socket.max_connections_per_source), .max = CONFIG_MAX_CONNECTIONS, .sample = "3"},
    /* 0: DEFAULT_PER_SOURCE_IPV6_PREFIX with Accept=yes. */
    {"Socket", "MaxConnectionsPerSourceIPv6Prefix", &kind_uint, parse_number,
     OFF(socket.per_source_ipv6_prefix), .min = 1, .max = 128, .sample = "56"},
    {"Container", "Directory", &kind_string, parse_path, OFF(container.directory),
     .sample = "/srv"},
    {"Container", "Image", &kind_string, parse_image, OFF(container.image),
     .sample = "/srv/images/web:1.2"},
    {"Container", "OCIBundle", &kind_string, parse_bundle, OFF(container.oci_bundle),
     .sample = "/srv/bundle"},
    {"Container", "Exec", &kind_argv, parse_exec, OFF(container.exec), .sample = "/bin/true x"},
    /* NULL: "/" (finish_defaults()). */
    {"Container", "WorkingDirectory", &kind_string, parse_path, OFF(container.working_directory),
     .sample = "/srv"},
    {"Container", "Environment", &kind_env, parse_environment, OFF(container.environment),
     .sample = "A=1"},
    {"Container", "User", &kind_string, parse_user_group, OFF(container.user), 0, .sample = "a"},
    {"Container", "Group", &kind_string, parse_user_group, OFF(container.group), 1, .sample = "a"},
    {"Container", "Hostname", &kind_string, parse_hostname, OFF(container.hostname), .sample = "x"},
    /* One list of binds, in mount order, for the two. */
    {"Container", "Bind", &kind_binds, parse_bind, OFF(container), 0, .sample = "/a:/b"},
    {"Container", "BindReadOnly", &kind_binds, parse_bind, OFF(container), 1, .sample = "/a"},
    {"Container", "TemporaryFileSystem", &kind_tmpfs, parse_tmpfs, OFF(container),
     .sample = "/a:size=1M"},
    {"Container", "ReadOnly", &kind_bool, parse_bool, OFF(container.read_only), .def = true,
     .sample = "no"},
    {"Container", "Network", &kind_network, parse_network, OFF(container), .sample = "host"},
    {"Container", "PrivateUsers", &kind_private_users, parse_private_users, OFF(container.sandbox),
     .def = PRIVATE_USERS_PICK, .sample = "no"},
    {"Container", "Capabilities", &kind_capabilities, parse_capabilities, OFF(container.sandbox),
     .sample = "CAP_CHOWN"},
    {"Container", "NoNewPrivileges", &kind_bool, parse_bool, SB(no_new_privileges), .def = true,
     .sample = "no"},
    {"Container", "SystemCallFilter", &kind_syscall_filter, parse_syscall_filter,
     OFF(container.sandbox), .sample = "~connect"},
    /* 0: EPERM. */
    {"Container", "SystemCallErrorNumber", &kind_errno, parse_syscall_error_number,
     SB(syscall_error_number), .sample = "EACCES"},
    {"Container", "OOMScoreAdjust", &kind_oom_score, parse_oom_score_adjust, SB(oom_score_adjust),
     .sample = "500"},
    /* native only: nothing to store. */
    {"Container", "SystemCallArchitectures", &kind_none, parse_syscall_architectures},
    LIMIT("CPU", RLIMIT_CPU, "10"),
    LIMIT("FSIZE", RLIMIT_FSIZE, "1048576"),
    LIMIT("DATA", RLIMIT_DATA, "1048576:2097152"),
    LIMIT("STACK", RLIMIT_STACK, "1048576"),
    LIMIT("CORE", RLIMIT_CORE, "0"),
    LIMIT("RSS", RLIMIT_RSS, "1048576"),
    LIMIT("NOFILE", RLIMIT_NOFILE, "100:200"),
    LIMIT("AS", RLIMIT_AS, "1073741824"),
    /* Unset: CONFIG_DEFAULT_LIMIT_NPROC or more (sandbox_finish()). */
    LIMIT("NPROC", RLIMIT_NPROC, "16"),
    LIMIT("MEMLOCK", RLIMIT_MEMLOCK, "65536"),
    LIMIT("LOCKS", RLIMIT_LOCKS, "10"),
    LIMIT("SIGPENDING", RLIMIT_SIGPENDING, "10"),
    LIMIT("MSGQUEUE", RLIMIT_MSGQUEUE, "8192"),
    LIMIT("NICE", RLIMIT_NICE, "10"),
    LIMIT("RTPRIO", RLIMIT_RTPRIO, "1"),
    LIMIT("RTTIME", RLIMIT_RTTIME, "1ms"),
    {"Container", "MemoryMax", &kind_u64, parse_cgroup_bytes, SB(memory_max),
     .sample = "536870912"},
    {"Container", "MemoryHigh", &kind_u64, parse_cgroup_bytes, SB(memory_high),
     .sample = "268435456"},
    {"Container", "TasksMax", &kind_u64, parse_tasks_max, SB(tasks_max), .sample = "32"},
    {"Container", "CPUWeight", &kind_uint, parse_cgroup_weight, SB(cpu_weight), .min = 1,
     .max = 10000, .sample = "50"},
    {"Container", "CPUQuota", &kind_percent, parse_cpu_quota, SB(cpu_quota), .sample = "50%"},
    {"Container", "IOWeight", &kind_uint, parse_cgroup_weight, SB(io_weight), .min = 1,
     .max = 10000, .sample = "50"},
    {"Container", "StandardInput", &kind_enum, parse_enum, OFF(container.standard_input),
     .def = STANDARD_INPUT_FD, .names = standard_input_names, .sample = "socket"},
    {"Container", "ProcSubset", &kind_enum, parse_enum, OFF(container.proc_subset),
     .def = PROC_SUBSET_ALL, .names = proc_subset_names, .sample = "pid"},
    {"Container", "PoolSize", &kind_uint, parse_number, OFF(container.pool_size),
     .max = CONFIG_MAX_POOL, .sample = "2"},
    {"Container", "Prepare", &kind_bool, parse_prepare, OFF(container.prepare), .sample = "yes"},
    {"Container", "Boot", &kind_bool, parse_bool, OFF(container.boot), .sample = "yes"},
    {"Container", "Ephemeral", &kind_bool, parse_bool, OFF(container.ephemeral), .sample = "yes"},
    {"Container", "Address", &kind_prefixes, parse_address, OFF(container.address), 0,
     .sample = "10.1.0.2/30"},
    {"Container", "HostAddress", &kind_prefixes, parse_address, OFF(container.host_address), 1,
     .sample = "10.1.0.1/30"},
    /* Unset: NETWORK_POOL_V4/V6 (finish_defaults()). */
    {"Container", "AddressPool", &kind_prefixes, parse_address, OFF(container.address_pool), 2,
     .sample = "10.90.0.0/16"},
    {"Container", "Bridge", &kind_string, parse_bridge, OFF(container.bridge), .sample = "br0"},
    {"Service", "StopTimeoutSec", &kind_usec, parse_usec, OFF(service.stop_timeout), .def = SEC(10),
     .min = 1, .sample = "5s"},
    {"Service", "KillSignal", &kind_signal, parse_kill_signal, OFF(service.kill_signal),
     .def = SIGTERM, .sample = "SIGINT"},
    {"Service", "StartLimitIntervalSec", &kind_usec, parse_usec, OFF(service.start_limit_interval),
     .def = SEC(10), .sample = "5s"},
    {"Service", "StartLimitBurst", &kind_uint, parse_number, OFF(service.start_limit_burst),
     .def = 5, .min = 1, .max = 10000, .sample = "6"},
    {"Service", "IdleFreezeSec", &kind_usec, parse_usec, OFF(service.idle_freeze), .sample = "5s"},
    {"Service", "IdleStopSec", &kind_usec, parse_usec, OFF(service.idle_stop), .sample = "5s"},
    {"Service", "IdleCPUPercent", &kind_centi_percent, parse_cpu_percent,
     OFF(service.idle_cpu_centi), .def = 100, .sample = "2.50%"},
    {"Service", "IdleConnections", &kind_enum, parse_enum, OFF(service.idle_connections),
     .def = IDLE_CONNECTIONS_COUNT, .names = idle_connections_names, .sample = "traffic"},
    {"Service", "RuntimeMaxSec", &kind_usec, parse_usec, OFF(service.runtime_max),
     .def = USEC_INFINITY, .min = 1, .sample = "5s"},
    {"Service", "Type", &kind_enum, parse_enum, OFF(service.type), .def = SERVICE_TYPE_SIMPLE,
     .names = service_type_names, .sample = "notify"},
    {"Service", "StartTimeoutSec", &kind_usec, parse_usec, OFF(service.start_timeout),
     .def = SEC(90), .min = 1, .sample = "5s"},
    {"Service", "WatchdogSec", &kind_usec, parse_usec, OFF(service.watchdog), .sample = "5s"},
};

/* Planned keys: a clear "not yet" rather than "unknown" ("Section.Key",
 * NULL-terminated; none at present). */
static const char *const unsupported_keys[] = {
    NULL,
};

static const char *const sections[] = {"Socket", "Container", "Service"};

static bool key_is_unsupported(const char *section, const char *key)
{
	size_t n = strlen(section);

	for (size_t i = 0; unsupported_keys[i]; i++)
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
			p->value = value;
			k->parse(p, k, value);
			p->value = NULL;
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
	for (size_t i = 0; i < ELEMENTSOF(config_keys); i++) {
		const struct config_key *k = &config_keys[i];

		if (k->kind->init)
			k->kind->init((char *)c + k->offset, k);
	}
	return c;
}

/* The defaults that depend on other keys (Accept=, MaxConnections=) or on
 * the name. Returns 0 or -ENOMEM. */
static int finish_defaults(struct service_config *c)
{
	struct socket_config *sc = &c->socket;
	struct container_config *cc = &c->container;
	static const char *const pool_default[2] = {NETWORK_POOL_V4, NETWORK_POOL_V6};
	const char *fallback = DEFAULT_HOSTNAME;

	if (sc->accept) {
		if (!sc->max_connections)
			sc->max_connections = DEFAULT_MAX_CONNECTIONS;
		if (!sc->per_source_ipv6_prefix)
			sc->per_source_ipv6_prefix = DEFAULT_PER_SOURCE_IPV6_PREFIX;
		if (!sc->trigger_limit_burst)
			sc->trigger_limit_burst = DEFAULT_TRIGGER_LIMIT_BURST_ACCEPT;
		cc->prepare = false;
	} else if (!sc->trigger_limit_burst) {
		sc->trigger_limit_burst = DEFAULT_TRIGGER_LIMIT_BURST;
	}
	sandbox_finish(&cc->sandbox, sc);
	for (int f = 0; f < 2; f++)
		if (!cc->address_pool[f].family)
			(void)netns_prefix_parse(pool_default[f], 30, 64, &cc->address_pool[f]);
	if (!sc->fd_name)
		sc->fd_name = strdup(fd_name_is_valid(c->name) ? c->name : fallback);
	if (!cc->hostname)
		cc->hostname = strdup(hostname_is_valid(c->name) ? c->name : fallback);
	/* With Image= or OCIBundle=, unset: the image's, else "/". */
	if (!cc->working_directory && !cc->image && !cc->oci_bundle)
		cc->working_directory = strdup("/");
	return sc->fd_name && cc->hostname && (cc->working_directory || cc->image || cc->oci_bundle)
		   ? 0
		   : -ENOMEM;
}

/* The Accept=yes keys: what they need. */
static void finish_accept(struct parser *p)
{
	struct service_config *c = p->c;
	struct socket_config *sc = &c->socket;

	if (sc->accept) {
		unsigned max = sc->max_connections ? sc->max_connections : DEFAULT_MAX_CONNECTIONS;

		for (size_t i = 0; i < sc->n_listen; i++)
			if (sc->listen[i].type == LISTEN_DATAGRAM)
				perr(p,
				     "Accept=yes with ListenDatagram=%s (line %u): a datagram "
				     "socket has no connections to accept (use Accept=no)",
				     sc->listen[i].text, sc->listen[i].line);
		if (c->container.pool_size > max)
			perr(p, "PoolSize=%u is more than MaxConnections=%u",
			     c->container.pool_size, max);
		if (c->service.idle_freeze)
			perr(p, "IdleFreezeSec= needs Accept=no (a sandbox serves one connection: "
				"IdleStopSec= ends one whose connection is silent)");
		if (c->container.network == NETWORK_VETH)
			perr(p, "Network=veth with Accept=yes is not supported (one veth pair per "
				"service): use Network=none, shared-empty, host or netns:NAME");
		if (c->container.prepare_set && c->container.prepare)
			perr(p, "Prepare=yes needs Accept=no (with Accept=yes, PoolSize= keeps "
				"sandboxes set up ahead)");
		if (c->service.type == SERVICE_TYPE_NOTIFY)
			perr(p, "Type=notify needs Accept=no (a sandbox serves the connection it "
				"was started for)");
		if (c->service.watchdog)
			perr(p, "WatchdogSec= needs Accept=no (RuntimeMaxSec= bounds a sandbox)");
		return;
	}
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

/* Checks across the [Container] keys whose order in the file is free. */
static void finish_container(struct parser *p)
{
	const struct container_config *cc = &p->c->container;

	if (cc->ephemeral && !cc->directory)
		perr(p, "Ephemeral=yes needs Directory= (the tree to lay a tmpfs over)");
	if (cc->sandbox.private_users != PRIVATE_USERS_NO)
		return;
	for (size_t i = 0; i < cc->n_binds; i++)
		if (cc->binds[i].idmap)
			perr(p,
			     "%s=%s: option 'idmap' needs a user namespace (PrivateUsers=no "
			     "is set)",
			     cc->binds[i].read_only ? "BindReadOnly" : "Bind", cc->binds[i].source);
}

/*
 * Boot=yes (docs/nsinetd.conf.5.md, Boot=): an init as pid
 * 1 of a Directory= tree, in a user namespace; Type=notify (the init's
 * READY=1), KillSignal=SIGRTMIN+3 unless set (systemd's halt: SIGTERM only
 * makes it re-execute), Exec=/sbin/init unless set. Before the required
 * keys are checked: Exec= may be left out.
 */
static int boot_defaults(struct service_config *c)
{
	if (!c->container.boot)
		return 0;
	/* (Accept=yes is an error: no second one about Type=notify.) */
	if (!c->socket.accept)
		c->service.type = SERVICE_TYPE_NOTIFY;
	if (!c->service.kill_signal_set)
		c->service.kill_signal = SIGRTMIN + 3;
	if (!c->container.exec)
		return strv_push(&c->container.exec, "/sbin/init");
	return 0;
}

static void finish_boot(struct parser *p)
{
	struct service_config *c = p->c;

	if (!c->container.boot)
		return;
	if (!c->container.directory)
		perr(p, "Boot=yes needs Directory= (the tree to boot)");
	if (c->socket.accept)
		perr(p, "Boot=yes needs Accept=no (one booted container serves every connection)");
	if (c->container.sandbox.private_users == PRIVATE_USERS_NO)
		perr(p, "Boot=yes needs a user namespace (PrivateUsers=no is set): the init gets "
			"CAP_SYS_ADMIN, which must not be the host's");
	if (c->container.standard_input == STANDARD_INPUT_SOCKET)
		perr(p, "Boot=yes with StandardInput=socket: the init gets listening sockets");
	if (c->container.proc_subset == PROC_SUBSET_PID)
		perr(p, "Boot=yes with ProcSubset=pid: an init needs the whole of /proc "
			"(/proc/sys, /proc/cmdline, /proc/meminfo)");
	if (c->container.user || c->container.group)
		perr(p,
		     "Boot=yes with %s=: the init runs as the container's root (its services "
		     "choose their users)",
		     c->container.user ? "User" : "Group");
	if (boot_defaults(c) < 0)
		oom(p);
}

/* What Network=veth's keys mean together. */
static void finish_network(struct parser *p)
{
	struct container_config *c = &p->c->container;
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

/* Required keys, checks across sections, then the defaults that depend on
 * other keys. */
static void finish(struct parser *p)
{
	struct service_config *c = p->c;

	p->line = 0;
	if (!!c->container.directory + !!c->container.image + !!c->container.oci_bundle > 1)
		perr(p, "Directory=, Image= and OCIBundle= each name the root: set one of them");
	finish_boot(p);
	if (!c->container.exec && !c->container.image && !c->container.oci_bundle)
		perr(p, "Exec= is missing");
	if (c->container.image && !c->container.read_only)
		perr(p, "ReadOnly=no with Image=: the unpacked image is shared by every service "
			"that uses it (use Bind= or TemporaryFileSystem= for what it writes)");
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
	finish_network(p);
	if (finish_defaults(c) < 0)
		oom(p);
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
		finish(&p);
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

/* Freeing, comparing and showing: loops over the table */

/* Whether k is the first row of its storage (the one that frees, compares
 * and dumps it): keys of one kind at one offset share it. */
static bool key_owns_storage(const struct config_key *k)
{
	for (const struct config_key *o = config_keys; o < k; o++)
		if (o->kind == k->kind && o->offset == k->offset)
			return false;
	return true;
}

void config_keys_sharing(const struct config_key *k,
			 void (*fn)(const struct config_key *row, void *userdata), void *userdata)
{
	for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
		if (config_keys[i].kind == k->kind && config_keys[i].offset == k->offset)
			fn(&config_keys[i], userdata);
}

struct service_config *config_free(struct service_config *c)
{
	if (!c)
		return NULL;
	free(c->name);
	free(c->path);
	for (size_t i = 0; i < ELEMENTSOF(config_keys); i++) {
		const struct config_key *k = &config_keys[i];

		if (k->kind->free && key_owns_storage(k))
			k->kind->free((char *)c + k->offset, k);
	}
	free(c);
	return NULL;
}

void config_free_array(struct service_config **a, size_t n)
{
	for (size_t i = 0; a && i < n; i++)
		config_free(a[i]);
	free(a);
}

bool config_listen_equal(const struct listen_config *a, const struct listen_config *b)
{
	return a->type == b->type && socket_address_equal(&a->address, &b->address);
}

static bool key_equal(const struct config_key *k, const struct service_config *a,
		      const struct service_config *b)
{
	return k->kind->equal((const char *)a + k->offset, (const char *)b + k->offset, k);
}

bool config_equal(const struct service_config *a, const struct service_config *b)
{
	if (a == b)
		return true;
	if (!a || !b)
		return false;
	/* The path and the lines are where, not what: not compared. */
	if (!streq_ptr(a->name, b->name))
		return false;
	for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
		if (key_owns_storage(&config_keys[i]) && !key_equal(&config_keys[i], a, b))
			return false;
	return true;
}

struct config_dumper {
	config_dump_fn emit;
	void *userdata;
};

void config_dump_value(struct config_dumper *d, const struct config_key *k, const char *key,
		       const char *value, bool is_default)
{
	d->emit(d->userdata, k->section, key, value, is_default);
}

/* What a file that sets none of c's keys but Accept= and Boot= gets: the
 * reference for is_default (the defaults that depend on them follow). */
static struct service_config *config_defaults_new(const struct service_config *c)
{
	struct service_config *d = service_config_new(c->path, c->name);

	if (!d)
		return NULL;
	d->socket.accept = c->socket.accept;
	d->container.boot = c->container.boot;
	if (boot_defaults(d) < 0 || finish_defaults(d) < 0)
		return config_free(d);
	return d;
}

void config_dump(const struct service_config *c, config_dump_fn emit, void *userdata)
{
	_cleanup_free_ char *buf = malloc(CONFIG_DUMP_MAX);
	struct service_config *defaults = config_defaults_new(c);
	struct config_dumper d = {.emit = emit, .userdata = userdata};

	for (size_t i = 0; buf && i < ELEMENTSOF(config_keys); i++) {
		const struct config_key *k = &config_keys[i];
		const void *v = (const char *)c + k->offset;
		/* Accept= itself, which the defaults follow, is at its
		 * default when no. */
		bool is_default = k->offset == OFF(socket.accept) ? !c->socket.accept
				  : k->offset == OFF(container.boot)
				      ? !c->container.boot
				      : defaults && key_equal(k, c, defaults);

		if (!key_owns_storage(k))
			continue;
		if (k->kind->dump) {
			k->kind->dump(v, k, is_default, &d);
			continue;
		}
		k->kind->format(v, k, buf, CONFIG_DUMP_MAX);
		emit(userdata, k->section, k->key, buf, is_default);
	}
	config_free(defaults);
}

size_t config_key_count(void)
{
	return ELEMENTSOF(config_keys);
}

const char *config_key_name(size_t i, const char **ret_section, const char **ret_sample)
{
	if (i >= ELEMENTSOF(config_keys))
		return NULL;
	if (ret_section)
		*ret_section = config_keys[i].section;
	if (ret_sample)
		*ret_sample = config_keys[i].sample;
	return config_keys[i].key;
}
