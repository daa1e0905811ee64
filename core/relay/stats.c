#include "relay/stats.h"

#include <stdlib.h>

int stats_board_init(stats_board *b, unsigned n) {
  b->n = 0;
  b->slots = aligned_alloc(64, (size_t)(n ? n : 1) * sizeof *b->slots);
  if (!b->slots) return -1;
  b->n = n;
  for (unsigned k = 0; k < n; k++) {
#define RELAY_STATS_FIELD(name) atomic_init(&b->slots[k].name, 0);
    RELAY_STATS_FIELDS(RELAY_STATS_FIELD)
#undef RELAY_STATS_FIELD
    for (unsigned i = 0; i < DELAY_HIST_BUCKETS; i++) atomic_init(&b->slots[k].egress_delay[i], 0);
  }
  return 0;
}

void stats_board_destroy(stats_board *b) {
  free(b->slots);
  b->slots = NULL;
  b->n = 0;
}

void stats_board_publish(stats_board *b, unsigned worker, const relay_stats *s) {
  if (worker >= b->n) return;
  stats_slot *slot = &b->slots[worker];
#define RELAY_STATS_FIELD(name) atomic_store_explicit(&slot->name, s->name, memory_order_relaxed);
  RELAY_STATS_FIELDS(RELAY_STATS_FIELD)
#undef RELAY_STATS_FIELD
  for (unsigned i = 0; i < DELAY_HIST_BUCKETS; i++)
    atomic_store_explicit(&slot->egress_delay[i], s->egress_delay.n[i], memory_order_relaxed);
}

void stats_board_add_others(const stats_board *b, unsigned except, relay_stats *sum) {
  for (unsigned k = 0; k < b->n; k++) {
    if (k == except) continue;
    const stats_slot *slot = &b->slots[k];
#define RELAY_STATS_FIELD(name) sum->name += atomic_load_explicit(&slot->name, memory_order_relaxed);
    RELAY_STATS_FIELDS(RELAY_STATS_FIELD)
#undef RELAY_STATS_FIELD
    for (unsigned i = 0; i < DELAY_HIST_BUCKETS; i++)
      sum->egress_delay.n[i] += atomic_load_explicit(&slot->egress_delay[i], memory_order_relaxed);
  }
}
