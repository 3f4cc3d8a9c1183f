/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Access control without the broker: the stock file (read as the stock
 * plugin reads it, hashes kept, written back the same; a file made by
 * mosquitto_ctrl logs its user in), authentication, the ACL decisions
 * with their priorities and both brokers' matching rules, and the
 * snapshot section (round trip, canonical form, every truncation).
 */
#include <sys/stat.h>
#include <unistd.h>

#include "tests/plugin/dynsec_test.h"

/* Made by `mosquitto_ctrl dynsec init f.json admin 'pässword 1'`
 * (mosquitto 2.0.11): its key "textName" is read as "textname", as the
 * stock plugin's case-blind lookups do. */
static const char *const ctrl_file =
    "{\"clients\": [{\"username\": \"admin\", \"textName\": \"Dynsec admin "
    "user\", \"password\": "
    "\"rlnpCLIYgL7zO2lfNi3HB+yQx+qo5flzg4QRjfmoABqlbZ/FcQPpkEUUQYySH5pXzh8LN"
    "aF/AnDL9832TnS/2Q==\", \"salt\": \"IZoPBwlSDMyWrEqe\", \"iterations\": "
    "101, \"roles\": [{\"rolename\": \"admin\"}]}],"
    "\"roles\": [{\"rolename\": \"admin\", \"acls\": ["
    "{\"acltype\": \"publishClientSend\", \"topic\": "
    "\"$CONTROL/dynamic-security/#\", \"allow\": true},"
    "{\"acltype\": \"publishClientReceive\", \"topic\": "
    "\"$CONTROL/dynamic-security/#\", \"allow\": true},"
    "{\"acltype\": \"subscribePattern\", \"topic\": "
    "\"$CONTROL/dynamic-security/#\", \"allow\": true},"
    "{\"acltype\": \"publishClientReceive\", \"topic\": \"$SYS/#\", "
    "\"allow\": true},"
    "{\"acltype\": \"subscribePattern\", \"topic\": \"$SYS/#\", \"allow\": "
    "true},"
    "{\"acltype\": \"publishClientReceive\", \"topic\": \"#\", \"allow\": "
    "true},"
    "{\"acltype\": \"subscribePattern\", \"topic\": \"#\", \"allow\": true},"
    "{\"acltype\": \"unsubscribePattern\", \"topic\": \"#\", \"allow\": "
    "true}]}],"
    "\"defaultACLAccess\": {\"publishClientSend\": false, "
    "\"publishClientReceive\": true, \"subscribe\": false, \"unsubscribe\": "
    "true}}";

static void test_ctrl_file_logs_in(void **unused)
{
	(void)unused;
	struct ha_dynsec *s = state_from(ctrl_file);
	assert_int_equal(ha_dynsec_authenticate(s, "admin", "pässword 1", "x"),
			 HA_DYNSEC_AUTH_OK);
	assert_int_equal(ha_dynsec_authenticate(s, "admin", "pässword 2", "x"),
			 HA_DYNSEC_AUTH_DENIED);
	assert_int_equal(ha_dynsec_authenticate(s, "admin", "", "x"),
			 HA_DYNSEC_AUTH_DENIED);
	const struct ha_dynsec_client *c = ha_dynsec_find_client(s, "admin");
	assert_string_equal(c->textname, "Dynsec admin user");
	assert_int_equal(c->pw.iterations, 101);
	assert_int_equal(s->roles[0].n_acls, 8);
	assert_true(s->default_access[HA_DYNSEC_ACCESS_PUB_RECV]);
	assert_false(s->default_access[HA_DYNSEC_ACCESS_PUB_SEND]);
	ha_dynsec_free(s);
}

/* The same through the real tool, with a password of our choosing: the
 * tool must be installed (Debian's mosquitto-clients). */
static void test_mosquitto_ctrl_init(void **unused)
{
	(void)unused;
	char dir[] = "/tmp/dynsec-test-XXXXXX", path[64], cmd[256], why[256];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ds.json", dir);
	snprintf(cmd, sizeof(cmd),
		 "mosquitto_ctrl dynsec init %s boss 'S3cret pass' >/dev/null",
		 path);
	if (system(cmd) != 0)
		fail_msg("mosquitto_ctrl (Debian's mosquitto-clients) is "
			 "needed: `%s` failed",
			 cmd);
	struct ha_dynsec *s = ha_dynsec_new();
	assert_int_equal(ha_dynsec_load_file(s, path, why, sizeof(why)),
			 HA_DYNSEC_OK);
	assert_int_equal(ha_dynsec_authenticate(s, "boss", "S3cret pass", "c"),
			 HA_DYNSEC_AUTH_OK);
	assert_int_equal(ha_dynsec_authenticate(s, "boss", "S3cret", "c"),
			 HA_DYNSEC_AUTH_DENIED);
	/* Saved and read again: the same state, the same hash text. */
	assert_int_equal(ha_dynsec_save_file(s, path, why, sizeof(why)),
			 HA_DYNSEC_OK);
	struct ha_dynsec *again = ha_dynsec_new();
	assert_int_equal(ha_dynsec_load_file(again, path, why, sizeof(why)),
			 HA_DYNSEC_OK);
	assert_true(ha_dynsec_equal(s, again));
	assert_int_equal(
	    ha_dynsec_authenticate(again, "boss", "S3cret pass", "c"),
	    HA_DYNSEC_AUTH_OK);
	ha_dynsec_free(again);
	ha_dynsec_free(s);
	unlink(path);
	rmdir(dir);
	assert_int_equal(
	    ha_dynsec_load_file(s = ha_dynsec_new(), path, why, sizeof(why)),
	    HA_DYNSEC_MALFORMED);
	assert_non_null(strstr(why, path));
	ha_dynsec_free(s);
}

static void test_save_keeps_hashes_and_format(void **unused)
{
	(void)unused;
	struct ha_dynsec *s = state_from(ctrl_file);
	json_t *tree = ha_dynsec_save_json(s);
	assert_non_null(tree);
	json_t *c = json_array_get(json_object_get(tree, "clients"), 0);
	assert_string_equal(json_string_value(json_object_get(c, "password")),
			    "rlnpCLIYgL7zO2lfNi3HB+yQx+qo5flzg4QRjfmoABqlbZ/"
			    "FcQPpkEUUQYySH5pXzh8LNaF/AnDL9832TnS/2Q==");
	assert_string_equal(json_string_value(json_object_get(c, "salt")),
			    "IZoPBwlSDMyWrEqe");
	assert_int_equal(json_integer_value(json_object_get(c, "iterations")),
			 101);
	/* Written as the stock plugin writes it: "textname", groups and
	 * roles arrays, ACL priorities written out. */
	assert_string_equal(json_string_value(json_object_get(c, "textname")),
			    "Dynsec admin user");
	assert_true(json_is_array(json_object_get(tree, "groups")));
	json_t *acl = json_array_get(
	    json_object_get(json_array_get(json_object_get(tree, "roles"), 0),
			    "acls"),
	    0);
	assert_int_equal(json_integer_value(json_object_get(acl, "priority")),
			 0);
	struct ha_dynsec *again = ha_dynsec_new();
	assert_int_equal(ha_dynsec_load_json(again, tree), HA_DYNSEC_OK);
	assert_true(ha_dynsec_equal(s, again));
	json_decref(tree);
	ha_dynsec_free(again);
	ha_dynsec_free(s);
}

/* What the stock plugin skips is skipped: a client whose salt does not
 * decode, one without a name, a repeated name, a role that does not
 * exist in a list, a repeated ACL topic, a group's unknown client, an
 * anonymous group that does not exist. */
static void test_load_skips_like_stock(void **unused)
{
	(void)unused;
	struct ha_dynsec *s = state_from(
	    "{\"roles\": [{\"rolename\": \"r\", \"acls\": ["
	    "{\"acltype\": \"SUBSCRIBEPATTERN\", \"topic\": \"a/#\", "
	    "\"priority\": 1, \"allow\": true},"
	    "{\"acltype\": \"subscribePattern\", \"topic\": \"a/#\", "
	    "\"priority\": 9},"
	    "{\"acltype\": \"nonsense\", \"topic\": \"x\"},"
	    "{\"acltype\": \"publishClientSend\"}]}, {\"rolename\": \"r\"}],"
	    "\"clients\": [{\"username\": \"bad\", \"salt\": \"!!\", "
	    "\"password\": \"AAAA\", \"iterations\": 5},"
	    "{\"password\": \"x\"},"
	    "{\"username\": \"u\", \"disabled\": true, \"roles\": ["
	    "{\"rolename\": \"r\", \"priority\": 3}, {\"rolename\": \"zz\"}]},"
	    "{\"username\": \"u\", \"textname\": \"second\"}],"
	    "\"groups\": [{\"groupname\": \"g\", \"clients\": ["
	    "{\"username\": \"u\", \"priority\": 2}, {\"username\": "
	    "\"nobody\"}]}],"
	    "\"anonymousGroup\": \"missing\"}");
	assert_int_equal(s->n_roles, 1);
	assert_int_equal(s->roles[0].n_acls, 1);
	assert_int_equal(s->roles[0].acls[0].priority, 1);
	assert_int_equal(s->n_clients, 1);
	const struct ha_dynsec_client *u = ha_dynsec_find_client(s, "u");
	assert_true(u->disabled);
	assert_null(u->textname);
	assert_false(u->pw.valid);
	assert_int_equal(u->roles.n, 1);
	assert_int_equal(u->roles.v[0].priority, 3);
	assert_int_equal(u->groups.n, 1);
	assert_int_equal(u->groups.v[0].priority, 2);
	assert_int_equal(s->groups[0].clients.n, 1);
	assert_null(s->anonymous_group);
	/* No defaultACLAccess: everything falls to the broker. */
	for (int k = 0; k < HA_DYNSEC_ACCESS_KINDS; k++)
		assert_false(s->default_access[k]);
	json_t *not_object = json_array();
	assert_int_equal(ha_dynsec_load_json(s, not_object),
			 HA_DYNSEC_MALFORMED);
	assert_int_equal(s->n_clients, 1); /* unchanged */
	json_decref(not_object);
	ha_dynsec_free(s);
}

static const char *const people =
    "{\"defaultACLAccess\": {\"publishClientSend\": false, "
    "\"publishClientReceive\": true, \"subscribe\": false, \"unsubscribe\": "
    "true},"
    "\"roles\": ["
    "{\"rolename\": \"deny-secret\", \"acls\": ["
    "{\"acltype\": \"publishClientSend\", \"topic\": \"secret/#\", "
    "\"allow\": false},"
    "{\"acltype\": \"subscribePattern\", \"topic\": \"secret/#\", "
    "\"allow\": false}]},"
    "{\"rolename\": \"writer\", \"acls\": ["
    "{\"acltype\": \"publishClientSend\", \"topic\": \"#\", \"priority\": "
    "1, \"allow\": true},"
    "{\"acltype\": \"publishClientSend\", \"topic\": \"ro/#\", "
    "\"priority\": 5, \"allow\": false},"
    "{\"acltype\": \"subscribeLiteral\", \"topic\": \"lit/+\", \"allow\": "
    "true},"
    "{\"acltype\": \"subscribePattern\", \"topic\": \"#\", \"allow\": true},"
    "{\"acltype\": \"unsubscribePattern\", \"topic\": \"keep/#\", "
    "\"allow\": false},"
    "{\"acltype\": \"publishClientReceive\", \"topic\": \"hidden/#\", "
    "\"allow\": false}]},"
    "{\"rolename\": \"own\", \"acls\": ["
    "{\"acltype\": \"publishClientSend\", \"topic\": \"users/%u/#\", "
    "\"allow\": true},"
    "{\"acltype\": \"subscribePattern\", \"topic\": \"dev/%c/+\", "
    "\"allow\": true}]},"
    "{\"rolename\": \"anon\", \"acls\": ["
    "{\"acltype\": \"publishClientSend\", \"topic\": \"public/#\", "
    "\"allow\": true}]}],"
    "\"clients\": ["
    "{\"username\": \"alice\", \"roles\": [{\"rolename\": \"writer\", "
    "\"priority\": 1}]},"
    "{\"username\": \"bob\", \"roles\": [{\"rolename\": \"writer\"}]},"
    "{\"username\": \"carol\", \"roles\": [{\"rolename\": \"own\"}]}],"
    "\"groups\": ["
    "{\"groupname\": \"a-low\", \"roles\": [{\"rolename\": \"writer\"}], "
    "\"clients\": [{\"username\": \"bob\", \"priority\": 1}]},"
    "{\"groupname\": \"b-high\", \"roles\": [{\"rolename\": "
    "\"deny-secret\"}], \"clients\": [{\"username\": \"alice\"}, "
    "{\"username\": \"bob\", \"priority\": 7}]},"
    "{\"groupname\": \"anonymous\", \"roles\": [{\"rolename\": "
    "\"anon\"}]}],"
    "\"anonymousGroup\": \"anonymous\"}";

#define ALLOW HA_DYNSEC_ACL_ALLOW
#define DENY HA_DYNSEC_ACL_DENY
#define DEFER HA_DYNSEC_ACL_DEFER
#define SEND HA_DYNSEC_ACCESS_PUB_SEND
#define RECV HA_DYNSEC_ACCESS_PUB_RECV
#define SUB HA_DYNSEC_ACCESS_SUBSCRIBE
#define UNSUB HA_DYNSEC_ACCESS_UNSUBSCRIBE

static void test_acl_priorities(void **unused)
{
	(void)unused;
	struct ha_dynsec *s = state_from(people);
	static const struct {
		int access;
		const char *user, *topic;
		int want;
	} cases[] = {
	    /* ACLs of a role: priority high first ("ro/#" 5 before "#" 1). */
	    {SEND, "alice", "ro/x", DENY},
	    {SEND, "alice", "rw/x", ALLOW},
	    /* The client's own roles come before its groups' ... */
	    {SEND, "alice", "secret/x", ALLOW},
	    /* ... and without one, the groups by priority: b-high (7,
	     * deny-secret) before a-low (1, writer). */
	    {SEND, "bob", "secret/x", ALLOW}, /* bob's own writer role */
	    {SUB, "bob", "secret/x", ALLOW},
	    /* A literal subscription matches the filter exactly. */
	    {SUB, "alice", "lit/+", ALLOW},
	    {UNSUB, "alice", "keep/a", DENY},
	    /* Nothing matches: the default access, never for $CONTROL. */
	    {UNSUB, "alice", "other", ALLOW},
	    {RECV, "alice", "hidden/x", DENY},
	    {RECV, "alice", "news", ALLOW},
	    {RECV, "alice", "$CONTROL/dynamic-security/v1", DEFER},
	    {SEND, "carol", "other", DEFER},
	    /* Unknown users are the broker's to decide. */
	    {SEND, "nobody", "public/x", DEFER},
	    {RECV, "nobody", "news", DEFER},
	    /* Anonymous clients get the anonymous group's roles. */
	    {SEND, NULL, "public/x", ALLOW},
	    {SEND, NULL, "private", DEFER},
	    {RECV, NULL, "private", ALLOW},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = ha_dynsec_acl_check(s, cases[i].access, cases[i].user,
					      "cid", cases[i].topic);
		if (got != cases[i].want)
			fail_msg("case %zu (%s on %s): %d, expected %d", i,
				 cases[i].user ? cases[i].user : "anonymous",
				 cases[i].topic, got, cases[i].want);
	}
	/* bob without his own role: the groups decide, b-high first. */
	struct ha_dynsec_client *bob = ha_dynsec_find_client(s, "bob");
	struct ha_dynsec_refs saved = bob->roles;
	bob->roles = (struct ha_dynsec_refs){0};
	assert_int_equal(ha_dynsec_acl_check(s, SEND, "bob", "c", "secret/x"),
			 DENY);
	assert_int_equal(ha_dynsec_acl_check(s, SEND, "bob", "c", "rw"), ALLOW);
	bob->roles = saved;
	assert_int_equal(ha_dynsec_acl_check(s, 9, "bob", "c", "rw"), DEFER);
	ha_dynsec_free(s);
}

static void test_acl_patterns(void **unused)
{
	(void)unused;
	struct ha_dynsec *s = state_from(people);
	/* mosquitto 2.0: %u and %c are literal text. */
	s->v21 = false;
	assert_int_equal(
	    ha_dynsec_acl_check(s, SEND, "carol", "c1", "users/carol/x"),
	    DEFER);
	assert_int_equal(
	    ha_dynsec_acl_check(s, SEND, "carol", "c1", "users/%u/x"), ALLOW);
	/* mosquitto 2.1: they stand for the user and the client id. */
	s->v21 = true;
	assert_int_equal(
	    ha_dynsec_acl_check(s, SEND, "carol", "c1", "users/carol/x"),
	    ALLOW);
	assert_int_equal(
	    ha_dynsec_acl_check(s, SEND, "carol", "c1", "users/carol"), ALLOW);
	assert_int_equal(
	    ha_dynsec_acl_check(s, SEND, "carol", "c1", "users/dave/x"), DEFER);
	assert_int_equal(
	    ha_dynsec_acl_check(s, SUB, "carol", "c1", "dev/c1/temp"), ALLOW);
	assert_int_equal(ha_dynsec_acl_check(s, SUB, "carol", "c1", "dev/c1/+"),
			 ALLOW);
	assert_int_equal(ha_dynsec_acl_check(s, SUB, "carol", "c1", "dev/c1/#"),
			 DEFER);
	assert_int_equal(
	    ha_dynsec_acl_check(s, SUB, "carol", "c2", "dev/c1/temp"), DEFER);
	ha_dynsec_free(s);
}

static void test_topic_matching(void **unused)
{
	(void)unused;
	static const struct {
		const char *filter, *topic;
		bool want;
	} cases[] = {
	    {"#", "a/b", true},		{"#", "$SYS/x", false},
	    {"$SYS/#", "$SYS/x", true}, {"+/#", "$x/y", false},
	    {"a/#", "a", true},		{"a/+", "a/b", true},
	    {"a/+", "a/b/c", false},	{"a/+", "a/", true},
	    {"+", "a/b", false},	{"a/b", "a/b", true},
	    {"a/b", "a/c", false},	{"a/#/b", "a/x/b", false},
	    {"a+", "a+", false},	{"a/b", "a/#", false},
	    {"", "a", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (ha_dynsec_topic_matches(cases[i].filter, cases[i].topic,
					    NULL, NULL, false) != cases[i].want)
			fail_msg("topic case %zu: %s against %s", i,
				 cases[i].filter, cases[i].topic);
	assert_true(
	    ha_dynsec_topic_matches("x/%c/%u", "x/c/u", "c", "u", true));
	assert_false(ha_dynsec_topic_matches("x/%c", "x/c", NULL, "u", true));
	assert_false(ha_dynsec_topic_matches("x/%c", "x/", "", "u", true));
	assert_false(
	    ha_dynsec_topic_matches("x/%c", "x/a/b", "a/b", "u", true));
	assert_false(ha_dynsec_topic_matches("x%c", "xc", "c", "u", true));
}

/* The stock 2.0 tests of its subscription check, and the 2.1 rule. */
static void test_subscription_matching(void **unused)
{
	(void)unused;
	static const struct {
		const char *acl, *sub;
		bool want20, want21;
	} cases[] = {
	    {"foo/+/bar", "foo/#", false, false},
	    {"foo/+/ba℞/#", "foo/baz/ba℞", true, true},
	    {"foo/+/ba℞/#", "foo/baz/ba℞/+", true, true},
	    {"foo/+/ba℞/#", "foo/baz/ba℞/#", true, true},
	    {"foo/+/ba℞/#", "foo/baz/+/#", false, false},
	    {"/+//#", "/foo///#", true, true},
	    {"#", "#", true, true},
	    {"#", "+", true, true},
	    {"/#", "+", false, false},
	    {"/#", "/+", true, true},
	    {"/+", "#", false, false},
	    {"/+", "+", false, false},
	    {"+/+", "topic/topic", true, true},
	    {"+/+", "topic/topic/", false, false},
	    {"+", "#", false, false},
	    {"+", "+", true, true},
	    {"a/b/c/d/e", "a/b/c/d/e", true, true},
	    {"a/b/ /d/e", "a/b/c/d/e", false, false},
	    /* Where the two differ: $ topics, and "+" against "#". */
	    {"#", "$SYS/#", true, false},
	    {"+/#", "#", true, false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (ha_dynsec_sub_matches(cases[i].acl, cases[i].sub, NULL,
					  NULL, false) != cases[i].want20)
			fail_msg("2.0 case %zu: %s against %s", i, cases[i].acl,
				 cases[i].sub);
		if (ha_dynsec_sub_matches(cases[i].acl, cases[i].sub, NULL,
					  NULL, true) != cases[i].want21)
			fail_msg("2.1 case %zu: %s against %s", i, cases[i].acl,
				 cases[i].sub);
	}
	assert_true(ha_dynsec_sub_matches("u/%u/#", "u/me/x", "c", "me", true));
	assert_false(ha_dynsec_sub_matches("u/%u/#", "u/me/x", "c", "+", true));
	assert_false(ha_dynsec_sub_matches("u/%u", "u/+", "c", "me", true));
	assert_false(ha_dynsec_sub_matches("a/#", "a/+b", NULL, NULL, true));
}

static void test_authentication(void **unused)
{
	(void)unused;
	struct ha_dynsec *s = state_from(
	    "{\"clients\": [{\"username\": \"nopw\"}, {\"username\": "
	    "\"pinned\","
	    " \"clientid\": \"dev-1\"}, {\"username\": \"off\", \"disabled\": "
	    "true}]}");
	assert_true(ha_dynsec_pw_set(&ha_dynsec_find_client(s, "pinned")->pw,
				     "pw", false));
	assert_true(ha_dynsec_pw_set(&ha_dynsec_find_client(s, "off")->pw, "pw",
				     false));
	assert_int_equal(ha_dynsec_authenticate(s, "pinned", "pw", "dev-1"),
			 HA_DYNSEC_AUTH_OK);
	assert_int_equal(ha_dynsec_authenticate(s, "pinned", "pw", "dev-2"),
			 HA_DYNSEC_AUTH_DENIED);
	assert_int_equal(ha_dynsec_authenticate(s, "pinned", "pw", NULL),
			 HA_DYNSEC_AUTH_DENIED);
	assert_int_equal(ha_dynsec_authenticate(s, "off", "pw", "x"),
			 HA_DYNSEC_AUTH_DENIED);
	assert_int_equal(ha_dynsec_authenticate(s, "nopw", "pw", "x"),
			 HA_DYNSEC_AUTH_DEFER);
	assert_int_equal(ha_dynsec_authenticate(s, "who", "pw", "x"),
			 HA_DYNSEC_AUTH_DEFER);
	assert_int_equal(ha_dynsec_authenticate(s, NULL, "pw", "x"),
			 HA_DYNSEC_AUTH_DEFER);
	assert_int_equal(ha_dynsec_authenticate(s, "pinned", NULL, "dev-1"),
			 HA_DYNSEC_AUTH_DEFER);
	/* A new password gets a new salt each time. */
	struct ha_dynsec_pw a, b;
	assert_true(ha_dynsec_pw_set(&a, "same", false));
	assert_true(ha_dynsec_pw_set(&b, "same", false));
	assert_memory_not_equal(a.salt, b.salt, sizeof(a.salt));
	assert_true(ha_dynsec_pw_matches(&b, "same"));
	ha_dynsec_free(s);
}

/* The section: a state restores equal and encodes to the same bytes; a
 * copy is independent; every truncation and a newer version refused. */
static void test_section_round_trip(void **unused)
{
	(void)unused;
	struct ha_dynsec *s = state_from(people);
	assert_true(ha_dynsec_pw_set(&ha_dynsec_find_client(s, "bob")->pw, "pw",
				     false));
	struct section sec = section_of(s);
	struct ha_dynsec *back = NULL;
	const char *why = NULL;
	assert_int_equal(
	    ha_dynsec_section_decode(sec.buf, sec.len, &back, &why),
	    HA_DYNSEC_OK);
	assert_section(back, sec);
	assert_int_equal(ha_dynsec_authenticate(back, "bob", "pw", "c"),
			 HA_DYNSEC_AUTH_OK);
	assert_string_equal(back->anonymous_group, "anonymous");
	ha_dynsec_free(back);
	for (size_t n = 0; n < sec.len; n++) {
		back = NULL;
		assert_int_equal(
		    ha_dynsec_section_decode(sec.buf, n, &back, &why),
		    HA_DYNSEC_MALFORMED);
		assert_null(back);
		assert_non_null(why);
	}
	sec.buf[0] = 2;
	assert_int_equal(
	    ha_dynsec_section_decode(sec.buf, sec.len, &back, &why),
	    HA_DYNSEC_NEWER);
	free(sec.buf);
	struct ha_dynsec *copy = ha_dynsec_clone(s);
	assert_true(ha_dynsec_equal(s, copy));
	copy->default_access[0] = !copy->default_access[0];
	assert_false(ha_dynsec_equal(s, copy));
	ha_dynsec_free(copy);
	ha_dynsec_free(s);
}

/* Hand-made sections that are not canonical or refer to what is not
 * there: each refused with its reason. */
static void test_section_refusals(void **unused)
{
	(void)unused;
	static const struct {
		const char *why;
		size_t len;
		uint8_t bytes[40];
	} cases[] = {
	    {"section version 0",
	     14,
	     {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
	    {"unknown default access bits",
	     15,
	     {1, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
	    {"the anonymous group does not exist",
	     18,
	     {1, 0, 1, 1, 0, 'g', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
	    {"roles out of order", 29, {1, 0, 0, 2, 0, 0, 0, 1,	  0, 'b',
					0, 0, 0, 0, 0, 1, 0, 'a', 0, 0,
					0, 0, 0, 0, 0, 0, 0, 0,	  0}},
	    {"a client names a role that does not exist",
	     29,
	     {1, 0, 0, 0, 0, 0, 0,   1,	   0,	 0,    0,    1, 0, 'u', 0,
	      1, 0, 0, 0, 1, 0, 'r', 0xff, 0xff, 0xff, 0xff, 0, 0, 0}},
	    {"bytes after the end of the section",
	     24,
	     {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
	    {"a count larger than the data",
	     15,
	     {1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0}},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ha_dynsec *s = NULL;
		const char *why = NULL;
		int rv = ha_dynsec_section_decode(cases[i].bytes, cases[i].len,
						  &s, &why);
		if (rv != HA_DYNSEC_MALFORMED || why == NULL ||
		    strcmp(why, cases[i].why) != 0)
			fail_msg("case %zu: %d (%s), expected \"%s\"", i, rv,
				 why ? why : "no reason", cases[i].why);
		assert_null(s);
	}
	/* The empty state, for the record: 23 bytes (version, access, no
	 * anonymous group, three empty lists, change index 0). */
	struct ha_dynsec *empty = ha_dynsec_new();
	struct section sec = section_of(empty);
	static const uint8_t want[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
				       0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	assert_int_equal(sec.len, sizeof(want));
	assert_memory_equal(sec.buf, want, sizeof(want));
	free(sec.buf);
	ha_dynsec_free(empty);
}

static void test_import_record(void **unused)
{
	(void)unused;
	struct ha_dynsec *src = state_from(people), *dst = ha_dynsec_new();
	uint8_t *rec;
	size_t len;
	const char *why = NULL;
	assert_int_equal(ha_dynsec_import_record(src, &rec, &len),
			 HA_DYNSEC_OK);
	assert_int_equal(rec[0], 10);
	assert_int_equal(rec[1], 1);
	assert_int_equal(ha_dynsec_apply(dst, rec, len, &why), HA_DYNSEC_OK);
	assert_true(ha_dynsec_equal(src, dst));
	uint8_t *again;
	size_t again_len;
	assert_int_equal(
	    ha_dynsec_record_check(rec, len, &why, &again, &again_len),
	    HA_DYNSEC_OK);
	assert_int_equal(again_len, len);
	assert_memory_equal(again, rec, len);
	free(again);
	/* Every truncation is refused and changes nothing. */
	struct section before = section_of(dst);
	for (size_t n = 0; n < len; n++)
		assert_int_equal(ha_dynsec_apply(dst, rec, n, &why),
				 HA_DYNSEC_MALFORMED);
	assert_section(dst, before);
	free(before.buf);
	/* A newer version, an unknown change: from a newer mosquitto_ha. */
	rec[1] = 2;
	assert_int_equal(ha_dynsec_apply(dst, rec, len, &why), HA_DYNSEC_NEWER);
	rec[1] = 1;
	rec[2] = 200;
	assert_int_equal(ha_dynsec_apply(dst, rec, len, &why), HA_DYNSEC_NEWER);
	rec[2] = 24;
	rec[0] = 3;
	assert_int_equal(ha_dynsec_apply(dst, rec, len, &why),
			 HA_DYNSEC_MALFORMED);
	free(rec);
	ha_dynsec_free(src);
	ha_dynsec_free(dst);
}

/* mosquitto 2.1's additions: a role that refuses wildcard subscriptions,
 * the "encoded_password" form, the change index. */
static void test_mosquitto21_file(void **unused)
{
	(void)unused;
	struct ha_dynsec *s = state_from21(
	    "{\"changeIndex\": 41, \"roles\": [{\"rolename\": \"r\", "
	    "\"allowwildcardsubs\": false, \"acls\": [{\"acltype\": "
	    "\"subscribePattern\", \"topic\": \"#\", \"allow\": true}]}],"
	    "\"clients\": [{\"username\": \"u\", \"roles\": [{\"rolename\": "
	    "\"r\"}], \"encoded_password\": "
	    "\"$7$101$IZoPBwlSDMyWrEqe$rlnpCLIYgL7zO2lfNi3HB+yQx+"
	    "qo5flzg4QRjfmoAB"
	    "qlbZ/FcQPpkEUUQYySH5pXzh8LNaF/AnDL9832TnS/2Q==\"},"
	    "{\"username\": \"argon\", \"encoded_password\": "
	    "\"$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA\"}]}");
	assert_int_equal(s->change_index, 41);
	assert_int_equal(ha_dynsec_authenticate(s, "u", "pässword 1", "c"),
			 HA_DYNSEC_AUTH_OK);
	/* A scheme this code does not compute: no password, the broker
	 * decides. */
	assert_int_equal(ha_dynsec_authenticate(s, "argon", "x", "c"),
			 HA_DYNSEC_AUTH_DEFER);
	assert_true(s->roles[0].deny_wildcard_subs);
	s->v21 = true;
	assert_int_equal(ha_dynsec_acl_check(s, SUB, "u", "c", "a/b"), ALLOW);
	assert_int_equal(ha_dynsec_acl_check(s, SUB, "u", "c", "a/+"), DENY);
	assert_int_equal(ha_dynsec_acl_check(s, SUB, "u", "c", "#"), DENY);
	/* mosquitto 2.0 knows no such refusal. */
	s->v21 = false;
	assert_int_equal(ha_dynsec_acl_check(s, SUB, "u", "c", "a/+"), ALLOW);
	s->v21 = true;
	json_t *tree = ha_dynsec_save_json(s);
	assert_int_equal(
	    json_integer_value(json_object_get(tree, "changeIndex")), 41);
	json_t *role = json_array_get(json_object_get(tree, "roles"), 0);
	assert_true(json_is_false(json_object_get(role, "allowwildcardsubs")));
	struct ha_dynsec *again = ha_dynsec_new();
	again->v21 = true;
	assert_int_equal(ha_dynsec_load_json(again, tree), HA_DYNSEC_OK);
	assert_true(ha_dynsec_equal(s, again));
	json_decref(tree);
	/* A password set with 2.1's parameters (a 64-byte salt, 1000
	 * iterations), written as 2.1 writes it, read back. */
	struct ha_dynsec_client *u = ha_dynsec_find_client(s, "u");
	assert_true(ha_dynsec_pw_set(&u->pw, "new one", true));
	assert_int_equal(u->pw.salt_len, 64);
	assert_int_equal(u->pw.iterations, 1000);
	tree = ha_dynsec_save_json(s);
	json_t *c = json_array_get(json_object_get(tree, "clients"), 1);
	assert_string_equal(json_string_value(json_object_get(c, "username")),
			    "u");
	assert_true(
	    strncmp(json_string_value(json_object_get(c, "encoded_password")),
		    "$7$1000$", 8) == 0);
	assert_null(json_object_get(c, "salt"));
	ha_dynsec_free(again);
	again = ha_dynsec_new();
	again->v21 = true;
	assert_int_equal(ha_dynsec_load_json(again, tree), HA_DYNSEC_OK);
	assert_int_equal(ha_dynsec_authenticate(again, "u", "new one", "c"),
			 HA_DYNSEC_AUTH_OK);
	json_decref(tree);
	/* With 2.0 the change index is neither read nor written. */
	ha_dynsec_free(again);
	again = state_from("{\"changeIndex\": 41}");
	assert_int_equal(again->change_index, 0);
	again->change_index = 5;
	tree = ha_dynsec_save_json(again);
	assert_null(json_object_get(tree, "changeIndex"));
	json_decref(tree);
	ha_dynsec_free(again);
	ha_dynsec_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ctrl_file_logs_in),
	    cmocka_unit_test(test_mosquitto_ctrl_init),
	    cmocka_unit_test(test_save_keeps_hashes_and_format),
	    cmocka_unit_test(test_load_skips_like_stock),
	    cmocka_unit_test(test_acl_priorities),
	    cmocka_unit_test(test_acl_patterns),
	    cmocka_unit_test(test_topic_matching),
	    cmocka_unit_test(test_subscription_matching),
	    cmocka_unit_test(test_authentication),
	    cmocka_unit_test(test_section_round_trip),
	    cmocka_unit_test(test_section_refusals),
	    cmocka_unit_test(test_import_record),
	    cmocka_unit_test(test_mosquitto21_file),
	};
	return cmocka_run_group_tests_name("dynsec model", tests, NULL, NULL);
}
