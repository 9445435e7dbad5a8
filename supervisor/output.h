/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What containers write on stdout and stderr.
 *
 * A container never gets the daemon's own stderr: that may be the
 * administrator's terminal (readable and writable through /proc/self/fd/2)
 * or the daemon's log file (other clients' addresses). Each container gets a
 * pipe of its own instead; the daemon reads it in its loop and logs each line
 * as "NAME: line" ("NAME[PID]: line" for Accept=yes sandboxes), and keeps
 * the last lines of each service in memory.
 *
 * With output_set_journal() (the daemon's own stderr is the journal), the
 * lines go to a journal stream of the service's own instead of the daemon's
 * log: identifier NAME, priority info, no "<N>" prefixes, "[PID] line" for
 * Accept=yes. The daemon holds that stream, never the container: the rate
 * limit, the escaping and the ring stay in the middle, and a container
 * cannot pick its priority or speak for another identifier. The stream is
 * opened at the service's first line and non-blocking: a line the socket
 * does not take is dropped and counted ("web: 12 lines of output not sent
 * to the journal"), and stays in the ring. After an error the lines go to
 * the daemon's log, and the stream is opened again after a backoff
 * (journal_retry, doubled up to OUTPUT_JOURNAL_RETRY_MAX).
 *
 *   output_new()           one per service: its name, rate limit and ring
 *   output_pipe_open()     one per container, before activator_spawn():
 *                          output_pipe_fd() is its stdout and stderr
 *   output_pipe_spawned()  right after activator_spawn(): the daemon's copy
 *                          of the write end is closed, the pid noted
 *   output_pipe_close()    the container is gone: what is left in the pipe
 *                          is read, and the pipe freed from the loop
 *
 * Limits (struct output_limits, every one of them per service):
 *   line_max       a longer line is cut there and ends in " [truncated]"
 *                  (the rest of it, up to its newline, is dropped);
 *   read_max       bytes taken from one pipe per wake-up of the loop, so
 *                  that a container that writes without pause does not
 *                  starve other services;
 *   rate_lines,    lines (and bytes) logged per rate_interval; what comes
 *   rate_bytes     beyond is dropped, and the number dropped is logged
 *                  once per interval ("web: 1234 lines of output dropped");
 *   ring_lines,    the last lines kept for output_ring_foreach(), at most
 *   ring_bytes     this many and this much text;
 *   drain_max      bytes read from a pipe when its container is gone (a
 *                  writer that escaped the container cannot keep it open);
 *   journal_sndbuf the journal stream's socket buffer (SO_SNDBUF: the kernel
 *                  doubles it), what a journal that stops reading holds;
 *   journal_retry  the first wait before the stream is opened again.
 *
 * Bytes that are not printable (control characters, escape sequences,
 * invalid UTF-8, bidirectional overrides) are written "\xNN": a container
 * cannot send a terminal escape to the administrator's terminal.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/parse.h"

struct event_base;
struct output;
struct output_pipe;

struct output_limits {
	size_t line_max;
	size_t read_max;
	unsigned rate_lines;
	size_t rate_bytes;
	usec_t rate_interval;
	unsigned ring_lines;
	size_t ring_bytes;
	size_t drain_max;
	int journal_sndbuf;
	usec_t journal_retry;
};

#define OUTPUT_LINE_MAX          4096
#define OUTPUT_READ_MAX          (16 * 1024)
#define OUTPUT_RATE_LINES        1000
#define OUTPUT_RATE_BYTES        (1024 * 1024)
#define OUTPUT_RATE_INTERVAL     USEC_PER_SEC
#define OUTPUT_RING_LINES        200
#define OUTPUT_RING_BYTES        (64 * 1024)
#define OUTPUT_DRAIN_MAX         (1024 * 1024) /* the largest pipe an unprivileged writer can make */
#define OUTPUT_JOURNAL_SNDBUF    (512 * 1024)  /* 1 MiB in the kernel: a second of rate_bytes */
#define OUTPUT_JOURNAL_RETRY     USEC_PER_SEC
#define OUTPUT_JOURNAL_RETRY_MAX (60 * USEC_PER_SEC)

extern const struct output_limits output_limits_default;

/* The output of service name's containers; show_pid: each line says which
 * container wrote it (Accept=yes). limits NULL = output_limits_default. */
struct output *output_new(struct event_base *base, const char *name, bool show_pid,
			  const struct output_limits *limits);
/* Frees every pipe left as well; logs a pending count of dropped lines. */
struct output *output_free(struct output *o);

/* A new pipe (both ends O_CLOEXEC, the daemon's end non-blocking, read by
 * an EV_READ|EV_PERSIST event). 0 or a negative errno. */
int output_pipe_open(struct output *o, struct output_pipe **ret);
/* A re-exec (reexec.c): the daemon's end of a running container's pipe,
 * handed over (fd taken, even on failure); pid is the container's. */
int output_pipe_adopt(struct output *o, int fd, pid_t pid, struct output_pipe **ret);
/* The write end, for spec->stdio[1] and [2]; -1 once spawned. */
int output_pipe_fd(const struct output_pipe *p);
/* The daemon's end (a re-exec hands it over), -1 after EOF or for NULL. */
int output_pipe_read_fd(const struct output_pipe *p);
/* After activator_spawn(), whatever it returned: closes the daemon's copy
 * of the write end (EOF then means that the container has let go of it).
 * pid is the container's, or -1. NULL is a no-op. */
void output_pipe_spawned(struct output_pipe *p, pid_t pid);
/* The container is gone: reads what it left (up to drain_max), logs its
 * last incomplete line, and frees the pipe from the loop. Returns NULL. */
struct output_pipe *output_pipe_close(struct output_pipe *p);

/* Opens a journal stream for identifier: a connected fd (blocking or not)
 * that the daemon writes lines to, or a negative errno. */
typedef int (*output_journal_open_fn)(const char *identifier, void *userdata);
/* Sends every service's lines to its journal stream from now on (opened
 * lazily, at the next line); NULL: to the daemon's log. One for the process. */
void output_set_journal(output_journal_open_fn fn, void *userdata);
/* The journal's own: sd_journal_stream_fd(identifier, LOG_INFO, 0). */
int output_journal_open(const char *identifier, void *userdata);

/* Writes line into out (max characters and a NUL): printable ASCII, tab and
 * printable UTF-8 as they are, any other byte as "\xNN". Sets *cut when it
 * did not all fit. Returns the length written. Also for STATUS= (notify.c). */
size_t output_escape(const char *line, size_t n, char *out, size_t max, bool *cut);

/* One kept line. */
struct output_line {
	usec_t time;      /* CLOCK_REALTIME */
	pid_t pid;        /* the container's, 0 for the daemon's own notice of drops */
	const char *text; /* escaped as logged: printable, no newline */
};

/* Calls fn for each kept line of the service, oldest first. Stops at fn's
 * first negative return and returns it; 0 otherwise. */
/* Called for each line that enters a ring (nsinetctl logs -f), with the
 * service's name; one observer for the process. */
typedef void (*output_observer_fn)(void *userdata, const char *name,
				   const struct output_line *line);
void output_set_observer(output_observer_fn fn, void *userdata);

int output_ring_foreach(const struct output *o,
			int (*fn)(const struct output_line *line, void *userdata), void *userdata);
