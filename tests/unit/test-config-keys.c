/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The key table derives config_equal() and config_dump(): for every key of
 * the table, its sample value must make a config differ, show in the dump,
 * and survive a dump fed back as a file. Also: every key is documented.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/strv.h"
#include "supervisor/config.h"
#include "tests/unit/tap.h"

#define BASE "[Socket]\nListenStream=8080\n[Container]\nExec=/bin/true\n"

/* What a key's sample needs around it to be valid (the same lines in the
 * config without the key). */
static const struct {
	const char *key, *lines;
} contexts[] = {
    {"MaxConnections", "[Socket]\nAccept=yes\n"},
    {"MaxConnectionsPerSource", "[Socket]\nAccept=yes\n"},
    {"MaxConnectionsPerSourceIPv6Prefix", "[Socket]\nAccept=yes\n"},
    {"StandardInput", "[Socket]\nAccept=yes\n"},
    {"PoolSize", "[Socket]\nAccept=yes\n"},
    {"RuntimeMaxSec", "[Socket]\nAccept=yes\n"},
    {"Address", "[Container]\nNetwork=veth\nBridge=br0\n"},
    {"HostAddress", "[Container]\nNetwork=veth\nBridge=br0\nAddress=10.1.0.2/30\n"},
    {"AddressPool", "[Container]\nNetwork=veth\n"},
    {"Bridge", "[Container]\nNetwork=veth\n"},
    {"Boot", "[Container]\nDirectory=/srv\n"},
    {"Ephemeral", "[Container]\nDirectory=/srv\n"},
};

/* Keys whose only value is their default: no sample. */
static const char *const no_sample[] = {"SystemCallArchitectures", NULL};

/* A dump as a file ("[Section]\nKey=value\n") and as rows
 * "Section.Key=value" with " (default)" when is_default. */
struct dump {
	FILE *f;
	char *text;
	size_t size;
	const char *section;
	char **rows;
};

static void dump_cb(void *userdata, const char *section, const char *key, const char *value,
		    bool is_default)
{
	struct dump *d = userdata;
	char *row;

	if (!d->section || strcmp(d->section, section) != 0)
		fprintf(d->f, "[%s]\n", section);
	d->section = section;
	fprintf(d->f, "%s=%s\n", key, value);
	if (asprintf(&row, "%s.%s=%s%s", section, key, value, is_default ? " (default)" : "") < 0 ||
	    strv_consume(&d->rows, row) < 0)
		abort();
}

static void dump_run(const struct service_config *c, struct dump *d)
{
	*d = (struct dump){0};
	d->f = open_memstream(&d->text, &d->size);
	if (!d->f)
		abort();
	config_dump(c, dump_cb, d);
	fclose(d->f);
}

static void dump_done(struct dump *d)
{
	free(d->text);
	strv_free(d->rows);
}

static struct service_config *parse(const char *text)
{
	struct config_errors errs = {0};
	struct service_config *c = NULL;

	if (config_parse_string(text, "t.conf", "web", &errs, &c) < 0) {
		printf("# cannot parse:\n");
		for (size_t i = 0; i < errs.n; i++)
			printf("#   %s\n", errs.messages[i]);
	}
	config_errors_clear(&errs);
	return c;
}

/* The dump of c, fed back as a file, gives a config equal to c. */
static void round_trip(const struct service_config *c, const char *what)
{
	struct dump d;
	struct service_config *back;

	dump_run(c, &d);
	back = parse(d.text);
	ok(back && config_equal(c, back), "%s: dump, parse: equal", what);
	if (!back || !config_equal(c, back))
		printf("# the dump:\n%s", d.text);
	config_free(back);
	dump_done(&d);
}

static const char *context_of(const char *key)
{
	for (size_t i = 0; i < sizeof(contexts) / sizeof(contexts[0]); i++)
		if (strcmp(contexts[i].key, key) == 0)
			return contexts[i].lines;
	return "";
}

/* For every key: the sample differs, shows, and round-trips. */
static void test_every_key(void)
{
	size_t n = config_key_count();

	ok(n > 60, "the table has %zu keys", n);
	for (size_t i = 0; i < n; i++) {
		const char *section, *sample, *key = config_key_name(i, &section, &sample);
		_cleanup_free_ char *without = NULL, *with = NULL, *row = NULL;
		struct service_config *a, *b;
		struct dump d;

		if (!sample) {
			ok(strv_contains((char **)no_sample, key), "%s=: has a sample value", key);
			continue;
		}
		if (asprintf(&without, BASE "%s", context_of(key)) < 0 ||
		    asprintf(&with, "%s[%s]\n%s=%s\n", without, section, key, sample) < 0 ||
		    asprintf(&row, "%s.%s=%s", section, key, sample) < 0)
			abort();
		a = parse(without);
		b = parse(with);
		ok(a && b, "%s=%s: parses", key, sample);
		if (!a || !b) {
			config_free(a);
			config_free(b);
			continue;
		}
		ok(!config_equal(a, b) && !config_equal(b, a), "%s=%s: not equal to the default",
		   key, sample);
		dump_run(b, &d);
		ok(strv_contains(d.rows, row), "%s=%s: in the dump, not as the default", key,
		   sample);
		if (!strv_contains(d.rows, row))
			printf("# the dump:\n%s", d.text);
		dump_done(&d);
		round_trip(b, row);
		config_free(a);
		config_free(b);
	}
}

/* In the dump of a file, every key shows, and only the keys the file sets
 * are not defaults. */
static void check_defaults(const char *text, const char *const *set, const char *what)
{
	struct service_config *c = parse(text);
	struct dump d;
	bool all = true, only = true;

	if (!c) {
		ok(false, "%s: parses", what);
		return;
	}
	dump_run(c, &d);
	for (size_t i = 0; i < config_key_count(); i++) {
		const char *section, *key = config_key_name(i, &section, NULL);
		bool found = false;
		size_t len = strlen(section) + strlen(key) + 2;

		STRV_FOREACH (r, d.rows)
			found =
			    found || (strncmp(*r, section, strlen(section)) == 0 &&
				      strncmp(*r + strlen(section) + 1, key, strlen(key)) == 0 &&
				      (*r)[len - 1] == '=');
		if (!found) {
			printf("# %s=: not in the dump\n", key);
			all = false;
		}
	}
	STRV_FOREACH (r, d.rows) {
		const char *dot = strchr(*r, '.'), *eq = strchr(*r, '=');
		_cleanup_free_ char *key = strndup(dot + 1, (size_t)(eq - dot - 1));
		bool is_default = strstr(*r, " (default)") != NULL;

		if (is_default == strv_contains((char **)set, key)) {
			printf("# %s\n", *r);
			only = false;
		}
	}
	ok(all, "%s: every key in the dump", what);
	ok(only, "%s: defaults are defaults, the keys set are not", what);
	if (!all || !only)
		printf("# the dump:\n%s", d.text);
	round_trip(c, what);
	dump_done(&d);
	config_free(c);
}

static void test_defaults(void)
{
	static const char *const set[] = {"ListenStream", "Exec", NULL};
	static const char *const set_accept[] = {"ListenStream", "Exec", "Accept", NULL};

	check_defaults(BASE, set, "a minimal file");
	check_defaults(BASE "[Socket]\nAccept=yes\n", set_accept, "a minimal Accept=yes file");
	/* Boot=yes: Exec=, Type= and KillSignal= have its defaults. */
	static const char *const set_boot[] = {"ListenStream", "Directory", "Boot", NULL};
	check_defaults("[Socket]\nListenStream=8080\n[Container]\nDirectory=/srv\nBoot=yes\n",
		       set_boot, "a minimal Boot=yes file");
}

/* Shared lists keep their order; lists, quoting and odd values survive. */
static void test_round_trips(void)
{
	static const char *const files[] = {
	    "[Socket]\nListenDatagram=127.0.0.1:9\nListenStream=8080\n"
	    "ListenSequentialPacket=@x\nListenStream=[::1]:81\n[Container]\nExec=/bin/true\n",
	    BASE "Bind=/a\nBindReadOnly=/b\nBind=-/c:/d:idmap,suid\nBind=/e\\:f:/g:ro\n",
	    BASE "Exec=/bin/sh -c \"echo 'a b' \\\"c\\\" \\\\ d\" ''\n"
		 "Environment=A=1 \"B=two words\" C=\nEnvironment=D=\\\"\n",
	    BASE "SystemCallFilter=@system-service\nSystemCallFilter=~connect bind\n",
	    BASE "SystemCallFilter=connect\nSystemCallFilter=~connect\n",
	    BASE "Capabilities=\n",
	    BASE "Capabilities=CAP_SYS_ADMIN CAP_NET_RAW\n",
	    BASE "PrivateUsers=100000:1000\nLimitCPU=1min\nLimitRTTIME=2s:infinity\n"
		 "LimitNOFILE=infinity\nLimitAS=1G\nMemoryMax=infinity\nTasksMax=infinity\n",
	    BASE "Network=netns:blue\n",
	    BASE "Network=veth\nAddress=10.1.0.2/30\nHostAddress=10.1.0.1/30\n"
		 "Address=fd00::2/64\nHostAddress=fd00::1/64\nAddressPool=fd01::/48\n",
	    BASE "TemporaryFileSystem=/a\nTemporaryFileSystem=/b:mode=0755,size=1M\n",
	    BASE "[Service]\nKillSignal=SIGRTMIN+3\nStopTimeoutSec=1min 30s 5ms\n"
		 "IdleCPUPercent=0.05%\nIdleStopSec=1h\n",
	    "[Socket]\nListenStream=8080\nAccept=yes\nMaxConnections=200\n[Container]\n"
	    "Exec=/bin/true\n",
	    /* Boot=yes with SIGTERM: not its default, so it must show. */
	    BASE "Directory=/srv\nBoot=yes\n[Service]\nKillSignal=SIGTERM\n",
	    BASE "Directory=/srv\nBoot=yes\nEphemeral=yes\n[Service]\nType=simple\n",
	};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct service_config *c = parse(files[i]);
		char what[64];

		snprintf(what, sizeof(what), "file %zu", i + 1);
		ok(c != NULL, "%s: parses", what);
		if (c)
			round_trip(c, what);
		config_free(c);
	}
}

/* docs/nsinetd.conf.5.md has a "### " heading that names every key. */
static void test_documented(void)
{
	const char *src = getenv("NSINETD_SRC");
	_cleanup_free_ char *path = NULL, *line = NULL;
	_cleanup_strv_free_ char **headings = NULL;
	size_t len = 0;
	FILE *f;

	if (asprintf(&path, "%s/docs/nsinetd.conf.5.md", src ? src : "..") < 0)
		abort();
	f = fopen(path, "re");
	ok(f != NULL, "%s: readable (NSINETD_SRC is the source tree)", path);
	if (!f)
		return;
	while (getline(&line, &len, f) > 0)
		if (strncmp(line, "### ", 4) == 0 && strv_push(&headings, line) < 0)
			abort();
	fclose(f);
	for (size_t i = 0; i < config_key_count(); i++) {
		const char *key = config_key_name(i, NULL, NULL);
		bool found = false;

		STRV_FOREACH (h, headings) {
			const char *at = *h;

			/* "Key=" as a whole word: after a space, and not "ListenKey=". */
			while (!found && (at = strstr(at, key))) {
				found = at[-1] == ' ' && at[strlen(key)] == '=';
				at++;
			}
		}
		ok(found, "%s= is documented in docs/nsinetd.conf.5.md", key);
	}
}

int main(void)
{
	test_every_key();
	test_defaults();
	test_round_trips();
	test_documented();
	return tap_done();
}
