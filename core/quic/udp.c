#include "quic/udp.h"

#include "base/log.h"

#include <errno.h>
#include <linux/filter.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

/* A receive slot holds one datagram or, with UDP_GRO, one train of same-size datagrams of one flow
 * that the kernel kept together (at most 64 KiB). Without GRO a datagram is at most one path MTU. */
enum { UDP_BATCH = 32, UDP_MAX_DGRAM = 4096, UDP_MAX_GRO = 65536 };

/* The receive slots, one set per thread: every socket of a thread reads through them (a read hands
 * its datagrams up before the next read starts), so a process with many client sockets (moq-bench)
 * does not hold 2 MiB per socket. Counted by the sockets that use them; freed with the last.
 * "A thread" is the one that runs the socket's loop, not the one that created it: the workers'
 * sockets are all made on the main thread and then read by their own threads, so a socket takes
 * its slots at its first read and gives them back when libuv has closed it (both on its loop). */
static _Thread_local uint8_t *thread_rbuf;
static _Thread_local size_t thread_rbuf_users;

/* The arrival time of the datagram on_recv is delivering in this thread (udp_rx_time_ns). */
static _Thread_local uint64_t thread_rx_ns;

uint64_t udp_rx_time_ns(void) { return thread_rx_ns; }

static uint8_t *rbuf_acquire(void) {
  if (!thread_rbuf) {
    thread_rbuf = malloc((size_t)UDP_BATCH * UDP_MAX_GRO);
    if (!thread_rbuf) return NULL;
  }
  thread_rbuf_users++;
  return thread_rbuf;
}

static void rbuf_release(void) {
  if (thread_rbuf_users && --thread_rbuf_users == 0) {
    free(thread_rbuf);
    thread_rbuf = NULL;
  }
}

struct udp_socket {
  uv_poll_t poll;  /* owned handle; its data points back here */
  int fd;          /* owned */
  int family;
  udp_addr local;
  int want_write;
  int has_gso;
  int has_gro;     /* the kernel may hand several datagrams of one flow in one read */
  int closing; /* udp_socket_close was called: deliver nothing more */
  udp_recv_cb on_recv;
  udp_batch_done_cb on_batch;
  udp_writable_cb on_writable;
  void *user_data;
  uint8_t *rbuf; /* borrowed: the reading thread's receive slots (rbuf_acquire at the first read),
                  * UDP_BATCH * UDP_MAX_GRO; NULL before it */
};

static void poll_cb(uv_poll_t *h, int status, int events);

static int set_opt(int fd, int level, int name, int val) { return setsockopt(fd, level, name, &val, sizeof val); }

udp_socket *udp_socket_new(uv_loop_t *loop, const struct sockaddr *addr, socklen_t addrlen, int reuse_port,
                           udp_recv_cb on_recv, udp_batch_done_cb on_batch, udp_writable_cb on_writable,
                           void *user_data, char *err, size_t errlen) {
  udp_socket *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->family = addr->sa_family;
  s->fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s->fd < 0) goto fail;
  if (s->family == AF_INET6) {
    set_opt(s->fd, IPPROTO_IPV6, IPV6_V6ONLY, 0);
    set_opt(s->fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
    set_opt(s->fd, IPPROTO_IPV6, IPV6_RECVTCLASS, 1);
    set_opt(s->fd, IPPROTO_IP, IP_PKTINFO, 1); /* v4-mapped traffic on a dual-stack socket */
    set_opt(s->fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_PROBE);
    set_opt(s->fd, IPPROTO_IPV6, IPV6_DONTFRAG, 1);
  } else {
    set_opt(s->fd, IPPROTO_IP, IP_PKTINFO, 1);
    set_opt(s->fd, IPPROTO_IP, IP_RECVTOS, 1);
    set_opt(s->fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE);
  }
  set_opt(s->fd, SOL_SOCKET, SO_RCVBUF, 4 << 20);
  set_opt(s->fd, SOL_SOCKET, SO_SNDBUF, 4 << 20);
  s->has_gso = set_opt(s->fd, SOL_UDP, UDP_SEGMENT, 0) == 0;
  s->has_gro = set_opt(s->fd, SOL_UDP, UDP_GRO, 1) == 0;
  if (reuse_port && set_opt(s->fd, SOL_SOCKET, SO_REUSEPORT, 1) != 0) goto fail;
  if (bind(s->fd, addr, addrlen) != 0) goto fail;
  s->local.len = sizeof s->local.ss;
  if (getsockname(s->fd, (struct sockaddr *)&s->local.ss, &s->local.len) != 0) goto fail;
  s->on_recv = on_recv;
  s->on_batch = on_batch;
  s->on_writable = on_writable;
  s->user_data = user_data;
  if (uv_poll_init(loop, &s->poll, s->fd) != 0) goto fail;
  s->poll.data = s;
  uv_poll_start(&s->poll, UV_READABLE, poll_cb);
  return s;
fail:
  snprintf(err, errlen, "cannot bind UDP: %s", strerror(errno));
  if (s->fd >= 0) close(s->fd);
  free(s);
  return NULL;
}

const udp_addr *udp_socket_local(const udp_socket *s) { return &s->local; }

int udp_socket_has_gso(const udp_socket *s) { return s->has_gso; }

int udp_socket_rx_timestamps(udp_socket *s) { return set_opt(s->fd, SOL_SOCKET, SO_TIMESTAMPNS, 1) == 0 ? 0 : -errno; }

int udp_socket_steer_by_cid(udp_socket *s, unsigned n) {
  if (n < 1 || n > 256) return -EINVAL;
  /* Offsets are into the UDP payload. A load past the end returns 0 (socket 0 of the group). */
  struct sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),               /* A = first byte */
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x80, 0, 2),    /* long header? */
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 6),               /*   A = DCID[0] after version and length */
      BPF_JUMP(BPF_JMP | BPF_JA, 1, 0, 0),
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 1),               /* short: A = DCID[0] */
      BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, n),              /* A %= n */
      BPF_STMT(BPF_RET | BPF_A, 0),
  };
  struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
  if (setsockopt(s->fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) != 0) return -errno;
  return 0;
}

/* Fills local from the control messages (destination address), keeping the bound port, the ECN bits
 * and, for a GRO train, the size of its datagrams (0: one datagram). */
static void parse_cmsgs(udp_socket *s, struct msghdr *mh, udp_addr *local, uint8_t *ecn, size_t *seg) {
  *local = s->local;
  *ecn = 0;
  *seg = 0;
  thread_rx_ns = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS && c->cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
      struct timespec ts;
      memcpy(&ts, CMSG_DATA(c), sizeof ts);
      thread_rx_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    } else if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
      int v = 0;
      if (c->cmsg_len >= CMSG_LEN(sizeof v)) memcpy(&v, CMSG_DATA(c), sizeof v);
      if (v > 0) *seg = (size_t)v;
    } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      struct in_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      if (s->family == AF_INET) {
        ((struct sockaddr_in *)&local->ss)->sin_addr = pi.ipi_addr;
      } else {
        /* v4-mapped */
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&local->ss;
        memset(&a->sin6_addr, 0, sizeof a->sin6_addr);
        a->sin6_addr.s6_addr[10] = 0xff;
        a->sin6_addr.s6_addr[11] = 0xff;
        memcpy(&a->sin6_addr.s6_addr[12], &pi.ipi_addr, 4);
      }
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      struct in6_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      ((struct sockaddr_in6 *)&local->ss)->sin6_addr = pi.ipi6_addr;
    } else if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) ||
               (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS)) {
      int v = 0;
      if (c->cmsg_len >= CMSG_LEN(sizeof(int))) memcpy(&v, CMSG_DATA(c), sizeof v);
      else memcpy(&v, CMSG_DATA(c), 1);
      *ecn = (uint8_t)(v & 0x3);
    }
  }
}

static void do_read(udp_socket *s) {
  struct mmsghdr msgs[UDP_BATCH];
  struct iovec iov[UDP_BATCH];
  struct sockaddr_storage from[UDP_BATCH];
  /* The most a datagram brings: an IPv4 one on a dual-stack socket gets SO_TIMESTAMPNS (32 bytes
   * with its header), IPV6_PKTINFO (40), IP_PKTINFO (32), IP_TOS (24) and, for a GRO train, UDP_GRO
   * (24): 152. A truncated set would lose the destination address replies are sent from. */
  char ctrl[UDP_BATCH][224];
  if (!s->rbuf && !(s->rbuf = rbuf_acquire())) {
    /* Out of memory: what is queued is dropped, as by a full socket buffer, so that the loop does
     * not spin on a readable socket; the next read tries again. */
    uint8_t scrap[64];
    for (int i = 0; i < UDP_BATCH && recv(s->fd, scrap, sizeof scrap, MSG_DONTWAIT | MSG_TRUNC) >= 0; i++) {
    }
    return;
  }
  /* Bounded: at most 8 batches per wake-up so one busy socket cannot starve the loop. */
  for (int round = 0; round < 8; round++) {
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < UDP_BATCH; i++) {
      iov[i].iov_base = s->rbuf + (size_t)i * UDP_MAX_GRO;
      iov[i].iov_len = s->has_gro ? UDP_MAX_GRO : UDP_MAX_DGRAM;
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof from[i];
      msgs[i].msg_hdr.msg_control = ctrl[i];
      msgs[i].msg_hdr.msg_controllen = sizeof ctrl[i];
    }
    int n = recvmmsg(s->fd, msgs, UDP_BATCH, 0, NULL);
    if (n <= 0) break;
    for (int i = 0; i < n; i++) {
      if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) continue;
      udp_addr local, remote;
      uint8_t ecn;
      size_t seg;
      memcpy(&remote.ss, &from[i], msgs[i].msg_hdr.msg_namelen);
      remote.len = msgs[i].msg_hdr.msg_namelen;
      parse_cmsgs(s, &msgs[i].msg_hdr, &local, &ecn, &seg);
      const uint8_t *p = iov[i].iov_base;
      size_t left = msgs[i].msg_len;
      if (seg == 0 || seg > left) seg = left;
      do { /* a GRO train: datagrams of seg bytes, the last one possibly shorter */
        size_t dlen = left < seg ? left : seg;
        s->on_recv(s->user_data, &local, &remote, p, dlen, ecn);
        if (s->closing) {
          thread_rx_ns = 0;
          return;
        }
        p += dlen;
        left -= dlen;
      } while (left > 0);
    }
    if (n < UDP_BATCH) break;
  }
  thread_rx_ns = 0;
  if (s->on_batch) s->on_batch(s->user_data);
}

static void poll_cb(uv_poll_t *h, int status, int events) {
  udp_socket *s = h->data;
  if (status < 0) return;
  if (s->closing) return;
  if (events & UV_WRITABLE) {
    s->want_write = 0;
    uv_poll_start(&s->poll, UV_READABLE, poll_cb);
    if (s->on_writable) s->on_writable(s->user_data);
    if (s->closing) return;
  }
  if (events & UV_READABLE) do_read(s);
}

static int is_wildcard(const udp_addr *a) {
  if (a->ss.ss_family == AF_INET) return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr == INADDR_ANY;
  if (a->ss.ss_family == AF_INET6)
    return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr);
  return 1;
}

/* Control data of one outgoing message: the source address (IP_PKTINFO) and the GSO segment size. */
typedef union udp_ctrl {
  char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(uint16_t))];
  struct cmsghdr align;
} udp_ctrl;

/* Fills mh (with iov and ctrl, which must outlive it) for one datagram or GSO train. */
static void build_msg(udp_socket *s, const udp_addr *local, const udp_addr *remote, const uint8_t *data, size_t len,
                      size_t gso_size, struct msghdr *mh, struct iovec *iov, udp_ctrl *ctrl) {
  iov->iov_base = (void *)data;
  iov->iov_len = len;
  memset(ctrl, 0, sizeof *ctrl);
  *mh = (struct msghdr){.msg_name = (void *)&remote->ss, .msg_namelen = remote->len, .msg_iov = iov, .msg_iovlen = 1};
  size_t clen = 0;
  mh->msg_control = ctrl->buf;
  mh->msg_controllen = sizeof ctrl->buf;
  struct cmsghdr *c = CMSG_FIRSTHDR(mh);
  if (local && !is_wildcard(local)) {
    if (local->ss.ss_family == AF_INET6) {
      const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&local->ss;
      if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
        struct in_pktinfo pi = {0};
        memcpy(&pi.ipi_spec_dst, &a->sin6_addr.s6_addr[12], 4);
        c->cmsg_level = IPPROTO_IP;
        c->cmsg_type = IP_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof pi);
        memcpy(CMSG_DATA(c), &pi, sizeof pi);
        clen += CMSG_SPACE(sizeof pi);
      } else {
        struct in6_pktinfo pi = {0};
        pi.ipi6_addr = a->sin6_addr;
        c->cmsg_level = IPPROTO_IPV6;
        c->cmsg_type = IPV6_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof pi);
        memcpy(CMSG_DATA(c), &pi, sizeof pi);
        clen += CMSG_SPACE(sizeof pi);
      }
    } else {
      struct in_pktinfo pi = {0};
      pi.ipi_spec_dst = ((const struct sockaddr_in *)&local->ss)->sin_addr;
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof pi);
      memcpy(CMSG_DATA(c), &pi, sizeof pi);
      clen += CMSG_SPACE(sizeof pi);
    }
    c = (struct cmsghdr *)((char *)ctrl->buf + clen);
  }
  if (gso_size > 0 && len > gso_size && s->has_gso) {
    uint16_t seg = (uint16_t)gso_size;
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof seg);
    memcpy(CMSG_DATA(c), &seg, sizeof seg);
    clen += CMSG_SPACE(sizeof seg);
  }
  mh->msg_controllen = clen;
  if (clen == 0) mh->msg_control = NULL;
}

/* What a failed send means: UDP_SEND_BLOCKED (and wait for writability) or a negative errno. */
static int send_failed(udp_socket *s, int err, size_t gso_size) {
  if (err == EAGAIN || err == EWOULDBLOCK) {
    if (!s->want_write) {
      s->want_write = 1;
      uv_poll_start(&s->poll, UV_READABLE | UV_WRITABLE, poll_cb);
    }
    return UDP_SEND_BLOCKED;
  }
  if (err == EIO && gso_size > 0) s->has_gso = 0; /* the NIC cannot segment: stop asking */
  LOG_DBG("udp_send_error", "errno=%d error=\"%s\"", err, strerror(err));
  return -err;
}

int udp_send(udp_socket *s, const udp_addr *local, const udp_addr *remote, const uint8_t *data, size_t len,
             size_t gso_size) {
  struct msghdr mh;
  struct iovec iov;
  udp_ctrl ctrl;
  build_msg(s, local, remote, data, len, gso_size, &mh, &iov, &ctrl);
  for (;;) {
    if (sendmsg(s->fd, &mh, 0) >= 0) return 0;
    if (errno != EINTR) return send_failed(s, errno, gso_size);
  }
}

size_t udp_send_many(udp_socket *s, const udp_msg *msgs, size_t n, int *err) {
  enum { CHUNK = 64 };
  struct mmsghdr mm[CHUNK];
  struct iovec iov[CHUNK];
  udp_ctrl ctrl[CHUNK];
  size_t done = 0;
  *err = 0;
  while (done < n) {
    size_t k = n - done < CHUNK ? n - done : CHUNK;
    for (size_t i = 0; i < k; i++) {
      const udp_msg *m = &msgs[done + i];
      build_msg(s, m->local, m->remote, m->data, m->len, m->gso_size, &mm[i].msg_hdr, &iov[i], &ctrl[i]);
      mm[i].msg_len = 0;
    }
    int r = sendmmsg(s->fd, mm, (unsigned)k, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      *err = send_failed(s, errno, msgs[done].gso_size);
      return done;
    }
    done += (size_t)r; /* fewer than k: the next call reports why the first unsent one failed */
  }
  return done;
}

static void on_poll_closed(uv_handle_t *h) {
  udp_socket *s = h->data;
  close(s->fd);
  if (s->rbuf) rbuf_release();
  free(s);
}

void udp_socket_close(udp_socket *s) {
  if (!s || s->closing) return;
  s->closing = 1;
  uv_poll_stop(&s->poll);
  uv_close((uv_handle_t *)&s->poll, on_poll_closed);
}
