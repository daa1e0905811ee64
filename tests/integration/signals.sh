#!/bin/sh
# SIGTERM and SIGINT stop the relay within a few seconds with status 0, after closing sessions.
. "$top_srcdir/tests/integration/lib.sh"
trap relay_cleanup EXIT

for sig in TERM INT; do
  relay_start
  "$PROBE_BIN" --host 127.0.0.1 --port "$RELAY_PORT" --ca "$RELAY_CA" --server-name localhost --alpn moql \
    --timeout-ms 5000 >/dev/null || fail "handshake"
  kill -"$sig" "$RELAY_PID"
  n=0
  while kill -0 "$RELAY_PID" 2>/dev/null && [ $n -lt 40 ]; do sleep 0.1; n=$((n + 1)); done
  kill -0 "$RELAY_PID" 2>/dev/null && fail "relay still running 4 s after SIG$sig"
  wait "$RELAY_PID"
  rc=$?
  [ $rc -eq 0 ] || fail "exit status $rc after SIG$sig"
  grep -q 'event=exit clean=1' "$RELAY_LOG" || fail "no clean exit after SIG$sig"
  RELAY_PID=
  ok "SIG$sig: clean exit in $((n * 100)) ms"
done
