/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * The $CONTROL/dynamic-security/v1 commands without the broker: every
 * command's success and its error sentences, in the stock plugin's order;
 * a rejected command changes nothing and writes no record; each change's
 * record, applied to a follower that started equal, leaves it equal to the
 * leader; only password hashes reach a record; a stale change is refused
 * alike everywhere; the payload envelope and the query shapes.
 */
#include "tests/plugin/dynsec_steps.h"
#include "tests/plugin/dynsec_test.h"

/* Every step on a leader, and each change's record on a follower. */
static void test_every_command(void **unused)
{
	(void)unused;
	struct ha_dynsec *leader = ha_dynsec_new(), *follower = ha_dynsec_new();
	size_t changes = 0;
	for (size_t i = 0; i < DYNSEC_STEPS; i++) {
		const struct step *st = &dynsec_steps[i];
		struct section before = section_of(leader);
		uint8_t *rec = NULL;
		size_t len = 0;
		json_t *r = run(leader, st->cmd, &rec, &len);
		const char *err = reply_error(r);
		if ((err == NULL) != (st->error == NULL) ||
		    (err != NULL && strcmp(err, st->error) != 0))
			fail_msg("step %zu %s: error \"%s\", expected \"%s\"",
				 i, st->cmd, err ? err : "none",
				 st->error ? st->error : "none");
		if (st->change != (rec != NULL))
			fail_msg("step %zu %s: %s record", i, st->cmd,
				 rec ? "an unexpected" : "no");
		if (st->error != NULL || !st->change)
			assert_section(leader, before);
		if (st->error == NULL && !st->change)
			assert_non_null(json_object_get(r, "data"));
		free(before.buf);
		if (rec != NULL) {
			const char *why = NULL;
			assert_int_equal(
			    ha_dynsec_apply(follower, rec, len, &why),
			    HA_DYNSEC_OK);
			assert_true(ha_dynsec_equal(leader, follower));
			uint8_t *again;
			size_t again_len;
			assert_int_equal(ha_dynsec_record_check(rec, len, &why,
								&again,
								&again_len),
					 HA_DYNSEC_OK);
			assert_int_equal(again_len, len);
			assert_memory_equal(again, rec, len);
			free(again);
			changes++;
		}
		free(rec);
		json_decref(r);
	}
	assert_int_equal(changes, 27); /* every OK_CHANGE step */
	/* What is left: u in anon (the anonymous group), r2, the defaults. */
	assert_int_equal(leader->n_clients, 1);
	assert_int_equal(leader->n_roles, 1);
	assert_string_equal(leader->anonymous_group, "anon");
	assert_int_equal(leader->clients[0].groups.n, 1);
	assert_true(leader->default_access[HA_DYNSEC_ACCESS_PUB_SEND]);
	assert_true(leader->default_access[HA_DYNSEC_ACCESS_SUBSCRIBE]);
	assert_false(leader->default_access[HA_DYNSEC_ACCESS_PUB_RECV]);
	assert_int_equal(
	    ha_dynsec_authenticate(follower, "u", "second pw", "dev"),
	    HA_DYNSEC_AUTH_OK);
	ha_dynsec_free(leader);
	ha_dynsec_free(follower);
}

static bool contains(const uint8_t *buf, size_t len, const char *s)
{
	return memmem(buf, len, s, strlen(s)) != NULL;
}

/* Only the hash and salt reach the log: the password itself never. */
static void test_records_carry_no_password(void **unused)
{
	(void)unused;
	struct ha_dynsec *s = ha_dynsec_new();
	uint8_t *rec;
	size_t len;
	const char *cmds[] = {
	    "{\"command\": \"createClient\", \"username\": \"u\", "
	    "\"password\": \"correct horse\"}",
	    "{\"command\": \"setClientPassword\", \"username\": \"u\", "
	    "\"password\": \"correct horse\"}",
	    "{\"command\": \"modifyClient\", \"username\": \"u\", "
	    "\"password\": \"correct horse\"}",
	};
	for (size_t i = 0; i < 3; i++) {
		json_t *r = run(s, cmds[i], &rec, &len);
		assert_null(reply_error(r));
		assert_non_null(rec);
		assert_false(contains(rec, len, "correct horse"));
		const struct ha_dynsec_client *c =
		    ha_dynsec_find_client(s, "u");
		assert_true(contains(rec, len, (const char *)c->pw.hash) ||
			    memmem(rec, len, c->pw.hash, sizeof(c->pw.hash)));
		free(rec);
		json_decref(r);
	}
	assert_int_equal(ha_dynsec_authenticate(s, "u", "correct horse", "c"),
			 HA_DYNSEC_AUTH_OK);
	ha_dynsec_free(s);
}

/* Two changes validated against the same state, the second committed
 * after the first made it invalid: refused on apply with the stock
 * sentence, nothing changed. */
static void test_stale_change_refused(void **unused)
{
	(void)unused;
	struct ha_dynsec *a = ha_dynsec_new(), *b = ha_dynsec_new();
	uint8_t *ra, *rb;
	size_t la, lb;
	const char *why = NULL;
	json_t *r1 = run(a,
			 "{\"command\": \"createClient\", \"username\": "
			 "\"x\", \"password\": \"one\"}",
			 &ra, &la);
	json_t *r2 = run(b,
			 "{\"command\": \"createClient\", \"username\": "
			 "\"x\", \"password\": \"two\"}",
			 &rb, &lb);
	struct ha_dynsec *node = ha_dynsec_new();
	assert_int_equal(ha_dynsec_apply(node, ra, la, &why), HA_DYNSEC_OK);
	struct section before = section_of(node);
	assert_int_equal(ha_dynsec_apply(node, rb, lb, &why),
			 HA_DYNSEC_REJECTED);
	assert_string_equal(why, "Client already exists");
	assert_section(node, before);
	assert_int_equal(ha_dynsec_authenticate(node, "x", "one", "c"),
			 HA_DYNSEC_AUTH_OK);
	free(before.buf);
	free(ra);
	free(rb);
	json_decref(r1);
	json_decref(r2);
	ha_dynsec_free(a);
	ha_dynsec_free(b);
	ha_dynsec_free(node);
}

/* A payload: replies in order with their correlation data, changes in
 * order, a later command sees an earlier one; the envelope errors. */
static void test_payload(void **unused)
{
	(void)unused;
	struct ha_dynsec *s = ha_dynsec_new();
	uint8_t **recs;
	size_t *lens, n;
	const char *p =
	    "{\"commands\": [{\"command\": \"createRole\", \"rolename\": \"r\","
	    " \"correlationData\": \"c1\"}, {\"command\": \"createClient\", "
	    "\"username\": \"u\", \"roles\": [{\"rolename\": \"r\"}]}, "
	    "{\"command\": \"getClient\", \"username\": \"u\"}, "
	    "{\"command\": \"listClients\", \"correlationData\": {}}, "
	    "{\"command\": \"deleteRole\", \"rolename\": \"r\"}]}";
	json_t *top = ha_dynsec_payload(s, p, strlen(p), &recs, &lens, &n);
	assert_non_null(top);
	json_t *resp = json_object_get(top, "responses");
	assert_int_equal(json_array_size(resp), 4); /* stops at bad data */
	assert_string_equal(json_string_value(json_object_get(
				json_array_get(resp, 0), "correlationData")),
			    "c1");
	json_t *client = json_object_get(
	    json_object_get(json_array_get(resp, 2), "data"), "client");
	assert_string_equal(
	    json_string_value(json_object_get(
		json_array_get(json_object_get(client, "roles"), 0),
		"rolename")),
	    "r");
	assert_int_equal(n, 2);
	struct ha_dynsec *f = ha_dynsec_new();
	const char *why;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(ha_dynsec_apply(f, recs[i], lens[i], &why),
				 HA_DYNSEC_OK);
		free(recs[i]);
	}
	assert_true(ha_dynsec_equal(s, f));
	free(recs);
	free(lens);
	json_decref(top);
	static const struct {
		const char *payload, *error;
	} bad[] = {
	    {"{not json", "Payload not valid JSON"},
	    {"{\"commands\": 1}", "Invalid/missing commands"},
	};
	for (size_t i = 0; i < 2; i++) {
		top =
		    ha_dynsec_payload(s, bad[i].payload, strlen(bad[i].payload),
				      &recs, &lens, &n);
		json_t *one =
		    json_array_get(json_object_get(top, "responses"), 0);
		assert_string_equal(
		    json_string_value(json_object_get(one, "command")),
		    "Unknown command");
		assert_string_equal(reply_error(one), bad[i].error);
		assert_int_equal(n, 0);
		json_decref(top);
	}
	ha_dynsec_free(f);
	ha_dynsec_free(s);
}

/* The records of a payload and the responses they belong to; which
 * payloads change nothing; exportConfig gives the file format back. */
static void test_payload_mapped_and_queries(void **unused)
{
	(void)unused;
	struct ha_dynsec *s = ha_dynsec_new();
	uint8_t **recs;
	size_t *lens, *reply_of, n;
	const char *p = "{\"commands\": [{\"command\": \"listClients\"}, "
			"{\"command\": \"createRole\", \"rolename\": \"r\"}, "
			"{\"command\": \"createRole\", \"rolename\": \"r\"}, "
			"{\"command\": \"getRole\", \"rolename\": \"r\"}, "
			"{\"command\": \"createClient\", \"username\": \"u\", "
			"\"password\": \"pw\"}]}";
	json_t *top = ha_dynsec_payload_mapped(s, p, strlen(p), &recs, &lens,
					       &reply_of, &n);
	assert_non_null(top);
	assert_int_equal(n, 2);
	assert_int_equal(reply_of[0], 1); /* the second createRole failed */
	assert_int_equal(reply_of[1], 4);
	for (size_t i = 0; i < n; i++)
		free(recs[i]);
	free(recs);
	free(lens);
	free(reply_of);
	json_decref(top);
	static const struct {
		const char *payload;
		bool query;
	} cases[] = {
	    {"{\"commands\": [{\"command\": \"getClient\"}, "
	     "{\"command\": \"LISTROLES\"}, {\"command\": \"nope\"}, 1, "
	     "{\"command\": \"exportConfig\"}]}",
	     true},
	    {"not json", true},
	    {"{\"commands\": 3}", true},
	    {"{\"commands\": [{\"command\": \"getClient\"}, "
	     "{\"command\": \"deleteclient\"}]}",
	     false},
	    {"{\"Commands\": [{\"command\": \"setDefaultACLAccess\"}]}", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(
		    ha_dynsec_payload_is_query(cases[i].payload,
					       strlen(cases[i].payload)),
		    cases[i].query);
	p = "{\"commands\": [{\"command\": \"exportConfig\", "
	    "\"correlationData\": \"x\"}]}";
	top = ha_dynsec_payload(s, p, strlen(p), &recs, &lens, &n);
	assert_int_equal(n, 0);
	free(recs);
	free(lens);
	json_t *config = json_object_get(
	    json_object_get(
		json_array_get(json_object_get(top, "responses"), 0), "data"),
	    "config");
	struct ha_dynsec *back = ha_dynsec_new();
	assert_int_equal(ha_dynsec_load_json(back, config), HA_DYNSEC_OK);
	json_t *again = ha_dynsec_save_json(back);
	assert_true(json_equal(config, again)); /* the file format, unchanged */
	json_decref(again);
	assert_int_equal(back->n_clients, 1);
	assert_int_equal(ha_dynsec_authenticate(back, "u", "pw", NULL),
			 HA_DYNSEC_AUTH_OK);
	json_decref(top);
	ha_dynsec_free(back);
	ha_dynsec_free(s);
}

/* The shapes of the queries, and the paging of the lists (the stock
 * plugin answers a count of 0 with one entry). */
static void test_queries(void **unused)
{
	(void)unused;
	struct ha_dynsec *s = state_from(
	    "{\"clients\": [{\"username\": \"a\"}, {\"username\": \"b\", "
	    "\"clientid\": \"x\", \"disabled\": true}, {\"username\": \"c\"}],"
	    "\"defaultACLAccess\": {\"unsubscribe\": true}}");
	static const struct {
		const char *cmd;
		size_t n;
		const char *first;
	} pages[] = {
	    {"{\"command\": \"listClients\"}", 3, "a"},
	    {"{\"command\": \"listClients\", \"offset\": 1}", 2, "b"},
	    {"{\"command\": \"listClients\", \"count\": 2, \"offset\": 1}", 2,
	     "b"},
	    {"{\"command\": \"listClients\", \"count\": 0}", 1, "a"},
	    {"{\"command\": \"listClients\", \"offset\": 7}", 0, NULL},
	};
	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		json_t *r = run(s, pages[i].cmd, NULL, NULL);
		json_t *data = json_object_get(r, "data");
		assert_int_equal(
		    json_integer_value(json_object_get(data, "totalCount")), 3);
		json_t *list = json_object_get(data, "clients");
		assert_int_equal(json_array_size(list), pages[i].n);
		if (pages[i].first != NULL)
			assert_string_equal(
			    json_string_value(json_array_get(list, 0)),
			    pages[i].first);
		json_decref(r);
	}
	json_t *r = run(s, "{\"command\": \"getclient\", \"USERNAME\": \"b\"}",
			NULL, NULL);
	assert_string_equal(json_string_value(json_object_get(r, "command")),
			    "getClient");
	json_t *c = json_object_get(json_object_get(r, "data"), "client");
	assert_true(json_is_true(json_object_get(c, "disabled")));
	assert_string_equal(json_string_value(json_object_get(c, "clientid")),
			    "x");
	assert_true(json_is_array(json_object_get(c, "groups")));
	assert_null(json_object_get(c, "password"));
	json_decref(r);
	r = run(s, "{\"command\": \"getDefaultACLAccess\"}", NULL, NULL);
	json_t *acls = json_object_get(json_object_get(r, "data"), "acls");
	assert_int_equal(json_array_size(acls), 4);
	json_t *unsub = json_array_get(acls, 3);
	assert_string_equal(
	    json_string_value(json_object_get(unsub, "acltype")),
	    "unsubscribe");
	assert_true(json_is_true(json_object_get(unsub, "allow")));
	json_decref(r);
	r = run(s, "{\"command\": \"getAnonymousGroup\"}", NULL, NULL);
	assert_string_equal(
	    json_string_value(json_object_get(
		json_object_get(json_object_get(r, "data"), "group"),
		"groupname")),
	    "");
	json_decref(r);
	ha_dynsec_free(s);
}

/* Malformed change records: every field that does not fit its change. */
static void test_record_refusals(void **unused)
{
	(void)unused;
	struct ha_dynsec *s = ha_dynsec_new();
	uint8_t *rec;
	size_t len;
	const char *why = NULL;
	json_t *r = run(s, "{\"command\": \"addRoleACL\", \"rolename\": \"r\"}",
			&rec, &len);
	json_decref(r);
	assert_null(rec);
	r = run(s, "{\"command\": \"createRole\", \"rolename\": \"r\"}", &rec,
		&len);
	json_decref(r);
	/* type, version, op 19 (createRole), fields 0x0004, str16 "r" */
	static const uint8_t want[] = {10, 1, 19, 4, 0, 1, 0, 'r'};
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(rec, want, sizeof(want));
	struct ha_dynsec *f = ha_dynsec_new();
	rec[3] = 0x05; /* a username too: not part of createRole */
	assert_int_equal(ha_dynsec_apply(f, rec, len, &why),
			 HA_DYNSEC_MALFORMED);
	assert_string_equal(why, "fields that do not fit the change");
	rec[3] = 0x00; /* no role name */
	assert_int_equal(ha_dynsec_apply(f, rec, len, &why),
			 HA_DYNSEC_MALFORMED);
	rec[3] = 0x04;
	rec[1] = 0;
	assert_int_equal(ha_dynsec_apply(f, rec, len, &why),
			 HA_DYNSEC_MALFORMED);
	assert_string_equal(why, "version 0");
	rec[1] = 1;
	uint8_t longer[sizeof(want) + 1];
	memcpy(longer, rec, len);
	longer[len] = 0;
	assert_int_equal(ha_dynsec_apply(f, longer, sizeof(longer), &why),
			 HA_DYNSEC_MALFORMED);
	assert_string_equal(why, "bytes after the end of the record");
	rec[7] = 0xff; /* not UTF-8 */
	assert_int_equal(ha_dynsec_apply(f, rec, len, &why),
			 HA_DYNSEC_MALFORMED);
	assert_int_equal(f->n_roles, 0);
	free(rec);
	ha_dynsec_free(f);
	ha_dynsec_free(s);
}

/* With mosquitto 2.1 the stock plugin adds: empty names refused,
 * "allowwildcardsubs" on roles, getDetails with the change index. With
 * 2.0 none of it. */
static void test_mosquitto21_commands(void **unused)
{
	(void)unused;
	static const struct {
		const char *cmd, *error21, *error20;
	} cases[] = {
	    {"{\"command\": \"createClient\", \"username\": \"\"}",
	     "Empty username", NULL},
	    {"{\"command\": \"createGroup\", \"groupname\": \"\"}",
	     "Empty groupname", NULL},
	    {"{\"command\": \"createRole\", \"rolename\": \"\"}",
	     "Empty rolename", NULL},
	    {"{\"command\": \"createRole\", \"rolename\": \"w\", "
	     "\"allowwildcardsubs\": 3}",
	     "Invalid allowwildcardsubs", NULL},
	    {"{\"command\": \"getDetails\"}", NULL, "Unknown command"},
	};
	for (int v21 = 0; v21 <= 1; v21++) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			struct ha_dynsec *s = ha_dynsec_new();
			s->v21 = v21;
			json_t *r = run(s, cases[i].cmd, NULL, NULL);
			const char *want =
			    v21 ? cases[i].error21 : cases[i].error20;
			const char *got = reply_error(r);
			if ((got == NULL) != (want == NULL) ||
			    (got != NULL && strcmp(got, want) != 0))
				fail_msg("%s with 2.%d: \"%s\"", cases[i].cmd,
					 v21, got ? got : "none");
			json_decref(r);
			ha_dynsec_free(s);
		}
	}
	struct ha_dynsec *s = ha_dynsec_new(), *f = ha_dynsec_new();
	s->v21 = true;
	uint8_t *rec;
	size_t len;
	const char *why;
	json_t *r = run(s,
			"{\"command\": \"createRole\", \"rolename\": \"w\", "
			"\"allowwildcardsubs\": false}",
			&rec, &len);
	assert_int_equal(ha_dynsec_apply(f, rec, len, &why), HA_DYNSEC_OK);
	assert_true(f->roles[0].deny_wildcard_subs);
	assert_true(ha_dynsec_equal(s, f));
	free(rec);
	json_decref(r);
	r = run(s,
		"{\"command\": \"modifyRole\", \"rolename\": \"w\", "
		"\"allowwildcardsubs\": true}",
		&rec, &len);
	assert_int_equal(ha_dynsec_apply(f, rec, len, &why), HA_DYNSEC_OK);
	assert_false(f->roles[0].deny_wildcard_subs);
	free(rec);
	json_decref(r);
	r = run(s, "{\"command\": \"getRole\", \"rolename\": \"w\"}", NULL,
		NULL);
	assert_true(json_is_true(
	    json_object_get(json_object_get(json_object_get(r, "data"), "role"),
			    "allowwildcardsubs")));
	json_decref(r);
	r = run(s, "{\"command\": \"getDetails\"}", NULL, NULL);
	json_t *d = json_object_get(r, "data");
	assert_int_equal(json_integer_value(json_object_get(d, "roleCount")),
			 1);
	assert_int_equal(json_integer_value(json_object_get(d, "changeIndex")),
			 2);
	json_decref(r);
	/* The follower counted the same changes. */
	assert_int_equal(f->change_index, 2);
	/* Priorities bounded as 2.1 bounds them: +-100000, but a client's
	 * roles from above only. */
	static const char *const bounded[] = {
	    "{\"command\": \"createClient\", \"username\": \"u\"}",
	    "{\"command\": \"createGroup\", \"groupname\": \"g\"}",
	    "{\"command\": \"addClientRole\", \"username\": \"u\", "
	    "\"rolename\": \"w\", \"priority\": -200000}",
	    "{\"command\": \"addGroupRole\", \"groupname\": \"g\", "
	    "\"rolename\": \"w\", \"priority\": 200000}",
	    "{\"command\": \"addGroupClient\", \"groupname\": \"g\", "
	    "\"username\": \"u\", \"priority\": -200000}",
	};
	for (size_t i = 0; i < 5; i++) {
		r = run(s, bounded[i], NULL, NULL);
		assert_null(reply_error(r));
		json_decref(r);
	}
	assert_int_equal(ha_dynsec_find_client(s, "u")->roles.v[0].priority,
			 -200000);
	assert_int_equal(ha_dynsec_find_group(s, "g")->roles.v[0].priority,
			 100000);
	assert_int_equal(ha_dynsec_find_client(s, "u")->groups.v[0].priority,
			 -100000);
	/* A group's reply names its clients without their priorities. */
	r = run(s, "{\"command\": \"getGroup\", \"groupname\": \"g\"}", NULL,
		NULL);
	json_t *member = json_array_get(
	    json_object_get(
		json_object_get(json_object_get(r, "data"), "group"),
		"clients"),
	    0);
	assert_string_equal(
	    json_string_value(json_object_get(member, "username")), "u");
	assert_null(json_object_get(member, "priority"));
	json_decref(r);
	ha_dynsec_free(s);
	ha_dynsec_free(f);
}

/* The data the kick tests start from: clients a and b in group g, c with
 * role r, which the anonymous group holds too. */
static const char kicks_file[] =
    "{\"roles\": [{\"rolename\": \"r\"}], \"clients\": [{\"username\": "
    "\"a\"}, {\"username\": \"b\"}, {\"username\": \"c\", \"roles\": "
    "[{\"rolename\": \"r\"}]}], \"groups\": [{\"groupname\": \"g\", "
    "\"clients\": [{\"username\": \"a\"}, {\"username\": \"b\"}]}, "
    "{\"groupname\": \"anon\", \"roles\": [{\"rolename\": \"r\"}]}], "
    "\"anonymousGroup\": \"anon\"}";

struct kicks_case {
	const char *cmd, *users;
	bool anonymous;
};

/* Runs each case's command on kicks_file's data and compares whom the
 * change disconnects, as its record says (restored false) or as the data
 * before and after differ (restored true, a restored snapshot). */
static void check_kicks(const struct kicks_case *cases, size_t n, bool restored)
{
	for (size_t i = 0; i < n; i++) {
		struct ha_dynsec *after = state_from(kicks_file),
				 *before = state_from(kicks_file);
		uint8_t *rec;
		size_t len;
		json_t *r = run(after, cases[i].cmd, &rec, &len);
		assert_null(reply_error(r));
		struct ha_dynsec_kicks k;
		if (restored) {
			assert_int_equal(
			    ha_dynsec_restore_kicks(before, after, &k),
			    HA_DYNSEC_OK);
		} else {
			assert_non_null(rec);
			assert_int_equal(
			    ha_dynsec_record_kicks(before, rec, len, &k),
			    HA_DYNSEC_OK);
		}
		char got[64] = "";
		for (size_t u = 0; u < k.n; u++) {
			strcat(got, u ? " " : "");
			strcat(got, k.usernames[u]);
		}
		if (strcmp(got, cases[i].users) != 0 ||
		    k.anonymous != cases[i].anonymous || k.everyone)
			fail_msg("%s: kicks \"%s\"%s", cases[i].cmd, got,
				 k.anonymous ? " and anonymous" : "");
		ha_dynsec_kicks_clear(&k);
		free(rec);
		json_decref(r);
		ha_dynsec_free(after);
		ha_dynsec_free(before);
	}
}

/* Whom each change disconnects, from the state before it: as the stock
 * plugin kicks. */
static void test_kicks(void **unused)
{
	(void)unused;
	static const struct kicks_case cases[] = {
	    {"{\"command\": \"disableClient\", \"username\": \"a\"}", "a",
	     false},
	    {"{\"command\": \"enableClient\", \"username\": \"a\"}", "", false},
	    {"{\"command\": \"addGroupRole\", \"groupname\": \"g\", "
	     "\"rolename\": \"r\"}",
	     "a b", false},
	    {"{\"command\": \"removeGroupRole\", \"groupname\": \"anon\", "
	     "\"rolename\": \"r\"}",
	     "", true},
	    {"{\"command\": \"modifyGroup\", \"groupname\": \"g\", "
	     "\"clients\": [{\"username\": \"c\"}]}",
	     "c a b", false},
	    {"{\"command\": \"addRoleACL\", \"rolename\": \"r\", "
	     "\"acltype\": \"publishClientSend\", \"topic\": \"x\"}",
	     "c", true},
	    {"{\"command\": \"deleteRole\", \"rolename\": \"r\"}", "c", true},
	    {"{\"command\": \"modifyRole\", \"rolename\": \"r\"}", "", false},
	    {"{\"command\": \"setAnonymousGroup\", \"groupname\": \"g\"}", "",
	     true},
	    {"{\"command\": \"setDefaultACLAccess\", \"acls\": []}", "", false},
	};
	check_kicks(cases, sizeof(cases) / sizeof(cases[0]), false);
}

/* Whom data restored from a snapshot disconnects: everyone whose login or
 * rights differ between the data before and after, as the changes between
 * them would have, and also a client enabled again (conservative). */
static void test_restore_kicks(void **unused)
{
	(void)unused;
	static const struct kicks_case cases[] = {
	    {"{\"command\": \"disableClient\", \"username\": \"a\"}", "a",
	     false},
	    {"{\"command\": \"setClientPassword\", \"username\": \"b\", "
	     "\"password\": \"x\"}",
	     "b", false},
	    {"{\"command\": \"enableClient\", \"username\": \"a\"}", "", false},
	    {"{\"command\": \"deleteClient\", \"username\": \"b\"}", "b",
	     false},
	    {"{\"command\": \"addGroupRole\", \"groupname\": \"g\", "
	     "\"rolename\": \"r\"}",
	     "a b", false},
	    {"{\"command\": \"removeGroupRole\", \"groupname\": \"anon\", "
	     "\"rolename\": \"r\"}",
	     "", true},
	    {"{\"command\": \"modifyGroup\", \"groupname\": \"g\", "
	     "\"clients\": [{\"username\": \"c\"}]}",
	     "a b c", false},
	    {"{\"command\": \"addRoleACL\", \"rolename\": \"r\", "
	     "\"acltype\": \"publishClientSend\", \"topic\": \"x\"}",
	     "c", true},
	    {"{\"command\": \"deleteRole\", \"rolename\": \"r\"}", "c", true},
	    {"{\"command\": \"modifyClient\", \"username\": \"a\", "
	     "\"textname\": \"A\"}",
	     "", false},
	    {"{\"command\": \"setAnonymousGroup\", \"groupname\": \"g\"}", "",
	     true},
	    {"{\"command\": \"setDefaultACLAccess\", \"acls\": []}", "", false},
	};
	check_kicks(cases, sizeof(cases) / sizeof(cases[0]), true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_command),
	    cmocka_unit_test(test_records_carry_no_password),
	    cmocka_unit_test(test_stale_change_refused),
	    cmocka_unit_test(test_payload),
	    cmocka_unit_test(test_payload_mapped_and_queries),
	    cmocka_unit_test(test_queries),
	    cmocka_unit_test(test_record_refusals),
	    cmocka_unit_test(test_mosquitto21_commands),
	    cmocka_unit_test(test_kicks),
	    cmocka_unit_test(test_restore_kicks),
	};
	return cmocka_run_group_tests_name("dynsec commands", tests, NULL,
					   NULL);
}
