/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Passwords (PBKDF2-HMAC-SHA512, as the stock plugin stores them), the
 * login check and the ACL decisions with the stock plugin's order and
 * matching rules (docs/access-control.md). */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "plugin/dynsec/internal.h"

/* ---- base64 ---- */

char *ha_dynsec__base64_encode(const uint8_t *in, size_t len)
{
	if (len > 3 * 1024 * 1024)
		return NULL;
	char *out = malloc(4 * ((len + 2) / 3) + 1);
	if (out == NULL)
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return out;
}

bool ha_dynsec__base64_decode_range(const char *in, uint8_t *out, size_t min,
				    size_t max, size_t *len)
{
	/* Padded base64: a multiple of 4 characters, up to two '='. */
	size_t n = strlen(in);
	uint8_t buf[3 * (HA_DYNSEC_HASH_LEN / 3 + 1)];
	if (n < 4 || n % 4 != 0 || n / 4 * 3 > sizeof(buf))
		return false;
	size_t pad = (size_t)(in[n - 1] == '=') + (in[n - 2] == '=');
	*len = n / 4 * 3 - pad;
	if (*len < min || *len > max)
		return false;
	if (EVP_DecodeBlock(buf, (const unsigned char *)in, (int)n) < 0)
		return false;
	memcpy(out, buf, *len);
	return true;
}

bool ha_dynsec__base64_decode(const char *in, uint8_t *out, size_t out_len)
{
	size_t len;
	return ha_dynsec__base64_decode_range(in, out, out_len, out_len, &len);
}

/* ---- passwords ---- */

static bool pw_hash(const struct ha_dynsec_pw *pw, const char *password,
		    uint8_t hash[HA_DYNSEC_HASH_LEN])
{
	size_t n = strlen(password);
	if (pw->iterations < 1 || n > INT32_MAX)
		return false;
	if (pw->salt_len < 1 || pw->salt_len > HA_DYNSEC_SALT_MAX)
		return false;
	return PKCS5_PBKDF2_HMAC(password, (int)n, pw->salt, pw->salt_len,
				 pw->iterations, EVP_sha512(),
				 HA_DYNSEC_HASH_LEN, hash) == 1;
}

bool ha_dynsec_pw_set(struct ha_dynsec_pw *pw, const char *password, bool v21)
{
	struct ha_dynsec_pw next = {
	    .iterations = v21 ? HA_DYNSEC_DEFAULT_ITERATIONS_21
			      : HA_DYNSEC_DEFAULT_ITERATIONS,
	    .salt_len = v21 ? HA_DYNSEC_SALT_LEN_21 : HA_DYNSEC_SALT_LEN,
	};
	if (RAND_bytes(next.salt, next.salt_len) != 1 ||
	    !pw_hash(&next, password, next.hash))
		return false;
	next.valid = true;
	*pw = next;
	return true;
}

bool ha_dynsec_pw_matches(const struct ha_dynsec_pw *pw, const char *password)
{
	uint8_t hash[HA_DYNSEC_HASH_LEN];
	if (!pw->valid || !pw_hash(pw, password, hash))
		return false;
	/* Constant time: how much of a guess matched must not show. */
	return CRYPTO_memcmp(hash, pw->hash, sizeof(hash)) == 0;
}

int ha_dynsec_authenticate(const struct ha_dynsec *s, const char *username,
			   const char *password, const char *clientid)
{
	if (username == NULL || password == NULL)
		return HA_DYNSEC_AUTH_DEFER;
	const struct ha_dynsec_client *c = ha_dynsec_find_client(s, username);
	if (c == NULL)
		return HA_DYNSEC_AUTH_DEFER;
	if (c->disabled)
		return HA_DYNSEC_AUTH_DENIED;
	if (c->clientid != NULL &&
	    (clientid == NULL || strcmp(c->clientid, clientid) != 0))
		return HA_DYNSEC_AUTH_DENIED;
	if (!c->pw.valid)
		return HA_DYNSEC_AUTH_DEFER;
	return ha_dynsec_pw_matches(&c->pw, password) ? HA_DYNSEC_AUTH_OK
						      : HA_DYNSEC_AUTH_DENIED;
}

/* ---- topic matching ---- */

/* The next level of *p (up to '/' or the end) as [start, len); false when
 * there is none left. *p is NULL after the last level. */
static bool next_level(const char **p, const char **start, size_t *len)
{
	if (*p == NULL)
		return false;
	const char *slash = strchr(*p, '/');
	*start = *p;
	if (slash == NULL) {
		*len = strlen(*p);
		*p = NULL;
	} else {
		*len = (size_t)(slash - *p);
		*p = slash + 1;
	}
	return true;
}

static bool level_is(const char *l, size_t n, const char *what)
{
	return n == strlen(what) && memcmp(l, what, n) == 0;
}

bool ha_dynsec_filter_valid(const char *filter)
{
	const char *p = filter, *l;
	size_t n;
	if (filter[0] == '\0')
		return false;
	while (next_level(&p, &l, &n)) {
		for (size_t i = 0; i < n; i++) {
			if ((l[i] == '+' || l[i] == '#') && n != 1)
				return false;
		}
		if (level_is(l, n, "#") && p != NULL)
			return false;
	}
	return true;
}

/* The value a %c or %u level stands for, if patterns apply and the level
 * is one; *is_pattern false otherwise. */
static const char *pattern_value(const char *l, size_t n, bool patterns,
				 const char *clientid, const char *username,
				 bool *is_pattern)
{
	*is_pattern =
	    patterns && n == 2 && l[0] == '%' && (l[1] == 'c' || l[1] == 'u');
	if (!*is_pattern)
		return NULL;
	return l[1] == 'c' ? clientid : username;
}

/* A %c/%u level against a level of the topic: the whole level, and never
 * for a missing or empty value or one that is a lone wildcard or slash. */
static bool pattern_matches(const char *value, const char *l, size_t n)
{
	if (value == NULL || value[0] == '\0')
		return false;
	if (strcmp(value, "+") == 0 || strcmp(value, "#") == 0 ||
	    strcmp(value, "/") == 0)
		return false;
	return level_is(l, n, value);
}

bool ha_dynsec_topic_matches(const char *filter, const char *topic,
			     const char *clientid, const char *username,
			     bool patterns)
{
	if (!ha_dynsec_filter_valid(filter) || topic[0] == '\0' ||
	    strpbrk(topic, "+#") != NULL)
		return false;
	if ((filter[0] == '$') != (topic[0] == '$'))
		return false;
	const char *f = filter, *t = topic, *fl, *tl;
	size_t fn, tn;
	while (next_level(&f, &fl, &fn)) {
		if (level_is(fl, fn, "#"))
			return true;
		if (!next_level(&t, &tl, &tn))
			return false;
		bool is_pattern;
		const char *value = pattern_value(fl, fn, patterns, clientid,
						  username, &is_pattern);
		if (is_pattern) {
			if (!pattern_matches(value, tl, tn))
				return false;
		} else if (!level_is(fl, fn, "+") &&
			   (fn != tn || memcmp(fl, tl, fn) != 0)) {
			return false;
		}
	}
	return t == NULL;
}

/* mosquitto 2.0's rule for a subscription against a pattern ACL: a trailing
 * "#" level of either is set aside, then level by level; no $ rule, and
 * "#" alone allows every subscription. */
static bool sub_matches_20(const char *acl, const char *sub)
{
	if (strcmp(acl, "#") == 0)
		return true;
	size_t al = strlen(acl), sl = strlen(sub);
	bool acl_hash = strcmp(acl, "#") == 0 ||
			(al >= 2 && strcmp(acl + al - 2, "/#") == 0);
	bool sub_hash = strcmp(sub, "#") == 0 ||
			(sl >= 2 && strcmp(sub + sl - 2, "/#") == 0);
	if (sub_hash && !acl_hash)
		return false;
	size_t acl_len = acl_hash ? (al == 1 ? 0 : al - 2) : al;
	size_t sub_len = sub_hash ? (sl == 1 ? 0 : sl - 2) : sl;
	size_t acl_levels = 1, sub_levels = 1;
	for (size_t i = 0; i < acl_len; i++)
		acl_levels += acl[i] == '/';
	for (size_t i = 0; i < sub_len; i++)
		sub_levels += sub[i] == '/';
	if (acl_levels > sub_levels || (sub_levels > acl_levels && !acl_hash))
		return false;
	size_t a = 0, s = 0;
	for (size_t i = 0; i < acl_levels; i++) {
		size_t ae = a, se = s;
		while (ae < acl_len && acl[ae] != '/')
			ae++;
		while (se < sub_len && sub[se] != '/')
			se++;
		bool plus = ae - a == 1 && acl[a] == '+';
		if (!plus &&
		    (ae - a != se - s || memcmp(acl + a, sub + s, ae - a) != 0))
			return false;
		a = ae + 1;
		s = se + 1;
	}
	return true;
}

/* mosquitto 2.1's rule: level by level, $ on both sides or neither, "+"
 * never covers a "#" of the subscription, %c and %u when patterns. */
static bool sub_matches_21(const char *acl, const char *sub,
			   const char *clientid, const char *username)
{
	if ((acl[0] == '$') != (sub[0] == '$'))
		return false;
	const char *a = acl, *s = sub, *al, *sl;
	size_t an, sn;
	while (next_level(&a, &al, &an)) {
		if (level_is(al, an, "#"))
			return true;
		if (!next_level(&s, &sl, &sn))
			return false;
		bool is_pattern;
		const char *value = pattern_value(al, an, true, clientid,
						  username, &is_pattern);
		if (is_pattern) {
			if (!pattern_matches(value, sl, sn))
				return false;
		} else if (level_is(al, an, "+")) {
			if (level_is(sl, sn, "#"))
				return false;
		} else if (an != sn || memcmp(al, sl, an) != 0) {
			return false;
		}
	}
	return s == NULL;
}

bool ha_dynsec_sub_matches(const char *acl, const char *sub,
			   const char *clientid, const char *username,
			   bool patterns)
{
	if (!ha_dynsec_filter_valid(acl) || !ha_dynsec_filter_valid(sub))
		return false;
	return patterns ? sub_matches_21(acl, sub, clientid, username)
			: sub_matches_20(acl, sub);
}

/* ---- ACL decisions ---- */

struct check {
	const struct ha_dynsec *s;
	int access;
	const char *username, *clientid, *topic;
};

/* The decision of one role: HA_DYNSEC_ACL_ALLOW or _DENY at the first ACL
 * that matches, _DEFER when none does. */
static int role_decides(const struct check *k, const struct ha_dynsec_role *r)
{
	bool sub = k->access == HA_DYNSEC_ACCESS_SUBSCRIBE;
	bool unsub = k->access == HA_DYNSEC_ACCESS_UNSUBSCRIBE;
	/* mosquitto 2.1: such a role refuses any wildcard subscription. */
	if (sub && k->s->v21 && r->deny_wildcard_subs &&
	    strpbrk(k->topic, "+#") != NULL)
		return HA_DYNSEC_ACL_DENY;
	if (sub || unsub) {
		uint8_t literal =
		    sub ? HA_DYNSEC_SUB_LITERAL : HA_DYNSEC_UNSUB_LITERAL;
		long i = ha_dynsec__acl_find(r, literal, k->topic);
		if (i >= 0)
			return r->acls[i].allow ? HA_DYNSEC_ACL_ALLOW
						: HA_DYNSEC_ACL_DENY;
	}
	uint8_t type = sub     ? HA_DYNSEC_SUB_PATTERN
		       : unsub ? HA_DYNSEC_UNSUB_PATTERN
		       : k->access == HA_DYNSEC_ACCESS_PUB_SEND
			   ? HA_DYNSEC_PUB_SEND
			   : HA_DYNSEC_PUB_RECV;
	for (size_t i = 0; i < r->n_acls; i++) {
		const struct ha_dynsec_acl *a = &r->acls[i];
		if (a->type != type)
			continue;
		bool match =
		    sub || unsub
			? ha_dynsec_sub_matches(a->topic, k->topic, k->clientid,
						k->username, k->s->v21)
			: ha_dynsec_topic_matches(a->topic, k->topic,
						  k->clientid, k->username,
						  k->s->v21);
		if (match)
			return a->allow ? HA_DYNSEC_ACL_ALLOW
					: HA_DYNSEC_ACL_DENY;
	}
	return HA_DYNSEC_ACL_DEFER;
}

static int roles_decide(const struct check *k, const struct ha_dynsec_refs *l)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct ha_dynsec_role *r =
		    ha_dynsec_find_role(k->s, l->v[i].name);
		int rv = r != NULL ? role_decides(k, r) : HA_DYNSEC_ACL_DEFER;
		if (rv != HA_DYNSEC_ACL_DEFER)
			return rv;
	}
	return HA_DYNSEC_ACL_DEFER;
}

int ha_dynsec_acl_check(const struct ha_dynsec *s, int access,
			const char *username, const char *clientid,
			const char *topic)
{
	if (access < 0 || access >= HA_DYNSEC_ACCESS_KINDS)
		return HA_DYNSEC_ACL_DEFER;
	struct check k = {s, access, username, clientid, topic};
	int rv = HA_DYNSEC_ACL_DEFER;
	if (username != NULL) {
		const struct ha_dynsec_client *c =
		    ha_dynsec_find_client(s, username);
		if (c == NULL)
			return HA_DYNSEC_ACL_DEFER;
		rv = roles_decide(&k, &c->roles);
		for (size_t i = 0; rv == HA_DYNSEC_ACL_DEFER && i < c->groups.n;
		     i++) {
			const struct ha_dynsec_group *g =
			    ha_dynsec_find_group(s, c->groups.v[i].name);
			if (g != NULL)
				rv = roles_decide(&k, &g->roles);
		}
	} else if (s->anonymous_group != NULL) {
		const struct ha_dynsec_group *g =
		    ha_dynsec_find_group(s, s->anonymous_group);
		if (g != NULL)
			rv = roles_decide(&k, &g->roles);
	}
	if (rv != HA_DYNSEC_ACL_DEFER)
		return rv;
	/* No fall-through access to $CONTROL: it must be granted. */
	if (!s->default_access[access] || strncmp(topic, "$CONTROL", 8) == 0)
		return HA_DYNSEC_ACL_DEFER;
	return HA_DYNSEC_ACL_ALLOW;
}
