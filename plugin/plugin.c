/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The broker plugin's entry points and broker callbacks: who may connect,
 * publish and subscribe (only the leader serves, inside its lease), the
 * control API, and the TICK that drains the raft thread's hand-off. */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Entry points must be visible; everything else stays hidden. On 2.0 the
 * broker and plugin headers come separately (and in this order); on 2.1
 * <mosquitto.h> brings them and the old names are stubs. */
#pragma GCC visibility push(default)
#include <mosquitto.h>
#if LIBMOSQUITTO_MAJOR == 2 && LIBMOSQUITTO_MINOR == 0
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#define HA_TICK_NEXT(ed) ((ed)->next_ns)
#else
#define HA_TICK_NEXT(ed) ((ed)->next_ms)
#endif
#pragma GCC visibility pop

#include "plugin/broker_config.h"
#include "plugin/ha.h"
#include "plugin/shutdown.h"

/* Event ids and data that 2.1 added; the plugin is built against 2.0's
 * headers and probes for them at run time. */
#define HA_EVT_CONNECT 11
struct ha_evt_connect {
	void *future;
	struct mosquitto *client;
	void *future2[4];
};

/* The real-time signal that wakes the broker thread (2.1 itself uses
 * SIGRTMIN for log rotation). */
#define HA_WAKE_SIGNAL_OFFSET 7
#define REFUSAL_LOG_INTERVAL_MS 10000

static struct ha_plugin *instance;

static void kick_one(const char *id)
{
	/* Without its will: the session lives on with the next leader. */
	mosquitto_kick_client_by_clientid(id, false);
}

void ha_kick_clients(struct ha_plugin *ha)
{
	ha_clients_drain(&ha->clients, kick_one);
}

/* ---- who is who ---- */

static bool is_admin(struct ha_plugin *ha, struct mosquitto *client)
{
	if (client == NULL)
		return false;
	if (ha_options_is_admin(&ha->opt, mosquitto_client_username(client)))
		return true;
	if (ha->opt.admin_port != 0 && ha->client_port != NULL &&
	    ha->client_port(client) == ha->opt.admin_port)
		return true;
	return false;
}

static bool is_control_topic(const char *topic)
{
	return topic != NULL && (strcmp(topic, HA_CONTROL_TOPIC) == 0 ||
				 strcmp(topic, HA_CONTROL_RESPONSE_TOPIC) == 0);
}

static void note_refusal(struct ha_plugin *ha, struct mosquitto *client,
			 const char *what)
{
	int64_t now = ha_node_monotonic_ms();
	if (now - ha->refusal_log_at < REFUSAL_LOG_INTERVAL_MS) {
		ha->refusals_unlogged++;
		return;
	}
	const char *id = client ? mosquitto_client_id(client) : NULL;
	ha_log(MOSQ_LOG_NOTICE,
	       "refused %s of client '%s': this node is not the serving leader "
	       "(leader is node %u)%s",
	       what, id ? id : "?", ha->leader,
	       ha->refusals_unlogged ? "; more refusals since the last line"
				     : "");
	ha->refusal_log_at = now;
	ha->refusals_unlogged = 0;
}

/* ---- callbacks ---- */

/* Remembers an ordinary client's connection, to disconnect it when this
 * node stops serving. */
static int track(struct ha_plugin *ha, struct mosquitto *client)
{
	/* Already known with this id: nothing is allocated. */
	const char *id = mosquitto_client_id(client);
	if (ha_clients_track(&ha->clients, client, id) != 0) {
		ha_log_error("out of memory remembering client '%s'",
			     id ? id : "?");
		return MOSQ_ERR_NOMEM;
	}
	return MOSQ_ERR_SUCCESS;
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
	struct ha_plugin *ha = userdata;
	struct mosquitto_evt_basic_auth *ed = event_data;
	(void)event;
	/* Administrators reach the control API on every node; their password
	 * is checked by the access-control data when it knows them, else by
	 * the broker's own authentication, which follows. */
	if (ha_options_is_admin(&ha->opt, ed->username) ||
	    (ha->opt.admin_port != 0 && ha->client_port != NULL &&
	     ha->client_port(ed->client) == ha->opt.admin_port))
		return ha_ac_basic_auth(ha, ed->username, ed->password,
					mosquitto_client_id(ed->client));
	if (ha_admits_clients(ha)) {
		/* Remembered now, before the password check: a connection
		 * that is refused is forgotten at its DISCONNECT. */
		if (track(ha, ed->client) != MOSQ_ERR_SUCCESS)
			return MOSQ_ERR_NOMEM;
		return ha_ac_basic_auth(ha, ed->username, ed->password,
					mosquitto_client_id(ed->client));
	}
	note_refusal(ha, ed->client, "the connection");
	return MOSQ_ERR_AUTH;
}

static int acl_fallback(struct ha_plugin *ha)
{
	return ha->opt.acl_fallback_allow ? MOSQ_ERR_SUCCESS
					  : MOSQ_ERR_PLUGIN_DEFER;
}

/* What an ordinary client's request gets on a node that does not serve.
 * A denial is not enough: 2.0 still acknowledges a denied QoS 1 or 2
 * publish from a v3.1.1 client, which would then believe a dropped message
 * taken. Any other error makes both brokers close the connection without
 * an acknowledgement, and the client resends to the new leader. Deliveries
 * (READ) are only denied: an error there would fail the publisher. */
static int refuse_ordinary(struct ha_plugin *ha, struct mosquitto *client,
			   int access, const char *what)
{
	note_refusal(ha, client, what);
	return access == MOSQ_ACL_READ ? MOSQ_ERR_ACL_DENIED : MOSQ_ERR_AUTH;
}

/* Writing requests, reading (and subscribing to) replies. */
static bool control_access(const char *topic, const char *request_topic,
			   int access)
{
	if (strcmp(topic, request_topic) == 0)
		return access == MOSQ_ACL_WRITE;
	return access == MOSQ_ACL_READ || access == MOSQ_ACL_SUBSCRIBE ||
	       access == MOSQ_ACL_UNSUBSCRIBE;
}

static bool is_dynsec_control_topic(const char *topic)
{
	return topic != NULL && (strcmp(topic, HA_DYNSEC_CONTROL_TOPIC) == 0 ||
				 strcmp(topic, HA_DYNSEC_RESPONSE_TOPIC) == 0);
}

/* With access control served here, its data decides (what it does not
 * decide is denied, as with the stock plugin alone); else the fallback. */
static int acl_decide(struct ha_plugin *ha,
		      const struct mosquitto_evt_acl_check *ed)
{
	if (ha->ac == NULL)
		return acl_fallback(ha);
	return ha_ac_acl_check(ha, ed->access,
			       mosquitto_client_username(ed->client),
			       mosquitto_client_id(ed->client), ed->topic);
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
	struct ha_plugin *ha = userdata;
	struct mosquitto_evt_acl_check *ed = event_data;
	(void)event;
	bool admin = is_admin(ha, ed->client);
	/* The control API belongs to administrators, whatever other ACLs say:
	 * an ordinary client can never send deleteCluster. */
	if (is_control_topic(ed->topic)) {
		if (admin &&
		    control_access(ed->topic, HA_CONTROL_TOPIC, ed->access))
			return MOSQ_ERR_SUCCESS;
		return MOSQ_ERR_ACL_DENIED;
	}
	/* Administrators manage access control on every node too. */
	if (admin && ha->ac != NULL && is_dynsec_control_topic(ed->topic) &&
	    control_access(ed->topic, HA_DYNSEC_CONTROL_TOPIC, ed->access))
		return MOSQ_ERR_SUCCESS;
	if (admin)
		return acl_decide(ha, ed);
	if (ha_admits_clients(ha)) {
		/* On 2.0 a client that bypassed BASIC_AUTH (a certificate's
		 * identity, enhanced authentication) is first seen here. */
		if (track(ha, ed->client) != MOSQ_ERR_SUCCESS)
			return MOSQ_ERR_NOMEM;
		return acl_decide(ha, ed);
	}
	return refuse_ordinary(ha, ed->client, ed->access, "an access");
}

static bool is_retained_replicated(const struct mosquitto_evt_message *ed)
{
	return ed->retain && ed->topic != NULL && ed->topic[0] != '$';
}

static int on_message(int event, void *event_data, void *userdata)
{
	struct ha_plugin *ha = userdata;
	struct mosquitto_evt_message *ed = event_data;
	(void)event;
	if (ha_admits_clients(ha)) /* standalone brokers serve too */
		return MOSQ_ERR_SUCCESS;
	/* Nothing changes state on a node that does not serve: not even an
	 * administrator's retained message, which would be this broker's
	 * alone, outside the log. */
	if (is_admin(ha, ed->client)) {
		if (!is_retained_replicated(ed))
			return MOSQ_ERR_SUCCESS;
		note_refusal(ha, ed->client, "a retained publish");
		return MOSQ_ERR_ACL_DENIED;
	}
	return refuse_ordinary(ha, ed->client, MOSQ_ACL_WRITE, "a publish");
}

/* Registered at the first TICK, after every plugin's init, so that it runs
 * after the other plugins' MESSAGE callbacks and sees what the broker will
 * store. A member serves no one before its first TICK. */
static int on_message_capture(int event, void *event_data, void *userdata)
{
	struct ha_plugin *ha = userdata;
	struct mosquitto_evt_message *ed = event_data;
	(void)event;
	if (ha->state != HA_MEMBER || !is_retained_replicated(ed) ||
	    ha_cluster_dynsec(ha)) /* retained messages stay per node */
		return MOSQ_ERR_SUCCESS;
	if (!ha_serving(ha))
		return MOSQ_ERR_ACL_DENIED; /* on_message answered already */
	if (!ha_retained_replicable(ha))
		return MOSQ_ERR_SUCCESS;
	return ha_retained_capture(ha, ed->client, ed->topic, ed->payload,
				   ed->payloadlen, ed->qos, ed->properties);
}

static int on_connect(int event, void *event_data, void *userdata)
{
	struct ha_plugin *ha = userdata;
	struct ha_evt_connect *ed = event_data;
	(void)event;
	/* 2.1: every accepted connection passes here, also those that
	 * bypassed BASIC_AUTH (enhanced authentication, the identity of a
	 * certificate). */
	if (is_admin(ha, ed->client))
		return MOSQ_ERR_SUCCESS;
	if (ha_admits_clients(ha)) {
		track(ha, ed->client);
		return MOSQ_ERR_SUCCESS;
	}
	note_refusal(ha, ed->client, "the connection");
	const char *id = mosquitto_client_id(ed->client);
	if (id != NULL)
		mosquitto_kick_client_by_clientid(id, false);
	return MOSQ_ERR_SUCCESS;
}

static int on_disconnect(int event, void *event_data, void *userdata)
{
	struct ha_plugin *ha = userdata;
	struct mosquitto_evt_disconnect *ed = event_data;
	(void)event;
	ha_clients_forget(&ha->clients, ed->client);
	return MOSQ_ERR_SUCCESS;
}

static int on_control(int event, void *event_data, void *userdata)
{
	struct ha_plugin *ha = userdata;
	struct mosquitto_evt_control *ed = event_data;
	(void)event;
	if (!is_admin(ha, ed->client)) {
		const char *id = mosquitto_client_id(ed->client);
		ha_log(MOSQ_LOG_WARNING,
		       "control request from non-administrator "
		       "client '%s' ignored",
		       id ? id : "?");
		/* Always success: an error would disconnect the requester. */
		return MOSQ_ERR_SUCCESS;
	}
	ha_control_handle(ha, ed->payload, ed->payloadlen);
	return MOSQ_ERR_SUCCESS;
}

/* $CONTROL/dynamic-security/v1: whoever the ACL check let publish there
 * (an administrator, or a client whose roles allow it). */
static int on_dynsec_control(int event, void *event_data, void *userdata)
{
	struct ha_plugin *ha = userdata;
	struct mosquitto_evt_control *ed = event_data;
	(void)event;
	struct ha_dynsec_reply_sink publish = {NULL, NULL};
	ha_dynsec_ctrl_submit(ha, ed->payload, ed->payloadlen, publish);
	/* Always success: an error would disconnect the requester. */
	return MOSQ_ERR_SUCCESS;
}

static int on_tick(int event, void *event_data, void *userdata)
{
	struct ha_plugin *ha = userdata;
	struct mosquitto_evt_tick *ed = event_data;
	(void)event;
	ha_wake_taken(&ha->wake); /* before taking what woke it */
	/* Once; the broker's own handlers are in by now. */
	if (!ha_shutdown_signals_install())
		ha_log_warning(
		    "cannot watch SIGTERM and SIGINT: a leader hands "
		    "over only at the end of the broker's shutdown");
	ha_log_flush(ha);
	ha_cluster_drain(ha);
	ha_pending_expire(ha, ha_node_monotonic_ms());
	ha_cluster_level_tick(ha);
	ha_ac_tick(ha);
	if (!ha->capture_registered) {
		int rv = mosquitto_callback_register(
		    ha->identifier, MOSQ_EVT_MESSAGE, on_message_capture, NULL,
		    ha);
		if (rv != MOSQ_ERR_SUCCESS)
			ha_log_error("cannot register for retained publishes: "
				     "%s; they are not replicated",
				     mosquitto_strerror(rv));
		ha->capture_registered = true;
	}
	/* 2.1: capture where the broker stores, once a member (a broker that
	 * never joined keeps its own persistence). */
	if (ha->state == HA_MEMBER && ha->broker_21 && !ha->persist_tried &&
	    !ha_cluster_dynsec(ha)) {
		ha->persist_tried = true;
		ha_persist_start(ha);
	}
	ha_retained_strays(ha);
	bool serving = ha_admits_clients(ha);
	if (ha->was_serving && !serving && ha->state == HA_MEMBER) {
		ha_log_info(
		    "this node stopped serving: disconnecting %zu clients",
		    ha->clients.n);
		ha_kick_clients(ha);
		ha_retained_stepped_down(ha);
	}
	ha->was_serving = serving;
	/* 2.1 sleeps until the earliest callback is due; ask to run on every
	 * loop pass so that a wake is never skipped (same field as 2.0's
	 * unused next_ns). */
	HA_TICK_NEXT(ed) = 0;
	return MOSQ_ERR_SUCCESS;
}

/* ---- checks at start ---- */

static int check_data_dir(const char *dir, char *err, size_t errlen)
{
	struct stat st;
	if (stat(dir, &st) != 0) {
		snprintf(err, errlen, "plugin_opt_data_dir %s: %s", dir,
			 strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "plugin_opt_data_dir %s is not a folder",
			 dir);
		return -1;
	}
	if (access(dir, W_OK | X_OK) != 0) {
		snprintf(
		    err, errlen,
		    "plugin_opt_data_dir %s is not writable by this user (%s)",
		    dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- entry points ---- */

int mosquitto_plugin_version(int supported_version_count,
			     const int *supported_versions)
{
	for (int i = 0; i < supported_version_count; i++)
		if (supported_versions[i] == 5)
			return 5;
	return -1;
}

/* Every callback the plugin registers, with its event data: the same
 * triple unregisters it (the broker frees what it keeps for each). */
static const struct {
	int event;
	MOSQ_FUNC_generic_callback cb;
	const char *data;
} registrations[] = {
    {MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL},
    {MOSQ_EVT_ACL_CHECK, on_acl_check, NULL},
    {MOSQ_EVT_MESSAGE, on_message, NULL},
    {MOSQ_EVT_CONTROL, on_control, HA_CONTROL_TOPIC},
    {MOSQ_EVT_TICK, on_tick, NULL},
    {MOSQ_EVT_DISCONNECT, on_disconnect, NULL},
};
#define N_REGISTRATIONS (sizeof(registrations) / sizeof(registrations[0]))

/* Unregisters the first n of registrations (and CONNECT when 2.1 took
 * it); 0 when the broker let go of every one. */
static int unregister_first(struct ha_plugin *ha, mosquitto_plugin_id_t *id,
			    size_t n)
{
	int failed = 0;
	for (size_t i = n; i-- > 0;) {
		int rv = mosquitto_callback_unregister(
		    id, registrations[i].event, registrations[i].cb,
		    registrations[i].data);
		if (rv != MOSQ_ERR_SUCCESS) {
			ha_log_error(
			    "cannot unregister from broker event %d: %s",
			    registrations[i].event, mosquitto_strerror(rv));
			failed = -1;
		}
	}
	if (ha->broker_21) {
		int rv = mosquitto_callback_unregister(id, HA_EVT_CONNECT,
						       on_connect, NULL);
		if (rv != MOSQ_ERR_SUCCESS) {
			ha_log_error(
			    "cannot unregister from broker event %d: %s",
			    HA_EVT_CONNECT, mosquitto_strerror(rv));
			failed = -1;
		}
		ha->broker_21 = false;
	}
	return failed;
}

static int unregister_all(struct ha_plugin *ha, mosquitto_plugin_id_t *id)
{
	int failed = 0;
	if (ha->ac_control_registered) {
		int rv = mosquitto_callback_unregister(id, MOSQ_EVT_CONTROL,
						       on_dynsec_control,
						       HA_DYNSEC_CONTROL_TOPIC);
		if (rv != MOSQ_ERR_SUCCESS) {
			ha_log_error("cannot unregister from %s: %s",
				     HA_DYNSEC_CONTROL_TOPIC,
				     mosquitto_strerror(rv));
			failed = -1;
		}
		ha->ac_control_registered = false;
	}
	if (unregister_first(ha, id, N_REGISTRATIONS) != 0)
		failed = -1;
	return failed;
}

/* plugin_opt_access_control dynsec: its data, and its control topic. */
static int access_control_start(struct ha_plugin *ha, mosquitto_plugin_id_t *id)
{
	if (!ha->opt.access_control)
		return 0;
	if (ha->broker_conf.stock_dynsec) {
		ha_log_error(
		    "plugin_opt_access_control dynsec serves "
		    "$CONTROL/dynamic-security/v1 itself, and this "
		    "broker's configuration also loads "
		    "mosquitto_dynamic_security.so: remove that "
		    "plugin line (import its file with "
		    "plugin_opt_dynsec_file instead); the broker stops");
		return -1;
	}
	char err[512];
	if (ha_ac_start(ha, err, sizeof(err)) != 0) {
		ha_log_error("%s; the broker stops", err);
		return -1;
	}
	int rv =
	    mosquitto_callback_register(id, MOSQ_EVT_CONTROL, on_dynsec_control,
					HA_DYNSEC_CONTROL_TOPIC, ha);
	if (rv != MOSQ_ERR_SUCCESS) {
		ha_log_error("cannot register for %s: %s; the broker stops",
			     HA_DYNSEC_CONTROL_TOPIC, mosquitto_strerror(rv));
		ha_ac_stop(ha);
		return -1;
	}
	ha->ac_control_registered = true;
	return 0;
}

/* All or nothing: on failure, what was registered is unregistered. */
static int register_all(struct ha_plugin *ha, mosquitto_plugin_id_t *id)
{
	for (size_t i = 0; i < N_REGISTRATIONS; i++) {
		int rv = mosquitto_callback_register(id, registrations[i].event,
						     registrations[i].cb,
						     registrations[i].data, ha);
		if (rv != MOSQ_ERR_SUCCESS) {
			ha_log_error("cannot register for broker event %d: %s",
				     registrations[i].event,
				     mosquitto_strerror(rv));
			unregister_first(ha, id, i);
			return rv;
		}
	}
	/* Present from 2.1 on: refused with NOT_SUPPORTED by 2.0. */
	int rv = mosquitto_callback_register(id, HA_EVT_CONNECT, on_connect,
					     NULL, ha);
	ha->broker_21 = rv == MOSQ_ERR_SUCCESS;
	return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
			  struct mosquitto_opt *opts, int opt_count)
{
	struct ha_broker_config broker_conf;
	ha_broker_config_of_process(&broker_conf);
	if (instance != NULL || broker_conf.per_listener_settings) {
		/* With per_listener_settings true the broker loads the plugin
		 * once per listener, and 2.0 delivers no TICK: one cluster node
		 * per broker cannot work there. */
		mosquitto_log_printf(
		    MOSQ_LOG_ERR,
		    HA_LOG_PREFIX "per_listener_settings true is not supported "
				  "(one cluster node per broker); the broker "
				  "stops");
		return MOSQ_ERR_NOT_SUPPORTED;
	}
	struct ha_plugin *ha = calloc(1, sizeof(*ha));
	struct ha_option_kv *kv =
	    calloc(opt_count > 0 ? (size_t)opt_count : 1, sizeof(*kv));
	if (ha == NULL || kv == NULL) {
		free(ha);
		free(kv);
		return MOSQ_ERR_NOMEM;
	}
	for (int i = 0; i < opt_count; i++) {
		kv[i].key = opts[i].key;
		kv[i].value = opts[i].value;
	}
	char err[512];
	int rv =
	    ha_options_parse(kv, (size_t)opt_count, &ha->opt, err, sizeof(err));
	free(kv);
	if (rv == 0 &&
	    check_data_dir(ha->opt.data_dir, err, sizeof(err)) != 0) {
		ha_options_free(&ha->opt);
		rv = -1;
	}
	if (rv != 0) {
		mosquitto_log_printf(MOSQ_LOG_ERR,
				     HA_LOG_PREFIX "%s; the broker stops", err);
		free(ha);
		return MOSQ_ERR_INVAL;
	}
	ha->identifier = identifier;
	ha->incarnation = ha_new_incarnation();
	ha_log_queue_init(&ha->log_queue);
	ha->client_port =
	    (int (*)(const void *))dlsym(RTLD_DEFAULT, "mosquitto_client_port");
	if (ha_wake_init(&ha->wake, SIGRTMIN + HA_WAKE_SIGNAL_OFFSET) != 0) {
		ha_log_error("cannot set up waking the broker thread");
		goto fail;
	}
	if (register_all(ha, identifier) != MOSQ_ERR_SUCCESS)
		goto fail;
	if (ha->opt.admin_port != 0 && ha->client_port == NULL) {
		ha_log_error(
		    "plugin_opt_admin_port needs mosquitto 2.1 or later; "
		    "the broker stops");
		goto fail_registered;
	}
	pthread_mutex_init(&ha->serve_lock, NULL);
	ha->broker_conf = broker_conf;
	if (access_control_start(ha, identifier) != 0)
		goto fail_registered;
	rv = ha_cluster_load(ha);
	if (rv < 0)
		goto fail_registered;
	const char *conflict = ha_broker_conflict(&ha->broker_conf);
	if (rv > 0 && conflict != NULL) {
		ha_log_error(
		    "this broker is a member of cluster '%s' and has "
		    "%s in its configuration: the cluster's log holds "
		    "its state, which the broker must not keep or drop "
		    "on its own; remove that line (or leave the "
		    "cluster first); the broker stops",
		    ha->cluster.clustername, conflict);
		goto fail_registered;
	}
	ha_cluster_publish_node(ha);
	if (rv > 0 && ha_cluster_start_node(ha, true) != 0) {
		/* A member that cannot run its node refuses clients rather
		 * than serving a second copy of the cluster's state. */
		ha_log_error(
		    "cluster '%s' configured but the node is not running: "
		    "clients are refused until leaveCluster",
		    ha->cluster.clustername);
	}
	if (ha->opt.health_listen != NULL &&
	    ha_health_start(ha->opt.health_listen, ha_serving_any_thread,
			    ha_admits_any_thread, ha, &ha->health, err,
			    sizeof(err)) != 0) {
		ha_log_error("%s; the broker stops", err);
		if (ha->node != NULL)
			ha_node_stop(ha->node, false, 0);
		goto fail_registered;
	}
	ha_log_info("loaded (mosquitto %s), %s%s",
		    ha->broker_21 ? "2.1+" : "2.0",
		    ha->state == HA_MEMBER ? "cluster member" : "standalone",
		    ha->ac != NULL ? ", serving access control" : "");
	instance = ha;
	*userdata = ha;
	return MOSQ_ERR_SUCCESS;
fail_registered:
	/* The broker keeps what it registered until told otherwise, and
	 * these callbacks must never run with the freed state. */
	unregister_all(ha, identifier);
	ha_ac_stop(ha);
fail:
	ha_log_flush(ha);
	ha_log_queue_destroy(&ha->log_queue);
	ha_wake_cleanup(&ha->wake);
	ha_options_free(&ha->opt);
	free(ha);
	return MOSQ_ERR_UNKNOWN;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *opts,
			     int opt_count)
{
	struct ha_plugin *ha = userdata;
	(void)opts;
	(void)opt_count;
	if (ha == NULL)
		return MOSQ_ERR_SUCCESS;
	/* No callback runs on the state freed below, and the broker frees
	 * what it holds for each registration (else it leaks at exit). */
	int rv = unregister_all(ha, ha->identifier) == 0 ? MOSQ_ERR_SUCCESS
							 : MOSQ_ERR_UNKNOWN;
	if (ha->capture_registered &&
	    mosquitto_callback_unregister(ha->identifier, MOSQ_EVT_MESSAGE,
					  on_message_capture,
					  NULL) != MOSQ_ERR_SUCCESS) {
		ha_log_error("cannot unregister from retained publishes");
		rv = MOSQ_ERR_UNKNOWN;
	}
	ha_persist_stop(ha);
	ha_state_restore_cancel(ha); /* its thread wakes this one */
	ha_serving_close(ha);
	ha_pending_fail_all(ha, HA_ERR_INTERNAL);
	ha_health_stop(ha->health);
	ha_shutdown_signals_restore();
	if (ha->node != NULL) {
		/* A leader hands over before the broker goes (if the signal
		 * that stops the broker did not start that already). */
		struct ha_node *node = ha->node;
		ha->node = NULL;
		ha_cluster_publish_node(ha);
		ha_node_stop(node, true, 2000);
	}
	ha_log_flush(ha);
	ha_log_queue_destroy(&ha->log_queue);
	instance = NULL;
	ha_wake_cleanup(&ha->wake);
	ha_options_free(&ha->opt);
	ha_clients_free(&ha->clients);
	ha_ac_stop(ha);
	ha_retained_free(ha);
	ha_cluster_free_state();
	free(ha);
	return rv;
}
