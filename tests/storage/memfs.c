/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The crash-modelling in-memory file system (see memfs.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "tests/storage/memfs.h"

#define MAX_FDS 256
#define SECTOR 512

enum op_kind { OP_WRITE, OP_SIZE, OP_LINK, OP_UNLINK, OP_RENAME };

struct op {
	enum op_kind kind;
	uint64_t off;
	uint64_t len; /* WRITE: bytes; SIZE: the new size */
	uint8_t *data;
	bool zero_fill; /* SIZE from fallocate: grows only */
	char *name;
	char *name2;
	struct inode *target;
};

struct dirent_m {
	char *name;
	struct inode *ino;
};

struct image {
	uint8_t *data;
	uint64_t size;
	struct dirent_m *ents;
	size_t n_ents;
};

struct inode {
	bool is_dir;
	bool locked;
	struct image cur;
	struct image dur;
	struct op *ops;
	size_t n_ops;
	struct inode *next_all;
};

struct memfs {
	struct storage_vfs vfs;
	uint64_t rng;
	struct inode *root;
	struct inode *all;
	struct inode *fds[MAX_FDS];
	uint64_t changes;
	uint64_t crash_at; /* absolute change number, 0: none */
	bool crashed;
	bool fail_fsync;
	bool no_space;
};

static uint64_t rnd(struct memfs *fs)
{
	/* xorshift64* */
	uint64_t x = fs->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	fs->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (q == NULL)
		abort(); /* a test helper: out of memory ends the test */
	return q;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (p == NULL)
		abort();
	return p;
}

static struct inode *inode_new(struct memfs *fs, bool is_dir)
{
	struct inode *ino = calloc(1, sizeof(*ino));
	if (ino == NULL)
		abort();
	ino->is_dir = is_dir;
	ino->next_all = fs->all;
	fs->all = ino;
	return ino;
}

static void image_clear(struct image *im)
{
	free(im->data);
	for (size_t i = 0; i < im->n_ents; i++)
		free(im->ents[i].name);
	free(im->ents);
	memset(im, 0, sizeof(*im));
}

static void image_copy(struct image *to, const struct image *from)
{
	image_clear(to);
	to->size = from->size;
	to->data = xrealloc(NULL, (size_t)from->size);
	if (from->size)
		memcpy(to->data, from->data, (size_t)from->size);
	to->n_ents = from->n_ents;
	to->ents = xrealloc(NULL, from->n_ents * sizeof(*to->ents));
	for (size_t i = 0; i < from->n_ents; i++) {
		to->ents[i].name = xstrdup(from->ents[i].name);
		to->ents[i].ino = from->ents[i].ino;
	}
}

static void ops_clear(struct inode *ino)
{
	for (size_t i = 0; i < ino->n_ops; i++) {
		free(ino->ops[i].data);
		free(ino->ops[i].name);
		free(ino->ops[i].name2);
	}
	free(ino->ops);
	ino->ops = NULL;
	ino->n_ops = 0;
}

static struct op *op_add(struct inode *ino, enum op_kind kind)
{
	ino->ops = xrealloc(ino->ops, (ino->n_ops + 1) * sizeof(*ino->ops));
	struct op *op = &ino->ops[ino->n_ops++];
	memset(op, 0, sizeof(*op));
	op->kind = kind;
	return op;
}

static void image_resize(struct image *im, uint64_t size)
{
	if (size > im->size) {
		im->data = xrealloc(im->data, (size_t)size);
		memset(im->data + im->size, 0, (size_t)(size - im->size));
	}
	im->size = size;
}

static void image_write(struct image *im, const uint8_t *p, uint64_t len,
			uint64_t off)
{
	if (off + len > im->size)
		image_resize(im, off + len);
	memcpy(im->data + off, p, (size_t)len);
}

static struct dirent_m *dir_find(struct image *im, const char *name)
{
	for (size_t i = 0; i < im->n_ents; i++)
		if (strcmp(im->ents[i].name, name) == 0)
			return &im->ents[i];
	return NULL;
}

static void dir_remove(struct image *im, const char *name)
{
	struct dirent_m *e = dir_find(im, name);
	if (e == NULL)
		return;
	free(e->name);
	*e = im->ents[--im->n_ents];
}

static void dir_set(struct image *im, const char *name, struct inode *ino)
{
	struct dirent_m *e = dir_find(im, name);
	if (e != NULL) {
		e->ino = ino;
		return;
	}
	im->ents = xrealloc(im->ents, (im->n_ents + 1) * sizeof(*im->ents));
	im->ents[im->n_ents].name = xstrdup(name);
	im->ents[im->n_ents].ino = ino;
	im->n_ents++;
}

/* Splits "/a/b/c" into the directory inode of "/a/b" and "c". */
static struct inode *resolve_parent(struct memfs *fs, const char *path,
				    char *leaf)
{
	struct inode *dir = fs->root;
	const char *p = path;
	while (*p == '/')
		p++;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0 || n >= 256)
			return NULL;
		if (slash == NULL || slash[1] == '\0') {
			memcpy(leaf, p, n);
			leaf[n] = '\0';
			return dir;
		}
		char part[256];
		memcpy(part, p, n);
		part[n] = '\0';
		struct dirent_m *e = dir_find(&dir->cur, part);
		if (e == NULL || !e->ino->is_dir)
			return NULL;
		dir = e->ino;
		p = slash + 1;
	}
}

static struct inode *resolve(struct memfs *fs, const char *path)
{
	char leaf[256];
	const char *p = path;
	while (*p == '/')
		p++;
	if (*p == '\0' || strcmp(path, ".") == 0)
		return fs->root;
	struct inode *dir = resolve_parent(fs, path, leaf);
	if (dir == NULL)
		return NULL;
	struct dirent_m *e = dir_find(&dir->cur, leaf);
	return e ? e->ino : NULL;
}

/* Counts a changing operation; false when the machine stops here. */
static bool change(struct memfs *fs)
{
	if (fs->crashed)
		return false;
	fs->changes++;
	if (fs->crash_at != 0 && fs->changes >= fs->crash_at) {
		fs->crashed = true;
		return false;
	}
	return true;
}

static struct inode *fd_inode(struct memfs *fs, int fd)
{
	if (fd < 0 || fd >= MAX_FDS)
		return NULL;
	return fs->fds[fd];
}

static int fd_alloc(struct memfs *fs, struct inode *ino)
{
	for (int i = 3; i < MAX_FDS; i++)
		if (fs->fds[i] == NULL) {
			fs->fds[i] = ino;
			return i;
		}
	return -EMFILE;
}

static int m_open(void *ctx, const char *path, int flags)
{
	struct memfs *fs = ctx;
	if (fs->crashed)
		return -EIO;
	char leaf[256];
	struct inode *dir = resolve_parent(fs, path, leaf);
	if (dir == NULL)
		return -ENOENT;
	struct dirent_m *e = dir_find(&dir->cur, leaf);
	struct inode *ino;
	if (e != NULL) {
		if ((flags & O_CREAT) && (flags & O_EXCL))
			return -EEXIST;
		ino = e->ino;
		if (ino->is_dir)
			return -EISDIR;
		if (flags & O_TRUNC) {
			if (!change(fs))
				return -EIO;
			image_resize(&ino->cur, 0);
			struct op *op = op_add(ino, OP_SIZE);
			op->len = 0;
		}
	} else {
		if (!(flags & O_CREAT))
			return -ENOENT;
		if (!change(fs))
			return -EIO;
		ino = inode_new(fs, false);
		dir_set(&dir->cur, leaf, ino);
		struct op *op = op_add(dir, OP_LINK);
		op->name = xstrdup(leaf);
		op->target = ino;
	}
	return fd_alloc(fs, ino);
}

static int m_close(void *ctx, int fd)
{
	struct memfs *fs = ctx;
	if (fd_inode(fs, fd) == NULL)
		return -EBADF;
	fs->fds[fd] = NULL;
	return 0;
}

static ssize_t m_pread(void *ctx, int fd, void *buf, size_t len, uint64_t off)
{
	struct memfs *fs = ctx;
	if (fs->crashed)
		return -EIO;
	struct inode *ino = fd_inode(fs, fd);
	if (ino == NULL)
		return -EBADF;
	if (off >= ino->cur.size)
		return 0;
	size_t n =
	    ino->cur.size - off < len ? (size_t)(ino->cur.size - off) : len;
	memcpy(buf, ino->cur.data + off, n);
	return (ssize_t)n;
}

static ssize_t m_pwrite(void *ctx, int fd, const void *buf, size_t len,
			uint64_t off)
{
	struct memfs *fs = ctx;
	struct inode *ino = fd_inode(fs, fd);
	if (ino == NULL)
		return fs->crashed ? -EIO : -EBADF;
	if (!change(fs))
		return -EIO;
	image_write(&ino->cur, buf, len, off);
	struct op *op = op_add(ino, OP_WRITE);
	op->off = off;
	op->len = len;
	op->data = xrealloc(NULL, len);
	memcpy(op->data, buf, len);
	return (ssize_t)len;
}

static int m_fsync(void *ctx, int fd)
{
	struct memfs *fs = ctx;
	struct inode *ino = fd_inode(fs, fd);
	if (ino == NULL)
		return fs->crashed ? -EIO : -EBADF;
	if (!change(fs))
		return -EIO;
	if (fs->fail_fsync)
		return -EIO;
	image_copy(&ino->dur, &ino->cur);
	ops_clear(ino);
	return 0;
}

static int m_fallocate(void *ctx, int fd, uint64_t off, uint64_t len)
{
	struct memfs *fs = ctx;
	struct inode *ino = fd_inode(fs, fd);
	if (ino == NULL)
		return fs->crashed ? -EIO : -EBADF;
	if (!change(fs))
		return -EIO;
	if (fs->no_space)
		return -ENOSPC;
	if (off + len > ino->cur.size) {
		image_resize(&ino->cur, off + len);
		struct op *op = op_add(ino, OP_SIZE);
		op->len = off + len;
		op->zero_fill = true;
	}
	return 0;
}

static int m_ftruncate(void *ctx, int fd, uint64_t len)
{
	struct memfs *fs = ctx;
	struct inode *ino = fd_inode(fs, fd);
	if (ino == NULL)
		return fs->crashed ? -EIO : -EBADF;
	if (!change(fs))
		return -EIO;
	image_resize(&ino->cur, len);
	struct op *op = op_add(ino, OP_SIZE);
	op->len = len;
	return 0;
}

static int m_file_size(void *ctx, int fd, uint64_t *size)
{
	struct memfs *fs = ctx;
	if (fs->crashed)
		return -EIO;
	struct inode *ino = fd_inode(fs, fd);
	if (ino == NULL)
		return -EBADF;
	*size = ino->cur.size;
	return 0;
}

static int m_rename(void *ctx, const char *from, const char *to)
{
	struct memfs *fs = ctx;
	if (fs->crashed)
		return -EIO;
	char a[256], b[256];
	struct inode *da = resolve_parent(fs, from, a);
	struct inode *db = resolve_parent(fs, to, b);
	if (da == NULL || db == NULL || da != db)
		return -EXDEV;
	struct dirent_m *e = dir_find(&da->cur, a);
	if (e == NULL)
		return -ENOENT;
	if (!change(fs))
		return -EIO;
	struct inode *ino = e->ino;
	dir_remove(&da->cur, a);
	dir_set(&da->cur, b, ino);
	struct op *op = op_add(da, OP_RENAME);
	op->name = xstrdup(a);
	op->name2 = xstrdup(b);
	return 0;
}

static int m_unlink(void *ctx, const char *path)
{
	struct memfs *fs = ctx;
	if (fs->crashed)
		return -EIO;
	char leaf[256];
	struct inode *dir = resolve_parent(fs, path, leaf);
	if (dir == NULL || dir_find(&dir->cur, leaf) == NULL)
		return -ENOENT;
	if (!change(fs))
		return -EIO;
	dir_remove(&dir->cur, leaf);
	struct op *op = op_add(dir, OP_UNLINK);
	op->name = xstrdup(leaf);
	return 0;
}

static int m_mkdir(void *ctx, const char *path)
{
	struct memfs *fs = ctx;
	if (fs->crashed)
		return -EIO;
	char leaf[256];
	struct inode *dir = resolve_parent(fs, path, leaf);
	if (dir == NULL)
		return -ENOENT;
	if (dir_find(&dir->cur, leaf) != NULL)
		return -EEXIST;
	if (!change(fs))
		return -EIO;
	struct inode *ino = inode_new(fs, true);
	dir_set(&dir->cur, leaf, ino);
	struct op *op = op_add(dir, OP_LINK);
	op->name = xstrdup(leaf);
	op->target = ino;
	return 0;
}

static int m_dir_sync(void *ctx, const char *path)
{
	struct memfs *fs = ctx;
	struct inode *dir = resolve(fs, path);
	if (fs->crashed)
		return -EIO;
	if (dir == NULL || !dir->is_dir)
		return -ENOENT;
	if (!change(fs))
		return -EIO;
	if (fs->fail_fsync)
		return -EIO;
	image_copy(&dir->dur, &dir->cur);
	ops_clear(dir);
	return 0;
}

static int m_list(void *ctx, const char *path, storage_vfs_entry_fn fn,
		  void *arg)
{
	struct memfs *fs = ctx;
	if (fs->crashed)
		return -EIO;
	struct inode *dir = resolve(fs, path);
	if (dir == NULL || !dir->is_dir)
		return -ENOENT;
	for (size_t i = 0; i < dir->cur.n_ents; i++)
		if (fn(arg, dir->cur.ents[i].name) != 0)
			break;
	return 0;
}

static int m_lock(void *ctx, const char *path)
{
	struct memfs *fs = ctx;
	int fd = m_open(ctx, path, O_RDWR | O_CREAT);
	if (fd < 0)
		return fd;
	struct inode *ino = fs->fds[fd];
	if (ino->locked) {
		fs->fds[fd] = NULL;
		return -EWOULDBLOCK;
	}
	ino->locked = true;
	return fd;
}

static int m_unlock(void *ctx, int handle)
{
	struct memfs *fs = ctx;
	struct inode *ino = fd_inode(fs, handle);
	if (ino == NULL)
		return -EBADF;
	ino->locked = false;
	fs->fds[handle] = NULL;
	return 0;
}

struct memfs *memfs_new(uint64_t seed)
{
	struct memfs *fs = calloc(1, sizeof(*fs));
	if (fs == NULL)
		abort();
	fs->rng = seed * 0x9E3779B97F4A7C15ULL + 0x1234567ULL;
	if (fs->rng == 0)
		fs->rng = 1;
	fs->root = inode_new(fs, true);
	fs->vfs = (struct storage_vfs){
	    .ctx = fs,
	    .open = m_open,
	    .close = m_close,
	    .pread = m_pread,
	    .pwrite = m_pwrite,
	    .fsync = m_fsync,
	    .fdatasync = m_fsync,
	    .fallocate = m_fallocate,
	    .ftruncate = m_ftruncate,
	    .file_size = m_file_size,
	    .rename = m_rename,
	    .unlink = m_unlink,
	    .mkdir = m_mkdir,
	    .dir_sync = m_dir_sync,
	    .list = m_list,
	    .lock = m_lock,
	    .unlock = m_unlock,
	};
	return fs;
}

void memfs_free(struct memfs *fs)
{
	struct inode *ino = fs->all;
	while (ino != NULL) {
		struct inode *next = ino->next_all;
		image_clear(&ino->cur);
		image_clear(&ino->dur);
		ops_clear(ino);
		free(ino);
		ino = next;
	}
	free(fs);
}

const struct storage_vfs *memfs_vfs(struct memfs *fs)
{
	return &fs->vfs;
}

void memfs_crash_at(struct memfs *fs, uint64_t n)
{
	fs->crash_at = n == 0 ? 0 : fs->changes + n;
}

bool memfs_crashed(const struct memfs *fs)
{
	return fs->crashed;
}

uint64_t memfs_changes(const struct memfs *fs)
{
	return fs->changes;
}

void memfs_fail_fsync(struct memfs *fs, bool on)
{
	fs->fail_fsync = on;
}

void memfs_no_space(struct memfs *fs, bool on)
{
	fs->no_space = on;
}

/* A write that reached the disk only in part: each sector independently,
 * and the last one kept may end at any byte. */
static void tear(struct memfs *fs, struct image *im, const struct op *op)
{
	for (uint64_t s = 0; s < op->len; s += SECTOR) {
		uint64_t n = op->len - s < SECTOR ? op->len - s : SECTOR;
		uint64_t r = rnd(fs) % 4;
		if (r == 0)
			continue;
		if (r == 1)
			n = rnd(fs) % (n + 1);
		image_write(im, op->data + s, n, op->off + s);
	}
}

static void replay(struct memfs *fs, struct inode *ino)
{
	struct image im = {0};
	image_copy(&im, &ino->dur);
	for (size_t i = 0; i < ino->n_ops; i++) {
		const struct op *op = &ino->ops[i];
		uint64_t r = rnd(fs) % 3;
		switch (op->kind) {
		case OP_WRITE:
			if (r == 1)
				image_write(&im, op->data, op->len, op->off);
			else if (r == 2)
				tear(fs, &im, op);
			break;
		case OP_SIZE:
			if (r == 0)
				break;
			if (!op->zero_fill || op->len > im.size)
				image_resize(&im, op->len);
			break;
		case OP_LINK:
			if (r != 0)
				dir_set(&im, op->name, op->target);
			break;
		case OP_UNLINK:
			if (r != 0)
				dir_remove(&im, op->name);
			break;
		case OP_RENAME:
			if (r != 0) {
				struct dirent_m *e = dir_find(&im, op->name);
				if (e != NULL) {
					struct inode *t = e->ino;
					dir_remove(&im, op->name);
					dir_set(&im, op->name2, t);
				}
			}
			break;
		}
	}
	image_copy(&ino->dur, &im);
	image_copy(&ino->cur, &im);
	image_clear(&im);
	ops_clear(ino);
}

void memfs_reboot(struct memfs *fs)
{
	for (struct inode *ino = fs->all; ino != NULL; ino = ino->next_all) {
		replay(fs, ino);
		ino->locked = false;
	}
	memset(fs->fds, 0, sizeof(fs->fds));
	fs->crashed = false;
	fs->crash_at = 0;
}
