/* Unit tests: a QUIC connection of the core (core/quic) between two endpoints on loopback. The
 * path's packet size grows by PMTUD: ngtcp2 only sends a probe when the buffer it is given can hold
 * it, so a flush that offered the path's current size kept every connection at 1200 bytes, and a
 * 4 KB frame took four packets instead of three. Every stream's bytes arrive whole and in order
 * through the probes (a probe longer than the packets before it leaves their GSO batch). Timed
 * stream writes (quic_conn_time_egress) are counted once each, when their packets go out. Over
 * 127.0.0.1 and over ::1. */
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "quic/quic.h"
#include "quic/quic_int.h" /* the ngtcp2 connection: its path's packet size */
#include "tls/tls.h"

#define STREAMS 40
#define STREAM_LEN 4096

typedef struct peer {
  quic_conn *c;
  int ready, closed;
  size_t got[STREAMS]; /* client: bytes received per stream, in order */
  int fin[STREAMS], bad;
  int64_t frame_sid; /* client: the last stream, counted apart */
  size_t frame_want, frame_got;
  int frame_done;
  size_t arrivals, arrivals_bad; /* client: quic_rx_arrival_ns inside the data callbacks */
} peer;

static uint8_t stream_byte(size_t stream, size_t off) { return (uint8_t)(stream * 31 + off * 7 + off / 251); }

static void on_ready(quic_conn *c, void *ud) {
  peer *p = ud;
  p->c = c;
  p->ready = 1;
}

static void on_data(quic_conn *c, int64_t sid, const uint8_t *data, size_t len, int fin, void *ud) {
  (void)c;
  peer *p = ud;
  size_t k = (size_t)sid / 4; /* the server's uni streams are 3, 7, 11, ... */
  /* the client asks for kernel timestamps: each datagram's arrival is known, a moment ago */
  uint64_t arrived = quic_rx_arrival_ns(), now = uv_hrtime();
  p->arrivals++;
  if (!arrived || arrived > now || now - arrived > 1000000000u) p->arrivals_bad++;
  if (p->frame_want && sid == p->frame_sid) {
    p->frame_got += len;
    if (p->frame_got == p->frame_want) p->frame_done = 1;
    return;
  }
  if (k >= STREAMS) {
    p->bad++;
    return;
  }
  for (size_t i = 0; i < len; i++)
    if (data[i] != stream_byte(k, p->got[k] + i)) p->bad++;
  p->got[k] += len;
  if (fin) p->fin[k] = 1;
}

static void on_closed(quic_conn *c, const quic_close_info *info, void *ud) {
  (void)c;
  (void)info;
  ((peer *)ud)->closed = 1;
}

static const quic_conn_handler handler = {.on_ready = on_ready, .on_stream_data = on_data, .on_closed = on_closed};

static void on_down(void *ud) { (*(int *)ud)++; }

static void on_accept(void *ud, quic_conn *c) { quic_conn_set_handler(c, &handler, ud); }

static void run_until(uv_loop_t *loop, const int *flag, uint64_t ms) {
  uint64_t until = uv_now(loop) + ms;
  while (!*flag && uv_now(loop) < until) {
    uv_run(loop, UV_RUN_NOWAIT);
    uv_update_time(loop);
  }
}

/* True if this machine can bind UDP on ::1 (IPv6 can be switched off in containers). */
static int have_ipv6_loopback(void) {
  int fd = socket(AF_INET6, SOCK_DGRAM, 0);
  if (fd < 0) return 0;
  struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  int ok = bind(fd, (struct sockaddr *)&a6, sizeof a6) == 0;
  close(fd);
  return ok;
}

/* _i: 0 over 127.0.0.1, 1 over ::1 (where ngtcp2's largest probe, 1444 + 48 bytes, still fits a
 * 1500-byte link). */
START_TEST(test_pmtud_raises_the_packet_size) {
  if (_i == 1 && !have_ipv6_loopback()) {
    fprintf(stderr, "test_quic: no IPv6 loopback here: the ::1 run is left out\n");
    return;
  }
  ck_assert_int_eq(tls_global_init(), 0);
  char err[256];
  tls_identity id;
  const char *names[] = {"localhost"};
  ck_assert_msg(tls_identity_generate(&id, names, 1, err, sizeof err) == 0, "%s", err);
  static const char *const alpn[] = {"test-quic"};
  tls_ctx *stls = tls_server_ctx_new(&id, alpn, 1, NULL, err, sizeof err);
  ck_assert_msg(stls != NULL, "%s", err);
  tls_client_options copt = {.verify = TLS_VERIFY_NONE};
  tls_ctx *ctls = tls_client_ctx_new(&copt, err, sizeof err);
  ck_assert_msg(ctls != NULL, "%s", err);

  uv_loop_t loop;
  uv_loop_init(&loop);
  struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  const struct sockaddr *a = _i ? (struct sockaddr *)&a6 : (struct sockaddr *)&a4;
  socklen_t alen = _i ? sizeof a6 : sizeof a4;
  peer server = {0}, client = {0};
  quic_endpoint *sep = quic_endpoint_new(&loop, a, alen, stls, NULL, on_accept, &server, err, sizeof err);
  ck_assert_msg(sep != NULL, "%s", err);
  quic_settings cset;
  quic_settings_default(&cset);
  cset.rx_timestamps = 1;
  quic_endpoint *cep = quic_endpoint_new(&loop, a, alen, NULL, &cset, NULL, NULL, err, sizeof err);
  ck_assert_msg(cep != NULL, "%s", err);
  const udp_addr *to = quic_endpoint_local(sep);
  quic_conn *cc = quic_endpoint_connect(cep, (const struct sockaddr *)&to->ss, to->len, ctls, "localhost", alpn, 1,
                                        &handler, &client, err, sizeof err);
  ck_assert_msg(cc != NULL, "%s", err);
  run_until(&loop, &server.ready, 3000);
  ck_assert(server.ready);
  ck_assert_uint_eq(ngtcp2_conn_get_path_max_tx_udp_payload_size(server.c->conn), 1200);

  /* one 4 KB stream every 10 ms, as a fan-out writes frames; ngtcp2 probes between them */
  uint8_t buf[STREAM_LEN];
  for (size_t k = 0; k < STREAMS; k++) {
    int64_t sid = quic_conn_open_uni(server.c);
    ck_assert_int_ge(sid, 0);
    ck_assert_uint_eq((size_t)sid / 4, k);
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = stream_byte(k, i);
    ck_assert_int_eq(quic_conn_write_copy(server.c, sid, buf, sizeof buf), 0);
    ck_assert_int_eq(quic_conn_finish(server.c, sid), 0);
    int never = 0;
    run_until(&loop, &never, 10);
  }
  run_until(&loop, &client.fin[STREAMS - 1], 3000);
  for (size_t k = 0; k < STREAMS; k++) {
    ck_assert_msg(client.got[k] == STREAM_LEN && client.fin[k], "stream %zu: %zu bytes, fin %d", k, client.got[k],
                  client.fin[k]);
  }
  ck_assert_int_eq(client.bad, 0);
  ck_assert_uint_gt(client.arrivals, 0);
  ck_assert_msg(client.arrivals_bad == 0, "%zu of %zu arrival times unknown or off", client.arrivals_bad, client.arrivals);
  ck_assert_uint_eq(quic_rx_arrival_ns(), 0); /* outside a read */
  /* ngtcp2's probes go up to 1492 - 48 bytes; loopback carries them all */
  size_t path = ngtcp2_conn_get_path_max_tx_udp_payload_size(server.c->conn);
  ck_assert_msg(path > 1400, "the path stayed at %zu bytes", path);

  /* now a 4 KB frame on a stream is three datagrams, counted when the client has its last byte. An
   * ACK or a retransmission may slip into one count on a slow machine (valgrind), so the fewest of
   * five frames counts; at 1200 bytes no frame takes fewer than four.
   * Frames 0, 2 and 4 are also timed, as if they had been ready 5 ms before they were queued: each
   * is counted once in egress_delay, at 5 ms or more; the untimed streams before are not counted. */
  uint64_t fewest = UINT64_MAX;
  memset(buf, 0x5a, sizeof buf);
  quic_endpoint_counts start;
  quic_endpoint_counts_get(sep, &start);
  ck_assert_uint_eq(delay_hist_count(&start.egress_delay), 0);
  for (int f = 0; f < 5; f++) {
    quic_endpoint_counts before, after;
    quic_endpoint_counts_get(sep, &before);
    int64_t sid = quic_conn_open_uni(server.c);
    ck_assert_int_ge(sid, 0);
    quic_conn_time_egress(server.c, sid, uv_hrtime()); /* nothing queued yet: ignored */
    ck_assert_int_eq(quic_conn_write_copy(server.c, sid, buf, 4096 - 40), 0);
    if (f % 2 == 0) {
      quic_conn_time_egress(server.c, sid, uv_hrtime() - 5000000);
      quic_conn_time_egress(server.c, sid, uv_hrtime()); /* one timing per stream at a time: ignored */
    }
    client.frame_sid = sid;
    client.frame_want = 4096 - 40;
    client.frame_got = 0;
    client.frame_done = 0;
    run_until(&loop, &client.frame_done, 3000);
    ck_assert(client.frame_done);
    quic_endpoint_counts_get(sep, &after);
    uint64_t n = after.datagrams_sent - before.datagrams_sent;
    if (n < fewest) fewest = n;
    ck_assert_uint_eq(delay_hist_count(&after.egress_delay), (uint64_t)(f / 2 + 1));
    quic_conn_time_egress(server.c, sid, uv_hrtime()); /* all of it sent: ignored */
    int never = 0;
    run_until(&loop, &never, 20);
  }
  ck_assert_uint_eq(fewest, 3);
  quic_endpoint_counts end;
  quic_endpoint_counts_get(sep, &end);
  ck_assert_uint_eq(delay_hist_count(&end.egress_delay), 3);
  for (unsigned i = 0; i < DELAY_HIST_BUCKETS; i++)
    if (end.egress_delay.n[i] && delay_hist_lower(i + 1) <= 5000)
      ck_abort_msg("an egress delay under 5 ms: bucket from %llu us", (unsigned long long)delay_hist_lower(i));

  quic_conn_close(server.c, 0, "done");
  run_until(&loop, &client.closed, 3000);
  ck_assert(client.closed);
  int down = 0;
  quic_endpoint_shutdown(sep, 0, "", on_down, &down);
  quic_endpoint_shutdown(cep, 0, "", on_down, &down);
  for (int i = 0; i < 3000 && down < 2; i++) {
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_sleep(1);
  }
  ck_assert_int_eq(down, 2);
  uv_run(&loop, UV_RUN_NOWAIT);
  ck_assert_int_eq(uv_loop_close(&loop), 0); /* every handle of both endpoints closed, timers included */
  tls_ctx_free(stls);
  tls_ctx_free(ctls);
  tls_identity_free(&id);
  tls_global_cleanup();
}
END_TEST

int main(void) {
  Suite *s = suite_create("quic");
  TCase *tc = tcase_create("conn");
  tcase_set_timeout(tc, 20);
  tcase_add_loop_test(tc, test_pmtud_raises_the_packet_size, 0, 2);
  suite_add_tcase(s, tc);
  SRunner *r = srunner_create(s);
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
