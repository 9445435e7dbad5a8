/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "common/strv.h"
#include "tests/unit/tap.h"

/* Splits s and compares with the NULL-terminated expect. */
static void check_split(const char *s, char *const *expect)
{
	char **l = NULL, shown[128];
	int r = strv_split_quoted(s, &l);
	size_t k = 0;

	/* A newline in a TAP description would end the line. */
	for (const char *p = s; *p && k + 3 < sizeof(shown); p++) {
		if (*p == '\n' || *p == '\t') {
			shown[k++] = '\\';
			shown[k++] = *p == '\n' ? 'n' : 't';
		} else {
			shown[k++] = *p;
		}
	}
	shown[k] = '\0';
	s = shown;

	is_int(r, 0, "split [%s]", s);
	if (r < 0)
		return;
	ok(strv_equal(l, expect), "split [%s] gives the expected words", s);
	if (!strv_equal(l, expect))
		STRV_FOREACH (w, l)
			printf("#   got word [%s]\n", *w);
	strv_free(l);
}

#define W(...) ((char *const *)(const char *const[]){__VA_ARGS__, NULL})

static void test_split(void)
{
	char **l = (char **)1;

	check_split("", W(NULL));
	check_split("   \t ", W(NULL));
	check_split("a", W("a"));
	check_split("a b  c", W("a", "b", "c"));
	check_split("  a\tb\nc  ", W("a", "b", "c"));
	check_split("\"a b\" c", W("a b", "c"));
	check_split("'a b' c", W("a b", "c"));
	check_split("a\"b c\"d", W("ab cd"));
	check_split("\"\"", W(""));
	check_split("''", W(""));
	check_split("a '' b", W("a", "", "b"));
	check_split("a\\ b", W("a b"));
	check_split("\\\"a\\\"", W("\"a\""));
	check_split("\"a\\\"b\"", W("a\"b"));
	check_split("\"a\\\\b\"", W("a\\b"));
	check_split("'a\\b'", W("a\\b"));
	check_split("'it\"s'", W("it\"s"));
	check_split("\"it's\"", W("it's"));
	check_split("a\\", W("a\\"));
	check_split("/bin/sh -c 'echo \"hi there\"'", W("/bin/sh", "-c", "echo \"hi there\""));
	check_split("KEY=\"a b\" X=1", W("KEY=a b", "X=1"));

	is_int(strv_split_quoted("\"abc", &l), -EINVAL, "unterminated double quote");
	is_int(strv_split_quoted("'abc", &l), -EINVAL, "unterminated single quote");
	is_int(strv_split_quoted("a \"b\\\"", &l), -EINVAL, "escaped closing quote is no close");
	is_int(strv_split_quoted("ok 'x", &l), -EINVAL, "unterminated after a good word");
}

static void test_basic(void)
{
	char **l = NULL, **c;

	is_int(strv_length(NULL), 0, "length of NULL");
	ok(strv_equal(NULL, NULL), "NULL equals NULL");
	is_int(strv_push(&l, "a"), 0, "push a");
	is_int(strv_push(&l, "b"), 0, "push b");
	is_int(strv_length(l), 2, "length 2");
	ok(strv_contains(l, "b") && !strv_contains(l, "c") && !strv_contains(NULL, "a"),
	   "contains");
	is_int(strv_consume(&l, strdup("c")), 0, "consume c");
	is_int(strv_consume(&l, NULL), -ENOMEM, "consume NULL is -ENOMEM");
	is_int(strv_length(l), 3, "length 3 after a failed consume");
	c = strv_copy(l);
	ok(c && strv_equal(l, c), "copy is equal");
	ok(c && c[0] != l[0], "copy is deep");
	ok(!strv_equal(l, W("a", "b")), "a longer list differs");
	ok(!strv_equal(W("a", "b"), l), "a shorter list differs");
	ok(!strv_equal(l, W("a", "b", "x")), "a different word differs");
	ok(!strv_equal(l, NULL), "a list differs from NULL");
	ok(strv_equal(W(NULL), NULL), "an empty list equals NULL");
	strv_free(c);
	ok(strv_free(l) == NULL, "free returns NULL");
	ok(strv_free(NULL) == NULL, "free NULL");
}

static void test_env(void)
{
	char **env = NULL;

	is_int(strv_env_set(&env, "A=1"), 0, "env set A");
	is_int(strv_env_set(&env, "B=2"), 0, "env set B");
	is_int(strv_env_set(&env, "A=3"), 0, "env replace A");
	ok(strv_equal(env, W("A=3", "B=2")), "A replaced in place");
	is_int(strv_env_set(&env, "AB=4"), 0, "env set AB (a longer name with the same prefix)");
	is_int(strv_env_set(&env, "B="), 0, "env set B to empty");
	ok(strv_equal(env, W("A=3", "B=", "AB=4")), "env after prefix names and empty value");
	is_int(strv_env_set(&env, "C=x=y"), 0, "env value with '='");
	ok(strv_contains(env, "C=x=y"), "value keeps its '='");
	strv_free(env);
}

int main(void)
{
	test_split();
	test_basic();
	test_env();
	return tap_done();
}
