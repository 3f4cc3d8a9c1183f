/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Fuzz target for ha-kv's decoders, chosen by the first byte: a client
 * request line (kv/protocol.c), a command from the log (kv/command.c) and
 * a state machine snapshot (kv/map.c). Whatever decodes must re-encode to
 * something that decodes to the same thing.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kv/command.h"
#include "kv/map.h"
#include "kv/protocol.h"

static void fuzz_line(const uint8_t *data, size_t size)
{
	if (size > KV_LINE_MAX)
		return;
	char *line = malloc(size + 1);
	if (line == NULL)
		return;
	memcpy(line, data, size);
	line[size] = '\0';
	struct kv_parsed p;
	char why[64];
	if (kv_parse_line(line, size, &p, why, sizeof(why)) == 0) {
		if (p.members.n > RAFT_MAX_SERVERS)
			abort();
		for (int i = 0; i < 3; i++)
			if (p.arg_len[i] > KV_VALUE_MAX)
				abort();
	}
	free(line);
}

static void fuzz_command(const uint8_t *data, size_t size)
{
	struct kv_command c;
	if (kv_command_decode(data, size, &c) != 0)
		return;
	uint8_t *buf;
	size_t len;
	if (kv_command_encode(&c, &buf, &len) != 0)
		abort();
	if (len != size || memcmp(buf, data, size) != 0)
		abort();
	free(buf);
	struct kv_map *m = kv_map_new();
	bool swapped;
	if (m != NULL) {
		kv_command_apply(&c, m, &swapped);
		kv_map_free(m);
	}
}

static void fuzz_snapshot(const uint8_t *data, size_t size)
{
	int err;
	struct kv_map *m = kv_map_decode(data, size, &err);
	if (m == NULL)
		return;
	uint8_t *buf;
	size_t len;
	if (kv_map_encode(m, &buf, &len) != 0)
		abort();
	struct kv_map *again = kv_map_decode(buf, len, &err);
	if (again == NULL || kv_map_digest(again) != kv_map_digest(m) ||
	    kv_map_count(again) != kv_map_count(m))
		abort();
	free(buf);
	kv_map_free(again);
	kv_map_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0] % 3) {
	case 0:
		fuzz_line(data + 1, size - 1);
		break;
	case 1:
		fuzz_command(data + 1, size - 1);
		break;
	default:
		fuzz_snapshot(data + 1, size - 1);
		break;
	}
	return 0;
}
