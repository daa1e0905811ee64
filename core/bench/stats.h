/* stats: samples for percentiles, and the CPU time and memory of a process read from /proc. */
#ifndef MOQ_BENCH_STATS_H
#define MOQ_BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A growable array of samples (any unit). */
typedef struct bench_samples {
  uint32_t *v; /* owned */
  size_t n, cap;
  size_t dropped; /* samples not kept for lack of memory */
} bench_samples;

/* Adds a sample (values above UINT32_MAX are clamped). */
void bench_samples_add(bench_samples *s, uint64_t value);
/* Sorts the samples (once, before reading percentiles). */
void bench_samples_sort(bench_samples *s);
/* The p-th percentile (0..100, nearest rank) of sorted samples; 0 when there are none. */
uint32_t bench_samples_pct(const bench_samples *s, double p);
/* Releases the samples. */
void bench_samples_free(bench_samples *s);

/* One reading of a process from /proc/PID/stat and /proc/PID/status. */
typedef struct bench_proc {
  int ok;             /* the readings succeeded */
  double cpu_s;       /* user + system CPU time so far, seconds */
  double user_s, sys_s; /* the two parts of cpu_s: user space and the kernel */
  uint64_t rss_kib;   /* VmRSS */
  uint64_t hwm_kib;   /* VmHWM (peak RSS) */
  double runq_s;      /* time spent runnable but waiting for a CPU (/proc/PID/schedstat), seconds */
} bench_proc;

/* Reads pid's CPU time and memory. Returns 0 or -1 (out->ok tells too). */
int bench_proc_read(pid_t pid, bench_proc *out);
/* Reads the system's count of UDP datagrams dropped for a full receive buffer (RcvbufErrors in
 * /proc/net/snmp; every socket of the network namespace). 0 or -1. */
int bench_udp_drops(uint64_t *out);

#endif
