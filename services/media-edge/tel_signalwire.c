/*
 * tel_signalwire.c - SignalWire's compatibility API (protocols.md 4): the
 * LaML REST API of twilio.c under SIGNALWIRE_API_BASE_URL with the
 * project id and API token, webhooks signed with the signing key in
 * X-SignalWire-Signature (scheme B of form.c: sorted by name only,
 * duplicates kept), LaML <Connect><Stream>, and a media dialect with
 * Twilio's field names (version 0.2.0, customParameters optional).
 *
 * Pure; any thread.
 */
#include "edge.h"
#include "tel.h"

static bool
sw_webhook_ok(const struct edge *e, const struct tel_hook *h)
{
	if (h->query != NULL) /* the URL alone: no sorting to differ in */
		return (form_query_sig_ok(
		    e->cfg.sw_signing_key, h->url, h->query, h->sig));
	return (
	    form_sig_ok(e->cfg.sw_signing_key, h->url, h->form, true, h->sig));
}

static int
sw_answer(const struct tel_answer *a, char **docp)
{
	return (tel_connect_stream(a, "", docp));
}

static const char *
sw_from(const struct edge *e)
{
	return (e->cfg.sw_from);
}

static int
sw_create(const struct edge *e, const struct tel_dial *d, struct tel_req *r)
{
	return (tel_laml_create(e, d, e->cfg.sw_api_base, e->cfg.sw_project_id,
	    e->cfg.sw_api_token, r));
}

static int
sw_hangup(const struct edge *e, const char *sid, struct tel_req *r)
{
	return (tel_laml_hangup(e->cfg.sw_api_base, e->cfg.sw_project_id,
	    e->cfg.sw_api_token, sid, r));
}

const struct tel_provider tel_signalwire = {
	.name = "signalwire",
	.id = BUS__PROVIDER__SIGNALWIRE,
	.sig_headers
	= { "x-signalwire-signature:", "x-twilio-signature:", NULL },
	.ts_header = NULL,
	.sid_extra = "",
	.end_statuses = tel_twiml_end_statuses,
	.ws = &tel_twiml_dialect,
	.twiml_get = true,
	.webhook_ok = sw_webhook_ok,
	.answer = sw_answer,
	.default_from = sw_from,
	.create_req = sw_create,
	.created_sid = tel_laml_sid,
	.hangup_req = sw_hangup,
};
