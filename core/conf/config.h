/* config: the relay's settings, from a TOML file and command-line options (options win).
 * Keys and flags follow the reference relay (moq-dev's moq-relay) where it has them. */
#ifndef MOQ_CONF_CONFIG_H
#define MOQ_CONF_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/log.h"

/* A growable list of owned strings. */
typedef struct str_list {
  char **items; /* owned, each owned */
  size_t len;
} str_list;

/* One plugin to load ([[plugin]] in the file, or --plugin). */
typedef struct plugin_conf {
  char *path;        /* owned: the shared object */
  str_list keys;     /* its [plugin.config] table flattened: keys[i] = values[i] (arrays repeat a key) */
  str_list values;
  char *source;      /* owned: "FILE:LINE" or "--plugin", for messages */
} plugin_conf;

/* What one peer may make the relay hold ([limits]; moq-relay.toml(5) says what each protects). */
typedef struct relay_limits {
  uint64_t sessions;             /* open sessions in all, default 10000 */
  uint64_t sessions_per_address; /* open sessions from one IP address, default 100 */
  uint64_t subscriptions;        /* open subscriptions per session, default 1024 */
  uint64_t announce_interests;   /* open announce requests per session, default 64 */
  uint64_t message_size;         /* bytes of one control message, default 64 KiB */
  uint64_t path_length;          /* bytes of one broadcast path, default 1024 */
  uint64_t path_segments;        /* segments of one path, default 32 */
  uint64_t frame_size;           /* bytes of one frame, default 32 MiB */
  uint64_t subscriber_queue;     /* bytes queued per subscription before old groups go, 4 MiB */
  uint64_t subscriber_patience_ms; /* an unsent non-latest group is dropped after this, 2 s */
  uint64_t handshake_timeout_ms; /* QUIC handshake, default 10 s */
  uint64_t cache_capacity;       /* cached bytes of all tracks (latest groups excepted), 1 GiB */
} relay_limits;

typedef struct relay_config {
  char *config_path;       /* owned: the TOML file read, or NULL */
  char *server_bind;       /* owned, except the built-in default "[::]:4443" (a static string that
                            * config_free skips): QUIC UDP address. Change it only through config_* */
  char *tls_cert;          /* owned: PEM certificate chain path, or NULL */
  char *tls_key;           /* owned: PEM private key path, or NULL */
  str_list tls_generate;   /* host names for a self-signed certificate */
  char *tls_root;          /* owned: CA PEM for optional client certificates (mTLS), or NULL */
  char *web_http_listen;   /* owned: TCP address of the HTTP listener, or NULL (disabled) */
  log_level log_level;     /* default LOG_INFO */
  uint64_t quic_idle_timeout_ms; /* default 30000 */
  uint64_t quic_keep_alive_ms;   /* default 5000; 0 disables */
  uint64_t quic_max_streams;     /* per direction and kind, default 1024 */
  unsigned workers;              /* event loops sharing the QUIC port; 0 (the default) = one per CPU the
                                  * process may run on */
  uint64_t cache_duration_ms;    /* keep non-latest groups this long; default 30000 */
  uint64_t cache_track_bytes;    /* cached bytes per track beyond the latest group; default 32 MiB */
  str_list auth_public;    /* prefixes open to anonymous publish+subscribe ("" = everything) */
  char *auth_key;          /* owned: JWK file verifying tokens, or NULL */
  char *auth_key_dir;      /* owned: directory of {kid}.jwk files, or NULL */
  plugin_conf *plugins;    /* owned array: plugins in load order (file first, then --plugin) */
  size_t n_plugins;
  str_list lua_scripts;    /* Lua scripts, each run by its own instance of the lua plugin */
  uint64_t lua_budget;     /* instructions per Lua call, default 1000000 */
  char *client_tls_root;   /* owned: CA (PEM) for the relay's outbound links, or NULL (system roots) */
  char *client_tls_cert;   /* owned: the relay's own client certificate for links (mTLS), or NULL */
  char *client_tls_key;    /* owned: its key */
  int client_tls_disable_verify; /* links accept any certificate (tests only) */
  str_list cluster_roots;  /* root relays to register with (host:port or URL); empty: none */
  char *cluster_node;      /* owned: this relay's reachable host:port, also its name; NULL: no cluster */
  char *cluster_token;     /* owned: file holding the JWT presented to other relays, or NULL */
  uint64_t cluster_linger_ms; /* an on-demand link with nothing flowing closes after this; default 5000 */
  relay_limits limits;
  int show_help;           /* --help was given */
  int show_version;        /* --version was given */
} relay_config;

/* Fills cfg with the defaults. */
void config_init(relay_config *cfg);
/* Frees everything cfg owns and leaves it as after config_init. */
void config_free(relay_config *cfg);
/* Reads the TOML file at path into cfg (keys not in the file keep their values). Returns 0, or -1 with a
 * message "FILE:LINE: key KEY: what was expected" in err (cfg is then unchanged). */
int config_load_file(relay_config *cfg, const char *path, char *err, size_t errlen);
/* Parses TOML text (name is used in messages) into cfg. Same contract as config_load_file. */
int config_load_string(relay_config *cfg, const char *name, const char *text, size_t len, char *err,
                       size_t errlen);
/* Parses argv: an optional positional CONFIG.toml (loaded first), then the environment (MOQ_SERVER_BIND,
 * MOQ_SERVER_TLS_CERT, MOQ_SERVER_TLS_KEY, MOQ_SERVER_TLS_GENERATE, MOQ_LOG_LEVEL), then the options,
 * which override both whatever their order. With --help or --version only sets show_help/show_version.
 * Returns 0, or -1 with a message naming the option in err (cfg is then unchanged). */
int config_parse_args(relay_config *cfg, int argc, char **argv, char *err, size_t errlen);
/* Checks the combination (a certificate source is given, addresses parse, ...). 0 or -1 with err. */
int config_validate(const relay_config *cfg, char *err, size_t errlen);
/* Writes the --help text. */
void config_print_help(FILE *out, const char *argv0);

/* Appends a copy of s to l. Returns 0 or -1 on allocation failure. */
int str_list_push(str_list *l, const char *s);
/* Frees l's strings and array. */
void str_list_free(str_list *l);

#endif
