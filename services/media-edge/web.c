/*
 * web.c - the HTTP part of the public port: routing of the calls API
 * (api_calls.c: POST /calls, /api/call, GET /calls...), /twiml (POST, or
 * GET when the provider fetches it so) and POST /status (the provider's
 * webhooks).
 *
 * Requests are read on the lws thread; anything that blocks (rate checks,
 * the provider's REST API, persister) goes to the web workers
 * (webjobs.c), whose answer comes back as EV_WEB_REPLY for the request's
 * serial id, so a client that went away meanwhile is simply not answered.
 *
 * Webhooks are checked before anything else happens: the signature over
 * EDGE_PUBLIC_URL + path and every form parameter (form.c), constant time.
 * A forged or missing signature gets 403 and causes nothing at all: no
 * rate check, no record, no token, no event.  GET /twiml is signed over
 * the URL with its query: lws hands over the query decoded, so it is
 * re-encoded here from its pairs in order (form.c) and then read as a
 * form body.  Every refusal counts in edge_webhook_refused_total{route,
 * reason}.
 *
 * lws service thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edge.h"
#include "hmac.h"
#include "log.h"
#include "metrics.h"
#include "wire.h"
#include "xmalloc.h"

#define WEB_BODY_MAX (64 * 1024)
/* The decoded query of GET /twiml; beyond, 414.  Twilio's parameters
 * take well under 1 KiB; lws's header space (4 KiB) must hold it. */
#define WEB_QUERY_MAX 2048
#define CT_JSON "application/json"
#define CT_XML "text/xml"

/* The form keys we read: each must occur once. */
static const char *const form_keys[] = { "CallSid", "CallStatus", "Direction",
	"From", "To", "AnsweredBy", "SequenceNumber", "CallDuration", NULL };

static const char refusal[]
    = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
      "<Response><Say>We cannot take your call right now. Goodbye.</Say>"
      "<Hangup/></Response>";

static void
count(struct edge *e, const char *route, int status)
{
	char code[8];

	snprintf(code, sizeof(code), "%d", status);
	metric_inc(metric_get(e->m.http, route, code));
}

/* A webhook refused before anything happened. */
static void
refused(struct edge *e, const char *route, const char *reason)
{
	metric_inc(metric_get(e->m.webhook_refused, route, reason));
}

void
web_json_error(struct web *w, int status, const char *error,
    const char *reason, int retry_after)
{
	json_t *o = json_pack("{s:s, s:s}", "error", error, "reason", reason);
	char   *s;

	if (retry_after > 0)
		json_object_set_new(
		    o, "retry_after", json_integer(retry_after));
	s = json_dumps(o, JSON_COMPACT);
	web_reply(w, status, CT_JSON, s, strlen(s), retry_after);
	free(s);
	json_decref(o);
}

void
web_reply(struct web *w, int status, const char *ctype, const char *body,
    size_t len, int retry_after)
{
	if (w->state != 0)
		return;
	w->status = status;
	w->ctype = ctype;
	w->out = xmalloc(len + 1);
	memcpy(w->out, body, len);
	w->outlen = len;
	w->retry_after = retry_after;
	w->state = 1;
	/* closing on unread body bytes would reset the connection under
	 * the answer: an early one waits for web_body_done() */
	if (!w->body_unread)
		lws_callback_on_writable(w->wsi);
}

int
web_writeable(struct lws *wsi, struct pss *pss)
{
	struct web   *w = pss->web;
	unsigned char buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p = start,
	                                   *end = buf + sizeof(buf);
	char ra[16];

	if (w->state == 1) {
		if (lws_add_http_common_headers(wsi, (unsigned)w->status,
		        w->ctype, (lws_filepos_t)w->outlen, &p, end))
			return (-1);
		if (lws_add_http_header_by_name(wsi,
		        (const unsigned char *)"connection:",
		        (const unsigned char *)"close", 5, &p, end))
			return (-1);
		if (w->retry_after > 0) {
			snprintf(ra, sizeof(ra), "%d", w->retry_after);
			if (lws_add_http_header_by_name(wsi,
			        (const unsigned char *)"retry-after:",
			        (const unsigned char *)ra, (int)strlen(ra), &p,
			        end))
				return (-1);
		}
		if (lws_finalize_write_http_header(wsi, start, &p, end))
			return (-1);
		w->state = 2;
		lws_callback_on_writable(wsi);
		return (0);
	}
	if (w->state == 2) {
		w->state = 3;
		(void)lws_write(wsi, (unsigned char *)w->out, w->outlen,
		    LWS_WRITE_HTTP_FINAL);
		return (-1); /* one request per connection (httpd.h) */
	}
	return (0);
}

static void
unlink_web(struct edge *e, struct web *w)
{
	struct web **pp;

	for (pp = &e->webs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
}

void
web_closed(struct edge *e, struct pss *pss)
{
	struct web *w = pss->web;

	if (w == NULL)
		return;
	unlink_web(e, w);
	free(w->body);
	free(w->out);
	free(w);
	pss->web = NULL;
}

/* A job's answer for web id; the request may be gone. */
void
web_job_reply(struct edge *e, struct ev *ev)
{
	struct web *w;

	for (w = e->webs; w != NULL; w = w->next)
		if (w->id == ev->call_id)
			break;
	if (w == NULL)
		return;
	unlink_web(e, w);
	w->waiting = false;
	httpd_release(w->wsi); /* lws writes only to a connection it reads */
	web_reply(w, ev->status, ev->ctype, ev->body != NULL ? ev->body : "",
	    ev->body != NULL ? strlen(ev->body) : 0, ev->retry_after);
}

void
web_hangup(struct edge *e, const char *call_sid, const char *why)
{
	struct wjob *j;

	if (!tel_sid_ok(e->tel, call_sid)) {
		/* it goes into the provider's URL: only a sid of its shape */
		log_warnx("hang-up refused: not a %s call sid", e->tel->name);
		edge_bad_input(e, "bad_call_sid");
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->kind = WJ_HANGUP;
	snprintf(j->call_sid, sizeof(j->call_sid), "%s", call_sid);
	snprintf(j->status, sizeof(j->status), "%s", why);
	webjobs_submit(&e->wj, j);
}

void
web_hangup_call(struct edge *e, struct call *c, const char *why)
{
	struct wjob *j;

	if (c->hanging_up)
		return;
	c->hanging_up = true;
	j = xcalloc(1, sizeof(*j));
	j->kind = WJ_HANGUP;
	j->call_id = c->id;
	snprintf(j->call_sid, sizeof(j->call_sid), "%s", c->call_sid);
	snprintf(j->status, sizeof(j->status), "%s", why);
	webjobs_submit(&e->wj, j);
}

void
web_fallback(struct call *c, const char *why, bool record)
{
	struct edge   *e = c->edge;
	struct log_ctx lc = { c->call_sid, c->trace_id };
	struct wjob   *j;

	metric_inc(metric_get(e->m.fallbacks, why));
	logc_warnx(&lc, "call cannot be served (%s): fallback message", why);
	if (record) {
		j = xcalloc(1, sizeof(*j));
		j->kind = WJ_RECORD;
		snprintf(j->call_sid, sizeof(j->call_sid), "%s", c->call_sid);
		snprintf(j->status, sizeof(j->status), "%s", why);
		j->at_ms = c->started_ms;
		j->direction = c->direction;
		/* above every version an ai-session of this call wrote */
		j->version = c->holders << 16;
		webjobs_submit(&e->wj, j);
	}
	call_close(c, EDGE_CLOSE_ERROR, "session_failed");
}

/* Once a second: calls past EDGE_MAX_CALL_SECONDS are hung up, and the
 * web jobs a full queue refused are offered to it again. */
static void
tick_cb(lws_sorted_usec_list_t *sul)
{
	struct edge *e = lws_container_of(sul, struct edge, tick_sul);
	struct call *c;
	int64_t      now = edge_mono_us();

	for (c = e->calls; c != NULL; c = c->next) {
		if (c->closing || c->started_us == 0
		    || now - c->started_us
		        < (int64_t)e->cfg.max_call_seconds * 1000000)
			continue;
		if (c->hanging_up)
			continue;
		c->end_reason = "max duration";
		web_hangup_call(e, c, "max duration");
	}
	(void)webjobs_retry(&e->wj);
	lws_sul_schedule(e->ctx, 0, &e->tick_sul, tick_cb, LWS_US_PER_SEC);
}

void
web_tick_start(struct edge *e)
{
	lws_sul_schedule(e->ctx, 0, &e->tick_sul, tick_cb, LWS_US_PER_SEC);
}

void
web_wait_job(struct edge *e, struct web *w, struct wjob *j)
{
	w->waiting = true;
	/* no reading meanwhile: lws would spin on pipelined bytes */
	httpd_hold(w->wsi);
	w->next = e->webs;
	e->webs = w;
	j->web_id = w->id;
	webjobs_submit(&e->wj, j);
}

/* The signature headers of our provider's webhooks. */
static void
copy_headers(const struct tel_provider *p, struct lws *wsi, struct web *w)
{
	const char *const *h;

	w->sig[0] = w->ts[0] = '\0';
	for (h = p->sig_headers; *h != NULL; h++)
		if (lws_hdr_custom_copy(
		        wsi, w->sig, sizeof(w->sig), *h, (int)strlen(*h))
		    > 0)
			break;
	if (*h == NULL)
		w->sig[0] = '\0';
	if (p->ts_header == NULL
	    || lws_hdr_custom_copy(wsi, w->ts, sizeof(w->ts), p->ts_header,
	           (int)strlen(p->ts_header))
	        <= 0)
		w->ts[0] = '\0';
}

/*
 * The query of GET /twiml into w->body as a form: its decoded pairs (lws
 * keeps no raw copy) re-encoded in order, "=" left between name and
 * value, "&" between pairs.  -1 when longer than WEB_QUERY_MAX.
 */
static int
query_capture(struct lws *wsi, struct web *w)
{
	char   frag[WEB_QUERY_MAX + 1], *eq;
	size_t n, used = 0;
	int    i, len;

	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS) > WEB_QUERY_MAX)
		return (-1);
	/* each byte at most 3, plus the "&"s */
	w->body = xmalloc(4 * WEB_QUERY_MAX + 64);
	w->body[0] = '\0';
	for (i = 0; (len = lws_hdr_copy_fragment(
	                 wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i))
	     >= 0;
	     i++) {
		if (i > 0)
			w->body[used++] = '&';
		n = (size_t)len;
		if ((eq = memchr(frag, '=', n)) != NULL) {
			used += form_escape(
			    frag, (size_t)(eq - frag), w->body + used);
			w->body[used++] = '=';
			used += form_escape(eq + 1,
			    n - (size_t)(eq - frag) - 1, w->body + used);
		} else
			used += form_escape(frag, n, w->body + used);
	}
	w->body[used] = '\0';
	w->len = used;
	return (0);
}

int
web_http(struct edge *e, struct lws *wsi, struct pss *pss, const char *path)
{
	struct web    *w;
	enum web_route r = ROUTE_NONE;
	char           cl[24];

	if (strcmp(path, "/calls") == 0 || strcmp(path, "/api/call") == 0)
		r = ROUTE_CALLS;
	else if (strcmp(path, "/twiml") == 0)
		r = ROUTE_TWIML;
	else if (strcmp(path, "/status") == 0)
		r = ROUTE_STATUS;
	else if (api_path(path))
		r = ROUTE_API;
	if (r == ROUTE_CALLS
	    && lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) <= 0)
		r = ROUTE_API; /* GET /calls: the list */
	if (r == ROUTE_NONE)
		return (1); /* not ours */
	w = xcalloc(1, sizeof(*w));
	w->wsi = wsi;
	w->id = ++e->next_web;
	w->route = r;
	pss->web = w;
	(void)lws_get_peer_simple(wsi, w->ip, sizeof(w->ip));
	api_client_ip(e, wsi, w); /* behind TRUSTED_PROXIES */
	(void)lws_hdr_copy(
	    wsi, w->auth, sizeof(w->auth), WSI_TOKEN_HTTP_AUTHORIZATION);
	copy_headers(e->tel, wsi, w);
	w->body_unread
	    = lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH)
	        > 0
	    && strtoll(cl, NULL, 10) > 0;
	if (r == ROUTE_API)
		api_capture(e, w, wsi, path);
	else if (r == ROUTE_TWIML && e->tel->twiml_get
	    && lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0) {
		w->get = true;
		if (query_capture(wsi, w) == -1) {
			log_warnx("webhook %s refused: query too long", path);
			refused(e, path + 1, "query_too_long");
			count(e, path + 1, 414);
			web_json_error(
			    w, 414, "uri_too_long", "query_too_long", 0);
			return (0);
		}
	} else if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) <= 0) {
		if (r == ROUTE_TWIML || r == ROUTE_STATUS) {
			log_warnx("webhook %s refused: not a POST", path);
			refused(e, path + 1, "webhook_method");
			count(e, path + 1, 405);
		}
		web_reply(w, 405, CT_JSON,
		    "{\"error\":\"method not allowed\"}", 30, 0);
		return (0);
	}
	if (lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH)
	        <= 0
	    || strcmp(cl, "0") == 0)
		return (web_body_done(e, wsi, pss)); /* no body coming */
	return (0);
}

int
web_body(struct edge *e, struct pss *pss, const void *in, size_t len)
{
	struct web *w = pss->web;

	(void)e;
	if (w == NULL || w->get) /* GET: the query is the form */
		return (0);
	if (w->too_big || w->len + len > WEB_BODY_MAX) {
		w->too_big = true;
		return (0);
	}
	w->body = xrealloc(w->body, w->len + len + 1);
	memcpy(w->body + w->len, in, len);
	w->len += len;
	w->body[w->len] = '\0';
	return (0);
}

/* Our provider's signature over the webhook (its key and scheme). */
static bool
webhook_ok(
    struct edge *e, struct web *w, const char *path, const struct form *f)
{
	char            url[600];
	struct form     none = { 0 };
	struct tel_hook h = { url, w->body != NULL ? w->body : "", w->len,
		w->get ? &none : f, w->sig, w->ts,
		w->get ? (w->body != NULL ? w->body : "") : NULL };

	snprintf(url, sizeof(url), "%s%s", e->cfg.public_url, path);
	return (e->tel->webhook_ok(e, &h));
}

static void
xml_attr(char *out, size_t len, const char *s)
{
	size_t o = 0;

	for (; *s != '\0' && o + 7 < len; s++) {
		const char *rep = NULL;

		switch (*s) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&apos;";
			break;
		default:
			break;
		}
		if (rep != NULL) {
			memcpy(out + o, rep, strlen(rep));
			o += strlen(rep);
		} else
			out[o++] = *s;
	}
	out[o] = '\0';
}

/* The bridge document with a fresh single-use token; the stream's path
 * names the provider (ws.c). */
char *
web_twiml_stream(struct edge *e, const char *call_sid, const char *direction,
    const char *answered_by)
{
	char        tok[160], url[600], eurl[700], ab[96], say[600], *doc;
	int64_t     exp = (int64_t)time(NULL) + e->cfg.stream_token_ttl_s;
	const char *rest = strstr(e->cfg.public_url, "://");
	struct tel_answer a = { eurl, tok, direction, ab, say };

	if (token_make(
	        e->cfg.stream_token_secret, call_sid, exp, tok, sizeof(tok))
	    == -1)
		return (NULL);
	snprintf(url, sizeof(url), "%s://%s/media/%s",
	    strncmp(e->cfg.public_url, "https", 5) == 0 ? "wss" : "ws",
	    rest != NULL ? rest + 3 : e->cfg.public_url, e->tel->name);
	xml_attr(eurl, sizeof(eurl), url);
	xml_attr(ab, sizeof(ab), answered_by != NULL ? answered_by : "");
	/* After </Connect>: the provider goes on there when the stream
	 * ends without the call being completed, that is when the call
	 * could not be served or media-edge is gone (web_hangup_call). */
	xml_attr(say, sizeof(say), e->cfg.fallback_say);
	if (e->tel->answer(&a, &doc) == -1)
		return (NULL);
	return (doc);
}

static int
route_twiml(struct edge *e, struct web *w, struct form *f)
{
	const char *sid = form_get(f, "CallSid"),
	           *dir = form_get(f, "Direction"),
	           *from = form_get(f, "From"), *to = form_get(f, "To");
	struct wjob *j;
	char        *doc;

	if (!tel_sid_ok(e->tel, sid)) {
		refused(e, "twiml", "missing_param");
		web_json_error(w, 400, "bad_request", "CallSid missing", 0);
		return (0);
	}
	if (atomic_load(&e->draining) || e->nactive >= e->cfg.max_calls) {
		log_info("refusing call: %s",
		    atomic_load(&e->draining) ? "draining" : "full");
		web_reply(w, 200, CT_XML, refusal, sizeof(refusal) - 1, 0);
		return (0);
	}
	if (dir != NULL && strncmp(dir, "inbound", 7) == 0) {
		j = xcalloc(1, sizeof(*j));
		j->kind = WJ_INBOUND;
		snprintf(j->call_sid, sizeof(j->call_sid), "%s", sid);
		snprintf(
		    j->from, sizeof(j->from), "%s", from != NULL ? from : "");
		snprintf(j->to, sizeof(j->to), "%s", to != NULL ? to : "");
		web_wait_job(e, w, j);
		return (0);
	}
	if ((doc = web_twiml_stream(
	         e, sid, "outbound", form_get(f, "AnsweredBy")))
	    == NULL) {
		web_json_error(w, 500, "internal", "token", 0);
		return (0);
	}
	web_reply(w, 200, CT_XML, doc, strlen(doc), 0);
	free(doc);
	return (0);
}

static bool
terminal(const struct tel_provider *p, const char *st)
{
	const char *const *t;

	for (t = p->end_statuses; st != NULL && *t != NULL; t++)
		if (strcmp(st, *t) == 0)
			return (true);
	return (false);
}

/* A verified status or AMD callback: tell the ai-session about AMD, the
 * business about the end of the call. */
static void
web_status_seen(struct edge *e, const struct wjob *ev, const struct form *f)
{
	Bus__Envelope  env = BUS__ENVELOPE__INIT;
	Bus__CallEvent ce = BUS__CALL_EVENT__INIT;
	struct wjob   *j;
	json_t        *o;
	const char    *dur = form_get(f, "CallDuration");

	if (strcmp(ev->ev_kind, "amd") == 0) {
		ce.kind = "amd";
		ce.status = (char *)ev->status;
		ce.at_ms = ev->at_ms;
		env.call_sid = (char *)ev->call_sid;
		env.sent_at_ms = ev->at_ms;
		env.body_case = BUS__ENVELOPE__BODY_CALL_EVENT;
		env.call_event = &ce;
		if (wire_publish(e->pub, ev->call_sid, &env) != 0)
			edge_dropped(e, "publish", 1);
		return;
	}
	if (!terminal(e->tel, ev->status) || e->cfg.notify_url[0] == '\0')
		return;
	o = json_pack("{s:s, s:s, s:s, s:I}", "event", "call.ended",
	    "call_sid", ev->call_sid, "status", ev->status, "duration_s",
	    (json_int_t)(dur != NULL ? strtol(dur, NULL, 10) : 0));
	if (form_get(f, "AnsweredBy") != NULL)
		json_object_set_new(
		    o, "answered_by", json_string(form_get(f, "AnsweredBy")));
	j = xcalloc(1, sizeof(*j));
	j->kind = WJ_NOTIFY;
	snprintf(j->call_sid, sizeof(j->call_sid), "%s", ev->call_sid);
	j->payload = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	webjobs_submit(&e->wj, j);
}

/* Status and AMD callbacks: the event goes to persister (phones taken
 * out), AMD results also to the ai-session, terminal states notify. */
static int
route_status(struct edge *e, struct web *w, struct form *f)
{
	static const char *phones[] = { "From", "To", "Caller", "Called",
		"ForwardedFrom", "CallerName", "FromCity", "ToCity", NULL };
	const char        *sid = form_get(f, "CallSid"),
	           *st = form_get(f, "CallStatus"),
	           *ab = form_get(f, "AnsweredBy"),
	           *seq = form_get(f, "SequenceNumber");
	json_t      *payload = json_object();
	struct wjob *j;
	size_t       i, k;
	bool         skip;

	if (!tel_sid_ok(e->tel, sid)) {
		refused(e, "status", "missing_param");
		web_json_error(w, 400, "bad_request", "CallSid missing", 0);
		json_decref(payload);
		return (0);
	}
	for (i = 0; i < f->n; i++) {
		for (skip = false, k = 0; phones[k] != NULL; k++)
			if (strcmp(f->v[i].name, phones[k]) == 0)
				skip = true;
		if (!skip)
			json_object_set_new(
			    payload, f->v[i].name, json_string(f->v[i].value));
	}
	j = xcalloc(1, sizeof(*j));
	j->kind = WJ_EVENT;
	snprintf(j->call_sid, sizeof(j->call_sid), "%s", sid);
	snprintf(j->ev_kind, sizeof(j->ev_kind), "%s",
	    ab != NULL && (st == NULL || strcmp(st, "in-progress") == 0)
	        ? "amd"
	        : "status");
	snprintf(j->status, sizeof(j->status), "%s",
	    strcmp(j->ev_kind, "amd") == 0 ? ab
	        : st != NULL               ? st
	                                   : "");
	j->payload = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);
	j->at_ms = wire_now_ms();
	j->seq = seq != NULL ? (uint32_t)strtoul(seq, NULL, 10) : 0;
	json_decref(payload);
	web_status_seen(e, j, f);
	if (strcmp(j->ev_kind, "status") == 0)
		events_status(e, sid, j->status);
	webjobs_submit(&e->wj, j);
	web_reply(w, 204, CT_JSON, "", 0, 0);
	return (0);
}

int
web_body_done(struct edge *e, struct lws *wsi, struct pss *pss)
{
	struct web *w = pss->web;
	struct form f;
	const char *path;
	int         rv = 0;

	if (w == NULL)
		return (0);
	if (w->body_unread) {
		w->body_unread = false;
		if (w->state == 1)
			lws_callback_on_writable(wsi); /* an early answer */
	}
	if (w->state != 0 || w->waiting)
		return (0);
	if (w->route == ROUTE_CALLS) {
		rv = api_create(e, w);
		count(e, "calls", w->state != 0 ? w->status : 0);
		return (rv);
	}
	if (w->route == ROUTE_API)
		return (api_request(e, w));
	path = w->route == ROUTE_TWIML ? "/twiml" : "/status";
	if (w->too_big
	    || form_parse(&f, w->body != NULL ? w->body : "", w->len) == -1) {
		web_json_error(w, 400, "bad_request", "not a form body", 0);
		return (0);
	}
	if (form_dup(&f, form_keys) != NULL) {
		/* a valid signature would bind to the first of two values */
		log_warnx("webhook %s refused: duplicate %s", path,
		    form_dup(&f, form_keys));
		edge_bad_input(e, "duplicate_form_key");
		web_json_error(w, 400, "bad_request", "duplicate form key", 0);
		count(e, path + 1, 400);
		form_free(&f);
		return (0);
	}
	if (!webhook_ok(e, w, path, &f)) {
		/* nothing else happens for a forged request */
		log_warnx("webhook %s refused: %s signature", path,
		    w->sig[0] == '\0' ? "missing" : "bad");
		refused(e, path + 1,
		    w->sig[0] == '\0' ? "missing_signature" : "bad_signature");
		web_reply(w, 403, CT_JSON, "{\"error\":\"forbidden\"}", 21, 0);
		form_free(&f);
		return (0);
	}
	rv = w->route == ROUTE_TWIML ? route_twiml(e, w, &f)
	                             : route_status(e, w, &f);
	count(e, path + 1, w->state != 0 ? w->status : 0);
	form_free(&f);
	return (rv);
}
