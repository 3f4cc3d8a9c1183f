/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* What the files of plugin/dynsec/ share but is not its API. */
#ifndef HA_PLUGIN_DYNSEC_INTERNAL_H
#define HA_PLUGIN_DYNSEC_INTERNAL_H

#include "plugin/dynsec/dynsec.h"

/* How a list of references is ordered: priority high first then name
 * (roles, groups of a client), or by name alone (clients of a group). */
enum ha_dynsec__order { HA_DYNSEC__BY_PRIORITY, HA_DYNSEC__BY_NAME };

char *ha_dynsec__strdup(const char *s); /* NULL in, NULL out */
/* Replaces *slot by a copy of value (NULL clears); false: out of memory. */
bool ha_dynsec__set_string(char **slot, const char *value);

void ha_dynsec__client_clear(struct ha_dynsec_client *c);
void ha_dynsec__group_clear(struct ha_dynsec_group *g);
void ha_dynsec__role_clear(struct ha_dynsec_role *r);
void ha_dynsec__refs_clear(struct ha_dynsec_refs *l);
bool ha_dynsec__refs_copy(struct ha_dynsec_refs *dst,
			  const struct ha_dynsec_refs *src);

/* Inserts a new, zeroed entry named name (copied) at its sorted place;
 * NULL when it exists already or out of memory (*exists tells which). */
struct ha_dynsec_client *
ha_dynsec__add_client(struct ha_dynsec *s, const char *username, bool *exists);
struct ha_dynsec_group *
ha_dynsec__add_group(struct ha_dynsec *s, const char *groupname, bool *exists);
struct ha_dynsec_role *ha_dynsec__add_role(struct ha_dynsec *s,
					   const char *rolename, bool *exists);
/* Removes and frees; also every reference to it. */
void ha_dynsec__remove_client(struct ha_dynsec *s, const char *username);
void ha_dynsec__remove_group(struct ha_dynsec *s, const char *groupname);
void ha_dynsec__remove_role(struct ha_dynsec *s, const char *rolename);

/* The index of name in l, or -1. */
long ha_dynsec__refs_find(const struct ha_dynsec_refs *l, const char *name);
/* Adds name at its place; false when out of memory. The caller checks that
 * it is not there. */
bool ha_dynsec__refs_add(struct ha_dynsec_refs *l, const char *name,
			 int32_t priority, enum ha_dynsec__order order);
void ha_dynsec__refs_remove(struct ha_dynsec_refs *l, const char *name);

/* A client joins a group (both lists) / leaves it. */
bool ha_dynsec__join_group(struct ha_dynsec *s, struct ha_dynsec_client *c,
			   struct ha_dynsec_group *g, int32_t priority);
void ha_dynsec__leave_group(struct ha_dynsec_client *c,
			    struct ha_dynsec_group *g);

/* The index of an ACL of that type and topic in r, or -1. */
long ha_dynsec__acl_find(const struct ha_dynsec_role *r, uint8_t type,
			 const char *topic);
/* Inserts a copy at its place (after the ACLs of its type with a priority
 * at least as high); false when out of memory. */
bool ha_dynsec__acl_add(struct ha_dynsec_role *r, uint8_t type,
			const char *topic, int32_t priority, bool allow);
void ha_dynsec__acl_remove(struct ha_dynsec_role *r, size_t index);

/* Base64 without line breaks (the file's salt and hash). decode: false
 * unless in is valid and decodes to exactly out_len bytes. */
char *ha_dynsec__base64_encode(const uint8_t *in, size_t len);
bool ha_dynsec__base64_decode(const char *in, uint8_t *out, size_t out_len);
/* The same for min..max bytes; *len: how many. */
bool ha_dynsec__base64_decode_range(const char *in, uint8_t *out, size_t min,
				    size_t max, size_t *len);

/* How mosquitto 2.1 bounds a priority it reads: to +-100000, or only
 * from above in some places (none with 2.0). */
enum ha_dynsec__clamp {
	HA_DYNSEC__CLAMP_NONE,
	HA_DYNSEC__CLAMP_ABOVE,
	HA_DYNSEC__CLAMP_BOTH,
};
#define HA_DYNSEC__PRIORITY_MAX 100000

/* obj's "priority" as the stock plugin reads a number, absent when it is
 * missing or not a number, bounded as clamp says. */
int32_t ha_dynsec__priority(const json_t *obj, int32_t absent,
			    enum ha_dynsec__clamp clamp);

/* A key of an object, case ignored (the stock plugin's lookups). */
json_t *ha_dynsec__get(const json_t *obj, const char *key);

/* The JSON of an entry, as the stock plugin's file (file: passwords, no
 * groups for a client) or its replies (groups); NULL when out of memory. */
json_t *ha_dynsec__client_json(const struct ha_dynsec_client *c, bool file,
			       bool v21);
/* file: the clients with their priorities; a reply names them only. */
json_t *ha_dynsec__group_json(const struct ha_dynsec_group *g, bool file);
/* allowwildcardsubs is written for mosquitto 2.1 (v21), or when false. */
json_t *ha_dynsec__role_json(const struct ha_dynsec_role *r, bool v21);
/* [{"<key>": name, "priority": p (left out when -1)}, ...] */
json_t *ha_dynsec__refs_json(const struct ha_dynsec_refs *l, const char *key);

/* ---- changes (codec.c encodes them, apply.c runs them) ---- */

/* What a change does: the mutating commands, and a whole-state import. */
enum ha_dynsec__op_code {
	HA_DYNSEC__OP_SET_DEFAULT_ACCESS = 1,
	HA_DYNSEC__OP_CREATE_CLIENT = 2,
	HA_DYNSEC__OP_DELETE_CLIENT = 3,
	HA_DYNSEC__OP_MODIFY_CLIENT = 4,
	HA_DYNSEC__OP_SET_CLIENT_PASSWORD = 5,
	HA_DYNSEC__OP_SET_CLIENT_ID = 6,
	HA_DYNSEC__OP_ADD_CLIENT_ROLE = 7,
	HA_DYNSEC__OP_REMOVE_CLIENT_ROLE = 8,
	HA_DYNSEC__OP_ENABLE_CLIENT = 9,
	HA_DYNSEC__OP_DISABLE_CLIENT = 10,
	HA_DYNSEC__OP_CREATE_GROUP = 11,
	HA_DYNSEC__OP_DELETE_GROUP = 12,
	HA_DYNSEC__OP_MODIFY_GROUP = 13,
	HA_DYNSEC__OP_ADD_GROUP_CLIENT = 14,
	HA_DYNSEC__OP_REMOVE_GROUP_CLIENT = 15,
	HA_DYNSEC__OP_ADD_GROUP_ROLE = 16,
	HA_DYNSEC__OP_REMOVE_GROUP_ROLE = 17,
	HA_DYNSEC__OP_SET_ANONYMOUS_GROUP = 18,
	HA_DYNSEC__OP_CREATE_ROLE = 19,
	HA_DYNSEC__OP_DELETE_ROLE = 20,
	HA_DYNSEC__OP_MODIFY_ROLE = 21,
	HA_DYNSEC__OP_ADD_ROLE_ACL = 22,
	HA_DYNSEC__OP_REMOVE_ROLE_ACL = 23,
	HA_DYNSEC__OP_IMPORT = 24,
	HA_DYNSEC__OP_MAX = 24,
};

/* The fields of a change; which are present is a bit each (F_*), written
 * in this order. */
enum {
	HA_DYNSEC__F_USERNAME = 1u << 0,
	HA_DYNSEC__F_GROUPNAME = 1u << 1,
	HA_DYNSEC__F_ROLENAME = 1u << 2,
	HA_DYNSEC__F_CLIENTID = 1u << 3,
	HA_DYNSEC__F_TEXTNAME = 1u << 4,
	HA_DYNSEC__F_TEXTDESCRIPTION = 1u << 5,
	HA_DYNSEC__F_TOPIC = 1u << 6,
	HA_DYNSEC__F_ACLTYPE = 1u << 7,
	HA_DYNSEC__F_PRIORITY = 1u << 8,
	HA_DYNSEC__F_ALLOW = 1u << 9,
	HA_DYNSEC__F_PASSWORD = 1u << 10,
	HA_DYNSEC__F_ROLES = 1u << 11,
	HA_DYNSEC__F_GROUPS = 1u << 12,
	HA_DYNSEC__F_CLIENTS = 1u << 13,
	HA_DYNSEC__F_ACLS = 1u << 14,
	HA_DYNSEC__F_STATE = 1u << 15,
};

struct ha_dynsec__op {
	uint8_t code;
	uint16_t present; /* HA_DYNSEC__F_* */
	char *username, *groupname, *rolename, *clientid, *textname,
	    *textdescription, *topic;
	uint8_t acltype;
	int32_t priority;
	bool allow;
	struct ha_dynsec_pw pw;
	struct ha_dynsec_refs roles, groups, clients;
	/* setDefaultACLAccess: type is an enum ha_dynsec_access, topic "". */
	size_t n_acls;
	struct ha_dynsec_acl *acls;
	struct ha_dynsec *state; /* import */
};

void ha_dynsec__op_clear(struct ha_dynsec__op *op);
/* A whole record (type and version first). HA_DYNSEC_OK or _ENOMEM;
 * HA_DYNSEC_MALFORMED when a string is longer than 65535 bytes or the
 * record larger than the maximum (why set). */
int ha_dynsec__op_encode(const struct ha_dynsec__op *op, uint8_t **out,
			 size_t *len, const char **why);
/* HA_DYNSEC_OK, _MALFORMED (why), _NEWER (why), _ENOMEM. op is cleared on
 * failure. */
int ha_dynsec__op_decode(const uint8_t *buf, size_t len,
			 struct ha_dynsec__op *op, const char **why);
/* Runs op on s: HA_DYNSEC_OK, HA_DYNSEC_REJECTED (*error: the stock
 * sentence) or HA_DYNSEC_ENOMEM; s may be half changed unless OK, so the
 * caller runs it on a copy. */
int ha_dynsec__op_run(struct ha_dynsec *s, const struct ha_dynsec__op *op,
		      const char **error);
/* Runs op on a copy of s and keeps the copy only on success. */
int ha_dynsec__op_apply(struct ha_dynsec *s, const struct ha_dynsec__op *op,
			const char **error);

#endif
