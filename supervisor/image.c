/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "image.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/json-value.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/strv.h"
#include "supervisor/rootdir.h"

#define TOOL_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* The tag skopeo gives an archive's image in its temporary layout. */
#define ARCHIVE_TAG "nsinetd"
#define MEDIA_INDEX "application/vnd.oci.image.index.v1+json"

static int whyf(int r, char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int whyf(int r, char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
	return r;
}

/* --- references ----------------------------------------------------------- */

/* As the OCI distribution spec's tag: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}. */
static bool tag_is_valid(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > 128 || !(isalnum((unsigned char)t[0]) || t[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)t[i]) && !strchr("._-", t[i]))
			return false;
	return true;
}

int image_ref_parse(const char *s, struct image_ref *ret, char *why, size_t why_len)
{
	struct image_ref ref = {.transport = IMAGE_LAYOUT};
	_cleanup_free_ char *path = NULL;
	const char *p = s, *slash, *colon;

	if (strncmp(s, "oci-archive:", 12) == 0) {
		ref.transport = IMAGE_OCI_ARCHIVE;
		p = s + 12;
	} else if (strncmp(s, "docker-archive:", 15) == 0) {
		ref.transport = IMAGE_DOCKER_ARCHIVE;
		p = s + 15;
	}
	slash = strrchr(p, '/');
	colon = strchr(slash ? slash : p, ':');
	path = colon ? strndup(p, (size_t)(colon - p)) : strdup(p);
	if (!path)
		return -ENOMEM;
	if (!path_is_absolute_normalized(path))
		return whyf(-EINVAL, why, why_len,
			    "'%s' is not an absolute, normalized path (expected /PATH[:TAG], "
			    "oci-archive:/PATH[:TAG] or docker-archive:/PATH)",
			    path);
	if (colon && ref.transport == IMAGE_DOCKER_ARCHIVE)
		return whyf(-EINVAL, why, why_len,
			    "a docker-archive takes no tag (docker-archive:/PATH)");
	if (colon && !tag_is_valid(colon + 1))
		return whyf(-EINVAL, why, why_len,
			    "invalid tag '%s': 1-128 letters, digits, '_', '.' or '-', not "
			    "starting with '.' or '-'",
			    colon + 1);
	if (ref.transport != IMAGE_DOCKER_ARCHIVE) {
		ref.tag = strdup(colon ? colon + 1 : "latest");
		if (!ref.tag)
			return -ENOMEM;
	}
	ref.path = TAKE_PTR(path);
	*ret = ref;
	return 0;
}

void image_ref_done(struct image_ref *ref)
{
	free(ref->path);
	free(ref->tag);
	*ref = (struct image_ref){0};
}

struct image_info *image_info_free(struct image_info *i)
{
	if (!i)
		return NULL;
	free(i->digest);
	free(i->rootfs);
	strv_free(i->argv);
	strv_free(i->env);
	free(i->working_directory);
	free(i->user);
	free(i->group);
	strv_free(i->exposed_ports);
	strv_free(i->warnings);
	free(i);
	return NULL;
}

/* --- reading -------------------------------------------------------------- */

/* Reads dir_fd/rel: a regular file of at most IMAGE_MAX_JSON bytes, no
 * link followed, nothing outside dir_fd, and parses it. */
static int read_json(int dir_fd, const char *rel, const char *what, struct json_value **ret,
		     char *why, size_t why_len)
{
	struct open_how how = {
	    /* O_PATH first: a FIFO or a device is refused before it is
	     * opened for reading (which may block or act). */
	    .flags = O_PATH | O_CLOEXEC,
	    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	_cleanup_close_ int path_fd = -1, fd = -1;
	_cleanup_free_ char *buf = NULL;
	char jwhy[128], proc[64];
	struct stat st, st2;
	size_t size = 0;
	int r;

	path_fd = (int)syscall(SYS_openat2, dir_fd, rel, &how, sizeof(how));
	if (path_fd < 0)
		return whyf(negative_errno(), why, why_len, "cannot open %s %s: %s", what, rel,
			    errno == ELOOP ? "a symbolic link" : strerror(errno));
	if (fstat(path_fd, &st) < 0 || !S_ISREG(st.st_mode))
		return whyf(-EINVAL, why, why_len, "%s %s is not a regular file", what, rel);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", path_fd);
	fd = open(proc, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st2) < 0 || st2.st_ino != st.st_ino || st2.st_dev != st.st_dev)
		return whyf(fd < 0 ? negative_errno() : -ESTALE, why, why_len,
			    "cannot open %s %s: %s", what, rel,
			    fd < 0 ? strerror(errno) : "replaced while opened");
	if (st.st_size > IMAGE_MAX_JSON)
		return whyf(-EFBIG, why, why_len, "%s %s is too big (%lld bytes, at most %d)", what,
			    rel, (long long)st.st_size, IMAGE_MAX_JSON);
	buf = malloc(IMAGE_MAX_JSON + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t k = read(fd, buf + size, IMAGE_MAX_JSON + 1 - size);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return whyf(negative_errno(), why, why_len, "cannot read %s %s: %s", what,
				    rel, strerror(errno));
		if (k == 0)
			break;
		size += (size_t)k;
		if (size > IMAGE_MAX_JSON)
			return whyf(-EFBIG, why, why_len, "%s %s is too big (more than %d bytes)",
				    what, rel, IMAGE_MAX_JSON);
	}
	r = json_value_parse(buf, size, ret, jwhy, sizeof(jwhy));
	if (r < 0)
		return whyf(r, why, why_len, "%s %s is not valid JSON: %s", what, rel, jwhy);
	return 0;
}

/* Opens dir (a layout or a bundle, kind) and reads its rel as read_json(). */
static int open_dir_json(const char *dir, const char *kind, const char *rel, int *ret_fd,
			 struct json_value **ret, char *why, size_t why_len)
{
	char what[32];

	*ret_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*ret_fd < 0)
		return whyf(negative_errno(), why, why_len, "cannot open the %s %s: %s", kind, dir,
			    strerror(errno));
	snprintf(what, sizeof(what), "the %s's", kind);
	return read_json(*ret_fd, rel, what, ret, why, why_len);
}

/* "sha256:" and 64 lowercase hex digits: also what makes it a safe
 * file name below blobs/sha256. */
static bool digest_is_valid(const char *d)
{
	if (!d || strncmp(d, "sha256:", 7) != 0 || strlen(d) != 7 + 64)
		return false;
	for (const char *p = d + 7; *p; p++)
		if (!isdigit((unsigned char)*p) && !(*p >= 'a' && *p <= 'f'))
			return false;
	return true;
}

static int read_blob(int dir_fd, const char *digest, const char *what, struct json_value **ret,
		     char *why, size_t why_len)
{
	char rel[128];

	if (!digest_is_valid(digest))
		return whyf(-EINVAL, why, why_len, "the %s's digest '%.80s' is not sha256:HEX",
			    what, digest ? digest : "(none)");
	snprintf(rel, sizeof(rel), "blobs/sha256/%s", digest + 7);
	return read_json(dir_fd, rel, what, ret, why, why_len);
}

/* Fields of the image config's "config" object. */
static int info_from_image_config(const struct json_value *cfg, struct image_info *i, char *why,
				  size_t why_len)
{
	_cleanup_strv_free_ char **entry = NULL, **cmd = NULL;
	const struct json_value *v;
	const char *s;

	if (!cfg)
		return 0; /* an image without config: nothing to default */
	if (cfg->type != JSON_OBJECT)
		return whyf(-EINVAL, why, why_len,
			    "the image config's \"config\" is not an object");
#define STRV_FIELD(name, dst)                                                                      \
	do {                                                                                       \
		v = json_value_get(cfg, name);                                                     \
		if (v && v->type != JSON_NULL && json_value_strv(v, dst) < 0)                      \
			return whyf(-EINVAL, why, why_len,                                         \
				    "the image config's " name " is not an array of strings");     \
	} while (0)
	STRV_FIELD("Entrypoint", &entry);
	STRV_FIELD("Cmd", &cmd);
	STRV_FIELD("Env", &i->env);
#undef STRV_FIELD
	STRV_FOREACH (e, i->env)
		if (!strchr(*e, '=') || **e == '=')
			return whyf(-EINVAL, why, why_len,
				    "the image config's Env has '%.64s', not KEY=value", *e);
	if (strv_length(i->env) > 256)
		return whyf(-E2BIG, why, why_len,
			    "the image config's Env has more than 256 entries");
	i->argv = TAKE_PTR(entry);
	STRV_FOREACH (c, cmd)
		if (strv_push(&i->argv, *c) < 0)
			return -ENOMEM;
	if (i->argv && !i->argv[0])
		i->argv = strv_free(i->argv);
	if ((s = json_value_string(json_value_get(cfg, "WorkingDir"))) && *s) {
		if (s[0] != '/')
			return whyf(-EINVAL, why, why_len,
				    "the image config's WorkingDir '%.64s' is not absolute", s);
		i->working_directory = strdup(s);
		if (!i->working_directory)
			return -ENOMEM;
	}
	if ((s = json_value_string(json_value_get(cfg, "User"))) && *s) {
		const char *colon = strchr(s, ':');

		i->user = colon ? strndup(s, (size_t)(colon - s)) : strdup(s);
		if (!i->user || (colon && !(i->group = strdup(colon + 1))))
			return -ENOMEM;
	}
	v = json_value_get(cfg, "ExposedPorts");
	for (size_t k = 0; v && v->type == JSON_OBJECT && k < v->n && k < 64; k++)
		if (strv_push(&i->exposed_ports, v->keys[k]) < 0)
			return -ENOMEM;
	return 0;
}

int image_read_layout(const char *dir, const char *tag, struct image_info **ret, char *why,
		      size_t why_len)
{
	_cleanup_close_ int dir_fd = -1;
	struct json_value *index = NULL, *manifest = NULL, *config = NULL;
	const struct json_value *ms, *found = NULL;
	struct image_info *i = calloc(1, sizeof(*i));
	const char *digest = NULL, *media;
	int r;

	if (!i)
		return -ENOMEM;
	r = open_dir_json(dir, "layout", "index.json", &dir_fd, &index, why, why_len);
	if (r < 0)
		goto out;
	ms = json_value_get(index, "manifests");
	for (size_t k = 0; ms && ms->type == JSON_ARRAY && k < ms->n; k++) {
		const struct json_value *ann = json_value_get(ms->items[k], "annotations");
		const char *name =
		    json_value_string(json_value_get(ann, "org.opencontainers.image.ref.name"));

		if (name && strcmp(name, tag) == 0)
			found = ms->items[k];
	}
	if (!found) {
		r = whyf(-ENOENT, why, why_len, "no manifest tagged '%s' in %s/index.json", tag,
			 dir);
		goto out;
	}
	media = json_value_string(json_value_get(found, "mediaType"));
	if (media && strcmp(media, MEDIA_INDEX) == 0) {
		r = whyf(-EOPNOTSUPP, why, why_len,
			 "'%s' is an image index (several platforms): copy one platform's image "
			 "into the layout (skopeo copy --override-arch ...)",
			 tag);
		goto out;
	}
	digest = json_value_string(json_value_get(found, "digest"));
	r = read_blob(dir_fd, digest, "manifest", &manifest, why, why_len);
	if (r < 0)
		goto out;
	r = read_blob(
	    dir_fd, json_value_string(json_value_get(json_value_get(manifest, "config"), "digest")),
	    "image config", &config, why, why_len);
	if (r < 0)
		goto out;
	r = info_from_image_config(json_value_get(config, "config"), i, why, why_len);
	if (r < 0)
		goto out;
	i->digest = strdup(digest);
	if (!i->digest) {
		r = -ENOMEM;
		goto out;
	}
	*ret = TAKE_PTR(i);
out:
	if (r == -ENOMEM)
		snprintf(why, why_len, "out of memory");
	json_value_free(index);
	json_value_free(manifest);
	json_value_free(config);
	image_info_free(i);
	return r;
}

/* The mounts every runtime's default config.json has (runc spec,
 * umoci): nsinetd makes its own /proc, /dev, /dev/pts, /dev/shm,
 * /dev/mqueue and /sys, so these are not missed. */
static bool default_mount(const char *dest)
{
	static const char *const defaults[] = {"/proc",          "/dev",        "/dev/pts",
					       "/dev/shm",       "/dev/mqueue", "/sys",
					       "/sys/fs/cgroup", "/run",        "/tmp"};

	for (size_t k = 0; k < ELEMENTSOF(defaults); k++)
		if (strcmp(dest, defaults[k]) == 0)
			return true;
	return false;
}

/* Names each part of config.json that nsinetd does not apply. */
static int bundle_warnings(const struct json_value *c, char ***w)
{
	static const char *const top[] = {"hooks", "annotations_hooks"};
	static const char *const linux_parts[] = {"devices",     "seccomp",     "resources",
						  "sysctl",      "intelRdt",    "personality",
						  "uidMappings", "gidMappings", "rootfsPropagation",
						  "mountLabel",  "timeOffsets"};
	static const char *const process_parts[] = {
	    "capabilities", "rlimits",    "apparmorProfile", "selinuxLabel",
	    "oomScoreAdj",  "ioPriority", "scheduler"};
	const struct json_value *lx = json_value_get(c, "linux"), *p = json_value_get(c, "process"),
				*mounts = json_value_get(c, "mounts");
	char *m;

#define WARN(...)                                                                                  \
	do {                                                                                       \
		if (asprintf(&m, __VA_ARGS__) < 0 || strv_consume(w, m) < 0)                       \
			return -ENOMEM;                                                            \
	} while (0)
	for (size_t k = 0; k < ELEMENTSOF(top); k++)
		if (json_value_get(c, top[k]))
			WARN("%s (not run)", top[k]);
	for (size_t k = 0; k < ELEMENTSOF(linux_parts); k++)
		if (json_value_get(lx, linux_parts[k]))
			WARN("linux.%s (use the service's own keys)", linux_parts[k]);
	for (size_t k = 0; k < ELEMENTSOF(process_parts); k++)
		if (json_value_get(p, process_parts[k]))
			WARN("process.%s (use the service's own keys)", process_parts[k]);
	for (size_t k = 0; mounts && mounts->type == JSON_ARRAY && k < mounts->n; k++) {
		const char *d = json_value_string(json_value_get(mounts->items[k], "destination"));

		if (d && !default_mount(d))
			WARN("mounts: %.200s (use Bind=)", d);
	}
	if (json_value_get(p, "terminal") && json_value_get(p, "terminal")->type == JSON_TRUE)
		WARN("process.terminal (no terminal)");
#undef WARN
	return 0;
}

int image_read_bundle(const char *dir, struct image_info **ret, char *why, size_t why_len)
{
	_cleanup_close_ int dir_fd = -1;
	struct json_value *c = NULL;
	const struct json_value *p, *root, *user, *v;
	struct image_info *i = calloc(1, sizeof(*i));
	const char *s;
	uint64_t uid, gid;
	int r;

	if (!i)
		return -ENOMEM;
	r = open_dir_json(dir, "bundle", "config.json", &dir_fd, &c, why, why_len);
	if (r < 0)
		goto out;
	r = -EINVAL;
	root = json_value_get(c, "root");
	s = json_value_string(json_value_get(root, "path"));
	if (!s || !*s) {
		whyf(r, why, why_len, "config.json has no root.path");
		goto out;
	}
	/* Relative to the bundle, or absolute; normalized, no "..". */
	if (s[0] == '/' ? !path_is_absolute_normalized(s)
			: (strstr(s, "..") || strstr(s, "//") || s[strlen(s) - 1] == '/')) {
		whyf(r, why, why_len, "config.json's root.path '%.200s' is not a normalized path",
		     s);
		goto out;
	}
	if (s[0] == '/' ? !(i->rootfs = strdup(s)) : asprintf(&i->rootfs, "%s/%s", dir, s) < 0) {
		i->rootfs = NULL;
		r = -ENOMEM;
		goto out;
	}
	v = json_value_get(root, "readonly");
	i->read_only_root = v && v->type == JSON_TRUE;
	p = json_value_get(c, "process");
	if ((v = json_value_get(p, "args")) && json_value_strv(v, &i->argv) < 0) {
		whyf(r, why, why_len, "config.json's process.args is not an array of strings");
		goto out;
	}
	if (i->argv && !i->argv[0])
		i->argv = strv_free(i->argv);
	if ((v = json_value_get(p, "env")) && json_value_strv(v, &i->env) < 0) {
		whyf(r, why, why_len, "config.json's process.env is not an array of strings");
		goto out;
	}
	STRV_FOREACH (e, i->env)
		if (!strchr(*e, '=') || **e == '=') {
			whyf(r, why, why_len,
			     "config.json's process.env has '%.64s', not KEY=value", *e);
			goto out;
		}
	if ((s = json_value_string(json_value_get(p, "cwd"))) && *s) {
		if (s[0] != '/') {
			whyf(r, why, why_len, "config.json's process.cwd '%.64s' is not absolute",
			     s);
			goto out;
		}
		if (!(i->working_directory = strdup(s))) {
			r = -ENOMEM;
			goto out;
		}
	}
	user = json_value_get(p, "user");
	if (user) {
		if (json_value_uint(json_value_get(user, "uid"), 0xfffffffe, &uid) < 0 ||
		    json_value_uint(json_value_get(user, "gid"), 0xfffffffe, &gid) < 0) {
			whyf(r, why, why_len,
			     "config.json's process.user needs numeric uid and gid");
			goto out;
		}
		if (asprintf(&i->user, "%llu", (unsigned long long)uid) < 0 ||
		    asprintf(&i->group, "%llu", (unsigned long long)gid) < 0) {
			r = -ENOMEM;
			goto out;
		}
		if (json_value_get(user, "additionalGids") &&
		    json_value_get(user, "additionalGids")->n > 0 &&
		    strv_push(&i->warnings, "process.user.additionalGids (no supplementary "
					    "groups in a tree)") < 0) {
			r = -ENOMEM;
			goto out;
		}
	}
	r = bundle_warnings(c, &i->warnings);
	if (r < 0)
		goto out;
	*ret = TAKE_PTR(i);
	r = 0;
out:
	json_value_free(c);
	image_info_free(i);
	return r;
}

int image_source_stamp(const char *image, const char *bundle, char **ret)
{
	_cleanup_free_ char *path = NULL;
	struct image_ref ref;
	struct stat st;
	char why[IMAGE_WHY_MAX];
	int r;

	*ret = NULL;
	if (bundle) {
		if (asprintf(&path, "%s/config.json", bundle) < 0)
			return -ENOMEM;
	} else {
		r = image_ref_parse(image, &ref, why, sizeof(why));
		if (r < 0)
			return r;
		if (ref.transport == IMAGE_LAYOUT) {
			struct image_info *i = NULL;

			r = image_read_layout(ref.path, ref.tag, &i, why, sizeof(why));
			image_ref_done(&ref);
			if (r < 0)
				return r;
			*ret = TAKE_PTR(i->digest);
			image_info_free(i);
			return 0;
		}
		path = TAKE_PTR(ref.path);
		image_ref_done(&ref);
	}
	if (stat(path, &st) < 0)
		return negative_errno();
	if (asprintf(ret, "%llx:%llx:%lld:%lld.%09ld", (unsigned long long)st.st_dev,
		     (unsigned long long)st.st_ino, (long long)st.st_size,
		     (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec) < 0) {
		*ret = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* --- child processes -------------------------------------------------------- */

struct image_child;
typedef void (*child_done_fn)(struct image_child *ch, int status, const char *err);

/* A program the loop watches: its pidfd for the exit, its stderr in a
 * memfd (the last bytes go into an error message). Frees itself after
 * its callback. */
struct image_child {
	struct image_cache *cache;
	struct image_child *next;
	pid_t pid;
	int pidfd;
	int err_fd;
	struct event *event;
	child_done_fn done; /* NULL: nobody waits (a removal, a cancelled job) */
	void *userdata;
};

struct image_cache {
	struct event_base *base;
	char *state_dir;
	bool prepared; /* the directories exist, tmp/ was cleaned */
	char *dir;     /* STATE/images */
	char *tmp_dir; /* STATE/images/tmp */
	unsigned seq;
	struct image_child *children;
};

static void child_unlink(struct image_child *ch)
{
	for (struct image_child **p = &ch->cache->children; *p; p = &(*p)->next)
		if (*p == ch) {
			*p = ch->next;
			break;
		}
}

static void child_free(struct image_child *ch)
{
	child_unlink(ch);
	if (ch->event)
		event_free(ch->event);
	safe_close(ch->pidfd);
	safe_close(ch->err_fd);
	free(ch);
}

static void child_cb(evutil_socket_t fd, short what, void *arg)
{
	struct image_child *ch = arg;
	siginfo_t si = {0};
	char err[512] = "";
	off_t size;

	if (waitid((idtype_t)P_PIDFD, (id_t)ch->pidfd, &si, WEXITED | WNOHANG) < 0 ||
	    si.si_pid == 0)
		return; /* not yet (a spurious wake-up) */
	size = lseek(ch->err_fd, 0, SEEK_END);
	if (size > 0) {
		off_t from = size > (off_t)sizeof(err) - 1 ? size - (off_t)sizeof(err) + 1 : 0;
		ssize_t k = pread(ch->err_fd, err, sizeof(err) - 1, from);

		err[k > 0 ? k : 0] = '\0';
		/* One line for the log. */
		for (char *p = err; *p; p++)
			if ((unsigned char)*p < ' ')
				*p = ' ';
	}
	if (ch->done)
		ch->done(ch, si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status, err);
	child_free(ch);
}

static int child_spawn(struct image_cache *c, char *const argv[], child_done_fn done,
		       void *userdata, struct image_child **ret)
{
	_cleanup_free_ char *tmp = NULL;
	char *envp[3] = {(char *)TOOL_PATH, NULL, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	struct image_child *ch = calloc(1, sizeof(*ch));
	sigset_t none, all;
	int r;

	if (!ch)
		return -ENOMEM;
	ch->cache = c;
	ch->pidfd = -1;
	ch->done = done;
	ch->userdata = userdata;
	ch->err_fd = memfd_create("nsinetd-image-stderr", MFD_CLOEXEC);
	if (ch->err_fd < 0 || asprintf(&tmp, "TMPDIR=%s", c->tmp_dir) < 0) {
		r = ch->err_fd < 0 ? negative_errno() : -ENOMEM;
		tmp = NULL;
		child_free(ch);
		return r;
	}
	envp[1] = tmp;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_init(&attr);
	posix_spawn_file_actions_init(&fa);
	/* A plain process: default signals, none blocked, its own session. */
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					    POSIX_SPAWN_SETSID);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, ch->err_fd, 2);
	r = -posix_spawnp(&ch->pid, argv[0], &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r < 0) {
		child_free(ch);
		return r;
	}
	ch->next = c->children;
	c->children = ch;
	ch->pidfd = (int)syscall(SYS_pidfd_open, ch->pid, 0);
	if (ch->pidfd >= 0)
		ch->event = event_new(c->base, ch->pidfd, EV_READ | EV_PERSIST, child_cb, ch);
	if (ch->pidfd < 0 || !ch->event || event_add(ch->event, NULL) < 0) {
		/* Cannot watch it: it must not run unwatched. */
		(void)kill(ch->pid, SIGKILL);
		(void)waitpid(ch->pid, NULL, 0);
		child_free(ch);
		return -ENOMEM;
	}
	if (ret)
		*ret = ch;
	return 0;
}

/* Kills a child whose outcome nobody wants any more; it is reaped from
 * the loop (or by image_cache_free()). */
static void child_abandon(struct image_child *ch)
{
	if (!ch)
		return;
	ch->done = NULL;
	(void)syscall(SYS_pidfd_send_signal, ch->pidfd, SIGKILL, NULL, 0);
}

/* Renames path into tmp/ and removes it with rm(1), in the background. */
static void remove_tree(struct image_cache *c, const char *path)
{
	_cleanup_free_ char *trash = NULL;

	if (asprintf(&trash, "%s/gone-%d-%u", c->tmp_dir, (int)getpid(), ++c->seq) < 0)
		return;
	if (rename(path, trash) < 0) {
		if (errno != ENOENT)
			log_errno(LOG_WARNING, -errno, "cannot remove %s", path);
		return;
	}
	char *argv[] = {(char *)"rm", (char *)"-rf", (char *)"--one-file-system", trash, NULL};
	if (child_spawn(c, argv, NULL, NULL, NULL) < 0)
		log_warning("cannot run rm to remove %s", trash);
}

/* --- the cache -------------------------------------------------------------- */

static int mkdir_private(const char *path)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return negative_errno();
	return 0;
}

int image_cache_new(struct event_base *base, const char *state_dir, struct image_cache **ret)
{
	struct image_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->base = base;
	if (!(c->state_dir = strdup(state_dir)) || asprintf(&c->dir, "%s/images", state_dir) < 0 ||
	    asprintf(&c->tmp_dir, "%s/images/tmp", state_dir) < 0) {
		image_cache_free(c);
		return -ENOMEM;
	}
	*ret = c;
	return 0;
}

/* The directories, made at the first job: a daemon without Image= leaves
 * no trace on the host. */
static int cache_prepare(struct image_cache *c, char *why, size_t why_len)
{
	DIR *d;
	struct dirent *de;
	int r;

	if (c->prepared)
		return 0;
	/* Root's alone: the trees keep the images' owners and modes. */
	if ((r = mkdir_private(c->state_dir)) < 0 || (r = mkdir_private(c->dir)) < 0 ||
	    (r = mkdir_private(c->tmp_dir)) < 0)
		return whyf(r, why, why_len, "cannot create %s: %s (see --state-dir)", c->tmp_dir,
			    strerror(-r));
	c->prepared = true;
	/* What an earlier daemon left half done. */
	d = opendir(c->tmp_dir);
	while (d && (de = readdir(d))) {
		_cleanup_free_ char *p = NULL;

		if (de->d_name[0] == '.' || asprintf(&p, "%s/%s", c->tmp_dir, de->d_name) < 0)
			continue;
		remove_tree(c, p);
	}
	if (d)
		closedir(d);
	return 0;
}

struct image_cache *image_cache_free(struct image_cache *c)
{
	if (!c)
		return NULL;
	while (c->children) {
		struct image_child *ch = c->children;

		/* A removal may finish; a tool working for a job is killed. */
		if (ch->done)
			(void)kill(ch->pid, SIGKILL);
		(void)waitpid(ch->pid, NULL, 0);
		child_free(ch);
	}
	free(c->state_dir);
	free(c->dir);
	free(c->tmp_dir);
	free(c);
	return NULL;
}

void image_cache_gc(struct image_cache *c, char *const *used)
{
	DIR *d;
	struct dirent *de;

	if (!c)
		return;
	d = opendir(c->dir);
	while (d && (de = readdir(d))) {
		_cleanup_free_ char *p = NULL;
		char digest[80];

		if (strncmp(de->d_name, "sha256-", 7) != 0)
			continue;
		snprintf(digest, sizeof(digest), "sha256:%s", de->d_name + 7);
		if (strv_contains(used, digest) || asprintf(&p, "%s/%s", c->dir, de->d_name) < 0)
			continue;
		log_info("image %s: no service uses it, removing its tree", digest);
		remove_tree(c, p);
	}
	if (d)
		closedir(d);
}

/* --- a job ------------------------------------------------------------------ */

struct image_job {
	struct image_cache *cache;
	char *name;
	struct image_ref ref;
	char *layout; /* the layout umoci reads: the image's, or skopeo's copy */
	char *tag;
	char *copy;   /* skopeo's copy (tmp/), removed at the end */
	char *unpack; /* umoci's bundle under way (tmp/) */
	struct image_info *info;
	struct image_child *child;
	struct event *finish; /* done from the loop, never from job_start() */
	usec_t started;
	int r;
	char why[IMAGE_WHY_MAX];
	image_done_fn done;
	void *userdata;
};

static usec_t now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000;
}

static void job_fail(struct image_job *j, int r)
{
	j->r = r < 0 ? r : -EINVAL;
	event_active(j->finish, EV_TIMEOUT, 0);
}

static char *cache_path(struct image_job *j)
{
	char *p;

	if (asprintf(&p, "%s/sha256-%s", j->cache->dir, j->info->digest + 7) < 0)
		return NULL;
	return p;
}

/* The tree is there: its user must be found in its own /etc/passwd. */
static void job_ready(struct image_job *j)
{
	_cleanup_free_ char *bundle = cache_path(j), *home = NULL;
	_cleanup_close_ int root_fd = -1;
	char why[ROOTDIR_WHY_MAX];
	uid_t uid;
	gid_t gid;
	int r;

	if (!bundle || asprintf(&j->info->rootfs, "%s/rootfs", bundle) < 0) {
		j->info->rootfs = NULL;
		job_fail(j, -ENOMEM);
		return;
	}
	r = rootdir_open(j->info->rootfs, &root_fd, why, sizeof(why));
	if (r < 0) {
		whyf(r, j->why, sizeof(j->why), "the unpacked tree %s: %s", j->info->rootfs, why);
		job_fail(j, r);
		return;
	}
	if (j->info->user && !isdigit((unsigned char)j->info->user[0])) {
		r = rootdir_lookup_user(root_fd, j->info->user, &uid, &gid, &home, why,
					sizeof(why));
		if (r < 0) {
			whyf(r, j->why, sizeof(j->why), "the image's User %s: %s", j->info->user,
			     why);
			job_fail(j, r);
			return;
		}
	}
	log_info("%s: image %s ready (%s), %.1f ms", j->name, j->info->digest, j->info->rootfs,
		 (double)(now_mono() - j->started) / USEC_PER_MSEC);
	j->r = 0;
	event_active(j->finish, EV_TIMEOUT, 0);
}

static void unpacked_cb(struct image_child *ch, int status, const char *err)
{
	struct image_job *j = ch->userdata;
	_cleanup_free_ char *dest = NULL;

	j->child = NULL;
	if (status != 0) {
		whyf(-EIO, j->why, sizeof(j->why), "umoci unpack failed (status %d): %s", status,
		     err);
		job_fail(j, -EIO);
		return;
	}
	dest = cache_path(j);
	if (!dest) {
		job_fail(j, -ENOMEM);
		return;
	}
	/* Another job may have unpacked the same digest meanwhile. */
	if (rename(j->unpack, dest) < 0 && errno != EEXIST && errno != ENOTEMPTY) {
		whyf(-errno, j->why, sizeof(j->why), "cannot move the tree to %s: %s", dest,
		     strerror(errno));
		job_fail(j, -errno);
		return;
	}
	if (access(j->unpack, F_OK) < 0) {
		free(j->unpack);
		j->unpack = NULL; /* moved; else removed with the job */
	}
	job_ready(j);
}

static void job_resolve(struct image_job *j)
{
	_cleanup_free_ char *dest = NULL, *src = NULL, *rootfs = NULL;
	struct stat st;
	int r;

	r = image_read_layout(j->layout, j->tag, &j->info, j->why, sizeof(j->why));
	if (r < 0) {
		job_fail(j, r);
		return;
	}
	dest = cache_path(j);
	if (!dest) {
		job_fail(j, -ENOMEM);
		return;
	}
	if (lstat(dest, &st) == 0 && S_ISDIR(st.st_mode)) {
		log_info("%s: image %s is unpacked already", j->name, j->info->digest);
		job_ready(j);
		return;
	}
	if (asprintf(&j->unpack, "%s/unpack-%d-%u", j->cache->tmp_dir, (int)getpid(),
		     ++j->cache->seq) < 0 ||
	    asprintf(&src, "%s:%s", j->layout, j->tag) < 0) {
		j->unpack = NULL;
		job_fail(j, -ENOMEM);
		return;
	}
	if (mkdir(j->unpack, 0700) < 0 || asprintf(&rootfs, "%s/rootfs", j->unpack) < 0) {
		rootfs = NULL;
		job_fail(j, -errno);
		return;
	}
	log_info("%s: unpacking image %s with umoci", j->name, j->info->digest);
	/* The layers only: umoci's config.json would resolve the image's
	 * User= in the tree itself; nsinetd reads the config and the tree's
	 * /etc/passwd on its own terms (job_ready()). */
	char *argv[] = {(char *)"umoci", (char *)"raw", (char *)"unpack", (char *)"--image", src,
			rootfs,          NULL};
	r = child_spawn(j->cache, argv, unpacked_cb, j, &j->child);
	if (r < 0) {
		whyf(r, j->why, sizeof(j->why), "cannot run umoci: %s%s", strerror(-r),
		     r == -ENOENT ? " (install Debian's umoci)" : "");
		job_fail(j, r);
	}
}

static void copied_cb(struct image_child *ch, int status, const char *err)
{
	struct image_job *j = ch->userdata;

	j->child = NULL;
	if (status != 0) {
		whyf(-EIO, j->why, sizeof(j->why), "skopeo cannot read %s: %s", j->ref.path, err);
		job_fail(j, -EIO);
		return;
	}
	job_resolve(j);
}

static void finish_cb(evutil_socket_t fd, short what, void *arg)
{
	struct image_job *j = arg;
	image_done_fn done = j->done;
	void *userdata = j->userdata;
	struct image_info *info = j->r >= 0 ? TAKE_PTR(j->info) : NULL;
	int r = j->r;
	char why[IMAGE_WHY_MAX];

	snprintf(why, sizeof(why), "%s", j->why[0] ? j->why : strerror(-r));
	image_job_cancel(j);
	done(userdata, r, info, why);
}

int image_job_start(struct image_cache *c, const char *name, const char *image, image_done_fn done,
		    void *userdata, struct image_job **ret)
{
	struct image_job *j = calloc(1, sizeof(*j));
	char why[IMAGE_WHY_MAX];
	int r;

	if (!j)
		return -ENOMEM;
	j->cache = c;
	j->done = done;
	j->userdata = userdata;
	j->started = now_mono();
	j->name = strdup(name);
	j->finish = event_new(c->base, -1, 0, finish_cb, j);
	r = image_ref_parse(image, &j->ref, why, sizeof(why));
	if (!j->name || !j->finish || r < 0) {
		image_job_cancel(j);
		return r < 0 ? r : -ENOMEM;
	}
	*ret = j;
	r = cache_prepare(c, j->why, sizeof(j->why));
	if (r < 0) {
		job_fail(j, r);
		return 0;
	}
	if (j->ref.transport == IMAGE_LAYOUT) {
		j->layout = strdup(j->ref.path);
		j->tag = strdup(j->ref.tag);
		if (!j->layout || !j->tag)
			job_fail(j, -ENOMEM);
		else
			job_resolve(j);
		return 0;
	}
	_cleanup_free_ char *src = NULL, *dst = NULL;
	if (asprintf(&j->copy, "%s/copy-%d-%u", c->tmp_dir, (int)getpid(), ++c->seq) < 0 ||
	    asprintf(&src, "%s:%s%s%s",
		     j->ref.transport == IMAGE_OCI_ARCHIVE ? "oci-archive" : "docker-archive",
		     j->ref.path, j->ref.tag ? ":" : "", j->ref.tag ? j->ref.tag : "") < 0 ||
	    asprintf(&dst, "oci:%s:" ARCHIVE_TAG, j->copy) < 0 || !(j->tag = strdup(ARCHIVE_TAG))) {
		job_fail(j, -ENOMEM);
		return 0;
	}
	j->layout = strdup(j->copy);
	if (!j->layout) {
		job_fail(j, -ENOMEM);
		return 0;
	}
	log_info("%s: converting %s to an OCI layout with skopeo", name, src);
	/* A local file has no signature to check: no policy applies. */
	char *argv[] = {(char *)"skopeo",
			(char *)"copy",
			(char *)"--quiet",
			(char *)"--insecure-policy",
			src,
			dst,
			NULL};
	r = child_spawn(c, argv, copied_cb, j, &j->child);
	if (r < 0) {
		whyf(r, j->why, sizeof(j->why), "cannot run skopeo: %s%s", strerror(-r),
		     r == -ENOENT ? " (install Debian's skopeo)" : "");
		job_fail(j, r);
	}
	return 0;
}

struct image_job *image_job_cancel(struct image_job *j)
{
	if (!j)
		return NULL;
	child_abandon(j->child);
	if (j->copy)
		remove_tree(j->cache, j->copy);
	if (j->unpack)
		remove_tree(j->cache, j->unpack);
	if (j->finish)
		event_free(j->finish);
	image_ref_done(&j->ref);
	image_info_free(j->info);
	free(j->name);
	free(j->layout);
	free(j->tag);
	free(j->copy);
	free(j->unpack);
	free(j);
	return NULL;
}

/* --- nsinetd --check ---------------------------------------------------------- */

static bool port_listened(const struct service_config *c, unsigned port, bool udp)
{
	for (size_t i = 0; i < c->socket.n_listen; i++) {
		const struct listen_config *l = &c->socket.listen[i];
		int f = socket_address_family(&l->address);
		unsigned p;

		if ((f != AF_INET && f != AF_INET6) || (l->type == LISTEN_DATAGRAM) != udp)
			continue;
		p = ntohs(f == AF_INET ? l->address.sa.in.sin_port : l->address.sa.in6.sin6_port);
		if (p == port)
			return true;
	}
	return false;
}

int image_check(const struct service_config *c, FILE *out, FILE *err)
{
	const struct container_config *cc = &c->container;
	struct image_info *i = NULL;
	struct image_ref ref;
	char why[IMAGE_WHY_MAX];
	int r;

	if (cc->oci_bundle) {
		r = image_read_bundle(cc->oci_bundle, &i, why, sizeof(why));
		if (r < 0) {
			fprintf(err, "%s:%u: OCIBundle=%s: %s\n", c->path, cc->image_line,
				cc->oci_bundle, why);
			return r;
		}
		STRV_FOREACH (w, i->warnings)
			fprintf(out, "%s:%u: OCIBundle=%s: config.json's %s is not applied\n",
				c->path, cc->image_line, cc->oci_bundle, *w);
		image_info_free(i);
		return 0;
	}
	if (!cc->image || image_ref_parse(cc->image, &ref, why, sizeof(why)) < 0)
		return 0;
	if (ref.transport != IMAGE_LAYOUT) {
		/* Read at load, once skopeo has converted it. */
		image_ref_done(&ref);
		return 0;
	}
	r = image_read_layout(ref.path, ref.tag, &i, why, sizeof(why));
	image_ref_done(&ref);
	if (r < 0) {
		fprintf(err, "%s:%u: Image=%s: %s\n", c->path, cc->image_line, cc->image, why);
		return r;
	}
	if (!i->argv && !cc->exec) {
		fprintf(err, "%s:%u: Image=%s: the image has no Entrypoint or Cmd: set Exec=\n",
			c->path, cc->image_line, cc->image);
		image_info_free(i);
		return -ENOEXEC;
	}
	STRV_FOREACH (p, i->exposed_ports) {
		unsigned port = 0;
		char proto[8] = "tcp";

		if (sscanf(*p, "%u/%7s", &port, proto) < 1 || port == 0 || port > 65535)
			continue;
		if (!port_listened(c, port, strcmp(proto, "udp") == 0))
			fprintf(
			    out,
			    "%s:%u: hint: Image=%s exposes %s, which no Listen*= of the service "
			    "has: the image's program gets the service's sockets (LISTEN_FDS); "
			    "if it binds %s itself, it needs a proxy, see nsinetd.conf(5), "
			    "IMAGES\n",
			    c->path, cc->image_line, cc->image, *p, *p);
	}
	image_info_free(i);
	return 0;
}
