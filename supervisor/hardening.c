/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "hardening.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/filter.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config-build.h"
#include "activator/cgroup.h"
#include "activator/syscall-filter.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "supervisor/manager.h"
#include "supervisor/reexec.h"
#include "supervisor/service.h"

/* PrivateUsers=yes: service ranges of 65536 host uids from 2^29 up, as
 * systemd-nspawn -U picks from 0x00080000 up; one range per service in
 * this daemon, so that two running containers never share one. */
#define USERNS_BASE  UINT32_C(0x20000000)
#define USERNS_RANGE UINT32_C(65536)
#define USERNS_SLOTS 4096
static uint8_t userns_used[USERNS_SLOTS / 8];

static const char *const rlimit_names[CONFIG_RLIMITS] = {
    [RLIMIT_CPU] = "LimitCPU",           [RLIMIT_FSIZE] = "LimitFSIZE",
    [RLIMIT_DATA] = "LimitDATA",         [RLIMIT_STACK] = "LimitSTACK",
    [RLIMIT_CORE] = "LimitCORE",         [RLIMIT_RSS] = "LimitRSS",
    [RLIMIT_NPROC] = "LimitNPROC",       [RLIMIT_NOFILE] = "LimitNOFILE",
    [RLIMIT_MEMLOCK] = "LimitMEMLOCK",   [RLIMIT_AS] = "LimitAS",
    [RLIMIT_LOCKS] = "LimitLOCKS",       [RLIMIT_SIGPENDING] = "LimitSIGPENDING",
    [RLIMIT_MSGQUEUE] = "LimitMSGQUEUE", [RLIMIT_NICE] = "LimitNICE",
    [RLIMIT_RTPRIO] = "LimitRTPRIO",     [RLIMIT_RTTIME] = "LimitRTTIME",
};

static bool have_cap(cap_value_t cap)
{
	cap_t c = cap_get_proc();
	cap_flag_value_t v = CAP_CLEAR;

	if (c) {
		(void)cap_get_flag(c, cap, CAP_EFFECTIVE, &v);
		cap_free(c);
	}
	return v == CAP_SET;
}

/* The capability each setup step needs in the namespaces it acts on: a
 * step failing with EPERM while the daemon itself lacks it (nested in a
 * container that dropped it, a reduced bounding set) is explained by that. */
#define STEP_CAP(step, cap)                                                                        \
	{                                                                                          \
		step, cap, #cap                                                                    \
	}
static const struct {
	enum activator_step step;
	cap_value_t cap;
	const char *name;
} step_caps[] = {
    STEP_CAP(STEP_LOOPBACK, CAP_NET_ADMIN),   STEP_CAP(STEP_MOUNT_PRIVATE, CAP_SYS_ADMIN),
    STEP_CAP(STEP_ROOTFS, CAP_SYS_ADMIN),     STEP_CAP(STEP_MOUNTPOINTS, CAP_SYS_ADMIN),
    STEP_CAP(STEP_READ_ONLY, CAP_SYS_ADMIN),  STEP_CAP(STEP_BIND, CAP_SYS_ADMIN),
    STEP_CAP(STEP_PROC, CAP_SYS_ADMIN),       STEP_CAP(STEP_SYS, CAP_SYS_ADMIN),
    STEP_CAP(STEP_DEV, CAP_SYS_ADMIN),        STEP_CAP(STEP_TMPFS, CAP_SYS_ADMIN),
    STEP_CAP(STEP_PIVOT_ROOT, CAP_SYS_ADMIN), STEP_CAP(STEP_HOSTNAME, CAP_SYS_ADMIN),
    STEP_CAP(STEP_NETNS, CAP_SYS_ADMIN),      STEP_CAP(STEP_USERNS, CAP_SYS_ADMIN),
    STEP_CAP(STEP_IDMAP, CAP_SYS_ADMIN),      STEP_CAP(STEP_ENTER, CAP_SYS_ADMIN),
};

const char *hardening_missing_cap(enum activator_step step, int r)
{
	if (r != -EPERM)
		return NULL;
	for (size_t i = 0; i < sizeof(step_caps) / sizeof(step_caps[0]); i++)
		if (step_caps[i].step == step)
			return have_cap(step_caps[i].cap) ? NULL : step_caps[i].name;
	return NULL;
}

static int userns_slot_get(struct service *s)
{
	if (s->userns_slot > 0)
		return 0;
	for (unsigned i = 0; i < USERNS_SLOTS; i++)
		if (!(userns_used[i / 8] & (1u << (i % 8)))) {
			userns_used[i / 8] |= (uint8_t)(1u << (i % 8));
			s->userns_slot = i + 1;
			return 0;
		}
	return -ENOSPC;
}

void hardening_userns_reserve(unsigned slot)
{
	if (slot > 0 && slot <= USERNS_SLOTS)
		userns_used[(slot - 1) / 8] |= (uint8_t)(1u << ((slot - 1) % 8));
}

void hardening_userns_unreserve(unsigned slot)
{
	if (slot > 0 && slot <= USERNS_SLOTS)
		userns_used[(slot - 1) / 8] &= (uint8_t) ~(1u << ((slot - 1) % 8));
}

void hardening_release(struct service *s)
{
	if (s->userns_slot > 0) {
		unsigned i = s->userns_slot - 1;
		userns_used[i / 8] &= (uint8_t) ~(1u << (i % 8));
		s->userns_slot = 0;
	}
	s->userns_fd = safe_close(s->userns_fd);
	s->seccomp = activator_seccomp_free(s->seccomp);
}

/* The service's uid range: shift and range; 0 and 0 for none. */
static int userns_range(struct service *s, uid_t *ret_shift, uid_t *ret_range)
{
	const struct sandbox_config *sb = &s->cfg->container.sandbox;
	int r;

	*ret_shift = *ret_range = 0;
	switch (sb->private_users) {
	case PRIVATE_USERS_NO:
		return 0;
	case PRIVATE_USERS_FIXED:
		*ret_shift = sb->private_users_shift;
		*ret_range = sb->private_users_range;
		return 0;
	case PRIVATE_USERS_PICK:
		r = userns_slot_get(s);
		if (r < 0)
			return log_errno(LOG_ERR, r, "%s: PrivateUsers=: no free uid range",
					 s->cfg->name);
		*ret_shift = USERNS_BASE + (s->userns_slot - 1) * USERNS_RANGE;
		*ret_range = USERNS_RANGE;
		return 0;
	}
	return -EINVAL;
}

/* One user namespace per service, made when the service is created (off
 * every connection's path) and kept until it goes: every container of the
 * service joins it (they share the uid range anyway), so a start writes no
 * map. A failure here is retried at the first start, which reports it. */
int hardening_prepare(struct service *s)
{
	uid_t shift, range;
	int r;

	if (geteuid() != 0 || s->userns_fd >= 0)
		return 0;
	/* After a re-exec: the same namespace, as its running container's. */
	if (reexec_take_userns(s->manager, s, &s->userns_slot, &s->userns_fd))
		return 0;
	r = userns_range(s, &shift, &range);
	if (r < 0 || range == 0)
		return r;
	r = activator_userns_new(s->manager->init_fd, shift, range, &s->userns_fd);
	if (r < 0)
		return log_errno(LOG_ERR, r,
				 "%s: PrivateUsers=: cannot make a user namespace for host uids "
				 "%u-%u",
				 s->cfg->name, (unsigned)shift, (unsigned)(shift + range - 1));
	return 0;
}

static int fill_userns(struct service *s, uid_t uid, struct activator_spec *spec)
{
	uid_t shift = 0, range = 0;
	int r;

	if (geteuid() != 0) {
		/* Rootless: the only map an unprivileged process may write is
		 * its own uid as the container's root (the clone's child
		 * writes it, activator.c). */
		if (uid != 0) {
			log_error("%s: User= other than root needs a range of uids: a daemon "
				  "running as uid %u can map only its own uid (as root inside)",
				  s->cfg->name, (unsigned)geteuid());
			return -EPERM;
		}
		spec->namespaces |= CLONE_NEWUSER;
		return 0;
	}
	r = userns_range(s, &shift, &range);
	if (r < 0 || range == 0)
		return r;
	if (uid >= range) {
		log_error("%s: User= uid %u is outside the PrivateUsers= range of %u uids",
			  s->cfg->name, (unsigned)uid, (unsigned)range);
		return -ERANGE;
	}
	r = hardening_prepare(s);
	if (r < 0)
		return r;
	spec->userns_fd = s->userns_fd;
	spec->userns_root = shift;
	/* A Directory= tree is usually owned by the host's root: through an
	 * idmapped mount it is the container root's. */
	spec->idmap_root = service_root_directory(s) != NULL;
	return 0;
}

static int fill_seccomp(struct service *s, uint64_t caps)
{
	const struct sandbox_config *sb = &s->cfg->container.sandbox;
	struct activator_seccomp_config sc = {
	    .capabilities = caps,
	    .allow_list = sb->syscall_allow_list,
	    .allow = sb->syscall_allow,
	    .deny = sb->syscall_deny,
	    .error_number = sb->syscall_error_number,
	};
	usec_t t0;
	int r;

	/* Once per configuration: a reload that changes it makes a new
	 * service. The capabilities only change with User=, which is part of
	 * the same configuration. */
	if (s->seccomp)
		return 0;
	t0 = now_usec();
	r = activator_seccomp_compile(&sc, &s->seccomp);
	if (r < 0)
		return log_errno(LOG_ERR, r, "%s: cannot build the seccomp filter", s->cfg->name);
	log_debug("%s: seccomp filter of %u instructions built in %.2f ms", s->cfg->name,
		  (unsigned)s->seccomp->len, (double)(now_usec() - t0) / 1000.0);
	return 0;
}

/* The daemon's own oom_score_adj, read once: what a container inherits. */
static int daemon_oom_score(void)
{
	static int score = INT_MIN;
	char buf[16] = "";
	int fd;

	if (score != INT_MIN)
		return score;
	score = 0;
	fd = open("/proc/self/oom_score_adj", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, buf, sizeof(buf) - 1) > 0)
			score = atoi(buf);
		close(fd);
	}
	return score;
}

/* OOMScoreAdjust=, or else 0 where the daemon protects itself (a unit's
 * OOMScoreAdjust=-500): that protection is the daemon's, not the
 * payloads'. Nothing to write otherwise: the container inherits it. Below
 * the daemon's own, only with CAP_SYS_RESOURCE (the child could not lower
 * it either): the daemon's own then, said once, as for a hard rlimit. */
int hardening_oom_score(int configured, int own, bool can_lower, bool *ret_write, bool *ret_clamped)
{
	*ret_clamped = false;
	if (configured == CONFIG_OOM_SCORE_UNSET) {
		*ret_write = own < 0;
		return own < 0 ? 0 : own;
	}
	*ret_write = true;
	if (configured < own && !can_lower) {
		*ret_clamped = true;
		return own;
	}
	return configured;
}

static void fill_oom_score(struct service *s, const struct sandbox_config *sb, bool can_lower,
			   struct activator_spec *spec)
{
	int own = daemon_oom_score();
	bool clamped;

	spec->oom_score_adj = hardening_oom_score(sb->oom_score_adjust, own, can_lower,
						  &spec->oom_score_adj_set, &clamped);
	if (clamped && !s->oom_warned)
		log_warning("%s: OOMScoreAdjust=%d is below the daemon's own (%d) and there is "
			    "no CAP_SYS_RESOURCE to lower it: using %d",
			    s->cfg->name, sb->oom_score_adjust, own, own);
	s->oom_warned |= clamped;
}

int hardening_fill(struct service *s, uid_t uid, struct hardening *h, struct activator_spec *spec)
{
	const struct sandbox_config *sb = &s->cfg->container.sandbox;
	bool can_raise = have_cap(CAP_SYS_RESOURCE);
	int r;

#if NSINETD_BENCH_NO_HARDENING
	/* bench/run only, in a build of its own (meson -Dbench_no_hardening=
	 * true): the same daemon with none of the hardening, for the "what
	 * does it cost" row. The default build has no such switch. */
	if (getenv("NSINETD_BENCH_NO_HARDENING")) {
		static bool said;

		/* Loud: a switch like this must never go unnoticed. */
		if (!said)
			log_warning(
			    "NSINETD_BENCH_NO_HARDENING is set: containers start WITHOUT "
			    "capability drop, seccomp, limits or user namespaces (benchmark "
			    "build only)");
		said = true;
		return 0;
	}
#endif

	spec->set_capabilities = true;
	spec->capabilities = config_capabilities(&s->cfg->container, uid);
	spec->no_new_privs = sb->no_new_privileges;

	spec->n_rlimits = 0;
	for (int i = 0; i < CONFIG_RLIMITS; i++) {
		struct rlimit cur;
		struct rlimit want = {sb->rlimits[i].soft, sb->rlimits[i].hard};

		if (!sb->rlimits[i].set)
			continue;
		/* Never above our own hard limit without CAP_SYS_RESOURCE
		 * (docs/architecture.md): the child could not raise it either. */
		if (!can_raise && getrlimit(i, &cur) == 0 && want.rlim_max > cur.rlim_max) {
			if (!s->rlimit_warned)
				log_warning("%s: %s= hard limit above the daemon's own (%llu) "
					    "and no CAP_SYS_RESOURCE to raise it: using %llu",
					    s->cfg->name, rlimit_names[i],
					    (unsigned long long)cur.rlim_max,
					    (unsigned long long)cur.rlim_max);
			want.rlim_max = cur.rlim_max;
			if (want.rlim_cur > want.rlim_max)
				want.rlim_cur = want.rlim_max;
		}
		h->rlimits[spec->n_rlimits++] = (struct activator_rlimit){i, want};
	}
	s->rlimit_warned = true;
	spec->rlimits = h->rlimits;
	fill_oom_score(s, sb, can_raise, spec);

	r = fill_userns(s, uid, spec);
	if (r < 0)
		return r;
	s->host_root_payload =
	    uid == 0 && !(spec->namespaces & CLONE_NEWUSER) && spec->userns_fd < 0;
	r = fill_seccomp(s, spec->capabilities);
	if (r < 0)
		return r;
	spec->seccomp = s->seccomp;
	return 0;
}

/* cgroup v2 */

struct cgroup_setting {
	const char *key;
	const char *controller;
	const char *file;
	/* What one container leaves in the cgroup counts against the next one
	 * in it: charged memory (page cache), a period's quota spent. */
	bool carries_over;
};

enum {
	CG_MEMORY_MAX,
	CG_MEMORY_HIGH,
	CG_TASKS_MAX,
	CG_CPU_WEIGHT,
	CG_CPU_QUOTA,
	CG_IO_WEIGHT,
	_CG_N
};

static const struct cgroup_setting cgroup_settings[_CG_N] = {
    [CG_MEMORY_MAX] = {"MemoryMax", "memory", "memory.max", true},
    [CG_MEMORY_HIGH] = {"MemoryHigh", "memory", "memory.high", true},
    [CG_TASKS_MAX] = {"TasksMax", "pids", "pids.max", false},
    [CG_CPU_WEIGHT] = {"CPUWeight", "cpu", "cpu.weight", false},
    [CG_CPU_QUOTA] = {"CPUQuota", "cpu", "cpu.max", true},
    [CG_IO_WEIGHT] = {"IOWeight", "io", "io.weight", false},
};

/* The value to write, or false if the setting is unset. */
static bool cgroup_value(const struct sandbox_config *sb, int i, char *buf, size_t len)
{
	uint64_t v = 0;

	switch (i) {
	case CG_MEMORY_MAX:
		v = sb->memory_max;
		break;
	case CG_MEMORY_HIGH:
		v = sb->memory_high;
		break;
	case CG_TASKS_MAX:
		/* infinity: the new cgroup's own "max", nothing to write. */
		if (sb->tasks_max == UINT64_MAX)
			return false;
		v = sb->tasks_max ? sb->tasks_max : CONFIG_DEFAULT_TASKS_MAX;
		break;
	case CG_CPU_WEIGHT:
		v = sb->cpu_weight;
		break;
	case CG_IO_WEIGHT:
		if (!sb->io_weight)
			return false;
		snprintf(buf, len, "default %u", sb->io_weight);
		return true;
	case CG_CPU_QUOTA:
		if (!sb->cpu_quota)
			return false;
		/* percent of one CPU over a 100 ms period */
		snprintf(buf, len, "%u 100000", sb->cpu_quota * 1000);
		return true;
	}
	if (v == 0)
		return false;
	if (v == UINT64_MAX)
		snprintf(buf, len, "max");
	else
		snprintf(buf, len, "%llu", (unsigned long long)v);
	return true;
}

/* Whether controller is listed in the file (space-separated words). */
static bool file_has_word(const char *path, const char *word)
{
	char buf[512], *save = NULL;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	for (char *w = strtok_r(buf, " \n", &save); w; w = strtok_r(NULL, " \n", &save))
		if (strcmp(w, word) == 0)
			return true;
	return false;
}

static int write_file(const char *dir, const char *file, const char *value)
{
	char path[4096];
	_cleanup_close_ int fd = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, value, strlen(value));
	return n < 0 ? -errno : 0;
}

/* The default TasksMax= is worth a word only where nothing else bounds
 * the payload's processes: for the host's root, whom LimitNPROC= does not
 * bind. The --check line for it, and the log line, say so. */
#define NO_PROCESS_LIMIT                                                                           \
	"no limit on the number of processes: the default TasksMax=%d is not enforced (%s) and "   \
	"LimitNPROC= does not bind the host's root: a fork bomb can reach the host's limit "       \
	"(PrivateUsers=yes or a User= make LimitNPROC= apply)"

static bool tasks_max_is_default(const struct sandbox_config *sb, int i)
{
	return i == CG_TASKS_MAX && sb->tasks_max == 0;
}

/* Once per service: why setting i is not enforced. */
static void warn_not_enforced(const struct service *s, int i, const char *why)
{
	const struct sandbox_config *sb = &s->cfg->container.sandbox;

	if (!tasks_max_is_default(sb, i))
		log_warning("%s: %s= not enforced: %s", s->cfg->name, cgroup_settings[i].key, why);
	else if (s->host_root_payload)
		log_warning("%s: " NO_PROCESS_LIMIT, s->cfg->name, CONFIG_DEFAULT_TASKS_MAX, why);
}

bool hardening_cgroup_reusable(const struct service_config *cfg)
{
	char value[64];

	if (cfg->container.boot)
		return false;
	for (int i = 0; i < _CG_N; i++)
		if (cgroup_settings[i].carries_over &&
		    cgroup_value(&cfg->container.sandbox, i, value, sizeof(value)))
			return false;
	return true;
}

void hardening_cgroup_apply(struct service *s, const char *cgroup_path)
{
	const struct sandbox_config *sb = &s->cfg->container.sandbox;
	struct manager *m = s->manager;
	char value[64], ctl[32], path[4096], why[4300];
	bool warn = !s->cgroup_warned;

	s->cgroup_warned = true;
	for (int i = 0; i < _CG_N; i++) {
		const struct cgroup_setting *cs = &cgroup_settings[i];
		int r;

		if (!cgroup_value(sb, i, value, sizeof(value)))
			continue;
		if (!m->have_cgroup || !cgroup_path) {
			if (warn)
				warn_not_enforced(s, i,
						  "the container has no cgroup of its own (see the "
						  "cgroup message at startup)");
			continue;
		}
		/* Available to the container's cgroup only if enabled in our
		 * base cgroup, which needs it in the base's cgroup.controllers
		 * (granted by the daemon's own cgroup, which we never write). */
		snprintf(path, sizeof(path), "%s/cgroup.controllers", m->cgroup_base_path);
		if (!file_has_word(path, cs->controller)) {
			if (warn) {
				snprintf(why, sizeof(why),
					 "no %s controller in cgroup v2 at %s (not in %s; delegate "
					 "it to the daemon's cgroup)",
					 cs->controller, m->cgroup.mount, path);
				warn_not_enforced(s, i, why);
			}
			continue;
		}
		snprintf(ctl, sizeof(ctl), "+%s", cs->controller);
		(void)write_file(m->cgroup_base_path, "cgroup.subtree_control", ctl);
		/* A sandbox's cgroup is one level deeper (BASE/NAME/cN): its
		 * parent, which holds no process, passes the controller on. */
		{
			char parent[4096];
			char *slash;

			snprintf(parent, sizeof(parent), "%s", cgroup_path);
			slash = strrchr(parent, '/');
			if (slash)
				*slash = '\0';
			if (strcmp(parent, m->cgroup_base_path) != 0)
				(void)write_file(parent, "cgroup.subtree_control", ctl);
		}
		r = write_file(cgroup_path, cs->file, value);
		if (r < 0 && warn)
			log_errno(LOG_WARNING, r, "%s: %s= not enforced: cannot write %s/%s",
				  s->cfg->name, cs->key, cgroup_path, cs->file);
	}
}

int hardening_check(const struct service_config *c, FILE *out)
{
	const struct sandbox_config *sb = &c->container.sandbox;
	struct cgroup_root root = {0};
	char value[64], path[4096];
	bool have_root = cgroup_root_find(&root) >= 0;
	int n = 0;

	/* As hardening_fill() decides, from the configuration alone (a User=
	 * name that is root's is not looked up here). */
	bool host_root =
	    geteuid() == 0 && !c->container.user && sb->private_users == PRIVATE_USERS_NO;
	char why[4300];

	for (int i = 0; i < _CG_N; i++) {
		const struct cgroup_setting *cs = &cgroup_settings[i];

		if (!cgroup_value(sb, i, value, sizeof(value)))
			continue;
		if (have_root) {
			/* What the daemon's base cgroup would get: its parent's
			 * (the daemon's own) cgroup.subtree_control. */
			snprintf(path, sizeof(path), "%s%s/cgroup.subtree_control", root.mount,
				 strcmp(root.self, "/") == 0 ? "" : root.self);
			if (file_has_word(path, cs->controller))
				continue;
			snprintf(why, sizeof(why),
				 "no %s controller in cgroup v2 at %s (not in %s)", cs->controller,
				 root.mount, path);
		} else {
			snprintf(why, sizeof(why), "no cgroup v2 file system");
		}
		if (!tasks_max_is_default(sb, i))
			fprintf(out, "%s: %s= not enforced: %s\n", c->path, cs->key, why);
		else if (host_root)
			fprintf(out, "%s: " NO_PROCESS_LIMIT "\n", c->path,
				CONFIG_DEFAULT_TASKS_MAX, why);
		else
			continue;
		n++;
	}
	if (geteuid() != 0 && c->container.user)
		fprintf(out,
			"%s: User=%s cannot work: a daemon not running as root maps only "
			"its own uid (to root inside)\n",
			c->path, c->container.user);
	cgroup_root_done(&root);
	return n;
}
