/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "scan.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SCAN_CHUNK      65536
#define SCAN_OVERLAP    256                 /* longer than any secret */
#define SCAN_FILE_MAX   (1024 * 1024)       /* bytes read of one file */
#define SCAN_REGION_MAX (64 * 1024 * 1024)  /* larger regions are skipped */
#define SCAN_MEM_MAX    (256 * 1024 * 1024) /* bytes read of one process */
#define SCAN_PIDS_MAX   64

/* One place (a file, a process's memory): which secrets it has shown. */
struct place {
	const struct scan *s;
	const char *path;
	bool seen[SCAN_SECRETS_MAX];
};

static void place_search(struct place *p, const char *data, size_t len, uint64_t address)
{
	for (size_t i = 0; i < p->s->n_secrets; i++) {
		const char *hit;
		char where[256];

		if (p->seen[i])
			continue;
		hit = memmem(data, len, p->s->secrets[i], strlen(p->s->secrets[i]));
		if (!hit)
			continue;
		p->seen[i] = true;
		if (address)
			snprintf(where, sizeof(where), "%s @0x%llx", p->path,
				 (unsigned long long)(address + (uint64_t)(hit - data)));
		else
			snprintf(where, sizeof(where), "%s", p->path);
		p->s->found(p->s->userdata, where, i);
	}
}

/*
 * Reads [offset, offset+len) of fd with pread, in chunks that overlap by
 * SCAN_OVERLAP bytes so that no secret is cut in two; address is what
 * offset means in memory (0 for a file). Stops at the first error or EOF.
 */
static uint64_t place_read(struct place *p, int fd, uint64_t offset, uint64_t len, uint64_t address)
{
	static char buf[SCAN_OVERLAP + SCAN_CHUNK];
	size_t keep = 0; /* carried over from the previous chunk, at buf's start */
	uint64_t total = 0;

	while (total < len) {
		size_t want = len - total < SCAN_CHUNK ? (size_t)(len - total) : SCAN_CHUNK;
		ssize_t n = pread(fd, buf + keep, want, (off_t)(offset + total));
		size_t have;

		if (n <= 0)
			break;
		have = keep + (size_t)n;
		place_search(p, buf, have, address ? address + total - keep : 0);
		total += (uint64_t)n;
		keep = have < SCAN_OVERLAP ? have : SCAN_OVERLAP;
		memmove(buf, buf + have - keep, keep);
	}
	return total;
}

static void scan_file(const struct scan *s, const char *path)
{
	struct place p = {.s = s, .path = path};
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0)
		return;
	s->opened(s->userdata, path);
	(void)place_read(&p, fd, 0, SCAN_FILE_MAX, 0);
	close(fd);
}

/* Another process's memory: every readable region its maps lists. */
static void scan_mem(const struct scan *s, int pid)
{
	char maps_path[64], mem_path[64], line[512];
	struct place p = {.s = s, .path = mem_path};
	uint64_t total = 0;
	FILE *maps;
	int fd;

	snprintf(maps_path, sizeof(maps_path), "/proc/%d/maps", pid);
	snprintf(mem_path, sizeof(mem_path), "/proc/%d/mem", pid);
	fd = open(mem_path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		s->opened(s->userdata, mem_path);
	maps = fopen(maps_path, "re");
	if (!maps) {
		if (fd >= 0)
			close(fd);
		return;
	}
	s->opened(s->userdata, maps_path);
	while (fd >= 0 && total < SCAN_MEM_MAX && fgets(line, sizeof(line), maps)) {
		unsigned long long start, end;
		char perms[8];

		if (sscanf(line, "%llx-%llx %7s", &start, &end, perms) != 3 || perms[0] != 'r' ||
		    end <= start || end - start > SCAN_REGION_MAX)
			continue;
		total += place_read(&p, fd, start, end - start, start);
	}
	fclose(maps);
	if (fd >= 0)
		close(fd);
}

bool scan_is_numeric(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/* Regular files on our own fds: a config file or log of the daemon's
 * that leaked would be here. */
static void scan_own_fds(const struct scan *s)
{
	char path[64];
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int fds[256], n = 0;

	if (!d)
		return;
	while ((de = readdir(d)) && n < 256)
		if (scan_is_numeric(de->d_name) && atoi(de->d_name) != dirfd(d))
			fds[n++] = atoi(de->d_name);
	closedir(d);
	for (int i = 0; i < n; i++) {
		struct stat st;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fds[i]);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			scan_file(s, path);
	}
}

void scan_run(const struct scan *s)
{
	char path[64];
	int pids[SCAN_PIDS_MAX], n = 0;
	DIR *d = opendir("/proc");
	struct dirent *de;

	scan_file(s, "/proc/self/environ");
	scan_own_fds(s);
	if (!d)
		return;
	while ((de = readdir(d)) && n < SCAN_PIDS_MAX)
		if (scan_is_numeric(de->d_name))
			pids[n++] = atoi(de->d_name);
	closedir(d);
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/proc/%d/environ", pids[i]);
		scan_file(s, path);
		snprintf(path, sizeof(path), "/proc/%d/cmdline", pids[i]);
		scan_file(s, path);
		if (pids[i] != (int)getpid())
			scan_mem(s, pids[i]);
	}
}
