/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Node-to-node transport: authenticated links between the nodes of one
 * cluster over TCP, driven by the owner's libuv loop. It carries opaque
 * payloads with a one-byte type and knows nothing of what they mean.
 *
 * One logical link per pair of nodes: the node with the lower id dials, the
 * other accepts. Every function must be called on the loop's thread; the
 * callbacks run there too.
 */
#ifndef TRANSPORT_H
#define TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "transport/address.h"

#define TRANSPORT_CLUSTER_ID_LEN 16u
#define TRANSPORT_CLUSTER_NAME_MAX 64u
/* Largest payload of one frame: a 4 MiB Raft entry plus 64 KiB of headers. */
#define TRANSPORT_MAX_PAYLOAD (4u * 1024u * 1024u + 64u * 1024u)
/* Owner frame types are TRANSPORT_TYPE_MIN..255; lower ones are the
 * transport's own. */
#define TRANSPORT_TYPE_MIN 16u
#define TRANSPORT_SECRET_MIN 16u /* bytes */
/* Wire protocol versions this build speaks: in secret mode 1 tags frames
 * with HMAC-SHA256, 2 encrypts and authenticates them with AES-256-GCM.
 * A link speaks the highest both ends share. */
#define TRANSPORT_PROTO_MIN 1u
#define TRANSPORT_PROTO_MAX 2u

enum transport_error {
	TRANSPORT_OK = 0,
	TRANSPORT_EINVAL = -1, /* bad argument or option */
	TRANSPORT_ENOMEM = -2,
	TRANSPORT_ENOPEER = -3, /* no such peer in the peer list */
	TRANSPORT_EQUEUE = -4,	/* the peer's send queue is full: dropped */
	TRANSPORT_ETOOBIG = -5, /* payload above TRANSPORT_MAX_PAYLOAD */
	TRANSPORT_ETLS = -6,	/* TLS files could not be loaded */
	TRANSPORT_EADDR = -7,	/* bad or unusable address */
	TRANSPORT_ECLOSED = -8, /* transport_close() was called */
	TRANSPORT_ECLUSTER = -9 /* a different cluster id is already pinned */
};

enum transport_log_level {
	TRANSPORT_LOG_ERROR = 0,
	TRANSPORT_LOG_WARNING = 1,
	TRANSPORT_LOG_INFO = 2,
	TRANSPORT_LOG_DEBUG = 3,
};

enum transport_link_state {
	TRANSPORT_LINK_DOWN = 0,       /* no connection, or waiting to retry */
	TRANSPORT_LINK_CONNECTING = 1, /* resolving, connecting, handshaking */
	TRANSPORT_LINK_UP = 2,	       /* authenticated; frames flow */
};

struct transport;

/* A frame from peer_id. `bytes` is valid only during the call. */
typedef void (*transport_recv_cb)(void *data, uint32_t peer_id, uint8_t type,
				  const uint8_t *bytes, size_t len);
/* The link to peer_id went up or down. */
typedef void (*transport_link_cb)(void *data, uint32_t peer_id,
				  enum transport_link_state state);
/* A joining node learned the cluster id from an authenticated peer; the
 * owner should store it durably. */
typedef void (*transport_cluster_id_cb)(void *data, const uint8_t *cluster_id);
typedef void (*transport_log_cb)(void *data, enum transport_log_level level,
				 const char *message);
typedef void (*transport_close_cb)(void *data);

struct transport_options {
	uint32_t node_id;	  /* 1..; this node */
	const char *cluster_name; /* 1..64 printable ASCII characters */
	uint8_t cluster_id[TRANSPORT_CLUSTER_ID_LEN];
	bool cluster_id_known; /* false: pin the first authenticated peer's */

	/* Shared-secret authentication (at least TRANSPORT_SECRET_MIN bytes of
	 * random data). Copied. */
	const uint8_t *secret;
	size_t secret_len;
	/* Mutual TLS with a cluster CA; all three or none. */
	const char *tls_ca_file;
	const char *tls_cert_file;
	const char *tls_key_file;
	/* Neither a secret nor TLS: refused unless this is set. */
	bool insecure_plaintext;

	/* "host:port" to listen on ("[::1]:7000", "0.0.0.0:7000", port 0
	 * picks a free one). NULL: do not listen (a node that only dials). */
	const char *bind_address;

	/* Zero picks the default shown. */
	unsigned handshake_timeout_ms; /* 5000 */
	unsigned reconnect_min_ms;     /* 100 */
	unsigned reconnect_max_ms;     /* 5000 */
	size_t queue_max_bytes;	       /* 16 MiB (at least one largest frame) */
	unsigned queue_max_frames;     /* 4096 */
	unsigned max_pending;	       /* 32 unauthenticated inbound links */
	unsigned log_interval_ms;      /* 10000: repeats of one complaint */
	unsigned keepalive_ms;	  /* 1000: a ping on a link idle this long */
	unsigned idle_timeout_ms; /* 5000: silence that ends a link */
	/* Within TRANSPORT_PROTO_MIN..TRANSPORT_PROTO_MAX. */
	uint16_t proto_min; /* TRANSPORT_PROTO_MIN */
	uint16_t proto_max; /* TRANSPORT_PROTO_MAX */

	transport_recv_cb on_recv;
	transport_link_cb on_link;
	transport_cluster_id_cb on_cluster_id;
	transport_log_cb log;
	void *data; /* passed to every callback */
};

struct transport_peer {
	uint32_t id;
	const char *address; /* advertised "host:port" */
};

struct transport_peer_stats {
	enum transport_link_state state;
	size_t queued_bytes;
	unsigned queued_frames;
	uint64_t frames_sent;
	uint64_t frames_received;
	uint64_t frames_dropped; /* refused because the queue was full */
	uint64_t links_established;
	uint16_t protocol_version; /* negotiated on the live link, else 0 */
};

const char *transport_strerror(int rv);

/* Checks the options, loads TLS files, binds and listens. */
int transport_create(uv_loop_t *loop, const struct transport_options *opts,
		     struct transport **out);
/* Closes every link and handle; cb (may be NULL) runs once all are closed
 * and the transport is freed. */
void transport_close(struct transport *t, transport_close_cb cb);

/* The port actually bound (useful with port 0), or 0. */
uint16_t transport_port(const struct transport *t);

/* Replaces the peer list. Peers no longer listed are disconnected and their
 * queues dropped; new ones are dialed (if their id is higher than ours);
 * a changed address is used from the next connection attempt. */
int transport_set_peers(struct transport *t, const struct transport_peer *peers,
			size_t n);

/* Pins the cluster id (a node that created or joined a cluster). Fails with
 * TRANSPORT_ECLUSTER if a different one is pinned already. */
int transport_set_cluster_id(struct transport *t, const uint8_t *cluster_id);
/* Copies the pinned cluster id into out; false if none is known yet. */
bool transport_cluster_id(const struct transport *t, uint8_t *out);

/* Queues one frame for peer_id. The payload is copied. When the peer's
 * queue is full the new frame is dropped (TRANSPORT_EQUEUE): Raft resends. */
int transport_send(struct transport *t, uint32_t peer_id, uint8_t type,
		   const void *bytes, size_t len);

enum transport_link_state transport_link_state(const struct transport *t,
					       uint32_t peer_id);
int transport_peer_stats(const struct transport *t, uint32_t peer_id,
			 struct transport_peer_stats *out);

#endif
