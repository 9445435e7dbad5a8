/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared between the parent side (activator.c), the child setup (child.c,
 * rootfs.c) and the stub init (init.c). Not public API.
 *
 * Everything the child needs is prepared by the parent before clone3() (the
 * environment block, the PATH to search): the child then runs only system
 * calls and stack buffers, no allocation of its own, so it does not depend
 * on allocator locks that another thread of the parent might have held at
 * clone time (the loopback step's rtnetlink socket is a plain fd, for the
 * same reason).
 */
#pragma once

#include <sys/capability.h>

#include "activator.h"

/* Limits on what a spec may ask for (every user-controlled quantity has one). */
#define ACTIVATOR_FDS_MAX     128
#define ACTIVATOR_MOUNTS_MAX  256
#define ACTIVATOR_GROUPS_MAX  64
#define ACTIVATOR_OPTIONS_MAX 1024

/* What a failing child writes on the sync fd, as one SOCK_SEQPACKET message. */
struct activator_record {
	int step; /* enum activator_step */
	int err;  /* negative errno */
};

struct activator_ctx {
	const struct activator_spec *spec;
	int sync_fd;          /* the child's end; moved above 3+n in STEP_FDS */
	int parent_sync_fd;   /* the parent's end, closed first thing in the child */
	int idmapped_root_fd; /* from the parent with the go (spec->idmap_root) */
	int root_fd;          /* O_PATH of the new root assembled on the staging dir */

	char **envp;         /* spec->envp without LISTEN_*, plus ours */
	char *listen_fds;    /* "LISTEN_FDS=n" */
	char *listen_names;  /* "LISTEN_FDNAMES=a:b" */
	char listen_pid[32]; /* "LISTEN_PID=", completed by the payload itself */
	const char *path;    /* PATH for looking up argv[0] */

	cap_t caps;    /* caps_prepare(): the sets to capset(), or NULL */
	size_t n_fds;  /* fds at 3.. in the payload: spec->n_fds, or the handoff's */
	size_t n_envp; /* entries in envp; room for ACTIVATOR_HANDOFF_ENV_MAX more */

	/* Pool mode: the handoff message lands here (allocated before clone). */
	int handoff_fd;
	char *handoff_buf;
	char handoff_names[300]; /* "LISTEN_FDNAMES=name" */
};

/* The handoff message: this header, then fd_name and each variable, each
 * NUL-terminated; the connection rides along as SCM_RIGHTS. */
struct activator_handoff_header {
	unsigned int layout; /* enum activator_layout */
	unsigned int n_env;
};

/* child.c: runs the setup steps, then becomes the stub init. */
_Noreturn void child_run(struct activator_ctx *c);
/* Reports {step, err} to the parent and exits 127. */
_Noreturn void child_fail(struct activator_ctx *c, enum activator_step step, int err);

/* rootfs.c: the file system steps, each 0 or a negative errno. */
int rootfs_bind_root(struct activator_ctx *c);
int rootfs_mountpoints(struct activator_ctx *c);
int rootfs_read_only(struct activator_ctx *c);
int rootfs_proc(struct activator_ctx *c);
int rootfs_sys(struct activator_ctx *c);
int rootfs_dev(struct activator_ctx *c);
int rootfs_tmpfs(struct activator_ctx *c);
int rootfs_binds(struct activator_ctx *c);
int rootfs_pivot(struct activator_ctx *c);

/* child.c: pool mode, the connection and its environment (STEP_HANDOFF). */
int child_handoff(struct activator_ctx *c);

/* init.c: pid 1 of the container; forks and execs the payload. */
_Noreturn void init_run(struct activator_ctx *c);

/* caps.c: capabilities, see the order in child_privileges(). */
int caps_prepare(struct activator_ctx *c); /* parent, before clone */
int caps_bounding(struct activator_ctx *c);
int caps_apply(struct activator_ctx *c);

/* userns.c: the parent writes the child's uid/gid maps. */
int userns_write_maps(const struct activator_spec *spec, pid_t pid);
