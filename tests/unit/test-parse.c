/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>

#include "common/parse.h"
#include "tests/unit/tap.h"

static void test_boolean(void)
{
	static const char *const yes[] = {"1", "yes", "YES", "y", "true", "True", "t", "on", "ON"};
	static const char *const no[] = {"0", "no", "No", "n", "false", "FALSE", "f", "off"};
	static const char *const bad[] = {"", "2", "yess", "maybe", " yes", "yes ", "-1", "nope"};
	bool b;

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		b = false;
		ok(parse_boolean(yes[i], &b) == 0 && b, "boolean '%s' is true", yes[i]);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		b = true;
		ok(parse_boolean(no[i], &b) == 0 && !b, "boolean '%s' is false", no[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(parse_boolean(bad[i], &b), -EINVAL, "boolean '%s' is invalid", bad[i]);
}

static void test_uint(void)
{
	uint64_t v = 0;

	is_int(parse_uint("0", 0, 10, &v), 0, "uint 0");
	is_int(v, 0, "uint 0 value");
	is_int(parse_uint("10", 0, 10, &v), 0, "uint max inclusive");
	is_int(v, 10, "uint 10 value");
	is_int(parse_uint("007", 0, 10, &v), 0, "uint leading zeros");
	is_int(v, 7, "uint 007 value");
	is_int(parse_uint("11", 0, 10, &v), -ERANGE, "uint above max");
	is_int(parse_uint("0", 1, 10, &v), -ERANGE, "uint below min");
	is_int(parse_uint("18446744073709551615", 0, UINT64_MAX, &v), 0, "uint UINT64_MAX");
	ok(v == UINT64_MAX, "uint UINT64_MAX value");
	is_int(parse_uint("18446744073709551616", 0, UINT64_MAX, &v), -ERANGE, "uint overflow");
	is_int(parse_uint("99999999999999999999999", 0, UINT64_MAX, &v), -ERANGE,
	       "uint big overflow");
	is_int(parse_uint("", 0, 10, &v), -EINVAL, "uint empty");
	is_int(parse_uint("-1", 0, 10, &v), -EINVAL, "uint negative");
	is_int(parse_uint("+1", 0, 10, &v), -EINVAL, "uint plus sign");
	is_int(parse_uint(" 1", 0, 10, &v), -EINVAL, "uint leading space");
	is_int(parse_uint("1 ", 0, 10, &v), -EINVAL, "uint trailing space");
	is_int(parse_uint("0x10", 0, 100, &v), -EINVAL, "uint hex");
	is_int(parse_uint("1k", 0, 100, &v), -EINVAL, "uint suffix");
}

static void test_duration(void)
{
	static const struct {
		const char *s;
		usec_t u;
	} good[] = {
	    {"0", 0},
	    {"10", 10 * USEC_PER_SEC},
	    {"10s", 10 * USEC_PER_SEC},
	    {"10 s", 10 * USEC_PER_SEC},
	    {"10sec", 10 * USEC_PER_SEC},
	    {"1.5s", 1500 * USEC_PER_MSEC},
	    {"0.000001s", 1},
	    {"0.0000001s", 0},
	    {"500ms", 500 * USEC_PER_MSEC},
	    {"500msec", 500 * USEC_PER_MSEC},
	    {"7us", 7},
	    {"2min", 120 * USEC_PER_SEC},
	    {"2m", 120 * USEC_PER_SEC},
	    {"1h 30min", 5400 * USEC_PER_SEC},
	    {"1h30min", 5400 * USEC_PER_SEC},
	    {"1hr", 3600 * USEC_PER_SEC},
	    {"1d", 86400 * USEC_PER_SEC},
	    {"1w", 7 * 86400 * USEC_PER_SEC},
	    {"1min 5", 65 * USEC_PER_SEC},
	    {"  3s  ", 3 * USEC_PER_SEC},
	    {"infinity", USEC_INFINITY},
	    {" infinity ", USEC_INFINITY},
	    {"18446744073709551614us", UINT64_MAX - 1},
	};
	static const struct {
		const char *s;
		int r;
	} bad[] = {
	    {"", -EINVAL},
	    {"   ", -EINVAL},
	    {"s", -EINVAL},
	    {"-1s", -EINVAL},
	    {"10x", -EINVAL},
	    {"10 parsecs", -EINVAL},
	    {"1.s", -EINVAL},
	    {".5s", -EINVAL},
	    {"1,5s", -EINVAL},
	    {"infinity 1s", -EINVAL},
	    {"1s infinity", -EINVAL},
	    {"99999999999999999999", -ERANGE},
	    {"18446744073709551615us", -ERANGE},
	    {"18446744073709551615d", -ERANGE},
	    {"18446744073709551614us 1us", -ERANGE},
	    {"10000000000000w", -ERANGE},
	};
	usec_t u;
	char buf[64];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		u = 12345;
		ok(parse_duration(good[i].s, &u) == 0 && u == good[i].u, "duration '%s' = %llu",
		   good[i].s, (unsigned long long)good[i].u);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(parse_duration(bad[i].s, &u), bad[i].r, "duration '%s' is rejected",
		       bad[i].s);

	is_str(format_duration(buf, sizeof(buf), 0), "0", "format 0");
	is_str(format_duration(buf, sizeof(buf), USEC_INFINITY), "infinity", "format infinity");
	is_str(format_duration(buf, sizeof(buf), 90 * USEC_PER_SEC), "1min 30s", "format 90s");
	is_str(format_duration(buf, sizeof(buf), 1500 * USEC_PER_MSEC), "1s 500ms", "format 1.5s");
	is_str(format_duration(buf, sizeof(buf), 86400 * USEC_PER_SEC + 1), "1d 1us",
	       "format 1d 1us");
	is_str(format_duration(buf, 5, 90 * USEC_PER_SEC), "1min", "format truncated");

	/* Round trips. */
	static const usec_t values[] = {1,
					999,
					1000,
					1001,
					10 * USEC_PER_SEC,
					3661 * USEC_PER_SEC,
					123456789012ULL,
					UINT64_MAX - 1};
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		format_duration(buf, sizeof(buf), values[i]);
		ok(parse_duration(buf, &u) == 0 && u == values[i], "duration round trip '%s'", buf);
	}
}

static void test_size(void)
{
	static const struct {
		const char *s;
		uint64_t v;
	} good[] = {
	    {"0", 0},
	    {"512", 512},
	    {"512B", 512},
	    {"64K", 64 * 1024},
	    {"256M", 256ULL << 20},
	    {"2G", 2ULL << 30},
	    {"1T", 1ULL << 40},
	    {"1P", 1ULL << 50},
	    {"15E", 15ULL << 60},
	    {"1.5K", 1536},
	    {"0.5G", 512ULL << 20},
	    {"1KB", 1024},
	    {"infinity", UINT64_MAX},
	    {"18446744073709551615", UINT64_MAX},
	};
	static const struct {
		const char *s;
		int r;
	} bad[] = {
	    {"", -EINVAL},
	    {"K", -EINVAL},
	    {"-1", -EINVAL},
	    {"1X", -EINVAL},
	    {"1k", -EINVAL},
	    {"1.5", -EINVAL},
	    {"1.K", -EINVAL},
	    {"1 K", -EINVAL},
	    {"16E", -ERANGE},
	    {"17179869184G", -ERANGE},
	    {"18446744073709551616", -ERANGE},
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 1;
		ok(parse_size(good[i].s, &v) == 0 && v == good[i].v, "size '%s'", good[i].s);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(parse_size(bad[i].s, &v), bad[i].r, "size '%s' is rejected", bad[i].s);
}

static void test_mode(void)
{
	mode_t m = 0;

	ok(parse_mode("0666", &m) == 0 && m == 0666, "mode 0666");
	ok(parse_mode("660", &m) == 0 && m == 0660, "mode 660");
	ok(parse_mode("0", &m) == 0 && m == 0, "mode 0");
	ok(parse_mode("7777", &m) == 0 && m == 07777, "mode 7777");
	ok(parse_mode("07777", &m) == 0 && m == 07777, "mode 07777");
	ok(parse_mode("0000644", &m) == 0 && m == 0644, "mode with leading zeros");
	is_int(parse_mode("10000", &m), -ERANGE, "mode 10000 too big");
	is_int(parse_mode("0888", &m), -EINVAL, "mode with 8");
	is_int(parse_mode("", &m), -EINVAL, "mode empty");
	is_int(parse_mode("rw", &m), -EINVAL, "mode letters");
	is_int(parse_mode("-1", &m), -EINVAL, "mode negative");
	is_int(parse_mode("0o644", &m), -EINVAL, "mode 0o prefix");
}

static void test_signal(void)
{
	int sig = 0;

	ok(parse_signal("SIGTERM", &sig) == 0 && sig == SIGTERM, "signal SIGTERM");
	ok(parse_signal("TERM", &sig) == 0 && sig == SIGTERM, "signal TERM");
	ok(parse_signal("SIGKILL", &sig) == 0 && sig == SIGKILL, "signal SIGKILL");
	ok(parse_signal("HUP", &sig) == 0 && sig == SIGHUP, "signal HUP");
	ok(parse_signal("SIGWINCH", &sig) == 0 && sig == SIGWINCH, "signal SIGWINCH");
	ok(parse_signal("15", &sig) == 0 && sig == 15, "signal 15");
	ok(parse_signal("1", &sig) == 0 && sig == 1, "signal 1");
	ok(parse_signal("64", &sig) == 0 && sig == 64, "signal 64");
	ok(parse_signal("SIGRTMIN", &sig) == 0 && sig == SIGRTMIN, "signal SIGRTMIN");
	ok(parse_signal("RTMIN+3", &sig) == 0 && sig == SIGRTMIN + 3, "signal RTMIN+3");
	ok(parse_signal("SIGRTMAX-1", &sig) == 0 && sig == SIGRTMAX - 1, "signal SIGRTMAX-1");
	is_int(parse_signal("0", &sig), -EINVAL, "signal 0");
	is_int(parse_signal("65", &sig), -EINVAL, "signal 65");
	is_int(parse_signal("99999999999999999999999", &sig), -EINVAL, "signal overflow");
	is_int(parse_signal("", &sig), -EINVAL, "signal empty");
	is_int(parse_signal("SIG", &sig), -EINVAL, "signal SIG");
	is_int(parse_signal("SIGFOO", &sig), -EINVAL, "signal SIGFOO");
	is_int(parse_signal("sigterm", &sig), -EINVAL, "signal names are case-sensitive");
	is_int(parse_signal("RTMIN+99", &sig), -EINVAL, "signal RTMIN+99");
	is_int(parse_signal("RTMIN-1", &sig), -EINVAL, "signal RTMIN-1");
	is_int(parse_signal("-15", &sig), -EINVAL, "signal -15");

	is_str(signal_to_string(SIGTERM), "SIGTERM", "signal_to_string SIGTERM");
	is_str(signal_to_string(SIGKILL), "SIGKILL", "signal_to_string SIGKILL");
	is_str(signal_to_string(SIGRTMIN + 2), "SIGRTMIN+2", "signal_to_string SIGRTMIN+2");
	is_str(signal_to_string(0), "0", "signal_to_string 0");
	for (int s = 1; s <= 64; s++) {
		int back = 0;

		if (parse_signal(signal_to_string(s), &back) < 0 || back != s) {
			ok(false, "signal %d round trip (%s)", s, signal_to_string(s));
			return;
		}
	}
	ok(true, "signals 1-64 round trip through signal_to_string");
}

static void test_hostname(void)
{
	static const char *const good[] = {
	    "web",
	    "a",
	    "web-1",
	    "1web",
	    "web.example.com",
	    "a.b.c",
	    "x0",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 63 */
	};
	static const char *const bad[] = {
	    "",
	    "-web",
	    "web-",
	    "web_1",
	    "web..x",
	    ".web",
	    "web.",
	    "we b",
	    "wéb",
	    "a.-b",
	    "a-.b",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",    /* 64 */
	    "aaaaaaaaaa.aaaaaaaaaa.aaaaaaaaaa.aaaaaaaaaa.aaaaaaaaaa.aaaaaaaaaaaa", /* 65 */
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ok(hostname_is_valid(good[i]), "hostname '%s' is valid", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(!hostname_is_valid(bad[i]), "hostname '%s' is invalid", bad[i]);
	ok(!hostname_is_valid(NULL), "hostname NULL is invalid");
	ok(hostname_is_valid("aaaaaaaaaa.aaaaaaaaaa.aaaaaaaaaa.aaaaaaaaaa.aaaaaaaaaa.aaaaaaaaa"),
	   "hostname of 64 characters is valid");
}

static void test_service_name(void)
{
	static const char *const good[] = {"web",    "web-1",  "a",   "web_2.x",
					   "echo@1", "A-Z.09", "x..y"};
	static const char *const bad[] = {
	    "",    ".hidden",
	    "a/b", "a b",
	    "a:b", "wéb",
	    "a\t", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ok(service_name_is_valid(good[i]), "service name '%s' is valid", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(!service_name_is_valid(bad[i]), "service name '%s' is invalid", bad[i]);
	ok(service_name_is_valid(
	       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
	   "service name of 64 characters is valid");
}

static void test_path(void)
{
	static const char *const good[] = {"/",      "/srv",   "/srv/web", "/a/b/c",     "/.hidden",
					   "/a/..b", "/a/b..", "/a/...",   "/with space"};
	static const char *const bad[] = {"",          "srv",     "./srv", "//",         "//srv",
					  "/srv//web", "/srv/",   "/./x",  "/srv/./web", "/srv/..",
					  "/..",       "/a/../b", "/."};
	char longpath[PATH_MAX + 2];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ok(path_is_absolute_normalized(good[i]), "path '%s' is normalized", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(!path_is_absolute_normalized(bad[i]), "path '%s' is not normalized", bad[i]);
	ok(!path_is_absolute_normalized(NULL), "path NULL");

	memset(longpath, 'a', sizeof(longpath));
	longpath[0] = '/';
	longpath[PATH_MAX - 1] = '\0';
	ok(path_is_absolute_normalized(longpath), "path of PATH_MAX-1 bytes");
	longpath[PATH_MAX - 1] = 'a';
	longpath[PATH_MAX] = '\0';
	ok(!path_is_absolute_normalized(longpath), "path of PATH_MAX bytes is too long");
}

int main(void)
{
	test_boolean();
	test_uint();
	test_duration();
	test_size();
	test_mode();
	test_signal();
	test_hostname();
	test_service_name();
	test_path();
	return tap_done();
}
