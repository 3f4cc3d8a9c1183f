/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Administrator connections to brokers, several at once, driven from the
 * calling thread: poll() on every socket, then libmosquitto's own loop step
 * for each, so that no network thread and no reconnect delay sits between
 * a request and its deadline.
 *
 * Replies go to every administrator subscribed to the response topic, so
 * each command of a request carries a correlationData unique to this
 * process and this request, and a reply counts only when every response in
 * it carries the one of its command.
 */
#include "ctrl/ctrl.h"

#include <errno.h>
#include <mosquitto.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define REQUEST_TOPIC "$CONTROL/cedalo/ha/v1"
#define RESPONSE_TOPIC "$CONTROL/cedalo/ha/v1/response"
#define CORR_MAX 64
#define MAX_COMMANDS 64 /* the API's limit on one request */
#define POLL_MS 10

struct ctrl_session {
	struct mosquitto *mosq;
	const char *request_topic, *response_topic;
	struct ctrl_endpoint ep;
	int protocol;
	enum ctrl_session_state state;
	enum ctrl_failure failure;
	char error[256];
	char corr[MAX_COMMANDS][CORR_MAX];
	size_t corr_count;
	json_t *reply;
};

/* A prefix unique to this run (process id and random bits), then a count:
 * two programs at once never share a correlationData. */
static char corr_prefix[48];
static unsigned long corr_counter;
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void init_once(void)
{
	static bool done;
	unsigned char rnd[6] = {0};
	struct sigaction sa;

	if (done)
		return;
	done = true;
	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
		/* Without random bits the process id and time still tell
		 * programs apart. */
		unsigned long t = (unsigned long)time(NULL);
		memcpy(rnd, &t, sizeof rnd < sizeof t ? sizeof rnd : sizeof t);
	}
	snprintf(corr_prefix, sizeof corr_prefix,
		 "ha-ctrl-%ld-%02x%02x%02x%02x%02x%02x", (long)getpid(), rnd[0],
		 rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
	mosquitto_lib_init();
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* A broker that closes the socket must not kill the program. */
	signal(SIGPIPE, SIG_IGN);
}

bool ctrl_interrupted(void)
{
	return interrupted != 0;
}

double ctrl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(struct ctrl_session *s, enum ctrl_failure f, const char *why)
{
	if (s->state == CTRL_S_FAILED)
		return; /* the first reason is the one that counts */
	s->state = CTRL_S_FAILED;
	s->failure = f;
	snprintf(s->error, sizeof s->error, "%s", why);
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
	struct ctrl_session *s = obj;
	char why[200];
	int mid;

	if (rc != 0) {
		snprintf(why, sizeof why, "connection refused: %s",
			 s->protocol == MQTT_PROTOCOL_V5
			     ? mosquitto_reason_string(rc)
			     : mosquitto_connack_string(rc));
		fail(s, CTRL_FAIL_AUTH, why);
		return;
	}
	if (mosquitto_subscribe(mosq, &mid, s->response_topic, 1) !=
	    MOSQ_ERR_SUCCESS) {
		fail(s, CTRL_FAIL_CONNECT, "cannot subscribe");
		return;
	}
	s->state = CTRL_S_SUBSCRIBING;
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid,
			 int qos_count, const int *granted)
{
	struct ctrl_session *s = obj;

	(void)mosq;
	(void)mid;
	if (s->state != CTRL_S_SUBSCRIBING)
		return;
	if (qos_count < 1 || granted[0] < 0 || granted[0] > 2) {
		fail(s, CTRL_FAIL_AUTH,
		     "not authorised to subscribe to the response topic "
		     "(not an administrator)");
		return;
	}
	s->state = CTRL_S_READY;
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
	struct ctrl_session *s = obj;
	char why[200];

	(void)mosq;
	snprintf(why, sizeof why, "connection lost: %s",
		 mosquitto_strerror(rc));
	fail(s, CTRL_FAIL_CONNECT, why);
}

/* True when reply is the answer to s's request: one response per command,
 * each with its command's correlationData. */
static bool is_mine(const struct ctrl_session *s, json_t *reply)
{
	json_t *responses = json_object_get(reply, "responses");
	size_t i;

	if (!json_is_array(responses) ||
	    json_array_size(responses) != s->corr_count)
		return false;
	for (i = 0; i < s->corr_count; i++) {
		json_t *corr = json_object_get(json_array_get(responses, i),
					       "correlationData");
		if (!json_is_string(corr) ||
		    strcmp(json_string_value(corr), s->corr[i]) != 0)
			return false;
	}
	return true;
}

static void on_message(struct mosquitto *mosq, void *obj,
		       const struct mosquitto_message *msg)
{
	struct ctrl_session *s = obj;
	json_t *reply;

	(void)mosq;
	if (s->state != CTRL_S_WAITING || strcmp(msg->topic, s->response_topic))
		return;
	reply = json_loadb(msg->payload, (size_t)msg->payloadlen, 0, NULL);
	if (reply == NULL)
		return; /* not JSON: someone else's business */
	if (!is_mine(s, reply)) {
		json_decref(reply);
		return;
	}
	json_decref(s->reply);
	s->reply = json_incref(json_object_get(reply, "responses"));
	json_decref(reply);
	s->state = CTRL_S_READY;
}

static int configure(struct ctrl_session *s, const struct ctrl_conn_opts *c)
{
	struct mosquitto *m = s->mosq;

	if (mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, c->protocol))
		return -1;
	if (c->username &&
	    mosquitto_username_pw_set(m, c->username, c->password))
		return -1;
	if (c->cafile || c->capath) {
		if (mosquitto_tls_set(m, c->cafile, c->capath, c->cert, c->key,
				      NULL) != MOSQ_ERR_SUCCESS)
			return -1;
		if (mosquitto_tls_opts_set(m, 1, c->tls_version, NULL) !=
		    MOSQ_ERR_SUCCESS)
			return -1;
		if (c->insecure && mosquitto_tls_insecure_set(m, true))
			return -1;
	}
	mosquitto_connect_callback_set(m, on_connect);
	mosquitto_subscribe_callback_set(m, on_subscribe);
	mosquitto_disconnect_callback_set(m, on_disconnect);
	mosquitto_message_callback_set(m, on_message);
	return 0;
}

struct ctrl_session *ctrl_session_open(const struct ctrl_conn_opts *conn,
				       const struct ctrl_endpoint *ep)
{
	return ctrl_session_open_on(conn, ep, REQUEST_TOPIC, RESPONSE_TOPIC);
}

struct ctrl_session *ctrl_session_open_on(const struct ctrl_conn_opts *conn,
					  const struct ctrl_endpoint *ep,
					  const char *request_topic,
					  const char *response_topic)
{
	static unsigned long sessions_opened;
	struct ctrl_session *s;
	char cid[64];
	const char *id = conn->client_id;
	int rc;

	init_once();
	s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	s->ep = *ep;
	s->request_topic = request_topic;
	s->response_topic = response_topic;
	s->protocol = conn->protocol;
	s->state = CTRL_S_CONNECTING;
	if (id == NULL) {
		snprintf(cid, sizeof cid, "mosquitto_ha_ctrl-%ld-%lu",
			 (long)getpid(), ++sessions_opened);
		id = cid;
	}
	s->mosq = mosquitto_new(id, true, s);
	if (s->mosq == NULL) {
		free(s);
		return NULL;
	}
	if (configure(s, conn) != 0) {
		fail(s, CTRL_FAIL_CONNECT,
		     "the connection options were refused by libmosquitto "
		     "(a TLS file that cannot be read?)");
		return s;
	}
	errno = 0;
	rc = mosquitto_connect_async(s->mosq, ep->host, (int)ep->port, 30);
	if (rc != MOSQ_ERR_SUCCESS) {
		char why[200];
		snprintf(why, sizeof why, "%s",
			 rc == MOSQ_ERR_ERRNO && errno
			     ? strerror(errno)
			     : mosquitto_strerror(rc));
		fail(s, CTRL_FAIL_CONNECT, why);
	}
	return s;
}

void ctrl_session_close(struct ctrl_session *s)
{
	if (s == NULL)
		return;
	if (s->state != CTRL_S_FAILED && s->state != CTRL_S_CONNECTING) {
		/* A clean DISCONNECT, so that the broker logs no error. */
		mosquitto_disconnect_callback_set(s->mosq, NULL);
		mosquitto_disconnect(s->mosq);
		mosquitto_loop(s->mosq, 0, 1);
	}
	mosquitto_destroy(s->mosq);
	json_decref(s->reply);
	free(s);
}

enum ctrl_session_state ctrl_session_state(const struct ctrl_session *s)
{
	return s->state;
}

enum ctrl_failure ctrl_session_failure(const struct ctrl_session *s)
{
	return s->failure;
}

const char *ctrl_session_error(const struct ctrl_session *s)
{
	return s->error;
}

const struct ctrl_endpoint *ctrl_session_endpoint(const struct ctrl_session *s)
{
	return &s->ep;
}

int ctrl_session_send(struct ctrl_session *s, json_t *commands)
{
	json_t *request;
	char *payload;
	size_t i;
	int rc;

	if (s->state != CTRL_S_READY)
		return -1;
	if (json_array_size(commands) > MAX_COMMANDS) {
		fail(s, CTRL_FAIL_MEMORY, "too many commands in one request");
		return -1;
	}
	s->corr_count = json_array_size(commands);
	for (i = 0; i < s->corr_count; i++) {
		snprintf(s->corr[i], CORR_MAX, "%s-%lu", corr_prefix,
			 ++corr_counter);
		if (json_object_set_new(json_array_get(commands, i),
					"correlationData",
					json_string(s->corr[i]))) {
			fail(s, CTRL_FAIL_MEMORY, "out of memory");
			return -1;
		}
	}
	request = json_pack("{s:O}", "commands", commands);
	payload = request ? json_dumps(request, JSON_COMPACT) : NULL;
	json_decref(request);
	if (payload == NULL) {
		fail(s, CTRL_FAIL_MEMORY, "out of memory");
		return -1;
	}
	json_decref(s->reply);
	s->reply = NULL;
	rc = mosquitto_publish(s->mosq, NULL, s->request_topic,
			       (int)strlen(payload), payload, 1, false);
	free(payload);
	if (rc != MOSQ_ERR_SUCCESS) {
		fail(s, CTRL_FAIL_CONNECT, mosquitto_strerror(rc));
		return -1;
	}
	s->state = CTRL_S_WAITING;
	return 0;
}

json_t *ctrl_session_take_reply(struct ctrl_session *s)
{
	json_t *r = s->reply;

	s->reply = NULL;
	return r;
}

static bool busy(const struct ctrl_session *s)
{
	return s->state == CTRL_S_CONNECTING ||
	       s->state == CTRL_S_SUBSCRIBING || s->state == CTRL_S_WAITING;
}

static void step(struct ctrl_session *s)
{
	int rc = mosquitto_loop(s->mosq, 0, 1);

	if (rc != MOSQ_ERR_SUCCESS && busy(s)) {
		char why[200];
		snprintf(why, sizeof why, "%s",
			 rc == MOSQ_ERR_ERRNO && errno
			     ? strerror(errno)
			     : mosquitto_strerror(rc));
		fail(s, CTRL_FAIL_CONNECT, why);
	}
}

static void time_out(struct ctrl_session *s)
{
	static const char *const what[] = {
	    [CTRL_S_CONNECTING] = "no answer to the connection (CONNACK)",
	    [CTRL_S_SUBSCRIBING] = "no answer to the subscription (SUBACK)",
	    [CTRL_S_WAITING] = "no reply to the request",
	};

	fail(s, CTRL_FAIL_TIMEOUT, what[s->state]);
}

void ctrl_sessions_run(struct ctrl_session **sessions, size_t n,
		       double deadline)
{
	struct pollfd fds[CTRL_MAX_NODES];
	size_t i, k;

	for (;;) {
		double left = deadline - ctrl_now();
		int ms;

		for (k = 0, i = 0; i < n && k < CTRL_MAX_NODES; i++) {
			int fd = mosquitto_socket(sessions[i]->mosq);
			if (!busy(sessions[i]))
				continue;
			if (fd < 0) {
				fail(sessions[i], CTRL_FAIL_CONNECT,
				     "not connected");
				continue;
			}
			fds[k].fd = fd;
			fds[k].events = POLLIN;
			if (mosquitto_want_write(sessions[i]->mosq))
				fds[k].events |= POLLOUT;
			k++;
		}
		if (k == 0)
			return;
		if (left <= 0 || ctrl_interrupted()) {
			for (i = 0; i < n; i++)
				if (busy(sessions[i]))
					time_out(sessions[i]);
			return;
		}
		ms = left * 1000 < POLL_MS ? (int)(left * 1000) + 1 : POLL_MS;
		if (poll(fds, k, ms) < 0 && errno != EINTR)
			return;
		for (i = 0; i < n; i++)
			if (busy(sessions[i]))
				step(sessions[i]);
	}
}

int ctrl_failure_exit(enum ctrl_failure f)
{
	switch (f) {
	case CTRL_FAIL_TIMEOUT:
		return CTRL_EXIT_TIMEOUT;
	case CTRL_FAIL_CONNECT:
	case CTRL_FAIL_AUTH:
		return CTRL_EXIT_CONNECT;
	default:
		return CTRL_EXIT_REFUSED;
	}
}
