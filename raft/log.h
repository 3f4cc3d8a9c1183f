/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The in-memory log: entries after the last compaction point, plus the
 * index and term of the newest snapshot. */
#ifndef RAFT_LOG_H
#define RAFT_LOG_H

#include "raft/raft.h"

struct raft_log {
	struct raft_entry *entries; /* entries[0] has index offset + 1 */
	size_t n;
	size_t cap;
	raft_index offset;
	raft_index snap_index;
	raft_term snap_term;
};

void raft__log_init(struct raft_log *l);
void raft__log_close(struct raft_log *l);
raft_index raft__log_last_index(const struct raft_log *l);
raft_term raft__log_last_term(const struct raft_log *l);
raft_index raft__log_first_index(const struct raft_log *l);
raft_term raft__log_term_at(const struct raft_log *l, raft_index index);
const struct raft_entry *raft__log_get(const struct raft_log *l,
				       raft_index index);
/* Appends, taking ownership of e->data (also on failure). */
int raft__log_append(struct raft_log *l, raft_term term, uint8_t type,
		     uint8_t version, uint8_t *data, uint32_t len);
/* Appends a copy of e. */
int raft__log_append_copy(struct raft_log *l, const struct raft_entry *e);
/* Makes room for n more entries so that appends cannot fail. */
int raft__log_reserve(struct raft_log *l, size_t n);
void raft__log_truncate(struct raft_log *l, raft_index from);
/* Drops entries up to and including index. */
void raft__log_compact(struct raft_log *l, raft_index upto);
/* Drops everything and restarts after a snapshot. */
void raft__log_restart(struct raft_log *l, raft_index snap_index,
		       raft_term snap_term);
/* Largest index <= index whose term is <= term (fast conflict search). */
raft_index raft__log_find_conflict(const struct raft_log *l, raft_index index,
				   raft_term term);

#endif
