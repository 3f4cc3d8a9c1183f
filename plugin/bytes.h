/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Bounds-checked big-endian reading and writing, shared by the record and
 * snapshot codecs. A reader never reads past its end: every getter returns
 * false instead, and leaves the reader where it was. A writer is given the
 * exact size its caller computed; a write past it returns false, which the
 * codecs treat as their own bug (the size and the writer disagree). */
#ifndef HA_PLUGIN_BYTES_H
#define HA_PLUGIN_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct ha_reader {
	const uint8_t *p;
	size_t left;
};

static inline bool ha_get_bytes(struct ha_reader *r, size_t n,
				const uint8_t **out)
{
	if (r->left < n)
		return false;
	*out = r->p;
	r->p += n;
	r->left -= n;
	return true;
}

static inline bool ha_get_u8(struct ha_reader *r, uint8_t *v)
{
	if (r->left < 1)
		return false;
	*v = r->p[0];
	r->p++;
	r->left--;
	return true;
}

static inline bool ha_get_be(struct ha_reader *r, size_t n, uint64_t *v)
{
	if (r->left < n)
		return false;
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++)
		x = x << 8 | r->p[i];
	*v = x;
	r->p += n;
	r->left -= n;
	return true;
}

static inline bool ha_get_u16(struct ha_reader *r, uint16_t *v)
{
	uint64_t x;
	if (!ha_get_be(r, 2, &x))
		return false;
	*v = (uint16_t)x;
	return true;
}

static inline bool ha_get_u32(struct ha_reader *r, uint32_t *v)
{
	uint64_t x;
	if (!ha_get_be(r, 4, &x))
		return false;
	*v = (uint32_t)x;
	return true;
}

static inline bool ha_get_u64(struct ha_reader *r, uint64_t *v)
{
	return ha_get_be(r, 8, v);
}

struct ha_writer {
	uint8_t *p;
	size_t left;
};

static inline bool ha_put_bytes(struct ha_writer *w, const void *data,
				size_t n)
{
	if (w->left < n)
		return false;
	if (n > 0)
		memcpy(w->p, data, n);
	w->p += n;
	w->left -= n;
	return true;
}

static inline bool ha_put_be(struct ha_writer *w, size_t n, uint64_t v)
{
	if (w->left < n)
		return false;
	for (size_t i = 0; i < n; i++)
		w->p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	w->p += n;
	w->left -= n;
	return true;
}

static inline bool ha_put_u8(struct ha_writer *w, uint8_t v)
{
	return ha_put_be(w, 1, v);
}

static inline bool ha_put_u16(struct ha_writer *w, uint16_t v)
{
	return ha_put_be(w, 2, v);
}

static inline bool ha_put_u32(struct ha_writer *w, uint32_t v)
{
	return ha_put_be(w, 4, v);
}

static inline bool ha_put_u64(struct ha_writer *w, uint64_t v)
{
	return ha_put_be(w, 8, v);
}

#endif
