/*
 * webjobs.c - the blocking work of the HTTP part, on EDGE_WEB_WORKERS
 * threads, each with its own CURL handle (libcurl forbids sharing one):
 *
 *   WJ_CREATE_CALL  POST /calls: RateCheck (phone + client IP), the
 *                   provider's "create call", CallOpen to persister;
 *   WJ_INBOUND      /twiml of an inbound call: RateCheck, CallOpen, TwiML;
 *   WJ_EVENT        a status / AMD callback as CallEvent to persister;
 *   WJ_HANGUP       the provider's "update call" with Status=completed,
 *                   then EV_HANGUP_DONE so the lws thread closes the
 *                   stream (only now: see web_hangup_call);
 *   WJ_RECORD       the CallRecord of a call no ai-session served;
 *   WJ_KEYS         the provider's REST request for keys the model
 *                   presses (keys.c), tried once;
 *   WJ_NOTIFY       the signed notification to NOTIFY_WEBHOOK_URL;
 *   WJ_API_QUERY,   the calls API's reads, hang-up and do-not-call list
 *   WJ_API_HANGUP,  (api_calls.c).
 *   WJ_API_DNC
 *
 * Answers to HTTP requests go back to the lws thread as EV_WEB_REPLY.
 * Writes to persister carry an idempotency key derived from what they
 * say, so a retry (ours, or the provider's) never writes twice.
 *
 * HTTP goes through common/http: create call is tried once (a retry
 * could place a second call), hang-up three times, a notification up
 * to EDGE_NOTIFY_ATTEMPTS times with backoff (or the Retry-After asked
 * for) until a 2xx, and no further attempt once shutdown starts.
 *
 * The threads and the bounded queue (EDGE_WEB_QUEUE_MAX) are
 * common/jobs'; each thread owns its HTTP client.  A request refused by
 * a full queue is answered at once (webjobs_submit); a hang-up, call
 * event, record or notification is never dropped: it waits, in order,
 * on a deferred list offered to the queue again every second
 * (webjobs_retry, from the lws tick; edge_web_jobs_deferred_total{kind})
 * and runs at shutdown if it is still there.
 *
 * Threads: webjobs_submit() from any thread; the rest on the workers.
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "bus.h"
#include "edge.h"
#include "hmac.h"
#include "http.h"
#include "jobs.h"
#include "log.h"
#include "metrics.h"
#include "wire.h"
#include "xmalloc.h"

#define RESP_MAX (256 * 1024)

static const char refusal[]
    = "<?xml version=\"1.0\" encoding="
      "\"UTF-8\"?><Response><Say>We cannot take your call right now. "
      "Goodbye.</Say><Hangup/></Response>";
/* Hang-up: three attempts, about 1 s then 2 s apart. */
static const struct http_retry hangup_retry = { 3, 1000, 2000, NULL, NULL };

void
wjob_free(struct wjob *j)
{
	if (j == NULL)
		return;
	free(j->objective);
	free(j->context_json);
	free(j->payload);
	free(j->twiml_params);
	if (j->req != NULL)
		free(j->req->body);
	free(j->req);
	call_settings_free(&j->settings);
	free(j);
}

static void
reply(struct edge *e, const struct wjob *j, int status, const char *ctype,
    char *body, int retry_after)
{
	struct ev *ev = xcalloc(1, sizeof(*ev));

	ev->kind = EV_WEB_REPLY;
	ev->call_id = j->web_id;
	ev->status = status;
	ev->ctype = ctype;
	ev->body = body;
	ev->retry_after = retry_after;
	evq_push(&e->evq, ev);
}

static void
reply_json(struct edge *e, const struct wjob *j, int status, const char *error,
    const char *reason, int retry_after)
{
	json_t *o = json_pack("{s:s, s:s}", "error", error, "reason", reason);

	if (retry_after > 0)
		json_object_set_new(
		    o, "retry_after", json_integer(retry_after));
	reply(e, j, status, "application/json", json_dumps(o, JSON_COMPACT),
	    retry_after);
	json_decref(o);
}

void
webjobs_reply(struct edge *e, const struct wjob *j, int status,
    const char *ctype, char *body, int retry_after)
{
	reply(e, j, status, ctype, body, retry_after);
}

void
webjobs_reply_json(struct edge *e, const struct wjob *j, int status,
    const char *error, const char *reason, int retry_after)
{
	reply_json(e, j, status, error, reason, retry_after);
}

/*
 * POST with up to rt's attempts (NULL: one); 0 with *status (and
 * *respp, caller frees) or -1 (logged by common/http).
 */
static int
post(struct http_client *hc, const char *url, const char *user,
    const char *pass, const char *ctype, const char *body,
    const char *extra_hdr, const struct http_retry *rt, long *status,
    char **respp)
{
	static const struct http_retry once = { 1, 0, 0, NULL, NULL };
	struct http_req                q = { 0 };
	struct http_resp               r;
	const char                    *hdrs[3] = { NULL, NULL, NULL };
	char                           ct[96];

	snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
	hdrs[0] = ct;
	hdrs[1] = extra_hdr;
	q.url = url;
	q.headers = hdrs;
	q.body = body;
	q.user = user;
	q.pass = pass;
	if (http_request(hc, &q, rt != NULL ? rt : &once, &r) == -1)
		return (-1);
	*status = r.status;
	if (respp != NULL)
		*respp = xstrndup(r.body, r.len);
	return (0);
}

int
webjobs_post(struct http_client *hc, const struct tel_req *r, long *status)
{
	return (post(hc, r->url, r->user, r->pass, r->ctype, r->body,
	    r->hdr[0] != '\0' ? r->hdr : NULL, NULL, status, NULL));
}

/* Provider REST: create the call; 0 with the sid, or 502 and why. */
static int
create_call(struct edge *e, struct http_client *c, const struct wjob *j,
    char *sid, size_t sidlen, char *why, size_t whylen)
{
	struct tel_dial d = { j->to, j->from, e->cfg.max_call_seconds };
	struct tel_req  r = { .body = NULL };
	const char     *msg;
	char           *resp = NULL;
	json_t         *o = NULL;
	long            status = 0;
	int             rv = 502;

	if (j->settings.max_duration_s > 0
	    && j->settings.max_duration_s < e->cfg.max_call_seconds)
		d.time_limit_s = (long)j->settings.max_duration_s;
	if (e->tel->create_req(e, &d, &r) == -1) {
		snprintf(
		    why, whylen, "%s REST is not configured", e->tel->name);
		return (rv);
	}
	if (post(c, r.url, r.user, r.pass, r.ctype, r.body,
	        r.hdr[0] != '\0' ? r.hdr : NULL, NULL, &status, &resp)
	    == -1) {
		snprintf(why, whylen, "provider unreachable");
		goto out;
	}
	o = json_loads(resp != NULL ? resp : "", 0, NULL);
	msg = json_string_value(json_object_get(o, "message"));
	if (status < 200 || status > 299)
		snprintf(why, whylen, "provider answered %ld: %.120s", status,
		    msg != NULL ? msg : "");
	else if (e->tel->created_sid(resp, sid, sidlen) == -1
	    || !tel_sid_ok(e->tel, sid))
		snprintf(why, whylen, "provider answer without a call sid");
	else
		rv = 0;
out:
	json_decref(o);
	free(resp);
	free(r.body);
	return (rv);
}

/* RateCheck: 1 allowed, 0 refused (*dec filled), -1 no answer. */
static int
rate_check_full(struct edge *e, const char *phone, const char *ip,
    Bus__RateCheck__Kind kind, bool peek, char *reason, size_t rlen,
    int *retry, uint32_t *remaining)
{
	Bus__Envelope   env = BUS__ENVELOPE__INIT, *rep = NULL;
	Bus__RateCheck  rc = BUS__RATE_CHECK__INIT;
	struct wire_ids ids;
	int             rv = -1;

	if (!e->wj.rl_open)
		return (1);
	wire_env_init(&env, &ids, "", NULL);
	env.idempotency_key = ids.msg_id;
	rc.phone = (char *)phone;
	rc.client_ip = (char *)ip;
	rc.kind = kind;
	rc.peek = peek;
	env.body_case = BUS__ENVELOPE__BODY_RATE_CHECK;
	env.rate_check = &rc;
	if (bus_request(e->wj.rl, &env, &rep, 2000, 2) != 0) {
		log_warnx("rate-limiter does not answer");
		return (-1);
	}
	if (rep->body_case == BUS__ENVELOPE__BODY_RATE_DECISION) {
		rv = rep->rate_decision->allowed ? 1 : 0;
		snprintf(reason, rlen, "%s", rep->rate_decision->reason);
		*retry = (int)rep->rate_decision->retry_after_s;
		if (remaining != NULL)
			*remaining = rep->rate_decision->remaining;
	} else
		log_warnx("rate-limiter answered %s",
		    wire_type_name(rep->body_case));
	wire_free(rep);
	return (rv);
}

static int
rate_check(struct edge *e, const char *phone, const char *ip,
    Bus__RateCheck__Kind kind, char *reason, size_t rlen, int *retry)
{
	return (rate_check_full(
	    e, phone, ip, kind, false, reason, rlen, retry, NULL));
}

/* The answer to an /events query: o (consumed) to the lws thread. */
static void
events_reply(struct edge *e, const struct wjob *j, json_t *o)
{
	struct ev *ev = xcalloc(1, sizeof(*ev));

	ev->kind = EV_EVENTS_REPLY;
	ev->call_id = j->web_id;
	ev->body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	evq_push(&e->evq, ev);
}

Bus__Envelope *
webjobs_request(
    struct edge *e, bool rate_limiter, Bus__Envelope *env, int attempts)
{
	Bus__Envelope *rep = NULL;
	bool           open = rate_limiter ? e->wj.rl_open : e->wj.ps_open;

	if (!open
	    || bus_request(rate_limiter ? e->wj.rl : e->wj.ps, env, &rep, 3000,
	           attempts)
	        != 0)
		return (NULL);
	return (rep);
}

static void
run_rate_peek(struct edge *e, struct wjob *j)
{
	char     reason[200] = "";
	int      retry = 0, rv;
	uint32_t remaining = 0;

	rv = rate_check_full(e, j->to, "", BUS__RATE_CHECK__KIND__OUTBOUND,
	    true, reason, sizeof(reason), &retry, &remaining);
	events_reply(e, j,
	    json_pack("{s:s, s:s, s:b, s:I, s:i, s:s}", "type", "rate", "id",
	        j->lead_id, "allowed", rv == 1, "remaining",
	        (json_int_t)remaining, "retry_after", retry, "reason",
	        rv == -1 ? "unavailable" : reason));
}

/* A write to persister; true once acknowledged. */
static bool
persist(struct edge *e, Bus__Envelope *env, int attempts)
{
	Bus__Envelope *rep = NULL;
	bool           ok;

	if (!e->wj.ps_open)
		return (true);
	if (bus_request(e->wj.ps, env, &rep, 3000, attempts) != 0) {
		log_warnx("persister did not acknowledge %s",
		    wire_type_name(env->body_case));
		metric_inc(metric_get(e->m.records, "failed"));
		return (false);
	}
	ok = rep->body_case == BUS__ENVELOPE__BODY_ACK;
	if (!ok)
		log_warnx("persister refused %s: %s",
		    wire_type_name(env->body_case),
		    rep->body_case == BUS__ENVELOPE__BODY_ERROR
		        ? rep->error->message
		        : "?");
	metric_inc(metric_get(e->m.records, ok ? "ok" : "refused"));
	wire_free(rep);
	return (ok);
}

static void
call_open(
    struct edge *e, const struct wjob *j, const char *sid, Bus__Direction dir)
{
	Bus__Envelope     env = BUS__ENVELOPE__INIT;
	Bus__CallOpen     co = BUS__CALL_OPEN__INIT;
	Bus__CallSettings cs = BUS__CALL_SETTINGS__INIT;
	struct wire_ids   ids;
	char              key[EDGE_SID_MAX + 8];

	wire_env_init(&env, &ids, sid, NULL);
	snprintf(key, sizeof(key), "%s:open", sid);
	env.idempotency_key = key;
	co.direction = dir;
	co.provider = e->tel->id;
	co.lead_id = (char *)j->lead_id;
	co.objective = j->objective != NULL ? j->objective : "";
	co.context_json = j->context_json != NULL ? j->context_json : "";
	co.to_phone = (char *)j->to;
	co.from_phone = (char *)j->from;
	co.created_at_ms = wire_now_ms();
	cs.voice = (char *)j->settings.voice;
	cs.language = (char *)j->settings.language;
	cs.instructions
	    = j->settings.instructions != NULL ? j->settings.instructions : "";
	cs.greeting = j->settings.greeting != NULL ? j->settings.greeting : "";
	cs.metadata_json = j->settings.metadata_json != NULL
	    ? j->settings.metadata_json
	    : "";
	cs.max_duration_s = j->settings.max_duration_s;
	co.settings = &cs;
	env.body_case = BUS__ENVELOPE__BODY_CALL_OPEN;
	env.call_open = &co;
	(void)persist(e, &env, 8);
}

static void
run_create(struct edge *e, struct http_client *c, struct wjob *j)
{
	char reason[200], sid[EDGE_SID_MAX];
	int  retry = 0, rv;

	rv = rate_check(e, j->to, j->ip, BUS__RATE_CHECK__KIND__OUTBOUND,
	    reason, sizeof(reason), &retry);
	if (rv == -1) {
		reply_json(
		    e, j, 503, "unavailable", "rate limiter unavailable", 0);
		return;
	}
	if (rv == 0) {
		if (strcmp(reason, "invalid_number") == 0
		    || strcmp(reason, "country_not_allowed") == 0)
			reply_json(e, j, 400, "bad_request", reason, 0);
		else if (strcmp(reason, "do_not_call") == 0)
			reply_json(e, j, 403, "do_not_call",
			    "the number is on the do-not-call list", 0);
		else if (strcmp(reason, "outside_calling_hours") == 0
		    || strcmp(reason, "unknown_time_zone") == 0)
			reply_json(e, j, 403, "calling_hours", reason,
			    retry > 0 ? retry : 0);
		else if (strcmp(reason, "dnc_unavailable") == 0)
			reply_json(e, j, 503, "unavailable",
			    "the do-not-call list cannot be read", 0);
		else
			reply_json(e, j, 429, "rate_limited", reason,
			    retry > 0 ? retry : 1);
		return;
	}
	if (create_call(e, c, j, sid, sizeof(sid), reason, sizeof(reason))
	    != 0) {
		log_warnx("create call failed: %s", reason);
		reply_json(e, j, 502, "provider_error", reason, 0);
		return;
	}
	{
		struct log_ctx lc = { sid, NULL };

		logc_info(&lc, "outbound call created");
	}
	call_open(e, j, sid, BUS__DIRECTION__OUTBOUND);
	reply(e, j, 201, "application/json",
	    xasprintf("{\"call_sid\":\"%s\"}", sid), 0);
}

static void
run_inbound(struct edge *e, struct wjob *j)
{
	struct log_ctx lc = { j->call_sid, NULL };
	char           reason[200], *doc;
	int            retry = 0, rv;

	rv = rate_check(e, j->from, "", BUS__RATE_CHECK__KIND__INBOUND, reason,
	    sizeof(reason), &retry);
	if (rv != 1) {
		logc_info(&lc, "inbound call refused: %s",
		    rv == -1 ? "rate limiter unavailable" : reason);
		reply(e, j, 200, "text/xml", xstrdup(refusal), 0);
		return;
	}
	call_open(e, j, j->call_sid, BUS__DIRECTION__INBOUND);
	if ((doc = web_twiml_stream(e, j->call_sid, "inbound", NULL)) == NULL)
		doc = xstrdup(refusal);
	reply(e, j, 200, "text/xml", doc, 0);
}

static void
run_event(struct edge *e, struct wjob *j)
{
	Bus__Envelope   env = BUS__ENVELOPE__INIT;
	Bus__CallEvent  ce = BUS__CALL_EVENT__INIT;
	struct wire_ids ids;
	char            hex[65], key[EDGE_SID_MAX + 48];

	(void)hmac_sha256_digest_hex(j->payload, strlen(j->payload), hex);
	wire_env_init(&env, &ids, j->call_sid, NULL);
	snprintf(key, sizeof(key), "%s:ev:%.32s", j->call_sid, hex);
	env.idempotency_key = key;
	ce.kind = j->ev_kind;
	ce.status = j->status;
	ce.payload_json = j->payload;
	ce.at_ms = j->at_ms;
	ce.seq = j->seq;
	env.body_case = BUS__ENVELOPE__BODY_CALL_EVENT;
	env.call_event = &ce;
	(void)persist(e, &env, 8);
}

long
webjobs_provider_hangup(struct edge *e, struct http_client *c,
    const char *call_sid, const struct http_retry *rt)
{
	struct tel_req r = { .body = NULL };
	long           status = 0;

	if (e->tel->hangup_req(e, call_sid, &r) == -1)
		return (0);
	(void)post(c, r.url, r.user, r.pass, r.ctype, r.body,
	    r.hdr[0] != '\0' ? r.hdr : NULL, rt, &status, NULL);
	free(r.body);
	metric_inc(metric_get(
	    e->m.hangups, status >= 200 && status < 300 ? "ok" : "failed"));
	return (status);
}

/* After the provider hang-up (tried, or not configured): the stream. */
static void
hangup_done(struct edge *e, const struct wjob *j)
{
	struct ev *ev;

	if (j->call_id == 0)
		return;
	ev = xcalloc(1, sizeof(*ev));
	ev->kind = EV_HANGUP_DONE;
	ev->call_id = j->call_id;
	snprintf(ev->text, sizeof(ev->text), "%s", j->status);
	evq_push(&e->evq, ev);
}

/* A call no ai-session served: its record, with the reason, as the next
 * version of the call's record (nothing an ai-session wrote is lost:
 * persister keeps the transcript a record without one does not know). */
static void
run_record(struct edge *e, const struct wjob *j)
{
	Bus__Envelope   env = BUS__ENVELOPE__INIT;
	Bus__CallRecord cr = BUS__CALL_RECORD__INIT;
	Bus__Summary    sm = BUS__SUMMARY__INIT;
	struct wire_ids ids;
	struct log_ctx  lc = { j->call_sid, NULL };
	char            key[EDGE_SID_MAX + 24], reason[96];
	int64_t         now = wire_now_ms();
	int             i;

	wire_env_init(&env, &ids, j->call_sid, NULL);
	snprintf(key, sizeof(key), "%s:record:%u", j->call_sid, j->version);
	env.idempotency_key = key;
	snprintf(reason, sizeof(reason), "not served: %s", j->status);
	cr.direction = j->direction;
	cr.status = "failed";
	cr.started_at_ms = j->at_ms > 0 ? j->at_ms : now;
	cr.ended_at_ms = now;
	cr.duration_s = (uint32_t)((cr.ended_at_ms - cr.started_at_ms) / 1000);
	cr.end_reason = reason;
	sm.outcome = "failed";
	cr.summary = &sm;
	cr.lead_status = "retry";
	cr.version = j->version;
	env.body_case = BUS__ENVELOPE__BODY_CALL_RECORD;
	env.call_record = &cr;
	/* one try at a time, so that a stop is not held up for long */
	for (i = 0; i < 8 && !atomic_load(&e->wj.stop); i++)
		if (persist(e, &env, 1))
			return;
	logc_warnx(&lc, "record of the call not stored");
}

static void
run_hangup(struct edge *e, struct http_client *c, struct wjob *j)
{
	struct log_ctx lc = { j->call_sid, NULL };
	long           status;

	status = webjobs_provider_hangup(e, c, j->call_sid, &hangup_retry);
	logc_info(&lc, "provider hang-up (%s): HTTP %ld", j->status, status);
}

/* A notification is delivered by a 2xx answer only. */
static bool
not_2xx(const struct http_resp *r)
{
	return (!r->cancelled && !r->too_large
	    && (r->status < 200 || r->status > 299));
}

static void
run_notify(struct edge *e, struct http_client *c, struct wjob *j)
{
	struct log_ctx    lc = { j->call_sid, NULL };
	char              hex[65], hdr[96];
	long              status = 0;
	struct http_retry rt
	    = { e->cfg.notify_attempts, 1000, 60000, not_2xx, &e->wj.stop };

	if (hmac_sha256_hex(
	        e->cfg.notify_secret, j->payload, strlen(j->payload), hex)
	    != 0)
		return;
	snprintf(hdr, sizeof(hdr), "X-Signature: sha256=%s", hex);
	if (rt.attempts < 1)
		rt.attempts = 1;
	if (post(c, e->cfg.notify_url, NULL, NULL, "application/json",
	        j->payload, hdr, &rt, &status, NULL)
	        == 0
	    && status >= 200 && status < 300) {
		metric_inc(metric_get(e->m.notify, "ok"));
		return;
	}
	logc_warnx(
	    &lc, "notification not accepted (last answer HTTP %ld)", status);
	metric_inc(metric_get(e->m.notify, "failed"));
}

/* What each web thread owns. */
struct wthread {
	struct edge       *e;
	struct http_client hc;
	bool               http_ok;
};

/* common/jobs thread_init, on the new web thread. */
static void *
wthread_init(void *arg, int n)
{
	struct edge     *e = arg;
	struct wthread  *t = xcalloc(1, sizeof(*t));
	struct http_opts o = { 0 };

	t->e = e;
	o.connect_timeout_ms = e->cfg.provider_timeout_ms;
	o.timeout_ms = e->cfg.provider_timeout_ms;
	o.max_body = RESP_MAX;
	t->http_ok = http_client_init(&t->hc, &o) == 0;
	return (t);
}

static void
wthread_fini(void *arg, void *ts)
{
	struct wthread *t = ts;

	http_client_fini(&t->hc);
	free(t);
}

/* A web thread: one job. */
static void
run(void *arg, void *ts)
{
	struct wjob    *j = arg;
	struct wthread *t = ts;
	struct edge    *e = t->e;

	if (!t->http_ok
	    && (j->kind == WJ_CREATE_CALL || j->kind == WJ_HANGUP
	        || j->kind == WJ_NOTIFY || j->kind == WJ_API_HANGUP
	        || j->kind == WJ_KEYS)) {
		log_warnx("no HTTP client");
		if (j->kind == WJ_KEYS)
			keys_rest_failed(
			    e, j, "media-edge has no HTTP client");
		else
			reply_json(e, j, 500, "internal", "no HTTP client", 0);
	} else if (j->kind == WJ_KEYS)
		keys_run(e, &t->hc, j);
	else if (j->kind == WJ_CREATE_CALL)
		run_create(e, &t->hc, j);
	else if (j->kind == WJ_INBOUND)
		run_inbound(e, j);
	else if (j->kind == WJ_EVENT)
		run_event(e, j);
	else if (j->kind == WJ_RECORD)
		run_record(e, j);
	else if (j->kind == WJ_HANGUP)
		run_hangup(e, &t->hc, j);
	else if (j->kind == WJ_RATE_PEEK)
		run_rate_peek(e, j);
	else if (j->kind == WJ_API_QUERY || j->kind == WJ_API_HANGUP
	    || j->kind == WJ_API_DNC)
		api_job(e, &t->hc, j);
	else
		run_notify(e, &t->hc, j);
	if (j->kind == WJ_HANGUP)
		hangup_done(e, j); /* with or without an HTTP client */
	wjob_free(j);
}

static const char *
kind_name(enum wjob_kind k)
{
	switch (k) {
	case WJ_HANGUP:
		return ("hangup");
	case WJ_EVENT:
		return ("event");
	case WJ_RECORD:
		return ("record");
	case WJ_NOTIFY:
		return ("notify");
	default:
		return ("other");
	}
}

/* What must not be lost: kept when the queue is full. */
static bool
kept(enum wjob_kind k)
{
	return (k == WJ_HANGUP || k == WJ_EVENT || k == WJ_RECORD
	    || k == WJ_NOTIFY);
}

/* A kept job into the queue, or onto the deferred list behind those
 * already there (a call's events stay in order): true when deferred. */
static bool
submit_kept(struct webjobs *w, struct wjob *j)
{
	bool deferred = false;

	pthread_mutex_lock(&w->mtx);
	if (w->deferred != NULL || w->q == NULL
	    || jobs_submit(w->q, run, j) == -1) {
		j->next = NULL;
		if (w->deferred_tail != NULL)
			w->deferred_tail->next = j;
		else
			w->deferred = j;
		w->deferred_tail = j;
		deferred = true;
	}
	pthread_mutex_unlock(&w->mtx);
	return (deferred);
}

bool
webjobs_retry(struct webjobs *w)
{
	struct wjob *j, *next;
	bool         empty;

	pthread_mutex_lock(&w->mtx);
	/* next read first: once submitted, j is the worker's */
	while ((j = w->deferred) != NULL && w->q != NULL && jobs_has_room(w->q)
	    && ((next = j->next), jobs_submit(w->q, run, j) == 0))
		if ((w->deferred = next) == NULL)
			w->deferred_tail = NULL;
	empty = w->deferred == NULL;
	pthread_mutex_unlock(&w->mtx);
	return (empty);
}

/*
 * Refused by a full queue: a waiting HTTP request gets its answer now
 * (503, the inbound refusal, an unavailable rate answer); a callback,
 * hang-up, record or notification is deferred (submit_kept).
 */
void
webjobs_submit(struct webjobs *w, struct wjob *j)
{
	struct edge   *e = w->edge;
	struct log_ctx lc = { j->call_sid, NULL };

	if (kept(j->kind)) {
		if (submit_kept(w, j)) {
			metric_inc(
			    metric_get(w->m_deferred, kind_name(j->kind)));
			logc_warnx(&lc, "web job queue full: %s deferred",
			    kind_name(j->kind));
		}
		return;
	}
	if (w->q != NULL && jobs_submit(w->q, run, j) == 0)
		return;
	if (j->kind == WJ_CREATE_CALL || j->kind == WJ_API_QUERY
	    || j->kind == WJ_API_HANGUP || j->kind == WJ_API_DNC)
		reply_json(e, j, 503, "unavailable", "server busy", 1);
	else if (j->kind == WJ_INBOUND)
		reply(e, j, 200, "text/xml", xstrdup(refusal), 0);
	else if (j->kind == WJ_KEYS)
		keys_rest_failed(e, j, "media-edge is too busy");
	else if (j->kind == WJ_RATE_PEEK)
		events_reply(e, j,
		    json_pack("{s:s, s:s, s:b, s:s}", "type", "rate", "id",
		        j->lead_id, "allowed", 0, "reason", "unavailable"));
	wjob_free(j);
}

int
webjobs_start(struct edge *e)
{
	struct webjobs  *w = &e->wj;
	struct jobs_conf jc;

	w->edge = e;
	pthread_mutex_init(&w->mtx, NULL);
	w->m_deferred = metrics_counter("edge_web_jobs_deferred_total",
	    "Hang-ups, events, records and notifications the full web job "
	    "queue refused, kept and retried, by kind",
	    "kind");
	(void)metric_get(w->m_deferred, "hangup");
	if (e->cfg.rate_limiter_url[0] != '\0') {
		if (bus_req_dial(
		        &w->rl, "rate_limiter", e->cfg.rate_limiter_url)
		    != 0)
			return (-1);
		w->rl_open = true;
	} else
		log_warnx(
		    "RATE_LIMITER_URL empty: calls are not rate-checked");
	if (e->cfg.persister_url[0] != '\0') {
		if (bus_req_dial(&w->ps, "persister", e->cfg.persister_url)
		    != 0)
			return (-1);
		w->ps_open = true;
	}
	memset(&jc, 0, sizeof(jc));
	jc.name = "web";
	jc.threads = e->cfg.web_workers;
	jc.max_queued = (int)e->cfg.web_queue_max;
	jc.thread_init = wthread_init;
	jc.thread_fini = wthread_fini;
	jc.arg = e;
	if ((w->q = jobs_new(&jc)) == NULL)
		return (-1);
	return (0);
}

void
webjobs_stop(struct webjobs *w)
{
	struct wjob *j, *next;

	atomic_store(&w->stop, 1); /* no further notification attempt */
	/* what waits goes in as the queue empties, then is drained */
	while (w->q != NULL && !webjobs_retry(w))
		nng_msleep(10);
	jobs_free(w->q, JOBS_DRAIN); /* every request queued is answered */
	pthread_mutex_lock(&w->mtx);
	w->q = NULL;
	j = w->deferred;
	w->deferred = w->deferred_tail = NULL;
	pthread_mutex_unlock(&w->mtx);
	for (; j != NULL; j = next) {
		next = j->next;
		wjob_free(j);
	}
	if (w->rl_open)
		(void)bus_close(w->rl, "rate-limiter request", BUS_CLOSE_MS);
	if (w->ps_open)
		(void)bus_close(w->ps, "persister request", BUS_CLOSE_MS);
	w->rl_open = w->ps_open = false;
}
