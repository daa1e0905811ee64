/* fuzz_sf: the RFC 8941 structured-field parsing WebTransport uses (core/h3/h3_frame.h): the List of
 * wt-available-protocols a client sends (h3_sf_list_strings, also through h3_fields_protocols) and
 * the String of wt-protocol a server answers (h3_sf_string_parse), with h3_sf_string_quote.
 *
 * Input: a selector byte (the buffer size and item count to parse into), then the field value.
 * Checked: strings come out NUL-terminated inside the buffer, printable ASCII only; every string
 * quotes and parses back to itself; a list re-built from the strings parses to the same strings;
 * a smaller buffer never yields a different answer than H3_NOSPACE or the same strings. */
#include "fuzz.h"

#include "h3/h3_fields.h"
#include "h3/h3_frame.h"

static void check_string(const char *s) {
  for (const char *c = s; *c; c++) FUZZ_CHECK(*c >= 0x20 && *c <= 0x7e);
  char q[2200], back[1100];
  int n = h3_sf_string_quote(s, q, sizeof q);
  FUZZ_CHECK(n > 0 && (size_t)n == strlen(q));
  FUZZ_CHECK(h3_sf_string_parse(q, (size_t)n, back, sizeof back) == (int)strlen(s) && strcmp(back, s) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in = {data, size};
  uint8_t sel = fuzz_u8(&in);
  if (in.len > 2048) return 0;
  char *text = (char *)fuzz_dup(in.p, in.len); /* not NUL-terminated, as a header value is borrowed */

  /* the List, into a buffer and item array of the sizes the relay uses */
  char buf[1024];
  const char *items[16];
  int n = h3_sf_list_strings(text, in.len, buf, sizeof buf, items, 16);
  FUZZ_CHECK(n >= 0 || n == H3_ERR || n == H3_NOSPACE);
  if (n > 0) {
    char list[4096];
    size_t ll = 0;
    for (int i = 0; i < n; i++) {
      FUZZ_CHECK(items[i] >= buf && items[i] + strlen(items[i]) < buf + sizeof buf);
      check_string(items[i]);
      int q = h3_sf_string_quote(items[i], list + ll, sizeof list - ll);
      FUZZ_CHECK(q > 0);
      ll += (size_t)q;
      if (i + 1 < n) {
        memcpy(list + ll, ", ", 2);
        ll += 2;
      }
    }
    char buf2[1024];
    const char *items2[16];
    FUZZ_CHECK(h3_sf_list_strings(list, ll, buf2, sizeof buf2, items2, 16) == n);
    for (int i = 0; i < n; i++) FUZZ_CHECK(strcmp(items[i], items2[i]) == 0);
  }
  /* a smaller buffer: the same strings, or no space */
  size_t small = (size_t)(sel & 0x3f) + 1, max_small = (size_t)(sel >> 6) + 1;
  char *sbuf = malloc(small);
  const char *sitems[4];
  int m = h3_sf_list_strings(text, in.len, sbuf, small, sitems, max_small);
  if (n >= 0) {
    FUZZ_CHECK(m == n || m == H3_NOSPACE);
    if (m == n)
      for (int i = 0; i < m; i++) FUZZ_CHECK(strcmp(sitems[i], items[i]) == 0);
  } else if (n == H3_ERR) {
    FUZZ_CHECK(m == H3_ERR || m == H3_NOSPACE);
  }
  free(sbuf);

  /* the same value as a header the relay decoded: h3_fields_protocols agrees */
  h3_fields f;
  memset(&f, 0, sizeof f);
  h3_fields_set(&f, "wt-available-protocols", 22, (const uint8_t *)text, in.len);
  if (!f.too_long && !memchr(text, 0, in.len)) {
    char pbuf[1024];
    const char *pitems[16];
    int k = h3_fields_protocols(&f, pbuf, sizeof pbuf, pitems, 16);
    FUZZ_CHECK(k == (n > 0 ? n : n == H3_NOSPACE ? -1 : 0));
  }

  /* the String a server answers */
  char out[256];
  int s = h3_sf_string_parse(text, in.len, out, sizeof out);
  FUZZ_CHECK(s >= 0 || s == H3_ERR || s == H3_NOSPACE);
  if (s >= 0) {
    FUZZ_CHECK((size_t)s == strlen(out));
    check_string(out);
  }
  free(text);
  return 0;
}
