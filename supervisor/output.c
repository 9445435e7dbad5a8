/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Containers' stdout and stderr: one pipe per container, read in the loop,
 * logged line by line, bounded everywhere (see output.h for the limits).
 *
 *   output_pipe_open() ─► spawn ─► output_pipe_spawned(): write end closed
 *        read_cb: at most read_max per wake-up ─► lines ─► rate limit
 *             ─► escaped ─► kept in the ring, and logged "NAME: line" or
 *                written to the service's journal stream (dropped if full)
 *        EOF: the last incomplete line is logged, the fd closed
 *   output_pipe_close() (container gone): last read, then gc_cb frees it
 */
#include "output.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fd-util.h"
#include "common/log.h"

#define TRUNCATED_MARK " [truncated]"

const struct output_limits output_limits_default = {
    .line_max = OUTPUT_LINE_MAX,
    .read_max = OUTPUT_READ_MAX,
    .rate_lines = OUTPUT_RATE_LINES,
    .rate_bytes = OUTPUT_RATE_BYTES,
    .rate_interval = OUTPUT_RATE_INTERVAL,
    .ring_lines = OUTPUT_RING_LINES,
    .ring_bytes = OUTPUT_RING_BYTES,
    .drain_max = OUTPUT_DRAIN_MAX,
    .journal_sndbuf = OUTPUT_JOURNAL_SNDBUF,
    .journal_retry = OUTPUT_JOURNAL_RETRY,
};

struct ring_entry {
	usec_t time;
	pid_t pid;
	char *text;
	size_t len;
};

struct output_pipe {
	TAILQ_ENTRY(output_pipe) link;
	struct output *o;
	int fd;       /* the daemon's end, -1 after EOF */
	int write_fd; /* the daemon's copy of the container's end, until spawned */
	struct event *event;
	pid_t pid;
	bool closed; /* the owner let go: gc_cb frees it */
	/* The line being assembled (line_max bytes), and whether the rest of
	 * a line that was cut is being skipped up to its newline. */
	char *line;
	size_t len;
	bool skipping;
};

TAILQ_HEAD(output_pipe_list, output_pipe);

struct output {
	struct event_base *base;
	char *name;
	bool show_pid;
	struct output_limits limits;
	struct output_pipe_list pipes;
	struct event *gc; /* frees closed pipes, from the loop */
	char *read_buf;   /* read_max bytes, shared by the pipes */
	char *text;       /* one escaped line: line_max, the mark, a NUL */

	/* The rate limit's current interval, and what it logged or dropped. */
	usec_t window_start;
	unsigned window_lines;
	size_t window_bytes;
	unsigned long dropped;
	struct event *drop_timer; /* the end of an interval that dropped lines */

	/* The journal stream (output_set_journal()), -1 until the first line
	 * and after an error. buf holds one line as written, [sent, len) of it
	 * still to go while the socket takes only part (then write_event). */
	struct {
		int fd;
		struct event *write_event;
		char *buf;
		size_t len, sent;
		unsigned long dropped;
		usec_t retry_at, backoff;
		bool broken; /* the last error was said, the next one is not */
	} journal;

	/* The last lines: ring_lines slots from ring_first, ring_used bytes. */
	struct ring_entry *ring;
	unsigned ring_first;
	unsigned ring_n;
	size_t ring_used;
};

static output_observer_fn observer;
static void *observer_userdata;
static output_journal_open_fn journal_open;
static void *journal_userdata;

void output_set_journal(output_journal_open_fn fn, void *userdata)
{
	journal_open = fn;
	journal_userdata = userdata;
}

int output_journal_open(const char *identifier, void *userdata)
{
	/* Priority info for stdout and stderr alike (one pipe carries both,
	 * as one stream does for a systemd service by default); no level
	 * prefix, so that a line starting "<0>" is text, not an emergency. */
	return sd_journal_stream_fd(identifier, LOG_INFO, 0);
}

void output_set_observer(output_observer_fn fn, void *userdata)
{
	observer = fn;
	observer_userdata = userdata;
}

static usec_t clock_usec(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000;
}

/* --- the ring ------------------------------------------------------------ */

static void ring_drop_oldest(struct output *o)
{
	struct ring_entry *e = &o->ring[o->ring_first];

	o->ring_used -= e->len;
	free(e->text);
	*e = (struct ring_entry){0};
	o->ring_first = (o->ring_first + 1) % o->limits.ring_lines;
	o->ring_n--;
}

static void ring_push(struct output *o, pid_t pid, const char *text, size_t len)
{
	const struct output_limits *l = &o->limits;
	char *copy;

	if (!o->ring || l->ring_lines == 0 || len > l->ring_bytes)
		return;
	copy = malloc(len + 1);
	if (!copy)
		return; /* logged already; only a later look back misses it */
	memcpy(copy, text, len);
	copy[len] = '\0';
	while (o->ring_n > 0 && (o->ring_n == l->ring_lines || o->ring_used + len > l->ring_bytes))
		ring_drop_oldest(o);
	o->ring[(o->ring_first + o->ring_n) % l->ring_lines] =
	    (struct ring_entry){clock_usec(CLOCK_REALTIME), pid, copy, len};
	o->ring_n++;
	o->ring_used += len;
	if (observer) {
		const struct ring_entry *e =
		    &o->ring[(o->ring_first + o->ring_n - 1) % l->ring_lines];
		struct output_line line = {e->time, e->pid, e->text};

		observer(observer_userdata, o->name, &line);
	}
}

int output_ring_foreach(const struct output *o,
			int (*fn)(const struct output_line *line, void *userdata), void *userdata)
{
	for (unsigned i = 0; i < o->ring_n; i++) {
		const struct ring_entry *e = &o->ring[(o->ring_first + i) % o->limits.ring_lines];
		struct output_line line = {e->time, e->pid, e->text};
		int r = fn(&line, userdata);

		if (r < 0)
			return r;
	}
	return 0;
}

/* --- escaping ------------------------------------------------------------ */

/* The length of the UTF-8 sequence at s if it is well formed and encodes a
 * printable character; 0 for a C1 control (a terminal may take U+009B as
 * CSI), a bidirectional override (it reorders what the reader sees), a
 * surrogate, an overlong form or a broken sequence. */
static size_t utf8_printable(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	if (cp < 0xa0 || (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x202a && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069))
		return 0;
	return len;
}

size_t output_escape(const char *line, size_t n, char *out, size_t max, bool *cut)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)line;
	size_t i = 0, len = 0;

	while (i < n) {
		size_t k = 1;

		if ((s[i] >= 0x20 && s[i] < 0x7f) || s[i] == '\t') {
			if (len + 1 > max)
				break;
			out[len++] = (char)s[i];
		} else if (s[i] >= 0x80 && (k = utf8_printable(s + i, n - i)) > 0) {
			if (len + k > max)
				break;
			memcpy(out + len, s + i, k);
			len += k;
		} else {
			k = 1;
			if (len + 4 > max)
				break;
			out[len++] = '\\';
			out[len++] = 'x';
			out[len++] = hex[s[i] >> 4];
			out[len++] = hex[s[i] & 0xf];
		}
		i += k;
	}
	if (i < n)
		*cut = true;
	out[len] = '\0';
	return len;
}

/* --- the rate limit and the log ------------------------------------------ */

static void dropped_flush(struct output *o)
{
	char text[160], d[64];
	int n;

	if (o->journal.dropped > 0)
		log_warning("%s: %lu lines of output not sent to the journal (its stream full)",
			    o->name, o->journal.dropped);
	o->journal.dropped = 0;
	if (o->dropped == 0) {
		evtimer_del(o->drop_timer);
		return;
	}
	n = snprintf(text, sizeof(text),
		     "%lu lines of output dropped (more than %u lines or %zu KiB in %s)",
		     o->dropped, o->limits.rate_lines, o->limits.rate_bytes / 1024,
		     format_duration(d, sizeof(d), o->limits.rate_interval));
	log_warning("%s: %s", o->name, text);
	if (n > 0)
		ring_push(o, 0, text, (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1);
	o->dropped = 0;
	evtimer_del(o->drop_timer);
}

static void window_reset(struct output *o, usec_t now)
{
	o->window_start = now;
	o->window_lines = 0;
	o->window_bytes = 0;
}

/* The end of an interval that dropped lines: say how many, once. */
static void drop_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct output *o = arg;

	dropped_flush(o);
	window_reset(o, clock_usec(CLOCK_MONOTONIC));
}

/* The first drop of an interval: its count is said at the interval's end. */
static void drop_timer_arm(struct output *o, usec_t now)
{
	usec_t left = o->window_start + o->limits.rate_interval - now;
	struct timeval tv = {.tv_sec = (time_t)(left / USEC_PER_SEC),
			     .tv_usec = (suseconds_t)(left % USEC_PER_SEC)};

	if (!evtimer_pending(o->drop_timer, NULL))
		evtimer_add(o->drop_timer, &tv);
}

/* --- the journal stream -------------------------------------------------- */

static void journal_close(struct output *o)
{
	if (o->journal.write_event)
		event_free(o->journal.write_event);
	o->journal.write_event = NULL;
	o->journal.fd = safe_close(o->journal.fd);
	o->journal.len = o->journal.sent = 0;
}

/* No stream until the backoff has passed, and the next one twice as long. */
static void journal_retry_later(struct output *o, usec_t now)
{
	o->journal.broken = true;
	o->journal.retry_at = now + o->journal.backoff;
	o->journal.backoff = o->journal.backoff * 2 > OUTPUT_JOURNAL_RETRY_MAX
				 ? OUTPUT_JOURNAL_RETRY_MAX
				 : o->journal.backoff * 2;
}

/* The stream failed (err): closed, and opened again after the backoff. */
static void journal_fail(struct output *o, int err, usec_t now)
{
	if (!o->journal.broken)
		log_warning("%s: journal stream: %s; output to the daemon's log for %llu s",
			    o->name, strerror(-err),
			    (unsigned long long)(o->journal.backoff / USEC_PER_SEC));
	journal_close(o);
	journal_retry_later(o, now);
}

/* Sends what is left of the line in buf: 1 all of it, 0 part or nothing
 * (the socket is full), or a negative errno. Never waits. */
static int journal_send(struct output *o)
{
	while (o->journal.sent < o->journal.len) {
		ssize_t n = send(o->journal.fd, o->journal.buf + o->journal.sent,
				 o->journal.len - o->journal.sent, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0)
			return -errno;
		o->journal.sent += (size_t)n;
	}
	o->journal.len = o->journal.sent = 0;
	o->journal.backoff = o->limits.journal_retry; /* a line went through */
	o->journal.broken = false;
	return 1;
}

/* The socket has room again for the rest of a line. */
static void journal_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct output *o = arg;
	int r = journal_send(o);

	if (r < 0)
		journal_fail(o, r, clock_usec(CLOCK_MONOTONIC));
	else if (r > 0)
		event_del(o->journal.write_event);
}

static int journal_connect(struct output *o, usec_t now)
{
	int fd, r;

	if (now < o->journal.retry_at)
		return -EAGAIN;
	fd = journal_open(o->name, journal_userdata);
	if (fd < 0) {
		if (!o->journal.broken)
			log_debug("%s: no journal stream (%s), output to the daemon's log", o->name,
				  strerror(-fd));
		journal_retry_later(o, now);
		return fd;
	}
	o->journal.fd = fd;
	/* sd_journal_stream_fd() asks for 8 MiB; a journal that stops reading
	 * must not hold that much per service. FORCE needs CAP_NET_ADMIN. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &o->limits.journal_sndbuf, sizeof(int)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &o->limits.journal_sndbuf, sizeof(int));
	o->journal.write_event = event_new(o->base, fd, EV_WRITE | EV_PERSIST, journal_write_cb, o);
	r = o->journal.write_event ? fd_set_nonblock(fd, true) : -ENOMEM;
	if (r < 0) {
		journal_fail(o, r, now);
		return r;
	}
	log_debug("%s: journal stream open", o->name);
	return 0;
}

/* One escaped line to the service's journal stream: 1 sent (or its rest
 * queued), 0 dropped (the socket full), negative: no stream, log it. */
static int journal_line(struct output *o, pid_t pid, const char *text, size_t len, usec_t now)
{
	int r, k = 0;

	if (o->journal.fd < 0 && (r = journal_connect(o, now)) < 0)
		return r;
	if (o->journal.len > 0) {
		r = journal_send(o);
		if (r < 0) {
			journal_fail(o, r, now);
			return r;
		}
		if (r == 0)
			goto dropped;
	}
	if (o->show_pid)
		k = snprintf(o->journal.buf, 32, "[%d] ", (int)pid);
	memcpy(o->journal.buf + k, text, len);
	o->journal.buf[k + len] = '\n';
	o->journal.len = (size_t)k + len + 1;
	o->journal.sent = 0;
	r = journal_send(o);
	if (r < 0) {
		journal_fail(o, r, now);
		return r;
	}
	if (r > 0)
		return 1;
	if (o->journal.sent > 0) {
		/* Part of it went: the rest must, before any other line. */
		event_add(o->journal.write_event, NULL);
		return 1;
	}
	o->journal.len = 0;
dropped:
	if (o->journal.dropped++ == 0)
		drop_timer_arm(o, now);
	return 0;
}

/* One line of p's container (without its newline): logged and kept, or
 * counted as dropped. cut: it went on beyond line_max. */
static void emit(struct output_pipe *p, const char *line, size_t n, bool cut)
{
	struct output *o = p->o;
	const struct output_limits *l = &o->limits;
	usec_t now = clock_usec(CLOCK_MONOTONIC);
	size_t len;

	if (!cut && n > 0 && line[n - 1] == '\r')
		n--;
	if (now - o->window_start >= l->rate_interval) {
		dropped_flush(o);
		window_reset(o, now);
	}
	if (o->window_lines >= l->rate_lines || o->window_bytes >= l->rate_bytes) {
		if (o->dropped++ == 0)
			drop_timer_arm(o, now);
		return;
	}
	len = output_escape(line, n, o->text, l->line_max, &cut);
	if (cut) {
		memcpy(o->text + len, TRUNCATED_MARK, sizeof(TRUNCATED_MARK));
		len += sizeof(TRUNCATED_MARK) - 1;
	}
	o->window_lines++;
	o->window_bytes += len;
	/* To the journal (or counted as dropped there), else to the log. */
	if (!journal_open || journal_line(o, p->pid, o->text, len, now) < 0) {
		if (o->show_pid)
			log_info("%s[%d]: %s", o->name, (int)p->pid, o->text);
		else
			log_info("%s: %s", o->name, o->text);
	}
	ring_push(o, p->pid, o->text, len);
}

/* --- pipes --------------------------------------------------------------- */

/* Splits data into lines; an incomplete one waits in p->line. */
static void pipe_feed(struct output_pipe *p, const char *data, size_t n)
{
	size_t max = p->o->limits.line_max;

	while (n > 0) {
		const char *nl = memchr(data, '\n', n);
		size_t seg = nl ? (size_t)(nl - data) : n;

		if (p->skipping) {
			/* the rest of a cut line */
		} else if (p->len + seg > max) {
			memcpy(p->line + p->len, data, max - p->len);
			emit(p, p->line, max, true);
			p->len = 0;
			p->skipping = true;
		} else if (nl && p->len == 0) {
			emit(p, data, seg, false); /* whole in this read: no copy */
		} else {
			memcpy(p->line + p->len, data, seg);
			p->len += seg;
			if (nl) {
				emit(p, p->line, p->len, false);
				p->len = 0;
			}
		}
		if (!nl)
			break;
		p->skipping = false;
		n -= seg + 1;
		data = nl + 1;
	}
}

/* EOF (or an error): the last line, even without its newline, then the fd. */
static void pipe_end(struct output_pipe *p)
{
	if (!p->skipping && p->len > 0)
		emit(p, p->line, p->len, false);
	p->len = 0;
	p->skipping = false;
	if (p->event)
		event_del(p->event);
	p->fd = safe_close(p->fd);
}

/* One read of at most read_max bytes: > 0 read, 0 ended, -EAGAIN nothing now. */
static ssize_t pipe_read(struct output_pipe *p)
{
	ssize_t n = read(p->fd, p->o->read_buf, p->o->limits.read_max);

	if (n > 0) {
		pipe_feed(p, p->o->read_buf, (size_t)n);
		return n;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return -EAGAIN;
	if (n < 0)
		log_debug("%s: pid %d: read: %m", p->o->name, (int)p->pid);
	pipe_end(p);
	return 0;
}

/* One read per wake-up: other events get their turn between two. */
static void pipe_read_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)pipe_read(arg);
}

static void pipe_free(struct output_pipe *p)
{
	TAILQ_REMOVE(&p->o->pipes, p, link);
	if (p->event)
		event_free(p->event);
	safe_close(p->fd);
	safe_close(p->write_fd);
	free(p->line);
	free(p);
}

static void gc_cb(evutil_socket_t fd, short what, void *arg)
{
	struct output *o = arg;
	struct output_pipe *p, *next;

	for (p = TAILQ_FIRST(&o->pipes); p; p = next) {
		next = TAILQ_NEXT(p, link);
		if (p->closed)
			pipe_free(p);
	}
}

/* The buffers for the lines, made with the first pipe: a service that has
 * never run costs none of them (27 kB each; 27 MB of a daemon with 1,000
 * services). Kept from then on: the ring is what nsinetctl logs shows. */
static int output_buffers(struct output *o)
{
	if (o->ring)
		return 0;
	o->read_buf = malloc(o->limits.read_max);
	o->text = malloc(o->limits.line_max + sizeof(TRUNCATED_MARK));
	/* "[PID] ", the line and its mark, a newline. */
	o->journal.buf = malloc(32 + o->limits.line_max + sizeof(TRUNCATED_MARK));
	o->ring = calloc(o->limits.ring_lines ? o->limits.ring_lines : 1, sizeof(*o->ring));
	if (o->read_buf && o->text && o->journal.buf && o->ring)
		return 0;
	free(o->read_buf);
	free(o->text);
	free(o->journal.buf);
	free(o->ring);
	o->read_buf = o->text = o->journal.buf = NULL;
	o->ring = NULL;
	return -ENOMEM;
}

/* A pipe object reading fd (taken, even on failure), writing write_fd. */
static int pipe_new(struct output *o, int fd, int write_fd, struct output_pipe **ret)
{
	struct output_pipe *p = output_buffers(o) < 0 ? NULL : calloc(1, sizeof(*p));
	int r;

	if (!p) {
		safe_close(fd);
		safe_close(write_fd);
		return -ENOMEM;
	}
	p->o = o;
	p->fd = fd;
	p->write_fd = write_fd;
	p->pid = -1;
	TAILQ_INSERT_TAIL(&o->pipes, p, link);
	p->line = malloc(o->limits.line_max);
	if (!p->line) {
		r = -ENOMEM;
		goto fail;
	}
	r = fd_set_nonblock(p->fd, true);
	if (r < 0)
		goto fail;
	p->event = event_new(o->base, p->fd, EV_READ | EV_PERSIST, pipe_read_cb, p);
	if (!p->event || event_add(p->event, NULL) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	*ret = p;
	return 0;

fail:
	pipe_free(p);
	return r;
}

int output_pipe_open(struct output *o, struct output_pipe **ret)
{
	int fds[2];

	/* The container's end stays blocking: what programs expect of stdout. */
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	return pipe_new(o, fds[0], fds[1], ret);
}

int output_pipe_adopt(struct output *o, int fd, pid_t pid, struct output_pipe **ret)
{
	int r = pipe_new(o, fd, -1, ret);

	if (r >= 0)
		(*ret)->pid = pid;
	return r;
}

int output_pipe_fd(const struct output_pipe *p)
{
	return p->write_fd;
}

int output_pipe_read_fd(const struct output_pipe *p)
{
	return p ? p->fd : -1;
}

void output_pipe_spawned(struct output_pipe *p, pid_t pid)
{
	if (!p)
		return;
	p->write_fd = safe_close(p->write_fd);
	p->pid = pid;
}

struct output_pipe *output_pipe_close(struct output_pipe *p)
{
	size_t total = 0;

	if (!p)
		return NULL;
	p->write_fd = safe_close(p->write_fd);
	/* What the container wrote last is still in the pipe. Bounded: a
	 * writer that escaped the container could keep it full forever. */
	while (p->fd >= 0 && total < p->o->limits.drain_max) {
		ssize_t n = pipe_read(p);

		if (n <= 0)
			break;
		total += (size_t)n;
	}
	if (p->fd >= 0)
		pipe_end(p);
	p->closed = true;
	event_active(p->o->gc, EV_TIMEOUT, 0);
	return NULL;
}

/* --- the service's output ------------------------------------------------ */

struct output *output_new(struct event_base *base, const char *name, bool show_pid,
			  const struct output_limits *limits)
{
	struct output *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->base = base;
	o->show_pid = show_pid;
	o->journal.fd = -1;
	o->limits = limits ? *limits : output_limits_default;
	TAILQ_INIT(&o->pipes);
	o->name = strdup(name);
	o->journal.backoff = o->limits.journal_retry;
	o->gc = event_new(base, -1, 0, gc_cb, o);
	o->drop_timer = evtimer_new(base, drop_timer_cb, o);
	if (!o->name || !o->gc || !o->drop_timer || o->limits.read_max == 0 ||
	    o->limits.line_max == 0)
		return output_free(o);
	window_reset(o, clock_usec(CLOCK_MONOTONIC));
	return o;
}

struct output *output_free(struct output *o)
{
	struct output_pipe *p;

	if (!o)
		return NULL;
	while ((p = TAILQ_FIRST(&o->pipes)))
		pipe_free(p);
	if (o->drop_timer)
		dropped_flush(o);
	journal_close(o);
	while (o->ring_n > 0)
		ring_drop_oldest(o);
	if (o->gc)
		event_free(o->gc);
	if (o->drop_timer)
		event_free(o->drop_timer);
	free(o->ring);
	free(o->text);
	free(o->journal.buf);
	free(o->read_buf);
	free(o->name);
	free(o);
	return NULL;
}
