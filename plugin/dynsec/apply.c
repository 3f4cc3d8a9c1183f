/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Running a change on the state: the same checks on every node, in the
 * stock plugin's order and with its sentences, so that a change that no
 * longer fits (another change came first) is refused everywhere alike. */
#include <stdlib.h>
#include <string.h>

#include "plugin/dynsec/internal.h"

#define REJECT(sentence)                                                       \
	do {                                                                   \
		*error = (sentence);                                           \
		return HA_DYNSEC_REJECTED;                                     \
	} while (0)
#define NOMEM(ok)                                                              \
	do {                                                                   \
		if (!(ok))                                                     \
			return HA_DYNSEC_ENOMEM;                               \
	} while (0)

/* An empty client id is none: no restriction. */
static const char *id_or_null(const struct ha_dynsec__op *op)
{
	return op->clientid != NULL && op->clientid[0] != '\0' ? op->clientid
							       : NULL;
}

static bool roles_exist(const struct ha_dynsec *s,
			const struct ha_dynsec_refs *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (ha_dynsec_find_role(s, l->v[i].name) == NULL)
			return false;
	return true;
}

static bool groups_exist(const struct ha_dynsec *s,
			 const struct ha_dynsec_refs *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (ha_dynsec_find_group(s, l->v[i].name) == NULL)
			return false;
	return true;
}

static bool clients_exist(const struct ha_dynsec *s,
			  const struct ha_dynsec_refs *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (ha_dynsec_find_client(s, l->v[i].name) == NULL)
			return false;
	return true;
}

/* Joins c to each group of l (which all exist). */
static bool join_groups(struct ha_dynsec *s, const char *username,
			const struct ha_dynsec_refs *l)
{
	for (size_t i = 0; i < l->n; i++) {
		struct ha_dynsec_client *c = ha_dynsec_find_client(s, username);
		struct ha_dynsec_group *g =
		    ha_dynsec_find_group(s, l->v[i].name);
		if (ha_dynsec__refs_find(&c->groups, g->groupname) >= 0)
			continue;
		if (!ha_dynsec__join_group(s, c, g, l->v[i].priority))
			return false;
	}
	return true;
}

static void leave_all_groups(struct ha_dynsec *s, struct ha_dynsec_client *c)
{
	while (c->groups.n > 0) {
		struct ha_dynsec_group *g =
		    ha_dynsec_find_group(s, c->groups.v[0].name);
		if (g == NULL)
			ha_dynsec__refs_remove(&c->groups, c->groups.v[0].name);
		else
			ha_dynsec__leave_group(c, g);
	}
}

static int create_client(struct ha_dynsec *s, const struct ha_dynsec__op *op,
			 const char **error)
{
	bool exists;
	if (ha_dynsec_find_client(s, op->username) != NULL)
		REJECT("Client already exists");
	if (!roles_exist(s, &op->roles))
		REJECT("Role not found");
	if (!groups_exist(s, &op->groups))
		REJECT("Group not found");
	struct ha_dynsec_client *c =
	    ha_dynsec__add_client(s, op->username, &exists);
	NOMEM(c != NULL);
	if (op->present & HA_DYNSEC__F_PASSWORD)
		c->pw = op->pw;
	NOMEM(ha_dynsec__set_string(&c->clientid, id_or_null(op)) &&
	      ha_dynsec__set_string(&c->textname, op->textname) &&
	      ha_dynsec__set_string(&c->textdescription, op->textdescription) &&
	      ha_dynsec__refs_copy(&c->roles, &op->roles));
	NOMEM(join_groups(s, op->username, &op->groups));
	return HA_DYNSEC_OK;
}

static int modify_client(struct ha_dynsec *s, const struct ha_dynsec__op *op,
			 const char **error)
{
	struct ha_dynsec_client *c = ha_dynsec_find_client(s, op->username);
	if (c == NULL)
		REJECT("Client not found");
	if (!roles_exist(s, &op->roles))
		REJECT("Role not found");
	if (!groups_exist(s, &op->groups))
		REJECT("'groups' contains an object with a 'groupname' that "
		       "does not exist");
	if (op->present & HA_DYNSEC__F_CLIENTID)
		NOMEM(ha_dynsec__set_string(&c->clientid, id_or_null(op)));
	if (op->present & HA_DYNSEC__F_PASSWORD)
		c->pw = op->pw;
	if (op->present & HA_DYNSEC__F_TEXTNAME)
		NOMEM(ha_dynsec__set_string(&c->textname, op->textname));
	if (op->present & HA_DYNSEC__F_TEXTDESCRIPTION)
		NOMEM(ha_dynsec__set_string(&c->textdescription,
					    op->textdescription));
	if (op->present & HA_DYNSEC__F_ROLES) {
		ha_dynsec__refs_clear(&c->roles);
		NOMEM(ha_dynsec__refs_copy(&c->roles, &op->roles));
	}
	if (op->present & HA_DYNSEC__F_GROUPS) {
		leave_all_groups(s, c);
		NOMEM(join_groups(s, op->username, &op->groups));
	}
	return HA_DYNSEC_OK;
}

/* The changes that name one client alone. */
static int client_change(struct ha_dynsec *s, const struct ha_dynsec__op *op,
			 const char **error)
{
	struct ha_dynsec_client *c = ha_dynsec_find_client(s, op->username);
	if (c == NULL)
		REJECT("Client not found");
	struct ha_dynsec_role *r =
	    op->rolename ? ha_dynsec_find_role(s, op->rolename) : NULL;
	switch (op->code) {
	case HA_DYNSEC__OP_DELETE_CLIENT:
		ha_dynsec__remove_client(s, op->username);
		return HA_DYNSEC_OK;
	case HA_DYNSEC__OP_SET_CLIENT_PASSWORD:
		c->pw = op->pw;
		return HA_DYNSEC_OK;
	case HA_DYNSEC__OP_SET_CLIENT_ID:
		NOMEM(ha_dynsec__set_string(&c->clientid, id_or_null(op)));
		return HA_DYNSEC_OK;
	case HA_DYNSEC__OP_ENABLE_CLIENT:
	case HA_DYNSEC__OP_DISABLE_CLIENT:
		c->disabled = op->code == HA_DYNSEC__OP_DISABLE_CLIENT;
		return HA_DYNSEC_OK;
	case HA_DYNSEC__OP_ADD_CLIENT_ROLE:
		if (r == NULL)
			REJECT("Role not found");
		/* The stock plugin's answer to a role the client has. */
		if (ha_dynsec__refs_find(&c->roles, op->rolename) >= 0)
			REJECT("Internal error");
		NOMEM(ha_dynsec__refs_add(&c->roles, op->rolename, op->priority,
					  HA_DYNSEC__BY_PRIORITY));
		return HA_DYNSEC_OK;
	default: /* HA_DYNSEC__OP_REMOVE_CLIENT_ROLE */
		if (r == NULL)
			REJECT("Role not found");
		ha_dynsec__refs_remove(&c->roles, op->rolename);
		return HA_DYNSEC_OK;
	}
}

static int create_group(struct ha_dynsec *s, const struct ha_dynsec__op *op,
			const char **error)
{
	bool exists;
	if (ha_dynsec_find_group(s, op->groupname) != NULL)
		REJECT("Group already exists");
	if (!roles_exist(s, &op->roles))
		REJECT("Role not found");
	struct ha_dynsec_group *g =
	    ha_dynsec__add_group(s, op->groupname, &exists);
	NOMEM(g != NULL);
	NOMEM(ha_dynsec__set_string(&g->textname, op->textname) &&
	      ha_dynsec__set_string(&g->textdescription, op->textdescription) &&
	      ha_dynsec__refs_copy(&g->roles, &op->roles));
	return HA_DYNSEC_OK;
}

static int modify_group(struct ha_dynsec *s, const struct ha_dynsec__op *op,
			const char **error)
{
	struct ha_dynsec_group *g = ha_dynsec_find_group(s, op->groupname);
	if (g == NULL)
		REJECT("Group not found");
	if (!roles_exist(s, &op->roles))
		REJECT("Role not found");
	if (!clients_exist(s, &op->clients))
		REJECT("'clients' contains an object with a 'username' that "
		       "does not exist");
	if (op->present & HA_DYNSEC__F_TEXTNAME)
		NOMEM(ha_dynsec__set_string(&g->textname, op->textname));
	if (op->present & HA_DYNSEC__F_TEXTDESCRIPTION)
		NOMEM(ha_dynsec__set_string(&g->textdescription,
					    op->textdescription));
	if (op->present & HA_DYNSEC__F_ROLES) {
		ha_dynsec__refs_clear(&g->roles);
		NOMEM(ha_dynsec__refs_copy(&g->roles, &op->roles));
	}
	if (op->present & HA_DYNSEC__F_CLIENTS) {
		/* Each member leaves through its own (short) list, then the
		 * group's list goes at once. */
		for (size_t i = 0; i < g->clients.n; i++)
			ha_dynsec__refs_remove(
			    &ha_dynsec_find_client(s, g->clients.v[i].name)
				 ->groups,
			    g->groupname);
		ha_dynsec__refs_clear(&g->clients);
		for (size_t i = 0; i < op->clients.n; i++) {
			struct ha_dynsec_client *c =
			    ha_dynsec_find_client(s, op->clients.v[i].name);
			if (ha_dynsec__refs_find(&c->groups, g->groupname) < 0)
				NOMEM(ha_dynsec__join_group(
				    s, c, g, op->clients.v[i].priority));
		}
	}
	return HA_DYNSEC_OK;
}

static int group_client(struct ha_dynsec *s, const struct ha_dynsec__op *op,
			const char **error)
{
	struct ha_dynsec_client *c = ha_dynsec_find_client(s, op->username);
	if (c == NULL)
		REJECT("Client not found");
	struct ha_dynsec_group *g = ha_dynsec_find_group(s, op->groupname);
	if (g == NULL)
		REJECT("Group not found");
	bool member = ha_dynsec__refs_find(&c->groups, op->groupname) >= 0;
	if (op->code == HA_DYNSEC__OP_REMOVE_GROUP_CLIENT) {
		ha_dynsec__leave_group(c, g);
		return HA_DYNSEC_OK;
	}
	if (member)
		REJECT("Client is already in this group");
	NOMEM(ha_dynsec__join_group(s, c, g, op->priority));
	return HA_DYNSEC_OK;
}

/* The changes that name one group alone, or a group and a role. */
static int group_change(struct ha_dynsec *s, const struct ha_dynsec__op *op,
			const char **error)
{
	struct ha_dynsec_group *g = ha_dynsec_find_group(s, op->groupname);
	if (g == NULL)
		REJECT("Group not found");
	switch (op->code) {
	case HA_DYNSEC__OP_DELETE_GROUP:
		if (s->anonymous_group != NULL &&
		    strcmp(s->anonymous_group, op->groupname) == 0)
			REJECT("Deleting the anonymous group is forbidden");
		ha_dynsec__remove_group(s, op->groupname);
		return HA_DYNSEC_OK;
	case HA_DYNSEC__OP_SET_ANONYMOUS_GROUP:
		NOMEM(
		    ha_dynsec__set_string(&s->anonymous_group, op->groupname));
		return HA_DYNSEC_OK;
	default:
		break;
	}
	if (ha_dynsec_find_role(s, op->rolename) == NULL)
		REJECT("Role not found");
	if (op->code == HA_DYNSEC__OP_REMOVE_GROUP_ROLE) {
		ha_dynsec__refs_remove(&g->roles, op->rolename);
		return HA_DYNSEC_OK;
	}
	if (ha_dynsec__refs_find(&g->roles, op->rolename) >= 0)
		REJECT("Group is already in this role");
	NOMEM(ha_dynsec__refs_add(&g->roles, op->rolename, op->priority,
				  HA_DYNSEC__BY_PRIORITY));
	return HA_DYNSEC_OK;
}

static bool replace_acls(struct ha_dynsec_role *r,
			 const struct ha_dynsec__op *op)
{
	for (size_t i = 0; i < r->n_acls; i++)
		free(r->acls[i].topic);
	free(r->acls);
	r->acls = NULL;
	r->n_acls = 0;
	for (size_t i = 0; i < op->n_acls; i++) {
		const struct ha_dynsec_acl *a = &op->acls[i];
		if (ha_dynsec__acl_find(r, a->type, a->topic) >= 0)
			continue;
		if (!ha_dynsec__acl_add(r, a->type, a->topic, a->priority,
					a->allow))
			return false;
	}
	return true;
}

static int role_change(struct ha_dynsec *s, const struct ha_dynsec__op *op,
		       const char **error)
{
	bool exists;
	struct ha_dynsec_role *r = ha_dynsec_find_role(s, op->rolename);
	if (op->code == HA_DYNSEC__OP_CREATE_ROLE) {
		if (r != NULL)
			REJECT("Role already exists");
		r = ha_dynsec__add_role(s, op->rolename, &exists);
		if (r != NULL)
			r->deny_wildcard_subs =
			    (op->present & HA_DYNSEC__F_ALLOW) && !op->allow;
		NOMEM(r != NULL && replace_acls(r, op) &&
		      ha_dynsec__set_string(&r->textname, op->textname) &&
		      ha_dynsec__set_string(&r->textdescription,
					    op->textdescription));
		return HA_DYNSEC_OK;
	}
	if (r == NULL)
		REJECT(op->code == HA_DYNSEC__OP_MODIFY_ROLE
			   ? "Role does not exist"
			   : "Role not found");
	long at;
	switch (op->code) {
	case HA_DYNSEC__OP_DELETE_ROLE:
		ha_dynsec__remove_role(s, op->rolename);
		return HA_DYNSEC_OK;
	case HA_DYNSEC__OP_MODIFY_ROLE:
		if (op->present & HA_DYNSEC__F_TEXTNAME)
			NOMEM(
			    ha_dynsec__set_string(&r->textname, op->textname));
		if (op->present & HA_DYNSEC__F_TEXTDESCRIPTION)
			NOMEM(ha_dynsec__set_string(&r->textdescription,
						    op->textdescription));
		if (op->present & HA_DYNSEC__F_ACLS)
			NOMEM(replace_acls(r, op));
		if (op->present & HA_DYNSEC__F_ALLOW)
			r->deny_wildcard_subs = !op->allow;
		return HA_DYNSEC_OK;
	case HA_DYNSEC__OP_ADD_ROLE_ACL:
		if (ha_dynsec__acl_find(r, op->acltype, op->topic) >= 0)
			REJECT("ACL with this topic already exists");
		NOMEM(ha_dynsec__acl_add(r, op->acltype, op->topic,
					 op->priority, op->allow));
		return HA_DYNSEC_OK;
	default: /* HA_DYNSEC__OP_REMOVE_ROLE_ACL */
		at = ha_dynsec__acl_find(r, op->acltype, op->topic);
		if (at < 0)
			REJECT("ACL not found");
		ha_dynsec__acl_remove(r, (size_t)at);
		return HA_DYNSEC_OK;
	}
}

int ha_dynsec__op_run(struct ha_dynsec *s, const struct ha_dynsec__op *op,
		      const char **error)
{
	switch (op->code) {
	case HA_DYNSEC__OP_SET_DEFAULT_ACCESS:
		for (size_t i = 0; i < op->n_acls; i++)
			s->default_access[op->acls[i].type] = op->acls[i].allow;
		return HA_DYNSEC_OK;
	case HA_DYNSEC__OP_CREATE_CLIENT:
		return create_client(s, op, error);
	case HA_DYNSEC__OP_MODIFY_CLIENT:
		return modify_client(s, op, error);
	case HA_DYNSEC__OP_CREATE_GROUP:
		return create_group(s, op, error);
	case HA_DYNSEC__OP_MODIFY_GROUP:
		return modify_group(s, op, error);
	case HA_DYNSEC__OP_ADD_GROUP_CLIENT:
	case HA_DYNSEC__OP_REMOVE_GROUP_CLIENT:
		return group_client(s, op, error);
	case HA_DYNSEC__OP_DELETE_GROUP:
	case HA_DYNSEC__OP_SET_ANONYMOUS_GROUP:
	case HA_DYNSEC__OP_ADD_GROUP_ROLE:
	case HA_DYNSEC__OP_REMOVE_GROUP_ROLE:
		return group_change(s, op, error);
	case HA_DYNSEC__OP_CREATE_ROLE:
	case HA_DYNSEC__OP_DELETE_ROLE:
	case HA_DYNSEC__OP_MODIFY_ROLE:
	case HA_DYNSEC__OP_ADD_ROLE_ACL:
	case HA_DYNSEC__OP_REMOVE_ROLE_ACL:
		return role_change(s, op, error);
	case HA_DYNSEC__OP_IMPORT: {
		struct ha_dynsec *copy = ha_dynsec_clone(op->state);
		NOMEM(copy != NULL);
		ha_dynsec_replace(s, copy);
		return HA_DYNSEC_OK;
	}
	default:
		return client_change(s, op, error);
	}
}

int ha_dynsec__op_apply(struct ha_dynsec *s, const struct ha_dynsec__op *op,
			const char **error)
{
	struct ha_dynsec *copy = ha_dynsec_clone(s);
	if (copy == NULL)
		return HA_DYNSEC_ENOMEM;
	int rv = ha_dynsec__op_run(copy, op, error);
	/* Every change counts, as the stock plugin's changeIndex; an import
	 * brings its own count. */
	if (rv == HA_DYNSEC_OK && op->code != HA_DYNSEC__OP_IMPORT)
		copy->change_index++;
	if (rv == HA_DYNSEC_OK)
		ha_dynsec_replace(s, copy);
	else
		ha_dynsec_free(copy);
	return rv;
}

int ha_dynsec_apply(struct ha_dynsec *s, const uint8_t *rec, size_t len,
		    const char **error)
{
	struct ha_dynsec__op op;
	int rv = ha_dynsec__op_decode(rec, len, &op, error);
	if (rv != HA_DYNSEC_OK)
		return rv;
	rv = ha_dynsec__op_apply(s, &op, error);
	ha_dynsec__op_clear(&op);
	return rv;
}
