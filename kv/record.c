/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The record is two text lines:
 *   ha-kv-cluster 1 created <32 hex digits of the cluster id> | joined
 *   <members as in CREATE/JOIN: id=host:port,...>
 */
#include "kv/record.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kv/protocol.h"

#define RECORD_MAX 8192u

static int fail(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
	return -1;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int kv_record_load(const char *path, struct kv_record *r, char *why,
		   size_t why_len)
{
	memset(r, 0, sizeof(*r));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		return fail(why, why_len, "cannot open %s: %s", path,
			    strerror(errno));
	}
	static char text[RECORD_MAX + 1];
	size_t n = 0;
	for (;;) {
		ssize_t got = read(fd, text + n, RECORD_MAX + 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			close(fd);
			return fail(why, why_len, "cannot read %s: %s", path,
				    strerror(errno));
		}
		if (got == 0)
			break;
		n += (size_t)got;
		if (n > RECORD_MAX) {
			close(fd);
			return fail(why, why_len, "%s is too large", path);
		}
	}
	close(fd);
	text[n] = '\0';
	char *nl = memchr(text, '\n', n);
	if (nl == NULL)
		return fail(why, why_len, "%s is damaged (no header)", path);
	*nl = '\0';
	char *members = nl + 1;
	char *end = memchr(members, '\n', n - (size_t)(members - text));
	if (end == NULL || (size_t)(end + 1 - text) != n)
		return fail(why, why_len, "%s is damaged (no members line)",
			    path);
	*end = '\0';
	if (strcmp(text, "ha-kv-cluster 1 joined") == 0) {
		r->created = false;
	} else if (strncmp(text, "ha-kv-cluster 1 created ", 24) == 0 &&
		   strlen(text + 24) == 2 * RAFT_CLUSTER_ID_LEN) {
		r->created = true;
	} else {
		return fail(why, why_len, "%s is damaged (bad header)", path);
	}
	/* The members line is exactly what JOIN takes. */
	static char line[RECORD_MAX + 8];
	int len = snprintf(line, sizeof(line), "JOIN %s", members);
	struct kv_parsed p;
	char reason[128];
	if (len < 0 || (size_t)len >= sizeof(line) ||
	    kv_parse_line(line, (size_t)len, &p, reason, sizeof(reason)) != 0)
		return fail(why, why_len, "%s is damaged (members)", path);
	r->members = p.members;
	if (r->created) {
		const char *hex = text + 24;
		for (unsigned i = 0; i < RAFT_CLUSTER_ID_LEN; i++) {
			int hi = hex_value(hex[2 * i]),
			    lo = hex_value(hex[2 * i + 1]);
			if (hi < 0 || lo < 0)
				return fail(why, why_len,
					    "%s is damaged (cluster id)", path);
			r->members.cluster_id[i] = (uint8_t)(hi << 4 | lo);
		}
	}
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int kv_record_save(const char *path, const struct kv_record *r, char *why,
		   size_t why_len)
{
	static char text[RECORD_MAX + 1];
	size_t n = 0;
	int len;
	if (r->created) {
		len = snprintf(text, sizeof(text), "ha-kv-cluster 1 created ");
		for (unsigned i = 0; i < RAFT_CLUSTER_ID_LEN && len > 0; i++)
			len += snprintf(text + len, sizeof(text) - (size_t)len,
					"%02x", r->members.cluster_id[i]);
		len += snprintf(text + len, sizeof(text) - (size_t)len, "\n");
	} else {
		len = snprintf(text, sizeof(text), "ha-kv-cluster 1 joined\n");
	}
	n = (size_t)len;
	for (uint32_t i = 0; i < r->members.n && i < RAFT_MAX_SERVERS; i++) {
		len = snprintf(text + n, sizeof(text) - n, "%s%u=%.*s",
			       i ? "," : "", r->members.servers[i].id,
			       (int)RAFT_ADDRESS_MAX - 1,
			       r->members.servers[i].address);
		if (len < 0 || (size_t)len >= sizeof(text) - n)
			return fail(why, why_len,
				    "the member list is too long");
		n += (size_t)len;
	}
	if (n + 1 >= sizeof(text))
		return fail(why, why_len, "the member list is too long");
	text[n++] = '\n';

	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return fail(why, why_len, "the path %s is too long", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(why, why_len, "cannot create %s: %s", tmp,
			    strerror(errno));
	if (write_all(fd, text, n) != 0 || fsync(fd) != 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		return fail(why, why_len, "cannot write %s: %s", tmp,
			    strerror(e));
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		return fail(why, why_len, "cannot rename %s: %s", tmp,
			    strerror(e));
	}
	/* The rename itself must survive a crash. */
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0) {
		int e = errno;
		if (dfd >= 0)
			close(dfd);
		return fail(why, why_len, "cannot sync the folder of %s: %s",
			    path, strerror(e));
	}
	close(dfd);
	return 0;
}
