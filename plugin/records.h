/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * The records the plugin writes to the Raft log: the replicated broker state
 * travels through these and nothing else. No broker headers, no I/O.
 *
 * Every record: byte 0 its type, byte 1 its version, then a body whose
 * integers are little-endian (raft/byteorder.h) and whose every length is
 * checked (docs/records.md has the formats byte by byte). The one exception is
 * the legacy deleteCluster record, the single byte [0x01], which still decodes.
 *
 * Usage:
 *
 *   Writing: fill a struct ha_record (type, and the body of that type) and
 *   call ha_record_encode(); it validates every field, refuses a record
 *   larger than HA_RECORD_MAX with HA_REC_TOO_BIG, and returns a malloc()ed
 *   buffer. ha_record_encoded_size() answers "how large would it be" without
 *   allocating (admission of a publish). Write a type only once the
 *   committed feature level allows it: ha_record_writable(type, level).
 *
 *   Reading: ha_record_decode(buf, len, &rec). On HA_REC_OK the body's
 *   byte strings (struct ha_bytes) point into buf: they live as long as buf
 *   and are not NUL-terminated. User properties stay in their encoded form
 *   (rec.u.retain_set.user_properties_raw) and are read one by one with
 *   ha_user_property_next(). Any other result means: stop applying.
 *   HA_REC_UNKNOWN_TYPE and HA_REC_NEWER_VERSION mean the record was written
 *   by a newer mosquitto_ha (log ha_record_describe()'s line);
 *   HA_REC_MALFORMED sets rec.reason to a static sentence.
 */
#ifndef HA_PLUGIN_RECORDS_H
#define HA_PLUGIN_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A whole record at most (type and version included): the maximum payload
 * of a Raft entry. */
#define HA_RECORD_MAX (4u * 1024u * 1024u)

/* Type numbers are forever: a number is never reused for something else. */
enum ha_record_type {
	HA_REC_TYPE_DELETE_CLUSTER = 1,
	HA_REC_TYPE_FEATURE_LEVEL = 2,
	HA_REC_TYPE_RETAIN_SET = 3,
	HA_REC_TYPE_RETAIN_DELETE = 4,
	/* Reserved for the rest of the broker state; not decoded yet. */
	HA_REC_TYPE_SESSION = 5,
	HA_REC_TYPE_SUBSCRIPTION = 6,
	HA_REC_TYPE_CLIENT_MSG = 7, /* a message queued for one client */
	HA_REC_TYPE_BASE_MSG = 8,   /* a stored message, shared by queues */
	HA_REC_TYPE_WILL = 9,
	/* A change of the access-control data (plugin/dynsec/, whose code
	 * writes and reads its body). */
	HA_REC_TYPE_ACCESS_CONTROL = 10,
};

/* The version of each type this code writes (and the newest it reads). */
#define HA_REC_VERSION_DELETE_CLUSTER 1
#define HA_REC_VERSION_FEATURE_LEVEL 1
#define HA_REC_VERSION_RETAIN_SET 1
#define HA_REC_VERSION_RETAIN_DELETE 1
#define HA_REC_VERSION_ACCESS_CONTROL 1

/* Cluster feature levels. Level 1 is a cluster that never committed a
 * feature level record: deleteCluster only. Level 2 adds the feature level
 * record itself and retained messages; level 3 access-control changes
 * (and the snapshot's access-control section). HA_FEATURE_LEVEL_MAX is the
 * level this code implements (what a node advertises). */
#define HA_FEATURE_LEVEL_BASE 1u
#define HA_FEATURE_LEVEL_MAX 3u

enum ha_record_status {
	HA_REC_OK = 0,
	HA_REC_MALFORMED = -1,	   /* reason says why */
	HA_REC_UNKNOWN_TYPE = -2,  /* a type this code does not read */
	HA_REC_NEWER_VERSION = -3, /* a known type in a newer version */
	HA_REC_TOO_BIG = -4,	   /* encode: larger than HA_RECORD_MAX */
	HA_REC_ENOMEM = -5,	   /* encode: out of memory */
};

/* A byte string; not NUL-terminated. */
struct ha_bytes {
	const uint8_t *data;
	size_t len;
};

struct ha_user_property {
	struct ha_bytes name;
	struct ha_bytes value;
};

/* Where a record was captured: the node, its process incarnation (random
 * at each broker start) and the wall-clock time, unix milliseconds. */
struct ha_origin {
	uint16_t node_id;
	uint64_t incarnation;
	uint64_t captured_ms;
};

/* The smallest retained-set record: a one-byte topic, nothing else. */
#define HA_RETAIN_SET_MIN_BYTES 41u

/* Limits of the strings of a retained message (the MQTT ones). */
#define HA_TOPIC_MAX 65535u
#define HA_PROPERTY_STRING_MAX 65535u

/* A retained message set (or replaced) on a topic. Topic, content type,
 * response topic and user property names and values are UTF-8 without
 * U+0000; topic and response topic are topic names (1..65535 bytes, no
 * '+' or '#'). Correlation data and the payload are any bytes. */
struct ha_retain_set {
	struct ha_origin origin;
	struct ha_bytes topic;
	uint8_t qos;	    /* 0..2 */
	uint64_t expiry_ms; /* absolute, unix milliseconds; 0: never */
	/* MQTT v5 properties that a retained message keeps. */
	bool has_payload_format;
	uint8_t payload_format; /* 0 or 1 */
	bool has_content_type;
	struct ha_bytes content_type;
	bool has_response_topic;
	struct ha_bytes response_topic;
	bool has_correlation_data;
	struct ha_bytes correlation_data;
	/* User properties, in order, repeated names allowed. To encode, give
	 * either user_properties[n_user_properties] or (user_properties NULL)
	 * their encoded form in user_properties_raw, as a decode left it.
	 * Decoding sets n_user_properties and user_properties_raw. */
	size_t n_user_properties;
	const struct ha_user_property *user_properties;
	struct ha_bytes user_properties_raw;
	struct ha_bytes payload;
};

struct ha_retain_delete {
	struct ha_origin origin;
	struct ha_bytes topic;
};

struct ha_record {
	uint8_t type;	 /* enum ha_record_type */
	uint8_t version; /* set by decode; encode writes the current one */
	bool legacy;	 /* decode: the one-byte deleteCluster */
	union {
		uint32_t feature_level; /* >= 1 */
		struct ha_retain_set retain_set;
		struct ha_retain_delete retain_delete;
		/* Type 10: the body after the type and version bytes, as
		 * it is. This layer checks only the version; the dynsec
		 * decoder reads the body when the record is applied
		 * (ha_state_apply_decoded, which refuses a malformed one
		 * then): it allocates, and its header needs jansson's. */
		struct ha_bytes access_control;
	} u;
	const char *reason; /* HA_REC_MALFORMED: a static sentence */
};

int ha_record_decode(const uint8_t *buf, size_t len, struct ha_record *out);

/* The encoded size of rec (which may exceed HA_RECORD_MAX), or 0 when a
 * field is invalid (reason set then, if not NULL). */
size_t ha_record_encoded_size(const struct ha_record *rec, const char **reason);

/* Encodes rec into a new buffer (free()). HA_REC_MALFORMED: a field is
 * invalid (*reason set); HA_REC_TOO_BIG; HA_REC_UNKNOWN_TYPE for a type
 * this code does not write; HA_REC_ENOMEM. */
int ha_record_encode(const struct ha_record *rec, uint8_t **out, size_t *len,
		     const char **reason);

/* Where the topic of an encoded retained set or retained delete starts
 * (after its 16-bit length): both layouts put it at a fixed offset. 0 for
 * any other type. */
size_t ha_record_topic_offset(uint8_t type);

/* The next user property of a decoded (or validated) encoded list; false
 * at the end. cursor starts as a copy of user_properties_raw. */
bool ha_user_property_next(struct ha_bytes *cursor,
			   struct ha_user_property *out);

/* The lowest committed feature level at which type may be written; 0 for a
 * reserved type that no level writes yet. */
uint32_t ha_record_type_level(uint8_t type);
bool ha_record_writable(uint8_t type, uint32_t committed_level);

/* "retained message set", ...; "unknown" for others. */
const char *ha_record_type_name(uint8_t type);

/* One line for a record that stopped applying, at index: "record type 5
 * (session) version 1 at index 12 needs a newer mosquitto_ha on this
 * node", or "record at index 12 is malformed: <reason>". */
void ha_record_describe(int status, const uint8_t *buf, size_t len,
			const struct ha_record *rec, uint64_t index, char *out,
			size_t out_len);

/* True for well-formed UTF-8 without U+0000 (no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
bool ha_utf8_valid(const uint8_t *s, size_t len);

#endif
