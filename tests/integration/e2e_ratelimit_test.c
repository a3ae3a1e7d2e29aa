/*
 * e2e_ratelimit_test - a number over its limit (two calls in the hour
 * already counted for it, seeded as the rate limiter stores them: HMACs
 * of the number) is refused, and nothing else happens.
 *
 *   inbound:  sim-twilio rings /twiml from that number; the caller hears
 *             the polite <Say> and <Hangup/> (sim-twilio records what it
 *             said); no stream, no model session (sim-openai saw no
 *             connection), no call record, no new rate-limit row.
 *   outbound: POST /calls to that number gets 429 with Retry-After and
 *             a JSON reason; the provider is never asked to call.
 *
 * No phone number in any daemon's log.  Bounded: about 5 s.
 */
#include "e2e_fixture.h"

#define LIMITED "+14155550142"

static void
seed_hits(struct e2e *e)
{
	char        h[65];
	const char *p[1] = { h };
	int         i;

	e2e_phone_hash(LIMITED, h);
	for (i = 0; i < 2; i++)
		assert_int_equal(
		    pgtest_exec_params(e->db.dsn,
		        "INSERT INTO rate_limit_hits (scope, "
		        "key_hash, kind, hit_at) VALUES ('phone', "
		        "$1, 'inbound', now() - interval '10 "
		        "minutes')",
		        1, p),
		    0);
}

static void
nothing_happened(struct e2e *e)
{
	/* give any stray work time to show */
	e2e_sleep_ms(1000);
	assert_int_equal(
	    e2e_count(e, "SELECT count(*) FROM rate_limit_hits"), 2);
	assert_int_equal(e2e_count(e, "SELECT count(*) FROM calls"), 0);
	/* the provider's own status callbacks for the refused call may be
	 * kept as call events, but never with the caller's number */
	print_message("call events kept for the refused call: %ld\n",
	    e2e_count(e, "SELECT count(*) FROM call_events"));
	assert_int_equal(e2e_count(e,
	                     "SELECT count(*) FROM call_events WHERE "
	                     "position('4155550142' IN payload::text) > 0"),
	    0);
	assert_int_equal(
	    e2e_count(e, "SELECT count(*) FROM transcript_turns"), 0);
	assert_int_equal(
	    e2e_nrecords(e->oai_rec, "type", "connection_opened"), 0);
	assert_int_equal(e2e_nrecords(e->ant_rec, "path", "/v1/messages"), 0);
	assert_int_equal(
	    harness_log_contains(e->d[E2E_AI], "\"call_sid\":\"CA"), 0);
}

static void
test_refused(void **state)
{
	struct e2e      e;
	struct e2e_opts o = { 0 };
	char            sid[64], url[128], *body = NULL, *hdrs = NULL;
	const char     *twiml, *said;
	const char     *h[] = { "Content-Type: application/json",
		    "Authorization: Bearer " E2E_API_TOKEN, NULL };
	json_t         *v;
	long            status = 0;

	(void)state;
	o.script = "inbound.json";
	o.speak_at = "500";
	e2e_start(&e, &o);
	e2e_seed(&e);
	seed_hits(&e);

	/* inbound: the refusal, spoken, then the hang-up */
	e2e_tw_inbound(&e, LIMITED, sid, sizeof(sid));
	v = e2e_tw_wait_done(&e, sid, 10000);
	assert_non_null(v);
	twiml = json_string_value(
	    json_array_get(json_object_get(v, "twiml"), 0));
	assert_non_null(twiml);
	print_message("TwiML: %s\n", twiml);
	assert_non_null(strstr(twiml, "<Say>"));
	assert_non_null(strstr(twiml, "<Hangup/>"));
	assert_null(strstr(twiml, "<Stream"));
	assert_int_equal(json_array_size(json_object_get(v, "said")), 1);
	said
	    = json_string_value(json_array_get(json_object_get(v, "said"), 0));
	print_message("said: %s\n", said);
	assert_non_null(strstr(said, "cannot take your call"));
	assert_int_equal(json_array_size(json_object_get(v, "streams")), 0);
	assert_string_equal(
	    json_string_value(json_object_get(v, "status")), "completed");
	json_decref(v);

	/* outbound: 429, Retry-After, and no call placed */
	snprintf(url, sizeof(url), "%s/calls", e.edge_base);
	assert_int_equal(harness_http_full("POST", url, h,
	                     "{\"to\":\"" LIMITED "\",\"lead_id\":\"" E2E_LEAD
	                     "\",\"objective\":\"Follow up\"}",
	                     10000, &status, &body, &hdrs),
	    0);
	print_message("POST /calls: %ld %s\n", status, body ? body : "");
	assert_int_equal(status, 429);
	assert_non_null(strcasestr(hdrs, "\nRetry-After: "));
	v = json_loads(body, 0, NULL);
	assert_non_null(json_string_value(json_object_get(v, "reason")));
	json_decref(v);
	free(body);
	free(hdrs);
	v = e2e_get_json(e.tw_base, "/sim/calls");
	assert_non_null(v);
	assert_int_equal(json_array_size(json_object_get(v, "calls")), 1);
	json_decref(v);

	nothing_happened(&e);
	e2e_assert_no_phone_in_logs(&e, LIMITED);
	e2e_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
