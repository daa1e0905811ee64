/* fuzz_h3: the HTTP/3 and WebTransport wire codec (core/h3/h3_frame.h) on a peer's bytes: frames read
 * one after the other as a control or request stream is (SETTINGS payloads decoded), capsules read
 * as a CONNECT stream is (CLOSE_WEBTRANSPORT_SESSION decoded), the first bytes of uni and bidi
 * streams, HTTP datagrams, and WebTransport error codes.
 *
 * Input: a selector byte, then the bytes. Checked: decoders never claim more bytes than they were
 * given; what decodes re-encodes and decodes to the same values (SETTINGS, close capsules, stream
 * headers, datagram prefixes, error codes); a close reason is valid UTF-8 of at most 1024 bytes; a
 * WebTransport stream header never names a session that is not a client bidi stream. */
#include "fuzz.h"

#include "h3/h3_frame.h"

#define MAX_CAPSULE 65536

static void frames(const uint8_t *p, size_t len) {
  while (len) {
    h3_frame_hdr h;
    int rv = h3_frame_hdr_decode(p, len, &h);
    if (rv == H3_NEED_MORE) return;
    FUZZ_CHECK(rv > 0 && (size_t)rv == h.hdr_len && h.hdr_len <= len && h.hdr_len <= 16);
    uint8_t enc[16];
    FUZZ_CHECK(h3_frame_hdr_encode(enc, sizeof enc, h.type, h.len) > 0);
    p += h.hdr_len;
    len -= h.hdr_len;
    if (h.len > len) return; /* the stream waits for more */
    const uint8_t *payload = p;
    if (h.type == H3_FRAME_SETTINGS) {
      uint8_t *copy = fuzz_dup(payload, (size_t)h.len);
      h3_settings s, back;
      const char *why = NULL;
      int d = h3_settings_decode(copy, (size_t)h.len, &s, &why);
      FUZZ_CHECK(d == 0 || (d == H3_ERR && why != NULL));
      if (d == 0) {
        (void)h3_settings_webtransport(&s);
        uint8_t out[256];
        int n = h3_settings_encode(out, sizeof out, &s, 0x21);
        FUZZ_CHECK(n > 0);
        h3_frame_hdr h2;
        FUZZ_CHECK(h3_frame_hdr_decode(out, (size_t)n, &h2) > 0 && h2.type == H3_FRAME_SETTINGS &&
                   h2.hdr_len + h2.len == (size_t)n);
        FUZZ_CHECK(h3_settings_decode(out + h2.hdr_len, (size_t)h2.len, &back, &why) == 0);
        FUZZ_CHECK(memcmp(&s, &back, sizeof s) == 0);
      }
      free(copy);
    }
    (void)h3_is_grease(h.type);
    p += h.len;
    len -= (size_t)h.len;
  }
}

static void capsules(const uint8_t *p, size_t len, size_t max_len) {
  while (len) {
    h3_capsule c;
    int rv = h3_capsule_decode(p, len, max_len, &c);
    if (rv == H3_NEED_MORE) return;
    if (rv == H3_ERR) return; /* the CONNECT stream is closed with H3_MESSAGE_ERROR */
    FUZZ_CHECK(rv == 0 && c.used <= len && c.len <= max_len && c.payload >= p && c.payload + c.len == p + c.used);
    if (c.type == H3_CAPSULE_CLOSE_WT_SESSION) {
      uint8_t *copy = fuzz_dup(c.payload, c.len);
      uint32_t code;
      const uint8_t *reason;
      size_t rlen;
      if (h3_close_session_decode(copy, c.len, &code, &reason, &rlen) == 0) {
        FUZZ_CHECK(rlen <= 1024 && reason >= copy && reason + rlen == copy + c.len);
        FUZZ_CHECK(fuzz_utf8_valid(reason, rlen));
        uint8_t out[1100];
        int n = h3_close_session_encode(out, sizeof out, code, (const char *)reason, rlen);
        FUZZ_CHECK(n > 0);
        h3_capsule c2;
        FUZZ_CHECK(h3_capsule_decode(out, (size_t)n, MAX_CAPSULE, &c2) == 0 && c2.used == (size_t)n);
        uint32_t code2;
        const uint8_t *r2;
        size_t rl2;
        FUZZ_CHECK(h3_close_session_decode(c2.payload, c2.len, &code2, &r2, &rl2) == 0);
        FUZZ_CHECK(code2 == code && rl2 == rlen && memcmp(r2, reason, rlen) == 0);
      }
      free(copy);
    }
    p += c.used;
    len -= c.used;
  }
}

static void stream_header(const uint8_t *p, size_t len, int uni) {
  uint8_t *copy = fuzz_dup(p, len);
  h3_stream_hdr h;
  int rv = h3_stream_hdr_decode(copy, len, uni, &h);
  FUZZ_CHECK(rv == 0 || rv == H3_NEED_MORE || rv == H3_ERR);
  if (rv == 0) {
    FUZZ_CHECK(h.used <= len);
    int wt = uni ? h.type == H3_UNI_WT : h.type == H3_FRAME_WT_STREAM;
    if (wt) {
      FUZZ_CHECK((h.session_id & 3) == 0); /* a client-initiated bidi stream */
      uint8_t out[32];
      int n = h3_stream_hdr_encode(out, sizeof out, uni, h.session_id);
      FUZZ_CHECK(n > 0);
      h3_stream_hdr back;
      FUZZ_CHECK(h3_stream_hdr_decode(out, (size_t)n, uni, &back) == 0 && back.type == h.type &&
                 back.session_id == h.session_id && back.used == (size_t)n);
    } else if (!uni) {
      FUZZ_CHECK(h.used == 0); /* a request stream: its frames begin at byte 0 */
    }
  }
  free(copy);
}

static void datagram(const uint8_t *p, size_t len) {
  uint8_t *copy = fuzz_dup(p, len);
  uint64_t sid;
  const uint8_t *payload;
  size_t plen;
  if (h3_datagram_decode(copy, len, &sid, &payload, &plen) == 0) {
    FUZZ_CHECK((sid & 3) == 0 && payload >= copy && payload + plen == copy + len);
    uint8_t out[16];
    int n = h3_datagram_prefix_encode(out, sizeof out, sid);
    FUZZ_CHECK(n > 0 && (size_t)n <= (size_t)(payload - copy)); /* the peer's varint may be longer */
    uint64_t sid2;
    const uint8_t *p2;
    size_t l2;
    FUZZ_CHECK(h3_datagram_decode(out, (size_t)n, &sid2, &p2, &l2) == 0 && sid2 == sid && l2 == 0);
  }
  free(copy);
}

static void codes(const uint8_t *p, size_t len) {
  uint64_t v = 0;
  for (size_t i = 0; i < len && i < 8; i++) v = v << 8 | p[i];
  uint32_t code;
  if (h3_wt_code_from_h3(v, &code) == 0) {
    FUZZ_CHECK(v >= H3_WT_CODE_FIRST && v <= H3_WT_CODE_LAST && !h3_is_grease(v));
    FUZZ_CHECK(h3_wt_code_to_h3(code) == v);
  }
  uint32_t c32 = (uint32_t)v;
  uint64_t h3 = h3_wt_code_to_h3(c32);
  FUZZ_CHECK(!h3_is_grease(h3) && h3_wt_code_from_h3(h3, &code) == 0 && code == c32);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in = {data, size};
  uint8_t sel = fuzz_u8(&in);
  uint8_t *buf = fuzz_dup(in.p, in.len); /* exact size: a read past the end trips ASan */
  switch (sel % 7) {
  case 0: frames(buf, in.len); break;
  case 1: capsules(buf, in.len, MAX_CAPSULE); break;
  case 2: capsules(buf, in.len, sel >> 3); break; /* a small limit */
  case 3: stream_header(buf, in.len, 1); break;
  case 4: stream_header(buf, in.len, 0); break;
  case 5: datagram(buf, in.len); break;
  default: codes(buf, in.len); break;
  }
  free(buf);
  return 0;
}
