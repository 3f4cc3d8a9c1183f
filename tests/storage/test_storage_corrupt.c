/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Crash and corruption corpus: real files in a temporary folder, damaged on
 * purpose, then opened again. What a crash can leave (a torn last batch, an
 * unfinished allocation, temporary files, half-done compaction) is repaired
 * and logged; anything else is refused with an error naming the file and
 * the offset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "storage/format.h"
#include "tests/storage/util.h"

#define N_ENTRIES 60u
#define SEG_SIZE 4096u

struct fixture {
	char *dir;
	struct captured_log cap;
	struct storage_loaded loaded;
	struct storage *s;
	raft_index firsts[32];
	size_t n_segs;
};

static raft_term term_of(raft_index i)
{
	return 1 + (i - 1) / 15;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->dir = make_temp_dir();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	storage_loaded_free(&f->loaded);
	storage_close(f->s);
	remove_temp_dir(f->dir);
	free(f);
	return 0;
}

static int reopen(struct fixture *f)
{
	storage_loaded_free(&f->loaded);
	storage_close(f->s);
	memset(&f->cap, 0, sizeof(f->cap));
	struct storage_options o = {
	    .segment_size = SEG_SIZE, .log = capture_log, .log_ctx = &f->cap};
	f->s = storage_new(f->dir, &o);
	assert_non_null(f->s);
	return storage_open(f->s, &f->loaded);
}

static int list_seg(void *arg, const char *name)
{
	struct fixture *f = arg;
	if (strncmp(name, "seg-", 4) == 0 && f->n_segs < 32)
		f->firsts[f->n_segs++] = strtoull(name + 4, NULL, 10);
	return 0;
}

static int cmp_idx(const void *a, const void *b)
{
	raft_index x = *(const raft_index *)a, y = *(const raft_index *)b;
	return x < y ? -1 : x > y;
}

static void list_segments(struct fixture *f)
{
	f->n_segs = 0;
	storage_vfs_posix.list(NULL, f->dir, list_seg, f);
	qsort(f->firsts, f->n_segs, sizeof(raft_index), cmp_idx);
}

static void seg_path(struct fixture *f, size_t i, char *out)
{
	char name[64];
	snprintf(name, sizeof(name), "seg-%020llu",
		 (unsigned long long)f->firsts[i]);
	file_path(out, f->dir, name);
}

/* term/vote 4/2 (meta1 seq 3, meta2 seq 4); entries 1..60 in batches of 3
 * (the last one alone), terms rising every 15; several segments. */
static void build(struct fixture *f)
{
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_true(f->loaded.fresh);
	assert_int_equal(storage_set_hard_state(f->s, 3, 1), STORAGE_OK);
	assert_int_equal(storage_set_hard_state(f->s, 4, 2), STORAGE_OK);
	for (raft_index i = 1; i < N_ENTRIES; i += 3) {
		raft_index to = i + 2 < N_ENTRIES ? i + 2 : N_ENTRIES - 1;
		for (raft_index j = i; j <= to; j++)
			if (term_of(j) != term_of(i))
				to = j - 1;
		assert_int_equal(append_range(f->s, i, to, term_of(i)),
				 STORAGE_OK);
		i = to - 2;
	}
	assert_int_equal(
	    append_range(f->s, N_ENTRIES, N_ENTRIES, term_of(N_ENTRIES)),
	    STORAGE_OK);
	storage_close(f->s);
	f->s = NULL;
	list_segments(f);
	assert_true(f->n_segs >= 3);
}

/* Reads segment i and scans it. */
static uint8_t *scan_segment(struct fixture *f, size_t i,
			     struct storage_scan *sc, long *len)
{
	char path[4096];
	seg_path(f, i, path);
	*len = file_size_of(path);
	uint8_t *buf = malloc((size_t)*len);
	assert_non_null(buf);
	file_read(path, buf, (size_t)*len, 0);
	assert_int_equal(
	    storage__segment_scan(buf, (size_t)*len, f->firsts[i], 0, sc),
	    STORAGE_OK);
	return buf;
}

static void expect_all(struct fixture *f, raft_index last)
{
	assert_int_equal(f->loaded.n_entries, last);
	for (raft_index i = 1; i <= last; i++)
		assert_true(
		    entry_matches(&f->loaded.entries[i - 1], i, term_of(i)));
	assert_int_equal(f->loaded.state.term, 4);
	assert_int_equal(f->loaded.state.vote, 2);
}

static void expect_error(struct fixture *f, int code, const char *needle1,
			 const char *needle2)
{
	int rv = reopen(f);
	const char *msg = storage_errmsg(f->s);
	if (rv != code || (needle1 && strstr(msg, needle1) == NULL) ||
	    (needle2 && strstr(msg, needle2) == NULL))
		fail_msg("open returned %d (%s), expected %d with '%s' '%s'",
			 rv, msg, code, needle1 ? needle1 : "",
			 needle2 ? needle2 : "");
	assert_int_equal(f->loaded.n_entries, 0);
}

static void expect_error_at(struct fixture *f, int code, const char *path,
			    long offset)
{
	char off[64];
	snprintf(off, sizeof(off), "offset %ld", offset);
	const char *name = strrchr(path, '/') + 1;
	expect_error(f, code, name, off);
}

/* ---- the reference state opens cleanly ---- */

static void test_clean_reopen(void **state)
{
	struct fixture *f = *state;
	build(f);
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_false(f->loaded.fresh);
	expect_all(f, N_ENTRIES);
	assert_int_equal(f->cap.warnings, 0);
}

/* ---- torn tails: repaired, logged, nothing else lost ---- */

static void torn_tail_every_offset(struct fixture *f, bool shorten)
{
	build(f);
	size_t last = f->n_segs - 1;
	struct storage_scan sc;
	long len;
	uint8_t *orig = scan_segment(f, last, &sc, &len);
	uint64_t rec = sc.offsets[sc.n - 1];
	/* Header and data; the zero padding after them is no tear. */
	uint64_t size = STORAGE_RECORD_HEADER_SIZE + entry_len(N_ENTRIES);
	storage__scan_free(&sc);
	char path[4096];
	seg_path(f, last, path);
	char next[4096];
	snprintf(next, sizeof(next), "%s/seg-%020llu", f->dir,
		 (unsigned long long)N_ENTRIES);
	for (uint64_t k = 0; k < size; k++) {
		/* A cut file has no room left: the append check below may
		 * have started a segment of its own. */
		unlink(next);
		file_create(path, orig, (size_t)len);
		if (shorten)
			assert_int_equal(truncate(path, (off_t)(rec + k)), 0);
		else
			file_zero(path, (long)(rec + k), (size_t)(size - k));
		if (reopen(f) != STORAGE_OK)
			fail_msg("offset %llu: %s", (unsigned long long)k,
				 storage_errmsg(f->s));
		expect_all(f, N_ENTRIES - 1);
		if (k > 0)
			assert_non_null(strstr(f->cap.text, "torn"));
		/* The log goes on from the repaired end. */
		if (k % 16 == 0) {
			assert_int_equal(append_range(f->s, N_ENTRIES,
						      N_ENTRIES,
						      term_of(N_ENTRIES)),
					 STORAGE_OK);
			assert_int_equal(reopen(f), STORAGE_OK);
			expect_all(f, N_ENTRIES);
			assert_int_equal(f->cap.warnings, 0);
		}
	}
	free(orig);
}

static void test_torn_tail_zeroed_at_every_offset(void **state)
{
	torn_tail_every_offset(*state, false);
}

static void test_torn_tail_cut_at_every_offset(void **state)
{
	torn_tail_every_offset(*state, true);
}

static void test_torn_tail_garbage(void **state)
{
	struct fixture *f = *state;
	build(f);
	struct storage_scan sc;
	long len;
	free(scan_segment(f, f->n_segs - 1, &sc, &len));
	uint64_t rec = sc.offsets[sc.n - 1];
	uint8_t junk[16];
	memset(junk, 0xa5, sizeof(junk));
	char path[4096];
	seg_path(f, f->n_segs - 1, path);
	file_write(path, junk, sizeof(junk), (long)(sc.end - 16));
	storage__scan_free(&sc);
	(void)rec;
	assert_int_equal(reopen(f), STORAGE_OK);
	expect_all(f, N_ENTRIES - 1);
	assert_non_null(strstr(f->cap.text, "torn"));
}

/* A torn batch may keep its later records and lose an earlier one. */
static void test_torn_batch_keeps_later_record(void **state)
{
	struct fixture *f = *state;
	build(f);
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_int_equal(append_range(f->s, N_ENTRIES + 1, N_ENTRIES + 3,
				      term_of(N_ENTRIES)),
			 STORAGE_OK);
	storage_close(f->s);
	f->s = NULL;
	list_segments(f);
	struct storage_scan sc;
	long len;
	free(scan_segment(f, f->n_segs - 1, &sc, &len));
	char path[4096];
	seg_path(f, f->n_segs - 1, path);
	/* The batch's first record is lost, the next two survived. */
	file_zero(path, (long)sc.offsets[sc.n - 3], STORAGE_RECORD_HEADER_SIZE);
	storage__scan_free(&sc);
	assert_int_equal(reopen(f), STORAGE_OK);
	expect_all(f, N_ENTRIES);
	assert_non_null(strstr(f->cap.text, "torn"));
}

/* Undecidable by design: damage in the very last record reads as a torn
 * write (the entry may not have been acknowledged). It is logged. */
static void test_bit_flip_in_last_record_reads_as_torn(void **state)
{
	struct fixture *f = *state;
	build(f);
	struct storage_scan sc;
	long len;
	free(scan_segment(f, f->n_segs - 1, &sc, &len));
	char path[4096];
	seg_path(f, f->n_segs - 1, path);
	file_flip_bit(path, (long)sc.offsets[sc.n - 1] + 9, 3);
	storage__scan_free(&sc);
	assert_int_equal(reopen(f), STORAGE_OK);
	expect_all(f, N_ENTRIES - 1);
	assert_true(f->cap.warnings > 0);
}

/* ---- damage inside the log: refused with file and offset ---- */

/* Flips a bit in record `rec` of segment `seg` (counted from the end when
 * from_end). */
static void flip_in_record(struct fixture *f, size_t seg, size_t rec,
			   bool from_end, unsigned field_off, int code)
{
	build(f);
	if (seg == SIZE_MAX)
		seg = f->n_segs - 1;
	struct storage_scan sc;
	long len;
	free(scan_segment(f, seg, &sc, &len));
	if (from_end)
		rec = sc.n - 1 - rec;
	char path[4096];
	seg_path(f, seg, path);
	long at = (long)sc.offsets[rec];
	storage__scan_free(&sc);
	file_flip_bit(path, at + (long)field_off, 1);
	expect_error_at(f, code, path, at);
}

/* Field offsets in the record header (format.c): magic 0, format 4, type
 * 5, version 6, reserved 7, term 8, index 16, len 24, batch position 28,
 * data checksum 32, header checksum 36; data from 40. */
#define FLIP_TEST(name, off)                                                   \
	static void test_flip_record_##name(void **state)                      \
	{                                                                      \
		flip_in_record(*state, 0, 4, false, off, STORAGE_ECORRUPT);    \
	}
FLIP_TEST(magic, 0)
FLIP_TEST(format, 4)
FLIP_TEST(type, 5)
FLIP_TEST(version, 6)
FLIP_TEST(reserved, 7)
FLIP_TEST(term, 8)
FLIP_TEST(term_high, 15)
FLIP_TEST(index, 16)
FLIP_TEST(len, 24)
FLIP_TEST(batch_pos, 28)
FLIP_TEST(data_crc, 32)
FLIP_TEST(header_crc, 36)
FLIP_TEST(data, 41)

static void test_flip_in_last_segment_before_later_batch(void **state)
{
	/* Not the last record of the last segment: a later batch follows. */
	flip_in_record(*state, SIZE_MAX, 2, true, 8, STORAGE_ECORRUPT);
}

static void test_zeroed_record_inside_log(void **state)
{
	struct fixture *f = *state;
	build(f);
	struct storage_scan sc;
	long len;
	free(scan_segment(f, f->n_segs - 1, &sc, &len));
	char path[4096];
	seg_path(f, f->n_segs - 1, path);
	long at = (long)sc.offsets[0];
	storage__scan_free(&sc);
	file_zero(path, at, STORAGE_RECORD_HEADER_SIZE);
	expect_error_at(f, STORAGE_ECORRUPT, path, at);
}

/* Rewrites record `rec` of segment `seg` with a valid checksum but the
 * given change. */
static void rewrite_record(struct fixture *f, size_t seg, size_t rec,
			   void (*change)(struct storage_record *), int code)
{
	build(f);
	struct storage_scan sc;
	long len;
	uint8_t *buf = scan_segment(f, seg, &sc, &len);
	long at = (long)sc.offsets[rec];
	storage__scan_free(&sc);
	struct storage_record r;
	char why[STORAGE_WHY_MAX];
	assert_int_equal(storage__record_header_decode(buf + at, 40, &r, why),
			 STORAGE_OK);
	change(&r);
	uint8_t hdr[STORAGE_RECORD_HEADER_SIZE];
	storage__record_header_encode(&r, hdr);
	char path[4096];
	seg_path(f, seg, path);
	file_write(path, hdr, sizeof(hdr), at);
	free(buf);
	expect_error_at(f, code, path, at);
}

static void index_plus_one(struct storage_record *r)
{
	r->index++;
}
static void term_down(struct storage_record *r)
{
	r->term = 0 + 1;
}
static void newer_format(struct storage_record *r)
{
	r->format = STORAGE_FORMAT + 1;
}
static void huge_len(struct storage_record *r)
{
	r->len = SEG_SIZE * 2;
}

static void test_record_index_out_of_sequence(void **state)
{
	rewrite_record(*state, 1, 2, index_plus_one, STORAGE_ECORRUPT);
}

static void test_record_term_goes_down(void **state)
{
	rewrite_record(*state, 2, 2, term_down, STORAGE_ECORRUPT);
}

static void test_record_newer_format(void **state)
{
	rewrite_record(*state, 1, 2, newer_format, STORAGE_EFORMAT);
}

static void test_record_runs_past_segment(void **state)
{
	rewrite_record(*state, 0, 1, huge_len, STORAGE_ECORRUPT);
}

/* ---- segments ---- */

static void test_segment_bad_magic(void **state)
{
	struct fixture *f = *state;
	build(f);
	char path[4096];
	seg_path(f, 0, path);
	file_flip_bit(path, 2, 0);
	expect_error_at(f, STORAGE_ECORRUPT, path, 0);
}

static void test_segment_header_checksum(void **state)
{
	struct fixture *f = *state;
	build(f);
	char path[4096];
	seg_path(f, 1, path);
	file_flip_bit(path, 17, 4);
	expect_error_at(f, STORAGE_ECORRUPT, path, 0);
}

static void test_segment_newer_format(void **state)
{
	struct fixture *f = *state;
	build(f);
	char path[4096];
	seg_path(f, 1, path);
	uint8_t hdr[STORAGE_SEGMENT_HEADER_SIZE];
	struct storage_segment_header h = {.format = STORAGE_FORMAT + 1,
					   .first_index = f->firsts[1]};
	storage__segment_header_encode(&h, hdr);
	file_write(path, hdr, sizeof(hdr), 0);
	expect_error(f, STORAGE_EFORMAT, "format 2", "refusing to start");
}

static void test_segment_name_disagrees_with_header(void **state)
{
	struct fixture *f = *state;
	build(f);
	char path[4096], other[4096];
	seg_path(f, 1, path);
	snprintf(other, sizeof(other), "%s/seg-%020llu", f->dir,
		 (unsigned long long)(f->firsts[1] + 1));
	assert_int_equal(rename(path, other), 0);
	expect_error(f, STORAGE_ECORRUPT, "header says first index", NULL);
}

static void test_missing_first_segment(void **state)
{
	struct fixture *f = *state;
	build(f);
	char path[4096];
	seg_path(f, 0, path);
	assert_int_equal(unlink(path), 0);
	expect_error(f, STORAGE_ECORRUPT, "missing", "seg-");
}

static void test_missing_middle_segment(void **state)
{
	struct fixture *f = *state;
	build(f);
	char path[4096];
	seg_path(f, 1, path);
	assert_int_equal(unlink(path), 0);
	expect_error(f, STORAGE_ECORRUPT, "are missing between", NULL);
}

/* Writes a segment file holding entries from..to. */
static void craft_segment(struct fixture *f, raft_index first, raft_index to)
{
	uint8_t *buf = calloc(1, SEG_SIZE * 4);
	assert_non_null(buf);
	struct storage_segment_header h = {.format = STORAGE_FORMAT,
					   .first_index = first};
	storage__segment_header_encode(&h, buf);
	uint64_t pos = STORAGE_SEGMENT_HEADER_SIZE;
	for (raft_index i = first; i <= to; i++) {
		uint8_t data[256];
		uint32_t len = entry_len(i);
		entry_bytes(data, len, i, term_of(i));
		struct storage_record r = {.format = STORAGE_FORMAT,
					   .type = RAFT_ENTRY_COMMAND,
					   .version = 1,
					   .term = term_of(i),
					   .index = i,
					   .len = len,
					   .batch_pos = (uint32_t)(i - first),
					   .data_crc =
					       storage__crc32(0, data, len)};
		storage__record_header_encode(&r, buf + pos);
		memcpy(buf + pos + STORAGE_RECORD_HEADER_SIZE, data, len);
		pos += storage__record_size(len);
		assert_true(pos < SEG_SIZE * 4);
	}
	char name[64], path[4096];
	snprintf(name, sizeof(name), "seg-%020llu", (unsigned long long)first);
	file_path(path, f->dir, name);
	file_create(path, buf, SEG_SIZE * 4);
	free(buf);
}

static void test_overlapping_segments(void **state)
{
	struct fixture *f = *state;
	build(f);
	craft_segment(f, f->firsts[1] - 2, f->firsts[1] + 1);
	expect_error(f, STORAGE_ECORRUPT, "overlaps", NULL);
}

static void test_extra_segment_after_gap(void **state)
{
	struct fixture *f = *state;
	build(f);
	craft_segment(f, N_ENTRIES + 5, N_ENTRIES + 7);
	expect_error(f, STORAGE_ECORRUPT, "are missing between", NULL);
}

static void test_torn_tail_in_non_last_segment(void **state)
{
	struct fixture *f = *state;
	build(f);
	struct storage_scan sc;
	long len;
	free(scan_segment(f, 0, &sc, &len));
	char path[4096];
	seg_path(f, 0, path);
	long at = (long)sc.offsets[sc.n - 1];
	storage__scan_free(&sc);
	file_zero(path, at + 8, 8);
	expect_error(f, STORAGE_ECORRUPT, "only the last segment", NULL);
}

static void test_unfinished_segment_allocation(void **state)
{
	struct fixture *f = *state;
	build(f);
	char name[64], path[4096];
	snprintf(name, sizeof(name), "seg-%020llu",
		 (unsigned long long)(N_ENTRIES + 1));
	file_path(path, f->dir, name);
	uint8_t *zeros = calloc(1, SEG_SIZE);
	assert_non_null(zeros);
	file_create(path, zeros, SEG_SIZE / 2);
	free(zeros);
	assert_int_equal(reopen(f), STORAGE_OK);
	expect_all(f, N_ENTRIES);
	assert_non_null(strstr(f->cap.text, "allocation did not finish"));
	assert_int_equal(file_size_of(path), -1);
}

static void test_last_segment_without_entries(void **state)
{
	struct fixture *f = *state;
	build(f);
	craft_segment(f, N_ENTRIES + 1, N_ENTRIES);
	assert_int_equal(reopen(f), STORAGE_OK);
	expect_all(f, N_ENTRIES);
	assert_non_null(strstr(f->cap.text, "holds no entry"));
}

static void test_last_segment_bad_header_with_records(void **state)
{
	struct fixture *f = *state;
	build(f);
	char path[4096];
	seg_path(f, f->n_segs - 1, path);
	file_flip_bit(path, 20, 2);
	expect_error_at(f, STORAGE_ECORRUPT, path, 0);
}

/* A segment that ran out of space at allocation and whose removal was not
 * durable, then a torn batch in the segment before it: both repaired. */
static void test_leftover_segments_after_torn_tail(void **state)
{
	struct fixture *f = *state;
	build(f);
	struct storage_scan sc;
	long len;
	free(scan_segment(f, f->n_segs - 1, &sc, &len));
	char path[4096], a[4096], b[4096];
	seg_path(f, f->n_segs - 1, path);
	file_zero(path, (long)sc.offsets[sc.n - 1] + 20, 8);
	storage__scan_free(&sc);
	snprintf(a, sizeof(a), "%s/seg-%020llu", f->dir,
		 (unsigned long long)N_ENTRIES);
	file_create(a, "", 0);
	craft_segment(f, N_ENTRIES + 3, N_ENTRIES + 2);
	snprintf(b, sizeof(b), "%s/seg-%020llu", f->dir,
		 (unsigned long long)(N_ENTRIES + 3));
	assert_int_equal(reopen(f), STORAGE_OK);
	expect_all(f, N_ENTRIES - 1);
	assert_int_equal(file_size_of(a), -1);
	assert_int_equal(file_size_of(b), -1);
	assert_non_null(strstr(f->cap.text, "torn"));
}

/* An empty segment between segments that hold entries is no crash. */
static void test_empty_segment_in_the_middle(void **state)
{
	struct fixture *f = *state;
	build(f);
	craft_segment(f, N_ENTRIES + 1, N_ENTRIES);
	craft_segment(f, N_ENTRIES + 2, N_ENTRIES + 3);
	expect_error(f, STORAGE_ECORRUPT, "holds no entry", NULL);
}

static void test_term_lower_across_segments(void **state)
{
	struct fixture *f = *state;
	build(f);
	/* Entries 61.. with term_of() of their index would be term 5; a
	 * segment whose first entry has term 1 follows term 4. */
	uint8_t *buf = calloc(1, SEG_SIZE);
	assert_non_null(buf);
	struct storage_segment_header h = {.format = STORAGE_FORMAT,
					   .first_index = N_ENTRIES + 1};
	storage__segment_header_encode(&h, buf);
	struct storage_record r = {.format = STORAGE_FORMAT,
				   .type = RAFT_ENTRY_COMMAND,
				   .version = 1,
				   .term = 1,
				   .index = N_ENTRIES + 1,
				   .len = 0,
				   .data_crc = storage__crc32(0, NULL, 0)};
	storage__record_header_encode(&r, buf + STORAGE_SEGMENT_HEADER_SIZE);
	char name[64], path[4096];
	snprintf(name, sizeof(name), "seg-%020llu",
		 (unsigned long long)(N_ENTRIES + 1));
	file_path(path, f->dir, name);
	file_create(path, buf, SEG_SIZE);
	free(buf);
	expect_error(f, STORAGE_ECORRUPT, name, "lower than the term");
}

/* ---- metadata ---- */

static void meta_path(struct fixture *f, int which, char *out)
{
	file_path(out, f->dir, which == 1 ? "meta1" : "meta2");
}

static void test_meta_newest_copy_torn(void **state)
{
	struct fixture *f = *state;
	build(f);
	char path[4096];
	meta_path(f, 2, path); /* seq 4: term 4, vote 2 */
	assert_int_equal(truncate(path, 20), 0);
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_int_equal(f->loaded.state.term, 3);
	assert_int_equal(f->loaded.state.vote, 1);
	assert_non_null(strstr(f->cap.text, "unfinished update"));
	/* The next write goes to the damaged copy and fixes it. */
	assert_int_equal(storage_set_hard_state(f->s, 5, 3), STORAGE_OK);
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_int_equal(f->loaded.state.term, 5);
	assert_int_equal(f->cap.warnings, 0);
}

static void test_meta_both_copies_bad(void **state)
{
	struct fixture *f = *state;
	build(f);
	char p1[4096], p2[4096];
	meta_path(f, 1, p1);
	meta_path(f, 2, p2);
	file_flip_bit(p1, 20, 0);
	file_flip_bit(p2, 30, 0);
	expect_error(f, STORAGE_ECORRUPT, "meta1: offset 0", "meta2: offset 0");
}

static void test_meta_both_truncated(void **state)
{
	struct fixture *f = *state;
	build(f);
	char p1[4096], p2[4096];
	meta_path(f, 1, p1);
	meta_path(f, 2, p2);
	assert_int_equal(truncate(p1, 0), 0);
	assert_int_equal(truncate(p2, 7), 0);
	expect_error(f, STORAGE_ECORRUPT, "both metadata copies", "truncated");
}

static void test_meta_one_missing(void **state)
{
	struct fixture *f = *state;
	build(f);
	char path[4096];
	meta_path(f, 1, path);
	assert_int_equal(unlink(path), 0);
	expect_error(f, STORAGE_ECORRUPT, "meta1 is missing", NULL);
}

static void test_meta_both_missing_with_log(void **state)
{
	struct fixture *f = *state;
	build(f);
	char p1[4096], p2[4096];
	meta_path(f, 1, p1);
	meta_path(f, 2, p2);
	assert_int_equal(unlink(p1), 0);
	assert_int_equal(unlink(p2), 0);
	expect_error(f, STORAGE_ECORRUPT, "meta1 and meta2 are missing", NULL);
}

static void write_meta(struct fixture *f, int which, uint32_t format,
		       uint64_t seq, raft_term term)
{
	struct storage_meta m = {
	    .format = format, .seq = seq, .term = term, .vote = 1};
	uint8_t buf[STORAGE_META_SIZE];
	storage__meta_encode(&m, buf);
	char path[4096];
	meta_path(f, which, path);
	file_write(path, buf, sizeof(buf), 0);
}

static void test_meta_newer_format(void **state)
{
	struct fixture *f = *state;
	build(f);
	write_meta(f, 2, STORAGE_FORMAT + 1, 6, 9);
	expect_error(f, STORAGE_EFORMAT, "meta2", "format 2");
}

static void test_meta_same_sequence(void **state)
{
	struct fixture *f = *state;
	build(f);
	write_meta(f, 1, STORAGE_FORMAT, 4, 9); /* meta2 holds 4 too */
	expect_error(f, STORAGE_ECORRUPT, "meta1", "other copy");
}

static void test_meta_sequence_in_wrong_copy(void **state)
{
	struct fixture *f = *state;
	build(f);
	write_meta(f, 1, STORAGE_FORMAT, 8, 9);
	write_meta(f, 2, STORAGE_FORMAT, 7, 9);
	expect_error(f, STORAGE_ECORRUPT, "belongs in the other copy", NULL);
}

static void test_meta_interrupted_initialization(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(reopen(f), STORAGE_OK);
	storage_close(f->s);
	f->s = NULL;
	char p2[4096];
	meta_path(f, 2, p2);
	assert_int_equal(unlink(p2), 0);
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_true(f->loaded.fresh);
	assert_non_null(strstr(f->cap.text, "interrupted initialization"));
}

/* ---- snapshots ---- */

static void build_with_snapshot(struct fixture *f, raft_index index)
{
	build(f);
	assert_int_equal(reopen(f), STORAGE_OK);
	struct raft_config cfg;
	test_config(&cfg);
	uint8_t data[1000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 3);
	assert_int_equal(storage_snapshot_write(f->s, index, term_of(index),
						&cfg, data, sizeof(data)),
			 STORAGE_OK);
	storage_close(f->s);
	f->s = NULL;
}

static void snap_path(struct fixture *f, raft_index index, char *out)
{
	char name[64];
	snprintf(name, sizeof(name), "snap-%020llu", (unsigned long long)index);
	file_path(out, f->dir, name);
}

static void test_snapshot_loads(void **state)
{
	struct fixture *f = *state;
	build_with_snapshot(f, 30);
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_int_equal(f->loaded.state.snap_index, 30);
	assert_int_equal(f->loaded.state.snap_term, term_of(30));
	assert_int_equal(f->loaded.state.snap_size, 1000);
	assert_non_null(f->loaded.state.snap_config);
	assert_int_equal(f->loaded.state.snap_config->n, 2);
	assert_string_equal(f->loaded.state.snap_config->servers[1].address,
			    "127.0.0.1:7002");
	assert_int_equal(f->loaded.n_entries, N_ENTRIES - 30);
	assert_int_equal(f->loaded.entries[0].index, 31);
}

static void test_snapshot_bad_checksum(void **state)
{
	struct fixture *f = *state;
	build_with_snapshot(f, 30);
	char path[4096];
	snap_path(f, 30, path);
	file_flip_bit(path, 64 + 500, 5);
	expect_error(f, STORAGE_ECORRUPT, "snap-00000000000000000030",
		     "checksum mismatch");
}

static void test_snapshot_truncated(void **state)
{
	struct fixture *f = *state;
	build_with_snapshot(f, 30);
	char path[4096];
	snap_path(f, 30, path);
	assert_int_equal(truncate(path, 64 + 999), 0);
	expect_error(f, STORAGE_ECORRUPT, "snap-00000000000000000030",
		     "header says");
}

static void test_snapshot_header_flip(void **state)
{
	struct fixture *f = *state;
	build_with_snapshot(f, 30);
	char path[4096];
	snap_path(f, 30, path);
	file_flip_bit(path, 33, 0);
	expect_error(f, STORAGE_ECORRUPT, "snap-00000000000000000030",
		     "offset 0");
}

static void
rewrite_snapshot_header(struct fixture *f, raft_index index,
			void (*change)(struct storage_snapshot_header *))
{
	char path[4096], why[STORAGE_WHY_MAX];
	snap_path(f, index, path);
	uint8_t hdr[STORAGE_SNAPSHOT_HEADER_SIZE];
	file_read(path, hdr, sizeof(hdr), 0);
	struct storage_snapshot_header h;
	assert_int_equal(
	    storage__snapshot_header_decode(hdr, sizeof(hdr), &h, why),
	    STORAGE_OK);
	change(&h);
	storage__snapshot_header_encode(&h, hdr);
	file_write(path, hdr, sizeof(hdr), 0);
}

static void snap_newer(struct storage_snapshot_header *h)
{
	h->format = STORAGE_FORMAT + 1;
}

static void test_snapshot_newer_format(void **state)
{
	struct fixture *f = *state;
	build_with_snapshot(f, 30);
	rewrite_snapshot_header(f, 30, snap_newer);
	expect_error(f, STORAGE_EFORMAT, "snap-00000000000000000030",
		     "format 2");
}

static void test_snapshot_name_disagrees(void **state)
{
	struct fixture *f = *state;
	build_with_snapshot(f, 30);
	char a[4096], b[4096];
	snap_path(f, 30, a);
	snap_path(f, 31, b);
	assert_int_equal(rename(a, b), 0);
	expect_error(f, STORAGE_ECORRUPT, "snap-00000000000000000031",
		     "header says index 30");
}

static void test_snapshot_bad_config(void **state)
{
	struct fixture *f = *state;
	build_with_snapshot(f, 30);
	char path[4096], why[STORAGE_WHY_MAX];
	snap_path(f, 30, path);
	long size = file_size_of(path);
	uint8_t *buf = malloc((size_t)size);
	assert_non_null(buf);
	file_read(path, buf, (size_t)size, 0);
	struct storage_snapshot_header h;
	assert_int_equal(
	    storage__snapshot_header_decode(buf, (size_t)size, &h, why),
	    STORAGE_OK);
	buf[64 + h.data_len] = 99; /* configuration format byte */
	h.crc = storage__crc32(0, buf + 64, (size_t)size - 64);
	storage__snapshot_header_encode(&h, buf);
	file_create(path, buf, (size_t)size);
	free(buf);
	expect_error(f, STORAGE_ECORRUPT, "undecodable configuration", NULL);
}

static void test_snapshot_older_removed(void **state)
{
	struct fixture *f = *state;
	build_with_snapshot(f, 30);
	char a[4096], b[4096];
	snap_path(f, 30, a);
	snap_path(f, 12, b);
	/* An older snapshot left next to a newer one (a crash before its
	 * removal) goes; the newer one wins. */
	file_copy(a, b);
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_int_equal(f->loaded.state.snap_index, 30);
	assert_int_equal(file_size_of(b), -1);
	assert_non_null(strstr(f->cap.text, "superseded"));
	/* A new snapshot replaces the old one once it is durable. */
	struct raft_config cfg;
	test_config(&cfg);
	uint8_t data[10] = {1};
	assert_int_equal(storage_snapshot_write(f->s, 40, term_of(40), &cfg,
						data, sizeof(data)),
			 STORAGE_OK);
	assert_int_equal(file_size_of(a), -1);
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_int_equal(f->loaded.state.snap_index, 40);
	assert_int_equal(f->loaded.state.snap_size, 10);
}

static void test_segment_past_snapshot(void **state)
{
	struct fixture *f = *state;
	build_with_snapshot(f, 30);
	/* Remove every segment, then leave one that starts after a gap. */
	list_segments(f);
	for (size_t i = 0; i < f->n_segs; i++) {
		char path[4096];
		seg_path(f, i, path);
		unlink(path);
	}
	craft_segment(f, 35, 38);
	expect_error(f, STORAGE_ECORRUPT, "the snapshot ends at index 30",
		     "31..34");
}

static void test_compaction_leftovers_removed(void **state)
{
	struct fixture *f = *state;
	build_with_snapshot(f, 58);
	/* A compaction removed the second segment but not the first. */
	list_segments(f);
	char path[4096];
	seg_path(f, 1, path);
	assert_int_equal(unlink(path), 0);
	if (reopen(f) != STORAGE_OK)
		fail_msg("%s", storage_errmsg(f->s));
	assert_int_equal(f->loaded.n_entries, N_ENTRIES - 58);
	assert_non_null(strstr(f->cap.text, "compaction"));
}

static void test_interrupted_snapshot_install(void **state)
{
	struct fixture *f = *state;
	build(f);
	/* A snapshot from the leader at 40 with another term than the local
	 * entry 40, renamed into place before the log was dropped. */
	char path[4096];
	snap_path(f, 40, path);
	struct raft_config cfg;
	test_config(&cfg);
	uint8_t cfgbuf[1024];
	size_t cfg_len = raft_config_encoded_size(&cfg);
	raft_config_encode(&cfg, cfgbuf);
	struct storage_snapshot_header h = {
	    .format = STORAGE_FORMAT,
	    .index = 40,
	    .term = 99,
	    .data_len = 0,
	    .config_len = (uint32_t)cfg_len,
	    .crc = storage__crc32(0, cfgbuf, cfg_len)};
	uint8_t buf[64 + 1024];
	storage__snapshot_header_encode(&h, buf);
	memcpy(buf + 64, cfgbuf, cfg_len);
	file_create(path, buf, 64 + cfg_len);
	assert_int_equal(reopen(f), STORAGE_OK);
	assert_int_equal(f->loaded.state.snap_index, 40);
	assert_int_equal(f->loaded.n_entries, 0);
	assert_non_null(strstr(f->cap.text, "interrupted snapshot"));
	assert_int_equal(append_range(f->s, 41, 42, 99), STORAGE_OK);
}

/* ---- leftovers, unknown files, the lock ---- */

static void test_leftover_temporary_files(void **state)
{
	struct fixture *f = *state;
	build(f);
	char a[4096], b[4096];
	file_path(a, f->dir, "snap-recv.tmp");
	file_path(b, f->dir, "meta1.tmp");
	file_create(a, "partial", 7);
	file_create(b, "x", 1);
	assert_int_equal(reopen(f), STORAGE_OK);
	expect_all(f, N_ENTRIES);
	assert_int_equal(file_size_of(a), -1);
	assert_int_equal(file_size_of(b), -1);
}

static void test_unknown_file_ignored(void **state)
{
	struct fixture *f = *state;
	build(f);
	char a[4096];
	file_path(a, f->dir, "notes.txt");
	file_create(a, "hello", 5);
	assert_int_equal(reopen(f), STORAGE_OK);
	expect_all(f, N_ENTRIES);
	assert_non_null(strstr(f->cap.text, "notes.txt"));
}

static void test_folder_locked(void **state)
{
	struct fixture *f = *state;
	build(f);
	assert_int_equal(reopen(f), STORAGE_OK);
	struct storage *other = storage_new(f->dir, NULL);
	struct storage_loaded l;
	assert_non_null(other);
	assert_int_equal(storage_open(other, &l), STORAGE_ELOCKED);
	assert_non_null(strstr(storage_errmsg(other), "in use"));
	storage_close(other);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_clean_reopen),
	    T(test_torn_tail_zeroed_at_every_offset),
	    T(test_torn_tail_cut_at_every_offset),
	    T(test_torn_tail_garbage),
	    T(test_torn_batch_keeps_later_record),
	    T(test_bit_flip_in_last_record_reads_as_torn),
	    T(test_flip_record_magic),
	    T(test_flip_record_format),
	    T(test_flip_record_type),
	    T(test_flip_record_version),
	    T(test_flip_record_reserved),
	    T(test_flip_record_term),
	    T(test_flip_record_term_high),
	    T(test_flip_record_index),
	    T(test_flip_record_len),
	    T(test_flip_record_batch_pos),
	    T(test_flip_record_data_crc),
	    T(test_flip_record_header_crc),
	    T(test_flip_record_data),
	    T(test_flip_in_last_segment_before_later_batch),
	    T(test_zeroed_record_inside_log),
	    T(test_record_index_out_of_sequence),
	    T(test_record_term_goes_down),
	    T(test_record_newer_format),
	    T(test_record_runs_past_segment),
	    T(test_segment_bad_magic),
	    T(test_segment_header_checksum),
	    T(test_segment_newer_format),
	    T(test_segment_name_disagrees_with_header),
	    T(test_missing_first_segment),
	    T(test_missing_middle_segment),
	    T(test_overlapping_segments),
	    T(test_extra_segment_after_gap),
	    T(test_torn_tail_in_non_last_segment),
	    T(test_unfinished_segment_allocation),
	    T(test_last_segment_without_entries),
	    T(test_last_segment_bad_header_with_records),
	    T(test_leftover_segments_after_torn_tail),
	    T(test_empty_segment_in_the_middle),
	    T(test_term_lower_across_segments),
	    T(test_meta_newest_copy_torn),
	    T(test_meta_both_copies_bad),
	    T(test_meta_both_truncated),
	    T(test_meta_one_missing),
	    T(test_meta_both_missing_with_log),
	    T(test_meta_newer_format),
	    T(test_meta_same_sequence),
	    T(test_meta_sequence_in_wrong_copy),
	    T(test_meta_interrupted_initialization),
	    T(test_snapshot_loads),
	    T(test_snapshot_bad_checksum),
	    T(test_snapshot_truncated),
	    T(test_snapshot_header_flip),
	    T(test_snapshot_newer_format),
	    T(test_snapshot_name_disagrees),
	    T(test_snapshot_bad_config),
	    T(test_snapshot_older_removed),
	    T(test_segment_past_snapshot),
	    T(test_compaction_leftovers_removed),
	    T(test_interrupted_snapshot_install),
	    T(test_leftover_temporary_files),
	    T(test_unknown_file_ignored),
	    T(test_folder_locked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
