/* example: a complete moq-relay plugin, built only against the installed header.
 *
 *   cc -shared -fPIC $(pkg-config --cflags moq-relay-plugin) -o example.so example.c
 *
 *   [[plugin]]
 *   path = "/usr/local/lib/moq-relay/plugins/example.so"
 *   [plugin.config]
 *   max_sessions = 100          # refuse sessions beyond this many at once, per worker (0 = no limit)
 *   deny_publish = ["private"]  # refuse announcements under these prefixes (repeatable)
 *   delay_ms = 0                # answer admissions this much later (shows core->resume)
 *
 * It counts sessions with events, refuses announcements with the announce hook, and, with
 * delay_ms, answers admissions asynchronously through a timer and core->resume. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <moq-relay/plugin.h>

typedef struct example {
  const moq_core *core;
  moq_plugin_host *h;
  long max_sessions;
  long sessions;        /* admitted and not closed */
  char **deny;
  size_t n_deny;
  long delay_ms;
} example;

typedef struct later {
  example *ex;
  moq_request *req;
  int answer;
  moq_timer *t;
} later;

static int admission(example *ex, moq_request *req) {
  if (ex->max_sessions > 0 && ex->sessions >= ex->max_sessions) {
    ex->core->set_reason(req, MOQ_ERROR_UNAUTHORIZED, "too many sessions");
    return MOQ_HOOK_DENY;
  }
  return MOQ_HOOK_PASS; /* no opinion: the relay's default (tokens, public prefixes) decides */
}

static void later_fire(void *arg) {
  later *l = arg;
  l->ex->core->timer_stop(l->t);
  l->ex->core->resume(l->req, l->answer);
  free(l);
}

static int on_session(void *state, const moq_session_info *s, moq_request *req) {
  example *ex = state;
  char msg[300];
  snprintf(msg, sizeof msg, "session %llu from %s path=/%s transport=%s", (unsigned long long)s->id, s->remote,
           s->path, s->transport);
  ex->core->log(ex->h, MOQ_LOG_INFO, msg);
  int answer = admission(ex, req);
  if (ex->delay_ms <= 0) return answer;
  later *l = malloc(sizeof *l);
  if (!l) return answer;
  l->ex = ex;
  l->req = req;
  l->answer = answer;
  l->t = ex->core->timer_start(ex->h, (uint64_t)ex->delay_ms, 0, later_fire, l);
  if (!l->t) {
    free(l);
    return answer;
  }
  return MOQ_HOOK_PENDING;
}

static int on_announce(void *state, const moq_session_info *s, const char *path, moq_request *req) {
  example *ex = state;
  (void)s;
  for (size_t i = 0; i < ex->n_deny; i++) {
    if (ex->core->path_has_prefix(path, ex->deny[i])) {
      ex->core->set_reason(req, MOQ_ERROR_UNAUTHORIZED, "publishing here is not allowed");
      return MOQ_HOOK_DENY;
    }
  }
  return MOQ_HOOK_PASS;
}

static void on_event(void *state, const moq_event *ev) {
  example *ex = state;
  if (ev->type == MOQ_EVENT_SESSION_OPEN) ex->sessions++;
  if (ev->type == MOQ_EVENT_SESSION_CLOSED) ex->sessions--;
}

static void fini(void *state) {
  example *ex = state;
  for (size_t i = 0; i < ex->n_deny; i++) free(ex->deny[i]);
  free(ex->deny);
  free(ex);
}

int moq_plugin_init(const moq_core *core, moq_plugin_host *h, const moq_plugin_config *cfg, moq_plugin *out,
                    char *err, size_t errlen) {
  if (MOQ_PLUGIN_API_VERSION_MAJOR(core->api_version) != MOQ_PLUGIN_API_MAJOR) {
    snprintf(err, errlen, "built for hook API %u, the relay speaks %u", MOQ_PLUGIN_API_MAJOR,
             MOQ_PLUGIN_API_VERSION_MAJOR(core->api_version));
    return -1;
  }
  example *ex = calloc(1, sizeof *ex);
  if (!ex) return -1;
  ex->core = core;
  ex->h = h;
  const char *v = core->config_get(cfg, "max_sessions");
  ex->max_sessions = v ? strtol(v, NULL, 10) : 0;
  v = core->config_get(cfg, "delay_ms");
  ex->delay_ms = v ? strtol(v, NULL, 10) : 0;
  for (size_t i = 0; i < cfg->n; i++) {
    if (strcmp(cfg->keys[i], "deny_publish") != 0) continue;
    char **d = realloc(ex->deny, (ex->n_deny + 1) * sizeof *d);
    if (!d || !(d[ex->n_deny] = strdup(cfg->values[i]))) {
      if (d) ex->deny = d;
      fini(ex);
      snprintf(err, errlen, "out of memory");
      return -1;
    }
    ex->deny = d;
    ex->n_deny++;
  }
  memset(out, 0, sizeof *out);
  out->api_version = MOQ_PLUGIN_API_VERSION;
  out->size = sizeof *out;
  out->name = "example";
  out->version = "1.0";
  out->state = ex;
  out->session = on_session;
  out->announce = on_announce;
  out->event = on_event;
  out->fini = fini;
  return 0;
}
