#!/bin/sh
# Raw UDP against the relay: an unknown QUIC version gets Version Negotiation listing version 1,
# a short-header packet for an unknown connection gets a Stateless Reset (smaller than it), and
# garbage gets nothing; the relay keeps serving handshakes afterwards.
. "$top_srcdir/tests/integration/lib.sh"
trap relay_cleanup EXIT
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 is needed to craft raw packets"; exit 77; }

relay_start
python3 - "$RELAY_PORT" <<'PY' || fail "raw packet checks"
import os, socket, struct, sys
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2.0)
dst = ("127.0.0.1", port)

# Long header, unknown version 0x1a2a3a4a, DCID and SCID of 8 bytes, padded to 1200 bytes.
dcid, scid = os.urandom(8), os.urandom(8)
pkt = bytes([0xc0]) + struct.pack(">I", 0x1a2a3a4a) + bytes([8]) + dcid + bytes([8]) + scid
s.sendto(pkt + os.urandom(1200 - len(pkt)), dst)
vn, _ = s.recvfrom(2048)
assert vn[0] & 0x80, "not a long header"
assert struct.unpack(">I", vn[1:5])[0] == 0, "version field of Version Negotiation must be 0"
n = vn[5]; echoed_dcid = vn[6:6 + n]; m = vn[6 + n]; echoed_scid = vn[7 + n:7 + n + m]
assert echoed_dcid == scid and echoed_scid == dcid, "connection IDs not echoed"
versions = [struct.unpack(">I", vn[i:i + 4])[0] for i in range(7 + n + m, len(vn), 4)]
assert 1 in versions, "version 1 not offered: %r" % versions
print("ok: version negotiation offers", [hex(v) for v in versions])

# Short header for a connection the relay does not know: Stateless Reset, smaller than the packet.
pkt = bytes([0x40 | 0x01]) + os.urandom(18) + os.urandom(100)
s.sendto(pkt, dst)
rst, _ = s.recvfrom(2048)
assert (rst[0] & 0xc0) == 0x40, "stateless reset must look like a short header"
assert 21 <= len(rst) < len(pkt), "stateless reset size %d" % len(rst)
print("ok: stateless reset of %d bytes" % len(rst))

# A tiny short-header packet must not be answered (a reset would have to be even smaller).
s.sendto(bytes([0x41]) + os.urandom(20), dst)
# Garbage long headers of every size up to 64 bytes: no answer, no crash.
for k in range(1, 64):
    s.sendto(bytes([0xc0]) + os.urandom(k), dst)
try:
    extra, _ = s.recvfrom(2048)
    raise AssertionError("unexpected answer of %d bytes to garbage" % len(extra))
except socket.timeout:
    pass
print("ok: no answer to tiny or garbage packets")
PY
"$PROBE_BIN" --host 127.0.0.1 --port "$RELAY_PORT" --ca "$RELAY_CA" --server-name localhost --alpn moql \
  --timeout-ms 5000 >/dev/null || fail "handshake after raw packets"
ok "relay still serves handshakes"
relay_stop || fail "exit status"
