/* moq-cli: publish, subscribe and watch announcements through a MoQ relay.
 *
 *   moq-cli [OPTIONS] publish URL BROADCAST TRACK [--group-frames N]
 *   moq-cli [OPTIONS] subscribe URL BROADCAST TRACK [--count N]
 *   moq-cli [OPTIONS] announced URL [PREFIX] [--count N]
 *   moq-cli [OPTIONS] clock publish|subscribe URL BROADCAST
 *
 * The client runs the same moq session code as the relay, on a local origin: what it publishes is a
 * broadcast of that origin, what it subscribes to is imported from the relay into it. URLs moql:// and
 * moqt:// use raw QUIC; https:// uses WebTransport over HTTP/3; http:// first fetches
 * http://HOST:PORT/certificate.sha256 over TCP and pins that certificate, as browsers do. */
#include <errno.h>
#include <getopt.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"

#include "base/log.h"
#include "base/url.h"
#include "h3/wt_binding.h"
#include "moq/quic_binding.h"
#include "moq/session.h"
#include "origin/origin.h"
#include "quic/quic.h"
#include "tls/tls.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };
enum cmd { CMD_PUBLISH, CMD_SUBSCRIBE, CMD_ANNOUNCED, CMD_CLOCK_PUB, CMD_CLOCK_SUB };

typedef struct cli {
  enum cmd cmd;
  const char *broadcast, *track, *prefix;
  long group_frames; /* publish: frames per group */
  long count;        /* subscribe / announced: stop after this many (0 = never) */
  uv_loop_t *loop;
  quic_endpoint *ep;
  moq_quic_binding binding;    /* raw QUIC */
  moq_wt_binding wbinding;     /* WebTransport */
  int webtransport;            /* https:// or http:// */
  const char *wt_offer[8];     /* WebTransport protocols offered, most preferred first */
  size_t n_wt_offer;
  origin *origin;
  url u;
  char path[3200];
  const char *alpn[8];
  size_t n_alpn;
  int exit_code;
  int finishing;     /* closing */
  int drain_phase, drain_ticks;
  uv_timer_t timer;  /* clock ticks, and the wait before closing */
  uv_signal_t sigint, sigterm;
  int handles_closed;
  /* publishing */
  broadcast *bc;
  track *pub_track;
  track_sink self_sink; /* keeps our track alive without any subscriber */
  group *pub_group;
  uint64_t next_seq;
  long frames_in_group;
  uv_pipe_t in;         /* standard input */
  char *line;           /* owned: the partial line */
  size_t line_len, line_cap;
  /* subscribing */
  track_sink sink;
  long received;
  long announced_lines;
  int sub_started;
} cli;

static void usage(FILE *f) {
  fprintf(f,
          "Usage: moq-cli [OPTIONS] COMMAND ...\n"
          "\n"
          "Commands:\n"
          "  publish URL BROADCAST TRACK [--group-frames N]   each line of standard input is one frame;\n"
          "                                                  N frames per group (default 1)\n"
          "  subscribe URL BROADCAST TRACK [--count N]        print each frame and a newline; stop after N\n"
          "  announced URL [PREFIX] [--count N]               print +path / -path as broadcasts come and go\n"
          "  clock publish URL BROADCAST                      publish the time every second (track \"seconds\")\n"
          "  clock subscribe URL BROADCAST                    print it\n"
          "\n"
          "URL: moql://HOST[:PORT]/PATH[?QUERY] (raw QUIC; PATH is the session root, ?jwt=TOKEN for auth)\n"
          "     https://HOST[:PORT]/PATH[?QUERY] (WebTransport over HTTP/3)\n"
          "     http://HOST[:PORT]/PATH[?QUERY] (WebTransport, pinning the certificate whose SHA-256 the\n"
          "     relay serves at http://HOST:PORT/certificate.sha256 over TCP; for local relays)\n"
          "\n"
          "Options:\n"
          "  --tls-disable-verify     do not check the relay's certificate\n"
          "  --tls-root FILE          check it against these CA certificates (PEM)\n"
          "  --tls-fingerprint HEX    accept exactly the certificate with this SHA-256 (hex)\n"
          "  --client-tls-cert FILE   present this certificate (PEM) to the relay (mTLS)\n"
          "  --client-tls-key FILE    the private key of --client-tls-cert\n"
          "  --alpn NAME              offer only this protocol (moq-lite-05, moq-lite-04, moq-lite-03, moql;\n"
          "                           over WebTransport also none: offer no protocol, use the setup exchange)\n"
          "  --log-level LEVEL        error, warn (default), info, debug, trace\n"
          "  --help, --version\n");
}

static void die_usage(const char *fmt, const char *arg) {
  fprintf(stderr, "moq-cli: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(try: moq-cli --help)\n");
  exit(EXIT_USAGE);
}

/* ------------------------------------------------------------------------------------------ */
/* Ending */

static void on_handle_closed(uv_handle_t *h) { (void)h; }

static void stop_all(cli *c) {
  if (c->handles_closed) return;
  c->handles_closed = 1;
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
  uv_close((uv_handle_t *)&c->sigint, on_handle_closed);
  uv_close((uv_handle_t *)&c->sigterm, on_handle_closed);
  if (!uv_is_closing((uv_handle_t *)&c->in) && c->in.loop) uv_close((uv_handle_t *)&c->in, on_handle_closed);
  if (c->ep) quic_endpoint_shutdown(c->ep, 0, "bye", NULL, NULL);
  c->ep = NULL;
}

/* The moq session, whichever transport carries it (NULL before it starts and after it ended). */
static moq_session *cli_session(cli *c) { return c->webtransport ? c->wbinding.session : c->binding.session; }

static void finish(cli *c, int code, const char *msg) {
  if (c->finishing) return;
  c->finishing = 1;
  c->exit_code = code;
  if (msg) fprintf(stderr, "moq-cli: %s\n", msg);
  if (cli_session(c)) moq_session_close(cli_session(c), 0, "");
  else stop_all(c);
}

static void publish_end(cli *c);

/* At the end of input: wait until the relay has acknowledged every frame, then end the track and
 * the broadcast, wait for that to be acknowledged too, and close (at most 5 s each). */
static void on_drain_tick(uv_timer_t *t) {
  cli *c = t->data;
  moq_session *s = cli_session(c);
  if (s && moq_session_unacked(s) > 0 && ++c->drain_ticks < 100) return;
  c->drain_ticks = 0;
  if (c->drain_phase++ == 0) {
    publish_end(c);
    return;
  }
  uv_timer_stop(t);
  finish(c, c->exit_code, NULL);
}

static void drain_then_finish(cli *c) {
  uv_timer_stop(&c->timer);
  c->drain_phase = 0;
  uv_timer_start(&c->timer, on_drain_tick, 20, 20);
}

/* ------------------------------------------------------------------------------------------ */
/* Publishing */

static int pub_subscribe(void *ud, track *t) {
  cli *c = ud;
  if (strcmp(track_name(t), c->track) != 0) return -1; /* we publish one track */
  c->pub_track = t;
  return 0;
}

static void pub_unsubscribe(void *ud, track *t) {
  cli *c = ud;
  if (c->pub_track == t) c->pub_track = NULL;
}

static void self_track_done(void *ud, uint64_t code) { (void)ud; (void)code; }
static const track_sink_ops self_ops = {.on_track_done = self_track_done};

static void publish_frame(cli *c, const void *data, size_t len) {
  if (!c->pub_track) return;
  if (c->pub_group && c->frames_in_group >= c->group_frames) {
    group_finish(c->pub_group, 0);
    c->pub_group = NULL;
  }
  if (!c->pub_group) {
    c->pub_group = track_group_begin(c->pub_track, c->next_seq++);
    c->frames_in_group = 0;
    if (!c->pub_group) return;
  }
  chunk *k = chunk_from(data, len);
  if (!k) return;
  group_frame_append(c->pub_group, k, (uint64_t)uv_now(c->loop));
  chunk_unref(k);
  c->frames_in_group++;
}

static void publish_end(cli *c) {
  if (c->pub_group) group_finish(c->pub_group, 0);
  c->pub_group = NULL;
  if (c->pub_track) track_finish(c->pub_track, 0);
  c->pub_track = NULL;
  track_unsubscribe(&c->self_sink);
  if (c->bc) origin_unpublish(c->origin, c->bc, 0);
  c->bc = NULL;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  static char buf_space[65536];
  (void)h;
  (void)suggested;
  buf->base = buf_space;
  buf->len = sizeof buf_space;
}

static void on_stdin(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  cli *c = st->data;
  if (n < 0) { /* end of input: flush the last line, end the track, let everything arrive */
    if (c->line_len) publish_frame(c, c->line, c->line_len);
    c->line_len = 0;
    uv_read_stop(st);
    if (c->pub_group) group_finish(c->pub_group, 0);
    c->pub_group = NULL;
    drain_then_finish(c);
    return;
  }
  for (ssize_t i = 0; i < n; i++) {
    char ch = buf->base[i];
    if (ch == '\n') {
      publish_frame(c, c->line, c->line_len);
      c->line_len = 0;
      continue;
    }
    if (c->line_len == c->line_cap) {
      size_t cap = c->line_cap ? c->line_cap * 2 : 256;
      char *l = realloc(c->line, cap);
      if (!l) {
        finish(c, EXIT_FAIL, "out of memory");
        return;
      }
      c->line = l;
      c->line_cap = cap;
    }
    c->line[c->line_len++] = ch;
  }
}

static void on_clock_tick(uv_timer_t *t) {
  cli *c = t->data;
  time_t now = time(NULL);
  struct tm tm;
  localtime_r(&now, &tm);
  char text[64];
  strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &tm);
  /* a group per minute, a frame per second */
  if (c->pub_group && tm.tm_sec == 0) c->frames_in_group = c->group_frames;
  publish_frame(c, text, strlen(text));
}

static int start_publish(cli *c) {
  broadcast_source src = {.subscribe = pub_subscribe, .unsubscribe = pub_unsubscribe, .user_data = c};
  char norm[1100];
  if (moq_path_normalize(moq_str_c(c->broadcast), norm, sizeof norm) < 0) return -1;
  c->bc = origin_publish(c->origin, norm, NULL, 0, &src);
  if (!c->bc) return -1;
  c->self_sink.ops = &self_ops;
  c->self_sink.user_data = c;
  if (track_subscribe(c->bc, c->track, &c->self_sink)) return -1;
  if (c->cmd == CMD_CLOCK_PUB) {
    c->group_frames = 60;
    uv_timer_start(&c->timer, on_clock_tick, 0, 1000);
    return 0;
  }
  uv_pipe_init(c->loop, &c->in, 0);
  c->in.data = c;
  if (uv_pipe_open(&c->in, STDIN_FILENO) != 0) return -1;
  uv_read_start((uv_stream_t *)&c->in, on_alloc, on_stdin);
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Subscribing */

static void sub_group(void *ud, group *g) { (void)ud; (void)g; }

static void sub_frame(void *ud, group *g, size_t index) {
  cli *c = ud;
  if (c->finishing) return;
  frame *f = &g->frames[index];
  fwrite(f->payload->data, 1, f->payload->len, stdout);
  fputc('\n', stdout);
  fflush(stdout);
  if (c->count && ++c->received >= c->count) {
    track_unsubscribe(&c->sink);
    finish(c, EXIT_OK, NULL);
  }
}

static void sub_done(void *ud, uint64_t code) {
  cli *c = ud;
  track_unsubscribe(&c->sink);
  if (c->finishing) return;
  char msg[200];
  if (code == MOQ_CODE_NOT_FOUND) {
    snprintf(msg, sizeof msg, "%s: no such broadcast or track (not found)", c->broadcast);
    finish(c, EXIT_FAIL, msg);
  } else if (code) {
    snprintf(msg, sizeof msg, "%s: the subscription ended with error code %llu", c->broadcast,
             (unsigned long long)code);
    finish(c, EXIT_FAIL, msg);
  } else if (c->count && c->received < c->count) {
    snprintf(msg, sizeof msg, "%s: the track ended after %ld of %ld frames", c->broadcast, c->received, c->count);
    finish(c, EXIT_FAIL, msg);
  } else {
    finish(c, EXIT_OK, NULL);
  }
}

static const track_sink_ops sub_ops = {.on_group = sub_group, .on_frame = sub_frame, .on_track_done = sub_done};

static int start_subscribe(cli *c, moq_session *s) {
  broadcast *b = moq_session_import(s, c->broadcast);
  if (!b) return -1;
  c->sink.ops = &sub_ops;
  c->sink.user_data = c;
  return track_subscribe(b, c->track, &c->sink);
}

static void on_announced(void *ud, const char *path, int active) {
  cli *c = ud;
  printf("%c%s\n", active ? '+' : '-', path);
  fflush(stdout);
  if (c->count && ++c->announced_lines >= c->count) finish(c, EXIT_OK, NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* Session */

static void session_ready(moq_session *s, void *ud) {
  cli *c = ud;
  int rv = 0;
  switch (c->cmd) {
  case CMD_PUBLISH:
  case CMD_CLOCK_PUB: rv = start_publish(c); break;
  case CMD_SUBSCRIBE:
  case CMD_CLOCK_SUB: rv = start_subscribe(c, s); break;
  case CMD_ANNOUNCED: rv = moq_session_consume(s, c->prefix ? c->prefix : "", on_announced, c); break;
  }
  if (rv) finish(c, EXIT_FAIL, "cannot start");
}

static void session_closed(moq_session *s, uint64_t code, const char *reason, void *ud) {
  cli *c = ud;
  if (c->cmd == CMD_PUBLISH || c->cmd == CMD_CLOCK_PUB) publish_end(c);
  track_unsubscribe(&c->sink);
}

static const moq_session_events session_events = {.on_ready = session_ready, .on_closed = session_closed};

/* A client session on transport tr with the negotiated protocol alpn. */
static moq_session *new_session(cli *c, const char *alpn, const moq_transport *tr, const char *log_id) {
  moq_session_config sc = {.is_server = 0, .alpn = alpn, .path = c->path, .log_id = log_id};
  uint8_t rnd[8];
  quic_random(rnd, sizeof rnd);
  for (int i = 0; i < 6; i++) sc.hop_id = sc.hop_id << 8 | rnd[i];
  sc.hop_id |= 1;
  moq_session *s = moq_session_new(&sc, tr, c->origin, &session_events, c);
  if (!s) return NULL;
  static const char *const everything[] = {""};
  moq_grants g = {.publish = NULL, .n_publish = 0, .subscribe = everything, .n_subscribe = 1};
  moq_session_set_grants(s, "", &g);
  return s;
}

static void conn_ready(moq_quic_binding *b) {
  cli *c = b->owner;
  moq_transport tr;
  moq_quic_transport(&tr, b->conn);
  b->session = new_session(c, quic_conn_alpn(b->conn), &tr, quic_conn_log_id(b->conn));
  LOG_INF("connected", "alpn=%s", quic_conn_alpn(b->conn));
}

/* The end of the connection (or WebTransport session): a message unless we ended it. */
static void transport_ended(cli *c, int idle, int by_peer, int is_app, uint64_t code, const char *reason, int status) {
  if (!c->finishing) {
    char msg[300];
    if (idle) snprintf(msg, sizeof msg, "the connection timed out");
    else if (status) snprintf(msg, sizeof msg, "the relay refused the WebTransport session: %s", reason);
    else if (by_peer && is_app && code == MOQ_CODE_UNAUTHORIZED)
      snprintf(msg, sizeof msg, "the relay refused the session: unauthorized (code 6)%s%s", reason[0] ? ": " : "",
               reason);
    else
      snprintf(msg, sizeof msg, "the connection closed: %s code %llu%s%s", is_app ? "application" : "transport",
               (unsigned long long)code, reason[0] ? ": " : "", reason);
    c->finishing = 1;
    c->exit_code = code == 0 && by_peer && !status && c->cmd != CMD_SUBSCRIBE ? EXIT_OK : EXIT_FAIL;
    if (c->exit_code) fprintf(stderr, "moq-cli: %s\n", msg);
  }
  stop_all(c);
}

static void conn_closed(moq_quic_binding *b, const quic_close_info *info) {
  transport_ended(b->owner, info->idle, info->by_peer, info->is_app, info->code, info->reason, 0);
}

static void wt_ready(moq_wt_binding *b) {
  cli *c = b->owner;
  moq_transport tr;
  moq_wt_transport(&tr, b->conn);
  b->session = new_session(c, moq_wt_alpn(b->conn), &tr, quic_conn_log_id(wt_session_conn(b->conn)));
  const char *p = wt_session_protocol(b->conn);
  LOG_INF("connected", "transport=webtransport protocol=%s", p[0] ? p : "none");
}

static void wt_closed(moq_wt_binding *b, const wt_close_info *info) {
  /* a close capsule carries a WebTransport application code, like a raw QUIC application close */
  transport_ended(b->owner, info->idle, info->by_peer, 1, info->code, info->reason, info->status);
}

/* http:// URLs: the SHA-256 of the relay's certificate from http://HOST:PORT/certificate.sha256
 * (TCP, before the event loop runs). 0, or -1 with a message in err. */
static int fetch_fingerprint(const url *u, char *out, size_t outlen, char *err, size_t errlen) {
  char port[8];
  snprintf(port, sizeof port, "%d", u->port);
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
  int gai = getaddrinfo(u->host, port, &hints, &res);
  if (gai != 0 || !res) {
    snprintf(err, errlen, "%s: %s", u->host, gai_strerror(gai));
    return -1;
  }
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct timeval tv = {.tv_sec = 5};
  if (fd >= 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
    snprintf(err, errlen, "http://%s:%d/certificate.sha256: %s", u->host, u->port, strerror(errno));
    if (fd >= 0) close(fd);
    freeaddrinfo(res);
    return -1;
  }
  freeaddrinfo(res);
  char req[400];
  int rl = snprintf(req, sizeof req,
                    "GET /certificate.sha256 HTTP/1.1\r\nHost: %s%s%s:%d\r\nConnection: close\r\n\r\n",
                    strchr(u->host, ':') ? "[" : "", u->host, strchr(u->host, ':') ? "]" : "", u->port);
  char resp[8192];
  size_t n = 0;
  if (send(fd, req, (size_t)rl, MSG_NOSIGNAL) != rl) n = 0;
  else
    for (ssize_t r; n < sizeof resp - 1 && (r = recv(fd, resp + n, sizeof resp - 1 - n, 0)) > 0;) n += (size_t)r;
  close(fd);
  resp[n] = 0;
  int status = 0;
  char *body = strstr(resp, "\r\n\r\n");
  if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1 || status != 200 || !body) {
    snprintf(err, errlen, "http://%s:%d/certificate.sha256: %s", u->host, u->port,
             n ? "the relay did not answer 200 with a fingerprint" : "no answer");
    return -1;
  }
  body += 4;
  body[strcspn(body, " \t\r\n")] = 0;
  uint8_t fp[32];
  if (tls_fingerprint_parse(body, fp) != 0 || strlen(body) >= outlen) {
    snprintf(err, errlen, "http://%s:%d/certificate.sha256: not a SHA-256 fingerprint", u->host, u->port);
    return -1;
  }
  snprintf(out, outlen, "%s", body);
  return 0;
}

static void on_signal(uv_signal_t *h, int signum) {
  cli *c = h->data;
  (void)signum;
  if (c->cmd == CMD_PUBLISH || c->cmd == CMD_CLOCK_PUB) publish_end(c);
  finish(c, c->exit_code, NULL);
}

/* ------------------------------------------------------------------------------------------ */

int main(int argc, char **argv) {
  cli c = {.group_frames = 1, .exit_code = EXIT_OK};
  tls_client_options topt = {.verify = TLS_VERIFY_SYSTEM};
  const char *alpn_only = NULL;
  log_set_level(LOG_WARN);
  static const struct option opts[] = {
      {"tls-disable-verify", no_argument, 0, 'k'}, {"tls-root", required_argument, 0, 'r'},
      {"tls-fingerprint", required_argument, 0, 'f'}, {"alpn", required_argument, 0, 'a'},
      {"log-level", required_argument, 0, 'l'},    {"group-frames", required_argument, 0, 'g'},
      {"count", required_argument, 0, 'n'},        {"help", no_argument, 0, 'h'},
      {"version", no_argument, 0, 'V'},            {"client-tls-cert", required_argument, 0, 'C'},
      {"client-tls-key", required_argument, 0, 'K'}, {0, 0, 0, 0}};
  int o;
  while ((o = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
    char *end;
    switch (o) {
    case 'k': topt.verify = TLS_VERIFY_NONE; break;
    case 'r': topt.verify = TLS_VERIFY_CA_FILE; topt.ca_file = optarg; break;
    case 'f': topt.verify = TLS_VERIFY_FINGERPRINT; topt.fingerprint = optarg; break;
    case 'a': alpn_only = optarg; break;
    case 'C': topt.cert_file = optarg; break;
    case 'K': topt.key_file = optarg; break;
    case 'l': {
      log_level lv;
      if (log_level_parse(optarg, &lv)) die_usage("--log-level: expected error, warn, info, debug or trace, got \"%s\"", optarg);
      log_set_level(lv);
      break;
    }
    case 'g':
      c.group_frames = strtol(optarg, &end, 10);
      if (*end || c.group_frames < 1) die_usage("--group-frames: expected a number of frames >= 1, got \"%s\"", optarg);
      break;
    case 'n':
      c.count = strtol(optarg, &end, 10);
      if (*end || c.count < 1) die_usage("--count: expected a number >= 1, got \"%s\"", optarg);
      break;
    case 'h': usage(stdout); return EXIT_OK;
    case 'V': printf("moq-cli %s\n", PACKAGE_VERSION); return EXIT_OK;
    default: usage(stderr); return EXIT_USAGE;
    }
    /* options may also follow the command's arguments: getopt stops at the first operand ("+") */
    if (optind < argc && argv[optind][0] != '-') break;
  }
  /* Collect operands, allowing options between them. */
  const char *args[8];
  int nargs = 0;
  for (int i = optind; i < argc; i++) {
    if (argv[i][0] == '-' && argv[i][1] == '-' && i + 1 < argc) {
      char *end;
      if (strcmp(argv[i], "--group-frames") == 0) {
        c.group_frames = strtol(argv[++i], &end, 10);
        if (*end || c.group_frames < 1) die_usage("--group-frames: expected a number of frames >= 1, got \"%s\"", argv[i]);
        continue;
      }
      if (strcmp(argv[i], "--count") == 0) {
        c.count = strtol(argv[++i], &end, 10);
        if (*end || c.count < 1) die_usage("--count: expected a number >= 1, got \"%s\"", argv[i]);
        continue;
      }
      die_usage("unknown option \"%s\" (options go before the command, except --count and --group-frames)", argv[i]);
    }
    if (nargs == 8) die_usage("too many arguments%s", "");
    args[nargs++] = argv[i];
  }
  if (nargs < 1) {
    usage(stderr);
    return EXIT_USAGE;
  }
  const char *cmd = args[0], *urltext = NULL;
  if (strcmp(cmd, "publish") == 0 || strcmp(cmd, "subscribe") == 0) {
    if (nargs != 4) die_usage("%s: expected URL BROADCAST TRACK", cmd);
    c.cmd = cmd[0] == 'p' ? CMD_PUBLISH : CMD_SUBSCRIBE;
    urltext = args[1];
    c.broadcast = args[2];
    c.track = args[3];
  } else if (strcmp(cmd, "announced") == 0) {
    if (nargs < 2 || nargs > 3) die_usage("%s: expected URL [PREFIX]", cmd);
    c.cmd = CMD_ANNOUNCED;
    urltext = args[1];
    c.prefix = nargs == 3 ? args[2] : "";
  } else if (strcmp(cmd, "clock") == 0) {
    if (nargs != 4 || (strcmp(args[1], "publish") && strcmp(args[1], "subscribe")))
      die_usage("%s: expected publish|subscribe URL BROADCAST", cmd);
    c.cmd = args[1][0] == 'p' ? CMD_CLOCK_PUB : CMD_CLOCK_SUB;
    urltext = args[2];
    c.broadcast = args[3];
    c.track = "seconds";
  } else {
    die_usage("unknown command \"%s\" (publish, subscribe, announced, clock)", cmd);
  }
  char err[512];
  if (url_parse(urltext, &c.u, err, sizeof err)) die_usage("%s", err);
  if (strcmp(c.u.scheme, "moql") && strcmp(c.u.scheme, "moqt") && strcmp(c.u.scheme, "https") &&
      strcmp(c.u.scheme, "http"))
    die_usage("%s: expected a moql:// or moqt:// (raw QUIC), https:// or http:// (WebTransport) URL", urltext);
  c.webtransport = c.u.scheme[0] == 'h';
  url_path_and_query(&c.u, c.path, sizeof c.path);
  if (c.webtransport) {
    if (alpn_only && strcmp(alpn_only, "none") == 0) {
      c.n_wt_offer = 0;
    } else if (alpn_only) {
      c.wt_offer[c.n_wt_offer++] = alpn_only;
    } else {
      static const char *const offer[] = {"moq-lite-04", "moq-lite-03", "moql"};
      for (size_t i = 0; i < 3; i++) c.wt_offer[c.n_wt_offer++] = offer[i];
    }
    c.alpn[c.n_alpn++] = "h3";
    alpn_only = NULL;
  } else if (alpn_only) {
    c.alpn[c.n_alpn++] = alpn_only;
  } else {
    static const char *const offer[] = {"moq-lite-05", "moq-lite-04", "moq-lite-03", "moql"};
    for (size_t i = 0; i < 4; i++) c.alpn[c.n_alpn++] = offer[i];
  }
  for (size_t i = 0; i < c.n_alpn; i++) {
    moq_version v;
    if (!c.webtransport && moq_version_from_alpn(c.alpn[i], strlen(c.alpn[i]), &v) < 0)
      die_usage("--alpn: expected moq-lite-05, moq-lite-04, moq-lite-03 or moql, got \"%s\"", c.alpn[i]);
  }
  for (size_t i = 0; i < c.n_wt_offer; i++) {
    moq_version v;
    if (moq_version_from_alpn(c.wt_offer[i], strlen(c.wt_offer[i]), &v) < 0)
      die_usage("--alpn: expected moq-lite-05, moq-lite-04, moq-lite-03, moql or none, got \"%s\"", c.wt_offer[i]);
  }
  char pinned[65];
  if (strcmp(c.u.scheme, "http") == 0) { /* pin what the relay serves, as browsers do */
    if (fetch_fingerprint(&c.u, pinned, sizeof pinned, err, sizeof err)) {
      fprintf(stderr, "moq-cli: %s\n", err);
      return EXIT_FAIL;
    }
    topt.verify = TLS_VERIFY_FINGERPRINT;
    topt.fingerprint = pinned;
  }

  char port[8];
  snprintf(port, sizeof port, "%d", c.u.port);
  struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *res = NULL;
  int gai = getaddrinfo(c.u.host, port, &hints, &res);
  if (gai != 0 || !res) {
    fprintf(stderr, "moq-cli: %s: %s\n", c.u.host, gai_strerror(gai));
    return EXIT_FAIL;
  }
  signal(SIGPIPE, SIG_IGN);
  tls_global_init();
  if (!topt.cert_file != !topt.key_file) die_usage("%s and --client-tls-key go together: give both", "--client-tls-cert");
  tls_ctx *tls = tls_client_ctx_new(&topt, err, sizeof err);
  if (!tls) {
    fprintf(stderr, "moq-cli: %s\n", err);
    return EXIT_USAGE;
  }
  c.loop = uv_default_loop();
  c.origin = origin_new(NULL, NULL, NULL);
  uv_timer_init(c.loop, &c.timer);
  c.timer.data = &c;
  uv_signal_init(c.loop, &c.sigint);
  uv_signal_init(c.loop, &c.sigterm);
  c.sigint.data = c.sigterm.data = &c;
  uv_signal_start(&c.sigint, on_signal, SIGINT);
  uv_signal_start(&c.sigterm, on_signal, SIGTERM);
  struct sockaddr_storage any = {0};
  any.ss_family = (sa_family_t)res->ai_family;
  socklen_t anylen = res->ai_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  quic_settings qs;
  quic_settings_default(&qs);
  c.ep = quic_endpoint_new(c.loop, (struct sockaddr *)&any, anylen, NULL, &qs, NULL, NULL, err, sizeof err);
  if (!c.ep) {
    fprintf(stderr, "moq-cli: %s\n", err);
    return EXIT_FAIL;
  }
  c.binding.ready = conn_ready;
  c.binding.closed = conn_closed;
  c.binding.owner = &c;
  c.wbinding.ready = wt_ready;
  c.wbinding.closed = wt_closed;
  c.wbinding.owner = &c;
  quic_conn *qc;
  if (c.webtransport) {
    char authority[300];
    int v6 = strchr(c.u.host, ':') != NULL;
    snprintf(authority, sizeof authority, "%s%s%s:%d", v6 ? "[" : "", c.u.host, v6 ? "]" : "", c.u.port);
    wt_session *ws = wt_session_client(c.loop, authority, c.path, c.wt_offer, c.n_wt_offer, &moq_wt_handler,
                                       &c.wbinding);
    if (!ws) {
      fprintf(stderr, "moq-cli: out of memory\n");
      return EXIT_FAIL;
    }
    c.wbinding.conn = ws;
    qc = quic_endpoint_connect(c.ep, res->ai_addr, res->ai_addrlen, tls, c.u.host, c.alpn, c.n_alpn,
                               &wt_quic_handler, ws, err, sizeof err);
    wt_session_client_attach(ws, qc);
  } else {
    qc = quic_endpoint_connect(c.ep, res->ai_addr, res->ai_addrlen, tls, c.u.host, c.alpn, c.n_alpn,
                               &moq_quic_handler, &c.binding, err, sizeof err);
  }
  freeaddrinfo(res);
  if (!qc) {
    fprintf(stderr, "moq-cli: %s\n", err);
    return EXIT_FAIL;
  }
  uv_run(c.loop, UV_RUN_DEFAULT);
  origin_free(c.origin);
  tls_ctx_free(tls);
  tls_global_cleanup();
  free(c.line);
  return c.exit_code;
}
