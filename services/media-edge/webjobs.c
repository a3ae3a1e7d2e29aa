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
 *   WJ_NOTIFY       the signed notification to NOTIFY_WEBHOOK_URL.
 *
 * Answers to HTTP requests go back to the lws thread as EV_WEB_REPLY.
 * Writes to persister carry an idempotency key derived from what they
 * say, so a retry (ours, or the provider's) never writes twice.
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
#include "log.h"
#include "metrics.h"
#include "wire.h"
#include "xmalloc.h"

#define RESP_MAX (256 * 1024)

struct buf {
	char  *p;
	size_t len;
};

void
wjob_free(struct wjob *j)
{
	if (j == NULL)
		return;
	free(j->objective);
	free(j->context_json);
	free(j->payload);
	free(j->twiml_params);
	free(j);
}

void
webjobs_submit(struct webjobs *w, struct wjob *j)
{
	j->next = NULL;
	pthread_mutex_lock(&w->lock);
	if (w->last != NULL)
		w->last->next = j;
	else
		w->first = j;
	w->last = j;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
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

static size_t
write_cb(char *ptr, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t      len = size * n;

	if (b->len + len > RESP_MAX)
		return (0);
	b->p = xrealloc(b->p, b->len + len + 1);
	memcpy(b->p + b->len, ptr, len);
	b->len += len;
	b->p[b->len] = '\0';
	return (len);
}

/* POST; 0 with *status (and *respp, caller frees) or -1 (logged). */
static int
post(struct edge *e, CURL *c, const char *url, const char *user,
    const char *pass, const char *ctype, const char *body,
    const char *extra_hdr, long *status, char **respp)
{
	struct curl_slist *h = NULL;
	struct buf         b = { NULL, 0 };
	char               ct[96];
	CURLcode           rc;

	curl_easy_reset(c);
	snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
	h = curl_slist_append(h, ct);
	h = curl_slist_append(h, "Expect:");
	if (extra_hdr != NULL)
		h = curl_slist_append(h, extra_hdr);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, e->cfg.provider_timeout_ms);
	curl_easy_setopt(
	    c, CURLOPT_CONNECTTIMEOUT_MS, e->cfg.provider_timeout_ms);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (user != NULL) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERNAME, user);
		curl_easy_setopt(c, CURLOPT_PASSWORD, pass);
	}
	rc = curl_easy_perform(c);
	curl_slist_free_all(h);
	if (rc != CURLE_OK) {
		log_warnx("POST %s: %s", url, curl_easy_strerror(rc));
		free(b.p);
		return (-1);
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	if (respp != NULL)
		*respp = b.p;
	else
		free(b.p);
	return (0);
}

static void
provider_auth(
    struct edge *e, const char **base, const char **user, const char **pass)
{
	if (web_is_signalwire(e)) {
		*base = e->cfg.sw_api_base;
		*user = e->cfg.sw_project_id;
		*pass = e->cfg.sw_api_token;
	} else {
		*base = e->cfg.twilio_api_base;
		*user = e->cfg.twilio_account_sid;
		*pass = e->cfg.twilio_auth_token;
	}
}

static void
add(CURL *c, char **body, const char *name, const char *value)
{
	char *v = curl_easy_escape(c, value, 0), *n;

	n = xasprintf("%s%s%s=%s", *body != NULL ? *body : "",
	    *body != NULL ? "&" : "", name, v != NULL ? v : "");
	curl_free(v);
	free(*body);
	*body = n;
}

/* The form body of "create call". */
static char *
create_body(struct edge *e, CURL *c, const struct wjob *j)
{
	char *body = NULL, u[600], tl[16];

	add(c, &body, "To", j->to);
	add(c, &body, "From", j->from);
	snprintf(u, sizeof(u), "%s/twiml", e->cfg.public_url);
	add(c, &body, "Url", u);
	add(c, &body, "Method", "POST");
	snprintf(u, sizeof(u), "%s/status", e->cfg.public_url);
	add(c, &body, "StatusCallback", u);
	add(c, &body, "StatusCallbackMethod", "POST");
	add(c, &body, "StatusCallbackEvent", "initiated");
	add(c, &body, "StatusCallbackEvent", "ringing");
	add(c, &body, "StatusCallbackEvent", "answered");
	add(c, &body, "StatusCallbackEvent", "completed");
	if (e->cfg.machine_detection[0] != '\0') {
		add(c, &body, "MachineDetection", e->cfg.machine_detection);
		add(c, &body, "AsyncAmd", "true");
		add(c, &body, "AsyncAmdStatusCallback", u);
		add(c, &body, "AsyncAmdStatusCallbackMethod", "POST");
	}
	snprintf(tl, sizeof(tl), "%ld", e->cfg.max_call_seconds);
	add(c, &body, "TimeLimit", tl);
	return (body);
}

/* Provider REST: create the call; 0 with the sid, or 502 and why. */
static int
create_call(struct edge *e, CURL *c, const struct wjob *j, char *sid,
    size_t sidlen, char *why, size_t whylen)
{
	const char *base, *user, *pass, *msg, *s;
	char       *body, *resp = NULL, url[700];
	json_t     *o = NULL;
	long        status = 0;
	int         rv = 502;

	provider_auth(e, &base, &user, &pass);
	snprintf(url, sizeof(url), "%s/Accounts/%s/Calls.json", base, user);
	body = create_body(e, c, j);
	if (post(e, c, url, user, pass, "application/x-www-form-urlencoded",
	        body, NULL, &status, &resp)
	    == -1) {
		snprintf(why, whylen, "provider unreachable");
		goto out;
	}
	o = json_loads(resp != NULL ? resp : "", 0, NULL);
	msg = json_string_value(json_object_get(o, "message"));
	s = json_string_value(json_object_get(o, "sid"));
	if (status < 200 || status > 299)
		snprintf(why, whylen, "provider answered %ld: %.120s", status,
		    msg != NULL ? msg : "");
	else if (s == NULL || strlen(s) >= sidlen)
		snprintf(why, whylen, "provider answer without a call sid");
	else {
		snprintf(sid, sidlen, "%s", s);
		rv = 0;
	}
out:
	json_decref(o);
	free(resp);
	free(body);
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

static void
run_rate_peek(struct edge *e, struct wjob *j)
{
	struct ev *ev = xcalloc(1, sizeof(*ev));
	char       reason[200] = "";
	int        retry = 0, rv;
	uint32_t   remaining = 0;
	json_t    *o;

	rv = rate_check_full(e, j->to, "", BUS__RATE_CHECK__KIND__OUTBOUND,
	    true, reason, sizeof(reason), &retry, &remaining);
	o = json_pack("{s:s, s:s, s:b, s:I, s:i, s:s}", "type", "rate", "id",
	    j->lead_id, "allowed", rv == 1, "remaining", (json_int_t)remaining,
	    "retry_after", retry, "reason", rv == -1 ? "unavailable" : reason);
	ev->kind = EV_EVENTS_REPLY;
	ev->call_id = j->web_id;
	ev->body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	evq_push(&e->evq, ev);
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
	Bus__Envelope   env = BUS__ENVELOPE__INIT;
	Bus__CallOpen   co = BUS__CALL_OPEN__INIT;
	struct wire_ids ids;
	char            key[EDGE_SID_MAX + 8];

	wire_env_init(&env, &ids, sid, NULL);
	snprintf(key, sizeof(key), "%s:open", sid);
	env.idempotency_key = key;
	co.direction = dir;
	co.provider = web_is_signalwire(e) ? BUS__PROVIDER__SIGNALWIRE
	                                   : BUS__PROVIDER__TWILIO;
	co.lead_id = (char *)j->lead_id;
	co.objective = j->objective != NULL ? j->objective : "";
	co.context_json = j->context_json != NULL ? j->context_json : "";
	co.to_phone = (char *)j->to;
	co.from_phone = (char *)j->from;
	co.created_at_ms = wire_now_ms();
	env.body_case = BUS__ENVELOPE__BODY_CALL_OPEN;
	env.call_open = &co;
	(void)persist(e, &env, 8);
}

static void
run_create(struct edge *e, CURL *c, struct wjob *j)
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
	static const char refusal[]
	    = "<?xml version=\"1.0\" encoding="
	      "\"UTF-8\"?><Response><Say>We cannot take your call right now. "
	      "Goodbye.</Say><Hangup/></Response>";
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

static void
run_hangup(struct edge *e, CURL *c, struct wjob *j)
{
	const char    *base, *user, *pass;
	struct log_ctx lc = { j->call_sid, NULL };
	char           url[700];
	long           status = 0;
	int            i;

	provider_auth(e, &base, &user, &pass);
	if (base[0] == '\0' || user[0] == '\0')
		return;
	snprintf(url, sizeof(url), "%s/Accounts/%s/Calls/%s.json", base, user,
	    j->call_sid);
	for (i = 0; i < 3; i++) {
		if (i > 0)
			nng_msleep(500 << i);
		if (post(e, c, url, user, pass,
		        "application/x-www-form-urlencoded",
		        "Status=completed", NULL, &status, NULL)
		        == 0
		    && status < 500)
			break;
	}
	logc_info(&lc, "provider hang-up (%s): HTTP %ld", j->status, status);
	metric_inc(metric_get(
	    e->m.hangups, status >= 200 && status < 300 ? "ok" : "failed"));
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

static bool
stopping(struct webjobs *w)
{
	bool s;

	pthread_mutex_lock(&w->lock);
	s = w->stopping;
	pthread_mutex_unlock(&w->lock);
	return (s);
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
	for (i = 0; i < 8 && !stopping(&e->wj); i++)
		if (persist(e, &env, 1))
			return;
	logc_warnx(&lc, "record of the call not stored");
}

static void
run_notify(struct edge *e, CURL *c, struct wjob *j)
{
	struct log_ctx lc = { j->call_sid, NULL };
	char           hex[65], hdr[96];
	long           status = 0;
	int            i, wait_ms = 1000;

	if (hmac_sha256_hex(
	        e->cfg.notify_secret, j->payload, strlen(j->payload), hex)
	    != 0)
		return;
	snprintf(hdr, sizeof(hdr), "X-Signature: sha256=%s", hex);
	for (i = 0; i < e->cfg.notify_attempts; i++) {
		if (i > 0) {
			if (stopping(&e->wj))
				break;
			nng_msleep(wait_ms);
			wait_ms = wait_ms * 2 > 60000 ? 60000 : wait_ms * 2;
		}
		if (post(e, c, e->cfg.notify_url, NULL, NULL,
		        "application/json", j->payload, hdr, &status, NULL)
		        == 0
		    && status >= 200 && status < 300) {
			metric_inc(metric_get(e->m.notify, "ok"));
			return;
		}
		logc_info(
		    &lc, "notification attempt %d: HTTP %ld", i + 1, status);
	}
	logc_warnx(&lc, "notification not accepted after %d attempts", i);
	metric_inc(metric_get(e->m.notify, "failed"));
}

static void *
worker_main(void *arg)
{
	struct edge    *e = arg;
	struct webjobs *w = &e->wj;
	struct wjob    *j;
	CURL           *c = curl_easy_init();

	for (;;) {
		pthread_mutex_lock(&w->lock);
		while (w->first == NULL && !w->stopping)
			pthread_cond_wait(&w->cond, &w->lock);
		if ((j = w->first) == NULL) {
			pthread_mutex_unlock(&w->lock);
			break;
		}
		if ((w->first = j->next) == NULL)
			w->last = NULL;
		pthread_mutex_unlock(&w->lock);
		if (c == NULL
		    && (j->kind == WJ_CREATE_CALL || j->kind == WJ_HANGUP
		        || j->kind == WJ_NOTIFY)) {
			log_warnx("no curl handle");
			reply_json(e, j, 500, "internal", "no HTTP client", 0);
		} else if (j->kind == WJ_CREATE_CALL)
			run_create(e, c, j);
		else if (j->kind == WJ_INBOUND)
			run_inbound(e, j);
		else if (j->kind == WJ_EVENT)
			run_event(e, j);
		else if (j->kind == WJ_RECORD)
			run_record(e, j);
		else if (j->kind == WJ_HANGUP)
			run_hangup(e, c, j);
		else if (j->kind == WJ_RATE_PEEK)
			run_rate_peek(e, j);
		else
			run_notify(e, c, j);
		if (j->kind == WJ_HANGUP)
			hangup_done(e, j); /* with or without a curl handle */
		wjob_free(j);
	}
	if (c != NULL)
		curl_easy_cleanup(c);
	return (NULL);
}

int
webjobs_start(struct edge *e)
{
	struct webjobs *w = &e->wj;
	int             i;

	w->edge = e;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
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
	w->threads = xcalloc((size_t)e->cfg.web_workers, sizeof(pthread_t));
	for (i = 0; i < e->cfg.web_workers; i++) {
		if (pthread_create(&w->threads[i], NULL, worker_main, e) != 0)
			return (-1);
		w->nthreads++;
	}
	return (0);
}

void
webjobs_stop(struct webjobs *w)
{
	int i;

	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	for (i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	free(w->threads);
	w->threads = NULL;
	w->nthreads = 0;
	if (w->rl_open)
		nng_close(w->rl);
	if (w->ps_open)
		nng_close(w->ps);
	w->rl_open = w->ps_open = false;
}
