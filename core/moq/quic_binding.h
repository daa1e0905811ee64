/* quic_binding: runs a moq session over a raw QUIC connection (the transport adapter for raw QUIC;
 * WebTransport and WebSocket get their own). */
#ifndef MOQ_MOQ_QUIC_BINDING_H
#define MOQ_MOQ_QUIC_BINDING_H

#include "moq/session.h"
#include "quic/quic.h"

typedef struct moq_quic_binding moq_quic_binding;

struct moq_quic_binding {
  quic_conn *conn;         /* borrowed: until closed */
  moq_session *session;    /* set by ready(); freed by the binding when the connection closes */
  /* The handshake completed: create the session (moq_session_new with moq_quic_transport) and store
   * it in b->session; the binding starts it. */
  void (*ready)(moq_quic_binding *b);
  /* The connection is gone (the session, if any, was freed just before). */
  void (*closed)(moq_quic_binding *b, const quic_close_info *info);
  void *owner;
};

/* The handler to give quic_conn_set_handler / quic_endpoint_connect, with the binding as user data. */
extern const quic_conn_handler moq_quic_handler;

/* Fills tr to drive connection c. */
void moq_quic_transport(moq_transport *tr, quic_conn *c);

#endif
