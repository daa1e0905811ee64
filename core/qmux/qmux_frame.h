/* qmux_frame: the frames of QMux (draft-ietf-quic-qmux, drafts 00 and 01): QUIC v1 frames over a
 * reliable byte stream, as the moq-dev implementations (Rust crate qmux, npm @moq/qmux) encode them.
 * Pure: no I/O, no allocation; every buffer is the caller's.
 *
 * Every field is a QUIC varint (the frame type too):
 *   0x00        PADDING (draft-01)
 *   0x04        RESET_STREAM          stream id, error code, final size
 *   0x05        STOP_SENDING          stream id, error code
 *   0x08..0x0f  STREAM                stream id, [offset if 0x04], [length if 0x02], data; 0x01 = FIN
 *   0x10        MAX_DATA              maximum
 *   0x11        MAX_STREAM_DATA       stream id, maximum
 *   0x12 / 0x13 MAX_STREAMS           bidi / uni: maximum (a count of streams)
 *   0x14        DATA_BLOCKED          limit
 *   0x15        STREAM_DATA_BLOCKED   stream id, limit
 *   0x16 / 0x17 STREAMS_BLOCKED       bidi / uni: limit
 *   0x1c        CONNECTION_CLOSE      error code, frame type, reason length, reason (transport error)
 *   0x1d        APPLICATION_CLOSE     error code, reason length, reason
 *   0x24        RESET_STREAM_AT       stream id, error code, final size, reliable size (draft-02)
 *   0x30 / 0x31 DATAGRAM              data to the end / length, data
 *   0x3f5153300d0a0d0a  QX_TRANSPORT_PARAMETERS  length, parameters (id, length, value)*
 *   0x348c67529ef8c7bd / ..be  QX_PING request / response (draft-01)   sequence number
 * A STREAM frame without the length bit runs to the end of its record (on WebSocket: the message).
 *
 * Transport parameters: QUIC ids 0x01 max_idle_timeout, 0x04 initial_max_data, 0x05/0x06
 * initial_max_stream_data_bidi_local/remote, 0x07 _uni, 0x08/0x09 initial_max_streams_bidi/uni,
 * 0x20 max_datagram_frame_size, and QMux's 0x0571c59429cd0845 max_record_size (draft-01; default
 * 16382). Each value is one varint filling its parameter exactly; all default to 0; unknown ids are
 * skipped; a repeated id, or an id QUIC v1 defines and QMux forbids (0x00, 0x02, 0x03, 0x0a..0x10),
 * is an error. */
#ifndef MOQ_QMUX_QMUX_FRAME_H
#define MOQ_QMUX_QMUX_FRAME_H

#include <stddef.h>
#include <stdint.h>

enum {
  QMUX_PADDING = 0x00,
  QMUX_RESET_STREAM = 0x04,
  QMUX_STOP_SENDING = 0x05,
  QMUX_STREAM = 0x08, /* 0x08..0x0f; decoded as QMUX_STREAM with has_offset / fin */
  QMUX_MAX_DATA = 0x10,
  QMUX_MAX_STREAM_DATA = 0x11,
  QMUX_MAX_STREAMS_BIDI = 0x12,
  QMUX_MAX_STREAMS_UNI = 0x13,
  QMUX_DATA_BLOCKED = 0x14,
  QMUX_STREAM_DATA_BLOCKED = 0x15,
  QMUX_STREAMS_BLOCKED_BIDI = 0x16,
  QMUX_STREAMS_BLOCKED_UNI = 0x17,
  QMUX_CONNECTION_CLOSE = 0x1c,
  QMUX_APPLICATION_CLOSE = 0x1d,
  QMUX_RESET_STREAM_AT = 0x24,
  QMUX_DATAGRAM = 0x30, /* 0x30 and 0x31, decoded as QMUX_DATAGRAM */
};
#define QMUX_TRANSPORT_PARAMETERS ((uint64_t)0x3f5153300d0a0d0aULL)
#define QMUX_PING_REQUEST ((uint64_t)0x348c67529ef8c7bdULL)
#define QMUX_PING_RESPONSE ((uint64_t)0x348c67529ef8c7beULL)
#define QMUX_PARAM_MAX_RECORD_SIZE ((uint64_t)0x0571c59429cd0845ULL)
#define QMUX_DEFAULT_MAX_RECORD_SIZE 16382

/* QUIC transport error codes QMux uses (RFC 9000 section 20.1). */
enum {
  QMUX_ERR_CODE_NO_ERROR = 0x00,
  QMUX_ERR_CODE_FLOW_CONTROL = 0x03,
  QMUX_ERR_CODE_STREAM_LIMIT = 0x04,
  QMUX_ERR_CODE_STREAM_STATE = 0x05,
  QMUX_ERR_CODE_FINAL_SIZE = 0x06,
  QMUX_ERR_CODE_FRAME_ENCODING = 0x07,
  QMUX_ERR_CODE_TRANSPORT_PARAMETER = 0x08,
  QMUX_ERR_CODE_PROTOCOL_VIOLATION = 0x0a,
};

/* Bytes before a STREAM payload: type, stream id, offset, length. */
#define QMUX_STREAM_HEADER_MAX 25
/* Any frame qmux_frame_encode writes except the closes: type and three varints. */
#define QMUX_CONTROL_FRAME_MAX 32
/* The transport parameters frame qmux_params_encode writes, at most. */
#define QMUX_PARAMS_FRAME_MAX 128

/* Decode results. */
enum {
  QMUX_OK = 0,
  QMUX_ERR_TRUNCATED = -1, /* the input ends inside the frame */
  QMUX_ERR_TYPE = -2,      /* an unknown frame type */
  QMUX_ERR_ENCODING = -3,  /* a field out of range (RESET_STREAM_AT reliable size > final size) */
  QMUX_ERR_PARAM = -4,     /* transport parameters: malformed, repeated or forbidden id */
};

/* One decoded frame. Pointers are borrowed from the decoded input. */
typedef struct qmux_frame {
  uint64_t type;       /* QMUX_* (STREAM and DATAGRAM variants folded, see above) */
  int fin;             /* STREAM: the sender finished the stream */
  int has_offset;      /* STREAM: the offset field was present */
  uint64_t stream_id;  /* STREAM, RESET_STREAM(_AT), STOP_SENDING, MAX_STREAM_DATA, STREAM_DATA_BLOCKED */
  uint64_t offset;     /* STREAM: the payload's offset (0 when absent) */
  uint64_t code;       /* RESET_STREAM(_AT), STOP_SENDING, the closes: the error code */
  uint64_t value;      /* MAX_*, *_BLOCKED: the maximum or limit; RESET_STREAM(_AT): final size;
                          QX_PING: the sequence; CONNECTION_CLOSE: the frame type field */
  uint64_t reliable_size; /* RESET_STREAM_AT */
  const uint8_t *data; /* STREAM / DATAGRAM payload, close reason, transport parameters */
  size_t len;
} qmux_frame;

/* The transport parameters a side announces. */
typedef struct qmux_params {
  uint64_t max_idle_timeout_ms;
  uint64_t initial_max_data;
  uint64_t initial_max_stream_data_bidi_local;
  uint64_t initial_max_stream_data_bidi_remote;
  uint64_t initial_max_stream_data_uni;
  uint64_t initial_max_streams_bidi;
  uint64_t initial_max_streams_uni;
  uint64_t max_datagram_frame_size;
  uint64_t max_record_size; /* QMUX_DEFAULT_MAX_RECORD_SIZE when absent */
} qmux_params;

/* Decodes the frame at in[0..len) into *out and its length into *used. Returns QMUX_OK or a
 * QMUX_ERR_* code (*out is then undefined). PADDING is one frame of one byte. */
int qmux_frame_decode(const uint8_t *in, size_t len, qmux_frame *out, size_t *used);
/* A short static description of a decode result, for logs. */
const char *qmux_frame_error_name(int rc);
/* Decodes a QX_TRANSPORT_PARAMETERS payload (frame.data/len) into *out. QMUX_OK or QMUX_ERR_PARAM. */
int qmux_params_decode(const uint8_t *in, size_t len, qmux_params *out);

/* Writes the type (OFF and LEN bits set, FIN when fin), stream id, offset and length of a STREAM
 * frame into out[0..QMUX_STREAM_HEADER_MAX). Returns the bytes written, 0 for a value over 2^62-1. */
size_t qmux_frame_stream_header(uint8_t *out, uint64_t sid, uint64_t offset, uint64_t len, int fin);
/* Writes f (RESET_STREAM, STOP_SENDING, MAX_DATA, MAX_STREAM_DATA, MAX_STREAMS_*, DATA_BLOCKED,
 * STREAM_DATA_BLOCKED, STREAMS_BLOCKED_*, QX_PING request/response) into
 * out[0..QMUX_CONTROL_FRAME_MAX). Returns the bytes written, 0 for another type or a bad value. */
size_t qmux_frame_encode(uint8_t *out, const qmux_frame *f);
/* Writes CONNECTION_CLOSE (app = 0, frame type 0) or APPLICATION_CLOSE (app = 1) into
 * out[0..outlen); the reason is cut (at a UTF-8 character boundary) to what fits. Returns the bytes
 * written, 0 if not even an empty reason fits. */
size_t qmux_frame_close(uint8_t *out, size_t outlen, int app, uint64_t code, const char *reason);
/* Writes a QX_TRANSPORT_PARAMETERS frame with the non-zero values of p (max_record_size only when
 * it differs from the default, 0 included) into out[0..QMUX_PARAMS_FRAME_MAX). Returns the bytes written. */
size_t qmux_params_encode(uint8_t *out, const qmux_params *p);

#endif
