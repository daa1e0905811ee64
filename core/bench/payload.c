/* payload: frames with a send time and a checkable pattern. */
#include "bench/payload.h"

#include <stdlib.h>
#include <string.h>

#define PATTERN_SHIFTS 251 /* a prime: neighbouring frames differ at every byte */

static uint8_t *pattern; /* owned: max_len + PATTERN_SHIFTS bytes */
static size_t pattern_max;

int bench_payload_init(size_t max_len) {
  free(pattern);
  pattern = malloc(max_len + PATTERN_SHIFTS);
  if (!pattern) return -1;
  pattern_max = max_len;
  uint32_t x = 0x9e3779b9u;
  for (size_t i = 0; i < max_len + PATTERN_SHIFTS; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    pattern[i] = (uint8_t)x;
  }
  return 0;
}

void bench_payload_free(void) {
  free(pattern);
  pattern = NULL;
  pattern_max = 0;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = v << 8 | p[i];
  return v;
}
static uint64_t get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

static const uint8_t *body_for(uint64_t seq) { return pattern + seq % PATTERN_SHIFTS; }

void bench_payload_write(uint8_t *out, const bench_frame_hdr *h) {
  put32(out, BENCH_MAGIC);
  put16(out + 4, h->publisher);
  put16(out + 6, h->track);
  put64(out + 8, h->seq);
  put64(out + 16, h->group);
  put32(out + 24, h->index);
  put32(out + 28, h->len);
  put64(out + 32, h->sent_ns);
  if (h->len > BENCH_HDR_LEN) memcpy(out + BENCH_HDR_LEN, body_for(h->seq), h->len - BENCH_HDR_LEN);
}

int bench_payload_check(const uint8_t *data, size_t len, bench_frame_hdr *h) {
  memset(h, 0, sizeof *h);
  if (len < BENCH_HDR_LEN || get32(data) != BENCH_MAGIC) return -1;
  h->publisher = get16(data + 4);
  h->track = get16(data + 6);
  h->seq = get64(data + 8);
  h->group = get64(data + 16);
  h->index = get32(data + 24);
  h->len = get32(data + 28);
  h->sent_ns = get64(data + 32);
  if (h->len != len || len > pattern_max) return -1;
  return memcmp(data + BENCH_HDR_LEN, body_for(h->seq), len - BENCH_HDR_LEN) == 0 ? 0 : -1;
}
