/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
#include "kv/command.h"

#include <stdlib.h>
#include <string.h>

#include "raft/byteorder.h"

/* version u8, op u8, has_old u8, origin u32, incarnation u64, seq u64,
 * klen u32, vlen u32, olen u32, then key, value, old. */
#define HEADER_SIZE (3 + 4 + 8 + 8 + 4 + 4 + 4)

int kv_command_encode(const struct kv_command *c, uint8_t **buf, size_t *len)
{
	if (c->klen == 0 || c->klen > KV_KEY_MAX || c->vlen > KV_VALUE_MAX ||
	    c->olen > KV_VALUE_MAX)
		return -2;
	size_t size = HEADER_SIZE + c->klen + c->vlen + c->olen;
	uint8_t *p = malloc(size);
	if (p == NULL)
		return -1;
	struct byte_writer w;
	byte_writer_init(&w, p, size);
	put_u8(&w, KV_COMMAND_VERSION);
	put_u8(&w, c->op);
	put_u8(&w, c->old != NULL);
	put_u32(&w, c->origin);
	put_u64(&w, c->incarnation);
	put_u64(&w, c->seq);
	put_u32(&w, (uint32_t)c->klen);
	put_u32(&w, (uint32_t)c->vlen);
	put_u32(&w, (uint32_t)c->olen);
	put_bytes(&w, c->key, c->klen);
	put_bytes(&w, c->value, c->vlen);
	put_bytes(&w, c->old, c->olen);
	if (!w.ok || w.pos != size) {
		free(p);
		return -2;
	}
	*buf = p;
	*len = size;
	return 0;
}

int kv_command_decode(const uint8_t *buf, size_t len, struct kv_command *c)
{
	struct byte_reader r;
	byte_reader_init(&r, buf, len);
	uint8_t version = get_u8(&r);
	memset(c, 0, sizeof(*c));
	c->op = get_u8(&r);
	uint8_t has_old = get_u8(&r);
	c->origin = get_u32(&r);
	c->incarnation = get_u64(&r);
	c->seq = get_u64(&r);
	c->klen = get_u32(&r);
	c->vlen = get_u32(&r);
	c->olen = get_u32(&r);
	if (!r.ok || version != KV_COMMAND_VERSION ||
	    (c->op != KV_OP_PUT && c->op != KV_OP_CAS) || has_old > 1 ||
	    c->klen == 0 || c->klen > KV_KEY_MAX || c->vlen > KV_VALUE_MAX ||
	    c->olen > KV_VALUE_MAX || (c->op == KV_OP_PUT && has_old) ||
	    (!has_old && c->olen != 0))
		return -2;
	c->key = (const char *)get_bytes(&r, c->klen);
	c->value = (const char *)get_bytes(&r, c->vlen);
	const char *old = (const char *)get_bytes(&r, c->olen);
	if (!r.ok || r.pos != len)
		return -2;
	c->old = has_old ? old : NULL;
	return 0;
}

int kv_command_apply(const struct kv_command *c, struct kv_map *m,
		     bool *swapped)
{
	*swapped = true;
	if (c->op == KV_OP_CAS) {
		size_t vlen;
		const char *cur = kv_map_get(m, c->key, c->klen, &vlen);
		bool match = c->old == NULL ? cur == NULL
					    : (cur != NULL && vlen == c->olen &&
					       memcmp(cur, c->old, vlen) == 0);
		if (!match) {
			*swapped = false;
			return 0;
		}
	}
	return kv_map_put(m, c->key, c->klen, c->value, c->vlen);
}
