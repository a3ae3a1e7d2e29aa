/*
 * e2e_keys_test - the model presses phone keys (press_keys) on the whole
 * product (tests/sim/scripts/keys.json: the model speaks, presses "123#",
 * says goodbye, ends the call).
 *
 * Twilio: the keys go in-band: the callee's phone (sim-twilio, which
 * runs a DTMF detector on what it hears) hears exactly 1 2 3 #, in order,
 * after the model's first answer and before its goodbye; the tool
 * answered {"ok":true}; the transcript says which keys were pressed.
 * Telnyx: media-edge asks Call Control send_dtmf for the call's
 * call_control_id with {"digits":"123#"} and sends no tones; when that
 * request fails (sim --telnyx-dtmf-status 500), the model is told in a
 * system conversation item.  Bad digits ("12x", keys_bad.json): the model
 * gets an error, nothing is sent, ai_tool_calls_total counts bad_args.
 * The callee speaks well after each model answer, so no turn interrupts
 * the model (no Clear could drop the tones).  Bounded: about 15 s a case.
 */
#include "e2e_fixture.h"

#define SPEAK_AT "400,3600,6800,9800"
#define SAY1_BYTES (1200 * 8) /* the first answer's audio */
#define BYE_BYTES (1000 * 8) /* the goodbye's */

/* The one stream of call sid as sim-twilio saw it (json_decref). */
static json_t *
stream_of(struct e2e *e, const char *sid)
{
	json_t *v = e2e_tw_wait_done(e, sid, 5000), *s;

	assert_non_null(v);
	assert_int_equal(json_array_size(json_object_get(v, "streams")), 1);
	s = json_incref(json_array_get(json_object_get(v, "streams"), 0));
	json_decref(v);
	e2e_print_json("stream", s);
	return (s);
}

/* sim-openai's record: the function_call_output media-edge sent for the
 * press_keys call, and whether a system item says text. */
static char *
tool_output(struct e2e *e)
{
	json_t *a
	    = e2e_records(e->oai_rec, "item_type", "function_call_output"),
	    *o;
	const char *out;
	char       *res = NULL;
	size_t      i;

	json_array_foreach(a, i, o)
	{
		out = json_string_value(json_object_get(o, "output"));
		if (out != NULL && res == NULL)
			res = strdup(out);
	}
	json_decref(a);
	return (res);
}

static bool
system_item_has(struct e2e *e, const char *text)
{
	json_t     *a = e2e_records(e->oai_rec, "role", "system"), *o;
	const char *t;
	size_t      i;
	bool        found = false;

	json_array_foreach(a, i, o)
	{
		t = json_string_value(json_object_get(o, "text"));
		if (t != NULL && strstr(t, text) != NULL)
			found = true;
	}
	json_decref(a);
	return (found);
}

static long
ai_metric(struct e2e *e, const char *series)
{
	char url[96], *body = NULL, *p, *end;
	long status = 0, v = 0;

	snprintf(
	    url, sizeof(url), "http://127.0.0.1:%d/metrics", e->http[E2E_AI]);
	if (harness_http("GET", url, NULL, NULL, &status, &body) != 0)
		return (-1);
	if ((p = strstr(body, series)) != NULL)
		v = strtol(p + strlen(series) + 1, &end, 10);
	free(body);
	return (v);
}

/* Place the call and wait for its record. */
static void
run_call(struct e2e *e, char *sid, size_t len)
{
	long status;

	e2e_seed(e);
	status
	    = e2e_post_call(e, E2E_LEAD_PHONE, E2E_API_TOKEN, sid, len, NULL);
	assert_int_equal(status / 100, 2);
	print_message("call %s placed\n", sid);
	assert_int_equal(e2e_wait_record(e, sid, 0, 40000), 0);
}

/* The send_dtmf requests sim-twilio --telnyx got for sid. */
static json_t *
send_dtmf_requests(struct e2e *e, const char *sid)
{
	json_t *a = e2e_records(e->tw_rec, "event", "telnyx_send_dtmf"), *o,
	       *mine = json_array();
	size_t      i;
	const char *s;

	json_array_foreach(a, i, o)
	{
		s = json_string_value(json_object_get(o, "sid"));
		if (s != NULL && strcmp(s, sid) == 0)
			json_array_append(mine, o);
	}
	json_decref(a);
	return (mine);
}

static void
test_twilio_tones(void **state)
{
	struct e2e      e;
	struct e2e_opts o = { 0 };
	char            sid[64], *s;
	json_t         *st, *at;
	long long       total;

	(void)state;
	o.script = "keys.json";
	o.speak_at = SPEAK_AT;
	e2e_start(&e, &o);
	run_call(&e, sid, sizeof(sid));
	st = stream_of(&e, sid);
	assert_int_equal(json_integer_value(json_object_get(st, "errors")), 0);
	assert_string_equal(
	    json_string_value(json_object_get(st, "dtmf_heard")), "123#");
	at = json_object_get(st, "dtmf_heard_at_bytes");
	total = json_integer_value(json_object_get(st, "bytes_received"));
	/* after the first answer, before the goodbye */
	assert_true(json_integer_value(json_array_get(at, 0)) > SAY1_BYTES);
	assert_true(
	    json_integer_value(json_array_get(at, 3)) <= total - BYE_BYTES);
	json_decref(st);
	s = tool_output(&e);
	assert_non_null(s);
	assert_string_equal(s, "{\"ok\":true}");
	free(s);
	s = e2e_call_field(&e, sid, "transcript");
	assert_non_null(s);
	print_message("transcript:\n%s\n", s);
	assert_non_null(strstr(s, "[keys pressed] 1 2 3 #"));
	free(s);
	assert_int_equal(ai_metric(&e,
	                     "ai_tool_calls_total{name=\"press_keys\","
	                     "result=\"ok\"}"),
	    1);
	e2e_assert_no_phone_in_logs(&e, E2E_LEAD_PHONE);
	e2e_stop(&e);
}

static void
test_bad_digits(void **state)
{
	struct e2e      e;
	struct e2e_opts o = { 0 };
	char            sid[64], *s;
	json_t         *st;

	(void)state;
	o.script = "keys_bad.json";
	o.speak_at = "400,3000,6000";
	e2e_start(&e, &o);
	run_call(&e, sid, sizeof(sid));
	st = stream_of(&e, sid);
	assert_string_equal(
	    json_string_value(json_object_get(st, "dtmf_heard")), "");
	json_decref(st);
	s = tool_output(&e);
	assert_non_null(s);
	print_message("tool output: %s\n", s);
	assert_non_null(strstr(s, "\"error\""));
	assert_non_null(strstr(s, "Nothing was pressed"));
	free(s);
	assert_int_equal(ai_metric(&e,
	                     "ai_tool_calls_total{name=\"press_keys\","
	                     "result=\"bad_args\"}"),
	    1);
	s = e2e_call_field(&e, sid, "transcript");
	assert_non_null(s);
	assert_null(strstr(s, "[keys pressed]"));
	free(s);
	e2e_stop(&e);
}

static void
telnyx_call(bool fail)
{
	static const char *const fail_args[]
	    = { "--telnyx-dtmf-status", "500", NULL };
	struct e2e      e;
	struct e2e_opts o = { 0 };
	char            sid[64];
	json_t         *st, *req;

	o.script = "keys.json";
	o.speak_at = SPEAK_AT;
	o.telnyx = true;
	o.tw_args = fail ? fail_args : NULL;
	e2e_start(&e, &o);
	run_call(&e, sid, sizeof(sid));
	st = stream_of(&e, sid);
	/* through REST: no tones on the line */
	assert_string_equal(
	    json_string_value(json_object_get(st, "dtmf_heard")), "");
	json_decref(st);
	req = send_dtmf_requests(&e, sid);
	e2e_print_json("send_dtmf", req);
	assert_int_equal(json_array_size(req), 1);
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(req, 0), "digits")),
	    "123#");
	assert_int_equal(json_integer_value(json_object_get(
	                     json_array_get(req, 0), "status")),
	    fail ? 500 : 200);
	json_decref(req);
	assert_int_equal(
	    system_item_has(&e, "(123#) did not reach the line"), fail);
	assert_int_equal(ai_metric(&e,
	                     "ai_tool_calls_total{name=\"press_keys\","
	                     "result=\"failed\"}"),
	    fail ? 1 : 0);
	e2e_assert_no_phone_in_logs(&e, E2E_LEAD_PHONE);
	e2e_stop(&e);
}

static void
test_telnyx_rest(void **state)
{
	(void)state;
	telnyx_call(false);
}

static void
test_telnyx_rest_fails(void **state)
{
	(void)state;
	telnyx_call(true);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_twilio_tones),
		cmocka_unit_test(test_bad_digits),
		cmocka_unit_test(test_telnyx_rest),
		cmocka_unit_test(test_telnyx_rest_fails),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
