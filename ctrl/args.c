/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * The command line of mosquitto_ha_ctrl and its options file. The
 * connection options are those of the mosquitto clients; the options file
 * (-o FILE) holds the same options, one a line, as mosquitto_ctrl's does.
 */
#include "ctrl/ctrl.h"

#include <errno.h>
#include <getopt.h>
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define OPTIONS_FILE_MAX (64 * 1024)
#define OPTIONS_FILE_ARGS 256

enum long_only {
	OPT_CAFILE = 256,
	OPT_CAPATH,
	OPT_CERT,
	OPT_KEY,
	OPT_TLS_VERSION,
	OPT_INSECURE,
	OPT_NAME,
	OPT_SYNCMODE,
	OPT_NODE,
	OPT_ME,
	OPT_ID,
	OPT_JSON,
	OPT_TIMEOUT,
	OPT_WATCH,
	OPT_HELP,
};

static const struct option long_options[] = {
    {"cafile", required_argument, NULL, OPT_CAFILE},
    {"capath", required_argument, NULL, OPT_CAPATH},
    {"cert", required_argument, NULL, OPT_CERT},
    {"key", required_argument, NULL, OPT_KEY},
    {"tls-version", required_argument, NULL, OPT_TLS_VERSION},
    {"insecure", no_argument, NULL, OPT_INSECURE},
    {"name", required_argument, NULL, OPT_NAME},
    {"syncmode", required_argument, NULL, OPT_SYNCMODE},
    {"node", required_argument, NULL, OPT_NODE},
    {"me", required_argument, NULL, OPT_ME},
    {"id", required_argument, NULL, OPT_ID},
    {"json", no_argument, NULL, OPT_JSON},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"watch", required_argument, NULL, OPT_WATCH},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static int usage_error(const char *fmt, const char *what)
{
	fprintf(stderr, "mosquitto_ha_ctrl: ");
	fprintf(stderr, fmt, what);
	fprintf(stderr, "\nTry 'mosquitto_ha_ctrl --help'.\n");
	return CTRL_EXIT_USAGE;
}

void ctrl_endpoint_format(const struct ctrl_endpoint *ep, char *out, size_t len)
{
	if (strchr(ep->host, ':'))
		snprintf(out, len, "[%s]:%u", ep->host, (unsigned)ep->port);
	else
		snprintf(out, len, "%s:%u", ep->host, (unsigned)ep->port);
}

static int endpoint_parse(const char *text, size_t len,
			  struct ctrl_endpoint *out, char *why, size_t why_len)
{
	char buf[TRANSPORT_ADDRESS_MAX];
	struct transport_address addr;

	if (len >= sizeof buf) {
		snprintf(why, why_len, "address too long");
		return -1;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	if (transport_address_parse(buf, TRANSPORT_ADDRESS_NAMES, &addr, why,
				    why_len) != 0)
		return -1;
	snprintf(out->host, sizeof out->host, "%s", addr.host);
	out->port = addr.port;
	return 0;
}

int ctrl_node_spec_parse(const char *text, struct ctrl_node_spec *out,
			 char *why, size_t why_len)
{
	const char *at = strchr(text, '@');
	const char *comma;
	char *end;
	unsigned long id;

	memset(out, 0, sizeof *out);
	errno = 0;
	id = strtoul(text, &end, 10);
	if (at == NULL || end != at || text[0] < '0' || text[0] > '9' ||
	    errno || id < 1 || id > CTRL_NODEID_MAX) {
		snprintf(why, why_len,
			 "expected ID@HOST:PORT with an ID from 1 to 1023");
		return -1;
	}
	out->id = (unsigned)id;
	comma = strchr(at + 1, ',');
	if (endpoint_parse(at + 1,
			   comma ? (size_t)(comma - at - 1) : strlen(at + 1),
			   &out->cluster, why, why_len) != 0)
		return -1;
	if (comma == NULL)
		return 0;
	if (strncmp(comma + 1, "mqtt=", 5) != 0) {
		snprintf(why, why_len, "after the address only mqtt=HOST:PORT");
		return -1;
	}
	if (endpoint_parse(comma + 6, strlen(comma + 6), &out->mqtt, why,
			   why_len) != 0)
		return -1;
	out->has_mqtt = true;
	return 0;
}

static int number(const char *text, double min, double max, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(text, &end);
	return errno || end == text || *end || !(*out >= min && *out <= max)
		   ? -1
		   : 0;
}

static int protocol_parse(const char *text, int *out)
{
	if (!strcmp(text, "mqttv31") || !strcmp(text, "31"))
		*out = MQTT_PROTOCOL_V31;
	else if (!strcmp(text, "mqttv311") || !strcmp(text, "311"))
		*out = MQTT_PROTOCOL_V311;
	else if (!strcmp(text, "mqttv5") || !strcmp(text, "5"))
		*out = MQTT_PROTOCOL_V5;
	else
		return -1;
	return 0;
}

/* One option of the command line or the file. `file_nodes` is true while
 * the list holds nodes of the options file only: the command line's first
 * --node replaces them. */
static int apply_option(struct ctrl_args *a, int opt, const char *val,
			bool *file_nodes, bool from_file)
{
	double d;
	char why[160];

	switch (opt) {
	case 'h':
		a->conn.host = val;
		return 0;
	case 'p':
		if (number(val, 1, 65535, &d) || d != (unsigned)d)
			return usage_error("-p %s: not a port", val);
		a->conn.port = (unsigned)d;
		return 0;
	case 'u':
		a->conn.username = val;
		return 0;
	case 'P':
		a->conn.password = val;
		return 0;
	case 'V':
		if (protocol_parse(val, &a->conn.protocol))
			return usage_error("-V %s: expected mqttv31, mqttv311 "
					   "or mqttv5",
					   val);
		return 0;
	case 'i':
		a->conn.client_id = val;
		return 0;
	case 'o':
		if (from_file)
			return usage_error("%s: -o inside an options file",
					   a->options_file);
		a->options_file = val;
		return 0;
	case OPT_CAFILE:
		a->conn.cafile = val;
		return 0;
	case OPT_CAPATH:
		a->conn.capath = val;
		return 0;
	case OPT_CERT:
		a->conn.cert = val;
		return 0;
	case OPT_KEY:
		a->conn.key = val;
		return 0;
	case OPT_TLS_VERSION:
		a->conn.tls_version = val;
		return 0;
	case OPT_INSECURE:
		a->conn.insecure = true;
		return 0;
	case OPT_NAME:
		a->name = val;
		return 0;
	case OPT_SYNCMODE:
		if (strcmp(val, "full") != 0 && strcmp(val, "dynsec") != 0)
			return usage_error("--syncmode %s: expected full or "
					   "dynsec",
					   val);
		a->syncmode = val;
		return 0;
	case OPT_NODE:
		if (*file_nodes && !from_file) {
			a->node_count = 0;
			*file_nodes = false;
		}
		if (a->node_count == CTRL_MAX_NODES)
			return usage_error("more than %s --node", "16");
		if (ctrl_node_spec_parse(val, &a->nodes[a->node_count], why,
					 sizeof why)) {
			fprintf(stderr, "mosquitto_ha_ctrl: --node %s: %s\n",
				val, why);
			return CTRL_EXIT_USAGE;
		}
		a->node_count++;
		if (from_file)
			*file_nodes = true;
		return 0;
	case OPT_ME:
	case OPT_ID:
		if (number(val, 1, CTRL_NODEID_MAX, &d) || d != (long)d)
			return usage_error("%s: not a node id (1 to 1023)",
					   val);
		*(opt == OPT_ME ? &a->me : &a->id) = (long)d;
		return 0;
	case OPT_JSON:
		a->json = true;
		return 0;
	case OPT_TIMEOUT:
		if (number(val, 0.1, 86400, &a->timeout_s))
			return usage_error("--timeout %s: expected seconds "
					   "from 0.1 to 86400",
					   val);
		return 0;
	case OPT_WATCH:
		if (number(val, 0.1, 86400, &a->watch_s))
			return usage_error("--watch %s: expected seconds "
					   "from 0.1 to 86400",
					   val);
		return 0;
	case OPT_HELP:
		a->help = true;
		return 0;
	default:
		return CTRL_EXIT_USAGE; /* getopt said why */
	}
}

static int parse_argv(int argc, char **argv, struct ctrl_args *a,
		      bool *file_nodes, bool from_file)
{
	int opt, rc;

	optind = 0; /* GNU getopt: start afresh for every pass */
	while ((opt = getopt_long(argc, argv, "h:p:u:P:V:i:o:", long_options,
				  NULL)) != -1) {
		rc = apply_option(a, opt, optarg, file_nodes, from_file);
		if (rc != 0)
			return rc;
	}
	if (from_file && optind < argc)
		return usage_error("%s: a line that is not an option",
				   a->options_file);
	if (!from_file && optind < argc)
		a->command = argv[optind++];
	if (!from_file && optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	return 0;
}

/* A file that holds a password must be readable by its owner only, as
 * ssh insists for its keys. */
static int check_secret_file(const char *path, mode_t mode)
{
	if (mode & (S_IRWXG | S_IRWXO)) {
		fprintf(stderr,
			"mosquitto_ha_ctrl: %s holds a password (-P) but "
			"others may read it (mode %04o); chmod 600 %s\n",
			path, (unsigned)(mode & 07777), path);
		return CTRL_EXIT_USAGE;
	}
	return 0;
}

static int read_file(const char *path, char **text, mode_t *mode)
{
	FILE *f = fopen(path, "r");
	struct stat st;
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "mosquitto_ha_ctrl: -o %s: %s\n", path,
			strerror(errno));
		return CTRL_EXIT_USAGE;
	}
	*text = malloc(OPTIONS_FILE_MAX + 1);
	if (*text == NULL || fstat(fileno(f), &st) != 0) {
		fclose(f);
		return usage_error("%s: out of memory, or cannot stat", path);
	}
	*mode = st.st_mode;
	n = fread(*text, 1, OPTIONS_FILE_MAX + 1, f);
	if (n > OPTIONS_FILE_MAX || ferror(f)) {
		fclose(f);
		return usage_error("%s: unreadable, or longer than 64 KiB",
				   path);
	}
	(*text)[n] = '\0';
	fclose(f);
	return 0;
}

/* Splits the file into an argument vector: each line is an option and,
 * after the first run of blanks, its value (which may hold blanks). */
static int split_lines(char *text, char **args, int *count, bool *has_password)
{
	char *line, *save = NULL;

	args[(*count)++] = "mosquitto_ha_ctrl";
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *value;
		size_t len;

		line += strspn(line, " \t\r");
		len = strlen(line);
		while (len && strchr(" \t\r", line[len - 1]))
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		if (*count + 2 >= OPTIONS_FILE_ARGS)
			return -1;
		value = line + strcspn(line, " \t");
		if (!strncmp(line, "-P", 2))
			*has_password = true;
		args[(*count)++] = line;
		if (*value) {
			*value++ = '\0';
			value += strspn(value, " \t");
			args[(*count)++] = value;
		}
	}
	args[*count] = NULL;
	return 0;
}

static void defaults(struct ctrl_args *a)
{
	memset(a, 0, sizeof *a);
	a->conn.protocol = MQTT_PROTOCOL_V311;
	a->timeout_s = 30;
}

int ctrl_args_parse(int argc, char **argv, struct ctrl_args *out,
		    char **storage)
{
	static char *file_args[OPTIONS_FILE_ARGS];
	bool file_nodes = false, has_password = false;
	int rc, count = 0;
	mode_t mode;

	*storage = NULL;
	defaults(out);
	rc = parse_argv(argc, argv, out, &file_nodes, false);
	if (rc != 0 || out->options_file == NULL || out->help)
		return rc;
	/* Again, on top of the file: the command line wins. */
	{
		const char *path = out->options_file;
		defaults(out);
		out->options_file = path;
	}
	rc = read_file(out->options_file, storage, &mode);
	if (rc != 0)
		return rc;
	if (split_lines(*storage, file_args, &count, &has_password) != 0)
		return usage_error("%s: too many lines", out->options_file);
	if (has_password && check_secret_file(out->options_file, mode))
		return CTRL_EXIT_USAGE;
	opterr = 1;
	rc = parse_argv(count, file_args, out, &file_nodes, true);
	if (rc != 0)
		return rc;
	rc = parse_argv(argc, argv, out, &file_nodes, false);
	out->nodes_from_file = file_nodes;
	return rc;
}

void ctrl_default_endpoint(const struct ctrl_args *a,
			   const struct ctrl_node_spec *fallback,
			   struct ctrl_endpoint *out)
{
	bool tls = a->conn.cafile || a->conn.capath;

	if (a->conn.host == NULL && fallback && fallback->has_mqtt) {
		*out = fallback->mqtt;
		return;
	}
	snprintf(out->host, sizeof out->host, "%s",
		 a->conn.host ? a->conn.host : "localhost");
	out->port = (uint16_t)(a->conn.port ? a->conn.port : tls ? 8883 : 1883);
}
