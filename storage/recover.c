/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Start-up: lock the folder, initialize it when empty, recover from a crash
 * and load the durable state. The rules (docs/storage.md): what a crash can
 * leave behind (a torn last batch, an unfinished segment allocation, a
 * temporary file, a half-done compaction or snapshot installation) is
 * repaired and logged; anything else stops the node with the file and
 * offset, never a silent loss of entries.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/internal.h"

struct listing {
	raft_index *segs;
	size_t n_segs;
	raft_index *snaps;
	size_t n_snaps;
	char **tmps;
	size_t n_tmps;
	bool meta[2];
	bool nomem;
	struct storage *s;
};

static bool push_index(raft_index **arr, size_t *n, raft_index v)
{
	raft_index *p = realloc(*arr, (*n + 1) * sizeof(*p));
	if (p == NULL)
		return false;
	p[(*n)++] = v;
	*arr = p;
	return true;
}

/* "<prefix><20 digits>" with a non-zero value. */
static bool parse_indexed(const char *name, const char *prefix, raft_index *out)
{
	size_t plen = strlen(prefix);
	if (strncmp(name, prefix, plen) != 0 || strlen(name) != plen + 20)
		return false;
	raft_index v = 0;
	for (const char *p = name + plen; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (raft_index)(*p - '0');
	}
	*out = v;
	return v != 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int collect(void *arg, const char *name)
{
	struct listing *l = arg;
	raft_index v;
	bool ok = true;
	if (strcmp(name, "lock") == 0)
		return 0;
	if (strcmp(name, "meta1") == 0)
		l->meta[0] = true;
	else if (strcmp(name, "meta2") == 0)
		l->meta[1] = true;
	else if (ends_with(name, ".tmp")) {
		char **p = realloc(l->tmps, (l->n_tmps + 1) * sizeof(*p));
		char *copy = strdup(name);
		if (p != NULL)
			l->tmps = p;
		if (p == NULL || copy == NULL) {
			free(copy);
			ok = false;
		} else {
			l->tmps[l->n_tmps++] = copy;
		}
	} else if (parse_indexed(name, "seg-", &v))
		ok = push_index(&l->segs, &l->n_segs, v);
	else if (parse_indexed(name, "snap-", &v))
		ok = push_index(&l->snaps, &l->n_snaps, v);
	else
		storage__note(l->s, STORAGE_LOG_WARNING,
			      "ignoring unknown file %s/%s", l->s->dir, name);
	if (!ok) {
		l->nomem = true;
		return 1;
	}
	return 0;
}

static void listing_free(struct listing *l)
{
	free(l->segs);
	free(l->snaps);
	for (size_t i = 0; i < l->n_tmps; i++)
		free(l->tmps[i]);
	free(l->tmps);
}

static int cmp_index(const void *a, const void *b)
{
	raft_index x = *(const raft_index *)a, y = *(const raft_index *)b;
	return x < y ? -1 : x > y;
}

/* Reads a whole small file; *len is its size. */
static int read_file(struct storage *s, int fd, const char *path, uint8_t **out,
		     uint64_t *len, uint64_t max)
{
	uint64_t size;
	int rv = s->vfs->file_size(s->vfs->ctx, fd, &size);
	if (rv < 0)
		return storage_error(s, STORAGE_ECORRUPT, "%s: cannot stat: %s",
				     path, storage__io_strerror(rv));
	if (size > max)
		size = max;
	uint8_t *buf = malloc(size > 0 ? (size_t)size : 1);
	if (buf == NULL)
		return storage_error(s, STORAGE_ENOMEM,
				     "%s: out of memory for %llu bytes", path,
				     (unsigned long long)size);
	ssize_t r = s->vfs->pread(s->vfs->ctx, fd, buf, (size_t)size, 0);
	if (r != (ssize_t)size) {
		free(buf);
		return storage_error(
		    s, STORAGE_ECORRUPT, "%s: read failed: %s", path,
		    r < 0 ? storage__io_strerror((int)r) : "short read");
	}
	*out = buf;
	*len = size;
	return STORAGE_OK;
}

/* Writes both metadata copies of a new folder through temporary files, so
 * that a crash leaves either no copy, or complete ones. */
static int meta_init(struct storage *s)
{
	for (int slot = 0; slot < 2; slot++) {
		char name[16], path[STORAGE_PATH_MAX];
		snprintf(name, sizeof(name), "%s.tmp",
			 storage__meta_name(slot));
		storage__path(s, name, path);
		struct storage_meta m = {.format = STORAGE_FORMAT,
					 .seq = (uint64_t)slot + 1};
		uint8_t buf[STORAGE_META_SIZE];
		storage__meta_encode(&m, buf);
		int fd =
		    s->vfs->open(s->vfs->ctx, path, O_RDWR | O_CREAT | O_TRUNC);
		if (fd < 0)
			return storage_error(s, STORAGE_EIO,
					     "%s: cannot create: %s", path,
					     storage__io_strerror(fd));
		ssize_t w =
		    s->vfs->pwrite(s->vfs->ctx, fd, buf, sizeof(buf), 0);
		int rv = w == (ssize_t)sizeof(buf)
			     ? s->vfs->fsync(s->vfs->ctx, fd)
			     : (w < 0 ? (int)w : -EIO);
		s->vfs->close(s->vfs->ctx, fd);
		if (rv < 0)
			return storage_error(s, STORAGE_EIO,
					     "%s: write failed: %s", path,
					     storage__io_strerror(rv));
	}
	for (int slot = 1; slot >= 0; slot--) {
		char name[16], from[STORAGE_PATH_MAX], to[STORAGE_PATH_MAX];
		snprintf(name, sizeof(name), "%s.tmp",
			 storage__meta_name(slot));
		storage__path(s, name, from);
		storage__path(s, storage__meta_name(slot), to);
		int rv = s->vfs->rename(s->vfs->ctx, from, to);
		if (rv < 0)
			return storage_error(s, STORAGE_EIO,
					     "%s: rename failed: %s", from,
					     storage__io_strerror(rv));
	}
	int rv = s->vfs->dir_sync(s->vfs->ctx, s->dir);
	if (rv < 0)
		return storage_error(s, STORAGE_EIO,
				     "%s: directory fsync failed: %s", s->dir,
				     storage__io_strerror(rv));
	for (int slot = 0; slot < 2; slot++) {
		char path[STORAGE_PATH_MAX];
		storage__path(s, storage__meta_name(slot), path);
		int fd = s->vfs->open(s->vfs->ctx, path, O_RDWR);
		if (fd < 0)
			return storage_error(s, STORAGE_EIO,
					     "%s: cannot open: %s", path,
					     storage__io_strerror(fd));
		s->meta_fd[slot] = fd;
	}
	s->meta_seq = 2;
	s->term = 0;
	s->vote = 0;
	return STORAGE_OK;
}

static int recover_meta(struct storage *s, const bool present[2], bool has_data,
			bool *fresh)
{
	struct storage_meta m[2];
	int status[2] = {STORAGE_ECORRUPT, STORAGE_ECORRUPT};
	char why[2][STORAGE_WHY_MAX] = {"missing", "missing"};
	char path[2][STORAGE_PATH_MAX];
	*fresh = false;

	for (int i = 0; i < 2; i++) {
		storage__path(s, storage__meta_name(i), path[i]);
		if (!present[i])
			continue;
		int fd = s->vfs->open(s->vfs->ctx, path[i], O_RDWR);
		if (fd < 0)
			return storage_error(s, STORAGE_ECORRUPT,
					     "%s: cannot open: %s", path[i],
					     storage__io_strerror(fd));
		s->meta_fd[i] = fd;
		uint8_t *buf;
		uint64_t len;
		int rv = read_file(s, fd, path[i], &buf, &len, 4096);
		if (rv != STORAGE_OK)
			return rv;
		status[i] =
		    storage__meta_decode(buf, (size_t)len, &m[i], why[i]);
		free(buf);
		if (status[i] == STORAGE_EFORMAT)
			return storage_error(s, STORAGE_EFORMAT,
					     "%s: %s: refusing to start",
					     path[i], why[i]);
		/* A readable copy in the wrong place is no torn write. */
		if (status[i] == STORAGE_OK &&
		    storage__meta_slot(m[i].seq) != i)
			return storage_error(s, STORAGE_ECORRUPT,
					     "%s: offset 16: sequence %llu "
					     "belongs in the other copy",
					     path[i],
					     (unsigned long long)m[i].seq);
	}

	if (!present[0] && !present[1]) {
		if (has_data)
			return storage_error(s, STORAGE_ECORRUPT,
					     "%s: meta1 and meta2 are missing, "
					     "but the folder holds log or "
					     "snapshot files",
					     s->dir);
		*fresh = true;
	} else if (!present[0] || !present[1]) {
		int i = present[0] ? 0 : 1;
		/* Initialization renames two complete copies into place; a
		 * crash may keep only one of the names. */
		if (status[i] == STORAGE_OK && m[i].seq <= 2 &&
		    m[i].term == 0 && m[i].vote == 0 && !has_data) {
			storage__note(s, STORAGE_LOG_WARNING,
				      "%s: completing an interrupted "
				      "initialization",
				      s->dir);
			*fresh = true;
		} else {
			return storage_error(
			    s, STORAGE_ECORRUPT, "%s is missing (%s: %s)",
			    path[1 - i], path[i],
			    status[i] == STORAGE_OK ? "readable" : why[i]);
		}
	}
	if (*fresh) {
		for (int i = 0; i < 2; i++)
			if (s->meta_fd[i] >= 0) {
				s->vfs->close(s->vfs->ctx, s->meta_fd[i]);
				s->meta_fd[i] = -1;
			}
		return meta_init(s);
	}

	int pick;
	if (status[0] != STORAGE_OK && status[1] != STORAGE_OK) {
		return storage_error(s, STORAGE_ECORRUPT,
				     "both metadata copies are unreadable: "
				     "%s: offset 0: %s; %s: offset 0: %s",
				     path[0], why[0], path[1], why[1]);
	} else if (status[0] == STORAGE_OK && status[1] == STORAGE_OK) {
		/* Different parities: the sequence numbers differ. */
		pick = m[0].seq > m[1].seq ? 0 : 1;
	} else {
		pick = status[0] == STORAGE_OK ? 0 : 1;
		/* Only the copy being written can be torn: the one after
		 * the readable copy's sequence number. Sequence 1 is never
		 * followed by a write to meta2 (2 is written at init). */
		if (m[pick].seq == 1)
			return storage_error(s, STORAGE_ECORRUPT,
					     "%s: offset 0: %s", path[1 - pick],
					     why[1 - pick]);
		storage__note(s, STORAGE_LOG_WARNING,
			      "%s: ignoring an unfinished update (%s); using "
			      "%s",
			      path[1 - pick], why[1 - pick], path[pick]);
	}
	s->meta_seq = m[pick].seq;
	s->term = m[pick].term;
	s->vote = m[pick].vote;
	return STORAGE_OK;
}

static int recover_snapshot(struct storage *s, const raft_index *snaps,
			    size_t n)
{
	if (n == 0)
		return STORAGE_OK;
	char name[STORAGE_NAME_MAX];
	struct storage_snapshot_header h;
	struct raft_config cfg;
	storage__snapshot_name(snaps[n - 1], name);
	int rv = storage__snapshot_verify(s, name, snaps[n - 1], &h, &cfg);
	if (rv != STORAGE_OK)
		return rv;
	s->snap_index = h.index;
	s->snap_term = h.term;
	s->snap_size = h.data_len;
	s->snap_config = cfg;
	if (n == 1)
		return STORAGE_OK;
	/* The newest one's name must be durable before older ones go. */
	rv = s->vfs->dir_sync(s->vfs->ctx, s->dir);
	if (rv < 0)
		return storage_error(s, STORAGE_EIO,
				     "%s: directory fsync failed: %s", s->dir,
				     storage__io_strerror(rv));
	for (size_t i = 0; i + 1 < n; i++) {
		storage__snapshot_name(snaps[i], name);
		storage__note(s, STORAGE_LOG_INFO,
			      "removing %s/%s, superseded by snapshot %llu",
			      s->dir, name, (unsigned long long)h.index);
		rv = storage__remove_durably(s, name);
		if (rv != STORAGE_OK)
			return rv;
	}
	return STORAGE_OK;
}

/* Cuts a segment at `from` and reserves its space again, durably. */
static int cut_tail(struct storage *s, int fd, const char *path, uint64_t from,
		    uint64_t size)
{
	int rv = s->vfs->ftruncate(s->vfs->ctx, fd, from);
	if (rv == 0)
		rv = s->vfs->fallocate(s->vfs->ctx, fd, from, size - from);
	if (rv == 0)
		rv = s->vfs->fdatasync(s->vfs->ctx, fd);
	if (rv < 0)
		return storage_error(
		    s, STORAGE_EIO, "%s: cannot cut at offset %llu: %s", path,
		    (unsigned long long)from, storage__io_strerror(rv));
	return STORAGE_OK;
}

/* Loads one segment. *drop is set when it is the last one and holds
 * nothing a crash could not explain (an unfinished allocation). */
static int recover_segment(struct storage *s, raft_index first, bool is_last,
			   struct segment *seg, bool *drop)
{
	char name[STORAGE_NAME_MAX], path[STORAGE_PATH_MAX];
	char why[STORAGE_WHY_MAX];
	storage__segment_name(first, name);
	storage__path(s, name, path);
	*drop = false;
	int fd = s->vfs->open(s->vfs->ctx, path, O_RDWR);
	if (fd < 0)
		return storage_error(s, STORAGE_ECORRUPT, "%s: cannot open: %s",
				     path, storage__io_strerror(fd));
	uint8_t *buf = NULL;
	uint64_t len;
	struct storage_scan sc = {0};
	int rv = read_file(s, fd, path, &buf, &len, UINT64_MAX);
	if (rv != STORAGE_OK)
		goto out;

	struct storage_segment_header h;
	rv = storage__segment_header_decode(buf, (size_t)len, &h, why);
	if (rv == STORAGE_EFORMAT) {
		rv = storage_error(s, rv, "%s: offset 0: %s: refusing to start",
				   path, why);
		goto out;
	}
	if (rv != STORAGE_OK) {
		raft_index bf;
		uint64_t at;
		if (is_last && !storage__find_record_after(
				   buf, (size_t)len,
				   STORAGE_SEGMENT_HEADER_SIZE, &bf, &at)) {
			storage__note(s, STORAGE_LOG_WARNING,
				      "%s: removing a segment whose allocation "
				      "did not finish (%s)",
				      path, why);
			*drop = true;
			rv = STORAGE_OK;
			goto out;
		}
		rv = storage_error(s, STORAGE_ECORRUPT,
				   "%s: offset 0: damaged segment header: %s",
				   path, why);
		goto out;
	}
	if (h.first_index != first) {
		rv = storage_error(s, STORAGE_ECORRUPT,
				   "%s: offset 16: header says first index "
				   "%llu, the name says %llu",
				   path, (unsigned long long)h.first_index,
				   (unsigned long long)first);
		goto out;
	}
	rv = storage__segment_scan(buf, (size_t)len, first, 0, &sc);
	if (rv == STORAGE_ENOMEM) {
		rv = storage_error(s, rv, "%s: out of memory", path);
		goto out;
	}
	if (rv != STORAGE_OK) {
		rv = storage_error(s, rv, "%s: offset %llu: %s%s", path,
				   (unsigned long long)sc.bad_offset, sc.why,
				   rv == STORAGE_EFORMAT ? ": refusing to start"
							 : "");
		goto out;
	}
	if (sc.torn) {
		if (!is_last) {
			rv = storage_error(
			    s, STORAGE_ECORRUPT,
			    "%s: offset %llu: %s (only the last "
			    "segment can end in a torn write)",
			    path, (unsigned long long)sc.bad_offset, sc.why);
			goto out;
		}
		uint64_t nz = len;
		while (nz > sc.end && buf[nz - 1] == 0)
			nz--;
		storage__note(s, STORAGE_LOG_WARNING,
			      "%s: offset %llu: truncating a torn write of the "
			      "last batch (%s); %llu bytes dropped",
			      path, (unsigned long long)sc.end, sc.why,
			      (unsigned long long)(nz - sc.end));
		rv = cut_tail(s, fd, path, sc.end, len);
		if (rv != STORAGE_OK)
			goto out;
	}
	if (sc.n == 0) {
		if (is_last) {
			storage__note(s, STORAGE_LOG_WARNING,
				      "%s: removing a segment that holds no "
				      "entry (its first batch never completed)",
				      path);
			*drop = true;
			rv = STORAGE_OK;
			goto out;
		}
		rv = storage_error(s, STORAGE_ECORRUPT,
				   "%s: offset %u: segment holds no entry",
				   path, STORAGE_SEGMENT_HEADER_SIZE);
		goto out;
	}
	*seg = (struct segment){
	    .first = first,
	    .last = first + sc.n - 1,
	    .end = sc.end,
	    .size = len,
	    .offsets = sc.offsets,
	    .terms = sc.terms,
	    .cap = sc.n,
	};
	sc.offsets = NULL;
	sc.terms = NULL;
	rv = STORAGE_OK;
out:
	storage__scan_free(&sc);
	free(buf);
	s->vfs->close(s->vfs->ctx, fd);
	return rv;
}

/* Removes the first k segments (all covered by the snapshot). */
static int drop_head(struct storage *s, size_t k, const char *reason)
{
	if (k == 0)
		return STORAGE_OK;
	for (size_t i = 0; i < k; i++) {
		char name[STORAGE_NAME_MAX], path[STORAGE_PATH_MAX];
		storage__segment_name(s->segs[i].first, name);
		storage__path(s, name, path);
		storage__note(s, STORAGE_LOG_INFO, "removing %s: %s", path,
			      reason);
		int rv = s->vfs->unlink(s->vfs->ctx, path);
		if (rv < 0 && rv != -ENOENT)
			return storage_error(s, STORAGE_EIO,
					     "%s: cannot remove: %s", path,
					     storage__io_strerror(rv));
		storage__segment_free(&s->segs[i]);
	}
	memmove(s->segs, s->segs + k, (s->n_segs - k) * sizeof(*s->segs));
	s->n_segs -= k;
	int rv = s->vfs->dir_sync(s->vfs->ctx, s->dir);
	if (rv < 0)
		return storage_error(s, STORAGE_EIO,
				     "%s: directory fsync failed: %s", s->dir,
				     storage__io_strerror(rv));
	return STORAGE_OK;
}

/* Reads every segment into s->segs, oldest first. */
static int recover_segments(struct storage *s, const raft_index *firsts,
			    size_t n)
{
	/* Segments at the end that hold no entry are allocations a crash cut
	 * short (or left over from one that ran out of space, whose removal
	 * was not yet durable); only after them comes the segment that may
	 * end in a torn write. */
	struct segment tail;
	bool have_tail = false;
	while (n > 0 && !have_tail) {
		bool drop;
		int rv = recover_segment(s, firsts[n - 1], true, &tail, &drop);
		if (rv != STORAGE_OK)
			return rv;
		if (!drop) {
			have_tail = true;
			break;
		}
		char name[STORAGE_NAME_MAX];
		storage__segment_name(firsts[n - 1], name);
		rv = storage__remove_durably(s, name);
		if (rv != STORAGE_OK)
			return rv;
		n--;
	}
	for (size_t i = 0; i + 1 < n; i++) {
		struct segment seg;
		bool drop;
		int rv = recover_segment(s, firsts[i], false, &seg, &drop);
		if (rv == STORAGE_OK && storage__segments_push(s, &seg) != 0) {
			storage__segment_free(&seg);
			rv = storage_error(s, STORAGE_ENOMEM, "out of memory");
		}
		if (rv != STORAGE_OK) {
			if (have_tail)
				storage__segment_free(&tail);
			return rv;
		}
	}
	if (have_tail && storage__segments_push(s, &tail) != STORAGE_OK) {
		storage__segment_free(&tail);
		return storage_error(s, STORAGE_ENOMEM, "out of memory");
	}
	return STORAGE_OK;
}

/* Consecutive segments must continue one another: no overlap, no term going
 * down, no gap except one the snapshot covers (then the older segments are
 * what a compaction left behind). */
static int check_segments_follow(struct storage *s)
{
	raft_index snap = s->snap_index;
	size_t stale = 0;
	for (size_t i = 1; i < s->n_segs; i++) {
		struct segment *a = &s->segs[i - 1], *b = &s->segs[i];
		char na[STORAGE_NAME_MAX], nb[STORAGE_NAME_MAX];
		storage__segment_name(a->first, na);
		storage__segment_name(b->first, nb);
		if (b->first <= a->last)
			return storage_error(s, STORAGE_ECORRUPT,
					     "%s/%s overlaps %s/%s: entries "
					     "%llu..%llu are in both",
					     s->dir, nb, s->dir, na,
					     (unsigned long long)b->first,
					     (unsigned long long)a->last);
		if (b->first == a->last + 1 &&
		    b->terms[0] < a->terms[a->last - a->first])
			return storage_error(
			    s, STORAGE_ECORRUPT,
			    "%s/%s: offset %llu: entry %llu has term %llu, "
			    "lower than the term %llu of the entry before it",
			    s->dir, nb, (unsigned long long)b->offsets[0],
			    (unsigned long long)b->first,
			    (unsigned long long)b->terms[0],
			    (unsigned long long)a->terms[a->last - a->first]);
		if (b->first > a->last + 1) {
			/* Left over from a compaction that a crash cut
			 * short: harmless when the snapshot covers it. */
			if (a->last <= snap) {
				stale = i;
				continue;
			}
			return storage_error(s, STORAGE_ECORRUPT,
					     "entries %llu..%llu are missing "
					     "between %s/%s and %s/%s",
					     (unsigned long long)(a->last + 1),
					     (unsigned long long)(b->first - 1),
					     s->dir, na, s->dir, nb);
		}
	}
	return drop_head(s, stale, "left over from a compaction");
}

/* The log must start at 1, or where the snapshot ends, and agree with the
 * snapshot's term at its last index. */
static int check_log_meets_snapshot(struct storage *s)
{
	raft_index snap = s->snap_index;
	char first_name[STORAGE_NAME_MAX];
	storage__segment_name(s->segs[0].first, first_name);
	raft_index first = s->segs[0].first, last = storage_last_index(s);
	if (snap == 0 && first != 1)
		return storage_error(s, STORAGE_ECORRUPT,
				     "%s/%s: the log starts at index %llu "
				     "without a snapshot: entries 1..%llu are "
				     "missing",
				     s->dir, first_name,
				     (unsigned long long)first,
				     (unsigned long long)(first - 1));
	if (snap == 0)
		return STORAGE_OK;
	if (first > snap + 1)
		return storage_error(
		    s, STORAGE_ECORRUPT,
		    "%s/%s: the snapshot ends at index %llu "
		    "but the log resumes at %llu: entries "
		    "%llu..%llu are missing",
		    s->dir, first_name, (unsigned long long)snap,
		    (unsigned long long)first, (unsigned long long)(snap + 1),
		    (unsigned long long)(first - 1));
	if (last < snap)
		return drop_head(s, s->n_segs, "the snapshot covers it");
	raft_term t = first <= snap ? storage__term_at(s, snap) : s->snap_term;
	if (t != s->snap_term) {
		/* A snapshot received from the leader replaces a log that
		 * does not hold its last entry; a crash stopped the removal
		 * of that log (snapshot.c removes it last segment first, so
		 * what is left still holds the conflicting entry). */
		storage__note(s, STORAGE_LOG_WARNING,
			      "%s: the log has term %llu at the snapshot's "
			      "index %llu, the snapshot term %llu: finishing "
			      "an interrupted snapshot installation by "
			      "dropping the log",
			      s->dir, (unsigned long long)t,
			      (unsigned long long)snap,
			      (unsigned long long)s->snap_term);
		/* Last segment first, so that a crash leaves a prefix
		 * that still shows the conflict. */
		return storage__drop_tail_segments(s, 1);
	}
	return STORAGE_OK;
}

static int recover_log(struct storage *s, const raft_index *firsts, size_t n)
{
	int rv = recover_segments(s, firsts, n);
	if (rv == STORAGE_OK)
		rv = check_segments_follow(s);
	if (rv != STORAGE_OK || s->n_segs == 0)
		return rv;
	return check_log_meets_snapshot(s);
}

/* Reads entries after the snapshot into out; checks their checksums once
 * more since the scan's copy is gone. */
static int load_entries(struct storage *s, struct storage_loaded *out)
{
	raft_index from = s->snap_index + 1;
	raft_index last = storage_last_index(s);
	if (s->n_segs == 0 || last < from)
		return STORAGE_OK;
	if (from < s->segs[0].first)
		from = s->segs[0].first;
	size_t n = (size_t)(last - from + 1);
	out->entries = calloc(n, sizeof(*out->entries));
	if (out->entries == NULL)
		return storage_error(s, STORAGE_ENOMEM,
				     "out of memory for %zu entries", n);
	for (size_t i = 0; i < s->n_segs; i++) {
		struct segment *seg = &s->segs[i];
		if (seg->last < from)
			continue;
		char name[STORAGE_NAME_MAX], path[STORAGE_PATH_MAX];
		storage__segment_name(seg->first, name);
		storage__path(s, name, path);
		int fd = s->vfs->open(s->vfs->ctx, path, O_RDONLY);
		if (fd < 0)
			return storage_error(s, STORAGE_ECORRUPT,
					     "%s: cannot open: %s", path,
					     storage__io_strerror(fd));
		int rv = STORAGE_OK;
		raft_index idx = seg->first > from ? seg->first : from;
		for (; idx <= seg->last; idx++) {
			uint64_t off = seg->offsets[idx - seg->first];
			uint8_t hdr[STORAGE_RECORD_HEADER_SIZE];
			char why[STORAGE_WHY_MAX];
			struct storage_record rec;
			ssize_t r = s->vfs->pread(s->vfs->ctx, fd, hdr,
						  sizeof(hdr), off);
			if (r != (ssize_t)sizeof(hdr) ||
			    storage__record_header_decode(
				hdr, sizeof(hdr), &rec, why) != STORAGE_OK ||
			    rec.index != idx) {
				rv = storage_error(s, STORAGE_ECORRUPT,
						   "%s: offset %llu: record "
						   "changed while loading",
						   path,
						   (unsigned long long)off);
				break;
			}
			struct raft_entry *e = &out->entries[out->n_entries];
			e->data = malloc(rec.len > 0 ? rec.len : 1);
			if (e->data == NULL) {
				rv = storage_error(s, STORAGE_ENOMEM,
						   "out of memory");
				break;
			}
			out->n_entries++;
			r = s->vfs->pread(s->vfs->ctx, fd, e->data, rec.len,
					  off + STORAGE_RECORD_HEADER_SIZE);
			if (r != (ssize_t)rec.len ||
			    storage__crc32(0, e->data, rec.len) !=
				rec.data_crc) {
				rv = storage_error(s, STORAGE_ECORRUPT,
						   "%s: offset %llu: data "
						   "changed while loading",
						   path,
						   (unsigned long long)off);
				break;
			}
			e->term = rec.term;
			e->index = rec.index;
			e->type = rec.type;
			e->version = rec.version;
			e->len = rec.len;
		}
		s->vfs->close(s->vfs->ctx, fd);
		if (rv != STORAGE_OK)
			return rv;
	}
	return STORAGE_OK;
}

static int recover(struct storage *s, struct storage_loaded *out)
{
	struct listing l = {.s = s};
	int rv = s->vfs->list(s->vfs->ctx, s->dir, collect, &l);
	if (l.nomem) {
		rv = storage_error(s, STORAGE_ENOMEM, "out of memory");
		goto out;
	}
	if (rv < 0) {
		rv = storage_error(s, STORAGE_EIO, "%s: cannot list: %s",
				   s->dir, storage__io_strerror(rv));
		goto out;
	}
	for (size_t i = 0; i < l.n_tmps; i++) {
		char path[STORAGE_PATH_MAX];
		storage__path(s, l.tmps[i], path);
		storage__note(
		    s, STORAGE_LOG_INFO,
		    "removing %s, left over from an interrupted write", path);
		rv = s->vfs->unlink(s->vfs->ctx, path);
		if (rv < 0 && rv != -ENOENT) {
			rv = storage_error(s, STORAGE_EIO,
					   "%s: cannot remove: %s", path,
					   storage__io_strerror(rv));
			goto out;
		}
	}
	/* Durably gone before anything new takes the same name: a later
	 * rename from that name must never find the leftover instead. */
	if (l.n_tmps > 0) {
		rv = s->vfs->dir_sync(s->vfs->ctx, s->dir);
		if (rv < 0) {
			rv = storage_error(s, STORAGE_EIO,
					   "%s: directory fsync failed: %s",
					   s->dir, storage__io_strerror(rv));
			goto out;
		}
	}
	if (l.n_segs > 1)
		qsort(l.segs, l.n_segs, sizeof(*l.segs), cmp_index);
	if (l.n_snaps > 1)
		qsort(l.snaps, l.n_snaps, sizeof(*l.snaps), cmp_index);

	rv =
	    recover_meta(s, l.meta, l.n_segs > 0 || l.n_snaps > 0, &out->fresh);
	if (rv == STORAGE_OK)
		rv = recover_snapshot(s, l.snaps, l.n_snaps);
	if (rv == STORAGE_OK)
		rv = recover_log(s, l.segs, l.n_segs);
	if (rv == STORAGE_OK && s->failed)
		rv = STORAGE_EIO;
	if (rv == STORAGE_OK)
		rv = storage__open_active(s);
	if (rv == STORAGE_OK)
		rv = load_entries(s, out);
out:
	listing_free(&l);
	return rv;
}

/* The folder that holds `dir`, for making dir's own name durable. */
static void parent_of(const char *dir, char *out)
{
	const char *slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(out, STORAGE_PATH_MAX, ".");
	else if (slash == dir)
		snprintf(out, STORAGE_PATH_MAX, "/");
	else
		snprintf(out, STORAGE_PATH_MAX, "%.*s", (int)(slash - dir),
			 dir);
}

int storage_open(struct storage *s, struct storage_loaded *out)
{
	if (out == NULL)
		return storage_error(s, STORAGE_EINVAL, "open: no output");
	memset(out, 0, sizeof(*out));
	if (s->failed)
		return STORAGE_EIO;
	if (s->opened)
		return storage_error(s, STORAGE_EINVAL, "%s: already open",
				     s->dir);
	int rv = s->vfs->mkdir(s->vfs->ctx, s->dir);
	if (rv == 0) {
		char parent[STORAGE_PATH_MAX];
		parent_of(s->dir, parent);
		rv = s->vfs->dir_sync(s->vfs->ctx, parent);
		if (rv < 0)
			return storage_error(s, STORAGE_EIO,
					     "%s: directory fsync failed: %s",
					     parent, storage__io_strerror(rv));
	} else if (rv != -EEXIST) {
		return storage_error(s, STORAGE_EIO,
				     "%s: cannot create the data folder: %s",
				     s->dir, storage__io_strerror(rv));
	}
	if (s->lock_handle < 0) {
		char path[STORAGE_PATH_MAX];
		storage__path(s, "lock", path);
		int h = s->vfs->lock(s->vfs->ctx, path);
		if (h == -EWOULDBLOCK || h == -EAGAIN)
			return storage_error(s, STORAGE_ELOCKED,
					     "%s: the data folder is in use by "
					     "another process (it holds %s)",
					     s->dir, path);
		if (h < 0)
			return storage_error(s, STORAGE_EIO,
					     "%s: cannot lock: %s", path,
					     storage__io_strerror(h));
		s->lock_handle = h;
	}
	rv = recover(s, out);
	if (rv != STORAGE_OK) {
		storage_loaded_free(out);
		storage__close_files(s);
		s->failed = false;
		s->meta_seq = 0;
		s->term = 0;
		s->vote = 0;
		s->snap_index = 0;
		s->snap_term = 0;
		s->snap_size = 0;
		return rv;
	}
	s->opened = true;
	out->state.term = s->term;
	out->state.vote = s->vote;
	out->state.snap_index = s->snap_index;
	out->state.snap_term = s->snap_term;
	out->state.snap_size = s->snap_size;
	if (s->snap_index != 0) {
		out->snap_config = s->snap_config;
		out->state.snap_config = &out->snap_config;
	}
	out->state.entries = out->entries;
	out->state.n_entries = out->n_entries;
	return STORAGE_OK;
}
