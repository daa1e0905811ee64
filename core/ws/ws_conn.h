/* ws_conn: a WebSocket session carrying QUIC-like streams on a TCP connection that the HTTP server
 * handed over after an upgrade request, in the framing the handshake chose (ws_handshake.h): the
 * simple "webtransport" frames of ws_frame.h, or QMux drafts 00/01 (qmux/qmux_frame.h).
 *
 * Receiving: wslay reads the peer's WebSocket frames (unmasking, fragments, ping/pong, the close
 * handshake, the message size limit); each complete binary message is one stream frame (QMux: one
 * or more frames, a record), given to the handler as "stream id + bytes", like quic_conn does.
 *
 * QMux: our QX_TRANSPORT_PARAMETERS go first; on_ready waits for the peer's (its first frame, or the
 * session is closed). Flow control as in QUIC: we send within the peer's MAX_DATA, MAX_STREAM_DATA
 * and MAX_STREAMS (a stream out of credit waits off the send list; an open beyond MAX_STREAMS fails
 * with WS_ERR_STREAM_LIMIT until the peer raises it), and give the peer qmux_max_data /
 * qmux_max_stream_data windows and max_streams streams, extended (MAX_DATA, MAX_STREAM_DATA,
 * MAX_STREAMS) as its data is handed to the handler and its streams close; a peer that goes beyond
 * them is closed with FLOW_CONTROL_ERROR / STREAM_LIMIT_ERROR. QX_PING requests are answered.
 * Errors we detect close with CONNECTION_CLOSE (0x1c), ws_conn_close with APPLICATION_CLOSE (0x1d).
 * Outgoing STREAM frames carry offset and length and at most 16360 bytes (less if the peer's
 * max_record_size asks), one frame a message.
 *
 * Sending: the data messages are framed here, not by wslay, so that stream data goes from the chunks
 * it was queued as straight to writev: a write takes a reference to a chunk and copies nothing. Each
 * stream keeps a queue of chunk slices. A scheduler serves the streams by priority (higher first;
 * equal priorities take turns, one message each), cuts them into messages of at most
 * WS_STREAM_PAYLOAD_MAX payload bytes, and keeps at most max_inflight bytes in libuv's write queue:
 * the rest waits in the streams, where ws_conn_stream_queued() reports it. A peer that stops reading
 * thus makes the stream queues grow, which the session layer answers by resetting old groups.
 * Control frames (RESET_STREAM, STOP_SENDING, the closes, pongs) go before stream data.
 *
 * Streams use QUIC numbering; ours are server-initiated. A stream opens with its first frame and is
 * closed (on_stream_closed) once both directions are done: ours when its FIN has been handed to the
 * socket or it was reset (a peer's STOP_SENDING is answered with RESET_STREAM), the peer's when its
 * FIN or RESET_STREAM arrived or we sent STOP_SENDING. Ids are never reused: late frames for a closed
 * stream are dropped.
 *
 * A peer's bad bytes (a text message, an unknown frame type, a malformed varint, data on a stream it
 * may not write, more open streams than allowed, a message over max_message) close that session only,
 * with a log line. Handler callbacks never run from inside a call the layer above made; they come from
 * libuv callbacks, and none comes after on_closed. Single-threaded; no global state. libuv writes with
 * write(2), so the process must ignore SIGPIPE. */
#ifndef MOQ_WS_WS_CONN_H
#define MOQ_WS_WS_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/chunk.h"
#include "http/http_server.h"
#include "ws/ws_handshake.h"

typedef struct ws_conn ws_conn;

/* Limits and timers; ws_options_default() fills in the defaults shown. */
typedef struct ws_options {
  size_t max_message;       /* largest message the peer may send, bytes (1 MiB) */
  size_t max_streams;       /* streams open at once, per initiator (1024): the peer opening more
                               closes the session; our opens beyond wait (WS_ERR_STREAM_LIMIT) */
  size_t max_inflight;      /* bytes handed to the socket and not yet written by it (256 KiB) */
  size_t max_control;       /* control bytes waiting to be sent (1 MiB): beyond, the peer is not
                               reading and the session is closed */
  uint64_t idle_timeout_ms; /* close after this long without a byte from the peer (30000; 0 = never) */
  uint64_t keep_alive_ms;   /* send a ping after this much quiet from the peer (5000; 0 = never) */
  uint64_t linger_ms;       /* after a close, time to write the close frames before the socket is
                               closed anyway (1000) */
  uint64_t qmux_max_data;   /* QMux: the connection window we give the peer (4 MiB) */
  uint64_t qmux_max_stream_data; /* QMux: the window per stream (1 MiB) */
} ws_options;

/* Why a session ended. */
typedef struct ws_close_info {
  int by_peer;      /* the peer closed it (APPLICATION_CLOSE, WebSocket close, or end of the connection) */
  int idle;         /* the idle timeout expired */
  uint64_t code;    /* the APPLICATION_CLOSE code (0 = clean) */
  char reason[128]; /* reason phrase (may be empty) */
} ws_close_info;

/* What the layer above is told; all optional; user_data is the handler's. */
typedef struct ws_conn_handler {
  /* The session is open (the 101 answer is queued); runs on the loop turn after ws_conn_accept. */
  void (*on_ready)(ws_conn *c, void *user_data);
  /* Bytes arrived on a stream, in order; data is borrowed for the call. fin: the peer finished it. */
  void (*on_stream_data)(ws_conn *c, int64_t sid, const uint8_t *data, size_t len, int fin, void *user_data);
  /* The peer reset its sending side of a stream. */
  void (*on_stream_reset)(ws_conn *c, int64_t sid, uint64_t code, void *user_data);
  /* The peer asked us to stop sending; queued data was dropped and RESET_STREAM sent. */
  void (*on_stream_stop)(ws_conn *c, int64_t sid, uint64_t code, void *user_data);
  /* A stream is closed in both directions; its id is no longer valid. */
  void (*on_stream_closed)(ws_conn *c, int64_t sid, void *user_data);
  /* A stream closed after an open had failed with WS_ERR_STREAM_LIMIT: opens may succeed again. */
  void (*on_streams_available)(ws_conn *c, void *user_data);
  /* The session ended; c must not be used after this returns (it frees itself later). */
  void (*on_closed)(ws_conn *c, const ws_close_info *info, void *user_data);
} ws_conn_handler;

enum {
  WS_ERR_STREAM_LIMIT = -2, /* max_streams of ours are open: retry after on_streams_available */
  WS_ERR_NO_STREAM = -3,    /* no such stream, or that side of it is finished, reset or not ours */
  WS_ERR_CLOSED = -4,       /* the session is closing */
  WS_ERR_NOMEM = -5,
};

/* Fills o with the defaults. */
void ws_options_default(ws_options *o);
/* Takes over tcp for a request that ws_handshake_check accepted (hs): tcp and its memory are ours
 * from here whatever happens (see http_server on_upgrade). Queues the 101 answer, then reads
 * extra[0..extra_len) (bytes read after the request, copied) and what follows as WebSocket frames.
 * opts and req are copied (the URL path and query, the remote address); handler (borrowed, must
 * outlive the session) is told on_ready on the next loop turn. Returns NULL when out of memory (tcp is
 * then closed and freed). */
ws_conn *ws_conn_accept(uv_loop_t *loop, uv_tcp_t *tcp, const http_request *req, const ws_handshake *hs,
                        const uint8_t *extra, size_t extra_len, const ws_options *opts,
                        const ws_conn_handler *handler, void *user_data);
/* The URL path and query of the upgrade request ("/room?jwt=..."). */
const char *ws_conn_path(const ws_conn *c);
/* The peer's address as "ip:port" or "[ip6]:port". */
const char *ws_conn_remote(const ws_conn *c);
/* A short id for logs ("ws-" and a number unique within the process run). */
const char *ws_conn_log_id(const ws_conn *c);
/* The negotiated subprotocol ("qmux-01.moq-lite-04", "qmux-00", "webtransport", ...; "" if none). */
const char *ws_conn_protocol(const ws_conn *c);
/* The moq ALPN the subprotocol fixed ("moq-lite-04" of "qmux-01.moq-lite-04"), or NULL: the
 * version is then negotiated by the setup exchange. */
const char *ws_conn_alpn(const ws_conn *c);
/* Opens a stream of ours; returns its id, or WS_ERR_*. */
int64_t ws_conn_open_bidi(ws_conn *c);
int64_t ws_conn_open_uni(ws_conn *c);
/* Queues data[off, off+len) on a stream, taking a reference to the chunk (no copy). 0 or WS_ERR_*. */
int ws_conn_write(ws_conn *c, int64_t sid, chunk *data, size_t off, size_t len);
/* Finishes a stream's sending side (FIN after the queued data). 0 or WS_ERR_*. */
int ws_conn_finish(ws_conn *c, int64_t sid);
/* Resets a stream's sending side with code, dropping what is queued. 0 or WS_ERR_*. */
int ws_conn_reset_stream(ws_conn *c, int64_t sid, uint64_t code);
/* Asks the peer to stop sending on a stream; what it still sends there is dropped. 0 or WS_ERR_*. */
int ws_conn_stop_sending(ws_conn *c, int64_t sid, uint64_t code);
/* Sets a stream's send priority (higher first; new streams have the highest). 0 or WS_ERR_*. */
int ws_conn_set_priority(ws_conn *c, int64_t sid, uint64_t prio);
/* Bytes queued on a stream and not yet handed to the socket. */
size_t ws_conn_stream_queued(ws_conn *c, int64_t sid);
/* Closes the session: drops the streams' queued data, sends APPLICATION_CLOSE(code, reason) and a
 * WebSocket close, then closes the socket. on_closed follows on the next loop turn. */
void ws_conn_close(ws_conn *c, uint64_t code, const char *reason);

#endif
