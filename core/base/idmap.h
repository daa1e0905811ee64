/* idmap: uint64 key -> pointer, an open-addressing hash table (stream ids, subscribe ids, ...): O(1)
 * get, put and del, at most half full. Values are borrowed pointers; NULL values cannot be stored. */
#ifndef MOQ_BASE_IDMAP_H
#define MOQ_BASE_IDMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct idmap_slot {
  uint64_t key;
  void *value; /* borrowed; NULL = empty, or idmap.c's tombstone marker */
} idmap_slot;

typedef struct idmap {
  idmap_slot *slots; /* owned; NULL until the first put */
  size_t cap, used, filled; /* filled: live entries and tombstones, at most cap / 2 */
} idmap;

/* Initializes an empty map (no allocation). */
void idmap_init(idmap *m);
/* Frees the table (not the values). */
void idmap_free(idmap *m);
/* The value for key, or NULL. */
void *idmap_get(const idmap *m, uint64_t key);
/* Inserts or replaces; 0 or -1 on allocation failure or a NULL value. */
int idmap_put(idmap *m, uint64_t key, void *value);
/* Removes key; returns the value it had, or NULL. */
void *idmap_del(idmap *m, uint64_t key);
/* Number of entries. */
size_t idmap_size(const idmap *m);
/* Iteration: *pos starts at 0; returns 1 with key/value set, or 0 at the end. Do not modify the map
 * while iterating, except by idmap_del of the current key. */
int idmap_next(const idmap *m, size_t *pos, uint64_t *key, void **value);

#endif
