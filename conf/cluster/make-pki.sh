#!/bin/sh
# Makes what the example cluster's configs name, in this directory: a private CA, a certificate per
# relay (DNS localhost, IP 127.0.0.1), the users' token key and the cluster token.
set -e
cd "$(dirname "$0")"
MOQ_TOKEN=${MOQ_TOKEN:-moq-token}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -days 14 -nodes -subj /CN=moq-cluster-ca \
  -keyout ca.key -out ca.pem 2>/dev/null
for n in root leaf-eu leaf-us leaf-ap; do
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$n" -keyout "$n.key" -out "$n.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$n.ext"
  openssl x509 -req -in "$n.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 13 -extfile "$n.ext" -out "$n.pem" 2>/dev/null
  rm -f "$n.csr" "$n.ext"
done
"$MOQ_TOKEN" generate --algorithm ES256 --out auth.jwk
"$MOQ_TOKEN" sign --key auth.jwk --cluster --publish "" --subscribe "" >cluster.jwt
echo "made ca.pem, {root,leaf-eu,leaf-us,leaf-ap}.{pem,key}, auth.jwk and cluster.jwt"
