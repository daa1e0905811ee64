/* Unit tests: the "webtransport" WebSocket framing (byte vectors, truncated and malformed messages),
 * the RFC 6455 message headers the server writes, and the opening handshake. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ws/ws_frame.h"
#include "ws/ws_handshake.h"

static const char *const test_alpns[] = {"moq-lite-04", "moql"};

/* ---- decoding ---------------------------------------------------------------------------- */

START_TEST(test_decode_stream) {
  /* STREAM on client bidi stream 0 carrying "hi" */
  const uint8_t a[] = {0x08, 0x00, 'h', 'i'};
  ws_frame f;
  ck_assert_int_eq(ws_frame_decode(a, sizeof a, &f), WS_FRAME_OK);
  ck_assert_uint_eq(f.type, WS_FRAME_STREAM);
  ck_assert_int_eq(f.fin, 0);
  ck_assert_uint_eq(f.stream_id, 0);
  ck_assert_uint_eq(f.len, 2);
  ck_assert_ptr_eq(f.data, a + 2);
  /* STREAM + FIN, 2-byte id 66 (client uni), empty payload */
  const uint8_t b[] = {0x09, 0x40, 0x42};
  ck_assert_int_eq(ws_frame_decode(b, sizeof b, &f), WS_FRAME_OK);
  ck_assert_uint_eq(f.type, WS_FRAME_STREAM);
  ck_assert_int_eq(f.fin, 1);
  ck_assert_uint_eq(f.stream_id, 66);
  ck_assert_uint_eq(f.len, 0);
  /* an 8-byte id */
  const uint8_t c[] = {0x08, 0xc0, 0, 0, 0, 0x40, 0, 0, 0x02, 0xff};
  ck_assert_int_eq(ws_frame_decode(c, sizeof c, &f), WS_FRAME_OK);
  ck_assert_uint_eq(f.stream_id, 0x40000002ULL);
  ck_assert_uint_eq(f.len, 1);
  ck_assert_uint_eq(f.data[0], 0xff);
}
END_TEST

START_TEST(test_decode_control) {
  ws_frame f;
  /* RESET_STREAM stream 3 code 2; STOP_SENDING stream 4 code 300 (2-byte varint) */
  const uint8_t r[] = {0x04, 0x03, 0x02};
  ck_assert_int_eq(ws_frame_decode(r, sizeof r, &f), WS_FRAME_OK);
  ck_assert_uint_eq(f.type, WS_FRAME_RESET_STREAM);
  ck_assert_uint_eq(f.stream_id, 3);
  ck_assert_uint_eq(f.code, 2);
  const uint8_t s[] = {0x05, 0x04, 0x41, 0x2c};
  ck_assert_int_eq(ws_frame_decode(s, sizeof s, &f), WS_FRAME_OK);
  ck_assert_uint_eq(f.type, WS_FRAME_STOP_SENDING);
  ck_assert_uint_eq(f.stream_id, 4);
  ck_assert_uint_eq(f.code, 300);
  /* APPLICATION_CLOSE code 0 "bye"; code 9 and no reason */
  const uint8_t c[] = {0x1d, 0x00, 'b', 'y', 'e'};
  ck_assert_int_eq(ws_frame_decode(c, sizeof c, &f), WS_FRAME_OK);
  ck_assert_uint_eq(f.type, WS_FRAME_APPLICATION_CLOSE);
  ck_assert_uint_eq(f.code, 0);
  ck_assert_uint_eq(f.len, 3);
  ck_assert_mem_eq(f.data, "bye", 3);
  const uint8_t d[] = {0x1d, 0x09};
  ck_assert_int_eq(ws_frame_decode(d, sizeof d, &f), WS_FRAME_OK);
  ck_assert_uint_eq(f.code, 9);
  ck_assert_uint_eq(f.len, 0);
}
END_TEST

START_TEST(test_decode_malformed) {
  ws_frame f;
  ck_assert_int_eq(ws_frame_decode((const uint8_t *)"", 0, &f), WS_FRAME_ERR_EMPTY);
  /* unknown types, including the qmux-only ones (PADDING, MAX_DATA, STREAM with LEN/OFF bits) */
  const uint8_t types[] = {0x00, 0x01, 0x06, 0x0a, 0x0c, 0x0f, 0x10, 0x1c, 0x1e, 0x30, 0x3f, 0xff};
  for (size_t i = 0; i < sizeof types; i++) {
    uint8_t m[3] = {types[i], 0x00, 0x00};
    ck_assert_int_eq(ws_frame_decode(m, sizeof m, &f), WS_FRAME_ERR_TYPE);
  }
  /* every truncation inside a varint */
  const uint8_t stream[] = {0x08, 0x80, 0x00, 0x00, 0x05};
  for (size_t n = 1; n < sizeof stream; n++)
    ck_assert_int_eq(ws_frame_decode(stream, n, &f), WS_FRAME_ERR_TRUNCATED);
  ck_assert_int_eq(ws_frame_decode(stream, sizeof stream, &f), WS_FRAME_OK);
  const uint8_t reset[] = {0x04, 0x40, 0x05, 0x80, 0x00, 0x01, 0x00};
  for (size_t n = 1; n < sizeof reset; n++)
    ck_assert_int_eq(ws_frame_decode(reset, n, &f), WS_FRAME_ERR_TRUNCATED);
  ck_assert_int_eq(ws_frame_decode(reset, sizeof reset, &f), WS_FRAME_OK);
  ck_assert_uint_eq(f.stream_id, 5);
  ck_assert_uint_eq(f.code, 256);
  const uint8_t stop[] = {0x05, 0x07};
  ck_assert_int_eq(ws_frame_decode(stop, sizeof stop, &f), WS_FRAME_ERR_TRUNCATED);
  const uint8_t close[] = {0x1d, 0xc0, 0x00};
  ck_assert_int_eq(ws_frame_decode(close, sizeof close, &f), WS_FRAME_ERR_TRUNCATED);
  ck_assert_int_eq(ws_frame_decode(close, 1, &f), WS_FRAME_ERR_TRUNCATED);
  /* bytes after RESET_STREAM / STOP_SENDING (the qmux RESET_STREAM's final size, say) */
  const uint8_t reset_more[] = {0x04, 0x01, 0x00, 0x10};
  ck_assert_int_eq(ws_frame_decode(reset_more, sizeof reset_more, &f), WS_FRAME_ERR_TRAILING);
  const uint8_t stop_more[] = {0x05, 0x01, 0x00, 0x00};
  ck_assert_int_eq(ws_frame_decode(stop_more, sizeof stop_more, &f), WS_FRAME_ERR_TRAILING);
  /* names for logs */
  ck_assert_str_eq(ws_frame_error_name(WS_FRAME_ERR_TYPE), "unknown frame type");
  ck_assert_str_eq(ws_frame_error_name(WS_FRAME_ERR_TRUNCATED), "truncated varint");
}
END_TEST

/* ---- encoding ---------------------------------------------------------------------------- */

START_TEST(test_encode_stream_header) {
  uint8_t b[WS_STREAM_HEADER_MAX];
  ck_assert_uint_eq(ws_frame_stream_header(b, 3, 0), 2);
  ck_assert_mem_eq(b, "\x08\x03", 2);
  ck_assert_uint_eq(ws_frame_stream_header(b, 3, 1), 2);
  ck_assert_mem_eq(b, "\x09\x03", 2);
  ck_assert_uint_eq(ws_frame_stream_header(b, 16383, 0), 3);
  ck_assert_mem_eq(b, "\x08\x7f\xff", 3);
  ck_assert_uint_eq(ws_frame_stream_header(b, 1ULL << 40, 1), 9);
  ck_assert_mem_eq(b, "\x09\xc0\x00\x01\x00\x00\x00\x00\x00", 9);
  ck_assert_uint_eq(ws_frame_stream_header(b, 1ULL << 62, 0), 0); /* not a varint */
  /* round trip through the decoder with a payload */
  uint8_t m[16];
  size_t n = ws_frame_stream_header(m, 7, 1);
  memcpy(m + n, "abc", 3);
  ws_frame f;
  ck_assert_int_eq(ws_frame_decode(m, n + 3, &f), WS_FRAME_OK);
  ck_assert_uint_eq(f.stream_id, 7);
  ck_assert_int_eq(f.fin, 1);
  ck_assert_uint_eq(f.len, 3);
}
END_TEST

START_TEST(test_encode_control) {
  uint8_t b[WS_CONTROL_FRAME_MAX];
  ck_assert_uint_eq(ws_frame_stream_control(b, WS_FRAME_RESET_STREAM, 3, 2), 3);
  ck_assert_mem_eq(b, "\x04\x03\x02", 3);
  ck_assert_uint_eq(ws_frame_stream_control(b, WS_FRAME_STOP_SENDING, 4, 300), 4);
  ck_assert_mem_eq(b, "\x05\x04\x41\x2c", 4);
  ck_assert_uint_eq(ws_frame_stream_control(b, WS_FRAME_STREAM, 4, 0), 0);
  ck_assert_uint_eq(ws_frame_stream_control(b, WS_FRAME_RESET_STREAM, 4, 1ULL << 62), 0);
  ck_assert_uint_eq(ws_frame_stream_control(b, WS_FRAME_RESET_STREAM, 1ULL << 61, 1ULL << 61), 17);
  ws_frame f;
  ck_assert_int_eq(ws_frame_decode(b, 17, &f), WS_FRAME_OK);
  ck_assert_uint_eq(f.stream_id, 1ULL << 61);
  ck_assert_uint_eq(f.code, 1ULL << 61);
}
END_TEST

START_TEST(test_encode_application_close) {
  uint8_t b[64];
  ck_assert_uint_eq(ws_frame_application_close(b, sizeof b, 0, "bye"), 5);
  ck_assert_mem_eq(b, "\x1d\x00" "bye", 5);
  ck_assert_uint_eq(ws_frame_application_close(b, sizeof b, 300, NULL), 3);
  ck_assert_mem_eq(b, "\x1d\x41\x2c", 3);
  /* cut to fit, never inside a UTF-8 character: "aé" is 61 c3 a9 */
  ck_assert_uint_eq(ws_frame_application_close(b, 4, 1, "a\xc3\xa9"), 3);
  ck_assert_mem_eq(b, "\x1d\x01" "a", 3);
  ck_assert_uint_eq(ws_frame_application_close(b, 5, 1, "a\xc3\xa9"), 5);
  ck_assert_uint_eq(ws_frame_application_close(b, 1, 1, "x"), 0);
}
END_TEST

START_TEST(test_message_header) {
  uint8_t b[WS_MESSAGE_HEADER_MAX];
  ck_assert_uint_eq(ws_frame_message_header(b, 2, 0), 2);
  ck_assert_mem_eq(b, "\x82\x00", 2);
  ck_assert_uint_eq(ws_frame_message_header(b, 2, 125), 2);
  ck_assert_mem_eq(b, "\x82\x7d", 2);
  ck_assert_uint_eq(ws_frame_message_header(b, 2, 126), 4);
  ck_assert_mem_eq(b, "\x82\x7e\x00\x7e", 4);
  ck_assert_uint_eq(ws_frame_message_header(b, 2, 65535), 4);
  ck_assert_mem_eq(b, "\x82\x7e\xff\xff", 4);
  ck_assert_uint_eq(ws_frame_message_header(b, 2, 65536), 10);
  ck_assert_mem_eq(b, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
  /* the largest STREAM message: 1 + 8 + 16360 */
  ck_assert_uint_eq(ws_frame_message_header(b, 2, 1 + 8 + WS_STREAM_PAYLOAD_MAX), 4);
  ck_assert_mem_eq(b, "\x82\x7e\x3f\xf1", 4);
}
END_TEST

/* ---- handshake --------------------------------------------------------------------------- */

START_TEST(test_accept_key) {
  char out[29];
  /* RFC 6455 section 1.3 */
  ck_assert_int_eq(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
  ck_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}
END_TEST

typedef struct req_fx {
  http_header h[8];
  http_request r;
} req_fx;

static void req_init(req_fx *x) {
  memset(x, 0, sizeof *x);
  x->h[0] = (http_header){"Host", "127.0.0.1"};
  x->h[1] = (http_header){"Connection", "keep-alive, Upgrade"};
  x->h[2] = (http_header){"Upgrade", "websocket"};
  x->h[3] = (http_header){"Sec-WebSocket-Version", "13"};
  x->h[4] = (http_header){"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="};
  x->h[5] = (http_header){"Sec-WebSocket-Protocol", "webtransport"};
  x->r.method = "GET";
  x->r.path = "/anon";
  x->r.query = "";
  x->r.headers = x->h;
  x->r.header_count = 6;
  x->r.http_major = 1;
  x->r.http_minor = 1;
}

START_TEST(test_handshake_accept) {
  req_fx x;
  req_init(&x);
  ws_handshake h;
  ck_assert(ws_handshake_is_websocket(&x.r));
  ck_assert_int_eq(ws_handshake_check(&x.r, test_alpns, 2, &h), 0);
  ck_assert_int_eq(h.status, 101);
  ck_assert_str_eq(h.protocol, "webtransport");
  ck_assert_int_eq(h.framing, WS_FRAMING_WEBTRANSPORT);
  ck_assert_ptr_null(h.alpn);
  char out[512];
  size_t n = ws_handshake_response(&h, out, sizeof out);
  ck_assert_uint_gt(n, 0);
  ck_assert_str_eq(out, "HTTP/1.1 101 Switching Protocols\r\n"
                        "Upgrade: websocket\r\n"
                        "Connection: Upgrade\r\n"
                        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                        "Sec-WebSocket-Protocol: webtransport\r\n\r\n");
  ck_assert_uint_eq(ws_handshake_response(&h, out, 40), 0);
  /* the protocol in a second header line, case-insensitive header tokens elsewhere */
  x.h[5] = (http_header){"Sec-WebSocket-Protocol", "foo"};
  x.h[6] = (http_header){"sec-websocket-protocol", " webtransport "};
  x.h[2] = (http_header){"upgrade", "WebSocket"};
  x.r.header_count = 7;
  ck_assert_int_eq(ws_handshake_check(&x.r, test_alpns, 2, &h), 0);
  ck_assert_str_eq(h.protocol, "webtransport");
}
END_TEST

/* The server's order: qmux-01.<alpn>, qmux-00.<alpn> for each ALPN in the caller's order, then
 * qmux-01, qmux-00, webtransport; whatever order the client lists them in. */
START_TEST(test_handshake_subprotocols) {
  static const struct {
    const char *offer, *chosen, *alpn;
    ws_framing framing;
  } cases[] = {
      {"qmux-00, webtransport", "qmux-00", NULL, WS_FRAMING_QMUX00},
      {"webtransport, qmux-01, qmux-00", "qmux-01", NULL, WS_FRAMING_QMUX01},
      {"qmux-00, qmux-00.moql, qmux-01.moql", "qmux-01.moql", "moql", WS_FRAMING_QMUX01},
      {"qmux-01.moql, qmux-00.moq-lite-04", "qmux-00.moq-lite-04", "moq-lite-04", WS_FRAMING_QMUX00},
      {"qmux-01.moq-lite-04,qmux-00.moq-lite-04", "qmux-01.moq-lite-04", "moq-lite-04", WS_FRAMING_QMUX01},
      {"qmux-01.moq-lite-03, qmux-00", "qmux-00", NULL, WS_FRAMING_QMUX00}, /* lite-03 not served here */
      {"QMUX-00, webtransport", "webtransport", NULL, WS_FRAMING_WEBTRANSPORT}, /* case-sensitive */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    req_fx x;
    req_init(&x);
    x.h[5].value = cases[i].offer;
    ws_handshake h;
    ck_assert_int_eq(ws_handshake_check(&x.r, test_alpns, 2, &h), 0);
    ck_assert_str_eq(h.protocol, cases[i].chosen);
    ck_assert_int_eq(h.framing, cases[i].framing);
    if (cases[i].alpn) ck_assert_str_eq(h.alpn, cases[i].alpn);
    else ck_assert_ptr_null(h.alpn);
    char out[512];
    ck_assert_uint_gt(ws_handshake_response(&h, out, sizeof out), 0);
    char line[128];
    snprintf(line, sizeof line, "Sec-WebSocket-Protocol: %s\r\n", cases[i].chosen);
    ck_assert_ptr_nonnull(strstr(out, line));
  }
  /* no Sec-WebSocket-Protocol at all: accepted, "webtransport" framing, none in the answer */
  req_fx x;
  req_init(&x);
  x.r.header_count = 5;
  ws_handshake h;
  ck_assert_int_eq(ws_handshake_check(&x.r, test_alpns, 2, &h), 0);
  ck_assert_str_eq(h.protocol, "");
  ck_assert_int_eq(h.framing, WS_FRAMING_WEBTRANSPORT);
  char out[512];
  ck_assert_uint_gt(ws_handshake_response(&h, out, sizeof out), 0);
  ck_assert_ptr_null(strstr(out, "Sec-WebSocket-Protocol"));
  /* no ALPN list: only the bare ones */
  req_init(&x);
  x.h[5].value = "qmux-01.moql";
  ck_assert_int_eq(ws_handshake_check(&x.r, NULL, 0, &h), -1);
}
END_TEST

START_TEST(test_handshake_refused) {
  req_fx x;
  ws_handshake h;
  /* only subprotocols we do not speak: 400 */
  req_init(&x);
  x.h[5].value = "qmux-02";
  ck_assert_int_eq(ws_handshake_check(&x.r, test_alpns, 2, &h), -1);
  ck_assert_int_eq(h.status, 400);
  ck_assert_ptr_nonnull(strstr(h.reason, "webtransport"));
  req_init(&x);
  x.h[5].value = "qmux-02, Webtransport, webtransport.moq-lite-04, qmux-00.moq-lite-99, qmux-01.";
  ck_assert_int_eq(ws_handshake_check(&x.r, test_alpns, 2, &h), -1);
  ck_assert_int_eq(h.status, 400);
  /* another WebSocket version: 426 and the version we speak */
  req_init(&x);
  x.h[3].value = "8";
  ck_assert_int_eq(ws_handshake_check(&x.r, test_alpns, 2, &h), -1);
  ck_assert_int_eq(h.status, 426);
  http_response resp;
  memset(&resp, 0, sizeof resp);
  ws_handshake_refusal(&h, &resp);
  ck_assert_int_eq(resp.status, 426);
  ck_assert_int_eq(resp.close, 1);
  ck_assert_ptr_nonnull(strstr(resp.extra, "Sec-WebSocket-Version: 13\r\n"));
  ck_assert_uint_eq(resp.body_len, strlen(h.reason) + 1);
  ck_assert_mem_eq(resp.body, h.reason, strlen(h.reason));
  if (resp.body_owned) free((void *)resp.body);
  /* bad keys */
  const char *keys[] = {"", "abc", "dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25jZQ!!", "dGhlIHNhbXBsZSBub25j*Q=="};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    req_init(&x);
    x.h[4].value = keys[i];
    ck_assert_int_eq(ws_handshake_check(&x.r, test_alpns, 2, &h), -1);
    ck_assert_int_eq(h.status, 400);
  }
  req_init(&x);
  x.h[4].name = "X-Nothing";
  ck_assert_int_eq(ws_handshake_check(&x.r, test_alpns, 2, &h), -1);
  /* not a GET, HTTP/1.0, no Connection: Upgrade, not websocket */
  req_init(&x);
  x.r.method = "POST";
  ck_assert_int_eq(ws_handshake_check(&x.r, test_alpns, 2, &h), -1);
  ck_assert_int_eq(h.status, 405);
  req_init(&x);
  x.r.http_minor = 0;
  ck_assert_int_eq(ws_handshake_check(&x.r, test_alpns, 2, &h), -1);
  ck_assert_int_eq(h.status, 400);
  req_init(&x);
  x.h[1].value = "keep-alive";
  ck_assert_int_eq(ws_handshake_check(&x.r, test_alpns, 2, &h), -1);
  req_init(&x);
  x.h[2].value = "h2c";
  ck_assert(!ws_handshake_is_websocket(&x.r));
  ck_assert_int_eq(ws_handshake_check(&x.r, test_alpns, 2, &h), -1);
  ck_assert_int_eq(h.status, 400);
}
END_TEST

int main(void) {
  Suite *s = suite_create("ws");
  TCase *t = tcase_create("frame");
  tcase_add_test(t, test_decode_stream);
  tcase_add_test(t, test_decode_control);
  tcase_add_test(t, test_decode_malformed);
  tcase_add_test(t, test_encode_stream_header);
  tcase_add_test(t, test_encode_control);
  tcase_add_test(t, test_encode_application_close);
  tcase_add_test(t, test_message_header);
  suite_add_tcase(s, t);
  TCase *h = tcase_create("handshake");
  tcase_add_test(h, test_accept_key);
  tcase_add_test(h, test_handshake_accept);
  tcase_add_test(h, test_handshake_refused);
  tcase_add_test(h, test_handshake_subprotocols);
  suite_add_tcase(s, h);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
