/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The spec as one message: see wire.h. */
#include "wire.h"
#include "mountinfo.h"

#include "activator-internal.h"

#include <errno.h>
#include <linux/filter.h>
#include <stdlib.h>
#include <string.h>

static void put(struct wire_buf *b, const void *p, size_t n)
{
	if (b->err)
		return;
	if (b->len + n > WIRE_SIZE_MAX) {
		b->err = -E2BIG;
		return;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *d;

		while (cap < b->len + n)
			cap *= 2;
		d = realloc(b->data, cap);
		if (!d) {
			b->err = -ENOMEM;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void put_u32(struct wire_buf *b, uint32_t v)
{
	put(b, &v, sizeof(v));
}

static void put_u64(struct wire_buf *b, uint64_t v)
{
	put(b, &v, sizeof(v));
}

/* A string, or NULL: a presence byte, then the string with its NUL. */
static void put_str(struct wire_buf *b, const char *s)
{
	uint8_t present = s != NULL;

	put(b, &present, 1);
	if (s)
		put(b, s, strlen(s) + 1);
}

static size_t strv_len(char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

static void put_strv(struct wire_buf *b, char *const *v)
{
	size_t n = strv_len(v);

	put_u32(b, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		put_str(b, v[i]);
}

int wire_encode(const struct activator_spec *spec, bool fds_attached, struct wire_buf *b)
{
	uint32_t flags = fds_attached ? WIRE_FDS_ATTACHED : 0;

	if (spec->read_only)
		flags |= WIRE_READ_ONLY;
	if (spec->set_capabilities)
		flags |= WIRE_SET_CAPS;
	if (spec->no_new_privs)
		flags |= WIRE_NO_NEW_PRIVS;
	if (spec->pool)
		flags |= WIRE_POOL;
	if (spec->park)
		flags |= WIRE_PARK;
	if (spec->idmap_root)
		flags |= WIRE_IDMAP_ROOT;
	if (spec->netns_fd >= 0)
		flags |= WIRE_NETNS;
	if (spec->netns_fd >= 0 && spec->netns_fresh)
		flags |= WIRE_NETNS_FRESH;
	if (spec->userns_fd >= 0)
		flags |= WIRE_USERNS;
	if (spec->seccomp)
		flags |= WIRE_SECCOMP;
	if (spec->enter)
		flags |= WIRE_ENTER;
	if (spec->enter && spec->enter_tty)
		flags |= WIRE_TTY;
	if (spec->enter && spec->enter_pause_fd >= 0)
		flags |= WIRE_TEST_PAUSE;
	if (spec->boot)
		flags |= WIRE_BOOT;
	if (spec->ephemeral)
		flags |= WIRE_EPHEMERAL;
	if (!spec->enter && spec->mount_template_fd >= 0)
		flags |= WIRE_MOUNT_TEMPLATE;
	if (spec->submounts)
		flags |= WIRE_SUBMOUNTS;
	if (spec->proc_subset_pid)
		flags |= WIRE_PROC_SUBSET_PID;
	if (spec->netns_late)
		flags |= WIRE_NETNS_LATE;
	if (spec->spare && spec->cgroup_fd >= 0)
		flags |= WIRE_PAYLOAD_CGROUP;
	if (spec->oom_score_adj_set)
		flags |= WIRE_OOM_SCORE;
	for (int i = 0; i < 3; i++)
		if (spec->stdio[i] < 0)
			flags |= WIRE_STDIN_NULL << i;

	put_u32(b, WIRE_MAGIC);
	put_u32(b, flags);
	put_u64(b, spec->namespaces);
	put_u64(b, spec->capabilities);
	put_u32(b, spec->uid);
	put_u32(b, spec->gid);
	put_u32(b, spec->userns_root);
	put_u32(b, (uint32_t)spec->n_fds);
	put_str(b, spec->name);
	put_str(b, spec->staging_dir);
	put_str(b, spec->root_directory);
	put_str(b, spec->hostname);
	put_str(b, spec->working_directory);
	put_strv(b, spec->argv);
	put_strv(b, spec->envp);
	for (size_t i = 0; i < spec->n_fds; i++)
		put_str(b, spec->fd_names ? spec->fd_names[i] : NULL);
	put_u32(b, (uint32_t)spec->n_binds);
	for (size_t i = 0; i < spec->n_binds; i++) {
		put_str(b, spec->binds[i].source);
		put_str(b, spec->binds[i].target);
		put_u32(b, (spec->binds[i].read_only ? 1u : 0u) | (spec->binds[i].idmap ? 2u : 0u) |
			       (spec->binds[i].allow_suid ? 4u : 0u));
	}
	put_u32(b, (uint32_t)spec->n_tmpfs);
	for (size_t i = 0; i < spec->n_tmpfs; i++) {
		put_str(b, spec->tmpfs[i].target);
		put_str(b, spec->tmpfs[i].options);
	}
	put_u32(b, (uint32_t)spec->n_groups);
	for (size_t i = 0; i < spec->n_groups; i++)
		put_u32(b, spec->groups[i]);
	put_u32(b, (uint32_t)spec->n_rlimits);
	for (size_t i = 0; i < spec->n_rlimits; i++) {
		put_u32(b, (uint32_t)spec->rlimits[i].resource);
		put_u64(b, spec->rlimits[i].limit.rlim_cur);
		put_u64(b, spec->rlimits[i].limit.rlim_max);
	}
	if (spec->oom_score_adj_set)
		put_u32(b, (uint32_t)spec->oom_score_adj);
	if (spec->seccomp) {
		put_u32(b, spec->seccomp->len);
		put(b, spec->seccomp->filter, sizeof(struct sock_filter) * spec->seccomp->len);
	}
	if (spec->submounts)
		put_strv(b, (char *const *)spec->submounts);
	return b->err;
}

/* The step of a failure record: part of what nsinetd-init and the daemon
 * say to each other, so here, in both. */
static const char *const step_names[_STEP_MAX] = {
    [STEP_NONE] = "none",
    [STEP_SYNC] = "sync",
    [STEP_SIGNALS] = "signals",
    [STEP_MOUNT_PRIVATE] = "mount-private",
    [STEP_LOOPBACK] = "loopback",
    [STEP_ROOTFS] = "rootfs",
    [STEP_MOUNTPOINTS] = "mountpoints",
    [STEP_READ_ONLY] = "read-only",
    [STEP_BIND] = "bind",
    [STEP_PROC] = "proc",
    [STEP_SYS] = "sys",
    [STEP_DEV] = "dev",
    [STEP_TMPFS] = "tmpfs",
    [STEP_PIVOT_ROOT] = "pivot_root",
    [STEP_HOSTNAME] = "hostname",
    [STEP_FDS] = "fds",
    [STEP_SETSID] = "setsid",
    [STEP_CHDIR] = "chdir",
    [STEP_PRIVILEGES] = "privileges",
    [STEP_HANDOFF] = "handoff",
    [STEP_FORK_PAYLOAD] = "fork-payload",
    [STEP_EXEC] = "exec",
    [STEP_RLIMITS] = "rlimits",
    [STEP_SECCOMP] = "seccomp",
    [STEP_NETNS] = "netns",
    [STEP_IDMAP] = "idmap",
    [STEP_EXEC_INIT] = "exec-init",
    [STEP_MESSAGE] = "message",
    [STEP_USERNS] = "userns",
    [STEP_INIT] = "init",
    [STEP_ENTER] = "enter",
    [STEP_PTY] = "pty",
    [STEP_TEST_PAUSE] = "test-pause",
    [STEP_BOOT] = "boot",
    [STEP_IPC_LIMITS] = "ipc-limits",
};

const char *activator_step_name(enum activator_step step)
{
	if ((unsigned int)step >= _STEP_MAX || !step_names[step])
		return "unknown";
	return step_names[step];
}

/* Decoding */

struct rbuf {
	const char *p;
	size_t left;
	bool bad;
};

static const void *get(struct rbuf *r, size_t n)
{
	const void *p = r->p;

	if (r->bad || n > r->left) {
		r->bad = true;
		return NULL;
	}
	r->p += n;
	r->left -= n;
	return p;
}

static uint32_t get_u32(struct rbuf *r)
{
	uint32_t v = 0;
	const void *p = get(r, sizeof(v));

	if (p)
		memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t get_u64(struct rbuf *r)
{
	uint64_t v = 0;
	const void *p = get(r, sizeof(v));

	if (p)
		memcpy(&v, p, sizeof(v));
	return v;
}

static const char *get_str(struct rbuf *r)
{
	const uint8_t *present = get(r, 1);
	const char *s, *nul;

	if (!present || !*present)
		return NULL;
	s = r->p;
	nul = r->bad ? NULL : memchr(s, '\0', r->left);
	if (!nul) {
		r->bad = true;
		return NULL;
	}
	get(r, (size_t)(nul - s) + 1);
	return s;
}

/* An array of n elements of size each, counted before it: refused if the
 * count could not fit in what is left (no huge allocation on a bad count). */
static void *get_array(struct rbuf *r, uint32_t n, size_t size, size_t min_wire)
{
	if (r->bad || (min_wire && n > r->left / min_wire)) {
		r->bad = true;
		return NULL;
	}
	return calloc((size_t)n + 1, size);
}

static char **get_strv(struct rbuf *r)
{
	uint32_t n = get_u32(r);
	char **v = get_array(r, n, sizeof(char *), 1);

	for (uint32_t i = 0; v && i < n; i++) {
		v[i] = (char *)get_str(r);
		if (!v[i])
			r->bad = true;
	}
	return v;
}

/* The next fd of the layout: from the message's, or the next number. */
static int next_fd(uint32_t flags, const int *fds, size_t n_fds, size_t *i, int *pos)
{
	if (!(flags & WIRE_FDS_ATTACHED))
		return (*pos)++;
	if (*i >= n_fds)
		return -1;
	return fds[(*i)++];
}

int wire_decode(const char *data, size_t len, const int *fds, size_t n_fds, struct wire_spec *w)
{
	struct rbuf r = {.p = data, .left = len};
	struct activator_spec *s = &w->spec;
	uint32_t flags, n;
	size_t used = 0;
	int pos = WIRE_FD_FIRST;

	memset(w, 0, sizeof(*w));
	if (get_u32(&r) != WIRE_MAGIC)
		return -EBADMSG;
	flags = get_u32(&r);
	s->namespaces = get_u64(&r);
	s->capabilities = get_u64(&r);
	s->uid = get_u32(&r);
	s->gid = get_u32(&r);
	s->userns_root = get_u32(&r);
	s->n_fds = get_u32(&r);
	if (s->n_fds > ACTIVATOR_FDS_MAX)
		return -EBADMSG;
	s->name = get_str(&r);
	s->staging_dir = get_str(&r);
	s->root_directory = get_str(&r);
	s->hostname = get_str(&r);
	s->working_directory = get_str(&r);
	w->argv = get_strv(&r);
	w->envp = get_strv(&r);
	if (r.bad || !w->argv || !w->envp || (!w->argv[0] && !(flags & WIRE_ENTER)) ||
	    !s->staging_dir)
		return r.bad ? -EBADMSG : -ENOMEM;
	s->argv = w->argv;
	s->envp = w->envp;

	w->fds = calloc(s->n_fds + 1, sizeof(int));
	w->fd_names = calloc(s->n_fds + 1, sizeof(char *));
	if (!w->fds || !w->fd_names)
		return -ENOMEM;
	/* The attached fds come in this order: stdio (those given), then
	 * the listeners, netns, handoff, userns. */
	for (int i = 0; i < 3; i++) {
		if (flags & (WIRE_STDIN_NULL << i))
			s->stdio[i] = -1;
		else if (flags & WIRE_FDS_ATTACHED)
			s->stdio[i] = next_fd(flags, fds, n_fds, &used, &pos);
		else
			s->stdio[i] = i;
	}
	for (size_t i = 0; i < s->n_fds; i++) {
		w->fds[i] = next_fd(flags, fds, n_fds, &used, &pos);
		w->fd_names[i] = get_str(&r);
	}
	s->fds = w->fds;
	s->fd_names = w->fd_names;
	s->netns_fd = (flags & WIRE_NETNS) ? next_fd(flags, fds, n_fds, &used, &pos) : -1;
	s->netns_fresh = s->netns_fd >= 0 && (flags & WIRE_NETNS_FRESH);
	s->handoff_fd =
	    (flags & (WIRE_POOL | WIRE_PARK)) ? next_fd(flags, fds, n_fds, &used, &pos) : -1;
	s->userns_fd = (flags & WIRE_USERNS) ? next_fd(flags, fds, n_fds, &used, &pos) : -1;
	s->enter_pidfd = (flags & WIRE_ENTER) ? next_fd(flags, fds, n_fds, &used, &pos) : -1;
	s->enter_pause_fd =
	    (flags & WIRE_TEST_PAUSE) ? next_fd(flags, fds, n_fds, &used, &pos) : -1;
	s->mount_template_fd =
	    (flags & WIRE_MOUNT_TEMPLATE) ? next_fd(flags, fds, n_fds, &used, &pos) : -1;
	s->cgroup_fd = (flags & WIRE_PAYLOAD_CGROUP) ? next_fd(flags, fds, n_fds, &used, &pos) : -1;
	s->init_fd = -1;
	s->slot_fd = -1;
	/* Every fd the layout names must have come, and no other. */
	if ((flags & WIRE_FDS_ATTACHED) && used != n_fds)
		return -EBADMSG;
	for (int i = 0; i < 3; i++)
		if (!(flags & (WIRE_STDIN_NULL << i)) && s->stdio[i] < 0)
			return -EBADMSG;
	for (size_t i = 0; i < s->n_fds; i++)
		if (w->fds[i] < 0)
			return -EBADMSG;
	if (((flags & WIRE_NETNS) && s->netns_fd < 0) ||
	    ((flags & (WIRE_POOL | WIRE_PARK)) && s->handoff_fd < 0) ||
	    ((flags & WIRE_USERNS) && s->userns_fd < 0) ||
	    ((flags & WIRE_ENTER) && s->enter_pidfd < 0) ||
	    ((flags & WIRE_TEST_PAUSE) && s->enter_pause_fd < 0) ||
	    ((flags & WIRE_MOUNT_TEMPLATE) && s->mount_template_fd < 0) ||
	    ((flags & WIRE_PAYLOAD_CGROUP) && s->cgroup_fd < 0))
		return -EBADMSG;

	n = get_u32(&r);
	if (n > ACTIVATOR_MOUNTS_MAX)
		return -EBADMSG;
	w->binds = get_array(&r, n, sizeof(*w->binds), 5);
	for (uint32_t i = 0; w->binds && i < n; i++) {
		uint32_t f;

		w->binds[i].source = get_str(&r);
		w->binds[i].target = get_str(&r);
		f = get_u32(&r);
		w->binds[i].read_only = f & 1u;
		w->binds[i].idmap = f & 2u;
		w->binds[i].allow_suid = f & 4u;
		if (!w->binds[i].source || !w->binds[i].target)
			r.bad = true;
	}
	s->binds = w->binds;
	s->n_binds = n;

	n = get_u32(&r);
	if (n > ACTIVATOR_MOUNTS_MAX)
		return -EBADMSG;
	w->tmpfs = get_array(&r, n, sizeof(*w->tmpfs), 3);
	for (uint32_t i = 0; w->tmpfs && i < n; i++) {
		w->tmpfs[i].target = get_str(&r);
		w->tmpfs[i].options = get_str(&r);
		if (!w->tmpfs[i].target)
			r.bad = true;
	}
	s->tmpfs = w->tmpfs;
	s->n_tmpfs = n;

	n = get_u32(&r);
	if (n > ACTIVATOR_GROUPS_MAX)
		return -EBADMSG;
	w->groups = get_array(&r, n, sizeof(gid_t), 4);
	for (uint32_t i = 0; w->groups && i < n; i++)
		w->groups[i] = get_u32(&r);
	s->groups = w->groups;
	s->n_groups = n;

	n = get_u32(&r);
	if (n > RLIM_NLIMITS)
		return -EBADMSG;
	w->rlimits = get_array(&r, n, sizeof(*w->rlimits), 20);
	for (uint32_t i = 0; w->rlimits && i < n; i++) {
		w->rlimits[i].resource = (int)get_u32(&r);
		w->rlimits[i].limit.rlim_cur = get_u64(&r);
		w->rlimits[i].limit.rlim_max = get_u64(&r);
		if (w->rlimits[i].resource < 0 || w->rlimits[i].resource >= RLIM_NLIMITS)
			r.bad = true;
	}
	s->rlimits = w->rlimits;
	s->n_rlimits = n;
	if (flags & WIRE_OOM_SCORE) {
		s->oom_score_adj_set = true;
		s->oom_score_adj = (int)get_u32(&r);
		if (s->oom_score_adj < -1000 || s->oom_score_adj > 1000)
			return -EBADMSG;
	}

	if (flags & WIRE_SECCOMP) {
		const void *insns;

		n = get_u32(&r);
		if (n == 0 || n > BPF_MAXINSNS)
			return -EBADMSG;
		insns = get(&r, (size_t)n * sizeof(struct sock_filter));
		w->seccomp = calloc(1, sizeof(*w->seccomp));
		if (!w->seccomp)
			return -ENOMEM;
		w->seccomp->len = (unsigned short)n;
		w->seccomp->filter = (struct sock_filter *)insns;
		s->seccomp = w->seccomp;
	}
	if (flags & WIRE_SUBMOUNTS) {
		w->submounts = get_strv(&r);
		if (!w->submounts && !r.bad)
			return -ENOMEM;
		if (w->submounts && strv_len(w->submounts) > MOUNTINFO_SUBMOUNTS_MAX)
			return -EBADMSG;
		s->submounts = (const char *const *)w->submounts;
	}
	if (r.bad || r.left != 0)
		return -EBADMSG;
	if ((s->n_binds && !w->binds) || (s->n_tmpfs && !w->tmpfs) || (s->n_groups && !w->groups) ||
	    (s->n_rlimits && !w->rlimits))
		return -ENOMEM;

	s->read_only = flags & WIRE_READ_ONLY;
	s->set_capabilities = flags & WIRE_SET_CAPS;
	s->no_new_privs = flags & WIRE_NO_NEW_PRIVS;
	s->pool = flags & WIRE_POOL;
	s->park = flags & WIRE_PARK;
	s->idmap_root = flags & WIRE_IDMAP_ROOT;
	s->enter = flags & WIRE_ENTER;
	s->enter_tty = flags & WIRE_TTY;
	s->boot = flags & WIRE_BOOT;
	s->ephemeral = flags & WIRE_EPHEMERAL;
	s->proc_subset_pid = flags & WIRE_PROC_SUBSET_PID;
	s->netns_late = flags & WIRE_NETNS_LATE;
	return 0;
}
