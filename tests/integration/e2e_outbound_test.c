/*
 * e2e_outbound_test - one outbound call through the whole product, as a
 * business asks for it: POST /calls (bearer token) at media-edge ->
 * rate-limiter -> sim-twilio's REST API places the call, posts signed
 * status callbacks and the signed TwiML request, opens the media stream
 * -> ai-session and sim-openai hold the scripted conversation
 * (tests/sim/scripts/outbound.json), including one consult_reasoner that
 * goes through the reasoner to sim-anthropic -> end_call -> media-edge
 * hangs up through the provider's REST API.
 *
 * Asserted on the database: the calls row (transcript as AI:/User:
 * lines, summary JSON, outcome, duration, sealed phone numbers), each
 * turn stored, the status callbacks stored as call events, the lead's
 * status changed, one rate-limit hit (an HMAC, never the number).  On
 * the simulators: the REST create (auth, TwiML and status URLs, AMD), the
 * webhooks all accepted, the stream's audio both ways, the hang-up by
 * REST, the tool call's output back in the model's conversation.  On the
 * daemons' logs: no phone number.  Bounded: about 20 s.
 */
#include "e2e_fixture.h"

/* Callee turns (ms after the stream opens); see tests/sim/scripts. */
#define SPEAK_AT "400,5000,9200,13800"

static void
check_provider(struct e2e *e, const char *sid)
{
	json_t     *v, *a, *o, *st;
	size_t      i, ok = 0;
	const char *twiml;

	/* the REST create: ours, authenticated, with our URLs */
	a = e2e_records(e->tw_rec, "kind", "rest");
	assert_true(json_array_size(a) >= 2);
	o = json_array_get(a, 0);
	assert_string_equal(
	    json_string_value(json_object_get(o, "method")), "POST");
	assert_string_equal(
	    json_string_value(json_object_get(o, "auth")), "ok");
	assert_int_equal(
	    json_integer_value(json_object_get(o, "status")), 201);
	e2e_print_json("create", json_object_get(o, "params"));
	assert_non_null(json_object_get(json_object_get(o, "params"), "Url"));
	assert_non_null(
	    json_object_get(json_object_get(o, "params"), "StatusCallback"));
	/* the hang-up: Status=completed through REST */
	for (i = 1; i < json_array_size(a); i++) {
		st = json_object_get(
		    json_object_get(json_array_get(a, i), "params"), "Status");
		if (json_string_value(st) != NULL
		    && strcmp(json_string_value(st), "completed") == 0)
			ok++;
	}
	json_decref(a);
	assert_int_equal(ok, 1);

	v = e2e_tw_wait_done(e, sid, 5000);
	assert_non_null(v);
	print_message("sim-twilio: %s after %s s, answered by %s\n",
	    json_string_value(json_object_get(v, "status")),
	    json_string_value(json_object_get(v, "duration")),
	    json_string_value(json_object_get(v, "answered_by")));
	assert_string_equal(
	    json_string_value(json_object_get(v, "status")), "completed");
	assert_null(json_string_value(json_object_get(v, "error")));
	/* every webhook was accepted */
	a = json_object_get(v, "webhooks");
	assert_true(json_array_size(a) >= 5); /* 4 status + twiml */
	json_array_foreach(a, i, o)
	{
		if (json_integer_value(json_object_get(o, "status")) != 200
		    && json_integer_value(json_object_get(o, "status")) != 204)
			fail_msg("webhook %s got %lld",
			    json_string_value(json_object_get(o, "hook")),
			    json_integer_value(json_object_get(o, "status")));
	}
	twiml = json_string_value(
	    json_array_get(json_object_get(v, "twiml"), 0));
	assert_non_null(twiml);
	assert_non_null(strstr(twiml, "<Connect><Stream"));
	assert_int_equal(json_array_size(json_object_get(v, "said")), 0);
	/* one stream: the callee spoke, the model's audio came back */
	a = json_object_get(v, "streams");
	assert_int_equal(json_array_size(a), 1);
	o = json_array_get(a, 0);
	assert_true(
	    json_integer_value(json_object_get(o, "frames_sent")) > 500);
	assert_true(
	    json_integer_value(json_object_get(o, "frames_received")) > 200);
	assert_true(
	    json_integer_value(json_object_get(o, "marks_echoed")) > 0);
	json_decref(v);
}

static void
check_model(struct e2e *e)
{
	json_t     *a;
	const char *out;

	assert_int_equal(
	    e2e_nrecords(e->oai_rec, "type", "connection_opened"), 1);
	/* the script's timing held: the callee never talked over the model */
	assert_int_equal(e2e_nrecords(e->oai_rec, "type", "barge_in"), 0);
	/* the reasoner's answer went back into the conversation */
	a = e2e_records(e->oai_rec, "type", "conversation.item.create");
	assert_true(json_array_size(a) >= 1);
	out = json_string_value(
	    json_object_get(json_array_get(a, 0), "output"));
	assert_non_null(out);
	print_message("consult_reasoner output: %s\n", out);
	assert_non_null(strstr(out, "Thursday"));
	json_decref(a);
}

static void
check_database(struct e2e *e, const char *sid)
{
	char *s;

	s = e2e_call_field(e, sid, "transcript");
	assert_non_null(s);
	print_message("transcript:\n%s\n", s);
	assert_non_null(strstr(s, "AI: Hi Dana, this is Sam"));
	assert_non_null(strstr(s, "User: Hello?"));
	assert_non_null(
	    strstr(s, "User: Yes, could someone come on Thursday"));
	assert_non_null(strstr(s, "AI: Wonderful, you are booked"));
	free(s);
	s = e2e_call_field(e, sid, "summary");
	assert_non_null(s);
	print_message("summary: %s\n", s);
	free(s);
	s = e2e_call_field(e, sid, "summary->>'summary'");
	assert_non_null(s);
	assert_true(strlen(s) > 10);
	free(s);
	s = e2e_call_field(e, sid, "outcome");
	assert_non_null(s);
	assert_string_equal(s, "goal_achieved");
	free(s);
	s = e2e_call_field(e, sid, "direction");
	assert_string_equal(s, "outbound");
	free(s);
	s = e2e_call_field(e, sid, "lead_id");
	assert_string_equal(s, E2E_LEAD);
	free(s);
	/* the callee's turns run to about 15 s */
	assert_int_equal(e2e_count_sid(e,
	                     "SELECT count(*) FROM calls WHERE call_sid = $1 "
	                     "AND duration_s BETWEEN 10 AND 40",
	                     sid),
	    1);
	/* phone numbers sealed, never in plain text */
	assert_int_equal(e2e_count_sid(e,
	                     "SELECT count(*) FROM calls WHERE call_sid = $1 "
	                     "AND to_phone_enc IS NOT NULL AND position("
	                     "'4155550123' IN encode(to_phone_enc, 'escape')) "
	                     "= 0",
	                     sid),
	    1);
	/* each turn stored as it happened: 4 callee + 3 model turns */
	assert_true(e2e_count_sid(e,
	                "SELECT count(*) FROM transcript_turns WHERE "
	                "call_sid = $1",
	                sid)
	    >= 7);
	/* status callbacks became call events */
	assert_true(
	    e2e_count_sid(
	        e, "SELECT count(*) FROM call_events WHERE call_sid = $1", sid)
	    >= 3);
	s = e2e_db_wait(e,
	    "SELECT status FROM leads WHERE id = '" E2E_LEAD
	    "' AND status <> 'new'",
	    5000);
	assert_non_null(s);
	print_message("lead status: %s\n", s);
	free(s);
	/* one rate-limit hit for the number, stored as its HMAC */
	{
		char        h[65];
		const char *p[1] = { h };
		long        n = -1;

		e2e_phone_hash(E2E_LEAD_PHONE, h);
		assert_int_equal(
		    pgtest_query_int_params(e->db.dsn,
		        "SELECT count(*) FROM rate_limit_hits WHERE "
		        "scope = 'phone' AND key_hash = $1",
		        1, p, &n),
		    0);
		assert_int_equal(n, 1);
	}
}

static void
test_outbound(void **state)
{
	struct e2e      e;
	struct e2e_opts o = { 0 };
	char            sid[64], *resp = NULL;
	long            status;

	(void)state;
	o.script = "outbound.json";
	o.speak_at = SPEAK_AT;
	e2e_start(&e, &o);
	e2e_seed(&e);

	/* the API refuses a missing or wrong bearer token, and places
	 * nothing */
	assert_int_equal(
	    e2e_post_call(&e, E2E_LEAD_PHONE, NULL, NULL, 0, NULL), 401);
	assert_int_equal(
	    e2e_post_call(&e, E2E_LEAD_PHONE, "wrong-token", NULL, 0, NULL),
	    401);
	assert_int_equal(
	    e2e_post_call(&e, "12345", E2E_API_TOKEN, NULL, 0, NULL), 400);

	status = e2e_post_call(
	    &e, E2E_LEAD_PHONE, E2E_API_TOKEN, sid, sizeof(sid), &resp);
	print_message("POST /calls: %ld %s (%.1f s)\n", status,
	    resp != NULL ? resp : "", e2e_elapsed(&e));
	free(resp);
	assert_true(status == 200 || status == 201);
	assert_int_equal(e2e_nrecords(e.tw_rec, "kind", "rest"), 1);

	/* the call runs by itself; the record lands once it has ended */
	assert_int_equal(e2e_wait_record(&e, sid, 0, 40000), 0);
	print_message("record stored at %.1f s\n", e2e_elapsed(&e));
	check_provider(&e, sid);
	check_model(&e);
	check_database(&e, sid);
	e2e_assert_no_phone_in_logs(&e, E2E_LEAD_PHONE);
	e2e_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_outbound),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
