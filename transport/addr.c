/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* "host:port" addresses (parsed by transport/address.c) as the libuv files
 * need them: split into strings for getaddrinfo, resolved for binding,
 * formatted back from a socket address. */
#include "transport/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int transport__addr_split(const char *address, char *host, size_t host_len,
			  char *port, size_t port_len, bool allow_zero)
{
	struct transport_address a;
	unsigned flags = TRANSPORT_ADDRESS_NAMES |
			 (allow_zero ? TRANSPORT_ADDRESS_ANY_PORT : 0);

	if (transport_address_parse(address, flags, &a, NULL, 0) != 0)
		return UV_EINVAL;
	if (strlen(a.host) >= host_len ||
	    (size_t)snprintf(port, port_len, "%u", a.port) >= port_len)
		return UV_EINVAL;
	strcpy(host, a.host);
	return 0;
}

int transport__addr_resolve_bind(uv_loop_t *loop, const char *address,
				 struct sockaddr_storage *out)
{
	char host[TRANSPORT_ADDRESS_MAX];
	char port[8];
	struct addrinfo hints;
	uv_getaddrinfo_t req;
	int rv;

	rv = transport__addr_split(address, host, sizeof(host), port,
				   sizeof(port), true);
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

void transport__addr_format(const struct sockaddr *sa, char *out, size_t len)
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
