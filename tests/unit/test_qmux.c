/* Unit tests: the QMux frame codec (qmux/qmux_frame.h): byte vectors for every frame and the
 * transport parameters (the parameter bytes are those @moq/qmux 0.0.6 writes), truncated and
 * malformed input. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "qmux/qmux_frame.h"

/* Decodes a whole buffer that holds exactly one frame. */
static qmux_frame decode1(const uint8_t *b, size_t n) {
  qmux_frame f;
  size_t used = 0;
  ck_assert_int_eq(qmux_frame_decode(b, n, &f, &used), QMUX_OK);
  ck_assert_uint_eq(used, n);
  return f;
}

/* Every strict prefix of a length-delimited frame is truncated. */
static void prefixes_truncated(const uint8_t *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    qmux_frame f;
    size_t used = 0;
    ck_assert_int_eq(qmux_frame_decode(b, i, &f, &used), QMUX_ERR_TRUNCATED);
  }
}

START_TEST(test_stream) {
  /* LEN only (what @moq/qmux 0.0.6 sends): 0x0a, stream 2, length 3, "abc" */
  const uint8_t a[] = {0x0a, 0x02, 0x03, 'a', 'b', 'c'};
  qmux_frame f = decode1(a, sizeof a);
  ck_assert_uint_eq(f.type, QMUX_STREAM);
  ck_assert_int_eq(f.fin, 0);
  ck_assert_int_eq(f.has_offset, 0);
  ck_assert_uint_eq(f.stream_id, 2);
  ck_assert_uint_eq(f.len, 3);
  ck_assert_ptr_eq(f.data, a + 3);
  prefixes_truncated(a, sizeof a);
  /* OFF, LEN, FIN (what the Rust crate sends): stream 0, offset 100, "hi" */
  const uint8_t b[] = {0x0f, 0x00, 0x40, 0x64, 0x02, 'h', 'i'};
  f = decode1(b, sizeof b);
  ck_assert_int_eq(f.fin, 1);
  ck_assert_int_eq(f.has_offset, 1);
  ck_assert_uint_eq(f.offset, 100);
  ck_assert_uint_eq(f.len, 2);
  prefixes_truncated(b, sizeof b);
  /* no LEN: the data runs to the end of the record */
  const uint8_t c[] = {0x08, 0x04, 'x', 'y'};
  f = decode1(c, sizeof c);
  ck_assert_uint_eq(f.stream_id, 4);
  ck_assert_uint_eq(f.len, 2);
  /* FIN with no data */
  const uint8_t d[] = {0x0b, 0x06, 0x00};
  f = decode1(d, sizeof d);
  ck_assert_int_eq(f.fin, 1);
  ck_assert_uint_eq(f.len, 0);
  /* two frames in one record: the first ends at its length */
  const uint8_t e[] = {0x0a, 0x02, 0x01, 'z', 0x00, 0x0b, 0x02, 0x00};
  size_t used;
  ck_assert_int_eq(qmux_frame_decode(e, sizeof e, &f, &used), QMUX_OK);
  ck_assert_uint_eq(used, 4);
  ck_assert_int_eq(qmux_frame_decode(e + 4, sizeof e - 4, &f, &used), QMUX_OK);
  ck_assert_uint_eq(f.type, QMUX_PADDING);
  ck_assert_uint_eq(used, 1);
  /* a length beyond the record; an offset + length beyond 2^62 - 1 */
  const uint8_t g[] = {0x0a, 0x02, 0x05, 'a'};
  ck_assert_int_eq(qmux_frame_decode(g, sizeof g, &f, &used), QMUX_ERR_TRUNCATED);
  const uint8_t h[] = {0x0e, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 'a'};
  ck_assert_int_eq(qmux_frame_decode(h, sizeof h, &f, &used), QMUX_ERR_ENCODING);
}
END_TEST

START_TEST(test_stream_control) {
  /* RESET_STREAM as @moq/qmux 0.0.6 writes it (final size always 0) */
  const uint8_t a[] = {0x04, 0x03, 0x0d, 0x00};
  qmux_frame f = decode1(a, sizeof a);
  ck_assert_uint_eq(f.type, QMUX_RESET_STREAM);
  ck_assert_uint_eq(f.stream_id, 3);
  ck_assert_uint_eq(f.code, 13);
  ck_assert_uint_eq(f.value, 0);
  prefixes_truncated(a, sizeof a);
  /* RESET_STREAM_AT: reliable size <= final size */
  const uint8_t b[] = {0x24, 0x02, 0x0d, 0x05, 0x03};
  f = decode1(b, sizeof b);
  ck_assert_uint_eq(f.type, QMUX_RESET_STREAM_AT);
  ck_assert_uint_eq(f.value, 5);
  ck_assert_uint_eq(f.reliable_size, 3);
  prefixes_truncated(b, sizeof b);
  const uint8_t c[] = {0x24, 0x02, 0x0d, 0x05, 0x06};
  size_t used;
  ck_assert_int_eq(qmux_frame_decode(c, sizeof c, &f, &used), QMUX_ERR_ENCODING);
  /* STOP_SENDING */
  const uint8_t d[] = {0x05, 0x03, 0x00};
  f = decode1(d, sizeof d);
  ck_assert_uint_eq(f.type, QMUX_STOP_SENDING);
  ck_assert_uint_eq(f.stream_id, 3);
  prefixes_truncated(d, sizeof d);
}
END_TEST

START_TEST(test_flow_control) {
  const uint8_t a[] = {0x10, 0x80, 0x10, 0x00, 0x00}; /* MAX_DATA 1 MiB */
  qmux_frame f = decode1(a, sizeof a);
  ck_assert_uint_eq(f.type, QMUX_MAX_DATA);
  ck_assert_uint_eq(f.value, 1048576);
  prefixes_truncated(a, sizeof a);
  const uint8_t b[] = {0x11, 0x01, 0x44, 0x00}; /* MAX_STREAM_DATA stream 1, 1024 */
  f = decode1(b, sizeof b);
  ck_assert_uint_eq(f.stream_id, 1);
  ck_assert_uint_eq(f.value, 1024);
  prefixes_truncated(b, sizeof b);
  const uint8_t c[] = {0x13, 0x40, 0x64}; /* MAX_STREAMS uni 100 */
  f = decode1(c, sizeof c);
  ck_assert_uint_eq(f.type, QMUX_MAX_STREAMS_UNI);
  ck_assert_uint_eq(f.value, 100);
  const uint8_t d[] = {0x12, 0x05};
  ck_assert_uint_eq(decode1(d, sizeof d).type, QMUX_MAX_STREAMS_BIDI);
  const uint8_t e[] = {0x14, 0x07}, g[] = {0x15, 0x02, 0x07}, h[] = {0x16, 0x01}, i[] = {0x17, 0x01};
  ck_assert_uint_eq(decode1(e, sizeof e).type, QMUX_DATA_BLOCKED);
  ck_assert_uint_eq(decode1(g, sizeof g).stream_id, 2);
  ck_assert_uint_eq(decode1(h, sizeof h).type, QMUX_STREAMS_BLOCKED_BIDI);
  ck_assert_uint_eq(decode1(i, sizeof i).type, QMUX_STREAMS_BLOCKED_UNI);
  /* a stream count over 2^60 */
  const uint8_t j[] = {0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  size_t used;
  ck_assert_int_eq(qmux_frame_decode(j, sizeof j, &f, &used), QMUX_ERR_ENCODING);
  const uint8_t k[] = {0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}; /* fine for MAX_DATA */
  ck_assert_uint_eq(decode1(k, sizeof k).value, 0x3fffffffffffffffULL);
}
END_TEST

START_TEST(test_close_ping_padding) {
  const uint8_t a[] = {0x1c, 0x0a, 0x00, 0x03, 'b', 'a', 'd'};
  qmux_frame f = decode1(a, sizeof a);
  ck_assert_uint_eq(f.type, QMUX_CONNECTION_CLOSE);
  ck_assert_uint_eq(f.code, 10);
  ck_assert_uint_eq(f.len, 3);
  ck_assert_mem_eq(f.data, "bad", 3);
  prefixes_truncated(a, sizeof a);
  const uint8_t b[] = {0x1d, 0x41, 0x00, 0x03, 'b', 'y', 'e'};
  f = decode1(b, sizeof b);
  ck_assert_uint_eq(f.type, QMUX_APPLICATION_CLOSE);
  ck_assert_uint_eq(f.code, 0x100);
  ck_assert_mem_eq(f.data, "bye", 3);
  prefixes_truncated(b, sizeof b);
  /* @moq/qmux 0.0.6 puts a frame type field into APPLICATION_CLOSE too: it decodes as the code
   * and an empty reason, and the session ends there. */
  const uint8_t c[] = {0x1d, 0x41, 0x00, 0x00, 0x03, 'b', 'y', 'e'};
  size_t used;
  ck_assert_int_eq(qmux_frame_decode(c, sizeof c, &f, &used), QMUX_OK);
  ck_assert_uint_eq(f.code, 0x100);
  ck_assert_uint_eq(f.len, 0);
  ck_assert_uint_eq(used, 4);
  /* QX_PING request and response, sequence 7 */
  const uint8_t d[] = {0xf4, 0x8c, 0x67, 0x52, 0x9e, 0xf8, 0xc7, 0xbd, 0x07};
  f = decode1(d, sizeof d);
  ck_assert(f.type == QMUX_PING_REQUEST);
  ck_assert_uint_eq(f.value, 7);
  prefixes_truncated(d, sizeof d);
  const uint8_t e[] = {0xf4, 0x8c, 0x67, 0x52, 0x9e, 0xf8, 0xc7, 0xbe, 0x07};
  ck_assert(decode1(e, sizeof e).type == QMUX_PING_RESPONSE);
  /* PADDING is one byte; DATAGRAM in both forms */
  const uint8_t g[] = {0x00};
  ck_assert_uint_eq(decode1(g, sizeof g).type, QMUX_PADDING);
  const uint8_t h[] = {0x31, 0x02, 'o', 'k'}, i[] = {0x30, 'o', 'k'};
  ck_assert_uint_eq(decode1(h, sizeof h).len, 2);
  ck_assert_uint_eq(decode1(i, sizeof i).type, QMUX_DATAGRAM);
  /* unknown types: HANDSHAKE_DONE, NEW_TOKEN, an unassigned one; and an empty input */
  const uint8_t j[] = {0x1e}, k[] = {0x07, 0x00}, l[] = {0x40, 0x21};
  ck_assert_int_eq(qmux_frame_decode(j, sizeof j, &f, &used), QMUX_ERR_TYPE);
  ck_assert_int_eq(qmux_frame_decode(k, sizeof k, &f, &used), QMUX_ERR_TYPE);
  ck_assert_int_eq(qmux_frame_decode(l, sizeof l, &f, &used), QMUX_ERR_TYPE);
  ck_assert_int_eq(qmux_frame_decode(j, 0, &f, &used), QMUX_ERR_TRUNCATED);
  ck_assert_str_eq(qmux_frame_error_name(QMUX_ERR_TYPE), "unknown frame type");
}
END_TEST

/* What @moq/qmux 0.0.6 sends first with its recommended parameters (checked against its encoder). */
static const uint8_t js_params[] = {0xff, 0x51, 0x53, 0x30, 0x0d, 0x0a, 0x0d, 0x0a, 0x20, 0x04, 0x04, 0x80, 0x10, 0x00,
                                    0x00, 0x05, 0x04, 0x80, 0x04, 0x00, 0x00, 0x06, 0x04, 0x80, 0x04, 0x00, 0x00, 0x07,
                                    0x04, 0x80, 0x04, 0x00, 0x00, 0x08, 0x02, 0x40, 0x64, 0x09, 0x02, 0x40, 0x64};

START_TEST(test_params) {
  qmux_frame f = decode1(js_params, sizeof js_params);
  ck_assert(f.type == QMUX_TRANSPORT_PARAMETERS);
  ck_assert_uint_eq(f.len, 32);
  prefixes_truncated(js_params, sizeof js_params);
  qmux_params p;
  ck_assert_int_eq(qmux_params_decode(f.data, f.len, &p), QMUX_OK);
  ck_assert_uint_eq(p.initial_max_data, 1048576);
  ck_assert_uint_eq(p.initial_max_stream_data_bidi_local, 262144);
  ck_assert_uint_eq(p.initial_max_stream_data_bidi_remote, 262144);
  ck_assert_uint_eq(p.initial_max_stream_data_uni, 262144);
  ck_assert_uint_eq(p.initial_max_streams_bidi, 100);
  ck_assert_uint_eq(p.initial_max_streams_uni, 100);
  ck_assert_uint_eq(p.max_record_size, QMUX_DEFAULT_MAX_RECORD_SIZE);
  ck_assert_uint_eq(p.max_idle_timeout_ms, 0);
  /* and we write the same bytes for the same values */
  uint8_t out[QMUX_PARAMS_FRAME_MAX];
  ck_assert_uint_eq(qmux_params_encode(out, &p), sizeof js_params);
  ck_assert_mem_eq(out, js_params, sizeof js_params);
  /* empty: all zero */
  ck_assert_int_eq(qmux_params_decode(NULL, 0, &p), QMUX_OK);
  ck_assert_uint_eq(p.initial_max_data, 0);
  /* max_record_size 32767, max_idle_timeout 30000, an unknown id skipped */
  const uint8_t a[] = {0xc5, 0x71, 0xc5, 0x94, 0x29, 0xcd, 0x08, 0x45, 0x04, 0x80, 0x00, 0x7f, 0xff,
                       0x01, 0x04, 0x80, 0x00, 0x75, 0x30, 0x21, 0x02, 0xaa, 0xbb};
  ck_assert_int_eq(qmux_params_decode(a, sizeof a, &p), QMUX_OK);
  ck_assert_uint_eq(p.max_record_size, 32767);
  ck_assert_uint_eq(p.max_idle_timeout_ms, 30000);
  qmux_params q = p;
  size_t n = qmux_params_encode(out, &q);
  f = decode1(out, n);
  ck_assert_int_eq(qmux_params_decode(f.data, f.len, &p), QMUX_OK);
  ck_assert_uint_eq(p.max_record_size, 32767);
  ck_assert_uint_eq(p.max_idle_timeout_ms, 30000);
  /* malformed: repeated, forbidden (original_destination_connection_id, stateless_reset_token,
   * preferred_address), a value not filling its length, a zero-length value, truncated, streams > 2^60 */
  const uint8_t bad1[] = {0x04, 0x01, 0x05, 0x04, 0x01, 0x06};
  const uint8_t bad2[] = {0x00, 0x00};
  const uint8_t bad3[] = {0x02, 0x01, 0x00};
  const uint8_t bad4[] = {0x0d, 0x00};
  const uint8_t bad5[] = {0x04, 0x02, 0x05, 0x00};
  const uint8_t bad6[] = {0x04, 0x00};
  const uint8_t bad7[] = {0x04, 0x05, 0x01};
  const uint8_t bad8[] = {0x08, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  const uint8_t bad9[] = {0x04};
  const struct {
    const uint8_t *b;
    size_t n;
  } bad[] = {{bad1, sizeof bad1}, {bad2, sizeof bad2}, {bad3, sizeof bad3}, {bad4, sizeof bad4}, {bad5, sizeof bad5},
             {bad6, sizeof bad6}, {bad7, sizeof bad7}, {bad8, sizeof bad8}, {bad9, sizeof bad9}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    ck_assert_int_eq(qmux_params_decode(bad[i].b, bad[i].n, &p), QMUX_ERR_PARAM);
}
END_TEST

START_TEST(test_encode) {
  uint8_t out[64];
  /* STREAM header: always OFF and LEN */
  const uint8_t a[] = {0x0e, 0x02, 0x00, 0x03};
  ck_assert_uint_eq(qmux_frame_stream_header(out, 2, 0, 3, 0), sizeof a);
  ck_assert_mem_eq(out, a, sizeof a);
  const uint8_t b[] = {0x0f, 0x01, 0x40, 0x64, 0x7f, 0xe8};
  ck_assert_uint_eq(qmux_frame_stream_header(out, 1, 100, 16360, 1), sizeof b);
  ck_assert_mem_eq(out, b, sizeof b);
  ck_assert_uint_le(qmux_frame_stream_header(out, 0x3fffffffffffffffULL, 0x3fffffffffffffffULL, 0x3fffffffffffffffULL, 1),
                    QMUX_STREAM_HEADER_MAX);
  ck_assert_uint_eq(qmux_frame_stream_header(out, 1ULL << 62, 0, 0, 0), 0);
  /* control frames */
  qmux_frame f = {.type = QMUX_RESET_STREAM, .stream_id = 3, .code = 13, .value = 300};
  const uint8_t c[] = {0x04, 0x03, 0x0d, 0x41, 0x2c};
  ck_assert_uint_eq(qmux_frame_encode(out, &f), sizeof c);
  ck_assert_mem_eq(out, c, sizeof c);
  f = (qmux_frame){.type = QMUX_STOP_SENDING, .stream_id = 2, .code = 0};
  const uint8_t d[] = {0x05, 0x02, 0x00};
  ck_assert_uint_eq(qmux_frame_encode(out, &f), sizeof d);
  ck_assert_mem_eq(out, d, sizeof d);
  f = (qmux_frame){.type = QMUX_MAX_STREAMS_UNI, .value = 1024};
  const uint8_t e[] = {0x13, 0x44, 0x00};
  ck_assert_uint_eq(qmux_frame_encode(out, &f), sizeof e);
  ck_assert_mem_eq(out, e, sizeof e);
  f = (qmux_frame){.type = QMUX_MAX_STREAM_DATA, .stream_id = 1, .value = 1024};
  const uint8_t g[] = {0x11, 0x01, 0x44, 0x00};
  ck_assert_uint_eq(qmux_frame_encode(out, &f), sizeof g);
  ck_assert_mem_eq(out, g, sizeof g);
  f = (qmux_frame){.type = QMUX_MAX_DATA, .value = 1048576};
  const uint8_t h[] = {0x10, 0x80, 0x10, 0x00, 0x00};
  ck_assert_uint_eq(qmux_frame_encode(out, &f), sizeof h);
  ck_assert_mem_eq(out, h, sizeof h);
  f = (qmux_frame){.type = QMUX_PING_RESPONSE, .value = 7};
  const uint8_t i[] = {0xf4, 0x8c, 0x67, 0x52, 0x9e, 0xf8, 0xc7, 0xbe, 0x07};
  ck_assert_uint_eq(qmux_frame_encode(out, &f), sizeof i);
  ck_assert_mem_eq(out, i, sizeof i);
  /* not control frames, or values out of range */
  f = (qmux_frame){.type = QMUX_STREAM};
  ck_assert_uint_eq(qmux_frame_encode(out, &f), 0);
  f = (qmux_frame){.type = QMUX_MAX_DATA, .value = 1ULL << 62};
  ck_assert_uint_eq(qmux_frame_encode(out, &f), 0);
  /* what we encode decodes to the same frame */
  f = (qmux_frame){.type = QMUX_STREAM_DATA_BLOCKED, .stream_id = 6, .value = 99};
  size_t n = qmux_frame_encode(out, &f);
  qmux_frame back = decode1(out, n);
  ck_assert_uint_eq(back.stream_id, 6);
  ck_assert_uint_eq(back.value, 99);
}
END_TEST

START_TEST(test_encode_close) {
  uint8_t out[64];
  const uint8_t a[] = {0x1c, 0x07, 0x00, 0x01, 'x'};
  ck_assert_uint_eq(qmux_frame_close(out, sizeof out, 0, 7, "x"), sizeof a);
  ck_assert_mem_eq(out, a, sizeof a);
  const uint8_t b[] = {0x1d, 0x41, 0x00, 0x03, 'b', 'y', 'e'};
  ck_assert_uint_eq(qmux_frame_close(out, sizeof out, 1, 0x100, "bye"), sizeof b);
  ck_assert_mem_eq(out, b, sizeof b);
  const uint8_t c[] = {0x1d, 0x00, 0x00};
  ck_assert_uint_eq(qmux_frame_close(out, sizeof out, 1, 0, NULL), sizeof c);
  ck_assert_mem_eq(out, c, sizeof c);
  /* the reason is cut to fit, never inside a UTF-8 character */
  ck_assert_uint_eq(qmux_frame_close(out, 8, 1, 0, "abcdefghij"), 8);
  ck_assert_uint_eq(out[2], 5);
  size_t n = qmux_frame_close(out, 7, 1, 0, "abc\xc3\xa9z"); /* room for 4 reason bytes: "abc" + half of e-acute */
  ck_assert_uint_eq(n, 6);
  ck_assert_uint_eq(out[2], 3);
  ck_assert_uint_eq(qmux_frame_close(out, 2, 0, 7, "x"), 0);
  /* a long reason: the length takes two bytes */
  char r[200];
  memset(r, 'r', sizeof r - 1);
  r[sizeof r - 1] = 0;
  uint8_t big[140];
  n = qmux_frame_close(big, sizeof big, 0, 10, r);
  ck_assert_uint_le(n, sizeof big);
  qmux_frame f = decode1(big, n);
  ck_assert_uint_eq(f.code, 10);
  ck_assert_uint_eq(f.len, n - 5);
}
END_TEST

int main(void) {
  Suite *s = suite_create("qmux");
  TCase *t = tcase_create("frames");
  tcase_add_test(t, test_stream);
  tcase_add_test(t, test_stream_control);
  tcase_add_test(t, test_flow_control);
  tcase_add_test(t, test_close_ping_padding);
  tcase_add_test(t, test_params);
  tcase_add_test(t, test_encode);
  tcase_add_test(t, test_encode_close);
  suite_add_tcase(s, t);
  SRunner *r = srunner_create(s);
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
