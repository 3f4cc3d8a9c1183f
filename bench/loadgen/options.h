/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The load generator's command line, parsed without side effects so that
 * its checks can be tested on their own. */
#ifndef BENCH_LOADGEN_OPTIONS_H
#define BENCH_LOADGEN_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

/* Every payload starts with the send time and the sender's sequence number
 * (two 64-bit values), so that the receiver can time it. */
#define LOADGEN_HEADER_BYTES 16
#define LOADGEN_MAX_CLIENTS 256
#define LOADGEN_MAX_PAYLOAD (16 * 1024 * 1024)

struct loadgen_options {
	const char *host;
	int port;
	const char *username;
	const char *password;
	const char *topic_prefix;
	int publishers;
	int subscribers;
	int qos;
	bool retain;
	bool persistent; /* subscribers keep a session (clean session off) */
	size_t payload;	 /* bytes per message, header included */
	long count;	 /* messages per publisher */
	double seconds;	 /* the whole run ends by then, finished or not */
	int window;	 /* messages a publisher has unacknowledged at most */
	long topics;	 /* distinct topics per publisher, in turn */
	double rate;	 /* messages per second per publisher; 0: no limit */
	bool sink;	 /* against the built-in minimal broker (ceiling) */
};

/* Fills opts from argv; 0, or -1 with a message in err (errlen bytes).
 * "--help" gives -2. */
int loadgen_options_parse(struct loadgen_options *opts, int argc, char **argv,
			  char *err, size_t errlen);

void loadgen_options_usage(const char *prog);

#endif
