/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* A leader hands over as SIGTERM or SIGINT arrives (plugin/shutdown.c). */
#ifndef HA_PLUGIN_SHUTDOWN_H
#define HA_PLUGIN_SHUTDOWN_H

#include <stdbool.h>

struct ha_node;

/* At the first TICK, after the broker installed its own handlers; false
 * if a handler could not be installed (that signal hands over late). */
bool ha_shutdown_signals_install(void);
/* The running node a signal hands over (NULL: none). */
void ha_shutdown_signals_node(struct ha_node *node);
/* Before the plugin goes: the broker's handlers back. */
void ha_shutdown_signals_restore(void);
/* Every thread of the plugin blocks both signals, which so reach the
 * broker's thread (which they must wake). */
void ha_block_shutdown_signals(void);

#endif
