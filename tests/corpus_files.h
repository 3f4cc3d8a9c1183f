/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Writing seed corpora: the programs that generate fuzz/corpus/<name> from
 * the encoders share these. Header-only; errors are printed with the
 * program's name and returned as -1. */
#ifndef TESTS_CORPUS_FILES_H
#define TESTS_CORPUS_FILES_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static inline int corpus_write_file(const char *prog, const char *dir,
				    const char *name, const uint8_t *buf,
				    size_t len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL) {
		fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
		return -1;
	}
	size_t n = fwrite(buf, 1, len, f);
	if (fclose(f) != 0 || n != len) {
		fprintf(stderr, "%s: %s: write failed\n", prog, path);
		return -1;
	}
	return 0;
}

static inline int corpus_make_dir(const char *prog, const char *dir)
{
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "%s: %s: %s\n", prog, dir, strerror(errno));
		return -1;
	}
	return 0;
}

#endif
