#include "h3/h3_frame.h"

#include <string.h>

#include "base/varint.h"

/* ---- frames ---------------------------------------------------------------------------------- */

int h3_frame_hdr_decode(const uint8_t *in, size_t len, h3_frame_hdr *out) {
  size_t a, b;
  if (varint_decode(in, len, &out->type, &a) != VARINT_OK) return H3_NEED_MORE;
  if (varint_decode(in + a, len - a, &out->len, &b) != VARINT_OK) return H3_NEED_MORE;
  out->hdr_len = a + b;
  return (int)out->hdr_len;
}

int h3_frame_hdr_encode(uint8_t *out, size_t outlen, uint64_t type, uint64_t payload_len) {
  size_t a = varint_encode(out, outlen, type);
  if (!a) return H3_NOSPACE;
  size_t b = varint_encode(out + a, outlen - a, payload_len);
  if (!b) return H3_NOSPACE;
  return (int)(a + b);
}

int h3_is_grease(uint64_t v) { return v >= 0x21 && (v - 0x21) % 0x1f == 0; }

/* ---- SETTINGS -------------------------------------------------------------------------------- */

int h3_settings_decode(const uint8_t *payload, size_t len, h3_settings *out, const char **why) {
  memset(out, 0, sizeof *out);
  /* Duplicates are tracked for the identifiers we know; unknown ones are skipped. */
  static const uint64_t known[] = {H3_SETTING_QPACK_MAX_TABLE_CAPACITY, H3_SETTING_MAX_FIELD_SECTION_SIZE,
                                   H3_SETTING_QPACK_BLOCKED_STREAMS,    H3_SETTING_ENABLE_CONNECT_PROTOCOL,
                                   H3_SETTING_H3_DATAGRAM,              H3_SETTING_H3_DATAGRAM_DRAFT04,
                                   H3_SETTING_ENABLE_WEBTRANSPORT,      H3_SETTING_WT_MAX_SESSIONS_DRAFT,
                                   H3_SETTING_WT_MAX_SESSIONS};
  uint64_t *fields[] = {&out->qpack_max_table_capacity, &out->max_field_section_size, &out->qpack_blocked_streams,
                        &out->enable_connect_protocol,  &out->h3_datagram,            &out->h3_datagram_draft04,
                        &out->enable_webtransport,      &out->wt_max_sessions_draft,  &out->wt_max_sessions};
  unsigned seen = 0;
  size_t pos = 0;
  while (pos < len) {
    uint64_t id, value;
    size_t a, b;
    if (varint_decode(payload + pos, len - pos, &id, &a) != VARINT_OK ||
        varint_decode(payload + pos + a, len - pos - a, &value, &b) != VARINT_OK) {
      *why = "a setting is cut short";
      return H3_ERR;
    }
    pos += a + b;
    if (id == 0x00 || (id >= 0x02 && id <= 0x05)) {
      *why = "an HTTP/2 setting in HTTP/3 SETTINGS";
      return H3_ERR;
    }
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
      if (known[i] != id) continue;
      if (seen & (1u << i)) {
        *why = "a setting appears twice";
        return H3_ERR;
      }
      seen |= 1u << i;
      *fields[i] = value;
    }
  }
  return 0;
}

int h3_settings_encode(uint8_t *out, size_t outlen, const h3_settings *s, uint64_t grease) {
  const uint64_t ids[] = {H3_SETTING_QPACK_MAX_TABLE_CAPACITY, H3_SETTING_QPACK_BLOCKED_STREAMS,
                          H3_SETTING_MAX_FIELD_SECTION_SIZE,    H3_SETTING_ENABLE_CONNECT_PROTOCOL,
                          H3_SETTING_H3_DATAGRAM,               H3_SETTING_H3_DATAGRAM_DRAFT04,
                          H3_SETTING_ENABLE_WEBTRANSPORT,       H3_SETTING_WT_MAX_SESSIONS,
                          H3_SETTING_WT_MAX_SESSIONS_DRAFT};
  const uint64_t values[] = {s->qpack_max_table_capacity, s->qpack_blocked_streams, s->max_field_section_size,
                             s->enable_connect_protocol,  s->h3_datagram,           s->h3_datagram_draft04,
                             s->enable_webtransport,      s->wt_max_sessions,       s->wt_max_sessions_draft};
  uint8_t payload[128];
  size_t n = 0;
  for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
    if (!values[i]) continue;
    size_t a = varint_encode(payload + n, sizeof payload - n, ids[i]);
    size_t b = a ? varint_encode(payload + n + a, sizeof payload - n - a, values[i]) : 0;
    if (!b) return H3_NOSPACE;
    n += a + b;
  }
  if (grease) { /* a reserved identifier the peer must ignore (RFC 9114 7.2.4.1) */
    size_t a = varint_encode(payload + n, sizeof payload - n, 0x1f * 7 + 0x21);
    size_t b = a ? varint_encode(payload + n + a, sizeof payload - n - a, grease) : 0;
    if (!b) return H3_NOSPACE;
    n += a + b;
  }
  int h = h3_frame_hdr_encode(out, outlen, H3_FRAME_SETTINGS, n);
  if (h < 0 || (size_t)h + n > outlen) return H3_NOSPACE;
  memcpy(out + h, payload, n);
  return h + (int)n;
}

int h3_settings_webtransport(const h3_settings *s) {
  return (s->h3_datagram == 1 || s->h3_datagram_draft04 == 1) &&
         (s->enable_webtransport == 1 || s->wt_max_sessions > 0 || s->wt_max_sessions_draft > 0);
}

/* ---- stream headers -------------------------------------------------------------------------- */

int h3_stream_hdr_decode(const uint8_t *in, size_t len, int uni, h3_stream_hdr *out) {
  size_t a, b;
  memset(out, 0, sizeof *out);
  if (varint_decode(in, len, &out->type, &a) != VARINT_OK) return H3_NEED_MORE;
  int wt = uni ? out->type == H3_UNI_WT : out->type == H3_FRAME_WT_STREAM;
  if (!wt) {
    out->used = uni ? a : 0;
    return 0;
  }
  if (varint_decode(in + a, len - a, &out->session_id, &b) != VARINT_OK) return H3_NEED_MORE;
  if ((out->session_id & 3) != 0) return H3_ERR; /* a session is a client-initiated bidi stream */
  out->used = a + b;
  return 0;
}

int h3_stream_hdr_encode(uint8_t *out, size_t outlen, int uni, uint64_t session_id) {
  if (session_id > VARINT_MAX) return H3_ERR;
  return h3_frame_hdr_encode(out, outlen, uni ? H3_UNI_WT : H3_FRAME_WT_STREAM, session_id);
}

/* ---- capsules -------------------------------------------------------------------------------- */

int h3_capsule_decode(const uint8_t *in, size_t len, size_t max_len, h3_capsule *out) {
  h3_frame_hdr h; /* a capsule has the shape of a frame */
  if (h3_frame_hdr_decode(in, len, &h) < 0) return H3_NEED_MORE;
  if (h.len > max_len) return H3_ERR;
  if (len - h.hdr_len < h.len) return H3_NEED_MORE;
  out->type = h.type;
  out->payload = in + h.hdr_len;
  out->len = (size_t)h.len;
  out->used = h.hdr_len + (size_t)h.len;
  return 0;
}

/* Length of the valid UTF-8 prefix of s[0..len) that ends on a character boundary; *ok is 0 if an
 * invalid sequence (not a cut one at the end) was met. */
static size_t utf8_prefix(const uint8_t *s, size_t len, int *ok) {
  size_t i = 0;
  *ok = 1;
  while (i < len) {
    uint8_t c = s[i];
    size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (n == 0 || (n == 2 && c < 0xc2) || (n == 4 && c > 0xf4)) {
      *ok = 0;
      return i;
    }
    if (i + n > len) return i; /* cut short */
    for (size_t k = 1; k < n; k++) {
      if ((s[i + k] & 0xc0) != 0x80) {
        *ok = 0;
        return i;
      }
    }
    if (n == 3) {
      uint32_t cp = (uint32_t)(c & 0x0f) << 12 | (uint32_t)(s[i + 1] & 0x3f) << 6 | (s[i + 2] & 0x3f);
      if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)) {
        *ok = 0;
        return i;
      }
    }
    if (n == 4) {
      uint32_t cp = (uint32_t)(c & 0x07) << 18 | (uint32_t)(s[i + 1] & 0x3f) << 12 |
                    (uint32_t)(s[i + 2] & 0x3f) << 6 | (s[i + 3] & 0x3f);
      if (cp < 0x10000 || cp > 0x10ffff) {
        *ok = 0;
        return i;
      }
    }
    i += n;
  }
  return i;
}

int h3_close_session_decode(const uint8_t *value, size_t len, uint32_t *code, const uint8_t **reason,
                            size_t *reason_len) {
  if (len < 4 || len - 4 > 1024) return H3_ERR;
  int ok;
  if (utf8_prefix(value + 4, len - 4, &ok) != len - 4 || !ok) return H3_ERR;
  *code = (uint32_t)value[0] << 24 | (uint32_t)value[1] << 16 | (uint32_t)value[2] << 8 | value[3];
  *reason = value + 4;
  *reason_len = len - 4;
  return 0;
}

int h3_close_session_encode(uint8_t *out, size_t outlen, uint32_t code, const char *reason, size_t reason_len) {
  int ok;
  if (reason_len > 1024) reason_len = 1024;
  reason_len = reason ? utf8_prefix((const uint8_t *)reason, reason_len, &ok) : 0;
  int h = h3_frame_hdr_encode(out, outlen, H3_CAPSULE_CLOSE_WT_SESSION, 4 + reason_len);
  if (h < 0 || (size_t)h + 4 + reason_len > outlen) return H3_NOSPACE;
  uint8_t *p = out + h;
  p[0] = (uint8_t)(code >> 24);
  p[1] = (uint8_t)(code >> 16);
  p[2] = (uint8_t)(code >> 8);
  p[3] = (uint8_t)code;
  if (reason_len) memcpy(p + 4, reason, reason_len);
  return h + 4 + (int)reason_len;
}

/* ---- datagrams ------------------------------------------------------------------------------- */

int h3_datagram_decode(const uint8_t *in, size_t len, uint64_t *stream_id, const uint8_t **payload,
                       size_t *payload_len) {
  uint64_t q;
  size_t a;
  if (varint_decode(in, len, &q, &a) != VARINT_OK) return H3_ERR;
  if (q > VARINT_MAX / 4) return H3_ERR;
  *stream_id = q * 4;
  *payload = in + a;
  *payload_len = len - a;
  return 0;
}

int h3_datagram_prefix_encode(uint8_t *out, size_t outlen, uint64_t session_id) {
  if ((session_id & 3) || session_id > VARINT_MAX) return H3_ERR;
  size_t n = varint_encode(out, outlen, session_id / 4);
  return n ? (int)n : H3_NOSPACE;
}

/* ---- error codes ----------------------------------------------------------------------------- */

uint64_t h3_wt_code_to_h3(uint32_t code) { return H3_WT_CODE_FIRST + code + code / 0x1e; }

int h3_wt_code_from_h3(uint64_t h3, uint32_t *code) {
  if (h3 < H3_WT_CODE_FIRST || h3 > H3_WT_CODE_LAST || h3_is_grease(h3)) return H3_ERR;
  uint64_t shifted = h3 - H3_WT_CODE_FIRST;
  *code = (uint32_t)(shifted - shifted / 0x1f);
  return 0;
}

/* ---- structured fields ----------------------------------------------------------------------- */

typedef struct sf_in {
  const char *p, *end;
} sf_in;

static int sf_peek(const sf_in *in) { return in->p < in->end ? (unsigned char)*in->p : -1; }
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_lcalpha(int c) { return c >= 'a' && c <= 'z'; }
static int is_tchar(int c) {
  return c > 0 && (is_alpha(c) || is_digit(c) || strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static void sf_skip_sp(sf_in *in) {
  while (sf_peek(in) == ' ') in->p++;
}

static void sf_skip_ows(sf_in *in) {
  while (sf_peek(in) == ' ' || sf_peek(in) == '\t') in->p++;
}

/* A String; out may be NULL (skip). Returns the unescaped length, H3_ERR or H3_NOSPACE. */
static int sf_string(sf_in *in, char *out, size_t outlen) {
  if (sf_peek(in) != '"') return H3_ERR;
  in->p++;
  size_t n = 0;
  for (;;) {
    int c = sf_peek(in);
    if (c < 0) return H3_ERR;
    in->p++;
    if (c == '"') break;
    if (c == '\\') {
      c = sf_peek(in);
      if (c != '"' && c != '\\') return H3_ERR;
      in->p++;
    } else if (c < 0x20 || c > 0x7e) {
      return H3_ERR;
    }
    if (out) {
      if (n + 1 >= outlen) return H3_NOSPACE;
      out[n] = (char)c;
    }
    n++;
  }
  if (out) {
    if (n >= outlen) return H3_NOSPACE;
    out[n] = 0;
  }
  return (int)n;
}

/* Any bare item other than a String, skipped. */
static int sf_skip_bare(sf_in *in) {
  int c = sf_peek(in);
  if (c == '-' || is_digit(c)) { /* Integer or Decimal */
    if (c == '-') in->p++;
    size_t digits = 0, frac = 0;
    int dot = 0;
    if (!is_digit(sf_peek(in))) return H3_ERR;
    for (;;) {
      c = sf_peek(in);
      if (is_digit(c)) {
        if (dot) frac++;
        else digits++;
      } else if (c == '.' && !dot) {
        if (digits > 12) return H3_ERR;
        dot = 1;
      } else {
        break;
      }
      in->p++;
    }
    if (dot ? frac < 1 || frac > 3 : digits > 15) return H3_ERR;
    return 0;
  }
  if (is_alpha(c) || c == '*') { /* Token */
    in->p++;
    while (is_tchar(sf_peek(in)) || sf_peek(in) == ':' || sf_peek(in) == '/') in->p++;
    return 0;
  }
  if (c == ':') { /* Byte Sequence */
    in->p++;
    for (;;) {
      c = sf_peek(in);
      if (c == ':') break;
      if (!(is_alpha(c) || is_digit(c) || c == '+' || c == '/' || c == '=')) return H3_ERR;
      in->p++;
    }
    in->p++;
    return 0;
  }
  if (c == '?') { /* Boolean */
    in->p++;
    c = sf_peek(in);
    if (c != '0' && c != '1') return H3_ERR;
    in->p++;
    return 0;
  }
  return H3_ERR;
}

static int sf_skip_params(sf_in *in) {
  while (sf_peek(in) == ';') {
    in->p++;
    sf_skip_sp(in);
    int c = sf_peek(in);
    if (!is_lcalpha(c) && c != '*') return H3_ERR;
    while (is_lcalpha(c = sf_peek(in)) || is_digit(c) || c == '_' || c == '-' || c == '.' || c == '*') in->p++;
    if (sf_peek(in) == '=') {
      in->p++;
      int rv = sf_peek(in) == '"' ? sf_string(in, NULL, 0) : sf_skip_bare(in);
      if (rv < 0) return H3_ERR;
    }
  }
  return 0;
}

int h3_sf_list_strings(const char *text, size_t len, char *buf, size_t bufsize, const char **items, size_t max_items) {
  sf_in in = {text, text + len};
  size_t n = 0, used = 0;
  sf_skip_sp(&in);
  while (in.p < in.end) {
    int c = sf_peek(&in);
    if (c == '(') { /* Inner List: skipped */
      in.p++;
      for (;;) {
        sf_skip_sp(&in);
        if (sf_peek(&in) == ')') {
          in.p++;
          break;
        }
        int rv = sf_peek(&in) == '"' ? sf_string(&in, NULL, 0) : sf_skip_bare(&in);
        if (rv < 0 || sf_skip_params(&in) < 0) return H3_ERR;
        c = sf_peek(&in);
        if (c != ' ' && c != ')') return H3_ERR;
      }
      if (sf_skip_params(&in) < 0) return H3_ERR;
    } else if (c == '"') {
      if (n == max_items || used >= bufsize) return H3_NOSPACE;
      int rv = sf_string(&in, buf + used, bufsize - used);
      if (rv < 0) return rv;
      items[n++] = buf + used;
      used += (size_t)rv + 1;
      if (sf_skip_params(&in) < 0) return H3_ERR;
    } else {
      if (sf_skip_bare(&in) < 0 || sf_skip_params(&in) < 0) return H3_ERR;
    }
    sf_skip_ows(&in);
    if (in.p == in.end) break;
    if (*in.p != ',') return H3_ERR;
    in.p++;
    sf_skip_ows(&in);
    if (in.p == in.end) return H3_ERR; /* a trailing comma */
  }
  return (int)n;
}

int h3_sf_string_parse(const char *text, size_t len, char *out, size_t outlen) {
  sf_in in = {text, text + len};
  sf_skip_sp(&in);
  int rv = sf_string(&in, out, outlen);
  if (rv < 0) return rv;
  if (sf_skip_params(&in) < 0) return H3_ERR;
  sf_skip_sp(&in);
  return in.p == in.end ? rv : H3_ERR;
}

int h3_sf_string_quote(const char *s, char *out, size_t outlen) {
  size_t n = 0;
  if (outlen < 3) return H3_NOSPACE;
  out[n++] = '"';
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c < 0x20 || c > 0x7e) return H3_ERR;
    if (n + 4 > outlen) return H3_NOSPACE; /* room for an escape, the quote and the NUL */
    if (c == '"' || c == '\\') out[n++] = '\\';
    out[n++] = (char)c;
  }
  out[n++] = '"';
  out[n] = 0;
  return (int)n;
}
