/* wt_binding: runs a moq session over a WebTransport session (wt_session), the transport adapter for
 * WebTransport over HTTP/3, as quic_binding is for raw QUIC and ws_binding for the WebSocket
 * fallback. */
#ifndef MOQ_H3_WT_BINDING_H
#define MOQ_H3_WT_BINDING_H

#include "h3/wt_session.h"
#include "moq/session.h"

typedef struct moq_wt_binding moq_wt_binding;

struct moq_wt_binding {
  wt_session *conn;      /* borrowed: until closed */
  moq_session *session;  /* set by ready(); freed by the binding when the WebTransport session ends */
  /* Server: a CONNECT arrived; answer with wt_session_accept (the protocol chosen from
   * req->protocols) or wt_session_refuse. Without it every request is accepted with no protocol. */
  void (*request)(moq_wt_binding *b, const wt_request *req);
  /* The session is established: create the moq session (moq_session_new with moq_wt_transport) and
   * store it in b->session; the binding starts it. */
  void (*ready)(moq_wt_binding *b);
  /* The WebTransport session is gone (the moq session, if any, was freed just before). */
  void (*closed)(moq_wt_binding *b, const wt_close_info *info);
  void *owner;
};

/* The handler to give wt_session_server / wt_session_client, with the binding as user data. */
extern const wt_handler moq_wt_handler;

/* Fills tr to drive WebTransport session s. */
void moq_wt_transport(moq_transport *tr, wt_session *s);
/* The moq protocol name for a negotiated WebTransport protocol: the protocol itself, or "moql" (the
 * setup exchange) when none was chosen. */
const char *moq_wt_alpn(const wt_session *s);

#endif
