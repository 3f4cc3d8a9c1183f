/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
#include <stdlib.h>
#include <string.h>

#include "raft/log.h"

void raft__log_init(struct raft_log *l)
{
	memset(l, 0, sizeof(*l));
}

static void free_range(struct raft_log *l, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		free(l->entries[i].data);
		l->entries[i].data = NULL;
	}
}

void raft__log_close(struct raft_log *l)
{
	free_range(l, 0, l->n);
	free(l->entries);
	raft__log_init(l);
}

raft_index raft__log_last_index(const struct raft_log *l)
{
	return l->offset + l->n;
}

raft_index raft__log_first_index(const struct raft_log *l)
{
	return l->offset + 1;
}

raft_term raft__log_term_at(const struct raft_log *l, raft_index index)
{
	if (index > l->offset && index <= l->offset + l->n)
		return l->entries[index - l->offset - 1].term;
	if (index != 0 && index == l->snap_index)
		return l->snap_term;
	return 0;
}

raft_term raft__log_last_term(const struct raft_log *l)
{
	return raft__log_term_at(l, raft__log_last_index(l));
}

const struct raft_entry *raft__log_get(const struct raft_log *l,
				       raft_index index)
{
	if (index > l->offset && index <= l->offset + l->n)
		return &l->entries[index - l->offset - 1];
	return NULL;
}

int raft__log_reserve(struct raft_log *l, size_t n)
{
	if (l->cap - l->n >= n)
		return RAFT_OK;
	size_t cap = l->cap ? l->cap : 64;
	while (cap - l->n < n)
		cap *= 2;
	struct raft_entry *p = realloc(l->entries, cap * sizeof(*p));
	if (p == NULL)
		return RAFT_ENOMEM;
	l->entries = p;
	l->cap = cap;
	return RAFT_OK;
}

int raft__log_append(struct raft_log *l, raft_term term, uint8_t type,
		     uint8_t version, uint8_t *data, uint32_t len)
{
	if (raft__log_reserve(l, 1) != RAFT_OK) {
		free(data);
		return RAFT_ENOMEM;
	}
	struct raft_entry *e = &l->entries[l->n];
	e->term = term;
	e->index = raft__log_last_index(l) + 1;
	e->type = type;
	e->version = version;
	e->len = len;
	e->data = data;
	l->n++;
	return RAFT_OK;
}

int raft__log_append_copy(struct raft_log *l, const struct raft_entry *e)
{
	uint8_t *data = NULL;
	if (e->len > 0) {
		data = malloc(e->len);
		if (data == NULL)
			return RAFT_ENOMEM;
		memcpy(data, e->data, e->len);
	}
	return raft__log_append(l, e->term, e->type, e->version, data, e->len);
}

void raft__log_truncate(struct raft_log *l, raft_index from)
{
	if (from <= l->offset) {
		free_range(l, 0, l->n);
		l->n = 0;
		return;
	}
	if (from > raft__log_last_index(l))
		return;
	size_t keep = (size_t)(from - l->offset - 1);
	free_range(l, keep, l->n);
	l->n = keep;
}

void raft__log_compact(struct raft_log *l, raft_index upto)
{
	if (upto <= l->offset)
		return;
	if (upto > raft__log_last_index(l))
		upto = raft__log_last_index(l);
	size_t drop = (size_t)(upto - l->offset);
	free_range(l, 0, drop);
	memmove(l->entries, l->entries + drop,
		(l->n - drop) * sizeof(*l->entries));
	l->n -= drop;
	l->offset = upto;
}

void raft__log_restart(struct raft_log *l, raft_index snap_index,
		       raft_term snap_term)
{
	free_range(l, 0, l->n);
	l->n = 0;
	l->offset = snap_index;
	l->snap_index = snap_index;
	l->snap_term = snap_term;
}

raft_index raft__log_find_conflict(const struct raft_log *l, raft_index index,
				   raft_term term)
{
	if (index > raft__log_last_index(l))
		index = raft__log_last_index(l);
	while (index > l->offset) {
		if (raft__log_term_at(l, index) <= term)
			return index;
		index--;
	}
	return index;
}
