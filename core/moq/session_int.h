/* session_int: the state a moq-lite session shares between session.c (streams, setup, life cycle),
 * session_serve.c (what the peer asks of us) and session_consume.c (what we ask of the peer).
 * Private to core/moq. */
#ifndef MOQ_MOQ_SESSION_INT_H
#define MOQ_MOQ_SESSION_INT_H

#include "base/freelist.h"
#include "base/idmap.h"
#include "moq/session.h"

typedef enum stream_kind {
  SK_NEW = 0,          /* peer-opened; its type is not read yet */
  SK_LEGACY_SETUP,     /* lite-01/02: the setup exchange, then the session stream */
  SK_SETUP_IN,         /* lite-05: the peer's SETUP */
  SK_ANNOUNCE_SERVE,   /* the peer asked us for announcements */
  SK_ANNOUNCE_CONSUME, /* we asked the peer for announcements */
  SK_SUBSCRIBE_SERVE,  /* the peer subscribed to a track of ours */
  SK_SUBSCRIBE_UP,     /* we subscribed to a track of the peer */
  SK_GROUP_IN,         /* a group from the peer */
  SK_GROUP_OUT,        /* a group to the peer */
  SK_TRACK_SERVE,      /* lite-05: the peer asked for a TRACK_INFO */
  SK_TRACK_UP,         /* lite-05: we asked the peer for a TRACK_INFO */
  SK_IDLE,             /* probe, goaway, our setup: bytes are read and dropped */
} stream_kind;

typedef struct mstream {
  int64_t id;
  stream_kind kind;
  moq_buf rx;      /* owned: bytes received and not parsed yet */
  int fin_in;      /* the peer finished its side */
  int fin_out;     /* we finished (or reset) our side */
  void *obj;       /* the kind's state (see below), owned by its list in the session */
} mstream;

typedef struct group_out group_out;
typedef struct serve_sub serve_sub;

/* A group being sent to the peer on its own uni stream. */
struct group_out {
  serve_sub *sub;     /* borrowed; NULL once the subscription is gone */
  uint64_t sub_id;    /* the peer's subscribe id, for the group header */
  group *g;           /* owned reference */
  int64_t sid;
  size_t next_frame;  /* the next frame of g to write */
  int ended;          /* FIN or reset sent */
  int header_sent;    /* the group header is queued (it waits for the first frame or the end) */
  uint64_t began_ms;
  size_t bytes;       /* written and counted in sub->open_bytes (0 once reset) */
  group_out *next, *prev;
};

/* A subscription the peer made to one of our tracks. */
struct serve_sub {
  moq_session *s;
  int64_t sid;          /* the subscribe stream; -1 once it is gone */
  uint64_t id;          /* the peer's subscribe id */
  moq_sub_params params;
  track_sink sink;
  int replied;          /* lite-01..04 OK / lite-05 START sent */
  int have_first;
  uint64_t first_seq;   /* groups older than this are not sent */
  uint64_t last_seq;    /* newest group sent */
  group *waiting;       /* owned reference: a group waiting for a stream */
  group_out *outs;      /* owned list, newest first */
  group_out *outs_tail; /* the oldest of outs */
  size_t open_bytes;    /* bytes written on the group streams in outs that were not reset: at least
                           what they still have queued, so shedding needs no walk while it is small */
  int end_pending;      /* the track ended cleanly: the subscribe stream ends once outs and waiting
                           are gone, and end_grace_ms after the last group stream closed */
  uint64_t last_closed_ms; /* when the last group stream of outs closed (0: none yet) */
  uint64_t gate;        /* ticket of the on_subscribe / on_route answer awaited, 0 = none */
  int routing;          /* the awaited answer is on_route's */
  char *gate_path;      /* owned while gated: global broadcast path */
  char *gate_track;     /* owned while gated: track name */
  serve_sub *next, *prev;
};

/* A broadcast of the peer, published into the origin with this session as source. */
typedef struct import {
  moq_session *s;
  char *path;           /* owned: relative to the session root */
  broadcast *b;         /* the origin's */
  struct consume *from; /* the announce stream that brought it, or NULL (moq_session_import) */
  int forward;          /* a forwarding record: b is NULL, the tracks belong to another source */
  struct import *next, *prev;
} import;

/* Our subscription to a track of the peer. */
typedef struct up_sub {
  moq_session *s;
  import *imp;          /* borrowed */
  track *t;             /* borrowed: the origin's */
  uint64_t id;          /* our subscribe id */
  int64_t sid;          /* -1 until opened / once gone */
  int active_groups;    /* group streams of this subscription still arriving */
  int ended;            /* the subscribe stream ended: the track ends when the groups are in */
  void (*fwd_end)(void *arg, track *t); /* forwarded tracks: told before the track ends here */
  void *fwd_arg;
  uint64_t end_code;
  struct up_sub *next, *prev;
} up_sub;

/* A group arriving from the peer. */
typedef struct group_in {
  up_sub *up;           /* borrowed, NULL if the subscription went away */
  uint64_t sub_id;
  int have_header;
  int counted;          /* counted in its up_sub's active_groups */
  group *g;             /* reference from track_group_begin */
  moq_frame_reader fr;
  chunk *cur;           /* owned: the frame being filled */
  size_t cur_off;
  uint64_t cur_ts;
} group_in;

/* An announce interest we opened toward the peer. */
typedef struct consume {
  moq_session *s;
  char *prefix;         /* owned: relative to the root */
  moq_announced_cb fn;
  void *user_data;
  int64_t sid;          /* -1 while waiting for a stream */
  int got_first;        /* lite-01/02 INIT or lite-05 OK seen */
  uint64_t peer_hop;    /* lite-05 ANNOUNCE_OK hop */
  struct consume *next, *prev;
} consume;

/* An announcement waiting for the owner's on_announce answer. */
typedef struct pending_ann {
  uint64_t ticket;
  struct consume *from; /* borrowed: the announce stream it came on */
  char *path;           /* owned: relative to the root */
  uint64_t hops[MOQ_MAX_HOPS];
  size_t n_hops;
  struct pending_ann *next;
} pending_ann;

/* The peer's announce interest: one or more origin watchers feeding one stream. */
typedef struct serve_ann {
  moq_session *s;
  int64_t sid;
  char *prefix;         /* owned: the requested prefix, relative to the root */
  char *base;           /* owned: global path of that prefix */
  uint64_t exclude_hop;
  origin_watch *watches[8];
  size_t n_watches;
  struct serve_ann *next, *prev;
} serve_ann;

struct moq_session {
  moq_session_config cfg;
  moq_limits limits;
  moq_transport tr;
  origin *o;                 /* borrowed */
  const moq_session_events *ev;
  void *user_data;
  char log_id[32];
  int legacy;                /* "moql": version from the setup exchange */
  moq_version version;       /* 0 until known */
  int accepted;              /* root and grants known: serving */
  int started;
  int closing;
  char *root;                /* owned: global path */
  char **publish, **subscribe; /* owned lists, relative to root */
  size_t n_publish, n_subscribe;
  idmap streams;             /* id -> mstream (owned) */
  freelist stream_cache;     /* owned: freed mstreams, reused for new ones (one per group) */
  freelist out_cache;        /* owned: freed group_outs, reused likewise */
  idmap up_by_id;            /* our subscribe id -> up_sub */
  uint64_t next_sub_id;
  int64_t legacy_sid;        /* the lite-01/02 session stream */
  char *peer_path;           /* owned: client: the path our setup sends */
  char *url_path;            /* owned: server: the URL path and query of the transport's request
                                (WebSocket), the session's path unless its setup names one */
  serve_sub *serves;
  size_t n_serves;           /* length of serves */
  up_sub *ups;
  import *imports;
  consume *consumes;
  serve_ann *anns;
  size_t n_anns;             /* length of anns */
  int pending_opens;         /* something waits for stream credit */
  uint64_t next_ticket;      /* gate tickets (0 is never used) */
  pending_ann *pending_anns; /* owned list */
  int cluster;               /* the peer is a relay of our cluster */
  size_t n_forwarded;        /* forwarded tracks (moq_session_forward) */
};

/* session.c */
mstream *sess_stream(moq_session *s, int64_t sid, int create);
mstream *sess_open(moq_session *s, int bidi, stream_kind kind, void *obj);
void sess_stream_free(moq_session *s, mstream *st);
int sess_send(moq_session *s, int64_t sid, const moq_buf *b);
void sess_reset(moq_session *s, int64_t sid, uint64_t code);
void sess_fin(moq_session *s, int64_t sid);
void sess_fail(moq_session *s, uint64_t code, const char *why);
uint64_t sess_now_ms(void);
uint64_t sess_now_ns(void); /* CLOCK_MONOTONIC, nanoseconds (libuv's uv_hrtime clock) */
int sess_rel_to_global(const moq_session *s, const char *rel, char *out, size_t outlen);
int sess_may(char *const *list, size_t n, const char *path);

/* session_serve.c: the peer asks, we answer from the origin */
int serve_announce_open(moq_session *s, mstream *st);
int serve_subscribe_open(moq_session *s, mstream *st);
int serve_subscribe_more(moq_session *s, mstream *st);
int serve_track_open(moq_session *s, mstream *st);
void serve_stream_gone(moq_session *s, mstream *st, int by_reset);
void serve_group_stream_closed(moq_session *s, mstream *st);
void serve_retry_pending(moq_session *s);
void serve_wakeup(moq_session *s);
void serve_free_all(moq_session *s);

/* session_consume.c: we ask, the peer answers into the origin */
int sess_owns(const moq_session *s, const broadcast *b);
/* The peer must not see b: its own broadcast, or one from the cluster while it is a cluster peer. */
int sess_hides(const moq_session *s, const broadcast *b);
int consume_open_stream(moq_session *s, consume *c);
int consume_data(moq_session *s, mstream *st);
int up_data(moq_session *s, mstream *st);
int group_in_data(moq_session *s, mstream *st, const uint8_t *data, size_t len);
void group_in_end(moq_session *s, mstream *st, int aborted);
void consume_stream_gone(moq_session *s, mstream *st, int reset, uint64_t code);
void consume_retry_pending(moq_session *s);
void consume_free_all(moq_session *s);
void consume_answer(moq_session *s, uint64_t ticket, int allow);
void serve_answer(moq_session *s, uint64_t ticket, int allow);

#endif
