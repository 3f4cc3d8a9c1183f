/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* A plugin for the cluster tests that makes the broker thread slow on
 * demand, as a slow plugin or an overloaded machine would: while the file
 * named by plugin_opt_stall_file exists, its TICK callback sleeps (at most
 * a minute at a time), so the broker takes no packets and mosquitto_ha.so
 * drains nothing from its raft thread. While it sleeps, the file named
 * like it with ".held" added exists, so that a test knows the broker is
 * held up now. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

static mosquitto_plugin_id_t *plugin_id;
static char *stall_file;
static char *held_file;

static int on_tick(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_tick *ed = event_data;
	(void)event;
	(void)userdata;
	bool held = false;
	for (int i = 0; i < 1200 && access(stall_file, F_OK) == 0; i++) {
		if (!held) {
			FILE *f = fopen(held_file, "w");
			if (f != NULL)
				fclose(f);
			held = true;
		}
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (held)
		unlink(held_file);
	/* 2.1 reads this as the milliseconds to its next call, 2.0 not at
	 * all: run on every loop pass. */
	ed->next_ns = 0;
	return MOSQ_ERR_SUCCESS;
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
	for (int i = 0; i < opt_count; i++)
		if (strcmp(opts[i].key, "stall_file") == 0)
			stall_file = strdup(opts[i].value);
	if (stall_file == NULL) {
		mosquitto_log_printf(MOSQ_LOG_ERR,
				     "stall: plugin_opt_stall_file is needed");
		return MOSQ_ERR_INVAL;
	}
	held_file = malloc(strlen(stall_file) + sizeof(".held"));
	if (held_file == NULL)
		return MOSQ_ERR_NOMEM;
	strcpy(held_file, stall_file);
	strcat(held_file, ".held");
	plugin_id = id;
	return mosquitto_callback_register(id, MOSQ_EVT_TICK, on_tick, NULL,
					   NULL);
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *opts,
			     int opt_count)
{
	(void)userdata;
	(void)opts;
	(void)opt_count;
	int rv = mosquitto_callback_unregister(plugin_id, MOSQ_EVT_TICK,
					       on_tick, NULL);
	free(stall_file);
	stall_file = NULL;
	free(held_file);
	held_file = NULL;
	return rv;
}
