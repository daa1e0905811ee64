/* moq-token: makes keys and tokens for moq-relay, compatible with moq-dev's moq-token and
 * @moq/token. See moq-token(1). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "jwt/jwt_auth.h"

#define EXIT_USAGE 2

static void usage(FILE *out) {
  fprintf(out,
          "Usage:\n"
          "  moq-token generate [--algorithm ALG] [--id KID] --out PRIVATE.jwk [--public PUBLIC.jwk]\n"
          "  moq-token sign --key KEY.jwk [--root PATH] [--publish PREFIX]... [--subscribe PREFIX]...\n"
          "                 [--cluster] [--expires UNIX] [--issued UNIX]\n"
          "  moq-token verify --key KEY.jwk [--in FILE]\n"
          "\n"
          "ALG: HS256 (default), HS384, HS512, ES256, ES384, EdDSA, RS256, RS384, RS512, PS256, PS384, PS512.\n"
          "sign prints the token; verify reads it from FILE or standard input and prints its claims.\n");
}

/* Writes text + newline to path with mode (the file is replaced). 0 or -1 with a message. */
static int write_file(const char *path, const char *text, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    fprintf(stderr, "moq-token: %s: cannot create: %s\n", path, strerror(errno));
    return -1;
  }
  fchmod(fd, mode); /* an existing file keeps its mode otherwise */
  size_t n = strlen(text);
  int ok = write(fd, text, n) == (ssize_t)n && write(fd, "\n", 1) == 1;
  if (close(fd) != 0) ok = 0;
  if (!ok) fprintf(stderr, "moq-token: %s: cannot write: %s\n", path, strerror(errno));
  return ok ? 0 : -1;
}

static int parse_time(const char *s, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || end == s || v < 0) return -1;
  *out = v;
  return 0;
}

static int cmd_generate(int argc, char **argv) {
  const char *alg = "HS256", *kid = NULL, *out = NULL, *pub = NULL;
  static const struct option opts[] = {{"algorithm", required_argument, NULL, 'a'}, {"id", required_argument, NULL, 'i'},
                                       {"out", required_argument, NULL, 'o'}, {"public", required_argument, NULL, 'p'},
                                       {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (c == 'a') alg = optarg;
    else if (c == 'i') kid = optarg;
    else if (c == 'o') out = optarg;
    else if (c == 'p') pub = optarg;
    else return EXIT_USAGE;
  }
  if (!out || optind != argc) {
    fprintf(stderr, "moq-token generate: --out FILE is required\n");
    return EXIT_USAGE;
  }
  char *priv_json, *pub_json, err[300];
  if (jwt_generate(alg, kid, &priv_json, &pub_json, err, sizeof err)) {
    fprintf(stderr, "moq-token: %s\n", err);
    return EXIT_USAGE;
  }
  int rv = write_file(out, priv_json, 0600);
  if (rv == 0 && pub) {
    if (pub_json) {
      rv = write_file(pub, pub_json, 0644);
    } else {
      fprintf(stderr, "moq-token: %s is a shared secret: there is no public key to write to %s\n", alg, pub);
      rv = -1;
    }
  }
  free(priv_json);
  free(pub_json);
  return rv ? 1 : 0;
}

static int cmd_sign(int argc, char **argv) {
  const char *keyfile = NULL;
  jwt_claims cl;
  memset(&cl, 0, sizeof cl);
  char *root = NULL;
  static const struct option opts[] = {
      {"key", required_argument, NULL, 'k'},       {"root", required_argument, NULL, 'r'},
      {"publish", required_argument, NULL, 'p'},   {"subscribe", required_argument, NULL, 's'},
      {"cluster", no_argument, NULL, 'c'},         {"expires", required_argument, NULL, 'e'},
      {"issued", required_argument, NULL, 'i'},    {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'k': keyfile = optarg; break;
    case 'r': root = optarg; break;
    case 'p':
      if (cl.n_put == JWT_MAX_GRANTS) return EXIT_USAGE;
      cl.put[cl.n_put++] = optarg;
      break;
    case 's':
      if (cl.n_get == JWT_MAX_GRANTS) return EXIT_USAGE;
      cl.get[cl.n_get++] = optarg;
      break;
    case 'c': cl.cluster = 1; break;
    case 'e':
    case 'i':
      if (parse_time(optarg, c == 'e' ? &cl.exp : &cl.iat)) {
        fprintf(stderr, "moq-token sign: --%s: expected unix seconds, got \"%s\"\n", c == 'e' ? "expires" : "issued",
                optarg);
        return EXIT_USAGE;
      }
      break;
    default: return EXIT_USAGE;
    }
  }
  if (!keyfile || optind != argc) {
    fprintf(stderr, "moq-token sign: --key FILE is required\n");
    return EXIT_USAGE;
  }
  if (!cl.n_put && !cl.n_get) {
    fprintf(stderr, "moq-token sign: give --publish and/or --subscribe (a token must grant something)\n");
    return EXIT_USAGE;
  }
  if (!cl.iat) cl.iat = (int64_t)time(NULL);
  cl.root = root;
  char err[300];
  jwt_key *k = jwt_key_load(keyfile, err, sizeof err);
  if (!k) {
    fprintf(stderr, "moq-token: %s\n", err);
    return 1;
  }
  char *token = jwt_sign(k, &cl, err, sizeof err);
  jwt_key_free(k);
  if (!token) {
    fprintf(stderr, "moq-token: %s\n", err);
    return 1;
  }
  printf("%s\n", token);
  free(token);
  return 0;
}

static int cmd_verify(int argc, char **argv) {
  const char *keyfile = NULL, *in = NULL;
  static const struct option opts[] = {
      {"key", required_argument, NULL, 'k'}, {"in", required_argument, NULL, 'n'}, {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (c == 'k') keyfile = optarg;
    else if (c == 'n') in = optarg;
    else return EXIT_USAGE;
  }
  if (!keyfile || optind != argc) {
    fprintf(stderr, "moq-token verify: --key FILE is required\n");
    return EXIT_USAGE;
  }
  FILE *f = in ? fopen(in, "r") : stdin;
  if (!f) {
    fprintf(stderr, "moq-token: %s: cannot open: %s\n", in, strerror(errno));
    return 1;
  }
  char buf[16385];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  if (in) fclose(f);
  buf[n] = 0;
  while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) buf[--n] = 0;
  char err[300];
  jwt_key *k = jwt_key_load(keyfile, err, sizeof err);
  if (!k) {
    fprintf(stderr, "moq-token: %s\n", err);
    return 1;
  }
  jwt_claims cl;
  int rv = jwt_verify(k, buf, (int64_t)time(NULL), &cl, err, sizeof err);
  jwt_key_free(k);
  if (rv) {
    fprintf(stderr, "moq-token: invalid token: %s\n", err);
    return 1;
  }
  printf("%s\n", cl.json);
  jwt_claims_free(&cl);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))) {
    usage(stdout);
    return 0;
  }
  if (argc >= 2 && !strcmp(argv[1], "--version")) {
    printf("moq-token %s\n", PACKAGE_VERSION);
    return 0;
  }
  if (argc < 2) {
    usage(stderr);
    return EXIT_USAGE;
  }
  opterr = 1;
  if (!strcmp(argv[1], "generate")) return cmd_generate(argc - 1, argv + 1);
  if (!strcmp(argv[1], "sign")) return cmd_sign(argc - 1, argv + 1);
  if (!strcmp(argv[1], "verify")) return cmd_verify(argc - 1, argv + 1);
  fprintf(stderr, "moq-token: unknown command \"%s\"\n", argv[1]);
  usage(stderr);
  return EXIT_USAGE;
}
