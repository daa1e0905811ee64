#include "ws/ws_frame.h"

#include <string.h>

#include "base/varint.h"

int ws_frame_decode(const uint8_t *msg, size_t len, ws_frame *out) {
  if (len == 0) return WS_FRAME_ERR_EMPTY;
  memset(out, 0, sizeof *out);
  byte_cursor c;
  cursor_init(&c, msg + 1, len - 1);
  out->type = msg[0];
  switch (msg[0]) {
  case WS_FRAME_STREAM:
  case WS_FRAME_STREAM_FIN:
    if (cursor_varint(&c, &out->stream_id) != VARINT_OK) return WS_FRAME_ERR_TRUNCATED;
    out->type = WS_FRAME_STREAM;
    out->fin = msg[0] == WS_FRAME_STREAM_FIN;
    out->data = c.p;
    out->len = cursor_left(&c);
    return WS_FRAME_OK;
  case WS_FRAME_RESET_STREAM:
  case WS_FRAME_STOP_SENDING:
    if (cursor_varint(&c, &out->stream_id) != VARINT_OK || cursor_varint(&c, &out->code) != VARINT_OK)
      return WS_FRAME_ERR_TRUNCATED;
    return cursor_left(&c) ? WS_FRAME_ERR_TRAILING : WS_FRAME_OK;
  case WS_FRAME_APPLICATION_CLOSE:
    if (cursor_varint(&c, &out->code) != VARINT_OK) return WS_FRAME_ERR_TRUNCATED;
    out->data = c.p;
    out->len = cursor_left(&c);
    return WS_FRAME_OK;
  default:
    return WS_FRAME_ERR_TYPE;
  }
}

const char *ws_frame_error_name(int rc) {
  switch (rc) {
  case WS_FRAME_OK: return "ok";
  case WS_FRAME_ERR_EMPTY: return "empty message";
  case WS_FRAME_ERR_TYPE: return "unknown frame type";
  case WS_FRAME_ERR_TRUNCATED: return "truncated varint";
  case WS_FRAME_ERR_TRAILING: return "bytes after the frame";
  default: return "unknown error";
  }
}

size_t ws_frame_stream_header(uint8_t *out, uint64_t sid, int fin) {
  size_t n = varint_encode(out + 1, WS_STREAM_HEADER_MAX - 1, sid);
  if (!n) return 0;
  out[0] = fin ? WS_FRAME_STREAM_FIN : WS_FRAME_STREAM;
  return n + 1;
}

size_t ws_frame_stream_control(uint8_t *out, uint8_t type, uint64_t sid, uint64_t code) {
  if (type != WS_FRAME_RESET_STREAM && type != WS_FRAME_STOP_SENDING) return 0;
  size_t a = varint_encode(out + 1, 8, sid);
  size_t b = a ? varint_encode(out + 1 + a, 8, code) : 0;
  if (!b) return 0;
  out[0] = type;
  return 1 + a + b;
}

/* The length of the longest prefix of s[0..len) that does not end inside a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t len) {
  size_t i = len;
  while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80) i--; /* continuation bytes */
  if (i == 0) return 0;
  unsigned char lead = (unsigned char)s[i - 1];
  size_t need = lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return len - (i - 1) >= need ? len : i - 1;
}

size_t ws_frame_application_close(uint8_t *out, size_t outlen, uint64_t code, const char *reason) {
  if (outlen < 1) return 0;
  size_t n = varint_encode(out + 1, outlen - 1, code);
  if (!n) return 0;
  n += 1;
  out[0] = WS_FRAME_APPLICATION_CLOSE;
  size_t rlen = reason ? strlen(reason) : 0;
  if (rlen > outlen - n) rlen = utf8_cut(reason, outlen - n);
  if (rlen) memcpy(out + n, reason, rlen);
  return n + rlen;
}

size_t ws_frame_message_header(uint8_t *out, uint8_t opcode, uint64_t len) {
  out[0] = (uint8_t)(0x80 | (opcode & 0x0f)); /* FIN, no RSV bits */
  if (len < 126) {
    out[1] = (uint8_t)len;
    return 2;
  }
  if (len < 65536) {
    out[1] = 126;
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; i++) out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
  return 10;
}
