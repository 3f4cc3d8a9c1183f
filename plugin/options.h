/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The plugin's plugin_opt_* settings, parsed and checked at start: a bad
 * value stops the broker with a message that names the option. */
#ifndef HA_OPTIONS_H
#define HA_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HA_MAX_ADMIN_USERS 32

struct ha_option_kv {
	const char *key; /* without the plugin_opt_ prefix */
	const char *value;
};

struct ha_options {
	char *data_dir;
	uint8_t *secret;
	size_t secret_len;
	char *tls_cafile;
	char *tls_certfile;
	char *tls_keyfile;
	bool insecure_plaintext;
	char *cluster_bind;  /* NULL: listen on the advertised address */
	char *health_listen; /* NULL: no HTTP endpoint */
	char *admin_users[HA_MAX_ADMIN_USERS];
	size_t n_admin_users;
	int admin_port; /* 2.1: clients of this listener are admins */
	int64_t election_timeout_ms;
	int64_t heartbeat_interval_ms;
	uint32_t max_clock_drift_ppm;
	bool acl_fallback_allow;    /* no other access control follows us */
	uint64_t snapshot_interval; /* entries between snapshots */
	/* Retained changes acknowledged and not committed (on the leader),
	 * and committed work waiting for this broker (every node), in bytes
	 * at most each. */
	uint64_t backlog_limit_bytes;
	/* The highest cluster feature level this node advertises (and so
	 * lets the cluster raise to); HA_FEATURE_LEVEL_MAX by default. */
	uint32_t feature_level;
	/* plugin_opt_access_control dynsec: this plugin serves logins, ACL
	 * checks and $CONTROL/dynamic-security/v1 (docs/access-control.md). */
	bool access_control;
	char *dynsec_file; /* the stock plugin's file; NULL: none */
};

/* Returns 0, or -1 with a sentence in err that names the option. */
int ha_options_parse(const struct ha_option_kv *kv, size_t n,
		     struct ha_options *out, char *err, size_t errlen);
void ha_options_free(struct ha_options *o);
bool ha_options_is_admin(const struct ha_options *o, const char *username);

#endif
