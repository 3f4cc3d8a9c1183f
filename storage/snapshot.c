/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Snapshots: "snap-<index>" files holding a checksummed header, the state
 * machine's bytes and the configuration at that index. Written to a
 * temporary file, fsynced, renamed, folder fsynced; only then are older
 * snapshots removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/internal.h"

#define RECV_TMP_NAME "snap-recv.tmp"
#define COPY_CHUNK 65536u
#define CONFIG_MAX_BYTES                                                       \
	(1u + RAFT_CLUSTER_ID_LEN + 2u +                                       \
	 RAFT_MAX_SERVERS * (8u + RAFT_ADDRESS_MAX))

static bool is_no_space(int neg_errno)
{
	return neg_errno == -ENOSPC || neg_errno == -EDQUOT;
}

/* A temporary snapshot file being written. It touches only the folder's
 * name and the file operations, never the rest of the storage, so that a
 * thread of its own may fill it while the log is appended to. Its first
 * error is kept here and charged to the storage on the storage's thread. */
struct snap_file {
	const struct storage_vfs *vfs;
	const char *dir;
	char name[STORAGE_NAME_MAX + 8];
	char path[STORAGE_PATH_MAX];
	int fd;
	int result;
	bool fatal; /* an I/O error: the storage stops when it is charged */
	char errmsg[STORAGE_MSG_MAX];
};

static int file_error(struct snap_file *f, int code, bool fatal,
		      const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int file_error(struct snap_file *f, int code, bool fatal,
		      const char *fmt, ...)
{
	if (f->result != STORAGE_OK)
		return f->result;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->errmsg, sizeof(f->errmsg), fmt, ap);
	va_end(ap);
	f->result = code;
	f->fatal = fatal;
	return code;
}

/* Reports a file's error through the storage (on the storage's thread). */
static int file_charge(struct storage *s, const struct snap_file *f)
{
	if (f->result == STORAGE_OK)
		return STORAGE_OK;
	if (f->fatal)
		return storage__fail(s, "%s", f->errmsg);
	return storage_error(s, f->result, "%s", f->errmsg);
}

static void file_init(struct snap_file *f, const struct storage *s,
		      const char *name, int fd)
{
	memset(f, 0, sizeof(*f));
	f->vfs = s->vfs;
	f->dir = s->dir;
	snprintf(f->name, sizeof(f->name), "%s", name);
	storage__path(s, name, f->path);
	f->fd = fd;
}

static int file_write(struct snap_file *f, const void *buf, uint64_t len,
		      uint64_t off)
{
	const uint8_t *p = buf;
	while (len > 0) {
		size_t n = len > (1u << 30) ? (1u << 30) : (size_t)len;
		ssize_t w = f->vfs->pwrite(f->vfs->ctx, f->fd, p, n, off);
		if (w != (ssize_t)n) {
			if (w < 0 && is_no_space((int)w))
				return file_error(f, STORAGE_ENOSPC, false,
						  "%s: no space left for a "
						  "snapshot",
						  f->path);
			return file_error(f, STORAGE_EIO, true,
					  "%s: write at offset %llu failed: %s",
					  f->path, (unsigned long long)off,
					  w < 0 ? storage__io_strerror((int)w)
						: "short write");
		}
		p += n;
		off += n;
		len -= n;
	}
	return STORAGE_OK;
}

/* Opens (creating, truncating) the file and reserves `reserve` bytes;
 * running out of space is reported as such and leaves nothing behind. */
static int file_open(struct snap_file *f, uint64_t reserve)
{
	int fd = f->vfs->open(f->vfs->ctx, f->path, O_RDWR | O_CREAT | O_TRUNC);
	if (fd < 0) {
		if (is_no_space(fd))
			return file_error(f, STORAGE_ENOSPC, false,
					  "%s: no space left for a snapshot",
					  f->path);
		return file_error(f, STORAGE_EIO, true, "%s: cannot create: %s",
				  f->path, storage__io_strerror(fd));
	}
	if (reserve > 0) {
		int rv = f->vfs->fallocate(f->vfs->ctx, fd, 0, reserve);
		if (rv < 0) {
			f->vfs->close(f->vfs->ctx, fd);
			f->vfs->unlink(f->vfs->ctx, f->path);
			if (is_no_space(rv))
				return file_error(
				    f, STORAGE_ENOSPC, false,
				    "%s: no space left for a snapshot of "
				    "%llu bytes",
				    f->path, (unsigned long long)reserve);
			return file_error(f, STORAGE_EIO, true,
					  "%s: preallocation failed: %s",
					  f->path, storage__io_strerror(rv));
		}
	}
	/* The new name durable before the rename that moves it: else a crash
	 * could keep the rename but not the creation, and the rename would
	 * take an older file of the same name (one removed, not yet durably)
	 * into place. */
	int rv = f->vfs->dir_sync(f->vfs->ctx, f->dir);
	if (rv < 0) {
		f->vfs->close(f->vfs->ctx, fd);
		return file_error(f, STORAGE_EIO, true,
				  "%s: directory fsync failed: %s", f->dir,
				  storage__io_strerror(rv));
	}
	f->fd = fd;
	return STORAGE_OK;
}

/* Writes header and configuration around data already at its place, then
 * fsyncs the file. */
static int file_finish(struct snap_file *f, raft_index index, raft_term term,
		       uint64_t data_len, uint32_t data_crc, const uint8_t *cfg,
		       uint32_t cfg_len)
{
	struct storage_snapshot_header h = {
	    .format = STORAGE_FORMAT,
	    .index = index,
	    .term = term,
	    .data_len = data_len,
	    .config_len = cfg_len,
	    .crc = storage__crc32(data_crc, cfg, cfg_len),
	};
	uint8_t hdr[STORAGE_SNAPSHOT_HEADER_SIZE];
	storage__snapshot_header_encode(&h, hdr);
	uint64_t cfg_off = STORAGE_SNAPSHOT_HEADER_SIZE + data_len;
	int rv = file_write(f, cfg, cfg_len, cfg_off);
	if (rv == STORAGE_OK)
		rv = file_write(f, hdr, sizeof(hdr), 0);
	if (rv != STORAGE_OK)
		return rv;
	int frv = f->vfs->ftruncate(f->vfs->ctx, f->fd, cfg_off + cfg_len);
	if (frv == 0)
		frv = f->vfs->fsync(f->vfs->ctx, f->fd);
	if (frv < 0)
		return file_error(f, STORAGE_EIO, true, "%s: fsync failed: %s",
				  f->path, storage__io_strerror(frv));
	return STORAGE_OK;
}

static void file_close(struct snap_file *f)
{
	if (f->fd >= 0)
		f->vfs->close(f->vfs->ctx, f->fd);
	f->fd = -1;
}

/* Renames the complete, fsynced temporary file into place, makes the name
 * durable and only then forgets the older snapshot. */
static int install_file(struct storage *s, const char *tmp_name,
			raft_index index, raft_term term, uint64_t size,
			const struct raft_config *config)
{
	char name[STORAGE_NAME_MAX], from[STORAGE_PATH_MAX],
	    to[STORAGE_PATH_MAX];
	storage__snapshot_name(index, name);
	storage__path(s, tmp_name, from);
	storage__path(s, name, to);
	int rv = s->vfs->rename(s->vfs->ctx, from, to);
	if (rv < 0)
		return storage__fail(s, "%s: rename to %s failed: %s", from, to,
				     storage__io_strerror(rv));
	rv = s->vfs->dir_sync(s->vfs->ctx, s->dir);
	if (rv < 0)
		return storage__fail(s, "%s: directory fsync failed: %s",
				     s->dir, storage__io_strerror(rv));
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
		storage__snapshot_name(old, old_name);
		rv = storage__remove_durably(s, old_name);
		if (rv != STORAGE_OK)
			return rv;
	}
	return STORAGE_OK;
}

static bool encode_config(struct snap_file *f, const struct raft_config *config,
			  uint8_t **out, uint32_t *len)
{
	if (config == NULL || config->n == 0 || config->n > RAFT_MAX_SERVERS) {
		file_error(f, STORAGE_EINVAL, false,
			   "snapshot: missing or bad configuration");
		return false;
	}
	size_t n = raft_config_encoded_size(config);
	uint8_t *buf = malloc(n);
	if (buf == NULL) {
		file_error(f, STORAGE_ENOMEM, false, "snapshot: out of memory");
		return false;
	}
	raft_config_encode(config, buf);
	*out = buf;
	*len = (uint32_t)n;
	return true;
}

/* ---- taking a snapshot ---- */

struct storage_snapshot_writer {
	struct snap_file file;
	raft_index index;
	raft_term term;
	struct raft_config config;
	uint8_t *cfg;
	uint32_t cfg_len;
	uint64_t len;
	uint64_t slice;
	uint64_t written;
	uint64_t unsynced;
	uint32_t crc;
	bool finished;
	bool installed;
};

struct storage_snapshot_writer *
storage_snapshot_writer_new(struct storage *s, raft_index index, raft_term term,
			    const struct raft_config *config, uint64_t len)
{
	struct storage_snapshot_writer *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	char name[STORAGE_NAME_MAX + 8];
	storage__snapshot_name(index, name);
	strcat(name, ".tmp");
	file_init(&w->file, s, name, -1);
	w->index = index;
	w->term = term;
	w->len = len;
	w->slice = s->opt.snapshot_slice;
	if (index == 0 || term == 0) {
		file_error(&w->file, STORAGE_EINVAL, false,
			   "snapshot at %llu term %llu: bad arguments",
			   (unsigned long long)index, (unsigned long long)term);
		return w;
	}
	if (!encode_config(&w->file, config, &w->cfg, &w->cfg_len))
		return w;
	w->config = *config;
	file_open(&w->file, STORAGE_SNAPSHOT_HEADER_SIZE + len + w->cfg_len);
	return w;
}

int storage_snapshot_writer_write(struct storage_snapshot_writer *w,
				  const void *data, size_t len)
{
	struct snap_file *f = &w->file;
	if (f->result != STORAGE_OK)
		return f->result;
	if (w->finished || len > w->len - w->written ||
	    (len > 0 && data == NULL))
		return file_error(f, STORAGE_EINVAL, false,
				  "%s: more data than announced, or after the "
				  "end",
				  f->path);
	const uint8_t *p = data;
	while (len > 0) {
		/* Slices, each made durable before the next grows too large:
		 * dirty pages of a large file would otherwise all be flushed
		 * at once, and the log's own fsyncs would queue behind them. */
		size_t n = len;
		if (n > w->slice - w->unsynced)
			n = (size_t)(w->slice - w->unsynced);
		int rv = file_write(f, p, n,
				    STORAGE_SNAPSHOT_HEADER_SIZE + w->written);
		if (rv != STORAGE_OK)
			return rv;
		w->crc = storage__crc32(w->crc, p, n);
		w->written += n;
		w->unsynced += n;
		p += n;
		len -= n;
		if (w->unsynced >= w->slice) {
			int frv = f->vfs->fdatasync(f->vfs->ctx, f->fd);
			if (frv < 0)
				return file_error(f, STORAGE_EIO, true,
						  "%s: fsync failed: %s",
						  f->path,
						  storage__io_strerror(frv));
			w->unsynced = 0;
		}
	}
	return STORAGE_OK;
}

int storage_snapshot_writer_finish(struct storage_snapshot_writer *w)
{
	struct snap_file *f = &w->file;
	if (f->result != STORAGE_OK)
		return f->result;
	if (w->finished || w->written != w->len)
		return file_error(f, STORAGE_EINVAL, false,
				  "%s: %llu of %llu bytes written", f->path,
				  (unsigned long long)w->written,
				  (unsigned long long)w->len);
	int rv = file_finish(f, w->index, w->term, w->len, w->crc, w->cfg,
			     w->cfg_len);
	if (rv == STORAGE_OK)
		w->finished = true;
	return rv;
}

const char *
storage_snapshot_writer_errmsg(const struct storage_snapshot_writer *w)
{
	return w->file.result == STORAGE_OK ? "" : w->file.errmsg;
}

/* A snapshot at index must be newer than the current one and cover an
 * entry of the durable log with that term. */
static int check_target(struct storage *s, raft_index index, raft_term term)
{
	if (index <= s->snap_index)
		return storage_error(s, STORAGE_EINVAL,
				     "snapshot at %llu: not after the current "
				     "snapshot %llu",
				     (unsigned long long)index,
				     (unsigned long long)s->snap_index);
	if (storage__term_at(s, index) != term)
		return storage_error(s, STORAGE_EINVAL,
				     "snapshot at %llu term %llu: the log has "
				     "no such entry",
				     (unsigned long long)index,
				     (unsigned long long)term);
	return STORAGE_OK;
}

int storage_snapshot_install(struct storage *s,
			     struct storage_snapshot_writer *w)
{
	int rv = storage__check_usable(s);
	if (rv != STORAGE_OK)
		return rv;
	rv = file_charge(s, &w->file);
	if (rv != STORAGE_OK)
		return rv;
	if (!w->finished)
		return storage_error(s, STORAGE_EINVAL, "%s: not finished",
				     w->file.path);
	/* Checked now rather than when the writer began: a snapshot received
	 * from the leader, or a truncation, may have come in meanwhile. */
	rv = check_target(s, w->index, w->term);
	if (rv != STORAGE_OK)
		return rv;
	file_close(&w->file);
	rv = install_file(s, w->file.name, w->index, w->term, w->len,
			  &w->config);
	if (rv == STORAGE_OK)
		w->installed = true;
	return rv;
}

void storage_snapshot_writer_free(struct storage_snapshot_writer *w)
{
	if (w == NULL)
		return;
	file_close(&w->file);
	/* Not installed: nothing refers to the file, and start-up recovery
	 * would remove it anyway. */
	if (!w->installed)
		w->file.vfs->unlink(w->file.vfs->ctx, w->file.path);
	free(w->cfg);
	free(w);
}

int storage_snapshot_write(struct storage *s, raft_index index, raft_term term,
			   const struct raft_config *config, const void *data,
			   uint64_t len)
{
	int rv = storage__check_usable(s);
	if (rv != STORAGE_OK)
		return rv;
	if (term == 0 || (len > 0 && data == NULL) || len > SIZE_MAX)
		return storage_error(s, STORAGE_EINVAL,
				     "snapshot at %llu: bad arguments",
				     (unsigned long long)index);
	/* Before writing anything: a refused snapshot costs no I/O. */
	rv = check_target(s, index, term);
	if (rv != STORAGE_OK)
		return rv;
	struct storage_snapshot_writer *w =
	    storage_snapshot_writer_new(s, index, term, config, len);
	if (w == NULL)
		return storage_error(s, STORAGE_ENOMEM,
				     "snapshot: out of memory");
	if (storage_snapshot_writer_write(w, data, (size_t)len) == STORAGE_OK)
		storage_snapshot_writer_finish(w);
	rv = storage_snapshot_install(s, w);
	storage_snapshot_writer_free(w);
	return rv;
}

static void recv_abort(struct storage *s)
{
	char path[STORAGE_PATH_MAX];
	if (s->recv_fd >= 0)
		s->vfs->close(s->vfs->ctx, s->recv_fd);
	s->recv_fd = -1;
	storage__path(s, RECV_TMP_NAME, path);
	s->vfs->unlink(s->vfs->ctx, path);
}

/* Checksum of the received data, read back from the file. */
static int recv_crc(struct storage *s, int fd, uint32_t *crc)
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
		ssize_t r = s->vfs->pread(s->vfs->ctx, fd, buf, n,
					  STORAGE_SNAPSHOT_HEADER_SIZE + off);
		if (r != (ssize_t)n) {
			rv = storage__fail(s,
					   "%s/%s: read back at offset %llu "
					   "failed: %s",
					   s->dir, RECV_TMP_NAME,
					   (unsigned long long)off,
					   r < 0 ? storage__io_strerror((int)r)
						 : "short read");
			break;
		}
		c = storage__crc32(c, buf, n);
		off += n;
	}
	free(buf);
	*crc = c;
	return rv;
}

static int recv_finish(struct storage *s, const struct raft_config *config)
{
	struct snap_file f;
	file_init(&f, s, RECV_TMP_NAME, s->recv_fd);
	s->recv_fd = -1;
	uint8_t *cfg = NULL;
	uint32_t cfg_len = 0;
	uint32_t crc = s->recv_crc;
	int rv = STORAGE_OK;
	if (!encode_config(&f, config, &cfg, &cfg_len))
		rv = file_charge(s, &f);
	/* Chunks that came in order were checksummed as they came. */
	if (rv == STORAGE_OK && s->recv_crc_end != s->recv_end)
		rv = recv_crc(s, f.fd, &crc);
	if (rv == STORAGE_OK &&
	    file_finish(&f, s->recv_index, s->recv_term, s->recv_end, crc, cfg,
			cfg_len) != STORAGE_OK)
		rv = file_charge(s, &f);
	free(cfg);
	file_close(&f);
	if (rv != STORAGE_OK)
		return rv;
	raft_index index = s->recv_index;
	raft_term term = s->recv_term;
	bool keep_log = storage__term_at(s, index) == term;
	rv = install_file(s, RECV_TMP_NAME, index, term, s->recv_end, config);
	if (rv != STORAGE_OK)
		return rv;
	/* Raft section 7: a log that holds the snapshot's last entry keeps
	 * what follows it; any other log is discarded. */
	if (!keep_log)
		rv = storage__drop_tail_segments(s, 1);
	return rv;
}

int storage_snapshot_chunk(struct storage *s,
			   const struct raft_snapshot_chunk *c)
{
	int rv = storage__check_usable(s);
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
		struct snap_file f;
		file_init(&f, s, RECV_TMP_NAME, -1);
		if (file_open(&f, 0) != STORAGE_OK)
			return file_charge(s, &f);
		s->recv_fd = f.fd;
		s->recv_index = c->index;
		s->recv_term = c->term;
		s->recv_end = 0;
		s->recv_crc = 0;
		s->recv_crc_end = 0;
		s->recv_unsynced = 0;
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
			return storage__fail(
			    s, "%s/%s: write at offset %llu failed: %s", s->dir,
			    RECV_TMP_NAME, (unsigned long long)c->offset,
			    w < 0 ? storage__io_strerror((int)w)
				  : "short write");
		}
		if (c->offset + c->len > s->recv_end)
			s->recv_end = c->offset + c->len;
		if (c->offset == s->recv_crc_end) {
			s->recv_crc =
			    storage__crc32(s->recv_crc, c->data, c->len);
			s->recv_crc_end += c->len;
		} else {
			s->recv_crc_end = UINT64_MAX; /* read back at the end */
		}
		/* As the writer does: no large flush left for the end. */
		s->recv_unsynced += c->len;
		if (s->recv_unsynced >= s->opt.snapshot_slice) {
			int frv = s->vfs->fdatasync(s->vfs->ctx, s->recv_fd);
			if (frv < 0)
				return storage__fail(
				    s, "%s/%s: fsync failed: %s", s->dir,
				    RECV_TMP_NAME, storage__io_strerror(frv));
			s->recv_unsynced = 0;
		}
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
	storage__snapshot_name(s->snap_index, name);
	storage__path(s, name, path);
	int fd = s->vfs->open(s->vfs->ctx, path, O_RDONLY);
	if (fd < 0)
		return storage_error(s, STORAGE_EIO, "%s: cannot open: %s",
				     path, storage__io_strerror(fd));
	s->snap_fd = fd;
	return STORAGE_OK;
}

int storage_snapshot_read(struct storage *s, uint64_t offset, void *buf,
			  size_t len, size_t *got)
{
	*got = 0;
	int rv = storage__check_usable(s);
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
				     r < 0 ? storage__io_strerror((int)r)
					   : "short read");
	*got = n;
	return STORAGE_OK;
}

int storage__snapshot_verify(struct storage *s, const char *name,
			     raft_index expect_index,
			     struct storage_snapshot_header *h,
			     struct raft_config *config)
{
	char path[STORAGE_PATH_MAX], why[STORAGE_WHY_MAX];
	storage__path(s, name, path);
	int fd = s->vfs->open(s->vfs->ctx, path, O_RDONLY);
	if (fd < 0)
		return storage_error(s, STORAGE_ECORRUPT, "%s: cannot open: %s",
				     path, storage__io_strerror(fd));
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
				   path, storage__io_strerror(frv));
		goto out;
	}
	ssize_t r = s->vfs->pread(s->vfs->ctx, fd, buf,
				  STORAGE_SNAPSHOT_HEADER_SIZE, 0);
	rv =
	    storage__snapshot_header_decode(buf, r < 0 ? 0 : (size_t)r, h, why);
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
					   r < 0 ? storage__io_strerror((int)r)
						 : "short read");
			goto out;
		}
		crc = storage__crc32(crc, buf, n);
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
