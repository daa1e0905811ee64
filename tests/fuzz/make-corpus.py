#!/usr/bin/env python3
"""make-corpus.py: writes the seed corpora of tests/fuzz/corpus/<harness>/ from the unit tests' byte
vectors (tests/unit/*.c) and the sample configs, in each harness's input layout (see the comment at
the top of each tests/fuzz/fuzz_*.c). A maintainer's tool: the build never runs it; the seeds it wrote
are committed. Run it again from the top of the tree after adding vectors to the unit tests:

    python3 tests/fuzz/make-corpus.py

It rewrites only the files it names (prefix "v-"); inputs added by hand or by `make fuzz-run`
minimisation keep their own names."""
import glob
import hashlib
import os
import re
import shutil

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(TOP, "tests", "fuzz", "corpus")

# fuzz_lite.c: byte 0 = kind, byte 1 = version - 1 (| 0x40 for the small limits)
LITE_KINDS = ["K_SETUP", "K_CLIENT_SETUP", "K_SERVER_SETUP", "K_SINFO", "K_AREQ", "K_AOK", "K_AINIT", "K_ANN",
              "K_TRACK", "K_TINFO", "K_SUB", "K_UPD", "K_REPLY", "K_GROUP", "K_FETCH", "K_PROBE", "K_GOAWAY",
              "K_DATAGRAM", "K_FRAME_HEADER", "K_BIDI_TYPE", "K_UNI_TYPE"]
K = {name: i for i, name in enumerate(LITE_KINDS)}


def unhex(s):
    return bytes.fromhex(re.sub(r"[^0-9a-fA-F]", "", s))


def versions(mask):
    """V(1) | V(2) ... or VALL -> [1, 2, ...]"""
    if mask.strip() == "VALL":
        return [1, 2, 3, 4, 5]
    return [int(v) for v in re.findall(r"V\((\d)\)", mask)]


written = {}


def seed(harness, data, name=None):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    if name is None:
        name = hashlib.sha1(data).hexdigest()[:12]
    path = os.path.join(d, "v-" + name)
    with open(path, "wb") as f:
        f.write(data)
    written.setdefault(harness, set()).add(path)


def lite():
    src = open(os.path.join(TOP, "tests", "unit", "test_lite.c")).read()
    # the table of good vectors: {"name", versions, K_X, st, uni, "hex", ...
    for m in re.finditer(r'\{"([^"]+)",\s*([^,]+),\s*(K_\w+),\s*(-?\d+),\s*(true|false),\s*((?:"[^"]*"\s*)+),', src):
        _, mask, kind, st, uni, hx = m.groups()
        body = unhex("".join(re.findall(r'"([^"]*)"', hx)))
        st = int(st)
        for v in versions(mask):
            if st >= 0:
                seed("fuzz_lite", bytes([K["K_UNI_TYPE" if uni == "true" else "K_BIDI_TYPE"], v - 1]) + body[:1])
                body_v = body[1:]
            else:
                body_v = body
            seed("fuzz_lite", bytes([K[kind], v - 1]) + body_v)
    # the table of malformed ones: {"name", versions, K_X, "hex", MOQ_ERR_...}
    for m in re.finditer(r'\{"([^"]+)",\s*([^,]+),\s*(K_\w+),\s*"([^"]*)",\s*MOQ_ERR_\w+\}', src):
        _, mask, kind, hx = m.groups()
        for v in versions(mask)[:1]:
            seed("fuzz_lite", bytes([K[kind], v - 1]) + unhex(hx))
    # legacy setup messages, announce init, datagrams, frame headers
    vers3 = "c0 00 00 00 ff 0d ad 02 c0 00 00 00 ff 0d ad 01 c0 00 00 00 ff 00 00 0e"
    impl = "07 0b 6d 6f 71 2d 6c 69 74 65 2d 6a 73"
    for hx in ["20 00 2c 03 " + vers3 + " 02 02 80 00 a4 55 " + impl,
               "20 00 31 03 " + vers3 + " 03 02 80 00 a4 55 80 04 0b 5a 01 " + impl,
               "20 00 1e 02 c0 00 00 00 ff 00 00 0e c0 00 00 00 ff 0d ad 01 03 04 09 03 03 74 6f 6b 01 03 2f 61 62"]:
        seed("fuzz_lite", bytes([K["K_CLIENT_SETUP"], 0]) + unhex(hx))
    for hx in ["21 00 09 c0 00 00 00 ff 0d ad 02 00",
               "21 00 20 c0 00 00 00 ff 0d ad 02 03 02 80 00 a4 55 80 04 0b 5a 01 " + impl]:
        seed("fuzz_lite", bytes([K["K_SERVER_SETUP"], 0]) + unhex(hx))
    for v in (1, 2):
        seed("fuzz_lite", bytes([K["K_AINIT"], v - 1]) + unhex("05 01 03 62 62 62"))
        seed("fuzz_lite", bytes([K["K_AINIT"], v - 1]) + unhex("0d 03 03 62 62 62 02 61 2f 00 02 78 79"))
    for hx in ["00 2a 80 01 5f 90 68 69", "03 80 00 40 00 43 e8 6f 70 75 73"]:
        seed("fuzz_lite", bytes([K["K_DATAGRAM"], 4]) + unhex(hx))
    for v, hx in [(1, "05 68 65 6c 6c 6f"), (5, "80 02 bf 20 05 68 65 6c 6c 6f"), (5, "4b b7 00")]:
        seed("fuzz_lite", bytes([K["K_FRAME_HEADER"], v - 1]) + unhex(hx))
    # ALPN and version codes ride on the same inputs (bytes 2..)
    seed("fuzz_lite", bytes([K["K_GOAWAY"], 3]) + b"moq-lite-04")
    seed("fuzz_lite", bytes([K["K_GROUP"], 0]) + unhex("00 00 00 00 ff 0d ad 03"))

    # fuzz_lite_frame.c: byte 0 = version - 1 (| 0x40: max_frame 100), byte 1 = piece seed, then frames
    frames = [(5, "80 02 bf 20 05 68 65 6c 6c 6f 57 70 03 61 62 63 4b b7 00"),
              (5, "c0 00 02 00 00 00 00 00 c0 00 00 00 00 00 00 02 68 69 c0 00 01 ff ff ff ff ff c0 00 00 00 00 00 00 00"),
              (1, "05 68 65 6c 6c 6f 03 61 62 63"), (4, "05 68 65 6c 6c 6f 03 61 62 63 00"),
              (3, "80 02"), (2, "05 68 65"), (5, "01 00"), (1, "82 00 00 01"), (5, "4b b7 44 00 " + "61 " * 0x400 + "00 00")]
    for v, hx in frames:
        seed("fuzz_lite_frame", bytes([v - 1, 7]) + unhex(hx))
    seed("fuzz_lite_frame", bytes([0x40 | 4, 3]) + unhex("00 40 65") + b"x" * 101)

    # fuzz_varint.c: raw bytes
    for hx in ["25", "40 25", "80 00 00 25", "c0 00 00 00 00 00 00 25", "7b bd", "9d 7f 3e 7d",
               "c2 19 7c 5e ff 14 e8 8c", "ff ff ff ff ff ff ff ff", "01 02 03 07 0b 0f 13"]:
        seed("fuzz_varint", unhex(hx))

    # fuzz_path.c: path 0xff prefix
    for p, x in [(b"room/alice", b"room"), (b"/a//b/", b"a/b"), (b"foobar", b"foo"), (b"", b""),
                 (b"anon/\xe2\x82\xac/x", b"anon"), (b"a/" * 40, b"a"), (b"\xc0\x80/a", b"/")]:
        seed("fuzz_path", p + b"\xff" + x)


def urls():
    for u in ["moql://localhost:4443/anon", "https://relay.example/room?jwt=abc", "http://[::1]:8080/x?y#z",
              "moql://127.0.0.1:4443", "HTTPS://Host.Example:443/a/b/c?q=1&r=2", "moql://[2001:db8::1]/"]:
        seed("fuzz_url", u.encode())


def conf():
    for f in glob.glob(os.path.join(TOP, "conf", "*.toml")) + glob.glob(os.path.join(TOP, "conf", "cluster", "*.toml")) + \
            glob.glob(os.path.join(TOP, "tests", "unit", "data", "*.toml")):
        data = open(f, "rb").read()
        seed("fuzz_toml", data, os.path.basename(f))
        seed("fuzz_config", data, os.path.basename(f))
    # the TOML shapes the unit tests exercise
    for t in [b'a = 1\nb = "s\\u00e9\\n"\nc = [1, [2, "x"], {k = true}]\n[t.u]\nv = 0x1f\n[[arr]]\nx = 0o17\n[[arr]]\ny = -0b101\n',
              b"'lit' = 'c:\\\\path'\n\"q.k\".x = 9_223_372_036_854_775_807\n",
              b"[server]\nbind = \"[::]:4443\"\ntls.generate = [\"localhost\"]\n[server.quic]\nidle_timeout = \"30s\"\n",
              b"[[plugin]]\npath = \"builtin:jwt\"\n[plugin.config]\nkey = \"k.jwk\"\nlist = [\"a\", \"b\"]\n",
              b"[lua]\nscripts = [\"a.lua\"]\nbudget = 1000\n[cluster]\nroot = [\"r:1\"]\nnode = \"n:2\"\nlinger = \"5s\"\n"]:
        seed("fuzz_toml", t)
        seed("fuzz_config", t)


def ws():
    # fuzz_ws_frame.c: the whole input is one message
    for hx in ["08 00 68 65 6c 6c 6f", "09 02", "09 40 02 61", "04 02 05", "05 03 00", "1d 00 62 79 65",
               "1d 41 00", "04 02 05 00", "0a 00", "08"]:
        seed("fuzz_ws_frame", unhex(hx))

    # fuzz_qmux.c: the whole input is one record; the first bytes also drive the close writer
    for hx in ["ff 51 53 30 0d 0a 0d 0a 20 04 04 80 10 00 00 05 04 80 04 00 00 06 04 80 04 00 00 07 04 80 04 00 00"
               " 08 02 40 64 09 02 40 64",
               "0a 02 03 61 62 63", "0f 00 40 64 02 68 69", "08 04 78 79", "0b 06 00",
               "0a 02 01 7a 00 0b 02 00", "04 03 0d 00", "24 02 0d 05 03", "05 03 00", "10 80 10 00 00",
               "11 01 44 00", "13 40 64", "12 05", "14 07", "15 02 07", "16 01", "17 01",
               "1c 0a 00 03 62 61 64", "1d 41 00 03 62 79 65", "1d 41 00 00 03 62 79 65",
               "f4 8c 67 52 9e f8 c7 bd 07", "f4 8c 67 52 9e f8 c7 be 07", "00", "31 02 6f 6b", "30 6f 6b",
               "ff 51 53 30 0d 0a 0d 0a 17 c5 71 c5 94 29 cd 08 45 04 80 00 7f ff 01 04 80 00 75 30 21 02 aa bb"]:
        seed("fuzz_qmux", unhex(hx))

    # fuzz_http.c: flags, answer, piece seed, then the client's bytes
    up = (b"GET /moq?jwt=t HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"
          b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
          b"Sec-WebSocket-Protocol: qmux-00, webtransport\r\n\r\n\x82\x05hello")
    reqs = [(0, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nHEAD /health HTTP/1.1\r\nHost: x\r\n\r\n"
                b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            (1, b"GET /health HTTP/1.1\r\n\r\nPOST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
                b"POST /health HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\nGET /health HTTP/1.1\r\n\r\n"),
            (2, b"GET /echo?token=secret&x=1 HTTP/1.1\r\nOrigin: https://o.example\r\n\r\n"
                b"GET http://host.example:80/echo?a=b#frag HTTP/1.1\r\n\r\n"),
            (3, b"POST /echo?k=v HTTP/1.1\r\nOrigin: o\r\nX-Empty: \r\nX-Two: 2  \r\nConnection: close\r\n"
                b"Content-Length: 3\r\n\r\nabc"),
            (4, b"GET /health HTTP/1.1\r\n\r\nBLAH\x01 / HTTP/1.1\r\n\r\n"),
            (5, b"GET /health HTTP/1.0\r\n\r\nGET /fail HTTP/1.1\r\n\r\n"),
            (6, b"GET /big HTTP/1.1\r\n\r\n" * 4),
            (0, b"POST /health HTTP/1.1\r\nContent-Length: 100000\r\n\r\nabc"),
            (0, b"GET /health HTTP/1.1\r\nX-Big: " + b"y" * 300 + b"\r\n\r\n"),
            (0, b"CONNECT host:443 HTTP/1.1\r\nHost: host\r\n\r\n"),
            (0, b"OPTIONS * HTTP/1.1\r\n\r\n")]
    for i, (answer, r) in enumerate(reqs):
        seed("fuzz_http", bytes([0, answer, 7]) + r)
        seed("fuzz_http", bytes([0x08 | 0x10, answer, 3]) + r)  # small limits, IPv6 peer
    seed("fuzz_http", bytes([0x01, 0, 7]) + up)            # upgraded
    seed("fuzz_http", bytes([0x03, 0, 7]) + up)            # on_upgrade refuses
    seed("fuzz_http", bytes([0x00, 0, 7]) + up)            # no on_upgrade: answered
    seed("fuzz_http", bytes([0x21, 0, 7]) + up.replace(b"13", b"8"))    # version 8: 426
    seed("fuzz_http", bytes([0x05, 0, 7]) + b"GET /health HTTP/1.1\r\n\r\n" + up)  # writes fail
    seed("fuzz_http", bytes([0x01, 0, 7]) + up.replace(b"GET", b"POST", 1))  # 405


def jwt():
    src = open(os.path.join(TOP, "tests", "unit", "test_jwt.c")).read()
    def const(name):
        m = re.search(r'static const char ' + name + r'\[\] = "((?:[^"\\]|\\.)*)";', src)
        return m.group(1).encode().decode("unicode_escape").encode()
    # fuzz_jwt.c: byte 0 = mode (0 key, 1 kid, 2 verify, 3 payload), byte 1 = key for mode 2
    for key in ["hsJwk", "hsJwkB64", "ecPub", "edPub"]:
        seed("fuzz_jwt", b"\x00\x00" + const(key))
    for tok, k in [("hs", 0), ("hsArr", 0), ("hsExp", 0), ("hsNone", 0), ("hsBadPut", 0), ("es", 1), ("eds", 2)]:
        seed("fuzz_jwt", bytes([2, k]) + const(tok))
        seed("fuzz_jwt", bytes([1, 0]) + const(tok))
    for p in [b'{"root":"demo","put":["a","b/c"],"get":"","cluster":true,"exp":4102444800,"iat":1700000000}',
              b'{"root":"","get":["x"],"exp":4102444800.5}', b'{"put":5}', b'{"root":null,"get":null,"put":"a"}']:
        seed("fuzz_jwt", b"\x03\x00" + p)


def hook():
    # fuzz_hook.c: path?query 0xff prefix
    for s in [b"/anon/room?jwt=abc%2Bd&x=1\xffanon", b"/?jwt=&jwt=%41%42+c\xff", b"//a//b/?q\xffa/b",
              b"/demo?x=1&jwt=eyJhbGciOiJIUzI1NiJ9.e30.sig\xffdemo/live"]:
        seed("fuzz_hook", s)


def c_arrays(path):
    """Every `const uint8_t NAME[] = {...};` of a unit test, as bytes."""
    src = open(path).read()
    for m in re.finditer(r"const uint8_t (\w+)\[\] = \{([^}]*)\};", src):
        body = re.sub(r"/\*.*?\*/", "", m.group(2), flags=re.S)
        vals = []
        for tok in body.split(","):
            tok = tok.strip()
            if not tok:
                continue
            if re.fullmatch(r"'.'", tok):
                vals.append(ord(tok[1]))
            else:
                vals.append(int(tok, 0) & 0xff)
        yield m.group(1), bytes(vals)


def qpack_int(first, prefix, v):
    """RFC 7541 5.1 integer with a prefix of `prefix` bits, OR-ed into `first`."""
    top = (1 << prefix) - 1
    if v < top:
        return bytes([first | v])
    out = [first | top]
    v -= top
    while v >= 128:
        out.append(v % 128 + 128)
        v //= 128
    out.append(v)
    return bytes(out)


def qpack_literal(fields):
    """A QPACK field section of literal names and values, no Huffman, no dynamic table."""
    out = b"\x00\x00"
    for n, v in fields:
        out += qpack_int(0x20, 3, len(n)) + n + qpack_int(0x00, 7, len(v)) + v
    return out


def h3():
    # fuzz_h3.c: byte 0 = selector (0 frames, 1/2 capsules, 3 uni header, 4 bidi header, 5 datagram, 6 codes)
    for name, data in c_arrays(os.path.join(TOP, "tests", "unit", "test_h3.c")):
        for sel in range(7):
            seed("fuzz_h3", bytes([sel]) + data, "%s-%d" % (name, sel))
        seed("fuzz_h3", bytes([0, 0x04, len(data)]) + data, name + "-settings")  # as a SETTINGS payload
    close = b"\x00\x00\x01\x00" + "bye \u00e9".encode()
    seed("fuzz_h3", b"\x01" + bytes([0x80, 0x00, 0x28, 0x43, len(close)]) + close, "close")
    # fuzz_sf.c / fuzz_wt_headers.c: the structured-field strings of the unit tests
    src = open(os.path.join(TOP, "tests", "unit", "test_h3.c")).read()
    for m in re.finditer(r'h3_sf_(?:list_strings|string_parse)\("((?:[^"\\]|\\.)*)"', src):
        text = m.group(1).encode().decode("unicode_escape").encode("latin-1")
        for sel in (0xff, 0x03, 0x41):
            seed("fuzz_sf", bytes([sel]) + text)
    connect = [(b":method", b"CONNECT"), (b":protocol", b"webtransport"), (b":scheme", b"https"),
               (b":authority", b"localhost:4443"), (b":path", b"/anon?jwt=x"), (b"origin", b"https://a.example"),
               (b"wt-available-protocols", b'"moq-lite-05", "moq-lite-04"')]
    shapes = [connect, connect[:1] + [(b":protocol", b"websocket")], [(b":method", b"GET"), (b":path", b"/")],
              connect[:3], [(b":method", b"POST")], connect + [(b":path", b"x" * 5000)],
              [(b":status", b"200"), (b"wt-protocol", b'"moq-lite-05"')]]
    for i, fields in enumerate(shapes):
        seed("fuzz_wt_headers", b"\x00" + qpack_literal(fields), "raw-%d" % i)
        seed("fuzz_wt_headers", b"\x01" + b"\x01".join(n + b"\x00" + v for n, v in fields), "nv-%d" % i)


def lua():
    # fuzz_lua.c: which (session, announce, subscribe, route, events), flags, exp, then 0xff-separated
    # path, query, jwt, transport, protocol, remote, root, put, get, names, fingerprint, path, track
    base = [b"anon/room", b"r=%01&root=anon&p=anon", b"eyJ.e30.sig", b"quic", b"moq-lite-05", b"127.0.0.1:4443",
            b"anon", b"a\xfeb/c", b"", b"node.example\xfeother", b"ab12", b"anon/cam", b"video"]
    for which in range(6):
        for k in range(17):
            f = list(base)
            f[1] = b"r=%" + ("%02x" % k).encode() + b"x&root=anon"
            f[11] = bytes([k]) + b"anon/cam"
            f[12] = bytes([k]) + b"moql://localhost:4443/"
            seed("fuzz_lua", bytes([which | (k << 3), 0x1f, 60]) + b"\xff".join(f), "w%d-k%d" % (which, k))


h3()
lua()
lite()
urls()
conf()
ws()
jwt()
hook()
for h, paths in sorted(written.items()):
    print("%-16s %3d seeds" % (h, len(paths)))
