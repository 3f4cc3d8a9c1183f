/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The transport object: options, the listening socket, the peer list, the
 * send entry point, logging and the orderly close of everything. */
#include "transport/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_HANDSHAKE_TIMEOUT_MS 5000u
#define DEFAULT_RECONNECT_MIN_MS 100u
#define DEFAULT_RECONNECT_MAX_MS 5000u
#define DEFAULT_QUEUE_MAX_BYTES (16u * 1024u * 1024u)
#define DEFAULT_QUEUE_MAX_FRAMES 4096u
#define DEFAULT_MAX_PENDING 32u
#define DEFAULT_LOG_INTERVAL_MS 10000u
#define DEFAULT_KEEPALIVE_MS 1000u
#define DEFAULT_IDLE_TIMEOUT_MS 5000u
#define LISTEN_BACKLOG 128

const char *transport_strerror(int rv)
{
	switch (rv) {
	case TRANSPORT_OK:
		return "ok";
	case TRANSPORT_EINVAL:
		return "invalid argument";
	case TRANSPORT_ENOMEM:
		return "out of memory";
	case TRANSPORT_ENOPEER:
		return "no such peer";
	case TRANSPORT_EQUEUE:
		return "send queue full, frame dropped";
	case TRANSPORT_ETOOBIG:
		return "payload too large";
	case TRANSPORT_ETLS:
		return "TLS setup failed";
	case TRANSPORT_EADDR:
		return "bad or unusable address";
	case TRANSPORT_ECLOSED:
		return "transport closed";
	case TRANSPORT_ECLUSTER:
		return "a different cluster id is already set";
	}
	return "unknown transport error";
}

static void transport_emit(struct transport *t, enum transport_log_level level,
			   const char *prefix_note, const char *fmt, va_list ap)
{
	char msg[640];
	int n;

	if (t->log == NULL)
		return;
	n = snprintf(msg, sizeof(msg), "transport: node %u: ", t->node_id);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return;
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	if (prefix_note != NULL) {
		size_t len = strlen(msg);

		snprintf(msg + len, sizeof(msg) - len, "%s", prefix_note);
	}
	t->log(t->data, level, msg);
}

void transport__logf(struct transport *t, enum transport_log_level level,
		     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	transport_emit(t, level, NULL, fmt, ap);
	va_end(ap);
}

void transport__vlog_limited(struct transport *t, struct ratelimit *rl,
			     enum transport_log_level level, const char *fmt,
			     va_list ap)
{
	uint64_t now = uv_now(t->loop);
	char note[80];

	if (!rl->used || now - rl->window_start >= t->log_interval_ms) {
		rl->used = true;
		rl->window_start = now;
		rl->lines = 0;
	}
	if (rl->lines >= TRANSPORT_LOG_BURST) {
		rl->suppressed++;
		return;
	}
	rl->lines++;
	note[0] = '\0';
	if (rl->suppressed > 0)
		snprintf(note, sizeof(note), " (%u similar lines suppressed)",
			 rl->suppressed);
	rl->suppressed = 0;
	transport_emit(t, level, note[0] != '\0' ? note : NULL, fmt, ap);
}

struct ratelimit *transport__source_limit(struct transport *t,
					  const char *remote)
{
	char ip[64];
	const char *colon = strrchr(remote, ':');
	size_t len = colon != NULL ? (size_t)(colon - remote) : strlen(remote);
	struct source_limit *slot = NULL;

	if (len >= sizeof(ip))
		len = sizeof(ip) - 1;
	memcpy(ip, remote, len);
	ip[len] = '\0';
	for (unsigned i = 0; i < TRANSPORT_SOURCE_LIMITS; i++) {
		struct source_limit *s = &t->source_limits[i];

		if (strcmp(s->ip, ip) == 0 && s->last_used != 0) {
			slot = s;
			break;
		}
		if (slot == NULL || s->last_used < slot->last_used)
			slot = s;
	}
	if (strcmp(slot->ip, ip) != 0 || slot->last_used == 0) {
		memset(slot, 0, sizeof(*slot));
		snprintf(slot->ip, sizeof(slot->ip), "%s", ip);
	}
	/* Never 0, which marks an unused slot. */
	slot->last_used = uv_now(t->loop) + 1;
	return &slot->rl;
}

void transport__log_limited(struct transport *t, struct ratelimit *rl,
			    enum transport_log_level level, const char *fmt,
			    ...)
{
	va_list ap;

	va_start(ap, fmt);
	transport__vlog_limited(t, rl, level, fmt, ap);
	va_end(ap);
}

uint64_t transport__random(struct transport *t)
{
	/* xorshift64*: jitter only, never used for secrets. */
	t->rng ^= t->rng >> 12;
	t->rng ^= t->rng << 25;
	t->rng ^= t->rng >> 27;
	return t->rng * 0x2545F4914F6CDD1DULL;
}

struct peer *transport__find_peer(const struct transport *t, uint32_t id)
{
	for (struct peer *p = t->peers; p != NULL; p = p->next) {
		if (p->id == id && !p->removed)
			return p;
	}
	return NULL;
}

static void transport_hex(const uint8_t *id, char out[33])
{
	for (unsigned i = 0; i < TRANSPORT_CLUSTER_ID_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", id[i]);
}

void transport__learn_cluster_id(struct transport *t, const uint8_t *id,
				 uint32_t from)
{
	char hex[33];

	memcpy(t->cluster_id, id, TRANSPORT_CLUSTER_ID_LEN);
	t->cluster_id_known = true;
	transport_hex(id, hex);
	transport__logf(t, TRANSPORT_LOG_INFO,
			"learned cluster id %s from authenticated node %u and "
			"pinned it",
			hex, from);
	if (t->on_cluster_id != NULL)
		t->on_cluster_id(t->data, t->cluster_id);
}

static void transport_free(struct transport *t)
{
	transport_close_cb cb = t->close_cb;
	void *data = t->data;

	if (t->secret != NULL) {
		transport__tcrypto_wipe(t->secret, t->secret_len);
		free(t->secret);
	}
	transport__tls_config_free(t->tls);
	free(t);
	if (cb != NULL)
		cb(data);
}

void transport__release(struct transport *t)
{
	t->open_handles--;
	if (t->closing && t->open_handles == 0)
		transport_free(t);
}

static void transport_on_server_closed(uv_handle_t *h)
{
	transport__release(h->data);
}

static void transport_on_connection(uv_stream_t *server, int status)
{
	struct transport *t = server->data;

	if (status < 0) {
		transport__log_limited(t, &t->rl_inbound, TRANSPORT_LOG_WARNING,
				       "accept failed: %s",
				       uv_strerror(status));
		return;
	}
	transport__conn_accept(t);
}

/* Copies and checks the options; fills in defaults. */
static int transport_configure(struct transport *t,
			       const struct transport_options *o)
{
	if (o->node_id == 0) {
		transport__logf(t, TRANSPORT_LOG_ERROR,
				"node id 0 is not valid");
		return TRANSPORT_EINVAL;
	}
	if (!transport__hs_name_valid(o->cluster_name)) {
		transport__logf(t, TRANSPORT_LOG_ERROR,
				"cluster name must be 1 to %u printable "
				"characters without spaces",
				HS_NAME_MAX);
		return TRANSPORT_EINVAL;
	}
	snprintf(t->cluster_name, sizeof(t->cluster_name), "%s",
		 o->cluster_name);
	memcpy(t->cluster_id, o->cluster_id, TRANSPORT_CLUSTER_ID_LEN);
	t->cluster_id_known = o->cluster_id_known;

	if (o->secret != NULL || o->secret_len > 0) {
		if (o->secret == NULL || o->secret_len < TRANSPORT_SECRET_MIN ||
		    o->secret_len > 1024) {
			transport__logf(t, TRANSPORT_LOG_ERROR,
					"the cluster secret must be %u to 1024 "
					"bytes",
					TRANSPORT_SECRET_MIN);
			return TRANSPORT_EINVAL;
		}
		t->secret = malloc(o->secret_len);
		if (t->secret == NULL)
			return TRANSPORT_ENOMEM;
		memcpy(t->secret, o->secret, o->secret_len);
		t->secret_len = o->secret_len;
		t->mode |= HS_MODE_SECRET;
	}
	if (o->tls_ca_file != NULL || o->tls_cert_file != NULL ||
	    o->tls_key_file != NULL) {
		char err[320];

		t->tls = transport__tls_config_create(
		    o->tls_ca_file, o->tls_cert_file, o->tls_key_file, err,
		    sizeof(err));
		if (t->tls == NULL) {
			transport__logf(t, TRANSPORT_LOG_ERROR, "%s", err);
			return TRANSPORT_ETLS;
		}
		t->mode |= HS_MODE_TLS;
	}
	if (t->mode == HS_MODE_PLAINTEXT && !o->insecure_plaintext) {
		transport__logf(t, TRANSPORT_LOG_ERROR,
				"no cluster secret and no TLS: refusing to run "
				"unauthenticated unless insecure_plaintext is "
				"set");
		return TRANSPORT_EINVAL;
	}
	if (t->mode == HS_MODE_PLAINTEXT)
		transport__logf(t, TRANSPORT_LOG_WARNING,
				"insecure_plaintext: node links are neither "
				"authenticated nor encrypted");

	t->proto_min = o->proto_min ? o->proto_min : TRANSPORT_PROTO_MIN;
	t->proto_max = o->proto_max ? o->proto_max : TRANSPORT_PROTO_MAX;
	if (t->proto_min > t->proto_max) {
		transport__logf(t, TRANSPORT_LOG_ERROR,
				"protocol version range %u..%u is empty",
				t->proto_min, t->proto_max);
		return TRANSPORT_EINVAL;
	}
	if (t->proto_min < TRANSPORT_PROTO_MIN ||
	    t->proto_max > TRANSPORT_PROTO_MAX) {
		transport__logf(t, TRANSPORT_LOG_ERROR,
				"protocol version range %u..%u is outside the "
				"versions this build speaks (%u..%u)",
				t->proto_min, t->proto_max, TRANSPORT_PROTO_MIN,
				TRANSPORT_PROTO_MAX);
		return TRANSPORT_EINVAL;
	}
	t->handshake_timeout_ms = o->handshake_timeout_ms
				      ? o->handshake_timeout_ms
				      : DEFAULT_HANDSHAKE_TIMEOUT_MS;
	t->reconnect_min_ms = o->reconnect_min_ms ? o->reconnect_min_ms
						  : DEFAULT_RECONNECT_MIN_MS;
	t->reconnect_max_ms = o->reconnect_max_ms ? o->reconnect_max_ms
						  : DEFAULT_RECONNECT_MAX_MS;
	if (t->reconnect_max_ms < t->reconnect_min_ms)
		t->reconnect_max_ms = t->reconnect_min_ms;
	t->queue_max_bytes =
	    o->queue_max_bytes ? o->queue_max_bytes : DEFAULT_QUEUE_MAX_BYTES;
	t->queue_max_frames = o->queue_max_frames ? o->queue_max_frames
						  : DEFAULT_QUEUE_MAX_FRAMES;
	t->max_pending = o->max_pending ? o->max_pending : DEFAULT_MAX_PENDING;
	t->log_interval_ms =
	    o->log_interval_ms ? o->log_interval_ms : DEFAULT_LOG_INTERVAL_MS;
	t->keepalive_ms =
	    o->keepalive_ms ? o->keepalive_ms : DEFAULT_KEEPALIVE_MS;
	t->idle_timeout_ms =
	    o->idle_timeout_ms ? o->idle_timeout_ms : DEFAULT_IDLE_TIMEOUT_MS;
	if (t->idle_timeout_ms <= t->keepalive_ms) {
		transport__logf(t, TRANSPORT_LOG_ERROR,
				"idle_timeout_ms (%u) must exceed keepalive_ms "
				"(%u)",
				t->idle_timeout_ms, t->keepalive_ms);
		return TRANSPORT_EINVAL;
	}
	return TRANSPORT_OK;
}

static int transport_listen(struct transport *t, const char *bind_address)
{
	struct sockaddr_storage ss;
	struct sockaddr_storage bound;
	int len = sizeof(bound);
	int rv;

	rv = transport__addr_resolve_bind(t->loop, bind_address, &ss);
	if (rv != 0) {
		transport__logf(t, TRANSPORT_LOG_ERROR,
				"bind address '%s' is not usable: %s",
				bind_address, uv_strerror(rv));
		return TRANSPORT_EADDR;
	}
	rv = uv_tcp_init(t->loop, &t->server);
	if (rv != 0) {
		transport__logf(t, TRANSPORT_LOG_ERROR,
				"cannot create socket: %s", uv_strerror(rv));
		return TRANSPORT_EADDR;
	}
	t->open_handles++;
	t->listening = true;
	t->server.data = t;
	rv = uv_tcp_bind(&t->server, (struct sockaddr *)&ss, 0);
	if (rv == 0)
		rv = uv_listen((uv_stream_t *)&t->server, LISTEN_BACKLOG,
			       transport_on_connection);
	if (rv == 0)
		rv = uv_tcp_getsockname(&t->server, (struct sockaddr *)&bound,
					&len);
	if (rv != 0) {
		transport__logf(t, TRANSPORT_LOG_ERROR,
				"cannot listen on '%s': %s", bind_address,
				uv_strerror(rv));
		return TRANSPORT_EADDR;
	}
	if (bound.ss_family == AF_INET6)
		t->port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
	else
		t->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
	transport__logf(t, TRANSPORT_LOG_INFO, "listening on %s (port %u)",
			bind_address, t->port);
	return TRANSPORT_OK;
}

int transport_create(uv_loop_t *loop, const struct transport_options *opts,
		     struct transport **out)
{
	struct transport *t;
	int rv;

	*out = NULL;
	if (loop == NULL || opts == NULL)
		return TRANSPORT_EINVAL;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return TRANSPORT_ENOMEM;
	t->loop = loop;
	t->node_id = opts->node_id;
	t->log = opts->log;
	t->data = opts->data;
	t->on_recv = opts->on_recv;
	t->on_link = opts->on_link;
	t->on_cluster_id = opts->on_cluster_id;
	if (!transport__tcrypto_random(&t->rng, sizeof(t->rng)))
		t->rng = uv_hrtime();
	t->rng |= 1;

	rv = transport_configure(t, opts);
	if (rv == TRANSPORT_OK && opts->bind_address != NULL)
		rv = transport_listen(t, opts->bind_address);
	if (rv != TRANSPORT_OK) {
		transport_close(t, NULL);
		return rv;
	}
	*out = t;
	return TRANSPORT_OK;
}

void transport_close(struct transport *t, transport_close_cb cb)
{
	if (t == NULL || t->closing)
		return;
	t->closing = true;
	t->close_cb = cb;
	/* Held while tearing down so nothing frees t midway. */
	t->open_handles++;
	if (t->listening) {
		t->listening = false;
		uv_close((uv_handle_t *)&t->server, transport_on_server_closed);
	}
	for (struct conn *c = t->conns; c != NULL; c = c->next) {
		if (!c->closing)
			transport__conn_close(c, TRANSPORT_LOG_DEBUG,
					      "transport closing");
	}
	while (t->peers != NULL) {
		struct peer *p = t->peers;

		t->peers = p->next;
		transport__peer_remove(p);
	}
	transport__release(t);
}

uint16_t transport_port(const struct transport *t)
{
	return t->port;
}

int transport_set_peers(struct transport *t, const struct transport_peer *peers,
			size_t n)
{
	char host[TRANSPORT_ADDRESS_MAX];
	char port[8];
	struct peer **pp;

	if (t->closing)
		return TRANSPORT_ECLOSED;
	if (n > 0 && peers == NULL)
		return TRANSPORT_EINVAL;
	/* Check everything first so a bad list changes nothing. */
	for (size_t i = 0; i < n; i++) {
		if (peers[i].id == 0 || peers[i].id == t->node_id ||
		    peers[i].address == NULL ||
		    strlen(peers[i].address) >= TRANSPORT_ADDRESS_MAX)
			return TRANSPORT_EINVAL;
		if (transport__addr_split(peers[i].address, host, sizeof(host),
					  port, sizeof(port), false) != 0)
			return TRANSPORT_EADDR;
		for (size_t j = 0; j < i; j++) {
			if (peers[j].id == peers[i].id)
				return TRANSPORT_EINVAL;
		}
	}

	/* Drop the peers that left. */
	pp = &t->peers;
	while (*pp != NULL) {
		struct peer *p = *pp;
		bool keep = false;

		for (size_t i = 0; i < n && !keep; i++)
			keep = peers[i].id == p->id;
		if (keep) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		transport__logf(t, TRANSPORT_LOG_INFO,
				"node %u left the peer list", p->id);
		transport__peer_remove(p);
	}

	for (size_t i = 0; i < n; i++) {
		struct peer *p = transport__find_peer(t, peers[i].id);

		if (p != NULL) {
			if (strcmp(p->address, peers[i].address) != 0) {
				transport__addr_split(peers[i].address, p->host,
						      sizeof(p->host), p->port,
						      sizeof(p->port), false);
				snprintf(p->address, sizeof(p->address), "%s",
					 peers[i].address);
				transport__logf(t, TRANSPORT_LOG_INFO,
						"node %u now at %s", p->id,
						p->address);
			}
			continue;
		}
		p = transport__peer_create(t, peers[i].id, peers[i].address);
		if (p == NULL)
			return TRANSPORT_ENOMEM;
		p->next = t->peers;
		t->peers = p;
		transport__peer_start(p);
	}
	return TRANSPORT_OK;
}

int transport_set_cluster_id(struct transport *t, const uint8_t *cluster_id)
{
	if (cluster_id == NULL)
		return TRANSPORT_EINVAL;
	if (t->cluster_id_known) {
		if (memcmp(t->cluster_id, cluster_id,
			   TRANSPORT_CLUSTER_ID_LEN) != 0)
			return TRANSPORT_ECLUSTER;
		return TRANSPORT_OK;
	}
	memcpy(t->cluster_id, cluster_id, TRANSPORT_CLUSTER_ID_LEN);
	t->cluster_id_known = true;
	return TRANSPORT_OK;
}

bool transport_cluster_id(const struct transport *t, uint8_t *out)
{
	if (!t->cluster_id_known)
		return false;
	memcpy(out, t->cluster_id, TRANSPORT_CLUSTER_ID_LEN);
	return true;
}

int transport_send(struct transport *t, uint32_t peer_id, uint8_t type,
		   const void *bytes, size_t len)
{
	struct peer *p;
	struct qframe *f;
	size_t cost = len + TRANSPORT_QFRAME_OVERHEAD;

	if (t->closing)
		return TRANSPORT_ECLOSED;
	if (type < TRANSPORT_TYPE_MIN || (len > 0 && bytes == NULL))
		return TRANSPORT_EINVAL;
	if (len > TRANSPORT_MAX_PAYLOAD)
		return TRANSPORT_ETOOBIG;
	p = transport__find_peer(t, peer_id);
	if (p == NULL)
		return TRANSPORT_ENOPEER;
	/* Drop the newest: what is queued is older and goes out first. */
	if (p->q_frames >= t->queue_max_frames ||
	    p->q_bytes + cost > t->queue_max_bytes) {
		p->frames_dropped++;
		return TRANSPORT_EQUEUE;
	}
	f = malloc(sizeof(*f) + len);
	if (f == NULL)
		return TRANSPORT_ENOMEM;
	f->next = NULL;
	f->len = len;
	f->type = type;
	if (len > 0)
		memcpy(f->payload, bytes, len);
	if (p->q_tail != NULL)
		p->q_tail->next = f;
	else
		p->q_head = f;
	p->q_tail = f;
	p->q_bytes += cost;
	p->q_frames++;
	if (p->state == TRANSPORT_LINK_UP && p->link != NULL)
		transport__conn_flush(p->link);
	return TRANSPORT_OK;
}

enum transport_link_state transport_link_state(const struct transport *t,
					       uint32_t peer_id)
{
	const struct peer *p = transport__find_peer(t, peer_id);

	return p != NULL ? p->state : TRANSPORT_LINK_DOWN;
}

int transport_peer_stats(const struct transport *t, uint32_t peer_id,
			 struct transport_peer_stats *out)
{
	const struct peer *p = transport__find_peer(t, peer_id);

	if (p == NULL)
		return TRANSPORT_ENOPEER;
	out->state = p->state;
	out->queued_bytes = p->q_bytes;
	out->queued_frames = p->q_frames;
	out->frames_sent = p->frames_sent;
	out->frames_received = p->frames_received;
	out->frames_dropped = p->frames_dropped;
	out->links_established = p->links_established;
	out->protocol_version = p->state == TRANSPORT_LINK_UP && p->link != NULL
				    ? p->link->version
				    : 0;
	return TRANSPORT_OK;
}
