/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* What commands.c and queries.c share. */
#ifndef HA_PLUGIN_DYNSEC_COMMANDS_H
#define HA_PLUGIN_DYNSEC_COMMANDS_H

#include "plugin/dynsec/internal.h"

/* One command being handled. A handler returns NULL (and fills op for a
 * change, or data for a query) or the error sentence of its reply. */
struct ha_dynsec__ctx {
	struct ha_dynsec *work;
	const json_t *cmd;
	struct ha_dynsec__op op;
	json_t *data; /* a query's "data" */
};

/* A string member: 0 (*out NULL when absent and optional), -1 absent and
 * required, not a string, or too long for a record. */
int ha_dynsec__cmd_string(const json_t *cmd, const char *key, bool optional,
			  const char **out);
/* A number member as the stock plugin reads it, or absent. */
int32_t ha_dynsec__cmd_int(const json_t *cmd, const char *key, int32_t absent);

/* The queries (queries.c). */
const char *ha_dynsec__get_client(struct ha_dynsec__ctx *x);
const char *ha_dynsec__list_clients(struct ha_dynsec__ctx *x);
const char *ha_dynsec__get_group(struct ha_dynsec__ctx *x);
const char *ha_dynsec__list_groups(struct ha_dynsec__ctx *x);
const char *ha_dynsec__get_role(struct ha_dynsec__ctx *x);
const char *ha_dynsec__list_roles(struct ha_dynsec__ctx *x);
const char *ha_dynsec__get_default_access(struct ha_dynsec__ctx *x);
const char *ha_dynsec__get_anonymous_group(struct ha_dynsec__ctx *x);
const char *ha_dynsec__get_details(struct ha_dynsec__ctx *x);
const char *ha_dynsec__export_config(struct ha_dynsec__ctx *x);

#endif
