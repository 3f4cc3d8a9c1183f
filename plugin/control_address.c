/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Node addresses of the control API: IP literals and RFC 1123 host names,
 * checked for syntax only. Names are resolved later, by the transport, so a
 * command never waits on DNS.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "plugin/control.h"

/* The longest host name in text form (RFC 1035 2.3.4 leaves 253 characters
 * once the length octets and the root label are taken away). */
#define HOST_NAME_MAX_TEXT 253u
#define LABEL_MAX 63u

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* RFC 1123 2.1: labels of letters, digits and inner hyphens, a label may
 * start with a digit, but the top-level label must not be all digits so a
 * name can never be mistaken for a (malformed) IPv4 address. */
static bool host_name_valid(const char *s, size_t len)
{
	size_t label_len = 0;
	bool label_all_digits = true;

	if (len == 0 || len > HOST_NAME_MAX_TEXT)
		return false;
	for (size_t i = 0; i <= len; i++) {
		char c = i < len ? s[i] : '.';

		if (c == '.') {
			if (label_len == 0 || s[i - 1] == '-')
				return false;
			if (i == len && label_all_digits)
				return false;
			label_len = 0;
			label_all_digits = true;
			continue;
		}
		if (!is_alnum(c) && c != '-')
			return false;
		if (c == '-' && label_len == 0)
			return false;
		if (c < '0' || c > '9')
			label_all_digits = false;
		if (++label_len > LABEL_MAX)
			return false;
	}
	return true;
}

bool ha_address_valid(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];
	size_t len = strnlen(s, HA_ADDRESS_MAX + 1);

	if (len == 0 || len > HA_ADDRESS_MAX)
		return false;
	if (inet_pton(AF_INET, s, buf) == 1)
		return true;
	if (inet_pton(AF_INET6, s, buf) == 1)
		return true;
	return host_name_valid(s, len);
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
