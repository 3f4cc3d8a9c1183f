/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * ha-kv: a replicated key-value store on the running Raft node, with a line
 * protocol for clients on a TCP port. Tests and benchmarks start it as real
 * processes to kill, pause, restart, add and remove.
 *
 * The state machine is kept twice, as the broker plugin keeps its state: one
 * copy on the raft thread (struct ha_node_sm, used to take snapshots) and the
 * owner's copy on the main thread, updated from HA_EV_COMMITTED and
 * HA_EV_RESTORE events, from which reads are served.
 *
 * This file holds the options, start-up, shutdown and the callbacks the
 * node calls on the raft thread; kv/server.h says where the rest lives.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "kv/command.h"
#include "kv/map.h"
#include "kv/protocol.h"
#include "kv/record.h"
#include "kv/server.h"
#include "node/node.h"

#define KV_SECRET_MAX 4096u

/* ---- the raft thread's copy ---- */

static int sm_apply(void *data, raft_index index, const uint8_t *cmd,
		    size_t len)
{
	struct kv_raft_copy *copy = data;
	struct kv_command c;
	bool swapped;
	if (kv_command_decode(cmd, len, &c) != 0) {
		fprintf(stderr,
			"ha-kv %u: entry %" PRIu64
			" is not a command of this version; left out\n",
			copy->id, (uint64_t)index);
		return HA_NODE_EINVAL;
	}
	return kv_command_apply(&c, copy->map, &swapped) == 0 ? 0
							      : HA_NODE_ENOMEM;
}

static void *sm_capture(void *data)
{
	struct kv_raft_copy *copy = data;
	return kv_map_clone(copy->map);
}

static int sm_serialize(void *frozen, uint8_t **buf, size_t *len)
{
	int rv = kv_map_encode(frozen, buf, len);
	return rv == 0 ? 0 : (rv == -1 ? HA_NODE_ENOMEM : HA_NODE_EINVAL);
}

static void sm_release(void *frozen)
{
	kv_map_free(frozen);
}

static int sm_restore(void *data, const uint8_t *buf, size_t len)
{
	struct kv_raft_copy *copy = data;
	int err;
	struct kv_map *m = kv_map_decode(buf, len, &err);
	if (m == NULL)
		return err == -1 ? HA_NODE_ENOMEM : HA_NODE_EINVAL;
	kv_map_free(copy->map);
	copy->map = m;
	return 0;
}

/* ---- logging and waking the owner ---- */

void kv_log(struct kv_server *s, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "ha-kv %u: %s\n", s->opt.id, msg);
}

/* On the raft thread: the events wait in the node's queue until the main
 * loop drains them (kv_on_wake, in events.c). */
static void node_wake(void *data)
{
	struct kv_server *s = data;
	uv_async_send(&s->wake);
}

static void node_log_line(void *data, enum ha_node_log_level level,
			  const char *msg)
{
	struct kv_server *s = data;
	static const char *const names[] = {"error", "warning", "info",
					    "debug"};
	if (level == HA_NODE_LOG_DEBUG && !s->opt.verbose)
		return;
	fprintf(stderr, "ha-kv %u: %s: %s\n", s->opt.id,
		(unsigned)level < 4 ? names[level] : "log", msg);
}

/* ---- shutdown ---- */

static void close_handle(uv_handle_t *h, void *arg)
{
	struct kv_server *s = arg;
	if (uv_is_closing(h))
		return;
	if (h->type == UV_TCP && h != (uv_handle_t *)&s->listener &&
	    h != (uv_handle_t *)&s->reject) {
		kv_conn_close(h->data);
		return;
	}
	uv_close(h, NULL);
}

static void on_signal(uv_signal_t *sig, int signum)
{
	struct kv_server *s = sig->data;
	if (s->stopping)
		return;
	s->stopping = true;
	kv_log(s, "%s: handing leadership over (if leader) and stopping",
	       signum == SIGTERM ? "SIGTERM" : "SIGINT");
	/* A leader hands over first, waiting at most 2 s. */
	ha_node_stop(s->node, true, 2000);
	s->node = NULL;
	kv_requests_fail_all(s, "shutting down");
	uv_walk(s->loop, close_handle, s);
}

/* ---- start-up ---- */

static void usage(FILE *f)
{
	fprintf(
	    f, "usage: ha-kv --id N --data DIR --cluster NAME --raft HOST:PORT "
	       "--listen HOST:PORT\n"
	       "             [--secret-file F | --insecure-plaintext]\n"
	       "             [--election-timeout MS --heartbeat MS] "
	       "[--snapshot-threshold N] [--verbose]\n"
	       "Line protocol (one request per line): PUT k v | GET k | CAS k "
	       "old new |\n"
	       "  CREATE id=host:port,... | JOIN id=host:port,... | ADD id "
	       "host:port |\n"
	       "  REMOVE id | TRANSFER id|0 | STATUS | PING\n");
}

static bool parse_number(const char *s, unsigned long long max,
			 unsigned long long *out)
{
	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return false;
	*out = v;
	return true;
}

enum kv_option {
	OPT_ID = 1,
	OPT_DATA,
	OPT_CLUSTER,
	OPT_RAFT,
	OPT_LISTEN,
	OPT_SECRET,
	OPT_PLAIN,
	OPT_ELECTION,
	OPT_HEARTBEAT,
	OPT_SNAPSHOT,
	OPT_VERBOSE,
	OPT_HELP,
};

static const struct option kv_longopts[] = {
    {"id", required_argument, NULL, OPT_ID},
    {"data", required_argument, NULL, OPT_DATA},
    {"cluster", required_argument, NULL, OPT_CLUSTER},
    {"raft", required_argument, NULL, OPT_RAFT},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"secret-file", required_argument, NULL, OPT_SECRET},
    {"insecure-plaintext", no_argument, NULL, OPT_PLAIN},
    {"election-timeout", required_argument, NULL, OPT_ELECTION},
    {"heartbeat", required_argument, NULL, OPT_HEARTBEAT},
    {"snapshot-threshold", required_argument, NULL, OPT_SNAPSHOT},
    {"verbose", no_argument, NULL, OPT_VERBOSE},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* Takes one command-line option into o: 0, or -1 after saying why. */
static int set_option(int c, const char *arg, struct kv_options *o)
{
	unsigned long long v;
	switch (c) {
	case OPT_ID:
		if (!parse_number(arg, RAFT_MAX_NODE_ID, &v) || v == 0) {
			fprintf(stderr, "ha-kv: --id must be 1..%u\n",
				RAFT_MAX_NODE_ID);
			return -1;
		}
		o->id = (raft_id)v;
		break;
	case OPT_DATA:
		o->data_dir = arg;
		break;
	case OPT_CLUSTER:
		o->cluster = arg;
		break;
	case OPT_RAFT:
		o->raft_address = arg;
		break;
	case OPT_LISTEN:
		o->listen_address = arg;
		break;
	case OPT_SECRET:
		o->secret_file = arg;
		break;
	case OPT_PLAIN:
		o->insecure_plaintext = true;
		break;
	case OPT_ELECTION:
		if (!parse_number(arg, 600000, &v) || v < 10) {
			fprintf(stderr, "ha-kv: --election-timeout "
					"must be 10..600000 ms\n");
			return -1;
		}
		o->election_timeout = (long)v;
		break;
	case OPT_HEARTBEAT:
		if (!parse_number(arg, 60000, &v) || v < 1) {
			fprintf(stderr, "ha-kv: --heartbeat must be "
					"1..60000 ms\n");
			return -1;
		}
		o->heartbeat = (long)v;
		break;
	case OPT_SNAPSHOT:
		if (!parse_number(arg, UINT64_MAX, &v) || v < 1) {
			fprintf(stderr, "ha-kv: --snapshot-threshold "
					"must be a positive count\n");
			return -1;
		}
		o->snapshot_threshold = v;
		break;
	case OPT_VERBOSE:
		o->verbose = true;
		break;
	case OPT_HELP:
		usage(stdout);
		exit(0);
	default:
		usage(stderr);
		return -1;
	}
	return 0;
}

/* What single options cannot say: the required ones, and the ones that only
 * make sense together. */
static int check_options(const struct kv_options *o)
{
	const char *missing = o->id == 0		  ? "--id"
			      : o->data_dir == NULL	  ? "--data"
			      : o->cluster == NULL	  ? "--cluster"
			      : o->raft_address == NULL	  ? "--raft"
			      : o->listen_address == NULL ? "--listen"
							  : NULL;
	if (missing != NULL) {
		fprintf(stderr, "ha-kv: %s is required\n", missing);
		usage(stderr);
		return -1;
	}
	if (!kv_address_valid(o->raft_address)) {
		fprintf(stderr, "ha-kv: --raft wants host:port, not '%s'\n",
			o->raft_address);
		return -1;
	}
	if ((o->secret_file != NULL) == o->insecure_plaintext) {
		fprintf(stderr, "ha-kv: give exactly one of --secret-file and "
				"--insecure-plaintext\n");
		return -1;
	}
	if (o->heartbeat != 0 && o->election_timeout != 0 &&
	    o->heartbeat * 2 > o->election_timeout) {
		fprintf(stderr, "ha-kv: --heartbeat must be at most half of "
				"--election-timeout\n");
		return -1;
	}
	return 0;
}

static int parse_options(int argc, char **argv, struct kv_options *o)
{
	int c;
	while ((c = getopt_long(argc, argv, "", kv_longopts, NULL)) != -1) {
		if (set_option(c, optarg, o) != 0)
			return -1;
	}
	if (optind != argc) {
		fprintf(stderr, "ha-kv: unexpected argument '%s'\n",
			argv[optind]);
		return -1;
	}
	return check_options(o);
}

/* Reads the shared cluster secret; surrounding whitespace is not part of
 * it. */
static int read_secret(const char *path, uint8_t *buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "ha-kv: cannot open the secret file %s: %s\n",
			path, strerror(errno));
		return -1;
	}
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, KV_SECRET_MAX + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "ha-kv: cannot read %s: %s\n", path,
				strerror(errno));
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > KV_SECRET_MAX) {
			fprintf(stderr,
				"ha-kv: the secret in %s is longer "
				"than %u bytes\n",
				path, KV_SECRET_MAX);
			close(fd);
			return -1;
		}
	}
	close(fd);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
			 buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		n--;
	*len = n;
	return 0;
}

/* DIR holds the node's folder (DIR/raft) and this program's record. */
static int prepare_folders(struct kv_server *s)
{
	const char *dir = s->opt.data_dir;
	if ((size_t)snprintf(s->node_dir, sizeof(s->node_dir), "%s/raft",
			     dir) >= sizeof(s->node_dir) ||
	    (size_t)snprintf(s->record_path, sizeof(s->record_path),
			     "%s/kv-cluster", dir) >= sizeof(s->record_path)) {
		fprintf(stderr, "ha-kv: the data folder path is too long\n");
		return -1;
	}
	if ((mkdir(dir, 0700) != 0 && errno != EEXIST) ||
	    (mkdir(s->node_dir, 0700) != 0 && errno != EEXIST)) {
		fprintf(stderr,
			"ha-kv %u: cannot create the data folder %s: %s\n",
			s->opt.id, s->node_dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* After a restart: whom to dial until the log says, and, for the node
 * that created the cluster but lost its first configuration, that
 * configuration again (refused by the node if its log has one). */
static int resume_membership(struct kv_server *s)
{
	struct kv_record rec;
	char why[512];
	int rv = kv_record_load(s->record_path, &rec, why, sizeof(why));
	if (rv < 0) {
		fprintf(stderr, "ha-kv %u: data folder %s: %s\n", s->opt.id,
			s->opt.data_dir, why);
		return -1;
	}
	if (rv == 1)
		return 0;
	if ((rv = ha_node_set_peers(s->node, &rec.members)) != HA_NODE_OK ||
	    (rec.created && (rv = ha_node_bootstrap(s->node, &rec.members,
						    0)) != HA_NODE_OK)) {
		fprintf(stderr, "ha-kv %u: cannot resume the membership: %s\n",
			s->opt.id, ha_node_strerror(rv));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct kv_server srv;
	struct kv_server *s = &srv;
	if (parse_options(argc, argv, &s->opt) != 0)
		return 2;
	static uint8_t secret[KV_SECRET_MAX + 1];
	size_t secret_len = 0;
	if (s->opt.secret_file != NULL &&
	    read_secret(s->opt.secret_file, secret, &secret_len) != 0)
		return 2;
	if (getrandom(&s->incarnation, sizeof(s->incarnation), 0) !=
	    (ssize_t)sizeof(s->incarnation)) {
		fprintf(stderr, "ha-kv: no randomness: %s\n", strerror(errno));
		return 1;
	}
	s->role = RAFT_FOLLOWER;
	s->map = kv_map_new();
	s->raft_copy.map = kv_map_new();
	s->raft_copy.id = s->opt.id;
	if (s->map == NULL || s->raft_copy.map == NULL) {
		fprintf(stderr, "ha-kv: out of memory\n");
		return 1;
	}
	s->loop = uv_default_loop();
	int rv;
	if ((rv = uv_async_init(s->loop, &s->wake, kv_on_wake)) != 0 ||
	    (rv = uv_signal_init(s->loop, &s->sigterm)) != 0 ||
	    (rv = uv_signal_init(s->loop, &s->sigint)) != 0) {
		fprintf(stderr, "ha-kv: cannot set up the loop: %s\n",
			uv_strerror(rv));
		return 1;
	}
	s->wake.data = s;
	s->sigterm.data = s;
	s->sigint.data = s;
	signal(SIGPIPE, SIG_IGN);
	if (prepare_folders(s) != 0)
		return 1;
	if (kv_listen(s, s->opt.listen_address) != 0)
		return 1;

	struct ha_node_options no = {
	    .id = s->opt.id,
	    .data_dir = s->node_dir,
	    .cluster_name = s->opt.cluster,
	    .advertise_address = s->opt.raft_address,
	    .secret = s->opt.secret_file != NULL ? secret : NULL,
	    .secret_len = secret_len,
	    .insecure_plaintext = s->opt.insecure_plaintext,
	    .election_timeout = s->opt.election_timeout,
	    .heartbeat_interval = s->opt.heartbeat,
	    .snapshot_threshold = s->opt.snapshot_threshold,
	    .sm =
		{
		    .data = &s->raft_copy,
		    .apply = sm_apply,
		    .capture = sm_capture,
		    .serialize = sm_serialize,
		    .release = sm_release,
		    .restore = sm_restore,
		},
	    .wake = node_wake,
	    .log = node_log_line,
	    .data = s,
	};
	rv = ha_node_start(&no, &s->node);
	if (rv != HA_NODE_OK) {
		fprintf(
		    stderr,
		    "ha-kv %u: cannot start the node on data folder %s: %s\n",
		    s->opt.id, s->opt.data_dir, ha_node_strerror(rv));
		return 1;
	}
	/* The raft thread copied the secret where it needs it. */
	memset(secret, 0, sizeof(secret));
	if (resume_membership(s) != 0) {
		ha_node_stop(s->node, false, 0);
		return 1;
	}
	if ((rv = uv_signal_start(&s->sigterm, on_signal, SIGTERM)) != 0 ||
	    (rv = uv_signal_start(&s->sigint, on_signal, SIGINT)) != 0) {
		fprintf(stderr, "ha-kv: cannot catch signals: %s\n",
			uv_strerror(rv));
		ha_node_stop(s->node, false, 0);
		return 1;
	}
	kv_log(s, "serving clients on %s, raft on %s, data in %s",
	       s->opt.listen_address, s->opt.raft_address, s->opt.data_dir);
	uv_run(s->loop, UV_RUN_DEFAULT);

	if (s->node != NULL)
		ha_node_stop(s->node, false, 0);
	kv_requests_free_all(s);
	free(s->deferred);
	uv_loop_close(s->loop);
	kv_map_free(s->map);
	kv_map_free(s->raft_copy.map);
	kv_log(s, "stopped");
	return 0;
}
