/* fuzz_lite_frame: the incremental FRAME reader (moq_frame_reader, core/moq/lite.h) on a group stream's
 * bytes after its GROUP header.
 *
 * Input: byte 0 picks the version (low bits) and the limits (0x40: a 100-byte max_frame), byte 1 seeds
 * how the rest is cut into pieces. The stream is read twice, in one piece and in the cut pieces; both
 * readings must report the same frames (timestamps, lengths, payload bytes), the same error and the same
 * verdict at FIN. Payload views must lie inside the piece given, NONE must consume the whole piece, and
 * every call must make progress. A third reading, straight from moq_frame_header_decode, is the
 * reference the reader is compared with. */
#include "fuzz.h"

#include <stdbool.h>

#include "base/varint.h"
#include "moq/lite.h"

/* What a reading saw: a digest of the events, so that two readings compare cheaply. */
typedef struct trace {
  uint64_t hash;   /* FNV-1a over the events and payload bytes */
  uint64_t frames; /* frames begun */
  int error;       /* 0, or the first error */
  int finish;      /* moq_frame_reader_finish at the end (when no error) */
} trace;

static void mix(trace *t, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) t->hash = (t->hash ^ b[i]) * 0x100000001b3ULL;
}

static void mix_u64(trace *t, uint64_t v) { mix(t, &v, sizeof v); }

/* A tiny deterministic generator for the piece sizes. */
static uint32_t next_rand(uint32_t *s) {
  *s = *s * 1103515245u + 12345u;
  return *s >> 16;
}

/* Feeds in[0..len) to a fresh reader in pieces (seed 0: one piece) and records what it reports. */
static void read_stream(moq_version v, const moq_limits *lim, const uint8_t *in, size_t len, uint32_t seed,
                        trace *t) {
  memset(t, 0, sizeof *t);
  t->hash = 0xcbf29ce484222325ULL;
  moq_frame_reader r;
  moq_frame_reader_init(&r, v, lim);
  bool in_frame = false;
  uint64_t got = 0, want = 0; /* payload bytes of the current frame */
  size_t off = 0;
  while (off < len || off == 0) {
    size_t piece = len - off;
    if (seed) {
      size_t cut = 1 + next_rand(&seed) % 24;
      if (cut < piece) piece = cut;
    }
    /* a heap copy of exactly this piece: a read past it trips ASan */
    uint8_t *buf = fuzz_dup(in + off, piece);
    size_t pos = 0;
    int guard = 0;
    for (;;) {
      moq_frame_event ev;
      const char *why = NULL;
      int rc = moq_frame_reader_next(&r, buf + pos, piece - pos, &ev, &why);
      FUZZ_CHECK(++guard < 100000);
      if (rc < 0) {
        FUZZ_CHECK(why != NULL);
        t->error = rc;
        mix_u64(t, (uint64_t)(int64_t)rc);
        free(buf);
        return;
      }
      FUZZ_CHECK((size_t)rc <= piece - pos);
      if (ev.kind == MOQ_FRAME_NONE) {
        FUZZ_CHECK((size_t)rc == piece - pos);
        break;
      }
      switch (ev.kind) {
      case MOQ_FRAME_BEGIN:
        FUZZ_CHECK(!in_frame);
        FUZZ_CHECK(ev.payload_len <= (lim ? lim->max_frame : (uint64_t)32 * 1024 * 1024));
        if (v < MOQ_LITE_05) FUZZ_CHECK(ev.timestamp == 0);
        FUZZ_CHECK(ev.timestamp <= VARINT_MAX);
        in_frame = true;
        got = 0;
        want = ev.payload_len;
        t->frames++;
        mix_u64(t, 1);
        mix_u64(t, ev.timestamp);
        mix_u64(t, ev.payload_len);
        break;
      case MOQ_FRAME_DATA:
        FUZZ_CHECK(in_frame && ev.data_len > 0 && (size_t)rc == ev.data_len);
        FUZZ_CHECK(ev.data == buf + pos);
        got += ev.data_len;
        FUZZ_CHECK(got <= want);
        mix(t, ev.data, ev.data_len); /* pieces hash the same however they are cut */
        break;
      case MOQ_FRAME_END:
        FUZZ_CHECK(in_frame && got == want && rc == 0);
        in_frame = false;
        mix_u64(t, 3);
        break;
      default: FUZZ_CHECK(!"unknown event");
      }
      pos += (size_t)rc;
    }
    free(buf);
    off += piece;
    if (len == 0) break;
  }
  FUZZ_CHECK(r.frames == t->frames);
  t->finish = moq_frame_reader_finish(&r, NULL);
  /* FIN inside a header or a payload is malformed, anywhere else fine */
  FUZZ_CHECK(t->finish == ((r.hdr_len > 0 || (in_frame && got < want)) ? MOQ_ERR_MALFORMED : 0));
  mix_u64(t, (uint64_t)(int64_t)t->finish);
}

/* The reference: headers decoded straight from the whole stream. */
static void reference(moq_version v, const moq_limits *lim, const uint8_t *in, size_t len, trace *t) {
  memset(t, 0, sizeof *t);
  t->hash = 0xcbf29ce484222325ULL;
  size_t off = 0;
  uint64_t ts = 0;
  while (off < len) {
    moq_frame_header h;
    int rc = moq_frame_header_decode(v, in + off, len - off, lim, &h, NULL);
    if (rc == MOQ_NEED_MORE) {
      t->finish = MOQ_ERR_MALFORMED; /* the stream ends inside a header */
      mix_u64(t, (uint64_t)(int64_t)t->finish);
      return;
    }
    if (rc < 0) {
      t->error = rc;
      mix_u64(t, (uint64_t)(int64_t)rc);
      return;
    }
    if (v >= MOQ_LITE_05) {
      /* |delta| <= 2^61 and ts < 2^62: the sum cannot overflow */
      int64_t abs = (int64_t)ts + h.ts_delta;
      if (abs < 0 || (uint64_t)abs > VARINT_MAX) {
        t->error = MOQ_ERR_MALFORMED;
        mix_u64(t, (uint64_t)(int64_t)t->error);
        return;
      }
      ts = (uint64_t)abs;
    } else {
      FUZZ_CHECK(h.ts_delta == 0);
    }
    off += (size_t)rc;
    t->frames++;
    mix_u64(t, 1);
    mix_u64(t, ts);
    mix_u64(t, h.payload_len);
    size_t have = len - off;
    if (h.payload_len > have) {
      mix(t, in + off, have);
      t->finish = MOQ_ERR_MALFORMED; /* the stream ends inside a payload */
      mix_u64(t, (uint64_t)(int64_t)t->finish);
      return;
    }
    mix(t, in + off, (size_t)h.payload_len);
    off += (size_t)h.payload_len;
    mix_u64(t, 3);
  }
  mix_u64(t, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  moq_version v = (moq_version)(1 + (data[0] & 0x0f) % 5);
  moq_limits small;
  moq_limits_default(&small);
  small.max_frame = 100;
  const moq_limits *lim = (data[0] & 0x40) ? &small : NULL;
  uint32_t seed = data[1] | 0x100u;
  const uint8_t *in = data + 2;
  size_t len = size - 2;

  trace whole, pieces, ref;
  read_stream(v, lim, in, len, 0, &whole);
  read_stream(v, lim, in, len, seed, &pieces);
  reference(v, lim, in, len, &ref);
  FUZZ_CHECK(whole.error == pieces.error && whole.frames == pieces.frames);
  FUZZ_CHECK(whole.finish == pieces.finish);
  FUZZ_CHECK(whole.hash == pieces.hash);
  FUZZ_CHECK(whole.error == ref.error && whole.frames == ref.frames);
  FUZZ_CHECK(whole.finish == ref.finish);
  FUZZ_CHECK(whole.hash == ref.hash);

  /* an invalid version is refused, never read */
  moq_frame_reader r;
  moq_frame_reader_init(&r, (moq_version)(data[0] >> 5 == 7 ? 0 : 6), lim);
  moq_frame_event ev;
  FUZZ_CHECK(moq_frame_reader_next(&r, in, len, &ev, NULL) == MOQ_ERR_VERSION);
  return 0;
}
