/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nsinetctl shell NAME [COMMAND...]: a command, by default the user's login
 * shell, inside the running container of an Accept=no service, as its
 * payload runs (activator_enter(); docs/architecture.md, "Entering a
 * running container"). Everything is an event: shell_start() returns
 * before the command runs, ready says when it does, done when it is gone.
 */
#pragma once

#include <stdbool.h>

struct service;
struct shell;

/* Called once from the event loop when the command has been forked.
 * tty: fds[0] is the master of its pseudo-terminal (of the container's own
 * devpts), fds[1] = fds[2] = -1. !tty: fds = {the write end of its stdin,
 * the read end of its stdout, the read end of its stderr}. The callee owns
 * the fds. Not called when the command could not be started (done says
 * why). */
typedef void (*shell_ready_fn)(void *userdata, int fds[3]);
/* Called once from the event loop when the command has exited: status is a
 * wait status (WIFEXITED…), or -errno if it could not be started after
 * shell_start() returned (then ready may or may not have been called).
 * The callee may shell_free() the shell from here. */
typedef void (*shell_done_fn)(void *userdata, int status);

/* At most this many commands run in containers at a time. */
#define SHELLS_MAX 32

/* Runs argv (NULL or empty: the login shell of the service's user from the
 * container's /etc/passwd, else /bin/sh) inside the running container of
 * the Accept=no service s (the caller makes sure it runs and is not
 * frozen), with the service's user, capabilities, seccomp filter, rlimits,
 * cgroup and environment, plus TERM=term (NULL: none). tty: a
 * pseudo-terminal, its controlling terminal. Returns 0 or -errno (and logs
 * why, naming the service): -ESRCH no running container, -EOPNOTSUPP
 * Accept=yes, -EUSERS past SHELLS_MAX, -EINVAL a bad term or argv. */
int shell_start(struct service *s, char *const *argv, const char *term, bool tty,
		shell_ready_fn ready, shell_done_fn done, void *userdata, struct shell **ret);
/* Kills (SIGKILL) the command if it still runs and frees; neither callback
 * is called any more. The processes are reaped from the loop later. */
struct shell *shell_free(struct shell *sh);
