/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
#include "bench/raft/driver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct workload_options {
	unsigned proposers;
	unsigned long count;  /* measured entries */
	unsigned long warmup; /* entries before them, not measured */
	size_t entry_bytes;
	double seconds;
};

static const struct bench_raft_impl *impl;
static struct workload_options wl;

/* The leader's workload, in its process. */
static int64_t *proposed_at_us; /* by cookie */
static uint32_t *latency_us;	/* of measured entries, in completion order */
static unsigned long next_cookie, completed, measured, failures;
static int64_t measure_start_us, last_commit_us;
static uint8_t *entry;

int64_t bench_raft_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static unsigned long total_entries(void)
{
	return wl.warmup + wl.count;
}

static void propose_next(void)
{
	uint64_t cookie = next_cookie++;
	int64_t now = bench_raft_now_us();
	if (cookie == wl.warmup)
		measure_start_us = now;
	proposed_at_us[cookie] = now;
	memcpy(entry, &cookie, sizeof(cookie));
	if (impl->propose(entry, wl.entry_bytes, cookie) != 0)
		failures++;
}

void bench_raft_committed(uint64_t cookie, bool ok)
{
	if (cookie >= next_cookie)
		return;
	if (!ok) {
		failures++;
		return;
	}
	int64_t now = bench_raft_now_us();
	completed++;
	if (cookie >= wl.warmup) {
		int64_t d = now - proposed_at_us[cookie];
		latency_us[measured++] =
		    d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
		last_commit_us = now;
	}
	if (next_cookie < total_entries())
		propose_next();
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static uint32_t pct(double p)
{
	if (measured == 0)
		return 0;
	size_t k = (size_t)(p / 100.0 * (double)(measured - 1) + 0.5);
	return latency_us[k];
}

/* Writes the leader's result as one line to fd (a pipe to the parent). */
static void write_result(int fd, bool timed_out)
{
	qsort(latency_us, measured, sizeof(latency_us[0]), cmp_u32);
	double secs = (double)(last_commit_us - measure_start_us) / 1e6;
	double rate = secs > 0 ? (double)measured / secs : 0;
	char line[1024];
	int n = snprintf(
	    line, sizeof(line),
	    "\"measured\": %lu, \"failures\": %lu, \"timed_out\": %s, "
	    "\"seconds\": %.6f, \"entries_per_s\": %.1f, \"mb_per_s\": %.3f, "
	    "\"latency_p50_us\": %u, \"latency_p99_us\": %u, "
	    "\"latency_max_us\": %u\n",
	    measured, failures, timed_out ? "true" : "false", secs, rate,
	    rate * (double)wl.entry_bytes / 1e6, pct(50), pct(99), pct(100));
	if (n > 0 && write(fd, line, (size_t)n) != n)
		perror("bench-raft: result");
}

static int run_leader_workload(int result_fd, int64_t deadline_us)
{
	proposed_at_us = calloc(total_entries(), sizeof(*proposed_at_us));
	latency_us = calloc(wl.count, sizeof(*latency_us));
	entry = calloc(1, wl.entry_bytes);
	if (proposed_at_us == NULL || latency_us == NULL || entry == NULL) {
		fprintf(stderr, "bench-raft: out of memory\n");
		return 1;
	}
	memset(entry + 8, 'e', wl.entry_bytes - 8);
	for (unsigned i = 0; i < wl.proposers && next_cookie < total_entries();
	     i++)
		propose_next();
	while (completed < total_entries() && failures == 0 &&
	       bench_raft_now_us() < deadline_us)
		impl->run(10);
	write_result(result_fd, completed < total_entries());
	return failures == 0 && completed == total_entries() ? 0 : 1;
}

static int child_main(struct bench_raft_config *c, int result_fd,
		      int64_t deadline_us)
{
	if (impl->start(c) != 0) {
		fprintf(stderr, "bench-raft %s: node %u did not start\n",
			impl->name, c->id);
		return 1;
	}
	/* The first node to lead runs the workload; the others serve it until
	 * the parent stops them (or the deadline, should it not). */
	while (bench_raft_now_us() < deadline_us) {
		impl->run(10);
		if (impl->is_leader())
			return run_leader_workload(result_fd, deadline_us);
	}
	return 1;
}

static unsigned free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
		perror("bench-raft: free port");
		exit(1);
	}
	close(fd);
	return ntohs(a.sin_port);
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s --dir EMPTY_FOLDER [--proposers P] [--count N] "
		"[--warmup W]\n"
		"       [--entry BYTES] [--seconds S] [--election-timeout MS]\n"
		"       [--heartbeat MS] [--snapshot-threshold N] "
		"[--snapshot-trailing N]\n"
		"Three node processes on 127.0.0.1 (data in FOLDER/n1..n3); "
		"the first\n"
		"leader proposes W + N entries, P at a time, each from its "
		"proposal to\n"
		"its commit. Prints one JSON object.\n",
		prog);
}

static int parse(int argc, char **argv, struct bench_raft_config *c,
		 const char **dir)
{
	static const struct option longopts[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"proposers", required_argument, NULL, 'p'},
	    {"count", required_argument, NULL, 'n'},
	    {"warmup", required_argument, NULL, 'w'},
	    {"entry", required_argument, NULL, 'e'},
	    {"seconds", required_argument, NULL, 's'},
	    {"election-timeout", required_argument, NULL, 'E'},
	    {"heartbeat", required_argument, NULL, 'H'},
	    {"snapshot-threshold", required_argument, NULL, 'T'},
	    {"snapshot-trailing", required_argument, NULL, 'R'},
	    {NULL, 0, NULL, 0}};
	wl = (struct workload_options){.proposers = 1,
				       .count = 10000,
				       .warmup = 500,
				       .entry_bytes = 1024,
				       .seconds = 30};
	*c = (struct bench_raft_config){.election_timeout_ms = 1000,
					.heartbeat_ms = 100,
					.snapshot_threshold = 10000,
					.snapshot_trailing = 1024};
	*dir = NULL;
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		char *end = NULL;
		double v = optarg != NULL ? strtod(optarg, &end) : 0;
		if (opt == '?' ||
		    (optarg != NULL && opt != 'd' && (*end != '\0' || v < 0)))
			return -1;
		switch (opt) {
		case 'd':
			*dir = optarg;
			break;
		case 'p':
			wl.proposers = (unsigned)v;
			break;
		case 'n':
			wl.count = (unsigned long)v;
			break;
		case 'w':
			wl.warmup = (unsigned long)v;
			break;
		case 'e':
			wl.entry_bytes = (size_t)v;
			break;
		case 's':
			wl.seconds = v;
			break;
		case 'E':
			c->election_timeout_ms = (unsigned)v;
			break;
		case 'H':
			c->heartbeat_ms = (unsigned)v;
			break;
		case 'T':
			c->snapshot_threshold = (unsigned)v;
			break;
		case 'R':
			c->snapshot_trailing = (unsigned)v;
			break;
		}
	}
	if (*dir == NULL || wl.proposers < 1 ||
	    wl.proposers > BENCH_RAFT_MAX_PROPOSERS || wl.count < 1 ||
	    wl.entry_bytes < 8 || wl.entry_bytes > (1u << 20) ||
	    wl.seconds <= 0 || wl.seconds > 3600 || c->heartbeat_ms == 0 ||
	    c->heartbeat_ms * 2 > c->election_timeout_ms || optind != argc)
		return -1;
	return 0;
}

/* The leader's line from the pipe, within timeout_ms; its length or -1. */
static ssize_t read_result(int fd, char *buf, size_t cap, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int rv;
	do
		rv = poll(&p, 1, timeout_ms);
	while (rv < 0 && errno == EINTR);
	if (rv <= 0)
		return -1;
	ssize_t n = read(fd, buf, cap - 1);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return n;
}

int bench_raft_main(int argc, char **argv,
		    const struct bench_raft_impl *the_impl)
{
	impl = the_impl;
	struct bench_raft_config c;
	const char *dir;
	if (parse(argc, argv, &c, &dir) != 0) {
		usage(argv[0]);
		return 2;
	}
	for (unsigned i = 0; i < BENCH_RAFT_NODES; i++)
		snprintf(c.addresses[i], sizeof(c.addresses[i]), "127.0.0.1:%u",
			 free_port());
	int fds[2];
	if (pipe(fds) != 0) {
		perror("bench-raft: pipe");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	int64_t deadline_us = bench_raft_now_us() + (int64_t)(wl.seconds * 1e6);
	pid_t pids[BENCH_RAFT_NODES];
	for (unsigned i = 0; i < BENCH_RAFT_NODES; i++) {
		c.id = i + 1;
		snprintf(c.dir, sizeof(c.dir), "%s/n%u", dir, c.id);
		if (mkdir(c.dir, 0700) != 0) {
			fprintf(stderr, "bench-raft: mkdir %s: %s\n", c.dir,
				strerror(errno));
			return 1;
		}
		pids[i] = fork();
		if (pids[i] < 0) {
			perror("bench-raft: fork");
			return 1;
		}
		if (pids[i] == 0) {
			close(fds[0]);
			_exit(child_main(&c, fds[1], deadline_us));
		}
	}
	close(fds[1]);
	char result[1024];
	int wait_ms = (int)(wl.seconds * 1000) + 5000;
	ssize_t got = read_result(fds[0], result, sizeof(result), wait_ms);
	double cpu[BENCH_RAFT_NODES];
	for (unsigned i = 0; i < BENCH_RAFT_NODES; i++) {
		struct rusage ru;
		int status;
		kill(pids[i], SIGKILL);
		if (wait4(pids[i], &status, 0, &ru) < 0)
			ru = (struct rusage){0};
		cpu[i] = (double)ru.ru_utime.tv_sec +
			 (double)ru.ru_utime.tv_usec / 1e6 +
			 (double)ru.ru_stime.tv_sec +
			 (double)ru.ru_stime.tv_usec / 1e6;
	}
	if (got < 0) {
		fprintf(stderr,
			"bench-raft %s: no result from a leader within %d ms\n",
			impl->name, wait_ms);
		return 1;
	}
	if (got > 0 && result[got - 1] == '\n')
		result[got - 1] = '\0';
	printf("{\"impl\": \"%s\", \"proposers\": %u, \"entry_bytes\": %zu, "
	       "\"count\": %lu, "
	       "\"warmup\": %lu, \"election_timeout_ms\": %u, "
	       "\"heartbeat_ms\": %u, "
	       "\"snapshot_threshold\": %u, \"snapshot_trailing\": %u, "
	       "\"cpu_seconds\": [%.3f, %.3f, %.3f], %s}\n",
	       impl->name, wl.proposers, wl.entry_bytes, wl.count, wl.warmup,
	       c.election_timeout_ms, c.heartbeat_ms, c.snapshot_threshold,
	       c.snapshot_trailing, cpu[0], cpu[1], cpu[2], result);
	return strstr(result, "\"failures\": 0,") != NULL &&
		       strstr(result, "\"timed_out\": false") != NULL
		   ? 0
		   : 1;
}
