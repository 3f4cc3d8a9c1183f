/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* ha-loadgen: N publishers and M subscribers on libmosquitto, each client
 * on a thread of its own driving its socket with mosquitto_loop (no
 * library thread in between). Every subscriber subscribes to everything the
 * publishers send; each payload carries its send time on CLOCK_MONOTONIC,
 * which every process of the machine shares, so the receiver times it end
 * to end. Every run is bounded by its message count and its --seconds.
 * Prints one JSON object. With --sink it runs against a built-in minimal
 * broker instead: the generator's own ceiling. */
#include <mosquitto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench/loadgen/histogram.h"
#include "bench/loadgen/options.h"
#include "bench/loadgen/sink.h"

/* How long a client may take to connect and subscribe, and how long
 * subscribers wait for stragglers once every publisher is done. */
#define SETUP_TIMEOUT_NS (10 * 1000000000ULL)
#define IDLE_AFTER_PUBLISHERS_NS (2 * 1000000000ULL)

struct client {
	int index;
	bool publisher;
	const struct loadgen_options *opts;
	struct mosquitto *mosq;
	char id[96];
	char topic[96];
	/* Written by the client's own thread only. */
	long sent, acked;
	bool connected, subscribed, failed;
	uint64_t received, last_receive_ns;
	struct histogram latency;
	pthread_t thread;
};

static pthread_barrier_t ready_barrier;
static atomic_bool abort_run;
static atomic_bool publishers_done;
static atomic_uint_fast64_t publishers_done_ns;
static uint64_t start_ns, deadline_ns;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
	(void)mosq;
	struct client *c = obj;
	if (rc != 0) {
		fprintf(stderr, "loadgen: %s: CONNACK %d\n", c->id, rc);
		c->failed = true;
		return;
	}
	c->connected = true;
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int n,
			 const int *granted)
{
	(void)mosq;
	(void)mid;
	struct client *c = obj;
	if (n < 1 || granted[0] > 2) {
		fprintf(stderr, "loadgen: %s: subscription refused\n", c->id);
		c->failed = true;
		return;
	}
	c->subscribed = true;
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid)
{
	(void)mosq;
	(void)mid;
	struct client *c = obj;
	c->acked++;
}

static void on_message(struct mosquitto *mosq, void *obj,
		       const struct mosquitto_message *msg)
{
	(void)mosq;
	struct client *c = obj;
	uint64_t now = now_ns();
	if (msg->payloadlen < LOADGEN_HEADER_BYTES)
		return;
	uint64_t sent_ns;
	memcpy(&sent_ns, msg->payload, sizeof(sent_ns));
	histogram_add(&c->latency, now >= sent_ns ? now - sent_ns : 0);
	c->received++;
	c->last_receive_ns = now;
}

/* Runs the client's loop until done() or the time limit; false on a lost
 * connection or a failure the callbacks saw. */
static bool pump_until(struct client *c, bool (*done)(const struct client *),
		       uint64_t limit_ns)
{
	while (!done(c)) {
		if (c->failed || atomic_load(&abort_run) ||
		    now_ns() >= limit_ns)
			return false;
		int rc = mosquitto_loop(c->mosq, 20, 1);
		if (rc != MOSQ_ERR_SUCCESS) {
			fprintf(stderr, "loadgen: %s: %s\n", c->id,
				mosquitto_strerror(rc));
			c->failed = true;
			return false;
		}
	}
	return true;
}

static bool is_connected(const struct client *c)
{
	return c->connected;
}
static bool is_subscribed(const struct client *c)
{
	return c->subscribed;
}

static bool set_up(struct client *c)
{
	const struct loadgen_options *o = c->opts;
	bool clean = !(o->persistent && !c->publisher);
	c->mosq = mosquitto_new(c->id, clean, c);
	if (c->mosq == NULL) {
		fprintf(stderr, "loadgen: %s: mosquitto_new failed\n", c->id);
		return false;
	}
	mosquitto_connect_callback_set(c->mosq, on_connect);
	mosquitto_subscribe_callback_set(c->mosq, on_subscribe);
	mosquitto_publish_callback_set(c->mosq, on_publish);
	mosquitto_message_callback_set(c->mosq, on_message);
	mosquitto_int_option(c->mosq, MOSQ_OPT_TCP_NODELAY, 1);
	/* The window alone limits what is in flight: libmosquitto must never
	 * hold a QoS 1 message back in a queue of its own. */
	mosquitto_max_inflight_messages_set(c->mosq, (unsigned)o->window);
	if (o->username != NULL &&
	    mosquitto_username_pw_set(c->mosq, o->username, o->password) != 0)
		return false;
	int rc = mosquitto_connect(c->mosq, o->host, o->port, 60);
	if (rc != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "loadgen: %s: connect %s:%d: %s\n", c->id,
			o->host, o->port, mosquitto_strerror(rc));
		return false;
	}
	uint64_t limit = now_ns() + SETUP_TIMEOUT_NS;
	if (!pump_until(c, is_connected, limit))
		return false;
	if (c->publisher)
		return true;
	char filter[128];
	snprintf(filter, sizeof(filter), "%s/#", o->topic_prefix);
	if (mosquitto_subscribe(c->mosq, NULL, filter, o->qos) != 0)
		return false;
	return pump_until(c, is_subscribed, limit);
}

static bool publisher_finished(const struct client *c)
{
	return c->sent == c->opts->count && c->acked >= c->sent;
}

static int publish_one(struct client *c, uint8_t *payload)
{
	const struct loadgen_options *o = c->opts;
	uint64_t t = now_ns();
	uint64_t seq = (uint64_t)c->sent;
	memcpy(payload, &t, sizeof(t));
	memcpy(payload + 8, &seq, sizeof(seq));
	char topic[160];
	const char *to = c->topic;
	if (o->topics > 1) {
		snprintf(topic, sizeof(topic), "%s/%ld", c->topic,
			 (long)(seq % (uint64_t)o->topics));
		to = topic;
	}
	int rc = mosquitto_publish(c->mosq, NULL, to, (int)o->payload, payload,
				   o->qos, o->retain);
	if (rc != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "loadgen: %s: publish: %s\n", c->id,
			mosquitto_strerror(rc));
		return -1;
	}
	c->sent++;
	return 0;
}

static void run_publisher(struct client *c)
{
	const struct loadgen_options *o = c->opts;
	uint8_t *payload = calloc(1, o->payload);
	if (payload == NULL) {
		c->failed = true;
		return;
	}
	memset(payload + LOADGEN_HEADER_BYTES, 'x',
	       o->payload - LOADGEN_HEADER_BYTES);
	while (!publisher_finished(c)) {
		uint64_t now = now_ns();
		if (c->failed || atomic_load(&abort_run) || now >= deadline_ns)
			break;
		int wait_ms = 20;
		while (c->sent < o->count && c->sent - c->acked < o->window) {
			if (o->rate > 0) {
				uint64_t due =
				    start_ns +
				    (uint64_t)((double)c->sent * 1e9 / o->rate);
				if (due > now) {
					/* Rounded up: a wait of 0 ms would
					 * spin on a core the brokers under
					 * test need (the send time stamped in
					 * the payload stays exact). */
					wait_ms =
					    (int)((due - now + 999999ULL) /
						  1000000ULL);
					break;
				}
			}
			if (publish_one(c, payload) != 0) {
				c->failed = true;
				break;
			}
		}
		int rc = mosquitto_loop(c->mosq, wait_ms, 1);
		if (rc != MOSQ_ERR_SUCCESS) {
			fprintf(stderr, "loadgen: %s: %s\n", c->id,
				mosquitto_strerror(rc));
			c->failed = true;
		}
	}
	free(payload);
}

static void run_subscriber(struct client *c)
{
	uint64_t expected =
	    (uint64_t)c->opts->publishers * (uint64_t)c->opts->count;
	uint64_t last_activity = now_ns();
	uint64_t seen = 0;
	while (c->received < expected && !c->failed &&
	       !atomic_load(&abort_run)) {
		uint64_t now = now_ns();
		if (now >= deadline_ns)
			break;
		if (c->received != seen) {
			seen = c->received;
			last_activity = now;
		}
		if (atomic_load(&publishers_done) &&
		    now - last_activity > IDLE_AFTER_PUBLISHERS_NS &&
		    now - atomic_load(&publishers_done_ns) >
			IDLE_AFTER_PUBLISHERS_NS)
			break;
		int rc = mosquitto_loop(c->mosq, 20, 64);
		if (rc != MOSQ_ERR_SUCCESS) {
			fprintf(stderr, "loadgen: %s: %s\n", c->id,
				mosquitto_strerror(rc));
			c->failed = true;
		}
	}
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	if (!set_up(c)) {
		c->failed = true;
		atomic_store(&abort_run, true);
	}
	pthread_barrier_wait(&ready_barrier);
	/* The main thread sets the start time and deadline, then waits here
	 * too: after this second barrier they are set. */
	pthread_barrier_wait(&ready_barrier);
	if (!c->failed && !atomic_load(&abort_run)) {
		if (c->publisher)
			run_publisher(c);
		else
			run_subscriber(c);
	}
	if (c->mosq != NULL) {
		mosquitto_disconnect(c->mosq);
		mosquitto_loop(c->mosq, 10, 1);
		mosquitto_destroy(c->mosq);
		c->mosq = NULL;
	}
	return NULL;
}

struct totals {
	long sent, acked;
	uint64_t received, last_receive_ns;
	int failed_clients;
	struct histogram latency;
};

static void report(const struct loadgen_options *o,
		   const struct client *clients, int n, uint64_t pub_end_ns)
{
	static struct totals t;
	for (int i = 0; i < n; i++) {
		const struct client *c = &clients[i];
		t.sent += c->sent;
		t.acked += c->acked;
		t.received += c->received;
		t.failed_clients += c->failed ? 1 : 0;
		if (c->last_receive_ns > t.last_receive_ns)
			t.last_receive_ns = c->last_receive_ns;
		histogram_merge(&t.latency, &c->latency);
	}
	long total = o->count * (long)o->publishers;
	uint64_t expected = (uint64_t)total * (uint64_t)o->subscribers;
	double pub_s = (double)(pub_end_ns - start_ns) / 1e9;
	double recv_s = t.last_receive_ns > start_ns
			    ? (double)(t.last_receive_ns - start_ns) / 1e9
			    : 0;
	double pub_rate = pub_s > 0 ? (double)t.acked / pub_s : 0;
	double recv_rate = recv_s > 0 ? (double)t.received / recv_s : 0;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu =
	    (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	bool complete =
	    t.failed_clients == 0 && t.acked == total && t.received == expected;
	printf("{\"publishers\": %d, \"subscribers\": %d, \"qos\": %d, "
	       "\"retain\": %s, "
	       "\"persistent\": %s, \"payload\": %zu, \"count\": %ld, "
	       "\"sink\": %s, "
	       "\"sent\": %ld, \"acked\": %ld, \"received\": %llu, "
	       "\"expected_received\": %llu, "
	       "\"complete\": %s, \"failed_clients\": %d, \"publish_seconds\": "
	       "%.6f, "
	       "\"receive_seconds\": %.6f, "
	       "\"publish_msgs_per_s\": %.1f, \"publish_mb_per_s\": %.3f, "
	       "\"delivered_msgs_per_s\": %.1f, \"delivered_mb_per_s\": %.3f, "
	       "\"latency_p50_us\": %.1f, \"latency_p99_us\": %.1f, "
	       "\"latency_max_us\": %.1f, "
	       "\"cpu_seconds\": %.3f}\n",
	       o->publishers, o->subscribers, o->qos,
	       o->retain ? "true" : "false", o->persistent ? "true" : "false",
	       o->payload, o->count, o->sink ? "true" : "false", t.sent,
	       t.acked, (unsigned long long)t.received,
	       (unsigned long long)expected, complete ? "true" : "false",
	       t.failed_clients, pub_s, recv_s, pub_rate,
	       pub_rate * (double)o->payload / 1e6, recv_rate,
	       recv_rate * (double)o->payload / 1e6,
	       (double)histogram_percentile(&t.latency, 50) / 1e3,
	       (double)histogram_percentile(&t.latency, 99) / 1e3,
	       (double)histogram_percentile(&t.latency, 100) / 1e3, cpu);
}

static int start_clients(struct loadgen_options *o, struct client *clients,
			 int n)
{
	for (int i = 0; i < n; i++) {
		struct client *c = &clients[i];
		c->opts = o;
		c->publisher = i < o->publishers;
		c->index = c->publisher ? i : i - o->publishers;
		snprintf(c->id, sizeof(c->id), "%s-%c%d", o->topic_prefix,
			 c->publisher ? 'p' : 's', c->index);
		snprintf(c->topic, sizeof(c->topic), "%s/p%d", o->topic_prefix,
			 c->index);
		if (pthread_create(&c->thread, NULL, client_main, c) != 0) {
			fprintf(stderr, "loadgen: cannot start a thread\n");
			/* The barrier counts every client: nobody may wait
			 * forever. */
			exit(1);
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct loadgen_options opts;
	char err[256];
	int rc = loadgen_options_parse(&opts, argc, argv, err, sizeof(err));
	if (rc != 0) {
		if (rc == -1)
			fprintf(stderr, "loadgen: %s\n", err);
		loadgen_options_usage(argv[0]);
		return rc == -2 ? 0 : 2;
	}
	if (opts.sink) {
		int port = sink_start();
		if (port < 0)
			return 1;
		opts.host = "127.0.0.1";
		opts.port = port;
	}
	mosquitto_lib_init();
	int n = opts.publishers + opts.subscribers;
	struct client *clients = calloc((size_t)n, sizeof(*clients));
	if (clients == NULL ||
	    pthread_barrier_init(&ready_barrier, NULL, (unsigned)n + 1) != 0) {
		fprintf(stderr, "loadgen: out of memory\n");
		return 1;
	}
	start_clients(&opts, clients, n);
	pthread_barrier_wait(&ready_barrier);
	start_ns = now_ns();
	deadline_ns = start_ns + (uint64_t)(opts.seconds * 1e9);
	pthread_barrier_wait(&ready_barrier);
	for (int i = 0; i < opts.publishers; i++)
		pthread_join(clients[i].thread, NULL);
	uint64_t pub_end = now_ns();
	atomic_store(&publishers_done_ns, pub_end);
	atomic_store(&publishers_done, true);
	for (int i = opts.publishers; i < n; i++)
		pthread_join(clients[i].thread, NULL);
	bool failed = atomic_load(&abort_run);
	report(&opts, clients, n, pub_end);
	free(clients);
	mosquitto_lib_cleanup();
	return failed ? 1 : 0;
}
