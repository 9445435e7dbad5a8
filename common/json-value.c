/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "json-value.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/strv.h"

struct reader {
	const char *s;
	size_t len, pos;
	int depth;
	int error; /* -EINVAL or -ENOMEM, first one wins */
	char *why;
	size_t why_len;
};

static void fail(struct reader *rd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct reader *rd, const char *fmt, ...)
{
	char m[96];
	va_list ap;

	if (rd->error)
		return;
	rd->error = -EINVAL;
	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	snprintf(rd->why, rd->why_len, "offset %zu: %s", rd->pos, m);
}

static void skip_ws(struct reader *rd)
{
	while (rd->pos < rd->len && strchr(" \t\r\n", rd->s[rd->pos]) && rd->s[rd->pos])
		rd->pos++;
}

static bool eat(struct reader *rd, char c)
{
	skip_ws(rd);
	if (rd->pos < rd->len && rd->s[rd->pos] == c) {
		rd->pos++;
		return true;
	}
	return false;
}

static int hex4(struct reader *rd, unsigned *ret)
{
	unsigned v = 0;

	if (rd->len - rd->pos < 4)
		return -EINVAL;
	for (int i = 0; i < 4; i++) {
		char c = rd->s[rd->pos++];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -EINVAL;
	}
	*ret = v;
	return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* After the opening quote. The decoded string is never longer than its
 * escaped form. */
static char *parse_string(struct reader *rd)
{
	_cleanup_free_ char *o = NULL;
	size_t k = 0, start = rd->pos;

	while (rd->pos < rd->len && rd->s[rd->pos] != '"')
		rd->pos += rd->s[rd->pos] == '\\' ? 2 : 1;
	if (rd->pos >= rd->len) {
		fail(rd, "unterminated string");
		return NULL;
	}
	o = malloc(rd->pos - start + 1);
	if (!o) {
		rd->error = -ENOMEM;
		return NULL;
	}
	rd->pos = start;
	while (rd->s[rd->pos] != '"') {
		unsigned char c = (unsigned char)rd->s[rd->pos++];
		unsigned cp, lo;

		if (c < 0x20) {
			fail(rd, "control character in a string");
			return NULL;
		}
		if (c != '\\') {
			o[k++] = (char)c;
			continue;
		}
		c = (unsigned char)rd->s[rd->pos++];
		switch (c) {
		case '"':
		case '\\':
		case '/':
			o[k++] = (char)c;
			break;
		case 'b':
			o[k++] = '\b';
			break;
		case 'f':
			o[k++] = '\f';
			break;
		case 'n':
			o[k++] = '\n';
			break;
		case 'r':
			o[k++] = '\r';
			break;
		case 't':
			o[k++] = '\t';
			break;
		case 'u':
			if (hex4(rd, &cp) < 0) {
				fail(rd, "invalid \\u escape");
				return NULL;
			}
			if (cp >= 0xd800 && cp < 0xdc00) {
				/* A surrogate pair: 12 bytes of escapes, 4 of UTF-8. */
				if (rd->len - rd->pos < 6 || rd->s[rd->pos] != '\\' ||
				    rd->s[rd->pos + 1] != 'u') {
					fail(rd, "lone surrogate");
					return NULL;
				}
				rd->pos += 2;
				if (hex4(rd, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff) {
					fail(rd, "invalid surrogate pair");
					return NULL;
				}
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp <= 0xdfff) {
				fail(rd, "lone surrogate");
				return NULL;
			}
			if (cp == 0) {
				fail(rd, "\\u0000 in a string");
				return NULL;
			}
			k += put_utf8(o + k, cp);
			break;
		default:
			fail(rd, "invalid escape");
			return NULL;
		}
	}
	rd->pos++;
	o[k] = '\0';
	return TAKE_PTR(o);
}

static struct json_value *value_new(struct reader *rd, enum json_type t)
{
	struct json_value *v = calloc(1, sizeof(*v));

	if (!v)
		rd->error = -ENOMEM;
	else
		v->type = t;
	return v;
}

static struct json_value *parse_value(struct reader *rd);

/* Appends item (and key, for an object), taking both. */
static bool append(struct reader *rd, struct json_value *v, char *key, struct json_value *item)
{
	struct json_value **items = realloc(v->items, (v->n + 1) * sizeof(*items));
	char **keys = NULL;

	if (items)
		v->items = items;
	if (items && key) {
		keys = realloc(v->keys, (v->n + 1) * sizeof(*keys));
		if (keys)
			v->keys = keys;
	}
	if (!items || (key && !keys)) {
		free(key);
		json_value_free(item);
		rd->error = -ENOMEM;
		return false;
	}
	if (key)
		v->keys[v->n] = key;
	v->items[v->n++] = item;
	return true;
}

static struct json_value *parse_container(struct reader *rd, bool object)
{
	struct json_value *v;
	char close = object ? '}' : ']';

	if (++rd->depth > JSON_VALUE_DEPTH_MAX) {
		fail(rd, "nested deeper than %d", JSON_VALUE_DEPTH_MAX);
		return NULL;
	}
	v = value_new(rd, object ? JSON_OBJECT : JSON_ARRAY);
	if (!v)
		return NULL;
	if (eat(rd, close)) {
		rd->depth--;
		return v;
	}
	for (;;) {
		char *key = NULL;
		struct json_value *item;

		if (object) {
			if (!eat(rd, '"')) {
				fail(rd, "expected a member name");
				break;
			}
			key = parse_string(rd);
			if (!key)
				break;
			if (!eat(rd, ':')) {
				free(key);
				fail(rd, "expected ':'");
				break;
			}
		}
		item = parse_value(rd);
		if (!item) {
			free(key);
			break;
		}
		if (!append(rd, v, key, item))
			break;
		if (eat(rd, ',')) {
			continue;
		}
		if (eat(rd, close)) {
			rd->depth--;
			return v;
		}
		fail(rd, "expected ',' or '%c'", close);
		break;
	}
	json_value_free(v);
	return NULL;
}

static struct json_value *parse_number(struct reader *rd)
{
	size_t start = rd->pos;
	struct json_value *v;

	/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
#define DIGITS()                                                                                   \
	({                                                                                         \
		size_t _s = rd->pos;                                                               \
		while (rd->pos < rd->len && rd->s[rd->pos] >= '0' && rd->s[rd->pos] <= '9')        \
			rd->pos++;                                                                 \
		rd->pos > _s;                                                                      \
	})
	if (rd->s[rd->pos] == '-')
		rd->pos++;
	if (rd->pos < rd->len && rd->s[rd->pos] == '0')
		rd->pos++;
	else if (!DIGITS())
		goto bad;
	if (rd->pos < rd->len && rd->s[rd->pos] == '.') {
		rd->pos++;
		if (!DIGITS())
			goto bad;
	}
	if (rd->pos < rd->len && (rd->s[rd->pos] == 'e' || rd->s[rd->pos] == 'E')) {
		rd->pos++;
		if (rd->pos < rd->len && (rd->s[rd->pos] == '+' || rd->s[rd->pos] == '-'))
			rd->pos++;
		if (!DIGITS())
			goto bad;
	}
#undef DIGITS
	v = value_new(rd, JSON_NUMBER);
	if (v && !(v->text = strndup(rd->s + start, rd->pos - start))) {
		rd->error = -ENOMEM;
		return json_value_free(v);
	}
	return v;
bad:
	fail(rd, "invalid number");
	return NULL;
}

static struct json_value *parse_value(struct reader *rd)
{
	static const struct {
		const char *word;
		enum json_type type;
	} words[] = {{"null", JSON_NULL}, {"false", JSON_FALSE}, {"true", JSON_TRUE}};
	struct json_value *v;
	char c;

	skip_ws(rd);
	if (rd->pos >= rd->len) {
		fail(rd, "unexpected end");
		return NULL;
	}
	c = rd->s[rd->pos++];
	if (c == '{' || c == '[')
		return parse_container(rd, c == '{');
	if (c == '"') {
		char *s = parse_string(rd);

		if (!s)
			return NULL;
		v = value_new(rd, JSON_STRING);
		if (!v)
			free(s);
		else
			v->text = s;
		return v;
	}
	rd->pos--;
	if (c == '-' || (c >= '0' && c <= '9'))
		return parse_number(rd);
	for (size_t i = 0; i < ELEMENTSOF(words); i++) {
		size_t n = strlen(words[i].word);

		if (rd->len - rd->pos >= n && memcmp(rd->s + rd->pos, words[i].word, n) == 0) {
			rd->pos += n;
			return value_new(rd, words[i].type);
		}
	}
	fail(rd, "unexpected character");
	return NULL;
}

int json_value_parse(const char *text, size_t len, struct json_value **ret, char *why,
		     size_t why_len)
{
	struct reader rd = {.s = text, .len = len, .why = why, .why_len = why_len};
	struct json_value *v;

	if (why_len)
		why[0] = '\0';
	v = parse_value(&rd);
	if (v) {
		skip_ws(&rd);
		if (rd.pos < rd.len)
			fail(&rd, "data after the document");
	}
	if (rd.error) {
		json_value_free(v);
		if (rd.error == -ENOMEM)
			snprintf(why, why_len, "out of memory");
		return rd.error;
	}
	*ret = v;
	return 0;
}

struct json_value *json_value_free(struct json_value *v)
{
	if (!v)
		return NULL;
	for (size_t i = 0; i < v->n; i++) {
		json_value_free(v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->text);
	free(v);
	return NULL;
}

const struct json_value *json_value_get(const struct json_value *v, const char *key)
{
	const struct json_value *found = NULL;

	if (!v || v->type != JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->keys[i], key) == 0)
			found = v->items[i];
	return found;
}

const char *json_value_string(const struct json_value *v)
{
	return v && v->type == JSON_STRING ? v->text : NULL;
}

int json_value_uint(const struct json_value *v, uint64_t max, uint64_t *ret)
{
	uint64_t n = 0;

	if (!v || v->type != JSON_NUMBER || v->text[0] == '-')
		return -EINVAL;
	for (const char *p = v->text; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		if (n > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	if (n > max)
		return -EINVAL;
	*ret = n;
	return 0;
}

int json_value_strv(const struct json_value *v, char ***ret)
{
	_cleanup_strv_free_ char **l = calloc(1, sizeof(char *));

	if (!l)
		return -ENOMEM;
	if (!v || v->type != JSON_ARRAY)
		return -EINVAL;
	for (size_t i = 0; i < v->n; i++) {
		if (v->items[i]->type != JSON_STRING)
			return -EINVAL;
		if (strv_push(&l, v->items[i]->text) < 0)
			return -ENOMEM;
	}
	*ret = TAKE_PTR(l);
	return 0;
}
