/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Image= and OCIBundle=: what an OCI image or runtime bundle gives a
 * service (its root, command, environment, working directory, user), and
 * the cache of unpacked images under STATE/images (docs/architecture.md,
 * "Images"). Layers and whiteouts are umoci's business, archives skopeo's:
 * both run as child processes watched by the loop, never on a
 * connection's path. What nsinetd reads itself (the layout's index.json, a
 * manifest, the image's config, a bundle's config.json) is bounded and
 * read without leaving its directory.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "supervisor/config.h"

struct event_base;

/* The most nsinetd reads of index.json, a manifest, a config. */
#define IMAGE_MAX_JSON (1024 * 1024)
#define IMAGE_WHY_MAX  4608

enum image_transport {
	IMAGE_LAYOUT,         /* /path/to/layout[:tag] */
	IMAGE_OCI_ARCHIVE,    /* oci-archive:PATH[:tag] */
	IMAGE_DOCKER_ARCHIVE, /* docker-archive:PATH */
};

struct image_ref {
	enum image_transport transport;
	char *path;
	char *tag; /* "latest" when none is given; NULL for docker-archive */
};

/* Parses an Image= value; 0, or -EINVAL with why, -ENOMEM. */
int image_ref_parse(const char *s, struct image_ref *ret, char *why, size_t why_len);
void image_ref_done(struct image_ref *ref);

/* What an image's config (or a bundle's config.json) says; NULL or empty:
 * it says nothing, the service's defaults apply. */
struct image_info {
	char *digest;        /* "sha256:HEX" of the manifest; NULL for a bundle */
	char *rootfs;        /* absolute */
	bool read_only_root; /* a bundle's root.readonly */
	char **argv;         /* Entrypoint + Cmd; process.args */
	char **env;
	char *working_directory;
	char *user;           /* a name or a number */
	char *group;          /* from "user:group" */
	char **exposed_ports; /* "80/tcp" */
	char **warnings;      /* a bundle's parts nsinetd does not apply */
};

struct image_info *image_info_free(struct image_info *i);

/* Reads an OCI image layout's index.json, the manifest tagged tag and its
 * config (synchronous, small files). 0 and *ret (no rootfs yet), or a
 * negative errno and why. */
int image_read_layout(const char *dir, const char *tag, struct image_info **ret, char *why,
		      size_t why_len);
/* Reads a runtime bundle's config.json: 0 and *ret with rootfs (root.path
 * below dir), or a negative errno and why. */
int image_read_bundle(const char *dir, struct image_info **ret, char *why, size_t why_len);
/* What a reload compares to tell whether an image changed on disk: a
 * layout's manifest digest, an archive's or config.json's identity
 * (device, inode, size, mtime). *ret is a string, or NULL if the source
 * cannot be read (then the reload tries again). */
int image_source_stamp(const char *image, const char *bundle, char **ret);

/* The cache: STATE/images/sha256-HEX/rootfs (umoci raw unpack: the layers)
 * and STATE/images/tmp (skopeo's layouts, unpacks under way, trees being
 * removed), and the child processes working on them. */
struct image_cache;
int image_cache_new(struct event_base *base, const char *state_dir, struct image_cache **ret);
/* Kills the children still running (and reaps them). */
struct image_cache *image_cache_free(struct image_cache *c);
/* Removes every unpacked tree whose digest is not in used (a strv),
 * from child processes; trees being unpacked are kept. */
void image_cache_gc(struct image_cache *c, char *const *used);

/* One image made ready for a service: converted (an archive), resolved,
 * unpacked unless cached, its user checked in its own /etc/passwd. done is
 * called once, from the loop, with 0 and the info (the callee owns it), or
 * a negative errno and why. Progress goes to the log, prefixed by name. */
struct image_job;
typedef void (*image_done_fn)(void *userdata, int r, struct image_info *info, const char *why);
int image_job_start(struct image_cache *c, const char *name, const char *image, image_done_fn done,
		    void *userdata, struct image_job **ret);
/* Cancels a job (done is not called); its children are killed. */
struct image_job *image_job_cancel(struct image_job *j);

/* nsinetd --check: a layout's or bundle's errors on err ("FILE:LINE:
 * Image=…: why", then -errno), and hints on out: ExposedPorts that no
 * Listen*= matches, a bundle's parts that are not applied. An archive is
 * only read at load. */
int image_check(const struct service_config *c, FILE *out, FILE *err);
