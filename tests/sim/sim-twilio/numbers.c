/*
 * numbers - the account's phone number as the IncomingPhoneNumber
 * resource (Twilio REST 2010-04-01, SignalWire's compatibility API):
 *
 *   GET  .../IncomingPhoneNumbers[.json][?PhoneNumber=+E164]   the list
 *        (filtered by exact number; an empty page when it does not match)
 *   GET  .../IncomingPhoneNumbers/{PN}[.json]                  one number
 *   POST .../IncomingPhoneNumbers/{PN}[.json]                  update:
 *        VoiceUrl, VoiceMethod, StatusCallback, StatusCallbackMethod,
 *        VoiceApplicationSid (a TwiML App: its URL then wins)
 *
 * One number at most: --number, with --number-voice-url and
 * --number-status-callback (methods POST).  An unknown PN is 404 code
 * 20404; a method other than GET or POST 405.  api.c has already checked
 * the account and its credentials.  lws service thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "twilio.h"

void
numbers_init(struct sim *sim)
{
	struct number *n;
	unsigned char  md[EVP_MAX_MD_SIZE];
	unsigned int   mdlen = 0, i;
	time_t         now = time(NULL);
	struct tm      tm;

	if (sim->o.number == NULL)
		return;
	n = stream_xcalloc(1, sizeof(*n));
	/* A stable sid per number: PN + 32 hex of its MD5. */
	EVP_Digest(
	    sim->o.number, strlen(sim->o.number), md, &mdlen, EVP_md5(), NULL);
	memcpy(n->sid, "PN", 2);
	for (i = 0; i < 16 && i < mdlen; i++)
		snprintf(n->sid + 2 + 2 * i, 3, "%02x", md[i]);
	n->phone = strdup(sim->o.number);
	n->voice_url = strdup(
	    sim->o.number_voice_url != NULL ? sim->o.number_voice_url : "");
	n->status_cb = strdup(
	    sim->o.number_status_cb != NULL ? sim->o.number_status_cb : "");
	n->voice_method = strdup("POST");
	n->status_cb_method = strdup("POST");
	n->app_sid = strdup("");
	gmtime_r(&now, &tm);
	strftime(n->created, sizeof(n->created), "%a, %d %b %Y %H:%M:%S +0000",
	    &tm);
	sim->number = n;
}

void
numbers_fini(struct sim *sim)
{
	struct number *n = sim->number;

	if (n == NULL)
		return;
	free(n->phone);
	free(n->voice_url);
	free(n->status_cb);
	free(n->voice_method);
	free(n->status_cb_method);
	free(n->app_sid);
	free(n);
	sim->number = NULL;
}

static json_t *
resource(const struct sim *sim, const struct number *n)
{
	char    uri[300];
	json_t *r;

	snprintf(uri, sizeof(uri),
	    "%s/Accounts/%s/IncomingPhoneNumbers/%s.json", sim->api_base,
	    sim->o.account_sid, n->sid);
	r = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "sid",
	    n->sid, "account_sid", sim->o.account_sid, "phone_number",
	    n->phone, "friendly_name", n->phone, "voice_url", n->voice_url,
	    "voice_method", n->voice_method, "status_callback", n->status_cb,
	    "status_callback_method", n->status_cb_method, "uri", uri);
	if (r == NULL)
		return (json_object());
	json_object_set_new(r, "api_version", json_string("2010-04-01"));
	json_object_set_new(r, "voice_fallback_url", json_string(""));
	json_object_set_new(r, "voice_fallback_method", json_string("POST"));
	json_object_set_new(r, "voice_caller_id_lookup", json_false());
	json_object_set_new(
	    r, "voice_application_sid", json_string(n->app_sid));
	json_object_set_new(r, "voice_receive_mode", json_string("voice"));
	json_object_set_new(r, "sms_url", json_string(""));
	json_object_set_new(r, "sms_method", json_string("POST"));
	json_object_set_new(r, "sms_fallback_url", json_string(""));
	json_object_set_new(r, "sms_fallback_method", json_string("POST"));
	json_object_set_new(r, "sms_application_sid", json_string(""));
	json_object_set_new(r, "capabilities",
	    json_pack("{s:b, s:b, s:b, s:b}", "voice", 1, "sms", 1, "mms", 1,
	        "fax", 0));
	json_object_set_new(r, "address_requirements", json_string("none"));
	json_object_set_new(r, "address_sid", json_null());
	json_object_set_new(r, "identity_sid", json_null());
	json_object_set_new(r, "bundle_sid", json_null());
	json_object_set_new(r, "trunk_sid", json_null());
	json_object_set_new(r, "emergency_status", json_string("Inactive"));
	json_object_set_new(r, "emergency_address_sid", json_null());
	json_object_set_new(r, "origin", json_string("twilio"));
	json_object_set_new(r, "status", json_string("in-use"));
	json_object_set_new(r, "beta", json_false());
	json_object_set_new(r, "date_created", json_string(n->created));
	json_object_set_new(r, "date_updated", json_string(n->created));
	return (r);
}

static json_t *
page(const struct sim *sim, bool match)
{
	json_t *list = json_array();
	char    uri[300];

	if (match)
		json_array_append_new(list, resource(sim, sim->number));
	snprintf(uri, sizeof(uri),
	    "%s/Accounts/%s/IncomingPhoneNumbers.json?PageSize=50&Page=0",
	    sim->api_base, sim->o.account_sid);
	return (json_pack("{s:o, s:s, s:s, s:n, s:n, s:i, s:i, s:i, s:i}",
	    "incoming_phone_numbers", list, "uri", uri, "first_page_uri", uri,
	    "next_page_uri", "previous_page_uri", "page", 0, "page_size", 50,
	    "start", 0, "end", match ? 0 : -1));
}

static void
set(char **field, const char *v)
{
	if (v == NULL)
		return;
	free(*field);
	*field = strdup(v);
}

static void
not_found(struct api_resp *resp)
{
	resp->status = 404;
	resp->body
	    = api_error(20404, "The requested resource was not found", 404);
}

void
numbers_handle(struct sim *sim, const struct api_req *req, const char *rest,
    const struct form *f, struct api_resp *resp)
{
	struct number *n = sim->number;
	const char    *m;
	char           pn[64];
	size_t         len;

	if (strcmp(rest, "") == 0 || strcmp(rest, ".json") == 0) {
		if (req->post) {
			resp->status = 405;
			resp->body
			    = api_error(20004, "Method not allowed", 405);
			return;
		}
		resp->status = 200;
		resp->body = page(sim,
		    n != NULL
		        && (req->phone_filter == NULL
		            || strcmp(req->phone_filter, n->phone) == 0));
		return;
	}
	if (*rest != '/' || strlen(rest + 1) >= sizeof(pn)) {
		not_found(resp);
		return;
	}
	snprintf(pn, sizeof(pn), "%s", rest + 1);
	len = strlen(pn);
	if (len > 5 && strcmp(pn + len - 5, ".json") == 0)
		pn[len - 5] = '\0';
	if (n == NULL || strcmp(pn, n->sid) != 0) {
		not_found(resp);
		return;
	}
	if (req->post) {
		if (((m = form_get(f, "VoiceMethod")) != NULL
		        && strcmp(m, "GET") != 0 && strcmp(m, "POST") != 0)
		    || ((m = form_get(f, "StatusCallbackMethod")) != NULL
		        && strcmp(m, "GET") != 0 && strcmp(m, "POST") != 0)) {
			resp->status = 400;
			resp->body = api_error(21609, "Invalid method", 400);
			return;
		}
		set(&n->voice_url, form_get(f, "VoiceUrl"));
		set(&n->voice_method, form_get(f, "VoiceMethod"));
		set(&n->status_cb, form_get(f, "StatusCallback"));
		set(&n->status_cb_method, form_get(f, "StatusCallbackMethod"));
		set(&n->app_sid, form_get(f, "VoiceApplicationSid"));
	}
	resp->status = 200;
	resp->body = resource(sim, n);
}
