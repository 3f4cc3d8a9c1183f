/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * status: getRaftStatus and isLeader on every node at once, as a table (or
 * JSON), once or every --watch seconds. getCluster reports cluster
 * addresses only, so the administrative endpoints come from --node.
 */
#include "ctrl/ctrl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ADDR_LEN (TRANSPORT_ADDRESS_MAX + 8)

struct row {
	json_int_t id; /* 0: unknown */
	char cluster[ADDR_LEN];
	char mqtt[ADDR_LEN];
	bool reachable;
	char error[256];
	int exit_code;	/* why it is unreachable */
	json_t *raft;	/* getRaftStatus data */
	json_t *leader; /* isLeader data */
};

static json_int_t field(json_t *o, const char *name)
{
	return json_integer_value(json_object_get(o, name));
}

static const char *role_of(const struct row *r)
{
	static const char *const states[] = {"unavailable", "follower",
					     "candidate", "leader"};
	static char text[48];
	json_int_t state = field(r->raft, "state");
	json_t *n;
	size_t i;
	const char *kind = "";

	json_array_foreach(json_object_get(r->raft, "nodes"), i, n)
	{
		if (field(n, "id") != r->id)
			continue;
		kind = field(n, "role") == 0   ? "/standby"
		       : field(n, "role") == 2 ? "/spare"
					       : "";
	}
	snprintf(text, sizeof text, "%s%s",
		 state >= 0 && state <= 3 ? states[state] : "?", kind);
	return text;
}

/* The cluster address a node gives itself, when --node did not. */
static void own_address(struct row *r)
{
	json_t *n;
	size_t i;

	json_array_foreach(json_object_get(r->raft, "nodes"), i, n)
	{
		if (field(n, "id") == r->id)
			snprintf(
			    r->cluster, sizeof r->cluster, "%s",
			    json_string_value(json_object_get(n, "address")));
	}
}

static void fill_row(struct row *r, struct ctrl_session *s)
{
	json_t *responses;
	const char *error;

	if (ctrl_session_state(s) == CTRL_S_FAILED) {
		snprintf(r->error, sizeof r->error, "%s",
			 ctrl_session_error(s));
		r->exit_code = ctrl_failure_exit(ctrl_session_failure(s));
		return;
	}
	responses = ctrl_session_take_reply(s);
	error = ctrl_response_error(json_array_get(responses, 0));
	if (error == NULL)
		error = ctrl_response_error(json_array_get(responses, 1));
	if (error) {
		snprintf(r->error, sizeof r->error, "%s", error);
		r->exit_code = CTRL_EXIT_REFUSED;
		json_decref(responses);
		return;
	}
	r->reachable = true;
	r->raft =
	    json_incref(json_object_get(json_array_get(responses, 0), "data"));
	r->leader =
	    json_incref(json_object_get(json_array_get(responses, 1), "data"));
	json_decref(responses);
	/* An endpoint of another node (a list that swapped two): what it
	 * says is not this node's status. */
	json_int_t said = field(r->leader, "nodeid");
	if (r->id != 0 && said != 0 && said != r->id) {
		snprintf(r->error, sizeof r->error,
			 "this endpoint answers as node %" JSON_INTEGER_FORMAT,
			 said);
		r->reachable = false;
		r->exit_code = CTRL_EXIT_PARTIAL;
		return;
	}
	if (r->id == 0)
		r->id = field(r->leader, "nodeid");
	if (r->cluster[0] == '\0')
		own_address(r);
}

/* Asks every endpoint; rows[i] for the i-th. */
static int collect(const struct ctrl_args *a, struct row *rows, size_t *n)
{
	struct ctrl_session *sessions[CTRL_MAX_NODES];
	double deadline = ctrl_now() + a->timeout_s;
	json_t *commands;
	size_t i;

	*n = a->node_count ? a->node_count : 1;
	memset(rows, 0, sizeof *rows * *n);
	for (i = 0; i < *n; i++) {
		struct ctrl_endpoint ep;
		if (a->node_count)
			ep = a->nodes[i].mqtt;
		else
			ctrl_default_endpoint(a, NULL, &ep);
		if (a->node_count) {
			rows[i].id = a->nodes[i].id;
			ctrl_endpoint_format(&a->nodes[i].cluster,
					     rows[i].cluster, ADDR_LEN);
		}
		ctrl_endpoint_format(&ep, rows[i].mqtt, ADDR_LEN);
		sessions[i] = ctrl_session_open(&a->conn, &ep);
		if (sessions[i] == NULL) {
			while (i--)
				ctrl_session_close(sessions[i]);
			return -1;
		}
	}
	commands = json_pack("[{s:s},{s:s}]", "command", "getRaftStatus",
			     "command", "isLeader");
	if (commands != NULL) {
		ctrl_sessions_run(sessions, *n, deadline);
		ctrl_ask_all(sessions, *n, commands, deadline);
	}
	for (i = 0; i < *n; i++) {
		if (commands != NULL)
			fill_row(&rows[i], sessions[i]);
		ctrl_session_close(sessions[i]);
	}
	json_decref(commands);
	return commands ? 0 : -1;
}

static const struct row *leader_row(const struct row *rows, size_t n)
{
	const struct row *best = NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!rows[i].reachable ||
		    !json_is_true(json_object_get(rows[i].leader, "leader")))
			continue;
		if (best == NULL || field(rows[i].raft, "current_term") >
					field(best->raft, "current_term"))
			best = &rows[i];
	}
	return best;
}

static json_int_t lag_of(const struct row *r, const struct row *leader)
{
	json_int_t lag;

	if (leader == NULL || !r->reachable)
		return -1;
	lag = field(leader->raft, "commit_index") -
	      field(r->raft, "last_applied");
	return lag < 0 ? 0 : lag;
}

static void print_table(FILE *out, const struct row *rows, size_t n)
{
	const struct row *leader = leader_row(rows, n);
	size_t i;

	fprintf(out, "%-5s %-22s %-22s %-18s %6s %8s %8s %6s  %s\n", "NODE",
		"CLUSTER ADDRESS", "MQTT ADDRESS", "ROLE", "TERM", "COMMIT",
		"APPLIED", "LAG", "REACHABLE");
	for (i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		char id[16] = "?";
		if (r->id)
			snprintf(id, sizeof id, "%" JSON_INTEGER_FORMAT, r->id);
		if (!r->reachable) {
			fprintf(
			    out,
			    "%-5s %-22s %-22s %-18s %6s %8s %8s %6s  no: %s\n",
			    id, r->cluster[0] ? r->cluster : "-", r->mqtt, "-",
			    "-", "-", "-", "-", r->error);
			continue;
		}
		char lag[24] = "-";
		if (lag_of(r, leader) >= 0)
			snprintf(lag, sizeof lag, "%" JSON_INTEGER_FORMAT,
				 lag_of(r, leader));
		fprintf(out,
			"%-5s %-22s %-22s %-18s %6" JSON_INTEGER_FORMAT
			" %8" JSON_INTEGER_FORMAT " %8" JSON_INTEGER_FORMAT
			" %6s  yes\n",
			id, r->cluster[0] ? r->cluster : "-", r->mqtt,
			role_of(r), field(r->raft, "current_term"),
			field(r->raft, "commit_index"),
			field(r->raft, "last_applied"), lag);
	}
}

static json_t *row_json(const struct row *r, const struct row *leader)
{
	json_t *o =
	    json_pack("{s:s,s:b}", "mqtt", r->mqtt, "reachable", r->reachable);
	json_int_t lag = lag_of(r, leader);
	int bad = o == NULL;

	if (!bad)
		bad =
		    json_object_set_new(o, "nodeid",
					r->id ? json_integer(r->id)
					      : json_null()) ||
		    json_object_set_new(o, "address",
					r->cluster[0] ? json_string(r->cluster)
						      : json_null());
	if (!bad && !r->reachable)
		bad = json_object_set_new(o, "error", json_string(r->error));
	if (!bad && r->reachable)
		bad = json_object_set_new(o, "role", json_string(role_of(r))) ||
		      json_object_set(o, "raft", r->raft) ||
		      json_object_set_new(
			  o, "lag", lag >= 0 ? json_integer(lag) : json_null());
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static void print_json(const struct row *rows, size_t n)
{
	const struct row *leader = leader_row(rows, n);
	json_t *doc = json_pack("{s:[]}", "nodes");
	size_t i;

	if (doc && json_object_set_new(doc, "leader",
				       leader ? json_integer(leader->id)
					      : json_null())) {
		json_decref(doc);
		doc = NULL;
	}
	for (i = 0; doc && i < n; i++)
		if (json_array_append_new(json_object_get(doc, "nodes"),
					  row_json(&rows[i], leader))) {
			json_decref(doc);
			doc = NULL;
		}
	if (doc == NULL)
		fprintf(stderr, "mosquitto_ha_ctrl: out of memory\n");
	else
		ctrl_print_json(doc);
	json_decref(doc);
}

static int one_round(const struct ctrl_args *a, bool clear)
{
	struct row rows[CTRL_MAX_NODES];
	size_t n, i, reachable = 0;
	int rc = CTRL_EXIT_OK;

	if (collect(a, rows, &n) != 0) {
		fprintf(stderr, "mosquitto_ha_ctrl: out of memory\n");
		return CTRL_EXIT_REFUSED;
	}
	/* A round cut short by an interrupt shows nothing: its nodes did
	 * not fail to answer. */
	if (ctrl_interrupted() && a->watch_s > 0) {
		rc = -1;
	} else {
		if (clear)
			fputs("\033[H\033[2J", stdout);
		if (a->json)
			print_json(rows, n);
		else
			print_table(stdout, rows, n);
		fflush(stdout);
	}
	for (i = 0; i < n; i++) {
		if (rows[i].reachable)
			reachable++;
		else if (rc == CTRL_EXIT_OK)
			rc = rows[i].exit_code;
		json_decref(rows[i].raft);
		json_decref(rows[i].leader);
	}
	if (rc >= 0 && reachable && reachable < n)
		rc = CTRL_EXIT_PARTIAL;
	return rc;
}

int ctrl_run_status(const struct ctrl_args *a)
{
	bool tty = isatty(STDOUT_FILENO);
	size_t i;
	int rc, round_rc;

	if (a->name || a->me || a->id) {
		fprintf(stderr, "mosquitto_ha_ctrl: status takes no --name, "
				"--me or --id\n");
		return CTRL_EXIT_USAGE;
	}
	for (i = 0; i < a->node_count; i++)
		if (!a->nodes[i].has_mqtt) {
			fprintf(
			    stderr,
			    "mosquitto_ha_ctrl: status: --node %u needs "
			    "its administrative endpoint (,mqtt=HOST:PORT)\n",
			    a->nodes[i].id);
			return CTRL_EXIT_USAGE;
		}
	rc = one_round(a, tty && a->watch_s > 0 && !a->json);
	if (rc < 0)
		rc = CTRL_EXIT_TIMEOUT; /* interrupted before any answer */
	while (a->watch_s > 0 && !ctrl_interrupted()) {
		double next = ctrl_now() + a->watch_s;
		while (ctrl_now() < next && !ctrl_interrupted()) {
			struct timespec ts = {0, 20 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
		if (ctrl_interrupted())
			break;
		if (!tty && !a->json)
			putchar('\n'); /* rounds apart in a log */
		round_rc = one_round(a, tty && !a->json);
		if (round_rc >= 0)
			rc = round_rc;
	}
	return rc;
}
