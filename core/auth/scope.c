#include "auth/scope.h"

#include <stdlib.h>
#include <string.h>

#include "moq/lite.h"

#define PATH_MAX_LEN 1100

static int norm(const char *in, char *out) {
  return moq_path_normalize(moq_str_c(in ? in : ""), out, PATH_MAX_LEN) < 0 ? -1 : 0;
}

/* One grant g (relative to the token root) seen from the connection: NULL when dropped. */
static char *rebase(const char *g, const char *prefix, const char *suffix) {
  char gn[PATH_MAX_LEN], full[2 * PATH_MAX_LEN];
  if (norm(g, gn) || moq_path_join(moq_str_c(prefix), moq_str_c(gn), full, sizeof full) < 0) return NULL;
  if (!full[0]) return strdup(""); /* everything */
  moq_str rest;
  if (moq_path_strip_prefix(moq_str_c(full), moq_str_c(suffix), &rest)) return strndup((const char *)rest.p, rest.len);
  if (moq_path_has_prefix(moq_str_c(suffix), moq_str_c(full))) return strdup(""); /* broader than the root */
  return NULL;
}

static int rebase_all(const char *const *in, size_t n, const char *prefix, const char *suffix, char **out,
                      size_t *n_out) {
  *n_out = 0;
  for (size_t i = 0; i < n && *n_out < SCOPE_MAX_GRANTS; i++) {
    char *r = rebase(in[i], prefix, suffix);
    if (r) out[(*n_out)++] = r;
  }
  return 0;
}

int scope_apply(const char *path, const char *root, const char *const *put, size_t n_put, const char *const *get,
                size_t n_get, scope_result *out) {
  memset(out, 0, sizeof *out);
  char p[PATH_MAX_LEN], r[PATH_MAX_LEN];
  if (norm(path, p) || norm(root, r)) return SCOPE_ERR_ROOT;
  const char *prefix = "", *suffix = "";
  moq_str rest;
  char buf[PATH_MAX_LEN];
  if (moq_path_strip_prefix(moq_str_c(p), moq_str_c(r), &rest)) { /* P == R or P under R */
    memcpy(buf, rest.p, rest.len);
    buf[rest.len] = 0;
    suffix = buf;
  } else if (moq_path_strip_prefix(moq_str_c(r), moq_str_c(p), &rest)) { /* R under P */
    memcpy(buf, rest.p, rest.len);
    buf[rest.len] = 0;
    prefix = buf;
  } else {
    return SCOPE_ERR_ROOT;
  }
  rebase_all(put, n_put, prefix, suffix, out->publish, &out->n_publish);
  rebase_all(get, n_get, prefix, suffix, out->subscribe, &out->n_subscribe);
  if (!out->n_publish && !out->n_subscribe) {
    scope_result_free(out);
    return SCOPE_ERR_EMPTY;
  }
  out->root = strdup(p);
  if (!out->root) {
    scope_result_free(out);
    return SCOPE_ERR_NOMEM;
  }
  return SCOPE_OK;
}

void scope_result_free(scope_result *out) {
  for (size_t i = 0; i < out->n_publish; i++) free(out->publish[i]);
  for (size_t i = 0; i < out->n_subscribe; i++) free(out->subscribe[i]);
  free(out->root);
  memset(out, 0, sizeof *out);
}
