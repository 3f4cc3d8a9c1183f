/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * The on-disk encodings of the storage (docs/storage.md): metadata files,
 * segment headers, log records and snapshot headers, and the scan of a
 * segment's bytes that recovery relies on. Pure functions of bytes, no I/O,
 * so that tests and the fuzzer can drive them directly.
 *
 * Decoders return STORAGE_OK, STORAGE_ECORRUPT (damaged) or STORAGE_EFORMAT
 * (a newer format than this build reads) and write a short reason to `why`.
 * They check the checksum before trusting the format version, so a damaged
 * version field reads as damage, not as a newer format.
 */
#ifndef RAFT_STORAGE_FORMAT_H
#define RAFT_STORAGE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

#define STORAGE_META_SIZE 40u
#define STORAGE_SEGMENT_HEADER_SIZE 32u
#define STORAGE_RECORD_HEADER_SIZE 40u
#define STORAGE_SNAPSHOT_HEADER_SIZE 64u
#define STORAGE_RECORD_ALIGN 8u
#define STORAGE_RECORD_MAGIC 0x31434552u /* "REC1" little-endian */
#define STORAGE_WHY_MAX 200u

/* Term and vote, written alternately to meta1 (odd seq) and meta2 (even). */
struct storage_meta {
	uint32_t format;
	uint64_t seq;
	raft_term term;
	raft_id vote;
};

struct storage_segment_header {
	uint32_t format;
	raft_index first_index;
};

/* One log entry's record header; the entry's bytes follow, zero-padded to
 * STORAGE_RECORD_ALIGN. batch_pos counts the records written before this one
 * in the same batch (one write + one fsync), which tells recovery whether a
 * damaged record belongs to the last, possibly torn, batch. */
struct storage_record {
	uint8_t format;
	uint8_t type;
	uint8_t version;
	raft_term term;
	raft_index index;
	uint32_t len;
	uint32_t batch_pos;
	uint32_t data_crc;
};

struct storage_snapshot_header {
	uint32_t format;
	raft_index index;
	raft_term term;
	uint64_t data_len;   /* state machine bytes, right after the header */
	uint32_t config_len; /* encoded raft_config, after the data */
	uint32_t crc;	     /* over data then config */
};

/* zlib's crc32 (crc32.c), faster where the processor allows. */
uint32_t storage__crc32(uint32_t crc, const void *buf, size_t len);
/* True when storage__crc32 uses carry-less multiplication. */
bool storage__crc32_accelerated(void);

void storage__meta_encode(const struct storage_meta *m, uint8_t *buf);
int storage__meta_decode(const uint8_t *buf, size_t len, struct storage_meta *m,
			 char *why);

void storage__segment_header_encode(const struct storage_segment_header *h,
				    uint8_t *buf);
int storage__segment_header_decode(const uint8_t *buf, size_t len,
				   struct storage_segment_header *h, char *why);

/* Bytes a record with `len` bytes of data takes in a segment. */
uint64_t storage__record_size(uint32_t len);
void storage__record_header_encode(const struct storage_record *r,
				   uint8_t *buf);
/* Checks magic and header checksum only (not the data). */
int storage__record_header_decode(const uint8_t *buf, size_t len,
				  struct storage_record *r, char *why);

void storage__snapshot_header_encode(const struct storage_snapshot_header *h,
				     uint8_t *buf);
int storage__snapshot_header_decode(const uint8_t *buf, size_t len,
				    struct storage_snapshot_header *h,
				    char *why);

/* The result of scanning one segment's bytes. */
struct storage_scan {
	uint64_t *offsets; /* offset of each valid record, in index order */
	raft_term *terms;  /* its term */
	size_t n;
	size_t cap;
	uint64_t end; /* offset just past the last valid record */
	bool torn;    /* damage after `end` that a torn last batch explains */
	uint64_t bad_offset;
	char why[2 * STORAGE_WHY_MAX];
};

/* Scans the records of a segment image (header included) whose first index
 * is `first` and whose entries' terms must not go below `min_term`.
 * STORAGE_OK: the records up to sc->end are valid; if sc->torn, the bytes
 * at sc->bad_offset are damaged in a way a torn last batch explains (only
 * acceptable in the last segment). STORAGE_ECORRUPT: damage that no crash
 * explains (a bad record followed by a later batch, a record with a wrong
 * index, ...) at sc->bad_offset. STORAGE_EFORMAT: a newer record format.
 * STORAGE_ENOMEM. Free sc with storage__scan_free(). */
int storage__segment_scan(const uint8_t *buf, size_t len, raft_index first,
			  raft_term min_term, struct storage_scan *sc);
void storage__scan_free(struct storage_scan *sc);

/* True when some 8-aligned offset in [from, len) holds a record header with
 * a valid checksum; its batch's first index goes to *batch_first. The
 * largest batch_first found is returned. */
bool storage__find_record_after(const uint8_t *buf, size_t len, uint64_t from,
				raft_index *batch_first, uint64_t *at);

#endif
