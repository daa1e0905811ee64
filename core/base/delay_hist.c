#include "base/delay_hist.h"

/* Below 4 us one bucket per microsecond; from 2^e (e >= 2) on, four buckets per octave, each
 * 2^(e-2) wide: bucket 4(e-1) + the two bits after the leading one. */
unsigned delay_hist_bucket(uint64_t us) {
  if (us < 4) return (unsigned)us;
  unsigned e = 63u - (unsigned)__builtin_clzll(us);
  unsigned i = 4 * (e - 1) + (unsigned)((us >> (e - 2)) & 3);
  return i < DELAY_HIST_BUCKETS ? i : DELAY_HIST_BUCKETS - 1;
}

uint64_t delay_hist_lower(unsigned i) {
  if (i < 4) return i;
  unsigned e = i / 4 + 1;
  return (uint64_t)(4 + i % 4) << (e - 2);
}

uint64_t delay_hist_count(const delay_hist *h) {
  uint64_t n = 0;
  for (unsigned i = 0; i < DELAY_HIST_BUCKETS; i++) n += h->n[i];
  return n;
}

uint64_t delay_hist_pct(const delay_hist *h, double p) {
  uint64_t total = delay_hist_count(h);
  if (!total) return 0;
  double r = p * (double)total / 100.0;
  uint64_t rank = (uint64_t)r;
  if (r - (double)rank > 1e-9) rank++; /* nearest rank: the smallest that covers p % of the counts */
  if (rank < 1) rank = 1;
  if (rank > total) rank = total;
  uint64_t seen = 0;
  for (unsigned i = 0; i < DELAY_HIST_BUCKETS; i++) {
    seen += h->n[i];
    if (seen >= rank) return delay_hist_lower(i + 1);
  }
  return delay_hist_lower(DELAY_HIST_BUCKETS);
}
