/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Writes the fuzz seed corpora: one file per sample message (valid
 * encodings of every message type) and a few encoded configurations.
 *   codec_corpus MESSAGE_DIR CONFIG_DIR */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raft/codec.h"
#include "tests/corpus_files.h"
#include "tests/raft/codec_samples.h"

static int write_file(const char *dir, const char *name, const uint8_t *buf,
		      size_t len)
{
	return corpus_write_file("codec_corpus", dir, name, buf, len);
}

static int make_dir(const char *dir)
{
	return corpus_make_dir("codec_corpus", dir);
}

static int write_messages(const char *dir)
{
	const struct codec_sample *s;
	size_t n = codec_samples(&s);
	for (size_t i = 0; i < n; i++) {
		size_t len = raft_codec_message_size(&s[i].m);
		uint8_t *buf = malloc(len ? len : 1);
		if (len == 0 || buf == NULL ||
		    raft_codec_encode_message(&s[i].m, buf, len) !=
			RAFT_CODEC_OK) {
			fprintf(stderr, "codec_corpus: cannot encode %s\n",
				s[i].name);
			free(buf);
			return -1;
		}
		int rv = write_file(dir, s[i].name, buf, len);
		free(buf);
		if (rv != 0)
			return -1;
		/* The entries alone, as storage keeps them. */
		for (uint32_t k = 0; k < s[i].m.n_entries; k++) {
			const struct raft_entry *e = &s[i].m.entries[k];
			uint8_t ebuf[RAFT_CODEC_ENTRY_HEADER_BYTES + 1024];
			char name[128];
			if (raft_codec_entry_size(e) > sizeof(ebuf) ||
			    raft_codec_entry_encode(e, ebuf, sizeof(ebuf)) !=
				RAFT_CODEC_OK) {
				fprintf(stderr,
					"codec_corpus: cannot encode an "
					"entry of %s\n",
					s[i].name);
				return -1;
			}
			snprintf(name, sizeof(name), "entry-%s-%u", s[i].name,
				 (unsigned)k);
			if (write_file(dir, name, ebuf,
				       raft_codec_entry_size(e)) != 0)
				return -1;
		}
	}
	return 0;
}

static int write_configs(const char *dir)
{
	static const struct {
		const char *name;
		uint32_t n;
		bool long_names;
	} kinds[] = {
	    {"config-empty", 0, false},
	    {"config-one", 1, false},
	    {"config-three", 3, false},
	    {"config-full", RAFT_MAX_SERVERS, false},
	    {"config-full-long-addresses", RAFT_MAX_SERVERS, true},
	};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct raft_config c;
		uint8_t buf[RAFT_CODEC_CONFIG_MAX_BYTES];
		codec_sample_config(&c, kinds[i].n, kinds[i].long_names);
		size_t len = raft_config_encoded_size(&c);
		raft_config_encode(&c, buf);
		if (write_file(dir, kinds[i].name, buf, len) != 0)
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: codec_corpus MESSAGE_DIR CONFIG_DIR\n");
		return 2;
	}
	if (make_dir(argv[1]) != 0 || write_messages(argv[1]) != 0 ||
	    make_dir(argv[2]) != 0 || write_configs(argv[2]) != 0)
		return 1;
	return 0;
}
