/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The simulator's command line.
 *
 *   sim --seeds N [--first S] [--jobs J]   run N seeds across 3, 5, 7 nodes
 *   sim --seed S [--size N] [--trace]      replay one seed
 *   sim --selfcheck --seeds N              (self-check build) plant each known
 *                                          bug and find a seed that catches it
 *   --end-to-end-only                      leave out the direct checks
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "raft/bugs.h"
#include "tests/sim/sim.h"

static unsigned size_for_seed(uint64_t seed)
{
	static const unsigned sizes[] = {3, 5, 7};
	return sizes[seed % 3];
}

static bool end_to_end_only;

static int run_range(uint64_t first, uint64_t n, unsigned jobs, bool quiet,
		     int bug, struct sim_totals *t, uint64_t *first_failure)
{
	/* Seeds are split over J worker processes; each reports its totals
	 * through a pipe. */
	int fds[16][2];
	pid_t pids[16];
	if (jobs > 16)
		jobs = 16;
	if (jobs == 0)
		jobs = 1;
	for (unsigned j = 0; j < jobs; j++) {
		if (pipe(fds[j]) != 0) {
			perror("sim: pipe");
			return -1;
		}
		fflush(stdout);
		pids[j] = fork();
		if (pids[j] < 0) {
			perror("sim: fork");
			return -1;
		}
		if (pids[j] == 0) {
			close(fds[j][0]);
			struct sim_totals mine;
			memset(&mine, 0, sizeof(mine));
			uint64_t fail = UINT64_MAX;
			for (uint64_t s = first + j; s < first + n; s += jobs) {
				struct sim_config c = {.seed = s,
						       .size = size_for_seed(s),
						       .quiet = quiet,
						       .bug = bug,
						       .end_to_end_only =
							   end_to_end_only};
				if (sim_run(&c, &mine) != 0 &&
				    fail == UINT64_MAX) {
					fail = s;
					if (bug != 0)
						break;
				}
				fflush(stdout);
			}
			if (write(fds[j][1], &mine, sizeof(mine)) !=
				sizeof(mine) ||
			    write(fds[j][1], &fail, sizeof(fail)) !=
				sizeof(fail))
				_exit(3);
			_exit(0);
		}
		close(fds[j][1]);
	}
	int rv = 0;
	*first_failure = UINT64_MAX;
	for (unsigned j = 0; j < jobs; j++) {
		struct sim_totals part;
		uint64_t fail;
		if (read(fds[j][0], &part, sizeof(part)) != sizeof(part) ||
		    read(fds[j][0], &fail, sizeof(fail)) != sizeof(fail)) {
			fprintf(stderr, "sim: worker %u died\n", j);
			rv = -1;
		} else {
			sim_totals_add(t, &part);
			if (fail < *first_failure)
				*first_failure = fail;
		}
		close(fds[j][0]);
		int status;
		waitpid(pids[j], &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "sim: worker %u exited abnormally\n",
				j);
			rv = -1;
		}
	}
	return rv;
}

static void print_totals(const struct sim_totals *t)
{
	printf("sim totals: %llu seeds, %llu events (%.0f a seed), %llu "
	       "elections, "
	       "%llu commits, %llu crashes, %llu pauses, %llu partitions, "
	       "%llu disk failures, %llu snapshots taken, %llu snapshots "
	       "installed, "
	       "%llu membership changes, %llu leadership transfers, "
	       "%llu lease expiries, %llu linearizable reads\n",
	       (unsigned long long)t->seeds, (unsigned long long)t->events,
	       t->seeds ? (double)t->events / (double)t->seeds : 0.0,
	       (unsigned long long)t->elections, (unsigned long long)t->commits,
	       (unsigned long long)t->crashes, (unsigned long long)t->pauses,
	       (unsigned long long)t->partitions,
	       (unsigned long long)t->disk_failures,
	       (unsigned long long)t->snapshots_taken,
	       (unsigned long long)t->snapshots_installed,
	       (unsigned long long)t->membership_changes,
	       (unsigned long long)t->transfers,
	       (unsigned long long)t->lease_expiries,
	       (unsigned long long)t->reads);
	/* What the direct checks met: a count of zero means a check that
	 * never fired. */
	printf("sim direct checks: %llu events with a lease held, %llu votes "
	       "and %llu pre-votes refused inside the no-vote window, %llu "
	       "transfer votes granted inside it, %llu reads answered (%llu "
	       "taken before a commit in the term), %llu stale responses "
	       "reaching a leader, %llu truncations (%llu removing a "
	       "configuration), %llu healed clusters watched for "
	       "disruption\n",
	       (unsigned long long)t->lease_checks,
	       (unsigned long long)t->votes_refused_in_window,
	       (unsigned long long)t->prevotes_refused_in_window,
	       (unsigned long long)t->transfer_votes_in_window,
	       (unsigned long long)t->reads,
	       (unsigned long long)t->reads_waited_for_commit,
	       (unsigned long long)t->stale_responses,
	       (unsigned long long)t->truncations,
	       (unsigned long long)t->config_truncations,
	       (unsigned long long)t->stable_leaders);
	/* The rare situations the schedules are made to reach. */
	printf("sim reach: %llu messages delayed past an election timeout, "
	       "%llu stale responses reaching a leader elected again since "
	       "their term, %llu snapshots taken below the applied index, "
	       "%llu asked past it (refused), %llu TimeoutNow sent by a "
	       "transferring leader and %llu by a removed one, %llu votes "
	       "granted inside the no-vote window for a removed leader's "
	       "successor\n",
	       (unsigned long long)t->long_delays,
	       (unsigned long long)t->stale_reelected,
	       (unsigned long long)t->snapshots_below_applied,
	       (unsigned long long)t->snapshots_past_applied,
	       (unsigned long long)t->timeout_now_transfers,
	       (unsigned long long)t->timeout_now_removals,
	       (unsigned long long)t->removal_votes_in_window);
}

/* The depth of the check must be visible and sufficient. */
static bool deep_enough(const struct sim_totals *t)
{
	bool ok = true;
	const struct {
		const char *name;
		uint64_t v;
		bool direct; /* counted by a direct check only */
	} need[] = {
	    {"elections", t->elections, false},
	    {"commits", t->commits, false},
	    {"crashes", t->crashes, false},
	    {"snapshots installed", t->snapshots_installed, false},
	    {"membership changes", t->membership_changes, false},
	    {"leadership transfers", t->transfers, false},
	    {"lease expiries", t->lease_expiries, false},
	    {"events with a lease held", t->lease_checks, true},
	    {"votes refused inside the no-vote window",
	     t->votes_refused_in_window, true},
	    {"pre-votes refused inside the no-vote window",
	     t->prevotes_refused_in_window, true},
	    {"transfer votes granted inside the no-vote window",
	     t->transfer_votes_in_window, true},
	    {"linearizable reads", t->reads, false},
	    {"reads taken before a commit in the term",
	     t->reads_waited_for_commit, false},
	    {"truncations", t->truncations, false},
	    {"truncations removing a configuration", t->config_truncations,
	     true},
	    {"healed clusters watched for disruption", t->stable_leaders, true},
	    {"messages delayed past an election timeout", t->long_delays,
	     false},
	    {"stale responses reaching a leader elected again",
	     t->stale_reelected, false},
	    {"snapshots taken below the applied index",
	     t->snapshots_below_applied, false},
	    {"snapshots asked past the applied index",
	     t->snapshots_past_applied, false},
	    {"TimeoutNow sent by a transferring leader",
	     t->timeout_now_transfers, false},
	    {"TimeoutNow sent by a removed leader", t->timeout_now_removals,
	     false},
	    {"votes inside the no-vote window for a removed leader's "
	     "successor",
	     t->removal_votes_in_window, true},
	};
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if (need[i].v == 0 && !(need[i].direct && end_to_end_only)) {
			printf(
			    "sim: no %s happened: the history is too shallow\n",
			    need[i].name);
			ok = false;
		}
	}
	if (t->seeds > 0 && t->events / t->seeds < 2000) {
		printf("sim: only %llu events a seed (need at least 2000)\n",
		       (unsigned long long)(t->events / t->seeds));
		ok = false;
	}
	return ok;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: sim --seeds N [--first S] [--jobs J]\n"
		"       sim --seed S [--size 3|5|7] [--trace] [--bug NAME]\n"
		"       sim --selfcheck --seeds N [--jobs J]\n"
		"       (any of them: --end-to-end-only)\n");
	exit(2);
}

static uint64_t parse_u64(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s)
		usage();
	return v;
}

static int bug_by_name(const char *name)
{
#ifdef RAFT_SELFCHECK
	for (int b = 1; b < RAFT_BUG_COUNT; b++)
		if (strcmp(raft_bug_name(b), name) == 0)
			return b;
#endif
	fprintf(stderr, "sim: unknown bug '%s' (or not a self-check build)\n",
		name);
	exit(2);
}

int main(int argc, char **argv)
{
	uint64_t seeds = 0, first = 1, one_seed = 0;
	bool have_one = false, trace = false, selfcheck = false;
	unsigned size = 0, jobs = 1;
	int bug = 0;
	sim_argv0 = argv[0];
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--seeds") == 0 && v) {
			seeds = parse_u64(v);
			i++;
		} else if (strcmp(a, "--first") == 0 && v) {
			first = parse_u64(v);
			i++;
		} else if (strcmp(a, "--jobs") == 0 && v) {
			jobs = (unsigned)parse_u64(v);
			i++;
		} else if (strcmp(a, "--seed") == 0 && v) {
			one_seed = parse_u64(v);
			have_one = true;
			i++;
		} else if (strcmp(a, "--size") == 0 && v) {
			size = (unsigned)parse_u64(v);
			i++;
		} else if (strcmp(a, "--bug") == 0 && v) {
			bug = bug_by_name(v);
			i++;
		} else if (strcmp(a, "--trace") == 0) {
			trace = true;
		} else if (strcmp(a, "--end-to-end-only") == 0) {
			end_to_end_only = true;
		} else if (strcmp(a, "--selfcheck") == 0) {
			selfcheck = true;
		} else {
			usage();
		}
	}
	if (size != 0 && size != 3 && size != 5 && size != 7)
		usage();

	if (have_one) {
		struct sim_totals t;
		memset(&t, 0, sizeof(t));
		struct sim_config c = {.seed = one_seed,
				       .size = size ? size
						    : size_for_seed(one_seed),
				       .trace = trace,
				       .bug = bug,
				       .end_to_end_only = end_to_end_only};
		int rv = sim_run(&c, &t);
		print_totals(&t);
		printf("sim: seed %llu: %s\n", (unsigned long long)one_seed,
		       rv == 0	 ? "ok"
		       : rv == 1 ? "VIOLATION"
		       : rv == 2 ? "LIVENESS FAILURE"
				 : "DISRUPTION");
		return rv == 0 ? 0 : 1;
	}
	if (seeds == 0)
		usage();

	if (selfcheck) {
#ifndef RAFT_SELFCHECK
		fprintf(stderr,
			"sim: --selfcheck needs the self-check build\n");
		return 2;
#else
		int missed = 0;
		for (int b = 1; b < RAFT_BUG_COUNT; b++) {
			struct sim_totals t;
			memset(&t, 0, sizeof(t));
			uint64_t caught;
			if (run_range(first, seeds, jobs, true, b, &t,
				      &caught) != 0)
				return 1;
			if (caught != UINT64_MAX) {
				printf("caught %s at seed %llu\n",
				       raft_bug_name(b),
				       (unsigned long long)caught);
			} else {
				printf("MISSED %s\n", raft_bug_name(b));
				missed++;
			}
		}
		printf("selfcheck: %d planted bugs, %d caught, %d missed\n",
		       RAFT_BUG_COUNT - 1, RAFT_BUG_COUNT - 1 - missed, missed);
		return missed ? 1 : 0;
#endif
	}

	struct sim_totals t;
	memset(&t, 0, sizeof(t));
	uint64_t fail;
	int rv = run_range(first, seeds, jobs, false, 0, &t, &fail);
	print_totals(&t);
	bool deep = deep_enough(&t);
	printf("sim: %llu seeds, %llu violations, %llu liveness failures, "
	       "%llu disruptions\n",
	       (unsigned long long)t.seeds, (unsigned long long)t.violations,
	       (unsigned long long)t.liveness_failures,
	       (unsigned long long)t.disruptions);
	return rv == 0 && deep && t.violations == 0 &&
		       t.liveness_failures == 0 && t.disruptions == 0
		   ? 0
		   : 1;
}
