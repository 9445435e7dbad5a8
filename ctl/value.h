/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A D-Bus reply read into a tree that nsinetctl renders as a table, as text
 * or as JSON: a{sv} and a{s*} become objects, other arrays and structs
 * arrays, variants their content.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "ctl/json.h"

enum value_kind {
	VALUE_NULL,
	VALUE_STRING,
	VALUE_UINT,
	VALUE_INT,
	VALUE_DOUBLE,
	VALUE_BOOL,
	VALUE_ARRAY,
	VALUE_OBJECT,
};

struct value {
	enum value_kind kind;
	char *s;
	uint64_t u;
	int64_t i;
	double d;
	bool b;
	struct value *items; /* arrays and objects */
	char **keys;         /* objects */
	size_t n;
};

/* Reads the message's next complete value (-ENODATA at its end). */
int value_read(sd_bus_message *m, struct value *ret);
void value_done(struct value *v);
void value_json(const struct value *v, struct json *j);

/* Lookups that never fail: NULL, "" or 0 when absent or of another kind. */
const struct value *value_get(const struct value *obj, const char *key);
const char *value_str(const struct value *obj, const char *key);
uint64_t value_uint(const struct value *obj, const char *key);
int64_t value_int(const struct value *obj, const char *key);
bool value_bool(const struct value *obj, const char *key);
