/* relay: the moq-relay daemon object. It owns the TLS identity, the QUIC endpoint, the HTTP
 * listener and the sessions, and wires them to each other. */
#ifndef MOQ_RELAY_RELAY_H
#define MOQ_RELAY_RELAY_H

#include <stddef.h>
#include <uv.h>

#include "conf/config.h"
#include "origin/origin.h"
#include "quic/quic.h"
#include "relay/quota.h"
#include "relay/stats.h"
#include "tls/tls.h"

typedef struct relay relay;

/* What a relay needs to be one of several workers (core/worker): each worker is a relay of its own on
 * its own loop and thread, with its own QUIC socket on the shared address, its own origin and its own
 * plugin instances; these are what they share. */
typedef struct relay_worker_spec {
  unsigned index, count;          /* this worker, of count */
  const tls_identity *identity;   /* borrowed: worker 0's certificate (NULL: load or generate one) */
  session_quota *quota;           /* borrowed: the session limits across workers */
  uint64_t hop_id;                /* the relay's hop id (0: draw one) */
  const udp_addr *bind;           /* borrowed: the address worker 0 bound (NULL: the configured one) */
  int http;                       /* run the HTTP (and WebSocket) listener: worker 0 only */
  stats_board *stats;             /* borrowed: every worker's figures for GET /stats (NULL: alone) */
} relay_worker_spec;

/* Creates the relay from cfg (borrowed; must outlive the relay) and starts listening on loop.
 * Returns NULL with a message for the user in err. */
relay *relay_new(uv_loop_t *loop, const relay_config *cfg, char *err, size_t errlen);
/* The same, as a worker (spec borrowed for the call). */
relay *relay_new_worker(uv_loop_t *loop, const relay_config *cfg, const relay_worker_spec *spec, char *err,
                        size_t errlen);
/* The relay's certificate. */
const tls_identity *relay_identity(const relay *r);
/* The relay's hop id. */
uint64_t relay_hop_id(const relay *r);
/* The relay's origin (for the bridge between workers). */
origin *relay_origin(relay *r);
/* The relay's QUIC endpoint (for steering datagrams between workers). */
quic_endpoint *relay_endpoint(relay *r);
/* Sessions open on this relay (this worker). */
size_t relay_session_count(const relay *r);
/* The certificate fingerprint clients pin (lowercase hex SHA-256 of the leaf). */
const char *relay_fingerprint(const relay *r);
/* The bound QUIC port. */
int relay_quic_port(const relay *r);
/* SIGHUP: asks every plugin to reload (Lua scripts are read again). 0, or -1 with a message. */
int relay_reload(relay *r, char *err, size_t errlen);
/* Closes every session gracefully and the listeners; calls done(arg) when everything is released
 * and frees the relay. */
void relay_shutdown(relay *r, void (*done)(void *), void *arg);

#endif
