/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * dynsec-export: the cluster's access-control data (the exportConfig
 * command of $CONTROL/dynamic-security/v1, served by the leader with
 * plugin_opt_access_control dynsec) written on stdout in the stock
 * dynamic-security file format, hashes included: a backup, and a file the
 * stock plugin (plugin_opt_config_file) or a new cluster
 * (plugin_opt_dynsec_file) loads.
 */
#include "ctrl/ctrl.h"

#include <stdio.h>
#include <stdlib.h>

#define DYNSEC_TOPIC "$CONTROL/dynamic-security/v1"
#define DYNSEC_RESPONSE_TOPIC "$CONTROL/dynamic-security/v1/response"

/* The reply's first response, or NULL after saying why on stderr (rc set). */
static json_t *ask_export(const struct ctrl_args *a, int *rc)
{
	struct ctrl_endpoint ep;
	char where[TRANSPORT_ADDRESS_MAX + 8];
	double deadline = ctrl_now() + a->timeout_s;
	json_t *commands = json_pack("[{s:s}]", "command", "exportConfig");
	json_t *responses = NULL;

	ctrl_default_endpoint(a, NULL, &ep);
	ctrl_endpoint_format(&ep, where, sizeof where);
	struct ctrl_session *s = ctrl_session_open_on(
	    &a->conn, &ep, DYNSEC_TOPIC, DYNSEC_RESPONSE_TOPIC);
	if (s == NULL || commands == NULL) {
		json_decref(commands);
		ctrl_session_close(s);
		fprintf(stderr, "mosquitto_ha_ctrl: out of memory\n");
		*rc = CTRL_EXIT_REFUSED;
		return NULL;
	}
	ctrl_sessions_run(&s, 1, deadline);
	ctrl_ask_all(&s, 1, commands, deadline);
	json_decref(commands);
	if (ctrl_session_state(s) == CTRL_S_FAILED) {
		fprintf(stderr, "mosquitto_ha_ctrl: %s: %s\n", where,
			ctrl_session_error(s));
		*rc = ctrl_failure_exit(ctrl_session_failure(s));
	} else {
		responses = ctrl_session_take_reply(s);
	}
	ctrl_session_close(s);
	if (responses == NULL)
		return NULL;
	json_t *r = json_incref(json_array_get(responses, 0));
	json_decref(responses);
	if (r == NULL) {
		fprintf(stderr, "mosquitto_ha_ctrl: %s: an empty reply\n",
			where);
		*rc = CTRL_EXIT_REFUSED;
	}
	return r;
}

int ctrl_run_dynsec_export(const struct ctrl_args *a)
{
	int rc = CTRL_EXIT_OK;

	if (a->node_count || a->name != NULL) {
		fprintf(stderr, "mosquitto_ha_ctrl: dynsec-export takes no "
				"--node or --name\n");
		return CTRL_EXIT_USAGE;
	}
	json_t *response = ask_export(a, &rc);
	if (response == NULL)
		return rc;
	const char *error = ctrl_response_error(response);
	json_t *config =
	    json_object_get(json_object_get(response, "data"), "config");
	if (error != NULL || !json_is_object(config)) {
		fprintf(stderr, "mosquitto_ha_ctrl: exportConfig: %s\n",
			error ? error : "no data in the reply");
		json_decref(response);
		return CTRL_EXIT_REFUSED;
	}
	if (json_dumpf(config, stdout, JSON_INDENT(1)) != 0 ||
	    fputc('\n', stdout) == EOF || fflush(stdout) != 0) {
		fprintf(stderr, "mosquitto_ha_ctrl: cannot write the data\n");
		rc = CTRL_EXIT_REFUSED;
	}
	json_decref(response);
	return rc;
}
