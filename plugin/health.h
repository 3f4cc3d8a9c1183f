/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The HTTP health endpoint for load balancers (GET /leader, GET /clients). */
#ifndef HA_HEALTH_H
#define HA_HEALTH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* Called on the endpoint's own thread: must be thread-safe. */
typedef bool (*ha_health_serving_fn)(void *data);

struct ha_health;

/* listen: "a.b.c.d:port" or "[v6]:port". Returns 0, or -1 with err set. */
/* serving: whether this node leads and serves (GET /leader); admits:
 * whether it admits ordinary clients (GET /clients). */
int ha_health_start(const char *listen, ha_health_serving_fn serving,
		    ha_health_serving_fn admits, void *data,
		    struct ha_health **out, char *err, size_t errlen);
void ha_health_stop(struct ha_health *h);

#endif
