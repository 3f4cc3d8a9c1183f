/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The POSIX implementation of the storage's file operations. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "storage/vfs.h"

static int posix_open(void *ctx, const char *path, int flags)
{
	(void)ctx;
	int fd;
	do
		fd = open(path, flags | O_CLOEXEC, 0600);
	while (fd < 0 && errno == EINTR);
	return fd < 0 ? -errno : fd;
}

static int posix_close(void *ctx, int fd)
{
	(void)ctx;
	/* No retry on EINTR: on Linux the descriptor is gone either way. */
	return close(fd) < 0 ? -errno : 0;
}

static ssize_t posix_pread(void *ctx, int fd, void *buf, size_t len,
			   uint64_t off)
{
	(void)ctx;
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done,
				  (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static ssize_t posix_pwrite(void *ctx, int fd, const void *buf, size_t len,
			    uint64_t off)
{
	(void)ctx;
	size_t done = 0;
	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done,
				   (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* fsync is never retried: after a failure the dirty pages may be gone. */
static int posix_fsync(void *ctx, int fd)
{
	(void)ctx;
	return fsync(fd) < 0 ? -errno : 0;
}

static int posix_fdatasync(void *ctx, int fd)
{
	(void)ctx;
	return fdatasync(fd) < 0 ? -errno : 0;
}

static int posix_fallocate_range(void *ctx, int fd, uint64_t off, uint64_t len)
{
	(void)ctx;
	int rv;
	do
		rv = posix_fallocate(fd, (off_t)off, (off_t)len);
	while (rv == EINTR);
	return -rv;
}

static bool posix_reserved_space_unwritten(void *ctx, int fd)
{
	(void)ctx;
	struct statfs fs;
	if (fstatfs(fd, &fs) != 0)
		return true; /* unknown: zeros ahead cost little */
	return fs.f_type != TMPFS_MAGIC && fs.f_type != RAMFS_MAGIC;
}

static int posix_ftruncate(void *ctx, int fd, uint64_t len)
{
	(void)ctx;
	int rv;
	do
		rv = ftruncate(fd, (off_t)len);
	while (rv < 0 && errno == EINTR);
	return rv < 0 ? -errno : 0;
}

static int posix_file_size(void *ctx, int fd, uint64_t *size)
{
	(void)ctx;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	*size = (uint64_t)st.st_size;
	return 0;
}

static int posix_rename(void *ctx, const char *from, const char *to)
{
	(void)ctx;
	return rename(from, to) < 0 ? -errno : 0;
}

static int posix_unlink(void *ctx, const char *path)
{
	(void)ctx;
	return unlink(path) < 0 ? -errno : 0;
}

static int posix_mkdir(void *ctx, const char *path)
{
	(void)ctx;
	return mkdir(path, 0700) < 0 ? -errno : 0;
}

static int posix_dir_sync(void *ctx, const char *path)
{
	(void)ctx;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rv = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return rv;
}

static int posix_list(void *ctx, const char *path, storage_vfs_entry_fn fn,
		      void *arg)
{
	(void)ctx;
	DIR *d = opendir(path);
	if (d == NULL)
		return -errno;
	int rv = 0;
	for (;;) {
		errno = 0;
		struct dirent *e = readdir(d);
		if (e == NULL) {
			rv = -errno;
			break;
		}
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fn(arg, e->d_name) != 0)
			break;
	}
	closedir(d);
	return rv;
}

static int posix_lock(void *ctx, const char *path)
{
	(void)ctx;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int err = errno;
		close(fd);
		return err == EINTR ? -EWOULDBLOCK : -err;
	}
	return fd;
}

static int posix_unlock(void *ctx, int handle)
{
	(void)ctx;
	return close(handle) < 0 ? -errno : 0; /* closing drops the flock */
}

const struct storage_vfs storage_vfs_posix = {
    .ctx = NULL,
    .open = posix_open,
    .close = posix_close,
    .pread = posix_pread,
    .pwrite = posix_pwrite,
    .fsync = posix_fsync,
    .fdatasync = posix_fdatasync,
    .fallocate = posix_fallocate_range,
    .reserved_space_unwritten = posix_reserved_space_unwritten,
    .ftruncate = posix_ftruncate,
    .file_size = posix_file_size,
    .rename = posix_rename,
    .unlink = posix_unlink,
    .mkdir = posix_mkdir,
    .dir_sync = posix_dir_sync,
    .list = posix_list,
    .lock = posix_lock,
    .unlock = posix_unlock,
};
