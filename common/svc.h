/*
 * svc - what every daemon shares: the request socket with its worker
 * pool, Ping, /health, /ready and /metrics, and bounded shutdown.
 *
 * A daemon fills a struct svc_conf and calls svc_start().  svc binds
 * rep_url, starts `workers` threads (each owns one nng_ctx and one aio
 * and may block: libpq, libcurl) and the HTTP listener.  Each request is
 * unpacked once; Ping is answered here (name, version, uptime, active
 * work); everything else goes to conf->handle, which fills a struct reply.
 * Garbage on the socket is answered with Error{BAD_REQUEST}, logged and
 * counted; it never stops a worker.
 *
 * Threads: handle() runs on the worker threads, several at once.
 * worker_init()/worker_fini() run on the worker thread itself.
 */
#ifndef SVC_H
#define SVC_H

#include <stdarg.h>
#include <stdbool.h>

#include "bus.pb-c.h"

struct svc;

/* What a handler answers.  Body structs in `u` may point at strings the
 * handler owns; cleanup (if set) runs after the reply has been packed. */
struct reply {
	Bus__Envelope env;
	union {
		Bus__Pong           pong;
		Bus__Ack            ack;
		Bus__Error          error;
		Bus__SessionStarted session_started;
		Bus__RateDecision   rate_decision;
		Bus__ReasonDecision reason_decision;
		Bus__Summary        summary;
		Bus__CallContext    call_context;
	} u;
	char errmsg[256];
	void (*cleanup)(void *);
	void *cleanup_arg;
};

struct svc_conf {
	const char *name; /* "persister" */
	const char *about; /* one line for logs */
	const char *rep_url; /* request socket to listen on */
	int         workers;
	/* Answer one request; return 0, or -1 to answer INTERNAL. */
	int (*handle)(
	    struct svc *, const Bus__Envelope *, struct reply *, void *worker);
	void *(*worker_init)(struct svc *, int n);
	void (*worker_fini)(void *worker);
	const char *http_addr; /* NULL: no HTTP listener */
	long        http_port;
	/* Optional: write the /health (ready=0) or /ready (ready=1) body and
	 * return the HTTP status.  Default: healthy, active, uptime. */
	int (*health)(struct svc *, int ready, char *, size_t);
	void *arg; /* the daemon's own state */
};

int svc_start(struct svc **, const struct svc_conf *);
/* Close the socket, wait for the workers, stop HTTP.  Blocks. */
void        svc_stop(struct svc *);
void       *svc_arg(const struct svc *);
const char *svc_name(const struct svc *);
const char *svc_instance(void);
double      svc_uptime(const struct svc *);
/* Work in progress (calls, requests): shown by Ping and /health. */
long svc_active(const struct svc *);
void svc_active_add(struct svc *, long delta);

void reply_ack(struct reply *, bool duplicate, bool spooled);
void reply_error(struct reply *, Bus__Error__Code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Set the reply body: body_case and a pointer to the body message. */
void reply_body(struct reply *, Bus__Envelope__BodyCase, void *body);

#endif
