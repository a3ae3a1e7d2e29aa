/*
 * telnyx - sim-twilio --telnyx: the simulated Telnyx
 * (docs/protocols-telnyx.md), on the same call machine as Twilio's:
 *
 *   POST /v2/texml/calls/{application id}    create a call: a JSON body
 *        {To, From, Url, StatusCallback, StatusCallbackEvent (space
 *        separated), MachineDetection, AsyncAmd, AsyncAmdStatusCallback,
 *        TimeLimit}; answers 200 with the flat call object {call_sid, ...}
 *   POST /v2/calls/{call control id}/actions/hangup    hang up: 200
 *        {"data":{"result":"ok"}}, 404 for a call we do not have
 *   POST /v2/calls/{call control id}/actions/send_dtmf    {"digits":
 *        1-32 of 0-9 A-D * # w W}: 200 {"data":{"result":"ok"}}, 422 for
 *        bad digits, 404 for a call we do not have or that has ended;
 *        --telnyx-dtmf-status S answers S instead (an error body).  Each
 *        request is kept in the call's view ("send_dtmf": [{digits,
 *        status}]) and the record ("telnyx_send_dtmf").
 *
 * Both need "Authorization: Bearer <--auth-token>" (constant time); the
 * application id is --account-sid.  Nothing here is captured for the
 * conformance test, which checks against Twilio's library: no Telnyx
 * library is pinned.  Webhooks (hook.c) are the TeXML ones
 * (form bodies, CallSid "v3:..."), signed with Ed25519 over
 * "<telnyx-timestamp>|<body>" with the private key of --telnyx-key (the
 * base64 of a 32-byte seed; the test gives media-edge its public key).
 *
 * telnyx_handle() runs on the lws thread; hook workers sign with
 * edsig_sign() (tests/sim/lib/edsig.h).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "edsig.h"
#include "twilio.h"

int
telnyx_key_load(struct sim *sim)
{
	const char   *b64 = sim->o.telnyx_key;
	unsigned char seed[48];
	int           n;

	if (b64 == NULL || strlen(b64) != 44
	    || (n = EVP_DecodeBlock(seed, (const unsigned char *)b64, 44))
	        != 33) /* 32 bytes and one of padding */
		return (-1);
	sim->ed_key
	    = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	OPENSSL_cleanse(seed, sizeof(seed));
	return (sim->ed_key != NULL ? 0 : -1);
}

static void
respond(struct api_resp *resp, int status, json_t *body)
{
	resp->status = status;
	resp->body = body;
}

static json_t *
error(const char *code, const char *title, const char *detail)
{
	return (json_pack("{s:[{s:s, s:s, s:s}]}", "errors", "code", code,
	    "title", title, "detail", detail));
}

static const char *
bearer(const struct sim *sim, const char *hdr)
{
	size_t n = strlen(sim->o.auth_token);

	if (hdr == NULL || *hdr == '\0')
		return ("none");
	return (strncmp(hdr, "Bearer ", 7) == 0 && strlen(hdr + 7) == n
	            && CRYPTO_memcmp(hdr + 7, sim->o.auth_token, n) == 0
	        ? "ok"
	        : "bad");
}

/* The JSON body as the form call_new() reads. */
static void
json_form(json_t *o, struct form *f)
{
	static const char *const keys[] = { "To", "From", "Url",
		"StatusCallback", "StatusCallbackEvent", "MachineDetection",
		"AsyncAmdStatusCallback", "TimeLimit", NULL };
	const char *const       *k;
	json_t                  *v;

	for (k = keys; *k != NULL; k++)
		if ((v = json_object_get(o, *k)) != NULL && json_is_string(v))
			form_add(f, *k, json_string_value(v));
	if (json_is_true(json_object_get(o, "AsyncAmd")))
		form_add(f, "AsyncAmd", "true");
}

static void
create(struct sim *sim, const struct api_req *req, struct api_resp *resp)
{
	struct form  f = { NULL, 0, 0 };
	json_t      *o;
	struct call *c;

	if ((o = json_loadb(req->body, req->len, 0, NULL)) == NULL
	    || !json_is_object(o)) {
		respond(resp, 422,
		    error("10015", "Bad request", "the body is not JSON"));
		json_decref(o);
		return;
	}
	json_form(o, &f);
	json_decref(o);
	if ((c = call_new(sim, &f, false, resp)) != NULL) {
		stream_log("info", "call %s: created", c->sid);
		respond(resp, 200,
		    json_pack("{s:s, s:s, s:s, s:s}", "call_sid", c->sid,
		        "from", c->from, "to", c->to, "status", "queued"));
		call_start(c);
	}
	form_free(&f);
}

static void
hangup(struct sim *sim, const char *sid, struct api_resp *resp)
{
	struct form  f = { NULL, 0, 0 };
	struct call *c;

	if ((c = call_find(sim, sid)) == NULL) {
		respond(resp, 404,
		    error("10005", "Resource not found", "no such call"));
		return;
	}
	form_add(&f, "Status", "completed");
	if (call_update(c, &f, resp) == 0)
		respond(
		    resp, 200, json_pack("{s:{s:s}}", "data", "result", "ok"));
	form_free(&f);
}

static bool
telnyx_digits_ok(const char *d)
{
	size_t n = d != NULL ? strlen(d) : 0;

	return (n > 0 && n <= 32 && strspn(d, "0123456789ABCD*#wW") == n);
}

static void
send_dtmf(struct sim *sim, const char *sid, const struct api_req *req,
    struct api_resp *resp)
{
	struct call *c = call_find(sim, sid);
	json_t      *o = json_loadb(req->body, req->len, 0, NULL);
	const char  *d = json_string_value(json_object_get(o, "digits"));
	int          status = sim->o.telnyx_dtmf_status;

	if (c == NULL || c->ending || c->stream == NULL)
		respond(resp, 404,
		    error("90018", "Call has already ended",
		        "no such call, or it has ended"));
	else if (!json_is_object(o) || !telnyx_digits_ok(d))
		respond(resp, 422,
		    error("10015", "Bad request",
		        "digits: 1-32 of 0-9, A-D, *, #, w, W"));
	else if (status != 0 && status != 200)
		respond(resp, status,
		    error("10007", "Unexpected error", "injected failure"));
	else
		respond(
		    resp, 200, json_pack("{s:{s:s}}", "data", "result", "ok"));
	if (c != NULL)
		json_array_append_new(c->send_dtmf,
		    json_pack("{s:s, s:i}", "digits", d != NULL ? d : "",
		        "status", resp->status));
	sim_record(sim,
	    json_pack("{s:s, s:s, s:s, s:i}", "event", "telnyx_send_dtmf",
	        "sid", sid, "digits", d != NULL ? d : "", "status",
	        resp->status));
	json_decref(o);
}

/* "/calls/{sid}<action>" in p: the sid into sid. */
static bool
call_action(const char *p, const char *action, char *sid, size_t len)
{
	const char *end;

	if (strncmp(p, "/calls/", 7) != 0
	    || (end = strstr(p + 7, action)) == NULL
	    || strcmp(end, action) != 0 || (size_t)(end - (p + 7)) >= len)
		return (false);
	snprintf(sid, len, "%.*s", (int)(end - (p + 7)), p + 7);
	return (true);
}

const char *
telnyx_handle(
    struct sim *sim, const struct api_req *req, struct api_resp *resp)
{
	const char *app = sim->o.account_sid, *p = req->path + 3;
	const char *auth = bearer(sim, req->auth);
	char        sid[STREAM_SID_LEN + 1];
	size_t      n = strlen(app);

	if (strcmp(auth, "ok") != 0)
		respond(resp, 401,
		    error("10009", "Authentication failed",
		        "bearer token required"));
	else if (!req->post)
		respond(resp, 405,
		    error("10015", "Method not allowed", "POST only"));
	else if (strncmp(p, "/texml/calls/", 13) == 0
	    && strncmp(p + 13, app, n) == 0 && p[13 + n] == '\0')
		create(sim, req, resp);
	else if (call_action(p, "/actions/hangup", sid, sizeof(sid)))
		hangup(sim, sid, resp);
	else if (call_action(p, "/actions/send_dtmf", sid, sizeof(sid)))
		send_dtmf(sim, sid, req, resp);
	else
		respond(resp, 404,
		    error("10005", "Resource not found", "unknown route"));
	return (auth);
}
