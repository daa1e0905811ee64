/* h3_fields: see h3_fields.h. */
#include "h3/h3_fields.h"

#include <string.h>

#include "h3/h3_frame.h"

void h3_fields_set(h3_fields *f, const char *name, size_t nlen, const uint8_t *v, size_t vlen) {
  struct {
    const char *name;
    char *dst;
    size_t size;
  } map[] = {{":method", f->method, sizeof f->method},       {":protocol", f->protocol, sizeof f->protocol},
             {":scheme", f->scheme, sizeof f->scheme},       {":status", f->status, sizeof f->status},
             {":authority", f->authority, sizeof f->authority}, {":path", f->path, sizeof f->path},
             {"origin", f->origin, sizeof f->origin},        {"wt-protocol", f->wt_protocol, sizeof f->wt_protocol},
             {"wt-available-protocols", f->wt_available, sizeof f->wt_available}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
    if (strlen(map[i].name) != nlen || memcmp(map[i].name, name, nlen) != 0) continue;
    if (vlen >= map[i].size) {
      f->too_long = 1;
      return;
    }
    if (vlen) memcpy(map[i].dst, v, vlen);
    map[i].dst[vlen] = 0;
    return;
  }
}

int h3_fields_decode(nghttp3_qpack_decoder *dec, int64_t sid, const uint8_t *p, size_t len, h3_fields *f,
                     const char **why) {
  memset(f, 0, sizeof *f);
  nghttp3_qpack_stream_context *sctx = NULL;
  if (nghttp3_qpack_stream_context_new(&sctx, sid, nghttp3_mem_default()) != 0) {
    *why = "out of memory";
    return -1;
  }
  int rv = 0;
  for (;;) {
    nghttp3_qpack_nv nv;
    uint8_t flags = 0;
    nghttp3_ssize n = nghttp3_qpack_decoder_read_request(dec, sctx, &nv, &flags, p, len, 1);
    if (n < 0) {
      *why = nghttp3_strerror((int)n);
      rv = -1;
      break;
    }
    p += n;
    len -= (size_t)n;
    if (flags & NGHTTP3_QPACK_DECODE_FLAG_EMIT) {
      nghttp3_vec name = nghttp3_rcbuf_get_buf(nv.name), value = nghttp3_rcbuf_get_buf(nv.value);
      h3_fields_set(f, (const char *)name.base, name.len, value.base, value.len);
      nghttp3_rcbuf_decref(nv.name);
      nghttp3_rcbuf_decref(nv.value);
    }
    if (flags & NGHTTP3_QPACK_DECODE_FLAG_FINAL) break;
    if ((flags & NGHTTP3_QPACK_DECODE_FLAG_BLOCKED) || (n == 0 && !(flags & NGHTTP3_QPACK_DECODE_FLAG_EMIT))) {
      *why = "field section blocked or cut short";
      rv = -1;
      break;
    }
  }
  nghttp3_qpack_stream_context_del(sctx);
  return rv;
}

void h3_request_classify(const h3_fields *f, h3_request_verdict *out) {
  out->status = 0;
  out->allow = NULL;
  out->body = NULL;
  if (f->too_long) {
    out->status = 431;
    out->body = "request header fields too large\n";
  } else if (strcmp(f->method, "CONNECT") != 0) {
    if (strcmp(f->method, "GET") == 0 || strcmp(f->method, "HEAD") == 0) {
      out->status = 404;
      out->body = "not found: this port serves MoQ over WebTransport (extended CONNECT)\n";
    } else {
      out->status = 405;
      out->allow = "CONNECT";
      out->body = "method not allowed: use CONNECT with :protocol webtransport\n";
    }
  } else if (strcmp(f->protocol, "webtransport") != 0) {
    out->status = 501;
    out->body = "only the webtransport protocol is served here\n";
  } else if (!f->path[0] || !f->authority[0] || !f->scheme[0]) {
    out->status = 400;
    out->body = "extended CONNECT needs :scheme, :authority and :path\n";
  }
}

int h3_fields_protocols(const h3_fields *f, char *buf, size_t bufsize, const char **items, size_t max_items) {
  if (!f->wt_available[0]) return 0;
  int n = h3_sf_list_strings(f->wt_available, strlen(f->wt_available), buf, bufsize, items, max_items);
  if (n == H3_NOSPACE) return -1;
  return n < 0 ? 0 : n;
}
