#include "base/freelist.h"

#include <stdlib.h>
#include <string.h>

void *freelist_get(freelist *f, size_t size) {
  void *p = f->head;
  if (!p) return calloc(1, size);
  memcpy(&f->head, p, sizeof f->head); /* the next kept object */
  f->n--;
  memset(p, 0, size);
  return p;
}

void freelist_put(freelist *f, void *p) {
  if (!p) return;
  if (f->n >= FREELIST_KEEP) {
    free(p);
    return;
  }
  memcpy(p, &f->head, sizeof f->head);
  f->head = p;
  f->n++;
}

void freelist_clear(freelist *f) {
  while (f->head) {
    void *p = f->head;
    memcpy(&f->head, p, sizeof f->head);
    free(p);
  }
  f->n = 0;
}
