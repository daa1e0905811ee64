#include "conf/toml.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How a table or array came to be; decides what later lines may do to it (TOML 1.0 rules). */
enum {
  TF_HEADER = 1, /* table defined by a [header] (or one element of [[header]]) */
  TF_DOTTED = 2, /* table created by a dotted key (a.b = 1) */
  TF_INLINE = 4, /* inline table, or a table inside one: immutable */
  TF_AOT = 8,    /* array made by [[header]] sections */
};

#define MAX_DEPTH 32     /* nesting of arrays and inline tables */
#define MAX_KEY_PARTS 32 /* parts of one dotted key or header */

typedef struct parser {
  const char *name; /* borrowed: file name for messages */
  const char *s;    /* borrowed: the text */
  size_t len;
  size_t pos;
  int line;
  int depth;
  toml_value *root; /* owned until toml_parse returns it */
  toml_value *cur;  /* borrowed: the table that key/value lines go into */
  char *err;        /* borrowed: the caller's message buffer */
  size_t errlen;
  int failed;
} parser;

/* A key as written: its parts and the line of each. */
typedef struct key_path {
  char *parts[MAX_KEY_PARTS]; /* owned, each owned */
  int lines[MAX_KEY_PARTS];
  size_t len;
} key_path;

/* A growable byte buffer. */
typedef struct sbuf {
  char *data; /* owned (malloc), NUL-terminated when not NULL */
  size_t len, cap;
} sbuf;

__attribute__((format(printf, 3, 4))) static int fail(parser *p, int line, const char *fmt, ...) {
  if (p->failed) return -1;
  p->failed = 1;
  if (!p->err || p->errlen == 0) return -1;
  int n = snprintf(p->err, p->errlen, "%s:%d: ", p->name, line);
  if (n >= 0 && (size_t)n < p->errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
    va_end(ap);
  }
  return -1;
}

static int oom(parser *p) { return fail(p, p->line, "out of memory"); }

static int peek(const parser *p) { return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1; }

static int at_newline(const parser *p) {
  int c = peek(p);
  return c == '\n' || c == '\r';
}

static int is_bare(int c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

/* Bytes in the (valid UTF-8) character at pos. */
static int char_len(const parser *p, size_t pos) {
  unsigned char c = (unsigned char)p->s[pos];
  int n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
  return (size_t)n > p->len - pos ? (int)(p->len - pos) : n;
}

/* Describes the character at pos for a message: 'x', "end of line" or "end of file". */
static const char *describe(const parser *p, size_t pos, char buf[16]) {
  if (pos >= p->len) return "end of file";
  unsigned char c = (unsigned char)p->s[pos];
  if (c == '\n' || c == '\r') return "end of line";
  snprintf(buf, 16, "'%.*s'", char_len(p, pos), p->s + pos);
  return buf;
}

/* Rejects invalid UTF-8, control characters and lone carriage returns anywhere in the text: no
 * TOML construct may hold them raw, so checking up front keeps the parser simple. */
static int check_text(parser *p) {
  const unsigned char *s = (const unsigned char *)p->s;
  int line = 1;
  size_t i = 0;
  while (i < p->len) {
    unsigned c = s[i];
    if (c == '\n') {
      line++;
      i++;
      continue;
    }
    if (c == '\r') {
      if (i + 1 < p->len && s[i + 1] == '\n') {
        i++;
        continue;
      }
      return fail(p, line, "carriage return not followed by a line feed");
    }
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return fail(p, line, "control character U+%04X is not allowed (in a string, write an escape)",
                  c);
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t n;
    unsigned cp, min;
    if (c >= 0xc2 && c <= 0xdf) {
      n = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      n = 3, cp = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return fail(p, line, "invalid UTF-8 (byte 0x%02x)", c);
    }
    if (n > p->len - i) return fail(p, line, "invalid UTF-8 (truncated sequence)");
    for (size_t k = 1; k < n; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return fail(p, line, "invalid UTF-8 (byte 0x%02x)", s[i + k]);
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return fail(p, line, "invalid UTF-8 (overlong or out-of-range sequence)");
    i += n;
  }
  return 0;
}

static int sbuf_add(sbuf *b, const char *d, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 32;
    while (cap < b->len + n + 1) cap *= 2;
    char *nd = realloc(b->data, cap);
    if (!nd) return -1;
    b->data = nd;
    b->cap = cap;
  }
  memcpy(b->data + b->len, d, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

/* Takes the buffer's contents as a string (an empty one if nothing was added). */
static char *sbuf_take(sbuf *b) {
  if (!b->data && sbuf_add(b, "", 0)) return NULL;
  char *s = b->data;
  b->data = NULL;
  b->len = b->cap = 0;
  return s;
}

static toml_value *value_new(toml_type type, int line) {
  toml_value *v = calloc(1, sizeof *v);
  if (v) {
    v->type = type;
    v->line = line;
  }
  return v;
}

void toml_free(toml_value *v) {
  if (!v) return;
  if (v->type == TOML_TABLE) {
    for (size_t i = 0; i < v->u.table.len; i++) {
      free(v->u.table.items[i].key);
      toml_free(v->u.table.items[i].value);
    }
    free(v->u.table.items);
  } else if (v->type == TOML_ARRAY) {
    for (size_t i = 0; i < v->u.array.len; i++) toml_free(v->u.array.items[i]);
    free(v->u.array.items);
  } else if (v->type == TOML_STRING) {
    free(v->u.str);
  }
  free(v);
}

static toml_entry *table_find_n(const toml_value *t, const char *key, size_t n) {
  if (!t || t->type != TOML_TABLE) return NULL;
  for (size_t i = 0; i < t->u.table.len; i++) {
    toml_entry *e = &t->u.table.items[i];
    if (strlen(e->key) == n && memcmp(e->key, key, n) == 0) return e;
  }
  return NULL;
}

/* Adds key (copied) = v (taken) to table t. Returns the new entry, or NULL (v freed) on failure. */
static toml_entry *table_add(parser *p, toml_value *t, const char *key, int line, toml_value *v) {
  if (!v) {
    oom(p);
    return NULL;
  }
  if (t->u.table.len == t->u.table.cap) {
    size_t cap = t->u.table.cap ? t->u.table.cap * 2 : 8;
    toml_entry *items = realloc(t->u.table.items, cap * sizeof *items);
    if (!items) goto nomem;
    t->u.table.items = items;
    t->u.table.cap = cap;
  }
  char *k = strdup(key);
  if (!k) goto nomem;
  toml_entry *e = &t->u.table.items[t->u.table.len++];
  e->key = k;
  e->line = line;
  e->value = v;
  return e;
nomem:
  toml_free(v);
  oom(p);
  return NULL;
}

/* Appends v (taken) to array a. 0, or -1 (v freed). */
static int array_push(parser *p, toml_value *a, toml_value *v) {
  if (!v) return oom(p);
  if (a->u.array.len == a->u.array.cap) {
    size_t cap = a->u.array.cap ? a->u.array.cap * 2 : 8;
    toml_value **items = realloc(a->u.array.items, cap * sizeof *items);
    if (!items) {
      toml_free(v);
      return oom(p);
    }
    a->u.array.items = items;
    a->u.array.cap = cap;
  }
  a->u.array.items[a->u.array.len++] = v;
  return 0;
}

static void key_path_free(key_path *k) {
  for (size_t i = 0; i < k->len; i++) free(k->parts[i]);
  k->len = 0;
}

/* Writes parts [0, n) of k as they would be written in a file: a.b."c d". */
static const char *key_display(const key_path *k, size_t n, char *out, size_t outlen) {
  size_t o = 0;
  out[0] = '\0';
  for (size_t i = 0; i < n && o + 1 < outlen; i++) {
    const char *s = k->parts[i];
    int bare = *s != '\0';
    for (const char *c = s; *c; c++)
      if (!is_bare((unsigned char)*c)) bare = 0;
    int w = snprintf(out + o, outlen - o, "%s%s%s%s", i ? "." : "", bare ? "" : "'", s,
                     bare ? "" : "'");
    if (w < 0) break;
    o += (size_t)w;
  }
  return out;
}

static void skip_ws(parser *p) {
  while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t')) p->pos++;
}

static void skip_comment(parser *p) {
  if (peek(p) != '#') return;
  while (p->pos < p->len && !at_newline(p)) p->pos++;
}

/* Consumes "\n" or "\r\n" if present. */
static int eat_newline(parser *p) {
  if (peek(p) == '\r') p->pos++; /* check_text guarantees a '\n' follows */
  if (peek(p) != '\n') return 0;
  p->pos++;
  p->line++;
  return 1;
}

/* Skips whitespace, comments and newlines (between array elements). */
static void skip_blank(parser *p) {
  for (;;) {
    skip_ws(p);
    skip_comment(p);
    if (!eat_newline(p)) return;
  }
}

/* After a value or header: only whitespace and a comment may follow on the line. */
static int end_of_line(parser *p, const char *after) {
  char buf[16];
  skip_ws(p);
  skip_comment(p);
  if (p->pos >= p->len || eat_newline(p)) return 0;
  return fail(p, p->line, "expected a new line after %s, got %s", after, describe(p, p->pos, buf));
}

static int hex_digit(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int put_utf8(sbuf *b, uint32_t cp) {
  char u[4];
  size_t n;
  if (cp < 0x80) {
    u[0] = (char)cp;
    n = 1;
  } else if (cp < 0x800) {
    u[0] = (char)(0xc0 | (cp >> 6));
    u[1] = (char)(0x80 | (cp & 0x3f));
    n = 2;
  } else if (cp < 0x10000) {
    u[0] = (char)(0xe0 | (cp >> 12));
    u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    u[2] = (char)(0x80 | (cp & 0x3f));
    n = 3;
  } else {
    u[0] = (char)(0xf0 | (cp >> 18));
    u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    u[3] = (char)(0x80 | (cp & 0x3f));
    n = 4;
  }
  return sbuf_add(b, u, n);
}

/* Reads the \uXXXX or \UXXXXXXXX escape whose letter is at p->pos. */
static int parse_unicode_escape(parser *p, sbuf *b) {
  char letter = p->s[p->pos];
  size_t n = letter == 'u' ? 4 : 8;
  uint32_t cp = 0;
  for (size_t i = 1; i <= n; i++) {
    int d = p->pos + i < p->len ? hex_digit((unsigned char)p->s[p->pos + i]) : -1;
    if (d < 0)
      return fail(p, p->line, "invalid escape \"\\%c\": expected %zu hex digits", letter, n);
    cp = cp * 16 + (uint32_t)d;
  }
  if (cp == 0) return fail(p, p->line, "\\%c escape of U+0000 (NUL) is not supported", letter);
  if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return fail(p, p->line, "invalid escape \"\\%c%.*s\": not a Unicode scalar value", letter,
                (int)n, p->s + p->pos + 1);
  p->pos += n + 1;
  if (put_utf8(b, cp)) return oom(p);
  return 0;
}

/* Reads a "basic string" starting at the opening quote into a new string in *out. */
static int parse_basic(parser *p, char **out) {
  sbuf b = {0};
  p->pos++;
  for (;;) {
    if (p->pos >= p->len || at_newline(p)) {
      free(b.data);
      return fail(p, p->line, "unterminated string (the closing '\"' is missing)");
    }
    char c = p->s[p->pos];
    if (c == '"') {
      p->pos++;
      break;
    }
    if (c != '\\') {
      size_t start = p->pos;
      while (p->pos < p->len && p->s[p->pos] != '"' && p->s[p->pos] != '\\' && !at_newline(p))
        p->pos++;
      if (sbuf_add(&b, p->s + start, p->pos - start)) goto nomem;
      continue;
    }
    p->pos++;
    int e = peek(p);
    const char *rep = NULL;
    switch (e) {
    case 'b': rep = "\b"; break;
    case 't': rep = "\t"; break;
    case 'n': rep = "\n"; break;
    case 'f': rep = "\f"; break;
    case 'r': rep = "\r"; break;
    case '"': rep = "\""; break;
    case '\\': rep = "\\"; break;
    case 'u':
    case 'U':
      if (parse_unicode_escape(p, &b)) {
        free(b.data);
        return -1;
      }
      continue;
    default:
      free(b.data);
      if (e < 0 || e == '\n' || e == '\r')
        return fail(p, p->line, "unterminated string (the closing '\"' is missing)");
      return fail(p, p->line, "invalid escape \"\\%.*s\" (use \\\\ for a backslash)",
                  char_len(p, p->pos), p->s + p->pos);
    }
    p->pos++;
    if (sbuf_add(&b, rep, 1)) goto nomem;
  }
  if (!(*out = sbuf_take(&b))) goto nomem;
  return 0;
nomem:
  free(b.data);
  return oom(p);
}

/* Reads a 'literal string' (no escapes) starting at the opening quote. */
static int parse_literal(parser *p, char **out) {
  size_t start = ++p->pos;
  while (p->pos < p->len && p->s[p->pos] != '\'' && !at_newline(p)) p->pos++;
  if (p->pos >= p->len || p->s[p->pos] != '\'')
    return fail(p, p->line, "unterminated string (the closing \"'\" is missing)");
  *out = strndup(p->s + start, p->pos - start);
  p->pos++;
  return *out ? 0 : oom(p);
}

/* Reads a key: bare, "quoted" or 'literal' parts separated by dots. */
static int parse_key(parser *p, key_path *k) {
  char buf[16];
  for (;;) {
    skip_ws(p);
    if (k->len == MAX_KEY_PARTS) return fail(p, p->line, "key has too many parts");
    int line = p->line, c = peek(p);
    char *part = NULL;
    if (is_bare(c)) {
      size_t start = p->pos;
      while (is_bare(peek(p))) p->pos++;
      if (!(part = strndup(p->s + start, p->pos - start))) return oom(p);
    } else if (c == '"') {
      if (parse_basic(p, &part)) return -1;
    } else if (c == '\'') {
      if (parse_literal(p, &part)) return -1;
    } else {
      return fail(p, p->line, "expected a key, got %s", describe(p, p->pos, buf));
    }
    k->lines[k->len] = line;
    k->parts[k->len++] = part;
    skip_ws(p);
    if (peek(p) != '.') return 0;
    p->pos++;
  }
}

static toml_value *parse_value(parser *p);
static int parse_keyval(parser *p, toml_value *base);

/* Marks an inline table and every table created inside it by dotted keys as immutable. */
static void mark_inline(toml_value *t) {
  t->flags |= TF_INLINE;
  for (size_t i = 0; i < t->u.table.len; i++)
    if (t->u.table.items[i].value->type == TOML_TABLE) mark_inline(t->u.table.items[i].value);
}

static toml_value *parse_array(parser *p) {
  char buf[16];
  int line = p->line;
  toml_value *a = value_new(TOML_ARRAY, line);
  if (!a) {
    oom(p);
    return NULL;
  }
  p->pos++;
  for (;;) {
    skip_blank(p);
    if (p->pos >= p->len) break;
    if (peek(p) == ']') {
      p->pos++;
      return a;
    }
    if (array_push(p, a, parse_value(p))) goto fail;
    skip_blank(p);
    if (peek(p) == ',') {
      p->pos++;
      continue;
    }
    if (peek(p) == ']') {
      p->pos++;
      return a;
    }
    if (p->pos >= p->len) break;
    fail(p, p->line, "expected ',' or ']' in the array, got %s", describe(p, p->pos, buf));
    goto fail;
  }
  fail(p, p->line, "unterminated array (opened at line %d)", line);
fail:
  toml_free(a);
  return NULL;
}

static toml_value *parse_inline_table(parser *p) {
  char buf[16];
  int line = p->line;
  toml_value *t = value_new(TOML_TABLE, line);
  if (!t) {
    oom(p);
    return NULL;
  }
  p->pos++;
  skip_ws(p);
  if (peek(p) == '}') {
    p->pos++;
    t->flags |= TF_INLINE;
    return t;
  }
  for (;;) {
    skip_ws(p);
    if (p->pos >= p->len || at_newline(p) || peek(p) == '#') {
      fail(p, p->line, "unterminated inline table (an inline table must close on its line)");
      goto fail;
    }
    if (parse_keyval(p, t)) goto fail;
    skip_ws(p);
    if (peek(p) == ',') {
      p->pos++;
      skip_ws(p);
      if (peek(p) == '}') {
        fail(p, p->line, "trailing comma in an inline table");
        goto fail;
      }
      continue;
    }
    if (peek(p) == '}') {
      p->pos++;
      mark_inline(t);
      return t;
    }
    if (p->pos >= p->len || at_newline(p) || peek(p) == '#') {
      fail(p, p->line, "unterminated inline table (an inline table must close on its line)");
      goto fail;
    }
    fail(p, p->line, "expected ',' or '}' in the inline table, got %s", describe(p, p->pos, buf));
    goto fail;
  }
fail:
  toml_free(t);
  return NULL;
}

/* Checks the syntax of digits in base: digits with single '_' between them. */
static int digits_ok(const char *d, size_t n, int base) {
  if (n == 0 || d[0] == '_' || d[n - 1] == '_') return 0;
  for (size_t i = 0; i < n; i++) {
    if (d[i] == '_') {
      if (d[i + 1] == '_') return 0;
      continue;
    }
    int v = hex_digit((unsigned char)d[i]);
    if (v < 0 || v >= base) return 0;
  }
  return 1;
}

static int all_in(const char *s, size_t n, const char *set) {
  for (size_t i = 0; i < n; i++)
    if (!strchr(set, s[i])) return 0;
  return 1;
}

static int any_in(const char *s, size_t n, const char *set) {
  for (size_t i = 0; i < n; i++)
    if (strchr(set, s[i])) return 1;
  return 0;
}

/* Parses the number word w[0..n) (already known to start with a sign or a digit, or be inf/nan). */
static toml_value *parse_number(parser *p, const char *w, size_t n) {
  int neg = w[0] == '-', sign = w[0] == '-' || w[0] == '+';
  const char *body = w + sign;
  size_t bn = n - (size_t)sign;
  int base = 10;
  if (bn == 3 && (memcmp(body, "inf", 3) == 0 || memcmp(body, "nan", 3) == 0)) {
    fail(p, p->line, "floats are not supported (use an integer)");
    return NULL;
  }
  if (bn >= 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'o' || body[1] == 'b')) {
    base = body[1] == 'x' ? 16 : body[1] == 'o' ? 8 : 2;
    if (sign) {
      fail(p, p->line, "invalid number \"%.*s\": hexadecimal, octal and binary take no sign",
           (int)n, w);
      return NULL;
    }
    body += 2;
    bn -= 2;
  } else if (bn > 0 && all_in(body, bn, "0123456789-:TtZz.+") && any_in(body, bn, "-:")) {
    fail(p, p->line, "dates and times are not supported (write them as strings)");
    return NULL;
  } else if (all_in(body, bn, "0123456789_.eE+-") && any_in(body, bn, ".eE")) {
    fail(p, p->line, "floats are not supported (use an integer)");
    return NULL;
  }
  if (!digits_ok(body, bn, base)) {
    fail(p, p->line, "invalid number \"%.*s\"", (int)n, w);
    return NULL;
  }
  if (base == 10 && bn > 1 && body[0] == '0') {
    fail(p, p->line, "invalid number \"%.*s\": leading zeros are not allowed", (int)n, w);
    return NULL;
  }
  uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, v = 0;
  for (size_t i = 0; i < bn; i++) {
    if (body[i] == '_') continue;
    uint64_t d = (uint64_t)hex_digit((unsigned char)body[i]);
    if (v > (limit - d) / (uint64_t)base) {
      fail(p, p->line, "integer %.*s is out of range (it must fit in 64 bits, signed)", (int)n, w);
      return NULL;
    }
    v = v * (uint64_t)base + d;
  }
  toml_value *r = value_new(TOML_INT, p->line);
  if (!r) {
    oom(p);
    return NULL;
  }
  r->u.integer = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
  return r;
}

static toml_value *parse_value_inner(parser *p) {
  char buf[16];
  int c = peek(p), line = p->line;
  if (c == '"' || c == '\'') {
    if (p->len - p->pos >= 3 && p->s[p->pos + 1] == c && p->s[p->pos + 2] == c) {
      fail(p, line, "multi-line strings are not supported");
      return NULL;
    }
    char *s;
    if ((c == '"' ? parse_basic(p, &s) : parse_literal(p, &s))) return NULL;
    toml_value *v = value_new(TOML_STRING, line);
    if (!v) {
      free(s);
      oom(p);
      return NULL;
    }
    v->u.str = s;
    return v;
  }
  if (c == '[') return parse_array(p);
  if (c == '{') return parse_inline_table(p);
  size_t start = p->pos;
  while (is_bare(peek(p)) || peek(p) == '+' || peek(p) == '.' || peek(p) == ':') p->pos++;
  const char *w = p->s + start;
  size_t n = p->pos - start;
  if (n == 0) {
    fail(p, line, "expected a value, got %s", describe(p, p->pos, buf));
    return NULL;
  }
  if ((n == 4 && memcmp(w, "true", 4) == 0) || (n == 5 && memcmp(w, "false", 5) == 0)) {
    toml_value *v = value_new(TOML_BOOL, line);
    if (!v)
      oom(p);
    else
      v->u.boolean = n == 4;
    return v;
  }
  if ((w[0] >= '0' && w[0] <= '9') || w[0] == '+' || w[0] == '-' ||
      (n == 3 && (memcmp(w, "inf", 3) == 0 || memcmp(w, "nan", 3) == 0)))
    return parse_number(p, w, n);
  fail(p, line, "expected a value, got \"%.*s\" (strings need quotes)", (int)n, w);
  return NULL;
}

static toml_value *parse_value(parser *p) {
  if (p->depth >= MAX_DEPTH) {
    fail(p, p->line, "arrays and inline tables are nested too deeply");
    return NULL;
  }
  p->depth++;
  toml_value *v = parse_value_inner(p);
  p->depth--;
  return v;
}

/* Stores v (taken) at dotted key k under base, creating intermediate tables. */
static int insert_kv(parser *p, toml_value *base, const key_path *k, toml_value *v) {
  char name[256], part[256];
  key_display(k, k->len, name, sizeof name);
  toml_value *t = base;
  for (size_t i = 0; i + 1 < k->len; i++) {
    toml_entry *e = table_find_n(t, k->parts[i], strlen(k->parts[i]));
    if (!e) {
      toml_value *nt = value_new(TOML_TABLE, k->lines[i]);
      if (nt) nt->flags = TF_DOTTED;
      if (!table_add(p, t, k->parts[i], k->lines[i], nt)) goto fail;
      t = nt;
      continue;
    }
    toml_value *ev = e->value;
    key_display(k, i + 1, part, sizeof part);
    if (ev->type != TOML_TABLE) {
      fail(p, k->lines[i], "cannot set key \"%s\": \"%s\" is %s (line %d), not a table", name, part,
           toml_type_name(ev->type), ev->line);
      goto fail;
    }
    if (ev->flags & TF_INLINE) {
      fail(p, k->lines[i],
           "cannot set key \"%s\": \"%s\" is an inline table (line %d), which cannot be "
           "extended",
           name, part, ev->line);
      goto fail;
    }
    if (ev->flags & TF_HEADER) {
      fail(p, k->lines[i],
           "cannot set key \"%s\": \"%s\" is a table defined by a header at line %d; "
           "dotted keys cannot add to it",
           name, part, ev->line);
      goto fail;
    }
    ev->flags |= TF_DOTTED;
    t = ev;
  }
  const char *last = k->parts[k->len - 1];
  int line = k->lines[k->len - 1];
  toml_entry *e = table_find_n(t, last, strlen(last));
  if (e) {
    fail(p, line, "duplicate key \"%s\" (first defined at line %d)", name, e->line);
    goto fail;
  }
  return table_add(p, t, last, line, v) ? 0 : -1;
fail:
  toml_free(v);
  return -1;
}

/* Reads KEY = VALUE and stores it in base. */
static int parse_keyval(parser *p, toml_value *base) {
  char buf[16], name[256];
  key_path k = {0};
  int rv = -1;
  if (parse_key(p, &k)) goto out;
  if (peek(p) != '=') {
    fail(p, p->line, "expected '=' after key \"%s\", got %s",
         key_display(&k, k.len, name, sizeof name), describe(p, p->pos, buf));
    goto out;
  }
  p->pos++;
  skip_ws(p);
  if (p->pos >= p->len || at_newline(p) || peek(p) == '#') {
    fail(p, p->line, "expected a value after '=' for key \"%s\"",
         key_display(&k, k.len, name, sizeof name));
    goto out;
  }
  toml_value *v = parse_value(p);
  if (!v) goto out;
  rv = insert_kv(p, base, &k, v);
out:
  key_path_free(&k);
  return rv;
}

/* Walks header path k (all but the last part) from the root, creating implicit tables. */
static toml_value *header_parent(parser *p, const key_path *k, int line, const char *hdr) {
  char part[256];
  toml_value *t = p->root;
  for (size_t i = 0; i + 1 < k->len; i++) {
    toml_entry *e = table_find_n(t, k->parts[i], strlen(k->parts[i]));
    if (!e) {
      toml_value *nt = value_new(TOML_TABLE, line);
      if (!table_add(p, t, k->parts[i], line, nt)) return NULL;
      t = nt;
      continue;
    }
    toml_value *v = e->value;
    key_display(k, i + 1, part, sizeof part);
    if (v->type == TOML_TABLE && (v->flags & TF_INLINE)) {
      fail(p, line,
           "cannot define %s: \"%s\" is an inline table (line %d), which cannot be extended", hdr,
           part, v->line);
      return NULL;
    }
    if (v->type == TOML_TABLE) {
      t = v;
    } else if (v->type == TOML_ARRAY && (v->flags & TF_AOT)) {
      t = v->u.array.items[v->u.array.len - 1];
    } else {
      fail(p, line, "cannot define %s: key \"%s\" is %s (line %d), not a table", hdr, part,
           toml_type_name(v->type), v->line);
      return NULL;
    }
  }
  return t;
}

/* Handles a [table] or [[array.of.tables]] header: defines it and makes it current. */
static int define_table(parser *p, const key_path *k, int aot, int line) {
  char name[256], hdr[260];
  key_display(k, k->len, name, sizeof name);
  snprintf(hdr, sizeof hdr, aot ? "[[%s]]" : "[%s]", name);
  toml_value *t = header_parent(p, k, line, hdr);
  if (!t) return -1;
  const char *last = k->parts[k->len - 1];
  toml_entry *e = table_find_n(t, last, strlen(last));
  if (!aot) {
    if (!e) {
      toml_value *nt = value_new(TOML_TABLE, line);
      if (nt) nt->flags = TF_HEADER;
      if (!table_add(p, t, last, line, nt)) return -1;
      p->cur = nt;
      return 0;
    }
    toml_value *v = e->value;
    if (v->type == TOML_TABLE) {
      if (v->flags & TF_INLINE)
        return fail(p, line, "table %s cannot be changed: it was defined inline at line %d", hdr,
                    v->line);
      if (v->flags & TF_HEADER)
        return fail(p, line, "table %s is defined twice (first at line %d)", hdr, v->line);
      if (v->flags & TF_DOTTED)
        return fail(p, line, "table %s was already defined by dotted keys at line %d", hdr,
                    v->line);
      v->flags |= TF_HEADER;
      v->line = line;
      p->cur = v;
      return 0;
    }
    if (v->type == TOML_ARRAY && (v->flags & TF_AOT))
      return fail(p, line, "table %s: \"%s\" is an array of tables (line %d); use [[%s]]", hdr,
                  name, v->line, name);
    return fail(p, line, "cannot define table %s: key \"%s\" is already %s (line %d)", hdr, name,
                toml_type_name(v->type), v->line);
  }
  toml_value *a;
  if (!e) {
    a = value_new(TOML_ARRAY, line);
    if (a) a->flags = TF_AOT;
    if (!table_add(p, t, last, line, a)) return -1;
  } else {
    a = e->value;
    if (a->type == TOML_ARRAY && !(a->flags & TF_AOT))
      return fail(p, line,
                  "cannot append to %s: key \"%s\" is an array defined with '=' at line %d", hdr,
                  name, a->line);
    if (a->type != TOML_ARRAY)
      return fail(p, line, "cannot define %s: key \"%s\" is already %s (line %d)", hdr, name,
                  toml_type_name(a->type), a->line);
  }
  toml_value *nt = value_new(TOML_TABLE, line);
  if (nt) nt->flags = TF_HEADER;
  if (array_push(p, a, nt)) return -1;
  p->cur = nt;
  return 0;
}

static int parse_header(parser *p) {
  char buf[16];
  int line = p->line, aot = p->pos + 1 < p->len && p->s[p->pos + 1] == '[';
  key_path k = {0};
  int rv = -1;
  p->pos += aot ? 2 : 1;
  if (parse_key(p, &k)) goto out;
  if (peek(p) != ']' || (aot && (p->pos + 1 >= p->len || p->s[p->pos + 1] != ']'))) {
    fail(p, p->line, "expected '%s' to close the header, got %s", aot ? "]]" : "]",
         describe(p, peek(p) == ']' ? p->pos + 1 : p->pos, buf));
    goto out;
  }
  p->pos += aot ? 2 : 1;
  rv = define_table(p, &k, aot, line);
out:
  key_path_free(&k);
  return rv;
}

int toml_parse(const char *name, const char *text, size_t len, toml_value **out, char *err,
               size_t errlen) {
  parser p = {.name = name ? name : "<string>",
              .s = text,
              .len = len,
              .line = 1,
              .err = err,
              .errlen = errlen};
  *out = NULL;
  if (err && errlen) err[0] = '\0';
  if (!text) p.len = 0;
  if (check_text(&p)) return -1;
  if (!(p.root = value_new(TOML_TABLE, 1))) return oom(&p);
  p.cur = p.root;
  if (p.len >= 3 && memcmp(p.s, "\xef\xbb\xbf", 3) == 0) p.pos = 3; /* byte order mark */
  while (!p.failed && p.pos < p.len) {
    skip_ws(&p);
    skip_comment(&p);
    if (p.pos >= p.len || eat_newline(&p)) continue;
    if (peek(&p) == '[') {
      if (parse_header(&p) == 0) end_of_line(&p, "the header");
    } else if (parse_keyval(&p, p.cur) == 0) {
      end_of_line(&p, "the value");
    }
  }
  if (p.failed) {
    toml_free(p.root);
    return -1;
  }
  *out = p.root;
  return 0;
}

const char *toml_type_name(toml_type type) {
  switch (type) {
  case TOML_TABLE: return "a table";
  case TOML_ARRAY: return "an array";
  case TOML_STRING: return "a string";
  case TOML_INT: return "an integer";
  case TOML_BOOL: return "a boolean";
  }
  return "a value";
}

const toml_value *toml_get(const toml_value *t, const char *key) {
  const toml_entry *e = table_find_n(t, key, strlen(key));
  return e ? e->value : NULL;
}

const toml_value *toml_get_path(const toml_value *t, const char *path) {
  for (;;) {
    const char *dot = strchr(path, '.');
    size_t n = dot ? (size_t)(dot - path) : strlen(path);
    const toml_entry *e = table_find_n(t, path, n);
    if (!e) return NULL;
    if (!dot) return e->value;
    t = e->value;
    path = dot + 1;
  }
}

size_t toml_table_len(const toml_value *t) {
  return t && t->type == TOML_TABLE ? t->u.table.len : 0;
}

const toml_entry *toml_table_at(const toml_value *t, size_t i) {
  return i < toml_table_len(t) ? &t->u.table.items[i] : NULL;
}

size_t toml_array_len(const toml_value *a) {
  return a && a->type == TOML_ARRAY ? a->u.array.len : 0;
}

const toml_value *toml_array_at(const toml_value *a, size_t i) {
  return i < toml_array_len(a) ? a->u.array.items[i] : NULL;
}

int toml_is_table_array(const toml_value *a) {
  return a && a->type == TOML_ARRAY && (a->flags & TF_AOT) != 0;
}

int toml_string(const toml_value *v, const char **out) {
  if (!v || v->type != TOML_STRING) return -1;
  *out = v->u.str;
  return 0;
}

int toml_int(const toml_value *v, int64_t *out) {
  if (!v || v->type != TOML_INT) return -1;
  *out = v->u.integer;
  return 0;
}

int toml_bool(const toml_value *v, int *out) {
  if (!v || v->type != TOML_BOOL) return -1;
  *out = v->u.boolean;
  return 0;
}
