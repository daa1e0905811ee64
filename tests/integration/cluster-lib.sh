# cluster-lib.sh: several relays on 127.0.0.1 for the cluster tests (POSIX sh). Source it after
# lib.sh. Relays get fixed free ports (their node names are localhost:PORT), certificates from a
# private CA made here (SAN localhost and 127.0.0.1), and fast failure detection (idle 3 s).
#   cluster_pki                  make $CL/ca.pem and a key pair per node on demand
#   free_port                    print a free UDP+TCP port on 127.0.0.1
#   node_start NAME PORT ARGS... start a relay; sets NAME_pid; log in $CL/NAME.log
#   node_stop NAME [SIGNAL]      stop it (TERM by default) and wait
#   node_log NAME                the log file
#   node_wait NAME PATTERN N SECONDS   until N lines of NAME's log match
#   cluster_json NAME PORT       GET /cluster
CL="$TEST_TMP/cluster"
mkdir -p "$CL"

cluster_pki() {
  [ -f "$CL/ca.pem" ] && return 0
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -days 10 -nodes -subj /CN=cluster-ca \
    -keyout "$CL/ca.key" -out "$CL/ca.pem" >/dev/null 2>&1 || fail "openssl: CA"
}

node_cert() { # NAME
  [ -f "$CL/$1.pem" ] && return 0
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$1" \
    -keyout "$CL/$1.key" -out "$CL/$1.csr" >/dev/null 2>&1 || fail "openssl: csr $1"
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$CL/$1.ext"
  openssl x509 -req -in "$CL/$1.csr" -CA "$CL/ca.pem" -CAkey "$CL/ca.key" -CAcreateserial -days 5 \
    -extfile "$CL/$1.ext" -out "$CL/$1.pem" >/dev/null 2>&1 || fail "openssl: sign $1"
}

free_port() {
  python3 -c 'import socket
for _ in range(50):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0)); p = u.getsockname()[1]
    t = socket.socket(); 
    try:
        t.bind(("127.0.0.1", p)); t.close(); u.close(); print(p); break
    except OSError:
        u.close(); t.close()'
}

node_start() { # NAME PORT ARGS...
  _n=$1 _p=$2
  shift 2
  cluster_pki
  node_cert "$_n"
  # the log is appended to across restarts: wait for a listening line after those already there
  _from=$(($(cat "$CL/$_n.log" 2>/dev/null | wc -l) + 1))
  "$RELAY_BIN" --server-bind "127.0.0.1:$_p" --web-http-listen "127.0.0.1:$_p" \
    --tls-cert "$CL/$_n.pem" --tls-key "$CL/$_n.key" --client-tls-root "$CL/ca.pem" \
    --cluster-node "localhost:$_p" --server-quic-idle-timeout 3s --server-quic-keep-alive 1s \
    --log-level info "$@" >/dev/null 2>>"$CL/$_n.log" &
  eval "${_n}_pid=\$!"
  _i=0
  while ! tail -n "+$_from" "$CL/$_n.log" 2>/dev/null | grep -q 'event=listening'; do
    _i=$((_i + 1))
    [ "$_i" -lt 100 ] || fail "relay $_n did not start: $(tail -n 5 "$CL/$_n.log")"
    sleep 0.05
  done
}

node_stop() { # NAME [SIGNAL]
  eval "_pid=\${${1}_pid:-}"
  [ -n "$_pid" ] || return 0
  kill "-${2:-TERM}" "$_pid" 2>/dev/null
  wait "$_pid" 2>/dev/null
  eval "${1}_pid="
}

node_log() { printf '%s' "$CL/$1.log"; }

node_wait() { # NAME PATTERN N SECONDS
  _i=0
  while [ "$_i" -lt $(($4 * 10)) ]; do
    [ "$(grep -c -- "$2" "$CL/$1.log" 2>/dev/null || true)" -ge "$3" ] && return 0
    sleep 0.1
    _i=$((_i + 1))
  done
  return 1
}

cluster_json() { curl -sS --max-time 5 "http://127.0.0.1:$2/cluster"; }

# ccli PORT ARGS...: moq-cli against the relay on PORT, trusting the cluster CA
ccli() { _p=$1; shift; "$CLI_BIN" --tls-root "$CL/ca.pem" "$@"; }
curl_url() { printf 'moql://localhost:%s/%s' "$1" "${2:-}"; }

cluster_stop_all() {
  for _n in $CLUSTER_NODES; do node_stop "$_n" KILL; done
}
