/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The stock plugin's JSON file: read as it reads it (keys in any case,
 * entries it would skip skipped, hashes kept as they are) and written as it
 * writes it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "plugin/dynsec/internal.h"

json_t *ha_dynsec__get(const json_t *obj, const char *key)
{
	if (!json_is_object(obj))
		return NULL;
	json_t *v = json_object_get(obj, key);
	if (v != NULL)
		return v;
	const char *k;
	json_object_foreach((json_t *)obj, k, v)
	{
		if (strcasecmp(k, key) == 0)
			return v;
	}
	return NULL;
}

/* A string member, or NULL when absent or not a string. Strings longer
 * than a record can carry count as absent. */
static const char *get_string(const json_t *obj, const char *key)
{
	json_t *v = ha_dynsec__get(obj, key);
	if (!json_is_string(v) || json_string_length(v) > UINT16_MAX ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return NULL;
	return json_string_value(v);
}

int32_t ha_dynsec__priority(const json_t *obj, int32_t absent,
			    enum ha_dynsec__clamp clamp)
{
	json_t *v = ha_dynsec__get(obj, "priority");
	if (!json_is_number(v))
		return absent;
	double d = json_number_value(v);
	int32_t p = d != d		 ? absent
		    : d >= 2147483647.0	 ? INT32_MAX
		    : d <= -2147483648.0 ? INT32_MIN
					 : (int32_t)d;
	if (clamp != HA_DYNSEC__CLAMP_NONE && p > HA_DYNSEC__PRIORITY_MAX)
		p = HA_DYNSEC__PRIORITY_MAX;
	if (clamp == HA_DYNSEC__CLAMP_BOTH && p < -HA_DYNSEC__PRIORITY_MAX)
		p = -HA_DYNSEC__PRIORITY_MAX;
	return p;
}

/* Loading clamps on both sides with mosquitto 2.1. */
static int32_t get_priority(const struct ha_dynsec *s, const json_t *obj,
			    int32_t absent)
{
	return ha_dynsec__priority(obj, absent,
				   s->v21 ? HA_DYNSEC__CLAMP_BOTH
					  : HA_DYNSEC__CLAMP_NONE);
}

static bool get_bool(const json_t *obj, const char *key)
{
	return json_is_true(ha_dynsec__get(obj, key));
}

/* ---- loading ---- */

static bool load_acls(const struct ha_dynsec *s, struct ha_dynsec_role *r,
		      const json_t *acls)
{
	size_t i;
	json_t *a;
	/* Type by type, as the stock plugin does: the order within a type is
	 * the file's, among equal priorities. */
	for (int type = 0; type < HA_DYNSEC_ACL_TYPES; type++) {
		json_array_foreach(acls, i, a)
		{
			const char *t = get_string(a, "acltype");
			const char *topic = get_string(a, "topic");
			if (t == NULL || topic == NULL ||
			    ha_dynsec_acl_type_from_name(t) != type ||
			    ha_dynsec__acl_find(r, (uint8_t)type, topic) >= 0)
				continue;
			if (!ha_dynsec__acl_add(r, (uint8_t)type, topic,
						get_priority(s, a, 0),
						get_bool(a, "allow")))
				return false;
		}
	}
	return true;
}

static bool load_roles(struct ha_dynsec *s, const json_t *roles)
{
	size_t i;
	json_t *j;
	json_array_foreach(roles, i, j)
	{
		const char *name = get_string(j, "rolename");
		bool exists;
		if (name == NULL)
			continue;
		struct ha_dynsec_role *r =
		    ha_dynsec__add_role(s, name, &exists);
		if (exists)
			continue;
		if (r == NULL ||
		    !ha_dynsec__set_string(&r->textname,
					   get_string(j, "textname")) ||
		    !ha_dynsec__set_string(&r->textdescription,
					   get_string(j, "textdescription")))
			return false;
		json_t *wild = ha_dynsec__get(j, "allowwildcardsubs");
		r->deny_wildcard_subs = json_is_false(wild);
		json_t *acls = ha_dynsec__get(j, "acls");
		if (json_is_array(acls) && !load_acls(s, r, acls))
			return false;
	}
	return true;
}

/* Roles or groups of an entry that exist, each once. */
static bool load_refs(struct ha_dynsec *s, struct ha_dynsec_refs *l,
		      const json_t *list)
{
	size_t i;
	json_t *j;
	if (!json_is_array(list))
		return true;
	json_array_foreach(list, i, j)
	{
		const char *name = get_string(j, "rolename");
		if (name == NULL || ha_dynsec_find_role(s, name) == NULL ||
		    ha_dynsec__refs_find(l, name) >= 0)
			continue;
		if (!ha_dynsec__refs_add(l, name, get_priority(s, j, -1),
					 HA_DYNSEC__BY_PRIORITY))
			return false;
	}
	return true;
}

/* mosquitto 2.1's "encoded_password" of PBKDF2-SHA512:
 * "$7$<iterations>$<salt>$<hash>"; any other form (another scheme) leaves
 * the client without a password. */
static void parse_encoded(const char *enc, struct ha_dynsec_pw *pw)
{
	char salt[128], hash[128];
	long iterations;
	int used = 0;
	if (sscanf(enc, "$7$%ld$%127[^$]$%127[^$]%n", &iterations, salt, hash,
		   &used) != 3 ||
	    enc[used] != '\0' || iterations < 1 || iterations > INT32_MAX)
		return;
	pw->iterations = (int32_t)iterations;
	size_t salt_len = 0;
	pw->valid = ha_dynsec__base64_decode_range(
			salt, pw->salt, 1, HA_DYNSEC_SALT_MAX, &salt_len) &&
		    ha_dynsec__base64_decode(hash, pw->hash, sizeof(pw->hash));
	pw->salt_len = (uint8_t)salt_len;
	if (!pw->valid)
		memset(pw, 0, sizeof(*pw));
}

/* The password: all three fields valid, or none (no password); a client
 * whose salt or hash does not decode is skipped, as the 2.0 plugin does.
 * Or a 2.1 file's "encoded_password". */
static bool load_password(struct ha_dynsec_pw *pw, const json_t *j, bool *skip)
{
	const char *salt = get_string(j, "salt");
	const char *hash = get_string(j, "password");
	const char *encoded = get_string(j, "encoded_password");
	json_t *it = ha_dynsec__get(j, "iterations");
	*skip = false;
	if (encoded != NULL) {
		parse_encoded(encoded, pw);
		return true;
	}
	if (salt == NULL || hash == NULL || !json_is_number(it) ||
	    json_number_value(it) < 1 || json_number_value(it) > INT32_MAX)
		return true;
	pw->iterations = (int32_t)json_number_value(it);
	/* 12 bytes from mosquitto 2.0, 64 from 2.1 (which reads these
	 * fields too). */
	size_t salt_len = 0;
	if (!ha_dynsec__base64_decode_range(salt, pw->salt, 1,
					    HA_DYNSEC_SALT_MAX, &salt_len) ||
	    !ha_dynsec__base64_decode(hash, pw->hash, sizeof(pw->hash))) {
		*skip = true;
		return true;
	}
	pw->salt_len = (uint8_t)salt_len;
	pw->valid = true;
	return true;
}

static bool load_clients(struct ha_dynsec *s, const json_t *clients)
{
	size_t i;
	json_t *j;
	json_array_foreach(clients, i, j)
	{
		const char *name = get_string(j, "username");
		struct ha_dynsec_pw pw = {0};
		bool exists, skip;
		if (name == NULL || ha_dynsec_find_client(s, name) != NULL)
			continue;
		load_password(&pw, j, &skip);
		if (skip)
			continue;
		struct ha_dynsec_client *c =
		    ha_dynsec__add_client(s, name, &exists);
		if (c == NULL)
			return false;
		c->pw = pw;
		c->disabled = get_bool(j, "disabled");
		const char *clientid = get_string(j, "clientid");
		if (!ha_dynsec__set_string(&c->clientid, clientid) ||
		    !ha_dynsec__set_string(&c->textname,
					   get_string(j, "textname")) ||
		    !ha_dynsec__set_string(&c->textdescription,
					   get_string(j, "textdescription")) ||
		    !load_refs(s, &c->roles, ha_dynsec__get(j, "roles")))
			return false;
	}
	return true;
}

static bool load_group_clients(struct ha_dynsec *s, struct ha_dynsec_group *g,
			       const json_t *list)
{
	size_t i;
	json_t *j;
	if (!json_is_array(list))
		return true;
	json_array_foreach(list, i, j)
	{
		const char *name = get_string(j, "username");
		struct ha_dynsec_client *c =
		    name ? ha_dynsec_find_client(s, name) : NULL;
		/* The client's list of groups is short; the group's may not be.
		 */
		if (c == NULL ||
		    ha_dynsec__refs_find(&c->groups, g->groupname) >= 0)
			continue;
		if (!ha_dynsec__join_group(s, c, g, get_priority(s, j, -1)))
			return false;
	}
	return true;
}

static bool load_groups(struct ha_dynsec *s, const json_t *groups)
{
	size_t i;
	json_t *j;
	json_array_foreach(groups, i, j)
	{
		const char *name = get_string(j, "groupname");
		bool exists;
		if (name == NULL)
			continue;
		struct ha_dynsec_group *g =
		    ha_dynsec__add_group(s, name, &exists);
		if (exists)
			continue;
		if (g == NULL ||
		    !ha_dynsec__set_string(&g->textname,
					   get_string(j, "textname")) ||
		    !ha_dynsec__set_string(&g->textdescription,
					   get_string(j, "textdescription")) ||
		    !load_refs(s, &g->roles, ha_dynsec__get(j, "roles")) ||
		    !load_group_clients(s, g, ha_dynsec__get(j, "clients")))
			return false;
	}
	return true;
}

static bool load_tree(struct ha_dynsec *s, const json_t *tree)
{
	/* A 2.0 plugin neither reads nor writes the change index. */
	json_t *index = s->v21 ? ha_dynsec__get(tree, "changeIndex") : NULL;
	if (json_is_integer(index) && json_integer_value(index) > 0)
		s->change_index = (uint64_t)json_integer_value(index);
	json_t *access = ha_dynsec__get(tree, "defaultACLAccess");
	if (json_is_object(access))
		for (int k = 0; k < HA_DYNSEC_ACCESS_KINDS; k++)
			s->default_access[k] =
			    get_bool(access, ha_dynsec_access_name(k));
	json_t *roles = ha_dynsec__get(tree, "roles");
	json_t *clients = ha_dynsec__get(tree, "clients");
	json_t *groups = ha_dynsec__get(tree, "groups");
	if ((json_is_array(roles) && !load_roles(s, roles)) ||
	    (json_is_array(clients) && !load_clients(s, clients)) ||
	    (json_is_array(groups) && !load_groups(s, groups)))
		return false;
	const char *anonymous = get_string(tree, "anonymousGroup");
	if (anonymous != NULL && ha_dynsec_find_group(s, anonymous) != NULL)
		return ha_dynsec__set_string(&s->anonymous_group, anonymous);
	return true;
}

int ha_dynsec_load_json(struct ha_dynsec *s, const json_t *tree)
{
	if (!json_is_object(tree))
		return HA_DYNSEC_MALFORMED;
	struct ha_dynsec *next = ha_dynsec_new();
	if (next == NULL)
		return HA_DYNSEC_ENOMEM;
	next->v21 = s->v21;
	if (!load_tree(next, tree)) {
		ha_dynsec_free(next);
		return HA_DYNSEC_ENOMEM;
	}
	ha_dynsec_replace(s, next);
	return HA_DYNSEC_OK;
}

/* ---- writing ---- */

/* Adds key: value to obj, taking value's reference; false on failure. */
static bool add(json_t *obj, const char *key, json_t *value)
{
	return value != NULL && json_object_set_new(obj, key, value) == 0;
}

static bool add_string(json_t *obj, const char *key, const char *value)
{
	return value == NULL || add(obj, key, json_string(value));
}

json_t *ha_dynsec__refs_json(const struct ha_dynsec_refs *l, const char *key)
{
	json_t *list = json_array();
	for (size_t i = 0; list != NULL && i < l->n; i++) {
		json_t *j = json_object();
		bool ok = j != NULL && add_string(j, key, l->v[i].name) &&
			  (l->v[i].priority == -1 ||
			   add(j, "priority", json_integer(l->v[i].priority)));
		if (!ok || json_array_append_new(list, j) != 0) {
			json_decref(list);
			return NULL;
		}
	}
	return list;
}

/* mosquitto 2.1 writes "encoded_password"; 2.0 the three fields (which
 * 2.1 reads as well). */
static bool add_password(json_t *j, const struct ha_dynsec_pw *pw, bool v21)
{
	char *hash = ha_dynsec__base64_encode(pw->hash, sizeof(pw->hash));
	char *salt = ha_dynsec__base64_encode(pw->salt, pw->salt_len);
	bool ok = hash != NULL && salt != NULL;
	if (ok && v21) {
		char *enc = NULL;
		ok = asprintf(&enc, "$7$%d$%s$%s", (int)pw->iterations, salt,
			      hash) >= 0 &&
		     add_string(j, "encoded_password", enc);
		free(enc);
	} else if (ok) {
		ok = add_string(j, "password", hash) &&
		     add_string(j, "salt", salt) &&
		     add(j, "iterations", json_integer(pw->iterations));
	}
	free(hash);
	free(salt);
	return ok;
}

json_t *ha_dynsec__client_json(const struct ha_dynsec_client *c, bool file,
			       bool v21)
{
	json_t *j = json_object();
	bool ok = j != NULL && add_string(j, "username", c->username) &&
		  add_string(j, "clientid", c->clientid) &&
		  add_string(j, "textname", c->textname) &&
		  add_string(j, "textdescription", c->textdescription) &&
		  (!c->disabled || add(j, "disabled", json_true())) &&
		  add(j, "roles", ha_dynsec__refs_json(&c->roles, "rolename"));
	if (ok && file && c->pw.valid)
		ok = add_password(j, &c->pw, v21);
	if (ok && !file)
		ok = add(j, "groups",
			 ha_dynsec__refs_json(&c->groups, "groupname"));
	if (!ok) {
		json_decref(j);
		return NULL;
	}
	return j;
}

json_t *ha_dynsec__group_json(const struct ha_dynsec_group *g, bool file)
{
	json_t *j = json_object(), *clients;
	if (j == NULL)
		return NULL;
	if (file) {
		clients = ha_dynsec__refs_json(&g->clients, "username");
	} else {
		clients = json_array();
		for (size_t i = 0; clients != NULL && i < g->clients.n; i++)
			if (json_array_append_new(
				clients, json_pack("{ss}", "username",
						   g->clients.v[i].name)) !=
			    0) {
				json_decref(clients);
				clients = NULL;
			}
	}
	if (add_string(j, "groupname", g->groupname) &&
	    add_string(j, "textname", g->textname) &&
	    add_string(j, "textdescription", g->textdescription) &&
	    add(j, "roles", ha_dynsec__refs_json(&g->roles, "rolename")) &&
	    add(j, "clients", clients))
		return j;
	json_decref(j);
	return NULL;
}

json_t *ha_dynsec__role_json(const struct ha_dynsec_role *r, bool v21)
{
	json_t *j = json_object(), *acls = json_array();
	bool ok =
	    j != NULL && acls != NULL &&
	    add_string(j, "rolename", r->rolename) &&
	    add_string(j, "textname", r->textname) &&
	    add_string(j, "textdescription", r->textdescription) &&
	    (!(v21 || r->deny_wildcard_subs) ||
	     add(j, "allowwildcardsubs", json_boolean(!r->deny_wildcard_subs)));
	for (size_t i = 0; ok && i < r->n_acls; i++) {
		const struct ha_dynsec_acl *a = &r->acls[i];
		json_t *ja = json_object();
		ok = ja != NULL &&
		     add_string(ja, "acltype",
				ha_dynsec_acl_type_name(a->type)) &&
		     add_string(ja, "topic", a->topic) &&
		     add(ja, "priority", json_integer(a->priority)) &&
		     add(ja, "allow", json_boolean(a->allow)) &&
		     json_array_append_new(acls, ja) == 0;
	}
	if (ok && json_object_set_new(j, "acls", acls) == 0)
		return j;
	json_decref(acls);
	json_decref(j);
	return NULL;
}

/* Appends each entry's JSON to a new array added to tree under key. */
static bool add_list(json_t *tree, const char *key, size_t n,
		     json_t *(*entry)(const struct ha_dynsec *, size_t),
		     const struct ha_dynsec *s)
{
	json_t *list = json_array();
	if (list == NULL || json_object_set_new(tree, key, list) != 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (json_array_append_new(list, entry(s, i)) != 0)
			return false;
	return true;
}

static json_t *client_entry(const struct ha_dynsec *s, size_t i)
{
	return ha_dynsec__client_json(&s->clients[i], true, s->v21);
}

static json_t *group_entry(const struct ha_dynsec *s, size_t i)
{
	return ha_dynsec__group_json(&s->groups[i], true);
}

static json_t *role_entry(const struct ha_dynsec *s, size_t i)
{
	return ha_dynsec__role_json(&s->roles[i], s->v21);
}

json_t *ha_dynsec_save_json(const struct ha_dynsec *s)
{
	json_t *tree = json_object(), *access = json_object();
	bool ok = tree != NULL && access != NULL;
	for (int k = 0; ok && k < HA_DYNSEC_ACCESS_KINDS; k++)
		ok = add(access, ha_dynsec_access_name(k),
			 json_boolean(s->default_access[k]));
	if (ok && s->v21)
		ok = add(tree, "changeIndex",
			 json_integer((json_int_t)(s->change_index &
						   (uint64_t)INT64_MAX)));
	if (ok && json_object_set_new(tree, "defaultACLAccess", access) == 0) {
		ok = add_list(tree, "clients", s->n_clients, client_entry, s) &&
		     add_list(tree, "groups", s->n_groups, group_entry, s) &&
		     add_string(tree, "anonymousGroup", s->anonymous_group) &&
		     add_list(tree, "roles", s->n_roles, role_entry, s);
		if (ok)
			return tree;
	} else {
		json_decref(access);
	}
	json_decref(tree);
	return NULL;
}

int ha_dynsec_load_file(struct ha_dynsec *s, const char *path, char *why,
			size_t why_len)
{
	json_error_t err;
	json_t *tree = json_load_file(path, 0, &err);
	if (tree == NULL) {
		snprintf(why, why_len, "%s: %s (line %d)", path, err.text,
			 err.line);
		return HA_DYNSEC_MALFORMED;
	}
	int rv = ha_dynsec_load_json(s, tree);
	json_decref(tree);
	if (rv == HA_DYNSEC_MALFORMED)
		snprintf(why, why_len, "%s: not a JSON object", path);
	else if (rv != HA_DYNSEC_OK)
		snprintf(why, why_len, "%s: out of memory", path);
	return rv;
}

int ha_dynsec_save_file(const struct ha_dynsec *s, const char *path, char *why,
			size_t why_len)
{
	json_t *tree = ha_dynsec_save_json(s);
	if (tree == NULL) {
		snprintf(why, why_len, "%s: out of memory", path);
		return HA_DYNSEC_ENOMEM;
	}
	/* Written beside the target and renamed over it: never half a file. */
	char tmp[4096];
	int n = snprintf(tmp, sizeof(tmp), "%s.new", path);
	int rv = HA_DYNSEC_OK;
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		snprintf(why, why_len, "%s: path too long", path);
		rv = HA_DYNSEC_MALFORMED;
	} else if (json_dump_file(tree, tmp, JSON_INDENT(1)) != 0 ||
		   rename(tmp, path) != 0) {
		snprintf(why, why_len, "%s: %s", path, strerror(errno));
		remove(tmp);
		rv = HA_DYNSEC_MALFORMED;
	}
	json_decref(tree);
	return rv;
}
