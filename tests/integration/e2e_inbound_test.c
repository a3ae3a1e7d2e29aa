/*
 * e2e_inbound_test - a caller rings us: sim-twilio's /sim/inbound posts
 * the signed TwiML request to media-edge's /twiml -> the caller's number
 * is rate-checked -> <Connect><Stream> with a fresh stream token -> the
 * stream opens -> ai-session greets first and holds the scripted
 * conversation (tests/sim/scripts/inbound.json) with sim-openai,
 * including one consult_reasoner through the reasoner to sim-anthropic
 * -> end_call -> hang-up through the provider's REST API.
 *
 * Asserted: the calls row (direction inbound, transcript, summary JSON,
 * outcome, duration, the caller's number sealed), each turn and the
 * status callbacks stored, one rate-limit hit (an HMAC), the TwiML and
 * the stream as sim-twilio saw them, the hang-up, and no phone number in
 * any daemon's log.  Then the same call with the TwiML fetched by GET
 * (sim-twilio --twiml-get: the parameters in the signed URL's query).
 * Bounded: about 40 s.
 */
#include "e2e_fixture.h"

#define CALLER "+14155550177"
/* Caller turns (ms after the stream opens): the model greets first. */
#define SPEAK_AT "3600,8200,12400"

static void
check_provider(struct e2e *e, const char *sid)
{
	json_t     *v, *a, *o, *st;
	const char *twiml;
	size_t      i, hangups = 0;

	v = e2e_tw_wait_done(e, sid, 5000);
	assert_non_null(v);
	print_message("sim-twilio: %s after %s s\n",
	    json_string_value(json_object_get(v, "status")),
	    json_string_value(json_object_get(v, "duration")));
	assert_string_equal(
	    json_string_value(json_object_get(v, "status")), "completed");
	assert_null(json_string_value(json_object_get(v, "error")));
	json_array_foreach(json_object_get(v, "webhooks"), i, o)
	{
		if (json_integer_value(json_object_get(o, "status")) / 100
		    != 2)
			fail_msg("webhook %s got %lld",
			    json_string_value(json_object_get(o, "hook")),
			    json_integer_value(json_object_get(o, "status")));
	}
	twiml = json_string_value(
	    json_array_get(json_object_get(v, "twiml"), 0));
	assert_non_null(twiml);
	print_message("TwiML: %s\n", twiml);
	assert_non_null(strstr(twiml, "<Connect><Stream"));
	assert_non_null(strstr(twiml, "name=\"token\""));
	assert_non_null(strstr(twiml, "value=\"inbound\""));
	assert_int_equal(json_array_size(json_object_get(v, "said")), 0);
	a = json_object_get(v, "streams");
	assert_int_equal(json_array_size(a), 1);
	o = json_array_get(a, 0);
	assert_true(
	    json_integer_value(json_object_get(o, "frames_sent")) > 500);
	assert_true(
	    json_integer_value(json_object_get(o, "frames_received")) > 200);
	json_decref(v);

	/* no call was created through REST; the hang-up came through it */
	a = e2e_records(e->tw_rec, "kind", "rest");
	json_array_foreach(a, i, o)
	{
		if (strstr(
		        json_string_value(json_object_get(o, "path")), "/sim/")
		    != NULL)
			continue;
		st = json_object_get(json_object_get(o, "params"), "Status");
		assert_non_null(json_string_value(st));
		assert_string_equal(json_string_value(st), "completed");
		assert_string_equal(
		    json_string_value(json_object_get(o, "auth")), "ok");
		hangups++;
	}
	json_decref(a);
	assert_int_equal(hangups, 1);
}

static void
check_database(struct e2e *e, const char *sid)
{
	char       *s, h[65];
	const char *p[1] = { h };
	long        n = -1;

	s = e2e_call_field(e, sid, "transcript");
	assert_non_null(s);
	print_message("transcript:\n%s\n", s);
	assert_true(
	    strncmp(s, "AI: Thank you for calling Acme Plumbing", 39) == 0);
	assert_non_null(strstr(s, "User: Hi, I would like to book"));
	assert_non_null(strstr(s, "Thursday at 10am works"));
	assert_non_null(strstr(s, "AI: Lovely, you are booked"));
	free(s);
	s = e2e_call_field(e, sid, "summary");
	assert_non_null(s);
	print_message("summary: %s\n", s);
	free(s);
	s = e2e_call_field(e, sid, "outcome");
	assert_non_null(s);
	assert_string_equal(s, "goal_achieved");
	free(s);
	s = e2e_call_field(e, sid, "direction");
	assert_string_equal(s, "inbound");
	free(s);
	assert_int_equal(e2e_count_sid(e,
	                     "SELECT count(*) FROM calls WHERE call_sid = $1 "
	                     "AND duration_s BETWEEN 8 AND 40 AND "
	                     "from_phone_enc IS NOT NULL AND position("
	                     "'4155550177' IN encode(from_phone_enc, "
	                     "'escape')) = 0",
	                     sid),
	    1);
	assert_true(e2e_count_sid(e,
	                "SELECT count(*) FROM transcript_turns WHERE "
	                "call_sid = $1",
	                sid)
	    >= 6);
	assert_true(
	    e2e_count_sid(
	        e, "SELECT count(*) FROM call_events WHERE call_sid = $1", sid)
	    >= 1);
	e2e_phone_hash(CALLER, h);
	assert_int_equal(pgtest_query_int_params(e->db.dsn,
	                     "SELECT count(*) FROM rate_limit_hits WHERE "
	                     "scope = 'phone' AND key_hash = $1",
	                     1, p, &n),
	    0);
	assert_int_equal(n, 1);
	assert_int_equal(e2e_count(e, "SELECT count(*) FROM calls"), 1);
}

/* The TwiML request went as o asked: a POST, or a GET with the call's
 * parameters in its query. */
static void
check_twiml_method(struct e2e *e, bool get)
{
	json_t     *a, *o;
	const char *url;
	size_t      i, n = 0;

	a = e2e_records(e->tw_rec, "kind", "webhook");
	json_array_foreach(a, i, o)
	{
		if (strcmp(
		        json_string_value(json_object_get(o, "hook")), "twiml")
		    != 0)
			continue;
		url = json_string_value(json_object_get(o, "url"));
		print_message("TwiML fetched from %.60s...\n", url);
		assert_true((strstr(url, "/twiml?") != NULL) == get);
		if (get) { /* a space as "+", as Twilio sends it */
			assert_non_null(strstr(url, "CallSid=CA"));
			assert_non_null(
			    strstr(url, "CallerCity=SAN+FRANCISCO"));
		}
		assert_int_equal(
		    json_integer_value(json_object_get(o, "status")), 200);
		n++;
	}
	json_decref(a);
	assert_int_equal(n, 1);
}

static void
run_inbound(bool get)
{
	struct e2e      e;
	struct e2e_opts o = { 0 };
	char            sid[64];

	o.twiml_get = get;
	o.script = "inbound.json";
	o.speak_at = SPEAK_AT;
	e2e_start(&e, &o);
	e2e_seed(&e);
	e2e_tw_inbound(&e, CALLER, sid, sizeof(sid));
	print_message("inbound call %s (%.1f s)\n", sid, e2e_elapsed(&e));
	assert_int_equal(e2e_wait_record(&e, sid, 0, 40000), 0);
	print_message("record stored at %.1f s\n", e2e_elapsed(&e));
	assert_int_equal(
	    e2e_nrecords(e.oai_rec, "type", "connection_opened"), 1);
	assert_int_equal(e2e_nrecords(e.oai_rec, "type", "barge_in"), 0);
	check_provider(&e, sid);
	check_twiml_method(&e, get);
	check_database(&e, sid);
	e2e_assert_no_phone_in_logs(&e, CALLER);
	e2e_stop(&e);
}

static void
test_inbound(void **state)
{
	(void)state;
	run_inbound(false);
}

static void
test_inbound_get(void **state)
{
	(void)state;
	run_inbound(true);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inbound),
		cmocka_unit_test(test_inbound_get),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
