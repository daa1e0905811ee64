/* fuzz_config: config_load_string (core/conf/config.h), the relay's TOML file read into its settings,
 * and config_validate on what it gives.
 * A refusal names the file and line and leaves the configuration as it was; a success can be loaded
 * again on top of itself; everything is freed by config_free. addr_parse is replaced by a stub here:
 * the real one resolves host names (DNS), which a fuzzer must not do; it has no part in loading. */
#include "fuzz.h"

#include <sys/socket.h>

#include "base/addr.h"
#include "conf/config.h"

int addr_parse(const char *text, struct sockaddr_storage *out, socklen_t *outlen, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  if (outlen) *outlen = 0;
  const char *colon = text ? strrchr(text, ':') : NULL;
  if (colon && colon != text && colon[1]) return 0;
  snprintf(err, errlen, "expected HOST:PORT");
  return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 65536) return 0;
  char *text = (char *)fuzz_dup(data, size);
  relay_config cfg;
  config_init(&cfg);
  const char *bind_before = cfg.server_bind;
  char err[512] = "";
  int rc = config_load_string(&cfg, "fuzz.toml", text, size, err, sizeof err);
  if (rc != 0) {
    FUZZ_CHECK(rc == -1 && strncmp(err, "fuzz.toml", 9) == 0);
    FUZZ_CHECK(cfg.server_bind == bind_before && cfg.n_plugins == 0 && cfg.tls_cert == NULL);
  } else {
    FUZZ_CHECK(cfg.server_bind != NULL);
    for (size_t i = 0; i < cfg.n_plugins; i++) {
      const plugin_conf *p = &cfg.plugins[i];
      FUZZ_CHECK(p->path && p->source && p->keys.len == p->values.len);
    }
    /* loading the same text again on top: the lists may grow, nothing leaks */
    size_t plugins = cfg.n_plugins;
    rc = config_load_string(&cfg, "fuzz.toml", text, size, err, sizeof err);
    if (rc == 0) FUZZ_CHECK(cfg.n_plugins >= plugins);
    char verr[512];
    if (config_validate(&cfg, verr, sizeof verr) != 0) FUZZ_CHECK(verr[0] != '\0');
  }
  config_free(&cfg);
  free(text);
  return 0;
}
