/*
 * e2e_telnyx_test - the whole product with EDGE_PROVIDER=telnyx against
 * sim-twilio --telnyx: one outbound call (POST /calls -> TeXML REST create
 * with the bearer API key) and one inbound call (the sim posts the TeXML
 * webhook), each signed with Ed25519 by a key pair made for the run, each
 * holding its scripted conversation (tests/sim/scripts/outbound.json,
 * inbound.json) over the Telnyx media dialect through ai-session,
 * sim-openai and the reasoner, each ended by the model's end_call ->
 * HangUp -> Call Control's hangup action.
 *
 * Asserted: the calls row says provider telnyx, with its direction and
 * transcript; the provider's side (every webhook accepted, one stream
 * with audio both ways on /media/telnyx, the REST requests with the
 * bearer token, exactly one hang-up); no phone number in any log.
 * Bounded: about 40 s.
 */
#include "e2e_fixture.h"

#define OUT_SPEAK_AT "400,5000,9200,13800"
#define IN_SPEAK_AT "3600,8200,12400"
#define CALLER "+14155550177"

/* The REST requests media-edge made: every one with the bearer token;
 * how many hung the call up. */
static size_t
rest_hangups(struct e2e *e, const char *sid, size_t *creates)
{
	json_t     *a, *o;
	const char *path;
	char        want[160];
	size_t      i, n = 0;

	snprintf(want, sizeof(want), "/v2/calls/%s/actions/hangup", sid);
	*creates = 0;
	a = e2e_records(e->tw_rec, "kind", "rest");
	json_array_foreach(a, i, o)
	{
		path = json_string_value(json_object_get(o, "path"));
		if (strncmp(path, "/sim/", 5) == 0)
			continue;
		assert_string_equal(
		    json_string_value(json_object_get(o, "auth")), "ok");
		if (strcmp(path, want) == 0) {
			assert_int_equal(
			    json_integer_value(json_object_get(o, "status")),
			    200);
			n++;
		} else if (strncmp(path, "/v2/texml/calls/", 16) == 0) {
			e2e_print_json("create", json_object_get(o, "params"));
			assert_non_null(json_object_get(
			    json_object_get(o, "params"), "StatusCallback"));
			(*creates)++;
		} else
			fail_msg("unexpected REST request %s", path);
	}
	json_decref(a);
	return (n);
}

static void
check_provider(struct e2e *e, const char *sid, const char *dir)
{
	json_t     *v, *o;
	const char *twiml;
	size_t      i;

	v = e2e_tw_wait_done(e, sid, 5000);
	assert_non_null(v);
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
	print_message("TeXML: %s\n", twiml);
	assert_non_null(strstr(twiml, "/media/telnyx\""));
	assert_non_null(strstr(twiml, dir));
	assert_int_equal(json_array_size(json_object_get(v, "streams")), 1);
	o = json_array_get(json_object_get(v, "streams"), 0);
	assert_int_equal(json_integer_value(json_object_get(o, "errors")), 0);
	assert_true(
	    json_integer_value(json_object_get(o, "frames_sent")) > 500);
	assert_true(
	    json_integer_value(json_object_get(o, "frames_received")) > 200);
	json_decref(v);
}

static void
check_record(struct e2e *e, const char *sid, const char *dir)
{
	char *s;

	s = e2e_call_field(e, sid, "provider");
	assert_non_null(s);
	assert_string_equal(s, "telnyx");
	free(s);
	s = e2e_call_field(e, sid, "direction");
	assert_string_equal(s, dir);
	free(s);
	s = e2e_call_field(e, sid, "transcript");
	assert_non_null(s);
	print_message("transcript:\n%s\n", s);
	assert_non_null(strstr(s, "AI: "));
	assert_non_null(strstr(s, "User: "));
	free(s);
	assert_true(e2e_count_sid(e,
	                "SELECT count(*) FROM transcript_turns WHERE "
	                "call_sid = $1",
	                sid)
	    >= 4);
}

static void
test_outbound(void **state)
{
	struct e2e      e;
	struct e2e_opts o = { 0 };
	char            sid[64], *resp = NULL;
	size_t          creates;
	long            status;

	(void)state;
	o.script = "outbound.json";
	o.speak_at = OUT_SPEAK_AT;
	o.telnyx = true;
	e2e_start(&e, &o);
	e2e_seed(&e);
	status = e2e_post_call(
	    &e, E2E_LEAD_PHONE, E2E_API_TOKEN, sid, sizeof(sid), &resp);
	print_message("POST /calls: %ld %s\n", status, resp ? resp : "");
	free(resp);
	assert_int_equal(status, 201);
	assert_int_equal(strncmp(sid, "v3:", 3), 0);
	assert_int_equal(e2e_wait_record(&e, sid, 0, 40000), 0);
	check_provider(&e, sid, "value=\"outbound\"");
	assert_int_equal(rest_hangups(&e, sid, &creates), 1);
	assert_int_equal(creates, 1);
	check_record(&e, sid, "outbound");
	e2e_assert_no_phone_in_logs(&e, E2E_LEAD_PHONE);
	e2e_stop(&e);
}

static void
test_inbound(void **state)
{
	struct e2e      e;
	struct e2e_opts o = { 0 };
	char            sid[64];
	size_t          creates;

	(void)state;
	o.script = "inbound.json";
	o.speak_at = IN_SPEAK_AT;
	o.telnyx = true;
	e2e_start(&e, &o);
	e2e_seed(&e);
	e2e_tw_inbound(&e, CALLER, sid, sizeof(sid));
	print_message("inbound call %s\n", sid);
	assert_int_equal(strncmp(sid, "v3:", 3), 0);
	assert_int_equal(e2e_wait_record(&e, sid, 0, 40000), 0);
	check_provider(&e, sid, "value=\"inbound\"");
	assert_int_equal(rest_hangups(&e, sid, &creates), 1);
	assert_int_equal(creates, 0);
	check_record(&e, sid, "inbound");
	e2e_assert_no_phone_in_logs(&e, CALLER);
	e2e_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_outbound),
		cmocka_unit_test(test_inbound),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
