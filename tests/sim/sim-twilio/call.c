/*
 * call - one simulated call's life, as the provider runs it:
 *
 *   initiated -> ringing -> (rings ring_ms) -> answered (in-progress)
 *   -> POST Url for TwiML -> run verbs: <Say> recorded, <Pause> waited,
 *   <Connect><Stream> opens the media stream and waits for it to end,
 *   <Hangup/> or the end of the document ends the call -> completed.
 *
 * Each step may post a webhook, start a timer or open a stream, and then
 * waits (c->wait) until that finishes; call_advance() runs steps until
 * one waits.  Ending (REST update, callee hang-up, time limit) sets
 * c->ending, stops whatever is waited on and lets the machine reach
 * STEP_END, which posts the completed callback.
 *
 * lws service thread only: REST handlers, timers, webhook results and
 * stream ends all arrive there.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capture.h"
#include "twilio.h"

static void call_advance(struct call *c);

static const char *
direction(const struct call *c)
{
	return (c->inbound ? "inbound" : "outbound-api");
}

/* The parameters every provider request about a call carries (2.1). */
static void
base_params(const struct call *c, struct form *f, const char *status)
{
	form_add(f, "CallSid", c->sid);
	form_add(f, "AccountSid", c->sim->o.account_sid);
	form_add(f, "From", c->from);
	form_add(f, "To", c->to);
	form_add(f, "Caller", c->from);
	form_add(f, "Called", c->to);
	form_add(f, "CallStatus", status);
	form_add(f, "Direction", direction(c));
	form_add(f, "ApiVersion", "2010-04-01");
}

static void
hook_done(struct call *c, struct hook_job *j)
{
	c->wait = WAIT_NONE;
	call_advance(c);
}

/* Posts the status callback for event ev if it was asked for. */
static void
status_hook(struct call *c, unsigned ev, const char *event, const char *status)
{
	struct form f = { NULL, 0, 0 };
	char        n[32];
	int64_t     secs;

	if (c->status_cb == NULL || (c->events & ev) == 0)
		return;
	base_params(c, &f, status);
	snprintf(n, sizeof(n), "%d", c->seq++);
	form_add(&f, "SequenceNumber", n);
	form_add(&f, "CallbackSource", "call-progress-events");
	form_add(&f, "Timestamp", c->created);
	if (c->answered_by != NULL)
		form_add(&f, "AnsweredBy", c->answered_by);
	if (ev == CALL_EV_COMPLETED) {
		secs = c->answered_us == 0
		    ? 0
		    : (c->ended_us - c->answered_us + 500000) / 1000000;
		snprintf(n, sizeof(n), "%lld", (long long)secs);
		form_add(&f, "CallDuration", n);
	}
	c->wait = WAIT_HOOK;
	hook_post(c->sim, c, event, c->status_cb, &f, hook_done);
}

static void
step_timer_cb(lws_sorted_usec_list_t *sul)
{
	struct call *c = lws_container_of(sul, struct call, step_sul);

	c->wait = WAIT_NONE;
	call_advance(c);
}

static void
wait_timer(struct call *c, int64_t ms)
{
	c->wait = WAIT_TIMER;
	lws_sul_schedule(
	    c->sim->ctx, 0, &c->step_sul, step_timer_cb, ms * 1000);
}

static void
end_now(struct call *c, const char *status, const char *why)
{
	if (c->ending || c->step >= STEP_END)
		return;
	stream_log("info", "call %s: ending (%s)", c->sid, why);
	c->ending = true;
	c->end_status = status;
	if (c->wait == WAIT_TIMER) {
		lws_sul_cancel(&c->step_sul);
		c->wait = WAIT_NONE;
	} else if (c->wait == WAIT_STREAM && c->stream != NULL)
		stream_call_hangup(c->stream); /* stop, close; then done */
	call_advance(c);
}

static void
limit_cb(lws_sorted_usec_list_t *sul)
{
	struct call *c = lws_container_of(sul, struct call, limit_sul);

	end_now(c, "completed", "callee hung up");
}

static void
amd_cb(lws_sorted_usec_list_t *sul)
{
	struct call *c = lws_container_of(sul, struct call, amd_sul);
	struct form  f = { NULL, 0, 0 };

	if (c->step >= STEP_END)
		return;
	form_add(&f, "CallSid", c->sid);
	form_add(&f, "AccountSid", c->sim->o.account_sid);
	form_add(&f, "AnsweredBy", c->answered_by);
	form_add(&f, "MachineDetectionDuration", "500");
	hook_post(c->sim, c, "amd", c->amd_cb, &f, NULL);
}

static void
answered(struct call *c)
{
	struct sim *sim = c->sim;
	int64_t     limit = sim->o.call_duration_ms;

	c->status = "in-progress";
	c->answered_us = stream_now_us();
	if (c->time_limit_s > 0
	    && (limit == 0 || (int64_t)c->time_limit_s * 1000 < limit))
		limit = (int64_t)c->time_limit_s * 1000;
	if (limit > 0)
		lws_sul_schedule(
		    sim->ctx, 0, &c->limit_sul, limit_cb, limit * 1000);
	if (c->amd && c->amd_async && c->amd_cb != NULL)
		lws_sul_schedule(
		    sim->ctx, 0, &c->amd_sul, amd_cb, SIM_AMD_MS * 1000);
}

/* A TwiML document the bridge served, for the conformance test. */
static void
capture_twiml(const char *xml)
{
	json_t *o = json_pack("{s:s}", "twiml", xml);

	capture_json("sim-twilio", "twiml", "document", o);
	json_decref(o);
}

static void
fetch_done(struct call *c, struct hook_job *j)
{
	struct twiml *doc;
	char          err[320];

	c->wait = WAIT_NONE;
	if (c->doc_stale) { /* REST replaced the TwiML meanwhile */
		c->doc_stale = false;
		call_advance(c);
		return;
	}
	if (j->http_status < 200 || j->http_status > 299 || j->resp == NULL) {
		snprintf(err, sizeof(err),
		    "TwiML request failed (HTTP %ld%s%s)", j->http_status,
		    j->error[0] ? ": " : "", j->error);
		free(c->error);
		c->error = stream_xstrdup(err);
		end_now(c, "completed", "no TwiML");
		return;
	}
	json_array_append_new(c->twiml_log, json_string(j->resp));
	if (!c->sim->o.telnyx) /* TeXML is checked against no library */
		capture_twiml(j->resp);
	if (twiml_parse(j->resp, j->resp_len, &doc, err, sizeof(err)) == -1) {
		free(c->error);
		c->error = stream_xstrdup(err);
		end_now(c, "completed", "bad TwiML");
		return;
	}
	twiml_free(c->doc);
	c->doc = doc;
	c->pc = 0;
	c->step = STEP_RUN;
	call_advance(c);
}

static void
fetch(struct call *c)
{
	struct form f = { NULL, 0, 0 };

	base_params(c, &f, c->inbound ? "ringing" : "in-progress");
	/* Twilio's geographic data: a value with a space, which a GET
	 * carries in its query */
	form_add(&f, "CallerCity", "SAN FRANCISCO");
	if (c->amd && !c->amd_async && c->answered_by != NULL)
		form_add(&f, "AnsweredBy", c->answered_by);
	c->wait = WAIT_HOOK;
	hook_post(c->sim, c, "twiml", c->url, &f, fetch_done);
}

static void
stream_done(struct stream_call *sc, void *arg)
{
	struct call *c = arg;

	json_array_append_new(c->streams, stream_call_json(sc));
	stream_call_free(sc); /* allowed: its done timer has fired */
	c->stream = NULL;
	c->wait = WAIT_NONE;
	call_advance(c);
}

static void
open_stream(struct call *c, const struct twiml_action *a)
{
	struct sim             *sim = c->sim;
	struct stream_call_opts o;

	memset(&o, 0, sizeof(o));
	o.url = sim->o.media_url != NULL ? sim->o.media_url : a->text;
	o.id = (int)json_array_size(c->streams) + 1;
	o.call_sid = c->sid;
	o.account_sid = sim->o.account_sid;
	o.params = a->params;
	o.sig_url = a->text; /* Twilio signs the URL written in TwiML */
	o.bearer = a->bearer;
	o.done_cb = stream_done;
	o.arg = c;
	c->wait = WAIT_STREAM;
	c->stream = stream_call_new(&sim->hub, &o);
}

/* Runs verbs until one waits or the document ends. */
static void
run(struct call *c)
{
	const struct twiml_action *a;

	while (c->wait == WAIT_NONE && !c->ending) {
		if (c->doc == NULL || c->pc >= c->doc->n) {
			end_now(c, "completed", "end of TwiML");
			return;
		}
		a = &c->doc->v[c->pc++];
		switch (a->verb) {
		case TWIML_SAY:
			json_array_append_new(c->said, json_string(a->text));
			break;
		case TWIML_PAUSE:
			wait_timer(c,
			    (int64_t)(a->length < SIM_PAUSE_MAX_S
			            ? a->length
			            : SIM_PAUSE_MAX_S)
			        * 1000);
			break;
		case TWIML_HANGUP:
			end_now(c, "completed", "<Hangup/>");
			return;
		case TWIML_STREAM:
			open_stream(c, a);
			break;
		case TWIML_UNSUPPORTED:
			json_array_append_new(
			    c->skipped, json_string(a->text));
			break;
		}
	}
}

static void
finish(struct call *c)
{
	c->status = c->end_status != NULL ? c->end_status : "completed";
	c->ended_us = stream_now_us();
	lws_sul_cancel(&c->limit_sul);
	lws_sul_cancel(&c->amd_sul);
	c->step = STEP_DONE;
	status_hook(c, CALL_EV_COMPLETED, "completed", c->status);
	stream_log("info", "call %s: %s after %lld ms", c->sid, c->status,
	    (long long)(c->ended_us - c->created_us) / 1000);
}

static void
call_advance(struct call *c)
{
	while (c->wait == WAIT_NONE && c->step != STEP_DONE) {
		if (c->ending && c->step < STEP_END)
			c->step = STEP_END;
		switch (c->step) {
		case STEP_INITIATED:
			c->step = STEP_RINGING;
			status_hook(
			    c, CALL_EV_INITIATED, "initiated", "initiated");
			break;
		case STEP_RINGING:
			c->status = "ringing";
			c->step = STEP_RING_WAIT;
			status_hook(c, CALL_EV_RINGING, "ringing", "ringing");
			break;
		case STEP_RING_WAIT:
			c->step = STEP_ANSWERED;
			wait_timer(c, c->sim->o.ring_ms);
			break;
		case STEP_ANSWERED:
			answered(c);
			c->step = STEP_FETCH;
			status_hook(
			    c, CALL_EV_ANSWERED, "answered", "in-progress");
			break;
		case STEP_FETCH:
			c->step = STEP_RUN;
			fetch(c);
			break;
		case STEP_RUN:
			run(c);
			break;
		case STEP_END:
			finish(c);
			break;
		case STEP_DONE:
			break;
		}
	}
}

static void
start_cb(lws_sorted_usec_list_t *sul)
{
	struct call *c = lws_container_of(sul, struct call, step_sul);

	c->wait = WAIT_NONE;
	if (c->inbound) { /* inbound: the TwiML request comes first */
		c->status = "ringing";
		c->answered_us = stream_now_us();
		c->step = STEP_FETCH;
	}
	call_advance(c);
}

void
call_start(struct call *c)
{
	/* Later, from the loop, so the REST answer goes out first. */
	c->wait = WAIT_TIMER;
	lws_sul_schedule(c->sim->ctx, 0, &c->step_sul, start_cb, 1000);
}

/* Stops what the call waits on before its TwiML is replaced. */
static void
interrupt(struct call *c)
{
	if (c->wait == WAIT_TIMER) {
		lws_sul_cancel(&c->step_sul);
		c->wait = WAIT_NONE;
	} else if (c->wait == WAIT_STREAM && c->stream != NULL)
		stream_call_hangup(c->stream);
	else if (c->wait == WAIT_HOOK && c->step == STEP_RUN)
		c->doc_stale = true; /* the fetch in flight is moot */
}

int
call_update(struct call *c, const struct form *f, struct api_resp *err)
{
	const char   *status = form_get(f, "Status");
	const char   *twiml = form_get(f, "Twiml"), *url = form_get(f, "Url");
	struct twiml *doc;
	char          e[160];

	if (status == NULL && (twiml != NULL || url != NULL)
	    && c->step >= STEP_END) {
		err->status = 400;
		err->body = api_error(21220,
		    "Call is not in-progress. Cannot "
		    "redirect.",
		    400);
		return (-1);
	}
	if (status != NULL && strcmp(status, "completed") == 0)
		end_now(c, c->answered_us != 0 ? "completed" : "canceled",
		    "REST Status=completed");
	else if (status != NULL && strcmp(status, "canceled") == 0) {
		if (c->answered_us == 0)
			end_now(c, "canceled", "REST Status=canceled");
	} else if (twiml != NULL && c->step < STEP_END) {
		if (twiml_parse(twiml, strlen(twiml), &doc, e, sizeof(e))
		    == -1) {
			err->status = 400;
			err->body = api_error(12100, e, 400);
			return (-1);
		}
		json_array_append_new(c->twiml_log, json_string(twiml));
		interrupt(c);
		twiml_free(c->doc);
		c->doc = doc;
		c->pc = 0;
		c->step = STEP_RUN;
		call_advance(c);
	} else if (url != NULL && c->step < STEP_END) {
		free(c->url);
		c->url = stream_xstrdup(url);
		interrupt(c);
		c->step = STEP_FETCH;
		call_advance(c);
	}
	return (0);
}

/* StatusCallbackEvent: repeated, or space separated in one value. */
static unsigned
parse_events(const struct form *f)
{
	static const char *const names[]
	    = { "initiated", "ringing", "answered", "completed" };
	unsigned ev = 0, i, k;
	char    *copy, *tok, *save;

	for (i = 0; i < f->n; i++) {
		if (strcmp(f->v[i].name, "StatusCallbackEvent") != 0)
			continue;
		copy = stream_xstrdup(f->v[i].value);
		for (tok = strtok_r(copy, " ", &save); tok != NULL;
		     tok = strtok_r(NULL, " ", &save))
			for (k = 0; k < 4; k++)
				if (strcmp(tok, names[k]) == 0)
					ev |= 1u << k;
		free(copy);
	}
	return (ev != 0 ? ev : CALL_EV_COMPLETED); /* Twilio's default */
}

static char *
opt_dup(const struct form *f, const char *name)
{
	const char *v = form_get(f, name);

	return (v != NULL && *v != '\0' ? stream_xstrdup(v) : NULL);
}

struct call *
call_new(
    struct sim *sim, const struct form *f, bool inbound, struct api_resp *err)
{
	const char  *to = form_get(f, "To"), *from = form_get(f, "From");
	const char  *url = form_get(f, "Url"), *md, *tl;
	struct call *c;
	long long    n;
	time_t       now = time(NULL);
	struct tm    tm;

	if (to == NULL || from == NULL || url == NULL || !*to || !*from
	    || !*url) {
		err->status = 400;
		err->body = api_error(21205,
		    to == NULL || !*to ? "A 'To' phone number is required."
		        : from == NULL || !*from
		        ? "A 'From' phone number is required."
		        : "Url parameter is required.",
		    400);
		return (NULL);
	}
	c = stream_xcalloc(1, sizeof(*c));
	c->sim = sim;
	stream_sid_make(c->sid,
	    sim->o.signalwire   ? NULL
	        : sim->o.telnyx ? "v3:"
	                        : "CA");
	c->inbound = inbound;
	c->to = stream_xstrdup(to);
	c->from = stream_xstrdup(from);
	c->url = stream_xstrdup(url);
	c->status_cb = opt_dup(f, "StatusCallback");
	c->amd_cb = opt_dup(f, "AsyncAmdStatusCallback");
	c->events = parse_events(f);
	md = form_get(f, "MachineDetection");
	c->amd = md != NULL
	    && (strcmp(md, "Enable") == 0
	        || strcmp(md, "DetectMessageEnd") == 0);
	c->amd_async = c->amd && form_get(f, "AsyncAmd") != NULL
	    && strcmp(form_get(f, "AsyncAmd"), "true") == 0;
	c->answered_by = c->amd ? sim->o.answered_by : NULL;
	if ((tl = form_get(f, "TimeLimit")) != NULL
	    && stream_parse_int(tl, 1, 14400, &n) == 0)
		c->time_limit_s = (int)n;
	c->status = "queued";
	c->created_us = stream_now_us();
	gmtime_r(&now, &tm);
	strftime(c->created, sizeof(c->created), "%a, %d %b %Y %H:%M:%S +0000",
	    &tm);
	c->streams = json_array();
	c->hooks_log = json_array();
	c->twiml_log = json_array();
	c->said = json_array();
	c->send_dtmf = json_array();
	c->skipped = json_array();
	c->next = sim->calls;
	sim->calls = c;
	return (c);
}

struct call *
call_find(struct sim *sim, const char *sid)
{
	struct call *c;

	for (c = sim->calls; c != NULL; c = c->next)
		if (strcmp(c->sid, sid) == 0)
			return (c);
	return (NULL);
}

/* Before lws_context_destroy(): streams and timers belong to it. */
void
call_free_all(struct sim *sim)
{
	struct call *c;

	while ((c = sim->calls) != NULL) {
		sim->calls = c->next;
		lws_sul_cancel(&c->step_sul);
		lws_sul_cancel(&c->limit_sul);
		lws_sul_cancel(&c->amd_sul);
		stream_call_free(c->stream);
		twiml_free(c->doc);
		json_decref(c->streams);
		json_decref(c->hooks_log);
		json_decref(c->twiml_log);
		json_decref(c->said);
		json_decref(c->send_dtmf);
		json_decref(c->skipped);
		free(c->to);
		free(c->from);
		free(c->url);
		free(c->status_cb);
		free(c->amd_cb);
		free(c->error);
		free(c);
	}
}
