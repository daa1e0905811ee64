/* quic_int: what conn.c and endpoint.c share. Private to core/quic. */
#ifndef MOQ_QUIC_QUIC_INT_H
#define MOQ_QUIC_QUIC_INT_H

#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "base/freelist.h"
#include "base/idmap.h"
#include "base/timer_wheel.h"
#include "quic/cid_map.h"
#include "quic/quic.h"

#define QUIC_SCID_LEN 18
#define QUIC_TX_BATCH 10 /* packets per GSO send */
#define QUIC_TX_WINDOW (QUIC_TX_BATCH * 1500 + 1500) /* room asked for one GSO batch */
#define QUIC_TXQ_LEN 16 /* queued sends per sendmmsg (more: fewer calls, later first packets) */
#define QUIC_TX_ARENA (QUIC_TXQ_LEN * 4096 + QUIC_TX_WINDOW) /* their bytes */
#define QUIC_TX_TIMED 64 /* egress timings waiting for the next sendmmsg */

/* Packets that met a full socket buffer, kept in order until it drains. Owned by the connection. */
typedef struct quic_stash {
  struct quic_stash *next;
  size_t len, gso;
  uint8_t data[]; /* owned */
} quic_stash;

/* One queued send: a GSO batch in the endpoint's arena, with its path copied (the connection may be
 * freed before the queue goes out; the packets still go). */
typedef struct quic_tx_entry {
  quic_conn *c; /* borrowed; NULL once freed */
  udp_addr local, remote;
  size_t off, len, gso;
} quic_tx_entry;

/* Send state of one stream (created on first write). Owned by its connection. */
typedef struct quic_stream {
  int64_t id;
  chunk_queue q;          /* owned: from the oldest unacknowledged byte */
  chunk_seg *cur;         /* borrowed: no unsent byte before this segment (NULL: start at the head) */
  uint64_t cur_base;      /* stream offset of cur's first byte */
  uint64_t base;          /* stream offset of head's first byte */
  uint64_t sent;          /* stream offset of the next byte to hand to ngtcp2 */
  uint64_t end;           /* stream offset after the last queued byte */
  int fin_queued, fin_sent, shut; /* shut: reset or stopped; nothing more is sent */
  uint64_t prio;          /* send order: higher first (default: highest, for control streams) */
  int pending;            /* on the connection's pending list */
  uint64_t timed_ready_ns; /* quic_conn_time_egress: the ready time of the bytes up to timed_end (0: none) */
  uint64_t timed_end;
  struct quic_stream *pnext, *pprev;
  struct quic_stream *anext, *aprev; /* the connection's list of all stream states */
} quic_stream;

/* A queued outgoing datagram. */
typedef struct quic_dgram {
  struct quic_dgram *next;
  size_t len;
  uint8_t data[]; /* owned */
} quic_dgram;

typedef enum quic_conn_state {
  QC_HANDSHAKE = 0,
  QC_READY,
  QC_CLOSING,  /* we sent CONNECTION_CLOSE; answering stray packets until the timer ends it */
  QC_DRAINING, /* the peer closed; waiting out 3 PTO in silence */
  QC_DEAD,     /* freed once libuv releases the timer */
} quic_conn_state;

struct quic_conn {
  quic_endpoint *ep;            /* borrowed: the owner */
  ngtcp2_conn *conn;            /* owned */
  void *ssl;                    /* owned WOLFSSL*; a server's is freed once its handshake is done */
  tls_peer *peer;               /* owned: the client's certificate, kept when the WOLFSSL* goes; or NULL */
  int release_tls;              /* the handshake is done: free ssl when ngtcp2 returns */
  ngtcp2_crypto_conn_ref conn_ref;
  ngtcp2_path_storage path;
  udp_addr local, remote;
  int is_server;
  quic_conn_state state;
  uv_timer_t timer;             /* owned handle: deadlines beyond the wheel's span, and the closing period */
  uint64_t timer_due;           /* loop time (ms) of the connection's next deadline */
  uint64_t uv_due;              /* loop time (ms) `timer` was last started for */
  timer_wheel_entry wheel_entry; /* the deadline when it is on the endpoint's timer wheel */
  const quic_conn_handler *handler; /* borrowed */
  void *handler_data;
  ngtcp2_cid orig_dcid;         /* server: the client's first DCID, registered until free */
  char alpn[64];
  char sni[256];
  char log_id[2 * 8 + 1];
  quic_stream *streams;         /* owned: every stream state, for teardown */
  idmap stream_ids;             /* stream id -> quic_stream (borrowed from `streams`) */
  freelist stream_cache;        /* owned: freed quic_streams, reused for new ones (one per group) */
  quic_stream *last_stream;     /* borrowed: the stream stream_get found last, or NULL */
  uint64_t peer_uni_closed, peer_bidi_closed; /* peer streams closed, not yet given back as credit */
  quic_stream *pend_head, *pend_tail; /* streams with data or FIN to send */
  quic_dgram *dg_head, *dg_tail;      /* owned datagrams to send */
  uint8_t *close_pkt;           /* owned: the CONNECTION_CLOSE packet while closing */
  size_t close_pkt_len;
  quic_stash *stash_head, *stash_tail; /* owned: packets that met a full socket buffer */
  int in_ngtcp2;                /* inside ngtcp2_conn_read_pkt / handle_expiry */
  int want_flush;               /* on the endpoint's flush list */
  int blocked;                  /* on the endpoint's writable-wait list */
  int close_requested;          /* quic_conn_close was called; done on the next flush */
  int closing_flush;            /* the last flush before CONNECTION_CLOSE */
  int tx_idle;                  /* the last flush wrote packets and then ngtcp2 had nothing more, and
                                   nothing has come in or been asked of the connection since */
  uint64_t tx_idle_ts;          /* ngtcp2 time of that flush */
  uint64_t close_code;
  char close_reason[128];
  int notified;                 /* on_closed already delivered */
  /* CRYPTO data per encryption level, as handed to wolfSSL: the bytes of a handshake message header
   * held back (never given alone, see cb_recv_crypto_data) and what remains of the current message. */
  uint8_t crypto_held[4][4];
  uint8_t crypto_held_len[4];
  uint32_t crypto_need[4];
  int pending_ccerr_set;        /* a transport close decided inside ngtcp2, sent after it returns */
  ngtcp2_ccerr pending_ccerr;
  quic_close_info pending_info;
  quic_conn *fnext;             /* flush list link */
  quic_conn *bnext;             /* blocked list link */
  quic_conn *next, *prev;       /* endpoint's list of all connections */
};

struct quic_endpoint {
  uv_loop_t *loop;      /* borrowed */
  udp_socket *sock;     /* owned */
  tls_ctx *server_tls;  /* borrowed */
  quic_settings settings;
  quic_accept_cb on_accept;
  void *user_data;
  cid_map cids;         /* source CID -> quic_conn* */
  quic_conn *conns;     /* owned list */
  size_t n_conns;
  quic_conn *flush_head;   /* connections to flush at the end of this loop turn */
  quic_conn *blocked_head; /* connections waiting for the socket to drain */
  uv_idle_t flush_idle;    /* owned handle */
  uint8_t reset_secret[32];
  int shutting_down;
  void (*shutdown_done)(void *);
  void *shutdown_arg;
  int handles_open;
  unsigned worker, workers;   /* this endpoint is worker `worker` of `workers` (1: alone) */
  quic_forward_cb forward;    /* datagrams of other workers' connections */
  void *forward_data;
  /* Sends of the connections flushed in one loop turn, handed to the kernel together (sendmmsg) when
   * the turn's flushes are done, the queue or the arena is full, or at once outside a batch. */
  uint8_t *tx_arena;          /* owned: QUIC_TX_ARENA bytes */
  size_t tx_used;
  quic_tx_entry txq[QUIC_TXQ_LEN];
  size_t txq_n;
  uint64_t tx_timed[QUIC_TX_TIMED]; /* ready times (ns) of timed stream data written into packets not yet
                                       handed to the kernel: counted as egress delays at the next submit */
  size_t tx_timed_n;
  int tx_hold;                /* > 0: inside a batch of flushes, submit at its end */
  quic_endpoint_counts counts;
  /* The connections' deadlines within TIMER_WHEEL_SPAN ms (most: pacing, ACK delay, loss detection),
   * fired by one libuv timer set for the earliest. */
  timer_wheel wheel;
  uv_timer_t wheel_timer;     /* owned handle */
  uint64_t wheel_timer_due;   /* loop time (ms) it is set for; UINT64_MAX when stopped */
};

/* endpoint.c, for conn.c: fills id[0, len) with a fresh random connection ID that names this
 * endpoint's worker (see quic_endpoint_set_worker). */
void quic_endpoint_new_cid(const quic_endpoint *ep, uint8_t *id, size_t len);

/* conn.c, for endpoint.c */
quic_conn *quic_conn_new_server(quic_endpoint *ep, const udp_addr *local, const udp_addr *remote,
                                const ngtcp2_pkt_hd *hd);
void quic_conn_read(quic_conn *c, const udp_addr *local, const udp_addr *remote, const uint8_t *data, size_t len,
                    uint8_t ecn);
void quic_conn_flush(quic_conn *c);
void quic_conn_destroy(quic_conn *c); /* immediate teardown (no packets), handler told if not yet */
void quic_conn_on_deadline(quic_conn *c); /* its deadline (on the endpoint's timer wheel or its own timer) is due */

/* endpoint.c, for conn.c */
void quic_endpoint_want_flush(quic_endpoint *ep, quic_conn *c);
void quic_endpoint_wait_writable(quic_endpoint *ep, quic_conn *c);
int quic_endpoint_add_cid(quic_endpoint *ep, const uint8_t *id, size_t len, quic_conn *c);
void quic_endpoint_del_cid(quic_endpoint *ep, const uint8_t *id, size_t len);
void quic_endpoint_conn_freed(quic_endpoint *ep, quic_conn *c);
/* Sets c's deadline on the endpoint's timer wheel at loop time due (ms), if it fits the wheel's span:
 * 1, or 0 when it does not (use c->timer). The wheel calls quic_conn_on_deadline. */
int quic_endpoint_deadline_set(quic_endpoint *ep, quic_conn *c, uint64_t due);
/* Takes c's deadline off the wheel (nothing if it is not on it). */
void quic_endpoint_deadline_cancel(quic_endpoint *ep, quic_conn *c);
/* Room for at least need bytes of packets at the end of the send arena (the queue goes out first if
 * it is full). Write a GSO batch there, then commit it; the pointer is valid until then. */
uint8_t *quic_endpoint_tx_room(quic_endpoint *ep, size_t need);
/* Queues the len bytes just written at quic_endpoint_tx_room for c's path (sent at once unless inside
 * a batch). 0, or UDP_SEND_BLOCKED when c now waits for the socket (its packets went to its stash). */
int quic_endpoint_tx_commit(quic_endpoint *ep, quic_conn *c, size_t len, size_t gso);
/* Hands the queue to the kernel now. */
void quic_endpoint_tx_submit(quic_endpoint *ep);
/* Timed stream data (ready at ready_ns) is in a packet written at now: its egress delay is counted
 * when the packet goes to the kernel, at the next submit (at now when too many wait). */
void quic_endpoint_tx_timed(quic_endpoint *ep, uint64_t ready_ns, uint64_t now);
/* Sends len bytes (a GSO train of gso-byte datagrams when gso > 0) now, outside the queue, and counts
 * them when they reach the kernel: udp_send's result. */
int quic_endpoint_send_now(quic_endpoint *ep, const udp_addr *local, const udp_addr *remote, const uint8_t *data,
                           size_t len, size_t gso);

/* conn.c, for endpoint.c: keeps packets the socket refused, after any already kept; 0 or -1 (no memory:
 * dropped, as a lost packet). */
int quic_conn_stash(quic_conn *c, const uint8_t *data, size_t len, size_t gso);

#endif
