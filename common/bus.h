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
 * TLS: a URL starting tls+tcp:// (or tls+tcp4/6) uses NNG's TLS
 * transport with mutual authentication.  bus_tls_init() loads this
 * daemon's certificate, key and CA once at start-up; from then on every
 * listener and dialer made here for a TLS URL requires a peer
 * certificate that chains to BUS_TLS_CA (NNG_TLS_AUTH_MODE_REQUIRED on
 * both sides), and a dialer also checks the name in the server's
 * certificate against the URL's host when that host is a DNS name (an IP
 * literal, such as a pod address advertised at run time, is checked by
 * chain only: a certificate from a Secret cannot name every pod IP).
 * Plain tcp://, ipc:// and inproc:// URLs are untouched.  Code that makes
 * its own dialer or listener calls bus_tls_dialer()/bus_tls_listener()
 * before starting it.  Handshake failures that NNG reports as
 * authentication errors (no certificate, unknown CA, wrong name) are
 * read from NNG's statistics and counted in
 * bus_tls_auth_failures_total{side="listen"|"dial"} on each /metrics.
 *
 * bus_request() is the blocking request helper for worker threads: each
 * attempt has its own timeout, attempts are bounded, and the envelope's
 * idempotency key stays the same on every attempt so a retry never
 * applies twice.
 */
#ifndef BUS_H
#define BUS_H

#include <stdbool.h>

#include <nng/nng.h>

#include "bus.pb-c.h"
#include "cfg.h"

#define BUS_MAX_MSG_BYTES (4 * 1024 * 1024)

/* PEM text (or empty strings when the bus is plain tcp). */
struct bus_tls {
	char *cert; /* this daemon's certificate, then any intermediates */
	char *key; /* its private key: a secret */
	char *ca; /* the CA certificate(s) every peer must chain to */
};

/* The three settings, for a service's cfg table; field names a struct
 * bus_tls member of type. */
/* clang-format off */
#define BUS_TLS_CFG_OPTS(type, field)					\
	{ "BUS_TLS_CERT", CFG_STR | CFG_FILE | CFG_TLS,			\
	    CFG_OFF(type, field.cert), "",				\
	    "PEM certificate shown to bus peers (required with tls+tcp://)" }, \
	{ "BUS_TLS_KEY", CFG_STR | CFG_SECRET | CFG_TLS,		\
	    CFG_OFF(type, field.key), "",				\
	    "PEM private key of BUS_TLS_CERT (required with tls+tcp://)" }, \
	{ "BUS_TLS_CA", CFG_STR | CFG_FILE | CFG_TLS,			\
	    CFG_OFF(type, field.ca), "",				\
	    "PEM CA certificate(s) every bus peer must chain to "	\
	    "(required with tls+tcp://)" }
/* clang-format on */

/*
 * Load and check the bus TLS settings: the CA and the certificate parse,
 * the key belongs to the certificate, the certificate chains to the CA
 * and is within its validity period (a warning when it ends within 14
 * days).  All empty: plain bus only, and any tls+tcp:// URL is refused.
 * Returns 0, or -1 with every problem logged.  Call once from main,
 * before any socket is opened; the strings are copied.
 */
int bus_tls_init(const struct bus_tls *);
/* Free what bus_tls_init kept.  End of main or tests only. */
void bus_tls_fini(void);
/* Is url one of NNG's TLS schemes? */
bool bus_is_tls_url(const char *url);
/*
 * Give a dialer or listener that is created but not started the bus TLS
 * configuration when url is a TLS URL (a no-op otherwise).  Returns 0 or
 * an nng error, logged (NNG_EINVAL when TLS was not configured).  Any
 * thread.
 */
int bus_tls_dialer(nng_dialer, const char *url);
int bus_tls_listener(nng_listener, const char *url);

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
 * nng_close(), bounded: NNG 1.5.2 (Debian 12) can block for good in
 * nng_close() on a socket whose pipes are busy or whose dialer is making
 * a pipe (nanomsg/nng#1543, #1498, fixed upstream after 1.5.2; seen here:
 * a sub socket dialling a daemon that had stopped, nng_close waiting on
 * the pipes while nng's reaper thread waits too).  The close runs on a
 * thread of its own; past timeout_ms it is left to finish whenever it can
 * (it only happens while a daemon or test is shutting the socket down)
 * and a warning is logged.  Once one close was left behind, later ones
 * wait at most 100 ms: with the reaper stuck none would finish, and a
 * shutdown must not spend its time on them.  0, or -1 when left behind.
 */
int bus_close(nng_socket, const char *name, int timeout_ms);
/* What a daemon gives each socket it closes at shutdown. */
#define BUS_CLOSE_MS 2000

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
