/* relay: the moq-relay daemon object. It owns the TLS identity, the QUIC endpoint, the HTTP
 * listener and the sessions, and wires them to each other. */
#ifndef MOQ_RELAY_RELAY_H
#define MOQ_RELAY_RELAY_H

#include <stddef.h>
#include <uv.h>

#include "conf/config.h"

typedef struct relay relay;

/* Creates the relay from cfg (borrowed; must outlive the relay) and starts listening on loop.
 * Returns NULL with a message for the user in err. */
relay *relay_new(uv_loop_t *loop, const relay_config *cfg, char *err, size_t errlen);
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
