/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The project's one set of byte-order helpers: every codec (core messages,
 * storage records, transport frames and handshakes, ha-kv, the plugin's
 * records and state snapshots) is little-endian and built on these.
 * Header-only and free of any dependency, so every layer may include it.
 *
 * le*_store and le*_load work on a buffer the caller has checked is long
 * enough. The byte_writer and byte_reader build on them with bounds checks:
 * a reader never reads past its end; once it runs short it stays failed and
 * returns zeros, so a decoder checks `ok` once at the end. */
#ifndef RAFT_BYTEORDER_H
#define RAFT_BYTEORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void le16_store(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void le32_store(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void le64_store(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t le16_load(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t le32_load(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline uint64_t le64_load(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

struct byte_writer {
	uint8_t *p;
	size_t len;
	size_t pos;
	bool ok;
};

struct byte_reader {
	const uint8_t *p;
	size_t len;
	size_t pos;
	bool ok;
};

static inline void byte_writer_init(struct byte_writer *w, uint8_t *p,
				    size_t len)
{
	w->p = p;
	w->len = len;
	w->pos = 0;
	w->ok = true;
}

static inline void byte_reader_init(struct byte_reader *r, const uint8_t *p,
				    size_t len)
{
	r->p = p;
	r->len = len;
	r->pos = 0;
	r->ok = true;
}

static inline void put_bytes(struct byte_writer *w, const void *src, size_t n)
{
	if (!w->ok || w->len - w->pos < n) {
		w->ok = false;
		return;
	}
	if (n > 0)
		memcpy(w->p + w->pos, src, n);
	w->pos += n;
}

static inline void put_u8(struct byte_writer *w, uint8_t v)
{
	put_bytes(w, &v, 1);
}

static inline void put_u16(struct byte_writer *w, uint16_t v)
{
	uint8_t b[2];
	le16_store(b, v);
	put_bytes(w, b, 2);
}

static inline void put_u32(struct byte_writer *w, uint32_t v)
{
	uint8_t b[4];
	le32_store(b, v);
	put_bytes(w, b, 4);
}

static inline void put_u64(struct byte_writer *w, uint64_t v)
{
	uint8_t b[8];
	le64_store(b, v);
	put_bytes(w, b, 8);
}

static inline const uint8_t *get_bytes(struct byte_reader *r, size_t n)
{
	if (!r->ok || r->len - r->pos < n) {
		r->ok = false;
		return NULL;
	}
	const uint8_t *p = r->p + r->pos;
	r->pos += n;
	return p;
}

static inline uint8_t get_u8(struct byte_reader *r)
{
	const uint8_t *p = get_bytes(r, 1);
	return p ? p[0] : 0;
}

static inline uint16_t get_u16(struct byte_reader *r)
{
	const uint8_t *p = get_bytes(r, 2);
	return p ? le16_load(p) : 0;
}

static inline uint32_t get_u32(struct byte_reader *r)
{
	const uint8_t *p = get_bytes(r, 4);
	return p ? le32_load(p) : 0;
}

static inline uint64_t get_u64(struct byte_reader *r)
{
	const uint8_t *p = get_bytes(r, 8);
	return p ? le64_load(p) : 0;
}

#endif
