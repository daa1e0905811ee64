#include "worker/worker.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "quic/quic.h"
#include "relay/quota.h"
#include "relay/relay.h"
#include "worker/bridge.h"
#include "worker/mailbox.h"

/* Mail between workers besides the bridges' (core/worker/bridge.c numbers its own from 100). */
enum { W_FORWARD = 1, W_STOP, W_RELOAD };

typedef struct fwd_mail { /* a datagram that reached the wrong worker's socket */
  mail m;
  udp_addr local, remote;
  uint8_t ecn;
  size_t len;
  uint8_t data[];        /* owned */
} fwd_mail;

typedef struct worker {
  worker_group *wg;      /* borrowed: the owner */
  unsigned index;
  uv_loop_t own_loop;    /* workers 1..n-1 */
  uv_loop_t *loop;       /* &own_loop, or the caller's for worker 0 */
  int loop_init;
  relay *relay;          /* owned until its shutdown completes */
  bridge *bridge;        /* owned; NULL with one worker */
  mailbox box;           /* with several workers */
  int box_init;
  pthread_t thread;
  int thread_started;
  int clean;             /* the thread's loop closed every handle */
  uv_timer_t deadline;
  int deadline_init;
  int stopping;
  uint64_t forwarded;    /* datagrams this worker's socket got for another worker (its thread only) */
} worker;

struct worker_group {
  const relay_config *cfg; /* borrowed */
  unsigned n;
  worker *w;               /* owned array of n */
  mailbox **boxes;         /* owned array of n pointers into w[] */
  session_quota quota;
  int quota_init;
  stats_board stats;       /* every worker's figures for worker 0's GET /stats */
  void (*done)(void *);
  void *done_arg;
};

static void mail_free(mail *m) { free(m); }

static void forward(void *ud, unsigned to, const udp_addr *local, const udp_addr *remote, const uint8_t *data,
                    size_t len, uint8_t ecn) {
  worker *w = ud;
  if (to >= w->wg->n) return;
  w->forwarded++;
  fwd_mail *f = malloc(sizeof *f + len);
  if (!f) return; /* dropped, as by a full socket buffer */
  f->m.kind = W_FORWARD;
  f->m.discard = mail_free;
  f->local = *local;
  f->remote = *remote;
  f->ecn = ecn;
  f->len = len;
  memcpy(f->data, data, len);
  if (mailbox_post(&w->wg->w[to].box, &f->m)) free(f);
}

static void deadline_closed(uv_handle_t *h) { (void)h; }

static void worker_closed(void *arg) {
  worker *w = arg;
  w->relay = NULL;
  if (w->box_init) mailbox_close(&w->box);
  if (w->deadline_init) {
    uv_timer_stop(&w->deadline);
    uv_close((uv_handle_t *)&w->deadline, deadline_closed);
  }
  if (w->index == 0 && w->wg->done) w->wg->done(w->wg->done_arg);
}

static void on_deadline(uv_timer_t *t) {
  worker *w = t->data;
  LOG_WRN("shutdown_timeout", "worker=%u reason=\"connections did not close in time\"", w->index);
  uv_stop(t->loop);
}

/* On w's own loop. */
static void worker_stop(worker *w) {
  if (w->stopping) return;
  w->stopping = 1;
  if (w->wg->n > 1)
    LOG_INF("worker_stopping", "worker=%u sessions=%zu forwarded=%llu imported=%zu exported_tracks=%zu", w->index,
            w->relay ? relay_session_count(w->relay) : 0, (unsigned long long)w->forwarded,
            w->bridge ? bridge_imported(w->bridge) : 0, w->bridge ? bridge_exported_tracks(w->bridge) : 0);
  if (w->bridge) bridge_close(w->bridge);
  if (w->index > 0) { /* worker 0's deadline is the caller's */
    uv_timer_init(w->loop, &w->deadline);
    w->deadline.data = w;
    w->deadline_init = 1;
    uv_timer_start(&w->deadline, on_deadline, 3000, 0);
  }
  if (w->relay) relay_shutdown(w->relay, worker_closed, w);
  else worker_closed(w);
}

static void on_mail(void *ud, mail *m) {
  worker *w = ud;
  if (bridge_is_mail(m)) {
    if (w->bridge) bridge_receive(w->bridge, m);
    else m->discard(m);
    return;
  }
  switch (m->kind) {
  case W_FORWARD: {
    fwd_mail *f = (fwd_mail *)m;
    if (w->relay && !w->stopping)
      quic_endpoint_inject(relay_endpoint(w->relay), &f->local, &f->remote, f->data, f->len, f->ecn);
    break;
  }
  case W_STOP: worker_stop(w); break;
  case W_RELOAD: {
    char err[1024];
    if (w->relay && !w->stopping && relay_reload(w->relay, err, sizeof err))
      LOG_WRN("reload_failed", "worker=%u reason=\"%s\"", w->index, err);
    break;
  }
  }
  m->discard(m);
}

static int post_control(worker *w, int kind) {
  mail *m = malloc(sizeof *m);
  if (!m) return -1;
  m->kind = kind;
  m->discard = mail_free;
  if (mailbox_post(&w->box, m) == 0) return 0;
  free(m);
  return -1;
}

static void *thread_main(void *arg) {
  worker *w = arg;
  uv_run(w->loop, UV_RUN_DEFAULT);
  w->clean = uv_loop_close(w->loop) == 0;
  return NULL;
}

/* A start that failed half way: closes what was made (the threads have not started). */
static void group_abort(worker_group *wg) {
  for (unsigned k = 0; k < wg->n; k++) {
    worker *w = &wg->w[k];
    if (!w->loop_init) continue;
    if (w->bridge) bridge_close(w->bridge);
    if (w->relay) relay_shutdown(w->relay, NULL, NULL);
    w->relay = NULL;
    if (w->box_init) mailbox_close(&w->box);
    if (k > 0) { /* nothing else runs this loop: finish it here */
      uv_run(w->loop, UV_RUN_DEFAULT);
      if (uv_loop_close(w->loop) == 0) {
        bridge_free(w->bridge);
        w->bridge = NULL;
        if (w->box_init) mailbox_destroy(&w->box);
      }
    }
  }
  /* Worker 0's handles close on the caller's loop: its parts are left to the process's exit. */
}

unsigned worker_count_for_cpus(void) {
  /* The CPUs this process may run on (taskset, a container's cpuset), not all the machine has. */
  cpu_set_t set;
  long cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : sysconf(_SC_NPROCESSORS_ONLN);
  return cpus < 1 ? 1 : cpus > WORKER_MAX ? WORKER_MAX : (unsigned)cpus;
}

worker_group *worker_group_new(uv_loop_t *loop, const relay_config *cfg, unsigned n, char *err, size_t errlen) {
  if (n == 0) n = worker_count_for_cpus();
  worker_group *wg = calloc(1, sizeof *wg);
  if (!wg || !(wg->w = calloc(n, sizeof *wg->w)) || !(wg->boxes = calloc(n, sizeof *wg->boxes))) {
    if (wg) free(wg->w);
    free(wg);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  wg->cfg = cfg;
  wg->n = n;
  if (n == 1) { /* the plain relay */
    wg->w[0].wg = wg;
    wg->w[0].loop = loop;
    wg->w[0].loop_init = 1;
    if (!(wg->w[0].relay = relay_new(loop, cfg, err, errlen))) goto fail_early;
    return wg;
  }
  if (session_quota_init(&wg->quota)) {
    snprintf(err, errlen, "out of memory");
    goto fail_early;
  }
  wg->quota_init = 1;
  if (stats_board_init(&wg->stats, n)) {
    snprintf(err, errlen, "out of memory");
    goto fail_early;
  }
  for (unsigned k = 0; k < n; k++) {
    worker *w = &wg->w[k];
    w->wg = wg;
    w->index = k;
    if (k == 0) {
      w->loop = loop;
    } else {
      if (uv_loop_init(&w->own_loop) != 0) {
        snprintf(err, errlen, "worker %u: cannot create an event loop", k);
        goto fail;
      }
      w->loop = &w->own_loop;
    }
    w->loop_init = 1;
    if (mailbox_init(&w->box, w->loop, on_mail, w)) {
      snprintf(err, errlen, "worker %u: cannot create its mailbox", k);
      goto fail;
    }
    w->box_init = 1;
    wg->boxes[k] = &w->box;
  }
  /* In index order: the kernel numbers the sockets of a SO_REUSEPORT group in the order they bind. */
  for (unsigned k = 0; k < n; k++) {
    worker *w = &wg->w[k];
    relay *r0 = wg->w[0].relay;
    relay_worker_spec spec = {.index = k, .count = n, .quota = &wg->quota, .http = k == 0, .stats = &wg->stats};
    if (k > 0) {
      spec.identity = relay_identity(r0);
      spec.hop_id = relay_hop_id(r0);
      spec.bind = quic_endpoint_local(relay_endpoint(r0));
    }
    char rerr[1024];
    if (!(w->relay = relay_new_worker(w->loop, cfg, &spec, rerr, sizeof rerr))) {
      if (k == 0) snprintf(err, errlen, "%s", rerr);
      else snprintf(err, errlen, "worker %u: %s", k, rerr);
      goto fail;
    }
    quic_endpoint_set_worker(relay_endpoint(w->relay), k, n, 0, forward, w);
    if (!(w->bridge = bridge_new(relay_origin(w->relay), k, n, wg->boxes))) {
      snprintf(err, errlen, "out of memory");
      goto fail;
    }
  }
  int rv = quic_endpoint_set_worker(relay_endpoint(wg->w[0].relay), 0, n, 1, forward, &wg->w[0]);
  if (rv < 0)
    LOG_WRN("workers", "count=%u steering=forward reason=\"the kernel refused SO_ATTACH_REUSEPORT_CBPF: %s\"", n,
            strerror(-rv));
  else
    LOG_INF("workers", "count=%u steering=cbpf", n);
  for (unsigned k = 1; k < n; k++) {
    worker *w = &wg->w[k];
    if (pthread_create(&w->thread, NULL, thread_main, w) != 0) {
      /* Workers already running stop through their mailboxes; this one never ran. */
      LOG_ERR("worker_failed", "worker=%u reason=\"cannot start a thread\"", k);
      snprintf(err, errlen, "worker %u: cannot start a thread", k);
      for (unsigned j = 1; j < k; j++) post_control(&wg->w[j], W_STOP);
      for (unsigned j = 1; j < k; j++) pthread_join(wg->w[j].thread, NULL);
      for (unsigned j = 1; j < k; j++) wg->w[j].loop_init = 0; /* closed by their threads */
      goto fail;
    }
    w->thread_started = 1;
  }
  return wg;
fail:
  group_abort(wg);
  return NULL; /* worker 0's parts and the group are left to the process's exit */
fail_early:
  if (wg->quota_init) session_quota_destroy(&wg->quota);
  stats_board_destroy(&wg->stats);
  free(wg->boxes);
  free(wg->w);
  free(wg);
  return NULL;
}

unsigned worker_group_size(const worker_group *wg) { return wg->n; }

int worker_group_reload(worker_group *wg, char *err, size_t errlen) {
  for (unsigned k = 1; k < wg->n; k++) post_control(&wg->w[k], W_RELOAD);
  return wg->w[0].relay ? relay_reload(wg->w[0].relay, err, errlen) : 0;
}

void worker_group_shutdown(worker_group *wg, void (*done)(void *), void *arg) {
  wg->done = done;
  wg->done_arg = arg;
  for (unsigned k = 1; k < wg->n; k++) post_control(&wg->w[k], W_STOP);
  worker_stop(&wg->w[0]);
}

void worker_group_free(worker_group *wg, int clean) {
  if (!wg) return;
  for (unsigned k = 1; k < wg->n; k++) {
    worker *w = &wg->w[k];
    if (!w->thread_started) continue;
    post_control(w, W_STOP); /* in case worker 0 ended without a shutdown (refused once closed) */
    pthread_join(w->thread, NULL);
    clean = clean && w->clean;
  }
  if (!clean) return; /* loops with open handles: left to the process's exit */
  for (unsigned k = 0; k < wg->n; k++) {
    bridge_free(wg->w[k].bridge);
    if (wg->w[k].box_init) mailbox_destroy(&wg->w[k].box);
  }
  if (wg->quota_init) session_quota_destroy(&wg->quota);
  stats_board_destroy(&wg->stats);
  free(wg->boxes);
  free(wg->w);
  free(wg);
}
