/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Node addresses of the control API: IP literals and RFC 1123 host names,
 * checked for syntax only by the project's one address parser
 * (transport/address.h). Names are resolved later, by the transport, so a
 * command never waits on DNS.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "plugin/control.h"
#include "transport/address.h"

bool ha_address_valid(const char *s)
{
	enum transport_host_kind kind;
	size_t len = strnlen(s, HA_ADDRESS_MAX + 1);

	if (len > HA_ADDRESS_MAX)
		return false;
	return transport_host_parse(s, len, TRANSPORT_ADDRESS_NAMES, &kind,
				    NULL, 0) == 0;
}

bool ha_address_same(const char *a, const char *b)
{
	unsigned char ba[sizeof(struct in6_addr)];
	unsigned char bb[sizeof(struct in6_addr)];
	static const int families[] = {AF_INET, AF_INET6};

	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		int pa = inet_pton(families[i], a, ba);
		int pb = inet_pton(families[i], b, bb);

		if (pa == 1 && pb == 1) {
			size_t n = families[i] == AF_INET
				       ? sizeof(struct in_addr)
				       : sizeof(struct in6_addr);
			return memcmp(ba, bb, n) == 0;
		}
		if (pa == 1 || pb == 1)
			return false;
	}
	return strcasecmp(a, b) == 0;
}
