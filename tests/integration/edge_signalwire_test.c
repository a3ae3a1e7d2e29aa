/*
 * edge_signalwire_test - media-edge with EDGE_PROVIDER=signalwire against
 * sim-twilio --signalwire: the LaML REST base and project credentials,
 * webhooks signed with the signing key (X-SignalWire-Signature, scheme B),
 * UUID call sids, the SignalWire media dialect through the real
 * ai-session and sim-openai (echo).  A webhook signed with the auth token
 * instead of the signing key is refused.  The LaML fetched by GET: signed
 * with the signing key over the URL and its query, answered with the
 * same document; the same GET unsigned is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "codec.h"
#include "harness.h"
#include "hmac.h"

#define SECRET "edge-test-secret-0123456789"
#define PROJECT "5f2c1a3e-0d8b-4c4e-9d0a-6b1f2e3d4c5b"
#define API_TOKEN "PTsignalwire-api-token"
#define SIGN_KEY "PSKsigning-key-0123"
#define EDGE_TOKEN "edge-api-token"

struct stack {
	struct harness_proc *tw, *oai, *ai, *edge;
	char                 edge_http[64], tw_http[64];
};

static struct stack S;

static int
setup(void **state)
{
	char        e[20][300];
	const char *env[22];
	const char *oai_args[] = { "--port", "0", "--mode", "echo", NULL };
	const char *tw_args[]
	    = { "--port", "0", "--account-sid", PROJECT, "--auth-token",
		      API_TOKEN, "--signalwire", "--signing-key", SIGN_KEY,
		      "--call-duration-ms", "2000", "--ring-ms", "50", NULL };
	int n = 0, i, port;

	(void)state;
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
	n = 0;
	port = harness_free_port();
	snprintf(
	    S.edge_http, sizeof(S.edge_http), "http://127.0.0.1:%d", port);
	snprintf(e[n++], 300, "AI_SESSION_URL=%s", harness_ipc_url("ai"));
	snprintf(e[n++], 300, "EDGE_LISTEN_URL=%s", harness_ipc_url("ctl"));
	snprintf(e[n++], 300, "EDGE_PUB_URL=%s", harness_ipc_url("edgepub"));
	snprintf(e[n++], 300, "EDGE_HTTP_PORT=%d", port);
	snprintf(e[n++], 300, "EDGE_HTTP_ADDR=127.0.0.1");
	snprintf(e[n++], 300, "EDGE_PUBLIC_URL=%s", S.edge_http);
	snprintf(e[n++], 300, "EDGE_STREAM_TOKEN_SECRET=" SECRET);
	snprintf(e[n++], 300, "EDGE_API_TOKEN=" EDGE_TOKEN);
	snprintf(e[n++], 300, "EDGE_PROVIDER=signalwire");
	snprintf(e[n++], 300, "EDGE_DRAIN_TIMEOUT_MS=3000");
	snprintf(e[n++], 300, "SIGNALWIRE_API_BASE_URL=%s/api/laml/2010-04-01",
	    S.tw_http);
	snprintf(e[n++], 300, "SIGNALWIRE_PROJECT_ID=" PROJECT);
	snprintf(e[n++], 300, "SIGNALWIRE_API_TOKEN=" API_TOKEN);
	snprintf(e[n++], 300, "SIGNALWIRE_SIGNING_KEY=" SIGN_KEY);
	snprintf(e[n++], 300, "SIGNALWIRE_FROM_NUMBER=+15550001111");
	snprintf(e[n++], 300, "RATE_LIMITER_URL=");
	snprintf(e[n++], 300, "PERSISTER_URL=");
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
	return (0);
}

static json_t *
sim_call(const char *sid)
{
	char    url[200], *body = NULL;
	long    status = 0;
	json_t *o;

	snprintf(url, sizeof(url), "%s/sim/calls/%s", S.tw_http, sid);
	if (harness_http("GET", url, NULL, NULL, &status, &body) != 0)
		return (NULL);
	o = json_loads(body != NULL ? body : "", 0, NULL);
	free(body);
	return (o);
}

static int
done(void *arg)
{
	json_t *o = sim_call(arg);
	int     ok;

	ok = o != NULL && json_is_string(json_object_get(o, "step"))
	    && strcmp(json_string_value(json_object_get(o, "step")), "done")
	        == 0;
	json_decref(o);
	return (ok);
}

static void
test_outbound(void **state)
{
	const char *headers[] = { "Authorization: Bearer " EDGE_TOKEN,
		"Content-Type: application/json", NULL };
	char        url[96], *resp = NULL, sid[64];
	long        status = 0;
	json_t     *o, *call, *hooks, *h, *stream;
	size_t      i;

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
	assert_int_equal(strlen(sid), 36); /* a UUID */
	assert_int_equal(harness_wait_for(done, sid, 15000), 0);
	call = sim_call(sid);
	assert_string_equal(
	    json_string_value(json_object_get(call, "status")), "completed");
	hooks = json_object_get(call, "webhooks");
	assert_true(json_array_size(hooks) >= 4);
	json_array_foreach(hooks, i, h) assert_int_equal(
	    json_integer_value(json_object_get(h, "status")) / 100, 2);
	stream = json_array_get(json_object_get(call, "streams"), 0);
	assert_non_null(stream);
	assert_true(
	    json_integer_value(json_object_get(stream, "frames_received"))
	    > 40);
	json_decref(call);
}

static void
test_wrong_key(void **state)
{
	/* a signature not made with the signing key */
	const char *headers[] = {
		"Content-Type: application/x-www-form-urlencoded",
		"X-SignalWire-Signature: 8aOqPmHT1oD0d4yJzvoWTOuyX0s=", NULL
	};
	char url[96];
	long status = 0;

	(void)state;
	snprintf(url, sizeof(url), "%s/twiml", S.edge_http);
	assert_int_equal(harness_http("POST", url, headers,
	                     "CallSid=abc&Direction=inbound", &status, NULL),
	    0);
	assert_int_equal(status, 403);
	snprintf(url, sizeof(url), "%s/status", S.edge_http);
	assert_int_equal(
	    harness_http("POST", url, headers,
	        "CallSid=abc&CallStatus=completed", &status, NULL),
	    0);
	assert_int_equal(status, 403);
}

static void
test_twiml_get(void **state)
{
	static const char q[] = "CallSid=0b9e6a52-4c3d-4e1f-9a8b-7c6d5e4f3a2b"
	                        "&AccountSid=" PROJECT
	                        "&Direction=outbound-api&FromCity=NEW%20YORK";
	unsigned char mac[HMAC_SHA1_LEN];
	char          url[300], sig[29], hdr[80], *body = NULL;
	const char   *headers[2] = { hdr, NULL };
	long          status = 0;

	(void)state;
	snprintf(url, sizeof(url), "%s/twiml?%s", S.edge_http, q);
	assert_int_equal(
	    hmac_sha1(SIGN_KEY, strlen(SIGN_KEY), url, strlen(url), mac), 0);
	assert_int_equal(codec_b64_encode(mac, sizeof(mac), sig, 29), 28);
	snprintf(hdr, sizeof(hdr), "X-SignalWire-Signature: %s", sig);
	assert_int_equal(
	    harness_http("GET", url, headers, NULL, &status, &body), 0);
	assert_int_equal(status, 200);
	assert_non_null(body);
	assert_non_null(strstr(body, "<Connect><Stream url=\"ws://"));
	assert_non_null(strstr(body, "/media/signalwire\""));
	free(body);
	/* unsigned: refused */
	assert_int_equal(
	    harness_http("GET", url, NULL, NULL, &status, NULL), 0);
	assert_int_equal(status, 403);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_outbound),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_twiml_get),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
