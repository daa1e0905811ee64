#include "ws/ws_handshake.h"

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static void base64(const uint8_t *in, size_t len, char *out) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  for (size_t i = 0; i < len; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16;
    if (i + 1 < len) v |= (uint32_t)in[i + 1] << 8;
    if (i + 2 < len) v |= in[i + 2];
    out[o++] = tab[(v >> 18) & 63];
    out[o++] = tab[(v >> 12) & 63];
    out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < len ? tab[v & 63] : '=';
  }
  out[o] = 0;
}

int ws_accept_key(const char *key, char out[29]) {
  char buf[128];
  int n = snprintf(buf, sizeof buf, "%s%s", key, ws_guid);
  if (n < 0 || (size_t)n >= sizeof buf) return -1;
  uint8_t sha[20];
  if (wc_ShaHash((const byte *)buf, (word32)n, sha) != 0) return -1;
  base64(sha, sizeof sha, out);
  return 0;
}

/* Calls fn for each comma-separated token of every header named name; stops when fn returns 1. */
static int each_token(const http_request *req, const char *name, int (*fn)(const char *tok, size_t len, void *arg),
                      void *arg) {
  for (size_t i = 0; i < req->header_count; i++) {
    if (strcasecmp(req->headers[i].name, name) != 0) continue;
    const char *p = req->headers[i].value;
    while (*p) {
      while (*p == ' ' || *p == '\t' || *p == ',') p++;
      const char *start = p;
      while (*p && *p != ',') p++;
      const char *end = p;
      while (end > start && (end[-1] == ' ' || end[-1] == '\t')) end--;
      if (end > start && fn(start, (size_t)(end - start), arg)) return 1;
    }
  }
  return 0;
}

static int is_token(const char *tok, size_t len, void *arg) {
  const char *want = arg;
  return strlen(want) == len && strncasecmp(tok, want, len) == 0;
}

static int is_protocol(const char *tok, size_t len, void *arg) {
  const char *want = arg; /* subprotocols are case-sensitive */
  return strlen(want) == len && memcmp(tok, want, len) == 0;
}

int ws_handshake_is_websocket(const http_request *req) {
  return each_token(req, "Upgrade", is_token, (void *)"websocket");
}

/* A Sec-WebSocket-Key must be the base64 of 16 bytes: 22 characters and "==". */
static int key_valid(const char *key) {
  if (!key || strlen(key) != 24 || key[22] != '=' || key[23] != '=') return 0;
  for (int i = 0; i < 22; i++) {
    char ch = key[i];
    if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' || ch == '/'))
      return 0;
  }
  return 1;
}

static int refuse(ws_handshake *out, int status, const char *reason) {
  out->status = status;
  out->reason = reason;
  return -1;
}

static int has_protocol_header(const http_request *req) {
  for (size_t i = 0; i < req->header_count; i++)
    if (strcasecmp(req->headers[i].name, "Sec-WebSocket-Protocol") == 0) return 1;
  return 0;
}

/* Tries candidate name; on an offer, records it in out and returns 1. */
static int pick(const http_request *req, const char *name, ws_framing framing, const char *alpn, ws_handshake *out) {
  if (strlen(name) >= sizeof out->protocol || !each_token(req, "Sec-WebSocket-Protocol", is_protocol, (void *)name))
    return 0;
  snprintf(out->protocol, sizeof out->protocol, "%s", name);
  out->framing = framing;
  out->alpn = alpn;
  return 1;
}

/* The server's preference order (see the header). Returns 0 when one was chosen (or none was
 * offered), -1 when only unknown ones were. */
static int choose_protocol(const http_request *req, const char *const *alpns, size_t n_alpns, ws_handshake *out) {
  out->protocol[0] = 0;
  out->framing = WS_FRAMING_WEBTRANSPORT;
  out->alpn = NULL;
  if (!has_protocol_header(req)) return 0;
  char name[80];
  for (size_t i = 0; i < n_alpns; i++) {
    snprintf(name, sizeof name, WS_SUBPROTOCOL_QMUX01 ".%s", alpns[i]);
    if (pick(req, name, WS_FRAMING_QMUX01, alpns[i], out)) return 0;
    snprintf(name, sizeof name, WS_SUBPROTOCOL_QMUX00 ".%s", alpns[i]);
    if (pick(req, name, WS_FRAMING_QMUX00, alpns[i], out)) return 0;
  }
  if (pick(req, WS_SUBPROTOCOL_QMUX01, WS_FRAMING_QMUX01, NULL, out) ||
      pick(req, WS_SUBPROTOCOL_QMUX00, WS_FRAMING_QMUX00, NULL, out) ||
      pick(req, WS_SUBPROTOCOL, WS_FRAMING_WEBTRANSPORT, NULL, out))
    return 0;
  return -1;
}

int ws_handshake_check(const http_request *req, const char *const *alpns, size_t n_alpns, ws_handshake *out) {
  memset(out, 0, sizeof *out);
  if (!ws_handshake_is_websocket(req)) return refuse(out, 400, "only \"Upgrade: websocket\" is served here");
  if (strcmp(req->method, "GET") != 0) return refuse(out, 405, "a WebSocket handshake must be a GET");
  if (req->http_major < 1 || (req->http_major == 1 && req->http_minor < 1))
    return refuse(out, 400, "a WebSocket handshake needs HTTP/1.1");
  if (!each_token(req, "Connection", is_token, (void *)"upgrade"))
    return refuse(out, 400, "a WebSocket handshake needs \"Connection: Upgrade\"");
  const char *version = http_request_header(req, "Sec-WebSocket-Version");
  if (!version || strcmp(version, "13") != 0)
    return refuse(out, 426, "unsupported WebSocket version (Sec-WebSocket-Version must be 13)");
  const char *key = http_request_header(req, "Sec-WebSocket-Key");
  if (!key_valid(key)) return refuse(out, 400, "missing or malformed Sec-WebSocket-Key");
  if (choose_protocol(req, alpns, n_alpns, out))
    return refuse(out, 400, "no supported WebSocket subprotocol: offer qmux-01.<moq alpn>, qmux-00.<moq alpn>, "
                            "qmux-01, qmux-00 or webtransport");
  if (ws_accept_key(key, out->accept)) return refuse(out, 400, "cannot compute Sec-WebSocket-Accept");
  out->status = 101;
  return 0;
}

size_t ws_handshake_response(const ws_handshake *h, char *out, size_t outlen) {
  int n = snprintf(out, outlen,
                   "HTTP/1.1 101 Switching Protocols\r\n"
                   "Upgrade: websocket\r\n"
                   "Connection: Upgrade\r\n"
                   "Sec-WebSocket-Accept: %s\r\n"
                   "%s%s%s"
                   "\r\n",
                   h->accept, h->protocol[0] ? "Sec-WebSocket-Protocol: " : "", h->protocol,
                   h->protocol[0] ? "\r\n" : "");
  return n < 0 || (size_t)n >= outlen ? 0 : (size_t)n;
}

void ws_handshake_refusal(const ws_handshake *h, http_response *resp) {
  resp->status = h->status;
  resp->content_type = "text/plain; charset=utf-8";
  size_t n = strlen(h->reason);
  char *body = malloc(n + 1); /* the reason and a newline; the server frees it */
  if (body) {
    memcpy(body, h->reason, n);
    body[n] = '\n';
    resp->body = (const uint8_t *)body;
    resp->body_len = n + 1;
    resp->body_owned = 1;
  } else {
    resp->body = (const uint8_t *)h->reason;
    resp->body_len = n;
  }
  resp->close = 1;
  if (h->status == 426) http_response_add_header(resp, "Sec-WebSocket-Version", "13");
  if (h->status == 405) http_response_add_header(resp, "Allow", "GET");
}
