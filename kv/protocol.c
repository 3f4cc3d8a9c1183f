/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
#include "kv/protocol.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kv/map.h"
#include "transport/address.h"

#define MAX_TOKENS 4

static int fail(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
	return -1;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Keys and values: visible bytes only, so a reply line stays one line. */
static bool token_ok(const char *t, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)t[i];
		if (c <= 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

static bool parse_u32(const char *s, unsigned long max, unsigned long *out)
{
	if (*s < '0' || *s > '9' || strlen(s) > 10)
		return false;
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (*end != '\0' || v > max)
		return false;
	*out = v;
	return true;
}

int kv_address_split(const char *address, char *host, size_t host_len,
		     unsigned *port)
{
	struct transport_address a;
	if (transport_address_parse(address, TRANSPORT_ADDRESS_NAMES, &a, NULL,
				    0) != 0 ||
	    strlen(a.host) >= host_len)
		return -1;
	strcpy(host, a.host);
	*port = a.port;
	return 0;
}

bool kv_address_valid(const char *address)
{
	char host[RAFT_ADDRESS_MAX];
	unsigned port;
	return kv_address_split(address, host, sizeof(host), &port) == 0;
}

static int parse_id(const char *s, bool zero_ok, raft_id *id, char *why,
		    size_t why_len)
{
	unsigned long v;
	if (!parse_u32(s, RAFT_MAX_NODE_ID, &v) || (v == 0 && !zero_ok))
		return fail(why, why_len, "a node id is %s1..%u",
			    zero_ok ? "0 or " : "", RAFT_MAX_NODE_ID);
	*id = (raft_id)v;
	return 0;
}

/* "1=host:port,2=host:port,...": distinct ids and addresses. */
static int parse_members(char *list, struct raft_config *cfg, char *why,
			 size_t why_len)
{
	memset(cfg, 0, sizeof(*cfg));
	char *save = NULL;
	for (char *item = strtok_r(list, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		if (eq == NULL)
			return fail(why, why_len, "a member is id=host:port");
		*eq = '\0';
		raft_id id;
		if (parse_id(item, false, &id, why, why_len) != 0)
			return -1;
		if (!kv_address_valid(eq + 1))
			return fail(why, why_len, "member %u: bad address", id);
		if (cfg->n == RAFT_MAX_SERVERS)
			return fail(why, why_len, "at most %u members",
				    RAFT_MAX_SERVERS);
		for (uint32_t i = 0; i < cfg->n; i++)
			if (cfg->servers[i].id == id ||
			    strcmp(cfg->servers[i].address, eq + 1) == 0)
				return fail(why, why_len,
					    "member %u is listed twice", id);
		struct raft_server *srv = &cfg->servers[cfg->n++];
		srv->id = id;
		srv->role = RAFT_VOTER;
		snprintf(srv->address, sizeof(srv->address), "%s", eq + 1);
	}
	if (cfg->n == 0)
		return fail(why, why_len, "no members");
	return 0;
}

int kv_parse_line(char *line, size_t len, struct kv_parsed *out, char *why,
		  size_t why_len)
{
	memset(out, 0, sizeof(*out));
	if (len > 0 && line[len - 1] == '\r')
		len--;
	line[len] = '\0';
	if (memchr(line, '\0', len) != NULL)
		return fail(why, why_len, "NUL byte in the line");
	char *tok[MAX_TOKENS + 1];
	size_t tlen[MAX_TOKENS + 1];
	size_t n = 0;
	size_t i = 0;
	while (i < len) {
		while (i < len && is_space(line[i]))
			i++;
		if (i == len)
			break;
		if (n == MAX_TOKENS)
			return fail(why, why_len, "too many arguments");
		tok[n] = line + i;
		while (i < len && !is_space(line[i]))
			i++;
		tlen[n] = (size_t)(line + i - tok[n]);
		line[i < len ? i++ : i] = '\0';
		n++;
	}
	if (n == 0)
		return fail(why, why_len, "empty line");
	static const struct {
		const char *name;
		enum kv_verb verb;
		size_t args;
	} verbs[] = {
	    {"PUT", KV_VERB_PUT, 2},	   {"GET", KV_VERB_GET, 1},
	    {"CAS", KV_VERB_CAS, 3},	   {"CREATE", KV_VERB_CREATE, 1},
	    {"JOIN", KV_VERB_JOIN, 1},	   {"ADD", KV_VERB_ADD, 2},
	    {"REMOVE", KV_VERB_REMOVE, 1}, {"TRANSFER", KV_VERB_TRANSFER, 1},
	    {"STATUS", KV_VERB_STATUS, 0}, {"PING", KV_VERB_PING, 0},
	};
	size_t v;
	for (v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++)
		if (strcasecmp(tok[0], verbs[v].name) == 0)
			break;
	if (v == sizeof(verbs) / sizeof(verbs[0]))
		return fail(why, why_len, "unknown command");
	if (n - 1 != verbs[v].args)
		return fail(why, why_len, "%s takes %zu argument%s",
			    verbs[v].name, verbs[v].args,
			    verbs[v].args == 1 ? "" : "s");
	out->verb = verbs[v].verb;
	switch (out->verb) {
	case KV_VERB_PUT:
	case KV_VERB_GET:
	case KV_VERB_CAS:
		for (size_t a = 1; a < n; a++) {
			size_t max = a == 1 ? KV_KEY_MAX : KV_VALUE_MAX;
			if (tlen[a] > max)
				return fail(why, why_len,
					    "%s longer than %zu "
					    "bytes",
					    a == 1 ? "key" : "value", max);
			if (!token_ok(tok[a], tlen[a]))
				return fail(why, why_len,
					    "control character in an argument");
			out->args[a - 1] = tok[a];
			out->arg_len[a - 1] = tlen[a];
		}
		return 0;
	case KV_VERB_CREATE:
	case KV_VERB_JOIN:
		return parse_members(tok[1], &out->members, why, why_len);
	case KV_VERB_ADD:
		if (parse_id(tok[1], false, &out->id, why, why_len) != 0)
			return -1;
		if (!kv_address_valid(tok[2]))
			return fail(why, why_len,
				    "ADD wants an id and "
				    "host:port");
		snprintf(out->address, sizeof(out->address), "%s", tok[2]);
		return 0;
	case KV_VERB_REMOVE:
		return parse_id(tok[1], false, &out->id, why, why_len);
	case KV_VERB_TRANSFER:
		return parse_id(tok[1], true, &out->id, why, why_len);
	case KV_VERB_STATUS:
	case KV_VERB_PING:
		return 0;
	}
	return fail(why, why_len, "unknown command");
}
