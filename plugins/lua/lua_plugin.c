/* lua plugin: runs one Lua 5.4 policy script on the hook API. See moq-relay-lua(7).
 *
 * The script may define on_session(req), on_announce(session, path), on_subscribe(session, path,
 * track) and on_event(ev). Each decision runs in its own coroutine, so a script may call moq.sleep
 * (which yields) and answer later; the relay keeps serving meanwhile. Every resume of a coroutine
 * may run at most `budget` Lua instructions; an error or an overrun refuses that request with a
 * logged reason. SIGHUP reloads the script: a new state takes new requests, the old one finishes
 * what it started. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "builtin.h"
#include "jwt/jwt_auth.h"

typedef struct lua_plugin lua_plugin;

/* One loaded copy of the script. */
typedef struct call call;
typedef struct ltimer ltimer;

typedef struct script {
  lua_plugin *lp;
  lua_State *L;         /* owned */
  int running;          /* coroutines and timers alive in it */
  int retired;          /* replaced by a reload: closed once running drops to 0 */
  call *calls;          /* coroutines in progress (owned, for the final clean-up) */
  ltimer *timers;       /* moq.timer callbacks pending (owned) */
  struct script *next;  /* the plugin's list of every loaded copy */
} script;

struct lua_plugin {
  const moq_core *core;
  moq_plugin_host *h;
  char *path;           /* owned */
  uint64_t budget;
  script *cur;          /* the copy that takes new requests */
  script *scripts;      /* owned: every copy still alive (cur and retired ones) */
};

typedef enum { CALL_SESSION, CALL_ANNOUNCE, CALL_SUBSCRIBE, CALL_ROUTE, CALL_EVENT } call_kind;

/* One coroutine running a callback. */
struct call {
  script *sc;
  call_kind kind;
  lua_State *co;        /* the thread (anchored in the registry at ref) */
  int ref;
  moq_request *req;     /* NULL for events */
  int pending;          /* PENDING was returned: answer with core->resume */
  moq_timer *sleep;     /* the moq.sleep in progress */
  uint64_t session_id;
  char what[160];       /* for log lines */
  call *next, *prev;    /* the script's list */
};

static const char REG_PLUGIN = 'p'; /* registry key: the lua_plugin of this state */
static const char REG_BUDGET_MSG[] = "instruction budget exceeded";

static lua_plugin *plugin_of(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &REG_PLUGIN);
  lua_plugin *lp = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return lp;
}

static void plog(lua_plugin *lp, int level, const char *fmt, const char *a, const char *b) {
  char msg[900];
  snprintf(msg, sizeof msg, fmt, a ? a : "", b ? b : "");
  lp->core->log(lp->h, level, msg);
}

/* ------------------------------------------------------------------------------------------ */
/* The moq module */

static int l_log(lua_State *L) {
  const char *level = luaL_checkstring(L, 1);
  const char *msg = luaL_checkstring(L, 2);
  int lv = !strcmp(level, "error") ? MOQ_LOG_ERROR
           : !strcmp(level, "warn") ? MOQ_LOG_WARN
           : !strcmp(level, "info") ? MOQ_LOG_INFO
           : !strcmp(level, "debug") ? MOQ_LOG_DEBUG
                                      : -1;
  if (lv < 0) return luaL_argerror(L, 1, "expected \"error\", \"warn\", \"info\" or \"debug\"");
  lua_plugin *lp = plugin_of(L);
  lp->core->log(lp->h, lv, msg);
  return 0;
}

static int l_path_has_prefix(lua_State *L) {
  lua_plugin *lp = plugin_of(L);
  lua_pushboolean(L, lp->core->path_has_prefix(luaL_checkstring(L, 1), luaL_checkstring(L, 2)));
  return 1;
}

static int l_now_ms(lua_State *L) {
  lua_plugin *lp = plugin_of(L);
  lua_pushinteger(L, (lua_Integer)lp->core->now_ms());
  return 1;
}

static void push_strings(lua_State *L, char *const *l, size_t n) {
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    lua_pushstring(L, l[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
}

/* moq.jwt_verify(token, keyfile) -> claims table, or nil and a reason. */
static int l_jwt_verify(lua_State *L) {
  const char *token = luaL_checkstring(L, 1);
  const char *file = luaL_checkstring(L, 2);
  char err[300];
  jwt_key *k = jwt_key_load(file, err, sizeof err);
  if (!k) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  jwt_claims c;
  int rv = jwt_verify(k, token, (int64_t)time(NULL), &c, err, sizeof err);
  jwt_key_free(k);
  if (rv) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  lua_createtable(L, 0, 6);
  lua_pushstring(L, c.root);
  lua_setfield(L, -2, "root");
  push_strings(L, c.put, c.n_put);
  lua_setfield(L, -2, "put");
  push_strings(L, c.get, c.n_get);
  lua_setfield(L, -2, "get");
  lua_pushboolean(L, c.cluster);
  lua_setfield(L, -2, "cluster");
  if (c.exp) {
    lua_pushinteger(L, c.exp);
    lua_setfield(L, -2, "exp");
  }
  if (c.iat) {
    lua_pushinteger(L, c.iat);
    lua_setfield(L, -2, "iat");
  }
  jwt_claims_free(&c);
  return 1;
}

static int resume_call(call *c, int nargs);

static void sleep_done(void *arg) {
  call *c = arg;
  c->sc->lp->core->timer_stop(c->sleep);
  c->sleep = NULL;
  resume_call(c, 0);
}

/* moq.sleep(ms): yields the running callback for ms milliseconds. */
static int l_sleep(lua_State *L) {
  lua_Integer ms = luaL_checkinteger(L, 1);
  if (ms < 0) return luaL_argerror(L, 1, "expected milliseconds >= 0");
  lua_rawgetp(L, LUA_REGISTRYINDEX, L); /* the call of this coroutine */
  call *c = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (!c || !lua_isyieldable(L)) return luaL_error(L, "moq.sleep can only be called from a callback");
  lua_plugin *lp = c->sc->lp;
  c->sleep = lp->core->timer_start(lp->h, (uint64_t)ms, 0, sleep_done, c);
  if (!c->sleep) return luaL_error(L, "cannot start a timer");
  return lua_yield(L, 0);
}

/* moq.timer(ms, fn): calls fn() once after ms milliseconds (outside any request). */
struct ltimer {
  script *sc;
  int ref;              /* the function */
  moq_timer *t;
  ltimer *next, *prev;  /* the script's list */
};

static void script_close(script *sc);

static void ltimer_unlink(ltimer *lt) {
  script *sc = lt->sc;
  if (lt->prev) lt->prev->next = lt->next;
  else sc->timers = lt->next;
  if (lt->next) lt->next->prev = lt->prev;
}

static void ltimer_fire(void *arg) {
  ltimer *lt = arg;
  script *sc = lt->sc;
  lua_plugin *lp = sc->lp;
  lp->core->timer_stop(lt->t);
  lua_State *L = sc->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, lt->ref);
  luaL_unref(L, LUA_REGISTRYINDEX, lt->ref);
  ltimer_unlink(lt);
  free(lt);
  sc->running--;
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    plog(lp, MOQ_LOG_WARN, "timer callback failed: %s%s", lua_tostring(L, -1), NULL);
    lua_pop(L, 1);
  }
  if (sc->retired && !sc->running) script_close(sc);
}

static int l_timer(lua_State *L) {
  lua_Integer ms = luaL_checkinteger(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (ms < 0) return luaL_argerror(L, 1, "expected milliseconds >= 0");
  lua_plugin *lp = plugin_of(L);
  ltimer *lt = calloc(1, sizeof *lt);
  if (!lt) return luaL_error(L, "out of memory");
  lt->sc = lp->cur;
  lua_pushvalue(L, 2);
  lt->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lt->t = lp->core->timer_start(lp->h, (uint64_t)ms, 0, ltimer_fire, lt);
  if (!lt->t) {
    luaL_unref(L, LUA_REGISTRYINDEX, lt->ref);
    free(lt);
    return luaL_error(L, "cannot start a timer");
  }
  lt->next = lt->sc->timers;
  if (lt->sc->timers) lt->sc->timers->prev = lt;
  lt->sc->timers = lt;
  lp->cur->running++;
  return 0;
}

static int l_close_session(lua_State *L) {
  lua_Integer id = luaL_checkinteger(L, 1);
  const char *reason = luaL_optstring(L, 2, "closed by script");
  lua_plugin *lp = plugin_of(L);
  lua_pushboolean(L, lp->core->session_close(lp->h, (uint64_t)id, MOQ_ERROR_UNAUTHORIZED, reason) == 0);
  return 1;
}

static const luaL_Reg moq_functions[] = {
    {"log", l_log},         {"path_has_prefix", l_path_has_prefix}, {"now_ms", l_now_ms},
    {"jwt_verify", l_jwt_verify}, {"sleep", l_sleep}, {"timer", l_timer}, {"close_session", l_close_session},
    {NULL, NULL},
};

static int open_moq(lua_State *L) {
  luaL_newlib(L, moq_functions);
  return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* Arguments */

/* Pushes s[0..n) with %XX and '+' decoded (moq_query_decode of the public header). */
static void push_decoded(lua_State *L, const char *s, size_t n) {
  luaL_Buffer b;
  char *out = luaL_buffinitsize(L, &b, n + 1);
  luaL_pushresultsize(&b, moq_query_decode(s, n, out));
}

static void push_query(lua_State *L, const char *q) {
  lua_newtable(L);
  while (q && *q) {
    size_t n = strcspn(q, "&");
    size_t k = strcspn(q, "=");
    if (n) {
      if (k < n) {
        push_decoded(L, q, k);
        push_decoded(L, q + k + 1, n - k - 1);
      } else {
        push_decoded(L, q, n);
        lua_pushliteral(L, "");
      }
      lua_settable(L, -3);
    }
    q += n;
    if (*q == '&') q++;
  }
}

static void push_session(lua_State *L, const moq_session_info *s) {
  lua_createtable(L, 0, 12);
  lua_pushinteger(L, (lua_Integer)s->id);
  lua_setfield(L, -2, "id");
  lua_pushstring(L, s->path);
  lua_setfield(L, -2, "path");
  push_query(L, s->query);
  lua_setfield(L, -2, "query");
  lua_pushstring(L, s->query);
  lua_setfield(L, -2, "raw_query");
  if (s->jwt) {
    lua_pushstring(L, s->jwt);
    lua_setfield(L, -2, "jwt");
  }
  if (s->claims) {
    const moq_claims *c = s->claims;
    lua_createtable(L, 0, 6);
    lua_pushstring(L, c->root);
    lua_setfield(L, -2, "root");
    push_strings(L, (char *const *)c->put, c->n_put);
    lua_setfield(L, -2, "put");
    push_strings(L, (char *const *)c->get, c->n_get);
    lua_setfield(L, -2, "get");
    lua_pushboolean(L, c->cluster);
    lua_setfield(L, -2, "cluster");
    if (c->exp) {
      lua_pushinteger(L, c->exp);
      lua_setfield(L, -2, "exp");
    }
    lua_setfield(L, -2, "claims");
  }
  lua_pushstring(L, s->transport);
  lua_setfield(L, -2, "transport");
  lua_pushstring(L, s->protocol);
  lua_setfield(L, -2, "protocol");
  lua_pushstring(L, s->remote);
  lua_setfield(L, -2, "remote");
  push_strings(L, (char *const *)s->peer_names, s->n_peer_names);
  lua_setfield(L, -2, "peer_names");
  if (s->peer_fingerprint) {
    lua_pushstring(L, s->peer_fingerprint);
    lua_setfield(L, -2, "peer_fingerprint");
  }
  lua_pushboolean(L, s->peer_verified);
  lua_setfield(L, -2, "peer_verified");
  lua_pushstring(L, s->role == 1 ? "publisher" : s->role == 2 ? "subscriber" : "both");
  lua_setfield(L, -2, "role");
}

/* ------------------------------------------------------------------------------------------ */
/* Running callbacks */

static void budget_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  luaL_error(L, REG_BUDGET_MSG);
}

static void call_free(call *c) {
  script *sc = c->sc;
  if (c->sleep) sc->lp->core->timer_stop(c->sleep);
  lua_pushnil(sc->L);
  lua_rawsetp(sc->L, LUA_REGISTRYINDEX, c->co);
  luaL_unref(sc->L, LUA_REGISTRYINDEX, c->ref);
  if (c->prev) c->prev->next = c->next;
  else sc->calls = c->next;
  if (c->next) c->next->prev = c->prev;
  free(c);
  if (--sc->running == 0 && sc->retired) script_close(sc);
}

/* Pushes t[name] for the table at (absolute) idx, raw: a metatable's __index is never run here, outside
 * a protected call, where its error would abort the relay. Returns the value's type. */
static int raw_field(lua_State *L, int idx, const char *name) {
  lua_pushstring(L, name);
  return lua_rawget(L, idx);
}

/* Reads a list of path strings from the table at (absolute) idx field name into out (max n): a
 * string, or a sequence of strings (read raw). Leaves the field's value on the stack, so that the
 * strings stay anchored until the caller pops it. Returns the count, or -1. */
static int read_list(lua_State *L, int idx, const char *name, const char **out, int max) {
  int t = raw_field(L, idx, name);
  int n = 0;
  if (t == LUA_TSTRING) {
    out[n++] = lua_tostring(L, -1);
  } else if (t == LUA_TTABLE) {
    for (lua_Integer i = 1;; i++) {
      int et = lua_rawgeti(L, -1, i);
      if (et == LUA_TNIL) {
        lua_pop(L, 1);
        break;
      }
      if (et != LUA_TSTRING || n >= max) {
        lua_pop(L, 1);
        return -1;
      }
      out[n++] = lua_tostring(L, -1); /* anchored by the table */
      lua_pop(L, 1);
    }
  } else if (t != LUA_TNIL) {
    return -1;
  }
  return n;
}

/* The callback returned (results on co's stack): turns them into an answer. */
static int answer_of(call *c, int nres, char *why, size_t whylen) {
  lua_State *L = c->co;
  int base = lua_gettop(L) - nres + 1;
  if (nres == 0 || lua_isnil(L, base)) return MOQ_HOOK_PASS;
  if (lua_isboolean(L, base)) {
    if (lua_toboolean(L, base)) return MOQ_HOOK_ALLOW;
    const char *r = nres > 1 ? lua_tostring(L, base + 1) : NULL;
    snprintf(why, whylen, "%s", r ? r : "refused by script");
    return MOQ_HOOK_DENY;
  }
  if (c->kind == CALL_ROUTE && lua_type(L, base) == LUA_TSTRING) { /* where the broadcast lives */
    if (c->sc->lp->core->route_to(c->req, lua_tostring(L, base))) {
      snprintf(why, whylen, "on_route returned an empty URL");
      return -1;
    }
    return MOQ_HOOK_ALLOW;
  }
  if (c->kind == CALL_SESSION && lua_istable(L, base)) {
    const char *pub[64], *sub[64];
    int np = read_list(L, base, "publish", pub, 64), ns = read_list(L, base, "subscribe", sub, 64);
    if (np < 0 || ns < 0) {
      lua_settop(L, base + nres - 1);
      snprintf(why, whylen, "the grants table's publish/subscribe must be strings or lists of strings");
      return -1;
    }
    raw_field(L, base, "root");
    const char *root = lua_tostring(L, -1); /* a number becomes a string in place: still anchored */
    raw_field(L, base, "cluster");
    int cluster = lua_toboolean(L, -1);
    raw_field(L, base, "expires");
    int64_t expires = (int64_t)lua_tointeger(L, -1);
    int rv = c->sc->lp->core->grant(c->req, root, pub, (size_t)np, sub, (size_t)ns,
                                    cluster ? MOQ_GRANT_CLUSTER : 0, expires);
    lua_settop(L, base + nres - 1); /* the two lists and the three fields */
    if (rv) {
      snprintf(why, whylen, "the grants table has an invalid root or path");
      return -1;
    }
    return MOQ_HOOK_ALLOW;
  }
  snprintf(why, whylen, "the callback returned a %s (expected true, false, nil%s)", luaL_typename(L, base),
           c->kind == CALL_SESSION ? " or a grants table" : c->kind == CALL_ROUTE ? " or a relay URL" : "");
  return -1;
}

/* Resumes c's coroutine with nargs arguments on its stack. Returns the answer once the callback
 * finished (c is then freed, and a request left pending is resumed), or MOQ_HOOK_PENDING while it
 * sleeps. */
static int resume_call(call *c, int nargs) {
  lua_plugin *lp = c->sc->lp;
  int nres = 0;
  lua_sethook(c->co, budget_hook, LUA_MASKCOUNT, (int)(lp->budget > 0x7fffffff ? 0x7fffffff : lp->budget));
  int st = lua_resume(c->co, c->sc->L, nargs, &nres);
  lua_sethook(c->co, NULL, 0, 0);
  if (st == LUA_YIELD) {
    lua_pop(c->co, nres);
    if (c->sleep) return MOQ_HOOK_PENDING;
    st = LUA_ERRRUN; /* a plain coroutine.yield: not a supported wait */
    lua_pushliteral(c->co, "the callback yielded outside moq.sleep");
    nres = 0;
  }
  int answer;
  char why[300] = "";
  if (st != LUA_OK) {
    const char *msg = lua_tostring(c->co, -1);
    plog(lp, MOQ_LOG_WARN, "%s: script error: %s", c->what, msg ? msg : "?");
    snprintf(why, sizeof why, "%s",
             msg && strstr(msg, REG_BUDGET_MSG) ? "script exceeded its instruction budget" : "script error");
    answer = MOQ_HOOK_DENY;
  } else {
    answer = c->kind == CALL_EVENT ? MOQ_HOOK_PASS : answer_of(c, nres, why, sizeof why);
    if (answer < 0) {
      plog(lp, MOQ_LOG_WARN, "%s: %s", c->what, why);
      answer = MOQ_HOOK_DENY;
    }
  }
  moq_request *req = c->req;
  int was_pending = c->pending;
  if (req && answer == MOQ_HOOK_DENY) lp->core->set_reason(req, MOQ_ERROR_UNAUTHORIZED, why);
  call_free(c);
  if (req && was_pending) lp->core->resume(req, answer);
  return answer;
}

/* Starts fn (a global) in a coroutine; pushes args with push(c). Returns the answer now or PENDING. */
static int start_call(lua_plugin *lp, call_kind kind, const char *fn, moq_request *req, const moq_session_info *s,
                      const char *path, const char *track, const moq_event *ev) {
  script *sc = lp->cur;
  lua_State *L = sc->L;
  /* raw: a strict-mode script's _G metatable errors on undefined names, which would abort the relay
   * here, outside a protected call */
  lua_pushglobaltable(L);
  lua_pushstring(L, fn);
  int ft = lua_rawget(L, -2);
  lua_remove(L, -2);
  if (ft != LUA_TFUNCTION) {
    lua_pop(L, 1);
    return MOQ_HOOK_PASS;
  }
  call *c = calloc(1, sizeof *c);
  if (!c) {
    lua_pop(L, 1);
    if (req) lp->core->set_reason(req, MOQ_ERROR_UNAUTHORIZED, "out of memory");
    return req ? MOQ_HOOK_DENY : MOQ_HOOK_PASS;
  }
  c->sc = sc;
  c->kind = kind;
  c->req = req;
  snprintf(c->what, sizeof c->what, "%s(%s%s%s)", fn, path ? path : s ? s->path : "", track ? ", " : "",
           track ? track : "");
  c->co = lua_newthread(L);
  c->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushlightuserdata(L, c);
  lua_rawsetp(L, LUA_REGISTRYINDEX, c->co);
  sc->running++;
  c->next = sc->calls;
  if (sc->calls) sc->calls->prev = c;
  sc->calls = c;
  lua_xmove(L, c->co, 1); /* the function */
  int nargs = 0;
  if (kind == CALL_EVENT) {
    static const char *const names[] = {"", "session_open", "session_closed", "broadcast_up", "broadcast_down",
                                        "peer_up", "peer_down", "tick"};
    lua_createtable(c->co, 0, 6);
    lua_pushstring(c->co, ev->type >= 1 && ev->type <= 7 ? names[ev->type] : "unknown");
    lua_setfield(c->co, -2, "type");
    if (ev->session) {
      push_session(c->co, ev->session);
      lua_setfield(c->co, -2, "session");
    }
    if (ev->path) {
      lua_pushstring(c->co, ev->path);
      lua_setfield(c->co, -2, "path");
    }
    if (ev->peer) {
      lua_pushstring(c->co, ev->peer);
      lua_setfield(c->co, -2, "peer");
    }
    if (ev->type == MOQ_EVENT_SESSION_CLOSED) {
      lua_pushinteger(c->co, (lua_Integer)ev->code);
      lua_setfield(c->co, -2, "code");
      if (ev->reason) {
        lua_pushstring(c->co, ev->reason);
        lua_setfield(c->co, -2, "reason");
      }
    }
    nargs = 1;
  } else {
    push_session(c->co, s);
    nargs = 1;
    if (path) {
      lua_pushstring(c->co, path);
      nargs++;
    }
    if (track) {
      lua_pushstring(c->co, track);
      nargs++;
    }
  }
  int a = resume_call(c, nargs);
  if (a == MOQ_HOOK_PENDING) c->pending = 1;
  return req ? a : MOQ_HOOK_PASS;
}

/* ------------------------------------------------------------------------------------------ */
/* Hook callbacks */

static int lua_on_session(void *state, const moq_session_info *s, moq_request *req) {
  return start_call(state, CALL_SESSION, "on_session", req, s, NULL, NULL, NULL);
}

static int lua_on_announce(void *state, const moq_session_info *s, const char *path, moq_request *req) {
  return start_call(state, CALL_ANNOUNCE, "on_announce", req, s, path, NULL, NULL);
}

static int lua_on_subscribe(void *state, const moq_session_info *s, const char *path, const char *track,
                            moq_request *req) {
  return start_call(state, CALL_SUBSCRIBE, "on_subscribe", req, s, path, track, NULL);
}

static int lua_on_route(void *state, const moq_session_info *s, const char *path, moq_request *req) {
  return start_call(state, CALL_ROUTE, "on_route", req, s, path, NULL, NULL);
}

static void lua_on_event(void *state, const moq_event *ev) {
  lua_plugin *lp = state;
  start_call(lp, CALL_EVENT, "on_event", NULL, ev->session, NULL, NULL, ev);
}

/* Loads the script into a fresh state. */
static script *script_load(lua_plugin *lp, char *err, size_t errlen) {
  script *sc = calloc(1, sizeof *sc);
  lua_State *L = sc ? luaL_newstate() : NULL;
  if (!L) {
    free(sc);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  sc->lp = lp;
  sc->L = L;
  sc->next = lp->scripts;
  lp->scripts = sc;
  luaL_openlibs(L);
  lua_pushlightuserdata(L, lp);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &REG_PLUGIN);
  luaL_requiref(L, "moq", open_moq, 1);
  lua_pop(L, 1);
  script *prev = lp->cur;
  lp->cur = sc; /* moq.timer at load time belongs to the new state */
  lua_sethook(L, budget_hook, LUA_MASKCOUNT, (int)(lp->budget > 0x7fffffff ? 0x7fffffff : lp->budget));
  int rv = luaL_loadfile(L, lp->path);
  if (rv == LUA_OK) rv = lua_pcall(L, 0, 0, 0);
  lua_sethook(L, NULL, 0, 0);
  lp->cur = prev;
  if (rv != LUA_OK) {
    snprintf(err, errlen, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "cannot load the script");
    sc->retired = 1;
    if (!sc->running) script_close(sc); /* else timers started while loading keep it until they fire */
    return NULL;
  }
  return sc;
}

/* Closes the state and frees the copy (its calls and timers must be gone, or be abandoned at
 * shutdown: the relay stopped every timer before fini). */
static void script_close(script *sc) {
  lua_plugin *lp = sc->lp;
  for (script **p = &lp->scripts; *p; p = &(*p)->next) {
    if (*p == sc) {
      *p = sc->next;
      break;
    }
  }
  while (sc->calls) {
    call *c = sc->calls;
    sc->calls = c->next;
    free(c);
  }
  while (sc->timers) {
    ltimer *lt = sc->timers;
    sc->timers = lt->next;
    free(lt);
  }
  lua_close(sc->L);
  free(sc);
}

static void script_retire(script *sc) {
  if (!sc) return;
  sc->retired = 1;
  if (!sc->running) script_close(sc);
}

static int lua_reload(void *state, char *err, size_t errlen) {
  lua_plugin *lp = state;
  script *sc = script_load(lp, err, errlen);
  if (!sc) return -1;
  script_retire(lp->cur);
  lp->cur = sc;
  return 0;
}

static void lua_fini(void *state) {
  lua_plugin *lp = state;
  /* Timers are stopped by the relay before fini; coroutines still waiting can never resume. */
  while (lp->scripts) script_close(lp->scripts);
  free(lp->path);
  free(lp);
}

int moq_plugin_lua_init(const moq_core *core, moq_plugin_host *h, const moq_plugin_config *cfg, moq_plugin *out,
                        char *err, size_t errlen) {
  if (MOQ_PLUGIN_API_VERSION_MAJOR(core->api_version) != MOQ_PLUGIN_API_MAJOR) {
    snprintf(err, errlen, "core speaks hook API major %u", MOQ_PLUGIN_API_VERSION_MAJOR(core->api_version));
    return -1;
  }
  const char *path = core->config_get(cfg, "script"), *budget = core->config_get(cfg, "budget");
  if (!path || !*path) {
    snprintf(err, errlen, "no script: give script = FILE");
    return -1;
  }
  lua_plugin *lp = calloc(1, sizeof *lp);
  if (!lp || !(lp->path = strdup(path))) {
    free(lp);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  lp->core = core;
  lp->h = h;
  lp->budget = budget ? strtoull(budget, NULL, 10) : 1000000;
  if (!lp->budget) lp->budget = 1000000;
  char lerr[600];
  if (!(lp->cur = script_load(lp, lerr, sizeof lerr))) {
    snprintf(err, errlen, "%s", lerr);
    while (lp->scripts) script_close(lp->scripts);
    free(lp->path);
    free(lp);
    return -1;
  }
  memset(out, 0, sizeof *out);
  out->api_version = MOQ_PLUGIN_API_VERSION;
  out->size = sizeof *out;
  out->name = "lua";
  out->version = LUA_RELEASE;
  out->state = lp;
  out->session = lua_on_session;
  out->announce = lua_on_announce;
  out->subscribe = lua_on_subscribe;
  out->event = lua_on_event;
  out->route = lua_on_route;
  out->reload = lua_reload;
  out->fini = lua_fini;
  return 0;
}
