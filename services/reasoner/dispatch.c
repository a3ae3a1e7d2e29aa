/*
 * dispatch.c - one request off the socket: pick the handler by body
 * case, apply the concurrency cap, count the result.
 *
 * svc has already answered Ping and garbage, and set the log context
 * (call sid, trace id) for this thread.  The cap is a counter, not a
 * queue: a request over REASONER_MAX_INFLIGHT is answered OVERLOADED at
 * once so that the caller can go on without the answer (a decision) or
 * try again later (a summary), instead of waiting for a slot behind
 * requests that may each take seconds.  Worker threads.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "reasoner.h"
#include "wire.h"
#include "xmalloc.h"

/* The handler's own cleanup, wrapped so we learn when the reply is out. */
struct done {
	struct reasoner *r;
	void (*cleanup)(void *);
	void *cleanup_arg;
};

static const char *
result_name(const struct reply *rep)
{
	if (rep->env.body_case != BUS__ENVELOPE__BODY_ERROR)
		return ("ok");
	switch (rep->u.error.code) {
	case BUS__ERROR__CODE__BAD_REQUEST:
		return ("bad_request");
	case BUS__ERROR__CODE__UNAVAILABLE:
		return ("unavailable");
	case BUS__ERROR__CODE__TIMEOUT:
		return ("timeout");
	case BUS__ERROR__CODE__OVERLOADED:
		return ("overloaded");
	default:
		return ("error");
	}
}

/* Runs after svc has sent the reply: the request is over. */
static void
done_cb(void *arg)
{
	struct done *d = arg;

	if (d->cleanup != NULL)
		d->cleanup(d->cleanup_arg);
	atomic_fetch_sub(&d->r->busy, 1);
	free(d);
}

static void
serve(struct svc *svc, struct reasoner *r, struct worker *w,
    const Bus__Envelope *env, struct reply *rep)
{
	const char *kind;

	switch (env->body_case) {
	case BUS__ENVELOPE__BODY_REASON_REQUEST:
		kind = "decision";
		break;
	case BUS__ENVELOPE__BODY_SUMMARIZE_REQUEST:
		kind = "summary";
		break;
	default:
		log_warnx("request of type %s is not ours; answered "
		          "UNSUPPORTED",
		    wire_type_name(env->body_case));
		reply_error(rep, BUS__ERROR__CODE__UNSUPPORTED,
		    "the reasoner does not handle %s",
		    wire_type_name(env->body_case));
		stats_request("other", "unsupported");
		return;
	}
	if (w == NULL || atomic_load(&r->stopping)) {
		reply_error(rep, BUS__ERROR__CODE__UNAVAILABLE, "%s",
		    w == NULL ? "worker has no HTTP client" : "shutting down");
		stats_request(kind, result_name(rep));
		return;
	}
	if (atomic_fetch_add(&r->inflight, 1) >= r->cfg.max_inflight) {
		atomic_fetch_sub(&r->inflight, 1);
		log_warnx("%s refused: %ld requests in flight", kind,
		    r->cfg.max_inflight);
		reply_error(rep, BUS__ERROR__CODE__OVERLOADED,
		    "reasoner at capacity (%ld in flight)",
		    r->cfg.max_inflight);
		stats_request(kind, result_name(rep));
		return;
	}
	stats_inflight(1);
	svc_active_add(svc, 1);
	if (env->body_case == BUS__ENVELOPE__BODY_REASON_REQUEST)
		(void)decision_handle(w, env->reason_request, rep);
	else
		(void)summary_handle(w, env->summarize_request, rep);
	svc_active_add(svc, -1);
	stats_inflight(-1);
	atomic_fetch_sub(&r->inflight, 1);
	stats_request(kind, result_name(rep));
}

int
dispatch(
    struct svc *svc, const Bus__Envelope *env, struct reply *rep, void *arg)
{
	struct reasoner *r = svc_arg(svc);
	struct done     *d = xcalloc(1, sizeof(*d));

	/* busy counts requests until their reply is sent, so that
	 * reasoner_stop() closes the socket only once the requests it woke
	 * have been answered. */
	atomic_fetch_add(&r->busy, 1);
	serve(svc, r, arg, env, rep);
	d->r = r;
	d->cleanup = rep->cleanup;
	d->cleanup_arg = rep->cleanup_arg;
	rep->cleanup = done_cb;
	rep->cleanup_arg = d;
	return (0);
}
