/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* mosquitto 2.1's persistence interface, for retained messages.
 *
 * Capture: the broker tells a persistence plugin what it stores. A retained
 * message arrives as PERSIST_RETAIN_MSG_SET (topic and store id) after the
 * base message it refers to was announced by PERSIST_BASE_MSG_ADD, either
 * just before or earlier (a message queued for a persistent session first);
 * the base message carries the payload, the properties and the expiry as an
 * absolute time, which the MESSAGE event does not show. So the base
 * messages are indexed here by store id, as references into the broker's
 * own copy, valid until their PERSIST_BASE_MSG_DELETE. Storing happens at
 * PUBREL for QoS 2, so what is captured is what the broker holds.
 *
 * Apply: mosquitto_persist_base_msg_add and mosquitto_persist_retain_msg_set
 * or _delete set a retained message at once, deliver it to no one and fire
 * no event (docs/plugin.md). Base messages made here take store ids with
 * node id 0 in their top ten bits; the broker's own ids carry this node's
 * id (mosquitto_broker_node_id_set), which is never 0.
 *
 * The plugin is built against 2.0's headers: the event ids, their data and
 * the functions are declared here and looked up at run time. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#pragma GCC visibility push(default)
#include <mosquitto.h>
#if LIBMOSQUITTO_MAJOR == 2 && LIBMOSQUITTO_MINOR == 0
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#endif
#pragma GCC visibility pop

#include "plugin/ha.h"

#define HA_EVT_PERSIST_BASE_MSG_ADD 15
#define HA_EVT_PERSIST_BASE_MSG_DELETE 16
#define HA_EVT_PERSIST_RETAIN_MSG_SET 17
#define HA_EVT_PERSIST_RETAIN_MSG_DELETE 18

struct ha_base_msg {
	uint64_t store_id;
	int64_t expiry_time; /* unix seconds; 0: never */
	char *topic;
	void *payload;
	char *source_id;
	char *source_username;
	mosquitto_property *properties;
	uint32_t payloadlen;
	uint16_t source_mid;
	uint16_t source_port;
	uint8_t qos;
	bool retain;
	uint8_t padding[6];
	void *future2[8];
};

struct ha_evt_persist_base_msg {
	void *future;
	struct ha_base_msg data;
	void *future2[8];
};

struct ha_evt_persist_retain_msg {
	void *future;
	const char *topic;
	uint64_t store_id;
	void *future2[8];
};

/* A base message the broker announced: references into its copy. */
struct base_ref {
	uint64_t store_id;
	const char *topic;
	const void *payload;
	uint32_t payloadlen;
	uint8_t qos;
	int64_t expiry_time;
	const mosquitto_property *properties;
	const char *source_id;
	struct base_ref *next;
};

struct ha_persist {
	int (*base_msg_add)(struct ha_base_msg *msg);
	int (*base_msg_delete)(uint64_t store_id);
	int (*retain_msg_set)(const char *topic, uint64_t store_id);
	int (*retain_msg_delete)(const char *topic);
	int (*node_id_set)(uint16_t id);
	struct base_ref **buckets;
	size_t n_buckets; /* a power of two */
	size_t n_refs;
	uint64_t next_store_id;
	bool registered;
	int64_t missing_log_at;
	uint64_t missing;
};

/* ---- base messages by store id ---- */

static size_t bucket_of(uint64_t id, size_t n_buckets)
{
	/* Store ids are mostly time-ordered: mix before masking. */
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdull;
	id ^= id >> 33;
	return (size_t)(id & (n_buckets - 1));
}

static int refs_grow(struct ha_persist *p)
{
	size_t n = p->n_buckets ? p->n_buckets * 2 : 1024;
	struct base_ref **b = calloc(n, sizeof(*b));
	if (b == NULL)
		return -1;
	for (size_t i = 0; i < p->n_buckets; i++) {
		struct base_ref *r = p->buckets[i], *next;
		for (; r != NULL; r = next) {
			next = r->next;
			size_t k = bucket_of(r->store_id, n);
			r->next = b[k];
			b[k] = r;
		}
	}
	free(p->buckets);
	p->buckets = b;
	p->n_buckets = n;
	return 0;
}

static struct base_ref **ref_slot(struct ha_persist *p, uint64_t id)
{
	if (p->n_buckets == 0)
		return NULL;
	struct base_ref **at = &p->buckets[bucket_of(id, p->n_buckets)];
	while (*at != NULL && (*at)->store_id != id)
		at = &(*at)->next;
	return at;
}

static void refs_free(struct ha_persist *p)
{
	for (size_t i = 0; i < p->n_buckets; i++) {
		struct base_ref *r = p->buckets[i], *next;
		for (; r != NULL; r = next) {
			next = r->next;
			free(r);
		}
	}
	free(p->buckets);
	p->buckets = NULL;
	p->n_buckets = 0;
	p->n_refs = 0;
}

/* ---- the events ---- */

static int on_base_msg_add(int event, void *event_data, void *userdata)
{
	struct ha_plugin *ha = userdata;
	struct ha_persist *p = ha->persist;
	const struct ha_base_msg *m =
	    &((struct ha_evt_persist_base_msg *)event_data)->data;
	(void)event;
	if (p->n_refs >= p->n_buckets && refs_grow(p) != 0)
		return MOSQ_ERR_SUCCESS; /* set later: counted as missing */
	struct base_ref **at = ref_slot(p, m->store_id);
	struct base_ref *r = *at;
	if (r == NULL) {
		r = calloc(1, sizeof(*r));
		if (r == NULL)
			return MOSQ_ERR_SUCCESS;
		*at = r;
		p->n_refs++;
	}
	r->store_id = m->store_id;
	r->topic = m->topic;
	r->payload = m->payload;
	r->payloadlen = m->payloadlen;
	r->qos = m->qos;
	r->expiry_time = m->expiry_time;
	r->properties = m->properties;
	r->source_id = m->source_id;
	return MOSQ_ERR_SUCCESS;
}

static int on_base_msg_delete(int event, void *event_data, void *userdata)
{
	struct ha_plugin *ha = userdata;
	struct ha_persist *p = ha->persist;
	uint64_t id =
	    ((struct ha_evt_persist_base_msg *)event_data)->data.store_id;
	(void)event;
	struct base_ref **at = ref_slot(p, id);
	if (at == NULL || *at == NULL)
		return MOSQ_ERR_SUCCESS;
	struct base_ref *r = *at;
	*at = r->next;
	free(r);
	p->n_refs--;
	return MOSQ_ERR_SUCCESS;
}

static int on_retain_msg_set(int event, void *event_data, void *userdata)
{
	struct ha_plugin *ha = userdata;
	struct ha_persist *p = ha->persist;
	const struct ha_evt_persist_retain_msg *ed = event_data;
	(void)event;
	if (ha->state != HA_MEMBER)
		return MOSQ_ERR_SUCCESS;
	struct base_ref **at = ref_slot(p, ed->store_id);
	const struct base_ref *r = at != NULL ? *at : NULL;
	if (r == NULL) {
		/* Stored before this plugin listened: nothing to read. */
		p->missing++;
		int64_t now = ha_node_monotonic_ms();
		if (now - p->missing_log_at >= 10000) {
			p->missing_log_at = now;
			ha_log_warning("the retained message of '%s' refers to "
				       "a message this plugin was not told "
				       "of: it is not replicated (%llu so "
				       "far)",
				       ed->topic,
				       (unsigned long long)p->missing);
		}
		ha_retained_stored(ha, ed->topic, NULL, 0, 0, NULL, 0, NULL,
				   false);
		return MOSQ_ERR_SUCCESS;
	}
	uint64_t expiry_ms =
	    r->expiry_time > 0 ? (uint64_t)r->expiry_time * 1000u : 0;
	ha_retained_stored(ha, ed->topic, r->payload, r->payloadlen, r->qos,
			   r->properties, expiry_ms, r->source_id, true);
	return MOSQ_ERR_SUCCESS;
}

static int on_retain_msg_delete(int event, void *event_data, void *userdata)
{
	struct ha_plugin *ha = userdata;
	const struct ha_evt_persist_retain_msg *ed = event_data;
	(void)event;
	if (ha->state == HA_MEMBER)
		ha_retained_stored(ha, ed->topic, NULL, 0, 0, NULL, 0, NULL,
				   true);
	return MOSQ_ERR_SUCCESS;
}

static const struct {
	int event;
	MOSQ_FUNC_generic_callback cb;
} persist_events[] = {
    {HA_EVT_PERSIST_BASE_MSG_ADD, on_base_msg_add},
    {HA_EVT_PERSIST_BASE_MSG_DELETE, on_base_msg_delete},
    {HA_EVT_PERSIST_RETAIN_MSG_SET, on_retain_msg_set},
    {HA_EVT_PERSIST_RETAIN_MSG_DELETE, on_retain_msg_delete},
};
#define N_PERSIST_EVENTS (sizeof(persist_events) / sizeof(persist_events[0]))

/* ---- start and stop ---- */

static void unregister_first(struct ha_plugin *ha, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int rv = mosquitto_callback_unregister(
		    ha->identifier, persist_events[i].event,
		    persist_events[i].cb, NULL);
		if (rv != MOSQ_ERR_SUCCESS)
			ha_log_error("cannot unregister from broker event %d: "
				     "%s",
				     persist_events[i].event,
				     mosquitto_strerror(rv));
	}
}

static bool resolve(struct ha_persist *p)
{
	/* POSIX lets a data pointer hold a function's address (dlsym). */
	*(void **)&p->base_msg_add =
	    dlsym(RTLD_DEFAULT, "mosquitto_persist_base_msg_add");
	*(void **)&p->base_msg_delete =
	    dlsym(RTLD_DEFAULT, "mosquitto_persist_base_msg_delete");
	*(void **)&p->retain_msg_set =
	    dlsym(RTLD_DEFAULT, "mosquitto_persist_retain_msg_set");
	*(void **)&p->retain_msg_delete =
	    dlsym(RTLD_DEFAULT, "mosquitto_persist_retain_msg_delete");
	*(void **)&p->node_id_set =
	    dlsym(RTLD_DEFAULT, "mosquitto_broker_node_id_set");
	return p->base_msg_add != NULL && p->base_msg_delete != NULL &&
	       p->retain_msg_set != NULL && p->retain_msg_delete != NULL &&
	       p->node_id_set != NULL;
}

int ha_persist_start(struct ha_plugin *ha)
{
	if (!ha->broker_21 || ha->persist != NULL)
		return 0;
	struct ha_persist *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		ha_log_error("out of memory starting the persistence events");
		return -1;
	}
	if (!resolve(p)) {
		ha_log_error("this broker lacks the 2.1 persistence functions: "
			     "retained messages are captured at publish, "
			     "without their expiry");
		free(p);
		return -1;
	}
	int rv = p->node_id_set((uint16_t)ha->cluster.nodeid);
	if (rv != MOSQ_ERR_SUCCESS) {
		ha_log_error("cannot give the broker its node id %u: %s",
			     ha->cluster.nodeid, mosquitto_strerror(rv));
		free(p);
		return -1;
	}
	p->next_store_id = 1;
	ha->persist = p;
	for (size_t i = 0; i < N_PERSIST_EVENTS; i++) {
		rv = mosquitto_callback_register(
		    ha->identifier, persist_events[i].event,
		    persist_events[i].cb, NULL, ha);
		if (rv != MOSQ_ERR_SUCCESS) {
			ha_log_error("cannot register for broker event %d: "
				     "%s; retained messages are captured at "
				     "publish, without their expiry",
				     persist_events[i].event,
				     mosquitto_strerror(rv));
			unregister_first(ha, i);
			ha->persist = NULL;
			free(p);
			return -1;
		}
	}
	p->registered = true;
	return 0;
}

void ha_persist_stop(struct ha_plugin *ha)
{
	struct ha_persist *p = ha->persist;
	if (p == NULL)
		return;
	if (p->registered)
		unregister_first(ha, N_PERSIST_EVENTS);
	refs_free(p);
	free(p);
	ha->persist = NULL;
}

bool ha_persist_capturing(const struct ha_plugin *ha)
{
	return ha->persist != NULL && ha->persist->registered;
}

/* ---- apply ---- */

int ha_persist_retain_set(struct ha_plugin *ha, const char *topic,
			  const void *payload, uint32_t payloadlen, uint8_t qos,
			  mosquitto_property *properties, uint64_t expiry_ms)
{
	struct ha_persist *p = ha->persist;
	struct ha_base_msg m;
	memset(&m, 0, sizeof(m));
	m.topic = mosquitto_strdup(topic);
	m.payload = mosquitto_malloc(payloadlen);
	m.properties = properties; /* the broker's from here on */
	if (m.topic == NULL || m.payload == NULL) {
		mosquitto_free(m.topic);
		mosquitto_free(m.payload);
		mosquitto_property_free_all(&m.properties);
		return MOSQ_ERR_NOMEM;
	}
	memcpy(m.payload, payload, payloadlen);
	m.store_id = p->next_store_id++ & ((1ull << 54) - 1);
	m.expiry_time = (int64_t)((expiry_ms + 999) / 1000);
	m.payloadlen = payloadlen;
	m.qos = qos;
	m.retain = true;
	/* The broker owns topic, payload and properties even on error. */
	int rv = p->base_msg_add(&m);
	if (rv != MOSQ_ERR_SUCCESS)
		return rv;
	rv = p->retain_msg_set(topic, m.store_id);
	if (rv != MOSQ_ERR_SUCCESS)
		p->base_msg_delete(m.store_id);
	return rv;
}

int ha_persist_retain_delete(struct ha_plugin *ha, const char *topic)
{
	int rv = ha->persist->retain_msg_delete(topic);
	/* Nothing retained there: nothing to delete. */
	return rv == MOSQ_ERR_NOT_FOUND ? MOSQ_ERR_SUCCESS : rv;
}
