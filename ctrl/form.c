/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * form: a cluster from a list of nodes in one step. Each node is asked
 * first whether it is in a cluster (isLeader names its nodeid), so that a
 * second run completes a partial cluster instead of failing on the nodes
 * already in: createCluster goes to the first free node only when no node
 * is in yet, joinCluster to every free node, and then the program waits
 * until the nodes that are in agree on exactly one leader.
 */
#include "ctrl/ctrl.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define ADDR_LEN (TRANSPORT_ADDRESS_MAX + 8)

enum member {
	M_UNREACHABLE,
	M_FREE, /* in no cluster */
	M_IN,
	M_OUT, /* reachable but cannot be in: refused, or another cluster */
};

struct fnode {
	const struct ctrl_node_spec *spec;
	struct ctrl_session *s;
	enum member m;
	const char *how; /* for M_IN */
	char why[300];	 /* for the others */
	int exit_code;	 /* for the others */
};

struct form {
	const struct ctrl_args *a;
	struct fnode nodes[CTRL_MAX_NODES];
	size_t n;
	double deadline;
	json_int_t leader; /* 0: none agreed */
};

static void set_out(struct fnode *f, enum member m, int exit_code,
		    const char *why)
{
	f->m = m;
	f->exit_code = exit_code;
	snprintf(f->why, sizeof f->why, "%s", why);
}

static void lost(struct fnode *f)
{
	set_out(f, M_UNREACHABLE, ctrl_failure_exit(ctrl_session_failure(f->s)),
		ctrl_session_error(f->s));
}

/* The first response of the reply to f's last request, with the reply
 * (to be released) in *reply; NULL when the session failed. */
static json_t *answer(struct fnode *f, json_t **reply)
{
	*reply = NULL;
	if (ctrl_session_state(f->s) == CTRL_S_FAILED) {
		lost(f);
		return NULL;
	}
	*reply = ctrl_session_take_reply(f->s);
	return json_array_get(*reply, 0);
}

static json_t *one_command(const char *name)
{
	return json_pack("[{s:s}]", "command", name);
}

/* Asks every node with a session whether it is in a cluster. */
static void classify(struct form *F)
{
	struct ctrl_session *s[CTRL_MAX_NODES];
	json_t *is_leader = one_command("isLeader");
	size_t i;

	for (i = 0; i < F->n; i++)
		s[i] = F->nodes[i].s;
	ctrl_sessions_run(s, F->n, F->deadline);
	if (is_leader)
		ctrl_ask_all(s, F->n, is_leader, F->deadline);
	json_decref(is_leader);
	for (i = 0; i < F->n; i++) {
		struct fnode *f = &F->nodes[i];
		json_t *reply, *r = answer(f, &reply);
		json_t *id =
		    json_object_get(json_object_get(r, "data"), "nodeid");
		char why[120];

		if (r == NULL && f->m == M_UNREACHABLE)
			continue;
		if (r == NULL || ctrl_response_error(r))
			set_out(f, M_OUT, CTRL_EXIT_REFUSED,
				r ? ctrl_response_error(r) : "no reply");
		else if (json_is_null(id))
			f->m = M_FREE;
		else if (json_integer_value(id) == (json_int_t)f->spec->id) {
			f->m = M_IN;
			f->how = "already in";
		} else {
			snprintf(why, sizeof why,
				 "in a cluster already, as node "
				 "%" JSON_INTEGER_FORMAT,
				 json_integer_value(id));
			set_out(f, M_OUT, CTRL_EXIT_REFUSED, why);
		}
		json_decref(reply);
	}
}

/* Until the reachable nodes that are in agree on one leader. */
static int wait_leader(struct form *F)
{
	json_t *is_leader = one_command("isLeader");

	F->leader = 0;
	while (is_leader && ctrl_now() < F->deadline && !ctrl_interrupted()) {
		struct ctrl_session *s[CTRL_MAX_NODES];
		json_int_t leader = 0, named = -1;
		size_t i, k = 0, leaders = 0, agree = 0;
		struct timespec pause = {0, 50 * 1000 * 1000};

		for (i = 0; i < F->n; i++)
			if (F->nodes[i].m == M_IN)
				s[k++] = F->nodes[i].s;
		if (k == 0)
			break;
		ctrl_ask_all(s, k, is_leader, F->deadline);
		for (i = 0; i < F->n; i++) {
			struct fnode *f = &F->nodes[i];
			json_t *reply, *r, *d;
			if (f->m != M_IN || (r = answer(f, &reply)) == NULL)
				continue;
			d = json_object_get(r, "data");
			if (json_is_true(json_object_get(d, "leader"))) {
				leaders++;
				leader = json_integer_value(
				    json_object_get(d, "nodeid"));
			}
			if (named == -1 || json_integer_value(json_object_get(
					       d, "leader_nodeid")) == named) {
				named = json_integer_value(
				    json_object_get(d, "leader_nodeid"));
				agree++;
			}
			json_decref(reply);
		}
		if (leaders == 1 && named == leader && agree == k) {
			F->leader = leader;
			break;
		}
		nanosleep(&pause, NULL);
	}
	json_decref(is_leader);
	return F->leader ? CTRL_EXIT_OK : CTRL_EXIT_TIMEOUT;
}

static bool is_member(json_t *members, const struct ctrl_node_spec *spec)
{
	json_t *m;
	size_t i;

	json_array_foreach(members, i, m)
	{
		const char *host =
		    json_string_value(json_object_get(m, "address"));
		if (json_integer_value(json_object_get(m, "nodeid")) ==
			spec->id &&
		    json_integer_value(json_object_get(m, "port")) ==
			spec->cluster.port &&
		    host && !strcasecmp(host, spec->cluster.host))
			return true;
	}
	return false;
}

/* Some nodes are in already: the cluster they are in must be this one,
 * and every free node a member of it (else joinCluster would make it a
 * cluster of its own). */
static int check_existing(struct form *F)
{
	struct fnode *leader = NULL;
	json_t *get = one_command("getCluster"), *reply, *r, *data;
	const char *name;
	size_t i;
	int rc = wait_leader(F);

	for (i = 0; i < F->n; i++)
		if (F->nodes[i].m == M_IN && F->nodes[i].spec->id == F->leader)
			leader = &F->nodes[i];
	if (rc != 0 || leader == NULL || get == NULL) {
		json_decref(get);
		fprintf(stderr, "mosquitto_ha_ctrl: form: the nodes already in "
				"a cluster agree on no leader\n");
		return CTRL_EXIT_TIMEOUT;
	}
	ctrl_ask_all(&leader->s, 1, get, F->deadline);
	json_decref(get);
	r = answer(leader, &reply);
	data = json_object_get(r, "data");
	name = json_string_value(json_object_get(data, "clustername"));
	if (r == NULL || ctrl_response_error(r) || name == NULL) {
		fprintf(stderr,
			"mosquitto_ha_ctrl: form: getCluster on node "
			"%u: %s\n",
			leader->spec->id,
			r ? ctrl_response_error(r) : leader->why);
		json_decref(reply);
		return r ? CTRL_EXIT_REFUSED : leader->exit_code;
	}
	if (strcmp(name, F->a->name) != 0) {
		fprintf(stderr,
			"mosquitto_ha_ctrl: form: the nodes are in "
			"cluster '%s', not '%s'\n",
			name, F->a->name);
		json_decref(reply);
		return CTRL_EXIT_REFUSED;
	}
	const char *mode = json_string_value(json_object_get(data, "syncmode"));
	const char *want = F->a->syncmode ? F->a->syncmode : "full";
	if (mode != NULL && strcmp(mode, want) != 0) {
		fprintf(stderr,
			"mosquitto_ha_ctrl: form: cluster '%s' has syncmode "
			"%s, not %s\n",
			name, mode, want);
		json_decref(reply);
		return CTRL_EXIT_REFUSED;
	}
	for (i = 0; i < F->n; i++)
		if (F->nodes[i].m == M_FREE &&
		    !is_member(json_object_get(data, "nodes"),
			       F->nodes[i].spec))
			set_out(&F->nodes[i], M_OUT, CTRL_EXIT_REFUSED,
				"not a member of the cluster with these "
				"details (add-node it on the leader first)");
	json_decref(reply);
	return CTRL_EXIT_OK;
}

/* createCluster on the first free node (create), or joinCluster on every
 * free node at once; the last node asked. */
static struct fnode *send_membership(struct form *F, bool create)
{
	struct ctrl_session *s[CTRL_MAX_NODES];
	bool sent[CTRL_MAX_NODES] = {false};
	struct fnode *last = NULL;
	size_t i, k = 0;

	for (i = 0; i < F->n && !(create && k == 1); i++) {
		struct fnode *f = &F->nodes[i];
		json_t *cmd;
		if (f->m != M_FREE)
			continue;
		cmd = json_pack("[{s:s,s:s,s:o,s:s}]", "command",
				create ? "createCluster" : "joinCluster",
				"clustername", F->a->name, "nodes",
				ctrl_node_list(F->a, f->spec->id), "syncmode",
				F->a->syncmode ? F->a->syncmode : "full");
		if (cmd == NULL || ctrl_session_send(f->s, cmd) != 0) {
			set_out(f, M_OUT, CTRL_EXIT_REFUSED, "out of memory");
		} else {
			s[k++] = f->s;
			sent[i] = true;
		}
		json_decref(cmd);
		last = f;
	}
	ctrl_sessions_run(s, k, F->deadline);
	for (i = 0; i < F->n; i++) {
		struct fnode *f = &F->nodes[i];
		json_t *reply, *r;
		if (!sent[i] || (r = answer(f, &reply)) == NULL)
			continue;
		if (ctrl_response_error(r)) {
			set_out(f, M_OUT, CTRL_EXIT_REFUSED,
				ctrl_response_error(r));
		} else {
			f->m = M_IN;
			f->how = create ? "created the cluster" : "joined";
		}
		json_decref(reply);
	}
	return last;
}

static void report_words(const struct form *F, bool ok)
{
	size_t i, in = 0;

	for (i = 0; i < F->n; i++) {
		const struct fnode *f = &F->nodes[i];
		char cl[ADDR_LEN], mq[ADDR_LEN];
		ctrl_endpoint_format(&f->spec->cluster, cl, sizeof cl);
		ctrl_endpoint_format(&f->spec->mqtt, mq, sizeof mq);
		in += f->m == M_IN;
		printf("node %u (%s, mqtt %s): %s%s%s\n", f->spec->id, cl, mq,
		       f->m == M_IN ? "in, " : "not in: ",
		       f->m == M_IN ? f->how : f->why,
		       f->m == M_IN && f->spec->id == F->leader ? ", leader"
								: "");
	}
	if (ok && F->leader)
		printf("Cluster %s: node %" JSON_INTEGER_FORMAT
		       " leads; %zu of %zu nodes are in.\n",
		       F->a->name, F->leader, in, F->n);
	else
		fprintf(stderr,
			"mosquitto_ha_ctrl: form: cluster %s: %zu "
			"of %zu nodes in, %s\n",
			F->a->name, in, F->n,
			F->leader ? "leader agreed" : "no leader agreed");
}

static void report_json(const struct form *F)
{
	json_t *doc =
	    json_pack("{s:s,s:[]}", "clustername", F->a->name, "nodes");
	size_t i;
	int bad = doc == NULL ||
		  json_object_set_new(doc, "leader",
				      F->leader ? json_integer(F->leader)
						: json_null());

	for (i = 0; !bad && i < F->n; i++) {
		const struct fnode *f = &F->nodes[i];
		json_t *o =
		    json_pack("{s:i,s:b,s:s}", "nodeid", (int)f->spec->id, "in",
			      f->m == M_IN, f->m == M_IN ? "how" : "error",
			      f->m == M_IN ? f->how : f->why);
		bad = json_array_append_new(json_object_get(doc, "nodes"), o);
	}
	if (bad)
		fprintf(stderr, "mosquitto_ha_ctrl: out of memory\n");
	else
		ctrl_print_json(doc);
	json_decref(doc);
}

static int check_form_args(const struct ctrl_args *a)
{
	size_t i;

	if (a->name == NULL || a->node_count < 3 || a->me || a->id) {
		fprintf(stderr,
			"mosquitto_ha_ctrl: form needs --name NAME "
			"and at least three --node "
			"ID@HOST:PORT,mqtt=HOST:PORT (no --me, --id)\n");
		return CTRL_EXIT_USAGE;
	}
	for (i = 0; i < a->node_count; i++)
		if (!a->nodes[i].has_mqtt) {
			fprintf(stderr,
				"mosquitto_ha_ctrl: form: --node %u needs its "
				"administrative endpoint (,mqtt=HOST:PORT)\n",
				a->nodes[i].id);
			return CTRL_EXIT_USAGE;
		}
	return 0;
}

static int count(const struct form *F, enum member m)
{
	size_t i;
	int k = 0;

	for (i = 0; i < F->n; i++)
		k += F->nodes[i].m == m;
	return k;
}

/* The steps, once every node has a session; an exit code. */
static int form_steps(struct form *F)
{
	int rc;

	classify(F);
	if (count(F, M_IN) > 0) {
		rc = check_existing(F);
		if (rc != 0)
			return rc;
	} else if (count(F, M_FREE) > 0) {
		struct fnode *creator = send_membership(F, true);
		/* Refused, or no reply: nothing was formed. */
		if (creator && creator->m != M_IN) {
			fprintf(stderr,
				"mosquitto_ha_ctrl: createCluster on "
				"node %u: %s\n",
				creator->spec->id, creator->why);
			return creator->exit_code;
		}
	} else {
		return count(F, M_OUT) ? CTRL_EXIT_REFUSED : CTRL_EXIT_CONNECT;
	}
	send_membership(F, false);
	rc = wait_leader(F);
	if (rc != 0)
		return rc;
	return count(F, M_IN) == (int)F->n ? CTRL_EXIT_OK : CTRL_EXIT_PARTIAL;
}

int ctrl_run_form(const struct ctrl_args *a)
{
	struct form F = {.a = a, .n = a->node_count};
	size_t i;
	int rc = check_form_args(a);

	if (rc != 0)
		return rc;
	F.deadline = ctrl_now() + a->timeout_s;
	for (i = 0; i < F.n; i++) {
		F.nodes[i].spec = &a->nodes[i];
		F.nodes[i].s = ctrl_session_open(&a->conn, &a->nodes[i].mqtt);
		if (F.nodes[i].s == NULL) {
			while (i--)
				ctrl_session_close(F.nodes[i].s);
			fprintf(stderr, "mosquitto_ha_ctrl: out of memory\n");
			return CTRL_EXIT_REFUSED;
		}
	}
	rc = form_steps(&F);
	if (a->json)
		report_json(&F);
	else
		report_words(&F, rc == CTRL_EXIT_OK || rc == CTRL_EXIT_PARTIAL);
	for (i = 0; i < F.n; i++)
		ctrl_session_close(F.nodes[i].s);
	return rc;
}
