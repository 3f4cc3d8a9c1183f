/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The binary forms of the access-control data: the snapshot section (the
 * whole state) and the change records of type 10 (docs/access-control.md
 * has both byte by byte). Little-endian, every length checked, canonical:
 * what decodes encodes again to the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "plugin/dynsec/internal.h"
#include "plugin/records.h"
#include "raft/byteorder.h"

/* ---- a growing writer ---- */

struct out {
	uint8_t *p;
	size_t len, cap;
	bool nomem;    /* an allocation failed */
	bool too_long; /* a string over 65535 bytes */
};

static uint8_t *reserve(struct out *o, size_t n)
{
	if (o->nomem || o->too_long)
		return NULL;
	if (o->cap - o->len < n) {
		size_t cap = o->cap ? o->cap : 256;
		while (cap - o->len < n)
			cap *= 2;
		uint8_t *p = realloc(o->p, cap);
		if (p == NULL) {
			o->nomem = true;
			return NULL;
		}
		o->p = p;
		o->cap = cap;
	}
	uint8_t *at = o->p + o->len;
	o->len += n;
	return at;
}

static void w_u8(struct out *o, uint8_t v)
{
	uint8_t *p = reserve(o, 1);
	if (p != NULL)
		*p = v;
}

static void w_u16(struct out *o, uint16_t v)
{
	uint8_t *p = reserve(o, 2);
	if (p != NULL)
		le16_store(p, v);
}

static void w_u32(struct out *o, uint32_t v)
{
	uint8_t *p = reserve(o, 4);
	if (p != NULL)
		le32_store(p, v);
}

static void w_bytes(struct out *o, const void *data, size_t n)
{
	uint8_t *p = reserve(o, n);
	if (p != NULL && n > 0)
		memcpy(p, data, n);
}

static void w_str(struct out *o, const char *s)
{
	size_t n = strlen(s);
	if (n > UINT16_MAX) {
		o->too_long = true;
		return;
	}
	w_u16(o, (uint16_t)n);
	w_bytes(o, s, n);
}

static void w_pw(struct out *o, const struct ha_dynsec_pw *pw)
{
	w_u32(o, (uint32_t)pw->iterations);
	w_u8(o, pw->salt_len);
	w_bytes(o, pw->salt, pw->salt_len);
	w_bytes(o, pw->hash, sizeof(pw->hash));
}

static void w_refs(struct out *o, const struct ha_dynsec_refs *l)
{
	w_u32(o, (uint32_t)l->n);
	for (size_t i = 0; i < l->n; i++) {
		w_str(o, l->v[i].name);
		w_u32(o, (uint32_t)l->v[i].priority);
	}
}

static void w_acl(struct out *o, const struct ha_dynsec_acl *a)
{
	w_u8(o, a->type);
	w_str(o, a->topic);
	w_u32(o, (uint32_t)a->priority);
	w_u8(o, a->allow ? 1 : 0);
}

static int out_finish(struct out *o, uint8_t **buf, size_t *len,
		      const char **why)
{
	if (o->nomem || o->too_long) {
		free(o->p);
		if (o->too_long && why != NULL)
			*why = "a string longer than 65535 bytes";
		return o->nomem ? HA_DYNSEC_ENOMEM : HA_DYNSEC_MALFORMED;
	}
	*buf = o->p;
	*len = o->len;
	return HA_DYNSEC_OK;
}

/* ---- reading ---- */

struct in {
	struct byte_reader r;
	const char *why; /* the first reason a read failed */
	bool nomem;
};

static bool in_fail(struct in *in, const char *why)
{
	if (in->why == NULL)
		in->why = why;
	in->r.ok = false;
	return false;
}

/* A str16 copied into a new C string: UTF-8 without U+0000. */
static bool r_str(struct in *in, char **out)
{
	uint16_t n = get_u16(&in->r);
	const uint8_t *p = get_bytes(&in->r, n);
	if (!in->r.ok)
		return in_fail(in, "truncated");
	if (!ha_utf8_valid(p, n))
		return in_fail(in, "a string that is not UTF-8");
	*out = malloc((size_t)n + 1);
	if (*out == NULL) {
		in->nomem = true;
		return in_fail(in, "out of memory");
	}
	memcpy(*out, p, n);
	(*out)[n] = '\0';
	return true;
}

static bool r_pw(struct in *in, struct ha_dynsec_pw *pw)
{
	uint32_t iterations = get_u32(&in->r);
	uint8_t salt_len = get_u8(&in->r);
	const uint8_t *salt = get_bytes(&in->r, salt_len);
	const uint8_t *hash = get_bytes(&in->r, sizeof(pw->hash));
	if (!in->r.ok)
		return in_fail(in, "truncated");
	if (iterations < 1 || iterations > INT32_MAX)
		return in_fail(in, "password iterations out of range");
	if (salt_len < 1 || salt_len > HA_DYNSEC_SALT_MAX)
		return in_fail(in, "salt length out of range");
	pw->valid = true;
	pw->iterations = (int32_t)iterations;
	pw->salt_len = salt_len;
	memcpy(pw->salt, salt, salt_len);
	memcpy(pw->hash, hash, sizeof(pw->hash));
	return true;
}

/* A count of items of at least min_bytes each, checked against what is
 * left so that a forged count allocates nothing. */
static bool r_count(struct in *in, size_t min_bytes, uint32_t *n)
{
	*n = get_u32(&in->r);
	if (!in->r.ok)
		return in_fail(in, "truncated");
	if ((uint64_t)*n * min_bytes > in->r.len - in->r.pos)
		return in_fail(in, "a count larger than the data");
	return true;
}

/* A list in its canonical order, without repeats. */
static bool r_refs(struct in *in, struct ha_dynsec_refs *l,
		   enum ha_dynsec__order order)
{
	uint32_t n;
	if (!r_count(in, 6, &n))
		return false;
	if (n == 0)
		return true;
	l->v = calloc(n, sizeof(*l->v));
	if (l->v == NULL) {
		in->nomem = true;
		return in_fail(in, "out of memory");
	}
	for (uint32_t i = 0; i < n; i++) {
		if (!r_str(in, &l->v[i].name))
			return false;
		l->n = i + 1;
		l->v[i].priority = (int32_t)get_u32(&in->r);
		if (!in->r.ok)
			return in_fail(in, "truncated");
		/* By name: strictly ascending, so no repeats; by priority the
		 * lists are short (the roles or groups of one entry). */
		if (order == HA_DYNSEC__BY_PRIORITY &&
		    ha_dynsec__refs_find(l, l->v[i].name) != (long)i)
			return in_fail(in, "a name listed twice");
		if (i > 0 && order == HA_DYNSEC__BY_PRIORITY &&
		    (l->v[i - 1].priority < l->v[i].priority ||
		     (l->v[i - 1].priority == l->v[i].priority &&
		      strcmp(l->v[i - 1].name, l->v[i].name) > 0)))
			return in_fail(in, "a list out of order");
		if (i > 0 && order == HA_DYNSEC__BY_NAME &&
		    strcmp(l->v[i - 1].name, l->v[i].name) >= 0)
			return in_fail(in, "a list out of order");
	}
	return true;
}

static bool r_acl(struct in *in, struct ha_dynsec_acl *a)
{
	a->type = get_u8(&in->r);
	if (!r_str(in, &a->topic))
		return false;
	a->priority = (int32_t)get_u32(&in->r);
	uint8_t allow = get_u8(&in->r);
	if (!in->r.ok)
		return in_fail(in, "truncated");
	if (allow > 1)
		return in_fail(in, "allow is neither 0 nor 1");
	a->allow = allow == 1;
	return true;
}

/* ---- the section: the whole state ---- */

#define T_TEXTNAME 0x01u
#define T_TEXTDESCRIPTION 0x02u
#define T_DENY_WILDCARD_SUBS 0x04u /* roles only */

#define C_DISABLED 0x01u
#define C_CLIENTID 0x02u
#define C_TEXTNAME 0x04u
#define C_TEXTDESCRIPTION 0x08u
#define C_PASSWORD 0x10u

static void w_texts(struct out *o, const char *name, const char *desc,
		    uint8_t more)
{
	w_u8(o,
	     (name ? T_TEXTNAME : 0) | (desc ? T_TEXTDESCRIPTION : 0) | more);
	if (name != NULL)
		w_str(o, name);
	if (desc != NULL)
		w_str(o, desc);
}

static void w_state(struct out *o, const struct ha_dynsec *s)
{
	uint8_t access = 0;
	for (int k = 0; k < HA_DYNSEC_ACCESS_KINDS; k++)
		access |= (uint8_t)(s->default_access[k] ? 1u << k : 0);
	w_u8(o, HA_DYNSEC_SECTION_VERSION);
	w_u8(o, access);
	w_u8(o, s->anonymous_group != NULL);
	if (s->anonymous_group != NULL)
		w_str(o, s->anonymous_group);
	w_u32(o, (uint32_t)s->n_roles);
	for (size_t i = 0; i < s->n_roles; i++) {
		const struct ha_dynsec_role *r = &s->roles[i];
		w_str(o, r->rolename);
		w_texts(o, r->textname, r->textdescription,
			r->deny_wildcard_subs ? T_DENY_WILDCARD_SUBS : 0);
		w_u32(o, (uint32_t)r->n_acls);
		for (size_t k = 0; k < r->n_acls; k++)
			w_acl(o, &r->acls[k]);
	}
	w_u32(o, (uint32_t)s->n_clients);
	for (size_t i = 0; i < s->n_clients; i++) {
		const struct ha_dynsec_client *c = &s->clients[i];
		w_str(o, c->username);
		w_u8(o, (c->disabled ? C_DISABLED : 0) |
			    (c->clientid ? C_CLIENTID : 0) |
			    (c->textname ? C_TEXTNAME : 0) |
			    (c->textdescription ? C_TEXTDESCRIPTION : 0) |
			    (c->pw.valid ? C_PASSWORD : 0));
		if (c->clientid != NULL)
			w_str(o, c->clientid);
		if (c->textname != NULL)
			w_str(o, c->textname);
		if (c->textdescription != NULL)
			w_str(o, c->textdescription);
		if (c->pw.valid)
			w_pw(o, &c->pw);
		w_refs(o, &c->roles);
	}
	w_u32(o, (uint32_t)s->n_groups);
	for (size_t i = 0; i < s->n_groups; i++) {
		const struct ha_dynsec_group *g = &s->groups[i];
		w_str(o, g->groupname);
		w_texts(o, g->textname, g->textdescription, 0);
		w_refs(o, &g->roles);
		w_refs(o, &g->clients);
	}
	w_u32(o, (uint32_t)s->change_index);
	w_u32(o, (uint32_t)(s->change_index >> 32));
}

int ha_dynsec_section_encode(const struct ha_dynsec *s, uint8_t **buf,
			     size_t *len)
{
	struct out o = {0};
	w_state(&o, s);
	return out_finish(&o, buf, len, NULL);
}

/* The text flags, and the texts they announce; extra: the other flags
 * allowed (their value in *flags_out). */
static bool r_texts(struct in *in, char **name, char **desc, uint8_t extra,
		    uint8_t *flags_out)
{
	uint8_t flags = get_u8(&in->r);
	if (!in->r.ok)
		return in_fail(in, "truncated");
	if (flags & ~(T_TEXTNAME | T_TEXTDESCRIPTION | extra))
		return in_fail(in, "unknown text flags");
	*flags_out = flags;
	if ((flags & T_TEXTNAME) && !r_str(in, name))
		return false;
	return !(flags & T_TEXTDESCRIPTION) || r_str(in, desc);
}

/* Every role a list names exists. */
static bool refs_exist(const struct ha_dynsec *s,
		       const struct ha_dynsec_refs *l, bool roles)
{
	for (size_t i = 0; i < l->n; i++)
		if (roles ? ha_dynsec_find_role(s, l->v[i].name) == NULL
			  : ha_dynsec_find_client(s, l->v[i].name) == NULL)
			return false;
	return true;
}

/* The name of the next entry of a section, which must sort after prev
 * (NULL for the first); out_of_order says what is wrong otherwise. */
static bool r_name_after(struct in *in, const char *prev,
			 const char *out_of_order, char **name)
{
	if (!r_str(in, name))
		return false;
	if (prev != NULL && strcmp(prev, *name) >= 0) {
		free(*name);
		*name = NULL;
		return in_fail(in, out_of_order);
	}
	return true;
}

static bool r_role(struct in *in, struct ha_dynsec *s, const char *prev)
{
	char *name = NULL;
	bool exists;
	if (!r_name_after(in, prev, "roles out of order", &name))
		return false;
	struct ha_dynsec_role *r = ha_dynsec__add_role(s, name, &exists);
	free(name);
	if (r == NULL) {
		in->nomem = true;
		return in_fail(in, "out of memory");
	}
	uint32_t n;
	uint8_t flags;
	if (!r_texts(in, &r->textname, &r->textdescription,
		     T_DENY_WILDCARD_SUBS, &flags) ||
	    !r_count(in, 8, &n))
		return false;
	r->deny_wildcard_subs = flags & T_DENY_WILDCARD_SUBS;
	for (uint32_t k = 0; k < n; k++) {
		struct ha_dynsec_acl a = {0};
		bool ok = r_acl(in, &a);
		if (ok && a.type >= HA_DYNSEC_ACL_TYPES)
			ok = in_fail(in, "unknown ACL type");
		if (ok && k > 0 &&
		    (r->acls[k - 1].type > a.type ||
		     (r->acls[k - 1].type == a.type &&
		      r->acls[k - 1].priority < a.priority)))
			ok = in_fail(in, "ACLs out of order");
		if (ok && ha_dynsec__acl_find(r, a.type, a.topic) >= 0)
			ok = in_fail(in, "an ACL listed twice");
		if (ok && !ha_dynsec__acl_add(r, a.type, a.topic, a.priority,
					      a.allow)) {
			in->nomem = true;
			ok = in_fail(in, "out of memory");
		}
		free(a.topic);
		if (!ok)
			return false;
	}
	return true;
}

static bool r_client(struct in *in, struct ha_dynsec *s, const char *prev)
{
	char *name = NULL;
	bool exists;
	if (!r_name_after(in, prev, "clients out of order", &name))
		return false;
	struct ha_dynsec_client *c = ha_dynsec__add_client(s, name, &exists);
	free(name);
	if (c == NULL) {
		in->nomem = true;
		return in_fail(in, "out of memory");
	}
	uint8_t flags = get_u8(&in->r);
	if (!in->r.ok)
		return in_fail(in, "truncated");
	if (flags & ~(C_DISABLED | C_CLIENTID | C_TEXTNAME | C_TEXTDESCRIPTION |
		      C_PASSWORD))
		return in_fail(in, "unknown client flags");
	c->disabled = flags & C_DISABLED;
	if ((flags & C_CLIENTID) && !r_str(in, &c->clientid))
		return false;
	if ((flags & C_TEXTNAME) && !r_str(in, &c->textname))
		return false;
	if ((flags & C_TEXTDESCRIPTION) && !r_str(in, &c->textdescription))
		return false;
	if ((flags & C_PASSWORD) && !r_pw(in, &c->pw))
		return false;
	if (!r_refs(in, &c->roles, HA_DYNSEC__BY_PRIORITY))
		return false;
	if (!refs_exist(s, &c->roles, true))
		return in_fail(in, "a client names a role that does not exist");
	return true;
}

/* The clients of a group also list the group (with the same priority). */
static bool r_group(struct in *in, struct ha_dynsec *s, const char *prev)
{
	char *name = NULL;
	bool exists;
	if (!r_name_after(in, prev, "groups out of order", &name))
		return false;
	struct ha_dynsec_group *g = ha_dynsec__add_group(s, name, &exists);
	free(name);
	if (g == NULL) {
		in->nomem = true;
		return in_fail(in, "out of memory");
	}
	struct ha_dynsec_refs clients = {0};
	uint8_t flags;
	if (!r_texts(in, &g->textname, &g->textdescription, 0, &flags) ||
	    !r_refs(in, &g->roles, HA_DYNSEC__BY_PRIORITY) ||
	    !r_refs(in, &clients, HA_DYNSEC__BY_NAME)) {
		ha_dynsec__refs_clear(&clients);
		return false;
	}
	bool ok = refs_exist(s, &g->roles, true) ||
		  in_fail(in, "a group names a role that does not exist");
	ok = ok && (refs_exist(s, &clients, false) ||
		    in_fail(in, "a group names a client that does not exist"));
	for (size_t i = 0; ok && i < clients.n; i++) {
		struct ha_dynsec_client *c =
		    ha_dynsec_find_client(s, clients.v[i].name);
		if (!ha_dynsec__join_group(s, c, g, clients.v[i].priority)) {
			in->nomem = true;
			ok = in_fail(in, "out of memory");
		}
	}
	ha_dynsec__refs_clear(&clients);
	return ok;
}

static bool r_state(struct in *in, struct ha_dynsec *s)
{
	uint8_t version = get_u8(&in->r);
	uint8_t access = get_u8(&in->r);
	uint8_t has_anonymous = get_u8(&in->r);
	if (!in->r.ok)
		return in_fail(in, "truncated");
	if (version == 0 || version > HA_DYNSEC_SECTION_VERSION)
		return in_fail(in, version ? "newer section version"
					   : "section version 0");
	if (access & ~0x0fu)
		return in_fail(in, "unknown default access bits");
	if (has_anonymous > 1)
		return in_fail(in, "anonymous group flag above 1");
	for (int k = 0; k < HA_DYNSEC_ACCESS_KINDS; k++)
		s->default_access[k] = access & (1u << k);
	if (has_anonymous && !r_str(in, &s->anonymous_group))
		return false;
	uint32_t n;
	if (!r_count(in, 7, &n))
		return false;
	for (uint32_t i = 0; i < n; i++)
		if (!r_role(in, s,
			    i ? s->roles[s->n_roles - 1].rolename : NULL))
			return false;
	if (!r_count(in, 7, &n))
		return false;
	for (uint32_t i = 0; i < n; i++)
		if (!r_client(in, s,
			      i ? s->clients[s->n_clients - 1].username : NULL))
			return false;
	if (!r_count(in, 11, &n))
		return false;
	for (uint32_t i = 0; i < n; i++)
		if (!r_group(in, s,
			     i ? s->groups[s->n_groups - 1].groupname : NULL))
			return false;
	if (s->anonymous_group != NULL &&
	    ha_dynsec_find_group(s, s->anonymous_group) == NULL)
		return in_fail(in, "the anonymous group does not exist");
	uint64_t low = get_u32(&in->r), high = get_u32(&in->r);
	s->change_index = low | high << 32;
	return in->r.ok || in_fail(in, "truncated");
}

/* A state from exactly the bytes of r (nothing may follow). */
static int decode_state(struct in *in, struct ha_dynsec **out)
{
	struct ha_dynsec *s = ha_dynsec_new();
	if (s == NULL)
		return HA_DYNSEC_ENOMEM;
	if (!r_state(in, s) ||
	    (in->r.pos != in->r.len &&
	     !in_fail(in, "bytes after the end of the section"))) {
		ha_dynsec_free(s);
		return in->nomem ? HA_DYNSEC_ENOMEM : HA_DYNSEC_MALFORMED;
	}
	*out = s;
	return HA_DYNSEC_OK;
}

int ha_dynsec_section_decode(const uint8_t *buf, size_t len,
			     struct ha_dynsec **out, const char **why)
{
	struct in in = {0};
	byte_reader_init(&in.r, buf, len);
	int rv = decode_state(&in, out);
	if (rv == HA_DYNSEC_MALFORMED && len >= 1 &&
	    buf[0] > HA_DYNSEC_SECTION_VERSION)
		rv = HA_DYNSEC_NEWER;
	if (rv != HA_DYNSEC_OK && why != NULL)
		*why = in.why;
	return rv;
}

struct ha_dynsec *ha_dynsec_clone(const struct ha_dynsec *s)
{
	uint8_t *buf;
	size_t len;
	struct ha_dynsec *copy = NULL;
	if (ha_dynsec_section_encode(s, &buf, &len) != HA_DYNSEC_OK)
		return NULL;
	if (ha_dynsec_section_decode(buf, len, &copy, NULL) != HA_DYNSEC_OK)
		copy = NULL;
	free(buf);
	if (copy != NULL)
		copy->v21 = s->v21;
	return copy;
}

bool ha_dynsec_equal(const struct ha_dynsec *a, const struct ha_dynsec *b)
{
	uint8_t *ba = NULL, *bb = NULL;
	size_t la = 0, lb = 0;
	bool same = ha_dynsec_section_encode(a, &ba, &la) == HA_DYNSEC_OK &&
		    ha_dynsec_section_encode(b, &bb, &lb) == HA_DYNSEC_OK &&
		    la == lb && memcmp(ba, bb, la) == 0;
	free(ba);
	free(bb);
	return same;
}

/* ---- change records ---- */

#define U HA_DYNSEC__F_USERNAME
#define G HA_DYNSEC__F_GROUPNAME
#define R HA_DYNSEC__F_ROLENAME
#define TEXTS (HA_DYNSEC__F_TEXTNAME | HA_DYNSEC__F_TEXTDESCRIPTION)

/* Per op code: the fields it must have and those it may have. */
static const struct {
	uint16_t required, optional;
} op_fields[HA_DYNSEC__OP_MAX + 1] = {
    [HA_DYNSEC__OP_SET_DEFAULT_ACCESS] = {HA_DYNSEC__F_ACLS, 0},
    [HA_DYNSEC__OP_CREATE_CLIENT] = {U, HA_DYNSEC__F_PASSWORD |
					    HA_DYNSEC__F_CLIENTID | TEXTS |
					    HA_DYNSEC__F_ROLES |
					    HA_DYNSEC__F_GROUPS},
    [HA_DYNSEC__OP_DELETE_CLIENT] = {U, 0},
    [HA_DYNSEC__OP_MODIFY_CLIENT] = {U, HA_DYNSEC__F_PASSWORD |
					    HA_DYNSEC__F_CLIENTID | TEXTS |
					    HA_DYNSEC__F_ROLES |
					    HA_DYNSEC__F_GROUPS},
    [HA_DYNSEC__OP_SET_CLIENT_PASSWORD] = {U | HA_DYNSEC__F_PASSWORD, 0},
    [HA_DYNSEC__OP_SET_CLIENT_ID] = {U | HA_DYNSEC__F_CLIENTID, 0},
    [HA_DYNSEC__OP_ADD_CLIENT_ROLE] = {U | R | HA_DYNSEC__F_PRIORITY, 0},
    [HA_DYNSEC__OP_REMOVE_CLIENT_ROLE] = {U | R, 0},
    [HA_DYNSEC__OP_ENABLE_CLIENT] = {U, 0},
    [HA_DYNSEC__OP_DISABLE_CLIENT] = {U, 0},
    [HA_DYNSEC__OP_CREATE_GROUP] = {G, TEXTS | HA_DYNSEC__F_ROLES},
    [HA_DYNSEC__OP_DELETE_GROUP] = {G, 0},
    [HA_DYNSEC__OP_MODIFY_GROUP] = {G, TEXTS | HA_DYNSEC__F_ROLES |
					   HA_DYNSEC__F_CLIENTS},
    [HA_DYNSEC__OP_ADD_GROUP_CLIENT] = {G | U | HA_DYNSEC__F_PRIORITY, 0},
    [HA_DYNSEC__OP_REMOVE_GROUP_CLIENT] = {G | U, 0},
    [HA_DYNSEC__OP_ADD_GROUP_ROLE] = {G | R | HA_DYNSEC__F_PRIORITY, 0},
    [HA_DYNSEC__OP_REMOVE_GROUP_ROLE] = {G | R, 0},
    [HA_DYNSEC__OP_SET_ANONYMOUS_GROUP] = {G, 0},
    [HA_DYNSEC__OP_CREATE_ROLE] = {R, TEXTS | HA_DYNSEC__F_ACLS |
					  HA_DYNSEC__F_ALLOW},
    [HA_DYNSEC__OP_DELETE_ROLE] = {R, 0},
    [HA_DYNSEC__OP_MODIFY_ROLE] = {R, TEXTS | HA_DYNSEC__F_ACLS |
					  HA_DYNSEC__F_ALLOW},
    [HA_DYNSEC__OP_ADD_ROLE_ACL] = {R | HA_DYNSEC__F_ACLTYPE |
					HA_DYNSEC__F_TOPIC |
					HA_DYNSEC__F_PRIORITY |
					HA_DYNSEC__F_ALLOW,
				    0},
    [HA_DYNSEC__OP_REMOVE_ROLE_ACL] = {R | HA_DYNSEC__F_ACLTYPE |
					   HA_DYNSEC__F_TOPIC,
				       0},
    [HA_DYNSEC__OP_IMPORT] = {HA_DYNSEC__F_STATE, 0},
};

void ha_dynsec__op_clear(struct ha_dynsec__op *op)
{
	free(op->username);
	free(op->groupname);
	free(op->rolename);
	free(op->clientid);
	free(op->textname);
	free(op->textdescription);
	free(op->topic);
	ha_dynsec__refs_clear(&op->roles);
	ha_dynsec__refs_clear(&op->groups);
	ha_dynsec__refs_clear(&op->clients);
	for (size_t i = 0; i < op->n_acls; i++)
		free(op->acls[i].topic);
	free(op->acls);
	ha_dynsec_free(op->state);
	memset(op, 0, sizeof(*op));
}

/* The strings, in field order. */
static char **op_string(struct ha_dynsec__op *op, int bit)
{
	char **slots[] = {&op->username, &op->groupname, &op->rolename,
			  &op->clientid, &op->textname,	 &op->textdescription,
			  &op->topic};
	return slots[bit];
}

static void w_op(struct out *o, const struct ha_dynsec__op *op)
{
	struct ha_dynsec__op *m = (struct ha_dynsec__op *)op; /* read only */
	w_u8(o, HA_DYNSEC_RECORD_TYPE);
	w_u8(o, HA_DYNSEC_RECORD_VERSION);
	w_u8(o, op->code);
	w_u16(o, op->present);
	for (int bit = 0; bit < 7; bit++)
		if (op->present & (1u << bit))
			w_str(o, *op_string(m, bit));
	if (op->present & HA_DYNSEC__F_ACLTYPE)
		w_u8(o, op->acltype);
	if (op->present & HA_DYNSEC__F_PRIORITY)
		w_u32(o, (uint32_t)op->priority);
	if (op->present & HA_DYNSEC__F_ALLOW)
		w_u8(o, op->allow ? 1 : 0);
	if (op->present & HA_DYNSEC__F_PASSWORD)
		w_pw(o, &op->pw);
	if (op->present & HA_DYNSEC__F_ROLES)
		w_refs(o, &op->roles);
	if (op->present & HA_DYNSEC__F_GROUPS)
		w_refs(o, &op->groups);
	if (op->present & HA_DYNSEC__F_CLIENTS)
		w_refs(o, &op->clients);
	if (op->present & HA_DYNSEC__F_ACLS) {
		w_u32(o, (uint32_t)op->n_acls);
		for (size_t i = 0; i < op->n_acls; i++)
			w_acl(o, &op->acls[i]);
	}
	if (op->present & HA_DYNSEC__F_STATE) {
		size_t at = o->len;
		w_u32(o, 0);
		size_t start = o->len;
		w_state(o, op->state);
		if (!o->nomem && !o->too_long)
			le32_store(o->p + at, (uint32_t)(o->len - start));
	}
}

int ha_dynsec__op_encode(const struct ha_dynsec__op *op, uint8_t **out,
			 size_t *len, const char **why)
{
	struct out o = {0};
	w_op(&o, op);
	int rv = out_finish(&o, out, len, why);
	if (rv == HA_DYNSEC_OK && *len > HA_RECORD_MAX) {
		free(*out);
		*out = NULL;
		*len = 0;
		if (why != NULL)
			*why = "larger than the maximum record size";
		return HA_DYNSEC_MALFORMED;
	}
	return rv;
}

/* A list of (type, topic, priority, allow): ACLs of a role, or for
 * setDefaultACLAccess access kinds with an empty topic. */
static bool r_acls(struct in *in, struct ha_dynsec__op *op)
{
	uint32_t n;
	if (!r_count(in, 8, &n))
		return false;
	if (n == 0)
		return true;
	op->acls = calloc(n, sizeof(*op->acls));
	if (op->acls == NULL) {
		in->nomem = true;
		return in_fail(in, "out of memory");
	}
	bool access = op->code == HA_DYNSEC__OP_SET_DEFAULT_ACCESS;
	for (uint32_t i = 0; i < n; i++) {
		op->n_acls = i + 1;
		if (!r_acl(in, &op->acls[i]))
			return false;
		if (op->acls[i].type >=
		    (access ? HA_DYNSEC_ACCESS_KINDS : HA_DYNSEC_ACL_TYPES))
			return in_fail(in, "unknown ACL type");
		if (access &&
		    (op->acls[i].topic[0] != '\0' || op->acls[i].priority != 0))
			return in_fail(in, "a default access with a topic");
	}
	return true;
}

static bool r_op_state(struct in *in, struct ha_dynsec__op *op)
{
	uint32_t n = get_u32(&in->r);
	const uint8_t *p = get_bytes(&in->r, n);
	if (!in->r.ok)
		return in_fail(in, "truncated");
	struct in sub = {0};
	byte_reader_init(&sub.r, p, n);
	int rv = decode_state(&sub, &op->state);
	if (rv != HA_DYNSEC_OK) {
		in->nomem = sub.nomem;
		return in_fail(in, sub.why ? sub.why : "out of memory");
	}
	return true;
}

static bool r_op_fields(struct in *in, struct ha_dynsec__op *op)
{
	for (int bit = 0; bit < 7; bit++)
		if ((op->present & (1u << bit)) &&
		    !r_str(in, op_string(op, bit)))
			return false;
	if (op->present & HA_DYNSEC__F_ACLTYPE) {
		op->acltype = get_u8(&in->r);
		if (in->r.ok && op->acltype >= HA_DYNSEC_ACL_TYPES)
			return in_fail(in, "unknown ACL type");
	}
	if (op->present & HA_DYNSEC__F_PRIORITY)
		op->priority = (int32_t)get_u32(&in->r);
	if (op->present & HA_DYNSEC__F_ALLOW) {
		uint8_t allow = get_u8(&in->r);
		if (in->r.ok && allow > 1)
			return in_fail(in, "allow is neither 0 nor 1");
		op->allow = allow == 1;
	}
	if (!in->r.ok)
		return in_fail(in, "truncated");
	if ((op->present & HA_DYNSEC__F_PASSWORD) && !r_pw(in, &op->pw))
		return false;
	if ((op->present & HA_DYNSEC__F_ROLES) &&
	    !r_refs(in, &op->roles, HA_DYNSEC__BY_PRIORITY))
		return false;
	if ((op->present & HA_DYNSEC__F_GROUPS) &&
	    !r_refs(in, &op->groups, HA_DYNSEC__BY_PRIORITY))
		return false;
	if ((op->present & HA_DYNSEC__F_CLIENTS) &&
	    !r_refs(in, &op->clients, HA_DYNSEC__BY_NAME))
		return false;
	if ((op->present & HA_DYNSEC__F_ACLS) && !r_acls(in, op))
		return false;
	return !(op->present & HA_DYNSEC__F_STATE) || r_op_state(in, op);
}

int ha_dynsec__op_decode(const uint8_t *buf, size_t len,
			 struct ha_dynsec__op *op, const char **why)
{
	memset(op, 0, sizeof(*op));
	struct in in = {0};
	byte_reader_init(&in.r, buf, len);
	uint8_t type = get_u8(&in.r), version = get_u8(&in.r);
	op->code = get_u8(&in.r);
	op->present = get_u16(&in.r);
	if (len > HA_RECORD_MAX)
		in_fail(&in, "larger than the maximum record size");
	else if (in.r.ok && type != HA_DYNSEC_RECORD_TYPE)
		in_fail(&in, "not an access-control record");
	else if (in.r.ok && version == 0)
		in_fail(&in, "version 0");
	else if (in.r.ok && version > HA_DYNSEC_RECORD_VERSION) {
		*why = "a newer access-control record version";
		return HA_DYNSEC_NEWER;
	} else if (in.r.ok && (op->code == 0 || op->code > HA_DYNSEC__OP_MAX)) {
		*why = "an access-control change this code does not know";
		return HA_DYNSEC_NEWER;
	} else if (!in.r.ok)
		in_fail(&in, "truncated");
	else if ((op->present & op_fields[op->code].required) !=
		     op_fields[op->code].required ||
		 (op->present & ~(op_fields[op->code].required |
				  op_fields[op->code].optional)))
		in_fail(&in, "fields that do not fit the change");
	if (in.r.ok && r_op_fields(&in, op) && in.r.pos != in.r.len)
		in_fail(&in, "bytes after the end of the record");
	if (!in.r.ok) {
		ha_dynsec__op_clear(op);
		*why = in.why;
		return in.nomem ? HA_DYNSEC_ENOMEM : HA_DYNSEC_MALFORMED;
	}
	return HA_DYNSEC_OK;
}

int ha_dynsec_record_check(const uint8_t *rec, size_t len, const char **why,
			   uint8_t **reencoded, size_t *reencoded_len)
{
	struct ha_dynsec__op op;
	const char *reason = NULL;
	int rv = ha_dynsec__op_decode(rec, len, &op, &reason);
	if (why != NULL)
		*why = reason;
	if (rv != HA_DYNSEC_OK)
		return rv;
	rv = ha_dynsec__op_encode(&op, reencoded, reencoded_len, why);
	ha_dynsec__op_clear(&op);
	return rv;
}

int ha_dynsec_import_record(const struct ha_dynsec *s, uint8_t **out,
			    size_t *len)
{
	struct ha_dynsec__op op = {.code = HA_DYNSEC__OP_IMPORT,
				   .present = HA_DYNSEC__F_STATE,
				   .state = (struct ha_dynsec *)s};
	const char *why;
	return ha_dynsec__op_encode(&op, out, len, &why);
}
