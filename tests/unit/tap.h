/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A minimal TAP producer for the unit tests (meson test, protocol: tap). */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

#define ok(cond, ...)                                                                              \
	do {                                                                                       \
		int _ok_ = !!(cond);                                                               \
		tap_n++;                                                                           \
		if (!_ok_)                                                                         \
			tap_failed++;                                                              \
		printf("%sok %d - ", _ok_ ? "" : "not ", tap_n);                                   \
		printf(__VA_ARGS__);                                                               \
		printf("\n");                                                                      \
		if (!_ok_)                                                                         \
			printf("#   failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);            \
		fflush(stdout);                                                                    \
	} while (0)

#define is_int(a, b, ...)                                                                          \
	do {                                                                                       \
		long long _a_ = (a), _b_ = (b);                                                    \
		ok(_a_ == _b_, __VA_ARGS__);                                                       \
		if (_a_ != _b_)                                                                    \
			printf("#   got %lld, expected %lld\n", _a_, _b_);                         \
	} while (0)

#define is_str(a, b, ...)                                                                          \
	do {                                                                                       \
		const char *_a_ = (a), *_b_ = (b);                                                 \
		int _eq_ = (_a_ && _b_) ? strcmp(_a_, _b_) == 0 : _a_ == _b_;                      \
		ok(_eq_, __VA_ARGS__);                                                             \
		if (!_eq_)                                                                         \
			printf("#   got \"%s\", expected \"%s\"\n", _a_ ? _a_ : "(null)",          \
			       _b_ ? _b_ : "(null)");                                              \
	} while (0)

/* Skip the whole program: "1..0 # SKIP reason". */
#define skip_all(...)                                                                              \
	do {                                                                                       \
		printf("1..0 # SKIP ");                                                            \
		printf(__VA_ARGS__);                                                               \
		printf("\n");                                                                      \
		exit(0);                                                                           \
	} while (0)

/* Stop: something the whole program needs is missing ("Bail out!"). */
#define bail_out(...)                                                                              \
	do {                                                                                       \
		printf("Bail out! ");                                                              \
		printf(__VA_ARGS__);                                                               \
		printf("\n");                                                                      \
		exit(1);                                                                           \
	} while (0)

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}
