/* origin: the relay's broadcasts by path, and for each track the single upstream subscription and
 * the cache of its groups, shared by every downstream subscriber.
 *
 * A broadcast is published by a source (a session, or a local producer in moq-cli) and consumed by
 * sinks. The first sink of a track makes the origin ask the source to subscribe upstream; the last
 * one leaving cancels it. Frames are kept as references to chunks: every sink writes the same bytes
 * (no copy per subscriber). The latest group of a track is always kept; older ones until they are
 * older than the cache duration or the track's bytes exceed its budget.
 *
 * Paths are global and normalised (no leading or trailing '/', no '//'). Single-threaded. */
#ifndef MOQ_ORIGIN_ORIGIN_H
#define MOQ_ORIGIN_ORIGIN_H

#include <stddef.h>
#include <stdint.h>

#include "base/chunk.h"

typedef struct origin origin;
typedef struct broadcast broadcast;
typedef struct track track;
typedef struct group group;
typedef struct track_sink track_sink;
typedef struct origin_watch origin_watch;

/* Cache budget. */
typedef struct origin_limits {
  uint64_t cache_ms;          /* keep non-latest groups this long after they began (default 30000) */
  size_t cache_track_bytes;   /* payload bytes cached per track, latest group excepted (default 32 MiB) */
  uint64_t cache_total_bytes; /* the same over all tracks (default 1 GiB): the track being written gives
                                 up its oldest groups first */
  size_t max_group_frames;    /* frames per group before it is cut off (default 65536) */
  size_t max_group_bytes;     /* payload bytes per group before it is cut off (default 64 MiB) */
} origin_limits;

/* One frame: a payload and the headers every version needs, encoded once for all subscribers. */
typedef struct frame {
  chunk *payload;   /* owned reference */
  uint64_t ts;      /* absolute timestamp in the track's timescale (0 when the publisher sends none) */
  chunk *hdr;       /* owned reference: hdr->data[0, hdr_a) is the lite-01..04 header, [hdr_a, hdr_a+hdr_b)
                       the lite-05 header (timestamp delta from the previous frame of the group) */
  uint8_t hdr_a, hdr_b;
} frame;

struct group {
  uint64_t seq;
  track *track;       /* borrowed; NULL once the track is gone */
  frame *frames;      /* owned array */
  size_t n_frames, cap_frames;
  size_t bytes;       /* payload bytes */
  uint64_t began_ms;  /* loop time when it began */
  int done;           /* no more frames: finished by the publisher or aborted */
  int aborted;        /* reset or cut off: incomplete */
  uint32_t refs;      /* the cache's and each sink's */
  group *newer, *older; /* the track's cache list, newest first (while cached) */
  int cached;
  /* The group-stream header a subscriber's session last encoded for this group (owned reference, or
   * NULL), for the next subscribers of the same version and subscribe id (usually all of them) to
   * share: opaque here, set and read by core/moq on the group's worker. */
  chunk *stream_hdr;
  unsigned stream_hdr_version;
  uint64_t stream_hdr_sub;
};

/* What publishes a broadcast: the origin asks it for tracks. */
typedef struct broadcast_source {
  /* Start the one upstream subscription of t; feed it with track_group_begin and friends. Return 0, or
   * negative when the track cannot be had (the track ends at once). */
  int (*subscribe)(void *user_data, track *t);
  /* Stop it: nobody downstream wants t any more. t is freed after this returns. */
  void (*unsubscribe)(void *user_data, track *t);
  /* Optional: a newer publisher of the same path replaced this broadcast, which is now gone. */
  void (*replaced)(void *user_data);
  void *user_data;
  int via_cluster;  /* learned from another relay of the cluster: never forwarded to a cluster peer */
  int worker_local; /* published by something each worker runs for itself (a plugin's markers, remote
                       broadcasts and links): never bridged to the other workers (core/worker) */
} broadcast_source;

/* What consumes a track. Callbacks may call track_unsubscribe on their own sink. */
typedef struct track_sink_ops {
  /* A group began (at subscribe time: the latest group, with its frames following through on_frame). */
  void (*on_group)(void *user_data, group *g);
  /* Frame `index` of g is complete. */
  void (*on_frame)(void *user_data, group *g, size_t index);
  /* g has no more frames (g->aborted tells whether it is complete). */
  void (*on_group_done)(void *user_data, group *g);
  /* The track ended: code 0 = cleanly, else an error code (moq-lite codes). Frames stop. */
  void (*on_track_done)(void *user_data, uint64_t code);
} track_sink_ops;

/* A sink's link to a track; owned by the consumer, which must call track_unsubscribe. */
struct track_sink {
  const track_sink_ops *ops; /* borrowed */
  void *user_data;
  track *track;              /* set by track_subscribe */
  track_sink *next, *prev;
};

/* Announcement watcher callback: broadcast b (borrowed for the call) under the watched prefix became
 * active or is ending. */
typedef void (*origin_watch_cb)(void *user_data, const broadcast *b, int active);

/* Fills l with the defaults. */
void origin_limits_default(origin_limits *l);
/* Creates an empty origin; now_ms (borrowed, may be NULL for a clock from libuv-free monotonic time)
 * gives the time in milliseconds. */
origin *origin_new(const origin_limits *limits, uint64_t (*now_ms)(void *), void *clock_data);
/* Frees the origin; every broadcast must have been unpublished. */
void origin_free(origin *o);
/* Number of broadcasts. */
size_t origin_count(const origin *o);

/* Publishes path from src (copied). An older broadcast at the same path is replaced: its tracks end
 * and watchers see it end before the new one starts. hops (copied, may be NULL) is the hop chain.
 * Returns the broadcast, or NULL on allocation failure. */
broadcast *origin_publish(origin *o, const char *path, const uint64_t *hops, size_t n_hops,
                          const broadcast_source *src);
/* Ends a broadcast: its tracks end with code (sinks are told), watchers are told, and b is freed. */
void origin_unpublish(origin *o, broadcast *b, uint64_t code);
/* The broadcast at path (normalised), or NULL. */
broadcast *origin_find(const origin *o, const char *path);
/* Calls fn for every broadcast under prefix (segment-aware, "" = all), as an active announcement. */
void origin_each(const origin *o, const char *prefix, origin_watch_cb fn, void *user_data);
/* Watches announcements under prefix; with replay, fn first sees every current broadcast. */
origin_watch *origin_watch_new(origin *o, const char *prefix, int replay, origin_watch_cb fn, void *user_data);
/* Stops a watcher (safe inside its own callback). */
void origin_watch_free(origin_watch *w);

/* A broadcast's global path. */
const char *broadcast_path(const broadcast *b);
/* A broadcast's hop chain. */
const uint64_t *broadcast_hops(const broadcast *b, size_t *n);
/* The source that published b. */
const broadcast_source *broadcast_get_source(const broadcast *b);

/* Subscribes sink to track `name` of b (creating the track, and the upstream subscription when it is
 * the first sink). The sink sees the latest group at once if there is one. Returns 0 or -1. */
int track_subscribe(broadcast *b, const char *name, track_sink *sink);
/* Removes a sink; the last one cancels the upstream subscription and frees the track. */
void track_unsubscribe(track_sink *sink);
/* The track's name. */
const char *track_name(const track *t);
/* The broadcast of a track (NULL once unpublished). */
broadcast *track_broadcast(const track *t);
/* The latest group, or NULL. */
group *track_latest(const track *t);
/* The cached group with this sequence, or NULL. */
group *track_find_group(const track *t, uint64_t seq);
/* Opaque slot for the source (e.g. its subscription state). */
void track_set_source_data(track *t, void *data);
void *track_source_data(const track *t);

/* Source side: a group begins. Returns it with a reference for the source, which group_finish
 * releases; NULL when the sequence is already cached, too old to matter, or memory is short. */
group *track_group_begin(track *t, uint64_t seq);
/* Source side: appends a complete frame to g (takes a reference to payload). 0, or -1 when the group
 * is done (cut off for being over its limits, or dropped from the cache): stop feeding it, but still
 * call group_finish. */
int group_frame_append(group *g, chunk *payload, uint64_t ts);
/* Source side: no more frames in g (aborted when the publisher reset it); releases the source's
 * reference. */
void group_finish(group *g, int aborted);
/* Source side: the track ended upstream (code 0 = cleanly). Sinks are told; the track stays until they
 * leave. */
void track_finish(track *t, uint64_t code);

/* Sink side: keep g alive while sending it. */
group *group_ref(group *g);
/* Sink side: done with g. */
void group_unref(group *g);

#endif
