/* worker: the relay on several cores. N workers, each a thread with its own libuv loop running a relay
 * of its own (core/relay) with its own UDP socket bound with SO_REUSEPORT to the QUIC address.
 *
 * Steering: the connection IDs a worker issues name it (first byte % N, core/quic), and a classic
 * BPF program on the socket group makes the kernel deliver each datagram to the socket of the worker
 * its destination connection ID names; a client's first Initial, whose ID the client chose, lands on
 * a worker by the same rule, and that worker owns the connection. A datagram that still lands on the
 * wrong socket (a kernel without SO_ATTACH_REUSEPORT_CBPF, or sockets of the group rebound) is
 * forwarded in user space to the worker that owns it, through that worker's mailbox.
 *
 * Shared state: each worker has its own origin; bridges (core/worker/bridge.h) announce broadcasts to
 * the other workers and feed one subscription per (track, subscribing worker) across, handing over
 * references to the same payload chunks. No lock is taken on the fan-out path except each mailbox's
 * (held to link a message). The session limits are counted in one session_quota (a mutex at session
 * start and end), GET /stats's figures on one stats_board (core/relay/stats.h). All workers show worker
 * 0's certificate and hop id.
 *
 * Policy: hooks and plugins are not thread-safe, so every worker loads its own instances of them (the
 * JWT plugin, each [[plugin]], and one lua_State per script per worker): a decision about a session
 * is taken on that session's worker, at once or resumed later on that same loop. A Lua script's
 * global variables are therefore per worker. In a cluster, every worker's instance of the cluster
 * plugin admits its own sessions' registrations, and worker 0's alone dials the roots and publishes
 * the other nodes' broadcasts: the relay shares markers, remote broadcasts and what its links import
 * with every worker (relay.c, links.h). The HTTP listener (and WebSocket sessions) run on worker 0
 * only. Worker 0 is the calling thread's loop (signals). */
#ifndef MOQ_WORKER_WORKER_H
#define MOQ_WORKER_WORKER_H

#include <stddef.h>
#include <uv.h>

#include "conf/config.h"

typedef struct worker_group worker_group;

/* The most workers a relay runs (--workers 0 to WORKER_MAX). */
#define WORKER_MAX 64
/* What --workers 0 means: one worker per CPU this process may run on (its affinity mask, so taskset
 * and a container's cpuset count), 1 to WORKER_MAX. */
unsigned worker_count_for_cpus(void);
/* Starts n workers (0: worker_count_for_cpus()): worker 0 on loop (the caller runs it), the others on
 * threads of their own. With n == 1 this is the plain single-threaded relay. cfg is borrowed and must
 * outlive the group. NULL with a message in err. */
worker_group *worker_group_new(uv_loop_t *loop, const relay_config *cfg, unsigned n, char *err, size_t errlen);
/* SIGHUP: every worker reloads its plugins; worker 0's failure is reported here (0 or -1 and err). */
int worker_group_reload(worker_group *wg, char *err, size_t errlen);
/* Closes every worker's sessions and listeners; done(arg) runs on worker 0's loop once worker 0 has
 * finished (the other workers finish on their own; worker_group_free waits for them). */
void worker_group_shutdown(worker_group *wg, void (*done)(void *), void *arg);
/* After worker 0's loop has returned: waits for the other workers' threads and frees the group.
 * clean: every worker closed its handles (else their loops are left to the process's exit). */
void worker_group_free(worker_group *wg, int clean);
/* The number of workers. */
unsigned worker_group_size(const worker_group *wg);

#endif
