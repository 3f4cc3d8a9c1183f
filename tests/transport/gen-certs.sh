#!/usr/bin/env bash
# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
# Makes the certificates the transport's TLS tests use, in DIR:
#   ca.crt                   the cluster CA
#   node{1,2,3}.{crt,key}    nodes named by URI SAN mqttha://node/<id>
#   nosan2.{crt,key}         signed by the CA, but names no node
#   expired2.{crt,key}       node 2, valid only in 2020
#   rogue2.{crt,key}         node 2, signed by another CA
set -euo pipefail
dir=$1
rm -rf "$dir"
mkdir -p "$dir"
cd "$dir"

key() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$1.key" 2>/dev/null
}

ca() { # name
	key "$1"
	openssl req -x509 -new -key "$1.key" -subj "/CN=$1" -days 30 \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-out "$1.crt" 2>/dev/null
}

node() { # name ca san(or empty)
	key "$1"
	openssl req -new -key "$1.key" -subj "/CN=$1" -out "$1.csr" 2>/dev/null
	{
		echo "basicConstraints=CA:FALSE"
		echo "keyUsage=critical,digitalSignature"
		echo "extendedKeyUsage=serverAuth,clientAuth"
		[[ -n $3 ]] && echo "subjectAltName=$3"
	} >"$1.ext"
	openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" \
		-CAcreateserial -days 30 -extfile "$1.ext" -out "$1.crt" \
		2>/dev/null
}

ca ca
ca rogue
node node1 ca "URI:mqttha://node/1"
node node2 ca "URI:mqttha://node/2"
node node3 ca "URI:mqttha://node/3"
node nosan2 ca ""
node rogue2 rogue "URI:mqttha://node/2"

# An expired certificate: `openssl ca` takes explicit start and end dates.
key expired2
openssl req -new -key expired2.key -subj "/CN=expired2" -out expired2.csr \
	2>/dev/null
mkdir -p ca-db
: >ca-db/index.txt
echo 1000 >ca-db/serial
cat >ca-db/ca.cnf <<CNF
[ca]
default_ca = test_ca
[test_ca]
dir = ca-db
database = ca-db/index.txt
new_certs_dir = ca-db
serial = ca-db/serial
certificate = ca.crt
private_key = ca.key
default_md = sha256
policy = anything
x509_extensions = node_ext
unique_subject = no
[anything]
commonName = supplied
[node_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = URI:mqttha://node/2
CNF
openssl ca -batch -config ca-db/ca.cnf -in expired2.csr \
	-startdate 20200101000000Z -enddate 20210101000000Z \
	-out expired2.crt >/dev/null 2>&1
# Check what was made, so a broken openssl fails here and not in a test.
openssl x509 -in node2.crt -noout -ext subjectAltName | grep -q "mqttha://node/2"
! openssl x509 -in expired2.crt -noout -checkend 0 >/dev/null
