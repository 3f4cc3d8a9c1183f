/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Cluster configurations: look-ups and their binary encoding. */
#include <string.h>

#include "raft/byteorder.h"
#include "raft/raft.h"

#define CONFIG_FORMAT 1

const struct raft_server *raft_config_find(const struct raft_config *c,
					   raft_id id)
{
	for (uint32_t i = 0; i < c->n; i++)
		if (c->servers[i].id == id)
			return &c->servers[i];
	return NULL;
}

unsigned raft_config_voters(const struct raft_config *c)
{
	unsigned n = 0;
	for (uint32_t i = 0; i < c->n; i++)
		if (c->servers[i].role == RAFT_VOTER)
			n++;
	return n;
}

/* format u8, cluster id, n u16, then per server: id u32, role u8,
 * promote u8, address length u16, address bytes (no NUL). */
size_t raft_config_encoded_size(const struct raft_config *c)
{
	size_t size = 1 + RAFT_CLUSTER_ID_LEN + 2;
	for (uint32_t i = 0; i < c->n && i < RAFT_MAX_SERVERS; i++)
		size += 4 + 1 + 1 + 2 +
			strnlen(c->servers[i].address, RAFT_ADDRESS_MAX - 1);
	return size;
}

void raft_config_encode(const struct raft_config *c, uint8_t *buf)
{
	struct byte_writer w;
	byte_writer_init(&w, buf, raft_config_encoded_size(c));
	put_u8(&w, CONFIG_FORMAT);
	put_bytes(&w, c->cluster_id, RAFT_CLUSTER_ID_LEN);
	uint32_t n = c->n < RAFT_MAX_SERVERS ? c->n : RAFT_MAX_SERVERS;
	put_u16(&w, (uint16_t)n);
	for (uint32_t i = 0; i < n; i++) {
		const struct raft_server *s = &c->servers[i];
		size_t alen = strnlen(s->address, RAFT_ADDRESS_MAX - 1);
		put_u32(&w, s->id);
		put_u8(&w, s->role);
		put_u8(&w, s->promote);
		put_u16(&w, (uint16_t)alen);
		put_bytes(&w, s->address, alen);
	}
}

int raft_config_decode(const uint8_t *buf, size_t len, struct raft_config *c)
{
	struct byte_reader r;
	struct raft_config tmp;
	byte_reader_init(&r, buf, len);
	memset(&tmp, 0, sizeof(tmp));
	if (get_u8(&r) != CONFIG_FORMAT)
		return RAFT_EINVAL;
	const uint8_t *id = get_bytes(&r, RAFT_CLUSTER_ID_LEN);
	if (id == NULL)
		return RAFT_EINVAL;
	memcpy(tmp.cluster_id, id, RAFT_CLUSTER_ID_LEN);
	uint16_t n = get_u16(&r);
	if (n > RAFT_MAX_SERVERS)
		return RAFT_EINVAL;
	for (uint16_t i = 0; i < n; i++) {
		struct raft_server *s = &tmp.servers[i];
		s->id = get_u32(&r);
		s->role = get_u8(&r);
		s->promote = get_u8(&r);
		uint16_t alen = get_u16(&r);
		if (alen >= RAFT_ADDRESS_MAX)
			return RAFT_EINVAL;
		const uint8_t *a = get_bytes(&r, alen);
		if (a == NULL)
			return RAFT_EINVAL;
		memcpy(s->address, a, alen);
		if (memchr(s->address, '\0', alen) != NULL)
			return RAFT_EINVAL;
		if (s->id == 0 || s->id > RAFT_MAX_NODE_ID)
			return RAFT_EINVAL;
		if (s->role != RAFT_VOTER && s->role != RAFT_LEARNER)
			return RAFT_EINVAL;
		if (s->promote > 1)
			return RAFT_EINVAL;
		for (uint16_t j = 0; j < i; j++)
			if (tmp.servers[j].id == s->id)
				return RAFT_EINVAL;
	}
	if (!r.ok || r.pos != len)
		return RAFT_EINVAL;
	tmp.n = n;
	*c = tmp;
	return RAFT_OK;
}
