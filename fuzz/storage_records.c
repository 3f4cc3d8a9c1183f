/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Fuzz target for the storage's on-disk parsers: metadata, segment header,
 * record header, snapshot header and the scan of a whole segment image.
 * Whatever decodes must encode back to the same bytes, and a scan's result
 * must describe records that lie inside the input, in order.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/format.h"
#include "storage/storage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[STORAGE_WHY_MAX];
	uint8_t out[STORAGE_SNAPSHOT_HEADER_SIZE];

	struct storage_meta m;
	if (storage__meta_decode(data, size, &m, why) == STORAGE_OK) {
		storage__meta_encode(&m, out);
		if (memcmp(out, data, STORAGE_META_SIZE) != 0)
			abort();
	}
	struct storage_segment_header sh;
	raft_index first = 1;
	if (storage__segment_header_decode(data, size, &sh, why) ==
	    STORAGE_OK) {
		storage__segment_header_encode(&sh, out);
		if (memcmp(out, data, STORAGE_SEGMENT_HEADER_SIZE) != 0)
			abort();
		first = sh.first_index;
	}
	struct storage_record r;
	if (storage__record_header_decode(data, size, &r, why) == STORAGE_OK) {
		storage__record_header_encode(&r, out);
		if (memcmp(out, data, STORAGE_RECORD_HEADER_SIZE) != 0)
			abort();
	}
	struct storage_snapshot_header snap;
	if (storage__snapshot_header_decode(data, size, &snap, why) ==
	    STORAGE_OK) {
		storage__snapshot_header_encode(&snap, out);
		if (memcmp(out, data, STORAGE_SNAPSHOT_HEADER_SIZE) != 0)
			abort();
	}

	struct storage_scan sc;
	int rv = storage__segment_scan(data, size, first, 0, &sc);
	if (rv == STORAGE_OK) {
		if (sc.end > size || sc.bad_offset > size)
			abort();
		uint64_t prev = 0;
		for (size_t i = 0; i < sc.n; i++) {
			if (sc.offsets[i] < STORAGE_SEGMENT_HEADER_SIZE ||
			    sc.offsets[i] + STORAGE_RECORD_HEADER_SIZE >
				sc.end ||
			    (i > 0 && sc.offsets[i] <= prev) ||
			    (i > 0 && sc.terms[i] < sc.terms[i - 1]))
				abort();
			if (storage__record_header_decode(
				data + sc.offsets[i], size - sc.offsets[i], &r,
				why) != STORAGE_OK ||
			    r.index != first + i)
				abort();
			prev = sc.offsets[i];
		}
	} else if (rv != STORAGE_ECORRUPT && rv != STORAGE_EFORMAT &&
		   rv != STORAGE_ENOMEM) {
		abort();
	}
	storage__scan_free(&sc);
	return 0;
}
