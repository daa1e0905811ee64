#include "qmux/qmux_frame.h"

#include <string.h>

#include "base/varint.h"

#define NEED(expr)                                                                                         \
  do {                                                                                                     \
    if ((expr) != VARINT_OK) return QMUX_ERR_TRUNCATED;                                                    \
  } while (0)

/* Takes the frame's n payload bytes (borrowed from the input) into out->data and out->len. */
static int take_payload(byte_cursor *c, uint64_t n, qmux_frame *out) {
  if (n > cursor_left(c)) return VARINT_NEED_MORE;
  out->len = (size_t)n;
  return cursor_bytes(c, (size_t)n, &out->data);
}

int qmux_frame_decode(const uint8_t *in, size_t len, qmux_frame *out, size_t *used) {
  memset(out, 0, sizeof *out);
  byte_cursor c;
  cursor_init(&c, in, len);
  uint64_t type;
  NEED(cursor_varint(&c, &type));
  out->type = type;
  if (type >= 0x08 && type <= 0x0f) {
    out->type = QMUX_STREAM;
    out->fin = (type & 0x01) != 0;
    out->has_offset = (type & 0x04) != 0;
    NEED(cursor_varint(&c, &out->stream_id));
    if (out->has_offset) NEED(cursor_varint(&c, &out->offset));
    uint64_t n = cursor_left(&c);
    if (type & 0x02) NEED(cursor_varint(&c, &n));
    NEED(take_payload(&c, n, out));
    if (out->offset + n > VARINT_MAX) return QMUX_ERR_ENCODING; /* RFC 9000 19.8 */
  } else if (type == QMUX_TRANSPORT_PARAMETERS) {
    uint64_t n;
    NEED(cursor_varint(&c, &n));
    NEED(take_payload(&c, n, out));
  } else if (type == QMUX_PING_REQUEST || type == QMUX_PING_RESPONSE) {
    NEED(cursor_varint(&c, &out->value));
  } else {
    switch (type) {
    case QMUX_PADDING: break;
    case QMUX_RESET_STREAM:
      NEED(cursor_varint(&c, &out->stream_id));
      NEED(cursor_varint(&c, &out->code));
      NEED(cursor_varint(&c, &out->value));
      break;
    case QMUX_RESET_STREAM_AT:
      NEED(cursor_varint(&c, &out->stream_id));
      NEED(cursor_varint(&c, &out->code));
      NEED(cursor_varint(&c, &out->value));
      NEED(cursor_varint(&c, &out->reliable_size));
      if (out->reliable_size > out->value) return QMUX_ERR_ENCODING;
      break;
    case QMUX_STOP_SENDING:
      NEED(cursor_varint(&c, &out->stream_id));
      NEED(cursor_varint(&c, &out->code));
      break;
    case QMUX_MAX_STREAM_DATA:
    case QMUX_STREAM_DATA_BLOCKED:
      NEED(cursor_varint(&c, &out->stream_id));
      NEED(cursor_varint(&c, &out->value));
      break;
    case QMUX_MAX_DATA:
    case QMUX_MAX_STREAMS_BIDI:
    case QMUX_MAX_STREAMS_UNI:
    case QMUX_DATA_BLOCKED:
    case QMUX_STREAMS_BLOCKED_BIDI:
    case QMUX_STREAMS_BLOCKED_UNI:
      NEED(cursor_varint(&c, &out->value));
      /* RFC 9000 19.11/19.14: a stream count over 2^60 cannot be. */
      if (type != QMUX_MAX_DATA && type != QMUX_DATA_BLOCKED && out->value > ((uint64_t)1 << 60))
        return QMUX_ERR_ENCODING;
      break;
    case QMUX_CONNECTION_CLOSE:
    case QMUX_APPLICATION_CLOSE: {
      NEED(cursor_varint(&c, &out->code));
      if (type == QMUX_CONNECTION_CLOSE) NEED(cursor_varint(&c, &out->value));
      uint64_t n;
      NEED(cursor_varint(&c, &n));
      NEED(take_payload(&c, n, out));
      break;
    }
    case 0x30:
    case 0x31: {
      out->type = QMUX_DATAGRAM;
      uint64_t n = cursor_left(&c);
      if (type == 0x31) NEED(cursor_varint(&c, &n));
      NEED(take_payload(&c, n, out));
      break;
    }
    default: return QMUX_ERR_TYPE;
    }
  }
  *used = (size_t)(c.p - in);
  return QMUX_OK;
}

const char *qmux_frame_error_name(int rc) {
  switch (rc) {
  case QMUX_OK: return "ok";
  case QMUX_ERR_TRUNCATED: return "truncated frame";
  case QMUX_ERR_TYPE: return "unknown frame type";
  case QMUX_ERR_ENCODING: return "a field out of range";
  case QMUX_ERR_PARAM: return "malformed transport parameters";
  default: return "unknown error";
  }
}

/* QUIC v1 parameters QMux forbids. */
static int param_forbidden(uint64_t id) { return id == 0x00 || id == 0x02 || id == 0x03 || (id >= 0x0a && id <= 0x10); }

int qmux_params_decode(const uint8_t *in, size_t len, qmux_params *out) {
  memset(out, 0, sizeof *out);
  out->max_record_size = QMUX_DEFAULT_MAX_RECORD_SIZE;
  unsigned seen = 0; /* one bit per known parameter */
  byte_cursor c;
  cursor_init(&c, in, len);
  while (cursor_left(&c)) {
    uint64_t id, n;
    const uint8_t *val;
    if (cursor_varint(&c, &id) != VARINT_OK || cursor_varint(&c, &n) != VARINT_OK || n > cursor_left(&c) ||
        cursor_bytes(&c, (size_t)n, &val) != VARINT_OK)
      return QMUX_ERR_PARAM;
    uint64_t *field = NULL;
    unsigned bit = 0;
    switch (id) {
    case 0x01: field = &out->max_idle_timeout_ms, bit = 1u << 0; break;
    case 0x04: field = &out->initial_max_data, bit = 1u << 1; break;
    case 0x05: field = &out->initial_max_stream_data_bidi_local, bit = 1u << 2; break;
    case 0x06: field = &out->initial_max_stream_data_bidi_remote, bit = 1u << 3; break;
    case 0x07: field = &out->initial_max_stream_data_uni, bit = 1u << 4; break;
    case 0x08: field = &out->initial_max_streams_bidi, bit = 1u << 5; break;
    case 0x09: field = &out->initial_max_streams_uni, bit = 1u << 6; break;
    case 0x20: field = &out->max_datagram_frame_size, bit = 1u << 7; break;
    default:
      if (id == QMUX_PARAM_MAX_RECORD_SIZE) {
        field = &out->max_record_size;
        bit = 1u << 8;
      } else if (param_forbidden(id)) {
        return QMUX_ERR_PARAM;
      }
      break;
    }
    if (!field) continue; /* an extension we do not know: skipped */
    if (seen & bit) return QMUX_ERR_PARAM;
    seen |= bit;
    size_t used;
    if (n == 0 || varint_decode(val, (size_t)n, field, &used) != VARINT_OK || used != n) return QMUX_ERR_PARAM;
    if ((id == 0x08 || id == 0x09) && *field > ((uint64_t)1 << 60)) return QMUX_ERR_PARAM;
  }
  return QMUX_OK;
}

/* Appends varints to out[*at..); returns 0 when one does not fit in cap. */
static int put(uint8_t *out, size_t cap, size_t *at, uint64_t v) {
  size_t n = varint_encode(out + *at, cap - *at, v);
  *at += n;
  return n != 0;
}

size_t qmux_frame_stream_header(uint8_t *out, uint64_t sid, uint64_t offset, uint64_t len, int fin) {
  size_t at = 0;
  if (!put(out, QMUX_STREAM_HEADER_MAX, &at, 0x0e | (fin ? 1 : 0)) || !put(out, QMUX_STREAM_HEADER_MAX, &at, sid) ||
      !put(out, QMUX_STREAM_HEADER_MAX, &at, offset) || !put(out, QMUX_STREAM_HEADER_MAX, &at, len))
    return 0;
  return at;
}

size_t qmux_frame_encode(uint8_t *out, const qmux_frame *f) {
  size_t at = 0, cap = QMUX_CONTROL_FRAME_MAX;
  int ok = put(out, cap, &at, f->type);
  switch (f->type) {
  case QMUX_RESET_STREAM: ok = ok && put(out, cap, &at, f->stream_id) && put(out, cap, &at, f->code) && put(out, cap, &at, f->value); break;
  case QMUX_STOP_SENDING: ok = ok && put(out, cap, &at, f->stream_id) && put(out, cap, &at, f->code); break;
  case QMUX_MAX_STREAM_DATA:
  case QMUX_STREAM_DATA_BLOCKED: ok = ok && put(out, cap, &at, f->stream_id) && put(out, cap, &at, f->value); break;
  case QMUX_MAX_DATA:
  case QMUX_MAX_STREAMS_BIDI:
  case QMUX_MAX_STREAMS_UNI:
  case QMUX_DATA_BLOCKED:
  case QMUX_STREAMS_BLOCKED_BIDI:
  case QMUX_STREAMS_BLOCKED_UNI: ok = ok && put(out, cap, &at, f->value); break;
  default:
    if (f->type == QMUX_PING_REQUEST || f->type == QMUX_PING_RESPONSE) ok = ok && put(out, cap, &at, f->value);
    else ok = 0;
  }
  return ok ? at : 0;
}

size_t qmux_frame_close(uint8_t *out, size_t outlen, int app, uint64_t code, const char *reason) {
  size_t at = 0;
  if (!put(out, outlen, &at, app ? QMUX_APPLICATION_CLOSE : QMUX_CONNECTION_CLOSE) || !put(out, outlen, &at, code) ||
      (!app && !put(out, outlen, &at, 0)))
    return 0;
  size_t n = reason ? strlen(reason) : 0;
  if (at + 1 > outlen) return 0;
  size_t room = outlen - at;
  room = room > 64 ? room - 2 : room - 1; /* the length varint: 1 byte below 64, else 2 */
  if (n > room) {
    n = room;
    while (n && ((uint8_t)reason[n] & 0xc0) == 0x80) n--; /* do not cut a character */
  }
  if (!put(out, outlen, &at, n) || at + n > outlen) return 0;
  if (n) memcpy(out + at, reason, n);
  return at + n;
}

/* Writes one parameter; a zero value only when always (zero is the default of all but one). */
static void put_param(uint8_t *out, size_t *at, uint64_t id, uint64_t v, int always) {
  if (!v && !always) return;
  put(out, QMUX_PARAMS_FRAME_MAX, at, id);
  put(out, QMUX_PARAMS_FRAME_MAX, at, varint_size(v));
  put(out, QMUX_PARAMS_FRAME_MAX, at, v);
}

size_t qmux_params_encode(uint8_t *out, const qmux_params *p) {
  uint8_t body[QMUX_PARAMS_FRAME_MAX];
  size_t n = 0;
  put_param(body, &n, 0x01, p->max_idle_timeout_ms, 0);
  put_param(body, &n, 0x04, p->initial_max_data, 0);
  put_param(body, &n, 0x05, p->initial_max_stream_data_bidi_local, 0);
  put_param(body, &n, 0x06, p->initial_max_stream_data_bidi_remote, 0);
  put_param(body, &n, 0x07, p->initial_max_stream_data_uni, 0);
  put_param(body, &n, 0x08, p->initial_max_streams_bidi, 0);
  put_param(body, &n, 0x09, p->initial_max_streams_uni, 0);
  put_param(body, &n, 0x20, p->max_datagram_frame_size, 0);
  if (p->max_record_size != QMUX_DEFAULT_MAX_RECORD_SIZE)
    put_param(body, &n, QMUX_PARAM_MAX_RECORD_SIZE, p->max_record_size, 1);
  size_t at = 0;
  put(out, QMUX_PARAMS_FRAME_MAX, &at, QMUX_TRANSPORT_PARAMETERS);
  put(out, QMUX_PARAMS_FRAME_MAX, &at, n);
  memcpy(out + at, body, n);
  return at + n;
}
