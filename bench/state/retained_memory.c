/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Memory and time of the Raft-side retained messages: applies N retained
 * sets (64-byte payload, 32-byte topic, no properties: a 136-byte record)
 * and reports the heap they hold per message as glibc's allocator counts it
 * (mallinfo2: headers, rounding and table included), then the time to
 * capture, serialize and restore a snapshot, and its size.
 *   retained_memory [N]      (default 200000)
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugin/state.h"
#include "plugin/state_snapshot.h"

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000;
	if (n <= 0 || n > 999999999999L) {
		fprintf(stderr, "usage: retained_memory [N]\n");
		return 2;
	}
	char topic[48], payload[64];
	memset(payload, 'p', sizeof(payload));
	size_t before = heap_in_use();
	struct ha_state *s = ha_state_new(1);
	if (s == NULL)
		return 1;
	size_t record_len = 0;
	double t0 = now_ms();
	for (long i = 0; i < n; i++) {
		snprintf(topic, sizeof(topic), "building/floor/room/%012ld", i);
		struct ha_record r = {.type = HA_REC_TYPE_RETAIN_SET};
		r.u.retain_set.origin = (struct ha_origin){1, 42, 1000};
		r.u.retain_set.topic =
		    (struct ha_bytes){(const uint8_t *)topic, 32};
		r.u.retain_set.payload =
		    (struct ha_bytes){(const uint8_t *)payload, 64};
		r.u.retain_set.qos = 1;
		uint8_t *rec;
		if (ha_record_encode(&r, &rec, &record_len, NULL) !=
			HA_REC_OK ||
		    ha_state_apply(s, (uint64_t)i + 1, rec, record_len, NULL,
				   0) != HA_APPLY_OK) {
			fprintf(stderr, "apply failed at %ld\n", i);
			return 1;
		}
		free(rec);
	}
	double t1 = now_ms();
	size_t held = heap_in_use() - before;
	printf("retained: %ld messages, record %zu bytes: heap %.1f bytes per "
	       "message (store's own count %.1f), apply %.2f us each\n",
	       n, record_len, (double)held / (double)n,
	       (double)ha_retained_store_memory(s->retained) / (double)n,
	       (t1 - t0) * 1e3 / (double)n);

	double c0 = now_ms();
	struct ha_state_frozen *f = ha_state_capture(s);
	double c1 = now_ms();
	uint8_t *buf;
	size_t len;
	if (f == NULL || ha_state_serialize(f, &buf, &len) != 0)
		return 1;
	double c2 = now_ms();
	ha_state_release(f);
	struct ha_state *r;
	if (ha_state_restore(buf, len, 2, &r, NULL, 0) != HA_SNAP_OK)
		return 1;
	double c3 = now_ms();
	printf("snapshot: %.1f bytes per message; capture %.1f ms, serialize "
	       "%.1f ms, restore %.1f ms\n",
	       (double)len / (double)n, c1 - c0, c2 - c1, c3 - c2);
	ha_state_free(r);
	free(buf);
	ha_state_free(s);
	return 0;
}
