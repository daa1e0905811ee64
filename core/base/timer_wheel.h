/* timer_wheel: deadlines in whole milliseconds a short span ahead, one list per millisecond. Setting,
 * moving and cancelling one is O(1); the earliest is found through a bitmap of the lists in use.
 * Meant for the many short deadlines of QUIC connections (pacing, ACK delay, loss detection) that
 * move at every flush, where a heap costs a removal and an insertion each time; a deadline beyond
 * the span belongs in a heap (timer_wheel_fits). One owner, one thread. */
#ifndef MOQ_BASE_TIMER_WHEEL_H
#define MOQ_BASE_TIMER_WHEEL_H

#include <stddef.h>
#include <stdint.h>

#define TIMER_WHEEL_SPAN 256 /* milliseconds ahead of the wheel's base; a multiple of 64 */

/* A deadline, embedded in its owner's object (zero-initialised: not set). */
typedef struct timer_wheel_entry {
  struct timer_wheel_entry *next, *prev; /* borrowed: the list of its millisecond */
  uint64_t due;                          /* the deadline (ms), while set */
  uint16_t list;                         /* its list: due's slot, or TIMER_WHEEL_SPAN while firing */
  uint8_t set;                           /* on a list of the wheel */
} timer_wheel_entry;

typedef struct timer_wheel {
  timer_wheel_entry *lists[TIMER_WHEEL_SPAN + 1]; /* borrowed entries; the last: being fired */
  timer_wheel_entry *firing_tail;                 /* borrowed: the last of lists[TIMER_WHEEL_SPAN] */
  uint64_t used[TIMER_WHEEL_SPAN / 64];           /* bit i: lists[i] is not empty */
  uint64_t base;  /* ms: no entry is due before it; deadlines fit up to base + SPAN - 1 */
  size_t count;   /* entries set, the ones being fired included */
} timer_wheel;

/* An empty wheel whose base is now (ms). */
void timer_wheel_init(timer_wheel *w, uint64_t now);
/* True if a deadline at due (ms) can be set on w (before base + TIMER_WHEEL_SPAN). When w is empty
 * its base moves to now first, so that any deadline under a span from now fits. */
int timer_wheel_fits(timer_wheel *w, uint64_t due, uint64_t now);
/* Sets e (set or not) to fire at due, which must fit; a due before base fires at the next expiry. */
void timer_wheel_set(timer_wheel *w, timer_wheel_entry *e, uint64_t due);
/* Cancels e; nothing if it is not set (also when it is the entry being fired). */
void timer_wheel_cancel(timer_wheel *w, timer_wheel_entry *e);
/* The earliest deadline set (ms; base when one is overdue), or UINT64_MAX when w is empty. */
uint64_t timer_wheel_next(const timer_wheel *w);
/* Fires every entry due at or before now, each once, earliest millisecond first: the entry is unset,
 * then fire(e, user_data) runs. fire may set, move or cancel any entry, free any entry's owner once
 * the entry is cancelled (its own too), and set new deadlines; one set at or before now fires at the
 * next expiry, not in this one. The base becomes now. Returns the entries fired. */
size_t timer_wheel_expire(timer_wheel *w, uint64_t now, void (*fire)(timer_wheel_entry *e, void *user_data),
                          void *user_data);

#endif
