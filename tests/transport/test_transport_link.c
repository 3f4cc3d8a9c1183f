/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Loopback tests of whole links: real sockets on 127.0.0.1, 127.0.0.2 and
 * [::1], real handshakes, hostile clients and a man in the middle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sys/stat.h>
#include <unistd.h>

#include "tests/transport/harness.h"
#include "transport/frame.h"
#include "transport/handshake.h"
#include "transport/internal.h"

#define TYPE_DATA 42

/* ---- a raw TCP client that sends whatever the test wants ---- */

struct raw {
	uv_tcp_t tcp;
	uv_connect_t req;
	bool connected;
	bool failed;
	bool eof; /* the transport closed the connection */
	bool closed;
	size_t received;
	uint8_t rbuf[4096];
};

static void raw_on_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
	struct raw *r = h->data;

	(void)size;
	*buf = uv_buf_init((char *)r->rbuf, sizeof(r->rbuf));
}

static void raw_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct raw *r = s->data;

	(void)buf;
	if (n < 0)
		r->eof = true;
	else
		r->received += (size_t)n;
}

static void raw_on_connect(uv_connect_t *req, int status)
{
	struct raw *r = req->data;

	if (status < 0) {
		r->failed = true;
		return;
	}
	r->connected = true;
	uv_read_start((uv_stream_t *)&r->tcp, raw_on_alloc, raw_on_read);
}

static bool raw_ready(void *arg)
{
	struct raw *r = arg;

	return r->connected || r->failed;
}

static bool raw_answered(void *arg)
{
	return ((struct raw *)arg)->received > 0;
}

static bool raw_eof(void *arg)
{
	return ((struct raw *)arg)->eof;
}

/* Connects a raw client, from a source address of our choice on loopback
 * (so that one test can show two different peers) or, with source NULL,
 * from the one the kernel picks. */
static void raw_connect_from(struct raw *r, const char *source, const char *ip,
			     uint16_t port)
{
	struct sockaddr_in sa, src;

	memset(r, 0, sizeof(*r));
	assert_int_equal(uv_ip4_addr(ip, port, &sa), 0);
	uv_tcp_init(&test_loop, &r->tcp);
	r->tcp.data = r;
	r->req.data = r;
	if (source != NULL) {
		assert_int_equal(uv_ip4_addr(source, 0, &src), 0);
		assert_int_equal(
		    uv_tcp_bind(&r->tcp, (struct sockaddr *)&src, 0), 0);
	}
	assert_int_equal(uv_tcp_connect(&r->req, &r->tcp,
					(struct sockaddr *)&sa, raw_on_connect),
			 0);
	assert_true(run_until(raw_ready, r, 2000));
	assert_true(r->connected);
}

static void raw_connect(struct raw *r, const char *ip, uint16_t port)
{
	raw_connect_from(r, NULL, ip, port);
}

static void raw_on_write(uv_write_t *req, int status)
{
	(void)status;
	free(req);
}

static void raw_send(struct raw *r, const void *bytes, size_t len)
{
	uv_write_t *req = malloc(sizeof(*req) + len);
	uv_buf_t buf;

	assert_non_null(req);
	memcpy(req + 1, bytes, len);
	buf = uv_buf_init((char *)(req + 1), (unsigned)len);
	assert_int_equal(
	    uv_write(req, (uv_stream_t *)&r->tcp, &buf, 1, raw_on_write), 0);
}

static void raw_on_closed(uv_handle_t *h)
{
	((struct raw *)h->data)->closed = true;
}

static bool raw_closed(void *arg)
{
	return ((struct raw *)arg)->closed;
}

static void raw_close(struct raw *r)
{
	if (!uv_is_closing((uv_handle_t *)&r->tcp))
		uv_close((uv_handle_t *)&r->tcp, raw_on_closed);
	run_until(raw_closed, r, 1000);
}

/* A handshake frame carrying a hello, as a peer would send it. */
static size_t build_hello_frame(uint8_t *out, uint32_t from, uint32_t to,
				uint8_t mode)
{
	struct hs_hello h;
	struct frame_header fh = {FRAME_VERSION, FRAME_HELLO, 0, 0, 0};
	int n;

	memset(&h, 0, sizeof(h));
	h.proto_min = 1;
	h.proto_max = 1;
	h.node_id = from;
	h.target_id = to;
	h.mode = mode;
	h.flags = HS_FLAG_CLUSTER_ID_KNOWN;
	memcpy(h.cluster_id, cluster_a, sizeof(cluster_a));
	strcpy(h.cluster_name, "test");
	n = transport__hs_hello_encode(&h, out + FRAME_HEADER_LEN,
				       HS_HELLO_MAX_LEN);
	assert_true(n > 0);
	fh.length = (uint32_t)n;
	transport__frame_header_encode(out, &fh);
	return FRAME_HEADER_LEN + (size_t)n;
}

/* ---- a man in the middle between a dialer and its acceptor ---- */

enum proxy_mode {
	PROXY_PASS,
	PROXY_REPLAY,	      /* sends the first data frame twice */
	PROXY_CORRUPT,	      /* flips a payload bit of the first data frame */
	PROXY_CORRUPT_HEADER, /* flips a bit of its type */
	PROXY_CORRUPT_TAG,    /* flips a bit of its tag */
	PROXY_REORDER,	      /* sends the second data frame first */
	PROXY_OVERSIZE,	      /* injects a header announcing a huge frame */
};

struct proxy {
	enum proxy_mode mode;
	uv_tcp_t server;
	uv_tcp_t a; /* from the dialer */
	uv_tcp_t b; /* to the acceptor */
	uv_connect_t req;
	uint16_t port;
	uint16_t target_port;
	bool a_open;
	bool b_open;
	bool b_connected;
	uint8_t *pending; /* dialer bytes not yet split into frames */
	size_t pending_len;
	unsigned frames; /* dialer frames forwarded */
	size_t tag_len;	 /* of the frames after the two handshake frames */
	bool acted;
	uint8_t *captured; /* the first data frame as it went by */
	size_t captured_len;
	uint8_t *held; /* PROXY_REORDER: the first data frame, held back */
	size_t held_len;
	bool blackhole; /* drop everything from now on, both ways */
	uint8_t rbuf[65536];
};

static void proxy_on_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
	struct proxy *p = h->data;

	(void)size;
	*buf = uv_buf_init((char *)p->rbuf, sizeof(p->rbuf));
}

static void proxy_write(uv_tcp_t *to, const uint8_t *bytes, size_t len)
{
	uv_write_t *req = malloc(sizeof(*req) + len);
	uv_buf_t buf;

	assert_non_null(req);
	memcpy(req + 1, bytes, len);
	buf = uv_buf_init((char *)(req + 1), (unsigned)len);
	if (uv_write(req, (uv_stream_t *)to, &buf, 1, raw_on_write) != 0)
		free(req);
}

static void proxy_shut(struct proxy *p)
{
	if (p->a_open && !uv_is_closing((uv_handle_t *)&p->a))
		uv_close((uv_handle_t *)&p->a, NULL);
	if (p->b_open && !uv_is_closing((uv_handle_t *)&p->b))
		uv_close((uv_handle_t *)&p->b, NULL);
}

/* Splits the dialer's stream into frames (the first two are untagged
 * handshake frames) and forwards them, tampering as the mode says. */
static void proxy_from_a(struct proxy *p, const uint8_t *data, size_t len)
{
	uint8_t *buf = realloc(p->pending, p->pending_len + len);

	assert_non_null(buf);
	p->pending = buf;
	memcpy(p->pending + p->pending_len, data, len);
	p->pending_len += len;
	for (;;) {
		struct frame_header h;
		size_t tag = p->frames < 2 ? 0 : p->tag_len;
		size_t whole;

		if (transport__frame_header_decode(p->pending, p->pending_len,
						   FRAME_MAX_PAYLOAD,
						   &h) != FRAME_OK)
			return;
		whole = FRAME_HEADER_LEN + h.length + tag;
		if (p->pending_len < whole)
			return;
		if (p->frames == 2 && !p->acted) {
			p->acted = true;
			p->captured = malloc(whole);
			assert_non_null(p->captured);
			memcpy(p->captured, p->pending, whole);
			p->captured_len = whole;
			if (p->mode == PROXY_CORRUPT)
				p->pending[FRAME_HEADER_LEN] ^= 1;
			/* Still a type of the owner's, so only the tag can
			 * tell. */
			if (p->mode == PROXY_CORRUPT_HEADER)
				p->pending[1] ^= 0x20;
			if (p->mode == PROXY_CORRUPT_TAG)
				p->pending[whole - 1] ^= 0x80;
			if (p->mode == PROXY_OVERSIZE) {
				struct frame_header big = {
				    FRAME_VERSION, TYPE_DATA, 0,
				    FRAME_MAX_PAYLOAD + 1, h.seq};
				uint8_t hdr[FRAME_HEADER_LEN];

				transport__frame_header_encode(hdr, &big);
				proxy_write(&p->b, hdr, sizeof(hdr));
			}
		}
		if (p->mode == PROXY_REORDER && p->frames == 2) {
			p->held = malloc(whole);
			assert_non_null(p->held);
			memcpy(p->held, p->pending, whole);
			p->held_len = whole;
		} else if (p->mode != PROXY_OVERSIZE || p->frames != 2) {
			proxy_write(&p->b, p->pending, whole);
		}
		if (p->mode == PROXY_REORDER && p->frames == 3)
			proxy_write(&p->b, p->held, p->held_len);
		if (p->mode == PROXY_REPLAY && p->frames == 2)
			proxy_write(&p->b, p->pending, whole);
		p->frames++;
		memmove(p->pending, p->pending + whole, p->pending_len - whole);
		p->pending_len -= whole;
	}
}

static void proxy_on_read_a(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct proxy *p = s->data;

	/* A black hole passes no close either: each end must find out by
	 * itself that nothing comes any more. */
	if (n < 0 && p->blackhole) {
		uv_read_stop(s);
		return;
	}
	if (n < 0) {
		proxy_shut(p);
		return;
	}
	if (p->blackhole)
		return;
	proxy_from_a(p, (const uint8_t *)buf->base, (size_t)n);
}

static void proxy_on_read_b(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct proxy *p = s->data;

	/* A black hole passes no close either: each end must find out by
	 * itself that nothing comes any more. */
	if (n < 0 && p->blackhole) {
		uv_read_stop(s);
		return;
	}
	if (n < 0) {
		proxy_shut(p);
		return;
	}
	if (p->blackhole)
		return;
	proxy_write(&p->a, (const uint8_t *)buf->base, (size_t)n);
}

static void proxy_on_connect(uv_connect_t *req, int status)
{
	struct proxy *p = req->data;

	if (status < 0) {
		proxy_shut(p);
		return;
	}
	p->b_connected = true;
	uv_read_start((uv_stream_t *)&p->b, proxy_on_alloc, proxy_on_read_b);
	uv_read_start((uv_stream_t *)&p->a, proxy_on_alloc, proxy_on_read_a);
}

static void proxy_on_connection(uv_stream_t *server, int status)
{
	struct proxy *p = server->data;
	struct sockaddr_in sa;

	if (status < 0 || p->a_open)
		return; /* one link is all a test needs */
	uv_tcp_init(&test_loop, &p->a);
	p->a.data = p;
	p->a_open = true;
	if (uv_accept(server, (uv_stream_t *)&p->a) != 0)
		return;
	uv_tcp_init(&test_loop, &p->b);
	p->b.data = p;
	p->b_open = true;
	uv_ip4_addr("127.0.0.1", p->target_port, &sa);
	p->req.data = p;
	uv_tcp_connect(&p->req, &p->b, (struct sockaddr *)&sa,
		       proxy_on_connect);
}

static void proxy_start(struct proxy *p, enum proxy_mode mode,
			uint16_t target_port)
{
	struct sockaddr_in sa;
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	memset(p, 0, sizeof(*p));
	p->mode = mode;
	p->tag_len = FRAME_TAG_LEN_V2; /* both ends speak protocol 2 */
	p->target_port = target_port;
	uv_tcp_init(&test_loop, &p->server);
	p->server.data = p;
	uv_ip4_addr("127.0.0.1", 0, &sa);
	assert_int_equal(uv_tcp_bind(&p->server, (struct sockaddr *)&sa, 0), 0);
	assert_int_equal(
	    uv_listen((uv_stream_t *)&p->server, 8, proxy_on_connection), 0);
	uv_tcp_getsockname(&p->server, (struct sockaddr *)&ss, &len);
	p->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void proxy_stop(struct proxy *p)
{
	proxy_shut(p);
	uv_close((uv_handle_t *)&p->server, NULL);
	run_for(20);
	free(p->pending);
	free(p->captured);
	free(p->held);
}

/* A port nobody listens on: bound, read, released. */
static uint16_t dead_port(void)
{
	uv_tcp_t tcp;
	struct sockaddr_in sa;
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	uint16_t port;

	uv_tcp_init(&test_loop, &tcp);
	uv_ip4_addr("127.0.0.1", 0, &sa);
	assert_int_equal(uv_tcp_bind(&tcp, (struct sockaddr *)&sa, 0), 0);
	uv_tcp_getsockname(&tcp, (struct sockaddr *)&ss, &len);
	port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	uv_close((uv_handle_t *)&tcp, NULL);
	run_for(5);
	return port;
}

static void set_one_peer(struct node *n, uint32_t id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_one_peer(struct node *n, uint32_t id, const char *fmt, ...)
{
	char addr[TRANSPORT_ADDRESS_MAX];
	struct transport_peer peer;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(addr, sizeof(addr), fmt, ap);
	va_end(ap);
	peer.id = id;
	peer.address = addr;
	assert_int_equal(transport_set_peers(n->t, &peer, 1), 0);
}

/* Starts two nodes with the given options and meshes them. */
static void start_pair(struct node *a, struct transport_options *oa,
		       struct node *b, struct transport_options *ob)
{
	struct node *nodes[2] = {a, b};

	assert_int_equal(node_start(a, oa), 0);
	assert_int_equal(node_start(b, ob), 0);
	mesh(nodes, 2);
}

/* Neither side reports a link, and neither received anything. */
static void assert_never_linked(struct node *a, struct node *b)
{
	run_for(150);
	assert_int_not_equal(transport_link_state(a->t, b->id),
			     TRANSPORT_LINK_UP);
	assert_int_not_equal(transport_link_state(b->t, a->id),
			     TRANSPORT_LINK_UP);
	assert_int_equal(a->ups + b->ups, 0);
	assert_int_equal(a->recv_count + b->recv_count, 0);
}

static uint8_t *pattern(size_t len, unsigned seed)
{
	uint8_t *p = malloc(len > 0 ? len : 1);

	assert_non_null(p);
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 31u + seed);
	return p;
}

/* Sends len pattern bytes from a to b and checks they arrive intact. */
static void exchange(struct node *a, struct node *b, size_t len, unsigned seed)
{
	uint8_t *data = pattern(len, seed);
	unsigned before = b->recv_count;

	assert_int_equal(transport_send(a->t, b->id, TYPE_DATA, data, len), 0);
	assert_true(wait_count(&b->recv_count, before + 1, 5000));
	assert_int_equal(b->last_from, a->id);
	assert_int_equal(b->last_type, TYPE_DATA);
	assert_int_equal(b->last_len, len);
	if (len > 0)
		assert_memory_equal(b->last_payload, data, len);
	free(data);
}

/* ---- tests ---- */

/* The protocol version of the live link from n to peer, 0 if none. */
static uint16_t link_version(struct node *n, uint32_t peer)
{
	struct transport_peer_stats st;

	assert_int_equal(transport_peer_stats(n->t, peer, &st), 0);
	return st.protocol_version;
}

/* Frames of every size cross a secret-mode link of both ends speaking
 * protocol versions up to proto_max, both ways, intact and in order. */
static void secret_link_carries_frames(uint16_t proto_max)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);

	oa.proto_max = ob.proto_max = proto_max;
	start_pair(&a, &oa, &b, &ob);
	assert_true(wait_linked(&a, &b, 3000));
	assert_true(node_log_has(&a, "link to node 2 up"));
	assert_true(node_log_has(&b, "link to node 1 up"));
	assert_int_equal(link_version(&a, 2), proto_max);
	assert_int_equal(link_version(&b, 1), proto_max);
	exchange(&a, &b, 0, 1);
	exchange(&a, &b, 1, 6);
	exchange(&b, &a, 1, 7);
	exchange(&a, &b, 100, 2);
	exchange(&a, &b, 4096, 8);
	exchange(&b, &a, 4096, 9);
	exchange(&b, &a, 70000, 3);
	/* The largest frame: a 4 MiB entry plus 64 KiB of headers. */
	exchange(&a, &b, TRANSPORT_MAX_PAYLOAD, 4);
	exchange(&b, &a, TRANSPORT_MAX_PAYLOAD, 5);
	/* Many small frames in a row keep their order and count. */
	for (unsigned i = 0; i < 500; i++) {
		uint8_t byte = (uint8_t)i;

		assert_int_equal(transport_send(a.t, 2, TYPE_DATA, &byte, 1),
				 0);
	}
	assert_true(wait_count(&b.recv_count, 503, 5000));
	assert_int_equal(b.last_payload[0], (uint8_t)499);
	assert_int_equal(a.ups, 1);
	assert_int_equal(b.ups, 1);
	node_free(&a);
	node_free(&b);
}

/* Two nodes of this build link at protocol 2 (AES-256-GCM frames). */
static void test_secret_link_carries_frames(void **state)
{
	(void)state;
	secret_link_carries_frames(TRANSPORT_PROTO_MAX);
}

/* Protocol 1 (HMAC-SHA256 frames) still works between two nodes. */
static void test_secret_v1_link_carries_frames(void **state)
{
	(void)state;
	secret_link_carries_frames(1);
}

static void test_send_rejects_bad_arguments(void **state)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);
	uint8_t byte = 0;

	(void)state;
	start_pair(&a, &oa, &b, &ob);
	assert_int_equal(transport_send(a.t, 9, TYPE_DATA, &byte, 1),
			 TRANSPORT_ENOPEER);
	assert_int_equal(transport_send(a.t, 2, 3, &byte, 1), TRANSPORT_EINVAL);
	assert_int_equal(transport_send(a.t, 2, TYPE_DATA, NULL, 1),
			 TRANSPORT_EINVAL);
	assert_int_equal(
	    transport_send(a.t, 2, TYPE_DATA, &byte, TRANSPORT_MAX_PAYLOAD + 1),
	    TRANSPORT_ETOOBIG);
	{
		struct transport_peer bad[2] = {{2, "127.0.0.1:1"},
						{2, "127.0.0.1:2"}};
		struct transport_peer self = {1, "127.0.0.1:1"};
		struct transport_peer noport = {3, "127.0.0.1"};
		struct transport_peer v6 = {3, "::1:7000"};

		assert_int_equal(transport_set_peers(a.t, bad, 2),
				 TRANSPORT_EINVAL);
		assert_int_equal(transport_set_peers(a.t, &self, 1),
				 TRANSPORT_EINVAL);
		assert_int_equal(transport_set_peers(a.t, &noport, 1),
				 TRANSPORT_EADDR);
		assert_int_equal(transport_set_peers(a.t, &v6, 1),
				 TRANSPORT_EADDR);
	}
	/* The failed calls changed nothing. */
	assert_true(wait_linked(&a, &b, 3000));
	node_free(&a);
	node_free(&b);
}

static void test_options_are_checked(void **state)
{
	struct node a;
	struct transport_options o;
	struct transport *t = NULL;

	(void)state;
	o = node_opts(&a, 1);
	o.secret = NULL;
	o.secret_len = 0;
	assert_int_equal(transport_create(&test_loop, &o, &t),
			 TRANSPORT_EINVAL);
	assert_null(t);
	assert_true(node_log_has(&a, "insecure_plaintext"));

	o = node_opts(&a, 1);
	o.secret_len = 8;
	assert_int_equal(transport_create(&test_loop, &o, &t),
			 TRANSPORT_EINVAL);
	o = node_opts(&a, 0);
	assert_int_equal(transport_create(&test_loop, &o, &t),
			 TRANSPORT_EINVAL);
	o = node_opts(&a, 1);
	o.cluster_name = "has space";
	assert_int_equal(transport_create(&test_loop, &o, &t),
			 TRANSPORT_EINVAL);
	o = node_opts(&a, 1);
	o.bind_address = "127.0.0.1";
	assert_int_equal(transport_create(&test_loop, &o, &t), TRANSPORT_EADDR);
	o = node_opts(&a, 1);
	o.keepalive_ms = 500;
	o.idle_timeout_ms = 500;
	assert_int_equal(transport_create(&test_loop, &o, &t),
			 TRANSPORT_EINVAL);
	assert_true(node_log_has(&a, "must exceed keepalive_ms"));
	o = node_opts(&a, 1);
	o.proto_max = TRANSPORT_PROTO_MAX + 1;
	assert_int_equal(transport_create(&test_loop, &o, &t),
			 TRANSPORT_EINVAL);
	assert_true(node_log_has(&a, "outside the versions this build speaks"));
	o = node_opts(&a, 1);
	o.proto_min = 2;
	o.proto_max = 1;
	assert_int_equal(transport_create(&test_loop, &o, &t),
			 TRANSPORT_EINVAL);
	assert_true(node_log_has(&a, "protocol version range 2..1 is empty"));
	o = node_opts(&a, 1);
	o.tls_ca_file = "/nonexistent/ca.crt";
	o.tls_cert_file = "/nonexistent/node.crt";
	o.tls_key_file = "/nonexistent/node.key";
	assert_int_equal(transport_create(&test_loop, &o, &t), TRANSPORT_ETLS);
	run_for(10);
}

static void test_plaintext_only_when_asked(void **state)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);

	(void)state;
	oa.secret = ob.secret = NULL;
	oa.secret_len = ob.secret_len = 0;
	oa.insecure_plaintext = ob.insecure_plaintext = true;
	start_pair(&a, &oa, &b, &ob);
	assert_true(node_log_has(&a, "neither authenticated nor encrypted"));
	assert_true(wait_linked(&a, &b, 3000));
	exchange(&a, &b, 1000, 7);
	exchange(&b, &a, 1000, 8);
	node_free(&a);
	node_free(&b);
}

static void test_security_mode_mismatch_refused(void **state)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);

	(void)state;
	oa.secret = NULL;
	oa.secret_len = 0;
	oa.insecure_plaintext = true;
	start_pair(&a, &oa, &b, &ob);
	assert_true(
	    wait_log(&b, "uses security mode plaintext, we use secret", 3000));
	assert_never_linked(&a, &b);
	node_free(&a);
	node_free(&b);
}

static void test_wrong_secret_refused(void **state)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);

	(void)state;
	ob.secret = other_secret;
	start_pair(&a, &oa, &b, &ob);
	assert_true(wait_log(&b, "does not hold our cluster secret", 3000));
	assert_never_linked(&a, &b);
	node_free(&a);
	node_free(&b);
}

static void test_wrong_cluster_name_refused(void **state)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);

	(void)state;
	ob.cluster_name = "other";
	start_pair(&a, &oa, &b, &ob);
	assert_true(
	    wait_log(&b, "is in cluster 'test', we are in 'other'", 3000));
	assert_never_linked(&a, &b);
	node_free(&a);
	node_free(&b);
}

/* Two clusters with one name, one secret, on one host: never one link. */
static void test_same_name_other_cluster_refused(void **state)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);

	(void)state;
	memcpy(ob.cluster_id, cluster_b, sizeof(cluster_b));
	start_pair(&a, &oa, &b, &ob);
	/* The acceptor refuses before saying anything about itself. */
	assert_true(wait_log(&b, "belongs to another cluster", 3000));
	assert_true(wait_log(&a, "connection closed by the peer", 3000));
	assert_never_linked(&a, &b);
	node_free(&a);
	node_free(&b);
}

static void test_unknown_node_refused(void **state)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);

	(void)state;
	assert_int_equal(node_start(&a, &oa), 0);
	assert_int_equal(node_start(&b, &ob), 0);
	set_one_peer(&a, 2, "127.0.0.1:%u", transport_port(b.t));
	/* b knows a node 3, not node 1. */
	set_one_peer(&b, 3, "127.0.0.1:%u", dead_port());
	assert_true(
	    wait_log(&b, "unknown node id 1 (not in the peer list)", 3000));
	assert_int_not_equal(transport_link_state(a.t, 2), TRANSPORT_LINK_UP);
	assert_int_equal(a.ups + b.ups, 0);
	node_free(&a);
	node_free(&b);
}

static void test_duplicate_node_id_refused(void **state)
{
	struct node b, imp;
	struct transport_options ob = node_opts(&b, 2);
	struct transport_options oi = node_opts(&imp, 2);

	(void)state;
	/* An impostor with b's own id that believes b is node 3. */
	assert_int_equal(node_start(&b, &ob), 0);
	assert_int_equal(node_start(&imp, &oi), 0);
	set_one_peer(&b, 1, "127.0.0.1:%u", dead_port());
	set_one_peer(&imp, 3, "127.0.0.1:%u", transport_port(b.t));
	assert_true(
	    wait_log(&b, "claims our own node id 2 (duplicate node id)", 3000));
	assert_int_equal(b.ups + imp.ups, 0);
	node_free(&b);
	node_free(&imp);
}

static void test_no_common_version_refused(void **state)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);

	(void)state;
	oa.proto_max = 1;
	ob.proto_min = 2;
	ob.proto_max = 2;
	start_pair(&a, &oa, &b, &ob);
	assert_true(wait_log(&b,
			     "no common protocol version (node 1 speaks "
			     "1..1, we speak 2..2)",
			     3000));
	assert_never_linked(&a, &b);
	node_free(&a);
	node_free(&b);
}

/* Overlapping ranges meet at the highest version both speak. */
static void test_version_negotiated(void **state)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);

	(void)state;
	oa.proto_min = 1;
	oa.proto_max = 2;
	ob.proto_min = 2;
	ob.proto_max = 2;
	start_pair(&a, &oa, &b, &ob);
	assert_true(wait_linked(&a, &b, 3000));
	assert_true(node_log_has(&a, "protocol v2"));
	assert_true(node_log_has(&b, "protocol v2"));
	assert_int_equal(link_version(&a, 2), 2);
	assert_int_equal(link_version(&b, 1), 2);
	node_free(&a);
	node_free(&b);
}

/* What a man in the middle sees of one data frame of pattern(len, seed)
 * from a to b on a link of the given protocol versions: the frame as it
 * went by, checked to arrive intact. */
static void observe_data_frame(uint16_t a_max, uint16_t b_max,
			       uint16_t want_version, size_t len,
			       uint8_t **frame, size_t *frame_len)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);
	struct proxy px;

	oa.proto_max = a_max;
	ob.proto_max = b_max;
	assert_int_equal(node_start(&a, &oa), 0);
	assert_int_equal(node_start(&b, &ob), 0);
	proxy_start(&px, PROXY_PASS, transport_port(b.t));
	px.tag_len = want_version >= 2 ? FRAME_TAG_LEN_V2 : FRAME_TAG_LEN_V1;
	set_one_peer(&a, 2, "127.0.0.1:%u", px.port);
	set_one_peer(&b, 1, "127.0.0.1:%u", transport_port(a.t));
	assert_true(wait_linked(&a, &b, 3000));
	assert_int_equal(link_version(&a, 2), want_version);
	assert_int_equal(link_version(&b, 1), want_version);
	exchange(&a, &b, len, 11);
	assert_non_null(px.captured);
	*frame = px.captured;
	*frame_len = px.captured_len;
	px.captured = NULL;
	proxy_stop(&px);
	node_free(&a);
	node_free(&b);
}

/* A node of an older build (protocol 1 only) and one of this build link
 * at protocol 1, with HMAC-SHA256 tags and the payload in the clear,
 * whichever of the two dials: a cluster upgrades one node at a time. */
static void test_mixed_versions_link_at_v1(void **state)
{
	const size_t len = 4096;
	uint8_t *data = pattern(len, 11);

	(void)state;
	for (int older_dials = 0; older_dials < 2; older_dials++) {
		uint8_t *frame;
		size_t frame_len;

		observe_data_frame(older_dials ? 1 : 2, older_dials ? 2 : 1, 1,
				   len, &frame, &frame_len);
		assert_int_equal(frame_len,
				 FRAME_HEADER_LEN + len + FRAME_TAG_LEN_V1);
		assert_memory_equal(frame + FRAME_HEADER_LEN, data, len);
		free(frame);
	}
	free(data);
}

/* On a protocol 2 link the payload is encrypted on the wire: none of it
 * shows through, and the tag is 16 bytes. */
static void test_v2_payload_encrypted(void **state)
{
	const size_t len = 4096;
	uint8_t *data = pattern(len, 11);
	uint8_t *frame;
	size_t frame_len;

	(void)state;
	observe_data_frame(2, 2, 2, len, &frame, &frame_len);
	assert_int_equal(frame_len, FRAME_HEADER_LEN + len + FRAME_TAG_LEN_V2);
	assert_int_equal(frame[1], TYPE_DATA); /* the header stays clear */
	for (size_t off = 0; off + 16 <= len; off += 16)
		assert_null(
		    memmem(frame + FRAME_HEADER_LEN, len, data + off, 16));
	free(frame);
	free(data);
}

/* A joining node learns the cluster id from its first authenticated peer,
 * and from then on refuses a same-named cluster with another id. */
static void test_joining_node_pins_cluster_id(void **state)
{
	struct node a, j, other;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options oj = node_opts(&j, 2);
	struct transport_options oo = node_opts(&other, 3);
	uint8_t id[16];

	(void)state;
	oj.cluster_id_known = false;
	memset(oj.cluster_id, 0, sizeof(oj.cluster_id));
	memcpy(oo.cluster_id, cluster_b, sizeof(cluster_b));
	assert_int_equal(node_start(&a, &oa), 0);
	assert_int_equal(node_start(&j, &oj), 0);
	assert_false(transport_cluster_id(j.t, id));
	set_one_peer(&a, 2, "127.0.0.1:%u", transport_port(j.t));
	set_one_peer(&j, 1, "127.0.0.1:%u", transport_port(a.t));
	assert_true(wait_linked(&a, &j, 3000));
	assert_true(j.learned);
	assert_memory_equal(j.learned_id, cluster_a, 16);
	assert_true(transport_cluster_id(j.t, id));
	assert_memory_equal(id, cluster_a, 16);
	assert_true(node_log_has(&j, "learned cluster id a1a2a3a4a5a6"));
	assert_int_equal(transport_set_cluster_id(j.t, cluster_b),
			 TRANSPORT_ECLUSTER);
	assert_int_equal(transport_set_cluster_id(j.t, cluster_a), 0);

	/* Node 3 of another cluster named "test" dials j (2 < 3: j dials). */
	assert_int_equal(node_start(&other, &oo), 0);
	{
		char a_addr[64], o_addr[64];
		struct transport_peer peers[2] = {{1, a_addr}, {3, o_addr}};

		snprintf(a_addr, sizeof(a_addr), "127.0.0.1:%u",
			 transport_port(a.t));
		snprintf(o_addr, sizeof(o_addr), "127.0.0.1:%u",
			 transport_port(other.t));
		assert_int_equal(transport_set_peers(j.t, peers, 2), 0);
	}
	set_one_peer(&other, 2, "127.0.0.1:%u", transport_port(j.t));
	assert_true(wait_log(&other, "belongs to another cluster", 3000));
	assert_int_equal(other.ups, 0);
	assert_int_not_equal(transport_link_state(j.t, 3), TRANSPORT_LINK_UP);
	assert_int_equal(transport_link_state(j.t, 1), TRANSPORT_LINK_UP);
	node_free(&a);
	node_free(&j);
	node_free(&other);
}

static void test_garbage_refused(void **state)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);
	struct raw r;
	uint8_t junk[300];

	(void)state;
	/* A live link that none of what follows may disturb. */
	start_pair(&a, &oa, &b, &ob);
	assert_true(wait_linked(&a, &b, 3000));
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 7 + 3);
	raw_connect(&r, "127.0.0.1", transport_port(b.t));
	raw_send(&r, junk, sizeof(junk));
	assert_true(run_until(raw_eof, &r, 3000));
	assert_true(node_log_has(&b, "refused connection from 127.0.0.1"));
	assert_true(node_log_has(&b, "bad frame: unknown frame version"));
	assert_int_equal(r.received, 0); /* nothing said to a stranger */
	raw_close(&r);

	/* A well-formed frame with a hello that is not one. */
	{
		uint8_t frame[FRAME_HEADER_LEN + 80];
		struct frame_header h = {FRAME_VERSION, FRAME_HELLO, 0, 80, 0};

		transport__frame_header_encode(frame, &h);
		memset(frame + FRAME_HEADER_LEN, 'x', 80);
		raw_connect(&r, "127.0.0.1", transport_port(b.t));
		raw_send(&r, frame, sizeof(frame));
		assert_true(run_until(raw_eof, &r, 3000));
		assert_true(node_log_has(&b, "malformed hello"));
		raw_close(&r);
	}
	/* A data frame before any handshake. */
	{
		uint8_t frame[FRAME_HEADER_LEN + 4];
		struct frame_header h = {FRAME_VERSION, TYPE_DATA, 0, 4, 0};

		transport__frame_header_encode(frame, &h);
		memset(frame + FRAME_HEADER_LEN, 0, 4);
		raw_connect(&r, "127.0.0.1", transport_port(b.t));
		raw_send(&r, frame, sizeof(frame));
		assert_true(run_until(raw_eof, &r, 3000));
		assert_true(node_log_has(&b, "unexpected frame type 42"));
		raw_close(&r);
	}
	exchange(&a, &b, 10, 1);
	assert_int_equal(b.ups, 1);
	assert_int_equal(a.downs + b.downs, 0);
	assert_int_equal(b.recv_count, 1);
	node_free(&a);
	node_free(&b);
}

static void test_oversized_frame_refused(void **state)
{
	struct node b;
	struct transport_options ob = node_opts(&b, 2);
	struct raw r;
	uint8_t hdr[FRAME_HEADER_LEN];
	struct frame_header h = {FRAME_VERSION, FRAME_HELLO, 0,
				 FRAME_MAX_PAYLOAD + 1, 0};

	(void)state;
	assert_int_equal(node_start(&b, &ob), 0);
	set_one_peer(&b, 1, "127.0.0.1:%u", dead_port());
	transport__frame_header_encode(hdr, &h);
	raw_connect(&r, "127.0.0.1", transport_port(b.t));
	raw_send(&r, hdr, sizeof(hdr));
	assert_true(run_until(raw_eof, &r, 3000));
	assert_true(node_log_has(&b, "bad frame: frame too large"));
	raw_close(&r);

	/* Before authentication even 1 KiB is too large for a hello. */
	h.length = 1024;
	transport__frame_header_encode(hdr, &h);
	raw_connect(&r, "127.0.0.1", transport_port(b.t));
	b.log_len = 0;
	b.log[0] = '\0';
	raw_send(&r, hdr, sizeof(hdr));
	assert_true(run_until(raw_eof, &r, 3000));
	assert_true(node_log_has(&b, "frame too large"));
	raw_close(&r);
	node_free(&b);
}

/* Crafted hellos reach the checks a real node never trips. */
static void test_crafted_hellos_refused(void **state)
{
	struct node b;
	struct transport_options ob = node_opts(&b, 2);
	struct raw r;
	uint8_t frame[FRAME_HEADER_LEN + HS_HELLO_MAX_LEN];
	size_t len;

	(void)state;
	ob.secret = NULL;
	ob.secret_len = 0;
	ob.insecure_plaintext = true;
	assert_int_equal(node_start(&b, &ob), 0);
	{
		char addr1[64], addr3[64];
		struct transport_peer peers[2] = {{1, addr1}, {3, addr3}};

		snprintf(addr1, sizeof(addr1), "127.0.0.1:%u", dead_port());
		snprintf(addr3, sizeof(addr3), "127.0.0.1:%u", dead_port());
		assert_int_equal(transport_set_peers(b.t, peers, 2), 0);
	}
	/* Node 3 must not dial node 2: the lower id dials. */
	len = build_hello_frame(frame, 3, 2, HS_MODE_PLAINTEXT);
	raw_connect(&r, "127.0.0.1", transport_port(b.t));
	raw_send(&r, frame, len);
	assert_true(run_until(raw_eof, &r, 3000));
	assert_true(node_log_has(&b, "node 3 dialed us, but the lower id (2) "
				     "dials"));
	raw_close(&r);

	/* Node 1 meant to reach node 5. */
	len = build_hello_frame(frame, 1, 5, HS_MODE_PLAINTEXT);
	raw_connect(&r, "127.0.0.1", transport_port(b.t));
	raw_send(&r, frame, len);
	assert_true(run_until(raw_eof, &r, 3000));
	assert_true(node_log_has(&b, "node 1 meant to reach node 5, we are 2"));
	raw_close(&r);

	node_free(&b);
}

/* A stranger that claims node 1's id and stalls in the handshake cannot
 * keep the real node 1 out: the first to authenticate wins. */
static void test_claimed_id_cannot_lock_out(void **state)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);
	struct raw r;
	uint8_t frame[FRAME_HEADER_LEN + HS_HELLO_MAX_LEN];
	size_t len;

	(void)state;
	ob.handshake_timeout_ms = 3000;
	assert_int_equal(node_start(&b, &ob), 0);
	assert_int_equal(node_start(&a, &oa), 0);
	set_one_peer(&b, 1, "127.0.0.1:%u", transport_port(a.t));
	len = build_hello_frame(frame, 1, 2, HS_MODE_SECRET);
	raw_connect(&r, "127.0.0.1", transport_port(b.t));
	raw_send(&r, frame, len);
	assert_true(run_until(raw_answered, &r, 3000)); /* b's hello */
	set_one_peer(&a, 2, "127.0.0.1:%u", transport_port(b.t));
	assert_true(wait_linked(&a, &b, 2000));
	assert_false(r.eof); /* still waiting for a proof it cannot give */
	exchange(&a, &b, 10, 1);
	assert_true(run_until(raw_eof, &r, 5000));
	assert_true(node_log_has(&b, "handshake did not finish within"));
	assert_int_equal(b.ups, 1);
	assert_int_equal(b.downs, 0);
	raw_close(&r);
	node_free(&a);
	node_free(&b);
}

/* Before it proves itself a peer is its source address: a stranger that
 * claims node 1's id and keeps failing the handshake spends the log budget
 * of its own address, and the real node 1 failing from another address is
 * still logged, named by that address. */
static void test_unauthenticated_peer_named_by_address(void **state)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);
	struct raw r;
	uint8_t frame[FRAME_HEADER_LEN + HS_HELLO_MAX_LEN];
	size_t len;

	(void)state;
	ob.handshake_timeout_ms = 150;
	ob.log_interval_ms = 60000; /* a real budget: 3 lines a minute */
	assert_int_equal(node_start(&b, &ob), 0);
	set_one_peer(&b, 1, "127.0.0.1:%u", dead_port());
	len = build_hello_frame(frame, 1, 2, HS_MODE_SECRET);
	for (int i = 0; i < 6; i++) {
		raw_connect_from(&r, "127.0.0.7", "127.0.0.1",
				 transport_port(b.t));
		raw_send(&r, frame, len);
		assert_true(run_until(raw_eof, &r, 3000));
		raw_close(&r);
	}
	assert_true(node_log_has(&b, "refused connection from 127.0.0.7:"));
	assert_true(node_log_has(&b, "(claims node 1)"));
	assert_false(node_log_has(&b, "node 1 (127.0.0.7"));
	/* The real node 1, from 127.0.0.1, with the wrong secret. */
	oa.secret = other_secret;
	assert_int_equal(node_start(&a, &oa), 0);
	set_one_peer(&a, 2, "127.0.0.1:%u", transport_port(b.t));
	assert_true(wait_log(&b, "refused connection from 127.0.0.1:", 3000));
	node_free(&a);
	node_free(&b);
}

static void test_slow_handshake_times_out(void **state)
{
	struct node b;
	struct transport_options ob = node_opts(&b, 2);
	struct raw r;
	uint8_t frame[FRAME_HEADER_LEN + HS_HELLO_MAX_LEN];

	(void)state;
	ob.handshake_timeout_ms = 300;
	assert_int_equal(node_start(&b, &ob), 0);
	set_one_peer(&b, 1, "127.0.0.1:%u", dead_port());
	/* Silent client. */
	raw_connect(&r, "127.0.0.1", transport_port(b.t));
	assert_true(run_until(raw_eof, &r, 3000));
	assert_true(node_log_has(&b, "handshake did not finish within 300 ms"));
	raw_close(&r);
	/* A client that trickles half a hello. */
	build_hello_frame(frame, 1, 2, HS_MODE_SECRET);
	raw_connect(&r, "127.0.0.1", transport_port(b.t));
	raw_send(&r, frame, 20);
	assert_true(run_until(raw_eof, &r, 3000));
	raw_close(&r);
	assert_int_equal(b.ups, 0);
	node_free(&b);
}

static unsigned count_closed(struct raw *flood)
{
	unsigned n = 0;

	for (unsigned i = 0; i < 12; i++)
		n += flood[i].eof;
	return n;
}

static bool eight_closed(void *arg)
{
	return count_closed(arg) >= 8;
}

/* Past max_pending unauthenticated connections, more are closed at once;
 * the real peer gets in once the flood is gone. */
static void test_connection_flood_capped(void **state)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);
	struct raw flood[12];

	(void)state;
	ob.max_pending = 4;
	ob.handshake_timeout_ms = 4000;
	assert_int_equal(node_start(&b, &ob), 0);
	set_one_peer(&b, 1, "127.0.0.1:%u", dead_port());
	for (unsigned i = 0; i < 12; i++)
		raw_connect(&flood[i], "127.0.0.1", transport_port(b.t));
	/* Only 4 may wait in their handshake: the 8 oldest are dropped. */
	assert_true(run_until(eight_closed, flood, 2000));
	assert_int_equal(count_closed(flood), 8);
	for (unsigned i = 0; i < 8; i++)
		assert_true(flood[i].eof);
	assert_true(node_log_has(&b, "too many unauthenticated connections "
				     "(4), dropping the oldest"));
	/* Node 1 links while the flood still holds every slot. */
	assert_int_equal(node_start(&a, &oa), 0);
	{
		struct node *nodes[2] = {&a, &b};

		mesh(nodes, 2);
	}
	assert_true(wait_linked(&a, &b, 2000));
	exchange(&a, &b, 10, 1);
	assert_true(count_closed(flood) <= 9);
	for (unsigned i = 0; i < 12; i++)
		raw_close(&flood[i]);
	node_free(&a);
	node_free(&b);
}

/* A man in the middle tampers with the first data frame from a to b on a
 * link of protocol proto_max; b refuses it with the given line, delivers
 * nothing it did not send in order, and drops the link. */
static void tamper_refused(enum proxy_mode mode, uint16_t proto_max,
			   const char *line, unsigned delivered)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);
	struct proxy px;
	uint8_t first[10] = "tamper-me";
	uint8_t second[10] = "then-me";

	oa.proto_max = ob.proto_max = proto_max;
	assert_int_equal(node_start(&a, &oa), 0);
	assert_int_equal(node_start(&b, &ob), 0);
	proxy_start(&px, mode, transport_port(b.t));
	px.tag_len = proto_max >= 2 ? FRAME_TAG_LEN_V2 : FRAME_TAG_LEN_V1;
	set_one_peer(&a, 2, "127.0.0.1:%u", px.port);
	set_one_peer(&b, 1, "127.0.0.1:%u", transport_port(a.t));
	assert_true(wait_linked(&a, &b, 3000));
	assert_int_equal(link_version(&b, 1), proto_max);
	assert_int_equal(
	    transport_send(a.t, 2, TYPE_DATA, first, sizeof(first)), 0);
	assert_int_equal(
	    transport_send(a.t, 2, TYPE_DATA, second, sizeof(second)), 0);
	assert_true(wait_log(&b, line, 3000));
	run_for(50);
	assert_int_equal(b.recv_count, delivered);
	if (delivered > 0)
		assert_memory_equal(b.last_payload, first, sizeof(first));
	assert_true(b.downs >= 1);
	proxy_stop(&px);
	node_free(&a);
	node_free(&b);
}

static void test_replayed_frame_refused(void **state)
{
	(void)state;
	/* Delivered once; the copy was refused and the link dropped. */
	for (uint16_t v = 1; v <= TRANSPORT_PROTO_MAX; v++)
		tamper_refused(PROXY_REPLAY, v,
			       "frame out of sequence (got 2, expected 3)", 1);
}

static void test_reordered_frame_refused(void **state)
{
	(void)state;
	for (uint16_t v = 1; v <= TRANSPORT_PROTO_MAX; v++)
		tamper_refused(PROXY_REORDER, v,
			       "frame out of sequence (got 3, expected 2)", 0);
}

/* A flipped bit of the payload, the header or the tag fails the tag. */
static void test_forged_frame_refused(void **state)
{
	const enum proxy_mode modes[] = {PROXY_CORRUPT, PROXY_CORRUPT_HEADER,
					 PROXY_CORRUPT_TAG};

	(void)state;
	for (uint16_t v = 1; v <= TRANSPORT_PROTO_MAX; v++)
		for (size_t m = 0; m < 3; m++)
			tamper_refused(
			    modes[m], v,
			    "bad frame tag: forged or corrupted frame", 0);
}

/* The link closes rather than let its sequence number, the AES-GCM nonce,
 * wrap; the next link has fresh keys and starts again from 0. */
static void test_sequence_never_wraps(void **state)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);
	struct conn *ca, *cb;
	uint8_t data[4] = "end";

	(void)state;
	start_pair(&a, &oa, &b, &ob);
	assert_true(wait_linked(&a, &b, 3000));
	ca = transport__find_peer(a.t, 2)->link;
	cb = transport__find_peer(b.t, 1)->link;
	assert_non_null(ca);
	assert_non_null(cb);
	assert_non_null(ca->aead_send);
	ca->seq_send = UINT64_MAX - 1;
	cb->seq_recv = UINT64_MAX - 1;
	/* The last number there is: still sent and accepted. */
	exchange(&a, &b, sizeof(data), 5);
	assert_int_equal(transport_send(a.t, 2, TYPE_DATA, data, sizeof(data)),
			 0);
	assert_true(wait_log(&a, "frame sequence numbers exhausted", 3000));
	assert_int_equal(b.recv_count, 1);
	assert_true(wait_count(&b.ups, 2, 3000));
	assert_true(wait_linked(&a, &b, 3000));
	exchange(&a, &b, sizeof(data), 6);
	node_free(&a);
	node_free(&b);
}

static void test_oversized_after_auth_refused(void **state)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);
	struct proxy px;
	uint8_t data[4] = "big";

	(void)state;
	assert_int_equal(node_start(&a, &oa), 0);
	assert_int_equal(node_start(&b, &ob), 0);
	proxy_start(&px, PROXY_OVERSIZE, transport_port(b.t));
	set_one_peer(&a, 2, "127.0.0.1:%u", px.port);
	set_one_peer(&b, 1, "127.0.0.1:%u", transport_port(a.t));
	assert_true(wait_linked(&a, &b, 3000));
	assert_int_equal(transport_send(a.t, 2, TYPE_DATA, data, sizeof(data)),
			 0);
	assert_true(wait_log(&b, "bad frame: frame too large", 3000));
	assert_int_equal(b.recv_count, 0);
	proxy_stop(&px);
	node_free(&a);
	node_free(&b);
}

/* Pings keep an idle link up; a link that goes silent (a host that died
 * without a reset) is dropped on both sides after the idle timeout. */
static void test_silent_link_dropped(void **state)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);
	struct proxy px;

	(void)state;
	oa.keepalive_ms = ob.keepalive_ms = 50;
	oa.idle_timeout_ms = ob.idle_timeout_ms = 600;
	assert_int_equal(node_start(&a, &oa), 0);
	assert_int_equal(node_start(&b, &ob), 0);
	proxy_start(&px, PROXY_PASS, transport_port(b.t));
	set_one_peer(&a, 2, "127.0.0.1:%u", px.port);
	set_one_peer(&b, 1, "127.0.0.1:%u", transport_port(a.t));
	assert_true(wait_linked(&a, &b, 3000));
	run_for(1000); /* idle, but pinged */
	assert_int_equal(a.downs + b.downs, 0);
	assert_true(linked_cond(&(struct link_wait){&a, &b}));
	px.blackhole = true;
	assert_true(wait_count(&a.downs, 1, 3000));
	assert_true(wait_count(&b.downs, 1, 3000));
	assert_true(node_log_has(&a, "nothing received for 600 ms, link "
				     "presumed dead"));
	assert_true(node_log_has(&b, "link presumed dead"));
	proxy_stop(&px);
	node_free(&a);
	node_free(&b);
}

/* The dialer reconnects with back-off when its peer restarts on the same
 * port, and the new link carries frames. */
static void test_reconnect_after_restart(void **state)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);
	char bind[64];
	uint16_t port;
	struct transport_peer_stats st;

	(void)state;
	start_pair(&a, &oa, &b, &ob);
	assert_true(wait_linked(&a, &b, 3000));
	exchange(&a, &b, 10, 1);
	port = transport_port(b.t);
	node_free(&b);
	assert_true(wait_count(&a.downs, 1, 3000));
	assert_int_not_equal(transport_link_state(a.t, 2), TRANSPORT_LINK_UP);
	/* A while with the peer gone: attempts fail and back off. */
	run_for(300);
	ob = node_opts(&b, 2);
	snprintf(bind, sizeof(bind), "127.0.0.1:%u", port);
	ob.bind_address = bind;
	assert_int_equal(node_start(&b, &ob), 0);
	set_one_peer(&b, 1, "127.0.0.1:%u", transport_port(a.t));
	assert_true(wait_linked(&a, &b, 3000));
	exchange(&a, &b, 10, 2);
	exchange(&b, &a, 10, 3);
	assert_int_equal(transport_peer_stats(a.t, 2, &st), 0);
	assert_int_equal(st.links_established, 2);
	assert_int_equal(a.ups, 2);
	node_free(&a);
	node_free(&b);
}

/* Acceptor side: when the dialer restarts, its new link replaces the old
 * one at once. */
static void test_acceptor_takes_newer_link(void **state)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);

	(void)state;
	start_pair(&a, &oa, &b, &ob);
	assert_true(wait_linked(&a, &b, 3000));
	/* Stop a and start it again with the same id. */
	node_free(&a);
	oa = node_opts(&a, 1);
	assert_int_equal(node_start(&a, &oa), 0);
	set_one_peer(&a, 2, "127.0.0.1:%u", transport_port(b.t));
	assert_true(wait_linked(&a, &b, 3000));
	exchange(&b, &a, 10, 4);
	node_free(&a);
	node_free(&b);
}

/* A dead peer costs at most its queue; the others keep flowing. */
static void test_dead_peer_queue_bounded(void **state)
{
	struct node a, c;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options oc = node_opts(&c, 3);
	struct transport_peer_stats st;
	char dead[64], live[64];
	uint8_t block[1000];
	unsigned ok = 0, full = 0;

	(void)state;
	oa.queue_max_frames = 16;
	oa.queue_max_bytes = 8 * 1024;
	oa.log_interval_ms = 10000; /* the default: one complaint a while */
	assert_int_equal(node_start(&a, &oa), 0);
	assert_int_equal(node_start(&c, &oc), 0);
	snprintf(dead, sizeof(dead), "127.0.0.1:%u", dead_port());
	snprintf(live, sizeof(live), "127.0.0.1:%u", transport_port(c.t));
	{
		struct transport_peer peers[2] = {{2, dead}, {3, live}};

		assert_int_equal(transport_set_peers(a.t, peers, 2), 0);
	}
	set_one_peer(&c, 1, "127.0.0.1:%u", transport_port(a.t));
	assert_true(wait_linked(&a, &c, 3000));
	memset(block, 7, sizeof(block));
	for (unsigned i = 0; i < 100; i++) {
		int rv =
		    transport_send(a.t, 2, TYPE_DATA, block, sizeof(block));

		if (rv == 0)
			ok++;
		else if (rv == TRANSPORT_EQUEUE)
			full++;
	}
	assert_int_equal(ok + full, 100);
	assert_true(ok >= 1 && ok <= 8);
	assert_int_equal(transport_peer_stats(a.t, 2, &st), 0);
	assert_true(st.queued_bytes <= 8 * 1024);
	assert_int_equal(st.queued_frames, ok);
	assert_int_equal(st.frames_dropped, full);
	/* Frame-count limit too. */
	for (unsigned i = 0; i < 100; i++)
		transport_send(a.t, 2, TYPE_DATA, NULL, 0);
	assert_int_equal(transport_peer_stats(a.t, 2, &st), 0);
	assert_int_equal(st.queued_frames, 16);
	/* Node 3 is not held up by node 2. */
	exchange(&a, &c, 5000, 9);
	/* At least 8 failed attempts (back-off 20..200 ms), but the complaint
	 * is rate-limited to a burst of 3 per interval. */
	run_for(1500);
	{
		unsigned lines = 0;
		const char *p = a.log;

		while ((p = strstr(p, "cannot link to node 2")) != NULL) {
			lines++;
			p++;
		}
		assert_true(lines >= 1 && lines <= 3);
	}
	node_free(&a);
	node_free(&c);
}

/* Three nodes: exactly one link per pair, each up once on each side. */
static void test_three_nodes_one_link_per_pair(void **state)
{
	struct node n1, n2, n3;
	struct transport_options o1 = node_opts(&n1, 1);
	struct transport_options o2 = node_opts(&n2, 2);
	struct transport_options o3 = node_opts(&n3, 3);
	struct node *nodes[3] = {&n1, &n2, &n3};

	(void)state;
	assert_int_equal(node_start(&n1, &o1), 0);
	assert_int_equal(node_start(&n2, &o2), 0);
	assert_int_equal(node_start(&n3, &o3), 0);
	mesh(nodes, 3);
	assert_true(wait_linked(&n1, &n2, 3000));
	assert_true(wait_linked(&n1, &n3, 3000));
	assert_true(wait_linked(&n2, &n3, 3000));
	run_for(200);
	assert_int_equal(n1.ups, 2);
	assert_int_equal(n2.ups, 2);
	assert_int_equal(n3.ups, 2);
	assert_int_equal(n1.downs + n2.downs + n3.downs, 0);
	exchange(&n3, &n1, 10, 1);
	exchange(&n2, &n3, 10, 2);
	node_free(&n1);
	node_free(&n2);
	node_free(&n3);
}

/* A new address in the peer list is used from the next attempt on. */
static void test_peer_address_change(void **state)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);

	(void)state;
	assert_int_equal(node_start(&a, &oa), 0);
	assert_int_equal(node_start(&b, &ob), 0);
	set_one_peer(&a, 2, "127.0.0.1:%u", dead_port());
	set_one_peer(&b, 1, "127.0.0.1:%u", transport_port(a.t));
	assert_true(wait_log(&a, "cannot link to node 2", 3000));
	set_one_peer(&a, 2, "127.0.0.1:%u", transport_port(b.t));
	assert_true(node_log_has(&a, "node 2 now at 127.0.0.1:"));
	assert_true(wait_linked(&a, &b, 3000));
	exchange(&a, &b, 10, 1);
	node_free(&a);
	node_free(&b);
}

/* Removing a peer closes its link and reports it down. */
static void test_removed_peer_disconnected(void **state)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);

	(void)state;
	start_pair(&a, &oa, &b, &ob);
	assert_true(wait_linked(&a, &b, 3000));
	assert_int_equal(transport_set_peers(a.t, NULL, 0), 0);
	assert_int_equal(a.downs, 1);
	assert_true(node_log_has(&a, "node 2 left the peer list"));
	assert_true(wait_count(&b.downs, 1, 3000));
	assert_int_equal(transport_send(a.t, 2, TYPE_DATA, "x", 1),
			 TRANSPORT_ENOPEER);
	node_free(&a);
	node_free(&b);
}

/* Bind and advertised addresses differ: node 2 listens on 127.0.0.2; node 1
 * reaches it by a host name. */
static void test_addresses(void **state)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);

	(void)state;
	ob.bind_address = "127.0.0.2:0";
	assert_int_equal(node_start(&a, &oa), 0);
	assert_int_equal(node_start(&b, &ob), 0);
	set_one_peer(&a, 2, "127.0.0.2:%u", transport_port(b.t));
	set_one_peer(&b, 1, "127.0.0.1:%u", transport_port(a.t));
	assert_true(wait_linked(&a, &b, 3000));
	exchange(&a, &b, 10, 1);
	node_free(&b);

	/* A host name, resolved through libuv on every attempt. */
	ob = node_opts(&b, 2);
	assert_int_equal(node_start(&b, &ob), 0);
	set_one_peer(&a, 2, "localhost:%u", transport_port(b.t));
	set_one_peer(&b, 1, "127.0.0.1:%u", transport_port(a.t));
	assert_true(wait_linked(&a, &b, 3000));
	exchange(&a, &b, 10, 2);
	node_free(&b);
	node_free(&a);
}

/* An IPv6 literal: node 2 listens on [::1]. The suite runs in a network
 * namespace of its own whose loopback has ::1 (tests/transport/netns-run.sh);
 * a host without it fails here with the reason, it does not skip. */
static void test_ipv6_loopback_address(void **state)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);

	(void)state;
	ob.bind_address = "[::1]:0";
	assert_int_equal(node_start(&a, &oa), 0);
	if (node_start(&b, &ob) != 0) {
		node_free(&a);
		fail_msg("cannot listen on [::1]: this host has no IPv6 "
			 "loopback (make suite-transport-link runs the test "
			 "in a network namespace that has one)");
	}
	set_one_peer(&a, 2, "[::1]:%u", transport_port(b.t));
	set_one_peer(&b, 1, "127.0.0.1:%u", transport_port(a.t));
	assert_true(wait_linked(&a, &b, 3000));
	exchange(&a, &b, 10, 3);
	assert_true(node_log_has(&a, "[::1]:"));
	node_free(&a);
	node_free(&b);
}

/* A name that does not resolve is retried with a rate-limited complaint. */
static void test_unresolvable_name_retried(void **state)
{
	struct node a;
	struct transport_options oa = node_opts(&a, 1);

	(void)state;
	assert_int_equal(node_start(&a, &oa), 0);
	set_one_peer(&a, 2, "no-such-host.invalid:7000");
	assert_true(wait_log(&a, "cannot resolve node 2's address", 5000));
	assert_int_not_equal(transport_link_state(a.t, 2), TRANSPORT_LINK_UP);
	node_free(&a);
}

/* ---- mutual TLS, with certificates made by gen-certs.sh ---- */

static char cert_dir[512];

static const char *cert(const char *name)
{
	static char paths[8][600];
	static unsigned next;
	char *p = paths[next++ % 8];

	snprintf(p, sizeof(paths[0]), "%s/%s", cert_dir, name);
	return p;
}

static int tls_group_setup(void **state)
{
	const char *dir = getenv("TRANSPORT_TEST_DIR");
	char cmd[1200];

	(void)state;
	snprintf(cert_dir, sizeof(cert_dir), "%s/certs",
		 dir != NULL ? dir : "/tmp/transport-test");
	snprintf(cmd, sizeof(cmd), "bash tests/transport/gen-certs.sh '%s'",
		 cert_dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "gen-certs.sh failed\n");
		return -1;
	}
	return 0;
}

static void tls_opts(struct transport_options *o, const char *node_cert,
		     const char *node_key, bool with_secret)
{
	o->tls_ca_file = cert("ca.crt");
	o->tls_cert_file = cert(node_cert);
	o->tls_key_file = cert(node_key);
	if (!with_secret) {
		o->secret = NULL;
		o->secret_len = 0;
	}
}

static void test_tls_link(void **state)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);

	(void)state;
	tls_opts(&oa, "node1.crt", "node1.key", false);
	tls_opts(&ob, "node2.crt", "node2.key", false);
	start_pair(&a, &oa, &b, &ob);
	assert_true(wait_linked(&a, &b, 3000));
	assert_true(node_log_has(&a, "tls, protocol v2"));
	exchange(&a, &b, 100, 1);
	exchange(&b, &a, TRANSPORT_MAX_PAYLOAD, 2);
	node_free(&a);
	node_free(&b);
}

static void test_tls_and_secret_link(void **state)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);

	(void)state;
	tls_opts(&oa, "node1.crt", "node1.key", true);
	tls_opts(&ob, "node2.crt", "node2.key", true);
	start_pair(&a, &oa, &b, &ob);
	assert_true(wait_linked(&a, &b, 3000));
	assert_true(node_log_has(&b, "tls+secret"));
	exchange(&a, &b, 100000, 3);
	node_free(&a);
	node_free(&b);

	/* TLS is fine but the secret is not: still refused. */
	oa = node_opts(&a, 1);
	ob = node_opts(&b, 2);
	tls_opts(&oa, "node1.crt", "node1.key", true);
	tls_opts(&ob, "node2.crt", "node2.key", true);
	ob.secret = other_secret;
	start_pair(&a, &oa, &b, &ob);
	assert_true(wait_log(&b, "does not hold our cluster secret", 3000));
	assert_never_linked(&a, &b);
	node_free(&a);
	node_free(&b);
}

/* A certificate from the right CA, but for node 3, presented by node 2. */
static void test_tls_wrong_node_cert_refused(void **state)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);

	(void)state;
	tls_opts(&oa, "node1.crt", "node1.key", false);
	tls_opts(&ob, "node3.crt", "node3.key", false);
	start_pair(&a, &oa, &b, &ob);
	assert_true(wait_log(&a, "TLS certificate does not name node 2", 3000));
	assert_never_linked(&a, &b);
	node_free(&a);
	node_free(&b);

	/* No SAN at all: chaining to the CA is not enough. */
	oa = node_opts(&a, 1);
	ob = node_opts(&b, 2);
	tls_opts(&oa, "node1.crt", "node1.key", false);
	tls_opts(&ob, "nosan2.crt", "nosan2.key", false);
	start_pair(&a, &oa, &b, &ob);
	assert_true(wait_log(&a, "TLS certificate does not name node 2", 3000));
	assert_never_linked(&a, &b);
	node_free(&a);
	node_free(&b);
}

static void test_tls_expired_cert_refused(void **state)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);

	(void)state;
	tls_opts(&oa, "node1.crt", "node1.key", false);
	tls_opts(&ob, "expired2.crt", "expired2.key", false);
	start_pair(&a, &oa, &b, &ob);
	assert_true(wait_log(&a, "certificate has expired", 3000));
	assert_never_linked(&a, &b);
	node_free(&a);
	node_free(&b);
}

static void test_tls_other_ca_refused(void **state)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);

	(void)state;
	tls_opts(&oa, "node1.crt", "node1.key", false);
	tls_opts(&ob, "rogue2.crt", "rogue2.key", false);
	start_pair(&a, &oa, &b, &ob);
	assert_true(wait_log(&a, "peer certificate rejected", 3000));
	assert_never_linked(&a, &b);
	node_free(&a);
	node_free(&b);
}

/* The acceptor refuses a dialer whose certificate is from another CA. */
static void test_tls_dialer_cert_checked(void **state)
{
	struct node a, b;
	struct transport_options oa = node_opts(&a, 2);
	struct transport_options ob = node_opts(&b, 3);

	(void)state;
	tls_opts(&oa, "rogue2.crt", "rogue2.key", false);
	tls_opts(&ob, "node3.crt", "node3.key", false);
	start_pair(&a, &oa, &b, &ob);
	assert_true(wait_log(&b, "peer certificate rejected", 3000));
	assert_never_linked(&a, &b);
	node_free(&a);
	node_free(&b);
}

/* A TLS node and a plaintext client: the handshake fails, nothing else. */
static void test_tls_garbage_refused(void **state)
{
	struct node b;
	struct transport_options ob = node_opts(&b, 2);
	struct raw r;
	uint8_t frame[FRAME_HEADER_LEN + HS_HELLO_MAX_LEN];
	size_t len;

	(void)state;
	tls_opts(&ob, "node2.crt", "node2.key", false);
	assert_int_equal(node_start(&b, &ob), 0);
	set_one_peer(&b, 1, "127.0.0.1:%u", dead_port());
	len = build_hello_frame(frame, 1, 2, HS_MODE_TLS);
	raw_connect(&r, "127.0.0.1", transport_port(b.t));
	raw_send(&r, frame, len);
	assert_true(run_until(raw_eof, &r, 3000));
	assert_true(node_log_has(&b, "TLS handshake failed"));
	raw_close(&r);
	node_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_secret_v1_link_carries_frames,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_secret_link_carries_frames,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_send_rejects_bad_arguments,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_options_are_checked,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_plaintext_only_when_asked,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_security_mode_mismatch_refused,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_secret_refused,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_cluster_name_refused,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(
		test_same_name_other_cluster_refused, loop_setup,
		loop_teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_node_refused,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_duplicate_node_id_refused,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_no_common_version_refused,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_mixed_versions_link_at_v1,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_v2_payload_encrypted,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_version_negotiated, loop_setup,
					    loop_teardown),
	    cmocka_unit_test_setup_teardown(test_joining_node_pins_cluster_id,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_garbage_refused, loop_setup,
					    loop_teardown),
	    cmocka_unit_test_setup_teardown(test_oversized_frame_refused,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_crafted_hellos_refused,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(
		test_unauthenticated_peer_named_by_address, loop_setup,
		loop_teardown),
	    cmocka_unit_test_setup_teardown(test_claimed_id_cannot_lock_out,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_slow_handshake_times_out,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_connection_flood_capped,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_replayed_frame_refused,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_reordered_frame_refused,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_sequence_never_wraps,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_forged_frame_refused,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_oversized_after_auth_refused,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_silent_link_dropped,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_reconnect_after_restart,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_acceptor_takes_newer_link,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_dead_peer_queue_bounded,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_three_nodes_one_link_per_pair,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_peer_address_change,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_removed_peer_disconnected,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_addresses, loop_setup,
					    loop_teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6_loopback_address,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_unresolvable_name_retried,
					    loop_setup, loop_teardown),
	};
	const struct CMUnitTest tls_tests[] = {
	    cmocka_unit_test_setup_teardown(test_tls_link, loop_setup,
					    loop_teardown),
	    cmocka_unit_test_setup_teardown(test_tls_and_secret_link,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_tls_wrong_node_cert_refused,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_tls_expired_cert_refused,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_tls_other_ca_refused,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_tls_dialer_cert_checked,
					    loop_setup, loop_teardown),
	    cmocka_unit_test_setup_teardown(test_tls_garbage_refused,
					    loop_setup, loop_teardown),
	};
	int failed;

	/* TRANSPORT_TEST_FILTER=test_tls_* runs a subset, by hand: make test
	 * refuses to start with it set. */
	const char *filter = getenv("TRANSPORT_TEST_FILTER");
	if (filter != NULL) {
		fprintf(stderr,
			"TRANSPORT_TEST_FILTER=%s: only the tests "
			"matching it run\n",
			filter);
		cmocka_set_test_filter(filter);
	}
	failed =
	    cmocka_run_group_tests_name("transport links", tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("transport TLS", tls_tests,
					      tls_group_setup, NULL);
	return failed != 0;
}
