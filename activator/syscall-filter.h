/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The seccomp filter of a container, compiled once per configuration in the
 * daemon (libseccomp, exported as a classic BPF program into memory) and
 * loaded by the payload right before execve, where only a system call is
 * allowed (it is a vfork() child).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct sock_fprog;

struct activator_seccomp_config {
	/* The capabilities the payload keeps: with CAP_SYS_ADMIN the mount
	 * and namespace calls are let through (the kernel checks them). */
	uint64_t capabilities;
	/* SystemCallFilter=: syscall names and systemd @groups. With
	 * allow_list, only allow[] (minus the base deny list) is allowed;
	 * deny[] is denied in either mode. io_uring_setup, io_uring_enter,
	 * io_uring_register and memfd_secret are denied unless allow[] names
	 * them one by one (not through a @group). */
	bool allow_list;
	char *const *allow;
	char *const *deny;
	/* SystemCallErrorNumber=: what a denied call returns; 0 = EPERM. */
	int error_number;
};

/* 0 if name is a syscall libseccomp knows (on any architecture) or one of
 * systemd's @groups; -EINVAL otherwise. */
int activator_seccomp_name_valid(const char *name);

/* Builds the filter: the base deny list (below, in seccomp.c) plus the
 * configuration. *ret is freed with activator_seccomp_free(). */
int activator_seccomp_compile(const struct activator_seccomp_config *cfg, struct sock_fprog **ret);
struct sock_fprog *activator_seccomp_free(struct sock_fprog *prog);
