/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A service's Image= or OCIBundle= (image.h): made ready at load, before
 * the service polls its listeners; compared at a reload. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/strv.h"
#include "supervisor/image.h"
#include "supervisor/manager.h"
#include "supervisor/rootdir.h"
#include "supervisor/service.h"

static void image_done_cb(void *userdata, int r, struct image_info *info, const char *why)
{
	struct service *s = userdata;
	const struct service_config *c = s->cfg;

	s->image_job = NULL;
	if (r >= 0 && !info->argv && !c->container.exec) {
		log_error("%s:%u: Image=%s: the image has no Entrypoint or Cmd: set Exec=", c->path,
			  c->container.image_line, c->container.image);
		info = image_info_free(info);
		r = -ENOEXEC;
	}
	if (r < 0) {
		/* A reload's new image: the running version stays, and the
		 * next reload tries again (its stamp is the old one). */
		bool keep = s->predecessor && !s->predecessor->dead;

		if (info == NULL && why)
			log_error("%s:%u: Image=%s: %s; %s", c->path, c->container.image_line,
				  c->container.image, why,
				  keep ? "keeping the running version" : "the service is disabled");
		if (keep)
			service_keep_predecessor(s);
		if (!s->removing)
			service_remove(s);
		manager_images_gc(s->manager);
		return;
	}
	s->image = info;
	/* The old version served while the image was made ready: it stops
	 * now (and hands over the listeners when it is gone). Accept=yes:
	 * its connections' sandboxes do not hold them, no need to wait. */
	if (s->predecessor && !s->predecessor->dead) {
		struct service *old = s->predecessor;

		if (!old->mode->holds_listeners)
			old->successor = s->predecessor = NULL;
		service_remove(old);
	}
	/* The predecessor of a reload, if any, hands over when it is gone. */
	if (!s->predecessor && s->state == SERVICE_WAITING)
		(void)service_set_state(s, SERVICE_STOPPED, "image ready");
	manager_images_gc(s->manager);
}

static int prepare_bundle(struct service *s)
{
	const struct service_config *c = s->cfg;
	char why[IMAGE_WHY_MAX], rwhy[ROOTDIR_WHY_MAX];
	int r;

	r = image_read_bundle(c->container.oci_bundle, &s->image, why, sizeof(why));
	if (r >= 0 && (r = rootdir_open(s->image->rootfs, NULL, rwhy, sizeof(rwhy))) < 0)
		snprintf(why, sizeof(why), "root.path %s: %s: %s", s->image->rootfs, rwhy,
			 strerror(-r));
	if (r >= 0 && !s->image->argv && !c->container.exec) {
		snprintf(why, sizeof(why), "config.json has no process.args: set Exec=");
		r = -ENOEXEC;
	}
	if (r < 0) {
		log_error("%s:%u: OCIBundle=%s: %s; the service is disabled", c->path,
			  c->container.image_line, c->container.oci_bundle, why);
		s->image = image_info_free(s->image);
		return r;
	}
	STRV_FOREACH (w, s->image->warnings)
		log_warning("%s:%u: OCIBundle=%s: config.json's %s is not applied", c->path,
			    c->container.image_line, c->container.oci_bundle, *w);
	return 0;
}

int service_image_prepare(struct service *s)
{
	const struct container_config *cc = &s->cfg->container;
	int r;

	if (!cc->image && !cc->oci_bundle)
		return 0;
	/* What a reload compares; unreadable now: the job says why. */
	(void)image_source_stamp(cc->image, cc->oci_bundle, &s->image_stamp);
	if (cc->oci_bundle)
		return prepare_bundle(s);
	if (!s->manager->images) {
		log_error("%s:%u: Image=%s: no cache for unpacked images (see the warning at "
			  "start); the service is disabled",
			  s->cfg->path, cc->image_line, cc->image);
		return -EOPNOTSUPP;
	}
	r = image_job_start(s->manager->images, s->cfg->name, cc->image, image_done_cb, s,
			    &s->image_job);
	if (r < 0)
		return log_errno(LOG_ERR, r, "%s:%u: Image=%s: cannot start", s->cfg->path,
				 cc->image_line, cc->image);
	return 0;
}

bool service_image_changed(struct service *s)
{
	const struct container_config *cc = &s->cfg->container;
	_cleanup_free_ char *stamp = NULL;
	int r;

	if (!cc->image && !cc->oci_bundle)
		return false;
	r = image_source_stamp(cc->image, cc->oci_bundle, &stamp);
	if (r < 0) {
		log_warning("%s: %s=%s cannot be read now (%s), keeping the running version",
			    s->cfg->name, cc->image ? "Image" : "OCIBundle",
			    cc->image ? cc->image : cc->oci_bundle, strerror(-r));
		return false;
	}
	if (s->image_stamp && strcmp(stamp, s->image_stamp) == 0)
		return false;
	log_info("%s: %s=%s changed on disk", s->cfg->name, cc->image ? "Image" : "OCIBundle",
		 cc->image ? cc->image : cc->oci_bundle);
	return true;
}
