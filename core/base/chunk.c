#include "base/chunk.h"

#include <stdlib.h>
#include <string.h>

chunk *chunk_new(size_t len) {
  chunk *c = malloc(sizeof *c + len);
  if (!c) return NULL;
  c->refs = 1;
  c->len = len;
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
