/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "plugin/options.h"
#include "plugin/records.h"
#include "transport/address.h"

#define SECRET_MIN 16
#define SECRET_MAX 4096

/* Every option the plugin accepts (without the plugin_opt_ prefix), with the
 * value it takes when the option is not given (NULL: none). A name not listed
 * here is refused; parse_one handles each listed one. docs/plugin.md and the
 * README document the same names and defaults (the docs-checks suite compares
 * them with this table). */
static const struct option_spec {
	const char *name;
	const char *fallback;
} option_specs[] = {
    {"data_dir", NULL},
    {"cluster_secret", NULL},
    {"cluster_secret_file", NULL},
    {"tls_cafile", NULL},
    {"tls_certfile", NULL},
    {"tls_keyfile", NULL},
    {"insecure_plaintext", "false"},
    {"cluster_bind", NULL},
    {"health_listen", NULL},
    {"admin_users", NULL},
    {"admin_port", NULL},
    /* Failover within a second: a new leader after 400 to 800 ms plus two
     * round trips. */
    {"election_timeout", "400"},
    {"heartbeat_interval", "40"},
    {"max_clock_drift_ppm", "50000"},
    {"acl_fallback", "defer"},
    /* Entries between snapshots of the replicated state. */
    {"snapshot_interval", "10000"},
    /* Megabytes of backlog: acknowledged and not committed (leader), or
     * committed and not applied by this broker (every node). */
    {"backlog_limit", "64"},
    /* NULL: the highest level this code implements (set after parsing). */
    {"feature_level", NULL},
    /* dynsec: logins, ACLs and the dynamic-security control topic from
     * the replicated access-control data. */
    {"access_control", "none"},
    {"dynsec_file", NULL},
};

#define N_OPTION_SPECS (sizeof(option_specs) / sizeof(option_specs[0]))

static bool option_listed(const char *name)
{
	for (size_t i = 0; i < N_OPTION_SPECS; i++)
		if (strcasecmp(option_specs[i].name, name) == 0)
			return true;
	return false;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int parse_bool(const char *key, const char *v, bool *out, char *err,
		      size_t errlen)
{
	if (strcasecmp(v, "true") == 0) {
		*out = true;
		return 0;
	}
	if (strcasecmp(v, "false") == 0) {
		*out = false;
		return 0;
	}
	return fail(err, errlen,
		    "plugin_opt_%s must be true or false, not '%s'", key, v);
}

static int parse_int(const char *key, const char *v, long long lo, long long hi,
		     long long *out, char *err, size_t errlen)
{
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || x < lo || x > hi)
		return fail(
		    err, errlen,
		    "plugin_opt_%s must be an integer from %lld to %lld, "
		    "not '%s'",
		    key, lo, hi, v);
	*out = x;
	return 0;
}

static int set_string(char **dst, const char *key, const char *v, char *err,
		      size_t errlen)
{
	if (*dst != NULL)
		return fail(err, errlen, "plugin_opt_%s is given twice", key);
	if (v[0] == '\0')
		return fail(err, errlen, "plugin_opt_%s is empty", key);
	*dst = strdup(v);
	if (*dst == NULL)
		return fail(err, errlen, "out of memory");
	return 0;
}

/* host:port under the rules of transport/address.h; `flags` says whether the
 * host may be a name. */
static int set_address(char **dst, const char *key, const char *v,
		       unsigned flags, char *err, size_t errlen)
{
	struct transport_address a;
	char why[128];
	if (transport_address_parse(v, flags, &a, why, sizeof(why)) != 0)
		return fail(err, errlen,
			    "plugin_opt_%s must be host:port, not '%s': %s",
			    key, v, why);
	return set_string(dst, key, v, err, errlen);
}

static int set_secret(struct ha_options *o, const uint8_t *s, size_t len,
		      const char *key, char *err, size_t errlen)
{
	if (o->secret != NULL)
		return fail(err, errlen,
			    "plugin_opt_%s: give cluster_secret or "
			    "cluster_secret_file, once",
			    key);
	if (len < SECRET_MIN)
		return fail(
		    err, errlen,
		    "plugin_opt_%s must hold at least %d bytes of random "
		    "data",
		    key, SECRET_MIN);
	o->secret = malloc(len);
	if (o->secret == NULL)
		return fail(err, errlen, "out of memory");
	memcpy(o->secret, s, len);
	o->secret_len = len;
	return 0;
}

static int read_secret_file(struct ha_options *o, const char *path, char *err,
			    size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return fail(
		    err, errlen,
		    "plugin_opt_cluster_secret_file: cannot open %s: %s", path,
		    strerror(errno));
	uint8_t buf[SECRET_MAX + 1];
	size_t len = fread(buf, 1, sizeof(buf), f);
	bool bad = ferror(f);
	fclose(f);
	if (bad)
		return fail(err, errlen,
			    "plugin_opt_cluster_secret_file: cannot read %s",
			    path);
	if (len > SECRET_MAX)
		return fail(
		    err, errlen,
		    "plugin_opt_cluster_secret_file: %s is larger than %d "
		    "bytes",
		    path, SECRET_MAX);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--; /* the newline an editor adds is not part of it */
	int rv = set_secret(o, buf, len, "cluster_secret_file", err, errlen);
	memset(buf, 0, sizeof(buf));
	return rv;
}

static int parse_admins(struct ha_options *o, const char *v, char *err,
			size_t errlen)
{
	char *copy = strdup(v);
	if (copy == NULL)
		return fail(err, errlen, "out of memory");
	char *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		size_t l = strlen(tok);
		while (l > 0 && tok[l - 1] == ' ')
			tok[--l] = '\0';
		if (l == 0)
			continue;
		if (o->n_admin_users == HA_MAX_ADMIN_USERS) {
			free(copy);
			return fail(err, errlen,
				    "plugin_opt_admin_users: at most %d users",
				    HA_MAX_ADMIN_USERS);
		}
		o->admin_users[o->n_admin_users] = strdup(tok);
		if (o->admin_users[o->n_admin_users] == NULL) {
			free(copy);
			return fail(err, errlen, "out of memory");
		}
		o->n_admin_users++;
	}
	free(copy);
	if (o->n_admin_users == 0)
		return fail(err, errlen,
			    "plugin_opt_admin_users names no user");
	return 0;
}

static int parse_one(struct ha_options *o, const char *k, const char *v,
		     char *err, size_t errlen)
{
	long long x;
	if (!option_listed(k))
		return fail(err, errlen, "unknown option plugin_opt_%s", k);
	if (strcasecmp(k, "data_dir") == 0)
		return set_string(&o->data_dir, k, v, err, errlen);
	if (strcasecmp(k, "cluster_secret") == 0)
		return set_secret(o, (const uint8_t *)v, strlen(v), k, err,
				  errlen);
	if (strcasecmp(k, "cluster_secret_file") == 0)
		return read_secret_file(o, v, err, errlen);
	if (strcasecmp(k, "tls_cafile") == 0)
		return set_string(&o->tls_cafile, k, v, err, errlen);
	if (strcasecmp(k, "tls_certfile") == 0)
		return set_string(&o->tls_certfile, k, v, err, errlen);
	if (strcasecmp(k, "tls_keyfile") == 0)
		return set_string(&o->tls_keyfile, k, v, err, errlen);
	if (strcasecmp(k, "insecure_plaintext") == 0)
		return parse_bool(k, v, &o->insecure_plaintext, err, errlen);
	/* The cluster binds through the transport, which resolves names; the
	 * health endpoint binds an IP address as given. */
	if (strcasecmp(k, "cluster_bind") == 0)
		return set_address(&o->cluster_bind, k, v,
				   TRANSPORT_ADDRESS_NAMES, err, errlen);
	if (strcasecmp(k, "health_listen") == 0)
		return set_address(&o->health_listen, k, v, 0, err, errlen);
	if (strcasecmp(k, "admin_users") == 0)
		return parse_admins(o, v, err, errlen);
	if (strcasecmp(k, "admin_port") == 0) {
		if (parse_int(k, v, 1, 65535, &x, err, errlen))
			return -1;
		o->admin_port = (int)x;
		return 0;
	}
	if (strcasecmp(k, "election_timeout") == 0) {
		if (parse_int(k, v, 100, 60000, &x, err, errlen))
			return -1;
		o->election_timeout_ms = x;
		return 0;
	}
	if (strcasecmp(k, "heartbeat_interval") == 0) {
		if (parse_int(k, v, 10, 20000, &x, err, errlen))
			return -1;
		o->heartbeat_interval_ms = x;
		return 0;
	}
	if (strcasecmp(k, "max_clock_drift_ppm") == 0) {
		if (parse_int(k, v, 0, 250000, &x, err, errlen))
			return -1;
		o->max_clock_drift_ppm = (uint32_t)x;
		return 0;
	}
	if (strcasecmp(k, "snapshot_interval") == 0) {
		if (parse_int(k, v, 16, 100000000, &x, err, errlen))
			return -1;
		o->snapshot_interval = (uint64_t)x;
		return 0;
	}
	if (strcasecmp(k, "backlog_limit") == 0) {
		if (parse_int(k, v, 1, 4096, &x, err, errlen))
			return -1;
		o->backlog_limit_bytes = (uint64_t)x << 20;
		return 0;
	}
	if (strcasecmp(k, "feature_level") == 0) {
		if (parse_int(k, v, HA_FEATURE_LEVEL_BASE, HA_FEATURE_LEVEL_MAX,
			      &x, err, errlen))
			return -1;
		o->feature_level = (uint32_t)x;
		return 0;
	}
	if (strcasecmp(k, "access_control") == 0) {
		if (strcasecmp(v, "dynsec") == 0)
			o->access_control = true;
		else if (strcasecmp(v, "none") == 0)
			o->access_control = false;
		else
			return fail(err, errlen,
				    "plugin_opt_access_control must be dynsec "
				    "or none, not '%s'",
				    v);
		return 0;
	}
	if (strcasecmp(k, "dynsec_file") == 0)
		return set_string(&o->dynsec_file, k, v, err, errlen);
	if (strcasecmp(k, "acl_fallback") == 0) {
		if (strcasecmp(v, "allow") == 0)
			o->acl_fallback_allow = true;
		else if (strcasecmp(v, "defer") == 0)
			o->acl_fallback_allow = false;
		else
			return fail(err, errlen,
				    "plugin_opt_acl_fallback must be allow or "
				    "defer, not '%s'",
				    v);
		return 0;
	}
	/* Listed in option_specs but without a branch above: a bug that the
	 * docs-checks suite catches before it ships. */
	return fail(err, errlen, "plugin_opt_%s is listed but not handled", k);
}

int ha_options_parse(const struct ha_option_kv *kv, size_t n,
		     struct ha_options *out, char *err, size_t errlen)
{
	struct ha_options o;
	memset(&o, 0, sizeof(o));
	for (size_t i = 0; i < N_OPTION_SPECS; i++) {
		const struct option_spec *spec = &option_specs[i];
		if (spec->fallback != NULL &&
		    parse_one(&o, spec->name, spec->fallback, err, errlen) != 0)
			goto bad;
	}
	for (size_t i = 0; i < n; i++) {
		if (kv[i].key == NULL || kv[i].value == NULL) {
			fail(err, errlen, "an option without a value");
			goto bad;
		}
		if (parse_one(&o, kv[i].key, kv[i].value, err, errlen) != 0)
			goto bad;
	}
	if (o.feature_level == 0)
		o.feature_level = HA_FEATURE_LEVEL_MAX;
	if (o.data_dir == NULL) {
		fail(err, errlen,
		     "plugin_opt_data_dir is required: the folder "
		     "that holds the cluster's log");
		goto bad;
	}
	int tls = (o.tls_cafile != NULL) + (o.tls_certfile != NULL) +
		  (o.tls_keyfile != NULL);
	if (tls != 0 && tls != 3) {
		fail(err, errlen,
		     "plugin_opt_tls_cafile, plugin_opt_tls_certfile "
		     "and plugin_opt_tls_keyfile go together");
		goto bad;
	}
	if (o.secret == NULL && tls == 0 && !o.insecure_plaintext) {
		fail(err, errlen,
		     "cluster links need plugin_opt_cluster_secret(_file) or "
		     "the "
		     "plugin_opt_tls_* files (or, on a trusted private network "
		     "only, plugin_opt_insecure_plaintext true)");
		goto bad;
	}
	if (o.heartbeat_interval_ms * 3 > o.election_timeout_ms) {
		fail(
		    err, errlen,
		    "plugin_opt_heartbeat_interval (%lld ms) must be at most a "
		    "third of plugin_opt_election_timeout (%lld ms)",
		    (long long)o.heartbeat_interval_ms,
		    (long long)o.election_timeout_ms);
		goto bad;
	}
	if (o.dynsec_file != NULL && !o.access_control) {
		fail(err, errlen,
		     "plugin_opt_dynsec_file needs plugin_opt_access_control "
		     "dynsec");
		goto bad;
	}
	*out = o;
	return 0;
bad:
	ha_options_free(&o);
	return -1;
}

void ha_options_free(struct ha_options *o)
{
	free(o->data_dir);
	if (o->secret != NULL)
		memset(o->secret, 0, o->secret_len);
	free(o->secret);
	free(o->tls_cafile);
	free(o->tls_certfile);
	free(o->tls_keyfile);
	free(o->cluster_bind);
	free(o->health_listen);
	free(o->dynsec_file);
	for (size_t i = 0; i < o->n_admin_users; i++)
		free(o->admin_users[i]);
	memset(o, 0, sizeof(*o));
}

bool ha_options_is_admin(const struct ha_options *o, const char *username)
{
	if (username == NULL)
		return false;
	for (size_t i = 0; i < o->n_admin_users; i++)
		if (strcmp(o->admin_users[i], username) == 0)
			return true;
	return false;
}
