/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * The project's one parser of "host:port" addresses, shared by the transport,
 * ha-kv, the plugin's options and health listener and the control API's node
 * addresses, so that every place accepts the same text.
 *
 * The rules: the host is an IPv4 literal, an IPv6 literal in brackets
 * ("[::1]:7000") or, where the caller allows names, an RFC 1123 host name; the
 * port is 1..65535 in decimal (0 only where the caller binds to any free
 * port); the whole text is at most TRANSPORT_ADDRESS_MAX - 1 characters.
 * Syntax only: names are resolved later, by whoever connects or binds.
 * Pure C with no I/O, so it links into any layer above the core.
 */
#ifndef TRANSPORT_ADDRESS_H
#define TRANSPORT_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TRANSPORT_ADDRESS_MAX 256u /* "host:port", NUL included */
/* The longest host name in text form (RFC 1035 2.3.4 leaves 253 characters
 * once the length octets and the root label are taken away). */
#define TRANSPORT_HOST_NAME_MAX 253u

enum transport_address_flags {
	TRANSPORT_ADDRESS_NAMES = 1u << 0,    /* the host may be a name */
	TRANSPORT_ADDRESS_ANY_PORT = 1u << 1, /* port 0 (bind to any) allowed */
};

enum transport_host_kind {
	TRANSPORT_HOST_IPV4 = 1,
	TRANSPORT_HOST_IPV6,
	TRANSPORT_HOST_NAME,
};

struct transport_address {
	char host[TRANSPORT_ADDRESS_MAX]; /* without the brackets */
	uint16_t port;
	enum transport_host_kind kind;
};

/* Parses `text` under the rules above and `flags`. 0 on success; -1 with a
 * short reason in `why` (for example "port 0 is not allowed") when the text
 * is not an address. `why` may be NULL. */
int transport_address_parse(const char *text, unsigned flags,
			    struct transport_address *out, char *why,
			    size_t why_len);

/* Checks a host on its own (an IPv6 literal without brackets), as the control
 * API receives it beside a separate port: 0 with its kind in `kind`, or -1
 * with a reason in `why`. `len` bytes of `host` are read. */
int transport_host_parse(const char *host, size_t len, unsigned flags,
			 enum transport_host_kind *kind, char *why,
			 size_t why_len);

#endif
