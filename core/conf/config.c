#include "conf/config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/addr.h"
#include "conf/toml.h"

#define DEFAULT_IDLE_TIMEOUT_MS 30000
#define DEFAULT_KEEP_ALIVE_MS 5000
#define DEFAULT_MAX_STREAMS 1024
#define MAX_STREAMS_LIMIT 65535
#define WORKERS_LIMIT 64
#define MAX_FILE_BYTES (1024 * 1024)

#define LEVELS_EXPECTED "one of error, warn, info, debug, trace"
#define DURATION_EXPECTED "a duration (whole seconds, or a string like \"30s\", \"500ms\", \"2m\")"

/* The default bind address. cfg->server_bind points here until something replaces it; it is never
 * freed or written (config.h's "owned" means: owned unless it is this default). */
static const char default_bind[] = "[::]:4443";

/* One setting, as a command-line option; also names the setting for the file and environment. */
enum {
  OPT_BIND = 256,
  OPT_TLS_CERT,
  OPT_TLS_KEY,
  OPT_TLS_GENERATE,
  OPT_TLS_ROOT,
  OPT_HTTP_LISTEN,
  OPT_LOG_LEVEL,
  OPT_IDLE_TIMEOUT,
  OPT_KEEP_ALIVE,
  OPT_MAX_STREAMS,
  OPT_WORKERS,
  OPT_AUTH_PUBLIC,
  OPT_CACHE_DURATION,
  OPT_CACHE_TRACK_CAPACITY,
  OPT_AUTH_KEY,
  OPT_AUTH_KEY_DIR,
  OPT_PLUGIN,
  OPT_LUA,
  OPT_LUA_BUDGET,
  OPT_CLIENT_TLS_ROOT,
  OPT_CLIENT_TLS_CERT,
  OPT_CLIENT_TLS_KEY,
  OPT_CLIENT_TLS_DISABLE_VERIFY,
  OPT_CLUSTER_ROOT,
  OPT_CLUSTER_NODE,
  OPT_CLUSTER_TOKEN,
  OPT_CLUSTER_LINGER,
  OPT_LIMIT_SESSIONS,
  OPT_LIMIT_SESSIONS_PER_ADDRESS,
  OPT_LIMIT_SUBSCRIPTIONS,
  OPT_LIMIT_ANNOUNCE_INTERESTS,
  OPT_LIMIT_MESSAGE_SIZE,
  OPT_LIMIT_PATH_LENGTH,
  OPT_LIMIT_PATH_SEGMENTS,
  OPT_LIMIT_FRAME_SIZE,
  OPT_LIMIT_SUBSCRIBER_QUEUE,
  OPT_LIMIT_SUBSCRIBER_PATIENCE,
  OPT_LIMIT_HANDSHAKE_TIMEOUT,
  OPT_LIMIT_CACHE_CAPACITY,
  OPT_HELP,
  OPT_VERSION,
};

static const struct option long_options[] = {
    {"server-bind", required_argument, NULL, OPT_BIND},
    {"listen", required_argument, NULL, OPT_BIND},
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
    {"tls-generate", required_argument, NULL, OPT_TLS_GENERATE},
    {"server-tls-root", required_argument, NULL, OPT_TLS_ROOT},
    {"web-http-listen", required_argument, NULL, OPT_HTTP_LISTEN},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"server-quic-idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
    {"server-quic-keep-alive", required_argument, NULL, OPT_KEEP_ALIVE},
    {"server-quic-max-streams", required_argument, NULL, OPT_MAX_STREAMS},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"auth-public", required_argument, NULL, OPT_AUTH_PUBLIC},
    {"cache-duration", required_argument, NULL, OPT_CACHE_DURATION},
    {"cache-track-capacity", required_argument, NULL, OPT_CACHE_TRACK_CAPACITY},
    {"auth-key", required_argument, NULL, OPT_AUTH_KEY},
    {"auth-key-dir", required_argument, NULL, OPT_AUTH_KEY_DIR},
    {"plugin", required_argument, NULL, OPT_PLUGIN},
    {"lua", required_argument, NULL, OPT_LUA},
    {"lua-budget", required_argument, NULL, OPT_LUA_BUDGET},
    {"client-tls-root", required_argument, NULL, OPT_CLIENT_TLS_ROOT},
    {"client-tls-cert", required_argument, NULL, OPT_CLIENT_TLS_CERT},
    {"client-tls-key", required_argument, NULL, OPT_CLIENT_TLS_KEY},
    {"client-tls-disable-verify", no_argument, NULL, OPT_CLIENT_TLS_DISABLE_VERIFY},
    {"cluster-root", required_argument, NULL, OPT_CLUSTER_ROOT},
    {"cluster-node", required_argument, NULL, OPT_CLUSTER_NODE},
    {"cluster-token", required_argument, NULL, OPT_CLUSTER_TOKEN},
    {"cluster-linger", required_argument, NULL, OPT_CLUSTER_LINGER},
    {"limit-sessions", required_argument, NULL, OPT_LIMIT_SESSIONS},
    {"limit-sessions-per-address", required_argument, NULL, OPT_LIMIT_SESSIONS_PER_ADDRESS},
    {"limit-subscriptions", required_argument, NULL, OPT_LIMIT_SUBSCRIPTIONS},
    {"limit-announce-interests", required_argument, NULL, OPT_LIMIT_ANNOUNCE_INTERESTS},
    {"limit-message-size", required_argument, NULL, OPT_LIMIT_MESSAGE_SIZE},
    {"limit-path-length", required_argument, NULL, OPT_LIMIT_PATH_LENGTH},
    {"limit-path-segments", required_argument, NULL, OPT_LIMIT_PATH_SEGMENTS},
    {"limit-frame-size", required_argument, NULL, OPT_LIMIT_FRAME_SIZE},
    {"limit-subscriber-queue", required_argument, NULL, OPT_LIMIT_SUBSCRIBER_QUEUE},
    {"limit-subscriber-patience", required_argument, NULL, OPT_LIMIT_SUBSCRIBER_PATIENCE},
    {"limit-handshake-timeout", required_argument, NULL, OPT_LIMIT_HANDSHAKE_TIMEOUT},
    {"limit-cache-capacity", required_argument, NULL, OPT_LIMIT_CACHE_CAPACITY},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

/* What --help says about each option. */
typedef struct option_doc {
  const char *flag;  /* "--name ARG" */
  const char *alias; /* another spelling, or NULL */
  const char *help;
  const char *def; /* default, as shown */
  const char *key; /* TOML key, or NULL */
  const char *env; /* environment variable, or NULL */
} option_doc;

static const option_doc option_docs[] = {
    {"--server-bind ADDR:PORT", "--listen", "UDP address for QUIC", default_bind,
     "server.bind (or server.listen)", "MOQ_SERVER_BIND"},
    {"--tls-cert FILE", NULL, "PEM certificate chain", "none", "server.tls.cert",
     "MOQ_SERVER_TLS_CERT"},
    {"--tls-key FILE", NULL, "PEM private key of the certificate", "none", "server.tls.key",
     "MOQ_SERVER_TLS_KEY"},
    {"--tls-generate NAME[,NAME...]", NULL, "self-signed certificate names (repeatable)", "none",
     "server.tls.generate", "MOQ_SERVER_TLS_GENERATE"},
    {"--server-tls-root FILE", NULL, "CA (PEM) for optional client certificates", "none",
     "server.tls.root", NULL},
    {"--web-http-listen ADDR:PORT", NULL, "TCP address of the HTTP listener (also MoQ over WebSocket)", "disabled",
     "web.http.listen", NULL},
    {"--log-level LEVEL", NULL, "error, warn, info, debug or trace", "info", "log.level",
     "MOQ_LOG_LEVEL"},
    {"--server-quic-idle-timeout DUR", NULL, "close connections idle this long", "30s",
     "server.quic.idle_timeout", NULL},
    {"--server-quic-keep-alive DUR", NULL, "send keep-alive pings this often; 0 disables", "5s",
     "server.quic.keep_alive", NULL},
    {"--server-quic-max-streams N", NULL, "streams a peer may open (1 to 65535)", "1024",
     "server.quic.max_streams", NULL},
    {"--workers N", NULL, "event loops (threads) on the QUIC port, 0 = one per CPU (0 to 64)", "0",
     "server.workers", NULL},
    {"--auth-public PREFIX", NULL, "prefix open to anonymous clients (repeatable)", "none",
     "auth.public", NULL},
    {"--auth-key FILE", NULL, "JWK verifying the clients' ?jwt= tokens", "none", "auth.key", "MOQ_AUTH_KEY"},
    {"--auth-key-dir DIR", NULL, "directory of KID.jwk keys (tokens name their kid)", "none", "auth.key_dir",
     "MOQ_AUTH_KEY_DIR"},
    {"--plugin FILE", NULL, "load a plugin (.so) after the file's [[plugin]]s (repeatable)", "none",
     "[[plugin]] path", NULL},
    {"--lua FILE", NULL, "run a Lua policy script (repeatable)", "none", "lua.scripts", NULL},
    {"--lua-budget N", NULL, "Lua instructions allowed per call", "1000000", "lua.budget", NULL},
    {"--client-tls-root FILE", NULL, "CA (PEM) checking the relays this one dials", "system roots",
     "client.tls.root", NULL},
    {"--client-tls-cert FILE", NULL, "certificate presented to the relays this one dials (mTLS)", "none",
     "client.tls.cert", NULL},
    {"--client-tls-key FILE", NULL, "key of --client-tls-cert", "none", "client.tls.key", NULL},
    {"--client-tls-disable-verify", NULL, "dial relays without checking their certificates", "off",
     "client.tls.disable_verify", NULL},
    {"--cluster-root HOST:PORT", NULL, "a root relay to register with (repeatable)", "none (this is a root)",
     "cluster.root", NULL},
    {"--cluster-node HOST:PORT", NULL, "this relay's address for its peers, and its name", "none",
     "cluster.node", NULL},
    {"--cluster-token FILE", NULL, "the JWT (cluster claim) presented to other relays", "none", "cluster.token",
     NULL},
    {"--cluster-linger DUR", NULL, "close an idle on-demand link to a relay after this", "5s",
     "cluster.linger", NULL},
    {"--limit-sessions N", NULL, "open sessions in all", "10000", "limits.sessions", NULL},
    {"--limit-sessions-per-address N", NULL, "open sessions from one IP address", "100", "limits.sessions_per_address", NULL},
    {"--limit-subscriptions N", NULL, "open subscriptions of one session", "1024", "limits.subscriptions", NULL},
    {"--limit-announce-interests N", NULL, "open announce requests of one session", "64", "limits.announce_interests", NULL},
    {"--limit-message-size BYTES", NULL, "bytes of one control message", "64KiB", "limits.message_size", NULL},
    {"--limit-path-length BYTES", NULL, "bytes of one broadcast path", "1024", "limits.path_length", NULL},
    {"--limit-path-segments N", NULL, "segments of one broadcast path", "32", "limits.path_segments", NULL},
    {"--limit-frame-size BYTES", NULL, "bytes of one frame", "32MiB", "limits.frame_size", NULL},
    {"--limit-subscriber-queue BYTES", NULL, "bytes queued per subscription before old groups go", "4MiB", "limits.subscriber_queue", NULL},
    {"--limit-subscriber-patience DUR", NULL, "drop a non-latest group still unsent after this", "2s", "limits.subscriber_patience", NULL},
    {"--limit-handshake-timeout DUR", NULL, "time to complete a QUIC handshake or an HTTP request (WebSocket upgrade)", "10s", "limits.handshake_timeout", NULL},
    {"--limit-cache-capacity BYTES", NULL, "cached bytes of all tracks, beyond their latest groups", "1GiB", "limits.cache_capacity", NULL},
    {"--cache-duration DUR", NULL, "keep groups older than the latest this long", "30s", "cache.duration",
     NULL},
    {"--cache-track-capacity BYTES", NULL, "cache per track beyond the latest group (KiB, MiB, GiB)", "32MiB",
     "cache.track_capacity", NULL},
    {"--help", NULL, "print this help and exit", NULL, NULL, NULL},
    {"--version", NULL, "print the version and exit", NULL, NULL, NULL},
};

/* The environment variables read between the file and the options. */
static const struct {
  const char *name;
  int id;
} env_vars[] = {
    {"MOQ_SERVER_BIND", OPT_BIND},       {"MOQ_SERVER_TLS_CERT", OPT_TLS_CERT},
    {"MOQ_SERVER_TLS_KEY", OPT_TLS_KEY}, {"MOQ_SERVER_TLS_GENERATE", OPT_TLS_GENERATE},
    {"MOQ_LOG_LEVEL", OPT_LOG_LEVEL},    {"MOQ_AUTH_KEY", OPT_AUTH_KEY},
    {"MOQ_AUTH_KEY_DIR", OPT_AUTH_KEY_DIR},
};

/* How a file value is read. */
typedef enum key_kind {
  K_TABLE,    /* a table whose keys are checked in turn */
  K_STRING,   /* a non-empty string (address or file name) */
  K_NAMES,    /* host names: a string (comma-separated) or an array of strings */
  K_DURATION, /* seconds as an integer, or a duration string */
  K_STREAMS,  /* an integer 1..65535 */
  K_LEVEL,    /* a log level name */
  K_PREFIXES, /* a string or an array of strings, "" allowed */
  K_BYTES,    /* an integer, or a string with a KiB/MiB/GiB suffix */
  K_PLUGINS,  /* [[plugin]]: path = "...", [plugin.config] */
  K_FILES,    /* a string or an array of non-empty strings */
  K_COUNT,    /* a positive integer */
  K_WORKERS,  /* an integer from 0 to WORKERS_LIMIT */
  K_BOOL,     /* true or false */
  K_ROOTS,    /* a string or an array of non-empty strings (cluster roots) */
} key_kind;

static const struct {
  const char *path;
  key_kind kind;
  int id;
} file_keys[] = {
    {"server", K_TABLE, 0},
    {"server.bind", K_STRING, OPT_BIND},
    {"server.listen", K_STRING, OPT_BIND},
    {"server.tls", K_TABLE, 0},
    {"server.tls.cert", K_STRING, OPT_TLS_CERT},
    {"server.tls.key", K_STRING, OPT_TLS_KEY},
    {"server.tls.generate", K_NAMES, OPT_TLS_GENERATE},
    {"server.tls.root", K_STRING, OPT_TLS_ROOT},
    {"server.quic", K_TABLE, 0},
    {"server.quic.idle_timeout", K_DURATION, OPT_IDLE_TIMEOUT},
    {"server.quic.keep_alive", K_DURATION, OPT_KEEP_ALIVE},
    {"server.quic.max_streams", K_STREAMS, OPT_MAX_STREAMS},
    {"server.workers", K_WORKERS, OPT_WORKERS},
    {"web", K_TABLE, 0},
    {"web.http", K_TABLE, 0},
    {"web.http.listen", K_STRING, OPT_HTTP_LISTEN},
    {"log", K_TABLE, 0},
    {"log.level", K_LEVEL, OPT_LOG_LEVEL},
    {"auth", K_TABLE, 0},
    {"auth.public", K_PREFIXES, OPT_AUTH_PUBLIC},
    {"auth.key", K_STRING, OPT_AUTH_KEY},
    {"auth.key_dir", K_STRING, OPT_AUTH_KEY_DIR},
    {"plugin", K_PLUGINS, OPT_PLUGIN},
    {"lua", K_TABLE, 0},
    {"lua.scripts", K_FILES, OPT_LUA},
    {"lua.budget", K_COUNT, OPT_LUA_BUDGET},
    {"client", K_TABLE, 0},
    {"client.tls", K_TABLE, 0},
    {"client.tls.root", K_STRING, OPT_CLIENT_TLS_ROOT},
    {"client.tls.cert", K_STRING, OPT_CLIENT_TLS_CERT},
    {"client.tls.key", K_STRING, OPT_CLIENT_TLS_KEY},
    {"client.tls.disable_verify", K_BOOL, OPT_CLIENT_TLS_DISABLE_VERIFY},
    {"limits", K_TABLE, 0},
    {"limits.sessions", K_COUNT, OPT_LIMIT_SESSIONS},
    {"limits.sessions_per_address", K_COUNT, OPT_LIMIT_SESSIONS_PER_ADDRESS},
    {"limits.subscriptions", K_COUNT, OPT_LIMIT_SUBSCRIPTIONS},
    {"limits.announce_interests", K_COUNT, OPT_LIMIT_ANNOUNCE_INTERESTS},
    {"limits.message_size", K_BYTES, OPT_LIMIT_MESSAGE_SIZE},
    {"limits.path_length", K_BYTES, OPT_LIMIT_PATH_LENGTH},
    {"limits.path_segments", K_COUNT, OPT_LIMIT_PATH_SEGMENTS},
    {"limits.frame_size", K_BYTES, OPT_LIMIT_FRAME_SIZE},
    {"limits.subscriber_queue", K_BYTES, OPT_LIMIT_SUBSCRIBER_QUEUE},
    {"limits.subscriber_patience", K_DURATION, OPT_LIMIT_SUBSCRIBER_PATIENCE},
    {"limits.handshake_timeout", K_DURATION, OPT_LIMIT_HANDSHAKE_TIMEOUT},
    {"limits.cache_capacity", K_BYTES, OPT_LIMIT_CACHE_CAPACITY},
    {"cluster", K_TABLE, 0},
    {"cluster.root", K_ROOTS, OPT_CLUSTER_ROOT},
    {"cluster.node", K_STRING, OPT_CLUSTER_NODE},
    {"cluster.token", K_STRING, OPT_CLUSTER_TOKEN},
    {"cluster.linger", K_DURATION, OPT_CLUSTER_LINGER},
    {"cache", K_TABLE, 0},
    {"cache.duration", K_DURATION, OPT_CACHE_DURATION},
    {"cache.track_capacity", K_BYTES, OPT_CACHE_TRACK_CAPACITY},
};

__attribute__((format(printf, 3, 4))) static int errf(char *err, size_t errlen, const char *fmt,
                                                      ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return -1;
}

static void str_release(char **s) {
  if (*s != default_bind) free(*s);
  *s = NULL;
}

/* Replaces *field with a copy of s (NULL clears it). 0 or -1. */
static int str_set(char **field, const char *s) {
  char *copy = NULL;
  if (s && !(copy = strdup(s))) return -1;
  str_release(field);
  *field = copy;
  return 0;
}

int str_list_push(str_list *l, const char *s) {
  char *copy = strdup(s);
  char **items = copy ? realloc(l->items, (l->len + 1) * sizeof *items) : NULL;
  if (!items) {
    free(copy);
    return -1;
  }
  items[l->len++] = copy;
  l->items = items;
  return 0;
}

void str_list_free(str_list *l) {
  for (size_t i = 0; i < l->len; i++) free(l->items[i]);
  free(l->items);
  l->items = NULL;
  l->len = 0;
}

static int str_list_copy(str_list *dst, const str_list *src) {
  dst->items = NULL;
  dst->len = 0;
  for (size_t i = 0; i < src->len; i++) {
    if (str_list_push(dst, src->items[i])) {
      str_list_free(dst);
      return -1;
    }
  }
  return 0;
}

static void plugin_conf_free(plugin_conf *p) {
  free(p->path);
  free(p->source);
  str_list_free(&p->keys);
  str_list_free(&p->values);
  memset(p, 0, sizeof *p);
}

static int plugin_conf_copy(plugin_conf *dst, const plugin_conf *src) {
  memset(dst, 0, sizeof *dst);
  if (!(dst->path = strdup(src->path)) || !(dst->source = strdup(src->source ? src->source : "")) ||
      str_list_copy(&dst->keys, &src->keys) || str_list_copy(&dst->values, &src->values)) {
    plugin_conf_free(dst);
    return -1;
  }
  return 0;
}

/* Appends a plugin (path and source copied; the config lists taken). 0 or -1. */
static int plugins_push(relay_config *cfg, const char *path, const char *source, str_list *keys, str_list *values) {
  plugin_conf *a = realloc(cfg->plugins, (cfg->n_plugins + 1) * sizeof *a);
  if (!a) return -1;
  cfg->plugins = a;
  plugin_conf *p = &a[cfg->n_plugins];
  memset(p, 0, sizeof *p);
  if (!(p->path = strdup(path)) || !(p->source = strdup(source))) {
    plugin_conf_free(p);
    return -1;
  }
  if (keys) {
    p->keys = *keys;
    p->values = *values;
    memset(keys, 0, sizeof *keys);
    memset(values, 0, sizeof *values);
  }
  cfg->n_plugins++;
  return 0;
}

void config_init(relay_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->server_bind = (char *)default_bind;
  cfg->log_level = LOG_INFO;
  cfg->quic_idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
  cfg->quic_keep_alive_ms = DEFAULT_KEEP_ALIVE_MS;
  cfg->cache_duration_ms = 30000;
  cfg->cache_track_bytes = 32u << 20;
  cfg->quic_max_streams = DEFAULT_MAX_STREAMS;
  cfg->workers = 0;
  cfg->lua_budget = 1000000;
  cfg->cluster_linger_ms = 5000;
  cfg->limits = (relay_limits){.sessions = 10000, .sessions_per_address = 100, .subscriptions = 1024,
                               .announce_interests = 64, .message_size = 64u << 10, .path_length = 1024,
                               .path_segments = 32, .frame_size = 32u << 20, .subscriber_queue = 4u << 20,
                               .subscriber_patience_ms = 2000, .handshake_timeout_ms = 10000,
                               .cache_capacity = 1ULL << 30};
}

static void config_release(relay_config *cfg) {
  str_release(&cfg->config_path);
  str_release(&cfg->server_bind);
  str_release(&cfg->tls_cert);
  str_release(&cfg->tls_key);
  str_release(&cfg->tls_root);
  str_release(&cfg->web_http_listen);
  str_list_free(&cfg->tls_generate);
  str_list_free(&cfg->auth_public);
  str_release(&cfg->auth_key);
  str_release(&cfg->auth_key_dir);
  for (size_t i = 0; i < cfg->n_plugins; i++) plugin_conf_free(&cfg->plugins[i]);
  free(cfg->plugins);
  cfg->plugins = NULL;
  cfg->n_plugins = 0;
  str_list_free(&cfg->lua_scripts);
  str_release(&cfg->client_tls_root);
  str_release(&cfg->client_tls_cert);
  str_release(&cfg->client_tls_key);
  str_release(&cfg->cluster_node);
  str_release(&cfg->cluster_token);
  str_list_free(&cfg->cluster_roots);
}

void config_free(relay_config *cfg) {
  config_release(cfg);
  config_init(cfg);
}

static int dup_field(char **dst, const char *src) {
  if (!src || src == default_bind) {
    *dst = (char *)src;
    return 0;
  }
  return (*dst = strdup(src)) ? 0 : -1;
}

/* Makes dst a deep copy of src (dst's old contents are not freed). 0 or -1. */
static int config_copy(relay_config *dst, const relay_config *src) {
  *dst = *src;
  dst->config_path = dst->server_bind = dst->tls_cert = dst->tls_key = NULL;
  dst->tls_root = dst->web_http_listen = NULL;
  dst->tls_generate.items = dst->auth_public.items = NULL;
  dst->tls_generate.len = dst->auth_public.len = 0;
  dst->auth_key = dst->auth_key_dir = NULL;
  dst->plugins = NULL;
  dst->n_plugins = 0;
  dst->lua_scripts.items = NULL;
  dst->lua_scripts.len = 0;
  dst->client_tls_root = dst->client_tls_cert = dst->client_tls_key = dst->cluster_node = dst->cluster_token = NULL;
  dst->cluster_roots.items = NULL;
  dst->cluster_roots.len = 0;
  if (dup_field(&dst->auth_key, src->auth_key) || dup_field(&dst->auth_key_dir, src->auth_key_dir) ||
      str_list_copy(&dst->lua_scripts, &src->lua_scripts) ||
      dup_field(&dst->client_tls_root, src->client_tls_root) ||
      dup_field(&dst->client_tls_cert, src->client_tls_cert) || dup_field(&dst->client_tls_key, src->client_tls_key) ||
      dup_field(&dst->cluster_node, src->cluster_node) || dup_field(&dst->cluster_token, src->cluster_token) ||
      str_list_copy(&dst->cluster_roots, &src->cluster_roots)) {
    config_release(dst);
    return -1;
  }
  if (src->n_plugins) {
    if (!(dst->plugins = calloc(src->n_plugins, sizeof *dst->plugins))) {
      config_release(dst);
      return -1;
    }
    for (; dst->n_plugins < src->n_plugins; dst->n_plugins++) {
      if (plugin_conf_copy(&dst->plugins[dst->n_plugins], &src->plugins[dst->n_plugins])) {
        config_release(dst);
        return -1;
      }
    }
  }
  if (dup_field(&dst->config_path, src->config_path) ||
      dup_field(&dst->server_bind, src->server_bind) || dup_field(&dst->tls_cert, src->tls_cert) ||
      dup_field(&dst->tls_key, src->tls_key) || dup_field(&dst->tls_root, src->tls_root) ||
      dup_field(&dst->web_http_listen, src->web_http_listen) ||
      str_list_copy(&dst->tls_generate, &src->tls_generate) ||
      str_list_copy(&dst->auth_public, &src->auth_public)) {
    config_release(dst);
    return -1;
  }
  return 0;
}

/* Replaces cfg's contents with next's (taken). */
static void config_replace(relay_config *cfg, relay_config *next) {
  config_release(cfg);
  *cfg = *next;
}

static char **string_field(relay_config *cfg, int id) {
  switch (id) {
  case OPT_BIND: return &cfg->server_bind;
  case OPT_TLS_CERT: return &cfg->tls_cert;
  case OPT_TLS_KEY: return &cfg->tls_key;
  case OPT_TLS_ROOT: return &cfg->tls_root;
  case OPT_HTTP_LISTEN: return &cfg->web_http_listen;
  case OPT_AUTH_KEY: return &cfg->auth_key;
  case OPT_AUTH_KEY_DIR: return &cfg->auth_key_dir;
  case OPT_CLIENT_TLS_ROOT: return &cfg->client_tls_root;
  case OPT_CLIENT_TLS_CERT: return &cfg->client_tls_cert;
  case OPT_CLIENT_TLS_KEY: return &cfg->client_tls_key;
  case OPT_CLUSTER_NODE: return &cfg->cluster_node;
  case OPT_CLUSTER_TOKEN: return &cfg->cluster_token;
  default: return NULL;
  }
}

/* The [limits] field an option sets, or NULL. */
static uint64_t *limit_field(relay_config *cfg, int id) {
  relay_limits *l = &cfg->limits;
  switch (id) {
  case OPT_LIMIT_SESSIONS: return &l->sessions;
  case OPT_LIMIT_SESSIONS_PER_ADDRESS: return &l->sessions_per_address;
  case OPT_LIMIT_SUBSCRIPTIONS: return &l->subscriptions;
  case OPT_LIMIT_ANNOUNCE_INTERESTS: return &l->announce_interests;
  case OPT_LIMIT_MESSAGE_SIZE: return &l->message_size;
  case OPT_LIMIT_PATH_LENGTH: return &l->path_length;
  case OPT_LIMIT_PATH_SEGMENTS: return &l->path_segments;
  case OPT_LIMIT_FRAME_SIZE: return &l->frame_size;
  case OPT_LIMIT_SUBSCRIBER_QUEUE: return &l->subscriber_queue;
  case OPT_LIMIT_SUBSCRIBER_PATIENCE: return &l->subscriber_patience_ms;
  case OPT_LIMIT_HANDSHAKE_TIMEOUT: return &l->handshake_timeout_ms;
  case OPT_LIMIT_CACHE_CAPACITY: return &l->cache_capacity;
  default: return NULL;
  }
}

/* Parses "30", "30s", "500ms", "2m" or "1h" into milliseconds. 0 or -1. */
/* The field a duration option sets. */
static uint64_t *duration_field(relay_config *cfg, int id) {
  switch (id) {
  case OPT_IDLE_TIMEOUT: return &cfg->quic_idle_timeout_ms;
  case OPT_KEEP_ALIVE: return &cfg->quic_keep_alive_ms;
  case OPT_CLUSTER_LINGER: return &cfg->cluster_linger_ms;
  case OPT_LIMIT_SUBSCRIBER_PATIENCE: return &cfg->limits.subscriber_patience_ms;
  case OPT_LIMIT_HANDSHAKE_TIMEOUT: return &cfg->limits.handshake_timeout_ms;
  default: return &cfg->cache_duration_ms;
  }
}

/* "123", "64KiB", "32MiB", "1GiB" (also KB/MB/GB, the same powers of 1024). */
static int parse_bytes(const char *s, uint64_t *out) {
  uint64_t v = 0, mult = 1;
  const char *p = s;
  if (*p < '0' || *p > '9') return -1;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (v > (UINT64_MAX - 9) / 10) return -1;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  if (!strcmp(p, "KiB") || !strcmp(p, "KB") || !strcmp(p, "k")) mult = 1ULL << 10;
  else if (!strcmp(p, "MiB") || !strcmp(p, "MB") || !strcmp(p, "M")) mult = 1ULL << 20;
  else if (!strcmp(p, "GiB") || !strcmp(p, "GB") || !strcmp(p, "G")) mult = 1ULL << 30;
  else if (*p) return -1;
  if (v > UINT64_MAX / mult) return -1;
  *out = v * mult;
  return 0;
}

static int parse_duration(const char *s, uint64_t *ms) {
  uint64_t v = 0, mult = 1000;
  const char *p = s;
  if (*p < '0' || *p > '9') return -1;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (v > (UINT64_MAX - 9) / 10) return -1;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  if (strcmp(p, "ms") == 0)
    mult = 1;
  else if (strcmp(p, "m") == 0)
    mult = 60000;
  else if (strcmp(p, "h") == 0)
    mult = 3600000;
  else if (*p != '\0' && strcmp(p, "s") != 0)
    return -1;
  if (v > UINT64_MAX / mult) return -1;
  *ms = v * mult;
  return 0;
}

/* Parses a decimal integer 1..65535. 0 or -1. */
static int parse_streams(const char *s, uint64_t *out) {
  uint64_t v = 0;
  if (!*s) return -1;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return -1;
    v = v * 10 + (uint64_t)(*p - '0');
    if (v > MAX_STREAMS_LIMIT) return -1;
  }
  if (v < 1) return -1;
  *out = v;
  return 0;
}

/* Checks "a,b,c" has no empty name. */
static int names_ok(const char *s) {
  if (!*s) return 0;
  for (const char *p = s; *p; p++)
    if (*p == ',' && (p == s || p[1] == ',' || p[1] == '\0')) return 0;
  return 1;
}

/* Appends each comma-separated name of s to l. 0 or -1. */
static int push_names(str_list *l, const char *s) {
  while (*s) {
    size_t n = strcspn(s, ",");
    char *name = strndup(s, n);
    int rv = name ? str_list_push(l, name) : -1;
    free(name);
    if (rv) return -1;
    s += n;
    if (*s == ',') s++;
  }
  return 0;
}

/* A positive decimal integer below 2^62. */
static int parse_count(const char *s, uint64_t *out) {
  uint64_t v = 0;
  if (*s < '0' || *s > '9') return -1;
  for (; *s >= '0' && *s <= '9'; s++) {
    if (v > (1ULL << 62) / 10) return -1;
    v = v * 10 + (uint64_t)(*s - '0');
  }
  if (*s || v == 0) return -1;
  *out = v;
  return 0;
}

/* Sets the setting id from the text v (an option or environment value). label names the source in
 * messages ("--log-level", "MOQ_LOG_LEVEL"). List settings are cleared first unless append. */
static int apply_text(relay_config *cfg, int id, const char *v, const char *label, int append,
                      char *err, size_t errlen) {
  char **field = string_field(cfg, id);
  uint64_t u;
  log_level level;
  switch (id) {
  case OPT_BIND:
  case OPT_HTTP_LISTEN:
    if (!*v) return errf(err, errlen, "%s: expected ADDR:PORT, got an empty string", label);
    break;
  case OPT_AUTH_KEY:
  case OPT_AUTH_KEY_DIR:
  case OPT_CLIENT_TLS_ROOT:
  case OPT_CLIENT_TLS_CERT:
  case OPT_CLIENT_TLS_KEY:
  case OPT_CLUSTER_TOKEN:
    if (!*v) return errf(err, errlen, "%s: expected a file name, got an empty string", label);
    break;
  case OPT_CLUSTER_NODE:
    if (!*v) return errf(err, errlen, "%s: expected HOST:PORT, got an empty string", label);
    break;
  case OPT_CLIENT_TLS_DISABLE_VERIFY:
    cfg->client_tls_disable_verify = 1;
    return 0;
  case OPT_CLUSTER_ROOT:
    if (!*v) return errf(err, errlen, "%s: expected HOST:PORT or a URL, got an empty string", label);
    if (!append) str_list_free(&cfg->cluster_roots);
    if (str_list_push(&cfg->cluster_roots, v)) goto nomem;
    return 0;
  case OPT_PLUGIN:
    if (!*v) return errf(err, errlen, "%s: expected the path of a plugin (.so), got an empty string", label);
    if (plugins_push(cfg, v, label, NULL, NULL)) goto nomem;
    return 0;
  case OPT_LUA:
    if (!*v) return errf(err, errlen, "%s: expected the path of a Lua script, got an empty string", label);
    if (!append) str_list_free(&cfg->lua_scripts);
    if (str_list_push(&cfg->lua_scripts, v)) goto nomem;
    return 0;
  case OPT_LUA_BUDGET:
    if (parse_count(v, &u))
      return errf(err, errlen, "%s: expected a positive number of instructions, got \"%s\"", label, v);
    cfg->lua_budget = u;
    return 0;
  case OPT_TLS_CERT:
  case OPT_TLS_KEY:
  case OPT_TLS_ROOT:
    if (!*v) return errf(err, errlen, "%s: expected a file name, got an empty string", label);
    break;
  case OPT_TLS_GENERATE:
    if (!names_ok(v))
      return errf(err, errlen, "%s: expected host names separated by commas, got \"%s\"", label, v);
    if (!append) str_list_free(&cfg->tls_generate);
    if (push_names(&cfg->tls_generate, v)) goto nomem;
    return 0;
  case OPT_AUTH_PUBLIC:
    if (!append) str_list_free(&cfg->auth_public);
    if (str_list_push(&cfg->auth_public, v)) goto nomem;
    return 0;
  case OPT_LOG_LEVEL:
    if (log_level_parse(v, &level))
      return errf(err, errlen, "%s: expected " LEVELS_EXPECTED ", got \"%s\"", label, v);
    cfg->log_level = level;
    return 0;
  case OPT_LIMIT_SESSIONS:
  case OPT_LIMIT_SESSIONS_PER_ADDRESS:
  case OPT_LIMIT_SUBSCRIPTIONS:
  case OPT_LIMIT_ANNOUNCE_INTERESTS:
  case OPT_LIMIT_PATH_SEGMENTS:
    if (parse_count(v, &u)) return errf(err, errlen, "%s: expected a positive integer, got \"%s\"", label, v);
    *limit_field(cfg, id) = u;
    return 0;
  case OPT_LIMIT_MESSAGE_SIZE:
  case OPT_LIMIT_PATH_LENGTH:
  case OPT_LIMIT_FRAME_SIZE:
  case OPT_LIMIT_SUBSCRIBER_QUEUE:
  case OPT_LIMIT_CACHE_CAPACITY:
    if (parse_bytes(v, &u) || u == 0)
      return errf(err, errlen, "%s: expected a size such as 4MiB, got \"%s\"", label, v);
    *limit_field(cfg, id) = u;
    return 0;
  case OPT_LIMIT_SUBSCRIBER_PATIENCE:
  case OPT_LIMIT_HANDSHAKE_TIMEOUT:
  case OPT_IDLE_TIMEOUT:
  case OPT_KEEP_ALIVE:
  case OPT_CLUSTER_LINGER:
  case OPT_CACHE_DURATION:
    if (parse_duration(v, &u))
      return errf(err, errlen, "%s: expected " DURATION_EXPECTED ", got \"%s\"", label, v);
    if (id == OPT_IDLE_TIMEOUT && u == 0)
      return errf(err, errlen, "%s: the idle timeout must be greater than 0", label);
    *duration_field(cfg, id) = u;
    return 0;
  case OPT_CACHE_TRACK_CAPACITY:
    if (parse_bytes(v, &u))
      return errf(err, errlen, "%s: expected a size such as 32MiB, got \"%s\"", label, v);
    cfg->cache_track_bytes = u;
    return 0;
  case OPT_WORKERS: {
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    if (!*v || *end || *v == '-' || *v == '+' || n > WORKERS_LIMIT)
      return errf(err, errlen, "%s: expected an integer from 0 (one per CPU) to 64, got \"%s\"", label, v);
    cfg->workers = (unsigned)n;
    return 0;
  }
  case OPT_MAX_STREAMS:
    if (parse_streams(v, &u))
      return errf(err, errlen, "%s: expected an integer from 1 to 65535, got \"%s\"", label, v);
    cfg->quic_max_streams = u;
    return 0;
  default: return errf(err, errlen, "%s: not a setting", label);
  }
  if (str_set(field, v)) goto nomem;
  return 0;
nomem:
  return errf(err, errlen, "%s: out of memory", label);
}

/* State of one file being applied. */
typedef struct loader {
  relay_config *cfg; /* borrowed: the copy being filled */
  const char *name;  /* borrowed: file name for messages */
  char *err;         /* borrowed */
  size_t errlen;
  int bind_line;        /* line where server.bind or server.listen was set, or 0 */
  const char *bind_key; /* static: which of the two */
} loader;

__attribute__((format(printf, 4, 5))) static int key_err(loader *ld, int line, const char *path,
                                                         const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return errf(ld->err, ld->errlen, "%s:%d: key \"%s\": %s", ld->name, line, path, msg);
}

/* Reads a string or an array of strings into a fresh list (names: split on commas, none empty). */
static int file_list(loader *ld, const toml_value *v, const char *path, int names, str_list *out) {
  const char *s;
  out->items = NULL;
  out->len = 0;
  size_t n = v->type == TOML_ARRAY ? toml_array_len(v) : 1;
  for (size_t i = 0; i < n; i++) {
    const toml_value *e = v->type == TOML_ARRAY ? toml_array_at(v, i) : v;
    if (toml_string(e, &s)) {
      key_err(ld, e->line, path, "expected a string or an array of strings, got %s",
              toml_type_name(e->type));
      goto fail;
    }
    if (names && !names_ok(s)) {
      key_err(ld, e->line, path, "expected host names, got \"%s\"", s);
      goto fail;
    }
    if (names ? push_names(out, s) : str_list_push(out, s)) {
      key_err(ld, e->line, path, "out of memory");
      goto fail;
    }
  }
  return 0;
fail:
  str_list_free(out);
  return -1;
}

/* Adds one [plugin.config] value (string, integer, boolean, or an array of those) under key. */
static int plugin_config_value(loader *ld, const char *key, const toml_value *v, const char *path, str_list *keys,
                               str_list *values, int nested) {
  char buf[32];
  const char *text = NULL;
  int64_t i;
  int b;
  if (v->type == TOML_ARRAY && !nested) {
    for (size_t k = 0; k < toml_array_len(v); k++)
      if (plugin_config_value(ld, key, toml_array_at(v, k), path, keys, values, 1)) return -1;
    return 0;
  }
  if (toml_string(v, &text) == 0) {
  } else if (toml_int(v, &i) == 0) {
    snprintf(buf, sizeof buf, "%lld", (long long)i);
    text = buf;
  } else if (toml_bool(v, &b) == 0) {
    text = b ? "true" : "false";
  } else {
    return key_err(ld, v->line, path, "expected a string, an integer, a boolean or an array of those, got %s",
                   toml_type_name(v->type));
  }
  if (str_list_push(keys, key) || str_list_push(values, text)) return key_err(ld, v->line, path, "out of memory");
  return 0;
}

/* [[plugin]] tables: path = "FILE.so" and an optional [plugin.config] table. */
static int file_plugins(loader *ld, const toml_value *v, const char *path) {
  if (v->type != TOML_ARRAY || !toml_is_table_array(v))
    return key_err(ld, v->line, path, "expected [[plugin]] sections, got %s", toml_type_name(v->type));
  for (size_t n = 0; n < toml_array_len(v); n++) {
    const toml_value *t = toml_array_at(v, n);
    const char *file = NULL;
    str_list keys = {0}, values = {0};
    for (size_t k = 0; k < toml_table_len(t); k++) {
      const toml_entry *e = toml_table_at(t, k);
      char kp[300];
      snprintf(kp, sizeof kp, "plugin.%s", e->key);
      if (strcmp(e->key, "path") == 0) {
        if (toml_string(e->value, &file) || !*file) {
          str_list_free(&keys);
          str_list_free(&values);
          return key_err(ld, e->value->line, kp, "expected the path of a plugin (.so) as a non-empty string");
        }
      } else if (strcmp(e->key, "config") == 0 && e->value->type == TOML_TABLE) {
        for (size_t c = 0; c < toml_table_len(e->value); c++) {
          const toml_entry *ce = toml_table_at(e->value, c);
          char cp[600];
          snprintf(cp, sizeof cp, "plugin.config.%s", ce->key);
          if (plugin_config_value(ld, ce->key, ce->value, cp, &keys, &values, 0)) {
            str_list_free(&keys);
            str_list_free(&values);
            return -1;
          }
        }
      } else {
        str_list_free(&keys);
        str_list_free(&values);
        return errf(ld->err, ld->errlen, "%s:%d: unknown key \"%s\" (a [[plugin]] has path and [plugin.config])",
                    ld->name, e->line, kp);
      }
    }
    if (!file) {
      str_list_free(&keys);
      str_list_free(&values);
      return errf(ld->err, ld->errlen, "%s:%d: [[plugin]] has no path: add path = \"/path/to/plugin.so\"", ld->name,
                  t->line);
    }
    char source[300];
    snprintf(source, sizeof source, "%s:%d", ld->name, t->line);
    if (plugins_push(ld->cfg, file, source, &keys, &values)) {
      str_list_free(&keys);
      str_list_free(&values);
      return key_err(ld, t->line, path, "out of memory");
    }
  }
  return 0;
}

/* Applies the value v of the known key path (static, from file_keys). */
static int file_value(loader *ld, key_kind kind, int id, const char *path, const toml_value *v) {
  relay_config *cfg = ld->cfg;
  const char *s;
  int64_t i;
  uint64_t u;
  log_level level;
  str_list l;
  switch (kind) {
  case K_STRING:
    if (toml_string(v, &s))
      return key_err(ld, v->line, path, "expected a string, got %s", toml_type_name(v->type));
    if (!*s) return key_err(ld, v->line, path, "expected a non-empty string");
    if (id == OPT_BIND) {
      if (ld->bind_line)
        return key_err(ld, v->line, path, "\"%s\" was already given at line %d; give only one",
                       ld->bind_key, ld->bind_line);
      ld->bind_line = v->line;
      ld->bind_key = path;
    }
    if (str_set(string_field(cfg, id), s)) return key_err(ld, v->line, path, "out of memory");
    return 0;
  case K_NAMES:
  case K_PREFIXES:
    if (file_list(ld, v, path, kind == K_NAMES, &l)) return -1;
    if (kind == K_NAMES && l.len == 0) {
      str_list_free(&l);
      return key_err(ld, v->line, path, "expected at least one host name");
    }
    str_list_free(kind == K_NAMES ? &cfg->tls_generate : &cfg->auth_public);
    *(kind == K_NAMES ? &cfg->tls_generate : &cfg->auth_public) = l;
    return 0;
  case K_DURATION:
    if (toml_int(v, &i) == 0) {
      if (i < 0 || (uint64_t)i > UINT64_MAX / 1000)
        return key_err(ld, v->line, path, "expected " DURATION_EXPECTED ", got %lld", (long long)i);
      u = (uint64_t)i * 1000;
    } else if (toml_string(v, &s) == 0) {
      if (parse_duration(s, &u))
        return key_err(ld, v->line, path, "expected " DURATION_EXPECTED ", got \"%s\"", s);
    } else {
      return key_err(ld, v->line, path, "expected " DURATION_EXPECTED ", got %s",
                     toml_type_name(v->type));
    }
    if (id == OPT_IDLE_TIMEOUT && u == 0)
      return key_err(ld, v->line, path, "the idle timeout must be greater than 0");
    *duration_field(cfg, id) = u;
    return 0;
  case K_BYTES:
    if (toml_int(v, &i) == 0) {
      if (i < 0) return key_err(ld, v->line, path, "expected a size such as \"32MiB\", got %lld", (long long)i);
      u = (uint64_t)i;
    } else if (toml_string(v, &s) == 0) {
      if (parse_bytes(s, &u)) return key_err(ld, v->line, path, "expected a size such as \"32MiB\", got \"%s\"", s);
    } else {
      return key_err(ld, v->line, path, "expected a size such as \"32MiB\", got %s", toml_type_name(v->type));
    }
    if (id != OPT_CACHE_TRACK_CAPACITY && u == 0) return key_err(ld, v->line, path, "expected a size above 0");
    *(id == OPT_CACHE_TRACK_CAPACITY ? &cfg->cache_track_bytes : limit_field(cfg, id)) = u;
    return 0;
  case K_WORKERS:
    if (toml_int(v, &i))
      return key_err(ld, v->line, path, "expected an integer from 0 (one per CPU) to 64, got %s",
                     toml_type_name(v->type));
    if (i < 0 || i > WORKERS_LIMIT)
      return key_err(ld, v->line, path, "expected an integer from 0 (one per CPU) to 64, got %lld", (long long)i);
    cfg->workers = (unsigned)i;
    return 0;
  case K_STREAMS:
    if (toml_int(v, &i))
      return key_err(ld, v->line, path, "expected an integer from 1 to 65535, got %s",
                     toml_type_name(v->type));
    if (i < 1 || i > MAX_STREAMS_LIMIT)
      return key_err(ld, v->line, path, "expected an integer from 1 to 65535, got %lld",
                     (long long)i);
    cfg->quic_max_streams = (uint64_t)i;
    return 0;
  case K_LEVEL:
    if (toml_string(v, &s))
      return key_err(ld, v->line, path, "expected " LEVELS_EXPECTED ", got %s",
                     toml_type_name(v->type));
    if (log_level_parse(s, &level))
      return key_err(ld, v->line, path, "expected " LEVELS_EXPECTED ", got \"%s\"", s);
    cfg->log_level = level;
    return 0;
  case K_FILES:
    if (file_list(ld, v, path, 0, &l)) return -1;
    for (size_t k = 0; k < l.len; k++) {
      if (!l.items[k][0]) {
        str_list_free(&l);
        return key_err(ld, v->line, path, "expected file names, got an empty string");
      }
    }
    str_list_free(&cfg->lua_scripts);
    cfg->lua_scripts = l;
    return 0;
  case K_COUNT:
    if (toml_int(v, &i) || i < 1)
      return key_err(ld, v->line, path, "expected a positive integer, got %s",
                     v->type == TOML_INT ? "a number below 1" : toml_type_name(v->type));
    *(id == OPT_LUA_BUDGET ? &cfg->lua_budget : limit_field(cfg, id)) = (uint64_t)i;
    return 0;
  case K_PLUGINS: return file_plugins(ld, v, path);
  case K_BOOL: {
    int b;
    if (toml_bool(v, &b)) return key_err(ld, v->line, path, "expected true or false, got %s", toml_type_name(v->type));
    cfg->client_tls_disable_verify = b;
    return 0;
  }
  case K_ROOTS:
    if (file_list(ld, v, path, 0, &l)) return -1;
    for (size_t k = 0; k < l.len; k++) {
      if (!l.items[k][0]) {
        str_list_free(&l);
        return key_err(ld, v->line, path, "expected HOST:PORT or URLs, got an empty string");
      }
    }
    str_list_free(&cfg->cluster_roots);
    cfg->cluster_roots = l;
    return 0;
  case K_TABLE: break;
  }
  return -1;
}

/* Applies every key of table t (whose dotted path is prefix) in file order. */
static int walk(loader *ld, const toml_value *t, const char *prefix) {
  for (size_t n = 0; n < toml_table_len(t); n++) {
    const toml_entry *e = toml_table_at(t, n);
    char path[256];
    snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", e->key);
    size_t k = 0, nkeys = sizeof file_keys / sizeof file_keys[0];
    if (!strchr(e->key, '.'))
      while (k < nkeys && strcmp(file_keys[k].path, path) != 0) k++;
    else
      k = nkeys;
    if (k == nkeys)
      return errf(ld->err, ld->errlen, "%s:%d: unknown key \"%s\"", ld->name, e->line, path);
    if (file_keys[k].kind == K_TABLE) {
      if (e->value->type != TOML_TABLE)
        return key_err(ld, e->value->line, path, "expected a table, got %s",
                       toml_type_name(e->value->type));
      if (walk(ld, e->value, path)) return -1;
    } else if (file_value(ld, file_keys[k].kind, file_keys[k].id, file_keys[k].path, e->value)) {
      return -1;
    }
  }
  return 0;
}

int config_load_string(relay_config *cfg, const char *name, const char *text, size_t len, char *err,
                       size_t errlen) {
  toml_value *root;
  relay_config next;
  if (!name) name = "<string>";
  if (toml_parse(name, text, len, &root, err, errlen)) return -1;
  if (config_copy(&next, cfg)) {
    toml_free(root);
    return errf(err, errlen, "%s: out of memory", name);
  }
  loader ld = {.cfg = &next, .name = name, .err = err, .errlen = errlen};
  int rv = walk(&ld, root, "");
  toml_free(root);
  if (rv) {
    config_release(&next);
    return -1;
  }
  config_replace(cfg, &next);
  return 0;
}

int config_load_file(relay_config *cfg, const char *path, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) return errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
  char *text = malloc(MAX_FILE_BYTES + 1);
  size_t len = text ? fread(text, 1, MAX_FILE_BYTES + 1, f) : 0;
  int bad = !text || ferror(f);
  int saved = errno;
  fclose(f);
  int rv = -1;
  if (bad)
    errf(err, errlen, "%s: cannot read: %s", path, text ? strerror(saved) : "out of memory");
  else if (len > MAX_FILE_BYTES)
    errf(err, errlen, "%s: file too large (more than %d bytes)", path, MAX_FILE_BYTES);
  else if (config_load_string(cfg, path, text, len, err, errlen) == 0)
    rv = str_set(&cfg->config_path, path) ? errf(err, errlen, "%s: out of memory", path) : 0;
  free(text);
  return rv;
}

/* One option from argv, applied after the file and the environment. */
typedef struct parsed_option {
  int id;
  const char *value; /* borrowed from argv */
  char name[40];     /* the option as typed, for messages: "--listen" */
} parsed_option;

/* Copies "--name" from an argument ("--name=value") into out. */
static void option_text(const char *arg, char *out, size_t outlen) {
  size_t n = strcspn(arg, "=");
  snprintf(out, outlen, "%.*s", (int)n, arg);
}

int config_parse_args(relay_config *cfg, int argc, char **argv, char *err, size_t errlen) {
  parsed_option *opts = calloc((size_t)(argc > 0 ? argc : 1), sizeof *opts);
  size_t nopts = 0;
  const char *path = NULL;
  int help = 0, version = 0, failed = 0;
  char name[40];
#define ARG_ERR(...) (failed ? 0 : (failed = 1, errf(err, errlen, __VA_ARGS__)))
  if (!opts) return errf(err, errlen, "out of memory");
  if (err && errlen) err[0] = '\0';
  optind = 0; /* glibc: start over, even if getopt was used before */
  opterr = 0;
  for (;;) {
    int c = getopt_long(argc, argv, "-:", long_options, NULL);
    if (c == -1) break;
    const char *last = optind - 1 < argc ? argv[optind - 1] : "";
    if (c == 1) { /* a positional argument */
      if (path)
        ARG_ERR("unexpected argument \"%s\": only one CONFIG.toml may be given", optarg);
      else
        path = optarg;
    } else if (c == '?' && optopt >= OPT_BIND) {
      option_text(last, name, sizeof name);
      ARG_ERR("%s: takes no value", name);
    } else if (c == '?' && optopt) {
      ARG_ERR("unknown option -%c (see --help)", optopt);
    } else if (c == '?') {
      option_text(last, name, sizeof name);
      ARG_ERR("unknown option %s (see --help)", name);
    } else if (c == ':') {
      option_text(last, name, sizeof name);
      ARG_ERR("%s: missing value", name);
    } else {
      /* The option text: argv[optind-2] when the value was the next argument. */
      int separate = optarg && optarg == argv[optind - 1];
      const char *arg = argv[optind - 1 - separate];
      const char *full = NULL; /* getopt_long also takes unambiguous prefixes: refuse those */
      option_text(arg, name, sizeof name);
      for (const struct option *lo = long_options; lo->name && !full; lo++)
        if (lo->val == c && strncmp(lo->name, name + 2, strlen(name + 2)) == 0) full = lo->name;
      if (full && strcmp(full, name + 2) != 0) {
        ARG_ERR("%s: abbreviated options are not accepted; write --%s", name, full);
      } else if (c == OPT_HELP) {
        help = 1;
      } else if (c == OPT_VERSION) {
        version = 1;
      } else if (separate && strncmp(optarg, "--", 2) == 0 && optarg[2] != '\0') {
        ARG_ERR("%s: missing value (got option %s; write %s=VALUE if that is the value)", name,
                optarg, name);
      } else {
        opts[nopts].id = c;
        opts[nopts].value = optarg;
        memcpy(opts[nopts].name, name, sizeof name);
        nopts++;
      }
    }
  }
  for (int i = optind; i < argc; i++) { /* after "--" */
    if (path)
      ARG_ERR("unexpected argument \"%s\": only one CONFIG.toml may be given", argv[i]);
    else
      path = argv[i];
  }
#undef ARG_ERR
  if (help || version) {
    cfg->show_help = help;
    cfg->show_version = version;
    if (err && errlen) err[0] = '\0';
    free(opts);
    return 0;
  }
  relay_config next;
  if (failed || config_copy(&next, cfg)) {
    free(opts);
    return failed ? -1 : errf(err, errlen, "out of memory");
  }
  int rv = 0;
  next.show_help = next.show_version = 0;
  if (path) rv = config_load_file(&next, path, err, errlen);
  for (size_t i = 0; rv == 0 && i < sizeof env_vars / sizeof env_vars[0]; i++) {
    const char *v = getenv(env_vars[i].name);
    if (v && *v) rv = apply_text(&next, env_vars[i].id, v, env_vars[i].name, 0, err, errlen);
  }
  int seen_generate = 0, seen_public = 0, seen_lua = 0, seen_root = 0;
  for (size_t i = 0; rv == 0 && i < nopts; i++) {
    int append = 0;
    if (opts[i].id == OPT_TLS_GENERATE) append = seen_generate++ > 0;
    if (opts[i].id == OPT_AUTH_PUBLIC) append = seen_public++ > 0;
    if (opts[i].id == OPT_LUA) append = seen_lua++ > 0;
    if (opts[i].id == OPT_CLUSTER_ROOT) append = seen_root++ > 0;
    rv = apply_text(&next, opts[i].id, opts[i].value, opts[i].name, append, err, errlen);
  }
  free(opts);
  if (rv) {
    config_release(&next);
    return -1;
  }
  config_replace(cfg, &next);
  return 0;
}

/* Checks that an address setting parses. */
static int check_addr(const char *what, const char *text, char *err, size_t errlen) {
  struct sockaddr_storage ss;
  char msg[256];
  if (addr_parse(text, &ss, NULL, msg, sizeof msg)) return errf(err, errlen, "%s: %s", what, msg);
  return 0;
}

int config_validate(const relay_config *cfg, char *err, size_t errlen) {
  if (err && errlen) err[0] = '\0';
  if (!cfg->server_bind)
    return errf(err, errlen, "no server address: give --server-bind ADDR:PORT");
  if (check_addr("--server-bind (server.bind)", cfg->server_bind, err, errlen)) return -1;
  if (cfg->web_http_listen &&
      check_addr("--web-http-listen (web.http.listen)", cfg->web_http_listen, err, errlen))
    return -1;
  int have_files = cfg->tls_cert || cfg->tls_key;
  if (have_files && cfg->tls_generate.len)
    return errf(err, errlen,
                "both a TLS certificate file and --tls-generate were given: use --tls-cert and "
                "--tls-key, or --tls-generate, not both");
  if (cfg->tls_cert && !cfg->tls_key)
    return errf(err, errlen,
                "--tls-cert was given without --tls-key: give both "
                "(server.tls.cert and server.tls.key)");
  if (cfg->tls_key && !cfg->tls_cert)
    return errf(err, errlen,
                "--tls-key was given without --tls-cert: give both "
                "(server.tls.cert and server.tls.key)");
  if (!have_files && !cfg->tls_generate.len)
    return errf(err, errlen,
                "no TLS certificate: give --tls-cert and --tls-key, or --tls-generate localhost");
  for (size_t i = 0; i < cfg->tls_generate.len; i++)
    if (!cfg->tls_generate.items[i] || !cfg->tls_generate.items[i][0])
      return errf(err, errlen, "--tls-generate: a host name is empty");
  if ((unsigned)cfg->log_level > LOG_TRACE)
    return errf(err, errlen, "--log-level: expected " LEVELS_EXPECTED);
  if (cfg->quic_idle_timeout_ms == 0)
    return errf(err, errlen, "--server-quic-idle-timeout: the idle timeout must be greater than 0");
  if (cfg->quic_keep_alive_ms >= cfg->quic_idle_timeout_ms)
    return errf(err, errlen,
                "--server-quic-keep-alive (%llums) must be shorter than --server-quic-idle-timeout "
                "(%llums), or 0 to disable keep-alives",
                (unsigned long long)cfg->quic_keep_alive_ms,
                (unsigned long long)cfg->quic_idle_timeout_ms);
  if (cfg->quic_max_streams < 1 || cfg->quic_max_streams > MAX_STREAMS_LIMIT)
    return errf(err, errlen, "--server-quic-max-streams: expected an integer from 1 to 65535");
  if (cfg->workers > WORKERS_LIMIT)
    return errf(err, errlen, "--workers: expected an integer from 0 (one per CPU) to 64");
  if (!cfg->limits.handshake_timeout_ms)
    return errf(err, errlen, "--limit-handshake-timeout: the handshake timeout must be greater than 0");
  if (!cfg->limits.subscriber_patience_ms)
    return errf(err, errlen, "--limit-subscriber-patience: must be greater than 0");
  if (!cfg->client_tls_cert != !cfg->client_tls_key)
    return errf(err, errlen, "--client-tls-cert and --client-tls-key go together: give both (client.tls.cert and "
                             "client.tls.key)");
  if (cfg->cluster_roots.len && !cfg->cluster_node)
    return errf(err, errlen, "--cluster-root needs --cluster-node HOST:PORT: the address other relays reach this "
                             "one at, and its name in the cluster (cluster.node)");
  if (cfg->auth_key && cfg->auth_key_dir)
    return errf(err, errlen, "both --auth-key and --auth-key-dir were given: use one (auth.key or auth.key_dir)");
  if (cfg->auth_public.len == 0 && !cfg->auth_key && !cfg->auth_key_dir && !cfg->n_plugins &&
      !cfg->lua_scripts.len && !cfg->tls_root)
    return errf(err, errlen,
                "no access is configured, so nobody could publish or subscribe: give --auth-public PREFIX "
                "(\"\" opens everything to everyone), --auth-key FILE for tokens, a --lua script or a --plugin; "
                "or [auth] public = \"anon\" in the config file");
  return 0;
}

void config_print_help(FILE *out, const char *argv0) {
  const char *prog = argv0 && *argv0 ? argv0 : "moq-relay";
  const char *slash = strrchr(prog, '/');
  if (slash && slash[1]) prog = slash + 1;
  fprintf(out,
          "Usage: %s [OPTIONS] [CONFIG.toml]\n"
          "\n"
          "A Media over QUIC relay. Settings come from CONFIG.toml (TOML), then from the\n"
          "MOQ_* environment variables, then from these options; each source overrides the\n"
          "ones before it. Options take their value as --option VALUE or --option=VALUE.\n"
          "A repeatable option replaces the file's list the first time, then adds to it.\n"
          "Durations are whole seconds or a number with ms, s, m or h (500ms, 30s, 2m).\n"
          "\n"
          "Options:\n",
          prog);
  for (size_t i = 0; i < sizeof option_docs / sizeof option_docs[0]; i++) {
    const option_doc *d = &option_docs[i];
    const char *labels[] = {"default", "alias", "file", "env"};
    const char *values[] = {d->def, d->alias, d->key, d->env};
    fprintf(out, "  %-32s %s\n", d->flag, d->help);
    int col = 0; /* 0: no note line open yet */
    for (size_t k = 0; k < 4; k++) {
      if (!values[k]) continue;
      int w = (int)(strlen(labels[k]) + strlen(values[k]) + 5); /* " [label: value]" */
      if (col == 0 || col + w > 80) {
        if (col) fputc('\n', out);
        col = fprintf(out, "  %-32s", "");
      }
      col += fprintf(out, " [%s: %s]", labels[k], values[k]);
    }
    if (col) fputc('\n', out);
  }
  fprintf(out, "\nA certificate is required: --tls-cert and --tls-key, or --tls-generate NAME.\n"
               "Anonymous clients may publish and subscribe under each --auth-public prefix;\n"
               "--auth-public \"\" opens everything.\n");
}
