/* ws_handshake: the server's half of the WebSocket opening handshake (RFC 6455 section 4.2) for a
 * moq session: checks an HTTP/1.1 upgrade request, chooses the subprotocol, and writes either the
 * 101 answer or a refusal that says what was wrong. Pure: no I/O; the only allocation is the
 * refusal's body, which the HTTP server takes (body_owned).
 *
 * The only subprotocol spoken is "webtransport" (see ws_frame.h); a request that does not offer it
 * (including one with no Sec-WebSocket-Protocol at all, which @moq/lite never sends) is refused with
 * 400, a WebSocket version other than 13 with 426. */
#ifndef MOQ_WS_WS_HANDSHAKE_H
#define MOQ_WS_WS_HANDSHAKE_H

#include <stddef.h>

#include "http/http_server.h"

#define WS_SUBPROTOCOL "webtransport"

/* The outcome of ws_handshake_check. */
typedef struct ws_handshake {
  int status;           /* 101 (accepted), or the refusal: 400, 405, 426 */
  const char *reason;   /* static: why it was refused, for the log and the response body */
  const char *protocol; /* static: the chosen subprotocol when accepted */
  char accept[32];      /* owned: the Sec-WebSocket-Accept value when accepted (NUL-terminated) */
} ws_handshake;

/* True when req asks for a WebSocket (an "Upgrade: websocket" request), whether valid or not. */
int ws_handshake_is_websocket(const http_request *req);
/* Checks req and fills *out. Returns 0 when accepted (out->status == 101), -1 when refused. */
int ws_handshake_check(const http_request *req, ws_handshake *out);
/* Writes the 101 Switching Protocols answer for an accepted handshake into out[0..outlen).
 * Returns its length, or 0 if it does not fit. */
size_t ws_handshake_response(const ws_handshake *h, char *out, size_t outlen);
/* Fills resp with the refusal for a refused handshake: status, a text body naming the problem, the
 * header a client needs (Sec-WebSocket-Version for 426), and close. */
void ws_handshake_refusal(const ws_handshake *h, http_response *resp);
/* Computes Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + RFC 6455 GUID)), 28
 * characters and a NUL in out. Returns 0, or -1 if the hash fails. */
int ws_accept_key(const char *key, char out[29]);

#endif
