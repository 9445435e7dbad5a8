/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The JSON reader (common/json-value.c) and what supervisor/image.c reads
 * without the tools: Image= references, a layout's index, manifest and
 * config, a bundle's config.json, each refusal with its reason. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json-value.h"
#include "common/strv.h"
#include "supervisor/config.h"
#include "supervisor/image.h"
#include "tap.h"

static char dir[] = "/tmp/test-image-XXXXXX";

static void put(const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	f = fopen(path, "w");
	if (!f)
		bail_out("cannot write %s", path);
	fputs(text, f);
	fclose(f);
}

static void json_cases(void)
{
	static const struct {
		const char *text;
		int r;
	} cases[] = {
	    {"{}", 0},
	    {"[1, -2.5e3, true, false, null, \"a\\u00e9\\ud83d\\ude00\"]", 0},
	    {" {\"a\": {\"b\": [\"c\"]}} ", 0},
	    {"", -EINVAL},
	    {"{", -EINVAL},
	    {"{\"a\" 1}", -EINVAL},
	    {"[1,]", -EINVAL},
	    {"[01]", -EINVAL},
	    {"\"a\\u0000b\"", -EINVAL},
	    {"\"\\ud800\"", -EINVAL},
	    {"\"tab\there\"", -EINVAL},
	    {"{} x", -EINVAL},
	    {"nul", -EINVAL},
	};
	struct json_value *v = NULL;
	const char *esc = "[\"a\\u00e9\\ud83d\\ude00\", 42, 4.5]";
	char why[128], deep[200];
	const struct json_value *s;
	uint64_t n;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = NULL;
		is_int(json_value_parse(cases[i].text, strlen(cases[i].text), &v, why, sizeof(why)),
		       cases[i].r, "json: '%s' (%s)", cases[i].text, cases[i].r ? why : "valid");
		json_value_free(v);
	}
	ok(json_value_parse(esc, strlen(esc), &v, why, sizeof(why)) == 0, "json: escapes parsed");
	is_str(json_value_string(v->items[0]), "a\xc3\xa9\xf0\x9f\x98\x80",
	       "json: \\u escapes and a surrogate pair decode to UTF-8");
	ok(json_value_uint(v->items[1], 100, &n) == 0 && n == 42, "json: an unsigned number");
	ok(json_value_uint(v->items[2], 100, &n) < 0, "json: a fraction is not one");
	ok(json_value_uint(v->items[1], 10, &n) < 0, "json: nor one above the limit");
	json_value_free(v);
	ok(json_value_parse("{\"k\": 1, \"k\": \"last\"}", 21, &v, why, sizeof(why)) == 0 &&
	       (s = json_value_get(v, "k")) && strcmp(json_value_string(s), "last") == 0,
	   "json: a repeated member: the last one");
	json_value_free(v);
	memset(deep, '[', sizeof(deep));
	ok(json_value_parse(deep, sizeof(deep), &v, why, sizeof(why)) == -EINVAL &&
	       strstr(why, "nested deeper than 64"),
	   "json: nesting is bounded (%s)", why);
}

static void ref_cases(void)
{
	static const struct {
		const char *s;
		int transport;
		const char *path, *tag, *error;
	} cases[] = {
	    {"/srv/images/web:1.2", IMAGE_LAYOUT, "/srv/images/web", "1.2", NULL},
	    {"/srv/images/web", IMAGE_LAYOUT, "/srv/images/web", "latest", NULL},
	    {"oci-archive:/srv/web.tar:v1", IMAGE_OCI_ARCHIVE, "/srv/web.tar", "v1", NULL},
	    {"docker-archive:/srv/web.tar", IMAGE_DOCKER_ARCHIVE, "/srv/web.tar", NULL, NULL},
	    {"docker-archive:/srv/web.tar:x", 0, NULL, NULL, "takes no tag"},
	    {"web:1", 0, NULL, NULL, "not an absolute, normalized path"},
	    {"/srv/../etc:1", 0, NULL, NULL, "not an absolute, normalized path"},
	    {"/srv/web:-x", 0, NULL, NULL, "invalid tag '-x'"},
	    /* A colon before the last slash is part of the path. */
	    {"/srv/web:a/b", IMAGE_LAYOUT, "/srv/web:a/b", "latest", NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct image_ref ref = {0};
		char why[IMAGE_WHY_MAX] = "";
		int r = image_ref_parse(cases[i].s, &ref, why, sizeof(why));

		if (cases[i].error) {
			ok(r == -EINVAL && strstr(why, cases[i].error), "Image=%s refused: %s",
			   cases[i].s, why);
			continue;
		}
		ok(r == 0 && (int)ref.transport == cases[i].transport &&
		       strcmp(ref.path, cases[i].path) == 0 &&
		       (cases[i].tag ? ref.tag && strcmp(ref.tag, cases[i].tag) == 0 : !ref.tag),
		   "Image=%s parsed", cases[i].s);
		image_ref_done(&ref);
	}
}

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define E64 "1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void layout_cases(void)
{
	struct image_info *i = NULL;
	char why[IMAGE_WHY_MAX], path[512];
	int r;

	snprintf(path, sizeof(path), "%s/blobs", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/blobs/sha256", dir);
	mkdir(path, 0755);
	put("index.json", "{\"manifests\": [{\"digest\": \"sha256:" D64 "\", \"annotations\": "
			  "{\"org.opencontainers.image.ref.name\": \"1\"}}]}");
	put("blobs/sha256/" D64, "{\"config\": {\"digest\": \"sha256:" E64 "\"}}");
	put("blobs/sha256/" E64,
	    "{\"config\": {\"Entrypoint\": [\"/bin/sh\", \"-c\"], \"Cmd\": [\"echo hi\"], "
	    "\"Env\": [\"A=1\", \"PATH=/bin\"], \"WorkingDir\": \"/srv\", \"User\": \"web:staff\", "
	    "\"ExposedPorts\": {\"80/tcp\": {}}}}");
	r = image_read_layout(dir, "1", &i, why, sizeof(why));
	ok(r == 0, "layout: read (%s)", r ? why : "ok");
	if (r == 0) {
		is_str(i->digest, "sha256:" D64, "layout: the manifest's digest");
		ok(strv_length(i->argv) == 3 && strcmp(i->argv[2], "echo hi") == 0,
		   "layout: Entrypoint then Cmd");
		ok(strv_length(i->env) == 2, "layout: Env");
		is_str(i->working_directory, "/srv", "layout: WorkingDir");
		is_str(i->user, "web", "layout: User's name");
		is_str(i->group, "staff", "layout: User's group");
		ok(strv_length(i->exposed_ports) == 1, "layout: ExposedPorts");
	}
	image_info_free(i);
	i = NULL;
	r = image_read_layout(dir, "2", &i, why, sizeof(why));
	ok(r == -ENOENT && strstr(why, "no manifest tagged '2'"), "layout: unknown tag: %s", why);
	put("index.json", "{\"manifests\": [{\"digest\": \"sha256:../../../etc/passwd\", "
			  "\"annotations\": {\"org.opencontainers.image.ref.name\": \"1\"}}]}");
	r = image_read_layout(dir, "1", &i, why, sizeof(why));
	ok(r == -EINVAL && strstr(why, "is not sha256:HEX"), "layout: a digest with a path: %s",
	   why);
	put("index.json", "{\"manifests\": [{\"digest\": \"sha256:" D64 "\", \"annotations\": "
			  "{\"org.opencontainers.image.ref.name\": \"1\"}}]}");
	snprintf(path, sizeof(path), "%s/blobs/sha256/" D64, dir);
	unlink(path);
	if (symlink("/etc/passwd", path) < 0)
		bail_out("symlink");
	r = image_read_layout(dir, "1", &i, why, sizeof(why));
	ok(r == -ELOOP && strstr(why, "a symbolic link"), "layout: a blob that is a link: %s", why);
	unlink(path);
	/* A FIFO would block a reader: refused without being opened for it. */
	if (mkfifo(path, 0600) < 0)
		bail_out("mkfifo");
	r = image_read_layout(dir, "1", &i, why, sizeof(why));
	ok(r == -EINVAL && strstr(why, "is not a regular file"), "layout: a FIFO blob: %s", why);
	unlink(path);
	put("blobs/sha256/" D64, "{\"config\": {\"digest\": \"sha256:" E64 "\"}}");
	put("blobs/sha256/" E64, "{\"config\": {\"Env\": [\"novalue\"]}}");
	r = image_read_layout(dir, "1", &i, why, sizeof(why));
	ok(r == -EINVAL && strstr(why, "not KEY=value"), "layout: a bad Env: %s", why);
	put("blobs/sha256/" E64, "{\"config\": {\"Cmd\": \"echo\"}}");
	r = image_read_layout(dir, "1", &i, why, sizeof(why));
	ok(r == -EINVAL && strstr(why, "Cmd is not an array"), "layout: a Cmd string: %s", why);
	{
		/* Over 1 MiB: refused before it is read. */
		size_t n = IMAGE_MAX_JSON + 10;
		char *big = malloc(n + 1);

		memset(big, ' ', n);
		big[n] = '\0';
		big[0] = '{';
		big[n - 1] = '}';
		put("blobs/sha256/" E64, big);
		free(big);
	}
	r = image_read_layout(dir, "1", &i, why, sizeof(why));
	ok(r == -EFBIG && strstr(why, "too big"), "layout: a huge config: %s", why);
}

static void bundle_cases(void)
{
	struct image_info *i = NULL;
	char why[IMAGE_WHY_MAX];
	int r;

	put("config.json",
	    "{\"root\": {\"path\": \"rootfs\", \"readonly\": true}, \"process\": {\"args\": "
	    "[\"/srv/app\"], \"env\": [\"X=1\"], \"cwd\": \"/srv\", \"user\": {\"uid\": 10, "
	    "\"gid\": 20}, \"capabilities\": {}}, \"hooks\": {}, \"linux\": {\"seccomp\": {}, "
	    "\"namespaces\": []}, \"mounts\": [{\"destination\": \"/proc\"}, {\"destination\": "
	    "\"/data\"}]}");
	r = image_read_bundle(dir, &i, why, sizeof(why));
	ok(r == 0, "bundle: read (%s)", r ? why : "ok");
	if (r == 0) {
		char expect[600];

		snprintf(expect, sizeof(expect), "%s/rootfs", dir);
		is_str(i->rootfs, expect, "bundle: root.path below the bundle");
		is_str(i->user, "10", "bundle: uid");
		is_str(i->group, "20", "bundle: gid");
		is_str(i->working_directory, "/srv", "bundle: cwd");
		ok(strv_contains(i->warnings, "hooks (not run)") &&
		       strv_contains(i->warnings, "linux.seccomp (use the service's own keys)") &&
		       strv_contains(i->warnings,
				     "process.capabilities (use the service's own keys)") &&
		       strv_contains(i->warnings, "mounts: /data (use Bind=)") &&
		       strv_length(i->warnings) == 4,
		   "bundle: hooks, seccomp, capabilities and the extra mount named, nothing else");
	}
	image_info_free(i);
	put("config.json", "{\"root\": {\"path\": \"../outside\"}}");
	r = image_read_bundle(dir, &i, why, sizeof(why));
	ok(r == -EINVAL && strstr(why, "not a normalized path"), "bundle: root.path '..': %s", why);
	put("config.json", "{\"root\": {\"path\": \"rootfs\"}, \"process\": {\"user\": {\"uid\": "
			   "\"root\"}}}");
	r = image_read_bundle(dir, &i, why, sizeof(why));
	ok(r == -EINVAL && strstr(why, "numeric uid and gid"), "bundle: a named uid: %s", why);
	put("config.json", "{\"root\": ");
	r = image_read_bundle(dir, &i, why, sizeof(why));
	ok(r == -EINVAL && strstr(why, "not valid JSON: offset"), "bundle: bad JSON: %s", why);
}

/* The keys' checks across the file. */
static void config_cases(void)
{
	static const struct {
		const char *text, *error;
	} cases[] = {
	    {"[Container]\nImage=/srv/web:1\n", NULL},
	    {"[Container]\nOCIBundle=/srv/bundle\n", NULL},
	    {"[Container]\nImage=/srv/web:1\nDirectory=/srv/x\nExec=/x\n",
	     "Directory=, Image= and OCIBundle= each name the root: set one of them"},
	    {"[Container]\nImage=/srv/web:1\nOCIBundle=/srv/b\n", "set one of them"},
	    {"[Container]\nImage=/srv/web:1\nReadOnly=no\n",
	     "ReadOnly=no with Image=: the unpacked image is shared"},
	    {"[Container]\nImage=web:1\n", "x.conf:4: Image=: invalid image 'web:1': 'web' is "
					   "not an absolute, normalized path"},
	    {"[Container]\nOCIBundle=bundle\n", "x.conf:4: OCIBundle=: invalid path 'bundle'"},
	    {"[Container]\nDirectory=/srv/x\n", "Exec= is missing"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config_errors errs = {0};
		struct service_config *c = NULL;
		char text[600];
		int r;

		/* [Container] is line 3: its first key is line 4. */
		snprintf(text, sizeof(text), "[Socket]\nListenStream=8080\n%s", cases[i].text);
		r = config_parse_string(text, "x.conf", "x", &errs, &c);
		if (!cases[i].error)
			ok(r == 0 && c && !c->container.working_directory,
			   "config: case %zu is valid, WorkingDirectory= left to the image", i);
		else
			ok(r < 0 && errs.n > 0 && strstr(errs.messages[0], cases[i].error),
			   "config: refused: %s", errs.n ? errs.messages[0] : "(no error)");
		config_free(c);
		config_errors_clear(&errs);
	}
}

int main(void)
{
	if (!mkdtemp(dir))
		bail_out("mkdtemp");
	json_cases();
	ref_cases();
	layout_cases();
	bundle_cases();
	config_cases();
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			printf("# cannot remove %s\n", dir);
	}
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}
