/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * One TCP connection and its state machine:
 *
 *   dialer:   CONNECTING -> [TLS] -> send HELLO, HELLO -> send AUTH, AUTH -> UP
 *   acceptor:              [TLS] -> HELLO: send HELLO -> AUTH: send AUTH -> UP
 *
 * With a cluster secret each AUTH carries a proof; without one the dialer
 * sends an empty AUTH as its go-ahead and goes up at once, and the
 * acceptor answers nothing. Anything unexpected closes the
 * connection with a log line; nothing a peer sends before UP changes any
 * state outside its own connection.
 */
#include "transport/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *conn_mode_name(uint8_t mode)
{
	switch (mode) {
	case HS_MODE_PLAINTEXT:
		return "plaintext";
	case HS_MODE_SECRET:
		return "secret";
	case HS_MODE_TLS:
		return "tls";
	case HS_MODE_SECRET | HS_MODE_TLS:
		return "tls+secret";
	}
	return "unknown";
}

/* Describes the peer for log lines: a node we dialed, or one that proved
 * itself, by its id; anything else by its source address, with the id it
 * claims (which proves nothing yet). */
static void conn_describe(const struct conn *c, char *out, size_t len)
{
	if (c->peer != NULL && (c->outbound || c->state == CONN_UP))
		snprintf(out, len, "node %u (%s)", c->peer->id, c->remote);
	else if (c->peer != NULL)
		snprintf(out, len, "from %s (claims node %u)", c->remote,
			 c->peer->id);
	else
		snprintf(out, len, "%s %s", c->outbound ? "to" : "from",
			 c->remote);
}

static void conn_free(struct conn *c)
{
	struct transport *t = c->t;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		t->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	transport__tls_conn_free(c->tls);
	transport__frame_decoder_free(&c->dec);
	free(c->out);
	free(c->write_buf);
	transport__tcrypto_mac_free(c->mac_send);
	transport__tcrypto_mac_free(c->mac_recv);
	transport__tcrypto_aead_free(c->aead_send);
	transport__tcrypto_aead_free(c->aead_recv);
	free(c);
	transport__release(t);
}

static void conn_on_handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	if (--c->open_handles == 0)
		conn_free(c);
}

void transport__conn_close(struct conn *c, enum transport_log_level level,
			   const char *fmt, ...)
{
	struct transport *t = c->t;
	struct peer *p = c->peer;
	char who[160];
	char reason[400];
	va_list ap;
	bool was_up = c->state == CONN_UP;

	if (c->closing)
		return;
	c->closing = true;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	conn_describe(c, who, sizeof(who));
	if (level == TRANSPORT_LOG_DEBUG)
		transport__logf(t, level, "link %s closed: %s", who, reason);
	else if (was_up && p != NULL)
		transport__log_limited(t, &p->rl_state, level,
				       "link %s down: %s", who, reason);
	else if (c->outbound)
		transport__log_limited(
		    t, p != NULL ? &p->rl_fail : &t->rl_inbound, level,
		    "cannot link to %s: %s", who, reason);
	else
		transport__log_limited(t, transport__source_limit(t, c->remote),
				       level, "refused connection %s: %s", who,
				       reason);

	if (c->counted_pending) {
		c->counted_pending = false;
		t->pending_inbound--;
	}
	if (p != NULL) {
		if (p->link == c) {
			p->link = NULL;
			transport__peer_link_lost(p, was_up);
		}
		c->peer = NULL;
	}
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, conn_on_handle_closed);
	uv_close((uv_handle_t *)&c->tcp, conn_on_handle_closed);
}

static void conn_on_timeout(uv_timer_t *timer)
{
	struct conn *c = timer->data;

	transport__conn_close(c, TRANSPORT_LOG_WARNING,
			      "handshake did not finish within %u ms",
			      c->t->handshake_timeout_ms);
}

static struct conn *conn_new(struct transport *t, bool outbound)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->t = t;
	c->outbound = outbound;
	snprintf(c->remote, sizeof(c->remote), "(unknown)");
	if (uv_tcp_init(t->loop, &c->tcp) != 0) {
		free(c);
		return NULL;
	}
	/* From here on the handles own c: it is freed when both closed. */
	uv_timer_init(t->loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->open_handles = 2;
	t->open_handles++;
	c->next = t->conns;
	if (t->conns != NULL)
		t->conns->prev = c;
	t->conns = c;
	transport__frame_decoder_init(&c->dec, FRAME_MAX_HANDSHAKE_PAYLOAD, 0);
	uv_timer_start(&c->timer, conn_on_timeout, t->handshake_timeout_ms, 0);
	return c;
}

/* Appends room for n more output bytes; false on allocation failure. */
static bool conn_out_reserve(struct conn *c, size_t n)
{
	size_t cap;
	uint8_t *out;

	if (c->out_cap - c->out_len >= n)
		return true;
	cap = c->out_cap ? c->out_cap : 4096;
	while (cap - c->out_len < n)
		cap *= 2;
	out = realloc(c->out, cap);
	if (out == NULL)
		return false;
	c->out = out;
	c->out_cap = cap;
	return true;
}

/* The reason of a libcrypto failure, for the line that closes the link;
 * valid until the next call on this thread. */
static const char *conn_crypto_error(const char *what)
{
	static _Thread_local char reason[300];
	char detail[200];

	transport__tcrypto_last_error(detail, sizeof(detail));
	snprintf(reason, sizeof(reason), "%s failed (%s)", what, detail);
	return reason;
}

/* Encodes one frame into the output buffer, protected once keys exist:
 * protocol 1 copies the payload and tags it, protocol 2 encrypts it from
 * the caller's buffer straight into the output buffer. Returns NULL, or
 * why the frame could not be encoded (the link must then be closed). */
static const char *conn_put_frame(struct conn *c, uint8_t type,
				  const uint8_t *payload, size_t len)
{
	struct frame_header h = {
	    .version = FRAME_VERSION,
	    .type = type,
	    .flags = 0,
	    .length = (uint32_t)len,
	    .seq = c->seq_send,
	};
	uint8_t *p;

	/* The sequence number is the AES-GCM nonce: it must never repeat
	 * under one key, so it never wraps. */
	if (c->seq_send == UINT64_MAX)
		return "frame sequence numbers exhausted";
	if (!conn_out_reserve(c, FRAME_HEADER_LEN + len + c->tag_len))
		return "out of memory";
	p = c->out + c->out_len;
	transport__frame_header_encode(p, &h);
	if (c->aead_send != NULL) {
		if (!transport__tcrypto_aead_seal(
			c->aead_send, h.seq, p, FRAME_HEADER_LEN, payload,
			p + FRAME_HEADER_LEN, len, p + FRAME_HEADER_LEN + len))
			return conn_crypto_error("AES-GCM encryption");
	} else {
		if (len > 0)
			memcpy(p + FRAME_HEADER_LEN, payload, len);
		if (c->mac_send != NULL &&
		    !transport__tcrypto_mac_frame(
			c->mac_send, p, FRAME_HEADER_LEN, p + FRAME_HEADER_LEN,
			len, p + FRAME_HEADER_LEN + len))
			return conn_crypto_error("HMAC computation");
	}
	c->out_len += FRAME_HEADER_LEN + len + c->tag_len;
	c->seq_send++;
	return NULL;
}

static void conn_on_write(uv_write_t *req, int status)
{
	struct conn *c = req->data;

	c->writing = false;
	/* The written buffer takes the next frames: a stream of large frames
	 * (snapshot chunks) then costs no allocation and no page faults. */
	if (c->out == NULL && c->write_cap <= CONN_SPARE_MAX) {
		c->out = c->write_buf;
		c->out_cap = c->write_cap;
		c->out_len = 0;
	} else {
		free(c->write_buf);
	}
	c->write_buf = NULL;
	c->write_cap = 0;
	if (c->closing)
		return;
	if (status < 0) {
		transport__conn_close(c, TRANSPORT_LOG_WARNING,
				      "write failed: %s", uv_strerror(status));
		return;
	}
	transport__conn_flush(c);
}

void transport__conn_flush(struct conn *c)
{
	struct peer *p = c->peer;
	uv_buf_t buf;
	size_t len;
	int rv;

	if (c->closing || c->writing || c->state == CONN_CONNECTING)
		return;
	/* Pull queued frames only as fast as the socket drains them, so a slow
	 * peer's backlog stays in its bounded queue. */
	if (c->state == CONN_UP && p != NULL && p->link == c) {
		struct qframe *f;

		while (c->out_len < TRANSPORT_WRITE_BATCH &&
		       (f = transport__peer_dequeue(p)) != NULL) {
			const char *err =
			    conn_put_frame(c, f->type, f->payload, f->len);

			free(f);
			if (err != NULL) {
				transport__conn_close(c, TRANSPORT_LOG_ERROR,
						      "cannot send a frame: %s",
						      err);
				return;
			}
			p->frames_sent++;
		}
	}
	if (c->tls != NULL) {
		if (c->out_len > 0) {
			if (!transport__tls_conn_write(c->tls, c->out,
						       c->out_len)) {
				transport__conn_close(c, TRANSPORT_LOG_ERROR,
						      "TLS write failed");
				return;
			}
			c->out_len = 0;
		}
		len = transport__tls_conn_pending(c->tls);
		if (len == 0)
			return;
		c->write_buf = malloc(len);
		c->write_cap = len;
		if (c->write_buf == NULL) {
			transport__conn_close(c, TRANSPORT_LOG_ERROR,
					      "out of memory");
			return;
		}
		len = transport__tls_conn_take(c->tls, c->write_buf, len);
	} else {
		if (c->out_len == 0)
			return;
		/* The output buffer becomes the write buffer. */
		c->write_buf = c->out;
		c->write_cap = c->out_cap;
		len = c->out_len;
		c->out = NULL;
		c->out_len = 0;
		c->out_cap = 0;
	}
	buf = uv_buf_init((char *)c->write_buf, (unsigned int)len);
	c->write_req.data = c;
	rv = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &buf, 1,
		      conn_on_write);
	if (rv != 0) {
		free(c->write_buf);
		c->write_buf = NULL;
		c->write_cap = 0;
		transport__conn_close(c, TRANSPORT_LOG_WARNING,
				      "write failed: %s", uv_strerror(rv));
		return;
	}
	c->writing = true;
	c->last_tx = uv_now(c->t->loop);
}

static bool conn_send_hello(struct conn *c, uint32_t target)
{
	struct transport *t = c->t;
	struct hs_hello *h = &c->my_hello;
	const char *err = NULL;
	int n;

	memset(h, 0, sizeof(*h));
	h->proto_min = t->proto_min;
	h->proto_max = t->proto_max;
	h->node_id = t->node_id;
	h->target_id = target;
	h->mode = t->mode;
	if (t->cluster_id_known) {
		h->flags |= HS_FLAG_CLUSTER_ID_KNOWN;
		memcpy(h->cluster_id, t->cluster_id, HS_CLUSTER_ID_LEN);
	}
	snprintf(h->cluster_name, sizeof(h->cluster_name), "%s",
		 t->cluster_name);
	if (!transport__tcrypto_random(h->nonce, sizeof(h->nonce))) {
		transport__conn_close(c, TRANSPORT_LOG_ERROR,
				      "random generator failed");
		return false;
	}
	n = transport__hs_hello_encode(h, c->my_hello_raw,
				       sizeof(c->my_hello_raw));
	if (n >= 0)
		err =
		    conn_put_frame(c, FRAME_HELLO, c->my_hello_raw, (size_t)n);
	if (n < 0 || err != NULL) {
		transport__conn_close(c, TRANSPORT_LOG_ERROR,
				      "cannot build hello: %s",
				      err != NULL ? err : "bad field");
		return false;
	}
	c->my_hello_len = (size_t)n;
	transport__conn_flush(c);
	return !c->closing;
}

/* The MAC proving the sender of `role` holds the cluster secret. */
static bool conn_auth_mac(struct conn *c, char role, uint8_t out[HS_MAC_LEN])
{
	const struct hs_hello *d = c->outbound ? &c->my_hello : &c->peer_hello;
	const struct hs_hello *a = c->outbound ? &c->peer_hello : &c->my_hello;
	uint8_t input[HS_AUTH_INPUT_MAX];
	size_t len;

	len = transport__hs_auth_input(input, role, c->version, d, a,
				       c->transcript);
	return transport__tcrypto_hmac(c->t->secret, c->t->secret_len, input,
				       len, out);
}

static bool conn_send_auth(struct conn *c)
{
	uint8_t mac[HS_MAC_LEN];
	const char *err;

	if (!conn_auth_mac(c, c->outbound ? 'D' : 'A', mac)) {
		transport__conn_close(c, TRANSPORT_LOG_ERROR,
				      "cannot build auth proof: %s",
				      conn_crypto_error("HMAC computation"));
		return false;
	}
	err = conn_put_frame(c, FRAME_AUTH, mac, sizeof(mac));
	if (err != NULL) {
		transport__conn_close(c, TRANSPORT_LOG_ERROR,
				      "cannot build auth proof: %s", err);
		return false;
	}
	transport__conn_flush(c);
	return !c->closing;
}

/* On a live link: ping when we have been quiet, give up on a silent peer
 * (a crashed host or a cut cable sends no reset). */
static void conn_on_keepalive(uv_timer_t *timer)
{
	struct conn *c = timer->data;
	struct transport *t = c->t;
	uint64_t now = uv_now(t->loop);

	if (c->closing)
		return;
	if (now - c->last_rx >= t->idle_timeout_ms) {
		transport__conn_close(
		    c, TRANSPORT_LOG_WARNING,
		    "nothing received for %u ms, link presumed dead",
		    t->idle_timeout_ms);
		return;
	}
	if (!c->writing && c->out_len == 0 &&
	    now - c->last_tx >= t->keepalive_ms) {
		const char *err = conn_put_frame(c, FRAME_PING, NULL, 0);

		if (err != NULL) {
			transport__conn_close(c, TRANSPORT_LOG_ERROR,
					      "cannot send a ping: %s", err);
			return;
		}
		transport__conn_flush(c);
	}
}

static void conn_up(struct conn *c)
{
	struct transport *t = c->t;
	struct peer *p = c->peer;
	struct conn *old;

	if ((c->peer_hello.flags & HS_FLAG_CLUSTER_ID_KNOWN) != 0) {
		/* Another link may have pinned an id while this one was in its
		 * handshake. */
		if (t->cluster_id_known &&
		    memcmp(t->cluster_id, c->peer_hello.cluster_id,
			   HS_CLUSTER_ID_LEN) != 0) {
			transport__conn_close(
			    c, TRANSPORT_LOG_WARNING,
			    "peer belongs to a different cluster (cluster "
			    "id differs)");
			return;
		}
		if (!t->cluster_id_known)
			transport__learn_cluster_id(t, c->peer_hello.cluster_id,
						    p->id);
	}
	c->state = CONN_UP;
	uv_timer_stop(&c->timer);
	c->last_rx = uv_now(t->loop);
	uv_timer_start(&c->timer, conn_on_keepalive, t->keepalive_ms / 2 + 1,
		       t->keepalive_ms / 2 + 1);
	c->dec.max_payload = FRAME_MAX_PAYLOAD;
	if (c->counted_pending) {
		c->counted_pending = false;
		t->pending_inbound--;
	}
	old = p->link;
	if (old != NULL && old != c) {
		/* Only an authenticated peer gets here, so a newer link from
		 * it means it restarted or lost the old one. */
		transport__conn_close(
		    old, TRANSPORT_LOG_INFO,
		    "replaced by a newer link from the same node");
	}
	transport__log_limited(t, &p->rl_state, TRANSPORT_LOG_INFO,
			       "link to node %u up (%s, %s, protocol v%u)",
			       p->id, c->remote, conn_mode_name(t->mode),
			       c->version);
	transport__peer_link_up(p, c);
	transport__conn_flush(c);
}

/* Checks a decoded hello against our configuration; returns false after
 * closing the connection with the reason. */
static bool conn_check_hello(struct conn *c, const struct hs_hello *h)
{
	struct transport *t = c->t;
	struct peer *p;

	c->version = transport__hs_common_version(t->proto_min, t->proto_max,
						  h->proto_min, h->proto_max);
	if (c->version == 0) {
		transport__conn_close(
		    c, TRANSPORT_LOG_WARNING,
		    "no common protocol version (node %u speaks %u..%u, "
		    "we speak %u..%u)",
		    h->node_id, h->proto_min, h->proto_max, t->proto_min,
		    t->proto_max);
		return false;
	}
	if (strcmp(h->cluster_name, t->cluster_name) != 0) {
		transport__conn_close(
		    c, TRANSPORT_LOG_WARNING,
		    "node %u is in cluster '%s', we are in '%s'", h->node_id,
		    h->cluster_name, t->cluster_name);
		return false;
	}
	if ((h->flags & HS_FLAG_CLUSTER_ID_KNOWN) != 0 && t->cluster_id_known &&
	    memcmp(h->cluster_id, t->cluster_id, HS_CLUSTER_ID_LEN) != 0) {
		transport__conn_close(
		    c, TRANSPORT_LOG_WARNING,
		    "node %u belongs to another cluster named '%s' "
		    "(cluster id differs)",
		    h->node_id, h->cluster_name);
		return false;
	}
	if (h->mode != t->mode) {
		transport__conn_close(
		    c, TRANSPORT_LOG_WARNING,
		    "node %u uses security mode %s, we use %s", h->node_id,
		    conn_mode_name(h->mode), conn_mode_name(t->mode));
		return false;
	}
	if (h->node_id == t->node_id) {
		transport__conn_close(
		    c, TRANSPORT_LOG_WARNING,
		    "peer claims our own node id %u (duplicate node id)",
		    h->node_id);
		return false;
	}
	p = transport__find_peer(t, h->node_id);
	if (p == NULL) {
		transport__conn_close(
		    c, TRANSPORT_LOG_WARNING,
		    "unknown node id %u (not in the peer list)", h->node_id);
		return false;
	}
	if (c->outbound && p != c->peer) {
		transport__conn_close(c, TRANSPORT_LOG_WARNING,
				      "answered as node %u, expected node %u",
				      h->node_id, c->peer->id);
		return false;
	}
	if (!c->outbound) {
		if (h->target_id != t->node_id) {
			transport__conn_close(
			    c, TRANSPORT_LOG_WARNING,
			    "node %u meant to reach node %u, we are %u",
			    h->node_id, h->target_id, t->node_id);
			return false;
		}
		if (p->dials) {
			transport__conn_close(
			    c, TRANSPORT_LOG_WARNING,
			    "node %u dialed us, but the lower id (%u) "
			    "dials",
			    h->node_id, t->node_id);
			return false;
		}
	}
	if (c->tls != NULL &&
	    !transport__tls_conn_peer_is_node(c->tls, h->node_id)) {
		transport__conn_close(
		    c, TRANSPORT_LOG_WARNING,
		    "TLS certificate does not name node %u (needs URI "
		    "subject alternative name " TLS_NODE_URI_PREFIX "%u)",
		    h->node_id, h->node_id);
		return false;
	}
	/* Other unauthenticated connections may claim the same id: the first
	 * to finish the handshake wins, so a stranger who merely claims an id
	 * cannot lock the real node out. */
	if (!c->outbound)
		c->peer = p;
	return true;
}

static void conn_on_hello(struct conn *c, const uint8_t *payload, size_t len)
{
	struct hs_hello h;
	const uint8_t *first;
	const uint8_t *second;
	size_t first_len;
	size_t second_len;
	int rv;

	rv = transport__hs_hello_decode(payload, len, &h);
	if (rv != HS_OK) {
		transport__conn_close(c, TRANSPORT_LOG_WARNING,
				      "malformed hello: %s",
				      transport__hs_strerror(rv));
		return;
	}
	if (!conn_check_hello(c, &h))
		return;
	c->peer_hello = h;
	memcpy(c->peer_hello_raw, payload, len);
	c->peer_hello_len = len;
	if (!c->outbound && !conn_send_hello(c, h.node_id))
		return;
	/* The transcript is always dialer's hello, then acceptor's. */
	if (c->outbound) {
		first = c->my_hello_raw;
		first_len = c->my_hello_len;
		second = c->peer_hello_raw;
		second_len = c->peer_hello_len;
	} else {
		first = c->peer_hello_raw;
		first_len = c->peer_hello_len;
		second = c->my_hello_raw;
		second_len = c->my_hello_len;
	}
	if (!transport__tcrypto_transcript(first, first_len, second, second_len,
					   c->transcript)) {
		transport__conn_close(c, TRANSPORT_LOG_ERROR, "hashing failed");
		return;
	}
	c->state = CONN_AUTH;
	if ((c->t->mode & HS_MODE_SECRET) != 0) {
		if (c->outbound)
			conn_send_auth(c);
		return;
	}
	/* Without a secret the dialer still confirms, with an empty AUTH,
	 * that it accepted the acceptor's hello (and certificate), so the
	 * acceptor never reports a link its peer refused. */
	if (c->outbound) {
		const char *err = conn_put_frame(c, FRAME_AUTH, NULL, 0);

		if (err != NULL) {
			transport__conn_close(c, TRANSPORT_LOG_ERROR,
					      "cannot send the confirmation: "
					      "%s",
					      err);
			return;
		}
		conn_up(c);
	}
}

/* Sets up the frame protection of the negotiated protocol from the two
 * session keys (wiped here); every frame after the two proofs carries a
 * tag. Returns false after closing the connection. */
static bool conn_setup_frame_keys(struct conn *c, uint8_t d2a[CRYPTO_KEY_LEN],
				  uint8_t a2d[CRYPTO_KEY_LEN])
{
	/* The fixed part of the nonce names the direction, as the role byte
	 * does in the proofs. */
	static const uint8_t fixed_d2a[CRYPTO_GCM_FIXED_LEN] = {'D', 0, 0, 0};
	static const uint8_t fixed_a2d[CRYPTO_GCM_FIXED_LEN] = {'A', 0, 0, 0};
	const uint8_t *send_key = c->outbound ? d2a : a2d;
	const uint8_t *recv_key = c->outbound ? a2d : d2a;
	bool ok;

	if (c->version >= TRANSPORT_PROTO_AEAD) {
		c->aead_send = transport__tcrypto_aead_new(
		    send_key, c->outbound ? fixed_d2a : fixed_a2d, true);
		c->aead_recv = transport__tcrypto_aead_new(
		    recv_key, c->outbound ? fixed_a2d : fixed_d2a, false);
		ok = c->aead_send != NULL && c->aead_recv != NULL;
		c->tag_len = FRAME_TAG_LEN_V2;
	} else {
		c->mac_send = transport__tcrypto_mac_new(send_key);
		c->mac_recv = transport__tcrypto_mac_new(recv_key);
		ok = c->mac_send != NULL && c->mac_recv != NULL;
		c->tag_len = FRAME_TAG_LEN_V1;
	}
	transport__tcrypto_wipe(d2a, CRYPTO_KEY_LEN);
	transport__tcrypto_wipe(a2d, CRYPTO_KEY_LEN);
	if (!ok) {
		transport__conn_close(
		    c, TRANSPORT_LOG_ERROR,
		    "cannot set up frame protection: %s",
		    conn_crypto_error(c->version >= TRANSPORT_PROTO_AEAD
					  ? "AES-GCM key setup"
					  : "HMAC key setup"));
		return false;
	}
	c->dec.tag_len = c->tag_len;
	return true;
}

static void conn_on_auth(struct conn *c, const uint8_t *payload, size_t len)
{
	struct transport *t = c->t;
	uint8_t want[HS_MAC_LEN];
	const struct hs_hello *d = c->outbound ? &c->my_hello : &c->peer_hello;
	const struct hs_hello *a = c->outbound ? &c->peer_hello : &c->my_hello;
	uint8_t d2a[CRYPTO_KEY_LEN];
	uint8_t a2d[CRYPTO_KEY_LEN];

	if ((t->mode & HS_MODE_SECRET) == 0) {
		/* Only the acceptor waits here: for the dialer's go-ahead. */
		if (len != 0 || c->outbound) {
			transport__conn_close(c, TRANSPORT_LOG_WARNING,
					      "malformed confirmation");
			return;
		}
		conn_up(c);
		return;
	}
	if (len != HS_MAC_LEN) {
		transport__conn_close(c, TRANSPORT_LOG_WARNING,
				      "malformed auth proof");
		return;
	}
	if (!conn_auth_mac(c, c->outbound ? 'A' : 'D', want)) {
		transport__conn_close(c, TRANSPORT_LOG_ERROR, "%s",
				      conn_crypto_error("MAC computation"));
		return;
	}
	if (!transport__tcrypto_equal(want, payload, HS_MAC_LEN)) {
		transport__conn_close(
		    c, TRANSPORT_LOG_WARNING,
		    "authentication failed: the peer does not hold our "
		    "cluster secret");
		return;
	}
	if (!c->outbound && !conn_send_auth(c))
		return;
	if (!transport__tcrypto_session_keys(t->secret, t->secret_len, d->nonce,
					     a->nonce, HS_NONCE_LEN,
					     c->transcript, d2a, a2d)) {
		transport__conn_close(c, TRANSPORT_LOG_ERROR, "%s",
				      conn_crypto_error("key derivation"));
		return;
	}
	if (!conn_setup_frame_keys(c, d2a, a2d))
		return;
	conn_up(c);
}

/* Checks a frame's tag, and decrypts a protocol 2 frame in place. Returns
 * false after closing the connection. */
static bool conn_open_frame(struct conn *c, const struct frame_view *f)
{
	uint8_t tag[FRAME_TAG_LEN_V1];

	if (c->aead_recv != NULL) {
		switch (transport__tcrypto_aead_open(
		    c->aead_recv, f->header.seq, f->raw_header,
		    FRAME_HEADER_LEN, f->payload, f->header.length, f->tag)) {
		case TCRYPTO_OPEN_OK:
			return true;
		case TCRYPTO_OPEN_FORGED:
			transport__conn_close(
			    c, TRANSPORT_LOG_WARNING,
			    "bad frame tag: forged or corrupted frame");
			return false;
		case TCRYPTO_OPEN_FAILED:
			break;
		}
		transport__conn_close(c, TRANSPORT_LOG_ERROR, "%s",
				      conn_crypto_error("AES-GCM decryption"));
		return false;
	}
	if (c->mac_recv == NULL)
		return true;
	if (!transport__tcrypto_mac_frame(c->mac_recv, f->raw_header,
					  FRAME_HEADER_LEN, f->payload,
					  f->header.length, tag)) {
		transport__conn_close(c, TRANSPORT_LOG_ERROR, "%s",
				      conn_crypto_error("HMAC computation"));
		return false;
	}
	if (!transport__tcrypto_equal(tag, f->tag, FRAME_TAG_LEN_V1)) {
		transport__conn_close(
		    c, TRANSPORT_LOG_WARNING,
		    "bad frame tag: forged or corrupted frame");
		return false;
	}
	return true;
}

static void conn_on_frame(struct conn *c, const struct frame_view *f)
{
	struct peer *p;

	/* The sender never uses UINT64_MAX (see conn_put_frame), so the
	 * expected number never wraps back to one already accepted. */
	if (f->header.seq != c->seq_recv || c->seq_recv == UINT64_MAX) {
		transport__conn_close(
		    c, TRANSPORT_LOG_WARNING,
		    "frame out of sequence (got %llu, expected %llu): "
		    "replayed, dropped or reordered",
		    (unsigned long long)f->header.seq,
		    (unsigned long long)c->seq_recv);
		return;
	}
	if (!conn_open_frame(c, f))
		return;
	c->seq_recv++;
	switch (c->state) {
	case CONN_HELLO:
		if (f->header.type != FRAME_HELLO)
			break;
		conn_on_hello(c, f->payload, f->header.length);
		return;
	case CONN_AUTH:
		if (f->header.type != FRAME_AUTH)
			break;
		conn_on_auth(c, f->payload, f->header.length);
		return;
	case CONN_UP:
		if (f->header.type == FRAME_PING && f->header.length == 0)
			return;
		if (f->header.type < TRANSPORT_TYPE_MIN)
			break;
		p = c->peer;
		p->frames_received++;
		if (c->t->on_recv != NULL)
			c->t->on_recv(c->t->data, p->id, f->header.type,
				      f->payload, f->header.length);
		return;
	default:
		break;
	}
	transport__conn_close(c, TRANSPORT_LOG_WARNING,
			      "unexpected frame type %u in this state",
			      f->header.type);
}

/* Plaintext bytes from the peer: split into frames and handle each. */
static void conn_input(struct conn *c, const uint8_t *data, size_t len)
{
	struct frame_view f;
	size_t used;
	int rv;

	while (len > 0 && !c->closing) {
		rv = transport__frame_decoder_feed(&c->dec, data, len, &used,
						   &f);
		data += used;
		len -= used;
		if (rv < 0) {
			transport__conn_close(c, TRANSPORT_LOG_WARNING,
					      "bad frame: %s",
					      transport__frame_strerror(rv));
			return;
		}
		if (rv == 1)
			conn_on_frame(c, &f);
	}
}

/* After the TLS handshake: the hello exchange starts, dialer first. */
static void conn_tls_done(struct conn *c)
{
	c->state = CONN_HELLO;
	if (c->outbound)
		conn_send_hello(c, c->peer->id);
}

static void conn_tls_input(struct conn *c, const uint8_t *data, size_t len)
{
	struct transport *t = c->t;
	char err[320];
	int rv;

	if (!transport__tls_conn_feed(c->tls, data, len)) {
		transport__conn_close(c, TRANSPORT_LOG_ERROR,
				      "TLS buffer failure");
		return;
	}
	if (c->state == CONN_TLS) {
		rv = transport__tls_conn_handshake(c->tls, err, sizeof(err));
		if (rv < 0) {
			transport__conn_flush(
			    c); /* the alert tells the peer why */
			transport__conn_close(c, TRANSPORT_LOG_WARNING, "%s",
					      err);
			return;
		}
		transport__conn_flush(c);
		if (rv == 0 || c->closing)
			return;
		conn_tls_done(c);
	}
	while (!c->closing) {
		rv = transport__tls_conn_read(c->tls, t->plain_buf,
					      sizeof(t->plain_buf), err,
					      sizeof(err));
		if (rv < 0) {
			transport__conn_close(c, TRANSPORT_LOG_WARNING, "%s",
					      err);
			return;
		}
		if (rv == 0)
			break;
		conn_input(c, t->plain_buf, (size_t)rv);
	}
	/* TLS may have produced records of its own (key updates, alerts). */
	transport__conn_flush(c);
}

static void conn_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;

	(void)suggested;
	/* Reads are handled synchronously, so one buffer serves all links. */
	*buf = uv_buf_init((char *)c->t->read_buf, sizeof(c->t->read_buf));
}

static void conn_on_read(uv_stream_t *stream, ssize_t nread,
			 const uv_buf_t *buf)
{
	struct conn *c = stream->data;

	if (c->closing)
		return;
	if (nread < 0) {
		if (nread == UV_EOF)
			transport__conn_close(c,
					      c->state == CONN_UP
						  ? TRANSPORT_LOG_INFO
						  : TRANSPORT_LOG_WARNING,
					      "connection closed by the peer");
		else
			transport__conn_close(c, TRANSPORT_LOG_WARNING,
					      "read failed: %s",
					      uv_strerror((int)nread));
		return;
	}
	if (nread == 0)
		return;
	c->last_rx = uv_now(c->t->loop);
	if (c->tls != NULL)
		conn_tls_input(c, (const uint8_t *)buf->base, (size_t)nread);
	else
		conn_input(c, (const uint8_t *)buf->base, (size_t)nread);
}

/* The socket is connected (either direction): start TLS or the hello. */
static void conn_start(struct conn *c)
{
	struct transport *t = c->t;
	int rv;

	uv_tcp_nodelay(&c->tcp, 1);
	uv_tcp_keepalive(&c->tcp, 1, 30);
	rv = uv_read_start((uv_stream_t *)&c->tcp, conn_on_alloc, conn_on_read);
	if (rv != 0) {
		transport__conn_close(c, TRANSPORT_LOG_WARNING,
				      "cannot read: %s", uv_strerror(rv));
		return;
	}
	if (t->tls != NULL) {
		c->tls = transport__tls_conn_create(t->tls, !c->outbound);
		if (c->tls == NULL) {
			transport__conn_close(
			    c, TRANSPORT_LOG_ERROR,
			    "cannot start TLS (out of memory)");
			return;
		}
		c->state = CONN_TLS;
		if (c->outbound) {
			char err[320];

			/* The client speaks first. */
			if (transport__tls_conn_handshake(c->tls, err,
							  sizeof(err)) < 0) {
				transport__conn_close(c, TRANSPORT_LOG_WARNING,
						      "%s", err);
				return;
			}
			transport__conn_flush(c);
		}
		return;
	}
	c->state = CONN_HELLO;
	if (c->outbound)
		conn_send_hello(c, c->peer->id);
}

static void conn_on_connect(uv_connect_t *req, int status)
{
	struct conn *c = req->data;

	if (c->closing)
		return;
	if (status < 0) {
		transport__conn_close(c, TRANSPORT_LOG_WARNING,
				      "cannot connect: %s",
				      uv_strerror(status));
		return;
	}
	conn_start(c);
}

int transport__conn_dial(struct peer *p, const struct sockaddr *addr)
{
	struct transport *t = p->t;
	struct conn *c = conn_new(t, true);
	int rv;

	if (c == NULL)
		return UV_ENOMEM;
	c->peer = p;
	p->link = c;
	p->state = TRANSPORT_LINK_CONNECTING;
	transport__addr_format(addr, c->remote, sizeof(c->remote));
	c->connect_req.data = c;
	rv = uv_tcp_connect(&c->connect_req, &c->tcp, addr, conn_on_connect);
	if (rv != 0) {
		/* Detach first so closing does not start the next attempt:
		 * the caller moves on to the next address itself. */
		p->link = NULL;
		c->peer = NULL;
		transport__conn_close(c, TRANSPORT_LOG_DEBUG,
				      "cannot connect to %s: %s", p->address,
				      uv_strerror(rv));
		return rv;
	}
	return 0;
}

void transport__conn_accept(struct transport *t)
{
	struct conn *c = conn_new(t, false);
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	if (c == NULL) {
		/* Without a handle the connection cannot even be refused; it
		 * waits in the backlog. */
		transport__log_limited(t, &t->rl_inbound, TRANSPORT_LOG_ERROR,
				       "out of memory accepting a connection");
		return;
	}
	if (uv_accept((uv_stream_t *)&t->server, (uv_stream_t *)&c->tcp) != 0) {
		transport__conn_close(c, TRANSPORT_LOG_DEBUG, "accept failed");
		return;
	}
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
		transport__addr_format((struct sockaddr *)&ss, c->remote,
				       sizeof(c->remote));
	if (t->pending_inbound >= t->max_pending) {
		/* Drop the oldest: a real peer finishes its handshake in a
		 * round trip or two, so a flood must outpace that to keep it
		 * out, while merely holding slots open achieves nothing. */
		struct conn *oldest = NULL;

		for (struct conn *o = t->conns; o != NULL; o = o->next) {
			if (o->counted_pending && !o->closing)
				oldest = o;
		}
		if (oldest != NULL)
			transport__conn_close(
			    oldest, TRANSPORT_LOG_WARNING,
			    "too many unauthenticated connections "
			    "(%u), dropping the oldest",
			    t->max_pending);
	}
	c->counted_pending = true;
	t->pending_inbound++;
	conn_start(c);
}
