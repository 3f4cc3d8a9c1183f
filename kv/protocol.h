/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * The key-value program's client protocol: one request per line, one reply
 * line each. This part only parses and validates; nothing in a request
 * reaches the node unless it parsed completely.
 */
#ifndef KV_PROTOCOL_H
#define KV_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>

#include "raft/raft.h"

/* Longest request line, the newline not counted. */
#define KV_LINE_MAX 65536u

enum kv_verb {
	KV_VERB_PUT = 1,
	KV_VERB_GET,
	KV_VERB_CAS,
	KV_VERB_CREATE,
	KV_VERB_JOIN,
	KV_VERB_ADD,
	KV_VERB_REMOVE,
	KV_VERB_TRANSFER,
	KV_VERB_STATUS,
	KV_VERB_PING,
};

struct kv_parsed {
	enum kv_verb verb;
	/* PUT key value, GET key, CAS key old new: pointers into the line. */
	const char *args[3];
	size_t arg_len[3];
	/* CREATE, JOIN: the members (all voters, no cluster id). */
	struct raft_config members;
	/* ADD, REMOVE, TRANSFER (0: any). */
	raft_id id;
	char address[RAFT_ADDRESS_MAX];
};

/* Parses one line (without its newline; a trailing '\r' is ignored). The
 * line is modified (tokens are NUL-terminated in place). 0, or -1 with a
 * short reason in why. */
int kv_parse_line(char *line, size_t len, struct kv_parsed *out, char *why,
		  size_t why_len);

/* "host:port" under the rules of transport/address.h, host names allowed;
 * host is copied without brackets. 0 or -1. */
int kv_address_split(const char *address, char *host, size_t host_len,
		     unsigned *port);
bool kv_address_valid(const char *address);

#endif
