/* chunk: an immutable, reference-counted byte buffer. The fan-out path shares one chunk among every
 * subscriber's stream instead of copying it; the last chunk_unref frees it. The reference count is
 * atomic (workers hand chunks to each other); the bytes are immutable once shared. */
#ifndef MOQ_BASE_CHUNK_H
#define MOQ_BASE_CHUNK_H

#include <stddef.h>
#include <stdint.h>

typedef struct chunk {
  uint32_t refs;  /* owners (changed only by chunk_ref/chunk_unref, atomically); freed at zero */
  size_t len;     /* bytes in data */
  uint64_t ready_ns; /* a received frame's payload: when the datagram completing it reached this host
                        (CLOCK_MONOTONIC; the read time where the transport cannot tell), set before
                        the chunk is shared (the egress delay is counted from it); else 0 */
  uint8_t data[]; /* owned by the chunk */
} chunk;

/* Allocates a chunk of len bytes (contents undefined) with one reference. NULL on failure. */
chunk *chunk_new(size_t len);
/* Allocates a chunk holding a copy of data[0..len) with one reference. NULL on failure. */
chunk *chunk_from(const void *data, size_t len);
/* Adds a reference; returns c. */
chunk *chunk_ref(chunk *c);
/* Drops a reference, freeing the chunk with the last one. NULL is ignored. */
void chunk_unref(chunk *c);

/* A FIFO of byte slices of chunks, each holding a reference: a stream's queued outgoing data, with no
 * copy (quic_conn keeps it until acknowledged, ws_conn until handed to the socket). */
typedef struct chunk_seg {
  struct chunk_seg *next;
  chunk *data; /* owned reference */
  size_t off, len;
} chunk_seg;

/* Slices a queue holds without an allocation: a group stream's header, a frame's header and its
 * payload, so that the fan-out path makes no malloc per subscriber for them. */
#define CHUNK_QUEUE_OWN 3

/* Zero-initialised means empty. Holds pointers into itself (own): not to be copied or moved while
 * it holds slices. */
typedef struct chunk_queue {
  chunk_seg *head, *tail;          /* owned: allocated, or slots of own */
  size_t len;                      /* bytes in all slices */
  chunk_seg own[CHUNK_QUEUE_OWN];  /* slots used before allocating */
  unsigned own_used;               /* bit i: own[i] is in the list */
} chunk_queue;

/* Appends data[off, off+len) (len > 0), taking a reference to data. 0, or -1 when out of memory. */
int chunk_queue_push(chunk_queue *q, chunk *data, size_t off, size_t len);
/* Releases the first n bytes (at most q->len), dropping the references of the slices emptied. */
void chunk_queue_drop(chunk_queue *q, size_t n);
/* Releases everything; q is empty and reusable. */
void chunk_queue_clear(chunk_queue *q);

#endif
