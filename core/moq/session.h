/* session: one moq-lite session (lite-01 .. lite-05) over any transport that offers streams.
 *
 * A session is both publisher and subscriber toward its peer, on an origin shared with other
 * sessions: what the peer announces under the prefixes it may publish becomes broadcasts in the
 * origin (this session is their source); what the peer asks for under the prefixes it may subscribe
 * to is served from the origin. The same code runs the relay's side (server) and moq-cli's (client).
 *
 * The transport (raw QUIC, the WebSocket fallback; WebTransport later) is reached only through
 * moq_transport; it feeds the session with moq_session_on_* calls. */
#ifndef MOQ_MOQ_SESSION_H
#define MOQ_MOQ_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "base/chunk.h"
#include "moq/lite.h"
#include "origin/origin.h"

/* What a session needs from its transport. ctx is the transport's. Stream ids follow QUIC. */
typedef struct moq_transport {
  int64_t (*open_bidi)(void *ctx);                     /* id, or negative (limit reached: retry later) */
  int64_t (*open_uni)(void *ctx);
  int (*write)(void *ctx, int64_t sid, chunk *c, size_t off, size_t len); /* takes a reference */
  int (*finish)(void *ctx, int64_t sid);               /* FIN after what is queued */
  int (*reset)(void *ctx, int64_t sid, uint64_t code); /* abort our sending side */
  int (*stop)(void *ctx, int64_t sid, uint64_t code);  /* ask the peer to stop sending */
  size_t (*queued)(void *ctx, int64_t sid);            /* bytes not yet acknowledged */
  int (*set_priority)(void *ctx, int64_t sid, uint64_t prio); /* higher is sent first */
  /* Optional (NULL: not measured): when the last byte queued so far on sid goes to the kernel, count
   * the time since ready_ns (CLOCK_MONOTONIC) as an egress delay. One timing per stream at a time. */
  void (*time_egress)(void *ctx, int64_t sid, uint64_t ready_ns);
  /* Optional: inside a data callback, when the data reached this host (CLOCK_MONOTONIC ns, the
   * kernel's receive time of its datagram), or 0 when unknown (then the session takes the time now). */
  uint64_t (*arrival_ns)(void *ctx);
  void (*close)(void *ctx, uint64_t code, const char *reason); /* close the whole session */
  void *ctx;
} moq_transport;

/* moq-lite error codes used on streams and sessions. */
enum {
  MOQ_CODE_CANCEL = 0,
  MOQ_CODE_OLD = 2,
  MOQ_CODE_DECODE = 5,
  MOQ_CODE_UNAUTHORIZED = 6,
  MOQ_CODE_VERSION = 9,
  MOQ_CODE_UNEXPECTED_STREAM = 10,
  MOQ_CODE_BOUNDS = 11,
  MOQ_CODE_DUPLICATE = 12,
  MOQ_CODE_NOT_FOUND = 13,
  MOQ_CODE_PROTOCOL_VIOLATION = 15,
  MOQ_CODE_DROPPED = 24,
  MOQ_CODE_FRAME_TOO_LARGE = 27,
};

/* What the peer may do, relative to the session root (grants already scoped, see access.h). */
typedef struct moq_grants {
  const char *const *publish;   /* borrowed: prefixes the peer may publish under ("" = all) */
  size_t n_publish;
  const char *const *subscribe; /* borrowed: prefixes the peer may subscribe to */
  size_t n_subscribe;
} moq_grants;

typedef struct moq_session moq_session;

/* Answers of the on_announce / on_subscribe gates. */
enum { MOQ_GATE_DENY = 0, MOQ_GATE_ALLOW = 1, MOQ_GATE_PENDING = 2 };

/* Events for the owner (all optional). */
typedef struct moq_session_events {
  /* The version and root are known: the session is live. */
  void (*on_ready)(moq_session *s, void *user_data);
  /* Server side, lite-05 or legacy: the peer asked for path (URL path and query, borrowed) and
   * role; the owner must answer with moq_session_accept or moq_session_close. Without this callback
   * every path is accepted with the grants given at creation. */
  void (*on_path)(moq_session *s, const char *path_and_query, int role, void *user_data);
  /* The peer announces the broadcast at path (global; only paths its grants allow). Return
   * MOQ_GATE_ALLOW, MOQ_GATE_DENY, or MOQ_GATE_PENDING and answer later with moq_session_answer(s,
   * ticket, allow). Without this callback every announcement is allowed. */
  int (*on_announce)(moq_session *s, const char *path, uint64_t ticket, void *user_data);
  /* The peer subscribes to track of the broadcast at path (global). Same answers. */
  int (*on_subscribe)(moq_session *s, const char *path, const char *track, uint64_t ticket, void *user_data);
  /* The peer subscribes to a broadcast the origin does not have (path global; never asked for a
   * cluster peer). ALLOW: it is there now (look again), DENY: not found, PENDING: answer later
   * with moq_session_answer. Without this callback: not found. */
  int (*on_route)(moq_session *s, const char *path, uint64_t ticket, void *user_data);
  /* The session ended (the transport is closing or closed); it is freed after this returns. */
  void (*on_closed)(moq_session *s, uint64_t code, const char *reason, void *user_data);
  /* The session wants moq_session_wakeup called in about delay_ms (each call replaces the last
   * wish). Without this callback nothing waits: what would wait for the wake-up happens at once. */
  void (*want_wakeup)(moq_session *s, uint64_t delay_ms, void *user_data);
} moq_session_events;

typedef struct moq_session_config {
  int is_server;            /* relay side */
  const char *alpn;         /* negotiated ALPN (borrowed): moq-lite-03/04/05, or "moql" for setup */
  const char *path;         /* client: the URL path (and ?query) to send (lite-05 SETUP / legacy PATH);
                               server: the URL path and query of the request the transport carried
                               (WebSocket), the path given to on_path unless the setup names one */
  uint64_t hop_id;          /* our hop id (0 = none) */
  const moq_limits *limits; /* NULL = defaults */
  size_t max_streams_pending; /* groups waiting for a stream before old ones are dropped, default 16 */
  uint64_t slow_ms;         /* a non-latest group still unsent after this long is reset (default 2000) */
  size_t max_queued;        /* bytes queued per subscription before old groups are reset (4 MiB) */
  size_t max_subscriptions; /* the peer's open subscriptions; beyond, BoundsExceeded (default 1024) */
  size_t max_announce_interests; /* the peer's open announce requests (default 64) */
  int64_t end_grace_ms;     /* a track that ends cleanly ends its subscriptions this long after their
                               last group stream closed (default 250; negative: at once) */
  const char *log_id;       /* for logs (borrowed, copied) */
  int imports_shared;       /* client: the broadcasts it imports are shared with the other workers
                               (a relay's cluster links); else they stay on this one */
} moq_session_config;

/* Creates a session on transport tr (copied) and origin o (borrowed). For a client, or a server
 * whose version needs no setup, grants apply at once (server: root "/" unless a setup names a path).
 * Returns NULL on failure. */
moq_session *moq_session_new(const moq_session_config *cfg, const moq_transport *tr, origin *o,
                             const moq_session_events *ev, void *user_data);
/* Server side: accepts the session rooted at root (normalised global path) with grants (copied). */
int moq_session_accept(moq_session *s, const char *root, const moq_grants *grants);
/* Sets the grants and root before the session starts (client side, or servers without on_path). */
int moq_session_set_grants(moq_session *s, const char *root, const moq_grants *grants);
/* The negotiated version (0 until known). */
moq_version moq_session_version(const moq_session *s);
/* The session root (global path, "" = top). */
const char *moq_session_root(const moq_session *s);
/* Bytes sent on the session's streams and not yet acknowledged by the peer (to close only once
 * everything arrived). */
size_t moq_session_unacked(moq_session *s);
/* Answers a gate left pending (ticket as given to on_announce / on_subscribe). A ticket whose
 * announcement or subscription has gone meanwhile is ignored. */
void moq_session_answer(moq_session *s, uint64_t ticket, int allow);
/* Marks the peer as a relay of our cluster (before it starts, or before moq_session_accept): it is
 * served only broadcasts that did not come from the cluster (one hop), and what it announces is
 * marked as coming from the cluster. */
void moq_session_set_cluster(moq_session *s, int on);
/* Subscribes to track t (of a broadcast owned by someone else) on the peer's broadcast at path
 * (relative to the root): the peer's groups arrive into t as for an import. The owner of t's
 * broadcast calls moq_session_unforward from its unsubscribe. If the peer ends the track or the
 * session ends first, on_end(arg, t) is called just before t ends (with MOQ_CODE_DROPPED when the
 * session ended): the owner forgets t then. Returns 0 or negative. */
int moq_session_forward(moq_session *s, const char *path, track *t, void (*on_end)(void *arg, track *t),
                        void *arg);
void moq_session_unforward(moq_session *s, track *t);
/* Tracks forwarded through the session right now. */
size_t moq_session_forwarded(const moq_session *s);
/* What the session holds right now (GET /stats). */
typedef struct moq_session_counts {
  size_t streams;       /* open streams, both directions */
  size_t subscriptions; /* the peer's subscriptions this session serves */
  size_t consumes;      /* announce interests this session has on the peer */
} moq_session_counts;
void moq_session_counts_get(const moq_session *s, moq_session_counts *out);
/* Closes the session with code and reason (through the transport). */
void moq_session_close(moq_session *s, uint64_t code, const char *reason);

/* Asks the peer for its broadcasts under prefix (relative to the root): each one it announces is
 * published into the origin with this session as its source (and ends with it). fn (optional) is told
 * each change with the path relative to the root. The server does this for each publish grant.
 * Returns 0 or negative. */
typedef void (*moq_announced_cb)(void *user_data, const char *path, int active);
int moq_session_consume(moq_session *s, const char *prefix, moq_announced_cb fn, void *user_data);
/* Publishes path (relative to the root) into the origin with this session as its source, without
 * waiting for an announcement (a subscriber that knows the name). A subscription to it asks the
 * peer; if the peer has no such broadcast the track ends with MOQ_CODE_NOT_FOUND. */
broadcast *moq_session_import(moq_session *s, const char *path);

/* Transport input. */
void moq_session_on_stream_data(moq_session *s, int64_t sid, const uint8_t *data, size_t len, int fin);
void moq_session_on_stream_reset(moq_session *s, int64_t sid, uint64_t code);
void moq_session_on_stream_stop(moq_session *s, int64_t sid, uint64_t code);
void moq_session_on_stream_closed(moq_session *s, int64_t sid);
void moq_session_on_streams_available(moq_session *s);
/* The delay asked for by want_wakeup has passed (early or spurious calls are harmless). */
void moq_session_wakeup(moq_session *s);
/* The transport is ready (handshake done): starts the version's session opening. */
void moq_session_start(moq_session *s);
/* The transport closed: ends everything and frees the session (events->on_closed first). */
void moq_session_on_transport_closed(moq_session *s, uint64_t code, const char *reason);

#endif
