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

chunk *chunk_ref(chunk *c) {
  c->refs++;
  return c;
}

void chunk_unref(chunk *c) {
  if (c && --c->refs == 0) free(c);
}
