/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Writes the seed corpora of the ha_records and ha_snapshot fuzz targets
 * with the encoders themselves: one file per seed, named after what it
 * holds. Every record of each type the code reads (and the refusals a
 * decoder meets first: an unknown type, a newer version, a truncated
 * record), and snapshots of
 * both versions, empty, with retained messages and (level 3) with
 * access-control data made by the dynamic-security commands. Each seed is
 * decoded again here and must give the expected result.
 *   state_corpus RECORDS_DIR SNAPSHOT_DIR */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/dynsec/dynsec.h"
#include "plugin/records.h"
#include "plugin/state.h"
#include "plugin/state_snapshot.h"
#include "tests/corpus_files.h"

#define CAPTURED_MS 1700000000000ull

static int write_file(const char *dir, const char *name, const uint8_t *buf,
		      size_t len)
{
	return corpus_write_file("state_corpus", dir, name, buf, len);
}

static int make_dir(const char *dir)
{
	return corpus_make_dir("state_corpus", dir);
}

static struct ha_bytes str(const char *s)
{
	return (struct ha_bytes){(const uint8_t *)s, strlen(s)};
}

/* A seed given as bytes, which must decode to status. */
static int write_raw(const char *dir, const char *name, const uint8_t *buf,
		     size_t len, int status)
{
	struct ha_record d;
	if (ha_record_decode(buf, len, &d) != status) {
		fprintf(stderr, "state_corpus: %s does not decode to %d\n",
			name, status);
		return -1;
	}
	return write_file(dir, name, buf, len);
}

/* A seed encoded from rec, which must decode again. */
static int write_record(const char *dir, const char *name,
			const struct ha_record *rec)
{
	uint8_t *buf;
	size_t len;
	const char *why = NULL;
	if (ha_record_encode(rec, &buf, &len, &why) != HA_REC_OK) {
		fprintf(stderr, "state_corpus: cannot encode %s: %s\n", name,
			why != NULL ? why : "");
		return -1;
	}
	int rv = write_raw(dir, name, buf, len, HA_REC_OK);
	free(buf);
	return rv;
}

static struct ha_record retain_set(const char *topic, const char *payload,
				   uint8_t qos)
{
	struct ha_record r = {.type = HA_REC_TYPE_RETAIN_SET};
	r.u.retain_set.origin = (struct ha_origin){1, 42, CAPTURED_MS};
	r.u.retain_set.topic = str(topic);
	r.u.retain_set.payload = str(payload);
	r.u.retain_set.qos = qos;
	return r;
}

static const struct ha_user_property one_property[] = {
    {{(const uint8_t *)"k", 1}, {(const uint8_t *)"v", 1}},
};

static const struct ha_user_property three_properties[] = {
    {{(const uint8_t *)"b", 1}, {(const uint8_t *)"2", 1}},
    {{(const uint8_t *)"a", 1}, {(const uint8_t *)"1", 1}},
    {{(const uint8_t *)"b", 1}, {(const uint8_t *)"", 0}},
};

static int write_records(const char *dir)
{
	static const uint8_t legacy_delete[] = {HA_REC_TYPE_DELETE_CLUSTER};
	static const uint8_t session[] = {HA_REC_TYPE_SESSION, 1, 0};
	static const uint8_t newer_set[] = {HA_REC_TYPE_RETAIN_SET, 2, 0};
	/* createRole of r (docs/access-control.md), and a newer version. */
	static const uint8_t create_role[] = {
	    HA_REC_TYPE_ACCESS_CONTROL, 1, 0x13, 0x04, 0x00, 0x01, 0x00, 'r'};
	static const uint8_t newer_access[] = {HA_REC_TYPE_ACCESS_CONTROL, 2,
					       0x13};
	if (write_raw(dir, "delete-cluster-legacy", legacy_delete,
		      sizeof(legacy_delete), HA_REC_OK) != 0 ||
	    write_raw(dir, "session-unknown-type", session, sizeof(session),
		      HA_REC_UNKNOWN_TYPE) != 0 ||
	    write_raw(dir, "retain-set-newer-version", newer_set,
		      sizeof(newer_set), HA_REC_NEWER_VERSION) != 0 ||
	    write_raw(dir, "access-control-create-role", create_role,
		      sizeof(create_role), HA_REC_OK) != 0 ||
	    write_raw(dir, "access-control-newer-version", newer_access,
		      sizeof(newer_access), HA_REC_NEWER_VERSION) != 0)
		return -1;

	struct ha_record r = {.type = HA_REC_TYPE_DELETE_CLUSTER};
	if (write_record(dir, "delete-cluster", &r) != 0)
		return -1;
	r = (struct ha_record){.type = HA_REC_TYPE_FEATURE_LEVEL,
			       .u.feature_level = 2};
	if (write_record(dir, "feature-level-2", &r) != 0)
		return -1;
	r = (struct ha_record){.type = HA_REC_TYPE_RETAIN_DELETE};
	r.u.retain_delete.origin = (struct ha_origin){2, 43, CAPTURED_MS};
	r.u.retain_delete.topic = str("x/y");
	if (write_record(dir, "retain-delete", &r) != 0)
		return -1;

	r = retain_set("t", "", 0);
	if (write_record(dir, "retain-set-minimal", &r) != 0)
		return -1;
	r = retain_set("a/b", "", 1);
	if (write_record(dir, "retain-set-empty-payload", &r) != 0)
		return -1;
	/* The same without its last byte: truncated. */
	uint8_t *buf;
	size_t len;
	if (ha_record_encode(&r, &buf, &len, NULL) != HA_REC_OK) {
		fprintf(stderr, "state_corpus: cannot encode a record\n");
		return -1;
	}
	int rv = write_raw(dir, "retain-set-truncated", buf, len - 1,
			   HA_REC_MALFORMED);
	free(buf);
	if (rv != 0)
		return -1;
	r = retain_set("a/b", "hi", 1);
	r.u.retain_set.has_payload_format = true;
	r.u.retain_set.payload_format = 1;
	r.u.retain_set.user_properties = one_property;
	r.u.retain_set.n_user_properties = 1;
	if (write_record(dir, "retain-set-user-property", &r) != 0)
		return -1;

	static const uint8_t correlation[] = {0x00, 0xff};
	uint8_t payload[40];
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)i;
	r = retain_set("sensors/\xe2\x82\xac/temp", "", 2);
	struct ha_retain_set *m = &r.u.retain_set;
	m->expiry_ms = CAPTURED_MS + 60000;
	m->has_payload_format = true;
	m->payload_format = 0;
	m->has_content_type = true;
	m->content_type = str("application/json");
	m->has_response_topic = true;
	m->response_topic = str("replies/x");
	m->has_correlation_data = true;
	m->correlation_data = (struct ha_bytes){correlation, 2};
	m->user_properties = three_properties;
	m->n_user_properties = 3;
	m->payload = (struct ha_bytes){payload, sizeof(payload)};
	return write_record(dir, "retain-set-all-properties", &r);
}

/* Applies rec to s, which must succeed. */
static int apply(struct ha_state *s, const struct ha_record *rec)
{
	uint8_t *buf;
	size_t len;
	char why[256] = "";
	if (ha_record_encode(rec, &buf, &len, NULL) != HA_REC_OK) {
		fprintf(stderr, "state_corpus: cannot encode a record\n");
		return -1;
	}
	int rv = ha_state_apply(s, 1, buf, len, why, sizeof(why));
	free(buf);
	if (rv != HA_APPLY_OK) {
		fprintf(stderr, "state_corpus: apply: %s\n", why);
		return -1;
	}
	return 0;
}

/* A seed serialized from s, which must restore again. */
static int write_snapshot(const char *dir, const char *name,
			  const struct ha_state *s)
{
	struct ha_state_frozen *f = ha_state_capture(s);
	uint8_t *buf = NULL;
	size_t len;
	if (f == NULL || ha_state_serialize(f, &buf, &len) != 0) {
		ha_state_release(f);
		fprintf(stderr, "state_corpus: cannot serialize %s\n", name);
		return -1;
	}
	ha_state_release(f);
	struct ha_state *back = NULL;
	char why[256] = "";
	int rv = ha_state_restore(buf, len, 1, &back, why, sizeof(why));
	ha_state_free(back);
	if (rv != HA_SNAP_OK) {
		fprintf(stderr, "state_corpus: %s does not restore: %s\n", name,
			why);
		free(buf);
		return -1;
	}
	rv = write_file(dir, name, buf, len);
	free(buf);
	return rv;
}

/* Commands of the dynamic-security API, whose changes a leader proposes. */
static const char access_commands[] =
    "{\"commands\": ["
    "{\"command\": \"createRole\", \"rolename\": \"r\", \"textname\": "
    "\"reader\", \"acls\": [{\"acltype\": \"subscribePattern\", "
    "\"topic\": \"a/#\", \"priority\": 2, \"allow\": true}, "
    "{\"acltype\": \"publishClientSend\", \"topic\": \"a/+\", "
    "\"allow\": false}]},"
    "{\"command\": \"createRole\", \"rolename\": \"w\"},"
    "{\"command\": \"createClient\", \"username\": \"u\", "
    "\"password\": \"p\", \"clientid\": \"c\", \"textdescription\": "
    "\"d\", \"roles\": [{\"rolename\": \"r\", \"priority\": 1}]},"
    "{\"command\": \"createClient\", \"username\": \"v\"},"
    "{\"command\": \"disableClient\", \"username\": \"v\"},"
    "{\"command\": \"createGroup\", \"groupname\": \"g\", \"roles\": "
    "[{\"rolename\": \"w\", \"priority\": 3}]},"
    "{\"command\": \"addGroupClient\", \"groupname\": \"g\", "
    "\"username\": \"u\", \"priority\": 5},"
    "{\"command\": \"setAnonymousGroup\", \"groupname\": \"g\"},"
    "{\"command\": \"setDefaultACLAccess\", \"acls\": [{\"acltype\": "
    "\"publishClientReceive\", \"allow\": true}]}"
    "]}";

/* Level 3: empty, then with the data of access_commands and a retained
 * message. */
static int write_access_control_snapshots(const char *dir)
{
	struct ha_state *s = ha_state_new(1);
	struct ha_dynsec *work = ha_dynsec_new();
	if (s == NULL || work == NULL) {
		fprintf(stderr, "state_corpus: out of memory\n");
		ha_state_free(s);
		ha_dynsec_free(work);
		return -1;
	}
	const struct ha_record level3 = {.type = HA_REC_TYPE_FEATURE_LEVEL,
					 .u.feature_level = 3};
	int rv = apply(s, &level3);
	if (rv == 0)
		rv = write_snapshot(dir, "v2-level-3-empty", s);
	uint8_t **records = NULL;
	size_t *lens = NULL, n = 0;
	json_t *reply = NULL;
	if (rv == 0) {
		reply = ha_dynsec_payload(work, access_commands,
					  strlen(access_commands), &records,
					  &lens, &n);
		if (reply == NULL || n != 9) {
			fprintf(stderr,
				"state_corpus: access-control "
				"commands: %zu changes\n",
				n);
			rv = -1;
		}
	}
	for (size_t i = 0; i < n; i++) {
		char why[256] = "";
		if (rv == 0 &&
		    ha_state_apply(s, 2 + i, records[i], lens[i], why,
				   sizeof(why)) != HA_APPLY_OK) {
			fprintf(stderr, "state_corpus: apply: %s\n", why);
			rv = -1;
		}
		free(records[i]);
	}
	free(records);
	free(lens);
	json_decref(reply);
	struct ha_record m = retain_set("a/b", "1", 0);
	if (rv == 0)
		rv = apply(s, &m);
	if (rv == 0 && !ha_dynsec_equal(s->access_control, work)) {
		fprintf(stderr, "state_corpus: the applied changes differ\n");
		rv = -1;
	}
	if (rv == 0)
		rv = write_snapshot(dir, "v2-level-3-access-control", s);
	ha_dynsec_free(work);
	ha_state_free(s);
	return rv;
}

static int write_snapshots(const char *dir)
{
	static const uint8_t v1_alive[] = {1, 0}, v1_deleted[] = {1, 1};
	if (write_file(dir, "v1-alive", v1_alive, 2) != 0 ||
	    write_file(dir, "v1-deleted", v1_deleted, 2) != 0)
		return -1;

	struct ha_state *s = ha_state_new(1);
	if (s == NULL) {
		fprintf(stderr, "state_corpus: out of memory\n");
		return -1;
	}
	const struct ha_record level2 = {.type = HA_REC_TYPE_FEATURE_LEVEL,
					 .u.feature_level = 2};
	const struct ha_record delete_cluster = {
	    .type = HA_REC_TYPE_DELETE_CLUSTER};
	int rv = write_snapshot(dir, "v2-level-1-empty", s);
	if (rv == 0)
		rv = apply(s, &level2);

	/* Three messages: plain, with a user property, with the other
	 * properties; applied out of topic order. */
	static const uint8_t correlation[] = {0x01};
	struct ha_record z =
	    retain_set("z/\xc3\xa9",
		       "33333333333333333333333333333333333333333333333333", 2);
	z.u.retain_set.has_content_type = true;
	z.u.retain_set.content_type = str("text/plain");
	z.u.retain_set.has_response_topic = true;
	z.u.retain_set.response_topic = str("r");
	z.u.retain_set.has_correlation_data = true;
	z.u.retain_set.correlation_data = (struct ha_bytes){correlation, 1};
	struct ha_record ab = retain_set("a/b", "2", 1);
	ab.u.retain_set.has_payload_format = true;
	ab.u.retain_set.payload_format = 1;
	ab.u.retain_set.user_properties = one_property;
	ab.u.retain_set.n_user_properties = 1;
	struct ha_record a = retain_set("a", "1", 1);
	if (rv == 0)
		rv = apply(s, &z);
	if (rv == 0)
		rv = apply(s, &ab);
	if (rv == 0)
		rv = apply(s, &a);
	if (rv == 0)
		rv = write_snapshot(dir, "v2-level-2-three-messages", s);
	ha_state_free(s);
	if (rv != 0)
		return -1;

	s = ha_state_new(1);
	if (s == NULL) {
		fprintf(stderr, "state_corpus: out of memory\n");
		return -1;
	}
	rv = apply(s, &level2);
	if (rv == 0)
		rv = apply(s, &delete_cluster);
	if (rv == 0)
		rv = write_snapshot(dir, "v2-level-2-deleted", s);
	ha_state_free(s);
	if (rv != 0)
		return -1;
	return write_access_control_snapshots(dir);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: state_corpus RECORDS_DIR "
				"SNAPSHOT_DIR\n");
		return 2;
	}
	if (make_dir(argv[1]) != 0 || make_dir(argv[2]) != 0 ||
	    write_records(argv[1]) != 0 || write_snapshots(argv[2]) != 0)
		return 1;
	return 0;
}
