/* payload: the frames moq-bench publishes. Each carries who sent it, where it belongs and when it was
 * sent (the monotonic clock of the process, which both ends share), then a pattern that depends on the
 * frame's sequence, so that a subscriber can check every byte and the order of what it receives.
 *
 * Layout (little endian), BENCH_HDR_LEN bytes, then the pattern up to the frame's length:
 *   u32 magic "MQBN" | u16 publisher | u16 track | u64 frame sequence (per track, from 0)
 *   u64 group sequence | u32 index in the group | u32 frame length | u64 send time (ns) */
#ifndef MOQ_BENCH_PAYLOAD_H
#define MOQ_BENCH_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#define BENCH_HDR_LEN 40
#define BENCH_MAGIC 0x4e42514du /* "MQBN" */

typedef struct bench_frame_hdr {
  uint16_t publisher, track;
  uint64_t seq;      /* frame sequence of the track */
  uint64_t group;    /* group sequence */
  uint32_t index;    /* frame index in the group */
  uint32_t len;      /* whole frame, header included */
  uint64_t sent_ns;  /* monotonic send time */
} bench_frame_hdr;

/* Builds the shared pattern for frames up to max_len bytes (call once; owned by the module). 0 or -1. */
int bench_payload_init(size_t max_len);
/* Releases the pattern. */
void bench_payload_free(void);
/* Writes a frame of h->len bytes (>= BENCH_HDR_LEN, <= max_len) into out. */
void bench_payload_write(uint8_t *out, const bench_frame_hdr *h);
/* Reads and checks a frame: the header must be well-formed and name len as its length, and the
 * pattern must be intact. 0, or -1 when anything is wrong (h is filled as far as it could be read). */
int bench_payload_check(const uint8_t *data, size_t len, bench_frame_hdr *h);

#endif
