/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int max_level = LOG_INFO;
static const char *log_ident = "nsinetd";
static int to_journal;

static const char *const level_names[] = {
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
};

/* The journal stream protocol: stderr is a stream socket whose device and
 * inode are in $JOURNAL_STREAM; then a "<N>" prefix sets the priority. */
static int stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return st.st_dev == dev && st.st_ino == ino;
}

void log_init(const char *ident)
{
	if (ident)
		log_ident = ident;
	to_journal = stderr_is_journal();
}

int log_to_journal(void)
{
	return to_journal;
}

void log_set_level(int level)
{
	max_level = level;
}

int log_get_level(void)
{
	return max_level;
}

int log_level_from_string(const char *s)
{
	if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0')
		return s[0] - '0';
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	if (strcmp(s, "error") == 0)
		return LOG_ERR;
	if (strcmp(s, "warn") == 0)
		return LOG_WARNING;
	return -EINVAL;
}

void log_vmsg(int level, const char *fmt, va_list ap)
{
	/* Room for a line of container output (OUTPUT_LINE_MAX) and its prefix. */
	char buf[8192];
	int saved = errno;

	if (level > max_level)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (to_journal)
		fprintf(stderr, "<%d>%s\n", level, buf);
	else
		fprintf(stderr, "%s[%d]: %s%s\n", log_ident, (int)getpid(),
			level <= LOG_ERR       ? "error: "
			: level == LOG_WARNING ? "warning: "
					       : "",
			buf);
	errno = saved;
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

int log_errno(int level, int err, const char *fmt, ...)
{
	char buf[1800];
	va_list ap;

	if (level > max_level)
		return err;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_msg(level, "%s: %s", buf, strerror(err < 0 ? -err : err));
	return err;
}
