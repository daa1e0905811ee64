/* delay_hist: counts of durations in microseconds, on buckets a quarter of an octave wide (below
 * 4 us one per microsecond; then [4, 5), [5, 6), [6, 7), [7, 8), [8, 10), [10, 12), ...), so that a
 * percentile read from it is at most 25 % above the true value. Adding is O(1)
 * with no allocation; two histograms add or subtract bucket by bucket (the counts of a window are
 * the difference of two readings). One owner; a reader on another thread takes a copy. */
#ifndef MOQ_BASE_DELAY_HIST_H
#define MOQ_BASE_DELAY_HIST_H

#include <stddef.h>
#include <stdint.h>

#define DELAY_HIST_BUCKETS 100 /* the last one holds everything from 7 << 23 us (58.7 s) up */

typedef struct delay_hist {
  uint64_t n[DELAY_HIST_BUCKETS]; /* zero-initialised: empty */
} delay_hist;

/* The bucket of a duration of us microseconds. */
unsigned delay_hist_bucket(uint64_t us);
/* The smallest duration (us) bucket i holds; the bucket holds [lower(i), lower(i + 1)). */
uint64_t delay_hist_lower(unsigned i);
/* Counts one duration. */
static inline void delay_hist_add(delay_hist *h, uint64_t us) { h->n[delay_hist_bucket(us)]++; }
/* The number of durations counted. */
uint64_t delay_hist_count(const delay_hist *h);
/* The p-th percentile (0 < p <= 100, nearest rank), as the exclusive upper bound of its bucket
 * (lower(i + 1)), so never below the true value; 0 when h is empty. */
uint64_t delay_hist_pct(const delay_hist *h, double p);

#endif
