/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * ha-kv's own record of how this node entered a cluster (CREATE or JOIN),
 * kept next to the node's data folder. Until the first configuration is
 * durable in the node's log, this record is all a restarted node knows of
 * its peers; a creator that lost its first configuration bootstraps again
 * from it, with the same cluster id.
 */
#ifndef KV_RECORD_H
#define KV_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

struct kv_record {
	bool created; /* this node wrote the first configuration */
	struct raft_config members; /* cluster_id set when created */
};

/* 0 loaded, 1 no record, -1 unreadable or damaged (why says which). */
int kv_record_load(const char *path, struct kv_record *r, char *why,
		   size_t why_len);
/* Durably replaces the record (temporary file, fsync, rename, fsync of
 * the folder); 0 or -1 with why. */
int kv_record_save(const char *path, const struct kv_record *r, char *why,
		   size_t why_len);

#endif
