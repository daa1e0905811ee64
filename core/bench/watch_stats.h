/* watch_stats: one GET /stats from a relay's HTTP listener (--web-http-listen), on the bench's libuv
 * loop without blocking it, and the egress-delay histogram of its reply (egress_delay_us, see
 * moq-relay(1)). moq-bench takes one reading at each end of its window: their difference is the
 * delay the relay itself added to the frames of the window. */
#ifndef MOQ_BENCH_WATCH_STATS_H
#define MOQ_BENCH_WATCH_STATS_H

#include <stddef.h>
#include <sys/socket.h>
#include <uv.h>

#include "base/delay_hist.h"

#define WATCH_STATS_MAX_REPLY 65536 /* bytes: a reply is about 3 KB */

typedef struct watch_stats {
  uv_loop_t *loop;                 /* borrowed */
  struct sockaddr_storage addr;    /* the listener */
  uv_tcp_t tcp;                    /* owned handle, while a GET is under way */
  uv_connect_t connect;
  uv_write_t write;
  uv_timer_t timer;                /* owned handle, the same: gives up after WATCH_STATS_TIMEOUT_MS */
  char req[128];
  char *reply;                     /* owned: what the relay sent */
  size_t len;
  int handles;                     /* of tcp and timer, still to close: > 0 while a GET is under way */
  int done, ok;                    /* finished; with a histogram */
  char err[160];                   /* why not, when done && !ok */
  delay_hist hist;                 /* the reply's egress_delay_us, when ok */
} watch_stats;

#define WATCH_STATS_TIMEOUT_MS 3000

/* Parses "HOST:PORT" (a numeric IPv4 or [IPv6] address) into w, which is then ready for
 * watch_stats_get. 0, or -1 with err. */
int watch_stats_init(watch_stats *w, uv_loop_t *loop, const char *hostport, char *err, size_t errlen);
/* Starts the GET; the loop finishes it (w->done, then w->ok or w->err). At most once per w. */
void watch_stats_get(watch_stats *w);
/* The egress-delay histogram of an HTTP reply to GET /stats (status line, headers, JSON body).
 * 0, or -1 with err saying what was wrong (status, JSON, a field). */
int watch_stats_parse(const char *reply, size_t len, delay_hist *out, char *err, size_t errlen);
/* Releases the reply (the handles must be closed: w->handles == 0). */
void watch_stats_free(watch_stats *w);

#endif
