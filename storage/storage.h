/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Durable Raft storage: the log, the term/vote and snapshots of one node in
 * one data folder. Plain blocking POSIX file I/O; docs/storage.md describes
 * the on-disk format and the recovery rules.
 *
 * Every call that changes something returns only once the change is durable
 * (its fsync has returned), so the driver may report it to the core with
 * raft_persisted() / raft_snapshot_installed() as soon as the call succeeds.
 *
 * Threads: a struct storage has no hidden global state and never starts
 * threads. It is thread-compatible: any thread may call it, one call at a time
 * per struct storage (the driver serializes calls, e.g. one worker thread
 * owns it). Different storages (folders) are independent.
 *
 * Errors: every call returns STORAGE_OK or a negative enum storage_error, and
 * storage_errmsg() then says what happened, naming the file and offset. An
 * I/O error while writing (a failed write, fsync or rename) is fatal: the
 * kernel may already have dropped the dirty pages, so retrying an fsync could
 * report success for data that is gone. The storage then stays failed and
 * every later call returns STORAGE_EIO with the first message. Running out
 * of space when a new segment is allocated is not fatal: STORAGE_ENOSPC stops
 * new entries (the node should hand leadership over) while term/vote updates,
 * truncation and snapshots keep working.
 *
 * A driver's life, in order:
 *
 *   s = storage_new(dir, &opts);
 *   storage_open(s, &loaded);          refuse to start on any error
 *   raft_start(r, now, loaded.fresh ? NULL : &loaded.state, &u);
 *   storage_loaded_free(&loaded);      raft_start copied the entries
 *   for each raft_update u, on the storage's worker thread:
 *     if (u.hard_state_changed) storage_set_hard_state(s, u.term, u.vote);
 *     if (u.truncate_from) storage_truncate(s, u.truncate_from);
 *     if (u.n_entries)     storage_append(s, u.entries, u.n_entries);
 *     if (u.snapshot_chunk) storage_snapshot_chunk(s, u.snapshot_chunk);
 *     then raft_persisted() / raft_snapshot_installed(), or on an error
 *     raft_storage_failed(r, now, storage_errmsg(s), &u).
 *   after applying up to index i: storage_snapshot_write(s, i, term, cfg,
 *     bytes, len); raft_snapshot_taken(); storage_compact(s, i - trailing).
 *   storage_close(s);
 *
 * Link with -lz (zlib's crc32) and raft/config.c (the configuration codec).
 */
#ifndef RAFT_STORAGE_H
#define RAFT_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"
#include "storage/vfs.h"

/* The on-disk format this build writes; it reads formats 1..this. */
#define STORAGE_FORMAT 1u

enum storage_error {
	STORAGE_OK = 0,
	STORAGE_ENOMEM = -1,   /* out of memory; nothing was changed */
	STORAGE_EINVAL = -2,   /* bad argument (e.g. non-contiguous index) */
	STORAGE_EIO = -3,      /* write/fsync failed: the storage is failed */
	STORAGE_ENOSPC = -4,   /* no space for a new segment; not fatal */
	STORAGE_ECORRUPT = -5, /* damaged data found; the node must stop */
	STORAGE_EFORMAT = -6,  /* written by a newer format than this build */
	STORAGE_ELOCKED = -7,  /* another process uses the data folder */
	STORAGE_ENOENT = -8,   /* no such snapshot */
};

const char *storage_strerror(int rv);

enum storage_log_level {
	STORAGE_LOG_INFO = 1,
	STORAGE_LOG_WARNING = 2,
	STORAGE_LOG_ERROR = 3,
};

struct storage_options {
	/* Size of a preallocated segment file; a batch larger than that gets
	 * a segment of its own size. 0: STORAGE_SEGMENT_SIZE_DEFAULT. */
	uint64_t segment_size;
	/* A snapshot writer fsyncs every this many bytes.
	 * 0: STORAGE_SNAPSHOT_SLICE. */
	uint64_t snapshot_slice;
	/* Where recovery notes go (a torn tail truncated, leftovers removed).
	 * NULL: stderr. Called from the thread that called the storage. */
	void (*log)(void *ctx, enum storage_log_level level, const char *msg);
	void *log_ctx;
	/* File operations; NULL: the real POSIX ones (storage_vfs_posix). */
	const struct storage_vfs *vfs;
};

#define STORAGE_SEGMENT_SIZE_DEFAULT (8u * 1024u * 1024u)

/* What a node restarts from, filled by storage_open(). `state` points into
 * the other fields and is what raft_start() takes. The storage_loaded owns
 * the entries' data until storage_loaded_free(). */
struct storage_loaded {
	struct raft_persisted_state state;
	struct raft_config snap_config;
	struct raft_entry *entries;
	size_t n_entries;
	bool fresh; /* the folder was empty and has just been initialized */
};

void storage_loaded_free(struct storage_loaded *l);

struct storage;

/* Allocates a storage for the data folder `dir` (created if missing). No
 * I/O happens until storage_open(). NULL when out of memory. */
struct storage *storage_new(const char *dir, const struct storage_options *o);

/* Locks the folder (flock: a second process gets STORAGE_ELOCKED),
 * initializes it when empty, recovers from a crash (a torn last record is
 * truncated and logged; leftover temporary files are removed) and loads the
 * durable state into *out. Any other damage returns STORAGE_ECORRUPT and a
 * message naming the file and offset; a folder written by a newer format
 * returns STORAGE_EFORMAT. Nothing is loaded on error. */
int storage_open(struct storage *s, struct storage_loaded *out);

/* Releases the lock and frees everything. Safe on a failed storage. */
void storage_close(struct storage *s);

/* The last error's message ("" when none). */
const char *storage_errmsg(const struct storage *s);

/* True once a fatal error happened. */
bool storage_failed(const struct storage *s);

/* Stores term and vote atomically: after a crash at any point the storage
 * holds either the previous or the new pair. */
int storage_set_hard_state(struct storage *s, raft_term term, raft_id vote);

/* Appends a batch of entries with one write and one fsync (group commit).
 * entries[0].index must be storage_last_index() + 1 (or the snapshot index
 * + 1 on an empty log), indices consecutive, terms non-decreasing and not
 * below the last entry's term. On STORAGE_OK every entry is durable. */
int storage_append(struct storage *s, const struct raft_entry *entries,
		   size_t n);

/* Removes entries >= from (a conflicting suffix), durably. `from` must be
 * above the snapshot index; beyond the last entry it does nothing. */
int storage_truncate(struct storage *s, raft_index from);

/* Drops whole segments whose entries are all <= upto (compaction after a
 * snapshot: upto = snapshot index - trailing). Never goes past the latest
 * durable snapshot and never removes the segment being written. */
int storage_compact(struct storage *s, raft_index upto);

/* Writes a snapshot of the state machine at `index` (whose entry has
 * `term` and must be in the durable log: snapshot only what storage_append
 * has returned for), with the configuration at that index: temporary file,
 * checksum, fsync, rename, folder fsync. Older snapshot files are removed
 * only after the new one is durable. The log is not touched: call
 * storage_compact(). Blocks the storage for the whole write; the writer
 * below lets a large snapshot be written beside the log instead. */
int storage_snapshot_write(struct storage *s, raft_index index, raft_term term,
			   const struct raft_config *config, const void *data,
			   uint64_t len);

/* A snapshot of `len` bytes written by a thread of its own while the storage
 * goes on with the log. storage_snapshot_writer_new() (on any thread, as it
 * uses only the folder's name and the file operations) opens and reserves
 * the temporary file; _write() appends data in order, fsyncing every
 * snapshot_slice bytes (storage_options) so that the log's fsyncs never queue
 * behind a large flush; _finish() writes header and configuration and fsyncs.
 * Errors are kept in the writer (see _errmsg()) until, back on the storage's
 * thread, storage_snapshot_install() charges them to the storage (an I/O
 * error stops it, as any other) or renames the file into place as
 * storage_snapshot_write() does. The index is checked against the storage
 * only then: a snapshot received meanwhile makes the install fail with
 * STORAGE_EINVAL and leaves the storage as it was. _free() removes the
 * temporary file unless it was installed. */
#define STORAGE_SNAPSHOT_SLICE (16u * 1024u * 1024u)

struct storage_snapshot_writer;

/* NULL only when out of memory; any other error is kept in the writer. */
struct storage_snapshot_writer *
storage_snapshot_writer_new(struct storage *s, raft_index index, raft_term term,
			    const struct raft_config *config, uint64_t len);
int storage_snapshot_writer_write(struct storage_snapshot_writer *w,
				  const void *data, size_t len);
int storage_snapshot_writer_finish(struct storage_snapshot_writer *w);
const char *
storage_snapshot_writer_errmsg(const struct storage_snapshot_writer *w);
int storage_snapshot_install(struct storage *s,
			     struct storage_snapshot_writer *w);
void storage_snapshot_writer_free(struct storage_snapshot_writer *w);

/* Writes one chunk of a snapshot received from the leader
 * (raft_update.snapshot_chunk). A chunk at offset 0 starts a new temporary
 * file; chunks must belong to the same (index, term). The chunk with `last`
 * set finalizes it (checksum, fsync, rename, folder fsync), removes older
 * snapshots and then drops the log unless it holds `index` with the same
 * term (Raft section 7), after which the driver restores its state machine
 * from storage_snapshot_read() and calls raft_snapshot_installed(). */
int storage_snapshot_chunk(struct storage *s,
			   const struct raft_snapshot_chunk *chunk);

/* Reads up to len bytes of the current snapshot's state machine data at
 * offset into buf; *got receives how many (0 at the end). */
int storage_snapshot_read(struct storage *s, uint64_t offset, void *buf,
			  size_t len, size_t *got);

/* Inspection of the durable state. */
raft_index storage_first_index(const struct storage *s); /* 0: empty log */
raft_index storage_last_index(const struct storage *s);	 /* 0: empty log */
raft_index storage_snapshot_index(const struct storage *s);
raft_term storage_snapshot_term(const struct storage *s);
uint64_t storage_snapshot_size(const struct storage *s);
raft_term storage_term(const struct storage *s);
raft_id storage_vote(const struct storage *s);
size_t storage_segment_count(const struct storage *s);

#endif
