/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Starting one container. A synchronous library: no event loop, no logging
 * above debug; every failure is a negative errno, and a failure inside the
 * child comes back over the sync fd as {step, errno, what}.
 *
 *   parent: activator_spawn() ──clone3(CLONE_VM|CLONE_VFORK)──► execve(nsinetd-init)
 *             │  the spec as one message on the sync socket     │ pid 1 of the new pid ns,
 *             │  veth (before_release), the go  ──────────────► │ its own address space:
 *             │                                                 │ setup steps, in order,
 *             │                                                 │ fork + exec the payload
 *   supervisor watches sync_fd: EOF = payload exec'd; a record = failed
 *   supervisor watches pidfd: readable = container (its pid 1) exited
 *
 * No copy of the daemon's address space is made: the clone shares the
 * daemon's memory only until it has put the fds in place and exec'd the
 * helper (the daemon is suspended meanwhile, CLONE_VFORK), so the
 * container's pid 1 holds nothing of the daemon but the spec it was sent.
 */
#pragma once

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

struct sock_fprog;

enum activator_step {
	STEP_NONE = 0,
	STEP_SYNC,          /* waiting for the parent's go */
	STEP_SIGNALS,       /* reset signal mask and handlers, PDEATHSIG */
	STEP_MOUNT_PRIVATE, /* MS_SLAVE|MS_REC on / */
	STEP_LOOPBACK,      /* bring lo up in the new network namespace */
	STEP_ROOTFS,        /* bind the root directory on the staging dir */
	STEP_MOUNTPOINTS,   /* create missing mount points in the rootfs */
	STEP_READ_ONLY,     /* make the root recursively read-only */
	STEP_BIND,          /* Bind=/BindReadOnly= */
	STEP_PROC,          /* private /proc */
	STEP_SYS,           /* fresh read-only /sys */
	STEP_DEV,           /* minimal /dev */
	STEP_TMPFS,         /* /tmp, /run, TemporaryFileSystem= */
	STEP_PIVOT_ROOT,    /* pivot_root into the new root, detach the old */
	STEP_HOSTNAME,      /* sethostname */
	STEP_FDS,           /* passed fds to 3..3+n-1, stdio, close the rest */
	STEP_SETSID,        /* new session */
	STEP_CHDIR,         /* WorkingDirectory= */
	STEP_PRIVILEGES,    /* groups, gid, uid, capabilities, NO_NEW_PRIVS */
	STEP_HANDOFF,       /* pool mode: receive the connection, put it in place */
	STEP_FORK_PAYLOAD,  /* the stub init forks pid 2 */
	STEP_EXEC,          /* execve of the payload */
	STEP_RLIMITS,       /* Limit*= */
	STEP_SECCOMP,       /* load the seccomp filter, in the payload */
	STEP_NETNS,         /* setns() into spec->netns_fd */
	STEP_IDMAP,         /* the idmapped mount of the root directory or a bind */
	STEP_EXEC_INIT,     /* the clone's execve of nsinetd-init */
	STEP_MESSAGE,       /* nsinetd-init reads and decodes the spec */
	STEP_USERNS,        /* join the service's user namespace */
	STEP_INIT,          /* pid 1 drops what it does not need after the payload's exec */
	STEP_ENTER,         /* enter mode: setns() into the running container's namespaces */
	STEP_PTY,           /* enter mode: a pseudo-terminal from the container's devpts */
	STEP_TEST_PAUSE,    /* enter mode, test builds of nsinetd-init only: the pause */
	STEP_BOOT,          /* boot: the container interface (/run/host, boot_id, cgroup2) */
	STEP_IPC_LIMITS,    /* the IPC namespace's System V limits */
	_STEP_MAX,
};

/* "pivot_root" etc., for "web: container setup failed at pivot_root: …". */
const char *activator_step_name(enum activator_step step);

struct activator_bind {
	const char *source; /* host path */
	const char *target; /* path inside the container */
	bool read_only;
	/* With userns_fd: seen through the container's user namespace, so
	 * that host root's files are the container root's (nspawn's :idmap). */
	bool idmap;
	/* Mounted nosuid,nodev unless this is set. */
	bool allow_suid;
};

struct activator_tmpfs {
	const char *target;
	const char *options; /* NULL = "mode=0755" */
};

struct activator_rlimit {
	int resource; /* RLIMIT_* */
	struct rlimit limit;
};

struct activator_spare;

struct activator_spec {
	const char *name; /* for debug messages */

	/* What runs: argv[0] is absolute, or looked up in the container's
	 * PATH (from envp, else "/usr/local/sbin:…:/bin"). envp is the base
	 * environment; the activator adds LISTEN_FDS, LISTEN_FDNAMES and
	 * LISTEN_PID (the payload's own pid inside, i.e. 2). */
	char *const *argv;
	char *const *envp;

	/* fds[i] becomes fd 3+i in the payload, named fd_names[i]. These fds
	 * stay open in the caller (the supervisor keeps every listener). */
	const int *fds;
	const char *const *fd_names;
	size_t n_fds;
	/* stdin, stdout, stderr of the payload; -1 = /dev/null. */
	int stdio[3];

	/* The file system. root_directory NULL = the host's /. */
	const char *root_directory;
	bool read_only;
	const struct activator_bind *binds;
	size_t n_binds;
	const struct activator_tmpfs *tmpfs;
	size_t n_tmpfs;
	/* An existing empty directory of the host on which the new root is
	 * assembled inside the child's private mount namespace (nothing is
	 * mounted on it in the host's namespace). */
	const char *staging_dir;

	const char *hostname;          /* NULL: keep (only with no new UTS ns) */
	const char *working_directory; /* NULL = "/" */

	/* Credentials of the payload; uid 0 keeps root. */
	uid_t uid;
	gid_t gid;
	const gid_t *groups; /* supplementary groups */
	size_t n_groups;

	/* CLONE_NEW* flags: NEWNS|NEWPID|NEWIPC|NEWUTS|NEWCGROUP, plus
	 * NEWNET for a network namespace of its own (Network=none, veth).
	 * NEWNS and NEWPID are required. */
	unsigned long namespaces;

	/* An O_DIRECTORY fd of the container's (empty) cgroup v2 directory
	 * for CLONE_INTO_CGROUP, or -1. */
	int cgroup_fd;

	/* --- Hardening (caps.c, seccomp.c, userns.c). A zeroed spec keeps
	 * the process's privileges: each is explicit. --- */

	/* Capabilities: when set_capabilities, the mask (bit n = capability
	 * n) is what stays in the bounding, permitted, effective and
	 * inheritable sets; for a non-root uid it is also raised in the
	 * ambient set, so that it survives execve. Everything else goes. */
	bool set_capabilities;
	uint64_t capabilities;
	/* PR_SET_NO_NEW_PRIVS: setuid/setgid bits and file capabilities no
	 * longer raise privileges (set anyway when a seccomp filter has to be
	 * loaded without CAP_SYS_ADMIN, as the kernel demands). */
	bool no_new_privs;
	/* Limit*=, set before the uid change (never above the hard limit
	 * the caller has: lowering needs no privilege). */
	const struct activator_rlimit *rlimits;
	size_t n_rlimits;
	/* A compiled filter (activator_seccomp_compile()), loaded by the
	 * payload right before execve; NULL = none. */
	const struct sock_fprog *seccomp;
	/* A user namespace (activator_userns_new()) or -1. The container is
	 * set up by a root of the initial namespace (its mount, network, UTS,
	 * IPC, pid and cgroup namespaces belong to that one), then its pid 1
	 * joins this namespace as its uid 0 before dropping privileges: the
	 * payload's root is an unmapped uid for every host file and socket,
	 * and has no capability over any namespace but this one.
	 * userns_root is the host uid of its uid 0 (owner of /run, /tmp …). */
	int userns_fd;
	uid_t userns_root;
	/* CLONE_NEWUSER in namespaces instead (a daemon that is not root):
	 * the clone's child maps the caller's own euid/egid to 0 before its
	 * execve, the only map an unprivileged process may write. */
	/* Pool mode (see activator_handoff()): handoff_fd is the child's end
	 * of a SOCK_SEQPACKET socketpair. The container is set up completely
	 * (namespaces, mounts, privileges) but n_fds must be 0: pid 1 waits
	 * on this socket for its connection, puts it in place, adds the
	 * environment that came with it, then forks the payload. The caller
	 * closes its copy of this end after spawning. */
	bool pool;
	int handoff_fd;
	/* Parked mode (Accept=no, Prepare=): the container is set up
	 * completely, with its fds in place, and pid 1 waits on handoff_fd
	 * for activator_release() before it forks the payload: the first
	 * connection only releases it. EOF instead makes it exit 0. */
	bool park;
	/* An existing network namespace to join (an nsfs fd), or -1: the child
	 * setns()s into it before anything else (Network=netns:NAME, the
	 * shared empty namespace). Requires CLONE_NEWNET not set. Note that
	 * {0} initializes this to fd 0: set it to -1 explicitly. */
	int netns_fd;
	/* netns_fd is a namespace made for this container alone, lo up (a
	 * spare, network.c): its setup is as for CLONE_NEWNET, less lo. */
	bool netns_fresh;
	/* CLONE_NEWNET made by nsinetd-init (unshare(), at its netns step),
	 * not by the clone: a pooled sandbox makes it while it waits, at its
	 * idle priority, instead of on the caller's thread. Not with
	 * CLONE_NEWUSER in the clone, netns_fd or before_release. */
	bool netns_late;
	/* A mount namespace holding only an empty tmpfs root
	 * (activator_mount_template_new()), or -1. With it the clone makes no
	 * mount namespace: nsinetd-init assembles the root as a detached tree
	 * while still in the caller's, then setns()s into the template and
	 * unshare()s a copy of it to pivot into, instead of copying the
	 * caller's whole mount table (whose size a start would otherwise
	 * grow with). It falls back to the copy where a detached tree cannot
	 * be built (an idmapped root, Ephemeral=, mounts locked together).
	 * Requires CLONE_NEWNS in namespaces. {0} is fd 0: set -1. */
	int mount_template_fd;
	/* OOMScoreAdjust=: pid 1 writes oom_score_adj (-1000..1000) before it
	 * joins the user namespace, so that the payload inherits it, and the
	 * payload cannot go below it (oom_score_adj_min). */
	bool oom_score_adj_set;
	int oom_score_adj;
	/* ProcSubset=pid: /proc is mounted with subset=pid (Linux 5.8): only
	 * the processes' directories, self and thread-self, so nothing of the
	 * host's to mask or make read-only. */
	bool proc_subset_pid;
	/* Without a root_directory: the host's mounts below / that the
	 * container keeps (mountinfo.h), as the daemon last read them, so
	 * that nsinetd-init need not read /proc/self/mountinfo (about 1 us
	 * per host mount). NULL-terminated, as argv; NULL: it reads it
	 * itself. */
	const char *const *submounts;
	/* Called by the parent between clone3() and the release of the child,
	 * for what only the parent can set up (the veth pair): pid and pidfd
	 * are the new child's. A negative return kills and reaps the child,
	 * and activator_spawn() returns it. NULL = nothing to do. */
	int (*before_release)(pid_t pid, int pidfd, void *userdata);
	void *userdata;
	/* With userns_fd and a root_directory: the root is an idmapped
	 * mount (mount_setattr(MOUNT_ATTR_IDMAP) with userns_fd): files the
	 * host's root owns are the container root's inside. */
	bool idmap_root;
	/* nsinetd-init, opened O_PATH|O_CLOEXEC by the caller (execveat). */
	int init_fd;
	/* A low fd number the caller keeps for the activator
	 * (activator_reserve_slot(), at start, before the caller has many
	 * fds), or -1. With it, the clone shares the caller's fd table
	 * (CLONE_FILES) and unshares only the fds below the slot and init_fd
	 * (close_range(CLOSE_RANGE_UNSHARE)); every fd of the spec goes to
	 * nsinetd-init by SCM_RIGHTS with the spec. So a daemon with
	 * thousands of listeners does not copy, then close on exec, its whole
	 * fd table on every start. Without it, the clone copies the table. */
	int slot_fd;
	/* Run the setup under SCHED_IDLE (set before the go): a pool's
	 * sandbox is made with CPU that nothing else wants.
	 * activator_priority_normal() ends it. Needs CAP_SYS_NICE to end. */
	bool idle_priority;
	/* Boot=yes: argv is an init (systemd) that becomes pid 1 itself, with
	 * LISTEN_PID=1: nsinetd-init execs it after the setup instead of
	 * forking a payload. The container also gets what systemd's
	 * Container Interface asks of a manager (activator/boot.c): a cgroup2
	 * mount of its own cgroup namespace at /sys/fs/cgroup, writable (the
	 * caller delegates the cgroup to userns_root), /run/host/container-
	 * manager, a private boot_id, and mount, UTS and IPC namespaces owned
	 * by its user namespace, in which its root may mount. Needs
	 * userns_fd, root_directory and CLONE_NEWCGROUP. */
	bool boot;
	/* Ephemeral=yes: the root_directory is the lower layer of an overlay
	 * whose upper layer is a tmpfs of the container's own: it starts from
	 * the same tree every time, may write everywhere, and the tree is never
	 * written (nspawn --volatile=overlay). The upper layer belongs to
	 * userns_root (with idmap_root, the tree's root's files are its). */
	bool ephemeral;

	/* Set by activator_enter() on its copy of the spec, never by a
	 * caller: enter the container whose pid 1 is enter_pidfd instead of
	 * making one; enter_tty: give the command a pseudo-terminal. */
	bool enter;
	bool enter_tty;
	int enter_pidfd;
	/* Tests only: an fd (a pipe's read end) on which the entered command
	 * waits, after its fork and before its seccomp filter and execve,
	 * until a byte or EOF comes, so that a test can look at it there.
	 * -1 = none; only nsinetd-init-test honours it, nsinetd-init refuses
	 * a spec that has one (-EPERM at step test-pause). Note that {0}
	 * initializes this to fd 0: set it to -1 explicitly before entering. */
	int enter_pause_fd;

	/* A spare (activator_spare_new()) to start this container in, or
	 * NULL: no clone and no exec of nsinetd-init on the start's path; the
	 * spare's /proc, /dev, /tmp and /run are used as made, and its
	 * network namespace with its /sys for a CLONE_NEWNET without
	 * netns_fd. The spec must fit (activator_spare_fits()). cgroup_fd
	 * goes to the spare, whose pid 1 clones the payload into it, in a
	 * cgroup namespace of its own (pid 1 stays in the spares' cgroup); if
	 * the spare turns out dead the start clones as without one.
	 * activator_spawn() takes the spare whatever it returns: *spare is
	 * emptied. */
	struct activator_spare *spare;
};

struct activator_child {
	pid_t pid;   /* the container's pid 1, as seen by the caller */
	int pidfd;   /* CLONE_PIDFD: poll for exit, pidfd_send_signal() */
	int sync_fd; /* read end: EOF = exec done; a record = setup failed */
};

/* What a failed setup reports: the step, and the path or object it was
 * working on ("" if none), for "setup failed at bind (/srv/data): …". */
struct activator_failure {
	enum activator_step step;
	char what[256];
};

/*
 * Starts a container. Returns 0 with *ret filled (the caller owns pidfd and
 * sync_fd, both O_CLOEXEC, sync_fd non-blocking), or a negative errno for a
 * failure before or at clone3(). Blocks for no more than the parent's side
 * of the setup (uid maps, the release write): it does not wait for the
 * child's setup to finish.
 */
int activator_spawn(const struct activator_spec *spec, struct activator_child *ret);

/*
 * Reads the outcome from sync_fd: 0 = the payload has exec'd (EOF);
 * -EAGAIN = not known yet; otherwise the setup failed and the child's
 * negative errno is returned with the step and path in *ret (may be NULL).
 */
int activator_read_result(int sync_fd, struct activator_failure *ret);

/*
 * A user namespace whose uid and gid 0..range-1 are host ids
 * shift..shift+range-1, for spec->userns_fd: made once (a short-lived
 * nsinetd-init holds it while the maps are written) and kept as an nsfs fd
 * for as many containers as the caller likes. Needs CAP_SETUID/CAP_SETGID.
 */
int activator_userns_new(int init_fd, uid_t shift, uid_t range, int *ret_fd);

/*
 * The mount namespace for spec->mount_template_fd: a short-lived
 * nsinetd-init makes it (a copy of ours, made private, pivoted into a
 * small read-only tmpfs with one empty directory, /root) and holds it
 * while we open it. -EOPNOTSUPP: this kernel cannot mount on a detached
 * tree (Linux 6.15), which the template needs; the caller goes on
 * without one. Needs CAP_SYS_ADMIN.
 */
int activator_mount_template_new(int init_fd, int *ret_fd);

/* Where a connection goes in the payload. */
enum activator_layout {
	ACTIVATOR_LAYOUT_FD3,   /* fd 3, LISTEN_FDS=1, LISTEN_FDNAMES=fd_name */
	ACTIVATOR_LAYOUT_STDIO, /* fds 0 and 1 (inetd); no LISTEN_* */
};

/* Limits of one handoff message. */
#define ACTIVATOR_HANDOFF_ENV_MAX  64   /* variables */
#define ACTIVATOR_HANDOFF_SIZE_MAX 8192 /* bytes of name and variables */

/*
 * Pool mode: gives a connection to a container spawned with spec->pool,
 * over the parent's end of its handoff socketpair. One message (the fd by
 * SCM_RIGHTS, the layout, fd_name, and "KEY=value" variables that are set
 * in the payload's environment, replacing any of the same name); pid 1
 * puts the fd in place and forks the payload. The message is queued if
 * the container is still setting up. Closing the handoff socket without a
 * message makes a waiting container exit 0. 0 or a negative errno
 * (-E2BIG past the limits above, -EPIPE if the container is gone).
 */
int activator_handoff(int handoff_fd, int conn_fd, enum activator_layout layout,
		      const char *fd_name, char *const *envp);

/* Parked mode: lets the container's pid 1 fork and exec the payload.
 * 0, or -EPIPE if the container is gone. */
int activator_release(int handoff_fd);

/*
 * Entering a running container (nsinetctl shell; docs/architecture.md,
 * "Entering a running container"). Runs spec->argv (NULL or empty: the
 * login shell of spec->uid in the container's own /etc/passwd) as a
 * payload of the container whose pid 1 is target_pidfd would run: its
 * namespaces and root, spec's user namespace, uid, gid, groups,
 * capabilities, rlimits, no_new_privs and seccomp filter, environment
 * spec->envp, in the cgroup spec->cgroup_fd (the container's own: the
 * caller opens it; CLONE_INTO_CGROUP). spec's file system, hostname,
 * network and fds are the container's already and are not used; n_fds
 * must be 0, pool and park false.
 *
 * The clone execs nsinetd-init as for a start, with no new namespace. It
 * joins the container's, forks the command with CLONE_PARENT (so that the
 * command is the caller's child, in the container's pid namespace) and
 * exits; nothing of the host is left running beside the command.
 *
 * tty: the command's stdio is a pseudo-terminal of the container's
 * devpts, its controlling terminal; spec->stdio is not used. !tty:
 * spec->stdio as for a start (-1 = the container's /dev/null).
 *
 * Returns as activator_spawn() does: ret->pid and ret->pidfd are the
 * entering nsinetd-init's (reap it: it exits 0 once it has forked the
 * command, 127 after a failure), ret->sync_fd says the rest, read with
 * activator_enter_result() then activator_read_result().
 */
int activator_enter(const struct activator_spec *spec, int target_pidfd, bool tty,
		    struct activator_child *ret);

struct activator_entered {
	int pidfd;  /* the command, the caller's child (CLONE_PARENT) */
	int pty_fd; /* tty: the master of its pseudo-terminal; else -1 */
};

/*
 * The first outcome of activator_enter() on its sync_fd: 0 with *ret
 * filled (the caller owns both fds, close-on-exec) once the command is
 * forked; -EAGAIN not yet; otherwise the setup failed (as
 * activator_read_result(), -EPIPE for an EOF before the command was
 * forked). After 0, activator_read_result() on the same sync_fd gives the
 * command's execve: EOF (0) or its failure.
 */
int activator_enter_result(int sync_fd, struct activator_entered *ret, struct activator_failure *f);

/*
 * A spare container process: nsinetd-init cloned ahead of any start into
 * fresh pid, IPC and UTS namespaces (ACTIVATOR_SPARE_NAMESPACES) and into
 * cgroup_fd (or the caller's cgroup, with -1), exec'd with the layout of a
 * start with slot_fd, which it needs, and set to SCHED_IDLE. It makes the
 * container's /proc (masked), /dev, /tmp and /run as detached trees, a
 * network namespace with lo up and its /sys, and waits for a spec: a start
 * then costs neither the clone nor nsinetd-init's exec nor those steps
 * (about 1 ms here). Its namespaces are the initial user namespace's, as a
 * start's are (PrivateUsers= is joined later). A process cannot
 * change cgroups at less than an RCU grace period (a write to
 * cgroup.procs: 6-15 ms here), and cgroup v2 renames nothing: so pid 1
 * stays where the spare was made, and clones the payload into the
 * container's cgroup and a cgroup namespace rooted there as a step of its
 * own, before it joins the service's user namespace; from there both run
 * the steps left, as the payload would have inherited them. EOF on
 * sync_fd (the caller's end) ends it.
 */
#define ACTIVATOR_SPARE_NAMESPACES (CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS)
struct activator_spare {
	pid_t pid;   /* 0: none */
	int pidfd;   /* readable when it has died */
	int sync_fd; /* the spec goes here, then the start's sync_fd */
};
int activator_spare_new(int init_fd, int slot_fd, int cgroup_fd, struct activator_spare *ret);
/* Whether a start of spec can be made in a spare: no user namespace made
 * by the clone (a daemon that is not root; a service's own, joined late,
 * is fine: the clone's namespaces would be the initial one's too), no
 * network namespace to make for a before_release hook (a veth), no pool
 * or park, no Boot=, no ProcSubset=pid (the spare's /proc is the full
 * one), the mount template, slot_fd, and nothing else to create but the
 * spare's namespaces, a network namespace (the spare's own) and a cgroup
 * namespace (the payload's clone makes it). A spec without CLONE_NEWNET
 * must give the network namespace to join in netns_fd, the daemon's own
 * too: the spare is not in it. */
bool activator_spare_fits(const struct activator_spec *spec);
/* Ends a spare that is not taken: EOF, SIGKILL, reaped. *s is emptied. */
void activator_spare_discard(struct activator_spare *s);

/* SCHED_OTHER again for pid (spawned with idle_priority): pid 1 of a
 * pooled sandbox at its hand-off (its payload, forked while it waited,
 * took the normal priority back itself), a parked container's before its
 * release (the payload pid 1 forks then inherits it). */
int activator_priority_normal(pid_t pid);

/* An fd for spec->slot_fd: /dev/null at the lowest free number,
 * close-on-exec (after a spawn, a copy of init_fd). Call it early; keep
 * it for every spawn. */
int activator_reserve_slot(int *ret_fd);

/* Sends a signal to the container's pid 1 through its pidfd. The stub
 * init forwards it to the payload. */
int activator_signal(int pidfd, int sig);

/* Reaps the exited pid 1 (waitid P_PIDFD). *ret_status is a wait status
 * (WIFEXITED etc.). -EAGAIN if it has not exited yet. */
int activator_reap(int pidfd, int *ret_status);
