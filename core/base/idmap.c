#include "base/idmap.h"

#include <stdlib.h>

static size_t slot_of(uint64_t key, size_t cap) {
  key ^= key >> 33;
  key *= 0xff51afd7ed558ccdULL;
  key ^= key >> 33;
  return (size_t)key & (cap - 1);
}

void idmap_init(idmap *m) {
  m->slots = NULL;
  m->cap = m->used = m->filled = 0;
}

void idmap_free(idmap *m) {
  free(m->slots);
  idmap_init(m);
}

static idmap_slot *find(const idmap *m, uint64_t key) {
  if (!m->cap) return NULL;
  size_t mask = m->cap - 1;
  for (size_t i = slot_of(key, m->cap), n = 0; n < m->cap; i = (i + 1) & mask, n++) {
    idmap_slot *s = &m->slots[i];
    if (!s->value && !s->tombstone) return NULL;
    if (s->value && s->key == key) return s;
  }
  return NULL;
}

void *idmap_get(const idmap *m, uint64_t key) {
  idmap_slot *s = find(m, key);
  return s ? s->value : NULL;
}

static int resize(idmap *m, size_t cap) {
  idmap old = *m;
  m->slots = calloc(cap, sizeof *m->slots);
  if (!m->slots) {
    *m = old;
    return -1;
  }
  m->cap = cap;
  m->used = m->filled = 0;
  for (size_t i = 0; i < old.cap; i++)
    if (old.slots[i].value) idmap_put(m, old.slots[i].key, old.slots[i].value);
  free(old.slots);
  return 0;
}

int idmap_put(idmap *m, uint64_t key, void *value) {
  if (!value) return -1;
  idmap_slot *s = find(m, key);
  if (s) {
    s->value = value;
    return 0;
  }
  if ((m->filled + 1) * 4 > m->cap * 3) {
    size_t cap = m->cap ? m->cap : 8;
    while ((m->used + 1) * 2 > cap) cap *= 2;
    if (resize(m, cap < 8 ? 8 : cap)) return -1;
  }
  size_t mask = m->cap - 1;
  for (size_t i = slot_of(key, m->cap);; i = (i + 1) & mask) {
    s = &m->slots[i];
    if (!s->value) {
      if (!s->tombstone) m->filled++;
      s->tombstone = 0;
      s->key = key;
      s->value = value;
      m->used++;
      return 0;
    }
  }
}

void *idmap_del(idmap *m, uint64_t key) {
  idmap_slot *s = find(m, key);
  if (!s) return NULL;
  void *v = s->value;
  s->value = NULL;
  s->tombstone = 1;
  m->used--;
  return v;
}

size_t idmap_size(const idmap *m) { return m->used; }

int idmap_next(const idmap *m, size_t *pos, uint64_t *key, void **value) {
  for (; *pos < m->cap; (*pos)++) {
    if (m->slots[*pos].value) {
      *key = m->slots[*pos].key;
      *value = m->slots[*pos].value;
      (*pos)++;
      return 1;
    }
  }
  return 0;
}
