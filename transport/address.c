/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* "host:port" parsing under one set of rules (transport/address.h). */
#include "transport/address.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LABEL_MAX 63u

static int fail(char *why, size_t why_len, const char *fmt, ...)
{
	if (why != NULL && why_len > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, why_len, fmt, ap);
		va_end(ap);
	}
	return -1;
}

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

	if (len == 0 || len > TRANSPORT_HOST_NAME_MAX)
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

int transport_host_parse(const char *host, size_t len, unsigned flags,
			 enum transport_host_kind *kind, char *why,
			 size_t why_len)
{
	char text[TRANSPORT_ADDRESS_MAX];
	unsigned char bin[sizeof(struct in6_addr)];

	if (len == 0)
		return fail(why, why_len, "the host is empty");
	if (len >= sizeof(text))
		return fail(why, why_len,
			    "the host is longer than %u characters",
			    TRANSPORT_ADDRESS_MAX - 1);
	memcpy(text, host, len);
	text[len] = '\0';
	if (strlen(text) != len)
		return fail(why, why_len, "the host holds a NUL byte");
	if (inet_pton(AF_INET, text, bin) == 1) {
		*kind = TRANSPORT_HOST_IPV4;
		return 0;
	}
	if (inet_pton(AF_INET6, text, bin) == 1) {
		*kind = TRANSPORT_HOST_IPV6;
		return 0;
	}
	if (!(flags & TRANSPORT_ADDRESS_NAMES))
		return fail(why, why_len, "'%s' is not an IP address", text);
	if (!host_name_valid(text, len))
		return fail(why, why_len,
			    "'%s' is neither an IP address nor a host name",
			    text);
	*kind = TRANSPORT_HOST_NAME;
	return 0;
}

/* Decimal 1..65535 (0 too when `any` allows it), at most five digits. */
static int port_parse(const char *s, bool any, uint16_t *port, char *why,
		      size_t why_len)
{
	unsigned long v = 0;
	size_t n = strlen(s);

	if (n == 0)
		return fail(why, why_len, "no port after ':'");
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return fail(why, why_len,
				    "the port '%s' is not a number", s);
	}
	if (n > 5 || (v = strtoul(s, NULL, 10)) > 65535)
		return fail(why, why_len, "the port %s is above 65535", s);
	if (v == 0 && !any)
		return fail(why, why_len, "the port must be 1 to 65535, not 0");
	*port = (uint16_t)v;
	return 0;
}

int transport_address_parse(const char *text, unsigned flags,
			    struct transport_address *out, char *why,
			    size_t why_len)
{
	const char *host;
	const char *colon;
	size_t host_len;
	size_t len;

	if (text == NULL || text[0] == '\0')
		return fail(why, why_len, "the address is empty");
	len = strnlen(text, TRANSPORT_ADDRESS_MAX);
	if (len >= TRANSPORT_ADDRESS_MAX)
		return fail(why, why_len,
			    "the address is longer than %u characters",
			    TRANSPORT_ADDRESS_MAX - 1);
	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (close == NULL)
			return fail(why, why_len, "'[' without ']'");
		if (close[1] != ':')
			return fail(why, why_len, "no ':port' after ']'");
		host = text + 1;
		host_len = (size_t)(close - host);
		colon = close + 1;
	} else {
		if (strchr(text, ']') != NULL)
			return fail(why, why_len, "']' without '['");
		colon = strrchr(text, ':');
		if (colon == NULL)
			return fail(why, why_len, "no ':port'");
		host = text;
		host_len = (size_t)(colon - text);
		if (memchr(host, ':', host_len) != NULL)
			return fail(why, why_len,
				    "an IPv6 address needs brackets: "
				    "[address]:port");
	}
	if (port_parse(colon + 1, flags & TRANSPORT_ADDRESS_ANY_PORT,
		       &out->port, why, why_len) != 0)
		return -1;
	if (transport_host_parse(host, host_len, flags, &out->kind, why,
				 why_len) != 0)
		return -1;
	if (text[0] == '[' && out->kind != TRANSPORT_HOST_IPV6)
		return fail(why, why_len, "brackets hold an IPv6 address only");
	memcpy(out->host, host, host_len);
	out->host[host_len] = '\0';
	return 0;
}
