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
};

typedef void (*key_parser)(struct parser *p, const char *key, const char *value, size_t offset,
			   int data);

#define FIELD(p, offset, type) ((type *)((char *)(p)->c + (offset)))

/* "PATH:LINE: message", at most CONFIG_MAX_ERRORS per file. */
void perr(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void oom(struct parser *p);
/* Splits value into shell-like words (strv_split_quoted()); on a bad quote
 * or no memory reports it for key and returns NULL. what is the original
 * value, for the message. */
char **split_words(struct parser *p, const char *key, const char *value, const char *what);

/* config-sandbox.c: [Container] hardening keys. */
void parse_private_users(struct parser *p, const char *key, const char *value, size_t offset,
			 int data);
void parse_capabilities(struct parser *p, const char *key, const char *value, size_t offset,
			int data);
void parse_no_new_privileges(struct parser *p, const char *key, const char *value, size_t offset,
			     int data);
void parse_syscall_filter(struct parser *p, const char *key, const char *value, size_t offset,
			  int data);
void parse_syscall_error_number(struct parser *p, const char *key, const char *value, size_t offset,
				int data);
void parse_syscall_architectures(struct parser *p, const char *key, const char *value,
				 size_t offset, int data);
void parse_rlimit(struct parser *p, const char *key, const char *value, size_t offset, int data);
void parse_cgroup_bytes(struct parser *p, const char *key, const char *value, size_t offset,
			int data);
void parse_tasks_max(struct parser *p, const char *key, const char *value, size_t offset, int data);
void parse_cgroup_weight(struct parser *p, const char *key, const char *value, size_t offset,
			 int data);
void parse_cpu_quota(struct parser *p, const char *key, const char *value, size_t offset, int data);

void sandbox_defaults(struct sandbox_config *s);
/* The defaults that depend on other keys: LimitNPROC= from Accept= and
 * MaxConnections=. */
void sandbox_finish(struct sandbox_config *s, const struct socket_config *sc);
void sandbox_free(struct sandbox_config *s);
bool sandbox_equal(const struct sandbox_config *a, const struct sandbox_config *b);
