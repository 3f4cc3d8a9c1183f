/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Fuzz target of raft_config_decode, the configuration found in CONFIG
 * entries and snapshots. Whatever decodes must be a configuration the core
 * can trust, must re-encode to exactly the input, and that re-encoding must
 * decode to the same configuration. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "raft/raft.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_valid(const struct raft_config *c)
{
	if (c->n > RAFT_MAX_SERVERS)
		abort();
	for (uint32_t i = 0; i < c->n; i++) {
		const struct raft_server *s = &c->servers[i];
		if (s->id == 0 || s->id > RAFT_MAX_NODE_ID ||
		    (s->role != RAFT_VOTER && s->role != RAFT_LEARNER) ||
		    s->promote > 1 ||
		    memchr(s->address, '\0', RAFT_ADDRESS_MAX) == NULL)
			abort();
		for (uint32_t j = 0; j < i; j++)
			if (c->servers[j].id == s->id)
				abort();
		if (raft_config_find(c, s->id) != s)
			abort();
	}
	if (raft_config_voters(c) > c->n)
		abort();
}

static bool configs_equal(const struct raft_config *a,
			  const struct raft_config *b)
{
	if (memcmp(a->cluster_id, b->cluster_id, RAFT_CLUSTER_ID_LEN) != 0 ||
	    a->n != b->n)
		return false;
	for (uint32_t i = 0; i < a->n; i++) {
		const struct raft_server *x = &a->servers[i];
		const struct raft_server *y = &b->servers[i];
		if (x->id != y->id || x->role != y->role ||
		    x->promote != y->promote ||
		    strcmp(x->address, y->address) != 0)
			return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct raft_config c;
	if (raft_config_decode(data, size, &c) != RAFT_OK)
		return 0;
	check_valid(&c);
	size_t len = raft_config_encoded_size(&c);
	if (len != size)
		abort();
	uint8_t *buf = malloc(len);
	if (buf == NULL)
		abort();
	raft_config_encode(&c, buf);
	if (memcmp(buf, data, len) != 0)
		abort();
	struct raft_config again;
	if (raft_config_decode(buf, len, &again) != RAFT_OK ||
	    !configs_equal(&c, &again))
		abort();
	free(buf);
	return 0;
}
