/*
 * svc - request socket, worker pool, Ping and the HTTP endpoints; see
 * svc.h.
 *
 * Each worker owns one nng_ctx and one aio with no callback and waits on
 * it (style.md's worker pool), so handlers may block on SQL or HTTP.
 * Shutdown closes the socket: every pending aio finishes with NNG_ECLOSED
 * and the workers leave their loops; then they are joined.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>

#include "bus.h"
#include "cfg.h"
#include "httpd.h"
#include "log.h"
#include "metrics.h"
#include "svc.h"
#include "wire.h"
#include "xmalloc.h"

struct worker {
	struct svc *svc;
	int         n;
	pthread_t   thread;
	nng_ctx     ctx;
	nng_aio    *aio;
	void       *state;
};

struct svc {
	struct svc_conf       conf;
	nng_socket            rep;
	struct worker        *workers;
	struct httpd         *httpd;
	struct timespec       started;
	_Atomic long          active;
	struct metric_family *fam_req, *fam_dur;
	struct metric        *bad;
};

static char instance[128];

const char *
svc_instance(void)
{
	char host[64];

	if (instance[0] == '\0') {
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		snprintf(instance, sizeof(instance), "%s:%ld", host,
		    (long)getpid());
	}
	return (instance);
}

void *
svc_arg(const struct svc *s)
{
	return (s->conf.arg);
}

const char *
svc_name(const struct svc *s)
{
	return (s->conf.name);
}

double
svc_uptime(const struct svc *s)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return ((double)(now.tv_sec - s->started.tv_sec)
	    + (double)(now.tv_nsec - s->started.tv_nsec) / 1e9);
}

long
svc_active(const struct svc *s)
{
	return (atomic_load(&s->active));
}

void
svc_active_add(struct svc *s, long delta)
{
	atomic_fetch_add(&s->active, delta);
}

void
reply_body(struct reply *r, Bus__Envelope__BodyCase c, void *body)
{
	/* Every member of the oneof is a pointer in one union. */
	r->env.body_case = c;
	r->env.ping = body;
}

void
reply_ack(struct reply *r, bool duplicate, bool spooled)
{
	bus__ack__init(&r->u.ack);
	r->u.ack.duplicate = duplicate;
	r->u.ack.spooled = spooled;
	reply_body(r, BUS__ENVELOPE__BODY_ACK, &r->u.ack);
}

void
reply_error(struct reply *r, Bus__Error__Code code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->errmsg, sizeof(r->errmsg), fmt, ap);
	va_end(ap);
	bus__error__init(&r->u.error);
	r->u.error.code = code;
	r->u.error.message = r->errmsg;
	reply_body(r, BUS__ENVELOPE__BODY_ERROR, &r->u.error);
}

static void
reply_pong(struct svc *s, struct reply *r)
{
	bus__pong__init(&r->u.pong);
	r->u.pong.service = (char *)s->conf.name;
	r->u.pong.version = (char *)cfg_version;
	r->u.pong.uptime_s = svc_uptime(s);
	r->u.pong.active = svc_active(s);
	r->u.pong.instance = (char *)svc_instance();
	reply_body(r, BUS__ENVELOPE__BODY_PONG, &r->u.pong);
}

/* Worker thread: build the reply to one request message. */
static const char *
answer(struct worker *w, nng_msg *msg, struct reply *r, Bus__Envelope **reqp)
{
	struct svc    *s = w->svc;
	Bus__Envelope *req;
	struct log_ctx lc;
	int            rv;

	if ((rv = wire_unpack(msg, &req)) == NNG_EMSGSIZE) {
		/* wire logged and counted it (field and length only) */
		reply_error(
		    r, BUS__ERROR__CODE__BAD_REQUEST, "%s", wire_refusal());
		return ("oversized");
	}
	if (rv != 0) {
		metric_inc(s->bad);
		log_warnx("request socket: %zu bytes that are not a "
		          "bus.Envelope; answered BAD_REQUEST",
		    nng_msg_len(msg));
		reply_error(
		    r, BUS__ERROR__CODE__BAD_REQUEST, "not a bus.Envelope");
		return ("garbage");
	}
	*reqp = req;
	lc.call_sid = req->call_sid;
	lc.trace_id = req->trace_id;
	log_ctx_set(&lc);
	if (req->body_case == BUS__ENVELOPE__BODY_PING)
		reply_pong(s, r);
	else if (s->conf.handle(s, req, r, w->state) == -1
	    || r->env.body_case == BUS__ENVELOPE__BODY__NOT_SET)
		reply_error(r, BUS__ERROR__CODE__INTERNAL, "%s failed",
		    wire_type_name(req->body_case));
	log_ctx_set(NULL);
	return (wire_type_name(req->body_case));
}

static void
serve_one(struct worker *w, nng_msg *msg)
{
	struct svc     *s = w->svc;
	struct reply    r;
	struct wire_ids ids;
	Bus__Envelope  *req = NULL;
	nng_msg        *out;
	const char     *type;
	int64_t         t0 = wire_now_ms();

	memset(&r, 0, sizeof(r));
	bus__envelope__init(&r.env);
	type = answer(w, msg, &r, &req);
	nng_msg_free(msg);
	wire_env_init(&r.env, &ids, req != NULL ? req->call_sid : "",
	    req != NULL ? req->trace_id : NULL);
	if (req != NULL)
		r.env.idempotency_key = req->idempotency_key;
	if (wire_pack(&r.env, &out) == 0) {
		nng_aio_set_msg(w->aio, out);
		nng_ctx_send(w->ctx, w->aio);
		nng_aio_wait(w->aio);
		if (nng_aio_result(w->aio) != 0)
			nng_msg_free(out); /* unsent: still ours */
	}
	metric_inc(metric_get(s->fam_req, type,
	    r.env.body_case == BUS__ENVELOPE__BODY_ERROR ? "error" : "ok"));
	metric_observe(metric_get(s->fam_dur, type),
	    (double)(wire_now_ms() - t0) / 1000.0);
	if (r.cleanup != NULL)
		r.cleanup(r.cleanup_arg);
	wire_free(req);
}

/* Worker thread: may block.  Exits when the socket is closed. */
static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	int            rv;

	if (w->svc->conf.worker_init != NULL)
		w->state = w->svc->conf.worker_init(w->svc, w->n);
	for (;;) {
		nng_ctx_recv(w->ctx, w->aio);
		nng_aio_wait(w->aio);
		rv = nng_aio_result(w->aio);
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			break; /* svc_stop: the aio was stopped */
		if (rv != 0)
			continue;
		serve_one(w, nng_aio_get_msg(w->aio));
	}
	if (w->svc->conf.worker_fini != NULL)
		w->svc->conf.worker_fini(w->state);
	return (NULL);
}

static int
default_health(void *arg, int ready, char *buf, size_t len)
{
	struct svc *s = arg;

	if (s->conf.health != NULL)
		return (s->conf.health(s, ready, buf, len));
	httpd_health_json(buf, len, "healthy", svc_active(s), svc_uptime(s));
	return (200);
}

static int
start_workers(struct svc *s)
{
	static const double bounds[]
	    = { 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5 };
	int i;

	s->fam_req = metrics_counter("bus_requests_total",
	    "Requests answered on the request socket", "type,result");
	s->fam_dur = metrics_histogram("bus_request_duration_seconds",
	    "Time to answer a request", "type", bounds,
	    sizeof(bounds) / sizeof(bounds[0]));
	s->bad = metrics_counter1("bus_bad_messages_total",
	    "Messages on the request socket that were not envelopes");
	s->workers = xcalloc((size_t)s->conf.workers, sizeof(*s->workers));
	for (i = 0; i < s->conf.workers; i++) {
		struct worker *w = &s->workers[i];

		w->svc = s;
		w->n = i;
		if (nng_ctx_open(&w->ctx, s->rep) != 0
		    || nng_aio_alloc(&w->aio, NULL, NULL) != 0
		    || pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			log_warnx("cannot start worker %d", i);
			return (-1);
		}
	}
	return (0);
}

int
svc_start(struct svc **sp, const struct svc_conf *conf)
{
	struct svc       *s = xcalloc(1, sizeof(*s));
	struct httpd_conf hc = { 0 };
	char              sender[192];

	s->conf = *conf;
	if (s->conf.workers < 1)
		s->conf.workers = 1;
	clock_gettime(CLOCK_MONOTONIC, &s->started);
	metrics_init(conf->name, cfg_version);
	snprintf(sender, sizeof(sender), "%s/%s", conf->name, svc_instance());
	wire_set_sender(xstrdup(sender));
	if (bus_rep_listen(&s->rep, "rep", conf->rep_url) != 0)
		goto fail;
	if (conf->handle != NULL && start_workers(s) == -1)
		goto fail;
	if (conf->http_addr != NULL) {
		hc.addr = conf->http_addr;
		hc.port = (int)conf->http_port;
		hc.health = default_health;
		hc.arg = s;
		if ((s->httpd = httpd_start(&hc)) == NULL)
			goto fail;
	}
	*sp = s;
	return (0);
fail:
	svc_stop(s);
	return (-1);
}

/*
 * Stop every worker's aio first: a pending receive ends with ECANCELED and
 * any later operation on a stopped aio fails at once, so a worker that is
 * still inside a handler cannot touch its context after this.  Only when
 * every worker has left is the socket closed (closing it under a worker
 * that is sending makes nng 1.5 abort).
 */
void
svc_stop(struct svc *s)
{
	int i;

	if (s == NULL)
		return;
	for (i = 0; s->workers != NULL && i < s->conf.workers; i++)
		if (s->workers[i].aio != NULL)
			nng_aio_stop(s->workers[i].aio);
	for (i = 0; s->workers != NULL && i < s->conf.workers; i++) {
		struct worker *w = &s->workers[i];

		if (w->thread != 0)
			pthread_join(w->thread, NULL);
		if (w->aio != NULL)
			nng_aio_free(w->aio);
	}
	(void)bus_close(s->rep, "rep", BUS_CLOSE_MS);
	free(s->workers);
	if (s->httpd != NULL)
		httpd_stop(s->httpd);
	free(s);
}
