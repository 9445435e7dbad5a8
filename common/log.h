/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Logging primitives. Only supervisor/ and the executables log above debug;
 * libraries return errors. Lines go to stderr; when stderr is the journal
 * (JOURNAL_STREAM matches), each line carries a "<N>" priority prefix. */
#pragma once

#include <stdarg.h>
#include <syslog.h>

void log_init(const char *ident);
/* Whether stderr is the journal (as found by log_init()). */
int log_to_journal(void);
void log_set_level(int level);
int log_get_level(void);
/* "err", "warning", "notice", "info", "debug" (or 0-7). */
int log_level_from_string(const char *s);

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(int level, const char *fmt, va_list ap);
/* Logs with ": strerror(-err)" appended and returns err (negative errno). */
int log_errno(int level, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_error(...)   log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(fmt, ...)                                                                        \
	do {                                                                                       \
		if (log_get_level() >= LOG_DEBUG)                                                  \
			log_msg(LOG_DEBUG, "%s: " fmt, __func__, ##__VA_ARGS__);                   \
	} while (0)
