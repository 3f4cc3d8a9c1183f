/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
#include <stdio.h>
#include <string.h>

#include "tests/raft/codec_samples.h"

#define SAMPLES_MAX 32

static uint8_t command[] = {'h', 'e', 'l', 'l', 'o'};
static uint8_t opaque[] = {0xde, 0xad, 0xbe, 0xef};
static uint8_t chunk[64];
static uint8_t config_entry[1024];
static struct raft_config small_config;
static struct raft_config full_config;
static struct raft_entry entries[3];
static struct raft_entry unknown_entries[2];
static struct raft_entry max_entries[2];
static struct codec_sample samples[SAMPLES_MAX];
static size_t n_samples;

void codec_sample_config(struct raft_config *c, uint32_t n, bool long_names)
{
	memset(c, 0, sizeof(*c));
	for (unsigned i = 0; i < RAFT_CLUSTER_ID_LEN; i++)
		c->cluster_id[i] = (uint8_t)(0xa0 + i);
	c->n = n;
	for (uint32_t i = 0; i < n; i++) {
		struct raft_server *s = &c->servers[i];
		s->id = i == 0 ? RAFT_MAX_NODE_ID : i;
		s->role = i % 3 == 2 ? RAFT_LEARNER : RAFT_VOTER;
		s->promote = s->role == RAFT_LEARNER;
		if (long_names) {
			memset(s->address, 'a' + (int)(i % 26),
			       RAFT_ADDRESS_MAX - 1);
			s->address[RAFT_ADDRESS_MAX - 1] = '\0';
		} else {
			snprintf(s->address, sizeof(s->address),
				 "127.0.0.%u:7%03u", (unsigned)i + 1,
				 (unsigned)i);
		}
	}
}

static struct raft_message *add(const char *name, uint8_t type)
{
	struct codec_sample *s = &samples[n_samples++];
	memset(s, 0, sizeof(*s));
	s->name = name;
	s->m.type = type;
	s->m.version = RAFT_VERSION_MAX;
	s->m.from = 1;
	s->m.to = 2;
	s->m.term = 7;
	return &s->m;
}

static void build(void)
{
	struct raft_message *m;

	codec_sample_config(&small_config, 3, false);
	codec_sample_config(&full_config, RAFT_MAX_SERVERS, true);
	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)(i * 37 + 11);
	size_t clen = raft_config_encoded_size(&small_config);
	raft_config_encode(&small_config, config_entry);

	m = add("append-heartbeat", RAFT_MSG_APPEND);
	m->round = 3;

	m = add("append-entries", RAFT_MSG_APPEND);
	m->prev_index = 41;
	m->prev_term = 6;
	m->commit = 40;
	m->round = 12;
	entries[0] = (struct raft_entry){
	    .term = 6, .index = 42, .type = RAFT_ENTRY_NOOP, .version = 1};
	entries[1] = (struct raft_entry){.term = 7,
					 .index = 43,
					 .type = RAFT_ENTRY_COMMAND,
					 .version = 1,
					 .len = sizeof(command),
					 .data = command};
	entries[2] = (struct raft_entry){.term = 7,
					 .index = 44,
					 .type = RAFT_ENTRY_CONFIG,
					 .version = 1,
					 .len = (uint32_t)clen,
					 .data = config_entry};
	m->n_entries = 3;
	m->entries = entries;

	/* Entries this build cannot interpret still travel. */
	m = add("append-unknown-entries", RAFT_MSG_APPEND);
	m->version = 200;
	unknown_entries[0] = (struct raft_entry){.term = 7,
						 .index = 1,
						 .type = 200,
						 .version = 1,
						 .len = sizeof(opaque),
						 .data = opaque};
	unknown_entries[1] = (struct raft_entry){
	    .term = 7, .index = 2, .type = RAFT_ENTRY_COMMAND, .version = 255};
	m->n_entries = 2;
	m->entries = unknown_entries;

	m = add("append-max-values", RAFT_MSG_APPEND);
	m->version = UINT8_MAX;
	m->from = RAFT_MAX_NODE_ID;
	m->to = 1;
	m->term = UINT64_MAX;
	m->prev_index = UINT64_MAX - 2;
	m->prev_term = UINT64_MAX;
	m->commit = UINT64_MAX;
	m->round = UINT64_MAX;
	max_entries[0] = (struct raft_entry){.term = UINT64_MAX,
					     .index = UINT64_MAX - 1,
					     .type = UINT8_MAX,
					     .version = 255,
					     .len = 1,
					     .data = opaque};
	max_entries[1] = (struct raft_entry){
	    .term = UINT64_MAX, .index = UINT64_MAX, .type = 0, .version = 1};
	m->n_entries = 2;
	m->entries = max_entries;

	m = add("append-resp-ok", RAFT_MSG_APPEND_RESP);
	m->index = 44;
	m->prev_index = 41;
	m->round = 12;

	m = add("append-resp-reject", RAFT_MSG_APPEND_RESP);
	m->reject = 1;
	m->index = 30;
	m->hint_term = 5;
	m->prev_index = UINT64_MAX;
	m->round = UINT64_MAX;

	m = add("prevote", RAFT_MSG_PREVOTE);
	m->term = 8;
	m->index = 44;
	m->hint_term = 7;

	m = add("prevote-resp-granted", RAFT_MSG_PREVOTE_RESP);
	m->term = 8;

	m = add("prevote-resp-rejected", RAFT_MSG_PREVOTE_RESP);
	m->reject = 1;

	m = add("vote-transfer", RAFT_MSG_VOTE);
	m->term = UINT64_MAX;
	m->index = UINT64_MAX;
	m->hint_term = UINT64_MAX;
	m->transfer = 1;

	m = add("vote-resp-rejected", RAFT_MSG_VOTE_RESP);
	m->reject = 1;

	m = add("vote-resp-granted", RAFT_MSG_VOTE_RESP);
	m->version = 0; /* a peer may advertise anything; the core judges */

	m = add("snapshot-first-chunk", RAFT_MSG_SNAPSHOT);
	m->snap_index = 1000;
	m->snap_term = 6;
	m->snap_size = 3 * sizeof(chunk);
	m->commit = 1010;
	m->round = 77;
	m->config = &small_config;
	m->len = sizeof(chunk);
	m->data = chunk;

	m = add("snapshot-last-chunk", RAFT_MSG_SNAPSHOT);
	m->snap_index = UINT64_MAX;
	m->snap_term = UINT64_MAX;
	m->snap_size = UINT64_MAX;
	m->offset = UINT64_MAX - 1;
	m->commit = UINT64_MAX;
	m->round = UINT64_MAX;
	m->done = 1;
	m->config = &full_config;
	m->len = 1;
	m->data = chunk;

	m = add("snapshot-empty", RAFT_MSG_SNAPSHOT);
	m->snap_index = 5;
	m->snap_term = 1;
	m->done = 1;
	m->config = &small_config;

	m = add("snapshot-resp-progress", RAFT_MSG_SNAPSHOT_RESP);
	m->snap_index = 1000;
	m->offset = sizeof(chunk);
	m->round = 77;

	m = add("snapshot-resp-done", RAFT_MSG_SNAPSHOT_RESP);
	m->snap_index = UINT64_MAX;
	m->index = UINT64_MAX;
	m->offset = UINT64_MAX;
	m->done = 1;
	m->round = UINT64_MAX;

	m = add("snapshot-resp-reject", RAFT_MSG_SNAPSHOT_RESP);
	m->reject = 1;

	m = add("timeout-now", RAFT_MSG_TIMEOUT_NOW);
	m->term = 0;
}

size_t codec_samples(const struct codec_sample **out)
{
	if (n_samples == 0)
		build();
	*out = samples;
	return n_samples;
}

static bool entries_equal(const struct raft_entry *a,
			  const struct raft_entry *b)
{
	if (a->term != b->term || a->index != b->index || a->type != b->type ||
	    a->version != b->version || a->len != b->len)
		return false;
	return a->len == 0 || memcmp(a->data, b->data, a->len) == 0;
}

static bool configs_equal(const struct raft_config *a,
			  const struct raft_config *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	if (memcmp(a->cluster_id, b->cluster_id, RAFT_CLUSTER_ID_LEN) != 0 ||
	    a->n != b->n)
		return false;
	for (uint32_t i = 0; i < a->n; i++) {
		const struct raft_server *x = &a->servers[i];
		const struct raft_server *y = &b->servers[i];
		if (x->id != y->id || x->role != y->role ||
		    x->promote != y->promote ||
		    strncmp(x->address, y->address, RAFT_ADDRESS_MAX) != 0)
			return false;
	}
	return true;
}

bool codec_messages_equal(const struct raft_message *a,
			  const struct raft_message *b)
{
	if (a->type != b->type || a->version != b->version ||
	    a->from != b->from || a->to != b->to || a->term != b->term ||
	    a->prev_index != b->prev_index || a->prev_term != b->prev_term ||
	    a->commit != b->commit || a->index != b->index ||
	    a->hint_term != b->hint_term || a->round != b->round ||
	    a->reject != b->reject || a->transfer != b->transfer ||
	    a->done != b->done || a->n_entries != b->n_entries ||
	    a->snap_index != b->snap_index || a->snap_term != b->snap_term ||
	    a->snap_size != b->snap_size || a->offset != b->offset ||
	    a->len != b->len)
		return false;
	for (uint32_t i = 0; i < a->n_entries; i++)
		if (!entries_equal(&a->entries[i], &b->entries[i]))
			return false;
	if (a->len > 0 && memcmp(a->data, b->data, a->len) != 0)
		return false;
	return configs_equal(a->config, b->config);
}
