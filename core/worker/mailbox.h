/* mailbox: how one worker thread hands messages to another. Any thread posts; the owning worker's
 * loop receives them in posting order (per sender) through a uv_async, in batches. The lock is held
 * only to link or take the list, never while a message is handled. */
#ifndef MOQ_WORKER_MAILBOX_H
#define MOQ_WORKER_MAILBOX_H

#include <pthread.h>
#include <uv.h>

/* The head of every message; the rest is the sender's type. */
typedef struct mail {
  struct mail *next;
  int kind;                         /* what the receiver dispatches on */
  void (*discard)(struct mail *m);  /* frees m and what it owns (chunk references), unread */
} mail;

/* Called on the owner's loop for each message; the handler owns m from then on. */
typedef void (*mailbox_fn)(void *user_data, mail *m);

typedef struct mailbox {
  pthread_mutex_t lock;
  mail *head, *tail;   /* owned messages not yet handled */
  int open;            /* posts are accepted */
  uv_async_t async;    /* owned handle, on the owner's loop */
  mailbox_fn fn;
  void *user_data;
} mailbox;

/* Initialises mb on loop (call on the thread that will run loop, or before it runs). 0 or -1. */
int mailbox_init(mailbox *mb, uv_loop_t *loop, mailbox_fn fn, void *user_data);
/* Posts m (owned by the mailbox from now). From any thread. 0, or -1 when the mailbox is closed: the
 * caller still owns m (and usually discards it). */
int mailbox_post(mailbox *mb, mail *m);
/* On the owner's thread: refuses further posts, discards what is queued and closes the handle (the
 * loop can end after that). */
void mailbox_close(mailbox *mb);
/* After the owner's loop has ended: discards anything left and destroys the lock. */
void mailbox_destroy(mailbox *mb);

#endif
