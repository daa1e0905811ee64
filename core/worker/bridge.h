/* bridge: one worker's side of the origin that all workers share.
 *
 * Each worker thread has its own origin (core/origin is single-threaded) and its bridge makes the
 * other workers' broadcasts appear in it:
 * - every broadcast published here (by a session; not the worker_local ones a plugin publishes on
 *   every worker for itself) is announced to the other workers, which publish a stand-in for it;
 * - the first subscriber of a track of a stand-in makes the bridge subscribe once to that track on the
 *   owning worker: one sink there per (track, subscribing worker), however many subscribers here;
 * - the owning worker's sink hands each group and frame across as a reference to the same payload
 *   chunk (atomic reference count, no copy), and the stand-in track here caches it like any
 *   other: this worker's subscribers are served from its own cache, without a lock.
 * Messages go through the workers' mailboxes and carry values and chunk references only, never a
 * pointer into another worker's state, so either side may go away first.
 *
 * A newer publisher of a path replaces an older one on every worker, as with one worker. Two
 * publishers of one path on two workers at the same instant may replace each other (both end). */
#ifndef MOQ_WORKER_BRIDGE_H
#define MOQ_WORKER_BRIDGE_H

#include <stddef.h>

#include "origin/origin.h"
#include "worker/mailbox.h"

typedef struct bridge bridge;

/* Creates worker `index`'s bridge on origin o (borrowed). boxes (borrowed, count entries) are every
 * worker's mailbox, in index order. NULL when out of memory. */
bridge *bridge_new(origin *o, unsigned index, unsigned count, mailbox *const *boxes);
/* True for a message meant for the bridge (the worker passes those to bridge_receive). */
int bridge_is_mail(const mail *m);
/* Handles a message from another worker's bridge (takes ownership of m). On the owner's thread. */
void bridge_receive(bridge *br, mail *m);
/* Broadcasts of other workers published here now, and tracks of this worker fed to others. */
size_t bridge_imported(const bridge *br);
size_t bridge_exported_tracks(const bridge *br);
/* Shutdown, on the owner's thread: stops announcing, unpublishes the stand-ins and stops feeding the
 * other workers. Messages received afterwards are discarded. */
void bridge_close(bridge *br);
/* Frees the bridge once its origin is gone (after its worker's loop has ended). */
void bridge_free(bridge *br);

#endif
