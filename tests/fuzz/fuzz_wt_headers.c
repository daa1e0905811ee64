/* fuzz_wt_headers: the header handling of a WebTransport extended CONNECT (core/h3/h3_fields.h), with
 * nghttp3's QPACK decoder in the loop, set up as wt_session sets it up (no dynamic table).
 *
 * Input: a selector byte, then either (even selector) a HEADERS payload as a peer would send it,
 * or (odd) a list of fields, "name \0 value \1 name \0 value ...", that nghttp3's encoder packs
 * first. Checked: a section decodes or fails with a reason; the verdict matches the fields (status 0
 * only for a CONNECT of :protocol webtransport with :scheme, :authority and :path, nothing too long;
 * 431 exactly when a field was too long); the protocols come out of the relay's buffers; and for
 * encoded lists, every field WebTransport reads has the last value given for it that fits (too_long
 * says one did not). */
#include "fuzz.h"

#include "h3/h3_fields.h"
#include "h3/h3_frame.h"

static const char *const KNOWN[] = {":method", ":protocol", ":scheme", ":status", ":authority", ":path",
                                    "origin", "wt-protocol", "wt-available-protocols"};

static const char *field_of(const h3_fields *f, size_t i, size_t *size) {
  const char *const v[] = {f->method, f->protocol, f->scheme, f->status, f->authority, f->path,
                           f->origin, f->wt_protocol, f->wt_available};
  const size_t sz[] = {sizeof f->method, sizeof f->protocol, sizeof f->scheme, sizeof f->status,
                       sizeof f->authority, sizeof f->path, sizeof f->origin, sizeof f->wt_protocol,
                       sizeof f->wt_available};
  *size = sz[i];
  return v[i];
}

static void check_verdict(const h3_fields *f) {
  h3_request_verdict v;
  h3_request_classify(f, &v);
  FUZZ_CHECK((v.status == 431) == (f->too_long != 0));
  if (v.status == 0) {
    FUZZ_CHECK(strcmp(f->method, "CONNECT") == 0 && strcmp(f->protocol, "webtransport") == 0);
    FUZZ_CHECK(f->scheme[0] && f->authority[0] && f->path[0]);
    FUZZ_CHECK(v.body == NULL);
  } else {
    FUZZ_CHECK(v.body != NULL && (v.status == 405) == (v.allow != NULL));
  }
  char pbuf[1024];
  const char *items[16];
  int n = h3_fields_protocols(f, pbuf, sizeof pbuf, items, 16);
  FUZZ_CHECK(n >= -1 && n <= 16);
  for (int i = 0; i < n; i++) FUZZ_CHECK(items[i] >= pbuf && items[i] + strlen(items[i]) < pbuf + sizeof pbuf);
}

static nghttp3_qpack_decoder *decoder(void) {
  nghttp3_qpack_decoder *dec = NULL;
  FUZZ_CHECK(nghttp3_qpack_decoder_new(&dec, 0, 0, nghttp3_mem_default()) == 0);
  return dec;
}

static void raw(const uint8_t *p, size_t len) {
  nghttp3_qpack_decoder *dec = decoder();
  h3_fields f;
  const char *why = NULL;
  if (h3_fields_decode(dec, 0, p, len, &f, &why) == 0) check_verdict(&f);
  else FUZZ_CHECK(why != NULL);
  nghttp3_qpack_decoder_del(dec);
}

#define MAX_NV 32

static void encoded(const uint8_t *p, size_t len) {
  nghttp3_nv nv[MAX_NV];
  size_t n = 0;
  while (len && n < MAX_NV) {
    const uint8_t *end = memchr(p, 1, len);
    size_t item = end ? (size_t)(end - p) : len;
    const uint8_t *sep = memchr(p, 0, item);
    size_t nl = sep ? (size_t)(sep - p) : item;
    nv[n] = (nghttp3_nv){(uint8_t *)p, (uint8_t *)(sep ? sep + 1 : p + item), nl, sep ? item - nl - 1 : 0,
                         NGHTTP3_NV_FLAG_NONE};
    n++;
    p += item;
    len -= item;
    if (len) p++, len--;
  }
  nghttp3_qpack_encoder *enc = NULL;
  FUZZ_CHECK(nghttp3_qpack_encoder_new2(&enc, 0, 1, nghttp3_mem_default()) == 0);
  nghttp3_qpack_encoder_set_max_dtable_capacity(enc, 0);
  nghttp3_buf pb, rb, eb;
  nghttp3_buf_init(&pb);
  nghttp3_buf_init(&rb);
  nghttp3_buf_init(&eb);
  if (nghttp3_qpack_encoder_encode(enc, &pb, &rb, &eb, 0, nv, n) == 0) {
    size_t pl = nghttp3_buf_len(&pb), rl = nghttp3_buf_len(&rb);
    uint8_t *section = malloc(pl + rl + 1);
    FUZZ_CHECK(section != NULL);
    if (pl) memcpy(section, pb.pos, pl);
    if (rl) memcpy(section + pl, rb.pos, rl);
    nghttp3_qpack_decoder *dec = decoder();
    h3_fields f;
    const char *why = NULL;
    FUZZ_CHECK(nghttp3_buf_len(&eb) == 0); /* nothing for a table we did not allow */
    int drv = h3_fields_decode(dec, 0, section, pl + rl, &f, &why);
    if (drv) { /* only for what nghttp3's decoder refuses on purpose: names over 256 bytes */
      int huge = 0;
      for (size_t i = 0; i < n; i++) huge |= nv[i].namelen > 256 || nv[i].valuelen > 65536;
      FUZZ_CHECK(huge && why != NULL);
      goto done;
    }
    check_verdict(&f);
    int any_too_long = 0;
    for (size_t k = 0; k < sizeof KNOWN / sizeof KNOWN[0]; k++) {
      const nghttp3_nv *last = NULL;
      for (size_t i = 0; i < n; i++)
        if (nv[i].namelen == strlen(KNOWN[k]) && memcmp(nv[i].name, KNOWN[k], nv[i].namelen) == 0) {
          size_t size;
          (void)field_of(&f, k, &size);
          if (nv[i].valuelen >= size) any_too_long = 1; /* and the value before it stays */
          else last = &nv[i];
        }
      size_t size;
      const char *got = field_of(&f, k, &size);
      if (last) FUZZ_CHECK(memcmp(got, last->value, last->valuelen) == 0 && got[last->valuelen] == 0);
      else FUZZ_CHECK(got[0] == 0);
    }
    FUZZ_CHECK(f.too_long == any_too_long);
  done:
    nghttp3_qpack_decoder_del(dec);
    free(section);
  }
  nghttp3_buf_free(&pb, nghttp3_mem_default());
  nghttp3_buf_free(&rb, nghttp3_mem_default());
  nghttp3_buf_free(&eb, nghttp3_mem_default());
  nghttp3_qpack_encoder_del(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in = {data, size};
  uint8_t sel = fuzz_u8(&in);
  if (in.len > 16384) return 0;
  uint8_t *buf = fuzz_dup(in.p, in.len);
  if (sel & 1) encoded(buf, in.len);
  else raw(buf, in.len);
  free(buf);
  return 0;
}
