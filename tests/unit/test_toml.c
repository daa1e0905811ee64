/* Unit tests for conf/toml: every value type, tables, arrays of tables, inline tables, line
 * numbers, CRLF, and each error with its exact line. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/toml.h"

/* Parses text (as "t.toml") and fails the test on error. */
static toml_value *parse_ok(const char *text) {
  toml_value *root = NULL;
  char err[512];
  int rc = toml_parse("t.toml", text, strlen(text), &root, err, sizeof err);
  ck_assert_msg(rc == 0, "parse failed: %s\n--- text:\n%s", err, text);
  ck_assert_ptr_nonnull(root);
  ck_assert_int_eq(root->type, TOML_TABLE);
  return root;
}

/* Parses text of len bytes and checks the error message starts with want. */
static void parse_fails_n(const char *text, size_t len, const char *want) {
  toml_value *root = (toml_value *)1;
  char err[512];
  int rc = toml_parse("t.toml", text, len, &root, err, sizeof err);
  ck_assert_msg(rc == -1, "parse succeeded, wanted \"%s\"\n--- text:\n%s", want, text);
  ck_assert_ptr_null(root);
  ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "got \"%s\"\nwant \"%s...\"\n--- text:\n%s",
                err, want, text);
}

static void parse_fails(const char *text, const char *want) {
  parse_fails_n(text, strlen(text), want);
}

static const char *str_at(const toml_value *t, const char *path) {
  const char *s = NULL;
  const toml_value *v = toml_get_path(t, path);
  ck_assert_msg(v != NULL, "missing %s", path);
  ck_assert_msg(toml_string(v, &s) == 0, "%s is %s, not a string", path, toml_type_name(v->type));
  return s;
}

static int64_t int_at(const toml_value *t, const char *path) {
  int64_t i = 0;
  const toml_value *v = toml_get_path(t, path);
  ck_assert_msg(v != NULL, "missing %s", path);
  ck_assert_msg(toml_int(v, &i) == 0, "%s is %s, not an integer", path, toml_type_name(v->type));
  return i;
}

static int bool_at(const toml_value *t, const char *path) {
  int b = -1;
  const toml_value *v = toml_get_path(t, path);
  ck_assert_msg(v != NULL, "missing %s", path);
  ck_assert_msg(toml_bool(v, &b) == 0, "%s is not a boolean", path);
  return b;
}

static int line_at(const toml_value *t, const char *path) {
  const toml_value *v = toml_get_path(t, path);
  ck_assert_msg(v != NULL, "missing %s", path);
  return v->line;
}

START_TEST(test_strings) {
  toml_value *r = parse_ok("plain = \"hello world\"\n"
                           "esc = \"q\\\" b\\\\ n\\n t\\t r\\r b\\b f\\f\"\n"
                           "u4 = \"caf\\u00e9 \\u20AC\"\n"
                           "u8 = \"\\U0001F600\"\n"
                           "lit = 'C:\\path\\n \"quoted\"'\n"
                           "empty = \"\"\n"
                           "empty_lit = ''\n"
                           "hash = \"not # a comment\" # a comment\n"
                           "utf8 = \"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\"\n"
                           "tab = \"a\tb\"\n");
  ck_assert_str_eq(str_at(r, "plain"), "hello world");
  ck_assert_str_eq(str_at(r, "esc"), "q\" b\\ n\n t\t r\r b\b f\f");
  ck_assert_str_eq(str_at(r, "u4"), "caf\xc3\xa9 \xe2\x82\xac");
  ck_assert_str_eq(str_at(r, "u8"), "\xf0\x9f\x98\x80");
  ck_assert_str_eq(str_at(r, "lit"), "C:\\path\\n \"quoted\"");
  ck_assert_str_eq(str_at(r, "empty"), "");
  ck_assert_str_eq(str_at(r, "empty_lit"), "");
  ck_assert_str_eq(str_at(r, "hash"), "not # a comment");
  ck_assert_str_eq(str_at(r, "utf8"), "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80");
  ck_assert_str_eq(str_at(r, "tab"), "a\tb");
  ck_assert_int_eq(toml_table_len(r), 10);
  toml_free(r);
}
END_TEST

START_TEST(test_integers) {
  toml_value *r = parse_ok("a = 0\nb = +17\nc = -42\nd = 1_000_000\ne = -0\n"
                           "f = 9223372036854775807\ng = -9223372036854775808\n"
                           "h = 0xDEAD_beef\ni = 0o755\nj = 0b1101_0110\nk = 0x7fffffffffffffff\n"
                           "l = 0x0\nm = 0o0_7\n");
  ck_assert_int_eq(int_at(r, "a"), 0);
  ck_assert_int_eq(int_at(r, "b"), 17);
  ck_assert_int_eq(int_at(r, "c"), -42);
  ck_assert_int_eq(int_at(r, "d"), 1000000);
  ck_assert_int_eq(int_at(r, "e"), 0);
  ck_assert(int_at(r, "f") == INT64_MAX);
  ck_assert(int_at(r, "g") == INT64_MIN);
  ck_assert_int_eq(int_at(r, "h"), 0xdeadbeef);
  ck_assert_int_eq(int_at(r, "i"), 0755);
  ck_assert_int_eq(int_at(r, "j"), 0xd6);
  ck_assert(int_at(r, "k") == INT64_MAX);
  ck_assert_int_eq(int_at(r, "l"), 0);
  ck_assert_int_eq(int_at(r, "m"), 7);
  ck_assert_int_eq(line_at(r, "m"), 13);
  toml_free(r);
}
END_TEST

START_TEST(test_booleans) {
  toml_value *r = parse_ok("yes = true\nno = false\nlist = [true,false]\n");
  ck_assert_int_eq(bool_at(r, "yes"), 1);
  ck_assert_int_eq(bool_at(r, "no"), 0);
  const toml_value *l = toml_get(r, "list");
  ck_assert_int_eq(toml_array_len(l), 2);
  ck_assert_int_eq(toml_array_at(l, 0)->u.boolean, 1);
  ck_assert_int_eq(toml_array_at(l, 1)->u.boolean, 0);
  toml_free(r);
}
END_TEST

START_TEST(test_tables) {
  toml_value *r = parse_ok("top = 1\n"
                           "\n"
                           "[server]\n"
                           "bind = \"[::]:4443\"\n"
                           "[server.tls]\n"
                           "cert = \"a.pem\"\n"
                           "[ web . http ]  # spaces around the dot\n"
                           "listen = \"x\"\n"
                           "[a.b.c]\n"
                           "d = 1\n"
                           "[a]\n" /* defines the table made implicit above */
                           "e = 2\n"
                           "[\"quoted key\".'lit.dot']\n"
                           "f = 3\n"
                           "[dotted]\n"
                           "x.y.z = 4\n"
                           "x.y.w = 5\n"
                           "x.v = 6\n"
                           "\"\" = 7\n"
                           "[dotted.x.sub]\n" /* a sub-table under dotted-key tables is fine */
                           "g = 8\n");
  ck_assert_int_eq(int_at(r, "top"), 1);
  ck_assert_str_eq(str_at(r, "server.bind"), "[::]:4443");
  ck_assert_str_eq(str_at(r, "server.tls.cert"), "a.pem");
  ck_assert_str_eq(str_at(r, "web.http.listen"), "x");
  ck_assert_int_eq(int_at(r, "a.b.c.d"), 1);
  ck_assert_int_eq(int_at(r, "a.e"), 2);
  const toml_value *q = toml_get(toml_get(r, "quoted key"), "lit.dot");
  ck_assert_ptr_nonnull(q);
  ck_assert_int_eq(int_at(q, "f"), 3);
  ck_assert_int_eq(int_at(r, "dotted.x.y.z"), 4);
  ck_assert_int_eq(int_at(r, "dotted.x.y.w"), 5);
  ck_assert_int_eq(int_at(r, "dotted.x.v"), 6);
  ck_assert_int_eq(toml_get(toml_get(r, "dotted"), "")->u.integer, 7);
  ck_assert_int_eq(int_at(r, "dotted.x.sub.g"), 8);
  /* lines: the header for tables, the key for values */
  ck_assert_int_eq(line_at(r, "server"), 3);
  ck_assert_int_eq(line_at(r, "server.tls"), 5);
  ck_assert_int_eq(line_at(r, "server.bind"), 4);
  ck_assert_int_eq(line_at(r, "a"), 11); /* where [a] defined it */
  ck_assert_int_eq(line_at(r, "a.b"), 9);
  ck_assert_int_eq(line_at(r, "dotted.x"), 16);
  const toml_entry *e = toml_table_at(r, 3); /* "a", first mentioned by [a.b.c] */
  ck_assert_str_eq(e->key, "a");
  ck_assert_int_eq(e->line, 9);
  ck_assert_int_eq(toml_get(r, "a")->type, TOML_TABLE);
  toml_free(r);
}
END_TEST

START_TEST(test_order) {
  toml_value *r = parse_ok("zeta = 1\nalpha = 2\n[mid]\nb = 1\na = 2\n[first]\n");
  const char *want[] = {"zeta", "alpha", "mid", "first"};
  const int lines[] = {1, 2, 3, 6};
  ck_assert_int_eq(toml_table_len(r), 4);
  for (size_t i = 0; i < 4; i++) {
    const toml_entry *e = toml_table_at(r, i);
    ck_assert_str_eq(e->key, want[i]);
    ck_assert_int_eq(e->line, lines[i]);
  }
  ck_assert_ptr_null(toml_table_at(r, 4));
  const toml_value *mid = toml_get(r, "mid");
  ck_assert_str_eq(toml_table_at(mid, 0)->key, "b");
  ck_assert_str_eq(toml_table_at(mid, 1)->key, "a");
  ck_assert_int_eq(toml_table_len(toml_get(r, "first")), 0);
  toml_free(r);
}
END_TEST

START_TEST(test_arrays) {
  toml_value *r = parse_ok("empty = []\n"
                           "ints = [1, 2, 3]\n"
                           "multi = [\n"
                           "  \"a\",  # first\n"
                           "  # a whole comment line\n"
                           "\n"
                           "  'b',\n"
                           "]\n"
                           "nested = [[1, 2], [\"x\"], []]\n"
                           "mixed = [1, \"two\", true, {k = 3}]\n"
                           "spaced = [ 1 , 2 ]\n");
  ck_assert_int_eq(toml_get(r, "empty")->type, TOML_ARRAY);
  ck_assert_int_eq(toml_array_len(toml_get(r, "empty")), 0);
  const toml_value *ints = toml_get(r, "ints");
  ck_assert_int_eq(toml_array_len(ints), 3);
  ck_assert_int_eq(toml_array_at(ints, 2)->u.integer, 3);
  ck_assert_ptr_null(toml_array_at(ints, 3));
  ck_assert(!toml_is_table_array(ints));
  const toml_value *m = toml_get(r, "multi");
  ck_assert_int_eq(m->line, 3);
  ck_assert_int_eq(toml_array_len(m), 2);
  ck_assert_str_eq(toml_array_at(m, 0)->u.str, "a");
  ck_assert_int_eq(toml_array_at(m, 0)->line, 4);
  ck_assert_str_eq(toml_array_at(m, 1)->u.str, "b");
  ck_assert_int_eq(toml_array_at(m, 1)->line, 7);
  ck_assert_int_eq(line_at(r, "nested"), 9); /* line counting continued past the array */
  const toml_value *n = toml_get(r, "nested");
  ck_assert_int_eq(toml_array_len(n), 3);
  ck_assert_int_eq(toml_array_len(toml_array_at(n, 0)), 2);
  ck_assert_int_eq(toml_array_at(toml_array_at(n, 0), 1)->u.integer, 2);
  ck_assert_str_eq(toml_array_at(toml_array_at(n, 1), 0)->u.str, "x");
  ck_assert_int_eq(toml_array_len(toml_array_at(n, 2)), 0);
  const toml_value *mx = toml_get(r, "mixed");
  ck_assert_int_eq(toml_array_at(mx, 0)->type, TOML_INT);
  ck_assert_int_eq(toml_array_at(mx, 1)->type, TOML_STRING);
  ck_assert_int_eq(toml_array_at(mx, 2)->type, TOML_BOOL);
  ck_assert_int_eq(toml_array_at(mx, 3)->type, TOML_TABLE);
  ck_assert_int_eq(int_at(toml_array_at(mx, 3), "k"), 3);
  ck_assert_int_eq(toml_array_len(toml_get(r, "spaced")), 2);
  toml_free(r);
}
END_TEST

START_TEST(test_array_of_tables) {
  toml_value *r = parse_ok("[[plugin]]\n"
                           "name = \"auth\"\n"
                           "[plugin.opts]\n"
                           "level = 1\n"
                           "[[plugin.hook]]\n"
                           "on = \"publish\"\n"
                           "[[plugin.hook]]\n"
                           "on = \"subscribe\"\n"
                           "\n"
                           "[[plugin]]\n"
                           "name = \"log\"\n"
                           "[plugin.opts]\n" /* a new element, so a new [plugin.opts] */
                           "level = 2\n"
                           "[[ plugin ]]\n");
  const toml_value *p = toml_get(r, "plugin");
  ck_assert(toml_is_table_array(p));
  ck_assert_int_eq(p->line, 1);
  ck_assert_int_eq(toml_array_len(p), 3);
  const toml_value *p0 = toml_array_at(p, 0), *p1 = toml_array_at(p, 1), *p2 = toml_array_at(p, 2);
  ck_assert_str_eq(str_at(p0, "name"), "auth");
  ck_assert_int_eq(int_at(p0, "opts.level"), 1);
  ck_assert_int_eq(p0->line, 1);
  const toml_value *hooks = toml_get(p0, "hook");
  ck_assert(toml_is_table_array(hooks));
  ck_assert_int_eq(toml_array_len(hooks), 2);
  ck_assert_str_eq(str_at(toml_array_at(hooks, 1), "on"), "subscribe");
  ck_assert_int_eq(toml_array_at(hooks, 1)->line, 7);
  ck_assert_str_eq(str_at(p1, "name"), "log");
  ck_assert_int_eq(int_at(p1, "opts.level"), 2);
  ck_assert_int_eq(p1->line, 10);
  ck_assert_ptr_null(toml_get(p1, "hook"));
  ck_assert_int_eq(toml_table_len(p2), 0);
  ck_assert_int_eq(p2->line, 14);
  toml_free(r);
}
END_TEST

START_TEST(test_inline_tables) {
  toml_value *r = parse_ok("empty = {}\n"
                           "t = { a = 1, b = \"x\" }\n"
                           "nested = {inner = {deep = true}, list = [1, {z = 2}]}\n"
                           "dotted = { a.b = 1, a.c = 2 }\n"
                           "[s]\n"
                           "point = {x=1,y=2}\n");
  ck_assert_int_eq(toml_get(r, "empty")->type, TOML_TABLE);
  ck_assert_int_eq(toml_table_len(toml_get(r, "empty")), 0);
  ck_assert_int_eq(int_at(r, "t.a"), 1);
  ck_assert_str_eq(str_at(r, "t.b"), "x");
  ck_assert_int_eq(line_at(r, "t"), 2);
  ck_assert_int_eq(bool_at(r, "nested.inner.deep"), 1);
  const toml_value *l = toml_get_path(r, "nested.list");
  ck_assert_int_eq(int_at(toml_array_at(l, 1), "z"), 2);
  ck_assert_int_eq(int_at(r, "dotted.a.b"), 1);
  ck_assert_int_eq(int_at(r, "dotted.a.c"), 2);
  ck_assert_int_eq(int_at(r, "s.point.y"), 2);
  toml_free(r);
}
END_TEST

START_TEST(test_comments_and_blank) {
  toml_value *r = parse_ok("");
  ck_assert_int_eq(toml_table_len(r), 0);
  toml_free(r);
  r = parse_ok("# only a comment");
  ck_assert_int_eq(toml_table_len(r), 0);
  toml_free(r);
  r = parse_ok("\n\n  # indented comment\n\t\n   a = 1   # trailing\n[t] # after a header\n"
               "# \xc3\xa9 UTF-8 in a comment\n\tb = 2");
  ck_assert_int_eq(int_at(r, "a"), 1);
  ck_assert_int_eq(line_at(r, "a"), 5);
  ck_assert_int_eq(int_at(r, "t.b"), 2);
  ck_assert_int_eq(line_at(r, "t.b"), 8);
  toml_free(r);
  r = parse_ok("\xef\xbb\xbf"
               "a = 1\n"); /* byte order mark */
  ck_assert_int_eq(int_at(r, "a"), 1);
  toml_free(r);
}
END_TEST

START_TEST(test_crlf) {
  toml_value *r =
      parse_ok("# c\r\n[server]\r\nbind = \"x\"\r\n\r\nlist = [\r\n  1,\r\n  2,\r\n]\r\n"
               "n = 5 # c\r\n");
  ck_assert_str_eq(str_at(r, "server.bind"), "x");
  ck_assert_int_eq(line_at(r, "server.bind"), 3);
  ck_assert_int_eq(toml_array_at(toml_get_path(r, "server.list"), 1)->line, 7);
  ck_assert_int_eq(int_at(r, "server.n"), 5);
  ck_assert_int_eq(line_at(r, "server.n"), 9);
  toml_free(r);
  parse_fails("a = 1\r\nb = 2\r\nb = 3\r\n",
              "t.toml:3: duplicate key \"b\" (first defined at line 2)");
  parse_fails("a = \"x\r\n\"", "t.toml:1: unterminated string");
}
END_TEST

START_TEST(test_accessors) {
  toml_value *r = parse_ok("s = \"x\"\ni = 1\nb = true\nt = {k = 1}\na = [1]\n");
  const char *s;
  int64_t i;
  int b;
  const toml_value *vs = toml_get(r, "s"), *vi = toml_get(r, "i"), *vb = toml_get(r, "b");
  ck_assert_int_eq(toml_int(vs, &i), -1);
  ck_assert_int_eq(toml_bool(vs, &b), -1);
  ck_assert_int_eq(toml_string(vi, &s), -1);
  ck_assert_int_eq(toml_string(vb, &s), -1);
  ck_assert_int_eq(toml_string(NULL, &s), -1);
  ck_assert_ptr_null(toml_get(r, "missing"));
  ck_assert_ptr_null(toml_get(vs, "x")); /* not a table */
  ck_assert_ptr_null(toml_get_path(r, "t.missing"));
  ck_assert_ptr_null(toml_get_path(r, "s.x"));
  ck_assert_ptr_null(toml_get_path(r, "t.k.x"));
  ck_assert_int_eq(toml_table_len(vs), 0);
  ck_assert_ptr_null(toml_table_at(vs, 0));
  ck_assert_int_eq(toml_array_len(r), 0);
  ck_assert_ptr_null(toml_array_at(r, 0));
  ck_assert(!toml_is_table_array(NULL));
  ck_assert_str_eq(toml_type_name(TOML_TABLE), "a table");
  ck_assert_str_eq(toml_type_name(TOML_ARRAY), "an array");
  ck_assert_str_eq(toml_type_name(TOML_STRING), "a string");
  ck_assert_str_eq(toml_type_name(TOML_INT), "an integer");
  ck_assert_str_eq(toml_type_name(TOML_BOOL), "a boolean");
  toml_free(r);
  toml_free(NULL);
}
END_TEST

START_TEST(test_error_buffer) {
  toml_value *root;
  char err[16];
  memset(err, 'x', sizeof err);
  ck_assert_int_eq(toml_parse("t.toml", "a = ", 4, &root, err, sizeof err), -1);
  ck_assert_uint_eq(strlen(err), sizeof err - 1); /* truncated, still terminated */
  ck_assert_int_eq(toml_parse("t.toml", "a = ", 4, &root, NULL, 0), -1);
  char big[128];
  ck_assert_int_eq(toml_parse(NULL, "a = ", 4, &root, big, sizeof big), -1);
  ck_assert_str_eq(big, "<string>:1: expected a value after '=' for key \"a\"");
  ck_assert_int_eq(toml_parse("t.toml", "a = 1", 5, &root, big, sizeof big), 0);
  ck_assert_str_eq(big, "");
  toml_free(root);
  /* len, not the NUL, ends the text */
  ck_assert_int_eq(toml_parse("t.toml", "a = 1\nb = 2", 5, &root, big, sizeof big), 0);
  ck_assert_ptr_null(toml_get(root, "b"));
  toml_free(root);
}
END_TEST

START_TEST(test_embedded_nul) {
  parse_fails_n("a = 1\nb = \"x\0y\"\n", 15, "t.toml:2: control character U+0000 is not allowed");
}
END_TEST

START_TEST(test_nesting_limits) {
  char text[256];
  strcpy(text, "a = ");
  for (int i = 0; i < 40; i++) strcat(text, "[");
  parse_fails(text, "t.toml:1: arrays and inline tables are nested too deeply");
  strcpy(text, "a = ");
  for (int i = 0; i < 20; i++) strcat(text, "[");
  for (int i = 0; i < 20; i++) strcat(text, "]");
  toml_value *r = parse_ok(text);
  toml_free(r);
  strcpy(text, "\n");
  for (int i = 0; i < 40; i++) strcat(text, "k.");
  strcat(text, "k = 1");
  parse_fails(text, "t.toml:2: key has too many parts");
}
END_TEST

/* Each bad document and the start of its message, line number included. */
static const struct {
  const char *text;
  const char *want;
} bad[] = {
    /* key = value syntax */
    {"a = 1\nb \"x\"\n", "t.toml:2: expected '=' after key \"b\", got '\"'"},
    {"\n\nbind\n", "t.toml:3: expected '=' after key \"bind\", got end of line"},
    {"a$ = 1", "t.toml:1: expected '=' after key \"a\", got '$'"},
    {"a.\"b c\" 1", "t.toml:1: expected '=' after key \"a.'b c'\", got '1'"},
    {"= 1", "t.toml:1: expected a key, got '='"},
    {"a. = 1", "t.toml:1: expected a key, got '='"},
    {"a =", "t.toml:1: expected a value after '=' for key \"a\""},
    {"a = # nothing\n", "t.toml:1: expected a value after '=' for key \"a\""},
    {"a = hello", "t.toml:1: expected a value, got \"hello\" (strings need quotes)"},
    {"a = True", "t.toml:1: expected a value, got \"True\" (strings need quotes)"},
    {"a = truex", "t.toml:1: expected a value, got \"truex\" (strings need quotes)"},
    {"a = ]", "t.toml:1: expected a value, got ']'"},
    {"a = 1 2", "t.toml:1: expected a new line after the value, got '2'"},
    {"a = \"x\" y\n", "t.toml:1: expected a new line after the value, got 'y'"},
    {"x = 1\na = true false", "t.toml:2: expected a new line after the value, got 'f'"},
    {"a = 1 \xc3\xa9", "t.toml:1: expected a new line after the value, got '\xc3\xa9'"},
    /* duplicates and redefinitions */
    {"a = 1\na = 2\n", "t.toml:2: duplicate key \"a\" (first defined at line 1)"},
    {"[s]\nx = 1\n\nx = 2\n", "t.toml:4: duplicate key \"x\" (first defined at line 2)"},
    {"a.b = 1\na.b = 2", "t.toml:2: duplicate key \"a.b\" (first defined at line 1)"},
    {"\"a\" = 1\na = 2", "t.toml:2: duplicate key \"a\" (first defined at line 1)"},
    {"a.b = 1\na = 2", "t.toml:2: duplicate key \"a\" (first defined at line 1)"},
    {"t = {a = 1, a = 2}", "t.toml:1: duplicate key \"a\" (first defined at line 1)"},
    {"[a]\n[b]\n[a]\n", "t.toml:3: table [a] is defined twice (first at line 1)"},
    {"[a.b]\n[a]\n[a.b]\n", "t.toml:3: table [a.b] is defined twice (first at line 1)"},
    {"[a]\n[a.b]\n[a]\n", "t.toml:3: table [a] is defined twice (first at line 1)"},
    {"[[a]]\n[a.b]\n[a.b]\n", "t.toml:3: table [a.b] is defined twice (first at line 2)"},
    {"a = 1\n[a]\n", "t.toml:2: cannot define table [a]: key \"a\" is already an integer (line 1)"},
    {"a = 1\n[a.b]\n",
     "t.toml:2: cannot define [a.b]: key \"a\" is an integer (line 1), not a table"},
    {"a = [1]\n[a.b]\n",
     "t.toml:2: cannot define [a.b]: key \"a\" is an array (line 1), not a table"},
    {"[a]\nb = 1\n[a.b.c]\n",
     "t.toml:3: cannot define [a.b.c]: key \"a.b\" is an integer (line 2), not a table"},
    {"a = {b = 1}\n[a]\n",
     "t.toml:2: table [a] cannot be changed: it was defined inline at line 1"},
    {"a = {b = 1}\n[a.c]\n",
     "t.toml:2: cannot define [a.c]: \"a\" is an inline table (line 1), which cannot be extended"},
    {"a = {b = {c = 1}}\n[a.b.d]\n", "t.toml:2: cannot define [a.b.d]: \"a\" is an inline table"},
    {"a = {b = 1}\na.c = 2\n", "t.toml:2: cannot set key \"a.c\": \"a\" is an inline table (line "
                               "1), which cannot be extended"},
    {"a = {b.c = 1}\n[a.b]\n", "t.toml:2: cannot define [a.b]: \"a\" is an inline table (line 1)"},
    {"a = 1\na.b = 2\n",
     "t.toml:2: cannot set key \"a.b\": \"a\" is an integer (line 1), not a table"},
    {"[a]\nb.c = 1\n[a.b]\n", "t.toml:3: table [a.b] was already defined by dotted keys at line 2"},
    {"a.b = 1\n[a]\n", "t.toml:2: table [a] was already defined by dotted keys at line 1"},
    {"[a.b]\nx = 1\n[a]\nb.c = 1\n", "t.toml:4: cannot set key \"b.c\": \"b\" is a table defined "
                                     "by a header at line 1; dotted keys "
                                     "cannot add to it"},
    {"[a.b.c]\n[a]\nb.c.d = 1\n",
     "t.toml:3: cannot set key \"b.c.d\": \"b.c\" is a table defined by a header at line 1"},
    /* arrays of tables */
    {"a = []\n[[a]]\n",
     "t.toml:2: cannot append to [[a]]: key \"a\" is an array defined with '=' at line 1"},
    {"[[a]]\n[a]\n", "t.toml:2: table [a]: \"a\" is an array of tables (line 1); use [[a]]"},
    {"[a]\n[[a]]\n", "t.toml:2: cannot define [[a]]: key \"a\" is already a table (line 1)"},
    {"a = 1\n[[a]]\n", "t.toml:2: cannot define [[a]]: key \"a\" is already an integer (line 1)"},
    /* strings */
    {"a = \"abc\n", "t.toml:1: unterminated string (the closing '\"' is missing)"},
    {"a = \"abc", "t.toml:1: unterminated string (the closing '\"' is missing)"},
    {"\n\na = 'abc\nb = 1", "t.toml:3: unterminated string (the closing \"'\" is missing)"},
    {"a = \"ab\\", "t.toml:1: unterminated string (the closing '\"' is missing)"},
    {"a = \"ab\\\nc\"", "t.toml:1: unterminated string (the closing '\"' is missing)"},
    {"\"a = 1\n", "t.toml:1: unterminated string (the closing '\"' is missing)"},
    {"a = \"\\q\"", "t.toml:1: invalid escape \"\\q\" (use \\\\ for a backslash)"},
    {"x = 1\na = \"C:\\dir\"", "t.toml:2: invalid escape \"\\d\""},
    {"a = \"\\x41\"", "t.toml:1: invalid escape \"\\x\""},
    {"a = \"\\e\"", "t.toml:1: invalid escape \"\\e\""},
    {"a = \"\\ \"", "t.toml:1: invalid escape \"\\ \""},
    {"a = \"\\\xc3\xa9\"", "t.toml:1: invalid escape \"\\\xc3\xa9\""},
    {"a = \"\\u12\"", "t.toml:1: invalid escape \"\\u\": expected 4 hex digits"},
    {"a = \"\\u12", "t.toml:1: invalid escape \"\\u\": expected 4 hex digits"},
    {"a = \"\\uzzzz\"", "t.toml:1: invalid escape \"\\u\": expected 4 hex digits"},
    {"a = \"\\U0000004\"", "t.toml:1: invalid escape \"\\U\": expected 8 hex digits"},
    {"a = \"\\uD800\"", "t.toml:1: invalid escape \"\\uD800\": not a Unicode scalar value"},
    {"a = \"\\uDFFF\"", "t.toml:1: invalid escape \"\\uDFFF\": not a Unicode scalar value"},
    {"a = \"\\U00110000\"", "t.toml:1: invalid escape \"\\U00110000\": not a Unicode scalar value"},
    {"a = \"\\u0000\"", "t.toml:1: \\u escape of U+0000 (NUL) is not supported"},
    {"a = \"\"\"x\"\"\"", "t.toml:1: multi-line strings are not supported"},
    {"a = '''x'''", "t.toml:1: multi-line strings are not supported"},
    /* numbers */
    {"a = 01", "t.toml:1: invalid number \"01\": leading zeros are not allowed"},
    {"a = -007", "t.toml:1: invalid number \"-007\": leading zeros are not allowed"},
    {"a = 1__2", "t.toml:1: invalid number \"1__2\""},
    {"a = 1_", "t.toml:1: invalid number \"1_\""},
    {"a = +_1", "t.toml:1: invalid number \"+_1\""},
    {"a = 0x", "t.toml:1: invalid number \"0x\""},
    {"a = 0x_1", "t.toml:1: invalid number \"0x_1\""},
    {"a = 0xg1", "t.toml:1: invalid number \"0xg1\""},
    {"a = 0b102", "t.toml:1: invalid number \"0b102\""},
    {"a = 0o8", "t.toml:1: invalid number \"0o8\""},
    {"a = 0X10", "t.toml:1: invalid number \"0X10\""},
    {"a = 12abc", "t.toml:1: invalid number \"12abc\""},
    {"a = -", "t.toml:1: invalid number \"-\""},
    {"a = +0x10", "t.toml:1: invalid number \"+0x10\": hexadecimal, octal and binary take no sign"},
    {"a = -0b1", "t.toml:1: invalid number \"-0b1\": hexadecimal, octal and binary take no sign"},
    {"a = 9223372036854775808", "t.toml:1: integer 9223372036854775808 is out of range"},
    {"a = -9223372036854775809", "t.toml:1: integer -9223372036854775809 is out of range"},
    {"a = 99_999_999_999_999_999_999",
     "t.toml:1: integer 99_999_999_999_999_999_999 is out of range"},
    {"a = 0x8000000000000000", "t.toml:1: integer 0x8000000000000000 is out of range"},
    {"a = 0b1"
     "0000000000000000000000000000000000000000000000000000000000000000",
     "t.toml:1: integer 0b1"},
    {"x = [\n1,\n1.5]", "t.toml:3: floats are not supported (use an integer)"},
    {"a = 1e6", "t.toml:1: floats are not supported"},
    {"a = -2E-3", "t.toml:1: floats are not supported"},
    {"a = 3.", "t.toml:1: floats are not supported"},
    {"a = inf", "t.toml:1: floats are not supported"},
    {"a = -inf", "t.toml:1: floats are not supported"},
    {"a = nan", "t.toml:1: floats are not supported"},
    {"a = +nan", "t.toml:1: floats are not supported"},
    {"a = 1979-05-27", "t.toml:1: dates and times are not supported (write them as strings)"},
    {"a = 1979-05-27T07:32:00Z", "t.toml:1: dates and times are not supported"},
    {"a = 1979-05-27 07:32:00", "t.toml:1: dates and times are not supported"},
    {"a = 07:32:00", "t.toml:1: dates and times are not supported"},
    /* text encoding */
    {"a = 1\n# \xff\n", "t.toml:2: invalid UTF-8 (byte 0xff)"},
    {"a = \"\xc3\"", "t.toml:1: invalid UTF-8 (byte 0x22)"},
    {"a = \"\xc0\xaf\"", "t.toml:1: invalid UTF-8 (byte 0xc0)"},
    {"a = \"\xe0\x80\xaf\"", "t.toml:1: invalid UTF-8 (overlong or out-of-range sequence)"},
    {"\n\na = \"\xed\xa0\x80\"", "t.toml:3: invalid UTF-8 (overlong or out-of-range sequence)"},
    {"a = \"\xf4\x90\x80\x80\"", "t.toml:1: invalid UTF-8 (overlong or out-of-range sequence)"},
    {"a = \"\xf5\x80\x80\x80\"", "t.toml:1: invalid UTF-8 (byte 0xf5)"},
    {"a = \"\x80\"", "t.toml:1: invalid UTF-8 (byte 0x80)"},
    {"a = \"\xe2\x82", "t.toml:1: invalid UTF-8 (truncated sequence)"},
    {"a = \"x\x01\"", "t.toml:1: control character U+0001 is not allowed"},
    {"a = 1\n# \x7f", "t.toml:2: control character U+007F is not allowed"},
    {"a = 1\n\n# \x1b[0m", "t.toml:3: control character U+001B is not allowed"},
    {"a = \"\x0c\"", "t.toml:1: control character U+000C is not allowed"},
    {"a = 1\r\nb = 2\rc = 3", "t.toml:2: carriage return not followed by a line feed"},
    {"a = 1\r", "t.toml:1: carriage return not followed by a line feed"},
    /* headers */
    {"[a", "t.toml:1: expected ']' to close the header, got end of file"},
    {"x = 1\n[a\n", "t.toml:2: expected ']' to close the header, got end of line"},
    {"[a b]", "t.toml:1: expected ']' to close the header, got 'b'"},
    {"[]", "t.toml:1: expected a key, got ']'"},
    {"[a.]", "t.toml:1: expected a key, got ']'"},
    {"[a] x", "t.toml:1: expected a new line after the header, got 'x'"},
    {"[a]]", "t.toml:1: expected a new line after the header, got ']'"},
    {"[[a]", "t.toml:1: expected ']]' to close the header, got end of file"},
    {"[[a] ]", "t.toml:1: expected ']]' to close the header, got ' '"},
    {"[ [a]]", "t.toml:1: expected a key, got '['"},
    /* arrays */
    {"a = [1, 2", "t.toml:1: unterminated array (opened at line 1)"},
    {"a = [\n1,\n2\n", "t.toml:4: unterminated array (opened at line 1)"},
    {"a = [1 2]", "t.toml:1: expected ',' or ']' in the array, got '2'"},
    {"a = [1,,2]", "t.toml:1: expected a value, got ','"},
    {"a = [,]", "t.toml:1: expected a value, got ','"},
    {"a = [\n  1,\n  x\n]", "t.toml:3: expected a value, got \"x\" (strings need quotes)"},
    /* inline tables */
    {"a = {b = 1,}", "t.toml:1: trailing comma in an inline table"},
    {"a = {b = 1\n}",
     "t.toml:1: unterminated inline table (an inline table must close on its line)"},
    {"a = {\nb = 1}", "t.toml:1: unterminated inline table"},
    {"a = {b = 1, # c\n}", "t.toml:1: unterminated inline table"},
    {"a = {b = 1", "t.toml:1: unterminated inline table"},
    {"a = {b = 1 c = 2}", "t.toml:1: expected ',' or '}' in the inline table, got 'c'"},
    {"a = {b}", "t.toml:1: expected '=' after key \"b\", got '}'"},
    {"a = {,}", "t.toml:1: expected a key, got ','"},
};

START_TEST(test_errors) { parse_fails(bad[_i].text, bad[_i].want); }
END_TEST

static Suite *toml_suite(void) {
  Suite *s = suite_create("toml");
  TCase *tc = tcase_create("valid");
  tcase_add_test(tc, test_strings);
  tcase_add_test(tc, test_integers);
  tcase_add_test(tc, test_booleans);
  tcase_add_test(tc, test_tables);
  tcase_add_test(tc, test_order);
  tcase_add_test(tc, test_arrays);
  tcase_add_test(tc, test_array_of_tables);
  tcase_add_test(tc, test_inline_tables);
  tcase_add_test(tc, test_comments_and_blank);
  tcase_add_test(tc, test_crlf);
  tcase_add_test(tc, test_accessors);
  suite_add_tcase(s, tc);
  tc = tcase_create("errors");
  tcase_add_test(tc, test_error_buffer);
  tcase_add_test(tc, test_embedded_nul);
  tcase_add_test(tc, test_nesting_limits);
  tcase_add_loop_test(tc, test_errors, 0, (int)(sizeof bad / sizeof bad[0]));
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(toml_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
