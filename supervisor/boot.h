/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Boot=yes: checks of the tree to boot (docs/nsinetd.conf.5.md, Boot=). */
#pragma once

#include "supervisor/config.h"

/*
 * For a Boot=yes config: when the tree (root_fd, an O_PATH of its
 * Directory=) has socket units with addresses but none listens exactly on
 * one of the service's Listen*= addresses, says so through say(), once per
 * such address, naming it and the units' addresses that differ (at most
 * 4). Unit files in /etc/systemd/system, /usr/lib/systemd/system and
 * /lib/systemd/system, resolved inside the tree; a Bind= whose target is
 * one of them is read instead. Returns the number of lines said, or
 * -ENOMEM.
 */
int boot_check_socket_units(const struct service_config *c, int root_fd,
			    void (*say)(const char *line, void *userdata), void *userdata);
