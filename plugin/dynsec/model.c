/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The data model: sorted arrays of clients, groups and roles, the lists
 * that reference them by name, and the ACLs of a role (dynsec.h). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "plugin/dynsec/internal.h"

static const char *const acl_type_names[HA_DYNSEC_ACL_TYPES] = {
    "publishClientSend", "publishClientReceive", "subscribeLiteral",
    "subscribePattern",	 "unsubscribeLiteral",	 "unsubscribePattern",
};

static const char *const access_names[HA_DYNSEC_ACCESS_KINDS] = {
    "publishClientSend",
    "publishClientReceive",
    "subscribe",
    "unsubscribe",
};

const char *ha_dynsec_acl_type_name(int type)
{
	return type >= 0 && type < HA_DYNSEC_ACL_TYPES ? acl_type_names[type]
						       : NULL;
}

int ha_dynsec_acl_type_from_name(const char *name)
{
	for (int i = 0; i < HA_DYNSEC_ACL_TYPES; i++)
		if (strcasecmp(name, acl_type_names[i]) == 0)
			return i;
	return -1;
}

const char *ha_dynsec_access_name(int kind)
{
	return kind >= 0 && kind < HA_DYNSEC_ACCESS_KINDS ? access_names[kind]
							  : NULL;
}

int ha_dynsec_access_from_name(const char *name)
{
	for (int i = 0; i < HA_DYNSEC_ACCESS_KINDS; i++)
		if (strcasecmp(name, access_names[i]) == 0)
			return i;
	return -1;
}

char *ha_dynsec__strdup(const char *s)
{
	return s == NULL ? NULL : strdup(s);
}

bool ha_dynsec__set_string(char **slot, const char *value)
{
	char *copy = NULL;
	if (value != NULL && (copy = strdup(value)) == NULL)
		return false;
	free(*slot);
	*slot = copy;
	return true;
}

/* ---- lists of references ---- */

void ha_dynsec__refs_clear(struct ha_dynsec_refs *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

bool ha_dynsec__refs_copy(struct ha_dynsec_refs *dst,
			  const struct ha_dynsec_refs *src)
{
	dst->n = 0;
	dst->v = NULL;
	if (src->n == 0)
		return true;
	dst->v = calloc(src->n, sizeof(*dst->v));
	if (dst->v == NULL)
		return false;
	for (size_t i = 0; i < src->n; i++) {
		dst->v[i].priority = src->v[i].priority;
		dst->v[i].name = strdup(src->v[i].name);
		dst->n = i + 1;
		if (dst->v[i].name == NULL) {
			ha_dynsec__refs_clear(dst);
			return false;
		}
	}
	return true;
}

long ha_dynsec__refs_find(const struct ha_dynsec_refs *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].name, name) == 0)
			return (long)i;
	return -1;
}

/* Does a come before b? */
static bool ref_before(const struct ha_dynsec_ref *a, const char *b_name,
		       int32_t b_priority, enum ha_dynsec__order order)
{
	if (order == HA_DYNSEC__BY_PRIORITY && a->priority != b_priority)
		return a->priority > b_priority;
	return strcmp(a->name, b_name) < 0;
}

bool ha_dynsec__refs_add(struct ha_dynsec_refs *l, const char *name,
			 int32_t priority, enum ha_dynsec__order order)
{
	char *copy = strdup(name);
	if (copy == NULL)
		return false;
	struct ha_dynsec_ref *v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (v == NULL) {
		free(copy);
		return false;
	}
	l->v = v;
	/* Appending is the common case (a list read in order). */
	size_t at = l->n;
	if (at > 0 && !ref_before(&v[at - 1], name, priority, order)) {
		at = 0;
		while (at < l->n && ref_before(&v[at], name, priority, order))
			at++;
	}
	memmove(&v[at + 1], &v[at], (l->n - at) * sizeof(*v));
	v[at].name = copy;
	v[at].priority = priority;
	l->n++;
	return true;
}

void ha_dynsec__refs_remove(struct ha_dynsec_refs *l, const char *name)
{
	long i = ha_dynsec__refs_find(l, name);
	if (i < 0)
		return;
	free(l->v[i].name);
	memmove(&l->v[i], &l->v[i + 1], (l->n - (size_t)i - 1) * sizeof(*l->v));
	l->n--;
}

/* ---- entries ---- */

void ha_dynsec__client_clear(struct ha_dynsec_client *c)
{
	free(c->username);
	free(c->clientid);
	free(c->textname);
	free(c->textdescription);
	ha_dynsec__refs_clear(&c->roles);
	ha_dynsec__refs_clear(&c->groups);
	memset(c, 0, sizeof(*c));
}

void ha_dynsec__group_clear(struct ha_dynsec_group *g)
{
	free(g->groupname);
	free(g->textname);
	free(g->textdescription);
	ha_dynsec__refs_clear(&g->roles);
	ha_dynsec__refs_clear(&g->clients);
	memset(g, 0, sizeof(*g));
}

void ha_dynsec__role_clear(struct ha_dynsec_role *r)
{
	free(r->rolename);
	free(r->textname);
	free(r->textdescription);
	for (size_t i = 0; i < r->n_acls; i++)
		free(r->acls[i].topic);
	free(r->acls);
	memset(r, 0, sizeof(*r));
}

struct ha_dynsec *ha_dynsec_new(void)
{
	return calloc(1, sizeof(struct ha_dynsec));
}

static void dynsec_clear(struct ha_dynsec *s)
{
	for (size_t i = 0; i < s->n_clients; i++)
		ha_dynsec__client_clear(&s->clients[i]);
	for (size_t i = 0; i < s->n_groups; i++)
		ha_dynsec__group_clear(&s->groups[i]);
	for (size_t i = 0; i < s->n_roles; i++)
		ha_dynsec__role_clear(&s->roles[i]);
	free(s->clients);
	free(s->groups);
	free(s->roles);
	free(s->anonymous_group);
	bool v21 = s->v21;
	memset(s, 0, sizeof(*s));
	s->v21 = v21;
}

void ha_dynsec_free(struct ha_dynsec *s)
{
	if (s == NULL)
		return;
	dynsec_clear(s);
	free(s);
}

void ha_dynsec_replace(struct ha_dynsec *dst, struct ha_dynsec *src)
{
	bool v21 = dst->v21;
	dynsec_clear(dst);
	*dst = *src;
	dst->v21 = v21;
	free(src);
}

/* Binary search of name in an array of entries whose name is the first
 * member: the index where it is or would be. */
static size_t find_index(const void *base, size_t n, size_t size,
			 const char *name, bool *found)
{
	size_t lo = 0, hi = n;
	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *at =
		    *(char *const *)((const char *)base + mid * size);
		int c = strcmp(at, name);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

_Static_assert(offsetof(struct ha_dynsec_client, username) == 0,
	       "the name is the first member");
_Static_assert(offsetof(struct ha_dynsec_group, groupname) == 0,
	       "the name is the first member");
_Static_assert(offsetof(struct ha_dynsec_role, rolename) == 0,
	       "the name is the first member");

struct ha_dynsec_client *ha_dynsec_find_client(const struct ha_dynsec *s,
					       const char *username)
{
	bool found;
	size_t i = find_index(s->clients, s->n_clients, sizeof(*s->clients),
			      username, &found);
	return found ? &s->clients[i] : NULL;
}

struct ha_dynsec_group *ha_dynsec_find_group(const struct ha_dynsec *s,
					     const char *groupname)
{
	bool found;
	size_t i = find_index(s->groups, s->n_groups, sizeof(*s->groups),
			      groupname, &found);
	return found ? &s->groups[i] : NULL;
}

struct ha_dynsec_role *ha_dynsec_find_role(const struct ha_dynsec *s,
					   const char *rolename)
{
	bool found;
	size_t i = find_index(s->roles, s->n_roles, sizeof(*s->roles), rolename,
			      &found);
	return found ? &s->roles[i] : NULL;
}

/* The entries allocated for a list of n clients, groups or roles: these
 * lists are made only by insert_entry and never shrink their allocation,
 * so growing by doubling keeps a load of n entries O(n log n) instead of a
 * copy of the whole list per entry. */
static size_t room_for(size_t n)
{
	if (n == 0)
		return 0;
	size_t room = 8;
	while (room < n)
		room *= 2;
	return room;
}

/* Makes room for a zeroed entry named name in *base (n entries of size);
 * NULL when it exists (*exists) or out of memory. */
static void *insert_entry(void **base, size_t *n, size_t size, const char *name,
			  bool *exists)
{
	bool found;
	size_t at = find_index(*base, *n, size, name, &found);
	*exists = found;
	if (found)
		return NULL;
	char *copy = strdup(name);
	if (copy == NULL)
		return NULL;
	char *v = *base;
	if (*n + 1 > room_for(*n)) {
		if (room_for(*n + 1) > SIZE_MAX / size ||
		    (v = realloc(*base, room_for(*n + 1) * size)) == NULL) {
			free(copy);
			return NULL;
		}
		*base = v;
	}
	memmove(v + (at + 1) * size, v + at * size, (*n - at) * size);
	memset(v + at * size, 0, size);
	*(char **)(v + at * size) = copy;
	(*n)++;
	return v + at * size;
}

struct ha_dynsec_client *
ha_dynsec__add_client(struct ha_dynsec *s, const char *username, bool *exists)
{
	return insert_entry((void **)&s->clients, &s->n_clients,
			    sizeof(*s->clients), username, exists);
}

struct ha_dynsec_group *
ha_dynsec__add_group(struct ha_dynsec *s, const char *groupname, bool *exists)
{
	return insert_entry((void **)&s->groups, &s->n_groups,
			    sizeof(*s->groups), groupname, exists);
}

struct ha_dynsec_role *ha_dynsec__add_role(struct ha_dynsec *s,
					   const char *rolename, bool *exists)
{
	return insert_entry((void **)&s->roles, &s->n_roles, sizeof(*s->roles),
			    rolename, exists);
}

static void remove_at(void *base, size_t *n, size_t size, size_t at)
{
	char *v = base;
	memmove(v + at * size, v + (at + 1) * size, (*n - at - 1) * size);
	(*n)--;
}

void ha_dynsec__remove_client(struct ha_dynsec *s, const char *username)
{
	bool found;
	size_t at = find_index(s->clients, s->n_clients, sizeof(*s->clients),
			       username, &found);
	if (!found)
		return;
	for (size_t i = 0; i < s->n_groups; i++)
		ha_dynsec__refs_remove(&s->groups[i].clients, username);
	ha_dynsec__client_clear(&s->clients[at]);
	remove_at(s->clients, &s->n_clients, sizeof(*s->clients), at);
}

void ha_dynsec__remove_group(struct ha_dynsec *s, const char *groupname)
{
	bool found;
	size_t at = find_index(s->groups, s->n_groups, sizeof(*s->groups),
			       groupname, &found);
	if (!found)
		return;
	for (size_t i = 0; i < s->n_clients; i++)
		ha_dynsec__refs_remove(&s->clients[i].groups, groupname);
	if (s->anonymous_group != NULL &&
	    strcmp(s->anonymous_group, groupname) == 0) {
		free(s->anonymous_group);
		s->anonymous_group = NULL;
	}
	ha_dynsec__group_clear(&s->groups[at]);
	remove_at(s->groups, &s->n_groups, sizeof(*s->groups), at);
}

void ha_dynsec__remove_role(struct ha_dynsec *s, const char *rolename)
{
	bool found;
	size_t at = find_index(s->roles, s->n_roles, sizeof(*s->roles),
			       rolename, &found);
	if (!found)
		return;
	for (size_t i = 0; i < s->n_clients; i++)
		ha_dynsec__refs_remove(&s->clients[i].roles, rolename);
	for (size_t i = 0; i < s->n_groups; i++)
		ha_dynsec__refs_remove(&s->groups[i].roles, rolename);
	ha_dynsec__role_clear(&s->roles[at]);
	remove_at(s->roles, &s->n_roles, sizeof(*s->roles), at);
}

bool ha_dynsec__join_group(struct ha_dynsec *s, struct ha_dynsec_client *c,
			   struct ha_dynsec_group *g, int32_t priority)
{
	(void)s;
	if (!ha_dynsec__refs_add(&c->groups, g->groupname, priority,
				 HA_DYNSEC__BY_PRIORITY))
		return false;
	if (!ha_dynsec__refs_add(&g->clients, c->username, priority,
				 HA_DYNSEC__BY_NAME)) {
		ha_dynsec__refs_remove(&c->groups, g->groupname);
		return false;
	}
	return true;
}

void ha_dynsec__leave_group(struct ha_dynsec_client *c,
			    struct ha_dynsec_group *g)
{
	ha_dynsec__refs_remove(&c->groups, g->groupname);
	ha_dynsec__refs_remove(&g->clients, c->username);
}

/* ---- ACLs ---- */

long ha_dynsec__acl_find(const struct ha_dynsec_role *r, uint8_t type,
			 const char *topic)
{
	for (size_t i = 0; i < r->n_acls; i++)
		if (r->acls[i].type == type &&
		    strcmp(r->acls[i].topic, topic) == 0)
			return (long)i;
	return -1;
}

bool ha_dynsec__acl_add(struct ha_dynsec_role *r, uint8_t type,
			const char *topic, int32_t priority, bool allow)
{
	char *copy = strdup(topic);
	if (copy == NULL)
		return false;
	struct ha_dynsec_acl *v =
	    realloc(r->acls, (r->n_acls + 1) * sizeof(*v));
	if (v == NULL) {
		free(copy);
		return false;
	}
	r->acls = v;
	size_t at = 0;
	while (at < r->n_acls &&
	       (v[at].type < type ||
		(v[at].type == type && v[at].priority >= priority)))
		at++;
	memmove(&v[at + 1], &v[at], (r->n_acls - at) * sizeof(*v));
	v[at] = (struct ha_dynsec_acl){type, copy, priority, allow};
	r->n_acls++;
	return true;
}

void ha_dynsec__acl_remove(struct ha_dynsec_role *r, size_t index)
{
	free(r->acls[index].topic);
	memmove(&r->acls[index], &r->acls[index + 1],
		(r->n_acls - index - 1) * sizeof(*r->acls));
	r->n_acls--;
}
