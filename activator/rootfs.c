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
#include <limits.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "libc-compat.h"
#include "activator-internal.h"
#include "mountinfo.h"
#include "proc-masks.h"
#include "common/cleanup.h"

/* Opens path, relative to (and confined in) the root dir_fd. */
int rootfs_open(int dir_fd, const char *path, int flags)
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
int rootfs_mkdir_p(int dir_fd, const char *path, bool leaf_is_file)
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
			parent = rootfs_open(dir_fd, ".", O_PATH | O_DIRECTORY);
		} else {
			buf[start - 1] = '\0';
			parent = rootfs_open(dir_fd, buf, O_PATH | O_DIRECTORY);
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
	char buf[ACTIVATOR_OPTIONS_MAX + TMPFS_OPTIONS_EXTRA], *save = NULL;

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

/* A fresh file system of fstype, detached: its mount fd, or a negative
 * errno. Closing it unattached unmounts it (an RCU grace period). */
int rootfs_fs_new(const char *fstype, const char *options, unsigned int attrs)
{
	_cleanup_close_ int fs = -1;
	int mnt, r;

	fs = fsopen(fstype, FSOPEN_CLOEXEC);
	if (fs < 0)
		return -errno;
	r = fs_configure(fs, options, &attrs);
	if (r < 0)
		return r;
	if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return -errno;
	mnt = fsmount(fs, FSMOUNT_CLOEXEC, attrs);
	return mnt < 0 ? -errno : mnt;
}

/* A fresh file system of fstype on target (inside the root dir_fd). */
int rootfs_mount_fs(int dir_fd, const char *target, const char *fstype, const char *options,
		    unsigned int attrs)
{
	_cleanup_close_ int mnt = -1, dir = -1;

	/* The target first: a detached mount that is closed again costs an
	 * RCU grace period (see rootfs_mount_bind()). */
	dir = rootfs_open(dir_fd, target, O_PATH | O_DIRECTORY);
	if (dir < 0)
		return dir;
	mnt = rootfs_fs_new(fstype, options, attrs);
	if (mnt < 0)
		return mnt;
	if (move_mount(mnt, "", dir, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return -errno;
	return 0;
}

/* The bind of rootfs_mount_bind() on a target opened already (target_fd,
 * which may be source_fd itself: a read-only bind of a directory on
 * itself needs one lookup, not two). */
static int mount_bind_on(int source_fd, int target_fd, unsigned int attrs, int idmap_userns)
{
	_cleanup_close_ int tree = -1;
	struct mount_attr attr = {.attr_set = attrs, .propagation = MS_PRIVATE};

	tree = open_tree(source_fd, "",
			 OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
	if (tree < 0)
		return -errno;
	/* Private: see rootfs_bind_root(). */
	if (idmap_userns >= 0) {
		attr.attr_set |= MOUNT_ATTR_IDMAP;
		attr.userns_fd = (uint64_t)idmap_userns;
	}
	if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
		return -errno;
	if (move_mount(tree, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) <
	    0)
		return -errno;
	return 0;
}

/* Binds the tree at source_fd on target (inside the root dir_fd). The
 * attributes (and the idmapping, with a user namespace fd) are set while
 * the copy is still detached: it is never writable or setuid inside. The
 * target is opened first: closing a detached copy that was never attached
 * (a target this kernel lacks, such as /proc/timer_stats) unmounts it, and
 * every unmount waits for an expedited RCU grace period, 0.1 to 0.3 ms on
 * a busy 2-CPU machine; half of the /proc masks used to pay it. */
int rootfs_mount_bind(int source_fd, int dir_fd, const char *target, unsigned int attrs,
		      int idmap_userns)
{
	_cleanup_close_ int dir = -1;

	dir = rootfs_open(dir_fd, target, O_PATH);
	if (dir < 0)
		return dir;
	return mount_bind_on(source_fd, dir, attrs, idmap_userns);
}

/*
 * Opens a host path (a Bind= source) as O_PATH, component by component,
 * following a symlink only if root owns it: a user who can write a
 * directory on the way could otherwise swap in a symlink to a root-only
 * directory between the administrator's check and our mount (we hold each
 * component by fd, so what we check is what we follow). "..", and
 * symlinks to relative paths, resolve from where they are.
 */
static int host_open_source(struct activator_ctx *c, const char *path, int *ret_fd)
{
	char buf[2 * PATH_MAX], name[NAME_MAX + 1], link[PATH_MAX];
	_cleanup_close_ int cur = -1;
	size_t pos = 0;
	int links = 0;

	if (strlen(path) >= PATH_MAX)
		return -ENAMETOOLONG;
	strcpy(buf, path);
	cur = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cur < 0)
		return -errno;
	for (;;) {
		_cleanup_close_ int next = -1;
		size_t len;
		struct stat st;
		ssize_t n;

		while (buf[pos] == '/')
			pos++;
		if (!buf[pos])
			break;
		len = strcspn(buf + pos, "/");
		if (len > NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(name, buf + pos, len);
		name[len] = '\0';
		pos += len;
		if (strcmp(name, ".") == 0)
			continue;
		next = openat(cur, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0)
			return -errno;
		if (fstatat(next, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		if (!S_ISLNK(st.st_mode)) {
			safe_close(cur);
			cur = TAKE_FD(next);
			continue;
		}
		if (st.st_uid != 0) {
			/* The path as given, the component, its owner: cut to fit. */
			(void)!snprintf(c->what_buf, sizeof(c->what_buf),
					"%.120s: symlink %.80s is owned by uid %u, not root", path,
					name, (unsigned)st.st_uid);
			c->what = c->what_buf;
			return -EPERM;
		}
		if (++links > 40)
			return -ELOOP;
		n = readlinkat(next, "", link, sizeof(link) - 1);
		if (n < 0)
			return -errno;
		link[n] = '\0';
		/* The target, then what was left after this component. */
		{
			char tmp[2 * PATH_MAX];

			if ((size_t)snprintf(tmp, sizeof(tmp), "%s/%s", link, buf + pos) >=
			    sizeof(tmp))
				return -ENAMETOOLONG;
			strcpy(buf, tmp);
			pos = 0;
		}
		if (link[0] == '/') {
			safe_close(cur);
			cur = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (cur < 0)
				return -errno;
		}
	}
	*ret_fd = TAKE_FD(cur);
	return 0;
}

/* Binds a device node of the host's /dev (fixed paths of ours). */
static int mount_bind_host(const char *source, int dir_fd, const char *target)
{
	_cleanup_close_ int src = open(source, O_PATH | O_CLOEXEC | O_NOFOLLOW);

	if (src < 0)
		return -errno;
	return rootfs_mount_bind(src, dir_fd, target, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, -1);
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

		fd = rootfs_open(dir_fd, target, O_PATH | O_DIRECTORY | O_NOFOLLOW);
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

/* Sees the tree at fd through the service's user namespace: on-disk ids
 * are mapped by it (the host's root is the container's root). Needs
 * CAP_SYS_ADMIN in the initial user namespace: we still have it. */
static int tree_idmap(const struct activator_spec *spec, int tree)
{
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP,
				  .userns_fd = (uint64_t)spec->userns_fd};

	if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
		return -errno;
	return 0;
}

/*
 * Ephemeral=yes: on the staging dir, a tmpfs with upper/, work/ and
 * lower/; the tree (already idmapped, if asked) on lower/; an overlay of
 * the three on top of it all. What the container writes lands in the
 * tmpfs, charged to its cgroup, and goes with its mount namespace; the
 * tree is only read. The tmpfs and the tree stay below the overlay, in the
 * old root that pivot_root() detaches: the container cannot reach them.
 * upper/ (the overlay's root) has the tree root's mode and belongs to the
 * container's root, as the idmapped tree's root does.
 */
static int rootfs_overlay(struct activator_ctx *c, int tree)
{
	const struct activator_spec *spec = c->spec;
	_cleanup_close_ int fs = -1, tmp = -1, ovl = -1, mnt = -1;
	char lower[4096], upper[4096], work[4096];
	uid_t owner = spec->userns_fd >= 0 ? spec->userns_root : 0;
	struct stat st;

	if (fstat(tree, &st) < 0)
		return -errno;
	fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
	/* What the container writes to its root stays in memory until it
	 * ends: bounded as systemd-nspawn bounds a volatile root. */
	if (fs < 0 || fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0700", 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "size", EPHEMERAL_SIZE, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "nr_inodes", EPHEMERAL_INODES, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return -errno;
	tmp = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	if (tmp < 0)
		return -errno;
	if (move_mount(tmp, "", AT_FDCWD, spec->staging_dir, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return -errno;
	if (mkdirat(tmp, "lower", 0700) < 0 || mkdirat(tmp, "work", 0700) < 0 ||
	    mkdirat(tmp, "upper", st.st_mode & 07777) < 0 ||
	    fchmodat(tmp, "upper", st.st_mode & 07777, 0) < 0 ||
	    fchownat(tmp, "upper", owner, owner, 0) < 0)
		return -errno;
	snprintf(lower, sizeof(lower), "%s/lower", spec->staging_dir);
	snprintf(upper, sizeof(upper), "%s/upper", spec->staging_dir);
	snprintf(work, sizeof(work), "%s/work", spec->staging_dir);
	if (move_mount(tree, "", AT_FDCWD, lower, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return -errno;
	c->what = "overlay";
	ovl = fsopen("overlay", FSOPEN_CLOEXEC);
	if (ovl < 0 || fsconfig(ovl, FSCONFIG_SET_STRING, "lowerdir", lower, 0) < 0 ||
	    fsconfig(ovl, FSCONFIG_SET_STRING, "upperdir", upper, 0) < 0 ||
	    fsconfig(ovl, FSCONFIG_SET_STRING, "workdir", work, 0) < 0 ||
	    fsconfig(ovl, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return -errno;
	mnt = fsmount(ovl, FSMOUNT_CLOEXEC, 0);
	if (mnt < 0)
		return -errno;
	if (move_mount(mnt, "", AT_FDCWD, spec->staging_dir, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return -errno;
	c->root_fd = open(spec->staging_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (c->root_fd < 0)
		return -errno;
	c->what = NULL;
	return 0;
}

/*
 * The host's mounts below the root that the container keeps. The root used
 * to be cloned with all its mounts, and those under /proc, /sys and /dev
 * unmounted again; but every unmount waits for an expedited RCU grace
 * period (0.1 to 0.3 ms each on a busy 2-CPU machine, three per start).
 * Now the root is cloned alone and each mount below it that is not under
 * a directory that gets a file system of its own (api_dirs) is cloned with
 * its own mounts onto its place: the same tree, with nothing of the host's
 * /proc, /sys or /dev in the container's mount table, and no unmount.
 * NULL (take the whole tree and unmount, as before) when /proc/self/
 * mountinfo cannot be read or lists more than we keep.
 */
struct submounts {
	size_t n;
	const char *rel[MOUNTINFO_SUBMOUNTS_MAX]; /* below the root, no leading '/' */
	char buf[];
};

static struct submounts *root_submounts(int root_fd)
{
	_cleanup_close_ int info = -1;
	_cleanup_free_ struct submounts *s = NULL;
	char self[64], canon[PATH_MAX];
	size_t len = 0;
	ssize_t n;
	int k;

	snprintf(self, sizeof(self), "/proc/self/fd/%d", root_fd);
	n = readlink(self, canon, sizeof(canon) - 1);
	if (n <= 0 || canon[0] != '/')
		return NULL;
	canon[n] = '\0';

	info = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (info < 0)
		return NULL;
	/* Not calloc(): only what is read is ever looked at. */
	s = malloc(sizeof(*s) + MOUNTINFO_SIZE_MAX + 1);
	if (!s)
		return NULL;
	while ((n = read(info, s->buf + len, MOUNTINFO_SIZE_MAX - len)) > 0)
		len += (size_t)n;
	if (n < 0 || len == MOUNTINFO_SIZE_MAX)
		return NULL;
	s->buf[len] = '\0';
	k = mountinfo_submounts(s->buf, canon, s->rel, MOUNTINFO_SUBMOUNTS_MAX);
	if (k < 0)
		return NULL;
	s->n = (size_t)k;
	return TAKE_PTR(s);
}

/* The daemon's list for the host's / (spec->submounts): no read of
 * mountinfo on the start's path. */
static struct submounts *spec_submounts(const struct activator_spec *spec)
{
	struct submounts *s = malloc(sizeof(*s));

	if (!s)
		return NULL;
	for (s->n = 0; spec->submounts[s->n]; s->n++) {
		if (s->n == MOUNTINFO_SUBMOUNTS_MAX) {
			free(s);
			return NULL;
		}
		s->rel[s->n] = spec->submounts[s->n];
	}
	return s;
}

/* Each kept mount, with what is mounted below it, cloned onto its place;
 * one below another kept one came along with it. */
static int submounts_attach(struct activator_ctx *c, int root_fd, const struct submounts *s)
{
	for (size_t i = 0; i < s->n; i++) {
		_cleanup_close_ int src = -1;
		bool covered = false;
		int r;

		/* Below another kept one, or a second mount on the same place:
		 * the clone of the place brings what is on top. */
		for (size_t j = 0; j < s->n && !covered; j++)
			covered = j != i && mountinfo_path_below(s->rel[i], s->rel[j]) &&
				  (strlen(s->rel[j]) < strlen(s->rel[i]) || j < i);
		if (covered)
			continue;
		c->what = s->rel[i];
		/* As the mount point shows it on the host: the mount on top. */
		src = rootfs_open(root_fd, s->rel[i], O_PATH);
		if (src == -ENOENT || src == -ENOTDIR)
			continue; /* gone since mountinfo was read */
		if (src < 0)
			return src;
		r = rootfs_mount_bind(src, c->root_fd, s->rel[i], 0, -1);
		if (r < 0 && r != -ENOENT && r != -ENOTDIR)
			return r;
	}
	return 0;
}

/* Without the template after all: a copy of the daemon's mount namespace,
 * private (child_mount_private()), as the clone would have made it. */
static int rootfs_template_give_up(struct activator_ctx *c)
{
	if (unshare(CLONE_NEWNS) < 0)
		return -errno;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -errno;
	c->in_template = false;
	return 0;
}

/* The root directory (or the host's /, recursively, so that a separate
 * /usr comes along) as a detached copy moved onto the staging dir. This is
 * only in our mount namespace: the host never sees a mount there, so any
 * number of containers can share one staging directory. */
int rootfs_bind_root(struct activator_ctx *c)
{
	const struct activator_spec *spec = c->spec;
	const char *root = spec->root_directory ? spec->root_directory : "/";
	struct mount_attr private = {.propagation = MS_PRIVATE};
	_cleanup_free_ struct submounts *subs = NULL;
	_cleanup_close_ int host_root = -1, tree = -1;
	int fd, r;

	c->what = root;
	host_root = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (host_root < 0)
		return -errno;
	/* An idmapped root and the lower layer of an overlay take the whole
	 * tree at once, as does a host with more mounts than we list. */
	if (!spec->idmap_root && !spec->ephemeral)
		subs = spec->submounts && !spec->root_directory ? spec_submounts(spec)
								: root_submounts(host_root);
	tree = open_tree(host_root, "",
			 OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH |
			     (subs ? 0 : AT_RECURSIVE));
	/* EINVAL: the mounts below are locked to it (a daemon without
	 * privilege made the mount namespace in a user namespace of its
	 * own); they come along, and are unmounted where allowed. */
	if (tree < 0 && errno == EINVAL && subs) {
		free(TAKE_PTR(subs));
		tree =
		    open_tree(host_root, "",
			      OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
	}
	if (tree < 0)
		return -errno;
	/* Private before anything is attached to it: a clone of a shared
	 * mount (/ on a systemd host) joins its peer group, and what we
	 * mount on it would propagate to the host (and the host's later
	 * mounts to us). */
	if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &private, sizeof(private)) < 0)
		return -errno;
	/* The template needs every mount of the tree to be one we attach;
	 * otherwise the container's mount namespace is a copy of ours, as
	 * without a template. */
	if (c->in_template && !subs) {
		r = rootfs_template_give_up(c);
		if (r < 0)
			return r;
	}
	if (spec->idmap_root) {
		r = tree_idmap(spec, tree);
		if (r < 0)
			child_fail(c, STEP_IDMAP, r);
	}
	c->what = spec->staging_dir;
	if (spec->ephemeral)
		return rootfs_overlay(c, tree);
	if (c->in_template) {
		/* Detached until rootfs_pivot(): the fd is its root. */
		c->root_fd = TAKE_FD(tree);
	} else {
		if (move_mount(tree, "", AT_FDCWD, spec->staging_dir, MOVE_MOUNT_F_EMPTY_PATH) < 0)
			return -errno;
		/* Opened after the move: the fd is the new mount's root, not
		 * the directory beneath it. */
		fd = open(spec->staging_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		c->root_fd = fd;
	}
	if (subs) {
		r = submounts_attach(c, host_root, subs);
		if (r < 0)
			return r;
	}
	c->what = NULL;
	return 0;
}

/* Mounted over by rootfs_tmpfs()/rootfs_dev() or a fresh fs of their own
 * (api_dirs): a mount point below them is created there, later, not in
 * the root. */

static bool below_later_mount(const struct activator_spec *spec, const char *path)
{
	for (size_t i = 0; i < MOUNTINFO_API_DIRS; i++)
		if (mountinfo_path_below(path, mountinfo_api_dirs[i]))
			return true;
	for (size_t i = 0; i < spec->n_tmpfs; i++)
		if (mountinfo_path_below(path, spec->tmpfs[i].target) &&
		    !mountinfo_path_below(spec->tmpfs[i].target, path))
			return true;
	return false;
}

static bool source_is_dir(struct activator_ctx *c, const char *source)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (host_open_source(c, source, &fd) < 0 || fstat(fd, &st) < 0)
		return true; /* the bind itself fails, with the reason */
	c->what = NULL;
	return S_ISDIR(st.st_mode);
}

/* Every mount point that lives in the root itself is created now, while
 * the root may still be writable (rootfs_read_only() comes next). */
int rootfs_mountpoints(struct activator_ctx *c)
{
	const struct activator_spec *spec = c->spec;
	_cleanup_close_ int dir = -1;
	int r;

	/* The host's own / is never written to, read-only or not: a missing
	 * mount point there fails in rootfs_binds()/rootfs_tmpfs() instead. */
	if (!spec->root_directory)
		return 0;
	/* In the directory itself, before it is copied (and idmapped: we are
	 * the host's root, a uid the idmapping does not map, so we could not
	 * create anything through it). Confined to it by RESOLVE_IN_ROOT. */
	c->what = spec->root_directory;
	dir = open(spec->root_directory, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		child_fail(c, STEP_ROOTFS, -errno); /* the root itself, not a mount point */
	for (size_t i = 0; i < MOUNTINFO_API_DIRS; i++) {
		c->what = mountinfo_api_dirs[i];
		r = rootfs_mkdir_p(dir, mountinfo_api_dirs[i], false);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < spec->n_tmpfs; i++) {
		if (below_later_mount(spec, spec->tmpfs[i].target))
			continue;
		c->what = spec->tmpfs[i].target;
		r = rootfs_mkdir_p(dir, spec->tmpfs[i].target, false);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < spec->n_binds; i++) {
		bool is_dir;

		if (below_later_mount(spec, spec->binds[i].target))
			continue;
		is_dir = source_is_dir(c, spec->binds[i].source);
		c->what = spec->binds[i].target;
		r = rootfs_mkdir_p(dir, spec->binds[i].target, !is_dir);
		if (r < 0)
			return r;
	}
	c->what = NULL;
	return 0;
}

/* ReadOnly=yes: the whole copied tree, recursively, in one call. nosuid
 * and nodev, read-only or not: a setuid binary of the image is no way up
 * inside the container, and a setuid file the container makes in a writable
 * Directory= is no way up for a user of the host who runs it through our
 * mount (on the host's own mount of the tree it is the host's business, and
 * refused by the Directory= checks of the daemon). The tree is private
 * (child_mount_private()), so a mount that the host makes later does not
 * come in without these flags. The API mounts that follow are separate
 * mounts with their own flags. */
int rootfs_read_only(struct activator_ctx *c)
{
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV};

	if (c->spec->read_only)
		attr.attr_set |= MOUNT_ATTR_RDONLY;
	if (mount_setattr(c->root_fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
		return -errno;
	return 0;
}

/* Attaches the detached tree mnt at target (inside the root dir_fd). */
static int attach_tree(int mnt, int dir_fd, const char *target)
{
	_cleanup_close_ int dir = rootfs_open(dir_fd, target, O_PATH | O_DIRECTORY);

	if (dir < 0)
		return dir;
	if (move_mount(mnt, "", dir, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return -errno;
	return 0;
}

/* A mask, a read-only /proc directory, /sys: nothing to write, run or open
 * as a device. */
#define READ_ONLY_ATTRS                                                                            \
	(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC)

/* One empty read-only tmpfs masks every directory that needs it, in /proc
 * and /sys alike: nothing can be written to it (each of its mounts is
 * read-only), and each superblock more costs a setup and a teardown. Its
 * root, once attached, is kept here as the source of the next binds
 * (close-on-exec; child_fds() and pid 1's release close it too). */
static int empty_mask_fd = -1;

static int mask_dir(int dir_fd, const char *dir)
{
	int r;

	if (empty_mask_fd >= 0) {
		r = rootfs_mount_bind(empty_mask_fd, dir_fd, dir, READ_ONLY_ATTRS, -1);
		if (r >= 0 || r == -ENOENT)
			return r;
		/* Its tree is gone (a spare's /proc that failed after it was
		 * made): a tmpfs of its own, kept from now on. */
		empty_mask_fd = safe_close(empty_mask_fd);
	}
	r = rootfs_mount_fs(dir_fd, dir, "tmpfs", "mode=0555,size=4k", READ_ONLY_ATTRS);
	if (r < 0)
		return r;
	r = rootfs_open(dir_fd, dir, O_PATH | O_DIRECTORY);
	if (r < 0)
		return r;
	empty_mask_fd = r;
	return 0;
}

/* What reaches the host kernel directly in the proc at proc_fd (its root
 * directory, attached or not) is masked or read-only, as runc and Docker
 * do: files with /dev/null, directories with an empty read-only tmpfs;
 * /proc/sys and the other tunables read-only (a write to
 * /proc/irq/default_smp_affinity changed the host's). An entry this
 * kernel lacks is skipped. *what: the entry worked on. */
static int proc_mask(int proc_fd, const char **what)
{
	static const char *const masked_files[] = {PROC_MASKED_FILES};
	static const char *const masked_dirs[] = {PROC_MASKED_DIRS};
	static const char *const read_only[] = {PROC_READ_ONLY};
	const size_t skip = strlen("proc/");
	_cleanup_close_ int null_fd = -1;
	int r;

	null_fd = open("/dev/null", O_PATH | O_CLOEXEC);
	if (null_fd < 0)
		return -errno;
	for (size_t i = 0; i < ELEMENTSOF(masked_files); i++) {
		*what = masked_files[i];
		/* Not nodev: it is /dev/null, to be opened (and read: empty). */
		r = rootfs_mount_bind(null_fd, proc_fd, masked_files[i] + skip,
				      MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
				      -1);
		if (r < 0 && r != -ENOENT)
			return r;
	}
	for (size_t i = 0; i < ELEMENTSOF(masked_dirs); i++) {
		*what = masked_dirs[i];
		r = mask_dir(proc_fd, masked_dirs[i] + skip);
		if (r < 0 && r != -ENOENT)
			return r;
	}
	for (size_t i = 0; i < ELEMENTSOF(read_only); i++) {
		_cleanup_close_ int fd = -1;

		*what = read_only[i];
		fd = rootfs_open(proc_fd, read_only[i] + skip, O_PATH | O_DIRECTORY);
		if (fd == -ENOENT)
			continue;
		if (fd < 0)
			return fd;
		/* On itself: the directory is both the source and the target. */
		r = mount_bind_on(fd, fd, READ_ONLY_ATTRS, -1);
		if (r < 0)
			return r;
	}
	*what = NULL;
	return 0;
}

#define PROC_ATTRS (MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC)

/* A fresh file system, detached, with fill() done on it: its mount fd. */
static int fs_new_filled(const char *fstype, const char *options, unsigned int attrs,
			 int (*fill)(int fd))
{
	int mnt = rootfs_fs_new(fstype, options, attrs), r;

	if (mnt < 0)
		return mnt;
	r = fill(mnt);
	if (r < 0) {
		close(mnt);
		return r;
	}
	return mnt;
}

static int proc_mask_quiet(int proc_fd)
{
	const char *what;

	return proc_mask(proc_fd, &what);
}

int rootfs_proc_new(void)
{
	return fs_new_filled("proc", NULL, PROC_ATTRS, proc_mask_quiet);
}

/* Clears the API directory dir of the root for a file system of ours
 * (root_umount_all()), then attaches the tree a spare made for it, if
 * use_spare and there is one: 1 when attached. *spare_fd is closed either
 * way. */
static int api_dir_prepare(struct activator_ctx *c, const char *dir, int *spare_fd, bool use_spare)
{
	int r = root_umount_all(c->root_fd, dir);

	if (r >= 0 && use_spare && *spare_fd >= 0) {
		r = attach_tree(*spare_fd, c->root_fd, dir);
		if (r >= 0)
			r = 1;
	}
	*spare_fd = safe_close(*spare_fd);
	return r;
}

/* A proc of our own pid namespace (we are its pid 1): the container sees
 * only its own processes, and nothing of the host's kernel unmasked
 * (proc_mask()). A spare made it before the spec came. */
int rootfs_proc(struct activator_ctx *c)
{
	_cleanup_close_ int proc_fd = -1;
	int r;

	r = api_dir_prepare(c, "proc", &c->spare_proc_fd, !c->spec->proc_subset_pid);
	if (r != 0)
		return r < 0 ? r : 0;
	/* ProcSubset=pid: none of what is masked is there at all. */
	r = rootfs_mount_fs(c->root_fd, "proc", "proc",
			    c->spec->proc_subset_pid ? "subset=pid" : NULL, PROC_ATTRS);
	if (r < 0 || c->spec->proc_subset_pid)
		return r;
	proc_fd = rootfs_open(c->root_fd, "proc", O_PATH | O_DIRECTORY);
	if (proc_fd < 0)
		return proc_fd;
	return proc_mask(proc_fd, &c->what);
}

/* The firmware's tables (ACPI, EFI variables, DMI) are the host's. */
static int sys_mask(int dir_fd, const char *firmware)
{
	int r = mask_dir(dir_fd, firmware);

	return r == -ENOENT ? 0 : r;
}

static int sys_mask_detached(int sys_fd)
{
	return sys_mask(sys_fd, "firmware");
}

int rootfs_sys_new(void)
{
	return fs_new_filled("sysfs", NULL, READ_ONLY_ATTRS, sys_mask_detached);
}

/* A fresh sysfs, read-only: mounted from our network namespace it shows
 * only our interfaces (a bind of the host's /sys would show the host's).
 * Where sysfs cannot be mounted, an empty read-only tmpfs: programs that
 * probe /sys find nothing rather than the host's. A spare made it before
 * the spec, in the network namespace it made: used if that is still ours
 * (a start of Network=none). */
int rootfs_sys(struct activator_ctx *c)
{
	int r;

	r = api_dir_prepare(c, "sys", &c->spare_sys_fd, c->spare_netns);
	if (r != 0)
		return r < 0 ? r : 0;
	r = rootfs_mount_fs(c->root_fd, "sys", "sysfs", NULL, READ_ONLY_ATTRS);
	if (r < 0)
		return rootfs_mount_fs(c->root_fd, "sys", "tmpfs", "mode=0755,size=4k",
				       READ_ONLY_ATTRS);
	return sys_mask(c->root_fd, "sys/firmware");
}

/* A minimal /dev, not the host's: a few harmless character devices bound
 * from the host, a private devpts, /dev/shm, the usual symlinks. No other
 * device node is reachable. */
static int dev_fill(int dev_fd)
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
	int r;

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
		r = mount_bind_host(host, dev_fd, name);
		if (r < 0)
			return r;
	}

	/* newinstance: the container's ptys are its own, not the host's. */
	if (mkdirat(dev_fd, "pts", 0755) < 0)
		return -errno;
	r = rootfs_mount_fs(dev_fd, "pts", "devpts", "newinstance,ptmxmode=0666,mode=0620",
			    MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
	if (r < 0)
		return r;
	if (mkdirat(dev_fd, "shm", 0755) < 0)
		return -errno;
	/* 64M, as Docker: shared memory is the container's, and bounded, in
	 * bytes and in files (each costs the kernel an inode and a dentry,
	 * which no size= counts). */
	r = rootfs_mount_fs(dev_fd, "shm", "tmpfs", "mode=1777,size=64m,nr_inodes=64k",
			    MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ELEMENTSOF(links); i++)
		if (symlinkat(links[i].target, dev_fd, links[i].name) < 0)
			return -errno;
	return 0;
}

/* size=, nr_inodes=: the container must not fill memory through /dev
 * (a booted system adds a few symlinks; nothing else writes there). */
#define DEV_OPTIONS "mode=0755,size=64k,nr_inodes=4k"
#define DEV_ATTRS   (MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC)

int rootfs_dev_new(void)
{
	return fs_new_filled("tmpfs", DEV_OPTIONS, DEV_ATTRS, dev_fill);
}

/* The container's /dev (dev_fill()); a spare made it before the spec. */
int rootfs_dev(struct activator_ctx *c)
{
	_cleanup_close_ int dev_fd = -1;
	int r;

	r = api_dir_prepare(c, "dev", &c->spare_dev_fd, true);
	if (r != 0)
		return r < 0 ? r : 0;
	r = rootfs_mount_fs(c->root_fd, "dev", "tmpfs", DEV_OPTIONS, DEV_ATTRS);
	if (r < 0)
		return r;
	dev_fd = rootfs_open(c->root_fd, "dev", O_PATH | O_DIRECTORY);
	if (dev_fd < 0)
		return dev_fd;
	return dev_fill(dev_fd);
}

/* Options of a tmpfs the container owns: its limits first, so that the
 * options of TemporaryFileSystem= may raise them (tmpfs takes the last
 * size= and nr_inodes= given); with a user namespace, its root is not the
 * host's root that mounts it, so the owner is said explicitly (first too:
 * TemporaryFileSystem= may still change it). */
static const char *tmpfs_options(const struct activator_spec *spec, const char *options, char *buf,
				 size_t len)
{
	if (spec->userns_fd < 0)
		snprintf(buf, len, "%s,%s", TMPFS_LIMITS, options);
	else
		snprintf(buf, len, "uid=%u,gid=%u,%s,%s", (unsigned)spec->userns_root,
			 (unsigned)spec->userns_root, TMPFS_LIMITS, options);
	return buf;
}

#define TMPFS_ATTRS (MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)
#define TMP_OPTIONS "mode=1777"
#define RUN_OPTIONS "mode=0755"

int rootfs_tmpfs_new(int *ret_tmp_fd, int *ret_run_fd)
{
	*ret_tmp_fd = rootfs_fs_new("tmpfs", TMPFS_LIMITS "," TMP_OPTIONS, TMPFS_ATTRS);
	*ret_run_fd = rootfs_fs_new("tmpfs", TMPFS_LIMITS "," RUN_OPTIONS, TMPFS_ATTRS);
	return *ret_tmp_fd < 0 ? *ret_tmp_fd : *ret_run_fd < 0 ? *ret_run_fd : 0;
}

/* /tmp or /run: the spare's tmpfs, made the container root's (what uid=
 * and gid= would have said: its root directory's owner), or a new one. */
static int tmpfs_api_dir(struct activator_ctx *c, const char *dir, int *spare_fd,
			 const char *options)
{
	const struct activator_spec *spec = c->spec;
	char buf[ACTIVATOR_OPTIONS_MAX + TMPFS_OPTIONS_EXTRA];
	bool use = *spare_fd >= 0;
	int r;

	if (use && spec->userns_fd >= 0 &&
	    fchownat(*spare_fd, "", spec->userns_root, spec->userns_root, AT_EMPTY_PATH) < 0)
		use = false;
	r = api_dir_prepare(c, dir, spare_fd, use);
	if (r != 0)
		return r < 0 ? r : 0;
	return rootfs_mount_fs(c->root_fd, dir, "tmpfs",
			       tmpfs_options(spec, options, buf, sizeof(buf)), TMPFS_ATTRS);
}

/* Private, writable /tmp and /run even on a read-only root (and never the
 * host's), then TemporaryFileSystem=. */
int rootfs_tmpfs(struct activator_ctx *c)
{
	const struct activator_spec *spec = c->spec;
	char buf[ACTIVATOR_OPTIONS_MAX + TMPFS_OPTIONS_EXTRA];
	int r;

	r = tmpfs_api_dir(c, "tmp", &c->spare_tmp_fd, TMP_OPTIONS);
	if (r < 0)
		return r;
	r = tmpfs_api_dir(c, "run", &c->spare_run_fd, RUN_OPTIONS);
	if (r < 0)
		return r;
	for (size_t i = 0; i < spec->n_tmpfs; i++) {
		/* Mount points below /tmp, /run etc. are created now; in the
		 * host's / nowhere else. */
		if (spec->root_directory || below_later_mount(spec, spec->tmpfs[i].target)) {
			r = rootfs_mkdir_p(c->root_fd, spec->tmpfs[i].target, false);
			if (r < 0)
				return r;
		}
		c->what = spec->tmpfs[i].target;
		r = rootfs_mount_fs(
		    c->root_fd, spec->tmpfs[i].target, "tmpfs",
		    tmpfs_options(spec,
				  spec->tmpfs[i].options ? spec->tmpfs[i].options : "mode=0755",
				  buf, sizeof(buf)),
		    TMPFS_ATTRS);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Bind= and BindReadOnly=, recursively (submounts of the source come
 * along). A writable bind stays writable in a read-only root. nosuid and
 * nodev unless the bind asks for them; idmapped (":idmap") through the
 * service's user namespace, so that a file only the host's root may read
 * (a TLS key) is the container root's. */
int rootfs_binds(struct activator_ctx *c)
{
	const struct activator_spec *spec = c->spec;
	int r;

	for (size_t i = 0; i < spec->n_binds; i++) {
		const struct activator_bind *b = &spec->binds[i];
		_cleanup_close_ int src = -1;
		unsigned int attrs = 0;

		/* EEXIST for points made by rootfs_mountpoints(); a missing
		 * one in a read-only place fails here, with EROFS. In the
		 * host's / only our own tmpfs may get a new mount point. */
		c->what = b->target;
		if (spec->root_directory || below_later_mount(spec, b->target)) {
			bool is_dir = source_is_dir(c, b->source);

			c->what = b->target;
			r = rootfs_mkdir_p(c->root_fd, b->target, !is_dir);
			if (r < 0)
				return r;
		}
		c->what = b->source;
		r = host_open_source(c, b->source, &src);
		if (r < 0)
			return r;
		if (b->read_only)
			attrs |= MOUNT_ATTR_RDONLY;
		if (!b->allow_suid)
			attrs |= MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
		r = rootfs_mount_bind(src, c->root_fd, b->target, attrs,
				      b->idmap ? spec->userns_fd : -1);
		if (r < 0)
			return r;
	}
	c->what = NULL;
	return 0;
}

/*
 * nsinetd-init --mount-template: turns this process's new mount namespace
 * into the template (activator_mount_template_new()): private, and pivoted
 * into an empty read-only tmpfs, on whose root each container's tree is
 * stacked (rootfs_stack()). Copying it copies one mount. First checks
 * that a mount can be attached to a detached one (Linux 6.15), which a
 * container built against the template needs: -EOPNOTSUPP if not.
 */
int rootfs_template_make(void)
{
	const char *opts = "size=4k,nr_inodes=4,mode=0755";
	const unsigned int attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
	struct mount_attr ro = {.attr_set = MOUNT_ATTR_RDONLY};
	_cleanup_close_ int a = -1, b = -1, t = -1;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -errno;
	a = rootfs_fs_new("tmpfs", opts, attrs);
	b = rootfs_fs_new("tmpfs", opts, attrs);
	if (a < 0 || b < 0)
		return a < 0 ? a : b;
	if (mkdirat(a, "x", 0755) < 0)
		return -errno;
	if (move_mount(b, "", a, "x", MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return errno == EINVAL ? -EOPNOTSUPP : -errno;

	t = rootfs_fs_new("tmpfs", opts, attrs);
	if (t < 0)
		return t;
	if (mount_setattr(t, "", AT_EMPTY_PATH, &ro, sizeof(ro)) < 0 ||
	    move_mount(t, "", AT_FDCWD, "/", MOVE_MOUNT_F_EMPTY_PATH) < 0 || fchdir(t) < 0 ||
	    syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		return -errno;
	return 0;
}

/*
 * The tree, built detached in the daemon's mount namespace, becomes the root
 * of a copy of the template: stacked on the copy's own root, as
 * switch_root does, and made ours with chroot(".") there. No unmount, so no
 * RCU grace period on the start's path (one expedited, 0.1-0.4 ms here).
 * Nothing is above it: ".." at the tree's root leads to the template's
 * root, and the walk goes down at once into what is mounted on it, the
 * tree again (escape suite, "chroot out of the root"). The kernel counts
 * the process as not chrooted, since its root is what is mounted on the
 * namespace's root (current_chrooted(): a nested user namespace works), and
 * setns() into this namespace lands there too (the nsinetctl shell).
 * The namespace belongs to the initial user namespace, so the container's
 * root cannot unmount the tree to see the empty tmpfs below.
 */
static int rootfs_stack(struct activator_ctx *c)
{
	if (setns(c->spec->mount_template_fd, CLONE_NEWNS) < 0 || unshare(CLONE_NEWNS) < 0)
		return -errno;
	c->in_template = false;
	if (move_mount(c->root_fd, "", AT_FDCWD, "/", MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return -errno;
	if (fchdir(c->root_fd) < 0 || chroot(".") < 0 || chdir("/") < 0)
		return -errno;
	c->root_fd = safe_close(c->root_fd);
	return 0;
}

/* pivot_root(".", "."): the old root ends up stacked on the new one and is
 * detached right away, so no path leads back to the host's file system. */
int rootfs_pivot(struct activator_ctx *c)
{
	if (c->in_template)
		return rootfs_stack(c);
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
