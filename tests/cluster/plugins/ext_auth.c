/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* A minimal MQTT v5 enhanced-authentication plugin for the cluster tests:
 * method "ha-test" with the data "letmein" is let in, in one step. Such
 * clients never pass BASIC_AUTH, which is what the tests need to show is
 * still gated by mosquitto_ha.so. Loaded after it. */
#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#define METHOD "ha-test"
#define SECRET "letmein"

static mosquitto_plugin_id_t *plugin_id;

static int on_auth_start(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_extended_auth *ed = event_data;
	(void)event;
	(void)userdata;
	if (ed->auth_method == NULL || strcmp(ed->auth_method, METHOD) != 0)
		return MOSQ_ERR_PLUGIN_DEFER;
	if (ed->data_in_len == strlen(SECRET) &&
	    memcmp(ed->data_in, SECRET, strlen(SECRET)) == 0)
		return MOSQ_ERR_SUCCESS;
	return MOSQ_ERR_AUTH;
}

int mosquitto_plugin_version(int count, const int *versions)
{
	for (int i = 0; i < count; i++)
		if (versions[i] == 5)
			return 5;
	return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *id, void **userdata,
			  struct mosquitto_opt *opts, int opt_count)
{
	(void)userdata;
	(void)opts;
	(void)opt_count;
	plugin_id = id;
	return mosquitto_callback_register(id, MOSQ_EVT_EXT_AUTH_START,
					   on_auth_start, METHOD, NULL);
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *opts,
			     int opt_count)
{
	(void)userdata;
	(void)opts;
	(void)opt_count;
	return mosquitto_callback_unregister(plugin_id, MOSQ_EVT_EXT_AUTH_START,
					     on_auth_start, METHOD);
}
