/*
 * api - the routes of the simulated provider:
 *
 *   POST {base}/Accounts/{sid}/Calls[.json]          create a call (5.2)
 *   POST {base}/Accounts/{sid}/Calls/{CallSid}[.json] update a call (5.4)
 *   GET  {base}/Accounts/{sid}/Calls/{CallSid}[.json] fetch a call
 *   GET  {base}/Accounts/{sid}/IncomingPhoneNumbers[.json][?PhoneNumber=]
 *   GET/POST {base}/Accounts/{sid}/IncomingPhoneNumbers/{PN}[.json]
 *        the account's phone number (numbers.c)
 *   POST /sim/inbound     {"to","from","url","status_callback"}: a call in
 *   GET  /sim/calls       every call sid
 *   GET  /sim/calls/{sid} what happened to that call
 *
 * {base} is /2010-04-01, or /api/laml/2010-04-01 in SignalWire mode;
 * in Telnyx mode (--telnyx) its own routes under /v2 (telnyx.c).  The
 * provider routes need HTTP Basic auth AccountSid:AuthToken (compared in
 * constant time); /sim/ routes are the test's back door and need none.
 * Every request is recorded, without its Authorization header.  The
 * call resource follows protocols.md 5.2 (the fields the SDKs read); the
 * /sim/calls/{sid} view is everything the simulator saw happen to a call.
 * lws service thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "capture.h"
#include "twilio.h"

json_t *
api_error(int code, const char *message, int status)
{
	char info[80];

	snprintf(
	    info, sizeof(info), "https://www.twilio.com/docs/errors/%d", code);
	return (json_pack("{s:i, s:s, s:s, s:i}", "code", code, "message",
	    message, "more_info", info, "status", status));
}

static const char *const step_names[] = { "initiated", "ringing", "ring_wait",
	"answered", "fetch", "run", "end", "done" };

static json_t *
str_or_null(const char *s)
{
	return (s != NULL ? json_string(s) : json_null());
}

static json_t *
duration(const struct call *c)
{
	char n[32];

	if (c->ended_us == 0 || c->answered_us == 0)
		return (json_null());
	snprintf(n, sizeof(n), "%lld",
	    (long long)(c->ended_us - c->answered_us + 500000) / 1000000);
	return (json_string(n)); /* Twilio sends it as a string */
}

json_t *
call_resource(const struct call *c)
{
	const struct sim *sim = c->sim;
	json_t           *r;
	char              uri[256], sub[3][300];

	snprintf(uri, sizeof(uri), "%s/Accounts/%s/Calls/%s.json",
	    sim->api_base, sim->o.account_sid, c->sid);
	snprintf(sub[0], sizeof(sub[0]), "%.*s/Recordings.json",
	    (int)strlen(uri) - 5, uri);
	snprintf(sub[1], sizeof(sub[1]), "%.*s/Streams.json",
	    (int)strlen(uri) - 5, uri);
	snprintf(sub[2], sizeof(sub[2]), "%.*s/Notifications.json",
	    (int)strlen(uri) - 5, uri);
	r = json_pack("{s:s, s:s, s:n, s:s, s:s, s:s, s:s, s:n, s:s, s:o}",
	    "sid", c->sid, "account_sid", sim->o.account_sid,
	    "parent_call_sid", "to", c->to, "to_formatted", c->to, "from",
	    c->from, "from_formatted", c->from, "phone_number_sid", "status",
	    c->status, "duration", duration(c));
	if (r == NULL)
		return (json_object());
	json_object_set_new(r, "start_time", json_null());
	json_object_set_new(r, "end_time", json_null());
	json_object_set_new(r, "price", json_null());
	json_object_set_new(r, "price_unit", json_string("USD"));
	json_object_set_new(r, "direction",
	    json_string(c->inbound ? "inbound" : "outbound-api"));
	json_object_set_new(r, "answered_by", str_or_null(c->answered_by));
	json_object_set_new(r, "api_version", json_string("2010-04-01"));
	json_object_set_new(r, "forwarded_from", json_null());
	json_object_set_new(r, "group_sid", json_null());
	json_object_set_new(r, "caller_name", json_null());
	json_object_set_new(r, "queue_time", json_string("0"));
	json_object_set_new(r, "trunk_sid", json_null());
	json_object_set_new(r, "date_created", json_string(c->created));
	json_object_set_new(r, "date_updated", json_string(c->created));
	json_object_set_new(r, "uri", json_string(uri));
	json_object_set_new(r, "subresource_uris",
	    json_pack("{s:s, s:s, s:s}", "recordings", sub[0], "streams",
	        sub[1], "notifications", sub[2]));
	return (r);
}

json_t *
call_view(const struct call *c)
{
	json_t *r, *streams;

	streams = json_copy(c->streams);
	if (c->stream != NULL)
		json_array_append_new(streams, stream_call_json(c->stream));
	r = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b}", "sid",
	    c->sid, "status", c->status, "step", step_names[c->step],
	    "direction", c->inbound ? "inbound" : "outbound-api", "to", c->to,
	    "from", c->from, "amd", c->amd, "amd_async", c->amd_async);
	if (r == NULL) {
		json_decref(streams);
		return (json_object());
	}
	json_object_set_new(r, "answered_by", str_or_null(c->answered_by));
	json_object_set_new(r, "url", json_string(c->url));
	json_object_set_new(r, "duration", duration(c));
	json_object_set_new(r, "error", str_or_null(c->error));
	json_object_set(r, "webhooks", c->hooks_log);
	json_object_set(r, "twiml", c->twiml_log);
	json_object_set(r, "said", c->said);
	json_object_set(r, "unsupported_verbs", c->skipped);
	json_object_set(r, "send_dtmf", c->send_dtmf);
	json_object_set_new(r, "streams", streams);
	return (r);
}

static void
respond(struct api_resp *resp, int status, json_t *body)
{
	resp->status = status;
	resp->body = body;
}

static bool
secret_eq(const char *a, const char *b)
{
	size_t n = strlen(a);

	return (n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0);
}

/* "Basic base64(user:pass)" against the configured pair. */
static const char *
check_auth(const struct sim *sim, const char *hdr)
{
	unsigned char dec[512];
	const char   *b64;
	char         *colon;
	size_t        n;
	int           len;

	if (hdr == NULL || *hdr == '\0')
		return ("none");
	if (strncasecmp(hdr, "Basic ", 6) != 0)
		return ("bad");
	b64 = hdr + 6;
	n = strlen(b64);
	if (n == 0 || n % 4 != 0 || n / 4 * 3 >= sizeof(dec)
	    || (len = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)n))
	        < 0)
		return ("bad");
	len -= (b64[n - 1] == '=') + (b64[n - 2] == '=');
	dec[len] = '\0';
	if ((colon = strchr((char *)dec, ':')) == NULL)
		return ("bad");
	*colon = '\0';
	if (!secret_eq((char *)dec, sim->o.account_sid)
	    || !secret_eq(colon + 1, sim->o.auth_token))
		return ("bad");
	return ("ok");
}

static void
create(struct sim *sim, const struct form *f, struct api_resp *resp)
{
	struct call *c;
	json_t      *form = form_json(f);

	capture_json("sim-twilio", "twilio-rest", "calls.create", form);
	json_decref(form);
	if ((c = call_new(sim, f, false, resp)) == NULL)
		return;
	stream_log("info", "call %s: created", c->sid);
	respond(resp, 201, call_resource(c));
	call_start(c);
}

static void
update(struct sim *sim, const char *sid, const struct form *f, bool post,
    struct api_resp *resp)
{
	struct call *c;
	json_t      *form;

	if (post) {
		form = form_json(f);
		capture_json(
		    "sim-twilio", "twilio-rest", "calls.update", form);
		json_decref(form);
	}

	if ((c = call_find(sim, sid)) == NULL) {
		respond(resp, 404,
		    api_error(20404,
		        "The requested resource "
		        "was not found",
		        404));
		return;
	}
	if (post && call_update(c, f, resp) == -1)
		return;
	respond(resp, 200, call_resource(c));
}

/* {base}/Accounts/{sid}/Calls[/...]: auth, account, then the call. */
static void
provider(struct sim *sim, const struct api_req *req, const char *rest,
    const struct form *f, struct api_resp *resp)
{
	size_t      n = strlen(sim->o.account_sid);
	char        sid[STREAM_SID_LEN + 8];
	const char *p;

	if (strncmp(rest, "/Accounts/", 10) == 0
	    && strncmp(rest + 10, sim->o.account_sid, n) == 0
	    && strncmp(rest + 10 + n, "/IncomingPhoneNumbers", 21) == 0) {
		numbers_handle(sim, req, rest + 10 + n + 21, f, resp);
		return;
	}
	if (strncmp(rest, "/Accounts/", 10) != 0
	    || strncmp(rest + 10, sim->o.account_sid, n) != 0
	    || strncmp(rest + 10 + n, "/Calls", 6) != 0) {
		respond(resp, 404,
		    api_error(20404,
		        "The requested resource "
		        "was not found",
		        404));
		return;
	}
	p = rest + 10 + n + 6;
	if (strcmp(p, "") == 0 || strcmp(p, ".json") == 0) {
		if (req->post)
			create(sim, f, resp);
		else
			respond(resp, 405,
			    api_error(20004,
			        "Method not "
			        "allowed",
			        405));
		return;
	}
	if (*p != '/' || strlen(p + 1) > STREAM_SID_LEN + 5) {
		respond(resp, 404,
		    api_error(20404,
		        "The requested resource "
		        "was not found",
		        404));
		return;
	}
	snprintf(sid, sizeof(sid), "%s", p + 1);
	n = strlen(sid);
	if (n > 5 && strcmp(sid + n - 5, ".json") == 0)
		sid[n - 5] = '\0';
	update(sim, sid, f, req->post, resp);
}

/* POST /sim/inbound: a JSON body describes the caller. */
static void
inbound(struct sim *sim, const struct api_req *req, struct api_resp *resp)
{
	json_t      *j;
	json_error_t jerr;
	struct form  f = { NULL, 0, 0 };
	struct call *c;
	const char  *v;

	if ((j = json_loadb(req->body, req->len, 0, &jerr)) == NULL) {
		respond(resp, 400, json_pack("{s:s}", "error", jerr.text));
		return;
	}
	if ((v = json_string_value(json_object_get(j, "to"))) != NULL)
		form_add(&f, "To", v);
	if ((v = json_string_value(json_object_get(j, "from"))) != NULL)
		form_add(&f, "From", v);
	if ((v = json_string_value(json_object_get(j, "url"))) != NULL)
		form_add(&f, "Url", v);
	if ((v = json_string_value(json_object_get(j, "status_callback")))
	    != NULL)
		form_add(&f, "StatusCallback", v);
	if ((c = call_new(sim, &f, true, resp)) != NULL) {
		stream_log("info", "call %s: inbound", c->sid);
		respond(resp, 201, json_pack("{s:s}", "call_sid", c->sid));
		call_start(c);
	}
	form_free(&f);
	json_decref(j);
}

static void
sim_routes(struct sim *sim, const struct api_req *req, struct api_resp *resp)
{
	struct call *c;
	json_t      *list;

	if (req->post && strcmp(req->path, "/sim/inbound") == 0)
		inbound(sim, req, resp);
	else if (!req->post && strcmp(req->path, "/sim/calls") == 0) {
		list = json_array();
		for (c = sim->calls; c != NULL; c = c->next)
			json_array_append_new(list, json_string(c->sid));
		respond(resp, 200, json_pack("{s:o}", "calls", list));
	} else if (!req->post && strncmp(req->path, "/sim/calls/", 11) == 0
	    && (c = call_find(sim, req->path + 11)) != NULL)
		respond(resp, 200, call_view(c));
	else
		respond(resp, 404,
		    api_error(20404,
		        "The requested resource "
		        "was not found",
		        404));
}

static void
record(struct sim *sim, const struct api_req *req, const struct form *f,
    const char *auth, const struct api_resp *resp)
{
	json_t *line, *params;

	if (sim->o.telnyx && strncmp(req->path, "/v2/", 4) == 0)
		params = json_loadb(req->body, req->len, 0, NULL); /* JSON */
	else if (req->post && strncmp(req->path, "/sim/", 5) != 0)
		params = form_json(f);
	else
		params = json_stringn(req->body, req->len);
	line = json_pack("{s:s, s:s, s:s, s:o, s:s, s:i}", "kind", "rest",
	    "method", req->post ? "POST" : "GET", "path", req->path, "params",
	    params != NULL ? params : json_null(), "auth", auth, "status",
	    resp->status);
	sim_record(sim, line);
}

void
api_handle(struct sim *sim, const struct api_req *req, struct api_resp *resp)
{
	struct form f = { NULL, 0, 0 };
	size_t      nb = strlen(sim->api_base);
	const char *auth = "n/a";
	int         bad_form = 0;

	resp->status = 500;
	resp->body = NULL;
	if (req->post && strncmp(req->path, "/sim/", 5) != 0)
		bad_form = form_parse(&f, req->body, req->len);
	if (strncmp(req->path, "/sim/", 5) == 0)
		sim_routes(sim, req, resp);
	else if (sim->o.telnyx && strncmp(req->path, "/v2/", 4) == 0)
		auth = telnyx_handle(sim, req, resp);
	else if (strncmp(req->path, sim->api_base, nb) != 0)
		respond(resp, 404,
		    api_error(20404,
		        "The requested resource "
		        "was not found",
		        404));
	else if (strcmp(auth = check_auth(sim, req->auth), "ok") != 0)
		respond(resp, 401,
		    api_error(20003,
		        "Authentication Error - "
		        "invalid username",
		        401));
	else if (bad_form == -1)
		respond(
		    resp, 400, api_error(21100, "Malformed form body", 400));
	else
		provider(sim, req, req->path + nb, &f, resp);
	if (resp->body == NULL)
		resp->body = json_object();
	record(sim, req, &f, auth, resp);
	form_free(&f);
}
