/* hook: the relay's side of the hook API (moq-relay/plugin.h). Loads plugins (shared objects, or
 * the built-in ones linked into the relay), chains them in configuration order, runs decisions that
 * may finish later, delivers events and owns the plugins' timers. Everything runs on one loop. */
#ifndef MOQ_HOOK_HOOK_H
#define MOQ_HOOK_HOOK_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "moq-relay/plugin.h"

typedef struct hook_chain hook_chain;
typedef struct moq_request hook_request;

/* What the chain needs from the relay (any may be NULL: the core function then fails). */
typedef struct hook_chain_ops {
  /* Closes session id; 0, or -1 if there is no such session. */
  int (*session_close)(void *ud, uint64_t id, uint64_t code, const char *reason);
  /* The 1.1 link functions of moq_core, implemented by the relay (see plugin.h). */
  moq_link *(*link_open)(void *ud, const char *url, int flags,
                         void (*on_state)(void *arg, moq_link *l, int up, const char *reason), void *arg);
  void (*link_close)(void *ud, moq_link *l);
  moq_remote *(*remote_publish)(void *ud, const char *path, const char *url);
  void (*remote_unpublish)(void *ud, moq_remote *r);
  moq_marker *(*marker_publish)(void *ud, const char *path);
  void (*marker_unpublish)(void *ud, moq_marker *m);
  size_t (*links_json)(void *ud, char *buf, size_t len);
  void *ud;
} hook_chain_ops;

/* A GET path a plugin answers (core->http_handle). */
typedef char *(*hook_http_fn)(void *arg, const char **content_type);

/* A session as plugins see it: info points into the owned strings below. */
typedef struct hook_session {
  moq_session_info info;
  char *transport, *protocol, *remote, *path, *query, *jwt; /* owned */
  char **peer_names;     /* owned list */
  size_t n_peer_names;
  char *peer_fingerprint; /* owned */
  moq_claims claims;     /* its strings owned (see hook_claims_*); info.claims points here once set */
} hook_session;

/* Grants a plugin gave (all owned). */
typedef struct hook_grants {
  int set;               /* a plugin called core->grant */
  char *root;            /* normalised */
  char **publish, **subscribe;
  size_t n_publish, n_subscribe;
  int flags;             /* MOQ_GRANT_* */
  int64_t expires;
} hook_grants;

/* The outcome of a decision. */
typedef struct hook_verdict {
  int answer;            /* MOQ_HOOK_ALLOW, MOQ_HOOK_DENY or MOQ_HOOK_PASS (nobody decided) */
  uint64_t code;         /* DENY: error code (0 = unset) */
  char *reason;          /* DENY: owned, or NULL */
  char *plugin;          /* owned: the plugin that decided, or NULL */
  hook_grants grants;    /* session decisions */
  char *route_url;       /* route decisions: owned, where the broadcast lives, or NULL */
} hook_verdict;

/* Called when a pending decision completes (v borrowed), or with v NULL when hook_cancel_session
 * cancels it (the owner frees what it gave as ud). */
typedef void (*hook_done_fn)(void *ud, const hook_verdict *v);

/* The chain. cfg strings are copied where kept. */
hook_chain *hook_chain_new(uv_loop_t *loop, const hook_chain_ops *ops);
/* Loads a plugin: init is the entry point of a built-in one; with init NULL, path is dlopen()ed
 * and its moq_plugin_init used. Returns 0, or -1 with "PATH: what is wrong" in err. */
int hook_chain_load(hook_chain *hc, const char *path, moq_plugin_init_fn init, const moq_plugin_config *cfg,
                    char *err, size_t errlen);
size_t hook_chain_count(const hook_chain *hc);
/* Name of the i-th plugin. */
const char *hook_chain_name(const hook_chain *hc, size_t i);
/* SIGHUP: each plugin's reload; the first failure's message goes to err (the others still run).
 * Returns 0 or -1. */
int hook_chain_reload(hook_chain *hc, char *err, size_t errlen);
/* Stops timers, calls fini, unloads. Requests still pending are cancelled (a plugin's late resume
 * is impossible once it is finalised). */
void hook_chain_free(hook_chain *hc);

/* Fills hs for a new session; path_and_query is the URL path with ?query ("" or NULL for /).
 * Returns 0, or -1 (out of memory, or a path that is not a valid broadcast path). */
int hook_session_init(hook_session *hs, uint64_t id, const char *transport, const char *protocol,
                      const char *remote, const char *path_and_query, int role);
/* Records the client certificate (names copied). 0 or -1. */
int hook_session_set_peer(hook_session *hs, const char *const *names, size_t n, const char *fingerprint,
                          int verified);
void hook_session_free(hook_session *hs);

/* Decisions. Each returns the answer when the chain decided at once (v filled; free it with
 * hook_verdict_free), or MOQ_HOOK_PENDING: done(ud, v) follows later, unless hook_cancel_session
 * is called for hs first. hs must live until then. */
int hook_ask_session(hook_chain *hc, hook_session *hs, hook_verdict *v, hook_done_fn done, void *ud);
int hook_ask_announce(hook_chain *hc, hook_session *hs, const char *path, hook_verdict *v, hook_done_fn done,
                      void *ud);
int hook_ask_subscribe(hook_chain *hc, hook_session *hs, const char *path, const char *track, hook_verdict *v,
                       hook_done_fn done, void *ud);
int hook_ask_route(hook_chain *hc, hook_session *hs, const char *path, hook_verdict *v, hook_done_fn done, void *ud);
/* True when some plugin decides routes. */
int hook_chain_routes(const hook_chain *hc);
/* The session is going: its pending decisions call done(ud, NULL) now, and never again. */
void hook_cancel_session(hook_chain *hc, hook_session *hs);
void hook_verdict_free(hook_verdict *v);

/* The handler a plugin registered for GET path, or NULL. */
hook_http_fn hook_http_find(const hook_chain *hc, const char *path, void **arg);

/* Delivers an event to every plugin. */
void hook_emit(hook_chain *hc, const moq_event *ev);

/* Copies claims into dst (owned strings); frees them. */
int hook_claims_copy(moq_claims *dst, const moq_claims *src);
void hook_claims_free(moq_claims *c);
/* Segment-aware prefix test (the core->path_has_prefix function). */
int hook_path_has_prefix(const char *path, const char *prefix);

#endif
