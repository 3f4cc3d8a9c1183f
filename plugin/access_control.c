/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Access control between the broker, the dynsec core and the log: see
 * access_control.h. Broker thread only. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#pragma GCC visibility push(default)
#include <mosquitto.h>
#if LIBMOSQUITTO_MAJOR == 2 && LIBMOSQUITTO_MINOR == 0
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#endif
#pragma GCC visibility pop

#include "plugin/access_control.h"
#include "plugin/dynsec/dynsec.h"
#include "plugin/forward.h"
#include "plugin/ha.h"

/* One payload: waiting, or in flight with its records proposed. */
struct ac_request {
	struct ha_dynsec_reply_sink sink;
	char *payload;
	size_t len;
	json_t *reply;
	uint8_t **records;
	size_t *lens;
	size_t *reply_of; /* records[i] is the change of responses[i] */
	size_t n;
	uint64_t *cookies;
	raft_index *index; /* 0 until the node took it */
	raft_term *term;
	size_t proposed, committed;
	int64_t deadline; /* moved on at each commit */
	struct ac_request *next;
};

/* The latest committed entries: the node may hand over an entry's commit
 * before the answer to its proposal (a majority of followers stored it
 * before this node's disk did), so proposals are matched against these. */
#define AC_SEEN 4096
struct ac_seen {
	raft_index index;
	raft_term term;
	const char *rejected; /* an access-control change refused at apply */
};

struct ha_access_control {
	struct ha_dynsec *standalone; /* served until in a cluster */
	struct ac_seen seen[AC_SEEN]; /* by index modulo AC_SEEN */
	raft_index seen_last;
	struct ac_request *head, *tail;
	size_t queued;
	uint64_t cookie_seq;
	/* createCluster's import, until it commits. */
	struct ha_dynsec *import;
	uint64_t import_cookie;
	raft_index import_index;
	raft_term import_term;
	int64_t import_log_at;
};

static uint64_t next_cookie(struct ha_access_control *ac)
{
	return HA_AC_COOKIE | (++ac->cookie_seq & (HA_AC_COOKIE - 1));
}

/* ---- the data served ---- */

const struct ha_dynsec *ha_ac_serving(struct ha_plugin *ha)
{
	struct ha_access_control *ac = ha->ac;
	if (ac == NULL)
		return NULL;
	if (ha->state != HA_MEMBER)
		return ac->standalone;
	if (ha->broker_view == NULL)
		return NULL;
	/* Not replicated: this broker's rules (a restored snapshot's state
	 * comes without it). */
	ha->broker_view->access_control->v21 = ha->broker_21;
	return ha->broker_view->access_control;
}

int ha_ac_basic_auth(struct ha_plugin *ha, const char *username,
		     const char *password, const char *clientid)
{
	const struct ha_dynsec *s = ha_ac_serving(ha);
	if (s == NULL)
		return MOSQ_ERR_PLUGIN_DEFER;
	switch (ha_dynsec_authenticate(s, username, password, clientid)) {
	case HA_DYNSEC_AUTH_OK:
		return MOSQ_ERR_SUCCESS;
	case HA_DYNSEC_AUTH_DENIED:
		return MOSQ_ERR_AUTH;
	default:
		return MOSQ_ERR_PLUGIN_DEFER;
	}
}

int ha_ac_acl_check(struct ha_plugin *ha, int access, const char *username,
		    const char *clientid, const char *topic)
{
	const struct ha_dynsec *s = ha_ac_serving(ha);
	if (s == NULL || topic == NULL)
		return MOSQ_ERR_PLUGIN_DEFER;
	int kind;
	switch (access) {
	case MOSQ_ACL_WRITE:
		kind = HA_DYNSEC_ACCESS_PUB_SEND;
		break;
	case MOSQ_ACL_READ:
		kind = HA_DYNSEC_ACCESS_PUB_RECV;
		break;
	case MOSQ_ACL_SUBSCRIBE:
		kind = HA_DYNSEC_ACCESS_SUBSCRIBE;
		break;
	case MOSQ_ACL_UNSUBSCRIBE:
		kind = HA_DYNSEC_ACCESS_UNSUBSCRIBE;
		break;
	default:
		return MOSQ_ERR_PLUGIN_DEFER;
	}
	switch (ha_dynsec_acl_check(s, kind, username, clientid, topic)) {
	case HA_DYNSEC_ACL_ALLOW:
		return MOSQ_ERR_SUCCESS;
	case HA_DYNSEC_ACL_DENY:
		return MOSQ_ERR_ACL_DENIED;
	default:
		return MOSQ_ERR_PLUGIN_DEFER;
	}
}

/* ---- kicks ---- */

bool ha_ac_kicks_before(struct ha_plugin *ha, const uint8_t *rec, size_t len,
			struct ha_dynsec_kicks *out)
{
	memset(out, 0, sizeof(*out));
	if (ha->ac == NULL || ha->broker_view == NULL)
		return false;
	return ha_dynsec_record_kicks(ha->broker_view->access_control, rec, len,
				      out) == HA_DYNSEC_OK;
}

void ha_ac_kick(struct ha_plugin *ha, struct ha_dynsec_kicks *k, bool applied)
{
	(void)ha;
	/* An import (everyone) replaces the data of a node that has just
	 * entered a cluster: it serves no ordinary client then, and kicking
	 * everyone would cut the administrator who formed it. */
	if (applied && !k->everyone) {
		for (size_t i = 0; i < k->n; i++)
			mosquitto_kick_client_by_username(k->usernames[i],
							  false);
		if (k->anonymous)
			mosquitto_kick_client_by_username(NULL, false);
	}
	ha_dynsec_kicks_clear(k);
}

void ha_ac_restored(struct ha_plugin *ha, const struct ha_dynsec *before)
{
	const struct ha_dynsec *after = ha->broker_view->access_control;
	if (ha->ac == NULL || before == NULL || after == NULL)
		return;
	struct ha_dynsec_kicks k;
	if (ha_dynsec_restore_kicks(before, after, &k) != HA_DYNSEC_OK) {
		ha_log_error("out of memory finding whom a restored snapshot's "
			     "access-control data disconnects");
		return;
	}
	if (k.n > 0 || k.anonymous)
		ha_log_info("a restored snapshot changed the access-control "
			    "data of %zu users%s: they are disconnected",
			    k.n, k.anonymous ? " and the anonymous group" : "");
	ha_ac_kick(ha, &k, true);
}

/* Applies records made against a copy of s to s itself, with the kicks
 * each one makes, as committed records are (standalone changes). */
static void apply_local(struct ha_dynsec *s, uint8_t **records,
			const size_t *lens, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct ha_dynsec_kicks k;
		bool kicks = ha_dynsec_record_kicks(s, records[i], lens[i],
						    &k) == HA_DYNSEC_OK;
		const char *error = NULL;
		int rv = ha_dynsec_apply(s, records[i], lens[i], &error);
		if (rv != HA_DYNSEC_OK)
			ha_log_error("access-control change not applied: %s",
				     error ? error : "out of memory");
		if (kicks)
			ha_ac_kick(NULL, &k, rv == HA_DYNSEC_OK);
	}
}

/* ---- replies ---- */

static void send_text(struct ha_plugin *ha, struct ha_dynsec_reply_sink sink,
		      const char *text, size_t len)
{
	if (sink.done != NULL) {
		sink.done(sink.arg, text, len);
		return;
	}
	int rv = mosquitto_broker_publish_copy(NULL, HA_DYNSEC_RESPONSE_TOPIC,
					       (int)len, text, 0, false, NULL);
	if (rv != MOSQ_ERR_SUCCESS)
		ha_log_error("cannot publish a dynamic-security reply: %s",
			     mosquitto_strerror(rv));
	ha_wake_later(&ha->wake);
}

/* ---- mosquitto 2.1's "connections" of a client ---- */

/* 2.1's functions, found at run time (the plugin is built against 2.0's
 * headers, where they do not exist). */
typedef int (*apply_on_all_fn)(int (*)(const struct mosquitto *, void *),
			       void *);
typedef struct mosquitto *(*client_by_id_fn)(const char *);

struct connections_ctx {
	const char *username;
	json_t *list;
	bool failed;
};

static int add_connection(const struct mosquitto *client, void *arg)
{
	struct connections_ctx *c = arg;
	const char *username = mosquitto_client_username(client);
	if ((username == NULL) != (c->username == NULL) ||
	    (username != NULL && strcmp(username, c->username) != 0))
		return MOSQ_ERR_SUCCESS;
	const char *address = mosquitto_client_address(client);
	json_t *one = json_object();
	if (one == NULL ||
	    (address != NULL &&
	     json_object_set_new(one, "address", json_string(address)) != 0) ||
	    json_array_append_new(c->list, one) != 0)
		c->failed = true;
	return MOSQ_ERR_SUCCESS;
}

/* As the stock 2.1 plugin: the connections with the client's username
 * (with a client id: that client's only), each with its address. */
static void add_connections(json_t *client)
{
	static apply_on_all_fn apply_on_all;
	static client_by_id_fn client_by_id;
	static bool looked;
	if (!looked) {
		looked = true;
		apply_on_all = (apply_on_all_fn)dlsym(
		    RTLD_DEFAULT, "mosquitto_apply_on_all_clients");
		client_by_id =
		    (client_by_id_fn)dlsym(RTLD_DEFAULT, "mosquitto_client");
	}
	json_t *username = json_object_get(client, "username");
	if (apply_on_all == NULL || client_by_id == NULL ||
	    !json_is_string(username))
		return;
	struct connections_ctx c = {json_string_value(username), json_array(),
				    false};
	c.failed = c.list == NULL;
	json_t *clientid = json_object_get(client, "clientid");
	if (json_is_string(clientid)) {
		const struct mosquitto *one =
		    client_by_id(json_string_value(clientid));
		if (one != NULL && !c.failed)
			add_connection(one, &c);
	} else if (!c.failed) {
		apply_on_all(add_connection, &c);
	}
	if (c.failed || json_object_set_new(client, "connections", c.list))
		ha_log_error("out of memory listing a client's connections");
	if (c.failed)
		json_decref(c.list);
}

/* 2.1: getClient's client and listClients' verbose ones get their
 * connections, which only the broker knows. */
static void add_broker_data(struct ha_plugin *ha, json_t *reply)
{
	if (!ha->broker_21)
		return;
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(reply, "responses"), i, r)
	{
		json_t *data = json_object_get(r, "data");
		json_t *one = json_object_get(data, "client");
		if (json_is_object(one))
			add_connections(one);
		size_t k;
		json_t *c;
		json_array_foreach(json_object_get(data, "clients"), k, c)
		{
			if (json_is_object(c))
				add_connections(c);
		}
	}
}

/* Sends reply (NULL: out of memory, said as the stock plugin's internal
 * error) and drops it. */
static void send_reply(struct ha_plugin *ha, struct ha_dynsec_reply_sink sink,
		       json_t *reply)
{
	if (reply != NULL)
		add_broker_data(ha, reply);
	char *text = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
	json_decref(reply);
	if (text == NULL) {
		ha_log_error("out of memory building a dynamic-security reply");
		static const char fallback[] =
		    "{\"responses\":[{\"command\":\"Unknown command\","
		    "\"error\":\"Internal error\"}]}";
		send_text(ha, sink, fallback, sizeof(fallback) - 1);
		return;
	}
	send_text(ha, sink, text, strlen(text));
	free(text);
}

/* Makes responses[i] the error sentence for its command. */
static void set_error(json_t *reply, size_t i, const char *sentence)
{
	json_t *responses = json_object_get(reply, "responses");
	json_t *old = json_array_get(responses, i);
	if (old == NULL)
		return;
	json_t *r = json_object();
	json_t *name = json_object_get(old, "command");
	json_t *corr = json_object_get(old, "correlationData");
	if (r == NULL || json_object_set(r, "command", name) != 0 ||
	    json_object_set_new(r, "error", json_string(sentence)) != 0 ||
	    (corr != NULL &&
	     json_object_set(r, "correlationData", corr) != 0)) {
		json_decref(r);
		return; /* out of memory: the old reply stays */
	}
	json_array_set_new(responses, i, r);
}

/* A member as the stock plugin finds it: the name in any case. */
static json_t *member(json_t *obj, const char *key)
{
	const char *k;
	json_t *v;
	if (!json_is_object(obj))
		return NULL;
	json_object_foreach(obj, k, v)
	{
		if (strcasecmp(k, key) == 0)
			return v;
	}
	return NULL;
}

/* The reply when the payload cannot run here: the stock answer to a
 * malformed payload, else every command refused with sentence. */
static json_t *refusal_reply(struct ha_plugin *ha, const char *payload,
			     size_t len, const char *sentence)
{
	json_t *tree = json_loadb(payload, len, 0, NULL);
	json_t *cmds = member(tree, "commands");
	if (!json_is_array(cmds)) {
		json_decref(tree);
		/* No command in it: the data is only read. */
		struct ha_dynsec *empty = ha_dynsec_new();
		if (empty == NULL)
			return NULL;
		empty->v21 = ha->broker_21;
		uint8_t **records;
		size_t *lens, n;
		json_t *r =
		    ha_dynsec_payload(empty, payload, len, &records, &lens, &n);
		for (size_t i = 0; i < n; i++)
			free(records[i]);
		free(records);
		free(lens);
		ha_dynsec_free(empty);
		return r;
	}
	json_t *responses = json_array();
	json_t *reply = json_pack("{so}", "responses", responses);
	size_t i;
	json_t *cmd;
	json_array_foreach(cmds, i, cmd)
	{
		json_t *name = member(cmd, "command");
		json_t *corr = member(cmd, "correlationData");
		json_t *r =
		    json_pack("{ssss}", "command",
			      json_is_string(name) ? json_string_value(name)
						   : "Unknown command",
			      "error", sentence);
		if (r != NULL && json_is_string(corr))
			json_object_set(r, "correlationData", corr);
		if (r == NULL || json_array_append_new(responses, r) != 0)
			break;
	}
	json_decref(tree);
	return reply;
}

/* ---- requests ---- */

static void request_free(struct ac_request *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++)
		free(r->records[i]);
	free(r->records);
	free(r->lens);
	free(r->reply_of);
	free(r->cookies);
	free(r->index);
	free(r->term);
	json_decref(r->reply);
	free(r->payload);
	free(r);
}

/* Answers the request in flight: each change not committed gets sentence
 * (NULL: all committed). */
static void finish_head(struct ha_plugin *ha, const char *sentence)
{
	struct ha_access_control *ac = ha->ac;
	struct ac_request *r = ac->head;
	ac->head = r->next;
	if (ac->head == NULL)
		ac->tail = NULL;
	if (sentence != NULL && r->n > 0)
		ha_log_warning("a dynamic-security request is answered with "
			       "\"%s\": %zu of its %zu changes seen committed",
			       sentence, r->committed, r->n);
	if (sentence != NULL)
		for (size_t i = r->committed; i < r->n; i++)
			set_error(r->reply, r->reply_of[i], sentence);
	json_t *reply = r->reply;
	r->reply = NULL;
	send_reply(ha, r->sink, reply);
	request_free(r);
}

static bool leading(struct ha_plugin *ha)
{
	return ha->state == HA_MEMBER && ha->node != NULL &&
	       ha->role == RAFT_LEADER && ha->broker_view != NULL;
}

/* Proposes the records of the request in flight; false when the node
 * refused one (the request is answered then). */
static bool propose_more(struct ha_plugin *ha)
{
	struct ac_request *r = ha->ac->head;
	while (r->proposed < r->n &&
	       r->proposed - r->committed < HA_AC_WINDOW) {
		size_t i = r->proposed;
		r->cookies[i] = next_cookie(ha->ac);
		int rv = ha_node_propose(ha->node, r->records[i], r->lens[i],
					 r->cookies[i]);
		if (rv != HA_NODE_OK) {
			ha_log_error("cannot propose an access-control change: "
				     "%s",
				     ha_node_strerror(rv));
			/* Those before it may still commit. */
			finish_head(ha,
				    i == 0 ? HA_ERR_INTERNAL : HA_ERR_AC_MOVED);
			return false;
		}
		r->proposed++;
	}
	return true;
}

static bool propose_head(struct ha_plugin *ha)
{
	struct ac_request *r = ha->ac->head;
	r->cookies = calloc(r->n, sizeof(*r->cookies));
	r->index = calloc(r->n, sizeof(*r->index));
	r->term = calloc(r->n, sizeof(*r->term));
	if (r->cookies == NULL || r->index == NULL || r->term == NULL) {
		finish_head(ha, HA_ERR_INTERNAL);
		return false;
	}
	r->deadline = ha_node_monotonic_ms() + HA_COMMAND_TIMEOUT_MS;
	return propose_more(ha);
}

/* Runs the payload at the head on a copy of the committed data: answered
 * at once when it changes nothing, else proposed. true once it is in
 * flight. */
static bool start_head(struct ha_plugin *ha)
{
	struct ha_access_control *ac = ha->ac;
	struct ac_request *r = ac->head;
	if (!leading(ha) || !ha_serving(ha)) {
		json_t *reply =
		    refusal_reply(ha, r->payload, r->len, HA_ERR_NOT_LEADER);
		r->reply = reply;
		finish_head(ha, NULL);
		return false;
	}
	if (!ha_record_writable(HA_REC_TYPE_ACCESS_CONTROL,
				ha->broker_view->feature_level)) {
		r->reply =
		    refusal_reply(ha, r->payload, r->len, HA_ERR_AC_LEVEL);
		finish_head(ha, NULL);
		return false;
	}
	struct ha_dynsec *work = ha_dynsec_clone(ha_ac_serving(ha));
	if (work != NULL)
		r->reply = ha_dynsec_payload_mapped(work, r->payload, r->len,
						    &r->records, &r->lens,
						    &r->reply_of, &r->n);
	ha_dynsec_free(work);
	if (r->reply == NULL || r->n == 0) {
		finish_head(ha, NULL);
		return false;
	}
	return propose_head(ha);
}

/* Starts waiting payloads until one is in flight or none is left. */
static void run_queue(struct ha_plugin *ha)
{
	while (ha->ac->head != NULL && ha->ac->head->index == NULL) {
		ha->ac->queued--;
		if (start_head(ha))
			return;
	}
}

/* Answers the request in flight and every waiting one. */
static void fail_all(struct ha_plugin *ha, const char *in_flight,
		     const char *waiting)
{
	struct ha_access_control *ac = ha->ac;
	if (ac->head != NULL && ac->head->index != NULL)
		finish_head(ha, in_flight);
	while (ac->head != NULL) {
		struct ac_request *r = ac->head;
		r->reply = refusal_reply(ha, r->payload, r->len, waiting);
		ac->queued--;
		finish_head(ha, NULL);
	}
}

/* Standalone: the file's data changes here and now, and is written back
 * to the file as the stock plugin does. */
static void run_standalone(struct ha_plugin *ha, const char *payload,
			   size_t len, struct ha_dynsec_reply_sink sink)
{
	struct ha_access_control *ac = ha->ac;
	struct ha_dynsec *work = ha_dynsec_clone(ac->standalone);
	uint8_t **records = NULL;
	size_t *lens = NULL, n = 0;
	json_t *reply =
	    work ? ha_dynsec_payload(work, payload, len, &records, &lens, &n)
		 : NULL;
	ha_dynsec_free(work);
	apply_local(ac->standalone, records, lens, n);
	for (size_t i = 0; i < n; i++)
		free(records[i]);
	free(records);
	free(lens);
	char why[256];
	if (n > 0 && ha->opt.dynsec_file != NULL &&
	    ha_dynsec_save_file(ac->standalone, ha->opt.dynsec_file, why,
				sizeof(why)) != HA_DYNSEC_OK)
		ha_log_error("cannot write %s: %s", ha->opt.dynsec_file, why);
	send_reply(ha, sink, reply);
}

/* ---- the dynsec sync mode: a member hands changes to the leader ---- */

struct forwarded {
	struct ha_plugin *ha;
	struct ha_dynsec_reply_sink sink;
	size_t len;
	char payload[]; /* kept to word the refusal if the leader is lost */
};

static void forwarded_done(void *arg, int status, const void *reply, size_t len)
{
	struct forwarded *f = arg;
	if (status == HA_FWD_OK) {
		send_text(f->ha, f->sink, reply, len);
	} else {
		/* Only these three say the leader's broker never saw it. */
		bool unseen = status == HA_FWD_NO_LEADER ||
			      status == HA_FWD_BUSY || status == HA_FWD_REFUSED;
		send_reply(f->ha, f->sink,
			   refusal_reply(f->ha, f->payload, f->len,
					 unseen ? HA_ERR_AC_NO_LEADER
						: HA_ERR_AC_MOVED));
	}
	free(f);
}

static void forward_to_leader(struct ha_plugin *ha, const char *payload,
			      size_t len, struct ha_dynsec_reply_sink sink)
{
	struct forwarded *f = malloc(sizeof(*f) + len);
	if (f == NULL) {
		send_reply(ha, sink, NULL);
		return;
	}
	*f = (struct forwarded){.ha = ha, .sink = sink, .len = len};
	memcpy(f->payload, payload, len);
	int rv = ha_forward_send(ha, payload, len, forwarded_done, f);
	if (rv != HA_NODE_OK) {
		ha_log_warning("cannot hand a dynamic-security request to the "
			       "leader: %s",
			       ha_node_strerror(rv));
		forwarded_done(f, HA_FWD_NO_LEADER, NULL, 0);
	}
}

/* On the leader: a payload another member handed over; its reply goes
 * back over the cluster link. */
static void answer_forwarded(void *arg, const char *reply, size_t len)
{
	struct ha_forward_handle *h = arg;
	if (len > HA_NODE_FORWARD_MAX_BYTES) {
		static const char too_large[] =
		    "{\"responses\":[{\"command\":\"Unknown command\","
		    "\"error\":\"" HA_ERR_AC_REPLY_LARGE "\"}]}";
		reply = too_large;
		len = sizeof(too_large) - 1;
	}
	int rv = ha_forward_answer(h, reply, len);
	if (rv != HA_NODE_OK)
		ha_log_warning("cannot answer a forwarded dynamic-security "
			       "request: %s",
			       ha_node_strerror(rv));
}

static void on_forwarded(struct ha_plugin *ha, struct ha_forward_handle *h,
			 const void *payload, size_t len)
{
	struct ha_dynsec_reply_sink sink = {.done = answer_forwarded, .arg = h};
	ha_dynsec_ctrl_submit(ha, payload, len, sink);
}

void ha_dynsec_ctrl_submit(struct ha_plugin *ha, const char *payload,
			   size_t len, struct ha_dynsec_reply_sink sink)
{
	struct ha_access_control *ac = ha->ac;
	if (ac == NULL) {
		send_reply(ha, sink,
			   refusal_reply(ha, payload, len, HA_ERR_AC_DISABLED));
		return;
	}
	if (ha->state != HA_MEMBER) {
		run_standalone(ha, payload, len, sink);
		return;
	}
	/* In the dynsec sync mode every member takes the stock topic: one
	 * that does not lead hands the payload to the leader. A payload that
	 * came that way is never handed on again. */
	if (!leading(ha) && ha_cluster_dynsec(ha) &&
	    sink.done != answer_forwarded) {
		forward_to_leader(ha, payload, len, sink);
		return;
	}
	if (!leading(ha) || !ha_serving(ha)) {
		send_reply(ha, sink,
			   refusal_reply(ha, payload, len, HA_ERR_NOT_LEADER));
		return;
	}
	if (ha_dynsec_payload_is_query(payload, len)) {
		/* The committed data, even while a change is in flight. */
		uint8_t **records = NULL;
		size_t *lens = NULL, n = 0;
		json_t *reply =
		    ha_dynsec_payload((struct ha_dynsec *)ha_ac_serving(ha),
				      payload, len, &records, &lens, &n);
		free(records);
		free(lens);
		send_reply(ha, sink, reply);
		return;
	}
	if (ac->queued >= HA_AC_QUEUE_MAX) {
		send_reply(ha, sink,
			   refusal_reply(ha, payload, len, HA_ERR_AC_QUEUE));
		return;
	}
	struct ac_request *r = calloc(1, sizeof(*r));
	if (r != NULL)
		r->payload = malloc(len + 1);
	if (r == NULL || r->payload == NULL) {
		free(r);
		send_reply(ha, sink, NULL);
		return;
	}
	memcpy(r->payload, payload, len);
	r->payload[len] = '\0';
	r->len = len;
	r->sink = sink;
	if (ac->tail != NULL)
		ac->tail->next = r;
	else
		ac->head = r;
	ac->tail = r;
	ac->queued++;
	if (ac->head == r)
		run_queue(ha);
}

/* ---- the log's answers ---- */

/* Counts the records of the payload in flight that committed (in order),
 * and answers it once all did, or once another entry took the place of
 * one. */
static void advance_head(struct ha_plugin *ha)
{
	struct ha_access_control *ac = ha->ac;
	struct ac_request *r = ac->head;
	while (r->committed < r->proposed) {
		size_t i = r->committed;
		if (r->index[i] == 0 || r->index[i] > ac->seen_last)
			return; /* not answered, or not committed yet */
		const struct ac_seen *e = &ac->seen[r->index[i] % AC_SEEN];
		if (e->index != r->index[i] || e->term != r->term[i]) {
			/* A new leader's entry took its place (or, past
			 * AC_SEEN commits ago, it cannot be told). */
			ha_log_warning("index %llu committed with term %llu "
				       "(seen %llu), proposed in term %llu",
				       (unsigned long long)r->index[i],
				       (unsigned long long)e->term,
				       (unsigned long long)e->index,
				       (unsigned long long)r->term[i]);
			finish_head(ha, HA_ERR_AC_MOVED);
			run_queue(ha);
			return;
		}
		if (e->rejected != NULL)
			set_error(r->reply, r->reply_of[i], e->rejected);
		r->committed++;
		r->deadline = ha_node_monotonic_ms() + HA_COMMAND_TIMEOUT_MS;
	}
	if (r->committed < r->n) {
		if (!propose_more(ha))
			run_queue(ha);
		return;
	}
	finish_head(ha, NULL);
	run_queue(ha);
}

/* The import, once the node answered its proposal and its index was
 * seen committed: done, or lost with a leadership change (proposed again
 * at a TICK). */
static void import_check(struct ha_plugin *ha)
{
	struct ha_access_control *ac = ha->ac;
	if (ac->import == NULL || ac->import_index == 0 ||
	    ac->import_index > ac->seen_last)
		return;
	const struct ac_seen *e = &ac->seen[ac->import_index % AC_SEEN];
	if (e->index == ac->import_index && e->term == ac->import_term) {
		const struct ha_dynsec *s = ha->broker_view->access_control;
		ha_log_info("imported the access-control data into the "
			    "cluster: %zu clients, %zu groups, %zu roles",
			    s->n_clients, s->n_groups, s->n_roles);
		ha_dynsec_free(ac->import);
		ac->import = NULL;
	}
	ac->import_cookie = 0;
	ac->import_index = 0;
}

void ha_ac_proposed(struct ha_plugin *ha, const struct ha_node_event *ev)
{
	struct ha_access_control *ac = ha->ac;
	if (ac == NULL)
		return;
	if (ev->cookie == ac->import_cookie && ac->import_cookie != 0) {
		if (ev->status == RAFT_OK) {
			ac->import_index = ev->index;
			ac->import_term = ev->term;
			import_check(ha);
		} else {
			ac->import_cookie = 0; /* tried again at a TICK */
		}
		return;
	}
	struct ac_request *r = ac->head;
	if (r == NULL || r->index == NULL)
		return;
	for (size_t i = r->committed; i < r->proposed; i++) {
		if (r->cookies[i] != ev->cookie)
			continue;
		if (ev->status != RAFT_OK) {
			ha_log_warning("the log refused an access-control "
				       "change: %s",
				       raft_strerror(ev->status));
			finish_head(ha, i == 0 ? HA_ERR_NOT_LEADER
					       : HA_ERR_AC_MOVED);
			run_queue(ha);
			return;
		}
		r->index[i] = ev->index;
		r->term[i] = ev->term;
		advance_head(ha);
		return;
	}
}

void ha_ac_committed(struct ha_plugin *ha, const struct ha_node_event *ev)
{
	struct ha_access_control *ac = ha->ac;
	if (ac == NULL || ha->broker_view == NULL)
		return;
	const struct ha_access_control_outcome *o =
	    &ha->broker_view->access_control_outcome;
	ac->seen[ev->index % AC_SEEN] = (struct ac_seen){
	    .index = ev->index,
	    .term = ev->term,
	    .rejected = o->index == ev->index && o->result == HA_DYNSEC_REJECTED
			    ? (o->error ? o->error : HA_ERR_INTERNAL)
			    : NULL};
	ac->seen_last = ev->index;
	import_check(ha);
	if (ac->head != NULL && ac->head->index != NULL)
		advance_head(ha);
}

/* ---- createCluster's import ---- */

static void import_tick(struct ha_plugin *ha)
{
	struct ha_access_control *ac = ha->ac;
	if (ac->import == NULL || ac->import_cookie != 0 || !leading(ha) ||
	    !ha_serving(ha) ||
	    !ha_record_writable(HA_REC_TYPE_ACCESS_CONTROL,
				ha->broker_view->feature_level))
		return;
	if (ha->broker_view->access_control_outcome.index != 0) {
		/* The cluster's data changed already: never overwrite it. */
		ha_dynsec_free(ac->import);
		ac->import = NULL;
		return;
	}
	uint8_t *rec = NULL;
	size_t len = 0;
	int rv = ha_dynsec_import_record(ac->import, &rec, &len);
	const char *why = NULL;
	if (rv != HA_DYNSEC_OK)
		why = "out of memory";
	else if (len > HA_RECORD_MAX)
		why = "it is larger than a log entry (4 MiB)";
	if (why != NULL) {
		free(rec);
		ha_log_error("cannot import the access-control data into the "
			     "cluster: %s; it starts empty",
			     why);
		ha_dynsec_free(ac->import);
		ac->import = NULL;
		return;
	}
	ac->import_cookie = next_cookie(ac);
	if (ha_node_propose(ha->node, rec, len, ac->import_cookie) !=
	    HA_NODE_OK)
		ac->import_cookie = 0;
	free(rec);
}

enum ha_ac_import_check ha_ac_create_check(struct ha_plugin *ha)
{
	struct ha_access_control *ac = ha->ac;
	if (ac == NULL)
		return HA_AC_IMPORT_FITS;
	uint8_t *rec = NULL;
	size_t len = 0;
	int rv = ha_dynsec_import_record(ac->standalone, &rec, &len);
	free(rec);
	if (rv == HA_DYNSEC_ENOMEM)
		return HA_AC_IMPORT_NOMEM;
	/* The encoder refuses a record past the limit. */
	return rv != HA_DYNSEC_OK || len > HA_RECORD_MAX
		   ? HA_AC_IMPORT_TOO_LARGE
		   : HA_AC_IMPORT_FITS;
}

void ha_ac_cluster_created(struct ha_plugin *ha)
{
	struct ha_access_control *ac = ha->ac;
	if (ac == NULL)
		return;
	ha_dynsec_free(ac->import);
	ac->import = ha_dynsec_clone(ac->standalone);
	ac->import_cookie = 0;
	ac->import_index = 0;
	if (ac->import == NULL)
		ha_log_error("out of memory: the access-control data is not "
			     "imported into the cluster");
}

json_t *ha_ac_create_note(struct ha_plugin *ha)
{
	struct ha_access_control *ac = ha->ac;
	if (ac == NULL || ac->import == NULL)
		return NULL;
	char text[512];
	snprintf(text, sizeof(text),
		 "%zu clients, %zu groups and %zu roles%s%s are imported into "
		 "the cluster once its feature level is 3.",
		 ac->import->n_clients, ac->import->n_groups,
		 ac->import->n_roles, ha->opt.dynsec_file ? " of " : "",
		 ha->opt.dynsec_file ? ha->opt.dynsec_file : "");
	return json_pack("{ss}", "accessControl", text);
}

json_t *ha_ac_join_note(struct ha_plugin *ha)
{
	if (ha->ac == NULL)
		return NULL;
	return json_pack("{ss}", "accessControl",
			 "This broker's access-control data is replaced by "
			 "the cluster's.");
}

void ha_ac_left(struct ha_plugin *ha)
{
	struct ha_access_control *ac = ha->ac;
	if (ac == NULL)
		return;
	fail_all(ha, HA_ERR_AC_MOVED, HA_ERR_NOT_MEMBER);
	ha_dynsec_free(ac->import);
	ac->import = NULL;
	ac->import_cookie = 0;
	/* A node that never was a member (a create or join that failed)
	 * keeps its own data. */
	if (ha->broker_view == NULL || !ha->was_member)
		return;
	struct ha_dynsec *copy =
	    ha_dynsec_clone(ha->broker_view->access_control);
	if (copy == NULL) {
		ha_log_error("out of memory: keeping the access-control data "
			     "this broker had before the cluster");
		return;
	}
	copy->v21 = ha->broker_21;
	ha_dynsec_replace(ac->standalone, copy);
}

void ha_ac_tick(struct ha_plugin *ha)
{
	struct ha_access_control *ac = ha->ac;
	if (ac == NULL)
		return;
	if (ac->head != NULL && !leading(ha)) {
		fail_all(ha, HA_ERR_AC_MOVED, HA_ERR_NOT_LEADER);
		return;
	}
	if (ac->head != NULL && ac->head->index != NULL &&
	    ha_node_monotonic_ms() >= ac->head->deadline) {
		finish_head(ha, HA_ERR_TIMEOUT);
		run_queue(ha);
	}
	import_tick(ha);
}

/* ---- start and stop ---- */

int ha_ac_start(struct ha_plugin *ha, char *err, size_t errlen)
{
	if (!ha->opt.access_control)
		return 0;
	struct ha_access_control *ac = calloc(1, sizeof(*ac));
	if (ac != NULL)
		ac->standalone = ha_dynsec_new();
	if (ac == NULL || ac->standalone == NULL) {
		free(ac);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ac->standalone->v21 = ha->broker_21;
	char why[256];
	if (ha->opt.dynsec_file != NULL &&
	    ha_dynsec_load_file(ac->standalone, ha->opt.dynsec_file, why,
				sizeof(why)) != HA_DYNSEC_OK) {
		snprintf(err, errlen, "plugin_opt_dynsec_file %s: %s",
			 ha->opt.dynsec_file, why);
		ha_dynsec_free(ac->standalone);
		free(ac);
		return -1;
	}
	ha->ac = ac;
	ha_forward_set_handler(ha, on_forwarded);
	return 0;
}

void ha_ac_stop(struct ha_plugin *ha)
{
	struct ha_access_control *ac = ha->ac;
	if (ac == NULL)
		return;
	/* The broker is going: nothing is published any more, but a
	 * callback still gets its one answer (its arg may be the caller's to
	 * free then). */
	while (ac->head != NULL) {
		struct ac_request *r = ac->head;
		ac->head = r->next;
		if (r->sink.done != NULL) {
			static const char going[] =
			    "{\"responses\":[{\"command\":\"Unknown command\","
			    "\"error\":\"Internal error\"}]}";
			r->sink.done(r->sink.arg, going, sizeof(going) - 1);
		}
		request_free(r);
	}
	ha_dynsec_free(ac->import);
	ha_dynsec_free(ac->standalone);
	free(ac);
	ha->ac = NULL;
}
