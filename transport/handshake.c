/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Handshake message codec. Parsing is strict: exact lengths, no reserved
 * bits, so two implementations can never read one message differently. */
#include "transport/handshake.h"

#include <string.h>

#include "raft/byteorder.h"

#define HS_AUTH_LABEL "mqttha-auth-v1"

const char *transport__hs_strerror(int err)
{
	switch (err) {
	case HS_OK:
		return "ok";
	case HS_ELENGTH:
		return "bad handshake message length";
	case HS_EMAGIC:
		return "not a mosquitto-ha hello";
	case HS_EFIELD:
		return "handshake field out of range";
	case HS_ENAME:
		return "bad cluster name in hello";
	}
	return "unknown handshake error";
}

bool transport__hs_name_valid(const char *name)
{
	size_t n;

	if (name == NULL)
		return false;
	n = strnlen(name, HS_NAME_MAX + 1);
	if (n == 0 || n > HS_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (name[i] < 0x21 || name[i] > 0x7e)
			return false;
	}
	return true;
}

static bool hs_fields_valid(const struct hs_hello *h)
{
	if (h->node_id == 0 || h->proto_min == 0 || h->proto_min > h->proto_max)
		return false;
	if ((h->mode & ~(HS_MODE_SECRET | HS_MODE_TLS)) != 0)
		return false;
	if ((h->flags & ~HS_FLAG_CLUSTER_ID_KNOWN) != 0)
		return false;
	return true;
}

int transport__hs_hello_encode(const struct hs_hello *h, uint8_t *out,
			       size_t cap)
{
	size_t name_len;
	uint8_t *p = out;

	if (!hs_fields_valid(h))
		return HS_EFIELD;
	if (!transport__hs_name_valid(h->cluster_name))
		return HS_ENAME;
	name_len = strlen(h->cluster_name);
	if (cap < HS_HELLO_FIXED_LEN + name_len)
		return HS_ELENGTH;
	memcpy(p, HS_MAGIC, 4);
	p += 4;
	le16_store(p, h->proto_min);
	p += 2;
	le16_store(p, h->proto_max);
	p += 2;
	le32_store(p, h->node_id);
	p += 4;
	le32_store(p, h->target_id);
	p += 4;
	*p++ = h->mode;
	*p++ = h->flags;
	memcpy(p, h->cluster_id, HS_CLUSTER_ID_LEN);
	p += HS_CLUSTER_ID_LEN;
	memcpy(p, h->nonce, HS_NONCE_LEN);
	p += HS_NONCE_LEN;
	*p++ = (uint8_t)name_len;
	memcpy(p, h->cluster_name, name_len);
	p += name_len;
	return (int)(p - out);
}

int transport__hs_hello_decode(const uint8_t *buf, size_t len,
			       struct hs_hello *out)
{
	struct hs_hello h;
	const uint8_t *p = buf;
	size_t name_len;

	if (len < HS_HELLO_FIXED_LEN || len > HS_HELLO_MAX_LEN)
		return HS_ELENGTH;
	if (memcmp(p, HS_MAGIC, 4) != 0)
		return HS_EMAGIC;
	memset(&h, 0, sizeof(h));
	p += 4;
	h.proto_min = le16_load(p);
	p += 2;
	h.proto_max = le16_load(p);
	p += 2;
	h.node_id = le32_load(p);
	p += 4;
	h.target_id = le32_load(p);
	p += 4;
	h.mode = *p++;
	h.flags = *p++;
	memcpy(h.cluster_id, p, HS_CLUSTER_ID_LEN);
	p += HS_CLUSTER_ID_LEN;
	memcpy(h.nonce, p, HS_NONCE_LEN);
	p += HS_NONCE_LEN;
	name_len = *p++;
	if (len != HS_HELLO_FIXED_LEN + name_len)
		return HS_ELENGTH;
	if (name_len == 0 || name_len > HS_NAME_MAX)
		return HS_ENAME;
	/* Every byte is checked, so an embedded NUL cannot shorten the name. */
	for (size_t i = 0; i < name_len; i++) {
		if (p[i] < 0x21 || p[i] > 0x7e)
			return HS_ENAME;
	}
	memcpy(h.cluster_name, p, name_len);
	h.cluster_name[name_len] = '\0';
	if (!hs_fields_valid(&h))
		return HS_EFIELD;
	*out = h;
	return HS_OK;
}

uint16_t transport__hs_common_version(uint16_t a_min, uint16_t a_max,
				      uint16_t b_min, uint16_t b_max)
{
	uint16_t lo = a_min > b_min ? a_min : b_min;
	uint16_t hi = a_max < b_max ? a_max : b_max;

	if (lo == 0 || lo > hi)
		return 0;
	return hi;
}

size_t transport__hs_auth_input(uint8_t out[HS_AUTH_INPUT_MAX], char role,
				uint16_t version, const struct hs_hello *dialer,
				const struct hs_hello *acceptor,
				const uint8_t transcript[HS_TRANSCRIPT_LEN])
{
	/* Both names are equal once hellos are accepted; the dialer's is used.
	 */
	size_t name_len = strnlen(dialer->cluster_name, HS_NAME_MAX);
	uint8_t *p = out;

	memcpy(p, HS_AUTH_LABEL, sizeof(HS_AUTH_LABEL) - 1);
	p += sizeof(HS_AUTH_LABEL) - 1;
	*p++ = (uint8_t)role;
	le16_store(p, version);
	p += 2;
	le32_store(p, dialer->node_id);
	p += 4;
	le32_store(p, acceptor->node_id);
	p += 4;
	memcpy(p, dialer->nonce, HS_NONCE_LEN);
	p += HS_NONCE_LEN;
	memcpy(p, acceptor->nonce, HS_NONCE_LEN);
	p += HS_NONCE_LEN;
	*p++ = (uint8_t)name_len;
	memcpy(p, dialer->cluster_name, name_len);
	p += name_len;
	memcpy(p, transcript, HS_TRANSCRIPT_LEN);
	p += HS_TRANSCRIPT_LEN;
	return (size_t)(p - out);
}
