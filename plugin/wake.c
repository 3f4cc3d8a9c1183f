/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* A real-time signal with an empty handler ends the broker's epoll wait
 * (measured: median 0.07 ms). 2.1 uses SIGRTMIN itself, so another one.
 *
 * Under load the raft thread hands over events thousands of times a second,
 * and a signal each time cost the broker thread more than the events
 * themselves (a signal frame, and a pass of its loop each). A signal is
 * only needed when the broker may be waiting: so one at most until its next
 * TICK, and none while it ran a TICK within the last millisecond (it is
 * busy, and its next TICK takes the events). Either way the wake thread
 * looks again 0.2 ms and 2 ms later and signals then if no TICK began since
 * the last request: that also covers a signal that arrived just before the
 * broker started to wait (and so did not end that wait). */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "plugin/shutdown.h"
#include "plugin/wake.h"

static void on_signal(int sig)
{
	(void)sig;
}

#define BUSY_NS 1000000 /* a TICK this recent: the broker is busy */

static int64_t monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void signal_broker(struct ha_wake *w)
{
	pthread_kill(w->broker, w->signal);
}

/* Only ever later: threads asking at the same time may store out of order. */
static void raise_wanted(struct ha_wake *w, int64_t when)
{
	int64_t seen = atomic_load(&w->wanted_ns);
	while (seen < when &&
	       !atomic_compare_exchange_weak(&w->wanted_ns, &seen, when))
		;
}

/* Whether no TICK began since the last request. */
static bool still_wanted(struct ha_wake *w)
{
	return atomic_load(&w->taken_ns) <= atomic_load(&w->wanted_ns);
}

void ha_wake_broker(struct ha_wake *w)
{
	int64_t now = monotonic_ns();
	if (now - atomic_load(&w->taken_ns) >= BUSY_NS &&
	    !atomic_exchange(&w->signalled, true)) {
		raise_wanted(w, now);
		signal_broker(w);
		return;
	}
	ha_wake_later(w);
}

void ha_wake_taken(struct ha_wake *w)
{
	atomic_store(&w->signalled, false);
	atomic_store(&w->taken_ns, monotonic_ns());
}

static void *wake_thread(void *arg)
{
	struct ha_wake *w = arg;
	pthread_setname_np(pthread_self(), "ha-wake");
	ha_block_shutdown_signals();
	for (;;) {
		while (sem_wait(&w->requests) != 0 && errno == EINTR)
			;
		if (w->stop)
			return NULL;
		/* Twice: once the broker thread has most likely reached its
		 * wait, and once more in case it had not. */
		struct timespec first = {0, 200000}, again = {0, 2000000};
		nanosleep(&first, NULL);
		if (still_wanted(w))
			signal_broker(w);
		nanosleep(&again, NULL);
		if (still_wanted(w))
			signal_broker(w);
	}
}

int ha_wake_init(struct ha_wake *w, int signal)
{
	memset(w, 0, sizeof(*w));
	w->broker = pthread_self();
	w->signal = signal;
	atomic_init(&w->signalled, false);
	atomic_init(&w->taken_ns, 0);
	atomic_init(&w->wanted_ns, 0);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(signal, &sa, NULL) != 0)
		return -1;
	if (sem_init(&w->requests, 0, 0) != 0)
		return -1;
	if (pthread_create(&w->thread, NULL, wake_thread, w) != 0) {
		sem_destroy(&w->requests);
		return -1;
	}
	w->running = true;
	return 0;
}

void ha_wake_later(struct ha_wake *w)
{
	raise_wanted(w, monotonic_ns());
	int pending = 0;
	/* One pending request is enough. */
	if (w->running && sem_getvalue(&w->requests, &pending) == 0 &&
	    pending == 0)
		sem_post(&w->requests);
}

void ha_wake_cleanup(struct ha_wake *w)
{
	if (!w->running)
		return;
	w->stop = true;
	sem_post(&w->requests);
	pthread_join(w->thread, NULL);
	sem_destroy(&w->requests);
	w->running = false;
}
