/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Applying records to the Raft-side state: see state.h. */
#include <stdio.h>
#include <stdlib.h>

#include "plugin/state.h"

struct ha_state *ha_state_new(uint64_t seed)
{
	struct ha_state *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->retained = ha_retained_store_new(seed);
	if (s->retained == NULL) {
		free(s);
		return NULL;
	}
	s->feature_level = HA_FEATURE_LEVEL_BASE;
	s->seed = seed;
	return s;
}

void ha_state_free(struct ha_state *s)
{
	if (s == NULL)
		return;
	ha_retained_store_free(s->retained);
	free(s);
}

int ha_state_apply(struct ha_state *s, uint64_t index, const uint8_t *rec,
		   size_t len, char *why, size_t why_len)
{
	struct ha_record r;
	int rv = ha_record_decode(rec, len, &r);
	if (rv != HA_REC_OK) {
		if (why != NULL && why_len > 0)
			ha_record_describe(rv, rec, len, &r, index, why,
					   why_len);
		return rv == HA_REC_MALFORMED ? HA_APPLY_MALFORMED
					      : HA_APPLY_NEWER;
	}
	return ha_state_apply_decoded(s, index, &r, rec, len, why, why_len);
}

int ha_state_apply_decoded(struct ha_state *s, uint64_t index,
			   const struct ha_record *rp, const uint8_t *rec,
			   size_t len, char *why, size_t why_len)
{
	const struct ha_record r = *rp;
	switch (r.type) {
	case HA_REC_TYPE_DELETE_CLUSTER:
		s->deleted = true;
		break;
	case HA_REC_TYPE_FEATURE_LEVEL:
		if (r.u.feature_level > HA_FEATURE_LEVEL_MAX) {
			if (why != NULL && why_len > 0)
				snprintf(
				    why, why_len,
				    "feature level %lu at index %llu needs "
				    "a newer mosquitto_ha on this node",
				    (unsigned long)r.u.feature_level,
				    (unsigned long long)index);
			return HA_APPLY_NEWER;
		}
		if (r.u.feature_level > s->feature_level)
			s->feature_level = r.u.feature_level;
		break;
	case HA_REC_TYPE_RETAIN_SET: {
		const struct ha_retain_set *m = &r.u.retain_set;
		if (m->payload.len == 0) {
			ha_retained_store_delete(s->retained, m->topic.data,
						 m->topic.len);
			break;
		}
		if (ha_retained_store_set(s->retained, rec, len,
					  (size_t)(m->topic.data - rec),
					  m->topic.len) != 0) {
			if (why != NULL && why_len > 0)
				snprintf(why, why_len,
					 "out of memory applying the retained "
					 "message at index %llu",
					 (unsigned long long)index);
			return HA_APPLY_ENOMEM;
		}
		break;
	}
	case HA_REC_TYPE_RETAIN_DELETE:
		ha_retained_store_delete(s->retained,
					 r.u.retain_delete.topic.data,
					 r.u.retain_delete.topic.len);
		break;
	}
	return HA_APPLY_OK;
}
