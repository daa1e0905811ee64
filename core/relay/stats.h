/* stats: the figures GET /stats reports, summed over every worker of the relay.
 *
 * Worker 0 answers HTTP, but sessions live on every worker. Each other worker publishes its figures
 * into its own slot of a stats_board every STATS_PUBLISH_MS (one writer per slot, relaxed atomic
 * stores, no lock); worker 0 adds its own figures, taken at the request, to the others' last
 * publication. So the other workers' part of a reply is at most STATS_PUBLISH_MS old. */
#ifndef MOQ_RELAY_STATS_H
#define MOQ_RELAY_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "base/delay_hist.h"

#define STATS_PUBLISH_MS 250

/* X(name) for each figure, in the order GET /stats prints them. */
#define RELAY_STATS_FIELDS(X) \
  X(sessions) X(admitted) X(streams) X(subscriptions) X(consumes) \
  X(datagrams_sent) X(datagrams_received) X(acks_held) X(pacing_idle) X(pacing_now)

typedef struct relay_stats {
#define RELAY_STATS_FIELD(name) uint64_t name;
  RELAY_STATS_FIELDS(RELAY_STATS_FIELD)
#undef RELAY_STATS_FIELD
  delay_hist egress_delay; /* the QUIC endpoint's, bucket by bucket */
} relay_stats;

/* One worker's last publication, on a cache line of its own. */
typedef struct stats_slot {
#define RELAY_STATS_FIELD(name) _Atomic uint64_t name;
  RELAY_STATS_FIELDS(RELAY_STATS_FIELD)
#undef RELAY_STATS_FIELD
  _Atomic uint64_t egress_delay[DELAY_HIST_BUCKETS];
} __attribute__((aligned(64))) stats_slot;

typedef struct stats_board {
  unsigned n;        /* workers */
  stats_slot *slots; /* owned: n slots, all zero until published */
} stats_board;

/* 0, or -1 when out of memory. */
int stats_board_init(stats_board *b, unsigned n);
void stats_board_destroy(stats_board *b);
/* Worker `worker` (its own thread) publishes s. */
void stats_board_publish(stats_board *b, unsigned worker, const relay_stats *s);
/* Adds every slot except `except`'s to *sum (any thread). */
void stats_board_add_others(const stats_board *b, unsigned except, relay_stats *sum);

#endif
