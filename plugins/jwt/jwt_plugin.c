/* jwt plugin: verifies a session's ?jwt= token against --auth-key (one JWK) or --auth-key-dir
 * ({kid}.jwk files), and hands the verified claims to the relay (authenticate). The relay's default
 * admission then scopes them to the session path exactly as the reference relay does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "builtin.h"
#include "jwt/jwt_auth.h"

typedef struct jwt_state {
  const moq_core *core;
  moq_plugin_host *h;
  jwt_key *key;   /* owned: single-key mode */
  char *key_dir;  /* owned: directory mode */
  char *key_path; /* owned: single-key mode, for reload */
} jwt_state;

static int kid_ok(const char *kid) {
  if (!*kid || strlen(kid) > 128) return 0;
  for (const char *p = kid; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
      return 0;
  return 1;
}

static int deny(jwt_state *st, moq_request *req, const moq_session_info *s, const char *why) {
  char msg[400];
  snprintf(msg, sizeof msg, "session %llu from %s: invalid token: %s", (unsigned long long)s->id, s->remote, why);
  st->core->log(st->h, MOQ_LOG_INFO, msg);
  snprintf(msg, sizeof msg, "invalid token: %s", why);
  st->core->set_reason(req, MOQ_ERROR_UNAUTHORIZED, msg);
  return MOQ_HOOK_DENY;
}

static int jwt_authenticate(void *state, const moq_session_info *s, moq_request *req) {
  jwt_state *st = state;
  if (!s->jwt) return MOQ_HOOK_PASS;
  jwt_key *dir_key = NULL;
  const jwt_key *k = st->key;
  char err[300];
  if (st->key_dir) {
    char kid[160];
    if (jwt_token_kid(s->jwt, kid, sizeof kid)) return deny(st, req, s, "not a JWT");
    if (!kid[0]) return deny(st, req, s, "the token names no key (kid) and keys are looked up by kid");
    if (!kid_ok(kid)) return deny(st, req, s, "the key id (kid) has characters other than A-Z a-z 0-9 _ -");
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.jwk", st->key_dir, kid);
    if (!(dir_key = jwt_key_load(path, err, sizeof err))) {
      st->core->log(st->h, MOQ_LOG_WARN, err);
      return deny(st, req, s, "unknown key id");
    }
    k = dir_key;
  }
  jwt_claims c;
  int rv = jwt_verify(k, s->jwt, (int64_t)time(NULL), &c, err, sizeof err);
  jwt_key_free(dir_key);
  if (rv) return deny(st, req, s, err);
  moq_claims mc = {.root = c.root, .put = (const char *const *)c.put, .n_put = c.n_put,
                   .get = (const char *const *)c.get, .n_get = c.n_get, .cluster = c.cluster, .exp = c.exp,
                   .iat = c.iat, .json = c.json};
  rv = st->core->set_claims(req, &mc);
  jwt_claims_free(&c);
  if (rv) return deny(st, req, s, "out of memory");
  return MOQ_HOOK_ALLOW;
}

static int load_single(jwt_state *st, char *err, size_t errlen) {
  jwt_key *k = jwt_key_load(st->key_path, err, errlen);
  if (!k) return -1;
  jwt_key_free(st->key);
  st->key = k;
  return 0;
}

static int jwt_reload(void *state, char *err, size_t errlen) {
  jwt_state *st = state;
  return st->key_path ? load_single(st, err, errlen) : 0;
}

static void jwt_fini(void *state) {
  jwt_state *st = state;
  jwt_key_free(st->key);
  free(st->key_dir);
  free(st->key_path);
  free(st);
}

int moq_plugin_jwt_init(const moq_core *core, moq_plugin_host *h, const moq_plugin_config *cfg, moq_plugin *out,
                        char *err, size_t errlen) {
  if (MOQ_PLUGIN_API_VERSION_MAJOR(core->api_version) != MOQ_PLUGIN_API_MAJOR) {
    snprintf(err, errlen, "core speaks hook API major %u", MOQ_PLUGIN_API_VERSION_MAJOR(core->api_version));
    return -1;
  }
  const char *key = core->config_get(cfg, "key"), *dir = core->config_get(cfg, "key_dir");
  if (!key == !dir) {
    snprintf(err, errlen, "give exactly one of key = FILE or key_dir = DIR");
    return -1;
  }
  jwt_state *st = calloc(1, sizeof *st);
  if (!st) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  st->core = core;
  st->h = h;
  if (key) {
    if (!(st->key_path = strdup(key)) || load_single(st, err, errlen)) {
      if (!st->key_path) snprintf(err, errlen, "out of memory");
      jwt_fini(st);
      return -1;
    }
  } else if (!(st->key_dir = strdup(dir))) {
    snprintf(err, errlen, "out of memory");
    jwt_fini(st);
    return -1;
  }
  memset(out, 0, sizeof *out);
  out->api_version = MOQ_PLUGIN_API_VERSION;
  out->size = sizeof *out;
  out->name = "jwt";
  out->version = core->relay_version;
  out->state = st;
  out->authenticate = jwt_authenticate;
  out->reload = jwt_reload;
  out->fini = jwt_fini;
  return 0;
}
