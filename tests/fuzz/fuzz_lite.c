/* fuzz_lite: every moq-lite message decoder (core/moq/lite.h) on every version lite-01..05, the stream
 * type decoders, the legacy and lite-05 setup messages and datagrams.
 *
 * Input: byte 0 picks the message kind, byte 1 the version (low bits) and the limits (0x40: small ones),
 * the rest is the message. Invariants checked for every input:
 *   - an error comes with a reason; a success takes at most the input given;
 *   - every strict prefix of a decoded message is MOQ_NEED_MORE (never an error);
 *   - decode -> encode -> decode gives the same message, the encoding is no longer than the input
 *     (minimal varints, unknown parameters dropped) and encoding the second decode repeats it byte for
 *     byte. */
#include "fuzz.h"

#include <stdbool.h>

#include "base/varint.h"
#include "moq/lite.h"

typedef enum kind {
  K_SETUP, K_CLIENT_SETUP, K_SERVER_SETUP, K_SINFO, K_AREQ, K_AOK, K_AINIT, K_ANN, K_TRACK, K_TINFO, K_SUB,
  K_UPD, K_REPLY, K_GROUP, K_FETCH, K_PROBE, K_GOAWAY, K_DATAGRAM, K_FRAME_HEADER, K_BIDI_TYPE, K_UNI_TYPE,
  K_COUNT
} kind;

typedef union msg {
  moq_setup setup;
  moq_client_setup cs;
  moq_server_setup ss;
  moq_session_info_msg sinfo;
  moq_announce_request areq;
  moq_announce_ok aok;
  moq_announce_init ainit;
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
  moq_datagram dgram;
  moq_frame_header fh;
  uint64_t type;
} msg;

static int dec(kind k, moq_version v, const uint8_t *in, size_t len, const moq_limits *lim, msg *m,
               const char **why) {
  switch (k) {
  case K_SETUP: return moq_setup_decode(v, in, len, lim, &m->setup, why);
  case K_CLIENT_SETUP: return moq_client_setup_decode(in, len, lim, &m->cs, why);
  case K_SERVER_SETUP: return moq_server_setup_decode(in, len, lim, &m->ss, why);
  case K_SINFO: return moq_session_info_decode(v, in, len, lim, &m->sinfo, why);
  case K_AREQ: return moq_announce_request_decode(v, in, len, lim, &m->areq, why);
  case K_AOK: return moq_announce_ok_decode(v, in, len, lim, &m->aok, why);
  case K_AINIT: return moq_announce_init_decode(v, in, len, lim, &m->ainit, why);
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
  case K_DATAGRAM: return moq_datagram_decode(v, in, len, lim, &m->dgram, why);
  case K_FRAME_HEADER: return moq_frame_header_decode(v, in, len, lim, &m->fh, why);
  case K_BIDI_TYPE: return moq_bidi_type_decode(v, in, len, &m->type, why);
  case K_UNI_TYPE: return moq_uni_type_decode(v, in, len, &m->type, why);
  case K_COUNT: break;
  }
  abort();
}

/* Collects a varint list (CLIENT_SETUP versions) into a malloc()ed array. */
static uint64_t *varint_list(moq_varint_list it, size_t *n) {
  uint64_t *a = malloc(sizeof *a * (size_t)(it.count ? it.count : 1));
  FUZZ_CHECK(a != NULL);
  *n = 0;
  uint64_t x;
  while (moq_varint_list_next(&it, &x)) a[(*n)++] = x;
  return a;
}

/* Collects a string list (ANNOUNCE_INIT suffixes) into a malloc()ed array. */
static moq_str *str_list(moq_str_list it, size_t *n) {
  moq_str *a = malloc(sizeof *a * (size_t)(it.count ? it.count : 1));
  FUZZ_CHECK(a != NULL);
  *n = 0;
  moq_str s;
  while (moq_str_list_next(&it, &s)) a[(*n)++] = s;
  return a;
}

/* Encodes m; returns the encoder's result. */
static int enc(kind k, moq_version v, moq_buf *b, const msg *m) {
  switch (k) {
  case K_SETUP: return moq_setup_encode(b, v, &m->setup);
  case K_CLIENT_SETUP: {
    size_t n;
    uint64_t *vers = varint_list(m->cs.versions, &n);
    FUZZ_CHECK(n == m->cs.versions.count);
    int rc = moq_client_setup_encode(b, vers, n, &m->cs.params);
    free(vers);
    return rc;
  }
  case K_SERVER_SETUP: return moq_server_setup_encode(b, m->ss.version, &m->ss.params);
  case K_SINFO: return moq_session_info_encode(b, v, &m->sinfo);
  case K_AREQ: return moq_announce_request_encode(b, v, &m->areq);
  case K_AOK: return moq_announce_ok_encode(b, v, &m->aok);
  case K_AINIT: {
    size_t n;
    moq_str *s = str_list(m->ainit.suffixes, &n);
    FUZZ_CHECK(n == m->ainit.suffixes.count);
    int rc = moq_announce_init_encode(b, v, s, n);
    free(s);
    return rc;
  }
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
  case K_DATAGRAM: return moq_datagram_encode(b, v, &m->dgram);
  case K_FRAME_HEADER: return moq_frame_header_encode(b, v, m->fh.ts_delta, m->fh.payload_len);
  case K_BIDI_TYPE: return moq_bidi_type_encode(b, v, (moq_bidi_type)m->type);
  case K_UNI_TYPE: return moq_uni_type_encode(b, v, (moq_uni_type)m->type);
  case K_COUNT: break;
  }
  abort();
}

static bool str_eq(moq_str a, moq_str b) { return moq_str_eq(a, b); }

static bool params_eq(const moq_sub_params *a, const moq_sub_params *b, moq_version v) {
  if (a->priority != b->priority) return false;
  if (v < MOQ_LITE_03) return true;
  return a->ordered == b->ordered && a->max_latency_ms == b->max_latency_ms && a->has_start == b->has_start &&
         a->start == b->start && a->has_end == b->has_end && a->end == b->end;
}

static bool legacy_eq(const moq_legacy_params *a, const moq_legacy_params *b) {
  return a->has_path == b->has_path && (!a->has_path || str_eq(a->path, b->path)) &&
         a->has_max_request_id == b->has_max_request_id &&
         (!a->has_max_request_id || a->max_request_id == b->max_request_id) && a->has_solicit == b->has_solicit &&
         (!a->has_solicit || a->solicit == b->solicit) && a->has_implementation == b->has_implementation &&
         (!a->has_implementation || str_eq(a->implementation, b->implementation));
}

/* True when a and b hold the same message (strings by content). */
static bool same(kind k, moq_version v, const msg *a, const msg *b) {
  switch (k) {
  case K_SETUP:
    return a->setup.has_probe == b->setup.has_probe && a->setup.probe == b->setup.probe &&
           a->setup.has_path == b->setup.has_path && str_eq(a->setup.path, b->setup.path) &&
           a->setup.has_role == b->setup.has_role && a->setup.role == b->setup.role &&
           a->setup.has_origin == b->setup.has_origin && a->setup.origin == b->setup.origin;
  case K_CLIENT_SETUP: {
    if (a->cs.versions.count != b->cs.versions.count || !legacy_eq(&a->cs.params, &b->cs.params)) return false;
    size_t na, nb;
    uint64_t *va = varint_list(a->cs.versions, &na), *vb = varint_list(b->cs.versions, &nb);
    bool eq = na == nb && (na == 0 || memcmp(va, vb, na * sizeof *va) == 0);
    free(va);
    free(vb);
    return eq;
  }
  case K_SERVER_SETUP: return a->ss.version == b->ss.version && legacy_eq(&a->ss.params, &b->ss.params);
  case K_SINFO: return a->sinfo.bitrate == b->sinfo.bitrate;
  case K_AREQ: return str_eq(a->areq.prefix, b->areq.prefix) && a->areq.exclude_hop == b->areq.exclude_hop;
  case K_AOK: return a->aok.hop == b->aok.hop && a->aok.active == b->aok.active;
  case K_AINIT: {
    if (a->ainit.suffixes.count != b->ainit.suffixes.count) return false;
    size_t na, nb;
    moq_str *sa = str_list(a->ainit.suffixes, &na), *sb = str_list(b->ainit.suffixes, &nb);
    bool eq = na == nb;
    for (size_t i = 0; eq && i < na; i++) eq = str_eq(sa[i], sb[i]);
    free(sa);
    free(sb);
    return eq;
  }
  case K_ANN:
    if (a->ann.status != b->ann.status || !str_eq(a->ann.suffix, b->ann.suffix) ||
        a->ann.hop_count != b->ann.hop_count)
      return false;
    if (v >= MOQ_LITE_04)
      for (size_t i = 0; i < a->ann.hop_count; i++)
        if (a->ann.hops[i] != b->ann.hops[i]) return false;
    return true;
  case K_TRACK: return str_eq(a->track.path, b->track.path) && str_eq(a->track.name, b->track.name);
  case K_TINFO:
    return a->tinfo.priority == b->tinfo.priority && a->tinfo.ordered == b->tinfo.ordered &&
           a->tinfo.max_latency_ms == b->tinfo.max_latency_ms && a->tinfo.timescale == b->tinfo.timescale;
  case K_SUB:
    return a->sub.id == b->sub.id && str_eq(a->sub.path, b->sub.path) && str_eq(a->sub.track, b->sub.track) &&
           params_eq(&a->sub.params, &b->sub.params, v);
  case K_UPD: return params_eq(&a->upd, &b->upd, v);
  case K_REPLY:
    if (a->reply.kind != b->reply.kind) return false;
    switch (a->reply.kind) {
    case MOQ_REPLY_OK: return v == MOQ_LITE_02 || params_eq(&a->reply.ok, &b->reply.ok, v == MOQ_LITE_01 ? v : MOQ_LITE_03);
    case MOQ_REPLY_START:
    case MOQ_REPLY_END: return a->reply.group == b->reply.group;
    case MOQ_REPLY_DROP:
      return a->reply.drop_start == b->reply.drop_start && a->reply.drop_end == b->reply.drop_end &&
             a->reply.error_code == b->reply.error_code;
    }
    return false;
  case K_GROUP: return a->group.subscribe_id == b->group.subscribe_id && a->group.sequence == b->group.sequence;
  case K_FETCH:
    return str_eq(a->fetch.path, b->fetch.path) && str_eq(a->fetch.track, b->fetch.track) &&
           a->fetch.priority == b->fetch.priority && a->fetch.group == b->fetch.group;
  case K_PROBE: return a->probe.bitrate == b->probe.bitrate && a->probe.rtt_ms == b->probe.rtt_ms;
  case K_GOAWAY: return str_eq(a->goaway.uri, b->goaway.uri);
  case K_DATAGRAM:
    return a->dgram.subscribe_id == b->dgram.subscribe_id && a->dgram.sequence == b->dgram.sequence &&
           a->dgram.timestamp == b->dgram.timestamp && a->dgram.payload_len == b->dgram.payload_len &&
           (a->dgram.payload_len == 0 || memcmp(a->dgram.payload, b->dgram.payload, a->dgram.payload_len) == 0);
  case K_FRAME_HEADER: return a->fh.ts_delta == b->fh.ts_delta && a->fh.payload_len == b->fh.payload_len;
  case K_BIDI_TYPE:
  case K_UNI_TYPE: return a->type == b->type;
  case K_COUNT: break;
  }
  abort();
}

/* Checks the paths a decoded message carries against the limits it was decoded with. */
static void check_paths(kind k, const msg *m, const moq_limits *lim) {
  moq_str p[2];
  size_t n = 0;
  switch (k) {
  case K_AREQ: p[n++] = m->areq.prefix; break;
  case K_ANN: p[n++] = m->ann.suffix; break;
  case K_TRACK: p[n++] = m->track.path; break;
  case K_SUB: p[n++] = m->sub.path; break;
  case K_FETCH: p[n++] = m->fetch.path; break;
  default: break;
  }
  for (size_t i = 0; i < n; i++) FUZZ_CHECK(moq_path_check(p[i], lim, NULL) == 0);
}

/* Runs one decoder over in[0..len) and checks the invariants above. */
static void run(kind k, moq_version v, const uint8_t *in, size_t len, const moq_limits *lim) {
  msg m, m2;
  const char *why = NULL;
  int rc = dec(k, v, in, len, lim, &m, &why);
  if (rc < 0) {
    FUZZ_CHECK(why != NULL && why[0] != '\0');
    FUZZ_CHECK(rc >= MOQ_ERR_NOMEM);
    return;
  }
  FUZZ_CHECK(rc > 0 && (size_t)rc <= len);
  if (k == K_DATAGRAM) FUZZ_CHECK((size_t)rc == len);
  check_paths(k, &m, lim);
  size_t used = (size_t)rc;

  /* strict prefixes need more: the last byte missing, and half the message */
  if (k != K_DATAGRAM) {
    size_t cuts[2] = {used - 1, used / 2};
    for (int i = 0; i < 2; i++) {
      uint8_t *p = fuzz_dup(in, cuts[i]);
      msg mp;
      FUZZ_CHECK(dec(k, v, p, cuts[i], lim, &mp, NULL) == MOQ_NEED_MORE);
      free(p);
    }
  }

  /* round trip */
  moq_buf b, b2;
  moq_buf_init(&b);
  moq_buf_init(&b2);
  FUZZ_CHECK(moq_buf_u8(&b, 0x5a) == 0); /* the encoder appends after what is there */
  int erc = enc(k, v, &b, &m);
  FUZZ_CHECK(erc > 0);
  FUZZ_CHECK((size_t)erc == b.len - 1 && b.data[0] == 0x5a);
  FUZZ_CHECK((size_t)erc <= used);
  uint8_t *e = fuzz_dup(b.data + 1, (size_t)erc);
  int rc2 = dec(k, v, e, (size_t)erc, lim, &m2, &why);
  FUZZ_CHECK(rc2 == erc);
  FUZZ_CHECK(same(k, v, &m, &m2));
  FUZZ_CHECK(enc(k, v, &b2, &m2) == erc);
  FUZZ_CHECK(memcmp(b2.data, e, (size_t)erc) == 0);
  free(e);
  moq_buf_free(&b);
  moq_buf_free(&b2);

  if (k == K_CLIENT_SETUP) {
    moq_version sel;
    if (moq_client_setup_select(&m.cs, &sel) == 0) FUZZ_CHECK(sel == MOQ_LITE_01 || sel == MOQ_LITE_02);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  kind k = (kind)(data[0] % K_COUNT);
  moq_version v = (moq_version)(1 + (data[1] & 0x0f) % 5);
  moq_limits small = {.max_message = 48, .max_path = 12, .max_segments = 3, .max_frame = 100, .max_datagram = 40};
  const moq_limits *lim = (data[1] & 0x40) ? &small : NULL;
  run(k, v, data + 2, size - 2, lim);
  /* the version helpers on the same bytes */
  moq_version out;
  int rc = moq_version_from_alpn((const char *)data + 2, size - 2, &out);
  FUZZ_CHECK(rc == MOQ_ERR_VERSION || rc == 0 || (rc == 1 && moq_version_valid(out)));
  if (rc == 1) FUZZ_CHECK(strlen(moq_version_alpn(out)) == size - 2);
  if (size >= 10) {
    uint64_t code = 0;
    for (int i = 2; i < 10; i++) code = code << 8 | data[i];
    if (moq_version_from_code(code, &out) == 0) FUZZ_CHECK(moq_version_code(out) == code);
  }
  return 0;
}
