/* source_log: a fake track source for the unit tests of the origin and of the workers' bridge: it
 * counts the upstream subscriptions the origin asks of it and remembers the last track asked for. */
#ifndef MOQ_TESTS_UNIT_SOURCE_LOG_H
#define MOQ_TESTS_UNIT_SOURCE_LOG_H

#include "origin/origin.h"

typedef struct source_log {
  int subscribes, unsubscribes, replaced;
  track *last;
} source_log;

static int src_sub(void *ud, track *t) {
  source_log *l = ud;
  l->subscribes++;
  l->last = t;
  return 0;
}
static void src_unsub(void *ud, track *t) {
  source_log *l = ud;
  l->unsubscribes++;
  if (l->last == t) l->last = NULL;
}
static void src_replaced(void *ud) { ((source_log *)ud)->replaced++; }

#endif
