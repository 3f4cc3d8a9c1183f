/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Fuzz target for access control: the first byte says what the rest is.
 *   0  a change record: what decodes encodes again to the same bytes, and
 *      applies to a small state (or is refused with a sentence, the state
 *      unchanged);
 *   1  a snapshot section: what decodes encodes again to the same bytes;
 *   2  a dynamic-security file: what loads saves and loads again equal;
 *   3  a $CONTROL/dynamic-security/v1 payload run on a small state: every
 *      record it gives, applied in order to a copy, makes the copy equal.
 * With bit 7 of that byte set, the states follow mosquitto 2.1's rules.
 * A refusal must say why.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/dynsec/dynsec.h"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "ha_dynsec: check failed: %s\n",       \
				#cond);                                        \
			abort();                                               \
		}                                                              \
	} while (0)

static const char base_file[] =
    "{\"roles\": [{\"rolename\": \"r\", \"acls\": [{\"acltype\": "
    "\"publishClientSend\", \"topic\": \"a/#\", \"allow\": true}]}],"
    "\"clients\": [{\"username\": \"u\", \"roles\": [{\"rolename\": "
    "\"r\"}]}], \"groups\": [{\"groupname\": \"g\", \"clients\": "
    "[{\"username\": \"u\"}]}], \"anonymousGroup\": \"g\"}";

static bool v21;

static struct ha_dynsec *base_state(void)
{
	json_t *tree = json_loads(base_file, 0, NULL);
	struct ha_dynsec *s = ha_dynsec_new();
	CHECK(tree != NULL && s != NULL);
	s->v21 = v21;
	CHECK(ha_dynsec_load_json(s, tree) == HA_DYNSEC_OK);
	json_decref(tree);
	return s;
}

static void section_round_trip(const struct ha_dynsec *s)
{
	uint8_t *buf;
	size_t len;
	struct ha_dynsec *back = NULL;
	const char *why = NULL;
	CHECK(ha_dynsec_section_encode(s, &buf, &len) == HA_DYNSEC_OK);
	CHECK(ha_dynsec_section_decode(buf, len, &back, &why) == HA_DYNSEC_OK);
	CHECK(ha_dynsec_equal(s, back));
	ha_dynsec_free(back);
	free(buf);
}

static void fuzz_record(const uint8_t *data, size_t size)
{
	const char *why = NULL;
	uint8_t *again = NULL;
	size_t again_len = 0;
	int rv = ha_dynsec_record_check(data, size, &why, &again, &again_len);
	if (rv == HA_DYNSEC_OK) {
		CHECK(again_len == size && memcmp(again, data, size) == 0);
		free(again);
	} else {
		CHECK(why != NULL);
	}
	struct ha_dynsec *s = base_state(), *before = ha_dynsec_clone(s);
	CHECK(before != NULL);
	struct ha_dynsec_kicks kicks;
	if (ha_dynsec_record_kicks(s, data, size, &kicks) == HA_DYNSEC_OK)
		ha_dynsec_kicks_clear(&kicks);
	why = NULL;
	rv = ha_dynsec_apply(s, data, size, &why);
	if (rv == HA_DYNSEC_OK)
		section_round_trip(s);
	else
		CHECK(why != NULL && ha_dynsec_equal(s, before));
	ha_dynsec_free(before);
	ha_dynsec_free(s);
}

static void fuzz_section(const uint8_t *data, size_t size)
{
	struct ha_dynsec *s = NULL;
	const char *why = NULL;
	if (ha_dynsec_section_decode(data, size, &s, &why) != HA_DYNSEC_OK) {
		CHECK(why != NULL && s == NULL);
		return;
	}
	uint8_t *buf;
	size_t len;
	CHECK(ha_dynsec_section_encode(s, &buf, &len) == HA_DYNSEC_OK);
	CHECK(len == size && memcmp(buf, data, size) == 0);
	free(buf);
	ha_dynsec_free(s);
}

static void fuzz_file(const uint8_t *data, size_t size)
{
	json_t *tree = json_loadb((const char *)data, size, 0, NULL);
	if (tree == NULL)
		return;
	struct ha_dynsec *s = ha_dynsec_new(), *again = ha_dynsec_new();
	CHECK(s != NULL && again != NULL);
	s->v21 = again->v21 = v21;
	if (ha_dynsec_load_json(s, tree) == HA_DYNSEC_OK) {
		json_t *saved = ha_dynsec_save_json(s);
		CHECK(saved != NULL);
		CHECK(ha_dynsec_load_json(again, saved) == HA_DYNSEC_OK);
		CHECK(ha_dynsec_equal(s, again));
		json_decref(saved);
		section_round_trip(s);
	}
	json_decref(tree);
	ha_dynsec_free(again);
	ha_dynsec_free(s);
}

static void fuzz_payload(const uint8_t *data, size_t size)
{
	struct ha_dynsec *leader = base_state(), *follower = base_state();
	uint8_t **recs;
	size_t *lens, n;
	json_t *reply = ha_dynsec_payload(leader, (const char *)data, size,
					  &recs, &lens, &n);
	CHECK(reply != NULL);
	CHECK(json_is_array(json_object_get(reply, "responses")));
	for (size_t i = 0; i < n; i++) {
		const char *why = NULL;
		CHECK(ha_dynsec_apply(follower, recs[i], lens[i], &why) ==
		      HA_DYNSEC_OK);
		free(recs[i]);
	}
	CHECK(ha_dynsec_equal(leader, follower));
	free(recs);
	free(lens);
	json_decref(reply);
	ha_dynsec_free(leader);
	ha_dynsec_free(follower);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	v21 = data[0] & 0x80;
	switch (data[0] & 0x7f) {
	case 0:
		fuzz_record(data + 1, size - 1);
		break;
	case 1:
		fuzz_section(data + 1, size - 1);
		break;
	case 2:
		fuzz_file(data + 1, size - 1);
		break;
	case 3:
		fuzz_payload(data + 1, size - 1);
		break;
	default:
		break;
	}
	return 0;
}
