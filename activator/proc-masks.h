/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a container's /proc hides or makes read-only (rootfs.c,
 * proc_mask()), as runc and Docker do, and a few more: one list, also
 * for bench/floor.c, which makes the same mounts to measure what they
 * cost. Paths relative to the root, for error messages that name them.
 */
#ifndef NSINETD_PROC_MASKS_H
#define NSINETD_PROC_MASKS_H

/* Files: /dev/null bound over each. */
#define PROC_MASKED_FILES                                                                          \
	"proc/kcore", "proc/keys", "proc/key-users", "proc/timer_list", "proc/timer_stats",        \
	    "proc/latency_stats", "proc/sched_debug", "proc/sysrq-trigger", "proc/kallsyms",       \
	    "proc/kmsg", "proc/config.gz", "proc/kpagecount", "proc/kpageflags",                   \
	    "proc/kpagecgroup", "proc/mtrr"

/* Directories: an empty read-only tmpfs over each. */
#define PROC_MASKED_DIRS "proc/acpi", "proc/asound", "proc/scsi", "proc/driver"

/* Directories bound read-only on themselves. */
#define PROC_READ_ONLY                                                                             \
	"proc/sys", "proc/bus", "proc/fs", "proc/irq", "proc/pressure", "proc/sysvipc"

#endif
