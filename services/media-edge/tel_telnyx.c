/*
 * tel_telnyx.c - Telnyx (docs/providers.md, "Telnyx"): TeXML webhooks signed
 * with Ed25519 over "<telnyx-timestamp>|<raw body>" (the signature in
 * telnyx-signature-ed25519, base64; TELNYX_PUBLIC_KEY is the account's
 * base64 public key) and refused outside TELNYX_WEBHOOK_TOLERANCE_S of
 * our clock; a TeXML <Connect><Stream> in RTP bidirectional mode; the
 * TeXML REST "create call" for TELNYX_APPLICATION_ID and the Call
 * Control "hangup" and "send_dtmf" actions, with the API key as bearer
 * token; and the media dialect with a top-level stream_id,
 * start.call_control_id and start.custom_parameters.
 *
 * Pure apart from the clock; any thread.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "codec.h"
#include "edge.h"
#include "tel.h"
#include "xmalloc.h"

#define ED25519_KEY 32
#define ED25519_SIG 64

/* 0 and the decoded bytes when b64 holds exactly want of them. */
static int
b64_exact(const char *b64, unsigned char *out, size_t want)
{
	unsigned char buf[128];
	int           n;

	if (b64 == NULL || strlen(b64) > 4 * sizeof(buf) / 3)
		return (-1);
	n = codec_b64_decode(b64, strlen(b64), buf, sizeof(buf));
	if (n != (int)want)
		return (-1);
	memcpy(out, buf, want);
	return (0);
}

static bool
ts_fresh(const char *ts, long tolerance_s)
{
	char     *end;
	long long t;

	if (ts == NULL || *ts == '\0')
		return (false);
	t = strtoll(ts, &end, 10);
	if (*end != '\0' || t <= 0)
		return (false);
	return (llabs((long long)time(NULL) - t) <= tolerance_s);
}

static bool
telnyx_webhook_ok(const struct edge *e, const struct tel_hook *h)
{
	unsigned char key[ED25519_KEY], sig[ED25519_SIG];
	EVP_PKEY     *pk = NULL;
	EVP_MD_CTX   *md = NULL;
	char         *msg;
	bool          ok = false;

	if (h->query != NULL /* webhooks are POSTs: web.c refuses a GET */
	    || !ts_fresh(h->ts, e->cfg.telnyx_tolerance_s)
	    || b64_exact(e->cfg.telnyx_public_key, key, sizeof(key)) == -1
	    || b64_exact(h->sig, sig, sizeof(sig)) == -1)
		return (false);
	msg = xasprintf("%s|%.*s", h->ts, (int)h->len, h->body);
	if ((pk = EVP_PKEY_new_raw_public_key(
	         EVP_PKEY_ED25519, NULL, key, sizeof(key)))
	        != NULL
	    && (md = EVP_MD_CTX_new()) != NULL
	    && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pk) == 1)
		ok = EVP_DigestVerify(md, sig, sizeof(sig),
		         (const unsigned char *)msg, strlen(msg))
		    == 1;
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pk);
	free(msg);
	return (ok);
}

static int
telnyx_answer(const struct tel_answer *a, char **docp)
{
	/* without bidirectionalMode Telnyx drops what we send back */
	return (tel_connect_stream(a,
	    " track=\"inbound_track\" bidirectionalMode=\"rtp\" "
	    "bidirectionalCodec=\"PCMU\"",
	    docp));
}

static const char *
telnyx_from(const struct edge *e)
{
	return (e->cfg.telnyx_from);
}

static void
bearer(const struct edge *e, struct tel_req *r)
{
	snprintf(r->hdr, sizeof(r->hdr), "Authorization: Bearer %s",
	    e->cfg.telnyx_api_key);
	r->user = r->pass = NULL;
	r->ctype = "application/json";
}

static int
telnyx_create(
    const struct edge *e, const struct tel_dial *d, struct tel_req *r)
{
	char    twiml[600], status[600], tl[16];
	json_t *o;

	if (e->cfg.telnyx_api_base[0] == '\0'
	    || e->cfg.telnyx_app_id[0] == '\0')
		return (-1);
	snprintf(r->url, sizeof(r->url), "%s/texml/calls/%s",
	    e->cfg.telnyx_api_base, e->cfg.telnyx_app_id);
	bearer(e, r);
	snprintf(twiml, sizeof(twiml), "%s/twiml", e->cfg.public_url);
	snprintf(status, sizeof(status), "%s/status", e->cfg.public_url);
	snprintf(tl, sizeof(tl), "%ld", d->time_limit_s);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "To", d->to,
	    "From", d->from, "Url", twiml, "UrlMethod", "POST",
	    "StatusCallback", status, "StatusCallbackMethod", "POST",
	    "StatusCallbackEvent", "initiated ringing answered completed",
	    "TimeLimit", tl);
	if (e->cfg.machine_detection[0] != '\0') {
		json_object_set_new(o, "MachineDetection",
		    json_string(e->cfg.machine_detection));
		json_object_set_new(o, "AsyncAmd", json_true());
		json_object_set_new(
		    o, "AsyncAmdStatusCallback", json_string(status));
	}
	r->body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return (r->body != NULL ? 0 : -1);
}

/* The flat call object: "call_sid" (older answers: "sid"). */
static int
telnyx_sid(const char *resp, char *sid, size_t len)
{
	static const char *const keys[] = { "call_sid", "sid", NULL };

	return (tel_json_sid(resp, keys, sid, len));
}

static int
telnyx_hangup(const struct edge *e, const char *sid, struct tel_req *r)
{
	if (e->cfg.telnyx_api_base[0] == '\0'
	    || e->cfg.telnyx_api_key[0] == '\0')
		return (-1);
	snprintf(r->url, sizeof(r->url), "%s/calls/%s/actions/hangup",
	    e->cfg.telnyx_api_base, sid);
	bearer(e, r);
	r->body = xstrdup("{}");
	return (0);
}

/* Call Control send_dtmf on the call (call_control_id); without an API
 * key, -1: the keys go as tones (keys.c). */
static int
telnyx_keys(const struct edge *e, const char *sid, const char *digits,
    struct tel_req *r)
{
	json_t *o;

	if (e->cfg.telnyx_api_base[0] == '\0'
	    || e->cfg.telnyx_api_key[0] == '\0')
		return (-1);
	snprintf(r->url, sizeof(r->url), "%s/calls/%s/actions/send_dtmf",
	    e->cfg.telnyx_api_base, sid);
	bearer(e, r);
	o = json_pack("{s:s}", "digits", digits);
	r->body = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return (r->body != NULL ? 0 : -1);
}

static const struct tel_dialect telnyx_dialect = {
	.stream_top = "stream_id",
	.start_stream = NULL,
	.start_call = "call_control_id",
	.start_account = NULL,
	.start_params = "custom_parameters",
	.media_ts_ms = false, /* not documented as ms: see providers.md */
};

const struct tel_provider tel_telnyx = {
	.name = "telnyx",
	.id = BUS__PROVIDER__TELNYX,
	.sig_headers = { "telnyx-signature-ed25519:", NULL },
	.ts_header = "telnyx-timestamp:",
	.sid_extra = ":",
	.end_statuses = tel_twiml_end_statuses,
	.ws = &telnyx_dialect,
	.twiml_get = false,
	.webhook_ok = telnyx_webhook_ok,
	.answer = telnyx_answer,
	.default_from = telnyx_from,
	.create_req = telnyx_create,
	.created_sid = telnyx_sid,
	.hangup_req = telnyx_hangup,
	.keys = telnyx_keys,
};
