/* lite: the moq-lite wire codec, versions lite-01 .. lite-05. Pure: no I/O, no global mutable state, and
 * no allocation except inside moq_buf. Byte layouts follow shared/reference/moq-lite-vectors.md.
 *
 * Decoding is incremental and exact. A decoder takes the bytes received so far, in[0..len), and returns
 * the number of bytes one message took (> 0), MOQ_NEED_MORE when the input ends before the message does
 * (never an error, never a read past in + len), or a negative MOQ_ERR_* code. On an error, *why (when
 * why is not NULL) is set to a short static reason for logs. The output struct is written only on
 * success. Decoded strings are borrowed views into `in`: they live as long as the caller keeps `in`.
 * Every length on the wire is checked against a moq_limits (NULL means moq_limits_default()) before
 * anything waits for it.
 *
 * Encoding appends to a moq_buf, always with minimal varints, and returns the number of bytes appended
 * (> 0) or a negative MOQ_ERR_* code, in which case the buffer is left exactly as it was.
 *
 * Stream types are separate: a stream begins with its type varint (moq_*_type_decode/encode), then the
 * messages below. Lengths are QUIC varints (base/varint.h); plain messages are `Length (i) + Body`. */
#ifndef MOQ_MOQ_LITE_H
#define MOQ_MOQ_LITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Results -------------------------------------------------------------------------------- */

enum {
  MOQ_NEED_MORE = -1,        /* the input ends before the message does: call again with more bytes */
  MOQ_ERR_MALFORMED = -2,    /* the bytes break the layout (lying length, leftover bytes, bad UTF-8, ...) */
  MOQ_ERR_TOO_LARGE = -3,    /* a size or count is over a limit (message, path, hops, params, frame) */
  MOQ_ERR_UNKNOWN_TYPE = -4, /* unknown stream type or message type (the type is still reported) */
  MOQ_ERR_DUPLICATE = -5,    /* a parameter id appears twice */
  MOQ_ERR_VERSION = -6,      /* the message or value does not exist in this version, or bad version */
  MOQ_ERR_INVALID = -7,      /* encoder: a value the wire cannot carry */
  MOQ_ERR_NOMEM = -8,        /* encoder: allocation failed */
};

/* Static name of a result code ("need_more", "malformed", ...), for logs. */
const char *moq_err_name(int rc);

/* ---- Versions ------------------------------------------------------------------------------- */

typedef enum moq_version {
  MOQ_LITE_01 = 1,
  MOQ_LITE_02 = 2,
  MOQ_LITE_03 = 3,
  MOQ_LITE_04 = 4,
  MOQ_LITE_05 = 5,
} moq_version;

#define MOQ_LITE_CODE_BASE 0xff0dad00u /* wire code = base + version number */
#define MOQ_ALPN_LEGACY "moql"         /* lite-01/02: version chosen by CLIENT_SETUP/SERVER_SETUP */

/* True for MOQ_LITE_01 .. MOQ_LITE_05. */
bool moq_version_valid(moq_version v);
/* Wire code 0xff0dad01 .. 0xff0dad05; 0 for an invalid version. */
uint64_t moq_version_code(moq_version v);
/* Maps a wire code to a version: 0, or MOQ_ERR_VERSION for anything else (e.g. draft-14 0xff00000e). */
int moq_version_from_code(uint64_t code, moq_version *out);
/* ALPN token: "moq-lite-03/04/05", "moql" for lite-01/02; NULL for an invalid version. */
const char *moq_version_alpn(moq_version v);
/* Display name "moq-lite-01" .. "moq-lite-05" (any version), "?" when invalid. */
const char *moq_version_name(moq_version v);
/* ALPN -> version: 1 with *out set (moq-lite-03/04/05), 0 for "moql" (negotiate lite-01/02 with
 * CLIENT_SETUP), MOQ_ERR_VERSION for anything else. */
int moq_version_from_alpn(const char *alpn, size_t len, moq_version *out);

/* ---- Limits --------------------------------------------------------------------------------- */

#define MOQ_MAX_HOPS 32   /* hop ids in one ANNOUNCE (protocol limit) */
#define MOQ_MAX_PARAMS 64 /* parameters in one SETUP / CLIENT_SETUP / SERVER_SETUP (protocol limit) */

typedef struct moq_limits {
  size_t max_message;  /* body bytes of one message; default 64 KiB */
  size_t max_path;     /* bytes of one broadcast path or prefix; default 1024 */
  size_t max_segments; /* '/'-separated non-empty segments of one path; default 32 */
  uint64_t max_frame;  /* payload bytes of one FRAME; default 32 MiB */
  size_t max_datagram; /* bytes of one DATAGRAM; default 1200 (receivers drop larger ones) */
} moq_limits;

/* Fills l with the defaults above. */
void moq_limits_default(moq_limits *l);

/* ---- Primitives ----------------------------------------------------------------------------- */

/* A borrowed byte string: p points into the caller's input (decoders) or data (encoders). */
typedef struct moq_str {
  const uint8_t *p; /* borrowed; may be NULL when len == 0 */
  size_t len;
} moq_str;

/* A view of a NUL-terminated C string (s borrowed; NULL gives the empty string). */
moq_str moq_str_c(const char *s);
/* True when a and b hold the same bytes. */
bool moq_str_eq(moq_str a, moq_str b);
/* True when p[0..len) is valid UTF-8 (no overlongs, surrogates, or code points above U+10FFFF). */
bool moq_utf8_valid(const uint8_t *p, size_t len);
/* lite-05 timestamp delta -> zigzag value (-1 -> 1, 1 -> 2, -2 -> 3). */
uint64_t moq_zigzag_encode(int64_t d);
/* Zigzag value -> signed delta. */
int64_t moq_zigzag_decode(uint64_t u);

/* A validated, borrowed list of `count` varints packed in p[0..len) (e.g. CLIENT_SETUP versions). */
typedef struct moq_varint_list {
  const uint8_t *p; /* borrowed: the decoder's input */
  size_t len;
  uint64_t count;
} moq_varint_list;

/* Takes the next value from the list (advancing it): 1 with *v set, or 0 at the end. */
int moq_varint_list_next(moq_varint_list *it, uint64_t *v);

/* A validated, borrowed list of `count` strings packed as `Length (i) + bytes` (ANNOUNCE_INIT). */
typedef struct moq_str_list {
  const uint8_t *p; /* borrowed: the decoder's input */
  size_t len;
  uint64_t count;
} moq_str_list;

/* Takes the next string from the list (advancing it): 1 with *s set, or 0 at the end. */
int moq_str_list_next(moq_str_list *it, moq_str *s);

/* ---- Paths (segment-aware; '/' separates segments, empty segments never count) ---------------- */

/* Checks a wire path: valid UTF-8, no NUL, at most lim->max_path bytes and lim->max_segments segments.
 * Returns 0, MOQ_ERR_MALFORMED or MOQ_ERR_TOO_LARGE. */
int moq_path_check(moq_str path, const moq_limits *lim, const char **why);
/* Number of non-empty segments in path. */
size_t moq_path_segments(moq_str path);
/* Writes path with '/' trimmed at both ends and '//' collapsed, NUL-terminated, into out[0..outlen);
 * returns its length, or MOQ_ERR_TOO_LARGE when out is too small. */
int moq_path_normalize(moq_str path, char *out, size_t outlen);
/* Writes normalize(prefix) + "/" + normalize(suffix) (no '/' when either is empty), NUL-terminated;
 * returns its length, or MOQ_ERR_TOO_LARGE when out is too small. */
int moq_path_join(moq_str prefix, moq_str suffix, char *out, size_t outlen);
/* True when prefix's segments are the leading segments of path ("foo" matches "foo" and "foo/bar",
 * never "foobar"; "" matches everything). Inputs need not be normalized. */
bool moq_path_has_prefix(moq_str path, moq_str prefix);
/* When prefix is a segment prefix of path, sets *rest to the remainder of path (a view into path,
 * without leading '/') and returns 1; returns 0 otherwise. */
int moq_path_strip_prefix(moq_str path, moq_str prefix, moq_str *rest);

/* ---- Encode buffer -------------------------------------------------------------------------- */

typedef struct moq_buf {
  uint8_t *data; /* owned by the buf; NULL until the first append */
  size_t len;    /* bytes written */
  size_t cap;    /* bytes allocated */
} moq_buf;

/* Starts an empty buffer (no allocation). */
void moq_buf_init(moq_buf *b);
/* Frees the storage and empties the buffer. */
void moq_buf_free(moq_buf *b);
/* Empties the buffer, keeping its storage. */
void moq_buf_reset(moq_buf *b);
/* Makes room for extra more bytes: 0 or MOQ_ERR_NOMEM. */
int moq_buf_reserve(moq_buf *b, size_t extra);
/* Appends p[0..n): 0 or MOQ_ERR_NOMEM. */
int moq_buf_append(moq_buf *b, const void *p, size_t n);
/* Appends one byte: 0 or MOQ_ERR_NOMEM. */
int moq_buf_u8(moq_buf *b, uint8_t v);
/* Appends the minimal varint for v: 0, MOQ_ERR_INVALID (v > 2^62-1) or MOQ_ERR_NOMEM. */
int moq_buf_varint(moq_buf *b, uint64_t v);

/* ---- Stream types --------------------------------------------------------------------------- */

typedef enum moq_bidi_type {
  MOQ_BIDI_SESSION = 0x0,   /* lite-01/02 only (the legacy setup stream itself carries no type) */
  MOQ_BIDI_ANNOUNCE = 0x1,  /* all versions */
  MOQ_BIDI_SUBSCRIBE = 0x2, /* all versions */
  MOQ_BIDI_FETCH = 0x3,     /* lite-03+ */
  MOQ_BIDI_PROBE = 0x4,     /* lite-03+ */
  MOQ_BIDI_GOAWAY = 0x5,    /* lite-04+ */
  MOQ_BIDI_TRACK = 0x6,     /* lite-05 */
} moq_bidi_type;

typedef enum moq_uni_type {
  MOQ_UNI_GROUP = 0x0, /* all versions */
  MOQ_UNI_SETUP = 0x1, /* lite-05 */
} moq_uni_type;

/* Reads a bidi stream type: bytes used, MOQ_NEED_MORE, or MOQ_ERR_UNKNOWN_TYPE for a type this version
 * lacks (*type is set in both success and UNKNOWN_TYPE cases so the caller can log and reset it). */
int moq_bidi_type_decode(moq_version v, const uint8_t *in, size_t len, uint64_t *type, const char **why);
/* Reads a uni stream type; same contract as moq_bidi_type_decode. */
int moq_uni_type_decode(moq_version v, const uint8_t *in, size_t len, uint64_t *type, const char **why);
/* Appends a bidi stream type; MOQ_ERR_VERSION when this version lacks it. */
int moq_bidi_type_encode(moq_buf *b, moq_version v, moq_bidi_type type);
/* Appends a uni stream type; MOQ_ERR_VERSION when this version lacks it. */
int moq_uni_type_encode(moq_buf *b, moq_version v, moq_uni_type type);

/* ---- lite-05 SETUP (uni stream type 0x1, one message, then FIN) ------------------------------- */

#define MOQ_SETUP_PROBE 0x1  /* varint: 0 none, 1 report, >= 2 increase */
#define MOQ_SETUP_PATH 0x2   /* raw UTF-8 bytes: path-abempty + "?query" (client only) */
#define MOQ_SETUP_ROLE 0x3   /* varint: 0 both, 1 publisher, 2 subscriber; others mean both */
#define MOQ_SETUP_ORIGIN 0x5 /* varint hop id of the sender (sent by @moq/net on lite-05 too) */

typedef struct moq_setup {
  bool has_probe;
  uint64_t probe;
  bool has_path;
  moq_str path; /* borrowed; bounded by max_message only (it carries the ?jwt= token) */
  bool has_role;
  uint64_t role;
  bool has_origin;
  uint64_t origin;
} moq_setup; /* unknown parameter ids are skipped on decode; duplicates are MOQ_ERR_DUPLICATE */

/* Decodes SETUP `Length, Count, {Id, Length, Value}...` (lite-05 only). */
int moq_setup_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim, moq_setup *out,
                     const char **why);
/* Encodes SETUP with the parameters present, in the order Probe, Path, Role, Origin. */
int moq_setup_encode(moq_buf *b, moq_version v, const moq_setup *m);

/* ---- lite-01/02 legacy setup (first bidi stream, no stream type; draft-14 framing) ------------ */

#define MOQ_LEGACY_CLIENT_SETUP 0x20
#define MOQ_LEGACY_SERVER_SETUP 0x21
#define MOQ_LEGACY_PATH 0x01           /* odd: Length + bytes */
#define MOQ_LEGACY_MAX_REQUEST_ID 0x02 /* even: bare varint */
#define MOQ_LEGACY_IMPLEMENTATION 0x07 /* odd: Length + bytes */
#define MOQ_LEGACY_SOLICIT 0x40B5A     /* even: bare varint */
#define MOQ_DRAFT14_CODE 0xff00000eu   /* what clients also offer next to lite-02/01 */

/* draft-14 KVP parameters: EVEN id = bare varint, ODD id = Length + bytes. Unknown ids are skipped;
 * a known id seen twice is MOQ_ERR_DUPLICATE. */
typedef struct moq_legacy_params {
  bool has_path;
  moq_str path; /* borrowed; validated UTF-8 */
  bool has_max_request_id;
  uint64_t max_request_id;
  bool has_solicit;
  uint64_t solicit;
  bool has_implementation;
  moq_str implementation; /* borrowed; raw bytes, for logs only (not validated) */
} moq_legacy_params;

typedef struct moq_client_setup {
  moq_varint_list versions; /* borrowed; offered wire codes, client preference first */
  moq_legacy_params params;
} moq_client_setup;

typedef struct moq_server_setup {
  uint64_t version; /* selected wire code */
  moq_legacy_params params;
} moq_server_setup;

/* Decodes CLIENT_SETUP `0x20, Length (u16 BE), Count (i), Versions (i)..., Params`. */
int moq_client_setup_decode(const uint8_t *in, size_t len, const moq_limits *lim, moq_client_setup *out,
                            const char **why);
/* Encodes CLIENT_SETUP; parameters are written varints first (MAX_REQUEST_ID, SOLICIT), then bytes
 * (PATH, IMPLEMENTATION), as the JS clients do. */
int moq_client_setup_encode(moq_buf *b, const uint64_t *versions, size_t nversions, const moq_legacy_params *p);
/* The first lite version (01 or 02) in the client's list: 0 with *out set, or MOQ_ERR_VERSION. */
int moq_client_setup_select(const moq_client_setup *cs, moq_version *out);
/* Decodes SERVER_SETUP `0x21, Length (u16 BE), Version (i), Params` (non-empty params are accepted). */
int moq_server_setup_decode(const uint8_t *in, size_t len, const moq_limits *lim, moq_server_setup *out,
                            const char **why);
/* Encodes SERVER_SETUP; p may be NULL for zero parameters (what the Rust server sends). */
int moq_server_setup_encode(moq_buf *b, uint64_t version_code, const moq_legacy_params *p);

/* SESSION_INFO, later on the legacy session stream (lite-01/02). */
typedef struct moq_session_info_msg {
  uint64_t bitrate; /* bits per second */
} moq_session_info_msg;

/* Decodes SESSION_INFO `Length, Bitrate (i)` (lite-01/02). */
int moq_session_info_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim,
                            moq_session_info_msg *out, const char **why);
/* Encodes SESSION_INFO (lite-01/02). */
int moq_session_info_encode(moq_buf *b, moq_version v, const moq_session_info_msg *m);

/* ---- Announce stream (bidi type 0x1) -------------------------------------------------------- */

typedef struct moq_announce_request {
  moq_str prefix;       /* borrowed; a path */
  uint64_t exclude_hop; /* lite-04/05 only (0 = none); ignored by the encoder before lite-04 */
} moq_announce_request;

/* Decodes ANNOUNCE_REQUEST `Length, Prefix (s) [, Exclude Hop (i) on 04/05]`. */
int moq_announce_request_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim,
                                moq_announce_request *out, const char **why);
/* Encodes ANNOUNCE_REQUEST. */
int moq_announce_request_encode(moq_buf *b, moq_version v, const moq_announce_request *m);

typedef struct moq_announce_ok {
  uint64_t hop;    /* publisher's own hop id (0 = unknown) */
  uint64_t active; /* number of ANNOUNCEs that follow as the initial set */
} moq_announce_ok;

/* Decodes ANNOUNCE_OK `Length, Hop ID (i), Active Count (i)` (lite-05). */
int moq_announce_ok_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim,
                           moq_announce_ok *out, const char **why);
/* Encodes ANNOUNCE_OK (lite-05). */
int moq_announce_ok_encode(moq_buf *b, moq_version v, const moq_announce_ok *m);

typedef struct moq_announce_init {
  moq_str_list suffixes; /* borrowed; every entry already checked as a path */
} moq_announce_init;

/* Decodes ANNOUNCE_INIT `Length, Count (i), Suffix (s)...` (lite-01/02); iterate with moq_str_list_next. */
int moq_announce_init_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim,
                             moq_announce_init *out, const char **why);
/* Encodes ANNOUNCE_INIT from n suffixes (lite-01/02). */
int moq_announce_init_encode(moq_buf *b, moq_version v, const moq_str *suffixes, size_t n);

typedef enum moq_announce_status {
  MOQ_ANNOUNCE_ENDED = 0,
  MOQ_ANNOUNCE_ACTIVE = 1,
  MOQ_ANNOUNCE_RESTART = 2, /* lite-05 only; means active (atomic replace) */
} moq_announce_status;

typedef struct moq_announce {
  uint8_t status; /* moq_announce_status */
  moq_str suffix; /* borrowed; a path */
  size_t hop_count; /* 0 on lite-01/02; lite-03 carries only this count, lite-04/05 the ids too */
  uint64_t hops[MOQ_MAX_HOPS]; /* lite-04/05: hop ids, hops[0 .. hop_count) */
} moq_announce;

/* Decodes ANNOUNCE `Length, Status (8), Suffix (s), [Hop Count (i) [, Hop ID (i)...]]`. */
int moq_announce_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim,
                        moq_announce *out, const char **why);
/* Encodes ANNOUNCE; status 2 only on lite-05, at most MOQ_MAX_HOPS hops. */
int moq_announce_encode(moq_buf *b, moq_version v, const moq_announce *m);

/* ---- Track stream (bidi type 0x6, lite-05) -------------------------------------------------- */

typedef struct moq_track {
  moq_str path; /* borrowed; broadcast path */
  moq_str name; /* borrowed; track name (UTF-8) */
} moq_track;

/* Decodes TRACK `Length, Broadcast Path (s), Track Name (s)` (lite-05). */
int moq_track_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim, moq_track *out,
                     const char **why);
/* Encodes TRACK (lite-05). */
int moq_track_encode(moq_buf *b, moq_version v, const moq_track *m);

typedef struct moq_track_info {
  uint8_t priority;        /* publisher priority, higher = more important */
  bool ordered;            /* publisher ordered */
  uint64_t max_latency_ms; /* publisher max latency */
  uint64_t timescale;      /* timestamp units per second, never 0 */
} moq_track_info;

/* Decodes TRACK_INFO `Length, Priority (8), Ordered (8), Max Latency (i), Timescale (i)` (lite-05). */
int moq_track_info_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim,
                          moq_track_info *out, const char **why);
/* Encodes TRACK_INFO (lite-05); timescale 0 is MOQ_ERR_INVALID. */
int moq_track_info_encode(moq_buf *b, moq_version v, const moq_track_info *m);

/* ---- Subscribe stream (bidi type 0x2) ------------------------------------------------------- */

/* Subscriber preferences, shared by SUBSCRIBE, SUBSCRIBE_UPDATE and lite-03/04 SUBSCRIBE_OK. Start and
 * end travel as "optional group" (0 = absent, else group + 1). Only priority exists on lite-01/02. */
typedef struct moq_sub_params {
  uint8_t priority;        /* higher = more important */
  bool ordered;            /* lite-03+: older groups first */
  uint64_t max_latency_ms; /* lite-03+ */
  bool has_start;          /* lite-03+: false = latest group */
  uint64_t start;
  bool has_end;            /* lite-03+: false = unbounded */
  uint64_t end;            /* inclusive */
} moq_sub_params;

typedef struct moq_subscribe {
  uint64_t id;   /* chosen by the subscriber, unique per session */
  moq_str path;  /* borrowed; broadcast path */
  moq_str track; /* borrowed; track name */
  moq_sub_params params;
} moq_subscribe;

/* Decodes SUBSCRIBE `Length, ID (i), Path (s), Track (s), Priority (8) [, Ordered (8), Max Latency (i),
 * Start (i, +1), End (i, +1) on 03+]`. */
int moq_subscribe_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim,
                         moq_subscribe *out, const char **why);
/* Encodes SUBSCRIBE. */
int moq_subscribe_encode(moq_buf *b, moq_version v, const moq_subscribe *m);

/* Decodes SUBSCRIBE_UPDATE `Length, Priority (8) [, Ordered, Max Latency, Start, End on 03+]` (on
 * lite-01/02 the JS one-byte form). */
int moq_subscribe_update_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim,
                                moq_sub_params *out, const char **why);
/* Encodes SUBSCRIBE_UPDATE (the priority-only form on lite-01/02). */
int moq_subscribe_update_encode(moq_buf *b, moq_version v, const moq_sub_params *m);

typedef enum moq_reply_kind {
  MOQ_REPLY_OK = 0,    /* lite-01 untyped {Priority}; lite-02 untyped {}; lite-03/04 type 0 */
  MOQ_REPLY_START = 1, /* lite-05 type 0 {Group}: first group delivered */
  MOQ_REPLY_END = 2,   /* lite-05 type 1 {Group}: exclusive end (0 = ended with no groups) */
  MOQ_REPLY_DROP = 3,  /* lite-03/04 type 1, lite-05 type 2 {Start, End (inclusive), Error Code} */
} moq_reply_kind;

typedef struct moq_subscribe_reply {
  moq_reply_kind kind;
  moq_sub_params ok;   /* OK: priority on lite-01, nothing on lite-02, everything on lite-03/04 */
  uint64_t group;      /* START / END, absolute */
  uint64_t drop_start; /* DROP, absolute */
  uint64_t drop_end;   /* DROP, absolute, inclusive */
  uint64_t error_code; /* DROP; 0 = simply unavailable */
} moq_subscribe_reply;

/* Decodes one publisher reply on the subscribe stream (untyped on lite-01/02, `Type, Length, Body`
 * on lite-03+; an unknown type is MOQ_ERR_UNKNOWN_TYPE). */
int moq_subscribe_reply_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim,
                               moq_subscribe_reply *out, const char **why);
/* Encodes a reply; MOQ_ERR_VERSION when its kind does not exist in this version. */
int moq_subscribe_reply_encode(moq_buf *b, moq_version v, const moq_subscribe_reply *m);

/* ---- Group stream (uni type 0x0) and frames ------------------------------------------------- */

typedef struct moq_group {
  uint64_t subscribe_id;
  uint64_t sequence;
} moq_group;

/* Decodes GROUP `Length, Subscribe ID (i), Sequence (i)`. */
int moq_group_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim, moq_group *out,
                     const char **why);
/* Encodes GROUP. */
int moq_group_encode(moq_buf *b, moq_version v, const moq_group *m);

/* A FRAME header: lite-01..04 `Payload Length (i)`; lite-05 `Timestamp Delta (zigzag i), Payload Length
 * (i)`. The payload follows and is never copied by the codec. */
typedef struct moq_frame_header {
  int64_t ts_delta;     /* lite-05: signed delta from the previous frame (the first from 0); else 0 */
  uint64_t payload_len; /* at most lim->max_frame */
} moq_frame_header;

/* Decodes a FRAME header only: returns the header size; the payload is in[ret .. ret + payload_len). */
int moq_frame_header_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim,
                            moq_frame_header *out, const char **why);
/* Encodes a FRAME header only (the caller sends the payload itself); ts_delta must be 0 before lite-05. */
int moq_frame_header_encode(moq_buf *b, moq_version v, int64_t ts_delta, uint64_t payload_len);
/* Encodes a whole FRAME: header plus a copy of payload[0..len). */
int moq_frame_encode(moq_buf *b, moq_version v, int64_t ts_delta, const uint8_t *payload, size_t len);

typedef enum moq_frame_event_kind {
  MOQ_FRAME_NONE = 0,  /* all input consumed; feed more */
  MOQ_FRAME_BEGIN = 1, /* a frame header: timestamp and payload_len are set */
  MOQ_FRAME_DATA = 2,  /* a piece of the payload: data[0..data_len) borrowed from the input */
  MOQ_FRAME_END = 3,   /* the current frame's payload is complete */
} moq_frame_event_kind;

typedef struct moq_frame_event {
  moq_frame_event_kind kind;
  uint64_t timestamp;   /* BEGIN: absolute timestamp (lite-05, track timescale); 0 before lite-05 */
  uint64_t payload_len; /* BEGIN */
  const uint8_t *data;  /* DATA: borrowed from the input passed to moq_frame_reader_next */
  size_t data_len;      /* DATA */
} moq_frame_event;

/* Streaming FRAME decoder for a group stream after its GROUP header (or a lite-05 fetch response):
 * accepts input in pieces of any size, holds at most one partial header (16 bytes) itself, and hands
 * payload pieces out as views of the input. */
typedef struct moq_frame_reader {
  moq_version version;
  uint64_t max_frame;
  uint8_t hdr[16];    /* partial header bytes carried between calls */
  size_t hdr_len;
  bool in_payload;    /* between BEGIN and END */
  bool end_pending;   /* the payload is complete; END comes next */
  uint64_t remaining; /* payload bytes still to come */
  uint64_t timestamp; /* absolute timestamp of the last frame (lite-05) */
  uint64_t frames;    /* frames begun so far */
} moq_frame_reader;

/* Starts a reader (lim may be NULL). */
void moq_frame_reader_init(moq_frame_reader *r, moq_version v, const moq_limits *lim);
/* Consumes input and reports one event: returns bytes consumed (>= 0; 0 for END) or a negative error.
 * Call again with the rest until it reports MOQ_FRAME_NONE (which always consumes all input). */
int moq_frame_reader_next(moq_frame_reader *r, const uint8_t *in, size_t len, moq_frame_event *ev,
                          const char **why);
/* At stream FIN: 0 when the reader stands at a frame boundary, MOQ_ERR_MALFORMED inside a frame. */
int moq_frame_reader_finish(const moq_frame_reader *r, const char **why);

/* ---- Fetch (bidi 0x3), Probe (bidi 0x4), Goaway (bidi 0x5) ---------------------------------- */

typedef struct moq_fetch {
  moq_str path;  /* borrowed; broadcast path */
  moq_str track; /* borrowed; track name */
  uint8_t priority;
  uint64_t group; /* absolute */
} moq_fetch;

/* Decodes FETCH `Length, Path (s), Track (s), Priority (8), Group (i)` (lite-03+; the response is bare
 * frames, read with moq_frame_reader). */
int moq_fetch_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim, moq_fetch *out,
                     const char **why);
/* Encodes FETCH (lite-03+). */
int moq_fetch_encode(moq_buf *b, moq_version v, const moq_fetch *m);

typedef struct moq_probe {
  uint64_t bitrate; /* bits per second, 0 = unknown (send a measured 0 as 1: the caller's business) */
  uint64_t rtt_ms;  /* lite-04+, 0 = unknown; ignored by the encoder on lite-03 */
} moq_probe;

/* Decodes PROBE `Length, Bitrate (i) [, RTT (i) on 04+]` (lite-03+). */
int moq_probe_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim, moq_probe *out,
                     const char **why);
/* Encodes PROBE (lite-03+). */
int moq_probe_encode(moq_buf *b, moq_version v, const moq_probe *m);

typedef struct moq_goaway {
  moq_str uri; /* borrowed; new session URI, empty = none */
} moq_goaway;

/* Decodes GOAWAY `Length, New Session URI (s)` (lite-04+). */
int moq_goaway_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim, moq_goaway *out,
                      const char **why);
/* Encodes GOAWAY (lite-04+). */
int moq_goaway_encode(moq_buf *b, moq_version v, const moq_goaway *m);

/* ---- DATAGRAM (lite-05; one QUIC datagram, no type, no length) ------------------------------- */

typedef struct moq_datagram {
  uint64_t subscribe_id;
  uint64_t sequence;     /* group sequence */
  uint64_t timestamp;    /* absolute, track timescale */
  const uint8_t *payload; /* borrowed: the rest of the datagram */
  size_t payload_len;
} moq_datagram;

/* Decodes a whole datagram in[0..len): returns len. MOQ_NEED_MORE means the header is cut short (for a
 * datagram that is final: drop it); larger than lim->max_datagram is MOQ_ERR_TOO_LARGE. */
int moq_datagram_decode(moq_version v, const uint8_t *in, size_t len, const moq_limits *lim,
                        moq_datagram *out, const char **why);
/* Encodes a datagram (lite-05). */
int moq_datagram_encode(moq_buf *b, moq_version v, const moq_datagram *m);

#endif
