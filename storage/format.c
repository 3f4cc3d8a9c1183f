/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* On-disk encodings and the segment scan (see format.h, docs/storage.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raft/byteorder.h"
#include "storage/format.h"
#include "storage/storage.h"

static const uint8_t meta_magic[8] = {'M', 'Q', 'H', 'A', 'M', 'E', 'T', 'A'};
static const uint8_t segment_magic[8] = {'M', 'Q', 'H', 'A',
					 'S', 'E', 'G', 'M'};
static const uint8_t snapshot_magic[8] = {'M', 'Q', 'H', 'A',
					  'S', 'N', 'A', 'P'};

/* A checksummed header: the last 4 bytes are the CRC32 of the rest. */
static uint32_t header_crc(const uint8_t *buf, size_t size)
{
	return storage__crc32(0, buf, size - 4);
}

/* The common shape of file headers: magic, format u32, header size u32, ...,
 * crc u32. Checks magic, size and checksum, then the version. */
static int file_header_check(const uint8_t *buf, size_t len,
			     const uint8_t magic[8], uint32_t size,
			     uint32_t *format, char *why)
{
	struct byte_reader r;
	if (len < size) {
		snprintf(why, STORAGE_WHY_MAX,
			 "truncated header (%zu of %u bytes)", len, size);
		return STORAGE_ECORRUPT;
	}
	if (memcmp(buf, magic, 8) != 0) {
		snprintf(why, STORAGE_WHY_MAX, "bad magic");
		return STORAGE_ECORRUPT;
	}
	byte_reader_init(&r, buf + 8, 8);
	uint32_t fmt = get_u32(&r);
	uint32_t hsize = get_u32(&r);
	if (hsize != size) {
		snprintf(why, STORAGE_WHY_MAX, "header size %u, expected %u",
			 hsize, size);
		/* A newer format may grow the header; tell that apart from
		 * damage only when the version says so and the rest checks. */
		if (fmt > STORAGE_FORMAT && hsize > size && hsize <= len &&
		    header_crc(buf, hsize) == le32_load(buf + hsize - 4)) {
			snprintf(why, STORAGE_WHY_MAX,
				 "written by storage format %u; this build "
				 "reads formats 1 to %u",
				 fmt, STORAGE_FORMAT);
			return STORAGE_EFORMAT;
		}
		return STORAGE_ECORRUPT;
	}
	byte_reader_init(&r, buf + size - 4, 4);
	if (get_u32(&r) != header_crc(buf, size)) {
		snprintf(why, STORAGE_WHY_MAX, "header checksum mismatch");
		return STORAGE_ECORRUPT;
	}
	if (fmt == 0) {
		snprintf(why, STORAGE_WHY_MAX, "format version 0");
		return STORAGE_ECORRUPT;
	}
	if (fmt > STORAGE_FORMAT) {
		snprintf(why, STORAGE_WHY_MAX,
			 "written by storage format %u; this build reads "
			 "formats 1 to %u",
			 fmt, STORAGE_FORMAT);
		return STORAGE_EFORMAT;
	}
	*format = fmt;
	return STORAGE_OK;
}

static void put_crc(uint8_t *buf, size_t size)
{
	struct byte_writer w;
	byte_writer_init(&w, buf + size - 4, 4);
	put_u32(&w, header_crc(buf, size));
}

void storage__meta_encode(const struct storage_meta *m, uint8_t *buf)
{
	struct byte_writer w;
	byte_writer_init(&w, buf, STORAGE_META_SIZE);
	put_bytes(&w, meta_magic, 8);
	put_u32(&w, m->format);
	put_u32(&w, STORAGE_META_SIZE);
	put_u64(&w, m->seq);
	put_u64(&w, m->term);
	put_u32(&w, m->vote);
	put_crc(buf, STORAGE_META_SIZE);
}

int storage__meta_decode(const uint8_t *buf, size_t len, struct storage_meta *m,
			 char *why)
{
	uint32_t fmt;
	int rv = file_header_check(buf, len, meta_magic, STORAGE_META_SIZE,
				   &fmt, why);
	if (rv != STORAGE_OK)
		return rv;
	if (len != STORAGE_META_SIZE) {
		snprintf(why, STORAGE_WHY_MAX, "%zu bytes, expected %u", len,
			 STORAGE_META_SIZE);
		return STORAGE_ECORRUPT;
	}
	struct byte_reader r;
	byte_reader_init(&r, buf + 16, STORAGE_META_SIZE - 20);
	struct storage_meta tmp = {.format = fmt};
	tmp.seq = get_u64(&r);
	tmp.term = get_u64(&r);
	tmp.vote = get_u32(&r);
	if (tmp.seq == 0 || tmp.vote > RAFT_MAX_NODE_ID) {
		snprintf(why, STORAGE_WHY_MAX,
			 "impossible values (seq %llu, vote %u)",
			 (unsigned long long)tmp.seq, tmp.vote);
		return STORAGE_ECORRUPT;
	}
	*m = tmp;
	return STORAGE_OK;
}

void storage__segment_header_encode(const struct storage_segment_header *h,
				    uint8_t *buf)
{
	struct byte_writer w;
	byte_writer_init(&w, buf, STORAGE_SEGMENT_HEADER_SIZE);
	put_bytes(&w, segment_magic, 8);
	put_u32(&w, h->format);
	put_u32(&w, STORAGE_SEGMENT_HEADER_SIZE);
	put_u64(&w, h->first_index);
	put_u32(&w, 0);
	put_crc(buf, STORAGE_SEGMENT_HEADER_SIZE);
}

int storage__segment_header_decode(const uint8_t *buf, size_t len,
				   struct storage_segment_header *h, char *why)
{
	uint32_t fmt;
	int rv = file_header_check(buf, len, segment_magic,
				   STORAGE_SEGMENT_HEADER_SIZE, &fmt, why);
	if (rv != STORAGE_OK)
		return rv;
	struct byte_reader r;
	byte_reader_init(&r, buf + 16, 12);
	raft_index first = get_u64(&r);
	uint32_t reserved = get_u32(&r);
	if (first == 0 || reserved != 0) {
		snprintf(why, STORAGE_WHY_MAX,
			 "impossible header (first index %llu, reserved %u)",
			 (unsigned long long)first, reserved);
		return STORAGE_ECORRUPT;
	}
	h->format = fmt;
	h->first_index = first;
	return STORAGE_OK;
}

uint64_t storage__record_size(uint32_t len)
{
	uint64_t padded = ((uint64_t)len + STORAGE_RECORD_ALIGN - 1) &
			  ~(uint64_t)(STORAGE_RECORD_ALIGN - 1);
	return STORAGE_RECORD_HEADER_SIZE + padded;
}

/* Record header: magic u32, format u8, type u8, version u8, reserved u8,
 * term u64, index u64, len u32, batch_pos u32, data_crc u32, crc u32 over
 * the 36 bytes before it. */
void storage__record_header_encode(const struct storage_record *rec,
				   uint8_t *buf)
{
	struct byte_writer w;
	byte_writer_init(&w, buf, STORAGE_RECORD_HEADER_SIZE);
	put_u32(&w, STORAGE_RECORD_MAGIC);
	put_u8(&w, rec->format);
	put_u8(&w, rec->type);
	put_u8(&w, rec->version);
	put_u8(&w, 0);
	put_u64(&w, rec->term);
	put_u64(&w, rec->index);
	put_u32(&w, rec->len);
	put_u32(&w, rec->batch_pos);
	put_u32(&w, rec->data_crc);
	put_crc(buf, STORAGE_RECORD_HEADER_SIZE);
}

int storage__record_header_decode(const uint8_t *buf, size_t len,
				  struct storage_record *rec, char *why)
{
	struct byte_reader r;
	if (len < STORAGE_RECORD_HEADER_SIZE) {
		snprintf(why, STORAGE_WHY_MAX, "truncated record header");
		return STORAGE_ECORRUPT;
	}
	byte_reader_init(&r, buf, STORAGE_RECORD_HEADER_SIZE);
	if (get_u32(&r) != STORAGE_RECORD_MAGIC) {
		snprintf(why, STORAGE_WHY_MAX, "bad record magic");
		return STORAGE_ECORRUPT;
	}
	struct storage_record tmp;
	tmp.format = get_u8(&r);
	tmp.type = get_u8(&r);
	tmp.version = get_u8(&r);
	uint8_t reserved = get_u8(&r);
	tmp.term = get_u64(&r);
	tmp.index = get_u64(&r);
	tmp.len = get_u32(&r);
	tmp.batch_pos = get_u32(&r);
	tmp.data_crc = get_u32(&r);
	uint32_t crc = get_u32(&r);
	if (crc != header_crc(buf, STORAGE_RECORD_HEADER_SIZE)) {
		snprintf(why, STORAGE_WHY_MAX,
			 "record header checksum mismatch");
		return STORAGE_ECORRUPT;
	}
	if (tmp.format == 0 || reserved != 0) {
		snprintf(why, STORAGE_WHY_MAX, "bad record format %u",
			 tmp.format);
		return STORAGE_ECORRUPT;
	}
	if (tmp.format > STORAGE_FORMAT) {
		snprintf(why, STORAGE_WHY_MAX,
			 "record written by storage format %u; this build "
			 "reads formats 1 to %u",
			 tmp.format, STORAGE_FORMAT);
		return STORAGE_EFORMAT;
	}
	if (tmp.index == 0 || tmp.term == 0 || tmp.type == 0 ||
	    tmp.len > RAFT_MAX_ENTRY_BYTES || tmp.batch_pos >= tmp.index) {
		snprintf(why, STORAGE_WHY_MAX,
			 "impossible record (index %llu, term %llu, type %u, "
			 "len %u, batch position %u)",
			 (unsigned long long)tmp.index,
			 (unsigned long long)tmp.term, tmp.type, tmp.len,
			 tmp.batch_pos);
		return STORAGE_ECORRUPT;
	}
	*rec = tmp;
	return STORAGE_OK;
}

/* Snapshot header: magic, format u32, size u32, index u64, term u64,
 * data_len u64, config_len u32, crc of data+config u32, 12 reserved bytes,
 * header crc u32. */
void storage__snapshot_header_encode(const struct storage_snapshot_header *h,
				     uint8_t *buf)
{
	struct byte_writer w;
	byte_writer_init(&w, buf, STORAGE_SNAPSHOT_HEADER_SIZE);
	put_bytes(&w, snapshot_magic, 8);
	put_u32(&w, h->format);
	put_u32(&w, STORAGE_SNAPSHOT_HEADER_SIZE);
	put_u64(&w, h->index);
	put_u64(&w, h->term);
	put_u64(&w, h->data_len);
	put_u32(&w, h->config_len);
	put_u32(&w, h->crc);
	put_u64(&w, 0);
	put_u32(&w, 0);
	put_crc(buf, STORAGE_SNAPSHOT_HEADER_SIZE);
}

int storage__snapshot_header_decode(const uint8_t *buf, size_t len,
				    struct storage_snapshot_header *h,
				    char *why)
{
	uint32_t fmt;
	int rv = file_header_check(buf, len, snapshot_magic,
				   STORAGE_SNAPSHOT_HEADER_SIZE, &fmt, why);
	if (rv != STORAGE_OK)
		return rv;
	struct byte_reader r;
	byte_reader_init(&r, buf + 16, STORAGE_SNAPSHOT_HEADER_SIZE - 20);
	struct storage_snapshot_header tmp = {.format = fmt};
	tmp.index = get_u64(&r);
	tmp.term = get_u64(&r);
	tmp.data_len = get_u64(&r);
	tmp.config_len = get_u32(&r);
	tmp.crc = get_u32(&r);
	uint64_t reserved = get_u64(&r) | get_u32(&r);
	if (tmp.index == 0 || tmp.term == 0 || tmp.config_len == 0 ||
	    reserved != 0 || tmp.data_len > (UINT64_MAX >> 2)) {
		snprintf(why, STORAGE_WHY_MAX,
			 "impossible snapshot header (index %llu, term %llu)",
			 (unsigned long long)tmp.index,
			 (unsigned long long)tmp.term);
		return STORAGE_ECORRUPT;
	}
	*h = tmp;
	return STORAGE_OK;
}

void storage__scan_free(struct storage_scan *sc)
{
	free(sc->offsets);
	free(sc->terms);
	sc->offsets = NULL;
	sc->terms = NULL;
	sc->n = sc->cap = 0;
}

static int scan_push(struct storage_scan *sc, uint64_t off, raft_term term)
{
	if (sc->n == sc->cap) {
		size_t cap = sc->cap ? sc->cap * 2 : 64;
		uint64_t *o = realloc(sc->offsets, cap * sizeof(*o));
		if (o == NULL)
			return STORAGE_ENOMEM;
		sc->offsets = o;
		raft_term *t = realloc(sc->terms, cap * sizeof(*t));
		if (t == NULL)
			return STORAGE_ENOMEM;
		sc->terms = t;
		sc->cap = cap;
	}
	sc->offsets[sc->n] = off;
	sc->terms[sc->n] = term;
	sc->n++;
	return STORAGE_OK;
}

bool storage__find_record_after(const uint8_t *buf, size_t len, uint64_t from,
				raft_index *batch_first, uint64_t *at)
{
	bool found = false;
	uint64_t pos = (from + STORAGE_RECORD_ALIGN - 1) &
		       ~(uint64_t)(STORAGE_RECORD_ALIGN - 1);
	for (; pos + STORAGE_RECORD_HEADER_SIZE <= len;
	     pos += STORAGE_RECORD_ALIGN) {
		if (buf[pos] != (STORAGE_RECORD_MAGIC & 0xff) ||
		    buf[pos + 1] != ((STORAGE_RECORD_MAGIC >> 8) & 0xff))
			continue;
		struct storage_record rec;
		char why[STORAGE_WHY_MAX];
		if (storage__record_header_decode(buf + pos, len - pos, &rec,
						  why) == STORAGE_ECORRUPT)
			continue;
		raft_index bf = rec.index - rec.batch_pos;
		if (!found || bf > *batch_first) {
			*batch_first = bf;
			*at = pos;
		}
		found = true;
	}
	return found;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

int storage__segment_scan(const uint8_t *buf, size_t len, raft_index first,
			  raft_term min_term, struct storage_scan *sc)
{
	memset(sc, 0, sizeof(*sc));
	uint64_t pos = STORAGE_SEGMENT_HEADER_SIZE;
	raft_index expect = first;
	raft_term prev_term = min_term;
	uint32_t prev_pos = 0;
	char why[STORAGE_WHY_MAX] = "";
	bool damaged = false;

	if (len < STORAGE_SEGMENT_HEADER_SIZE) {
		snprintf(sc->why, sizeof(sc->why), "shorter than its header");
		sc->bad_offset = 0;
		return STORAGE_ECORRUPT;
	}
	for (;;) {
		if (len - pos < STORAGE_RECORD_HEADER_SIZE) {
			damaged = !all_zero(buf + pos, len - pos);
			snprintf(why, sizeof(why), "partial record header");
			break;
		}
		if (all_zero(buf + pos, STORAGE_RECORD_HEADER_SIZE))
			break; /* the end of the written records */
		struct storage_record rec;
		int rv = storage__record_header_decode(buf + pos, len - pos,
						       &rec, why);
		if (rv == STORAGE_EFORMAT) {
			sc->bad_offset = pos;
			snprintf(sc->why, sizeof(sc->why), "%s", why);
			return STORAGE_EFORMAT;
		}
		if (rv != STORAGE_OK) {
			damaged = true;
			break;
		}
		/* A header with a valid checksum was fully written: what it
		 * says is what we wrote, so a wrong value is not a torn
		 * write. */
		const char *bad = NULL;
		if (rec.index != expect)
			bad = "index out of sequence";
		else if (rec.term < prev_term)
			bad = "term lower than the previous entry's";
		else if (rec.batch_pos != 0 &&
			 (sc->n == 0 || rec.batch_pos != prev_pos + 1))
			bad = "batch position out of sequence";
		if (bad != NULL) {
			sc->bad_offset = pos;
			snprintf(sc->why, sizeof(sc->why),
				 "record index %llu term %llu: %s (expected "
				 "index %llu)",
				 (unsigned long long)rec.index,
				 (unsigned long long)rec.term, bad,
				 (unsigned long long)expect);
			return STORAGE_ECORRUPT;
		}
		/* Past the end of the file: a write that extended the file
		 * was cut short. */
		if (storage__record_size(rec.len) > len - pos) {
			snprintf(why, sizeof(why),
				 "record index %llu runs past the end of the "
				 "file",
				 (unsigned long long)rec.index);
			damaged = true;
			break;
		}
		const uint8_t *data = buf + pos + STORAGE_RECORD_HEADER_SIZE;
		if (storage__crc32(0, data, rec.len) != rec.data_crc) {
			snprintf(why, sizeof(why),
				 "data checksum mismatch (index %llu)",
				 (unsigned long long)rec.index);
			damaged = true;
			break;
		}
		int prv = scan_push(sc, pos, rec.term);
		if (prv != STORAGE_OK)
			return prv;
		expect++;
		prev_term = rec.term;
		prev_pos = rec.batch_pos;
		pos += storage__record_size(rec.len);
	}
	sc->end = pos;
	sc->bad_offset = pos;

	/* A record after the damage whose batch began after `expect` was
	 * written (and fsynced) after the damaged one: no crash explains
	 * that. Records of the damaged record's own batch may survive a torn
	 * write in any order. */
	raft_index batch_first = 0;
	uint64_t at = 0;
	if (storage__find_record_after(buf, len, pos + 1, &batch_first, &at)) {
		if (batch_first > expect) {
			snprintf(sc->why, sizeof(sc->why),
				 "%s, but a later batch (from index %llu at "
				 "offset %llu) follows",
				 damaged ? why : "zeroed record header",
				 (unsigned long long)batch_first,
				 (unsigned long long)at);
			return STORAGE_ECORRUPT;
		}
		if (!damaged)
			snprintf(why, sizeof(why), "zeroed record header");
		damaged = true;
	} else if (!damaged && !all_zero(buf + pos, len - pos)) {
		damaged = true;
		snprintf(why, sizeof(why),
			 "unexpected bytes after the last record");
	}
	if (!damaged)
		return STORAGE_OK;
	/* Only a torn last batch explains what is left. */
	sc->torn = true;
	snprintf(sc->why, sizeof(sc->why), "%s", why);
	return STORAGE_OK;
}
