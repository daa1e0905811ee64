/* fuzz_lua: the Lua plugin's argument marshalling (plugins/lua/lua_plugin.c): the session tables it
 * builds from what the relay knows of a peer (path, query with its percent-decoding, jwt, claims,
 * certificate names, role), the event tables, and the values the script's callbacks return (nil,
 * booleans with reasons, grants tables of every shape, route URLs, wrong types, tables with
 * metatables). A fixed script (below) walks every table it is given and answers with a value whose
 * shape the peer-controlled strings choose; the relay's side of the API is a fake core here that
 * checks what the plugin hands it.
 *
 * Input: selector bytes (callback, role, claims or not, cluster, exp), then 0xff-separated strings:
 * path, query, jwt, transport, protocol, remote, claims root, put list, get list, peer names,
 * fingerprint, broadcast path, track (lists 0xfe-separated). Checked: every callback answers one of
 * PASS, ALLOW or DENY (nothing sleeps in this script); a DENY carries a reason; an ALLOW of a session
 * decision comes with a grant (or none, for plain true) whose lists hold at most 64 C strings; an
 * answer hands the core at most one URL or grant (a route may answer true without one: "it is here
 * now"); nothing leaks and the state never panics (a Lua error outside a protected call aborts the
 * process). */
#include "fuzz.h"

#include <unistd.h>

#include "builtin.h"

static const char SCRIPT[] =
    "-- fuzz_lua's fixed policy: touches everything, answers with what the peer's strings pick\n"
    "local function walk(v, d)\n"
    "  if type(v) == 'table' and d < 4 then for k, x in pairs(v) do walk(k, d + 1); walk(x, d + 1) end end\n"
    "  return tostring(v)\n"
    "end\n"
    "local function shape(s, spec)\n"
    "  spec = spec or ''\n"
    "  local b = spec:byte(1) or 0\n"
    "  local rest = spec:sub(2)\n"
    "  local k = b % 17\n"
    "  if k == 0 then return nil\n"
    "  elseif k == 1 then return true\n"
    "  elseif k == 2 then return false, rest\n"
    "  elseif k == 3 then return false, {}\n"
    "  elseif k == 4 then return rest\n"
    "  elseif k == 5 then return {publish = rest, subscribe = s.path}\n"
    "  elseif k == 6 then\n"
    "    local l = {}\n"
    "    for i = 1, #rest do l[#l + 1] = rest:sub(i, i) end\n"
    "    return {publish = l, subscribe = {}, root = s.query.root, cluster = (b & 32) ~= 0, expires = b}\n"
    "  elseif k == 7 then return {publish = {1, 2}}\n"
    "  elseif k == 8 then return {publish = 5, subscribe = true}\n"
    "  elseif k == 9 then return {root = 7, subscribe = s.claims and s.claims.get or {}, publish = s.peer_names}\n"
    "  elseif k == 10 then return 42\n"
    "  elseif k == 11 then\n"
    "    local l = {}\n"
    "    for i = 1, 70 do l[i] = 'p' .. i end\n"
    "    return {subscribe = l}\n"
    "  elseif k == 12 then return setmetatable({}, {__index = function(t, key) error('no ' .. key) end})\n"
    "  elseif k == 13 then return setmetatable({}, {__index = function(t, key) return rest .. key end})\n"
    "  elseif k == 14 then return {publish = {rest, nil, rest}, subscribe = {[1] = rest, [3] = rest}}\n"
    "  elseif k == 15 then return {expires = rest, root = rest, publish = ''}\n"
    "  else return coroutine.yield()\n"
    "  end\n"
    "end\n"
    "function on_session(s)\n"
    "  walk(s, 0)\n"
    "  moq.log('debug', s.path .. ' ' .. s.raw_query)\n"
    "  local _ = moq.path_has_prefix(s.path, s.query.p or '')\n"
    "  return shape(s, s.query.r or s.jwt)\n"
    "end\n"
    "function on_announce(s, path) walk(s, 0); return shape(s, path) end\n"
    "function on_subscribe(s, path, track) walk(s, 0); return shape(s, track) end\n"
    "function on_route(s, path) return shape(s, path) end\n"
    "function on_event(ev) walk(ev, 0); if ev.session then shape(ev.session, ev.reason) end end\n"
    "-- strict mode, as many scripts do: reading an undefined global is an error\n"
    "setmetatable(_G, {__index = function(t, key) error('undefined global ' .. tostring(key), 2) end})\n";

/* The fake core: records what the plugin handed it. */
struct moq_request {
  int granted, routed, reasoned;
};

static void f_log(moq_plugin_host *h, int level, const char *msg) { FUZZ_CHECK(msg != NULL); }
static const char *f_config_get(const moq_plugin_config *cfg, const char *key) {
  for (size_t i = 0; i < cfg->n; i++)
    if (strcmp(cfg->keys[i], key) == 0) return cfg->values[i];
  return NULL;
}
static int f_grant(moq_request *req, const char *root, const char *const *pub, size_t np, const char *const *sub,
                   size_t ns, int flags, int64_t expires) {
  FUZZ_CHECK(np <= 64 && ns <= 64);
  size_t total = root ? strlen(root) : 0; /* every string is readable */
  for (size_t i = 0; i < np; i++) total += strlen(pub[i]);
  for (size_t i = 0; i < ns; i++) total += strlen(sub[i]);
  (void)total;
  req->granted++;
  return root && strstr(root, "..") ? -1 : 0; /* the relay refuses some roots */
}
static int f_set_claims(moq_request *req, const moq_claims *c) { return 0; }
static void f_set_reason(moq_request *req, uint64_t code, const char *reason) {
  FUZZ_CHECK(reason != NULL);
  (void)strlen(reason);
  req->reasoned++;
}
static void f_resume(moq_request *req, int answer) { FUZZ_CHECK(!"resume without a pending request"); }
static moq_timer *f_timer_start(moq_plugin_host *h, uint64_t ms, uint64_t rep, void (*cb)(void *), void *arg) {
  return NULL;
}
static void f_timer_stop(moq_timer *t) {}
static uint64_t f_now_ms(void) { return 1000; }
static int f_path_has_prefix(const char *path, const char *prefix) {
  size_t n = strlen(prefix);
  return strncmp(path, prefix, n) == 0 && (path[n] == 0 || path[n] == '/' || n == 0);
}
static int f_session_close(moq_plugin_host *h, uint64_t id, uint64_t code, const char *reason) { return -1; }
static int f_route_to(moq_request *req, const char *url) {
  FUZZ_CHECK(url != NULL);
  req->routed++;
  return url[0] ? 0 : -1;
}

static const moq_core CORE = {.size = sizeof(moq_core),
                              .api_version = MOQ_PLUGIN_API_VERSION,
                              .relay_version = "fuzz",
                              .log = f_log,
                              .config_get = f_config_get,
                              .grant = f_grant,
                              .set_claims = f_set_claims,
                              .set_reason = f_set_reason,
                              .resume = f_resume,
                              .timer_start = f_timer_start,
                              .timer_stop = f_timer_stop,
                              .now_ms = f_now_ms,
                              .path_has_prefix = f_path_has_prefix,
                              .session_close = f_session_close,
                              .route_to = f_route_to};

static moq_plugin plugin;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  char path[] = "/tmp/fuzz_lua.XXXXXX";
  int fd = mkstemp(path);
  FUZZ_CHECK(fd >= 0);
  FUZZ_CHECK(write(fd, SCRIPT, sizeof SCRIPT - 1) == (ssize_t)(sizeof SCRIPT - 1));
  close(fd);
  const char *keys[] = {"script", "budget"}, *values[] = {path, "200000"};
  moq_plugin_config cfg = {keys, values, 2, "fuzz"};
  char err[600];
  int rc = moq_plugin_lua_init(&CORE, NULL, &cfg, &plugin, err, sizeof err);
  if (rc) fprintf(stderr, "fuzz_lua: %s\n", err);
  FUZZ_CHECK(rc == 0);
  unlink(path);
  return 0;
}

#define NSTR 13
#define MAXL 8

/* Splits s (NUL-free copies) at sep into at most MAXL malloc()ed strings. */
static size_t split(const char *s, char sep, char **out) {
  size_t n = 0;
  while (n < MAXL) {
    const char *e = strchr(s, sep);
    size_t l = e ? (size_t)(e - s) : strlen(s);
    out[n++] = fuzz_strdup((const uint8_t *)s, l);
    if (!e) break;
    s = e + 1;
  }
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096) return 0;
  fuzz_in in = {data, size};
  uint8_t which = fuzz_u8(&in), flags = fuzz_u8(&in), exp = fuzz_u8(&in);
  /* the strings: NUL bytes end a C string early, as they would in the relay */
  char *str[NSTR];
  size_t k = 0;
  while (k < NSTR) {
    const uint8_t *e = memchr(in.p, 0xff, in.len);
    size_t l = e ? (size_t)(e - in.p) : in.len;
    str[k++] = fuzz_strdup(in.p, l);
    in.p += l;
    in.len -= l;
    if (in.len) in.p++, in.len--;
  }
  char *put[MAXL], *get[MAXL], *names[MAXL];
  size_t np = split(str[7], (char)0xfe, put), ng = split(str[8], (char)0xfe, get), nn = split(str[9], (char)0xfe, names);
  moq_claims claims = {.root = str[6], .put = (const char *const *)put, .n_put = np,
                       .get = (const char *const *)get, .n_get = ng, .cluster = flags & 1, .exp = exp,
                       .json = "{}"};
  moq_session_info info = {.size = sizeof info, .id = 42, .transport = str[3], .protocol = str[4],
                           .remote = str[5], .path = str[0], .query = str[1], .jwt = (flags & 2) ? str[2] : NULL,
                           .claims = (flags & 4) ? &claims : NULL, .peer_names = (const char *const *)names,
                           .n_peer_names = (flags & 8) ? nn : 0, .peer_fingerprint = (flags & 16) ? str[10] : NULL,
                           .peer_verified = (flags >> 5) & 1, .role = (flags >> 6) % 3};
  moq_request req = {0};
  int a = MOQ_HOOK_PASS;
  switch (which % 6) {
  case 0: a = plugin.session(plugin.state, &info, &req); break;
  case 1: a = plugin.announce(plugin.state, &info, str[11], &req); break;
  case 2: a = plugin.subscribe(plugin.state, &info, str[11], str[12], &req); break;
  case 3: a = plugin.route(plugin.state, &info, str[11], &req); break;
  default: {
    moq_event ev = {.size = sizeof ev, .type = (which >> 3) % 9, .session = (flags & 128) ? NULL : &info,
                    .path = (flags & 64) ? str[11] : NULL, .peer = (flags & 32) ? str[9] : NULL, .code = exp,
                    .reason = (flags & 2) ? str[12] : NULL};
    plugin.event(plugin.state, &ev);
    break;
  }
  }
  FUZZ_CHECK(a == MOQ_HOOK_PASS || a == MOQ_HOOK_ALLOW || a == MOQ_HOOK_DENY);
  if (a == MOQ_HOOK_DENY) FUZZ_CHECK(req.reasoned == 1);
  FUZZ_CHECK(req.routed <= 1 && req.granted <= 1); /* a route ALLOW without a URL: "it is here now" */
  if (a != MOQ_HOOK_ALLOW) FUZZ_CHECK(req.routed == 0 || req.reasoned == 1);
  for (size_t i = 0; i < np; i++) free(put[i]);
  for (size_t i = 0; i < ng; i++) free(get[i]);
  for (size_t i = 0; i < nn; i++) free(names[i]);
  for (size_t i = 0; i < NSTR; i++) free(str[i]);
  return 0;
}
