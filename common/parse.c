/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "parse.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"

int parse_boolean(const char *s, bool *ret)
{
	static const char *const yes[] = {"1", "yes", "y", "true", "t", "on"};
	static const char *const no[] = {"0", "no", "n", "false", "f", "off"};

	for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* Reads the leading decimal digits of s into *ret; -EINVAL if there are
 * none, -ERANGE on overflow. *end points after the digits. */
static int parse_digits(const char *s, uint64_t *ret, const char **end)
{
	uint64_t v = 0;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*ret = v;
	*end = p;
	return 0;
}

int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	const char *end;
	uint64_t v;
	int r;

	r = parse_digits(s, &v, &end);
	if (r < 0)
		return r;
	if (*end)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

static const struct time_unit {
	const char *suffix;
	usec_t usec;
} time_units[] = {
    {"us", 1},
    {"usec", 1},
    {"ms", USEC_PER_MSEC},
    {"msec", USEC_PER_MSEC},
    {"s", USEC_PER_SEC},
    {"sec", USEC_PER_SEC},
    {"second", USEC_PER_SEC},
    {"seconds", USEC_PER_SEC},
    {"m", 60 * USEC_PER_SEC},
    {"min", 60 * USEC_PER_SEC},
    {"minute", 60 * USEC_PER_SEC},
    {"minutes", 60 * USEC_PER_SEC},
    {"h", 3600 * USEC_PER_SEC},
    {"hr", 3600 * USEC_PER_SEC},
    {"hour", 3600 * USEC_PER_SEC},
    {"hours", 3600 * USEC_PER_SEC},
    {"d", 86400 * USEC_PER_SEC},
    {"day", 86400 * USEC_PER_SEC},
    {"days", 86400 * USEC_PER_SEC},
    {"w", 7 * 86400 * USEC_PER_SEC},
    {"week", 7 * 86400 * USEC_PER_SEC},
    {"weeks", 7 * 86400 * USEC_PER_SEC},
};

/* Multiplies a fraction given as digits (".5" -> "5") by unit, truncating
 * below one microsecond. */
static usec_t fraction_usec(const char *digits, size_t n, usec_t unit)
{
	usec_t result = 0, scale = unit;

	for (size_t i = 0; i < n && scale > 0; i++) {
		scale /= 10;
		result += (usec_t)(digits[i] - '0') * scale;
	}
	return result;
}

int parse_duration(const char *s, usec_t *ret)
{
	usec_t total = 0;
	const char *p = s;
	bool any = false;

	while (isspace((unsigned char)*p))
		p++;
	if (strncmp(p, "infinity", 8) == 0) {
		p += 8;
		while (isspace((unsigned char)*p))
			p++;
		if (*p)
			return -EINVAL;
		*ret = USEC_INFINITY;
		return 0;
	}

	for (;;) {
		const char *frac = NULL, *unit;
		size_t n_frac = 0, unit_len;
		uint64_t v;
		usec_t mult = USEC_PER_SEC, part;
		int r;

		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		r = parse_digits(p, &v, &p);
		if (r < 0)
			return r;
		if (*p == '.') {
			frac = ++p;
			while (isdigit((unsigned char)*p))
				p++;
			n_frac = (size_t)(p - frac);
			if (n_frac == 0)
				return -EINVAL;
		}
		while (isspace((unsigned char)*p))
			p++;
		unit = p;
		while (isalpha((unsigned char)*p))
			p++;
		unit_len = (size_t)(p - unit);
		if (unit_len > 0) {
			bool found = false;

			for (size_t i = 0; i < ELEMENTSOF(time_units); i++)
				if (strlen(time_units[i].suffix) == unit_len &&
				    strncmp(time_units[i].suffix, unit, unit_len) == 0) {
					mult = time_units[i].usec;
					found = true;
					break;
				}
			if (!found)
				return -EINVAL;
		}
		/* Whatever follows a component must separate it from the next. */
		if (*p && !isspace((unsigned char)*p) && !isdigit((unsigned char)*p))
			return -EINVAL;
		if (v > UINT64_MAX / mult)
			return -ERANGE;
		part = v * mult + fraction_usec(frac, n_frac, mult);
		if (part < v * mult || total > UINT64_MAX - part)
			return -ERANGE;
		total += part;
		any = true;
	}
	if (!any)
		return -EINVAL;
	if (total == USEC_INFINITY)
		return -ERANGE;
	*ret = total;
	return 0;
}

const char *format_duration(char *buf, size_t len, usec_t u)
{
	static const struct {
		const char *suffix;
		usec_t usec;
	} units[] = {
	    {"d", 86400 * USEC_PER_SEC}, {"h", 3600 * USEC_PER_SEC}, {"min", 60 * USEC_PER_SEC},
	    {"s", USEC_PER_SEC},         {"ms", USEC_PER_MSEC},      {"us", 1},
	};
	size_t pos = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (u == USEC_INFINITY) {
		snprintf(buf, len, "infinity");
		return buf;
	}
	if (u == 0) {
		snprintf(buf, len, "0");
		return buf;
	}
	for (size_t i = 0; i < ELEMENTSOF(units) && u > 0; i++) {
		usec_t n = u / units[i].usec;
		int k;

		if (n == 0)
			continue;
		u -= n * units[i].usec;
		k = snprintf(buf + pos, len - pos, "%s%llu%s", pos > 0 ? " " : "",
			     (unsigned long long)n, units[i].suffix);
		if (k < 0 || (size_t)k >= len - pos)
			break; /* truncated; buf stays NUL-terminated */
		pos += (size_t)k;
	}
	return buf;
}

int parse_size(const char *s, uint64_t *ret)
{
	static const struct {
		char suffix;
		unsigned shift;
	} units[] = {
	    {'K', 10}, {'M', 20}, {'G', 30}, {'T', 40}, {'P', 50}, {'E', 60},
	};
	const char *p, *frac = NULL;
	size_t n_frac = 0;
	unsigned shift = 0;
	uint64_t v, f = 0;
	int r;

	if (strcmp(s, "infinity") == 0) {
		*ret = UINT64_MAX;
		return 0;
	}
	r = parse_digits(s, &v, &p);
	if (r < 0)
		return r;
	if (*p == '.') {
		frac = ++p;
		while (isdigit((unsigned char)*p))
			p++;
		n_frac = (size_t)(p - frac);
		if (n_frac == 0)
			return -EINVAL;
	}
	if (*p) {
		bool found = false;

		for (size_t i = 0; i < ELEMENTSOF(units); i++)
			if (*p == units[i].suffix) {
				shift = units[i].shift;
				found = true;
				break;
			}
		if (found)
			p++;
		if (*p == 'B')
			p++;
		if (*p)
			return -EINVAL;
	}
	/* A fraction of bytes makes no sense. */
	if (frac && shift == 0)
		return -EINVAL;
	if (shift > 0 && v > (UINT64_MAX >> shift))
		return -ERANGE;
	if (frac) {
		/* At most 9 fraction digits count, enough below 1 byte of 1E. */
		uint64_t num = 0, den = 1;

		for (size_t i = 0; i < n_frac && i < 9; i++) {
			num = num * 10 + (uint64_t)(frac[i] - '0');
			den *= 10;
		}
		/* num/den < 1, so (num << shift) / den fits when shift <= 34;
		 * otherwise divide first. */
		if (shift <= 34)
			f = (num << shift) / den;
		else
			f = (num * ((uint64_t)1 << 34) / den) << (shift - 34);
	}
	v <<= shift;
	if (v > UINT64_MAX - f)
		return -ERANGE;
	*ret = v + f;
	return 0;
}

int parse_mode(const char *s, mode_t *ret)
{
	unsigned long v = 0;

	if (!*s)
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '7')
			return -EINVAL;
		v = v * 8 + (unsigned long)(*p - '0');
		if (v > 07777)
			return -ERANGE;
	}
	*ret = (mode_t)v;
	return 0;
}

static const char *const signal_names[] = {
    [SIGHUP] = "SIGHUP",       [SIGINT] = "SIGINT",       [SIGQUIT] = "SIGQUIT",
    [SIGILL] = "SIGILL",       [SIGTRAP] = "SIGTRAP",     [SIGABRT] = "SIGABRT",
    [SIGBUS] = "SIGBUS",       [SIGFPE] = "SIGFPE",       [SIGKILL] = "SIGKILL",
    [SIGUSR1] = "SIGUSR1",     [SIGSEGV] = "SIGSEGV",     [SIGUSR2] = "SIGUSR2",
    [SIGPIPE] = "SIGPIPE",     [SIGALRM] = "SIGALRM",     [SIGTERM] = "SIGTERM",
    [SIGSTKFLT] = "SIGSTKFLT", [SIGCHLD] = "SIGCHLD",     [SIGCONT] = "SIGCONT",
    [SIGSTOP] = "SIGSTOP",     [SIGTSTP] = "SIGTSTP",     [SIGTTIN] = "SIGTTIN",
    [SIGTTOU] = "SIGTTOU",     [SIGURG] = "SIGURG",       [SIGXCPU] = "SIGXCPU",
    [SIGXFSZ] = "SIGXFSZ",     [SIGVTALRM] = "SIGVTALRM", [SIGPROF] = "SIGPROF",
    [SIGWINCH] = "SIGWINCH",   [SIGIO] = "SIGIO",         [SIGPWR] = "SIGPWR",
    [SIGSYS] = "SIGSYS",
};

#define SIGNAL_MAX 64

int parse_signal(const char *s, int *ret)
{
	const char *name = s;
	uint64_t n;

	if (isdigit((unsigned char)*s)) {
		if (parse_uint(s, 1, SIGNAL_MAX, &n) < 0)
			return -EINVAL;
		*ret = (int)n;
		return 0;
	}
	if (strncmp(name, "SIG", 3) == 0)
		name += 3;
	for (size_t i = 1; i < ELEMENTSOF(signal_names); i++)
		if (signal_names[i] && strcmp(signal_names[i] + 3, name) == 0) {
			*ret = (int)i;
			return 0;
		}
	/* RTMIN, RTMIN+n, RTMAX, RTMAX-n, as systemd. */
	if (strncmp(name, "RTMIN", 5) == 0 || strncmp(name, "RTMAX", 5) == 0) {
		bool max = name[4] == 'X';
		int base = max ? SIGRTMAX : SIGRTMIN, sig = base;

		name += 5;
		if (*name) {
			if (*name != (max ? '-' : '+'))
				return -EINVAL;
			if (parse_uint(name + 1, 0, (uint64_t)(SIGRTMAX - SIGRTMIN), &n) < 0)
				return -EINVAL;
			sig = max ? base - (int)n : base + (int)n;
		}
		*ret = sig;
		return 0;
	}
	return -EINVAL;
}

const char *signal_to_string(int sig)
{
	static __thread char buf[sizeof("SIGRTMIN+") + 12];

	if (sig > 0 && (size_t)sig < ELEMENTSOF(signal_names) && signal_names[sig])
		return signal_names[sig];
	if (sig >= SIGRTMIN && sig <= SIGRTMAX)
		snprintf(buf, sizeof(buf), "SIGRTMIN+%d", sig - SIGRTMIN);
	else
		snprintf(buf, sizeof(buf), "%d", sig);
	return buf;
}

bool hostname_is_valid(const char *s)
{
	size_t label = 0, total = 0;
	char prev = '.';

	if (!s || !*s)
		return false;
	for (const char *p = s; *p; p++, total++) {
		if (*p == '.') {
			/* No empty label, no label ending in '-', no trailing dot. */
			if (prev == '.' || prev == '-' || !p[1])
				return false;
			label = 0;
		} else if (isalnum((unsigned char)*p) || *p == '-') {
			if (*p == '-' && prev == '.')
				return false; /* a label starts with a letter or digit */
			if (++label > 63)
				return false;
		} else {
			return false;
		}
		prev = *p;
	}
	return prev != '-' && total <= 64;
}

bool service_name_is_valid(const char *s)
{
	size_t n = 0;

	if (!s || !*s || *s == '.')
		return false;
	for (const char *p = s; *p; p++, n++)
		if (!isalnum((unsigned char)*p) && !strchr("_.@-", *p))
			return false;
	return n <= 64;
}

bool path_is_absolute_normalized(const char *s)
{
	const char *p;

	if (!s || s[0] != '/' || strlen(s) >= PATH_MAX)
		return false;
	if (s[1] == '\0')
		return true; /* "/" */
	/* Each component: non-empty, not "." nor "..". No trailing '/'. */
	for (p = s; *p;) {
		const char *c = ++p; /* after the '/' */
		size_t n;

		while (*p && *p != '/')
			p++;
		n = (size_t)(p - c);
		if (n == 0)
			return false;
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
	}
	return true;
}
