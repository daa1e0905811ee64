/* ws_frame: the frames a WebSocket session carries under the subprotocol "webtransport" (the
 * simplified encoding of the moq-dev web-transport polyfill, @moq/qmux in "webtransport" mode), and
 * the RFC 6455 header of the messages the server sends. Pure: no I/O, no allocation; every buffer is
 * the caller's.
 *
 * One binary WebSocket message is one frame; its first byte is the frame type, then QUIC varints:
 *   0x08 STREAM             stream id, data to the end of the message
 *   0x09 STREAM + FIN       stream id, data (may be empty)
 *   0x04 RESET_STREAM       stream id, error code
 *   0x05 STOP_SENDING       stream id, error code
 *   0x1d APPLICATION_CLOSE  error code, UTF-8 reason to the end of the message
 * Stream ids follow QUIC numbering (bit 0: server-initiated, bit 1: unidirectional). */
#ifndef MOQ_WS_WS_FRAME_H
#define MOQ_WS_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

enum {
  WS_FRAME_STREAM = 0x08,
  WS_FRAME_STREAM_FIN = 0x09,
  WS_FRAME_RESET_STREAM = 0x04,
  WS_FRAME_STOP_SENDING = 0x05,
  WS_FRAME_APPLICATION_CLOSE = 0x1d,
};

/* The largest STREAM payload the @moq/qmux 0.0.6 receiver accepts (16384 - 24): it closes the
 * session ("frame too large") beyond. Outgoing stream data is cut into messages of at most this. */
#define WS_STREAM_PAYLOAD_MAX 16360
/* Frame type and stream id: the bytes before a STREAM payload. */
#define WS_STREAM_HEADER_MAX 9
/* RFC 6455 header of an unmasked server message: 2, 4 or 10 bytes. */
#define WS_MESSAGE_HEADER_MAX 10
/* RESET_STREAM / STOP_SENDING: type and two varints. */
#define WS_CONTROL_FRAME_MAX 17

/* Decode results. */
enum {
  WS_FRAME_OK = 0,
  WS_FRAME_ERR_EMPTY = -1,     /* an empty message */
  WS_FRAME_ERR_TYPE = -2,      /* an unknown frame type */
  WS_FRAME_ERR_TRUNCATED = -3, /* the message ends inside a varint */
  WS_FRAME_ERR_TRAILING = -4,  /* bytes after a RESET_STREAM or STOP_SENDING */
};

/* One decoded frame. data is borrowed from the message given to ws_frame_decode. */
typedef struct ws_frame {
  uint8_t type;        /* WS_FRAME_* (STREAM_FIN is reported as STREAM with fin = 1) */
  int fin;             /* STREAM: the sender finished the stream */
  uint64_t stream_id;  /* STREAM, RESET_STREAM, STOP_SENDING */
  uint64_t code;       /* RESET_STREAM, STOP_SENDING, APPLICATION_CLOSE */
  const uint8_t *data; /* borrowed: STREAM payload, APPLICATION_CLOSE reason (not NUL-terminated) */
  size_t len;
} ws_frame;

/* Decodes the message msg[0..len) into *out. Returns WS_FRAME_OK or a WS_FRAME_ERR_* code (*out is
 * then undefined). */
int ws_frame_decode(const uint8_t *msg, size_t len, ws_frame *out);
/* A short static description of a decode result, for logs. */
const char *ws_frame_error_name(int rc);

/* Writes the type and stream id that precede a STREAM payload (FIN type when fin) into
 * out[0..WS_STREAM_HEADER_MAX). Returns the bytes written, 0 if sid is not a valid varint. */
size_t ws_frame_stream_header(uint8_t *out, uint64_t sid, int fin);
/* Writes a whole RESET_STREAM (type WS_FRAME_RESET_STREAM) or STOP_SENDING frame into
 * out[0..WS_CONTROL_FRAME_MAX). Returns the bytes written, 0 for a bad type or value. */
size_t ws_frame_stream_control(uint8_t *out, uint8_t type, uint64_t sid, uint64_t code);
/* Writes an APPLICATION_CLOSE frame into out[0..outlen); the reason is cut (at a UTF-8 character
 * boundary) to what fits. Returns the bytes written, 0 if not even the code fits. */
size_t ws_frame_application_close(uint8_t *out, size_t outlen, uint64_t code, const char *reason);

/* Writes the RFC 6455 header of an unmasked, final message with opcode (2 = binary) and a payload of
 * len bytes into out[0..WS_MESSAGE_HEADER_MAX). Returns the bytes written. */
size_t ws_frame_message_header(uint8_t *out, uint8_t opcode, uint64_t len);

#endif
