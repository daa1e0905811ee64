/* Unit tests: the moq-lite codec (core/moq/lite.h) against shared/reference/moq-lite-vectors.md, plus
 * truncation, malformed input, limits, the frame reader, datagrams and the path helpers. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/varint.h"
#include "moq/lite.h"

/* ---- helpers ---- */

#define S(lit) ((moq_str){(const uint8_t *)(lit), sizeof(lit) - 1})
#define SI(lit) {(const uint8_t *)(lit), sizeof(lit) - 1} /* the same, for static tables */
#define V(n) (1u << (n))
#define VALL (V(1) | V(2) | V(3) | V(4) | V(5))
#define ORG_C 0x1360634194b179ULL  /* the 8-byte origin seen on the wire: c0 13 60 63 41 94 b1 79 */
#define HOP_L4 0x076170a49f75b7ULL /* the 8-byte hop id seen on lite-04: c0 07 61 70 a4 9f 75 b7 */

/* Parses hex digits from s (anything else, like '|' or spaces, is skipped) into out; returns the count. */
static size_t hex(const char *s, uint8_t *out) {
  size_t n = 0;
  int hi = -1;
  for (; *s; s++) {
    int d;
    if (*s >= '0' && *s <= '9') d = *s - '0';
    else if (*s >= 'a' && *s <= 'f') d = *s - 'a' + 10;
    else if (*s >= 'A' && *s <= 'F') d = *s - 'A' + 10;
    else continue;
    if (hi < 0) hi = d;
    else out[n++] = (uint8_t)(hi << 4 | d), hi = -1;
  }
  ck_assert_int_eq(hi, -1);
  return n;
}

/* An exact-size heap copy, so that a read past the end trips ASan/valgrind. */
static uint8_t *dupb(const uint8_t *b, size_t n) {
  uint8_t *p = malloc(n ? n : 1);
  ck_assert_ptr_nonnull(p);
  if (n) memcpy(p, b, n);
  return p;
}

static void expect_bytes(const moq_buf *b, const char *hx, const char *name) {
  uint8_t want[512];
  size_t n = hex(hx, want);
  ck_assert_msg(b->len == n, "%s: encoded %zu bytes, want %zu", name, b->len, n);
  ck_assert_msg(memcmp(b->data, want, n) == 0, "%s: encoded bytes differ", name);
}

static void str_eq(moq_str a, moq_str b, const char *name) {
  ck_assert_msg(moq_str_eq(a, b), "%s: string '%.*s' != '%.*s'", name, (int)a.len, (const char *)a.p, (int)b.len,
                (const char *)b.p);
}

/* ---- table-driven messages ---- */

typedef enum kind { K_SETUP, K_SINFO, K_AREQ, K_AOK, K_ANN, K_TRACK, K_TINFO, K_SUB, K_UPD, K_REPLY, K_GROUP,
                    K_FETCH, K_PROBE, K_GOAWAY } kind;

typedef union msg {
  moq_setup setup;
  moq_session_info_msg sinfo;
  moq_announce_request areq;
  moq_announce_ok aok;
  moq_announce ann;
  moq_track track;
  moq_track_info tinfo;
  moq_subscribe sub;
  moq_sub_params upd;
  moq_subscribe_reply reply;
  moq_group group;
  moq_fetch fetch;
  moq_probe probe;
  moq_goaway goaway;
} msg;

static int dec(kind k, moq_version v, const uint8_t *in, size_t len, const moq_limits *lim, msg *m,
               const char **why) {
  switch (k) {
  case K_SETUP: return moq_setup_decode(v, in, len, lim, &m->setup, why);
  case K_SINFO: return moq_session_info_decode(v, in, len, lim, &m->sinfo, why);
  case K_AREQ: return moq_announce_request_decode(v, in, len, lim, &m->areq, why);
  case K_AOK: return moq_announce_ok_decode(v, in, len, lim, &m->aok, why);
  case K_ANN: return moq_announce_decode(v, in, len, lim, &m->ann, why);
  case K_TRACK: return moq_track_decode(v, in, len, lim, &m->track, why);
  case K_TINFO: return moq_track_info_decode(v, in, len, lim, &m->tinfo, why);
  case K_SUB: return moq_subscribe_decode(v, in, len, lim, &m->sub, why);
  case K_UPD: return moq_subscribe_update_decode(v, in, len, lim, &m->upd, why);
  case K_REPLY: return moq_subscribe_reply_decode(v, in, len, lim, &m->reply, why);
  case K_GROUP: return moq_group_decode(v, in, len, lim, &m->group, why);
  case K_FETCH: return moq_fetch_decode(v, in, len, lim, &m->fetch, why);
  case K_PROBE: return moq_probe_decode(v, in, len, lim, &m->probe, why);
  case K_GOAWAY: return moq_goaway_decode(v, in, len, lim, &m->goaway, why);
  }
  return -100;
}

static int enc(kind k, moq_version v, moq_buf *b, const msg *m) {
  switch (k) {
  case K_SETUP: return moq_setup_encode(b, v, &m->setup);
  case K_SINFO: return moq_session_info_encode(b, v, &m->sinfo);
  case K_AREQ: return moq_announce_request_encode(b, v, &m->areq);
  case K_AOK: return moq_announce_ok_encode(b, v, &m->aok);
  case K_ANN: return moq_announce_encode(b, v, &m->ann);
  case K_TRACK: return moq_track_encode(b, v, &m->track);
  case K_TINFO: return moq_track_info_encode(b, v, &m->tinfo);
  case K_SUB: return moq_subscribe_encode(b, v, &m->sub);
  case K_UPD: return moq_subscribe_update_encode(b, v, &m->upd);
  case K_REPLY: return moq_subscribe_reply_encode(b, v, &m->reply);
  case K_GROUP: return moq_group_encode(b, v, &m->group);
  case K_FETCH: return moq_fetch_encode(b, v, &m->fetch);
  case K_PROBE: return moq_probe_encode(b, v, &m->probe);
  case K_GOAWAY: return moq_goaway_encode(b, v, &m->goaway);
  }
  return -100;
}

static void params_eq(const moq_sub_params *a, const moq_sub_params *e, moq_version v, const char *n) {
  ck_assert_msg(a->priority == e->priority, "%s: priority %u != %u", n, a->priority, e->priority);
  if (v < MOQ_LITE_03) return;
  ck_assert_msg(a->ordered == e->ordered && a->max_latency_ms == e->max_latency_ms, "%s: ordered/latency", n);
  ck_assert_msg(a->has_start == e->has_start && a->start == e->start, "%s: start", n);
  ck_assert_msg(a->has_end == e->has_end && a->end == e->end, "%s: end", n);
}

/* Compares every field of a decoded message with the expected one. */
static void cmp(kind k, moq_version v, const msg *a, const msg *e, const char *n) {
  switch (k) {
  case K_SETUP:
    ck_assert_msg(a->setup.has_probe == e->setup.has_probe && a->setup.probe == e->setup.probe, "%s: probe", n);
    ck_assert_msg(a->setup.has_path == e->setup.has_path, "%s: has_path", n);
    str_eq(a->setup.path, e->setup.path, n);
    ck_assert_msg(a->setup.has_role == e->setup.has_role && a->setup.role == e->setup.role, "%s: role", n);
    ck_assert_msg(a->setup.has_origin == e->setup.has_origin && a->setup.origin == e->setup.origin, "%s: origin", n);
    break;
  case K_SINFO: ck_assert_msg(a->sinfo.bitrate == e->sinfo.bitrate, "%s: bitrate", n); break;
  case K_AREQ:
    str_eq(a->areq.prefix, e->areq.prefix, n);
    ck_assert_msg(a->areq.exclude_hop == e->areq.exclude_hop, "%s: exclude", n);
    break;
  case K_AOK: ck_assert_msg(a->aok.hop == e->aok.hop && a->aok.active == e->aok.active, "%s: ok", n); break;
  case K_ANN:
    ck_assert_msg(a->ann.status == e->ann.status, "%s: status %u", n, a->ann.status);
    str_eq(a->ann.suffix, e->ann.suffix, n);
    ck_assert_msg(a->ann.hop_count == e->ann.hop_count, "%s: hop count %zu", n, a->ann.hop_count);
    if (v >= MOQ_LITE_04)
      for (size_t i = 0; i < e->ann.hop_count; i++) ck_assert_msg(a->ann.hops[i] == e->ann.hops[i], "%s: hop %zu", n, i);
    break;
  case K_TRACK:
    str_eq(a->track.path, e->track.path, n);
    str_eq(a->track.name, e->track.name, n);
    break;
  case K_TINFO:
    ck_assert_msg(a->tinfo.priority == e->tinfo.priority && a->tinfo.ordered == e->tinfo.ordered, "%s: prio", n);
    ck_assert_msg(a->tinfo.max_latency_ms == e->tinfo.max_latency_ms, "%s: latency", n);
    ck_assert_msg(a->tinfo.timescale == e->tinfo.timescale, "%s: timescale", n);
    break;
  case K_SUB:
    ck_assert_msg(a->sub.id == e->sub.id, "%s: id", n);
    str_eq(a->sub.path, e->sub.path, n);
    str_eq(a->sub.track, e->sub.track, n);
    params_eq(&a->sub.params, &e->sub.params, v, n);
    break;
  case K_UPD: params_eq(&a->upd, &e->upd, v, n); break;
  case K_REPLY:
    ck_assert_msg(a->reply.kind == e->reply.kind, "%s: kind %d", n, a->reply.kind);
    if (e->reply.kind == MOQ_REPLY_OK) params_eq(&a->reply.ok, &e->reply.ok, v, n);
    ck_assert_msg(a->reply.group == e->reply.group, "%s: group", n);
    ck_assert_msg(a->reply.drop_start == e->reply.drop_start && a->reply.drop_end == e->reply.drop_end &&
                      a->reply.error_code == e->reply.error_code, "%s: drop", n);
    break;
  case K_GROUP:
    ck_assert_msg(a->group.subscribe_id == e->group.subscribe_id && a->group.sequence == e->group.sequence, "%s", n);
    break;
  case K_FETCH:
    str_eq(a->fetch.path, e->fetch.path, n);
    str_eq(a->fetch.track, e->fetch.track, n);
    ck_assert_msg(a->fetch.priority == e->fetch.priority && a->fetch.group == e->fetch.group, "%s: fetch", n);
    break;
  case K_PROBE:
    ck_assert_msg(a->probe.bitrate == e->probe.bitrate && a->probe.rtt_ms == e->probe.rtt_ms, "%s: probe", n);
    break;
  case K_GOAWAY: str_eq(a->goaway.uri, e->goaway.uri, n); break;
  }
}

typedef struct vec {
  const char *name;
  unsigned versions; /* V(n) bits */
  kind k;
  int st;            /* stream type written before the message, -1 for none */
  bool uni;          /* st is a uni stream type */
  const char *hx;    /* the bytes, stream type included */
  msg m;             /* expected decode; also what gets encoded */
  bool decode_only;  /* not re-encoded (a non-canonical or foreign shape) */
} vec;

static const vec vectors[] = {
    /* 2. session start, lite-05 SETUP */
    {"setup path+role", V(5), K_SETUP, 1, true,
     "01 | 13 | 02 | 02 0d 2f 61 6e 6f 6e 3f 6a 77 74 3d 61 62 63 | 03 01 02",
     {.setup = {.has_path = true, .path = SI("/anon?jwt=abc"), .has_role = true, .role = 2}}, false},
    {"setup empty", V(5), K_SETUP, 1, true, "01 | 01 | 00", {.setup = {0}}, false},
    {"setup probe", V(5), K_SETUP, 1, true, "01 | 04 | 01 | 01 01 01", {.setup = {.has_probe = true, .probe = 1}}, false},
    {"setup probe+origin", V(5), K_SETUP, 1, true, "01 | 08 | 02 | 01 01 01 | 05 02 52 34",
     {.setup = {.has_probe = true, .probe = 1, .has_origin = true, .origin = 4660}}, false},
    {"setup 8-byte origin", V(5), K_SETUP, 1, true, "01 | 0e | 02 | 01 01 01 | 05 08 c0 13 60 63 41 94 b1 79",
     {.setup = {.has_probe = true, .probe = 1, .has_origin = true, .origin = ORG_C}}, false},
    {"setup unknown cost", V(5), K_SETUP, -1, false, "04 01 04 01 01", {.setup = {0}}, true},
    {"session info", V(1) | V(2), K_SINFO, -1, false, "04 | 80 26 25 a0", {.sinfo = {2500000}}, false},
    /* 3. announce stream */
    {"announce request ''", V(1) | V(2) | V(3), K_AREQ, 1, false, "01 | 01 00", {.areq = {SI(""), 0}}, false},
    {"announce request demo", V(3), K_AREQ, 1, false, "01 | 05 04 64 65 6d 6f", {.areq = {SI("demo"), 0}}, false},
    {"announce request '' excl 0", V(4) | V(5), K_AREQ, 1, false, "01 | 02 00 00", {.areq = {SI(""), 0}}, false},
    {"announce request demo excl", V(4) | V(5), K_AREQ, 1, false, "01 | 07 04 64 65 6d 6f 52 34",
     {.areq = {SI("demo"), 4660}}, false},
    {"announce request 8-byte excl", V(4) | V(5), K_AREQ, 1, false, "01 | 09 | 00 c0 13 60 63 41 94 b1 79",
     {.areq = {SI(""), ORG_C}}, false},
    {"announce ok 4660/1", V(5), K_AOK, -1, false, "03 52 34 01", {.aok = {4660, 1}}, false},
    {"announce ok 0/0", V(5), K_AOK, -1, false, "02 00 00", {.aok = {0, 0}}, false},
    {"announce ok 8-byte", V(5), K_AOK, -1, false, "09 c0 12 fd 2b e6 33 33 7f 01",
     {.aok = {0x12fd2be633337fULL, 1}}, false},
    {"announce active v1/2", V(1) | V(2), K_ANN, -1, false, "05 01 03 62 62 62",
     {.ann = {.status = 1, .suffix = SI("bbb")}}, false},
    {"announce ended v1/2", V(1) | V(2), K_ANN, -1, false, "05 00 03 62 62 62",
     {.ann = {.status = 0, .suffix = SI("bbb")}}, false},
    {"announce v3 count 1", V(3), K_ANN, -1, false, "06 01 03 62 62 62 01",
     {.ann = {.status = 1, .suffix = SI("bbb"), .hop_count = 1}}, false},
    {"announce v3 count 0", V(3), K_ANN, -1, false, "06 01 03 62 62 62 00",
     {.ann = {.status = 1, .suffix = SI("bbb")}}, false},
    {"announce active []", V(4) | V(5), K_ANN, -1, false, "06 01 03 62 62 62 00",
     {.ann = {.status = 1, .suffix = SI("bbb")}}, false},
    {"announce ended []", V(4) | V(5), K_ANN, -1, false, "06 00 03 62 62 62 00",
     {.ann = {.status = 0, .suffix = SI("bbb")}}, false},
    {"announce [7]", V(4) | V(5), K_ANN, -1, false, "07 01 03 62 62 62 01 07",
     {.ann = {.status = 1, .suffix = SI("bbb"), .hop_count = 1, .hops = {7}}}, false},
    {"announce room/alice", V(4) | V(5), K_ANN, -1, false, "10 01 0a 72 6f 6f 6d 2f 61 6c 69 63 65 02 52 34 07",
     {.ann = {.status = 1, .suffix = SI("room/alice"), .hop_count = 2, .hops = {4660, 7}}}, false},
    {"announce 8-byte hop", V(4), K_ANN, -1, false, "0e 01 03 62 62 62 01 c0 07 61 70 a4 9f 75 b7",
     {.ann = {.status = 1, .suffix = SI("bbb"), .hop_count = 1, .hops = {HOP_L4}}}, false},
    {"announce restart", V(5), K_ANN, -1, false, "06 02 03 62 62 62 00",
     {.ann = {.status = MOQ_ANNOUNCE_RESTART, .suffix = SI("bbb")}}, false},
    /* 4. track stream */
    {"track", V(5), K_TRACK, 6, false, "06 | 0a | 03 62 62 62 05 76 69 64 65 6f",
     {.track = {SI("bbb"), SI("video")}}, false},
    {"track info 1000", V(5), K_TINFO, -1, false, "06 | 00 00 53 88 43 e8", {.tinfo = {0, false, 5000, 1000}}, false},
    {"track info 90000", V(5), K_TINFO, -1, false, "08 | 00 00 53 88 80 01 5f 90",
     {.tinfo = {0, false, 5000, 90000}}, false},
    /* 5. subscribe stream */
    {"subscribe short", V(1) | V(2), K_SUB, 2, false, "02 | 0c | 00 03 62 62 62 05 76 69 64 65 6f 01",
     {.sub = {0, SI("bbb"), SI("video"), {.priority = 1}}}, false},
    {"subscribe latest", V(3) | V(4) | V(5), K_SUB, 2, false,
     "02 | 10 | 00 03 62 62 62 05 76 69 64 65 6f 01 00 00 00 00",
     {.sub = {0, SI("bbb"), SI("video"), {.priority = 1}}}, false},
    {"subscribe range", V(3) | V(4) | V(5), K_SUB, 2, false,
     "02 | 18 | 05 0a 72 6f 6f 6d 2f 61 6c 69 63 65 05 61 75 64 69 6f c8 01 45 dc 0b 15",
     {.sub = {5, SI("room/alice"), SI("audio"), {200, true, 1500, true, 10, true, 20}}}, false},
    {"subscribe update start 10", V(3) | V(4) | V(5), K_UPD, -1, false, "06 | 02 00 41 f4 0b 00",
     {.upd = {2, false, 500, true, 10, false, 0}}, false},
    {"subscribe update none", V(3) | V(4) | V(5), K_UPD, -1, false, "06 | 02 00 41 f4 00 00",
     {.upd = {2, false, 500, false, 0, false, 0}}, false},
    {"subscribe update js v1/2", V(1) | V(2), K_UPD, -1, false, "01 | 02", {.upd = {.priority = 2}}, false},
    {"subscribe ok v1", V(1), K_REPLY, -1, false, "01 | 01", {.reply = {.kind = MOQ_REPLY_OK, .ok = {.priority = 1}}},
     false},
    {"subscribe ok v2", V(2), K_REPLY, -1, false, "00", {.reply = {.kind = MOQ_REPLY_OK}}, false},
    {"subscribe ok v3/4", V(3) | V(4), K_REPLY, -1, false, "00 | 05 | 01 00 00 00 00",
     {.reply = {.kind = MOQ_REPLY_OK, .ok = {.priority = 1}}}, false},
    {"subscribe ok ordered", V(3) | V(4), K_REPLY, -1, false, "00 | 05 | 01 01 00 00 00",
     {.reply = {.kind = MOQ_REPLY_OK, .ok = {.priority = 1, .ordered = true}}}, false},
    {"subscribe ok start 10", V(3) | V(4), K_REPLY, -1, false, "00 | 05 | 01 01 00 0b 00",
     {.reply = {.kind = MOQ_REPLY_OK, .ok = {.priority = 1, .ordered = true, .has_start = true, .start = 10}}}, false},
    {"subscribe drop v3/4", V(3) | V(4), K_REPLY, -1, false, "01 | 03 | 05 07 00",
     {.reply = {.kind = MOQ_REPLY_DROP, .drop_start = 5, .drop_end = 7}}, false},
    {"subscribe start 42", V(5), K_REPLY, -1, false, "00 | 01 | 2a", {.reply = {.kind = MOQ_REPLY_START, .group = 42}},
     false},
    {"subscribe start 0", V(5), K_REPLY, -1, false, "00 | 01 | 00", {.reply = {.kind = MOQ_REPLY_START}}, false},
    {"subscribe end 43", V(5), K_REPLY, -1, false, "01 | 01 | 2b", {.reply = {.kind = MOQ_REPLY_END, .group = 43}},
     false},
    {"subscribe end 0", V(5), K_REPLY, -1, false, "01 | 01 | 00", {.reply = {.kind = MOQ_REPLY_END}}, false},
    {"subscribe drop v5", V(5), K_REPLY, -1, false, "02 | 03 | 05 07 00",
     {.reply = {.kind = MOQ_REPLY_DROP, .drop_start = 5, .drop_end = 7}}, false},
    /* 6. group */
    {"group 0/42", VALL, K_GROUP, 0, true, "00 | 02 00 2a", {.group = {0, 42}}, false},
    {"group 70/16384", VALL, K_GROUP, 0, true, "00 | 06 40 46 80 00 40 00", {.group = {70, 16384}}, false},
    {"group non-minimal", VALL, K_GROUP, -1, false, "0a c0 00 00 00 00 00 00 00 40 2a", {.group = {0, 42}}, true},
    {"group 40 25 / 80 00 00 25", VALL, K_GROUP, -1, false, "06 40 25 80 00 00 25", {.group = {37, 37}}, true},
    {"group 8-byte", VALL, K_GROUP, -1, false, "10 ff ff ff ff ff ff ff ff c0 00 00 00 40 00 00 00",
     {.group = {VARINT_MAX, 1073741824}}, false},
    /* 7. fetch, probe, goaway */
    {"fetch", V(3) | V(4) | V(5), K_FETCH, 3, false, "03 | 0c | 03 62 62 62 05 76 69 64 65 6f 00 2a",
     {.fetch = {SI("bbb"), SI("video"), 0, 42}}, false},
    {"probe rate+rtt", V(4) | V(5), K_PROBE, -1, false, "05 | 80 26 25 a0 28", {.probe = {2500000, 40}}, false},
    {"probe v3", V(3), K_PROBE, -1, false, "04 | 80 26 25 a0", {.probe = {2500000, 0}}, false},
    {"probe unknown", V(4) | V(5), K_PROBE, -1, false, "02 | 00 00", {.probe = {0, 0}}, false},
    {"probe measured 0", V(4) | V(5), K_PROBE, -1, false, "02 | 01 01", {.probe = {1, 1}}, false},
    {"goaway", V(4) | V(5), K_GOAWAY, 5, false, "05 | 01 00", {.goaway = {SI("")}}, false},
};

/* Decodes and re-encodes one vector on one version, and checks every truncation. */
static void run_vector(const vec *t, moq_version v) {
  uint8_t raw[512];
  size_t n = hex(t->hx, raw), off = 0;
  const char *why = NULL;
  moq_buf b;
  moq_buf_init(&b);
  if (t->st >= 0) {
    uint64_t type = 99;
    int rc = t->uni ? moq_uni_type_decode(v, raw, n, &type, &why) : moq_bidi_type_decode(v, raw, n, &type, &why);
    ck_assert_msg(rc == 1 && type == (uint64_t)t->st, "%s v%d: stream type rc %d", t->name, v, rc);
    rc = t->uni ? moq_uni_type_encode(&b, v, (moq_uni_type)t->st) : moq_bidi_type_encode(&b, v, (moq_bidi_type)t->st);
    ck_assert_int_eq(rc, 1);
    off = 1;
  }
  const uint8_t *body = raw + off;
  size_t len = n - off;
  /* the exact message, from an exact-size copy */
  uint8_t *p = dupb(body, len);
  msg m;
  memset(&m, 0xa5, sizeof m);
  int rc = dec(t->k, v, p, len, NULL, &m, &why);
  ck_assert_msg(rc == (int)len, "%s v%d: decode gave %d (%s)", t->name, v, rc, rc < 0 && why ? why : "");
  cmp(t->k, v, &m, &t->m, t->name);
  /* borrowed strings point into the input */
  if (t->k == K_ANN && m.ann.suffix.len) ck_assert(m.ann.suffix.p > p && m.ann.suffix.p < p + len);
  free(p);
  /* every strict prefix needs more, never an error, never a read past the end */
  for (size_t i = 0; i < len; i++) {
    p = dupb(body, i);
    rc = dec(t->k, v, p, i, NULL, &m, &why);
    ck_assert_msg(rc == MOQ_NEED_MORE, "%s v%d: prefix %zu gave %d (%s)", t->name, v, i, rc, why ? why : "");
    free(p);
  }
  /* the decoder stops at the end of the message */
  uint8_t more[520];
  memcpy(more, body, len);
  more[len] = 0x3f;
  ck_assert_int_eq(dec(t->k, v, more, len + 1, NULL, &m, &why), (int)len);
  /* encode writes exactly these bytes */
  if (!t->decode_only) {
    rc = enc(t->k, v, &b, &t->m);
    ck_assert_msg(rc == (int)len, "%s v%d: encode gave %d", t->name, v, rc);
    expect_bytes(&b, t->hx, t->name);
  }
  moq_buf_free(&b);
}

START_TEST(test_vectors) {
  size_t runs = 0;
  for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++)
    for (int v = MOQ_LITE_01; v <= MOQ_LITE_05; v++)
      if (vectors[i].versions & V(v)) {
        run_vector(&vectors[i], (moq_version)v);
        runs++;
      }
  ck_assert_uint_ge(runs, 90);
}
END_TEST

/* ---- malformed input ---- */

typedef struct bad {
  const char *name;
  unsigned versions;
  kind k;
  const char *hx;
  int rc;
} bad;

static const bad bads[] = {
    {"leftover byte in length", V(4) | V(5), K_ANN, "07 01 03 62 62 62 00 00", MOQ_ERR_MALFORMED},
    {"length longer than fields", V(4), K_ANN, "08 01 03 62 62 62 00 ff ff", MOQ_ERR_MALFORMED},
    {"length shorter than fields", V(4), K_ANN, "05 01 03 62 62 62 00", MOQ_ERR_MALFORMED},
    {"string longer than message", VALL, K_ANN, "03 01 05 62 62 62 62 62", MOQ_ERR_MALFORMED},
    {"subscribe length short", V(3), K_SUB, "0f 00 03 62 62 62 05 76 69 64 65 6f 01 00 00 00 00", MOQ_ERR_MALFORMED},
    {"group leftover", VALL, K_GROUP, "03 00 2a 00", MOQ_ERR_MALFORMED},
    {"group short", VALL, K_GROUP, "02 00 40 2a", MOQ_ERR_MALFORMED},
    {"track info leftover", V(5), K_TINFO, "07 00 00 53 88 43 e8 00", MOQ_ERR_MALFORMED},
    {"subscribe ok v2 not empty", V(2), K_REPLY, "01 01", MOQ_ERR_MALFORMED},
    {"subscribe update v1 long", V(1) | V(2), K_UPD, "02 02 00", MOQ_ERR_MALFORMED},
    {"probe v3 with rtt", V(3), K_PROBE, "05 80 26 25 a0 28", MOQ_ERR_MALFORMED},
    {"utf8 0xff", VALL, K_ANN, "05 01 03 62 ff 62", MOQ_ERR_MALFORMED},
    {"utf8 overlong nul", V(5), K_TRACK, "05 01 61 02 c0 80", MOQ_ERR_MALFORMED},
    {"utf8 surrogate", V(1), K_SUB, "08 00 01 61 03 ed a0 80 01", MOQ_ERR_MALFORMED},
    {"utf8 above 10ffff", V(4), K_GOAWAY, "05 04 f4 90 80 80", MOQ_ERR_MALFORMED},
    {"utf8 cut sequence", VALL, K_AREQ, "03 02 e2 82", MOQ_ERR_MALFORMED},
    {"utf8 lone continuation", V(3), K_AREQ, "02 01 80", MOQ_ERR_MALFORMED},
    {"path with NUL", V(3), K_AREQ, "03 02 61 00", MOQ_ERR_MALFORMED},
    {"ordered 2 subscribe", V(3), K_SUB, "10 00 03 62 62 62 05 76 69 64 65 6f 01 02 00 00 00", MOQ_ERR_MALFORMED},
    {"ordered 2 update", V(4), K_UPD, "06 02 02 41 f4 00 00", MOQ_ERR_MALFORMED},
    {"ordered 2 track info", V(5), K_TINFO, "06 00 02 53 88 43 e8", MOQ_ERR_MALFORMED},
    {"ordered 2 subscribe ok", V(3), K_REPLY, "00 05 01 02 00 00 00", MOQ_ERR_MALFORMED},
    {"status 2 before lite-05", V(1) | V(2) | V(3) | V(4), K_ANN, "06 02 03 62 62 62 00", MOQ_ERR_MALFORMED},
    {"status 3", V(5), K_ANN, "06 03 03 62 62 62 00", MOQ_ERR_MALFORMED},
    {"timescale 0", V(5), K_TINFO, "05 00 00 53 88 00", MOQ_ERR_MALFORMED},
    {"message over 64 KiB", VALL, K_GROUP, "80 01 00 01", MOQ_ERR_TOO_LARGE},
    {"message 2^62-1", VALL, K_ANN, "ff ff ff ff ff ff ff ff", MOQ_ERR_TOO_LARGE},
    {"hop count 33 v3", V(3), K_ANN, "03 01 00 21", MOQ_ERR_TOO_LARGE},
    {"reply type 2 on lite-04", V(3) | V(4), K_REPLY, "02 01 00", MOQ_ERR_UNKNOWN_TYPE},
    {"reply type 3 on lite-05", V(5), K_REPLY, "03 01 00", MOQ_ERR_UNKNOWN_TYPE},
    {"setup duplicate probe", V(5), K_SETUP, "07 02 01 01 01 01 01 02", MOQ_ERR_DUPLICATE},
    {"setup duplicate unknown", V(5), K_SETUP, "07 02 09 01 01 09 01 01", MOQ_ERR_DUPLICATE},
    {"setup 65 params", V(5), K_SETUP, "02 40 41", MOQ_ERR_TOO_LARGE},
    {"setup value past body", V(5), K_SETUP, "04 01 01 05 01", MOQ_ERR_MALFORMED},
    {"setup probe value 2 bytes", V(5), K_SETUP, "05 01 01 02 01 00", MOQ_ERR_MALFORMED},
    {"setup role empty value", V(5), K_SETUP, "03 01 03 00", MOQ_ERR_MALFORMED},
    {"setup path not utf8", V(5), K_SETUP, "04 01 02 01 ff", MOQ_ERR_MALFORMED},
    {"setup before lite-05", V(1) | V(4), K_SETUP, "01 00", MOQ_ERR_VERSION},
    {"track before lite-05", V(4), K_TRACK, "02 00 00", MOQ_ERR_VERSION},
    {"track info before lite-05", V(3), K_TINFO, "06 00 00 53 88 43 e8", MOQ_ERR_VERSION},
    {"announce ok before lite-05", V(4), K_AOK, "02 00 00", MOQ_ERR_VERSION},
    {"goaway before lite-04", V(3), K_GOAWAY, "01 00", MOQ_ERR_VERSION},
    {"probe before lite-03", V(2), K_PROBE, "01 00", MOQ_ERR_VERSION},
    {"fetch before lite-03", V(2), K_FETCH, "05 00 00 00 00 00", MOQ_ERR_VERSION},
    {"session info after lite-02", V(3), K_SINFO, "01 00", MOQ_ERR_VERSION},
};

START_TEST(test_malformed) {
  for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
    uint8_t raw[256];
    size_t n = hex(bads[i].hx, raw);
    for (int v = MOQ_LITE_01; v <= MOQ_LITE_05; v++) {
      if (!(bads[i].versions & V(v))) continue;
      uint8_t *p = dupb(raw, n);
      msg m;
      const char *why = NULL;
      int rc = dec(bads[i].k, (moq_version)v, p, n, NULL, &m, &why);
      ck_assert_msg(rc == bads[i].rc, "%s v%d: got %d want %d", bads[i].name, v, rc, bads[i].rc);
      ck_assert_msg(why != NULL && why[0] != '\0', "%s: no reason given", bads[i].name);
      free(p);
    }
  }
  /* an invalid version value is refused by every decoder */
  uint8_t one[] = {0x00};
  msg m;
  for (int k = K_SETUP; k <= K_GOAWAY; k++) {
    ck_assert_int_eq(dec((kind)k, (moq_version)0, one, 1, NULL, &m, NULL), MOQ_ERR_VERSION);
    ck_assert_int_eq(dec((kind)k, (moq_version)6, one, 1, NULL, &m, NULL), MOQ_ERR_VERSION);
  }
}
END_TEST

/* Builds an ANNOUNCE on lite-04 with `hops` hop ids, each an 8-byte varint. */
static size_t build_hops(uint8_t *out, size_t hops) {
  uint8_t body[400];
  size_t n = 0;
  body[n++] = 1;
  body[n++] = 3, body[n++] = 'b', body[n++] = 'b', body[n++] = 'b';
  n += varint_encode(body + n, 8, hops);
  for (size_t i = 0; i < hops; i++) {
    uint64_t id = 0x3fffffffffff0000ULL + i;
    n += varint_encode(body + n, 8, id);
  }
  size_t k = varint_encode(out, 8, n);
  memcpy(out + k, body, n);
  return k + n;
}

START_TEST(test_hop_limit) {
  uint8_t raw[420];
  moq_announce a;
  const char *why = NULL;
  size_t n = build_hops(raw, 32);
  ck_assert_int_eq(moq_announce_decode(MOQ_LITE_04, raw, n, NULL, &a, &why), (int)n);
  ck_assert_uint_eq(a.hop_count, 32);
  ck_assert(a.hops[31] == 0x3fffffffffff0000ULL + 31);
  /* the 8-byte ids round-trip */
  moq_buf b;
  moq_buf_init(&b);
  ck_assert_int_eq(moq_announce_encode(&b, MOQ_LITE_04, &a), (int)n);
  ck_assert_mem_eq(b.data, raw, n);
  n = build_hops(raw, 33);
  ck_assert_int_eq(moq_announce_decode(MOQ_LITE_05, raw, n, NULL, &a, &why), MOQ_ERR_TOO_LARGE);
  /* the encoder refuses 33 hops and leaves the buffer as it was */
  moq_buf_reset(&b);
  ck_assert_int_eq(moq_buf_u8(&b, 0x77), 0);
  a.hop_count = 33;
  ck_assert_int_eq(moq_announce_encode(&b, MOQ_LITE_04, &a), MOQ_ERR_INVALID);
  ck_assert_uint_eq(b.len, 1);
  ck_assert_uint_eq(b.data[0], 0x77);
  moq_buf_free(&b);
}
END_TEST

/* An ANNOUNCE_REQUEST (lite-03) whose prefix is `path`. */
static size_t build_prefix(uint8_t *out, const char *path) {
  size_t pl = strlen(path), n = 0;
  uint8_t body[2100];
  n += varint_encode(body, 8, pl);
  memcpy(body + n, path, pl);
  n += pl;
  size_t k = varint_encode(out, 8, n);
  memcpy(out + k, body, n);
  return k + n;
}

START_TEST(test_path_limits) {
  char path[2048];
  uint8_t raw[2100];
  moq_announce_request r;
  const char *why;
  /* 32 segments pass, 33 do not; empty segments never count */
  strcpy(path, "/a");
  for (int i = 1; i < 32; i++) strcat(path, "//a");
  strcat(path, "/");
  size_t n = build_prefix(raw, path);
  ck_assert_int_eq(moq_announce_request_decode(MOQ_LITE_03, raw, n, NULL, &r, &why), (int)n);
  ck_assert_uint_eq(moq_path_segments(r.prefix), 32);
  strcat(path, "b");
  n = build_prefix(raw, path);
  ck_assert_int_eq(moq_announce_request_decode(MOQ_LITE_03, raw, n, NULL, &r, &why), MOQ_ERR_TOO_LARGE);
  /* 1024 bytes pass, 1025 do not */
  memset(path, 'x', 1024);
  path[1024] = '\0';
  n = build_prefix(raw, path);
  ck_assert_int_eq(moq_announce_request_decode(MOQ_LITE_03, raw, n, NULL, &r, &why), (int)n);
  path[1024] = 'x', path[1025] = '\0';
  n = build_prefix(raw, path);
  ck_assert_int_eq(moq_announce_request_decode(MOQ_LITE_03, raw, n, NULL, &r, &why), MOQ_ERR_TOO_LARGE);
  /* the same limit applies to SUBSCRIBE, TRACK, FETCH paths and ANNOUNCE suffixes (one spot check) */
  moq_limits lim;
  moq_limits_default(&lim);
  lim.max_segments = 1;
  uint8_t two[64];
  n = hex("05 01 03 61 2f 62", two);
  moq_announce a;
  ck_assert_int_eq(moq_announce_decode(MOQ_LITE_01, two, n, &lim, &a, &why), MOQ_ERR_TOO_LARGE);
  lim.max_segments = 2;
  ck_assert_int_eq(moq_announce_decode(MOQ_LITE_01, two, n, &lim, &a, &why), (int)n);
  /* a custom max_message is enforced from the Length alone */
  lim.max_message = 4;
  ck_assert_int_eq(moq_announce_decode(MOQ_LITE_01, two, 1, &lim, &a, &why), MOQ_ERR_TOO_LARGE);
}
END_TEST

START_TEST(test_utf8) {
  uint8_t b[16];
  size_t n;
  ck_assert(moq_utf8_valid((const uint8_t *)"", 0));
  n = hex("e2 82 ac f0 9f 98 80 c3 a9 7f", b);
  ck_assert(moq_utf8_valid(b, n));
  const char *badhex[] = {"80", "c0 80", "c1 bf", "e0 80 80", "ed a0 80", "f4 90 80 80", "f8 88 80 80 80",
                          "e2 82", "c3", "ff", "fe"};
  for (size_t i = 0; i < sizeof badhex / sizeof badhex[0]; i++) {
    n = hex(badhex[i], b);
    ck_assert_msg(!moq_utf8_valid(b, n), "%s accepted", badhex[i]);
  }
  /* a valid multi-byte track name decodes */
  n = hex("07 01 61 04 f0 9f 98 80", b);
  moq_track t;
  ck_assert_int_eq(moq_track_decode(MOQ_LITE_05, b, n, NULL, &t, NULL), (int)n);
  ck_assert_uint_eq(t.name.len, 4);
}
END_TEST

/* ---- stream types ---- */

START_TEST(test_stream_types) {
  static const struct {
    int v;
    bool uni;
    const char *hx;
    int rc;
    uint64_t type;
  } cases[] = {
      {1, false, "00", 1, 0},         {2, false, "00", 1, 0},         {3, false, "00", MOQ_ERR_UNKNOWN_TYPE, 0},
      {1, false, "01", 1, 1},         {1, false, "02", 1, 2},         {2, false, "03", MOQ_ERR_UNKNOWN_TYPE, 3},
      {3, false, "03", 1, 3},         {2, false, "04", MOQ_ERR_UNKNOWN_TYPE, 4}, {3, false, "04", 1, 4},
      {3, false, "05", MOQ_ERR_UNKNOWN_TYPE, 5}, {4, false, "05", 1, 5}, {4, false, "06", MOQ_ERR_UNKNOWN_TYPE, 6},
      {5, false, "06", 1, 6},         {5, false, "07", MOQ_ERR_UNKNOWN_TYPE, 7},
      {5, false, "40 07", MOQ_ERR_UNKNOWN_TYPE, 7}, {5, false, "40 06", 2, 6},
      {5, false, "c0 00 00 00 ff 0d ad 05", MOQ_ERR_UNKNOWN_TYPE, 0xff0dad05},
      {1, true, "00", 1, 0},          {4, true, "01", MOQ_ERR_UNKNOWN_TYPE, 1}, {5, true, "01", 1, 1},
      {5, true, "02", MOQ_ERR_UNKNOWN_TYPE, 2}, {5, true, "c0 00 00 00 00 00 00 01", 8, 1},
      {5, true, "", MOQ_NEED_MORE, 99}, {5, false, "40", MOQ_NEED_MORE, 99}, {5, true, "c0 00 00", MOQ_NEED_MORE, 99},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t raw[16];
    size_t n = hex(cases[i].hx, raw);
    uint8_t *p = dupb(raw, n);
    uint64_t type = 99;
    const char *why = NULL;
    int rc = cases[i].uni ? moq_uni_type_decode((moq_version)cases[i].v, p, n, &type, &why)
                          : moq_bidi_type_decode((moq_version)cases[i].v, p, n, &type, &why);
    ck_assert_msg(rc == cases[i].rc && type == cases[i].type, "case %zu: rc %d type %llu", i, rc,
                  (unsigned long long)type);
    free(p);
  }
  moq_buf b;
  moq_buf_init(&b);
  ck_assert_int_eq(moq_bidi_type_encode(&b, MOQ_LITE_04, MOQ_BIDI_TRACK), MOQ_ERR_VERSION);
  ck_assert_int_eq(moq_bidi_type_encode(&b, MOQ_LITE_03, MOQ_BIDI_SESSION), MOQ_ERR_VERSION);
  ck_assert_int_eq(moq_uni_type_encode(&b, MOQ_LITE_04, MOQ_UNI_SETUP), MOQ_ERR_VERSION);
  ck_assert_uint_eq(b.len, 0);
  ck_assert_int_eq(moq_bidi_type_encode(&b, MOQ_LITE_05, MOQ_BIDI_TRACK), 1);
  expect_bytes(&b, "06", "bidi track");
  moq_buf_free(&b);
}
END_TEST

/* ---- legacy setup ---- */

#define VERS3 "c0 00 00 00 ff 0d ad 02 | c0 00 00 00 ff 0d ad 01 | c0 00 00 00 ff 00 00 0e"
#define IMPL_JS "07 0b 6d 6f 71 2d 6c 69 74 65 2d 6a 73"

static const char *const client_setups[] = {
    "20 | 00 2c | 03 | " VERS3 " | 02 | 02 80 00 a4 55 | " IMPL_JS,
    "20 | 00 31 | 03 | " VERS3 " | 03 | 02 80 00 a4 55 | 80 04 0b 5a 01 | " IMPL_JS,
    "20 | 00 35 | 03 | " VERS3 " | 03 | 02 c0 00 00 00 ff ff ff ff | 80 04 0b 5a 01 | "
    "07 0b 6d 6f 71 2d 6c 69 74 65 2d 72 73",
};

START_TEST(test_client_setup) {
  static const uint64_t versions[] = {0xff0dad02, 0xff0dad01, MOQ_DRAFT14_CODE};
  static const uint64_t max_req[] = {42069, 42069, 0xffffffffULL};
  static const char *const impl[] = {"moq-lite-js", "moq-lite-js", "moq-lite-rs"};
  for (int i = 0; i < 3; i++) {
    uint8_t raw[128];
    size_t n = hex(client_setups[i], raw);
    uint8_t *p = dupb(raw, n);
    moq_client_setup cs;
    const char *why = NULL;
    ck_assert_int_eq(moq_client_setup_decode(p, n, NULL, &cs, &why), (int)n);
    ck_assert_uint_eq(cs.versions.count, 3);
    moq_varint_list it = cs.versions;
    uint64_t code;
    for (int k = 0; k < 3; k++) {
      ck_assert_int_eq(moq_varint_list_next(&it, &code), 1);
      ck_assert(code == versions[k]);
    }
    ck_assert_int_eq(moq_varint_list_next(&it, &code), 0);
    ck_assert(cs.params.has_max_request_id && cs.params.max_request_id == max_req[i]);
    ck_assert(cs.params.has_solicit == (i > 0));
    if (i > 0) ck_assert_uint_eq(cs.params.solicit, 1);
    ck_assert(!cs.params.has_path);
    ck_assert(cs.params.has_implementation);
    str_eq(cs.params.implementation, moq_str_c(impl[i]), "implementation");
    moq_version v;
    ck_assert_int_eq(moq_client_setup_select(&cs, &v), 0);
    ck_assert_int_eq(v, MOQ_LITE_02);
    for (size_t k = 0; k < n; k++) {
      uint8_t *q = dupb(raw, k);
      ck_assert_int_eq(moq_client_setup_decode(q, k, NULL, &cs, &why), MOQ_NEED_MORE);
      free(q);
    }
    /* re-encode */
    moq_legacy_params prm = {0};
    prm.has_max_request_id = true, prm.max_request_id = max_req[i];
    prm.has_solicit = i > 0, prm.solicit = 1;
    prm.has_implementation = true, prm.implementation = moq_str_c(impl[i]);
    moq_buf b;
    moq_buf_init(&b);
    ck_assert_int_eq(moq_client_setup_encode(&b, versions, 3, &prm), (int)n);
    expect_bytes(&b, client_setups[i], "client setup");
    moq_buf_free(&b);
    free(p);
  }
}
END_TEST

START_TEST(test_client_setup_lenient) {
  /* PATH kept; unknown even (0x04 = 9) and odd (0x03 = "tok") parameters skipped; select lite-01 */
  uint8_t raw[128];
  size_t n = hex("20 00 1e 02 c0 00 00 00 ff 00 00 0e c0 00 00 00 ff 0d ad 01 03 04 09 03 03 74 6f 6b "
                 "01 03 2f 61 62",
                 raw);
  moq_client_setup cs;
  const char *why = NULL;
  ck_assert_int_eq(moq_client_setup_decode(raw, n, NULL, &cs, &why), (int)n);
  ck_assert(cs.params.has_path);
  str_eq(cs.params.path, S("/ab"), "legacy path");
  ck_assert(!cs.params.has_max_request_id && !cs.params.has_implementation);
  moq_version v;
  ck_assert_int_eq(moq_client_setup_select(&cs, &v), 0);
  ck_assert_int_eq(v, MOQ_LITE_01);
  /* encode with PATH: varints first, then bytes */
  moq_legacy_params prm = {.has_path = true, .path = S("/ab"), .has_max_request_id = true, .max_request_id = 1};
  uint64_t vers[] = {0xff0dad01};
  moq_buf b;
  moq_buf_init(&b);
  ck_assert_int_gt(moq_client_setup_encode(&b, vers, 1, &prm), 0);
  expect_bytes(&b, "20 00 11 01 c0 00 00 00 ff 0d ad 01 02 02 01 01 03 2f 61 62", "client setup path");
  moq_buf_free(&b);
  /* only draft-14 offered: no lite version to select */
  n = hex("20 00 0a 01 c0 00 00 00 ff 00 00 0e 00", raw);
  ck_assert_int_eq(moq_client_setup_decode(raw, n, NULL, &cs, &why), (int)n);
  ck_assert_int_eq(moq_client_setup_select(&cs, &v), MOQ_ERR_VERSION);
  static const struct {
    const char *hx;
    int rc;
  } bcs[] = {
      {"21 00 01 00", MOQ_ERR_UNKNOWN_TYPE},                                /* a SERVER_SETUP */
      {"20 00 05 01 01 01 01 01", MOQ_ERR_MALFORMED},                        /* versions then no params */
      {"20 00 02 01 01 00", MOQ_ERR_MALFORMED},                              /* length short of the params */
      {"20 00 04 01 01 00 00", MOQ_ERR_MALFORMED},                           /* leftover */
      {"20 00 09 01 01 02 01 01 61 01 01 62", MOQ_ERR_DUPLICATE},            /* PATH twice */
      {"20 00 06 01 01 01 01 01 ff", MOQ_ERR_MALFORMED},                     /* PATH not UTF-8 */
      {"20 00 06 01 01 01 07 05 61", MOQ_ERR_MALFORMED},                     /* bytes past the body */
      {"20 00 04 01 01 40 41", MOQ_ERR_TOO_LARGE},                           /* 65 params */
  };
  for (size_t i = 0; i < sizeof bcs / sizeof bcs[0]; i++) {
    n = hex(bcs[i].hx, raw);
    uint8_t *p = dupb(raw, n);
    ck_assert_msg(moq_client_setup_decode(p, n, NULL, &cs, &why) == bcs[i].rc, "bad client setup %zu", i);
    free(p);
  }
  moq_limits lim;
  moq_limits_default(&lim);
  lim.max_message = 8;
  n = hex(client_setups[0], raw);
  ck_assert_int_eq(moq_client_setup_decode(raw, 3, &lim, &cs, &why), MOQ_ERR_TOO_LARGE);
}
END_TEST

START_TEST(test_server_setup) {
  static const struct {
    const char *hx;
    uint64_t version;
    int params; /* 0 none, 1 @moq/lite, 2 @moq/net */
  } cases[] = {
      {"21 | 00 09 | c0 00 00 00 ff 0d ad 02 | 00", 0xff0dad02, 0},
      {"21 | 00 09 | c0 00 00 00 ff 0d ad 01 | 00", 0xff0dad01, 0},
      {"21 | 00 1b | c0 00 00 00 ff 0d ad 02 | 02 | 02 80 00 a4 55 | " IMPL_JS, 0xff0dad02, 1},
      {"21 | 00 1b | c0 00 00 00 ff 0d ad 01 | 02 | 02 80 00 a4 55 | " IMPL_JS, 0xff0dad01, 1},
      {"21 | 00 20 | c0 00 00 00 ff 0d ad 02 | 03 | 02 80 00 a4 55 | 80 04 0b 5a 01 | " IMPL_JS, 0xff0dad02, 2},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t raw[64];
    size_t n = hex(cases[i].hx, raw);
    uint8_t *p = dupb(raw, n);
    moq_server_setup ss;
    const char *why = NULL;
    ck_assert_int_eq(moq_server_setup_decode(p, n, NULL, &ss, &why), (int)n);
    ck_assert(ss.version == cases[i].version);
    ck_assert(ss.params.has_max_request_id == (cases[i].params > 0));
    ck_assert(ss.params.has_solicit == (cases[i].params == 2));
    moq_version v;
    ck_assert_int_eq(moq_version_from_code(ss.version, &v), 0);
    for (size_t k = 0; k < n; k++) {
      uint8_t *q = dupb(raw, k);
      ck_assert_int_eq(moq_server_setup_decode(q, k, NULL, &ss, &why), MOQ_NEED_MORE);
      free(q);
    }
    moq_legacy_params prm = {0};
    if (cases[i].params) {
      prm.has_max_request_id = true, prm.max_request_id = 42069;
      prm.has_solicit = cases[i].params == 2, prm.solicit = 1;
      prm.has_implementation = true, prm.implementation = S("moq-lite-js");
    }
    moq_buf b;
    moq_buf_init(&b);
    ck_assert_int_eq(moq_server_setup_encode(&b, cases[i].version, cases[i].params ? &prm : NULL), (int)n);
    expect_bytes(&b, cases[i].hx, "server setup");
    moq_buf_free(&b);
    free(p);
  }
}
END_TEST

/* ---- announce init ---- */

START_TEST(test_announce_init) {
  uint8_t raw[64];
  for (int v = MOQ_LITE_01; v <= MOQ_LITE_02; v++) {
    size_t n = hex("05 01 03 62 62 62", raw);
    moq_announce_init ai;
    const char *why = NULL;
    uint8_t *p = dupb(raw, n);
    ck_assert_int_eq(moq_announce_init_decode((moq_version)v, p, n, NULL, &ai, &why), (int)n);
    moq_str_list it = ai.suffixes;
    moq_str s;
    ck_assert_int_eq(moq_str_list_next(&it, &s), 1);
    str_eq(s, S("bbb"), "init suffix");
    ck_assert(s.p > p && s.p < p + n);
    ck_assert_int_eq(moq_str_list_next(&it, &s), 0);
    for (size_t k = 0; k < n; k++) {
      uint8_t *q = dupb(raw, k);
      ck_assert_int_eq(moq_announce_init_decode((moq_version)v, q, k, NULL, &ai, &why), MOQ_NEED_MORE);
      free(q);
    }
    free(p);
    moq_buf b;
    moq_buf_init(&b);
    moq_str one = S("bbb");
    ck_assert_int_eq(moq_announce_init_encode(&b, (moq_version)v, &one, 1), 6);
    expect_bytes(&b, "05 01 03 62 62 62", "init");
    moq_buf_reset(&b);
    ck_assert_int_eq(moq_announce_init_encode(&b, (moq_version)v, NULL, 0), 2);
    expect_bytes(&b, "01 00", "init empty");
    n = hex("01 00", raw);
    ck_assert_int_eq(moq_announce_init_decode((moq_version)v, raw, n, NULL, &ai, &why), 2);
    ck_assert_uint_eq(ai.suffixes.count, 0);
    /* a long list: no fixed array behind it */
    moq_buf_reset(&b);
    moq_str many[200];
    char names[200][16];
    for (int i = 0; i < 200; i++) {
      snprintf(names[i], sizeof names[i], "b%d", i);
      many[i] = moq_str_c(names[i]);
    }
    ck_assert_int_gt(moq_announce_init_encode(&b, (moq_version)v, many, 200), 0);
    ck_assert_int_eq(moq_announce_init_decode((moq_version)v, b.data, b.len, NULL, &ai, &why), (int)b.len);
    it = ai.suffixes;
    int count = 0;
    while (moq_str_list_next(&it, &s)) str_eq(s, many[count++], "many");
    ck_assert_int_eq(count, 200);
    moq_buf_free(&b);
    /* count larger than the entries present, and a bad entry */
    n = hex("05 02 03 62 62 62", raw);
    ck_assert_int_eq(moq_announce_init_decode((moq_version)v, raw, n, NULL, &ai, &why), MOQ_ERR_MALFORMED);
    n = hex("03 01 01 ff", raw);
    ck_assert_int_eq(moq_announce_init_decode((moq_version)v, raw, n, NULL, &ai, &why), MOQ_ERR_MALFORMED);
  }
  moq_announce_init ai;
  ck_assert_int_eq(moq_announce_init_decode(MOQ_LITE_03, raw, 2, NULL, &ai, NULL), MOQ_ERR_VERSION);
}
END_TEST

/* ---- captured streams ---- */

START_TEST(test_captured_subscribe_stream) {
  /* @moq/net lite-05: the client's subscribe stream, then the server's replies */
  uint8_t raw[64];
  size_t n = hex("02 | 10 | 00 03 62 62 62 05 76 69 64 65 6f 01 00 00 00 00 | 06 | 02 00 41 f4 00 00", raw), off = 0;
  uint64_t type;
  moq_subscribe s;
  moq_sub_params u;
  int rc = moq_bidi_type_decode(MOQ_LITE_05, raw, n, &type, NULL);
  ck_assert_int_eq(rc, 1);
  off += (size_t)rc;
  rc = moq_subscribe_decode(MOQ_LITE_05, raw + off, n - off, NULL, &s, NULL);
  ck_assert_int_eq(rc, 17);
  off += (size_t)rc;
  rc = moq_subscribe_update_decode(MOQ_LITE_05, raw + off, n - off, NULL, &u, NULL);
  ck_assert_int_eq(rc, 7);
  ck_assert_uint_eq(off + (size_t)rc, n);
  ck_assert_uint_eq(u.max_latency_ms, 500);
  n = hex("00 01 2a | 01 01 2b", raw);
  moq_subscribe_reply r;
  ck_assert_int_eq(moq_subscribe_reply_decode(MOQ_LITE_05, raw, n, NULL, &r, NULL), 3);
  ck_assert(r.kind == MOQ_REPLY_START && r.group == 42);
  ck_assert_int_eq(moq_subscribe_reply_decode(MOQ_LITE_05, raw + 3, n - 3, NULL, &r, NULL), 3);
  ck_assert(r.kind == MOQ_REPLY_END && r.group == 43);
  /* the server's announce stream answer: ANNOUNCE_OK with an 8-byte hop, then one ANNOUNCE */
  n = hex("09 | c0 12 fd 2b e6 33 33 7f 01 | 06 | 01 03 62 62 62 00", raw);
  moq_announce_ok ok;
  moq_announce a;
  ck_assert_int_eq(moq_announce_ok_decode(MOQ_LITE_05, raw, n, NULL, &ok, NULL), 10);
  ck_assert_uint_eq(ok.active, 1);
  ck_assert_int_eq(moq_announce_decode(MOQ_LITE_05, raw + 10, n - 10, NULL, &a, NULL), 7);
  /* a non-minimal Length is accepted */
  n = hex("40 02 00 00", raw);
  moq_announce_request ar;
  ck_assert_int_eq(moq_announce_request_decode(MOQ_LITE_04, raw, n, NULL, &ar, NULL), 4);
}
END_TEST

/* ---- frames ---- */

START_TEST(test_frame_headers) {
  static const struct {
    unsigned versions;
    const char *hx;
    int64_t delta;
    size_t hdr;
    const char *payload;
  } cases[] = {
      {V(1) | V(2) | V(3) | V(4), "05 | 68 65 6c 6c 6f", 0, 1, "hello"},
      {V(1) | V(2) | V(3) | V(4), "03 | 61 62 63", 0, 1, "abc"},
      {V(5), "80 02 bf 20 | 05 | 68 65 6c 6c 6f", 90000, 5, "hello"},
      {V(5), "57 70 | 03 | 61 62 63", 3000, 3, "abc"},
      {V(5), "4b b7 | 00", -1500, 3, ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    for (int v = MOQ_LITE_01; v <= MOQ_LITE_05; v++) {
      if (!(cases[i].versions & V(v))) continue;
      uint8_t raw[32];
      size_t n = hex(cases[i].hx, raw);
      moq_frame_header h;
      const char *why = NULL;
      uint8_t *p = dupb(raw, n);
      ck_assert_int_eq(moq_frame_header_decode((moq_version)v, p, n, NULL, &h, &why), (int)cases[i].hdr);
      ck_assert(h.ts_delta == cases[i].delta);
      ck_assert_uint_eq(h.payload_len, strlen(cases[i].payload));
      ck_assert_uint_eq(cases[i].hdr + h.payload_len, n);
      ck_assert_mem_eq(p + cases[i].hdr, cases[i].payload, h.payload_len);
      free(p);
      /* the header alone is enough: the payload may come later */
      p = dupb(raw, cases[i].hdr);
      ck_assert_int_eq(moq_frame_header_decode((moq_version)v, p, cases[i].hdr, NULL, &h, &why), (int)cases[i].hdr);
      free(p);
      for (size_t k = 0; k < cases[i].hdr; k++) {
        p = dupb(raw, k);
        ck_assert_int_eq(moq_frame_header_decode((moq_version)v, p, k, NULL, &h, &why), MOQ_NEED_MORE);
        free(p);
      }
      moq_buf b;
      moq_buf_init(&b);
      ck_assert_int_eq(moq_frame_header_encode(&b, (moq_version)v, cases[i].delta, h.payload_len), (int)cases[i].hdr);
      moq_buf_reset(&b);
      ck_assert_int_eq(moq_frame_encode(&b, (moq_version)v, cases[i].delta, (const uint8_t *)cases[i].payload,
                                        strlen(cases[i].payload)),
                       (int)n);
      expect_bytes(&b, cases[i].hx, "frame");
      moq_buf_free(&b);
    }
  /* frame size limit: 32 MiB passes, one more byte does not */
  uint8_t raw[16];
  moq_frame_header h;
  size_t n = hex("82 00 00 00", raw);
  ck_assert_int_eq(moq_frame_header_decode(MOQ_LITE_04, raw, n, NULL, &h, NULL), 4);
  n = hex("82 00 00 01", raw);
  ck_assert_int_eq(moq_frame_header_decode(MOQ_LITE_04, raw, n, NULL, &h, NULL), MOQ_ERR_TOO_LARGE);
  n = hex("00 82 00 00 01", raw);
  ck_assert_int_eq(moq_frame_header_decode(MOQ_LITE_05, raw, n, NULL, &h, NULL), MOQ_ERR_TOO_LARGE);
  /* zigzag helper */
  ck_assert_uint_eq(moq_zigzag_encode(90000), 180000);
  ck_assert_uint_eq(moq_zigzag_encode(3000), 6000);
  ck_assert_uint_eq(moq_zigzag_encode(-1500), 2999);
  ck_assert_uint_eq(moq_zigzag_encode(-1), 1);
  ck_assert_uint_eq(moq_zigzag_encode(-2), 3);
  ck_assert(moq_zigzag_decode(2999) == -1500);
  ck_assert(moq_zigzag_decode(moq_zigzag_encode(INT64_MIN)) == INT64_MIN);
  ck_assert(moq_zigzag_decode(moq_zigzag_encode(INT64_MAX)) == INT64_MAX);
  /* a timestamp delta before lite-05 is a version error; too large a delta is invalid */
  moq_buf b;
  moq_buf_init(&b);
  ck_assert_int_eq(moq_frame_header_encode(&b, MOQ_LITE_04, 5, 1), MOQ_ERR_VERSION);
  ck_assert_int_eq(moq_frame_header_encode(&b, MOQ_LITE_05, INT64_MAX, 1), MOQ_ERR_INVALID);
  ck_assert_uint_eq(b.len, 0);
  moq_buf_free(&b);
}
END_TEST

/* Feeds data to a reader in pieces of `chunk` bytes; collects payloads into out (separated by '|') and
 * timestamps into ts; returns the number of frames. */
static int read_frames(moq_version v, const uint8_t *data, size_t n, size_t chunk, char *out, uint64_t *ts) {
  moq_frame_reader r;
  moq_frame_reader_init(&r, v, NULL);
  size_t pos = 0, o = 0;
  int frames = 0;
  bool open = false;
  while (pos < n) {
    size_t len = n - pos < chunk ? n - pos : chunk;
    uint8_t *piece = dupb(data + pos, len);
    size_t used = 0;
    for (;;) {
      moq_frame_event ev;
      const char *why = NULL;
      int rc = moq_frame_reader_next(&r, piece + used, len - used, &ev, &why);
      ck_assert_msg(rc >= 0, "reader error %d (%s)", rc, why ? why : "");
      used += (size_t)rc;
      if (ev.kind == MOQ_FRAME_NONE) break;
      if (ev.kind == MOQ_FRAME_BEGIN) {
        ck_assert(!open);
        open = true;
        ts[frames++] = ev.timestamp;
      } else if (ev.kind == MOQ_FRAME_DATA) {
        ck_assert(open && ev.data_len > 0);
        ck_assert(ev.data >= piece && ev.data + ev.data_len <= piece + len); /* a view, not a copy */
        memcpy(out + o, ev.data, ev.data_len);
        o += ev.data_len;
      } else {
        ck_assert(open);
        open = false;
        out[o++] = '|';
      }
    }
    ck_assert_uint_eq(used, len);
    free(piece);
    pos += len;
    /* FIN is only clean at a frame boundary */
    bool boundary = (pos == n);
    if (!boundary) ck_assert_int_eq(moq_frame_reader_finish(&r, NULL) == 0, !open && r.hdr_len == 0);
  }
  /* drain a pending END with no more input */
  moq_frame_event ev;
  for (;;) {
    ck_assert_int_ge(moq_frame_reader_next(&r, NULL, 0, &ev, NULL), 0);
    if (ev.kind == MOQ_FRAME_NONE) break;
    ck_assert_int_eq(ev.kind, MOQ_FRAME_END);
    open = false;
    out[o++] = '|';
  }
  ck_assert_int_eq(moq_frame_reader_finish(&r, NULL), 0);
  out[o] = '\0';
  return frames;
}

START_TEST(test_frame_reader) {
  uint8_t raw[64];
  char out[64];
  uint64_t ts[8];
  /* the full lite-05 group stream as @moq/net sends it */
  size_t n = hex("00 | 02 00 2a | 80 02 bf 20 05 68 65 6c 6c 6f | 57 70 03 61 62 63 | 4b b7 00", raw);
  uint64_t type;
  moq_group g;
  ck_assert_int_eq(moq_uni_type_decode(MOQ_LITE_05, raw, n, &type, NULL), 1);
  ck_assert_int_eq(moq_group_decode(MOQ_LITE_05, raw + 1, n - 1, NULL, &g, NULL), 3);
  ck_assert(g.subscribe_id == 0 && g.sequence == 42);
  for (size_t chunk = 1; chunk <= n - 4; chunk++) {
    ck_assert_int_eq(read_frames(MOQ_LITE_05, raw + 4, n - 4, chunk, out, ts), 3);
    ck_assert_str_eq(out, "hello|abc||");
    ck_assert(ts[0] == 90000 && ts[1] == 93000 && ts[2] == 91500);
  }
  /* the largest headers (16 bytes: 8-byte delta, non-minimal 8-byte length), split anywhere */
  n = hex("c0 00 02 00 00 00 00 00 c0 00 00 00 00 00 00 02 68 69 | c0 00 01 ff ff ff ff ff c0 00 00 00 00 00 00 00",
          raw);
  for (size_t chunk = 1; chunk <= n; chunk++) {
    ck_assert_int_eq(read_frames(MOQ_LITE_05, raw, n, chunk, out, ts), 2);
    ck_assert_str_eq(out, "hi||");
    ck_assert(ts[0] == (1ULL << 40) && ts[1] == 0);
  }
  /* (the lite-05 fetch response in the vectors is exactly the frames above: the same reader serves it) */
  /* lite-01..04 group stream */
  n = hex("00 | 02 00 2a | 05 68 65 6c 6c 6f | 03 61 62 63", raw);
  for (int v = MOQ_LITE_01; v <= MOQ_LITE_04; v++)
    for (size_t chunk = 1; chunk <= n - 4; chunk++) {
      ck_assert_int_eq(read_frames((moq_version)v, raw + 4, n - 4, chunk, out, ts), 2);
      ck_assert_str_eq(out, "hello|abc|");
      ck_assert(ts[0] == 0 && ts[1] == 0);
    }
  /* errors: a frame over the limit, a negative timestamp, FIN inside a frame */
  moq_frame_reader r;
  moq_frame_event ev;
  const char *why = NULL;
  moq_frame_reader_init(&r, MOQ_LITE_04, NULL);
  n = hex("82 00 00 01", raw);
  ck_assert_int_eq(moq_frame_reader_next(&r, raw, 2, &ev, &why), 2);
  ck_assert_int_eq(ev.kind, MOQ_FRAME_NONE);
  ck_assert_int_eq(moq_frame_reader_next(&r, raw + 2, 2, &ev, &why), MOQ_ERR_TOO_LARGE);
  moq_limits lim;
  moq_limits_default(&lim);
  lim.max_frame = 4;
  moq_frame_reader_init(&r, MOQ_LITE_05, &lim);
  n = hex("00 05", raw);
  ck_assert_int_eq(moq_frame_reader_next(&r, raw, n, &ev, &why), MOQ_ERR_TOO_LARGE);
  moq_frame_reader_init(&r, MOQ_LITE_05, NULL);
  n = hex("01 00", raw);
  ck_assert_int_eq(moq_frame_reader_next(&r, raw, n, &ev, &why), MOQ_ERR_MALFORMED);
  moq_frame_reader_init(&r, MOQ_LITE_05, NULL);
  n = hex("80 02", raw);
  ck_assert_int_eq(moq_frame_reader_next(&r, raw, n, &ev, &why), 2);
  ck_assert_int_eq(moq_frame_reader_finish(&r, &why), MOQ_ERR_MALFORMED);
  moq_frame_reader_init(&r, MOQ_LITE_02, NULL);
  n = hex("05 68 65", raw);
  ck_assert_int_eq(moq_frame_reader_next(&r, raw, n, &ev, &why), 1);
  ck_assert_int_eq(ev.kind, MOQ_FRAME_BEGIN);
  ck_assert_uint_eq(ev.payload_len, 5);
  ck_assert_int_eq(moq_frame_reader_next(&r, raw + 1, 2, &ev, &why), 2);
  ck_assert_int_eq(ev.kind, MOQ_FRAME_DATA);
  ck_assert_int_eq(moq_frame_reader_finish(&r, &why), MOQ_ERR_MALFORMED);
}
END_TEST

/* ---- datagrams ---- */

START_TEST(test_datagram) {
  static const struct {
    const char *hx;
    uint64_t sub, seq, ts;
    const char *payload;
    size_t hdr;
  } cases[] = {
      {"00 2a 80 01 5f 90 68 69", 0, 42, 90000, "hi", 6},
      {"00 2b 80 01 5f 90 68 69", 0, 43, 90000, "hi", 6},
      {"03 80 00 40 00 43 e8 6f 70 75 73", 3, 16384, 1000, "opus", 7},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t raw[32];
    size_t n = hex(cases[i].hx, raw);
    uint8_t *p = dupb(raw, n);
    moq_datagram d;
    const char *why = NULL;
    ck_assert_int_eq(moq_datagram_decode(MOQ_LITE_05, p, n, NULL, &d, &why), (int)n);
    ck_assert(d.subscribe_id == cases[i].sub && d.sequence == cases[i].seq && d.timestamp == cases[i].ts);
    ck_assert_uint_eq(d.payload_len, strlen(cases[i].payload));
    ck_assert_ptr_eq(d.payload, p + cases[i].hdr);
    ck_assert_mem_eq(d.payload, cases[i].payload, d.payload_len);
    free(p);
    for (size_t k = 0; k < cases[i].hdr; k++) {
      p = dupb(raw, k);
      ck_assert_int_eq(moq_datagram_decode(MOQ_LITE_05, p, k, NULL, &d, &why), MOQ_NEED_MORE);
      free(p);
    }
    moq_buf b;
    moq_buf_init(&b);
    moq_datagram e = {cases[i].sub, cases[i].seq, cases[i].ts, (const uint8_t *)cases[i].payload,
                      strlen(cases[i].payload)};
    ck_assert_int_eq(moq_datagram_encode(&b, MOQ_LITE_05, &e), (int)n);
    expect_bytes(&b, cases[i].hx, "datagram");
    ck_assert_int_eq(moq_datagram_encode(&b, MOQ_LITE_04, &e), MOQ_ERR_VERSION);
    moq_buf_free(&b);
  }
  uint8_t big[1201] = {0};
  moq_datagram d;
  ck_assert_int_eq(moq_datagram_decode(MOQ_LITE_05, big, 1200, NULL, &d, NULL), 1200);
  ck_assert_int_eq(moq_datagram_decode(MOQ_LITE_05, big, 1201, NULL, &d, NULL), MOQ_ERR_TOO_LARGE);
  ck_assert_int_eq(moq_datagram_decode(MOQ_LITE_04, big, 10, NULL, &d, NULL), MOQ_ERR_VERSION);
}
END_TEST

/* ---- encoder errors ---- */

START_TEST(test_encode_errors) {
  moq_buf b;
  moq_buf_init(&b);
  ck_assert_int_eq(moq_buf_append(&b, "xy", 2), 0);
  moq_announce a = {.status = MOQ_ANNOUNCE_RESTART, .suffix = S("bbb")};
  ck_assert_int_eq(moq_announce_encode(&b, MOQ_LITE_04, &a), MOQ_ERR_INVALID);
  ck_assert_int_eq(moq_announce_encode(&b, MOQ_LITE_05, &a), 7);
  b.len = 2;
  a.status = 1, a.suffix = (moq_str){(const uint8_t *)"\xff", 1};
  ck_assert_int_eq(moq_announce_encode(&b, MOQ_LITE_05, &a), MOQ_ERR_INVALID);
  moq_track_info ti = {0, false, 5000, 0};
  ck_assert_int_eq(moq_track_info_encode(&b, MOQ_LITE_05, &ti), MOQ_ERR_INVALID);
  ti.timescale = 1000;
  ck_assert_int_eq(moq_track_info_encode(&b, MOQ_LITE_04, &ti), MOQ_ERR_VERSION);
  moq_setup st = {0};
  ck_assert_int_eq(moq_setup_encode(&b, MOQ_LITE_04, &st), MOQ_ERR_VERSION);
  st.has_probe = true, st.probe = VARINT_MAX + 1;
  ck_assert_int_eq(moq_setup_encode(&b, MOQ_LITE_05, &st), MOQ_ERR_INVALID);
  moq_sub_params sp = {.priority = 1, .has_start = true, .start = VARINT_MAX};
  ck_assert_int_eq(moq_subscribe_update_encode(&b, MOQ_LITE_03, &sp), MOQ_ERR_INVALID);
  ck_assert_int_eq(moq_subscribe_update_encode(&b, MOQ_LITE_02, &sp), 2); /* start does not exist there */
  b.len = 2;
  moq_group g = {0, UINT64_MAX};
  ck_assert_int_eq(moq_group_encode(&b, MOQ_LITE_03, &g), MOQ_ERR_INVALID);
  moq_subscribe_reply r = {.kind = MOQ_REPLY_START, .group = 1};
  ck_assert_int_eq(moq_subscribe_reply_encode(&b, MOQ_LITE_04, &r), MOQ_ERR_VERSION);
  r.kind = MOQ_REPLY_DROP;
  ck_assert_int_eq(moq_subscribe_reply_encode(&b, MOQ_LITE_02, &r), MOQ_ERR_VERSION);
  r.kind = MOQ_REPLY_OK;
  ck_assert_int_eq(moq_subscribe_reply_encode(&b, MOQ_LITE_05, &r), MOQ_ERR_VERSION);
  moq_goaway ga = {S("")};
  ck_assert_int_eq(moq_goaway_encode(&b, MOQ_LITE_03, &ga), MOQ_ERR_VERSION);
  moq_probe pr = {1, 1};
  ck_assert_int_eq(moq_probe_encode(&b, MOQ_LITE_02, &pr), MOQ_ERR_VERSION);
  ck_assert_int_eq(moq_probe_encode(&b, MOQ_LITE_03, &pr), 2); /* rtt dropped on lite-03 */
  b.len = 2;
  moq_announce_ok ok = {1, 1};
  ck_assert_int_eq(moq_announce_ok_encode(&b, MOQ_LITE_04, &ok), MOQ_ERR_VERSION);
  /* nothing was left behind by any failure */
  ck_assert_uint_eq(b.len, 2);
  ck_assert_mem_eq(b.data, "xy", 2);
  /* a legacy body over 65535 bytes cannot be framed */
  uint8_t *huge = calloc(70000, 1);
  moq_legacy_params prm = {.has_implementation = true, .implementation = {huge, 70000}};
  uint64_t ver = 0xff0dad02;
  ck_assert_int_eq(moq_client_setup_encode(&b, &ver, 1, &prm), MOQ_ERR_INVALID);
  ck_assert_uint_eq(b.len, 2);
  free(huge);
  moq_buf_free(&b);
  ck_assert_ptr_null(b.data);
  ck_assert_uint_eq(b.len, 0);
}
END_TEST

/* ---- versions, buffer, paths ---- */

START_TEST(test_versions) {
  for (int v = MOQ_LITE_01; v <= MOQ_LITE_05; v++) {
    moq_version out;
    ck_assert(moq_version_code((moq_version)v) == 0xff0dad00ULL + (uint64_t)v);
    ck_assert_int_eq(moq_version_from_code(0xff0dad00ULL + (uint64_t)v, &out), 0);
    ck_assert_int_eq(out, v);
  }
  moq_version out = MOQ_LITE_01;
  ck_assert_int_eq(moq_version_from_code(0xff0dad06, &out), MOQ_ERR_VERSION);
  ck_assert_int_eq(moq_version_from_code(0xff0dad00, &out), MOQ_ERR_VERSION);
  ck_assert_int_eq(moq_version_from_code(MOQ_DRAFT14_CODE, &out), MOQ_ERR_VERSION);
  ck_assert_str_eq(moq_version_alpn(MOQ_LITE_05), "moq-lite-05");
  ck_assert_str_eq(moq_version_alpn(MOQ_LITE_04), "moq-lite-04");
  ck_assert_str_eq(moq_version_alpn(MOQ_LITE_03), "moq-lite-03");
  ck_assert_str_eq(moq_version_alpn(MOQ_LITE_02), "moql");
  ck_assert_str_eq(moq_version_alpn(MOQ_LITE_01), "moql");
  ck_assert_ptr_null(moq_version_alpn((moq_version)6));
  ck_assert_str_eq(moq_version_name(MOQ_LITE_01), "moq-lite-01");
  ck_assert_int_eq(moq_version_from_alpn("moq-lite-04", 11, &out), 1);
  ck_assert_int_eq(out, MOQ_LITE_04);
  ck_assert_int_eq(moq_version_from_alpn("moql", 4, &out), 0);
  ck_assert_int_eq(moq_version_from_alpn("moq-lite-06-wip", 15, &out), MOQ_ERR_VERSION);
  ck_assert_int_eq(moq_version_from_alpn("moq-lite-0", 10, &out), MOQ_ERR_VERSION);
  ck_assert_int_eq(moq_version_from_alpn("moq-lite-01", 11, &out), MOQ_ERR_VERSION);
  ck_assert_str_eq(moq_err_name(MOQ_NEED_MORE), "need_more");
  ck_assert_str_eq(moq_err_name(MOQ_ERR_TOO_LARGE), "too_large");
}
END_TEST

START_TEST(test_buf) {
  moq_buf b;
  moq_buf_init(&b);
  for (int i = 0; i < 10000; i++) ck_assert_int_eq(moq_buf_u8(&b, (uint8_t)i), 0);
  ck_assert_uint_eq(b.len, 10000);
  ck_assert_uint_ge(b.cap, 10000);
  ck_assert_uint_eq(b.data[9999], (uint8_t)9999);
  moq_buf_reset(&b);
  ck_assert_uint_eq(b.len, 0);
  /* section 1 of the vectors, minimal encodings */
  static const uint64_t vals[] = {37, 15293, 494878333, 0xff0dad05, 0, 63, 64, 16383, 16384, 1073741823, 1073741824};
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) ck_assert_int_eq(moq_buf_varint(&b, vals[i]), 0);
  expect_bytes(&b, "25 | 7b bd | 9d 7f 3e 7d | c0 00 00 00 ff 0d ad 05 | 00 | 3f | 40 40 | 7f ff | 80 00 40 00 | "
               "bf ff ff ff | c0 00 00 00 40 00 00 00", "varints");
  moq_buf_reset(&b);
  ck_assert_int_eq(moq_buf_varint(&b, 494878333), 0);
  expect_bytes(&b, "9d 7f 3e 7d", "varint");
  ck_assert_int_eq(moq_buf_varint(&b, VARINT_MAX + 1), MOQ_ERR_INVALID);
  ck_assert_uint_eq(b.len, 4);
  moq_buf_free(&b);
  moq_buf_free(&b);
}
END_TEST

START_TEST(test_paths) {
  char out[64];
  static const struct {
    const char *in, *want;
  } norm[] = {{"", ""}, {"/", ""}, {"///", ""}, {"a", "a"}, {"/a/", "a"}, {"a//b", "a/b"}, {"//a///b//c//", "a/b/c"}};
  for (size_t i = 0; i < sizeof norm / sizeof norm[0]; i++) {
    ck_assert_int_eq(moq_path_normalize(moq_str_c(norm[i].in), out, sizeof out), (int)strlen(norm[i].want));
    ck_assert_str_eq(out, norm[i].want);
  }
  ck_assert_int_eq(moq_path_normalize(S("abcdef"), out, 6), MOQ_ERR_TOO_LARGE);
  ck_assert_int_eq(moq_path_normalize(S("abcdef"), out, 7), 6);
  ck_assert_int_eq(moq_path_normalize(S("a"), out, 0), MOQ_ERR_TOO_LARGE);
  static const struct {
    const char *a, *b, *want;
  } join[] = {{"", "", ""}, {"", "x", "x"}, {"x", "", "x"}, {"a/", "/b", "a/b"}, {"demo", "cam1", "demo/cam1"},
              {"/a//b/", "c//d", "a/b/c/d"}};
  for (size_t i = 0; i < sizeof join / sizeof join[0]; i++) {
    ck_assert_int_eq(moq_path_join(moq_str_c(join[i].a), moq_str_c(join[i].b), out, sizeof out),
                     (int)strlen(join[i].want));
    ck_assert_str_eq(out, join[i].want);
  }
  ck_assert_int_eq(moq_path_join(S("abc"), S("def"), out, 7), MOQ_ERR_TOO_LARGE);
  ck_assert_int_eq(moq_path_join(S("abc"), S("def"), out, 8), 7);
  ck_assert(moq_path_has_prefix(S("foo"), S("foo")));
  ck_assert(moq_path_has_prefix(S("foo/bar"), S("foo")));
  ck_assert(moq_path_has_prefix(S("/foo//bar/"), S("foo/")));
  ck_assert(!moq_path_has_prefix(S("foobar"), S("foo")));
  ck_assert(!moq_path_has_prefix(S("foo"), S("foo/bar")));
  ck_assert(!moq_path_has_prefix(S("foo/ba"), S("foo/bar")));
  ck_assert(!moq_path_has_prefix(S("fo"), S("foo")));
  ck_assert(moq_path_has_prefix(S("anything/at/all"), S("")));
  ck_assert(moq_path_has_prefix(S(""), S("/")));
  moq_str rest;
  ck_assert_int_eq(moq_path_strip_prefix(S("foo/bar/baz"), S("foo"), &rest), 1);
  str_eq(rest, S("bar/baz"), "strip");
  ck_assert_int_eq(moq_path_strip_prefix(S("foo"), S("foo"), &rest), 1);
  ck_assert_uint_eq(rest.len, 0);
  ck_assert_int_eq(moq_path_strip_prefix(S("/foo//bar"), S("/foo/"), &rest), 1);
  str_eq(rest, S("bar"), "strip slashes");
  ck_assert_int_eq(moq_path_strip_prefix(S("room/alice"), S(""), &rest), 1);
  str_eq(rest, S("room/alice"), "strip empty");
  ck_assert_int_eq(moq_path_strip_prefix(S("foobar"), S("foo"), &rest), 0);
  ck_assert_int_eq(moq_path_strip_prefix(S("foo"), S("foo/bar"), &rest), 0);
  ck_assert_uint_eq(moq_path_segments(S("/a//b/c/")), 3);
  ck_assert_uint_eq(moq_path_segments(S("//")), 0);
  const char *why = NULL;
  ck_assert_int_eq(moq_path_check(S("a/b"), NULL, &why), 0);
  ck_assert_int_eq(moq_path_check((moq_str){(const uint8_t *)"a\0b", 3}, NULL, &why), MOQ_ERR_MALFORMED);
}
END_TEST

int main(void) {
  Suite *s = suite_create("lite");
  TCase *tc = tcase_create("codec");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_vectors);
  tcase_add_test(tc, test_malformed);
  tcase_add_test(tc, test_hop_limit);
  tcase_add_test(tc, test_path_limits);
  tcase_add_test(tc, test_utf8);
  tcase_add_test(tc, test_stream_types);
  tcase_add_test(tc, test_client_setup);
  tcase_add_test(tc, test_client_setup_lenient);
  tcase_add_test(tc, test_server_setup);
  tcase_add_test(tc, test_announce_init);
  tcase_add_test(tc, test_captured_subscribe_stream);
  tcase_add_test(tc, test_frame_headers);
  tcase_add_test(tc, test_frame_reader);
  tcase_add_test(tc, test_datagram);
  tcase_add_test(tc, test_encode_errors);
  tcase_add_test(tc, test_versions);
  tcase_add_test(tc, test_buf);
  tcase_add_test(tc, test_paths);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
