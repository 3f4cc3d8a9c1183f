/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* "host:port" addresses: IPv4 and bracketed IPv6 literals and host names. */
#include "transport/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int addr_split(const char *address, char *host, size_t host_len, char *port,
	       size_t port_len, bool allow_zero)
{
	const char *colon;
	const char *h;
	size_t hlen;
	char *end;
	unsigned long num;

	if (address == NULL)
		return UV_EINVAL;
	if (address[0] == '[') {
		const char *close = strchr(address, ']');

		if (close == NULL || close[1] != ':')
			return UV_EINVAL;
		h = address + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(address, ':');
		if (colon == NULL)
			return UV_EINVAL;
		h = address;
		hlen = (size_t)(colon - address);
		/* An unbracketed IPv6 literal is ambiguous. */
		if (memchr(h, ':', hlen) != NULL)
			return UV_EINVAL;
	}
	if (hlen == 0 || hlen >= host_len)
		return UV_EINVAL;
	for (size_t i = 0; i < hlen; i++) {
		if (h[i] <= 0x20 || h[i] >= 0x7f)
			return UV_EINVAL;
	}
	if (colon[1] < '0' || colon[1] > '9')
		return UV_EINVAL;
	errno = 0;
	num = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || num > 65535 ||
	    (num == 0 && !allow_zero) || strlen(colon + 1) > 5)
		return UV_EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if ((size_t)snprintf(port, port_len, "%lu", num) >= port_len)
		return UV_EINVAL;
	return 0;
}

int addr_resolve_bind(uv_loop_t *loop, const char *address,
		      struct sockaddr_storage *out)
{
	char host[TRANSPORT_ADDRESS_MAX];
	char port[8];
	struct addrinfo hints;
	uv_getaddrinfo_t req;
	int rv;

	rv = addr_split(address, host, sizeof(host), port, sizeof(port), true);
	if (rv != 0)
		return rv;
	memset(out, 0, sizeof(*out));
	if (uv_ip4_addr(host, atoi(port), (struct sockaddr_in *)out) == 0)
		return 0;
	if (uv_ip6_addr(host, atoi(port), (struct sockaddr_in6 *)out) == 0)
		return 0;
	/* A host name: resolved once, synchronously (no callback), since the
	 * transport cannot start without its listening socket anyway. */
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	rv = uv_getaddrinfo(loop, &req, NULL, host, port, &hints);
	if (rv != 0)
		return rv;
	if (req.addrinfo == NULL || req.addrinfo->ai_addrlen > sizeof(*out)) {
		uv_freeaddrinfo(req.addrinfo);
		return UV_EADDRNOTAVAIL;
	}
	memcpy(out, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
	uv_freeaddrinfo(req.addrinfo);
	return 0;
}

void addr_format(const struct sockaddr *sa, char *out, size_t len)
{
	char ip[64] = "?";

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		uv_ip6_name(s6, ip, sizeof(ip));
		snprintf(out, len, "[%s]:%u", ip, ntohs(s6->sin6_port));
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		uv_ip4_name(s4, ip, sizeof(ip));
		snprintf(out, len, "%s:%u", ip, ntohs(s4->sin_port));
	} else {
		snprintf(out, len, "(unknown address)");
	}
}
