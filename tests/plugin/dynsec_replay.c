/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Runs the command sequence of dynsec_steps.h, each command as a payload of
 * its own, from a dynamic-security file, and prints every payload and this
 * code's reply (keys sorted, compact) for dynsec_stock.py, which sends the
 * same payloads to a broker running the stock plugin:
 *
 *   dynsec_replay FILE 2.0|2.1
 *
 * With 2.0 the steps that mosquitto 2.0.11 answers otherwise are left out;
 * with 2.1 the rules of 2.1 apply and its additions follow the sequence.
 * The last line, "END <file>", is the state it leaves, in the file format.
 *
 *   dynsec_replay FILE 2.0|2.1 USER PASSWORD CLIENTID
 *
 * loads FILE (the one the stock plugin saved) and prints "END <file>" of
 * what it read and "LOGIN ok" or "LOGIN refused" for USER, PASSWORD and
 * CLIENTID.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/dynsec/dynsec.h"
#include "tests/plugin/dynsec_steps.h"

/* What mosquitto 2.1 adds: empty names, allowwildcardsubs, getDetails.
 * No role is created here: mosquitto 2.1.2 leaves a deleted role (r1 of
 * the sequence) in its clients' lists, and a new role would take its
 * place there (this code drops it, as 2.0 does). */
static const char *const steps21[] = {
    "{\"command\": \"createClient\", \"username\": \"\"}",
    "{\"command\": \"createGroup\", \"groupname\": \"\"}",
    "{\"command\": \"createRole\", \"rolename\": \"\"}",
    "{\"command\": \"createRole\", \"rolename\": \"w\", "
    "\"allowwildcardsubs\": 3}",
    "{\"command\": \"modifyRole\", \"rolename\": \"r2\", "
    "\"allowwildcardsubs\": false}",
    "{\"command\": \"getRole\", \"rolename\": \"r2\"}",
    "{\"command\": \"modifyRole\", \"rolename\": \"r2\", "
    "\"allowwildcardsubs\": true}",
    "{\"command\": \"addGroupRole\", \"groupname\": \"anon\", \"rolename\": "
    "\"r2\", \"priority\": 200000}",
    "{\"command\": \"getGroup\", \"groupname\": \"anon\"}",
    "{\"command\": \"listRoles\", \"verbose\": true}",
    "{\"command\": \"getDetails\"}",
};

static int replay(struct ha_dynsec *s, const char *cmd)
{
	char payload[4096];
	uint8_t **recs;
	size_t *lens, n;
	snprintf(payload, sizeof(payload), "{\"commands\": [%s]}", cmd);
	json_t *reply =
	    ha_dynsec_payload(s, payload, strlen(payload), &recs, &lens, &n);
	if (reply == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		free(recs[i]);
	free(recs);
	free(lens);
	char *text = json_dumps(reply, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(reply);
	if (text == NULL)
		return -1;
	printf("CMD %s\nOUT %s\n", payload, text);
	free(text);
	return 0;
}

/* The state in the file format, keys sorted, on one line. */
static int print_end(const struct ha_dynsec *s)
{
	json_t *tree = ha_dynsec_save_json(s);
	char *text =
	    tree ? json_dumps(tree, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
	json_decref(tree);
	if (text == NULL)
		return 1;
	printf("END %s\n", text);
	free(text);
	return 0;
}

int main(int argc, char **argv)
{
	char why[512];
	if ((argc != 3 && argc != 6) ||
	    (strcmp(argv[2], "2.0") != 0 && strcmp(argv[2], "2.1") != 0)) {
		fprintf(stderr, "usage: dynsec_replay FILE 2.0|2.1 [USER "
				"PASSWORD CLIENTID]\n");
		return 2;
	}
	struct ha_dynsec *s = ha_dynsec_new();
	if (s == NULL)
		return 1;
	s->v21 = strcmp(argv[2], "2.1") == 0;
	if (ha_dynsec_load_file(s, argv[1], why, sizeof(why)) != HA_DYNSEC_OK) {
		fprintf(stderr, "dynsec_replay: %s\n", why);
		return 1;
	}
	if (argc == 6) {
		int rv = print_end(s);
		printf("LOGIN %s\n",
		       ha_dynsec_authenticate(s, argv[3], argv[4], argv[5]) ==
			       HA_DYNSEC_AUTH_OK
			   ? "ok"
			   : "refused");
		ha_dynsec_free(s);
		return rv;
	}
	for (size_t i = 0; i < DYNSEC_STEPS; i++)
		if ((s->v21 || !dynsec_steps[i].not_2011) &&
		    replay(s, dynsec_steps[i].cmd) != 0)
			return 1;
	for (size_t i = 0; s->v21 && i < sizeof(steps21) / sizeof(*steps21);
	     i++)
		if (replay(s, steps21[i]) != 0)
			return 1;
	int rv = print_end(s);
	ha_dynsec_free(s);
	return rv;
}
