#include "base/timer_wheel.h"

#include <string.h>

#define FIRING TIMER_WHEEL_SPAN

void timer_wheel_init(timer_wheel *w, uint64_t now) {
  memset(w, 0, sizeof *w);
  w->base = now;
}

int timer_wheel_fits(timer_wheel *w, uint64_t due, uint64_t now) {
  if (w->count == 0 && now > w->base) w->base = now;
  return due < w->base + TIMER_WHEEL_SPAN;
}

static void list_push(timer_wheel *w, timer_wheel_entry *e, unsigned list) {
  e->list = (uint16_t)list;
  if (list == FIRING) { /* appended: the order of their milliseconds */
    e->next = NULL;
    e->prev = w->firing_tail;
    if (e->prev) e->prev->next = e;
    else w->lists[FIRING] = e;
    w->firing_tail = e;
    return;
  }
  e->prev = NULL;
  e->next = w->lists[list];
  if (e->next) e->next->prev = e;
  w->lists[list] = e;
  w->used[list / 64] |= (uint64_t)1 << (list % 64);
}

static void list_unlink(timer_wheel *w, timer_wheel_entry *e) {
  if (e->prev) e->prev->next = e->next;
  else w->lists[e->list] = e->next;
  if (e->next) e->next->prev = e->prev;
  else if (e->list == FIRING) w->firing_tail = e->prev;
  if (e->list < FIRING && !w->lists[e->list]) w->used[e->list / 64] &= ~((uint64_t)1 << (e->list % 64));
  e->next = e->prev = NULL;
}

void timer_wheel_cancel(timer_wheel *w, timer_wheel_entry *e) {
  if (!e->set) return;
  list_unlink(w, e);
  e->set = 0;
  w->count--;
}

void timer_wheel_set(timer_wheel *w, timer_wheel_entry *e, uint64_t due) {
  if (due < w->base) due = w->base;
  if (e->set) {
    if (e->due == due && e->list != FIRING) return;
    list_unlink(w, e);
  } else {
    e->set = 1;
    w->count++;
  }
  e->due = due;
  list_push(w, e, (unsigned)(due % TIMER_WHEEL_SPAN));
}

/* The first list in use at or after slot `from`, going round once; TIMER_WHEEL_SPAN if none. */
static unsigned next_used(const timer_wheel *w, unsigned from) {
  for (unsigned k = 0; k <= TIMER_WHEEL_SPAN / 64; k++) {
    unsigned word = (from / 64 + k) % (TIMER_WHEEL_SPAN / 64);
    uint64_t bits = w->used[word];
    if (k == 0) bits &= ~(uint64_t)0 << (from % 64);
    else if (k == TIMER_WHEEL_SPAN / 64) bits &= ((uint64_t)1 << (from % 64)) - 1; /* the start word's rest */
    if (bits) return word * 64 + (unsigned)__builtin_ctzll(bits);
  }
  return TIMER_WHEEL_SPAN;
}

uint64_t timer_wheel_next(const timer_wheel *w) {
  unsigned from = (unsigned)(w->base % TIMER_WHEEL_SPAN);
  unsigned i = next_used(w, from);
  if (i == TIMER_WHEEL_SPAN) return w->lists[FIRING] ? w->base : UINT64_MAX;
  return w->base + (i + TIMER_WHEEL_SPAN - from) % TIMER_WHEEL_SPAN;
}

size_t timer_wheel_expire(timer_wheel *w, uint64_t now, void (*fire)(timer_wheel_entry *e, void *user_data),
                          void *user_data) {
  if (now < w->base) return 0;
  /* Everything due moves to the firing list first: a deadline set by fire must not land in a list
   * still to be read. Then the base moves, and fire's deadlines fit a span from now. */
  uint64_t last = now - w->base >= TIMER_WHEEL_SPAN ? w->base + TIMER_WHEEL_SPAN - 1 : now;
  for (uint64_t t = w->base; t <= last;) {
    unsigned from = (unsigned)(t % TIMER_WHEEL_SPAN);
    unsigned i = next_used(w, from);
    if (i == TIMER_WHEEL_SPAN) break;
    uint64_t due = t + (i + TIMER_WHEEL_SPAN - from) % TIMER_WHEEL_SPAN; /* lists before t are empty */
    if (due > last) break;
    while (w->lists[i]) {
      timer_wheel_entry *e = w->lists[i];
      list_unlink(w, e);
      list_push(w, e, FIRING);
    }
    t = due + 1;
  }
  w->base = now;
  size_t fired = 0;
  while (w->lists[FIRING]) {
    timer_wheel_entry *e = w->lists[FIRING];
    list_unlink(w, e);
    e->set = 0;
    w->count--;
    fired++;
    fire(e, user_data);
  }
  return fired;
}
