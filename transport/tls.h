/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Mutual TLS over memory BIOs: the connection code moves ciphertext between
 * the socket and these buffers, so OpenSSL never touches a file descriptor
 * and libuv keeps owning all I/O. */
#ifndef TRANSPORT_TLS_H
#define TRANSPORT_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tls_config;
struct tls_conn;

/* The URI a node's certificate must carry as a subject alternative name. */
#define TLS_NODE_URI_PREFIX "mqttha://node/"

/* Loads the cluster CA, this node's certificate chain and its key. On
 * failure returns NULL and says why in err. */
struct tls_config *transport__tls_config_create(const char *ca_file,
						const char *cert_file,
						const char *key_file, char *err,
						size_t err_len);
void transport__tls_config_free(struct tls_config *cfg);

struct tls_conn *transport__tls_conn_create(struct tls_config *cfg,
					    bool server);
void transport__tls_conn_free(struct tls_conn *tc);

/* Hands ciphertext received from the socket to TLS. */
bool transport__tls_conn_feed(struct tls_conn *tc, const uint8_t *buf,
			      size_t len);
/* Advances the TLS handshake: 1 done, 0 needs more input, -1 failed (err
 * says why, including certificate verification errors). */
int transport__tls_conn_handshake(struct tls_conn *tc, char *err,
				  size_t err_len);
/* Plaintext out: >0 bytes read, 0 nothing available, -1 error or close. */
int transport__tls_conn_read(struct tls_conn *tc, uint8_t *buf, size_t cap,
			     char *err, size_t err_len);
/* Plaintext in; all of it is accepted into TLS's buffers or false. */
bool transport__tls_conn_write(struct tls_conn *tc, const uint8_t *buf,
			       size_t len);
/* Ciphertext waiting to go to the socket. */
size_t transport__tls_conn_pending(struct tls_conn *tc);
size_t transport__tls_conn_take(struct tls_conn *tc, uint8_t *buf, size_t cap);

/* Whether the verified peer certificate names node `id` in a URI subject
 * alternative name mqttha://node/<id>. */
bool transport__tls_conn_peer_is_node(struct tls_conn *tc, uint32_t id);

#endif
