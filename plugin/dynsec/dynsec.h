/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Access control in the manner of Mosquitto's dynamic-security plugin, without
 * the broker: clients, groups, roles and their ACLs; the plugin's JSON file;
 * authentication and ACL decisions; the $CONTROL/dynamic-security/v1 command
 * set as a pure function that turns a change into a record for the Raft log;
 * the apply of such a record; and the state's snapshot section. jansson and
 * OpenSSL (PBKDF2-HMAC-SHA512), no broker headers, no I/O but the file
 * helpers. docs/access-control.md has the semantics and the formats.
 *
 * Usage:
 *
 *   s = ha_dynsec_new();                 empty: no clients, default access
 *                                        all denied, no anonymous group
 *   ha_dynsec_load_json(s, tree, why)    the stock file's JSON (hashes kept)
 *   tree = ha_dynsec_save_json(s)        the same format back
 *
 *   ha_dynsec_authenticate(s, user, password, clientid)
 *   ha_dynsec_acl_check(s, access, user, clientid, topic)
 *
 *   Commands, on the node that takes a change (the leader), one command
 *   object of a payload's "commands" array at a time, against a working
 *   copy that already holds the earlier changes of the same payload:
 *     ha_dynsec_command(work, cmd, &res)  res.reply: the reply object;
 *        res.record (malloc()ed) when the command changes the state, which
 *        has then been applied to work. A rejected command changes nothing.
 *   On every node, for a committed record:
 *     ha_dynsec_apply(s, rec, len, &error)  HA_DYNSEC_OK; HA_DYNSEC_REJECTED
 *        (error: the stock error sentence; the state is unchanged; every
 *        node decides the same); HA_DYNSEC_MALFORMED / _NEWER (error says
 *        why: stop applying); HA_DYNSEC_ENOMEM.
 *
 *   Snapshots: ha_dynsec_section_encode(s, &buf, &len) and
 *   ha_dynsec_section_decode(buf, len, &s, &why).
 */
#ifndef HA_PLUGIN_DYNSEC_H
#define HA_PLUGIN_DYNSEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* A new password's salt and iteration count, as the stock plugin of each
 * version makes them; a salt read from a file is 1..64 bytes. */
#define HA_DYNSEC_SALT_LEN 12
#define HA_DYNSEC_SALT_LEN_21 64
#define HA_DYNSEC_SALT_MAX 64
#define HA_DYNSEC_HASH_LEN 64
#define HA_DYNSEC_DEFAULT_ITERATIONS 101
#define HA_DYNSEC_DEFAULT_ITERATIONS_21 1000

/* The ACL types a role holds, in the order the stock plugin writes them. */
enum ha_dynsec_acl_type {
	HA_DYNSEC_PUB_SEND = 0,	   /* publishClientSend */
	HA_DYNSEC_PUB_RECV = 1,	   /* publishClientReceive */
	HA_DYNSEC_SUB_LITERAL = 2, /* subscribeLiteral */
	HA_DYNSEC_SUB_PATTERN = 3, /* subscribePattern */
	HA_DYNSEC_UNSUB_LITERAL = 4,
	HA_DYNSEC_UNSUB_PATTERN = 5,
	HA_DYNSEC_ACL_TYPES = 6,
};

/* The four default access kinds (defaultACLAccess). */
enum ha_dynsec_access {
	HA_DYNSEC_ACCESS_PUB_SEND = 0, /* publishClientSend */
	HA_DYNSEC_ACCESS_PUB_RECV = 1, /* publishClientReceive */
	HA_DYNSEC_ACCESS_SUBSCRIBE = 2,
	HA_DYNSEC_ACCESS_UNSUBSCRIBE = 3,
	HA_DYNSEC_ACCESS_KINDS = 4,
};

struct ha_dynsec_pw {
	bool valid; /* false: the client has no password and cannot log in */
	int32_t iterations;
	uint8_t salt_len; /* 1..HA_DYNSEC_SALT_MAX */
	uint8_t salt[HA_DYNSEC_SALT_MAX];
	uint8_t hash[HA_DYNSEC_HASH_LEN];
};

/* A role, group or client named in a list, with its priority (-1: none
 * given, not written back). */
struct ha_dynsec_ref {
	char *name;
	int32_t priority;
};

struct ha_dynsec_refs {
	size_t n;
	struct ha_dynsec_ref *v;
};

struct ha_dynsec_acl {
	uint8_t type; /* enum ha_dynsec_acl_type */
	char *topic;
	int32_t priority;
	bool allow;
};

struct ha_dynsec_client {
	char *username;
	char *clientid;			  /* NULL: any client id */
	char *textname, *textdescription; /* NULL: none */
	bool disabled;
	struct ha_dynsec_pw pw;
	struct ha_dynsec_refs roles;  /* priority high first, then name */
	struct ha_dynsec_refs groups; /* priority high first, then name */
};

struct ha_dynsec_group {
	char *groupname;
	char *textname, *textdescription;
	struct ha_dynsec_refs roles;   /* priority high first, then name */
	struct ha_dynsec_refs clients; /* by username */
};

struct ha_dynsec_role {
	char *rolename;
	char *textname, *textdescription;
	/* mosquitto 2.1: subscriptions with + or # refused by this role. */
	bool deny_wildcard_subs;
	/* By type, then priority high first, then the order they were added. */
	size_t n_acls;
	struct ha_dynsec_acl *acls;
};

/* Each array sorted by name (bytewise). */
struct ha_dynsec {
	size_t n_clients, n_groups, n_roles;
	struct ha_dynsec_client *clients;
	struct ha_dynsec_group *groups;
	struct ha_dynsec_role *roles;
	bool default_access[HA_DYNSEC_ACCESS_KINDS];
	char *anonymous_group; /* NULL: none */
	/* Changes applied since the file began (the stock 2.1 plugin's
	 * "changeIndex"; getDetails). */
	uint64_t change_index;
	/* Not replicated: the broker the plugin runs in. true (mosquitto
	 * 2.1): its matching rules (ACL topics may use %c and %u, a pattern
	 * never matches across the $ boundary), roles that refuse wildcard
	 * subscriptions, its commands and replies; false: those of 2.0. */
	bool v21;
};

enum ha_dynsec_result_code {
	HA_DYNSEC_OK = 0,
	HA_DYNSEC_REJECTED = 1, /* a valid change that does not apply */
	HA_DYNSEC_MALFORMED = -1,
	HA_DYNSEC_NEWER = -2,
	HA_DYNSEC_ENOMEM = -3,
};

/* ---- the model (model.c) ---- */

struct ha_dynsec *ha_dynsec_new(void);
void ha_dynsec_free(struct ha_dynsec *s);
/* A deep copy; NULL when out of memory. */
struct ha_dynsec *ha_dynsec_clone(const struct ha_dynsec *s);
/* Moves src's contents into dst (freeing dst's) and frees src. */
void ha_dynsec_replace(struct ha_dynsec *dst, struct ha_dynsec *src);
bool ha_dynsec_equal(const struct ha_dynsec *a, const struct ha_dynsec *b);

struct ha_dynsec_client *ha_dynsec_find_client(const struct ha_dynsec *s,
					       const char *username);
struct ha_dynsec_group *ha_dynsec_find_group(const struct ha_dynsec *s,
					     const char *groupname);
struct ha_dynsec_role *ha_dynsec_find_role(const struct ha_dynsec *s,
					   const char *rolename);

/* "publishClientSend", ...; NULL out of range. Lookups ignore case, as the
 * stock plugin's; -1 for an unknown name. */
const char *ha_dynsec_acl_type_name(int type);
int ha_dynsec_acl_type_from_name(const char *name);
const char *ha_dynsec_access_name(int kind);
int ha_dynsec_access_from_name(const char *name);

/* ---- passwords, authentication, ACL checks (auth.c) ---- */

/* A new salt and hash of password, with the salt length and iterations
 * of mosquitto 2.0 or (v21) 2.1. false: OpenSSL failed. */
bool ha_dynsec_pw_set(struct ha_dynsec_pw *pw, const char *password, bool v21);
bool ha_dynsec_pw_matches(const struct ha_dynsec_pw *pw, const char *password);

enum ha_dynsec_auth {
	HA_DYNSEC_AUTH_OK = 0,
	HA_DYNSEC_AUTH_DENIED = 1, /* known user, refused */
	HA_DYNSEC_AUTH_DEFER = 2,  /* not ours to decide (unknown user, no
				      username or password, no password set) */
};
/* clientid may be NULL. */
int ha_dynsec_authenticate(const struct ha_dynsec *s, const char *username,
			   const char *password, const char *clientid);

enum ha_dynsec_acl_result {
	HA_DYNSEC_ACL_ALLOW = 0,
	HA_DYNSEC_ACL_DENY = 1,
	HA_DYNSEC_ACL_DEFER = 2, /* the broker's other checks decide */
};
/* access: enum ha_dynsec_access. username NULL: an anonymous client (the
 * anonymous group's roles apply). topic: a topic name (publish) or a
 * subscription filter (subscribe, unsubscribe). */
int ha_dynsec_acl_check(const struct ha_dynsec *s, int access,
			const char *username, const char *clientid,
			const char *topic);

/* The topic matchers, exposed for the tests. A filter that is not a valid
 * subscription never matches. */
bool ha_dynsec_topic_matches(const char *filter, const char *topic,
			     const char *clientid, const char *username,
			     bool patterns);
bool ha_dynsec_sub_matches(const char *acl, const char *sub,
			   const char *clientid, const char *username,
			   bool patterns);
/* A valid subscription filter (MQTT rules on + and #). */
bool ha_dynsec_filter_valid(const char *filter);

/* ---- the stock JSON file (file.c) ---- */

/* Replaces s's contents with tree's, as the stock plugin loads its file
 * (entries it would skip are skipped). HA_DYNSEC_OK, HA_DYNSEC_MALFORMED
 * (not an object), HA_DYNSEC_ENOMEM; s unchanged on failure. */
int ha_dynsec_load_json(struct ha_dynsec *s, const json_t *tree);
/* NULL when out of memory. */
json_t *ha_dynsec_save_json(const struct ha_dynsec *s);
/* The same through a file; why: one line on failure. */
int ha_dynsec_load_file(struct ha_dynsec *s, const char *path, char *why,
			size_t why_len);
int ha_dynsec_save_file(const struct ha_dynsec *s, const char *path, char *why,
			size_t why_len);

/* ---- commands (commands.c, queries.c) ---- */

struct ha_dynsec_cmd_result {
	json_t *reply;	 /* one element of the reply's "responses" */
	uint8_t *record; /* a change to propose; NULL for none */
	size_t record_len;
};

/* Runs one command object against work. HA_DYNSEC_OK (reply set, record
 * set for a change that has been applied to work) or HA_DYNSEC_ENOMEM
 * (nothing set, work unchanged). */
int ha_dynsec_command(struct ha_dynsec *work, const json_t *cmd,
		      struct ha_dynsec_cmd_result *out);
/* A whole payload {"commands": [...]}: the reply {"responses": [...]} and
 * the records of its changes, in order (records[i], lens[i], n). Against
 * work, as above. NULL reply: out of memory. */
json_t *ha_dynsec_payload(struct ha_dynsec *work, const char *payload,
			  size_t len, uint8_t ***records, size_t **lens,
			  size_t *n);
/* The same, and reply_of[i] (malloc()ed, NULL when none): the index in
 * "responses" of the command whose change records[i] is. */
json_t *ha_dynsec_payload_mapped(struct ha_dynsec *work, const char *payload,
				 size_t len, uint8_t ***records, size_t **lens,
				 size_t **reply_of, size_t *n);
/* Whether no command of payload changes the state (queries, unknown
 * commands, a malformed payload): it can run against the committed data. */
bool ha_dynsec_payload_is_query(const char *payload, size_t len);

/* ---- records and snapshot sections (codec.c, apply.c) ---- */

/* The record type of docs/records.md, and the version written. */
#define HA_DYNSEC_RECORD_TYPE 10
#define HA_DYNSEC_RECORD_VERSION 1
#define HA_DYNSEC_SECTION_VERSION 1

/* A record that replaces the whole state (createCluster's import). */
int ha_dynsec_import_record(const struct ha_dynsec *s, uint8_t **out,
			    size_t *len);

int ha_dynsec_apply(struct ha_dynsec *s, const uint8_t *rec, size_t len,
		    const char **error);
/* Decodes and re-encodes without a state: HA_DYNSEC_OK when rec is a
 * well-formed record (the fuzz target checks the round trip). */
int ha_dynsec_record_check(const uint8_t *rec, size_t len, const char **why,
			   uint8_t **reencoded, size_t *reencoded_len);

/* Whom a change makes the broker disconnect, as the stock plugin does to
 * enforce it at once: computed from the state before the change is
 * applied (ha_dynsec_record_kicks, then ha_dynsec_apply). anonymous: every
 * client without a username; everyone: all clients (an import). */
struct ha_dynsec_kicks {
	bool anonymous, everyone;
	size_t n;
	char **usernames; /* each once */
};
int ha_dynsec_record_kicks(const struct ha_dynsec *before, const uint8_t *rec,
			   size_t len, struct ha_dynsec_kicks *out);
void ha_dynsec_kicks_clear(struct ha_dynsec_kicks *k);
/* Whom data restored from a snapshot treats differently from before (a
 * login, a client id, roles, groups, a role's ACLs, the anonymous group),
 * as if the changes between them had been applied one by one. */
int ha_dynsec_restore_kicks(const struct ha_dynsec *before,
			    const struct ha_dynsec *after,
			    struct ha_dynsec_kicks *out);

int ha_dynsec_section_encode(const struct ha_dynsec *s, uint8_t **out,
			     size_t *len);
int ha_dynsec_section_decode(const uint8_t *buf, size_t len,
			     struct ha_dynsec **out, const char **why);

#endif
