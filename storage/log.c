/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * The log: preallocated append-only segment files, one write and one fsync
 * per batch, truncation of a conflicting suffix and compaction below a
 * snapshot.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/internal.h"

void storage__segment_name(raft_index first, char *out)
{
	snprintf(out, STORAGE_NAME_MAX, "seg-%020llu",
		 (unsigned long long)first);
}

void storage__snapshot_name(raft_index index, char *out)
{
	snprintf(out, STORAGE_NAME_MAX, "snap-%020llu",
		 (unsigned long long)index);
}

void storage__segment_free(struct segment *seg)
{
	free(seg->offsets);
	free(seg->terms);
	seg->offsets = NULL;
	seg->terms = NULL;
	seg->cap = 0;
}

int storage__segment_reserve(struct segment *seg, size_t n)
{
	if (n <= seg->cap)
		return STORAGE_OK;
	size_t cap = seg->cap ? seg->cap : 64;
	while (cap < n)
		cap *= 2;
	uint64_t *o = realloc(seg->offsets, cap * sizeof(*o));
	if (o == NULL)
		return STORAGE_ENOMEM;
	seg->offsets = o;
	raft_term *t = realloc(seg->terms, cap * sizeof(*t));
	if (t == NULL)
		return STORAGE_ENOMEM;
	seg->terms = t;
	seg->cap = cap;
	return STORAGE_OK;
}

static int segs_reserve(struct storage *s, size_t n)
{
	if (n <= s->cap_segs)
		return STORAGE_OK;
	size_t cap = s->cap_segs ? s->cap_segs * 2 : 16;
	while (cap < n)
		cap *= 2;
	struct segment *p = realloc(s->segs, cap * sizeof(*p));
	if (p == NULL)
		return STORAGE_ENOMEM;
	s->segs = p;
	s->cap_segs = cap;
	return STORAGE_OK;
}

int storage__segments_push(struct storage *s, const struct segment *seg)
{
	int rv = segs_reserve(s, s->n_segs + 1);
	if (rv != STORAGE_OK)
		return rv;
	s->segs[s->n_segs++] = *seg;
	return STORAGE_OK;
}

raft_term storage__term_at(const struct storage *s, raft_index index)
{
	for (size_t i = s->n_segs; i-- > 0;) {
		const struct segment *seg = &s->segs[i];
		if (index >= seg->first && index <= seg->last)
			return seg->terms[index - seg->first];
		if (index > seg->last)
			break;
	}
	if (index != 0 && index == s->snap_index)
		return s->snap_term;
	return 0;
}

int storage__remove_durably(struct storage *s, const char *name)
{
	char path[STORAGE_PATH_MAX];
	storage__path(s, name, path);
	int rv = s->vfs->unlink(s->vfs->ctx, path);
	if (rv < 0 && rv != -ENOENT)
		return storage__fail(s, "%s: cannot remove: %s", path,
				     storage__io_strerror(rv));
	rv = s->vfs->dir_sync(s->vfs->ctx, s->dir);
	if (rv < 0)
		return storage__fail(s, "%s: directory fsync failed: %s",
				     s->dir, storage__io_strerror(rv));
	return STORAGE_OK;
}

static bool zero_ahead_helps(const struct storage *s, int fd)
{
	return s->vfs->reserved_space_unwritten == NULL ||
	       s->vfs->reserved_space_unwritten(s->vfs->ctx, fd);
}

int storage__open_active(struct storage *s)
{
	if (s->active_fd >= 0 || s->n_segs == 0)
		return STORAGE_OK;
	char name[STORAGE_NAME_MAX], path[STORAGE_PATH_MAX];
	storage__segment_name(s->segs[s->n_segs - 1].first, name);
	storage__path(s, name, path);
	int fd = s->vfs->open(s->vfs->ctx, path, O_RDWR);
	if (fd < 0)
		return storage__fail(s, "%s: cannot open: %s", path,
				     storage__io_strerror(fd));
	s->active_fd = fd;
	s->zero_ahead = zero_ahead_helps(s, fd);
	return STORAGE_OK;
}

int storage__drop_tail_segments(struct storage *s, raft_index from)
{
	while (s->n_segs > 0 && s->segs[s->n_segs - 1].first >= from) {
		struct segment *seg = &s->segs[s->n_segs - 1];
		char name[STORAGE_NAME_MAX];
		storage__segment_name(seg->first, name);
		if (s->active_fd >= 0) {
			s->vfs->close(s->vfs->ctx, s->active_fd);
			s->active_fd = -1;
		}
		int rv = storage__remove_durably(s, name);
		if (rv != STORAGE_OK)
			return rv;
		storage__segment_free(seg);
		s->n_segs--;
	}
	return storage__open_active(s);
}

static bool is_no_space(int neg_errno)
{
	return neg_errno == -ENOSPC || neg_errno == -EDQUOT;
}

/* Creates, preallocates and makes durable a new empty segment starting at
 * `first` that can hold at least `need` bytes of records. Running out of
 * space here, before anything is written, is the only ENOSPC the log
 * reports: the writes that follow go to reserved blocks. */
static int segment_create(struct storage *s, raft_index first, uint64_t need,
			  size_t n_entries)
{
	uint64_t size = STORAGE_SEGMENT_HEADER_SIZE + need;
	if (size < s->opt.segment_size)
		size = s->opt.segment_size;
	struct segment seg = {.first = first,
			      .last = first - 1,
			      .end = STORAGE_SEGMENT_HEADER_SIZE,
			      .size = size};
	if (storage__segment_reserve(&seg, n_entries) != STORAGE_OK ||
	    segs_reserve(s, s->n_segs + 1) != STORAGE_OK) {
		storage__segment_free(&seg);
		return storage_error(s, STORAGE_ENOMEM,
				     "out of memory for a new segment");
	}
	char name[STORAGE_NAME_MAX], path[STORAGE_PATH_MAX];
	storage__segment_name(first, name);
	storage__path(s, name, path);
	int fd = s->vfs->open(s->vfs->ctx, path, O_RDWR | O_CREAT | O_TRUNC);
	if (fd < 0) {
		storage__segment_free(&seg);
		if (is_no_space(fd))
			return storage_error(
			    s, STORAGE_ENOSPC,
			    "%s: no space left to create a segment: new "
			    "entries are refused until space is freed",
			    path);
		return storage__fail(s, "%s: cannot create: %s", path,
				     storage__io_strerror(fd));
	}
	int rv = s->vfs->fallocate(s->vfs->ctx, fd, 0, size);
	if (rv < 0) {
		s->vfs->close(s->vfs->ctx, fd);
		storage__segment_free(&seg);
		if (is_no_space(rv)) {
			/* Best effort: a leftover empty segment is removed
			 * at the next start anyway. */
			s->vfs->unlink(s->vfs->ctx, path);
			return storage_error(
			    s, STORAGE_ENOSPC,
			    "%s: no space left to preallocate %llu bytes: "
			    "new entries are refused until space is freed",
			    path, (unsigned long long)size);
		}
		return storage__fail(s, "%s: preallocation failed: %s", path,
				     storage__io_strerror(rv));
	}
	uint8_t hdr[STORAGE_SEGMENT_HEADER_SIZE];
	struct storage_segment_header h = {.format = STORAGE_FORMAT,
					   .first_index = first};
	storage__segment_header_encode(&h, hdr);
	ssize_t n = s->vfs->pwrite(s->vfs->ctx, fd, hdr, sizeof(hdr), 0);
	if (n != (ssize_t)sizeof(hdr)) {
		s->vfs->close(s->vfs->ctx, fd);
		storage__segment_free(&seg);
		return storage__fail(s, "%s: header write failed: %s", path,
				     n < 0 ? storage__io_strerror((int)n)
					   : "short write");
	}
	rv = s->vfs->fsync(s->vfs->ctx, fd);
	if (rv == 0)
		rv = s->vfs->dir_sync(s->vfs->ctx, s->dir);
	if (rv < 0) {
		s->vfs->close(s->vfs->ctx, fd);
		storage__segment_free(&seg);
		return storage__fail(s, "%s: fsync failed: %s", path,
				     storage__io_strerror(rv));
	}
	if (s->active_fd >= 0)
		s->vfs->close(s->vfs->ctx, s->active_fd);
	s->active_fd = fd;
	s->zero_ahead = zero_ahead_helps(s, fd);
	s->segs[s->n_segs++] = seg;
	return STORAGE_OK;
}

/* How far ahead of the appends the preallocated space is written with
 * zeros, and in what steps. */
#define ZERO_AHEAD_BYTES (256u * 1024u)
#define ZERO_STEP_BYTES (64u * 1024u)

/* Writes zeros over the preallocated space past the last record, ahead of
 * the appends. fallocate leaves that space unwritten: the first write into
 * each of its blocks changes the file's extent map, so the fdatasync after
 * it must also write the inode, a second synchronous disk write (on ext4,
 * 1 fdatasync in 4 with 1 KB entries, every one with larger batches).
 * Blocks written once, with zeros, need only their data written. The zeros
 * need no fsync of their own: the append's fdatasync carries them, and
 * until then a crash loses nothing (the space reads as zeros either way).
 * Best effort: a failure only stops it for this segment. Not on a file
 * system without unwritten space (tmpfs), where it would only cost a copy. */
static void zero_ahead(struct storage *s, struct segment *seg, uint64_t end)
{
	static const uint8_t zeros[ZERO_STEP_BYTES];
	uint64_t from = seg->zeroed > end ? seg->zeroed : end;
	if (!s->zero_ahead || from >= seg->size ||
	    from - end >= ZERO_AHEAD_BYTES / 2)
		return;
	uint64_t upto = from + ZERO_AHEAD_BYTES;
	if (upto > seg->size)
		upto = seg->size;
	while (from < upto) {
		size_t len = upto - from < ZERO_STEP_BYTES
				 ? (size_t)(upto - from)
				 : ZERO_STEP_BYTES;
		ssize_t w =
		    s->vfs->pwrite(s->vfs->ctx, s->active_fd, zeros, len, from);
		if (w != (ssize_t)len) {
			seg->zeroed = seg->size;
			return;
		}
		from += len;
	}
	seg->zeroed = upto;
}

static int check_batch(struct storage *s, const struct raft_entry *entries,
		       size_t n, uint64_t *total)
{
	raft_index next =
	    s->n_segs > 0 ? storage_last_index(s) + 1 : s->snap_index + 1;
	raft_term prev =
	    s->n_segs > 0 ? storage__term_at(s, next - 1) : s->snap_term;
	*total = 0;
	for (size_t i = 0; i < n; i++) {
		const struct raft_entry *e = &entries[i];
		if (e->index != next + i)
			return storage_error(
			    s, STORAGE_EINVAL,
			    "append: entry %zu has index %llu, expected "
			    "%llu",
			    i, (unsigned long long)e->index,
			    (unsigned long long)(next + i));
		if (e->term == 0 || e->term < prev)
			return storage_error(
			    s, STORAGE_EINVAL,
			    "append: entry %llu has term %llu, below %llu",
			    (unsigned long long)e->index,
			    (unsigned long long)e->term,
			    (unsigned long long)prev);
		if (e->type == 0 || e->len > RAFT_MAX_ENTRY_BYTES ||
		    (e->len > 0 && e->data == NULL))
			return storage_error(s, STORAGE_EINVAL,
					     "append: entry %llu: bad type, "
					     "length or data",
					     (unsigned long long)e->index);
		prev = e->term;
		*total += storage__record_size(e->len);
	}
	if (*total > SIZE_MAX / 2)
		return storage_error(s, STORAGE_EINVAL,
				     "append: batch too big");
	return STORAGE_OK;
}

int storage_append(struct storage *s, const struct raft_entry *entries,
		   size_t n)
{
	int rv = storage__check_usable(s);
	if (rv != STORAGE_OK || n == 0)
		return rv;
	if (entries == NULL)
		return storage_error(s, STORAGE_EINVAL, "append: no entries");
	uint64_t total;
	rv = check_batch(s, entries, n, &total);
	if (rv != STORAGE_OK)
		return rv;

	uint8_t *buf = calloc(1, (size_t)total);
	if (buf == NULL)
		return storage_error(s, STORAGE_ENOMEM,
				     "append: out of memory for %llu bytes",
				     (unsigned long long)total);
	uint64_t pos = 0;
	for (size_t i = 0; i < n; i++) {
		const struct raft_entry *e = &entries[i];
		struct storage_record rec = {
		    .format = STORAGE_FORMAT,
		    .type = e->type,
		    .version = e->version,
		    .term = e->term,
		    .index = e->index,
		    .len = e->len,
		    .batch_pos = (uint32_t)i,
		    .data_crc = storage__crc32(0, e->data, e->len),
		};
		storage__record_header_encode(&rec, buf + pos);
		if (e->len > 0)
			memcpy(buf + pos + STORAGE_RECORD_HEADER_SIZE, e->data,
			       e->len);
		pos += storage__record_size(e->len);
	}

	struct segment *seg = s->n_segs > 0 ? &s->segs[s->n_segs - 1] : NULL;
	if (seg == NULL || seg->size - seg->end < total) {
		rv = segment_create(s, entries[0].index, total, n);
		if (rv != STORAGE_OK)
			goto out;
		seg = &s->segs[s->n_segs - 1];
	} else if (storage__segment_reserve(
		       seg, (size_t)(seg->last - seg->first + 1) + n) !=
		   STORAGE_OK) {
		rv = storage_error(s, STORAGE_ENOMEM, "append: out of memory");
		goto out;
	}

	char name[STORAGE_NAME_MAX];
	storage__segment_name(seg->first, name);
	zero_ahead(s, seg, seg->end + total);
	ssize_t w = s->vfs->pwrite(s->vfs->ctx, s->active_fd, buf,
				   (size_t)total, seg->end);
	if (w != (ssize_t)total) {
		rv = storage__fail(s, "%s/%s: write at offset %llu failed: %s",
				   s->dir, name, (unsigned long long)seg->end,
				   w < 0 ? storage__io_strerror((int)w)
					 : "short write");
		goto out;
	}
	int frv = s->vfs->fdatasync(s->vfs->ctx, s->active_fd);
	if (frv < 0) {
		rv = storage__fail(s, "%s/%s: fsync failed: %s", s->dir, name,
				   storage__io_strerror(frv));
		goto out;
	}
	pos = seg->end;
	for (size_t i = 0; i < n; i++) {
		size_t k = (size_t)(entries[i].index - seg->first);
		seg->offsets[k] = pos;
		seg->terms[k] = entries[i].term;
		pos += storage__record_size(entries[i].len);
	}
	seg->end = pos;
	seg->last = entries[n - 1].index;
	rv = STORAGE_OK;
out:
	free(buf);
	return rv;
}

int storage_truncate(struct storage *s, raft_index from)
{
	int rv = storage__check_usable(s);
	if (rv != STORAGE_OK)
		return rv;
	if (from <= s->snap_index || from == 0)
		return storage_error(s, STORAGE_EINVAL,
				     "truncate from %llu: at or below the "
				     "snapshot index %llu",
				     (unsigned long long)from,
				     (unsigned long long)s->snap_index);
	if (s->n_segs == 0 || from > storage_last_index(s))
		return STORAGE_OK;
	/* Whole segments go first, last one first, so that a crash leaves
	 * a prefix of the log. */
	rv = storage__drop_tail_segments(s, from);
	if (rv != STORAGE_OK || s->n_segs == 0)
		return rv;
	struct segment *seg = &s->segs[s->n_segs - 1];
	if (seg->last < from)
		return STORAGE_OK;
	char name[STORAGE_NAME_MAX];
	storage__segment_name(seg->first, name);
	uint64_t cut = seg->offsets[from - seg->first];
	/* Cut the file (one atomic size change, unlike overwriting the old
	 * records) and reserve the space again; durable before any new entry
	 * lands after the cut, so that old and new records never mix. */
	int frv = s->vfs->ftruncate(s->vfs->ctx, s->active_fd, cut);
	if (frv < 0)
		return storage__fail(s, "%s/%s: truncate to %llu failed: %s",
				     s->dir, name, (unsigned long long)cut,
				     storage__io_strerror(frv));
	frv =
	    s->vfs->fallocate(s->vfs->ctx, s->active_fd, cut, seg->size - cut);
	if (frv < 0 && !is_no_space(frv))
		return storage__fail(s, "%s/%s: preallocation failed: %s",
				     s->dir, name, storage__io_strerror(frv));
	if (frv < 0)
		seg->size = cut; /* the next append starts a new segment */
	/* Reserved again: unwritten. */
	seg->zeroed = cut;
	frv = s->vfs->fdatasync(s->vfs->ctx, s->active_fd);
	if (frv < 0)
		return storage__fail(s, "%s/%s: fsync failed: %s", s->dir, name,
				     storage__io_strerror(frv));
	seg->last = from - 1;
	seg->end = cut;
	return STORAGE_OK;
}

int storage_compact(struct storage *s, raft_index upto)
{
	int rv = storage__check_usable(s);
	if (rv != STORAGE_OK)
		return rv;
	if (upto > s->snap_index)
		upto = s->snap_index;
	size_t k = 0;
	while (k + 1 < s->n_segs && s->segs[k].last <= upto)
		k++;
	if (k == 0)
		return STORAGE_OK;
	/* Any subset of these removals surviving a crash is fine: recovery
	 * drops segments that the snapshot covers. */
	for (size_t i = 0; i < k; i++) {
		char name[STORAGE_NAME_MAX], path[STORAGE_PATH_MAX];
		storage__segment_name(s->segs[i].first, name);
		storage__path(s, name, path);
		rv = s->vfs->unlink(s->vfs->ctx, path);
		if (rv < 0 && rv != -ENOENT)
			return storage__fail(s, "%s: cannot remove: %s", path,
					     storage__io_strerror(rv));
	}
	rv = s->vfs->dir_sync(s->vfs->ctx, s->dir);
	if (rv < 0)
		return storage__fail(s, "%s: directory fsync failed: %s",
				     s->dir, storage__io_strerror(rv));
	for (size_t i = 0; i < k; i++)
		storage__segment_free(&s->segs[i]);
	memmove(s->segs, s->segs + k, (s->n_segs - k) * sizeof(*s->segs));
	s->n_segs -= k;
	return STORAGE_OK;
}
