/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The few broker settings the plugin must know and the broker does not
 * tell plugins: read from the configuration file named on the broker's
 * command line (and the files of its include_dir, in the broker's order). */
#ifndef HA_BROKER_CONFIG_H
#define HA_BROKER_CONFIG_H

#include <stdbool.h>

struct ha_broker_config {
	bool per_listener_settings; /* default false */
	bool persistence;	    /* default false */
	bool retain_available;	    /* default true */
	/* A plugin line loads the stock dynamic-security plugin. */
	bool stock_dynsec;
};

/* Reads path (and what it includes); a later line wins, as in the broker.
 * A file that cannot be read leaves the defaults. */
void ha_broker_config_read(const char *path, struct ha_broker_config *out);
/* The same for the file given to this process with -c / --config-file
 * (from /proc/self/cmdline); the defaults when there is none. */
void ha_broker_config_of_process(struct ha_broker_config *out);

/* The setting a cluster member cannot run with, as it would appear in
 * mosquitto.conf, or NULL. */
const char *ha_broker_conflict(const struct ha_broker_config *conf);

#endif
