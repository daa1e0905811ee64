/* ws_binding: runs a moq session over a WebSocket session (ws_conn), the transport adapter for the
 * WebSocket fallback, as quic_binding is for raw QUIC. */
#ifndef MOQ_WS_WS_BINDING_H
#define MOQ_WS_WS_BINDING_H

#include "moq/session.h"
#include "ws/ws_conn.h"

typedef struct moq_ws_binding moq_ws_binding;

struct moq_ws_binding {
  ws_conn *conn;        /* borrowed: until closed */
  moq_session *session; /* set by ready(); freed by the binding when the WebSocket session closes */
  /* The WebSocket session is open: create the session (moq_session_new with moq_ws_transport) and
   * store it in b->session; the binding starts it. */
  void (*ready)(moq_ws_binding *b);
  /* The WebSocket session is gone (the moq session, if any, was freed just before). */
  void (*closed)(moq_ws_binding *b, const ws_close_info *info);
  void *owner;
};

/* The handler to give ws_conn_accept, with the binding as user data. */
extern const ws_conn_handler moq_ws_handler;

/* Fills tr to drive WebSocket session c. */
void moq_ws_transport(moq_transport *tr, ws_conn *c);

#endif
