/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Shared helpers for the transport tests: nodes on one libuv loop that
 * record what they log and receive, and a loop runner with a deadline. */
#ifndef TESTS_TRANSPORT_HARNESS_H
#define TESTS_TRANSPORT_HARNESS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "transport/transport.h"

#define NODE_LOG_CAP (256u * 1024u)

struct node {
	struct transport *t;
	uint32_t id;
	bool closed;
	char log[NODE_LOG_CAP];
	size_t log_len;
	unsigned log_lines;
	unsigned recv_count;
	uint32_t last_from;
	uint8_t last_type;
	size_t last_len;
	uint8_t *last_payload;
	uint64_t recv_bytes;
	unsigned ups;
	unsigned downs;
	bool learned;
	uint8_t learned_id[TRANSPORT_CLUSTER_ID_LEN];
	bool verbose;
};

static uv_loop_t test_loop;

static __attribute__((unused)) void
node_on_log(void *data, enum transport_log_level level, const char *msg)
{
	struct node *n = data;
	size_t len = strlen(msg);

	if (getenv("TRANSPORT_TEST_VERBOSE") != NULL)
		fprintf(stderr, "[%d] %s\n", (int)level, msg);
	n->log_lines++;
	if (n->log_len + len + 2 > sizeof(n->log))
		return;
	memcpy(n->log + n->log_len, msg, len);
	n->log_len += len;
	n->log[n->log_len++] = '\n';
	n->log[n->log_len] = '\0';
}

static __attribute__((unused)) void node_on_recv(void *data, uint32_t peer,
						 uint8_t type,
						 const uint8_t *bytes,
						 size_t len)
{
	struct node *n = data;

	n->recv_count++;
	n->last_from = peer;
	n->last_type = type;
	n->last_len = len;
	n->recv_bytes += len;
	free(n->last_payload);
	n->last_payload = malloc(len > 0 ? len : 1);
	if (n->last_payload != NULL && len > 0)
		memcpy(n->last_payload, bytes, len);
}

static __attribute__((unused)) void
node_on_link(void *data, uint32_t peer, enum transport_link_state state)
{
	struct node *n = data;

	(void)peer;
	if (state == TRANSPORT_LINK_UP)
		n->ups++;
	else
		n->downs++;
}

static __attribute__((unused)) void node_on_cluster_id(void *data,
						       const uint8_t *id)
{
	struct node *n = data;

	n->learned = true;
	memcpy(n->learned_id, id, TRANSPORT_CLUSTER_ID_LEN);
}

static const uint8_t test_secret[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t other_secret[32] = "fedcba9876543210fedcba9876543210";
static const uint8_t cluster_a[16] = {0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6};
static const uint8_t cluster_b[16] = {0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6};

/* Options every test starts from: shared secret, short timeouts, every
 * log line kept (no rate limit to speak of). */
static __attribute__((unused)) struct transport_options
node_opts(struct node *n, uint32_t id)
{
	struct transport_options o;

	memset(n, 0, sizeof(*n));
	n->id = id;
	memset(&o, 0, sizeof(o));
	o.node_id = id;
	o.cluster_name = "test";
	memcpy(o.cluster_id, cluster_a, sizeof(cluster_a));
	o.cluster_id_known = true;
	o.secret = test_secret;
	o.secret_len = sizeof(test_secret);
	o.bind_address = "127.0.0.1:0";
	o.handshake_timeout_ms = 1500;
	o.reconnect_min_ms = 20;
	o.reconnect_max_ms = 200;
	o.log_interval_ms = 1;
	o.on_recv = node_on_recv;
	o.on_link = node_on_link;
	o.on_cluster_id = node_on_cluster_id;
	o.log = node_on_log;
	o.data = n;
	return o;
}

static __attribute__((unused)) int node_start(struct node *n,
					      const struct transport_options *o)
{
	return transport_create(&test_loop, o, &n->t);
}

static __attribute__((unused)) void node_on_closed(void *data)
{
	struct node *n = data;

	n->closed = true;
}

static __attribute__((unused)) void tick_cb(uv_timer_t *timer)
{
	(void)timer;
}

typedef bool (*cond_fn)(void *arg);

/* Runs the loop until cond holds or timeout_ms pass; returns cond. */
static __attribute__((unused)) bool run_until(cond_fn cond, void *arg,
					      unsigned timeout_ms)
{
	uv_timer_t tick;
	uint64_t start;
	bool ok;

	uv_update_time(&test_loop);
	start = uv_now(&test_loop);
	uv_timer_init(&test_loop, &tick);
	uv_timer_start(&tick, tick_cb, 5, 5);
	while (!(ok = cond != NULL && cond(arg)) &&
	       uv_now(&test_loop) - start < timeout_ms)
		uv_run(&test_loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&test_loop, UV_RUN_NOWAIT);
	return ok;
}

static __attribute__((unused)) void run_for(unsigned ms)
{
	run_until(NULL, NULL, ms);
}

static __attribute__((unused)) void node_stop(struct node *n)
{
	if (n->t == NULL)
		return;
	transport_close(n->t, node_on_closed);
	n->t = NULL;
}

static __attribute__((unused)) bool node_closed(void *arg)
{
	return ((struct node *)arg)->closed;
}

static __attribute__((unused)) void node_stop_wait(struct node *n)
{
	if (n->t == NULL)
		return;
	node_stop(n);
	run_until(node_closed, n, 3000);
}

static __attribute__((unused)) void node_free(struct node *n)
{
	node_stop_wait(n);
	free(n->last_payload);
	n->last_payload = NULL;
}

struct log_wait {
	struct node *n;
	const char *text;
};

static __attribute__((unused)) bool log_has_cond(void *arg)
{
	struct log_wait *w = arg;

	return strstr(w->n->log, w->text) != NULL;
}

static __attribute__((unused)) bool node_log_has(struct node *n,
						 const char *text)
{
	return strstr(n->log, text) != NULL;
}

static __attribute__((unused)) bool wait_log(struct node *n, const char *text,
					     unsigned ms)
{
	struct log_wait w = {n, text};

	return run_until(log_has_cond, &w, ms);
}

/* Gives each node the others as peers, at their bound 127.0.0.1 ports. */
static __attribute__((unused)) void mesh(struct node **nodes, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		struct transport_peer peers[8];
		char addr[8][64];
		size_t k = 0;

		for (size_t j = 0; j < count; j++) {
			if (j == i)
				continue;
			snprintf(addr[k], sizeof(addr[k]), "127.0.0.1:%u",
				 transport_port(nodes[j]->t));
			peers[k].id = nodes[j]->id;
			peers[k].address = addr[k];
			k++;
		}
		if (transport_set_peers(nodes[i]->t, peers, k) != 0)
			abort();
	}
}

struct link_wait {
	struct node *a;
	struct node *b;
};

static __attribute__((unused)) bool linked_cond(void *arg)
{
	struct link_wait *w = arg;

	return transport_link_state(w->a->t, w->b->id) == TRANSPORT_LINK_UP &&
	       transport_link_state(w->b->t, w->a->id) == TRANSPORT_LINK_UP;
}

static __attribute__((unused)) bool wait_linked(struct node *a, struct node *b,
						unsigned ms)
{
	struct link_wait w = {a, b};

	return run_until(linked_cond, &w, ms);
}

struct count_wait {
	unsigned *counter;
	unsigned target;
};

static __attribute__((unused)) bool count_cond(void *arg)
{
	struct count_wait *w = arg;

	return *w->counter >= w->target;
}

static __attribute__((unused)) bool wait_count(unsigned *counter,
					       unsigned target, unsigned ms)
{
	struct count_wait w = {counter, target};

	return run_until(count_cond, &w, ms);
}

static __attribute__((unused)) void close_walk_cb(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static __attribute__((unused)) int loop_setup(void **state)
{
	(void)state;
	return uv_loop_init(&test_loop);
}

/* Fails if the transport left a handle open after closing. */
static __attribute__((unused)) int loop_teardown(void **state)
{
	int rv;

	(void)state;
	uv_run(&test_loop, UV_RUN_NOWAIT);
	rv = uv_loop_close(&test_loop);
	if (rv != 0) {
		fprintf(stderr, "loop still has handles after the test\n");
		uv_walk(&test_loop, close_walk_cb, NULL);
		uv_run(&test_loop, UV_RUN_DEFAULT);
		uv_loop_close(&test_loop);
	}
	return rv == 0 ? 0 : -1;
}

#endif
