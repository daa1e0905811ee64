/* quota: the [limits] sessions and sessions_per_address counts, shared by every worker of the relay
 * (a mutex: taken once when a session is admitted and once when it ends, never on the data path). */
#ifndef MOQ_RELAY_QUOTA_H
#define MOQ_RELAY_QUOTA_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "base/idmap.h"

typedef struct session_quota {
  pthread_mutex_t lock;
  size_t sessions;     /* open sessions */
  idmap per_address;   /* address key -> open sessions from it (as a pointer-sized count) */
} session_quota;

/* 0, or -1 when out of resources. */
int session_quota_init(session_quota *q);
void session_quota_destroy(session_quota *q);
/* Counts a session from the address with this key (any nonzero hash of the address without its
 * port). NULL when admitted; else the name of the limit reached ("sessions", "sessions_per_address"),
 * or "memory". */
const char *session_quota_take(session_quota *q, uint64_t key, uint64_t max_sessions, uint64_t max_per_address);
/* A session counted by session_quota_take ended. */
void session_quota_give(session_quota *q, uint64_t key);

#endif
