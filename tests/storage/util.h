/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Helpers shared by the storage tests: temporary folders, captured log
 * lines, entries with recognizable bytes, direct file surgery. */
#ifndef TESTS_STORAGE_UTIL_H
#define TESTS_STORAGE_UTIL_H

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/storage.h"

struct captured_log {
	char text[8192];
	int warnings;
};

static inline void capture_log(void *ctx, enum storage_log_level level,
			       const char *msg)
{
	struct captured_log *c = ctx;
	size_t used = strlen(c->text);
	snprintf(c->text + used, sizeof(c->text) - used, "%s\n", msg);
	if (level >= STORAGE_LOG_WARNING)
		c->warnings++;
}

static inline int rm_entry(const char *path, const struct stat *st, int flag,
			   struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static inline char *make_temp_dir(void)
{
	char tmpl[] = "/tmp/storage-test-XXXXXX";
	char *d = mkdtemp(tmpl);
	if (d == NULL)
		abort();
	char *out = malloc(strlen(d) + 8);
	if (out == NULL)
		abort();
	sprintf(out, "%s/data", d);
	return out;
}

static inline void remove_temp_dir(char *data_dir)
{
	char *slash = strrchr(data_dir, '/');
	*slash = '\0';
	rm_tree(data_dir);
	free(data_dir);
}

/* Entry bytes derived from index and term, so that any mix-up shows. */
static inline void entry_bytes(uint8_t *buf, uint32_t len, raft_index index,
			       raft_term term)
{
	for (uint32_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(index * 13 + term * 7 + i);
}

static inline uint32_t entry_len(raft_index index)
{
	return (uint32_t)((index * 37) % 200);
}

/* Appends entries from..to of term `term` in one batch. */
static inline int append_range(struct storage *s, raft_index from,
			       raft_index to, raft_term term)
{
	size_t n = (size_t)(to - from + 1);
	struct raft_entry *e = calloc(n, sizeof(*e));
	if (e == NULL)
		abort();
	for (size_t i = 0; i < n; i++) {
		raft_index idx = from + i;
		e[i].index = idx;
		e[i].term = term;
		e[i].type = RAFT_ENTRY_COMMAND;
		e[i].version = 1;
		e[i].len = entry_len(idx);
		e[i].data = malloc(e[i].len + 1);
		if (e[i].data == NULL)
			abort();
		entry_bytes(e[i].data, e[i].len, idx, term);
	}
	int rv = storage_append(s, e, n);
	for (size_t i = 0; i < n; i++)
		free(e[i].data);
	free(e);
	return rv;
}

static inline int entry_matches(const struct raft_entry *e, raft_index index,
				raft_term term)
{
	uint8_t buf[256];
	if (e->index != index || e->term != term || e->len != entry_len(index))
		return 0;
	entry_bytes(buf, e->len, index, term);
	return memcmp(buf, e->data, e->len) == 0;
}

static inline void test_config(struct raft_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->n = 2;
	cfg->servers[0].id = 1;
	cfg->servers[0].role = RAFT_VOTER;
	strcpy(cfg->servers[0].address, "127.0.0.1:7001");
	cfg->servers[1].id = 2;
	cfg->servers[1].role = RAFT_LEARNER;
	strcpy(cfg->servers[1].address, "127.0.0.1:7002");
}

static inline void file_path(char *out, const char *dir, const char *name)
{
	snprintf(out, 4096, "%s/%s", dir, name);
}

static inline long file_size_of(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return -1;
	return (long)st.st_size;
}

static inline void file_read(const char *path, void *buf, size_t len, long off)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0 || pread(fd, buf, len, off) != (ssize_t)len)
		abort();
	close(fd);
}

static inline void file_write(const char *path, const void *buf, size_t len,
			      long off)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0 || pwrite(fd, buf, len, off) != (ssize_t)len)
		abort();
	close(fd);
}

static inline void file_flip_bit(const char *path, long off, int bit)
{
	uint8_t b;
	file_read(path, &b, 1, off);
	b ^= (uint8_t)(1u << bit);
	file_write(path, &b, 1, off);
}

static inline void file_zero(const char *path, long off, size_t len)
{
	uint8_t *z = calloc(1, len ? len : 1);
	if (z == NULL)
		abort();
	file_write(path, z, len, off);
	free(z);
}

static inline void file_create(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || (len && write(fd, buf, len) != (ssize_t)len))
		abort();
	close(fd);
}

static inline void file_copy(const char *from, const char *to)
{
	long n = file_size_of(from);
	uint8_t *buf = malloc((size_t)n + 1);
	if (buf == NULL)
		abort();
	file_read(from, buf, (size_t)n, 0);
	file_create(to, buf, (size_t)n);
	free(buf);
}

#endif
