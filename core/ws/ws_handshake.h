/* ws_handshake: the server's half of the WebSocket opening handshake (RFC 6455 section 4.2) for a
 * moq session: checks an HTTP/1.1 upgrade request, chooses the subprotocol, and writes either the
 * 101 answer or a refusal that says what was wrong. Pure: no I/O; the only allocation is the
 * refusal's body, which the HTTP server takes (body_owned).
 *
 * Subprotocols, in the order the server prefers them (that of the reference relay): for each moq
 * ALPN the caller serves, "qmux-01.<alpn>" then "qmux-00.<alpn>" (QMux with the moq version fixed
 * as by ALPN), then the bare "qmux-01", "qmux-00" (QMux, moq version by the setup exchange) and
 * "webtransport" (the simple framing of ws_frame.h). The first of these the client offers wins. A
 * request with no Sec-WebSocket-Protocol at all is accepted with the "webtransport" framing and no
 * subprotocol in the answer; one that offers only unknown subprotocols is refused with 400, a
 * WebSocket version other than 13 with 426. */
#ifndef MOQ_WS_WS_HANDSHAKE_H
#define MOQ_WS_WS_HANDSHAKE_H

#include <stddef.h>

#include "http/http_server.h"

#define WS_SUBPROTOCOL "webtransport"
#define WS_SUBPROTOCOL_QMUX00 "qmux-00"
#define WS_SUBPROTOCOL_QMUX01 "qmux-01"

/* How the session's frames are encoded. */
typedef enum ws_framing {
  WS_FRAMING_WEBTRANSPORT = 0, /* "webtransport" (or no subprotocol): ws_frame.h, one frame a message */
  WS_FRAMING_QMUX00,           /* QMux draft-00 (qmux/qmux_frame.h), one frame a message */
  WS_FRAMING_QMUX01,           /* QMux draft-01: one message = one record of frames */
} ws_framing;

/* The outcome of ws_handshake_check. */
typedef struct ws_handshake {
  int status;           /* 101 (accepted), or the refusal: 400, 405, 426 */
  const char *reason;   /* static: why it was refused, for the log and the response body */
  char protocol[64];    /* the chosen subprotocol when accepted; "" when the client offered none */
  ws_framing framing;   /* the framing the chosen subprotocol means */
  const char *alpn;     /* borrowed from the caller's list: the moq ALPN of "qmux-0N.<alpn>", else NULL */
  char accept[32];      /* owned: the Sec-WebSocket-Accept value when accepted (NUL-terminated) */
} ws_handshake;

/* True when req asks for a WebSocket (an "Upgrade: websocket" request), whether valid or not. */
int ws_handshake_is_websocket(const http_request *req);
/* Checks req and fills *out, choosing the subprotocol among "qmux-0N.<alpn>" for alpns[0..n_alpns)
 * (borrowed; the caller's preference order) and the bare ones. Returns 0 when accepted
 * (out->status == 101), -1 when refused. */
int ws_handshake_check(const http_request *req, const char *const *alpns, size_t n_alpns, ws_handshake *out);
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
