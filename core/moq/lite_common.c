/* lite_common: versions, limits, strings, UTF-8, paths, lists and the encode buffer of the moq-lite
 * codec (see lite.h). */
#include <stdlib.h>
#include <string.h>

#include "base/varint.h"
#include "moq/lite.h"

const char *moq_err_name(int rc) {
  if (rc >= 0) return "ok";
  switch (rc) {
  case MOQ_NEED_MORE: return "need_more";
  case MOQ_ERR_MALFORMED: return "malformed";
  case MOQ_ERR_TOO_LARGE: return "too_large";
  case MOQ_ERR_UNKNOWN_TYPE: return "unknown_type";
  case MOQ_ERR_DUPLICATE: return "duplicate";
  case MOQ_ERR_VERSION: return "version";
  case MOQ_ERR_INVALID: return "invalid";
  case MOQ_ERR_NOMEM: return "nomem";
  default: return "unknown_error";
  }
}

/* ---- versions ---- */

bool moq_version_valid(moq_version v) { return v >= MOQ_LITE_01 && v <= MOQ_LITE_05; }

uint64_t moq_version_code(moq_version v) {
  return moq_version_valid(v) ? (uint64_t)MOQ_LITE_CODE_BASE + (uint64_t)v : 0;
}

int moq_version_from_code(uint64_t code, moq_version *out) {
  if (code < (uint64_t)MOQ_LITE_CODE_BASE + MOQ_LITE_01 || code > (uint64_t)MOQ_LITE_CODE_BASE + MOQ_LITE_05)
    return MOQ_ERR_VERSION;
  *out = (moq_version)(code - MOQ_LITE_CODE_BASE);
  return 0;
}

static const char *const version_names[] = {"?", "moq-lite-01", "moq-lite-02", "moq-lite-03", "moq-lite-04",
                                             "moq-lite-05"};

const char *moq_version_alpn(moq_version v) {
  if (!moq_version_valid(v)) return NULL;
  if (v <= MOQ_LITE_02) return MOQ_ALPN_LEGACY;
  return version_names[v];
}

const char *moq_version_name(moq_version v) { return moq_version_valid(v) ? version_names[v] : version_names[0]; }

int moq_version_from_alpn(const char *alpn, size_t len, moq_version *out) {
  if (alpn == NULL) return MOQ_ERR_VERSION;
  if (len == strlen(MOQ_ALPN_LEGACY) && memcmp(alpn, MOQ_ALPN_LEGACY, len) == 0) return 0;
  for (int v = MOQ_LITE_03; v <= MOQ_LITE_05; v++) {
    const char *name = version_names[v];
    if (len == strlen(name) && memcmp(alpn, name, len) == 0) {
      *out = (moq_version)v;
      return 1;
    }
  }
  return MOQ_ERR_VERSION;
}

/* ---- limits ---- */

void moq_limits_default(moq_limits *l) {
  l->max_message = 64 * 1024;
  l->max_path = 1024;
  l->max_segments = 32;
  l->max_frame = (uint64_t)32 * 1024 * 1024;
  l->max_datagram = 1200;
}

/* ---- strings and primitives ---- */

moq_str moq_str_c(const char *s) {
  moq_str r = {(const uint8_t *)s, s ? strlen(s) : 0};
  return r;
}

bool moq_str_eq(moq_str a, moq_str b) { return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0); }

bool moq_utf8_valid(const uint8_t *p, size_t len) {
  size_t i = 0;
  while (i < len) {
    uint8_t c = p[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t n;
    uint32_t min;
    if ((c & 0xe0) == 0xc0) {
      n = 2;
      min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      n = 3;
      min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      n = 4;
      min = 0x10000;
    } else {
      return false; /* continuation byte or 0xf8.. lead */
    }
    uint32_t cp = c & (0x7fu >> n); /* the lead byte's payload bits */
    if (len - i < n) return false;
    for (size_t k = 1; k < n; k++) {
      uint8_t cc = p[i + k];
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n;
  }
  return true;
}

uint64_t moq_zigzag_encode(int64_t d) {
  return d >= 0 ? (uint64_t)d << 1 : (((uint64_t)(-(d + 1))) << 1) | 1;
}

int64_t moq_zigzag_decode(uint64_t u) {
  return (u & 1) ? -(int64_t)(u >> 1) - 1 : (int64_t)(u >> 1);
}

int moq_varint_list_next(moq_varint_list *it, uint64_t *v) {
  if (it->count == 0) return 0;
  size_t used;
  if (varint_decode(it->p, it->len, v, &used) != VARINT_OK) return 0; /* cannot happen on a decoded list */
  it->p += used;
  it->len -= used;
  it->count--;
  return 1;
}

int moq_str_list_next(moq_str_list *it, moq_str *s) {
  if (it->count == 0) return 0;
  uint64_t n;
  size_t used;
  if (varint_decode(it->p, it->len, &n, &used) != VARINT_OK || n > it->len - used) return 0;
  s->p = it->p + used;
  s->len = (size_t)n;
  it->p += used + (size_t)n;
  it->len -= used + (size_t)n;
  it->count--;
  return 1;
}

/* ---- paths ---- */

/* Next non-empty segment of p[*pos..len): sets *seg and *seglen and advances *pos; 0 at the end. */
static int next_segment(const uint8_t *p, size_t len, size_t *pos, const uint8_t **seg, size_t *seglen) {
  size_t i = *pos;
  while (i < len && p[i] == '/') i++;
  if (i >= len) {
    *pos = len;
    return 0;
  }
  size_t start = i;
  while (i < len && p[i] != '/') i++;
  *seg = p + start;
  *seglen = i - start;
  *pos = i;
  return 1;
}

size_t moq_path_segments(moq_str path) {
  size_t pos = 0, n = 0, sl;
  const uint8_t *s;
  while (next_segment(path.p, path.len, &pos, &s, &sl)) n++;
  return n;
}

int moq_path_check(moq_str path, const moq_limits *lim, const char **why) {
  moq_limits def;
  if (lim == NULL) {
    moq_limits_default(&def);
    lim = &def;
  }
  if (path.len > lim->max_path) {
    if (why) *why = "path too long";
    return MOQ_ERR_TOO_LARGE;
  }
  if (!moq_utf8_valid(path.p, path.len)) {
    if (why) *why = "path is not UTF-8";
    return MOQ_ERR_MALFORMED;
  }
  if (path.len && memchr(path.p, 0, path.len) != NULL) {
    if (why) *why = "path contains NUL";
    return MOQ_ERR_MALFORMED;
  }
  if (moq_path_segments(path) > lim->max_segments) {
    if (why) *why = "too many path segments";
    return MOQ_ERR_TOO_LARGE;
  }
  return 0;
}

/* Appends the normalized segments of path to out at *n (with '/' between segments, and before the
 * first one when *n > 0); 0, or MOQ_ERR_TOO_LARGE leaving room for the NUL. */
static int append_segments(moq_str path, char *out, size_t outlen, size_t *n) {
  size_t pos = 0, sl;
  const uint8_t *s;
  while (next_segment(path.p, path.len, &pos, &s, &sl)) {
    size_t need = sl + (*n > 0 ? 1 : 0);
    if (outlen < 1 || need > outlen - 1 - *n) return MOQ_ERR_TOO_LARGE;
    if (*n > 0) out[(*n)++] = '/';
    memcpy(out + *n, s, sl);
    *n += sl;
  }
  return 0;
}

int moq_path_normalize(moq_str path, char *out, size_t outlen) {
  size_t n = 0;
  if (outlen == 0) return MOQ_ERR_TOO_LARGE;
  if (append_segments(path, out, outlen, &n) < 0) return MOQ_ERR_TOO_LARGE;
  out[n] = '\0';
  return (int)n;
}

int moq_path_join(moq_str prefix, moq_str suffix, char *out, size_t outlen) {
  size_t n = 0;
  if (outlen == 0) return MOQ_ERR_TOO_LARGE;
  if (append_segments(prefix, out, outlen, &n) < 0 || append_segments(suffix, out, outlen, &n) < 0)
    return MOQ_ERR_TOO_LARGE;
  out[n] = '\0';
  return (int)n;
}

int moq_path_strip_prefix(moq_str path, moq_str prefix, moq_str *rest) {
  size_t ppos = 0, xpos = 0, psl, xsl;
  const uint8_t *ps, *xs;
  while (next_segment(prefix.p, prefix.len, &xpos, &xs, &xsl)) {
    if (!next_segment(path.p, path.len, &ppos, &ps, &psl)) return 0;
    if (psl != xsl || memcmp(ps, xs, xsl) != 0) return 0;
  }
  while (ppos < path.len && path.p[ppos] == '/') ppos++;
  if (rest) {
    rest->p = path.len ? path.p + ppos : path.p;
    rest->len = path.len - ppos;
  }
  return 1;
}

bool moq_path_has_prefix(moq_str path, moq_str prefix) { return moq_path_strip_prefix(path, prefix, NULL) == 1; }

/* ---- encode buffer ---- */

void moq_buf_init(moq_buf *b) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}

void moq_buf_free(moq_buf *b) {
  free(b->data);
  moq_buf_init(b);
}

void moq_buf_reset(moq_buf *b) { b->len = 0; }

int moq_buf_reserve(moq_buf *b, size_t extra) {
  if (extra <= b->cap - b->len) return 0;
  if (extra > SIZE_MAX / 2 - b->len) return MOQ_ERR_NOMEM;
  size_t want = b->len + extra;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < want) cap *= 2;
  uint8_t *d = realloc(b->data, cap);
  if (d == NULL) return MOQ_ERR_NOMEM;
  b->data = d;
  b->cap = cap;
  return 0;
}

int moq_buf_append(moq_buf *b, const void *p, size_t n) {
  if (n == 0) return 0;
  if (moq_buf_reserve(b, n) < 0) return MOQ_ERR_NOMEM;
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

int moq_buf_u8(moq_buf *b, uint8_t v) { return moq_buf_append(b, &v, 1); }

int moq_buf_varint(moq_buf *b, uint64_t v) {
  size_t n = varint_size(v);
  if (n == 0) return MOQ_ERR_INVALID;
  if (moq_buf_reserve(b, n) < 0) return MOQ_ERR_NOMEM;
  varint_encode(b->data + b->len, n, v);
  b->len += n;
  return 0;
}
