/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the parser (config.c) and the key parsers of other files
 * (config-sandbox.c). Not public API. */
#pragma once

#include "supervisor/config.h"

struct parser {
	const char *path; /* for messages */
	struct config_errors *errs;
	unsigned n_errors;
	bool gave_up; /* CONFIG_MAX_ERRORS reached */
	int fatal;    /* -ENOMEM: stop */
	struct service_config *c;

	/* The line reader. */
	const char *text;
	size_t size, pos;
	unsigned line;
	bool skip_section; /* in an unknown or malformed section: ignore its keys */
	const char *value; /* the value being parsed (perr() looks for a comment in it) */
};

/* The longest value config_dump() shows: a line, quoted. */
#define CONFIG_DUMP_MAX (3 * CONFIG_MAX_LINE)

struct config_key;
typedef void (*key_parser)(struct parser *p, const struct config_key *k, const char *value);

/*
 * How a kind of value lives in struct service_config: how it starts, is
 * freed, compared and shown. config_free(), config_equal() and
 * config_dump() are loops over config_keys[] calling these, so that no key
 * can be left out of a reload's comparison. v points at the key's offset.
 */
struct config_dumper;
struct config_kind {
	/* Sets the value a file without the key gets; NULL: zero. */
	void (*init)(void *v, const struct config_key *k);
	/* Frees what the value owns; NULL: nothing. */
	void (*free)(void *v, const struct config_key *k);
	bool (*equal)(const void *a, const void *b, const struct config_key *k);
	/* A single value: its text in the file's syntax. */
	void (*format)(const void *v, const struct config_key *k, char *buf, size_t len);
	/* A list, instead of format: emits each element (config_dump_value()),
	 * or once "" when the list is at its default (is_default). */
	void (*dump)(const void *v, const struct config_key *k, bool is_default,
		     struct config_dumper *d);
};

/*
 * One key: its name, the kind of its value and where it lives, its parser,
 * its default and limits, and a valid value other than the default (the
 * unit test parses it, compares and dumps it). Keys of one kind at one
 * offset share their storage (ListenStream= and its siblings share the
 * listen list, Bind= and BindReadOnly= the binds): the first of them
 * frees, compares and dumps it.
 */
struct config_key {
	const char *section;
	const char *key;
	const struct config_kind *kind;
	key_parser parse;
	size_t offset; /* of the value in struct service_config */
	int data;      /* the parser's and the kind's: a type, a resource */
	uint64_t def;  /* the default of a number, a duration, a boolean, an enum */
	uint64_t min;  /* limits of a number or a duration */
	uint64_t max;
	const char *const *names; /* an enum's names, by value, NULL-terminated */
	const char *sample;
};

/* Emits one value of key k (a list's element under its own key name). */
void config_dump_value(struct config_dumper *d, const struct config_key *k, const char *key,
		       const char *value, bool is_default);
/* The rows that share k's storage, in table order: each calls fn. */
void config_keys_sharing(const struct config_key *k,
			 void (*fn)(const struct config_key *row, void *userdata), void *userdata);

/* config-kind.c: the general kinds. */
extern const struct config_kind kind_bool, kind_uint, kind_usec, kind_mode, kind_signal, kind_enum,
    kind_string, kind_argv, kind_env, kind_listen, kind_binds, kind_tmpfs, kind_network,
    kind_prefixes, kind_centi_percent, kind_u64, kind_percent, kind_none;
/* Empty lists, as an empty value of their key does. */
void listen_clear(struct socket_config *s);
void binds_clear(struct container_config *c);
void tmpfs_clear(struct container_config *c);
bool streq_ptr(const char *a, const char *b);

/* config-sandbox.c: the sandbox kinds. */
extern const struct config_kind kind_private_users, kind_capabilities, kind_syscall_filter,
    kind_errno, kind_rlimit, kind_oom_score;

#define FIELD(p, offset, type) ((type *)((char *)(p)->c + (offset)))

/* "PATH:LINE: message", at most CONFIG_MAX_ERRORS per file. */
void perr(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void oom(struct parser *p);
/* Splits value into shell-like words (strv_split_quoted()); on a bad quote
 * or no memory reports it for key and returns NULL. what is the original
 * value, for the message. */
char **split_words(struct parser *p, const char *key, const char *value, const char *what);

/* config-sandbox.c: [Container] hardening keys. */
void parse_private_users(struct parser *p, const struct config_key *k, const char *value);
void parse_capabilities(struct parser *p, const struct config_key *k, const char *value);
void parse_syscall_filter(struct parser *p, const struct config_key *k, const char *value);
void parse_syscall_error_number(struct parser *p, const struct config_key *k, const char *value);
void parse_oom_score_adjust(struct parser *p, const struct config_key *k, const char *value);
void parse_syscall_architectures(struct parser *p, const struct config_key *k, const char *value);
void parse_rlimit(struct parser *p, const struct config_key *k, const char *value);
void parse_cgroup_bytes(struct parser *p, const struct config_key *k, const char *value);
void parse_tasks_max(struct parser *p, const struct config_key *k, const char *value);
void parse_cgroup_weight(struct parser *p, const struct config_key *k, const char *value);
void parse_cpu_quota(struct parser *p, const struct config_key *k, const char *value);

/* The defaults that depend on other keys: LimitNPROC= from Accept= and
 * MaxConnections=. */
void sandbox_finish(struct sandbox_config *s, const struct socket_config *sc);
