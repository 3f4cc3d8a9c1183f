/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* TLS 1.3 with mandatory client certificates, both sides verified against
 * the cluster CA; the node identity check is separate
 * (transport__tls_conn_peer_is_node) because it needs the node id the peer
 * claims in its hello. */
#include "transport/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct tls_config {
	SSL_CTX *ctx;
};

struct tls_conn {
	SSL *ssl;
	BIO *rbio; /* ciphertext from the network, read by TLS */
	BIO *wbio; /* ciphertext from TLS, to the network */
};

/* Copies OpenSSL's oldest queued error (or `what`) into err. */
static void tls_error(char *err, size_t err_len, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	if (e != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		snprintf(err, err_len, "%s: %s", what, buf);
	} else {
		snprintf(err, err_len, "%s", what);
	}
	ERR_clear_error();
}

struct tls_config *transport__tls_config_create(const char *ca_file,
						const char *cert_file,
						const char *key_file, char *err,
						size_t err_len)
{
	struct tls_config *cfg;
	SSL_CTX *ctx;

	if (ca_file == NULL || cert_file == NULL || key_file == NULL) {
		snprintf(err, err_len,
			 "TLS needs a CA file, a certificate and a key");
		return NULL;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	ctx = SSL_CTX_new(TLS_method());
	if (ctx == NULL) {
		tls_error(err, err_len, "cannot create a TLS context");
		goto fail;
	}
	cfg->ctx = ctx;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1) {
		tls_error(err, err_len, "cannot require TLS 1.3");
		goto fail;
	}
	if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
		tls_error(err, err_len, "cannot load the cluster CA file");
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		tls_error(err, err_len, "cannot load the node certificate");
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		tls_error(err, err_len, "cannot load the node key");
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_error(err, err_len,
			  "the node key does not match its "
			  "certificate");
		goto fail;
	}
	SSL_CTX_set_verify(
	    ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	/* Links are long-lived and never resumed. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return cfg;
fail:
	transport__tls_config_free(cfg);
	return NULL;
}

void transport__tls_config_free(struct tls_config *cfg)
{
	if (cfg == NULL)
		return;
	SSL_CTX_free(cfg->ctx);
	free(cfg);
}

struct tls_conn *transport__tls_conn_create(struct tls_config *cfg, bool server)
{
	struct tls_conn *tc = calloc(1, sizeof(*tc));

	if (tc == NULL)
		return NULL;
	tc->ssl = SSL_new(cfg->ctx);
	tc->rbio = BIO_new(BIO_s_mem());
	tc->wbio = BIO_new(BIO_s_mem());
	if (tc->ssl == NULL || tc->rbio == NULL || tc->wbio == NULL) {
		BIO_free(tc->rbio);
		BIO_free(tc->wbio);
		SSL_free(tc->ssl);
		free(tc);
		ERR_clear_error();
		return NULL;
	}
	/* An empty read BIO means "want more", not end of file. */
	BIO_set_mem_eof_return(tc->rbio, -1);
	SSL_set_bio(tc->ssl, tc->rbio, tc->wbio);
	if (server)
		SSL_set_accept_state(tc->ssl);
	else
		SSL_set_connect_state(tc->ssl);
	return tc;
}

void transport__tls_conn_free(struct tls_conn *tc)
{
	if (tc == NULL)
		return;
	SSL_free(tc->ssl); /* frees both BIOs */
	free(tc);
}

bool transport__tls_conn_feed(struct tls_conn *tc, const uint8_t *buf,
			      size_t len)
{
	while (len > 0) {
		int chunk = len > 0x40000000 ? 0x40000000 : (int)len;
		int n = BIO_write(tc->rbio, buf, chunk);

		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

/* Describes a failed TLS call, with the certificate verdict if it failed. */
static void tls_conn_error(struct tls_conn *tc, int rv, char *err,
			   size_t err_len, const char *what)
{
	long verify = SSL_get_verify_result(tc->ssl);
	int code = SSL_get_error(tc->ssl, rv);

	if (verify != X509_V_OK) {
		snprintf(err, err_len, "%s: peer certificate rejected: %s",
			 what, X509_verify_cert_error_string(verify));
		ERR_clear_error();
	} else if (code == SSL_ERROR_ZERO_RETURN) {
		snprintf(err, err_len, "%s: peer closed TLS", what);
	} else {
		tls_error(err, err_len, what);
	}
}

int transport__tls_conn_handshake(struct tls_conn *tc, char *err,
				  size_t err_len)
{
	int rv = SSL_do_handshake(tc->ssl);

	if (rv == 1)
		return 1;
	switch (SSL_get_error(tc->ssl, rv)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return 0;
	default:
		tls_conn_error(tc, rv, err, err_len, "TLS handshake failed");
		return -1;
	}
}

int transport__tls_conn_read(struct tls_conn *tc, uint8_t *buf, size_t cap,
			     char *err, size_t err_len)
{
	int chunk = cap > 0x40000000 ? 0x40000000 : (int)cap;
	int rv = SSL_read(tc->ssl, buf, chunk);

	if (rv > 0)
		return rv;
	switch (SSL_get_error(tc->ssl, rv)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return 0;
	default:
		tls_conn_error(tc, rv, err, err_len, "TLS read failed");
		return -1;
	}
}

bool transport__tls_conn_write(struct tls_conn *tc, const uint8_t *buf,
			       size_t len)
{
	while (len > 0) {
		int chunk = len > 0x40000000 ? 0x40000000 : (int)len;
		int n = SSL_write(tc->ssl, buf, chunk);

		/* Memory BIOs grow, so a write never wants to wait. */
		if (n <= 0) {
			ERR_clear_error();
			return false;
		}
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

size_t transport__tls_conn_pending(struct tls_conn *tc)
{
	return BIO_ctrl_pending(tc->wbio);
}

size_t transport__tls_conn_take(struct tls_conn *tc, uint8_t *buf, size_t cap)
{
	int chunk = cap > 0x40000000 ? 0x40000000 : (int)cap;
	int n = BIO_read(tc->wbio, buf, chunk);

	return n > 0 ? (size_t)n : 0;
}

bool transport__tls_conn_peer_is_node(struct tls_conn *tc, uint32_t id)
{
	X509 *cert = SSL_get0_peer_certificate(tc->ssl);
	GENERAL_NAMES *names;
	char want[64];
	bool found = false;
	int n;

	if (cert == NULL || SSL_get_verify_result(tc->ssl) != X509_V_OK)
		return false;
	n = snprintf(want, sizeof(want), TLS_NODE_URI_PREFIX "%u", id);
	names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	if (names == NULL) {
		ERR_clear_error();
		return false;
	}
	for (int i = 0; i < sk_GENERAL_NAME_num(names) && !found; i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		const unsigned char *uri;

		if (gn->type != GEN_URI)
			continue;
		uri = ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
		found =
		    ASN1_STRING_length(gn->d.uniformResourceIdentifier) == n &&
		    memcmp(uri, want, (size_t)n) == 0;
	}
	GENERAL_NAMES_free(names);
	return found;
}
