/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Fuzz target of the Raft wire decoder: arbitrary bytes as a message and as
 * a single entry. Whatever decodes must re-encode to exactly the input (the
 * encoding is canonical) and that re-encoding must decode to the same
 * message. Sanitizers catch any read past the input and any leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "raft/codec.h"
#include "tests/raft/codec_samples.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_message(const uint8_t *data, size_t size)
{
	struct raft_message m;
	int rv = raft_codec_decode_message(data, size, &m);
	if (rv != RAFT_CODEC_OK) {
		if (strcmp(raft_codec_strerror(rv), raft_codec_strerror(1)) ==
		    0)
			abort(); /* an error without a description */
		return;
	}
	size_t len = raft_codec_message_size(&m);
	if (len != size)
		abort();
	uint8_t *buf = malloc(len);
	if (buf == NULL)
		abort();
	if (raft_codec_encode_message(&m, buf, len) != RAFT_CODEC_OK ||
	    memcmp(buf, data, len) != 0)
		abort();
	struct raft_message again;
	if (raft_codec_decode_message(buf, len, &again) != RAFT_CODEC_OK ||
	    !codec_messages_equal(&m, &again))
		abort();
	raft_codec_message_free(&again);
	raft_codec_message_free(&m);
	free(buf);
}

static void check_entry(const uint8_t *data, size_t size)
{
	struct raft_entry e;
	size_t used;
	if (raft_codec_entry_decode(data, size, &e, &used) != RAFT_CODEC_OK)
		return;
	if (used > size || used != raft_codec_entry_size(&e))
		abort();
	uint8_t *buf = malloc(used);
	if (buf == NULL)
		abort();
	if (raft_codec_entry_encode(&e, buf, used) != RAFT_CODEC_OK ||
	    memcmp(buf, data, used) != 0)
		abort();
	free(buf);
	raft_codec_entry_free(&e);
	/* Without `used` only an exact fit decodes. */
	int rv = raft_codec_entry_decode(data, size, &e, NULL);
	if ((rv == RAFT_CODEC_OK) != (used == size))
		abort();
	raft_codec_entry_free(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_message(data, size);
	check_entry(data, size);
	return 0;
}
