/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared between the parent side (activator.c) and nsinetd-init, the
 * container's pid 1 (init-main.c, child.c, rootfs.c, caps.c, init.c). Not
 * public API.
 *
 * nsinetd-init is a program of its own, exec'd by the clone's child: the
 * setup runs in a fresh, small address space that holds only the service's
 * spec (wire.h), never the daemon's memory. It is single-threaded, so it
 * may allocate; the payload after init.c's fork() keeps to async-signal-safe calls.
 */
#pragma once

#include "activator.h"

/* Limits on what a spec may ask for (every user-controlled quantity has one). */
#define ACTIVATOR_FDS_MAX     128
#define ACTIVATOR_MOUNTS_MAX  256
#define ACTIVATOR_GROUPS_MAX  64
#define ACTIVATOR_OPTIONS_MAX 1024

/*
 * Every tmpfs the container may write is bounded, in bytes and in files (an
 * inode and a dentry each, which no size= counts): the kernel's default is
 * half of the memory and as many inodes per tmpfs, for each sandbox, and
 * memory that a tmpfs holds counts in no process's size, so the OOM killer
 * would pick other processes than the one that filled it. /tmp, /run and
 * TemporaryFileSystem= (which may raise it): systemd-nspawn's limits for a
 * container's tmpfs; Ephemeral='s upper layer: its limits for a volatile
 * root. /dev and /dev/shm have their own (rootfs.c).
 */
#define TMPFS_LIMITS     "size=10%,nr_inodes=400k"
#define EPHEMERAL_SIZE   "25%"
#define EPHEMERAL_INODES "1m"
/* Room for TMPFS_LIMITS and uid=,gid= before the options of a spec. */
#define TMPFS_OPTIONS_EXTRA 128

/* What a failing child writes on the sync fd, as one SOCK_SEQPACKET message. */
struct activator_record {
	int step;       /* enum activator_step */
	int err;        /* negative errno */
	char what[256]; /* the path or object of the failing step, or "" */
};

struct activator_ctx {
	const struct activator_spec *spec;
	int sync_fd; /* the child's end; moved above 3+n in STEP_FDS */
	int root_fd; /* O_PATH of the new root assembled on the staging dir */
	/* spec->mount_template_fd: still in the daemon's mount namespace,
	 * the root a detached tree (rootfs_bind_root() may give this up). */
	bool in_template;
	/* Started as a spare (nsinetd-init --spare): the clone made no
	 * network namespace, and the /proc, /dev and /sys it made while
	 * waiting for the spec, detached (-1: none), for rootfs_proc(),
	 * rootfs_dev() and rootfs_sys() to attach. spare_netns: we are in a
	 * network namespace the spare made, lo up (child_spare_netns()),
	 * still to be the container's (/sys shows it). The /tmp and /run it
	 * made are the container root's by a chown at the start. */
	bool spare, spare_netns;
	/* The spare's IPC namespace, the container's, has its limits
	 * (child_ipc_limits_write()) already; its signals are reset and
	 * blocked, PDEATHSIG set (child_signals(), 22 us a start). */
	bool spare_ipc, spare_signals;
	int spare_proc_fd, spare_dev_fd, spare_sys_fd, spare_tmp_fd, spare_run_fd;
	/* ip_unprivileged_port_start of the spare's namespace before it set
	 * it to 0, "" if it did not (child_spare_netns()). */
	char spare_port_start[16];
	/* A spare's: the container's cgroup, for the payload's clone (-1:
	 * none, or not a spare). A spare's and a pooled sandbox's: the
	 * payload's pid (0 in the payload) and the go pipe, made at
	 * STEP_FORK_PAYLOAD (init_fork_early()); go[0] >= 0 says the payload
	 * was forked there, payload > 0 that we are pid 1 after it. */
	int cgroup_fd;
	pid_t payload;
	int go[2];
	const char *what;   /* the path the current step works on, for its record */
	char what_buf[256]; /* for a what that has to be formatted */

	char **envp;         /* spec->envp without LISTEN_*, plus ours */
	char *listen_fds;    /* "LISTEN_FDS=n" */
	char *listen_names;  /* "LISTEN_FDNAMES=a:b" */
	char listen_pid[32]; /* "LISTEN_PID=", completed by the payload itself */
	const char *path;    /* PATH for looking up argv[0] */

	size_t n_fds;  /* fds at 3.. in the payload: spec->n_fds, or the handoff's */
	size_t n_envp; /* entries in envp; room for ACTIVATOR_HANDOFF_ENV_MAX more */

	/* Pool mode: the handoff message lands here (allocated before clone). */
	int handoff_fd;
	char *handoff_buf;
	char handoff_names[300]; /* "LISTEN_FDNAMES=name" */

	/* What the payload execs: argv, and the file (NULL: argv[0], looked
	 * up in path). Enter mode's login shell sets both (enter.c). */
	char *const *argv;
	const char *exec_file;
	/* Enter mode with a tty: the pseudo-terminal's two ends. */
	int pty_master, pty_slave;
};

/* The handoff message: this header, then fd_name and each variable, each
 * NUL-terminated; the connection rides along as SCM_RIGHTS. */
struct activator_handoff_header {
	unsigned int layout; /* enum activator_layout */
	unsigned int n_env;
};

/* init-main.c: builds the context from the decoded spec. */
int ctx_new(const struct activator_spec *spec, struct activator_ctx **ret);

/* child.c: runs the setup steps, then becomes the stub init. */
_Noreturn void child_run(struct activator_ctx *c);
/* Reports {step, err, c->what} to the parent and exits 127. */
_Noreturn void child_fail(struct activator_ctx *c, enum activator_step step, int err);
/* Raw rtnetlink: lo up in our new network namespace. */
int child_loopback_up(void);
/* A spare's, while it waits: a network namespace of its own, lo up, and
 * its /sys in *ret_sys_fd (-1 if that failed: the step mounts one); every
 * port unprivileged, port_start the value before ("" if not changed). */
bool child_spare_netns(int *ret_sys_fd, char *port_start, size_t len);
/* The System V IPC limits of the writer's IPC namespace (a start's, or a
 * spare's ahead of it); *what: the file worked on. */
int child_ipc_limits_write(const char **what);

/* rootfs.c: the file system steps, each 0 or a negative errno. */
int rootfs_bind_root(struct activator_ctx *c);
int rootfs_mountpoints(struct activator_ctx *c);
int rootfs_read_only(struct activator_ctx *c);
int rootfs_proc(struct activator_ctx *c);
/* A spare's: the container's /proc and /dev as rootfs_proc() and
 * rootfs_dev() make them, as detached trees (their mount fds), made
 * before the spec is known (both depend on nothing in it but
 * ProcSubset=, which a spare's start does not have). */
int rootfs_proc_new(void);
int rootfs_dev_new(void);
/* The same for /sys, of our network namespace, and for /tmp and /run. */
int rootfs_sys_new(void);
int rootfs_tmpfs_new(int *ret_tmp_fd, int *ret_run_fd);
int rootfs_sys(struct activator_ctx *c);
int rootfs_dev(struct activator_ctx *c);
int rootfs_tmpfs(struct activator_ctx *c);
int rootfs_binds(struct activator_ctx *c);
int rootfs_pivot(struct activator_ctx *c);
/* nsinetd-init --mount-template (activator_mount_template_new()). */
int rootfs_template_make(void);
/* rootfs.c's helpers, for boot.c: paths resolved inside the root dir_fd. */
int rootfs_open(int dir_fd, const char *path, int flags);
int rootfs_mkdir_p(int dir_fd, const char *path, bool leaf_is_file);
int rootfs_fs_new(const char *fstype, const char *options, unsigned int attrs);
int rootfs_mount_fs(int dir_fd, const char *target, const char *fstype, const char *options,
		    unsigned int attrs);
int rootfs_mount_bind(int source_fd, int dir_fd, const char *target, unsigned int attrs,
		      int idmap_userns);

/* boot.c: Boot=yes (spec->boot); each a no-op otherwise. */
int boot_container_interface(struct activator_ctx *c);
int boot_namespaces(struct activator_ctx *c);
/* init.c: execs the init as pid 1 (LISTEN_PID=1); never returns. */
_Noreturn void init_boot(struct activator_ctx *c);

/* child.c: pool mode, the connection and its environment (STEP_HANDOFF). */
int child_handoff(struct activator_ctx *c);

/* One step of a setup: its name for the record, and what it does. */
struct child_step {
	enum activator_step step;
	int (*run)(struct activator_ctx *c);
};
/* child.c: runs steps in order; the first failure is reported
 * (child_fail()), and does not return. */
void child_steps_run(struct activator_ctx *c, const struct child_step *steps, size_t n);

/* child.c: PR_SET_DUMPABLE 0; first thing in main(), again after each
 * change of ids. */
int child_undumpable(void);

/* child.c: the steps that enter mode (enter.c) shares with a start. */
int child_signals(struct activator_ctx *c);
int child_sync(struct activator_ctx *c);
int child_rlimits(struct activator_ctx *c);
int child_oom_score(struct activator_ctx *c);
int child_userns(struct activator_ctx *c);
int child_fds(struct activator_ctx *c);
int child_chdir(struct activator_ctx *c);
/* init.c: a spare's or a pooled sandbox's pid 1 forks the payload, a step
 * before the user namespace (no-op otherwise). */
int init_fork_early(struct activator_ctx *c);
int child_privileges(struct activator_ctx *c);
bool child_parent_gone(struct activator_ctx *c);

/* enter.c: enter mode (activator_enter()): join the running container,
 * fork the command into it as the daemon's child, exit. */
_Noreturn void enter_run(struct activator_ctx *c);

/* init.c: pid 1 of the container; forks and execs the payload. */
_Noreturn void init_run(struct activator_ctx *c);
/* init.c: in the payload, after its fork: the seccomp filter, then execve
 * of c->argv; on failure, the record and exit 127. */
_Noreturn void init_payload(struct activator_ctx *c);

/* caps.c: capabilities, see the order in child_privileges(). Raw system
 * calls: nsinetd-init links no library but libc. */
int caps_bounding(struct activator_ctx *c);
int caps_apply(struct activator_ctx *c);
/* pid 1 after the payload's exec: nothing in any set. */
int caps_drop_all(void);

/* init-filter.c: pid 1's own seccomp filter, an allow-list of what its
 * loop uses. */
#include "activator/init-filter.h"
