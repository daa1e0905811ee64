#include "base/idmap.h"

#include <stdlib.h>

/* Linear probing at a load of at most one half (counting tombstones), so that a lookup touches one
 * or two slots. A deletion leaves a tombstone only when a probe chain runs through the slot: when the
 * next slot is empty, the slot and the tombstones just before it become empty again. Nothing ever
 * moves on a deletion, so deleting the current key while iterating is safe. */

static const char tombstone_mark; /* never written: its address marks a tombstone */
#define TOMBSTONE ((void *)&tombstone_mark)

static size_t slot_of(uint64_t key, size_t cap) {
  key ^= key >> 33;
  key *= 0xff51afd7ed558ccdULL;
  key ^= key >> 33;
  return (size_t)key & (cap - 1);
}

static int live(const idmap_slot *s) { return s->value && s->value != TOMBSTONE; }

void idmap_init(idmap *m) {
  m->slots = NULL;
  m->cap = m->used = m->filled = 0;
}

void idmap_free(idmap *m) {
  free(m->slots);
  idmap_init(m);
}

static idmap_slot *find(const idmap *m, uint64_t key) {
  if (!m->used) return NULL;
  size_t mask = m->cap - 1;
  for (size_t i = slot_of(key, m->cap);; i = (i + 1) & mask) { /* ends: at least half the slots are empty */
    idmap_slot *s = &m->slots[i];
    if (!s->value) return NULL;
    if (s->key == key && s->value != TOMBSTONE) return s;
  }
}

void *idmap_get(const idmap *m, uint64_t key) {
  idmap_slot *s = find(m, key);
  return s ? s->value : NULL;
}

static void insert_new(idmap *m, uint64_t key, void *value) {
  size_t mask = m->cap - 1;
  for (size_t i = slot_of(key, m->cap);; i = (i + 1) & mask) {
    idmap_slot *s = &m->slots[i];
    if (!live(s)) {
      if (!s->value) m->filled++;
      s->key = key;
      s->value = value;
      m->used++;
      return;
    }
  }
}

static int resize(idmap *m, size_t cap) {
  idmap_slot *slots = calloc(cap, sizeof *slots);
  if (!slots) return -1;
  idmap old = *m;
  m->slots = slots;
  m->cap = cap;
  m->used = m->filled = 0;
  for (size_t i = 0; i < old.cap; i++)
    if (live(&old.slots[i])) insert_new(m, old.slots[i].key, old.slots[i].value);
  free(old.slots);
  return 0;
}

int idmap_put(idmap *m, uint64_t key, void *value) {
  if (!value || value == TOMBSTONE) return -1;
  idmap_slot *s = find(m, key);
  if (s) {
    s->value = value;
    return 0;
  }
  if ((m->filled + 1) * 2 > m->cap) {
    size_t cap = 8;
    while ((m->used + 1) * 4 > cap) cap *= 2; /* room to grow to half full again */
    if (resize(m, cap)) return -1;
  }
  insert_new(m, key, value);
  return 0;
}

void *idmap_del(idmap *m, uint64_t key) {
  idmap_slot *s = find(m, key);
  if (!s) return NULL;
  void *v = s->value;
  m->used--;
  size_t mask = m->cap - 1, i = (size_t)(s - m->slots);
  if (m->slots[(i + 1) & mask].value) {
    s->value = TOMBSTONE; /* a probe chain goes on past this slot */
    return v;
  }
  /* The chain ends here: this slot and the tombstones before it are free again. */
  do {
    m->slots[i].value = NULL;
    m->filled--;
    i = (i - 1) & mask;
  } while (m->slots[i].value == TOMBSTONE);
  return v;
}

size_t idmap_size(const idmap *m) { return m->used; }

int idmap_next(const idmap *m, size_t *pos, uint64_t *key, void **value) {
  for (; *pos < m->cap; (*pos)++) {
    if (live(&m->slots[*pos])) {
      *key = m->slots[*pos].key;
      *value = m->slots[*pos].value;
      (*pos)++;
      return 1;
    }
  }
  return 0;
}
