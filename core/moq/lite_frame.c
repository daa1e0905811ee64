/* lite_frame: FRAME headers, the streaming frame reader and lite-05 DATAGRAMs (see lite.h). Payloads
 * are never copied on decode: the caller gets their length, or views of its own input. */
#include <limits.h>
#include <string.h>

#include "base/varint.h"
#include "moq/lite.h"

/* Sets *why and returns rc. */
static int fail(const char **why, int rc, const char *msg) {
  if (why) *why = msg;
  return rc;
}

int moq_frame_header_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim,
                            moq_frame_header *out, const char **why) {
  moq_limits def;
  if (lim == NULL) {
    moq_limits_default(&def);
    lim = &def;
  }
  if (!moq_version_valid(v)) return fail(why, MOQ_ERR_VERSION, "invalid version");
  size_t pos = 0, used;
  uint64_t zz = 0, n;
  if (v >= MOQ_LITE_05) {
    if (varint_decode(in, len, &zz, &used) != VARINT_OK) return fail(why, MOQ_NEED_MORE, "need more bytes");
    pos += used;
  }
  if (varint_decode(in + pos, len - pos, &n, &used) != VARINT_OK) return fail(why, MOQ_NEED_MORE, "need more bytes");
  pos += used;
  if (n > lim->max_frame) return fail(why, MOQ_ERR_TOO_LARGE, "frame too large");
  out->ts_delta = moq_zigzag_decode(zz);
  out->payload_len = n;
  return (int)pos;
}

int moq_frame_header_encode(moq_buf *b, moq_version v, int64_t ts_delta, uint64_t payload_len) {
  if (!moq_version_valid(v) || (v < MOQ_LITE_05 && ts_delta != 0)) return MOQ_ERR_VERSION;
  size_t start = b->len;
  int rc = 0;
  if (v >= MOQ_LITE_05) {
    /* a zigzag value must fit a varint: |delta| <= 2^61 */
    if (ts_delta > (int64_t)(VARINT_MAX >> 1) || ts_delta < -(int64_t)(VARINT_MAX >> 1) - 1) return MOQ_ERR_INVALID;
    rc = moq_buf_varint(b, moq_zigzag_encode(ts_delta));
  }
  if (rc == 0) rc = moq_buf_varint(b, payload_len);
  if (rc < 0) {
    b->len = start;
    return rc;
  }
  return (int)(b->len - start);
}

int moq_frame_encode(moq_buf *b, moq_version v, int64_t ts_delta, const uint8_t *payload, size_t len) {
  size_t start = b->len;
  int rc = moq_frame_header_encode(b, v, ts_delta, len);
  if (rc < 0) return rc;
  if (len > (size_t)INT_MAX - (size_t)rc || moq_buf_append(b, payload, len) < 0) {
    b->len = start;
    return len > (size_t)INT_MAX - (size_t)rc ? MOQ_ERR_INVALID : MOQ_ERR_NOMEM;
  }
  return (int)(b->len - start);
}

/* ---- streaming reader ---- */

void moq_frame_reader_init(moq_frame_reader *r, moq_version v, const moq_limits *lim) {
  moq_limits def;
  if (lim == NULL) {
    moq_limits_default(&def);
    lim = &def;
  }
  memset(r, 0, sizeof *r);
  r->version = v;
  r->max_frame = lim->max_frame;
}

/* Decodes a header from held bytes plus the head of the input; on success returns the number of input
 * bytes it took, sets up the payload and fills ev. */
static int reader_header(moq_frame_reader *r, const uint8_t *in, size_t len, moq_frame_event *ev,
                         const char **why) {
  uint8_t tmp[sizeof r->hdr];
  size_t take = sizeof tmp - r->hdr_len;
  if (take > len) take = len;
  memcpy(tmp, r->hdr, r->hdr_len);
  if (take) memcpy(tmp + r->hdr_len, in, take);
  moq_limits lim;
  moq_limits_default(&lim);
  lim.max_frame = r->max_frame;
  moq_frame_header h;
  int n = moq_frame_header_decode(r->version, tmp, r->hdr_len + take, &lim, &h, why);
  if (n == MOQ_NEED_MORE) {
    /* a whole header is at most sizeof hdr bytes, so all of the input fits */
    memcpy(r->hdr + r->hdr_len, in, take);
    r->hdr_len += take;
    ev->kind = MOQ_FRAME_NONE;
    return (int)take;
  }
  if (n < 0) return n;
  uint64_t ts = 0;
  if (r->version >= MOQ_LITE_05) {
    int64_t abs = (int64_t)r->timestamp + h.ts_delta; /* |delta| <= 2^61, timestamp < 2^62: no overflow */
    if (abs < 0 || (uint64_t)abs > VARINT_MAX) return fail(why, MOQ_ERR_MALFORMED, "frame timestamp out of range");
    ts = (uint64_t)abs;
  }
  size_t from_input = (size_t)n - r->hdr_len;
  r->hdr_len = 0;
  r->timestamp = ts;
  r->frames++;
  r->in_payload = true;
  r->remaining = h.payload_len;
  r->end_pending = h.payload_len == 0;
  ev->kind = MOQ_FRAME_BEGIN;
  ev->timestamp = ts;
  ev->payload_len = h.payload_len;
  ev->data = NULL;
  ev->data_len = 0;
  return (int)from_input;
}

int moq_frame_reader_next(moq_frame_reader *r, const uint8_t *in, size_t len, moq_frame_event *ev,
                          const char **why) {
  memset(ev, 0, sizeof *ev);
  if (!moq_version_valid(r->version)) return fail(why, MOQ_ERR_VERSION, "invalid version");
  if (r->end_pending) {
    r->end_pending = false;
    r->in_payload = false;
    ev->kind = MOQ_FRAME_END;
    return 0;
  }
  if (r->in_payload) {
    if (len == 0) {
      ev->kind = MOQ_FRAME_NONE;
      return 0;
    }
    size_t n = len;
    if ((uint64_t)n > r->remaining) n = (size_t)r->remaining;
    if (n > (size_t)INT_MAX) n = (size_t)INT_MAX;
    r->remaining -= n;
    r->end_pending = r->remaining == 0;
    ev->kind = MOQ_FRAME_DATA;
    ev->data = in;
    ev->data_len = n;
    return (int)n;
  }
  if (len == 0) {
    ev->kind = MOQ_FRAME_NONE;
    return 0;
  }
  return reader_header(r, in, len, ev, why);
}

int moq_frame_reader_finish(const moq_frame_reader *r, const char **why) {
  if (r->hdr_len > 0) return fail(why, MOQ_ERR_MALFORMED, "stream ended inside a frame header");
  if (r->in_payload && r->remaining > 0) return fail(why, MOQ_ERR_MALFORMED, "stream ended inside a frame payload");
  return 0;
}

/* ---- lite-05 datagrams ---- */

int moq_datagram_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim, moq_datagram *out,
                        const char **why) {
  moq_limits def;
  if (lim == NULL) {
    moq_limits_default(&def);
    lim = &def;
  }
  if (!moq_version_valid(v) || v < MOQ_LITE_05) return fail(why, MOQ_ERR_VERSION, "message not in this version");
  if (len > lim->max_datagram || len > (size_t)INT_MAX) return fail(why, MOQ_ERR_TOO_LARGE, "datagram too large");
  byte_cursor c;
  cursor_init(&c, in, len);
  moq_datagram m;
  if (cursor_varint(&c, &m.subscribe_id) != VARINT_OK || cursor_varint(&c, &m.sequence) != VARINT_OK ||
      cursor_varint(&c, &m.timestamp) != VARINT_OK)
    return fail(why, MOQ_NEED_MORE, "datagram header cut short");
  m.payload = c.p;
  m.payload_len = cursor_left(&c);
  *out = m;
  return (int)len;
}

int moq_datagram_encode(moq_buf *b, moq_version v, const moq_datagram *m) {
  if (!moq_version_valid(v) || v < MOQ_LITE_05) return MOQ_ERR_VERSION;
  size_t start = b->len;
  int rc = moq_buf_varint(b, m->subscribe_id);
  if (rc == 0) rc = moq_buf_varint(b, m->sequence);
  if (rc == 0) rc = moq_buf_varint(b, m->timestamp);
  if (rc == 0) rc = moq_buf_append(b, m->payload, m->payload_len);
  if (rc < 0) {
    b->len = start;
    return rc;
  }
  return (int)(b->len - start);
}
