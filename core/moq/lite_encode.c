/* lite_encode: encoders for the moq-lite control messages (see lite.h). A body is written in place,
 * then its Length is inserted in front of it; any failure rolls the buffer back to where it was. */
#include <string.h>

#include "base/varint.h"
#include "moq/lite.h"

#define TRY(expr)                                                                                            \
  do {                                                                                                       \
    int rc_ = (expr);                                                                                        \
    if (rc_ < 0) return rc_;                                                                                 \
  } while (0)

/* 0 when v lies in [lo, hi], else MOQ_ERR_VERSION. */
static int check_version(moq_version v, moq_version lo, moq_version hi) {
  if (!moq_version_valid(v) || v < lo || v > hi) return MOQ_ERR_VERSION;
  return 0;
}

/* Inserts the varint length of b->data[body..len) in front of it. */
static int insert_length(moq_buf *b, size_t body) {
  size_t n = b->len - body;
  size_t k = varint_size(n);
  if (k == 0) return MOQ_ERR_INVALID;
  TRY(moq_buf_reserve(b, k));
  memmove(b->data + body + k, b->data + body, n);
  varint_encode(b->data + body, k, n);
  b->len += k;
  return 0;
}

/* Finishes an encoder: on rc < 0 rolls back to start and returns rc, else returns the bytes appended. */
static int finish(moq_buf *b, size_t start, int rc) {
  if (rc < 0) {
    b->len = start;
    return rc;
  }
  return (int)(b->len - start);
}

/* A UTF-8 string `Length (i) + bytes`. */
static int put_string(moq_buf *b, moq_str s) {
  if (!moq_utf8_valid(s.p, s.len)) return MOQ_ERR_INVALID;
  TRY(moq_buf_varint(b, s.len));
  return moq_buf_append(b, s.p, s.len);
}

/* An "optional group": 0 when absent, else value + 1. */
static int put_optgroup(moq_buf *b, bool has, uint64_t v) {
  if (!has) return moq_buf_varint(b, 0);
  if (v >= VARINT_MAX) return MOQ_ERR_INVALID;
  return moq_buf_varint(b, v + 1);
}

/* ---- stream types ---- */

int moq_bidi_type_encode(moq_buf *b, moq_version v, moq_bidi_type type) {
  static const moq_version since[] = {MOQ_LITE_01, MOQ_LITE_01, MOQ_LITE_01, MOQ_LITE_03,
                                      MOQ_LITE_03, MOQ_LITE_04, MOQ_LITE_05};
  if (!moq_version_valid(v) || (unsigned)type > MOQ_BIDI_TRACK || v < since[type]) return MOQ_ERR_VERSION;
  if (type == MOQ_BIDI_SESSION && v > MOQ_LITE_02) return MOQ_ERR_VERSION;
  size_t start = b->len;
  return finish(b, start, moq_buf_varint(b, (uint64_t)type));
}

int moq_uni_type_encode(moq_buf *b, moq_version v, moq_uni_type type) {
  if (!moq_version_valid(v) || (unsigned)type > MOQ_UNI_SETUP) return MOQ_ERR_VERSION;
  if (type == MOQ_UNI_SETUP && v < MOQ_LITE_05) return MOQ_ERR_VERSION;
  size_t start = b->len;
  return finish(b, start, moq_buf_varint(b, (uint64_t)type));
}

/* ---- lite-05 SETUP ---- */

/* One SETUP parameter whose value is a single varint. */
static int put_param_varint(moq_buf *b, uint64_t id, uint64_t v) {
  size_t n = varint_size(v);
  if (n == 0) return MOQ_ERR_INVALID;
  TRY(moq_buf_varint(b, id));
  TRY(moq_buf_varint(b, n));
  return moq_buf_varint(b, v);
}

/* SETUP body: Count, then the present parameters. */
static int setup_body(moq_buf *b, const moq_setup *m) {
  uint64_t count = (uint64_t)m->has_probe + m->has_path + m->has_role + m->has_origin;
  TRY(moq_buf_varint(b, count));
  if (m->has_probe) TRY(put_param_varint(b, MOQ_SETUP_PROBE, m->probe));
  if (m->has_path) {
    if (!moq_utf8_valid(m->path.p, m->path.len)) return MOQ_ERR_INVALID;
    TRY(moq_buf_varint(b, MOQ_SETUP_PATH));
    TRY(moq_buf_varint(b, m->path.len));
    TRY(moq_buf_append(b, m->path.p, m->path.len));
  }
  if (m->has_role) TRY(put_param_varint(b, MOQ_SETUP_ROLE, m->role));
  if (m->has_origin) TRY(put_param_varint(b, MOQ_SETUP_ORIGIN, m->origin));
  return 0;
}

int moq_setup_encode(moq_buf *b, moq_version v, const moq_setup *m) {
  TRY(check_version(v, MOQ_LITE_05, MOQ_LITE_05));
  size_t start = b->len;
  int rc = setup_body(b, m);
  if (rc == 0) rc = insert_length(b, start);
  return finish(b, start, rc);
}

/* ---- legacy setup (lite-01/02) ---- */

/* draft-14 KVP parameters, varints first, then byte strings. */
static int put_legacy_params(moq_buf *b, const moq_legacy_params *p) {
  if (p == NULL) return moq_buf_varint(b, 0);
  uint64_t count = (uint64_t)p->has_max_request_id + p->has_solicit + p->has_path + p->has_implementation;
  TRY(moq_buf_varint(b, count));
  if (p->has_max_request_id) {
    TRY(moq_buf_varint(b, MOQ_LEGACY_MAX_REQUEST_ID));
    TRY(moq_buf_varint(b, p->max_request_id));
  }
  if (p->has_solicit) {
    TRY(moq_buf_varint(b, MOQ_LEGACY_SOLICIT));
    TRY(moq_buf_varint(b, p->solicit));
  }
  if (p->has_path) {
    if (!moq_utf8_valid(p->path.p, p->path.len)) return MOQ_ERR_INVALID;
    TRY(moq_buf_varint(b, MOQ_LEGACY_PATH));
    TRY(moq_buf_varint(b, p->path.len));
    TRY(moq_buf_append(b, p->path.p, p->path.len));
  }
  if (p->has_implementation) {
    TRY(moq_buf_varint(b, MOQ_LEGACY_IMPLEMENTATION));
    TRY(moq_buf_varint(b, p->implementation.len));
    TRY(moq_buf_append(b, p->implementation.p, p->implementation.len));
  }
  return 0;
}

/* Writes the type and a placeholder u16 length; *body is where the body starts. */
static int legacy_begin(moq_buf *b, uint64_t type, size_t *body) {
  TRY(moq_buf_varint(b, type));
  TRY(moq_buf_append(b, "\0\0", 2));
  *body = b->len;
  return 0;
}

/* Patches the u16 big-endian length in front of the body. */
static int legacy_end(moq_buf *b, size_t body) {
  size_t n = b->len - body;
  if (n > 0xffff) return MOQ_ERR_INVALID;
  b->data[body - 2] = (uint8_t)(n >> 8);
  b->data[body - 1] = (uint8_t)n;
  return 0;
}

/* CLIENT_SETUP body after the length. */
static int client_setup_body(moq_buf *b, const uint64_t *versions, size_t n, const moq_legacy_params *p) {
  TRY(moq_buf_varint(b, n));
  for (size_t i = 0; i < n; i++) TRY(moq_buf_varint(b, versions[i]));
  return put_legacy_params(b, p);
}

int moq_client_setup_encode(moq_buf *b, const uint64_t *versions, size_t nversions, const moq_legacy_params *p) {
  size_t start = b->len, body = 0;
  int rc = legacy_begin(b, MOQ_LEGACY_CLIENT_SETUP, &body);
  if (rc == 0) rc = client_setup_body(b, versions, nversions, p);
  if (rc == 0) rc = legacy_end(b, body);
  return finish(b, start, rc);
}

int moq_server_setup_encode(moq_buf *b, uint64_t version_code, const moq_legacy_params *p) {
  size_t start = b->len, body = 0;
  int rc = legacy_begin(b, MOQ_LEGACY_SERVER_SETUP, &body);
  if (rc == 0) rc = moq_buf_varint(b, version_code);
  if (rc == 0) rc = put_legacy_params(b, p);
  if (rc == 0) rc = legacy_end(b, body);
  return finish(b, start, rc);
}

int moq_session_info_encode(moq_buf *b, moq_version v, const moq_session_info_msg *m) {
  TRY(check_version(v, MOQ_LITE_01, MOQ_LITE_02));
  size_t start = b->len;
  int rc = moq_buf_varint(b, m->bitrate);
  if (rc == 0) rc = insert_length(b, start);
  return finish(b, start, rc);
}

/* ---- announce stream ---- */

int moq_announce_request_encode(moq_buf *b, moq_version v, const moq_announce_request *m) {
  TRY(check_version(v, MOQ_LITE_01, MOQ_LITE_05));
  size_t start = b->len;
  int rc = put_string(b, m->prefix);
  if (rc == 0 && v >= MOQ_LITE_04) rc = moq_buf_varint(b, m->exclude_hop);
  if (rc == 0) rc = insert_length(b, start);
  return finish(b, start, rc);
}

int moq_announce_ok_encode(moq_buf *b, moq_version v, const moq_announce_ok *m) {
  TRY(check_version(v, MOQ_LITE_05, MOQ_LITE_05));
  size_t start = b->len;
  int rc = moq_buf_varint(b, m->hop);
  if (rc == 0) rc = moq_buf_varint(b, m->active);
  if (rc == 0) rc = insert_length(b, start);
  return finish(b, start, rc);
}

/* ANNOUNCE_INIT body: Count, Suffixes. */
static int announce_init_body(moq_buf *b, const moq_str *suffixes, size_t n) {
  TRY(moq_buf_varint(b, n));
  for (size_t i = 0; i < n; i++) TRY(put_string(b, suffixes[i]));
  return 0;
}

int moq_announce_init_encode(moq_buf *b, moq_version v, const moq_str *suffixes, size_t n) {
  TRY(check_version(v, MOQ_LITE_01, MOQ_LITE_02));
  size_t start = b->len;
  int rc = announce_init_body(b, suffixes, n);
  if (rc == 0) rc = insert_length(b, start);
  return finish(b, start, rc);
}

/* ANNOUNCE body: Status, Suffix, hops by version. */
static int announce_body(moq_buf *b, moq_version v, const moq_announce *m) {
  if (m->status > MOQ_ANNOUNCE_RESTART || (m->status == MOQ_ANNOUNCE_RESTART && v < MOQ_LITE_05))
    return MOQ_ERR_INVALID;
  if (m->hop_count > MOQ_MAX_HOPS) return MOQ_ERR_INVALID;
  TRY(moq_buf_u8(b, m->status));
  TRY(put_string(b, m->suffix));
  if (v >= MOQ_LITE_03) TRY(moq_buf_varint(b, m->hop_count));
  if (v >= MOQ_LITE_04)
    for (size_t i = 0; i < m->hop_count; i++) TRY(moq_buf_varint(b, m->hops[i]));
  return 0;
}

int moq_announce_encode(moq_buf *b, moq_version v, const moq_announce *m) {
  TRY(check_version(v, MOQ_LITE_01, MOQ_LITE_05));
  size_t start = b->len;
  int rc = announce_body(b, v, m);
  if (rc == 0) rc = insert_length(b, start);
  return finish(b, start, rc);
}

/* ---- track stream ---- */

int moq_track_encode(moq_buf *b, moq_version v, const moq_track *m) {
  TRY(check_version(v, MOQ_LITE_05, MOQ_LITE_05));
  size_t start = b->len;
  int rc = put_string(b, m->path);
  if (rc == 0) rc = put_string(b, m->name);
  if (rc == 0) rc = insert_length(b, start);
  return finish(b, start, rc);
}

int moq_track_info_encode(moq_buf *b, moq_version v, const moq_track_info *m) {
  TRY(check_version(v, MOQ_LITE_05, MOQ_LITE_05));
  if (m->timescale == 0) return MOQ_ERR_INVALID;
  size_t start = b->len;
  int rc = moq_buf_u8(b, m->priority);
  if (rc == 0) rc = moq_buf_u8(b, m->ordered ? 1 : 0);
  if (rc == 0) rc = moq_buf_varint(b, m->max_latency_ms);
  if (rc == 0) rc = moq_buf_varint(b, m->timescale);
  if (rc == 0) rc = insert_length(b, start);
  return finish(b, start, rc);
}

/* ---- subscribe stream ---- */

/* The lite-03+ tail: Ordered, Max Latency, Start, End. */
static int put_sub_tail(moq_buf *b, const moq_sub_params *p) {
  TRY(moq_buf_u8(b, p->ordered ? 1 : 0));
  TRY(moq_buf_varint(b, p->max_latency_ms));
  TRY(put_optgroup(b, p->has_start, p->start));
  return put_optgroup(b, p->has_end, p->end);
}

/* SUBSCRIBE body. */
static int subscribe_body(moq_buf *b, moq_version v, const moq_subscribe *m) {
  TRY(moq_buf_varint(b, m->id));
  TRY(put_string(b, m->path));
  TRY(put_string(b, m->track));
  TRY(moq_buf_u8(b, m->params.priority));
  if (v >= MOQ_LITE_03) TRY(put_sub_tail(b, &m->params));
  return 0;
}

int moq_subscribe_encode(moq_buf *b, moq_version v, const moq_subscribe *m) {
  TRY(check_version(v, MOQ_LITE_01, MOQ_LITE_05));
  size_t start = b->len;
  int rc = subscribe_body(b, v, m);
  if (rc == 0) rc = insert_length(b, start);
  return finish(b, start, rc);
}

int moq_subscribe_update_encode(moq_buf *b, moq_version v, const moq_sub_params *m) {
  TRY(check_version(v, MOQ_LITE_01, MOQ_LITE_05));
  size_t start = b->len;
  int rc = moq_buf_u8(b, m->priority);
  if (rc == 0 && v >= MOQ_LITE_03) rc = put_sub_tail(b, m);
  if (rc == 0) rc = insert_length(b, start);
  return finish(b, start, rc);
}

/* The wire type of a reply kind in this version (lite-03+), or -1 when it has none. */
static int reply_type(moq_version v, moq_reply_kind kind) {
  if (v <= MOQ_LITE_04) return kind == MOQ_REPLY_OK ? 0 : kind == MOQ_REPLY_DROP ? 1 : -1;
  switch (kind) {
  case MOQ_REPLY_START: return 0;
  case MOQ_REPLY_END: return 1;
  case MOQ_REPLY_DROP: return 2;
  case MOQ_REPLY_OK: return -1; /* lite-05 acceptance is implicit */
  }
  return -1;
}

/* The body of a typed reply (after its type). */
static int reply_body(moq_buf *b, const moq_subscribe_reply *m) {
  switch (m->kind) {
  case MOQ_REPLY_OK:
    TRY(moq_buf_u8(b, m->ok.priority));
    return put_sub_tail(b, &m->ok);
  case MOQ_REPLY_START:
  case MOQ_REPLY_END: return moq_buf_varint(b, m->group);
  case MOQ_REPLY_DROP:
    TRY(moq_buf_varint(b, m->drop_start));
    TRY(moq_buf_varint(b, m->drop_end));
    return moq_buf_varint(b, m->error_code);
  }
  return MOQ_ERR_INVALID;
}

int moq_subscribe_reply_encode(moq_buf *b, moq_version v, const moq_subscribe_reply *m) {
  TRY(check_version(v, MOQ_LITE_01, MOQ_LITE_05));
  size_t start = b->len;
  int rc;
  if (v <= MOQ_LITE_02) {
    if (m->kind != MOQ_REPLY_OK) return MOQ_ERR_VERSION;
    rc = v == MOQ_LITE_01 ? moq_buf_u8(b, m->ok.priority) : 0;
    if (rc == 0) rc = insert_length(b, start);
    return finish(b, start, rc);
  }
  int type = reply_type(v, m->kind);
  if (type < 0) return MOQ_ERR_VERSION;
  rc = moq_buf_varint(b, (uint64_t)type);
  size_t body = b->len;
  if (rc == 0) rc = reply_body(b, m);
  if (rc == 0) rc = insert_length(b, body);
  return finish(b, start, rc);
}

/* ---- group, fetch, probe, goaway ---- */

int moq_group_encode(moq_buf *b, moq_version v, const moq_group *m) {
  TRY(check_version(v, MOQ_LITE_01, MOQ_LITE_05));
  size_t start = b->len;
  int rc = moq_buf_varint(b, m->subscribe_id);
  if (rc == 0) rc = moq_buf_varint(b, m->sequence);
  if (rc == 0) rc = insert_length(b, start);
  return finish(b, start, rc);
}

int moq_fetch_encode(moq_buf *b, moq_version v, const moq_fetch *m) {
  TRY(check_version(v, MOQ_LITE_03, MOQ_LITE_05));
  size_t start = b->len;
  int rc = put_string(b, m->path);
  if (rc == 0) rc = put_string(b, m->track);
  if (rc == 0) rc = moq_buf_u8(b, m->priority);
  if (rc == 0) rc = moq_buf_varint(b, m->group);
  if (rc == 0) rc = insert_length(b, start);
  return finish(b, start, rc);
}

int moq_probe_encode(moq_buf *b, moq_version v, const moq_probe *m) {
  TRY(check_version(v, MOQ_LITE_03, MOQ_LITE_05));
  size_t start = b->len;
  int rc = moq_buf_varint(b, m->bitrate);
  if (rc == 0 && v >= MOQ_LITE_04) rc = moq_buf_varint(b, m->rtt_ms);
  if (rc == 0) rc = insert_length(b, start);
  return finish(b, start, rc);
}

int moq_goaway_encode(moq_buf *b, moq_version v, const moq_goaway *m) {
  TRY(check_version(v, MOQ_LITE_04, MOQ_LITE_05));
  size_t start = b->len;
  int rc = put_string(b, m->uri);
  if (rc == 0) rc = insert_length(b, start);
  return finish(b, start, rc);
}
