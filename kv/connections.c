/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * ha-kv's client connections: accepting them, reading bytes and cutting
 * them into request lines, writing replies back in order, and closing.
 * A client that has too much outstanding is not read until replies drain.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "kv/server.h"

/* Back-pressure: stop reading a client that has this much outstanding. */
#define KV_CONN_MAX_PENDING 1024u
#define KV_CONN_MAX_QUEUED_BYTES (4u * 1024u * 1024u)

#define container_of_reject(h)                                                 \
	((struct kv_server *)((char *)(h)-offsetof(struct kv_server, reject)))

struct kv_write {
	uv_write_t req;
	struct kv_conn *conn;
	size_t len;
	char data[];
};

static void on_conn_closed(uv_handle_t *h)
{
	struct kv_conn *c = h->data;
	struct kv_server *s = c->srv;
	struct kv_request *rq = c->head;
	while (rq != NULL) {
		struct kv_request *next = rq->next;
		if (rq->outstanding) {
			/* Its outcome still arrives; it is dropped then. */
			rq->conn = NULL;
			rq->next = NULL;
		} else {
			kv_pending_remove(s, rq);
			kv_request_free(rq);
		}
		rq = next;
	}
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c);
}

void kv_conn_close(struct kv_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct kv_conn *c = h->data;
	(void)suggested;
	/* One read is handled completely before the next: share a buffer. */
	if (c->srv->read_buf_busy) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	c->srv->read_buf_busy = true;
	*buf = uv_buf_init(c->srv->read_buf, sizeof(c->srv->read_buf));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void conn_update_reading(struct kv_conn *c)
{
	if (c->closing)
		return;
	bool want = c->n_requests < KV_CONN_MAX_PENDING &&
		    c->queued_bytes < KV_CONN_MAX_QUEUED_BYTES;
	if (want && !c->reading) {
		if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) ==
		    0)
			c->reading = true;
		else
			kv_conn_close(c);
	} else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	}
}

static void on_write(uv_write_t *req, int status)
{
	struct kv_write *w = req->data;
	struct kv_conn *c = w->conn;
	c->queued_bytes -= w->len;
	free(w);
	if (status != 0) {
		kv_conn_close(c);
		return;
	}
	conn_update_reading(c);
}

void kv_conn_flush(struct kv_conn *c)
{
	if (c->closing)
		return;
	size_t total = 0;
	for (struct kv_request *rq = c->head; rq != NULL && rq->done;
	     rq = rq->next) {
		if (rq->reply == NULL) {
			kv_log(c->srv, "out of memory for a reply; "
				       "disconnecting the client");
			kv_conn_close(c);
			return;
		}
		total += rq->reply_len;
	}
	if (total == 0)
		return;
	struct kv_write *w = malloc(sizeof(*w) + total);
	if (w == NULL) {
		kv_log(c->srv, "out of memory for replies; disconnecting the "
			       "client");
		kv_conn_close(c);
		return;
	}
	size_t off = 0;
	while (c->head != NULL && c->head->done) {
		struct kv_request *rq = c->head;
		memcpy(w->data + off, rq->reply, rq->reply_len);
		off += rq->reply_len;
		c->head = rq->next;
		if (c->head == NULL)
			c->tail = NULL;
		c->n_requests--;
		kv_request_free(rq);
	}
	w->conn = c;
	w->len = total;
	w->req.data = w;
	uv_buf_t b = uv_buf_init(w->data, (unsigned)total);
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
		free(w);
		kv_conn_close(c);
		return;
	}
	c->queued_bytes += total;
	conn_update_reading(c);
}

static void conn_take_bytes(struct kv_conn *c, const char *p, size_t n)
{
	while (n > 0 && !c->closing) {
		const char *nl = memchr(p, '\n', n);
		size_t chunk = nl != NULL ? (size_t)(nl - p) : n;
		if (!c->overflow) {
			if (c->line_len + chunk > KV_LINE_MAX) {
				c->overflow = true;
			} else {
				memcpy(c->line + c->line_len, p, chunk);
				c->line_len += chunk;
			}
		}
		if (nl == NULL)
			return;
		if (c->overflow) {
			struct kv_request *rq =
			    kv_request_new(c, KV_REQ_IMMEDIATE);
			if (rq == NULL) {
				kv_conn_close(c);
				return;
			}
			kv_request_set_reply(rq,
					     "ERR too-long a line is at most "
					     "%u bytes",
					     KV_LINE_MAX);
			rq->done = true;
		} else {
			c->line[c->line_len] = '\0';
			kv_handle_line(c, c->line, c->line_len);
		}
		c->line_len = 0;
		c->overflow = false;
		p += chunk + 1;
		n -= chunk + 1;
	}
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct kv_conn *c = stream->data;
	if (buf->base == c->srv->read_buf)
		c->srv->read_buf_busy = false;
	if (nread < 0) {
		kv_conn_close(c);
		return;
	}
	conn_take_bytes(c, buf->base, (size_t)nread);
	kv_conn_flush(c);
	conn_update_reading(c);
}

static void on_reject_closed(uv_handle_t *h)
{
	struct kv_server *s = container_of_reject(h);
	s->reject_busy = false;
}

static void on_connection(uv_stream_t *listener, int status)
{
	struct kv_server *s = listener->data;
	if (status != 0) {
		kv_log(s, "accept failed: %s", uv_strerror(status));
		return;
	}
	struct kv_conn *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		kv_log(s, "out of memory for a client connection; refusing it");
		/* Take it off the backlog, or the listener stalls. */
		if (!s->reject_busy && uv_tcp_init(s->loop, &s->reject) == 0) {
			s->reject_busy = true;
			s->reject.data = NULL;
			uv_accept(listener, (uv_stream_t *)&s->reject);
			uv_close((uv_handle_t *)&s->reject, on_reject_closed);
		}
		return;
	}
	c->srv = s;
	if (uv_tcp_init(s->loop, &c->tcp) != 0) {
		free(c);
		return;
	}
	c->tcp.data = c;
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
	if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
		kv_conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	conn_update_reading(c);
}

int kv_listen(struct kv_server *s, const char *address)
{
	char host[RAFT_ADDRESS_MAX];
	unsigned port;
	if (kv_address_split(address, host, sizeof(host), &port) != 0) {
		fprintf(stderr, "ha-kv: --listen wants host:port, not '%s'\n",
			address);
		return -1;
	}
	struct sockaddr_storage sa;
	int rv = uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&sa);
	if (rv != 0)
		rv = uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&sa);
	if (rv != 0) {
		fprintf(stderr,
			"ha-kv: --listen wants a numeric IP address: "
			"'%s'\n",
			host);
		return -1;
	}
	if ((rv = uv_tcp_init(s->loop, &s->listener)) != 0 ||
	    (rv = uv_tcp_bind(&s->listener, (struct sockaddr *)&sa, 0)) != 0 ||
	    (rv = uv_listen((uv_stream_t *)&s->listener, 128, on_connection)) !=
		0) {
		fprintf(stderr, "ha-kv: cannot listen on %s: %s\n", address,
			uv_strerror(rv));
		return -1;
	}
	s->listener.data = s;
	return 0;
}
