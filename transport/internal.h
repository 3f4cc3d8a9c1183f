/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Shared between the transport's libuv files (transport.c, peer.c, conn.c,
 * addr.c); not part of the API. */
#ifndef TRANSPORT_INTERNAL_H
#define TRANSPORT_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "transport/crypto.h"
#include "transport/frame.h"
#include "transport/handshake.h"
#include "transport/tls.h"
#include "transport/transport.h"

#define TRANSPORT_READ_BUF (64u * 1024u)
/* How much one write to a socket carries at most (plus one frame). */
#define TRANSPORT_WRITE_BATCH (256u * 1024u)
/* A written buffer up to this size is kept for the next frames. */
#define CONN_SPARE_MAX (16u * 1024u * 1024u)
/* The first protocol version whose frames are AES-256-GCM (encrypted and
 * authenticated) rather than HMAC-SHA256 (authenticated only). */
#define TRANSPORT_PROTO_AEAD 2u
/* What a queued frame costs beyond its payload, for the byte limit. */
#define TRANSPORT_QFRAME_OVERHEAD 64u

/* At most TRANSPORT_LOG_BURST lines per interval; the next line after a
 * quiet spell says how many were held back. */
#define TRANSPORT_LOG_BURST 3u
struct ratelimit {
	uint64_t window_start;
	unsigned lines;
	unsigned suppressed;
	bool used;
};

/* Before a peer is authenticated it is only its source address: its lines
 * are limited per address, so that a flood that claims some node's id
 * neither spends that node's budget nor hides its real failures. The least
 * recently used address gives its slot to a new one. */
#define TRANSPORT_SOURCE_LIMITS 16u
struct source_limit {
	char ip[64];
	uint64_t last_used;
	struct ratelimit rl;
};

struct qframe {
	struct qframe *next;
	size_t len;
	uint8_t type;
	uint8_t payload[];
};

struct conn;

struct peer {
	struct transport *t;
	struct peer *next;
	uint32_t id;
	char address[TRANSPORT_ADDRESS_MAX];
	char host[TRANSPORT_ADDRESS_MAX];
	char port[8];
	bool dials;   /* our id is lower: we connect, the peer accepts */
	bool removed; /* no longer in the peer list; freed once idle */

	struct conn *link; /* outbound in progress, or the live link */
	enum transport_link_state state;

	uv_timer_t retry;
	bool retry_open;
	uv_getaddrinfo_t gai;
	bool resolving;
	struct addrinfo *addrs;	    /* results of the last resolution */
	struct addrinfo *next_addr; /* the next one to try */
	unsigned backoff_ms;

	struct qframe *q_head;
	struct qframe *q_tail;
	size_t q_bytes;
	unsigned q_frames;

	uint64_t frames_sent;
	uint64_t frames_received;
	uint64_t frames_dropped;
	uint64_t links_established;

	struct ratelimit rl_fail;
	struct ratelimit rl_state;
};

enum conn_state {
	CONN_CONNECTING = 0, /* TCP connect in progress */
	CONN_TLS,	     /* TLS handshake */
	CONN_HELLO,	     /* waiting for the peer's hello */
	CONN_AUTH,	     /* waiting for the peer's proof */
	CONN_UP,
};

struct conn {
	struct transport *t;
	struct conn *prev;
	struct conn *next;
	struct peer
	    *peer; /* outbound: always; inbound: once its hello passed */
	bool outbound;
	bool closing;
	bool counted_pending; /* inbound and not yet authenticated */
	enum conn_state state;
	int open_handles;

	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_connect_t connect_req;
	char remote[80]; /* for log lines */

	struct tls_conn *tls;
	struct frame_decoder dec;

	struct hs_hello my_hello;
	struct hs_hello peer_hello;
	uint8_t my_hello_raw[HS_HELLO_MAX_LEN];
	size_t my_hello_len;
	uint8_t peer_hello_raw[HS_HELLO_MAX_LEN];
	size_t peer_hello_len;
	uint16_t version;
	uint8_t transcript[HS_TRANSCRIPT_LEN];

	/* Once the session keys exist every frame carries a tag of this
	 * length: protocol 1 HMAC-SHA256 frames, protocol 2 AES-256-GCM. */
	size_t tag_len;
	struct tcrypto_mac *mac_send; /* protocol 1 */
	struct tcrypto_mac *mac_recv;
	struct tcrypto_aead *aead_send; /* protocol 2 and later */
	struct tcrypto_aead *aead_recv;
	/* The next sequence number of each direction. It is the AES-GCM
	 * nonce, so it never wraps: a link that would need UINT64_MAX is
	 * closed instead. */
	uint64_t seq_send;
	uint64_t seq_recv;

	uint64_t last_rx; /* loop time of the last bytes received */
	uint64_t last_tx; /* loop time of the last write started */

	uint8_t *out; /* encoded frames not yet handed to the socket */
	size_t out_len;
	size_t out_cap;
	uv_write_t write_req;
	uint8_t *write_buf;
	size_t write_cap;
	bool writing;
};

struct transport {
	uv_loop_t *loop;
	uint32_t node_id;
	char cluster_name[HS_NAME_MAX + 1];
	uint8_t cluster_id[TRANSPORT_CLUSTER_ID_LEN];
	bool cluster_id_known;
	uint8_t *secret;
	size_t secret_len;
	uint8_t mode; /* enum hs_mode bits */
	struct tls_config *tls;
	uint16_t proto_min;
	uint16_t proto_max;

	unsigned handshake_timeout_ms;
	unsigned reconnect_min_ms;
	unsigned reconnect_max_ms;
	size_t queue_max_bytes;
	unsigned queue_max_frames;
	unsigned max_pending;
	unsigned log_interval_ms;
	unsigned keepalive_ms;
	unsigned idle_timeout_ms;

	transport_recv_cb on_recv;
	transport_link_cb on_link;
	transport_cluster_id_cb on_cluster_id;
	transport_log_cb log;
	void *data;

	uv_tcp_t server;
	bool listening;
	uint16_t port;

	struct peer *peers;
	struct conn *conns;
	unsigned pending_inbound;
	struct ratelimit rl_inbound;
	struct source_limit source_limits[TRANSPORT_SOURCE_LIMITS];

	int open_handles; /* handles and requests not yet finished */
	bool closing;
	transport_close_cb close_cb;
	uint64_t rng;

	uint8_t read_buf[TRANSPORT_READ_BUF];
	uint8_t plain_buf[TRANSPORT_READ_BUF];
};

/* transport.c */
void transport__logf(struct transport *t, enum transport_log_level level,
		     const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void transport__vlog_limited(struct transport *t, struct ratelimit *rl,
			     enum transport_log_level level, const char *fmt,
			     va_list ap);
void transport__log_limited(struct transport *t, struct ratelimit *rl,
			    enum transport_log_level level, const char *fmt,
			    ...) __attribute__((format(printf, 4, 5)));
/* The rate limit of the source address of remote ("ip:port", "[ip]:port"). */
struct ratelimit *transport__source_limit(struct transport *t,
					  const char *remote);
/* A handle or request finished; frees the transport once closing and idle. */
void transport__release(struct transport *t);
uint64_t transport__random(struct transport *t);
struct peer *transport__find_peer(const struct transport *t, uint32_t id);
/* Pins a cluster id learned from an authenticated peer. */
void transport__learn_cluster_id(struct transport *t, const uint8_t *id,
				 uint32_t from);

/* addr.c */
/* Splits "host:port" or "[v6]:port"; port 0 allowed only if allow_zero. */
int transport__addr_split(const char *address, char *host, size_t host_len,
			  char *port, size_t port_len, bool allow_zero);
/* Resolves a bind address (blocking, done once at creation). */
int transport__addr_resolve_bind(uv_loop_t *loop, const char *address,
				 struct sockaddr_storage *out);
void transport__addr_format(const struct sockaddr *sa, char *out, size_t len);

/* peer.c */
struct peer *transport__peer_create(struct transport *t, uint32_t id,
				    const char *address);
void transport__peer_remove(struct peer *p);
void transport__peer_start(struct peer *p);
/* The link (or dial attempt) to p ended; retry if we dial this peer. */
void transport__peer_link_lost(struct peer *p, bool was_up);
void transport__peer_link_up(struct peer *p, struct conn *c);
struct qframe *transport__peer_dequeue(struct peer *p);
void transport__peer_drop_queue(struct peer *p);

/* conn.c */
int transport__conn_dial(struct peer *p, const struct sockaddr *addr);
void transport__conn_accept(struct transport *t);
void transport__conn_close(struct conn *c, enum transport_log_level level,
			   const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void transport__conn_flush(struct conn *c);

#endif
