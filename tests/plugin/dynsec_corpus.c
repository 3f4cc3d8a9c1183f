/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Writes the seed corpus of the ha_dynsec fuzz target (fuzz/ha_dynsec.c)
 * into the folder named by its argument: a payload of every change, the
 * record of each change, the section and the file of the state they make.
 * Each seed starts with the byte that says what it is (bit 7: with
 * mosquitto 2.1's rules, for the payload and the file).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/dynsec/dynsec.h"

static void write_seed(const char *dir, const char *name, uint8_t kind,
		       const void *data, size_t len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(&kind, 1, 1, f) != 1 ||
	    fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static const char payload[] =
    "{\"commands\": ["
    "{\"command\": \"setDefaultACLAccess\", \"acls\": [{\"acltype\": "
    "\"subscribe\", \"allow\": true}]},"
    "{\"command\": \"createRole\", \"rolename\": \"r1\", \"acls\": "
    "[{\"acltype\": \"subscribePattern\", \"topic\": \"x/%u/#\", \"allow\":"
    " true}]},"
    "{\"command\": \"createClient\", \"username\": \"c1\", \"password\": "
    "\"p\", \"clientid\": \"id\", \"textname\": \"t\", \"roles\": "
    "[{\"rolename\": \"r1\", \"priority\": 2}], \"groups\": "
    "[{\"groupname\": \"g\"}]},"
    "{\"command\": \"modifyClient\", \"username\": \"c1\", "
    "\"textdescription\": \"d\", \"groups\": []},"
    "{\"command\": \"setClientPassword\", \"username\": \"u\", "
    "\"password\": \"q\"},"
    "{\"command\": \"setClientId\", \"username\": \"u\", \"clientid\": "
    "\"uid\"},"
    "{\"command\": \"addClientRole\", \"username\": \"u\", \"rolename\": "
    "\"r1\", \"priority\": 1},"
    "{\"command\": \"removeClientRole\", \"username\": \"u\", "
    "\"rolename\": \"r\"},"
    "{\"command\": \"disableClient\", \"username\": \"c1\"},"
    "{\"command\": \"enableClient\", \"username\": \"c1\"},"
    "{\"command\": \"createGroup\", \"groupname\": \"g2\", \"roles\": "
    "[{\"rolename\": \"r\"}]},"
    "{\"command\": \"modifyGroup\", \"groupname\": \"g2\", \"clients\": "
    "[{\"username\": \"u\", \"priority\": 4}]},"
    "{\"command\": \"addGroupClient\", \"username\": \"c1\", "
    "\"groupname\": \"g2\"},"
    "{\"command\": \"removeGroupClient\", \"username\": \"u\", "
    "\"groupname\": \"g2\"},"
    "{\"command\": \"addGroupRole\", \"groupname\": \"g\", \"rolename\": "
    "\"r1\", \"priority\": 3},"
    "{\"command\": \"removeGroupRole\", \"groupname\": \"g\", "
    "\"rolename\": \"r1\"},"
    "{\"command\": \"setAnonymousGroup\", \"groupname\": \"g2\"},"
    "{\"command\": \"modifyRole\", \"rolename\": \"r1\", \"textname\": "
    "\"n\", \"acls\": []},"
    "{\"command\": \"addRoleACL\", \"rolename\": \"r1\", \"acltype\": "
    "\"unsubscribeLiteral\", \"topic\": \"a\", \"priority\": -1},"
    "{\"command\": \"removeRoleACL\", \"rolename\": \"r1\", \"acltype\": "
    "\"unsubscribeLiteral\", \"topic\": \"a\"},"
    "{\"command\": \"deleteGroup\", \"groupname\": \"g\"},"
    "{\"command\": \"deleteRole\", \"rolename\": \"r\"},"
    "{\"command\": \"listClients\", \"verbose\": true},"
    "{\"command\": \"deleteClient\", \"username\": \"u\"}]}";

static const char base_file[] =
    "{\"roles\": [{\"rolename\": \"r\", \"acls\": [{\"acltype\": "
    "\"publishClientSend\", \"topic\": \"a/#\", \"allow\": true}]}],"
    "\"clients\": [{\"username\": \"u\", \"roles\": [{\"rolename\": "
    "\"r\"}]}], \"groups\": [{\"groupname\": \"g\", \"clients\": "
    "[{\"username\": \"u\"}]}], \"anonymousGroup\": \"g\"}";

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: dynsec_corpus DIR\n");
		return 2;
	}
	const char *dir = argv[1];
	json_t *tree = json_loads(base_file, 0, NULL);
	struct ha_dynsec *s = ha_dynsec_new();
	if (tree == NULL || s == NULL || ha_dynsec_load_json(s, tree) != 0)
		return 1;
	write_seed(dir, "file-base", 2, base_file, strlen(base_file));
	write_seed(dir, "payload-every-change", 3, payload, strlen(payload));
	write_seed(dir, "payload-every-change-21", 0x83, payload,
		   strlen(payload));
	uint8_t *rec, **recs;
	size_t len, *lens, n;
	if (ha_dynsec_import_record(s, &rec, &len) != 0)
		return 1;
	write_seed(dir, "record-import", 0, rec, len);
	free(rec);
	json_t *reply =
	    ha_dynsec_payload(s, payload, strlen(payload), &recs, &lens, &n);
	if (reply == NULL)
		return 1;
	/* Every command of the payload is meant to succeed. */
	size_t idx;
	json_t *resp;
	json_array_foreach(json_object_get(reply, "responses"), idx, resp)
	{
		if (json_object_get(resp, "error") != NULL) {
			char *t = json_dumps(resp, 0);
			fprintf(stderr, "seed command %zu failed: %s\n", idx,
				t);
			free(t);
			return 1;
		}
	}
	for (size_t i = 0; i < n; i++) {
		char name[64];
		snprintf(name, sizeof(name), "record-%02zu-op-%u", i,
			 recs[i][2]);
		write_seed(dir, name, 0, recs[i], lens[i]);
		free(recs[i]);
	}
	free(recs);
	free(lens);
	json_decref(reply);
	if (ha_dynsec_section_encode(s, &rec, &len) != 0)
		return 1;
	write_seed(dir, "section-after-changes", 1, rec, len);
	free(rec);
	json_t *saved = ha_dynsec_save_json(s);
	char *text = json_dumps(saved, JSON_INDENT(1));
	write_seed(dir, "file-after-changes", 2, text, strlen(text));
	write_seed(dir, "file-after-changes-21", 0x82, text, strlen(text));
	free(text);
	json_decref(saved);
	json_decref(tree);
	ha_dynsec_free(s);
	printf("%zu records written to %s\n", n, dir);
	return 0;
}
