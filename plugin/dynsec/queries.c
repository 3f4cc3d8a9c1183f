/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The $CONTROL/dynamic-security/v1 commands that only read: get* and
 * list*, answered from the state with the stock plugin's shapes. */
#include <string.h>

#include "plugin/dynsec/commands.h"

/* data = {key: value} (taking value's reference); the sentence of a
 * failure. */
static const char *set_data(struct ha_dynsec__ctx *x, const char *key,
			    json_t *value)
{
	x->data = json_object();
	if (x->data == NULL || value == NULL ||
	    json_object_set_new(x->data, key, value) != 0) {
		if (x->data == NULL || value == NULL)
			json_decref(value);
		return "Internal error";
	}
	return NULL;
}

const char *ha_dynsec__get_client(struct ha_dynsec__ctx *x)
{
	const char *user;
	if (ha_dynsec__cmd_string(x->cmd, "username", false, &user) != 0)
		return "Invalid/missing username";
	const struct ha_dynsec_client *c = ha_dynsec_find_client(x->work, user);
	if (c == NULL)
		return "Client not found";
	return set_data(x, "client", ha_dynsec__client_json(c, false, false));
}

const char *ha_dynsec__get_group(struct ha_dynsec__ctx *x)
{
	const char *name;
	if (ha_dynsec__cmd_string(x->cmd, "groupname", false, &name) != 0)
		return "Invalid/missing groupname";
	const struct ha_dynsec_group *g = ha_dynsec_find_group(x->work, name);
	if (g == NULL)
		return "Group not found";
	return set_data(x, "group", ha_dynsec__group_json(g, false));
}

const char *ha_dynsec__get_role(struct ha_dynsec__ctx *x)
{
	const char *name;
	if (ha_dynsec__cmd_string(x->cmd, "rolename", false, &name) != 0)
		return "Invalid/missing rolename";
	const struct ha_dynsec_role *r = ha_dynsec_find_role(x->work, name);
	if (r == NULL)
		return "Role not found";
	return set_data(x, "role", ha_dynsec__role_json(r, x->work->v21));
}

/* One entry of a list: its name, or all of it when verbose. */
static json_t *entry(const struct ha_dynsec *s, char kind, size_t i,
		     bool verbose)
{
	switch (kind) {
	case 'c':
		return verbose ? ha_dynsec__client_json(&s->clients[i], false,
							false)
			       : json_string(s->clients[i].username);
	case 'g':
		return verbose ? ha_dynsec__group_json(&s->groups[i], false)
			       : json_string(s->groups[i].groupname);
	default:
		return verbose ? ha_dynsec__role_json(&s->roles[i], s->v21)
			       : json_string(s->roles[i].rolename);
	}
}

/* listClients, listGroups, listRoles: {"totalCount": n, key: [...]},
 * from "offset", "count" entries (the stock plugin gives one entry for
 * a count of 0, and all for a negative count). */
static const char *list(struct ha_dynsec__ctx *x, char kind, const char *key,
			size_t total)
{
	bool verbose = json_is_true(ha_dynsec__get(x->cmd, "verbose"));
	int32_t count = ha_dynsec__cmd_int(x->cmd, "count", -1);
	int32_t offset = ha_dynsec__cmd_int(x->cmd, "offset", 0);
	json_t *items = json_array();
	x->data = json_object();
	if (items == NULL || x->data == NULL ||
	    json_object_set_new(x->data, "totalCount",
				json_integer((json_int_t)total)) != 0 ||
	    json_object_set(x->data, key, items) != 0) {
		json_decref(items);
		return "Internal error";
	}
	json_decref(items);
	for (size_t i = offset > 0 ? (size_t)offset : 0; i < total; i++) {
		if (json_array_append_new(
			items, entry(x->work, kind, i, verbose)) != 0)
			return "Internal error";
		if (count >= 0 && --count <= 0)
			break;
	}
	return NULL;
}

const char *ha_dynsec__list_clients(struct ha_dynsec__ctx *x)
{
	return list(x, 'c', "clients", x->work->n_clients);
}

const char *ha_dynsec__list_groups(struct ha_dynsec__ctx *x)
{
	return list(x, 'g', "groups", x->work->n_groups);
}

const char *ha_dynsec__list_roles(struct ha_dynsec__ctx *x)
{
	return list(x, 'r', "roles", x->work->n_roles);
}

const char *ha_dynsec__get_default_access(struct ha_dynsec__ctx *x)
{
	json_t *acls = json_array();
	for (int k = 0; acls != NULL && k < HA_DYNSEC_ACCESS_KINDS; k++) {
		json_t *a = json_pack("{ssso}", "acltype",
				      ha_dynsec_access_name(k), "allow",
				      json_boolean(x->work->default_access[k]));
		if (json_array_append_new(acls, a) != 0) {
			json_decref(acls);
			acls = NULL;
		}
	}
	return set_data(x, "acls", acls);
}

const char *ha_dynsec__get_anonymous_group(struct ha_dynsec__ctx *x)
{
	const char *name = x->work->anonymous_group;
	return set_data(x, "group",
			json_pack("{ss}", "groupname", name ? name : ""));
}

/* mosquitto 2.1: the counts and the change index. */
const char *ha_dynsec__get_details(struct ha_dynsec__ctx *x)
{
	x->data = json_pack(
	    "{sIsIsIsI}", "clientCount", (json_int_t)x->work->n_clients,
	    "groupCount", (json_int_t)x->work->n_groups, "roleCount",
	    (json_int_t)x->work->n_roles, "changeIndex",
	    (json_int_t)(x->work->change_index & (uint64_t)INT64_MAX));
	return x->data != NULL ? NULL : "Internal error";
}

const char *ha_dynsec__export_config(struct ha_dynsec__ctx *x)
{
	json_t *config = ha_dynsec_save_json(x->work);
	x->data = config ? json_pack("{so}", "config", config) : NULL;
	return x->data != NULL ? NULL : "Internal error";
}
