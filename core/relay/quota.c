#include "relay/quota.h"

int session_quota_init(session_quota *q) {
  q->sessions = 0;
  idmap_init(&q->per_address);
  return pthread_mutex_init(&q->lock, NULL) == 0 ? 0 : -1;
}

void session_quota_destroy(session_quota *q) {
  idmap_free(&q->per_address);
  pthread_mutex_destroy(&q->lock);
}

const char *session_quota_take(session_quota *q, uint64_t key, uint64_t max_sessions, uint64_t max_per_address) {
  pthread_mutex_lock(&q->lock);
  uintptr_t n = (uintptr_t)idmap_get(&q->per_address, key);
  const char *which = q->sessions >= max_sessions ? "sessions" : n >= max_per_address ? "sessions_per_address" : NULL;
  if (!which && idmap_put(&q->per_address, key, (void *)(n + 1))) which = "memory";
  if (!which) q->sessions++;
  pthread_mutex_unlock(&q->lock);
  return which;
}

void session_quota_give(session_quota *q, uint64_t key) {
  pthread_mutex_lock(&q->lock);
  uintptr_t n = (uintptr_t)idmap_get(&q->per_address, key);
  if (n <= 1) idmap_del(&q->per_address, key);
  else idmap_put(&q->per_address, key, (void *)(n - 1));
  if (q->sessions) q->sessions--;
  pthread_mutex_unlock(&q->lock);
}
