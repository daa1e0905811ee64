/* fuzz_qmux: the QMux frames (core/qmux/qmux_frame.h) a WebSocket peer sends, the whole input as one
 * record (a draft-01 message; a draft-00 message is a record of one frame).
 * Every frame of the record is decoded in turn until the end or the first error; each decoded frame
 * lies inside the record and consumes at least one byte; control frames encode back (with the writer
 * the relay uses) to bytes that decode to the same frame, and to the same bytes when the input's
 * varints were minimal; STREAM headers written for a decoded STREAM frame decode to the same stream,
 * offset, length and FIN; transport parameters that decode encode to a frame that decodes to the same
 * values. The close writer is driven with a code, a buffer size and a reason from the input: it never
 * writes past its buffer and never cuts a UTF-8 character of a valid reason. */
#include "fuzz.h"

#include "base/varint.h"
#include "qmux/qmux_frame.h"

static uint64_t take_u64(fuzz_in *in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | fuzz_u8(in);
  return v;
}

static int is_control(uint64_t t) {
  return t == QMUX_RESET_STREAM || t == QMUX_STOP_SENDING || t == QMUX_MAX_DATA || t == QMUX_MAX_STREAM_DATA ||
         t == QMUX_MAX_STREAMS_BIDI || t == QMUX_MAX_STREAMS_UNI || t == QMUX_DATA_BLOCKED ||
         t == QMUX_STREAM_DATA_BLOCKED || t == QMUX_STREAMS_BLOCKED_BIDI || t == QMUX_STREAMS_BLOCKED_UNI ||
         t == QMUX_PING_REQUEST || t == QMUX_PING_RESPONSE;
}

static void check_params(const qmux_frame *f) {
  qmux_params p, q;
  int rc = qmux_params_decode(f->data, f->len, &p);
  FUZZ_CHECK(rc == QMUX_OK || rc == QMUX_ERR_PARAM);
  if (rc != QMUX_OK) return;
  uint8_t buf[QMUX_PARAMS_FRAME_MAX];
  size_t n = qmux_params_encode(buf, &p);
  FUZZ_CHECK(n >= 9 && n <= sizeof buf);
  qmux_frame g;
  size_t used = 0;
  FUZZ_CHECK(qmux_frame_decode(buf, n, &g, &used) == QMUX_OK && used == n && g.type == QMUX_TRANSPORT_PARAMETERS);
  FUZZ_CHECK(qmux_params_decode(g.data, g.len, &q) == QMUX_OK);
  FUZZ_CHECK(memcmp(&p, &q, sizeof p) == 0);
}

static void check_frame(const uint8_t *rec, size_t len, const uint8_t *at, size_t used, const qmux_frame *f) {
  FUZZ_CHECK(used >= 1 && at + used <= rec + len);
  if (f->len) FUZZ_CHECK(f->data >= at && f->data + f->len <= at + used);
  qmux_frame g;
  size_t gused = 0;
  if (is_control(f->type)) {
    uint8_t buf[QMUX_CONTROL_FRAME_MAX];
    size_t n = qmux_frame_encode(buf, f);
    FUZZ_CHECK(n >= 2 && n <= QMUX_CONTROL_FRAME_MAX && n <= used);
    FUZZ_CHECK(qmux_frame_decode(buf, n, &g, &gused) == QMUX_OK && gused == n);
    FUZZ_CHECK(g.type == f->type && g.stream_id == f->stream_id && g.code == f->code && g.value == f->value);
    if (n == used) FUZZ_CHECK(memcmp(buf, at, n) == 0);
  } else if (f->type == QMUX_STREAM) {
    uint8_t buf[QMUX_STREAM_HEADER_MAX];
    size_t n = qmux_frame_stream_header(buf, f->stream_id, f->offset, f->len, f->fin);
    FUZZ_CHECK(n >= 4 && n <= QMUX_STREAM_HEADER_MAX);
    uint8_t *re = malloc(n + f->len);
    FUZZ_CHECK(re != NULL);
    memcpy(re, buf, n);
    if (f->len) memcpy(re + n, f->data, f->len);
    FUZZ_CHECK(qmux_frame_decode(re, n + f->len, &g, &gused) == QMUX_OK && gused == n + f->len);
    FUZZ_CHECK(g.type == QMUX_STREAM && g.has_offset && g.stream_id == f->stream_id && g.offset == f->offset &&
               g.len == f->len && g.fin == f->fin);
    FUZZ_CHECK(g.len == 0 || memcmp(g.data, f->data, g.len) == 0);
    free(re);
  } else if (f->type == QMUX_TRANSPORT_PARAMETERS) {
    check_params(f);
  } else {
    FUZZ_CHECK(f->type == QMUX_PADDING || f->type == QMUX_CONNECTION_CLOSE || f->type == QMUX_APPLICATION_CLOSE ||
               f->type == QMUX_RESET_STREAM_AT || f->type == QMUX_DATAGRAM);
    if (f->type == QMUX_RESET_STREAM_AT) FUZZ_CHECK(f->reliable_size <= f->value);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *rec = fuzz_dup(data, size); /* exact size: reads past the end trip ASan */
  size_t off = 0;
  while (off < size) {
    qmux_frame f;
    size_t used = 0;
    int rc = qmux_frame_decode(rec + off, size - off, &f, &used);
    FUZZ_CHECK(qmux_frame_error_name(rc) != NULL);
    if (rc != QMUX_OK) {
      FUZZ_CHECK(rc == QMUX_ERR_TRUNCATED || rc == QMUX_ERR_TYPE || rc == QMUX_ERR_ENCODING);
      break;
    }
    check_frame(rec, size, rec + off, used, &f);
    off += used;
  }
  free(rec);

  /* the close writer, driven by the input */
  fuzz_in in = {data, size};
  int app = fuzz_u8(&in) & 1;
  uint64_t code = take_u64(&in) >> (fuzz_u8(&in) % 64);
  size_t outlen = fuzz_u8(&in);
  char *reason = fuzz_strdup(in.p, in.len);
  uint8_t *out = malloc(outlen ? outlen : 1);
  FUZZ_CHECK(out != NULL);
  size_t n = qmux_frame_close(out, outlen, app, code, reason);
  if (n) {
    qmux_frame f;
    size_t used = 0;
    FUZZ_CHECK(n <= outlen && code <= VARINT_MAX);
    FUZZ_CHECK(qmux_frame_decode(out, n, &f, &used) == QMUX_OK && used == n);
    FUZZ_CHECK(f.type == (app ? QMUX_APPLICATION_CLOSE : QMUX_CONNECTION_CLOSE) && f.code == code);
    FUZZ_CHECK(f.len <= strlen(reason) && (f.len == 0 || memcmp(f.data, reason, f.len) == 0));
    if (f.len < strlen(reason) && fuzz_utf8_valid((const uint8_t *)reason, strlen(reason)))
      FUZZ_CHECK(fuzz_utf8_valid(f.data, f.len) && n + 6 > outlen);
  } else {
    FUZZ_CHECK(code > VARINT_MAX || outlen < (app ? 2 : 3) + varint_size(code));
  }
  free(out);
  free(reason);
  return 0;
}
