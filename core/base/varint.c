#include "base/varint.h"

size_t varint_size(uint64_t v) {
  if (v < 64) return 1;
  if (v < 16384) return 2;
  if (v < 1073741824) return 4;
  if (v <= VARINT_MAX) return 8;
  return 0;
}

size_t varint_encode(uint8_t *out, size_t outlen, uint64_t v) {
  size_t n = varint_size(v);
  if (n == 0 || outlen < n) return 0;
  static const uint8_t prefix[9] = {0, 0x00, 0x40, 0, 0x80, 0, 0, 0, 0xc0};
  for (size_t i = 0; i < n; i++) out[n - 1 - i] = (uint8_t)(v >> (8 * i));
  out[0] |= prefix[n];
  return n;
}

int varint_decode(const uint8_t *in, size_t len, uint64_t *v, size_t *used) {
  if (len == 0) return VARINT_NEED_MORE;
  size_t n = (size_t)1 << (in[0] >> 6);
  if (len < n) return VARINT_NEED_MORE;
  uint64_t x = in[0] & 0x3f;
  for (size_t i = 1; i < n; i++) x = (x << 8) | in[i];
  *v = x;
  *used = n;
  return VARINT_OK;
}

void cursor_init(byte_cursor *c, const uint8_t *data, size_t len) {
  c->p = data;
  c->end = data + len;
}

size_t cursor_left(const byte_cursor *c) { return (size_t)(c->end - c->p); }

int cursor_varint(byte_cursor *c, uint64_t *v) {
  size_t used;
  int rv = varint_decode(c->p, cursor_left(c), v, &used);
  if (rv == VARINT_OK) c->p += used;
  return rv;
}

int cursor_u8(byte_cursor *c, uint8_t *v) {
  if (cursor_left(c) < 1) return VARINT_NEED_MORE;
  *v = *c->p++;
  return VARINT_OK;
}

int cursor_u16(byte_cursor *c, uint16_t *v) {
  if (cursor_left(c) < 2) return VARINT_NEED_MORE;
  *v = (uint16_t)((c->p[0] << 8) | c->p[1]);
  c->p += 2;
  return VARINT_OK;
}

int cursor_bytes(byte_cursor *c, size_t n, const uint8_t **out) {
  if (cursor_left(c) < n) return VARINT_NEED_MORE;
  *out = c->p;
  c->p += n;
  return VARINT_OK;
}
