/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Reading mosquitto.conf the way the broker does, for the few settings the
 * plugin must know. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/broker_config.h"

#define INCLUDE_DEPTH_MAX 4

static void set_bool(bool *field, const char *value)
{
	if (strcmp(value, "true") == 0)
		*field = true;
	else if (strcmp(value, "false") == 0)
		*field = false;
}

/* plugin, global_plugin (2.1) and auth_plugin (2.0's older name) load a
 * plugin; the stock dynamic-security one is found by its file name. */
static bool loads_stock_dynsec(const char *key, const char *value)
{
	if (strcmp(key, "plugin") != 0 && strcmp(key, "global_plugin") != 0 &&
	    strcmp(key, "auth_plugin") != 0)
		return false;
	const char *base = strrchr(value, '/');
	base = base != NULL ? base + 1 : value;
	return strncmp(base, "mosquitto_dynamic_security", 26) == 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void read_file(const char *path, struct ha_broker_config *out,
		      int depth);

/* The broker reads an include_dir's *.conf files in name order. */
static void read_dir(const char *dir, struct ha_broker_config *out, int depth)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return;
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (l < 6 || strcmp(e->d_name + l - 5, ".conf") != 0)
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **bigger = realloc(names, ncap * sizeof(*names));
			if (bigger == NULL)
				break;
			names = bigger;
			cap = ncap;
		}
		names[n] = strdup(e->d_name);
		if (names[n] == NULL)
			break;
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; i < n; i++) {
		char sub[4096];
		snprintf(sub, sizeof(sub), "%s/%s", dir, names[i]);
		read_file(sub, out, depth + 1);
		free(names[i]);
	}
	free(names);
}

static void read_file(const char *path, struct ha_broker_config *out, int depth)
{
	if (depth > INCLUDE_DEPTH_MAX)
		return;
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return;
	char line[1024];
	while (fgets(line, sizeof(line), f) != NULL) {
		char key[64], value[900];
		if (sscanf(line, " %63s %899s", key, value) != 2 ||
		    key[0] == '#')
			continue;
		if (strcmp(key, "per_listener_settings") == 0)
			set_bool(&out->per_listener_settings, value);
		else if (strcmp(key, "persistence") == 0)
			set_bool(&out->persistence, value);
		else if (strcmp(key, "retain_available") == 0)
			set_bool(&out->retain_available, value);
		else if (loads_stock_dynsec(key, value))
			out->stock_dynsec = true;
		else if (strcmp(key, "include_dir") == 0)
			read_dir(value, out, depth);
	}
	fclose(f);
}

static void defaults(struct ha_broker_config *out)
{
	out->per_listener_settings = false;
	out->persistence = false;
	out->retain_available = true;
	out->stock_dynsec = false;
}

void ha_broker_config_read(const char *path, struct ha_broker_config *out)
{
	defaults(out);
	read_file(path, out, 0);
}

void ha_broker_config_of_process(struct ha_broker_config *out)
{
	defaults(out);
	FILE *f = fopen("/proc/self/cmdline", "r");
	if (f == NULL)
		return;
	char buf[4096];
	size_t len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	for (size_t i = 0; i < len;) {
		const char *arg = buf + i;
		size_t l = strlen(arg);
		if ((strcmp(arg, "-c") == 0 ||
		     strcmp(arg, "--config-file") == 0) &&
		    i + l + 1 < len)
			read_file(arg + l + 1, out, 0);
		i += l + 1;
	}
}

const char *ha_broker_conflict(const struct ha_broker_config *conf)
{
	/* mosquitto.db would bring back state older than the log's, and
	 * without retained messages there is nothing to replicate. */
	if (conf->persistence)
		return "persistence true";
	if (!conf->retain_available)
		return "retain_available false";
	return NULL;
}
