/* moq-relay: the Media over QUIC relay daemon. */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "config.h"

#include "base/log.h"
#include "conf/config.h"
#include "relay/relay.h"
#include "worker/worker.h"
#include "tls/tls.h"

/* Exit statuses */
enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

typedef struct daemon_state {
  uv_loop_t *loop;
  worker_group *workers; /* owned */
  int running;           /* the workers have not finished shutting down */
  uv_signal_t sigterm, sigint, sighup;
  uv_timer_t deadline;
  int stopping;
} daemon_state;

static void on_relay_closed(void *arg) {
  daemon_state *d = arg;
  d->running = 0;
  uv_close((uv_handle_t *)&d->sigterm, NULL);
  uv_close((uv_handle_t *)&d->sigint, NULL);
  uv_close((uv_handle_t *)&d->sighup, NULL);
  uv_close((uv_handle_t *)&d->deadline, NULL);
}

static void on_deadline(uv_timer_t *t) {
  LOG_WRN("shutdown_timeout", "reason=\"connections did not close in time\"");
  uv_stop(t->loop);
}

static void on_sighup(uv_signal_t *h, int signum) {
  daemon_state *d = h->data;
  if (d->stopping) return;
  char err[1024];
  LOG_INF("signal", "signal=SIGHUP");
  if (worker_group_reload(d->workers, err, sizeof err)) LOG_WRN("reload_failed", "reason=\"%s\"", err);
}

static void on_signal(uv_signal_t *h, int signum) {
  daemon_state *d = h->data;
  if (d->stopping) {
    LOG_WRN("shutdown_forced", "signal=%d", signum);
    uv_stop(d->loop);
    return;
  }
  d->stopping = 1;
  LOG_INF("signal", "signal=%s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
  uv_timer_start(&d->deadline, on_deadline, 3000, 0);
  worker_group_shutdown(d->workers, on_relay_closed, d);
}

int main(int argc, char **argv) {
  relay_config cfg;
  config_init(&cfg);
  char err[1024];
  if (config_parse_args(&cfg, argc, argv, err, sizeof err)) {
    fprintf(stderr, "moq-relay: %s\n(try: moq-relay --help)\n", err);
    config_free(&cfg);
    return EXIT_USAGE;
  }
  if (cfg.show_help) {
    config_print_help(stdout, "moq-relay");
    config_free(&cfg);
    return EXIT_OK;
  }
  if (cfg.show_version) {
    printf("moq-relay %s\n", PACKAGE_VERSION);
    config_free(&cfg);
    return EXIT_OK;
  }
  if (config_validate(&cfg, err, sizeof err)) {
    fprintf(stderr, "moq-relay: %s\n", err);
    config_free(&cfg);
    return EXIT_USAGE;
  }
  log_set_level(cfg.log_level);
  signal(SIGPIPE, SIG_IGN);
  /* Frame buffers of 128 KiB and more are mapped on their own and unmapped when freed, so memory
   * taken by a burst of large frames goes back at once (glibc would otherwise raise the threshold
   * after the first free and keep later ones in its heap). */
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  if (tls_global_init()) {
    fprintf(stderr, "moq-relay: cannot initialise TLS\n");
    config_free(&cfg);
    return EXIT_RUNTIME;
  }
  daemon_state d = {.loop = uv_default_loop()};
  /* The handlers are in place before the relay says it is listening, so a supervisor that stops it
   * as soon as it reads that line gets a clean shutdown, not the signal's default action. */
  uv_signal_init(d.loop, &d.sigterm);
  uv_signal_init(d.loop, &d.sigint);
  d.sigterm.data = d.sigint.data = &d;
  uv_signal_start(&d.sigterm, on_signal, SIGTERM);
  uv_signal_start(&d.sigint, on_signal, SIGINT);
  uv_signal_init(d.loop, &d.sighup);
  d.sighup.data = &d;
  uv_signal_start(&d.sighup, on_sighup, SIGHUP);
  uv_timer_init(d.loop, &d.deadline);
  d.workers = worker_group_new(d.loop, &cfg, cfg.workers, err, sizeof err);
  if (!d.workers) {
    fprintf(stderr, "moq-relay: %s\n", err);
    on_relay_closed(&d);           /* closes the signal handles and the timer */
    uv_run(d.loop, UV_RUN_NOWAIT); /* release handles of the partial start */
    tls_global_cleanup();
    config_free(&cfg);
    return EXIT_RUNTIME;
  }
  d.running = 1;
  uv_run(d.loop, UV_RUN_DEFAULT);
  int clean = !d.running;
  worker_group_free(d.workers, clean);
  LOG_INF("exit", "clean=%d", clean);
  if (clean) uv_loop_close(d.loop);
  tls_global_cleanup();
  config_free(&cfg);
  return EXIT_OK;
}
