/* fuzz_varint: QUIC varints and the byte cursor (core/base/varint.h).
 * Decoding any bytes and encoding the value again gives a minimal encoding no longer than the input
 * and decoding that gives the value back; the cursor never moves past its end and leaves itself
 * unchanged on a failed read. */
#include "fuzz.h"

#include "base/varint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *in = fuzz_dup(data, size);
  /* one value at every offset */
  for (size_t off = 0; off < size && off < 64; off++) {
    uint64_t v;
    size_t used;
    int rc = varint_decode(in + off, size - off, &v, &used);
    if (rc != VARINT_OK) {
      FUZZ_CHECK(rc == VARINT_NEED_MORE && size - off < ((size_t)1 << (in[off] >> 6)));
      continue;
    }
    FUZZ_CHECK(used == ((size_t)1 << (in[off] >> 6)) && used <= size - off);
    FUZZ_CHECK(v <= VARINT_MAX);
    size_t n = varint_size(v);
    FUZZ_CHECK(n >= 1 && n <= used);
    uint8_t out[8];
    FUZZ_CHECK(varint_encode(out, n - 1, v) == 0); /* too small a buffer is refused */
    FUZZ_CHECK(varint_encode(out, sizeof out, v) == n);
    uint64_t w;
    size_t u2;
    FUZZ_CHECK(varint_decode(out, n, &w, &u2) == VARINT_OK && w == v && u2 == n);
    if (used == n) FUZZ_CHECK(memcmp(out, in + off, n) == 0); /* a minimal input is re-encoded as is */
  }
  /* the cursor, driven by the bytes themselves */
  byte_cursor c;
  cursor_init(&c, in, size);
  size_t steps = 0;
  while (cursor_left(&c) > 0 && steps++ < 256) {
    const uint8_t *before = c.p;
    size_t left = cursor_left(&c);
    uint8_t op = *c.p;
    int rc;
    switch (op & 3) {
    case 0: {
      uint64_t v;
      rc = cursor_varint(&c, &v);
      break;
    }
    case 1: {
      uint8_t v;
      rc = cursor_u8(&c, &v);
      FUZZ_CHECK(rc == VARINT_OK && v == op);
      break;
    }
    case 2: {
      uint16_t v;
      rc = cursor_u16(&c, &v);
      if (rc == VARINT_OK) FUZZ_CHECK(v >> 8 == op);
      break;
    }
    default: {
      const uint8_t *p;
      rc = cursor_bytes(&c, (size_t)(op >> 2), &p);
      if (rc == VARINT_OK) FUZZ_CHECK(p == before);
      break;
    }
    }
    if (rc != VARINT_OK) {
      FUZZ_CHECK(rc == VARINT_NEED_MORE && c.p == before && cursor_left(&c) == left);
      break;
    }
    FUZZ_CHECK(c.p > before || (op & 3) == 3);
    FUZZ_CHECK(c.p <= c.end);
    if (c.p == before) break; /* a zero-length take */
  }
  free(in);
  /* encoding the first 8 bytes as a number */
  if (size >= 8) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | data[i];
    uint8_t out[8];
    size_t n = varint_encode(out, sizeof out, v);
    FUZZ_CHECK((n == 0) == (v > VARINT_MAX));
  }
  return 0;
}
