/* lite_decode: decoders for the moq-lite control messages (see lite.h). Every reader works on a
 * bounded byte_cursor; a message body is taken whole (its Length is checked against the limits first)
 * and must be consumed exactly. */
#include <limits.h>
#include <string.h>

#include "base/varint.h"
#include "moq/lite.h"

/* Sets *why and returns rc. */
static int fail(const char **why, int rc, const char *msg) {
  if (why) *why = msg;
  return rc;
}

/* Returns lim, or the defaults stored in *def when lim is NULL. */
static const moq_limits *limits_or_default(const moq_limits *lim, moq_limits *def) {
  if (lim) return lim;
  moq_limits_default(def);
  return def;
}

/* 0 when v lies in [lo, hi], else MOQ_ERR_VERSION. */
static int check_version(moq_version v, moq_version lo, moq_version hi, const char **why) {
  if (!moq_version_valid(v)) return fail(why, MOQ_ERR_VERSION, "invalid version");
  if (v < lo || v > hi) return fail(why, MOQ_ERR_VERSION, "message not in this version");
  return 0;
}

#define TRY(expr)                                                                                            \
  do {                                                                                                       \
    int rc_ = (expr);                                                                                        \
    if (rc_ < 0) return rc_;                                                                                 \
  } while (0)

/* ---- framing ---- */

/* Frames a plain message `Length (i) + Body`: sets *body over the body and *total to its full size. */
static int frame_plain(const uint8_t *in, size_t len, const moq_limits *lim, byte_cursor *body, size_t *total,
                       const char **why) {
  uint64_t n;
  size_t used;
  if (varint_decode(in, len, &n, &used) != VARINT_OK) return fail(why, MOQ_NEED_MORE, "need more bytes");
  if (n > lim->max_message || n > (uint64_t)(INT_MAX - 16)) return fail(why, MOQ_ERR_TOO_LARGE, "message too large");
  if (len - used < n) return fail(why, MOQ_NEED_MORE, "need more bytes");
  cursor_init(body, in + used, (size_t)n);
  *total = used + (size_t)n;
  return 0;
}

/* Frames a typed message `Type (i), Length (i), Body`. */
static int frame_typed(const uint8_t *in, size_t len, const moq_limits *lim, uint64_t *type, byte_cursor *body,
                       size_t *total, const char **why) {
  size_t used;
  if (varint_decode(in, len, type, &used) != VARINT_OK) return fail(why, MOQ_NEED_MORE, "need more bytes");
  size_t inner;
  TRY(frame_plain(in + used, len - used, lim, body, &inner, why));
  *total = used + inner;
  return 0;
}

/* Frames a legacy setup message `Type (i), Length (u16 BE), Body` whose type must be `expect`. */
static int frame_legacy(const uint8_t *in, size_t len, const moq_limits *lim, uint64_t expect, byte_cursor *body,
                        size_t *total, const char **why) {
  uint64_t type;
  size_t used;
  if (varint_decode(in, len, &type, &used) != VARINT_OK) return fail(why, MOQ_NEED_MORE, "need more bytes");
  if (type != expect) return fail(why, MOQ_ERR_UNKNOWN_TYPE, "unexpected setup message type");
  if (len - used < 2) return fail(why, MOQ_NEED_MORE, "need more bytes");
  size_t n = ((size_t)in[used] << 8) | in[used + 1];
  used += 2;
  if (n > lim->max_message) return fail(why, MOQ_ERR_TOO_LARGE, "message too large");
  if (len - used < n) return fail(why, MOQ_NEED_MORE, "need more bytes");
  cursor_init(body, in + used, n);
  *total = used + n;
  return 0;
}

/* Ends a body: it must be fully consumed. Returns total (the bytes the message took). */
static int body_done(const byte_cursor *c, size_t total, const char **why) {
  if (cursor_left(c) != 0) return fail(why, MOQ_ERR_MALFORMED, "bytes left over inside message length");
  return (int)total;
}

/* ---- body fields (running out of body is MALFORMED: the length lied) ---- */

static int get_varint(byte_cursor *c, uint64_t *v, const char **why) {
  if (cursor_varint(c, v) != VARINT_OK) return fail(why, MOQ_ERR_MALFORMED, "message shorter than its fields");
  return 0;
}

static int get_u8(byte_cursor *c, uint8_t *v, const char **why) {
  if (cursor_u8(c, v) != VARINT_OK) return fail(why, MOQ_ERR_MALFORMED, "message shorter than its fields");
  return 0;
}

static int get_bool(byte_cursor *c, bool *v, const char **why) {
  uint8_t b;
  TRY(get_u8(c, &b, why));
  if (b > 1) return fail(why, MOQ_ERR_MALFORMED, "invalid bool value");
  *v = b == 1;
  return 0;
}

/* `Length (i) + bytes`, not validated. */
static int get_bytes(byte_cursor *c, moq_str *s, const char **why) {
  uint64_t n;
  TRY(get_varint(c, &n, why));
  if (n > cursor_left(c)) return fail(why, MOQ_ERR_MALFORMED, "string longer than message");
  s->len = (size_t)n;
  cursor_bytes(c, s->len, &s->p);
  return 0;
}

/* A UTF-8 string. */
static int get_string(byte_cursor *c, moq_str *s, const char **why) {
  TRY(get_bytes(c, s, why));
  if (!moq_utf8_valid(s->p, s->len)) return fail(why, MOQ_ERR_MALFORMED, "string is not UTF-8");
  return 0;
}

/* A path: a string within the path limits. */
static int get_path(byte_cursor *c, const moq_limits *lim, moq_str *s, const char **why) {
  TRY(get_bytes(c, s, why));
  return moq_path_check(*s, lim, why);
}

/* An "optional group": 0 = absent, else value + 1. */
static int get_optgroup(byte_cursor *c, bool *has, uint64_t *v, const char **why) {
  uint64_t x;
  TRY(get_varint(c, &x, why));
  *has = x != 0;
  *v = x ? x - 1 : 0;
  return 0;
}

/* ---- stream types ---- */

/* The first version with this bidi type, or 0 when none has it; *last is the last one. */
static moq_version bidi_since(uint64_t type, moq_version *last) {
  *last = MOQ_LITE_05;
  switch (type) {
  case MOQ_BIDI_SESSION: *last = MOQ_LITE_02; return MOQ_LITE_01;
  case MOQ_BIDI_ANNOUNCE:
  case MOQ_BIDI_SUBSCRIBE: return MOQ_LITE_01;
  case MOQ_BIDI_FETCH:
  case MOQ_BIDI_PROBE: return MOQ_LITE_03;
  case MOQ_BIDI_GOAWAY: return MOQ_LITE_04;
  case MOQ_BIDI_TRACK: return MOQ_LITE_05;
  default: return (moq_version)0;
  }
}

int moq_bidi_type_decode(moq_version v, const uint8_t *in, size_t len, uint64_t *type, const char **why) {
  TRY(check_version(v, MOQ_LITE_01, MOQ_LITE_05, why));
  uint64_t t;
  size_t used;
  if (varint_decode(in, len, &t, &used) != VARINT_OK) return fail(why, MOQ_NEED_MORE, "need more bytes");
  *type = t;
  moq_version last, first = bidi_since(t, &last);
  if (first == 0 || v < first || v > last) return fail(why, MOQ_ERR_UNKNOWN_TYPE, "unknown bidi stream type");
  return (int)used;
}

int moq_uni_type_decode(moq_version v, const uint8_t *in, size_t len, uint64_t *type, const char **why) {
  TRY(check_version(v, MOQ_LITE_01, MOQ_LITE_05, why));
  uint64_t t;
  size_t used;
  if (varint_decode(in, len, &t, &used) != VARINT_OK) return fail(why, MOQ_NEED_MORE, "need more bytes");
  *type = t;
  if (t == MOQ_UNI_GROUP || (t == MOQ_UNI_SETUP && v >= MOQ_LITE_05)) return (int)used;
  return fail(why, MOQ_ERR_UNKNOWN_TYPE, "unknown uni stream type");
}

/* ---- lite-05 SETUP ---- */

/* Reads a parameter value that must be exactly one varint. */
static int param_varint(moq_str val, uint64_t *v, const char **why) {
  size_t used;
  if (varint_decode(val.p, val.len, v, &used) != VARINT_OK || used != val.len)
    return fail(why, MOQ_ERR_MALFORMED, "parameter value is not one varint");
  return 0;
}

int moq_setup_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim, moq_setup *out,
                     const char **why) {
  moq_limits def;
  lim = limits_or_default(lim, &def);
  TRY(check_version(v, MOQ_LITE_05, MOQ_LITE_05, why));
  byte_cursor c;
  size_t total;
  TRY(frame_plain(in, len, lim, &c, &total, why));

  moq_setup m;
  memset(&m, 0, sizeof m);
  uint64_t count;
  TRY(get_varint(&c, &count, why));
  if (count > MOQ_MAX_PARAMS) return fail(why, MOQ_ERR_TOO_LARGE, "too many parameters");
  uint64_t seen[MOQ_MAX_PARAMS];
  for (size_t i = 0; i < (size_t)count; i++) {
    uint64_t id;
    moq_str val;
    TRY(get_varint(&c, &id, why));
    for (size_t k = 0; k < i; k++)
      if (seen[k] == id) return fail(why, MOQ_ERR_DUPLICATE, "duplicate parameter");
    seen[i] = id;
    TRY(get_bytes(&c, &val, why));
    switch (id) {
    case MOQ_SETUP_PROBE:
      TRY(param_varint(val, &m.probe, why));
      m.has_probe = true;
      break;
    case MOQ_SETUP_PATH:
      if (!moq_utf8_valid(val.p, val.len)) return fail(why, MOQ_ERR_MALFORMED, "path is not UTF-8");
      m.path = val;
      m.has_path = true;
      break;
    case MOQ_SETUP_ROLE:
      TRY(param_varint(val, &m.role, why));
      m.has_role = true;
      break;
    case MOQ_SETUP_ORIGIN:
      TRY(param_varint(val, &m.origin, why));
      m.has_origin = true;
      break;
    default: break; /* unknown ids are ignored */
    }
  }
  int rv = body_done(&c, total, why);
  if (rv > 0) *out = m;
  return rv;
}

/* ---- legacy setup (lite-01/02) ---- */

/* Marks a known id as seen; MOQ_ERR_DUPLICATE on the second time. */
static int mark_once(bool *has, const char **why) {
  if (*has) return fail(why, MOQ_ERR_DUPLICATE, "duplicate parameter");
  *has = true;
  return 0;
}

/* draft-14 KVP parameters: Count, then {Id, EVEN: varint | ODD: Length + bytes}. */
static int get_legacy_params(byte_cursor *c, moq_legacy_params *p, const char **why) {
  memset(p, 0, sizeof *p);
  uint64_t count;
  TRY(get_varint(c, &count, why));
  if (count > MOQ_MAX_PARAMS) return fail(why, MOQ_ERR_TOO_LARGE, "too many parameters");
  for (uint64_t i = 0; i < count; i++) {
    uint64_t id, val = 0;
    moq_str bytes = {NULL, 0};
    TRY(get_varint(c, &id, why));
    if ((id & 1) == 0)
      TRY(get_varint(c, &val, why));
    else
      TRY(get_bytes(c, &bytes, why));
    switch (id) {
    case MOQ_LEGACY_PATH:
      TRY(mark_once(&p->has_path, why));
      if (!moq_utf8_valid(bytes.p, bytes.len)) return fail(why, MOQ_ERR_MALFORMED, "path is not UTF-8");
      p->path = bytes;
      break;
    case MOQ_LEGACY_MAX_REQUEST_ID:
      TRY(mark_once(&p->has_max_request_id, why));
      p->max_request_id = val;
      break;
    case MOQ_LEGACY_SOLICIT:
      TRY(mark_once(&p->has_solicit, why));
      p->solicit = val;
      break;
    case MOQ_LEGACY_IMPLEMENTATION:
      TRY(mark_once(&p->has_implementation, why));
      p->implementation = bytes;
      break;
    default: break; /* unknown parameters are skipped */
    }
  }
  return 0;
}

int moq_client_setup_decode(const uint8_t *in, size_t len, const moq_limits *lim, moq_client_setup *out,
                            const char **why) {
  moq_limits def;
  lim = limits_or_default(lim, &def);
  byte_cursor c;
  size_t total;
  TRY(frame_legacy(in, len, lim, MOQ_LEGACY_CLIENT_SETUP, &c, &total, why));
  moq_client_setup m;
  TRY(get_varint(&c, &m.versions.count, why));
  m.versions.p = c.p;
  for (uint64_t i = 0; i < m.versions.count; i++) {
    uint64_t code;
    TRY(get_varint(&c, &code, why));
  }
  m.versions.len = (size_t)(c.p - m.versions.p);
  TRY(get_legacy_params(&c, &m.params, why));
  int rv = body_done(&c, total, why);
  if (rv > 0) *out = m;
  return rv;
}

int moq_client_setup_select(const moq_client_setup *cs, moq_version *out) {
  moq_varint_list it = cs->versions;
  uint64_t code;
  moq_version v;
  while (moq_varint_list_next(&it, &code))
    if (moq_version_from_code(code, &v) == 0 && v <= MOQ_LITE_02) {
      *out = v;
      return 0;
    }
  return MOQ_ERR_VERSION;
}

int moq_server_setup_decode(const uint8_t *in, size_t len, const moq_limits *lim, moq_server_setup *out,
                            const char **why) {
  moq_limits def;
  lim = limits_or_default(lim, &def);
  byte_cursor c;
  size_t total;
  TRY(frame_legacy(in, len, lim, MOQ_LEGACY_SERVER_SETUP, &c, &total, why));
  moq_server_setup m;
  TRY(get_varint(&c, &m.version, why));
  TRY(get_legacy_params(&c, &m.params, why));
  int rv = body_done(&c, total, why);
  if (rv > 0) *out = m;
  return rv;
}

int moq_session_info_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim,
                            moq_session_info_msg *out, const char **why) {
  moq_limits def;
  lim = limits_or_default(lim, &def);
  TRY(check_version(v, MOQ_LITE_01, MOQ_LITE_02, why));
  byte_cursor c;
  size_t total;
  TRY(frame_plain(in, len, lim, &c, &total, why));
  moq_session_info_msg m;
  TRY(get_varint(&c, &m.bitrate, why));
  int rv = body_done(&c, total, why);
  if (rv > 0) *out = m;
  return rv;
}

/* ---- announce stream ---- */

int moq_announce_request_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim,
                                moq_announce_request *out, const char **why) {
  moq_limits def;
  lim = limits_or_default(lim, &def);
  TRY(check_version(v, MOQ_LITE_01, MOQ_LITE_05, why));
  byte_cursor c;
  size_t total;
  TRY(frame_plain(in, len, lim, &c, &total, why));
  moq_announce_request m;
  memset(&m, 0, sizeof m);
  TRY(get_path(&c, lim, &m.prefix, why));
  if (v >= MOQ_LITE_04) TRY(get_varint(&c, &m.exclude_hop, why));
  int rv = body_done(&c, total, why);
  if (rv > 0) *out = m;
  return rv;
}

int moq_announce_ok_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim,
                           moq_announce_ok *out, const char **why) {
  moq_limits def;
  lim = limits_or_default(lim, &def);
  TRY(check_version(v, MOQ_LITE_05, MOQ_LITE_05, why));
  byte_cursor c;
  size_t total;
  TRY(frame_plain(in, len, lim, &c, &total, why));
  moq_announce_ok m;
  TRY(get_varint(&c, &m.hop, why));
  TRY(get_varint(&c, &m.active, why));
  int rv = body_done(&c, total, why);
  if (rv > 0) *out = m;
  return rv;
}

int moq_announce_init_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim,
                             moq_announce_init *out, const char **why) {
  moq_limits def;
  lim = limits_or_default(lim, &def);
  TRY(check_version(v, MOQ_LITE_01, MOQ_LITE_02, why));
  byte_cursor c;
  size_t total;
  TRY(frame_plain(in, len, lim, &c, &total, why));
  moq_announce_init m;
  TRY(get_varint(&c, &m.suffixes.count, why));
  m.suffixes.p = c.p;
  for (uint64_t i = 0; i < m.suffixes.count; i++) {
    moq_str s;
    TRY(get_path(&c, lim, &s, why));
  }
  m.suffixes.len = (size_t)(c.p - m.suffixes.p);
  int rv = body_done(&c, total, why);
  if (rv > 0) *out = m;
  return rv;
}

int moq_announce_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim, moq_announce *out,
                        const char **why) {
  moq_limits def;
  lim = limits_or_default(lim, &def);
  TRY(check_version(v, MOQ_LITE_01, MOQ_LITE_05, why));
  byte_cursor c;
  size_t total;
  TRY(frame_plain(in, len, lim, &c, &total, why));
  moq_announce m;
  memset(&m, 0, sizeof m);
  TRY(get_u8(&c, &m.status, why));
  if (m.status > MOQ_ANNOUNCE_RESTART || (m.status == MOQ_ANNOUNCE_RESTART && v < MOQ_LITE_05))
    return fail(why, MOQ_ERR_MALFORMED, "invalid announce status");
  TRY(get_path(&c, lim, &m.suffix, why));
  if (v >= MOQ_LITE_03) {
    uint64_t n;
    TRY(get_varint(&c, &n, why));
    if (n > MOQ_MAX_HOPS) return fail(why, MOQ_ERR_TOO_LARGE, "too many hops");
    m.hop_count = (size_t)n;
    if (v >= MOQ_LITE_04)
      for (size_t i = 0; i < m.hop_count; i++) TRY(get_varint(&c, &m.hops[i], why));
  }
  int rv = body_done(&c, total, why);
  if (rv > 0) *out = m;
  return rv;
}

/* ---- track stream ---- */

int moq_track_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim, moq_track *out,
                     const char **why) {
  moq_limits def;
  lim = limits_or_default(lim, &def);
  TRY(check_version(v, MOQ_LITE_05, MOQ_LITE_05, why));
  byte_cursor c;
  size_t total;
  TRY(frame_plain(in, len, lim, &c, &total, why));
  moq_track m;
  TRY(get_path(&c, lim, &m.path, why));
  TRY(get_string(&c, &m.name, why));
  int rv = body_done(&c, total, why);
  if (rv > 0) *out = m;
  return rv;
}

int moq_track_info_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim,
                          moq_track_info *out, const char **why) {
  moq_limits def;
  lim = limits_or_default(lim, &def);
  TRY(check_version(v, MOQ_LITE_05, MOQ_LITE_05, why));
  byte_cursor c;
  size_t total;
  TRY(frame_plain(in, len, lim, &c, &total, why));
  moq_track_info m;
  TRY(get_u8(&c, &m.priority, why));
  TRY(get_bool(&c, &m.ordered, why));
  TRY(get_varint(&c, &m.max_latency_ms, why));
  TRY(get_varint(&c, &m.timescale, why));
  if (m.timescale == 0) return fail(why, MOQ_ERR_MALFORMED, "timescale is zero");
  int rv = body_done(&c, total, why);
  if (rv > 0) *out = m;
  return rv;
}

/* ---- subscribe stream ---- */

/* The lite-03+ tail shared by SUBSCRIBE, SUBSCRIBE_UPDATE and SUBSCRIBE_OK: Ordered, Max Latency,
 * Start, End. */
static int get_sub_tail(byte_cursor *c, moq_sub_params *p, const char **why) {
  TRY(get_bool(c, &p->ordered, why));
  TRY(get_varint(c, &p->max_latency_ms, why));
  TRY(get_optgroup(c, &p->has_start, &p->start, why));
  TRY(get_optgroup(c, &p->has_end, &p->end, why));
  return 0;
}

int moq_subscribe_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim,
                         moq_subscribe *out, const char **why) {
  moq_limits def;
  lim = limits_or_default(lim, &def);
  TRY(check_version(v, MOQ_LITE_01, MOQ_LITE_05, why));
  byte_cursor c;
  size_t total;
  TRY(frame_plain(in, len, lim, &c, &total, why));
  moq_subscribe m;
  memset(&m, 0, sizeof m);
  TRY(get_varint(&c, &m.id, why));
  TRY(get_path(&c, lim, &m.path, why));
  TRY(get_string(&c, &m.track, why));
  TRY(get_u8(&c, &m.params.priority, why));
  if (v >= MOQ_LITE_03) TRY(get_sub_tail(&c, &m.params, why));
  int rv = body_done(&c, total, why);
  if (rv > 0) *out = m;
  return rv;
}

int moq_subscribe_update_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim,
                                moq_sub_params *out, const char **why) {
  moq_limits def;
  lim = limits_or_default(lim, &def);
  TRY(check_version(v, MOQ_LITE_01, MOQ_LITE_05, why));
  byte_cursor c;
  size_t total;
  TRY(frame_plain(in, len, lim, &c, &total, why));
  moq_sub_params m;
  memset(&m, 0, sizeof m);
  TRY(get_u8(&c, &m.priority, why));
  if (v >= MOQ_LITE_03) TRY(get_sub_tail(&c, &m, why));
  int rv = body_done(&c, total, why);
  if (rv > 0) *out = m;
  return rv;
}

/* The body of a DROP: Start, End, Error Code (absolute). */
static int get_drop(byte_cursor *c, moq_subscribe_reply *m, const char **why) {
  m->kind = MOQ_REPLY_DROP;
  TRY(get_varint(c, &m->drop_start, why));
  TRY(get_varint(c, &m->drop_end, why));
  TRY(get_varint(c, &m->error_code, why));
  return 0;
}

int moq_subscribe_reply_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim,
                               moq_subscribe_reply *out, const char **why) {
  moq_limits def;
  lim = limits_or_default(lim, &def);
  TRY(check_version(v, MOQ_LITE_01, MOQ_LITE_05, why));
  byte_cursor c;
  size_t total;
  moq_subscribe_reply m;
  memset(&m, 0, sizeof m);
  if (v <= MOQ_LITE_02) {
    TRY(frame_plain(in, len, lim, &c, &total, why));
    m.kind = MOQ_REPLY_OK;
    if (v == MOQ_LITE_01) TRY(get_u8(&c, &m.ok.priority, why));
  } else {
    uint64_t type;
    TRY(frame_typed(in, len, lim, &type, &c, &total, why));
    if (v <= MOQ_LITE_04) {
      if (type == 0) {
        m.kind = MOQ_REPLY_OK;
        TRY(get_u8(&c, &m.ok.priority, why));
        TRY(get_sub_tail(&c, &m.ok, why));
      } else if (type == 1) {
        TRY(get_drop(&c, &m, why));
      } else {
        return fail(why, MOQ_ERR_UNKNOWN_TYPE, "unknown subscribe reply type");
      }
    } else {
      if (type == 0 || type == 1) {
        m.kind = type == 0 ? MOQ_REPLY_START : MOQ_REPLY_END;
        TRY(get_varint(&c, &m.group, why));
      } else if (type == 2) {
        TRY(get_drop(&c, &m, why));
      } else {
        return fail(why, MOQ_ERR_UNKNOWN_TYPE, "unknown subscribe reply type");
      }
    }
  }
  int rv = body_done(&c, total, why);
  if (rv > 0) *out = m;
  return rv;
}

/* ---- group, fetch, probe, goaway ---- */

int moq_group_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim, moq_group *out,
                     const char **why) {
  moq_limits def;
  lim = limits_or_default(lim, &def);
  TRY(check_version(v, MOQ_LITE_01, MOQ_LITE_05, why));
  byte_cursor c;
  size_t total;
  TRY(frame_plain(in, len, lim, &c, &total, why));
  moq_group m;
  TRY(get_varint(&c, &m.subscribe_id, why));
  TRY(get_varint(&c, &m.sequence, why));
  int rv = body_done(&c, total, why);
  if (rv > 0) *out = m;
  return rv;
}

int moq_fetch_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim, moq_fetch *out,
                     const char **why) {
  moq_limits def;
  lim = limits_or_default(lim, &def);
  TRY(check_version(v, MOQ_LITE_03, MOQ_LITE_05, why));
  byte_cursor c;
  size_t total;
  TRY(frame_plain(in, len, lim, &c, &total, why));
  moq_fetch m;
  TRY(get_path(&c, lim, &m.path, why));
  TRY(get_string(&c, &m.track, why));
  TRY(get_u8(&c, &m.priority, why));
  TRY(get_varint(&c, &m.group, why));
  int rv = body_done(&c, total, why);
  if (rv > 0) *out = m;
  return rv;
}

int moq_probe_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim, moq_probe *out,
                     const char **why) {
  moq_limits def;
  lim = limits_or_default(lim, &def);
  TRY(check_version(v, MOQ_LITE_03, MOQ_LITE_05, why));
  byte_cursor c;
  size_t total;
  TRY(frame_plain(in, len, lim, &c, &total, why));
  moq_probe m;
  memset(&m, 0, sizeof m);
  TRY(get_varint(&c, &m.bitrate, why));
  if (v >= MOQ_LITE_04) TRY(get_varint(&c, &m.rtt_ms, why));
  int rv = body_done(&c, total, why);
  if (rv > 0) *out = m;
  return rv;
}

int moq_goaway_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim, moq_goaway *out,
                      const char **why) {
  moq_limits def;
  lim = limits_or_default(lim, &def);
  TRY(check_version(v, MOQ_LITE_04, MOQ_LITE_05, why));
  byte_cursor c;
  size_t total;
  TRY(frame_plain(in, len, lim, &c, &total, why));
  moq_goaway m;
  TRY(get_string(&c, &m.uri, why));
  int rv = body_done(&c, total, why);
  if (rv > 0) *out = m;
  return rv;
}
