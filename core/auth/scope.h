/* scope: the reference relay's scoping of grants to a session's connection path
 * (moq-relay-protocol.md 3.4): the token root R against the connection path P, and each publish
 * ("put") and subscribe ("get") prefix rebased so it is relative to P. Pure. */
#ifndef MOQ_AUTH_SCOPE_H
#define MOQ_AUTH_SCOPE_H

#include <stddef.h>

#define SCOPE_MAX_GRANTS 64

typedef struct scope_result {
  char *publish[SCOPE_MAX_GRANTS];   /* owned: prefixes relative to the connection path */
  size_t n_publish;
  char *subscribe[SCOPE_MAX_GRANTS]; /* owned */
  size_t n_subscribe;
  char *root;                        /* owned: the normalised connection path (the session root) */
} scope_result;

enum {
  SCOPE_OK = 0,
  SCOPE_ERR_ROOT = -1,   /* the connection path is unrelated to the token root (401) */
  SCOPE_ERR_EMPTY = -2,  /* nothing is left to publish or subscribe (401) */
  SCOPE_ERR_NOMEM = -3,
};

/* Scopes put/get grants (relative to root) to the connection path. Returns SCOPE_OK with out filled
 * (free with scope_result_free), or a SCOPE_ERR_* code (out is then empty). */
int scope_apply(const char *path, const char *root, const char *const *put, size_t n_put, const char *const *get,
                size_t n_get, scope_result *out);
/* Frees what out owns. */
void scope_result_free(scope_result *out);

#endif
