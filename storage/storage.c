/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Durable storage: state, errors, term/vote metadata and the public
 * inspection calls. The log lives in log.c, snapshots in snapshot.c and the
 * start-up recovery in recover.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/internal.h"

const char *storage_strerror(int rv)
{
	switch (rv) {
	case STORAGE_OK:
		return "ok";
	case STORAGE_ENOMEM:
		return "out of memory";
	case STORAGE_EINVAL:
		return "invalid argument";
	case STORAGE_EIO:
		return "I/O error: storage failed";
	case STORAGE_ENOSPC:
		return "no space left for new entries";
	case STORAGE_ECORRUPT:
		return "damaged data in the data folder";
	case STORAGE_EFORMAT:
		return "data folder written by a newer format";
	case STORAGE_ELOCKED:
		return "data folder in use by another process";
	case STORAGE_ENOENT:
		return "no snapshot";
	}
	return "unknown storage error";
}

int storage_error(struct storage *s, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
	va_end(ap);
	return code;
}

int storage__fail(struct storage *s, const char *fmt, ...)
{
	if (s->failed)
		return STORAGE_EIO;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
	va_end(ap);
	s->failed = true;
	storage__note(s, STORAGE_LOG_ERROR, "%s (storage stopped)", s->errmsg);
	return STORAGE_EIO;
}

void storage__note(struct storage *s, enum storage_log_level level,
		   const char *fmt, ...)
{
	char msg[STORAGE_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s->opt.log != NULL)
		s->opt.log(s->opt.log_ctx, level, msg);
	else
		fprintf(stderr, "storage %s: %s: %s\n", s->dir,
			level == STORAGE_LOG_ERROR     ? "error"
			: level == STORAGE_LOG_WARNING ? "warning"
						       : "info",
			msg);
}

void storage__path(const struct storage *s, const char *name, char *out)
{
	snprintf(out, STORAGE_PATH_MAX, "%s/%s", s->dir, name);
}

const char *storage__io_strerror(int neg_errno)
{
	return strerror(-neg_errno);
}

struct storage *storage_new(const char *dir, const struct storage_options *o)
{
	if (dir == NULL || strlen(dir) + 64 >= STORAGE_PATH_MAX)
		return NULL;
	struct storage *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->dir = strdup(dir);
	if (s->dir == NULL) {
		free(s);
		return NULL;
	}
	/* "a/b/" and "a/b" name the same folder. */
	size_t n = strlen(s->dir);
	while (n > 1 && s->dir[n - 1] == '/')
		s->dir[--n] = '\0';
	if (o != NULL)
		s->opt = *o;
	if (s->opt.segment_size == 0)
		s->opt.segment_size = STORAGE_SEGMENT_SIZE_DEFAULT;
	if (s->opt.segment_size < 4096)
		s->opt.segment_size = 4096;
	if (s->opt.snapshot_slice == 0)
		s->opt.snapshot_slice = STORAGE_SNAPSHOT_SLICE;
	s->vfs = s->opt.vfs != NULL ? s->opt.vfs : &storage_vfs_posix;
	s->lock_handle = -1;
	s->meta_fd[0] = s->meta_fd[1] = -1;
	s->active_fd = -1;
	s->snap_fd = -1;
	s->recv_fd = -1;
	return s;
}

static void close_fd(struct storage *s, int *fd)
{
	if (*fd >= 0)
		s->vfs->close(s->vfs->ctx, *fd);
	*fd = -1;
}

void storage__close_files(struct storage *s)
{
	close_fd(s, &s->meta_fd[0]);
	close_fd(s, &s->meta_fd[1]);
	close_fd(s, &s->active_fd);
	close_fd(s, &s->snap_fd);
	close_fd(s, &s->recv_fd);
	for (size_t i = 0; i < s->n_segs; i++)
		storage__segment_free(&s->segs[i]);
	s->n_segs = 0;
}

void storage_close(struct storage *s)
{
	if (s == NULL)
		return;
	storage__close_files(s);
	free(s->segs);
	if (s->lock_handle >= 0)
		s->vfs->unlock(s->vfs->ctx, s->lock_handle);
	free(s->dir);
	free(s);
}

const char *storage_errmsg(const struct storage *s)
{
	return s->errmsg;
}

bool storage_failed(const struct storage *s)
{
	return s->failed;
}

/* Checks shared by every call that changes something. */
int storage__check_usable(struct storage *s)
{
	if (s->failed)
		return STORAGE_EIO;
	if (!s->opened)
		return storage_error(s, STORAGE_EINVAL,
				     "storage %s is not open", s->dir);
	return STORAGE_OK;
}

/* meta1 holds odd sequence numbers, meta2 even ones: a write always goes
 * to the copy that does not hold the latest state, so a torn write leaves
 * the previous state readable. */
int storage__meta_slot(uint64_t seq)
{
	return (seq & 1) ? 0 : 1;
}

const char *storage__meta_name(int slot)
{
	return slot == 0 ? "meta1" : "meta2";
}

int storage_set_hard_state(struct storage *s, raft_term term, raft_id vote)
{
	int rv = storage__check_usable(s);
	if (rv != STORAGE_OK)
		return rv;
	if (vote > RAFT_MAX_NODE_ID)
		return storage_error(s, STORAGE_EINVAL, "vote %u out of range",
				     vote);
	if (term < s->term)
		return storage_error(s, STORAGE_EINVAL,
				     "term %llu is lower than the stored %llu",
				     (unsigned long long)term,
				     (unsigned long long)s->term);
	struct storage_meta m = {
	    .format = STORAGE_FORMAT,
	    .seq = s->meta_seq + 1,
	    .term = term,
	    .vote = vote,
	};
	uint8_t buf[STORAGE_META_SIZE];
	storage__meta_encode(&m, buf);
	int slot = storage__meta_slot(m.seq);
	ssize_t n =
	    s->vfs->pwrite(s->vfs->ctx, s->meta_fd[slot], buf, sizeof(buf), 0);
	if (n != (ssize_t)sizeof(buf))
		return storage__fail(s, "%s/%s: write failed: %s", s->dir,
				     storage__meta_name(slot),
				     n < 0 ? storage__io_strerror((int)n)
					   : "short write");
	int frv = s->vfs->fdatasync(s->vfs->ctx, s->meta_fd[slot]);
	if (frv < 0)
		return storage__fail(s, "%s/%s: fsync failed: %s", s->dir,
				     storage__meta_name(slot),
				     storage__io_strerror(frv));
	s->meta_seq = m.seq;
	s->term = term;
	s->vote = vote;
	return STORAGE_OK;
}

raft_index storage_first_index(const struct storage *s)
{
	return s->n_segs > 0 ? s->segs[0].first : 0;
}

raft_index storage_last_index(const struct storage *s)
{
	return s->n_segs > 0 ? s->segs[s->n_segs - 1].last : 0;
}

raft_index storage_snapshot_index(const struct storage *s)
{
	return s->snap_index;
}

raft_term storage_snapshot_term(const struct storage *s)
{
	return s->snap_term;
}

uint64_t storage_snapshot_size(const struct storage *s)
{
	return s->snap_size;
}

raft_term storage_term(const struct storage *s)
{
	return s->term;
}

raft_id storage_vote(const struct storage *s)
{
	return s->vote;
}

size_t storage_segment_count(const struct storage *s)
{
	return s->n_segs;
}

void storage_loaded_free(struct storage_loaded *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n_entries; i++)
		free(l->entries[i].data);
	free(l->entries);
	memset(l, 0, sizeof(*l));
}
