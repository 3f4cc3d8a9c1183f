/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The HTTP health endpoint (plugin_opt_health_listen), on a thread and
 * libuv loop of its own so that a load balancer's checks never wait for the
 * broker. GET /leader answers 200 while this node is the serving leader
 * (inside its lease), or a standalone broker, and 503 otherwise; GET
 * /clients 200 while it admits ordinary clients (the same in full mode,
 * every running member in dynsec mode) and 503 otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <uv.h>

#include "plugin/health.h"
#include "plugin/shutdown.h"
#include "transport/address.h"

#define REQUEST_MAX 2048
/* A health check sends its request line at once: a connection that has not
 * been answered after this long is closed. */
#define HEALTH_IDLE_MS 2000
/* At most this many connections at once, and never more than a 32nd of
 * the broker's descriptor limit: the endpoint must not take the
 * descriptors the broker needs for its clients. */
#define HEALTH_MAX_CONNS 32
#define HEALTH_MIN_CONNS 4

struct conn;

struct ha_health {
	uv_loop_t loop;
	uv_tcp_t server;
	uv_async_t stop;
	pthread_t thread;
	ha_health_serving_fn serving;
	ha_health_serving_fn admits;
	void *data;
	size_t max_conns;
	size_t n_conns;
	struct conn *oldest; /* open connections, oldest first */
	struct conn *newest;
};

struct conn {
	uv_tcp_t tcp;
	uv_timer_t idle;
	int open_handles;
	struct ha_health *h;
	struct conn *prev, *next;
	char buf[REQUEST_MAX];
	size_t len;
	uv_write_t write;
	char reply[256];
	bool answered;
	bool closing;
};

static void on_conn_closed(uv_handle_t *handle)
{
	struct conn *c = handle->data;
	if (--c->open_handles == 0)
		free(c);
}

/* Closes both handles of c; its memory goes with the last. */
static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	struct ha_health *h = c->h;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		h->oldest = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		h->newest = c->prev;
	h->n_conns--;
	uv_close((uv_handle_t *)&c->idle, on_conn_closed);
	uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_written(uv_write_t *w, int status)
{
	struct conn *c = w->data;
	(void)status;
	conn_close(c);
}

static void on_idle(uv_timer_t *t)
{
	conn_close(t->data);
}

static void answer(struct conn *c, int code, const char *text)
{
	c->answered = true;
	uv_read_stop((uv_stream_t *)&c->tcp);
	int n = snprintf(
	    c->reply, sizeof(c->reply),
	    "HTTP/1.0 %d %s\r\nContent-Type: text/plain\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
	    code,
	    code == 200 ? "OK"
			: (code == 404 ? "Not Found"
				       : (code == 503 ? "Service Unavailable"
						      : "Bad Request")),
	    strlen(text) + 1, text);
	uv_buf_t b = uv_buf_init(c->reply, (unsigned)n);
	c->write.data = c;
	if (uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0)
		conn_close(c);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = handle->data;
	(void)suggested;
	*buf = uv_buf_init(c->buf + c->len,
			   (unsigned)(sizeof(c->buf) - c->len - 1));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	(void)buf;
	if (c->answered)
		return;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)nread;
	c->buf[c->len] = '\0';
	char *eol = strstr(c->buf, "\r\n");
	if (eol == NULL)
		eol = strchr(c->buf, '\n');
	if (eol == NULL) {
		if (c->len >= sizeof(c->buf) - 1)
			answer(c, 400, "request line too long");
		return;
	}
	*eol = '\0';
	char method[8], path[256];
	if (sscanf(c->buf, "%7s %255s", method, path) != 2 ||
	    strcmp(method, "GET") != 0) {
		answer(c, 400, "only GET is served");
		return;
	}
	if (strcmp(path, "/leader") == 0) {
		bool serving = c->h->serving(c->h->data);
		answer(c, serving ? 200 : 503,
		       serving ? "serving" : "not serving");
		return;
	}
	if (strcmp(path, "/clients") == 0) {
		bool admits = c->h->admits(c->h->data);
		answer(c, admits ? 200 : 503,
		       admits ? "admits clients" : "admits no clients");
		return;
	}
	answer(c, 404, "unknown path; try /leader or /clients");
}

static void on_connection(uv_stream_t *server, int status)
{
	struct ha_health *h = server->data;
	if (status != 0)
		return;
	struct conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	c->h = h;
	uv_tcp_init(&h->loop, &c->tcp);
	uv_timer_init(&h->loop, &c->idle);
	c->tcp.data = c;
	c->idle.data = c;
	c->open_handles = 2;
	c->prev = h->newest;
	if (h->newest != NULL)
		h->newest->next = c;
	else
		h->oldest = c;
	h->newest = c;
	h->n_conns++;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
	    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0 ||
	    uv_timer_start(&c->idle, on_idle, HEALTH_IDLE_MS, 0) != 0) {
		conn_close(c);
		return;
	}
	/* Full: the oldest goes. A real check is answered within a round
	 * trip, so a flood of idle sockets only evicts its own. */
	if (h->n_conns > h->max_conns)
		conn_close(h->oldest);
}

static void close_any(uv_handle_t *handle, void *arg)
{
	struct ha_health *h = arg;
	if (uv_is_closing(handle))
		return;
	if (handle == (uv_handle_t *)&h->server ||
	    handle == (uv_handle_t *)&h->stop) {
		uv_close(handle, NULL);
		return;
	}
	/* A connection's handles: both close with it. */
	struct conn *c = handle->data;
	conn_close(c);
}

static void on_stop(uv_async_t *a)
{
	struct ha_health *h = a->data;
	uv_walk(&h->loop, close_any, h);
}

static void *thread_main(void *arg)
{
	struct ha_health *h = arg;
	pthread_setname_np(pthread_self(), "ha-health");
	ha_block_shutdown_signals();
	uv_run(&h->loop, UV_RUN_DEFAULT);
	return NULL;
}

/* An IP address and port (plugin/options.c has checked it already). */
static int parse_listen(const char *listen, struct sockaddr_storage *ss)
{
	struct transport_address a;
	if (transport_address_parse(listen, 0, &a, NULL, 0) != 0)
		return -1;
	if (a.kind == TRANSPORT_HOST_IPV6)
		return uv_ip6_addr(a.host, a.port, (struct sockaddr_in6 *)ss);
	return uv_ip4_addr(a.host, a.port, (struct sockaddr_in *)ss);
}

int ha_health_start(const char *listen, ha_health_serving_fn serving,
		    ha_health_serving_fn admits, void *data,
		    struct ha_health **out, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (parse_listen(listen, &ss) != 0) {
		snprintf(
		    err, errlen,
		    "plugin_opt_health_listen '%s' is not an IP address and "
		    "port",
		    listen);
		return -1;
	}
	struct ha_health *h = calloc(1, sizeof(*h));
	if (h == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	h->serving = serving;
	h->admits = admits;
	h->data = data;
	h->max_conns = HEALTH_MAX_CONNS;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur / 32 < h->max_conns)
		h->max_conns = rl.rlim_cur / 32 < HEALTH_MIN_CONNS
				   ? HEALTH_MIN_CONNS
				   : (size_t)(rl.rlim_cur / 32);
	if (uv_loop_init(&h->loop) != 0) {
		free(h);
		snprintf(err, errlen,
			 "cannot start the health endpoint's loop");
		return -1;
	}
	uv_tcp_init(&h->loop, &h->server);
	h->server.data = h;
	uv_async_init(&h->loop, &h->stop, on_stop);
	h->stop.data = h;
	int rv = uv_tcp_bind(&h->server, (struct sockaddr *)&ss, 0);
	if (rv == 0)
		rv = uv_listen((uv_stream_t *)&h->server, 64, on_connection);
	if (rv == 0 && pthread_create(&h->thread, NULL, thread_main, h) != 0)
		rv = UV_EAGAIN;
	if (rv != 0) {
		snprintf(err, errlen, "plugin_opt_health_listen %s: %s", listen,
			 uv_strerror(rv));
		uv_close((uv_handle_t *)&h->server, NULL);
		uv_close((uv_handle_t *)&h->stop, NULL);
		uv_run(&h->loop, UV_RUN_DEFAULT);
		uv_loop_close(&h->loop);
		free(h);
		return -1;
	}
	*out = h;
	return 0;
}

void ha_health_stop(struct ha_health *h)
{
	if (h == NULL)
		return;
	uv_async_send(&h->stop);
	pthread_join(h->thread, NULL);
	uv_loop_close(&h->loop);
	free(h);
}
