/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * An in-memory file system that models what a crash keeps. Every file and
 * directory has a durable image (what the last fsync covered) and the
 * operations done since. memfs_reboot() rebuilds each from its durable image
 * plus a random choice of the later operations: each write is kept, dropped
 * or torn (only some of its 512-byte sectors, the last one maybe cut at any
 * byte), each size change and each name change (create, rename, unlink) is
 * kept or dropped. memfs_crash_at() makes the n-th changing operation fail
 * and every later operation fail too, as if the machine had stopped there.
 */
#ifndef TESTS_STORAGE_MEMFS_H
#define TESTS_STORAGE_MEMFS_H

#include <stdbool.h>
#include <stdint.h>

#include "storage/vfs.h"

struct memfs;

struct memfs *memfs_new(uint64_t seed);
void memfs_free(struct memfs *fs);
/* The operations table; valid as long as fs. */
const struct storage_vfs *memfs_vfs(struct memfs *fs);

/* The n-th changing operation from now (1 = the next) fails with EIO and
 * the machine stops: every later call fails. 0 disarms. */
void memfs_crash_at(struct memfs *fs, uint64_t n);
bool memfs_crashed(const struct memfs *fs);
/* Changing operations done so far. */
uint64_t memfs_changes(const struct memfs *fs);
/* Applies the crash model, closes every descriptor and releases locks. */
void memfs_reboot(struct memfs *fs);

/* Fault injection without a crash. */
void memfs_fail_fsync(struct memfs *fs, bool on); /* fsync: -EIO */
void memfs_no_space(struct memfs *fs, bool on);	  /* fallocate: -ENOSPC */

#endif
