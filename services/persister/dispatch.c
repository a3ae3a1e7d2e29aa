/*
 * dispatch - the persister's request handler: one switch on the body.
 *
 * A write is answered only once it is durable:
 *	applied in PostgreSQL		-> Ack{}
 *	its key was applied before	-> Ack{duplicate}
 *	database unreachable		-> appended to the fsync'd journal,
 *					   Ack{spooled}; replayed later
 *	journal full or unwritable	-> Error{UNAVAILABLE} (sender retries)
 *	the request is wrong		-> Error{BAD_REQUEST} (do not retry)
 *	other SQL failure		-> Error{INTERNAL} (sender retries)
 * Reads (GetCallContext, CallQuery) need the database: Error{UNAVAILABLE}
 * without.
 *
 * Threads: svc worker threads; each owns a struct ps_worker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include "log.h"
#include "persister.h"
#include "svc.h"
#include "wire.h"
#include "xmalloc.h"

struct ps_worker {
	struct ps *ps;
	struct pg  pg;
};

void *
ps_worker_init(struct svc *s, int n)
{
	struct ps_worker *w = xcalloc(1, sizeof(*w));

	w->ps = svc_arg(s);
	if (pg_init(&w->pg, w->ps->cfg.database_url, "persister") == -1)
		fatalx("worker %d: bad DATABASE_URL", n);
	return (w);
}

void
ps_worker_fini(void *arg)
{
	struct ps_worker *w = arg;

	pg_fini(&w->pg);
	free(w);
}

/* Seal the packed envelope (it holds phone numbers) and append it. */
static enum journal_rv
journal_put(struct ps *ps, const void *buf, size_t len)
{
	unsigned char  *sealed = xmalloc(len + SEAL_OVERHEAD);
	enum journal_rv r = JOURNAL_IOERR;
	int             n;

	n = seal_encrypt(ps->phone_key, buf, len, PS_JOURNAL_AAD, sealed,
	    len + SEAL_OVERHEAD);
	if (n != -1)
		r = journal_append(&ps->journal, sealed, (size_t)n);
	free(sealed);
	return (r);
}

/* Append the envelope to the journal and answer for it. */
static void
spool(struct ps *ps, const Bus__Envelope *env, struct reply *out)
{
	const char     *type = wire_type_name(env->body_case);
	nng_msg        *msg;
	enum journal_rv r = JOURNAL_IOERR;
	off_t           bytes;
	long            recs;

	if (wire_pack(env, &msg) == 0) {
		r = journal_put(ps, nng_msg_body(msg), nng_msg_len(msg));
		nng_msg_free(msg);
	}
	ps_journal_gauges(ps);
	switch (r) {
	case JOURNAL_OK:
		ps_count(type, "spooled");
		ps_kick(ps);
		reply_ack(out, false, true);
		return;
	case JOURNAL_FULL:
		journal_depth(&ps->journal, &bytes, &recs);
		ps_count(type, "refused");
		log_warnx("%s refused: database unavailable and spool full "
		          "(%lld bytes, %ld records)",
		    type, (long long)bytes, recs);
		reply_error(out, BUS__ERROR__CODE__UNAVAILABLE,
		    "database unavailable and local spool full "
		    "(PERSISTER_SPOOL_MAX_BYTES=%ld); retry later",
		    ps->cfg.spool_max_bytes);
		return;
	default:
		ps_count(type, "refused");
		reply_error(out, BUS__ERROR__CODE__UNAVAILABLE,
		    "database unavailable and local spool write failed; "
		    "retry later");
		return;
	}
}

static int
handle_write(struct ps_worker *w, const Bus__Envelope *env, struct reply *out)
{
	const char   *type = wire_type_name(env->body_case);
	char          err[200];
	enum store_rv r;
	bool          was_up;

	if (!ps_migrated()) {
		spool(w->ps, env, out); /* the schema is not there yet */
		return (0);
	}
	was_up = pg_is_up(&w->pg);
	r = store_apply(&w->pg, w->ps->phone_key, env, err, sizeof(err));
	if (r == STORE_UNAVAILABLE && was_up && !pg_is_up(&w->pg))
		/* the connection died while idle: one fresh try */
		r = store_apply(
		    &w->pg, w->ps->phone_key, env, err, sizeof(err));
	ps_set_db_up(r != STORE_UNAVAILABLE);
	log_debug("%s: %s", type,
	    r == STORE_OK                ? "stored"
	        : r == STORE_DUPLICATE   ? "duplicate key, nothing to do"
	        : r == STORE_UNAVAILABLE ? "database unavailable"
	                                 : "failed");
	switch (r) {
	case STORE_OK:
		ps_count(type, "ok");
		reply_ack(out, false, false);
		break;
	case STORE_DUPLICATE:
		ps_count(type, "duplicate");
		reply_ack(out, true, false);
		break;
	case STORE_UNAVAILABLE:
		spool(w->ps, env, out);
		break;
	case STORE_BAD:
		ps_count(type, "bad_request");
		log_warnx("%s rejected: %s", type, err);
		reply_error(out, BUS__ERROR__CODE__BAD_REQUEST, "%s", err);
		break;
	default:
		ps_count(type, "error");
		reply_error(out, BUS__ERROR__CODE__INTERNAL, "%s", err);
		break;
	}
	return (0);
}

/* GetCallContext and CallQuery: reads need the database. */
static int
handle_read(struct ps_worker *w, const Bus__Envelope *env, struct reply *out)
{
	const char   *type = wire_type_name(env->body_case);
	enum store_rv r;

	if (env->body_case == BUS__ENVELOPE__BODY_GET_CALL_CONTEXT) {
		if (env->call_sid == NULL || env->call_sid[0] == '\0') {
			reply_error(out, BUS__ERROR__CODE__BAD_REQUEST,
			    "get_call_context without a call_sid");
			return (0);
		}
		r = context_get(&w->pg, env->call_sid, out);
	} else
		r = query_calls(&w->pg, env->call_query, out);
	ps_set_db_up(r != STORE_UNAVAILABLE);
	if (r == STORE_UNAVAILABLE)
		reply_error(out, BUS__ERROR__CODE__UNAVAILABLE,
		    "database unavailable; retry later");
	else if (r != STORE_OK)
		reply_error(
		    out, BUS__ERROR__CODE__INTERNAL, "%s query failed", type);
	ps_count(type, r == STORE_OK ? "ok" : "error");
	return (0);
}

int
ps_handle(
    struct svc *s, const Bus__Envelope *env, struct reply *out, void *worker)
{
	switch (env->body_case) {
	case BUS__ENVELOPE__BODY_CALL_OPEN:
	case BUS__ENVELOPE__BODY_CALL_EVENT:
	case BUS__ENVELOPE__BODY_TRANSCRIPT_TURN:
	case BUS__ENVELOPE__BODY_CALL_RECORD:
		return (handle_write(worker, env, out));
	case BUS__ENVELOPE__BODY_GET_CALL_CONTEXT:
	case BUS__ENVELOPE__BODY_CALL_QUERY:
		return (handle_read(worker, env, out));
	default:
		log_warnx(
		    "unsupported request %s", wire_type_name(env->body_case));
		ps_count(wire_type_name(env->body_case), "unsupported");
		reply_error(out, BUS__ERROR__CODE__UNSUPPORTED,
		    "persister does not handle %s",
		    wire_type_name(env->body_case));
		return (0);
	}
}
