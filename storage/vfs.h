/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * The file operations the storage uses, behind a table of function pointers
 * so that a test build can put an in-memory file system model underneath
 * that loses, at a crash, whatever was not covered by an fsync. Every
 * operation returns >= 0 on success and -errno on failure (never sets errno
 * for the caller to read). Paths are absolute or relative to the process's
 * working directory, exactly as the storage builds them.
 */
#ifndef RAFT_STORAGE_VFS_H
#define RAFT_STORAGE_VFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Called once per directory entry by list(); a non-zero return stops. */
typedef int (*storage_vfs_entry_fn)(void *arg, const char *name);

struct storage_vfs {
	void *ctx;
	/* flags: O_RDONLY / O_RDWR, optionally O_CREAT | O_EXCL | O_TRUNC. */
	int (*open)(void *ctx, const char *path, int flags);
	int (*close)(void *ctx, int fd);
	ssize_t (*pread)(void *ctx, int fd, void *buf, size_t len,
			 uint64_t off);
	ssize_t (*pwrite)(void *ctx, int fd, const void *buf, size_t len,
			  uint64_t off);
	int (*fsync)(void *ctx, int fd);
	int (*fdatasync)(void *ctx, int fd);
	/* Reserves [off, off+len) so later writes there cannot hit ENOSPC. */
	int (*fallocate)(void *ctx, int fd, uint64_t off, uint64_t len);
	/* Optional (NULL: true). False when the file system keeps no
	 * unwritten space (tmpfs): there the first write into space
	 * fallocate reserved changes no metadata, and writing zeros ahead of
	 * the appends (log.c) would only cost a copy. */
	bool (*reserved_space_unwritten)(void *ctx, int fd);
	int (*ftruncate)(void *ctx, int fd, uint64_t len);
	int (*file_size)(void *ctx, int fd, uint64_t *size);
	int (*rename)(void *ctx, const char *from, const char *to);
	int (*unlink)(void *ctx, const char *path);
	int (*mkdir)(void *ctx, const char *path);
	/* Makes the names in a directory (creations, renames, removals)
	 * durable: open the directory and fsync it. */
	int (*dir_sync)(void *ctx, const char *path);
	/* Calls fn for every entry of a directory but "." and "..". */
	int (*list)(void *ctx, const char *path, storage_vfs_entry_fn fn,
		    void *arg);
	/* Takes an exclusive lock on the file at path (created if missing)
	 * without waiting: -EWOULDBLOCK when another process holds it. The
	 * returned handle is released with unlock(). */
	int (*lock)(void *ctx, const char *path);
	int (*unlock)(void *ctx, int handle);
};

/* The real thing: POSIX calls. */
extern const struct storage_vfs storage_vfs_posix;

#endif
