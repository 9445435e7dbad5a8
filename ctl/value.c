/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ctl/value.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define VALUE_DEPTH_MAX 16 /* deeper than any reply of ours */

static int append(struct value *v, struct value *item, char *key)
{
	struct value *items = realloc(v->items, (v->n + 1) * sizeof(*items));

	if (!items)
		return -ENOMEM;
	v->items = items;
	if (v->kind == VALUE_OBJECT) {
		char **keys = realloc(v->keys, (v->n + 1) * sizeof(*keys));

		if (!keys)
			return -ENOMEM;
		v->keys = keys;
		v->keys[v->n] = key;
	}
	v->items[v->n++] = *item;
	return 0;
}

static int read_basic(sd_bus_message *m, char type, struct value *ret)
{
	union {
		uint8_t y;
		int b;
		int16_t n;
		uint16_t q;
		int32_t i;
		uint32_t u;
		int64_t x;
		uint64_t t;
		double d;
		const char *s;
		int h;
	} x;
	int r = sd_bus_message_read_basic(m, type, &x);

	if (r <= 0)
		return r < 0 ? r : -ENODATA;
	*ret = (struct value){0};
	switch (type) {
	case 'y':
		*ret = (struct value){.kind = VALUE_UINT, .u = x.y};
		break;
	case 'b':
		*ret = (struct value){.kind = VALUE_BOOL, .b = x.b};
		break;
	case 'n':
		*ret = (struct value){.kind = VALUE_INT, .i = x.n};
		break;
	case 'q':
		*ret = (struct value){.kind = VALUE_UINT, .u = x.q};
		break;
	case 'i':
		*ret = (struct value){.kind = VALUE_INT, .i = x.i};
		break;
	case 'u':
		*ret = (struct value){.kind = VALUE_UINT, .u = x.u};
		break;
	case 'x':
		*ret = (struct value){.kind = VALUE_INT, .i = x.x};
		break;
	case 't':
		*ret = (struct value){.kind = VALUE_UINT, .u = x.t};
		break;
	case 'd':
		*ret = (struct value){.kind = VALUE_DOUBLE, .d = x.d};
		break;
	case 'h':
		*ret = (struct value){.kind = VALUE_INT, .i = x.h};
		break;
	case 's':
	case 'o':
	case 'g':
		ret->kind = VALUE_STRING;
		ret->s = strdup(x.s);
		if (!ret->s)
			return -ENOMEM;
		break;
	default:
		return -EBADMSG;
	}
	return 1;
}

static int read_value(sd_bus_message *m, struct value *ret, int depth);

/* The entries of an array or struct we have entered, into v. */
static int read_items(sd_bus_message *m, struct value *v, bool dict, int depth)
{
	for (;;) {
		struct value item = {0}, key = {0};
		char *k = NULL;
		int r;

		if (dict) {
			const char *contents;
			char type;

			r = sd_bus_message_peek_type(m, &type, &contents);
			if (r <= 0)
				return r;
			if ((r = sd_bus_message_enter_container(m, 'e', contents)) <= 0)
				return r;
			if ((r = read_value(m, &key, depth + 1)) < 0)
				return r;
			if (key.kind == VALUE_STRING) {
				k = key.s;
			} else {
				if (asprintf(&k, "%llu", (unsigned long long)key.u) < 0)
					return -ENOMEM;
				value_done(&key);
			}
			r = read_value(m, &item, depth + 1);
			if (r >= 0)
				r = sd_bus_message_exit_container(m);
		} else {
			r = read_value(m, &item, depth + 1);
			if (r == -ENODATA)
				return 0;
		}
		if (r < 0 || (r = append(v, &item, k)) < 0) {
			free(k);
			value_done(&item);
			return r;
		}
	}
}

static int read_value(sd_bus_message *m, struct value *ret, int depth)
{
	const char *contents;
	char type;
	int r;

	if (depth > VALUE_DEPTH_MAX)
		return -E2BIG;
	r = sd_bus_message_peek_type(m, &type, &contents);
	if (r < 0)
		return r;
	if (r == 0)
		return -ENODATA;
	*ret = (struct value){0};
	switch (type) {
	case 'a':
	case 'r':
	case 'v':
		if ((r = sd_bus_message_enter_container(m, type, contents)) < 0)
			return r;
		if (type == 'v') {
			r = read_value(m, ret, depth + 1);
		} else {
			bool dict = type == 'a' && contents[0] == '{';

			ret->kind = dict ? VALUE_OBJECT : VALUE_ARRAY;
			r = read_items(m, ret, dict, depth);
		}
		if (r < 0) {
			value_done(ret);
			return r;
		}
		return sd_bus_message_exit_container(m);
	default:
		return read_basic(m, type, ret);
	}
}

int value_read(sd_bus_message *m, struct value *ret)
{
	return read_value(m, ret, 0);
}

void value_done(struct value *v)
{
	for (size_t i = 0; i < v->n; i++) {
		value_done(&v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->s);
	*v = (struct value){0};
}

void value_json(const struct value *v, struct json *j)
{
	switch (v->kind) {
	case VALUE_NULL:
		json_null(j);
		break;
	case VALUE_STRING:
		json_string(j, v->s);
		break;
	case VALUE_UINT:
		json_uint(j, v->u);
		break;
	case VALUE_INT:
		json_int(j, v->i);
		break;
	case VALUE_DOUBLE:
		json_double(j, v->d);
		break;
	case VALUE_BOOL:
		json_bool(j, v->b);
		break;
	case VALUE_ARRAY:
		json_array_begin(j);
		for (size_t i = 0; i < v->n; i++)
			value_json(&v->items[i], j);
		json_array_end(j);
		break;
	case VALUE_OBJECT:
		json_object_begin(j);
		for (size_t i = 0; i < v->n; i++) {
			json_key(j, v->keys[i]);
			value_json(&v->items[i], j);
		}
		json_object_end(j);
		break;
	}
}

const struct value *value_get(const struct value *obj, const char *key)
{
	if (!obj || obj->kind != VALUE_OBJECT)
		return NULL;
	for (size_t i = 0; i < obj->n; i++)
		if (strcmp(obj->keys[i], key) == 0)
			return &obj->items[i];
	return NULL;
}

const char *value_str(const struct value *obj, const char *key)
{
	const struct value *v = value_get(obj, key);

	return v && v->kind == VALUE_STRING ? v->s : "";
}

uint64_t value_uint(const struct value *obj, const char *key)
{
	const struct value *v = value_get(obj, key);

	return v && v->kind == VALUE_UINT ? v->u : 0;
}

int64_t value_int(const struct value *obj, const char *key)
{
	const struct value *v = value_get(obj, key);

	if (v && v->kind == VALUE_INT)
		return v->i;
	return v && v->kind == VALUE_UINT ? (int64_t)v->u : 0;
}

bool value_bool(const struct value *obj, const char *key)
{
	const struct value *v = value_get(obj, key);

	return v && v->kind == VALUE_BOOL && v->b;
}
