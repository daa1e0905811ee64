/* endpoint: one UDP socket and its connections: demultiplexing by connection ID, accepting new
 * connections, Version Negotiation, Stateless Reset, batched flushing and graceful shutdown. */
#include "quic/quic_int.h"

#include <ngtcp2/ngtcp2_crypto.h>

#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base/log.h"

void quic_random(uint8_t *out, size_t len) {
  while (len > 0) {
    ssize_t n = getrandom(out, len, 0);
    if (n <= 0) continue; /* EINTR; getrandom does not fail otherwise once the pool is ready */
    out += n;
    len -= (size_t)n;
  }
}

void quic_settings_default(quic_settings *s) {
  s->idle_timeout_ms = 30000;
  s->keep_alive_ms = 5000;
  s->handshake_timeout_ms = 10000;
  s->max_streams_bidi = 1024;
  s->max_streams_uni = 1024;
  s->stream_window = 1 << 20;
  s->conn_window = 16 << 20;
  s->enable_datagrams = 1;
  s->reuse_port = 0;
  s->rx_timestamps = 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Workers: the first byte of every connection ID we issue, modulo the number of workers, names the
 * worker that owns the connection. A client's first Initial carries a DCID of its own choosing: the
 * same rule sends it (and its retransmissions) to one worker, which then issues IDs naming itself. */

unsigned quic_cid_worker(uint8_t first_byte, unsigned count) { return count > 1 ? first_byte % count : 0; }

void quic_endpoint_new_cid(const quic_endpoint *ep, uint8_t *id, size_t len) {
  quic_random(id, len);
  if (ep->workers <= 1 || len == 0) return;
  unsigned b = id[0] / ep->workers * ep->workers + ep->worker; /* keeps the other bits random */
  if (b > 255) b -= ep->workers;
  id[0] = (uint8_t)b;
}

int quic_endpoint_set_worker(quic_endpoint *ep, unsigned index, unsigned count, int steer, quic_forward_cb forward,
                             void *user_data) {
  ep->worker = index;
  ep->workers = count ? count : 1;
  ep->forward = forward;
  ep->forward_data = user_data;
  return steer && count > 1 ? udp_socket_steer_by_cid(ep->sock, count) : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Flush scheduling: connections touched in this loop turn are flushed once, together. */

static void flush_all(quic_endpoint *ep) {
  /* Take the list: a flush may schedule the same connection again. */
  quic_conn *list = ep->flush_head;
  ep->flush_head = NULL;
  ep->tx_hold++;
  while (list) {
    quic_conn *c = list;
    list = c->fnext;
    c->fnext = NULL;
    c->want_flush = 0;
    if (c->state <= QC_READY) quic_conn_flush(c);
  }
  ep->tx_hold--;
  quic_endpoint_tx_submit(ep);
}

/* ------------------------------------------------------------------------------------------ */
/* The send queue */

/* Counts a send of len bytes (gso: its datagram size) that reached the kernel. */
static void count_sent(quic_endpoint *ep, size_t len, size_t gso) {
  ep->counts.datagrams_sent += gso > 0 && len > gso ? (len + gso - 1) / gso : 1;
}

int quic_endpoint_send_now(quic_endpoint *ep, const udp_addr *local, const udp_addr *remote, const uint8_t *data,
                           size_t len, size_t gso) {
  int rv = udp_send(ep->sock, local, remote, data, len, gso);
  if (rv == 0) count_sent(ep, len, gso);
  return rv;
}

uint8_t *quic_endpoint_tx_room(quic_endpoint *ep, size_t need) {
  if (ep->txq_n == QUIC_TXQ_LEN || ep->tx_used + need > QUIC_TX_ARENA) quic_endpoint_tx_submit(ep);
  return ep->tx_arena + ep->tx_used;
}

int quic_endpoint_tx_commit(quic_endpoint *ep, quic_conn *c, size_t len, size_t gso) {
  if (c->stash_head) { /* keep c's order: behind what already waits */
    quic_conn_stash(c, ep->tx_arena + ep->tx_used, len, gso);
    return UDP_SEND_BLOCKED;
  }
  quic_tx_entry *e = &ep->txq[ep->txq_n++];
  e->c = c;
  udp_addr_copy(&e->local, &c->local); /* c's lines are cold here: only the bytes in use */
  udp_addr_copy(&e->remote, &c->remote);
  e->off = ep->tx_used;
  e->len = len;
  e->gso = gso;
  ep->tx_used += len;
  if (ep->tx_hold == 0 || ep->txq_n == QUIC_TXQ_LEN) quic_endpoint_tx_submit(ep);
  return c->stash_head ? UDP_SEND_BLOCKED : 0;
}

/* One egress delay, from ready_ns to handed_ns, in microseconds. */
static void count_egress(quic_endpoint *ep, uint64_t ready_ns, uint64_t handed_ns) {
  delay_hist_add(&ep->counts.egress_delay, handed_ns > ready_ns ? (handed_ns - ready_ns) / 1000 : 0);
}

void quic_endpoint_tx_submit(quic_endpoint *ep) {
  size_t n = ep->txq_n;
  if (n == 0) return;
  ep->txq_n = 0;
  udp_msg msgs[QUIC_TXQ_LEN];
  for (size_t i = 0; i < n; i++) {
    quic_tx_entry *e = &ep->txq[i];
    msgs[i] = (udp_msg){.local = &e->local, .remote = &e->remote, .data = ep->tx_arena + e->off, .len = e->len,
                        .gso_size = e->gso};
  }
  /* the moment the packets are handed to the kernel: what sendmmsg then takes (on loopback, the
   * delivery into the receivers' sockets) is the kernel's, not the relay's */
  uint64_t handed = ep->tx_timed_n ? uv_hrtime() : 0;
  size_t done = 0;
  while (done < n) {
    int err = 0;
    size_t sent = ep->sock ? udp_send_many(ep->sock, msgs + done, n - done, &err) : 0;
    for (size_t i = done; i < done + sent; i++) count_sent(ep, msgs[i].len, msgs[i].gso_size);
    done += sent;
    if (done == n) break;
    if (err == UDP_SEND_BLOCKED || !ep->sock) {
      /* the socket buffer is full: every connection keeps the rest of its packets, in order */
      for (size_t i = done; i < n; i++) {
        quic_conn *c = ep->txq[i].c;
        if (!c) continue; /* freed: its last packets are lost, as on a lossy path */
        quic_conn_stash(c, msgs[i].data, msgs[i].len, msgs[i].gso_size);
        quic_endpoint_wait_writable(ep, c);
      }
      break;
    }
    done++; /* this one cannot be sent (already logged): as a lost packet */
  }
  ep->tx_used = 0;
  for (size_t i = 0; i < ep->tx_timed_n; i++) count_egress(ep, ep->tx_timed[i], handed);
  ep->tx_timed_n = 0;
}

uint64_t quic_rx_arrival_ns(void) {
  uint64_t rx = udp_rx_time_ns(); /* CLOCK_REALTIME */
  if (!rx) return 0;
  struct timespec real;
  clock_gettime(CLOCK_REALTIME, &real);
  uint64_t now_real = (uint64_t)real.tv_sec * 1000000000u + (uint64_t)real.tv_nsec, mono = uv_hrtime();
  /* how long ago, carried over to the monotonic clock; a wall clock that stepped meanwhile gives an
   * age below zero or beyond a second, and is not believed */
  if (rx > now_real || now_real - rx > 1000000000u || now_real - rx > mono) return 0;
  return mono - (now_real - rx);
}

void quic_endpoint_tx_timed(quic_endpoint *ep, uint64_t ready_ns, uint64_t now) {
  if (ep->tx_timed_n < QUIC_TX_TIMED) ep->tx_timed[ep->tx_timed_n++] = ready_ns;
  else count_egress(ep, ready_ns, now);
}

static void finish_shutdown_now(quic_endpoint *ep);

static void on_idle(uv_idle_t *h) {
  quic_endpoint *ep = h->data;
  uv_idle_stop(h);
  flush_all(ep);
  if (ep->shutting_down && ep->sock) finish_shutdown_now(ep);
}

void quic_endpoint_want_flush(quic_endpoint *ep, quic_conn *c) {
  c->tx_idle = 0; /* something may be queued in ngtcp2 now */
  if (c->want_flush || !ep->sock) return;
  c->want_flush = 1;
  c->fnext = ep->flush_head;
  ep->flush_head = c;
  uv_idle_start(&ep->flush_idle, on_idle);
}

void quic_endpoint_wait_writable(quic_endpoint *ep, quic_conn *c) {
  if (c->blocked) return;
  c->blocked = 1;
  c->bnext = ep->blocked_head;
  ep->blocked_head = c;
}

static void on_writable(void *ud) {
  quic_endpoint *ep = ud;
  quic_conn *list = ep->blocked_head;
  ep->blocked_head = NULL;
  ep->tx_hold++;
  while (list) {
    quic_conn *c = list;
    list = c->bnext;
    c->bnext = NULL;
    c->blocked = 0;
    if (c->state <= QC_READY) quic_conn_flush(c);
  }
  ep->tx_hold--;
  quic_endpoint_tx_submit(ep);
}

/* ------------------------------------------------------------------------------------------ */
/* Connection bookkeeping */

int quic_endpoint_add_cid(quic_endpoint *ep, const uint8_t *id, size_t len, quic_conn *c) {
  return cid_map_put(&ep->cids, id, len, c);
}

void quic_endpoint_del_cid(quic_endpoint *ep, const uint8_t *id, size_t len) {
  if (cid_map_get(&ep->cids, id, len)) cid_map_del(&ep->cids, id, len);
}

static void maybe_finish_shutdown(quic_endpoint *ep);

/* ------------------------------------------------------------------------------------------ */
/* The connections' deadlines */

static void on_wheel_timer(uv_timer_t *t);

static void wheel_timer_arm(quic_endpoint *ep, uint64_t due) {
  if (due == UINT64_MAX || !ep->sock) return; /* no socket: the endpoint's handles are closing */
  uint64_t now = uv_now(ep->loop);
  ep->wheel_timer_due = due;
  uv_timer_start(&ep->wheel_timer, on_wheel_timer, due > now ? due - now : 0, 0);
}

static void fire_deadline(timer_wheel_entry *e, void *user_data) {
  (void)user_data;
  quic_conn *c = (quic_conn *)((char *)e - offsetof(quic_conn, wheel_entry));
  quic_conn_on_deadline(c);
}

static void on_wheel_timer(uv_timer_t *t) {
  quic_endpoint *ep = t->data;
  ep->wheel_timer_due = UINT64_MAX;
  /* the connections' packets go out together, as after a read */
  ep->tx_hold++;
  timer_wheel_expire(&ep->wheel, uv_now(ep->loop), fire_deadline, ep);
  ep->tx_hold--;
  quic_endpoint_tx_submit(ep);
  uint64_t next = timer_wheel_next(&ep->wheel);
  if (next < ep->wheel_timer_due) wheel_timer_arm(ep, next);
}

int quic_endpoint_deadline_set(quic_endpoint *ep, quic_conn *c, uint64_t due) {
  if (!timer_wheel_fits(&ep->wheel, due, uv_now(ep->loop))) return 0;
  timer_wheel_set(&ep->wheel, &c->wheel_entry, due);
  if (due < ep->wheel_timer_due) wheel_timer_arm(ep, due); /* stays set when later: it looks again */
  return 1;
}

void quic_endpoint_deadline_cancel(quic_endpoint *ep, quic_conn *c) { timer_wheel_cancel(&ep->wheel, &c->wheel_entry); }

void quic_endpoint_conn_freed(quic_endpoint *ep, quic_conn *c) {
  quic_endpoint_deadline_cancel(ep, c);
  if (c->prev) c->prev->next = c->next;
  else if (ep->conns == c) ep->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  c->next = c->prev = NULL;
  ep->n_conns--;
  for (size_t i = 0; i < ep->txq_n; i++)
    if (ep->txq[i].c == c) ep->txq[i].c = NULL;
  /* unlink from the flush and blocked lists */
  for (quic_conn **p = &ep->flush_head; *p; p = &(*p)->fnext)
    if (*p == c) {
      *p = c->fnext;
      break;
    }
  for (quic_conn **p = &ep->blocked_head; *p; p = &(*p)->bnext)
    if (*p == c) {
      *p = c->bnext;
      break;
    }
}

size_t quic_endpoint_conn_count(const quic_endpoint *ep) { return ep->n_conns; }

void quic_endpoint_counts_get(const quic_endpoint *ep, quic_endpoint_counts *out) { *out = ep->counts; }

const udp_addr *quic_endpoint_local(const quic_endpoint *ep) { return udp_socket_local(ep->sock); }

/* ------------------------------------------------------------------------------------------ */
/* Receiving */

static void send_version_negotiation(quic_endpoint *ep, const udp_addr *local, const udp_addr *remote,
                                     const ngtcp2_version_cid *vc) {
  uint8_t buf[256];
  uint32_t versions[] = {NGTCP2_PROTO_VER_V1, NGTCP2_PROTO_VER_V2};
  uint8_t unused;
  quic_random(&unused, 1);
  ngtcp2_ssize n = ngtcp2_pkt_write_version_negotiation(buf, sizeof buf, unused, vc->scid, vc->scidlen, vc->dcid,
                                                        vc->dcidlen, versions, 2);
  if (n > 0) quic_endpoint_send_now(ep, local, remote, buf, (size_t)n, 0);
  LOG_DBG("quic_version_negotiation", "version=0x%08x", vc->version);
}

static void send_stateless_reset(quic_endpoint *ep, const udp_addr *local, const udp_addr *remote,
                                 const uint8_t *dcid, size_t dcidlen, size_t pktlen) {
  /* Smaller than the packet that triggered it (so two endpoints cannot loop), and not tiny. */
  size_t len = pktlen - 1 < 43 ? pktlen - 1 : 43;
  if (len < NGTCP2_MIN_STATELESS_RESET_RANDLEN + NGTCP2_STATELESS_RESET_TOKENLEN + 1) return;
  ngtcp2_cid cid;
  ngtcp2_cid_init(&cid, dcid, dcidlen);
  uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN];
  if (ngtcp2_crypto_generate_stateless_reset_token(token, ep->reset_secret, sizeof ep->reset_secret, &cid) != 0)
    return;
  uint8_t rnd[64], buf[64];
  size_t rndlen = len - NGTCP2_STATELESS_RESET_TOKENLEN - 1;
  quic_random(rnd, rndlen);
  ngtcp2_ssize n = ngtcp2_pkt_write_stateless_reset(buf, sizeof buf, token, rnd, rndlen);
  if (n > 0) quic_endpoint_send_now(ep, local, remote, buf, (size_t)n, 0);
}

static void on_recv(void *ud, const udp_addr *local, const udp_addr *remote, const uint8_t *data, size_t len,
                    uint8_t ecn) {
  quic_endpoint *ep = ud;
  if (!ep->sock) return; /* shut down during this batch */
  ep->counts.datagrams_received++;
  if (len == 0) return;   /* an empty datagram: ngtcp2 asserts on it (found by tests/integration/abuse.sh) */
  ngtcp2_version_cid vc;
  int rv = ngtcp2_pkt_decode_version_cid(&vc, data, len, QUIC_SCID_LEN);
  if (rv == NGTCP2_ERR_VERSION_NEGOTIATION) {
    if (ep->server_tls && !ep->shutting_down) send_version_negotiation(ep, local, remote, &vc);
    return;
  }
  if (rv != 0) return; /* not QUIC: dropped */
  if (ep->workers > 1 && vc.dcidlen > 0 && ep->forward) {
    unsigned owner = quic_cid_worker(vc.dcid[0], ep->workers);
    if (owner != ep->worker) {
      ep->forward(ep->forward_data, owner, local, remote, data, len, ecn);
      return;
    }
  }
  quic_conn *c = cid_map_get(&ep->cids, vc.dcid, vc.dcidlen);
  if (c) {
    quic_conn_read(c, local, remote, data, len, ecn);
    return;
  }
  int long_header = (data[0] & 0x80) != 0;
  if (!long_header) {
    send_stateless_reset(ep, local, remote, vc.dcid, vc.dcidlen, len);
    return;
  }
  if (!ep->server_tls || ep->shutting_down) return;
  ngtcp2_pkt_hd hd;
  if (ngtcp2_accept(&hd, data, len) != 0) return; /* not an acceptable Initial */
  c = quic_conn_new_server(ep, local, remote, &hd);
  if (!c) {
    LOG_WRN("quic_accept_failed", "reason=\"cannot create a connection\"");
    return;
  }
  if (ep->on_accept) ep->on_accept(ep->user_data, c);
  quic_conn_read(c, local, remote, data, len, ecn);
}

static void on_batch_done(void *ud) {
  quic_endpoint *ep = ud;
  if (ep->sock) flush_all(ep);
}

void quic_endpoint_inject(quic_endpoint *ep, const udp_addr *local, const udp_addr *remote, const uint8_t *data,
                          size_t len, uint8_t ecn) {
  if (!ep->sock) return;
  on_recv(ep, local, remote, data, len, ecn);
  on_batch_done(ep);
}

/* ------------------------------------------------------------------------------------------ */
/* Life cycle */

quic_endpoint *quic_endpoint_new(uv_loop_t *loop, const struct sockaddr *addr, socklen_t addrlen,
                                 tls_ctx *server_tls, const quic_settings *settings, quic_accept_cb on_accept,
                                 void *user_data, char *err, size_t errlen) {
  quic_endpoint *ep = calloc(1, sizeof *ep);
  if (!ep) return NULL;
  ep->loop = loop;
  ep->server_tls = server_tls;
  if (settings) ep->settings = *settings;
  else quic_settings_default(&ep->settings);
  ep->on_accept = on_accept;
  ep->user_data = user_data;
  quic_random(ep->reset_secret, sizeof ep->reset_secret);
  if (cid_map_init(&ep->cids)) {
    free(ep);
    return NULL;
  }
  ep->workers = 1;
  ep->tx_arena = malloc(QUIC_TX_ARENA);
  if (!ep->tx_arena) {
    cid_map_free(&ep->cids);
    free(ep);
    return NULL;
  }
  ep->sock = udp_socket_new(loop, addr, addrlen, ep->settings.reuse_port, on_recv, on_batch_done, on_writable, ep, err, errlen);
  if (!ep->sock) {
    cid_map_free(&ep->cids);
    free(ep->tx_arena);
    free(ep);
    return NULL;
  }
  if (ep->settings.rx_timestamps) udp_socket_rx_timestamps(ep->sock);
  uv_idle_init(loop, &ep->flush_idle);
  ep->flush_idle.data = ep;
  timer_wheel_init(&ep->wheel, uv_now(loop));
  uv_timer_init(loop, &ep->wheel_timer);
  ep->wheel_timer.data = ep;
  ep->wheel_timer_due = UINT64_MAX;
  return ep;
}

static void on_handle_closed(uv_handle_t *h) {
  quic_endpoint *ep = h->data;
  if (--ep->handles_open > 0) return;
  void (*done)(void *) = ep->shutdown_done;
  void *arg = ep->shutdown_arg;
  cid_map_free(&ep->cids);
  free(ep->tx_arena);
  free(ep);
  if (done) done(arg);
}

static void maybe_finish_shutdown(quic_endpoint *ep) {
  if (ep->n_conns > 0 || ep->handles_open > 0) return;
  ep->handles_open = 2;
  quic_endpoint_tx_submit(ep); /* the last CONNECTION_CLOSEs */
  uv_idle_stop(&ep->flush_idle);
  uv_close((uv_handle_t *)&ep->flush_idle, on_handle_closed);
  uv_timer_stop(&ep->wheel_timer);
  uv_close((uv_handle_t *)&ep->wheel_timer, on_handle_closed);
  udp_socket_close(ep->sock); /* frees itself */
  ep->sock = NULL;
}

void quic_endpoint_shutdown(quic_endpoint *ep, uint64_t app_code, const char *reason, void (*done)(void *),
                            void *arg) {
  ep->shutting_down = 1;
  ep->shutdown_done = done;
  ep->shutdown_arg = arg;
  /* Send CONNECTION_CLOSE on every live connection (a connection inside an ngtcp2 call does so when
   * the call returns), then, on the next loop turn, free them without waiting out the closing
   * period: the endpoint is going away, and the peers have been told. Safe to call from any callback. */
  for (quic_conn *c = ep->conns; c; c = c->next)
    if (c->state <= QC_READY) quic_conn_close(c, app_code, reason);
  uv_idle_start(&ep->flush_idle, on_idle);
}

static void finish_shutdown_now(quic_endpoint *ep) {
  while (ep->conns) quic_conn_destroy(ep->conns);
  maybe_finish_shutdown(ep);
}
