/* quic: QUIC endpoints and connections (ngtcp2 + wolfSSL on libuv), server and client.
 *
 * An endpoint owns one UDP socket and every connection on it; it demultiplexes datagrams by
 * connection ID, accepts new connections (when it has a server TLS context), answers unknown
 * versions with Version Negotiation and unknown short-header packets with Stateless Reset.
 * A connection exposes streams to the layer above as "stream id + bytes": the layer above never sees
 * packets, TLS or HTTP/3. Stream data to send is queued as references to chunks (no copy); a chunk
 * is released once the peer has acknowledged every byte of it, or the stream is reset. */
#ifndef MOQ_QUIC_QUIC_H
#define MOQ_QUIC_QUIC_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/chunk.h"
#include "base/delay_hist.h"
#include "quic/udp.h"
#include "tls/tls.h"

typedef struct quic_endpoint quic_endpoint;
typedef struct quic_conn quic_conn;

/* Transport settings shared by the connections of an endpoint. */
typedef struct quic_settings {
  uint64_t idle_timeout_ms;      /* default 30000 */
  uint64_t keep_alive_ms;        /* PING after this much quiet; 0 = never; default 5000 */
  uint64_t handshake_timeout_ms; /* default 10000 */
  uint64_t max_streams_bidi;     /* concurrent peer-opened bidi streams, default 1024 */
  uint64_t max_streams_uni;      /* concurrent peer-opened uni streams, default 1024 */
  uint64_t stream_window;        /* initial per-stream receive window, default 1 MiB */
  uint64_t conn_window;          /* initial connection receive window, default 16 MiB */
  int enable_datagrams;          /* offer QUIC DATAGRAM frames, default 1 */
  int reuse_port;                /* bind with SO_REUSEPORT: one of several workers' endpoints, default 0 */
  int rx_timestamps;             /* note each datagram's kernel arrival time (udp_rx_time_ns), default 0 */
} quic_settings;

/* A datagram that belongs to another worker's connection: hand it (borrowed for the call) to that
 * worker, which passes it to quic_endpoint_inject. */
typedef void (*quic_forward_cb)(void *user_data, unsigned worker, const udp_addr *local, const udp_addr *remote,
                                const uint8_t *data, size_t len, uint8_t ecn);

/* Why a connection ended. */
typedef struct quic_close_info {
  int by_peer;      /* the peer closed it (CONNECTION_CLOSE received) */
  int idle;         /* the idle timeout expired */
  int is_app;       /* code is an application error code (else a transport error code) */
  uint64_t code;    /* error code; 0 = clean */
  char reason[128]; /* reason phrase (may be empty) */
} quic_close_info;

/* What the layer above a connection is told. All callbacks are optional; user_data is the handler's. */
typedef struct quic_conn_handler {
  /* The handshake completed; quic_conn_alpn() now names the protocol. */
  void (*on_ready)(quic_conn *c, void *user_data);
  /* Bytes arrived on a stream, in order; data is borrowed for the call. fin: the peer finished it. */
  void (*on_stream_data)(quic_conn *c, int64_t stream_id, const uint8_t *data, size_t len, int fin,
                         void *user_data);
  /* The peer reset its sending side of a stream (RESET_STREAM). */
  void (*on_stream_reset)(quic_conn *c, int64_t stream_id, uint64_t code, void *user_data);
  /* Reserved: ngtcp2 answers a peer's STOP_SENDING itself (RESET_STREAM); the stream then ends
   * through on_stream_closed. Never called for now. */
  void (*on_stream_stop)(quic_conn *c, int64_t stream_id, uint64_t code, void *user_data);
  /* A stream is fully closed in both directions; its id is no longer valid. */
  void (*on_stream_closed)(quic_conn *c, int64_t stream_id, void *user_data);
  /* The peer raised the limit: more local streams can be opened. */
  void (*on_streams_available)(quic_conn *c, void *user_data);
  /* A QUIC DATAGRAM arrived; data is borrowed for the call. */
  void (*on_datagram)(quic_conn *c, const uint8_t *data, size_t len, void *user_data);
  /* The connection ended. The connection must not be used after this returns. */
  void (*on_closed)(quic_conn *c, const quic_close_info *info, void *user_data);
} quic_conn_handler;

/* A server endpoint calls this for every new connection, before its handshake; the callee sets a
 * handler with quic_conn_set_handler (a connection without one is closed when it becomes ready). */
typedef void (*quic_accept_cb)(void *user_data, quic_conn *c);

enum {
  QUIC_ERR_STREAM_LIMIT = -2, /* no stream can be opened until the peer allows more */
  QUIC_ERR_NO_STREAM = -3,    /* no such stream, or its sending side is finished or reset */
  QUIC_ERR_CLOSED = -4,       /* the connection is closing */
  QUIC_ERR_NOMEM = -5,
};

/* Fills s with the defaults. */
void quic_settings_default(quic_settings *s);
/* Fills out with len cryptographically random bytes (getrandom). */
void quic_random(uint8_t *out, size_t len);

/* Creates an endpoint bound to addr. server_tls (borrowed, may be NULL for a client-only endpoint)
 * enables accepting connections, each reported to on_accept. Returns NULL with err. */
quic_endpoint *quic_endpoint_new(uv_loop_t *loop, const struct sockaddr *addr, socklen_t addrlen,
                                 tls_ctx *server_tls, const quic_settings *settings, quic_accept_cb on_accept,
                                 void *user_data, char *err, size_t errlen);
/* The bound address (with the real port when bound to port 0). */
const udp_addr *quic_endpoint_local(const quic_endpoint *ep);
/* Number of connections the endpoint still holds (including closing ones). */
size_t quic_endpoint_conn_count(const quic_endpoint *ep);
/* Traffic counters since the endpoint started: datagrams handed to the kernel (a GSO train counts
 * its datagrams) and received (after GRO splitting, dropped ones included), and ACKs held back for
 * the next data to carry instead of going alone (see conn.c, ack_hold_deadline), timer wake-ups
 * for ngtcp2's pacing deadline alone that needed no flush (conn.c, pacing_only_due), and pacing
 * deadlines dropped at the end of the flush that set them, being due already (no wake-up at all). */
typedef struct quic_endpoint_counts {
  uint64_t datagrams_sent, datagrams_received, acks_held, pacing_idle, pacing_now;
  delay_hist egress_delay; /* us from a timed stream write's ready time to its packet's sendmmsg */
} quic_endpoint_counts;
void quic_endpoint_counts_get(const quic_endpoint *ep, quic_endpoint_counts *out);
/* Dials remote from this endpoint. host (borrowed) is sent as SNI and checked against the
 * certificate when client_tls verifies host names; alpn is the offer, most preferred first. The
 * handler is told on_ready or on_closed. Returns NULL with err if the connection cannot start. */
quic_conn *quic_endpoint_connect(quic_endpoint *ep, const struct sockaddr *remote, socklen_t remotelen,
                                 tls_ctx *client_tls, const char *host, const char *const *alpn, size_t n_alpn,
                                 const quic_conn_handler *handler, void *handler_data, char *err,
                                 size_t errlen);
/* Makes ep worker `index` of `count` endpoints bound to one address with reuse_port, each on its own
 * thread. The connection IDs ep issues then carry its index (quic_cid_worker of their first byte), and
 * a datagram whose destination connection ID names another worker goes to forward instead of being
 * read here. With steer (set it on one endpoint, after every endpoint is bound, in index order), the
 * kernel is asked to deliver each datagram to its worker's socket itself, so that forwarding is only
 * the fallback. Returns 0, or a negative errno when the kernel refused steering (forwarding still
 * keeps every connection on its worker). */
int quic_endpoint_set_worker(quic_endpoint *ep, unsigned index, unsigned count, int steer, quic_forward_cb forward,
                             void *user_data);
/* A datagram forwarded by another worker: processed as if it had arrived on ep's socket. */
void quic_endpoint_inject(quic_endpoint *ep, const udp_addr *local, const udp_addr *remote, const uint8_t *data,
                          size_t len, uint8_t ecn);
/* The worker (of count) that owns a packet whose destination connection ID begins with first_byte. */
unsigned quic_cid_worker(uint8_t first_byte, unsigned count);
/* Closes every connection with app_code/reason (their handlers get on_closed), then the socket, and
 * frees the endpoint; done(arg) runs when every libuv handle is released. */
void quic_endpoint_shutdown(quic_endpoint *ep, uint64_t app_code, const char *reason, void (*done)(void *),
                            void *arg);

/* Sets the handler of a connection (replacing any). */
void quic_conn_set_handler(quic_conn *c, const quic_conn_handler *handler, void *user_data);
/* The negotiated ALPN protocol ("" before the handshake completes). */
const char *quic_conn_alpn(const quic_conn *c);
/* The certificate the peer presented (server side: an mTLS client), after on_ready. 0 or -1. */
int quic_conn_peer_cert(const quic_conn *c, tls_peer *out);
/* The SNI host name the client sent (server side; "" if none). */
const char *quic_conn_sni(const quic_conn *c);
/* The peer's address. */
const udp_addr *quic_conn_remote(const quic_conn *c);
/* True on the accepting side. */
int quic_conn_is_server(const quic_conn *c);
/* A short id for logs (hex of the first source connection id). */
const char *quic_conn_log_id(const quic_conn *c);
/* Opens a bidirectional / unidirectional stream; returns its id, or QUIC_ERR_STREAM_LIMIT etc. */
int64_t quic_conn_open_bidi(quic_conn *c);
int64_t quic_conn_open_uni(quic_conn *c);
/* Queues c[off, off+len) on a stream, taking a reference to the chunk (no copy). 0 or QUIC_ERR_*. */
int quic_conn_write(quic_conn *c, int64_t stream_id, chunk *data, size_t off, size_t len);
/* Queues a copy of data on a stream. 0 or QUIC_ERR_*. */
int quic_conn_write_copy(quic_conn *c, int64_t stream_id, const void *data, size_t len);
/* Finishes a stream's sending side (FIN after the queued data). 0 or QUIC_ERR_*. */
int quic_conn_finish(quic_conn *c, int64_t stream_id);
/* Resets a stream's sending side with an application code, dropping queued data. */
int quic_conn_reset_stream(quic_conn *c, int64_t stream_id, uint64_t code);
/* Asks the peer to stop sending on a stream. */
int quic_conn_stop_sending(quic_conn *c, int64_t stream_id, uint64_t code);
/* Sets a stream's send priority: when congestion or pacing limits what goes out, streams with a
 * higher value are sent first (new streams have the highest, for control messages). */
int quic_conn_set_priority(quic_conn *c, int64_t stream_id, uint64_t prio);
/* Bytes queued on a stream and not yet acknowledged (for back-pressure decisions). */
size_t quic_conn_stream_queued(quic_conn *c, int64_t stream_id);
/* Times the bytes queued so far on a stream: when the last of them is in a packet handed to the
 * kernel, the time since ready_ns (CLOCK_MONOTONIC, as uv_hrtime) is counted in the endpoint's
 * egress_delay. One timing per stream at a time: while one waits, another is ignored. */
void quic_conn_time_egress(quic_conn *c, int64_t stream_id, uint64_t ready_ns);
/* Inside the processing of a datagram read by this thread (its stream data callbacks included): when
 * the kernel received it (quic_settings.rx_timestamps), on uv_hrtime's clock (CLOCK_MONOTONIC ns);
 * 0 when unknown (no timestamps asked for, not inside a read, or the wall clock stepped). */
uint64_t quic_rx_arrival_ns(void);
/* Sends a QUIC DATAGRAM (copied); dropped silently if it does not fit or the peer does not accept
 * datagrams. 0 or QUIC_ERR_*. */
int quic_conn_send_datagram(quic_conn *c, const void *data, size_t len);
/* Closes the connection with an application error code and reason, after sending what is queued
 * as far as congestion allows. Never re-entrant: it happens on the endpoint's next flush, where the
 * handler's on_closed runs. */
void quic_conn_close(quic_conn *c, uint64_t app_code, const char *reason);

#endif
