/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * The storage API: appends, truncation, compaction, snapshots written whole,
 * written by a writer beside the log and received in chunks, argument checks,
 * and the two failure modes (a failed fsync is fatal, no space for a segment is
 * not).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include <zlib.h>

#include "storage/format.h"
#include "tests/storage/memfs.h"
#include "tests/storage/util.h"

struct fixture {
	char *dir;
	struct captured_log cap;
	struct storage_loaded loaded;
	struct storage *s;
	struct memfs *fs; /* when set, the storage runs on it */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->dir = make_temp_dir();
	*state = f;
	return 0;
}

static int setup_memfs(void **state)
{
	setup(state);
	struct fixture *f = *state;
	f->fs = memfs_new(7);
	free(f->dir);
	f->dir = strdup("/data");
	assert_non_null(f->dir);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	storage_loaded_free(&f->loaded);
	storage_close(f->s);
	if (f->fs != NULL) {
		memfs_free(f->fs);
		free(f->dir);
	} else {
		remove_temp_dir(f->dir);
	}
	free(f);
	return 0;
}

static int reopen(struct fixture *f)
{
	storage_loaded_free(&f->loaded);
	storage_close(f->s);
	memset(&f->cap, 0, sizeof(f->cap));
	struct storage_options o = {.segment_size = 4096,
				    .snapshot_slice = 4096,
				    .log = capture_log,
				    .log_ctx = &f->cap,
				    .vfs = f->fs ? memfs_vfs(f->fs) : NULL};
	f->s = storage_new(f->dir, &o);
	assert_non_null(f->s);
	return storage_open(f->s, &f->loaded);
}

static void expect_log(struct fixture *f, raft_index from, raft_index to,
		       raft_term (*term)(raft_index))
{
	assert_int_equal(f->loaded.n_entries, to - from + 1);
	for (raft_index i = from; i <= to; i++)
		if (!entry_matches(&f->loaded.entries[i - from], i, term(i)))
			fail_msg("entry %llu differs", (unsigned long long)i);
}

static raft_term term1(raft_index i)
{
	(void)i;
	return 1;
}

static void test_fresh_folder(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_true(f->loaded.fresh);
	assert_int_equal(f->loaded.state.term, 0);
	assert_int_equal(f->loaded.n_entries, 0);
	assert_null(f->loaded.state.snap_config);
	assert_int_equal(storage_last_index(f->s), 0);
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_false(f->loaded.fresh);
}

static void test_append_and_reload(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_int_equal(storage_set_hard_state(f->s, 1, 3), STORAGE_OK);
	for (raft_index i = 1; i <= 200; i += 10)
		assert_int_equal(append_range(f->s, i, i + 9, 1), STORAGE_OK);
	assert_int_equal(storage_last_index(f->s), 200);
	assert_true(storage_segment_count(f->s) > 3);
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_int_equal(f->loaded.state.term, 1);
	assert_int_equal(f->loaded.state.vote, 3);
	assert_ptr_equal(f->loaded.state.entries, f->loaded.entries);
	expect_log(f, 1, 200, term1);
	assert_int_equal(storage_first_index(f->s), 1);
}

static void test_append_checks_arguments(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_int_equal(append_range(f->s, 2, 3, 1), STORAGE_EINVAL);
	assert_int_equal(append_range(f->s, 1, 3, 2), STORAGE_OK);
	assert_int_equal(append_range(f->s, 4, 4, 1), STORAGE_EINVAL);
	assert_int_equal(append_range(f->s, 3, 4, 2), STORAGE_EINVAL);
	struct raft_entry e = {.term = 2, .index = 4, .type = 0};
	assert_int_equal(storage_append(f->s, &e, 1), STORAGE_EINVAL);
	e.type = RAFT_ENTRY_COMMAND;
	e.len = RAFT_MAX_ENTRY_BYTES + 1;
	e.data = (uint8_t *)"x";
	assert_int_equal(storage_append(f->s, &e, 1), STORAGE_EINVAL);
	e.len = 5;
	e.data = NULL;
	assert_int_equal(storage_append(f->s, &e, 1), STORAGE_EINVAL);
	assert_int_equal(storage_append(f->s, NULL, 0), STORAGE_OK);
	assert_false(storage_failed(f->s));
	assert_int_equal(storage_last_index(f->s), 3);
}

static void test_hard_state_never_goes_back(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(reopen(f), STORAGE_OK);
	for (raft_term t = 1; t <= 7; t++)
		assert_int_equal(storage_set_hard_state(f->s, t, (raft_id)t),
				 STORAGE_OK);
	assert_int_equal(storage_set_hard_state(f->s, 6, 1), STORAGE_EINVAL);
	assert_int_equal(storage_set_hard_state(f->s, 7, 2000), STORAGE_EINVAL);
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_int_equal(f->loaded.state.term, 7);
	assert_int_equal(f->loaded.state.vote, 7);
}

static raft_term term_after_truncate(raft_index i)
{
	return i < 35 ? 1 : 2;
}

static void test_truncate_and_reappend(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(reopen(f), STORAGE_OK);
	for (raft_index i = 1; i <= 100; i += 5)
		assert_int_equal(append_range(f->s, i, i + 4, 1), STORAGE_OK);
	size_t segs = storage_segment_count(f->s);
	assert_int_equal(storage_truncate(f->s, 35), STORAGE_OK);
	assert_int_equal(storage_last_index(f->s), 34);
	assert_true(storage_segment_count(f->s) < segs);
	assert_int_equal(storage_truncate(f->s, 90), STORAGE_OK); /* no-op */
	assert_int_equal(append_range(f->s, 35, 60, 2), STORAGE_OK);
	assert_int_equal(reopen(f), STORAGE_OK);
	expect_log(f, 1, 60, term_after_truncate);
	assert_int_equal(f->cap.warnings, 0);
	/* Truncating everything leaves an empty log that starts over. */
	assert_int_equal(storage_truncate(f->s, 1), STORAGE_OK);
	assert_int_equal(storage_segment_count(f->s), 0);
	assert_int_equal(append_range(f->s, 1, 2, 1), STORAGE_OK);
	assert_int_equal(reopen(f), STORAGE_OK);
	expect_log(f, 1, 2, term1);
}

static void test_large_batch_gets_its_own_segment(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_int_equal(append_range(f->s, 1, 3, 1), STORAGE_OK);
	assert_int_equal(append_range(f->s, 4, 300, 1), STORAGE_OK);
	assert_int_equal(storage_segment_count(f->s), 2);
	assert_int_equal(reopen(f), STORAGE_OK);
	expect_log(f, 1, 300, term1);
}

static void write_snapshot(struct fixture *f, raft_index index, raft_term term,
			   size_t len)
{
	struct raft_config cfg;
	test_config(&cfg);
	uint8_t *data = malloc(len + 1);
	assert_non_null(data);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i ^ index);
	assert_int_equal(
	    storage_snapshot_write(f->s, index, term, &cfg, data, len),
	    STORAGE_OK);
	free(data);
}

static void check_snapshot(struct fixture *f, raft_index index, size_t len)
{
	uint8_t buf[333];
	size_t off = 0, got;
	while (off < len) {
		assert_int_equal(
		    storage_snapshot_read(f->s, off, buf, sizeof(buf), &got),
		    STORAGE_OK);
		assert_true(got > 0);
		for (size_t i = 0; i < got; i++)
			assert_int_equal(buf[i], (uint8_t)((off + i) ^ index));
		off += got;
	}
	assert_int_equal(
	    storage_snapshot_read(f->s, off, buf, sizeof(buf), &got),
	    STORAGE_OK);
	assert_int_equal(got, 0);
}

static void test_snapshot_and_compaction(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(reopen(f), STORAGE_OK);
	size_t got;
	uint8_t b;
	assert_int_equal(storage_snapshot_read(f->s, 0, &b, 1, &got),
			 STORAGE_ENOENT);
	for (raft_index i = 1; i <= 200; i += 10)
		assert_int_equal(append_range(f->s, i, i + 9, 1), STORAGE_OK);
	/* Not in the log, or wrong term: refused. */
	assert_int_equal(storage_snapshot_write(f->s, 201, 1, NULL, NULL, 0),
			 STORAGE_EINVAL);
	struct raft_config cfg;
	test_config(&cfg);
	assert_int_equal(storage_snapshot_write(f->s, 150, 2, &cfg, NULL, 0),
			 STORAGE_EINVAL);
	write_snapshot(f, 150, 1, 5000);
	check_snapshot(f, 150, 5000);
	/* Compaction keeps `trailing` entries and never passes the
	 * snapshot. */
	assert_int_equal(storage_compact(f->s, 1000), STORAGE_OK);
	assert_true(storage_first_index(f->s) <= 151);
	assert_true(storage_first_index(f->s) > 100);
	assert_int_equal(storage_truncate(f->s, 150), STORAGE_EINVAL);
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_int_equal(f->loaded.state.snap_index, 150);
	assert_int_equal(f->loaded.state.snap_size, 5000);
	assert_int_equal(f->loaded.state.snap_config->servers[0].id, 1);
	assert_int_equal(f->loaded.entries[0].index, 151);
	assert_int_equal(f->loaded.n_entries, 50);
	check_snapshot(f, 150, 5000);
	write_snapshot(f, 190, 1, 10);
	assert_int_equal(storage_snapshot_write(f->s, 180, 1, &cfg, NULL, 0),
			 STORAGE_EINVAL);
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_int_equal(f->loaded.state.snap_index, 190);
	check_snapshot(f, 190, 10);
}

static int send_chunks(struct fixture *f, raft_index index, raft_term term,
		       size_t len, size_t chunk)
{
	struct raft_config cfg;
	test_config(&cfg);
	uint8_t *data = malloc(len + 1);
	assert_non_null(data);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i ^ index);
	size_t off = 0;
	int rv;
	do {
		size_t n = len - off < chunk ? len - off : chunk;
		struct raft_snapshot_chunk c = {.index = index,
						.term = term,
						.offset = off,
						.data = data + off,
						.len = (uint32_t)n,
						.last = off + n == len,
						.config = &cfg};
		rv = storage_snapshot_chunk(f->s, &c);
		off += n;
	} while (rv == STORAGE_OK && off < len);
	free(data);
	return rv;
}

static void test_received_snapshot_keeps_matching_log(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_int_equal(append_range(f->s, 1, 50, 1), STORAGE_OK);
	assert_int_equal(send_chunks(f, 40, 1, 10000, 777), STORAGE_OK);
	assert_int_equal(storage_snapshot_index(f->s), 40);
	assert_int_equal(storage_last_index(f->s), 50);
	check_snapshot(f, 40, 10000);
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_int_equal(f->loaded.state.snap_index, 40);
	assert_int_equal(f->loaded.n_entries, 10);
	check_snapshot(f, 40, 10000);
}

static void test_received_snapshot_out_of_order(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_int_equal(append_range(f->s, 1, 50, 1), STORAGE_OK);
	struct raft_config cfg;
	test_config(&cfg);
	uint8_t data[3000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i ^ 40);
	/* A resent middle chunk, and the end before the middle: the checksum
	 * is then computed from the file instead of on the way. */
	static const struct {
		uint64_t off, len;
	} order[] = {
	    {0, 1000}, {1000, 1000}, {1000, 1000}, {2000, 500}, {2500, 500}};
	for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
		struct raft_snapshot_chunk c = {
		    .index = 40,
		    .term = 1,
		    .offset = order[k].off,
		    .data = data + order[k].off,
		    .len = (uint32_t)order[k].len,
		    .last = k == sizeof(order) / sizeof(order[0]) - 1,
		    .config = &cfg};
		assert_int_equal(storage_snapshot_chunk(f->s, &c), STORAGE_OK);
	}
	check_snapshot(f, 40, sizeof(data));
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_int_equal(f->loaded.state.snap_index, 40);
	check_snapshot(f, 40, sizeof(data));
}

static void test_received_snapshot_replaces_other_log(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_int_equal(append_range(f->s, 1, 50, 1), STORAGE_OK);
	/* Another term at 40: the whole log goes (Raft section 7). */
	assert_int_equal(send_chunks(f, 40, 3, 100, 30), STORAGE_OK);
	assert_int_equal(storage_segment_count(f->s), 0);
	assert_int_equal(append_range(f->s, 41, 45, 3), STORAGE_OK);
	/* Past the end of the log, too. */
	assert_int_equal(send_chunks(f, 80, 4, 0, 10), STORAGE_OK);
	assert_int_equal(storage_last_index(f->s), 0);
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_int_equal(f->loaded.state.snap_index, 80);
	assert_int_equal(f->loaded.state.snap_term, 4);
	assert_int_equal(f->loaded.n_entries, 0);
	assert_int_equal(append_range(f->s, 81, 81, 4), STORAGE_OK);
}

static void test_snapshot_chunk_checks(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(reopen(f), STORAGE_OK);
	uint8_t d[10] = {0};
	struct raft_snapshot_chunk c = {
	    .index = 5, .term = 1, .offset = 10, .data = d, .len = 10};
	/* A chunk that continues nothing. */
	assert_int_equal(storage_snapshot_chunk(f->s, &c), STORAGE_EINVAL);
	c.offset = 0;
	assert_int_equal(storage_snapshot_chunk(f->s, &c), STORAGE_OK);
	c.offset = 10;
	c.term = 2;
	assert_int_equal(storage_snapshot_chunk(f->s, &c), STORAGE_EINVAL);
	c.term = 1;
	c.last = true;
	c.config = NULL; /* the last chunk needs the configuration */
	assert_int_equal(storage_snapshot_chunk(f->s, &c), STORAGE_EINVAL);
	assert_false(storage_failed(f->s));
	assert_int_equal(send_chunks(f, 5, 1, 20, 10), STORAGE_OK);
	assert_int_equal(send_chunks(f, 5, 1, 20, 10), STORAGE_EINVAL);
	assert_int_equal(storage_snapshot_chunk(f->s, NULL), STORAGE_EINVAL);
}

/* ---- failure modes, on the file system model ---- */

static void test_fsync_failure_is_fatal(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_int_equal(append_range(f->s, 1, 5, 1), STORAGE_OK);
	memfs_fail_fsync(f->fs, true);
	assert_int_equal(append_range(f->s, 6, 6, 1), STORAGE_EIO);
	assert_true(storage_failed(f->s));
	char first[1024];
	snprintf(first, sizeof(first), "%s", storage_errmsg(f->s));
	assert_non_null(strstr(first, "fsync failed"));
	assert_non_null(strstr(first, "seg-"));
	/* Never retried, even once the disk is fine again. */
	memfs_fail_fsync(f->fs, false);
	assert_int_equal(append_range(f->s, 6, 6, 1), STORAGE_EIO);
	assert_int_equal(storage_set_hard_state(f->s, 2, 1), STORAGE_EIO);
	assert_int_equal(storage_truncate(f->s, 3), STORAGE_EIO);
	assert_int_equal(storage_compact(f->s, 1), STORAGE_EIO);
	uint8_t b;
	size_t got;
	assert_int_equal(storage_snapshot_read(f->s, 0, &b, 1, &got),
			 STORAGE_EIO);
	assert_string_equal(storage_errmsg(f->s), first);
	/* A restart reads what was durable. */
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_true(f->loaded.n_entries == 5 || f->loaded.n_entries == 6);
}

static void test_meta_fsync_failure_is_fatal(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(reopen(f), STORAGE_OK);
	memfs_fail_fsync(f->fs, true);
	assert_int_equal(storage_set_hard_state(f->s, 1, 1), STORAGE_EIO);
	memfs_fail_fsync(f->fs, false);
	assert_int_equal(storage_set_hard_state(f->s, 1, 1), STORAGE_EIO);
	assert_non_null(strstr(storage_errmsg(f->s), "meta"));
}

static void test_no_space_for_a_segment(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_int_equal(append_range(f->s, 1, 5, 1), STORAGE_OK);
	memfs_no_space(f->fs, true);
	/* Fits in the current segment: fine. Needs a new one: ENOSPC. */
	assert_int_equal(append_range(f->s, 6, 6, 1), STORAGE_OK);
	assert_int_equal(append_range(f->s, 7, 100, 1), STORAGE_ENOSPC);
	assert_non_null(strstr(storage_errmsg(f->s), "no space"));
	assert_false(storage_failed(f->s));
	/* Term/vote and truncation still work. */
	assert_int_equal(storage_set_hard_state(f->s, 2, 2), STORAGE_OK);
	assert_int_equal(storage_truncate(f->s, 6), STORAGE_OK);
	memfs_no_space(f->fs, false);
	assert_int_equal(append_range(f->s, 6, 100, 2), STORAGE_OK);
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_int_equal(f->loaded.n_entries, 100);
	assert_int_equal(f->loaded.state.term, 2);
}

static void test_no_space_for_a_snapshot(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_int_equal(append_range(f->s, 1, 5, 1), STORAGE_OK);
	memfs_no_space(f->fs, true);
	struct raft_config cfg;
	test_config(&cfg);
	uint8_t data[100] = {0};
	assert_int_equal(storage_snapshot_write(f->s, 5, 1, &cfg, data, 100),
			 STORAGE_ENOSPC);
	assert_false(storage_failed(f->s));
	memfs_no_space(f->fs, false);
	assert_int_equal(storage_snapshot_write(f->s, 5, 1, &cfg, data, 100),
			 STORAGE_OK);
}

/* A killed process leaves the folder unlocked and every acknowledged
 * entry readable (a kill keeps the page cache: this checks the lock and
 * the real file path, not fsync; the crash tests do that). */
static void test_killed_process_releases_the_folder(void **state)
{
	struct fixture *f = *state;
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		struct storage *s = storage_new(f->dir, NULL);
		struct storage_loaded l;
		if (s == NULL || storage_open(s, &l) != STORAGE_OK)
			_exit(1);
		for (raft_index i = 1; i <= 1000; i++) {
			if (append_range(s, i, i, 1) != STORAGE_OK)
				_exit(1);
			if (write(fds[1], &i, sizeof(i)) != sizeof(i))
				_exit(1);
		}
		pause();
		_exit(0);
	}
	close(fds[1]);
	raft_index acked = 0;
	while (acked < 20 &&
	       read(fds[0], &acked, sizeof(acked)) == sizeof(acked))
		;
	assert_int_equal(acked, 20);
	assert_int_equal(reopen(f), STORAGE_ELOCKED);
	kill(pid, SIGKILL);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	while (read(fds[0], &acked, sizeof(acked)) == sizeof(acked))
		;
	close(fds[0]);
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_true(f->loaded.n_entries >= acked);
	expect_log(f, 1, f->loaded.n_entries, term1);
}

static void test_strerror(void **state)
{
	(void)state;
	for (int rv = STORAGE_OK; rv >= STORAGE_ENOENT; rv--)
		assert_string_not_equal(storage_strerror(rv),
					"unknown storage error");
	assert_string_equal(storage_strerror(-100), "unknown storage error");
}

/* ---- snapshots written beside the log ---- */

static uint8_t *pattern(raft_index index, size_t len)
{
	uint8_t *data = malloc(len + 1);
	assert_non_null(data);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i ^ index);
	return data;
}

/* On the real file system only. */
static size_t count_temporary_files(const struct fixture *f)
{
	if (f->fs != NULL)
		return 0;
	DIR *d = opendir(f->dir);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (l > 4 && strcmp(e->d_name + l - 4, ".tmp") == 0)
			n++;
	}
	closedir(d);
	return n;
}

static void test_snapshot_writer_beside_appends(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_int_equal(append_range(f->s, 1, 100, 1), STORAGE_OK);
	struct raft_config cfg;
	test_config(&cfg);
	const size_t len = 30000;
	uint8_t *data = pattern(60, len);
	struct storage_snapshot_writer *w =
	    storage_snapshot_writer_new(f->s, 60, 1, &cfg, len);
	assert_non_null(w);
	/* The log moves on between the pieces of the snapshot. */
	assert_int_equal(storage_snapshot_writer_write(w, data, 7000),
			 STORAGE_OK);
	assert_int_equal(append_range(f->s, 101, 150, 1), STORAGE_OK);
	assert_int_equal(
	    storage_snapshot_writer_write(w, data + 7000, len - 7000),
	    STORAGE_OK);
	assert_int_equal(append_range(f->s, 151, 160, 1), STORAGE_OK);
	assert_int_equal(storage_snapshot_index(f->s), 0);
	assert_int_equal(storage_snapshot_writer_finish(w), STORAGE_OK);
	assert_int_equal(storage_snapshot_install(f->s, w), STORAGE_OK);
	storage_snapshot_writer_free(w);
	free(data);
	assert_int_equal(storage_snapshot_index(f->s), 60);
	assert_int_equal(storage_last_index(f->s), 160);
	check_snapshot(f, 60, len);
	assert_int_equal(count_temporary_files(f), 0);
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_int_equal(f->loaded.state.snap_index, 60);
	assert_int_equal(f->loaded.state.snap_size, len);
	assert_int_equal(storage_last_index(f->s), 160);
	check_snapshot(f, 60, len);
}

static void test_snapshot_writer_overtaken(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_int_equal(append_range(f->s, 1, 100, 1), STORAGE_OK);
	struct raft_config cfg;
	test_config(&cfg);
	uint8_t *data = pattern(50, 5000);
	struct storage_snapshot_writer *w =
	    storage_snapshot_writer_new(f->s, 50, 1, &cfg, 5000);
	assert_non_null(w);
	assert_int_equal(storage_snapshot_writer_write(w, data, 5000),
			 STORAGE_OK);
	assert_int_equal(storage_snapshot_writer_finish(w), STORAGE_OK);
	/* A newer snapshot became durable while this one was written. */
	write_snapshot(f, 80, 1, 100);
	assert_int_equal(storage_snapshot_install(f->s, w), STORAGE_EINVAL);
	assert_non_null(strstr(storage_errmsg(f->s), "not after"));
	storage_snapshot_writer_free(w);
	free(data);
	/* Refused without harm: the storage goes on, the file is gone. */
	assert_int_equal(storage_snapshot_index(f->s), 80);
	assert_int_equal(append_range(f->s, 101, 110, 1), STORAGE_OK);
	check_snapshot(f, 80, 100);
	assert_int_equal(count_temporary_files(f), 0);

	/* A writer that is dropped unfinished leaves nothing either. */
	w = storage_snapshot_writer_new(f->s, 90, 1, &cfg, 5000);
	assert_non_null(w);
	assert_int_equal(count_temporary_files(f), 1);
	storage_snapshot_writer_free(w);
	assert_int_equal(count_temporary_files(f), 0);
}

static void test_snapshot_writer_checks(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_int_equal(append_range(f->s, 1, 100, 1), STORAGE_OK);
	struct raft_config cfg;
	test_config(&cfg);
	uint8_t data[64] = {0};
	/* More than announced. */
	struct storage_snapshot_writer *w =
	    storage_snapshot_writer_new(f->s, 50, 1, &cfg, 10);
	assert_non_null(w);
	assert_int_equal(storage_snapshot_writer_write(w, data, 11),
			 STORAGE_EINVAL);
	assert_non_null(strstr(storage_snapshot_writer_errmsg(w), "more data"));
	assert_int_equal(storage_snapshot_writer_finish(w), STORAGE_EINVAL);
	assert_int_equal(storage_snapshot_install(f->s, w), STORAGE_EINVAL);
	storage_snapshot_writer_free(w);
	/* Fewer than announced. */
	w = storage_snapshot_writer_new(f->s, 50, 1, &cfg, 10);
	assert_int_equal(storage_snapshot_writer_write(w, data, 9), STORAGE_OK);
	assert_int_equal(storage_snapshot_writer_finish(w), STORAGE_EINVAL);
	assert_int_equal(storage_snapshot_install(f->s, w), STORAGE_EINVAL);
	storage_snapshot_writer_free(w);
	/* No configuration; an index whose term differs; not finished. */
	w = storage_snapshot_writer_new(f->s, 50, 1, NULL, 0);
	assert_int_equal(storage_snapshot_install(f->s, w), STORAGE_EINVAL);
	storage_snapshot_writer_free(w);
	w = storage_snapshot_writer_new(f->s, 50, 2, &cfg, 0);
	assert_int_equal(storage_snapshot_writer_finish(w), STORAGE_OK);
	assert_int_equal(storage_snapshot_install(f->s, w), STORAGE_EINVAL);
	storage_snapshot_writer_free(w);
	w = storage_snapshot_writer_new(f->s, 50, 1, &cfg, 0);
	assert_int_equal(storage_snapshot_install(f->s, w), STORAGE_EINVAL);
	storage_snapshot_writer_free(w);
	/* None of that harmed the storage. */
	assert_int_equal(storage_snapshot_index(f->s), 0);
	assert_int_equal(count_temporary_files(f), 0);
	write_snapshot(f, 50, 1, 10);
	assert_int_equal(append_range(f->s, 101, 101, 1), STORAGE_OK);
}

struct writer_thread {
	struct storage_snapshot_writer *w;
	const uint8_t *data;
	size_t len;
	int rv;
};

static void *write_in_pieces(void *arg)
{
	struct writer_thread *t = arg;
	size_t off = 0;
	t->rv = STORAGE_OK;
	while (t->rv == STORAGE_OK && off < t->len) {
		size_t n = t->len - off < 777 ? t->len - off : 777;
		t->rv = storage_snapshot_writer_write(t->w, t->data + off, n);
		off += n;
	}
	if (t->rv == STORAGE_OK)
		t->rv = storage_snapshot_writer_finish(t->w);
	return NULL;
}

static void test_snapshot_writer_on_its_own_thread(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_int_equal(append_range(f->s, 1, 100, 1), STORAGE_OK);
	struct raft_config cfg;
	test_config(&cfg);
	const size_t len = 1u << 20;
	struct writer_thread t = {.data = pattern(100, len), .len = len};
	t.w = storage_snapshot_writer_new(f->s, 100, 1, &cfg, len);
	assert_non_null(t.w);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, write_in_pieces, &t), 0);
	raft_index next = 101;
	for (int i = 0; i < 200; i++, next += 5)
		assert_int_equal(append_range(f->s, next, next + 4, 1),
				 STORAGE_OK);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(t.rv, STORAGE_OK);
	assert_int_equal(storage_snapshot_install(f->s, t.w), STORAGE_OK);
	storage_snapshot_writer_free(t.w);
	free((void *)t.data);
	assert_int_equal(storage_compact(f->s, 90), STORAGE_OK);
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_int_equal(f->loaded.state.snap_index, 100);
	assert_int_equal(storage_last_index(f->s), next - 1);
	check_snapshot(f, 100, len);
}

/* The checksum of every record and file header: zlib's crc32 for every
 * length, alignment and starting value, computed by carry-less
 * multiplication wherever the processor has it. */
static void test_crc32_matches_zlib(void **state)
{
	(void)state;
	static uint8_t buf[70000];
	uint32_t seed = 12345;
	for (size_t i = 0; i < sizeof(buf); i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (uint8_t)(seed >> 16);
	}
	for (size_t len = 0; len <= 2100; len++) {
		seed = seed * 1103515245u + 12345u;
		size_t off = seed % 61;
		uint32_t init = len % 3 == 0 ? 0 : seed;
		assert_int_equal(storage__crc32(init, buf + off, len),
				 (uint32_t)crc32(init, buf + off, (uInt)len));
	}
	assert_int_equal(storage__crc32(7, buf, sizeof(buf)),
			 (uint32_t)crc32(7, buf, sizeof(buf)));
	/* Split anywhere, the pieces chain like zlib's. */
	uint32_t c = storage__crc32(0, buf, 1000);
	assert_int_equal(storage__crc32(c, buf + 1000, 3000),
			 (uint32_t)crc32(0, buf, 4000));
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("pclmul"))
		assert_true(storage__crc32_accelerated());
#endif
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
#define M(name) cmocka_unit_test_setup_teardown(name, setup_memfs, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_fresh_folder),
	    T(test_append_and_reload),
	    T(test_append_checks_arguments),
	    T(test_hard_state_never_goes_back),
	    T(test_truncate_and_reappend),
	    T(test_large_batch_gets_its_own_segment),
	    T(test_snapshot_and_compaction),
	    T(test_received_snapshot_keeps_matching_log),
	    T(test_received_snapshot_out_of_order),
	    T(test_received_snapshot_replaces_other_log),
	    T(test_snapshot_chunk_checks),
	    T(test_killed_process_releases_the_folder),
	    M(test_fsync_failure_is_fatal),
	    M(test_meta_fsync_failure_is_fatal),
	    M(test_no_space_for_a_segment),
	    M(test_no_space_for_a_snapshot),
	    M(test_append_and_reload),
	    M(test_truncate_and_reappend),
	    M(test_snapshot_and_compaction),
	    T(test_snapshot_writer_beside_appends),
	    T(test_snapshot_writer_overtaken),
	    T(test_snapshot_writer_checks),
	    T(test_snapshot_writer_on_its_own_thread),
	    M(test_snapshot_writer_beside_appends),
	    cmocka_unit_test(test_strerror),
	    cmocka_unit_test(test_crc32_matches_zlib),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
