/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Loopback throughput of one link, per security mode: frames/s and MB/s
 * from node 1 to node 2 on one loop. Numbers only, never a pass/fail.
 *   transport_bench CERT_DIR [FRAMES] [PAYLOAD_BYTES] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/transport/harness.h"

static const char *cert_dir;

static void with_cert(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", cert_dir, name);
}

static double bench_mode(const char *mode, unsigned frames, size_t size)
{
	static struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);
	char ca[600], c1[600], k1[600], c2[600], k2[600];
	struct node *nodes[2] = {&a, &b};
	uint8_t *payload = calloc(1, size);
	unsigned sent = 0;
	uint64_t start, end;

	oa.log = ob.log = NULL;
	oa.queue_max_frames = ob.queue_max_frames = 65536;
	oa.queue_max_bytes = ob.queue_max_bytes = 64u * 1024u * 1024u;
	if (strstr(mode, "tls") != NULL) {
		with_cert(ca, sizeof(ca), "ca.crt");
		with_cert(c1, sizeof(c1), "node1.crt");
		with_cert(k1, sizeof(k1), "node1.key");
		with_cert(c2, sizeof(c2), "node2.crt");
		with_cert(k2, sizeof(k2), "node2.key");
		oa.tls_ca_file = ob.tls_ca_file = ca;
		oa.tls_cert_file = c1;
		oa.tls_key_file = k1;
		ob.tls_cert_file = c2;
		ob.tls_key_file = k2;
	}
	if (strstr(mode, "secret") == NULL) {
		oa.secret = ob.secret = NULL;
		oa.secret_len = ob.secret_len = 0;
		oa.insecure_plaintext = ob.insecure_plaintext = true;
	}
	if (payload == NULL || node_start(&a, &oa) != 0 ||
	    node_start(&b, &ob) != 0) {
		fprintf(stderr, "%s: cannot start\n", mode);
		exit(1);
	}
	mesh(nodes, 2);
	if (!wait_linked(&a, &b, 5000)) {
		fprintf(stderr, "%s: no link\n", mode);
		exit(1);
	}
	start = uv_hrtime();
	while (b.recv_count < frames) {
		while (sent < frames &&
		       transport_send(a.t, 2, 16, payload, size) == 0)
			sent++;
		uv_run(&test_loop, UV_RUN_ONCE);
	}
	end = uv_hrtime();
	node_free(&a);
	node_free(&b);
	free(payload);
	return (double)frames / ((double)(end - start) / 1e9);
}

int main(int argc, char **argv)
{
	const char *modes[] = {"plaintext", "secret", "tls", "tls+secret"};
	unsigned frames;
	size_t size;
	double base = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CERT_DIR [FRAMES] [BYTES]\n",
			argv[0]);
		return 2;
	}
	cert_dir = argv[1];
	frames = argc > 2 ? (unsigned)atoi(argv[2]) : 100000;
	size = argc > 3 ? (size_t)atol(argv[3]) : 1024;
	uv_loop_init(&test_loop);
	printf("transport loopback, %u frames of %zu bytes, one link\n", frames,
	       size);
	for (unsigned i = 0; i < 4; i++) {
		double fps = bench_mode(modes[i], frames, size);

		if (i == 0)
			base = fps;
		printf("%-11s %10.0f frames/s %8.1f MB/s  %.2f x plaintext\n",
		       modes[i], fps, fps * (double)size / 1e6, fps / base);
	}
	uv_loop_close(&test_loop);
	return 0;
}
