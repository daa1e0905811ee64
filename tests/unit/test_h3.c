/* Unit tests: the HTTP/3 + WebTransport codec (h3_frame): frames, SETTINGS, stream headers,
 * capsules, datagrams, error code mapping and structured fields, with byte vectors including
 * truncated and malformed input. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "h3/h3_fields.h"
#include "h3/h3_frame.h"

/* ---- frames ------------------------------------------------------------------------------- */

START_TEST(test_frame_header) {
  h3_frame_hdr h;
  const uint8_t a[] = {0x04, 0x00};
  ck_assert_int_eq(h3_frame_hdr_decode(a, sizeof a, &h), 2);
  ck_assert_uint_eq(h.type, H3_FRAME_SETTINGS);
  ck_assert_uint_eq(h.len, 0);
  /* a 2-byte type and a non-minimal 4-byte length */
  const uint8_t b[] = {0x40, 0x41, 0x80, 0x00, 0x00, 0x05, 'x'};
  ck_assert_int_eq(h3_frame_hdr_decode(b, sizeof b, &h), 6);
  ck_assert_uint_eq(h.type, 0x41);
  ck_assert_uint_eq(h.len, 5);
  ck_assert_uint_eq(h.hdr_len, 6);
  /* cut short anywhere */
  ck_assert_int_eq(h3_frame_hdr_decode(b, 0, &h), H3_NEED_MORE);
  ck_assert_int_eq(h3_frame_hdr_decode(b, 1, &h), H3_NEED_MORE);
  ck_assert_int_eq(h3_frame_hdr_decode(b, 2, &h), H3_NEED_MORE);
  ck_assert_int_eq(h3_frame_hdr_decode(b, 5, &h), H3_NEED_MORE);
  ck_assert_int_eq(h3_frame_hdr_decode(a, 1, &h), H3_NEED_MORE);
  uint8_t out[16];
  ck_assert_int_eq(h3_frame_hdr_encode(out, sizeof out, H3_FRAME_HEADERS, 300), 3);
  const uint8_t want[] = {0x01, 0x41, 0x2c};
  ck_assert_mem_eq(out, want, 3);
  ck_assert_int_eq(h3_frame_hdr_encode(out, 2, H3_FRAME_HEADERS, 300), H3_NOSPACE);
  ck_assert_int_eq(h3_frame_hdr_encode(out, sizeof out, 1ULL << 62, 0), H3_NOSPACE);
}
END_TEST

START_TEST(test_grease) {
  ck_assert(h3_is_grease(0x21));
  ck_assert(h3_is_grease(0x21 + 0x1f));
  ck_assert(h3_is_grease(0x21 + 0x1f * 1000));
  ck_assert(!h3_is_grease(0x20));
  ck_assert(!h3_is_grease(0x00));
  ck_assert(!h3_is_grease(0x41));
}
END_TEST

/* ---- SETTINGS ----------------------------------------------------------------------------- */

START_TEST(test_settings_chromium) {
  /* what Chromium sends: QPACK_MAX_TABLE_CAPACITY 65536, H3_DATAGRAM 1 (both ids), ENABLE_WEBTRANSPORT
   * 1, and a GREASE setting */
  const uint8_t p[] = {0x01, 0x80, 0x01, 0x00, 0x00,       /* 0x01 = 65536 */
                       0x33, 0x01,                         /* 0x33 = 1 */
                       0x80, 0xff, 0xd2, 0x77, 0x01,       /* 0xffd277 = 1 */
                       0xab, 0x60, 0x37, 0x42, 0x01,       /* 0x2b603742 = 1 */
                       0x21, 0x00,                         /* GREASE */
                       0x7f, 0xff, 0x44, 0x02, 0x12, 0x34}; /* unknown 0x3fff = 0x1234 */
  h3_settings s;
  const char *why = NULL;
  ck_assert_int_eq(h3_settings_decode(p, sizeof p, &s, &why), 0);
  ck_assert_uint_eq(s.qpack_max_table_capacity, 65536);
  ck_assert_uint_eq(s.h3_datagram, 1);
  ck_assert_uint_eq(s.h3_datagram_draft04, 1);
  ck_assert_uint_eq(s.enable_webtransport, 1);
  ck_assert_uint_eq(s.enable_connect_protocol, 0);
  ck_assert(h3_settings_webtransport(&s));
  ck_assert_int_eq(h3_settings_decode(p, 0, &s, &why), 0); /* empty SETTINGS */
  ck_assert(!h3_settings_webtransport(&s));
}
END_TEST

START_TEST(test_settings_malformed) {
  h3_settings s;
  const char *why = NULL;
  const uint8_t dup[] = {0x33, 0x01, 0x33, 0x01};
  ck_assert_int_eq(h3_settings_decode(dup, sizeof dup, &s, &why), H3_ERR);
  ck_assert_ptr_nonnull(why);
  const uint8_t h2[] = {0x02, 0x00};
  ck_assert_int_eq(h3_settings_decode(h2, sizeof h2, &s, &why), H3_ERR);
  const uint8_t h2b[] = {0x00, 0x00};
  ck_assert_int_eq(h3_settings_decode(h2b, sizeof h2b, &s, &why), H3_ERR);
  const uint8_t novalue[] = {0x33};
  ck_assert_int_eq(h3_settings_decode(novalue, sizeof novalue, &s, &why), H3_ERR);
  const uint8_t cutid[] = {0x80, 0xff};
  ck_assert_int_eq(h3_settings_decode(cutid, sizeof cutid, &s, &why), H3_ERR);
  const uint8_t cutvalue[] = {0x01, 0x80, 0x01};
  ck_assert_int_eq(h3_settings_decode(cutvalue, sizeof cutvalue, &s, &why), H3_ERR);
  /* duplicate unknown ids are not ours to judge */
  const uint8_t dupunknown[] = {0x21, 0x00, 0x21, 0x01};
  ck_assert_int_eq(h3_settings_decode(dupunknown, sizeof dupunknown, &s, &why), 0);
}
END_TEST

START_TEST(test_settings_encode) {
  h3_settings in = {.enable_connect_protocol = 1, .h3_datagram = 1, .h3_datagram_draft04 = 1,
                    .enable_webtransport = 1, .wt_max_sessions = 1, .wt_max_sessions_draft = 1};
  uint8_t out[128];
  int n = h3_settings_encode(out, sizeof out, &in, 7);
  ck_assert_int_gt(n, 2);
  ck_assert_uint_eq(out[0], H3_FRAME_SETTINGS);
  h3_frame_hdr h;
  int hl = h3_frame_hdr_decode(out, (size_t)n, &h);
  ck_assert_int_gt(hl, 0);
  ck_assert_uint_eq(h.len, (size_t)n - (size_t)hl);
  h3_settings back;
  const char *why = NULL;
  ck_assert_int_eq(h3_settings_decode(out + hl, (size_t)h.len, &back, &why), 0);
  ck_assert_mem_eq(&back, &in, sizeof in);
  ck_assert(h3_settings_webtransport(&back));
  /* the first setting is ENABLE_CONNECT_PROTOCOL = 1 */
  ck_assert_uint_eq(out[hl], 0x08);
  ck_assert_uint_eq(out[hl + 1], 0x01);
  ck_assert_int_eq(h3_settings_encode(out, 4, &in, 0), H3_NOSPACE);
  /* WebTransport capability: datagrams and one of the WebTransport settings */
  h3_settings only_max = {.h3_datagram = 1, .wt_max_sessions = 4};
  ck_assert(h3_settings_webtransport(&only_max));
  h3_settings no_dgram = {.enable_webtransport = 1};
  ck_assert(!h3_settings_webtransport(&no_dgram));
}
END_TEST

/* ---- stream headers ----------------------------------------------------------------------- */

START_TEST(test_stream_header) {
  h3_stream_hdr h;
  const uint8_t ctrl[] = {0x00, 0x04, 0x00};
  ck_assert_int_eq(h3_stream_hdr_decode(ctrl, sizeof ctrl, 1, &h), 0);
  ck_assert_uint_eq(h.type, H3_UNI_CONTROL);
  ck_assert_uint_eq(h.used, 1);
  const uint8_t wtu[] = {0x40, 0x54, 0x00, 'm'};
  ck_assert_int_eq(h3_stream_hdr_decode(wtu, sizeof wtu, 1, &h), 0);
  ck_assert_uint_eq(h.type, H3_UNI_WT);
  ck_assert_uint_eq(h.session_id, 0);
  ck_assert_uint_eq(h.used, 3);
  const uint8_t wtb[] = {0x40, 0x41, 0x04, 0x01};
  ck_assert_int_eq(h3_stream_hdr_decode(wtb, sizeof wtb, 0, &h), 0);
  ck_assert_uint_eq(h.type, H3_FRAME_WT_STREAM);
  ck_assert_uint_eq(h.session_id, 4);
  ck_assert_uint_eq(h.used, 3);
  /* a request stream: its first frame is left in place */
  const uint8_t req[] = {0x01, 0x05, 0, 0, 0xd1, 0xd7, 0x50};
  ck_assert_int_eq(h3_stream_hdr_decode(req, sizeof req, 0, &h), 0);
  ck_assert_uint_eq(h.type, H3_FRAME_HEADERS);
  ck_assert_uint_eq(h.used, 0);
  /* GREASE / unknown uni types are reported, for the caller to ignore */
  const uint8_t gr[] = {0x21};
  ck_assert_int_eq(h3_stream_hdr_decode(gr, sizeof gr, 1, &h), 0);
  ck_assert_uint_eq(h.type, 0x21);
  /* truncated */
  ck_assert_int_eq(h3_stream_hdr_decode(wtu, 0, 1, &h), H3_NEED_MORE);
  ck_assert_int_eq(h3_stream_hdr_decode(wtu, 1, 1, &h), H3_NEED_MORE);
  ck_assert_int_eq(h3_stream_hdr_decode(wtu, 2, 1, &h), H3_NEED_MORE);
  ck_assert_int_eq(h3_stream_hdr_decode(wtb, 2, 0, &h), H3_NEED_MORE);
  const uint8_t longsid[] = {0x40, 0x41, 0x80, 0x00};
  ck_assert_int_eq(h3_stream_hdr_decode(longsid, sizeof longsid, 0, &h), H3_NEED_MORE);
  /* malformed: a session id that is not a client bidi stream */
  const uint8_t bad1[] = {0x40, 0x54, 0x01};
  ck_assert_int_eq(h3_stream_hdr_decode(bad1, sizeof bad1, 1, &h), H3_ERR);
  const uint8_t bad2[] = {0x40, 0x41, 0x02};
  ck_assert_int_eq(h3_stream_hdr_decode(bad2, sizeof bad2, 0, &h), H3_ERR);
  /* 0x54 on a bidi stream is a frame type, not a WebTransport signal */
  const uint8_t odd[] = {0x40, 0x54, 0x00};
  ck_assert_int_eq(h3_stream_hdr_decode(odd, sizeof odd, 0, &h), 0);
  ck_assert_uint_eq(h.used, 0);
  uint8_t out[16];
  ck_assert_int_eq(h3_stream_hdr_encode(out, sizeof out, 1, 0), 3);
  ck_assert_mem_eq(out, wtu, 3);
  ck_assert_int_eq(h3_stream_hdr_encode(out, sizeof out, 0, 4), 3);
  ck_assert_mem_eq(out, wtb, 3);
  ck_assert_int_eq(h3_stream_hdr_encode(out, 2, 0, 4), H3_NOSPACE);
}
END_TEST

/* ---- capsules ----------------------------------------------------------------------------- */

START_TEST(test_capsule_close) {
  const uint8_t c[] = {0x68, 0x43, 0x07, 0x00, 0x00, 0x00, 0x06, 'b', 'y', 'e'};
  h3_capsule cap;
  ck_assert_int_eq(h3_capsule_decode(c, sizeof c, 65536, &cap), 0);
  ck_assert_uint_eq(cap.type, H3_CAPSULE_CLOSE_WT_SESSION);
  ck_assert_uint_eq(cap.len, 7);
  ck_assert_uint_eq(cap.used, sizeof c);
  ck_assert_ptr_eq(cap.payload, c + 3);
  for (size_t n = 0; n < sizeof c; n++) ck_assert_int_eq(h3_capsule_decode(c, n, 65536, &cap), H3_NEED_MORE);
  ck_assert_int_eq(h3_capsule_decode(c, sizeof c, 6, &cap), H3_ERR); /* over the limit */
  uint32_t code;
  const uint8_t *reason;
  size_t rlen;
  ck_assert_int_eq(h3_close_session_decode(cap.payload, cap.len, &code, &reason, &rlen), 0);
  ck_assert_uint_eq(code, 6);
  ck_assert_uint_eq(rlen, 3);
  ck_assert_mem_eq(reason, "bye", 3);
  ck_assert_int_eq(h3_close_session_decode(cap.payload, 4, &code, &reason, &rlen), 0); /* no reason */
  ck_assert_uint_eq(rlen, 0);
  ck_assert_int_eq(h3_close_session_decode(cap.payload, 3, &code, &reason, &rlen), H3_ERR);
  const uint8_t badutf8[] = {0, 0, 0, 1, 'a', 0xff};
  ck_assert_int_eq(h3_close_session_decode(badutf8, sizeof badutf8, &code, &reason, &rlen), H3_ERR);
  const uint8_t cututf8[] = {0, 0, 0, 1, 0xc3};
  ck_assert_int_eq(h3_close_session_decode(cututf8, sizeof cututf8, &code, &reason, &rlen), H3_ERR);
  const uint8_t surrogate[] = {0, 0, 0, 1, 0xed, 0xa0, 0x80};
  ck_assert_int_eq(h3_close_session_decode(surrogate, sizeof surrogate, &code, &reason, &rlen), H3_ERR);
  const uint8_t okutf8[] = {0, 0, 0, 1, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80};
  ck_assert_int_eq(h3_close_session_decode(okutf8, sizeof okutf8, &code, &reason, &rlen), 0);
  uint8_t big[4 + 1025];
  memset(big, 'x', sizeof big);
  ck_assert_int_eq(h3_close_session_decode(big, 4 + 1024, &code, &reason, &rlen), 0);
  ck_assert_int_eq(h3_close_session_decode(big, sizeof big, &code, &reason, &rlen), H3_ERR);
}
END_TEST

START_TEST(test_capsule_close_encode) {
  uint8_t out[1100];
  const uint8_t want[] = {0x68, 0x43, 0x06, 0x01, 0x02, 0x03, 0x04, 'h', 'i'};
  ck_assert_int_eq(h3_close_session_encode(out, sizeof out, 0x01020304, "hi", 2), (int)sizeof want);
  ck_assert_mem_eq(out, want, sizeof want);
  ck_assert_int_eq(h3_close_session_encode(out, 5, 1, "hi", 2), H3_NOSPACE);
  /* a reason over 1024 bytes is cut, at a character boundary */
  char reason[1100];
  memset(reason, 'a', sizeof reason);
  reason[1023] = (char)0xc3; /* a 2-byte character across the limit */
  reason[1024] = (char)0xa9;
  int n = h3_close_session_encode(out, sizeof out, 9, reason, sizeof reason);
  h3_capsule cap;
  ck_assert_int_eq(h3_capsule_decode(out, (size_t)n, 65536, &cap), 0);
  ck_assert_uint_eq(cap.len, 4 + 1023);
  uint32_t code;
  const uint8_t *r;
  size_t rl;
  ck_assert_int_eq(h3_close_session_decode(cap.payload, cap.len, &code, &r, &rl), 0);
  ck_assert_uint_eq(code, 9);
  /* unknown capsules decode like any other */
  const uint8_t unknown[] = {0x21, 0x01, 0xaa, 0x68, 0x43};
  ck_assert_int_eq(h3_capsule_decode(unknown, sizeof unknown, 16, &cap), 0);
  ck_assert_uint_eq(cap.type, 0x21);
  ck_assert_uint_eq(cap.used, 3);
}
END_TEST

/* ---- datagrams ---------------------------------------------------------------------------- */

START_TEST(test_datagram) {
  const uint8_t d[] = {0x01, 'a', 'b'};
  uint64_t sid;
  const uint8_t *p;
  size_t n;
  ck_assert_int_eq(h3_datagram_decode(d, sizeof d, &sid, &p, &n), 0);
  ck_assert_uint_eq(sid, 4);
  ck_assert_uint_eq(n, 2);
  ck_assert_ptr_eq(p, d + 1);
  const uint8_t empty_payload[] = {0x00};
  ck_assert_int_eq(h3_datagram_decode(empty_payload, 1, &sid, &p, &n), 0);
  ck_assert_uint_eq(sid, 0);
  ck_assert_uint_eq(n, 0);
  ck_assert_int_eq(h3_datagram_decode(d, 0, &sid, &p, &n), H3_ERR);
  const uint8_t cut[] = {0x40};
  ck_assert_int_eq(h3_datagram_decode(cut, 1, &sid, &p, &n), H3_ERR);
  const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  ck_assert_int_eq(h3_datagram_decode(huge, sizeof huge, &sid, &p, &n), H3_ERR);
  uint8_t out[8];
  ck_assert_int_eq(h3_datagram_prefix_encode(out, sizeof out, 8), 1);
  ck_assert_uint_eq(out[0], 2);
  ck_assert_int_eq(h3_datagram_prefix_encode(out, sizeof out, 1), H3_ERR);
  ck_assert_int_eq(h3_datagram_prefix_encode(out, 0, 8), H3_NOSPACE);
}
END_TEST

/* ---- error codes -------------------------------------------------------------------------- */

START_TEST(test_wt_codes) {
  ck_assert_uint_eq(h3_wt_code_to_h3(0), H3_WT_CODE_FIRST);
  ck_assert_uint_eq(h3_wt_code_to_h3(0x1d), H3_WT_CODE_FIRST + 0x1d);
  ck_assert_uint_eq(h3_wt_code_to_h3(0x1e), H3_WT_CODE_FIRST + 0x1f); /* skips the GREASE value */
  ck_assert_uint_eq(h3_wt_code_to_h3(0xffffffffu), H3_WT_CODE_LAST);
  const uint32_t samples[] = {0, 1, 2, 6, 13, 0x1d, 0x1e, 0x1f, 1000, 123456789, 0xfffffffeu, 0xffffffffu};
  for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
    uint64_t h = h3_wt_code_to_h3(samples[i]);
    ck_assert(!h3_is_grease(h));
    uint32_t back = 0;
    ck_assert_int_eq(h3_wt_code_from_h3(h, &back), 0);
    ck_assert_uint_eq(back, samples[i]);
  }
  uint32_t c;
  ck_assert_int_eq(h3_wt_code_from_h3(H3_WT_CODE_FIRST - 1, &c), H3_ERR);
  ck_assert_int_eq(h3_wt_code_from_h3(H3_WT_CODE_LAST + 1, &c), H3_ERR);
  ck_assert_int_eq(h3_wt_code_from_h3(H3_WT_CODE_FIRST + 0x1e, &c), H3_ERR); /* a GREASE value */
  ck_assert_int_eq(h3_wt_code_from_h3(H3_NO_ERROR, &c), H3_ERR);
}
END_TEST

/* ---- structured fields -------------------------------------------------------------------- */

START_TEST(test_sf_list) {
  char buf[256];
  const char *items[8];
  const char *chromium = "\"moq-lite-04\", \"moq-lite-03\", \"moql\", \"moqt-17\", \"moqt-16\", \"moqt-15\"";
  ck_assert_int_eq(h3_sf_list_strings(chromium, strlen(chromium), buf, sizeof buf, items, 8), 6);
  ck_assert_str_eq(items[0], "moq-lite-04");
  ck_assert_str_eq(items[2], "moql");
  ck_assert_str_eq(items[5], "moqt-15");
  /* other member types and parameters are skipped; OWS (tabs) around commas */
  const char *mixed = "  \"a\";q=1;v=\"x\", tok/1:2;p, -42, 1.5, ?1, :aGk=:, (\"x\" y);z, \"b\"\t,\t\"c\\\"d\\\\e\"";
  ck_assert_int_eq(h3_sf_list_strings(mixed, strlen(mixed), buf, sizeof buf, items, 8), 3);
  ck_assert_str_eq(items[0], "a");
  ck_assert_str_eq(items[1], "b");
  ck_assert_str_eq(items[2], "c\"d\\e");
  ck_assert_int_eq(h3_sf_list_strings("", 0, buf, sizeof buf, items, 8), 0);
  ck_assert_int_eq(h3_sf_list_strings("   ", 3, buf, sizeof buf, items, 8), 0);
  /* the length bounds the input: no NUL needed */
  ck_assert_int_eq(h3_sf_list_strings("\"ab\"XYZ", 4, buf, sizeof buf, items, 8), 1);
  ck_assert_str_eq(items[0], "ab");
  /* malformed */
  const char *bad[] = {"\"a\",",      "\"a",        "\"a\\x\"", "\"a\" \"b\"", ",\"a\"", "\"a\";",  "\"a\";Q=1",
                       "(\"a\"",      "1.2345",     "-",        "?2",         ":a!:",  "@12",    "\"\x01\"",
                       "\"a\",,\"b\"", "12345678901234567", "\"\xc3\xa9\""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    ck_assert_msg(h3_sf_list_strings(bad[i], strlen(bad[i]), buf, sizeof buf, items, 8) == H3_ERR, "accepted %s", bad[i]);
  /* room */
  ck_assert_int_eq(h3_sf_list_strings(chromium, strlen(chromium), buf, sizeof buf, items, 2), H3_NOSPACE);
  ck_assert_int_eq(h3_sf_list_strings(chromium, strlen(chromium), buf, 10, items, 8), H3_NOSPACE);
}
END_TEST

START_TEST(test_sf_string) {
  char out[64];
  ck_assert_int_eq(h3_sf_string_parse("\"moq-lite-04\"", 13, out, sizeof out), 11);
  ck_assert_str_eq(out, "moq-lite-04");
  ck_assert_int_eq(h3_sf_string_parse(" \"x\";a=1 ", 9, out, sizeof out), 1);
  ck_assert_int_eq(h3_sf_string_parse("moq-lite-04", 11, out, sizeof out), H3_ERR); /* a token */
  ck_assert_int_eq(h3_sf_string_parse("\"a\" \"b\"", 7, out, sizeof out), H3_ERR);
  ck_assert_int_eq(h3_sf_string_parse("\"a", 2, out, sizeof out), H3_ERR);
  ck_assert_int_eq(h3_sf_string_parse("", 0, out, sizeof out), H3_ERR);
  ck_assert_int_eq(h3_sf_string_parse("\"abcdef\"", 8, out, 4), H3_NOSPACE);
  ck_assert_int_eq(h3_sf_string_quote("moq-lite-04", out, sizeof out), 13);
  ck_assert_str_eq(out, "\"moq-lite-04\"");
  ck_assert_int_eq(h3_sf_string_quote("a\"b\\", out, sizeof out), 8);
  ck_assert_str_eq(out, "\"a\\\"b\\\\\"");
  ck_assert_int_eq(h3_sf_string_quote("", out, sizeof out), 2);
  ck_assert_str_eq(out, "\"\"");
  ck_assert_int_eq(h3_sf_string_quote("tab\there", out, sizeof out), H3_ERR);
  ck_assert_int_eq(h3_sf_string_quote("caf\xc3\xa9", out, sizeof out), H3_ERR);
  ck_assert_int_eq(h3_sf_string_quote("moq-lite-04", out, 8), H3_NOSPACE);
  /* what we quote parses back */
  char q[64], back[64];
  ck_assert_int_gt(h3_sf_string_quote("x\"y", q, sizeof q), 0);
  ck_assert_int_eq(h3_sf_string_parse(q, strlen(q), back, sizeof back), 3);
  ck_assert_str_eq(back, "x\"y");
}
END_TEST


/* Encodes nv with a zero-capacity QPACK encoder (as wt_session's) into out; returns the length. */
static size_t qpack_encode(const nghttp3_nv *nv, size_t n, uint8_t *out, size_t cap) {
  nghttp3_qpack_encoder *enc = NULL;
  ck_assert_int_eq(nghttp3_qpack_encoder_new2(&enc, 0, 1, nghttp3_mem_default()), 0);
  nghttp3_qpack_encoder_set_max_dtable_capacity(enc, 0);
  nghttp3_buf pb, rb, eb;
  nghttp3_buf_init(&pb);
  nghttp3_buf_init(&rb);
  nghttp3_buf_init(&eb);
  ck_assert_int_eq(nghttp3_qpack_encoder_encode(enc, &pb, &rb, &eb, 0, nv, n), 0);
  size_t len = nghttp3_buf_len(&pb) + nghttp3_buf_len(&rb);
  ck_assert_uint_le(len, cap);
  memcpy(out, pb.pos, nghttp3_buf_len(&pb));
  memcpy(out + nghttp3_buf_len(&pb), rb.pos, nghttp3_buf_len(&rb));
  nghttp3_buf_free(&pb, nghttp3_mem_default());
  nghttp3_buf_free(&rb, nghttp3_mem_default());
  nghttp3_buf_free(&eb, nghttp3_mem_default());
  nghttp3_qpack_encoder_del(enc);
  return len;
}

#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, NGHTTP3_NV_FLAG_NONE}

START_TEST(test_fields_connect) {
  const nghttp3_nv nv[] = {NV(":method", "CONNECT"), NV(":protocol", "webtransport"), NV(":scheme", "https"),
                           NV(":authority", "relay.example:443"), NV(":path", "/room?jwt=x"),
                           NV("origin", "https://app.example"), NV("x-other", "ignored"),
                           NV("wt-available-protocols", "\"moq-lite-05\", token, \"moq-lite-04\";q=1")};
  uint8_t buf[1024];
  size_t len = qpack_encode(nv, sizeof nv / sizeof nv[0], buf, sizeof buf);
  nghttp3_qpack_decoder *dec = NULL;
  ck_assert_int_eq(nghttp3_qpack_decoder_new(&dec, 0, 0, nghttp3_mem_default()), 0);
  h3_fields f;
  const char *why = NULL;
  ck_assert_int_eq(h3_fields_decode(dec, 0, buf, len, &f, &why), 0);
  ck_assert_str_eq(f.method, "CONNECT");
  ck_assert_str_eq(f.path, "/room?jwt=x");
  ck_assert_str_eq(f.origin, "https://app.example");
  ck_assert_int_eq(f.too_long, 0);
  h3_request_verdict v;
  h3_request_classify(&f, &v);
  ck_assert_int_eq(v.status, 0);
  char pbuf[64];
  const char *items[4];
  ck_assert_int_eq(h3_fields_protocols(&f, pbuf, sizeof pbuf, items, 4), 2);
  ck_assert_str_eq(items[0], "moq-lite-05");
  ck_assert_str_eq(items[1], "moq-lite-04");
  ck_assert_int_eq(h3_fields_protocols(&f, pbuf, sizeof pbuf, items, 1), -1);
  /* cut short: the decoder wants the rest of the section */
  ck_assert_int_eq(h3_fields_decode(dec, 4, buf, len - 3, &f, &why), -1);
  ck_assert_ptr_nonnull(why);
  /* a reference into a dynamic table we never allowed */
  const uint8_t dyn[] = {0x02, 0x00, 0x80};
  ck_assert_int_eq(h3_fields_decode(dec, 8, dyn, sizeof dyn, &f, &why), -1);
  nghttp3_qpack_decoder_del(dec);
}
END_TEST

START_TEST(test_fields_classify) {
  h3_fields f;
  h3_request_verdict v;
  memset(&f, 0, sizeof f);
  strcpy(f.method, "GET");
  h3_request_classify(&f, &v);
  ck_assert_int_eq(v.status, 404);
  strcpy(f.method, "POST");
  h3_request_classify(&f, &v);
  ck_assert_int_eq(v.status, 405);
  ck_assert_str_eq(v.allow, "CONNECT");
  strcpy(f.method, "CONNECT");
  strcpy(f.protocol, "websocket");
  h3_request_classify(&f, &v);
  ck_assert_int_eq(v.status, 501);
  strcpy(f.protocol, "webtransport");
  strcpy(f.scheme, "https");
  strcpy(f.path, "/");
  h3_request_classify(&f, &v);
  ck_assert_int_eq(v.status, 400); /* no :authority */
  char big[5000];
  memset(big, 'a', sizeof big);
  h3_fields_set(&f, ":path", 5, (const uint8_t *)big, sizeof big);
  ck_assert_int_eq(f.too_long, 1);
  h3_request_classify(&f, &v);
  ck_assert_int_eq(v.status, 431);
  h3_fields_set(&f, ":authorityx", 11, (const uint8_t *)"x", 1); /* not ours: ignored */
  ck_assert_str_eq(f.authority, "");
  /* a list that does not parse is ignored */
  strcpy(f.wt_available, "\"a\", (");
  char pbuf[64];
  const char *items[4];
  ck_assert_int_eq(h3_fields_protocols(&f, pbuf, sizeof pbuf, items, 4), 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("h3");
  TCase *f = tcase_create("frames");
  tcase_add_test(f, test_frame_header);
  tcase_add_test(f, test_grease);
  tcase_add_test(f, test_settings_chromium);
  tcase_add_test(f, test_settings_malformed);
  tcase_add_test(f, test_settings_encode);
  tcase_add_test(f, test_stream_header);
  suite_add_tcase(s, f);
  TCase *c = tcase_create("capsules");
  tcase_add_test(c, test_capsule_close);
  tcase_add_test(c, test_capsule_close_encode);
  tcase_add_test(c, test_datagram);
  tcase_add_test(c, test_wt_codes);
  suite_add_tcase(s, c);
  TCase *sf = tcase_create("structured-fields");
  tcase_add_test(sf, test_sf_list);
  tcase_add_test(sf, test_sf_string);
  tcase_add_test(sf, test_fields_connect);
  tcase_add_test(sf, test_fields_classify);
  suite_add_tcase(s, sf);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
