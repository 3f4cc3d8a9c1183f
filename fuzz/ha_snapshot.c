/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Fuzz target for state snapshots: any bytes are restored. A version 2
 * snapshot that restores must serialize again to the same bytes; a
 * version 1 one must come back the same through version 2. A refusal must
 * say why. Then feature level 3, a retained message carrying the input and
 * the input itself as a record (an access-control change, say: applied or
 * refused, it must leave a state that goes round) are applied to the
 * restored state, which must go round once more; the access-control data
 * comes back equal. Each
 * input is tried as it is and with its checksum made right, so that the
 * sections behind it are reached.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "plugin/dynsec/dynsec.h"
#include "plugin/state_snapshot.h"
#include "raft/byteorder.h"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "ha_snapshot: check failed: %s\n",     \
				#cond);                                        \
			abort();                                               \
		}                                                              \
	} while (0)

static uint8_t *serialize(const struct ha_state *s, size_t *len)
{
	struct ha_state_frozen *f = ha_state_capture(s);
	CHECK(f != NULL);
	uint8_t *buf = NULL;
	CHECK(ha_state_serialize(f, &buf, len) == 0);
	ha_state_release(f);
	return buf;
}

static void run(const uint8_t *data, size_t size)
{
	struct ha_state *s = NULL;
	char why[256] = "";
	int rv = ha_state_restore(data, size, 1, &s, why, sizeof(why));
	if (rv != HA_SNAP_OK) {
		CHECK(rv == HA_SNAP_MALFORMED || rv == HA_SNAP_NEWER);
		CHECK(s == NULL);
		CHECK(strlen(why) > 0);
		return;
	}
	size_t len;
	uint8_t *again = serialize(s, &len);
	if (size > 2) {
		CHECK(len == size);
		CHECK(memcmp(again, data, size) == 0);
	} else {
		struct ha_state *back = NULL;
		CHECK(ha_state_restore(again, len, 2, &back, NULL, 0) ==
		      HA_SNAP_OK);
		CHECK(back->deleted == s->deleted);
		CHECK(back->feature_level == s->feature_level);
		CHECK(ha_dynsec_equal(back->access_control, s->access_control));
		CHECK(ha_retained_store_count(back->retained) == 0);
		ha_state_free(back);
	}
	free(again);

	/* Change it a little and go round once more. */
	const uint8_t level3[] = {2, 1, 3, 0, 0, 0};
	CHECK(ha_state_apply(s, 1, level3, sizeof(level3), NULL, 0) ==
	      HA_APPLY_OK);
	struct ha_record set = {.type = HA_REC_TYPE_RETAIN_SET};
	set.u.retain_set.topic = (struct ha_bytes){(const uint8_t *)"f/z", 3};
	set.u.retain_set.payload = (struct ha_bytes){data, size};
	uint8_t *rec;
	size_t rec_len;
	if (ha_record_encode(&set, &rec, &rec_len, NULL) == HA_REC_OK) {
		CHECK(ha_state_apply(s, 2, rec, rec_len, NULL, 0) ==
		      HA_APPLY_OK);
		free(rec);
	}
	char line[256] = "";
	rv = ha_state_apply(s, 3, data, size, line, sizeof(line));
	CHECK(rv == HA_APPLY_OK || rv == HA_APPLY_NEWER ||
	      rv == HA_APPLY_MALFORMED);
	CHECK(rv == HA_APPLY_OK || strlen(line) > 0);
	size_t count = ha_retained_store_count(s->retained);
	again = serialize(s, &len);
	struct ha_state *back = NULL;
	CHECK(ha_state_restore(again, len, 3, &back, NULL, 0) == HA_SNAP_OK);
	CHECK(ha_retained_store_count(back->retained) == count);
	CHECK(ha_dynsec_equal(back->access_control, s->access_control));
	size_t len2;
	uint8_t *twice = serialize(back, &len2);
	CHECK(len2 == len && memcmp(twice, again, len) == 0);
	free(twice);
	free(again);
	ha_state_free(back);
	ha_state_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run(data, size);
	/* Past the checksum too: the same bytes with a correct CRC. */
	if (size < 9 || memcmp(data, HA_SNAPSHOT_MAGIC, 4) != 0)
		return 0;
	uint8_t *fixed = malloc(size);
	CHECK(fixed != NULL);
	memcpy(fixed, data, size);
	uint32_t crc =
	    (uint32_t)crc32(crc32(0L, Z_NULL, 0), fixed, (uInt)(size - 4));
	le32_store(fixed + size - 4, crc);
	run(fixed, size);
	free(fixed);
	return 0;
}
