/*
 * e2e_forged_test - nobody but the provider can start anything: forged
 * or missing signatures on every webhook, and forged or missing stream
 * tokens on /media, are refused and cause nothing.
 *
 *   /twiml, /status: a signature under the wrong auth token, a right
 *       signature over other parameters (a tampered From), and none at
 *       all -> 403 each.
 *   GET /twiml: the same three forgeries over the URL with its query, a
 *       signature made for the POST form sent as a GET -> 403 each; a
 *       right signature without CallSid -> 400; a query over 2 KiB
 *       -> 414.
 *   a provider that signs with another account's token: sim-twilio (run
 *       with a different --auth-token) rings /twiml -> 403, the call dies
 *       without TwiML, no stream is opened.
 *   /media: no token, a well-formed token under the wrong secret, a
 *       garbage token -> closed with 1008 after `start`; an upgrade with
 *       a forged x-twilio-signature -> refused.
 *
 * Then: no rate-limit row, no call row, no call event, no transcript
 * turn, no model session (sim-openai saw no connection), no reasoner
 * request, and media-edge counted the refusals.  Bounded: about 10 s.
 */
#include "codec.h"
#include "e2e_fixture.h"

#define FORGER_TOKEN "f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0"
#define VICTIM "+14155550188"

struct pair {
	const char *name, *value;
};

static int
pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	int                c = strcmp(x->name, y->name);

	return (c != 0 ? c : strcmp(x->value, y->value));
}

/* protocols.md 3.1: base64(HMAC-SHA1(key, url + sorted name+value)). */
static void
sign(const char *key, const char *url, struct pair *p, size_t n, char out[29])
{
	unsigned char mac[HMAC_SHA1_LEN];
	char          data[4096];
	size_t        i, len;

	if (n > 1)
		qsort(p, n, sizeof(*p), pair_cmp);
	len = (size_t)snprintf(data, sizeof(data), "%s", url);
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(data + len, sizeof(data) - len, "%s%s",
		    p[i].name, p[i].value);
	assert_int_equal(hmac_sha1(key, strlen(key), data, len, mac), 0);
	assert_int_equal(codec_b64_encode(mac, sizeof(mac), out, 29), 28);
}

/* name=value&... with '+' and other specials percent-encoded. */
static void
form(const struct pair *p, size_t n, char *out, size_t len)
{
	size_t      o = 0, i;
	const char *s;

	for (i = 0; i < n; i++) {
		o += (size_t)snprintf(
		    out + o, len - o, "%s%s=", i ? "&" : "", p[i].name);
		for (s = p[i].value; *s != '\0' && o + 4 < len; s++)
			if ((*s >= 'A' && *s <= 'Z')
			    || (*s >= 'a' && *s <= 'z')
			    || (*s >= '0' && *s <= '9') || *s == '-'
			    || *s == '.')
				out[o++] = *s;
			else
				o += (size_t)snprintf(out + o, len - o,
				    "%%%02X", (unsigned char)*s);
		out[o] = '\0';
	}
}

/* POSTs a webhook with sig (NULL: no header) over the pairs sent; the
 * status. */
static long
webhook(struct e2e *e, const char *path, const struct pair *sent, size_t n,
    const char *sig)
{
	char        url[160], body[2048], hdr[120], *resp = NULL;
	const char *h[3] = { "Content-Type: application/x-www-form-urlencoded",
		NULL, NULL };
	long        status = 0;

	snprintf(url, sizeof(url), "%s%s", e->edge_base, path);
	form(sent, n, body, sizeof(body));
	if (sig != NULL) {
		snprintf(hdr, sizeof(hdr), "X-Twilio-Signature: %s", sig);
		h[1] = hdr;
	}
	assert_int_equal(
	    harness_http("POST", url, h, body, &status, &resp), 0);
	print_message("POST %s (%s signature): %ld %s\n", path,
	    sig == NULL ? "no" : "a forged", status, resp != NULL ? resp : "");
	free(resp);
	return (status);
}

static void
forged_webhooks(struct e2e *e, const char *path, const char *status_word)
{
	struct pair p[] = { { "CallSid",
		                "CA00000000000000000000000000f0rged" },
		{ "AccountSid", E2E_ACCOUNT }, { "From", VICTIM },
		{ "To", E2E_FROM }, { "CallStatus", status_word },
		{ "Direction", "inbound" }, { "ApiVersion", "2010-04-01" } };
	size_t      n = sizeof(p) / sizeof(p[0]);
	char        url[160], sig[29];

	snprintf(url, sizeof(url), "%s%s", e->edge_base, path);
	/* the wrong key */
	sign(FORGER_TOKEN, url, p, n, sig);
	assert_int_equal(webhook(e, path, p, n, sig), 403);
	/* the right key over other parameters: From tampered afterwards */
	sign(E2E_AUTH_TOKEN, url, p, n, sig);
	p[2].value = "+14155550199";
	assert_int_equal(webhook(e, path, p, n, sig), 403);
	p[2].value = VICTIM;
	/* the right key over another URL */
	snprintf(url, sizeof(url), "%s%s", e->edge_base,
	    strcmp(path, "/twiml") == 0 ? "/status" : "/twiml");
	sign(E2E_AUTH_TOKEN, url, p, n, sig);
	assert_int_equal(webhook(e, path, p, n, sig), 403);
	/* none at all, and an empty one */
	assert_int_equal(webhook(e, path, p, n, NULL), 403);
	assert_int_equal(webhook(e, path, p, n, ""), 403);
}

/* GETs path?query with sig (NULL: no header); the status. */
static long
get_hook(struct e2e *e, const char *path, const char *query, const char *sig)
{
	char        url[4096], hdr[120], *resp = NULL;
	const char *h[2] = { NULL, NULL };
	long        status = 0;

	snprintf(url, sizeof(url), "%s%s?%s", e->edge_base, path, query);
	if (sig != NULL) {
		snprintf(hdr, sizeof(hdr), "X-Twilio-Signature: %s", sig);
		h[0] = hdr;
	}
	assert_int_equal(harness_http("GET", url, h, NULL, &status, &resp), 0);
	print_message("GET %s (%s signature): %ld %s\n", path,
	    sig == NULL ? "no" : "a forged", status, resp != NULL ? resp : "");
	free(resp);
	return (status);
}

static void
forged_get(struct e2e *e)
{
	struct pair p[] = { { "CallSid",
		                "CA00000000000000000000000000f0rged" },
		{ "AccountSid", E2E_ACCOUNT }, { "From", VICTIM },
		{ "To", E2E_FROM }, { "CallStatus", "ringing" },
		{ "Direction", "inbound" }, { "ApiVersion", "2010-04-01" } };
	size_t      n = sizeof(p) / sizeof(p[0]), i;
	char        url[4096], q[3072], sig[29], big[2600];
	char        base[160];

	snprintf(base, sizeof(base), "%s/twiml", e->edge_base);
	form(p, n, q, sizeof(q));
	snprintf(url, sizeof(url), "%s?%s", base, q);
	/* the wrong key over the URL and its query */
	sign(FORGER_TOKEN, url, NULL, 0, sig);
	assert_int_equal(get_hook(e, "/twiml", q, sig), 403);
	/* the right key, From tampered afterwards */
	sign(E2E_AUTH_TOKEN, url, NULL, 0, sig);
	p[2].value = "+14155550199";
	form(p, n, q, sizeof(q));
	assert_int_equal(get_hook(e, "/twiml", q, sig), 403);
	p[2].value = VICTIM;
	form(p, n, q, sizeof(q));
	/* signed as a POST (URL + sorted params), sent as a GET */
	sign(E2E_AUTH_TOKEN, base, p, n, sig);
	assert_int_equal(get_hook(e, "/twiml", q, sig), 403);
	/* none at all, and an empty one */
	assert_int_equal(get_hook(e, "/twiml", q, NULL), 403);
	assert_int_equal(get_hook(e, "/twiml", q, ""), 403);
	/* rightly signed but no CallSid: refused, nothing happens (sign()
	 * sorted p: put the last pair in CallSid's place, leave it out) */
	for (i = 0; strcmp(p[i].name, "CallSid") != 0; i++)
		;
	p[i] = p[n - 1];
	form(p, n - 1, q, sizeof(q));
	snprintf(url, sizeof(url), "%s?%s", base, q);
	sign(E2E_AUTH_TOKEN, url, NULL, 0, sig);
	assert_int_equal(get_hook(e, "/twiml", q, sig), 400);
	/* a query too long to be a provider's */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "Pad=", 4);
	assert_int_equal(get_hook(e, "/twiml", big, NULL), 414);
}

/* sim-caller once against /media; its JSON report. */
static json_t *
caller(struct e2e *e, const char *args)
{
	char        cmd[2048], *line = NULL;
	size_t      cap = 0;
	const char *bin = getenv("BIN_DIR");
	FILE       *f;
	json_t     *rep = NULL;

	snprintf(cmd, sizeof(cmd),
	    "%s/sim-caller --url ws://127.0.0.1:%d/media --calls 1 "
	    "--duration-ms 1500 --drain-ms 1000 %s 2>>%s/sim-caller.log",
	    bin != NULL ? bin : "build/debug/bin", e->http[E2E_EDGE], args,
	    harness_tmpdir());
	assert_non_null(f = popen(cmd, "r"));
	while (getline(&line, &cap, f) > 0)
		if (line[0] == '{') {
			json_decref(rep);
			rep = json_loads(line, 0, NULL);
		}
	free(line);
	assert_int_equal(pclose(f), 0);
	assert_non_null(rep);
	print_message("sim-caller %s: connected %ld, closed with 1008: %ld, "
	              "first error: %s\n",
	    args, e2e_json_num(rep, "connected", NULL),
	    e2e_json_num(rep, "close_codes", "1008"),
	    json_is_string(json_object_get(rep, "first_connect_error"))
	        ? json_string_value(
	            json_object_get(rep, "first_connect_error"))
	        : "none");
	return (rep);
}

static void
forged_streams(struct e2e *e)
{
	char              args[512];
	json_t           *rep;
	int               i;
	const char *const refused[] = { "--inject no-token",
		"--token-secret not-our-stream-secret-0123456789",
		"--token v1.9999999999.00ff00ff", NULL };

	for (i = 0; refused[i] != NULL; i++) {
		rep = caller(e, refused[i]);
		assert_int_equal(e2e_json_num(rep, "close_codes", "1008"), 1);
		assert_int_equal(e2e_json_num(rep, "completed", NULL), 0);
		json_decref(rep);
	}
	/* a valid token, but the upgrade's signature under another token */
	snprintf(args, sizeof(args),
	    "--token-secret " E2E_STREAM_SECRET
	    " --signature-auth-token " FORGER_TOKEN
	    " --public-url ws://127.0.0.1:%d/media",
	    e->http[E2E_EDGE]);
	rep = caller(e, args);
	assert_int_equal(e2e_json_num(rep, "connected", NULL), 0);
	json_decref(rep);
}

static void
no_side_effect(struct e2e *e)
{
	char url[128], *body = NULL;
	long status = 0;

	e2e_sleep_ms(1000);
	assert_int_equal(
	    e2e_count(e, "SELECT count(*) FROM rate_limit_hits"), 0);
	assert_int_equal(e2e_count(e, "SELECT count(*) FROM calls"), 0);
	assert_int_equal(e2e_count(e, "SELECT count(*) FROM call_events"), 0);
	assert_int_equal(
	    e2e_count(e, "SELECT count(*) FROM transcript_turns"), 0);
	assert_int_equal(
	    e2e_count(e, "SELECT count(*) FROM idempotency_keys"), 0);
	assert_int_equal(
	    e2e_nrecords(e->oai_rec, "type", "connection_opened"), 0);
	assert_int_equal(e2e_nrecords(e->ant_rec, "path", "/v1/messages"), 0);
	assert_int_equal(
	    harness_log_contains(e->d[E2E_AI], "\"call_sid\":\"CA"), 0);
	snprintf(url, sizeof(url), "%s/metrics", e->edge_base);
	assert_int_equal(
	    harness_http("GET", url, NULL, NULL, &status, &body), 0);
	assert_int_equal(status, 200);
	assert_non_null(strstr(body, "edge_stream_auth_failures_total"));
	/* no signature or an empty one: twice by POST, twice by GET */
	assert_non_null(strstr(body,
	    "edge_webhook_refused_total{route=\"twiml\",reason=\"query_too_"
	    "long\"} 1\n"));
	assert_non_null(strstr(body,
	    "edge_webhook_refused_total{route=\"twiml\",reason=\"missing_"
	    "param\"} 1\n"));
	assert_non_null(strstr(body,
	    "edge_webhook_refused_total{route=\"twiml\",reason=\"missing_"
	    "signature\"} 4\n"));
	free(body);
}

static void
test_forged(void **state)
{
	struct e2e      e;
	struct e2e_opts o = { 0 };
	char            sid[64];
	json_t         *v, *hooks;
	const char     *err;
	size_t          i;

	(void)state;
	o.script = "inbound.json";
	o.sim_auth_token = FORGER_TOKEN; /* sim-twilio is the forger */
	e2e_start(&e, &o);
	e2e_seed(&e);

	forged_webhooks(&e, "/twiml", "ringing");
	forged_webhooks(&e, "/status", "completed");
	forged_get(&e);

	/* a whole call from a provider with the wrong key */
	e2e_tw_inbound(&e, VICTIM, sid, sizeof(sid));
	v = e2e_tw_wait_done(&e, sid, 10000);
	assert_non_null(v);
	err = json_string_value(json_object_get(v, "error"));
	assert_non_null(err);
	print_message("forger's call: %s\n", err);
	assert_non_null(strstr(err, "HTTP 403"));
	assert_int_equal(json_array_size(json_object_get(v, "streams")), 0);
	assert_int_equal(json_array_size(json_object_get(v, "said")), 0);
	hooks = json_object_get(v, "webhooks");
	assert_true(json_array_size(hooks) >= 1);
	for (i = 0; i < json_array_size(hooks); i++)
		assert_int_equal(json_integer_value(json_object_get(
		                     json_array_get(hooks, i), "status")),
		    403);
	json_decref(v);

	forged_streams(&e);
	no_side_effect(&e);
	e2e_assert_no_phone_in_logs(&e, VICTIM);
	e2e_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forged),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
