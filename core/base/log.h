/* log: one line per event, "ts=... level=... event=... key=value ...", to stderr.
 * The level is process-wide state owned by core/ (set once at start, or on reload). */
#ifndef MOQ_BASE_LOG_H
#define MOQ_BASE_LOG_H

#include <stdarg.h>
#include <stddef.h>

typedef enum log_level {
  LOG_ERROR = 0,
  LOG_WARN = 1,
  LOG_INFO = 2,
  LOG_DEBUG = 3,
  LOG_TRACE = 4,
} log_level;

/* Sets the most verbose level that is printed (default LOG_INFO). */
void log_set_level(log_level level);
/* Returns the current level. */
log_level log_get_level(void);
/* Parses "error|warn|info|debug|trace" into *out; returns 0, or -1 for anything else. */
int log_level_parse(const char *name, log_level *out);
/* Returns the lowercase name of a level. */
const char *log_level_name(log_level level);
/* True when a message at this level would be printed (to skip building expensive fields). */
int log_enabled(log_level level);
/* Prints one line: "ts=<iso8601> level=<lvl> event=<event> " followed by fmt (key=value pairs). */
void log_event(log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, with a va_list. */
void log_eventv(log_level level, const char *event, const char *fmt, va_list ap);
/* Writes s into out as a log value: bare when it has no space, '"' or '=', else quoted with escapes.
 * Always NUL-terminates when outlen > 0; truncates with "..." if needed. Returns out. */
char *log_quote(char *out, size_t outlen, const char *s);

#define LOG_ERR(ev, ...) log_event(LOG_ERROR, ev, __VA_ARGS__)
#define LOG_WRN(ev, ...) log_event(LOG_WARN, ev, __VA_ARGS__)
#define LOG_INF(ev, ...) log_event(LOG_INFO, ev, __VA_ARGS__)
#define LOG_DBG(ev, ...) do { if (log_enabled(LOG_DEBUG)) log_event(LOG_DEBUG, ev, __VA_ARGS__); } while (0)
#define LOG_TRC(ev, ...) do { if (log_enabled(LOG_TRACE)) log_event(LOG_TRACE, ev, __VA_ARGS__); } while (0)

#endif
