/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The [Container] keys of the sandbox: PrivateUsers=, Capabilities=,
 * NoNewPrivileges=, SystemCallFilter= and friends, Limit*=, and the cgroup
 * v2 settings. Secure by default, explicit to loosen.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/resource.h>

#include "activator/syscall-filter.h"
#include "common/cleanup.h"
#include "common/strv.h"
#include "supervisor/config-internal.h"

#define CAP(c) (UINT64_C(1) << (c))

/*
 * The capabilities a root payload keeps when Capabilities= is not given.
 * Docker's default set, minus what lets a container reach past itself:
 *   CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID: a root service
 *     managing its own files (package scripts, web roots) needs them; they
 *     act only on files it can see, and the root is read-only by default;
 *   CAP_KILL: signal its own processes of other uids (inside its pid ns);
 *   CAP_SETUID, CAP_SETGID: drop to a service user (nginx, sshd);
 *     harmless with NoNewPrivileges= and no way into other namespaces;
 *   CAP_SETPCAP: drop capabilities further (only ever lowers them);
 *   CAP_NET_BIND_SERVICE: ports < 1024 (in its own network namespace);
 *   CAP_SYS_CHROOT: chroot(), which some daemons do to confine themselves.
 * Left out of Docker's set: CAP_MKNOD (device nodes), CAP_NET_RAW (raw
 * and packet sockets: spoofing, sniffing in shared network namespaces),
 * CAP_SETFCAP (file capabilities, a way to re-gain what was dropped),
 * CAP_AUDIT_WRITE (the host's audit log). Never by default, as no runtime
 * gives them: CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_SYS_PTRACE, CAP_NET_ADMIN,
 * CAP_SYS_RAWIO, CAP_SYS_BOOT, CAP_SYS_TIME, CAP_DAC_READ_SEARCH (which
 * opens any file by handle), CAP_BPF, CAP_PERFMON, CAP_SYS_RESOURCE,
 * CAP_MAC_*, CAP_SYSLOG, CAP_LINUX_IMMUTABLE, CAP_IPC_LOCK, CAP_LEASE...
 * A non-root User= keeps nothing by default.
 */
#define DEFAULT_ROOT_CAPS                                                                          \
	(CAP(CAP_CHOWN) | CAP(CAP_DAC_OVERRIDE) | CAP(CAP_FOWNER) | CAP(CAP_FSETID) |              \
	 CAP(CAP_KILL) | CAP(CAP_SETUID) | CAP(CAP_SETGID) | CAP(CAP_SETPCAP) |                    \
	 CAP(CAP_NET_BIND_SERVICE) | CAP(CAP_SYS_CHROOT))

/*
 * Boot=yes: what systemd-nspawn leaves a booted OS, over namespaces that
 * its user namespace owns (mount, UTS, IPC) or that only let it act on
 * itself: its init mounts (CAP_SYS_ADMIN), its services drop privileges,
 * sandbox themselves and bind low ports. A capability counts only in the
 * container's user namespace, its root is an unprivileged uid of the host,
 * and the base seccomp filter (modules, kexec, reboot, swap, bpf, keyrings,
 * ptrace ...) still applies. CAP_SYS_BOOT is kept for the init's own
 * checks; reboot() is denied by the filter and by the pid namespace.
 */
#define BOOT_CAPS                                                                                  \
	(DEFAULT_ROOT_CAPS | CAP(CAP_AUDIT_CONTROL) | CAP(CAP_AUDIT_WRITE) |                       \
	 CAP(CAP_DAC_READ_SEARCH) | CAP(CAP_IPC_OWNER) | CAP(CAP_LEASE) |                          \
	 CAP(CAP_LINUX_IMMUTABLE) | CAP(CAP_MKNOD) | CAP(CAP_NET_BROADCAST) | CAP(CAP_NET_RAW) |   \
	 CAP(CAP_SETFCAP) | CAP(CAP_SYS_ADMIN) | CAP(CAP_SYS_BOOT) | CAP(CAP_SYS_NICE) |           \
	 CAP(CAP_SYS_PTRACE) | CAP(CAP_SYS_RESOURCE) | CAP(CAP_SYS_TTY_CONFIG))

uint64_t config_capabilities(const struct container_config *c, uid_t uid)
{
	if (c->sandbox.capabilities_set)
		return c->sandbox.capabilities;
	if (c->boot)
		return BOOT_CAPS;
	return uid == 0 ? DEFAULT_ROOT_CAPS : 0;
}

void sandbox_finish(struct sandbox_config *s, const struct socket_config *sc)
{
	uint64_t n = CONFIG_DEFAULT_LIMIT_NPROC;

	if (s->rlimits[RLIMIT_NPROC].set)
		return;
	if (sc->accept && (uint64_t)sc->max_connections * CONFIG_NPROC_PER_SANDBOX > n)
		n = (uint64_t)sc->max_connections * CONFIG_NPROC_PER_SANDBOX;
	s->rlimits[RLIMIT_NPROC] = (struct rlimit_config){.set = true, .soft = n, .hard = n};
}

/* Removes every copy of value from the NULL-terminated l (NULL is fine). */
static void strv_remove(char **l, const char *value)
{
	char **w = l;

	for (char **r = l; r && *r; r++) {
		if (strcmp(*r, value) == 0)
			free(*r);
		else
			*w++ = *r;
	}
	if (w)
		*w = NULL;
}

static struct sandbox_config *sb(struct parser *p)
{
	return &p->c->container.sandbox;
}

void parse_private_users(struct parser *p, const struct config_key *k, const char *value)
{
	struct sandbox_config *s = sb(p);
	const char *colon;
	uint64_t uid, count = 65536;
	bool b;

	if (parse_boolean(value, &b) == 0 && !b) {
		s->private_users = PRIVATE_USERS_NO;
		return;
	}
	/* An empty value resets to the default, pick. */
	if (!*value || strcmp(value, "pick") == 0 || (parse_boolean(value, &b) == 0 && b)) {
		s->private_users = PRIVATE_USERS_PICK;
		return;
	}
	colon = strchr(value, ':');
	{
		_cleanup_free_ char *u =
		    colon ? strndup(value, (size_t)(colon - value)) : strdup(value);
		if (!u) {
			oom(p);
			return;
		}
		if (parse_uint(u, 0, UINT32_MAX - 1, &uid) < 0 ||
		    (colon && parse_uint(colon + 1, 1, UINT32_MAX, &count) < 0)) {
			perr(p, "%s=: invalid value '%s': expected yes, no, pick or UID[:COUNT]",
			     k->key, value);
			return;
		}
	}
	if (uid == 0) {
		perr(p,
		     "%s=: '%s' maps the container's root to the host's root: use "
		     "PrivateUsers=no, or a range of unprivileged uids",
		     k->key, value);
		return;
	}
	if (uid + count - 1 > UINT32_MAX - 1) {
		perr(p, "%s=: range '%s' goes past the last uid (4294967294)", k->key, value);
		return;
	}
	s->private_users = PRIVATE_USERS_FIXED;
	s->private_users_shift = (uid_t)uid;
	s->private_users_range = (uid_t)count;
}

void parse_capabilities(struct parser *p, const struct config_key *k, const char *value)
{
	struct sandbox_config *s = sb(p);
	_cleanup_strv_free_ char **words = NULL;
	uint64_t caps = 0;

	if (strcmp(value, "default") == 0) {
		/* What config_dump() writes for a file without the key. */
		s->capabilities_set = false;
		s->capabilities = 0;
		return;
	}
	if (!*value) {
		/* An empty value: none at all (not the default). */
		s->capabilities_set = true;
		s->capabilities = 0;
		return;
	}
	words = split_words(p, k->key, value, value);
	if (!words)
		return;
	STRV_FOREACH (w, words) {
		cap_value_t cap;

		/* cap_from_name() takes "cap_chown", any case, and numbers:
		 * names only here, with the CAP_ prefix as systemd writes them. */
		if (strncasecmp(*w, "CAP_", 4) != 0 || cap_from_name(*w, &cap) < 0 || cap < 0 ||
		    cap > CAP_LAST_CAP) {
			perr(p, "%s=: unknown capability '%s' (expected names like CAP_CHOWN)",
			     k->key, *w);
			return;
		}
		caps |= CAP(cap);
	}
	/* Repeated assignments add up, as systemd's lists. */
	s->capabilities = (s->capabilities_set ? s->capabilities : 0) | caps;
	s->capabilities_set = true;
}

void parse_syscall_filter(struct parser *p, const struct config_key *k, const char *value)
{
	struct sandbox_config *s = sb(p);
	_cleanup_strv_free_ char **words = NULL;
	bool deny = value[0] == '~';

	if (!*value) {
		s->syscall_allow = strv_free(s->syscall_allow);
		s->syscall_deny = strv_free(s->syscall_deny);
		s->syscall_allow_list = false;
		return;
	}
	words = split_words(p, k->key, value + deny, value);
	if (!words)
		return;
	if (!words || !words[0]) {
		perr(p, "%s=: '~' without any system call or @group", k->key);
		return;
	}
	STRV_FOREACH (w, words)
		if (activator_seccomp_name_valid(*w) < 0) {
			perr(p, "%s=: unknown system call or group '%s'", k->key, *w);
			return;
		}
	STRV_FOREACH (w, words) {
		/* The later assignment wins for a name given in both lists. */
		strv_remove(deny ? s->syscall_allow : s->syscall_deny, *w);
		if (strv_push(deny ? &s->syscall_deny : &s->syscall_allow, *w) < 0) {
			oom(p);
			return;
		}
	}
	if (!deny)
		s->syscall_allow_list = true;
}

void parse_syscall_error_number(struct parser *p, const struct config_key *k, const char *value)
{
	uint64_t n;

	if (!*value) {
		sb(p)->syscall_error_number = 0;
		return;
	}
	if (parse_uint(value, 1, 4095, &n) == 0) {
		sb(p)->syscall_error_number = (int)n;
		return;
	}
	for (int e = 1; e < 4096; e++) {
		const char *name = strerrorname_np(e);

		if (name && strcmp(name, value) == 0) {
			sb(p)->syscall_error_number = e;
			return;
		}
	}
	perr(p, "%s=: unknown error number '%s' (expected a name like EPERM or 1-4095)", k->key,
	     value);
}

void parse_syscall_architectures(struct parser *p, const struct config_key *k, const char *value)
{
	if (*value && strcmp(value, "native") != 0)
		perr(p,
		     "%s=: '%s' is not supported: only native (system calls of other "
		     "architectures are refused)",
		     k->key, value);
}

/* data: RLIMIT_*. Sizes for the byte limits, seconds for CPU, a duration
 * in microseconds for RTTIME, plain numbers for the others. */
static int rlimit_value(int resource, const char *s, uint64_t *ret)
{
	usec_t u;

	if (strcmp(s, "infinity") == 0) {
		*ret = RLIM_INFINITY;
		return 0;
	}
	switch (resource) {
	case RLIMIT_AS:
	case RLIMIT_CORE:
	case RLIMIT_DATA:
	case RLIMIT_FSIZE:
	case RLIMIT_MEMLOCK:
	case RLIMIT_MSGQUEUE:
	case RLIMIT_RSS:
	case RLIMIT_STACK:
		return parse_size(s, ret);
	case RLIMIT_CPU:
		if (parse_duration(s, &u) < 0)
			return -EINVAL;
		*ret = u == USEC_INFINITY ? RLIM_INFINITY : (u + USEC_PER_SEC - 1) / USEC_PER_SEC;
		return 0;
	case RLIMIT_RTTIME:
		if (parse_duration(s, &u) < 0)
			return -EINVAL;
		*ret = u == USEC_INFINITY ? RLIM_INFINITY : u;
		return 0;
	case RLIMIT_NICE:
		/* The kernel's form, 40 - nice: 1 (nice 19) to 40 (nice -20). */
		return parse_uint(s, 0, 40, ret);
	default:
		return parse_uint(s, 0, UINT64_MAX - 1, ret);
	}
}

void parse_rlimit(struct parser *p, const struct config_key *k, const char *value)
{
	struct rlimit_config *l = &sb(p)->rlimits[k->data];
	const char *colon = strchr(value, ':');
	_cleanup_free_ char *soft = NULL;
	uint64_t s, h;

	if (!*value) {
		*l = (struct rlimit_config){0};
		return;
	}
	soft = colon ? strndup(value, (size_t)(colon - value)) : strdup(value);
	if (!soft) {
		oom(p);
		return;
	}
	if (rlimit_value(k->data, soft, &s) < 0 ||
	    (colon ? rlimit_value(k->data, colon + 1, &h) : (h = s, 0)) < 0) {
		perr(p, "%s=: invalid value '%s': expected N, infinity or SOFT:HARD", k->key,
		     value);
		return;
	}
	if (s > h) {
		perr(p, "%s=: the soft limit of '%s' is above its hard limit", k->key, value);
		return;
	}
	*l = (struct rlimit_config){.set = true, .soft = s, .hard = h};
}

/* MemoryMax=, MemoryHigh=: offset of the field. */
void parse_cgroup_bytes(struct parser *p, const struct config_key *k, const char *value)
{
	uint64_t v = 0;

	if (*value && (parse_size(value, &v) < 0 || v == 0)) {
		perr(p, "%s=: invalid size '%s': expected e.g. 512M, 2G or infinity (not 0)",
		     k->key, value);
		return;
	}
	*FIELD(p, k->offset, uint64_t) = v;
}

void parse_tasks_max(struct parser *p, const struct config_key *k, const char *value)
{
	uint64_t v = 0;

	if (strcmp(value, "infinity") == 0)
		v = UINT64_MAX;
	else if (*value && parse_uint(value, 1, UINT32_MAX, &v) < 0) {
		perr(p, "%s=: invalid value '%s': expected a number from 1 or infinity", k->key,
		     value);
		return;
	}
	sb(p)->tasks_max = v;
}

/* CPUWeight=, IOWeight=: offset of the field. */
void parse_cgroup_weight(struct parser *p, const struct config_key *k, const char *value)
{
	uint64_t v = 0;

	if (*value && parse_uint(value, k->min, k->max, &v) < 0) {
		perr(p, "%s=: invalid weight '%s': expected a number from %llu to %llu", k->key,
		     value, (unsigned long long)k->min, (unsigned long long)k->max);
		return;
	}
	*FIELD(p, k->offset, unsigned) = (unsigned)v;
}

void parse_cpu_quota(struct parser *p, const struct config_key *k, const char *value)
{
	size_t n = strlen(value);
	uint64_t v = 0;

	if (n > 0) {
		_cleanup_free_ char *num = strndup(value, n - 1);

		if (!num) {
			oom(p);
			return;
		}
		if (value[n - 1] != '%' || parse_uint(num, 1, 100000, &v) < 0) {
			perr(p,
			     "%s=: invalid quota '%s': expected a percentage of one CPU, e.g. "
			     "50%% or 200%%",
			     k->key, value);
			return;
		}
	}
	sb(p)->cpu_quota = (unsigned)v;
}

/* The kinds of the sandbox's keys (config-internal.h). */

/* PrivateUsers=: the mode and a FIXED range. */
static void private_users_init(void *v, const struct config_key *k)
{
	((struct sandbox_config *)v)->private_users = (enum private_users)k->def;
}

static bool private_users_equal(const void *a, const void *b, const struct config_key *k)
{
	const struct sandbox_config *x = a, *y = b;

	return x->private_users == y->private_users &&
	       (x->private_users != PRIVATE_USERS_FIXED ||
		(x->private_users_shift == y->private_users_shift &&
		 x->private_users_range == y->private_users_range));
}

static void private_users_format(const void *v, const struct config_key *k, char *buf, size_t len)
{
	const struct sandbox_config *s = v;

	if (s->private_users == PRIVATE_USERS_FIXED)
		snprintf(buf, len, "%u:%u", (unsigned)s->private_users_shift,
			 (unsigned)s->private_users_range);
	else
		snprintf(buf, len, "%s", s->private_users == PRIVATE_USERS_NO ? "no" : "pick");
}

const struct config_kind kind_private_users = {
    .init = private_users_init, .equal = private_users_equal, .format = private_users_format};

/* Capabilities=: "default" when not given, names otherwise ("" for none). */
static bool capabilities_equal(const void *a, const void *b, const struct config_key *k)
{
	const struct sandbox_config *x = a, *y = b;

	return x->capabilities_set == y->capabilities_set && x->capabilities == y->capabilities;
}

static void capabilities_format(const void *v, const struct config_key *k, char *buf, size_t len)
{
	const struct sandbox_config *s = v;
	size_t n = 0;

	buf[0] = '\0';
	if (!s->capabilities_set) {
		snprintf(buf, len, "default");
		return;
	}
	for (cap_value_t c = 0; c <= CAP_LAST_CAP && n < len; c++) {
		char *name;

		if (!(s->capabilities & CAP(c)))
			continue;
		name = cap_to_name(c);
		if (!name)
			continue;
		n += (size_t)snprintf(buf + n, len - n, "%s", n ? " " : "");
		for (const char *p = name; *p && n + 1 < len; p++)
			buf[n++] = (char)toupper((unsigned char)*p);
		buf[n < len ? n : len - 1] = '\0';
		cap_free(name);
	}
}

const struct config_kind kind_capabilities = {.equal = capabilities_equal,
					      .format = capabilities_format};

/* SystemCallFilter=: the allow list, then "~" and the deny list. */
static void syscall_filter_free(void *v, const struct config_key *k)
{
	struct sandbox_config *s = v;

	s->syscall_allow = strv_free(s->syscall_allow);
	s->syscall_deny = strv_free(s->syscall_deny);
}

static bool syscall_filter_equal(const void *a, const void *b, const struct config_key *k)
{
	const struct sandbox_config *x = a, *y = b;

	return x->syscall_allow_list == y->syscall_allow_list &&
	       strv_equal(x->syscall_allow, y->syscall_allow) &&
	       strv_equal(x->syscall_deny, y->syscall_deny);
}

static void join_words(char *buf, size_t len, const char *prefix, char *const *words)
{
	snprintf(buf, len, "%s", prefix);
	STRV_FOREACH (w, (char **)words) {
		size_t n = strlen(buf);

		snprintf(buf + n, len - n, "%s%s", w == words ? "" : " ", *w);
	}
}

static void syscall_filter_dump(const void *v, const struct config_key *k, bool is_default,
				struct config_dumper *d)
{
	const struct sandbox_config *s = v;
	char buf[CONFIG_DUMP_MAX];
	bool any_allow = s->syscall_allow && s->syscall_allow[0];
	bool any_deny = s->syscall_deny && s->syscall_deny[0];

	if (is_default) {
		config_dump_value(d, k, k->key, "", true);
		return;
	}
	if (s->syscall_allow_list) {
		/* An allow list whose every name a later deny took out: it
		 * is still an allow list, of nothing. Written the same way. */
		if (any_allow)
			join_words(buf, sizeof(buf), "", s->syscall_allow);
		else
			snprintf(buf, sizeof(buf), "%s", s->syscall_deny[0]);
		config_dump_value(d, k, k->key, buf, false);
	}
	if (any_deny) {
		join_words(buf, sizeof(buf), "~", s->syscall_deny);
		config_dump_value(d, k, k->key, buf, false);
	}
}

const struct config_kind kind_syscall_filter = {
    .free = syscall_filter_free, .equal = syscall_filter_equal, .dump = syscall_filter_dump};

/* OOMScoreAdjust=: -1000 (never killed) to 1000 (killed first), as
 * /proc/PID/oom_score_adj; empty: unset. */
void parse_oom_score_adjust(struct parser *p, const struct config_key *k, const char *value)
{
	bool minus = value[0] == '-';
	uint64_t n;

	if (!*value) {
		sb(p)->oom_score_adjust = CONFIG_OOM_SCORE_UNSET;
		return;
	}
	if (parse_uint(value + minus, 0, 1000, &n) < 0) {
		perr(p, "%s=: invalid value '%s': expected a number from -1000 to 1000", k->key,
		     value);
		return;
	}
	sb(p)->oom_score_adjust = minus ? -(int)n : (int)n;
}

static void oom_score_init(void *v, const struct config_key *k)
{
	*(int *)v = CONFIG_OOM_SCORE_UNSET;
}

static void oom_score_format(const void *v, const struct config_key *k, char *buf, size_t len)
{
	int n = *(const int *)v;

	if (n == CONFIG_OOM_SCORE_UNSET)
		snprintf(buf, len, "%s", "");
	else
		snprintf(buf, len, "%d", n);
}

/* SystemCallErrorNumber=: 0 for the default (EPERM). */
static bool errno_equal(const void *a, const void *b, const struct config_key *k)
{
	return *(const int *)a == *(const int *)b;
}

static void errno_format(const void *v, const struct config_key *k, char *buf, size_t len)
{
	int e = *(const int *)v;
	const char *name = e ? strerrorname_np(e) : NULL;

	if (!e)
		snprintf(buf, len, "%s", "");
	else if (name)
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "%d", e);
}

const struct config_kind kind_errno = {.equal = errno_equal, .format = errno_format};

const struct config_kind kind_oom_score = {
    .init = oom_score_init, .equal = errno_equal, .format = oom_score_format};

/* Limit*=: one struct rlimit_config, k->data its resource; "" unset. */
static bool rlimit_equal(const void *a, const void *b, const struct config_key *k)
{
	const struct rlimit_config *x = a, *y = b;

	return x->set == y->set && (!x->set || (x->soft == y->soft && x->hard == y->hard));
}

/* As rlimit_value() reads it back. */
static void rlimit_value_format(int resource, uint64_t v, char *buf, size_t len)
{
	if (v == RLIM_INFINITY)
		snprintf(buf, len, "infinity");
	else if (resource == RLIMIT_RTTIME)
		format_duration(buf, len, v);
	else
		snprintf(buf, len, "%llu", (unsigned long long)v);
}

static void rlimit_format(const void *v, const struct config_key *k, char *buf, size_t len)
{
	const struct rlimit_config *l = v;
	char soft[64], hard[64];

	if (!l->set) {
		snprintf(buf, len, "%s", "");
		return;
	}
	rlimit_value_format(k->data, l->soft, soft, sizeof(soft));
	rlimit_value_format(k->data, l->hard, hard, sizeof(hard));
	if (l->soft == l->hard)
		snprintf(buf, len, "%s", soft);
	else
		snprintf(buf, len, "%s:%s", soft, hard);
}

const struct config_kind kind_rlimit = {.equal = rlimit_equal, .format = rlimit_format};
