/* toml: a strict parser for the TOML subset the relay's files use: comments, [table] and [a.b]
 * headers, [[arrays.of.tables]], bare/"quoted"/dotted keys, basic and literal one-line strings,
 * 64-bit integers (decimal, 0x, 0o, 0b), booleans, arrays and inline tables. Floats, dates and
 * multi-line strings are rejected with a message saying so. The result is a tree of values, each
 * carrying the 1-based line it starts on. Errors read "NAME:LINE: what is wrong".
 * No global state. */
#ifndef MOQ_CONF_TOML_H
#define MOQ_CONF_TOML_H

#include <stddef.h>
#include <stdint.h>

typedef enum toml_type {
  TOML_TABLE = 0,
  TOML_ARRAY = 1,
  TOML_STRING = 2,
  TOML_INT = 3,
  TOML_BOOL = 4,
} toml_type;

typedef struct toml_value toml_value;

/* One key of a table and its value. */
typedef struct toml_entry {
  char *key;         /* owned: the key (one part of a dotted key), NUL-terminated UTF-8 */
  int line;          /* line where the key first appears (for tables: the header that made it) */
  toml_value *value; /* owned */
} toml_entry;

/* A node of the tree. Read it with the functions below or directly; never change it. */
struct toml_value {
  toml_type type;
  int line;       /* line where the value starts (for a table: the header or key that defined it) */
  unsigned flags; /* the parser's bookkeeping (how a table or array was defined) */
  union {
    struct {
      toml_entry *items; /* owned: entries in file order */
      size_t len, cap;
    } table;
    struct {
      toml_value **items; /* owned, each owned */
      size_t len, cap;
    } array;
    char *str;       /* owned: NUL-terminated UTF-8 (U+0000 is refused, so it never hides bytes) */
    int64_t integer; /* TOML_INT */
    int boolean;     /* TOML_BOOL: 0 or 1 */
  } u;
};

/* Parses text[0..len) (name is used in messages). On success stores a new root table in *out (free
 * it with toml_free) and returns 0; else returns -1 with "NAME:LINE: message" in err. */
int toml_parse(const char *name, const char *text, size_t len, toml_value **out, char *err,
               size_t errlen);
/* Frees v and everything under it. NULL is ignored. */
void toml_free(toml_value *v);

/* "a table", "an array", "a string", "an integer" or "a boolean", for messages. */
const char *toml_type_name(toml_type type);
/* The value of key (one key, not a path) in table t, or NULL if absent or t is not a table. */
const toml_value *toml_get(const toml_value *t, const char *key);
/* The value at a dotted path of bare keys ("server.tls.cert") under t, or NULL. */
const toml_value *toml_get_path(const toml_value *t, const char *path);
/* Number of keys in table t (0 if t is not a table). */
size_t toml_table_len(const toml_value *t);
/* The i-th entry of table t in file order (borrowed), or NULL if out of range or not a table. */
const toml_entry *toml_table_at(const toml_value *t, size_t i);
/* Number of elements of array a (0 if a is not an array). */
size_t toml_array_len(const toml_value *a);
/* The i-th element of array a (borrowed), or NULL if out of range or not an array. */
const toml_value *toml_array_at(const toml_value *a, size_t i);
/* True when a is an array made by [[header]] sections (rather than a = [...]). */
int toml_is_table_array(const toml_value *a);
/* Stores v's string (borrowed from v) in *out; 0, or -1 if v is not a string. */
int toml_string(const toml_value *v, const char **out);
/* Stores v's integer in *out; 0, or -1 if v is not an integer. */
int toml_int(const toml_value *v, int64_t *out);
/* Stores v's boolean (0 or 1) in *out; 0, or -1 if v is not a boolean. */
int toml_bool(const toml_value *v, int *out);

#endif
