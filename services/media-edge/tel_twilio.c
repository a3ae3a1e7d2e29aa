/*
 * tel_twilio.c - Twilio (protocols.md 1 and 3): webhooks signed with
 * X-Twilio-Signature (HMAC-SHA1 over the URL and the sorted form, form.c),
 * TwiML <Connect><Stream>, the 2010-04-01 REST API with the account sid
 * and auth token, and the media-stream dialect with streamSid.
 *
 * The REST helpers tel_laml_*() are shared with tel_signalwire.c, whose
 * compatibility API ("LaML") takes the same requests.
 *
 * Pure; any thread.
 */
#include <stdlib.h>
#include <string.h>

#include "edge.h"
#include "tel.h"

const struct tel_dialect tel_twiml_dialect = {
	.stream_top = "streamSid",
	.start_stream = "streamSid",
	.start_call = "callSid",
	.start_account = "accountSid",
	.start_params = "customParameters",
	.media_ts_ms = true,
};

int
tel_laml_create(const struct edge *e, const struct tel_dial *d,
    const char *base, const char *user, const char *pass, struct tel_req *r)
{
	char *body = NULL, u[600], tl[16];

	if (base[0] == '\0' || user[0] == '\0')
		return (-1);
	snprintf(
	    r->url, sizeof(r->url), "%s/Accounts/%s/Calls.json", base, user);
	r->user = user;
	r->pass = pass;
	r->hdr[0] = '\0';
	r->ctype = "application/x-www-form-urlencoded";
	tel_form_add(&body, "To", d->to);
	tel_form_add(&body, "From", d->from);
	snprintf(u, sizeof(u), "%s/twiml", e->cfg.public_url);
	tel_form_add(&body, "Url", u);
	tel_form_add(&body, "Method", "POST");
	snprintf(u, sizeof(u), "%s/status", e->cfg.public_url);
	tel_form_add(&body, "StatusCallback", u);
	tel_form_add(&body, "StatusCallbackMethod", "POST");
	tel_form_add(&body, "StatusCallbackEvent", "initiated");
	tel_form_add(&body, "StatusCallbackEvent", "ringing");
	tel_form_add(&body, "StatusCallbackEvent", "answered");
	tel_form_add(&body, "StatusCallbackEvent", "completed");
	if (e->cfg.machine_detection[0] != '\0') {
		tel_form_add(
		    &body, "MachineDetection", e->cfg.machine_detection);
		tel_form_add(&body, "AsyncAmd", "true");
		tel_form_add(&body, "AsyncAmdStatusCallback", u);
		tel_form_add(&body, "AsyncAmdStatusCallbackMethod", "POST");
	}
	snprintf(tl, sizeof(tl), "%ld", d->time_limit_s);
	tel_form_add(&body, "TimeLimit", tl);
	r->body = body;
	return (0);
}

int
tel_laml_hangup(const char *base, const char *user, const char *pass,
    const char *call_sid, struct tel_req *r)
{
	if (base[0] == '\0' || user[0] == '\0')
		return (-1);
	snprintf(r->url, sizeof(r->url), "%s/Accounts/%s/Calls/%s.json", base,
	    user, call_sid);
	r->user = user;
	r->pass = pass;
	r->hdr[0] = '\0';
	r->ctype = "application/x-www-form-urlencoded";
	r->body = strdup("Status=completed");
	return (r->body != NULL ? 0 : -1);
}

/* The call resource's "sid". */
int
tel_laml_sid(const char *resp, char *sid, size_t len)
{
	static const char *const keys[] = { "sid", NULL };

	return (tel_json_sid(resp, keys, sid, len));
}

static bool
twilio_webhook_ok(const struct edge *e, const struct tel_hook *h)
{
	if (h->query != NULL)
		return (form_query_sig_ok(
		    e->twilio_key, h->url, h->query, h->sig));
	return (form_sig_ok(e->twilio_key, h->url, h->form, false, h->sig));
}

static int
twilio_answer(const struct tel_answer *a, char **docp)
{
	return (tel_connect_stream(a, "", docp));
}

static const char *
twilio_from(const struct edge *e)
{
	return (e->cfg.twilio_from);
}

static int
twilio_create(
    const struct edge *e, const struct tel_dial *d, struct tel_req *r)
{
	return (tel_laml_create(e, d, e->cfg.twilio_api_base,
	    e->cfg.twilio_account_sid, e->cfg.twilio_auth_token, r));
}

static int
twilio_hangup(const struct edge *e, const char *sid, struct tel_req *r)
{
	return (tel_laml_hangup(e->cfg.twilio_api_base,
	    e->cfg.twilio_account_sid, e->cfg.twilio_auth_token, sid, r));
}

const struct tel_provider tel_twilio = {
	.name = "twilio",
	.id = BUS__PROVIDER__TWILIO,
	.sig_headers = { "x-twilio-signature:", NULL },
	.ts_header = NULL,
	.sid_extra = "",
	.end_statuses = tel_twiml_end_statuses,
	.ws = &tel_twiml_dialect,
	.twiml_get = true,
	.webhook_ok = twilio_webhook_ok,
	.answer = twilio_answer,
	.default_from = twilio_from,
	.create_req = twilio_create,
	.created_sid = tel_laml_sid,
	.hangup_req = twilio_hangup,
};
