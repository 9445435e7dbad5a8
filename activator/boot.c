/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Boot=yes: what a container manager owes the init it boots (systemd's
 * Container Interface, docs/CONTAINER_INTERFACE.md in systemd), beyond the
 * steps every container gets. The init itself is exec'd as pid 1 by
 * init_boot() (init.c); the environment (container=, container_uuid=,
 * NOTIFY_SOCKET=, LISTEN_*) comes from the daemon and ctx_new().
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <unistd.h>

#include "libc-compat.h"
#include "activator-internal.h"
#include "common/cleanup.h"

/* Creates dir_fd/name (must not exist: the tmpfs is new) holding text. */
static int write_new_file(int dir_fd, const char *name, const char *text, mode_t mode)
{
	_cleanup_close_ int fd =
	    openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	size_t len = strlen(text);

	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len)
		return -EIO;
	return 0;
}

/*
 * After the tmpfs mounts, before Bind= (the notify socket goes below
 * /run/host), still as the host's root in the initial user namespace:
 *
 * - cgroup2 at /sys/fs/cgroup: mounted from our cgroup namespace, whose
 *   root is the container's cgroup (CLONE_INTO_CGROUP with
 *   CLONE_NEWCGROUP), so the init sees only its own subtree, writable
 *   where the daemon delegated it (its directory, cgroup.procs,
 *   cgroup.threads, cgroup.subtree_control belong to the container's
 *   root; the limits nsinetd wrote stay the host root's). The /sys below
 *   is a fresh read-only sysfs: no v1 hierarchy of a hybrid host is there,
 *   and none can be mounted (a cgroup namespace owned by the initial user
 *   namespace refuses every cgroup mount to the container's root), so
 *   systemd runs in unified mode.
 * - /dev: the container root's (the nodes in it stay the host root's).
 * - /run/host/container-manager: "nsinetd".
 * - /proc/sys/kernel/random/boot_id: a random UUID of this container's
 *   own, bound read-only over the host's (kept in /run/host/boot_id).
 */
int boot_container_interface(struct activator_ctx *c)
{
	const unsigned int ro =
	    MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
	_cleanup_close_ int host = -1, id = -1, dev = -1;
	unsigned char u[16];
	char uuid[40];
	int r;

	if (!c->spec->boot)
		return 0;
	c->what = "/sys/fs/cgroup";
	r = rootfs_mount_fs(c->root_fd, "sys/fs/cgroup", "cgroup2", NULL,
			    MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	if (r < 0)
		return r;

	/* /dev is the container's tmpfs with a few nodes nsinetd made: its
	 * init makes its own entries there (/dev/mqueue, the /dev/log link),
	 * as in any container manager's /dev. The nodes stay the host root's;
	 * no new one can be made (mknod needs CAP_MKNOD of the host). */
	c->what = "/dev";
	dev = rootfs_open(c->root_fd, "dev", O_PATH | O_DIRECTORY | O_NOFOLLOW);
	if (dev < 0)
		return dev;
	if (fchownat(dev, "", c->spec->userns_root, c->spec->userns_root, AT_EMPTY_PATH) < 0)
		return -errno;

	c->what = "/run/host";
	r = rootfs_mkdir_p(c->root_fd, "run/host", false);
	if (r < 0)
		return r;
	host = rootfs_open(c->root_fd, "run/host", O_PATH | O_DIRECTORY);
	if (host < 0)
		return host;
	r = write_new_file(host, "container-manager", "nsinetd\n", 0444);
	if (r < 0)
		return r;

	c->what = "/proc/sys/kernel/random/boot_id";
	if (getrandom(u, sizeof(u), 0) != (ssize_t)sizeof(u))
		return -EIO;
	u[6] = (u[6] & 0x0f) | 0x40; /* version 4 */
	u[8] = (u[8] & 0x3f) | 0x80; /* variant 1 */
	snprintf(uuid, sizeof(uuid),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x\n", u[0],
		 u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
		 u[14], u[15]);
	r = write_new_file(host, "boot_id", uuid, 0444);
	if (r < 0)
		return r;
	id = openat(host, "boot_id", O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (id < 0)
		return -errno;
	r = rootfs_mount_bind(id, c->root_fd, "proc/sys/kernel/random/boot_id", ro, -1);
	if (r < 0)
		return r;
	c->what = NULL;
	return 0;
}

/*
 * Right after joining the service's user namespace, with every capability
 * in it: new mount, UTS and IPC namespaces, owned by that user namespace.
 * The init mounts (its own /dev/mqueue, the tmpfs over /etc/machine-id,
 * its services' private /tmp and read-only views), sets its hostname and
 * makes its IPC objects there. The mounts nsinetd made are copied in
 * locked: none can be unmounted or made writable, suid or exec to uncover
 * what is below or behind them. The pid, network and cgroup namespaces
 * stay the initial user namespace's: the container's root can neither
 * mount a proc, sysfs or cgroup file system of its own nor configure an
 * interface, and reboot() fails (systemd then exits, as it does in any
 * container without CAP_SYS_BOOT over its pid namespace).
 */
int boot_namespaces(struct activator_ctx *c)
{
	if (!c->spec->boot)
		return 0;
	if (unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC) < 0)
		return -errno;
	return 0;
}
