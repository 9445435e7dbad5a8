/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* pid 1's seccomp allow-list, for the calling thread: 0 or -errno. It
 * needs no_new_privs or CAP_SYS_ADMIN, as any filter. */
int init_seccomp_load(void);
