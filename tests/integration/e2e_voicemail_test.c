/*
 * e2e_voicemail_test - an outbound call that reaches an answering
 * machine: POST /calls -> sim-twilio answers with answering-machine
 * detection reporting machine_end_beep (--answered-by) -> the model
 * speaks the business's voicemail message
 * (tests/sim/scripts/voicemail.json), and only once it has played does
 * ai-session hang up -> media-edge ends the call through the provider's
 * REST API.
 *
 * Asserted: the message reached the callee's side (audio frames and the
 * transcript), the hang-up came through REST after it, the calls row has
 * outcome voicemail, answered_by machine_end_beep, a summary, a duration,
 * and the lead's status changed; no phone number in any daemon's log.
 * Bounded: about 10 s.
 */
#include "e2e_fixture.h"

static void
test_voicemail(void **state)
{
	struct e2e      e;
	struct e2e_opts o = { 0 };
	char            sid[64], *s;
	json_t         *v, *a, *st;
	size_t          i, hangups = 0;

	(void)state;
	o.script = "voicemail.json";
	o.answered_by = "machine_end_beep";
	o.speak_at = "0"; /* the machine's greeting */
	e2e_start(&e, &o);
	e2e_seed(&e);
	assert_int_equal(e2e_post_call(&e, E2E_LEAD_PHONE, E2E_API_TOKEN, sid,
	                     sizeof(sid), NULL)
	        / 100,
	    2);
	print_message("call %s placed (%.1f s)\n", sid, e2e_elapsed(&e));
	assert_int_equal(e2e_wait_record(&e, sid, 0, 40000), 0);
	print_message("record stored at %.1f s\n", e2e_elapsed(&e));

	s = e2e_call_field(&e, sid, "outcome");
	assert_non_null(s);
	assert_string_equal(s, "voicemail");
	free(s);
	s = e2e_call_field(&e, sid, "answered_by");
	assert_non_null(s);
	assert_string_equal(s, "machine_end_beep");
	free(s);
	s = e2e_call_field(&e, sid, "transcript");
	assert_non_null(s);
	print_message("transcript:\n%s\n", s);
	assert_non_null(
	    strstr(s, "AI: Hi, this is Sam from Acme Plumbing about your"));
	free(s);
	s = e2e_call_field(&e, sid, "summary");
	assert_non_null(s);
	print_message("summary: %s\n", s);
	free(s);
	assert_int_equal(e2e_count_sid(&e,
	                     "SELECT count(*) FROM calls WHERE call_sid = $1 "
	                     "AND duration_s BETWEEN 1 AND 30",
	                     sid),
	    1);
	s = e2e_db_wait(&e,
	    "SELECT status FROM leads WHERE id = '" E2E_LEAD
	    "' AND status <> 'new'",
	    5000);
	assert_non_null(s);
	print_message("lead status: %s\n", s);
	free(s);

	/* the machine heard the message; then the REST hang-up */
	v = e2e_tw_wait_done(&e, sid, 5000);
	assert_non_null(v);
	assert_string_equal(
	    json_string_value(json_object_get(v, "answered_by")),
	    "machine_end_beep");
	assert_string_equal(
	    json_string_value(json_object_get(v, "status")), "completed");
	a = json_object_get(v, "streams");
	assert_int_equal(json_array_size(a), 1);
	/* 2.6 s of message: 130 frames of 20 ms */
	assert_true(json_integer_value(json_object_get(
	                json_array_get(a, 0), "frames_received"))
	    >= 100);
	json_decref(v);
	a = e2e_records(e.tw_rec, "kind", "rest");
	json_array_foreach(a, i, v)
	{
		st = json_object_get(json_object_get(v, "params"), "Status");
		if (json_string_value(st) != NULL
		    && strcmp(json_string_value(st), "completed") == 0)
			hangups++;
	}
	json_decref(a);
	assert_int_equal(hangups, 1);
	assert_int_equal(
	    e2e_nrecords(e.oai_rec, "type", "connection_opened"), 1);
	e2e_assert_no_phone_in_logs(&e, E2E_LEAD_PHONE);
	e2e_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_voicemail),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
