/* h3_frame: the HTTP/3 and WebTransport wire pieces a WebTransport endpoint needs, as a pure codec.
 *
 * Frames (RFC 9114 7.1: type, length, payload), SETTINGS, the first bytes of streams (uni stream
 * types, the WebTransport bidi signal 0x41 and session id), capsules (RFC 9297 3.2) and
 * CLOSE_WEBTRANSPORT_SESSION, HTTP datagrams (quarter stream id), the mapping of WebTransport error
 * codes into the HTTP/3 code space, and the two structured-field shapes WebTransport uses (RFC 8941:
 * a List whose string members are wt-available-protocols, a String for wt-protocol).
 *
 * No allocation, no I/O. Input buffers are borrowed for the call; decoders never read past `len` and
 * say H3_NEED_MORE when the input stops early, H3_ERR when it can never be valid. QPACK is not here:
 * nghttp3's QPACK encoder and decoder do that (wt_session.c). */
#ifndef MOQ_H3_H3_FRAME_H
#define MOQ_H3_H3_FRAME_H

#include <stddef.h>
#include <stdint.h>

enum {
  H3_NEED_MORE = -1, /* the input ends before the item does */
  H3_ERR = -2,       /* malformed: can never be valid */
  H3_NOSPACE = -3,   /* an encoder's output buffer is too small */
};

/* Frame types (RFC 9114 7.2) and the ones WebTransport adds. */
enum {
  H3_FRAME_DATA = 0x00,
  H3_FRAME_HEADERS = 0x01,
  H3_FRAME_CANCEL_PUSH = 0x03,
  H3_FRAME_SETTINGS = 0x04,
  H3_FRAME_PUSH_PROMISE = 0x05,
  H3_FRAME_GOAWAY = 0x07,
  H3_FRAME_MAX_PUSH_ID = 0x0d,
  H3_FRAME_WT_STREAM = 0x41, /* WEBTRANSPORT_STREAM: the signal that opens a WebTransport bidi stream */
};

/* Unidirectional stream types (RFC 9114 6.2, RFC 9204 4.2, WebTransport). */
enum {
  H3_UNI_CONTROL = 0x00,
  H3_UNI_PUSH = 0x01,
  H3_UNI_QPACK_ENCODER = 0x02,
  H3_UNI_QPACK_DECODER = 0x03,
  H3_UNI_WT = 0x54,
};

/* SETTINGS identifiers. */
#define H3_SETTING_QPACK_MAX_TABLE_CAPACITY 0x01ULL
#define H3_SETTING_MAX_FIELD_SECTION_SIZE 0x06ULL
#define H3_SETTING_QPACK_BLOCKED_STREAMS 0x07ULL
#define H3_SETTING_ENABLE_CONNECT_PROTOCOL 0x08ULL /* RFC 8441 / 9220 */
#define H3_SETTING_H3_DATAGRAM 0x33ULL             /* RFC 9297 */
#define H3_SETTING_H3_DATAGRAM_DRAFT04 0xffd277ULL /* the old id Chromium still sends */
#define H3_SETTING_ENABLE_WEBTRANSPORT 0x2b603742ULL /* draft-02 */
#define H3_SETTING_WT_MAX_SESSIONS_DRAFT 0x2b603743ULL
#define H3_SETTING_WT_MAX_SESSIONS 0xc671706aULL

/* Capsule types. */
#define H3_CAPSULE_CLOSE_WT_SESSION 0x2843ULL
#define H3_CAPSULE_DRAIN_WT_SESSION 0x78aeULL

/* HTTP/3 error codes (RFC 9114 8.1, RFC 9204 6, WebTransport). */
#define H3_NO_ERROR 0x100ULL
#define H3_GENERAL_PROTOCOL_ERROR 0x101ULL
#define H3_INTERNAL_ERROR 0x102ULL
#define H3_STREAM_CREATION_ERROR 0x103ULL
#define H3_CLOSED_CRITICAL_STREAM 0x104ULL
#define H3_FRAME_UNEXPECTED 0x105ULL
#define H3_FRAME_ERROR 0x106ULL
#define H3_EXCESSIVE_LOAD 0x107ULL
#define H3_ID_ERROR 0x108ULL
#define H3_SETTINGS_ERROR 0x109ULL
#define H3_MISSING_SETTINGS 0x10aULL
#define H3_REQUEST_REJECTED 0x10bULL
#define H3_REQUEST_CANCELLED 0x10cULL
#define H3_MESSAGE_ERROR 0x10eULL
#define H3_QPACK_DECOMPRESSION_FAILED 0x200ULL
#define H3_QPACK_ENCODER_STREAM_ERROR 0x201ULL
#define H3_QPACK_DECODER_STREAM_ERROR 0x202ULL
#define H3_DATAGRAM_ERROR 0x33ULL
#define H3_WT_BUFFERED_STREAM_REJECTED 0x3994bd84ULL
#define H3_WT_SESSION_GONE 0x170d7b68ULL
#define H3_WT_CODE_FIRST 0x52e4a40fa8dbULL /* WebTransport application code 0 */
#define H3_WT_CODE_LAST 0x52e5ac983162ULL  /* ... code 0xffffffff */

/* ---- frames ---------------------------------------------------------------------------------- */

typedef struct h3_frame_hdr {
  uint64_t type;
  uint64_t len;     /* payload bytes that follow the header */
  size_t hdr_len;   /* bytes of type + length */
} h3_frame_hdr;

/* Reads a frame header from in[0..len). Returns hdr_len (> 0), H3_NEED_MORE. */
int h3_frame_hdr_decode(const uint8_t *in, size_t len, h3_frame_hdr *out);
/* Writes a frame header (type, payload length). Returns bytes written or H3_NOSPACE. */
int h3_frame_hdr_encode(uint8_t *out, size_t outlen, uint64_t type, uint64_t payload_len);
/* True for the reserved (GREASE) frame, stream, setting and capsule values 0x1f * N + 0x21. */
int h3_is_grease(uint64_t v);

/* ---- SETTINGS -------------------------------------------------------------------------------- */

/* The settings we act on; everything else (GREASE, unknown ids) is skipped as RFC 9114 requires. */
typedef struct h3_settings {
  uint64_t qpack_max_table_capacity; /* 0 if absent */
  uint64_t qpack_blocked_streams;
  uint64_t max_field_section_size;   /* 0 = absent (unlimited) */
  uint64_t enable_connect_protocol;
  uint64_t h3_datagram;              /* 0x33 */
  uint64_t h3_datagram_draft04;      /* 0xffd277 */
  uint64_t enable_webtransport;      /* 0x2b603742 */
  uint64_t wt_max_sessions;          /* 0xc671706a */
  uint64_t wt_max_sessions_draft;    /* 0x2b603743 */
} h3_settings;

/* Decodes the payload of a SETTINGS frame (payload[0..len) is the whole payload). A truncated pair, a
 * duplicate identifier, or an HTTP/2 identifier (0x00, 0x02..0x05) is H3_ERR with *why set (static).
 * Returns 0. */
int h3_settings_decode(const uint8_t *payload, size_t len, h3_settings *out, const char **why);
/* Writes a whole SETTINGS frame (header and payload) with every non-zero field of s, in the order of
 * the struct, plus one GREASE setting when grease is non-zero (its value). Returns bytes or
 * H3_NOSPACE. */
int h3_settings_encode(uint8_t *out, size_t outlen, const h3_settings *s, uint64_t grease);
/* True when the peer's settings allow a WebTransport session: H3 datagrams (either id) and
 * WebTransport enabled (0x2b603742 = 1 or a max-sessions setting > 0). */
int h3_settings_webtransport(const h3_settings *s);

/* ---- stream headers -------------------------------------------------------------------------- */

typedef struct h3_stream_hdr {
  uint64_t type;       /* uni: the stream type; bidi: H3_FRAME_WT_STREAM, or another frame type
                          (a request stream: nothing consumed but the peek) */
  uint64_t session_id; /* WebTransport streams (uni 0x54, bidi 0x41): the session's CONNECT stream */
  size_t used;         /* bytes of stream header consumed (0 for a request stream) */
} h3_stream_hdr;

/* Reads the first bytes of a peer's stream. uni: the stream type, then for 0x54 the session id.
 * bidi: 0x41 + session id is a WebTransport stream; any other first varint is a request stream
 * whose frames begin at byte 0 (used = 0). Returns 0, H3_NEED_MORE, or H3_ERR (a session id that is
 * not a client-initiated bidi stream id). */
int h3_stream_hdr_decode(const uint8_t *in, size_t len, int uni, h3_stream_hdr *out);
/* Writes a WebTransport stream header: 0x41 (bidi) or 0x54 (uni), then the session id. Bytes, or
 * H3_NOSPACE / H3_ERR (a session id above 2^62). */
int h3_stream_hdr_encode(uint8_t *out, size_t outlen, int uni, uint64_t session_id);

/* ---- capsules -------------------------------------------------------------------------------- */

typedef struct h3_capsule {
  uint64_t type;
  const uint8_t *payload; /* borrowed from the input */
  size_t len;
  size_t used;            /* bytes of the whole capsule */
} h3_capsule;

/* Reads one capsule (type, length, value) from in[0..len): 0, H3_NEED_MORE (the value too) or H3_ERR
 * (a length above max_len). */
int h3_capsule_decode(const uint8_t *in, size_t len, size_t max_len, h3_capsule *out);
/* Reads a CLOSE_WEBTRANSPORT_SESSION value: u32 code (big-endian), then a UTF-8 reason of at most
 * 1024 bytes (borrowed). 0 or H3_ERR (shorter than 4 bytes, reason too long or not UTF-8). */
int h3_close_session_decode(const uint8_t *value, size_t len, uint32_t *code, const uint8_t **reason,
                            size_t *reason_len);
/* Writes a whole CLOSE_WEBTRANSPORT_SESSION capsule; reason is cut to 1024 bytes (at a UTF-8
 * character boundary). Bytes or H3_NOSPACE. */
int h3_close_session_encode(uint8_t *out, size_t outlen, uint32_t code, const char *reason, size_t reason_len);

/* ---- datagrams ------------------------------------------------------------------------------- */

/* Reads an HTTP datagram (RFC 9297 2.1): quarter stream id, then the payload (borrowed). The stream
 * id (quarter * 4) goes to *stream_id. 0, or H3_ERR when the prefix is cut short. */
int h3_datagram_decode(const uint8_t *in, size_t len, uint64_t *stream_id, const uint8_t **payload,
                       size_t *payload_len);
/* Writes the prefix of an HTTP datagram for a session (stream id / 4). Bytes or H3_NOSPACE / H3_ERR. */
int h3_datagram_prefix_encode(uint8_t *out, size_t outlen, uint64_t session_id);

/* ---- error codes ----------------------------------------------------------------------------- */

/* A WebTransport application error code in the HTTP/3 code space (skipping the GREASE values). */
uint64_t h3_wt_code_to_h3(uint32_t code);
/* The WebTransport application code for an HTTP/3 code: 0, or H3_ERR when h3 is outside the range
 * or a GREASE value. */
int h3_wt_code_from_h3(uint64_t h3, uint32_t *code);

/* ---- structured fields (RFC 8941) ------------------------------------------------------------ */

/* Parses a List header value (in[0..len), not NUL-terminated) and collects its String members, in
 * order, unescaped and NUL-terminated, into buf (bufsize bytes), with pointers into buf in items
 * (max_items). Members of other types (tokens, numbers, inner lists) and parameters are skipped.
 * Returns the number of strings, H3_ERR for a value that does not parse (the field must then be
 * ignored), or H3_NOSPACE. */
int h3_sf_list_strings(const char *in, size_t len, char *buf, size_t bufsize, const char **items, size_t max_items);
/* Parses an Item that must be a String (parameters are allowed and skipped) into out (unescaped,
 * NUL-terminated). Returns its length, H3_ERR, or H3_NOSPACE. */
int h3_sf_string_parse(const char *in, size_t len, char *out, size_t outlen);
/* Writes s as a String ("..." with \" and \\ escaped), NUL-terminated. Returns its length, H3_ERR for
 * a character a String cannot hold (outside 0x20..0x7e), or H3_NOSPACE. */
int h3_sf_string_quote(const char *s, char *out, size_t outlen);

#endif
