/*
 * doctor_edge - media-edge's settings (its own table and checks), the
 * telephone provider and PUBLIC_URL.
 *
 * Provider (Telnyx: only that its settings are set):
 * GET {base}/Accounts/{sid}/IncomingPhoneNumbers.json?
 * PhoneNumber={from} with HTTP Basic sid:token (Twilio, and SignalWire's
 * compatibility API with project:token).  401 means the credentials are
 * refused; an empty list that the number is not on this account; and the
 * number's voice_url and status_callback must be EDGE_PUBLIC_URL/twiml
 * and /status (POST), the URLs media-edge serves, or inbound calls go
 * elsewhere.  PUBLIC_URL: https, a certificate that verifies (against
 * DOCTOR_CA_FILE when set), and /health answering 200 through whatever
 * terminates TLS in front of media-edge.  Phone numbers are printed with
 * all but the last two digits masked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "callctl.h"
#include "cfg.h"
#include "log.h"
#include "../media-edge/edge.h"
#include "xmalloc.h"

static struct edge_cfg ec;
static int             loaded;

int
doctor_edge_load(void)
{
	int rv;

	if (cfg_load(edge_cfg_opts, &ec) == -1)
		return (-1);
	rv = edge_config_check(&ec);
	log_set_level("warn"); /* edge_config_check applied LOG_LEVEL */
	if (rv == -1)
		return (-1);
	doc_secret(ec.stream_token_secret);
	doc_secret(ec.edge_twilio_auth_token);
	doc_secret(ec.twilio_auth_token);
	doc_secret(ec.sw_api_token);
	doc_secret(ec.sw_signing_key);
	doc_secret(ec.telnyx_api_key);
	doc_secret(ec.api_token);
	doc_secret(ec.notify_secret);
	loaded = 1;
	return (0);
}

/* "+1415555xx01" style: every digit but the last two masked. */
static void
mask_phone(const char *num, char *out, size_t len)
{
	size_t n = strlen(num), i;

	snprintf(out, len, "%s", num);
	for (i = 0; i + 2 < n && i + 1 < len; i++)
		if (out[i] >= '0' && out[i] <= '9')
			out[i] = 'x';
}

static void
check_url(struct doc_check *c, const char *what, const char *have,
    const char *method, const char *want, const char *pn, const char *console)
{
	char fix[400];

	snprintf(fix, sizeof(fix),
	    "set the number's %s to %s (HTTP POST) in the %s, or POST "
	    "IncomingPhoneNumbers/%s.json with %s=%s",
	    what, want, console, pn,
	    strcmp(what, "voice URL") == 0 ? "VoiceUrl" : "StatusCallback",
	    want);
	if (have == NULL || strcmp(have, want) != 0)
		doc_fail(c, what, fix, "is %s, not %s",
		    have != NULL && have[0] != '\0' ? have : "(empty)", want);
	else if (method != NULL
	    && strcmp(method, "POST") != 0
	    /* media-edge serves /twiml by GET too, signed over its query */
	    && !(strcmp(method, "GET") == 0 && strcmp(what, "voice URL") == 0))
		doc_fail(c, what, fix, "%s with %s, not POST", have, method);
	else
		doc_ok(c, what, "%s (%s)", have,
		    method != NULL && method[0] != '\0' ? method : "POST");
}

/* Telnyx: the settings are there; its number API is not probed. */
static void
doctor_telnyx(struct doc_check *c)
{
	if (ec.telnyx_api_key[0] == '\0' || ec.telnyx_app_id[0] == '\0'
	    || ec.telnyx_public_key[0] == '\0')
		doc_fail(c, "credentials",
		    "set TELNYX_API_KEY (or _FILE), TELNYX_APPLICATION_ID and "
		    "TELNYX_PUBLIC_KEY from the Telnyx portal",
		    "EDGE_PROVIDER=telnyx but its API key, application or "
		    "public key is empty");
	else if (ec.telnyx_from[0] == '\0')
		doc_fail(c, "number", "set TELNYX_FROM_NUMBER",
		    "no caller id for outbound calls");
	else
		doc_ok(c, "credentials",
		    "set (Telnyx's account and number are not probed)");
}

void
doctor_phone(struct doc_check *c)
{
	const int       sw = loaded && strcmp(ec.provider, "signalwire") == 0;
	const char     *base, *user, *pass, *from, *console, *vars, *pn, *app;
	struct doc_http h;
	char           *url, *esc, masked[64], want[2][600];
	json_t         *nums, *num;

	if (!loaded) {
		doc_fail(c, "credentials",
		    "correct media-edge's settings first",
		    "not checked: media-edge's settings are invalid");
		return;
	}
	if (strcmp(ec.provider, "telnyx") == 0) {
		doctor_telnyx(c);
		return;
	}
	base = sw ? ec.sw_api_base : ec.twilio_api_base;
	user = sw ? ec.sw_project_id : ec.twilio_account_sid;
	pass = sw ? ec.sw_api_token : ec.twilio_auth_token;
	from = sw ? ec.sw_from : ec.twilio_from;
	console = sw ? "SignalWire dashboard" : "Twilio Console";
	vars = sw
	    ? "set SIGNALWIRE_PROJECT_ID and SIGNALWIRE_API_TOKEN (or "
	      "_FILE) to the project's values"
	    : "set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (or _FILE) to "
	      "the account's values from the Twilio Console";
	if (base[0] == '\0' || user[0] == '\0' || pass[0] == '\0') {
		doc_fail(c, "credentials", vars,
		    "EDGE_PROVIDER=%s but its REST base, account or token is "
		    "empty",
		    ec.provider);
		return;
	}
	if (from[0] == '\0') {
		doc_fail(c, "number",
		    sw ? "set SIGNALWIRE_FROM_NUMBER"
		       : "set TWILIO_FROM_NUMBER",
		    "no phone number configured");
		return;
	}
	mask_phone(from, masked, sizeof(masked));
	esc = curl_easy_escape(NULL, from, 0);
	url = xasprintf("%s/Accounts/%s/IncomingPhoneNumbers.json?"
	                "PhoneNumber=%s",
	    base, user, esc);
	curl_free(esc);
	if (doc_get(url, NULL, user, pass, NULL, &h) == -1) {
		doc_fail(c, "credentials",
		    sw ? "check SIGNALWIRE_API_BASE_URL"
		       : "check TWILIO_API_BASE_URL",
		    "no answer from %s: %s", base, h.err);
		goto out;
	}
	if (h.status == 401 || h.status == 403) {
		doc_fail(c, "credentials", vars,
		    "refused (HTTP %ld): the account and token do not match",
		    h.status);
		goto out;
	}
	if (h.status != 200) {
		doc_fail(c, "credentials", "see the provider's status page",
		    "IncomingPhoneNumbers answered %ld: %s", h.status,
		    doc_api_message(h.body));
		goto out;
	}
	doc_ok(c, "credentials", "%s account accepted", ec.provider);
	nums = json_object_get(h.body, "incoming_phone_numbers");
	if ((num = json_array_get(nums, 0)) == NULL
	    || (pn = json_string_value(json_object_get(num, "sid"))) == NULL) {
		doc_fail(c, "number",
		    sw ? "set SIGNALWIRE_FROM_NUMBER to a number of this "
		         "project (E.164)"
		       : "set TWILIO_FROM_NUMBER to a number of this account "
		         "(E.164)",
		    "%s is not a number of this account", masked);
		goto out;
	}
	app = json_string_value(json_object_get(num, "voice_application_sid"));
	if (app != NULL && app[0] != '\0') {
		/* The provider then fetches the application's URL instead. */
		doc_fail(c, "number",
		    "clear the number's TwiML App (POST "
		    "IncomingPhoneNumbers/PN....json with "
		    "VoiceApplicationSid=) "
		    "so that its voice URL applies",
		    "%s is %s, which hands calls to the application %s",
		    masked, pn, app);
		goto out;
	}
	doc_ok(c, "number", "%s is %s", masked, pn);
	snprintf(want[0], sizeof(want[0]), "%s/twiml", ec.public_url);
	snprintf(want[1], sizeof(want[1]), "%s/status", ec.public_url);
	check_url(c, "voice URL",
	    json_string_value(json_object_get(num, "voice_url")),
	    json_string_value(json_object_get(num, "voice_method")), want[0],
	    pn, console);
	check_url(c, "status callback",
	    json_string_value(json_object_get(num, "status_callback")),
	    json_string_value(json_object_get(num, "status_callback_method")),
	    want[1], pn, console);
out:
	doc_http_free(&h);
	free(url);
}

void
doctor_public_url(struct doc_check *c)
{
	struct doc_http h;
	char           *url;
	size_t          n;

	if (!loaded) {
		doc_fail(c, "https", "correct media-edge's settings first",
		    "not checked: media-edge's settings are invalid");
		return;
	}
	n = strlen(ec.public_url);
	if (strncmp(ec.public_url, "https://", 8) != 0) {
		doc_fail(c, "https",
		    "set PUBLIC_URL (EDGE_PUBLIC_URL) to the https:// URL of "
		    "the TLS proxy or ingress in front of media-edge",
		    "%s is not https: providers need https webhooks and "
		    "wss media",
		    ec.public_url);
		return;
	}
	if (n > 0 && ec.public_url[n - 1] == '/') {
		doc_fail(c, "https", "drop the trailing / of EDGE_PUBLIC_URL",
		    "%s ends in /: webhook URLs would have //", ec.public_url);
		return;
	}
	url = xasprintf("%s/health", ec.public_url);
	if (doc_get(url, NULL, NULL, NULL, ctl_cfg.doctor_ca_file, &h) == -1)
		doc_fail(c, "https",
		    h.tls_err ? "give the proxy a certificate for this host "
		                "name from a CA the providers trust, with its "
		                "intermediates"
		              : "make PUBLIC_URL's host resolve and its port "
		                "reach the TLS proxy or ingress",
		    "%s: %s", url, h.err);
	else if (h.status != 200)
		doc_fail(c, "https",
		    "route PUBLIC_URL to media-edge's port (EDGE_HTTP_PORT)",
		    "certificate verified, but %s answered %ld", url,
		    h.status);
	else
		doc_ok(c, "https", "%s: certificate verified, 200", url);
	doc_http_free(&h);
	free(url);
}
