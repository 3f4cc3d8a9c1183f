/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
#include "bench/loadgen/sink.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/loadgen/options.h"

#define SINK_MAX_CONNECTIONS (2 * LOADGEN_MAX_CLIENTS)

struct sink_connection {
	int fd;
	pthread_mutex_t
	    write_lock; /* publishers' threads write to subscribers */
	bool subscribed;
};

/* What one read of a connection produced: its acknowledgements (sent back
 * in one write) and the publishes to forward (one write per subscriber). */
struct batch {
	uint8_t *acks;
	size_t acks_len;
	uint8_t *forwards;
	size_t forwards_len, forwards_cap;
	bool closing; /* a DISCONNECT came: close once the batch is out */
};

static int listen_fd = -1;
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sink_connection *connections[SINK_MAX_CONNECTIONS];
static int connection_count;

static int write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int reply(struct sink_connection *c, const uint8_t *buf, size_t len)
{
	pthread_mutex_lock(&c->write_lock);
	int rc = write_all(c->fd, buf, len);
	pthread_mutex_unlock(&c->write_lock);
	return rc;
}

static void forward_batch(const uint8_t *packets, size_t len)
{
	pthread_mutex_lock(&table_lock);
	int n = connection_count;
	struct sink_connection *targets[SINK_MAX_CONNECTIONS];
	memcpy(targets, connections, sizeof(targets[0]) * (size_t)n);
	pthread_mutex_unlock(&table_lock);
	for (int i = 0; i < n; i++)
		if (targets[i]->subscribed)
			(void)reply(targets[i], packets, len);
}

static int add_forward(struct batch *b, const uint8_t *packet, size_t len)
{
	if (b->forwards_len + len > b->forwards_cap) {
		size_t cap = (b->forwards_len + len) * 2;
		uint8_t *grown = realloc(b->forwards, cap);
		if (grown == NULL)
			return -1;
		b->forwards = grown;
		b->forwards_cap = cap;
	}
	memcpy(b->forwards + b->forwards_len, packet, len);
	b->forwards_len += len;
	return 0;
}

/* Acts on one whole packet (type and flags in first, body of len bytes,
 * the whole packet from packet); -1 closes the connection. */
static int handle(struct sink_connection *c, struct batch *b,
		  const uint8_t *packet, size_t whole, const uint8_t *body,
		  size_t len)
{
	unsigned type = packet[0] >> 4;
	if (type == 1) { /* CONNECT */
		static const uint8_t connack[] = {0x20, 0x02, 0x00, 0x00};
		return reply(c, connack, sizeof(connack));
	}
	if (type == 3) { /* PUBLISH */
		unsigned qos = (packet[0] >> 1) & 3;
		if (qos == 1) {
			if (len < 2)
				return -1;
			uint16_t topic_len = (uint16_t)(body[0] << 8 | body[1]);
			if (len < 2u + topic_len + 2u)
				return -1;
			uint8_t *ack = b->acks + b->acks_len;
			ack[0] = 0x40;
			ack[1] = 0x02;
			ack[2] = body[2 + topic_len];
			ack[3] = body[3 + topic_len];
			b->acks_len += 4;
		}
		return add_forward(b, packet, whole);
	}
	if (type == 8) { /* SUBSCRIBE: grant what was asked */
		if (len < 5)
			return -1;
		uint8_t suback[] = {0x90, 0x03, body[0], body[1],
				    body[len - 1] & 3};
		c->subscribed = true;
		return reply(c, suback, sizeof(suback));
	}
	if (type == 12) { /* PINGREQ */
		static const uint8_t pingresp[] = {0xd0, 0x00};
		return reply(c, pingresp, sizeof(pingresp));
	}
	if (type == 14) { /* DISCONNECT */
		b->closing = true;
		return 0;
	}
	return 0; /* PUBACK and the rest: nothing to do */
}

/* Parses whole packets from buf[0..len); how many bytes they took, or -1. */
static long parse(struct sink_connection *c, struct batch *b,
		  const uint8_t *buf, size_t len)
{
	size_t pos = 0;
	while (len - pos >= 2 && !b->closing) {
		size_t body_len = 0, i = 1;
		unsigned mult = 1;
		bool complete = false;
		for (; i <= 4 && pos + i < len; i++) {
			body_len += (size_t)(buf[pos + i] & 0x7f) * mult;
			mult *= 128;
			if (!(buf[pos + i] & 0x80)) {
				complete = true;
				i++;
				break;
			}
		}
		if (!complete) {
			if (i > 4)
				return -1;
			break;
		}
		if (len - pos < i + body_len)
			break;
		if (handle(c, b, buf + pos, i + body_len, buf + pos + i,
			   body_len) != 0)
			return -1;
		pos += i + body_len;
	}
	return (long)pos;
}

static void drop(struct sink_connection *c)
{
	pthread_mutex_lock(&table_lock);
	for (int i = 0; i < connection_count; i++)
		if (connections[i] == c)
			connections[i] = connections[--connection_count];
	pthread_mutex_unlock(&table_lock);
	/* A publisher's thread may still be writing to it: the memory stays
	 * (the sink lives as long as the process), only the socket closes. */
	shutdown(c->fd, SHUT_RDWR);
}

static void *serve(void *arg)
{
	struct sink_connection *c = arg;
	/* The largest packet: a payload, its topic and its header. */
	size_t cap = LOADGEN_MAX_PAYLOAD + 65536 + 8, used = 0;
	uint8_t *buf = malloc(cap);
	/* At most one 4-byte PUBACK per 2 bytes read (the smallest packet). */
	struct batch b = {.acks = malloc(2 * cap)};
	while (buf != NULL && b.acks != NULL) {
		ssize_t n = recv(c->fd, buf + used, cap - used, 0);
		if (n <= 0)
			break;
		used += (size_t)n;
		b.acks_len = 0;
		b.forwards_len = 0;
		long taken = parse(c, &b, buf, used);
		if (taken < 0 || (taken == 0 && used == cap))
			break;
		if (b.acks_len > 0 && reply(c, b.acks, b.acks_len) != 0)
			break;
		if (b.forwards_len > 0)
			forward_batch(b.forwards, b.forwards_len);
		if (b.closing)
			break;
		memmove(buf, buf + taken, used - (size_t)taken);
		used -= (size_t)taken;
	}
	free(buf);
	free(b.acks);
	free(b.forwards);
	drop(c);
	return NULL;
}

static void *accept_loop(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(listen_fd, NULL, NULL);
		if (fd < 0) {
			usleep(1000); /* out of descriptors: do not spin */
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct sink_connection *c = calloc(1, sizeof(*c));
		pthread_t thread;
		pthread_mutex_lock(&table_lock);
		bool room = connection_count < SINK_MAX_CONNECTIONS;
		if (c != NULL && room)
			connections[connection_count++] = c;
		pthread_mutex_unlock(&table_lock);
		if (c == NULL || !room) {
			free(c);
			close(fd);
			continue;
		}
		c->fd = fd;
		pthread_mutex_init(&c->write_lock, NULL);
		if (pthread_create(&thread, NULL, serve, c) != 0) {
			drop(c);
			continue;
		}
		pthread_detach(thread);
	}
	return NULL;
}

int sink_start(void)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	socklen_t addr_len = sizeof(addr);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	if (listen_fd < 0 ||
	    bind(listen_fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    listen(listen_fd, 128) != 0 ||
	    getsockname(listen_fd, (struct sockaddr *)&addr, &addr_len) != 0) {
		perror("sink");
		return -1;
	}
	pthread_t thread;
	if (pthread_create(&thread, NULL, accept_loop, NULL) != 0) {
		fprintf(stderr, "sink: cannot start its thread\n");
		return -1;
	}
	pthread_detach(thread);
	return ntohs(addr.sin_port);
}
