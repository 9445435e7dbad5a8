/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Scope-bound cleanup: the attribute runs the function when the variable
 * goes out of scope; TAKE_FD()/TAKE_PTR() hand ownership on. */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline int safe_close(int fd)
{
	if (fd >= 0) {
		int saved = errno;
		close(fd);
		errno = saved;
	}
	return -1;
}

static inline void closep(int *fd)
{
	safe_close(*fd);
}

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

#define _cleanup_(f)     __attribute__((cleanup(f)))
#define _cleanup_free_   _cleanup_(freep)
#define _cleanup_close_  _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _fd_ = (fd);                                                                   \
		(fd) = -1;                                                                         \
		_fd_;                                                                              \
	})

#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _p_ = (p);                                                           \
		(p) = NULL;                                                                        \
		_p_;                                                                               \
	})

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Negative errno of the last failed call, never 0 (a caller that returns it
 * must not look like success if a library forgot to set errno). */
static inline int negative_errno(void)
{
	return errno > 0 ? -errno : -EINVAL;
}
