/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The storage's state and the helpers its files share. Not a public API. */
#ifndef RAFT_STORAGE_INTERNAL_H
#define RAFT_STORAGE_INTERNAL_H

#include "storage/format.h"
#include "storage/storage.h"

#define STORAGE_PATH_MAX 4096u
#define STORAGE_MSG_MAX 768u
#define STORAGE_NAME_MAX 64u

/* One segment file "seg-<first index, 20 digits>". Never empty once loaded:
 * a segment whose every entry is removed is deleted. */
struct segment {
	raft_index first;
	raft_index last;
	uint64_t end;	   /* offset just past the last record */
	uint64_t size;	   /* preallocated size */
	uint64_t zeroed;   /* written with zeros up to here (log.c) */
	uint64_t *offsets; /* offset of entry first + i */
	raft_term *terms;  /* term of entry first + i */
	size_t cap;
};

struct storage {
	char *dir;
	struct storage_options opt;
	const struct storage_vfs *vfs;
	int lock_handle;
	bool opened;
	bool failed;
	char errmsg[STORAGE_MSG_MAX];

	/* Term and vote. */
	int meta_fd[2];
	uint64_t meta_seq;
	raft_term term;
	raft_id vote;

	/* The log: segments in index order; the last one takes appends. */
	struct segment *segs;
	size_t n_segs;
	size_t cap_segs;
	int active_fd;	 /* of segs[n_segs - 1], -1 when none */
	bool zero_ahead; /* for active_fd (log.c) */

	/* The latest durable snapshot. */
	raft_index snap_index;
	raft_term snap_term;
	uint64_t snap_size;
	struct raft_config snap_config;
	int snap_fd;

	/* A snapshot being received in chunks. */
	int recv_fd;
	raft_index recv_index;
	raft_term recv_term;
	uint64_t recv_end;
	uint32_t recv_crc;	/* of the bytes before recv_crc_end */
	uint64_t recv_crc_end;	/* UINT64_MAX: chunks came out of order */
	uint64_t recv_unsynced; /* written since the last fsync */
};

int storage_error(struct storage *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int storage__fail(struct storage *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void storage__note(struct storage *s, enum storage_log_level level,
		   const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void storage__path(const struct storage *s, const char *name, char *out);
const char *storage__io_strerror(int neg_errno);
int storage__check_usable(struct storage *s);
void storage__close_files(struct storage *s);

int storage__meta_slot(uint64_t seq);
const char *storage__meta_name(int slot);

void storage__segment_name(raft_index first, char *out);
void storage__snapshot_name(raft_index index, char *out);
void storage__segment_free(struct segment *seg);
int storage__segment_reserve(struct segment *seg, size_t n);
int storage__segments_push(struct storage *s, const struct segment *seg);
raft_term storage__term_at(const struct storage *s, raft_index index);
/* Removes segments from the last one back while their first index is >=
 * from, each removal made durable before the next so that a crash leaves
 * a prefix of the log. */
int storage__drop_tail_segments(struct storage *s, raft_index from);
int storage__open_active(struct storage *s);
/* Removes a file and makes the removal durable. */
int storage__remove_durably(struct storage *s, const char *name);

int storage__snapshot_verify(struct storage *s, const char *name,
			     raft_index expect_index,
			     struct storage_snapshot_header *h,
			     struct raft_config *config);

#endif
