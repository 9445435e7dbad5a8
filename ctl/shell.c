/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nsinetctl shell NAME [COMMAND...]: OpenShell gives the fds of a command
 * the daemon started inside the container (a pseudo-terminal's master from
 * the container's own devpts when we run on a terminal, else three pipes);
 * we copy between them and our own stdio, then WaitShell gives its wait
 * status, which becomes our exit status as a shell's would.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "ctl/nsinetctl.h"

#define EXIT_USAGE 2

static struct termios saved;
static bool raw;

static void restore_terminal(void)
{
	if (raw)
		(void)tcsetattr(STDIN_FILENO, TCSADRAIN, &saved);
	raw = false;
}

static void make_raw(void)
{
	struct termios t;

	if (tcgetattr(STDIN_FILENO, &saved) < 0)
		return;
	t = saved;
	cfmakeraw(&t);
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0) {
		raw = true;
		atexit(restore_terminal);
	}
}

static void copy_winsize(int master)
{
	struct winsize ws;

	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
		(void)ioctl(master, TIOCSWINSZ, &ws);
}

/* Copies what is there from in to out: 1 copied, 0 EOF, -1 error. */
static int pump(int in, int out)
{
	char buf[16384];
	ssize_t n = read(in, buf, sizeof(buf));

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 1 : (errno == EIO ? 0 : -1);
	if (n == 0)
		return 0;
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(out, buf + off, (size_t)(n - off));

		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				struct pollfd p = {out, POLLOUT, 0};
				(void)poll(&p, 1, -1);
				continue;
			}
			return -1;
		}
		off += w;
	}
	return 1;
}

/* Terminal: our stdin to the master, the master to our stdout. */
static void relay_tty(int master)
{
	sigset_t mask;
	int sfd;
	bool in_open = true;

	sigemptyset(&mask);
	sigaddset(&mask, SIGWINCH);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	copy_winsize(master);
	make_raw();
	for (;;) {
		struct pollfd p[3] = {{master, POLLIN, 0},
				      {in_open ? STDIN_FILENO : -1, POLLIN, 0},
				      {sfd, POLLIN, 0}};

		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents && pump(master, STDOUT_FILENO) <= 0)
			break;
		if (p[1].revents && pump(STDIN_FILENO, master) <= 0)
			in_open = false;
		if (p[2].revents) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == sizeof(si))
				;
			copy_winsize(master);
		}
	}
	restore_terminal();
	if (sfd >= 0)
		close(sfd);
}

/* Pipes: our stdin to fds[0] (closed at our EOF), fds[1] and fds[2] to our
 * stdout and stderr, until both end. */
static void relay_pipes(int fds[3])
{
	bool in_open = true, out_open = true, err_open = true;

	while (out_open || err_open) {
		struct pollfd p[3] = {{in_open ? STDIN_FILENO : -1, POLLIN, 0},
				      {out_open ? fds[1] : -1, POLLIN, 0},
				      {err_open ? fds[2] : -1, POLLIN, 0}};

		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents && pump(STDIN_FILENO, fds[0]) <= 0) {
			in_open = false;
			close(fds[0]);
			fds[0] = -1;
		}
		if (p[1].revents && pump(fds[1], STDOUT_FILENO) <= 0)
			out_open = false;
		if (p[2].revents && pump(fds[2], STDERR_FILENO) <= 0)
			err_open = false;
	}
}

int ctl_cmd_shell(sd_bus *bus, int argc, char **argv)
{
	sd_bus_message *m = NULL, *reply = NULL;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	const char *term = getenv("TERM");
	bool tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
	int fds[3] = {-1, -1, -1}, status = 0, r;
	uint32_t id;

	if (argc < 2) {
		fprintf(stderr, "nsinetctl: shell takes a service name and a command (default: a "
				"shell)\n");
		return EXIT_USAGE;
	}
	r = sd_bus_message_new_method_call(bus, &m, NULL, "/org/nsinetd1", "org.nsinetd1.Manager",
					   "OpenShell");
	if (r >= 0)
		r = sd_bus_message_append(m, "s", argv[1]);
	if (r >= 0)
		r = sd_bus_message_append_strv(m, argv + 2);
	if (r >= 0)
		r = sd_bus_message_append(m, "sb", term && tty ? term : "", (int)tty);
	if (r >= 0)
		r = sd_bus_call(bus, m, ctl.timeout, &e, &reply);
	sd_bus_message_unref(m);
	if (r < 0) {
		r = ctl_error(&e, r);
		sd_bus_error_free(&e);
		return r;
	}
	r = sd_bus_message_read(reply, "uhhh", &id, &fds[0], &fds[1], &fds[2]);
	if (r < 0) {
		fprintf(stderr, "nsinetctl: cannot read the reply to OpenShell: %s\n",
			strerror(-r));
		sd_bus_message_unref(reply);
		return EXIT_FAILURE;
	}
	/* The reply owns its fds: our own copies. */
	for (int i = 0; i < 3; i++)
		fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
	sd_bus_message_unref(reply);
	reply = NULL;
	if (tty)
		relay_tty(fds[0]);
	else
		relay_pipes(fds);
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	/* What it ended with. */
	r = sd_bus_call_method(bus, NULL, "/org/nsinetd1", "org.nsinetd1.Manager", "WaitShell", &e,
			       &reply, "u", id);
	if (r < 0) {
		/* It never ran: as a shell says, 127. */
		bool exec = sd_bus_error_has_name(&e, "org.nsinetd1.Error.ExecFailed");

		r = ctl_error(&e, r);
		sd_bus_error_free(&e);
		return exec ? 127 : r;
	}
	if (sd_bus_message_read(reply, "i", &status) < 0)
		status = 1 << 8;
	sd_bus_message_unref(reply);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
