/* links: the relay's outbound sessions to other relays, offered to plugins by the hook API
 * (core->link_open, core->remote_publish, core->marker_publish).
 *
 * A link is a moq-lite-05 client session on the relay's own QUIC endpoint to a relay URL (its path
 * and query, e.g. ?jwt=TOKEN&register=NODE, go in the SETUP path). Both ends treat it as a cluster
 * peer: each serves the other only broadcasts that did not come from the cluster (one hop). With
 * `consume`, the peer's announcements are imported into the origin.
 *
 * A remote broadcast is published into the origin at once but fetched from its relay only when a
 * track of it is wanted: over a link opened on demand, shared per URL, and closed once nothing has
 * flowed over it for the linger time.
 *
 * A marker is an empty broadcast (no tracks): a name others see in announcements. */
#ifndef MOQ_RELAY_LINKS_H
#define MOQ_RELAY_LINKS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "origin/origin.h"
#include "quic/quic.h"

typedef struct links links;
typedef struct rlink rlink;
typedef struct remote remote;
typedef struct marker marker;

/* A link came up (up = 1) or went down for good (up = 0, with a reason). After a down the link is
 * dead: free it with link_close (also allowed inside this callback). */
typedef void (*link_state_fn)(void *arg, rlink *l, int up, const char *reason);

typedef struct links_config {
  uv_loop_t *loop;      /* borrowed */
  quic_endpoint *ep;    /* borrowed: links dial from the relay's own socket */
  tls_ctx *tls;         /* borrowed: client TLS (verification, mTLS identity) */
  origin *o;            /* borrowed */
  uint64_t hop_id;
  uint64_t linger_ms;   /* idle on-demand links close after this */
  int shared;           /* a worker of several in a cluster: remote broadcasts and what links import
                           are shared with the other workers (core/worker bridges them); else they
                           are this worker's */
} links_config;

links *links_new(const links_config *cfg);
/* Closes every link and marker and unpublishes remote broadcasts; frees ls once the connections
 * are released (the QUIC endpoint closes them at shutdown). */
void links_free(links *ls);

/* Dials url (moql://, https:// or HOST:PORT; the scheme only chooses the default port, the
 * transport is raw QUIC). Returns the link (connecting), or NULL with err. */
rlink *link_open(links *ls, const char *url, int consume, link_state_fn fn, void *arg, char *err, size_t errlen);
/* Closes (if still open) and frees the link; fn is not called again. */
void link_close(rlink *l);
int link_is_up(const rlink *l);

/* Publishes path (global) into the origin, its tracks fetched from the relay at url. NULL on error. */
remote *remote_publish(links *ls, const char *path, const char *url);
void remote_unpublish(remote *r);
/* The same, for a route decision: it unpublishes itself once no track of it has been wanted for
 * the linger time. Returns the existing one if path is already such a remote. Never shared with other
 * workers (each routes for its own sessions). */
remote *remote_publish_routed(links *ls, const char *path, const char *url);

/* Publishes an empty broadcast at path. shared: seen by the other workers too (as links_config's
 * shared). NULL on error (or a path already published). */
marker *marker_publish(origin *o, const char *path, int shared);
void marker_unpublish(marker *m);

/* Writes a JSON array describing the links into buf (truncated to len, NUL-terminated). Returns the
 * length it needed. */
size_t links_json(const links *ls, char *buf, size_t len);

#endif
