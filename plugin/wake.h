/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Waking the broker thread out of its event wait, so that work handed to it
 * (by the raft thread, or a control reply the plugin queued itself) is done
 * now and not at the broker's next idle tick, up to 100 ms later. */
#ifndef HA_WAKE_H
#define HA_WAKE_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct ha_wake {
	pthread_t broker;
	int signal;
	/* A thread of its own for wakes asked by the broker thread itself: a
	 * signal it sent itself would arrive before it starts to wait. */
	pthread_t thread;
	sem_t requests;
	bool running;
	volatile bool stop;
	/* A signal was sent since the broker thread last took its events. */
	atomic_bool signalled;
	/* CLOCK_MONOTONIC ns: when the broker thread last began to take its
	 * events (its TICK), and when a wake was last asked for. */
	_Atomic int64_t taken_ns;
	_Atomic int64_t wanted_ns;
};

/* Called on the broker thread. */
int ha_wake_init(struct ha_wake *w, int signal);
void ha_wake_cleanup(struct ha_wake *w);
/* From any other thread: wake the broker thread now, or within 0.2 ms
 * when it is busy or was signalled already (plugin/wake.c). */
void ha_wake_broker(struct ha_wake *w);
/* From the broker thread, before it takes what other threads handed it:
 * the next ha_wake_broker signals again. */
void ha_wake_taken(struct ha_wake *w);
/* From the broker thread: wake it again once it waits. */
void ha_wake_later(struct ha_wake *w);

#endif
