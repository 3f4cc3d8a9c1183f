/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
#include "bench/loadgen/options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void defaults(struct loadgen_options *o)
{
	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->port = 1883;
	o->topic_prefix = "loadgen";
	o->publishers = 1;
	o->subscribers = 1;
	o->qos = 0;
	o->payload = 64;
	o->count = 10000;
	o->seconds = 30.0;
	o->window = 100;
	o->topics = 1;
}

static int parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= min && v <= max))
		return -1;
	*out = v;
	return 0;
}

/* An option that takes a number: its value checked against [min, max]. */
struct number_option {
	const char *name;
	long min, max;
	long *target;
};

static int set_number(struct loadgen_options *o, const char *name,
		      const char *value, char *err, size_t errlen)
{
	long publishers = o->publishers, subscribers = o->subscribers;
	long qos = o->qos, port = o->port, window = o->window;
	long payload = (long)o->payload;
	struct number_option numbers[] = {
	    {"--port", 1, 65535, &port},
	    {"--publishers", 0, LOADGEN_MAX_CLIENTS, &publishers},
	    {"--subscribers", 0, LOADGEN_MAX_CLIENTS, &subscribers},
	    {"--qos", 0, 1, &qos},
	    {"--payload", LOADGEN_HEADER_BYTES, LOADGEN_MAX_PAYLOAD, &payload},
	    {"--count", 1, 1000000000L, &o->count},
	    {"--window", 1, 65535, &window},
	    {"--topics", 1, 100000000L, &o->topics},
	};
	for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
		if (strcmp(name, numbers[i].name) != 0)
			continue;
		if (parse_long(value, numbers[i].min, numbers[i].max,
			       numbers[i].target) != 0) {
			snprintf(
			    err, errlen,
			    "%s: '%s' is not a whole number from %ld to %ld",
			    name, value, numbers[i].min, numbers[i].max);
			return -1;
		}
		o->publishers = (int)publishers;
		o->subscribers = (int)subscribers;
		o->qos = (int)qos;
		o->port = (int)port;
		o->window = (int)window;
		o->payload = (size_t)payload;
		return 0;
	}
	if (strcmp(name, "--seconds") == 0 &&
	    parse_double(value, 0.001, 86400.0, &o->seconds) == 0)
		return 0;
	if (strcmp(name, "--rate") == 0 &&
	    parse_double(value, 0.0, 1e9, &o->rate) == 0)
		return 0;
	if (strcmp(name, "--seconds") == 0 || strcmp(name, "--rate") == 0) {
		snprintf(err, errlen, "%s: '%s' is not a number in range", name,
			 value);
		return -1;
	}
	snprintf(err, errlen, "unknown option %s", name);
	return -1;
}

static int set_string(struct loadgen_options *o, const char *name,
		      const char *value)
{
	const char **target = NULL;
	if (strcmp(name, "--host") == 0)
		target = &o->host;
	else if (strcmp(name, "--username") == 0)
		target = &o->username;
	else if (strcmp(name, "--password") == 0)
		target = &o->password;
	else if (strcmp(name, "--topic-prefix") == 0)
		target = &o->topic_prefix;
	if (target == NULL)
		return 1;
	*target = value;
	return 0;
}

static int check(const struct loadgen_options *o, char *err, size_t errlen)
{
	if (o->publishers == 0) {
		snprintf(err, errlen, "--publishers must be at least 1");
		return -1;
	}
	if (o->persistent && o->subscribers == 0) {
		snprintf(err, errlen, "--persistent needs subscribers");
		return -1;
	}
	if (o->persistent && o->qos == 0) {
		snprintf(
		    err, errlen,
		    "--persistent needs --qos 1 (a session queues only QoS 1)");
		return -1;
	}
	if (o->topic_prefix[0] == '\0' ||
	    strpbrk(o->topic_prefix, "#+") != NULL) {
		snprintf(err, errlen,
			 "--topic-prefix must be a non-empty topic without "
			 "wildcards");
		return -1;
	}
	return 0;
}

int loadgen_options_parse(struct loadgen_options *opts, int argc, char **argv,
			  char *err, size_t errlen)
{
	defaults(opts);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0)
			return -2;
		if (strcmp(a, "--retain") == 0) {
			opts->retain = true;
			continue;
		}
		if (strcmp(a, "--persistent") == 0) {
			opts->persistent = true;
			continue;
		}
		if (strcmp(a, "--sink") == 0) {
			opts->sink = true;
			continue;
		}
		if (i + 1 >= argc) {
			snprintf(err, errlen, "%s needs a value", a);
			return -1;
		}
		const char *value = argv[++i];
		int rc = set_string(opts, a, value);
		if (rc == 0)
			continue;
		if (set_number(opts, a, value, err, errlen) != 0)
			return -1;
	}
	return check(opts, err, errlen);
}

void loadgen_options_usage(const char *prog)
{
	fprintf(
	    stderr,
	    "usage: %s [options]\n"
	    "  --host H --port P          the broker (127.0.0.1:1883)\n"
	    "  --username U --password W  credentials\n"
	    "  --publishers N             publishing clients (1)\n"
	    "  --subscribers M            clients subscribed to every message "
	    "(1)\n"
	    "  --qos 0|1                  of publishes and subscriptions (0)\n"
	    "  --retain                   publish retained messages\n"
	    "  --persistent               subscribers keep their session\n"
	    "  --payload BYTES            per message, >= %d (64)\n"
	    "  --count N                  messages per publisher (10000)\n"
	    "  --seconds S                the run ends by then (30)\n"
	    "  --window W                 unacknowledged messages per "
	    "publisher (100)\n"
	    "  --rate R                   messages/s per publisher, 0 = no "
	    "limit (0)\n"
	    "  --topic-prefix T           topics are T/p<publisher> (loadgen)\n"
	    "  --topics N                 each publisher cycles over N "
	    "topics,\n"
	    "                             T/p<publisher>/<n> (1: "
	    "T/p<publisher>)\n"
	    "  --sink                     against a built-in minimal broker: "
	    "the\n"
	    "                             generator's own ceiling\n"
	    "Prints one JSON object: rates, MB/s, latency percentiles.\n",
	    prog, LOADGEN_HEADER_BYTES);
}
