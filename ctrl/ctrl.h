/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * mosquitto_ha_ctrl: a command line client of the cluster control API
 * (docs/api.md) over MQTT, with libmosquitto and jansson. It speaks to the
 * brokers as an administrator, exactly as any other client of the API does,
 * and includes nothing of the plugin.
 */
#ifndef CTRL_CTRL_H
#define CTRL_CTRL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport/address.h"

/* Exit codes, documented in --help and docs/ctrl.md. */
enum ctrl_exit {
	CTRL_EXIT_OK = 0,
	CTRL_EXIT_REFUSED = 1, /* the API refused the command */
	CTRL_EXIT_USAGE = 2,
	CTRL_EXIT_CONNECT = 3, /* cannot connect, or not authorised */
	CTRL_EXIT_TIMEOUT = 4, /* no reply, or no leader, in time */
	CTRL_EXIT_PARTIAL = 5, /* form or status: some nodes only */
};

#define CTRL_MAX_NODES 16 /* the API's limit on a cluster */
#define CTRL_NODEID_MAX 1023

struct ctrl_endpoint {
	char host[TRANSPORT_ADDRESS_MAX];
	uint16_t port;
};

/* --node ID@HOST:PORT[,mqtt=HOST:PORT] */
struct ctrl_node_spec {
	unsigned id;
	struct ctrl_endpoint cluster;
	bool has_mqtt;
	struct ctrl_endpoint mqtt;
};

struct ctrl_conn_opts {
	const char *host; /* NULL: localhost */
	unsigned port;	  /* 0: 1883, or 8883 with TLS */
	const char *username;
	const char *password;
	const char *cafile;
	const char *capath;
	const char *cert;
	const char *key;
	const char *tls_version;
	bool insecure;
	int protocol; /* MQTT_PROTOCOL_V31, _V311 or _V5 */
	const char *client_id;
};

struct ctrl_args {
	struct ctrl_conn_opts conn;
	const char *command;
	const char *name;
	const char *syncmode; /* "full" or "dynsec"; NULL: not given */
	struct ctrl_node_spec nodes[CTRL_MAX_NODES];
	size_t node_count;
	bool nodes_from_file; /* the --node of the options file only */
	long me;	      /* 0: not given */
	long id;	      /* 0: not given */
	bool json;
	double timeout_s;
	double watch_s; /* 0: no --watch */
	const char *options_file;
	bool help;
};

/* args.c: the command line and the options file. CTRL_EXIT_OK, or
 * CTRL_EXIT_USAGE after saying why on stderr. `*storage` keeps the options
 * file's text alive for as long as `out` is used (free() it then). */
int ctrl_args_parse(int argc, char **argv, struct ctrl_args *out,
		    char **storage);
/* Parses one --node value; 0, or -1 with the reason in why. */
int ctrl_node_spec_parse(const char *text, struct ctrl_node_spec *out,
			 char *why, size_t why_len);
void ctrl_endpoint_format(const struct ctrl_endpoint *ep, char *out,
			  size_t len);
/* The broker that single commands go to (-h/-p, or the node they name). */
void ctrl_default_endpoint(const struct ctrl_args *a,
			   const struct ctrl_node_spec *fallback,
			   struct ctrl_endpoint *out);

/* session.c: one administrator connection to one broker. */
enum ctrl_session_state {
	CTRL_S_CONNECTING,
	CTRL_S_SUBSCRIBING,
	CTRL_S_READY,	/* subscribed to the response topic, idle */
	CTRL_S_WAITING, /* a request is out */
	CTRL_S_FAILED,
};

enum ctrl_failure {
	CTRL_FAIL_NONE,
	CTRL_FAIL_CONNECT, /* no connection, or it was lost */
	CTRL_FAIL_AUTH,	   /* refused at CONNACK or SUBACK */
	CTRL_FAIL_TIMEOUT, /* no CONNACK, SUBACK or reply in time */
	CTRL_FAIL_MEMORY,
};

struct ctrl_session;

/* Starts connecting (it goes on in ctrl_sessions_run); NULL only when out
 * of memory. A connection that fails at once gives a FAILED session. */
struct ctrl_session *ctrl_session_open(const struct ctrl_conn_opts *conn,
				       const struct ctrl_endpoint *ep);
/* The same on another API's topics (static strings), such as
 * $CONTROL/dynamic-security/v1 and its response topic. */
struct ctrl_session *ctrl_session_open_on(const struct ctrl_conn_opts *conn,
					  const struct ctrl_endpoint *ep,
					  const char *request_topic,
					  const char *response_topic);
void ctrl_session_close(struct ctrl_session *s);
enum ctrl_session_state ctrl_session_state(const struct ctrl_session *s);
enum ctrl_failure ctrl_session_failure(const struct ctrl_session *s);
const char *ctrl_session_error(const struct ctrl_session *s);
const struct ctrl_endpoint *ctrl_session_endpoint(const struct ctrl_session *s);
/* Sends a request of the command objects in `commands` (a JSON array; each
 * gets a correlationData of its own) on a READY session. 0, or -1 with the
 * session FAILED. */
int ctrl_session_send(struct ctrl_session *s, json_t *commands);
/* The responses of the last request once it was answered (READY again),
 * one per command, in order; a new reference, or NULL. */
json_t *ctrl_session_take_reply(struct ctrl_session *s);
/* Runs every session's network traffic until none is CONNECTING,
 * SUBSCRIBING or WAITING, or until `deadline` (ctrl_now()), when those still
 * are fail with CTRL_FAIL_TIMEOUT. */
void ctrl_sessions_run(struct ctrl_session **sessions, size_t n,
		       double deadline);
double ctrl_now(void);
/* The exit code that a failed session stands for. */
int ctrl_failure_exit(enum ctrl_failure f);
bool ctrl_interrupted(void);

/* commands.c: the subcommands that send one request to one broker. */
int ctrl_run_single(const struct ctrl_args *a);

/* status.c */
int ctrl_run_status(const struct ctrl_args *a);

/* form.c */
int ctrl_run_form(const struct ctrl_args *a);

/* export.c: the cluster's access-control data, in the stock
 * dynamic-security file format, on stdout. */
int ctrl_run_dynsec_export(const struct ctrl_args *a);

/* Helpers shared by the subcommands (commands.c). */
json_t *ctrl_node_list(const struct ctrl_args *a, unsigned mine);
/* One request to each session at once; afterwards each has its reply or
 * has failed. */
void ctrl_ask_all(struct ctrl_session **sessions, size_t n, json_t *commands,
		  double deadline);
/* The response's error sentence, or NULL. */
const char *ctrl_response_error(json_t *response);
void ctrl_print_json(json_t *value);

#endif
