/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Retained messages between the broker and the Raft log, on the broker
 * thread.
 *
 * Capture: on the serving leader, every retained publish of a client (on a
 * topic not starting with '$') becomes a retained-set record, proposed to
 * the log; the broker stores it at once, as it always does, and the client
 * is acknowledged before the record commits (docs/plugin.md: the window
 * that a failover can lose, and its bound).
 *
 * Apply: every node's broker follows the committed records (and restored
 * snapshots); ha->broker_view is the committed state as this broker has it.
 * The leader skips the records it captured itself since it last stopped
 * serving: its broker holds them (or a newer capture) already.
 *
 * Convergence: captures that are not committed yet are remembered
 * (ha->dirty); when the node stops serving, each such topic is put back to
 * its committed value, and the process incarnation changes, so that any of
 * those records that still commits later is applied like anyone else's. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#pragma GCC visibility push(default)
#include <mosquitto.h>
#if LIBMOSQUITTO_MAJOR == 2 && LIBMOSQUITTO_MINOR == 0
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#endif
#include <mqtt_protocol.h>
#pragma GCC visibility pop

#include "plugin/dynsec/dynsec.h"
#include "plugin/ha.h"
#include "plugin/shutdown.h"
#include "plugin/state_snapshot.h"

/* 2.1's "quota exceeded": a v5 client gets reason code 0x97. */
#define HA_MOSQ_ERR_QUOTA_EXCEEDED (-6)
#define REFUSAL_LOG_INTERVAL_MS 10000

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t ha_new_incarnation(void)
{
	uint64_t v = 0;
	if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1 || v == 0) {
		/* Only has to differ from this process's earlier ones. */
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		v = ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec ^ 1u;
	}
	return v;
}

static void restore_finish(struct ha_plugin *ha);

int ha_retained_reset(struct ha_plugin *ha)
{
	struct ha_state *view = ha_state_new(ha->incarnation);
	struct ha_retained_store *dirty =
	    ha_retained_store_new(ha->incarnation);
	if (view == NULL || dirty == NULL) {
		ha_state_free(view);
		ha_retained_store_free(dirty);
		return -1;
	}
	ha_retained_free(ha);
	ha->broker_view = view;
	ha->dirty = dirty;
	ha->uncommitted_bytes = 0;
	return 0;
}

void ha_retained_free(struct ha_plugin *ha)
{
	ha_state_restore_cancel(ha);
	restore_finish(ha);
	ha_state_free(ha->broker_view);
	ha_retained_store_free(ha->dirty);
	ha->broker_view = NULL;
	ha->dirty = NULL;
}

/* ---- the broker side of a record ---- */

static char *topic_string(struct ha_bytes t)
{
	char *s = malloc(t.len + 1);
	if (s != NULL) {
		memcpy(s, t.data, t.len);
		s[t.len] = '\0';
	}
	return s;
}

static int add_string_property(mosquitto_property **props, int id,
			       struct ha_bytes v)
{
	char *s = topic_string(v);
	if (s == NULL)
		return MOSQ_ERR_NOMEM;
	int rv = mosquitto_property_add_string(props, id, s);
	free(s);
	return rv;
}

/* The v5 properties a retained message keeps, as the broker wants them;
 * a remaining expiry is computed against this node's wall clock from the
 * committed absolute time. */
static int build_properties(const struct ha_retain_set *rs, uint64_t now_ms,
			    mosquitto_property **out)
{
	mosquitto_property *props = NULL;
	int rv = MOSQ_ERR_SUCCESS;
	if (rs->has_payload_format)
		rv = mosquitto_property_add_byte(
		    &props, MQTT_PROP_PAYLOAD_FORMAT_INDICATOR,
		    rs->payload_format);
	if (rv == MOSQ_ERR_SUCCESS && rs->has_content_type)
		rv = add_string_property(&props, MQTT_PROP_CONTENT_TYPE,
					 rs->content_type);
	if (rv == MOSQ_ERR_SUCCESS && rs->has_response_topic)
		rv = add_string_property(&props, MQTT_PROP_RESPONSE_TOPIC,
					 rs->response_topic);
	if (rv == MOSQ_ERR_SUCCESS && rs->has_correlation_data)
		rv = mosquitto_property_add_binary(
		    &props, MQTT_PROP_CORRELATION_DATA,
		    rs->correlation_data.data,
		    (uint16_t)rs->correlation_data.len);
	if (rv == MOSQ_ERR_SUCCESS && rs->expiry_ms != 0) {
		uint64_t left =
		    rs->expiry_ms > now_ms ? rs->expiry_ms - now_ms : 0;
		rv = mosquitto_property_add_int32(
		    &props, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL,
		    (uint32_t)((left + 999) / 1000));
	}
	struct ha_bytes cursor = rs->user_properties_raw;
	struct ha_user_property up;
	while (rv == MOSQ_ERR_SUCCESS && ha_user_property_next(&cursor, &up)) {
		char *name = topic_string(up.name);
		char *value = topic_string(up.value);
		rv = name != NULL && value != NULL
			 ? mosquitto_property_add_string_pair(
			       &props, MQTT_PROP_USER_PROPERTY, name, value)
			 : MOSQ_ERR_NOMEM;
		free(name);
		free(value);
	}
	if (rv != MOSQ_ERR_SUCCESS) {
		mosquitto_property_free_all(&props);
		return rv;
	}
	*out = props;
	return MOSQ_ERR_SUCCESS;
}

/* Deletes the retained message of topic in this broker, as broker_set sets
 * one; a MOSQ_ERR_ value. */
static int broker_delete_topic(struct ha_plugin *ha, const char *topic)
{
	if (ha_persist_capturing(ha))
		return ha_persist_retain_delete(ha, topic);
	return mosquitto_broker_publish_copy(NULL, topic, 0, NULL, 0, true,
					     NULL);
}

/* Sets (or with an empty payload, or past its expiry, deletes) a retained
 * message in this broker. On 2.1 the persistence calls set it at once and
 * fire no event; on 2.0 the broker stores it on its next loop pass, and no
 * MESSAGE event fires for it. Either way it is never captured again. */
static void broker_set(struct ha_plugin *ha, const struct ha_retain_set *rs)
{
	uint64_t now = wall_ms();
	char *topic = topic_string(rs->topic);
	if (topic == NULL) {
		ha_log_error("out of memory applying a retained message");
		return;
	}
	mosquitto_property *props = NULL;
	bool expired = rs->expiry_ms != 0 && rs->expiry_ms <= now;
	bool persist = ha_persist_capturing(ha);
	int rv = MOSQ_ERR_SUCCESS;
	if (expired || rs->payload.len == 0) {
		rv = broker_delete_topic(ha, topic);
	} else {
		/* 2.1 keeps the expiry apart, as an absolute time. */
		struct ha_retain_set no_expiry = *rs;
		no_expiry.expiry_ms = 0;
		rv = build_properties(persist ? &no_expiry : rs, now, &props);
		if (rv == MOSQ_ERR_SUCCESS && persist) {
			rv = ha_persist_retain_set(ha, topic, rs->payload.data,
						   (uint32_t)rs->payload.len,
						   rs->qos, props,
						   rs->expiry_ms);
		} else if (rv == MOSQ_ERR_SUCCESS) {
			rv = mosquitto_broker_publish_copy(
			    NULL, topic, (int)rs->payload.len, rs->payload.data,
			    rs->qos, true, props);
			if (rv != MOSQ_ERR_SUCCESS)
				mosquitto_property_free_all(&props);
		}
	}
	if (rv != MOSQ_ERR_SUCCESS)
		ha_log_error("cannot set the retained message of '%s' in this "
			     "broker: %s",
			     topic, mosquitto_strerror(rv));
	free(topic);
}

static void broker_delete(struct ha_plugin *ha, struct ha_bytes topic_bytes)
{
	char *topic = topic_string(topic_bytes);
	if (topic == NULL) {
		ha_log_error("out of memory deleting a retained message");
		return;
	}
	int rv = broker_delete_topic(ha, topic);
	if (rv != MOSQ_ERR_SUCCESS)
		ha_log_error("cannot delete the retained message of '%s' in "
			     "this broker: %s",
			     topic, mosquitto_strerror(rv));
	free(topic);
}

/* Puts this broker's topic to what the committed view holds. */
static void broker_put_committed(struct ha_plugin *ha, struct ha_bytes topic)
{
	const struct ha_retained_entry *e = ha_retained_store_get(
	    ha->broker_view->retained, topic.data, topic.len);
	if (e == NULL) {
		broker_delete(ha, topic);
		return;
	}
	size_t len;
	const uint8_t *raw = ha_retained_entry_record(e, &len);
	struct ha_record rec;
	if (ha_record_decode(raw, len, &rec) == HA_REC_OK &&
	    rec.type == HA_REC_TYPE_RETAIN_SET)
		broker_set(ha, &rec.u.retain_set);
}

static bool captured_here(const struct ha_plugin *ha, const struct ha_origin *o)
{
	return o->node_id == ha->cluster.nodeid &&
	       o->incarnation == ha->incarnation;
}

/* A capture of ours committed: it is no longer at risk. */
static void own_capture_committed(struct ha_plugin *ha, struct ha_bytes topic,
				  const uint8_t *raw, size_t len)
{
	ha->uncommitted_bytes =
	    ha->uncommitted_bytes > len ? ha->uncommitted_bytes - len : 0;
	const struct ha_retained_entry *d =
	    ha_retained_store_get(ha->dirty, topic.data, topic.len);
	if (d == NULL)
		return;
	size_t dlen;
	const uint8_t *draw = ha_retained_entry_record(d, &dlen);
	if (dlen == len && memcmp(draw, raw, len) == 0)
		ha_retained_store_delete(ha->dirty, topic.data, topic.len);
}

/* ---- committed records and restored snapshots ---- */

void ha_state_committed(struct ha_plugin *ha, raft_index index,
			const uint8_t *data, size_t len)
{
	char why[256];
	struct ha_record rec;
	int rv = ha_record_decode(data, len, &rec);
	bool applied = false;
	/* Whom an access-control change disconnects, from the data before
	 * it; they go once it applied (on every node, as the stock plugin
	 * does in its one broker). */
	struct ha_dynsec_kicks kicks;
	bool kicking = rv == HA_REC_OK &&
		       rec.type == HA_REC_TYPE_ACCESS_CONTROL &&
		       ha_ac_kicks_before(ha, data, len, &kicks);
	if (rv != HA_REC_OK)
		ha_record_describe(rv, data, len, &rec, index, why,
				   sizeof(why));
	else
		applied = ha_state_apply_decoded(ha->broker_view, index, &rec,
						 data, len, why,
						 sizeof(why)) == HA_APPLY_OK;
	if (kicking)
		ha_ac_kick(ha, &kicks,
			   applied &&
			       ha->broker_view->access_control_outcome.result ==
				   HA_DYNSEC_OK);
	if (!applied) {
		/* The raft thread refused it first and stopped the node. */
		ha_log_error("%s", why);
		snprintf(ha->errmsg, sizeof(ha->errmsg), "%s", why);
		return;
	}
	switch (rec.type) {
	case HA_REC_TYPE_DELETE_CLUSTER:
		ha->deleted = true;
		break;
	case HA_REC_TYPE_RETAIN_SET:
		if (captured_here(ha, &rec.u.retain_set.origin)) {
			own_capture_committed(ha, rec.u.retain_set.topic, data,
					      len);
			break;
		}
		broker_set(ha, &rec.u.retain_set);
		break;
	case HA_REC_TYPE_RETAIN_DELETE:
		if (captured_here(ha, &rec.u.retain_delete.origin)) {
			own_capture_committed(ha, rec.u.retain_delete.topic,
					      data, len);
			break;
		}
		broker_delete(ha, rec.u.retain_delete.topic);
		break;
	default:
		break;
	}
}

/* A restored snapshot is applied to the broker a slice at a time (the
 * topics it no longer holds, then those that differ), so that a large one
 * never holds the broker's loop for long; committed events wait behind it. */
static void restore_finish(struct ha_plugin *ha)
{
	ha_state_free(ha->restore_old);
	ha->restore_old = NULL;
	ha->restore_phase = 0;
}

bool ha_state_restore_step(struct ha_plugin *ha, size_t budget)
{
	const struct ha_retained_entry *e;
	while (ha->restore_phase != 0 && budget-- > 0) {
		struct ha_retained_store *old = ha->restore_old->retained;
		struct ha_retained_store *now = ha->broker_view->retained;
		size_t tlen;
		if (ha->restore_phase == 1) {
			if (!ha_retained_store_next(old, &ha->restore_cursor,
						    &e)) {
				ha->restore_phase = 2;
				ha->restore_cursor = 0;
				continue;
			}
			const uint8_t *t = ha_retained_entry_topic(e, &tlen);
			if (ha_retained_store_get(now, t, tlen) == NULL)
				broker_delete(ha, (struct ha_bytes){t, tlen});
			continue;
		}
		if (!ha_retained_store_next(now, &ha->restore_cursor, &e)) {
			restore_finish(ha);
			break;
		}
		size_t nlen, olen;
		const uint8_t *t = ha_retained_entry_topic(e, &tlen);
		const uint8_t *raw = ha_retained_entry_record(e, &nlen);
		const struct ha_retained_entry *o =
		    ha_retained_store_get(old, t, tlen);
		if (o != NULL) {
			const uint8_t *oraw =
			    ha_retained_entry_record(o, &olen);
			if (olen == nlen && memcmp(oraw, raw, nlen) == 0)
				continue;
		}
		struct ha_record rec;
		if (ha_record_decode(raw, nlen, &rec) == HA_REC_OK &&
		    rec.type == HA_REC_TYPE_RETAIN_SET)
			broker_set(ha, &rec.u.retain_set);
	}
	return ha->restore_phase == 0;
}

/* A received snapshot is decoded on a thread of its own (hundreds of MB
 * take far longer than a pass of the broker's loop may); the broker thread
 * installs the result when it is done, and committed events wait behind
 * it. */
struct ha_restore_job {
	pthread_t thread;
	atomic_bool done;
	uint8_t *data;
	size_t len;
	raft_index index;
	uint64_t seed;
	struct ha_wake *wake;
	struct ha_state *state;
	int rv;
	char why[256];
};

static void *restore_decode(void *arg)
{
	struct ha_restore_job *job = arg;
	job->rv = ha_state_restore(job->data, job->len, job->seed, &job->state,
				   job->why, sizeof(job->why));
	free(job->data);
	job->data = NULL;
	atomic_store(&job->done, true);
	ha_wake_broker(job->wake);
	return NULL;
}

static void *restore_thread(void *arg)
{
	pthread_setname_np(pthread_self(), "ha-restore");
	ha_block_shutdown_signals();
	return restore_decode(arg);
}

static void restore_install(struct ha_plugin *ha, struct ha_restore_job *job)
{
	if (job->rv != HA_SNAP_OK) {
		ha_log_error("cannot restore the snapshot at index %llu: %s",
			     (unsigned long long)job->index, job->why);
		snprintf(ha->errmsg, sizeof(ha->errmsg), "%s", job->why);
		return;
	}
	/* A restore still being applied finishes first, in one go. */
	ha_state_restore_step(ha, SIZE_MAX);
	ha->restore_old = ha->broker_view;
	ha->broker_view = job->state;
	job->state = NULL;
	ha->restore_phase = 1;
	ha->restore_cursor = 0;
	ha_ac_restored(ha, ha->restore_old->access_control);
	if (ha->broker_view->deleted)
		ha->deleted = true;
}

/* Joins the decoding thread (waiting for it) and installs what it made,
 * or with install false, drops it. */
static void restore_job_end(struct ha_plugin *ha, bool install)
{
	struct ha_restore_job *job = ha->restore_job;
	if (job == NULL)
		return;
	ha->restore_job = NULL;
	pthread_join(job->thread, NULL);
	if (install)
		restore_install(ha, job);
	ha_state_free(job->state);
	free(job->data);
	free(job);
}

bool ha_state_restore_decoding(struct ha_plugin *ha)
{
	if (ha->restore_job == NULL)
		return false;
	if (!atomic_load(&ha->restore_job->done))
		return true;
	restore_job_end(ha, true);
	return false;
}

void ha_state_restore_cancel(struct ha_plugin *ha)
{
	restore_job_end(ha, false);
}

void ha_state_restored(struct ha_plugin *ha, raft_index index, uint8_t *data,
		       size_t len)
{
	restore_job_end(ha, true); /* an earlier one first (rare) */
	struct ha_restore_job *job = calloc(1, sizeof(*job));
	if (job == NULL) {
		free(data);
		ha_log_error("out of memory restoring the snapshot at index "
			     "%llu",
			     (unsigned long long)index);
		snprintf(ha->errmsg, sizeof(ha->errmsg),
			 "out of memory restoring a snapshot");
		return;
	}
	job->data = data;
	job->len = len;
	job->index = index;
	job->seed = ha->incarnation;
	job->wake = &ha->wake;
	atomic_init(&job->done, false);
	if (pthread_create(&job->thread, NULL, restore_thread, job) != 0) {
		/* No thread to spare: decode here, holding this pass. */
		restore_decode(job);
		restore_install(ha, job);
		ha_state_free(job->state);
		free(job);
		return;
	}
	ha->restore_job = job;
}

/* Puts every topic captured and not committed (or changed while not
 * serving) back to its committed value, and forgets them. */
static void revert_dirty(struct ha_plugin *ha)
{
	size_t cursor = 0;
	const struct ha_retained_entry *e;
	while (ha_retained_store_next(ha->dirty, &cursor, &e)) {
		size_t tlen;
		const uint8_t *t = ha_retained_entry_topic(e, &tlen);
		broker_put_committed(ha, (struct ha_bytes){t, tlen});
	}
	struct ha_retained_store *fresh =
	    ha_retained_store_new(ha->incarnation);
	if (fresh != NULL) {
		ha_retained_store_free(ha->dirty);
		ha->dirty = fresh;
		return;
	}
	/* Out of memory: empty it one by one instead. */
	for (;;) {
		cursor = 0;
		if (!ha_retained_store_next(ha->dirty, &cursor, &e))
			break;
		size_t tlen;
		const uint8_t *t = ha_retained_entry_topic(e, &tlen);
		ha_retained_store_delete(ha->dirty, t, tlen);
	}
}

void ha_retained_stepped_down(struct ha_plugin *ha)
{
	size_t n = ha_retained_store_count(ha->dirty);
	if (n > 0)
		ha_log_info("stopped serving with %zu retained messages not "
			    "committed: each topic goes back to its committed "
			    "value",
			    n);
	revert_dirty(ha);
	ha->strays_pending = false;
	/* Records captured until now are someone else's from here on. */
	ha->incarnation = ha_new_incarnation();
	ha->uncommitted_bytes = 0;
}

/* ---- capture ---- */

static void note_capture_refusal(struct ha_plugin *ha, const char *client,
				 const char *topic, const char *why)
{
	int64_t now = ha_node_monotonic_ms();
	ha->capture_refusals++;
	if (now - ha->capture_refusal_log_at < REFUSAL_LOG_INTERVAL_MS)
		return;
	ha_log(MOSQ_LOG_WARNING,
	       "refused a retained publish of client '%s' on '%s': %s "
	       "(%llu refused so far)",
	       client ? client : "?", topic, why,
	       (unsigned long long)ha->capture_refusals);
	ha->capture_refusal_log_at = now;
}

bool ha_retained_replicable(struct ha_plugin *ha)
{
	uint32_t level = ha->broker_view->feature_level;
	if (ha_record_writable(HA_REC_TYPE_RETAIN_SET, level))
		return true;
	int64_t now = ha_node_monotonic_ms();
	if (now - ha->unreplicated_log_at >= 60000) {
		ha->unreplicated_log_at = now;
		ha_log(MOSQ_LOG_WARNING,
		       "retained messages are not replicated: the cluster's "
		       "feature level is %u, and they need %u (a voter "
		       "advertises a lower level); this broker keeps them "
		       "alone until every voter advertises it",
		       level, ha_record_type_level(HA_REC_TYPE_RETAIN_SET));
	}
	return false;
}

/* What refuses a publish so that no client believes it taken: a v5 client
 * of 2.1 gets "quota exceeded"; any other is disconnected without an
 * acknowledgement (2.0, and 2.1 for v3.1.1, would acknowledge a refusal). */
static int refusal(struct ha_plugin *ha, struct mosquitto *client)
{
	if (ha->broker_21 && mosquitto_client_protocol_version(client) == 5)
		return HA_MOSQ_ERR_QUOTA_EXCEEDED;
	return MOSQ_ERR_NOMEM;
}

struct captured_props {
	struct ha_retain_set *rs;
	struct ha_user_property *ups;
	size_t n_ups, cap_ups;
	/* Strings the broker handed out, freed with mosquitto_free. */
	void *owned[64];
	size_t n_owned;
};

static bool keep(struct captured_props *c, void *p)
{
	if (c->n_owned == sizeof(c->owned) / sizeof(c->owned[0])) {
		mosquitto_free(p);
		return false;
	}
	c->owned[c->n_owned++] = p;
	return true;
}

static void captured_free(struct captured_props *c)
{
	for (size_t i = 0; i < c->n_owned; i++)
		mosquitto_free(c->owned[i]);
	free(c->ups);
}

/* Reads the properties a retained message keeps; false on a property this
 * code cannot carry (too many strings, out of memory). */
static bool read_properties(const mosquitto_property *props,
			    struct captured_props *c)
{
	for (const mosquitto_property *p = props; p != NULL;
	     p = mosquitto_property_next(p)) {
		int id = mosquitto_property_identifier(p);
		struct ha_retain_set *rs = c->rs;
		if (id == MQTT_PROP_PAYLOAD_FORMAT_INDICATOR) {
			uint8_t v;
			if (mosquitto_property_read_byte(p, id, &v, false)) {
				rs->has_payload_format = true;
				rs->payload_format = v;
			}
		} else if (id == MQTT_PROP_CONTENT_TYPE ||
			   id == MQTT_PROP_RESPONSE_TOPIC) {
			char *v = NULL;
			if (!mosquitto_property_read_string(p, id, &v, false) ||
			    v == NULL || !keep(c, v))
				return false;
			struct ha_bytes b = {(const uint8_t *)v, strlen(v)};
			if (id == MQTT_PROP_CONTENT_TYPE) {
				rs->has_content_type = true;
				rs->content_type = b;
			} else {
				rs->has_response_topic = true;
				rs->response_topic = b;
			}
		} else if (id == MQTT_PROP_CORRELATION_DATA) {
			void *v = NULL;
			uint16_t len = 0;
			if (!mosquitto_property_read_binary(p, id, &v, &len,
							    false))
				return false;
			if (v != NULL && !keep(c, v))
				return false;
			rs->has_correlation_data = true;
			rs->correlation_data =
			    (struct ha_bytes){(const uint8_t *)v, len};
		} else if (id == MQTT_PROP_USER_PROPERTY) {
			char *name = NULL, *value = NULL;
			if (!mosquitto_property_read_string_pair(p, id, &name,
								 &value, false))
				return false;
			bool kept = name != NULL && keep(c, name);
			kept = value != NULL && keep(c, value) && kept;
			if (!kept)
				return false;
			if (c->n_ups == c->cap_ups) {
				size_t cap = c->cap_ups ? c->cap_ups * 2 : 4;
				struct ha_user_property *more =
				    realloc(c->ups, cap * sizeof(*more));
				if (more == NULL)
					return false;
				c->ups = more;
				c->cap_ups = cap;
			}
			c->ups[c->n_ups++] = (struct ha_user_property){
			    {(const uint8_t *)name, strlen(name)},
			    {(const uint8_t *)value, strlen(value)}};
		}
	}
	c->rs->user_properties = c->ups;
	c->rs->n_user_properties = c->n_ups;
	return true;
}

/* The record of a retained set (or, with an empty payload, a delete) as
 * captured here now; HA_REC_OK or why it cannot be written. */
static int encode_capture(struct ha_plugin *ha, const char *topic,
			  const void *payload, uint32_t payloadlen, uint8_t qos,
			  const void *properties, uint64_t expiry_ms,
			  uint8_t **buf, size_t *len, const char **why)
{
	struct ha_record rec;
	memset(&rec, 0, sizeof(rec));
	struct captured_props c;
	memset(&c, 0, sizeof(c));
	struct ha_origin origin = {.node_id = ha->cluster.nodeid,
				   .incarnation = ha->incarnation,
				   .captured_ms = wall_ms()};
	struct ha_bytes t = {(const uint8_t *)topic, strlen(topic)};
	if (payloadlen == 0) {
		rec.type = HA_REC_TYPE_RETAIN_DELETE;
		rec.u.retain_delete.origin = origin;
		rec.u.retain_delete.topic = t;
	} else {
		rec.type = HA_REC_TYPE_RETAIN_SET;
		struct ha_retain_set *rs = &rec.u.retain_set;
		rs->origin = origin;
		rs->topic = t;
		rs->qos = qos;
		rs->expiry_ms = expiry_ms;
		rs->payload = (struct ha_bytes){payload, payloadlen};
		c.rs = rs;
		if (!read_properties(properties, &c)) {
			captured_free(&c);
			*why = "its properties could not be read";
			return HA_REC_MALFORMED;
		}
	}
	const char *reason = NULL;
	int rv = ha_record_encode(&rec, buf, len, &reason);
	captured_free(&c);
	if (rv == HA_REC_TOO_BIG)
		*why = "larger than the largest log entry (4 MiB)";
	else if (rv != HA_REC_OK)
		*why =
		    reason != NULL ? reason : "it cannot be written to the log";
	return rv;
}

/* Proposes a captured record (taking buf), remembered until it commits so
 * that it can be undone if it never does; NULL or why it was not
 * proposed. */
static const char *propose_capture(struct ha_plugin *ha, const char *topic,
				   uint8_t *buf, size_t len)
{
	size_t tlen = strlen(topic);
	if (ha_retained_store_set(ha->dirty, buf, len,
				  ha_record_topic_offset(buf[0]), tlen) != 0) {
		free(buf);
		return "out of memory";
	}
	/* The node takes buf (the dirty store keeps a copy of its own). */
	int rv = ha_node_propose_take(ha->node, buf, len,
				      HA_CAPTURE_COOKIE | ++ha->capture_seq);
	if (rv != HA_NODE_OK) {
		ha_retained_store_delete(ha->dirty, (const uint8_t *)topic,
					 tlen);
		return rv == HA_NODE_EBUSY ? "the queue to the log is full"
					   : ha_node_strerror(rv);
	}
	ha->uncommitted_bytes += len;
	ha->captures_pending++;
	return NULL;
}

int ha_retained_capture(struct ha_plugin *ha, struct mosquitto *client,
			const char *topic, const void *payload,
			uint32_t payloadlen, uint8_t qos,
			const void *properties)
{
	const char *client_id = mosquitto_client_id(client);
	uint8_t *buf = NULL;
	size_t len = 0;
	const char *why = NULL;
	if (encode_capture(ha, topic, payload, payloadlen, qos, properties, 0,
			   &buf, &len, &why) != HA_REC_OK) {
		note_capture_refusal(ha, client_id, topic, why);
		return refusal(ha, client);
	}
	/* Past the limit (a majority slow or unreachable), refused. */
	if (ha->uncommitted_bytes + len > ha->opt.backlog_limit_bytes) {
		free(buf);
		note_capture_refusal(ha, client_id, topic,
				     "too much is waiting to be committed (a "
				     "majority is slow or unreachable)");
		return refusal(ha, client);
	}
	/* 2.1: admitted here, captured once the broker stores it (with its
	 * expiry, and for QoS 2 at PUBREL): ha_retained_stored(). */
	if (ha_persist_capturing(ha)) {
		free(buf);
		return MOSQ_ERR_SUCCESS;
	}
	why = propose_capture(ha, topic, buf, len);
	if (why != NULL) {
		note_capture_refusal(ha, client_id, topic, why);
		return refusal(ha, client);
	}
	return MOSQ_ERR_SUCCESS;
}

/* Remembers a topic as differing from the log, to be put back to its
 * committed value when this node does not serve (revert_dirty). */
static void mark_dirty(struct ha_plugin *ha, const char *topic)
{
	struct ha_record rec = {.type = HA_REC_TYPE_RETAIN_DELETE};
	rec.u.retain_delete.topic =
	    (struct ha_bytes){(const uint8_t *)topic, strlen(topic)};
	uint8_t *buf = NULL;
	size_t len = 0;
	if (ha_record_encode(&rec, &buf, &len, NULL) != HA_REC_OK ||
	    ha_retained_store_set(ha->dirty, buf, len,
				  ha_record_topic_offset(rec.type),
				  rec.u.retain_delete.topic.len) != 0) {
		ha_log_error("out of memory: the retained message of '%s' "
			     "may differ from the cluster's until it is set "
			     "again",
			     topic);
	}
	free(buf);
}

void ha_retained_stored(struct ha_plugin *ha, const char *topic,
			const void *payload, uint32_t payloadlen, uint8_t qos,
			const void *properties, uint64_t expiry_ms,
			const char *client_id, bool known)
{
	/* Serving at the last TICK is enough: a publish admitted at MESSAGE
	 * may be stored just after the lease ran out, and if this node lost
	 * leadership the next TICK puts the topic back (stepped down). */
	if (!ha_serving(ha) && !ha->was_serving) {
		/* Changed on its own (a client's late PUBREL, another
		 * plugin's publish): put back at the next TICK. */
		mark_dirty(ha, topic);
		ha->strays_pending = true;
		return;
	}
	if (!known || !ha_retained_replicable(ha))
		return;
	uint8_t *buf = NULL;
	size_t len = 0;
	const char *why = NULL;
	if (encode_capture(ha, topic, payload, payloadlen, qos, properties,
			   expiry_ms, &buf, &len, &why) == HA_REC_OK)
		why = propose_capture(ha, topic, buf, len);
	if (why == NULL)
		return;
	/* Admitted at publish, and yet not proposed: this broker holds it
	 * alone, until the topic is put back when it stops serving. */
	mark_dirty(ha, topic);
	ha->captures_lost++;
	note_capture_refusal(ha, client_id, topic, why);
}

void ha_retained_strays(struct ha_plugin *ha)
{
	if (!ha->strays_pending || ha_serving(ha))
		return;
	ha->strays_pending = false;
	size_t n = ha_retained_store_count(ha->dirty);
	ha_log_info("%zu retained messages changed in this broker while it "
		    "does not serve: each goes back to the cluster's value",
		    n);
	revert_dirty(ha);
}

void ha_retained_proposed(struct ha_plugin *ha, const struct ha_node_event *ev)
{
	if (ha->captures_pending > 0)
		ha->captures_pending--;
	if (ev->status == RAFT_OK) {
		if (ev->index > ha->last_captured_index)
			ha->last_captured_index = ev->index;
		return;
	}
	/* Acknowledged to the client and yet not in the log: the broker's
	 * value is undone when this node stops serving (it is not leading,
	 * or stops at once). */
	ha->captures_lost++;
	ha_log(MOSQ_LOG_WARNING,
	       "a captured retained publish was not taken by the log: %s "
	       "(%llu so far)",
	       raft_strerror(ev->status),
	       (unsigned long long)ha->captures_lost);
}
