/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* A leader told to shut down (SIGTERM, SIGINT) hands leadership over as the
 * signal arrives. The broker calls the plugin's cleanup only at the end of
 * its own shutdown, after it has freed every client, session and queued
 * message, which with a large state takes hundreds of milliseconds: waiting
 * for it left the cluster without a serving leader that long.
 *
 * The broker installs its handlers after loading plugins, so ours go in at
 * the first TICK: each asks the node to hand over (async-signal-safe), then
 * runs the broker's own handler. Our threads block both signals, so they
 * reach the broker thread, which also frees the node: the handler never
 * runs while another thread frees the node it is about to use. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "node/node.h"
#include "plugin/shutdown.h"

static struct ha_node *_Atomic signal_node;
static const int sigs[2] = {SIGTERM, SIGINT};
static struct sigaction broker_action[2]; /* of sigs[] */
static bool installed;

static int slot_of(int sig)
{
	return sig == SIGTERM ? 0 : 1;
}

static void on_shutdown_signal(int sig, siginfo_t *info, void *context)
{
	int saved = errno;
	struct ha_node *node = atomic_load(&signal_node);
	if (node != NULL)
		ha_node_hand_over_now(node);
	const struct sigaction *broker = &broker_action[slot_of(sig)];
	if (broker->sa_flags & SA_SIGINFO) {
		broker->sa_sigaction(sig, info, context);
	} else if (broker->sa_handler == SIG_DFL) {
		/* Nobody handled it before us: the default, which ends the
		 * process. */
		sigaction(sig, broker, NULL);
		raise(sig);
	} else if (broker->sa_handler != SIG_IGN) {
		broker->sa_handler(sig);
	}
	errno = saved;
}

void ha_block_shutdown_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

bool ha_shutdown_signals_install(void)
{
	if (installed)
		return true;
	installed = true;
	bool all = true;
	for (int i = 0; i < 2; i++) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_shutdown_signal;
		sa.sa_flags = SA_SIGINFO | SA_RESTART;
		sigemptyset(&sa.sa_mask);
		if (sigaction(sigs[i], NULL, &broker_action[i]) != 0 ||
		    broker_action[i].sa_handler == SIG_IGN)
			continue; /* an ignored signal stays ignored */
		if (sigaction(sigs[i], &sa, NULL) != 0)
			all = false;
	}
	return all;
}

void ha_shutdown_signals_node(struct ha_node *node)
{
	atomic_store(&signal_node, node);
}

void ha_shutdown_signals_restore(void)
{
	atomic_store(&signal_node, NULL);
	if (!installed)
		return;
	installed = false;
	for (int i = 0; i < 2; i++) {
		struct sigaction now;
		/* Put back only what is still ours. */
		if (sigaction(sigs[i], NULL, &now) == 0 &&
		    (now.sa_flags & SA_SIGINFO) &&
		    now.sa_sigaction == on_shutdown_signal)
			sigaction(sigs[i], &broker_action[i], NULL);
	}
}
