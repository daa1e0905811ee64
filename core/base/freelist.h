/* freelist: a bounded stack of freed objects of one size, kept by their owner (a connection, a
 * session) for the objects it makes and frees at the pace of its traffic: a stream, its state and
 * its group's state per group and subscriber, on the fan-out path. Reusing them saves a calloc and
 * a free each. One owner, one thread; objects taken from one list go back to the same list. */
#ifndef MOQ_BASE_FREELIST_H
#define MOQ_BASE_FREELIST_H

#include <stddef.h>

typedef struct freelist {
  void *head;   /* owned: the kept objects, each linked through its first pointer-sized bytes */
  unsigned n;   /* objects kept */
} freelist;

/* Objects a list keeps at most: a connection's streams in flight at 60 groups a second. */
#define FREELIST_KEEP 4

/* A zeroed object of size bytes (at least sizeof(void *)): a kept one, or a new one. NULL when out of
 * memory. Zero-initialised f is an empty list. */
void *freelist_get(freelist *f, size_t size);
/* Gives back p (NULL is ignored), which was taken from f: kept for the next freelist_get, or freed
 * when FREELIST_KEEP are kept. */
void freelist_put(freelist *f, void *p);
/* Frees every kept object; f is empty and reusable. */
void freelist_clear(freelist *f);

#endif
