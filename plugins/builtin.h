/* builtin: the plugins linked into moq-relay. Each is an ordinary plugin on the hook API
 * (moq-relay/plugin.h): it calls nothing of the relay but the moq_core table it is given. The relay
 * loads them from its own options (--auth-key, --auth-key-dir, --lua). */
#ifndef MOQ_PLUGINS_BUILTIN_H
#define MOQ_PLUGINS_BUILTIN_H

#include "moq-relay/plugin.h"

/* jwt: verifies ?jwt= tokens (config: key = FILE, or key_dir = DIR). */
int moq_plugin_jwt_init(const moq_core *core, moq_plugin_host *h, const moq_plugin_config *cfg, moq_plugin *out,
                        char *err, size_t errlen);
/* lua: runs one Lua 5.4 policy script (config: script = FILE, budget = N instructions). */
int moq_plugin_lua_init(const moq_core *core, moq_plugin_host *h, const moq_plugin_config *cfg, moq_plugin *out,
                        char *err, size_t errlen);

/* cluster: root and leaves (config: node = HOST:PORT, root = HOST:PORT (repeated), token = FILE,
 * linger_ms = N). */
int moq_plugin_cluster_init(const moq_core *core, moq_plugin_host *h, const moq_plugin_config *cfg, moq_plugin *out,
                            char *err, size_t errlen);

#endif
