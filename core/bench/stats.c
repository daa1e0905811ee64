/* stats: percentiles over kept samples; /proc readings. */
#include "bench/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void bench_samples_add(bench_samples *s, uint64_t value) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 4096;
    uint32_t *v = realloc(s->v, cap * sizeof *v);
    if (!v) {
      s->dropped++;
      return;
    }
    s->v = v;
    s->cap = cap;
  }
  s->v[s->n++] = value > UINT32_MAX ? UINT32_MAX : (uint32_t)value;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

void bench_samples_sort(bench_samples *s) {
  if (s->n) qsort(s->v, s->n, sizeof *s->v, cmp_u32);
}

uint32_t bench_samples_pct(const bench_samples *s, double p) {
  if (!s->n) return 0;
  if (p >= 100) return s->v[s->n - 1];
  size_t rank = (size_t)(p / 100.0 * (double)s->n); /* nearest rank, 0-based */
  if (rank >= s->n) rank = s->n - 1;
  return s->v[rank];
}

void bench_samples_free(bench_samples *s) {
  free(s->v);
  memset(s, 0, sizeof *s);
}

int bench_proc_read(pid_t pid, bench_proc *out) {
  memset(out, 0, sizeof *out);
  char path[64], buf[2048];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  /* the command name may hold spaces and parentheses: fields start after the last ')' */
  char *p = strrchr(buf, ')');
  if (!p) return -1;
  unsigned long long utime = 0, stime = 0;
  /* after ')': state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
  if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) return -1;
  long hz = sysconf(_SC_CLK_TCK);
  double tick = (double)(hz > 0 ? hz : 100);
  out->user_s = (double)utime / tick;
  out->sys_s = (double)stime / tick;
  out->cpu_s = out->user_s + out->sys_s;
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  f = fopen(path, "r");
  if (!f) return -1;
  char line[256];
  while (fgets(line, sizeof line, f)) {
    unsigned long long kib;
    if (sscanf(line, "VmRSS: %llu kB", &kib) == 1) out->rss_kib = kib;
    else if (sscanf(line, "VmHWM: %llu kB", &kib) == 1) out->hwm_kib = kib;
  }
  fclose(f);
  snprintf(path, sizeof path, "/proc/%d/schedstat", (int)pid);
  f = fopen(path, "r");
  if (f) {
    unsigned long long run_ns, wait_ns;
    if (fscanf(f, "%llu %llu", &run_ns, &wait_ns) == 2) out->runq_s = (double)wait_ns / 1e9;
    fclose(f);
  }
  out->ok = 1;
  return 0;
}

int bench_udp_drops(uint64_t *out) {
  FILE *f = fopen("/proc/net/snmp", "r");
  if (!f) return -1;
  char names[1024], values[1024];
  int rv = -1;
  while (fgets(names, sizeof names, f)) {
    if (strncmp(names, "Udp: ", 5) != 0) continue;
    if (!fgets(values, sizeof values, f)) break;
    /* a header line of names, then a line of values in the same order */
    char *ns = NULL, *vs = NULL;
    char *n = strtok_r(names + 5, " \n", &ns), *v = strtok_r(values + 5, " \n", &vs);
    for (; n && v; n = strtok_r(NULL, " \n", &ns), v = strtok_r(NULL, " \n", &vs))
      if (strcmp(n, "RcvbufErrors") == 0) {
        *out = strtoull(v, NULL, 10);
        rv = 0;
      }
    break;
  }
  fclose(f);
  return rv;
}
