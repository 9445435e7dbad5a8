/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-config: a libFuzzer target for the configuration parser.
 *
 * Each input is one service file, parsed by config_parse_file(), the entry
 * point config_load_dir() uses for every file the daemon reads. The bytes
 * go to a memfd and the parser opens /proc/self/fd/N: NUL bytes, a missing
 * final newline and the size limit reach it exactly as from a file.
 *
 * What counts as a bug: anything ASan or UBSan reports (overflow, use after
 * free, a leak of a config or of its error messages), an abort, or a parse
 * that succeeds with a result that is not config_equal() to itself (a
 * reload would then restart a service whose file did not change), or whose
 * config_dump(), fed back as a file, does not give an equal config (a key
 * shown wrong; skipped when quoting made a line longer than a file may
 * have).
 *
 * Built only with -Dfuzz=true by clang (scripts/fuzz.sh); see tests/README.md.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "supervisor/config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd = -1;
static char memfd_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	memfd = memfd_create("fuzz-config", MFD_CLOEXEC);
	if (memfd < 0) {
		perror("fuzz-config: memfd_create");
		exit(1);
	}
	snprintf(memfd_path, sizeof(memfd_path), "/proc/self/fd/%d", memfd);
	return 0;
}

struct dump {
	FILE *f;
	const char *section;
	size_t longest; /* line */
};

static void dump_cb(void *userdata, const char *section, const char *key, const char *value,
		    bool is_default)
{
	struct dump *d = userdata;
	size_t n = strlen(key) + 1 + strlen(value);

	if (!d->section || strcmp(d->section, section) != 0)
		fprintf(d->f, "[%s]\n", section);
	d->section = section;
	fprintf(d->f, "%s=%s\n", key, value);
	if (n > d->longest)
		d->longest = n;
}

/* config_dump() fed back to the parser gives an equal config. */
static void check_dump(const struct service_config *c)
{
	struct config_errors errs = {0};
	struct service_config *back = NULL;
	char *text = NULL;
	size_t size = 0;
	struct dump d = {.f = open_memstream(&text, &size)};

	if (!d.f)
		abort();
	config_dump(c, dump_cb, &d);
	fclose(d.f);
	if (d.longest <= CONFIG_MAX_LINE &&
	    (config_parse_string(text, "dump", "fuzz", &errs, &back) < 0 ||
	     !config_equal(c, back))) {
		fprintf(stderr, "fuzz-config: the dump does not give an equal config:\n%s", text);
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "  %s\n", errs.messages[i]);
		abort();
	}
	config_free(back);
	config_errors_clear(&errs);
	free(text);
}

/* The whole input as the memfd's content; false if it could not be. */
static bool memfd_fill(const uint8_t *data, size_t size)
{
	size_t done = 0;

	if (ftruncate(memfd, 0) < 0)
		return false;
	while (done < size) {
		ssize_t n = pwrite(memfd, data + done, size - done, (off_t)done);

		if (n <= 0)
			return false;
		done += (size_t)n;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_errors errs = {0};
	struct service_config *c = NULL;
	int r;

	if (!memfd_fill(data, size)) {
		/* Not the parser's fault: stop loudly rather than test nothing. */
		perror("fuzz-config: writing the memfd");
		abort();
	}
	r = config_parse_file(memfd_path, "fuzz", &errs, &c);
	if (r == 0) {
		if (!c || !config_equal(c, c)) {
			fprintf(stderr, "fuzz-config: parsed, but the result %s\n",
				c ? "is not equal to itself" : "is NULL");
			abort();
		}
		check_dump(c);
		/* The derived settings the supervisor reads for every start. */
		(void)config_capabilities(&c->container, 0);
		(void)config_capabilities(&c->container, 65534);
	} else if (c || errs.n == 0) {
		fprintf(stderr, "fuzz-config: failed (%d) with %s\n", r,
			c ? "a result" : "no error message");
		abort();
	}
	config_free(c);
	config_errors_clear(&errs);
	return 0;
}
