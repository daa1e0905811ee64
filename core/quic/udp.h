/* udp: a non-blocking UDP socket on libuv with batched receive (recvmmsg, and UDP_GRO trains split back
 * into datagrams), the local address of each
 * datagram (IP_PKTINFO, so a wildcard bind answers from the right address), and sendmsg (or sendmmsg for many) with an
 * explicit source address and optional GSO. Owns its fd and poll handle. */
#ifndef MOQ_QUIC_UDP_H
#define MOQ_QUIC_UDP_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <uv.h>

/* A socket address with its length. The length comes first, next to the address's first bytes: a
 * copy or a look at an IPv4 or IPv6 address then touches one or two cache lines, not three. */
typedef struct udp_addr {
  socklen_t len;
  struct sockaddr_storage ss;
} udp_addr;

/* Copies the part of src in use (its length and len bytes of address), not all of ss. */
static inline void udp_addr_copy(udp_addr *dst, const udp_addr *src) {
  socklen_t n = src->len <= sizeof src->ss ? src->len : (socklen_t)sizeof src->ss;
  dst->len = n;
  memcpy(&dst->ss, &src->ss, n);
}

typedef struct udp_socket udp_socket;

/* Called for each received datagram; data is borrowed for the call only. */
typedef void (*udp_recv_cb)(void *user_data, const udp_addr *local, const udp_addr *remote,
                            const uint8_t *data, size_t len, uint8_t ecn);
/* Called after a batch of datagrams has been delivered (to flush the connections that got input). */
typedef void (*udp_batch_done_cb)(void *user_data);
/* Called when the socket is writable again after udp_send returned UDP_SEND_BLOCKED. */
typedef void (*udp_writable_cb)(void *user_data);

enum { UDP_SEND_BLOCKED = -11 };

/* Binds a socket to addr (an IPv6 wildcard is dual-stack) and starts reading; with reuse_port, with
 * SO_REUSEPORT so that several workers' sockets share the address. Returns NULL with a message naming
 * the address in err. */
udp_socket *udp_socket_new(uv_loop_t *loop, const struct sockaddr *addr, socklen_t addrlen, int reuse_port,
                           udp_recv_cb on_recv, udp_batch_done_cb on_batch, udp_writable_cb on_writable,
                           void *user_data, char *err, size_t errlen);
/* The bound address (with the real port when bound to port 0). */
const udp_addr *udp_socket_local(const udp_socket *s);
/* Sends len bytes to remote from local (local may be NULL or a wildcard). With gso_size > 0 and
 * len > gso_size, the kernel splits data into datagrams of gso_size bytes. Returns 0, UDP_SEND_BLOCKED
 * (call again after on_writable), or another negative errno (the datagram is dropped). */
int udp_send(udp_socket *s, const udp_addr *local, const udp_addr *remote, const uint8_t *data, size_t len,
             size_t gso_size);
/* One datagram, or a GSO train of gso_size datagrams, for udp_send_many; everything borrowed. */
typedef struct udp_msg {
  const udp_addr *local, *remote;
  const uint8_t *data;
  size_t len, gso_size;
} udp_msg;
/* Sends msgs[0, n) in order with as few system calls as the kernel allows (sendmmsg). Returns how many
 * from the start went to the kernel; when fewer than n, *err says why the next one did not:
 * UDP_SEND_BLOCKED (that one and the rest wait for on_writable) or a negative errno (that one cannot
 * be sent: skip it and go on with the one after). */
size_t udp_send_many(udp_socket *s, const udp_msg *msgs, size_t n, int *err);
/* Asks the kernel for each datagram's arrival time (SO_TIMESTAMPNS): see udp_rx_time_ns. 0 or -errno. */
int udp_socket_rx_timestamps(udp_socket *s);
/* Inside an on_recv callback of this thread: when the kernel received the datagram being delivered
 * (CLOCK_REALTIME nanoseconds; a GRO train's datagrams share one), or 0 (no timestamp asked for, or
 * not inside on_recv). Code running synchronously under on_recv (the QUIC stack, a session's frame
 * callbacks) can read it. */
uint64_t udp_rx_time_ns(void);
/* True if the kernel accepted UDP_SEGMENT (GSO) on this socket. */
int udp_socket_has_gso(const udp_socket *s);
/* Attaches to the SO_REUSEPORT group of s (bound with reuse_port) a classic BPF program that hands each
 * datagram to socket number (byte % n) of the group, in the order the sockets were bound, where byte is
 * the first byte of the QUIC destination connection ID (offset 1 of a short header, 6 of a long one).
 * 0, or a negative errno (old kernel): the kernel then spreads datagrams by address hash. */
int udp_socket_steer_by_cid(udp_socket *s, unsigned n);
/* Stops reading and closes the socket; frees it once libuv has released the handle. */
void udp_socket_close(udp_socket *s);

#endif
