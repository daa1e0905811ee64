#include "quic/cid_map.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static uint64_t hash_cid(uint64_t seed, const uint8_t *id, size_t len) {
  /* FNV-1a over a random seed: peers choose the bytes, the seed keeps them from choosing collisions. */
  uint64_t h = 0xcbf29ce484222325ULL ^ seed;
  for (size_t i = 0; i < len; i++) {
    h ^= id[i];
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 29;
  return h;
}

int cid_map_init(cid_map *m) {
  memset(m, 0, sizeof *m);
  m->cap = 64;
  m->slots = calloc(m->cap, sizeof *m->slots);
  if (!m->slots) return -1;
  if (getrandom(&m->seed, sizeof m->seed, 0) != sizeof m->seed) m->seed = (uint64_t)(uintptr_t)m;
  return 0;
}

void cid_map_free(cid_map *m) {
  free(m->slots);
  m->slots = NULL;
  m->cap = m->used = m->filled = 0;
}

static cid_map_slot *find(const cid_map *m, const uint8_t *id, size_t len) {
  size_t mask = m->cap - 1;
  for (size_t i = hash_cid(m->seed, id, len) & mask, n = 0; n < m->cap; i = (i + 1) & mask, n++) {
    cid_map_slot *s = &m->slots[i];
    if (s->len == 0 && !s->tombstone) return NULL;
    if (s->len == len && memcmp(s->id, id, len) == 0) return s;
  }
  return NULL;
}

void *cid_map_get(const cid_map *m, const uint8_t *id, size_t len) {
  if (len == 0 || len > CID_MAX_LEN) return NULL;
  cid_map_slot *s = find(m, id, len);
  return s ? s->value : NULL;
}

static int grow(cid_map *m) {
  cid_map old = *m;
  size_t cap = m->used * 4 > m->cap ? m->cap * 2 : m->cap; /* rehash in place when mostly tombstones */
  m->slots = calloc(cap, sizeof *m->slots);
  if (!m->slots) {
    *m = old;
    return -1;
  }
  m->cap = cap;
  m->used = m->filled = 0;
  for (size_t i = 0; i < old.cap; i++)
    if (old.slots[i].len) cid_map_put(m, old.slots[i].id, old.slots[i].len, old.slots[i].value);
  free(old.slots);
  return 0;
}

int cid_map_put(cid_map *m, const uint8_t *id, size_t len, void *value) {
  if (len == 0 || len > CID_MAX_LEN) return -1;
  cid_map_slot *s = find(m, id, len);
  if (s) {
    s->value = value;
    return 0;
  }
  if ((m->filled + 1) * 4 > m->cap * 3 && grow(m)) return -1;
  size_t mask = m->cap - 1;
  for (size_t i = hash_cid(m->seed, id, len) & mask;; i = (i + 1) & mask) {
    s = &m->slots[i];
    if (s->len == 0) {
      if (!s->tombstone) m->filled++;
      s->tombstone = 0;
      s->len = (uint8_t)len;
      memcpy(s->id, id, len);
      s->value = value;
      m->used++;
      return 0;
    }
  }
}

void cid_map_del(cid_map *m, const uint8_t *id, size_t len) {
  if (len == 0 || len > CID_MAX_LEN) return;
  cid_map_slot *s = find(m, id, len);
  if (!s) return;
  s->len = 0;
  s->tombstone = 1;
  s->value = NULL;
  m->used--;
}
