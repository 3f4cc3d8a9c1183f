/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The $CONTROL/dynamic-security/v1 commands that change the state: each is
 * checked in the stock plugin's order with its sentences, becomes a change
 * (passwords hashed here, so only hashes leave this node), runs on the
 * working copy and is encoded as a record. The queries are in queries.c. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "plugin/dynsec/commands.h"

/* ---- reading the command's members ---- */

int ha_dynsec__cmd_string(const json_t *cmd, const char *key, bool optional,
			  const char **out)
{
	json_t *v = ha_dynsec__get(cmd, key);
	*out = NULL;
	if (v == NULL)
		return optional ? 0 : -1;
	if (!json_is_string(v) || json_string_length(v) > UINT16_MAX ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return -1;
	*out = json_string_value(v);
	return 0;
}

int32_t ha_dynsec__cmd_int(const json_t *cmd, const char *key, int32_t absent)
{
	json_t *v = ha_dynsec__get(cmd, key);
	if (!json_is_number(v))
		return absent;
	double d = json_number_value(v);
	if (d != d)
		return absent;
	if (d >= 2147483647.0)
		return INT32_MAX;
	if (d <= -2147483648.0)
		return INT32_MIN;
	return (int32_t)d;
}

/* The bounds mosquitto 2.1 puts on the priorities it reads. */
static enum ha_dynsec__clamp above(const struct ha_dynsec *s)
{
	return s->v21 ? HA_DYNSEC__CLAMP_ABOVE : HA_DYNSEC__CLAMP_NONE;
}

static enum ha_dynsec__clamp both(const struct ha_dynsec *s)
{
	return s->v21 ? HA_DYNSEC__CLAMP_BOTH : HA_DYNSEC__CLAMP_NONE;
}

/* Sets *slot to a copy of s; false when out of memory. */
static bool take(char **slot, const char *s)
{
	return ha_dynsec__set_string(slot, s);
}

/* "roles": [{"rolename": r, "priority": p}]: 0 when absent; 1 read (each
 * role exists, a repeat is ignored); -1 "'roles' not an array or missing/
 * invalid rolename"; -2 "Role not found"; -3 out of memory. */
static int read_roles(const struct ha_dynsec *s, const json_t *cmd,
		      struct ha_dynsec_refs *out)
{
	json_t *list = ha_dynsec__get(cmd, "roles"), *j;
	size_t i;
	if (list == NULL)
		return 0;
	if (!json_is_array(list))
		return -1;
	json_array_foreach(list, i, j)
	{
		const char *name;
		if (ha_dynsec__cmd_string(j, "rolename", false, &name) != 0)
			return -1;
		if (ha_dynsec_find_role(s, name) == NULL)
			return -2;
		if (ha_dynsec__refs_find(out, name) >= 0)
			continue;
		if (!ha_dynsec__refs_add(out, name,
					 ha_dynsec__priority(j, -1, above(s)),
					 HA_DYNSEC__BY_PRIORITY))
			return -3;
	}
	return 1;
}

static const char *roles_error(int rv)
{
	return rv == -1	  ? "'roles' not an array or missing/invalid rolename"
	       : rv == -2 ? "Role not found"
			  : "Internal error";
}

/* "groups" of createClient and modifyClient, "clients" of modifyGroup:
 * [{"<key>": name, "priority": p}]. strict (modify): an entry without a
 * name is an error; otherwise skipped. 0 absent, 1 read, -1 invalid name,
 * -2 not found, -3 out of memory. */
static int read_members(const struct ha_dynsec *s, const json_t *cmd,
			const char *list_key, const char *key, bool strict,
			struct ha_dynsec_refs *out, enum ha_dynsec__order order)
{
	json_t *list = ha_dynsec__get(cmd, list_key), *j;
	size_t i;
	if (!json_is_array(list))
		return 0;
	json_array_foreach(list, i, j)
	{
		const char *name;
		if (!json_is_object(j))
			continue;
		if (ha_dynsec__cmd_string(j, key, false, &name) != 0) {
			if (strict)
				return -1;
			continue;
		}
		bool found = strcmp(key, "groupname") == 0
				 ? ha_dynsec_find_group(s, name) != NULL
				 : ha_dynsec_find_client(s, name) != NULL;
		if (!found)
			return -2;
		if (ha_dynsec__refs_find(out, name) >= 0)
			continue;
		/* mosquitto 2.1 bounds a group's priority from above only. */
		enum ha_dynsec__clamp clamp =
		    order == HA_DYNSEC__BY_PRIORITY ? above(s) : both(s);
		if (!ha_dynsec__refs_add(
			out, name, ha_dynsec__priority(j, -1, clamp), order))
			return -3;
	}
	return 1;
}

/* "acls" of createRole and modifyRole, read as the file's are: entries of
 * an unknown type or without a topic are skipped, the first of a topic
 * kept, type by type. */
static bool read_acls(const struct ha_dynsec *s, const json_t *cmd,
		      struct ha_dynsec__op *op)
{
	json_t *list = ha_dynsec__get(cmd, "acls"), *j;
	size_t i;
	if (!json_is_array(list))
		return true;
	op->present |= HA_DYNSEC__F_ACLS;
	struct ha_dynsec_role tmp = {0};
	bool ok = true;
	for (int type = 0; ok && type < HA_DYNSEC_ACL_TYPES; type++) {
		json_array_foreach(list, i, j)
		{
			const char *t, *topic;
			if (ha_dynsec__cmd_string(j, "acltype", false, &t) !=
				0 ||
			    ha_dynsec__cmd_string(j, "topic", false, &topic) !=
				0 ||
			    ha_dynsec_acl_type_from_name(t) != type ||
			    ha_dynsec__acl_find(&tmp, (uint8_t)type, topic) >=
				0)
				continue;
			json_t *allow = ha_dynsec__get(j, "allow");
			ok = ha_dynsec__acl_add(
			    &tmp, (uint8_t)type, topic,
			    ha_dynsec__priority(j, 0, both(s)),
			    json_is_true(allow));
			if (!ok)
				break;
		}
	}
	op->acls = tmp.acls;
	op->n_acls = tmp.n_acls;
	return ok;
}

/* ---- the commands ---- */

#define FAIL(sentence) return (sentence)
#define NOMEM_IF(cond)                                                         \
	do {                                                                   \
		if (cond)                                                      \
			return "Internal error";                               \
	} while (0)

static const char *set_default_access(struct ha_dynsec__ctx *x)
{
	json_t *list = ha_dynsec__get(x->cmd, "acls"), *j;
	size_t i, n = 0;
	if (!json_is_array(list))
		FAIL("Missing/invalid actions array");
	x->op.code = HA_DYNSEC__OP_SET_DEFAULT_ACCESS;
	x->op.present = HA_DYNSEC__F_ACLS;
	x->op.acls = calloc(json_array_size(list) + 1, sizeof(*x->op.acls));
	NOMEM_IF(x->op.acls == NULL);
	json_array_foreach(list, i, j)
	{
		const char *t;
		json_t *allow = ha_dynsec__get(j, "allow");
		if (ha_dynsec__cmd_string(j, "acltype", false, &t) != 0 ||
		    !json_is_boolean(allow))
			continue;
		int kind = ha_dynsec_access_from_name(t);
		if (kind < 0)
			continue;
		x->op.acls[n].topic = strdup("");
		x->op.n_acls = n + 1;
		NOMEM_IF(x->op.acls[n].topic == NULL);
		x->op.acls[n].type = (uint8_t)kind;
		x->op.acls[n].allow = json_is_true(allow);
		n++;
	}
	return NULL;
}

static const char *create_client(struct ha_dynsec__ctx *x)
{
	const char *user, *pw, *clientid, *tn, *td;
	struct ha_dynsec__op *op = &x->op;
	if (ha_dynsec__cmd_string(x->cmd, "username", false, &user) != 0)
		FAIL("Invalid/missing username");
	if (x->work->v21 && user[0] == '\0')
		FAIL("Empty username");
	if (ha_dynsec__cmd_string(x->cmd, "password", true, &pw) != 0)
		FAIL("Invalid/missing password");
	if (ha_dynsec__cmd_string(x->cmd, "clientid", true, &clientid) != 0)
		FAIL("Invalid/missing client id");
	if (ha_dynsec__cmd_string(x->cmd, "textname", true, &tn) != 0)
		FAIL("Invalid/missing textname");
	if (ha_dynsec__cmd_string(x->cmd, "textdescription", true, &td) != 0)
		FAIL("Invalid/missing textdescription");
	if (ha_dynsec_find_client(x->work, user) != NULL)
		FAIL("Client already exists");
	op->code = HA_DYNSEC__OP_CREATE_CLIENT;
	op->present = HA_DYNSEC__F_USERNAME;
	NOMEM_IF(!take(&op->username, user));
	if (pw != NULL) {
		op->present |= HA_DYNSEC__F_PASSWORD;
		NOMEM_IF(!ha_dynsec_pw_set(&op->pw, pw, x->work->v21));
	}
	if (clientid != NULL && clientid[0] != '\0') {
		op->present |= HA_DYNSEC__F_CLIENTID;
		NOMEM_IF(!take(&op->clientid, clientid));
	}
	if (tn != NULL) {
		op->present |= HA_DYNSEC__F_TEXTNAME;
		NOMEM_IF(!take(&op->textname, tn));
	}
	if (td != NULL) {
		op->present |= HA_DYNSEC__F_TEXTDESCRIPTION;
		NOMEM_IF(!take(&op->textdescription, td));
	}
	int rv = read_roles(x->work, x->cmd, &op->roles);
	if (rv < 0)
		FAIL(roles_error(rv));
	if (rv > 0)
		op->present |= HA_DYNSEC__F_ROLES;
	rv = read_members(x->work, x->cmd, "groups", "groupname", false,
			  &op->groups, HA_DYNSEC__BY_PRIORITY);
	if (rv == -2)
		FAIL("Group not found");
	NOMEM_IF(rv < 0);
	if (rv > 0)
		op->present |= HA_DYNSEC__F_GROUPS;
	return NULL;
}

static const char *modify_client_fields(struct ha_dynsec__ctx *x)
{
	const char *s;
	struct ha_dynsec__op *op = &x->op;
	if (ha_dynsec__cmd_string(x->cmd, "clientid", false, &s) == 0) {
		/* An empty id clears the restriction. */
		op->present |= HA_DYNSEC__F_CLIENTID;
		NOMEM_IF(!take(&op->clientid, s));
	}
	if (ha_dynsec__cmd_string(x->cmd, "password", false, &s) == 0 &&
	    s[0] != '\0') {
		op->present |= HA_DYNSEC__F_PASSWORD;
		NOMEM_IF(!ha_dynsec_pw_set(&op->pw, s, x->work->v21));
	}
	if (ha_dynsec__cmd_string(x->cmd, "textname", false, &s) == 0) {
		op->present |= HA_DYNSEC__F_TEXTNAME;
		NOMEM_IF(!take(&op->textname, s));
	}
	if (ha_dynsec__cmd_string(x->cmd, "textdescription", false, &s) == 0) {
		op->present |= HA_DYNSEC__F_TEXTDESCRIPTION;
		NOMEM_IF(!take(&op->textdescription, s));
	}
	return NULL;
}

static const char *modify_client(struct ha_dynsec__ctx *x)
{
	const char *user;
	struct ha_dynsec__op *op = &x->op;
	if (ha_dynsec__cmd_string(x->cmd, "username", false, &user) != 0)
		FAIL("Invalid/missing username");
	if (ha_dynsec_find_client(x->work, user) == NULL)
		FAIL("Client not found");
	op->code = HA_DYNSEC__OP_MODIFY_CLIENT;
	op->present = HA_DYNSEC__F_USERNAME;
	NOMEM_IF(!take(&op->username, user));
	const char *error = modify_client_fields(x);
	if (error != NULL)
		return error;
	int rv = read_roles(x->work, x->cmd, &op->roles);
	if (rv < 0)
		FAIL(roles_error(rv));
	if (rv > 0)
		op->present |= HA_DYNSEC__F_ROLES;
	rv = read_members(x->work, x->cmd, "groups", "groupname", true,
			  &op->groups, HA_DYNSEC__BY_PRIORITY);
	if (rv == -1)
		FAIL("'groups' contains an object with an invalid 'groupname'");
	if (rv == -2)
		FAIL("'groups' contains an object with a 'groupname' that does "
		     "not exist");
	NOMEM_IF(rv < 0);
	if (rv > 0)
		op->present |= HA_DYNSEC__F_GROUPS;
	return NULL;
}

/* A required name: its sentence when missing, and a copy in the op. */
static const char *need(struct ha_dynsec__ctx *x, const char *key,
			const char *missing, uint16_t field, char **slot,
			const char **value)
{
	if (ha_dynsec__cmd_string(x->cmd, key, false, value) != 0)
		return missing;
	x->op.present |= field;
	return take(slot, *value) ? NULL : "Internal error";
}

#define NEED(key, missing, field, slot, value)                                 \
	do {                                                                   \
		const char *e_ = need(x, key, missing, field, slot, value);    \
		if (e_ != NULL)                                                \
			return e_;                                             \
	} while (0)

static const char *need_username(struct ha_dynsec__ctx *x, const char **user)
{
	return need(x, "username", "Invalid/missing username",
		    HA_DYNSEC__F_USERNAME, &x->op.username, user);
}

/* deleteClient, enableClient, disableClient, setClientId,
 * setClientPassword. */
static const char *client_simple(struct ha_dynsec__ctx *x, uint8_t code)
{
	const char *user, *s = NULL;
	struct ha_dynsec__op *op = &x->op;
	op->code = code;
	const char *e = need_username(x, &user);
	if (e != NULL)
		return e;
	if (code == HA_DYNSEC__OP_SET_CLIENT_ID) {
		if (ha_dynsec__cmd_string(x->cmd, "clientid", true, &s) != 0)
			FAIL("Invalid/missing client ID");
		op->present |= HA_DYNSEC__F_CLIENTID;
		NOMEM_IF(!take(&op->clientid, s ? s : ""));
	}
	if (code == HA_DYNSEC__OP_SET_CLIENT_PASSWORD) {
		if (ha_dynsec__cmd_string(x->cmd, "password", false, &s) != 0)
			FAIL("Invalid/missing password");
		if (s[0] == '\0')
			FAIL("Empty password is not allowed");
	}
	if (ha_dynsec_find_client(x->work, user) == NULL)
		FAIL("Client not found");
	if (code == HA_DYNSEC__OP_SET_CLIENT_PASSWORD) {
		op->present |= HA_DYNSEC__F_PASSWORD;
		NOMEM_IF(!ha_dynsec_pw_set(&op->pw, s, x->work->v21));
	}
	return NULL;
}

static const char *delete_client(struct ha_dynsec__ctx *x)
{
	return client_simple(x, HA_DYNSEC__OP_DELETE_CLIENT);
}

static const char *enable_client(struct ha_dynsec__ctx *x)
{
	return client_simple(x, HA_DYNSEC__OP_ENABLE_CLIENT);
}

static const char *disable_client(struct ha_dynsec__ctx *x)
{
	return client_simple(x, HA_DYNSEC__OP_DISABLE_CLIENT);
}

static const char *set_client_id(struct ha_dynsec__ctx *x)
{
	return client_simple(x, HA_DYNSEC__OP_SET_CLIENT_ID);
}

static const char *set_client_password(struct ha_dynsec__ctx *x)
{
	return client_simple(x, HA_DYNSEC__OP_SET_CLIENT_PASSWORD);
}

/* addClientRole, removeClientRole. */
static const char *client_role(struct ha_dynsec__ctx *x, uint8_t code)
{
	const char *user, *role;
	x->op.code = code;
	const char *e = need_username(x, &user);
	if (e != NULL)
		return e;
	NEED("rolename", "Invalid/missing rolename", HA_DYNSEC__F_ROLENAME,
	     &x->op.rolename, &role);
	if (code == HA_DYNSEC__OP_ADD_CLIENT_ROLE) {
		x->op.present |= HA_DYNSEC__F_PRIORITY;
		x->op.priority =
		    ha_dynsec__priority(x->cmd, -1, above(x->work));
	}
	const struct ha_dynsec_client *c = ha_dynsec_find_client(x->work, user);
	if (c == NULL)
		FAIL("Client not found");
	if (ha_dynsec_find_role(x->work, role) == NULL)
		FAIL("Role not found");
	if (code == HA_DYNSEC__OP_ADD_CLIENT_ROLE &&
	    ha_dynsec__refs_find(&c->roles, role) >= 0)
		FAIL("Internal error");
	return NULL;
}

static const char *add_client_role(struct ha_dynsec__ctx *x)
{
	return client_role(x, HA_DYNSEC__OP_ADD_CLIENT_ROLE);
}

static const char *remove_client_role(struct ha_dynsec__ctx *x)
{
	return client_role(x, HA_DYNSEC__OP_REMOVE_CLIENT_ROLE);
}

/* The optional texts of createGroup and createRole. */
static const char *texts(struct ha_dynsec__ctx *x, bool optional_invalid_ok)
{
	const char *tn, *td;
	int rtn = ha_dynsec__cmd_string(x->cmd, "textname", true, &tn);
	if (rtn != 0 && !optional_invalid_ok)
		FAIL("Invalid/missing textname");
	int rtd = ha_dynsec__cmd_string(x->cmd, "textdescription", true, &td);
	if (rtd != 0 && !optional_invalid_ok)
		FAIL("Invalid/missing textdescription");
	if (tn != NULL) {
		x->op.present |= HA_DYNSEC__F_TEXTNAME;
		NOMEM_IF(!take(&x->op.textname, tn));
	}
	if (td != NULL) {
		x->op.present |= HA_DYNSEC__F_TEXTDESCRIPTION;
		NOMEM_IF(!take(&x->op.textdescription, td));
	}
	return NULL;
}

static const char *create_group(struct ha_dynsec__ctx *x)
{
	const char *group;
	x->op.code = HA_DYNSEC__OP_CREATE_GROUP;
	NEED("groupname", "Invalid/missing groupname", HA_DYNSEC__F_GROUPNAME,
	     &x->op.groupname, &group);
	if (x->work->v21 && group[0] == '\0')
		FAIL("Empty groupname");
	const char *e = texts(x, false);
	if (e != NULL)
		return e;
	if (ha_dynsec_find_group(x->work, group) != NULL)
		FAIL("Group already exists");
	int rv = read_roles(x->work, x->cmd, &x->op.roles);
	if (rv == -2)
		FAIL("Role not found");
	NOMEM_IF(rv < 0); /* the stock plugin's answer to a bad list too */
	if (rv > 0)
		x->op.present |= HA_DYNSEC__F_ROLES;
	return NULL;
}

static const char *modify_group(struct ha_dynsec__ctx *x)
{
	const char *group;
	x->op.code = HA_DYNSEC__OP_MODIFY_GROUP;
	NEED("groupname", "Invalid/missing groupname", HA_DYNSEC__F_GROUPNAME,
	     &x->op.groupname, &group);
	if (ha_dynsec_find_group(x->work, group) == NULL)
		FAIL("Group not found");
	const char *e = texts(x, true);
	if (e != NULL)
		return e;
	int rv = read_roles(x->work, x->cmd, &x->op.roles);
	if (rv < 0)
		FAIL(roles_error(rv));
	if (rv > 0)
		x->op.present |= HA_DYNSEC__F_ROLES;
	rv = read_members(x->work, x->cmd, "clients", "username", true,
			  &x->op.clients, HA_DYNSEC__BY_NAME);
	if (rv == -1)
		FAIL("'clients' contains an object with an invalid 'username'");
	if (rv == -2)
		FAIL("'clients' contains an object with a 'username' that "
		     "does not exist");
	NOMEM_IF(rv < 0);
	if (rv > 0)
		x->op.present |= HA_DYNSEC__F_CLIENTS;
	return NULL;
}

static const char *delete_group(struct ha_dynsec__ctx *x)
{
	const char *group;
	x->op.code = HA_DYNSEC__OP_DELETE_GROUP;
	NEED("groupname", "Invalid/missing groupname", HA_DYNSEC__F_GROUPNAME,
	     &x->op.groupname, &group);
	if (ha_dynsec_find_group(x->work, group) == NULL)
		FAIL("Group not found");
	if (x->work->anonymous_group != NULL &&
	    strcmp(x->work->anonymous_group, group) == 0)
		FAIL("Deleting the anonymous group is forbidden");
	return NULL;
}

static const char *set_anonymous_group(struct ha_dynsec__ctx *x)
{
	const char *group;
	x->op.code = HA_DYNSEC__OP_SET_ANONYMOUS_GROUP;
	NEED("groupname", "Invalid/missing groupname", HA_DYNSEC__F_GROUPNAME,
	     &x->op.groupname, &group);
	if (ha_dynsec_find_group(x->work, group) == NULL)
		FAIL("Group not found");
	return NULL;
}

/* addGroupClient, removeGroupClient. */
static const char *group_client(struct ha_dynsec__ctx *x, uint8_t code)
{
	const char *user, *group;
	x->op.code = code;
	const char *e = need_username(x, &user);
	if (e != NULL)
		return e;
	NEED("groupname", "Invalid/missing groupname", HA_DYNSEC__F_GROUPNAME,
	     &x->op.groupname, &group);
	if (code == HA_DYNSEC__OP_ADD_GROUP_CLIENT) {
		x->op.present |= HA_DYNSEC__F_PRIORITY;
		x->op.priority = ha_dynsec__priority(x->cmd, -1, both(x->work));
	}
	if (ha_dynsec_find_client(x->work, user) == NULL)
		FAIL("Client not found");
	const struct ha_dynsec_group *g = ha_dynsec_find_group(x->work, group);
	if (g == NULL)
		FAIL("Group not found");
	if (code == HA_DYNSEC__OP_ADD_GROUP_CLIENT &&
	    ha_dynsec__refs_find(&ha_dynsec_find_client(x->work, user)->groups,
				 group) >= 0)
		FAIL("Client is already in this group");
	return NULL;
}

static const char *add_group_client(struct ha_dynsec__ctx *x)
{
	return group_client(x, HA_DYNSEC__OP_ADD_GROUP_CLIENT);
}

static const char *remove_group_client(struct ha_dynsec__ctx *x)
{
	return group_client(x, HA_DYNSEC__OP_REMOVE_GROUP_CLIENT);
}

/* addGroupRole, removeGroupRole. */
static const char *group_role(struct ha_dynsec__ctx *x, uint8_t code)
{
	const char *group, *role;
	x->op.code = code;
	NEED("groupname", "Invalid/missing groupname", HA_DYNSEC__F_GROUPNAME,
	     &x->op.groupname, &group);
	NEED("rolename", "Invalid/missing rolename", HA_DYNSEC__F_ROLENAME,
	     &x->op.rolename, &role);
	if (code == HA_DYNSEC__OP_ADD_GROUP_ROLE) {
		x->op.present |= HA_DYNSEC__F_PRIORITY;
		x->op.priority = ha_dynsec__priority(x->cmd, -1, both(x->work));
	}
	const struct ha_dynsec_group *g = ha_dynsec_find_group(x->work, group);
	if (g == NULL)
		FAIL("Group not found");
	if (ha_dynsec_find_role(x->work, role) == NULL)
		FAIL("Role not found");
	if (code == HA_DYNSEC__OP_ADD_GROUP_ROLE &&
	    ha_dynsec__refs_find(&g->roles, role) >= 0)
		FAIL("Group is already in this role");
	return NULL;
}

static const char *add_group_role(struct ha_dynsec__ctx *x)
{
	return group_role(x, HA_DYNSEC__OP_ADD_GROUP_ROLE);
}

static const char *remove_group_role(struct ha_dynsec__ctx *x)
{
	return group_role(x, HA_DYNSEC__OP_REMOVE_GROUP_ROLE);
}

/* mosquitto 2.1's "allowwildcardsubs" of a role: into the op when it is
 * a boolean; false when it is there but not one (strict: an error). */
static bool wildcard_subs(struct ha_dynsec__ctx *x, bool strict)
{
	json_t *v = ha_dynsec__get(x->cmd, "allowwildcardsubs");
	if (!x->work->v21 || v == NULL)
		return true;
	if (!json_is_boolean(v))
		return !strict;
	x->op.present |= HA_DYNSEC__F_ALLOW;
	x->op.allow = json_is_true(v);
	return true;
}

static const char *create_role(struct ha_dynsec__ctx *x)
{
	const char *role;
	x->op.code = HA_DYNSEC__OP_CREATE_ROLE;
	NEED("rolename", "Invalid/missing rolename", HA_DYNSEC__F_ROLENAME,
	     &x->op.rolename, &role);
	if (x->work->v21 && role[0] == '\0')
		FAIL("Empty rolename");
	const char *e = texts(x, false);
	if (e != NULL)
		return e;
	if (!wildcard_subs(x, true))
		FAIL("Invalid allowwildcardsubs");
	if (ha_dynsec_find_role(x->work, role) != NULL)
		FAIL("Role already exists");
	NOMEM_IF(!read_acls(x->work, x->cmd, &x->op));
	return NULL;
}

static const char *modify_role(struct ha_dynsec__ctx *x)
{
	const char *role;
	x->op.code = HA_DYNSEC__OP_MODIFY_ROLE;
	NEED("rolename", "Invalid/missing rolename", HA_DYNSEC__F_ROLENAME,
	     &x->op.rolename, &role);
	if (ha_dynsec_find_role(x->work, role) == NULL)
		FAIL("Role does not exist");
	const char *e = texts(x, true);
	if (e != NULL)
		return e;
	wildcard_subs(x, false);
	NOMEM_IF(!read_acls(x->work, x->cmd, &x->op));
	return NULL;
}

static const char *delete_role(struct ha_dynsec__ctx *x)
{
	const char *role;
	x->op.code = HA_DYNSEC__OP_DELETE_ROLE;
	NEED("rolename", "Invalid/missing rolename", HA_DYNSEC__F_ROLENAME,
	     &x->op.rolename, &role);
	if (ha_dynsec_find_role(x->work, role) == NULL)
		FAIL("Role not found");
	return NULL;
}

/* addRoleACL, removeRoleACL. */
static const char *role_acl(struct ha_dynsec__ctx *x, uint8_t code)
{
	const char *role, *type, *topic;
	x->op.code = code;
	NEED("rolename", "Invalid/missing rolename", HA_DYNSEC__F_ROLENAME,
	     &x->op.rolename, &role);
	const struct ha_dynsec_role *r = ha_dynsec_find_role(x->work, role);
	if (r == NULL)
		FAIL("Role not found");
	if (ha_dynsec__cmd_string(x->cmd, "acltype", false, &type) != 0)
		FAIL("Invalid/missing acltype");
	int t = ha_dynsec_acl_type_from_name(type);
	if (t < 0)
		FAIL("Unknown acltype");
	x->op.present |= HA_DYNSEC__F_ACLTYPE;
	x->op.acltype = (uint8_t)t;
	NEED("topic", "Invalid/missing topic", HA_DYNSEC__F_TOPIC, &x->op.topic,
	     &topic);
	if (!ha_dynsec_filter_valid(topic))
		FAIL("Invalid ACL topic");
	bool exists = ha_dynsec__acl_find(r, (uint8_t)t, topic) >= 0;
	if (code == HA_DYNSEC__OP_REMOVE_ROLE_ACL)
		return exists ? NULL : "ACL not found";
	if (exists)
		FAIL("ACL with this topic already exists");
	x->op.present |= HA_DYNSEC__F_PRIORITY | HA_DYNSEC__F_ALLOW;
	x->op.priority = ha_dynsec__priority(x->cmd, 0, both(x->work));
	x->op.allow = json_is_true(ha_dynsec__get(x->cmd, "allow"));
	return NULL;
}

static const char *add_role_acl(struct ha_dynsec__ctx *x)
{
	return role_acl(x, HA_DYNSEC__OP_ADD_ROLE_ACL);
}

static const char *remove_role_acl(struct ha_dynsec__ctx *x)
{
	return role_acl(x, HA_DYNSEC__OP_REMOVE_ROLE_ACL);
}

/* ---- dispatch ---- */

static const struct {
	const char *name;
	const char *(*handle)(struct ha_dynsec__ctx *x);
} commands[] = {
    {"setDefaultACLAccess", set_default_access},
    {"getDefaultACLAccess", ha_dynsec__get_default_access},
    {"getDetails", ha_dynsec__get_details},
    {"createClient", create_client},
    {"deleteClient", delete_client},
    {"getClient", ha_dynsec__get_client},
    {"listClients", ha_dynsec__list_clients},
    {"modifyClient", modify_client},
    {"setClientPassword", set_client_password},
    {"setClientId", set_client_id},
    {"addClientRole", add_client_role},
    {"removeClientRole", remove_client_role},
    {"enableClient", enable_client},
    {"disableClient", disable_client},
    {"addGroupClient", add_group_client},
    {"createGroup", create_group},
    {"deleteGroup", delete_group},
    {"getGroup", ha_dynsec__get_group},
    {"listGroups", ha_dynsec__list_groups},
    {"modifyGroup", modify_group},
    {"removeGroupClient", remove_group_client},
    {"addGroupRole", add_group_role},
    {"removeGroupRole", remove_group_role},
    {"setAnonymousGroup", set_anonymous_group},
    {"getAnonymousGroup", ha_dynsec__get_anonymous_group},
    {"createRole", create_role},
    {"getRole", ha_dynsec__get_role},
    {"listRoles", ha_dynsec__list_roles},
    {"modifyRole", modify_role},
    {"deleteRole", delete_role},
    {"addRoleACL", add_role_acl},
    {"removeRoleACL", remove_role_acl},
    /* Not in the stock plugin: the whole data in its file format, hashes
     * included (an export, a backup). */
    {"exportConfig", ha_dynsec__export_config},
};

static bool is_query(const char *(*handle)(struct ha_dynsec__ctx *x))
{
	return handle == ha_dynsec__get_default_access ||
	       handle == ha_dynsec__get_details ||
	       handle == ha_dynsec__get_client ||
	       handle == ha_dynsec__list_clients ||
	       handle == ha_dynsec__get_group ||
	       handle == ha_dynsec__list_groups ||
	       handle == ha_dynsec__get_anonymous_group ||
	       handle == ha_dynsec__get_role ||
	       handle == ha_dynsec__list_roles ||
	       handle == ha_dynsec__export_config;
}

bool ha_dynsec_payload_is_query(const char *payload, size_t len)
{
	json_t *tree = json_loadb(payload, len, 0, NULL);
	json_t *cmds = tree ? ha_dynsec__get(tree, "commands") : NULL;
	bool query = true;
	size_t i;
	json_t *cmd;
	if (json_is_array(cmds)) {
		json_array_foreach(cmds, i, cmd)
		{
			const char *name = NULL;
			if (!json_is_object(cmd) ||
			    ha_dynsec__cmd_string(cmd, "command", false,
						  &name) != 0)
				continue;
			size_t k = 0,
			       n = sizeof(commands) / sizeof(commands[0]);
			while (k < n && strcasecmp(commands[k].name, name) != 0)
				k++;
			if (k < n && !is_query(commands[k].handle))
				query = false;
		}
	}
	json_decref(tree);
	return query;
}

/* {"command": name, "error": error, "data": data, "correlationData": c},
 * each but the first when given; takes data's reference. */
static json_t *reply(const char *name, const char *error, json_t *data,
		     const char *correlation)
{
	json_t *r = json_object();
	if (r == NULL ||
	    json_object_set_new(r, "command", json_string(name)) != 0 ||
	    (error != NULL &&
	     json_object_set_new(r, "error", json_string(error)) != 0) ||
	    (data != NULL && json_object_set(r, "data", data) != 0) ||
	    (correlation != NULL &&
	     json_object_set_new(r, "correlationData",
				 json_string(correlation)) != 0)) {
		json_decref(r);
		r = NULL;
	}
	json_decref(data);
	return r;
}

/* Runs a handler's change on work and encodes it: NULL, or the sentence
 * of a failure (work unchanged). */
static const char *commit_change(struct ha_dynsec__ctx *x,
				 struct ha_dynsec_cmd_result *out, bool *nomem)
{
	const char *why = NULL;
	int rv =
	    ha_dynsec__op_encode(&x->op, &out->record, &out->record_len, &why);
	if (rv != HA_DYNSEC_OK) {
		*nomem = rv == HA_DYNSEC_ENOMEM;
		return "Internal error";
	}
	rv = ha_dynsec__op_apply(x->work, &x->op, &why);
	if (rv != HA_DYNSEC_OK) {
		free(out->record);
		out->record = NULL;
		*nomem = rv == HA_DYNSEC_ENOMEM;
		return rv == HA_DYNSEC_REJECTED ? why : "Internal error";
	}
	return NULL;
}

int ha_dynsec_command(struct ha_dynsec *work, const json_t *cmd,
		      struct ha_dynsec_cmd_result *out)
{
	memset(out, 0, sizeof(*out));
	const char *name, *correlation = NULL, *error = NULL;
	if (!json_is_object(cmd)) {
		out->reply = reply("Unknown command", "Command not an object",
				   NULL, NULL);
		return out->reply ? HA_DYNSEC_OK : HA_DYNSEC_ENOMEM;
	}
	if (ha_dynsec__cmd_string(cmd, "command", false, &name) != 0) {
		out->reply =
		    reply("Unknown command", "Missing command", NULL, NULL);
		return out->reply ? HA_DYNSEC_OK : HA_DYNSEC_ENOMEM;
	}
	if (ha_dynsec__cmd_string(cmd, "correlationData", true, &correlation) !=
	    0) {
		out->reply = reply(name, "Invalid correlationData data type.",
				   NULL, NULL);
		return out->reply ? HA_DYNSEC_OK : HA_DYNSEC_ENOMEM;
	}
	size_t i = 0, n = sizeof(commands) / sizeof(commands[0]);
	while (i < n && strcasecmp(commands[i].name, name) != 0)
		i++;
	/* getDetails came with mosquitto 2.1. */
	if (i < n && commands[i].handle == ha_dynsec__get_details && !work->v21)
		i = n;
	if (i == n) {
		out->reply = reply(name, "Unknown command", NULL, correlation);
		return out->reply ? HA_DYNSEC_OK : HA_DYNSEC_ENOMEM;
	}
	struct ha_dynsec__ctx x = {.work = work, .cmd = cmd};
	bool nomem = false;
	error = commands[i].handle(&x);
	if (error == NULL && x.op.code != 0) {
		/* The reply first: once the change is in work, nothing fails.
		 */
		out->reply = reply(commands[i].name, NULL, NULL, correlation);
		if (out->reply != NULL)
			error = commit_change(&x, out, &nomem);
		if (error != NULL || nomem) {
			json_decref(out->reply);
			out->reply = NULL;
		}
		nomem = nomem || (error == NULL && out->reply == NULL);
	}
	ha_dynsec__op_clear(&x.op);
	if (nomem) {
		json_decref(x.data);
		return HA_DYNSEC_ENOMEM;
	}
	if (out->reply == NULL) {
		if (error != NULL) {
			json_decref(x.data);
			x.data = NULL;
		}
		out->reply =
		    reply(commands[i].name, error, x.data, correlation);
	}
	return out->reply ? HA_DYNSEC_OK : HA_DYNSEC_ENOMEM;
}

json_t *ha_dynsec_payload_mapped(struct ha_dynsec *work, const char *payload,
				 size_t len, uint8_t ***records, size_t **lens,
				 size_t **reply_of, size_t *n)
{
	*records = NULL;
	*lens = NULL;
	*n = 0;
	if (reply_of != NULL)
		*reply_of = NULL;
	json_t *responses = json_array();
	json_t *top = json_pack("{so}", "responses", responses);
	if (top == NULL)
		return NULL;
	json_t *tree = json_loadb(payload, len, 0, NULL);
	json_t *cmds = tree ? ha_dynsec__get(tree, "commands") : NULL;
	json_t *single = NULL;
	if (tree == NULL)
		single = reply("Unknown command", "Payload not valid JSON",
			       NULL, NULL);
	else if (!json_is_array(cmds))
		single = reply("Unknown command", "Invalid/missing commands",
			       NULL, NULL);
	if (tree == NULL || !json_is_array(cmds)) {
		json_decref(tree);
		if (single == NULL ||
		    json_array_append_new(responses, single)) {
			json_decref(top);
			return NULL;
		}
		return top;
	}
	/* Room for a record per command before any change: a change in work
	 * always has its record. */
	size_t count = json_array_size(cmds) + 1;
	*records = calloc(count, sizeof(**records));
	*lens = calloc(count, sizeof(**lens));
	size_t *owners = calloc(count, sizeof(*owners));
	if (*records == NULL || *lens == NULL || owners == NULL) {
		free(*records);
		free(*lens);
		free(owners);
		*records = NULL;
		*lens = NULL;
		json_decref(tree);
		json_decref(top);
		return NULL;
	}
	size_t i;
	json_t *cmd;
	json_array_foreach(cmds, i, cmd)
	{
		struct ha_dynsec_cmd_result res;
		if (ha_dynsec_command(work, cmd, &res) != HA_DYNSEC_OK)
			break;
		if (res.record != NULL) {
			owners[*n] = json_array_size(responses);
			(*records)[*n] = res.record;
			(*lens)[(*n)++] = res.record_len;
		}
		if (json_array_append_new(responses, res.reply) != 0)
			break;
		/* The stock plugin stops at a bad correlationData. */
		json_t *c = ha_dynsec__get(cmd, "correlationData");
		if (c != NULL && !json_is_string(c))
			break;
	}
	json_decref(tree);
	if (reply_of != NULL)
		*reply_of = owners;
	else
		free(owners);
	return top;
}

json_t *ha_dynsec_payload(struct ha_dynsec *work, const char *payload,
			  size_t len, uint8_t ***records, size_t **lens,
			  size_t *n)
{
	return ha_dynsec_payload_mapped(work, payload, len, records, lens, NULL,
					n);
}
