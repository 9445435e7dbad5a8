/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* NULL-terminated string vectors. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define STRV_FOREACH(s, l) for (char **s = (l); s && *s; s++)

size_t strv_length(char *const *l);
char **strv_free(char **l);
/* Appends a copy of value; -ENOMEM on failure (the vector is unchanged). */
int strv_push(char ***l, const char *value);
/* Takes ownership of value (freed on failure too). */
int strv_consume(char ***l, char *value);
char **strv_copy(char *const *l);
bool strv_equal(char *const *a, char *const *b);
bool strv_contains(char *const *l, const char *s);
/* Sets or replaces "KEY=value" for KEY in an environment block. */
int strv_env_set(char ***l, const char *assignment);
/* Splits shell-like words: whitespace separates, "..." and '...' quote,
 * backslash escapes the next character. -EINVAL on an unterminated quote. */
int strv_split_quoted(const char *s, char ***ret);

static inline void strv_freep(char ***l)
{
	strv_free(*l);
}
#define _cleanup_strv_free_ __attribute__((cleanup(strv_freep)))
