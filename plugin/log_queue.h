/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Log lines from the plugin's own threads (the raft thread, the transport)
 * on their way to the broker's log. Only the broker thread may call
 * mosquitto_log_printf, so other threads queue their lines here and the
 * broker thread writes them at its next TICK. The queue is bounded: past
 * HA_LOG_QUEUE_MAX lines, new ones are counted and the count is logged. */
#ifndef HA_LOG_QUEUE_H
#define HA_LOG_QUEUE_H

#include <pthread.h>
#include <stddef.h>

#define HA_LOG_QUEUE_MAX 256
#define HA_LOG_LINE_MAX 640

struct ha_log_line {
	int level; /* enum ha_node_log_level */
	char text[HA_LOG_LINE_MAX];
};

struct ha_log_queue {
	pthread_mutex_t lock;
	struct ha_log_line lines[HA_LOG_QUEUE_MAX];
	size_t head; /* next line to write out */
	size_t count;
	unsigned long dropped;
};

void ha_log_queue_init(struct ha_log_queue *q);
void ha_log_queue_destroy(struct ha_log_queue *q);
/* Any thread. */
void ha_log_queue_push(struct ha_log_queue *q, int level, const char *text);
/* Broker thread: calls write for every queued line, oldest first, then
 * once with level -1 and a note when lines were dropped. */
void ha_log_queue_drain(struct ha_log_queue *q,
			void (*write)(int level, const char *text));

#endif
