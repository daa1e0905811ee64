/* Unit tests for conf/config: defaults, every file key, every option, environment variables, the
 * precedence file < environment < options, help/version, and every error message. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config.h"

#ifndef TEST_SRCDIR
#error "TEST_SRCDIR must name the source tree"
#endif
#define DATA(name) TEST_SRCDIR "/tests/unit/data/" name

static const char *const env_names[] = {"MOQ_SERVER_BIND", "MOQ_SERVER_TLS_CERT",
                                        "MOQ_SERVER_TLS_KEY", "MOQ_SERVER_TLS_GENERATE",
                                        "MOQ_LOG_LEVEL", "MOQ_AUTH_KEY", "MOQ_AUTH_KEY_DIR"};

/* Every test starts without the MOQ_* variables of whoever runs the suite. */
static void clear_env(void) {
  for (size_t i = 0; i < sizeof env_names / sizeof env_names[0]; i++) unsetenv(env_names[i]);
}

static void load_ok(relay_config *cfg, const char *text) {
  char err[512];
  int rc = config_load_string(cfg, "relay.toml", text, strlen(text), err, sizeof err);
  ck_assert_msg(rc == 0, "load failed: %s\n--- text:\n%s", err, text);
}

static void assert_prefix(const char *err, const char *want, const char *context) {
  ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s: got \"%s\"\nwant \"%s...\"", context,
                err, want);
}

static void assert_list(const str_list *l, size_t n, const char *const *want) {
  ck_assert_uint_eq(l->len, n);
  for (size_t i = 0; i < n; i++) ck_assert_str_eq(l->items[i], want[i]);
}

/* Runs config_parse_args on a NULL-terminated argument list (argv[0] is added). */
static int parse_args(relay_config *cfg, const char *const *args, char *err, size_t errlen) {
  char *argv[64];
  int argc = 0;
  argv[argc++] = "moq-relay";
  for (; *args; args++) {
    ck_assert_int_lt(argc, 62);
    argv[argc++] = (char *)*args;
  }
  argv[argc] = NULL;
  return config_parse_args(cfg, argc, argv, err, errlen);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NO_ARGS ((const char *const[]){NULL})

static void args_ok(relay_config *cfg, const char *const *args) {
  char err[512] = "";
  ck_assert_msg(parse_args(cfg, args, err, sizeof err) == 0, "parse failed: %s", err);
  ck_assert_str_eq(err, "");
}

static void assert_defaults(const relay_config *cfg) {
  ck_assert_ptr_null(cfg->config_path);
  ck_assert_str_eq(cfg->server_bind, "[::]:4443");
  ck_assert_ptr_null(cfg->tls_cert);
  ck_assert_ptr_null(cfg->tls_key);
  ck_assert_uint_eq(cfg->tls_generate.len, 0);
  ck_assert_ptr_null(cfg->tls_root);
  ck_assert_ptr_null(cfg->web_http_listen);
  ck_assert_int_eq(cfg->log_level, LOG_INFO);
  ck_assert_uint_eq(cfg->quic_idle_timeout_ms, 30000);
  ck_assert_uint_eq(cfg->quic_keep_alive_ms, 5000);
  ck_assert_uint_eq(cfg->quic_max_streams, 1024);
  ck_assert_uint_eq(cfg->auth_public.len, 0);
  ck_assert_int_eq(cfg->show_help, 0);
  ck_assert_int_eq(cfg->show_version, 0);
  ck_assert_uint_eq(cfg->workers, 0); /* one per CPU */
}

START_TEST(test_defaults) {
  relay_config cfg;
  config_init(&cfg);
  assert_defaults(&cfg);
  load_ok(&cfg, "[server]\nbind = \"1.2.3.4:5\"\n[auth]\npublic = \"x\"\n");
  ck_assert_str_eq(cfg.server_bind, "1.2.3.4:5");
  config_free(&cfg);
  assert_defaults(&cfg);
  config_free(&cfg); /* twice is fine */
  assert_defaults(&cfg);
}
END_TEST

START_TEST(test_file_every_key) {
  relay_config cfg;
  config_init(&cfg);
  load_ok(&cfg, "[server]\n"
                "bind = \"127.0.0.1:4443\"\n"
                "[server.tls]\n"
                "cert = \"c.pem\"\n"
                "key = \"k.pem\"\n"
                "generate = [\"localhost\", \"relay.example\"]\n"
                "root = \"ca.pem\"\n"
                "[server.quic]\n"
                "idle_timeout = 60\n"
                "keep_alive = \"750ms\"\n"
                "max_streams = 65535\n"
                "[web.http]\n"
                "listen = \"[::]:8080\"\n"
                "[log]\n"
                "level = \"trace\"\n"
                "[auth]\n"
                "public = [\"\", \"anon/\"]\n");
  ck_assert_str_eq(cfg.server_bind, "127.0.0.1:4443");
  ck_assert_str_eq(cfg.tls_cert, "c.pem");
  ck_assert_str_eq(cfg.tls_key, "k.pem");
  assert_list(&cfg.tls_generate, 2, (const char *[]){"localhost", "relay.example"});
  ck_assert_str_eq(cfg.tls_root, "ca.pem");
  ck_assert_uint_eq(cfg.quic_idle_timeout_ms, 60000);
  ck_assert_uint_eq(cfg.quic_keep_alive_ms, 750);
  ck_assert_uint_eq(cfg.quic_max_streams, 65535);
  ck_assert_str_eq(cfg.web_http_listen, "[::]:8080");
  ck_assert_int_eq(cfg.log_level, LOG_TRACE);
  assert_list(&cfg.auth_public, 2, (const char *[]){"", "anon/"});
  ck_assert_ptr_null(cfg.config_path); /* only config_load_file records a path */
  config_free(&cfg);
}
END_TEST

START_TEST(test_file_forms) {
  relay_config cfg;
  config_init(&cfg);
  /* listen is an alias of bind; dotted keys and inline tables are the same tables */
  load_ok(&cfg, "server.listen = \"[::1]:1\"\nserver.tls = { generate = \"localhost\" }\n"
                "log = { level = \"WARN\" }\nauth.public = \"\"\n");
  ck_assert_str_eq(cfg.server_bind, "[::1]:1");
  assert_list(&cfg.tls_generate, 1, (const char *[]){"localhost"});
  ck_assert_int_eq(cfg.log_level, LOG_WARN);
  assert_list(&cfg.auth_public, 1, (const char *[]){""});
  /* a string of names is split on commas; a new list replaces the old one */
  load_ok(&cfg, "[server.tls]\ngenerate = \"a.test,b.test\"\n[auth]\npublic = [\"x/\"]\n");
  assert_list(&cfg.tls_generate, 2, (const char *[]){"a.test", "b.test"});
  assert_list(&cfg.auth_public, 1, (const char *[]){"x/"});
  load_ok(&cfg, "[auth]\npublic = []\n");
  ck_assert_uint_eq(cfg.auth_public.len, 0);
  /* keys absent from a later file keep their values */
  ck_assert_str_eq(cfg.server_bind, "[::1]:1");
  ck_assert_int_eq(cfg.log_level, LOG_WARN);
  /* empty tables and comments are fine */
  load_ok(&cfg,
          "# nothing\n[server]\n[server.tls]\n[server.quic]\n[web]\n[web.http]\n[log]\n[auth]\n");
  ck_assert_str_eq(cfg.server_bind, "[::1]:1");
  load_ok(&cfg, "");
  config_free(&cfg);
}
END_TEST

static const struct {
  const char *value;
  uint64_t ms;
} durations[] = {
    {"30", 30000},      {"0", 0},           {"\"30s\"", 30000},
    {"\"500ms\"", 500}, {"\"2m\"", 120000}, {"\"1h\"", 3600000},
    {"\"15\"", 15000},  {"\"0s\"", 0},      {"1_000", 1000000},
};

START_TEST(test_file_durations) {
  relay_config cfg;
  char text[128];
  config_init(&cfg);
  snprintf(text, sizeof text, "[server.quic]\nkeep_alive = %s\n", durations[_i].value);
  load_ok(&cfg, text);
  ck_assert_uint_eq(cfg.quic_keep_alive_ms, durations[_i].ms);
  if (durations[_i].ms) {
    snprintf(text, sizeof text, "[server.quic]\nidle_timeout = %s\n", durations[_i].value);
    load_ok(&cfg, text);
    ck_assert_uint_eq(cfg.quic_idle_timeout_ms, durations[_i].ms);
  }
  config_free(&cfg);
}
END_TEST

#define DUR_EXPECTED                                                                               \
  "expected a duration (whole seconds, or a string like \"30s\", \"500ms\", \"2m\")"
#define LEVELS "expected one of error, warn, info, debug, trace"

static const struct {
  const char *text;
  const char *want;
} bad_files[] = {
    {"[server]\nbind = \"x:1\"\nbnd = 1\n", "relay.toml:3: unknown key \"server.bnd\""},
    {"[foo]\n", "relay.toml:1: unknown key \"foo\""},
    {"x = 1", "relay.toml:1: unknown key \"x\""},
    {"\n[server.tls.extra]\n", "relay.toml:2: unknown key \"server.tls.extra\""},
    {"[log]\nlevel = \"info\"\ncolor = true\n", "relay.toml:3: unknown key \"log.color\""},
    {"\"server.bind\" = \"x:1\"", "relay.toml:1: unknown key \"server.bind\""},
    {"[web]\nhttps = {}\n", "relay.toml:2: unknown key \"web.https\""},
    {"[[plugin]]\nname = \"x\"\n",
     "relay.toml:2: unknown key \"plugin.name\" (a [[plugin]] has path and [plugin.config])"},
    {"[[plugin]]\n[plugin.config]\na = 1\n", "relay.toml:1: [[plugin]] has no path: add path = \"/path/to/plugin.so\""},
    {"plugin = \"x.so\"\n", "relay.toml:1: key \"plugin\": expected [[plugin]] sections, got a string"},
    {"[[plugin]]\npath = \"\"\n",
     "relay.toml:2: key \"plugin.path\": expected the path of a plugin (.so) as a non-empty string"},
    {"[[plugin]]\npath = \"a.so\"\n[plugin.config]\nx = {a = 1}\n",
     "relay.toml:4: key \"plugin.config.x\": expected a string, an integer, a boolean or an array of those, got a "
     "table"},
    {"[lua]\nscripts = [\"\"]\n", "relay.toml:2: key \"lua.scripts\": expected file names, got an empty string"},
    {"[lua]\nscripts = 3\n",
     "relay.toml:2: key \"lua.scripts\": expected a string or an array of strings, got an integer"},
    {"[lua]\nbudget = 0\n", "relay.toml:2: key \"lua.budget\": expected a positive integer, got a number below 1"},
    {"[auth]\nkey = \"\"\n", "relay.toml:2: key \"auth.key\": expected a non-empty string"},
    {"[server.quic]\nmax_stream = 1", "relay.toml:2: unknown key \"server.quic.max_stream\""},
    {"server = 1", "relay.toml:1: key \"server\": expected a table, got an integer"},
    {"[[server]]", "relay.toml:1: key \"server\": expected a table, got an array"},
    {"[web]\nhttp = \"x\"", "relay.toml:2: key \"web.http\": expected a table, got a string"},
    {"[server]\nbind = 4443",
     "relay.toml:2: key \"server.bind\": expected a string, got an integer"},
    {"[server]\nbind = \"\"", "relay.toml:2: key \"server.bind\": expected a non-empty string"},
    {"[server]\nbind = \"a:1\"\nlisten = \"b:2\"",
     "relay.toml:3: key \"server.listen\": \"server.bind\" was already given at line 2; give only "
     "one"},
    {"[server]\nlisten = \"a:1\"\nbind = \"b:2\"",
     "relay.toml:3: key \"server.bind\": \"server.listen\" was already given at line 2"},
    {"[server.tls]\ncert = [\"a\"]",
     "relay.toml:2: key \"server.tls.cert\": expected a string, got an array"},
    {"[server.tls]\nkey = true",
     "relay.toml:2: key \"server.tls.key\": expected a string, got a boolean"},
    {"[server.tls]\nroot = \"\"",
     "relay.toml:2: key \"server.tls.root\": expected a non-empty string"},
    {"[web.http]\nlisten = 80",
     "relay.toml:2: key \"web.http.listen\": expected a string, got an integer"},
    {"[server.tls]\ngenerate = 1",
     "relay.toml:2: key \"server.tls.generate\": expected a string or an array of strings"},
    {"[server.tls]\ngenerate = [\n  \"a\",\n  2,\n]",
     "relay.toml:4: key \"server.tls.generate\": expected a string or an array of strings, got an "
     "integer"},
    {"[server.tls]\ngenerate = []",
     "relay.toml:2: key \"server.tls.generate\": expected at least one host name"},
    {"[server.tls]\ngenerate = \"a,,b\"",
     "relay.toml:2: key \"server.tls.generate\": expected host names, got \"a,,b\""},
    {"[server.tls]\ngenerate = [\"\"]",
     "relay.toml:2: key \"server.tls.generate\": expected host names, got \"\""},
    {"[server.quic]\nidle_timeout = 0",
     "relay.toml:2: key \"server.quic.idle_timeout\": the idle timeout must be greater than 0"},
    {"[server.quic]\nidle_timeout = \"0ms\"",
     "relay.toml:2: key \"server.quic.idle_timeout\": the idle timeout must be greater than 0"},
    {"[server.quic]\nidle_timeout = \"abc\"",
     "relay.toml:2: key \"server.quic.idle_timeout\": " DUR_EXPECTED ", got \"abc\""},
    {"[server.quic]\nidle_timeout = -1",
     "relay.toml:2: key \"server.quic.idle_timeout\": " DUR_EXPECTED ", got -1"},
    {"[server.quic]\nidle_timeout = 9223372036854775807",
     "relay.toml:2: key \"server.quic.idle_timeout\": " DUR_EXPECTED ", got 9223372036854775807"},
    {"[server.quic]\nidle_timeout = \"99999999999999999999s\"",
     "relay.toml:2: key \"server.quic.idle_timeout\": " DUR_EXPECTED},
    {"[server.quic]\nidle_timeout = \"18446744073709552s\"",
     "relay.toml:2: key \"server.quic.idle_timeout\": " DUR_EXPECTED},
    {"[server.quic]\nkeep_alive = true",
     "relay.toml:2: key \"server.quic.keep_alive\": " DUR_EXPECTED ", got a boolean"},
    {"[server.quic]\nkeep_alive = \"5 s\"",
     "relay.toml:2: key \"server.quic.keep_alive\": " DUR_EXPECTED ", got \"5 s\""},
    {"[server.quic]\nkeep_alive = \"1.5s\"",
     "relay.toml:2: key \"server.quic.keep_alive\": " DUR_EXPECTED},
    {"[server.quic]\nkeep_alive = \"-1s\"",
     "relay.toml:2: key \"server.quic.keep_alive\": " DUR_EXPECTED},
    {"[server.quic]\nkeep_alive = \"5sec\"",
     "relay.toml:2: key \"server.quic.keep_alive\": " DUR_EXPECTED},
    {"[server.quic]\nkeep_alive = \"s\"",
     "relay.toml:2: key \"server.quic.keep_alive\": " DUR_EXPECTED},
    {"[server.quic]\nkeep_alive = \"\"",
     "relay.toml:2: key \"server.quic.keep_alive\": " DUR_EXPECTED ", got \"\""},
    {"[server.quic]\nmax_streams = 0",
     "relay.toml:2: key \"server.quic.max_streams\": expected an integer from 1 to 65535, got 0"},
    {"[server.quic]\nmax_streams = 65536", "relay.toml:2: key \"server.quic.max_streams\": "
                                           "expected an integer from 1 to 65535, got 65536"},
    {"[server.quic]\nmax_streams = -5",
     "relay.toml:2: key \"server.quic.max_streams\": expected an integer from 1 to 65535, got -5"},
    {"[server.quic]\nmax_streams = \"10\"", "relay.toml:2: key \"server.quic.max_streams\": "
                                            "expected an integer from 1 to 65535, got a string"},
    {"[log]\nlevel = \"loud\"", "relay.toml:2: key \"log.level\": " LEVELS ", got \"loud\""},
    {"[log]\nlevel = 3", "relay.toml:2: key \"log.level\": " LEVELS ", got an integer"},
    {"[auth]\npublic = [1]",
     "relay.toml:2: key \"auth.public\": expected a string or an array of strings, got an integer"},
    {"[auth]\npublic = 5",
     "relay.toml:2: key \"auth.public\": expected a string or an array of strings, got an integer"},
    {"[auth]\npublic = [[\"a\"]]",
     "relay.toml:2: key \"auth.public\": expected a string or an array of strings, got an array"},
    /* TOML syntax errors come through with their line */
    {"[server]\nbind = \"x\n", "relay.toml:2: unterminated string"},
    {"[server]\n[server]\n", "relay.toml:2: table [server] is defined twice (first at line 1)"},
    {"[log]\nlevel = info\n", "relay.toml:2: expected a value, got \"info\" (strings need quotes)"},
};

START_TEST(test_file_errors) {
  relay_config cfg;
  char err[512] = "";
  config_init(&cfg);
  const char *text = bad_files[_i].text;
  ck_assert_int_eq(config_load_string(&cfg, "relay.toml", text, strlen(text), err, sizeof err), -1);
  assert_prefix(err, bad_files[_i].want, text);
  assert_defaults(&cfg); /* nothing applied */
  config_free(&cfg);
}
END_TEST

START_TEST(test_file_failure_keeps_cfg) {
  relay_config cfg;
  char err[256];
  config_init(&cfg);
  load_ok(&cfg, "[server]\nbind = \"1.1.1.1:1\"\n[server.tls]\ngenerate = \"a\"\n");
  const char *text =
      "[server]\nbind = \"2.2.2.2:2\"\n[server.tls]\ngenerate = \"b\"\n[log]\nlevel = 1\n";
  ck_assert_int_eq(config_load_string(&cfg, "r.toml", text, strlen(text), err, sizeof err), -1);
  ck_assert_str_eq(err, "r.toml:6: key \"log.level\": " LEVELS ", got an integer");
  ck_assert_str_eq(cfg.server_bind, "1.1.1.1:1");
  assert_list(&cfg.tls_generate, 1, (const char *[]){"a"});
  config_free(&cfg);
}
END_TEST

START_TEST(test_load_file) {
  relay_config cfg;
  char err[512];
  config_init(&cfg);
  ck_assert_msg(config_load_file(&cfg, DATA("relay.toml"), err, sizeof err) == 0, "%s", err);
  ck_assert_str_eq(cfg.config_path, DATA("relay.toml"));
  ck_assert_str_eq(cfg.server_bind, "127.0.0.1:4443");
  ck_assert_str_eq(cfg.tls_cert, "cert.pem");
  ck_assert_str_eq(cfg.tls_key, "key.pem");
  ck_assert_str_eq(cfg.tls_root, "ca.pem");
  ck_assert_uint_eq(cfg.quic_idle_timeout_ms, 45000);
  ck_assert_uint_eq(cfg.quic_keep_alive_ms, 2000);
  ck_assert_uint_eq(cfg.quic_max_streams, 100);
  ck_assert_str_eq(cfg.web_http_listen, "127.0.0.1:8080");
  ck_assert_int_eq(cfg.log_level, LOG_DEBUG);
  assert_list(&cfg.auth_public, 2, (const char *[]){"anon/", "demo/"});
  ck_assert_int_eq(config_validate(&cfg, err, sizeof err), 0);

  ck_assert_int_eq(config_load_file(&cfg, DATA("bad_key.toml"), err, sizeof err), -1);
  ck_assert_str_eq(err, DATA("bad_key.toml") ":4: unknown key \"server.bnd\"");
  ck_assert_str_eq(cfg.config_path, DATA("relay.toml")); /* unchanged */
  ck_assert_str_eq(cfg.server_bind, "127.0.0.1:4443");

  ck_assert_int_eq(config_load_file(&cfg, DATA("missing.toml"), err, sizeof err), -1);
  ck_assert_str_eq(err, DATA("missing.toml") ": cannot open: No such file or directory");
  ck_assert_int_eq(config_load_file(&cfg, TEST_SRCDIR "/tests/unit/data", err, sizeof err), -1);
  ck_assert_str_eq(err, TEST_SRCDIR "/tests/unit/data: cannot read: Is a directory");
  config_free(&cfg);
}
END_TEST

START_TEST(test_args_none) {
  relay_config cfg;
  config_init(&cfg);
  args_ok(&cfg, NO_ARGS);
  assert_defaults(&cfg);
  config_free(&cfg);
}
END_TEST

START_TEST(test_args_every_option) {
  relay_config cfg;
  config_init(&cfg);
  args_ok(&cfg, ARGS("--server-bind", "127.0.0.1:1", "--tls-cert", "c.pem", "--tls-key=k.pem",
                     "--tls-generate", "a,b", "--tls-generate=c", "--server-tls-root", "ca.pem",
                     "--web-http-listen=[::]:80", "--log-level", "debug",
                     "--server-quic-idle-timeout", "10s", "--server-quic-keep-alive=250ms",
                     "--server-quic-max-streams", "7", "--auth-public", "", "--auth-public=x/"));
  ck_assert_ptr_null(cfg.config_path);
  ck_assert_str_eq(cfg.server_bind, "127.0.0.1:1");
  ck_assert_str_eq(cfg.tls_cert, "c.pem");
  ck_assert_str_eq(cfg.tls_key, "k.pem");
  assert_list(&cfg.tls_generate, 3, (const char *[]){"a", "b", "c"});
  ck_assert_str_eq(cfg.tls_root, "ca.pem");
  ck_assert_str_eq(cfg.web_http_listen, "[::]:80");
  ck_assert_int_eq(cfg.log_level, LOG_DEBUG);
  ck_assert_uint_eq(cfg.quic_idle_timeout_ms, 10000);
  ck_assert_uint_eq(cfg.quic_keep_alive_ms, 250);
  ck_assert_uint_eq(cfg.quic_max_streams, 7);
  assert_list(&cfg.auth_public, 2, (const char *[]){"", "x/"});
  ck_assert_int_eq(cfg.show_help, 0);
  config_free(&cfg);

  config_init(&cfg);
  args_ok(&cfg, ARGS("--listen=[::1]:9", "--server-quic-idle-timeout=3", "--log-level=ERROR",
                     "--server-quic-keep-alive", "0"));
  ck_assert_str_eq(cfg.server_bind, "[::1]:9");
  ck_assert_uint_eq(cfg.quic_idle_timeout_ms, 3000);
  ck_assert_uint_eq(cfg.quic_keep_alive_ms, 0);
  ck_assert_int_eq(cfg.log_level, LOG_ERROR);
  /* the last of repeated single-value options wins; a second call starts over cleanly */
  args_ok(&cfg, ARGS("--server-bind", "1.1.1.1:1", "--server-bind", "2.2.2.2:2"));
  ck_assert_str_eq(cfg.server_bind, "2.2.2.2:2");
  config_free(&cfg);
}
END_TEST

START_TEST(test_args_file_then_options) {
  relay_config cfg;
  config_init(&cfg);
  /* options before and after the file both override it */
  args_ok(&cfg, ARGS("--log-level", "warn", DATA("relay.toml"), "--server-bind", "10.0.0.1:5",
                     "--auth-public", "only/"));
  ck_assert_str_eq(cfg.config_path, DATA("relay.toml"));
  ck_assert_int_eq(cfg.log_level, LOG_WARN);                   /* file: debug */
  ck_assert_str_eq(cfg.server_bind, "10.0.0.1:5");             /* file: 127.0.0.1:4443 */
  assert_list(&cfg.auth_public, 1, (const char *[]){"only/"}); /* replaces the file's list */
  ck_assert_str_eq(cfg.tls_cert, "cert.pem");                  /* from the file */
  ck_assert_uint_eq(cfg.quic_max_streams, 100);
  config_free(&cfg);

  config_init(&cfg);
  args_ok(&cfg, ARGS("--tls-generate", "x", "--", DATA("generate.toml")));
  ck_assert_str_eq(cfg.config_path, DATA("generate.toml"));
  ck_assert_str_eq(cfg.server_bind, "[::1]:0");
  assert_list(&cfg.tls_generate, 1, (const char *[]){"x"}); /* file: localhost, relay.test */
  ck_assert_uint_eq(cfg.quic_idle_timeout_ms, 120000);
  ck_assert_uint_eq(cfg.quic_keep_alive_ms, 500);
  config_free(&cfg);

  config_init(&cfg);
  args_ok(&cfg, ARGS(DATA("generate.toml")));
  assert_list(&cfg.tls_generate, 2, (const char *[]){"localhost", "relay.test"});
  config_free(&cfg);
}
END_TEST

START_TEST(test_env) {
  relay_config cfg;
  config_init(&cfg);
  setenv("MOQ_SERVER_BIND", "10.1.1.1:1", 1);
  setenv("MOQ_SERVER_TLS_CERT", "env-cert.pem", 1);
  setenv("MOQ_SERVER_TLS_KEY", "env-key.pem", 1);
  setenv("MOQ_SERVER_TLS_GENERATE", "e1,e2", 1);
  setenv("MOQ_LOG_LEVEL", "trace", 1);
  args_ok(&cfg, NO_ARGS);
  ck_assert_str_eq(cfg.server_bind, "10.1.1.1:1");
  ck_assert_str_eq(cfg.tls_cert, "env-cert.pem");
  ck_assert_str_eq(cfg.tls_key, "env-key.pem");
  assert_list(&cfg.tls_generate, 2, (const char *[]){"e1", "e2"});
  ck_assert_int_eq(cfg.log_level, LOG_TRACE);
  config_free(&cfg);

  /* file < environment < options */
  config_init(&cfg);
  args_ok(&cfg, ARGS(DATA("generate.toml"), "--log-level", "error"));
  ck_assert_str_eq(cfg.server_bind, "10.1.1.1:1");                 /* env over file */
  assert_list(&cfg.tls_generate, 2, (const char *[]){"e1", "e2"}); /* env over file */
  ck_assert_int_eq(cfg.log_level, LOG_ERROR);                      /* option over env */
  ck_assert_uint_eq(cfg.quic_idle_timeout_ms, 120000);             /* file */
  config_free(&cfg);

  config_init(&cfg);
  args_ok(&cfg, ARGS("--tls-generate", "f1", "--server-bind=[::]:7"));
  assert_list(&cfg.tls_generate, 1, (const char *[]){"f1"}); /* option replaces env's list */
  ck_assert_str_eq(cfg.server_bind, "[::]:7");
  config_free(&cfg);

  /* empty variables are ignored */
  clear_env();
  setenv("MOQ_LOG_LEVEL", "", 1);
  setenv("MOQ_SERVER_BIND", "", 1);
  config_init(&cfg);
  args_ok(&cfg, NO_ARGS);
  assert_defaults(&cfg);
  config_free(&cfg);
  clear_env();
}
END_TEST

static const struct {
  const char *name;
  const char *value;
  const char *want;
} bad_env[] = {
    {"MOQ_LOG_LEVEL", "loud", "MOQ_LOG_LEVEL: " LEVELS ", got \"loud\""},
    {"MOQ_SERVER_TLS_GENERATE", "a,,b",
     "MOQ_SERVER_TLS_GENERATE: expected host names separated by commas, got \"a,,b\""},
    {"MOQ_SERVER_TLS_GENERATE", ",", "MOQ_SERVER_TLS_GENERATE: expected host names"},
};

START_TEST(test_env_errors) {
  relay_config cfg;
  char err[512];
  config_init(&cfg);
  setenv(bad_env[_i].name, bad_env[_i].value, 1);
  ck_assert_int_eq(parse_args(&cfg, NO_ARGS, err, sizeof err), -1);
  assert_prefix(err, bad_env[_i].want, bad_env[_i].name);
  assert_defaults(&cfg);
  config_free(&cfg);
  clear_env();
}
END_TEST

START_TEST(test_help_version) {
  relay_config cfg;
  config_init(&cfg);
  args_ok(&cfg, ARGS("--help"));
  ck_assert_int_eq(cfg.show_help, 1);
  ck_assert_int_eq(cfg.show_version, 0);
  config_free(&cfg);
  config_init(&cfg);
  args_ok(&cfg, ARGS("--version"));
  ck_assert_int_eq(cfg.show_help, 0);
  ck_assert_int_eq(cfg.show_version, 1);
  config_free(&cfg);
  /* --help wins over everything else: bad options, missing files, bad values */
  config_init(&cfg);
  args_ok(&cfg, ARGS("--bogus", "/nonexistent.toml", "--log-level", "loud", "--help"));
  ck_assert_int_eq(cfg.show_help, 1);
  ck_assert_ptr_null(cfg.config_path);
  ck_assert_int_eq(cfg.log_level, LOG_INFO);
  /* a later parse without --help clears it */
  args_ok(&cfg, ARGS("--log-level", "warn"));
  ck_assert_int_eq(cfg.show_help, 0);
  ck_assert_int_eq(cfg.log_level, LOG_WARN);
  config_free(&cfg);
}
END_TEST

static const struct {
  const char *args[5];
  const char *want;
} bad_args[] = {
    {{"--bogus"}, "unknown option --bogus (see --help)"},
    {{"--bogus=1"}, "unknown option --bogus (see --help)"},
    {{"-x"}, "unknown option -x (see --help)"},
    {{"-h"}, "unknown option -h (see --help)"},
    {{"--tls"}, "unknown option --tls (see --help)"}, /* ambiguous */
    {{"--log-lev", "debug"}, "--log-lev: abbreviated options are not accepted; write --log-level"},
    {{"--server-b=1.1.1.1:1"},
     "--server-b: abbreviated options are not accepted; write --server-bind"},
    {{"--log-level"}, "--log-level: missing value"},
    {{"--listen"}, "--listen: missing value"},
    {{"--tls-cert", "--tls-key", "k.pem"},
     "--tls-cert: missing value (got option --tls-key; write --tls-cert=VALUE if that is the "
     "value)"},
    {{"--help=yes"}, "--help: takes no value"},
    {{"--version=1"}, "--version: takes no value"},
    {{"--log-level", "loud"},
     "--log-level: expected one of error, warn, info, debug, trace, got \"loud\""},
    {{"--log-level=loud"},
     "--log-level: expected one of error, warn, info, debug, trace, got \"loud\""},
    {{"--log-level="}, "--log-level: " LEVELS ", got \"\""},
    {{"--server-quic-max-streams", "0"},
     "--server-quic-max-streams: expected an integer from 1 to 65535, got \"0\""},
    {{"--server-quic-max-streams=65536"},
     "--server-quic-max-streams: expected an integer from 1 to 65535, got \"65536\""},
    {{"--server-quic-max-streams=-1"},
     "--server-quic-max-streams: expected an integer from 1 to 65535, got \"-1\""},
    {{"--server-quic-max-streams=1e3"},
     "--server-quic-max-streams: expected an integer from 1 to 65535, got \"1e3\""},
    {{"--server-quic-max-streams="},
     "--server-quic-max-streams: expected an integer from 1 to 65535, got \"\""},
    {{"--server-quic-idle-timeout", "0"},
     "--server-quic-idle-timeout: the idle timeout must be greater than 0"},
    {{"--server-quic-idle-timeout", "1.5s"},
     "--server-quic-idle-timeout: " DUR_EXPECTED ", got \"1.5s\""},
    {{"--server-quic-keep-alive=x"}, "--server-quic-keep-alive: " DUR_EXPECTED ", got \"x\""},
    {{"--server-quic-keep-alive=10d"}, "--server-quic-keep-alive: " DUR_EXPECTED ", got \"10d\""},
    {{"--tls-generate", "a,,b"},
     "--tls-generate: expected host names separated by commas, got \"a,,b\""},
    {{"--tls-generate", ",a"},
     "--tls-generate: expected host names separated by commas, got \",a\""},
    {{"--tls-generate", "a,"},
     "--tls-generate: expected host names separated by commas, got \"a,\""},
    {{"--tls-generate="}, "--tls-generate: expected host names separated by commas, got \"\""},
    {{"--tls-cert="}, "--tls-cert: expected a file name, got an empty string"},
    {{"--tls-key", ""}, "--tls-key: expected a file name, got an empty string"},
    {{"--server-tls-root="}, "--server-tls-root: expected a file name, got an empty string"},
    {{"--server-bind="}, "--server-bind: expected ADDR:PORT, got an empty string"},
    {{"--listen="}, "--listen: expected ADDR:PORT, got an empty string"},
    {{"--web-http-listen", ""}, "--web-http-listen: expected ADDR:PORT, got an empty string"},
    {{"a.toml", "b.toml"}, "unexpected argument \"b.toml\": only one CONFIG.toml may be given"},
    {{"a.toml", "--", "b.toml"},
     "unexpected argument \"b.toml\": only one CONFIG.toml may be given"},
    {{"/nonexistent/x.toml"}, "/nonexistent/x.toml: cannot open: No such file or directory"},
    {{DATA("bad_key.toml"), "--log-level", "debug"},
     DATA("bad_key.toml") ":4: unknown key \"server.bnd\""},
    /* the first problem is reported */
    {{"--bogus", "--log-level", "loud"}, "unknown option --bogus (see --help)"},
};

START_TEST(test_args_errors) {
  relay_config cfg;
  char err[512] = "";
  config_init(&cfg);
  ck_assert_int_eq(parse_args(&cfg, bad_args[_i].args, err, sizeof err), -1);
  assert_prefix(err, bad_args[_i].want, bad_args[_i].args[0]);
  assert_defaults(&cfg); /* untouched */
  config_free(&cfg);
}
END_TEST

START_TEST(test_args_failure_keeps_cfg) {
  relay_config cfg;
  char err[256];
  config_init(&cfg);
  args_ok(&cfg, ARGS("--tls-generate", "keep", "--server-bind", "1.1.1.1:1"));
  ck_assert_int_eq(
      parse_args(&cfg, ARGS(DATA("relay.toml"), "--server-quic-max-streams", "0"), err, sizeof err),
      -1);
  ck_assert_str_eq(cfg.server_bind, "1.1.1.1:1");
  ck_assert_ptr_null(cfg.config_path);
  ck_assert_ptr_null(cfg.tls_cert);
  assert_list(&cfg.tls_generate, 1, (const char *[]){"keep"});
  config_free(&cfg);
}
END_TEST

static void validate_fails(const relay_config *cfg, const char *want) {
  char err[512] = "";
  ck_assert_int_eq(config_validate(cfg, err, sizeof err), -1);
  assert_prefix(err, want, "validate");
}

static void validate_ok(const relay_config *cfg) {
  char err[512] = "x";
  ck_assert_msg(config_validate(cfg, err, sizeof err) == 0, "validate: %s", err);
  ck_assert_str_eq(err, "");
}

START_TEST(test_validate) {
  relay_config cfg;
  config_init(&cfg);
  validate_fails(&cfg,
                 "no TLS certificate: give --tls-cert and --tls-key, or --tls-generate localhost");
  args_ok(&cfg, ARGS("--tls-generate", "localhost"));
  validate_fails(&cfg, "no access is configured, so nobody could publish or subscribe: give --auth-public "
                       "PREFIX (\"\" opens everything to everyone), --auth-key FILE for tokens, a --lua script or a "
                       "--plugin; or [auth] public = \"anon\" in the config file");
  args_ok(&cfg, ARGS("--auth-public", ""));
  validate_ok(&cfg);
  args_ok(&cfg, ARGS("--tls-cert", "/nonexistent/c.pem")); /* existence is not checked here */
  validate_fails(&cfg, "both a TLS certificate file and --tls-generate were given: use --tls-cert "
                       "and --tls-key, or --tls-generate, not both");
  config_free(&cfg);

  config_init(&cfg);
  args_ok(&cfg, ARGS("--tls-cert", "c.pem"));
  validate_fails(&cfg, "--tls-cert was given without --tls-key: give both (server.tls.cert and "
                       "server.tls.key)");
  config_free(&cfg);
  config_init(&cfg);
  args_ok(&cfg, ARGS("--tls-key", "k.pem"));
  validate_fails(&cfg, "--tls-key was given without --tls-cert: give both");
  args_ok(&cfg, ARGS("--tls-cert", "c.pem", "--auth-public", "anon"));
  validate_ok(&cfg);

  /* addresses */
  args_ok(&cfg, ARGS("--server-bind", "nope"));
  validate_fails(&cfg, "--server-bind (server.bind): expected HOST:PORT, got \"nope\"");
  args_ok(&cfg, ARGS("--server-bind", "127.0.0.1:70000"));
  validate_fails(&cfg, "--server-bind (server.bind): port out of range");
  args_ok(&cfg, ARGS("--server-bind", "localhost:0"));
  validate_ok(&cfg);
  args_ok(&cfg, ARGS("--web-http-listen", "::1:80"));
  validate_fails(&cfg, "--web-http-listen (web.http.listen): expected HOST:PORT, got \"::1:80\" "
                       "(write IPv6 addresses in brackets");
  args_ok(&cfg, ARGS("--web-http-listen", "[::1]:0"));
  validate_ok(&cfg);

  /* QUIC timers */
  args_ok(&cfg, ARGS("--server-quic-keep-alive", "30s"));
  validate_fails(&cfg, "--server-quic-keep-alive (30000ms) must be shorter than "
                       "--server-quic-idle-timeout (30000ms), or 0 to disable keep-alives");
  args_ok(&cfg, ARGS("--server-quic-keep-alive", "0"));
  validate_ok(&cfg);
  args_ok(&cfg, ARGS("--server-quic-idle-timeout", "100ms", "--server-quic-keep-alive", "99ms"));
  validate_ok(&cfg);

  /* values set directly, bypassing the parsers */
  cfg.quic_idle_timeout_ms = 0;
  validate_fails(&cfg, "--server-quic-idle-timeout: the idle timeout must be greater than 0");
  cfg.quic_idle_timeout_ms = 1000;
  cfg.quic_max_streams = 0;
  validate_fails(&cfg, "--server-quic-max-streams: expected an integer from 1 to 65535");
  cfg.quic_max_streams = 65536;
  validate_fails(&cfg, "--server-quic-max-streams: expected an integer from 1 to 65535");
  cfg.quic_max_streams = 1;
  cfg.log_level = (log_level)9;
  validate_fails(&cfg, "--log-level: expected one of error, warn, info, debug, trace");
  cfg.log_level = LOG_INFO;
  validate_ok(&cfg);
  config_free(&cfg);
}
END_TEST

/* --workers: one per CPU (0) unless set, in a cluster too. */
START_TEST(test_workers_default) {
  relay_config cfg;
  config_init(&cfg);
  ck_assert_uint_eq(cfg.workers, 0);
  args_ok(&cfg, ARGS("--tls-generate", "localhost", "--auth-public", "", "--cluster-node", "127.0.0.1:1"));
  validate_ok(&cfg);
  ck_assert_uint_eq(cfg.workers, 0);
  args_ok(&cfg, ARGS("--workers", "2"));
  ck_assert_uint_eq(cfg.workers, 2);
  validate_ok(&cfg); /* each worker admits its registrations; worker 0 is the cluster's leaf side */
  config_free(&cfg);
  config_init(&cfg);
  load_ok(&cfg, "[server]\nworkers = 3\n");
  ck_assert_uint_eq(cfg.workers, 3);
  config_free(&cfg);
}
END_TEST

START_TEST(test_cache_keys) {
  relay_config cfg;
  config_init(&cfg);
  ck_assert_uint_eq(cfg.cache_duration_ms, 30000);
  ck_assert_uint_eq(cfg.cache_track_bytes, 32u << 20);
  load_ok(&cfg, "[cache]\nduration = \"2m\"\ntrack_capacity = \"1MiB\"\n");
  ck_assert_uint_eq(cfg.cache_duration_ms, 120000);
  ck_assert_uint_eq(cfg.cache_track_bytes, 1u << 20);
  load_ok(&cfg, "cache.track_capacity = 4096\ncache.duration = 7\n");
  ck_assert_uint_eq(cfg.cache_track_bytes, 4096);
  ck_assert_uint_eq(cfg.cache_duration_ms, 7000);
  char err[512];
  const char *bad = "[cache]\ntrack_capacity = \"lots\"\n";
  ck_assert_int_eq(config_load_string(&cfg, "relay.toml", bad, strlen(bad), err, sizeof err), -1);
  assert_prefix(err, "relay.toml:2: key \"cache.track_capacity\": expected a size such as \"32MiB\", got \"lots\"",
                "cache");
  args_ok(&cfg, ARGS("--cache-duration", "500ms", "--cache-track-capacity", "2GiB"));
  ck_assert_uint_eq(cfg.cache_duration_ms, 500);
  ck_assert_uint_eq(cfg.cache_track_bytes, 2ULL << 30);
  ck_assert_int_eq(parse_args(&cfg, ARGS("--cache-track-capacity", "12XB"), err, sizeof err), -1);
  assert_prefix(err, "--cache-track-capacity: expected a size such as 32MiB, got \"12XB\"", "cache flag");
  config_free(&cfg);
}
END_TEST

START_TEST(test_plugin_keys) {
  relay_config cfg;
  config_init(&cfg);
  ck_assert_uint_eq(cfg.lua_budget, 1000000);
  load_ok(&cfg, "[auth]\nkey = \"root.jwk\"\n\n[lua]\nscripts = [\"a.lua\", \"b.lua\"]\nbudget = 5000\n\n"
                "[[plugin]]\npath = \"/p/one.so\"\n[plugin.config]\nname = \"x\"\nlist = [\"a\", 2, true]\n"
                "n = 7\n\n[[plugin]]\npath = \"two.so\"\n");
  ck_assert_str_eq(cfg.auth_key, "root.jwk");
  static const char *const scripts[] = {"a.lua", "b.lua"};
  assert_list(&cfg.lua_scripts, 2, scripts);
  ck_assert_uint_eq(cfg.lua_budget, 5000);
  ck_assert_uint_eq(cfg.n_plugins, 2);
  ck_assert_str_eq(cfg.plugins[0].path, "/p/one.so");
  ck_assert_str_eq(cfg.plugins[0].source, "relay.toml:8");
  static const char *const keys[] = {"name", "list", "list", "list", "n"};
  static const char *const values[] = {"x", "a", "2", "true", "7"};
  assert_list(&cfg.plugins[0].keys, 5, keys);
  assert_list(&cfg.plugins[0].values, 5, values);
  ck_assert_uint_eq(cfg.plugins[1].keys.len, 0);
  /* options: --plugin adds after the file's, --lua replaces the file's list then adds */
  args_ok(&cfg, ARGS("--plugin", "three.so", "--lua", "c.lua", "--lua", "d.lua", "--lua-budget", "42",
                     "--auth-key-dir", "keys", "--plugin=four.so"));
  ck_assert_uint_eq(cfg.n_plugins, 4);
  ck_assert_str_eq(cfg.plugins[2].path, "three.so");
  ck_assert_str_eq(cfg.plugins[2].source, "--plugin");
  ck_assert_str_eq(cfg.plugins[3].path, "four.so");
  static const char *const scripts2[] = {"c.lua", "d.lua"};
  assert_list(&cfg.lua_scripts, 2, scripts2);
  ck_assert_uint_eq(cfg.lua_budget, 42);
  ck_assert_str_eq(cfg.auth_key_dir, "keys");
  args_ok(&cfg, ARGS("--tls-generate", "localhost"));
  validate_fails(&cfg, "both --auth-key and --auth-key-dir were given: use one (auth.key or auth.key_dir)");
  char err[512];
  ck_assert_int_eq(parse_args(&cfg, ARGS("--lua-budget", "0"), err, sizeof err), -1);
  assert_prefix(err, "--lua-budget: expected a positive number of instructions, got \"0\"", "budget");
  ck_assert_int_eq(parse_args(&cfg, ARGS("--plugin", ""), err, sizeof err), -1);
  assert_prefix(err, "--plugin: expected the path of a plugin (.so), got an empty string", "plugin");
  config_free(&cfg);

  /* any of these is access enough to start */
  static const char *const enough[][2] = {{"--auth-key", "k.jwk"}, {"--auth-key-dir", "d"}, {"--lua", "a.lua"},
                                           {"--plugin", "p.so"}, {"--server-tls-root", "ca.pem"}};
  for (size_t i = 0; i < sizeof enough / sizeof enough[0]; i++) {
    config_init(&cfg);
    args_ok(&cfg, ARGS("--tls-generate", "localhost", enough[i][0], enough[i][1]));
    validate_ok(&cfg);
    config_free(&cfg);
  }
  setenv("MOQ_AUTH_KEY", "env.jwk", 1);
  config_init(&cfg);
  args_ok(&cfg, NO_ARGS);
  ck_assert_str_eq(cfg.auth_key, "env.jwk");
  config_free(&cfg);
  unsetenv("MOQ_AUTH_KEY");
}
END_TEST

START_TEST(test_help_text) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  ck_assert_ptr_nonnull(f);
  config_print_help(f, "/usr/local/bin/moq-relay");
  fclose(f);
  ck_assert_msg(strncmp(text, "Usage: moq-relay [OPTIONS] [CONFIG.toml]\n", 41) == 0, "%s", text);
  const char *want[] = {
      "--server-bind ADDR:PORT",
      "[default: [::]:4443]",
      "[alias: --listen]",
      "[file: server.bind",
      "[env: MOQ_SERVER_BIND]",
      "--tls-cert FILE",
      "[env: MOQ_SERVER_TLS_CERT]",
      "--tls-key FILE",
      "[env: MOQ_SERVER_TLS_KEY]",
      "--tls-generate NAME[,NAME...]",
      "[env: MOQ_SERVER_TLS_GENERATE]",
      "--server-tls-root FILE",
      "[file: server.tls.root]",
      "--web-http-listen ADDR:PORT",
      "[default: disabled]",
      "--log-level LEVEL",
      "[default: info]",
      "[env: MOQ_LOG_LEVEL]",
      "--server-quic-idle-timeout DUR",
      "[default: 30s]",
      "--server-quic-keep-alive DUR",
      "[default: 5s]",
      "--server-quic-max-streams N",
      "[default: 1024]",
      "--auth-public PREFIX",
      "[file: auth.public]",
      "--help",
      "--version",
      "--option=VALUE",
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    ck_assert_msg(strstr(text, want[i]) != NULL, "help lacks \"%s\":\n%s", want[i], text);
  free(text);

  f = open_memstream(&text, &len);
  config_print_help(f, NULL);
  fclose(f);
  ck_assert_msg(strncmp(text, "Usage: moq-relay ", 17) == 0, "%s", text);
  free(text);
}
END_TEST

START_TEST(test_str_list) {
  str_list l = {0};
  char name[16];
  for (int i = 0; i < 50; i++) {
    snprintf(name, sizeof name, "n%d", i);
    ck_assert_int_eq(str_list_push(&l, name), 0);
  }
  ck_assert_uint_eq(l.len, 50);
  ck_assert_str_eq(l.items[0], "n0");
  ck_assert_str_eq(l.items[49], "n49");
  str_list_free(&l);
  ck_assert_uint_eq(l.len, 0);
  ck_assert_ptr_null(l.items);
  str_list_free(&l);
}
END_TEST

static Suite *config_suite(void) {
  Suite *s = suite_create("config");
  TCase *tc = tcase_create("file");
  tcase_add_checked_fixture(tc, clear_env, clear_env);
  tcase_add_test(tc, test_defaults);
  tcase_add_test(tc, test_cache_keys);
  tcase_add_test(tc, test_plugin_keys);
  tcase_add_test(tc, test_file_every_key);
  tcase_add_test(tc, test_file_forms);
  tcase_add_loop_test(tc, test_file_durations, 0, (int)(sizeof durations / sizeof durations[0]));
  tcase_add_loop_test(tc, test_file_errors, 0, (int)(sizeof bad_files / sizeof bad_files[0]));
  tcase_add_test(tc, test_file_failure_keeps_cfg);
  tcase_add_test(tc, test_load_file);
  tcase_add_test(tc, test_str_list);
  suite_add_tcase(s, tc);

  tc = tcase_create("args");
  tcase_add_checked_fixture(tc, clear_env, clear_env);
  tcase_add_test(tc, test_args_none);
  tcase_add_test(tc, test_args_every_option);
  tcase_add_test(tc, test_args_file_then_options);
  tcase_add_test(tc, test_env);
  tcase_add_loop_test(tc, test_env_errors, 0, (int)(sizeof bad_env / sizeof bad_env[0]));
  tcase_add_test(tc, test_help_version);
  tcase_add_loop_test(tc, test_args_errors, 0, (int)(sizeof bad_args / sizeof bad_args[0]));
  tcase_add_test(tc, test_args_failure_keeps_cfg);
  suite_add_tcase(s, tc);

  tc = tcase_create("validate");
  tcase_add_checked_fixture(tc, clear_env, clear_env);
  tcase_add_test(tc, test_validate);
  tcase_add_test(tc, test_workers_default);
  tcase_add_test(tc, test_help_text);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(config_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
