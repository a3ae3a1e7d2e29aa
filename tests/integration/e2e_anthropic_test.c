/*
 * e2e_anthropic_test - the outbound call of e2e_outbound_test while
 * Anthropic misbehaves (sim-anthropic's failure injection):
 *
 *   overloaded then back: the consult_reasoner request meets two 529s,
 *       and so does the summary at the end; the reasoner retries both,
 *       the model speaks the answer, and the record is stored with its
 *       summary (not pending).
 *   down for the whole call: every request gets 529; the model speaks
 *       around the missing answer, the call still ends normally, and the
 *       record is stored at once with summary_pending; once Anthropic is
 *       back (POST /sim/mode {"down":false}) ai-session asks again and
 *       the summary is filled in.
 *
 * Bounded: about 25 s each.
 */
#include "e2e_fixture.h"

/* The callee's turns, with room for the reasoner's retries. */
#define SPEAK_AT "400,5000,11000,15600"

static long
ant_status(struct e2e *e, const char *code)
{
	json_t *st = e2e_get_json(e->ant_base, "/sim/stats");
	long    n;

	assert_non_null(st);
	n = e2e_json_num(st, "by_status", code);
	json_decref(st);
	return (n < 0 ? 0 : n);
}

/* Waits for the model to receive the consult_reasoner output; it. */
static char *
tool_output(struct e2e *e, int timeout_ms)
{
	long long   end = harness_now_ms() + timeout_ms;
	json_t     *a;
	const char *s;
	char       *out = NULL;

	while (out == NULL && harness_now_ms() < end) {
		a = e2e_records(
		    e->oai_rec, "type", "conversation.item.create");
		s = json_string_value(
		    json_object_get(json_array_get(a, 0), "output"));
		if (s != NULL)
			out = strdup(s);
		json_decref(a);
		if (out == NULL)
			e2e_sleep_ms(50);
	}
	return (out);
}

static void
place(struct e2e *e, char *sid, size_t len)
{
	e2e_seed(e);
	assert_int_equal(
	    e2e_post_call(e, E2E_LEAD_PHONE, E2E_API_TOKEN, sid, len, NULL)
	        / 100,
	    2);
	print_message("call %s placed (%.1f s)\n", sid, e2e_elapsed(e));
}

static void
test_overloaded_then_back(void **state)
{
	struct e2e      e;
	struct e2e_opts o = { 0 };
	char            sid[64], *s;

	(void)state;
	o.script = "outbound.json";
	o.speak_at = SPEAK_AT;
	o.ant_args = (const char *const[]) { "--fail", "529,529", NULL };
	e2e_start(&e, &o);
	place(&e, sid, sizeof(sid));

	s = tool_output(&e, 20000);
	assert_non_null(s);
	print_message("consult_reasoner output after two 529s: %s (%.1f s)\n",
	    s, e2e_elapsed(&e));
	assert_non_null(strstr(s, "Thursday"));
	free(s);
	assert_int_equal(ant_status(&e, "529"), 2);
	/* the summary, asked for at the end, meets two more */
	e2e_post_json(e.ant_base, "/sim/mode", "{\"fail\":\"529,529\"}");

	assert_int_equal(e2e_wait_record(&e, sid, 0, 40000), 0);
	print_message("record stored at %.1f s\n", e2e_elapsed(&e));
	assert_int_equal(ant_status(&e, "529"), 4);
	assert_true(ant_status(&e, "200") >= 2);
	s = e2e_call_field(&e, sid, "summary");
	assert_non_null(s);
	print_message("summary: %s\n", s);
	free(s);
	s = e2e_call_field(&e, sid, "outcome");
	assert_string_equal(s, "goal_achieved");
	free(s);
	s = e2e_db_wait(&e,
	    "SELECT status FROM leads WHERE id = '" E2E_LEAD
	    "' AND status <> 'new'",
	    5000);
	assert_non_null(s);
	free(s);
	e2e_assert_no_phone_in_logs(&e, E2E_LEAD_PHONE);
	e2e_stop(&e);
}

static void
test_down_whole_call(void **state)
{
	struct e2e      e;
	struct e2e_opts o = { 0 };
	char            sid[64], *s;
	json_t         *v;

	(void)state;
	o.script = "outbound.json";
	o.speak_at = SPEAK_AT;
	o.ant_args = (const char *const[]) { "--down", NULL };
	o.rsn_env
	    = (const char *const[]) { "REASONER_CIRCUIT_OPEN_MS=500", NULL };
	e2e_start(&e, &o);
	place(&e, sid, sizeof(sid));

	s = tool_output(&e, 20000);
	assert_non_null(s);
	print_message("consult_reasoner output while down: %s\n", s);
	assert_null(strstr(s, "Thursday at 10am works"));
	free(s);

	/* the call ends normally, and the record is stored at once */
	assert_int_equal(e2e_wait_record(&e, sid, 1, 40000), 0);
	print_message(
	    "record stored, summary pending, at %.1f s\n", e2e_elapsed(&e));
	v = e2e_tw_wait_done(&e, sid, 5000);
	assert_non_null(v);
	assert_string_equal(
	    json_string_value(json_object_get(v, "status")), "completed");
	json_decref(v);
	s = e2e_call_field(&e, sid, "transcript");
	assert_non_null(s);
	print_message("transcript:\n%s\n", s);
	assert_non_null(strstr(s, "AI: Wonderful, you are booked"));
	free(s);
	assert_int_equal(e2e_count_sid(&e,
	                     "SELECT count(*) FROM calls WHERE call_sid = $1 "
	                     "AND coalesce(summary->>'summary', '') = '' AND "
	                     "duration_s >= 10",
	                     sid),
	    1);
	assert_true(ant_status(&e, "529") >= 1);
	assert_int_equal(ant_status(&e, "200"), 0);

	/* Anthropic is back: the summary is filled in later */
	e2e_post_json(e.ant_base, "/sim/mode", "{\"down\":false}");
	assert_int_equal(e2e_wait_record(&e, sid, 0, 20000), 0);
	print_message("summary stored at %.1f s\n", e2e_elapsed(&e));
	s = e2e_call_field(&e, sid, "summary");
	assert_non_null(s);
	print_message("summary: %s\n", s);
	free(s);
	s = e2e_call_field(&e, sid, "outcome");
	assert_non_null(s);
	print_message("outcome: %s\n", s);
	free(s);
	e2e_assert_no_phone_in_logs(&e, E2E_LEAD_PHONE);
	e2e_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_overloaded_then_back),
		cmocka_unit_test(test_down_whole_call),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
