/*
 * edge_telnyx_test - media-edge with EDGE_PROVIDER=telnyx against
 * sim-twilio --telnyx: TeXML REST create call with the API key as bearer
 * token, TeXML webhooks signed with Ed25519 over "<timestamp>|<body>"
 * (a key pair made for this run: the sim signs, media-edge has the public
 * key), "v3:" call sids, the Telnyx media dialect (stream_id,
 * start.call_control_id, custom_parameters) on /media/telnyx through the
 * real ai-session and sim-openai (echo), and the Call Control hang-up
 * that a HangUp on media-edge's request socket causes.
 *
 * The bad cases: a webhook signed with another key, unsigned, or signed
 * right but outside TELNYX_WEBHOOK_TOLERANCE_S is refused with 403 and
 * counted; a stream for a provider media-edge does not know is refused
 * at the upgrade; EDGE_PROVIDER naming no provider stops media-edge at
 * start.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>
#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "bus.h"
#include "harness.h"
#include "telnyx_keys.h"
#include "wire.h"

#define SECRET "edge-test-secret-0123456789"
#define APP_ID "2a1b3c4d-telnyx-texml-app"
#define API_KEY "KEYtelnyx-api-key-0123"
#define EDGE_TOKEN "edge-api-token"

struct stack {
	struct harness_proc *tw, *oai, *ai, *edge;
	char                 edge_http[64], tw_http[64];
	struct tx_keys       keys;
};

static struct stack S;

static int
edge_env(char e[][300], const char *provider, int port)
{
	int n = 0;

	snprintf(e[n++], 300, "AI_SESSION_URL=%s", harness_ipc_url("ai"));
	snprintf(e[n++], 300, "EDGE_LISTEN_URL=%s", harness_ipc_url("ctl"));
	snprintf(e[n++], 300, "EDGE_PUB_URL=%s", harness_ipc_url("edgepub"));
	snprintf(e[n++], 300, "EDGE_HTTP_PORT=%d", port);
	snprintf(e[n++], 300, "EDGE_HTTP_ADDR=127.0.0.1");
	snprintf(e[n++], 300, "EDGE_PUBLIC_URL=http://127.0.0.1:%d", port);
	snprintf(e[n++], 300, "EDGE_STREAM_TOKEN_SECRET=" SECRET);
	snprintf(e[n++], 300, "EDGE_API_TOKEN=" EDGE_TOKEN);
	snprintf(e[n++], 300, "EDGE_PROVIDER=%s", provider);
	snprintf(e[n++], 300, "EDGE_DRAIN_TIMEOUT_MS=3000");
	snprintf(e[n++], 300, "TELNYX_API_BASE_URL=%s/v2", S.tw_http);
	snprintf(e[n++], 300, "TELNYX_API_KEY=" API_KEY);
	snprintf(e[n++], 300, "TELNYX_APPLICATION_ID=" APP_ID);
	snprintf(e[n++], 300, "TELNYX_PUBLIC_KEY=%s", S.keys.pub_b64);
	snprintf(e[n++], 300, "TELNYX_FROM_NUMBER=+15550001111");
	snprintf(e[n++], 300, "TELNYX_WEBHOOK_TOLERANCE_S=60");
	snprintf(e[n++], 300, "RATE_LIMITER_URL=");
	snprintf(e[n++], 300, "PERSISTER_URL=");
	return (n);
}

static int
setup(void **state)
{
	char        e[20][300];
	const char *env[22];
	const char *oai_args[] = { "--port", "0", "--mode", "echo", NULL };
	const char *tw_args[]
	    = { "--port", "0", "--account-sid", APP_ID, "--auth-token",
		      API_KEY, "--telnyx", "--telnyx-key", S.keys.seed_b64,
		      "--call-duration-ms", "2000", "--ring-ms", "50", NULL };
	int n = 0, i, port;

	(void)state;
	if (tx_keys_new(&S.keys) == -1)
		return (-1);
	if ((S.tw = harness_spawn_args("sim-twilio", tw_args, NULL)) == NULL
	    || (port = harness_ready_port(S.tw)) <= 0)
		return (-1);
	snprintf(S.tw_http, sizeof(S.tw_http), "http://127.0.0.1:%d", port);
	if ((S.oai = harness_spawn_args("sim-openai", oai_args, NULL)) == NULL
	    || (port = harness_ready_port(S.oai)) <= 0)
		return (-1);
	snprintf(e[n++], 300,
	    "OPENAI_REALTIME_URL=ws://127.0.0.1:%d/v1/"
	    "realtime?model=gpt-realtime-2",
	    port);
	snprintf(e[n++], 300, "OPENAI_API_KEY=sk-test");
	snprintf(e[n++], 300, "AI_LISTEN_URL=%s", harness_ipc_url("ai"));
	snprintf(e[n++], 300, "AI_PUB_URL=%s", harness_ipc_url("aipub"));
	snprintf(e[n++], 300, "AI_HTTP_PORT=%d", harness_free_port());
	snprintf(e[n++], 300, "AI_HTTP_ADDR=127.0.0.1");
	snprintf(e[n++], 300, "PERSISTER_URL=");
	snprintf(e[n++], 300, "REASONER_URL=");
	for (i = 0; i < n; i++)
		env[i] = e[i];
	env[n] = NULL;
	if ((S.ai = harness_spawn("ai-session", env)) == NULL)
		return (-1);
	port = harness_free_port();
	snprintf(
	    S.edge_http, sizeof(S.edge_http), "http://127.0.0.1:%d", port);
	n = edge_env(e, "telnyx", port);
	for (i = 0; i < n; i++)
		env[i] = e[i];
	env[n] = NULL;
	return ((S.edge = harness_spawn("media-edge", env)) == NULL ? -1 : 0);
}

static int
teardown(void **state)
{
	(void)state;
	assert_int_equal(harness_stop(S.edge, 15000), 0);
	harness_stop(S.ai, 15000);
	harness_stop(S.oai, 5000);
	harness_stop(S.tw, 5000);
	tx_keys_free(&S.keys);
	return (0);
}

static json_t *
get_json(const char *url)
{
	char   *body = NULL;
	long    status = 0;
	json_t *o;

	if (harness_http("GET", url, NULL, NULL, &status, &body) != 0)
		return (NULL);
	o = json_loads(body != NULL ? body : "", 0, NULL);
	free(body);
	return (o);
}

static json_t *
sim_call(const char *sid)
{
	char url[200];

	snprintf(url, sizeof(url), "%s/sim/calls/%s", S.tw_http, sid);
	return (get_json(url));
}

static int
done(void *arg)
{
	json_t *o = sim_call(arg);
	int     ok;

	/* "done" comes as the completed callback is posted; its answer
	 * (a webhooks entry) a moment later */
	ok = o != NULL && json_is_string(json_object_get(o, "step"))
	    && strcmp(json_string_value(json_object_get(o, "step")), "done")
	        == 0
	    && json_array_size(json_object_get(o, "webhooks")) >= 2;
	json_decref(o);
	return (ok);
}

/* The call went through, its stream in Telnyx's dialect carried audio
 * both ways, and every webhook was accepted. */
static void
check_call(const char *sid, const char *direction)
{
	json_t     *call, *hooks, *h, *stream;
	const char *twiml;
	size_t      i;

	assert_int_equal(harness_wait_for(done, (void *)sid, 15000), 0);
	call = sim_call(sid);
	assert_string_equal(
	    json_string_value(json_object_get(call, "status")), "completed");
	hooks = json_object_get(call, "webhooks");
	assert_true(json_array_size(hooks) >= 2);
	json_array_foreach(hooks, i, h) assert_int_equal(
	    json_integer_value(json_object_get(h, "status")) / 100, 2);
	twiml = json_string_value(
	    json_array_get(json_object_get(call, "twiml"), 0));
	assert_non_null(twiml);
	assert_non_null(strstr(twiml, "/media/telnyx\""));
	assert_non_null(strstr(twiml, "bidirectionalMode=\"rtp\""));
	assert_non_null(strstr(twiml, direction));
	stream = json_array_get(json_object_get(call, "streams"), 0);
	assert_non_null(stream);
	assert_int_equal(
	    json_integer_value(json_object_get(stream, "errors")), 0);
	assert_true(
	    json_integer_value(json_object_get(stream, "frames_received"))
	    > 40);
	json_decref(call);
}

static void
test_outbound(void **state)
{
	const char *headers[] = { "Authorization: Bearer " EDGE_TOKEN,
		"Content-Type: application/json", NULL };
	char        url[96], *resp = NULL, sid[64];
	long        status = 0;
	json_t     *o;

	(void)state;
	snprintf(url, sizeof(url), "%s/calls", S.edge_http);
	assert_int_equal(harness_http("POST", url, headers,
	                     "{\"to\":\"+15550002222\"}", &status, &resp),
	    0);
	assert_int_equal(status, 201);
	assert_non_null(o = json_loads(resp, 0, NULL));
	snprintf(sid, sizeof(sid), "%s",
	    json_string_value(json_object_get(o, "call_sid")));
	json_decref(o);
	free(resp);
	assert_int_equal(strncmp(sid, "v3:", 3), 0);
	check_call(sid, "value=\"outbound\"");
}

static double metric(const char *series);

/* What ai-session sends when the model ends the call. */
static void
send_hangup(const char *sid)
{
	Bus__Envelope   env = BUS__ENVELOPE__INIT, *rep = NULL;
	Bus__HangUp     hu = BUS__HANG_UP__INIT;
	struct wire_ids ids;
	nng_socket      req;

	assert_int_equal(
	    bus_req_dial(&req, "edge", harness_ipc_url("ctl")), 0);
	wire_env_init(&env, &ids, sid, NULL);
	hu.reason = "test";
	env.body_case = BUS__ENVELOPE__BODY_HANG_UP;
	env.hang_up = &hu;
	assert_int_equal(bus_request(req, &env, &rep, 3000, 2), 0);
	assert_int_equal(rep->body_case, BUS__ENVELOPE__BODY_ACK);
	wire_free(rep);
	nng_close(req);
}

static void
test_inbound(void **state)
{
	char    url[96], body[400], *resp = NULL, sid[64];
	long    status = 0;
	json_t *o;
	double  ok = metric("edge_provider_hangups_total{result=\"ok\"} ");

	(void)state;
	snprintf(url, sizeof(url), "%s/sim/inbound", S.tw_http);
	snprintf(body, sizeof(body),
	    "{\"to\":\"+15550001111\",\"from\":\"+15550003333\","
	    "\"url\":\"%s/twiml\",\"status_callback\":\"%s/status\"}",
	    S.edge_http, S.edge_http);
	assert_int_equal(
	    harness_http("POST", url, NULL, body, &status, &resp), 0);
	assert_int_equal(status, 201);
	assert_non_null(o = json_loads(resp, 0, NULL));
	snprintf(sid, sizeof(sid), "%s",
	    json_string_value(json_object_get(o, "call_sid")));
	json_decref(o);
	free(resp);
	nng_msleep(1500); /* talking; an inbound caller never hangs up */
	send_hangup(sid);
	check_call(sid, "value=\"inbound\"");
	/* through Call Control's hangup action, accepted */
	assert_true(metric("edge_provider_hangups_total{result=\"ok\"} ")
	    == (ok < 0 ? 0 : ok) + 1);
}

/* POST a TeXML webhook with the given signature headers; the status. */
static long
hook(const char *path, const char *body, const char *sig, const char *ts)
{
	char        url[96], h1[160], h2[64];
	const char *headers[4]
	    = { "Content-Type: application/x-www-form-urlencoded", NULL, NULL,
		      NULL };
	long status = 0;
	int  n = 1;

	if (sig != NULL) {
		snprintf(h1, sizeof(h1), "telnyx-signature-ed25519: %s", sig);
		headers[n++] = h1;
	}
	if (ts != NULL) {
		snprintf(h2, sizeof(h2), "telnyx-timestamp: %s", ts);
		headers[n++] = h2;
	}
	snprintf(url, sizeof(url), "%s%s", S.edge_http, path);
	assert_int_equal(
	    harness_http("POST", url, headers, body, &status, NULL), 0);
	return (status);
}

static double
metric(const char *series)
{
	char   url[96], *body = NULL, *p;
	long   status = 0;
	double v = -1;

	snprintf(url, sizeof(url), "%s/metrics", S.edge_http);
	if (harness_http("GET", url, NULL, NULL, &status, &body) == 0
	    && (p = strstr(body, series)) != NULL)
		v = strtod(p + strlen(series), NULL);
	free(body);
	return (v);
}

/* TeXML webhooks are POSTs: /twiml by GET is refused, signed or not,
 * and starts nothing. */
static void
test_twiml_get_refused(void **state)
{
	static const char q[] = "/twiml?CallSid=v3%3Aget0call&CallStatus="
	                        "ringing&Direction=inbound&From=%2B15550001111"
	                        "&To=%2B15550002222";
	char              url[256], h1[160], h2[64], sig[EDSIG_B64], ts[24];
	const char       *headers[3] = { h1, h2, NULL };
	long              status = 0;
	double before = metric("edge_webhook_refused_total{route=\"twiml\","
	                       "reason=\"webhook_method\"} ");

	(void)state;
	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	assert_int_equal(edsig_sign(S.keys.key, ts, "", sig, sizeof(sig)), 0);
	snprintf(h1, sizeof(h1), "telnyx-signature-ed25519: %s", sig);
	snprintf(h2, sizeof(h2), "telnyx-timestamp: %s", ts);
	snprintf(url, sizeof(url), "%s%s", S.edge_http, q);
	assert_int_equal(
	    harness_http("GET", url, headers, NULL, &status, NULL), 0);
	assert_int_equal(status, 405);
	assert_int_equal(
	    harness_http("GET", url, NULL, NULL, &status, NULL), 0);
	assert_int_equal(status, 405);
	assert_true(metric("edge_webhook_refused_total{route=\"twiml\","
	                   "reason=\"webhook_method\"} ")
	    == (before > 0 ? before : 0) + 2);
}

static void
test_bad_signatures(void **state)
{
	static const char body[] = "CallSid=v3%3Aforged0call&CallStatus="
	                           "completed&Direction=outbound-api";
	struct tx_keys    other;
	char              sig[EDSIG_B64], ts[24], old[24], ahead[24];
	time_t            now = time(NULL);

	(void)state;
	assert_int_equal(tx_keys_new(&other), 0);
	snprintf(ts, sizeof(ts), "%lld", (long long)now);
	snprintf(old, sizeof(old), "%lld", (long long)now - 600);
	snprintf(ahead, sizeof(ahead), "%lld", (long long)now + 600);
	/* another key, no signature, no timestamp */
	assert_int_equal(edsig_sign(other.key, ts, body, sig, sizeof(sig)), 0);
	assert_int_equal(hook("/status", body, sig, ts), 403);
	assert_int_equal(hook("/twiml", body, sig, ts), 403);
	assert_int_equal(hook("/status", body, NULL, ts), 403);
	assert_int_equal(
	    edsig_sign(S.keys.key, ts, body, sig, sizeof(sig)), 0);
	assert_int_equal(hook("/status", body, sig, NULL), 403);
	/* a signature made for another timestamp */
	assert_int_equal(hook("/status", body, sig, old), 403);
	/* right key, but outside the window either way */
	assert_int_equal(
	    edsig_sign(S.keys.key, old, body, sig, sizeof(sig)), 0);
	assert_int_equal(hook("/status", body, sig, old), 403);
	assert_int_equal(
	    edsig_sign(S.keys.key, ahead, body, sig, sizeof(sig)), 0);
	assert_int_equal(hook("/status", body, sig, ahead), 403);
	assert_true(metric("edge_webhook_refused_total{route=\"status\","
	                   "reason=\"bad_signature\"} ")
	    >= 5);
	assert_true(metric("edge_webhook_refused_total{route=\"status\","
	                   "reason=\"missing_signature\"} ")
	    >= 1);
	/* and the same request signed right is taken */
	assert_int_equal(
	    edsig_sign(S.keys.key, ts, body, sig, sizeof(sig)), 0);
	assert_int_equal(hook("/status", body, sig, ts), 204);
	tx_keys_free(&other);
}

static void
test_unknown_provider(void **state)
{
	const char *headers[] = { "Connection: Upgrade", "Upgrade: websocket",
		"Sec-WebSocket-Version: 13",
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", NULL };
	char        url[96], e[20][300];
	const char *env[22];
	long        status = 0;
	double      before;
	int         n, i;
	struct harness_proc *bad;

	(void)state;
	/* a stream for a provider we do not speak: refused at the upgrade
	 * (lws hands it to ws_filter(), which counts it as a bad path) */
	before = metric("edge_bad_input_total{reason=\"bad_path\"} ");
	snprintf(url, sizeof(url), "%s/media/nosuch", S.edge_http);
	assert_int_equal(harness_http_full("GET", url, headers, NULL, 5000,
	                     &status, NULL, NULL),
	    0);
	assert_int_equal(status, 404);
	assert_true(metric("edge_bad_input_total{reason=\"bad_path\"} ")
	    == (before < 0 ? 0 : before) + 1);
	/* a configuration naming no provider does not start */
	n = edge_env(e, "nosuch", harness_free_port());
	for (i = 0; i < n; i++)
		env[i] = e[i];
	env[n] = NULL;
	assert_null(bad = harness_spawn("media-edge", env));
}

/* A HangUp whose sid could not be Telnyx's goes into no REST URL. */
static void
test_hangup_bad_sid(void **state)
{
	const char *bad = "bad_call_sid\"} ";
	double      n = metric("edge_provider_hangups_total{result=\"ok\"} ");
	double b = metric("edge_bad_input_total{reason=\"bad_call_sid\"} ");

	(void)state;
	send_hangup("../../calls/v3:x/actions/transfer");
	nng_msleep(500);
	assert_true(metric(bad) == (b < 0 ? 0 : b) + 1);
	assert_true(
	    metric("edge_provider_hangups_total{result=\"ok\"} ") == n);
	assert_true(
	    metric("edge_provider_hangups_total{result=\"failed\"} ") <= 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_outbound),
		cmocka_unit_test(test_inbound),
		cmocka_unit_test(test_bad_signatures),
		cmocka_unit_test(test_twiml_get_refused),
		cmocka_unit_test(test_unknown_provider),
		cmocka_unit_test(test_hangup_bad_sid),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
