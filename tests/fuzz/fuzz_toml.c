/* fuzz_toml: the TOML parser (core/conf/toml.h) that reads the relay's configuration.
 * A refusal always names the file and line. A parsed tree obeys the reader functions' contracts, and
 * printing it back as TOML (headers for tables, [[headers]] for arrays of tables, inline values for the
 * rest) and parsing that gives the same tree. */
#include "fuzz.h"

#include <inttypes.h>
#include <stdarg.h>

#include "conf/toml.h"

/* ---- printing a tree back as TOML ---- */

typedef struct out {
  char *p; /* owned */
  size_t len, cap;
} out;

static void put(out *o, const char *s, size_t n) {
  if (o->len + n + 1 > o->cap) {
    size_t cap = o->cap ? o->cap : 256;
    while (cap < o->len + n + 1) cap *= 2;
    o->p = realloc(o->p, cap);
    FUZZ_CHECK(o->p != NULL);
    o->cap = cap;
  }
  memcpy(o->p + o->len, s, n);
  o->len += n;
  o->p[o->len] = '\0';
}

static void puts_(out *o, const char *s) { put(o, s, strlen(s)); }

static void putf(out *o, const char *fmt, ...) {
  char buf[64];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  FUZZ_CHECK(n > 0 && (size_t)n < sizeof buf);
  put(o, buf, (size_t)n);
}

/* A basic string with every control character escaped. */
static void put_quoted(out *o, const char *s) {
  puts_(o, "\"");
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      put(o, e, 2);
    } else if (c < 0x20 || c == 0x7f) {
      putf(o, "\\u%04X", c);
    } else {
      put(o, (const char *)&c, 1);
    }
  }
  puts_(o, "\"");
}

static void put_inline(out *o, const toml_value *v);

static void put_inline_table(out *o, const toml_value *t) {
  puts_(o, "{");
  for (size_t i = 0; i < toml_table_len(t); i++) {
    const toml_entry *e = toml_table_at(t, i);
    puts_(o, i ? ", " : " ");
    put_quoted(o, e->key);
    puts_(o, " = ");
    put_inline(o, e->value);
  }
  puts_(o, toml_table_len(t) ? " }" : "}");
}

static void put_inline(out *o, const toml_value *v) {
  switch (v->type) {
  case TOML_STRING: put_quoted(o, v->u.str); break;
  case TOML_INT: putf(o, "%" PRId64, v->u.integer); break;
  case TOML_BOOL: puts_(o, v->u.boolean ? "true" : "false"); break;
  case TOML_ARRAY:
    puts_(o, "[");
    for (size_t i = 0; i < toml_array_len(v); i++) {
      if (i) puts_(o, ", ");
      put_inline(o, toml_array_at(v, i));
    }
    puts_(o, "]");
    break;
  case TOML_TABLE: put_inline_table(o, v); break;
  }
}

/* A header key: the quoted parts of path, then key. */
static void put_header(out *o, const char *open, const char *path, const char *key, const char *close) {
  puts_(o, open);
  puts_(o, path);
  if (path[0]) puts_(o, ".");
  put_quoted(o, key);
  puts_(o, close);
  puts_(o, "\n");
}

/* The body of table t whose header path (already quoted and dotted) is path. */
static void put_table(out *o, const toml_value *t, const char *path) {
  for (size_t i = 0; i < toml_table_len(t); i++) { /* plain values right after the header */
    const toml_entry *e = toml_table_at(t, i);
    if (e->value->type == TOML_TABLE || toml_is_table_array(e->value)) continue;
    put_quoted(o, e->key);
    puts_(o, " = ");
    put_inline(o, e->value);
    puts_(o, "\n");
  }
  for (size_t i = 0; i < toml_table_len(t); i++) {
    const toml_entry *e = toml_table_at(t, i);
    int aot = toml_is_table_array(e->value);
    if (e->value->type != TOML_TABLE && !aot) continue;
    out sub = {0};
    puts_(&sub, path);
    if (path[0]) puts_(&sub, ".");
    put_quoted(&sub, e->key);
    if (!aot) {
      put_header(o, "[", path, e->key, "]");
      put_table(o, e->value, sub.p);
    } else {
      for (size_t k = 0; k < toml_array_len(e->value); k++) {
        const toml_value *el = toml_array_at(e->value, k);
        FUZZ_CHECK(el->type == TOML_TABLE);
        put_header(o, "[[", path, e->key, "]]");
        put_table(o, el, sub.p);
      }
    }
    free(sub.p);
  }
}

/* ---- comparing trees (tables as maps: printing moves plain values before tables) ---- */

static int same(const toml_value *a, const toml_value *b) {
  if (a->type != b->type) return 0;
  switch (a->type) {
  case TOML_STRING: return strcmp(a->u.str, b->u.str) == 0;
  case TOML_INT: return a->u.integer == b->u.integer;
  case TOML_BOOL: return a->u.boolean == b->u.boolean;
  case TOML_ARRAY:
    if (toml_array_len(a) != toml_array_len(b) || toml_is_table_array(a) != toml_is_table_array(b)) return 0;
    for (size_t i = 0; i < toml_array_len(a); i++)
      if (!same(toml_array_at(a, i), toml_array_at(b, i))) return 0;
    return 1;
  case TOML_TABLE:
    if (toml_table_len(a) != toml_table_len(b)) return 0;
    for (size_t i = 0; i < toml_table_len(a); i++) {
      const toml_entry *e = toml_table_at(a, i);
      const toml_value *w = toml_get(b, e->key);
      if (!w || !same(e->value, w)) return 0;
    }
    return 1;
  }
  return 0;
}

/* Checks the reader functions on every node; returns the number of nodes. */
static size_t walk(const toml_value *v, int depth) {
  FUZZ_CHECK(depth < 10000);
  FUZZ_CHECK(v->line >= 1);
  FUZZ_CHECK(toml_type_name(v->type) != NULL);
  const char *s;
  int64_t i;
  int b;
  FUZZ_CHECK((toml_string(v, &s) == 0) == (v->type == TOML_STRING));
  FUZZ_CHECK((toml_int(v, &i) == 0) == (v->type == TOML_INT));
  FUZZ_CHECK((toml_bool(v, &b) == 0) == (v->type == TOML_BOOL));
  size_t n = 1;
  if (v->type == TOML_BOOL) FUZZ_CHECK(b == 0 || b == 1);
  if (v->type == TOML_TABLE) {
    FUZZ_CHECK(toml_table_at(v, toml_table_len(v)) == NULL);
    for (size_t k = 0; k < toml_table_len(v); k++) {
      const toml_entry *e = toml_table_at(v, k);
      FUZZ_CHECK(e && e->key && e->value && e->line >= 1);
      FUZZ_CHECK(toml_get(v, e->key) == e->value); /* keys are unique */
      n += walk(e->value, depth + 1);
    }
  } else {
    FUZZ_CHECK(toml_table_len(v) == 0 && toml_get(v, "a") == NULL);
  }
  if (v->type == TOML_ARRAY) {
    FUZZ_CHECK(toml_array_at(v, toml_array_len(v)) == NULL);
    for (size_t k = 0; k < toml_array_len(v); k++) n += walk(toml_array_at(v, k), depth + 1);
  } else {
    FUZZ_CHECK(toml_array_len(v) == 0 && !toml_is_table_array(v));
  }
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 65536) return 0;
  char *text = (char *)fuzz_dup(data, size); /* not NUL-terminated: the parser takes a length */
  toml_value *root = NULL;
  char err[256] = "";
  int rc = toml_parse("fuzz.toml", text, size, &root, err, sizeof err);
  free(text);
  if (rc != 0) {
    FUZZ_CHECK(rc == -1 && root == NULL);
    FUZZ_CHECK(strncmp(err, "fuzz.toml:", 10) == 0);
    return 0;
  }
  FUZZ_CHECK(root && root->type == TOML_TABLE);
  walk(root, 0);
  (void)toml_get_path(root, "server.tls.cert");
  (void)toml_get_path(root, "a.b.c");

  out o = {0};
  puts_(&o, "");
  put_table(&o, root, "");
  toml_value *again = NULL;
  rc = toml_parse("again.toml", o.p, o.len, &again, err, sizeof err);
  if (rc != 0) fprintf(stderr, "printed tree refused: %s\n---\n%s---\n", err, o.p);
  FUZZ_CHECK(rc == 0);
  FUZZ_CHECK(same(root, again));
  FUZZ_CHECK(same(again, root));
  toml_free(again);
  free(o.p);
  toml_free(root);
  toml_free(NULL);
  return 0;
}
