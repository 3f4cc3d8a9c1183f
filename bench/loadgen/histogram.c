/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
#include "bench/loadgen/histogram.h"

#define SUB (1u << HISTOGRAM_SUB_BITS)

static unsigned bucket_of(uint64_t v)
{
	if (v < SUB)
		return (unsigned)v;
	unsigned exponent = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = exponent - HISTOGRAM_SUB_BITS;
	unsigned sub = (unsigned)(v >> shift) & (SUB - 1);
	return (shift + 1) * SUB + sub;
}

static uint64_t lower_bound_of(unsigned bucket)
{
	if (bucket < SUB)
		return bucket;
	unsigned shift = bucket / SUB - 1;
	uint64_t sub = bucket % SUB;
	return (SUB + sub) << shift;
}

void histogram_add(struct histogram *h, uint64_t value)
{
	h->counts[bucket_of(value)]++;
	h->total++;
	if (value > h->max)
		h->max = value;
}

void histogram_merge(struct histogram *into, const struct histogram *from)
{
	for (unsigned i = 0; i < HISTOGRAM_BUCKETS; i++)
		into->counts[i] += from->counts[i];
	into->total += from->total;
	if (from->max > into->max)
		into->max = from->max;
}

uint64_t histogram_percentile(const struct histogram *h, double p)
{
	if (h->total == 0)
		return 0;
	if (p >= 100.0)
		return h->max;
	/* The rank of the sample wanted, 1-based, rounded up. */
	uint64_t rank = (uint64_t)(p / 100.0 * (double)h->total);
	if ((double)rank < p / 100.0 * (double)h->total)
		rank++;
	if (rank == 0)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HISTOGRAM_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen >= rank)
			return lower_bound_of(i);
	}
	return h->max;
}
