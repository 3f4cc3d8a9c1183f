/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The broker's services that every part of the plugin uses, on the broker
 * thread: its log (the plugin's own lines, and those other threads queued)
 * and publishing a control reply. */
#include <stdarg.h>
#include <stdio.h>

#pragma GCC visibility push(default)
#include <mosquitto.h>
#if LIBMOSQUITTO_MAJOR == 2 && LIBMOSQUITTO_MINOR == 0
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#endif
#pragma GCC visibility pop

#include "plugin/ha.h"

static void log_line(int level, const char *fmt, va_list ap)
{
	char msg[600];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	mosquitto_log_printf(level, HA_LOG_PREFIX "%s", msg);
}

void ha_log(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_line(level, fmt, ap);
	va_end(ap);
}

void ha_log_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_line(MOSQ_LOG_NOTICE, fmt, ap);
	va_end(ap);
}

void ha_log_warning(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_line(MOSQ_LOG_WARNING, fmt, ap);
	va_end(ap);
}

void ha_log_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_line(MOSQ_LOG_ERR, fmt, ap);
	va_end(ap);
}

static void write_node_line(int level, const char *text)
{
	int mosq_level;
	switch (level) {
	case HA_NODE_LOG_ERROR:
		mosq_level = MOSQ_LOG_ERR;
		break;
	case HA_NODE_LOG_WARNING:
	case -1: /* lines were dropped */
		mosq_level = MOSQ_LOG_WARNING;
		break;
	case HA_NODE_LOG_INFO:
		mosq_level = MOSQ_LOG_NOTICE;
		break;
	default:
		mosq_level = MOSQ_LOG_DEBUG;
		break;
	}
	mosquitto_log_printf(mosq_level, HA_LOG_PREFIX "%s", text);
}

void ha_log_flush(struct ha_plugin *ha)
{
	ha_log_queue_drain(&ha->log_queue, write_node_line);
}

void ha_publish_reply(struct ha_plugin *ha, const char *payload, size_t len)
{
	int rv = mosquitto_broker_publish_copy(
	    NULL, HA_CONTROL_RESPONSE_TOPIC, (int)len, payload, 0, false, NULL);
	if (rv != MOSQ_ERR_SUCCESS)
		ha_log_error("cannot publish a control reply: %s",
			     mosquitto_strerror(rv));
	/* The broker sends queued messages on its next loop pass: make that
	 * pass come now rather than at its next idle tick. */
	ha_wake_later(&ha->wake);
}
