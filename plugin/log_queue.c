/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* A mutex-protected ring of log lines. */
#include <stdio.h>
#include <string.h>

#include "plugin/log_queue.h"

void ha_log_queue_init(struct ha_log_queue *q)
{
	memset(q, 0, sizeof(*q));
	pthread_mutex_init(&q->lock, NULL);
}

void ha_log_queue_destroy(struct ha_log_queue *q)
{
	pthread_mutex_destroy(&q->lock);
}

void ha_log_queue_push(struct ha_log_queue *q, int level, const char *text)
{
	pthread_mutex_lock(&q->lock);
	if (q->count == HA_LOG_QUEUE_MAX) {
		q->dropped++;
	} else {
		struct ha_log_line *l =
		    &q->lines[(q->head + q->count) % HA_LOG_QUEUE_MAX];
		l->level = level;
		snprintf(l->text, sizeof(l->text), "%s", text);
		q->count++;
	}
	pthread_mutex_unlock(&q->lock);
}

void ha_log_queue_drain(struct ha_log_queue *q,
			void (*write)(int level, const char *text))
{
	/* One line at a time under the lock, written outside it: the
	 * broker's log may be a slow file and other threads keep logging. */
	for (;;) {
		struct ha_log_line line;
		unsigned long dropped = 0;
		pthread_mutex_lock(&q->lock);
		if (q->count == 0) {
			dropped = q->dropped;
			q->dropped = 0;
			pthread_mutex_unlock(&q->lock);
			if (dropped > 0) {
				char note[96];
				snprintf(
				    note, sizeof(note),
				    "%lu log lines of the cluster node were "
				    "dropped (the queue was full)",
				    dropped);
				write(-1, note);
			}
			return;
		}
		line = q->lines[q->head];
		q->head = (q->head + 1) % HA_LOG_QUEUE_MAX;
		q->count--;
		pthread_mutex_unlock(&q->lock);
		write(line.level, line.text);
	}
}
