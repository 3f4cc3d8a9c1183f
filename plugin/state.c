/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Applying records to the Raft-side state: see state.h. */
#include <stdio.h>
#include <stdlib.h>

#include "plugin/dynsec/dynsec.h"
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
	s->access_control = ha_dynsec_new();
	if (s->access_control == NULL) {
		ha_retained_store_free(s->retained);
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
	ha_dynsec_free(s->access_control);
	free(s);
}

/* rec: the whole record, which ha_dynsec_apply() decodes (type and
 * version included). It runs the change on a copy and keeps it only on
 * success, so any failure leaves the state as it was. */
static int apply_access_control(struct ha_state *s, uint64_t index,
				const uint8_t *rec, size_t len, char *why,
				size_t why_len)
{
	bool say = why != NULL && why_len > 0;
	if (!ha_record_writable(HA_REC_TYPE_ACCESS_CONTROL, s->feature_level)) {
		/* A writer's bug: a snapshot below level 3 has no
		 * access-control section, so the change would be lost by
		 * the nodes that restore one. Stop alike everywhere. */
		if (say)
			snprintf(
			    why, why_len,
			    "record type %u (%s) at index %llu is "
			    "malformed: committed at feature level %lu, "
			    "below %lu",
			    HA_REC_TYPE_ACCESS_CONTROL,
			    ha_record_type_name(HA_REC_TYPE_ACCESS_CONTROL),
			    (unsigned long long)index,
			    (unsigned long)s->feature_level,
			    (unsigned long)ha_record_type_level(
				HA_REC_TYPE_ACCESS_CONTROL));
		return HA_APPLY_MALFORMED;
	}
	const char *error = NULL;
	int rv = ha_dynsec_apply(s->access_control, rec, len, &error);
	switch (rv) {
	case HA_DYNSEC_OK:
	case HA_DYNSEC_REJECTED:
		s->access_control_outcome = (struct ha_access_control_outcome){
		    .index = index,
		    .result = rv,
		    .error = rv == HA_DYNSEC_REJECTED ? error : NULL};
		return HA_APPLY_OK;
	case HA_DYNSEC_NEWER:
		if (say)
			snprintf(
			    why, why_len,
			    "record type %u (%s) version %u at index %llu "
			    "needs a newer mosquitto_ha on this node: %s",
			    HA_REC_TYPE_ACCESS_CONTROL,
			    ha_record_type_name(HA_REC_TYPE_ACCESS_CONTROL),
			    len >= 2 ? rec[1] : 0u, (unsigned long long)index,
			    error != NULL ? error : "unknown change");
		return HA_APPLY_NEWER;
	case HA_DYNSEC_ENOMEM:
		if (say)
			snprintf(why, why_len,
				 "out of memory applying the access-control "
				 "change at index %llu",
				 (unsigned long long)index);
		return HA_APPLY_ENOMEM;
	default:
		if (say)
			snprintf(
			    why, why_len,
			    "record type %u (%s) at index %llu is "
			    "malformed: %s",
			    HA_REC_TYPE_ACCESS_CONTROL,
			    ha_record_type_name(HA_REC_TYPE_ACCESS_CONTROL),
			    (unsigned long long)index,
			    error != NULL ? error : "unreadable");
		return HA_APPLY_MALFORMED;
	}
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
	case HA_REC_TYPE_ACCESS_CONTROL:
		return apply_access_control(s, index, rec, len, why, why_len);
	}
	return HA_APPLY_OK;
}
