#include "base/chunk.h"

#include <stdlib.h>
#include <string.h>

chunk *chunk_new(size_t len) {
  chunk *c = malloc(sizeof *c + len);
  if (!c) return NULL;
  c->refs = 1;
  c->len = len;
  c->ready_ns = 0;
  return c;
}

chunk *chunk_from(const void *data, size_t len) {
  chunk *c = chunk_new(len);
  if (c && len) memcpy(c->data, data, len);
  return c;
}

/* Atomic counts: with several workers a frame's chunk is shared by the sessions of more than one
 * thread (core/worker/bridge.c). Taking a reference needs no ordering; the last release must see
 * every other thread's use of the bytes before it frees them. */
chunk *chunk_ref(chunk *c) {
  __atomic_fetch_add(&c->refs, 1, __ATOMIC_RELAXED);
  return c;
}

void chunk_unref(chunk *c) {
  if (c && __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0) free(c);
}

static chunk_seg *seg_take(chunk_queue *q) {
  for (unsigned i = 0; i < CHUNK_QUEUE_OWN; i++)
    if (!(q->own_used & 1u << i)) {
      q->own_used |= 1u << i;
      return &q->own[i];
    }
  return malloc(sizeof(chunk_seg));
}

static void seg_release(chunk_queue *q, chunk_seg *g) {
  chunk_unref(g->data);
  if (g >= q->own && g < q->own + CHUNK_QUEUE_OWN) q->own_used &= ~(1u << (unsigned)(g - q->own));
  else free(g);
}

int chunk_queue_push(chunk_queue *q, chunk *data, size_t off, size_t len) {
  chunk_seg *g = seg_take(q);
  if (!g) return -1;
  g->next = NULL;
  g->data = chunk_ref(data);
  g->off = off;
  g->len = len;
  if (q->tail) q->tail->next = g;
  else q->head = g;
  q->tail = g;
  q->len += len;
  return 0;
}

void chunk_queue_drop(chunk_queue *q, size_t n) {
  if (n > q->len) n = q->len;
  q->len -= n;
  while (n && q->head) {
    chunk_seg *g = q->head;
    if (g->len > n) { /* partly released */
      g->off += n;
      g->len -= n;
      return;
    }
    n -= g->len;
    q->head = g->next;
    if (!q->head) q->tail = NULL;
    seg_release(q, g);
  }
}

void chunk_queue_clear(chunk_queue *q) {
  for (chunk_seg *g = q->head, *n; g; g = n) {
    n = g->next;
    seg_release(q, g);
  }
  q->head = q->tail = NULL;
  q->len = 0;
}
