/* h3_fields: the HTTP/3 field sections a WebTransport endpoint reads, after QPACK.
 *
 * A HEADERS payload is decoded with nghttp3's QPACK decoder (the caller's, which holds the dynamic
 * table state of the connection) into the handful of fields WebTransport looks at, each copied into
 * a fixed buffer; a value longer than its buffer marks the section too_long instead (431). Then the
 * server side classifies a request: a WebTransport extended CONNECT with everything it needs, or the
 * HTTP answer another request gets, and reads the client's wt-available-protocols.
 *
 * Pure apart from the decoder's state: no I/O, no logging. Everything is borrowed for the call. */
#ifndef MOQ_H3_H3_FIELDS_H
#define MOQ_H3_H3_FIELDS_H

#include <nghttp3/nghttp3.h>
#include <stddef.h>
#include <stdint.h>

/* The fields WebTransport reads, NUL-terminated; "" when absent. */
typedef struct h3_fields {
  char method[16], protocol[32], scheme[16], status[8];
  char authority[256], origin[256];
  char path[4096];
  char wt_protocol[256];
  char wt_available[1024];
  int too_long; /* one of them did not fit its buffer */
} h3_fields;

/* Keeps value v[0..vlen) if name[0..nlen) is one of the fields above (exact, lower-case names as
 * HTTP/3 requires); a value that does not fit sets too_long. Other names are ignored. A later
 * value for the same name replaces the earlier one. */
void h3_fields_set(h3_fields *f, const char *name, size_t nlen, const uint8_t *v, size_t vlen);

/* Decodes the QPACK field section p[0..len) (a whole HEADERS frame payload) of stream sid with dec
 * into f (cleared first). Returns 0, or -1 with *why (static) when the section does not decode,
 * is cut short or would block on the dynamic table: the connection must then be closed with
 * QPACK_DECOMPRESSION_FAILED. */
int h3_fields_decode(nghttp3_qpack_decoder *dec, int64_t sid, const uint8_t *p, size_t len, h3_fields *f,
                     const char **why);

/* What a server answers a request, apart from the session state (one session per connection). */
typedef struct h3_request_verdict {
  int status;        /* 0: a WebTransport CONNECT to accept or refuse; else the HTTP status to answer */
  const char *allow; /* the Allow header for 405, else NULL (static) */
  const char *body;  /* the text body for status != 0 (static) */
} h3_request_verdict;

/* Classifies the request f: 431 for a field too long, 404 for GET/HEAD, 405 for another method than
 * CONNECT, 501 for a :protocol other than webtransport, 400 for a CONNECT without :scheme,
 * :authority or :path; else status 0. */
void h3_request_classify(const h3_fields *f, h3_request_verdict *out);

/* The client's wt-available-protocols (a structured-field List) as strings, in its order, into
 * items (max_items; pointers into buf, bufsize bytes). Returns the count: 0 when the field is
 * absent or does not parse (it is then ignored, as RFC 8941 requires), or -1 when it parses but
 * does not fit buf/items. */
int h3_fields_protocols(const h3_fields *f, char *buf, size_t bufsize, const char **items, size_t max_items);

#endif
