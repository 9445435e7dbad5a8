/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The spec as bytes: the daemon encodes an activator_spec into one message
 * on the sync socket before the clone, and nsinetd-init (the container's
 * pid 1, a separate program) decodes it in its own address space. Nothing
 * of the daemon's memory reaches the container but what is in here, which
 * is the service's own configuration.
 *
 * Layout: a sequence of little fields in a fixed order (u32, u64, strings
 * with their NUL, arrays with their count first), no pointers. The decoder
 * checks every length against what is left; strings point into the buffer.
 *
 * The fds are not in the message: the clone's child puts them in the
 * helper's fd table before execve (wire_fd_layout below).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "activator.h"

#define WIRE_MAGIC    UINT32_C(0x6e736931) /* "nsi1" */
#define WIRE_SIZE_MAX (160u * 1024u)       /* below a unix socket's default sndbuf */

/* The helper's fds at execve: stdio of the payload at 0-2, the sync
 * socket at 3, then spec->fds[], then, each only if present, the
 * network namespace to join, the pool's handoff socket, the user
 * namespace to join, the pidfd of the container to enter, the test
 * pause fd and the mount template. */
#define WIRE_FD_SYNC  3
#define WIRE_FD_FIRST 4
/* The most fds a spec can attach: stdio, ACTIVATOR_FDS_MAX listeners, the
 * netns, handoff, userns, enter, pause and template fds (below SCM_MAX_FD,
 * 253). */
#define WIRE_FDS_MAX (3 + 128 + 6)

enum {
	WIRE_READ_ONLY = 1u << 0,
	WIRE_SET_CAPS = 1u << 1,
	WIRE_NO_NEW_PRIVS = 1u << 2,
	WIRE_POOL = 1u << 3,
	WIRE_IDMAP_ROOT = 1u << 4,
	WIRE_NETNS = 1u << 5,
	WIRE_USERNS = 1u << 6,
	WIRE_SECCOMP = 1u << 7,
	/* stdio[i] of the spec was -1: the helper has a /dev/null of the host
	 * there, and opens the container's instead. */
	WIRE_STDIN_NULL = 1u << 8,
	WIRE_STDOUT_NULL = 1u << 9,
	WIRE_STDERR_NULL = 1u << 10,
	WIRE_PARK = 1u << 11,
	/* The fds ride with the message (SCM_RIGHTS), in the order of the
	 * fd table layout below, the absent stdio left out; else they are in
	 * the helper's fd table from WIRE_FD_FIRST on. */
	WIRE_FDS_ATTACHED = 1u << 12,
	/* activator_enter(): the target's pidfd follows the userns fd; argv
	 * may be empty (the login shell). */
	WIRE_ENTER = 1u << 13,
	WIRE_TTY = 1u << 14,
	/* Tests: the pause fd follows the target's pidfd. */
	WIRE_TEST_PAUSE = 1u << 15,
	WIRE_BOOT = 1u << 16,
	WIRE_EPHEMERAL = 1u << 17,
	WIRE_NETNS_FRESH = 1u << 18,
	/* The mount template's fd follows the test pause fd. */
	WIRE_MOUNT_TEMPLATE = 1u << 19,
	/* spec->submounts follows the seccomp filter. */
	WIRE_SUBMOUNTS = 1u << 20,
	WIRE_PROC_SUBSET_PID = 1u << 21,
	/* A start in a spare: the container's cgroup fd follows the mount
	 * template's, for pid 1 to clone the payload into. */
	WIRE_PAYLOAD_CGROUP = 1u << 22,
	/* spec->netns_late: the clone made no network namespace. */
	WIRE_NETNS_LATE = 1u << 23,
	/* spec->oom_score_adj follows the rlimits. */
	WIRE_OOM_SCORE = 1u << 24,
};

struct wire_buf {
	char *data;
	size_t len, cap;
	int err; /* first error: -ENOMEM, -E2BIG */
};

/* Encodes spec; 0 or a negative errno. buf->data is malloc'd. With
 * fds_attached, the message says that the fds come with it. */
int wire_encode(const struct activator_spec *spec, bool fds_attached, struct wire_buf *buf);

/*
 * What the helper decodes into: a spec whose pointers point into the
 * message buffer or into the arrays allocated here (freed with the
 * process: the helper never returns). fds are filled with their place in
 * the fd table as laid out above.
 */
struct wire_spec {
	struct activator_spec spec;
	char **argv, **envp;
	int *fds;
	const char **fd_names;
	struct activator_bind *binds;
	struct activator_tmpfs *tmpfs;
	gid_t *groups;
	struct activator_rlimit *rlimits;
	struct sock_fprog *seccomp;
	char **submounts;
};

/* 0, or -EBADMSG for anything that does not parse, -ENOMEM. fds: what
 * came with the message (n_fds of them), for WIRE_FDS_ATTACHED. */
int wire_decode(const char *data, size_t len, const int *fds, size_t n_fds, struct wire_spec *ret);
