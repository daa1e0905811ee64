/* moq-bench: a load generator for MoQ relays, on our own client core.
 *
 *   moq-bench --url URL [--publishers P] [--subscribers N] [--tracks T] [--fps F] [--frame-size BYTES]
 *             [--group-frames G] [--duration S] [--warmup S] [--json] [--connect-rate] ...
 *
 * Every publisher and subscriber is a moq session on its own QUIC connection (its own client endpoint
 * and UDP socket), all in this one process on one libuv loop. Publisher p publishes the broadcast
 * <prefix>/p<p> with tracks t0..t<T-1>; subscriber i subscribes to every track of publisher i mod P.
 * Frames carry their send time (the monotonic clock this process shares with itself) and a pattern
 * the subscribers check byte for byte (bench/payload.h).
 *
 * Phases: connect the publishers, then the subscribers (a bounded number of handshakes at a time),
 * wait until every subscriber has a frame on every track, warm up, measure for the duration, let the
 * frames of the window arrive (drain), report. Only frames sent inside the measured window count.
 *
 * --connect-rate instead opens sessions back to back (connect, handshake, moq setup, close), a few at a
 * time, and counts how many complete per second.
 *
 * Each connection has its own origin (a client session imports what it subscribes to into its origin;
 * two subscribers of one broadcast cannot share one), with a short cache. */
#include <errno.h>
#include <stdint.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"

#include "base/log.h"
#include "base/url.h"
#include "bench/payload.h"
#include "bench/stats.h"
#include "bench/watch_stats.h"
#include "moq/quic_binding.h"
#include "moq/session.h"
#include "origin/origin.h"
#include "quic/udp.h"
#include "quic/quic.h"
#include "quic/udp.h"
#include "tls/tls.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* Limits of the options (named, enforced). */
#define MAX_PUBLISHERS 1000
#define MAX_SUBSCRIBERS 20000
#define MAX_TRACKS 64
#define MAX_FRAME_SIZE (16u << 20)
#define MAX_FPS 10000.0
#define DRAIN_MS 1000           /* after the window: frames of the window still arriving */
#define ANNOUNCE_WAIT_MS 300    /* after the publishers are up, before the subscribers come */
#define RETRY_MS 100            /* a subscription that found nothing is tried again after this */
#define CONTROL_MS 100          /* the phase timer */
#define ERRORS_SHOWN 5          /* connection errors printed; the rest are only counted */
/* Our origins keep groups this long (plus a group's duration): origin.c walks every cached group of a
 * track for each new one, so a long cache costs this process most of its CPU with many subscribers. */
#define CACHE_MS 1500
#define STALL_MS 1000           /* a group still arriving after this long: abandon its track (see below) */

typedef struct bench bench;
typedef enum conn_kind { K_PUB, K_SUB, K_PROBE } conn_kind;

typedef enum phase {
  PH_CONNECT_PUBS, /* publishers' handshakes */
  PH_ANNOUNCE,     /* their broadcasts reaching the relay */
  PH_CONNECT_SUBS, /* subscribers' handshakes, until each has a frame on every track */
  PH_WARMUP,
  PH_MEASURE,
  PH_DRAIN,
  PH_STOP,
} phase;

/* One client connection and its session. */
typedef struct bconn {
  bench *B;
  conn_kind kind;
  int idx;
  quic_endpoint *ep;        /* owned until shut down */
  moq_quic_binding binding; /* binding.session: the session, while the connection lives */
  origin *o;                /* owned */
  uint64_t t_start_ns, t_ready_ns;
  int ready, closed, shut;
  struct bconn *next, *prev; /* connect-rate: the probes under way */
} bconn;

/* A publisher's track. */
typedef struct ptrack {
  struct pub *p;
  int ti;
  char name[16];
  track *t;            /* the origin's track, while subscribed (our self sink keeps it) */
  track_sink self;
  group *g;            /* the open group (the source's reference) */
  uint64_t next_group, seq;
  uint32_t in_group;
  uint64_t win_first, win_last; /* groups wholly inside the window: [win_first, win_last] */
  int win_any;
  uint64_t sent_win;   /* frames sent inside the window */
} ptrack;

typedef struct pub {
  bconn c;
  char path[96];
  broadcast *bc;
  ptrack *tracks;      /* owned: T */
  uv_timer_t timer;
  uint64_t next_ns;    /* when the next frame is due */
  int timer_on;
} pub;

/* A subscriber's track. */
typedef struct strack {
  struct sub *s;
  int ti;
  track_sink sink;
  int need_retry, got_first;
  uint64_t retry_at_ns;
  int have_base;
  uint64_t base;       /* first group seen */
  uint32_t *counts;    /* owned: frames received in order, per group (seq - base) */
  size_t cap;
  uint64_t max_group;
  /* Groups begun and not yet done, with their local start times (ms). origin.c's cache_evict releases
   * a group that is still arriving twice once it is older than the cache keeps: before that can
   * happen, the track is abandoned (unsubscribed and counted). */
  struct arriving {
    uint64_t seq, began_ms;
  } *arriving;          /* owned */
  size_t n_arriving, cap_arriving;
  int abandoned;
} strack;

typedef struct sub {
  bconn c;
  int pub;
  strack *tracks;      /* owned: T */
} sub;

struct bench {
  /* options */
  const char *urltext;
  long publishers, subscribers, tracks, group_frames, frame_size, concurrency;
  double fps, duration_s, warmup_s;
  int json, connect_rate, quiet;
  pid_t watch_pid;
  const char *watch_stats_opt; /* --watch-stats HOST:PORT */
  const char *prefix_opt;
  /* set-up */
  uv_loop_t *loop;
  url u;
  char path[3200];
  char prefix[64];
  const char *alpn[8];
  size_t n_alpn;
  struct sockaddr_storage remote;
  socklen_t remotelen;
  struct sockaddr_storage any;
  socklen_t anylen;
  tls_ctx *tls;
  quic_settings qs;
  origin_limits olim;
  uint64_t period_ns;
  /* state */
  phase ph;
  uint64_t t0_ns, phase_ns, win_start_ns, win_end_ns, setup_deadline_ns;
  pub *pubs;
  sub *subs;
  long next_pub, next_sub;       /* next to connect */
  long in_flight;                /* handshakes under way */
  long pubs_ready, subs_ready, subs_flowing;
  long eps_open;                 /* endpoints not yet shut down completely */
  uv_timer_t control;
  uv_signal_t sigint, sigterm;
  int interrupted, stopping, handles_closed;
  uint64_t last_progress_ns;
  /* figures */
  bench_samples latency_us, connect_us;
  bench_samples arrival_us;  /* send to the kernel's arrival of the frame's last datagram (no processing here) */
  bench_samples send_lag_us; /* how late the publishers' timers fired: this process's own delays */
  uint64_t frames_sent, frames_received, bytes_received, frames_corrupt, frames_out_of_order;
  uint64_t groups_out_of_order, groups_lost, frames_expected, tracks_ended;
  uint64_t connect_failures, sessions_closed_early, setup_timeouts, errors_shown, tracks_abandoned;
  uint64_t udp_drops_a, udp_drops_b; /* the system's UDP receive drops (all sockets), at the window's ends */
  int udp_ok;
  uint64_t probes_done, probes_window; /* connect-rate */
  long probes_open;
  bconn *probes;                       /* owned: connect-rate sessions under way */
  bench_proc watch_a, watch_b, self_a, self_b;
  watch_stats stats_a, stats_b; /* the relay's GET /stats at the window's ends (--watch-stats) */
  delay_hist egress;            /* their difference, once the run is over (window_egress) */
  const char *egress_why;       /* borrowed: why there is none, or NULL */
  int exit_code;
};

/* ------------------------------------------------------------------------------------------ */
/* Small helpers */

static uint64_t now_ns(void) { return uv_hrtime(); }

/* CLOCK_REALTIME now (ns): the clock of the kernel's receive timestamps. */
static uint64_t realtime_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die_usage(const char *fmt, const char *arg) {
  fprintf(stderr, "moq-bench: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(try: moq-bench --help)\n");
  exit(EXIT_USAGE);
}

static void conn_error(bench *B, bconn *c, const char *what) {
  if (B->errors_shown++ < ERRORS_SHOWN)
    fprintf(stderr, "moq-bench: %s %d: %s\n", c->kind == K_PUB ? "publisher" : c->kind == K_SUB ? "subscriber" : "session",
            c->idx, what);
}

static void pump_connects(bench *B);
static void start_stop(bench *B);
static void conn_shutdown(bconn *c);

/* ------------------------------------------------------------------------------------------ */
/* Publishing */

static int pub_subscribe(void *ud, track *t) {
  pub *p = ud;
  for (long i = 0; i < p->c.B->tracks; i++)
    if (strcmp(track_name(t), p->tracks[i].name) == 0) {
      p->tracks[i].t = t;
      return 0;
    }
  return -1;
}

static void pub_unsubscribe(void *ud, track *t) {
  pub *p = ud;
  for (long i = 0; i < p->c.B->tracks; i++)
    if (p->tracks[i].t == t) {
      ptrack *pt = &p->tracks[i];
      if (pt->g) group_finish(pt->g, 1);
      pt->g = NULL;
      pt->t = NULL;
    }
}

static void self_done(void *ud, uint64_t code) { (void)ud; (void)code; }
static const track_sink_ops self_ops = {.on_track_done = self_done};

static void publish_frame(bench *B, ptrack *pt) {
  if (!pt->t) return;
  if (!pt->g) {
    pt->g = track_group_begin(pt->t, pt->next_group++);
    pt->in_group = 0;
    if (!pt->g) return;
  }
  chunk *k = chunk_new((size_t)B->frame_size);
  if (!k) return;
  bench_frame_hdr h = {.publisher = (uint16_t)pt->p->c.idx, .track = (uint16_t)pt->ti, .seq = pt->seq,
                       .group = pt->g->seq, .index = pt->in_group, .len = (uint32_t)B->frame_size};
  h.sent_ns = now_ns();
  bench_payload_write(k->data, &h);
  int rv = group_frame_append(pt->g, k, h.sent_ns / 1000000);
  chunk_unref(k);
  pt->seq++;
  pt->in_group++;
  if (B->ph == PH_MEASURE && h.sent_ns >= B->win_start_ns) {
    pt->sent_win++;
    B->frames_sent++;
  }
  if (rv < 0 || pt->in_group >= (uint32_t)B->group_frames) {
    group_finish(pt->g, rv < 0);
    pt->g = NULL;
  }
}

static void pub_tick(uv_timer_t *tm) {
  pub *p = tm->data;
  bench *B = p->c.B;
  uint64_t now = now_ns();
  if (B->ph == PH_MEASURE && now >= p->next_ns) bench_samples_add(&B->send_lag_us, (now - p->next_ns) / 1000);
  if (now - p->next_ns > 1000000000ull && now > p->next_ns) p->next_ns = now; /* stalled: no burst */
  while (p->next_ns <= now) {
    for (long i = 0; i < B->tracks; i++) publish_frame(B, &p->tracks[i]);
    p->next_ns += B->period_ns;
    now = now_ns();
  }
  uint64_t wait = (p->next_ns - now + 999999) / 1000000;
  uv_timer_start(&p->timer, pub_tick, wait, 0);
}

static int pub_start(pub *p) {
  bench *B = p->c.B;
  broadcast_source src = {.subscribe = pub_subscribe, .unsubscribe = pub_unsubscribe, .user_data = p};
  p->bc = origin_publish(p->c.o, p->path, NULL, 0, &src);
  if (!p->bc) return -1;
  for (long i = 0; i < B->tracks; i++) {
    ptrack *pt = &p->tracks[i];
    pt->self.ops = &self_ops;
    pt->self.user_data = pt;
    if (track_subscribe(p->bc, pt->name, &pt->self)) return -1;
  }
  /* publishers start at evenly spread phases of the frame period */
  p->next_ns = now_ns() + B->period_ns * (uint64_t)p->c.idx / (uint64_t)B->publishers;
  p->timer_on = 1;
  uv_timer_start(&p->timer, pub_tick, 0, 0);
  return 0;
}

static void pub_end(pub *p) {
  if (p->timer_on) uv_timer_stop(&p->timer);
  p->timer_on = 0;
  for (long i = 0; p->tracks && i < p->c.B->tracks; i++) {
    ptrack *pt = &p->tracks[i];
    if (pt->g) group_finish(pt->g, 0);
    pt->g = NULL;
    if (pt->t) track_finish(pt->t, 0);
    track_unsubscribe(&pt->self);
  }
  if (p->bc) origin_unpublish(p->c.o, p->bc, 0);
  p->bc = NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Subscribing */

static void arriving_add(strack *st, uint64_t seq) {
  if (st->n_arriving == st->cap_arriving) {
    size_t cap = st->cap_arriving ? st->cap_arriving * 2 : 8;
    struct arriving *a = realloc(st->arriving, cap * sizeof *a);
    if (!a) return;
    st->arriving = a;
    st->cap_arriving = cap;
  }
  st->arriving[st->n_arriving++] = (struct arriving){.seq = seq, .began_ms = now_ns() / 1000000};
}

static void sub_group_done(void *ud, group *g) {
  strack *st = ud;
  for (size_t i = 0; i < st->n_arriving; i++)
    if (st->arriving[i].seq == g->seq) {
      st->arriving[i] = st->arriving[--st->n_arriving];
      return;
    }
}

static void sub_group(void *ud, group *g) {
  strack *st = ud;
  bench *B = st->s->c.B;
  if (!g->done) arriving_add(st, g->seq);
  if (!st->have_base) {
    st->have_base = 1;
    st->base = st->max_group = g->seq;
    return;
  }
  if (g->seq < st->max_group) {
    if (B->ph == PH_MEASURE || B->ph == PH_DRAIN) B->groups_out_of_order++;
  } else {
    st->max_group = g->seq;
  }
}

static uint32_t *group_slot(strack *st, uint64_t seq) {
  if (!st->have_base || seq < st->base) return NULL;
  uint64_t i = seq - st->base;
  if (i >= st->cap) {
    size_t cap = st->cap ? st->cap : 256;
    while (cap <= i) cap *= 2;
    if (cap > (1u << 24)) return NULL;
    uint32_t *c = realloc(st->counts, cap * sizeof *c);
    if (!c) return NULL;
    memset(c + st->cap, 0, (cap - st->cap) * sizeof *c);
    st->counts = c;
    st->cap = cap;
  }
  return &st->counts[i];
}

static void sub_frame(void *ud, group *g, size_t index) {
  strack *st = ud;
  sub *s = st->s;
  bench *B = s->c.B;
  uint64_t now = now_ns();
  chunk *k = g->frames[index].payload;
  bench_frame_hdr h;
  int bad = bench_payload_check(k->data, k->len, &h) != 0 || h.publisher != s->pub || h.track != st->ti ||
            h.group != g->seq || h.index != index;
  if (!st->got_first) {
    st->got_first = 1;
    int all = 1;
    for (long i = 0; i < B->tracks; i++) all &= s->tracks[i].got_first;
    if (all) B->subs_flowing++;
  }
  int in_window = !bad && h.sent_ns >= B->win_start_ns && B->win_start_ns && (!B->win_end_ns || h.sent_ns < B->win_end_ns);
  if (bad) {
    if (B->ph >= PH_WARMUP) B->frames_corrupt++;
    return;
  }
  uint32_t *slot = group_slot(st, g->seq);
  if (slot) {
    if (*slot == index) (*slot)++;
    else if (in_window) B->frames_out_of_order++;
  }
  if (!in_window) return;
  B->frames_received++;
  B->bytes_received += k->len;
  bench_samples_add(&B->latency_us, (now - h.sent_ns) / 1000);
  /* This runs under the receive callback of the datagram that completed the frame: its kernel
   * arrival time leaves out the time this process took to get to it. */
  uint64_t rx = udp_rx_time_ns();
  if (rx) {
    /* The datagram's age on the realtime clock, read now, taken from now on the monotonic one: an
     * offset between the clocks read once would move with every NTP slew or step during the run. */
    uint64_t real = realtime_ns();
    int64_t arrived = (int64_t)now - (real > rx ? (int64_t)(real - rx) : 0);
    bench_samples_add(&B->arrival_us, arrived > (int64_t)h.sent_ns ? (uint64_t)(arrived - (int64_t)h.sent_ns) / 1000 : 0);
  }
}

static int sub_subscribe(strack *st);

static void sub_done(void *ud, uint64_t code) {
  strack *st = ud;
  bench *B = st->s->c.B;
  track_unsubscribe(&st->sink);
  st->n_arriving = 0;
  if (B->stopping) return;
  if (code == MOQ_CODE_NOT_FOUND && B->ph < PH_WARMUP) {
    /* the announcement has not reached the relay yet: ask again shortly */
    st->need_retry = 1;
    st->retry_at_ns = now_ns() + RETRY_MS * 1000000ull;
    return;
  }
  B->tracks_ended++;
  char msg[96];
  snprintf(msg, sizeof msg, "track t%d ended with code %llu", st->ti, (unsigned long long)code);
  conn_error(B, &st->s->c, msg);
}

static const track_sink_ops sub_ops = {.on_group = sub_group, .on_frame = sub_frame, .on_group_done = sub_group_done,
                                       .on_track_done = sub_done};

/* Abandons tracks with a group still arriving STALL_MS after it began (this process is too far
 * behind, or the relay stalled it): see strack. Their missing groups count as lost. */
static void check_stalls(bench *B) {
  uint64_t now = now_ns() / 1000000;
  for (long i = 0; i < B->next_sub; i++) {
    sub *s = &B->subs[i];
    for (long t = 0; t < B->tracks; t++) {
      strack *st = &s->tracks[t];
      if (st->abandoned || !st->sink.track) continue;
      for (size_t k = 0; k < st->n_arriving; k++)
        if (now - st->arriving[k].began_ms > STALL_MS) {
          st->abandoned = 1;
          st->n_arriving = 0;
          B->tracks_abandoned++;
          track_unsubscribe(&st->sink);
          char msg[96];
          snprintf(msg, sizeof msg, "track t%d abandoned: group %llu still arriving after %d ms", st->ti,
                   (unsigned long long)st->arriving[k].seq, STALL_MS);
          conn_error(B, &s->c, msg);
          break;
        }
    }
  }
}

static int sub_subscribe(strack *st) {
  sub *s = st->s;
  bench *B = s->c.B;
  moq_session *ms = s->c.binding.session;
  st->need_retry = 0;
  if (!ms) return -1;
  broadcast *b = moq_session_import(ms, B->pubs[s->pub].path);
  if (!b) return -1;
  char name[16];
  snprintf(name, sizeof name, "t%d", st->ti);
  st->sink.ops = &sub_ops;
  st->sink.user_data = st;
  return track_subscribe(b, name, &st->sink);
}

static void sub_end(sub *s) {
  for (long i = 0; s->tracks && i < s->c.B->tracks; i++) {
    track_unsubscribe(&s->tracks[i].sink);
    s->tracks[i].n_arriving = 0;
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Connections */

/* Once stopping and every endpoint is gone: close our own handles, and the loop ends. */
static void maybe_close_handles(bench *B) {
  if (!B->stopping || B->eps_open > 0 || B->handles_closed) return;
  B->handles_closed = 1;
  uv_close((uv_handle_t *)&B->control, NULL);
  uv_close((uv_handle_t *)&B->sigint, NULL);
  uv_close((uv_handle_t *)&B->sigterm, NULL);
  for (long i = 0; i < B->publishers && B->pubs; i++) uv_close((uv_handle_t *)&B->pubs[i].timer, NULL);
}

static void probe_free(bench *B, bconn *c) {
  if (c->prev) c->prev->next = c->next;
  else B->probes = c->next;
  if (c->next) c->next->prev = c->prev;
  origin_free(c->o);
  free(c);
  B->probes_open--;
}

static void on_ep_done(void *arg) {
  bconn *c = arg;
  bench *B = c->B;
  B->eps_open--;
  if (c->kind == K_PROBE) {
    probe_free(B, c);
    if (!B->stopping) pump_connects(B);
  }
  maybe_close_handles(B);
}

static void conn_shutdown(bconn *c) {
  if (c->shut || !c->ep) return;
  c->shut = 1;
  quic_endpoint_shutdown(c->ep, 0, "bench done", on_ep_done, c);
}

static void session_ready(moq_session *ms, void *ud) {
  bconn *c = ((moq_quic_binding *)ud)->owner;
  bench *B = c->B;
  c->ready = 1;
  c->t_ready_ns = now_ns();
  B->in_flight--;
  uint64_t us = (c->t_ready_ns - c->t_start_ns) / 1000;
  switch (c->kind) {
  case K_PUB:
    bench_samples_add(&B->connect_us, us);
    B->pubs_ready++;
    if (pub_start((pub *)c)) conn_error(B, c, "cannot publish");
    break;
  case K_SUB: {
    bench_samples_add(&B->connect_us, us);
    B->subs_ready++;
    sub *s = (sub *)c;
    for (long i = 0; i < B->tracks; i++)
      if (sub_subscribe(&s->tracks[i])) conn_error(B, c, "cannot subscribe");
    break;
  }
  case K_PROBE:
    B->probes_done++;
    if (B->ph == PH_MEASURE) {
      B->probes_window++;
      bench_samples_add(&B->connect_us, us);
    }
    conn_shutdown(c);
    break;
  }
  if (!B->stopping) pump_connects(B);
}

static void session_closed(moq_session *ms, uint64_t code, const char *reason, void *ud) {
  bconn *c = ((moq_quic_binding *)ud)->owner;
  if (c->kind == K_SUB) sub_end((sub *)c);
}

static const moq_session_events session_events = {.on_ready = session_ready, .on_closed = session_closed};

static void conn_ready(moq_quic_binding *b) {
  bconn *c = b->owner;
  bench *B = c->B;
  moq_session_config sc = {.is_server = 0, .alpn = quic_conn_alpn(b->conn), .path = B->path,
                           .log_id = quic_conn_log_id(b->conn)};
  uint8_t rnd[8];
  quic_random(rnd, sizeof rnd);
  for (int i = 0; i < 6; i++) sc.hop_id = sc.hop_id << 8 | rnd[i];
  sc.hop_id |= 1;
  moq_transport tr;
  moq_quic_transport(&tr, b->conn);
  b->session = moq_session_new(&sc, &tr, c->o, &session_events, b);
  if (!b->session) return;
  /* the relay may subscribe to whatever we publish */
  static const char *const everything[] = {""};
  moq_grants g = {.publish = NULL, .n_publish = 0, .subscribe = everything, .n_subscribe = 1};
  moq_session_set_grants(b->session, "", &g);
}

static void conn_closed(moq_quic_binding *b, const quic_close_info *info) {
  bconn *c = b->owner;
  bench *B = c->B;
  c->closed = 1;
  if (c->shut) return;
  char msg[200];
  if (info->idle) snprintf(msg, sizeof msg, "the connection timed out");
  else
    snprintf(msg, sizeof msg, "the connection closed: %s code %llu%s%s", info->is_app ? "application" : "transport",
             (unsigned long long)info->code, info->reason[0] ? ": " : "", info->reason);
  if (!c->ready) {
    B->in_flight--;
    B->connect_failures++;
  } else {
    B->sessions_closed_early++;
  }
  conn_error(B, c, msg);
  if (c->kind == K_PUB) pub_end((pub *)c);
  /* free the socket now; a probe is replaced by the next one */
  conn_shutdown(c);
}

static int conn_start(bench *B, bconn *c) {
  char err[256];
  c->B = B;
  c->o = origin_new(&B->olim, NULL, NULL);
  c->ep = quic_endpoint_new(B->loop, (struct sockaddr *)&B->any, B->anylen, NULL, &B->qs, NULL, NULL, err, sizeof err);
  if (!c->o || !c->ep) {
    if (!c->ep) conn_error(B, c, err);
    B->connect_failures++;
    return -1;
  }
  B->eps_open++;
  c->binding.ready = conn_ready;
  c->binding.closed = conn_closed;
  c->binding.owner = c;
  c->t_start_ns = now_ns();
  B->in_flight++;
  quic_conn *qc = quic_endpoint_connect(c->ep, (struct sockaddr *)&B->remote, B->remotelen, B->tls, B->u.host, B->alpn,
                                        B->n_alpn, &moq_quic_handler, &c->binding, err, sizeof err);
  if (!qc) {
    B->in_flight--;
    B->connect_failures++;
    conn_error(B, c, err);
    conn_shutdown(c);
    return -1;
  }
  return 0;
}

/* Starts handshakes up to the concurrency allowed in the current phase. */
static void pump_connects(bench *B) {
  if (B->stopping) return;
  if (B->connect_rate) {
    while (B->probes_open < B->concurrency && (B->ph == PH_WARMUP || B->ph == PH_MEASURE)) {
      bconn *c = calloc(1, sizeof *c);
      if (!c) return;
      c->kind = K_PROBE;
      c->idx = (int)B->probes_done;
      c->next = B->probes;
      if (B->probes) B->probes->prev = c;
      B->probes = c;
      B->probes_open++;
      if (conn_start(B, c)) {
        if (!c->ep) probe_free(B, c);
        return; /* the shutdown of a failed start frees it and pumps again */
      }
    }
    return;
  }
  if (B->ph == PH_CONNECT_PUBS) {
    while (B->next_pub < B->publishers && B->in_flight < B->concurrency) conn_start(B, &B->pubs[B->next_pub++].c);
  } else if (B->ph == PH_CONNECT_SUBS) {
    while (B->next_sub < B->subscribers && B->in_flight < B->concurrency) conn_start(B, &B->subs[B->next_sub++].c);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Phases */

static void set_phase(bench *B, phase ph) {
  B->ph = ph;
  B->phase_ns = now_ns();
}

static void window_begin(bench *B) {
  B->win_start_ns = now_ns();
  for (long p = 0; p < B->publishers && !B->connect_rate; p++)
    for (long i = 0; i < B->tracks; i++) {
      ptrack *pt = &B->pubs[p].tracks[i];
      pt->win_first = pt->g ? pt->g->seq + 1 : pt->next_group;
    }
  if (B->watch_pid) bench_proc_read(B->watch_pid, &B->watch_a);
  if (B->watch_stats_opt) watch_stats_get(&B->stats_a);
  bench_proc_read(getpid(), &B->self_a);
  B->udp_ok = bench_udp_drops(&B->udp_drops_a) == 0;
  set_phase(B, PH_MEASURE);
}

static void window_end(bench *B) {
  B->win_end_ns = now_ns();
  if (B->watch_pid) bench_proc_read(B->watch_pid, &B->watch_b);
  if (B->watch_stats_opt) watch_stats_get(&B->stats_b);
  bench_proc_read(getpid(), &B->self_b);
  B->udp_ok &= bench_udp_drops(&B->udp_drops_b) == 0;
  for (long p = 0; p < B->publishers && !B->connect_rate; p++)
    for (long i = 0; i < B->tracks; i++) {
      ptrack *pt = &B->pubs[p].tracks[i];
      /* the last group whose every frame was sent inside the window */
      uint64_t next = pt->g ? pt->g->seq : pt->next_group;
      pt->win_any = next > pt->win_first;
      pt->win_last = pt->win_any ? next - 1 : 0;
    }
}

/* Groups of the window a subscriber did not receive whole. */
static void count_lost(bench *B) {
  for (long i = 0; i < B->subscribers; i++) {
    sub *s = &B->subs[i];
    if (!s->tracks) continue;
    for (long t = 0; t < B->tracks; t++) {
      strack *st = &s->tracks[t];
      ptrack *pt = &B->pubs[s->pub].tracks[t];
      B->frames_expected += pt->sent_win;
      if (!pt->win_any) continue;
      for (uint64_t g = pt->win_first; g <= pt->win_last; g++) {
        int whole = st->have_base && g >= st->base && g - st->base < st->cap &&
                    st->counts[g - st->base] >= (uint32_t)B->group_frames;
        if (!whole) B->groups_lost++;
      }
    }
  }
}

static void progress(bench *B, int final) {
  if (B->json || B->quiet) return;
  uint64_t now = now_ns();
  if (!final && now - B->last_progress_ns < 1000000000ull) return;
  B->last_progress_ns = now;
  static const char *const names[] = {"connect", "announce", "connect", "warm-up", "measure", "drain", "stop"};
  double t = (double)(now - B->t0_ns) / 1e9;
  if (B->connect_rate) {
    fprintf(stderr, "\r[%6.1f s] %-8s sessions %llu (%llu in window) failures %llu   ", t, names[B->ph],
            (unsigned long long)B->probes_done, (unsigned long long)B->probes_window,
            (unsigned long long)B->connect_failures);
  } else {
    fprintf(stderr, "\r[%6.1f s] %-8s pubs %ld/%ld subs %ld/%ld flowing %ld frames rx %llu lost-frames %llu   ", t,
            names[B->ph], B->pubs_ready, B->publishers, B->subs_ready, B->subscribers, B->subs_flowing,
            (unsigned long long)B->frames_received, (unsigned long long)B->frames_corrupt);
  }
  if (final) fputc('\n', stderr);
}

static void on_control(uv_timer_t *tm) {
  bench *B = tm->data;
  uint64_t now = now_ns();
  uint64_t in_phase_ms = (now - B->phase_ns) / 1000000;
  progress(B, 0);
  if (!B->connect_rate && !B->stopping) check_stalls(B);
  if (B->interrupted && B->ph < PH_STOP) {
    if (B->ph == PH_MEASURE) window_end(B);
    start_stop(B);
    return;
  }
  switch (B->ph) {
  case PH_CONNECT_PUBS:
    if (B->pubs_ready + (long)B->connect_failures >= B->publishers && B->in_flight == 0) {
      if (B->pubs_ready == 0) {
        fprintf(stderr, "moq-bench: no publisher could connect\n");
        B->exit_code = EXIT_FAIL;
        start_stop(B);
        return;
      }
      set_phase(B, PH_ANNOUNCE);
    }
    break;
  case PH_ANNOUNCE:
    if (in_phase_ms >= ANNOUNCE_WAIT_MS) {
      set_phase(B, PH_CONNECT_SUBS);
      B->setup_deadline_ns = now + (uint64_t)(30000 + 50 * B->subscribers) * 1000000ull;
      pump_connects(B);
    }
    break;
  case PH_CONNECT_SUBS:
    for (long i = 0; i < B->next_sub; i++) {
      sub *s = &B->subs[i];
      for (long t = 0; t < B->tracks; t++)
        if (s->tracks[t].need_retry && now >= s->tracks[t].retry_at_ns && sub_subscribe(&s->tracks[t]))
          conn_error(B, &s->c, "cannot subscribe");
    }
    if (B->next_sub >= B->subscribers && B->in_flight == 0 &&
        B->subs_flowing + (long)(B->connect_failures + B->sessions_closed_early) >= B->subscribers) {
      set_phase(B, PH_WARMUP);
    } else if (now > B->setup_deadline_ns) {
      B->setup_timeouts = (uint64_t)(B->subscribers - B->subs_flowing);
      fprintf(stderr, "\nmoq-bench: %llu subscriber(s) still without frames after the set-up time; measuring anyway\n",
              (unsigned long long)B->setup_timeouts);
      set_phase(B, PH_WARMUP);
    }
    if (B->ph == PH_WARMUP && B->warmup_s <= 0) window_begin(B);
    break;
  case PH_WARMUP:
    if (in_phase_ms >= (uint64_t)(B->warmup_s * 1000)) window_begin(B);
    if (B->connect_rate) pump_connects(B);
    break;
  case PH_MEASURE:
    if (in_phase_ms >= (uint64_t)(B->duration_s * 1000)) {
      window_end(B);
      if (B->connect_rate) start_stop(B);
      else set_phase(B, PH_DRAIN);
    }
    break;
  case PH_DRAIN:
    if (in_phase_ms >= DRAIN_MS) start_stop(B);
    break;
  case PH_STOP: break;
  }
}

static void start_stop(bench *B) {
  if (B->stopping) return;
  progress(B, 1);
  set_phase(B, PH_STOP);
  B->stopping = 1;
  uv_timer_stop(&B->control);
  if (!B->connect_rate) count_lost(B);
  for (long i = 0; i < B->subscribers && B->subs; i++) sub_end(&B->subs[i]);
  for (long i = 0; i < B->publishers && B->pubs; i++) pub_end(&B->pubs[i]);
  for (long i = 0; i < B->next_sub; i++) conn_shutdown(&B->subs[i].c);
  for (long i = 0; i < B->next_pub; i++) conn_shutdown(&B->pubs[i].c);
  for (bconn *c = B->probes; c; c = c->next) conn_shutdown(c);
  maybe_close_handles(B);
}

/* The event loop stopped making progress (a callback that never returns): say so and leave. */
static void on_watchdog(int sig) {
  static const char msg[] = "\nmoq-bench: watchdog: the run took far longer than planned (a stuck event loop?)\n";
  (void)sig;
  ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)w;
  _exit(EXIT_FAIL);
}

static void on_signal(uv_signal_t *h, int signum) {
  bench *B = h->data;
  (void)signum;
  if (B->interrupted) exit(EXIT_FAIL);
  B->interrupted = 1;
}

/* ------------------------------------------------------------------------------------------ */
/* Report */

static double ms(uint32_t us) { return us / 1000.0; }

static void json_string(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') printf("\\%c", ch);
    else if (ch < 0x20) printf("\\u%04x", ch);
    else putchar(ch);
  }
  putchar('"');
}

/* The relay's egress delays in the window (--watch-stats): B->egress, the second reading less the
 * first, or B->egress_why when a reading failed. */
static void window_egress(bench *B) {
  B->egress_why = NULL;
  if (!B->stats_a.done || !B->stats_b.done) B->egress_why = "the window did not finish";
  else if (!B->stats_a.ok || !B->stats_b.ok) B->egress_why = B->stats_a.ok ? B->stats_b.err : B->stats_a.err;
  if (B->egress_why) return;
  for (unsigned i = 0; i < DELAY_HIST_BUCKETS; i++)
    B->egress.n[i] = B->stats_b.hist.n[i] > B->stats_a.hist.n[i] ? B->stats_b.hist.n[i] - B->stats_a.hist.n[i] : 0;
}

static void report_json(bench *B, double window_s) {
  printf("{\"mode\":\"%s\",\"url\":", B->connect_rate ? "connect-rate" : "fanout");
  json_string(B->urltext);
  putchar(',');
  printf("\"publishers\":%ld,\"subscribers\":%ld,\"tracks\":%ld,\"fps\":%g,\"frame_size\":%ld,\"group_frames\":%ld,",
         B->connect_rate ? 0 : B->publishers, B->connect_rate ? 0 : B->subscribers, B->tracks, B->fps, B->frame_size,
         B->group_frames);
  printf("\"warmup_s\":%g,\"duration_s\":%.3f,", B->warmup_s, window_s);
  if (B->connect_rate) {
    printf("\"concurrency\":%ld,\"sessions\":%llu,\"sessions_per_s\":%.1f,\"connect_failures\":%llu,", B->concurrency,
           (unsigned long long)B->probes_window, window_s > 0 ? B->probes_window / window_s : 0.0,
           (unsigned long long)B->connect_failures);
  } else {
    uint64_t most = 0; /* groups (streams) of the busiest track since its publisher started */
    for (long p = 0; p < B->publishers; p++)
      for (long t = 0; t < B->tracks; t++)
        if (B->pubs[p].tracks[t].next_group > most) most = B->pubs[p].tracks[t].next_group;
    printf("\"frames_sent\":%llu,\"frames_expected\":%llu,\"frames_received\":%llu,\"bytes_received\":%llu,"
           "\"groups_published\":%llu,",
           (unsigned long long)B->frames_sent, (unsigned long long)B->frames_expected,
           (unsigned long long)B->frames_received, (unsigned long long)B->bytes_received, (unsigned long long)most);
    printf("\"groups_lost\":%llu,\"groups_out_of_order\":%llu,\"frames_out_of_order\":%llu,\"frames_corrupt\":%llu,",
           (unsigned long long)B->groups_lost, (unsigned long long)B->groups_out_of_order,
           (unsigned long long)B->frames_out_of_order, (unsigned long long)B->frames_corrupt);
    printf("\"tracks_ended\":%llu,\"tracks_abandoned\":%llu,\"connect_failures\":%llu,\"sessions_closed\":%llu,"
           "\"setup_timeouts\":%llu,",
           (unsigned long long)B->tracks_ended, (unsigned long long)B->tracks_abandoned,
           (unsigned long long)B->connect_failures, (unsigned long long)B->sessions_closed_early,
           (unsigned long long)B->setup_timeouts);
    printf("\"latency_us\":{\"p50\":%u,\"p90\":%u,\"p99\":%u,\"p999\":%u,\"max\":%u,\"samples\":%zu},",
           bench_samples_pct(&B->latency_us, 50), bench_samples_pct(&B->latency_us, 90),
           bench_samples_pct(&B->latency_us, 99), bench_samples_pct(&B->latency_us, 99.9),
           bench_samples_pct(&B->latency_us, 100), B->latency_us.n);
    printf("\"arrival_us\":{\"p50\":%u,\"p90\":%u,\"p99\":%u,\"p999\":%u,\"max\":%u,\"samples\":%zu},",
           bench_samples_pct(&B->arrival_us, 50), bench_samples_pct(&B->arrival_us, 90),
           bench_samples_pct(&B->arrival_us, 99), bench_samples_pct(&B->arrival_us, 99.9),
           bench_samples_pct(&B->arrival_us, 100), B->arrival_us.n);
    printf("\"send_lag_us\":{\"p50\":%u,\"p99\":%u,\"max\":%u},", bench_samples_pct(&B->send_lag_us, 50),
           bench_samples_pct(&B->send_lag_us, 99), bench_samples_pct(&B->send_lag_us, 100));
  }
  printf("\"connect_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f},", ms(bench_samples_pct(&B->connect_us, 50)),
         ms(bench_samples_pct(&B->connect_us, 99)), ms(bench_samples_pct(&B->connect_us, 100)));
  printf("\"bench_cpu_s\":%.2f,\"bench_runq_s\":%.2f", B->self_b.ok && B->self_a.ok ? B->self_b.cpu_s - B->self_a.cpu_s : 0.0,
         B->self_b.ok && B->self_a.ok ? B->self_b.runq_s - B->self_a.runq_s : 0.0);
  if (B->udp_ok) printf(",\"udp_rcvbuf_drops\":%llu", (unsigned long long)(B->udp_drops_b - B->udp_drops_a));
  if (B->watch_pid) {
    int ok = B->watch_a.ok && B->watch_b.ok;
    printf(",\"watch\":{\"pid\":%d,\"ok\":%s,\"cpu_s\":%.2f,\"user_s\":%.2f,\"sys_s\":%.2f,\"runq_s\":%.2f,"
           "\"rss_kib\":%llu,\"hwm_kib\":%llu}",
           (int)B->watch_pid, ok ? "true" : "false", ok ? B->watch_b.cpu_s - B->watch_a.cpu_s : 0.0,
           ok ? B->watch_b.user_s - B->watch_a.user_s : 0.0, ok ? B->watch_b.sys_s - B->watch_a.sys_s : 0.0,
           ok ? B->watch_b.runq_s - B->watch_a.runq_s : 0.0, (unsigned long long)B->watch_b.rss_kib,
           (unsigned long long)B->watch_b.hwm_kib);
  }
  if (B->watch_stats_opt) {
    const delay_hist *h = &B->egress;
    if (!B->egress_why)
      printf(",\"relay_egress_delay_us\":{\"count\":%llu,\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,\"max\":%llu}",
             (unsigned long long)delay_hist_count(h), (unsigned long long)delay_hist_pct(h, 50),
             (unsigned long long)delay_hist_pct(h, 90), (unsigned long long)delay_hist_pct(h, 99),
             (unsigned long long)delay_hist_pct(h, 100));
    else
      printf(",\"relay_egress_delay_us\":{\"error\":\"%s\"}", B->egress_why); /* our own messages: no quotes */
  }
  printf("}\n");
}

static void report_table(bench *B, double window_s) {
  printf("moq-bench %s against %s\n", PACKAGE_VERSION, B->urltext);
  if (B->connect_rate) {
    printf("  mode             connect-rate, %ld at a time, %.1f s measured after %.1f s warm-up\n", B->concurrency,
           window_s, B->warmup_s);
    printf("  sessions         %llu (%.1f per second), %llu failed\n", (unsigned long long)B->probes_window,
           window_s > 0 ? B->probes_window / window_s : 0.0, (unsigned long long)B->connect_failures);
  } else {
    printf("  load             %ld publisher(s) -> %ld subscriber(s), %ld track(s), %g fps x %ld B, %ld frame(s) per group\n",
           B->publishers, B->subscribers, B->tracks, B->fps, B->frame_size, B->group_frames);
    printf("  window           %.1f s measured after %.1f s warm-up\n", window_s, B->warmup_s);
    double pct = B->frames_expected ? 100.0 * (double)B->frames_received / (double)B->frames_expected : 0.0;
    printf("  frames           %llu sent, %llu of %llu received (%.2f %%)\n", (unsigned long long)B->frames_sent,
           (unsigned long long)B->frames_received, (unsigned long long)B->frames_expected, pct);
    double rate = window_s > 0 ? (double)B->bytes_received / window_s : 0.0;
    printf("  bytes received   %llu (%.1f MB/s, %.0f Mbit/s)\n", (unsigned long long)B->bytes_received, rate / 1e6,
           rate * 8 / 1e6);
    printf("  groups           %llu lost, %llu out of order; frames %llu corrupt, %llu out of order\n",
           (unsigned long long)B->groups_lost, (unsigned long long)B->groups_out_of_order,
           (unsigned long long)B->frames_corrupt, (unsigned long long)B->frames_out_of_order);
    if (B->connect_failures || B->sessions_closed_early || B->tracks_ended || B->setup_timeouts || B->tracks_abandoned)
      printf("  failures         %llu connects, %llu sessions closed, %llu tracks ended, %llu abandoned, %llu never flowing\n",
             (unsigned long long)B->connect_failures, (unsigned long long)B->sessions_closed_early,
             (unsigned long long)B->tracks_ended, (unsigned long long)B->tracks_abandoned,
             (unsigned long long)B->setup_timeouts);
    printf("  latency (ms)     p50 %.3f  p90 %.3f  p99 %.3f  max %.3f  (%zu samples)\n",
           ms(bench_samples_pct(&B->latency_us, 50)), ms(bench_samples_pct(&B->latency_us, 90)),
           ms(bench_samples_pct(&B->latency_us, 99)), ms(bench_samples_pct(&B->latency_us, 100)), B->latency_us.n);
    printf("  arrival (ms)     p50 %.3f  p90 %.3f  p99 %.3f  max %.3f  (to the kernel's receipt of the frame: without this\n"
           "                   process's own queueing)\n",
           ms(bench_samples_pct(&B->arrival_us, 50)), ms(bench_samples_pct(&B->arrival_us, 90)),
           ms(bench_samples_pct(&B->arrival_us, 99)), ms(bench_samples_pct(&B->arrival_us, 100)));
    printf("  send lag (ms)    p50 %.3f  p99 %.3f  max %.3f  (publisher timers firing late: this process's delays)\n",
           ms(bench_samples_pct(&B->send_lag_us, 50)), ms(bench_samples_pct(&B->send_lag_us, 99)),
           ms(bench_samples_pct(&B->send_lag_us, 100)));
  }
  if (B->udp_ok)
    printf("  UDP drops        %llu datagrams dropped for full receive buffers (whole system)\n",
           (unsigned long long)(B->udp_drops_b - B->udp_drops_a));
  printf("  connect (ms)     p50 %.2f  p99 %.2f  max %.2f\n", ms(bench_samples_pct(&B->connect_us, 50)),
         ms(bench_samples_pct(&B->connect_us, 99)), ms(bench_samples_pct(&B->connect_us, 100)));
  if (B->self_a.ok && B->self_b.ok)
    printf("  moq-bench        %.2f s CPU (%.0f %% of a core), %.2f s waiting for a CPU\n", B->self_b.cpu_s - B->self_a.cpu_s,
           window_s > 0 ? 100 * (B->self_b.cpu_s - B->self_a.cpu_s) / window_s : 0.0, B->self_b.runq_s - B->self_a.runq_s);
  if (B->watch_pid && B->watch_a.ok && B->watch_b.ok) {
    double cpu = B->watch_b.cpu_s - B->watch_a.cpu_s;
    printf("  pid %-12d %.2f s CPU (%.0f %% of a core; user %.2f s, system %.2f s), %.2f s waiting for a CPU, "
           "RSS %.1f MiB (peak %.1f MiB)",
           (int)B->watch_pid, cpu, window_s > 0 ? 100 * cpu / window_s : 0.0, B->watch_b.user_s - B->watch_a.user_s,
           B->watch_b.sys_s - B->watch_a.sys_s, B->watch_b.runq_s - B->watch_a.runq_s,
           B->watch_b.rss_kib / 1024.0, B->watch_b.hwm_kib / 1024.0);
    if (!B->connect_rate && B->bytes_received) printf(", %.3f ns CPU per byte received", cpu * 1e9 / (double)B->bytes_received);
    if (B->connect_rate && cpu > 0) printf(", %.0f sessions per CPU second", B->probes_window / cpu);
    printf("\n");
  } else if (B->watch_pid) {
    printf("  pid %-12d could not be read from /proc\n", (int)B->watch_pid);
  }
  if (B->watch_stats_opt) {
    const delay_hist *h = &B->egress;
    if (!B->egress_why)
      printf("  egress (ms)      p50 %.3f  p90 %.3f  p99 %.3f  max %.3f  (the relay's own delay, from its GET /stats: %llu frames)\n",
             ms(delay_hist_pct(h, 50)), ms(delay_hist_pct(h, 90)), ms(delay_hist_pct(h, 99)),
             ms(delay_hist_pct(h, 100)), (unsigned long long)delay_hist_count(h));
    else
      printf("  egress           not read from the relay: %s\n", B->egress_why);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Options */

static void usage(FILE *f) {
  fprintf(f,
          "Usage: moq-bench --url URL [OPTIONS]\n"
          "\n"
          "Loads a MoQ relay with many publisher and subscriber sessions (one QUIC connection each) and\n"
          "measures delivery, latency and set-up times.\n"
          "\n"
          "  --url URL               moql://HOST[:PORT]/[PATH] (raw QUIC)\n"
          "  --tls-disable-verify    do not check the relay's certificate\n"
          "  --tls-root FILE         check it against these CA certificates (PEM)\n"
          "  --tls-fingerprint HEX   accept exactly the certificate with this SHA-256\n"
          "  --alpn NAME             offer only this protocol (moq-lite-05 .. moq-lite-03, moql)\n"
          "  --publishers P          publishing sessions (default 1)\n"
          "  --subscribers N         subscribing sessions, spread over the publishers (default 1)\n"
          "  --tracks T              tracks per broadcast (default 1)\n"
          "  --fps F                 frames per second per track (default 60)\n"
          "  --frame-size BYTES      bytes per frame, at least %d (default 4096)\n"
          "  --group-frames G        frames per group (default 1)\n"
          "  --duration S            measured seconds (default 10)\n"
          "  --warmup S              seconds before measuring (default 2)\n"
          "  --concurrency K         handshakes under way at once (default 32; connect-rate: 8)\n"
          "  --prefix NAME           broadcasts are NAME/p0 .. (default bench-PID)\n"
          "  --watch-pid PID         read PID's CPU time and RSS from /proc at the window's ends\n"
          "  --watch-stats HOST:PORT read the relay's GET /stats there at the window's ends: its egress delay\n"
          "  --connect-rate          measure new sessions per second (connect, handshake, setup, close)\n"
          "  --json                  print one JSON object instead of the table (no progress line)\n"
          "  --quiet                 no progress line\n"
          "  --log-level LEVEL       error (default), warn, info, debug, trace\n"
          "  --help, --version\n",
          BENCH_HDR_LEN);
}

static double parse_num(const char *opt, const char *s, double lo, double hi) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= lo && v <= hi)) {
    fprintf(stderr, "moq-bench: %s: expected a number from %g to %g, got \"%s\"\n(try: moq-bench --help)\n", opt, lo, hi, s);
    exit(EXIT_USAGE);
  }
  return v;
}

static long parse_int(const char *opt, const char *s, long lo, long hi) {
  double v = parse_num(opt, s, (double)lo, (double)hi);
  if (v != floor(v)) die_usage("%s: expected a whole number", opt);
  return (long)v;
}

static void raise_fd_limit(long want) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl)) return;
  if (rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur < want) {
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || (long)rl.rlim_max > want ? (rlim_t)want : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

int main(int argc, char **argv) {
  static bench b; /* large: keep it off the stack */
  bench *B = &b;
  B->publishers = B->subscribers = B->tracks = B->group_frames = 1;
  B->frame_size = 4096;
  B->fps = 60;
  B->duration_s = 10;
  B->warmup_s = 2;
  B->concurrency = -1;
  tls_client_options topt = {.verify = TLS_VERIFY_SYSTEM};
  const char *alpn_only = NULL;
  log_set_level(LOG_ERROR);
  enum { O_URL = 256, O_PUBS, O_SUBS, O_TRACKS, O_FPS, O_SIZE, O_GROUP, O_DUR, O_WARM, O_CONC, O_PREFIX, O_WATCH, O_WATCH_STATS,
         O_RATE, O_JSON, O_QUIET };
  static const struct option opts[] = {
      {"url", required_argument, 0, O_URL},           {"tls-disable-verify", no_argument, 0, 'k'},
      {"tls-root", required_argument, 0, 'r'},        {"tls-fingerprint", required_argument, 0, 'f'},
      {"alpn", required_argument, 0, 'a'},            {"publishers", required_argument, 0, O_PUBS},
      {"subscribers", required_argument, 0, O_SUBS},  {"tracks", required_argument, 0, O_TRACKS},
      {"fps", required_argument, 0, O_FPS},           {"frame-size", required_argument, 0, O_SIZE},
      {"group-frames", required_argument, 0, O_GROUP}, {"duration", required_argument, 0, O_DUR},
      {"warmup", required_argument, 0, O_WARM},       {"concurrency", required_argument, 0, O_CONC},
      {"prefix", required_argument, 0, O_PREFIX},     {"watch-pid", required_argument, 0, O_WATCH},
      {"watch-stats", required_argument, 0, O_WATCH_STATS},
      {"connect-rate", no_argument, 0, O_RATE},       {"json", no_argument, 0, O_JSON},
      {"quiet", no_argument, 0, O_QUIET},             {"log-level", required_argument, 0, 'l'},
      {"help", no_argument, 0, 'h'},                  {"version", no_argument, 0, 'V'},
      {0, 0, 0, 0}};
  int o;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (o) {
    case O_URL: B->urltext = optarg; break;
    case 'k': topt.verify = TLS_VERIFY_NONE; break;
    case 'r': topt.verify = TLS_VERIFY_CA_FILE; topt.ca_file = optarg; break;
    case 'f': topt.verify = TLS_VERIFY_FINGERPRINT; topt.fingerprint = optarg; break;
    case 'a': alpn_only = optarg; break;
    case O_PUBS: B->publishers = parse_int("--publishers", optarg, 1, MAX_PUBLISHERS); break;
    case O_SUBS: B->subscribers = parse_int("--subscribers", optarg, 0, MAX_SUBSCRIBERS); break;
    case O_TRACKS: B->tracks = parse_int("--tracks", optarg, 1, MAX_TRACKS); break;
    case O_FPS: B->fps = parse_num("--fps", optarg, 0.1, MAX_FPS); break;
    case O_SIZE: B->frame_size = parse_int("--frame-size", optarg, BENCH_HDR_LEN, MAX_FRAME_SIZE); break;
    case O_GROUP: B->group_frames = parse_int("--group-frames", optarg, 1, 65535); break;
    case O_DUR: B->duration_s = parse_num("--duration", optarg, 0.1, 86400); break;
    case O_WARM: B->warmup_s = parse_num("--warmup", optarg, 0, 3600); break;
    case O_CONC: B->concurrency = parse_int("--concurrency", optarg, 1, 10000); break;
    case O_PREFIX: B->prefix_opt = optarg; break;
    case O_WATCH: B->watch_pid = (pid_t)parse_int("--watch-pid", optarg, 1, 1L << 30); break;
    case O_WATCH_STATS: B->watch_stats_opt = optarg; break;
    case O_RATE: B->connect_rate = 1; break;
    case O_JSON: B->json = 1; break;
    case O_QUIET: B->quiet = 1; break;
    case 'l': {
      log_level lv;
      if (log_level_parse(optarg, &lv)) die_usage("--log-level: expected error, warn, info, debug or trace, got \"%s\"", optarg);
      log_set_level(lv);
      break;
    }
    case 'h': usage(stdout); return EXIT_OK;
    case 'V': printf("moq-bench %s\n", PACKAGE_VERSION); return EXIT_OK;
    default: usage(stderr); return EXIT_USAGE;
    }
  }
  if (optind < argc) die_usage("unexpected argument \"%s\"", argv[optind]);
  if (!B->urltext) die_usage("%s is required", "--url");
  if (B->concurrency < 0) B->concurrency = B->connect_rate ? 8 : 32;
  char err[512];
  if (url_parse(B->urltext, &B->u, err, sizeof err)) die_usage("%s", err);
  if (strcmp(B->u.scheme, "moql") && strcmp(B->u.scheme, "moqt"))
    die_usage("%s: only moql:// (raw QUIC) URLs are supported", B->urltext);
  url_path_and_query(&B->u, B->path, sizeof B->path);
  if (B->prefix_opt) {
    if (strlen(B->prefix_opt) > 40 || moq_path_normalize(moq_str_c(B->prefix_opt), B->prefix, sizeof B->prefix) < 0)
      die_usage("--prefix: expected a short broadcast path, got \"%s\"", B->prefix_opt);
  } else {
    snprintf(B->prefix, sizeof B->prefix, "bench-%d", (int)getpid());
  }
  if (alpn_only) {
    B->alpn[B->n_alpn++] = alpn_only;
  } else {
    static const char *const offer[] = {"moq-lite-05", "moq-lite-04", "moq-lite-03", "moql"};
    for (size_t i = 0; i < 4; i++) B->alpn[B->n_alpn++] = offer[i];
  }
  for (size_t i = 0; i < B->n_alpn; i++) {
    moq_version v;
    if (moq_version_from_alpn(B->alpn[i], strlen(B->alpn[i]), &v) < 0)
      die_usage("--alpn: expected moq-lite-05, moq-lite-04, moq-lite-03 or moql, got \"%s\"", B->alpn[i]);
  }
  if (!B->connect_rate && B->subscribers < 1) die_usage("--subscribers: at least %s", "1");

  char port[8];
  snprintf(port, sizeof port, "%d", B->u.port);
  struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *res = NULL;
  int gai = getaddrinfo(B->u.host, port, &hints, &res);
  if (gai != 0 || !res) {
    fprintf(stderr, "moq-bench: %s: %s\n", B->u.host, gai_strerror(gai));
    return EXIT_FAIL;
  }
  memcpy(&B->remote, res->ai_addr, res->ai_addrlen);
  B->remotelen = res->ai_addrlen;
  B->any.ss_family = (sa_family_t)res->ai_family;
  B->anylen = res->ai_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  freeaddrinfo(res);

  signal(SIGPIPE, SIG_IGN);
  raise_fd_limit(B->connect_rate ? 4 * B->concurrency + 256 : B->publishers + B->subscribers + 256);
  tls_global_init();
  B->tls = tls_client_ctx_new(&topt, err, sizeof err);
  if (!B->tls) {
    fprintf(stderr, "moq-bench: %s\n", err);
    return EXIT_USAGE;
  }
  if (bench_payload_init((size_t)B->frame_size)) {
    fprintf(stderr, "moq-bench: out of memory\n");
    return EXIT_FAIL;
  }
  quic_settings_default(&B->qs);
  B->qs.rx_timestamps = 1; /* arrival_us */
  origin_limits_default(&B->olim);
  /* Our origins only pass frames through: evict by age only, and abandon a track before one of its
   * groups can be that old (check_stalls). This keeps about 1.5 s of each track in memory per
   * connection. */
  B->olim.cache_ms = CACHE_MS + (uint64_t)(1000.0 * (double)B->group_frames / B->fps);
  B->olim.cache_track_bytes = SIZE_MAX;
  B->period_ns = (uint64_t)(1e9 / B->fps);
  B->loop = uv_default_loop();
  if (B->watch_stats_opt && (watch_stats_init(&B->stats_a, B->loop, B->watch_stats_opt, err, sizeof err) ||
                             watch_stats_init(&B->stats_b, B->loop, B->watch_stats_opt, err, sizeof err)))
    die_usage("--watch-stats: %s", err);

  if (!B->connect_rate) {
    B->pubs = calloc((size_t)B->publishers, sizeof *B->pubs);
    B->subs = calloc((size_t)B->subscribers, sizeof *B->subs);
    if (!B->pubs || !B->subs) {
      fprintf(stderr, "moq-bench: out of memory\n");
      return EXIT_FAIL;
    }
    for (long i = 0; i < B->publishers; i++) {
      pub *p = &B->pubs[i];
      p->c.B = B;
      p->c.kind = K_PUB;
      p->c.idx = (int)i;
      snprintf(p->path, sizeof p->path, "%.60s/p%ld", B->prefix, i);
      p->tracks = calloc((size_t)B->tracks, sizeof *p->tracks);
      if (!p->tracks) return EXIT_FAIL;
      for (long t = 0; t < B->tracks; t++) {
        p->tracks[t].p = p;
        p->tracks[t].ti = (int)t;
        snprintf(p->tracks[t].name, sizeof p->tracks[t].name, "t%d", (int)t);
      }
      uv_timer_init(B->loop, &p->timer);
      p->timer.data = p;
    }
    for (long i = 0; i < B->subscribers; i++) {
      sub *s = &B->subs[i];
      s->c.B = B;
      s->c.kind = K_SUB;
      s->c.idx = (int)i;
      s->pub = (int)(i % B->publishers);
      s->tracks = calloc((size_t)B->tracks, sizeof *s->tracks);
      if (!s->tracks) return EXIT_FAIL;
      for (long t = 0; t < B->tracks; t++) {
        s->tracks[t].s = s;
        s->tracks[t].ti = (int)t;
      }
    }
  }
  uv_timer_init(B->loop, &B->control);
  B->control.data = B;
  uv_signal_init(B->loop, &B->sigint);
  uv_signal_init(B->loop, &B->sigterm);
  B->sigint.data = B->sigterm.data = B;
  uv_signal_start(&B->sigint, on_signal, SIGINT);
  uv_signal_start(&B->sigterm, on_signal, SIGTERM);

  B->t0_ns = now_ns();
  /* the longest a run can take: set-up, warm-up, window, drain and closing, with a wide margin */
  double planned = 30 + 0.05 * (double)B->subscribers + B->warmup_s + B->duration_s + DRAIN_MS / 1000.0;
  signal(SIGALRM, on_watchdog);
  alarm((unsigned)(2 * planned + 60));
  if (B->connect_rate) {
    set_phase(B, PH_WARMUP);
    if (B->warmup_s <= 0) window_begin(B);
  } else {
    set_phase(B, PH_CONNECT_PUBS);
  }
  pump_connects(B);
  uv_timer_start(&B->control, on_control, CONTROL_MS, CONTROL_MS);
  uv_run(B->loop, UV_RUN_DEFAULT);

  double window_s = B->win_start_ns && B->win_end_ns ? (double)(B->win_end_ns - B->win_start_ns) / 1e9 : 0.0;
  bench_samples_sort(&B->latency_us);
  bench_samples_sort(&B->arrival_us);
  bench_samples_sort(&B->connect_us);
  bench_samples_sort(&B->send_lag_us);
  if (B->watch_stats_opt) {
    window_egress(B);
    if (B->egress_why) fprintf(stderr, "moq-bench: --watch-stats %s: %s\n", B->watch_stats_opt, B->egress_why);
  }
  if (B->json) report_json(B, window_s);
  else report_table(B, window_s);
  watch_stats_free(&B->stats_a);
  watch_stats_free(&B->stats_b);
  fflush(stdout);
  int code = B->exit_code;
  if (!code && !window_s) code = EXIT_FAIL; /* interrupted before anything was measured */

  for (long i = 0; i < B->publishers && B->pubs; i++) {
    origin_free(B->pubs[i].c.o);
    free(B->pubs[i].tracks);
  }
  for (long i = 0; i < B->subscribers && B->subs; i++) {
    origin_free(B->subs[i].c.o);
    for (long t = 0; t < B->tracks; t++) {
      free(B->subs[i].tracks[t].counts);
      free(B->subs[i].tracks[t].arriving);
    }
    free(B->subs[i].tracks);
  }
  free(B->pubs);
  free(B->subs);
  bench_samples_free(&B->latency_us);
  bench_samples_free(&B->arrival_us);
  bench_samples_free(&B->connect_us);
  bench_samples_free(&B->send_lag_us);
  bench_payload_free();
  uv_loop_close(B->loop);
  tls_ctx_free(B->tls);
  tls_global_cleanup();
  return code;
}
