/* cid_map: connection ID -> connection, an open-addressing hash table owned by an endpoint.
 * Keys are copied in; values are borrowed pointers. */
#ifndef MOQ_QUIC_CID_MAP_H
#define MOQ_QUIC_CID_MAP_H

#include <stddef.h>
#include <stdint.h>

#define CID_MAX_LEN 20

typedef struct cid_map_slot {
  uint8_t len; /* 0 = empty */
  uint8_t tombstone;
  uint8_t id[CID_MAX_LEN];
  void *value; /* borrowed */
} cid_map_slot;

typedef struct cid_map {
  cid_map_slot *slots; /* owned */
  size_t cap;          /* power of two */
  size_t used;         /* live entries */
  size_t filled;       /* live entries + tombstones */
  uint64_t seed;       /* hash key, random per map */
} cid_map;

/* Initializes an empty map. 0 or -1. */
int cid_map_init(cid_map *m);
/* Frees the table (not the values). */
void cid_map_free(cid_map *m);
/* Finds the value for id, or NULL. */
void *cid_map_get(const cid_map *m, const uint8_t *id, size_t len);
/* Inserts or replaces. 0 or -1 (allocation failure or len out of range). */
int cid_map_put(cid_map *m, const uint8_t *id, size_t len, void *value);
/* Removes id if present. */
void cid_map_del(cid_map *m, const uint8_t *id, size_t len);

#endif
