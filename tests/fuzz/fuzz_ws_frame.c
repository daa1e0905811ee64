/* fuzz_ws_frame: the WebSocket "webtransport" frames (core/ws/ws_frame.h) a browser session sends, one
 * per binary message.
 * A decoded frame encodes back to the same bytes with the writers the relay uses (STREAM header +
 * payload, RESET_STREAM / STOP_SENDING, APPLICATION_CLOSE) when its varints are minimal, and always to
 * bytes that decode to the same frame; payload views lie inside the message. The writers are also
 * driven with values and buffer sizes taken from the input: they never write past what they are given,
 * never cut a UTF-8 character in a (valid UTF-8) close reason, and the RFC 6455 header states the length. */
#include "fuzz.h"

#include "base/varint.h"
#include "ws/ws_frame.h"

static uint64_t take_u64(fuzz_in *in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | fuzz_u8(in);
  return v;
}

static void check_decoded(const uint8_t *msg, size_t len, const ws_frame *f) {
  uint8_t buf[WS_CONTROL_FRAME_MAX + WS_STREAM_HEADER_MAX];
  ws_frame g;
  switch (f->type) {
  case WS_FRAME_STREAM: {
    FUZZ_CHECK(f->data >= msg && f->data + f->len == msg + len);
    size_t n = ws_frame_stream_header(buf, f->stream_id, f->fin);
    FUZZ_CHECK(n >= 2 && n <= WS_STREAM_HEADER_MAX && n <= (size_t)(f->data - msg));
    uint8_t *re = malloc(n + f->len);
    FUZZ_CHECK(re != NULL);
    memcpy(re, buf, n);
    if (f->len) memcpy(re + n, f->data, f->len);
    FUZZ_CHECK(ws_frame_decode(re, n + f->len, &g) == WS_FRAME_OK);
    FUZZ_CHECK(g.type == WS_FRAME_STREAM && g.fin == f->fin && g.stream_id == f->stream_id && g.len == f->len);
    FUZZ_CHECK(g.len == 0 || memcmp(g.data, f->data, g.len) == 0);
    if (n == (size_t)(f->data - msg)) FUZZ_CHECK(memcmp(re, msg, n) == 0);
    free(re);
    break;
  }
  case WS_FRAME_RESET_STREAM:
  case WS_FRAME_STOP_SENDING: {
    size_t n = ws_frame_stream_control(buf, f->type, f->stream_id, f->code);
    FUZZ_CHECK(n >= 3 && n <= WS_CONTROL_FRAME_MAX && n <= len);
    FUZZ_CHECK(ws_frame_decode(buf, n, &g) == WS_FRAME_OK);
    FUZZ_CHECK(g.type == f->type && g.stream_id == f->stream_id && g.code == f->code);
    if (n == len) FUZZ_CHECK(memcmp(buf, msg, n) == 0);
    break;
  }
  case WS_FRAME_APPLICATION_CLOSE:
    FUZZ_CHECK(f->data >= msg && f->data + f->len == msg + len);
    FUZZ_CHECK(f->code <= VARINT_MAX);
    break;
  default: FUZZ_CHECK(!"decoded an unknown type");
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* the whole input as one message */
  ws_frame f;
  int rc = ws_frame_decode(data, size, &f);
  FUZZ_CHECK(ws_frame_error_name(rc) != NULL);
  if (rc == WS_FRAME_OK) check_decoded(data, size, &f);
  else FUZZ_CHECK(rc == WS_FRAME_ERR_EMPTY || rc == WS_FRAME_ERR_TYPE || rc == WS_FRAME_ERR_TRUNCATED ||
                  rc == WS_FRAME_ERR_TRAILING);
  FUZZ_CHECK((rc == WS_FRAME_ERR_EMPTY) == (size == 0));

  /* the writers, driven by the input */
  fuzz_in in = {data, size};
  uint64_t code = take_u64(&in) >> (fuzz_u8(&in) % 64);
  size_t outlen = fuzz_u8(&in);
  char *reason = fuzz_strdup(in.p, in.len);
  uint8_t *out = malloc(outlen ? outlen : 1);
  FUZZ_CHECK(out != NULL);
  size_t n = ws_frame_application_close(out, outlen, code, reason);
  if (n) {
    FUZZ_CHECK(n <= outlen && code <= VARINT_MAX);
    FUZZ_CHECK(ws_frame_decode(out, n, &f) == WS_FRAME_OK && f.type == WS_FRAME_APPLICATION_CLOSE);
    FUZZ_CHECK(f.code == code && f.len <= strlen(reason) && memcmp(f.data, reason, f.len) == 0);
    /* a valid reason is cut only when the buffer is full, and between characters */
    if (f.len < strlen(reason) && fuzz_utf8_valid((const uint8_t *)reason, strlen(reason)))
      FUZZ_CHECK(fuzz_utf8_valid(f.data, f.len) && n + 4 > outlen);
  } else {
    FUZZ_CHECK(code > VARINT_MAX || outlen < 1 + varint_size(code));
  }
  free(out);
  free(reason);

  uint8_t hdr[WS_MESSAGE_HEADER_MAX];
  uint64_t len = take_u64(&in);
  n = ws_frame_message_header(hdr, 2, len);
  FUZZ_CHECK(n == 2 || n == 4 || n == 10);
  FUZZ_CHECK(hdr[0] == 0x82 && (hdr[1] & 0x80) == 0);
  uint64_t got = hdr[1] < 126 ? hdr[1] : 0;
  for (size_t i = 2; i < n; i++) got = got << 8 | hdr[i];
  FUZZ_CHECK(got == len && (n == 2 ? len < 126 : n == 4 ? len >= 126 && len < 65536 : len >= 65536));
  return 0;
}
