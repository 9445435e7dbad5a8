/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The container's file system, assembled on the staging directory inside
 * the child's private mount namespace, then pivoted into.
 *
 * Paths inside the root are resolved with openat2(RESOLVE_IN_ROOT) and
 * mounts are attached to the resulting fds with the new mount API (fsopen,
 * fsmount, open_tree, move_mount, mount_setattr): a symlink planted in a
 * root directory (/run -> /etc) resolves inside that root, never to the
 * host's file system, while we are still outside it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "activator-internal.h"
#include "common/cleanup.h"

/* Opens path, relative to (and confined in) the root dir_fd. */
static int root_open(int dir_fd, const char *path, int flags)
{
	struct open_how how = {
	    .flags = (unsigned long long)(flags | O_CLOEXEC),
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd;

	while (*path == '/')
		path++;
	fd = (int)syscall(SYS_openat2, dir_fd, *path ? path : ".", &how, sizeof(how));
	return fd < 0 ? -errno : fd;
}

/* mkdir -p inside the root; the last component is an empty file instead if
 * leaf_is_file (the mount point of a file bind). Existing entries are fine. */
static int root_mkdir_p(int dir_fd, const char *path, bool leaf_is_file)
{
	char buf[4096];
	size_t len, start = 0;

	while (*path == '/')
		path++;
	len = strlen(path);
	while (len > 0 && path[len - 1] == '/')
		len--;
	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len);
	buf[len] = '\0';

	while (start < len) {
		_cleanup_close_ int parent = -1;
		size_t end = start;
		bool last;
		char saved;
		int r;

		while (end < len && buf[end] != '/')
			end++;
		last = end >= len;
		/* The parent, resolved again for each component: the
		 * previous one may have been a symlink (resolved in root). */
		if (start == 0) {
			parent = root_open(dir_fd, ".", O_PATH | O_DIRECTORY);
		} else {
			buf[start - 1] = '\0';
			parent = root_open(dir_fd, buf, O_PATH | O_DIRECTORY);
			buf[start - 1] = '/';
		}
		if (parent < 0)
			return parent;
		saved = buf[end];
		buf[end] = '\0';
		if (last && leaf_is_file) {
			r = openat(parent, buf + start,
				   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
			if (r >= 0)
				close(r);
		} else {
			r = mkdirat(parent, buf + start, 0755);
		}
		if (r < 0 && errno != EEXIST)
			return -errno;
		buf[end] = saved;
		start = end + 1;
		while (start < len && buf[start] == '/')
			start++;
	}
	return 0;
}

/* Whether path is prefix or below it ("/run/x" is below "run"). */
static bool path_below(const char *path, const char *prefix)
{
	size_t n;

	while (*path == '/')
		path++;
	while (*prefix == '/')
		prefix++;
	n = strlen(prefix);
	return strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Mount options that are per-mount attributes in the new API, not
 * parameters of the file system (fsconfig() would reject them). */
static bool option_to_attr(const char *key, unsigned int *attrs)
{
	static const struct {
		const char *name;
		unsigned int attr;
		bool set;
	} table[] = {
	    {"ro", MOUNT_ATTR_RDONLY, true},     {"rw", MOUNT_ATTR_RDONLY, false},
	    {"nosuid", MOUNT_ATTR_NOSUID, true}, {"suid", MOUNT_ATTR_NOSUID, false},
	    {"nodev", MOUNT_ATTR_NODEV, true},   {"dev", MOUNT_ATTR_NODEV, false},
	    {"noexec", MOUNT_ATTR_NOEXEC, true}, {"exec", MOUNT_ATTR_NOEXEC, false},
	};

	for (size_t i = 0; i < ELEMENTSOF(table); i++)
		if (strcmp(key, table[i].name) == 0) {
			if (table[i].set)
				*attrs |= table[i].attr;
			else
				*attrs &= ~table[i].attr;
			return true;
		}
	return false;
}

/* "mode=0755,size=10m,ro" → fsconfig() calls and mount attributes. */
static int fs_configure(int fs, const char *options, unsigned int *attrs)
{
	char buf[ACTIVATOR_OPTIONS_MAX], *save = NULL;

	if (!options)
		return 0;
	if (strlen(options) >= sizeof(buf))
		return -E2BIG;
	strcpy(buf, options);
	for (char *opt = strtok_r(buf, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(opt, '=');
		int r;

		if (!eq && option_to_attr(opt, attrs))
			continue;
		if (eq) {
			*eq = '\0';
			r = fsconfig(fs, FSCONFIG_SET_STRING, opt, eq + 1, 0);
		} else {
			r = fsconfig(fs, FSCONFIG_SET_FLAG, opt, NULL, 0);
		}
		if (r < 0)
			return -errno;
	}
	return 0;
}

/* A fresh file system of fstype on target (inside the root dir_fd). */
static int mount_fs(int dir_fd, const char *target, const char *fstype, const char *options,
		    unsigned int attrs)
{
	_cleanup_close_ int fs = -1, mnt = -1, dir = -1;
	int r;

	fs = fsopen(fstype, FSOPEN_CLOEXEC);
	if (fs < 0)
		return -errno;
	r = fs_configure(fs, options, &attrs);
	if (r < 0)
		return r;
	if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return -errno;
	mnt = fsmount(fs, FSMOUNT_CLOEXEC, attrs);
	if (mnt < 0)
		return -errno;
	dir = root_open(dir_fd, target, O_PATH | O_DIRECTORY);
	if (dir < 0)
		return dir;
	if (move_mount(mnt, "", dir, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return -errno;
	return 0;
}

/* Binds the tree at source_fd on target (inside the root dir_fd). The copy
 * is made read-only while still detached: it is never writable inside. */
static int mount_bind_fd(int source_fd, int dir_fd, const char *target, bool read_only)
{
	_cleanup_close_ int tree = -1, dir = -1;

	tree = open_tree(source_fd, "",
			 OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
	if (tree < 0)
		return -errno;
	if (read_only) {
		struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};

		if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
			return -errno;
	}
	dir = root_open(dir_fd, target, O_PATH);
	if (dir < 0)
		return dir;
	if (move_mount(tree, "", dir, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return -errno;
	return 0;
}

/* Binds a host path (not confined: it is the administrator's). */
static int mount_bind_host(const char *source, int dir_fd, const char *target, bool read_only)
{
	_cleanup_close_ int src = open(source, O_PATH | O_CLOEXEC);

	if (src < 0)
		return -errno;
	return mount_bind_fd(src, dir_fd, target, read_only);
}

/*
 * Detaches what the recursive bind of the root brought along at an API
 * directory: with the host's / as the root, the host's own /proc, /sys,
 * /dev, /tmp and /run. Hidden under our fresh mounts they would still be
 * one umount away for a privileged payload. O_NOFOLLOW: a symlink there is
 * not a mount of ours to clear (the mount that follows resolves it inside
 * the root); the mount id check keeps the root itself out of reach.
 */
static int root_umount_all(int dir_fd, const char *target)
{
	struct statx root_stx;

	if (statx(dir_fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &root_stx) < 0)
		return -errno;
	for (int i = 0; i < 64; i++) {
		_cleanup_close_ int fd = -1;
		struct statx stx;
		char p[64];

		fd = root_open(dir_fd, target, O_PATH | O_DIRECTORY | O_NOFOLLOW);
		if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP)
			return 0;
		if (fd < 0)
			return fd;
		if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0)
			return -errno;
		if (!(stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) ||
		    stx.stx_mnt_id == root_stx.stx_mnt_id)
			return 0;
		/* By fd: the path is only meaningful inside the root. */
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		/* EINVAL: in a user namespace, the mounts copied from the host
		 * are locked together and cannot be detached; they stay
		 * covered by ours, and the payload has neither CAP_SYS_ADMIN
		 * nor (seccomp) umount2() to uncover them. */
		if (umount2(p, MNT_DETACH) < 0)
			return errno == EINVAL ? 0 : -errno;
	}
	return -ELOOP;
}

/* The root directory (or the host's /, recursively, so that a separate
 * /usr comes along) as a detached copy moved onto the staging dir. This is
 * only in our mount namespace: the host never sees a mount there, so any
 * number of containers can share one staging directory. */
int rootfs_bind_root(struct activator_ctx *c)
{
	const char *root = c->spec->root_directory ? c->spec->root_directory : "/";
	_cleanup_close_ int tree = -1;
	int fd;

	/* The parent's idmapped copy (PrivateUsers= with Directory=), or our
	 * own plain copy. */
	if (c->idmapped_root_fd >= 0)
		tree = TAKE_FD(c->idmapped_root_fd);
	else
		tree =
		    open_tree(AT_FDCWD, root, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	if (tree < 0)
		return -errno;
	if (move_mount(tree, "", AT_FDCWD, c->spec->staging_dir, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return -errno;
	/* Opened after the move: the fd is the new mount's root, not the
	 * directory beneath it. */
	fd = open(c->spec->staging_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	c->root_fd = fd;
	return 0;
}

/* Mounted over by rootfs_tmpfs()/rootfs_dev() or a fresh fs of their own:
 * a mount point below them is created there, later, not in the root. */
static const char *const api_dirs[] = {"proc", "sys", "dev", "tmp", "run"};

static bool below_later_mount(const struct activator_spec *spec, const char *path)
{
	for (size_t i = 0; i < ELEMENTSOF(api_dirs); i++)
		if (path_below(path, api_dirs[i]))
			return true;
	for (size_t i = 0; i < spec->n_tmpfs; i++)
		if (path_below(path, spec->tmpfs[i].target) &&
		    !path_below(spec->tmpfs[i].target, path))
			return true;
	return false;
}

static bool source_is_dir(const char *source)
{
	struct stat st;

	return stat(source, &st) < 0 || S_ISDIR(st.st_mode);
}

/* Every mount point that lives in the root itself is created now, while
 * the root may still be writable (rootfs_read_only() comes next). */
int rootfs_mountpoints(struct activator_ctx *c)
{
	const struct activator_spec *spec = c->spec;
	int r;

	/* The host's own / is never written to, read-only or not: a missing
	 * mount point there fails in rootfs_binds()/rootfs_tmpfs() instead. */
	if (!spec->root_directory)
		return 0;
	for (size_t i = 0; i < ELEMENTSOF(api_dirs); i++) {
		r = root_mkdir_p(c->root_fd, api_dirs[i], false);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < spec->n_tmpfs; i++) {
		if (below_later_mount(spec, spec->tmpfs[i].target))
			continue;
		r = root_mkdir_p(c->root_fd, spec->tmpfs[i].target, false);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < spec->n_binds; i++) {
		if (below_later_mount(spec, spec->binds[i].target))
			continue;
		r = root_mkdir_p(c->root_fd, spec->binds[i].target,
				 !source_is_dir(spec->binds[i].source));
		if (r < 0)
			return r;
	}
	return 0;
}

/* ReadOnly=yes: the whole copied tree, recursively, in one call. nosuid
 * too: a setuid binary of the image is no way up inside the container. The
 * API mounts that follow are separate mounts with their own flags. */
int rootfs_read_only(struct activator_ctx *c)
{
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID};

	if (!c->spec->read_only)
		return 0;
	if (mount_setattr(c->root_fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
		return -errno;
	return 0;
}

/* A proc of our own pid namespace (we are its pid 1): the container sees
 * only its own processes. The files that reach the host kernel directly are
 * masked with /dev/null, and /proc/sys is read-only. */
int rootfs_proc(struct activator_ctx *c)
{
	static const char *const masked[] = {"proc/kcore", "proc/sysrq-trigger", "proc/keys",
					     "proc/timer_list"};
	_cleanup_close_ int null_fd = -1, sys_fd = -1;
	int r;

	r = root_umount_all(c->root_fd, "proc");
	if (r < 0)
		return r;
	r = mount_fs(c->root_fd, "proc", "proc", NULL,
		     MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	if (r < 0)
		return r;

	null_fd = open("/dev/null", O_PATH | O_CLOEXEC);
	if (null_fd < 0)
		return -errno;
	for (size_t i = 0; i < ELEMENTSOF(masked); i++) {
		r = mount_bind_fd(null_fd, c->root_fd, masked[i], false);
		if (r < 0 && r != -ENOENT) /* keys, timer_list depend on the kernel config */
			return r;
	}

	sys_fd = root_open(c->root_fd, "proc/sys", O_PATH | O_DIRECTORY);
	if (sys_fd < 0)
		return sys_fd;
	return mount_bind_fd(sys_fd, c->root_fd, "proc/sys", true);
}

/* A fresh sysfs, read-only: mounted from our network namespace it shows
 * only our interfaces (a bind of the host's /sys would show the host's).
 * Where sysfs cannot be mounted, an empty read-only tmpfs: programs that
 * probe /sys find nothing rather than the host's. */
int rootfs_sys(struct activator_ctx *c)
{
	const unsigned int attrs =
	    MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
	int r;

	r = root_umount_all(c->root_fd, "sys");
	if (r < 0)
		return r;
	r = mount_fs(c->root_fd, "sys", "sysfs", NULL, attrs);
	if (r >= 0)
		return 0;
	return mount_fs(c->root_fd, "sys", "tmpfs", "mode=0755,size=4k", attrs);
}

/* A minimal /dev, not the host's: a few harmless character devices bound
 * from the host, a private devpts, /dev/shm, the usual symlinks. No other
 * device node is reachable. */
int rootfs_dev(struct activator_ctx *c)
{
	/* Linux's fixed numbers for these (Documentation/admin-guide/devices.txt). */
	static const struct {
		const char *name;
		unsigned int major, minor;
	} nodes[] = {
	    {"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
	    {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
	};
	static const struct {
		const char *target, *name;
	} links[] = {
	    {"pts/ptmx", "ptmx"},          {"/proc/self/fd", "fd"},
	    {"/proc/self/fd/0", "stdin"},  {"/proc/self/fd/1", "stdout"},
	    {"/proc/self/fd/2", "stderr"},
	};
	_cleanup_close_ int dev_fd = -1;
	int r;

	r = root_umount_all(c->root_fd, "dev");
	if (r < 0)
		return r;
	/* size=: the container must not fill memory through /dev. */
	r = mount_fs(c->root_fd, "dev", "tmpfs", "mode=0755,size=64k",
		     MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
	if (r < 0)
		return r;
	dev_fd = root_open(c->root_fd, "dev", O_PATH | O_DIRECTORY);
	if (dev_fd < 0)
		return dev_fd;

	for (size_t i = 0; i < ELEMENTSOF(nodes); i++) {
		const char *name = nodes[i].name;
		char host[64];
		int fd;

		/* A device node is one syscall, where a bind mount is several
		 * and a mount-table entry; it needs CAP_MKNOD in the initial
		 * user namespace, else (EPERM) the host's node is bound. */
		if (mknodat(dev_fd, name, S_IFCHR | 0666,
			    makedev(nodes[i].major, nodes[i].minor)) == 0) {
			if (fchmodat(dev_fd, name, 0666, 0) < 0)
				return -errno;
			continue;
		}
		if (errno != EPERM)
			return -errno;
		/* An empty file as the mount point of a file bind. */
		fd = openat(dev_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd < 0)
			return -errno;
		close(fd);
		snprintf(host, sizeof(host), "/dev/%s", name);
		r = mount_bind_host(host, dev_fd, name, false);
		if (r < 0)
			return r;
	}

	/* newinstance: the container's ptys are its own, not the host's. */
	if (mkdirat(dev_fd, "pts", 0755) < 0)
		return -errno;
	r = mount_fs(dev_fd, "pts", "devpts", "newinstance,ptmxmode=0666,mode=0620",
		     MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
	if (r < 0)
		return r;
	if (mkdirat(dev_fd, "shm", 0755) < 0)
		return -errno;
	/* 64M, as Docker: shared memory is the container's, and bounded. */
	r = mount_fs(dev_fd, "shm", "tmpfs", "mode=1777,size=64m",
		     MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ELEMENTSOF(links); i++)
		if (symlinkat(links[i].target, dev_fd, links[i].name) < 0)
			return -errno;
	return 0;
}

/* Private, writable /tmp and /run even on a read-only root (and never the
 * host's), then TemporaryFileSystem=. */
int rootfs_tmpfs(struct activator_ctx *c)
{
	const struct activator_spec *spec = c->spec;
	const unsigned int attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
	int r;

	r = root_umount_all(c->root_fd, "tmp");
	if (r == 0)
		r = root_umount_all(c->root_fd, "run");
	if (r < 0)
		return r;
	r = mount_fs(c->root_fd, "tmp", "tmpfs", "mode=1777", attrs);
	if (r < 0)
		return r;
	r = mount_fs(c->root_fd, "run", "tmpfs", "mode=0755", attrs);
	if (r < 0)
		return r;
	for (size_t i = 0; i < spec->n_tmpfs; i++) {
		/* Mount points below /tmp, /run etc. are created now; in the
		 * host's / nowhere else. */
		if (spec->root_directory || below_later_mount(spec, spec->tmpfs[i].target)) {
			r = root_mkdir_p(c->root_fd, spec->tmpfs[i].target, false);
			if (r < 0)
				return r;
		}
		r = mount_fs(c->root_fd, spec->tmpfs[i].target, "tmpfs",
			     spec->tmpfs[i].options ? spec->tmpfs[i].options : "mode=0755", attrs);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Bind= and BindReadOnly=, recursively (submounts of the source come
 * along). A writable bind stays writable in a read-only root. */
int rootfs_binds(struct activator_ctx *c)
{
	const struct activator_spec *spec = c->spec;
	int r;

	for (size_t i = 0; i < spec->n_binds; i++) {
		const struct activator_bind *b = &spec->binds[i];

		/* EEXIST for points made by rootfs_mountpoints(); a missing
		 * one in a read-only place fails here, with EROFS. In the
		 * host's / only our own tmpfs may get a new mount point. */
		if (spec->root_directory || below_later_mount(spec, b->target)) {
			r = root_mkdir_p(c->root_fd, b->target, !source_is_dir(b->source));
			if (r < 0)
				return r;
		}
		r = mount_bind_host(b->source, c->root_fd, b->target, b->read_only);
		if (r < 0)
			return r;
	}
	return 0;
}

/* pivot_root(".", "."): the old root ends up stacked on the new one and is
 * detached right away, so no path leads back to the host's file system. */
int rootfs_pivot(struct activator_ctx *c)
{
	if (fchdir(c->root_fd) < 0)
		return -errno;
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return -errno;
	if (umount2(".", MNT_DETACH) < 0)
		return -errno;
	if (chdir("/") < 0)
		return -errno;
	c->root_fd = safe_close(c->root_fd);
	return 0;
}
