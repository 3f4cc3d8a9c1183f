/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Commands of the key-value program as they travel in the Raft log. Each one
 * carries a tag (origin node, the origin process's random incarnation, a
 * sequence number) so that the node that proposed it recognises it when it
 * comes back committed, at whatever index.
 */
#ifndef KV_COMMAND_H
#define KV_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv/map.h"

#define KV_COMMAND_VERSION 1u

enum kv_op {
	KV_OP_PUT = 1,
	KV_OP_CAS = 2, /* set to value only if the key holds `old` */
};

struct kv_command {
	uint8_t op;
	uint32_t origin;
	uint64_t incarnation;
	uint64_t seq;
	const char *key;
	size_t klen;
	const char *value;
	size_t vlen;
	const char *old; /* CAS only; NULL old means "the key is absent" */
	size_t olen;
};

/* Encodes into a new buffer; 0, -1 when out of memory, -2 when too big. */
int kv_command_encode(const struct kv_command *c, uint8_t **buf, size_t *len);
/* Points c into buf; 0, or -2 when buf is not a command of this version. */
int kv_command_decode(const uint8_t *buf, size_t len, struct kv_command *c);
/* Applies to a map: 0 (with *swapped saying whether a CAS took effect), or
 * -1 when out of memory. */
int kv_command_apply(const struct kv_command *c, struct kv_map *m,
		     bool *swapped);

#endif
