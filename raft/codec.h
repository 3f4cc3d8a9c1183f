/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * The binary encoding of Raft messages and of single log entries, as they
 * travel between nodes (and as storage may keep entries). Little-endian,
 * fixed-width fields; docs/raft-encoding.md ("Wire encoding") has the byte
 * layout of every message.
 *
 * A message starts with a format byte (the layout of what follows), the
 * message type and the sender's advertised version (m->version, the highest
 * version it speaks), so that peers learn each other's versions from every
 * message. Decoding accepts only formats RAFT_VERSION_MIN..RAFT_VERSION_MAX
 * and known message types; entries of a type or version this build does not
 * know decode as opaque bytes, because the core must refuse to apply them
 * (and stop), never drop them.
 *
 * Decoding checks every length against what is left of the input and against
 * the limits below before it allocates anything; any malformed input is an
 * error with a code and a static message, and leaves nothing allocated.
 */
#ifndef RAFT_CODEC_H
#define RAFT_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

/* The message layout this build writes. */
#define RAFT_CODEC_FORMAT 1u

/* At most this many entries in one APPEND. The core's max_append_entries
 * must not be larger. */
#define RAFT_CODEC_MAX_ENTRIES 1024u

/* Entry payload bytes of one APPEND together, and the bytes of one snapshot
 * chunk: one maximal entry. The core's batching keeps an APPEND within this
 * as long as max_append_bytes <= RAFT_MAX_ENTRY_BYTES, and a chunk within it
 * as long as snapshot_chunk_bytes <= RAFT_MAX_ENTRY_BYTES. */
#define RAFT_CODEC_MAX_PAYLOAD RAFT_MAX_ENTRY_BYTES

/* Fixed parts of an encoding, in bytes: the header of every message (format,
 * type, version, from, to, term), an entry's header (term, index, type,
 * version, len), an APPEND's fields before its entries (prev_index,
 * prev_term, commit, round, n_entries) and a SNAPSHOT's fields besides its
 * configuration and chunk (snap_index, snap_term, snap_size, offset, commit,
 * round, done, configuration length, chunk length). */
#define RAFT_CODEC_HEADER_BYTES 19u
#define RAFT_CODEC_ENTRY_HEADER_BYTES 22u
#define RAFT_CODEC_APPEND_FIXED_BYTES 36u
#define RAFT_CODEC_SNAPSHOT_FIXED_BYTES 55u
/* The largest encoded configuration: format, cluster id, count, and per
 * server id, role, promote, address length and a 255-byte address. */
#define RAFT_CODEC_CONFIG_MAX_BYTES                                            \
	(1u + RAFT_CLUSTER_ID_LEN + 2u +                                       \
	 RAFT_MAX_SERVERS * (4u + 1u + 1u + 2u + (RAFT_ADDRESS_MAX - 1u)))

/* The largest encoded message (the transport's frame limit must allow it):
 * a full APPEND, which is larger than a full SNAPSHOT chunk. 4,216,887 bytes
 * with the constants of raft.h. */
#define RAFT_CODEC_MAX_MESSAGE_BYTES                                           \
	(RAFT_CODEC_HEADER_BYTES + RAFT_CODEC_APPEND_FIXED_BYTES +             \
	 RAFT_CODEC_MAX_ENTRIES * RAFT_CODEC_ENTRY_HEADER_BYTES +              \
	 RAFT_CODEC_MAX_PAYLOAD)

enum raft_codec_error {
	RAFT_CODEC_OK = 0,
	RAFT_CODEC_ETRUNCATED = -1, /* the input ends inside a field */
	RAFT_CODEC_ETRAILING = -2,  /* bytes left after the message */
	RAFT_CODEC_EFORMAT = -3,    /* format version this build cannot read */
	RAFT_CODEC_ETYPE = -4,	    /* unknown message type */
	RAFT_CODEC_ETOOBIG = -5,   /* a count or length over the limits above */
	RAFT_CODEC_EFIELD = -6,	   /* a field holds a value it never can */
	RAFT_CODEC_ECONFIG = -7,   /* the snapshot's configuration is invalid */
	RAFT_CODEC_ENOMEM = -8,	   /* out of memory */
	RAFT_CODEC_EINVAL = -9,	   /* encode: the message cannot be encoded */
	RAFT_CODEC_ENOSPACE = -10, /* encode: the output buffer is too small */
};

/* A static, human-readable description of a raft_codec_error. */
const char *raft_codec_strerror(int rv);

/* Bytes that raft_codec_encode_message() writes for m, or 0 when m cannot be
 * encoded (unknown type, over the limits, entries or chunk data or the
 * snapshot's configuration missing, entry indexes not following
 * prev_index). */
size_t raft_codec_message_size(const struct raft_message *m);

/* Writes m into buf, which must hold raft_codec_message_size(m) bytes. The
 * driver fills a SNAPSHOT's data before encoding it: a chunk with len > 0
 * and no data is RAFT_CODEC_EINVAL. */
int raft_codec_encode_message(const struct raft_message *m, uint8_t *buf,
			      size_t len);

/* Decodes exactly one message from buf[0..len). On success *out owns copies
 * of everything (entries, their data, the chunk, the configuration), so buf
 * may be freed; release them with raft_codec_message_free(). On failure *out
 * is zeroed and nothing is allocated. Fields that the message type does not
 * carry are zero. */
int raft_codec_decode_message(const uint8_t *buf, size_t len,
			      struct raft_message *out);

/* Frees what raft_codec_decode_message() allocated and zeroes *m. Only for
 * decoded messages: those the core builds point into its own memory. */
void raft_codec_message_free(struct raft_message *m);

/* One entry: term, index, type, version, len, data. */
size_t raft_codec_entry_size(const struct raft_entry *e);

/* Writes e into buf (raft_codec_entry_size(e) bytes). An entry over
 * RAFT_MAX_ENTRY_BYTES, or with len > 0 and no data, is RAFT_CODEC_EINVAL. */
int raft_codec_entry_encode(const struct raft_entry *e, uint8_t *buf,
			    size_t len);

/* Decodes one entry from the start of buf. With used == NULL the entry must
 * fill buf exactly; otherwise *used receives its length and bytes after it
 * are left alone (entries stored back to back). e->data is a copy (NULL when
 * len is 0), to be freed with raft_codec_entry_free(). Type and version are
 * not judged beyond version 0 being invalid: unknown ones are the core's to
 * refuse at apply. */
int raft_codec_entry_decode(const uint8_t *buf, size_t len,
			    struct raft_entry *e, size_t *used);

void raft_codec_entry_free(struct raft_entry *e);

#endif
