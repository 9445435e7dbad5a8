/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A JSON writer for nsinetctl --json: commas, nesting and indentation are
 * its business; strings are escaped per RFC 8259, and bytes that are not
 * valid UTF-8 (a container's command line may hold anything) are written
 * as U+FFFD, so that the document is always valid.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_DEPTH_MAX 32

struct json {
	FILE *f;
	bool pretty;
	int depth;
	bool need_comma[JSON_DEPTH_MAX + 1];
	bool after_key;
	bool overflow; /* nested deeper than JSON_DEPTH_MAX: the document is cut */
};

void json_init(struct json *j, FILE *f, bool pretty);
void json_object_begin(struct json *j);
void json_object_end(struct json *j);
void json_array_begin(struct json *j);
void json_array_end(struct json *j);
/* The key of the next value, inside an object. */
void json_key(struct json *j, const char *key);
void json_string(struct json *j, const char *s);
void json_string_n(struct json *j, const char *s, size_t n);
void json_uint(struct json *j, uint64_t v);
void json_int(struct json *j, int64_t v);
void json_double(struct json *j, double v);
void json_bool(struct json *j, bool v);
void json_null(struct json *j);
/* A key and its value, inside an object. */
void json_field_string(struct json *j, const char *key, const char *s);
void json_field_uint(struct json *j, const char *key, uint64_t v);
/* Ends the document with a newline. */
void json_end(struct json *j);
