/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A small JSON reader (RFC 8259) for what nsinetd reads from untrusted
 * files: an OCI image's index, manifest and config, a runtime bundle's
 * config.json. Bounded: the caller limits the input size, nesting stops at
 * JSON_VALUE_DEPTH_MAX, strings with a NUL (\u0000) are refused (every
 * string is used as a C string), numbers are kept as their text.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_VALUE_DEPTH_MAX 64

enum json_type {
	JSON_NULL,
	JSON_FALSE,
	JSON_TRUE,
	JSON_NUMBER, /* text: as written */
	JSON_STRING, /* text: decoded, UTF-8 */
	JSON_ARRAY,  /* items[n] */
	JSON_OBJECT, /* keys[n], items[n], in document order */
};

struct json_value {
	enum json_type type;
	char *text;
	char **keys;
	struct json_value **items;
	size_t n;
};

/* Parses text[0..len) as one JSON document. 0 and *ret, or -EINVAL with
 * why ("offset 12: expected ':'"), or -ENOMEM. */
int json_value_parse(const char *text, size_t len, struct json_value **ret, char *why,
		     size_t why_len);
struct json_value *json_value_free(struct json_value *v);

/* The member key of an object (the last one if repeated), or NULL (also
 * when v is not an object or NULL). */
const struct json_value *json_value_get(const struct json_value *v, const char *key);
/* The string of v, or NULL if v is not a string. */
const char *json_value_string(const struct json_value *v);
/* An unsigned integer in [0, max]: 0, or -EINVAL (not a number, a
 * fraction, negative, too big). */
int json_value_uint(const struct json_value *v, uint64_t max, uint64_t *ret);
/* An array of strings, copied into a NULL-terminated strv (an empty
 * array: a strv with no element); -EINVAL if v is not one; -ENOMEM. */
int json_value_strv(const struct json_value *v, char ***ret);
