/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Snapshots: "snap-<index>" files holding a checksummed header, the state
 * machine's bytes and the configuration at that index. Written to a
 * temporary file, fsynced, renamed, folder fsynced; only then are older
 * snapshots removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raft/storage/internal.h"

#define RECV_TMP_NAME "snap-recv.tmp"
#define COPY_CHUNK 65536u
#define CONFIG_MAX_BYTES                                                       \
	(1u + RAFT_CLUSTER_ID_LEN + 2u +                                       \
	 RAFT_MAX_SERVERS * (8u + RAFT_ADDRESS_MAX))

static bool is_no_space(int neg_errno)
{
	return neg_errno == -ENOSPC || neg_errno == -EDQUOT;
}

static int write_all(struct storage *s, int fd, const char *path,
		     const void *buf, uint64_t len, uint64_t off)
{
	const uint8_t *p = buf;
	while (len > 0) {
		size_t n = len > (1u << 30) ? (1u << 30) : (size_t)len;
		ssize_t w = s->vfs->pwrite(s->vfs->ctx, fd, p, n, off);
		if (w != (ssize_t)n)
			return storage_fail(
			    s, "%s: write at offset %llu failed: %s", path,
			    (unsigned long long)off,
			    w < 0 ? storage_io_strerror((int)w)
				  : "short write");
		p += n;
		off += n;
		len -= n;
	}
	return STORAGE_OK;
}

/* Renames the complete, fsynced temporary file into place, makes the name
 * durable and only then forgets the older snapshot. */
static int install_file(struct storage *s, const char *tmp_name,
			raft_index index, raft_term term, uint64_t size,
			const struct raft_config *config)
{
	char name[STORAGE_NAME_MAX], from[STORAGE_PATH_MAX],
	    to[STORAGE_PATH_MAX];
	storage_snapshot_name(index, name);
	storage_path(s, tmp_name, from);
	storage_path(s, name, to);
	int rv = s->vfs->rename(s->vfs->ctx, from, to);
	if (rv < 0)
		return storage_fail(s, "%s: rename to %s failed: %s", from, to,
				    storage_io_strerror(rv));
	rv = s->vfs->dir_sync(s->vfs->ctx, s->dir);
	if (rv < 0)
		return storage_fail(s, "%s: directory fsync failed: %s", s->dir,
				    storage_io_strerror(rv));
	raft_index old = s->snap_index;
	if (s->snap_fd >= 0) {
		s->vfs->close(s->vfs->ctx, s->snap_fd);
		s->snap_fd = -1;
	}
	s->snap_index = index;
	s->snap_term = term;
	s->snap_size = size;
	s->snap_config = *config;
	if (old != 0 && old != index) {
		char old_name[STORAGE_NAME_MAX];
		storage_snapshot_name(old, old_name);
		rv = storage_remove_durably(s, old_name);
		if (rv != STORAGE_OK)
			return rv;
	}
	return STORAGE_OK;
}

static int encode_config(struct storage *s, const struct raft_config *config,
			 uint8_t **out, uint32_t *len)
{
	if (config == NULL || config->n == 0 || config->n > RAFT_MAX_SERVERS)
		return storage_error(s, STORAGE_EINVAL,
				     "snapshot: missing or bad configuration");
	size_t n = raft_config_encoded_size(config);
	uint8_t *buf = malloc(n);
	if (buf == NULL)
		return storage_error(s, STORAGE_ENOMEM,
				     "snapshot: out of memory");
	raft_config_encode(config, buf);
	*out = buf;
	*len = (uint32_t)n;
	return STORAGE_OK;
}

/* Opens (creating, truncating) a temporary snapshot file and reserves
 * `reserve` bytes; ENOSPC is reported as such and leaves nothing behind. */
static int open_tmp(struct storage *s, const char *tmp_name, uint64_t reserve,
		    int *fd_out)
{
	char path[STORAGE_PATH_MAX];
	storage_path(s, tmp_name, path);
	int fd = s->vfs->open(s->vfs->ctx, path, O_RDWR | O_CREAT | O_TRUNC);
	if (fd < 0) {
		if (is_no_space(fd))
			return storage_error(s, STORAGE_ENOSPC,
					     "%s: no space left for a snapshot",
					     path);
		return storage_fail(s, "%s: cannot create: %s", path,
				    storage_io_strerror(fd));
	}
	if (reserve > 0) {
		int rv = s->vfs->fallocate(s->vfs->ctx, fd, 0, reserve);
		if (rv < 0) {
			s->vfs->close(s->vfs->ctx, fd);
			s->vfs->unlink(s->vfs->ctx, path);
			if (is_no_space(rv))
				return storage_error(
				    s, STORAGE_ENOSPC,
				    "%s: no space left for a snapshot of "
				    "%llu bytes",
				    path, (unsigned long long)reserve);
			return storage_fail(s, "%s: preallocation failed: %s",
					    path, storage_io_strerror(rv));
		}
	}
	*fd_out = fd;
	return STORAGE_OK;
}

/* Writes header and configuration around data already at its place, then
 * fsyncs and closes the file. */
static int finish_tmp(struct storage *s, int fd, const char *tmp_name,
		      raft_index index, raft_term term, uint64_t data_len,
		      uint32_t data_crc, const uint8_t *cfg, uint32_t cfg_len)
{
	char path[STORAGE_PATH_MAX];
	storage_path(s, tmp_name, path);
	struct storage_snapshot_header h = {
	    .format = STORAGE_FORMAT,
	    .index = index,
	    .term = term,
	    .data_len = data_len,
	    .config_len = cfg_len,
	    .crc = storage_crc32(data_crc, cfg, cfg_len),
	};
	uint8_t hdr[STORAGE_SNAPSHOT_HEADER_SIZE];
	storage_snapshot_header_encode(&h, hdr);
	uint64_t cfg_off = STORAGE_SNAPSHOT_HEADER_SIZE + data_len;
	int rv = write_all(s, fd, path, cfg, cfg_len, cfg_off);
	if (rv == STORAGE_OK)
		rv = write_all(s, fd, path, hdr, sizeof(hdr), 0);
	if (rv != STORAGE_OK)
		return rv;
	int frv = s->vfs->ftruncate(s->vfs->ctx, fd, cfg_off + cfg_len);
	if (frv == 0)
		frv = s->vfs->fsync(s->vfs->ctx, fd);
	if (frv < 0)
		return storage_fail(s, "%s: fsync failed: %s", path,
				    storage_io_strerror(frv));
	return STORAGE_OK;
}

int storage_snapshot_write(struct storage *s, raft_index index, raft_term term,
			   const struct raft_config *config, const void *data,
			   uint64_t len)
{
	int rv = storage_check_usable(s);
	if (rv != STORAGE_OK)
		return rv;
	if (index <= s->snap_index || term == 0 || (len > 0 && data == NULL))
		return storage_error(s, STORAGE_EINVAL,
				     "snapshot at %llu: not after the current "
				     "snapshot %llu, or bad arguments",
				     (unsigned long long)index,
				     (unsigned long long)s->snap_index);
	if (storage_term_at(s, index) != term)
		return storage_error(s, STORAGE_EINVAL,
				     "snapshot at %llu term %llu: the log has "
				     "no such entry",
				     (unsigned long long)index,
				     (unsigned long long)term);
	uint8_t *cfg;
	uint32_t cfg_len;
	rv = encode_config(s, config, &cfg, &cfg_len);
	if (rv != STORAGE_OK)
		return rv;
	char tmp_name[STORAGE_NAME_MAX + 8], path[STORAGE_PATH_MAX];
	storage_snapshot_name(index, tmp_name);
	strcat(tmp_name, ".tmp");
	storage_path(s, tmp_name, path);
	int fd;
	rv = open_tmp(s, tmp_name, STORAGE_SNAPSHOT_HEADER_SIZE + len + cfg_len,
		      &fd);
	if (rv != STORAGE_OK)
		goto out;
	rv = write_all(s, fd, path, data, len, STORAGE_SNAPSHOT_HEADER_SIZE);
	if (rv == STORAGE_OK)
		rv = finish_tmp(s, fd, tmp_name, index, term, len,
				storage_crc32(0, data, (size_t)len), cfg,
				cfg_len);
	s->vfs->close(s->vfs->ctx, fd);
	if (rv == STORAGE_OK)
		rv = install_file(s, tmp_name, index, term, len, config);
out:
	free(cfg);
	return rv;
}

static void recv_abort(struct storage *s)
{
	char path[STORAGE_PATH_MAX];
	if (s->recv_fd >= 0)
		s->vfs->close(s->vfs->ctx, s->recv_fd);
	s->recv_fd = -1;
	storage_path(s, RECV_TMP_NAME, path);
	s->vfs->unlink(s->vfs->ctx, path);
}

/* Checksum of the received data, read back from the file. */
static int recv_crc(struct storage *s, uint32_t *crc)
{
	uint8_t *buf = malloc(COPY_CHUNK);
	if (buf == NULL)
		return storage_error(s, STORAGE_ENOMEM,
				     "snapshot: out of memory");
	uint32_t c = 0;
	uint64_t off = 0;
	int rv = STORAGE_OK;
	while (off < s->recv_end) {
		size_t n = s->recv_end - off > COPY_CHUNK
			       ? COPY_CHUNK
			       : (size_t)(s->recv_end - off);
		ssize_t r = s->vfs->pread(s->vfs->ctx, s->recv_fd, buf, n,
					  STORAGE_SNAPSHOT_HEADER_SIZE + off);
		if (r != (ssize_t)n) {
			rv = storage_fail(
			    s,
			    "%s/%s: read back at offset %llu "
			    "failed: %s",
			    s->dir, RECV_TMP_NAME, (unsigned long long)off,
			    r < 0 ? storage_io_strerror((int)r) : "short read");
			break;
		}
		c = storage_crc32(c, buf, n);
		off += n;
	}
	free(buf);
	*crc = c;
	return rv;
}

static int recv_finish(struct storage *s, const struct raft_config *config)
{
	uint8_t *cfg;
	uint32_t cfg_len;
	int rv = encode_config(s, config, &cfg, &cfg_len);
	if (rv != STORAGE_OK)
		return rv;
	uint32_t crc = 0;
	rv = recv_crc(s, &crc);
	if (rv == STORAGE_OK)
		rv = finish_tmp(s, s->recv_fd, RECV_TMP_NAME, s->recv_index,
				s->recv_term, s->recv_end, crc, cfg, cfg_len);
	free(cfg);
	s->vfs->close(s->vfs->ctx, s->recv_fd);
	s->recv_fd = -1;
	if (rv != STORAGE_OK)
		return rv;
	raft_index index = s->recv_index;
	raft_term term = s->recv_term;
	bool keep_log = storage_term_at(s, index) == term;
	rv = install_file(s, RECV_TMP_NAME, index, term, s->recv_end, config);
	if (rv != STORAGE_OK)
		return rv;
	/* Raft section 7: a log that holds the snapshot's last entry keeps
	 * what follows it; any other log is discarded. */
	if (!keep_log)
		rv = storage_drop_tail_segments(s, 1);
	return rv;
}

int storage_snapshot_chunk(struct storage *s,
			   const struct raft_snapshot_chunk *c)
{
	int rv = storage_check_usable(s);
	if (rv != STORAGE_OK)
		return rv;
	if (c == NULL || c->index == 0 || c->term == 0 ||
	    (c->len > 0 && c->data == NULL) || c->offset > (UINT64_MAX >> 2))
		return storage_error(s, STORAGE_EINVAL,
				     "snapshot chunk: bad arguments");
	if (c->index <= s->snap_index)
		return storage_error(s, STORAGE_EINVAL,
				     "snapshot chunk for index %llu: not "
				     "newer than the snapshot at %llu",
				     (unsigned long long)c->index,
				     (unsigned long long)s->snap_index);
	if (c->offset == 0) {
		if (s->recv_fd >= 0) {
			s->vfs->close(s->vfs->ctx, s->recv_fd);
			s->recv_fd = -1;
		}
		rv = open_tmp(s, RECV_TMP_NAME, 0, &s->recv_fd);
		if (rv != STORAGE_OK)
			return rv;
		s->recv_index = c->index;
		s->recv_term = c->term;
		s->recv_end = 0;
	} else if (s->recv_fd < 0 || s->recv_index != c->index ||
		   s->recv_term != c->term) {
		return storage_error(s, STORAGE_EINVAL,
				     "snapshot chunk at offset %llu for "
				     "%llu/%llu continues no snapshot being "
				     "received",
				     (unsigned long long)c->offset,
				     (unsigned long long)c->index,
				     (unsigned long long)c->term);
	}
	if (c->len > 0) {
		ssize_t w =
		    s->vfs->pwrite(s->vfs->ctx, s->recv_fd, c->data, c->len,
				   STORAGE_SNAPSHOT_HEADER_SIZE + c->offset);
		if (w != (ssize_t)c->len) {
			if (w < 0 && is_no_space((int)w)) {
				recv_abort(s);
				return storage_error(
				    s, STORAGE_ENOSPC,
				    "%s/%s: no space left for the incoming "
				    "snapshot",
				    s->dir, RECV_TMP_NAME);
			}
			return storage_fail(
			    s, "%s/%s: write at offset %llu failed: %s", s->dir,
			    RECV_TMP_NAME, (unsigned long long)c->offset,
			    w < 0 ? storage_io_strerror((int)w)
				  : "short write");
		}
		if (c->offset + c->len > s->recv_end)
			s->recv_end = c->offset + c->len;
	}
	if (!c->last)
		return STORAGE_OK;
	return recv_finish(s, c->config);
}

static int snap_open(struct storage *s)
{
	if (s->snap_fd >= 0)
		return STORAGE_OK;
	char name[STORAGE_NAME_MAX], path[STORAGE_PATH_MAX];
	storage_snapshot_name(s->snap_index, name);
	storage_path(s, name, path);
	int fd = s->vfs->open(s->vfs->ctx, path, O_RDONLY);
	if (fd < 0)
		return storage_error(s, STORAGE_EIO, "%s: cannot open: %s",
				     path, storage_io_strerror(fd));
	s->snap_fd = fd;
	return STORAGE_OK;
}

int storage_snapshot_read(struct storage *s, uint64_t offset, void *buf,
			  size_t len, size_t *got)
{
	*got = 0;
	int rv = storage_check_usable(s);
	if (rv != STORAGE_OK)
		return rv;
	if (s->snap_index == 0)
		return storage_error(s, STORAGE_ENOENT, "no snapshot");
	if (offset >= s->snap_size || len == 0)
		return STORAGE_OK;
	rv = snap_open(s);
	if (rv != STORAGE_OK)
		return rv;
	size_t n =
	    s->snap_size - offset < len ? (size_t)(s->snap_size - offset) : len;
	ssize_t r = s->vfs->pread(s->vfs->ctx, s->snap_fd, buf, n,
				  STORAGE_SNAPSHOT_HEADER_SIZE + offset);
	if (r != (ssize_t)n)
		return storage_error(s, STORAGE_EIO,
				     "snapshot %llu: read at offset %llu "
				     "failed: %s",
				     (unsigned long long)s->snap_index,
				     (unsigned long long)offset,
				     r < 0 ? storage_io_strerror((int)r)
					   : "short read");
	*got = n;
	return STORAGE_OK;
}

int storage_snapshot_verify(struct storage *s, const char *name,
			    raft_index expect_index,
			    struct storage_snapshot_header *h,
			    struct raft_config *config)
{
	char path[STORAGE_PATH_MAX], why[STORAGE_WHY_MAX];
	storage_path(s, name, path);
	int fd = s->vfs->open(s->vfs->ctx, path, O_RDONLY);
	if (fd < 0)
		return storage_error(s, STORAGE_ECORRUPT, "%s: cannot open: %s",
				     path, storage_io_strerror(fd));
	uint8_t *buf = malloc(COPY_CHUNK);
	int rv;
	if (buf == NULL) {
		rv = storage_error(s, STORAGE_ENOMEM, "out of memory");
		goto out;
	}
	uint64_t size;
	int frv = s->vfs->file_size(s->vfs->ctx, fd, &size);
	if (frv < 0) {
		rv = storage_error(s, STORAGE_ECORRUPT, "%s: cannot stat: %s",
				   path, storage_io_strerror(frv));
		goto out;
	}
	ssize_t r = s->vfs->pread(s->vfs->ctx, fd, buf,
				  STORAGE_SNAPSHOT_HEADER_SIZE, 0);
	rv = storage_snapshot_header_decode(buf, r < 0 ? 0 : (size_t)r, h, why);
	if (rv != STORAGE_OK) {
		rv = storage_error(s, rv, "%s: offset 0: %s", path, why);
		goto out;
	}
	if (h->index != expect_index) {
		rv = storage_error(s, STORAGE_ECORRUPT,
				   "%s: offset 16: header says index %llu",
				   path, (unsigned long long)h->index);
		goto out;
	}
	if (h->config_len > CONFIG_MAX_BYTES ||
	    size !=
		STORAGE_SNAPSHOT_HEADER_SIZE + h->data_len + h->config_len) {
		rv = storage_error(
		    s, STORAGE_ECORRUPT,
		    "%s: file is %llu bytes, header says %llu + %llu + %u",
		    path, (unsigned long long)size,
		    (unsigned long long)STORAGE_SNAPSHOT_HEADER_SIZE,
		    (unsigned long long)h->data_len, h->config_len);
		goto out;
	}
	uint32_t crc = 0;
	uint64_t off = STORAGE_SNAPSHOT_HEADER_SIZE;
	uint64_t cfg_off = off + h->data_len;
	uint8_t cfg[CONFIG_MAX_BYTES];
	while (off < size) {
		size_t n =
		    size - off > COPY_CHUNK ? COPY_CHUNK : (size_t)(size - off);
		r = s->vfs->pread(s->vfs->ctx, fd, buf, n, off);
		if (r != (ssize_t)n) {
			rv = storage_error(s, STORAGE_ECORRUPT,
					   "%s: offset %llu: read failed: %s",
					   path, (unsigned long long)off,
					   r < 0 ? storage_io_strerror((int)r)
						 : "short read");
			goto out;
		}
		crc = storage_crc32(crc, buf, n);
		/* Collect the configuration bytes as they pass. */
		uint64_t lo = off > cfg_off ? off : cfg_off;
		if (lo < off + n)
			memcpy(cfg + (lo - cfg_off), buf + (lo - off),
			       (size_t)(off + n - lo));
		off += n;
	}
	if (crc != h->crc) {
		rv = storage_error(
		    s, STORAGE_ECORRUPT,
		    "%s: offset %u: checksum mismatch over the "
		    "snapshot's %llu bytes",
		    path, STORAGE_SNAPSHOT_HEADER_SIZE,
		    (unsigned long long)(size - STORAGE_SNAPSHOT_HEADER_SIZE));
		goto out;
	}
	if (raft_config_decode(cfg, h->config_len, config) != RAFT_OK) {
		rv = storage_error(s, STORAGE_ECORRUPT,
				   "%s: offset %llu: undecodable configuration",
				   path, (unsigned long long)cfg_off);
		goto out;
	}
	rv = STORAGE_OK;
out:
	free(buf);
	s->vfs->close(s->vfs->ctx, fd);
	return rv;
}
