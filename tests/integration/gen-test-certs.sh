#!/usr/bin/env bash
# Creates a throwaway CA and a server certificate for localhost / 127.0.0.1 in DIR
# (default: a new temporary directory), for the RPC integration tests. Nothing here
# is ever committed: the keys live only in DIR.
#
# Output files: ca.pem, server.pem (leaf + chain), server.key, pin.hex (SHA-256 of
# the server's SubjectPublicKeyInfo, hex), other-ca.pem (an unrelated CA).
set -euo pipefail
dir=${1:-$(mktemp -d)}
mkdir -p "$dir"
cd "$dir"
command -v openssl >/dev/null || { echo "gen-test-certs: openssl not found" >&2; exit 77; }

ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

ec ca.key
openssl req -x509 -new -key ca.key -out ca.pem -days 2 -subj "/CN=Ferry Test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

ec server.key
openssl req -new -key server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
cat > server.ext <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
EXT
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 \
    -extfile server.ext 2>/dev/null

ec other.key
openssl req -x509 -new -key other.key -out other-ca.pem -days 2 -subj "/CN=Unrelated CA" 2>/dev/null

openssl x509 -in server.pem -pubkey -noout | openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1 > pin.hex
rm -f server.csr server.ext ca.srl ca.key other.key
echo "$dir"
