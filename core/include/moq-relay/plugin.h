/* moq-relay/plugin.h: the hook API of moq-relay, the one contract between the relay and its plugins.
 *
 * A plugin is a shared object exporting one function, moq_plugin_init (see the end of this file).
 * The relay passes it a table of core functions (moq_core) and the plugin's configuration; the
 * plugin checks the API version, and fills in a moq_plugin: its name, version, state and the
 * callbacks it implements. A plugin never links against the relay's own symbols: everything it may
 * call is in moq_core. Every call happens on the relay's event loop thread; no callback may block.
 *
 * Decision points. Each decision callback answers one of the MOQ_HOOK_* values below:
 *   PASS    no opinion: the next plugin is asked, then the relay's default applies;
 *   ALLOW   accept (for sessions, with the grants given through core->grant; without a grant call:
 *           the verified token claims if any, else everything under the session's path);
 *   DENY    refuse (core->set_reason sets the error code and the reason logged and sent);
 *   PENDING the plugin answers later with core->resume(req, ANSWER), exactly once (req is invalid
 *           after that); until then the relay waits for that request only. The request stays
 *           valid until resumed, even if the session went away meanwhile (the late answer is then
 *           discarded).
 * Plugins are asked in configuration order; the first answer other than PASS wins.
 *
 * Versioning: MOQ_PLUGIN_API_VERSION is (major << 16 | minor). A minor version only appends
 * fields to the end of structs and functions to the end of moq_core; check core->size or
 * info->size before using a newer member. A new major version is incompatible: the relay refuses a
 * plugin built for another major, and a plugin should refuse a core of another major.
 *
 * Strings passed to callbacks are borrowed and valid only during the call, unless said otherwise;
 * copy what you keep. Strings passed to core functions are copied by the core.
 *
 * Licence: GPL-2.0-or-later (a plugin loaded into the relay forms one program with it). */
#ifndef MOQ_RELAY_PLUGIN_H
#define MOQ_RELAY_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MOQ_PLUGIN_API_MAJOR 1
#define MOQ_PLUGIN_API_MINOR 1
#define MOQ_PLUGIN_API_VERSION ((uint32_t)(MOQ_PLUGIN_API_MAJOR << 16 | MOQ_PLUGIN_API_MINOR))
#define MOQ_PLUGIN_API_VERSION_MAJOR(v) ((uint32_t)(v) >> 16)

/* Answers of decision callbacks (and of core->resume). */
enum {
  MOQ_HOOK_PASS = 0,
  MOQ_HOOK_ALLOW = 1,
  MOQ_HOOK_DENY = 2,
  MOQ_HOOK_PENDING = 3,
};

/* Log levels for core->log. */
enum {
  MOQ_LOG_ERROR = 0,
  MOQ_LOG_WARN = 1,
  MOQ_LOG_INFO = 2,
  MOQ_LOG_DEBUG = 3,
};

/* Session close / refusal codes (moq-lite). */
enum {
  MOQ_ERROR_UNAUTHORIZED = 6,
  MOQ_ERROR_NOT_FOUND = 13,
};

/* Grant flags. */
enum {
  MOQ_GRANT_CLUSTER = 1, /* the session is a cluster peer (a relay) */
};

/* Claims of a verified token (moq-token / the reference relay's JWT claims). */
typedef struct moq_claims {
  const char *root;             /* "" when absent */
  const char *const *put;       /* publish prefixes relative to root */
  size_t n_put;
  const char *const *get;       /* subscribe prefixes relative to root */
  size_t n_get;
  int cluster;                  /* the boolean "cluster" claim */
  int64_t exp;                  /* unix seconds, 0 = none */
  int64_t iat;                  /* unix seconds, 0 = none */
  const char *json;             /* the whole payload as JSON text */
} moq_claims;

/* What the relay knows about a session. */
typedef struct moq_session_info {
  size_t size;                  /* sizeof as the relay filled it in */
  uint64_t id;                  /* unique for the relay process */
  const char *transport;        /* "quic", "webtransport" or "websocket" */
  const char *protocol;         /* negotiated MoQ ALPN ("moq-lite-04", "moql" for the setup exchange, ...);
                                   over WebSocket the one a "qmux-0N.<alpn>" subprotocol fixed, else "moql" */
  const char *remote;           /* peer address "ip:port" or "[ip6]:port" */
  const char *path;             /* URL path, normalised: no leading or trailing '/', "" for / */
  const char *query;            /* raw query without '?', "" if none */
  const char *jwt;              /* the ?jwt= token, NULL if none */
  const moq_claims *claims;     /* NULL unless a plugin verified a token (authenticate) */
  const char *const *peer_names; /* DNS names of a verified client certificate (first = node name) */
  size_t n_peer_names;
  const char *peer_fingerprint; /* SHA-256 hex of the client certificate, NULL if none */
  int peer_verified;            /* the client certificate chains to server.tls.root */
  int role;                     /* lite-05 role: 0 both, 1 publisher only, 2 subscriber only */
} moq_session_info;

/* Event types for moq_plugin.event. */
enum {
  MOQ_EVENT_SESSION_OPEN = 1,   /* session accepted (session set) */
  MOQ_EVENT_SESSION_CLOSED = 2, /* session gone (session, code, reason set) */
  MOQ_EVENT_BROADCAST_UP = 3,   /* a broadcast became available (path; session = its publisher) */
  MOQ_EVENT_BROADCAST_DOWN = 4, /* a broadcast ended (path) */
  MOQ_EVENT_PEER_UP = 5,        /* a cluster peer session was accepted (session, peer = node name) */
  MOQ_EVENT_PEER_DOWN = 6,      /* a cluster peer session ended */
  MOQ_EVENT_TICK = 7,           /* every moq_plugin.tick_ms */
};

typedef struct moq_event {
  size_t size;
  int type;
  const moq_session_info *session; /* NULL when not about a session */
  const char *path;                /* broadcast path (global, no leading '/'), or NULL */
  const char *peer;                /* cluster node name, or NULL */
  uint64_t code;                   /* close code */
  const char *reason;              /* close reason, or NULL */
} moq_event;

/* A request waiting for a decision (opaque). */
typedef struct moq_request moq_request;
/* The plugin as the core knows it (opaque): identifies the caller of core functions. */
typedef struct moq_plugin_host moq_plugin_host;
/* A timer (opaque). */
typedef struct moq_timer moq_timer;
/* Since 1.1: a link to another relay, a remote broadcast, a marker broadcast (opaque). */
typedef struct moq_link moq_link;
typedef struct moq_remote moq_remote;
typedef struct moq_marker moq_marker;

/* link_open flags. */
enum {
  MOQ_LINK_CONSUME = 1, /* import the other relay's announcements into this relay */
};

/* Configuration given to a plugin: its [plugin.config] table, flattened to key/value strings
 * (arrays give one entry per element, in order). */
typedef struct moq_plugin_config {
  const char *const *keys;
  const char *const *values;
  size_t n;
  const char *source;           /* where it came from ("relay.toml:12", "--plugin"), for messages */
} moq_plugin_config;

/* The core functions a plugin may call. */
typedef struct moq_core {
  size_t size;                  /* sizeof as the relay built it */
  uint32_t api_version;         /* MOQ_PLUGIN_API_VERSION of the relay */
  const char *relay_version;    /* "0.1.0" */

  /* Logs msg as one line with the plugin's name (level MOQ_LOG_*). */
  void (*log)(moq_plugin_host *h, int level, const char *msg);
  /* The value of key in cfg (the first one), or NULL. */
  const char *(*config_get)(const moq_plugin_config *cfg, const char *key);

  /* Session decisions: the grants to accept with (call before answering ALLOW or resuming with
   * it). They read like token claims: publish and subscribe prefixes relative to root ("" = all
   * under it; NULL root = the session's path), scoped to the session's path as the relay scopes
   * tokens (the session root is always its URL path). flags MOQ_GRANT_*; expires = unix seconds
   * after which the session is closed (0 = never). Returns 0, or -1 (bad path, more than 64
   * prefixes, out of memory). */
  int (*grant)(moq_request *req, const char *root, const char *const *publish, size_t n_publish,
               const char *const *subscribe, size_t n_subscribe, int flags, int64_t expires);
  /* authenticate: the verified claims of the session's token (copied). 0 or -1. */
  int (*set_claims)(moq_request *req, const moq_claims *claims);
  /* DENY: the code (MOQ_ERROR_*; 0 = unauthorized) and a reason (logged, and sent to the peer). */
  void (*set_reason)(moq_request *req, uint64_t code, const char *reason);
  /* Answers a request left PENDING (ALLOW, DENY or PASS to ask the next plugin). */
  void (*resume)(moq_request *req, int answer);

  /* Calls cb(arg) after ms milliseconds, then every repeat_ms if not 0. */
  moq_timer *(*timer_start)(moq_plugin_host *h, uint64_t ms, uint64_t repeat_ms, void (*cb)(void *arg),
                            void *arg);
  /* Stops and frees a timer (also valid from inside its callback). */
  void (*timer_stop)(moq_timer *t);
  /* Milliseconds of a monotonic clock. */
  uint64_t (*now_ms)(void);
  /* 1 if path equals prefix or lies under it, segment by segment ("a/b" is under "a", "ab" is not;
   * everything is under ""). Leading and trailing '/' are ignored. */
  int (*path_has_prefix)(const char *path, const char *prefix);
  /* Closes a session by id with code and reason. Returns 0, or -1 if there is no such session. */
  int (*session_close)(moq_plugin_host *h, uint64_t session_id, uint64_t code, const char *reason);

  /* ---- since 1.1: links to other relays (check core->size before use) ---- */
  /* Dials the relay at url (moql://HOST:PORT/PATH?QUERY, https://..., or HOST:PORT; raw QUIC with
   * moq-lite-05, the path and query in its SETUP, e.g. ?jwt=TOKEN&register=NODE) with the relay's
   * client TLS settings. Both ends treat the link as a cluster peer: each serves the other only
   * broadcasts that did not come from the cluster. on_state(arg, link, 1, NULL) when it is up;
   * on_state(arg, link, 0, reason) when it failed or ended: the link is then dead and must be
   * closed with link_close (also from inside on_state); dial again to reconnect. NULL on a bad url. */
  moq_link *(*link_open)(moq_plugin_host *h, const char *url, int flags,
                         void (*on_state)(void *arg, moq_link *l, int up, const char *reason), void *arg);
  void (*link_close)(moq_plugin_host *h, moq_link *l);
  /* Publishes the broadcast path (global) on this relay, its tracks fetched from the relay at url
   * only while someone subscribes: over a link opened on demand, shared per url, closed after the
   * linger time (--cluster-linger) once nothing flows. It is never served to cluster peers. */
  moq_remote *(*remote_publish)(moq_plugin_host *h, const char *path, const char *url);
  void (*remote_unpublish)(moq_plugin_host *h, moq_remote *r);
  /* Publishes an empty broadcast at path (no tracks): a name other relays see announced. NULL if
   * the path is taken. */
  moq_marker *(*marker_publish)(moq_plugin_host *h, const char *path);
  void (*marker_unpublish)(moq_plugin_host *h, moq_marker *m);
  /* Answers GET path on the HTTP listener: fn returns a malloc()ed body (the core frees it) and
   * sets *content_type (a static string). 0, or -1 if the path is taken. */
  int (*http_handle)(moq_plugin_host *h, const char *path, char *(*fn)(void *arg, const char **content_type),
                     void *arg);
  /* Writes a JSON array of the relay's links (host, port, state, on_demand, tracks) into buf.
   * Returns the length needed. */
  size_t (*links_json)(moq_plugin_host *h, char *buf, size_t len);
  /* route decisions: the broadcast lives at the relay at url; the relay fetches it from there (a
   * remote broadcast that goes away once nobody has watched it for the linger time). Call before
   * answering ALLOW. 0 or -1. */
  int (*route_to)(moq_request *req, const char *url);
} moq_core;

/* What a plugin implements; every callback is optional. */
typedef struct moq_plugin {
  uint32_t api_version;         /* set to MOQ_PLUGIN_API_VERSION */
  size_t size;                  /* set to sizeof(moq_plugin) */
  const char *name;             /* static or owned by the plugin until fini */
  const char *version;
  void *state;                  /* passed to every callback */
  uint64_t tick_ms;             /* MOQ_EVENT_TICK period, 0 = none */

  /* A session connected: verify its credentials (a token, a certificate). Answer PASS (nothing to
   * verify), ALLOW after core->set_claims (later plugins see the claims), DENY (bad credentials).
   * Every plugin's authenticate runs before any plugin's session. */
  int (*authenticate)(void *state, const moq_session_info *s, moq_request *req);
  /* Admission: ALLOW (with core->grant, or the default grants), DENY, PASS or PENDING. */
  int (*session)(void *state, const moq_session_info *s, moq_request *req);
  /* The session announces broadcast path (global): ALLOW, DENY, PASS or PENDING. Only asked for
   * paths the session's grants allow. */
  int (*announce)(void *state, const moq_session_info *s, const char *path, moq_request *req);
  /* The session subscribes to track of broadcast path (global): ALLOW, DENY, PASS or PENDING. */
  int (*subscribe)(void *state, const moq_session_info *s, const char *path, const char *track,
                   moq_request *req);
  /* Something happened (see MOQ_EVENT_*). */
  void (*event)(void *state, const moq_event *ev);
  /* SIGHUP: reload scripts or files. Return 0, or -1 with a message in err (the old state stays). */
  int (*reload)(void *state, char *err, size_t errlen);
  /* The relay is stopping: free everything. */
  void (*fini)(void *state);

  /* ---- since 1.1 (the relay reads it only when size covers it) ---- */
  /* The session subscribes to broadcast path, which this relay does not have: ALLOW when it is
   * here now (after core->route_to(req, url), or remote_publish), DENY (not found), PASS or
   * PENDING (to wait for it). Never asked for cluster peers. */
  int (*route)(void *state, const moq_session_info *s, const char *path, moq_request *req);
} moq_plugin;

/* Decodes one query component s[0..n) (%XX escapes and '+' as space, as browsers encode
 * URLSearchParams) into out, which must hold n + 1 bytes; a '%' not followed by two hex digits
 * stays as it is. NUL-terminates out and returns the decoded length (which may contain NUL bytes
 * from %00). Header-only: it needs no relay and is the decoder the relay uses for ?jwt=. */
static inline int moq_hex_digit_(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = (char)(c | 32);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}
static inline size_t moq_query_decode(const char *s, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int hi = -1, lo = -1;
    if (s[i] == '%' && i + 2 < n) {
      hi = moq_hex_digit_(s[i + 1]);
      lo = moq_hex_digit_(s[i + 2]);
    }
    if (hi >= 0 && lo >= 0) {
      out[o++] = (char)(hi << 4 | lo);
      i += 2;
    } else {
      out[o++] = s[i] == '+' ? ' ' : s[i];
    }
  }
  out[o] = 0;
  return o;
}

/* The entry point every plugin exports. core lives as long as the plugin; h identifies it in core
 * calls. Return 0 after filling *out, or -1 with a message in err (the relay refuses to start). */
typedef int (*moq_plugin_init_fn)(const moq_core *core, moq_plugin_host *h, const moq_plugin_config *cfg,
                                  moq_plugin *out, char *err, size_t errlen);
#define MOQ_PLUGIN_INIT_SYMBOL "moq_plugin_init"
int moq_plugin_init(const moq_core *core, moq_plugin_host *h, const moq_plugin_config *cfg, moq_plugin *out,
                    char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
