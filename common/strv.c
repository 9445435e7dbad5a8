/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "strv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

size_t strv_length(char *const *l)
{
	size_t n = 0;

	while (l && l[n])
		n++;
	return n;
}

char **strv_free(char **l)
{
	STRV_FOREACH (s, l)
		free(*s);
	free(l);
	return NULL;
}

int strv_consume(char ***l, char *value)
{
	size_t n = strv_length(*l);
	char **nl;

	if (!value)
		return -ENOMEM;
	nl = realloc(*l, (n + 2) * sizeof(char *));
	if (!nl) {
		free(value);
		return -ENOMEM;
	}
	nl[n] = value;
	nl[n + 1] = NULL;
	*l = nl;
	return 0;
}

int strv_push(char ***l, const char *value)
{
	return strv_consume(l, strdup(value));
}

char **strv_copy(char *const *l)
{
	char **c = calloc(strv_length(l) + 1, sizeof(char *));
	size_t i = 0;

	if (!c)
		return NULL;
	for (; l && l[i]; i++) {
		c[i] = strdup(l[i]);
		if (!c[i])
			return strv_free(c);
	}
	return c;
}

bool strv_equal(char *const *a, char *const *b)
{
	size_t i = 0;

	for (; a && a[i] && b && b[i]; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return (!a || !a[i]) && (!b || !b[i]);
}

bool strv_contains(char *const *l, const char *s)
{
	for (size_t i = 0; l && l[i]; i++)
		if (strcmp(l[i], s) == 0)
			return true;
	return false;
}

int strv_env_set(char ***l, const char *assignment)
{
	const char *eq = strchr(assignment, '=');
	size_t klen = eq ? (size_t)(eq - assignment) : strlen(assignment);
	char *copy;

	for (size_t i = 0; *l && (*l)[i]; i++) {
		if (strncmp((*l)[i], assignment, klen) == 0 && (*l)[i][klen] == '=') {
			copy = strdup(assignment);
			if (!copy)
				return -ENOMEM;
			free((*l)[i]);
			(*l)[i] = copy;
			return 0;
		}
	}
	return strv_push(l, assignment);
}

int strv_split_quoted(const char *s, char ***ret)
{
	char **l = NULL, *word = NULL;
	size_t len = 0;
	int r;

	word = malloc(strlen(s) + 1);
	if (!word)
		return -ENOMEM;
	for (;;) {
		char quote = 0;
		bool have = false;

		while (*s == ' ' || *s == '\t' || *s == '\n')
			s++;
		if (!*s)
			break;
		len = 0;
		for (; *s; s++) {
			if (quote) {
				if (*s == quote)
					quote = 0;
				else if (*s == '\\' && quote == '"' && s[1])
					word[len++] = *++s;
				else
					word[len++] = *s;
			} else if (*s == '"' || *s == '\'') {
				quote = *s;
				have = true;
			} else if (*s == '\\' && s[1]) {
				word[len++] = *++s;
			} else if (*s == ' ' || *s == '\t' || *s == '\n') {
				break;
			} else {
				word[len++] = *s;
			}
			have = true;
		}
		if (quote) {
			strv_free(l);
			free(word);
			return -EINVAL;
		}
		if (!have)
			break;
		word[len] = '\0';
		r = strv_push(&l, word);
		if (r < 0) {
			strv_free(l);
			free(word);
			return r;
		}
	}
	free(word);
	if (!l) {
		l = calloc(1, sizeof(char *));
		if (!l)
			return -ENOMEM;
	}
	*ret = l;
	return 0;
}
