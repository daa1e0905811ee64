/* varint: QUIC variable-length integers (RFC 9000 section 16) and a bounded read cursor.
 * Pure functions: no allocation, no I/O. Buffers are borrowed from the caller. */
#ifndef MOQ_BASE_VARINT_H
#define MOQ_BASE_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define VARINT_MAX ((uint64_t)0x3fffffffffffffffULL) /* 2^62 - 1 */

/* Result of a decode step: a value, "need more bytes", or "malformed". */
enum {
  VARINT_OK = 0,
  VARINT_NEED_MORE = -1, /* the input ends before the value does */
  VARINT_MALFORMED = -2, /* the value cannot be valid (reserved for callers; varints never are) */
};

/* Number of bytes the minimal encoding of v takes (1, 2, 4 or 8); 0 if v > VARINT_MAX. */
size_t varint_size(uint64_t v);
/* Writes the minimal encoding of v into out (room for varint_size(v) bytes); returns bytes written,
 * or 0 if v > VARINT_MAX or outlen is too small. */
size_t varint_encode(uint8_t *out, size_t outlen, uint64_t v);
/* Reads one varint from in[0..len): stores it in *v and its length in *used; returns VARINT_OK or
 * VARINT_NEED_MORE. Accepts non-minimal encodings. */
int varint_decode(const uint8_t *in, size_t len, uint64_t *v, size_t *used);

/* A read cursor over borrowed bytes. Reads past the end set `short_read` and return failure. */
typedef struct byte_cursor {
  const uint8_t *p;   /* borrowed: next unread byte */
  const uint8_t *end; /* borrowed: one past the last byte */
} byte_cursor;

/* Starts a cursor over data[0..len). */
void cursor_init(byte_cursor *c, const uint8_t *data, size_t len);
/* Bytes left. */
size_t cursor_left(const byte_cursor *c);
/* Reads a varint; returns VARINT_OK or VARINT_NEED_MORE (cursor unchanged on failure). */
int cursor_varint(byte_cursor *c, uint64_t *v);
/* Reads one byte; VARINT_OK or VARINT_NEED_MORE. */
int cursor_u8(byte_cursor *c, uint8_t *v);
/* Reads a big-endian u16; VARINT_OK or VARINT_NEED_MORE. */
int cursor_u16(byte_cursor *c, uint16_t *v);
/* Takes n bytes as a borrowed pointer; VARINT_OK or VARINT_NEED_MORE. */
int cursor_bytes(byte_cursor *c, size_t n, const uint8_t **out);

#endif
