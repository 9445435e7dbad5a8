/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kinds of value a key of config_keys[] holds (config-internal.h): how
 * each starts, is freed, compared and written back in the file's syntax.
 * The sandbox's own kinds are in config-sandbox.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strv.h"
#include "supervisor/config-internal.h"

bool streq_ptr(const char *a, const char *b)
{
	return (a && b) ? strcmp(a, b) == 0 : a == b;
}

/* Scalars of one C type: equal when their bytes are (no padding). */
#define SCALAR_EQUAL(name, type)                                                                   \
	static bool name(const void *a, const void *b, const struct config_key *k)                 \
	{                                                                                          \
		return *(const type *)a == *(const type *)b;                                       \
	}

SCALAR_EQUAL(bool_equal, bool)
SCALAR_EQUAL(unsigned_equal, unsigned)
SCALAR_EQUAL(int_equal, int)
SCALAR_EQUAL(u64_equal, uint64_t)
SCALAR_EQUAL(mode_equal, mode_t)

static void bool_init(void *v, const struct config_key *k)
{
	*(bool *)v = k->def != 0;
}

static void bool_format(const void *v, const struct config_key *k, char *buf, size_t len)
{
	snprintf(buf, len, "%s", *(const bool *)v ? "yes" : "no");
}

const struct config_kind kind_bool = {
    .init = bool_init, .equal = bool_equal, .format = bool_format};

static void unsigned_init(void *v, const struct config_key *k)
{
	*(unsigned *)v = (unsigned)k->def;
}

/* 0 below the minimum is "unset": the empty value. */
static void uint_format(const void *v, const struct config_key *k, char *buf, size_t len)
{
	unsigned u = *(const unsigned *)v;

	if (u == 0 && k->min > 0)
		snprintf(buf, len, "%s", "");
	else
		snprintf(buf, len, "%u", u);
}

const struct config_kind kind_uint = {
    .init = unsigned_init, .equal = unsigned_equal, .format = uint_format};

static void u64_init(void *v, const struct config_key *k)
{
	*(uint64_t *)v = k->def;
}

static void usec_format(const void *v, const struct config_key *k, char *buf, size_t len)
{
	format_duration(buf, len, *(const usec_t *)v);
}

const struct config_kind kind_usec = {.init = u64_init, .equal = u64_equal, .format = usec_format};

/* A uint64_t, 0 unset, UINT64_MAX infinity (MemoryMax=, TasksMax=). */
static void u64_format(const void *v, const struct config_key *k, char *buf, size_t len)
{
	uint64_t u = *(const uint64_t *)v;

	if (u == 0)
		snprintf(buf, len, "%s", "");
	else if (u == UINT64_MAX)
		snprintf(buf, len, "infinity");
	else
		snprintf(buf, len, "%llu", (unsigned long long)u);
}

const struct config_kind kind_u64 = {.init = u64_init, .equal = u64_equal, .format = u64_format};

static void mode_init(void *v, const struct config_key *k)
{
	*(mode_t *)v = (mode_t)k->def;
}

static void mode_format(const void *v, const struct config_key *k, char *buf, size_t len)
{
	snprintf(buf, len, "%04o", (unsigned)*(const mode_t *)v);
}

const struct config_kind kind_mode = {
    .init = mode_init, .equal = mode_equal, .format = mode_format};

static void int_init(void *v, const struct config_key *k)
{
	*(int *)v = (int)k->def;
}

static void signal_format(const void *v, const struct config_key *k, char *buf, size_t len)
{
	snprintf(buf, len, "%s", signal_to_string(*(const int *)v));
}

const struct config_kind kind_signal = {
    .init = int_init, .equal = int_equal, .format = signal_format};

/* An enum stored as an int, its names in k->names. */
static void enum_format(const void *v, const struct config_key *k, char *buf, size_t len)
{
	snprintf(buf, len, "%s", k->names[*(const int *)v]);
}

const struct config_kind kind_enum = {.init = int_init, .equal = int_equal, .format = enum_format};

/* IdleCPUPercent=: hundredths of a percent. */
static void centi_percent_format(const void *v, const struct config_key *k, char *buf, size_t len)
{
	unsigned u = *(const unsigned *)v;

	if (u % 100)
		snprintf(buf, len, "%u.%02u%%", u / 100, u % 100);
	else
		snprintf(buf, len, "%u%%", u / 100);
}

const struct config_kind kind_centi_percent = {
    .init = unsigned_init, .equal = unsigned_equal, .format = centi_percent_format};

/* CPUQuota=: percent, 0 unset. */
static void percent_format(const void *v, const struct config_key *k, char *buf, size_t len)
{
	unsigned u = *(const unsigned *)v;

	snprintf(buf, len, u ? "%u%%" : "", u);
}

const struct config_kind kind_percent = {.equal = unsigned_equal, .format = percent_format};

/* SystemCallArchitectures=: nothing stored, its one value. */
static bool none_equal(const void *a, const void *b, const struct config_key *k)
{
	return true;
}

static void none_format(const void *v, const struct config_key *k, char *buf, size_t len)
{
	snprintf(buf, len, "native");
}

const struct config_kind kind_none = {.equal = none_equal, .format = none_format};

/* Strings */

static void string_free(void *v, const struct config_key *k)
{
	char **s = v;

	free(*s);
	*s = NULL;
}

static bool string_equal(const void *a, const void *b, const struct config_key *k)
{
	return streq_ptr(*(char *const *)a, *(char *const *)b);
}

static void string_format(const void *v, const struct config_key *k, char *buf, size_t len)
{
	const char *s = *(char *const *)v;

	snprintf(buf, len, "%s", s ? s : "");
}

const struct config_kind kind_string = {
    .free = string_free, .equal = string_equal, .format = string_format};

/* One word as strv_split_quoted() reads it back: bare when it can be, in
 * single quotes (nothing escaped) when it has none, else in double quotes
 * with '"' and '\' escaped. */
static void quote_word(char *buf, size_t len, const char *w)
{
	size_t n = strlen(buf);

	if (*w && !strpbrk(w, " \t\n\"'\\")) {
		snprintf(buf + n, len - n, "%s", w);
		return;
	}
	if (!strchr(w, '\'')) {
		snprintf(buf + n, len - n, "'%s'", w);
		return;
	}
	if (n + 1 < len)
		buf[n++] = '"';
	for (; *w && n + 2 < len; w++) {
		if (*w == '"' || *w == '\\')
			buf[n++] = '\\';
		buf[n++] = *w;
	}
	if (n + 1 < len)
		buf[n++] = '"';
	buf[n] = '\0';
}

static void strv_free_at(void *v, const struct config_key *k)
{
	char ***l = v;

	*l = strv_free(*l);
}

static bool strv_equal_at(const void *a, const void *b, const struct config_key *k)
{
	return strv_equal(*(char **const *)a, *(char **const *)b);
}

/* Exec=: one value, its words quoted. */
static void argv_format(const void *v, const struct config_key *k, char *buf, size_t len)
{
	bool first = true;

	buf[0] = '\0';
	STRV_FOREACH (w, *(char **const *)v) {
		if (!first)
			strncat(buf, " ", len - strlen(buf) - 1);
		quote_word(buf, len, *w);
		first = false;
	}
}

const struct config_kind kind_argv = {
    .free = strv_free_at, .equal = strv_equal_at, .format = argv_format};

/* Lists */

static void dump_empty(const struct config_key *k, struct config_dumper *d)
{
	config_dump_value(d, k, k->key, "", true);
}

/* Environment=: one assignment a value. */
static void env_dump(const void *v, const struct config_key *k, bool is_default,
		     struct config_dumper *d)
{
	char buf[CONFIG_DUMP_MAX];

	if (is_default) {
		dump_empty(k, d);
		return;
	}
	STRV_FOREACH (w, *(char **const *)v) {
		buf[0] = '\0';
		quote_word(buf, sizeof(buf), *w);
		config_dump_value(d, k, k->key, buf, false);
	}
}

const struct config_kind kind_env = {
    .free = strv_free_at, .equal = strv_equal_at, .dump = env_dump};

/* The rows of a shared list whose kind of element is absent: "" each,
 * before any element, as an empty value empties the whole list. */
struct shared_dump {
	struct config_dumper *d;
	bool (*has)(const void *v, const struct config_key *row);
	const void *v;
};

static void dump_if_absent(const struct config_key *row, void *userdata)
{
	struct shared_dump *sd = userdata;

	if (!sd->has(sd->v, row))
		dump_empty(row, sd->d);
}

/* The row of a shared list that an element's data (a type) belongs to. */
struct find_row {
	int data;
	const struct config_key *row;
};

static void find_row_cb(const struct config_key *row, void *userdata)
{
	struct find_row *f = userdata;

	if (row->data == f->data)
		f->row = row;
}

static const struct config_key *row_for(const struct config_key *k, int data)
{
	struct find_row f = {.data = data, .row = k};

	config_keys_sharing(k, find_row_cb, &f);
	return f.row;
}

/* ListenStream=, ListenDatagram=, ListenSequentialPacket=: the socket
 * config's list, each element as written, under its type's key. */
void listen_clear(struct socket_config *s)
{
	for (size_t i = 0; i < s->n_listen; i++)
		free(s->listen[i].text);
	free(s->listen);
	s->listen = NULL;
	s->n_listen = 0;
}

static void listen_free(void *v, const struct config_key *k)
{
	listen_clear(v);
}

static bool listen_equal(const void *a, const void *b, const struct config_key *k)
{
	const struct socket_config *x = a, *y = b;

	if (x->n_listen != y->n_listen)
		return false;
	for (size_t i = 0; i < x->n_listen; i++)
		if (!config_listen_equal(&x->listen[i], &y->listen[i]))
			return false;
	return true;
}

static bool listen_has(const void *v, const struct config_key *row)
{
	const struct socket_config *s = v;

	for (size_t i = 0; i < s->n_listen; i++)
		if ((int)s->listen[i].type == row->data)
			return true;
	return false;
}

static void listen_dump(const void *v, const struct config_key *k, bool is_default,
			struct config_dumper *d)
{
	const struct socket_config *s = v;
	struct shared_dump sd = {.d = d, .has = listen_has, .v = v};

	config_keys_sharing(k, dump_if_absent, &sd);
	for (size_t i = 0; i < s->n_listen; i++)
		config_dump_value(d, k, row_for(k, (int)s->listen[i].type)->key, s->listen[i].text,
				  false);
}

const struct config_kind kind_listen = {
    .free = listen_free, .equal = listen_equal, .dump = listen_dump};

/* Bind=, BindReadOnly=: the container config's binds, each under
 * BindReadOnly= if read-only (data 1), else Bind= (data 0). */
void binds_clear(struct container_config *c)
{
	for (size_t i = 0; i < c->n_binds; i++) {
		free(c->binds[i].source);
		free(c->binds[i].target);
	}
	free(c->binds);
	c->binds = NULL;
	c->n_binds = 0;
}

static void binds_free(void *v, const struct config_key *k)
{
	binds_clear(v);
}

static bool binds_equal(const void *a, const void *b, const struct config_key *k)
{
	const struct container_config *x = a, *y = b;

	if (x->n_binds != y->n_binds)
		return false;
	for (size_t i = 0; i < x->n_binds; i++) {
		const struct bind_config *p = &x->binds[i], *q = &y->binds[i];

		if (!streq_ptr(p->source, q->source) || !streq_ptr(p->target, q->target) ||
		    p->read_only != q->read_only || p->optional != q->optional ||
		    p->idmap != q->idmap || p->suid != q->suid)
			return false;
	}
	return true;
}

static bool binds_has(const void *v, const struct config_key *row)
{
	const struct container_config *c = v;

	for (size_t i = 0; i < c->n_binds; i++)
		if (c->binds[i].read_only == (row->data != 0))
			return true;
	return false;
}

/* A path with ':' and '\' escaped, as split_colons() undoes. */
static void escape_colons(char *buf, size_t len, const char *s)
{
	size_t n = strlen(buf);

	for (; *s && n + 2 < len; s++) {
		if (*s == ':' || *s == '\\')
			buf[n++] = '\\';
		buf[n++] = *s;
	}
	buf[n] = '\0';
}

static void bind_format(const struct bind_config *b, char *buf, size_t len)
{
	const char *opts = b->idmap && b->suid ? "idmap,suid" : b->idmap ? "idmap" : "suid";

	snprintf(buf, len, "%s", b->optional ? "-" : "");
	escape_colons(buf, len, b->source);
	if (strcmp(b->source, b->target) == 0 && !b->idmap && !b->suid)
		return;
	strncat(buf, ":", len - strlen(buf) - 1);
	escape_colons(buf, len, b->target);
	if (b->idmap || b->suid) {
		strncat(buf, ":", len - strlen(buf) - 1);
		strncat(buf, opts, len - strlen(buf) - 1);
	}
}

static void binds_dump(const void *v, const struct config_key *k, bool is_default,
		       struct config_dumper *d)
{
	const struct container_config *c = v;
	struct shared_dump sd = {.d = d, .has = binds_has, .v = v};
	char buf[CONFIG_DUMP_MAX];

	config_keys_sharing(k, dump_if_absent, &sd);
	for (size_t i = 0; i < c->n_binds; i++) {
		bind_format(&c->binds[i], buf, sizeof(buf));
		config_dump_value(d, k, row_for(k, c->binds[i].read_only)->key, buf, false);
	}
}

const struct config_kind kind_binds = {
    .free = binds_free, .equal = binds_equal, .dump = binds_dump};

/* TemporaryFileSystem=: the container config's tmpfs list. */
void tmpfs_clear(struct container_config *c)
{
	for (size_t i = 0; i < c->n_tmpfs; i++) {
		free(c->tmpfs[i].target);
		free(c->tmpfs[i].options);
	}
	free(c->tmpfs);
	c->tmpfs = NULL;
	c->n_tmpfs = 0;
}

static void tmpfs_free(void *v, const struct config_key *k)
{
	tmpfs_clear(v);
}

static bool tmpfs_equal(const void *a, const void *b, const struct config_key *k)
{
	const struct container_config *x = a, *y = b;

	if (x->n_tmpfs != y->n_tmpfs)
		return false;
	for (size_t i = 0; i < x->n_tmpfs; i++)
		if (!streq_ptr(x->tmpfs[i].target, y->tmpfs[i].target) ||
		    !streq_ptr(x->tmpfs[i].options, y->tmpfs[i].options))
			return false;
	return true;
}

static void tmpfs_dump(const void *v, const struct config_key *k, bool is_default,
		       struct config_dumper *d)
{
	const struct container_config *c = v;
	char buf[CONFIG_DUMP_MAX];

	if (is_default) {
		dump_empty(k, d);
		return;
	}
	for (size_t i = 0; i < c->n_tmpfs; i++) {
		snprintf(buf, sizeof(buf), "%s%s%s", c->tmpfs[i].target,
			 c->tmpfs[i].options ? ":" : "",
			 c->tmpfs[i].options ? c->tmpfs[i].options : "");
		config_dump_value(d, k, k->key, buf, false);
	}
}

const struct config_kind kind_tmpfs = {
    .free = tmpfs_free, .equal = tmpfs_equal, .dump = tmpfs_dump};

/* Network=: the mode, and the name of netns:NAME. */
static const char *const network_names[] = {
    [NETWORK_NONE] = "none",
    [NETWORK_HOST] = "host",
    [NETWORK_VETH] = "veth",
    [NETWORK_NETNS] = "netns:",
    [NETWORK_SHARED_EMPTY] = "shared-empty",
};

static void network_free(void *v, const struct config_key *k)
{
	struct container_config *c = v;

	free(c->netns_name);
	c->netns_name = NULL;
}

static bool network_equal(const void *a, const void *b, const struct config_key *k)
{
	const struct container_config *x = a, *y = b;

	return x->network == y->network && streq_ptr(x->netns_name, y->netns_name);
}

static void network_format(const void *v, const struct config_key *k, char *buf, size_t len)
{
	const struct container_config *c = v;

	snprintf(buf, len, "%s%s", network_names[c->network],
		 c->network == NETWORK_NETNS && c->netns_name ? c->netns_name : "");
}

const struct config_kind kind_network = {
    .free = network_free, .equal = network_equal, .format = network_format};

/* Address=, HostAddress=, AddressPool=: [IPv4, IPv6], family 0 unset. */
static bool prefixes_equal(const void *a, const void *b, const struct config_key *k)
{
	const struct netns_prefix *x = a, *y = b;

	/* Not memcmp: padding. */
	for (int f = 0; f < 2; f++)
		if (x[f].family != y[f].family || x[f].prefixlen != y[f].prefixlen ||
		    (x[f].family && !netns_prefix_same_address(&x[f], &y[f])))
			return false;
	return true;
}

static void prefixes_dump(const void *v, const struct config_key *k, bool is_default,
			  struct config_dumper *d)
{
	const struct netns_prefix *p = v;
	char buf[64];

	if (is_default || (!p[0].family && !p[1].family)) {
		config_dump_value(d, k, k->key, "", is_default);
		return;
	}
	for (int f = 0; f < 2; f++)
		if (p[f].family)
			config_dump_value(d, k, k->key,
					  netns_prefix_format(&p[f], buf, sizeof(buf)), false);
}

const struct config_kind kind_prefixes = {.equal = prefixes_equal, .dump = prefixes_dump};
