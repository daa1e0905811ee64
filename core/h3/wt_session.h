/* wt_session: WebTransport over HTTP/3 on one QUIC connection (ALPN "h3"), server and client side.
 *
 * The minimal HTTP/3 a WebTransport peer needs: the control stream with SETTINGS (extended CONNECT,
 * H3 datagrams under both ids, WebTransport enabled, WT_MAX_SESSIONS 1), QPACK through nghttp3's
 * encoder and decoder (we advertise no dynamic table, so nothing ever blocks), the extended CONNECT
 * request and its response, then one WebTransport session: bidi streams that begin with 0x41 and the
 * session id, uni streams that begin with 0x54 and the session id, HTTP datagrams prefixed with the
 * quarter stream id, and CLOSE_WEBTRANSPORT_SESSION on the CONNECT stream (sent inside a DATA frame;
 * accepted inside DATA frames or as a bare capsule). Unknown and GREASE frames, stream types,
 * settings and capsules are ignored as RFC 9114 requires. A request on "h3" that is not a WebTransport
 * CONNECT gets an HTTP/3 answer (404 for GET/HEAD, 405 for other methods, 501 for another
 * :protocol) with a short text body; a second session on the connection gets 429.
 *
 * Streams are exposed with their QUIC stream ids, like quic_conn does; the layer above never sees the
 * stream headers, frames or capsules. Opening a stream writes its header (a few copied bytes); stream
 * data is queued as chunk references (no copy). Reset and STOP_SENDING codes are WebTransport
 * application codes (32 bits) mapped into the HTTP/3 code space and back (h3_frame.h); a peer's code
 * outside that range reaches the layer above as it came.
 *
 * A peer's WebTransport stream that arrives before its session is established (packets reordered,
 * or the server's streams overtaking its 200 at the client) is held, bytes copied, up to
 * WT_HELD_STREAMS streams and WT_HELD_BYTES bytes, and replayed once the session is ready; beyond,
 * or for another session id, it is refused with WT_BUFFERED_STREAM_REJECTED.
 *
 * Life cycle: the wt_session belongs to its QUIC connection and is freed when the connection
 * closes. The handler's on_closed comes exactly once, when the WebTransport session ends (a close
 * capsule, the CONNECT stream finished or reset, a refused request, the connection closing), and no
 * handler call follows it. Handler callbacks never run from inside a call the layer above made. After
 * a local close the connection is closed (H3_NO_ERROR) once the close capsule was acknowledged, or
 * after one second. Single-threaded. */
#ifndef MOQ_H3_WT_SESSION_H
#define MOQ_H3_WT_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/chunk.h"
#include "quic/quic.h"

#define WT_HELD_STREAMS 32
#define WT_HELD_BYTES (256 * 1024)
#define WT_MAX_PROTOCOLS 16

typedef struct wt_session wt_session;

/* A WebTransport CONNECT as the server sees it; everything is borrowed for the on_request call. */
typedef struct wt_request {
  const char *path;                          /* :path, with the query ("/room?jwt=...") */
  const char *authority;                     /* :authority */
  const char *origin;                        /* the origin header, "" if none */
  const char *protocols[WT_MAX_PROTOCOLS];   /* wt-available-protocols, in the client's order */
  size_t n_protocols;
} wt_request;

/* Why a WebTransport session ended. */
typedef struct wt_close_info {
  int by_peer;      /* the peer closed it (capsule, FIN or reset of the CONNECT stream, connection close) */
  int idle;         /* the QUIC connection timed out */
  int status;       /* client: the server's HTTP status when it refused the CONNECT, else 0 */
  uint64_t code;    /* the WebTransport application code (or the connection's close code) */
  char reason[128];
} wt_close_info;

typedef struct wt_handler {
  /* Server: a WebTransport CONNECT arrived. Answer with wt_session_accept or wt_session_refuse, now
   * or later. */
  void (*on_request)(wt_session *s, const wt_request *req, void *user_data);
  /* The session is established (server: accepted; client: 2xx received); wt_session_protocol()
   * names the protocol chosen ("" for none). */
  void (*on_ready)(wt_session *s, void *user_data);
  /* Bytes on a WebTransport stream, in order, after its header; borrowed for the call. */
  void (*on_stream_data)(wt_session *s, int64_t sid, const uint8_t *data, size_t len, int fin, void *user_data);
  /* The peer reset its sending side of a stream (code mapped back, see above). */
  void (*on_stream_reset)(wt_session *s, int64_t sid, uint64_t code, void *user_data);
  /* Reserved (the QUIC layer answers STOP_SENDING itself), as for quic_conn. */
  void (*on_stream_stop)(wt_session *s, int64_t sid, uint64_t code, void *user_data);
  /* A WebTransport stream is closed in both directions; its id is no longer valid. */
  void (*on_stream_closed)(wt_session *s, int64_t sid, void *user_data);
  /* More local streams can be opened. */
  void (*on_streams_available)(wt_session *s, void *user_data);
  /* An HTTP datagram of this session; the payload is borrowed for the call. */
  void (*on_datagram)(wt_session *s, const uint8_t *data, size_t len, void *user_data);
  /* The session ended; s must not be used after this returns. */
  void (*on_closed)(wt_session *s, const wt_close_info *info, void *user_data);
} wt_handler;

enum {
  WT_ERR_STREAM_LIMIT = -2, /* the peer allows no more streams now: retry after on_streams_available */
  WT_ERR_NO_STREAM = -3,    /* no such stream, or its sending side is done */
  WT_ERR_CLOSED = -4,       /* the session is not established, or closing */
  WT_ERR_NOMEM = -5,
};

/* Server: takes over connection c, whose handshake just completed with ALPN "h3" (call it from the
 * connection's on_ready): sets the connection's handler and opens the control and QPACK streams.
 * handler (borrowed, must outlive the connection) is told on_request. NULL when out of memory (the
 * connection is then closed). */
wt_session *wt_session_server(uv_loop_t *loop, quic_conn *c, const wt_handler *handler, void *user_data);
/* Client: a session to open once the QUIC connection is ready. Pass wt_quic_handler and the returned
 * session to quic_endpoint_connect (offering ALPN "h3"), then wt_session_client_attach with the
 * connection. authority ("host:port"), path ("/path?query") and protocols (most preferred first) are
 * copied. After the peer's SETTINGS the CONNECT is sent; on_ready or on_closed follow. */
wt_session *wt_session_client(uv_loop_t *loop, const char *authority, const char *path,
                              const char *const *protocols, size_t n_protocols, const wt_handler *handler,
                              void *user_data);
/* Client: the connection quic_endpoint_connect returned. If it returned NULL, call
 * wt_session_client_attach(s, NULL) to free s. */
void wt_session_client_attach(wt_session *s, quic_conn *c);
/* The quic_conn_handler a client connection runs with (user data: the wt_session). */
extern const quic_conn_handler wt_quic_handler;

/* Server: accepts the session, answering 200 with wt-protocol (quoted) when protocol is not NULL
 * or empty (copied). on_ready follows (before this returns). 0 or WT_ERR_CLOSED. */
int wt_session_accept(wt_session *s, const char *protocol);
/* Server: refuses the session with an HTTP status (4xx/5xx) and a short text body naming reason;
 * on_closed follows on the next loop turn. */
void wt_session_refuse(wt_session *s, int status, const char *reason);

/* The protocol chosen for the session ("" none). */
const char *wt_session_protocol(const wt_session *s);
/* The request's :path with its query (server: as received; client: as sent). */
const char *wt_session_path(const wt_session *s);
/* The session id (the CONNECT stream's id); -1 before the CONNECT. */
int64_t wt_session_id(const wt_session *s);
/* The QUIC connection. */
quic_conn *wt_session_conn(const wt_session *s);

/* Opens a WebTransport stream (its header is queued); returns its QUIC stream id, or WT_ERR_*. */
int64_t wt_session_open_bidi(wt_session *s);
int64_t wt_session_open_uni(wt_session *s);
/* Queues data[off, off+len) on a stream, taking a reference to the chunk. 0 or WT_ERR_*. */
int wt_session_write(wt_session *s, int64_t sid, chunk *data, size_t off, size_t len);
/* FIN after the queued data. 0 or WT_ERR_*. */
int wt_session_finish(wt_session *s, int64_t sid);
/* Times the bytes queued so far on a stream (quic_conn_time_egress). */
void wt_session_time_egress(wt_session *s, int64_t sid, uint64_t ready_ns);
/* Resets our sending side with a WebTransport code (mapped to HTTP/3). 0 or WT_ERR_*. */
int wt_session_reset_stream(wt_session *s, int64_t sid, uint64_t code);
/* Asks the peer to stop sending, with a WebTransport code. 0 or WT_ERR_*. */
int wt_session_stop_sending(wt_session *s, int64_t sid, uint64_t code);
/* Send priority, higher first. 0 or WT_ERR_*. */
int wt_session_set_priority(wt_session *s, int64_t sid, uint64_t prio);
/* Bytes queued on a stream and not yet acknowledged (its header included). */
size_t wt_session_stream_queued(wt_session *s, int64_t sid);
/* Sends an HTTP datagram of this session (copied; dropped if it does not fit). 0 or WT_ERR_*. */
int wt_session_send_datagram(wt_session *s, const void *data, size_t len);
/* Closes the session: CLOSE_WEBTRANSPORT_SESSION(code, reason) and FIN on the CONNECT stream, then
 * the connection. on_closed follows on the next loop turn. */
void wt_session_close(wt_session *s, uint64_t code, const char *reason);

#endif
