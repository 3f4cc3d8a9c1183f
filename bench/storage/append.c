/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Append + fsync throughput of the storage on this machine's disk, by batch
 * size (group commit), and the rate of term/vote updates. Numbers only, not
 * a test.
 *   storage_bench [FOLDER] [SECONDS_PER_POINT] [ENTRY_BYTES]
 * FOLDER defaults to build/bench-storage (it is emptied first).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "storage/storage.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void quiet(void *ctx, enum storage_log_level level, const char *msg)
{
	(void)ctx;
	if (level >= STORAGE_LOG_WARNING)
		fprintf(stderr, "storage: %s\n", msg);
}

static int empty_folder(const char *dir)
{
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
	return system(cmd);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "build/bench-storage";
	double seconds = argc > 2 ? atof(argv[2]) : 1.0;
	uint32_t entry_bytes = argc > 3 ? (uint32_t)atoi(argv[3]) : 256;
	static const size_t batches[] = {1, 4, 16, 64, 256};
	if (strchr(dir, '\'') != NULL || seconds <= 0 ||
	    entry_bytes > RAFT_MAX_ENTRY_BYTES) {
		fprintf(stderr, "usage: %s [FOLDER] [SECONDS] [ENTRY_BYTES]\n",
			argv[0]);
		return 2;
	}
	if (empty_folder(dir) != 0)
		return 1;
	struct storage_options o = {.log = quiet};
	struct storage *s = storage_new(dir, &o);
	struct storage_loaded l;
	if (s == NULL || storage_open(s, &l) != STORAGE_OK) {
		fprintf(stderr, "open %s: %s\n", dir,
			s ? storage_errmsg(s) : "out of memory");
		return 1;
	}
	storage_loaded_free(&l);

	struct raft_entry *e = calloc(256, sizeof(*e));
	uint8_t *data = malloc(entry_bytes + 1);
	if (e == NULL || data == NULL)
		return 1;
	memset(data, 0x5a, entry_bytes);
	printf("storage append+fsync in %s, %u-byte entries, %.1f s per "
	       "point\n",
	       dir, entry_bytes, seconds);
	printf("%8s %12s %14s %10s %12s\n", "batch", "batches/s", "entries/s",
	       "MB/s", "ms/batch");
	raft_index next = 1;
	for (size_t b = 0; b < sizeof(batches) / sizeof(batches[0]); b++) {
		size_t n = batches[b];
		unsigned long count = 0;
		double start = now_s(), t;
		do {
			for (size_t i = 0; i < n; i++)
				e[i] = (struct raft_entry){
				    .term = 1,
				    .index = next + i,
				    .type = RAFT_ENTRY_COMMAND,
				    .version = 1,
				    .len = entry_bytes,
				    .data = data};
			int rv = storage_append(s, e, n);
			if (rv != STORAGE_OK) {
				fprintf(stderr, "append: %s\n",
					storage_errmsg(s));
				return 1;
			}
			next += n;
			count++;
			t = now_s() - start;
		} while (t < seconds);
		printf("%8zu %12.0f %14.0f %10.2f %12.3f\n", n, count / t,
		       count * n / t, count * n * (double)entry_bytes / t / 1e6,
		       t * 1e3 / count);
		/* Keep the folder small between points. */
		if (storage_truncate(s, 1) != STORAGE_OK)
			return 1;
		next = 1;
	}
	unsigned long count = 0;
	double start = now_s(), t;
	do {
		if (storage_set_hard_state(s, count + 1, 1) != STORAGE_OK) {
			fprintf(stderr, "term/vote: %s\n", storage_errmsg(s));
			return 1;
		}
		count++;
		t = now_s() - start;
	} while (t < seconds);
	printf("term/vote updates: %.0f/s (%.3f ms each)\n", count / t,
	       t * 1e3 / count);
	storage_close(s);
	free(e);
	free(data);
	empty_folder(dir);
	return 0;
}
