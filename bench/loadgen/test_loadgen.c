/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The load generator's command line and latency histogram. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bench/loadgen/histogram.h"
#include "bench/loadgen/options.h"

static int parse(struct loadgen_options *o, char *err, const char *const *args)
{
	char *argv[32] = {"ha-loadgen"};
	int argc = 1;
	for (; args[argc - 1] != NULL; argc++)
		argv[argc] = (char *)args[argc - 1];
	return loadgen_options_parse(o, argc, argv, err, 256);
}

static void defaults_and_every_option(void **state)
{
	(void)state;
	struct loadgen_options o;
	char err[256];
	const char *none[] = {NULL};
	assert_int_equal(parse(&o, err, none), 0);
	assert_int_equal(o.publishers, 1);
	assert_int_equal(o.payload, 64);
	assert_false(o.retain);
	const char *all[] = {"--host",
			     "127.0.0.2",
			     "--port",
			     "1999",
			     "--username",
			     "u",
			     "--password",
			     "p",
			     "--publishers",
			     "4",
			     "--subscribers",
			     "2",
			     "--qos",
			     "1",
			     "--retain",
			     "--persistent",
			     "--payload",
			     "4096",
			     "--count",
			     "500",
			     "--seconds",
			     "2.5",
			     "--window",
			     "8",
			     "--rate",
			     "1000",
			     "--topic-prefix",
			     "t/x",
			     "--sink",
			     "--topics",
			     "7",
			     NULL};
	assert_int_equal(parse(&o, err, all), 0);
	assert_string_equal(o.host, "127.0.0.2");
	assert_int_equal(o.port, 1999);
	assert_string_equal(o.username, "u");
	assert_string_equal(o.password, "p");
	assert_int_equal(o.publishers, 4);
	assert_int_equal(o.subscribers, 2);
	assert_int_equal(o.qos, 1);
	assert_true(o.retain && o.persistent && o.sink);
	assert_int_equal(o.payload, 4096);
	assert_int_equal(o.count, 500);
	assert_true(o.seconds == 2.5);
	assert_int_equal(o.window, 8);
	assert_true(o.rate == 1000.0);
	assert_string_equal(o.topic_prefix, "t/x");
	assert_int_equal(o.topics, 7);
}

static void refusals(void **state)
{
	(void)state;
	struct loadgen_options o;
	char err[256];
	const char *cases[][4] = {
	    {"--qos", "2", NULL},
	    {"--payload", "15", NULL}, /* below the timing header */
	    {"--publishers", "0", NULL},
	    {"--publishers", "257", NULL},
	    {"--count", "0", NULL},
	    {"--count", "12x", NULL},
	    {"--seconds", "0", NULL},
	    {"--port", "70000", NULL},
	    {"--persistent", NULL}, /* QoS 0 */
	    {"--topic-prefix", "a/#", NULL},
	    {"--bogus", "1", NULL},
	    {"--count", NULL}, /* value missing */
	    {"--topics", "0", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		assert_int_equal(parse(&o, err, cases[i]), -1);
		assert_true(strlen(err) > 0);
	}
	const char *help[] = {"--help", NULL};
	assert_int_equal(parse(&o, err, help), -2);
}

static void histogram_percentiles(void **state)
{
	(void)state;
	static struct histogram h;
	assert_int_equal(histogram_percentile(&h, 50), 0);
	for (uint64_t v = 1; v <= 1000; v++)
		histogram_add(&h, v * 1000);
	uint64_t p50 = histogram_percentile(&h, 50);
	uint64_t p99 = histogram_percentile(&h, 99);
	/* Within a bucket's width (1/32) below the exact value. */
	assert_true(p50 <= 500000 && p50 >= 500000 - 500000 / 32);
	assert_true(p99 <= 990000 && p99 >= 990000 - 990000 / 32);
	assert_int_equal(histogram_percentile(&h, 100), 1000000);
	static struct histogram other;
	histogram_add(&other, 7);
	histogram_add(&other, UINT64_MAX);
	histogram_merge(&h, &other);
	assert_int_equal(h.total, 1002);
	assert_int_equal(histogram_percentile(&h, 0.05), 7);
	assert_true(histogram_percentile(&h, 100) == UINT64_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(defaults_and_every_option),
	    cmocka_unit_test(refusals),
	    cmocka_unit_test(histogram_percentiles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
