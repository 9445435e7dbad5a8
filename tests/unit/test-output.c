/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* supervisor/output.c through its interface: real pipes, a real event loop,
 * the test writing as the container would. */
#include <errno.h>
#include <event2/event.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/fd-util.h"
#include "common/log.h"
#include "supervisor/output.h"
#include "tests/unit/tap.h"

#define KEPT_MAX 64

struct kept {
	char *text[KEPT_MAX];
	pid_t pid[KEPT_MAX];
	int n;
	int stop_at; /* return -ECANCELED at this line, -1 never */
};

static int keep_cb(const struct output_line *line, void *userdata)
{
	struct kept *k = userdata;

	if (k->n == k->stop_at)
		return -ECANCELED;
	if (k->n < KEPT_MAX) {
		k->text[k->n] = strdup(line->text);
		k->pid[k->n] = line->pid;
	}
	k->n++;
	return 0;
}

static void kept_free(struct kept *k)
{
	for (int i = 0; i < k->n && i < KEPT_MAX; i++)
		free(k->text[i]);
	memset(k, 0, sizeof(*k));
}

static struct kept ring(const struct output *o)
{
	struct kept k = {.stop_at = -1};

	(void)output_ring_foreach(o, keep_cb, &k);
	return k;
}

/* A pipe as a container gets it: the test holds the write end, the
 * daemon's copy is closed as after a spawn. */
static struct output_pipe *open_pipe(struct output *o, pid_t pid, int *ret_fd)
{
	struct output_pipe *p = NULL;
	int r = output_pipe_open(o, &p);

	if (r < 0)
		return NULL;
	*ret_fd = dup(output_pipe_fd(p));
	output_pipe_spawned(p, pid);
	return p;
}

static void put(int fd, const char *s, size_t n)
{
	if (write(fd, s, n) != (ssize_t)n)
		printf("# short write\n");
}

static void run_until_idle(struct event_base *base)
{
	for (int i = 0; i < 1000; i++)
		if (event_base_loop(base, EVLOOP_NONBLOCK | EVLOOP_ONCE) != 0)
			break;
}

/* One container that writes data and ends: what its service kept. */
static struct kept run_container(struct event_base *base, const struct output_limits *l,
				 const char *data, size_t n)
{
	struct output *o = output_new(base, "test", false, l);
	struct output_pipe *p;
	struct kept k = {0};
	int fd = -1;

	p = o ? open_pipe(o, 3, &fd) : NULL;
	if (!p) {
		printf("# cannot make an output and a pipe\n");
		output_free(o);
		return k;
	}
	put(fd, data, n);
	close(fd);
	run_until_idle(base);
	output_pipe_close(p);
	k = ring(o);
	output_free(o);
	return k;
}

static void test_lines(struct event_base *base)
{
	struct output *o = output_new(base, "web", false, NULL);
	struct output_pipe *p;
	struct kept k;
	int fd = -1;

	ok(o, "output_new");
	p = open_pipe(o, 42, &fd);
	ok(p && fd >= 0, "a pipe");
	put(fd, "hello\nwor", 9);
	run_until_idle(base);
	k = ring(o);
	is_int(k.n, 1, "one complete line so far");
	is_str(k.n > 0 ? k.text[0] : NULL, "hello", "first line");
	is_int(k.n > 0 ? k.pid[0] : 0, 42, "with the container's pid");
	kept_free(&k);

	put(fd, "ld\r\n\n", 5);
	run_until_idle(base);
	put(fd, "tail", 4);
	run_until_idle(base);
	k = ring(o);
	is_int(k.n, 3, "a line across two reads, and an empty line");
	is_str(k.n > 1 ? k.text[1] : NULL, "world", "joined, CR of CRLF dropped");
	is_str(k.n > 2 ? k.text[2] : NULL, "", "empty line");
	kept_free(&k);

	/* The container is gone: its incomplete last line still counts. */
	p = output_pipe_close(p);
	k = ring(o);
	is_int(k.n, 4, "the last line without newline is logged at close");
	is_str(k.n > 3 ? k.text[3] : NULL, "tail", "tail");
	kept_free(&k);

	k = (struct kept){.stop_at = 2};
	is_int(output_ring_foreach(o, keep_cb, &k), -ECANCELED,
	       "output_ring_foreach() stops at a negative return");
	is_int(k.n, 2, "after two lines");
	kept_free(&k);

	close(fd);
	run_until_idle(base);
	output_free(o);
}

static void test_eof(struct event_base *base)
{
	struct output *o = output_new(base, "web", true, NULL);
	struct output_pipe *p;
	struct kept k;
	int fd = -1;

	p = open_pipe(o, 7, &fd);
	put(fd, "last words", 10);
	close(fd);
	run_until_idle(base);
	k = ring(o);
	is_int(k.n, 1, "EOF logs the incomplete line");
	is_str(k.n > 0 ? k.text[0] : NULL, "last words", "its text");
	kept_free(&k);
	output_pipe_close(p);
	k = ring(o);
	is_int(k.n, 1, "not twice at close");
	kept_free(&k);
	output_free(o);
}

static void test_escapes(struct event_base *base)
{
	static const struct {
		const char *in, *out, *what;
	} cases[] = {
	    {"a\x1b[31mb\x1b[0m", "a\\x1b[31mb\\x1b[0m", "CSI sequence"},
	    {"\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07", "OSC title and BEL"},
	    {"x\by\x7f", "x\\x08y\\x7f", "backspace and DEL"},
	    {"tab\there", "tab\there", "tab kept"},
	    {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	     "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "printable UTF-8 kept"},
	    {"c1 \xc2\x9b"
	     "2J",
	     "c1 \\xc2\\x9b2J", "C1 CSI (U+009B) escaped"},
	    {"bad \xff\xc3", "bad \\xff\\xc3", "invalid and truncated UTF-8"},
	    {"over \xc0\xaf", "over \\xc0\\xaf", "overlong form"},
	    {"rtl \xe2\x80\xae!", "rtl \\xe2\\x80\\xae!", "bidirectional override"},
	    {"back\\slash", "back\\slash", "backslash as is"},
	};
	char data[1024];
	size_t n = 0;
	struct kept k;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		n += (size_t)snprintf(data + n, sizeof(data) - n, "%s\n", cases[i].in);
	memcpy(data + n, "nul\0byte\n", 9);
	k = run_container(base, NULL, data, n + 9);
	is_int(k.n, (int)(sizeof(cases) / sizeof(cases[0])) + 1, "one line each");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_str((int)i < k.n ? k.text[i] : NULL, cases[i].out, "%s", cases[i].what);
	is_str(k.n > 10 ? k.text[10] : NULL, "nul\\x00byte", "NUL byte");
	kept_free(&k);
}

static void test_long_lines(struct event_base *base)
{
	struct output_limits l = output_limits_default;
	struct output *o;
	struct output_pipe *p;
	struct kept k;
	char big[100];
	int fd = -1;

	l.line_max = 16;
	o = output_new(base, "long", false, &l);
	p = open_pipe(o, 3, &fd);
	memset(big, 'a', sizeof(big));
	put(fd, big, 40);
	put(fd, "\nshort\n", 7);
	put(fd, big, 16);
	put(fd, "\n", 1);
	put(fd, "\x1b\x1b\x1b\x1b\x1b\x1b\n", 7);
	/* A long line in pieces: cut once, the rest skipped up to its end. */
	put(fd, big, 10);
	run_until_idle(base);
	put(fd, big, 10);
	run_until_idle(base);
	put(fd, big, 50);
	put(fd, "\nnext\n", 6);
	close(fd);
	run_until_idle(base);
	k = ring(o);
	is_int(k.n, 6, "six lines");
	is_str(k.n > 0 ? k.text[0] : NULL, "aaaaaaaaaaaaaaaa [truncated]",
	       "cut at line_max, marked");
	is_str(k.n > 1 ? k.text[1] : NULL, "short", "the next line whole");
	is_str(k.n > 2 ? k.text[2] : NULL, "aaaaaaaaaaaaaaaa", "exactly line_max is not cut");
	is_str(k.n > 3 ? k.text[3] : NULL, "\\x1b\\x1b\\x1b\\x1b [truncated]",
	       "cut when its escaped form is too long");
	is_str(k.n > 4 ? k.text[4] : NULL, "aaaaaaaaaaaaaaaa [truncated]", "cut across reads");
	is_str(k.n > 5 ? k.text[5] : NULL, "next", "the rest skipped up to its newline");
	kept_free(&k);
	output_pipe_close(p);
	output_free(o);
}

static void test_ring_bounds(struct event_base *base)
{
	struct output_limits l = output_limits_default;
	char data[256];
	size_t n = 0;
	struct kept k;

	l.ring_lines = 5;
	for (int i = 1; i <= 12; i++)
		n += (size_t)snprintf(data + n, sizeof(data) - n, "line %d\n", i);
	k = run_container(base, &l, data, n);
	is_int(k.n, 5, "ring_lines lines kept");
	is_str(k.n > 0 ? k.text[0] : NULL, "line 8", "the oldest kept");
	is_str(k.n > 4 ? k.text[4] : NULL, "line 12", "the newest last");
	kept_free(&k);

	l = output_limits_default;
	l.ring_bytes = 20; /* three lines of 6 */
	k = run_container(base, &l, "aaaaaa\nbbbbbb\ncccccc\ndddddd\n", 28);
	is_int(k.n, 3, "ring_bytes bounds the text kept");
	is_str(k.n > 0 ? k.text[0] : NULL, "bbbbbb", "the oldest that fits");
	kept_free(&k);
}

static void test_rate_limit(struct event_base *base)
{
	struct output_limits l = output_limits_default;
	struct output *o;
	struct output_pipe *p;
	struct timeval tv = {.tv_sec = 2};
	struct kept k;
	int fd = -1;

	l.rate_lines = 10;
	l.rate_interval = USEC_PER_SEC;
	o = output_new(base, "flood", false, &l);
	p = open_pipe(o, 9, &fd);
	for (int i = 0; i < 50; i++)
		put(fd, "spam\n", 5);
	run_until_idle(base);
	k = ring(o);
	is_int(k.n, 10, "rate_lines lines logged in the interval");
	kept_free(&k);
	/* The interval ends: the drops are told, once. */
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	k = ring(o);
	is_int(k.n, 11, "one notice");
	is_str(k.n > 10 ? k.text[10] : NULL,
	       "40 lines of output dropped (more than 10 lines or 1024 KiB in 1s)",
	       "the notice says how many");
	is_int(k.n > 10 ? k.pid[10] : -1, 0, "the notice is the daemon's");
	kept_free(&k);
	put(fd, "again\n", 6);
	run_until_idle(base);
	k = ring(o);
	is_str(k.n > 11 ? k.text[11] : NULL, "again", "a new interval logs again");
	kept_free(&k);
	close(fd);
	output_pipe_close(p);
	output_free(o);
}

/* Two busy pipes: each wake-up takes at most read_max from each, so
 * neither waits for the other to be drained. */
static void test_read_max(struct event_base *base)
{
	struct output_limits l = output_limits_default;
	struct output *o;
	struct output_pipe *p1, *p2;
	struct kept k;
	int fd1 = -1, fd2 = -1, n1 = 0, n2 = 0;

	l.read_max = 64;
	l.ring_lines = KEPT_MAX;
	o = output_new(base, "busy", true, &l);
	p1 = open_pipe(o, 101, &fd1);
	p2 = open_pipe(o, 102, &fd2);
	for (int i = 0; i < 100; i++) {
		put(fd1, "1234567\n", 8);
		put(fd2, "abcdefg\n", 8);
	}
	(void)event_base_loop(base, EVLOOP_NONBLOCK | EVLOOP_ONCE);
	k = ring(o);
	for (int i = 0; i < k.n && i < KEPT_MAX; i++) {
		n1 += k.pid[i] == 101;
		n2 += k.pid[i] == 102;
	}
	is_int(n1, 8, "one wake-up took read_max bytes of the first pipe");
	is_int(n2, 8, "and as much of the second");
	kept_free(&k);
	close(fd1);
	close(fd2);
	output_pipe_close(p1);
	output_pipe_close(p2);
	output_free(o);
}

/* Many containers come and go: no fd is left behind. */
static void test_no_leak(struct event_base *base)
{
	struct output *o = output_new(base, "many", false, NULL);
	int before = fd_count_open();

	for (int i = 0; i < 200; i++) {
		int fd = -1;
		struct output_pipe *p = open_pipe(o, i + 1, &fd);

		if (!p)
			break;
		put(fd, "x\n", 2);
		if (i % 2)
			close(fd); /* the other half: still open at close */
		output_pipe_close(p);
		if (!(i % 2))
			close(fd);
		if (i % 10 == 0)
			run_until_idle(base);
	}
	run_until_idle(base);
	is_int(fd_count_open(), before, "no fd left after 200 pipes");
	output_free(o);
}

/* A service that never ran holds no buffers for its lines: 1,000 of them
 * cost the daemon 27 MB when each had its own. Measured by glibc's own
 * count of the bytes in use; ASan's allocator keeps no such count. */
static void test_idle_cost(struct event_base *base)
{
#if defined(__SANITIZE_ADDRESS__)
	tap_n++;
	printf("ok %d # SKIP ASan's allocator has no mallinfo2()\n", tap_n);
	(void)base;
#else
	struct output *o[100];
	size_t before = mallinfo2().uordblks, after, each;

	for (int i = 0; i < 100; i++)
		o[i] = output_new(base, "idle", false, NULL);
	after = mallinfo2().uordblks;
	each = (after - before) / 100;
	ok(each < 1024, "an output without a pipe holds %zu bytes (under 1 kB)", each);
	{
		int fd = -1;
		struct output_pipe *p = open_pipe(o[0], 1, &fd);

		ok(p != NULL, "its first pipe makes the buffers");
		if (p) {
			struct kept k;

			put(fd, "hello\n", 6);
			close(fd);
			run_until_idle(base);
			k = ring(o[0]);
			ok(k.n == 1 && strcmp(k.text[0], "hello") == 0,
			   "and its line reaches the ring");
			kept_free(&k);
			output_pipe_close(p);
		}
	}
	for (int i = 0; i < 100; i++)
		output_free(o[i]);
#endif
}

/* --- the journal stream, against a socketpair ----------------------------- */

struct fake_journal {
	int peer;   /* the journal's end, -1 none */
	int opened; /* calls of the opener */
	int fail;   /* the opener's error, 0 none */
	int sndbuf; /* 0: as the kernel makes it */
	char ident[32];
};

static int fake_open(const char *identifier, void *userdata)
{
	struct fake_journal *j = userdata;
	int sv[2];

	j->opened++;
	snprintf(j->ident, sizeof(j->ident), "%s", identifier);
	if (j->fail)
		return j->fail;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if (j->peer >= 0)
		close(j->peer);
	j->peer = sv[1];
	return sv[0];
}

/* What the journal has been sent so far (NUL-terminated, at most max-1). */
static size_t journal_read(struct fake_journal *j, char *buf, size_t max)
{
	size_t len = 0;
	ssize_t n;

	while (len + 1 < max && (n = recv(j->peer, buf + len, max - 1 - len, MSG_DONTWAIT)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	return len;
}

/* The daemon's log (stderr) into a file while fn runs at level info. */
static int log_capture_start(void)
{
	FILE *f = tmpfile();
	int saved = dup(STDERR_FILENO);

	fflush(stderr);
	if (!f || saved < 0 || dup2(fileno(f), STDERR_FILENO) < 0)
		bail_out("cannot capture stderr");
	fclose(f); /* fd 2 holds it */
	log_set_level(LOG_INFO);
	return saved;
}

static char *log_capture_end(int saved)
{
	static char text[65536];
	ssize_t n;

	fflush(stderr);
	n = pread(STDERR_FILENO, text, sizeof(text) - 1, 0);
	text[n > 0 ? n : 0] = '\0';
	dup2(saved, STDERR_FILENO);
	close(saved);
	log_set_level(LOG_ERR);
	return text;
}

/* Lines go to the service's stream, not the log, and stay in the ring. */
static void test_journal_lines(struct event_base *base)
{
	struct fake_journal j = {.peer = -1};
	struct output *o, *o2;
	struct output_pipe *p, *p2;
	char buf[256], *log;
	struct kept k;
	int fd = -1, fd2 = -1, saved;

	output_set_journal(fake_open, &j);
	saved = log_capture_start();
	o = output_new(base, "web", false, NULL);
	o2 = output_new(base, "echo", true, NULL);
	is_int(j.opened, 0, "no stream before the first line");
	p = open_pipe(o, 5, &fd);
	const char *first = "hello\n<0>not an emergency\n\033]0;x\a\n";
	put(fd, first, strlen(first));
	run_until_idle(base);
	is_int(j.opened, 1, "the first line opens the stream");
	is_str(j.ident, "web", "its identifier is the service's name");
	journal_read(&j, buf, sizeof(buf));
	is_str(buf, "hello\n<0>not an emergency\n\\x1b]0;x\\x07\n",
	       "the lines, escaped as in the ring");
	put(fd, "again\n", 6);
	run_until_idle(base);
	is_int(j.opened, 1, "one stream per service");
	k = ring(o);
	is_int(k.n, 4, "the ring has them all");
	kept_free(&k);
	p2 = open_pipe(o2, 4242, &fd2);
	put(fd2, "hi\n", 3);
	run_until_idle(base);
	is_str(j.ident, "echo", "another service, a stream of its own");
	journal_read(&j, buf, sizeof(buf));
	is_str(buf, "[4242] hi\n", "Accept=yes: the sandbox's pid in the line");
	close(fd);
	close(fd2);
	output_pipe_close(p);
	output_pipe_close(p2);
	output_free(o);
	output_free(o2);
	log = log_capture_end(saved);
	ok(!strstr(log, "web: hello") && !strstr(log, "hi"), "nothing of it in the daemon's log");
	close(j.peer);
	output_set_journal(NULL, NULL);
}

/* A journal that does not read: the loop never waits, lines are dropped
 * whole and counted, the ring keeps them. */
static void test_journal_full(struct event_base *base)
{
	struct fake_journal j = {.peer = -1};
	struct output_limits l = output_limits_default;
	struct output *o;
	struct output_pipe *p;
	static char got[4 << 20];
	struct timeval tv = {.tv_sec = 1, .tv_usec = 200000};
	char line[128], *log, *s;
	int fd = -1, saved, sent = 0, whole = 1, last = -1;
	unsigned long dropped = 0;
	struct kept k;

	l.rate_lines = 1000000;
	l.rate_bytes = 1 << 30;
	l.journal_sndbuf = 32768;
	l.ring_lines = KEPT_MAX;
	output_set_journal(fake_open, &j);
	saved = log_capture_start();
	o = output_new(base, "flood", false, &l);
	p = open_pipe(o, 7, &fd);
	for (int i = 0; i < 20000; i++) {
		int n =
		    snprintf(line, sizeof(line), "line %06d of a container that never stops\n", i);

		put(fd, line, (size_t)n);
		sent++;
		if (i % 500 == 499)
			run_until_idle(base); /* the pipe's 64 KiB never fill */
	}
	run_until_idle(base);
	k = ring(o);
	is_int(k.n, KEPT_MAX, "the ring kept the last lines");
	is_str(k.n ? k.text[k.n - 1] : NULL, "line 019999 of a container that never stops",
	       "up to the last one");
	kept_free(&k);
	journal_read(&j, got, sizeof(got));
	for (char *t = got; (s = strchr(t, '\n')); t = s + 1) {
		int n = -1;

		if (sscanf(t, "line %d of a container that never stops\n", &n) != 1 || n <= last ||
		    s - t != 43)
			whole = 0;
		last = n;
	}
	ok(whole, "the journal got whole lines, in order");
	ok(last >= 0 && last < 19999, "not all of them (got up to %d)", last);
	/* The interval ends: the drops are told. */
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	log = log_capture_end(saved);
	s = strstr(log, "flood: ");
	s = s ? strstr(s, "lines of output not sent to the journal") : NULL;
	if (s) {
		while (s > log && s[-1] != ' ')
			s--;
		while (s > log && s[-1] == ' ')
			s--;
		while (s > log && s[-1] >= '0' && s[-1] <= '9')
			s--;
		dropped = strtoul(s, NULL, 10);
	}
	ok(dropped > 0, "the drops are counted and logged: %lu", dropped);
	close(fd);
	output_pipe_close(p);
	output_free(o);
	close(j.peer);
	output_set_journal(NULL, NULL);
}

/* No journal, or one that goes away: the lines go to the log, and the
 * stream is opened again after the backoff. */
static void test_journal_fallback(struct event_base *base)
{
	struct fake_journal j = {.peer = -1, .fail = -ENOENT};
	struct output_limits l = output_limits_default;
	struct output *o;
	struct output_pipe *p;
	struct timespec pause = {0, 60 * 1000 * 1000};
	char buf[256], *log;
	int fd = -1, saved;

	l.journal_retry = 50 * USEC_PER_MSEC;
	output_set_journal(fake_open, &j);
	saved = log_capture_start();
	o = output_new(base, "web", false, &l);
	p = open_pipe(o, 5, &fd);
	put(fd, "one\ntwo\n", 8);
	run_until_idle(base);
	is_int(j.opened, 1, "no journal: tried once, not at every line");
	nanosleep(&pause, NULL);
	j.fail = 0;
	put(fd, "three\n", 6);
	run_until_idle(base);
	is_int(j.opened, 2, "tried again after the backoff");
	journal_read(&j, buf, sizeof(buf));
	is_str(buf, "three\n", "then the journal has the lines");
	close(j.peer); /* the journal goes away */
	j.peer = -1;
	put(fd, "four\nfive\n", 10);
	run_until_idle(base);
	is_int(j.opened, 2, "not again at once");
	close(fd);
	output_pipe_close(p);
	output_free(o);
	log = log_capture_end(saved);
	ok(strstr(log, "web: one\n") && strstr(log, "web: two\n"),
	   "without it, the log has the lines");
	ok(!strstr(log, "web: three"), "with it, the log has not");
	ok(strstr(log, "web: journal stream: Broken pipe") && strstr(log, "web: five\n"),
	   "a broken stream is said, and the lines go to the log");
	output_set_journal(NULL, NULL);
}

int main(void)
{
	struct event_base *base = event_base_new();

	log_set_level(LOG_ERR); /* the lines themselves would go to stderr */
	if (!base)
		skip_all("no event base");
	test_lines(base);
	test_eof(base);
	test_escapes(base);
	test_long_lines(base);
	test_ring_bounds(base);
	test_rate_limit(base);
	test_read_max(base);
	test_no_leak(base);
	test_idle_cost(base);
	test_journal_lines(base);
	test_journal_full(base);
	test_journal_fallback(base);
	event_base_free(base);
	return tap_done();
}
