/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A duration histogram for the metrics (metrics.c): fixed buckets from
 * 0.5 ms to 30 s, counted per bucket (not cumulative; the exposition
 * cumulates), with the sum and the count. Observing is a few compares,
 * cheap enough for the lifecycle's hot paths.
 */
#pragma once

#include <stdint.h>

#include "common/parse.h"

#define HISTOGRAM_BUCKETS 15

/* The upper bounds, in microseconds; the last bucket (+Inf) has none. */
static const usec_t histogram_bounds[HISTOGRAM_BUCKETS] = {
    500,    1000,   2000,    5000,    10000,   25000,    50000,    100000,
    250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000,
};

struct histogram {
	uint64_t bucket[HISTOGRAM_BUCKETS + 1]; /* [HISTOGRAM_BUCKETS]: above 30 s */
	uint64_t count;
	usec_t sum;
};

static inline void histogram_observe(struct histogram *h, usec_t v)
{
	unsigned i = 0;

	while (i < HISTOGRAM_BUCKETS && v > histogram_bounds[i])
		i++;
	h->bucket[i]++;
	h->count++;
	h->sum += v;
}
