/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Little-endian encoding helpers with bounds checks, shared by every codec of
 * the project. A reader never reads past its end: once it runs short it
 * stays failed and returns zeros, so a decoder checks `ok` once at the end. */
#ifndef RAFT_BYTEORDER_H
#define RAFT_BYTEORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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
	uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	put_bytes(w, b, 2);
}

static inline void put_u32(struct byte_writer *w, uint32_t v)
{
	uint8_t b[4];
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	put_bytes(w, b, 4);
}

static inline void put_u64(struct byte_writer *w, uint64_t v)
{
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
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
	return p ? (uint16_t)(p[0] | (p[1] << 8)) : 0;
}

static inline uint32_t get_u32(struct byte_reader *r)
{
	const uint8_t *p = get_bytes(r, 4);
	uint32_t v = 0;
	if (p)
		for (int i = 3; i >= 0; i--)
			v = (v << 8) | p[i];
	return v;
}

static inline uint64_t get_u64(struct byte_reader *r)
{
	const uint8_t *p = get_bytes(r, 8);
	uint64_t v = 0;
	if (p)
		for (int i = 7; i >= 0; i--)
			v = (v << 8) | p[i];
	return v;
}

#endif
