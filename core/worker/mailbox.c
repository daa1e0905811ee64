#include "worker/mailbox.h"

#include <stddef.h>

static void on_async(uv_async_t *h) {
  mailbox *mb = h->data;
  pthread_mutex_lock(&mb->lock);
  mail *list = mb->head;
  mb->head = mb->tail = NULL;
  pthread_mutex_unlock(&mb->lock);
  while (list) {
    mail *m = list;
    list = m->next;
    m->next = NULL;
    if (mb->open) mb->fn(mb->user_data, m);
    else m->discard(m); /* closed by an earlier message of this batch */
  }
}

int mailbox_init(mailbox *mb, uv_loop_t *loop, mailbox_fn fn, void *user_data) {
  mb->head = mb->tail = NULL;
  mb->fn = fn;
  mb->user_data = user_data;
  if (pthread_mutex_init(&mb->lock, NULL) != 0) return -1;
  if (uv_async_init(loop, &mb->async, on_async) != 0) {
    pthread_mutex_destroy(&mb->lock);
    return -1;
  }
  mb->async.data = mb;
  mb->open = 1;
  return 0;
}

int mailbox_post(mailbox *mb, mail *m) {
  m->next = NULL;
  pthread_mutex_lock(&mb->lock);
  if (!mb->open) {
    pthread_mutex_unlock(&mb->lock);
    return -1;
  }
  if (mb->tail) mb->tail->next = m;
  else mb->head = m;
  mb->tail = m;
  /* Under the lock: mailbox_close cannot close the handle in between. libuv coalesces wake-ups. */
  uv_async_send(&mb->async);
  pthread_mutex_unlock(&mb->lock);
  return 0;
}

static void discard_all(mail *list) {
  while (list) {
    mail *m = list;
    list = m->next;
    m->discard(m);
  }
}

void mailbox_close(mailbox *mb) {
  pthread_mutex_lock(&mb->lock);
  int was_open = mb->open;
  mb->open = 0;
  mail *list = mb->head;
  mb->head = mb->tail = NULL;
  pthread_mutex_unlock(&mb->lock);
  discard_all(list);
  if (was_open) uv_close((uv_handle_t *)&mb->async, NULL);
}

void mailbox_destroy(mailbox *mb) {
  discard_all(mb->head);
  mb->head = mb->tail = NULL;
  pthread_mutex_destroy(&mb->lock);
}
