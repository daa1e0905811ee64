#include "base/log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

static log_level current_level = LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug", "trace"};

void log_set_level(log_level level) { current_level = level; }

log_level log_get_level(void) { return current_level; }

int log_level_parse(const char *name, log_level *out) {
  for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
    if (strcasecmp(name, level_names[i]) == 0) {
      *out = (log_level)i;
      return 0;
    }
  }
  return -1;
}

const char *log_level_name(log_level level) {
  if ((unsigned)level >= sizeof level_names / sizeof level_names[0]) return "?";
  return level_names[level];
}

int log_enabled(log_level level) { return level <= current_level; }

void log_eventv(log_level level, const char *event, const char *fmt, va_list ap) {
  if (!log_enabled(level)) return;
  char line[2048];
  struct timeval tv;
  struct tm tm;
  gettimeofday(&tv, NULL);
  gmtime_r(&tv.tv_sec, &tm);
  int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s event=%s",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   (long)(tv.tv_usec / 1000), level_names[level], event);
  if (n < 0) return;
  size_t used = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
  if (fmt && *fmt && used + 1 < sizeof line) {
    line[used++] = ' ';
    int m = vsnprintf(line + used, sizeof line - used, fmt, ap);
    if (m > 0) used += (size_t)m < sizeof line - used ? (size_t)m : sizeof line - used - 1;
  }
  if (used >= sizeof line - 1) used = sizeof line - 2;
  line[used++] = '\n';
  fwrite(line, 1, used, stderr);
}

void log_event(log_level level, const char *event, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  log_eventv(level, event, fmt, ap);
  va_end(ap);
}

char *log_quote(char *out, size_t outlen, const char *s) {
  if (outlen == 0) return out;
  if (!s) s = "";
  int bare = *s != '\0';
  for (const char *p = s; *p && bare; p++)
    if (*p == ' ' || *p == '"' || *p == '=' || (unsigned char)*p < 0x20 || *p == '\\') bare = 0;
  size_t o = 0;
  if (!bare && o + 1 < outlen) out[o++] = '"';
  for (const char *p = s; *p; p++) {
    char esc[5] = {0};
    unsigned char c = (unsigned char)*p;
    if (bare) {
      esc[0] = (char)c;
    } else if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
    } else if (c < 0x20) {
      snprintf(esc, sizeof esc, "\\x%02x", c);
    } else {
      esc[0] = (char)c;
    }
    size_t el = strlen(esc);
    if (o + el + (bare ? 0 : 1) + 4 > outlen) {
      /* no room: end with "..." */
      while (o > 0 && o + 4 + (bare ? 0 : 1) > outlen) o--;
      memcpy(out + o, "...", 3);
      o += 3;
      break;
    }
    memcpy(out + o, esc, el);
    o += el;
  }
  if (!bare && o + 1 < outlen) out[o++] = '"';
  out[o < outlen ? o : outlen - 1] = '\0';
  return out;
}
