/* Unit tests: the UDP socket (core/quic/udp.c) on 127.0.0.1: GSO sends arrive as the datagrams they
 * were cut into, also when the kernel hands them to a UDP_GRO socket as one train, with their bytes
 * and order; plain datagrams; the per-thread receive slots shared by many sockets, and kept apart
 * for sockets made on one thread and read on two (the workers). */
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "quic/udp.h"

typedef struct seen {
  size_t n, lens[64];
  uint64_t rx_ns[64]; /* udp_rx_time_ns() inside the callback */
  uint8_t first[64], last[64]; /* first and last byte of each datagram */
  udp_addr local[64];          /* the destination address each came to */
  int batches;
} seen;

static void on_recv(void *ud, const udp_addr *local, const udp_addr *remote, const uint8_t *data, size_t len,
                    uint8_t ecn) {
  (void)remote;
  (void)ecn;
  seen *s = ud;
  if (s->n < 64) {
    s->local[s->n] = *local;
    s->lens[s->n] = len;
    s->first[s->n] = len ? data[0] : 0;
    s->last[s->n] = len ? data[len - 1] : 0;
    s->rx_ns[s->n] = udp_rx_time_ns();
  }
  s->n++;
}

static void on_batch(void *ud) { ((seen *)ud)->batches++; }

static udp_socket *open_socket(uv_loop_t *loop, seen *s) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  char err[128];
  udp_socket *u = udp_socket_new(loop, (struct sockaddr *)&a, sizeof a, 0, on_recv, on_batch, NULL, s, err, sizeof err);
  ck_assert_msg(u != NULL, "%s", err);
  return u;
}

/* Runs the loop until want datagrams arrived (or 2 s passed). */
static void wait_for(uv_loop_t *loop, seen *s, size_t want) {
  uint64_t until = uv_now(loop) + 2000;
  while (s->n < want && uv_now(loop) < until) {
    uv_run(loop, UV_RUN_NOWAIT);
    uv_update_time(loop);
  }
}

START_TEST(test_gso_send_arrives_as_datagrams) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  seen rx = {0}, tx = {0};
  udp_socket *r = open_socket(&loop, &rx), *t = open_socket(&loop, &tx);
  /* 3 datagrams of 1000 bytes and one of 500, each byte naming its datagram */
  uint8_t buf[3500];
  for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)(i / 1000 + 1);
  ck_assert_int_eq(udp_send(t, NULL, udp_socket_local(r), buf, sizeof buf, 1000), 0);
  wait_for(&loop, &rx, 4);
  ck_assert_uint_eq(rx.n, 4);
  size_t want[] = {1000, 1000, 1000, 500};
  for (size_t i = 0; i < 4; i++) {
    ck_assert_uint_eq(rx.lens[i], want[i]);
    ck_assert_uint_eq(rx.first[i], i + 1);
    ck_assert_uint_eq(rx.last[i], i + 1);
  }
  ck_assert_int_ge(rx.batches, 1);
  /* a plain datagram after it, and one as large as a slot without GRO */
  uint8_t one[300];
  memset(one, 9, sizeof one);
  ck_assert_int_eq(udp_send(t, NULL, udp_socket_local(r), one, sizeof one, 0), 0);
  wait_for(&loop, &rx, 5);
  ck_assert_uint_eq(rx.n, 5);
  ck_assert_uint_eq(rx.lens[4], 300);
  ck_assert_uint_eq(rx.first[4], 9);
  udp_socket_close(r);
  udp_socket_close(t);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(test_many_sockets_share_receive_slots) {
  /* 50 receivers in one thread: each gets its own datagrams through the shared slots, and closing
   * them in any order leaves the others working. */
  uv_loop_t loop;
  uv_loop_init(&loop);
  enum { N = 50 };
  seen rx[N], tx = {0};
  udp_socket *r[N];
  memset(rx, 0, sizeof rx);
  for (int i = 0; i < N; i++) r[i] = open_socket(&loop, &rx[i]);
  udp_socket *t = open_socket(&loop, &tx);
  uint8_t buf[2400];
  for (int i = 0; i < N; i++) {
    memset(buf, i, sizeof buf);
    ck_assert_int_eq(udp_send(t, NULL, udp_socket_local(r[i]), buf, sizeof buf, 1200), 0);
  }
  for (int i = 0; i < N; i++) {
    wait_for(&loop, &rx[i], 2);
    ck_assert_uint_eq(rx[i].n, 2);
    ck_assert_uint_eq(rx[i].lens[0], 1200);
    ck_assert_uint_eq(rx[i].first[1], i);
  }
  for (int i = 0; i < N; i += 2) udp_socket_close(r[i]);
  uv_run(&loop, UV_RUN_NOWAIT);
  memset(buf, 0xee, sizeof buf);
  ck_assert_int_eq(udp_send(t, NULL, udp_socket_local(r[1]), buf, 700, 0), 0);
  wait_for(&loop, &rx[1], 3);
  ck_assert_uint_eq(rx[1].n, 3);
  ck_assert_uint_eq(rx[1].first[2], 0xee);
  for (int i = 1; i < N; i += 2) udp_socket_close(r[i]);
  udp_socket_close(t);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* Two sockets made on this thread, as the workers' sockets are, one of them then read on a second
 * thread: each thread reads into its own slots. The second thread holds its datagram (inside its
 * on_recv) while this thread reads one of its own; the held bytes must not change under it. */
typedef struct held {
  uv_loop_t loop;
  udp_socket *sock;
  sem_t got, go;
  int intact; /* the held datagram still read 'B' * 1000 after the other thread's read */
  size_t n;
} held;

static void on_recv_hold(void *ud, const udp_addr *local, const udp_addr *remote, const uint8_t *data, size_t len,
                         uint8_t ecn) {
  (void)local;
  (void)remote;
  (void)ecn;
  held *h = ud;
  h->n++;
  sem_post(&h->got);
  sem_wait(&h->go);
  int ok = len == 1000;
  for (size_t i = 0; ok && i < len; i++) ok = data[i] == 'B';
  h->intact = ok;
}

static void *hold_thread(void *arg) {
  held *h = arg;
  uint64_t until = uv_now(&h->loop) + 2000;
  while (h->n == 0 && uv_now(&h->loop) < until) {
    uv_run(&h->loop, UV_RUN_NOWAIT);
    uv_update_time(&h->loop);
  }
  if (h->n == 0) sem_post(&h->got); /* nothing came: let the main thread fail the test */
  udp_socket_close(h->sock);
  uv_run(&h->loop, UV_RUN_DEFAULT);
  return NULL;
}

START_TEST(test_sockets_read_on_two_threads_do_not_share_slots) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  held h = {0};
  uv_loop_init(&h.loop);
  sem_init(&h.got, 0, 0);
  sem_init(&h.go, 0, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  char err[128];
  h.sock = udp_socket_new(&h.loop, (struct sockaddr *)&a, sizeof a, 0, on_recv_hold, NULL, NULL, &h, err, sizeof err);
  ck_assert_msg(h.sock != NULL, "%s", err);
  seen rx = {0}, tx = {0};
  udp_socket *r = open_socket(&loop, &rx), *t = open_socket(&loop, &tx);
  uint8_t buf[1000];
  memset(buf, 'B', sizeof buf);
  ck_assert_int_eq(udp_send(t, NULL, udp_socket_local(h.sock), buf, sizeof buf, 0), 0);
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, hold_thread, &h), 0);
  sem_wait(&h.got); /* the other thread is inside on_recv, holding its datagram */
  ck_assert_uint_eq(h.n, 1);
  memset(buf, 'A', sizeof buf);
  ck_assert_int_eq(udp_send(t, NULL, udp_socket_local(r), buf, sizeof buf, 0), 0);
  wait_for(&loop, &rx, 1);
  ck_assert_uint_eq(rx.n, 1);
  ck_assert_uint_eq(rx.first[0], 'A');
  sem_post(&h.go);
  pthread_join(th, NULL);
  ck_assert_msg(h.intact, "a read on this thread overwrote the datagram the other thread was handling");
  ck_assert_int_eq(uv_loop_close(&h.loop), 0);
  sem_destroy(&h.got);
  sem_destroy(&h.go);
  udp_socket_close(r);
  udp_socket_close(t);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(test_send_many_in_order_and_past_a_refused_one) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  seen rx = {0}, tx = {0};
  udp_socket *r = open_socket(&loop, &rx), *t = open_socket(&loop, &tx);
  udp_addr bad = {.len = sizeof(struct sockaddr_in6)}; /* an IPv6 address for an IPv4 socket */
  bad.ss.ss_family = AF_INET6;
  uint8_t a[2500], b[100], c[700];
  memset(a, 1, sizeof a);
  memset(b, 2, sizeof b);
  memset(c, 3, sizeof c);
  udp_msg m[3] = {
      {.remote = udp_socket_local(r), .data = a, .len = sizeof a, .gso_size = 1200},
      {.remote = &bad, .data = b, .len = sizeof b},
      {.remote = udp_socket_local(r), .data = c, .len = sizeof c},
  };
  int err = 0;
  ck_assert_uint_eq(udp_send_many(t, m, 3, &err), 1); /* the first went; the second cannot */
  ck_assert_int_lt(err, 0);
  ck_assert_int_ne(err, UDP_SEND_BLOCKED);
  ck_assert_uint_eq(udp_send_many(t, m + 2, 1, &err), 1); /* the caller skips it and goes on */
  ck_assert_int_eq(err, 0);
  wait_for(&loop, &rx, 4);
  ck_assert_uint_eq(rx.n, 4); /* 1200 + 1200 + 100 of the train, then 700 */
  ck_assert_uint_eq(rx.lens[0], 1200);
  ck_assert_uint_eq(rx.lens[2], 100);
  ck_assert_uint_eq(rx.first[2], 1);
  ck_assert_uint_eq(rx.lens[3], 700);
  ck_assert_uint_eq(rx.first[3], 3);
  udp_socket_close(r);
  udp_socket_close(t);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(test_rx_timestamps) {
  /* With timestamps asked for, each datagram (each of a train too) carries the kernel's arrival time,
   * readable inside on_recv only; without, none. */
  uv_loop_t loop;
  uv_loop_init(&loop);
  seen rx = {0}, plain = {0}, tx = {0};
  udp_socket *r = open_socket(&loop, &rx), *p = open_socket(&loop, &plain), *t = open_socket(&loop, &tx);
  ck_assert_int_eq(udp_socket_rx_timestamps(r), 0);
  struct timespec before, after;
  clock_gettime(CLOCK_REALTIME, &before);
  uint8_t buf[2500];
  memset(buf, 7, sizeof buf);
  ck_assert_int_eq(udp_send(t, NULL, udp_socket_local(r), buf, sizeof buf, 1200), 0);
  ck_assert_int_eq(udp_send(t, NULL, udp_socket_local(p), buf, 100, 0), 0);
  wait_for(&loop, &rx, 3);
  wait_for(&loop, &plain, 1);
  clock_gettime(CLOCK_REALTIME, &after);
  uint64_t lo = (uint64_t)before.tv_sec * 1000000000u + (uint64_t)before.tv_nsec;
  uint64_t hi = (uint64_t)after.tv_sec * 1000000000u + (uint64_t)after.tv_nsec;
  ck_assert_uint_eq(rx.n, 3);
  for (size_t i = 0; i < 3; i++) {
    ck_assert_uint_ge(rx.rx_ns[i], lo);
    ck_assert_uint_le(rx.rx_ns[i], hi);
  }
  ck_assert_uint_eq(plain.n, 1);
  ck_assert_uint_eq(plain.rx_ns[0], 0);
  ck_assert_uint_eq(udp_rx_time_ns(), 0); /* outside a callback */
  udp_socket_close(r);
  udp_socket_close(p);
  udp_socket_close(t);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* An IPv4 train to a dual-stack socket that asks for everything (destination address in both
 * families, ECN, GRO, timestamps) brings the most control data a datagram can: the destination
 * address must survive it (replies go out from it). */
START_TEST(test_all_control_data_of_a_mapped_train) {
  int fd6 = socket(AF_INET6, SOCK_DGRAM, 0);
  struct sockaddr_in6 probe = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT};
  int have6 = fd6 >= 0 && bind(fd6, (struct sockaddr *)&probe, sizeof probe) == 0;
  if (fd6 >= 0) close(fd6);
  if (!have6) {
    fprintf(stderr, "test_udp: no IPv6 here: the dual-stack check is left out\n");
    return;
  }
  uv_loop_t loop;
  uv_loop_init(&loop);
  seen rx = {0}, tx = {0};
  struct sockaddr_in6 any6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT};
  char err[128];
  udp_socket *r = udp_socket_new(&loop, (struct sockaddr *)&any6, sizeof any6, 0, on_recv, on_batch, NULL, &rx, err,
                                 sizeof err);
  ck_assert_msg(r != NULL, "%s", err);
  ck_assert_int_eq(udp_socket_rx_timestamps(r), 0);
  udp_socket *t = open_socket(&loop, &tx);
  udp_addr to = {.len = sizeof(struct sockaddr_in)};
  struct sockaddr_in *to4 = (struct sockaddr_in *)&to.ss;
  to4->sin_family = AF_INET;
  to4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to4->sin_port = ((const struct sockaddr_in6 *)&udp_socket_local(r)->ss)->sin6_port;
  uint8_t buf[3600];
  memset(buf, 9, sizeof buf);
  ck_assert_int_eq(udp_send(t, NULL, &to, buf, sizeof buf, 1200), 0);
  wait_for(&loop, &rx, 3);
  ck_assert_uint_eq(rx.n, 3);
  for (size_t i = 0; i < 3; i++) {
    ck_assert_uint_ne(rx.rx_ns[i], 0);
    ck_assert_int_eq(rx.local[i].ss.ss_family, AF_INET6);
    const struct sockaddr_in6 *l = (const struct sockaddr_in6 *)&rx.local[i].ss;
    static const uint8_t mapped_lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
    ck_assert_msg(memcmp(&l->sin6_addr, mapped_lo, 16) == 0, "datagram %zu: the destination address was lost", i);
  }
  udp_socket_close(r);
  udp_socket_close(t);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("udp");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_gso_send_arrives_as_datagrams);
  tcase_add_test(tc, test_many_sockets_share_receive_slots);
  tcase_add_test(tc, test_sockets_read_on_two_threads_do_not_share_slots);
  tcase_add_test(tc, test_send_many_in_order_and_past_a_refused_one);
  tcase_add_test(tc, test_rx_timestamps);
  tcase_add_test(tc, test_all_control_data_of_a_mapped_train);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
