/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Valid messages of every type with edge values, shared by the codec's unit
 * tests, its fuzz target and the generator of the fuzz seed corpus. */
#ifndef TESTS_RAFT_CODEC_SAMPLES_H
#define TESTS_RAFT_CODEC_SAMPLES_H

#include <stdbool.h>
#include <stddef.h>

#include "raft/raft.h"

struct codec_sample {
	const char *name; /* also the corpus file name */
	struct raft_message m;
};

/* The samples; they point into static storage that lives as long as the
 * program. */
size_t codec_samples(const struct codec_sample **out);

/* Fills a configuration of n servers (1..RAFT_MAX_SERVERS); with long_names
 * every address has the maximum length. */
void codec_sample_config(struct raft_config *c, uint32_t n, bool long_names);

/* Whether two messages say the same thing: every field, the entries with
 * their bytes, the configuration and the chunk bytes. */
bool codec_messages_equal(const struct raft_message *a,
			  const struct raft_message *b);

#endif
