/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Whom a change disconnects: the stock plugin kicks the clients whose
 * rights a change may have altered, so that they reconnect under the new
 * rules (docs/access-control.md lists which change kicks whom). */
#include <stdlib.h>
#include <string.h>

#include "plugin/dynsec/internal.h"

void ha_dynsec_kicks_clear(struct ha_dynsec_kicks *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->usernames[i]);
	free(k->usernames);
	memset(k, 0, sizeof(*k));
}

static bool kick(struct ha_dynsec_kicks *k, const char *username)
{
	for (size_t i = 0; i < k->n; i++)
		if (strcmp(k->usernames[i], username) == 0)
			return true;
	char **v = realloc(k->usernames, (k->n + 1) * sizeof(*v));
	if (v == NULL)
		return false;
	k->usernames = v;
	if ((v[k->n] = strdup(username)) == NULL)
		return false;
	k->n++;
	return true;
}

/* The members of a group, and the anonymous clients if it is theirs. */
static bool kick_group(const struct ha_dynsec *s, const char *groupname,
		       struct ha_dynsec_kicks *k)
{
	const struct ha_dynsec_group *g = ha_dynsec_find_group(s, groupname);
	if (g == NULL)
		return true;
	if (s->anonymous_group != NULL &&
	    strcmp(s->anonymous_group, groupname) == 0)
		k->anonymous = true;
	for (size_t i = 0; i < g->clients.n; i++)
		if (!kick(k, g->clients.v[i].name))
			return false;
	return true;
}

/* The clients that hold a role, directly or through a group. */
static bool kick_role(const struct ha_dynsec *s, const char *rolename,
		      struct ha_dynsec_kicks *k)
{
	for (size_t i = 0; i < s->n_clients; i++)
		if (ha_dynsec__refs_find(&s->clients[i].roles, rolename) >= 0 &&
		    !kick(k, s->clients[i].username))
			return false;
	for (size_t i = 0; i < s->n_groups; i++)
		if (ha_dynsec__refs_find(&s->groups[i].roles, rolename) >= 0 &&
		    !kick_group(s, s->groups[i].groupname, k))
			return false;
	return true;
}

static bool kicks_of(const struct ha_dynsec *s, const struct ha_dynsec__op *op,
		     struct ha_dynsec_kicks *k)
{
	switch (op->code) {
	case HA_DYNSEC__OP_DELETE_CLIENT:
	case HA_DYNSEC__OP_DISABLE_CLIENT:
	case HA_DYNSEC__OP_SET_CLIENT_ID:
	case HA_DYNSEC__OP_SET_CLIENT_PASSWORD:
	case HA_DYNSEC__OP_MODIFY_CLIENT:
	case HA_DYNSEC__OP_ADD_CLIENT_ROLE:
	case HA_DYNSEC__OP_REMOVE_CLIENT_ROLE:
	case HA_DYNSEC__OP_ADD_GROUP_CLIENT:
	case HA_DYNSEC__OP_REMOVE_GROUP_CLIENT:
		return kick(k, op->username);
	case HA_DYNSEC__OP_DELETE_GROUP:
	case HA_DYNSEC__OP_ADD_GROUP_ROLE:
	case HA_DYNSEC__OP_REMOVE_GROUP_ROLE:
		return kick_group(s, op->groupname, k);
	case HA_DYNSEC__OP_MODIFY_GROUP:
		/* The members before and after. */
		for (size_t i = 0; i < op->clients.n; i++)
			if (!kick(k, op->clients.v[i].name))
				return false;
		return kick_group(s, op->groupname, k);
	case HA_DYNSEC__OP_SET_ANONYMOUS_GROUP:
		k->anonymous = true;
		return true;
	case HA_DYNSEC__OP_DELETE_ROLE:
	case HA_DYNSEC__OP_ADD_ROLE_ACL:
	case HA_DYNSEC__OP_REMOVE_ROLE_ACL:
		return kick_role(s, op->rolename, k);
	case HA_DYNSEC__OP_IMPORT:
		k->everyone = true;
		return true;
	default: /* creations, enableClient, modifyRole, default access */
		return true;
	}
}

int ha_dynsec_record_kicks(const struct ha_dynsec *before, const uint8_t *rec,
			   size_t len, struct ha_dynsec_kicks *out)
{
	struct ha_dynsec__op op;
	const char *why;
	memset(out, 0, sizeof(*out));
	int rv = ha_dynsec__op_decode(rec, len, &op, &why);
	if (rv != HA_DYNSEC_OK)
		return rv;
	if (!kicks_of(before, &op, out)) {
		ha_dynsec_kicks_clear(out);
		rv = HA_DYNSEC_ENOMEM;
	}
	ha_dynsec__op_clear(&op);
	return rv;
}

/* ---- a restored snapshot: whom the new data treats differently ---- */

static bool same_text(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool same_refs(const struct ha_dynsec_refs *a,
		      const struct ha_dynsec_refs *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].priority != b->v[i].priority ||
		    strcmp(a->v[i].name, b->v[i].name) != 0)
			return false;
	return true;
}

static bool same_pw(const struct ha_dynsec_pw *a, const struct ha_dynsec_pw *b)
{
	if (a->valid != b->valid)
		return false;
	return !a->valid ||
	       (a->iterations == b->iterations && a->salt_len == b->salt_len &&
		memcmp(a->salt, b->salt, a->salt_len) == 0 &&
		memcmp(a->hash, b->hash, sizeof(a->hash)) == 0);
}

/* What a login and its rights rest on; the texts do not count. */
static bool same_client(const struct ha_dynsec_client *a,
			const struct ha_dynsec_client *b)
{
	return b != NULL && a->disabled == b->disabled &&
	       same_text(a->clientid, b->clientid) && same_pw(&a->pw, &b->pw) &&
	       same_refs(&a->roles, &b->roles) &&
	       same_refs(&a->groups, &b->groups);
}

static bool same_role(const struct ha_dynsec_role *a,
		      const struct ha_dynsec_role *b)
{
	if (b == NULL || a->deny_wildcard_subs != b->deny_wildcard_subs ||
	    a->n_acls != b->n_acls)
		return false;
	for (size_t i = 0; i < a->n_acls; i++)
		if (a->acls[i].type != b->acls[i].type ||
		    a->acls[i].priority != b->acls[i].priority ||
		    a->acls[i].allow != b->acls[i].allow ||
		    strcmp(a->acls[i].topic, b->acls[i].topic) != 0)
			return false;
	return true;
}

int ha_dynsec_restore_kicks(const struct ha_dynsec *before,
			    const struct ha_dynsec *after,
			    struct ha_dynsec_kicks *out)
{
	memset(out, 0, sizeof(*out));
	bool ok = true;
	for (size_t i = 0; ok && i < before->n_clients; i++) {
		const struct ha_dynsec_client *c = &before->clients[i];
		if (!same_client(c, ha_dynsec_find_client(after, c->username)))
			ok = kick(out, c->username);
	}
	for (size_t i = 0; ok && i < before->n_groups; i++) {
		const struct ha_dynsec_group *g = &before->groups[i];
		const struct ha_dynsec_group *now =
		    ha_dynsec_find_group(after, g->groupname);
		if (now == NULL || !same_refs(&g->roles, &now->roles))
			ok = kick_group(before, g->groupname, out);
	}
	for (size_t i = 0; ok && i < before->n_roles; i++) {
		const struct ha_dynsec_role *r = &before->roles[i];
		if (!same_role(r, ha_dynsec_find_role(after, r->rolename)))
			ok = kick_role(before, r->rolename, out);
	}
	if (!same_text(before->anonymous_group, after->anonymous_group))
		out->anonymous = true;
	if (!ok) {
		ha_dynsec_kicks_clear(out);
		return HA_DYNSEC_ENOMEM;
	}
	return HA_DYNSEC_OK;
}
