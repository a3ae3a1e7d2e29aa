/*
 * events.c - GET /events: a WebSocket for dashboards (bearer
 * EDGE_API_TOKEN on the upgrade).  A client subscribes to call sids and
 * receives, as JSON text messages:
 *
 *	{"type":"status","call_sid":..,"status":..}      status callbacks
 *	{"type":"turn","call_sid":..,"role":..,"text":..,"seq":N}
 *	{"type":"summary","call_sid":..,"outcome":..,"summary":..}
 *	{"type":"rate","id":..,"allowed":b,"remaining":N,"retry_after":N}
 *	{"type":"call","call_sid":..,"direction":..,"who":..,"status":..}
 *	{"type":"refusal","direction":..,"who":..,"reason":..,
 *	    "retry_after":N[,"call_sid":..]}            ("*" only; dash.c)
 *
 * Client messages: {"op":"subscribe","call_sid":".."},
 * {"op":"unsubscribe","call_sid":".."} and {"op":"rate","phone":"+1..",
 * "id":".."} (a RateCheck with peek: nothing is counted).  Transcript
 * turns reach us from the ai-session's pub socket (TranscriptTurn, topic
 * = call sid); the summary arrives as a Summary request on our request
 * socket (dispatch.c), is forwarded and also sent as the signed notification.
 *
 * Each client has a bounded queue (the outq of calls) and at most
 * EVENTS_MAX_SUBS subscriptions; a client that does not read is cut off.
 *
 * lws service thread only (events_rate_answer: via the event queue).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edge.h"
#include "hmac.h"
#include "log.h"
#include "metrics.h"
#include "xmalloc.h"

#define EVENTS_MAX_SUBS 64
#define EVENTS_QUEUE_BYTES (256 * 1024)

struct evclient {
	struct evclient *next;
	struct lws      *wsi;
	struct outq      out;
	char             subs[EVENTS_MAX_SUBS][EDGE_SID_MAX];
	int              nsubs;
	bool             dead;
	uint64_t         id; /* rate answers find their client by it */
	int64_t          expires; /* signed in by cookie: its token's expiry */
};

static struct evclient *clients;
static uint64_t         next_id;

/*
 * Admission: an Origin header (every browser sends one) must be on the
 * allow-list (EDGE_DASHBOARD_ORIGINS), whatever the credentials; then
 * either the bearer EDGE_API_TOKEN (programs) or the dashboard's cookie
 * with a dashboard:read token (dash.c).
 */
int
events_admit(struct edge *e, struct lws *wsi, const char **reason)
{
	char              origin[256], auth[300], want[300];
	enum dash_verdict v;

	if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) > 0
	    && (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN)
	            <= 0
	        || !dash_origin_ok(&e->cfg, origin))) {
		*reason = "origin not allowed";
		dash_refused(e, "origin");
		return (403);
	}
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) > 0) {
		if (e->cfg.api_token[0] != '\0'
		    && lws_hdr_copy(wsi, auth, sizeof(auth),
		           WSI_TOKEN_HTTP_AUTHORIZATION)
		        > 0) {
			snprintf(
			    want, sizeof(want), "Bearer %s", e->cfg.api_token);
			if (hmac_streq(auth, want))
				return (0);
		}
		*reason = "bad bearer token";
		edge_auth_fail(e, "events_token");
		return (401);
	}
	if ((v = dash_cookie_check(e, wsi, NULL)) == DASH_OK)
		return (0);
	if (v == DASH_MISSING || v == DASH_OFF) {
		*reason = "bearer token or dashboard cookie required";
		edge_auth_fail(e, "events_token");
		return (401);
	}
	*reason = dash_verdict_name(v);
	dash_refused(e, dash_verdict_name(v));
	return (dash_verdict_status(v));
}

void *
events_open(struct edge *e, struct lws *wsi)
{
	struct evclient *c = xcalloc(1, sizeof(*c));

	c->wsi = wsi;
	c->id = ++next_id;
	/* admitted by its cookie (no bearer token): it ends with the token */
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) <= 0)
		(void)dash_cookie_check(e, wsi, &c->expires);
	outq_init(&c->out, EVENTS_QUEUE_BYTES);
	c->next = clients;
	clients = c;
	return (c);
}

void
events_close(void *arg)
{
	struct evclient *c = arg, **pp;

	for (pp = &clients; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	outq_fini(&c->out);
	free(c);
}

/* A client signed in by cookie is closed once its token has expired
 * (1008), before it is sent or does anything more. */
static bool
expired(struct evclient *c)
{
	if (c->expires == 0 || (int64_t)time(NULL) < c->expires)
		return (false);
	if (!c->dead) {
		log_info("/events client's dashboard token expired; closing");
		c->dead = true;
		/* events_writeable() closes it, with this reason */
		lws_close_reason(c->wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
		    (unsigned char *)"token expired", 13);
		lws_callback_on_writable(c->wsi);
	}
	return (true);
}

static void
send_json(struct evclient *c, json_t *o)
{
	char          *s = json_dumps(o, JSON_COMPACT);
	unsigned char *p;
	size_t         n;

	if (s == NULL || c->dead)
		goto out;
	if (expired(c))
		goto out;
	n = strlen(s);
	if ((p = outq_reserve(&c->out, n)) == NULL) {
		log_warnx("/events client not reading; cutting it off");
		c->dead = true;
		lws_set_timeout(
		    c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		goto out;
	}
	memcpy(p, s, n);
	outq_commit(&c->out, n, OUTQ_MARK);
	lws_callback_on_writable(c->wsi);
out:
	free(s);
}

/* send_json() borrows its object; this one is ours to free. */
static void
send_error(struct evclient *c, const char *what)
{
	json_t *o = json_pack("{s:s, s:s}", "type", "error", "error", what);

	send_json(c, o);
	json_decref(o);
}

static bool
subscribed(const struct evclient *c, const char *sid)
{
	int i;

	for (i = 0; i < c->nsubs; i++)
		if (strcmp(c->subs[i], sid) == 0
		    || strcmp(c->subs[i], "*") == 0)
			return (true);
	return (false);
}

void
events_broadcast(const char *sid, json_t *o)
{
	struct evclient *c;

	for (c = clients; c != NULL; c = c->next)
		if (subscribed(c, sid))
			send_json(c, o);
}

static void
broadcast(const char *sid, json_t *o)
{
	events_broadcast(sid, o);
	json_decref(o);
}

void
events_status(struct edge *e, const char *sid, const char *status)
{
	(void)e;
	if (clients != NULL)
		broadcast(sid,
		    json_pack("{s:s, s:s, s:s}", "type", "status", "call_sid",
		        sid, "status", status));
}

void
events_turn(struct edge *e, const char *sid, const Bus__TranscriptTurn *t)
{
	(void)e;
	if (clients == NULL || t->turn == NULL)
		return;
	broadcast(sid,
	    json_pack("{s:s, s:s, s:s, s:s, s:I}", "type", "turn", "call_sid",
	        sid, "role", t->turn->role, "text", t->turn->text, "seq",
	        (json_int_t)t->turn->seq));
}

static json_t *
summary_obj(const char *sid, const Bus__Summary *s)
{
	return (json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", "summary",
	    "call_sid", sid, "outcome", s->outcome, "interest_level",
	    s->interest_level, "next_action", s->next_action, "summary",
	    s->summary));
}

char *
events_summary_text(const char *sid, const Bus__Summary *s)
{
	json_t *o = summary_obj(sid, s);
	char   *text = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	return (text);
}

void
events_summary_obj(struct edge *e, const char *sid, json_t *o)
{
	struct wjob *j;
	json_t      *full;

	if (e->cfg.notify_url[0] != '\0') {
		full = json_deep_copy(o);
		json_object_set_new(
		    full, "event", json_string("call.summary"));
		json_object_del(full, "type");
		j = xcalloc(1, sizeof(*j));
		j->kind = WJ_NOTIFY;
		snprintf(j->call_sid, sizeof(j->call_sid), "%s", sid);
		j->payload = json_dumps(full, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(full);
		webjobs_submit(&e->wj, j);
	}
	broadcast(sid, o);
}

/* The answer of a rate query (EV_WEB_REPLY with the client as target). */
void
events_rate_answer(struct edge *e, struct ev *ev)
{
	struct evclient *c;
	json_t          *o;

	(void)e;
	for (c = clients; c != NULL; c = c->next)
		if (c->id == ev->call_id)
			break;
	if (c == NULL || ev->body == NULL)
		return;
	if ((o = json_loads(ev->body, 0, NULL)) != NULL) {
		send_json(c, o);
		json_decref(o);
	}
}

void
events_message(struct edge *e, void *arg, const char *buf, size_t len)
{
	struct evclient *c = arg;
	json_t          *o;
	const char      *op, *sid, *phone, *id;
	struct wjob     *j;
	int              i;

	if (expired(c))
		return;
	o = json_loadb(buf, len, 0, NULL);
	op = json_string_value(json_object_get(o, "op"));
	sid = json_string_value(json_object_get(o, "call_sid"));
	if (op == NULL) {
		edge_bad_input(e, "events_bad_message");
		send_error(c, "expected {\"op\":...}");
	} else if (strcmp(op, "subscribe") == 0 && sid != NULL
	    && strlen(sid) < EDGE_SID_MAX) {
		if (!subscribed(c, sid) && c->nsubs < EVENTS_MAX_SUBS)
			snprintf(c->subs[c->nsubs++], EDGE_SID_MAX, "%s", sid);
	} else if (strcmp(op, "unsubscribe") == 0 && sid != NULL) {
		for (i = 0; i < c->nsubs; i++)
			if (strcmp(c->subs[i], sid) == 0) {
				memmove(c->subs[i], c->subs[c->nsubs - 1],
				    EDGE_SID_MAX);
				c->nsubs--;
				break;
			}
	} else if (strcmp(op, "rate") == 0
	    && (phone = json_string_value(json_object_get(o, "phone"))) != NULL
	    && strlen(phone) < 32) {
		id = json_string_value(json_object_get(o, "id"));
		j = xcalloc(1, sizeof(*j));
		j->kind = WJ_RATE_PEEK;
		j->web_id = c->id;
		snprintf(j->to, sizeof(j->to), "%s", phone);
		snprintf(j->lead_id, sizeof(j->lead_id), "%s",
		    id != NULL ? id : "");
		webjobs_submit(&e->wj, j);
	} else {
		edge_bad_input(e, "events_bad_message");
		send_error(c, "unknown op");
	}
	json_decref(o);
}

int
events_writeable(struct lws *wsi, void *arg)
{
	struct evclient *c = arg;
	unsigned char   *p;
	size_t           len;

	if (c->dead)
		return (-1);
	if (!outq_peek(&c->out, &p, &len, NULL))
		return (0);
	if (lws_write(wsi, p, len, LWS_WRITE_TEXT) < (int)len)
		return (-1);
	outq_pop(&c->out);
	if (c->out.count > 0)
		lws_callback_on_writable(wsi);
	return (0);
}
