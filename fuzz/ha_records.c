/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Fuzz target for the record layer: any bytes are decoded. A record that
 * decodes must re-encode to the same bytes (the legacy one-byte
 * deleteCluster to today's two bytes), both from the decoded form and
 * from its user properties read one by one, with the size it announced;
 * one that does not must say why in a way the log can print.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/records.h"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "ha_records: check failed: %s\n",      \
				#cond);                                        \
			abort();                                               \
		}                                                              \
	} while (0)

static void expect_encodes_to(const struct ha_record *rec, const uint8_t *data,
			      size_t size)
{
	uint8_t *out = NULL;
	size_t len = 0;
	const char *why = NULL;
	int rv = ha_record_encode(rec, &out, &len, &why);
	CHECK(rv == HA_REC_OK);
	CHECK(ha_record_encoded_size(rec, NULL) == len);
	CHECK(len == size);
	CHECK(memcmp(out, data, size) == 0);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ha_record rec;
	char line[256];
	int rv = ha_record_decode(data, size, &rec);
	ha_record_describe(rv, data, size, &rec, 1, line, sizeof(line));
	CHECK(strlen(line) > 0);
	if (rv != HA_REC_OK) {
		CHECK(rv == HA_REC_MALFORMED || rv == HA_REC_UNKNOWN_TYPE ||
		      rv == HA_REC_NEWER_VERSION);
		CHECK(rv != HA_REC_MALFORMED || rec.reason != NULL);
		return 0;
	}
	if (rec.legacy) {
		const uint8_t today[] = {HA_REC_TYPE_DELETE_CLUSTER, 1};
		CHECK(size == 1);
		expect_encodes_to(&rec, today, sizeof(today));
		return 0;
	}
	expect_encodes_to(&rec, data, size);
	if (rec.type != HA_REC_TYPE_RETAIN_SET)
		return 0;

	/* The user properties, one by one, encode the same. */
	struct ha_retain_set *m = &rec.u.retain_set;
	struct ha_user_property *props =
	    calloc(m->n_user_properties + 1, sizeof(*props));
	CHECK(props != NULL);
	struct ha_bytes cursor = m->user_properties_raw;
	size_t n = 0;
	while (ha_user_property_next(&cursor, &props[n])) {
		CHECK(n < m->n_user_properties);
		n++;
	}
	CHECK(n == m->n_user_properties);
	CHECK(cursor.len == 0);
	m->user_properties = props;
	expect_encodes_to(&rec, data, size);
	free(props);
	return 0;
}
