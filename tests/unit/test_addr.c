/* Unit tests for base/addr: HOST:PORT parsing (IPv4, bracketed IPv6, host names), the error
 * messages, and formatting back. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "base/addr.h"

static struct sockaddr_in parse_v4(const char *text) {
  struct sockaddr_storage ss;
  socklen_t len = 0;
  char err[256] = "unset";
  ck_assert_msg(addr_parse(text, &ss, &len, err, sizeof err) == 0, "%s: %s", text, err);
  ck_assert_str_eq(err, "");
  ck_assert_int_eq(ss.ss_family, AF_INET);
  ck_assert_int_eq(len, sizeof(struct sockaddr_in));
  struct sockaddr_in sin;
  memcpy(&sin, &ss, sizeof sin);
  return sin;
}

static struct sockaddr_in6 parse_v6(const char *text) {
  struct sockaddr_storage ss;
  socklen_t len = 0;
  char err[256];
  ck_assert_msg(addr_parse(text, &ss, &len, err, sizeof err) == 0, "%s: %s", text, err);
  ck_assert_int_eq(ss.ss_family, AF_INET6);
  ck_assert_int_eq(len, sizeof(struct sockaddr_in6));
  struct sockaddr_in6 sin6;
  memcpy(&sin6, &ss, sizeof sin6);
  return sin6;
}

START_TEST(test_ipv4) {
  struct sockaddr_in a = parse_v4("127.0.0.1:4443");
  ck_assert_uint_eq(ntohs(a.sin_port), 4443);
  ck_assert_uint_eq(ntohl(a.sin_addr.s_addr), 0x7f000001);
  a = parse_v4("0.0.0.0:80");
  ck_assert_uint_eq(ntohs(a.sin_port), 80);
  ck_assert_uint_eq(a.sin_addr.s_addr, htonl(INADDR_ANY));
  a = parse_v4("192.168.1.254:65535");
  ck_assert_uint_eq(ntohs(a.sin_port), 65535);
  ck_assert_uint_eq(ntohl(a.sin_addr.s_addr), 0xc0a801fe);
  a = parse_v4("10.0.0.1:0"); /* port 0: any */
  ck_assert_uint_eq(ntohs(a.sin_port), 0);
  a = parse_v4("10.0.0.1:00443"); /* leading zeros in the port are harmless */
  ck_assert_uint_eq(ntohs(a.sin_port), 443);
}
END_TEST

START_TEST(test_ipv6) {
  struct sockaddr_in6 a = parse_v6("[::]:4443");
  ck_assert_uint_eq(ntohs(a.sin6_port), 4443);
  ck_assert(memcmp(&a.sin6_addr, &in6addr_any, sizeof a.sin6_addr) == 0);
  a = parse_v6("[::1]:443");
  ck_assert_uint_eq(ntohs(a.sin6_port), 443);
  ck_assert(memcmp(&a.sin6_addr, &in6addr_loopback, sizeof a.sin6_addr) == 0);
  a = parse_v6("[2001:db8::42]:0");
  ck_assert_uint_eq(ntohs(a.sin6_port), 0);
  ck_assert_uint_eq(a.sin6_addr.s6_addr[0], 0x20);
  ck_assert_uint_eq(a.sin6_addr.s6_addr[1], 0x01);
  ck_assert_uint_eq(a.sin6_addr.s6_addr[15], 0x42);
  a = parse_v6("[::ffff:1.2.3.4]:80");
  ck_assert(IN6_IS_ADDR_V4MAPPED(&a.sin6_addr));
  ck_assert_uint_eq(a.sin6_addr.s6_addr[15], 4);
}
END_TEST

START_TEST(test_hostname) {
  struct sockaddr_storage ss;
  socklen_t len = 0;
  char err[256];
  ck_assert_msg(addr_parse("localhost:4443", &ss, &len, err, sizeof err) == 0, "%s", err);
  if (ss.ss_family == AF_INET) {
    struct sockaddr_in sin;
    memcpy(&sin, &ss, sizeof sin);
    ck_assert_int_eq(len, sizeof sin);
    ck_assert_uint_eq(ntohs(sin.sin_port), 4443);
    ck_assert_uint_eq(ntohl(sin.sin_addr.s_addr) >> 24, 127);
  } else {
    struct sockaddr_in6 sin6;
    ck_assert_int_eq(ss.ss_family, AF_INET6);
    memcpy(&sin6, &ss, sizeof sin6);
    ck_assert_int_eq(len, sizeof sin6);
    ck_assert_uint_eq(ntohs(sin6.sin6_port), 4443);
    ck_assert(IN6_IS_ADDR_LOOPBACK(&sin6.sin6_addr));
  }
  /* outlen may be NULL */
  ck_assert_int_eq(addr_parse("localhost:1", &ss, NULL, err, sizeof err), 0);
}
END_TEST

/* Each bad address and the start of its message. */
static const struct {
  const char *text;
  const char *want;
} bad[] = {
    {"", "expected HOST:PORT, got \"\""},
    {"4443", "expected HOST:PORT, got \"4443\""},
    {"127.0.0.1", "expected HOST:PORT, got \"127.0.0.1\""},
    {"localhost", "expected HOST:PORT, got \"localhost\""},
    {":4443", "expected HOST:PORT, got \":4443\" (the host is missing)"},
    {"127.0.0.1:", "expected HOST:PORT, got \"127.0.0.1:\" (the port is missing)"},
    {"127.0.0.1:65536", "port out of range (0 to 65535) in \"127.0.0.1:65536\""},
    {"127.0.0.1:99999999999999999999999", "port out of range (0 to 65535)"},
    {"127.0.0.1:-1", "expected HOST:PORT with a numeric port, got \"127.0.0.1:-1\""},
    {"127.0.0.1:http", "expected HOST:PORT with a numeric port, got \"127.0.0.1:http\""},
    {"127.0.0.1:44 3", "expected HOST:PORT with a numeric port"},
    {"127.0.0.1:+443", "expected HOST:PORT with a numeric port"},
    {"::1:443",
     "expected HOST:PORT, got \"::1:443\" (write IPv6 addresses in brackets: [::1]:4443)"},
    {"::", "expected HOST:PORT, got \"::\" (write IPv6 addresses in brackets"},
    {"[::1]443", "expected [IPV6]:PORT, got \"[::1]443\""},
    {"[::1]", "expected [IPV6]:PORT, got \"[::1]\""},
    {"[::1", "expected [IPV6]:PORT, got \"[::1\""},
    {"[]:443", "expected HOST:PORT, got \"[]:443\" (the host is missing)"},
    {"[::1]:", "expected HOST:PORT, got \"[::1]:\" (the port is missing)"},
    {"[::1]:70000", "port out of range"},
    {"[127.0.0.1]:443", "expected an IPv6 address inside [...], got \"127.0.0.1\""},
    {"[localhost]:443", "expected an IPv6 address inside [...], got \"localhost\""},
    {"[::g]:443", "expected an IPv6 address inside [...], got \"::g\""},
    {"1.2.3:80", "invalid IPv4 address \"1.2.3\""},
    {"256.1.1.1:80", "invalid IPv4 address \"256.1.1.1\""},
    {"1.2.3.4.5:80", "invalid IPv4 address \"1.2.3.4.5\""},
    {"no such:80", "invalid host name \"no such\""},
    {"a/b:80", "invalid host name \"a/b\""},
    {"nosuch.invalid:80", "unknown host \"nosuch.invalid\""},
};

START_TEST(test_errors) {
  struct sockaddr_storage ss;
  socklen_t len = 12345;
  char err[256] = "";
  ck_assert_int_eq(addr_parse(bad[_i].text, &ss, &len, err, sizeof err), -1);
  ck_assert_msg(strncmp(err, bad[_i].want, strlen(bad[_i].want)) == 0,
                "\"%s\": got \"%s\", want \"%s...\"", bad[_i].text, err, bad[_i].want);
  ck_assert_int_eq(len, 12345); /* untouched on failure */
}
END_TEST

START_TEST(test_error_edges) {
  struct sockaddr_storage ss;
  char err[256], host[400];
  memset(host, 'a', 300);
  strcpy(host + 300, ":80");
  ck_assert_int_eq(addr_parse(host, &ss, NULL, err, sizeof err), -1);
  ck_assert_msg(strncmp(err, "host name too long", 18) == 0, "%s", err);
  ck_assert_int_eq(addr_parse(NULL, &ss, NULL, err, sizeof err), -1);
  ck_assert_str_eq(err, "expected HOST:PORT, got \"\"");
  ck_assert_int_eq(addr_parse("bad", &ss, NULL, NULL, 0), -1); /* no message buffer */
  char small[8];
  ck_assert_int_eq(addr_parse("bad", &ss, NULL, small, sizeof small), -1);
  ck_assert_str_eq(small, "expecte");
}
END_TEST

static void format_is(const char *text, const char *want) {
  struct sockaddr_storage ss;
  char err[256], out[ADDR_FORMAT_MAX];
  ck_assert_msg(addr_parse(text, &ss, NULL, err, sizeof err) == 0, "%s: %s", text, err);
  ck_assert_int_eq(addr_format((struct sockaddr *)&ss, out, sizeof out), 0);
  ck_assert_str_eq(out, want);
}

START_TEST(test_format) {
  format_is("127.0.0.1:4443", "127.0.0.1:4443");
  format_is("0.0.0.0:0", "0.0.0.0:0");
  format_is("[::1]:4443", "[::1]:4443");
  format_is("[::]:65535", "[::]:65535");
  format_is("[2001:DB8:0:0::42]:443", "[2001:db8::42]:443");
  format_is("[::ffff:1.2.3.4]:80", "[::ffff:1.2.3.4]:80");
  format_is("[fe80::1%lo]:443", "[fe80::1%lo]:443"); /* link-local with a scope */

  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons(8080);
  sin.sin_addr.s_addr = htonl(0x0a000001);
  char out[ADDR_FORMAT_MAX];
  ck_assert_int_eq(addr_format((struct sockaddr *)&sin, out, sizeof out), 0);
  ck_assert_str_eq(out, "10.0.0.1:8080");
  /* Too small: fails and leaves an empty string. */
  char small[8] = "junk";
  ck_assert_int_eq(addr_format((struct sockaddr *)&sin, small, sizeof small), -1);
  ck_assert_str_eq(small, "");
  char exact[14]; /* "10.0.0.1:8080" + NUL */
  ck_assert_int_eq(addr_format((struct sockaddr *)&sin, exact, sizeof exact), 0);
  ck_assert_str_eq(exact, "10.0.0.1:8080");
  /* Unknown family. */
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  ss.ss_family = AF_UNIX;
  strcpy(out, "junk");
  ck_assert_int_eq(addr_format((struct sockaddr *)&ss, out, sizeof out), -1);
  ck_assert_str_eq(out, "");
  ck_assert_int_eq(addr_format(NULL, out, sizeof out), -1);
  ck_assert_int_eq(addr_format((struct sockaddr *)&sin, NULL, 0), -1);
}
END_TEST

static Suite *addr_suite(void) {
  Suite *s = suite_create("addr");
  TCase *tc = tcase_create("parse");
  tcase_add_test(tc, test_ipv4);
  tcase_add_test(tc, test_ipv6);
  tcase_add_test(tc, test_hostname);
  tcase_add_loop_test(tc, test_errors, 0, (int)(sizeof bad / sizeof bad[0]));
  tcase_add_test(tc, test_error_edges);
  suite_add_tcase(s, tc);
  tc = tcase_create("format");
  tcase_add_test(tc, test_format);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(addr_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
