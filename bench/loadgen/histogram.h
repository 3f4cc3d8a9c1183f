/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Latencies in nanoseconds, in log-linear buckets (32 per power of two, so
 * a percentile is within about 3% of the exact value) of fixed size: a
 * long run costs no more memory than a short one. */
#ifndef BENCH_LOADGEN_HISTOGRAM_H
#define BENCH_LOADGEN_HISTOGRAM_H

#include <stdint.h>

#define HISTOGRAM_SUB_BITS 5
#define HISTOGRAM_BUCKETS ((64 - HISTOGRAM_SUB_BITS + 1) << HISTOGRAM_SUB_BITS)

struct histogram {
	uint64_t counts[HISTOGRAM_BUCKETS];
	uint64_t total;
	uint64_t max;
};

void histogram_add(struct histogram *h, uint64_t value);
void histogram_merge(struct histogram *into, const struct histogram *from);
/* The value below which p percent (0..100) of the samples lie (the lower
 * bound of its bucket; the maximum for p = 100); 0 when empty. */
uint64_t histogram_percentile(const struct histogram *h, double p);

#endif
