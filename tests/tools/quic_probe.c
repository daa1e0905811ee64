/* quic-probe: a test tool that dials a QUIC server with moq-relay's own client core, completes the
 * handshake, prints "alpn=<negotiated>" and "fingerprint=..." and closes cleanly.
 *   quic-probe --host H --port P [--server-name NAME] [--alpn a,b,...] [--ca FILE | --fingerprint HEX |
 *              --insecure] [--expect-alpn NAME] [--timeout-ms N]
 *              [--bidi HEX]... [--uni HEX]... [--reply HEX] [--crypto HEX] [--key-update-ms N]
 *              [--hold-ms N]
 * With --bidi/--uni it opens a stream per argument after the handshake, writes the bytes (hex) with
 * FIN (none when HEX ends with '+'); --reply writes HEX (no FIN) once on each bidi stream the peer
 * opens, when its first bytes arrive (to answer a request with hand-made bytes). For --hold-ms it
 * --crypto sends HEX as 1-RTT CRYPTO data 200 ms after the handshake (a TLS message after Finished,
 * which a QUIC server must not take; it reaches the ngtcp2 connection through the core's internal
 * header, as no client does this). --key-update-ms starts a QUIC key update (RFC 9001 6) N ms after
 * the handshake and prints "key_update" (or "key_update failed: ERROR"). For --hold-ms it prints
 * what the peer does: "reset STREAM CODE",
 * "stop STREAM CODE",
 * "data STREAM HEX", "fin STREAM", and "closed app|transport CODE" (exit 0 then too).
 * Exit: 0 connected (and ALPN as expected), 1 handshake failed, 2 usage, 3 other ALPN, 4 timeout. */
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "quic/quic.h"
#include "quic/quic_int.h" /* --crypto: the ngtcp2 connection */
#include "tls/tls.h"

typedef struct probe {
  const char *sends[16]; /* "b:HEX" or "u:HEX" */
  size_t n_sends;
  const char *reply;     /* HEX for each peer bidi stream, or NULL */
  const char *crypto;    /* HEX sent as 1-RTT CRYPTO data after the handshake, or NULL */
  quic_conn *conn;       /* borrowed: the connection, once ready */
  uv_timer_t crypto_timer;
  long key_update_ms;    /* > 0: start a key update this long after the handshake */
  uv_timer_t key_timer;
  int64_t replied[64];   /* peer streams answered */
  size_t n_replied;
  long hold_ms;
  int holding;
  const char *expect_alpn;
  int result;
  int done;
  quic_endpoint *ep;
  uv_timer_t timer;
} probe;

static void finish(probe *p, int result) {
  if (p->done) return;
  p->done = 1;
  p->result = result;
  uv_timer_stop(&p->timer);
  uv_close((uv_handle_t *)&p->timer, NULL);
  uv_timer_stop(&p->crypto_timer);
  uv_close((uv_handle_t *)&p->crypto_timer, NULL);
  uv_timer_stop(&p->key_timer);
  uv_close((uv_handle_t *)&p->key_timer, NULL);
  quic_endpoint_shutdown(p->ep, 0, "probe done", NULL, NULL);
}

static int unhex(const char *h, uint8_t *out, size_t cap) {
  size_t n = 0;
  for (; h[0] && h[1] && n < cap; h += 2) {
    unsigned v;
    if (sscanf(h, "%2x", &v) != 1) return -1;
    out[n++] = (uint8_t)v;
  }
  return (int)n;
}

static void on_hold_done(uv_timer_t *t) {
  probe *p = t->data;
  finish(p, 0);
}

static void on_crypto_due(uv_timer_t *t) {
  probe *p = t->data;
  uint8_t buf[4096];
  int n = unhex(p->crypto, buf, sizeof buf);
  if (p->done || !p->conn || n <= 0) return;
  /* ngtcp2 copies the bytes (and resends them until acknowledged) */
  if (ngtcp2_conn_submit_crypto_data(p->conn->conn, NGTCP2_ENCRYPTION_LEVEL_1RTT, buf, (size_t)n) != 0) {
    fprintf(stderr, "quic-probe: ngtcp2 refused the CRYPTO data\n");
    finish(p, 2);
    return;
  }
  quic_endpoint_want_flush(p->conn->ep, p->conn);
}

static void on_key_update_due(uv_timer_t *t) {
  probe *p = t->data;
  if (p->done || !p->conn) return;
  int rv = ngtcp2_conn_initiate_key_update(p->conn->conn, (ngtcp2_tstamp)uv_hrtime());
  if (rv != 0) printf("key_update failed: %s\n", ngtcp2_strerror(rv));
  else printf("key_update\n");
  fflush(stdout);
  quic_endpoint_want_flush(p->conn->ep, p->conn);
}

static void on_ready(quic_conn *c, void *ud) {
  probe *p = ud;
  const char *alpn = quic_conn_alpn(c);
  printf("alpn=%s\n", alpn);
  fflush(stdout);
  int ok = !p->expect_alpn || strcmp(p->expect_alpn, alpn) == 0;
  if (!ok) fprintf(stderr, "quic-probe: negotiated %s, expected %s\n", alpn, p->expect_alpn);
  p->conn = c;
  if (ok && (p->n_sends || p->reply || p->crypto || p->key_update_ms > 0)) {
    if (p->crypto) uv_timer_start(&p->crypto_timer, on_crypto_due, 200, 0);
    if (p->key_update_ms > 0) uv_timer_start(&p->key_timer, on_key_update_due, (uint64_t)p->key_update_ms, 0);
    for (size_t i = 0; i < p->n_sends; i++) {
      uint8_t buf[4096];
      int n = unhex(p->sends[i] + 2, buf, sizeof buf);
      int64_t sid = p->sends[i][0] == 'b' ? quic_conn_open_bidi(c) : quic_conn_open_uni(c);
      if (n < 0 || sid < 0) {
        finish(p, 2);
        return;
      }
      quic_conn_write_copy(c, sid, buf, (size_t)n);
      if (p->sends[i][strlen(p->sends[i]) - 1] != '+') quic_conn_finish(c, sid); /* HEX+ : keep it open */
    }
    p->holding = 1;
    uv_timer_stop(&p->timer);
    uv_timer_start(&p->timer, on_hold_done, (uint64_t)p->hold_ms, 0);
    return;
  }
  quic_conn_close(c, 0, "");
  finish(p, ok ? 0 : 3);
}

static void maybe_reply(probe *p, quic_conn *c, int64_t sid) {
  if (!p->reply || (sid & 3) != 1) return; /* only the server's bidi streams */
  for (size_t i = 0; i < p->n_replied; i++)
    if (p->replied[i] == sid) return;
  if (p->n_replied == sizeof p->replied / sizeof p->replied[0]) return;
  p->replied[p->n_replied++] = sid;
  uint8_t buf[4096];
  int n = unhex(p->reply, buf, sizeof buf);
  if (n > 0) quic_conn_write_copy(c, sid, buf, (size_t)n);
}

static void on_data(quic_conn *c, int64_t sid, const uint8_t *data, size_t len, int fin, void *ud) {
  maybe_reply(ud, c, sid);
  printf("data %lld ", (long long)sid);
  for (size_t i = 0; i < len; i++) printf("%02x", data[i]);
  printf("\n");
  if (fin) printf("fin %lld\n", (long long)sid);
  fflush(stdout);
}

static void on_reset(quic_conn *c, int64_t sid, uint64_t code, void *ud) {
  printf("reset %lld %llu\n", (long long)sid, (unsigned long long)code);
  fflush(stdout);
}

static void on_stop(quic_conn *c, int64_t sid, uint64_t code, void *ud) {
  printf("stop %lld %llu\n", (long long)sid, (unsigned long long)code);
  fflush(stdout);
}

static void on_closed(quic_conn *c, const quic_close_info *info, void *ud) {
  probe *p = ud;
  p->conn = NULL;
  if (p->holding && !p->done) {
    printf("closed %s %llu\n", info->is_app ? "app" : "transport", (unsigned long long)info->code);
    fflush(stdout);
    finish(p, 0);
    return;
  }
  if (p->done) return;
  fprintf(stderr, "quic-probe: connection failed: %s code=%llu %s\n", info->is_app ? "app" : "transport",
          (unsigned long long)info->code, info->reason);
  finish(p, 1);
}

static void on_timeout(uv_timer_t *t) {
  probe *p = t->data;
  fprintf(stderr, "quic-probe: timed out\n");
  finish(p, 4);
}

static const quic_conn_handler handler = {.on_ready = on_ready, .on_closed = on_closed, .on_stream_data = on_data,
                                          .on_stream_reset = on_reset, .on_stream_stop = on_stop};

int main(int argc, char **argv) {
  const char *host = NULL, *port = NULL, *server_name = NULL, *alpn_arg = "moq-lite-05,moq-lite-04,moq-lite-03,moql";
  tls_client_options topt = {.verify = TLS_VERIFY_SYSTEM};
  probe p = {.result = 1, .hold_ms = 1000};
  long timeout_ms = 5000;
  static const struct option opts[] = {
      {"host", required_argument, 0, 'h'},   {"port", required_argument, 0, 'p'},
      {"server-name", required_argument, 0, 's'}, {"alpn", required_argument, 0, 'a'},
      {"ca", required_argument, 0, 'c'},     {"fingerprint", required_argument, 0, 'f'},
      {"insecure", no_argument, 0, 'k'},     {"expect-alpn", required_argument, 0, 'e'},
      {"timeout-ms", required_argument, 0, 't'}, {"verbose", no_argument, 0, 'v'},
      {"bidi", required_argument, 0, 'B'},       {"uni", required_argument, 0, 'U'},
      {"hold-ms", required_argument, 0, 'H'},     {"reply", required_argument, 0, 'R'},
      {"crypto", required_argument, 0, 'C'},     {"key-update-ms", required_argument, 0, 'K'},
      {0, 0, 0, 0}};
  int o;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (o) {
    case 'h': host = optarg; break;
    case 'p': port = optarg; break;
    case 's': server_name = optarg; break;
    case 'a': alpn_arg = optarg; break;
    case 'c': topt.verify = TLS_VERIFY_CA_FILE; topt.ca_file = optarg; break;
    case 'f': topt.verify = TLS_VERIFY_FINGERPRINT; topt.fingerprint = optarg; break;
    case 'k': topt.verify = TLS_VERIFY_NONE; break;
    case 'e': p.expect_alpn = optarg; break;
    case 't': timeout_ms = strtol(optarg, NULL, 10); break;
    case 'v': log_set_level(LOG_TRACE); break;
    case 'B':
    case 'U': {
      if (p.n_sends == 16) return 2;
      char *buf = malloc(strlen(optarg) + 3);
      sprintf(buf, "%c:%s", o == 'B' ? 'b' : 'u', optarg);
      p.sends[p.n_sends++] = buf;
      break;
    }
    case 'H': p.hold_ms = strtol(optarg, NULL, 10); break;
    case 'R': p.reply = optarg; break;
    case 'C': p.crypto = optarg; break;
    case 'K': p.key_update_ms = strtol(optarg, NULL, 10); break;
    default: return 2;
    }
  }
  if (!host || !port) {
    fprintf(stderr, "quic-probe: --host and --port are required\n");
    return 2;
  }
  if (!log_enabled(LOG_DEBUG)) log_set_level(LOG_WARN);
  char *alpn_buf = strdup(alpn_arg);
  const char *alpn[16];
  size_t n_alpn = 0;
  for (char *save = NULL, *tok = strtok_r(alpn_buf, ",", &save); tok && n_alpn < 16; tok = strtok_r(NULL, ",", &save))
    alpn[n_alpn++] = tok;
  struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV}, *res = NULL;
  if (getaddrinfo(host, port, &hints, &res) != 0 || !res) {
    fprintf(stderr, "quic-probe: cannot resolve %s\n", host);
    return 2;
  }
  tls_global_init();
  char err[256];
  tls_ctx *tls = tls_client_ctx_new(&topt, err, sizeof err);
  if (!tls) {
    fprintf(stderr, "quic-probe: %s\n", err);
    return 2;
  }
  uv_loop_t *loop = uv_default_loop();
  struct sockaddr_storage any = {0};
  socklen_t anylen;
  if (res->ai_family == AF_INET6) {
    any.ss_family = AF_INET6;
    anylen = sizeof(struct sockaddr_in6);
  } else {
    any.ss_family = AF_INET;
    anylen = sizeof(struct sockaddr_in);
  }
  p.ep = quic_endpoint_new(loop, (struct sockaddr *)&any, anylen, NULL, NULL, NULL, NULL, err, sizeof err);
  if (!p.ep) {
    fprintf(stderr, "quic-probe: %s\n", err);
    return 1;
  }
  uv_timer_init(loop, &p.timer);
  p.timer.data = &p;
  uv_timer_init(loop, &p.crypto_timer);
  p.crypto_timer.data = &p;
  uv_timer_init(loop, &p.key_timer);
  p.key_timer.data = &p;
  uv_timer_start(&p.timer, on_timeout, (uint64_t)timeout_ms, 0);
  quic_conn *c = quic_endpoint_connect(p.ep, res->ai_addr, res->ai_addrlen, tls, server_name ? server_name : host,
                                       alpn, n_alpn, &handler, &p, err, sizeof err);
  freeaddrinfo(res);
  if (!c) {
    fprintf(stderr, "quic-probe: %s\n", err);
    finish(&p, 1);
  }
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  tls_ctx_free(tls);
  tls_global_cleanup();
  free(alpn_buf);
  for (size_t i = 0; i < p.n_sends; i++) free((char *)p.sends[i]);
  return p.result;
}
