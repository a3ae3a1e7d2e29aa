/*
 * bus - NNG sockets for the daemons: the ONLY file (with wire.c) that
 * sets nng up, so a move to nng 2.x touches two files.
 *
 * Every socket gets NNG_OPT_RECVMAXSZ (BUS_MAX_MSG_BYTES), reconnect
 * backoff (100 ms doubling to 2 s) and pipe add/remove counters exported
 * as the gauge bus_peers_connected{socket="<name>"} and the counter
 * bus_pipe_events_total{socket,event}.  Dials never block start-up: a
 * peer that is not there yet is dialled again in the background.
 *
 * bus_request() is the blocking request helper for worker threads: each
 * attempt has its own timeout, attempts are bounded, and the envelope's
 * idempotency key stays the same on every attempt so a retry never
 * applies twice.
 */
#ifndef BUS_H
#define BUS_H

#include <nng/nng.h>

#include "bus.pb-c.h"

#define BUS_MAX_MSG_BYTES (4 * 1024 * 1024)

/* Open and listen (rep, pub) or dial (req, sub).  name labels metrics.
 * Return 0 or an nng error, logged. */
int bus_rep_listen(nng_socket *, const char *name, const char *url);
int bus_pub_listen(nng_socket *, const char *name, const char *url);
int bus_req_dial(nng_socket *, const char *name, const char *url);
int bus_sub_open(nng_socket *, const char *name);
/* Add one more dial to an open socket (sub: one per peer pub socket). */
int bus_dial(nng_socket, const char *url, nng_dialer *);
/* Subscribe / unsubscribe to "<topic>\0" on a sub socket. */
int bus_subscribe(nng_socket, const char *topic);
int bus_unsubscribe(nng_socket, const char *topic);
/* Every topic: for taps and tests. */
int bus_subscribe_all(nng_socket);
/* Queue depths: how many messages a socket may hold before it drops. */
int bus_set_buffers(nng_socket, int recv, int send);

/*
 * Send req on sock and wait for the reply, at most attempts tries of
 * timeout_ms each.  Blocks: worker threads only.  On success *repp is the
 * reply (free with wire_free); an Error reply is returned as a reply, not
 * a failure.  Returns 0 or an nng error (NNG_ETIMEDOUT after the last
 * attempt).
 */
int bus_request(nng_socket sock, const Bus__Envelope *req,
    Bus__Envelope **repp, int timeout_ms, int attempts);

#endif
